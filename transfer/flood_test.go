package transfer_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/transfer"
)

// flood opens connections to addr from the local addresses ips, round
// robin, until ctx ends: silent ones, held open, and ones that send bytes
// that are no ferry hello, also held open. It keeps at most hold of them
// open at once, closing the oldest, and counts those it opened in dialed,
// calling mid once when there are midway of them.
func flood(ctx context.Context, addr net.Addr, ips []string, hold int, dialed *atomic.Int64, midway int64, mid func()) {
	var open []net.Conn
	defer func() {
		for _, c := range open {
			_ = c.Close()
		}
	}()
	for i := 0; ctx.Err() == nil; i++ {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ips[i%len(ips)])}, Timeout: guard}
		c, err := d.DialContext(ctx, "tcp", addr.String())
		if err != nil {
			continue
		}
		if dialed.Add(1) == midway {
			mid()
		}
		if i%2 == 1 {
			_, _ = c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
		}
		open = append(open, c)
		if len(open) > hold {
			_ = open[0].Close()
			open = open[1:]
		}
	}
}

// TestServeFlood floods a KeepOpen receiver with silent and garbage
// connections, from one address and from many, while a transfer runs
// beside the flood; a new sender connects in the middle of it. Both
// transfers must finish: connections that sent no hello must not hold the
// receiver's slots (before, 64 silent sockets kept it "busy" for every
// real sender).
func TestServeFlood(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ips  []string
	}{
		{name: "from one address", ips: []string{"127.0.3.1"}},
		{name: "from many addresses", ips: func() []string {
			var ips []string
			for i := range 100 {
				ips = append(ips, fmt.Sprintf("127.0.4.%d", i+1))
			}
			return ips
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ln := listen(t)
			inner, dir := newDirSink(t, false)
			sink := beginSignal{inner, make(chan struct{}, 2)}
			ctx, cancel := context.WithCancel(t.Context())
			served := make(chan error, 1)
			go func() {
				served <- transfer.Serve(ctx, ln, sink, transfer.ServeOptions{KeepOpen: true})
			}()
			defer func() {
				cancel()
				await(t, served, "Serve")
			}()

			// The transfer beside the flood: half its data, then a pause.
			data := textBytes(1 << 20)
			input, feed := io.Pipe()
			defer feed.Close()
			running := make(chan error, 1)
			go func() {
				_, err := transfer.Send(t.Context(), dial(t, ln.Addr()), []transfer.Source{transfer.StreamSource("running", input)}, transfer.Options{})
				running <- err
			}()
			await(t, sink.begun, "the running transfer's offer")
			if _, err := feed.Write(data[:len(data)/2]); err != nil {
				t.Fatal(err)
			}

			floodCtx, stopFlood := context.WithCancel(t.Context())
			var dialed atomic.Int64
			// The middle of the flood: well past the receiver's MaxConns.
			middle := make(chan struct{})
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					flood(floodCtx, ln.Addr(), tt.ips, 100, &dialed, 4*transfer.MaxConns, func() { close(middle) })
				})
			}
			defer func() {
				stopFlood()
				wg.Wait()
			}()
			await(t, middle, "the middle of the flood")
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.5.1")}, Timeout: guard}
			conn, err := d.DialContext(t.Context(), "tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := transfer.Send(t.Context(), conn, []transfer.Source{transfer.StreamSource("newcomer", bytes.NewReader(textBytes(4096)))}, transfer.Options{}); err != nil {
				t.Errorf("the sender that came during the flood: Send = %v", err)
			}
			if _, err := feed.Write(data[len(data)/2:]); err != nil {
				t.Fatal(err)
			}
			_ = feed.Close()
			if err := await(t, running, "the running transfer"); err != nil {
				t.Errorf("the transfer beside the flood: Send = %v", err)
			}
			stopFlood()
			wg.Wait()
			onlyEntry(t, dir, "newcomer", "running")
		})
	}
}

// bothModes are the plain and the encrypted mode, by the receiver's code.
var bothModes = []struct{ name, code string }{{"plain", ""}, {"encrypted", testCode}}

// senderHello is a sender's hello frame, in the encrypted mode if secure.
func senderHello(secure bool) []byte {
	h := framing.Hello{Version: framing.Version, Role: framing.RoleSender}
	if secure {
		h.Capabilities = framing.CapSecure
	}
	return framing.AppendFrame(nil, framing.TypeHello, framing.AppendHello(nil, h))
}

// TestServeHelloHolders fills a KeepOpen receiver's 64 connections from
// two addresses with clients that send a sender's hello and then wait,
// which no limit on silent connections reaches: a sender from a third
// address must still get in. A connection is protected only once its
// offer came, past the handshake.
func TestServeHelloHolders(t *testing.T) {
	t.Parallel()
	for _, m := range bothModes {
		code := m.code
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			ln := listen(t)
			sink, dir := newDirSink(t, false)
			ctx, cancel := context.WithCancel(t.Context())
			served := make(chan error, 1)
			greeted := make(chan net.Addr, transfer.MaxConns)
			go func() {
				served <- transfer.ServeWith(ctx, ln, sink, transfer.Options{Code: code}, transfer.ServeOptions{
					KeepOpen: true,
					Greeted:  func(peer net.Addr) { greeted <- peer },
				})
			}()
			defer func() {
				cancel()
				await(t, served, "Serve")
			}()
			for i := range transfer.MaxConns {
				ip := fmt.Sprintf("127.0.6.%d", 1+i/transfer.MaxConnsPerAddress)
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: guard}
				c, err := d.DialContext(t.Context(), "tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if _, err := c.Write(senderHello(code != "")); err != nil {
					t.Fatal(err)
				}
				// The receiver's hello and pings go unread: the client
				// waits, as a flood would.
				await(t, greeted, "a holder's hello")
			}
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.7.1")}, Timeout: guard}
			conn, err := d.DialContext(t.Context(), "tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := transfer.Send(t.Context(), conn, []transfer.Source{transfer.StreamSource("real", bytes.NewReader(textBytes(1000)))}, transfer.Options{Code: code}); err != nil {
				t.Errorf("a sender with 64 connections holding their hello: Send = %v", err)
			}
			onlyEntry(t, dir, "real")
		})
	}
}

// TestServeOneHelloThenClose has a client send a sender's hello to a Serve
// without KeepOpen and hang up: no code was tried and no transfer began,
// so Serve goes on waiting and serves the sender after it.
func TestServeOneHelloThenClose(t *testing.T) {
	t.Parallel()
	for _, m := range bothModes {
		code := m.code
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			ln := listen(t)
			sink, dir := newDirSink(t, false)
			finished := make(chan error, 2)
			served := make(chan error, 1)
			go func() {
				served <- transfer.ServeWith(t.Context(), ln, sink, transfer.Options{Code: code}, transfer.ServeOptions{
					Finished: func(_ net.Addr, _ transfer.Summary, err error) { finished <- err },
				})
			}()
			c := dial(t, ln.Addr())
			if _, err := c.Write(senderHello(code != "")); err != nil {
				t.Fatal(err)
			}
			_ = c.Close()
			if err := await(t, finished, "the hello's connection"); !transfer.NoTransfer(err) {
				t.Fatalf("a hello and a hang-up ended with %v, want no transfer", err)
			}
			if _, err := transfer.Send(t.Context(), dial(t, ln.Addr()), []transfer.Source{transfer.StreamSource("after", bytes.NewReader(textBytes(100)))}, transfer.Options{Code: code}); err != nil {
				t.Fatalf("Send after the hello's hang-up = %v", err)
			}
			if err := await(t, served, "Serve"); err != nil {
				t.Fatalf("Serve = %v", err)
			}
			onlyEntry(t, dir, "after")
		})
	}
}
