//go:build !linux

package transfer

import (
	"errors"
	"os"
)

// syncFS is Linux's syncfs(2); elsewhere each file is fsynced.
var syncFS = syncFileSystem

// syncfsReportsErrors is false: there is no syncfs to trust.
var syncfsReportsErrors = false

func syncFileSystem(*os.File) error {
	return errors.ErrUnsupported
}
