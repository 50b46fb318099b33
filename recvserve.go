package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/ferrytool/ferry/transfer"
)

// recvRetries is how many failed transfers a one-shot ferry recv waits
// through, keeping its code, for the sender to try again: a sender that
// was interrupted or killed, or lost its connection, is rerun with the
// same code, and a resumed transfer needs no new one. A wrong code still
// ends it.
const recvRetries = 5

// serve is ferry recv once it listens on ln: it serves one sender, or
// with keep every sender until ctx ends, into target, and reports each
// connection, the turned-away ones summarised. generated says the code
// was made up for this run, and is spent by a wrong one.
func serve(ctx context.Context, out *output, c *common, ln net.Listener, target transfer.Destination, keep, generated bool) error {
	var bar *progress
	away := newTurnAways(out)
	defer away.stop()
	var reportEnd func(peer net.Addr, s transfer.Summary, err error)
	var tallies tallies
	rcv := transfer.Receiver{
		Timeout: c.timeout,
		Code:    c.code,
		Secured: out.secured,
	}
	opts := transfer.ServeOptions{
		KeepOpen: keep,
		Retries:  recvRetries,
		Retrying: func(peer net.Addr, err error, left int) {
			bar.finish()
			out.retrying(peer, err, left+1)
		},
		Connected: func(peer net.Addr) {
			out.connected("connection from", peer)
		},
		Refused: func(peer net.Addr, wait time.Duration) {
			away.report("too many wrong codes", func() {
				out.warn("turned %s away: too many failed attempts with a wrong code (for %s)", peer, wait.Round(time.Second))
			})
		},
		Busy: func(peer net.Addr) {
			away.report("busy", func() {
				if keep {
					out.warn("turned %s away: busy (at most %d connections at once, %d from one address)", peer, transfer.MaxConns, transfer.MaxConnsPerAddress)
				} else {
					out.warn("turned %s away: busy with another connection (ferry recv -k takes several)", peer)
				}
			})
		},
		Finished: func(peer net.Addr, s transfer.Summary, err error) {
			bar.finish()
			if why := turnAwayReason(err, keep); why != "" {
				away.report(why, func() { reportEnd(peer, s, err) })
				return
			}
			reportEnd(peer, s, err)
		},
	}
	reportEnd = func(peer net.Addr, s transfer.Summary, err error) {
		one := tallies.take(peer).only()
		if errors.Is(err, transfer.ErrRefused) {
			// The other files arrived: the summary says what moved.
			out.summaryFrom(peerIf(keep, peer), "received", s, one)
		}
		switch {
		case err == nil:
			out.summaryFrom(peerIf(keep, peer), "received", s, one)
		case errors.Is(err, transfer.ErrSilentPeer):
			out.silent(peer, !keep)
		case errors.Is(err, transfer.ErrDisplaced):
			out.warn("%s", out.userMessage(err))
		case transfer.NoTransfer(err) && !keep:
			out.warn("%s; still waiting for a sender", out.userMessage(err))
		case keep && ctx.Err() != nil:
			out.failFrom(peer, fmt.Errorf("transfer from %s interrupted", peer))
		case keep:
			out.failFrom(peer, fmt.Errorf("transfer from %s failed: %w", peer, err))
		}
	}
	// Each connection's files are counted on their own: a -k receiver's
	// senders report at once, and a one-shot receiver may serve a retry.
	opts.ForPeer = func(peer net.Addr, r transfer.Receiver) transfer.Receiver {
		r.FilesDone = func(rs []transfer.FileResult) {
			tallies.add(peer, rs)
			bar.done(rs)
			out.filesDone("received", rs)
		}
		return r
	}
	if keep {
		// A flood of connections that are no sender's must not flood the
		// log: a connection is reported once its hello came.
		// Each sender gets one line when it comes and one when it ends:
		// in the encrypted mode it comes once its code is accepted.
		opts.Connected = nil
		opts.Greeted = func(peer net.Addr) {
			if out.json || c.plain {
				out.connected("connection from", peer)
			}
		}
		// Concurrent senders report at once: each report names its own.
		opts.ForPeer = func(peer net.Addr, r transfer.Receiver) transfer.Receiver {
			r.Secured = func(cipher string) { out.arrived(peer, cipher) }
			r.FilesDone = func(rs []transfer.FileResult) {
				tallies.add(peer, rs)
				out.filesDoneFrom(peer, "received", rs)
			}
			return r
		}
	} else {
		// With -k, concurrent transfers would fight over one bar.
		bar = out.newProgress(0)
		rcv.Progress = bar.update
	}
	err := rcv.Serve(ctx, ln, target, opts)
	if keep && ctx.Err() != nil {
		return ctx.Err()
	}
	var e *transfer.Error
	if errors.Is(err, transfer.ErrAuth) && errors.As(err, &e) && e.Peer != nil {
		// The sender was told; this side's user needs to start again.
		if generated {
			return fmt.Errorf("the sender at %s gave a wrong code, which spends this one: run ferry recv again for a new code (with -k it keeps waiting)", e.Peer)
		}
		return fmt.Errorf("the sender at %s gave a wrong code: run ferry recv again to wait for another sender (with -k it keeps waiting)", e.Peer)
	}
	return err
}

// peerIf is peer with -k, which names each sender in its reports, and nil
// without.
func peerIf(keep bool, peer net.Addr) net.Addr {
	if keep {
		return peer
	}
	return nil
}

// tallies holds the tally of each connection that has finished files,
// until its end is reported.
type tallies struct {
	mu sync.Mutex
	m  map[string]*tally
}

func (ts *tallies) add(peer net.Addr, rs []transfer.FileResult) {
	ts.mu.Lock()
	t := ts.m[peer.String()]
	if t == nil {
		if ts.m == nil {
			ts.m = map[string]*tally{}
		}
		t = &tally{}
		ts.m[peer.String()] = t
	}
	ts.mu.Unlock()
	t.add(rs)
}

// take removes and returns peer's tally: an empty one if it finished no
// file.
func (ts *tallies) take(peer net.Addr) *tally {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t := ts.m[peer.String()]
	delete(ts.m, peer.String())
	if t == nil {
		return &tally{}
	}
	return t
}
