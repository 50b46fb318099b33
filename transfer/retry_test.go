package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/transfer"
)

// resetAfter is a sender's connection that is reset, as by a sender killed
// or a link reset, once left more bytes were written.
type resetAfter struct {
	net.Conn
	left int
}

func (c *resetAfter) Write(p []byte) (int, error) {
	if c.left -= len(p); c.left < 0 {
		tc := c.Conn.(*net.TCPConn)
		_ = tc.SetLinger(0)
		_ = tc.Close()
		return 0, net.ErrClosed
	}
	return c.Conn.Write(p)
}

// TestServeRetries runs senders that fail against a Serve without KeepOpen
// given Retries: one that failed on the sender's side or between the two
// (interrupted, its connection reset) is waited through, with the same
// code, up to Retries times; a wrong code, a failure of the receiver's
// own, and running out of retries end Serve.
func TestServeRetries(t *testing.T) {
	data := randomBytes(1<<20, 7)
	type attempt func(t *testing.T, addr net.Addr)
	complete := func(t *testing.T, addr net.Addr) {
		src := writeSource(t, "f.bin", data, 0o644, time.Now())
		if _, err := transfer.Send(t.Context(), dial(t, addr), []transfer.Source{src}, transfer.Options{Code: testCode}); err != nil {
			t.Errorf("the sender that should complete: %v", err)
		}
	}
	interrupted := func(t *testing.T, addr net.Addr) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		// Stopped once data moves after the handshake: a sender that stops
		// before the receiver's confirm began no transfer, and Serve waits
		// for the next without a retry. The first chunks are queued while
		// the handshake runs, so on a loaded machine the first Progress
		// can come before it ends.
		var secured atomic.Bool
		o := transfer.Options{Code: testCode, Secured: func(string) { secured.Store(true) }, Progress: func(transfer.Progress) {
			if secured.Load() {
				cancel()
			}
		}}
		if _, err := transfer.Send(ctx, dial(t, addr), []transfer.Source{transfer.StreamSource("f.bin", endless{})}, o); err == nil {
			t.Error("the interrupted sender succeeded")
		}
	}
	reset := func(t *testing.T, addr net.Addr) {
		src := writeSource(t, "f.bin", data, 0o644, time.Now())
		c := &resetAfter{Conn: dial(t, addr), left: 300 << 10}
		if _, err := transfer.Send(t.Context(), c, []transfer.Source{src}, transfer.Options{Code: testCode}); err == nil {
			t.Error("the reset sender succeeded")
		}
	}
	wrongCode := func(t *testing.T, addr net.Addr) {
		src := writeSource(t, "f.bin", data, 0o644, time.Now())
		if _, err := transfer.Send(t.Context(), dial(t, addr), []transfer.Source{src}, transfer.Options{Code: "WRO-NGC-0DE"}); !errors.Is(err, transfer.ErrAuth) {
			t.Errorf("the sender with a wrong code: %v, want ErrAuth", err)
		}
	}
	refused := func(t *testing.T, addr net.Addr) {
		src := writeSource(t, "taken", []byte("new\n"), 0o644, time.Now())
		if _, err := transfer.Send(t.Context(), dial(t, addr), []transfer.Source{src}, transfer.Options{Code: testCode}); err == nil {
			t.Error("the sender of a file the receiver has succeeded")
		}
	}
	is := func(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }
	for _, tc := range []struct {
		name     string
		retries  int
		attempts []attempt
		served   func(error) bool // Serve's error
		retried  int
	}{
		{"interrupted, then complete", 5, []attempt{interrupted, complete}, is(nil), 1},
		{"reset, then complete", 5, []attempt{reset, complete}, is(nil), 1},
		{"reset, no retries", 0, []attempt{reset}, is(transfer.ErrConnectionLost), 0},
		{"out of retries", 2, []attempt{reset, interrupted, reset}, is(transfer.ErrConnectionLost), 2},
		{"a wrong code ends it", 5, []attempt{reset, wrongCode}, is(transfer.ErrAuth), 1},
		{"the receiver's own failure ends it", 5, []attempt{refused}, func(err error) bool {
			var e *transfer.Error
			return errors.As(err, &e) && e.Code == framing.CodeExists && !e.Remote
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := listen(t)
			sink, dir := newDirSink(t, false)
			if err := os.WriteFile(filepath.Join(dir, "taken"), []byte("old\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			retrying := make(chan int, len(tc.attempts))
			served := make(chan error, 1)
			go func() {
				served <- transfer.ServeWith(t.Context(), ln, sink, transfer.Options{Code: testCode}, transfer.ServeOptions{
					Retries: tc.retries,
					Retrying: func(peer net.Addr, err error, left int) {
						if !errors.Is(err, transfer.ErrConnectionLost) && !errors.Is(err, context.Canceled) && !isAbort(err) {
							t.Errorf("Retrying after %v, want a lost connection or the sender's abort", err)
						}
						retrying <- left
					},
				})
			}()
			for i, a := range tc.attempts {
				a(t, ln.Addr())
				if i < tc.retried {
					if left := await(t, retrying, "the Retrying callback"); left != tc.retries-1-i {
						t.Errorf("after failure %d: Retrying with %d left, want %d", i+1, left, tc.retries-1-i)
					}
				}
			}
			if err := await(t, served, "Serve"); !tc.served(err) {
				t.Errorf("Serve = %v", err)
			}
			if len(retrying) != 0 {
				t.Errorf("Retrying called %d more times than the %d expected", len(retrying), tc.retried)
			}
			if got, err := os.ReadFile(filepath.Join(dir, "f.bin")); tc.served(nil) && (err != nil || !bytes.Equal(got, data)) {
				t.Errorf("f.bin after the transfer that completed: %d bytes, %v; want the %d sent", len(got), err, len(data))
			}
		})
	}
}

// TestServeRetryAtOnce: a sender that tries again the moment Serve says
// it waits, here from the Retrying callback itself, is served, not told
// the receiver is busy with the transfer that failed.
func TestServeRetryAtOnce(t *testing.T) {
	data := randomBytes(1<<20, 8)
	ln := listen(t)
	sink, dir := newDirSink(t, false)
	served := make(chan error, 1)
	go func() {
		served <- transfer.ServeWith(t.Context(), ln, sink, transfer.Options{Code: testCode}, transfer.ServeOptions{
			Retries: 1,
			Retrying: func(net.Addr, error, int) {
				src := writeSource(t, "f.bin", data, 0o644, time.Now())
				if _, err := transfer.Send(t.Context(), dial(t, ln.Addr()), []transfer.Source{src}, transfer.Options{Code: testCode}); err != nil {
					t.Errorf("the sender that tried again at once: %v", err)
				}
			},
		})
	}()
	src := writeSource(t, "f.bin", data, 0o644, time.Now())
	c := &resetAfter{Conn: dial(t, ln.Addr()), left: 300 << 10}
	if _, err := transfer.Send(t.Context(), c, []transfer.Source{src}, transfer.Options{Code: testCode}); err == nil {
		t.Error("the reset sender succeeded")
	}
	if err := await(t, served, "Serve"); err != nil {
		t.Errorf("Serve = %v, want the retry's success", err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "f.bin")); err != nil || !bytes.Equal(got, data) {
		t.Errorf("f.bin: %d bytes, %v; want the %d sent", len(got), err, len(data))
	}
}

// isAbort says whether err is the sender's report that it stopped.
func isAbort(err error) bool {
	var e *transfer.Error
	return errors.As(err, &e) && e.Remote && e.Code == 0
}

// TestConnectionLost resets a sender's connection midway through a file,
// with and without a code: the receiver's error is ErrConnectionLost, in
// one line that names the sender and says how far the transfer came,
// with none of Go's socket plumbing, and its Bytes and Total say the same.
func TestConnectionLost(t *testing.T) {
	const size, cut = 1 << 20, 300 << 10
	data := randomBytes(size, 9)
	for _, tc := range []struct {
		name string
		code string
	}{
		{"plain", ""},
		{"encrypted", testCode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := listen(t)
			sink, _ := newDirSink(t, false)
			received := receiveOne(t, t.Context(), ln, sink, transfer.Options{Code: tc.code})
			src := writeSource(t, "f.bin", data, 0o644, time.Now())
			c := &resetAfter{Conn: dial(t, ln.Addr()), left: cut}
			// The sender's own error is its socket closed under it, which
			// only this test does; the receiver's is the point.
			if _, err := transfer.Send(t.Context(), c, []transfer.Source{src}, transfer.Options{Code: tc.code}); err == nil {
				t.Error("Send succeeded over a reset connection")
			}
			err := await(t, received, "Receive")
			var e *transfer.Error
			if !errors.Is(err, transfer.ErrConnectionLost) || !errors.As(err, &e) {
				t.Fatalf("Receive = %v, want ErrConnectionLost in an *Error", err)
			}
			// A reset discards what the receiver had not read yet: it
			// may have none of the bytes sent.
			if e.Bytes < 0 || e.Bytes > cut || e.Total != size {
				t.Errorf("Bytes, Total = %d, %d; want at most the %d bytes sent, of %d", e.Bytes, e.Total, cut, size)
			}
			msg := err.Error()
			want := regexp.MustCompile(`^the connection from 127\.0\.0\.1:\d+ was lost after [0-9.]+ k?B of 1\.0 MB$`)
			if !want.MatchString(msg) || strings.ContainsAny(msg, "\n") || strings.Contains(msg, "tcp") || strings.Contains(msg, "reset by peer") {
				t.Errorf("Receive = %q, want one line matching %s, without Go's socket errors", msg, want)
			}
		})
	}
}
