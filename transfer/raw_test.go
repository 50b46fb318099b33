package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/rawnc"
	"github.com/ferrytool/ferry/transfer"
)

// failingSource yields some bytes, then fails as a file read can.
type failingSource struct{ sent bool }

func (f *failingSource) Read(p []byte) (int, error) {
	if !f.sent {
		f.sent = true
		return copy(p, "the first bytes"), nil
	}
	return 0, &fs.PathError{Op: "read", Path: "/data/f.bin", Err: syscall.EIO}
}

// blockedSource yields some bytes, then blocks until the test ends, as an
// idle pipe or terminal does.
type blockedSource struct {
	sent bool
	done <-chan struct{}
}

func (b *blockedSource) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, "the first bytes"), nil
	}
	<-b.done
	return 0, io.EOF
}

// signalWriter collects what the receiver writes and says when the first
// bytes came.
type signalWriter struct {
	buf   bytes.Buffer
	first chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	if w.buf.Len() == 0 {
		close(w.first)
	}
	return w.buf.Write(p)
}

// TestRawSendFails checks that a --raw send that fails before the end of
// its source (the source cannot be read, the user interrupts) fails the
// receiver too: a plain close would look like the end of the stream, and
// the receiver would keep the first bytes as the whole.
func TestRawSendFails(t *testing.T) {
	for _, tc := range []struct {
		name    string
		source  func(done <-chan struct{}) io.Reader
		cancel  bool   // interrupt the sender once the first bytes arrived
		sendErr string // in Send's error
	}{
		{"source read fails", func(<-chan struct{}) io.Reader { return &failingSource{} }, false, "cannot read /data/f.bin: input/output error"},
		{"interrupted", func(done <-chan struct{}) io.Reader { return &blockedSource{done: done} }, true, "context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := listen(t)
			out := &signalWriter{first: make(chan struct{})}
			recvErr := make(chan error, 1)
			go func() {
				conn, err := ln.Accept()
				if err != nil {
					recvErr <- err
					return
				}
				_, err = transfer.RawReceive(t.Context(), conn, out, nil, 5*time.Second)
				recvErr <- err
			}()
			done := make(chan struct{})
			defer close(done)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			sendErr := make(chan error, 1)
			conn := dial(t, ln.Addr())
			go func() {
				_, err := transfer.RawSend(ctx, conn, tc.source(done), 5*time.Second)
				sendErr <- err
			}()
			if tc.cancel {
				await(t, out.first, "the first bytes")
				cancel()
			}
			if err := await(t, sendErr, "RawSend"); err == nil || !strings.Contains(err.Error(), tc.sendErr) {
				t.Errorf("RawSend = %v, want an error saying %q", err, tc.sendErr)
			}
			err := await(t, recvErr, "RawReceive")
			var ne net.Error
			if err == nil || !errors.As(err, &ne) && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("RawReceive = %v after %q, want the connection's failure", err, out.buf.String())
			}
		})
	}
}

// fullWriter takes n bytes, then fails as a full disk does.
type fullWriter struct{ n int }

func (w *fullWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, &fs.PathError{Op: "write", Path: "raw.bin", Err: syscall.ENOSPC}
	}
	w.n -= len(p)
	return len(p), nil
}

// TestRawReceiveWriteFails checks that recv --raw reports a destination
// it cannot write as such, not as a lost connection.
func TestRawReceiveWriteFails(t *testing.T) {
	ln := listen(t)
	out := dial(t, ln.Addr())
	sent := make(chan error, 1)
	go func() {
		_, err := transfer.RawSend(t.Context(), out, bytes.NewReader(textBytes(100_000)), 5*time.Second)
		sent <- err
	}()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	_, err = transfer.RawReceive(t.Context(), conn, &fullWriter{n: 1000}, nil, 5*time.Second)
	if !errors.Is(err, syscall.ENOSPC) || strings.Contains(err.Error(), "lost") {
		t.Errorf("RawReceive = %v, want the write's ENOSPC, not a lost connection", err)
	}
	await(t, sent, "RawSend")
}

// rawStreams are streams that are no ferry hello: short ones and ones that
// open like a frame included.
var rawStreams = []struct {
	name   string
	stream []byte
}{
	{"empty", nil},
	{"two bytes", []byte("hi")},
	{"as long as a hello's opening", []byte("0123456789")},
	{"a frame of another type", framing.AppendFrame(nil, framing.TypeFile, []byte("ferry and more"))},
	{"text", textBytes(300_000)},
}

// TestRawReceiveStreams checks that recv --raw writes every stream as it
// came.
func TestRawReceiveStreams(t *testing.T) {
	for _, tc := range rawStreams {
		t.Run(tc.name, func(t *testing.T) {
			ln := listen(t)
			out := dial(t, ln.Addr())
			sent := make(chan error, 1)
			go func() {
				_, err := transfer.RawSend(t.Context(), out, bytes.NewReader(tc.stream), 5*time.Second)
				sent <- err
			}()
			conn, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			n, err := transfer.RawReceive(t.Context(), conn, &got, nil, 5*time.Second)
			if err != nil || n != int64(len(tc.stream)) || !bytes.Equal(got.Bytes(), tc.stream) {
				t.Errorf("RawReceive = %d, %v, and wrote %d bytes; want the %d sent", n, err, got.Len(), len(tc.stream))
			}
			if err := await(t, sent, "RawSend"); err != nil {
				t.Errorf("RawSend = %v", err)
			}
		})
	}
}

// TestRawReceiveFinishFails has the receiver's finish (the sync and the
// move into place of recv --raw) fail after the whole stream arrived: the
// sender, which waits for the receiver to close, must fail too, not report
// its stream delivered.
func TestRawReceiveFinishFails(t *testing.T) {
	ln := listen(t)
	out := dial(t, ln.Addr())
	sent := make(chan error, 1)
	go func() {
		_, err := transfer.RawSend(t.Context(), out, bytes.NewReader(textBytes(1000)), 5*time.Second)
		sent <- err
	}()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	failed := errors.New("OUT already exists")
	var got bytes.Buffer
	if _, err := transfer.RawReceive(t.Context(), conn, &got, func() error { return failed }, 5*time.Second); !errors.Is(err, failed) {
		t.Errorf("RawReceive = %v, want the finish's error", err)
	}
	err = await(t, sent, "RawSend")
	if err == nil || !strings.Contains(err.Error(), "may not have kept the data") {
		t.Errorf("RawSend = %v after the receiver failed to finish; want a failure saying the data may not have been kept", err)
	}
}

// TestRawReceiveSlowFinish has the receiver's finish (the last sync of a
// big file on a slow disk) take longer than the sender's timeout: the
// sender waits for the receiver to close, longer than its timeout, and
// succeeds.
func TestRawReceiveSlowFinish(t *testing.T) {
	const timeout = 100 * time.Millisecond
	ln := listen(t)
	out := dial(t, ln.Addr())
	sent := make(chan error, 1)
	go func() {
		_, err := transfer.RawSend(t.Context(), out, bytes.NewReader(textBytes(1000)), timeout)
		sent <- err
	}()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	slowSync := func() error {
		time.Sleep(3 * timeout) // the slow disk
		return nil
	}
	var got bytes.Buffer
	if _, err := transfer.RawReceive(t.Context(), conn, &got, slowSync, 5*time.Second); err != nil {
		t.Errorf("RawReceive = %v", err)
	}
	if err := await(t, sent, "RawSend"); err != nil {
		t.Errorf("RawSend = %v, want it to wait for the receiver's slow finish", err)
	}
}

// TestRawReceiveFramedSender checks that a ferry send without --raw,
// which would wait for a hello until its timeout, is told at once to add
// --raw, and that recv --raw keeps nothing of its frames.
func TestRawReceiveFramedSender(t *testing.T) {
	ln := listen(t)
	out := dial(t, ln.Addr())
	sent := make(chan error, 1)
	go func() {
		_, err := transfer.Send(t.Context(), out, []transfer.Source{transfer.StreamSource("f", bytes.NewReader(textBytes(1000)))}, transfer.Options{})
		sent <- err
	}()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	_, err = transfer.RawReceive(t.Context(), conn, &got, nil, time.Minute)
	if !errors.Is(err, rawnc.ErrFramedSender) || !strings.Contains(err.Error(), "is a ferry sender in the framed mode") {
		t.Errorf("RawReceive = %v, want rawnc.ErrFramedSender", err)
	}
	if got.Len() != 0 {
		t.Errorf("RawReceive wrote %d bytes of the frames", got.Len())
	}
	serr := await(t, sent, "Send")
	if pe := peerError(t, serr); !strings.Contains(pe.Err.Error(), "add --raw to ferry send") {
		t.Errorf("Send = %v, want the receiver's advice to add --raw", serr)
	}
}

// TestRawSendFramedReceiver checks that a send --raw that reached a ferry
// recv without --raw fails, saying so and giving the receiver's reason,
// both when its stream ended and when the refusing receiver's reset
// failed a write first; and that the receiver tells a netcat's user to
// run ferry recv --raw.
func TestRawSendFramedReceiver(t *testing.T) {
	t.Run("stream ends", func(t *testing.T) {
		ln := listen(t)
		sink, dir := newDirSink(t, false)
		recvErr := receiveOne(t, t.Context(), ln, sink, transfer.Options{})
		_, err := transfer.RawSend(t.Context(), dial(t, ln.Addr()), bytes.NewReader(textBytes(1000)), 5*time.Second)
		checkFramedReceiver(t, err, ln.Addr(), "not speaking the ferry protocol")
		rerr := await(t, recvErr, "Receive")
		if !errors.Is(rerr, framing.ErrNotFerry) {
			t.Errorf("Receive = %v, want framing.ErrNotFerry", rerr)
		}
		onlyEntry(t, dir)
	})
	t.Run("write reset", func(t *testing.T) {
		ln := listen(t)
		// A receiver that refuses at once and resets the connection with
		// the sender's bytes unread, as a framed ferry recv does after
		// its linger.
		done := fakePeer(ln, func(conn net.Conn) {
			refusal := framing.AppendFrame(nil, framing.TypeError, framing.AppendError(nil, framing.ErrorMsg{Code: framing.CodeProtocol, Message: "not for me"}))
			_, _ = conn.Write(cat(helloFrame(framing.RoleReceiver, framing.Version), framing.AppendFrame(nil, framing.TypePing, nil), refusal))
			_, _ = io.ReadFull(conn, make([]byte, 64<<10))
			_ = conn.(*net.TCPConn).SetLinger(0)
		})
		_, err := transfer.RawSend(t.Context(), dial(t, ln.Addr()), endless{}, 5*time.Second)
		checkFramedReceiver(t, err, ln.Addr(), "not for me")
		await(t, done, "the receiver")
	})
}

// checkFramedReceiver checks that err is RawSend's failure to reach the
// ferry recv without --raw at addr, with reason from its error frame.
func checkFramedReceiver(t *testing.T, err error, addr net.Addr, reason string) {
	t.Helper()
	want := "the receiver at " + addr.String() + " takes only ferry's own framing, not raw bytes (receiver: "
	if !errors.Is(err, rawnc.ErrFramedReceiver) || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("RawSend = %v, want %q...", err, want)
	}
	if pe := peerError(t, err); !strings.Contains(pe.Err.Error(), reason) {
		t.Errorf("RawSend = %v, want the receiver's reason %q", err, reason)
	}
}

// TestRawSendReply checks that whatever a netcat receiver sends back, but
// a ferry hello, is read and ignored: send --raw ends when it ends.
func TestRawSendReply(t *testing.T) {
	for _, tc := range rawStreams {
		t.Run(tc.name, func(t *testing.T) {
			ln := listen(t)
			done := fakePeer(ln, func(conn net.Conn) {
				_, _ = io.Copy(io.Discard, conn)
				_, _ = conn.Write(tc.stream)
			})
			n, err := transfer.RawSend(t.Context(), dial(t, ln.Addr()), bytes.NewReader(textBytes(1000)), 5*time.Second)
			if err != nil || n != 1000 {
				t.Errorf("RawSend = %d, %v, want 1000 bytes sent and no error", n, err)
			}
			await(t, done, "the receiver")
		})
	}
}

// TestRawReceiveTimeout checks that recv --raw, given up on a sender that
// went silent without ending its stream (nc without -N), says what to do,
// and resets the connection, so that the sender fails rather than take
// the close for its stream's arrival.
func TestRawReceiveTimeout(t *testing.T) {
	ln := listen(t)
	out := dial(t, ln.Addr())
	defer out.Close()
	if _, err := out.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	_, err = transfer.RawReceive(t.Context(), conn, &got, nil, 100*time.Millisecond)
	want := "nothing from " + out.LocalAddr().String() + " for 100ms, and it has not ended its stream"
	if !errors.Is(err, transfer.ErrTimeout) || !errors.Is(err, rawnc.ErrUnended) || !strings.Contains(err.Error(), want) {
		t.Errorf("RawReceive = %v, want transfer.ErrTimeout saying %q", err, want)
	}
	if _, err := out.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the sender read %v, want a reset", err)
	}
}

// TestRawSendStalledReceiver sends an endless stream to a receiver that
// accepts and never reads: once the sockets' buffers are full, RawSend
// gives up after ten times its timeout of taking nothing, not never.
func TestRawSendStalledReceiver(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the stall limit on a receiver that never reads, after its buffers fill")
	}
	t.Parallel()
	ln := listen(t)
	hold := make(chan struct{})
	defer close(hold)
	fakePeer(ln, func(net.Conn) { <-hold })
	const timeout = 100 * time.Millisecond
	_, err := transfer.RawSend(t.Context(), dial(t, ln.Addr()), endless{}, timeout)
	if !errors.Is(err, transfer.ErrTimeout) || !strings.Contains(err.Error(), "took nothing for 1s, 10 times the timeout") {
		t.Errorf("RawSend to a receiver that never reads = %v, want %v saying it took nothing for 1s", err, transfer.ErrTimeout)
	}
}
