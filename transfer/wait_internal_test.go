package transfer

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/conn"
)

// TestPassCountsWait: a handover that waits for a writer held up by the
// network tells the encoder how long it waited, as a wait for a free
// buffer does; else -z auto, with data that compresses well, would not see
// a slow network as the limit.
func TestPassCountsWait(t *testing.T) {
	const stall = 200 * time.Millisecond
	near, far := net.Pipe()
	c := conn.New(near, conn.Config{Role: framing.RoleSender})
	defer func() {
		c.CloseSend()
		c.Close()
	}()
	var waited time.Duration
	s := &sender{l: &link{Conn: c}, waited: func(d time.Duration) { waited += d }}
	passed := make(chan error, 1)
	go func() {
		// Enough handovers to fill the writer's queue, and one more. Each
		// is a batch's worth of frames, so the writer, however late it
		// starts, takes one a write and not all of them at once.
		for range 16 {
			s.held = make([]conn.Frame, conn.BatchFrames)
			for i := range s.held {
				s.held[i] = conn.Frame{Type: framing.TypePing}
			}
			if err := s.pass(); err != nil {
				passed <- err
				return
			}
		}
		passed <- nil
	}()
	// The network takes nothing for a while, then everything.
	time.Sleep(stall)
	go func() { _, _ = io.Copy(io.Discard, far) }()
	if err := <-passed; err != nil {
		t.Fatal(err)
	}
	if waited < stall/2 {
		t.Errorf("the handovers counted %v waiting for a writer the network held up for %v", waited, stall)
	}
}
