//go:build unix && !darwin

package transfer

import "golang.org/x/sys/unix"

// fsync makes what fd holds durable.
func fsync(fd int) error {
	return retry(func() error { return unix.Fsync(fd) })
}
