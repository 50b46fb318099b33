package fdfile

import (
	"errors"

	"golang.org/x/sys/unix"
)

// Fsync makes what fd holds durable. On macOS fsync leaves the data in the
// drive's own cache; F_FULLFSYNC, as os.File.Sync uses, asks the drive to
// write it. File systems without it (SMB mounts) get a plain fsync.
func Fsync(fd int) error {
	return Retry(func() error {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_FULLFSYNC, 0)
		if errors.Is(err, unix.ENOTSUP) {
			err = unix.Fsync(fd)
		}
		return err
	})
}
