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

	"ferry/framing"
)

// ServeOptions configure Serve.
type ServeOptions struct {
	Options
	// KeepOpen serves senders until ctx ends, each connection in its own
	// goroutine; without it Serve handles one connection and returns.
	KeepOpen bool
	// Connected, if set, is called when a sender connects.
	Connected func(peer net.Addr)
	// Finished, if set, is called when a connection's transfer ends.
	Finished func(peer net.Addr, s Summary, err error)
	// Refused, if set, is called when a sender is turned away for too many
	// failed handshakes; it may try again after wait.
	Refused func(peer net.Addr, wait time.Duration)
	// Busy, if set, is called when a connection is turned away because
	// the receiver serves as many as it takes: one without KeepOpen,
	// MaxConns with it.
	Busy func(peer net.Addr)
	// ForPeer, if set, gives the Options for the connection from peer,
	// from the shared ones: with KeepOpen, so that callbacks such as
	// FilesDone can say which of the concurrent senders they report on.
	ForPeer func(peer net.Addr, o Options) Options

	// maxConns, if positive, replaces MaxConns.
	maxConns int
	// displaceAfter, if set, replaces displaceAfter.
	displaceAfter *time.Duration
}

// displaceAfter is how long the one connection of a Serve without
// KeepOpen may have sent nothing before a sender that comes displaces it.
// A ferry sender sends its hello as soon as it connects; a connection
// quiet for this long is a port check or a probe held open, and must not
// keep the sender the receiver waits for out until its timeout.
const displaceAfter = time.Second

// oneConn is the connection a Serve without KeepOpen serves, as far as
// the accepting goroutine may displace it.
type oneConn struct {
	conn  net.Conn
	since time.Time

	mu        sync.Mutex
	heard     bool // a byte came from the peer
	displaced bool
	ended     bool // Receive returned: too late to displace
}

func (c *oneConn) setHeard() {
	c.mu.Lock()
	c.heard = true
	c.mu.Unlock()
}

// displace closes c if its peer has sent nothing for after, and says
// whether it did.
func (c *oneConn) displace(after time.Duration) bool {
	c.mu.Lock()
	ok := !c.heard && !c.ended && time.Since(c.since) >= after
	c.displaced = ok
	c.mu.Unlock()
	if ok {
		_ = c.conn.Close()
	}
	return ok
}

// end says Receive returned, and whether c was displaced before that.
func (c *oneConn) end() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = true
	return c.displaced
}

// MaxConns is how many connections Serve with KeepOpen serves at once.
// Each holds buffers, some 70 KiB before its hello; a connection beyond
// this many is told the receiver is busy and closed, so that a client
// that opens sockets by the thousand cannot run the receiver out of
// memory.
const MaxConns = 64

// Serve accepts senders on ln and receives from each into sink. Without
// KeepOpen it returns the first transfer's error; a connection that was no
// transfer (see NoTransfer) is not one, and one that comes while another
// is served is told the receiver is busy, unless the other has sent
// nothing for a second: that one is closed (ErrDisplaced) and the new one
// served. In the encrypted mode a
// source address with 3 failed handshakes in a minute, or any address
// once there were 20, is turned away until the minute has passed; one
// handshake per address, and 8 in all, run at once, the other senders
// waiting their turn. With KeepOpen it returns when ctx ends, after
// aborting every transfer still running and waiting for each to be cleaned
// up. Accepting is retried, after a pause, when the process is out of
// descriptors or memory. Serve closes ln.
func Serve(ctx context.Context, ln net.Listener, sink Sink, opts ServeOptions) error {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	defer ln.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	limits := newAuthLimiter()
	var pause time.Duration // after an accept that failed for want of resources
	n := cmp.Or(opts.maxConns, MaxConns)
	busy := fmt.Sprintf("busy: the receiver is serving %d connections, the most it takes at once; try again later", n)
	if !opts.KeepOpen {
		n = 1
		busy = "busy: the receiver is serving another connection and takes one at a time (it runs without -k); try again when it is done"
	}
	slots := make(chan struct{}, n)
	displaceAfter := displaceAfter
	if opts.displaceAfter != nil {
		displaceAfter = *opts.displaceAfter
	}
	var current *oneConn          // without KeepOpen, the connection served
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
		select {
		case slots <- struct{}{}:
		default:
			if current == nil || !current.displace(displaceAfter) {
				if opts.Busy != nil {
					opts.Busy(conn.RemoteAddr())
				}
				// A fresh connection's buffer takes the frame at once.
				tell(conn, framing.CodeInternal, busy)
				_ = conn.Close()
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
		var one *oneConn
		if !opts.KeepOpen {
			one = &oneConn{conn: conn, since: time.Now()}
			current = one
		}
		wg.Go(func() {
			// The slot is free before the connection is reported over, so
			// a sender told of it finds it free; the one transfer without
			// KeepOpen keeps it, since Serve returns its outcome.
			served, err := serveConn(ctx, conn, sink, opts, limits, one, func(served bool) {
				if !served || opts.KeepOpen {
					<-slots
				}
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
// waits for its turn as authLimiter says: a connection that sends nothing
// takes no turn. over is called once the outcome is known, before
// Finished, with whether the connection was a transfer. one, if not nil,
// is conn as Serve without KeepOpen may displace it.
func serveConn(ctx context.Context, conn net.Conn, sink Sink, opts ServeOptions, limits *authLimiter, one *oneConn, over func(served bool)) (bool, error) {
	peer := conn.RemoteAddr()
	if one != nil {
		opts.heard = one.setHeard
	}
	if opts.ForPeer != nil {
		opts.Options = opts.ForPeer(peer, opts.Options)
	}
	if opts.Code != "" {
		host := hostOf(peer)
		if wait, ok := limits.allow(host); !ok {
			if opts.Refused != nil {
				opts.Refused(peer, wait)
			}
			refuse(conn, wait)
			over(false)
			return false, nil
		}
		// Whether this sender holds a turn; only the receiving goroutine,
		// which calls admit and handshakeOver, touches it.
		admitted := false
		opts.admit = func() error {
			// Longer than one turn: a sender just behind one that stalls
			// gets in.
			waitCtx, cancel := context.WithTimeout(ctx, 2*handshakeTime(opts.timeout()))
			defer cancel()
			if err := limits.enter(waitCtx, host); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return withCode(framing.CodeInternal, fmt.Errorf("busy: the handshakes of other senders kept %s waiting for %s (twice --timeout); try again", peer, 2*handshakeTime(opts.timeout())))
			}
			if wait, ok := limits.allow(host); !ok {
				limits.leave(host)
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
		opts.handshakeOver = func(counts bool) {
			if !admitted {
				return
			}
			admitted = false
			if counts {
				limits.failed(host)
			}
			limits.leave(host)
		}
	}
	if opts.Connected != nil {
		opts.Connected(peer)
	}
	s, err := Receive(ctx, conn, sink, opts.Options)
	if one != nil && one.end() {
		// Reported before the slot goes to the connection that displaced
		// it, so the reports come in order.
		err = fmt.Errorf("the connection from %s %w", peer, ErrDisplaced)
		if opts.Finished != nil {
			opts.Finished(peer, s, err)
		}
		over(false)
		return false, err
	}
	var refused *refusedError
	if errors.As(err, &refused) {
		over(false)
		return false, nil
	}
	// A connection that said nothing, a peer that does not speak ferry (a
	// netcat, a probe) and a sender in the other mode tried no code and were
	// no transfer: Serve without KeepOpen waits for one.
	served := !NoTransfer(err)
	over(served)
	if opts.Finished != nil {
		opts.Finished(peer, s, err)
	}
	return served, err
}

// NoTransfer says whether a connection that ended with err was no
// transfer, which a Serve without KeepOpen goes on waiting after: one
// closed without a byte (ErrSilentPeer) or held open without one for the
// whole timeout, one from a peer that does not speak ferry
// (framing.ErrNotFerry), one from a sender in the other mode
// (ErrOtherMode), one from a sender that aborted or failed before its
// code was tried (interrupted while it waited for its turn, say), and one
// displaced by a sender (ErrDisplaced). None of them tried a code.
func NoTransfer(err error) bool {
	return errors.Is(err, ErrSilentPeer) || errors.Is(err, errQuietPeer) || errors.Is(err, framing.ErrNotFerry) || errors.Is(err, ErrOtherMode) || errors.Is(err, errGoneBeforeCode) || errors.Is(err, ErrDisplaced)
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
