package destdir

import (
	"errors"

	"golang.org/x/sys/unix"
)

// renameNoReplace is renameat2 with RENAME_NOREPLACE: one atomic step that
// fails if the name exists. It reports errors.ErrUnsupported on file
// systems and kernels without it.
func renameNoReplace(dirfd int, from, to string) error {
	for {
		err := unix.Renameat2(dirfd, from, dirfd, to, unix.RENAME_NOREPLACE)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.ENOTSUP):
			return errors.ErrUnsupported
		}
		return err
	}
}
