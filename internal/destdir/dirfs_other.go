//go:build !unix

package destdir

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"runtime"
	"time"
)

// openDir opens dir, resolved inside root, as a root of its own. Links
// inside the root are followed here: push's check is the only one.
func openDir(root *os.Root, _ *os.File, dir string) (dirFS, error) {
	r, err := root.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return rootDir{r}, nil
}

// syncDirAt makes the entries of the directory at path durable, where
// the system can (see syncOpenDir).
func syncDirAt(path string) error {
	return syncOpenDir(func() (*os.File, error) { return os.Open(path) })
}

// syncOpenDir opens a directory with open and syncs its entries. Windows
// cannot sync a directory: FlushFileBuffers needs a handle open for
// writing, which a directory's cannot be, and NTFS journals the entries
// itself.
func syncOpenDir(open func() (*os.File, error)) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	f, err := open()
	if err != nil {
		return err
	}
	defer f.Close()
	return ignoreUnsyncable(f.Sync())
}

// systemUmask is 0: there is no umask here. Windows keeps of the mode
// bits only whether the owner may write.
func systemUmask() fs.FileMode { return 0 }

// fileDev is 0: without syncfs, which is what the devices tell apart for,
// every file is synced on its own.
func fileDev(fs.FileInfo) uint64 { return 0 }

// rootDir is a dirFS on os.Root, for systems without the *at calls.
type rootDir struct{ r *os.Root }

func (d rootDir) lstat(name string) (entry, error) {
	info, err := d.r.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return entry{}, nil
	}
	if err != nil {
		return entry{}, err
	}
	return entry{exists: true, isDir: info.IsDir(), isLink: info.Mode()&fs.ModeSymlink != 0, isRegular: info.Mode().IsRegular(),
		size: info.Size(), dev: fileDev(info)}, nil
}

func (d rootDir) mkdir(name string) error { return d.r.Mkdir(name, 0o700) }

func (d rootDir) create(name string, perm fs.FileMode) (destFile, error) {
	return d.r.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm.Perm())
}

// open opens name for writing: Windows syncs (FlushFileBuffers) only a
// file open for writing.
func (d rootDir) open(name string) (destFile, error) {
	return d.r.OpenFile(name, os.O_WRONLY, 0)
}

func (d rootDir) openRead(name string) (io.ReadCloser, error) { return d.r.Open(name) }

// sub opens the directory name as a root of its own; push's and Check's
// lstat are the only checks that it is no link.
func (d rootDir) sub(name string) (dirFS, error) {
	r, err := d.r.OpenRoot(name)
	if err != nil {
		return nil, err
	}
	return rootDir{r}, nil
}

// canReopen says whether open can open a file of mode again: writing
// needs its owner's write permission (on Windows, no read-only flag).
func canReopen(mode fs.FileMode) bool { return mode&0o200 != 0 }

func (d rootDir) chtimes(name string, t time.Time) error { return d.r.Chtimes(name, t, t) }
func (d rootDir) rename(from, to string) error           { return d.r.Rename(from, to) }
func (d rootDir) renameNoReplace(string, string) error   { return errors.ErrUnsupported }
func (d rootDir) link(from, to string) error             { return d.r.Link(from, to) }
func (d rootDir) remove(name string) error               { return d.r.Remove(name) }
func (d rootDir) close() error                           { return d.r.Close() }
func (d rootDir) chmod(mode fs.FileMode) error           { return d.r.Chmod(".", mode) }

func (d rootDir) narrow(perm fs.FileMode) error {
	info, err := d.r.Stat(".")
	if err != nil {
		return err
	}
	old := info.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	mode := old &^ (fs.ModePerm &^ perm)
	if mode == old {
		return nil
	}
	return d.r.Chmod(".", mode)
}

func (d rootDir) sync() error {
	return syncOpenDir(func() (*os.File, error) { return d.r.Open(".") })
}
