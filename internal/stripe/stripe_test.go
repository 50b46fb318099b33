package stripe

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ferrytool/ferry/framing"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// pairs returns n connected pairs, over net.Pipe or loopback TCP.
func pairs(t *testing.T, n int, tcp bool) (a, b []net.Conn) {
	t.Helper()
	if !tcp {
		for range n {
			x, y := net.Pipe()
			a, b = append(a, x), append(b, y)
		}
		return a, b
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for range n {
		x, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		y, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		a, b = append(a, x), append(b, y)
	}
	return a, b
}

// pump writes data to w in writes of random sizes, some gathered, then
// half-closes it.
func pump(w *Conn, data []byte, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 1))
	for len(data) > 0 {
		n := min(len(data), 1+r.IntN(3*SegmentSize/2))
		var err error
		if r.IntN(2) == 0 {
			_, err = w.Write(data[:n])
		} else {
			k := n / 3
			bufs := net.Buffers{data[:k], data[k:n]}
			_, err = w.WriteBuffers(&bufs)
		}
		if err != nil {
			return err
		}
		data = data[n:]
	}
	return w.CloseWrite()
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		tcp  bool
		size int
	}{
		{"pipe 1", 1, false, 3 << 20},
		{"pipe 3", 3, false, 3 << 20},
		{"tcp 1", 1, true, 5 << 20},
		{"tcp 2", 2, true, 5 << 20},
		{"tcp 4", 4, true, 9 << 20},
		{"tcp 8", 8, true, 9 << 20},
		{"tcp 4 small", 4, true, 1000},
		{"tcp 16 empty", 16, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca, cb := pairs(t, tc.n, tc.tcp)
			a, b := New(ca), New(cb)
			defer a.Close()
			defer b.Close()
			ab, ba := make([]byte, tc.size), make([]byte, tc.size/2)
			r := rand.New(rand.NewPCG(uint64(tc.n), 2))
			for i := range ab {
				ab[i] = byte(r.Uint32())
			}
			for i := range ba {
				ba[i] = byte(r.Uint32())
			}
			// Both directions at once.
			var wg sync.WaitGroup
			errs := make([]error, 2)
			got := make([][]byte, 2)
			wg.Go(func() { errs[0] = pump(a, ab, 1) })
			wg.Go(func() { errs[1] = pump(b, ba, 2) })
			// A pipe has no half-close to end the stream with: there the
			// readers take what was sent and stop.
			read := func(c *Conn, n int) []byte {
				if tc.tcp {
					p, _ := io.ReadAll(c)
					return p
				}
				p := make([]byte, n)
				k, _ := io.ReadFull(c, p)
				return p[:k]
			}
			wg.Go(func() { got[0] = read(b, len(ab)) })
			wg.Go(func() { got[1] = read(a, len(ba)) })
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("writer %d: %v", i, err)
				}
			}
			if !bytes.Equal(got[0], ab) || !bytes.Equal(got[1], ba) {
				t.Fatalf("streams differ: got %d and %d bytes, sent %d and %d", len(got[0]), len(got[1]), len(ab), len(ba))
			}
		})
	}
}

// TestReset cuts one connection of four mid-stream, with a reset or a
// plain close between two segments, which the peer may see as an end:
// both ends fail, Read and Write alike, with their first error, every
// time, and neither reads an end of the stream.
func TestReset(t *testing.T) {
	for _, reset := range []bool{true, false} {
		t.Run(map[bool]string{true: "reset", false: "close"}[reset], func(t *testing.T) {
			testCut(t, reset)
		})
	}
}

func testCut(t *testing.T, reset bool) {
	ca, cb := pairs(t, 4, true)
	a, b := New(ca), New(cb)
	defer a.Close()
	defer b.Close()
	if _, err := a.Write(make([]byte, 3*SegmentSize)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(b, make([]byte, 3*SegmentSize)); err != nil {
		t.Fatal(err)
	}
	if reset {
		// The socket closes with SO_LINGER 0.
		if err := ca[2].(*net.TCPConn).SetLinger(0); err != nil {
			t.Fatal(err)
		}
	}
	_ = ca[2].Close()
	for name, c := range map[string]*Conn{"a": a, "b": b} {
		var first error
		for i := range 3 {
			_, rerr := c.Read(make([]byte, 10))
			if rerr == nil || rerr == io.EOF {
				t.Fatalf("%s: read %d after the cut = %v, want a failure", name, i, rerr)
			}
			if first == nil {
				first = rerr
			}
			// Writes fill the queues until the failure is seen, then fail.
			var werr error
			for range 64 {
				if _, werr = c.Write(make([]byte, SegmentSize)); werr != nil {
					break
				}
			}
			if rerr != first || werr != first {
				t.Fatalf("%s: read failed with %v, write with %v, first %v", name, rerr, werr, first)
			}
		}
		if c.Err() != first {
			t.Fatalf("%s: Err() = %v, want %v", name, c.Err(), first)
		}
	}
}

// TestEndAfterPeerClosed is how a ferry transfer ends over -P: the sender
// half-closes, the receiver writes its last words and half-closes, and the
// sender closes once it has read them, before the receiver's ends came. A
// connection reset under its end must fail neither what the receiver
// reads, which has ended cleanly, nor its CloseWrite.
func TestEndAfterPeerClosed(t *testing.T) {
	for round := range 20 {
		ca, cb := pairs(t, 4, true)
		a, b := New(ca), New(cb)
		if err := b.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(a); err != nil || len(got) != 0 {
			t.Fatalf("round %d: a read %d bytes, %v; want its end", round, len(got), err)
		}
		for _, m := range []string{"ack", "complete"} {
			if _, err := a.Write([]byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := io.ReadFull(b, make([]byte, len("ackcomplete"))); err != nil {
			t.Fatal(err)
		}
		_ = b.Close()
		if err := a.CloseWrite(); err != nil {
			t.Fatalf("round %d: CloseWrite = %v after its peer closed, want nil", round, err)
		}
		if n, err := a.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("round %d: a read %d bytes, %v after its peer closed; want io.EOF", round, n, err)
		}
		if err := a.Err(); err != nil {
			t.Fatalf("round %d: Err() = %v, want none", round, err)
		}
		_ = a.Close()
	}
}

// TestBadSegment: a segment length over SegmentSize fails the Conn.
func TestBadSegment(t *testing.T) {
	ca, cb := pairs(t, 2, false)
	b := New(cb)
	defer b.Close()
	go func() { _, _ = ca[0].Write([]byte{0, 0x04, 0, 1}) }()
	if _, err := b.Read(make([]byte, 1)); !errors.Is(err, ErrSegment) {
		t.Fatalf("Read = %v, want ErrSegment", err)
	}
	for _, c := range ca {
		_ = c.Close()
	}
}

func TestCloseTwice(t *testing.T) {
	ca, cb := pairs(t, 3, true)
	a, b := New(ca), New(cb)
	for range 2 {
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close = %v", err)
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close = %v", err)
	}
	// The peer sees its stream end.
	if _, err := b.Read(make([]byte, 1)); err == nil {
		t.Fatal("peer read succeeded after Close")
	}
	_ = b.Close()
}

// TestDeadlines: a read deadline ends a waiting Read without failing the
// Conn, and a later one lets it go on.
func TestDeadlines(t *testing.T) {
	ca, cb := pairs(t, 2, true)
	a, b := New(ca), New(cb)
	defer a.Close()
	defer b.Close()
	done := make(chan error)
	go func() {
		_, err := b.Read(make([]byte, 1))
		done <- err
	}()
	_ = b.SetReadDeadline(time.Now())
	if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read = %v, want a deadline", err)
	}
	_ = b.SetReadDeadline(time.Time{})
	if _, err := a.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 2)
	if _, err := io.ReadFull(b, p); err != nil || string(p) != "hi" {
		t.Fatalf("read %q, %v after the deadline was lifted", p, err)
	}
}

// TestSwitchFramed: until it switches, a Switch hands out no byte past a
// frame, so the buffer above holds nothing of the stripe's first segment.
func TestSwitchFramed(t *testing.T) {
	ca, cb := pairs(t, 1, false)
	var wire []byte
	wire = framing.AppendFrame(wire, framing.TypePing, nil)
	wire = framing.AppendFrame(wire, framing.TypeJoin, framing.AppendJoin(nil, framing.Join{N: 2}))
	tail := []byte("segment bytes")
	// A pipe hands a read all it asks for of one write: a reader that
	// asked past the frame would get the tail with it.
	go func() { _, _ = ca[0].Write(append(wire, tail...)) }()
	s := NewSwitch(cb[0])
	br := bufio.NewReaderSize(s, 64<<10)
	fr := framing.NewReader(br)
	for _, want := range []framing.Type{framing.TypePing, framing.TypeJoin} {
		typ, _, err := fr.ReadFrame()
		if err != nil || typ != want {
			t.Fatalf("read %v, %v; want %v", typ, err, want)
		}
	}
	if br.Buffered() != 0 {
		t.Fatalf("%d bytes past the last frame buffered", br.Buffered())
	}
	s.SwitchRead()
	s.SwitchWrite()
	rest := make([]byte, len(tail))
	if _, err := io.ReadFull(cb[0], rest); err != nil || !bytes.Equal(rest, tail) {
		t.Fatalf("left on the connection: %q, %v", rest, err)
	}
	a := New(ca)
	s.Attach(New(cb))
	defer a.Close()
	defer s.Close()
	go func() { _, _ = s.Write([]byte("back")) }()
	go func() { _, _ = a.Write([]byte("striped")) }()
	p := make([]byte, 7)
	if _, err := io.ReadFull(br, p); err != nil || string(p) != "striped" {
		t.Fatalf("after the switch: %q, %v", p, err)
	}
	if _, err := io.ReadFull(a, p[:4]); err != nil || string(p[:4]) != "back" {
		t.Fatalf("written after the switch: %q, %v", p[:4], err)
	}
}
