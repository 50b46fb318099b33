package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"time"

	"ferry/framing"
)

// RawSend is --raw: it streams r over conn with no framing at all, as
// netcat does, half-closes, and waits for the receiver to close its side,
// so that it returns only once the receiver has read everything. Nothing
// is verified: raw mode is for talking to netcat. Cancelling ctx closes
// the connection. RawSend closes conn.
//
// A failure before the half-close (the source cannot be read, ctx is
// cancelled) resets the connection rather than closing it: a close would
// look to the receiver like the end of the stream, and a netcat or ferry
// receiver would keep the bytes so far as the whole.
func RawSend(ctx context.Context, conn net.Conn, r io.Reader, timeout time.Duration) (int64, error) {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { resetConn(conn) })
	defer stop()
	type result struct {
		n   int64
		err error
	}
	copied := make(chan result, 1)
	go func() {
		n, err := io.Copy(conn, r)
		copied <- result{n, err}
	}()
	var res result
	select {
	case res = <-copied:
	case <-ctx.Done():
		// A read of a terminal or pipe cannot be woken; the copy ends with
		// the process, or with the source. Reset here too: the deferred
		// stop may have kept the AfterFunc from running.
		resetConn(conn)
		return 0, ctx.Err()
	}
	if res.err != nil {
		resetConn(conn)
		// The copy reports a failed read of the source as the socket's
		// ("readfrom tcp ..."): the file's own error names the culprit.
		if pe := (*fs.PathError)(nil); errors.As(res.err, &pe) && ctx.Err() == nil {
			return res.n, fmt.Errorf("cannot read %s: %w", pe.Path, pe.Err)
		}
		return res.n, rawErr(ctx, conn, res.err)
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		if err := cw.CloseWrite(); err != nil {
			return res.n, rawErr(ctx, conn, err)
		}
	}
	// Wait for the receiver's end of stream, reading whatever it sends,
	// as nc -N does.
	_, err := io.Copy(io.Discard, &deadlineConn{conn: conn, timeout: timeout})
	return res.n, rawErr(ctx, conn, err)
}

// resetConn closes conn so that the peer sees a reset, not an end of
// stream.
func resetConn(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// RawReceive is recv --raw: it copies the connection's bytes to w until
// the sender half-closes. Cancelling ctx closes the connection. RawReceive
// closes conn.
//
// A stream that opens with a ferry hello is a ferry send without --raw,
// which would wait for a hello in return until its timeout: RawReceive
// writes none of it, tells that sender in an error frame, and fails.
func RawReceive(ctx context.Context, conn net.Conn, w io.Writer, timeout time.Duration) (int64, error) {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	r := &deadlineConn{conn: conn, timeout: timeout}
	var head [helloPrefixLen]byte
	k, err := io.ReadFull(r, head[:])
	switch {
	case err == nil && isFerryHello(head[:]):
		tell(conn, framing.CodeProtocol, "this receiver runs ferry recv --raw, which takes bytes without framing: add --raw to ferry send, or restart ferry recv without it")
		// Closed with the sender's frames unread, the connection would be
		// reset, which can overtake the error frame: end the write side
		// and let the sender hang up first.
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
			_, _ = io.Copy(io.Discard, conn)
		}
		return 0, fmt.Errorf("%s is a ferry send without --raw: add --raw to it, or run ferry recv without --raw", conn.RemoteAddr())
	case err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF):
		return 0, rawErr(ctx, conn, err)
	}
	wrote, err := w.Write(head[:k])
	n := int64(wrote)
	if err == nil && k == len(head) {
		var more int64
		more, err = io.Copy(w, r)
		n += more
	}
	return n, rawErr(ctx, conn, err)
}

// helloPrefixLen is how much of a stream tells a ferry hello: the frame's
// type and length, and the magic.
const helloPrefixLen = framing.HeaderLen + len(framing.Magic)

// isFerryHello says whether head, helloPrefixLen bytes, opens a hello
// frame of any version.
func isFerryHello(head []byte) bool {
	return framing.Type(head[0]) == framing.TypeHello && string(head[framing.HeaderLen:]) == framing.Magic
}

// rawErr explains a raw transfer's failure.
func rawErr(ctx context.Context, conn net.Conn, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, ErrTimeout):
		return err
	}
	// Only the socket's errors: a syscall.Errno is a net.Error too, so
	// asking for that would report a full disk as a lost connection.
	var oe *net.OpError
	if errors.As(err, &oe) || errors.Is(err, net.ErrClosed) {
		return lostError(conn, err)
	}
	return err
}

// deadlineConn reads conn, giving up after timeout of silence.
type deadlineConn struct {
	conn    net.Conn
	timeout time.Duration
}

func (d *deadlineConn) Read(p []byte) (int, error) {
	if d.timeout > 0 {
		_ = d.conn.SetReadDeadline(time.Now().Add(d.timeout))
	}
	n, err := d.conn.Read(p)
	return n, timeoutError(d.conn, d.timeout, err)
}
