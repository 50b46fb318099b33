package transfer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/transfer"
)

// streamTree writes a tree with a big file and a few small ones, and
// returns its sources and contents by name, under the tree's name.
func streamTree(t *testing.T) ([]transfer.Source, map[string][]byte) {
	t.Helper()
	files := map[string][]byte{
		"big.bin":       randomBytes(24<<20+12345, 7),
		"a/small.txt":   textBytes(5000),
		"a/b/empty":     nil,
		"a/b/tiny.bin":  randomBytes(3, 8),
		"mid/chunk.bin": randomBytes(transfer.ChunkSize+1, 9),
	}
	src := filepath.Join(t.TempDir(), "tree")
	for name, data := range files {
		path := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sources, err := transfer.Collect(t.Context(), []string{src}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sources, files
}

// TestStreams sends a tree over four streams, in both modes: it arrives
// byte-identical, over four connections, and a receiver that takes no
// streams gets it over one.
func TestStreams(t *testing.T) {
	for _, tc := range []struct {
		name    string
		code    string
		streams int
		conns   int64
	}{
		{"plain -P 4", "", 4, 4},
		{"encrypted -P 4", testCode, 4, 4},
		{"encrypted -P 16", testCode, 16, 16},
		{"plain -P 1", "", 1, 1},
		{"plain -P 40, capped", "", 40, transfer.MaxStreams},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sources, files := streamTree(t)
			sink, dir := newDirSink(t, false)
			send := transfer.WithStreams(transfer.Options{Code: tc.code}, tc.streams)
			o := run(t, sources, sink, send, transfer.Options{Code: tc.code})
			if o.sendErr != nil || o.recvErr != nil {
				t.Fatalf("Send = %v, Serve = %v", o.sendErr, o.recvErr)
			}
			if o.conns != tc.conns {
				t.Errorf("the receiver accepted %d connections, want %d", o.conns, tc.conns)
			}
			for name, data := range files {
				got, err := os.ReadFile(filepath.Join(dir, "tree", filepath.FromSlash(name)))
				if err != nil || string(got) != string(data) {
					t.Errorf("%s: %d bytes, %v; want %d bytes as sent", name, len(got), err, len(data))
				}
			}
		})
	}
}

// TestStreamsOneConnReceiver: a receiver on one connection (Receive, not
// Serve) does not offer streams, and the sender's -P 4 uses that one.
func TestStreamsOneConnReceiver(t *testing.T) {
	sources, files := streamTree(t)
	sink, dir := newDirSink(t, false)
	ln := listen(t)
	recvErr := receiveOne(t, t.Context(), ln, sink, transfer.Options{})
	if _, err := transfer.Send(t.Context(), dial(t, ln.Addr()), sources, transfer.WithStreams(transfer.Options{}, 4)); err != nil {
		t.Fatal(err)
	}
	if err := await(t, recvErr, "Receive"); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "tree", "big.bin")); err != nil || string(got) != string(files["big.bin"]) {
		t.Fatalf("big.bin: %d bytes, %v", len(got), err)
	}
}

// TestStreamsResume interrupts a transfer, then resumes it over four
// streams.
func TestStreamsResume(t *testing.T) {
	const size = 32 << 20
	data := randomBytes(size, 21)
	src := writeSource(t, "big.bin", data, 0o644, time.Unix(1_700_000_000, 0))
	sink, dir := newDirSink(t, false)
	interrupted(t, sink, src, size, false)
	o := run(t, []transfer.Source{src}, sink, transfer.WithStreams(transfer.Options{}, 4), transfer.Options{})
	if o.sendErr != nil || o.recvErr != nil {
		t.Fatalf("the resumed transfer: Send = %v, Serve = %v", o.sendErr, o.recvErr)
	}
	if o.conns != 4 {
		t.Errorf("the receiver accepted %d connections, want 4", o.conns)
	}
	checkFile(t, dir, "big.bin", data, 0o644, src.ModTime)
	if s := o.sendSum; s.Resumed != 1 || s.Reused < size/4 || s.Bytes+s.Reused != size {
		t.Errorf("sender's summary %+v: want big.bin resumed", s)
	}
}

// TestStreamsForgedJoin: a join with a token the receiver did not give,
// while a transfer waits for its streams, is closed, and the transfer
// goes on.
func TestStreamsForgedJoin(t *testing.T) {
	sources, files := streamTree(t)
	sink, dir := newDirSink(t, false)
	var addr net.Addr
	forged := make(chan error, 1) // nil once the join was refused
	recv := transfer.WithGranted(transfer.Options{}, func() {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			forged <- err
			return
		}
		defer c.Close()
		j := framing.Join{N: 1}
		copy(j.Token[:], "not the token!!!")
		if _, err := c.Write(framing.AppendFrame(nil, framing.TypeJoin, framing.AppendJoin(nil, j))); err != nil {
			forged <- err
			return
		}
		// Refused: closed with nothing said.
		if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
			forged <- fmt.Errorf("read %d bytes, %v", n, err)
			return
		}
		forged <- nil
	})
	ln := listen(t)
	addr = ln.Addr()
	served := make(chan error, 1)
	go func() {
		served <- transfer.ServeWith(t.Context(), ln, sink, recv, transfer.ServeOptions{})
	}()
	if _, err := transfer.Send(t.Context(), dial(t, addr), sources, transfer.WithStreams(transfer.Options{}, 4)); err != nil {
		t.Fatalf("Send = %v", err)
	}
	if err := await(t, served, "Serve"); err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if err := await(t, forged, "the forged join"); err != nil {
		t.Fatalf("the forged join was not refused: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "tree", "big.bin")); err != nil || string(got) != string(files["big.bin"]) {
		t.Fatalf("big.bin: %d bytes, %v", len(got), err)
	}
}

// TestStreamsCannotOpen sends with -P 4 through a forwarder that passes
// one connection and then refuses, as a port forward limited to one
// connection would: the sender fails on its second stream, and the
// receiver hears why from it at once, not at its handshake timeout.
func TestStreamsCannotOpen(t *testing.T) {
	for _, code := range []string{"", testCode} {
		t.Run(map[string]string{"": "plain", testCode: "encrypted"}[code], func(t *testing.T) {
			sources, _ := streamTree(t)
			sink, _ := newDirSink(t, false)
			ln := listen(t)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			finished := make(chan error, 1)
			served := make(chan error, 1)
			go func() {
				served <- transfer.ServeWith(ctx, ln, sink, transfer.Options{Code: code}, transfer.ServeOptions{
					Finished: func(_ net.Addr, _ transfer.Summary, err error) { finished <- err },
				})
			}()
			fwd := listen(t)
			go forwardOne(t, fwd, ln.Addr())
			_, err := transfer.Send(t.Context(), dial(t, fwd.Addr()), sources, transfer.WithStreams(transfer.Options{Code: code}, 4))
			const want = "cannot open parallel connection 2 of 4"
			if !errors.Is(err, transfer.ErrStreams) || !strings.Contains(err.Error(), want) {
				t.Fatalf("Send = %v, want ErrStreams, %q", err, want)
			}
			if err := await(t, finished, "the receiver's end of the transfer"); err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("the receiver's transfer ended with %v, want the sender's %q", err, want)
			}
			// In the plain mode no transfer began, and Serve waits for the
			// next sender.
			cancel()
			await(t, served, "Serve")
		})
	}
}

// forwardOne accepts one connection on fwd, closes fwd, and relays that
// connection to to, each direction until its end.
func forwardOne(t *testing.T, fwd net.Listener, to net.Addr) {
	c, err := fwd.Accept()
	_ = fwd.Close()
	if err != nil {
		t.Error(err)
		return
	}
	u, err := net.Dial("tcp", to.String())
	if err != nil {
		_ = c.Close()
		t.Error(err)
		return
	}
	relay := func(dst, src net.Conn, done chan<- struct{}) {
		_, _ = io.Copy(dst, src)
		_ = dst.(*net.TCPConn).CloseWrite()
		close(done)
	}
	up, down := make(chan struct{}), make(chan struct{})
	go relay(u, c, up)
	go relay(c, u, down)
	<-up
	<-down
	_ = c.Close()
	_ = u.Close()
}
