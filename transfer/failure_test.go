package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/codec"
	"github.com/ferrytool/ferry/internal/destdir"
	"github.com/ferrytool/ferry/transfer"
)

// TestExists checks that an existing destination is refused with a reason
// that reaches the sender, unless the receiver allows overwriting, and that
// the refusal stops a sender still streaming.
func TestExists(t *testing.T) {
	old := []byte("the file already on the receiver\n")
	data := textBytes(100_000)
	mtime := time.Unix(1_700_000_000, 5)
	tests := []struct {
		name      string
		overwrite bool
		stream    bool
		source    func(t *testing.T) transfer.Source
	}{
		{"file", false, false, func(t *testing.T) transfer.Source { return writeSource(t, "x.bin", data, 0o600, mtime) }},
		{"file, overwrite", true, false, func(t *testing.T) transfer.Source { return writeSource(t, "x.bin", data, 0o600, mtime) }},
		// The sender never runs out of data, so only the receiver's error
		// can end its Send.
		{"endless stream", false, true, func(*testing.T) transfer.Source { return transfer.StreamSource("x.bin", endless{}) }},
		// The sender is blocked reading a pipe nobody writes to when the
		// refusal arrives; Send must close the pipe to return.
		{"stalled pipe", false, true, func(t *testing.T) transfer.Source {
			pr, pw := io.Pipe()
			t.Cleanup(func() { _ = pw.Close() })
			return transfer.StreamSource("x.bin", pr)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink, dir := newDirSink(t, tt.overwrite)
			if err := os.WriteFile(filepath.Join(dir, "x.bin"), old, 0o644); err != nil {
				t.Fatal(err)
			}
			o := run(t, []transfer.Source{tt.source(t)}, sink, transfer.Options{}, transfer.Options{})
			onlyEntry(t, dir, "x.bin")
			got, err := os.ReadFile(filepath.Join(dir, "x.bin"))
			if err != nil {
				t.Fatal(err)
			}
			if tt.overwrite {
				checkResults(t, o, "x.bin", data)
				checkFile(t, dir, "x.bin", data, 0o600, mtime)
				return
			}
			for _, want := range []string{"x.bin", "already exists on the receiver"} {
				if !strings.Contains(o.sendErr.Error(), want) {
					t.Errorf("sender's error %q does not mention %q", o.sendErr, want)
				}
			}
			// Each side's error says what was refused, and where: a file
			// of known size is checked first and refused without a byte
			// sent (ErrRefused on both sides); a stream is refused when it
			// comes, which ends the transfer with the receiver's error.
			for side, err := range map[string]error{"sender": o.sendErr, "receiver": o.recvErr} {
				var e *transfer.Error
				peerSays := side == "sender" && tt.stream
				if !errors.As(err, &e) || e.Code != framing.CodeExists || e.Peer == nil || e.Remote != peerSays || !peerSays && e.Path != "x.bin" || errors.Is(err, transfer.ErrRefused) == tt.stream {
					t.Errorf("%s's error = %v (%+v), want code %d from the receiver, about x.bin, naming the peer", side, err, e, framing.CodeExists)
				}
			}
			if !bytes.Equal(got, old) {
				t.Errorf("the existing file was changed to %d bytes", len(got))
			}
			for _, r := range append(o.sendDone, o.recvDone...) {
				if r.Skipped == "" {
					t.Errorf("a refused file was reported done: %+v", r)
				}
			}
			if o.sendSum.Files+o.recvSum.Files != 0 {
				t.Errorf("a refused file was counted: %+v %+v", o.sendSum, o.recvSum)
			}
		})
	}
}

// failingSink stands in for a disk that fails: its destinations fail every
// Write with err. It records what the receiver did with them.
type failingSink struct {
	err error

	mu        sync.Mutex
	discarded int
	committed int
	reported  int // of those committed, the ones Durable reported
}

func (s *failingSink) Begin(framing.Offer) (transfer.Batch, error) { return s, nil }
func (s *failingSink) Streams() bool                               { return false }

func (s *failingSink) Create(destdir.Entry) (destdir.Destination, error) {
	return &failingDest{s}, nil
}

// Durable reports every entry committed as durable at once.
func (s *failingSink) Durable(bool) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.committed - s.reported
	s.reported = s.committed
	return n, nil
}

// Check holds nothing: every file is sent whole.
func (s *failingSink) Check(destdir.Entry) (framing.Held, error) { return framing.Held{}, nil }

// CreateAt is never called, since Check offers no partial data.
func (s *failingSink) CreateAt(destdir.Entry, int64) (destdir.Destination, uint32, error) {
	return nil, 0, errors.New("no partial data")
}

func (s *failingSink) Finish(bool) error { return nil }
func (s *failingSink) Close()            {}

type failingDest struct{ s *failingSink }

func (d *failingDest) Write([]byte) (int, error) {
	// Wrapped as the real sinks wrap it, so the code must be found by
	// unwrapping, not by comparing.
	return 0, &os.PathError{Op: "write", Path: "x", Err: d.s.err}
}

func (d *failingDest) Commit() error {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	d.s.committed++
	return nil
}

func (d *failingDest) Discard() {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	d.s.discarded++
}

// TestSinkWriteError checks that a write failure on the receiver reaches a
// streaming sender with its reason and the code that classifies it.
func TestSinkWriteError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code uint16
	}{
		{"disk full", syscall.ENOSPC, framing.CodeNoSpace},
		{"quota", syscall.EDQUOT, framing.CodeNoSpace},
		{"permission", syscall.EACCES, framing.CodePermission},
		{"read-only", syscall.EROFS, framing.CodePermission},
		{"i/o error", syscall.EIO, framing.CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := &failingSink{err: tt.err}
			o := run(t, []transfer.Source{transfer.StreamSource("big", endless{})}, sink, transfer.Options{}, transfer.Options{})
			pe := peerError(t, o.sendErr)
			if role, _ := transfer.ReportedBy(pe); pe.Code != tt.code || role != framing.RoleReceiver {
				t.Errorf("sender's error %+v; want code %d from the receiver", pe, tt.code)
			}
			if !strings.Contains(pe.Err.Error(), tt.err.Error()) {
				t.Errorf("sender's error %q does not carry the receiver's reason %q", pe.Err.Error(), tt.err)
			}
			if !errors.Is(o.recvErr, tt.err) {
				t.Errorf("receiver's error = %v, want %v", o.recvErr, tt.err)
			}
			sink.mu.Lock()
			defer sink.mu.Unlock()
			if sink.committed != 0 || sink.discarded != 1 {
				t.Errorf("the failed file was committed %d times and discarded %d; want 0 and 1", sink.committed, sink.discarded)
			}
		})
	}
}

// TestPermissionDenied sends into a directory the receiver may not write:
// DIR itself, or a directory in it that a file's path goes through. Root
// writes into a 0o555 directory regardless, so as root (as in CI) the test
// runs itself again as the nobody user.
func TestPermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		rerunAsNobody(t, t.Name())
		return
	}
	for _, tc := range []struct {
		name     string
		locked   string // the directory made read-only, under DIR
		send     string
		wantPath string // named in the message
	}{
		{"into DIR", ".", "x", "x"},
		{"through a directory in DIR", "photos", "photos/2024/x", "photos/2024"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink, dir := newDirSink(t, false)
			locked := filepath.Join(dir, tc.locked)
			if err := os.MkdirAll(locked, 0o755); err != nil {
				t.Fatal(err)
			}
			// After NewDirSink, whose own probe would refuse a read-only
			// directory.
			if err := os.Chmod(locked, 0o555); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.Chmod(locked, 0o755) })
			o := run(t, []transfer.Source{transfer.StreamSource(tc.send, endless{})}, sink, transfer.Options{}, transfer.Options{})
			pe := peerError(t, o.sendErr)
			if pe.Code != framing.CodePermission || !strings.Contains(pe.Err.Error(), tc.wantPath+": permission denied") {
				t.Errorf("sender's error %+v; want code %d (permission) and %q", pe, framing.CodePermission, tc.wantPath+": permission denied")
			}
			if tc.locked == "." {
				onlyEntry(t, dir)
			} else {
				onlyEntry(t, dir, tc.locked+"/")
			}
		})
	}
}

// corruptingProxy relays one connection from a new listener to target,
// flipping the byte at offset flip of the stream towards target. It returns
// the listener's address.
func corruptingProxy(t *testing.T, target net.Addr, flip int64) net.Addr {
	ln := listen(t)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		down, err := ln.Accept()
		if err != nil {
			return
		}
		defer down.Close()
		up, err := net.Dial("tcp", target.String())
		if err != nil {
			return
		}
		defer up.Close()
		var relays sync.WaitGroup
		relays.Go(func() { relay(up, down, flip) })
		relays.Go(func() { relay(down, up, -1) })
		relays.Wait()
	})
	return ln.Addr()
}

// relay copies src to dst, flipping the byte at offset flip, and passes the
// end of the stream on as a half-close. A broken connection closes both, so
// the other direction does not wait forever.
func relay(dst, src net.Conn, flip int64) {
	buf := make([]byte, 32<<10)
	var off int64
	for {
		n, err := src.Read(buf)
		if flip >= off && flip < off+int64(n) {
			buf[flip-off] ^= 0x01
		}
		off += int64(n)
		if _, werr := dst.Write(buf[:n]); werr != nil {
			err = werr
		}
		if err == io.EOF {
			_ = dst.(*net.TCPConn).CloseWrite()
			return
		}
		if err != nil {
			_ = src.Close()
			_ = dst.Close()
			return
		}
	}
}

// TestChecksumMismatch corrupts one byte of file data in flight: the frames
// stay well formed, so only the checksum can catch it, and both sides must
// report it as ErrChecksum with nothing left on the receiver's disk.
func TestChecksumMismatch(t *testing.T) {
	data := randomBytes(64<<10, 11)
	// Before the data frame's body come the hello (16 bytes), offer (17),
	// file (42 with this name) and the data frame's header (18): offset 4096
	// is deep inside the body, which -z none sends as it is.
	const flip = 4096
	for _, tc := range []struct {
		name string
		sink func(t *testing.T) (transfer.Sink, func(t *testing.T))
		fate string // what the receiver's message says became of the data
	}{
		{"into a directory", func(t *testing.T) (transfer.Sink, func(t *testing.T)) {
			sink, dir := newDirSink(t, false)
			return sink, func(t *testing.T) { onlyEntry(t, dir) }
		}, "the file was discarded"},
		{"to a stream", func(t *testing.T) (transfer.Sink, func(t *testing.T)) {
			return transfer.NewStreamSink(io.Discard), func(*testing.T) {}
		}, "the data already written out is not what was sent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := writeSource(t, "victim.bin", data, 0o644, time.Unix(1_600_000_000, 0))
			sink, check := tc.sink(t)
			ln := listen(t)
			recvErr := receiveOne(t, t.Context(), ln, sink, transfer.Options{})
			conn := dial(t, corruptingProxy(t, ln.Addr(), flip))
			_, sendErr := transfer.Send(t.Context(), conn, []transfer.Source{src}, transfer.Options{Compression: codec.None})
			rerr := await(t, recvErr, "Receive")
			if !errors.Is(rerr, transfer.ErrChecksum) || !strings.HasSuffix(rerr.Error(), tc.fate) {
				t.Errorf("receiver's error = %v, want ErrChecksum saying %q", rerr, tc.fate)
			}
			if !errors.Is(sendErr, transfer.ErrChecksum) {
				t.Errorf("sender's error = %v, want ErrChecksum", sendErr)
			}
			if pe := peerError(t, sendErr); pe.Code != framing.CodeChecksum {
				t.Errorf("sender's error %+v, want code %d (checksum)", pe, framing.CodeChecksum)
			}
			check(t)
		})
	}
}

// TestCancel interrupts each side in mid-stream: the interrupted side
// returns context.Canceled, and its peer learns of it as an abort rather
// than a broken connection.
func TestCancel(t *testing.T) {
	// Enough that both sides are in the middle of the data.
	const after = 4 * transfer.ChunkSize
	for _, side := range []string{"sender", "receiver"} {
		t.Run(side, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			// Cancelled from the Progress callback, so the cancel lands
			// while data is moving without any sleep.
			interrupt := transfer.Options{Progress: func(p transfer.Progress) {
				if p.Bytes >= after {
					cancel()
				}
			}}
			sendCtx, sendOpts := t.Context(), transfer.Options{}
			recvCtx, recvOpts := t.Context(), transfer.Options{}
			if side == "sender" {
				sendCtx, sendOpts = ctx, interrupt
			} else {
				recvCtx, recvOpts = ctx, interrupt
			}
			sink, dir := newDirSink(t, false)
			ln := listen(t)
			recvErr := receiveOne(t, recvCtx, ln, sink, recvOpts)
			_, sendErr := transfer.Send(sendCtx, dial(t, ln.Addr()), []transfer.Source{transfer.StreamSource("endless", endless{})}, sendOpts)
			rerr := await(t, recvErr, "Receive")
			interrupted, peer, peerErr := sendErr, framing.RoleReceiver, rerr
			if side == "sender" {
				peer = framing.RoleSender
			} else {
				interrupted, peerErr = rerr, sendErr
			}
			if !errors.Is(interrupted, context.Canceled) {
				t.Errorf("%s returned %v, want context.Canceled", side, interrupted)
			}
			if role, aborted := transfer.ReportedBy(peerError(t, peerErr)); !aborted || role != peer || !errors.Is(peerErr, transfer.ErrPeerStopped) {
				t.Errorf("its peer returned %v; want an abort from the %s", peerErr, side)
			}
			onlyEntry(t, dir)
		})
	}
}

// helloFrame is a complete hello frame, as a raw peer sends it.
func helloFrame(role framing.Role, version uint8) []byte {
	return framing.AppendFrame(nil, framing.TypeHello, framing.AppendHello(nil, framing.Hello{Version: version, Role: role, Capabilities: codec.Capabilities}))
}

// TestDeadPeer checks that a peer that completes the hello and then says
// nothing more is given up on after the timeout, on either side.
func TestDeadPeer(t *testing.T) {
	const timeout = 300 * time.Millisecond
	// A receiver that stops reading too: the sender's socket fills and its
	// writer blocks, which must not keep Send from returning. -z none, or
	// the endless stream's pattern compresses so well it never fills the
	// socket.
	t.Run("receiver silent, not reading", func(t *testing.T) {
		t.Parallel()
		ln := listen(t)
		release := make(chan struct{})
		peerDone := fakePeer(ln, func(conn net.Conn) {
			_, _ = conn.Write(helloFrame(framing.RoleReceiver, framing.Version))
			<-release
		})
		_, err := transfer.Send(t.Context(), dial(t, ln.Addr()), []transfer.Source{transfer.StreamSource("x", endless{})}, transfer.Options{Timeout: timeout, Compression: codec.None})
		close(release)
		if !errors.Is(err, transfer.ErrTimeout) {
			t.Errorf("Send = %v, want ErrTimeout", err)
		}
		await(t, peerDone, "the silent receiver")
	})
	t.Run("receiver silent", func(t *testing.T) {
		t.Parallel()
		ln := listen(t)
		release := make(chan struct{})
		peerDone := fakePeer(ln, func(conn net.Conn) {
			// Reads and drops everything, so the sender is never blocked
			// on a full socket, and answers nothing; after the sender's
			// half-close it holds the connection open until Send is done,
			// as a hung receiver would.
			_, _ = conn.Write(helloFrame(framing.RoleReceiver, framing.Version))
			_, _ = io.Copy(io.Discard, conn)
			<-release
		})
		src := transfer.StreamSource("x", bytes.NewReader(textBytes(1000)))
		_, err := transfer.Send(t.Context(), dial(t, ln.Addr()), []transfer.Source{src}, transfer.Options{Timeout: timeout})
		close(release)
		if !errors.Is(err, transfer.ErrTimeout) {
			t.Errorf("Send = %v, want ErrTimeout", err)
		}
		await(t, peerDone, "the silent receiver")
	})
	// A sender that streams files but never reads the acks: the
	// receiver's socket fills and its writer blocks, and with it the
	// reader, which waits to queue the next acks and so sets no read
	// deadline. The write deadline must end it.
	t.Run("sender not reading", func(t *testing.T) {
		if testing.Short() {
			t.Skip("-short: skipping the 10,000 files of a sender that never reads the acks")
		}
		t.Parallel()
		// Acks go out a flush's worth at a time (a flush every 1,024
		// files); the small buffers take less than one such group and the
		// link queues four more, so 10,000 files block the reader.
		const files = 10000
		// Made before the connection, which times out in 300ms.
		stream := append(helloFrame(framing.RoleSender, framing.Version), offerFrame(files, 0)...)
		for i := range files {
			stream = append(append(stream, fileFrame(uint32(i), fmt.Sprintf("f%05d", i), 0)...), endFrame(0, 0)...)
		}
		sink, _ := newDirSink(t, false)
		ln := smallSendBuffers{listen(t)}
		recvErr := receiveOne(t, t.Context(), ln, sink, transfer.Options{Timeout: timeout})
		d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
			var err error
			if cerr := c.Control(func(fd uintptr) {
				err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			}); cerr != nil {
				return cerr
			}
			return err
		}}
		conn, err := d.DialContext(t.Context(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// The write blocks once the receiver stops reading; closing the
		// connection at the end of the test ends it.
		go func() { _, _ = conn.Write(stream) }()
		err = await(t, recvErr, "Receive")
		if !errors.Is(err, transfer.ErrTimeout) || !strings.Contains(err.Error(), "took nothing") {
			t.Errorf("Receive = %v, want ErrTimeout for a peer that took nothing", err)
		}
	})
	for _, tt := range []struct {
		name   string
		frames []byte
	}{
		{"sender silent after hello", nil},
		// A file is open when the sender falls silent: it must be discarded.
		{"sender silent mid-file", bytes.Join([][]byte{
			framing.AppendFrame(nil, framing.TypeOffer, framing.AppendOffer(nil, framing.Offer{Files: 1, Bytes: 100})),
			framing.AppendFrame(nil, framing.TypeFile, framing.AppendFile(nil, framing.File{Name: "partial", Size: 100, Mode: 0o644})),
			framing.AppendFrame(nil, framing.TypeData, framing.AppendData(nil, framing.Data{RawLen: 10, Body: textBytes(10)})),
		}, nil)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink, dir := newDirSink(t, false)
			ln := listen(t)
			recvErr := receiveOne(t, t.Context(), ln, sink, transfer.Options{Timeout: timeout})
			conn := dial(t, ln.Addr())
			defer conn.Close()
			if _, err := conn.Write(append(helloFrame(framing.RoleSender, framing.Version), tt.frames...)); err != nil {
				t.Fatal(err)
			}
			if err := await(t, recvErr, "Receive"); !errors.Is(err, transfer.ErrTimeout) {
				t.Errorf("Receive = %v, want ErrTimeout", err)
			}
			onlyEntry(t, dir)
		})
	}
}

// smallSendBuffers is a listener whose connections have small send
// buffers, so a peer that does not read blocks the writer soon.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// slowSyncSink is a DirSink whose first slowSyncs flushes (the syncs) each
// take d, as on slow storage.
type slowSyncSink struct {
	transfer.Sink
	d time.Duration
}

type slowSyncBatch struct {
	transfer.Batch
	d    time.Duration
	slow *int // the slow flushes left
}

// slowSyncs is how many flushes of a slowSyncBatch are slow: enough for
// the receiver to be stuck past its peer's timeout more than once. Not
// every one: a flush that holds the reader for d makes the next file wait
// past the flush age, and so its flush one file alone, so a disk this slow
// for every flush takes d a file.
const slowSyncs = 3

const slowSyncTime = 2400 * time.Millisecond

func (s slowSyncSink) Begin(o framing.Offer) (transfer.Batch, error) {
	b, err := s.Sink.Begin(o)
	if err != nil {
		return nil, err
	}
	slow := slowSyncs
	return slowSyncBatch{b, s.d, &slow}, nil
}

// Durable takes d for each of the first slow flushes that make entries
// durable.
func (b slowSyncBatch) Durable(wait bool) (int, error) {
	n, err := b.Batch.Durable(wait)
	if n > 0 && *b.slow > 0 {
		*b.slow--
		time.Sleep(b.d)
	}
	return n, err
}

// TestSlowSync has a receiver whose syncs take four times the timeout: it
// reads nothing meanwhile, so the sender's socket fills and its writes take
// minutes on real slow storage, but the receiver's pings show it alive and
// the transfer must complete.
func TestSlowSync(t *testing.T) {
	if testing.Short() {
		t.Skipf("-short: skipping 96 MiB received with syncs of %v", slowSyncTime)
	}
	const timeout = slowSyncTime / 4
	var srcs []transfer.Source
	for i := range 48 {
		srcs = append(srcs, writeSource(t, fmt.Sprintf("f%02d", i), randomBytes(2<<20, uint64(i)), 0o644, time.Now()))
	}
	sink, _ := newDirSink(t, false)
	opts := transfer.Options{Timeout: timeout, Compression: codec.None}
	o := run(t, srcs, slowSyncSink{sink, slowSyncTime}, opts, opts)
	if o.sendErr != nil || o.recvErr != nil {
		t.Fatalf("syncs of %v with --timeout %v: Send = %v, Receive = %v", slowSyncTime, timeout, o.sendErr, o.recvErr)
	}
}

// TestShorterPeerTimeout gives the receiver a --timeout of 3s and the
// sender the default 30s, and pauses the sender's input for 4s: the sender
// pings often enough for the receiver's shorter timeout, which it cannot
// know, and the transfer completes.
func TestShorterPeerTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the 4s pause of the sender's input")
	}
	t.Parallel()
	input, feed := io.Pipe()
	go func() {
		_, _ = feed.Write([]byte("first "))
		time.Sleep(4 * time.Second) // the pause of a slow stdin
		_, _ = feed.Write([]byte("second"))
		_ = feed.Close()
	}()
	sink, dir := newDirSink(t, false)
	o := run(t, []transfer.Source{transfer.StreamSource("s", input)}, sink,
		transfer.Options{Timeout: transfer.DefaultTimeout}, transfer.Options{Timeout: 3 * time.Second})
	if o.sendErr != nil || o.recvErr != nil {
		t.Fatalf("Send = %v, Receive = %v; want the pause survived", o.sendErr, o.recvErr)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "s")); err != nil || string(got) != "first second" {
		t.Errorf("s holds %q (%v), want %q", got, err, "first second")
	}
}

// finishSignal is a Sink whose batches say when Finish has returned: the
// receiver then sends its last frames.
type finishSignal struct {
	transfer.Sink
	finished chan struct{}
}

func (s finishSignal) Begin(o framing.Offer) (transfer.Batch, error) {
	b, err := s.Sink.Begin(o)
	return finishSignalBatch{b, s.finished}, err
}

type finishSignalBatch struct {
	transfer.Batch
	finished chan struct{}
}

func (b finishSignalBatch) Finish(failed bool) error {
	if !failed {
		defer close(b.finished)
	}
	return b.Batch.Finish(failed)
}

// smallBufListener gives the connections it accepts a small send buffer,
// so a few kilobytes of acks fill it.
type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		_ = c.(*net.TCPConn).SetWriteBuffer(2048)
	}
	return c, err
}

// TestInterruptWhileAcksStuck has a sender send 3,000 entries and done,
// half-close, and never read its acks, which fill the sockets' buffers;
// the receiver is then interrupted while its writer waits to send them:
// Receive returns at once with the interruption, not after its stall limit
// (ten times --timeout) with success.
func TestInterruptWhileAcksStuck(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping 3,000 entries whose acks are never read, with a 3s timeout")
	}
	t.Parallel()
	ln := smallBufListener{listen(t)}
	dir, _ := newDirSink(t, false)
	sink := finishSignal{dir, make(chan struct{})}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	recvErr := receiveOne(t, ctx, ln, sink, transfer.Options{Timeout: 3 * time.Second})
	conn := dial(t, ln.Addr())
	defer conn.Close() // and kept from the collector, which would close it
	_ = conn.(*net.TCPConn).SetReadBuffer(2048)
	const n = 3000
	var b bytes.Buffer
	b.Write(framing.AppendFrame(nil, framing.TypeHello, framing.AppendHello(nil, framing.Hello{Version: framing.Version, Role: framing.RoleSender})))
	b.Write(framing.AppendFrame(nil, framing.TypeOffer, framing.AppendOffer(nil, framing.Offer{Files: n})))
	for i := range n {
		f := framing.File{Index: uint32(i), Kind: framing.KindDir, Mode: 0o755, Name: fmt.Sprintf("d%05d", i)}
		b.Write(framing.AppendFrame(nil, framing.TypeFile, framing.AppendFile(nil, f)))
		b.Write(framing.AppendFrame(nil, framing.TypeEnd, framing.AppendEnd(nil, framing.End{Algorithm: framing.ChecksumCRC32C})))
	}
	b.Write(framing.AppendFrame(nil, framing.TypeDone, framing.AppendTotals(nil, framing.Totals{Files: n})))
	if _, err := conn.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	_ = conn.(*net.TCPConn).CloseWrite()
	await(t, sink.finished, "the receiver's Finish")
	// Time for the receiver to reach its wait for the writer: without it
	// the test could pass by luck with the bug, never fail without one.
	time.Sleep(100 * time.Millisecond)
	cancel()
	start := time.Now()
	err := await(t, recvErr, "Receive")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Receive = %v, want the interruption", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Receive returned %s after it was interrupted, want at once", d.Round(time.Millisecond))
	}
}

// TestSenderHandshakeLimit has a peer answer with a receiver's hello and
// then only ping: the sender gives up after four times its timeout, the
// longest an honest but busy receiver keeps it waiting, not never.
func TestSenderHandshakeLimit(t *testing.T) {
	t.Parallel()
	ln := listen(t)
	stop := make(chan struct{})
	defer close(stop)
	fakePeer(ln, func(c net.Conn) {
		w := framing.NewWriter(c)
		_ = w.WriteFrame(framing.TypeHello, framing.AppendHello(nil, framing.Hello{Version: framing.Version, Role: framing.RoleReceiver, Capabilities: framing.CapSecure}))
		go func() { _, _ = io.Copy(io.Discard, c) }()
		keepPinging(w, 100*time.Millisecond, stop)
	})
	const timeout = 500 * time.Millisecond
	_, err := transfer.Send(t.Context(), dial(t, ln.Addr()), []transfer.Source{transfer.StreamSource("x", strings.NewReader("x"))},
		transfer.Options{Code: "12345-67890-12345", Timeout: timeout})
	if !errors.Is(err, transfer.ErrTimeout) || !strings.Contains(err.Error(), "did not finish its handshake within 2s (4 times the timeout)") {
		t.Errorf("Send = %v, want %v saying the handshake did not finish within 2s (4 times the timeout)", err, transfer.ErrTimeout)
	}
}

// failingReader fails its first read, once ready is closed.
type failingReader struct{ ready <-chan struct{} }

func (r failingReader) Read([]byte) (int, error) {
	<-r.ready
	return 0, errors.New("the disk went away")
}

// commitSignal is a Sink whose batches close committed when the entry
// name has been committed.
type commitSignal struct {
	transfer.Sink
	name      string
	committed chan struct{}
}

func (s commitSignal) Begin(o framing.Offer) (transfer.Batch, error) {
	return createHook{s.Sink, s.name, func(d destdir.Destination) (destdir.Destination, error) {
		return commitSignalDest{d, s.committed}, nil
	}}.Begin(o)
}

// createHook is a Sink whose batches pass the destination of the entry
// name, once created, through hook, and give what it returns.
type createHook struct {
	transfer.Sink
	name string
	hook func(destdir.Destination) (destdir.Destination, error)
}

func (s createHook) Begin(o framing.Offer) (transfer.Batch, error) {
	b, err := s.Sink.Begin(o)
	return createHookBatch{b, s}, err
}

type createHookBatch struct {
	transfer.Batch
	s createHook
}

func (b createHookBatch) Create(f destdir.Entry) (destdir.Destination, error) {
	d, err := b.Batch.Create(f)
	if err != nil || f.Name != b.s.name {
		return d, err
	}
	return b.s.hook(d)
}

type commitSignalDest struct {
	destdir.Destination
	committed chan struct{}
}

func (d commitSignalDest) Commit() error {
	defer close(d.committed)
	return d.Destination.Commit()
}

// TestKeptFilesReported has the sender fail reading its second file once
// the first has arrived: the first, whole and verified, is kept, and the
// receiver reports it, so its user can tell what arrived. If a sync fails
// instead, the files it would have placed are gone, and none is reported.
func TestKeptFilesReported(t *testing.T) {
	t.Run("sender fails", func(t *testing.T) {
		dirSink, dir := newDirSink(t, false)
		sink := commitSignal{dirSink, "a.txt", make(chan struct{})}
		srcs := []transfer.Source{
			writeSource(t, "a.txt", textBytes(100), 0o644, time.Now()),
			transfer.StreamSource("b.bin", failingReader{sink.committed}),
		}
		o := run(t, srcs, sink, transfer.Options{}, transfer.Options{})
		if o.sendErr == nil || o.recvErr == nil {
			t.Fatalf("Send = %v, Receive = %v; want both to fail", o.sendErr, o.recvErr)
		}
		onlyEntry(t, dir, "a.txt")
		if len(o.recvDone) != 1 || o.recvDone[0].Name != "a.txt" || o.recvDone[0].Bytes != 100 {
			t.Errorf("the receiver reported %+v, want a.txt, 100 bytes, which it kept", o.recvDone)
		}
	})
	t.Run("sync fails", func(t *testing.T) {
		transfer.FailSyncFile(t, syscall.EIO) // two files: each synced on its own
		sink, dir := newDirSink(t, false)
		srcs := []transfer.Source{
			writeSource(t, "a.txt", textBytes(100), 0o644, time.Now()),
			writeSource(t, "b.txt", textBytes(200), 0o644, time.Now()),
		}
		o := run(t, srcs, sink, transfer.Options{}, transfer.Options{})
		if !errors.Is(o.recvErr, syscall.EIO) {
			t.Fatalf("Receive = %v, want the failed sync", o.recvErr)
		}
		onlyEntry(t, dir)
		if len(o.recvDone) != 0 || o.recvSum.Files != 0 {
			t.Errorf("the receiver reported %+v (summary: %d files) though it kept nothing", o.recvDone, o.recvSum.Files)
		}
	})
}

// TestReceiverHandshakeLimit has a sender send its hello and then only
// ping: the receiver gives up once its timeout from the connection is
// over, pings or not, and says so in the timeout's own words.
func TestReceiverHandshakeLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the wait for a handshake that only pings to run out of time")
	}
	t.Parallel()
	ln := listen(t)
	recvErr := receiveOne(t, t.Context(), ln, transfer.NewStreamSink(io.Discard), transfer.Options{Code: "12345-67890-12345", Timeout: time.Second})
	conn := dial(t, ln.Addr())
	defer conn.Close()
	w := framing.NewWriter(conn)
	if err := w.WriteFrame(framing.TypeHello, framing.AppendHello(nil, framing.Hello{Version: framing.Version, Role: framing.RoleSender, Capabilities: framing.CapSecure})); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, conn) }()
	stop := make(chan struct{})
	defer close(stop)
	go keepPinging(w, 200*time.Millisecond, stop)
	err := await(t, recvErr, "Receive")
	if !errors.Is(err, transfer.ErrTimeout) || !strings.Contains(err.Error(), "did not finish its handshake within 1s") {
		t.Errorf("Receive = %v, want %v saying the handshake did not finish within 1s (--timeout)", err, transfer.ErrTimeout)
	}
}
