//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly || solaris

package destdir

import (
	"errors"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferrytool/ferry/internal/fdfile"
)

// canResume says whether partial files can be kept here: a partial file is
// claimed with flock, which the kernel releases when its holder dies, so a
// receiver killed mid-file leaves its data claimable by the next one.
const canResume = true

// openPartialDir opens partialDirName inside top without following a
// link, making it (mode 0700) first if create says so; nil if it is
// missing and not to be made.
func openPartialDir(top *os.File, create bool) (dirFS, uint64, error) {
	topFD := int(top.Fd())
	for {
		var fd int
		err := fdfile.Retry(func() (err error) {
			fd, err = unix.Openat(topFD, partialDirName, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			return err
		})
		if errors.Is(err, unix.ENOENT) && create {
			err = fdfile.Retry(func() error { return unix.Mkdirat(topFD, partialDirName, 0o700) })
			if err == nil || errors.Is(err, unix.EEXIST) {
				create = false
				continue
			}
		}
		if errors.Is(err, unix.ENOENT) {
			return nil, 0, nil
		}
		if err != nil {
			return nil, 0, pathErr("open", partialDirName, err)
		}
		var st unix.Stat_t
		if err := fdfile.Retry(func() error { return unix.Fstat(fd, &st) }); err != nil {
			_ = unix.Close(fd)
			return nil, 0, pathErr("stat", partialDirName, err)
		}
		return &fdDir{f: os.NewFile(uintptr(fd), partialDirName), fd: fd}, uint64(st.Dev), nil
	}
}

// errBusy is a partial file another transfer holds.
var errBusy = errors.New("in use by another transfer")

// lockPartial opens the partial file name in dir, a directory
// openPartialDir opened, for reading and writing, making it (mode 0600)
// if create says so, and locks it: errBusy if another transfer holds it,
// fs.ErrNotExist if it is not there.
func lockPartial(dir dirFS, name string, create bool) (*os.File, error) {
	pd := dir.(*fdDir)
	flags := unix.O_RDWR | unix.O_NOFOLLOW | unix.O_CLOEXEC
	if create {
		flags |= unix.O_CREAT
	}
	var fd int
	err := fdfile.Retry(func() (err error) {
		fd, err = unix.Openat(pd.fd, name, flags, 0o600)
		return err
	})
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	fail := func(err error) (*os.File, error) {
		_ = unix.Close(fd)
		return nil, err
	}
	err = fdfile.Retry(func() error { return unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) })
	if errors.Is(err, unix.EWOULDBLOCK) {
		return fail(errBusy)
	}
	if err != nil {
		return fail(pathErr("lock", name, err))
	}
	// The holder before may have removed the name, or moved the file out,
	// between the open and the lock: the lock counts only if the name
	// still holds what was locked.
	var st, named unix.Stat_t
	if err := fdfile.Retry(func() error { return unix.Fstat(fd, &st) }); err != nil {
		return fail(pathErr("stat", name, err))
	}
	err = fdfile.Retry(func() error { return unix.Fstatat(pd.fd, name, &named, unix.AT_SYMLINK_NOFOLLOW) })
	switch {
	case errors.Is(err, unix.ENOENT) || err == nil && (st.Dev != named.Dev || st.Ino != named.Ino):
		return fail(errBusy)
	case err != nil:
		return fail(pathErr("stat", name, err))
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return fail(pathErr("open", name, errors.New("not a regular file")))
	}
	return os.NewFile(uintptr(fd), name), nil
}

// renameBetween moves the file from, in the directory src, to the name to,
// which nothing holds, in the directory dst: errors.ErrUnsupported if
// either is not on a descriptor.
func renameBetween(src dirFS, from string, dst dirFS, to string) error {
	s, ok1 := src.(*fdDir)
	d, ok2 := dst.(*fdDir)
	if !ok1 || !ok2 {
		return errors.ErrUnsupported
	}
	return pathErr("rename", to, fdfile.Retry(func() error { return unix.Renameat(s.fd, from, d.fd, to) }))
}

// scanPartials counts the partial files in top's partialDirName and their
// bytes; with remove it removes those last written before before that no
// transfer holds, and counts those, then the directory if it is empty.
func scanPartials(top *os.File, before time.Time, remove bool) (n int, bytes int64, err error) {
	dir, _, err := openPartialDir(top, false)
	if err != nil || dir == nil {
		return 0, 0, err
	}
	defer dir.close()
	if remove {
		defer removePartialDir(top)
	}
	pd := dir.(*fdDir)
	names, err := pd.f.Readdirnames(-1)
	if err != nil {
		return 0, 0, pathErr("read", partialDirName, unwrapPath(err))
	}
	for _, name := range names {
		if !isPartialName(name) {
			continue
		}
		if !remove {
			e, err := pd.lstat(name)
			if err != nil {
				return n, bytes, err
			}
			if e.isRegular {
				n++
				bytes += e.size
			}
			continue
		}
		size, err := removeIfOld(pd, name, before)
		if err != nil {
			return n, bytes, err
		}
		if size >= 0 {
			n++
			bytes += size
		}
	}
	return n, bytes, nil
}

// removeIfOld removes the partial file name if its data was last written
// before before and no transfer holds it, and returns its size; -1 if it
// stays.
func removeIfOld(pd *fdDir, name string, before time.Time) (int64, error) {
	f, err := lockPartial(pd, name, false)
	if errors.Is(err, errBusy) || errors.Is(err, fs.ErrNotExist) {
		return -1, nil
	}
	if err != nil {
		return -1, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return -1, err
	}
	if !info.ModTime().Before(before) {
		return -1, nil
	}
	// Removed while locked: no transfer claims it meanwhile.
	if err := pd.remove(name); err != nil {
		return -1, err
	}
	return info.Size(), nil
}

// removePartialDir removes top's partialDirName if it is empty, so that a
// receiver leaves no trace of the partial files it no longer holds.
func removePartialDir(top *os.File) {
	_ = fdfile.Retry(func() error { return unix.Unlinkat(int(top.Fd()), partialDirName, unix.AT_REMOVEDIR) })
}
