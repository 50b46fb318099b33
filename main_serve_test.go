package main

import (
	"io"
	"net"
	"strings"
	"testing"
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
