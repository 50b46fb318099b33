//go:build unix

package transfer

import (
	"errors"
	"io"
	"io/fs"

	"golang.org/x/sys/unix"
)

// openFile opens a regular file to send. It skips os.File, whose
// descriptors are set up for the network poller at a cost of several
// system calls each, which for many small files is as much work as
// reading them. Without follow, a file replaced by a link since the walk
// is refused rather than followed.
func openFile(path string, follow bool) (io.ReadCloser, error) {
	flags := unix.O_RDONLY | unix.O_CLOEXEC
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	for {
		fd, err := unix.Open(path, flags, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return &rawFile{fd: fd, path: path}, nil
	}
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
