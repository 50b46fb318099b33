package transfer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
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
}

// Serve accepts senders on ln and receives from each into sink. Without
// KeepOpen it returns the first transfer's error. In the encrypted mode a
// source address with 3 failed handshakes in a minute, or any address
// once there were 20, is turned away until the minute has passed. With KeepOpen it returns
// when ctx ends, after aborting every transfer still running and waiting for
// each to be cleaned up. Serve closes ln.
func Serve(ctx context.Context, ln net.Listener, sink Sink, opts ServeOptions) error {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	defer ln.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	limits := newAuthLimiter()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("accepting connections: %w", err)
		}
		if opts.Code != "" {
			if wait, ok := limits.allow(hostOf(conn.RemoteAddr())); !ok {
				if opts.Refused != nil {
					opts.Refused(conn.RemoteAddr(), wait)
				}
				wg.Go(func() { refuse(conn, wait) })
				continue
			}
		}
		if !opts.KeepOpen {
			return serveConn(ctx, conn, sink, opts, limits)
		}
		wg.Go(func() { _ = serveConn(ctx, conn, sink, opts, limits) })
	}
}

func serveConn(ctx context.Context, conn net.Conn, sink Sink, opts ServeOptions, limits *authLimiter) error {
	peer := conn.RemoteAddr()
	if opts.Connected != nil {
		opts.Connected(peer)
	}
	s, guessed, err := receive(ctx, conn, sink, opts.Options)
	if guessed || errors.Is(err, ErrAuth) {
		limits.failed(hostOf(peer))
	}
	if opts.Finished != nil {
		opts.Finished(peer, s, err)
	}
	return err
}
