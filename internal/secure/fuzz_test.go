package secure

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gtank/ristretto255"

	"github.com/ferrytool/ferry/framing"
)

// fuzzScalar is a fixed scalar for checking that any element a peer sends
// goes through the scalar multiplication without a panic.
var fuzzScalar = ristretto255.NewScalar().FromUniformBytes(bytes.Repeat([]byte{7}, 64))

func FuzzParsePakeS(f *testing.F) {
	f.Add(validPakeS(f))
	f.Add(make([]byte, pakeSLen))
	f.Add(make([]byte, pakeSLen-1))
	f.Add(append(make([]byte, 17), bytes.Repeat([]byte{0xff}, 32)...))
	f.Fuzz(func(t *testing.T, p []byte) {
		m, err := parsePakeS(p)
		if err != nil {
			if !errors.Is(err, ErrProtocol) || len(p) == pakeSLen {
				t.Fatalf("%d bytes: %v", len(p), err)
			}
			return
		}
		if got := appendPakeS(nil, m); !bytes.Equal(got, p) {
			t.Fatalf("re-encoded as %x", got)
		}
		checkElement(t, m.y)
	})
}

func FuzzParsePakeR(f *testing.F) {
	f.Add(append([]byte{1}, ristretto255.NewElement().Base().Encode(nil)...))
	f.Add(make([]byte, pakeRLen))
	f.Add(make([]byte, pakeSLen))
	f.Add(append([]byte{0}, bytes.Repeat([]byte{0xff}, 32)...))
	f.Fuzz(func(t *testing.T, p []byte) {
		m, err := parsePakeR(p)
		if err != nil {
			if !errors.Is(err, ErrProtocol) || len(p) == pakeRLen {
				t.Fatalf("%d bytes: %v", len(p), err)
			}
			return
		}
		if got := appendPakeR(nil, m); !bytes.Equal(got, p) {
			t.Fatalf("re-encoded as %x", got)
		}
		checkElement(t, m.y)
	})
}

// checkElement runs a peer's element through scalar_mult_vfy: G.I exactly
// when it does not decode or is the identity.
func checkElement(t *testing.T, y []byte) {
	k := scalarMultVfy(fuzzScalar, y)
	e := ristretto255.NewElement()
	valid := e.Decode(y) == nil && e.Equal(ristretto255.NewElement()) == 0
	if isIdentity(k) == valid {
		t.Fatalf("element %x: K %x, valid %v", y, k, valid)
	}
}

// FuzzOpen feeds two arbitrary sealed payloads to a fresh Session. Whatever
// opens must be what the peer's Session seals for that plaintext: anything
// else would be a forgery.
func FuzzOpen(f *testing.F) {
	s, _ := sessionPair(f, ChaCha20Poly1305)
	f0, err := s.Seal(framing.TypeData, []byte("first frame"), false)
	if err != nil {
		f.Fatal(err)
	}
	f1, err := s.Seal(framing.TypeDone, []byte("last frame"), true)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(byte(framing.TypeData), f0, byte(framing.TypeDone), f1)
	f.Add(byte(framing.TypeData), f0, byte(framing.TypeData), f0)
	f.Add(byte(framing.TypeOffer), f0, byte(framing.TypeDone), f1)
	f.Add(byte(framing.TypeData), []byte{}, byte(0), make([]byte, Overhead))
	f.Fuzz(func(t *testing.T, t0 byte, p0 []byte, t1 byte, p1 []byte) {
		for _, c := range ciphers {
			ref, r := sessionPair(t, c)
			frames := []sealedFrame{{framing.Type(t0), bytes.Clone(p0)}, {framing.Type(t1), bytes.Clone(p1)}}
			for i, fr := range frames {
				plain, last, err := r.Open(fr.t, fr.p)
				if err != nil {
					if !errors.Is(err, ErrTampered) && !errors.Is(err, ErrAfterLast) {
						t.Fatalf("%v frame %d: unexpected error %v", c, i, err)
					}
					break
				}
				want, err := ref.Seal(fr.t, bytes.Clone(plain), last)
				if err != nil || !bytes.Equal(want, [][]byte{p0, p1}[i]) {
					t.Fatalf("%v frame %d opened, but the peer would have sealed it as %x (%v)", c, i, want, err)
				}
			}
		}
	})
}

// FuzzSealOpen seals a payload, flips one bit of the result if the index
// falls inside it, and checks that exactly the unflipped frame opens.
func FuzzSealOpen(f *testing.F) {
	f.Add(byte(framing.TypeData), []byte("payload"), uint32(0), false)
	f.Add(byte(framing.TypeDone), []byte{}, uint32(1<<20), true)
	f.Add(byte(framing.TypeFile), bytes.Repeat([]byte{0xaa}, 300), uint32(8*300+3), false)
	f.Fuzz(func(t *testing.T, typ byte, payload []byte, bit uint32, last bool) {
		for _, c := range ciphers {
			s, r := sessionPair(t, c)
			sealed, err := s.Seal(framing.Type(typ), bytes.Clone(payload), last)
			if err != nil {
				t.Fatal(err)
			}
			flipped := int(bit) < 8*len(sealed)
			if flipped {
				sealed[bit/8] ^= 1 << (bit % 8)
			}
			plain, gotLast, err := r.Open(framing.Type(typ), sealed)
			switch {
			case flipped && !errors.Is(err, ErrTampered):
				t.Fatalf("%v: bit %d flipped, Open: %v", c, bit, err)
			case !flipped && (err != nil || !bytes.Equal(plain, payload) || gotLast != last):
				t.Fatalf("%v: round trip gave %x, last %v, %v", c, plain, gotLast, err)
			}
		}
	})
}

// fuzzHandshake plays two arbitrary frames to one side of a handshake: it
// must fail cleanly, never panic, never hand out a Session.
func fuzzHandshake(t *testing.T, role framing.Role, t0 byte, p0 []byte, t1 byte, p1 []byte) {
	frames := []frame{{framing.Type(t0), p0}, {framing.Type(t1), p1}}
	sess, err := handshake(&script{frames: frames}, &recorder{}, role, "K7Q-M2X-RD9", testHelloS, testHelloR, config{rand: seeded(5)})
	if err == nil || sess != nil {
		t.Fatalf("handshake accepted forged frames")
	}
}

func FuzzHandshakeResponder(f *testing.F) {
	good := validPakeS(f)
	f.Add(byte(framing.TypePake), good, byte(framing.TypeConfirm), make([]byte, 32))
	f.Add(byte(framing.TypePing), []byte{}, byte(framing.TypePake), good)
	f.Add(byte(framing.TypeError), framing.AppendError(nil, framing.ErrorMsg{Code: framing.CodeAuth, Message: "x"}), byte(0), []byte{})
	f.Add(byte(framing.TypePake), make([]byte, pakeSLen), byte(framing.TypeConfirm), []byte{})
	f.Fuzz(func(t *testing.T, t0 byte, p0 []byte, t1 byte, p1 []byte) {
		fuzzHandshake(t, framing.RoleReceiver, t0, p0, t1, p1)
	})
}

func FuzzHandshakeInitiator(f *testing.F) {
	// The best seed is a real responder's pake: a handshake that fails here
	// would leave the fuzzer without it, so that is a failure too.
	s := &side{code: "K7Q-M2X-RD9", cfg: config{rand: seeded(5)}}
	r := &side{code: "K7Q-M2X-RD9", cfg: config{rand: seeded(6)}}
	runHandshake(f, s, r)
	if s.err != nil || r.err != nil {
		f.Fatalf("seed handshake: sender: %v; receiver: %v", s.err, r.err)
	}
	f.Add(byte(r.frames[0].t), r.frames[0].p, byte(framing.TypeConfirm), make([]byte, 32))
	f.Add(byte(framing.TypePake), make([]byte, pakeRLen), byte(framing.TypeConfirm), make([]byte, 32))
	f.Add(byte(framing.TypeAbort), []byte("interrupted"), byte(0), []byte{})
	f.Fuzz(func(t *testing.T, t0 byte, p0 []byte, t1 byte, p1 []byte) {
		fuzzHandshake(t, framing.RoleSender, t0, p0, t1, p1)
	})
}
