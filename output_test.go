package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/codec"
	"github.com/ferrytool/ferry/internal/rawnc"
	"github.com/ferrytool/ferry/internal/secure"
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
		// Each character that may need an escape on its own, between
		// plain ones; a time of many digits.
		{Name: "a<b", Elapsed: 123456789123 * time.Nanosecond},
		{Name: "a>b"}, {Name: "a&b"}, {Name: "a\"b"}, {Name: "a\\b"}, {Name: "a\tb"},
		{Name: "a\x7fb"}, {Name: "a\u2028b"}, {Name: "a\u00e9b"}, {Name: "a\xffb"},
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

// TestUserMessage checks the advice the command adds to the library's
// messages, which name no command or flag: each hint for the command and
// mode it fits, and none where none fits.
func TestUserMessage(t *testing.T) {
	peer := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7575}
	coded, plain := &common{code: "48210-93755-62184"}, &common{plain: true}
	tests := []struct {
		name string
		cmd  string
		c    *common
		err  error
		want string
	}{
		{"not ferry, to a receiver", "recv", coded, fmt.Errorf("reading hello from %s: %w", peer, framing.ErrNotFerry),
			"reading hello from 127.0.0.1:7575: framing: peer is not speaking the ferry protocol: if it is nc or ferry send --raw, run ferry recv --raw"},
		{"not ferry, to a sender", "send", coded, fmt.Errorf("reading hello from %s: %w", peer, framing.ErrNotFerry),
			"reading hello from 127.0.0.1:7575: framing: peer is not speaking the ferry protocol: if it is nc -l, use ferry send --raw"},
		{"other mode, coded receiver", "recv", coded, fmt.Errorf("the sender at %s uses no code: %w", peer, transfer.ErrOtherMode),
			"the sender at 127.0.0.1:7575 uses no code: the peer runs in the other mode: run ferry send --code CODE, with the code ferry recv printed"},
		{"other mode, plain receiver", "recv", plain, transfer.ErrOtherMode,
			"the peer runs in the other mode: add --plain to ferry send, or restart ferry recv without --plain"},
		{"other mode, coded sender", "send", coded, transfer.ErrOtherMode,
			"the peer runs in the other mode: if you started it so, add --plain to ferry send; if not, someone else answered there"},
		{"other mode, plain sender", "send", plain, transfer.ErrOtherMode,
			"the peer runs in the other mode: run ferry send --code CODE, with the code ferry recv printed"},
		{"wrong code, to the sender", "send", coded, fmt.Errorf("%w (with %s)", transfer.ErrAuth, peer),
			"authentication failed: wrong code (with 127.0.0.1:7575): check it; ferry recv without -k stops after a wrong code, so it must be run again"},
		{"wrong code, as the receiver reported it", "send", coded, &transfer.Error{Remote: true, Code: framing.CodeAuth, Err: errors.New("too many failed attempts with a wrong code; try again in 1m0s")},
			"receiver: too many failed attempts with a wrong code; try again in 1m0s"},
		{"timeout", "recv", coded, fmt.Errorf("%w: nothing from %s for 30s", transfer.ErrTimeout, peer),
			"peer silent too long: nothing from 127.0.0.1:7575 for 30s (--timeout)"},
		{"a file that exists, found by the receiver", "recv", coded, fmt.Errorf("transfer from %s failed: %w", peer, &transfer.Error{Code: framing.CodeExists, Err: errors.New("notes.txt already exists on the receiver")}),
			"transfer from 127.0.0.1:7575 failed: notes.txt already exists on the receiver (ferry recv --overwrite replaces it)"},
		{"a file that exists, as the receiver reported it", "send", coded, &transfer.Error{Remote: true, Code: framing.CodeExists, Err: errors.New("notes.txt already exists on the receiver")},
			"receiver: notes.txt already exists on the receiver (ferry recv --overwrite replaces it)"},
		{"a directory where a file comes, which overwriting does not mend", "send", coded, &transfer.Error{Remote: true, Code: framing.CodeConflict, Err: errors.New("x is a directory on the receiver; a file cannot replace it")},
			"receiver: x is a directory on the receiver; a file cannot replace it"},
		{"a connection lost, sending files", "send", coded, fmt.Errorf("the connection to %s was lost after 1 MB of 2 MB: %w", peer, transfer.ErrConnectionLost),
			"the connection to 127.0.0.1:7575 was lost after 1 MB of 2 MB: " + transfer.ErrConnectionLost.Error() + "; run the same send again to resume"},
		{"a connection lost, sending stdin", "send", &common{code: coded.code, stdin: true}, fmt.Errorf("the connection to %s was lost: %w", peer, transfer.ErrConnectionLost),
			"the connection to 127.0.0.1:7575 was lost: " + transfer.ErrConnectionLost.Error() + "; a stream from stdin cannot resume: send it again whole"},
		{"parallel connections refused", "send", coded, fmt.Errorf("%w 2 of 4 to %s: connection refused", transfer.ErrStreams, peer),
			"cannot open parallel connection 2 of 4 to 127.0.0.1:7575: connection refused; send again without -P, or let more connections through to that port"},
		{"compression the receiver lacks", "send", coded, fmt.Errorf("%w zstd", codec.ErrNotDecodable),
			"the receiver cannot decode zstd; use -z none"},
		{"raw send to a framed receiver", "send", plain, fmt.Errorf("the receiver at %s %w", peer, rawnc.ErrFramedReceiver),
			"the receiver at 127.0.0.1:7575 takes only ferry's own framing, not raw bytes: drop --raw from ferry send, or restart ferry recv with --raw"},
		{"no hint", "send", coded, errors.New("cannot send notes.txt: permission denied"),
			"cannot send notes.txt: permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := &output{cmd: tt.cmd, flags: tt.c}
			if got := out.userMessage(tt.err); got != tt.want {
				t.Errorf("userMessage(%q)\n got %q\nwant %q", tt.err, got, tt.want)
			}
		})
	}
}

// TestMessagesUnprefixed: the errors of ferry's internal packages read as
// what a person sees, without a package prefix such as "secure: ", since
// nothing takes it out of a message on its way to the screen.
func TestMessagesUnprefixed(t *testing.T) {
	for _, err := range []error{
		secure.ErrCodeTooShort, secure.ErrAuth, secure.ErrProtocol, secure.ErrTampered, secure.ErrAfterLast,
		secure.ErrTruncated, secure.ErrSealAfterLast, secure.ErrCounterExhausted,
		codec.ErrUnknownMode, codec.ErrNotDecodable, codec.ErrCorrupt, codec.ErrTrailing,
		transfer.ErrTimeout, transfer.ErrChecksum, transfer.ErrProtocol, transfer.ErrAuth, transfer.ErrStreams,
		rawnc.ErrFramedReceiver, rawnc.ErrFramedSender, rawnc.ErrPaused, rawnc.ErrUnended,
	} {
		for _, pkg := range []string{"secure:", "codec:", "transfer:", "rawnc:", "conn:"} {
			if strings.HasPrefix(err.Error(), pkg) {
				t.Errorf("%q starts with its package's name", err)
			}
		}
	}
}
