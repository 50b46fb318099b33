//go:build unix

package main

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// slowLink is a TCP proxy between a sender and a receiver that forwards at
// a limited rate, as a slow link does, so that a transfer is still under
// way when the test ends it, and that can be cut (it forwards nothing
// more and closes nothing, as a pulled cable) or reset.
type slowLink struct {
	ln     net.Listener
	target string
	rate   int // bytes per second, each way

	forwarded atomic.Int64  // bytes forwarded to the receiver
	midway    int64         // midway is closed once forwarded reaches it
	reached   chan struct{} // closed once forwarded reaches midway
	once      sync.Once

	cut    chan struct{} // closed by Cut
	cutter sync.Once
	done   chan struct{} // closed when the test ends

	mu    sync.Mutex
	conns []*net.TCPConn
}

// newSlowLink proxies to target at rate bytes a second each way.
func newSlowLink(t *testing.T, target string, rate int, midway int64) *slowLink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &slowLink{ln: ln, target: target, rate: rate, midway: midway, reached: make(chan struct{}), cut: make(chan struct{}), done: make(chan struct{})}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(l.done)
		_ = ln.Close()
		l.mu.Lock()
		for _, c := range l.conns {
			_ = c.Close()
		}
		l.mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			down, upTCP := c.(*net.TCPConn), up.(*net.TCPConn)
			l.mu.Lock()
			l.conns = append(l.conns, down, upTCP)
			l.mu.Unlock()
			wg.Go(func() { l.pump(upTCP, down, true) })
			wg.Go(func() { l.pump(down, upTCP, false) })
		}
	})
	return l
}

func (l *slowLink) addr() string { return l.ln.Addr().String() }

// pump forwards from src to dst at the link's rate; toReceiver says that
// is the sender's way. It passes on an end of stream as one, and a reset
// as a reset.
func (l *slowLink) pump(dst, src *net.TCPConn, toReceiver bool) {
	const chunk = 8 << 10
	buf := make([]byte, chunk)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			select {
			case <-l.cut:
				<-l.done // holds the bytes, and the connections, as they are
				return
			default:
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			if toReceiver && l.forwarded.Add(int64(n)) >= l.midway {
				l.once.Do(func() { close(l.reached) })
			}
			// The rate: a pause per chunk, not a wait for an event.
			time.Sleep(time.Duration(n) * time.Second / time.Duration(l.rate))
		}
		switch {
		case errors.Is(err, syscall.ECONNRESET):
			_ = dst.SetLinger(0)
			_ = dst.Close()
			return
		case errors.Is(err, io.EOF):
			_ = dst.CloseWrite()
			return
		case err != nil:
			return
		}
	}
}

// awaitMidway waits until the receiver was forwarded midway bytes.
func (l *slowLink) awaitMidway(t *testing.T) {
	t.Helper()
	select {
	case <-l.reached:
	case <-time.After(guard):
		t.Fatalf("the slow link forwarded %d bytes within %v, want %d", l.forwarded.Load(), guard, l.midway)
	}
}

// Cut stops the link: nothing more goes either way, and neither side is
// told.
func (l *slowLink) Cut() { l.cutter.Do(func() { close(l.cut) }) }

// Reset resets the connections on both sides, as a middlebox that drops
// the connection's state does.
func (l *slowLink) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.SetLinger(0)
		_ = c.Close()
	}
}

// rawTexts are Go's socket errors as they read, which must never reach a
// user.
var rawTexts = []string{"read tcp", "write tcp", "writev", "connection reset by peer", "broken pipe", "use of closed network connection", "i/o timeout"}

// checkClean fails t if p printed any of Go's raw socket errors.
func checkClean(t *testing.T, p *proc) {
	t.Helper()
	for _, raw := range rawTexts {
		if strings.Contains(p.stderr(), raw) {
			t.Errorf("ferry %s printed Go's socket error text %q; stderr:\n%s", p.name, raw, p.stderr())
		}
	}
}

// TestPeerEndings sends a file over a slow link and ends the transfer
// midway in each way a peer can disappear: the sender or the receiver
// interrupted (SIGINT, SIGTERM) or killed (SIGKILL), the link cut or
// reset. The other side says so in one clear line, with how far the
// transfer came where the peer could not say why: a one-shot receiver in
// the line that says it waits for the sender's retry, which then completes
// with the same code; a sender in its error, with the advice to run the
// send again. No side prints Go's socket errors.
func TestPeerEndings(t *testing.T) {
	const size = 8 << 20 // "8.4 MB", at 2 MB/s a few seconds
	data := randomBytes(size)
	lost := func(dir string) []string {
		return []string{"the connection " + dir + " ", " was lost after ", " of 8.4 MB"}
	}
	resume := "; run the same send again to resume"
	for _, tc := range []struct {
		name     string
		timeout  string                             // both sides' --timeout, if not the default
		end      func(snd, recv *proc, l *slowLink) // ends the transfer midway
		sender   []string                           // the sender's error, if it is the one told
		receiver []string                           // the receiver's report, if it is the one told
	}{
		{name: "sender interrupted", end: func(snd, _ *proc, _ *slowLink) { snd.interrupt() },
			receiver: []string{"the sender stopped (interrupted)"}},
		{name: "sender terminated", end: func(snd, _ *proc, _ *slowLink) { snd.signal(syscall.SIGTERM) },
			receiver: []string{"the sender stopped (interrupted)"}},
		{name: "sender killed", end: func(snd, _ *proc, _ *slowLink) { snd.signal(syscall.SIGKILL) },
			receiver: lost("from")},
		{name: "receiver interrupted", end: func(_, recv *proc, _ *slowLink) { recv.interrupt() },
			sender: []string{"the receiver stopped (interrupted)", resume}},
		{name: "receiver killed", end: func(_, recv *proc, _ *slowLink) { recv.signal(syscall.SIGKILL) },
			sender: append(lost("to"), resume)},
		{name: "link reset", end: func(_, _ *proc, l *slowLink) { l.Reset() },
			sender: append(lost("to"), resume), receiver: lost("from")},
		{name: "link cut", timeout: "2s", end: func(_, _ *proc, l *slowLink) { l.Cut() },
			sender: append(lost("to"), "nothing from", resume), receiver: append(lost("from"), "nothing from")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, dst := t.TempDir(), t.TempDir()
			writeFile(t, src, "big.bin", data, 0o644, time.Now())
			var timeout []string
			if tc.timeout != "" {
				timeout = []string{"--timeout", tc.timeout}
			}
			recv, addr := startRecv(t, dst, nil, append(timeout, "-l", "127.0.0.1:0", dst)...)
			link := newSlowLink(t, addr, 2<<20, 1<<20)
			snd := start(t, src, nil, nil, append(append([]string{"send"}, timeout...), "-z", "none", link.addr(), "big.bin")...)
			link.awaitMidway(t)
			tc.end(snd, recv, link)

			if tc.sender != nil {
				snd.expect(1)
				checkOneError(t, snd, tc.sender...)
			} else {
				snd.wait()
			}
			if tc.receiver != nil {
				line := recv.waitLine("its report of the failed transfer", func(l string) bool {
					return strings.Contains(l, "still waiting for the sender to try again")
				})
				mustContain(t, "ferry recv report", line, tc.receiver...)
				if !strings.HasPrefix(line, "ferry: warning: the transfer from ") || strings.Count(recv.stderr(), "still waiting") != 1 {
					t.Errorf("ferry recv stderr = %q, want its one report of the failure, a line \"ferry: warning: the transfer from ... failed: ...\"", recv.stderr())
				}
			}
			if tc.receiver != nil {
				// The receiver kept its code: the same send, straight to
				// it, completes.
				send(t, src, nil, "-z", "none", addr, "big.bin").expect(0)
				recv.expect(0)
				checkReceived(t, dst, map[string][]byte{"big.bin": data})
			} else {
				recv.wait()
			}
			checkClean(t, snd)
			checkClean(t, recv)
		})
	}
}
