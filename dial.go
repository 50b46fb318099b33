package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

func dial(ctx context.Context, addr string, timeout time.Duration, out *output) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, dialError(addr, err)
	}
	out.connected("connected to", conn.RemoteAddr())
	return conn, nil
}

func dialError(addr string, err error) error {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return fmt.Errorf("unknown host %s: check the name, or use its IP address", dnsErr.Name)
		}
		return fmt.Errorf("cannot look up host %s: %s", dnsErr.Name, dnsErr.Err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot connect to %s: connection refused (is 'ferry recv' running there, on this port?)", addr)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return fmt.Errorf("cannot connect to %s: no route to host", addr)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("cannot connect to %s: timed out", addr)
	}
	// The system's reason, without the socket plumbing around it ("dial
	// tcp: connect: ...") that tells a user nothing.
	var se *os.SyscallError
	if errors.As(err, &se) {
		err = se.Err
	}
	return fmt.Errorf("cannot connect to %s: %w", addr, err)
}
