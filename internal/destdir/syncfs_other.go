//go:build !linux

package destdir

import (
	"errors"
	"os"
)

// syncFS is Linux's syncfs(2). Elsewhere each file is fsynced, since
// syncfsReportsErrors is false, and syncFS is never called.
var syncFS = func(*os.File) error { return errors.ErrUnsupported }

// syncfsReportsErrors is false: there is no syncfs to trust.
var syncfsReportsErrors = false

// syncfsSkips is true: there is no syncfs.
func syncfsSkips(*os.File) bool { return true }
