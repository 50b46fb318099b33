//go:build linux

package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSilentHost sends to a host that drops the packets of a connection:
// send says it is connecting after a second (on a terminal, with the
// seconds, on one line redrawn and wiped before the error) and gives up
// after --timeout, naming what to check.
func TestSilentHost(t *testing.T) {
	addr := silentAddr(t)
	const limit = 3 * time.Second
	wantErr := "cannot connect to " + addr + ": no answer in 3s; check that it is the address ferry recv printed, and that no firewall between the machines drops the connection"
	src := t.TempDir()
	writeFile(t, src, "f", []byte("x"), 0o644, time.Now())
	args := []string{"send", "--timeout", limit.String(), addr, "f"}

	t.Run("not a terminal", func(t *testing.T) {
		began := time.Now()
		snd := start(t, src, nil, nil, args...)
		snd.expect(1)
		checkTook(t, time.Since(began), limit)
		checkOneError(t, snd, wantErr)
		if got, want := snd.stderr(), "ferry: connecting to "+addr+"\nferry: error: "+wantErr+"\n"; got != want {
			t.Errorf("stderr = %q\nwant     %q", got, want)
		}
	})
	t.Run("--json", func(t *testing.T) {
		snd := start(t, src, nil, nil, append(args, "--json")...)
		snd.expect(1)
		if ev := snd.event("connecting"); ev["addr"] != addr {
			t.Errorf("connecting event %v, want addr %s", ev, addr)
		}
		if got := snd.errorMessage(); got != wantErr {
			t.Errorf("error %q, want %q", got, wantErr)
		}
	})
	t.Run("terminal", func(t *testing.T) {
		began := time.Now()
		screen, status := runOnTerminal(t, 80, src, args...)
		checkTook(t, time.Since(began), limit)
		if status != 1 {
			t.Fatalf("ferry send exited with status %d, want 1; terminal:\n%q", status, screen)
		}
		// Each redraw goes back to the start of the line; the last is
		// wiped with blanks before the error.
		for _, want := range []string{
			"\rferry: connecting to " + addr + " (1s)",
			"\rferry: connecting to " + addr + " (2s)",
		} {
			if !strings.Contains(screen, want) {
				t.Errorf("terminal shows no %q:\n%q", want, screen)
			}
		}
		if wiped := regexp.MustCompile(`s\)\r +\rferry: error: ` + regexp.QuoteMeta(wantErr)); !wiped.MatchString(screen) {
			t.Errorf("the connecting line is not wiped before the error:\n%q", screen)
		}
		if strings.Contains(screen, "\n"+"ferry: connecting") {
			t.Errorf("the connecting line is not redrawn in place:\n%q", screen)
		}
	})
	t.Run("narrow terminal", func(t *testing.T) {
		screen, _ := runOnTerminal(t, 20, src, args...)
		for _, draw := range strings.Split(screen, "\r") {
			if line, _, _ := strings.Cut(draw, "\n"); strings.HasPrefix(line, "ferry: connecting") && len(line) >= 20 {
				t.Errorf("a connecting line of %d columns on a terminal of 20: %q", len(line), line)
			}
		}
		if !strings.Contains(screen, "\rferry: connecting ") {
			t.Errorf("terminal shows no connecting line:\n%q", screen)
		}
	})
}

// checkTook checks that connecting to a silent host took its limit, with
// room for a loaded machine.
func checkTook(t *testing.T, took, limit time.Duration) {
	t.Helper()
	if took < limit || took > limit+guard/2 {
		t.Errorf("send gave up after %v, want %v", took, limit)
	}
}

// silentAddr returns the address of a listener that answers no new
// connection, as a host behind a firewall that drops packets: its queue,
// one connection long, holds one that is never accepted, and Linux drops
// the SYN of a connection to a listener whose queue is full. An address
// such as TEST-NET's 192.0.2.1 would do only where nothing routes it, and
// a firewall rule needs root; this needs neither, so CI runs it, and only
// a kernel that answers all the same skips it elsewhere.
func silentAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	// Connect until one is not answered: the queue is full. A connect
	// on the loopback is answered at once, or not at all.
	for range 8 {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return addr
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
	}
	msg := "this kernel answers connections to a listener whose queue is full, so there is no silent host to test with"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip("skipping: " + msg)
	return ""
}

// TestDialStatus runs dial in this process, so that -race sees the status
// line's goroutine against the tries: to a silent host, it says once that
// it is connecting and stops before dial returns.
func TestDialStatus(t *testing.T) {
	addr := silentAddr(t)
	var buf syncBuffer
	out := &output{w: &buf}
	conn, err := dial(t.Context(), addr, &common{timeout: 1500 * time.Millisecond, wait: 1500 * time.Millisecond}, out)
	if err == nil {
		conn.Close()
		t.Fatalf("dial to a silent host connected")
	}
	out.say("after")
	if got, want := string(buf.Bytes()), "ferry: connecting to "+addr+"\nferry: after\n"; got != want {
		t.Errorf("dial printed %q, want %q", got, want)
	}
}
