// Package conn is one ferry connection as a stream of frames: a reader for
// the one goroutine that reads, and a writer goroutine that owns the write
// side, as tailscale's derp client and server have. The writer gathers
// queued frames into few writes, pings while idle so a healthy connection
// is not taken for a dead one, gives up on a peer that takes none of its
// bytes, and puts an error or abort frame ahead of queued data. The first
// failure is kept: it is what every later call returns and what the peer
// is told, before a linger that keeps the telling frame from being lost
// to a reset.
//
// In the encrypted mode the frames after the handshake are sealed and
// opened by internal/secure's stream; the hello and the handshake, which
// come before, are the caller's, and go through this package unsealed.
// The package knows frames and the connection, not what the frames carry.
package conn

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/secure"
)

// DefaultTimeout is how long a side waits without hearing from its peer
// unless told otherwise.
const DefaultTimeout = 30 * time.Second

// ErrTimeout means nothing arrived from the peer for the whole timeout, or
// the peer took none of this side's bytes for StallFactor times it. Its
// text is the one users have always seen.
var ErrTimeout = errors.New("peer silent too long")

// unsentLimit is about how many bytes a sender's socket holds that it has
// not sent yet (see LimitUnsent): a quarter of a second of a 1 MB/s link,
// which an abort waits behind besides the frames in flight, and on
// loopback, the fastest link, no measurable cost in throughput.
const unsentLimit = 256 << 10

// lingerTime bounds how long a failing side waits for its error frame to be
// written and for the peer to hang up before it closes the socket. Closing
// earlier could reset the connection and lose the frame that says why.
const lingerTime = 2 * time.Second

// Config is what a Conn takes from its user.
type Config struct {
	// Role is this side's.
	Role framing.Role
	// Timeout is how long silence from the peer means it is dead; zero
	// means no limit. Pings every third of it, at most every second, keep
	// the peer's own timeout from running out.
	Timeout time.Duration
	// Encrypted says a handshake will seal the frames (see Conn.Secure):
	// the writer does not ping before that.
	Encrypted bool
	// Report says what the peer is told of a failure other than an
	// interrupt (which it is told with an abort frame): tell false if the
	// peer knows already, else the code of the error frame that tells it.
	// Nil tells every failure with framing.CodeInternal.
	Report func(err error) (code uint16, tell bool)
}

// Frame is one frame queued for the writer goroutine.
type Frame struct {
	Type    framing.Type
	Payload []byte
	// Release, if set, is called once the payload has been written, or
	// dropped, to hand its buffer back.
	Release func()
	// plain marks a handshake frame, which goes out unsealed even when
	// the handshake has completed before the writer got to it.
	plain bool
	// mark is no frame, only a place in the queue (see Drain).
	mark bool
}

// Conn is one ferry connection. One goroutine reads its frames; any may
// queue frames, fail it or close it.
type Conn struct {
	nc        net.Conn
	role      framing.Role
	timeout   time.Duration
	encrypted bool
	report    func(error) (uint16, bool)

	fr *framing.Reader
	br *bufio.Reader // under fr
	// open opens the peer's frames once the handshake is done. Only the
	// reading goroutine touches it.
	open *secure.Reader
	// heard says a byte came from the peer. Only the reading goroutine
	// touches it.
	heard bool
	// handshakeBy is when the peer's hello and handshake must be done,
	// pings or not; zero once they are. handshakeFor says, for messages,
	// how long that was. Only the reading goroutine touches them.
	handshakeBy  time.Time
	handshakeFor string

	// sw and fw are the writer goroutine's; seal seals onto fw once the
	// handshake is done, set by the reading goroutine as the handshake
	// ends, hence atomic. One session, two directions with separate
	// state.
	sw        *StallWriter
	fw        *framing.Writer
	seal      atomic.Pointer[secure.Writer]
	out       chan []Frame  // frames in order, in batches; closing it ends the write side
	urgent    chan Frame    // at most one error or abort frame
	writeDone chan struct{} // closed when the writer goroutine returns
	allSent   atomic.Bool   // the writer wrote every frame queued and half-closed
	batch     []Frame       // the writer's reused batch of frames

	readMu       sync.Mutex // orders deadline changes between the reader and stopReads
	readsStopped bool       // reads keep the deadline stopReads set

	mu     sync.Mutex
	err    error         // the first failure, kept forever
	failed chan struct{} // closed at the first failure
}

// New starts the writer goroutine of a Conn on nc. Until the handshake is
// over (HandshakeDone), the peer's frames are limited to
// framing.MaxHandshakePayload.
func New(nc net.Conn, cfg Config) *Conn {
	c := &Conn{
		nc:        nc,
		role:      cfg.Role,
		timeout:   cfg.Timeout,
		encrypted: cfg.Encrypted,
		report:    cfg.Report,
		out:       make(chan []Frame, queueDepth),
		urgent:    make(chan Frame, 1),
		writeDone: make(chan struct{}),
		failed:    make(chan struct{}),
	}
	// Buffered, so the small frames of small files are not a read each.
	c.br = bufio.NewReaderSize(&deadlineReader{c: c}, readBuffer)
	c.fr = framing.NewReader(c.br)
	c.fr.SetLimit(framing.MaxHandshakePayload)
	c.sw = &StallWriter{nc: nc, stall: StallFactor * c.timeout, peer: c.peerRole()}
	c.fw = framing.NewWriter(c.sw)
	go c.writeLoop()
	return c
}

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// Secure makes the connection encrypted from here on, once sess came out
// of the handshake: the writer seals every frame but the handshake's, and
// ReadFrame opens every frame. It is for the reading goroutine, which ran
// the handshake.
func (c *Conn) Secure(sess *secure.Session) {
	c.seal.Store(secure.NewWriter(c.fw, sess))
	c.open = secure.NewReader(wireReader{c}, sess)
}

// Fail records err if it is the first failure and tells the peer why (see
// Config.Report): an interrupt (context.Canceled) with an abort frame, any
// other failure with an error frame, in the words for the peer of a
// failure that has them (a frame of the peer's that did not open).
func (c *Conn) Fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	var f Frame
	if errors.Is(err, context.Canceled) {
		f = Frame{Type: framing.TypeAbort, Payload: framing.AppendAbort(nil, "interrupted")}
	} else if code, tell := c.reportOf(err); tell {
		f = Frame{Type: framing.TypeError, Payload: framing.AppendError(nil, framing.ErrorMsg{Code: code, Message: peerText(err)})}
	}
	if f.Type != 0 {
		select {
		case c.urgent <- f:
		default: // the handshake's own error frame is already waiting
		}
	}
	close(c.failed)
}

func (c *Conn) reportOf(err error) (uint16, bool) {
	if c.report == nil {
		return framing.CodeInternal, true
	}
	return c.report(err)
}

// Err is the first failure, or nil.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Failed is closed at the first failure.
func (c *Conn) Failed() <-chan struct{} { return c.failed }

// WriterDone is closed once the writer goroutine has returned: after the
// last frame went out and the write side closed, or after a failure.
func (c *Conn) WriterDone() <-chan struct{} { return c.writeDone }

// Interrupt fails the connection because ctx ended and wakes the reader.
func (c *Conn) Interrupt(ctx context.Context) {
	c.Fail(ctx.Err())
	c.stopReads(time.Now())
}

// Shutdown ends the connection after a failure: it lets the writer deliver
// the error or abort frame, waits a moment for the peer to hang up so that
// frame is not lost to a reset, then closes. drain says whether this
// goroutine must read (and discard) the peer's frames meanwhile, because no
// other goroutine is reading.
func (c *Conn) Shutdown(drain bool) {
	select {
	case <-c.writeDone:
	case <-time.After(lingerTime):
	}
	c.stopReads(time.Now().Add(lingerTime))
	if drain {
		_, _ = io.Copy(io.Discard, c.nc)
	}
	c.Close()
}

// Close closes the socket, which stops the writer, and waits for it.
func (c *Conn) Close() {
	_ = c.nc.Close()
	<-c.writeDone
}

// AllSent says whether the writer wrote every frame queued, the last one
// included, and half-closed: what this side had to say reached the
// socket, whatever happens to the connection afterwards. It waits for the
// writer to end first, at most lingerTime, as Shutdown does: after a
// failure the writer may still be between the last frame and the
// half-close (see writeLast).
func (c *Conn) AllSent() bool {
	select {
	case <-c.writeDone:
	case <-time.After(lingerTime):
	}
	return c.allSent.Load()
}

// endWrites half-closes the connection once every frame queued is written.
func (c *Conn) endWrites() {
	c.allSent.Store(true)
	c.closeWrite()
}

func (c *Conn) closeWrite() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

func (c *Conn) peerRole() framing.Role {
	if c.role == framing.RoleSender {
		return framing.RoleReceiver
	}
	return framing.RoleSender
}

// Tell writes an error frame on nc, outside any Conn, within the linger
// time: to turn a connection away, or to answer a peer in another mode.
func Tell(nc net.Conn, code uint16, msg string) {
	_ = nc.SetDeadline(time.Now().Add(lingerTime))
	_ = framing.NewWriter(nc).WriteFrame(framing.TypeError, framing.AppendError(nil, framing.ErrorMsg{Code: code, Message: msg}))
}

// ErrLost means the connection ended without the peer saying why, before
// the exchange did: it was reset, closed in the middle of a frame or
// before the peer's last frame, or failed under a write. The peer was
// killed, its machine went away, or the network between them failed.
var ErrLost = errors.New("connection lost")

// Lost is ErrLost on one connection. Its text names the peer, not the
// socket plumbing ("read tcp a->b: read: connection reset by peer") that
// tells a user nothing; the protocol above adds how far the exchange had
// come (see Text). errors.Is finds both ErrLost and the cause in it.
type Lost struct {
	Peer net.Addr
	From bool   // the peer connected to this side, as a sender connects to its receiver
	Why  string // what this side saw, for people, or ""
	Err  error  // the cause
}

func (e *Lost) Error() string { return e.Text("") }

// Text is the message with after, how far the exchange had come ("after
// 312 MB of 1.0 GB"), put in if not "".
func (e *Lost) Text(after string) string {
	dir := "to"
	if e.From {
		dir = "from"
	}
	s := fmt.Sprintf("the connection %s %s was lost", dir, e.Peer)
	if after != "" {
		s += " " + after
	}
	if e.Why != "" {
		s += ": " + e.Why
	}
	return s
}

// Unwrap gives ErrLost and the cause.
func (e *Lost) Unwrap() []error { return []error{ErrLost, e.Err} }

// Lost makes err, which ended the connection, a *Lost; why, if not "",
// says what this side saw. A timeout stays a timeout, with its own text.
func (c *Conn) Lost(err error, why string) error {
	if errors.Is(err, ErrTimeout) {
		return err
	}
	var l *Lost
	if errors.As(err, &l) {
		return err
	}
	return &Lost{Peer: c.nc.RemoteAddr(), From: c.role == framing.RoleReceiver, Why: why, Err: err}
}

// LostError describes a failed write without the socket plumbing
// ("writev tcp a->b: writev: ...") that tells a user nothing.
func LostError(nc net.Conn, err error) error {
	if errors.Is(err, ErrTimeout) {
		return err
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		err = se.Err
	}
	return fmt.Errorf("connection to %s lost: %w", nc.RemoteAddr(), err)
}

func roleName(r framing.Role) string {
	if r == framing.RoleSender {
		return "sender"
	}
	return "receiver"
}
