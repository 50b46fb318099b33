//go:build linux

package transfer

import (
	"net"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/conn"
)

// TestStreamsLimitUnsent: every socket a sender writes on holds little
// unsent, a lone one's and, with parallel streams, the first, under its
// switch, and the joined ones, so that an abort does not wait behind
// megabytes on a slow link.
func TestStreamsLimitUnsent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	plain, limited := dial(), dial()
	defer plain.Close()
	defer limited.Close()
	conn.LimitUnsent(limited)
	want := unsent(t, limited)
	if want == unsent(t, plain) {
		t.Fatalf("conn.LimitUnsent left the socket's limit at %d, the system's", want)
	}

	lone := dial()
	ll := newLink(lone, framing.RoleSender, options{})
	defer func() {
		ll.CloseSend()
		ll.Close()
	}()
	if got := unsent(t, lone); got != want {
		t.Errorf("a lone stream has TCP_NOTSENT_LOWAT %d, want %d", got, want)
	}

	c := dial()
	l := newLink(c, framing.RoleSender, options{streams: 3})
	defer func() {
		l.CloseSend()
		l.Close()
	}()
	if got := unsent(t, c); got != want {
		t.Errorf("the first of 3 streams has TCP_NOTSENT_LOWAT %d, want %d", got, want)
	}
	conns, err := l.dialJoins([framing.TokenLen]byte{1}, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, j := range conns {
		defer j.Close()
		if got := unsent(t, j); got != want {
			t.Errorf("stream %d of 3 has TCP_NOTSENT_LOWAT %d, want %d", i+2, got, want)
		}
	}
}

// unsent returns c's TCP_NOTSENT_LOWAT: 0 where the system's applies.
func unsent(t *testing.T, c net.Conn) uint32 {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		v, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT)
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return uint32(v)
}
