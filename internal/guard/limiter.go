// Package guard keeps a receiver serving its real senders under attack:
// the limits on guessing the code (Limiter) and the table of connections
// with each address's share of it (Table). Addresses are counted by
// Prefix: an IPv4 address, or an IPv6 /64.
package guard

import (
	"context"
	"math"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/ferrytool/ferry/internal/secure"
)

// Guessing limits of a receiver in the encrypted mode. CPace leaves a
// thief nothing to test offline, so each guess of the code costs a
// connection and a handshake. Two limits bound the guesses, and neither
// may let a storm of wrong guesses shut out the sender who has the code:
//
//   - Per prefix (an IPv4 address, or an IPv6 /64, which one host holds
//     whole): maxFailsPerPrefix failures in a window turn the prefix away
//     for the window, and each time it comes back and does it again, for
//     twice as long as the time before, up to maxBackoff.
//   - From everywhere: a budget of failures a minute sized from the code's
//     strength (see guessBudget), so large for a strong code that only
//     thousands of prefixes guessing at once could spend it, while the
//     chance of a hit stays below guessOdds over guessYears.
const (
	limitWindow       = time.Minute
	maxFailsPerPrefix = 3 // failed handshakes from one prefix per window
	// maxBackoff caps how long a prefix is turned away; forgetAfter is how
	// long a prefix must stay quiet before its backoff starts over.
	maxBackoff  = time.Hour
	forgetAfter = 24 * time.Hour
	// maxPrefixes caps the prefixes remembered (some 100 bytes each): a
	// guesser with more prefixes than this loses the oldest back-offs, and
	// the budget from everywhere still bounds it.
	maxPrefixes = 4096
	// The global budget keeps the odds that guessing at its full rate, for
	// guessYears without a pause, ever hits the code below 1 in guessOdds,
	// and is never smaller than minBudget, the receiver's limit before the
	// budget was sized from the code.
	guessYears = 100
	guessOdds  = 1000
	minBudget  = 20
	// maxBudget is a budget no storm reaches, for a long passphrase whose
	// budget would not fit in an int.
	maxBudget = 1 << 30
	// A sender learns from the receiver's key confirmation whether its
	// guess was right, before its connection ends and the failure can be
	// counted. So handshakes under way are limited too: one per prefix
	// and MaxHandshakes in all, the others waiting their turn, and each
	// must end within the timeout (see handshakeTime). Otherwise a guesser
	// that held its connections open, or opened many at once, would test
	// guesses no count had seen.
	MaxHandshakes = 8
)

// guessBudget is how many failed handshakes a minute a receiver with code
// takes from everywhere together: for the 15 digits ferry recv makes up,
// 19,012.
func guessBudget(code string) int {
	minutes := guessYears * 365.25 * 24 * 60
	return int(min(maxBudget, max(minBudget, math.Floor(secure.CodeSpace(code)/guessOdds/minutes))))
}

// GuessesPerMinute is the most wrong codes a receiver with code lets
// senders try in a minute, from every address together: the budget of
// failures, and the handshakes already under way when the last of it is
// spent.
func GuessesPerMinute(code string) int {
	return guessBudget(code) + MaxHandshakes - 1
}

// Limiter counts failed handshakes per prefix, backs a prefix off when
// it fails too often, keeps the budget of failures from everywhere, and
// admits handshakes one prefix at a time.
type Limiter struct {
	mu  sync.Mutex
	now func() time.Time

	budget   float64 // failures a minute from everywhere
	tokens   float64 // of the budget, left now
	refilled time.Time
	prefixes map[string]*prefixRecord

	busy map[string]bool // prefixes with a handshake under way
	turn chan struct{}   // closed, and replaced, when a handshake ends
}

// prefixRecord is what the limiter remembers of one prefix.
type prefixRecord struct {
	fails   []time.Time // in the window
	strikes int         // times the prefix was turned away, for its back-off
	until   time.Time   // turned away until then
	last    time.Time   // its last failure
}

// New returns a Limiter for a receiver with code, whose strength sizes the
// budget of failures from everywhere.
func New(code string) *Limiter {
	b := float64(guessBudget(code))
	return &Limiter{
		now:      time.Now,
		budget:   b,
		tokens:   b,
		prefixes: make(map[string]*prefixRecord),
		busy:     make(map[string]bool),
		turn:     make(chan struct{}),
	}
}

// Enter waits until a handshake from prefix may begin (see MaxHandshakes),
// or until ctx ends. A successful enter must be followed by Leave.
func (l *Limiter) Enter(ctx context.Context, prefix string) error {
	for {
		l.mu.Lock()
		if !l.busy[prefix] && len(l.busy) < MaxHandshakes {
			l.busy[prefix] = true
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

// Leave ends prefix's handshake and lets those waiting try again.
func (l *Limiter) Leave(prefix string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.busy, prefix)
	close(l.turn)
	l.turn = make(chan struct{})
}

// Allow reports whether a sender from prefix may try a handshake now, and
// if not, how long until it may.
func (l *Limiter) Allow(prefix string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.refill(now)
	if r := l.prefixes[prefix]; r != nil && now.Before(r.until) {
		return r.until.Sub(now), false
	}
	if l.tokens < 1 {
		return time.Duration((1 - l.tokens) / l.budget * float64(limitWindow)), false
	}
	return 0, true
}

// Failed records a failed handshake from prefix.
func (l *Limiter) Failed(prefix string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.refill(now)
	l.tokens--
	r := l.prefixes[prefix]
	if r == nil || now.Sub(r.last) >= forgetAfter {
		if len(l.prefixes) >= maxPrefixes {
			l.prune(now)
		}
		r = &prefixRecord{}
		l.prefixes[prefix] = r
	}
	r.last = now
	r.fails = append(recent(r.fails, now), now)
	if len(r.fails) >= maxFailsPerPrefix {
		r.fails = r.fails[:0]
		r.until = now.Add(backoff(r.strikes))
		r.strikes++
	}
}

// backoff is how long a prefix is turned away after it went over its limit
// strikes times before: the window, doubled each time, up to maxBackoff.
func backoff(strikes int) time.Duration {
	if strikes >= 16 {
		return maxBackoff
	}
	return min(limitWindow<<strikes, maxBackoff)
}

// refill adds to the budget what the time since the last refill earned.
func (l *Limiter) refill(now time.Time) {
	if d := now.Sub(l.refilled); d > 0 {
		l.tokens = min(l.budget, l.tokens+l.budget*d.Seconds()/limitWindow.Seconds())
	}
	l.refilled = now
}

// prune makes room for a new prefix: it forgets those never turned away
// whose failures have left the window, and those quiet for forgetAfter;
// if that leaves the table more than seven eighths full, the eighth quiet
// longest too, so that a storm from many prefixes costs one scan per
// maxPrefixes/8 new ones, not one each.
func (l *Limiter) prune(now time.Time) {
	for p, r := range l.prefixes {
		if !now.Before(r.until) && len(recent(r.fails, now)) == 0 && r.strikes == 0 || now.Sub(r.last) >= forgetAfter {
			delete(l.prefixes, p)
		}
	}
	if len(l.prefixes) <= maxPrefixes-maxPrefixes/8 {
		return
	}
	type entry struct {
		prefix string
		last   time.Time
	}
	all := make([]entry, 0, len(l.prefixes))
	for p, r := range l.prefixes {
		all = append(all, entry{p, r.last})
	}
	slices.SortFunc(all, func(a, b entry) int { return a.last.Compare(b.last) })
	for _, e := range all[:len(all)-(maxPrefixes-maxPrefixes/8)] {
		delete(l.prefixes, e.prefix)
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

// Prefix is what a connection's failures and connections are counted
// under: its IPv4 address, or the /64 of its IPv6 address, since one host
// is commonly given a whole /64 and could change its address at every
// attempt. The port, which changes with every connection, is left out.
func Prefix(a net.Addr) string {
	t, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip, ok := netip.AddrFromSlice(t.IP)
	if !ok {
		return a.String()
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
}
