//go:build unix && !linux

package destdir

import "errors"

// renameNoReplace has no portable system call outside Linux; the caller
// links and removes instead.
func renameNoReplace(int, string, string) error {
	return errors.ErrUnsupported
}
