//go:build !unix

package walk

import (
	"io"
	"os"
	"path/filepath"
)

// walkRoot is the top directory of a walk, through which the files found
// below it are opened when they are sent. Here, without openat, a file is
// opened by its path, and must be the one the walk listed, as far as
// os.SameFile can tell.
type walkRoot struct {
	path string // the top directory, its links resolved once for the walk
}

// walkShared holds nothing here: no descriptor is kept from one file to
// the next.
type walkShared struct{}

func newWalkShared() *walkShared { return &walkShared{} }

func (*walkShared) release() {}

func newWalkRoot(path, _ string, _ fileID, _ *walkShared, _ int) *walkRoot {
	return &walkRoot{path: path}
}

// open opens the file base in the directory dir below the top, which
// must be the file want identifies.
func (r *walkRoot) open(dir, base string, want fileID) (io.ReadCloser, error) {
	f, err := openChecked(filepath.Join(r.path, filepath.FromSlash(dir), base), want)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// dirList is a directory being walked: its entries' names in lexical
// order, a part at a time, each looked at when its turn comes.
type dirList struct {
	listing
	path string
}

// listDir lists the directory at path, which must be the one want
// identifies: that its parent listed.
func listDir(path string, want fileID) (*dirList, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err == nil && (!info.IsDir() || !os.SameFile(info, want.info)) {
		err = errReplaced
	}
	var l listing
	if err == nil {
		l, err = list(f)
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &dirList{listing: l, path: path}, nil
}

// stat is what an lstat of entry i in the directory finds.
func (d *dirList) stat(i int) (entryInfo, error) {
	info, err := os.Lstat(filepath.Join(d.path, d.names[i]))
	if err != nil {
		return entryInfo{}, err
	}
	return infoOf(info), nil
}

// denied finds nothing here: without an access check in a directory, a
// file the sender cannot read fails when it is opened.
func (d *dirList) denied(int) error { return nil }

func (d *dirList) close() { _ = d.f.Close() }

// denied finds nothing here, for a file named on the command line either.
func denied(string) error { return nil }
