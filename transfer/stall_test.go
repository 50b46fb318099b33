package transfer_test

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/codec"
	"github.com/ferrytool/ferry/transfer"
)

// TestReceiverNotReading has a receiver that completes the hello, then
// pings and never reads: the sender's socket fills and its writer blocks.
// The pings keep the sender's reads alive, so only a limit on the write
// itself ends the transfer, and it must, naming the receiver. -z none, or
// the endless stream's pattern compresses so well it never fills the
// socket.
func TestReceiverNotReading(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the 5s stall limit on a receiver that never reads")
	}
	t.Parallel()
	// Pings every tenth of it keep the sender's reads alive even on a
	// loaded machine; the stall limit is then five seconds.
	const timeout = 500 * time.Millisecond
	ln := listen(t)
	stop := make(chan struct{})
	peerDone := fakePeer(ln, func(conn net.Conn) {
		if _, err := conn.Write(helloFrame(framing.RoleReceiver, framing.Version)); err != nil {
			return
		}
		keepPinging(framing.NewWriter(conn), timeout/10, stop)
	})
	conn := dial(t, ln.Addr())
	sent := make(chan error, 1)
	go func() {
		_, err := transfer.Send(t.Context(), conn, []transfer.Source{transfer.StreamSource("x", endless{})}, transfer.Options{Timeout: timeout, Compression: codec.None})
		sent <- err
	}()
	err := await(t, sent, "Send to a receiver that pings and never reads")
	close(stop)
	await(t, peerDone, "the receiver that never reads")
	want := fmt.Sprintf("the receiver at %s stopped reading: it took nothing for %s, 10 times the timeout", ln.Addr(), 10*timeout)
	if !errors.Is(err, transfer.ErrTimeout) || !strings.Contains(err.Error(), want) {
		t.Errorf("Send = %v, want %v saying %q", err, transfer.ErrTimeout, want)
	}
}

// TestSlowFinalSync has a receiver whose last sync, after the sender's
// done, takes twice the sender's write limit: the sender has nothing left
// to write then, only the receiver's pings and acks to wait for, and the
// transfer must complete. One small file, so the last flush is the only
// one.
func TestSlowFinalSync(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the 8s last sync")
	}
	t.Parallel()
	// Long enough that the pings, every third of it, come in time on a
	// loaded machine; the sync then takes twice the write limit, 8 s.
	const timeout = 400 * time.Millisecond
	const sync = 2 * 10 * timeout
	sink, _ := newDirSink(t, false)
	src := writeSource(t, "f", randomBytes(1000, 1), 0o644, time.Now())
	opts := transfer.Options{Timeout: timeout}
	o := run(t, []transfer.Source{src}, slowSyncSink{sink, sync}, opts, opts)
	if o.sendErr != nil || o.recvErr != nil {
		t.Fatalf("a last sync of %v with --timeout %v: Send = %v, Receive = %v", sync, timeout, o.sendErr, o.recvErr)
	}
	if o.sendSum.Files != 1 {
		t.Errorf("Send reported %d files, want 1", o.sendSum.Files)
	}
}
