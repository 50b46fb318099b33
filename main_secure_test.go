package main

// These tests drive the encrypted default mode, --code and FERRY_CODE, a
// wrong code, a sender and a receiver in different modes, --plain, the
// usage mistakes of the new flags, and --raw against the real netcat
// (netcat-openbsd). Processes that must not see the FERRY_CODE TestMain sets
// are started with startFerry and an environment of their own.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ferryEnv is this process's environment without FERRY_CODE, plus extra.
func ferryEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FERRY_CODE=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// startFerry is start with the environment env.
func startFerry(t *testing.T, env []string, dir string, stdin io.Reader, stdout io.Writer, args ...string) *proc {
	t.Helper()
	name := "(no args)"
	if len(args) > 0 {
		name = args[0]
	}
	return startProg(t, name, ferryBin, env, dir, stdin, stdout, args...)
}

// sendEnv is send with the environment env.
func sendEnv(t *testing.T, env []string, dir string, stdin io.Reader, args ...string) *proc {
	t.Helper()
	p := startFerry(t, env, dir, stdin, nil, append([]string{"send"}, args...)...)
	p.wait()
	return p
}

// sendCommandRE is the command recv prints for the sender, without the
// indentation of the human message: the mode, the code if one is shown,
// and the address.
var sendCommandRE = regexp.MustCompile(`^ferry send (--code (\S+)|--plain|--raw) (\S+) FILE$`)

// generatedCodeRE is a code recv makes up: 15 digits in groups of five.
var generatedCodeRE = regexp.MustCompile(`^[0-9]{5}-[0-9]{5}-[0-9]{5}$`)

// listeningRecv is a started "ferry recv" and the command it printed.
type listeningRecv struct {
	*proc
	command string // "ferry send --code XXX-XXX-XXX 127.0.0.1:PORT FILE"
	mode    string // "--code XXX-XXX-XXX", "--plain" or "--raw"
	code    string // the code in the command, "" for --plain and --raw
	addr    string
}

// startRecvEnv starts "ferry recv args..." with the environment env and
// waits for the command it prints for the sender, on a line of its own or
// in the JSON listening event.
func startRecvEnv(t *testing.T, env []string, dir string, stdout io.Writer, args ...string) listeningRecv {
	t.Helper()
	p := startFerry(t, env, dir, nil, stdout, append([]string{"recv"}, args...)...)
	line := p.waitLine("the command for the sender", func(l string) bool {
		if ev, err := parseEvent(l); err == nil {
			return ev["event"] == "listening"
		}
		return strings.HasPrefix(l, "    ferry send ")
	})
	cmd := strings.TrimPrefix(line, "    ")
	if ev, err := parseEvent(line); err == nil {
		cmd, _ = ev["command"].(string)
	}
	m := sendCommandRE.FindStringSubmatch(cmd)
	if m == nil {
		t.Fatalf("ferry recv printed the command %q, want ferry send --code CODE|--plain|--raw ADDR FILE", cmd)
	}
	return listeningRecv{proc: p, command: cmd, mode: m[1], code: m[2], addr: m[3]}
}

// cipherRE is the human message of a completed handshake.
var cipherRE = regexp.MustCompile(`^ferry: code accepted; encrypted with (ChaCha20-Poly1305|AES-256-GCM)$`)

// humanCipher returns the cipher p named in its one "code accepted" line.
func humanCipher(t *testing.T, p *proc) string {
	t.Helper()
	var ciphers []string
	for _, l := range strings.Split(p.stderr(), "\n") {
		if m := cipherRE.FindStringSubmatch(l); m != nil {
			ciphers = append(ciphers, m[1])
		}
	}
	if len(ciphers) != 1 {
		t.Fatalf("ferry %s printed %d lines \"ferry: code accepted; encrypted with CIPHER\", want 1; stderr:\n%s", p.name, len(ciphers), p.stderr())
	}
	return ciphers[0]
}

// jsonCipher returns the cipher of p's one "secured" event.
func jsonCipher(t *testing.T, p *proc) string {
	t.Helper()
	c, _ := p.event("secured")["cipher"].(string)
	if c != "ChaCha20-Poly1305" && c != "AES-256-GCM" {
		t.Errorf("ferry %s secured event cipher = %q, want ChaCha20-Poly1305 or AES-256-GCM", p.name, c)
	}
	return c
}

// TestGeneratedCode runs recv with neither --code nor FERRY_CODE: it makes
// up a code, prints it in the command for the sender (even with -q, which
// leaves that alone, since the sender cannot do without it), and a sender
// that uses it, as --code or in FERRY_CODE, gets its file through
// encrypted.
func TestGeneratedCode(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range []struct {
		name  string
		json  bool
		quiet bool
		how   string // how the sender gets the code: "--code", "FERRY_CODE", or "typed" (--code with spaces for dashes)
	}{
		{"--code", false, false, "--code"},
		{"FERRY_CODE", false, false, "FERRY_CODE"},
		{"--code typed with spaces for dashes", false, false, "typed"},
		{"--json", true, false, "--code"},
		{"--json FERRY_CODE", true, false, "FERRY_CODE"},
		{"-q", false, true, "--code"},
		{"-q --json", true, true, "--code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := t.TempDir(), t.TempDir()
			data := mixedBytes(200 << 10)
			writeFile(t, src, "secret.bin", data, 0o644, time.Now())
			var flags []string
			if tc.json {
				flags = []string{"--json"}
			}
			if tc.quiet {
				flags = append(flags, "-q")
			}
			recv := startRecvEnv(t, ferryEnv(), dst, nil, append(flags, "-l", "127.0.0.1:0", dst)...)
			if !generatedCodeRE.MatchString(recv.code) {
				t.Fatalf("recv printed %q, want ferry send --code NNNNN-NNNNN-NNNNN ADDR FILE with a generated code", recv.command)
			}
			if want := "ferry send --code " + recv.code + " " + recv.addr + " FILE"; recv.command != want {
				t.Errorf("recv printed %q, want %q", recv.command, want)
			}
			if seen[recv.code] {
				t.Errorf("recv made up the code %s twice", recv.code)
			}
			seen[recv.code] = true

			env, args := ferryEnv(), append([]string(nil), flags...)
			switch tc.how {
			case "--code":
				args = append(args, "--code", recv.code)
			case "FERRY_CODE":
				env = ferryEnv("FERRY_CODE=" + recv.code)
			case "typed":
				args = append(args, "--code", strings.ReplaceAll(recv.code, "-", " "))
			}
			snd := sendEnv(t, env, src, nil, append(args, recv.addr, "secret.bin")...)
			snd.expect(0)
			recv.expect(0)
			checkReceived(t, dst, map[string][]byte{"secret.bin": data})

			if tc.quiet {
				if lines := strings.Split(strings.TrimSuffix(recv.stderr(), "\n"), "\n"); len(lines) != 1 || !strings.Contains(lines[0], recv.command) {
					t.Errorf("recv %v printed %q, want the command for the sender alone", flags, recv.stderr())
				}
				return
			}
			if tc.json {
				if s, r := jsonCipher(t, snd), jsonCipher(t, recv.proc); s != r {
					t.Errorf("sender secured with %s, receiver with %s", s, r)
				}
				return
			}
			if s, r := humanCipher(t, snd), humanCipher(t, recv.proc); s != r {
				t.Errorf("sender encrypted with %s, receiver with %s", s, r)
			}
		})
	}
}

// TestFixedCodeHidden gives recv its code, as --code or in FERRY_CODE: the
// command it prints shows the placeholder CODE, and the code itself appears
// nowhere in its output.
func TestFixedCodeHidden(t *testing.T) {
	const fixed = "FXD-C0D-E77"
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"--code", ferryEnv(), []string{"--code", fixed}},
		{"FERRY_CODE", ferryEnv("FERRY_CODE=" + fixed), nil},
	} {
		for _, jsonMode := range []bool{false, true} {
			name := tc.name
			if jsonMode {
				name += " --json"
			}
			t.Run(name, func(t *testing.T) {
				src, dst := t.TempDir(), t.TempDir()
				writeFile(t, src, "f.txt", []byte("fixed\n"), 0o644, time.Now())
				args := append([]string{"-l", "127.0.0.1:0", dst}, tc.args...)
				if jsonMode {
					args = append(args, "--json")
				}
				recv := startRecvEnv(t, tc.env, dst, nil, args...)
				if want := "ferry send --code CODE " + recv.addr + " FILE"; recv.command != want {
					t.Errorf("recv with a fixed code printed the command %q, want %q", recv.command, want)
				}
				if jsonMode {
					if cmd := recv.waitEvent("listening")["command"]; cmd != recv.command {
						t.Errorf("listening event command = %v, want %q", cmd, recv.command)
					}
				} else {
					recv.waitLine("the command line", func(l string) bool { return l == "    "+recv.command })
				}
				snd := sendEnv(t, ferryEnv(), src, nil, "--code", fixed, recv.addr, "f.txt")
				snd.expect(0)
				recv.expect(0)
				checkReceived(t, dst, map[string][]byte{"f.txt": []byte("fixed\n")})
				for _, p := range []*proc{recv.proc, snd} {
					if out := p.stderr(); strings.Contains(out, fixed) || strings.Contains(out, "FXDC0DE77") {
						t.Errorf("ferry %s printed the fixed code:\n%s", p.name, out)
					}
				}
			})
		}
	}
}

// TestWeakCode checks that recv -k warns of a fixed code that a guesser,
// at the most guesses it allows, would find within a century on average,
// and only then.
func TestWeakCode(t *testing.T) {
	for _, tc := range []struct {
		code string
		keep bool
		warn string // the guessing time the warning gives, or "" for none
	}{
		{"123456", true, "12 days"},
		{"1234-5678", true, "3 years"},
		{"ABC123", true, "45 years"},
		{"123456", false, ""},    // one wrong guess ends it
		{"1234567890", true, ""}, // 475 years
		{"ABCDEFG", true, ""},    // 2,000 years
	} {
		t.Run(fmt.Sprintf("%s keep %v", tc.code, tc.keep), func(t *testing.T) {
			dst := t.TempDir()
			args := []string{"--json", "--code", tc.code, "-l", "127.0.0.1:0", dst}
			if tc.keep {
				args = append(args, "-k")
			}
			recv := startRecvEnv(t, ferryEnv(), dst, nil, args...)
			recv.interrupt()
			recv.expect(130)
			warnings := recv.messages("warning")
			switch {
			case tc.warn == "" && len(warnings) > 0:
				t.Errorf("warnings %q, want none", warnings)
			case tc.warn != "" && (len(warnings) != 1 || !strings.Contains(warnings[0], "guessed in about "+tc.warn)):
				t.Errorf("warnings %q, want one saying it is guessed in about %s", warnings, tc.warn)
			}
		})
	}
}

// TestWrongCode sends with another code than recv's: the handshake fails on
// both sides, nothing arrives, and recv without -k exits after that one
// attempt.
func TestWrongCode(t *testing.T) {
	const wrong = "WRN-G0D-E99" // TestMain gives recv testCode in FERRY_CODE
	t.Run("messages", func(t *testing.T) {
		src, dst := t.TempDir(), t.TempDir()
		writeFile(t, src, "f.txt", []byte("nope\n"), 0o644, time.Now())
		recv, addr := startRecv(t, dst, nil, "-l", "127.0.0.1:0", dst)
		// --code wins over the FERRY_CODE the sender inherits too.
		snd := send(t, src, nil, "--code", wrong, addr, "f.txt")
		snd.expect(1)
		recv.expect(1)
		checkOneError(t, snd, "authentication failed: wrong code", "ferry recv without -k stops after a wrong code")
		// recv's code came from FERRY_CODE: running it again gives no new one.
		checkOneError(t, recv, "gave a wrong code: run ferry recv again to wait for another sender")
		for _, p := range []*proc{snd, recv} {
			if strings.Contains(p.stderr(), "code accepted") {
				t.Errorf("ferry %s reports an accepted code:\n%s", p.name, p.stderr())
			}
		}
		checkReceived(t, dst, nil)
	})
	t.Run("a code recv made up", func(t *testing.T) {
		src, dst := t.TempDir(), t.TempDir()
		writeFile(t, src, "f.txt", []byte("nope\n"), 0o644, time.Now())
		recv := startRecvEnv(t, ferryEnv(), dst, nil, "-l", "127.0.0.1:0", dst)
		send(t, src, nil, "--code", wrong, recv.addr, "f.txt").expect(1)
		recv.expect(1)
		checkOneError(t, recv.proc, "gave a wrong code, which spends this one: run ferry recv again for a new code")
	})
	t.Run("--json", func(t *testing.T) {
		src, dst := t.TempDir(), t.TempDir()
		writeFile(t, src, "f.txt", []byte("nope\n"), 0o644, time.Now())
		recv, addr := startRecv(t, dst, nil, "--json", "-l", "127.0.0.1:0", dst)
		snd := send(t, src, nil, "--json", "--code", wrong, addr, "f.txt")
		snd.expect(1)
		recv.expect(1)
		for _, p := range []*proc{snd, recv} {
			mustContain(t, "ferry "+p.name+" error", p.errorMessage(), "wrong code")
			for _, ev := range p.events() {
				if ev["event"] == "secured" || ev["event"] == "file" || ev["event"] == "summary" {
					t.Errorf("ferry %s reported %v after a wrong code", p.name, ev)
				}
			}
		}
		checkReceived(t, dst, nil)
	})
}

// TestModeMismatch pairs a --plain side with a side using a code: both
// refuse and say which flag fixes it. The sender exits 1; recv without -k
// warns and keeps waiting, since no code was tried, and a sender in its
// mode then gets through.
func TestModeMismatch(t *testing.T) {
	for _, tc := range []struct {
		name      string
		recvFlags []string // besides -l and DIR
		wrong     []string // the mismatched sender's flags
		right     []string // then a sender in recv's mode
		wants     []string // in both sides' messages
	}{
		{"recv --plain, send with a code", []string{"--plain"}, nil, []string{"--plain"}, []string{"--plain", "add --plain to ferry send"}},
		{"recv with a code, send --plain", nil, []string{"--plain"}, nil, []string{"--code", "ferry send --code CODE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := t.TempDir(), t.TempDir()
			writeFile(t, src, "f.txt", []byte("x\n"), 0o644, time.Now())
			// The code, where used, is TestMain's FERRY_CODE.
			recv, addr := startRecv(t, dst, nil, append(tc.recvFlags, "-l", "127.0.0.1:0", dst)...)
			snd := send(t, src, nil, append(tc.wrong, addr, "f.txt")...)
			snd.expect(1)
			checkOneError(t, snd, tc.wants...)
			warning := recv.waitLine("the mismatch warning", func(l string) bool {
				return strings.HasPrefix(l, "ferry: warning: ") && strings.HasSuffix(l, "still waiting for a sender")
			})
			mustContain(t, "recv's warning", warning, tc.wants...)
			checkReceived(t, dst, nil)
			send(t, src, nil, append(tc.right, addr, "f.txt")...).expect(0)
			recv.expect(0)
			checkReceived(t, dst, map[string][]byte{"f.txt": []byte("x\n")})
		})
	}
}

// TestPlain runs recv --plain: it warns that anyone who can reach the port
// can write, even with -q, and a sender with --plain gets its file through.
func TestPlain(t *testing.T) {
	t.Run("messages", func(t *testing.T) {
		src, dst := t.TempDir(), t.TempDir()
		data := mixedBytes(100 << 10)
		writeFile(t, src, "open.bin", data, 0o644, time.Now())
		// FERRY_CODE is set, and --plain ignores it.
		recv := startRecvEnv(t, nil, dst, nil, "--plain", "-l", "127.0.0.1:0", dst)
		if want := "ferry send --plain " + recv.addr + " FILE"; recv.command != want {
			t.Errorf("recv --plain printed the command %q, want %q", recv.command, want)
		}
		_, port, _ := strings.Cut(recv.addr, ":")
		warning := recv.waitLine("the --plain warning", func(l string) bool { return strings.HasPrefix(l, "ferry: warning: ") })
		mustContain(t, "recv --plain warning", warning, "--plain", "anyone who can reach port "+port)
		snd := send(t, src, nil, "--plain", recv.addr, "open.bin")
		snd.expect(0)
		recv.expect(0)
		checkReceived(t, dst, map[string][]byte{"open.bin": data})
		for _, p := range []*proc{snd, recv.proc} {
			if strings.Contains(p.stderr(), "code accepted") || strings.Contains(p.stderr(), "error") {
				t.Errorf("ferry %s --plain stderr has a handshake or an error:\n%s", p.name, p.stderr())
			}
		}
	})
	t.Run("-q still warns", func(t *testing.T) {
		src, dst := t.TempDir(), t.TempDir()
		writeFile(t, src, "q.txt", []byte("quiet\n"), 0o644, time.Now())
		addr := freeAddr(t)
		_, port, _ := strings.Cut(addr, ":")
		recv := start(t, dst, nil, nil, "recv", "-q", "--plain", "-l", addr, dst)
		// The warning comes once recv listens.
		warning := recv.waitLine("the --plain warning", func(l string) bool { return strings.HasPrefix(l, "ferry: warning: ") })
		mustContain(t, "recv -q --plain warning", warning, "--plain", "anyone who can reach port "+port)
		send(t, src, nil, "-q", "--plain", addr, "q.txt").expect(0)
		recv.expect(0)
		if out := recv.stderr(); out != warning+"\n" {
			t.Errorf("recv -q --plain printed %q, want only the warning", out)
		}
		checkReceived(t, dst, map[string][]byte{"q.txt": []byte("quiet\n")})
	})
	t.Run("--json", func(t *testing.T) {
		src, dst := t.TempDir(), t.TempDir()
		writeFile(t, src, "j.txt", []byte("json\n"), 0o644, time.Now())
		recv := startRecvEnv(t, nil, dst, nil, "--json", "--plain", "-l", "127.0.0.1:0", dst)
		send(t, src, nil, "--json", "--plain", recv.addr, "j.txt").expect(0)
		recv.expect(0)
		mustContain(t, "recv --plain warning event", fmt.Sprint(recv.event("warning")["message"]), "--plain", "anyone who can reach port")
		checkReceived(t, dst, map[string][]byte{"j.txt": []byte("json\n")})
	})
}

// TestSecureUsage checks the mistakes with codes and modes: exit 2, the
// mistake named, and the hint where the usage is.
func TestSecureUsage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   []string // nil: FERRY_CODE=testCode
		args  []string
		wants []string
	}{
		{"send without a code", ferryEnv(), []string{"send", "127.0.0.1:1", "f"},
			[]string{"--code", "FERRY_CODE", "--plain", "ferry help"}},
		{"send --code too short", ferryEnv(), []string{"send", "--code", "abc", "127.0.0.1:1", "f"},
			[]string{"--code", "too short", "6", "ferry help"}},
		{"recv --code too short", ferryEnv(), []string{"recv", "--code", "abc", "-l", "127.0.0.1:0"},
			[]string{"--code", "too short", "6", "ferry help"}},
		{"send --code short once dashes and spaces go", ferryEnv(), []string{"send", "--code", "a-b-c d-e", "127.0.0.1:1", "f"},
			[]string{"--code", "too short", "ferry help"}},
		{"recv --code short once dashes go", ferryEnv(), []string{"recv", "--code", "--a-b--c--", "-l", "127.0.0.1:0"},
			[]string{"--code", "too short", "ferry help"}},
		{"FERRY_CODE too short", ferryEnv("FERRY_CODE=abc"), []string{"recv", "-l", "127.0.0.1:0"},
			[]string{"too short", "ferry help"}},
		{"send --plain --raw", nil, []string{"send", "--plain", "--raw", "127.0.0.1:1", "f"},
			[]string{"--plain", "--raw", "ferry help"}},
		{"recv --plain --raw", nil, []string{"recv", "--plain", "--raw", "-l", "127.0.0.1:0"},
			[]string{"--plain", "--raw", "ferry help"}},
		{"send --code with --plain", ferryEnv(), []string{"send", "--code", "ABC-DEF-GHJ", "--plain", "127.0.0.1:1", "f"},
			[]string{"--code", "--plain", "ferry help"}},
		{"recv --code with --plain", ferryEnv(), []string{"recv", "--plain", "--code", "ABC-DEF-GHJ", "-l", "127.0.0.1:0"},
			[]string{"--code", "--plain", "ferry help"}},
		{"send --code with --raw", ferryEnv(), []string{"send", "--raw", "--code", "ABC-DEF-GHJ", "127.0.0.1:1", "f"},
			[]string{"--code", "--raw", "ferry help"}},
		{"recv --raw -k", nil, []string{"recv", "--raw", "-k", "-l", "127.0.0.1:0", "out"},
			[]string{"-k", "--raw", "ferry help"}},
		{"send --raw two files", nil, []string{"send", "--raw", "127.0.0.1:1", "f", "g"},
			[]string{"--raw", "one file", "2", "ferry help"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "f", []byte("x"), 0o644, time.Now()) // the files exist: only the mistake fails
			writeFile(t, dir, "g", []byte("y"), 0o644, time.Now())
			p := startFerry(t, tc.env, dir, nil, nil, tc.args...)
			p.expect(2)
			mustContain(t, "stderr", p.stderr(), tc.wants...)
			if out := p.out.Bytes(); len(out) != 0 {
				t.Errorf("stdout = %q, want nothing", out)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 2 {
				t.Errorf("a usage error left %d entries in %s, want the 2 files", len(entries), dir)
			}
		})
	}
}

// needNetcat returns the path of nc from netcat-openbsd. Without it the
// test is skipped, except on CI, which installs it.
func needNetcat(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("nc")
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		out, _ := exec.CommandContext(ctx, path, "-h").CombinedOutput()
		if !bytes.Contains(out, []byte("OpenBSD netcat")) {
			first, _, _ := strings.Cut(string(out), "\n")
			err = fmt.Errorf("%s is not OpenBSD netcat (nc -h says %q)", path, first)
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("these tests need nc from netcat-openbsd, which CI installs: %v", err)
		}
		t.Skipf("skipping: needs nc from netcat-openbsd (apt-get install netcat-openbsd): %v", err)
	}
	return path
}

// startNetcatListen runs "nc -l 127.0.0.1 PORT" on a free port with stdout
// into out and stdin from /dev/null, and returns once it listens: -v makes
// nc say "Listening on" right after its listen(2), and /proc/net/tcp must
// agree. (Dialing to find out would use up nc's one connection.)
func startNetcatListen(t *testing.T, nc, dir string, out io.Writer) (*proc, string) {
	t.Helper()
	addr := freeAddr(t)
	_, port, _ := strings.Cut(addr, ":")
	p := startProg(t, "nc", nc, nil, dir, nil, out, "-v", "-n", "-l", "127.0.0.1", port)
	p.waitLine("its Listening message", func(l string) bool { return strings.HasPrefix(l, "Listening on ") })
	n, _ := strconv.Atoi(port)
	if ok, err := tcpListening(n); err != nil {
		t.Logf("cannot confirm in /proc/net/tcp that nc listens: %v", err)
	} else if !ok {
		t.Fatalf("nc said it listens on %s, but /proc/net/tcp shows no listener there; stderr:\n%s", addr, p.stderr())
	}
	return p, addr
}

// tcpListening reports whether /proc/net/tcp has a listening socket on port.
func tcpListening(port int) (bool, error) {
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false, err
	}
	suffix := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[1], suffix) && f[3] == "0A" {
			return true, nil
		}
	}
	return false, nil
}

// jsonOnly returns p's events by name, and reports each stderr line that
// is not a JSON event: with --json there must be nothing else on stderr.
// Unlike p.events it goes on, so the events can still be checked.
func jsonOnly(t *testing.T, p *proc) map[string][]map[string]any {
	t.Helper()
	evs := map[string][]map[string]any{}
	for _, l := range strings.Split(strings.TrimSuffix(p.stderr(), "\n"), "\n") {
		ev, err := parseEvent(l)
		if err != nil {
			t.Errorf("ferry %s --json printed a line that is not a JSON event: %q", p.name, l)
			continue
		}
		name, _ := ev["event"].(string)
		evs[name] = append(evs[name], ev)
	}
	return evs
}

// oneEvent is the only event called name among evs.
func oneEvent(t *testing.T, p *proc, evs map[string][]map[string]any, name string) map[string]any {
	t.Helper()
	if len(evs[name]) != 1 {
		t.Fatalf("ferry %s printed %d %q events, want 1; stderr:\n%s", p.name, len(evs[name]), name, p.stderr())
	}
	return evs[name][0]
}

// rawSummaryBytes is the bytes field of p's one summary event among evs.
func rawSummaryBytes(t *testing.T, p *proc, evs map[string][]map[string]any) int64 {
	t.Helper()
	sum := oneEvent(t, p, evs, "summary")
	n, _ := sum["bytes"].(float64)
	if sum["files"] != float64(1) {
		t.Errorf("ferry %s --raw summary %v, want 1 file", p.name, sum)
	}
	return int64(n)
}

// TestRawSendToNetcat sends with ferry send --raw to nc -l, a file and a
// stream from stdin.
func TestRawSendToNetcat(t *testing.T) {
	nc := needNetcat(t)
	data := randomBytes(3<<20 + 11)
	for _, fromStdin := range []bool{false, true} {
		name := "file"
		if fromStdin {
			name = "stdin"
		}
		t.Run(name, func(t *testing.T) {
			src, dst := t.TempDir(), t.TempDir()
			writeFile(t, src, "src.bin", data, 0o644, time.Now())
			outPath := filepath.Join(dst, "got.bin")
			out, err := os.Create(outPath)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			ncp, addr := startNetcatListen(t, nc, dst, out)

			// FERRY_CODE is set: --raw ignores it.
			var snd *proc
			if fromStdin {
				snd = send(t, src, bytes.NewReader(data), "--json", "--raw", addr, "-")
			} else {
				snd = send(t, src, nil, "--json", "--raw", addr, "src.bin")
			}
			snd.expect(0)
			ncp.expect(0)
			got, err := os.ReadFile(outPath)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Errorf("nc -l received %d bytes that differ from the %d ferry send --raw sent", len(got), len(data))
			}
			if n := rawSummaryBytes(t, snd, jsonOnly(t, snd)); n != int64(len(data)) {
				t.Errorf("ferry send --raw summary says %d bytes, want %d", n, len(data))
			}
			if out := snd.out.Bytes(); len(out) != 0 {
				t.Errorf("ferry send --raw wrote %q on stdout, want nothing", out)
			}
		})
	}
}

// netcatHint is the netcat command recv --raw prints beside its own.
var netcatHint = regexp.MustCompile(`^ferry: or with netcat: nc -N (\S+) (\d+) < FILE$`)

// TestRawRecvFromNetcat receives with ferry recv --raw what nc -N sends,
// into a file and to stdout, running the netcat command recv printed.
func TestRawRecvFromNetcat(t *testing.T) {
	nc := needNetcat(t)
	data := randomBytes(3<<20 + 7)
	srcDir := t.TempDir()
	srcPath := writeFile(t, srcDir, "src.bin", data, 0o644, time.Now())
	for _, toStdout := range []bool{false, true} {
		name := "into a file"
		if toStdout {
			name = "to stdout"
		}
		t.Run(name, func(t *testing.T) {
			dst := t.TempDir()
			into := "OUT"
			if toStdout {
				into = "-"
			}
			// FERRY_CODE is set: --raw ignores it.
			recv := startRecvEnv(t, nil, dst, nil, "--raw", "-l", "127.0.0.1:0", into)
			if want := "ferry send --raw " + recv.addr + " FILE"; recv.command != want {
				t.Errorf("recv --raw printed the command %q, want %q", recv.command, want)
			}
			hint := recv.waitLine("the netcat command", netcatHint.MatchString)
			m := netcatHint.FindStringSubmatch(hint)
			if m[1]+":"+m[2] != recv.addr {
				t.Errorf("recv --raw printed %q for %s", hint, recv.addr)
			}
			in, err := os.Open(srcPath)
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			ncp := startProg(t, "nc", nc, nil, srcDir, in, nil, "-N", m[1], m[2])
			ncp.expect(0)
			recv.expect(0)
			if toStdout {
				if got := recv.out.Bytes(); !bytes.Equal(got, data) {
					t.Errorf("recv --raw - wrote %d bytes on stdout, want exactly the %d nc sent", len(got), len(data))
				}
				checkReceived(t, dst, nil)
			} else {
				checkReceived(t, dst, map[string][]byte{"OUT": data})
				if out := recv.out.Bytes(); len(out) != 0 {
					t.Errorf("recv --raw OUT wrote %d bytes on stdout, want nothing", len(out))
				}
			}
			mustContain(t, "recv --raw stderr", recv.stderr(), "ferry: done: received 1 file, 3.1 MB in ")
			if strings.Contains(recv.stderr(), "error") {
				t.Errorf("recv --raw stderr has an error:\n%s", recv.stderr())
			}
		})
	}
}

// TestRawFerryToFerry runs --raw on both sides: a file into a file, and
// stdin to stdout.
func TestRawFerryToFerry(t *testing.T) {
	data := randomBytes(2<<20 + 3)
	t.Run("file", func(t *testing.T) {
		src, dst := t.TempDir(), t.TempDir()
		writeFile(t, src, "src.bin", data, 0o644, time.Now())
		recv := startRecvEnv(t, nil, dst, nil, "--json", "--raw", "-l", "127.0.0.1:0", "copy.bin")
		snd := send(t, src, nil, "--json", "--raw", recv.addr, "src.bin")
		snd.expect(0)
		recv.expect(0)
		checkReceived(t, dst, map[string][]byte{"copy.bin": data})
		recvEvents := jsonOnly(t, recv.proc)
		for p, evs := range map[*proc]map[string][]map[string]any{snd: jsonOnly(t, snd), recv.proc: recvEvents} {
			if n := rawSummaryBytes(t, p, evs); n != int64(len(data)) {
				t.Errorf("ferry %s --raw summary says %d bytes, want %d", p.name, n, len(data))
			}
		}
		if into := oneEvent(t, recv.proc, recvEvents, "listening")["into"]; into != filepath.Join(dst, "copy.bin") {
			t.Errorf("recv --raw listening event into = %v, want %s", into, filepath.Join(dst, "copy.bin"))
		}
	})
	t.Run("stdin to stdout", func(t *testing.T) {
		dir := t.TempDir()
		recv := startRecvEnv(t, nil, dir, nil, "--raw", "-l", "127.0.0.1:0", "-")
		snd := send(t, dir, bytes.NewReader(data), "--raw", recv.addr, "-")
		snd.expect(0)
		recv.expect(0)
		if got := recv.out.Bytes(); !bytes.Equal(got, data) {
			t.Errorf("recv --raw - wrote %d bytes on stdout, want exactly the %d sent", len(got), len(data))
		}
		checkReceived(t, dir, nil)
	})
}

// TestRawExisting runs recv --raw OUT where OUT exists: refused without
// --overwrite, replaced with it.
func TestRawExisting(t *testing.T) {
	old := []byte("old contents\n")
	t.Run("refused", func(t *testing.T) {
		dst := t.TempDir()
		writeFile(t, dst, "OUT", old, 0o644, time.Now())
		recv := start(t, dst, nil, nil, "recv", "--raw", "-l", "127.0.0.1:0", "OUT")
		recv.expect(1)
		checkOneError(t, recv, "OUT", "already exists", "--overwrite")
		checkReceived(t, dst, map[string][]byte{"OUT": old})
	})
	t.Run("--overwrite", func(t *testing.T) {
		src, dst := t.TempDir(), t.TempDir()
		writeFile(t, dst, "OUT", old, 0o644, time.Now())
		newer := randomBytes(100 << 10)
		writeFile(t, src, "new.bin", newer, 0o644, time.Now())
		recv := startRecvEnv(t, nil, dst, nil, "--raw", "--overwrite", "-l", "127.0.0.1:0", "OUT")
		send(t, src, nil, "--raw", recv.addr, "new.bin").expect(0)
		recv.expect(0)
		checkReceived(t, dst, map[string][]byte{"OUT": newer})
	})
}
