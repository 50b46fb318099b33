package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Both commands read an address with parseHostPort, so that recv -l and
// send take and refuse the same shapes; listenAddr and dialAddr add only
// what differs between listening and connecting.

// errEmptyHost is the reason for an address that names no host where one
// is needed.
var errEmptyHost = errors.New("empty host")

// parseHostPort splits s into host and port. It takes HOST, HOST:PORT,
// [IPv6], [IPv6]:PORT, :PORT (an empty host, for the caller to allow or
// not) and a bare IPv6 address such as ::1 or fe80::1%eth0, which is a host
// without a port: its colons leave no room for one. A missing port is
// defaultPort; a given one must be a number from minPort to 65535. The
// error gives only the reason: the caller names s and the shapes it takes.
func parseHostPort(s string, defaultPort, minPort int) (host string, port int, err error) {
	host, portText, hasPort := s, "", false
	switch inner, bracketed := strings.CutPrefix(s, "["); {
	case strings.Count(s, "[") != strings.Count(s, "]"):
		return "", 0, errors.New("unbalanced brackets")
	case strings.Count(s, "[") > 1 || !bracketed && strings.Contains(s, "]"):
		return "", 0, errors.New("stray brackets")
	case bracketed:
		var rest string
		host, rest, _ = strings.Cut(inner, "]")
		if portText, hasPort = strings.CutPrefix(rest, ":"); rest != "" && !hasPort {
			return "", 0, errors.New("stray brackets")
		}
		// Brackets exist to set an IPv6 address's colons apart from the
		// port's; around anything else they are a typo.
		if !isIPv6(host) {
			return "", 0, fmt.Errorf("%q in brackets is not an IPv6 address", host)
		}
	case strings.Count(s, ":") == 1:
		host, portText, hasPort = strings.Cut(s, ":")
	case strings.Contains(s, ":") && !isIPv6(s):
		return "", 0, fmt.Errorf("host %q has colons but is not an IPv6 address", s)
	}
	switch {
	case host == "" && !hasPort:
		return "", 0, errEmptyHost
	case !hasPort:
		return host, defaultPort, nil
	}
	// ParseUint, unlike Atoi, refuses a sign: "+80" is no port.
	p, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || int(p) < minPort {
		return "", 0, fmt.Errorf("port %q is not a number from %d to 65535", portText, minPort)
	}
	return host, int(p), nil
}

// isIPv6 reports whether s is an IPv6 address, with or without a zone.
func isIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6()
}

// listenAddr turns -l's value into a listen address. Besides the shapes
// of parseHostPort it takes a bare PORT; a missing host (PORT, :PORT)
// means every interface, a missing port DefaultPort, and port 0 lets the
// system choose.
func listenAddr(s string) (string, error) {
	given := s
	if s != "" && strings.Trim(s, "0123456789") == "" {
		s = ":" + s
	}
	host, port, err := parseHostPort(s, DefaultPort, 0)
	if err != nil {
		return "", usagef("bad listen address %q: %v; use PORT, :PORT, HOST, HOST:PORT, [IPv6] or [IPv6]:PORT", given, err)
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// dialAddr turns send's HOST[:PORT] into a dial address. Unlike -l it
// needs a host, as an empty one would quietly mean this machine, and a
// port from 1, as there is no port 0 to connect to; a bare number is a
// host name.
func dialAddr(s string) (string, error) {
	host, port, err := parseHostPort(s, DefaultPort, 1)
	if err == nil && host == "" {
		err = errEmptyHost
	}
	if err != nil {
		return "", usagef("bad address %q: %v; use HOST, HOST:PORT, [IPv6] or [IPv6]:PORT", s, err)
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}
