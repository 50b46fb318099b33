package transfer_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	"github.com/ferrytool/ferry/transfer"
)

// sizes straddle the chunk boundaries, where off-by-one errors in offsets,
// the last partial chunk and the empty file live.
var sizes = []struct {
	name string
	n    int
}{
	{"empty", 0},
	{"1B", 1},
	{"chunk-1", transfer.ChunkSize - 1},
	{"chunk", transfer.ChunkSize},
	{"chunk+1", transfer.ChunkSize + 1},
	{"3MiB+odd", 3<<20 + 12345},
}

var modes = []codec.Mode{codec.Auto, codec.Zstd, codec.S2, codec.None}

var kinds = []struct {
	name string
	gen  func(n int, seed uint64) []byte
	// compressible data must shrink on the wire in a compressing mode.
	compressible bool
}{
	{"text", func(n int, _ uint64) []byte { return textBytes(n) }, true},
	{"random", randomBytes, false},
}

// checkFile checks a received file's bytes, permission bits and mtime.
func checkFile(t *testing.T, dir, name string, want []byte, mode fs.FileMode, mtime time.Time) {
	t.Helper()
	path := filepath.Join(dir, filepath.FromSlash(name))
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the received file: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("received %d bytes, which differ from the %d sent", len(got), len(want))
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode() != mode {
		t.Errorf("received file mode %v, want %v", info.Mode(), mode)
	}
	if !info.ModTime().Equal(mtime) {
		t.Errorf("received file mtime %v, want %v", info.ModTime(), mtime)
	}
}

// checkResults checks what both sides report for a single-file transfer.
func checkResults(t *testing.T, o outcome, name string, data []byte) {
	t.Helper()
	if o.sendErr != nil || o.recvErr != nil {
		t.Fatalf("send: %v; receive: %v", o.sendErr, o.recvErr)
	}
	want := transfer.Summary{Files: 1, Bytes: int64(len(data))}
	for side, s := range map[string]transfer.Summary{"sender": o.sendSum, "receiver": o.recvSum} {
		if s.Files != want.Files || s.Bytes != want.Bytes {
			t.Errorf("%s summary: %d files, %d bytes; want %d, %d", side, s.Files, s.Bytes, want.Files, want.Bytes)
		}
	}
	for side, done := range map[string][]transfer.FileResult{"sender": o.sendDone, "receiver": o.recvDone} {
		if len(done) != 1 {
			t.Errorf("%s reported %d finished files, want 1", side, len(done))
			continue
		}
		r := done[0]
		if r.Name != name || r.Bytes != int64(len(data)) || r.Checksum != checksum(data) {
			t.Errorf("%s FilesDone = %s, %d bytes, %s; want %s, %d bytes, %s",
				side, r.Name, r.Bytes, r.Checksum, name, len(data), checksum(data))
		}
	}
}

// checkProgress checks that a side's progress only moves forward and ends
// at the whole size.
func checkProgress(t *testing.T, side string, prog []transfer.Progress, size, fileSize int64) {
	t.Helper()
	if size == 0 {
		if len(prog) != 0 {
			t.Errorf("%s reported progress %+v for an empty file", side, prog)
		}
		return
	}
	if len(prog) == 0 {
		t.Errorf("%s reported no progress", side)
		return
	}
	var last int64
	for _, p := range prog {
		if p.Bytes <= last || p.FileBytes != p.Bytes || p.FileSize != fileSize || p.Total != fileSize {
			t.Errorf("%s progress %+v after %d bytes; want it growing, with size and total %d", side, p, last, fileSize)
			return
		}
		last = p.Bytes
	}
	if last != size {
		t.Errorf("%s progress ended at %d bytes, want %d", side, last, size)
	}
}

// TestSendFile sends one regular file of each size, in each compression mode,
// compressible and not, through Serve into a DirSink.
func TestSendFile(t *testing.T) {
	// Nanoseconds set, so a receiver that rounds the mtime is caught.
	mtime := time.Unix(1_600_000_000, 123_456_789)
	const mode = 0o640
	for _, sz := range sizes {
		for _, m := range modes {
			for _, k := range kinds {
				t.Run(fmt.Sprintf("%s/%s/%s", m, k.name, sz.name), func(t *testing.T) {
					t.Parallel()
					data := k.gen(sz.n, uint64(sz.n))
					src := writeSource(t, "data.bin", data, mode, mtime)
					sink, dir := newDirSink(t, false)
					o := run(t, []transfer.Source{src}, sink, transfer.Options{Compression: m}, transfer.Options{})
					checkResults(t, o, "data.bin", data)
					checkFile(t, dir, "data.bin", data, mode, mtime)
					onlyEntry(t, dir, "data.bin")
					checkProgress(t, "sender", o.sendProg, int64(sz.n), int64(sz.n))
					checkProgress(t, "receiver", o.recvProg, int64(sz.n), int64(sz.n))
					// The wire shows whether the mode took effect: text must
					// shrink when compressing, nothing may shrink otherwise.
					if sz.n >= 1<<20 {
						compressing := m != codec.None && k.compressible
						if shrunk := o.wire < int64(sz.n)/2; shrunk != compressing {
							t.Errorf("%d bytes on the wire for %d of %s data with -z %s", o.wire, sz.n, k.name, m)
						}
					}
				})
			}
		}
	}
}

// TestSendStream sends a stream of unknown length, as from stdin, to a
// StreamSink (stdout) and to a DirSink.
func TestSendStream(t *testing.T) {
	readers := []struct {
		name string
		wrap func([]byte) io.Reader
		gen  func(n int, seed uint64) []byte
	}{
		// Full reads of compressible data, in the default mode.
		{"whole", func(b []byte) io.Reader { return bytes.NewReader(b) }, func(n int, _ uint64) []byte { return textBytes(n) }},
		// Pipe-like short reads, so chunks are small and uneven.
		{"uneven", func(b []byte) io.Reader { return &unevenReader{data: b} }, randomBytes},
	}
	streamSizes := []struct {
		name string
		n    int
	}{{"empty", 0}, {"1B", 1}, {"chunk+1", transfer.ChunkSize + 1}, {"3MiB+odd", 3<<20 + 12345}}
	for _, sinkKind := range []string{"stdout", "dir"} {
		for _, r := range readers {
			for _, sz := range streamSizes {
				t.Run(fmt.Sprintf("%s/%s/%s", sinkKind, r.name, sz.name), func(t *testing.T) {
					t.Parallel()
					data := r.gen(sz.n, uint64(sz.n)+7)
					// StreamSource stamps the time it is made; the received
					// file must carry exactly that, so bracket it.
					before := time.Now()
					src := transfer.StreamSource("stream.out", r.wrap(data))
					after := time.Now()
					if src.Size != -1 {
						t.Fatalf("StreamSource size %d, want -1 (unknown)", src.Size)
					}
					var out bytes.Buffer
					var sink transfer.Sink = transfer.NewStreamSink(&out)
					var dir string
					if sinkKind == "dir" {
						sink, dir = newDirSink(t, false)
					}
					o := run(t, []transfer.Source{src}, sink, transfer.Options{}, transfer.Options{})
					checkResults(t, o, "stream.out", data)
					checkProgress(t, "sender", o.sendProg, int64(sz.n), -1)
					checkProgress(t, "receiver", o.recvProg, int64(sz.n), -1)
					if sinkKind == "stdout" {
						if !bytes.Equal(out.Bytes(), data) {
							t.Errorf("stdout got %d bytes that differ from the %d sent", out.Len(), len(data))
						}
						return
					}
					onlyEntry(t, dir, "stream.out")
					info, err := os.Stat(filepath.Join(dir, "stream.out"))
					if err != nil {
						t.Fatal(err)
					}
					if mt := info.ModTime(); mt.Before(before.Round(0)) || mt.After(after.Round(0)) {
						t.Errorf("received mtime %v outside [%v, %v]", mt, before, after)
					}
					checkFile(t, dir, "stream.out", data, 0o644, info.ModTime())
				})
			}
		}
	}
}

// TestSendSeveral sends several files in one transfer, one into a
// subdirectory, and checks that they arrive in order and are counted once.
func TestSendSeveral(t *testing.T) {
	mtime := time.Unix(1_500_000_000, 1)
	files := []struct {
		name string
		data []byte
		mode fs.FileMode
	}{
		{"a.txt", textBytes(1000), 0o644},
		{"d.txt", textBytes(transfer.ChunkSize * 2), 0o444},
		{"empty", nil, 0o600},
		{"sub/dir/c.bin", randomBytes(transfer.ChunkSize+3, 9), 0o755},
	}
	var sources []transfer.Source
	var total int64
	for _, f := range files {
		src := writeSource(t, filepath.Base(f.name), f.data, f.mode, mtime)
		src.Name = f.name
		sources = append(sources, src)
		total += int64(len(f.data))
	}
	sink, dir := newDirSink(t, false)
	o := run(t, sources, sink, transfer.Options{}, transfer.Options{})
	if o.sendErr != nil || o.recvErr != nil {
		t.Fatalf("send: %v; receive: %v", o.sendErr, o.recvErr)
	}
	for side, s := range map[string]transfer.Summary{"sender": o.sendSum, "receiver": o.recvSum} {
		if s.Files != len(files) || s.Bytes != total {
			t.Errorf("%s summary: %d files, %d bytes; want %d, %d", side, s.Files, s.Bytes, len(files), total)
		}
	}
	for side, done := range map[string][]transfer.FileResult{"sender": o.sendDone, "receiver": o.recvDone} {
		if len(done) != len(files) {
			t.Fatalf("%s reported %d finished files, want %d", side, len(done), len(files))
		}
		for i, f := range files {
			if r := done[i]; r.Name != f.name || r.Checksum != checksum(f.data) {
				t.Errorf("%s FilesDone %d = %s %s, want %s %s", side, i, r.Name, r.Checksum, f.name, checksum(f.data))
			}
		}
	}
	for _, f := range files {
		checkFile(t, dir, f.name, f.data, f.mode, mtime)
	}
	onlyEntry(t, dir, "a.txt", "d.txt", "empty", "sub/", "sub/dir/", "sub/dir/c.bin")
}

// TestStreamSinkOneFile checks that stdout refuses a transfer of several
// files before any data is written, and tells the sender why.
func TestStreamSinkOneFile(t *testing.T) {
	var out bytes.Buffer
	srcs := []transfer.Source{
		transfer.StreamSource("a", bytes.NewReader([]byte("aaa"))),
		transfer.StreamSource("b", bytes.NewReader([]byte("bbb"))),
	}
	o := run(t, srcs, transfer.NewStreamSink(&out), transfer.Options{}, transfer.Options{})
	if pe := peerError(t, o.sendErr); pe.Code != framing.CodeUnsupported {
		t.Errorf("sender's error %v has code %d, want %d (unsupported)", pe, pe.Code, framing.CodeUnsupported)
	}
	if o.recvErr == nil {
		t.Error("the receiver reported success")
	}
	if out.Len() != 0 {
		t.Errorf("%d bytes reached stdout", out.Len())
	}
}

// TestServeKeepOpen serves two senders in turn on one listener, then ends
// Serve through its context.
func TestServeKeepOpen(t *testing.T) {
	ln := listen(t)
	sink, dir := newDirSink(t, false)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	finished := make(chan error, 2)
	served := make(chan error, 1)
	go func() {
		served <- transfer.Serve(ctx, ln, sink, transfer.ServeOptions{
			KeepOpen: true,
			Finished: func(_ net.Addr, _ transfer.Summary, err error) { finished <- err },
		})
	}()
	for _, name := range []string{"one", "two"} {
		data := textBytes(5000)
		_, err := transfer.Send(t.Context(), dial(t, ln.Addr()), []transfer.Source{transfer.StreamSource(name, bytes.NewReader(data))}, transfer.Options{})
		if err != nil {
			t.Fatalf("sending %s: %v", name, err)
		}
		if err := await(t, finished, "the receiving side of "+name); err != nil {
			t.Fatalf("receiving %s: %v", name, err)
		}
	}
	cancel()
	if err := await(t, served, "Serve"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Serve after cancel = %v, want context.Canceled", err)
	}
	onlyEntry(t, dir, "one", "two")
}

// failingListener is a listener whose first Accepts fail with errs, in
// order, before it accepts as ln does.
type failingListener struct {
	net.Listener
	mu   sync.Mutex
	errs []error
}

func (l *failingListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

// TestServeAcceptFails checks that Serve goes on accepting after a failure
// that passes (out of descriptors, a connection reset before it was
// accepted) and returns after any other.
func TestServeAcceptFails(t *testing.T) {
	acceptErr := func(errno syscall.Errno) error {
		return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
	}
	tests := []struct {
		name    string
		errs    []error
		wantErr string // Serve's error, or "" if the sender is served
	}{
		{name: "out of descriptors", errs: []error{acceptErr(syscall.EMFILE), acceptErr(syscall.EMFILE), acceptErr(syscall.ENFILE)}},
		{name: "connection aborted", errs: []error{acceptErr(syscall.ECONNABORTED)}},
		{name: "anything else", errs: []error{acceptErr(syscall.EINVAL)}, wantErr: "accepting connections: accept tcp: accept4: invalid argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ln := &failingListener{Listener: listen(t), errs: tt.errs}
			sink, dir := newDirSink(t, false)
			served := make(chan error, 1)
			go func() { served <- transfer.Serve(t.Context(), ln, sink, transfer.ServeOptions{}) }()
			if tt.wantErr != "" {
				if err := await(t, served, "Serve"); err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Serve = %v, want %q", err, tt.wantErr)
				}
				return
			}
			data := textBytes(3000)
			if _, err := transfer.Send(t.Context(), dial(t, ln.Addr()), []transfer.Source{transfer.StreamSource("f", bytes.NewReader(data))}, transfer.Options{}); err != nil {
				t.Fatalf("Send = %v", err)
			}
			if err := await(t, served, "Serve"); err != nil {
				t.Fatalf("Serve = %v", err)
			}
			onlyEntry(t, dir, "f")
		})
	}
}

// TestServeNoTransfer checks that Serve without KeepOpen takes a
// connection that was no transfer for no sender: it reports it and waits
// for the next. A port check closes without a byte, or resets (closing with
// the receiver's hello unread does that); a probe or a netcat sends
// something that is not ferry.
func TestServeNoTransfer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		want    error // nil: a *transfer.Error from the peer
		peer    func(conn *net.TCPConn)
		timeout time.Duration // the receiver's; 0 for the default
		code    string        // the receiver's and the sender's after the probe
	}{
		{"closed", transfer.ErrSilentPeer, func(*net.TCPConn) {}, 0, ""},
		{"reset", transfer.ErrSilentPeer, func(c *net.TCPConn) { _ = c.SetLinger(0) }, 0, ""},
		{"not ferry", framing.ErrNotFerry, func(c *net.TCPConn) {
			_, _ = c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
			_ = c.CloseWrite()
			_, _ = io.Copy(io.Discard, c)
		}, 0, ""},
		// Held open until the receiver gives up on it, which a short
		// timeout makes soon; the sender after it has the same timeout,
		// so the two ping each other meanwhile.
		{"held open without a byte", transfer.ErrTimeout, func(c *net.TCPConn) { _, _ = io.Copy(io.Discard, c) }, time.Second, ""},
		// One stray byte, the start of no hello, and the connection held
		// open: a hello cut short is no transfer either.
		{"one stray byte held open", transfer.ErrTimeout, func(c *net.TCPConn) {
			_, _ = c.Write([]byte{0x01})
			_, _ = io.Copy(io.Discard, c)
		}, time.Second, ""},
		{"one stray byte held open, with a code", transfer.ErrTimeout, func(c *net.TCPConn) {
			_, _ = c.Write([]byte{0x01})
			_, _ = io.Copy(io.Discard, c)
		}, time.Second, "12345-67890-12345"},
		// A ferry send interrupted before its code was tried: its hello,
		// then its abort.
		{"aborted before its code", nil, func(c *net.TCPConn) {
			w := framing.NewWriter(c)
			_ = w.WriteFrame(framing.TypeHello, framing.AppendHello(nil, framing.Hello{Version: framing.Version, Role: framing.RoleSender, Capabilities: framing.CapSecure}))
			_ = w.WriteFrame(framing.TypeAbort, framing.AppendAbort(nil, "interrupted"))
			_ = c.CloseWrite()
			_, _ = io.Copy(io.Discard, c)
		}, 0, "12345-67890-12345"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ln := listen(t)
			sink, dir := newDirSink(t, false)
			finished := make(chan error, 2)
			served := make(chan error, 1)
			go func() {
				served <- transfer.ServeWith(t.Context(), ln, sink, transfer.Options{Timeout: tc.timeout, Code: tc.code}, transfer.ServeOptions{
					Finished: func(_ net.Addr, _ transfer.Summary, err error) { finished <- err },
				})
			}()
			probe := dial(t, ln.Addr())
			tc.peer(probe.(*net.TCPConn))
			_ = probe.Close()
			err := await(t, finished, "the probe's connection")
			pe := (*transfer.Error)(nil)
			if tc.want == nil && !errors.As(err, &pe) || tc.want != nil && !errors.Is(err, tc.want) || !transfer.NoTransfer(err) {
				t.Fatalf("the probe's connection ended with %v, want %v, taken for no transfer", err, cmp.Or[any](tc.want, "the sender's abort"))
			}
			if _, err := transfer.Send(t.Context(), dial(t, ln.Addr()), []transfer.Source{transfer.StreamSource("f", bytes.NewReader(textBytes(100)))}, transfer.Options{Timeout: tc.timeout, Code: tc.code}); err != nil {
				t.Fatalf("Send after the probe: %v", err)
			}
			if err := await(t, served, "Serve"); err != nil {
				t.Fatalf("Serve = %v", err)
			}
			onlyEntry(t, dir, "f")
		})
	}
}

// TestServeBusy fills a KeepOpen receiver's connections (two here, instead
// of MaxConns) with senders whose input pauses: the next sender is told the
// receiver is busy, at once; once a transfer is over, a sender gets in.
// (Connections without their hello make room instead: TestServeFlood.)
func TestServeBusy(t *testing.T) {
	t.Parallel()
	ln := listen(t)
	inner, dir := newDirSink(t, false)
	sink := beginSignal{inner, make(chan struct{}, 2)}
	finished := make(chan error, 4)
	go func() {
		_ = transfer.ServeWith(t.Context(), ln, sink, transfer.WithMaxConns(transfer.Options{}, 2), transfer.ServeOptions{
			KeepOpen: true,
			Finished: func(_ net.Addr, _ transfer.Summary, err error) { finished <- err },
		})
	}()
	send := func(name string, r io.Reader) error {
		_, err := transfer.Send(t.Context(), dial(t, ln.Addr()), []transfer.Source{transfer.StreamSource(name, r)}, transfer.Options{})
		return err
	}
	var feeds []*io.PipeWriter
	sent := make(chan error, 2)
	for i := range 2 {
		input, feed := io.Pipe()
		defer feed.Close()
		feeds = append(feeds, feed)
		go func() { sent <- send(fmt.Sprintf("paused-%d", i), input) }()
		await(t, sink.begun, "a paused sender's offer")
	}
	err := send("f", bytes.NewReader(textBytes(100)))
	if pe := (*transfer.Error)(nil); !errors.As(err, &pe) || !strings.Contains(pe.Err.Error(), "busy: the receiver is serving 2 connections") {
		t.Fatalf("Send to a full receiver = %v, want it told the receiver is busy", err)
	}
	_ = feeds[0].Close()
	if err := await(t, sent, "the first paused sender"); err != nil {
		t.Fatalf("the first paused sender: Send = %v", err)
	}
	if err := await(t, finished, "the first paused sender's connection"); err != nil {
		t.Fatalf("the first paused sender's connection ended with %v", err)
	}
	if err := send("f", bytes.NewReader(textBytes(100))); err != nil {
		t.Fatalf("Send once a connection was free: %v", err)
	}
	_ = feeds[1].Close()
	if err := await(t, sent, "the second paused sender"); err != nil {
		t.Fatalf("the second paused sender: Send = %v", err)
	}
	onlyEntry(t, dir, "f", "paused-0", "paused-1")
}

// TestServeOneBusy connects a second sender while a Serve without KeepOpen
// is receiving from a first: it is told at once that the receiver is busy
// with another transfer, not left waiting for a hello; the first transfer
// completes and Serve returns. The first, whose hello came, is never
// displaced, however long ago it connected (no grace at all here).
func TestServeOneBusy(t *testing.T) {
	t.Parallel()
	ln := listen(t)
	inner, dir := newDirSink(t, false)
	sink := beginSignal{inner, make(chan struct{}, 2)}
	turnedAway := make(chan net.Addr, 2)
	served := make(chan error, 1)
	go func() {
		served <- transfer.ServeWith(t.Context(), ln, sink, transfer.WithDisplaceAfter(transfer.Options{}, 0), transfer.ServeOptions{
			Busy: func(peer net.Addr) { turnedAway <- peer },
		})
	}()
	input, feed := io.Pipe()
	first := make(chan error, 1)
	go func() {
		_, err := transfer.Send(t.Context(), dial(t, ln.Addr()), []transfer.Source{transfer.StreamSource("first", input)}, transfer.Options{})
		first <- err
	}()
	await(t, sink.begun, "the first sender's offer")
	second := dial(t, ln.Addr())
	_, err := transfer.Send(t.Context(), second, []transfer.Source{transfer.StreamSource("second", strings.NewReader("2"))}, transfer.Options{})
	if pe := (*transfer.Error)(nil); !errors.As(err, &pe) || !strings.Contains(pe.Err.Error(), "busy: the receiver is serving another connection") {
		t.Errorf("the second Send = %v, want it told the receiver is busy with another transfer", err)
	}
	await(t, turnedAway, "the Busy report")
	if _, err := feed.Write([]byte("one")); err != nil {
		t.Fatal(err)
	}
	_ = feed.Close()
	if err := await(t, first, "the first Send"); err != nil {
		t.Errorf("the first Send = %v", err)
	}
	if err := await(t, served, "Serve"); err != nil {
		t.Errorf("Serve = %v", err)
	}
	onlyEntry(t, dir, "first")
}

// TestServeOneDisplacesSilent has a connection that sends nothing held
// open on a Serve without KeepOpen when a sender comes: once it has been
// silent longer than Serve allows, it is closed and the sender served;
// before that, the sender is told the receiver is busy.
func TestServeOneDisplacesSilent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		after     time.Duration
		displaced bool
	}{
		{"silent past the limit", 0, true},
		{"silent within the limit", time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ln := listen(t)
			sink, dir := newDirSink(t, false)
			connected := make(chan net.Addr, 2)
			finished := make(chan error, 2)
			turnedAway := make(chan net.Addr, 1)
			served := make(chan error, 1)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			go func() {
				served <- transfer.ServeWith(ctx, ln, sink, transfer.WithDisplaceAfter(transfer.Options{}, tt.after), transfer.ServeOptions{
					Connected: func(peer net.Addr) { connected <- peer },
					Finished:  func(_ net.Addr, _ transfer.Summary, err error) { finished <- err },
					Busy:      func(peer net.Addr) { turnedAway <- peer },
				})
			}()
			silent := dial(t, ln.Addr())
			defer silent.Close()
			await(t, connected, "the silent connection")
			_, err := transfer.Send(t.Context(), dial(t, ln.Addr()), []transfer.Source{transfer.StreamSource("sent", strings.NewReader("data"))}, transfer.Options{})
			if !tt.displaced {
				if pe := (*transfer.Error)(nil); !errors.As(err, &pe) || !strings.Contains(pe.Err.Error(), "busy") {
					t.Errorf("Send = %v, want it told the receiver is busy", err)
				}
				await(t, turnedAway, "the Busy report")
				onlyEntry(t, dir)
				return
			}
			if err != nil {
				t.Errorf("Send = %v, want the sender served", err)
			}
			if err := await(t, finished, "the silent connection's end"); !errors.Is(err, transfer.ErrDisplaced) || !transfer.NoTransfer(err) {
				t.Errorf("the silent connection ended with %v, want ErrDisplaced, no transfer", err)
			}
			// Past the receiver's hello, the connection ends.
			_ = silent.SetReadDeadline(time.Now().Add(guard))
			if _, err := io.ReadAll(silent); errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("the silent connection is still open after %s, want it closed", guard)
			}
			if err := await(t, served, "Serve"); err != nil {
				t.Errorf("Serve = %v, want the sender's transfer's outcome, nil", err)
			}
			onlyEntry(t, dir, "sent")
		})
	}
}

// beginSignal is a Sink that signals begun when a transfer's offer came.
type beginSignal struct {
	transfer.Sink
	begun chan struct{}
}

func (s beginSignal) Begin(o framing.Offer) (transfer.Batch, error) {
	b, err := s.Sink.Begin(o)
	s.begun <- struct{}{}
	return b, err
}

// unreachableFirst is a Listener whose first connection fails its first
// Read, before any byte, with EHOSTUNREACH: an end that is a transfer's
// (no NoTransfer), though nothing was heard.
type unreachableFirst struct {
	net.Listener
	accepted bool
}

func (l *unreachableFirst) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil && !l.accepted {
		l.accepted = true
		return unreachableConn{c}, nil
	}
	return c, err
}

type unreachableConn struct{ net.Conn }

func (unreachableConn) Read([]byte) (int, error) {
	return 0, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.EHOSTUNREACH)}
}

// TestServeOneEndedNotDisplaced has a connection come while a Serve
// without KeepOpen reports the end of its one transfer, whose peer sent
// nothing: it is too late to displace that one, so the newcomer is told
// the receiver is busy and Serve returns the transfer's outcome.
func TestServeOneEndedNotDisplaced(t *testing.T) {
	t.Parallel()
	ln := &unreachableFirst{Listener: listen(t)}
	sink, _ := newDirSink(t, false)
	turnedAway := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() {
		served <- transfer.ServeWith(t.Context(), ln, sink, transfer.WithDisplaceAfter(transfer.Options{}, 0), transfer.ServeOptions{
			Busy: func(peer net.Addr) { turnedAway <- peer },
			Finished: func(net.Addr, transfer.Summary, error) {
				newcomer, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Errorf("dial: %v", err)
					return
				}
				defer newcomer.Close()
				select {
				case <-turnedAway:
				case <-time.After(guard):
					t.Errorf("a connection that came as the transfer ended was not turned away within %s", guard)
				}
			},
		})
	}()
	conn := dial(t, ln.Addr())
	defer conn.Close()
	if err := await(t, served, "Serve"); !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Errorf("Serve = %v, want the transfer's EHOSTUNREACH", err)
	}
}

// errAfterFirst accepts one connection, then fails its next Accept with
// EINVAL once release is closed.
type errAfterFirst struct {
	net.Listener
	accepted bool
	release  chan struct{}
}

func (l *errAfterFirst) Accept() (net.Conn, error) {
	if !l.accepted {
		l.accepted = true
		return l.Listener.Accept()
	}
	<-l.release
	return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EINVAL)}
}

// TestServeOneAcceptFailsMidTransfer has accepting fail while a Serve
// without KeepOpen receives its one transfer: Serve waits for the
// transfer and returns its outcome, not the accept error.
func TestServeOneAcceptFailsMidTransfer(t *testing.T) {
	t.Parallel()
	ln := &errAfterFirst{Listener: listen(t), release: make(chan struct{})}
	sink, dir := newDirSink(t, false)
	connected := make(chan struct{}, 1)
	served := make(chan error, 1)
	go func() {
		served <- transfer.Serve(t.Context(), ln, sink, transfer.ServeOptions{Connected: func(net.Addr) { connected <- struct{}{} }})
	}()
	input, feed := io.Pipe()
	sent := make(chan error, 1)
	go func() {
		_, err := transfer.Send(t.Context(), dial(t, ln.Addr()), []transfer.Source{transfer.StreamSource("f", input)}, transfer.Options{})
		sent <- err
	}()
	await(t, connected, "the sender's connection")
	close(ln.release)
	// Time for Serve to meet the failed accept while the transfer is in
	// flight: without it the test could pass by luck with the bug.
	time.Sleep(100 * time.Millisecond)
	_, _ = feed.Write([]byte("data"))
	_ = feed.Close()
	if err := await(t, sent, "Send"); err != nil {
		t.Fatalf("Send = %v", err)
	}
	if err := await(t, served, "Serve"); err != nil {
		t.Errorf("Serve = %v, want the transfer's outcome, nil", err)
	}
	onlyEntry(t, dir, "f")
}
