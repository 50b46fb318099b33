// Package rawnc is ferry's raw mode, for talking to netcat: bytes with no
// framing at all, ended by a half-close. What it adds to a plain copy is
// what netcat cannot say: a stream that opens with a ferry hello is a
// ferry on the other side in the other mode, told so in its own framing;
// a failure resets the connection so that the peer does not take the
// bytes so far for the whole; and the limits on silence and on a peer
// that takes nothing are conn's, with messages that say what to change.
package rawnc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"syscall"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/conn"
)

// Failures a command can add its advice to.
var (
	// ErrFramedReceiver means the receiver is a ferry receiver in the
	// framed mode, which took none of the raw bytes.
	ErrFramedReceiver = errors.New("takes only ferry's own framing, not raw bytes")
	// ErrFramedSender means the sender is a ferry sender in the framed
	// mode, whose frames a raw receiver does not write out.
	ErrFramedSender = errors.New("is a ferry sender in the framed mode, not a raw one")
	// ErrPaused means a send's connection was lost after its input had
	// paused for longer than a raw receiver waits.
	ErrPaused = errors.New("a raw receiver gives up after its timeout of silence")
	// ErrUnended means a raw sender went silent without ending its
	// stream, as nc without -N never ends it.
	ErrUnended = errors.New("has not ended its stream")
)

// PeerError makes the error that reports a ferry receiver's error frame,
// m, or its abort frame (aborted, with m.Message its reason): the
// caller's own type for a peer's failure.
type PeerError func(m framing.ErrorMsg, aborted bool) error

// Send is send --raw: it streams r over nc with no framing at all, as
// netcat does, half-closes, and waits for the receiver to close its side,
// so that it returns only once the receiver has read everything. Nothing
// is verified: raw mode is for talking to netcat. timeout bounds the
// receiver's silence (0: no limit). Cancelling ctx closes the connection.
// Send closes nc.
//
// A failure before the half-close (the source cannot be read, ctx is
// cancelled) resets the connection rather than closing it: a close would
// look to the receiver like the end of the stream, and a netcat or ferry
// receiver would keep the bytes so far as the whole.
//
// What the receiver sends back is read and discarded, as nc -N does,
// unless it opens with a ferry hello: then the receiver is a ferry recv
// without --raw, which took none of the bytes, and Send fails saying so,
// with the receiver's reason made by peerError, even when the refusing
// receiver's reset failed a write first.
func Send(ctx context.Context, nc net.Conn, r io.Reader, timeout time.Duration, peerError PeerError) (int64, error) {
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { resetConn(nc) })
	defer stop()
	type result struct {
		n   int64
		err error
	}
	src := &pauseReader{r: r}
	copied := make(chan result, 1)
	go func() {
		n, err := io.Copy(conn.NewStallWriter(nc, timeout), src)
		copied <- result{n, err}
	}()
	var res result
	select {
	case res = <-copied:
	case <-ctx.Done():
		// A read of a terminal or pipe cannot be woken; the copy ends with
		// the process, or with the source. Reset here too: the deferred
		// stop may have kept the AfterFunc from running.
		resetConn(nc)
		return 0, ctx.Err()
	}
	err := res.err
	if cw, ok := nc.(interface{ CloseWrite() error }); ok && err == nil {
		err = cw.CloseWrite()
	}
	if err != nil {
		// The copy reports a failed read of the source as the socket's
		// ("readfrom tcp ..."): the file's own error names the culprit.
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) && ctx.Err() == nil {
			resetConn(nc)
			return res.n, fmt.Errorf("cannot read %s: %w", pe.Path, pe.Err)
		}
		// A ferry recv without --raw resets the connection once it has
		// given up on the bytes, which fails the write or the
		// half-close; its hello and its reason came before the reset.
		if ctx.Err() == nil {
			var fe *framedReceiverError
			if rerr := readReply(nc, timeout, peerError); errors.As(rerr, &fe) {
				err = rerr
			}
		}
		resetConn(nc)
		return res.n, sendError(ctx, nc, err, src.longest)
	}
	// A ferry recv --raw closes once the bytes are durable and in place,
	// which for a big file on a slow disk can be long after the last byte:
	// as a receiver's stalled writes are, it is given conn.StallFactor times
	// the timeout.
	err = readReply(nc, conn.StallFactor*timeout, peerError)
	if errors.Is(err, syscall.ECONNRESET) && ctx.Err() == nil {
		// Every byte went out and the write side is closed: a reset now,
		// instead of a close, is the receiver refusing what it got. A
		// ferry recv --raw does so when it cannot keep the data.
		return res.n, fmt.Errorf("the receiver at %s reset the connection after the last byte instead of closing it, so it may not have kept the data (the receiver's own messages say why)", nc.RemoteAddr())
	}
	return res.n, sendError(ctx, nc, err, src.longest)
}

// readReply reads what the receiver sends until its end of stream, giving
// up after timeout of silence. A netcat's bytes are discarded, as nc -N
// discards them; a ferry hello means a ferry recv without --raw, and
// readReply returns a *framedReceiverError, with the reason it gave made
// by peerError.
func readReply(nc net.Conn, timeout time.Duration, peerError PeerError) error {
	r := &deadlineConn{nc: nc, timeout: timeout}
	var head [helloPrefixLen]byte
	_, err := io.ReadFull(r, head[:])
	switch {
	case err == nil && isFerryHello(head[:]):
		return readFramedReceiver(nc, io.MultiReader(bytes.NewReader(head[:]), r), peerError)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return nil
	case err != nil:
		return err
	}
	_, err = io.Copy(io.Discard, r)
	return err
}

// readFramedReceiver reads, from r, the frames of a ferry recv without
// --raw, its hello first, for the reason it gives for refusing the bytes.
// Pings, which the receiver sends while it waits, are skipped.
func readFramedReceiver(nc net.Conn, r io.Reader, peerError PeerError) error {
	e := &framedReceiverError{peer: nc.RemoteAddr()}
	fr := framing.NewReader(r)
	fr.SetLimit(framing.MaxHandshakePayload)
	if _, _, err := fr.ReadFrame(); err != nil {
		return e
	}
	for {
		t, p, err := fr.ReadFrame()
		switch {
		case err != nil: // it gave no reason
		case t == framing.TypePing:
			continue
		case t == framing.TypeError:
			if m, err := framing.ParseError(p); err == nil {
				e.reason = peerError(m, false)
			}
		case t == framing.TypeAbort:
			if reason, err := framing.ParseAbort(p); err == nil {
				e.reason = peerError(framing.ErrorMsg{Message: reason}, true)
			}
		}
		return e
	}
}

// framedReceiverError is a send --raw that reached a ferry recv without
// --raw, which takes nothing but ferry's frames and so kept none of the
// bytes.
type framedReceiverError struct {
	peer   net.Addr
	reason error // the receiver's error or abort frame, if it sent one
}

func (e *framedReceiverError) Error() string {
	msg := fmt.Sprintf("the receiver at %s %v", e.peer, ErrFramedReceiver)
	if e.reason != nil {
		msg += " (" + e.reason.Error() + ")"
	}
	return msg
}

// Unwrap gives the receiver's own error, if it sent one.
func (e *framedReceiverError) Unwrap() error { return e.reason }

// Is makes e an ErrFramedReceiver.
func (e *framedReceiverError) Is(target error) bool { return target == ErrFramedReceiver }

// notablePause is how long the input of a send --raw must have kept it
// from writing before a lost connection's message mentions it: a receiver
// with a --timeout shorter than that pause gives up meanwhile.
const notablePause = time.Second

// pauseReader reads r and keeps the longest wait for a read.
type pauseReader struct {
	r       io.Reader
	longest time.Duration
}

func (p *pauseReader) Read(b []byte) (int, error) {
	start := time.Now()
	n, err := p.r.Read(b)
	p.longest = max(p.longest, time.Since(start))
	return n, err
}

// sendError explains a raw send's failure, err, as rawErr does. A lost
// connection after the input paused for paused, long enough to matter,
// says so: a ferry recv --raw resets the connection when the sender has
// been silent for its --timeout, and the sender learns of it only when it
// writes again.
func sendError(ctx context.Context, nc net.Conn, err error, paused time.Duration) error {
	lost := err != nil && ctx.Err() == nil && socketErr(err)
	err = rawError(ctx, nc, err)
	if lost && paused >= notablePause {
		return fmt.Errorf("%w, after the input paused for %s: %w (%s by default)", err, paused.Round(100*time.Millisecond), ErrPaused, conn.DefaultTimeout)
	}
	return err
}

// resetConn closes nc so that the peer sees a reset, not an end of
// stream.
func resetConn(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = nc.Close()
}

// Receive is recv --raw: it copies the connection's bytes to w until the
// sender half-closes, then calls finish, if set, to make them durable and
// put them in place, before it closes nc: a finish that fails resets the
// connection like any other failure. timeout bounds the sender's silence
// (0: no limit). Cancelling ctx closes the connection. Receive closes nc.
//
// A stream that opens with a ferry hello is a ferry send without --raw,
// which would wait for a hello in return until its timeout: Receive
// writes none of it, tells that sender in an error frame, and fails.
//
// Any other failure resets the connection: closed, it would tell a ferry
// send --raw that its stream arrived, and that sender would exit 0.
func Receive(ctx context.Context, nc net.Conn, w io.Writer, finish func() error, timeout time.Duration) (int64, error) {
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { resetConn(nc) })
	defer stop()
	r := &deadlineConn{nc: nc, timeout: timeout}
	var head [helloPrefixLen]byte
	k, err := io.ReadFull(r, head[:])
	switch {
	case err == nil && isFerryHello(head[:]):
		conn.Tell(nc, framing.CodeProtocol, "this receiver runs ferry recv --raw, which takes bytes without framing: add --raw to ferry send, or restart ferry recv without it")
		// Closed with the sender's frames unread, the connection would be
		// reset, which can overtake the error frame: end the write side
		// and let the sender hang up first.
		if cw, ok := nc.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
			_, _ = io.Copy(io.Discard, nc)
		}
		return 0, fmt.Errorf("%s %w", nc.RemoteAddr(), ErrFramedSender)
	case err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF):
		resetConn(nc)
		return 0, receiveError(ctx, nc, err)
	}
	wrote, err := w.Write(head[:k])
	n := int64(wrote)
	if err == nil && k == len(head) {
		var more int64
		more, err = io.Copy(w, r)
		n += more
	}
	if err != nil {
		resetConn(nc)
		return n, receiveError(ctx, nc, err)
	}
	if finish != nil {
		// Interrupted before finishing, the connection was reset and the
		// sender told it failed: the file must not be put in place.
		if !stop() {
			return n, ctx.Err()
		}
		if err := finish(); err != nil {
			resetConn(nc)
			return n, err
		}
	}
	return n, nil
}

// receiveError explains a raw receive's failure, err, as rawErr does. A
// sender that went silent without ending its stream is most likely nc
// without -N, which never does, or one whose input paused.
func receiveError(ctx context.Context, nc net.Conn, err error) error {
	err = rawError(ctx, nc, err)
	if errors.Is(err, conn.ErrTimeout) {
		return fmt.Errorf("%w, and it %w", err, ErrUnended)
	}
	return err
}

// helloPrefixLen is how much of a stream tells a ferry hello: the frame's
// type and length, and the magic.
const helloPrefixLen = framing.HeaderLen + len(framing.Magic)

// isFerryHello says whether head, helloPrefixLen bytes, opens a hello
// frame of any version.
func isFerryHello(head []byte) bool {
	return framing.Type(head[0]) == framing.TypeHello && string(head[framing.HeaderLen:]) == framing.Magic
}

// rawError explains a raw transfer's failure.
func rawError(ctx context.Context, nc net.Conn, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, conn.ErrTimeout):
		return err
	}
	if socketErr(err) {
		return conn.LostError(nc, err)
	}
	return err
}

// socketErr says whether err is the socket's. Only its errors: a
// syscall.Errno is a net.Error too, so asking for that would report a full
// disk as a lost connection.
func socketErr(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) || errors.Is(err, net.ErrClosed)
}

// deadlineConn reads nc, giving up after timeout of silence.
type deadlineConn struct {
	nc      net.Conn
	timeout time.Duration
}

func (d *deadlineConn) Read(p []byte) (int, error) {
	if d.timeout > 0 {
		_ = d.nc.SetReadDeadline(time.Now().Add(d.timeout))
	}
	n, err := d.nc.Read(p)
	return n, conn.TimeoutError(d.nc, d.timeout, err)
}
