package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/codec"
	"github.com/ferrytool/ferry/internal/secure"
	"github.com/ferrytool/ferry/transfer"
)

// testCode is a code as secure.NewCode makes them.
const testCode = "48210-93755-62184"

// ciphers are the names Options.Secured may report.
var ciphers = []string{secure.AES256GCM.String(), secure.ChaCha20Poly1305.String()}

// securedCalls records the cipher names a side's Options.Secured reported.
// The callback runs on a transfer goroutine, hence the lock.
type securedCalls struct {
	mu    sync.Mutex
	names []string
}

func (s *securedCalls) options(o transfer.Options) transfer.Options {
	o.Secured = func(cipher string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.names = append(s.names, cipher)
	}
	return o
}

func (s *securedCalls) calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.names)
}

// treeFile is an entry of the tree secureTree makes.
type treeFile struct {
	name string // relative to the tree's parent, slash-separated
	data []byte // nil for a directory
	mode fs.FileMode
}

// secureTree makes a directory tree to send with Collect: files of several
// sizes and modes, an empty file, a subdirectory, all with mtime, which
// should have nanoseconds so that rounding shows. It returns the tree's
// root, its files, and its directories, deepest first.
func secureTree(t *testing.T, mtime time.Time) (root string, files []treeFile, dirs []treeFile) {
	t.Helper()
	parent := t.TempDir()
	files = []treeFile{
		{"tree/a.txt", textBytes(1000), 0o644},
		{"tree/sub/b.bin", randomBytes(1<<20+17, 3), 0o600},
		{"tree/sub/c.txt", textBytes(3*transfer.ChunkSize + 5), 0o755},
		{"tree/sub/empty", nil, 0o640},
	}
	dirs = []treeFile{{name: "tree/sub", mode: 0o750}, {name: "tree", mode: 0o755}}
	for _, f := range files {
		p := filepath.Join(parent, filepath.FromSlash(f.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	// Deepest first: filling a directory changes its mtime.
	for _, d := range dirs {
		p := filepath.Join(parent, filepath.FromSlash(d.name))
		if err := os.Chmod(p, d.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(parent, "tree"), files, dirs
}

// TestSecureTransfer sends a directory tree and a stream in the encrypted
// mode: everything must arrive as in the plain mode, both sides must report
// the same cipher once, and codes that normalize alike must work together.
func TestSecureTransfer(t *testing.T) {
	mtime := time.Unix(1_650_000_000, 987_654_321)
	tests := []struct {
		name               string
		sendCode, recvCode string
		compression        codec.Mode
	}{
		{name: "same code", sendCode: testCode, recvCode: testCode, compression: codec.Auto},
		{name: "same code, -z none", sendCode: testCode, recvCode: testCode, compression: codec.None},
		{name: "same code, -z zstd", sendCode: testCode, recvCode: testCode, compression: codec.Zstd},
		{name: "lower case", sendCode: "K7Q-M2X-RD9", recvCode: "k7q-m2x-rd9", compression: codec.Auto},
		{name: "no dashes", sendCode: testCode, recvCode: "482109375562184", compression: codec.Auto},
		{name: "regrouped with spaces", sendCode: "482 1093 7556 2184", recvCode: testCode, compression: codec.None},
		{name: "O for 0", sendCode: "0A0-B0C-D00", recvCode: "oAO-BoC-DOo", compression: codec.Auto},
		{name: "I and L for 1", sendCode: "1A1-B1C-D11", recvCode: "iAl-BLC-DIi", compression: codec.Auto},
		{name: "passphrase", sendCode: "correct horse battery staple", recvCode: "CORRECT-HORSE-BATTERY-STAPLE", compression: codec.Auto},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if n1, n2 := secure.NormalizeCode(tt.sendCode), secure.NormalizeCode(tt.recvCode); n1 != n2 {
				t.Fatalf("test case broken: the codes normalize to %q and %q", n1, n2)
			}
			root, files, dirs := secureTree(t, mtime)
			sources, err := transfer.Collect(t.Context(), []string{root}, func(p, why string) { t.Errorf("Collect skipped %s: %s", p, why) })
			if err != nil {
				t.Fatal(err)
			}
			stream := textBytes(transfer.ChunkSize + 77)
			src := transfer.StreamSource("stream.out", &unevenReader{data: stream})
			sources = append(sources, src)

			sink, dir := newDirSink(t, false)
			var sendSec, recvSec securedCalls
			o := run(t, sources, sink,
				sendSec.options(transfer.Options{Code: tt.sendCode, Compression: tt.compression}),
				recvSec.options(transfer.Options{Code: tt.recvCode}))
			if o.sendErr != nil || o.recvErr != nil {
				t.Fatalf("send: %v; receive: %v", o.sendErr, o.recvErr)
			}

			var total int64
			for _, f := range files {
				checkFile(t, dir, f.name, f.data, f.mode, mtime)
				total += int64(len(f.data))
			}
			for _, d := range dirs {
				checkDir(t, dir, d.name, d.mode, mtime)
			}
			checkFile(t, dir, "stream.out", stream, 0o644, src.ModTime)
			total += int64(len(stream))
			onlyEntry(t, dir, "stream.out", "tree/", "tree/a.txt", "tree/sub/", "tree/sub/b.bin", "tree/sub/c.txt", "tree/sub/empty")
			for side, s := range map[string]transfer.Summary{"sender": o.sendSum, "receiver": o.recvSum} {
				if s.Files != len(files)+1 || s.Dirs != len(dirs) || s.Bytes != total {
					t.Errorf("%s summary: %d files, %d dirs, %d bytes; want %d, %d, %d", side, s.Files, s.Dirs, s.Bytes, len(files)+1, len(dirs), total)
				}
			}

			sc, rc := sendSec.calls(), recvSec.calls()
			if len(sc) != 1 || len(rc) != 1 {
				t.Fatalf("Secured called %d times on the sender, %d on the receiver; want once each", len(sc), len(rc))
			}
			if sc[0] != rc[0] || !slices.Contains(ciphers, sc[0]) {
				t.Errorf("Secured reported %q on the sender and %q on the receiver; want the same one of %q", sc[0], rc[0], ciphers)
			}
		})
	}
}

// checkDir checks a received directory's permission bits and mtime.
func checkDir(t *testing.T, dir, name string, mode fs.FileMode, mtime time.Time) {
	t.Helper()
	info, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	if !info.IsDir() || info.Mode().Perm() != mode {
		t.Errorf("received %s with mode %v, want a directory with %v", name, info.Mode(), mode)
	}
	if !info.ModTime().Equal(mtime) {
		t.Errorf("received %s with mtime %v, want %v", name, info.ModTime(), mtime)
	}
}

// TestWrongCode gives the two sides different codes: both must fail
// saying authentication failed, before anything reaches the disk, and
// neither may report a secured connection.
func TestWrongCode(t *testing.T) {
	tests := []struct {
		name               string
		sendCode, recvCode string
	}{
		{name: "last character differs", sendCode: testCode, recvCode: "48210-93755-62185"},
		{name: "unrelated codes", sendCode: testCode, recvCode: "ABC-DEF-GHJ"},
		{name: "one character more", sendCode: testCode, recvCode: testCode + "0"},
		{name: "characters swapped", sendCode: testCode, recvCode: "48210-93755-62148"},
		// Only O, I and L are read as digits; U stays itself.
		{name: "U is not V", sendCode: "UUU-UUU", recvCode: "VVV-VVV"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := writeSource(t, "secret.bin", randomBytes(300<<10, 5), 0o644, time.Unix(1_600_000_000, 0))
			sink, dir := newDirSink(t, false)
			var sendSec, recvSec securedCalls
			o := run(t, []transfer.Source{src}, sink,
				sendSec.options(transfer.Options{Code: tt.sendCode}),
				recvSec.options(transfer.Options{Code: tt.recvCode}))
			for side, err := range map[string]error{"Send": o.sendErr, "Receive": o.recvErr} {
				if !errors.Is(err, transfer.ErrAuth) {
					t.Errorf("%s = %v, want transfer.ErrAuth", side, err)
				}
				if err == nil || !strings.Contains(err.Error(), "authentication failed") {
					t.Errorf("%s = %v, want it to say authentication failed", side, err)
				}
			}
			onlyEntry(t, dir)
			if sc, rc := sendSec.calls(), recvSec.calls(); len(sc)+len(rc) != 0 {
				t.Errorf("Secured called with %q on the sender and %q on the receiver after a failed handshake", sc, rc)
			}
			if len(o.sendDone)+len(o.recvDone) != 0 || len(o.sendProg)+len(o.recvProg) != 0 {
				t.Errorf("file results or progress reported after a failed handshake: %v %v", o.sendDone, o.recvDone)
			}
		})
	}
}

// TestWrongCodeOnTheWire watches a handshake with a wrong code: the sender
// checks the receiver's confirm before it sends its own, so it never
// sends one, and it says why in a plain error frame; the receiver, told,
// says nothing more. Neither side seals a frame.
func TestWrongCodeOnTheWire(t *testing.T) {
	sink, dir := newDirSink(t, false)
	ln := listen(t)
	recvc := receiveOne(t, t.Context(), ln, sink, transfer.Options{Code: testCode})
	p := startProxy(t, ln.Addr(), nil, nil)
	src := writeSource(t, "x", []byte("abc"), 0o644, time.Unix(1, 0))
	if _, err := transfer.Send(t.Context(), dial(t, p.addr), []transfer.Source{src}, transfer.Options{Code: "WRO-NGC-0DE"}); !errors.Is(err, transfer.ErrAuth) {
		t.Errorf("Send = %v, want transfer.ErrAuth", err)
	}
	if err := await(t, recvc, "Receive"); !errors.Is(err, transfer.ErrAuth) {
		t.Errorf("Receive = %v, want transfer.ErrAuth", err)
	}
	await(t, p.done, "the proxy")
	onlyEntry(t, dir)
	checkHandshakeOnly(t, "sender", framesOf(t, p.fromSender.Bytes()), framing.TypeHello, framing.TypePake)
	got := framesOf(t, p.fromReceiver.Bytes())
	var types []framing.Type
	for _, f := range got {
		types = append(types, f.t)
	}
	if want := []framing.Type{framing.TypeHello, framing.TypePake, framing.TypeConfirm}; !equalTypes(types, want) {
		t.Errorf("receiver sent %v, want %v and nothing after the sender's error", types, want)
	}
}

// framesOf splits a recorded stream into frames.
func framesOf(t *testing.T, stream []byte) []rawFrame {
	t.Helper()
	var frames []rawFrame
	fr := framing.NewReader(bytes.NewReader(stream))
	for {
		typ, p, err := fr.ReadFrame()
		if err == io.EOF {
			return frames
		}
		if err != nil {
			t.Fatalf("recorded stream, after %d frames: %v", len(frames), err)
		}
		frames = append(frames, rawFrame{typ, bytes.Clone(p)})
	}
}

// TestFailureRightAfterHandshake fails one side the moment the handshake
// is done. Its error frame must be sealed like every frame after the
// handshake, so the peer reads the reason rather than a frame that fails
// authentication. The failure races the writer's switch to sealing, hence
// the repetitions (a cheap check, not a reliable detector of that race).
func TestFailureRightAfterHandshake(t *testing.T) {
	tests := []struct {
		name string
		// sources and sink make the failure; code is the error frame's.
		sources func() []transfer.Source
		sink    func(t *testing.T) transfer.Sink
		code    uint16
		// sender: the sender fails, the receiver reads its reason;
		// otherwise the other way round.
		sender bool
	}{
		{
			name: "sender cannot open its source",
			sources: func() []transfer.Source {
				return []transfer.Source{{Name: "x", Size: 3, Mode: 0o644, ModTime: time.Unix(1, 0),
					Open: func() (io.ReadCloser, error) { return nil, errors.New("no such thing") }}}
			},
			sink:   func(t *testing.T) transfer.Sink { s, _ := newDirSink(t, false); return s },
			code:   framing.CodeSource,
			sender: true,
		},
		{
			name: "receiver refuses the offer",
			sources: func() []transfer.Source {
				return []transfer.Source{
					transfer.StreamSource("a", bytes.NewReader([]byte("aaa"))),
					transfer.StreamSource("b", bytes.NewReader([]byte("bbb"))),
				}
			},
			sink: func(*testing.T) transfer.Sink { return transfer.NewStreamSink(io.Discard) },
			code: framing.CodeUnsupported,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for i := range 20 {
				o := run(t, tt.sources(), tt.sink(t), transfer.Options{Code: testCode}, transfer.Options{Code: testCode})
				failed, told := o.recvErr, o.sendErr
				if tt.sender {
					failed, told = o.sendErr, o.recvErr
				}
				if failed == nil {
					t.Fatalf("run %d: the failing side succeeded", i)
				}
				if pe := peerError(t, told); pe.Code != tt.code {
					t.Fatalf("run %d: its peer returned %v (code %d); want its reason, with code %d", i, told, pe.Code, tt.code)
				}
			}
		})
	}
}

// TestModeMismatch pairs a side with a code and a side without: both
// refuse before any handshake, naming the flag that fixes it, and the
// receiver's error is ErrOtherMode. A Serve without KeepOpen then waits for
// another sender, since none tried a code, and takes one in its mode.
func TestModeMismatch(t *testing.T) {
	tests := []struct {
		name               string
		sendCode, recvCode string
		sendSays, recvSays string // what each side's message says of the other
	}{
		{name: "code on the receiver only", recvCode: testCode, sendSays: "requires a code", recvSays: "uses no code"},
		{name: "code on the sender only", sendCode: testCode, sendSays: "says it runs in the plain mode", recvSays: "uses a code, but this receiver runs in the plain mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := writeSource(t, "data.bin", textBytes(100<<10), 0o644, time.Unix(1_600_000_000, 0))
			sink, dir := newDirSink(t, false)
			var sendSec, recvSec securedCalls
			ln := listen(t)
			received := receiveOne(t, t.Context(), ln, sink, recvSec.options(transfer.Options{Code: tt.recvCode}))
			_, sendErr := transfer.Send(t.Context(), dial(t, ln.Addr()), []transfer.Source{src}, sendSec.options(transfer.Options{Code: tt.sendCode}))
			recvErr := await(t, received, "Receive")
			for side, tc := range map[string]struct {
				err  error
				says string
			}{"Send": {sendErr, tt.sendSays}, "Receive": {recvErr, tt.recvSays}} {
				// ErrOtherMode is what the command adds its advice to.
				if !errors.Is(tc.err, transfer.ErrOtherMode) || !strings.Contains(tc.err.Error(), tc.says) {
					t.Errorf("%s = %v, want ErrOtherMode saying %q", side, tc.err, tc.says)
				}
			}
			onlyEntry(t, dir)
			if sc, rc := sendSec.calls(), recvSec.calls(); len(sc)+len(rc) != 0 {
				t.Errorf("Secured called with %q on the sender and %q on the receiver", sc, rc)
			}
		})
	}
	t.Run("one-shot Serve waits on", func(t *testing.T) {
		t.Parallel()
		sink, dir := newDirSink(t, false)
		ln := listen(t)
		finished := make(chan error, 2)
		served := make(chan error, 1)
		go func() {
			served <- transfer.ServeWith(t.Context(), ln, sink, transfer.Options{Code: testCode}, transfer.ServeOptions{
				Finished: func(_ net.Addr, _ transfer.Summary, err error) { finished <- err },
			})
		}()
		plain := transfer.StreamSource("plain", bytes.NewReader(textBytes(100)))
		if _, err := transfer.Send(t.Context(), dial(t, ln.Addr()), []transfer.Source{plain}, transfer.Options{}); err == nil {
			t.Fatal("a --plain sender to a receiver with a code succeeded")
		}
		if err := await(t, finished, "the --plain sender's end"); !errors.Is(err, transfer.ErrOtherMode) {
			t.Fatalf("the --plain sender ended with %v, want ErrOtherMode", err)
		}
		coded := transfer.StreamSource("coded", bytes.NewReader(textBytes(100)))
		if _, err := transfer.Send(t.Context(), dial(t, ln.Addr()), []transfer.Source{coded}, transfer.Options{Code: testCode}); err != nil {
			t.Fatalf("the sender with the code, after one in the other mode: %v", err)
		}
		if err := await(t, served, "Serve"); err != nil {
			t.Errorf("Serve = %v, want nil after the sender with the code", err)
		}
		onlyEntry(t, dir, "coded")
	})
}

// frame is one frame as the proxy relays it.
type frame struct {
	t framing.Type
	p []byte
}

// flip returns f with bit of byte i of its payload inverted; a negative i
// counts from the end.
func (f frame) flip(i int, bit byte) frame {
	p := bytes.Clone(f.p)
	if i < 0 {
		i += len(p)
	}
	p[i] ^= bit
	return frame{f.t, p}
}

// hook decides what a proxy forwards for each frame of one direction. seq
// numbers the direction's sealed frames from 0, and is -1 for the hellos and
// the handshake's frames. It returns the frames to forward in f's place;
// with cut the proxy forwards them, half-closes the direction and discards
// whatever else comes from that side. A hook runs on one goroutine.
type hook func(seq int, f frame) (out []frame, cut bool)

// at returns a hook that hands the k-th sealed frame of type typ (from 0)
// to act and passes every other frame on.
func at(typ framing.Type, k int, act func(frame) []frame) hook {
	seen := 0
	return func(seq int, f frame) ([]frame, bool) {
		if seq < 0 || f.t != typ {
			return []frame{f}, false
		}
		seen++
		if seen-1 != k {
			return []frame{f}, false
		}
		return act(f), false
	}
}

// cutAt returns a hook that forwards every frame before the k-th sealed
// frame of type typ, then cuts the direction there.
func cutAt(typ framing.Type, k int) hook {
	seen := 0
	return func(seq int, f frame) ([]frame, bool) {
		if seq < 0 || f.t != typ {
			return []frame{f}, false
		}
		seen++
		if seen-1 == k {
			return nil, true
		}
		return []frame{f}, false
	}
}

// swapAt returns a hook that holds back the k-th sealed frame of type typ
// and forwards it after the frame that follows it.
func swapAt(typ framing.Type, k int) hook {
	seen := 0
	var held *frame
	return func(seq int, f frame) ([]frame, bool) {
		if held != nil {
			h := *held
			held = nil
			return []frame{f, h}, false
		}
		if seq >= 0 && f.t == typ {
			seen++
			if seen-1 == k {
				held = &f
				return nil, false
			}
		}
		return []frame{f}, false
	}
}

// handshakeHook returns a hook that applies act to the handshake's frames
// (the hellos included) of type typ and passes every sealed frame on.
func handshakeHook(typ framing.Type, act func(frame) frame) hook {
	return func(seq int, f frame) ([]frame, bool) {
		if seq < 0 && f.t == typ {
			return []frame{act(f)}, false
		}
		return []frame{f}, false
	}
}

// proxy is a frame-aware man in the middle for one connection: it accepts a
// sender, dials the receiver, and relays each direction frame by frame
// through its hook, recording every byte it reads from either side.
type proxy struct {
	addr net.Addr
	done chan struct{} // closed when both directions have ended

	// What the proxy read from the sender and from the receiver, exactly as
	// it came off the wire; read them only after done.
	fromSender, fromReceiver bytes.Buffer
}

// startProxy starts a proxy to target; toRecv and toSend, either may be nil,
// tamper with the frames sealed by the sender and by the receiver.
// Sealing starts after each side's confirm frame; a hook sees a frame as
// sealed only once the proxy has seen both sides' confirms.
func startProxy(t *testing.T, target net.Addr, toRecv, toSend hook) *proxy {
	t.Helper()
	ln := listen(t)
	p := &proxy{addr: ln.Addr(), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		down, err := ln.Accept()
		_ = ln.Close()
		if err != nil {
			return
		}
		defer down.Close()
		up, err := net.Dial("tcp", target.String())
		if err != nil {
			t.Errorf("proxy dialing the receiver: %v", err)
			return
		}
		defer up.Close()
		sConfirm, rConfirm := make(chan struct{}), make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { relayFrames(up, down, &p.fromSender, toRecv, sConfirm, rConfirm) })
		wg.Go(func() { relayFrames(down, up, &p.fromReceiver, toSend, rConfirm, sConfirm) })
		wg.Wait()
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		select {
		case <-p.done:
		case <-time.After(guard):
			t.Errorf("proxy did not finish within %s", guard)
		}
	})
	return p
}

// relayFrames copies frames from src to dst through h, recording what it
// reads in rec. It closes mine when src's confirm frame arrives, and counts
// src's frames as sealed from the first one after it, once theirs, the
// other side's confirm, has come too: a side seals frames only after it has
// the peer's confirm, which came through this proxy. (A frame after a
// confirm without the other confirm is a plain error frame, when the
// handshake failed.) The end of src's stream is passed on as a half-close;
// a broken connection closes both, so the other direction ends too.
func relayFrames(dst, src net.Conn, rec *bytes.Buffer, h hook, mine, theirs chan struct{}) {
	fr := framing.NewReader(io.TeeReader(src, rec))
	fw := framing.NewWriter(dst)
	seq := -1
	confirmed := false
	for {
		typ, p, err := fr.ReadFrame()
		if err != nil {
			if err == io.EOF {
				_ = dst.(*net.TCPConn).CloseWrite()
			} else {
				_ = src.Close()
				_ = dst.Close()
			}
			return
		}
		if seq < 0 && confirmed {
			select {
			case <-theirs:
				seq = 0
			default:
			}
		}
		f := frame{typ, bytes.Clone(p)}
		out, cut := []frame{f}, false
		if h != nil {
			out, cut = h(seq, f)
		}
		switch {
		case seq >= 0:
			seq++
		case typ == framing.TypeConfirm && !confirmed:
			close(mine)
			confirmed = true
		}
		for _, f := range out {
			if err := fw.WriteFrame(f.t, f.p); err != nil {
				_ = src.Close()
				_ = dst.Close()
				return
			}
		}
		if cut {
			_ = dst.(*net.TCPConn).CloseWrite()
			_, _ = io.Copy(io.Discard, io.TeeReader(src, rec))
			return
		}
	}
}

// tamperRun sends one file through a proxy with the given hooks to a
// receiver, both with testCode, and returns the receiving directory and
// both sides' errors.
func tamperRun(t *testing.T, src transfer.Source, toRecv, toSend hook) (dir string, sendErr, recvErr error) {
	t.Helper()
	sink, dir := newDirSink(t, false)
	ln := listen(t)
	recvc := receiveOne(t, t.Context(), ln, sink, transfer.Options{Code: testCode})
	p := startProxy(t, ln.Addr(), toRecv, toSend)
	conn := dial(t, p.addr)
	_, sendErr = transfer.Send(t.Context(), conn, []transfer.Source{src}, transfer.Options{Code: testCode, Compression: codec.None})
	recvErr = await(t, recvc, "Receive")
	await(t, p.done, "the proxy")
	return dir, sendErr, recvErr
}

// TestTamperControl is the control for TestTamper: the proxy relaying
// every frame unchanged spoils nothing.
func TestTamperControl(t *testing.T) {
	data := randomBytes(4<<20+123, 21)
	src := writeSource(t, "big.bin", data, 0o644, time.Unix(1_600_000_000, 0))
	keep := func(_ int, f frame) ([]frame, bool) { return []frame{f}, false }
	dir, sendErr, recvErr := tamperRun(t, src, keep, keep)
	if sendErr != nil || recvErr != nil {
		t.Fatalf("send: %v; receive: %v", sendErr, recvErr)
	}
	checkFile(t, dir, "big.bin", data, 0o644, time.Unix(1_600_000_000, 0))
	onlyEntry(t, dir, "big.bin")
}

// TestTamper has a man in the middle change the sender's sealed frames.
// The receiver must notice each change as failed authentication (or a cut
// stream), tell the sender, and keep nothing of the file in flight.
func TestTamper(t *testing.T) {
	// Some 17 data frames of ChunkSize, uncompressed: the file is still in
	// flight when a data frame is spoiled.
	data := randomBytes(4<<20+123, 21)
	mtime := time.Unix(1_600_000_000, 0)
	const k = 3 // the data frame spoiled
	tests := []struct {
		name    string
		hook    hook
		wantErr error  // the receiver's error must match it
		wantMsg string // the receiver's error must mention it
		// kept means the file was whole and verified before the fault: it
		// is kept, as PROTOCOL.md promises for files completed before a
		// failure. Otherwise nothing may be left.
		kept bool
		// sendMaySucceed: the fault came after the receiver had confirmed
		// everything, so the sender may have finished.
		sendMaySucceed bool
	}{
		{name: "payload bit flipped", hook: at(framing.TypeData, k, func(f frame) []frame { return []frame{f.flip(len(f.p)/2, 0x10)} }),
			wantErr: secure.ErrTampered, wantMsg: "authentication"},
		// The sealed offset field: without authentication this would
		// move the chunk.
		{name: "first payload bit flipped", hook: at(framing.TypeData, k, func(f frame) []frame { return []frame{f.flip(0, 0x01)} }),
			wantErr: secure.ErrTampered, wantMsg: "authentication"},
		{name: "tag bit flipped", hook: at(framing.TypeData, k, func(f frame) []frame { return []frame{f.flip(-1, 0x80)} }),
			wantErr: secure.ErrTampered, wantMsg: "authentication"},
		// The type byte is the associated data: a data frame retyped as
		// end, ping or done must fail to open, not be parsed as one.
		{name: "type data to end", hook: at(framing.TypeData, k, func(f frame) []frame { return []frame{{f.t ^ 0x01, f.p}} }),
			wantErr: secure.ErrTampered, wantMsg: "authentication"},
		{name: "type data to ping", hook: at(framing.TypeData, k, func(f frame) []frame { return []frame{{f.t ^ 0x10, f.p}} }),
			wantErr: secure.ErrTampered, wantMsg: "authentication"},
		{name: "type data to done", hook: at(framing.TypeData, k, func(f frame) []frame { return []frame{{f.t ^ 0x02, f.p}} }),
			wantErr: secure.ErrTampered, wantMsg: "authentication"},
		{name: "type end to data", hook: at(framing.TypeEnd, 0, func(f frame) []frame { return []frame{{f.t ^ 0x01, f.p}} }),
			wantErr: secure.ErrTampered, wantMsg: "authentication"},
		{name: "payload shortened", hook: at(framing.TypeData, k, func(f frame) []frame { return []frame{{f.t, f.p[:len(f.p)-1]}} }),
			wantErr: secure.ErrTampered, wantMsg: "authentication"},
		{name: "payload emptied", hook: at(framing.TypeData, k, func(f frame) []frame { return []frame{{f.t, nil}} }),
			wantErr: secure.ErrTampered, wantMsg: "authentication"},
		{name: "data frame dropped", hook: at(framing.TypeData, k, func(frame) []frame { return nil }),
			wantErr: secure.ErrTampered, wantMsg: "authentication"},
		{name: "data frames swapped", hook: swapAt(framing.TypeData, k),
			wantErr: secure.ErrTampered, wantMsg: "authentication"},
		{name: "data frame replayed", hook: at(framing.TypeData, k, func(f frame) []frame { return []frame{f, f} }),
			wantErr: secure.ErrTampered, wantMsg: "authentication"},
		{name: "end frame dropped", hook: at(framing.TypeEnd, 0, func(frame) []frame { return nil }),
			wantErr: secure.ErrTampered, wantMsg: "authentication"},
		// Frames a man in the middle makes up, unsealed.
		{name: "plain abort injected", hook: at(framing.TypeData, k, func(f frame) []frame {
			return []frame{{framing.TypeAbort, framing.AppendAbort(nil, "interrupted")}, f}
		}), wantErr: secure.ErrTampered, wantMsg: "authentication"},
		{name: "plain data frame injected", hook: at(framing.TypeData, k, func(f frame) []frame {
			d := framing.AppendData(nil, framing.Data{Offset: 0, Codec: framing.CodecNone, RawLen: 3, Body: []byte("abc")})
			return []frame{{framing.TypeData, d}, f}
		}), wantErr: secure.ErrTampered, wantMsg: "authentication"},
		{name: "cut inside the file", hook: cutAt(framing.TypeData, k),
			wantErr: secure.ErrTruncated, wantMsg: "cut"},
		{name: "cut before end", hook: cutAt(framing.TypeEnd, 0),
			wantErr: secure.ErrTruncated, wantMsg: "cut"},
		// The file's end frame came through, sealed and in order, so the
		// file is whole and verified when the stream is cut.
		{name: "cut before done", hook: cutAt(framing.TypeDone, 0),
			wantErr: secure.ErrTruncated, wantMsg: "cut", kept: true},
		// The receiver has confirmed the transfer when the replayed done
		// arrives.
		{name: "done replayed", hook: at(framing.TypeDone, 0, func(f frame) []frame { return []frame{f, f} }),
			wantErr: secure.ErrAfterLast, wantMsg: "after", kept: true, sendMaySucceed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := writeSource(t, "big.bin", data, 0o644, mtime)
			dir, sendErr, recvErr := tamperRun(t, src, tt.hook, nil)
			t.Logf("Send: %v\nReceive: %v", sendErr, recvErr)
			if !errors.Is(recvErr, tt.wantErr) {
				t.Errorf("Receive = %v, want %v", recvErr, tt.wantErr)
			}
			if recvErr != nil && !strings.Contains(recvErr.Error(), tt.wantMsg) {
				t.Errorf("Receive = %q, want it to mention %q", recvErr, tt.wantMsg)
			}
			// Spoiled frames must be refused, never parsed.
			if errors.Is(recvErr, transfer.ErrProtocol) || errors.Is(recvErr, framing.ErrMalformed) || errors.Is(recvErr, transfer.ErrChecksum) {
				t.Errorf("Receive = %v: the spoiled frame was parsed", recvErr)
			}
			switch {
			case sendErr == nil && !tt.sendMaySucceed:
				t.Error("Send succeeded")
			case sendErr != nil:
				// The receiver's reason, if it got through, names the fault.
				var pe *transfer.Error
				if errors.As(sendErr, &pe) && !strings.Contains(pe.Err.Error(), tt.wantMsg) {
					t.Errorf("Send = %q, want the receiver's reason to mention %q", sendErr, tt.wantMsg)
				}
				// It names the sender as the sender, not by the address
				// the receiver saw, which the sender would not know.
				if errors.As(sendErr, &pe) && errors.Is(recvErr, tt.wantErr) && (strings.Contains(pe.Err.Error(), "127.0.0.1") || !strings.Contains(pe.Err.Error(), "from the sender")) {
					t.Errorf("Send = %q, want the receiver's reason to say \"from the sender\", with no address", sendErr)
				}
			}
			if tt.kept {
				checkFile(t, dir, "big.bin", data, 0o644, mtime)
				onlyEntry(t, dir, "big.bin")
			} else {
				onlyEntry(t, dir)
			}
		})
	}
}

// TestTamperReply has a man in the middle change the receiver's sealed
// frames: the sender must notice. The receiver has the file in place by
// then, so only the sender fails.
func TestTamperReply(t *testing.T) {
	data := randomBytes(1<<20+5, 22)
	mtime := time.Unix(1_600_000_000, 0)
	tests := []struct {
		name    string
		hook    hook
		wantErr error
	}{
		{name: "ack bit flipped", hook: at(framing.TypeAck, 0, func(f frame) []frame { return []frame{f.flip(2, 0x04)} }), wantErr: secure.ErrTampered},
		{name: "complete bit flipped", hook: at(framing.TypeComplete, 0, func(f frame) []frame { return []frame{f.flip(0, 0x01)} }), wantErr: secure.ErrTampered},
		{name: "ack retyped as complete", hook: at(framing.TypeAck, 0, func(f frame) []frame { return []frame{{framing.TypeComplete, f.p}} }), wantErr: secure.ErrTampered},
		{name: "ack dropped", hook: at(framing.TypeAck, 0, func(frame) []frame { return nil }), wantErr: secure.ErrTampered},
		{name: "ack replayed", hook: at(framing.TypeAck, 0, func(f frame) []frame { return []frame{f, f} }), wantErr: secure.ErrTampered},
		{name: "plain complete injected", hook: at(framing.TypeAck, 0, func(f frame) []frame {
			return []frame{f, {framing.TypeComplete, framing.AppendTotals(nil, framing.Totals{Files: 1, Bytes: uint64(len(data))})}}
		}), wantErr: secure.ErrTampered},
		{name: "cut before complete", hook: cutAt(framing.TypeComplete, 0), wantErr: secure.ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := writeSource(t, "reply.bin", data, 0o644, mtime)
			dir, sendErr, recvErr := tamperRun(t, src, nil, tt.hook)
			t.Logf("Send: %v\nReceive: %v", sendErr, recvErr)
			if !errors.Is(sendErr, tt.wantErr) {
				t.Errorf("Send = %v, want %v", sendErr, tt.wantErr)
			}
			if recvErr != nil {
				t.Errorf("Receive = %v; it had confirmed the whole transfer", recvErr)
			}
			checkFile(t, dir, "reply.bin", data, 0o644, mtime)
			onlyEntry(t, dir, "reply.bin")
		})
	}
}

// TestTamperHandshake has a man in the middle change a hello or a handshake
// frame. The handshake hashes them all, so the two sides' keys differ and
// the handshake fails as with a wrong code: no downgrade, nothing sent.
func TestTamperHandshake(t *testing.T) {
	tests := []struct {
		name           string
		toRecv, toSend hook
	}{
		// Drop a capability bit (the low byte of the u32 at offset 7), as
		// a downgrade would; the hello still parses and both sides still
		// run the encrypted mode.
		{name: "sender's hello capabilities", toRecv: handshakeHook(framing.TypeHello, func(f frame) frame { return f.flip(10, byte(framing.CapS2)) })},
		{name: "receiver's hello capabilities", toSend: handshakeHook(framing.TypeHello, func(f frame) frame { return f.flip(10, byte(framing.CapZstd)) })},
		{name: "sender's hello extension bytes", toRecv: handshakeHook(framing.TypeHello, func(f frame) frame { return frame{f.t, append(bytes.Clone(f.p), 'x')} })},
		{name: "sender's pake flags", toRecv: handshakeHook(framing.TypePake, func(f frame) frame { return f.flip(16, 0x01) })},
		{name: "receiver's pake flags", toSend: handshakeHook(framing.TypePake, func(f frame) frame { return f.flip(0, 0x01) })},
		{name: "sender's session id", toRecv: handshakeHook(framing.TypePake, func(f frame) frame { return f.flip(0, 0x01) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := writeSource(t, "x.bin", textBytes(10000), 0o644, time.Unix(1_600_000_000, 0))
			dir, sendErr, recvErr := tamperRun(t, src, tt.toRecv, tt.toSend)
			t.Logf("Send: %v\nReceive: %v", sendErr, recvErr)
			for side, err := range map[string]error{"Send": sendErr, "Receive": recvErr} {
				if !errors.Is(err, transfer.ErrAuth) {
					t.Errorf("%s = %v, want transfer.ErrAuth", side, err)
				}
			}
			onlyEntry(t, dir)
		})
	}
}

// TestReplaySession records a whole successful session and plays one side
// of it back to a new peer with the same code: the new peer's fresh CPace
// scalar (and, for a sender, its fresh session id) makes the recorded
// confirm frame worthless, so the replay fails authentication and no frame
// of it is ever opened.
func TestReplaySession(t *testing.T) {
	data := randomBytes(200<<10, 31)
	mtime := time.Unix(1_600_000_000, 0)

	// The recording.
	sink, dir := newDirSink(t, false)
	ln := listen(t)
	recvc := receiveOne(t, t.Context(), ln, sink, transfer.Options{Code: testCode})
	p := startProxy(t, ln.Addr(), nil, nil)
	src := writeSource(t, "recorded.bin", data, 0o644, mtime)
	if _, err := transfer.Send(t.Context(), dial(t, p.addr), []transfer.Source{src}, transfer.Options{Code: testCode}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := await(t, recvc, "Receive"); err != nil {
		t.Fatalf("Receive: %v", err)
	}
	await(t, p.done, "the proxy")
	checkFile(t, dir, "recorded.bin", data, 0o644, mtime)
	fromSender, fromReceiver := p.fromSender.Bytes(), p.fromReceiver.Bytes()

	t.Run("sender's side to a new receiver", func(t *testing.T) {
		t.Parallel()
		sink, dir := newDirSink(t, false)
		ln := listen(t)
		var sec securedCalls
		recvc := receiveOne(t, t.Context(), ln, sink, sec.options(transfer.Options{Code: testCode}))
		conn := dial(t, ln.Addr())
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(guard))
		if _, err := conn.Write(fromSender); err != nil {
			t.Fatalf("replaying %d bytes: %v", len(fromSender), err)
		}
		if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		frames := readAll(t, conn)
		err := await(t, recvc, "Receive")
		if !errors.Is(err, transfer.ErrAuth) || !strings.Contains(err.Error(), "authentication failed") {
			t.Errorf("Receive = %v, want authentication failed (transfer.ErrAuth)", err)
		}
		// The receiver answered the replayed handshake, or not (its error
		// frame jumps the queue), and said why it stopped, in the clear;
		// it never sealed a frame.
		checkHandshakeOnly(t, "receiver", frames, framing.TypeHello, framing.TypePake, framing.TypeConfirm)
		if c := sec.calls(); len(c) != 0 {
			t.Errorf("Secured called with %q", c)
		}
		onlyEntry(t, dir)
	})

	t.Run("receiver's side to a new sender", func(t *testing.T) {
		t.Parallel()
		ln := listen(t)
		var got []rawFrame
		peerDone := fakePeer(ln, func(conn net.Conn) {
			_ = conn.SetDeadline(time.Now().Add(guard))
			_, _ = conn.Write(fromReceiver)
			_ = conn.(*net.TCPConn).CloseWrite()
			// Until any error: the sender may reset the connection,
			// closing it with the replay's sealed frames unread.
			fr := framing.NewReader(conn)
			for {
				typ, p, err := fr.ReadFrame()
				if err != nil {
					return
				}
				got = append(got, rawFrame{typ, bytes.Clone(p)})
			}
		})
		var sec securedCalls
		src := writeSource(t, "new.bin", data, 0o644, mtime)
		_, err := transfer.Send(t.Context(), dial(t, ln.Addr()), []transfer.Source{src}, sec.options(transfer.Options{Code: testCode}))
		await(t, peerDone, "the replaying receiver")
		if !errors.Is(err, transfer.ErrAuth) || !strings.Contains(err.Error(), "authentication failed") {
			t.Errorf("Send = %v, want authentication failed (transfer.ErrAuth)", err)
		}
		// The sender checks the receiver's confirm before it sends its
		// own: it sent at most its hello and pake, then an error, nothing
		// sealed.
		checkHandshakeOnly(t, "sender", got, framing.TypeHello, framing.TypePake)
		if c := sec.calls(); len(c) != 0 {
			t.Errorf("Secured called with %q", c)
		}
	})
}

// checkHandshakeOnly checks that a side that failed authentication sent
// nothing but frames of the types allowed, in order, then a plain error
// frame with framing.CodeAuth.
func checkHandshakeOnly(t *testing.T, side string, frames []rawFrame, allowed ...framing.Type) {
	t.Helper()
	var types []framing.Type
	for _, f := range frames {
		types = append(types, f.t)
	}
	if len(frames) == 0 || frames[len(frames)-1].t != framing.TypeError {
		t.Fatalf("%s sent %v, want an error frame last", side, types)
	}
	for _, typ := range types[:len(types)-1] {
		i := slices.Index(allowed, typ)
		if i < 0 {
			t.Fatalf("%s sent %v; want only %v before its error", side, types, allowed)
		}
		allowed = allowed[i+1:]
	}
	if m, err := framing.ParseError(frames[len(frames)-1].p); err != nil || m.Code != framing.CodeAuth {
		t.Errorf("%s's error frame = %+v, %v; want code %d", side, m, err, framing.CodeAuth)
	}
}

// firstShared returns the offset of the first w-byte run of data that
// occurs anywhere in capture, or -1 if there is none. Every window of the
// capture goes in a set, then every window of data is looked up.
func firstShared(capture, data []byte) int {
	const w = 16
	seen := make(map[[w]byte]struct{}, max(len(capture)-w+1, 0))
	for i := 0; i+w <= len(capture); i++ {
		seen[[w]byte(capture[i:i+w])] = struct{}{}
	}
	for i := 0; i+w <= len(data); i++ {
		if _, ok := seen[[w]byte(data[i:i+w])]; ok {
			return i
		}
	}
	return -1
}

// TestCaptureHidesContent records both directions of a transfer: in the
// encrypted mode neither the file's name nor any 16 bytes of its content
// may show. The plain mode is the control that shows both, so the check
// can fail.
func TestCaptureHidesContent(t *testing.T) {
	const name = "secret-name-7f3a.txt"
	data := randomBytes(1<<20, 41)
	mtime := time.Unix(1_600_000_000, 0)
	for _, tt := range []struct {
		mode string
		code string
	}{{"encrypted", testCode}, {"plain", ""}} {
		t.Run(tt.mode, func(t *testing.T) {
			src := writeSource(t, name, data, 0o644, mtime)
			sink, dir := newDirSink(t, false)
			ln := listen(t)
			recvc := receiveOne(t, t.Context(), ln, sink, transfer.Options{Code: tt.code})
			p := startProxy(t, ln.Addr(), nil, nil)
			_, err := transfer.Send(t.Context(), dial(t, p.addr), []transfer.Source{src}, transfer.Options{Code: tt.code, Compression: codec.None})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if err := await(t, recvc, "Receive"); err != nil {
				t.Fatalf("Receive: %v", err)
			}
			await(t, p.done, "the proxy")
			checkFile(t, dir, name, data, 0o644, mtime)

			capture := append(bytes.Clone(p.fromSender.Bytes()), p.fromReceiver.Bytes()...)
			if len(capture) < len(data) {
				t.Fatalf("captured %d bytes, fewer than the %d of the file", len(capture), len(data))
			}
			hasName := bytes.Contains(capture, []byte(name)) || bytes.Contains(capture, []byte("secret-name"))
			shared := firstShared(capture, data)
			if tt.code == "" {
				if !hasName || shared < 0 {
					t.Fatalf("the plain mode's capture shows the name: %v, content: %v; the check is broken", hasName, shared >= 0)
				}
				return
			}
			if hasName {
				t.Errorf("the capture shows the file name %q", name)
			}
			if shared >= 0 {
				t.Errorf("the capture holds the file's bytes %d to %d", shared, shared+16)
			}
		})
	}
}

// guessingServe is Serve with KeepOpen and a code on a fresh listener,
// reporting each connection's end and each refusal on channels. It runs
// until the test ends, which checks that Serve returned.
type guessingServe struct {
	addr     net.Addr
	finished chan error   // each served connection's error
	refused  chan refusal // each turned-away sender
	sink     string       // the receiving directory
	code     string       // the receiver's code
}

// refusal is one call of ServeOptions.Refused.
type refusal struct {
	peer net.Addr
	wait time.Duration
}

// startGuessingServe starts a guessingServe with testCode for the rest of
// the test, with the given timeout (0: the default).
func startGuessingServe(t *testing.T, timeout time.Duration) *guessingServe {
	t.Helper()
	return startGuessingServeCode(t, testCode, timeout)
}

// startGuessingServeCode is startGuessingServe with another code.
func startGuessingServeCode(t *testing.T, code string, timeout time.Duration) *guessingServe {
	t.Helper()
	ln := listen(t)
	sink, dir := newDirSink(t, false)
	g := &guessingServe{addr: ln.Addr(), finished: make(chan error, 64), refused: make(chan refusal, 64), sink: dir, code: code}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() {
		served <- transfer.ServeWith(ctx, ln, sink, transfer.Options{Code: code, Timeout: timeout}, transfer.ServeOptions{
			KeepOpen: true,
			Finished: func(_ net.Addr, _ transfer.Summary, err error) { g.finished <- err },
			Refused:  func(peer net.Addr, wait time.Duration) { g.refused <- refusal{peer, wait} },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := await(t, served, "Serve"); !errors.Is(err, context.Canceled) {
			t.Errorf("Serve after cancel = %v, want context.Canceled", err)
		}
	})
	return g
}

// attempt sends a small stream named name from source address ip with code,
// and returns Send's error.
func (g *guessingServe) attempt(t *testing.T, ip, code, name string) error {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: guard}
	conn, err := d.DialContext(t.Context(), "tcp", g.addr.String())
	if err != nil {
		t.Fatalf("dialing from %s: %v", ip, err)
	}
	_, err = transfer.Send(t.Context(), conn, []transfer.Source{transfer.StreamSource(name, bytes.NewReader(textBytes(2000)))}, transfer.Options{Code: code})
	return err
}

// fail makes one attempt with a wrong code from ip and waits until Serve
// has counted it.
func (g *guessingServe) fail(t *testing.T, ip string) {
	t.Helper()
	if err := g.attempt(t, ip, "WRO-NGC-0DE", "guess"); !errors.Is(err, transfer.ErrAuth) {
		t.Fatalf("a wrong code from %s: Send = %v, want transfer.ErrAuth", ip, err)
	}
	if err := await(t, g.finished, "the receiving side of a wrong guess"); !errors.Is(err, transfer.ErrAuth) {
		t.Fatalf("a wrong code from %s: Receive = %v, want transfer.ErrAuth", ip, err)
	}
}

// served sends name with the right code from ip and checks that both
// sides succeed.
func (g *guessingServe) served(t *testing.T, ip, name string) {
	t.Helper()
	if err := g.attempt(t, ip, g.code, name); err != nil {
		t.Fatalf("the right code from %s: Send = %v", ip, err)
	}
	if err := await(t, g.finished, "the receiving side from "+ip); err != nil {
		t.Fatalf("the right code from %s: Receive = %v", ip, err)
	}
}

// turnedAway makes one attempt with the right code from ip and checks that
// it is refused for too many failed attempts, without being served.
func (g *guessingServe) turnedAway(t *testing.T, ip string) {
	t.Helper()
	err := g.attempt(t, ip, g.code, "refused-"+ip)
	var pe *transfer.Error
	if !errors.As(err, &pe) || pe.Code != framing.CodeAuth || !strings.Contains(pe.Err.Error(), "too many failed attempts") {
		t.Fatalf("the right code from %s after too many failures: Send = %v (%T), want a *transfer.Error from the peer with code %d saying too many failed attempts",
			ip, err, err, framing.CodeAuth)
	}
	r := await(t, g.refused, "the Refused callback")
	if host, _, _ := net.SplitHostPort(r.peer.String()); host != ip {
		t.Errorf("Refused called for %v, want %s", r.peer, ip)
	}
	if r.wait <= 0 || r.wait > time.Minute {
		t.Errorf("Refused with wait %v, want within (0, 1m]", r.wait)
	}
	select {
	case err := <-g.finished:
		t.Errorf("a refused sender was served: Finished(%v)", err)
	default:
	}
}

// dropErrors is a FrameWriter that never sends an error frame: a guesser
// that has learned from the receiver's confirm frame that its guess was
// wrong, and just hangs up.
type dropErrors struct{ w *framing.Writer }

func (d dropErrors) WriteFrame(t framing.Type, p []byte) error {
	if t == framing.TypeError {
		return nil
	}
	return d.w.WriteFrame(t, p)
}

// startGuess connects to addr as a sender from the local address ip and
// runs the handshake with guess, sending no confirm and no error frame, as
// a guesser would. It returns the connection, still open, with its
// writer, and what the handshake told the guesser: secure.ErrAuth for a
// guess tested and found wrong, a *secure.PeerError for a sender turned
// away (which is also secure.ErrAuth). It may run outside the test's goroutine.
func startGuess(addr net.Addr, ip, guess string) (net.Conn, *framing.Writer, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: guard}
	conn, err := d.Dial("tcp", addr.String())
	if err != nil {
		return nil, nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(guard))
	mine := framing.AppendHello(nil, framing.Hello{Version: framing.Version, Role: framing.RoleSender, Capabilities: framing.CapSecure})
	w := framing.NewWriter(conn)
	if err := w.WriteFrame(framing.TypeHello, mine); err != nil {
		return conn, w, err
	}
	fr := framing.NewReader(conn)
	typ, theirs, err := fr.ReadFrame()
	switch {
	case err != nil:
		return conn, w, fmt.Errorf("reading the receiver's hello: %w", err)
	case typ == framing.TypeError:
		m, err := framing.ParseError(theirs)
		if err != nil {
			return conn, w, err
		}
		return conn, w, &secure.PeerError{Code: m.Code, Message: m.Message}
	case typ != framing.TypeHello:
		return conn, w, fmt.Errorf("a %v frame instead of the receiver's hello", typ)
	}
	_, err = secure.Handshake(fr, dropErrors{w}, framing.RoleSender, guess, mine, theirs)
	return conn, w, err
}

// guessAndHangUp connects to addr as a sender, runs the handshake with
// guess, and hangs up without sending a confirm or an error. It returns
// what the handshake told the guesser.
func guessAndHangUp(t *testing.T, addr net.Addr, guess string) error {
	t.Helper()
	conn, _, err := startGuess(addr, "127.0.0.1", guess)
	if conn == nil {
		t.Fatal(err)
	}
	_ = conn.Close()
	return err
}

// guessesAtOnce runs a guess with a wrong code from each of ips at once,
// each hanging up as soon as it knows, and returns how many learned that
// their guess was wrong: how many the receiver let test a guess.
func guessesAtOnce(t *testing.T, addr net.Addr, ips []string) int {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(ips))
	for i, ip := range ips {
		wg.Go(func() {
			var conn net.Conn
			conn, _, errs[i] = startGuess(addr, ip, "WRO-NGC-0DE")
			if conn != nil {
				_ = conn.Close()
			}
		})
	}
	wg.Wait()
	tested := 0
	for i, err := range errs {
		var pe *secure.PeerError
		switch {
		case errors.As(err, &pe) && strings.Contains(pe.Message, "too many failed attempts"):
		case errors.Is(err, secure.ErrAuth):
			tested++
		default:
			t.Errorf("guess from %s: %v, want a wrong guess or a refusal", ips[i], err)
		}
	}
	return tested
}

// TestGuessingLimits checks Serve's limits on wrong codes in the encrypted
// mode: 3 failures from one address turn that address away (even with the
// right code) but no other; a storm of failures from many addresses does
// not shut out the sender with the code; and a weak code's small budget
// from everywhere turns everyone away once spent.
func TestGuessingLimits(t *testing.T) {
	t.Run("per address", func(t *testing.T) {
		t.Parallel()
		g := startGuessingServe(t, 0)
		for range 3 {
			g.fail(t, "127.0.0.1")
		}
		g.turnedAway(t, "127.0.0.1")
		g.served(t, "127.0.0.2", "from-2")
		onlyEntry(t, g.sink, "from-2")
	})
	// Three wrong guesses from each of 7 addresses, within a second, once
	// spent a global limit of 20 and locked out every sender for a minute.
	t.Run("a storm does not shut out the code", func(t *testing.T) {
		t.Parallel()
		g := startGuessingServe(t, 0)
		for i := 10; i < 17; i++ {
			for range 3 {
				g.fail(t, fmt.Sprintf("127.0.0.%d", i))
			}
		}
		g.turnedAway(t, "127.0.0.10")
		g.turnedAway(t, "127.0.0.16")
		g.served(t, "127.0.0.30", "after-storm")
		onlyEntry(t, g.sink, "after-storm")
	})
	// A 6-digit code gets the smallest budget, 20 failures a minute.
	t.Run("a weak code's budget", func(t *testing.T) {
		t.Parallel()
		g := startGuessingServeCode(t, "482109", 0)
		for i := 10; i < 30; i++ {
			g.fail(t, fmt.Sprintf("127.0.0.%d", i))
		}
		g.turnedAway(t, "127.0.0.30")
		onlyEntry(t, g.sink)
	})
	// A guesser learns right from wrong from the receiver's confirm frame,
	// which comes first; one that then hangs up, instead of saying its
	// guess failed, must count all the same.
	t.Run("guesses that hang up", func(t *testing.T) {
		t.Parallel()
		g := startGuessingServe(t, 0)
		for i := range 3 {
			if err := guessAndHangUp(t, g.addr, "WRO-NGC-0DE"); !errors.Is(err, secure.ErrAuth) {
				t.Fatalf("guess %d: the guesser did not learn it was wrong: %v", i, err)
			}
			if err := await(t, g.finished, "the receiving side of a guess"); err == nil {
				t.Fatalf("guess %d: Receive succeeded", i)
			}
		}
		g.turnedAway(t, "127.0.0.1")
		onlyEntry(t, g.sink)
	})
	// Guesses a client makes at once are counted as they end, so without
	// more they would all be tested before any was counted.
	t.Run("guesses at once from one address", func(t *testing.T) {
		t.Parallel()
		g := startGuessingServe(t, 0)
		if n := guessesAtOnce(t, g.addr, slices.Repeat([]string{"127.0.0.1"}, 12)); n != 3 {
			t.Errorf("12 guesses at once from one address: %d tested, want 3", n)
		}
	})
	t.Run("guesses at once from many addresses", func(t *testing.T) {
		t.Parallel()
		g := startGuessingServeCode(t, "482109", 0)
		var ips []string
		for i := range 60 {
			ips = append(ips, fmt.Sprintf("127.0.1.%d", i+1))
		}
		// 20 failures turn everyone away, and up to 7 more handshakes
		// (of the 8 that run at once) may be under way when the 20th ends.
		if n := guessesAtOnce(t, g.addr, ips); n < 20 || n > 27 {
			t.Errorf("60 guesses at once from 60 addresses: %d tested, want 20 to 27", n)
		}
	})
	// A guesser that keeps its connection open, pinging, once it knows its
	// guess was wrong must not stay uncounted: pings do not extend the
	// time a handshake has.
	t.Run("guess held open", func(t *testing.T) {
		if testing.Short() {
			t.Skip("-short: skipping the wait for a guess held open to run out of time")
		}
		t.Parallel()
		const timeout = time.Second
		g := startGuessingServe(t, timeout)
		held, w, err := startGuess(g.addr, "127.0.0.1", "WRO-NGC-0DE")
		if !errors.Is(err, secure.ErrAuth) {
			t.Fatalf("the held guess: %v, want secure.ErrAuth", err)
		}
		pinging := make(chan struct{})
		go func() {
			defer close(pinging)
			// A live sender's pings, which kept the connection open before.
			for w.WriteFrame(framing.TypePing, nil) == nil {
				time.Sleep(timeout / 5)
			}
		}()
		ferr := await(t, g.finished, "the receiving side of the held guess")
		if !errors.Is(ferr, transfer.ErrTimeout) || !strings.Contains(ferr.Error(), "did not finish its handshake within 1s") {
			t.Errorf("the held guess ended with %v, want ErrTimeout for a handshake not finished", ferr)
		}
		_ = held.Close()
		<-pinging
		// The held guess counts: two more turn the address away.
		g.fail(t, "127.0.0.1")
		g.fail(t, "127.0.0.1")
		g.turnedAway(t, "127.0.0.1")
	})
	// Connections that send nothing (a stuck client, a browser's spare
	// connection, a port scan held open) take no turn: a sender from the
	// same address, or from anywhere while nine such are open, goes ahead
	// at once. The senders' timeout is far below the receiver's, within
	// which those connections stay open.
	t.Run("idle connections take no turn", func(t *testing.T) {
		t.Parallel()
		g := startGuessingServe(t, 0)
		for i := range 9 {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("127.0.2.%d", i+1))}}
			idle, err := d.Dial("tcp", g.addr.String())
			if err != nil {
				t.Fatal(err)
			}
			defer idle.Close()
		}
		for _, ip := range []string{"127.0.2.1", "127.0.2.100"} {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
			conn, err := d.Dial("tcp", g.addr.String())
			if err != nil {
				t.Fatal(err)
			}
			src := transfer.StreamSource("from-"+ip, bytes.NewReader(textBytes(100)))
			if _, err := transfer.Send(t.Context(), conn, []transfer.Source{src}, transfer.Options{Code: testCode, Timeout: 2 * time.Second}); err != nil {
				t.Fatalf("a sender from %s beside idle connections: %v", ip, err)
			}
			if err := await(t, g.finished, "the receiving side"); err != nil {
				t.Fatalf("a sender from %s beside idle connections: Receive = %v", ip, err)
			}
		}
		onlyEntry(t, g.sink, "from-127.0.2.1", "from-127.0.2.100")
	})
	// A sender waits for its turn behind a stalled guess from its own
	// address for the receiver's whole timeout: the receiver pings it
	// meanwhile, so a sender with half that timeout waits and goes
	// ahead, and is not counted as a failure for having waited.
	t.Run("sender waiting for its turn", func(t *testing.T) {
		if testing.Short() {
			t.Skip("-short: skipping the wait behind a guess held open for the receiver's 5s timeout")
		}
		t.Parallel()
		g := startGuessingServe(t, 5*time.Second)
		held, _, err := startGuess(g.addr, "127.0.0.1", "WRO-NGC-0DE")
		if !errors.Is(err, secure.ErrAuth) {
			t.Fatalf("the held guess: %v, want secure.ErrAuth", err)
		}
		defer held.Close()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}}
		conn, err := d.Dial("tcp", g.addr.String())
		if err != nil {
			t.Fatal(err)
		}
		src := transfer.StreamSource("waited", bytes.NewReader(textBytes(100)))
		if _, err := transfer.Send(t.Context(), conn, []transfer.Source{src}, transfer.Options{Code: testCode, Timeout: 2500 * time.Millisecond}); err != nil {
			t.Fatalf("a sender with a 2.5s timeout behind a held turn of 5s: %v", err)
		}
		// The held guess and the sender end, in either order.
		var errs []error
		for range 2 {
			errs = append(errs, await(t, g.finished, "the receiving sides"))
		}
		if errs[0] != nil && errs[1] != nil || errs[0] == nil && errs[1] == nil {
			t.Fatalf("the receiving sides ended with %v, want one failure (the held guess) and one success", errs)
		}
		// One failure so far: two more are needed to turn the address away.
		g.fail(t, "127.0.0.1")
		if err := g.attempt(t, "127.0.0.1", testCode, "after"); err != nil {
			t.Fatalf("after two failures, the right code: %v", err)
		}
		if err := await(t, g.finished, "the receiving side"); err != nil {
			t.Fatalf("after two failures, the right code: Receive = %v", err)
		}
		onlyEntry(t, g.sink, "after", "waited")
	})
	// A sender that goes while it waits for its turn, before any frame of
	// the handshake, tested no guess: it does not count.
	t.Run("sender gone while waiting", func(t *testing.T) {
		if testing.Short() {
			t.Skip("-short: skipping the wait behind a guess held open")
		}
		t.Parallel()
		g := startGuessingServe(t, time.Second)
		held, _, err := startGuess(g.addr, "127.0.0.1", "WRO-NGC-0DE")
		if !errors.Is(err, secure.ErrAuth) {
			t.Fatalf("the held guess: %v, want secure.ErrAuth", err)
		}
		defer held.Close()
		// Its hello, and the receiver's read: it waits behind the held one.
		gone := dial(t, g.addr)
		w := framing.NewWriter(gone)
		if err := w.WriteFrame(framing.TypeHello, framing.AppendHello(nil, framing.Hello{Version: framing.Version, Role: framing.RoleSender, Capabilities: framing.CapSecure})); err != nil {
			t.Fatal(err)
		}
		_ = gone.SetDeadline(time.Now().Add(guard))
		if typ, _, err := framing.NewReader(gone).ReadFrame(); err != nil || typ != framing.TypeHello {
			t.Fatalf("the receiver's hello: %v, %v", typ, err)
		}
		_ = gone.Close()
		for range 2 {
			await(t, g.finished, "the held guess and the one gone")
		}
		// One failure (the held guess): two more turn the address away.
		g.fail(t, "127.0.0.1")
		if err := g.attempt(t, "127.0.0.1", testCode, "after"); err != nil {
			t.Fatalf("after two failures, the right code: %v", err)
		}
		if err := await(t, g.finished, "the receiving side"); err != nil {
			t.Fatalf("after two failures, the right code: Receive = %v", err)
		}
		onlyEntry(t, g.sink, "after")
	})
	// A sender admitted to its turn once the counts have filled is turned
	// away then, and told why: not that its right code is wrong.
	t.Run("turned away after its hello", func(t *testing.T) {
		t.Parallel()
		g := startGuessingServe(t, time.Second)
		g.fail(t, "127.0.0.1")
		g.fail(t, "127.0.0.1")
		held, _, err := startGuess(g.addr, "127.0.0.1", "WRO-NGC-0DE")
		if !errors.Is(err, secure.ErrAuth) {
			t.Fatalf("the held guess: %v, want secure.ErrAuth", err)
		}
		defer held.Close()
		// Waits behind the held guess, which becomes the third failure.
		err = g.attempt(t, "127.0.0.1", testCode, "refused")
		var pe *transfer.Error
		if !errors.As(err, &pe) || pe.Code != framing.CodeAuth || !strings.Contains(pe.Err.Error(), "too many failed attempts") {
			t.Fatalf("the right code after the third failure: Send = %v, want a refusal for too many failed attempts", err)
		}
		if r := await(t, g.refused, "the Refused callback"); r.wait <= 0 || r.wait > time.Minute {
			t.Errorf("Refused with wait %v, want within (0, 1m]", r.wait)
		}
		onlyEntry(t, g.sink)
	})
	t.Run("plain mode has no limit", func(t *testing.T) {
		t.Parallel()
		// Without a code there is nothing to guess: failures of other
		// kinds never turn a sender away.
		ln := listen(t)
		sink, dir := newDirSink(t, false)
		ctx, cancel := context.WithCancel(t.Context())
		finished := make(chan error, 8)
		served := make(chan error, 1)
		go func() {
			served <- transfer.Serve(ctx, ln, sink, transfer.ServeOptions{
				KeepOpen: true,
				Finished: func(_ net.Addr, _ transfer.Summary, err error) { finished <- err },
				Refused:  func(peer net.Addr, _ time.Duration) { t.Errorf("Refused(%v) in the plain mode", peer) },
			})
		}()
		for i := range 4 {
			// A sender with a code, against a plain receiver.
			_, err := transfer.Send(t.Context(), dial(t, ln.Addr()), []transfer.Source{transfer.StreamSource("x", bytes.NewReader([]byte("x")))}, transfer.Options{Code: testCode})
			if !errors.Is(err, transfer.ErrOtherMode) {
				t.Errorf("attempt %d: Send = %v, want ErrOtherMode", i, err)
			}
			if err := await(t, finished, "the receiving side"); err == nil {
				t.Errorf("attempt %d: Receive succeeded", i)
			}
		}
		if _, err := transfer.Send(t.Context(), dial(t, ln.Addr()), []transfer.Source{transfer.StreamSource("ok", bytes.NewReader([]byte("ok")))}, transfer.Options{}); err != nil {
			t.Errorf("a plain sender after the mismatches: %v", err)
		}
		if err := await(t, finished, "the receiving side"); err != nil {
			t.Errorf("a plain sender after the mismatches: Receive = %v", err)
		}
		cancel()
		await(t, served, "Serve")
		onlyEntry(t, dir, "ok")
	})
}

// TestServeOnceWrongCode checks that Serve without KeepOpen returns after
// one failed handshake, with an error saying so, and closes its listener.
func TestServeOnceWrongCode(t *testing.T) {
	ln := listen(t)
	sink, dir := newDirSink(t, false)
	served := make(chan error, 1)
	go func() {
		served <- transfer.ServeWith(t.Context(), ln, sink, transfer.Options{Code: testCode}, transfer.ServeOptions{})
	}()
	_, sendErr := transfer.Send(t.Context(), dial(t, ln.Addr()), []transfer.Source{transfer.StreamSource("x", bytes.NewReader([]byte("x")))}, transfer.Options{Code: "WRO-NGC-0DE"})
	if !errors.Is(sendErr, transfer.ErrAuth) {
		t.Errorf("Send = %v, want transfer.ErrAuth", sendErr)
	}
	err := await(t, served, "Serve")
	if !errors.Is(err, transfer.ErrAuth) || !strings.Contains(err.Error(), "authentication failed") {
		t.Errorf("Serve = %v, want authentication failed (transfer.ErrAuth)", err)
	}
	if conn, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		_ = conn.Close()
		t.Error("Serve returned with its listener still open")
	}
	onlyEntry(t, dir)
}
