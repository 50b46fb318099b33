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

func newWalkRoot(path, _ string, _ fileID) *walkRoot {
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

// release does nothing: no descriptor is kept from one file to the next.
func (r *walkRoot) release() {}

// readDir returns the entries of the directory at path in lexical order,
// each listable one with what an lstat of it found. The directory must be
// the one want identifies: that its parent listed.
func readDir(path string, want fileID) ([]dirEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.IsDir() || !os.SameFile(info, want.info) {
		return nil, errReplaced
	}
	ents, err := readSorted(f)
	if err != nil {
		return nil, err
	}
	out := make([]dirEntry, len(ents))
	for i, e := range ents {
		out[i] = dirEntry{name: e.Name(), typ: e.Type()}
		if !listable(out[i].typ) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			out[i].err = err
			continue
		}
		out[i].info = infoOf(info)
	}
	return out, nil
}

// denied finds nothing here: without an access check in a directory, a
// file the sender cannot read fails when it is opened.
func denied(string) error { return nil }
