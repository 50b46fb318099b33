package stripe

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/ferrytool/ferry/framing"
)

// Switch is a ferry connection that can move onto a Conn. Each direction
// switches on its own, at a frame both sides know: the writer calls
// SwitchWrite once that frame is written, the reader SwitchRead once it
// has read it; from then on that direction waits for Attach and then uses
// the Conn. Until SwitchRead, and until Disarm, reads stop at frame
// boundaries, so no byte past the frame that ends the single connection's
// stream is taken into a buffer above: those bytes are the first segment,
// which the Conn reads itself.
type Switch struct {
	main net.Conn

	// Only the reading goroutine touches these, before SwitchRead.
	framed bool
	hdr    [framing.HeaderLen]byte
	got    int   // header bytes of the current frame read
	left   int64 // its payload bytes still to read

	mu       sync.Mutex
	readOn   bool
	writeOn  bool
	rd, wd   time.Time // the deadlines set, for a Conn attached later
	stripe   *Conn
	err      error         // why no Conn will come
	ready    chan struct{} // closed once stripe or err is set
	rdl, wdl *deadline     // bound the waits for ready
}

// NewSwitch returns a Switch on main whose reads stop at frame boundaries
// until SwitchRead or Disarm.
func NewSwitch(main net.Conn) *Switch {
	return &Switch{main: main, framed: true, ready: make(chan struct{}), rdl: newDeadline(), wdl: newDeadline()}
}

// Disarm says the connection stays single: reads go straight to it. It
// is for the reading goroutine.
func (s *Switch) Disarm() { s.framed = false }

// SwitchRead moves reads to the Conn. It is for the reading goroutine,
// right after it read the last frame of the single connection.
func (s *Switch) SwitchRead() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readOn = true
}

// SwitchWrite moves writes to the Conn. It is for the writing goroutine,
// right after it wrote the last frame of the single connection.
func (s *Switch) SwitchWrite() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeOn = true
	if s.stripe != nil {
		// A write deadline set on main since the Conn cleared it would
		// end the Conn's own writes on it.
		_ = s.main.SetWriteDeadline(time.Time{})
		_ = s.stripe.SetWriteDeadline(s.wd)
	}
}

// Attach gives the switched directions c, which stripes main and the
// connections that joined it.
func (s *Switch) Attach(c *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if isClosed(s.ready) {
		_ = c.Close()
		return
	}
	s.stripe = c
	_ = c.SetReadDeadline(s.rd)
	_ = c.SetWriteDeadline(s.wd)
	close(s.ready)
}

// Abandon ends the waits of the switched directions with err: no Conn
// will come.
func (s *Switch) Abandon(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !isClosed(s.ready) {
		s.err = err
		close(s.ready)
	}
}

// on says whether a direction has switched, and gives the Conn once it
// is there, waiting for it within d.
func (s *Switch) on(read bool, d *deadline) (bool, *Conn, error) {
	s.mu.Lock()
	on := s.writeOn
	if read {
		on = s.readOn
	}
	s.mu.Unlock()
	if !on {
		return false, nil, nil
	}
	select {
	case <-s.ready:
	case <-d.wait():
		return true, nil, os.ErrDeadlineExceeded
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return true, s.stripe, s.err
}

// Read reads from main until SwitchRead, then from the Conn.
func (s *Switch) Read(p []byte) (int, error) {
	on, c, err := s.on(true, s.rdl)
	switch {
	case err != nil:
		return 0, err
	case on:
		return c.Read(p)
	case !s.framed:
		return s.main.Read(p)
	}
	if s.got < len(s.hdr) {
		p = p[:min(len(p), len(s.hdr)-s.got)]
	} else {
		p = p[:min(int64(len(p)), s.left)]
	}
	n, err := s.main.Read(p)
	if s.got < len(s.hdr) {
		s.got += copy(s.hdr[s.got:], p[:n])
		if s.got == len(s.hdr) {
			s.left = int64(binary.BigEndian.Uint32(s.hdr[1:]))
		}
	} else {
		s.left -= int64(n)
	}
	if s.got == len(s.hdr) && s.left == 0 {
		s.got = 0
	}
	return n, err
}

// Write writes to main until SwitchWrite, then to the Conn.
func (s *Switch) Write(p []byte) (int, error) {
	bufs := net.Buffers{p}
	n, err := s.WriteBuffers(&bufs)
	return int(n), err
}

// WriteBuffers writes bufs in one gathered write to main, or as whole
// segments to the Conn (see Conn.WriteBuffers).
func (s *Switch) WriteBuffers(bufs *net.Buffers) (int64, error) {
	on, c, err := s.on(false, s.wdl)
	switch {
	case err != nil:
		return 0, err
	case on:
		return c.WriteBuffers(bufs)
	}
	return bufs.WriteTo(s.main)
}

// CloseWrite half-closes main, or the Conn once writes switched.
func (s *Switch) CloseWrite() error {
	on, c, err := s.on(false, s.wdl)
	switch {
	case err != nil:
		return err
	case on:
		return c.CloseWrite()
	}
	if cw, ok := s.main.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Close closes main and the Conn, and ends the waits for it.
func (s *Switch) Close() error {
	s.mu.Lock()
	c := s.stripe
	if !isClosed(s.ready) {
		s.err = net.ErrClosed
		close(s.ready)
	}
	s.mu.Unlock()
	err := s.main.Close()
	if c != nil {
		_ = c.Close()
	}
	return err
}

// LocalAddr is main's.
func (s *Switch) LocalAddr() net.Addr { return s.main.LocalAddr() }

// RemoteAddr is main's.
func (s *Switch) RemoteAddr() net.Addr { return s.main.RemoteAddr() }

// SetDeadline sets both deadlines.
func (s *Switch) SetDeadline(t time.Time) error {
	return errors.Join(s.SetReadDeadline(t), s.SetWriteDeadline(t))
}

// SetReadDeadline bounds reads: on main until SwitchRead, then the wait
// for the Conn and its reads.
func (s *Switch) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rd = t
	s.rdl.set(t)
	switch {
	case !s.readOn:
		return s.main.SetReadDeadline(t)
	case s.stripe != nil:
		return s.stripe.SetReadDeadline(t)
	}
	return nil
}

// SetWriteDeadline bounds writes: on main until SwitchWrite, then the
// wait for the Conn and its writes.
func (s *Switch) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wd = t
	s.wdl.set(t)
	switch {
	case !s.writeOn:
		return s.main.SetWriteDeadline(t)
	case s.stripe != nil:
		return s.stripe.SetWriteDeadline(t)
	}
	return nil
}

// SyscallConn is main's, so that socket options reach it.
func (s *Switch) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := s.main.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}
