package main

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/transfer"
)

// turnAwayWindow is how long after a connection turned away (busy, not
// ferry, silent, a wrong code) further ones are only counted, then
// reported in one line: a flood of them must not flood the log.
const turnAwayWindow = time.Minute

// Why connections were turned away, in the order a summary lists them.
var turnAwayReasons = []string{"busy", "too many wrong codes", "wrong code", "other mode", "stopped before the code", "not ferry", "silent"}

// turnAways reports connections turned away: the first in full, the ones
// within turnAwayWindow after it as a count per reason, once the window is
// over, and so on while they keep coming.
type turnAways struct {
	out    *output
	window time.Duration

	mu     sync.Mutex
	timer  *time.Timer // the window open, if any
	counts map[string]int
}

func newTurnAways(out *output) *turnAways {
	return &turnAways{out: out, window: turnAwayWindow, counts: make(map[string]int)}
}

// report reports a connection turned away for reason by calling full, or,
// within a window, counts it.
func (t *turnAways) report(reason string, full func()) {
	t.mu.Lock()
	if t.timer != nil {
		t.counts[reason]++
		t.mu.Unlock()
		return
	}
	t.timer = time.AfterFunc(t.window, t.flush)
	t.mu.Unlock()
	full()
}

// flush reports what the window counted, and keeps a window open if it
// counted any.
func (t *turnAways) flush() {
	t.mu.Lock()
	n, parts := t.take()
	t.timer = nil
	if n > 0 {
		t.timer = time.AfterFunc(t.window, t.flush)
	}
	t.mu.Unlock()
	t.print(n, parts)
}

// stop reports what the window open has counted so far, at the end of a
// run.
func (t *turnAways) stop() {
	t.mu.Lock()
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	n, parts := t.take()
	t.mu.Unlock()
	t.print(n, parts)
}

// take empties the counts, returning their total and one "N reason" per
// reason counted.
func (t *turnAways) take() (int, []string) {
	n := 0
	var parts []string
	for _, r := range turnAwayReasons {
		if c := t.counts[r]; c > 0 {
			n += c
			parts = append(parts, fmt.Sprintf("%d %s", c, r))
		}
	}
	clear(t.counts)
	return n, parts
}

func (t *turnAways) print(n int, parts []string) {
	if n == 0 {
		return
	}
	if t.out.json {
		t.out.event("turned_away", map[string]any{"connections": n, "reasons": strings.Join(parts, ", "), "seconds": t.window.Seconds()})
		return
	}
	window := "minute"
	if t.window != time.Minute {
		window = t.window.String()
	}
	t.out.warn("%s turned away in the last %s (%s)", plural(n, "more connection", "more connections"), window, strings.Join(parts, ", "))
}

// turnAwayReason says why a connection that ended with err was turned
// away, or "" if it was a sender's transfer that failed.
func turnAwayReason(err error, keep bool) string {
	switch {
	case errors.Is(err, transfer.ErrAuth) && keep:
		return "wrong code"
	case errors.Is(err, transfer.ErrSilentPeer), errors.Is(err, transfer.ErrDisplaced),
		transfer.NoTransfer(err) && errors.Is(err, transfer.ErrTimeout):
		return "silent"
	case errors.Is(err, transfer.ErrOtherMode):
		return "other mode"
	case transfer.NoTransfer(err) && reportedByPeer(err):
		return "stopped before the code"
	case errors.Is(err, framing.ErrNotFerry), transfer.NoTransfer(err):
		return "not ferry"
	}
	return ""
}

// reportedByPeer says whether err is a failure the peer reported.
func reportedByPeer(err error) bool {
	var e *transfer.Error
	return errors.As(err, &e) && e.Remote
}
