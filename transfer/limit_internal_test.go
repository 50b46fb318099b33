package transfer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// limitStep is one event in an authLimiter scenario, at a time counted
// from the scenario's start: a failed handshake from addr, or, with check,
// a question whether addr may try now.
type limitStep struct {
	at    time.Duration
	addr  string
	check bool
	// For a check: whether it is allowed and, if not, the wait returned.
	allowed bool
	wait    time.Duration
}

func fail(at time.Duration, addr string) limitStep {
	return limitStep{at: at, addr: addr}
}

func allowed(at time.Duration, addr string) limitStep {
	return limitStep{at: at, addr: addr, check: true, allowed: true}
}

func refused(at time.Duration, addr string, wait time.Duration) limitStep {
	return limitStep{at: at, addr: addr, check: true, wait: wait}
}

// TestAuthLimiter runs scenarios against an authLimiter on a fake clock.
func TestAuthLimiter(t *testing.T) {
	const (
		a = "192.0.2.1"
		b = "192.0.2.2"
		c = "2001:db8::1"
	)
	s := time.Second
	// Twenty failures, one a second, each from its own address.
	var twenty []limitStep
	for i := range maxFailsTotal {
		twenty = append(twenty, allowed(time.Duration(i)*s, fmt.Sprintf("198.51.100.%d", i)), fail(time.Duration(i)*s, fmt.Sprintf("198.51.100.%d", i)))
	}
	tests := []struct {
		name  string
		steps []limitStep
	}{
		{name: "a newcomer may try", steps: []limitStep{allowed(0, a)}},
		{name: "two failures are not yet enough", steps: []limitStep{
			fail(0, a), fail(10*s, a), allowed(10*s, a),
		}},
		{name: "three failures turn the address away until the first is a minute old", steps: []limitStep{
			fail(0, a), fail(10*s, a), fail(20*s, a),
			refused(20*s, a, 40*s),
			allowed(20*s, b),
			allowed(20*s, c),
			refused(59*s, a, s),
			refused(60*s-time.Millisecond, a, time.Millisecond),
			// The first failure leaves the window: two remain.
			allowed(60*s, a),
			// A third again: the oldest in the window is now the one at 10s.
			fail(60*s, a),
			refused(60*s, a, 10*s),
			refused(69*s, a, s),
			// 10s and 20s have left the window, 60s remains.
			allowed(80*s, a),
			allowed(10*time.Minute, a),
		}},
		{name: "failures far apart never add up", steps: []limitStep{
			fail(0, a), fail(40*s, a), fail(80*s, a), allowed(80*s, a),
			fail(120*s, a), allowed(120*s, a),
		}},
		{name: "addresses are counted apart", steps: []limitStep{
			fail(0, a), fail(0, a), fail(0, b), fail(0, b), fail(0, c), fail(0, c),
			allowed(0, a), allowed(0, b), allowed(0, c),
			fail(s, b),
			allowed(s, a), refused(s, b, 59*s), allowed(s, c),
		}},
		{name: "twenty failures from anywhere turn everyone away", steps: append(slices.Clone(twenty),
			refused(19*s, a, 41*s),
			refused(19*s, "198.51.100.0", 41*s),
			refused(30*s, b, 30*s),
			// The failure at 0s leaves the window: 19 remain.
			allowed(60*s, a),
			fail(60*s, a),
			refused(60*s, b, s),
			allowed(61*s, b),
			allowed(120*s, b),
		)},
		// Seventeen failures from elsewhere, then three from a: twenty in
		// all. a is turned away by its own count, which ends later.
		{name: "an address over its own limit waits for its own window", steps: append(slices.Clone(twenty[:2*(maxFailsTotal-3)]),
			fail(20*s, a), fail(25*s, a), fail(30*s, a),
			refused(30*s, a, 50*s),
			refused(30*s, b, 30*s),
			// The failure at 0s leaves the window: the total is below
			// its limit, a is not.
			allowed(60*s, b),
			refused(60*s, a, 20*s),
			allowed(80*s, a),
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Unix(1_700_000_000, 0)
			now := start
			l := newAuthLimiter()
			l.now = func() time.Time { return now }
			for i, st := range tt.steps {
				if at := start.Add(st.at); at.Before(now) {
					t.Fatalf("step %d goes back in time", i)
				} else {
					now = at
				}
				if !st.check {
					l.failed(st.addr)
					continue
				}
				wait, ok := l.allow(st.addr)
				switch {
				case ok != st.allowed:
					t.Errorf("step %d: allow(%s) at %v = %v, %v; want allowed %v", i, st.addr, st.at, wait, ok, st.allowed)
				case !ok && wait != st.wait:
					t.Errorf("step %d: allow(%s) at %v refused with wait %v, want %v", i, st.addr, st.at, wait, st.wait)
				case ok && wait != 0:
					t.Errorf("step %d: allow(%s) at %v allowed with wait %v, want 0", i, st.addr, st.at, wait)
				}
			}
		})
	}
}

// TestAuthLimiterForgets checks that an address whose failures have all
// left the window takes no memory once it asks again, and that the total
// is trimmed as well.
func TestAuthLimiterForgets(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newAuthLimiter()
	l.now = func() time.Time { return now }
	for i := range 10 {
		l.failed(fmt.Sprintf("198.51.100.%d", i))
	}
	now = now.Add(limitWindow)
	for i := range 10 {
		if _, ok := l.allow(fmt.Sprintf("198.51.100.%d", i)); !ok {
			t.Fatalf("198.51.100.%d refused a minute after its one failure", i)
		}
	}
	if len(l.byAddr) != 0 || len(l.all) != 0 {
		t.Errorf("after the window the limiter still holds %d addresses and %d failures", len(l.byAddr), len(l.all))
	}
}

// TestAuthLimiterBounded has a new address fail every few seconds for a
// day, none of them coming back: the limiter must keep only the addresses
// that failed within the window.
func TestAuthLimiterBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newAuthLimiter()
	l.now = func() time.Time { return now }
	most := 0
	for i := range 24 * 60 * 20 {
		addr := fmt.Sprintf("2001:db8::%x", i)
		if _, ok := l.allow(addr); !ok {
			t.Fatalf("failure %d: %s refused, though every address fails once and failures are 3s apart", i, addr)
		}
		l.failed(addr)
		most = max(most, len(l.byAddr))
		now = now.Add(3 * time.Second)
	}
	if most > maxFailsTotal+1 {
		t.Errorf("the limiter held up to %d addresses; only the %d failures of one window need keeping", most, maxFailsTotal)
	}
}

// TestHostOf checks that failures are counted per IP, whatever the port.
func TestHostOf(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 40000}, "127.0.0.1"},
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 40001}, "127.0.0.1"},
		// A dual-stack listener sees IPv4 peers as mapped addresses.
		{&net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1"), Port: 40002}, "127.0.0.1"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 7575}, "2001:db8::1"},
		{&net.UnixAddr{Name: "/tmp/sock", Net: "unix"}, "/tmp/sock"},
	}
	for _, tt := range tests {
		if got := hostOf(tt.addr); got != tt.want {
			t.Errorf("hostOf(%v) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

// TestAuthLimiterTurns checks who may begin a handshake while others are
// under way: one per address, maxHandshakes in all. An enter with a
// cancelled context returns at once with its error where it would wait.
// (Waiters woken when a handshake ends: TestGuessingLimits, guesses at
// once.)
func TestAuthLimiterTurns(t *testing.T) {
	l := newAuthLimiter()
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	mayEnter := func(addr string, want bool) {
		t.Helper()
		err := l.enter(cancelled, addr)
		if got := err == nil; got != want {
			t.Fatalf("enter(%s) = %v; want it to succeed: %v", addr, err, want)
		}
	}
	mayEnter("192.0.2.1", true)
	mayEnter("192.0.2.1", false)
	for i := 2; i <= maxHandshakes; i++ {
		mayEnter(fmt.Sprintf("192.0.2.%d", i), true)
	}
	mayEnter("198.51.100.1", false)
	l.leave("192.0.2.1")
	mayEnter("198.51.100.1", true)
	mayEnter("192.0.2.1", false)
	l.leave("192.0.2.2")
	mayEnter("192.0.2.1", true)
}

// TestAdmitWaitRunsOut checks that a sender whose wait for a turn outlasts
// the receiver's timeout is told why, in an error frame, rather than
// seeing the connection end.
func TestAdmitWaitRunsOut(t *testing.T) {
	const code = "48210-93755-62184"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	limits := newAuthLimiter()
	// A handshake from the address under way throughout.
	if err := limits.enter(t.Context(), "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	defer limits.leave("127.0.0.1")
	sink, err := NewDirSink(t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	served := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		_, err = serveConn(t.Context(), conn, sink, ServeOptions{Options: Options{Code: code, Timeout: time.Second}, KeepOpen: true}, limits, nil, func(bool) {})
		served <- err
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Send(t.Context(), conn, []Source{StreamSource("x", strings.NewReader("x"))}, Options{Code: code, Timeout: 10 * time.Second})
	var pe *PeerError
	if !errors.As(err, &pe) || !strings.Contains(pe.Message, "kept") || !strings.Contains(pe.Message, "try again") {
		t.Errorf("Send = %v, want the receiver's word that it was kept waiting", err)
	}
	select {
	case err := <-served:
		if err == nil || !strings.Contains(err.Error(), "waiting for 2s") {
			t.Errorf("serveConn = %v, want the wait that ran out", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serveConn did not return")
	}
}
