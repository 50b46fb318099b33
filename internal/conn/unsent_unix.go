//go:build linux || darwin

package conn

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// limitUnsent keeps the bytes nc's socket holds unsent to about
// unsentLimit (TCP_NOTSENT_LOWAT): the system's send buffer grows to
// megabytes, which on a slow link are seconds of data an abort or error
// frame would wait behind, past the linger, and be lost to the close.
func limitUnsent(nc net.Conn) {
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
