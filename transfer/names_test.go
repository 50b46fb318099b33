package transfer_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/names"
	"github.com/ferrytool/ferry/transfer"
)

// misleadingNames hold a character that makes ls show something other
// than the name: a bidirectional control reorders it ("a\u202etxt.exe"
// shows as "aexe.txt"), a separator breaks the line.
var misleadingNames = []struct {
	name, in, why string
}{
	{"right-to-left override", "a\u202etxt.exe", "bidirectional control character"},
	{"right-to-left isolate", "\u2067exe.txt", "bidirectional control character"},
	{"line separator", "a\u2028b", "line or paragraph separator"},
	{"paragraph separator", "a\u2029b", "line or paragraph separator"},
}

// TestMisleadingNameReceived has a hostile sender, which writes its own
// frames, send each misleading name: the receiver refuses it with the
// bad-name code, writes nothing, and names it escaped, on both sides.
func TestMisleadingNameReceived(t *testing.T) {
	for _, tt := range misleadingNames {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stream := cat(helloFrame(framing.RoleSender, framing.Version), offerFrame(1, 3), fileFrame(0, tt.in, 3), rawData(0, "abc"))
			frames, dir, err := rawSend(t, stream)
			want := "refusing file name " + names.Quote(tt.in) + ": " + tt.why
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Receive = %v, want it to say %q", err, want)
			}
			onlyEntry(t, dir)
			if len(frames) == 0 || frames[len(frames)-1].t != framing.TypeError {
				t.Fatalf("receiver's frames %v, want an error frame last", frames)
			}
			m, perr := framing.ParseError(frames[len(frames)-1].p)
			if perr != nil {
				t.Fatalf("receiver's error frame: %v", perr)
			}
			if m.Code != framing.CodeBadName || !strings.Contains(m.Message, want) || strings.IndexFunc(m.Message, misleading) >= 0 {
				t.Errorf("error frame code %d, %q; want code %d saying %q, escaped", m.Code, m.Message, framing.CodeBadName, want)
			}
		})
	}
}

// TestMisleadingNameSkipped has ferry send walk a directory holding each
// misleading name: it skips the entry, saying why, and sends the rest.
func TestMisleadingNameSkipped(t *testing.T) {
	for _, tt := range misleadingNames {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := filepath.Join(t.TempDir(), "d")
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{tt.in, "ok.txt"} {
				if err := os.WriteFile(filepath.Join(root, name), []byte("x"), 0o644); err != nil {
					t.Skipf("this file system takes no such name: %v", err)
				}
			}
			var skips []string
			srcs, err := transfer.Collect(t.Context(), []string{root}, func(p, why string) { skips = append(skips, p+": "+why) })
			if err != nil {
				t.Fatalf("Collect: %v", err)
			}
			var names []string
			for _, s := range srcs {
				names = append(names, s.Name)
			}
			if want := []string{"d", "d/ok.txt"}; !slices.Equal(names, want) {
				t.Errorf("Collect = %q, want %q", names, want)
			}
			want := filepath.Join(root, tt.in) + ": the receiver would refuse its name: " + tt.why
			if !slices.Equal(skips, []string{want}) {
				t.Errorf("Collect skipped %q, want %q", skips, want)
			}
		})
	}
}

// misleading reports a character that prints as something other than
// itself: a control, a line or paragraph separator, or a bidirectional
// control.
func misleading(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r)
}
