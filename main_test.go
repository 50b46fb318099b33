package main

// These tests drive the built ferry binary the way a user does: a "ferry
// recv" process listens on a port the kernel picks (-l 127.0.0.1:0), the test
// reads that port from the listening message on recv's stderr, and a "ferry
// send" process sends to it. They check exit statuses, the files that land,
// stdout and the messages on stderr.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"go.uber.org/goleak"
)

// guard bounds every wait, so a hung process fails its test instead of the
// whole run; it is never used to synchronise.
const guard = 20 * time.Second

// testCode is the code of the tests' ferry processes (FERRY_CODE).
const testCode = "TST-C0D-E42"

// ferryBin is the binary TestMain builds.
var ferryBin string

func TestMain(m *testing.M) {
	// Started by a script of main_script_test.go as "ferry", this binary
	// is the command; otherwise it runs the tests.
	testscript.Main(scriptM{m}, map[string]func(){"ferry": ferryCommand})
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "ferry-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Open to every user: a test runs ferry as another one.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ferryBin = filepath.Join(dir, "ferry")
	// Every ferry the tests start runs the default, encrypted mode with
	// this fixed code, unless a test says otherwise.
	if err := os.Setenv("FERRY_CODE", testCode); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	build := exec.Command("go", "build", "-o", ferryBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building ferry: %v\n%s", err, out)
		return 1
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: leaked goroutines after the tests: %v\n", err)
			return 1
		}
	}
	return code
}

// proc is one running ferry process. Its stderr is read line by line as it
// comes, so a test can wait for a message; stdout goes to the writer the
// test chose, or into out.
type proc struct {
	t    *testing.T
	name string // "recv" or "send", for messages
	cmd  *exec.Cmd
	out  *syncBuffer // stdout, unless the test gave its own writer

	mu    sync.Mutex
	lines []string
	grew  chan struct{} // closed and replaced whenever lines grows or stderr ends
	eof   bool

	done chan struct{} // closed once the process has been waited for
	code int           // exit status; -1 if a signal killed it
}

// start runs ferry with args in dir. A nil stdin reads nothing; a nil stdout
// collects into p.out.
func start(t *testing.T, dir string, stdin io.Reader, stdout io.Writer, args ...string) *proc {
	t.Helper()
	name := "(no args)"
	if len(args) > 0 {
		name = args[0]
	}
	return startProg(t, name, ferryBin, nil, dir, stdin, stdout, args...)
}

// startProg is start for any program and environment: it runs bin with args
// in dir, env as its environment (nil: this process's), and reads its stderr
// line by line. name is how messages call it.
func startProg(t *testing.T, name, bin string, env []string, dir string, stdin io.Reader, stdout io.Writer, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, grew: make(chan struct{}), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	p.cmd.Env = env
	p.cmd.Stdin = stdin
	if stdout == nil {
		p.out = &syncBuffer{}
		stdout = p.out
	}
	p.cmd.Stdout = stdout
	// Whatever happens to the process, Wait returns soon after it exits,
	// even if a stdin copy is stuck.
	p.cmd.WaitDelay = guard
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s %s: %v", bin, strings.Join(args, " "), err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.addLine(sc.Text())
		}
		_, _ = io.Copy(io.Discard, stderr) // after an overlong line, drain so Wait can finish
		p.addEOF()
		err := p.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
			p.code = 0
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		default:
			p.code = -2
		}
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) addLine(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, s)
	close(p.grew)
	p.grew = make(chan struct{})
}

func (p *proc) addEOF() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.eof = true
	close(p.grew)
	p.grew = make(chan struct{})
}

// stderr is everything the process wrote on stderr so far.
func (p *proc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.lines) == 0 {
		return ""
	}
	return strings.Join(p.lines, "\n") + "\n"
}

// waitLine waits for a stderr line that match accepts, and returns it.
func (p *proc) waitLine(what string, match func(string) bool) string {
	p.t.Helper()
	timeout := time.NewTimer(guard)
	defer timeout.Stop()
	for i := 0; ; {
		p.mu.Lock()
		for ; i < len(p.lines); i++ {
			if match(p.lines[i]) {
				line := p.lines[i]
				p.mu.Unlock()
				return line
			}
		}
		eof, grew := p.eof, p.grew
		p.mu.Unlock()
		if eof {
			<-p.done
			p.t.Fatalf("ferry %s exited with status %d before printing %s; stderr:\n%s", p.name, p.code, what, p.stderr())
		}
		select {
		case <-grew:
		case <-timeout.C:
			p.t.Fatalf("ferry %s printed no %s within %v; stderr:\n%s", p.name, what, guard, p.stderr())
		}
	}
}

// waitEvent waits for the JSON event called name on stderr.
func (p *proc) waitEvent(name string) map[string]any {
	p.t.Helper()
	return p.waitEventN(name, 1)
}

// waitEventN waits for the nth JSON event called name on stderr.
func (p *proc) waitEventN(name string, n int) map[string]any {
	p.t.Helper()
	seen := 0 // waitLine offers each line once, in order
	line := p.waitLine(fmt.Sprintf("%q event number %d", name, n), func(l string) bool {
		if ev, err := parseEvent(l); err == nil && ev["event"] == name {
			seen++
		}
		return seen == n
	})
	ev, _ := parseEvent(line)
	return ev
}

// wait waits for the process to exit and returns its exit status.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(guard):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("ferry %s still running after %v, killed; stderr:\n%s", p.name, guard, p.stderr())
	}
	return p.code
}

// expect waits for the process to exit with status want.
func (p *proc) expect(want int) {
	p.t.Helper()
	if got := p.wait(); got != want {
		p.t.Fatalf("ferry %s exited with status %d, want %d; stderr:\n%s", p.name, got, want, p.stderr())
	}
}

// interrupt sends SIGINT, as Ctrl-C does.
func (p *proc) interrupt() {
	p.t.Helper()
	p.signal(os.Interrupt)
}

// signal sends sig to the process.
func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("sending %v to ferry %s: %v", sig, p.name, err)
	}
}

// events parses every stderr line as a JSON event; with --json there must
// be nothing else on stderr.
func (p *proc) events() []map[string]any {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	var evs []map[string]any
	for _, l := range p.lines {
		ev, err := parseEvent(l)
		if err != nil {
			p.t.Fatalf("ferry %s --json printed a line that is not a JSON event: %q (%v)", p.name, l, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// messages returns the message of every event called name, in order.
func (p *proc) messages(name string) []string {
	p.t.Helper()
	var msgs []string
	for _, ev := range p.events() {
		if ev["event"] == name {
			msg, _ := ev["message"].(string)
			msgs = append(msgs, msg)
		}
	}
	return msgs
}

// event returns the only event called name; the process must have exited.
func (p *proc) event(name string) map[string]any {
	p.t.Helper()
	var found []map[string]any
	for _, ev := range p.events() {
		if ev["event"] == name {
			found = append(found, ev)
		}
	}
	if len(found) != 1 {
		p.t.Fatalf("ferry %s printed %d %q events, want 1; stderr:\n%s", p.name, len(found), name, p.stderr())
	}
	return found[0]
}

// errorMessage is the message of the JSON error event.
func (p *proc) errorMessage() string {
	p.t.Helper()
	msg, _ := p.event("error")["message"].(string)
	return msg
}

func parseEvent(line string) (map[string]any, error) {
	var ev map[string]any
	if err := json.Unmarshal([]byte(line), &ev); err != nil {
		return nil, err
	}
	if _, ok := ev["event"].(string); !ok {
		return nil, fmt.Errorf("no event name")
	}
	return ev, nil
}

var humanCommand = regexp.MustCompile(`^    ferry send (?:--code \S+|--plain|--raw) (\S+) FILE$`)

// startRecv starts "ferry recv args..." and waits until it listens. It
// returns the address to send to, read from the JSON listening event or,
// without --json, from the command line recv prints for the sender.
func startRecv(t *testing.T, dir string, stdout io.Writer, args ...string) (*proc, string) {
	t.Helper()
	p := start(t, dir, nil, stdout, append([]string{"recv"}, args...)...)
	line := p.waitLine("its listening message", func(l string) bool {
		if ev, err := parseEvent(l); err == nil {
			return ev["event"] == "listening"
		}
		return humanCommand.MatchString(l)
	})
	if m := humanCommand.FindStringSubmatch(line); m != nil {
		return p, m[1]
	}
	ev, _ := parseEvent(line)
	addr, _ := ev["addr"].(string)
	if addr == "" {
		t.Fatalf("listening event without addr: %s", line)
	}
	return p, addr
}

// send runs "ferry send args..." to its end.
func send(t *testing.T, dir string, stdin io.Reader, args ...string) *proc {
	t.Helper()
	p := start(t, dir, stdin, nil, append([]string{"send"}, args...)...)
	p.wait()
	return p
}

// syncBuffer is a bytes.Buffer safe for the exec copy goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// meter counts the bytes that pass and closes reached once at least
// threshold have.
type meter struct {
	mu        sync.Mutex
	n         int64
	threshold int64
	reached   chan struct{}
}

func newMeter(threshold int64) *meter {
	return &meter{threshold: threshold, reached: make(chan struct{})}
}

func (m *meter) add(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	before := m.n
	m.n += int64(n)
	if before < m.threshold && m.n >= m.threshold {
		close(m.reached)
	}
}

// Write counts and discards: an endless stream must not pile up in memory.
func (m *meter) Write(p []byte) (int, error) {
	m.add(len(p))
	return len(p), nil
}

func (m *meter) await(t *testing.T, what string) {
	t.Helper()
	select {
	case <-m.reached:
	case <-time.After(guard):
		t.Fatalf("%s: fewer than %d bytes within %v", what, m.threshold, guard)
	}
}

// endless is a stream without end; it counts what is read from it.
type endless struct {
	block []byte
	read  *meter
}

func newEndless(threshold int64) *endless {
	return &endless{block: randomBytes(64 << 10), read: newMeter(threshold)}
}

func (e *endless) Read(p []byte) (int, error) {
	n := copy(p, e.block)
	e.read.add(n)
	return n, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// mixedBytes is n bytes, half compressible text and half random, so every
// -z mode has something to do.
func mixedBytes(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n/2; i++ {
		fmt.Fprintf(&b, "line %d: the quick brown fox jumps over the lazy dog\n", i)
	}
	b.Write(randomBytes(n - b.Len()))
	return b.Bytes()[:n]
}

// writeFile creates name in dir with data, mode and modification time.
func writeFile(t *testing.T, dir, name string, data []byte, mode os.FileMode, mtime time.Time) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkReceived checks that dir holds exactly the files in want, with their
// bytes, and no leftover temporary file.
func checkReceived(t *testing.T, dir string, want map[string][]byte) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		if strings.HasPrefix(e.Name(), ".ferry-") {
			t.Errorf("temporary file %s left in %s", e.Name(), dir)
		}
	}
	if len(entries) != len(want) {
		t.Errorf("%s holds %q, want %d files", dir, names, len(want))
	}
	for name, data := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("received file: %v", err)
			continue
		}
		if !bytes.Equal(got, data) {
			t.Errorf("%s: received %d bytes that differ from the %d sent", name, len(got), len(data))
		}
	}
}

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s = %q, want it to contain %q", what, got, w)
		}
	}
}

var checksumRE = regexp.MustCompile(`^crc32c:[0-9a-f]{8}$`)

// TestSendFile sends one file into a directory and checks the file, both
// exit statuses and both sides' JSON events.
func TestSendFile(t *testing.T) {
	mtime := time.Date(2021, 3, 4, 5, 6, 7, 891011121, time.UTC)
	for _, tc := range []struct {
		name string
		size int
		mode os.FileMode
	}{
		{"empty", 0, 0o644},
		{"small", 1000, 0o600},
		{"several chunks", 3<<20 + 17, 0o751},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := t.TempDir(), t.TempDir()
			data := mixedBytes(tc.size)
			path := writeFile(t, src, "data.bin", data, tc.mode, mtime)

			recv, addr := startRecv(t, dst, nil, "--json", "-l", "127.0.0.1:0", dst)
			snd := send(t, src, nil, "--json", addr, path)
			snd.expect(0)
			recv.expect(0)

			checkReceived(t, dst, map[string][]byte{"data.bin": data})
			info, err := os.Stat(filepath.Join(dst, "data.bin"))
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm() != tc.mode {
				t.Errorf("received mode %v, want %v", info.Mode().Perm(), tc.mode)
			}
			if !info.ModTime().Equal(mtime) {
				t.Errorf("received mtime %v, want %v", info.ModTime(), mtime)
			}

			for _, p := range []*proc{recv, snd} {
				if out := p.out.Bytes(); len(out) != 0 {
					t.Errorf("ferry %s wrote %q on stdout, want nothing", p.name, out)
				}
				p.event("connected")
				file := p.event("file")
				if file["name"] != "data.bin" || file["bytes"] != float64(tc.size) {
					t.Errorf("ferry %s file event %v, want name data.bin and %d bytes", p.name, file, tc.size)
				}
				if secs, ok := file["seconds"].(float64); !ok || secs < 0 {
					t.Errorf("ferry %s file event seconds = %v", p.name, file["seconds"])
				}
				if sum, _ := file["checksum"].(string); !checksumRE.MatchString(sum) {
					t.Errorf("ferry %s file event checksum = %q, want crc32c:xxxxxxxx", p.name, sum)
				}
				sum := p.event("summary")
				if sum["files"] != float64(1) || sum["bytes"] != float64(tc.size) {
					t.Errorf("ferry %s summary %v, want 1 file of %d bytes", p.name, sum, tc.size)
				}
			}
			if s, r := snd.event("file")["checksum"], recv.event("file")["checksum"]; s != r {
				t.Errorf("checksums differ: sender %v, receiver %v", s, r)
			}
			if ev := recv.event("listening"); ev["into"] != dst {
				t.Errorf("listening event into = %v, want %s", ev["into"], dst)
			}
		})
	}
}

// TestHumanMessages checks the messages without --json, and that -q keeps
// quiet about everything but errors.
func TestHumanMessages(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		src, dst := t.TempDir(), t.TempDir()
		writeFile(t, src, "notes.txt", []byte("hello\n"), 0o644, time.Now())
		recv, addr := startRecv(t, dst, nil, "-l", "127.0.0.1:0", dst)
		snd := send(t, src, nil, addr, "notes.txt")
		snd.expect(0)
		recv.expect(0)
		_, port, _ := net.SplitHostPort(addr)
		mustContain(t, "recv stderr", recv.stderr(),
			"ferry: listening on port "+port+", receiving into "+dst+"\n",
			"\n    ferry send --code CODE 127.0.0.1:"+port+" FILE\n",
			"ferry: code accepted; encrypted with ",
			"ferry: connection from 127.0.0.1:",
			"ferry: done: received notes.txt, 6 B in ")
		mustContain(t, "send stderr", snd.stderr(),
			"ferry: connected to "+addr+"\n",
			"ferry: done: sent notes.txt, 6 B in ")
		for _, p := range []*proc{recv, snd} {
			if strings.Contains(p.stderr(), "{") || strings.Contains(p.stderr(), "error") {
				t.Errorf("ferry %s stderr has JSON or an error:\n%s", p.name, p.stderr())
			}
		}
	})

	// -q prints errors only, as messages or, with --json, as events.
	for _, q := range []struct {
		name      string
		flags     []string
		errPrefix string
	}{
		{"quiet", []string{"-q"}, "ferry: error: "},
		{"quiet json", []string{"-q", "--json"}, `{"event":"error","message":`},
	} {
		t.Run(q.name, func(t *testing.T) {
			src, dst := t.TempDir(), t.TempDir()
			data := []byte("quiet data\n")
			writeFile(t, src, "q.txt", data, 0o644, time.Now())
			// A quiet recv does not say where it listens, so the test picks
			// the port, and a refused send means recv is not listening yet.
			addr := freeAddr(t)
			recv := start(t, dst, nil, nil, append([]string{"recv", "-l", addr, dst}, q.flags...)...)
			deadline := time.Now().Add(guard)
			for {
				select {
				case <-recv.done:
					t.Fatalf("recv %v -l %s exited with status %d; stderr:\n%s", q.flags, addr, recv.code, recv.stderr())
				default:
				}
				snd := send(t, src, nil, append([]string{addr, "q.txt"}, q.flags...)...)
				if snd.code == 1 && strings.Contains(snd.stderr(), "connection refused") && time.Now().Before(deadline) {
					continue
				}
				snd.expect(0)
				if out := snd.stderr(); out != "" {
					t.Errorf("send %v printed %q, want nothing", q.flags, out)
				}
				break
			}
			recv.expect(0)
			if out := recv.stderr(); out != "" {
				t.Errorf("recv %v printed %q, want nothing", q.flags, out)
			}
			checkReceived(t, dst, map[string][]byte{"q.txt": data})

			// Errors still show.
			snd := send(t, src, nil, append([]string{addr, "missing.txt"}, q.flags...)...)
			snd.expect(1)
			if out := snd.stderr(); !strings.HasPrefix(out, q.errPrefix) || !strings.Contains(out, "missing.txt") || strings.Count(out, "\n") != 1 {
				t.Errorf("send %v of a missing file printed %q, want the error alone", q.flags, out)
			}
		})
	}
}

// freeAddr returns a 127.0.0.1 address with a port nobody listens on, and
// holds the port until the test ends: a socket bound to it but not
// listening turns connections away, and keeps the system from giving the
// port to another test meanwhile, while SO_REUSEADDR, which Go's listeners
// and nc set too, lets the listener the test starts take it.
func freeAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	syscall.CloseOnExec(fd)
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}

// TestStdin sends a stream of unknown size from stdin.
func TestStdin(t *testing.T) {
	data := mixedBytes(2<<20 + 5)
	t.Run("to stdout", func(t *testing.T) {
		src := t.TempDir()
		for _, jsonMode := range []bool{false, true} {
			args := []string{"-l", "127.0.0.1:0", "-"}
			if jsonMode {
				args = append([]string{"--json"}, args...)
			}
			recv, addr := startRecv(t, src, nil, args...)
			snd := send(t, src, bytes.NewReader(data), addr, "-")
			snd.expect(0)
			recv.expect(0)
			if got := recv.out.Bytes(); !bytes.Equal(got, data) {
				t.Errorf("recv - wrote %d bytes on stdout, want exactly the %d sent", len(got), len(data))
			}
			if got := snd.out.Bytes(); len(got) != 0 {
				t.Errorf("send wrote %q on stdout, want nothing", got)
			}
			if jsonMode {
				if into := recv.event("listening")["into"]; into != "stdout" {
					t.Errorf("listening event into = %v, want stdout", into)
				}
			} else {
				mustContain(t, "recv stderr", recv.stderr(), "receiving into stdout", "received stdin, 2.1 MB")
			}
		}
	})
	for _, tc := range []struct {
		name, flag, want string
	}{
		{"default name", "", "stdin"},
		{"--name", "--name=backup.tar", "backup.tar"},
		{"--name after the file", "--name backup.tar", "backup.tar"},
	} {
		t.Run("into a directory/"+tc.name, func(t *testing.T) {
			src, dst := t.TempDir(), t.TempDir()
			recv, addr := startRecv(t, dst, nil, "--json", "-l", "127.0.0.1:0", dst)
			args := []string{"--json", addr, "-"}
			if tc.flag != "" {
				args = append(args, strings.Fields(tc.flag)...)
			}
			snd := send(t, src, bytes.NewReader(data), args...)
			snd.expect(0)
			recv.expect(0)
			checkReceived(t, dst, map[string][]byte{tc.want: data})
			if got := recv.event("file")["name"]; got != tc.want {
				t.Errorf("recv file event name = %v, want %s", got, tc.want)
			}
		})
	}
}

// TestIPv6 sends over the IPv6 loopback.
func TestIPv6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("skipping: this machine has no IPv6 loopback (%v)", err)
	}
	_ = ln.Close()
	src, dst := t.TempDir(), t.TempDir()
	data := mixedBytes(100 << 10)
	writeFile(t, src, "six.bin", data, 0o644, time.Now())
	recv, addr := startRecv(t, dst, nil, "--json", "-l", "[::1]:0", dst)
	if !strings.HasPrefix(addr, "[::1]:") {
		t.Fatalf("recv -l [::1]:0 listens on %s", addr)
	}
	if cmd := recv.event("listening")["command"]; cmd != "ferry send --code CODE "+addr+" FILE" {
		t.Errorf("listening command = %v, want ferry send --code CODE %s FILE", cmd, addr)
	}
	snd := send(t, src, nil, "--json", addr, "six.bin")
	snd.expect(0)
	recv.expect(0)
	checkReceived(t, dst, map[string][]byte{"six.bin": data})
	if peer, _ := recv.event("connected")["peer"].(string); !strings.HasPrefix(peer, "[::1]:") {
		t.Errorf("recv connected peer = %q, want [::1]:PORT", peer)
	}
}

// TestFlagPlacement checks that flags work before and after the HOST and
// FILE, and that "--" ends them.
func TestFlagPlacement(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		args []string // ADDR stands for recv's address
	}{
		{"flags first", "f.txt", []string{"-z", "none", "--json", "ADDR", "f.txt"}},
		{"flags last", "f.txt", []string{"ADDR", "f.txt", "-z", "none", "--json"}},
		{"flags between", "f.txt", []string{"ADDR", "--compress=none", "f.txt", "--json"}},
		{"-- before a file named like a flag", "-z", []string{"--json", "ADDR", "--", "-z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := t.TempDir(), t.TempDir()
			data := mixedBytes(10 << 10)
			writeFile(t, src, tc.file, data, 0o644, time.Now())
			recv, addr := startRecv(t, dst, nil, "-l", "127.0.0.1:0", dst, "--json")
			args := append([]string(nil), tc.args...)
			for i, a := range args {
				if a == "ADDR" {
					args[i] = addr
				}
			}
			snd := send(t, src, nil, args...)
			snd.expect(0)
			recv.expect(0)
			checkReceived(t, dst, map[string][]byte{tc.file: data})
			snd.event("summary") // --json took effect wherever it stood
		})
	}
}

// TestCompressModes checks that every -z mode delivers the same bytes.
func TestCompressModes(t *testing.T) {
	src := t.TempDir()
	data := mixedBytes(1<<20 + 3)
	writeFile(t, src, "m.bin", data, 0o644, time.Now())
	var sums []string
	for _, mode := range []string{"auto", "zstd", "s2", "none"} {
		t.Run(mode, func(t *testing.T) {
			dst := t.TempDir()
			recv, addr := startRecv(t, dst, nil, "--json", "-l", "127.0.0.1:0", dst)
			snd := send(t, src, nil, "--json", "-z", mode, addr, "m.bin")
			snd.expect(0)
			recv.expect(0)
			checkReceived(t, dst, map[string][]byte{"m.bin": data})
			sum, _ := recv.event("file")["checksum"].(string)
			sums = append(sums, sum)
		})
	}
	for _, s := range sums {
		if s != sums[0] {
			t.Errorf("checksums differ between modes: %q", sums)
		}
	}
}

// TestErrors checks that failures exit 1 with a clear one-line message
// naming what went wrong.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		run   func(t *testing.T, dir string) *proc // runs ferry to its end
		wants []string                             // in the message
	}{
		{"connection refused", func(t *testing.T, dir string) *proc {
			writeFile(t, dir, "f", []byte("x"), 0o644, time.Now())
			addr := freeAddr(t)
			return send(t, dir, nil, addr, "f")
		}, []string{"cannot connect to 127.0.0.1:", "connection refused", "ferry recv"}},
		{"missing source file", func(t *testing.T, dir string) *proc {
			return send(t, dir, nil, "127.0.0.1:7575", "no-such-file.txt")
		}, []string{"no-such-file.txt", "no such file"}},
		{"source is a named pipe", func(t *testing.T, dir string) *proc {
			if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
				t.Fatal(err)
			}
			return send(t, dir, nil, "127.0.0.1:7575", "fifo")
		}, []string{"cannot send fifo", "named pipe"}},
		{"source is the root directory", func(t *testing.T, dir string) *proc {
			return send(t, dir, nil, "127.0.0.1:7575", "/")
		}, []string{"cannot send /", "below it"}},
		{"two sources with one name", func(t *testing.T, dir string) *proc {
			writeFile(t, dir, "a/x", []byte("1"), 0o644, time.Now())
			writeFile(t, dir, "b/x", []byte("2"), 0o644, time.Now())
			return send(t, dir, nil, "127.0.0.1:7575", "a/x", "b/x")
		}, []string{"a/x", "b/x", "both would arrive as x"}},
		{"destination under a regular file", func(t *testing.T, dir string) *proc {
			writeFile(t, dir, "plain", []byte("x"), 0o644, time.Now())
			return start(t, dir, nil, nil, "recv", "-l", "127.0.0.1:0", "plain/sub")
		}, []string{"cannot receive into plain/sub: not a directory"}},
		{"destination not writable", func(t *testing.T, dir string) *proc {
			if os.Geteuid() != 0 {
				ro := filepath.Join(dir, "ro")
				if err := os.Mkdir(ro, 0o555); err != nil {
					t.Fatal(err)
				}
				return start(t, dir, nil, nil, "recv", "-l", "127.0.0.1:0", "ro")
			}
			// Root writes into a read-only directory regardless: recv
			// runs as nobody, into root's directory.
			dir = reachableTempDir(t)
			if err := os.Mkdir(filepath.Join(dir, "ro"), 0o755); err != nil {
				t.Fatal(err)
			}
			return startAsNobody(t, "recv", dir, "recv", "-l", "127.0.0.1:0", "ro")
		}, []string{"ro", "permission denied"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.run(t, t.TempDir())
			p.expect(1)
			checkOneError(t, p, tc.wants...)
		})
	}
}

// TestHostFirstHint checks the hint for scp's order, ferry send FILE HOST:
// given when the first argument is a file here and the missing last one
// reads as an address, and not otherwise.
func TestHostFirstHint(t *testing.T) {
	const hint = "the HOST comes first"
	for _, tc := range []struct {
		name     string
		args     []string
		wantHint bool
	}{
		{"file, then HOST:PORT", []string{"t.txt", "127.0.0.1:7600"}, true},
		{"file, then an IP address", []string{"t.txt", "10.0.0.7"}, true},
		{"a directory here as HOST, then a missing file", []string{"pi", "missing.txt"}, false},
		{"file as HOST, then a missing file", []string{"t.txt", "missing.txt"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "t.txt", []byte("x"), 0o644, time.Now())
			if err := os.Mkdir(filepath.Join(dir, "pi"), 0o755); err != nil {
				t.Fatal(err)
			}
			p := send(t, dir, nil, append([]string{"--plain"}, tc.args...)...)
			p.expect(1)
			checkOneError(t, p, "cannot send "+tc.args[1]+": no such file or directory")
			if got := strings.Contains(p.stderr(), hint); got != tc.wantHint {
				t.Errorf("stderr %q: hint given %v, want %v", p.stderr(), got, tc.wantHint)
			}
		})
	}
}

// checkOneError checks that p's stderr ends with its only error, one line
// holding wants.
func checkOneError(t *testing.T, p *proc, wants ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(p.stderr(), "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "ferry: error: ") || strings.Count(p.stderr(), "error") != strings.Count(last, "error") {
		t.Errorf("ferry %s stderr = %q, want it to end with its only error, one line \"ferry: error: ...\"", p.name, p.stderr())
	}
	mustContain(t, "ferry "+p.name+" error", last, wants...)
}

// TestPortInUse starts a second recv on the port the first one holds.
func TestPortInUse(t *testing.T) {
	dir := t.TempDir()
	first, addr := startRecv(t, dir, nil, "--json", "-l", "127.0.0.1:0", dir)
	second := start(t, dir, nil, nil, "recv", "-l", addr, dir)
	second.expect(1)
	checkOneError(t, second, "cannot listen on "+addr, "in use")

	_, port, _ := net.SplitHostPort(addr)
	bare := start(t, dir, nil, nil, "recv", "-l", port, dir)
	bare.expect(1)
	checkOneError(t, bare, "in use")

	// The first is still listening and stops at Ctrl-C.
	first.interrupt()
	first.expect(130)
	mustContain(t, "recv error", first.errorMessage(), "interrupted")
}

// TestExisting sends the same file twice into one directory: the second
// time the receiver refuses, unless it runs with --overwrite.
func TestExisting(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	old := []byte("old contents\n")
	writeFile(t, src, "same.txt", old, 0o644, time.Now())

	recv, addr := startRecv(t, dst, nil, "--json", "-l", "127.0.0.1:0", dst)
	send(t, src, nil, addr, "same.txt").expect(0)
	recv.expect(0)

	newer := []byte("new contents, longer than before\n")
	writeFile(t, src, "same.txt", newer, 0o600, time.Now())

	t.Run("refused", func(t *testing.T) {
		recv, addr := startRecv(t, dst, nil, "-l", "127.0.0.1:0", dst)
		snd := send(t, src, nil, addr, "same.txt")
		snd.expect(1)
		recv.expect(1)
		checkOneError(t, snd, "refused 1 file", "same.txt: it already exists on the receiver", "--overwrite")
		mustContain(t, "recv stderr", recv.stderr(), "ferry: error: ", "same.txt: it already exists", "--overwrite")
		checkReceived(t, dst, map[string][]byte{"same.txt": old})
	})
	t.Run("--overwrite", func(t *testing.T) {
		recv, addr := startRecv(t, dst, nil, "--json", "--overwrite", "-l", "127.0.0.1:0", dst)
		send(t, src, nil, addr, "same.txt").expect(0)
		recv.expect(0)
		checkReceived(t, dst, map[string][]byte{"same.txt": newer})
		info, err := os.Stat(filepath.Join(dst, "same.txt"))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("replaced file has mode %v, want the new file's -rw-------", info.Mode().Perm())
		}
	})
}

// TestUsage checks command-line mistakes: exit 2, the mistake named, and a
// hint where the usage is.
func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		wants []string
	}{
		{"no command", nil, []string{"Usage:", "ferry recv", "ferry send"}},
		{"unknown command", []string{"fetch"}, []string{`unknown command "fetch"`, "ferry help"}},
		{"unknown send flag", []string{"send", "--bogus", "127.0.0.1:1", "f"}, []string{"unknown flag --bogus", "ferry help"}},
		{"unknown recv flag", []string{"recv", "-x"}, []string{"unknown flag -x", "ferry help"}},
		{"unknown flag after the args", []string{"send", "127.0.0.1:1", "f", "--bogus"}, []string{"unknown flag --bogus", "ferry help"}},
		{"unknown flag typed with one dash", []string{"send", "-bogus", "127.0.0.1:1", "f"}, []string{"unknown flag -bogus", "ferry help"}},
		{"short flags run together", []string{"recv", "-kq"}, []string{"unknown flag -kq: did you mean -k -q?"}},
		{"short flag with its value attached", []string{"send", "-zs2", "127.0.0.1:1", "f"}, []string{"unknown flag -zs2: did you mean -z s2?"}},
		{"short flags and a value run together", []string{"recv", "-kl7000"}, []string{"unknown flag -kl7000: did you mean -k -l 7000?"}},
		{"a flag that takes a value run together with others", []string{"recv", "-lk"}, []string{"unknown flag -lk: did you mean -l ADDR -k?"}},
		{"-z with --raw", []string{"send", "--raw", "-z", "zstd", "127.0.0.1:1", "f"}, []string{"-z does not go with --raw"}},
		{"--name with --raw", []string{"send", "--raw", "--name", "x", "127.0.0.1:1", "-"}, []string{"--name does not go with --raw"}},
		{"--name with a file", []string{"send", "--plain", "--name", "x", "127.0.0.1:1", "f"}, []string{"--name names a stream from stdin (-)"}},
		{"flag without its value", []string{"send", "127.0.0.1:1", "f", "-z"}, []string{"-z needs a value", "ferry help"}},
		{"long flag without its value", []string{"recv", "--listen"}, []string{"--listen needs a value", "ferry help"}},
		{"not a boolean", []string{"recv", "--keep-open=maybe"}, []string{`--keep-open: invalid boolean value "maybe"`, "ferry help"}},
		{"bad -z mode", []string{"send", "-z", "gzip", "127.0.0.1:1", "f"}, []string{`unknown mode "gzip"`, "auto, zstd, s2 or none", "ferry help"}},
		{"send without args", []string{"send"}, []string{"send needs a HOST and what to send", "ferry help"}},
		{"send without file", []string{"send", "127.0.0.1:1"}, []string{"send needs files or directories", "ferry help"}},
		{"send stdin with a file", []string{"send", "127.0.0.1:1", "a", "-"}, []string{"- (stdin) is sent alone", "ferry help"}},
		{"send --timeout 0", []string{"send", "--timeout", "0", "127.0.0.1:1", "f"}, []string{"--timeout must be at least 1ms, not 0s", "ferry help"}},
		{"recv --timeout 0", []string{"recv", "--timeout", "0"}, []string{"--timeout must be at least 1ms", "ferry help"}},
		{"recv --timeout 2ns", []string{"recv", "--timeout", "2ns"}, []string{"--timeout must be at least 1ms, not 2ns", "ferry help"}},
		{"recv --timeout not a duration", []string{"recv", "--timeout", "soon"}, []string{`--timeout: invalid value "soon"`, "30s or 2m", "ferry help"}},
		{"recv two dirs", []string{"recv", "a", "b"}, []string{"one directory", "ferry help"}},
		{"recv -k to stdout", []string{"recv", "-k", "-"}, []string{"-k cannot be combined with -", "ferry help"}},
		{"bad port", []string{"send", "127.0.0.1:99999", "f"}, []string{`bad address "127.0.0.1:99999": port "99999" is not a number from 1 to 65535`, "ferry help"}},
		// The address is checked before the files: "missing" is not there.
		{"send unclosed bracket", []string{"send", "[::1", "missing"}, []string{`bad address "[::1": unbalanced brackets; use HOST, HOST:PORT, [IPv6] or [IPv6]:PORT`, "ferry help"}},
		{"send --raw unclosed bracket", []string{"send", "--raw", "[::1", "missing"}, []string{`bad address "[::1": unbalanced brackets`, "ferry help"}},
		{"send without a host", []string{"send", ":7575", "f"}, []string{`bad address ":7575": empty host`, "ferry help"}},
		{"recv -l bad port", []string{"recv", "-l", "99999"}, []string{`bad listen address "99999"`, "ferry help"}},
		{"recv -l IPv6 without brackets and a port", []string{"recv", "-l", "::1:19004"}, []string{`bad listen address "::1:19004"`, "ferry help"}},
		{"recv -l unclosed bracket", []string{"recv", "-l", "[::1"}, []string{`bad listen address "[::1": unbalanced brackets; use PORT, :PORT, HOST, HOST:PORT, [IPv6] or [IPv6]:PORT`, "ferry help"}},
		{"recv --raw into a directory", []string{"recv", "--raw", "-l", "127.0.0.1:0", "."}, []string{"not the directory .", "ferry help"}},
		{"recv --raw into an existing directory", []string{"recv", "--raw", "--overwrite", "-l", "127.0.0.1:0", "sub"}, []string{"not the directory sub", "ferry help"}},
		{"recv --raw -l bad port", []string{"recv", "--raw", "-l", "host:70000", "-"}, []string{`bad listen address "host:70000"`, "ferry help"}},
		{"--name with a slash", []string{"send", "--name", "a/b", "127.0.0.1:1", "-"}, []string{"--name", "plain file name, without /", "ferry help"}},
		{"--name reserved", []string{"send", "--name", ".ferry-x-y.part", "127.0.0.1:1", "-"}, []string{"--name .ferry-x-y.part: the receiver would refuse it: reserved for ferry's temporary files", "ferry help"}},
		{"version with an argument", []string{"version", "extra"}, []string{"version takes no arguments, not extra", "ferry help"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "f", []byte("x"), 0o644, time.Now()) // the file exists: only the mistake fails
			if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			p := start(t, dir, nil, nil, tc.args...)
			p.expect(2)
			mustContain(t, "stderr", p.stderr(), tc.wants...)
			if out := p.out.Bytes(); len(out) != 0 {
				t.Errorf("stdout = %q, want nothing", out)
			}
		})
	}

	t.Run("--json", func(t *testing.T) {
		p := start(t, t.TempDir(), nil, nil, "send", "--json", "-z", "gzip", "127.0.0.1:1", "f")
		p.expect(2)
		mustContain(t, "error event", p.errorMessage(), `unknown mode "gzip"`)
	})
	// The flags stop parsing at the mistake; a --json after it still counts.
	for _, flag := range []string{"--json", "-json", "--json=true"} {
		t.Run(flag+" after an unknown flag", func(t *testing.T) {
			p := start(t, t.TempDir(), nil, nil, "send", "--bogus", flag, "127.0.0.1:1", "f")
			p.expect(2)
			mustContain(t, "error event", p.errorMessage(), "unknown flag --bogus")
		})
	}
}

// TestHelpAndVersion checks the commands that print and exit 0.
func TestHelpAndVersion(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		prefix string
	}{
		{"version", []string{"version"}, "ferry "},
		{"--version", []string{"--version"}, "ferry "},
		{"help", []string{"help"}, "Usage:\n"},
		{"send -h", []string{"send", "-h"}, "Usage:\n"},
		{"recv --help", []string{"recv", "--help"}, "Usage:\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := start(t, t.TempDir(), nil, nil, tc.args...)
			p.expect(0)
			out := string(p.out.Bytes())
			if !strings.HasPrefix(out, tc.prefix) || !strings.HasSuffix(out, "\n") {
				t.Errorf("stdout = %q, want a line starting with %q", out, tc.prefix)
			}
			if err := p.stderr(); err != "" {
				t.Errorf("stderr = %q, want nothing", err)
			}
		})
	}
}

// TestInterrupt sends an endless stream and presses Ctrl-C on one side once
// data flows: that side exits 130, the other exits 1 saying its peer aborted.
func TestInterrupt(t *testing.T) {
	for _, tc := range []struct {
		name      string
		interrupt string // "send" or "recv"
		toStdout  bool
	}{
		{"sender, receiving to stdout", "send", true},
		{"receiver, receiving to stdout", "recv", true},
		{"sender, receiving into a directory", "send", false},
		{"receiver, receiving into a directory", "recv", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := t.TempDir(), t.TempDir()
			into := dst
			flowed := newMeter(1 << 20) // recv's stdout
			if tc.toStdout {
				into = "-"
			}
			recv, addr := startRecv(t, dst, flowed, "--json", "-l", "127.0.0.1:0", into)

			// The sender reads an endless stdin; with -z none the bytes it
			// has read bound from below what reached the receiver, as its
			// queues and the socket buffers hold far less than 64 MiB.
			stdin := newEndless(64 << 20)
			snd := start(t, src, stdin, nil, "send", "--json", "-z", "none", addr, "-")
			snd.waitEvent("connected")
			recv.waitEvent("connected")
			stdin.read.await(t, "sender's stdin")
			if tc.toStdout {
				flowed.await(t, "recv's stdout")
			}

			interrupted, peer := snd, recv
			peerRole := "sender"
			if tc.interrupt == "recv" {
				interrupted, peer = recv, snd
				peerRole = "receiver"
			}
			interrupted.interrupt()
			interrupted.expect(130)
			mustContain(t, "interrupted side's error", interrupted.errorMessage(), "interrupted")
			if tc.interrupt == "send" {
				// A one-shot receiver keeps its code for the sender's
				// retry, until it is stopped too.
				msg, _ := peer.waitEvent("retrying")["message"].(string)
				mustContain(t, "receiver's report", msg, "the sender stopped (interrupted)", "still waiting for the sender to try again")
				peer.interrupt()
				peer.expect(130)
			} else {
				peer.expect(1)
				mustContain(t, "peer's error", peer.errorMessage(), "the "+peerRole+" stopped (interrupted)")
			}
			if !tc.toStdout {
				checkReceived(t, dst, nil)
			}
			for _, p := range []*proc{snd, recv} {
				for _, ev := range p.events() {
					if ev["event"] == "summary" || ev["event"] == "file" {
						t.Errorf("ferry %s reported %v for an interrupted transfer", p.name, ev)
					}
				}
			}
		})
	}
}

// TestKeepOpen serves two senders in turn with recv -k, then stops it with
// Ctrl-C.
func TestKeepOpen(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	one, two := mixedBytes(300<<10), []byte("second\n")
	writeFile(t, src, "one.bin", one, 0o644, time.Now())
	writeFile(t, src, "two.txt", two, 0o644, time.Now())

	recv, addr := startRecv(t, dst, nil, "--json", "-k", "-l", "127.0.0.1:0", dst)
	for i, name := range []string{"one.bin", "two.txt"} {
		snd := send(t, src, nil, "--json", addr, name)
		snd.expect(0)
		// The sender is done once the receiver acked; wait for the
		// receiver's own report of that transfer.
		recv.waitEventN("summary", i+1)
	}
	checkReceived(t, dst, map[string][]byte{"one.bin": one, "two.txt": two})

	recv.interrupt()
	recv.expect(130)
	mustContain(t, "recv error", recv.errorMessage(), "interrupted")
	var connected, files int
	for _, ev := range recv.events() {
		switch ev["event"] {
		case "connected":
			connected++
		case "file":
			files++
		}
	}
	if connected != 2 || files != 2 {
		t.Errorf("recv -k reported %d connections and %d files, want 2 and 2", connected, files)
	}
}

// TestKeepOpenSilent checks that recv -k reports a connection closed
// without a byte (a port check) as such, not as a failed transfer, and
// goes on serving.
func TestKeepOpenSilent(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	writeFile(t, src, "f.txt", []byte("after the probe\n"), 0o644, time.Now())
	recv, addr := startRecv(t, dst, nil, "--json", "-k", "-l", "127.0.0.1:0", dst)
	probe, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = probe.Close()
	recv.waitEvent("silent")
	send(t, src, nil, "--json", addr, "f.txt").expect(0)
	recv.waitEventN("summary", 1)
	recv.interrupt()
	recv.expect(130)
	if errs := recv.messages("error"); len(errs) != 1 || !strings.Contains(errs[0], "interrupted") {
		t.Errorf("recv reported errors %q, want only its interruption", errs)
	}
}
