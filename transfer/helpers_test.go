package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/transfer"
)

// TestMain fails the package if a test leaves a goroutine behind: every
// link runs a writer goroutine and Send a reader and a producer, and each
// must end with its transfer, however the transfer ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// guard bounds every wait, so a hang fails its test rather than the whole
// run. It never orders events; channels do that.
const guard = time.Minute

// await waits for ch to close or yield, or fails the test after guard.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(guard):
		t.Fatalf("%s did not finish within %s", what, guard)
		panic("unreachable")
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

func dial(t *testing.T, addr net.Addr) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return conn
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum is the FileResult checksum of data, computed independently of the
// package under test.
func checksum(data []byte) string {
	return fmt.Sprintf("crc32c:%08x", crc32.Checksum(data, castagnoli))
}

// randomBytes returns n incompressible bytes, the same for a given seed so a
// failure reproduces.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 'f'})
	_, _ = r.Read(b)
	return b
}

// textBytes returns n bytes of varied but repetitive text that every codec
// compresses several times over.
func textBytes(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%08d the quick brown fox jumps over the lazy dog\n", i*7919)
	}
	return b.Bytes()[:n]
}

// endless is a stream that never ends and never blocks, like a fast pipe
// from a producer that does not stop: a sender reading it finishes only by
// failing.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i * 31)
	}
	return len(p), nil
}

// unevenReader hands out its data in reads of varying, mostly small sizes,
// as a pipe does, so a stream's chunks do not line up with ChunkSize.
type unevenReader struct {
	data []byte
	n    int
}

func (r *unevenReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	r.n++
	k := min(len(p), len(r.data), 1+(r.n*7919)%70000)
	copy(p, r.data[:k])
	r.data = r.data[k:]
	return k, nil
}

// recorder collects what a transfer reports through Options callbacks. The
// callbacks run on transfer goroutines, hence the lock.
type recorder struct {
	mu       sync.Mutex
	done     []transfer.FileResult
	progress []transfer.Progress
}

func (r *recorder) options(o transfer.Options) transfer.Options {
	o.FilesDone = func(frs []transfer.FileResult) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.done = append(r.done, frs...)
	}
	progress := o.Progress
	o.Progress = func(p transfer.Progress) {
		r.mu.Lock()
		r.progress = append(r.progress, p)
		r.mu.Unlock()
		if progress != nil {
			progress(p)
		}
	}
	return o
}

func (r *recorder) results() ([]transfer.FileResult, []transfer.Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done, r.progress
}

// countingListener counts the bytes the receiving side reads, which are the
// bytes the sender put on the wire. Counting on the sender's side would miss
// them: the frame writer hands a *net.TCPConn's buffers straight to writev.
type countingListener struct {
	net.Listener
	n     atomic.Int64
	conns atomic.Int64 // connections accepted
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.conns.Add(1)
	// Embedding *net.TCPConn keeps CloseWrite, which the receiver relies on.
	return &countingConn{TCPConn: c.(*net.TCPConn), n: &l.n}, nil
}

type countingConn struct {
	*net.TCPConn
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// outcome is how both ends of one transfer finished.
type outcome struct {
	sendSum, recvSum   transfer.Summary
	sendErr, recvErr   error
	sendDone, recvDone []transfer.FileResult
	sendProg, recvProg []transfer.Progress
	wire               int64 // bytes from sender to receiver
	conns              int64 // connections the receiver accepted
}

// run sends sources over loopback TCP to transfer.Serve, which receives one
// connection into sink, and returns when both sides have finished.
func run(t *testing.T, sources []transfer.Source, sink transfer.Sink, sendOpts, recvOpts transfer.Options) outcome {
	t.Helper()
	ln := &countingListener{Listener: listen(t)}
	var o outcome
	var sendRec, recvRec recorder
	ctx := t.Context()
	served := make(chan struct{})
	go func() {
		defer close(served)
		o.recvErr = transfer.ServeWith(ctx, ln, sink, recvRec.options(recvOpts), transfer.ServeOptions{
			Finished: func(_ net.Addr, s transfer.Summary, _ error) {
				o.recvSum = s
			},
		})
	}()
	conn := dial(t, ln.Addr())
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		o.sendSum, o.sendErr = transfer.Send(ctx, conn, sources, sendRec.options(sendOpts))
	}()
	await(t, sent, "Send")
	await(t, served, "Serve")
	o.sendDone, o.sendProg = sendRec.results()
	o.recvDone, o.recvProg = recvRec.results()
	o.wire = ln.n.Load()
	o.conns = ln.conns.Load()
	return o
}

// receiveOne accepts one connection on ln and runs Receive on it in the
// background; the returned channel yields Receive's error.
func receiveOne(t *testing.T, ctx context.Context, ln net.Listener, sink transfer.Sink, opts transfer.Options) <-chan error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			errc <- err
			return
		}
		_, err = transfer.Receive(ctx, conn, sink, opts)
		errc <- err
	}()
	return errc
}

// keepPinging writes an empty ping on w every interval, as a peer that is
// alive but does nothing else, until stop is closed or a write fails.
func keepPinging(w *framing.Writer, every time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			if w.WriteFrame(framing.TypePing, nil) != nil {
				return
			}
		}
	}
}

// fakePeer accepts one connection on ln and hands it to play in the
// background, closing it afterwards; the returned channel closes when play
// returns. Tests use it to stand in for a peer that misbehaves.
func fakePeer(ln net.Listener, play func(conn net.Conn)) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		play(conn)
	}()
	return done
}

// newDirSink opens a DirSink on a fresh directory, which is the sole entry of
// its parent, so a test can see that nothing was written next to it either.
func newDirSink(t *testing.T, overwrite bool) (*transfer.DirSink, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "recv")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sink, err := transfer.NewDirSink(dir, overwrite)
	if err != nil {
		t.Fatalf("NewDirSink: %v", err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	return sink, dir
}

// tree lists every path under dir, relative and slash-separated, directories
// with a trailing slash. The data a receiver keeps of files whose transfer
// failed, for the same files sent again to resume, is no entry: tree
// leaves out dir's .ferry-partial (docs/receiver-disk.md).
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		if d.IsDir() && d.Name() == ".ferry-partial" && filepath.Dir(p) == dir {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			rel += "/"
		}
		names = append(names, rel)
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", dir, err)
	}
	return names
}

// noTempFiles fails the test if a receiver's temporary file was left in dir.
func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	for _, name := range tree(t, dir) {
		base := filepath.Base(name)
		if strings.HasPrefix(base, ".ferry-") && strings.HasSuffix(base, ".part") {
			t.Errorf("temporary file %s left in the receiving directory", name)
		}
	}
}

// onlyEntry fails the test unless the receiving directory is the only thing
// in its parent and holds exactly want: no temporary file, nothing outside.
func onlyEntry(t *testing.T, dir string, want ...string) {
	t.Helper()
	noTempFiles(t, dir)
	for _, p := range tree(t, filepath.Dir(dir)) {
		if !strings.HasPrefix(p, "recv/") {
			t.Errorf("%s was created next to the receiving directory", p)
		}
	}
	got := tree(t, dir)
	if len(got) != len(want) || (len(want) > 0 && strings.Join(got, "\n") != strings.Join(want, "\n")) {
		t.Errorf("receiving directory holds %q, want %q", got, want)
	}
}

// peerError returns the *transfer.Error the peer reported in err, failing
// the test if it holds none.
func peerError(t *testing.T, err error) *transfer.Error {
	t.Helper()
	var pe *transfer.Error
	if !errors.As(err, &pe) || !pe.Remote {
		t.Fatalf("error %v (%T) is not a *transfer.Error the peer reported", err, err)
	}
	return pe
}

// writeSource creates a file with the given contents, mode and mtime and
// returns it as a Source.
func writeSource(t *testing.T, name string, data []byte, mode fs.FileMode, mtime time.Time) transfer.Source {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// Explicit, since WriteFile's mode passes through the umask.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	srcs, err := transfer.Collect(t.Context(), []string{path}, func(p, why string) { t.Errorf("Collect skipped %s: %s", p, why) })
	if err != nil || len(srcs) != 1 {
		t.Fatalf("Collect(%s) = %d sources, %v; want one", path, len(srcs), err)
	}
	return srcs[0]
}
