package secure

import (
	"crypto/rand"
	"strings"
	"unicode"
	"unicode/utf8"
)

// codeAlphabet is Crockford's base32: digits and capitals without I, L, O
// and U, so that a code read aloud or copied by hand survives.
const codeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// MinCodeLen is the fewest characters, once normalized, that CheckCode
// accepts: 6 base32 characters are 30 bits, still far beyond what one guess
// per connection can hope to hit.
const MinCodeLen = 6

// NewCode returns a fresh random code: 9 characters of Crockford's base32 in
// groups of three, like "K7Q-M2X-RD9", 45 bits from crypto/rand.
func NewCode() string {
	var b [9]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails since Go 1.24
	var s strings.Builder
	for i, c := range b {
		if i > 0 && i%3 == 0 {
			s.WriteByte('-')
		}
		// 256 is a multiple of 32, so the low five bits are uniform.
		s.WriteByte(codeAlphabet[c&31])
	}
	return s.String()
}

// NormalizeCode returns the form of a code that both sides feed to the
// handshake: upper case, without dashes and white space, with O read as 0
// and I and L as 1, as Crockford's base32 decodes them. A code typed in lower
// case, regrouped or with a letter mistaken for a digit still matches. Other
// characters are kept, so a passphrase agreed on by the users works too.
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
