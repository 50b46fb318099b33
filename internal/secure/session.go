package secure

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/sys/cpu"

	"github.com/ferrytool/ferry/framing"
)

// Overhead is how many bytes sealing adds to a payload: the AEAD tag. A
// sealed data frame still fits framing.MaxPayload, which has room for it.
const Overhead = 16

const (
	// counterLen is the frame counter's share of the nonce; the last byte
	// is the last-frame flag.
	counterLen = 11
	nonceLen   = counterLen + 1
)

// hardwareAES says whether this machine has AES and carry-less multiply
// instructions. With them Go's AES-GCM is fast and constant time; without
// them it falls back to slower software, and ChaCha20-Poly1305 wins.
var hardwareAES = cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ || cpu.ARM64.HasAES && cpu.ARM64.HasPMULL

// Cipher names the AEAD that seals a Session's frames.
type Cipher uint8

// Ciphers.
const (
	// ChaCha20Poly1305 is used unless both machines have AES instructions.
	ChaCha20Poly1305 Cipher = iota + 1
	// AES256GCM is used when both machines have AES instructions.
	AES256GCM
)

// String names the cipher for messages and --json output.
func (c Cipher) String() string {
	switch c {
	case ChaCha20Poly1305:
		return "ChaCha20-Poly1305"
	case AES256GCM:
		return "AES-256-GCM"
	}
	return fmt.Sprintf("cipher(%d)", uint8(c))
}

// stream is one direction's sealing state.
type stream struct {
	aead cipher.AEAD
	// nonce holds the next frame's counter, big-endian, in its first
	// counterLen bytes, and zero in the flag byte between calls.
	nonce [nonceLen]byte
	ad    [1]byte // the frame type, kept here so passing it allocates nothing
	spent bool    // the counter wrapped: no frame may follow
	last  bool    // the direction's last frame went through
}

// advance moves the counter to the next frame, marking the stream spent
// when it wraps, since reusing a nonce would break the AEAD.
func (st *stream) advance() {
	for i := counterLen - 1; i >= 0; i-- {
		st.nonce[i]++
		if st.nonce[i] != 0 {
			return
		}
	}
	st.spent = true
}

// Session seals the frames one side sends and opens those it receives, after
// a successful Handshake. Seal touches only the sending direction's state
// and Open, Closed and AtEOF only the receiving one's, so one goroutine may
// seal while another opens; each direction itself is for one goroutine.
type Session struct {
	cipher Cipher
	out    stream // sealing: this side's frames
	in     stream // opening: the peer's frames
	inErr  error  // Open's first failure, returned by every later call
	inBuf  []byte // where Open decrypts, reused
}

// newSession returns a Session that seals with sealKey and opens with
// openKey, both 32 bytes.
func newSession(c Cipher, sealKey, openKey []byte) (*Session, error) {
	s := &Session{cipher: c}
	var err error
	if s.out.aead, err = newAEAD(c, sealKey); err != nil {
		return nil, err
	}
	if s.in.aead, err = newAEAD(c, openKey); err != nil {
		return nil, err
	}
	return s, nil
}

// LocalAEAD returns the AEAD that a handshake between two machines like
// this one picks, under key (32 bytes), and its name: a yardstick of what
// sealing costs here, with no handshake (bench/netfloor).
func LocalAEAD(key []byte) (cipher.AEAD, Cipher, error) {
	var own byte
	if hardwareAES {
		own = flagHardwareAES
	}
	c := chooseCipher(own, own)
	a, err := newAEAD(c, key)
	return a, c, err
}

func newAEAD(c Cipher, key []byte) (cipher.AEAD, error) {
	if c == AES256GCM {
		b, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("%w", err)
		}
		return cipher.NewGCM(b)
	}
	return chacha20poly1305.New(key)
}

// Cipher reports which AEAD the handshake chose.
func (s *Session) Cipher() Cipher { return s.cipher }

// Seal seals payload as the next frame of type t this side sends and returns
// the sealed payload, Overhead bytes longer. last marks the final frame of
// this direction (the peer checks at end of stream that it came); after it
// Seal returns ErrSealAfterLast. Frames must be sealed in the order they are
// written, since the order is what the counter authenticates.
//
// Seal works in place: it encrypts payload where it lies and appends the tag
// in its spare capacity, so a caller that leaves cap(payload) >=
// len(payload)+Overhead gets back a slice of the same array, and nothing is
// copied or allocated. With less capacity Seal allocates a new slice and
// leaves payload as it was. Either way payload must not be used afterwards.
func (s *Session) Seal(t framing.Type, payload []byte, last bool) ([]byte, error) {
	st := &s.out
	switch {
	case st.last:
		return nil, ErrSealAfterLast
	case st.spent:
		return nil, ErrCounterExhausted
	}
	st.ad[0] = byte(t)
	if last {
		st.nonce[counterLen] = 1
	}
	sealed := st.aead.Seal(payload[:0], st.nonce[:], payload, st.ad[:])
	st.nonce[counterLen] = 0
	st.last = last
	st.advance()
	return sealed, nil
}

// Open opens sealed, the payload of the next frame from the peer, whose
// header said type t, and returns the plaintext and whether the peer sealed
// it as its last frame. A frame that does not open under the expected
// counter, with or without the last flag, is ErrTampered; any frame after the
// last one is ErrAfterLast. After an error every later call fails too: the
// caller must drop the connection.
//
// Open decrypts into a buffer the Session keeps (grown to the largest frame
// seen, then reused) rather than in place, because it may need two tries:
// Go's AEADs wipe their output when a tag does not match, which in place
// would destroy the frame before the second try under the last flag. If the
// frame is the last one the plaintext is decrypted in place within sealed.
// Either way the plaintext is valid until the next call to Open and while
// sealed is not reused. A frame that fails to open may be left overwritten.
func (s *Session) Open(t framing.Type, sealed []byte) (plain []byte, last bool, err error) {
	st := &s.in
	switch {
	case s.inErr != nil:
		return nil, false, s.inErr
	case st.last:
		return nil, false, ErrAfterLast
	case st.spent:
		return nil, false, ErrCounterExhausted
	case len(sealed) < Overhead:
		s.inErr = ErrTampered
		return nil, false, s.inErr
	}
	st.ad[0] = byte(t)
	if n := len(sealed) - Overhead; cap(s.inBuf) < n {
		// Grow geometrically, as framing.Reader does, so a connection
		// allocates a handful of times at most.
		s.inBuf = make([]byte, 0, max(n, min(2*cap(s.inBuf), framing.MaxPayload)))
	}
	if plain, err := st.aead.Open(s.inBuf[:0], st.nonce[:], sealed, st.ad[:]); err == nil {
		st.advance()
		return plain, false, nil
	}
	st.nonce[counterLen] = 1
	plain, err = st.aead.Open(sealed[:0], st.nonce[:], sealed, st.ad[:])
	st.nonce[counterLen] = 0
	if err != nil {
		s.inErr = ErrTampered
		return nil, false, s.inErr
	}
	st.last = true
	return plain, true, nil
}

// Closed reports whether the peer's last frame has been opened.
func (s *Session) Closed() bool { return s.in.last }

// AtEOF is for the reader that reached the end of the peer's stream: it
// returns nil if the peer's last frame was opened, and ErrTruncated if the
// stream was cut before it.
func (s *Session) AtEOF() error {
	if s.in.last {
		return nil
	}
	return ErrTruncated
}
