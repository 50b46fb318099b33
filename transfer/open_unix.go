//go:build unix

package transfer

import (
	"errors"
	"io"
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

// openFile opens the regular file named on the command line at path,
// following a link, and checks that it is the file want identifies.
func openFile(path string, want fileID) (io.ReadCloser, error) {
	return openAt(unix.AT_FDCWD, path, true, want)
}

// openAt opens the regular file name in the directory dirfd, following a
// link only if follow, and checks that it is the file want identifies. It
// skips os.File, whose descriptors are set up for the network poller at a
// cost of several system calls each, which for many small files is as
// much work as reading them.
func openAt(dirfd int, name string, follow bool, want fileID) (*rawFile, error) {
	// O_NONBLOCK: a named pipe put where the walk saw a file would
	// otherwise block the open, before the identity check, until a writer
	// came; on a regular file it changes nothing.
	flags := unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	var fd int
	err := retry(func() (err error) {
		fd, err = unix.Openat(dirfd, name, flags, 0)
		return err
	})
	if !follow && errors.Is(err, unix.ELOOP) {
		return nil, errReplaced // by a link
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if err := checkID(fd, name, want); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	return &rawFile{fd: fd, path: name}, nil
}

// fileID identifies a file: what the walk saw, to compare with what is
// opened later. The type is part of it: a file removed and replaced by a
// named pipe may get the inode number it had.
type fileID struct {
	dev, ino uint64
	typ      uint32 // the S_IFMT bits
}

func idOf(info fs.FileInfo) fileID {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino), typ: uint32(st.Mode) & syscall.S_IFMT}
}

func statID(st *unix.Stat_t) fileID {
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino), typ: uint32(st.Mode) & unix.S_IFMT}
}

// checkID returns errReplaced unless fd, opened as name, is the file want
// identifies.
func checkID(fd int, name string, want fileID) error {
	var st unix.Stat_t
	if err := retry(func() error { return unix.Fstat(fd, &st) }); err != nil {
		return &fs.PathError{Op: "fstat", Path: name, Err: err}
	}
	if statID(&st) != want {
		return errReplaced
	}
	return nil
}

// rawFile reads or writes a file through its descriptor with plain system
// calls.
type rawFile struct {
	fd   int
	path string
}

func (f *rawFile) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := unix.Read(f.fd, p)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return 0, &fs.PathError{Op: "read", Path: f.path, Err: err}
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (f *rawFile) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		n, err := unix.Write(f.fd, p[written:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return written, &fs.PathError{Op: "write", Path: f.path, Err: err}
		}
		written += n
	}
	return written, nil
}

// Chmod sets the permission bits.
func (f *rawFile) Chmod(mode fs.FileMode) error {
	if err := retry(func() error { return unix.Fchmod(f.fd, uint32(mode.Perm())) }); err != nil {
		return &fs.PathError{Op: "chmod", Path: f.path, Err: err}
	}
	return nil
}

// Sync makes the file's data durable.
func (f *rawFile) Sync() error {
	if err := fsync(f.fd); err != nil {
		return &fs.PathError{Op: "sync", Path: f.path, Err: err}
	}
	return nil
}

// Close closes the descriptor; later calls do nothing.
func (f *rawFile) Close() error {
	if f.fd < 0 {
		return nil
	}
	err := unix.Close(f.fd)
	f.fd = -1
	return err
}
