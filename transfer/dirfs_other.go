//go:build !unix

package transfer

import (
	"errors"
	"io/fs"
	"os"
	"time"
)

// openDir opens dir, resolved inside root, as a root of its own.
func openDir(root *os.Root, dir string) (dirFS, error) {
	r, err := root.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return rootDir{r}, nil
}

// rootDir is a dirFS on os.Root, for systems without the *at calls.
type rootDir struct{ r *os.Root }

func (d rootDir) lstat(name string) (bool, bool, error) {
	info, err := d.r.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	return true, info.IsDir(), nil
}

func (d rootDir) create(name string, perm fs.FileMode) (destFile, error) {
	return d.r.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm.Perm())
}

func (d rootDir) open(name string) (destFile, error) {
	return d.r.OpenFile(name, os.O_WRONLY, 0)
}

func (d rootDir) chtimes(name string, t time.Time) error { return d.r.Chtimes(name, t, t) }
func (d rootDir) rename(from, to string) error           { return d.r.Rename(from, to) }
func (d rootDir) renameNoReplace(string, string) error   { return errors.ErrUnsupported }
func (d rootDir) link(from, to string) error             { return d.r.Link(from, to) }
func (d rootDir) remove(name string) error               { return d.r.Remove(name) }
func (d rootDir) close() error                           { return d.r.Close() }

func (d rootDir) sync() error {
	f, err := d.r.Open(".")
	if err != nil {
		return err
	}
	defer f.Close()
	return ignoreUnsyncable(f.Sync())
}
