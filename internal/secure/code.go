package secure

import (
	"crypto/rand"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"
)

// codeDigits is how many decimal digits NewCode draws: 15 digits are
// log2(10^15) = 49.8 bits, and in three groups of five they are read aloud
// and typed as easily as a phone number.
const codeDigits = 15

// MinCodeLen is the fewest characters, once normalized, that CheckCode
// accepts: 6 digits are a million codes, beyond a receiver that exits
// after one wrong guess, but not beyond a patient guesser of one kept
// running (see CodeSpace).
const MinCodeLen = 6

// CodeSpace is how many codes there are of the kind of s, once normalized:
// 10 to the length for digits alone, else 33 (letters and digits, less O,
// I and L, which read as digits) to the length. It is what a guesser who
// knows the kind must search, half of it on average.
func CodeSpace(s string) float64 {
	n := NormalizeCode(s)
	alphabet := 10.0
	if strings.Trim(n, "0123456789") != "" {
		alphabet = 33
	}
	return math.Pow(alphabet, float64(utf8.RuneCountInString(n)))
}

// NewCode returns a fresh random code: 15 decimal digits in groups of five,
// like "48210-93755-62184", 49.8 bits from crypto/rand.
func NewCode() string {
	var s strings.Builder
	var b [1]byte
	for i := 0; i < codeDigits; {
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails since Go 1.24
		// 250 is the largest multiple of 10 a byte holds: bytes above it
		// are drawn again, so every digit is equally likely.
		if b[0] >= 250 {
			continue
		}
		if i > 0 && i%5 == 0 {
			s.WriteByte('-')
		}
		s.WriteByte('0' + b[0]%10)
		i++
	}
	return s.String()
}

// NormalizeCode returns the form of a code that both sides feed to the
// handshake: upper case, without dashes and white space, with O read as 0
// and I and L as 1, the letters a digit copied by hand is mistaken for. A
// code regrouped or with such a letter still matches. Other characters are
// kept, so a passphrase agreed on by the users works too.
func NormalizeCode(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || unicode.IsSpace(r):
		case r == 'O':
			b.WriteByte('0')
		case r == 'I' || r == 'L':
			b.WriteByte('1')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// CheckCode returns ErrCodeTooShort if s, normalized, has fewer than
// MinCodeLen characters, and nil otherwise. Check a code the user typed
// before connecting; Handshake checks again.
func CheckCode(s string) error {
	if utf8.RuneCountInString(NormalizeCode(s)) < MinCodeLen {
		return ErrCodeTooShort
	}
	return nil
}
