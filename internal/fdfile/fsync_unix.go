//go:build unix && !darwin

package fdfile

import "golang.org/x/sys/unix"

// Fsync makes what fd holds durable.
func Fsync(fd int) error {
	return Retry(func() error { return unix.Fsync(fd) })
}
