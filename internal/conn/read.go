package conn

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/secure"
)

// readBuffer is the size of a connection's read buffer. Reads of a frame
// bigger than this bypass it.
const readBuffer = 64 << 10

// deadlineReader gives every read the connection's timeout, so a silent
// peer is noticed; the peer's pings keep a healthy but idle connection
// alive. Until the handshake is done its deadline bounds the reads too.
type deadlineReader struct{ c *Conn }

func (r *deadlineReader) Read(p []byte) (int, error) {
	c := r.c
	c.readMu.Lock()
	stopped := c.readsStopped
	var deadline time.Time
	if !stopped {
		if c.timeout > 0 {
			deadline = time.Now().Add(c.timeout)
		}
		if !c.handshakeBy.IsZero() && (deadline.IsZero() || c.handshakeBy.Before(deadline)) {
			deadline = c.handshakeBy
		}
		if !deadline.IsZero() {
			_ = c.nc.SetReadDeadline(deadline)
		}
	}
	c.readMu.Unlock()
	n, err := c.nc.Read(p)
	if n > 0 {
		c.heard = true
	}
	if !stopped {
		err = c.timeoutError(deadline, err)
	}
	if se := (*os.SyscallError)(nil); errors.As(err, &se) && !errors.Is(err, ErrTimeout) {
		// Reset, or failed under the connection: not a close of this
		// side's, nor the end of the stream.
		err = c.Lost(err, "")
	}
	return n, err
}

// HandshakeWithin gives the peer d from the time from to finish its hello
// and handshake, pings or not; why, if not "", says where d comes from,
// for messages. It is for the reading goroutine.
func (c *Conn) HandshakeWithin(from time.Time, d time.Duration, why string) {
	c.handshakeBy = from.Add(d)
	c.handshakeFor = d.String()
	if why != "" {
		c.handshakeFor += " (" + why + ")"
	}
}

// HandshakeDone lifts the handshake's own limits: its deadline and the
// size of the frames the peer may send. It is for the reading goroutine.
func (c *Conn) HandshakeDone() {
	c.fr.SetLimit(framing.MaxPayload)
	if c.handshakeBy.IsZero() {
		return
	}
	c.handshakeBy = time.Time{}
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.timeout == 0 && !c.readsStopped {
		_ = c.nc.SetReadDeadline(time.Time{})
	}
}

// timeoutError is the error of a read that ended at deadline: ErrTimeout
// naming the peer too slow to finish its handshake, or as TimeoutError
// says.
func (c *Conn) timeoutError(deadline time.Time, err error) error {
	var ne net.Error
	if !c.handshakeBy.IsZero() && deadline.Equal(c.handshakeBy) && errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %s did not finish its handshake within %s", ErrTimeout, c.nc.RemoteAddr(), c.handshakeFor)
	}
	return TimeoutError(c.nc, c.timeout, err)
}

// TimeoutError turns err, if it is a read deadline that passed, into
// ErrTimeout naming the peer silent for timeout.
func TimeoutError(nc net.Conn, timeout time.Duration, err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: nothing from %s for %s", ErrTimeout, nc.RemoteAddr(), timeout)
	}
	return err
}

// stopReads makes reads end at t instead of extending their deadline: now
// to interrupt the reader, a little later to let the peer hang up first.
func (c *Conn) stopReads(t time.Time) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	c.readsStopped = true
	_ = c.nc.SetReadDeadline(t)
}

// Heard says whether a byte came from the peer. It is for the reading
// goroutine.
func (c *Conn) Heard() bool { return c.heard }

// Silent says err ended a connection on which the peer sent not a byte: a
// port check, say, rather than a peer that failed. Such a peer closes, or
// resets when it closes with this side's hello unread; this side's own
// writes may then meet the reset or a broken pipe first.
func (c *Conn) Silent(err error) bool {
	return !c.heard && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE))
}

// Buffered reports whether bytes of the peer's next frame have arrived,
// so reading it will not wait.
func (c *Conn) Buffered() bool { return c.br.Buffered() > 0 }

// ReadPlainFrame reads the peer's next frame as it came, for the hello and
// the handshake. A positive within gives the peer at most that long from
// now for it, if its handshake deadline is later; why says, for messages,
// where within comes from.
func (c *Conn) ReadPlainFrame(within time.Duration, why string) (framing.Type, []byte, error) {
	if within <= 0 {
		return c.fr.ReadFrame()
	}
	by, byFor := c.handshakeBy, c.handshakeFor
	if by.IsZero() || time.Until(by) > within {
		c.HandshakeWithin(time.Now(), within, why)
	}
	t, p, err := c.fr.ReadFrame()
	c.handshakeBy, c.handshakeFor = by, byFor
	return t, p, err
}

// ReadFrame reads the peer's next frame, opened once the handshake is done.
// An end of stream before the peer's last sealed frame is an error: the
// stream was cut.
func (c *Conn) ReadFrame() (framing.Type, []byte, error) {
	if c.open == nil {
		return wireReader{c}.ReadFrame()
	}
	t, p, err := c.open.ReadFrame()
	if !secure.StreamFailure(err) {
		return t, p, err
	}
	se := &streamError{err: err, peer: c.nc.RemoteAddr(), role: c.peerRole()}
	if errors.Is(err, secure.ErrTruncated) {
		// The peer, or the network, ended the stream early: the peer is
		// told what was cut, as for any stream failure.
		return t, nil, c.Lost(se, fmt.Sprintf("the stream was cut before the %s's last frame", roleName(c.peerRole())))
	}
	return t, nil, se
}

// wireReader reads the frames as they came, naming the peer that cut one.
type wireReader struct{ c *Conn }

func (r wireReader) ReadFrame() (framing.Type, []byte, error) {
	c := r.c
	t, p, err := c.fr.ReadFrame()
	if errors.Is(err, framing.ErrTruncated) {
		// A peer that is stopped (interrupted, failed) while its writes
		// are stuck behind a reader that takes nothing for a while, a
		// slow disk's, closes mid-frame: its abort or error frame could
		// not get through.
		err = c.Lost(err, fmt.Sprintf("the %s closed the connection in the middle of a frame (it was interrupted or failed: see its messages)", roleName(c.peerRole())))
	}
	return t, p, err
}

// streamError is a frame from the peer that did not open, or a stream cut
// before the peer's last frame. This side's message names the peer by its
// address; the peer is told the same by its role, since its own address,
// as this side sees it, would mean nothing to it.
type streamError struct {
	err  error
	peer net.Addr
	role framing.Role
}

func (e *streamError) Error() string { return fmt.Sprintf("%v from %s", e.err, e.peer) }
func (e *streamError) Unwrap() error { return e.err }

// toPeer is the message for the peer.
func (e *streamError) toPeer() string { return fmt.Sprintf("%v from the %s", e.err, roleName(e.role)) }

// peerText is the message the peer is told of err: err's own, or the one
// for the peer of a failure that has one.
func peerText(err error) string {
	if se := (*streamError)(nil); errors.As(err, &se) {
		return se.toPeer()
	}
	return err.Error()
}
