package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/conn"
	"github.com/ferrytool/ferry/internal/stripe"
)

// MaxStreams is the most connections one transfer is striped over
// (Sender.Streams, ferry send -P).
const MaxStreams = stripe.MaxStreams

// striped says whether a side with opts may stripe a transfer on c: a
// sender asking for streams over TCP, whose peer's address it can dial
// again, or a receiver that serves a listener, to which the connections
// that join come.
func striped(c net.Conn, role framing.Role, opts options) bool {
	if role == framing.RoleReceiver {
		return opts.joins != nil
	}
	return opts.streams > 1 && c.RemoteAddr().Network() == "tcp"
}

// stripe moves the link onto parallel streams once hellos and handshake
// are done, if both sides take part (PROTOCOL.md 2.12); else it stays on
// the one connection.
func (l *link) stripe(h framing.Hello) error {
	if h.Capabilities&framing.CapStreams == 0 {
		l.sw.Disarm()
		return nil
	}
	if l.role == framing.RoleReceiver {
		return l.grantStreams()
	}
	return l.openStreams()
}

// grantStreams is the receiver's part: it grants up to MaxStreams, reads
// how many the sender opens, and waits for those to join.
func (l *link) grantStreams() error {
	w := l.joins.Expect(MaxStreams)
	defer w.Close()
	if l.granted != nil {
		l.granted()
	}
	if err := l.sendLast(framing.Join{Token: w.Token, N: MaxStreams}); err != nil {
		return err
	}
	j, err := l.readJoin()
	if err != nil {
		return err
	}
	if j.Token != w.Token || j.N < 2 || j.N > MaxStreams {
		return withCode(framing.CodeProtocol, fmt.Errorf("%s answered the grant of parallel streams with a join of another token or %d streams", l.RemoteAddr(), j.N))
	}
	l.sw.SwitchRead()
	within := handshakeTime(l.timeout)
	conns, err := w.Conns(l.raw, int(j.N), time.Now().Add(within), l.Failed())
	if err != nil {
		err = fmt.Errorf("the sender at %s asked for %d parallel streams (ferry send -P), but %w within %s", l.RemoteAddr(), j.N, err, within)
		l.sw.Abandon(err)
		return err
	}
	l.sw.Attach(stripe.New(conns))
	return nil
}

// openStreams is the sender's part: it reads the grant, opens the
// streams, and then says how many it opened. Opened first, a stream that
// cannot be opened fails the transfer while the first connection still
// carries frames, so the receiver hears why at once instead of waiting
// for the stream until its handshake timeout.
func (l *link) openStreams() error {
	g, err := l.readJoin()
	if err != nil {
		return err
	}
	if g.N < 2 {
		return withCode(framing.CodeProtocol, fmt.Errorf("%s granted %d parallel streams, fewer than 2", l.RemoteAddr(), g.N))
	}
	l.sw.SwitchRead()
	m := min(l.streams, int(g.N), MaxStreams)
	conns, err := l.dialJoins(g.Token, m)
	if err == nil {
		err = l.sendLast(framing.Join{Token: g.Token, N: uint8(m)})
		if err != nil {
			closeAll(conns)
		}
	}
	if err != nil {
		l.sw.Abandon(err)
		return err
	}
	l.sw.Attach(stripe.New(append([]net.Conn{l.raw}, conns...)))
	return nil
}

// sendLast sends j as the last frame on the one connection, and returns
// once it is out and the writer has switched: a frame queued before then
// could go out in the same write, on the one connection.
func (l *link) sendLast(j framing.Join) error {
	out := make(chan struct{})
	f := conn.Frame{Type: framing.TypeJoin, Payload: framing.AppendJoin(smallFrame(framing.TokenLen+1), j), Release: func() {
		l.sw.SwitchWrite()
		close(out)
	}}
	if err := l.Send(f); err != nil {
		return err
	}
	select {
	case <-out:
		return l.Err()
	case <-l.Failed():
		return l.Err()
	}
}

// dialJoins opens streams 1 to m-1 to the receiver's address, each with
// its join, at once: on a long path each costs a round trip.
func (l *link) dialJoins(token [framing.TokenLen]byte, m int) ([]net.Conn, error) {
	within := handshakeTime(l.timeout)
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	go func() {
		select {
		case <-l.Failed():
			cancel()
		case <-ctx.Done():
		}
	}()
	addr := l.raw.RemoteAddr().String()
	conns := make([]net.Conn, m-1)
	errs := make([]error, m-1)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				conn.LimitUnsent(c)
				deadline, _ := ctx.Deadline()
				_ = c.SetWriteDeadline(deadline)
				join := framing.AppendFrame(nil, framing.TypeJoin, framing.AppendJoin(nil, framing.Join{Token: token, N: uint8(i + 1)}))
				if _, err = c.Write(join); err != nil {
					_ = c.Close()
					c = nil
				}
			}
			conns[i], errs[i] = c, err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("%w %d of %d to %s: %w", ErrStreams, i+2, m, addr, err)
		}
	}
	return conns, nil
}

// closeAll closes the connections of conns that were opened.
func closeAll(conns []net.Conn) {
	for _, c := range conns {
		if c != nil {
			_ = c.Close()
		}
	}
}

// readJoin reads the peer's join, skipping its pings.
func (l *link) readJoin() (framing.Join, error) {
	for {
		t, p, err := l.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = l.Lost(io.ErrUnexpectedEOF, fmt.Sprintf("the %s closed the connection before its join", roleName(l.peerRole())))
			}
			if failed := l.Err(); failed != nil {
				return framing.Join{}, failed
			}
			return framing.Join{}, err
		}
		switch t {
		case framing.TypePing:
			continue
		case framing.TypeJoin:
			j, err := framing.ParseJoin(p)
			if err != nil {
				return framing.Join{}, withCode(framing.CodeProtocol, err)
			}
			return j, nil
		case framing.TypeError, framing.TypeAbort:
			return framing.Join{}, l.peerError(t, p)
		}
		return framing.Join{}, withCode(framing.CodeProtocol, fmt.Errorf("%s sent a %s frame where a join was due", l.RemoteAddr(), t))
	}
}
