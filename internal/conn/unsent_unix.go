//go:build linux || darwin

package conn

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// LimitUnsent keeps the bytes nc's socket holds unsent to about
// unsentLimit (TCP_NOTSENT_LOWAT): the system's send buffer grows to
// megabytes, which on a slow link are seconds of data an abort or error
// frame would wait behind, past the linger, and be lost to the close. A
// connection that is not a socket, such as a Switch over one, is left
// alone: the caller limits the sockets under it.
func LimitUnsent(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		// Best effort: without it the abort may be lost, nothing else.
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, unsentLimit)
	})
}
