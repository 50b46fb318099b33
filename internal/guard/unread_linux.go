package guard

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// unread says whether bytes have come on c that nothing has read yet: a
// sender's hello, say, that its goroutine has not been given the time to
// read. Only a socket can say; any other connection says no.
func unread(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	if err := rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) }); err != nil {
		return false
	}
	return n > 0
}
