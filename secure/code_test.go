package secure

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestNewCodeFormat(t *testing.T) {
	format := regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{3}-[0-9A-HJKMNP-TV-Z]{3}-[0-9A-HJKMNP-TV-Z]{3}$`)
	for range 1000 {
		c := NewCode()
		if !format.MatchString(c) {
			t.Fatalf("NewCode() = %q, not three groups of three Crockford base32 characters", c)
		}
		if n := NormalizeCode(c); n != strings.ReplaceAll(c, "-", "") {
			t.Fatalf("NormalizeCode(%q) = %q: a fresh code must already be normal but for its dashes", c, n)
		}
		if err := CheckCode(c); err != nil {
			t.Fatalf("CheckCode(%q) = %v", c, err)
		}
	}
}

// TestNewCodeEntropy checks that codes do not repeat and that every symbol
// shows up at every position about equally often, as 45 uniform bits would.
func TestNewCodeEntropy(t *testing.T) {
	const n = 32 * 400
	seen := make(map[string]bool, n)
	var counts [9][32]int
	for range n {
		c := NormalizeCode(NewCode())
		if seen[c] {
			t.Fatalf("code %s drawn twice in %d", c, n)
		}
		seen[c] = true
		for pos := range len(c) {
			counts[pos][strings.IndexByte(codeAlphabet, c[pos])]++
		}
	}
	// Each count is binomial with mean 400 and standard deviation about 20;
	// ±120 is six deviations, so a correct generator all but never fails.
	for pos, row := range counts {
		for sym, k := range row {
			if k < 280 || k > 520 {
				t.Errorf("position %d: symbol %c drawn %d times in %d, want about 400", pos, codeAlphabet[sym], k, n)
			}
		}
	}
}

func TestNormalizeCode(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"K7Q-M2X-RD9", "K7QM2XRD9"},
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
		{"K7Q-M2X-RD9", true},
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
