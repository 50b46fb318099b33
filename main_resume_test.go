package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// haltingProxy forwards one connection to target, the sender's bytes
// until limit of them have gone, then no more: the transfer stands still
// there, about as far as the test wants it, for a process to be killed.
// When the sender's end goes, it closes the receiver's, as the sender's
// system would have.
type haltingProxy struct {
	ln      net.Listener
	target  string
	limit   int64
	reached chan struct{} // closed once limit bytes have gone
	once    sync.Once
}

func newHaltingProxy(t *testing.T, target string, limit int64) *haltingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &haltingProxy{ln: ln, target: target, limit: limit, reached: make(chan struct{})}
	t.Cleanup(func() { _ = ln.Close() })
	go p.serve(t)
	return p
}

func (p *haltingProxy) serve(t *testing.T) {
	in, err := p.ln.Accept()
	if err != nil {
		return
	}
	out, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = in.Close()
		return
	}
	t.Cleanup(func() { _ = in.Close(); _ = out.Close() })
	go func() { _, _ = io.Copy(in, out) }()
	buf := make([]byte, 64<<10)
	var sent int64
	for {
		n, err := in.Read(buf[:min(int64(len(buf)), p.limit-sent)])
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				return
			}
			sent += int64(n)
		}
		if sent >= p.limit {
			p.once.Do(func() { close(p.reached) })
			// Nothing more goes through; the receiver hears of the
			// sender's end once it comes.
			_, _ = io.Copy(io.Discard, in)
			_ = out.Close()
			return
		}
		if err != nil {
			return
		}
	}
}

func (p *haltingProxy) addr() string { return p.ln.Addr().String() }

func (p *haltingProxy) await(t *testing.T) {
	t.Helper()
	select {
	case <-p.reached:
	case <-time.After(guard):
		t.Fatalf("the transfer did not reach %d bytes", p.limit)
	}
}

// TestResumeAfterKill kills the receiver, or the sender, with SIGKILL
// when about half of a big file has gone, then sends the same file again:
// it arrives byte-identical, and the second send moves only about the
// half that had not arrived (its --json summary's bytes), resuming one
// file.
func TestResumeAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 128 MiB; not with -short")
	}
	const size = 64 << 20
	for _, killed := range []string{"recv", "send"} {
		t.Run("kill -9 "+killed, func(t *testing.T) {
			src, dst := t.TempDir(), t.TempDir()
			data := randomBytes(size)
			writeFile(t, src, "big.bin", data, 0o644, time.Unix(1_700_000_000, 0))
			recv, addr := startRecv(t, dst, nil, "--json", "-k", "-l", "127.0.0.1:0", "in")
			proxy := newHaltingProxy(t, addr, size/2)
			first := start(t, src, nil, nil, "send", "--json", proxy.addr(), "big.bin")
			proxy.await(t)
			if killed == "recv" {
				recv.signal(os.Kill)
				recv.wait()
				recv, addr = startRecv(t, dst, nil, "--json", "-k", "-l", "127.0.0.1:0", "in")
				first.signal(os.Kill)
			} else {
				first.signal(os.Kill)
				// The receiver keeps what arrived once it has seen the
				// transfer fail.
				recv.waitEvent("error")
			}
			first.wait()
			if _, err := os.Lstat(filepath.Join(dst, "in", "big.bin")); err == nil {
				t.Fatal("big.bin is under its final name after the killed transfer")
			}
			again := send(t, src, nil, "--json", addr, "big.bin")
			if again.code != 0 {
				t.Fatalf("the second send exited %d:\n%s", again.code, again.stderr())
			}
			sum := again.event("summary")
			moved, _ := sum["bytes"].(float64)
			reused, _ := sum["reused_bytes"].(float64)
			// Half went through the proxy; what was still in the sockets
			// and buffers when the process died (some megabytes) goes
			// again too.
			if sum["resumed"] != 1.0 || moved > size*3/4 || moved+reused != size {
				t.Errorf("second send's summary %v: want 1 file resumed, about half of %d bytes moved", sum, size)
			}
			if resumed := again.event("resumed"); resumed["name"] != "big.bin" || resumed["from"] != reused {
				t.Errorf("resumed event %v, want big.bin from %v", resumed, reused)
			}
			got, err := os.ReadFile(filepath.Join(dst, "in", "big.bin"))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("big.bin after the second send: %d bytes, %v; want the %d sent", len(got), err, size)
			}
			recv.interrupt()
			recv.wait()
		})
	}
}

// TestPartialFilesAtStart: recv says what partial data DIR keeps from
// transfers that failed, and removes what is older than --partial-age,
// never showing any of it as received.
func TestPartialFilesAtStart(t *testing.T) {
	dir := t.TempDir()
	parts := filepath.Join(dir, "in", ".ferry-partial")
	if err := os.MkdirAll(parts, 0o700); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	// Partial files are named by the hex of 16 bytes of a hash.
	recent := strings.Repeat("0", 32) + ".part"
	for name, age := range map[string]time.Time{recent: time.Now(), strings.Repeat("1", 32) + ".part": old, strings.Repeat("2", 32) + ".part": old} {
		writeFile(t, parts, name, make([]byte, 1000), 0o600, age)
	}
	recv, _ := startRecv(t, dir, nil, "--json", "--partial-age", "24h", "-l", "127.0.0.1:0", "in")
	recv.interrupt()
	recv.wait()
	var got []map[string]any
	for _, ev := range recv.events() {
		if ev["event"] == "partial_files" {
			got = append(got, ev)
		}
	}
	if len(got) != 2 || got[0]["removed"] != 2.0 || got[0]["bytes"] != 2000.0 || got[1]["kept"] != 1.0 || got[1]["bytes"] != 1000.0 {
		t.Errorf("partial_files events %v: want 2 removed (2,000 bytes), then 1 kept (1,000 bytes)", got)
	}
	left, err := os.ReadDir(parts)
	if err != nil || len(left) != 1 || left[0].Name() != recent {
		t.Errorf("%s holds %v (%v), want only the recent %s", parts, left, err, recent)
	}
	if msgs := recv.messages("file"); len(msgs) != 0 {
		t.Errorf("partial data reported as received: %q", msgs)
	}
}
