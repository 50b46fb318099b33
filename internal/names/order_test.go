package names_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/ferrytool/ferry/internal/names"
)

// TestCompare checks Compare against the order as the protocol
// states it, names split on "/" and compared element by element, for
// every name of up to four bytes from bytes on either side of "/" (which
// a byte comparison of whole names gets wrong), and a few by hand.
func TestCompare(t *testing.T) {
	byElements := func(a, b string) int {
		return slices.Compare(strings.Split(a, "/"), strings.Split(b, "/"))
	}
	all := []string{""}
	for range 4 {
		for _, n := range all {
			for _, c := range []string{"-", "/", "0", "a"} {
				if !slices.Contains(all, n+c) {
					all = append(all, n+c)
				}
			}
		}
	}
	for _, a := range all {
		for _, b := range all {
			if got, want := names.Compare(a, b), byElements(a, b); got != want {
				t.Fatalf("Compare(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
	for _, tt := range []struct{ a, b string }{
		{"a", "a/b"},
		{"a/b", "a-b"},
		{"a/z/z", "a.txt"},
		{"A", "a"},
		{"d/f1", "d/f2"},
		{"d/f1/x", "d/f2"},
	} {
		if names.Compare(tt.a, tt.b) >= 0 || names.Compare(tt.b, tt.a) <= 0 {
			t.Errorf("Compare does not put %q before %q", tt.a, tt.b)
		}
	}
}
