//go:build linux

package fdfile

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

// WriteBehind starts the write-back of the n bytes at off, which were just
// written, and waits for that of the n bytes before them, which it started
// last time: so a file's data goes to disk while more arrives, and what is
// dirty of it stays under 2n bytes, instead of all of it waiting for the
// final sync. A write-back error fails it, as it would fail that sync.
func (f *File) WriteBehind(off, n int64) error {
	if off >= n {
		const wait = unix.SYNC_FILE_RANGE_WAIT_BEFORE | unix.SYNC_FILE_RANGE_WRITE | unix.SYNC_FILE_RANGE_WAIT_AFTER
		if err := Retry(func() error { return unix.SyncFileRange(f.fd, off-n, n, wait) }); err != nil {
			return &fs.PathError{Op: "write", Path: f.path, Err: err}
		}
	}
	if err := Retry(func() error { return unix.SyncFileRange(f.fd, off, n, unix.SYNC_FILE_RANGE_WRITE) }); err != nil {
		return &fs.PathError{Op: "write", Path: f.path, Err: err}
	}
	return nil
}
