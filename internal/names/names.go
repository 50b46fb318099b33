// Package names holds ferry's rules for entry names: which names a
// receiver accepts under its directory, how a name from the network is
// printed so that it cannot drive a terminal, and the tree order in which
// the protocol sends entries.
package names

import (
	"cmp"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Check reports whether name is acceptable as a relative path under the
// receiving directory: slash-separated, no empty, "." or ".." elements,
// no backslashes, drive letters, invalid UTF-8 or characters that Quote
// escapes, and each element at most 255 bytes.
func Check(name string) error {
	if why := Problem(name); why != "" {
		return fmt.Errorf("refusing file name %s: %s", Quote(name), why)
	}
	return nil
}

// Problem says what makes the entry name unacceptable to a receiver
// ("absolute path", "control or invalid character", "bidirectional
// control character"), or "" if nothing does.
func Problem(name string) string {
	if name == "" {
		return "empty"
	}
	if strings.HasPrefix(name, "/") {
		return "absolute path"
	}
	if len(name) >= 2 && name[1] == ':' {
		return "drive letter"
	}
	for i, r := range name {
		if r < utf8.RuneSelf {
			// ASCII, most names' every character: misleads' tables
			// are for the rest.
			switch {
			case r == '\\':
				return "backslash"
			case r < 0x20 || r == 0x7f:
				return "control or invalid character"
			}
			continue
		}
		if r == utf8.RuneError && !strings.HasPrefix(name[i:], "\uFFFD") {
			return "control or invalid character"
		}
		if why := misleads(r); why != "" {
			return why
		}
	}
	for elem := range strings.SplitSeq(name, "/") {
		switch {
		case elem == "", elem == ".":
			return "empty or '.' element"
		case elem == "..":
			return "'..' element"
		case len(elem) > 255:
			return "element longer than 255 bytes"
		case strings.HasPrefix(elem, ".ferry-") && strings.HasSuffix(elem, ".part"):
			return "reserved for ferry's temporary files"
		case elem == ".ferry-partial":
			return "reserved for ferry's partial files"
		}
	}
	return ""
}

// misleads says what r is if, printed, it would make a terminal show
// something other than the text around it as it is, and "" if not: a
// control character, which can drive the terminal; a line or paragraph
// separator (U+2028, U+2029), which breaks the line as a newline does; or
// a bidirectional control (U+061C, U+200E, U+200F, U+202A to U+202E,
// U+2066 to U+2069), which makes the text read in another order, as
// "a\u202etxt.exe" shows as "aexe.txt". Names refuse them, so that ls
// shows what arrived, and Quote escapes them.
func misleads(r rune) string {
	switch {
	case unicode.IsControl(r):
		return "control or invalid character"
	case r == '\u2028', r == '\u2029':
		return "line or paragraph separator"
	case unicode.Is(unicode.Bidi_Control, r):
		return "bidirectional control character"
	}
	return ""
}

// Quote returns name with invalid UTF-8 and the characters that misleads
// names escaped, so printing a name from the network cannot drive the
// terminal or disguise the name.
func Quote(name string) string {
	var b strings.Builder
	for i, r := range name {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(name[i:], "\uFFFD"):
			fmt.Fprintf(&b, `\x%02x`, name[i])
		case misleads(r) != "":
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Compare orders entry names as the protocol requires them to arrive:
// element by element, elements compared as bytes, a name before the names
// below it. A depth-first walk that lists each directory's names sorted,
// a directory before what is in it, yields this order; in it everything
// below a directory comes right after it, before its next sibling, so a
// receiver need only remember the directories on the current path, and a
// name sent twice arrives right after itself. It is the byte order of the
// names with "/" taken as lower than any other byte.
func Compare(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		x, y := a[i], b[i]
		switch {
		case x == y:
			continue
		case x == '/':
			return -1
		case y == '/':
			return 1
		}
		return cmp.Compare(x, y)
	}
	return cmp.Compare(len(a), len(b))
}
