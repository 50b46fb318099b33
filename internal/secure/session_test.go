package secure

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ferrytool/ferry/framing"
)

var ciphers = []Cipher{AES256GCM, ChaCha20Poly1305}

// sessionPair returns the sender's and the receiver's Session of one
// connection, keyed directly rather than by a handshake.
func sessionPair(t testing.TB, c Cipher) (sender, receiver *Session) {
	t.Helper()
	sr := bytes.Repeat([]byte{1}, 32)
	rs := bytes.Repeat([]byte{2}, 32)
	sender, err := newSession(c, sr, rs)
	if err != nil {
		t.Fatal(err)
	}
	receiver, err = newSession(c, rs, sr)
	if err != nil {
		t.Fatal(err)
	}
	return sender, receiver
}

// sealed is one frame as it travels: its type and sealed payload.
type sealedFrame struct {
	t framing.Type
	p []byte
}

// sealAll seals the given payloads as data frames, the last one as last.
func sealAll(t *testing.T, s *Session, payloads ...string) []sealedFrame {
	t.Helper()
	var out []sealedFrame
	for i, p := range payloads {
		b, err := s.Seal(framing.TypeData, []byte(p), i == len(payloads)-1)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sealedFrame{framing.TypeData, b})
	}
	return out
}

func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x04
	return b
}

func TestOpenDetectsTampering(t *testing.T) {
	for _, c := range ciphers {
		t.Run(c.String(), func(t *testing.T) {
			// Each case gets a fresh receiving Session r and the frames
			// f[0], f[1], f[2] (the last) its peer sealed, and lists what
			// reaches r.
			for _, tc := range []struct {
				name    string
				deliver func(t *testing.T, r *Session, f []sealedFrame) []sealedFrame
				want    error // from the first Open that fails
				opened  int   // frames that open before it
			}{
				{"all in order", func(t *testing.T, r *Session, f []sealedFrame) []sealedFrame { return f }, nil, 3},
				{"flipped payload bit", func(t *testing.T, r *Session, f []sealedFrame) []sealedFrame {
					return []sealedFrame{f[0], {f[1].t, flip(f[1].p, 2)}, f[2]}
				}, ErrTampered, 1},
				{"flipped tag bit", func(t *testing.T, r *Session, f []sealedFrame) []sealedFrame {
					return []sealedFrame{{f[0].t, flip(f[0].p, len(f[0].p)-1)}}
				}, ErrTampered, 0},
				{"flipped bit in the last frame", func(t *testing.T, r *Session, f []sealedFrame) []sealedFrame {
					return []sealedFrame{f[0], f[1], {f[2].t, flip(f[2].p, 0)}}
				}, ErrTampered, 2},
				{"wrong type byte", func(t *testing.T, r *Session, f []sealedFrame) []sealedFrame {
					return []sealedFrame{f[0], {framing.TypeOffer, f[1].p}}
				}, ErrTampered, 1},
				{"replayed frame", func(t *testing.T, r *Session, f []sealedFrame) []sealedFrame {
					return []sealedFrame{f[0], f[0]}
				}, ErrTampered, 1},
				{"reordered frames", func(t *testing.T, r *Session, f []sealedFrame) []sealedFrame {
					return []sealedFrame{f[1], f[0], f[2]}
				}, ErrTampered, 0},
				{"dropped frame", func(t *testing.T, r *Session, f []sealedFrame) []sealedFrame {
					return []sealedFrame{f[0], f[2]}
				}, ErrTampered, 1},
				{"frame after the last", func(t *testing.T, r *Session, f []sealedFrame) []sealedFrame {
					return []sealedFrame{f[0], f[1], f[2], f[1]}
				}, ErrAfterLast, 3},
				{"the last frame again", func(t *testing.T, r *Session, f []sealedFrame) []sealedFrame {
					return []sealedFrame{f[0], f[1], f[2], f[2]}
				}, ErrAfterLast, 3},
				{"sealed with the other direction's key", func(t *testing.T, r *Session, f []sealedFrame) []sealedFrame {
					back, err := r.Seal(framing.TypeData, []byte("a"), false)
					if err != nil {
						t.Fatal(err)
					}
					return []sealedFrame{{framing.TypeData, back}}
				}, ErrTampered, 0},
				{"shorter than a tag", func(t *testing.T, r *Session, f []sealedFrame) []sealedFrame {
					return []sealedFrame{{f[0].t, f[0].p[:Overhead-1]}}
				}, ErrTampered, 0},
				{"empty", func(t *testing.T, r *Session, f []sealedFrame) []sealedFrame {
					return []sealedFrame{{f[0].t, nil}}
				}, ErrTampered, 0},
				{"tag cut off", func(t *testing.T, r *Session, f []sealedFrame) []sealedFrame {
					return []sealedFrame{{f[0].t, f[0].p[:len(f[0].p)-1]}}
				}, ErrTampered, 0},
				{"valid frame after a tampered one", func(t *testing.T, r *Session, f []sealedFrame) []sealedFrame {
					return []sealedFrame{{f[0].t, flip(f[0].p, 0)}, f[0], f[1]}
				}, ErrTampered, 0},
			} {
				t.Run(tc.name, func(t *testing.T) {
					s, r := sessionPair(t, c)
					payloads := []string{"first", "second, longer than the first", "last"}
					frames := tc.deliver(t, r, sealAll(t, s, payloads...))
					opened := 0
					var err error
					for _, f := range frames {
						var plain []byte
						var last bool
						plain, last, err = r.Open(f.t, f.p)
						if err != nil {
							break
						}
						if string(plain) != payloads[opened] || last != (opened == 2) {
							t.Fatalf("frame %d opened as %q, last %v", opened, plain, last)
						}
						opened++
					}
					if !errors.Is(err, tc.want) || opened != tc.opened {
						t.Fatalf("opened %d frames, then %v; want %d, then %v", opened, err, tc.opened, tc.want)
					}
					if err != nil {
						// Failures are final: nothing opens afterwards.
						if _, _, again := r.Open(frames[0].t, frames[0].p); again == nil {
							t.Fatal("a frame opened after a failure")
						}
					}
				})
			}
		})
	}
}

func TestTruncation(t *testing.T) {
	for _, c := range ciphers {
		s, r := sessionPair(t, c)
		f := sealAll(t, s, "one", "two", "three")
		for i, fr := range f[:2] {
			if _, _, err := r.Open(fr.t, fr.p); err != nil {
				t.Fatalf("%v: frame %d: %v", c, i, err)
			}
		}
		// The stream ends here: the last frame never came.
		if r.Closed() {
			t.Errorf("%v: Closed before the last frame", c)
		}
		if err := r.AtEOF(); !errors.Is(err, ErrTruncated) {
			t.Errorf("%v: AtEOF = %v, want ErrTruncated", c, err)
		}
		if _, last, err := r.Open(f[2].t, f[2].p); err != nil || !last {
			t.Fatalf("%v: last frame: %v, last %v", c, err, last)
		}
		if !r.Closed() || r.AtEOF() != nil {
			t.Errorf("%v: Closed %v, AtEOF %v after the last frame", c, r.Closed(), r.AtEOF())
		}
		// A stream with no frame at all is truncated too.
		if _, fresh := sessionPair(t, c); !errors.Is(fresh.AtEOF(), ErrTruncated) {
			t.Errorf("%v: AtEOF before any frame = %v", c, fresh.AtEOF())
		}
	}
}

func TestSealAfterLast(t *testing.T) {
	s, _ := sessionPair(t, ChaCha20Poly1305)
	if _, err := s.Seal(framing.TypeDone, []byte("done"), true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seal(framing.TypeData, []byte("more"), false); !errors.Is(err, ErrSealAfterLast) {
		t.Errorf("Seal after last: %v", err)
	}
}

func TestCounterExhausted(t *testing.T) {
	for _, c := range ciphers {
		s, r := sessionPair(t, c)
		// Jump both ends to the last counter value.
		for i := range counterLen {
			s.out.nonce[i] = 0xff
			r.in.nonce[i] = 0xff
		}
		f, err := s.Seal(framing.TypeData, []byte("final counter"), false)
		if err != nil {
			t.Fatalf("%v: sealing under the last counter: %v", c, err)
		}
		if _, err := s.Seal(framing.TypeData, []byte("one too many"), false); !errors.Is(err, ErrCounterExhausted) {
			t.Errorf("%v: Seal after the counter wrapped: %v", c, err)
		}
		if _, _, err := r.Open(framing.TypeData, f); err != nil {
			t.Fatalf("%v: opening under the last counter: %v", c, err)
		}
		if _, _, err := r.Open(framing.TypeData, f); !errors.Is(err, ErrCounterExhausted) {
			t.Errorf("%v: Open after the counter wrapped: %v", c, err)
		}
	}
}

// TestNonceLayout pins the nonce to PROTOCOL.md: an 11-byte big-endian
// counter and the last flag, checked against the AEAD used directly.
func TestNonceLayout(t *testing.T) {
	for _, c := range ciphers {
		s, r := sessionPair(t, c)
		var frames [][]byte
		for i := range 258 {
			f, err := s.Seal(framing.TypeAck, []byte{byte(i)}, i == 257)
			if err != nil {
				t.Fatal(err)
			}
			frames = append(frames, f)
		}
		for _, i := range []int{0, 1, 255, 256, 257} {
			var nonce [12]byte
			nonce[9], nonce[10] = byte(i>>8), byte(i)
			if i == 257 {
				nonce[11] = 1
			}
			plain, err := r.in.aead.Open(nil, nonce[:], frames[i], []byte{byte(framing.TypeAck)})
			if err != nil || !bytes.Equal(plain, []byte{byte(i)}) {
				t.Errorf("%v: frame %d does not open under nonce %x: %v", c, i, nonce, err)
			}
		}
	}
}

func TestSealInPlace(t *testing.T) {
	for _, c := range ciphers {
		s, r := sessionPair(t, c)
		msg := []byte("payload sealed where it lies")

		roomy := make([]byte, len(msg), len(msg)+Overhead)
		copy(roomy, msg)
		sealed, err := s.Seal(framing.TypeData, roomy, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(sealed) != len(msg)+Overhead || &sealed[0] != &roomy[0] {
			t.Errorf("%v: with spare capacity Seal did not work in place", c)
		}
		if plain, _, err := r.Open(framing.TypeData, sealed); err != nil || !bytes.Equal(plain, msg) {
			t.Fatalf("%v: frame sealed in place: %q, %v", c, plain, err)
		}

		tight := bytes.Clone(msg)[:len(msg):len(msg)]
		sealed, err = s.Seal(framing.TypeData, tight, false)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(tight, msg) {
			t.Errorf("%v: without spare capacity Seal changed the payload", c)
		}
		if plain, _, err := r.Open(framing.TypeData, sealed); err != nil || !bytes.Equal(plain, msg) {
			t.Fatalf("%v: frame sealed into a new slice: %q, %v", c, plain, err)
		}
	}
}

// TestEmptyPayload: frames without payload (ping) seal to a bare tag.
func TestEmptyPayload(t *testing.T) {
	for _, c := range ciphers {
		s, r := sessionPair(t, c)
		p, err := s.Seal(framing.TypePing, nil, false)
		if err != nil || len(p) != Overhead {
			t.Fatalf("%v: %d bytes, %v", c, len(p), err)
		}
		plain, last, err := r.Open(framing.TypePing, p)
		if err != nil || len(plain) != 0 || last {
			t.Fatalf("%v: %q, %v, %v", c, plain, last, err)
		}
	}
}

// TestSessionConcurrentDirections seals and opens both directions at once,
// one goroutine for each direction of each side, for the race detector.
func TestSessionConcurrentDirections(t *testing.T) {
	for _, c := range ciphers {
		s, r := sessionPair(t, c)
		const n = 200
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		pump := func(from, to *Session, tag string) {
			ch := make(chan []byte, 8)
			wg.Add(2)
			go func() {
				defer wg.Done()
				defer close(ch)
				for i := range n {
					buf := make([]byte, 0, 64+Overhead)
					buf = fmt.Appendf(buf, "%s %d", tag, i)
					f, err := from.Seal(framing.TypeData, buf, i == n-1)
					if err != nil {
						errs <- err
						return
					}
					ch <- f
				}
			}()
			go func() {
				defer wg.Done()
				// However this goroutine ends, it takes the rest of ch, so
				// the sealing goroutine never blocks on a send after a
				// mismatch and wg.Wait returns with the error to report.
				defer func() {
					for range ch {
					}
				}()
				i := 0
				for f := range ch {
					plain, last, err := to.Open(framing.TypeData, f)
					if err != nil || string(plain) != fmt.Sprintf("%s %d", tag, i) || last != (i == n-1) {
						errs <- fmt.Errorf("%s frame %d: %q, last %v, %v", tag, i, plain, last, err)
						return
					}
					i++
				}
				if to.AtEOF() != nil {
					errs <- fmt.Errorf("%s: no last frame", tag)
				}
			}()
		}
		pump(s, r, "S→R")
		pump(r, s, "R→S")
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("%v: %v", c, err)
		}
	}
}

func TestCipherString(t *testing.T) {
	for c, want := range map[Cipher]string{AES256GCM: "AES-256-GCM", ChaCha20Poly1305: "ChaCha20-Poly1305", 0: "cipher(0)"} {
		if got := c.String(); got != want {
			t.Errorf("Cipher(%d).String() = %q, want %q", uint8(c), got, want)
		}
	}
}

// TestLocalAEAD: the yardstick's cipher is the one two machines like this
// one agree on, and it opens what it seals.
func TestLocalAEAD(t *testing.T) {
	a, c, err := LocalAEAD(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	want := ChaCha20Poly1305
	if hardwareAES {
		want = AES256GCM
	}
	if c != want {
		t.Errorf("LocalAEAD picked %v, want %v (AES instructions: %v)", c, want, hardwareAES)
	}
	nonce := make([]byte, a.NonceSize())
	sealed := a.Seal(nil, nonce, []byte("chunk"), nil)
	if got, err := a.Open(nil, nonce, sealed, nil); err != nil || string(got) != "chunk" {
		t.Errorf("Open of what Seal sealed = %q, %v", got, err)
	}
}
