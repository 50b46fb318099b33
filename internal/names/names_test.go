package names_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/ferrytool/ferry/internal/names"
)

func TestCheckName(t *testing.T) {
	long := strings.Repeat("n", 255)
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"plain", "file.txt", true},
		{"nested", "a/b/c.txt", true},
		{"dot file", ".bashrc", true},
		{"dots inside", "a..b", true},
		{"three dots", "...", true},
		{"spaces", "my file (1).txt", true},
		{"unicode", "docs/résumé 日本.txt", true},
		{"emoji", "😀.png", true},
		{"colon later", "ab:c", true},
		{"element of 255 bytes", long, true},
		{"255-byte elements", long + "/" + long, true},
		// A real U+FFFD is a character like any other; only invalid bytes,
		// which range also reports as U+FFFD, are refused.
		{"U+FFFD", "a\uFFFDb", true},
		{"ferry prefix without suffix", ".ferry-x", true},
		{"part suffix without prefix", "x.part", true},
		// Right-to-left scripts need no controls to show as they are, and
		// joiners, which are not bidirectional controls, build emoji.
		{"hebrew", "שלום.txt", true},
		{"arabic", "مرحبا.txt", true},
		{"zero width joiner", "👩\u200d💻.png", true},
		{"zero width non-joiner", "a\u200cb", true},

		{"empty", "", false},
		{"absolute", "/etc/passwd", false},
		{"root", "/", false},
		{"dot dot", "..", false},
		{"dot dot first", "../x", false},
		{"dot dot inside", "a/../../x", false},
		{"dot dot last", "a/..", false},
		{"dot", ".", false},
		{"dot element", "a/./b", false},
		{"leading dot slash", "./a", false},
		{"empty element", "a//b", false},
		{"trailing slash", "a/", false},
		{"backslash", `a\b`, false},
		{"windows dot dot", `..\x`, false},
		{"drive letter", "C:x", false},
		{"drive root", `C:\x`, false},
		{"drive only", "c:", false},
		{"escape sequence", "a\x1b[31m", false},
		{"newline", "a\nb", false},
		{"carriage return", "a\rb", false},
		{"tab", "a\tb", false},
		{"nul", "a\x00b", false},
		{"delete", "a\x7fb", false},
		{"C1 control", "a\u0085b", false},
		{"CSI C1", "a\u009b31m", false},
		{"line separator", "a\u2028b", false},
		{"paragraph separator", "a\u2029b", false},
		{"right-to-left override", "a\u202etxt.exe", false},
		{"nested right-to-left override", "d/\u202eexe.txt", false},
		{"left-to-right override", "\u202dx", false},
		{"left-to-right embedding", "\u202ax", false},
		{"right-to-left embedding", "\u202bx", false},
		{"pop directional formatting", "x\u202c", false},
		{"left-to-right mark", "a\u200eb", false},
		{"right-to-left mark", "a\u200fb", false},
		{"arabic letter mark", "a\u061cb", false},
		{"left-to-right isolate", "\u2066x", false},
		{"right-to-left isolate", "\u2067x", false},
		{"first strong isolate", "\u2068x", false},
		{"pop directional isolate", "x\u2069", false},
		{"invalid byte", "a\xffb", false},
		{"cut rune", "a\xc3", false},
		{"surrogate", "\xed\xa0\x80", false},
		{"element over 255 bytes", long + "n", false},
		{"nested element over 255 bytes", "a/" + long + "n", false},
		{"temporary file", ".ferry-0123456789ab-x.part", false},
		{"nested temporary file", "d/.ferry-0123456789ab-x.part", false},
		{"partial files' directory", ".ferry-partial", false},
		{"in the partial files' directory", ".ferry-partial/0123456789abcdef0123456789abcdef.part", false},
		{"nested partial files' directory", "d/.ferry-partial", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := names.Check(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckName(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
			// A refusal shows the name to the user; it must come defused.
			if err != nil {
				if msg := err.Error(); !utf8.ValidString(msg) || strings.ContainsAny(msg, "\x1b\n\r\t\x00\x7f\u009b") || strings.IndexFunc(msg, misleading) >= 0 {
					t.Fatalf("CheckName(%q) error %q holds invalid, control, separator or bidirectional control characters", tt.in, msg)
				}
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

// TestNameProblemReasons checks what a sender is told when it skips a
// name, and a receiver when it refuses one: the reason names the kind of
// character.
func TestNameProblemReasons(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"control", "a\x1bb", "control or invalid character"},
		{"invalid", "a\xffb", "control or invalid character"},
		{"line separator", "a\u2028b", "line or paragraph separator"},
		{"paragraph separator", "a\u2029b", "line or paragraph separator"},
		{"right-to-left override", "a\u202etxt.exe", "bidirectional control character"},
		{"isolate", "\u2066x\u2069", "bidirectional control character"},
		{"arabic letter mark", "\u061c", "bidirectional control character"},
		{"plain", "a.txt", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := names.Problem(tt.in); got != tt.want {
				t.Fatalf("NameProblem(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestNamesPrintAsThemselves checks every character at once: a name a
// receiver accepts holds none that Quote escapes, so ls and ferry's own
// messages show it as it is, and every character Quote escapes is refused
// in a name. The backslash is the one character refused for another
// reason, and left as it is.
func TestNamesPrintAsThemselves(t *testing.T) {
	t.Parallel()
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xd800 && r <= 0xdfff || r == '\\' || r == '/' {
			// Surrogates are no characters (TestCheckName covers their
			// bytes); a slash separates elements.
			continue
		}
		// Inside a name, where a colon is no drive letter.
		name := "ab" + string(r) + "c"
		refused := names.Problem(name) != ""
		escaped := names.Quote(name) != name
		if refused != escaped || escaped != misleading(r) {
			t.Errorf("U+%04X: refused in a name %v, escaped by Quote %v; want both %v", r, refused, escaped, misleading(r))
		}
	}
}

func TestQuote(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", ""},
		{"plain", "file.txt", "file.txt"},
		{"path", "a/b c.txt", "a/b c.txt"},
		{"unicode", "résumé 日本 😀", "résumé 日本 😀"},
		// U+FFFD is printable and must survive as itself, not as the
		// bytes of an invalid sequence.
		{"U+FFFD", "a\uFFFDb", "a\uFFFDb"},
		{"U+FFFD only", "\uFFFD", "\uFFFD"},
		{"U+FFFD then invalid", "\uFFFD\xff", "\uFFFD\\xff"},
		{"invalid then U+FFFD", "\xff\uFFFD", "\\xff\uFFFD"},
		{"escape sequence", "a\x1b[31mred", `a\u001b[31mred`},
		{"title escape", "\x1b]0;pwned\x07", `\u001b]0;pwned\u0007`},
		{"newline", "a\nb", `a\u000ab`},
		{"carriage return", "a\rb", `a\u000db`},
		{"tab", "a\tb", `a\u0009b`},
		{"nul", "\x00", `\u0000`},
		{"delete", "\x7f", `\u007f`},
		{"C1 CSI", "\u009b2J", `\u009b2J`},
		{"next line", "\u0085", `\u0085`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"paragraph separator", "a\u2029b", `a\u2029b`},
		// Bidi controls make a name read differently from what it is
		// ("txt.exe" shown as "exe.txt").
		{"right-to-left override", "a\u202etxt.exe", `a\u202etxt.exe`},
		{"right-to-left mark", "\u200f", `\u200f`},
		{"isolate", "\u2066x\u2069", `\u2066x\u2069`},
		{"arabic letter mark", "\u061c", `\u061c`},
		{"left-to-right mark", "\u200e", `\u200e`},
		{"embeddings", "\u202a\u202b\u202c\u202d", `\u202a\u202b\u202c\u202d`},
		{"isolates", "\u2067\u2068", `\u2067\u2068`},
		{"zero width joiner kept", "👩\u200d💻", "👩\u200d💻"},
		{"invalid byte", "a\xffb", `a\xffb`},
		{"cut rune", "a\xc3", `a\xc3`},
		{"cut 3-byte rune", "\xe2\x82", `\xe2\x82`},
		{"surrogate", "\xed\xa0\x80", `\xed\xa0\x80`},
		{"overlong slash", "\xc0\xaf", `\xc0\xaf`},
		{"backslash kept", `a\b`, `a\b`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := names.Quote(tt.in)
			if got != tt.want {
				t.Fatalf("Quote(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Fatalf("Quote(%q) = %q is not valid UTF-8", tt.in, got)
			}
		})
	}
}
