// Package stripe carries one byte stream over several TCP connections, so
// that a transfer is not held to what one connection's window allows over
// a long or window-limited path (ferry send -P). It stripes the
// connection, not the protocol: what is written is cut into segments, a
// big-endian uint32 length and up to SegmentSize bytes, and segment k goes
// on connection k mod N, where the reader takes it back in the same turn,
// so order needs no sequence numbers. Each connection has a goroutine
// that writes and one that reads, each with a queue of two segments, so
// the sockets fill and drain in parallel while memory stays bounded.
//
// Everything above (framing, the sealed stream of the encrypted mode, its
// checksums) runs over a Conn unchanged: a segment lost, cut or tampered
// with breaks the stream above as a broken single connection would.
//
// Switch moves one ferry connection onto a Conn at a frame boundary both
// sides agree on, and Joins routes the connections that join a stripe on a
// listening side (PROTOCOL.md, section 2.12).
package stripe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// SegmentSize is the most bytes one segment carries: a data frame of
// ferry's 256 KiB chunks travels in one or two segments, and a queue of
// two per connection keeps N connections busy within 2N segments.
const SegmentSize = 256 << 10

// MaxStreams is the most connections one Conn stripes over.
const MaxStreams = 16

// queue is how many segments each connection's goroutines hold per
// direction: one being written or read, one waiting.
const queue = 2

// segmentHeader is the size of a segment's length prefix.
const segmentHeader = 4

// ErrSegment means a connection carried a segment length of zero or over
// SegmentSize: the peer is not striping as this package does.
var ErrSegment = errors.New("stripe: malformed segment")

// Conn is one byte stream over several connections. One goroutine may
// read and one write at a time, as with a TCP connection; Close,
// CloseWrite and the deadlines may be called from any.
type Conn struct {
	conns []net.Conn

	// The write side: wk is the next segment's number; wq[j] holds the
	// segments for connection j and wfree[j] its free buffers.
	wmu     sync.Mutex
	wk      int
	wq      []chan []byte
	wfree   []chan []byte
	wclosed bool
	wdl     *deadline
	writers atomic.Int32  // writer goroutines still running
	wdone   chan struct{} // closed when none is

	// The read side: rq[j] holds the segments read from connection j,
	// closed at its clean end, and rfree[j] its free buffers; cur is the
	// rest of the segment being read, which came from connection curj.
	rmu   sync.Mutex
	rk    int
	rq    []chan []byte
	rfree []chan []byte
	cur   []byte
	buf   []byte // the buffer cur lies in, handed back when used up
	curj  int
	eof   bool
	rdl   *deadline

	mu     sync.Mutex
	err    error         // the first failure, kept forever
	failed chan struct{} // closed at the first failure or Close
	wg     sync.WaitGroup
}

// New stripes a stream over conns, at most MaxStreams, in the order both
// sides agree on. It clears their deadlines: a Conn's own deadlines bound
// its callers' waits, not the sockets, which its goroutines use until
// Close. The Conn owns conns from now on.
func New(conns []net.Conn) *Conn {
	if len(conns) == 0 || len(conns) > MaxStreams {
		panic(fmt.Sprintf("stripe: %d connections, want 1 to %d", len(conns), MaxStreams))
	}
	n := len(conns)
	c := &Conn{
		conns:  conns,
		wq:     make([]chan []byte, n),
		wfree:  make([]chan []byte, n),
		rq:     make([]chan []byte, n),
		rfree:  make([]chan []byte, n),
		wdl:    newDeadline(),
		rdl:    newDeadline(),
		failed: make(chan struct{}),
		wdone:  make(chan struct{}),
	}
	c.writers.Store(int32(n))
	for j, nc := range conns {
		_ = nc.SetDeadline(time.Time{})
		c.wq[j] = make(chan []byte, queue)
		c.wfree[j] = make(chan []byte, queue)
		c.rq[j] = make(chan []byte, queue)
		c.rfree[j] = make(chan []byte, queue)
		for range queue {
			// Allocated at first use, as big as the first segment needs:
			// the direction that carries only acks stays small.
			c.wfree[j] <- nil
			c.rfree[j] <- nil
		}
		c.wg.Add(2)
		go c.writeLoop(j)
		go c.readLoop(j)
	}
	return c
}

// fail records err as the first failure and closes every connection, so
// that every goroutine and call ends with it.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	close(c.failed)
	for _, nc := range c.conns {
		_ = nc.Close()
	}
}

// Err is the first failure, or nil.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Conn) writeLoop(j int) {
	defer c.wg.Done()
	defer func() {
		if c.writers.Add(-1) == 0 {
			close(c.wdone)
		}
	}()
	nc := c.conns[j]
	var hdr [segmentHeader]byte
	for {
		var b []byte
		var ok bool
		select {
		case b, ok = <-c.wq[j]:
		case <-c.failed:
			return
		}
		if !ok {
			end(nc)
			return
		}
		binary.BigEndian.PutUint32(hdr[:], uint32(len(b)))
		bufs := net.Buffers{hdr[:], b}
		if _, err := bufs.WriteTo(nc); err != nil {
			c.fail(err)
			return
		}
		c.wfree[j] <- b[:0]
	}
}

// end ends what this side writes on nc: a segment of no bytes, so that
// the peer can tell the stream's end from a connection cut between two
// segments, then a half-close. A failure there is not the stream's: a
// peer that closed its socket once it had read what it wanted resets a
// connection whose end came after, and the stream this side reads has
// ended or fails on its own; a peer still reading finds the end missing.
func end(nc net.Conn) {
	var hdr [segmentHeader]byte
	if _, err := nc.Write(hdr[:]); err != nil {
		return
	}
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

func (c *Conn) readLoop(j int) {
	defer c.wg.Done()
	nc := c.conns[j]
	var hdr [segmentHeader]byte
	for {
		var b []byte
		select {
		case b = <-c.rfree[j]:
		case <-c.failed:
			return
		}
		if _, err := io.ReadFull(nc, hdr[:]); err != nil {
			if err == io.EOF {
				// Cut between two segments, without the end's: a peer
				// that failed, or a reset seen as an end.
				err = io.ErrUnexpectedEOF
			}
			c.fail(err)
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 {
			// The end: the stream ends at this connection's turn.
			close(c.rq[j])
			return
		}
		if n > SegmentSize {
			c.fail(fmt.Errorf("%w: %d bytes on connection %d", ErrSegment, n, j))
			return
		}
		if uint32(cap(b)) < n {
			b = make([]byte, n, min(max(n, uint32(2*cap(b))), SegmentSize))
		}
		b = b[:n]
		if _, err := io.ReadFull(nc, b); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			c.fail(err)
			return
		}
		c.rq[j] <- b // never blocks: the queue holds every buffer there is
	}
}

// Read reads the stream in order. It returns io.EOF once the peer has
// ended it (CloseWrite or Close after its last segment).
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.cur) == 0 {
		if err := c.Err(); err != nil {
			return 0, err
		}
		if c.eof {
			return 0, io.EOF
		}
		if c.buf != nil {
			c.rfree[c.curj] <- c.buf[:0]
			c.buf = nil
		}
		j := c.rk % len(c.conns)
		select {
		case b, ok := <-c.rq[j]:
			if !ok {
				c.eof = true
				continue
			}
			c.rk++
			c.cur, c.buf, c.curj = b, b, j
		case <-c.failed:
		case <-c.rdl.wait():
			return 0, os.ErrDeadlineExceeded
		}
	}
	n := copy(p, c.cur)
	c.cur = c.cur[n:]
	return n, nil
}

// Write writes p, as WriteBuffers does.
func (c *Conn) Write(p []byte) (int, error) {
	bufs := net.Buffers{p}
	n, err := c.WriteBuffers(&bufs)
	return int(n), err
}

// WriteBuffers cuts bufs into segments and queues each for its
// connection, consuming from bufs what it queued; it returns once all are
// queued, not written. A group written at once becomes whole segments, so
// frames gathered into one write travel in as few segments as fit.
func (c *Conn) WriteBuffers(bufs *net.Buffers) (int64, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	left := 0
	for _, b := range *bufs {
		left += len(b)
	}
	var total int64
	for left > 0 {
		if err := c.Err(); err != nil {
			return total, err
		}
		if c.wclosed {
			return total, net.ErrClosed
		}
		j := c.wk % len(c.conns)
		var seg []byte
		select {
		case seg = <-c.wfree[j]:
		case <-c.failed:
			continue
		case <-c.wdl.wait():
			return total, os.ErrDeadlineExceeded
		}
		need := min(left, SegmentSize)
		if cap(seg) < need {
			seg = make([]byte, 0, need)
		}
		for len(seg) < need {
			b := (*bufs)[0]
			m := min(len(b), need-len(seg))
			seg = append(seg, b[:m]...)
			if m == len(b) {
				*bufs = (*bufs)[1:]
			} else {
				(*bufs)[0] = b[m:]
			}
		}
		c.wq[j] <- seg // never blocks: the queue holds every buffer there is
		c.wk++
		left -= need
		total += int64(need)
	}
	return total, nil
}

// CloseWrite ends the stream this side writes: each connection is
// half-closed once its segments are out. It returns once they are, as a
// TCP connection's returns once its bytes are the system's to send, so
// that a Close after it loses none; the write deadline bounds the wait.
// Its error is the stream's failure; a connection that could not be ended
// is not one (see end).
func (c *Conn) CloseWrite() error {
	c.wmu.Lock()
	if !c.wclosed {
		c.wclosed = true
		for _, q := range c.wq {
			close(q)
		}
	}
	c.wmu.Unlock()
	select {
	case <-c.wdone:
		return c.Err()
	case <-c.failed:
		return c.Err()
	case <-c.wdl.wait():
		return os.ErrDeadlineExceeded
	}
}

// Close closes every connection and waits for the Conn's goroutines. It
// may be called more than once.
func (c *Conn) Close() error {
	c.fail(net.ErrClosed)
	c.wg.Wait()
	return nil
}

// LocalAddr is the first connection's.
func (c *Conn) LocalAddr() net.Addr { return c.conns[0].LocalAddr() }

// RemoteAddr is the first connection's.
func (c *Conn) RemoteAddr() net.Addr { return c.conns[0].RemoteAddr() }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

// SetReadDeadline bounds the wait of Read, now and later, for the next
// segment.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline bounds the wait of Write, now and later, for room in
// the queues; the sockets themselves have no deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wdl.set(t)
	return nil
}
