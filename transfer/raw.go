package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"time"
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
func RawReceive(ctx context.Context, conn net.Conn, w io.Writer, timeout time.Duration) (int64, error) {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	n, err := io.Copy(w, &deadlineConn{conn: conn, timeout: timeout})
	return n, rawErr(ctx, conn, err)
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
