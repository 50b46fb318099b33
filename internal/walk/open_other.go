//go:build !unix

package walk

import (
	"io"
	"io/fs"
	"os"
)

// openFile opens the regular file named on the command line at path,
// following a link, and checks that it is the file want identifies.
func openFile(path string, want fileID) (io.ReadCloser, error) {
	return openChecked(path, want)
}

// openChecked opens the file at path and checks, as far as os.SameFile
// can tell, that it is the file want identifies.
func openChecked(path string, want fileID) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if !os.SameFile(info, want.info) {
		_ = f.Close()
		return nil, errReplaced
	}
	return f, nil
}

// fileID identifies a file: what the walk saw, to compare with what is
// opened later.
type fileID struct{ info fs.FileInfo }

func idOf(info fs.FileInfo) fileID { return fileID{info} }
