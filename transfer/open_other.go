//go:build !unix

package transfer

import (
	"io"
	"os"
)

// openFile opens a regular file to send.
func openFile(path string, _ bool) (io.ReadCloser, error) {
	return os.Open(path)
}
