package transfer

import (
	"context"
	"net"
	"sync"
	"time"

	"ferry/framing"
)

// Guessing limits of a receiver in the encrypted mode. CPace leaves a
// thief nothing to test offline, so each guess of the code costs a
// connection; these limits make the guesses too few to matter: with a
// 15-digit code and 20 guesses a minute, a guess comes good once in tens
// of millions of years.
const (
	limitWindow     = time.Minute
	maxFailsPerAddr = 3  // failed handshakes from one address per window
	maxFailsTotal   = 20 // failed handshakes from anywhere per window
	// A sender learns from the receiver's key confirmation whether its
	// guess was right, before its connection ends and the failure can be
	// counted. So handshakes under way are limited too: one per source
	// address and maxHandshakes in all, the others waiting their turn, and
	// each must end within the timeout (see handshakeTime). Otherwise a
	// guesser that held its connections open, or opened many at once,
	// would test guesses no count had seen.
	maxHandshakes = 8
)

// MaxGuessesPerMinute is the most wrong codes a receiver lets senders try
// in a minute, from every address together: the failures it counts, and
// the handshakes already under way when the last of them is counted.
const MaxGuessesPerMinute = maxFailsTotal + maxHandshakes - 1

// authLimiter counts failed handshakes per source address and in total,
// over a sliding window, and admits handshakes one address at a time.
type authLimiter struct {
	mu     sync.Mutex
	now    func() time.Time
	byAddr map[string][]time.Time
	all    []time.Time

	busy map[string]bool // addresses with a handshake under way
	turn chan struct{}   // closed, and replaced, when a handshake ends
}

func newAuthLimiter() *authLimiter {
	return &authLimiter{now: time.Now, byAddr: make(map[string][]time.Time), busy: make(map[string]bool), turn: make(chan struct{})}
}

// enter waits until a handshake from addr may begin (see maxHandshakes),
// or until ctx ends. A successful enter must be followed by leave.
func (l *authLimiter) enter(ctx context.Context, addr string) error {
	for {
		l.mu.Lock()
		if !l.busy[addr] && len(l.busy) < maxHandshakes {
			l.busy[addr] = true
			l.mu.Unlock()
			return nil
		}
		turn := l.turn
		l.mu.Unlock()
		select {
		case <-turn:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// leave ends addr's handshake and lets those waiting try again.
func (l *authLimiter) leave(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.busy, addr)
	close(l.turn)
	l.turn = make(chan struct{})
}

// allow reports whether a sender at addr may try a handshake now, and if
// not, how long until it may.
func (l *authLimiter) allow(addr string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.all = recent(l.all, now)
	fails := recent(l.byAddr[addr], now)
	if len(fails) == 0 {
		delete(l.byAddr, addr)
	} else {
		l.byAddr[addr] = fails
	}
	switch {
	case len(fails) >= maxFailsPerAddr:
		return fails[0].Add(limitWindow).Sub(now), false
	case len(l.all) >= maxFailsTotal:
		return l.all[0].Add(limitWindow).Sub(now), false
	}
	return 0, true
}

// failed records a failed handshake from addr.
func (l *authLimiter) failed(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.byAddr[addr] = append(recent(l.byAddr[addr], now), now)
	l.all = append(recent(l.all, now), now)
	// Only about maxFailsTotal failures fit in a window, so more addresses
	// than that means some are stale. An address that fails once and never
	// comes back would otherwise stay for as long as a -k receiver runs.
	if len(l.byAddr) > maxFailsTotal {
		for a, ts := range l.byAddr {
			if len(recent(ts, now)) == 0 {
				delete(l.byAddr, a)
			}
		}
	}
}

// recent drops the times that fell out of the window.
func recent(ts []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= limitWindow {
		i++
	}
	return ts[i:]
}

// hostOf is the address a connection's failures are counted under: the IP
// without the port, which changes with every attempt.
func hostOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	return a.String()
}

// refuse turns a sender away before the hello with an error frame saying
// why, and closes the connection.
func refuse(conn net.Conn, wait time.Duration) {
	defer conn.Close()
	tell(conn, framing.CodeAuth, (&refusedError{wait: wait}).Error())
}

// tell writes an error frame on conn, outside any link, within lingerTime.
func tell(conn net.Conn, code uint16, msg string) {
	_ = conn.SetDeadline(time.Now().Add(lingerTime))
	_ = framing.NewWriter(conn).WriteFrame(framing.TypeError, framing.AppendError(nil, framing.ErrorMsg{Code: code, Message: msg}))
}
