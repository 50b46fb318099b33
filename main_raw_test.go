package main

// These tests drive --raw where it meets the other mode or a netcat used
// wrongly: a send --raw or an nc -N reaching a framed ferry recv, an nc
// without -N that never ends its stream, and a send --raw whose input
// pauses longer than the receiver's --timeout.

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRawSendToFramedRecv runs send --raw against a ferry recv without
// --raw, in the default mode and with --plain: the sender fails, naming
// the fix and giving the receiver's reason, the receiver warns and waits
// on, and nothing is written. An endless stream is failed by the receiver's reset in the
// middle of a write, once the receiver's linger after its refusal is over.
func TestRawSendToFramedRecv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    []string
		endless bool
	}{
		{"code, file", nil, false},
		{"plain, file", []string{"--plain"}, false},
		{"plain, endless stdin", []string{"--plain"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := t.TempDir(), t.TempDir()
			writeFile(t, src, "f.txt", []byte("fifteen bytes!\n"), 0o644, time.Now())
			recv, addr := startRecv(t, dst, nil, append(tc.mode, "-l", "127.0.0.1:0", "in")...)
			var snd *proc
			if tc.endless {
				snd = send(t, src, newEndless(0), "--raw", addr, "-")
			} else {
				snd = send(t, src, nil, "--raw", addr, "f.txt")
			}
			snd.expect(1)
			checkOneError(t, snd, "the receiver at "+addr+" takes only ferry's own framing, not raw bytes",
				"(receiver: reading hello from 127.0.0.1:", "not speaking the ferry protocol): drop --raw from ferry send, or restart ferry recv with --raw")
			expectNotFerryWarning(t, recv)
			checkReceived(t, dst, nil)
		})
	}
}

// TestNetcatToFramedRecv sends with nc -N to a ferry recv without --raw:
// its warning tells the user to run ferry recv --raw. The streams open
// as what the receiver reads as a frame too long for a hello, as a frame
// of another type, and as less than a frame.
func TestNetcatToFramedRecv(t *testing.T) {
	nc := needNetcat(t)
	for _, tc := range []struct {
		name   string
		stream []byte
	}{
		{"text", []byte("fifteen bytes!\n")},
		{"zeros", make([]byte, 100)},
		{"three bytes", []byte("hi\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := t.TempDir()
			recv, addr := startRecv(t, dst, nil, "--plain", "-l", "127.0.0.1:0", "in")
			host, port, _ := net.SplitHostPort(addr)
			startProg(t, "nc", nc, nil, dst, bytes.NewReader(tc.stream), io.Discard, "-N", host, port).wait()
			expectNotFerryWarning(t, recv)
			checkReceived(t, dst, nil)
		})
	}
}

// expectNotFerryWarning checks that a one-shot recv that met a peer not
// speaking ferry says so, with the --raw hint, and goes on waiting: no
// code was tried. It then interrupts recv.
func expectNotFerryWarning(t *testing.T, recv *proc) {
	t.Helper()
	warning := recv.waitLine("its warning", func(l string) bool {
		return strings.HasPrefix(l, "ferry: warning: ") && strings.HasSuffix(l, "still waiting for a sender")
	})
	mustContain(t, "recv's warning", warning, "reading hello from 127.0.0.1:", "not speaking the ferry protocol: if it is nc or ferry send --raw, run ferry recv --raw")
	recv.interrupt()
	recv.expect(130)
}

// TestRawRecvNetcatWithoutN sends with nc without -N, which never ends its
// stream, to recv --raw: it gives up after --timeout, says to use nc -N,
// and keeps nothing.
func TestRawRecvNetcatWithoutN(t *testing.T) {
	nc := needNetcat(t)
	src, dst := t.TempDir(), t.TempDir()
	path := writeFile(t, src, "f.txt", []byte("fifteen bytes!\n"), 0o644, time.Now())
	recv, addr := startRecv(t, dst, nil, "--raw", "--timeout", "500ms", "-l", "127.0.0.1:0", "OUT")
	host, port, _ := net.SplitHostPort(addr)
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	ncp := startProg(t, "nc", nc, nil, src, in, nil, host, port)
	recv.expect(1)
	ncp.wait()
	checkOneError(t, recv, "nothing from 127.0.0.1:", "for 500ms, and it has not ended its stream: if the sender is nc, use nc -N so it closes when its input ends; if its input pauses, raise --timeout")
	checkReceived(t, dst, nil)
}

// TestRawSendInputPause pauses the input of send --raw longer than the
// receiver's --timeout: the receiver gives up and says so; the sender
// learns of it when its input resumes, and its message names the pause
// and the receiver's --timeout.
func TestRawSendInputPause(t *testing.T) {
	dir := t.TempDir()
	recv, addr := startRecv(t, dir, nil, "--raw", "--timeout", "1s", "-l", "127.0.0.1:0", "-")
	input, feed := io.Pipe()
	snd := start(t, dir, input, nil, "send", "--raw", addr, "-")
	if _, err := feed.Write([]byte("one\n")); err != nil {
		t.Fatal(err)
	}
	recv.expect(1)
	checkOneError(t, recv, "nothing from 127.0.0.1:", "for 1s, and it has not ended its stream", "if its input pauses, raise --timeout")
	// The sender may be gone by the time the pipe is closed.
	_, _ = feed.Write([]byte("two\n"))
	_ = feed.Close()
	snd.expect(1)
	checkOneError(t, snd, "connection to "+addr+" lost: ", ", after the input paused for ", ": a raw receiver gives up after its timeout of silence (30s by default); if that is what happened, raise --timeout there")
}

// TestRawRecvModeAndTime checks the file recv --raw writes: with no
// sender's mode or time to keep, it gets the mode a shell's > gives
// (0666 less recv's umask, here 027) and the time its data was written,
// not the time recv started.
func TestRawRecvModeAndTime(t *testing.T) {
	dst := t.TempDir()
	recv := startProg(t, "recv", "/bin/sh", nil, dst, nil, nil,
		"-c", `umask 027 && exec "$0" "$@"`, ferryBin, "recv", "--json", "--raw", "-l", "127.0.0.1:0", "OUT")
	line := recv.waitLine("its listening event", func(l string) bool {
		ev, err := parseEvent(l)
		return err == nil && ev["event"] == "listening"
	})
	ev, _ := parseEvent(line)
	addr, _ := ev["addr"].(string)
	listening := time.Now()
	// A gap the file system's clock, which may tick only every few
	// milliseconds, can see between recv's start and the data.
	time.Sleep(50 * time.Millisecond)
	send(t, dst, strings.NewReader("fifteen bytes!\n"), "--raw", addr, "-").expect(0)
	recv.expect(0)
	info, err := os.Stat(filepath.Join(dst, "OUT"))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o640 {
		t.Errorf("recv --raw under umask 027 wrote OUT with mode %v, want -rw-r----- as a shell's > would", got)
	}
	if info.ModTime().Before(listening) {
		t.Errorf("OUT has mtime %v, before recv was listening (%v): want the time its data was written", info.ModTime(), listening)
	}
}
