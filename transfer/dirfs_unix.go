//go:build unix

package transfer

import (
	"errors"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// openDir opens dir, resolved inside root, as a dirFS on its descriptor:
// each operation is then one system call, with none of the set-up os.File
// and os.Root spend per call, which for many small files is most of the
// work.
func openDir(root *os.Root, dir string) (dirFS, error) {
	f, err := root.Open(dir)
	if err != nil {
		return nil, err
	}
	return &fdDir{f: f, fd: int(f.Fd())}, nil
}

// fdDir is a dirFS on a directory descriptor.
type fdDir struct {
	f  *os.File // keeps fd open
	fd int
}

func pathErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// retry repeats a system call interrupted by a signal.
func retry(call func() error) error {
	for {
		if err := call(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

func (d *fdDir) lstat(name string) (bool, bool, error) {
	var st unix.Stat_t
	err := retry(func() error { return unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) })
	if errors.Is(err, unix.ENOENT) {
		return false, false, nil
	}
	if err != nil {
		return false, false, pathErr("lstat", name, err)
	}
	return true, st.Mode&unix.S_IFMT == unix.S_IFDIR, nil
}

func (d *fdDir) openat(name string, flags int, mode uint32) (destFile, error) {
	var fd int
	err := retry(func() (err error) {
		fd, err = unix.Openat(d.fd, name, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
		return err
	})
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	return &rawFile{fd: fd, path: name}, nil
}

func (d *fdDir) create(name string, perm fs.FileMode) (destFile, error) {
	return d.openat(name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, uint32(perm.Perm()))
}

// open opens name read-only: fsync needs no more, and a file whose mode
// is already read-only could not be opened for writing.
func (d *fdDir) open(name string) (destFile, error) {
	return d.openat(name, unix.O_RDONLY, 0)
}

func (d *fdDir) chtimes(name string, t time.Time) error {
	ts := unix.NsecToTimespec(t.UnixNano())
	return pathErr("chtimes", name, retry(func() error {
		return unix.UtimesNanoAt(d.fd, name, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
	}))
}

func (d *fdDir) rename(from, to string) error {
	return pathErr("rename", to, retry(func() error { return unix.Renameat(d.fd, from, d.fd, to) }))
}

func (d *fdDir) renameNoReplace(from, to string) error {
	err := renameNoReplace(d.fd, from, to)
	if errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return pathErr("rename", to, err)
}

func (d *fdDir) link(from, to string) error {
	return pathErr("link", to, retry(func() error { return unix.Linkat(d.fd, from, d.fd, to, 0) }))
}

func (d *fdDir) remove(name string) error {
	return pathErr("remove", name, retry(func() error { return unix.Unlinkat(d.fd, name, 0) }))
}

func (d *fdDir) sync() error {
	return ignoreUnsyncable(pathErr("sync", d.f.Name(), retry(func() error { return unix.Fsync(d.fd) })))
}

func (d *fdDir) close() error { return d.f.Close() }
