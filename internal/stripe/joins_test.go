package stripe

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/ferrytool/ferry/framing"
)

// TestJoins: while a transfer waits, the connections that join with its
// token reach it by index, one with another token is closed, and any
// other connection is served with its bytes as they came.
func TestJoins(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	j := NewJoins(8)
	ln := j.Listen(inner)
	defer ln.Close()
	w := j.Expect(MaxStreams)
	defer w.Close()
	dial := func(first []byte) net.Conn {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(first); err != nil {
			t.Fatal(err)
		}
		return c
	}
	join := func(token [framing.TokenLen]byte, i uint8) []byte {
		return framing.AppendFrame(nil, framing.TypeJoin, framing.AppendJoin(nil, framing.Join{Token: token, N: i}))
	}
	var joined []net.Conn
	for i := range uint8(3) {
		joined = append(joined, dial(join(w.Token, i+1)))
	}
	forged := w.Token
	forged[3] ^= 1
	refused := func(c net.Conn) {
		t.Helper()
		// Closed without a byte.
		if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Fatalf("a refused join read %d bytes, %v", n, err)
		}
		_ = c.Close()
	}
	// Beyond the streams the sender says it opens, once it says so.
	beyond := dial(join(w.Token, 9))
	refused(dial(join(forged, 1)))
	// Index 2 again: the connections are looked at in no set order, so
	// either of the two may take it; the other is refused.
	again := dial(join(w.Token, 2))
	hello := framing.AppendFrame(nil, framing.TypeHello, []byte("ferry"))
	other := dial(hello)
	defer other.Close()
	served, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer served.Close()
	got := make([]byte, len(hello))
	if _, err := io.ReadFull(served, got); err != nil || string(got) != string(hello) {
		t.Fatalf("served connection read %q, %v", got, err)
	}
	conns, err := w.Conns(served, 4, time.Now().Add(10*time.Second), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != 4 || conns[0] != served {
		t.Fatalf("got %d connections", len(conns))
	}
	refused(beyond)
	// Whichever of the two with index 2 came through carries its byte.
	_, _ = again.Write([]byte{0xff})
	_, _ = joined[1].Write([]byte{2})
	b := make([]byte, 1)
	if _, err := conns[2].Read(b); err != nil {
		t.Fatalf("stream 2 read %v", err)
	}
	if b[0] == 0xff {
		refused(joined[1])
		joined[1] = again
	} else {
		refused(again)
	}
	// In index order: each carries what its sender writes.
	for i, c := range joined {
		_, _ = c.Write([]byte{byte(i + 1)})
		b := make([]byte, 1)
		if _, err := conns[i+1].Read(b); err != nil || b[0] != byte(i+1) {
			t.Fatalf("stream %d read %v, %v", i+1, b, err)
		}
		_ = c.Close()
		_ = conns[i+1].Close()
	}
}

// TestJoinsLate: a wait that runs out says how many came.
func TestJoinsLate(t *testing.T) {
	w := NewJoins(1).Expect(4)
	defer w.Close()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := w.Conns(a, 3, time.Now(), nil); err == nil || err.Error() != "1 of the 3 connections the sender opens came" {
		t.Fatalf("Conns = %v", err)
	}
}
