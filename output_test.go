package main

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/ferrytool/ferry/transfer"
)

// TestFileEvent checks that the hand-made "file" event is the line the
// generic encoder makes, for names that need escaping too.
func TestFileEvent(t *testing.T) {
	for _, r := range []transfer.FileResult{
		{Name: "a/b.txt", Bytes: 1024, Elapsed: 1234567 * time.Nanosecond, Checksum: "crc32c:01234567"},
		// A control character, quotes, HTML, non-ASCII and invalid UTF-8.
		{Name: "we\x01ird\"<&>\u00e9\xff", Bytes: 0, Elapsed: 0, Checksum: "crc32c:00000000"},
		{Name: "x", Bytes: 1 << 40, Elapsed: 3 * time.Hour, Checksum: "crc32c:ffffffff"},
		{Name: "y", Bytes: 5, Elapsed: 3, Checksum: "c"},
	} {
		secs := r.Elapsed.Seconds()
		for _, peer := range []net.Addr{nil, &net.TCPAddr{IP: net.IPv6loopback, Port: 7575}} {
			fields := withPeer(map[string]any{"name": r.Name, "bytes": r.Bytes, "seconds": secs, "checksum": r.Checksum}, peer)
			want := appendEvent(nil, "file", fields)
			got := appendFileEvent(nil, r, secs, peer)
			if string(got) != string(want) {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		}
	}
}

// TestMessagesEscaped checks that a message line cannot carry control
// characters, whatever a file name given on the command line or found in a
// walk holds: each message is one line, and none drives the terminal.
func TestMessagesEscaped(t *testing.T) {
	name := "no\x1b[2Jsuch\nfile\r"
	tests := []struct {
		name  string
		print func(o *output)
		want  string
	}{
		{"error", func(o *output) { o.fail(errors.New("cannot send " + name + ": no such file")) },
			"ferry: error: cannot send no\\u001b[2Jsuch\\u000afile\\u000d: no such file\n"},
		{"warning", func(o *output) { o.warn("skipping %s", name) },
			"ferry: warning: skipping no\\u001b[2Jsuch\\u000afile\\u000d\n"},
		{"message", func(o *output) { o.say("created %s", name) },
			"ferry: created no\\u001b[2Jsuch\\u000afile\\u000d\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.print(&output{w: &buf})
			if buf.String() != tt.want {
				t.Errorf("printed %q, want %q", buf.String(), tt.want)
			}
		})
	}
}

// TestSendTarget checks how recv names this machine in the command for
// the sender and in the list of its other addresses.
func TestSendTarget(t *testing.T) {
	tests := []struct {
		host string
		port int
		want string
	}{
		{"192.0.2.7", DefaultPort, "192.0.2.7"},
		{"192.0.2.7", 39711, "192.0.2.7:39711"},
		{"fd00::2", DefaultPort, "[fd00::2]"},
		{"fd00::2", 39711, "[fd00::2]:39711"},
		{"pi.local", 39711, "pi.local:39711"},
	}
	for _, tt := range tests {
		if got := sendTarget(tt.host, tt.port); got != tt.want {
			t.Errorf("sendTarget(%q, %d) = %q, want %q", tt.host, tt.port, got, tt.want)
		}
	}
}

// TestUserMessage checks that the package prefixes of errors from inside
// ferry are dropped from what a person reads, and nothing else is.
func TestUserMessage(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"at the start", "secure: stream cut before its last frame from 127.0.0.1:7000", "stream cut before its last frame from 127.0.0.1:7000"},
		{"within", "reading hello from 127.0.0.1:5000: framing: peer is not speaking the ferry protocol", "reading hello from 127.0.0.1:5000: peer is not speaking the ferry protocol"},
		{"after the peer's role", "receiver: secure: frame failed authentication: tampered, replayed or out of order from the sender", "receiver: frame failed authentication: tampered, replayed or out of order from the sender"},
		{"several", "secure: handshake: waiting for the peer's pake frame: transfer: peer silent too long", "handshake: waiting for the peer's pake frame: peer silent too long"},
		{"codec", "codec: corrupt compressed chunk", "corrupt compressed chunk"},
		{"a file named like a package", "cannot send transfer: no such file or directory", "cannot send transfer: no such file or directory"},
		{"a file named like a package's error", "receiver: transfer: notes.txt already exists", "receiver: transfer: notes.txt already exists"},
		{"a word that starts like one", "cannot read x: securely: permission denied", "cannot read x: securely: permission denied"},
		{"codec's refusal", "codec: the receiver cannot decode zstd; use -z none", "the receiver cannot decode zstd; use -z none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := userMessage(errors.New(tc.in)); got != tc.want {
				t.Errorf("userMessage(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
