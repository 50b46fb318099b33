package main

import (
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestKeepOpenFloodLog opens 60 connections that are no sender's on a
// recv -k, 30 sending bytes that are not ferry and 30 closing without a
// byte: recv reports the first in full and the rest in one line, not a
// line each (a flood once wrote 110,460 lines in 25 s).
func TestKeepOpenFloodLog(t *testing.T) {
	dst := t.TempDir()
	recv, addr := startRecv(t, dst, nil, "-k", "-l", "127.0.0.1:0", dst)
	// Each connection waits for recv to close it, so that recv has seen
	// it before the next.
	visit := func(garbage bool) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if garbage {
			_, _ = c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
		}
		_ = c.(*net.TCPConn).CloseWrite()
		_, _ = io.Copy(io.Discard, c)
	}
	for range 30 {
		visit(true)
	}
	for range 30 {
		visit(false)
	}
	recv.interrupt()
	recv.expect(130)
	out := recv.stderr()
	if n := strings.Count(out, "127.0.0.1:"); n > 3 {
		t.Errorf("recv -k named connections %d times for 60 turned away; stderr:\n%s", n, out)
	}
	mustContain(t, "recv stderr", out,
		"not ferry",
		"ferry: warning: 59 more connections turned away in the last minute (29 not ferry, 30 silent)\n")
}

// TestKeepOpenWarnings checks recv -k's warning about a code that is
// guessed too soon: given for a short fixed code, not for a long one, and
// not with --plain, which has no code to guess.
func TestKeepOpenWarnings(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
		warns bool
	}{
		{"short code", []string{"--code", "482109"}, true},
		{"long code", []string{"--code", "48210-93755-62184"}, false},
		{"plain", []string{"--plain"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := t.TempDir()
			recv, _ := startRecv(t, dst, nil, append([]string{"-k", "-l", "127.0.0.1:0", dst}, tc.flags...)...)
			recv.interrupt()
			recv.expect(130)
			if got := strings.Contains(recv.stderr(), "is guessed in about"); got != tc.warns {
				t.Errorf("recv -k %v warned about guessing: %v, want %v; stderr:\n%s", tc.flags, got, tc.warns, recv.stderr())
			}
		})
	}
}

// TestKeepOpenLines sends to a recv -k from two senders at once, a file
// and a tree: each sender gets one line when it comes and one when it
// ends, naming it, with what it sent, and for a single file its name and
// checksum.
func TestKeepOpenLines(t *testing.T) {
	src := t.TempDir()
	writeFile(t, src, "notes.txt", []byte("hello\n"), 0o644, time.Now())
	writeFile(t, src, "tree/a", randomBytes(100<<10), 0o644, time.Now())
	writeFile(t, src, "tree/b", randomBytes(100<<10), 0o644, time.Now())
	for _, tc := range []struct {
		name  string
		flags []string
		comes string
	}{
		{"encrypted", nil, `^ferry: connection from 127\.0\.0\.1:(\d+); code accepted, encrypted with \S+$`},
		{"plain", []string{"--plain"}, `^ferry: connection from 127\.0\.0\.1:(\d+)$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := t.TempDir()
			recv, addr := startRecv(t, dst, nil, append([]string{"-k", "-l", "127.0.0.1:0", dst}, tc.flags...)...)
			one := start(t, src, nil, nil, append([]string{"send", addr, "notes.txt"}, tc.flags...)...)
			tree := start(t, src, nil, nil, append([]string{"send", addr, "tree"}, tc.flags...)...)
			one.expect(0)
			tree.expect(0)
			recv.interrupt()
			recv.expect(130)
			comes := regexp.MustCompile(tc.comes)
			ends := regexp.MustCompile(`^ferry: done: received (notes\.txt|2 files in 1 directory) from 127\.0\.0\.1:(\d+), (6 B|204\.8 kB) in \S+ \([0-9.]+ [kMG]?B/s\)(, crc32c:353dd8be)?$`)
			lines := map[string][]string{} // by the sender's port
			for _, l := range strings.Split(strings.TrimSpace(recv.stderr()), "\n") {
				if m := regexp.MustCompile(`from 127\.0\.0\.1:(\d+)`).FindStringSubmatch(l); m != nil {
					lines[m[1]] = append(lines[m[1]], l)
				}
			}
			if len(lines) != 2 {
				t.Fatalf("recv -k named %d senders, want 2; stderr:\n%s", len(lines), recv.stderr())
			}
			for port, ls := range lines {
				if len(ls) != 2 || !comes.MatchString(ls[0]) || !ends.MatchString(ls[1]) {
					t.Errorf("the sender at port %s got lines %q, want one matching %v, then one matching %v", port, ls, comes, ends)
				}
			}
			mustContain(t, "recv stderr", recv.stderr(), "ferry: done: received notes.txt from 127.0.0.1:", ", crc32c:353dd8be\n", "ferry: done: received 2 files in 1 directory from ")
		})
	}
}
