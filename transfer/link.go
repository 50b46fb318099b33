package transfer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/secure"
)

// lingerTime bounds how long a failing side waits for its error frame to be
// written and for the peer to hang up before it closes the socket. Closing
// earlier could reset the connection and lose the frame that says why.
const lingerTime = 2 * time.Second

// queueDepth is how many batches of frames may wait for the writer: enough
// to keep it busy. A batch holds at most about holdBytes of small frames,
// and the sender's data buffers bound the big ones (see dataBuffers).
const queueDepth = 4

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
	// plain marks a handshake frame, which goes out unsealed even when
	// the handshake has completed before the writer got to it.
	plain bool
}

// link is one ferry connection: a frame reader for the one goroutine that
// reads, and a writer goroutine that owns the write side, sends keepalive
// pings while idle, and puts error and abort frames ahead of queued data.
type link struct {
	conn    net.Conn
	role    framing.Role
	timeout time.Duration
	code    string // the encrypted mode's code; "" for --plain
	fr      *framing.Reader
	br      *bufio.Reader // under fr

	// The encrypted mode's session, once the handshake is done: open is the
	// reading goroutine's, seal the writer goroutine's (set by the reading
	// goroutine as the handshake ends, hence atomic). One session, two
	// directions with separate state.
	open *secure.Session
	seal atomic.Pointer[secure.Session]
	// secured, if set, is called once the handshake is done.
	secured func(cipher string)
	// admit, if set, lets the handshake begin (see Options.admit).
	admit func() error
	// confirmSent says the handshake sent this side's key confirmation,
	// from which the peer learns whether its code was right. Only the
	// reading goroutine, which runs the handshake, touches it.
	confirmSent bool
	// heard says a byte came from the peer. Only the reading goroutine
	// touches it.
	heard bool
	// greeted, if set, is called on a receiver when a valid hello came.
	greeted func()
	// helloCame says the peer's hello came and was valid. Only the
	// reading goroutine touches it.
	helloCame bool
	// handshakeBy is when the peer's hello and handshake must be done,
	// pings or not; zero once they are. handshakeFor says, for messages,
	// how long that was. Only the reading goroutine touches them.
	handshakeBy  time.Time
	handshakeFor string

	out       chan []outFrame // frames in order, in batches; closing it ends the write side
	urgent    chan outFrame   // at most one error or abort frame
	writeDone chan struct{}   // closed when the writer goroutine returns
	batch     []outFrame      // the writer's reused batch of frames

	readMu       sync.Mutex // orders deadline changes between the reader and stopReads
	readsStopped bool       // reads keep the deadline stopReads set

	mu     sync.Mutex
	err    error         // the first failure, kept forever
	failed chan struct{} // closed at the first failure
}

func newLink(conn net.Conn, role framing.Role, opts Options) *link {
	l := &link{
		conn:      conn,
		role:      role,
		timeout:   opts.timeout(),
		code:      opts.Code,
		secured:   opts.Secured,
		admit:     opts.admit,
		greeted:   opts.greeted,
		out:       make(chan []outFrame, queueDepth),
		urgent:    make(chan outFrame, 1),
		writeDone: make(chan struct{}),
		failed:    make(chan struct{}),
	}
	// Buffered, so the small frames of small files are not a read each.
	l.br = bufio.NewReaderSize(&deadlineReader{l: l}, readBuffer)
	l.fr = framing.NewReader(l.br)
	l.fr.SetLimit(framing.MaxHandshakePayload)
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
	var deadline time.Time
	if !stopped {
		if l.timeout > 0 {
			deadline = time.Now().Add(l.timeout)
		}
		if !l.handshakeBy.IsZero() && (deadline.IsZero() || l.handshakeBy.Before(deadline)) {
			deadline = l.handshakeBy
		}
		if !deadline.IsZero() {
			_ = l.conn.SetReadDeadline(deadline)
		}
	}
	l.readMu.Unlock()
	n, err := l.conn.Read(p)
	if n > 0 {
		l.heard = true
	}
	if !stopped {
		err = l.timeoutError(deadline, err)
	}
	return n, err
}

// handshakeWithin gives the peer d from the time from to finish its hello
// and handshake, pings or not; why says where d comes from, for messages.
func (l *link) handshakeWithin(from time.Time, d time.Duration, why string) {
	l.handshakeBy = from.Add(d)
	l.handshakeFor = d.String() + " " + why
}

// handshakeDone lifts the handshake's own limits: its deadline and the
// size of the frames the peer may send.
func (l *link) handshakeDone() {
	l.fr.SetLimit(framing.MaxPayload)
	if l.handshakeBy.IsZero() {
		return
	}
	l.handshakeBy = time.Time{}
	l.readMu.Lock()
	defer l.readMu.Unlock()
	if l.timeout == 0 && !l.readsStopped {
		_ = l.conn.SetReadDeadline(time.Time{})
	}
}

// maxPingEvery caps how long a side stays silent before it pings: each
// side's --timeout is its own, and the hello does not carry it, so a side
// with the default must still be heard by a peer given a shorter one. A
// ping is a few bytes.
const maxPingEvery = time.Second

// pingEvery is how long a side with timeout writes nothing before it
// pings: a third of its timeout, so its own peer hears it in time, and at
// most maxPingEvery.
func pingEvery(timeout time.Duration) time.Duration {
	return max(min(timeout/3, maxPingEvery), time.Millisecond)
}

// stallFactor times the timeout is how long a side waits, inside a write,
// for a peer that takes none of its bytes before it gives up.
const stallFactor = 10

// deadlineWriter bounds how long a write may wait for a peer that takes
// none of its bytes: stallFactor times the timeout, renewed whenever the
// peer takes some. Only time blocked in a write counts, so a side waiting
// for the peer's frames with nothing to write is not limited by it. A peer
// that never reads would otherwise hold the connection for ever: a sender
// that never reads its acks would hold a recv -k connection's files and
// descriptors, its pings or not, since the receiver's reader waits to
// queue acks and so never notices silence; a receiver that never reads
// would hold a sender while its pings kept the sender's reads alive. A
// receiver reads nothing while it syncs, which on slow storage can take a
// while: the factor leaves room for that. Used by the writing goroutine
// alone.
type deadlineWriter struct {
	l     *link
	stall time.Duration // 0: no limit
	// final is set by writeLast, which gives the last frame a deadline of
	// its own that must not be renewed.
	final bool
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	bufs := net.Buffers{p}
	n, err := d.WriteBuffers(&bufs)
	return int(n), err
}

// WriteBuffers writes bufs in gathered writes, as the connection does.
func (d *deadlineWriter) WriteBuffers(bufs *net.Buffers) (int64, error) {
	l := d.l
	var total int64
	for {
		if d.stall > 0 && !d.final {
			_ = l.conn.SetWriteDeadline(time.Now().Add(d.stall))
		}
		n, err := bufs.WriteTo(l.conn)
		total += n
		var ne net.Error
		if err == nil || d.final || !errors.As(err, &ne) || !ne.Timeout() {
			return total, err
		}
		if n == 0 {
			return total, fmt.Errorf("%w: the %s at %s stopped reading: it took nothing for %s (%d times --timeout)", ErrTimeout, roleName(l.peerRole()), l.conn.RemoteAddr(), d.stall, stallFactor)
		}
	}
}

// timeoutError is the error of a read that ended at deadline: ErrTimeout
// naming the peer too slow to finish its handshake, or as timeoutError
// says.
func (l *link) timeoutError(deadline time.Time, err error) error {
	var ne net.Error
	if !l.handshakeBy.IsZero() && deadline.Equal(l.handshakeBy) && errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %s did not finish its handshake within %s", ErrTimeout, l.conn.RemoteAddr(), l.handshakeFor)
	}
	return timeoutError(l.conn, l.timeout, err)
}

// timeoutError turns a read deadline that passed into ErrTimeout, naming
// the silent peer.
func timeoutError(conn net.Conn, timeout time.Duration, err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: nothing from %s for %s (--timeout)", ErrTimeout, conn.RemoteAddr(), timeout)
	}
	return err
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
	dw := &deadlineWriter{l: l, stall: stallFactor * l.timeout}
	w := framing.NewWriter(dw)
	var tick <-chan time.Time
	if l.timeout > 0 {
		t := time.NewTicker(pingEvery(l.timeout))
		defer t.Stop()
		tick = t.C
	}
	busy := false
	for {
		// An urgent frame goes first even when data is queued.
		select {
		case f := <-l.urgent:
			l.writeLast(w, dw, f)
			return
		default:
		}
		select {
		case f := <-l.urgent:
			l.writeLast(w, dw, f)
			return
		case <-l.failed:
			// fail queues any urgent frame before it closes failed.
			select {
			case f := <-l.urgent:
				l.writeLast(w, dw, f)
			default:
			}
			return
		case fs, ok := <-l.out:
			if !ok {
				l.closeWrite()
				return
			}
			more, err := l.writeBatch(w, fs)
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
			if !busy && l.pingDue() {
				if err := l.writeOne(w, outFrame{t: framing.TypePing}, false); err != nil {
					l.fail(lostError(l.conn, err))
					return
				}
			}
			busy = false
		}
	}
}

// pingDue says whether the writer, idle for a while, may ping now. In the
// encrypted mode it may not during the handshake: a ping between the last
// handshake frame and the first sealed one would reach a peer that already
// expects sealed frames (reads time out meanwhile). Nor may it while frames
// queued before the handshake ended wait: the ping would be sealed, and go
// ahead of the last handshake frame, which the peer reads unsealed. The
// seal is loaded first, since the handshake queues its last frame before
// it sets the seal.
func (l *link) pingDue() bool {
	if l.code == "" {
		return true
	}
	return l.seal.Load() != nil && len(l.out) == 0
}

// writeBatch writes fs together with whatever else is already queued, up
// to batchFrames frames or batchBytes bytes, in one gathered write: many
// small files make many small frames, and a write per frame would cost a
// system call each. It reports whether the queue is still open.
func (l *link) writeBatch(w *framing.Writer, fs []outFrame) (bool, error) {
	batch := append(l.batch[:0], fs...)
	size := payloadBytes(fs)
	more := true
	for more && len(batch) < batchFrames && size < batchBytes {
		select {
		case fs, more = <-l.out:
			batch = append(batch, fs...)
			size += payloadBytes(fs)
			continue
		default:
		}
		break
	}
	var err error
	for _, f := range batch {
		if err == nil {
			err = l.add(w, f, f.t == l.lastType())
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

func payloadBytes(fs []outFrame) int {
	n := 0
	for _, f := range fs {
		n += len(f.payload)
	}
	return n
}

// lostError describes a failed write without the socket plumbing
// ("writev tcp a->b: writev: ...") that tells a user nothing.
func lostError(c net.Conn, err error) error {
	if errors.Is(err, ErrTimeout) {
		return err
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		err = se.Err
	}
	return fmt.Errorf("connection to %s lost: %w", c.RemoteAddr(), err)
}

// writeLast writes the frame that ends this side's stream and half-closes.
// Handshake frames still queued go first, since the peer reads them before
// any sealed frame; queued data is dropped.
func (l *link) writeLast(w *framing.Writer, dw *deadlineWriter, f outFrame) {
	dw.final = true
	_ = l.conn.SetWriteDeadline(time.Now().Add(lingerTime))
drain:
	for {
		select {
		case fs, ok := <-l.out:
			if !ok {
				break drain
			}
			for _, q := range fs {
				if q.plain {
					_ = w.Add(q.t, q.payload)
				}
				if q.release != nil {
					q.release()
				}
			}
		default:
			break drain
		}
	}
	if l.writeOne(w, f, true) == nil {
		l.closeWrite()
	}
}

// lastType is the frame that ends this side's stream when all goes well.
func (l *link) lastType() framing.Type {
	if l.role == framing.RoleSender {
		return framing.TypeDone
	}
	return framing.TypeComplete
}

// add queues f in w, sealed once the handshake is done; last marks the
// final frame of this direction.
func (l *link) add(w *framing.Writer, f outFrame, last bool) error {
	sess := l.seal.Load()
	if sess == nil || f.plain {
		return w.Add(f.t, f.payload)
	}
	sealed, err := sess.Seal(f.t, f.payload, last)
	if err != nil {
		return err
	}
	return w.Add(f.t, sealed)
}

func (l *link) writeOne(w *framing.Writer, f outFrame, last bool) error {
	if err := l.add(w, f, last); err != nil {
		return err
	}
	return w.Flush()
}

// buffered reports whether bytes of the peer's next frame have arrived, so
// reading it will not wait.
func (l *link) buffered() bool { return l.br.Buffered() > 0 }

// sealError is a frame from the peer that did not open, or a stream cut
// before the peer's last frame. This side's message names the peer by its
// address; the peer is told the same by its role, since its own address,
// as this side sees it, would mean nothing to it.
type sealError struct {
	err  error
	peer net.Addr
	role framing.Role
}

func (e *sealError) Error() string { return fmt.Sprintf("%v from %s", e.err, e.peer) }
func (e *sealError) Unwrap() error { return e.err }

// toPeer is the message the peer gets instead of the one of err, which
// holds e.
func (e *sealError) toPeer(err error) string {
	return strings.Replace(err.Error(), e.Error(), fmt.Sprintf("%v from the %s", e.err, roleName(e.role)), 1)
}

// readFrame reads the peer's next frame, opened once the handshake is done.
// An end of stream before the peer's last sealed frame is an error: the
// stream was cut.
func (l *link) readFrame() (framing.Type, []byte, error) {
	t, p, err := l.fr.ReadFrame()
	if errors.Is(err, framing.ErrTruncated) {
		// A peer that is stopped (interrupted, failed) while its writes
		// are stuck behind a reader that takes nothing for a while, a
		// slow disk's, closes mid-frame: its abort or error frame could
		// not get through.
		err = fmt.Errorf("%w from %s: the %s closed the connection in the middle of a frame (it was interrupted or failed: see its messages)", err, l.conn.RemoteAddr(), roleName(l.peerRole()))
	}
	if l.open == nil {
		return t, p, err
	}
	if errors.Is(err, io.EOF) {
		if terr := l.open.AtEOF(); terr != nil {
			return 0, nil, &sealError{err: terr, peer: l.conn.RemoteAddr(), role: l.peerRole()}
		}
		return t, p, err
	}
	if err != nil {
		return t, p, err
	}
	plain, _, err := l.open.Open(t, p)
	if err != nil {
		return t, nil, &sealError{err: err, peer: l.conn.RemoteAddr(), role: l.peerRole()}
	}
	return t, plain, nil
}

func (l *link) closeWrite() {
	if cw, ok := l.conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// send queues a frame for the writer. It gives up when the link has failed.
func (l *link) send(f outFrame) error {
	return l.sendBatch([]outFrame{f})
}

// sendBatch queues frames for the writer, which owns the slice from now
// on. It gives up when the link has failed.
func (l *link) sendBatch(fs []outFrame) error {
	select {
	case l.out <- fs:
		return nil
	case <-l.failed:
		for _, f := range fs {
			if f.release != nil {
				f.release()
			}
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
	var f outFrame
	switch {
	case errors.As(err, &pe):
		// The peer knows.
	case errors.Is(err, secure.ErrAuth), errors.Is(err, ErrAuth), errors.Is(err, secure.ErrProtocol):
		// The handshake told the peer, or the peer told us.
	case errors.Is(err, context.Canceled):
		f = outFrame{t: framing.TypeAbort, payload: framing.AppendAbort(nil, "interrupted")}
	default:
		msg := err.Error()
		if se := (*sealError)(nil); errors.As(err, &se) {
			msg = se.toPeer(err)
		}
		f = outFrame{t: framing.TypeError, payload: framing.AppendError(nil, framing.ErrorMsg{Code: codeOf(err), Message: msg})}
	}
	if f.t != 0 {
		select {
		case l.urgent <- f:
		default: // the handshake's own error frame is already waiting
		}
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
func (l *link) peerRole() framing.Role {
	if l.role == framing.RoleSender {
		return framing.RoleReceiver
	}
	return framing.RoleSender
}

func (l *link) peerError(t framing.Type, p []byte) error {
	peer := l.peerRole()
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
// first, so neither waits on the other. In the encrypted mode it then runs
// the handshake, and every frame after it is sealed.
func (l *link) hello(caps uint32) (framing.Hello, error) {
	if l.code != "" {
		caps |= framing.CapSecure
	}
	mine := framing.AppendHello(nil, framing.Hello{Version: framing.Version, Role: l.role, Capabilities: caps})
	if err := l.send(outFrame{t: framing.TypeHello, payload: mine, plain: true}); err != nil {
		return framing.Hello{}, err
	}
	t, p, err := l.readHello()
	if err != nil {
		switch {
		case l.silent(err):
			return framing.Hello{}, fmt.Errorf("%s %w", l.conn.RemoteAddr(), ErrSilentPeer)
		case errors.Is(err, framing.ErrFrameTooLarge):
			err = framing.ErrNotFerry
		case errors.Is(err, framing.ErrTruncated) && l.role == framing.RoleReceiver:
			// A ferry sender writes its whole hello at once: a few bytes
			// and an end of stream are netcat's, as echo hi | nc -N sends.
			err = framing.ErrNotFerry
		case errors.Is(err, ErrTimeout) && !l.heard && l.role == framing.RoleReceiver:
			// A connection held open without a byte: a port check that
			// did not hang up, not a sender.
			return framing.Hello{}, &markedError{err: fmt.Errorf("reading hello from %s: %w", l.conn.RemoteAddr(), err), mark: errQuietPeer}
		case errors.Is(err, ErrTimeout) && l.role == framing.RoleReceiver:
			// A hello begun and not finished in its time: a stray byte, or
			// a client holding the connection, not a sender.
			return framing.Hello{}, l.badHello(fmt.Errorf("reading hello from %s: %w", l.conn.RemoteAddr(), err))
		}
		return framing.Hello{}, l.notFerry(fmt.Errorf("reading hello from %s: %w", l.conn.RemoteAddr(), err))
	}
	switch t {
	case framing.TypeHello:
	case framing.TypeError, framing.TypeAbort:
		return framing.Hello{}, l.peerError(t, p)
	default:
		return framing.Hello{}, l.badHello(l.notFerry(fmt.Errorf("reading hello from %s: %w", l.conn.RemoteAddr(), framing.ErrNotFerry)))
	}
	h, err := framing.ParseHello(p)
	if err != nil {
		return framing.Hello{}, l.badHello(l.notFerry(fmt.Errorf("reading hello from %s: %w", l.conn.RemoteAddr(), err)))
	}
	if h.Version != framing.Version {
		return framing.Hello{}, l.badHello(withCode(framing.CodeVersion, fmt.Errorf("%s speaks protocol version %d, this ferry speaks %d: use the same ferry release on both machines", l.conn.RemoteAddr(), h.Version, framing.Version)))
	}
	if h.Role == l.role {
		return framing.Hello{}, l.badHello(withCode(framing.CodeProtocol, fmt.Errorf("%s is also a %s: one side runs ferry send, the other ferry recv", l.conn.RemoteAddr(), roleName(l.role))))
	}
	if err := l.checkMode(h); err != nil {
		return framing.Hello{}, err
	}
	l.helloCame = true
	if l.greeted != nil {
		l.greeted()
	}
	if l.code == "" {
		l.handshakeDone()
		return h, nil
	}
	if l.admit != nil {
		if err := l.admitPinging(); err != nil {
			return framing.Hello{}, err
		}
		// The handshake has its own time from here: the wait for its
		// turn is not the sender's.
		l.handshakeWithin(time.Now(), handshakeTime(l.timeout), "(--timeout)")
	}
	helloS, helloR := mine, p
	if l.role == framing.RoleReceiver {
		helloS, helloR = p, mine
	}
	sess, err := secure.Handshake(l.fr, handshakeWriter{l}, l.role, l.code, helloS, helloR)
	if err != nil {
		return framing.Hello{}, l.handshakeError(err)
	}
	// From here on the writer seals every frame but the handshake's, and
	// the reader opens every frame.
	l.seal.Store(sess)
	l.open = sess
	l.handshakeDone()
	if l.secured != nil {
		l.secured(sess.Cipher().String())
	}
	return h, nil
}

// helloTime is how long a receiver gives a connection for its hello, or
// its timeout if that is shorter. A ferry sender writes its hello as soon
// as it connects, so a connection without one for this long is a probe or
// a flood holding a slot, which must not keep it for the whole timeout.
const helloTime = 10 * time.Second

// readHello reads the peer's first frame; a receiver gives it helloTime.
func (l *link) readHello() (framing.Type, []byte, error) {
	if l.role != framing.RoleReceiver {
		return l.fr.ReadFrame()
	}
	by, why := l.handshakeBy, l.handshakeFor
	if d := min(helloTime, handshakeTime(l.timeout)); by.IsZero() || time.Until(by) > d {
		l.handshakeWithin(time.Now(), d, "(a sender's hello comes at once)")
	}
	t, p, err := l.fr.ReadFrame()
	l.handshakeBy, l.handshakeFor = by, why
	return t, p, err
}

// badHello marks err, a receiver's failure over the sender's hello, as no
// transfer: no code was tried, and a one-shot receiver goes on waiting.
func (l *link) badHello(err error) error {
	if l.role != framing.RoleReceiver {
		return err
	}
	return &markedError{err: err, mark: errBadHello}
}

// notFerry adds to err, when it says that the peer's first bytes were no
// ferry hello, what the user can do about it: a sender that is not ferry
// is most likely netcat, or a ferry send --raw, whose bytes only ferry recv
// --raw takes; a receiver that is not ferry, or that said nothing for the
// whole timeout, most likely nc -l, which takes only ferry send --raw.
func (l *link) notFerry(err error) error {
	switch {
	case l.role == framing.RoleReceiver && errors.Is(err, framing.ErrNotFerry):
		return fmt.Errorf("%w: if it is nc or ferry send --raw, run ferry recv --raw", err)
	case l.role == framing.RoleSender && (errors.Is(err, framing.ErrNotFerry) || errors.Is(err, ErrTimeout) && !l.heard):
		// nc -l takes the hello and answers nothing.
		return fmt.Errorf("%w: if it is nc -l, use ferry send --raw", err)
	}
	return err
}

// silent says err ended a connection on which the peer sent not a byte: a
// port check, say, rather than a peer that failed. Such a peer closes, or
// resets when it closes with this side's hello unread; this side's own
// writes may then meet the reset or a broken pipe first.
func (l *link) silent(err error) bool {
	return !l.heard && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE))
}

// admitPingInterval is how often a receiver pings a sender waiting for its
// turn, so that the sender's timeout does not run out meanwhile: often
// enough for any --timeout a person sets, rarely enough that many waiting
// connections cost little.
const admitPingInterval = time.Second

// admitPinging calls admit, pinging the sender until it returns: the
// writer pings only once the handshake is done, and the sender's
// handshake skips empty pings.
func (l *link) admitPinging() error {
	done := make(chan error, 1)
	go func() { done <- l.admit() }()
	tick := time.NewTicker(admitPingInterval)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			_ = l.send(outFrame{t: framing.TypePing, plain: true})
		}
	}
}

// checkMode refuses a peer in the other mode: a code on one side only is a
// mistake to point out, not a reason to fall back to sending in the clear.
func (l *link) checkMode(h framing.Hello) error {
	peerSecure := h.Capabilities&framing.CapSecure != 0
	mineSecure := l.code != ""
	var msg string
	switch {
	case peerSecure == mineSecure:
		return nil
	case l.role == framing.RoleReceiver && mineSecure:
		msg = "the sender at %s uses --plain, but this receiver requires its code: run ferry send --code CODE, with the code ferry recv printed"
	case l.role == framing.RoleReceiver:
		msg = "the sender at %s uses a code, but this receiver runs with --plain: add --plain to ferry send, or restart ferry recv without --plain"
	case mineSecure:
		// Anyone can answer so; the claim is not checked, and following it
		// blindly would send in the clear to whoever answered.
		msg = "the receiver at %s says it runs with --plain (no code, no encryption): if you started it so, add --plain to ferry send; if not, someone else answered there"
	default:
		msg = "the receiver at %s requires a code: run ferry send --code CODE, with the code ferry recv printed"
	}
	return withCode(framing.CodeAuth, &markedError{err: fmt.Errorf(msg, l.conn.RemoteAddr()), mark: ErrOtherMode})
}

// handshakeError turns the handshake's failure into this package's terms.
func (l *link) handshakeError(err error) error {
	var pe *secure.PeerError
	if errors.As(err, &pe) {
		return &PeerError{Role: l.peerRole(), Code: pe.Code, Message: pe.Message, Aborted: pe.Aborted}
	}
	if errors.Is(err, secure.ErrAuth) {
		if l.role == framing.RoleSender {
			return fmt.Errorf("%w (with %s): check it; ferry recv without -k stops after a wrong code, so it must be run again", ErrAuth, l.conn.RemoteAddr())
		}
		return fmt.Errorf("%w (with %s)", ErrAuth, l.conn.RemoteAddr())
	}
	return fmt.Errorf("handshake with %s: %w", l.conn.RemoteAddr(), err)
}

// handshakeWriter queues the handshake's frames unsealed. An error frame
// goes ahead of them, as the link's own error frames do.
type handshakeWriter struct{ l *link }

func (w handshakeWriter) WriteFrame(t framing.Type, p []byte) error {
	if t == framing.TypeError || t == framing.TypeAbort {
		select {
		case w.l.urgent <- outFrame{t: t, payload: p}:
		default:
		}
		return nil
	}
	if t == framing.TypeConfirm {
		w.l.confirmSent = true
	}
	return w.l.send(outFrame{t: t, payload: p, plain: true})
}

func roleName(r framing.Role) string {
	if r == framing.RoleSender {
		return "sender"
	}
	return "receiver"
}
