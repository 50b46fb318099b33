//go:build linux

package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSendUnreadable sends a file the sender may not read, alone or in a
// directory: ferry send fails in its walk, naming the file, before it
// connects, so the receiver's code is not spent. Root reads every file,
// so as root (as in CI) the sender runs as the nobody user.
func TestSendUnreadable(t *testing.T) {
	src := reachableTempDir(t)
	writeFile(t, src, "a/ok.txt", []byte("readable\n"), 0o644, time.Now())
	writeFile(t, src, "a/b.txt", []byte("secret\n"), 0o600, time.Now())
	if err := os.Chmod(filepath.Join(src, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		// As its owner, the sender is denied by the owner's bits.
		if err := os.Chmod(filepath.Join(src, "a", "b.txt"), 0o044); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, path string
	}{
		{"in a directory", "a"},
		{"named alone", "a/b.txt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			args := []string{"send", ln.Addr().String(), tc.path}
			var snd *proc
			if os.Geteuid() == 0 {
				snd = startAsNobody(t, "send", src, args...)
			} else {
				snd = start(t, src, nil, nil, args...)
			}
			snd.expect(1)
			checkOneError(t, snd, "cannot read a/b.txt: permission denied")
			// The process has exited: a connection it made waits to be
			// accepted.
			_ = ln.(*net.TCPListener).SetDeadline(time.Now())
			if c, err := ln.Accept(); err == nil {
				c.Close()
				t.Error("ferry send connected before it found the file it cannot read")
			} else if ne := (net.Error)(nil); !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatal(err)
			}
		})
	}
}
