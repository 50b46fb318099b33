package guard

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"
)

// limitStep is one event in a Limiter scenario, at a time counted
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

// TestLimiter runs scenarios against a Limiter on a fake clock,
// with the code ferry recv makes up unless a scenario names a weak one.
func TestLimiter(t *testing.T) {
	const (
		a = "192.0.2.1"
		b = "192.0.2.2"
		c = "2001:db8::/64"
	)
	s, m := time.Second, time.Minute
	// Three failures from each of 1,000 prefixes in the same second.
	var storm []limitStep
	for i := range 1000 {
		p := fmt.Sprintf("198.51.%d.%d", i/250, i%250)
		storm = append(storm, fail(0, p), fail(0, p), fail(0, p))
	}
	// Twenty failures in the same second, each from its own prefix.
	var twenty []limitStep
	for i := range 20 {
		twenty = append(twenty, fail(0, fmt.Sprintf("198.51.100.%d", i)))
	}
	tests := []struct {
		name  string
		code  string
		steps []limitStep
	}{
		{name: "a newcomer may try", steps: []limitStep{allowed(0, a)}},
		{name: "two failures are not yet enough", steps: []limitStep{
			fail(0, a), fail(10*s, a), allowed(10*s, a),
		}},
		{name: "three failures turn the prefix away for a minute", steps: []limitStep{
			fail(0, a), fail(10*s, a), fail(20*s, a),
			refused(20*s, a, m),
			allowed(20*s, b),
			allowed(20*s, c),
			refused(79*s, a, s),
			allowed(80*s, a),
			// The failures before the lock-out count no more.
			fail(80*s, a), fail(90*s, a), allowed(90*s, a),
		}},
		{name: "each lock-out is twice the one before, up to an hour", steps: []limitStep{
			fail(0, a), fail(0, a), fail(0, a), refused(0, a, m),
			fail(m, a), fail(m, a), fail(m, a), refused(m, a, 2*m),
			fail(3*m, a), fail(3*m, a), fail(3*m, a), refused(3*m, a, 4*m),
			fail(7*m, a), fail(7*m, a), fail(7*m, a), refused(7*m, a, 8*m),
			fail(15*m, a), fail(15*m, a), fail(15*m, a), refused(15*m, a, 16*m),
			fail(31*m, a), fail(31*m, a), fail(31*m, a), refused(31*m, a, 32*m),
			fail(63*m, a), fail(63*m, a), fail(63*m, a), refused(63*m, a, time.Hour),
			fail(123*m, a), fail(123*m, a), fail(123*m, a), refused(123*m, a, time.Hour),
			allowed(123*m, b),
		}},
		{name: "a prefix quiet for a day starts over", steps: []limitStep{
			fail(0, a), fail(0, a), fail(0, a),
			fail(m, a), fail(m, a), fail(m, a), refused(m, a, 2*m),
			allowed(3*m, a),
			fail(3*m+24*time.Hour, a), fail(3*m+24*time.Hour, a), fail(3*m+24*time.Hour, a),
			refused(3*m+24*time.Hour, a, m),
		}},
		{name: "failures far apart never add up", steps: []limitStep{
			fail(0, a), fail(40*s, a), fail(80*s, a), allowed(80*s, a),
			fail(120*s, a), allowed(120*s, a),
		}},
		{name: "prefixes are counted apart", steps: []limitStep{
			fail(0, a), fail(0, a), fail(0, b), fail(0, b), fail(0, c), fail(0, c),
			allowed(0, a), allowed(0, b), allowed(0, c),
			fail(s, b),
			allowed(s, a), refused(s, b, m), allowed(s, c),
		}},
		{name: "a storm from many prefixes leaves the code's sender in", steps: append(slices.Clone(storm),
			refused(0, "198.51.0.0", m),
			allowed(0, a),
		)},
		{name: "a weak code's budget turns everyone away once spent", code: "482109", steps: append(slices.Clone(twenty),
			refused(0, a, 3*s),
			// A twentieth of the minute earns one failure back.
			allowed(3*s, a),
			fail(3*s, a),
			refused(3*s, b, 3*s),
			allowed(6*s, b),
			allowed(m, b),
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Unix(1_700_000_000, 0)
			now := start
			l := New(cmp.Or(tt.code, "48210-93755-62184"))
			l.now = func() time.Time { return now }
			for i, st := range tt.steps {
				if at := start.Add(st.at); at.Before(now) {
					t.Fatalf("step %d goes back in time", i)
				} else {
					now = at
				}
				if !st.check {
					l.Failed(st.addr)
					continue
				}
				wait, ok := l.Allow(st.addr)
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

// TestGuessBudget checks the budget from everywhere for codes of several
// strengths, and that at the budget's full rate guessing the code takes
// the documented time.
func TestGuessBudget(t *testing.T) {
	tests := []struct {
		code string
		want int
	}{
		{"48210-93755-62184", 19012}, // as ferry recv makes them up
		{"4821093755", minBudget},    // 10 digits: the floor
		{"482109", minBudget},
		{"abcdefghjkmn", 31711337}, // 12 letters and digits: 33^12
		{"correct horse battery staple", maxBudget},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			want := tt.want
			if got := guessBudget(tt.code); got != want {
				t.Errorf("guessBudget(%q) = %d, want %d", tt.code, got, want)
			}
			if got := GuessesPerMinute(tt.code); got != want+MaxHandshakes-1 {
				t.Errorf("GuessesPerMinute(%q) = %d, want %d", tt.code, got, want+MaxHandshakes-1)
			}
		})
	}
}

// TestLimiterBounded has three new prefixes fail every second for a
// day, none of them coming back: the limiter must keep at most
// maxPrefixes of them.
func TestLimiterBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := New("48210-93755-62184")
	l.now = func() time.Time { return now }
	most := 0
	for i := range 24 * 60 * 60 * 3 {
		addr := fmt.Sprintf("2001:db8:%x::/64", i)
		if _, ok := l.Allow(addr); !ok {
			t.Fatalf("failure %d: %s refused, though every prefix fails once", i, addr)
		}
		l.Failed(addr)
		most = max(most, len(l.prefixes))
		if i%3 == 2 {
			now = now.Add(time.Second)
		}
	}
	if most > maxPrefixes {
		t.Errorf("the limiter held up to %d prefixes, want at most %d", most, maxPrefixes)
	}
}

// TestPrefix checks that failures and connections are counted per IPv4
// address and per IPv6 /64, whatever the port.
func TestPrefix(t *testing.T) {
	tests := []struct {
		name string
		addr net.Addr
		want string
	}{
		{"IPv4", &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 40000}, "127.0.0.1"},
		{"IPv4, another port", &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 40001}, "127.0.0.1"},
		// A dual-stack listener sees IPv4 peers as mapped addresses.
		{"IPv4 mapped", &net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1"), Port: 40002}, "127.0.0.1"},
		{"IPv6", &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 7575}, "2001:db8::/64"},
		{"IPv6, same /64", &net.TCPAddr{IP: net.ParseIP("2001:db8::ffff:1:2:3"), Port: 7575}, "2001:db8::/64"},
		{"IPv6, next /64", &net.TCPAddr{IP: net.ParseIP("2001:db8:0:1::1"), Port: 7575}, "2001:db8:0:1::/64"},
		{"IPv6 loopback", &net.TCPAddr{IP: net.ParseIP("::1"), Port: 7575}, "::/64"},
		{"not TCP", &net.UnixAddr{Name: "/tmp/sock", Net: "unix"}, "/tmp/sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Prefix(tt.addr); got != tt.want {
				t.Errorf("Prefix(%v) = %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
}

// TestLimiterTurns checks who may begin a handshake while others are
// under way: one per address, MaxHandshakes in all. An enter with a
// cancelled context returns at once with its error where it would wait.
// (Waiters woken when a handshake ends: TestGuessingLimits, guesses at
// once.)
func TestLimiterTurns(t *testing.T) {
	l := New("48210-93755-62184")
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	mayEnter := func(addr string, want bool) {
		t.Helper()
		err := l.Enter(cancelled, addr)
		if got := err == nil; got != want {
			t.Fatalf("enter(%s) = %v; want it to succeed: %v", addr, err, want)
		}
	}
	mayEnter("192.0.2.1", true)
	mayEnter("192.0.2.1", false)
	for i := 2; i <= MaxHandshakes; i++ {
		mayEnter(fmt.Sprintf("192.0.2.%d", i), true)
	}
	mayEnter("198.51.100.1", false)
	l.Leave("192.0.2.1")
	mayEnter("198.51.100.1", true)
	mayEnter("192.0.2.1", false)
	l.Leave("192.0.2.2")
	mayEnter("192.0.2.1", true)
}
