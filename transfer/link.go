package transfer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"ferry/framing"
)

// lingerTime bounds how long a failing side waits for its error frame to be
// written and for the peer to hang up before it closes the socket. Closing
// earlier could reset the connection and lose the frame that says why.
const lingerTime = 2 * time.Second

// queueDepth is how many frames may wait for the writer: enough for one
// gathered write of small frames. The sender's data buffers, not this
// queue, bound how much file data waits (see dataBuffers).
const queueDepth = batchFrames

// readBuffer is the size of a link's read buffer. Reads of a frame bigger
// than this bypass it.
const readBuffer = 64 << 10

// Limits of one gathered write: see writeBatch.
const (
	batchFrames = 64
	batchBytes  = 1 << 20
)

// outFrame is one frame waiting for the writer goroutine.
type outFrame struct {
	t       framing.Type
	payload []byte
	release func() // returns the payload's buffer once written; may be nil
}

// link is one ferry connection: a frame reader for the one goroutine that
// reads, and a writer goroutine that owns the write side, sends keepalive
// pings while idle, and puts error and abort frames ahead of queued data.
type link struct {
	conn    net.Conn
	role    framing.Role
	timeout time.Duration
	fr      *framing.Reader

	out       chan outFrame // frames in order; closing it ends the write side
	urgent    chan outFrame // at most one error or abort frame
	writeDone chan struct{} // closed when the writer goroutine returns
	batch     []outFrame    // the writer's reused batch of frames

	readMu       sync.Mutex // orders deadline changes between the reader and stopReads
	readsStopped bool       // reads keep the deadline stopReads set

	mu     sync.Mutex
	err    error         // the first failure, kept forever
	failed chan struct{} // closed at the first failure
}

func newLink(conn net.Conn, role framing.Role, timeout time.Duration) *link {
	l := &link{
		conn:      conn,
		role:      role,
		timeout:   timeout,
		out:       make(chan outFrame, queueDepth),
		urgent:    make(chan outFrame, 1),
		writeDone: make(chan struct{}),
		failed:    make(chan struct{}),
	}
	// Buffered, so the small frames of small files are not a read each.
	l.fr = framing.NewReader(bufio.NewReaderSize(&deadlineReader{l: l}, readBuffer))
	go l.writeLoop()
	return l
}

// deadlineReader gives every read the link's timeout, so a silent peer is
// noticed; the peer's pings keep a healthy but idle connection alive.
type deadlineReader struct{ l *link }

func (r *deadlineReader) Read(p []byte) (int, error) {
	l := r.l
	l.readMu.Lock()
	stopped := l.readsStopped
	if l.timeout > 0 && !stopped {
		_ = l.conn.SetReadDeadline(time.Now().Add(l.timeout))
	}
	l.readMu.Unlock()
	n, err := l.conn.Read(p)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && !stopped {
		err = fmt.Errorf("%w: nothing from %s for %s (--timeout)", ErrTimeout, l.conn.RemoteAddr(), l.timeout)
	}
	return n, err
}

// stopReads makes reads end at t instead of extending their deadline: now
// to interrupt the reader, a little later to let the peer hang up first.
func (l *link) stopReads(t time.Time) {
	l.readMu.Lock()
	defer l.readMu.Unlock()
	l.readsStopped = true
	_ = l.conn.SetReadDeadline(t)
}

func (l *link) writeLoop() {
	defer close(l.writeDone)
	w := framing.NewWriter(l.conn)
	var tick <-chan time.Time
	if l.timeout > 0 {
		t := time.NewTicker(l.timeout / 3)
		defer t.Stop()
		tick = t.C
	}
	busy := false
	for {
		// An urgent frame goes first even when data is queued.
		select {
		case f := <-l.urgent:
			l.writeLast(w, f)
			return
		default:
		}
		select {
		case f := <-l.urgent:
			l.writeLast(w, f)
			return
		case <-l.failed:
			// fail queues any urgent frame before it closes failed.
			select {
			case f := <-l.urgent:
				l.writeLast(w, f)
			default:
			}
			return
		case f, ok := <-l.out:
			if !ok {
				l.closeWrite()
				return
			}
			more, err := l.writeBatch(w, f)
			if err != nil {
				l.fail(lostError(l.conn, err))
				return
			}
			if !more {
				l.closeWrite()
				return
			}
			busy = true
		case <-tick:
			if !busy {
				if err := w.WriteFrame(framing.TypePing, nil); err != nil {
					l.fail(lostError(l.conn, err))
					return
				}
			}
			busy = false
		}
	}
}

// writeBatch writes f together with whatever else is already queued, up
// to batchFrames frames or batchBytes bytes, in one gathered write: many
// small files make many small frames, and a write per frame would cost a
// system call each. It reports whether the queue is still open.
func (l *link) writeBatch(w *framing.Writer, f outFrame) (bool, error) {
	batch := append(l.batch[:0], f)
	size := len(f.payload)
	more := true
	for more && len(batch) < batchFrames && size < batchBytes {
		select {
		case f, more = <-l.out:
			if more {
				batch = append(batch, f)
				size += len(f.payload)
			}
			continue
		default:
		}
		break
	}
	var err error
	for _, f := range batch {
		if err == nil {
			err = w.Add(f.t, f.payload)
		}
	}
	if err == nil {
		err = w.Flush()
	}
	for i, f := range batch {
		if f.release != nil {
			f.release()
		}
		batch[i] = outFrame{}
	}
	l.batch = batch[:0]
	return more, err
}

// lostError describes a failed write without the socket plumbing
// ("writev tcp a->b: writev: ...") that tells a user nothing.
func lostError(c net.Conn, err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		err = se.Err
	}
	return fmt.Errorf("connection to %s lost: %w", c.RemoteAddr(), err)
}

// writeLast writes the frame that ends this side's stream and half-closes.
func (l *link) writeLast(w *framing.Writer, f outFrame) {
	_ = l.conn.SetWriteDeadline(time.Now().Add(lingerTime))
	if w.WriteFrame(f.t, f.payload) == nil {
		l.closeWrite()
	}
}

func (l *link) closeWrite() {
	if cw, ok := l.conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// send queues a frame for the writer. It gives up when the link has failed.
func (l *link) send(f outFrame) error {
	select {
	case l.out <- f:
		return nil
	case <-l.failed:
		if f.release != nil {
			f.release()
		}
		return l.firstErr()
	}
}

// fail records err if it is the first failure and tells the peer why, unless
// the failure came from the peer or the connection itself is gone.
func (l *link) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return
	}
	l.err = err
	var pe *PeerError
	switch {
	case errors.As(err, &pe), errors.Is(err, ErrTimeout):
		// The peer knows, or cannot hear us.
	case errors.Is(err, context.Canceled):
		l.urgent <- outFrame{t: framing.TypeAbort, payload: framing.AppendAbort(nil, "interrupted")}
	default:
		l.urgent <- outFrame{t: framing.TypeError, payload: framing.AppendError(nil, framing.ErrorMsg{Code: codeOf(err), Message: err.Error()})}
	}
	close(l.failed)
}

// interrupt fails the link because ctx ended and wakes the reader.
func (l *link) interrupt(ctx context.Context) {
	l.fail(ctx.Err())
	l.stopReads(time.Now())
}

func (l *link) firstErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// shutdown ends the connection after a failure: it lets the writer deliver
// the error or abort frame, waits a moment for the peer to hang up so that
// frame is not lost to a reset, then closes. drain says whether this
// goroutine must read (and discard) the peer's frames meanwhile, because no
// other goroutine is reading.
func (l *link) shutdown(drain bool) {
	select {
	case <-l.writeDone:
	case <-time.After(lingerTime):
	}
	l.stopReads(time.Now().Add(lingerTime))
	if drain {
		_, _ = io.Copy(io.Discard, l.conn)
	}
	l.close()
}

// close closes the socket, which stops the writer, and waits for it.
func (l *link) close() {
	_ = l.conn.Close()
	<-l.writeDone
}

// peerError turns an error or abort frame from the peer into a *PeerError.
func (l *link) peerError(t framing.Type, p []byte) error {
	peer := framing.RoleSender
	if l.role == framing.RoleSender {
		peer = framing.RoleReceiver
	}
	if t == framing.TypeAbort {
		reason, err := framing.ParseAbort(p)
		if err != nil {
			return err
		}
		return &PeerError{Role: peer, Message: reason, Aborted: true}
	}
	m, err := framing.ParseError(p)
	if err != nil {
		return err
	}
	return &PeerError{Role: peer, Code: m.Code, Message: m.Message}
}

// hello exchanges hellos and returns the peer's. Each side writes its own
// first, so neither waits on the other.
func (l *link) hello(caps uint32) (framing.Hello, error) {
	mine := framing.AppendHello(nil, framing.Hello{Version: framing.Version, Role: l.role, Capabilities: caps})
	if err := l.send(outFrame{t: framing.TypeHello, payload: mine}); err != nil {
		return framing.Hello{}, err
	}
	t, p, err := l.fr.ReadFrame()
	if err != nil {
		if errors.Is(err, framing.ErrFrameTooLarge) {
			err = framing.ErrNotFerry
		}
		return framing.Hello{}, fmt.Errorf("reading hello from %s: %w", l.conn.RemoteAddr(), err)
	}
	switch t {
	case framing.TypeHello:
	case framing.TypeError, framing.TypeAbort:
		return framing.Hello{}, l.peerError(t, p)
	default:
		return framing.Hello{}, fmt.Errorf("%s: %w", l.conn.RemoteAddr(), framing.ErrNotFerry)
	}
	h, err := framing.ParseHello(p)
	if err != nil {
		return framing.Hello{}, fmt.Errorf("%s: %w", l.conn.RemoteAddr(), err)
	}
	if h.Version != framing.Version {
		return framing.Hello{}, withCode(framing.CodeVersion, fmt.Errorf("%s speaks protocol version %d, this ferry speaks %d: use the same ferry release on both machines", l.conn.RemoteAddr(), h.Version, framing.Version))
	}
	if h.Role == l.role {
		return framing.Hello{}, withCode(framing.CodeProtocol, fmt.Errorf("%s is also a %s: one side runs ferry send, the other ferry recv", l.conn.RemoteAddr(), roleName(l.role)))
	}
	return h, nil
}

func roleName(r framing.Role) string {
	if r == framing.RoleSender {
		return "sender"
	}
	return "receiver"
}
