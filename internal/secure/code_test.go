package secure

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestNewCodeFormat(t *testing.T) {
	format := regexp.MustCompile(`^[0-9]{5}-[0-9]{5}-[0-9]{5}$`)
	for range 1000 {
		c := NewCode()
		if !format.MatchString(c) {
			t.Fatalf("NewCode() = %q, not three groups of five digits", c)
		}
		if n := NormalizeCode(c); n != strings.ReplaceAll(c, "-", "") {
			t.Fatalf("NormalizeCode(%q) = %q: a fresh code must already be normal but for its dashes", c, n)
		}
		if err := CheckCode(c); err != nil {
			t.Fatalf("CheckCode(%q) = %v", c, err)
		}
	}
}

// TestNewCodeEntropy checks that codes do not repeat and that every digit
// shows up at every position about equally often, as uniform digits would.
func TestNewCodeEntropy(t *testing.T) {
	const n = 10 * 400
	seen := make(map[string]bool, n)
	var counts [codeDigits][10]int
	for range n {
		c := NormalizeCode(NewCode())
		if seen[c] {
			t.Fatalf("code %s drawn twice in %d", c, n)
		}
		seen[c] = true
		for pos := range len(c) {
			counts[pos][c[pos]-'0']++
		}
	}
	// Each count is binomial with mean 400 and standard deviation 19;
	// ±120 is over six deviations, so a correct generator all but never
	// fails.
	for pos, row := range counts {
		for digit, k := range row {
			if k < 280 || k > 520 {
				t.Errorf("position %d: digit %d drawn %d times in %d, want about 400", pos, digit, k, n)
			}
		}
	}
}

func TestNormalizeCode(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"48210-93755-62184", "482109375562184"},
		{"48210 93755 62184", "482109375562184"},
		{"482-109-375-562-184", "482109375562184"},
		{"482I0-9375S-62l84", "482109375S62184"},
		{"k7q-m2x-rd9", "K7QM2XRD9"},
		{" k7q m2x\trd9\n", "K7QM2XRD9"},
		{"K7QM2XRD9", "K7QM2XRD9"},
		{"--K7-QM2-XRD-9--", "K7QM2XRD9"},
		{"OoIiLl", "001111"},
		{"0O1IL", "00111"},
		{"U", "U"}, // not in the alphabet, but kept: a passphrase may hold it
		{"correct horse", "C0RRECTH0RSE"},
		{"", ""},
		{" - ", ""},
	} {
		if got := NormalizeCode(c.in); got != c.want {
			t.Errorf("NormalizeCode(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestCheckCode(t *testing.T) {
	for _, c := range []struct {
		code string
		ok   bool
	}{
		{"48210-93755-62184", true},
		{"123456", true},
		{"12345", false},
		{"ABCDEF", true},
		{"abc-def", true},
		{"ABC-DE", false},
		{"ABCDE", false},
		{"AB CD E", false},
		{"------", false},
		{"", false},
		{"äöüßéè", true}, // six characters, though more bytes
		{"äöüßé", false},
	} {
		err := CheckCode(c.code)
		if c.ok && err != nil {
			t.Errorf("CheckCode(%q) = %v, want nil", c.code, err)
		}
		if !c.ok && !errors.Is(err, ErrCodeTooShort) {
			t.Errorf("CheckCode(%q) = %v, want ErrCodeTooShort", c.code, err)
		}
	}
	if got := ErrCodeTooShort.Error(); !strings.Contains(got, "code too short: at least 6 characters") {
		t.Errorf("ErrCodeTooShort says %q", got)
	}
}

// TestCodeSpace checks how many codes a guesser must search for a code of
// each kind.
func TestCodeSpace(t *testing.T) {
	for _, tc := range []struct {
		code string
		want float64
	}{
		{"123456", 1e6},
		{"48210-93755-62184", 1e15},
		{"1234 5678", 1e8},
		{"OIL000", 1e6}, // O, I and L read as digits
		{"abc123", 33 * 33 * 33 * 33 * 33 * 33},
		{"ABC-123", 33 * 33 * 33 * 33 * 33 * 33},
	} {
		if got := CodeSpace(tc.code); got != tc.want {
			t.Errorf("CodeSpace(%q) = %g, want %g", tc.code, got, tc.want)
		}
	}
}
