package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
)

// TestAddr checks what recv -l (listenAddr) and send (dialAddr) take as an
// address and how they read it. listen and dial are the address each side
// uses, or, after "bad: ", the reason its usage error gives.
func TestAddr(t *testing.T) {
	for _, tc := range []struct {
		name, in     string
		listen, dial string
	}{
		// Accepted by both.
		{"IPv4", "127.0.0.1", "127.0.0.1:7575", "127.0.0.1:7575"},
		{"IPv4:PORT", "127.0.0.1:19000", "127.0.0.1:19000", "127.0.0.1:19000"},
		{"highest port", "127.0.0.1:65535", "127.0.0.1:65535", "127.0.0.1:65535"},
		{"name", "localhost", "localhost:7575", "localhost:7575"},
		{"name:PORT", "localhost:19000", "localhost:19000", "localhost:19000"},
		{"[IPv6]", "[::1]", "[::1]:7575", "[::1]:7575"},
		{"[IPv6]:PORT", "[::1]:19000", "[::1]:19000", "[::1]:19000"},
		{"bare IPv6", "::1", "[::1]:7575", "[::1]:7575"},
		{"bare IPv6, longer", "fd00::2", "[fd00::2]:7575", "[fd00::2]:7575"},
		{"bare IPv4-mapped IPv6", "::ffff:192.0.2.7", "[::ffff:192.0.2.7]:7575", "[::ffff:192.0.2.7]:7575"},
		{"[IPv6%zone]", "[fe80::1%lo]", "[fe80::1%lo]:7575", "[fe80::1%lo]:7575"},
		{"bare IPv6%zone", "fe80::1%lo", "[fe80::1%lo]:7575", "[fe80::1%lo]:7575"},
		{"[IPv6%zone]:PORT", "[fe80::1%lo]:7000", "[fe80::1%lo]:7000", "[fe80::1%lo]:7000"},

		// Where listening and connecting differ: -l takes a bare PORT,
		// :PORT and port 0; send needs a host (a bare number is one) and a
		// port to connect to.
		{"bare PORT", "7575", ":7575", "7575:7575"},
		{"bare PORT 0", "0", ":0", "0:7575"},
		{"bare PORT too large", "65536", `bad: port "65536" is not a number from 0 to 65535`, "65536:7575"},
		{":PORT", ":19000", ":19000", "bad: empty host"},
		{":0", ":0", ":0", `bad: port "0" is not a number from 1 to 65535`},
		{"HOST:0", "127.0.0.1:0", "127.0.0.1:0", `bad: port "0" is not a number from 1 to 65535`},
		{"[IPv6]:0", "[::1]:0", "[::1]:0", `bad: port "0" is not a number from 1 to 65535`},

		// Refused by both.
		{"empty", "", "bad: empty host", "bad: empty host"},
		{"unclosed bracket", "[::1", "bad: unbalanced brackets", "bad: unbalanced brackets"},
		{"unclosed bracket with a port", "[::1:7000", "bad: unbalanced brackets", "bad: unbalanced brackets"},
		{"unopened bracket", "::1]", "bad: unbalanced brackets", "bad: unbalanced brackets"},
		{"unopened bracket with a port", "::1]:7000", "bad: unbalanced brackets", "bad: unbalanced brackets"},
		{"doubled brackets", "[[::1]]", "bad: stray brackets", "bad: stray brackets"},
		{"brackets inside a name", "a[b]", "bad: stray brackets", "bad: stray brackets"},
		{"brackets the wrong way", "]::1[", "bad: stray brackets", "bad: stray brackets"},
		{"text after the bracket", "[::1]7000", "bad: stray brackets", "bad: stray brackets"},
		{"empty brackets", "[]", `bad: "" in brackets is not an IPv6 address`, `bad: "" in brackets is not an IPv6 address`},
		{"empty brackets with a port", "[]:7000", `bad: "" in brackets is not an IPv6 address`, `bad: "" in brackets is not an IPv6 address`},
		{"IPv4 in brackets", "[127.0.0.1]:7000", `bad: "127.0.0.1" in brackets is not an IPv6 address`, `bad: "127.0.0.1" in brackets is not an IPv6 address`},
		{"name in brackets", "[localhost]", `bad: "localhost" in brackets is not an IPv6 address`, `bad: "localhost" in brackets is not an IPv6 address`},
		{"empty zone", "[fe80::1%]", `bad: "fe80::1%" in brackets is not an IPv6 address`, `bad: "fe80::1%" in brackets is not an IPv6 address`},
		{"IPv6 and a port without brackets", "::1:19004", `bad: host "::1:19004" has colons but is not an IPv6 address`, `bad: host "::1:19004" has colons but is not an IPv6 address`},
		{"two ports", "host:1:2", `bad: host "host:1:2" has colons but is not an IPv6 address`, `bad: host "host:1:2" has colons but is not an IPv6 address`},
		{"port not a number", "host:port", `bad: port "port" is not a number from 0 to 65535`, `bad: port "port" is not a number from 1 to 65535`},
		{"empty port", "127.0.0.1:", `bad: port "" is not a number from 0 to 65535`, `bad: port "" is not a number from 1 to 65535`},
		{"empty port after brackets", "[::1]:", `bad: port "" is not a number from 0 to 65535`, `bad: port "" is not a number from 1 to 65535`},
		{"signed port", "127.0.0.1:+80", `bad: port "+80" is not a number from 0 to 65535`, `bad: port "+80" is not a number from 1 to 65535`},
		{"negative port", ":-1", `bad: port "-1" is not a number from 0 to 65535`, `bad: port "-1" is not a number from 1 to 65535`},
		{"port too large", "127.0.0.1:65536", `bad: port "65536" is not a number from 0 to 65535`, `bad: port "65536" is not a number from 1 to 65535`},
		{"port far too large", "[::1]:99999999999999999999", `bad: port "99999999999999999999" is not a number from 0 to 65535`, `bad: port "99999999999999999999" is not a number from 1 to 65535`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkAddr(t, listenSide, tc.in, tc.listen)
			checkAddr(t, dialSide, tc.in, tc.dial)
		})
	}
}

// addrSide is one of the two address parsers, with the usage error it
// gives: a format taking the value given and the reason.
type addrSide struct {
	name  string
	parse func(string) (string, error)
	bad   string
}

var (
	listenSide = addrSide{"listenAddr", listenAddr, "bad listen address %q: %s; use PORT, :PORT, HOST, HOST:PORT, [IPv6] or [IPv6]:PORT"}
	dialSide   = addrSide{"dialAddr", dialAddr, "bad address %q: %s; use HOST, HOST:PORT, [IPv6] or [IPv6]:PORT"}
)

// checkAddr checks side's reading of in against want: the address, or
// "bad: " and the reason of a usage error, whose whole text it checks.
func checkAddr(t *testing.T, side addrSide, in, want string) {
	t.Helper()
	got, err := side.parse(in)
	reason, bad := strings.CutPrefix(want, "bad: ")
	if !bad {
		if err != nil || got != want {
			t.Errorf("%s(%q) = %q, %v; want %q", side.name, in, got, err, want)
		}
		return
	}
	var ue *usageError
	if !errors.As(err, &ue) {
		t.Errorf("%s(%q) = %q, %v; want a usage error", side.name, in, got, err)
		return
	}
	if msg := fmt.Sprintf(side.bad, in, reason); err.Error() != msg {
		t.Errorf("%s(%q) error:\n  %s\nwant\n  %s", side.name, in, err, msg)
	}
}

// TestSendTargetParses checks that every target recv prints in the command
// for the sender is read back by send as the same host and port.
func TestSendTargetParses(t *testing.T) {
	for _, host := range []string{"192.0.2.7", "fd00::2", "::1", "pi.local"} {
		for _, port := range []int{DefaultPort, 1, 39711, 65535} {
			target := sendTarget(host, port)
			want := net.JoinHostPort(host, strconv.Itoa(port))
			if got, err := dialAddr(target); err != nil || got != want {
				t.Errorf("dialAddr(sendTarget(%q, %d) = %q) = %q, %v; want %q", host, port, target, got, err, want)
			}
		}
	}
}
