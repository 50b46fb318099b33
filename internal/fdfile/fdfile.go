//go:build unix

// Package fdfile reads, writes and syncs files through their descriptors
// with plain system calls, each retried when a signal interrupts it.
package fdfile

import (
	"errors"
	"io"
	"io/fs"

	"golang.org/x/sys/unix"
)

// New returns a File for the open descriptor fd, which path names in
// errors. Closing the File closes fd.
func New(fd int, path string) *File { return &File{fd: fd, path: path} }

// Retry repeats a system call interrupted by a signal.
func Retry(call func() error) error {
	for {
		if err := call(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// File reads or writes a file through its descriptor with plain system
// calls. It skips os.File, whose descriptors are set up for the network
// poller at a cost of several system calls each, which for many small
// files is as much work as reading or writing them.
type File struct {
	fd   int
	path string
}

func (f *File) Read(p []byte) (int, error) {
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

func (f *File) Write(p []byte) (int, error) {
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
func (f *File) Chmod(mode fs.FileMode) error {
	if err := Retry(func() error { return unix.Fchmod(f.fd, uint32(mode.Perm())) }); err != nil {
		return &fs.PathError{Op: "chmod", Path: f.path, Err: err}
	}
	return nil
}

// Sync makes the file's data durable.
func (f *File) Sync() error {
	if err := Fsync(f.fd); err != nil {
		return &fs.PathError{Op: "sync", Path: f.path, Err: err}
	}
	return nil
}

// Close closes the descriptor; later calls do nothing.
func (f *File) Close() error {
	if f.fd < 0 {
		return nil
	}
	err := unix.Close(f.fd)
	f.fd = -1
	return err
}
