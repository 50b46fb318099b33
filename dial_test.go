package main

import (
	"net"
	"os"
	"syscall"
	"testing"
)

// TestDialError checks the messages for a failed connect, from errors shaped
// as the dialer returns them: a name that does not resolve is tested here,
// not through the binary, since resolving one would ask a real DNS server.
func TestDialError(t *testing.T) {
	const addr = "nosuchhost.invalid:7575"
	dialFailed := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"unknown host", dialFailed(&net.DNSError{Err: "no such host", Name: "nosuchhost.invalid", IsNotFound: true}),
			"unknown host nosuchhost.invalid: check the name, or use its IP address"},
		{"lookup failed", dialFailed(&net.DNSError{Err: "server misbehaving", Name: "nosuchhost.invalid", IsTemporary: true}),
			"cannot look up host nosuchhost.invalid: server misbehaving"},
		{"refused", dialFailed(&os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}),
			"cannot connect to " + addr + ": connection refused (is 'ferry recv' running there, on this port?)"},
		{"no route", dialFailed(&os.SyscallError{Syscall: "connect", Err: syscall.EHOSTUNREACH}),
			"cannot connect to " + addr + ": no route to host"},
		{"network unreachable", dialFailed(&os.SyscallError{Syscall: "connect", Err: syscall.ENETUNREACH}),
			"cannot connect to " + addr + ": no route to host"},
		{"timed out", dialFailed(os.ErrDeadlineExceeded),
			"cannot connect to " + addr + ": timed out"},
		{"other", dialFailed(&os.SyscallError{Syscall: "connect", Err: syscall.EACCES}),
			"cannot connect to " + addr + ": permission denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := dialError(addr, tc.err).Error(); got != tc.want {
				t.Errorf("dialError = %q\nwant        %q", got, tc.want)
			}
		})
	}
}
