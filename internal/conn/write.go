package conn

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ferrytool/ferry/framing"
)

// queueDepth is how many batches of frames may wait for the writer: enough
// to keep it busy. A batch holds at most about BatchFrames small frames,
// and the sender's data buffers bound the big ones.
const queueDepth = 4

// Limits of one gathered write: see writeBatch. A sender hands the writer
// its frames in groups of at most BatchFrames, so one group fills a write.
const (
	BatchFrames = 64
	batchBytes  = 1 << 20
)

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

// Send queues a frame for the writer. It gives up when the connection has
// failed.
func (c *Conn) Send(f Frame) error {
	return c.SendBatch([]Frame{f})
}

// SendBatch queues frames for the writer, which owns the slice from now
// on. It gives up when the connection has failed.
func (c *Conn) SendBatch(fs []Frame) error {
	select {
	case c.out <- fs:
		return nil
	case <-c.failed:
		for _, f := range fs {
			if f.Release != nil {
				f.Release()
			}
		}
		return c.Err()
	}
}

// Drain waits until the writer has written every frame queued before it,
// or the connection has failed: an error frame, which goes out ahead of
// queued frames, then cannot overtake them.
func (c *Conn) Drain() error {
	done := make(chan struct{})
	if err := c.Send(Frame{mark: true, Release: func() { close(done) }}); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-c.failed:
		return c.Err()
	}
}

// SendPlain queues a frame of the hello or the handshake, which goes out
// unsealed, after the frames queued before it.
func (c *Conn) SendPlain(t framing.Type, p []byte) error {
	return c.Send(Frame{Type: t, Payload: p, plain: true})
}

// SendFinal queues an error or abort frame of the handshake's as this
// side's last: it goes out ahead of any data queued (the handshake's
// frames still go first), then the write side closes. If a final frame
// already waits, this one is dropped.
func (c *Conn) SendFinal(t framing.Type, p []byte) {
	select {
	case c.urgent <- Frame{Type: t, Payload: p}:
	default:
	}
}

// CloseSend ends the frames this side sends: the writer half-closes the
// connection once the frames queued are out. No frame may be queued after
// it.
func (c *Conn) CloseSend() { close(c.out) }

func (c *Conn) writeLoop() {
	defer close(c.writeDone)
	sw, w := c.sw, c.fw
	var tick <-chan time.Time
	if c.timeout > 0 {
		t := time.NewTicker(pingEvery(c.timeout))
		defer t.Stop()
		tick = t.C
	}
	busy := false
	for {
		// An urgent frame goes first even when data is queued.
		select {
		case f := <-c.urgent:
			c.writeLast(w, sw, f)
			return
		default:
		}
		select {
		case f := <-c.urgent:
			c.writeLast(w, sw, f)
			return
		case <-c.failed:
			// Fail queues any urgent frame before it closes failed.
			select {
			case f := <-c.urgent:
				c.writeLast(w, sw, f)
			default:
			}
			return
		case fs, ok := <-c.out:
			if !ok {
				c.endWrites()
				return
			}
			more, err := c.writeBatch(w, fs)
			if err != nil {
				c.Fail(c.Lost(err, ""))
				return
			}
			if !more {
				c.endWrites()
				return
			}
			busy = true
		case <-tick:
			if !busy && c.pingDue() {
				if err := c.writeOne(w, Frame{Type: framing.TypePing}, false); err != nil {
					c.Fail(c.Lost(err, ""))
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
func (c *Conn) pingDue() bool {
	if !c.encrypted {
		return true
	}
	return c.seal.Load() != nil && len(c.out) == 0
}

// writeBatch writes fs together with whatever else is already queued, up
// to BatchFrames frames or batchBytes bytes, in one gathered write: many
// small files make many small frames, and a write per frame would cost a
// system call each. It reports whether the queue is still open.
func (c *Conn) writeBatch(w *framing.Writer, fs []Frame) (bool, error) {
	batch := append(c.batch[:0], fs...)
	size := payloadBytes(fs)
	more := true
	for more && len(batch) < BatchFrames && size < batchBytes {
		select {
		case fs, more = <-c.out:
			batch = append(batch, fs...)
			size += payloadBytes(fs)
			continue
		default:
		}
		break
	}
	var err error
	for _, f := range batch {
		if err == nil && !f.mark {
			err = c.add(w, f, f.Type == c.lastType())
		}
	}
	if err == nil {
		err = w.Flush()
	}
	for i, f := range batch {
		if f.Release != nil {
			f.Release()
		}
		batch[i] = Frame{}
	}
	c.batch = batch[:0]
	return more, err
}

func payloadBytes(fs []Frame) int {
	n := 0
	for _, f := range fs {
		n += len(f.Payload)
	}
	return n
}

// writeLast writes the frame that ends this side's stream and half-closes.
// Handshake frames still queued go first, since the peer reads them before
// any sealed frame; queued data is dropped. If nothing was, and the queue
// is closed, the stream ended whole before the failure came: its last
// frame is out (CloseSend follows it), and the writer half-closes as it
// would have, with nothing after that frame. A receiver stopped with
// Ctrl-C while its writer was between its complete frame and the
// half-close then does not call a finished transfer interrupted.
func (c *Conn) writeLast(w *framing.Writer, sw *StallWriter, f Frame) {
	sw.finalBy(time.Now().Add(lingerTime))
	closed, dropped := false, false
drain:
	for {
		select {
		case fs, ok := <-c.out:
			if !ok {
				closed = true
				break drain
			}
			for _, q := range fs {
				if q.plain {
					_ = w.Add(q.Type, q.Payload)
				} else {
					dropped = true
				}
				if q.Release != nil {
					q.Release()
				}
			}
		default:
			break drain
		}
	}
	if closed && !dropped {
		if w.Flush() == nil {
			c.endWrites()
		}
		return
	}
	if c.writeOne(w, f, true) == nil {
		c.closeWrite()
	}
}

// lastType is the frame that ends this side's stream when all goes well.
func (c *Conn) lastType() framing.Type {
	if c.role == framing.RoleSender {
		return framing.TypeDone
	}
	return framing.TypeComplete
}

// add queues f in w, sealed once the handshake is done; last marks the
// final frame of this direction.
func (c *Conn) add(w *framing.Writer, f Frame, last bool) error {
	sealed := c.seal.Load()
	if sealed == nil || f.plain {
		return w.Add(f.Type, f.Payload)
	}
	return sealed.Add(f.Type, f.Payload, last)
}

func (c *Conn) writeOne(w *framing.Writer, f Frame, last bool) error {
	if err := c.add(w, f, last); err != nil {
		return err
	}
	return w.Flush()
}

// StallFactor times the timeout is how long a side waits, inside a write,
// for a peer that takes none of its bytes before it gives up.
const StallFactor = 10

// StallWriter bounds how long a write to a connection may wait for a peer
// that takes none of its bytes: StallFactor times the timeout, renewed
// whenever the peer takes some. Only time blocked in a write counts, so a
// side waiting for the peer's bytes with nothing to write is not limited
// by it. A peer that never reads would otherwise hold the connection for
// ever: a sender that never reads its acks would hold a recv -k
// connection's files and descriptors, its pings or not, since the
// receiver's reader waits to queue acks and so never notices silence; a
// receiver that never reads would hold a sender while its pings kept the
// sender's reads alive; and raw mode has no pings at all to tell a
// receiver that stopped reading from a slow one. A receiver reads nothing
// while it syncs, which on slow storage can take a while: the factor
// leaves room for that. It is for one writing goroutine.
type StallWriter struct {
	nc    net.Conn
	stall time.Duration // 0: no limit
	peer  framing.Role  // the peer's, for the message; 0 if it may not be ferry
	// final is set by finalBy, which gives the last frame a deadline of
	// its own that must not be renewed.
	final bool
}

// NewStallWriter returns a StallWriter on nc for a side with timeout (no
// limit if 0), to a raw peer, which may be netcat rather than ferry.
func NewStallWriter(nc net.Conn, timeout time.Duration) *StallWriter {
	return &StallWriter{nc: nc, stall: StallFactor * timeout}
}

// finalBy makes every write from now on end by deadline, however the peer
// takes the bytes.
func (w *StallWriter) finalBy(deadline time.Time) {
	w.final = true
	_ = w.nc.SetWriteDeadline(deadline)
}

// Write writes p, as WriteBuffers does.
func (w *StallWriter) Write(p []byte) (int, error) {
	bufs := net.Buffers{p}
	n, err := w.WriteBuffers(&bufs)
	return int(n), err
}

// WriteBuffers writes bufs in gathered writes, as the connection does.
func (w *StallWriter) WriteBuffers(bufs *net.Buffers) (int64, error) {
	var total int64
	for {
		if w.stall > 0 && !w.final {
			_ = w.nc.SetWriteDeadline(time.Now().Add(w.stall))
		}
		// A striped connection cuts a group into whole segments.
		n, err := framing.WriteBuffers(w.nc, bufs)
		total += n
		var ne net.Error
		if err == nil || w.final || !errors.As(err, &ne) || !ne.Timeout() {
			return total, err
		}
		if n == 0 {
			return total, w.stallError()
		}
	}
}

func (w *StallWriter) stallError() error {
	if w.peer == 0 {
		return fmt.Errorf("%w: %s took nothing for %s, %d times the timeout", ErrTimeout, w.nc.RemoteAddr(), w.stall, StallFactor)
	}
	return fmt.Errorf("%w: the %s at %s stopped reading: it took nothing for %s, %d times the timeout", ErrTimeout, roleName(w.peer), w.nc.RemoteAddr(), w.stall, StallFactor)
}
