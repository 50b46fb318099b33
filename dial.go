package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/term"
)

// Connecting is the one wait of a transfer with nothing to show for it, so
// after statusDelay the sender says what it waits for; a connection that
// is made or refused sooner is not worth a line.
const (
	statusDelay = time.Second
	// firstRetry and lastRetry bound the pause between tries with --wait:
	// short at first, so a receiver that was a moment late is reached a
	// moment later, then a second, so a long wait costs the receiver's
	// machine one refused connection a second.
	firstRetry = 100 * time.Millisecond
	lastRetry  = time.Second
)

// dial connects to the receiver at addr (from dialAddr). Each try gives up
// after c.timeout without an answer; with --wait (c.wait), a refused,
// unreachable or unanswered try is made again until c.wait has passed, and
// connecting ends by the later of the two. Only the connection is retried:
// what fails once it is made, a wrong code among it, is the transfer's.
func dial(ctx context.Context, addr string, c *common, out *output) (net.Conn, error) {
	start := time.Now()
	limit := start.Add(max(c.timeout, c.wait))
	waitUntil := start.Add(c.wait)
	st := newDialStatus(out, addr, start)
	defer st.stop()
	pause := firstRetry
	for {
		d := net.Dialer{Deadline: limit}
		if next := time.Now().Add(c.timeout); next.Before(limit) {
			d.Deadline = next
		}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			st.stop()
			out.connected("connected to", conn.RemoteAddr())
			return conn, nil
		}
		left := time.Until(waitUntil)
		if ctx.Err() != nil || !retryable(err) || left <= 0 {
			st.stop()
			return nil, dialError(addr, err, time.Since(start), c.wait > 0)
		}
		st.waiting(c.wait)
		// The last try is made as the wait ends.
		t := time.NewTimer(min(pause, left))
		select {
		case <-ctx.Done():
			t.Stop()
			st.stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, lastRetry)
	}
}

// retryable says err, from a try to connect, may pass once the receiver is
// up: refused (nothing listens yet), unreachable (its machine or network
// is not up yet) or unanswered; a name lookup that failed for the moment;
// and a .local name not found, which a machine answers by multicast DNS
// only once it is up, as a Pi that boots. Another name that does not
// resolve is not: a mistyped one would be waited on for nothing.
func retryable(err error) bool {
	var ne net.Error
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		local := strings.HasSuffix(strings.TrimSuffix(strings.ToLower(dnsErr.Name), "."), ".local")
		return dnsErr.IsTemporary || dnsErr.IsNotFound && local
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.As(err, &ne) && ne.Timeout()
}

// dialError is the message for err, the last try's failure to connect to
// addr, took after the first began; waited says there was a --wait.
func dialError(addr string, err error, took time.Duration, waited bool) error {
	var dnsErr *net.DNSError
	during := ""
	if waited {
		during = " for " + took.Round(100*time.Millisecond).String()
	}
	switch {
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return fmt.Errorf("unknown host %s: check the name, or use its IP address", dnsErr.Name)
		}
		return fmt.Errorf("cannot look up host %s: %s", dnsErr.Name, dnsErr.Err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot connect to %s: connection refused%s (is 'ferry recv' running there, on this port?)", addr, during)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return fmt.Errorf("cannot connect to %s: no route to host%s", addr, during)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		// Packets that go unanswered are dropped on the way, most often
		// by a firewall, or sent where no machine is.
		return fmt.Errorf("cannot connect to %s: no answer in %s; check that it is the address ferry recv printed, and that no firewall between the machines drops the connection",
			addr, took.Round(100*time.Millisecond))
	}
	// The system's reason, without the socket plumbing around it ("dial
	// tcp: connect: ...") that tells a user nothing.
	var se *os.SyscallError
	if errors.As(err, &se) {
		err = se.Err
	}
	return fmt.Errorf("cannot connect to %s: %w", addr, err)
}

// dialStatus tells the user, once connecting has taken statusDelay, what
// send waits for: on a terminal one line redrawn in place each second with
// the seconds waited, and wiped once connecting ends; elsewhere one line.
type dialStatus struct {
	o     *output
	addr  string
	start time.Time
	live  bool // redraw in place: o writes to a terminal that takes it
	quit  chan struct{}
	done  chan struct{}

	mu      sync.Mutex
	said    bool // a line about this connection is printed
	drawn   int  // the width of the line on the terminal, 0 if none
	stopped bool
}

func newDialStatus(o *output, addr string, start time.Time) *dialStatus {
	s := &dialStatus{o: o, addr: addr, start: start, quit: make(chan struct{}), done: make(chan struct{})}
	s.live = !o.quiet && !o.json && redrawable(o.w)
	go s.run()
	return s
}

func (s *dialStatus) run() {
	defer close(s.done)
	t := time.NewTimer(statusDelay)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
		}
		s.tick()
		if !s.live {
			return
		}
		// On the next whole second, so the count goes up by one.
		t.Reset(time.Second - time.Since(s.start)%time.Second)
	}
}

// tick says, or redraws, that send is connecting.
func (s *dialStatus) tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.stopped:
	case s.live:
		secs := time.Since(s.start).Round(time.Second)
		s.draw(fmt.Sprintf("ferry: connecting to %s (%s)", s.addr, secs))
	case s.said:
	case s.o.json:
		s.said = true
		s.o.event("connecting", map[string]any{"addr": s.addr})
	default:
		s.said = true
		s.o.say("connecting to %s", s.addr)
	}
}

// waiting says, once, that send waits up to wait for the receiver.
func (s *dialStatus) waiting(wait time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.said {
		return
	}
	s.said = true
	if s.o.json {
		s.o.event("waiting", map[string]any{"addr": s.addr, "seconds": wait.Seconds()})
		return
	}
	s.wipe()
	s.o.say("waiting for ferry recv at %s (up to %s)", s.addr, wait)
}

// stop ends the status and wipes its line; it may be called again.
func (s *dialStatus) stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	s.wipe()
	s.mu.Unlock()
	close(s.quit)
	<-s.done
}

// draw puts line on the terminal in place of the one drawn before, cut to
// the terminal's width: a line that wrapped could not be drawn over.
func (s *dialStatus) draw(line string) {
	if w := termWidth(s.o.w); w > 1 && len(line) > w-1 {
		line = line[:w-1]
	}
	pad := max(s.drawn-len(line), 0)
	s.o.mu.Lock()
	defer s.o.mu.Unlock()
	_, _ = io.WriteString(s.o.w, "\r"+line+strings.Repeat(" ", pad))
	s.drawn = len(line)
}

// wipe blanks the line drawn, leaving the cursor where it starts.
func (s *dialStatus) wipe() {
	if s.drawn == 0 {
		return
	}
	s.o.mu.Lock()
	defer s.o.mu.Unlock()
	_, _ = io.WriteString(s.o.w, "\r"+strings.Repeat(" ", s.drawn)+"\r")
	s.drawn = 0
}

// redrawable says w is a terminal where a line may be drawn over: not one
// that says it cannot (TERM=dumb) or a user who asked for plain output
// (NO_COLOR).
func redrawable(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) && !plainTerminal()
}

// termWidth is the width of the terminal w, or 0 if it reports none.
func termWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return width
}
