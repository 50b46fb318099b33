//go:build !linux

package transfer

import (
	"errors"
	"os"
)

// syncFS is Linux's syncfs(2); elsewhere each file is fsynced.
var syncFS = syncFileSystem

func syncFileSystem(*os.File) error {
	return errors.ErrUnsupported
}
