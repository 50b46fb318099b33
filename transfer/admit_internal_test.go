package transfer

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ferrytool/ferry/internal/guard"
)

// TestAdmitWaitRunsOut checks that a sender whose wait for a turn outlasts
// the receiver's timeout is told why, in an error frame, rather than
// seeing the connection end.
func TestAdmitWaitRunsOut(t *testing.T) {
	const code = "48210-93755-62184"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	limits := guard.New(code)
	// A handshake from the address under way throughout.
	if err := limits.Enter(t.Context(), "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	defer limits.Leave("127.0.0.1")
	sink, err := NewDirSink(t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	served := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		_, err = serveConn(t.Context(), t.Context(), &guard.Conn{Conn: conn, Prefix: guard.Prefix(conn.RemoteAddr())}, sink.Dir, options{Code: code, Timeout: time.Second}, ServeOptions{KeepOpen: true}, limits, &guard.Table{}, func(bool, error) bool { return false })
		served <- err
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Send(t.Context(), conn, []Source{StreamSource("x", strings.NewReader("x"))}, options{Code: code, Timeout: 10 * time.Second})
	var pe *Error
	if !errors.As(err, &pe) || !strings.Contains(pe.Err.Error(), "kept") || !strings.Contains(pe.Err.Error(), "try again") {
		t.Errorf("Send = %v, want the receiver's word that it was kept waiting", err)
	}
	select {
	case err := <-served:
		if err == nil || !strings.Contains(err.Error(), "waiting for 2s") {
			t.Errorf("serveConn = %v, want the wait that ran out", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serveConn did not return")
	}
}
