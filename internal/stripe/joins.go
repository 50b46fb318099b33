package stripe

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/ferrytool/ferry/framing"
)

// sniffTime is how long a connection accepted while a stripe waits for
// its joins may take for its first byte before it is served as it is: a
// joining sender writes its join as soon as it connects.
const sniffTime = 10 * time.Second

// Joins routes the connections that join a stripe, on a listening side,
// to the transfer waiting for them, by the token it gave out. While no
// transfer waits, accepted connections pass as they are.
type Joins struct {
	sniffers chan struct{} // a slot per connection being looked at

	mu      sync.Mutex
	waiting map[[framing.TokenLen]byte]*Wait
}

// NewJoins returns Joins that look at most sniffers connections at a
// time for a join; past that, one is served as it is.
func NewJoins(sniffers int) *Joins {
	return &Joins{sniffers: make(chan struct{}, sniffers), waiting: make(map[[framing.TokenLen]byte]*Wait)}
}

// Wait is one transfer's wait for the connections that join it.
type Wait struct {
	j     *Joins
	Token [framing.TokenLen]byte

	mu    sync.Mutex
	conns []net.Conn // by index; [0] is the transfer's own
	want  int        // how many streams, once the sender said; 0 before
	came  chan struct{}
	done  bool
}

// Expect registers a wait for up to max streams under a fresh token.
func (j *Joins) Expect(max int) *Wait {
	w := &Wait{j: j, conns: make([]net.Conn, max), came: make(chan struct{}, 1)}
	_, _ = rand.Read(w.Token[:])
	j.mu.Lock()
	j.waiting[w.Token] = w
	j.mu.Unlock()
	return w
}

func (j *Joins) expecting() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.waiting) > 0
}

// hand gives c to the wait holding token at index i, and says whether it
// took it.
func (j *Joins) hand(token [framing.TokenLen]byte, i int, c net.Conn) bool {
	j.mu.Lock()
	w := j.waiting[token]
	j.mu.Unlock()
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || i < 1 || i >= len(w.conns) || (w.want > 0 && i >= w.want) || w.conns[i] != nil {
		return false
	}
	w.conns[i] = c
	select {
	case w.came <- struct{}{}:
	default:
	}
	return true
}

// Conns waits until the streams 1 to want-1 have joined, by deadline, or
// until stop is closed, and returns them with main as stream 0. It closes
// what came for indexes past want.
func (w *Wait) Conns(main net.Conn, want int, deadline time.Time, stop <-chan struct{}) ([]net.Conn, error) {
	w.mu.Lock()
	w.want = want
	for i := want; i < len(w.conns); i++ {
		if w.conns[i] != nil {
			_ = w.conns[i].Close()
			w.conns[i] = nil
		}
	}
	w.mu.Unlock()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		w.mu.Lock()
		n := 0
		for _, c := range w.conns[1:want] {
			if c != nil {
				n++
			}
		}
		if n == want-1 {
			w.done = true
			conns := append([]net.Conn{main}, w.conns[1:want]...)
			w.mu.Unlock()
			w.unregister()
			return conns, nil
		}
		w.mu.Unlock()
		select {
		case <-w.came:
		case <-timer.C:
			return nil, fmt.Errorf("%d of the %d connections the sender opens came", n+1, want)
		case <-stop:
			return nil, net.ErrClosed
		}
	}
}

// Close ends the wait: connections that joined and were not taken by
// Conns are closed, and any that comes later is refused.
func (w *Wait) Close() {
	w.unregister()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	w.done = true
	for i, c := range w.conns {
		if c != nil {
			_ = c.Close()
			w.conns[i] = nil
		}
	}
}

func (w *Wait) unregister() {
	w.j.mu.Lock()
	delete(w.j.waiting, w.Token)
	w.j.mu.Unlock()
}

// Listen wraps ln: its Accept returns the connections to serve, and hands
// those that join a stripe to their transfer, from now until it is
// closed.
func (j *Joins) Listen(ln net.Listener) net.Listener {
	l := &listener{Listener: ln, j: j, accepted: make(chan accepted), done: make(chan struct{}), sniffing: make(map[net.Conn]bool)}
	l.wg.Go(l.pump)
	return l
}

type accepted struct {
	c   net.Conn
	err error
}

type listener struct {
	net.Listener
	j        *Joins
	accepted chan accepted
	done     chan struct{}
	close    sync.Once
	wg       sync.WaitGroup

	mu       sync.Mutex
	sniffing map[net.Conn]bool // closed by Close
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case a := <-l.accepted:
		return a.c, a.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// pump accepts connections; while a transfer waits for its joins it
// looks at each one's first byte, in a goroutine of its own.
func (l *listener) pump() {
	for {
		c, err := l.Listener.Accept()
		if err == nil && l.j.expecting() {
			select {
			case l.j.sniffers <- struct{}{}:
				l.mu.Lock()
				l.sniffing[c] = true
				l.mu.Unlock()
				l.wg.Go(func() { l.sniff(c) })
				continue
			default:
			}
		}
		if !l.pass(c, err) || errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// pass hands an accepted connection, or the error of Accept, to Accept's
// caller, and says whether it did before Close.
func (l *listener) pass(c net.Conn, err error) bool {
	select {
	case l.accepted <- accepted{c, err}:
		return true
	case <-l.done:
		if c != nil {
			_ = c.Close()
		}
		return false
	}
}

// sniff reads c's first frame if it is a join, and hands c to its
// transfer; any other connection goes to Accept's caller with the byte
// read put back.
func (l *listener) sniff(c net.Conn) {
	defer func() {
		l.mu.Lock()
		delete(l.sniffing, c)
		l.mu.Unlock()
		<-l.j.sniffers
	}()
	_ = c.SetReadDeadline(time.Now().Add(sniffTime))
	var first [1]byte
	n, _ := io.ReadFull(c, first[:])
	if n == 1 && framing.Type(first[0]) == framing.TypeJoin {
		if !l.join(c) {
			_ = c.Close()
		}
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	if n == 1 {
		c = &prefixConn{Conn: c, first: first[:]}
	}
	l.pass(c, nil)
}

// join reads the rest of a join frame from c and hands c on.
func (l *listener) join(c net.Conn) bool {
	var frame [framing.HeaderLen - 1 + framing.TokenLen + 1]byte
	if _, err := io.ReadFull(c, frame[:]); err != nil {
		return false
	}
	if binary.BigEndian.Uint32(frame[:]) != framing.TokenLen+1 {
		return false
	}
	j, err := framing.ParseJoin(frame[framing.HeaderLen-1:])
	if err != nil {
		return false
	}
	return l.j.hand(j.Token, int(j.N), c)
}

func (l *listener) Close() error {
	err := l.Listener.Close()
	l.close.Do(func() {
		close(l.done)
		l.mu.Lock()
		for c := range l.sniffing {
			_ = c.Close()
		}
		l.mu.Unlock()
	})
	l.wg.Wait()
	return err
}

// prefixConn gives back the byte read to tell a join from a hello.
type prefixConn struct {
	net.Conn
	first []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.first) > 0 {
		n := copy(p, c.first)
		c.first = c.first[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite half-closes the connection, as a TCP connection's does.
func (c *prefixConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
