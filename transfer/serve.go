package transfer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/conn"
	"github.com/ferrytool/ferry/internal/guard"
	"github.com/ferrytool/ferry/internal/stripe"
)

// ServeOptions configure Receiver.Serve.
type ServeOptions struct {
	// KeepOpen serves senders until ctx ends, each connection in its own
	// goroutine; without it Serve handles one connection and returns.
	KeepOpen bool
	// Connected, if set, is called when a sender connects.
	Connected func(peer net.Addr)
	// Greeted, if set, is called when a connection's hello came, which
	// makes it a ferry sender's: under a flood of connections that are
	// not, a log of these stays readable where one of Connected would not.
	Greeted func(peer net.Addr)
	// Finished, if set, is called when a connection's transfer ends.
	Finished func(peer net.Addr, s Summary, err error)
	// Refused, if set, is called when a sender is turned away for too many
	// failed handshakes; it may try again after wait.
	Refused func(peer net.Addr, wait time.Duration)
	// Busy, if set, is called when a connection is turned away because
	// the receiver serves as many as it takes: one without KeepOpen,
	// MaxConns with it.
	Busy func(peer net.Addr)
	// Retries is how many failed transfers Serve without KeepOpen waits
	// through for the sender to try again, with the same code: transfers
	// that failed on the sender's side or between the two (the sender
	// stopped or failed, the connection was lost, the sender went silent).
	// A wrong code, a failure of this side's own (its destination's) and
	// a completed transfer still end Serve, as the failure after the last
	// retry does. Zero waits through none.
	Retries int
	// Retrying, if set, is called when Serve goes on waiting after the
	// transfer from peer failed with err, once it takes the next sender;
	// left is how many more failed transfers it will wait through: the
	// sender has left+1 more tries.
	Retrying func(peer net.Addr, err error, left int)
	// ForPeer, if set, gives the Receiver for the connection from peer,
	// from the one serving: with KeepOpen, so that callbacks such as
	// FilesDone can say which of the concurrent senders they report on.
	ForPeer func(peer net.Addr, r Receiver) Receiver
}

// displaceAfter is how long the one connection of a Serve without
// KeepOpen may have gone without its hello before a sender that comes
// displaces it. A ferry sender sends its hello as soon as it connects; a
// connection without one for this long is a port check or a probe held
// open, and must not keep the sender the receiver waits for out until its
// timeout. With KeepOpen a connection whose transfer has not begun (no
// offer yet) is displaced at any age when the table is full (see
// guard.Table.Displace).
const displaceAfter = time.Second

// MaxConnsPerAddress is how many connections Serve with KeepOpen takes at
// once from one IPv4 address or IPv6 /64: one host cannot hold more than
// half the slots, and a script on one host can still run a few dozen
// senders at once.
const MaxConnsPerAddress = MaxConns / 2

// MaxConns is how many connections Serve with KeepOpen serves at once.
// Each holds buffers, some 70 KiB before its hello; a connection beyond
// this many is told the receiver is busy and closed, so that a client
// that opens sockets by the thousand cannot run the receiver out of
// memory.
const MaxConns = 64

// serve is Receiver.Serve, with the receiver's settings o.
func serve(ctx context.Context, ln net.Listener, to Destination, o options, opts ServeOptions) error {
	// Connections that join a transfer's parallel streams go to it, not
	// through the slots below; at most MaxConns are looked at at once.
	o.joins = stripe.NewJoins(MaxConns)
	ln = o.joins.Listen(ln)
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	defer ln.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	limits := guard.New(o.Code)
	var pause time.Duration // after an accept that failed for want of resources
	n := cmp.Or(o.maxConns, MaxConns)
	busy := fmt.Sprintf("busy: the receiver is serving %d connections, the most it takes at once; try again later", n)
	perPrefix := min(n, MaxConnsPerAddress)
	busyPrefix := fmt.Sprintf("busy: the receiver is serving %d connections from your address, the most it takes from one; try again later", perPrefix)
	after := time.Duration(0) // how long a connection must have waited to be displaced
	if !opts.KeepOpen {
		n = 1
		busy = "busy: the receiver is serving another connection and serves one at a time; try again when it is done"
		after = displaceAfter
		if o.displaceAfter != nil {
			after = *o.displaceAfter
		}
	}
	slots := make(chan struct{}, n)
	// Failed transfers still waited through; only the goroutine of the
	// connection that holds the one slot, once served, touches it.
	retries := opts.Retries
	var table guard.Table
	result := make(chan error, 1) // without KeepOpen, the transfer's outcome
	// end ends Serve with err, or without KeepOpen with the outcome of a
	// transfer in flight, once it is over: the transfer, not the accepting
	// beside it, is what Serve reports then.
	end := func(err error) error {
		if !opts.KeepOpen {
			wg.Wait()
			select {
			case err := <-result:
				return err
			default:
			}
		}
		return err
	}
	turnAway := func(c net.Conn, msg string) {
		if opts.Busy != nil {
			opts.Busy(c.RemoteAddr())
		}
		// A fresh connection's buffer takes the frame at once.
		conn.Tell(c, framing.CodeInternal, msg)
		_ = c.Close()
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return end(ctx.Err())
			}
			if errors.Is(err, net.ErrClosed) {
				return end(err) // by the transfer, once over
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if !acceptRetries(err) {
				return end(fmt.Errorf("accepting connections: %w", err))
			}
			// Connections being served will end and free what is short;
			// until then, accepting again at once would spin.
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return end(ctx.Err())
			}
			continue
		}
		pause = 0
		prefix := guard.Prefix(conn.RemoteAddr())
		if opts.KeepOpen && table.From(prefix) >= perPrefix && !table.Displace(prefix, 0) {
			turnAway(conn, busyPrefix)
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			if !table.Displace("", after) {
				turnAway(conn, busy)
				continue
			}
			// The displaced connection's goroutine frees the slot once
			// Receive has seen it closed.
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				_ = conn.Close()
				return end(ctx.Err())
			}
		}
		// Displacing a connection also ends its wait for a turn, which
		// reads nothing from it and would keep its slot meanwhile.
		connCtx, stopConn := context.WithCancel(ctx)
		c := &guard.Conn{Conn: conn, Prefix: prefix, Since: time.Now(), Stop: stopConn}
		table.Add(c)
		wg.Go(func() {
			defer stopConn()
			// The slot is free before the connection is reported over, so
			// a sender told of it finds it free; the one transfer without
			// KeepOpen keeps it, since Serve returns its outcome.
			served, err := serveConn(ctx, connCtx, c, to, o, opts, limits, &table, func(served bool, err error) bool {
				table.Remove(c)
				retry := served && !opts.KeepOpen && retries > 0 && ctx.Err() == nil && senderMayRetry(err)
				left := 0
				if retry {
					retries--
					left = retries
				}
				if !served || opts.KeepOpen || retry {
					<-slots
				}
				if retry && opts.Retrying != nil {
					opts.Retrying(c.Conn.RemoteAddr(), err, left)
				}
				return retry
			})
			if served && !opts.KeepOpen {
				result <- err
				_ = ln.Close()
			}
		})
	}
}

// serveConn serves the sender on conn, and reports whether it did. In the
// encrypted mode a sender is turned away, before its hello or once it has
// come, after too many failed handshakes; and one that has sent its hello
// waits for its turn as guard.Limiter says: a connection that sends nothing
// takes no turn. over is called once the outcome is known, before
// Finished, with whether the connection was a transfer and its error; it
// says whether Serve waits for the sender to try again, in which case
// serveConn reports no transfer: the next connection's outcome is Serve's.
// table holds c, as
// Serve may displace it, which cancels connCtx: c is protected from that
// once its hello came without KeepOpen, once its offer came with it.
func serveConn(ctx, connCtx context.Context, c *guard.Conn, to Destination, o options, opts ServeOptions, limits *guard.Limiter, table *guard.Table, over func(served bool, err error) bool) (bool, error) {
	conn, peer := c.Conn, c.Conn.RemoteAddr()
	if opts.ForPeer != nil {
		r := opts.ForPeer(peer, o.receiver())
		joins := o.joins
		o = r.options()
		o.joins = joins
	}
	o.greeted = func() {
		table.Greet(c)
		if !opts.KeepOpen {
			table.Trust(c)
		}
		if opts.Greeted != nil {
			opts.Greeted(peer)
		}
	}
	o.offered = func() { table.Trust(c) }
	if o.Code != "" {
		host := c.Prefix
		if wait, ok := limits.Allow(host); !ok {
			if opts.Refused != nil {
				opts.Refused(peer, wait)
			}
			refuse(conn, wait)
			over(false, nil)
			return false, nil
		}
		// Whether this sender holds a turn; only the receiving goroutine,
		// which calls admit and handshakeOver, touches it.
		admitted := false
		o.admit = func() error {
			// Longer than one turn: a sender just behind one that stalls
			// gets in.
			waitCtx, cancel := context.WithTimeout(connCtx, 2*handshakeTime(o.timeout()))
			defer cancel()
			if err := limits.Enter(waitCtx, host); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return withCode(framing.CodeInternal, fmt.Errorf("busy: the handshakes of other senders kept %s waiting for %s (twice the timeout); try again", peer, 2*handshakeTime(o.timeout())))
			}
			if wait, ok := limits.Allow(host); !ok {
				limits.Leave(host)
				if opts.Refused != nil {
					opts.Refused(peer, wait)
				}
				return withCode(framing.CodeAuth, &refusedError{wait: wait})
			}
			admitted = true
			return nil
		}
		// A failed handshake is counted, and the next sender let in, as
		// soon as it is over, not when the connection ends, which after a
		// failure waits a while for the peer to hang up.
		o.handshakeOver = func(counts bool) {
			if !admitted {
				return
			}
			admitted = false
			if counts {
				limits.Failed(host)
			}
			limits.Leave(host)
		}
	}
	if opts.Connected != nil {
		opts.Connected(peer)
	}
	s, err := receive(ctx, conn, to, o)
	if table.End(c) {
		// Reported before the slot goes to the connection that displaced
		// it, so the reports come in order.
		err = described(fmt.Errorf("the connection from %s %w", peer, ErrDisplaced), peer, "")
		if opts.Finished != nil {
			opts.Finished(peer, s, err)
		}
		over(false, nil)
		return false, err
	}
	var refused *refusedError
	if errors.As(err, &refused) {
		over(false, nil)
		return false, nil
	}
	// A connection that said nothing, a peer that does not speak ferry (a
	// netcat, a probe) and a sender in the other mode tried no code and were
	// no transfer: Serve without KeepOpen waits for one.
	served := !NoTransfer(err)
	retry := over(served, err)
	if opts.Finished != nil {
		opts.Finished(peer, s, err)
	}
	return served && !retry, err
}

// NoTransfer says whether a connection that ended with err was no
// transfer, which a Serve without KeepOpen goes on waiting after: one
// closed without a byte (ErrSilentPeer) or held open without one for the
// whole timeout, one from a peer that does not speak ferry
// (framing.ErrNotFerry), one from a sender in the other mode
// (ErrOtherMode), one from a sender that aborted or failed before its
// code was tried (interrupted while it waited for its turn, say), one
// whose hello was cut short, late or invalid, and one displaced by a
// sender (ErrDisplaced). None of them tried a code.
func NoTransfer(err error) bool {
	return errors.Is(err, ErrSilentPeer) || errors.Is(err, errQuietPeer) || errors.Is(err, framing.ErrNotFerry) || errors.Is(err, ErrOtherMode) || errors.Is(err, errGoneBeforeCode) || errors.Is(err, ErrDisplaced) || errors.Is(err, errBadHello)
}

// senderMayRetry says whether a transfer that failed with err failed on
// the sender's side or between the two, so that the sender may try again
// with the same code: the sender reported a failure of its own or was
// interrupted, the connection was lost, or the sender went silent. A wrong
// code, which the sender's user must correct, and a failure of this side,
// which a retry would meet again, are not.
func senderMayRetry(err error) bool {
	var e *Error
	switch {
	case errors.Is(err, ErrAuth):
		return false
	case errors.As(err, &e) && e.Remote:
		return true
	}
	return errors.Is(err, ErrConnectionLost) || errors.Is(err, ErrTimeout)
}

// refusedError turns a sender away for too many failed handshakes.
type refusedError struct{ wait time.Duration }

func (e *refusedError) Error() string {
	return fmt.Sprintf("too many failed attempts with a wrong code; try again in %s", e.wait.Round(time.Second))
}

// acceptRetries says whether Accept failed for a reason that passes: the
// process or system out of descriptors or memory, or a connection reset
// before it was accepted. A -k receiver must not end because senders held
// every descriptor for a while.
func acceptRetries(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// handshakeTime is how long a receiver with the given timeout gives a
// sender, from its connection, to finish the hello and the handshake: the
// timeout, which pings do not extend here, or DefaultTimeout where there
// is none.
func handshakeTime(timeout time.Duration) time.Duration {
	if timeout > 0 {
		return timeout
	}
	return DefaultTimeout
}
