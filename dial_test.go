package main

import (
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDialError checks the messages for a failed connect, from errors shaped
// as the dialer returns them: a name that does not resolve is tested here,
// not through the binary, since resolving one would ask a real DNS server.
func TestDialError(t *testing.T) {
	const addr = "nosuchhost.invalid:7575"
	dialFailed := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	for _, tc := range []struct {
		name   string
		err    error
		took   time.Duration
		waited bool
		want   string
	}{
		{"unknown host", dialFailed(&net.DNSError{Err: "no such host", Name: "nosuchhost.invalid", IsNotFound: true}), 0, false,
			"unknown host nosuchhost.invalid: check the name, or use its IP address"},
		{"lookup failed", dialFailed(&net.DNSError{Err: "server misbehaving", Name: "nosuchhost.invalid", IsTemporary: true}), 0, false,
			"cannot look up host nosuchhost.invalid: server misbehaving"},
		{"refused", dialFailed(&os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}), 0, false,
			"cannot connect to " + addr + ": connection refused (is 'ferry recv' running there, on this port?)"},
		{"no route", dialFailed(&os.SyscallError{Syscall: "connect", Err: syscall.EHOSTUNREACH}), 0, false,
			"cannot connect to " + addr + ": no route to host"},
		{"network unreachable", dialFailed(&os.SyscallError{Syscall: "connect", Err: syscall.ENETUNREACH}), 0, false,
			"cannot connect to " + addr + ": no route to host"},
		{"refused for the --wait", dialFailed(&os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}), 10*time.Second + 40*time.Millisecond, true,
			"cannot connect to " + addr + ": connection refused for 10s (is 'ferry recv' running there, on this port?)"},
		{"no route for the --wait", dialFailed(&os.SyscallError{Syscall: "connect", Err: syscall.EHOSTUNREACH}), 5 * time.Second, true,
			"cannot connect to " + addr + ": no route to host for 5s"},
		{"no answer", dialFailed(os.ErrDeadlineExceeded), 30*time.Second + 3*time.Millisecond, false,
			"cannot connect to " + addr + ": no answer in 30s; check that it is the address ferry recv printed, and that no firewall between the machines drops the connection"},
		{"other", dialFailed(&os.SyscallError{Syscall: "connect", Err: syscall.EACCES}), 0, false,
			"cannot connect to " + addr + ": permission denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := dialError(addr, tc.err, tc.took, tc.waited).Error(); got != tc.want {
				t.Errorf("dialError = %q\nwant        %q", got, tc.want)
			}
		})
	}
}

// TestSendWait checks send --wait through the binary: it reaches a receiver
// that starts after it, saying once that it waits; it gives up when the
// wait is over; and it retries nothing else: not a refused connection
// without --wait, not a wrong code.
func TestSendWait(t *testing.T) {
	t.Run("receiver starts 3s after the sender", func(t *testing.T) {
		src, dst := t.TempDir(), t.TempDir()
		data := randomBytes(64 << 10)
		writeFile(t, src, "f.bin", data, 0o644, time.Now())
		addr := freeAddr(t)
		snd := start(t, src, nil, nil, "send", "--wait", "10s", addr, "f.bin")
		snd.waitLine("the waiting message", func(l string) bool {
			return l == "ferry: waiting for ferry recv at "+addr+" (up to 10s)"
		})
		// The scenario, not a synchronisation: any delay within the
		// wait must do.
		time.Sleep(3 * time.Second)
		recv, _ := startRecv(t, dst, nil, "-l", addr, dst)
		snd.expect(0)
		recv.expect(0)
		checkReceived(t, dst, map[string][]byte{"f.bin": data})
		if n := strings.Count(snd.stderr(), "waiting for"); n != 1 {
			t.Errorf("send said %d times that it waits, want once:\n%s", n, snd.stderr())
		}
		mustContain(t, "ferry send stderr", snd.stderr(), "ferry: connected to "+addr)
	})
	t.Run("--json", func(t *testing.T) {
		src := t.TempDir()
		writeFile(t, src, "f", []byte("x"), 0o644, time.Now())
		addr := freeAddr(t)
		snd := send(t, src, nil, "--json", "--wait", "500ms", addr, "f")
		snd.expect(1)
		ev := snd.event("waiting")
		if ev["addr"] != addr || ev["seconds"] != 0.5 {
			t.Errorf("waiting event %v, want addr %s and seconds 0.5", ev, addr)
		}
		mustContain(t, "ferry send error", snd.errorMessage(), "connection refused for ")
	})
	t.Run("refused for the whole wait", func(t *testing.T) {
		src := t.TempDir()
		writeFile(t, src, "f", []byte("x"), 0o644, time.Now())
		addr := freeAddr(t)
		began := time.Now()
		snd := send(t, src, nil, "--wait", "1500ms", addr, "f")
		snd.expect(1)
		if took := time.Since(began); took < 1500*time.Millisecond {
			t.Errorf("send gave up after %v, before its --wait of 1.5s", took)
		}
		checkOneError(t, snd, "cannot connect to "+addr+": connection refused for 1.", "ferry recv")
		if n := strings.Count(snd.stderr(), "waiting for ferry recv at "+addr+" (up to 1.5s)"); n != 1 {
			t.Errorf("send said %d times that it waits, want once:\n%s", n, snd.stderr())
		}
	})
	t.Run("refused without --wait fails at once", func(t *testing.T) {
		src := t.TempDir()
		writeFile(t, src, "f", []byte("x"), 0o644, time.Now())
		addr := freeAddr(t)
		snd := send(t, src, nil, addr, "f")
		snd.expect(1)
		// The only line: no waiting, no connecting.
		checkOneError(t, snd, "cannot connect to "+addr+": connection refused (is 'ferry recv' running there")
		if lines := strings.Count(snd.stderr(), "\n"); lines != 1 {
			t.Errorf("send printed %d lines, want the error alone:\n%s", lines, snd.stderr())
		}
	})
	t.Run("a wrong code is not retried", func(t *testing.T) {
		src, dst := t.TempDir(), t.TempDir()
		writeFile(t, src, "f", []byte("x"), 0o644, time.Now())
		recv, addr := startRecv(t, dst, nil, "-l", "127.0.0.1:0", dst)
		// recv without -k exits after the wrong code: a retry would
		// find the port closed and wait.
		snd := send(t, src, nil, "--wait", "10s", "--code", "WRN-G0D-E99", addr, "f")
		snd.expect(1)
		recv.expect(1)
		checkOneError(t, snd, "authentication failed: wrong code")
		if strings.Contains(snd.stderr(), "waiting") {
			t.Errorf("send waited after a wrong code:\n%s", snd.stderr())
		}
	})
}

// TestWaitUsage checks the mistakes of --wait a user is told about.
func TestWaitUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"negative", []string{"--wait", "-1s"}, "--wait must not be negative, not -1s"},
		{"not a duration", []string{"--wait", "10"}, `--wait: invalid value "10" (want a duration such as 30s or 2m)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := send(t, t.TempDir(), nil, append(tc.args, "127.0.0.1:1", "f")...)
			p.expect(2)
			mustContain(t, "ferry send stderr", p.stderr(), tc.want, "Run 'ferry help send' for usage.")
		})
	}
}

// TestRetryable: what --wait tries again, and what it does not.
func TestRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"refused", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{"no route", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}, true},
		{"a .local name not found yet", &net.DNSError{Name: "raspberrypi.local", IsNotFound: true}, true},
		{"a .local name, fully qualified", &net.DNSError{Name: "Pi.LOCAL.", IsNotFound: true}, true},
		{"a lookup that failed for the moment", &net.DNSError{Name: "pi.example.com", IsTemporary: true}, true},
		{"another name not found", &net.DNSError{Name: "pi.exmaple.com", IsNotFound: true}, false},
		{"permission denied", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.EACCES)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryable(tt.err); got != tt.want {
				t.Errorf("retryable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
