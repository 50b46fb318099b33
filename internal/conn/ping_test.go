package conn

import (
	"bytes"
	"testing"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/secure"
)

// TestPingDue checks when an idle writer may ping. The case that matters is
// the sender's last handshake frame, queued just before the seal is set: a
// ping sealed then and written ahead of it failed the receiver's handshake,
// under load, with "ping frame where a confirm frame belongs", and the
// sender with a frame that did not open.
func TestPingDue(t *testing.T) {
	sess := testSession(t)
	for _, tc := range []struct {
		name      string
		encrypted bool
		sealed    bool
		queued    int
		want      bool
	}{
		{name: "plain mode", want: true},
		{name: "plain mode, frames queued", queued: 1, want: true},
		{name: "during the handshake", encrypted: true},
		{name: "handshake done, its last frame queued", encrypted: true, sealed: true, queued: 1},
		{name: "handshake done, queue empty", encrypted: true, sealed: true, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Conn{encrypted: tc.encrypted, out: make(chan []Frame, 1)}
			for range tc.queued {
				c.out <- []Frame{{Type: framing.TypeConfirm, plain: true}}
			}
			if tc.sealed {
				c.seal.Store(secure.NewWriter(nil, sess))
			}
			if got := c.pingDue(); got != tc.want {
				t.Errorf("pingDue() = %v, want %v", got, tc.want)
			}
		})
	}
}

// testSession returns the sender's session of a handshake run in memory.
func testSession(t *testing.T) *secure.Session {
	t.Helper()
	toR, toS := make(memFrames, 4), make(memFrames, 4)
	hello := []byte("hello")
	done := make(chan error, 1)
	go func() {
		_, err := secure.Handshake(toR, toS, framing.RoleReceiver, testPingCode, hello, hello)
		done <- err
	}()
	sess, err := secure.Handshake(toS, toR, framing.RoleSender, testPingCode, hello, hello)
	if err != nil {
		t.Fatalf("sender's handshake: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("receiver's handshake: %v", err)
	}
	return sess
}

// memFrames carries frames from one in-memory handshake side to the other.
type memFrames chan memFrame

type memFrame struct {
	t framing.Type
	p []byte
}

func (m memFrames) WriteFrame(t framing.Type, p []byte) error {
	m <- memFrame{t: t, p: bytes.Clone(p)}
	return nil
}

func (m memFrames) ReadFrame() (framing.Type, []byte, error) {
	f := <-m
	return f.t, f.p, nil
}

const testPingCode = "4-PING-CODE"
