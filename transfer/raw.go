package transfer

import (
	"context"
	"io"
	"net"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/rawnc"
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
//
// What the receiver sends back is read and discarded, as nc -N does,
// unless it opens with a ferry hello: then the receiver is a ferry recv
// without --raw, which took none of the bytes, and RawSend fails saying
// so, with the receiver's reason as a *PeerError, even when the refusing
// receiver's reset failed a write first.
func RawSend(ctx context.Context, conn net.Conn, r io.Reader, timeout time.Duration) (int64, error) {
	return rawnc.Send(ctx, conn, r, timeout, func(m framing.ErrorMsg, aborted bool) error {
		return &PeerError{Role: framing.RoleReceiver, Code: m.Code, Message: m.Message, Aborted: aborted}
	})
}

// RawReceive is recv --raw: it copies the connection's bytes to w until
// the sender half-closes, then calls finish, if set, to make them durable
// and put them in place, before it closes conn: a finish that fails resets
// the connection like any other failure. Cancelling ctx closes the
// connection. RawReceive closes conn.
//
// A stream that opens with a ferry hello is a ferry send without --raw,
// which would wait for a hello in return until its timeout: RawReceive
// writes none of it, tells that sender in an error frame, and fails.
//
// Any other failure resets the connection: closed, it would tell a ferry
// send --raw that its stream arrived, and that sender would exit 0.
func RawReceive(ctx context.Context, conn net.Conn, w io.Writer, finish func() error, timeout time.Duration) (int64, error) {
	return rawnc.Receive(ctx, conn, w, finish, timeout)
}
