//go:build unix

package destdir

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferrytool/ferry/internal/fdfile"
)

// openDir opens dir, inside the directory top (the root's own), as a
// dirFS on its descriptor: each operation is then one system call, with
// none of the set-up os.File and os.Root spend per call, which for many
// small files is most of the work. Each component of dir is opened without
// following a link: os.Root would follow one that stays inside the root,
// and one put in place of a directory since the batch checked it must not
// redirect the files that follow.
func openDir(_ *os.Root, top *os.File, dir string) (dirFS, error) {
	fd := int(top.Fd())
	owned := false
	for part := range strings.SplitSeq(dir, "/") {
		var next int
		err := fdfile.Retry(func() (err error) {
			next, err = unix.Openat(fd, part, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			return err
		})
		if owned {
			_ = unix.Close(fd)
		}
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			// Checked to be a directory when the batch first met it:
			// replaced since, by a link or a file.
			return nil, pathErr("open", dir, errNotRealDir)
		}
		if err != nil {
			return nil, pathErr("open", dir, err)
		}
		fd, owned = next, true
	}
	return &fdDir{f: os.NewFile(uintptr(fd), dir), fd: fd}, nil
}

// syncDirAt makes the entries of the directory at path durable.
func syncDirAt(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return ignoreUnsyncable(pathErr("sync", path, fdfile.Fsync(int(f.Fd()))))
}

// systemUmask learns the process's umask where no file shows it (see
// processUmask) by setting it to 077 and back at once: a file another
// goroutine creates in that moment may lose its group's and others' bits.
func systemUmask() fs.FileMode {
	old := unix.Umask(0o077)
	unix.Umask(old)
	return fs.FileMode(old) & fs.ModePerm
}

// fileDev is the device of the file system holding the file info
// describes.
func fileDev(info fs.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev)
	}
	return 0
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

func (d *fdDir) lstat(name string) (entry, error) {
	var st unix.Stat_t
	err := fdfile.Retry(func() error { return unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) })
	if errors.Is(err, unix.ENOENT) {
		return entry{}, nil
	}
	if err != nil {
		return entry{}, pathErr("lstat", name, err)
	}
	typ := st.Mode & unix.S_IFMT
	return entry{exists: true, isDir: typ == unix.S_IFDIR, isLink: typ == unix.S_IFLNK, isRegular: typ == unix.S_IFREG,
		size: st.Size, dev: uint64(st.Dev)}, nil
}

func (d *fdDir) mkdir(name string) error {
	return pathErr("mkdir", name, fdfile.Retry(func() error { return unix.Mkdirat(d.fd, name, 0o700) }))
}

func (d *fdDir) openat(name string, flags int, mode uint32) (destFile, error) {
	var fd int
	err := fdfile.Retry(func() (err error) {
		fd, err = unix.Openat(d.fd, name, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
		return err
	})
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	return fdfile.New(fd, name), nil
}

func (d *fdDir) create(name string, perm fs.FileMode) (destFile, error) {
	return d.openat(name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, uint32(perm.Perm()))
}

// open opens name read-only: fsync needs no more, and a file whose mode
// is already read-only could not be opened for writing.
func (d *fdDir) open(name string) (destFile, error) {
	return d.openat(name, unix.O_RDONLY, 0)
}

func (d *fdDir) openRead(name string) (io.ReadCloser, error) {
	f, err := d.openat(name, unix.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	return f.(*fdfile.File), nil
}

func (d *fdDir) sub(name string) (dirFS, error) {
	var fd int
	err := fdfile.Retry(func() (err error) {
		fd, err = unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	return &fdDir{f: os.NewFile(uintptr(fd), path.Join(d.f.Name(), name)), fd: fd}, nil
}

// canReopen says whether open can open a file of mode again: reading
// needs its owner's read permission (root needs none, but is not
// counted on).
func canReopen(mode fs.FileMode) bool { return mode&0o400 != 0 }

func (d *fdDir) chtimes(name string, t time.Time) error {
	ts := unix.NsecToTimespec(t.UnixNano())
	return pathErr("chtimes", name, fdfile.Retry(func() error {
		return unix.UtimesNanoAt(d.fd, name, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
	}))
}

func (d *fdDir) rename(from, to string) error {
	return pathErr("rename", to, fdfile.Retry(func() error { return unix.Renameat(d.fd, from, d.fd, to) }))
}

func (d *fdDir) renameNoReplace(from, to string) error {
	err := renameNoReplace(d.fd, from, to)
	if errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return pathErr("rename", to, err)
}

func (d *fdDir) link(from, to string) error {
	return pathErr("link", to, fdfile.Retry(func() error { return unix.Linkat(d.fd, from, d.fd, to, 0) }))
}

func (d *fdDir) remove(name string) error {
	return pathErr("remove", name, fdfile.Retry(func() error { return unix.Unlinkat(d.fd, name, 0) }))
}

func (d *fdDir) chmod(mode fs.FileMode) error {
	return pathErr("chmod", d.f.Name(), fdfile.Retry(func() error { return unix.Fchmod(d.fd, uint32(mode.Perm())) }))
}

func (d *fdDir) narrow(perm fs.FileMode) error {
	var st unix.Stat_t
	if err := fdfile.Retry(func() error { return unix.Fstat(d.fd, &st) }); err != nil {
		return pathErr("stat", d.f.Name(), err)
	}
	old := uint32(st.Mode) & 0o7777
	mode := old &^ (0o777 &^ uint32(perm.Perm()))
	if mode == old {
		return nil
	}
	return pathErr("chmod", d.f.Name(), fdfile.Retry(func() error { return unix.Fchmod(d.fd, mode) }))
}

func (d *fdDir) sync() error {
	return ignoreUnsyncable(pathErr("sync", d.f.Name(), fdfile.Fsync(d.fd)))
}

func (d *fdDir) close() error { return d.f.Close() }
