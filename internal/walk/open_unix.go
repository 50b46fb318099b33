//go:build unix

package walk

import (
	"errors"
	"io"
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ferrytool/ferry/internal/fdfile"
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
func openAt(dirfd int, name string, follow bool, want fileID) (*fdfile.File, error) {
	// O_NONBLOCK: a named pipe put where the walk saw a file would
	// otherwise block the open, before the identity check, until a writer
	// came; on a regular file it changes nothing.
	flags := unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	var fd int
	err := fdfile.Retry(func() (err error) {
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
	return fdfile.New(fd, name), nil
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
	if err := fdfile.Retry(func() error { return unix.Fstat(fd, &st) }); err != nil {
		return &fs.PathError{Op: "fstat", Path: name, Err: err}
	}
	if statID(&st) != want {
		return errReplaced
	}
	return nil
}
