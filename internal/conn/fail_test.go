package conn

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/secure"
)

// forwarding is a wrapper that keeps its cause's text, as the errors that
// mark a failure's kind do.
type forwarding struct{ err error }

func (e forwarding) Error() string { return e.err.Error() }
func (e forwarding) Unwrap() error { return e.err }

// TestFailTellsPeer checks the frame a failure sends the peer: an abort
// for an interrupt, an error frame with Report's code otherwise, none when
// Report says the peer knows, and for a frame of the peer's that did not
// open the words for the peer, which name it by its role, not by the
// address it has as this side sees it.
func TestFailTellsPeer(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 9}
	tampered := &streamError{err: secure.ErrTampered, peer: addr, role: framing.RoleSender}
	if got, want := tampered.Error(), secure.ErrTampered.Error()+" from 192.0.2.1:9"; got != want {
		t.Errorf("local text %q, want %q", got, want)
	}
	peerWords := secure.ErrTampered.Error() + " from the sender"
	silent := errors.New("the peer knows")
	for _, tc := range []struct {
		name string
		err  error
		t    framing.Type
		msg  string
	}{
		{name: "interrupt", err: context.Canceled, t: framing.TypeAbort, msg: "interrupted"},
		{name: "failure", err: errors.New("disk full"), t: framing.TypeError, msg: "disk full"},
		{name: "frame that did not open", err: forwarding{tampered}, t: framing.TypeError, msg: peerWords},
		{name: "the peer knows", err: silent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local, remote := net.Pipe()
			defer remote.Close()
			c := New(local, Config{Role: framing.RoleReceiver, Report: func(err error) (uint16, bool) {
				return framing.CodeNoSpace, err != silent
			}})
			c.Fail(tc.err)
			c.Fail(errors.New("a later failure"))
			if !errors.Is(c.Err(), tc.err) {
				t.Errorf("Err() = %v, want the first failure %v", c.Err(), tc.err)
			}
			got := make(chan error, 1)
			go func() {
				typ, p, err := framing.NewReader(remote).ReadFrame()
				switch {
				case tc.t == 0 && errors.Is(err, io.EOF):
					err = nil
				case err != nil:
				case typ != tc.t:
					err = errors.New("a " + typ.String() + " frame, want " + tc.t.String())
				case typ == framing.TypeAbort:
					if reason, _ := framing.ParseAbort(p); reason != tc.msg {
						err = errors.New("abort " + reason)
					}
				default:
					m, _ := framing.ParseError(p)
					if m.Code != framing.CodeNoSpace || m.Message != tc.msg {
						err = errors.New("error frame " + m.Message)
					}
				}
				got <- err
			}()
			<-c.WriterDone()
			c.Close()
			if err := <-got; err != nil {
				t.Errorf("the peer read %v, want %v %q", err, tc.t, tc.msg)
			}
		})
	}
}

// TestDrainBeforeFail queues frames, drains them, then fails: the peer
// must read every frame queued, then the error frame, which without the
// drain would go out ahead of the queue and the frames never.
func TestDrainBeforeFail(t *testing.T) {
	local, remote := net.Pipe()
	defer remote.Close()
	c := New(local, Config{Role: framing.RoleSender})
	const frames = 20
	read := readTypes(remote)
	for range frames {
		if err := c.Send(Frame{Type: framing.TypeData, Payload: make([]byte, 100)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Drain(); err != nil {
		t.Fatal(err)
	}
	c.Fail(errors.New("cannot read the next file"))
	<-c.WriterDone()
	c.Close()
	types := <-read
	if len(types) != frames+1 || types[frames] != framing.TypeError {
		t.Fatalf("the peer read %v, want %d data frames, then an error frame", types, frames)
	}
}

// gatedConn holds its first Write until open is closed, having said on
// writing that the write began.
type gatedConn struct {
	net.Conn
	writing chan struct{}
	open    chan struct{}
	once    bool
}

func (g *gatedConn) Write(p []byte) (int, error) {
	if !g.once {
		g.once = true
		close(g.writing)
		<-g.open
	}
	return g.Conn.Write(p)
}

// TestInterruptAfterLastFrame stops a receiver (Ctrl-C) while its writer
// is still writing its complete frame, after CloseSend: the stream ended
// whole, so the writer half-closes with nothing after that frame, and
// AllSent says so, rather than an abort frame following and the finished
// transfer being called interrupted.
func TestInterruptAfterLastFrame(t *testing.T) {
	local, remote := net.Pipe()
	defer remote.Close()
	g := &gatedConn{Conn: local, writing: make(chan struct{}), open: make(chan struct{})}
	c := New(g, Config{Role: framing.RoleReceiver})
	complete := Frame{Type: framing.TypeComplete, Payload: framing.AppendTotals(nil, framing.Totals{Files: 1, Bytes: 6})}
	if err := c.Send(complete); err != nil {
		t.Fatal(err)
	}
	<-g.writing
	c.CloseSend()
	c.Fail(context.Canceled)
	read := readTypes(remote)
	close(g.open)
	if !c.AllSent() {
		t.Error("AllSent() = false after the complete frame went out whole")
	}
	c.Close()
	if types := <-read; len(types) != 1 || types[0] != framing.TypeComplete {
		t.Errorf("the peer read %v, want the complete frame alone", types)
	}
}

// readTypes reads frames from nc until it fails or ends, and sends the
// types it read.
func readTypes(nc net.Conn) <-chan []framing.Type {
	read := make(chan []framing.Type, 1)
	go func() {
		var types []framing.Type
		r := framing.NewReader(nc)
		for {
			typ, _, err := r.ReadFrame()
			if err != nil {
				break
			}
			types = append(types, typ)
		}
		read <- types
	}()
	return read
}
