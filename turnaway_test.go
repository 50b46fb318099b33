package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/transfer"
)

// TestTurnAways checks that of connections turned away the first is
// reported in full and the rest of its window counted, in one line per
// window, and that a quiet window lets the next one be reported in full
// again. The window is an hour, so its timer never fires here; the test
// ends windows by calling flush, as the timer would.
func TestTurnAways(t *testing.T) {
	for _, tc := range []struct {
		name string
		json bool
		want []string // the lines, in order
	}{
		{"messages", false, []string{
			"ferry: warning: turned 192.0.2.1 away\n",
			"ferry: warning: 3 more connections turned away in the last 1h0m0s (2 busy, 1 not ferry)\n",
			"ferry: warning: 1 more connection turned away in the last 1h0m0s (1 silent)\n",
			"ferry: warning: turned 192.0.2.9 away\n",
			"ferry: warning: 1 more connection turned away in the last 1h0m0s (1 wrong code)\n",
		}},
		{"json", true, []string{
			`{"event":"warning","message":"turned 192.0.2.1 away"}` + "\n",
			`{"connections":3,"event":"turned_away","reasons":"2 busy, 1 not ferry","seconds":3600}` + "\n",
			`{"connections":1,"event":"turned_away","reasons":"1 silent","seconds":3600}` + "\n",
			`{"event":"warning","message":"turned 192.0.2.9 away"}` + "\n",
			`{"connections":1,"event":"turned_away","reasons":"1 wrong code","seconds":3600}` + "\n",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			out := &output{w: &buf, json: tc.json}
			a := newTurnAways(out)
			a.window = time.Hour
			defer a.stop()
			report := func(reason, peer string) {
				a.report(reason, func() { out.warn("turned %s away", peer) })
			}
			report("busy", "192.0.2.1")
			report("busy", "192.0.2.2")
			report("not ferry", "192.0.2.3")
			report("busy", "192.0.2.4")
			a.flush()
			// Still within a window: the last one counted some.
			report("silent", "192.0.2.5")
			a.flush()
			// A window that counted nothing closes it.
			a.flush()
			report("busy", "192.0.2.9")
			report("wrong code", "192.0.2.10")
			a.stop()
			a.stop()
			if got := buf.String(); got != strings.Join(tc.want, "") {
				t.Errorf("output:\n%s\nwant:\n%s", got, strings.Join(tc.want, ""))
			}
		})
	}
}

// TestTurnAwayReason checks what each way a connection ends is reported as.
func TestTurnAwayReason(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		keep bool
		want string
	}{
		{"closed without a byte", fmt.Errorf("127.0.0.1:1 %w", transfer.ErrSilentPeer), true, "silent"},
		{"displaced", fmt.Errorf("the connection from 127.0.0.1:1 %w", transfer.ErrDisplaced), true, "silent"},
		{"not ferry", fmt.Errorf("reading hello: %w", framing.ErrNotFerry), true, "not ferry"},
		{"other mode", fmt.Errorf("--plain: %w", transfer.ErrOtherMode), false, "other mode"},
		{"a sender that aborted its transfer", &transfer.Error{Remote: true, Err: errors.New("interrupted")}, false, ""},
		{"wrong code, -k", transfer.ErrAuth, true, "wrong code"},
		{"wrong code, one-shot", transfer.ErrAuth, false, ""},
		{"a transfer that failed", transfer.ErrChecksum, true, ""},
		{"a transfer that timed out", fmt.Errorf("%w: nothing from 127.0.0.1:1 for 30s", transfer.ErrTimeout), true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := turnAwayReason(tc.err, tc.keep); got != tc.want {
				t.Errorf("turnAwayReason(%v, %v) = %q, want %q", tc.err, tc.keep, got, tc.want)
			}
		})
	}
}
