package secure

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"unicode"

	"github.com/gtank/ristretto255"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/ferrytool/ferry/framing"
)

var updateKAT = flag.Bool("update", false, "rewrite the results in testdata/kat.txt from its inputs")

const katFile = "testdata/kat.txt"

// katFields are the fields of a known-answer vector in the order the file
// holds them. Inputs are what a side is given or draws at random; results
// follow from them, and the test computes them through the code paths a
// real handshake and a real connection use.
var katFields = []struct {
	name  string
	input bool
}{
	{name: "code", input: true},
	{name: "hello_s", input: true},
	{name: "hello_r", input: true},
	{name: "sid", input: true},
	{name: "ya_random", input: true},
	{name: "flags_s", input: true},
	{name: "yb_random", input: true},
	{name: "flags_r", input: true},
	{name: "s0_type", input: true},
	{name: "s0_payload", input: true},
	{name: "r0_type", input: true},
	{name: "r0_payload", input: true},

	{name: "prs"},
	{name: "g"},
	{name: "ya"},
	{name: "Ya"},
	{name: "yb"},
	{name: "Yb"},
	{name: "pake_s"},
	{name: "pake_r"},
	{name: "K"},
	{name: "ISK"},
	{name: "TH"},
	{name: "key_sr"},
	{name: "key_rs"},
	{name: "confirm_key_s"},
	{name: "confirm_key_r"},
	{name: "confirm_r"},
	{name: "confirm_s"},
	{name: "cipher"},
	{name: "s0_nonce"},
	{name: "s0_frame"},
	{name: "r0_nonce"},
	{name: "r0_frame"},
}

// katVector is one vector of the file: its name and its fields' values as
// written (hex, or text).
type katVector struct {
	name   string
	fields map[string]string
}

func (v katVector) bytes(t *testing.T, field string) []byte {
	t.Helper()
	b, err := hex.DecodeString(v.fields[field])
	if err != nil {
		t.Fatalf("%s: %s is not hex: %v", v.name, field, err)
	}
	if len(b) == 0 {
		t.Fatalf("%s: %s is missing", v.name, field)
	}
	return b
}

// parseKAT splits the file into its header, every line before the first
// vector, and its vectors.
func parseKAT(text string) (header string, vectors []katVector, err error) {
	known := make(map[string]bool)
	for _, f := range katFields {
		known[f.name] = true
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	var head strings.Builder
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "vector: "); ok {
			vectors = append(vectors, katVector{name: name, fields: make(map[string]string)})
			continue
		}
		if len(vectors) == 0 {
			head.WriteString(line + "\n")
			continue
		}
		if line == "" {
			continue
		}
		key, value, ok := strings.Cut(line, ": ")
		v := vectors[len(vectors)-1]
		switch {
		case !ok:
			return "", nil, fmt.Errorf("line %d: want \"field: value\", have %q", n, line)
		case !known[key]:
			return "", nil, fmt.Errorf("line %d: unknown field %q", n, key)
		case v.fields[key] != "":
			return "", nil, fmt.Errorf("line %d: %s given twice in %q", n, key, v.name)
		}
		v.fields[key] = value
	}
	return head.String(), vectors, sc.Err()
}

// formatKAT writes the file as parseKAT reads it: the header, then each
// vector's fields in katFields order, a blank line between vectors.
func formatKAT(header string, vectors []katVector) string {
	var b strings.Builder
	b.WriteString(header)
	for _, v := range vectors {
		fmt.Fprintf(&b, "vector: %s\n", v.name)
		for _, f := range katFields {
			fmt.Fprintf(&b, "%s: %s\n", f.name, v.fields[f.name])
		}
		b.WriteString("\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// computeKAT runs a sender and a receiver against each other with the
// vector's inputs standing in for their randomness and their CPUs, and
// returns the vector with every result filled in from what they did.
func computeKAT(t *testing.T, in katVector) katVector {
	t.Helper()
	sid := in.bytes(t, "sid")
	yaRandom, ybRandom := in.bytes(t, "ya_random"), in.bytes(t, "yb_random")
	flagsS, flagsR := in.bytes(t, "flags_s"), in.bytes(t, "flags_r")
	for _, f := range [][]byte{flagsS, flagsR} {
		if len(f) != 1 || f[0]&^flagHardwareAES != 0 {
			t.Fatalf("%s: pake flags %x: ferry sends only 00 or 01", in.name, f)
		}
	}
	// The sender draws the sid and then its scalar, the receiver only its
	// scalar: each reader must be used up, or the file's random inputs
	// would not be what the sides drew.
	randS := bytes.NewReader(append(bytes.Clone(sid), yaRandom...))
	randR := bytes.NewReader(ybRandom)
	code := in.fields["code"]
	helloS, helloR := in.bytes(t, "hello_s"), in.bytes(t, "hello_r")
	s := &side{code: code, cfg: config{rand: randS, hwAES: flagsS[0] != 0}, helloS: helloS, helloR: helloR}
	r := &side{code: code, cfg: config{rand: randR, hwAES: flagsR[0] != 0}, helloS: helloS, helloR: helloR}
	runHandshake(t, s, r)
	if s.err != nil || r.err != nil {
		t.Fatalf("%s: handshake failed: sender %v; receiver %v", in.name, s.err, r.err)
	}
	if randS.Len() != 0 || randR.Len() != 0 {
		t.Fatalf("%s: the sides left %d and %d random bytes undrawn", in.name, randS.Len(), randR.Len())
	}
	if got := kinds(s.frames); len(got) != 2 || got[0] != "pake" || got[1] != "confirm" {
		t.Fatalf("%s: sender wrote %v", in.name, got)
	}
	if got := kinds(r.frames); len(got) != 2 || got[0] != "pake" || got[1] != "confirm" {
		t.Fatalf("%s: receiver wrote %v", in.name, got)
	}
	if s.sess.Cipher() != r.sess.Cipher() {
		t.Fatalf("%s: the sides chose %v and %v", in.name, s.sess.Cipher(), r.sess.Cipher())
	}

	// The intermediate values, through the functions the handshake calls.
	prs := []byte(NormalizeCode(code))
	g := calculateGenerator(prs, []byte(channelID), sid)
	ya, err := sampleScalar(bytes.NewReader(yaRandom))
	if err != nil {
		t.Fatal(err)
	}
	yb, err := sampleScalar(bytes.NewReader(ybRandom))
	if err != nil {
		t.Fatal(err)
	}
	pakeS, pakeR := s.frames[0].p, r.frames[0].p
	capYa, capYb := scalarMult(ya, g), scalarMult(yb, g)
	if !bytes.Equal(pakeS[sidLen+1:], capYa) || !bytes.Equal(pakeR[1:], capYb) {
		t.Fatalf("%s: the pake frames do not carry Ya and Yb as computed from the inputs", in.name)
	}
	k := scalarMultVfy(ya, capYb)
	isk := intermediateKey(sid, k, transcriptIR(capYa, flagsS, capYb, flagsR))
	h := &handshakeState{th: sha256.New()}
	for _, p := range [][]byte{helloS, helloR, pakeS, pakeR} {
		h.addTranscript(p)
	}
	th := h.th.Sum(nil)
	keys, err := h.keys(isk)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(keys.confirmS, s.frames[1].p) || !bytes.Equal(keys.confirmR, r.frames[1].p) {
		t.Fatalf("%s: the confirm frames differ from the key schedule's MACs", in.name)
	}
	// keys does not hand out the confirm keys, only their MACs: the keys
	// are the rest of its output, as PROTOCOL.md lays it out, and are
	// checked here by making the same MACs.
	okm, err := hkdf.Key(sha256.New, isk[:], th, keysInfo, 4*32)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(okm[0:32], keys.sr) || !bytes.Equal(okm[32:64], keys.rs) {
		t.Fatalf("%s: the AEAD keys are not the first 64 bytes of HKDF's output", in.name)
	}
	confirmKeyS, confirmKeyR := okm[64:96], okm[96:128]
	if !bytes.Equal(confirmMAC(confirmKeyS, th), keys.confirmS) || !bytes.Equal(confirmMAC(confirmKeyR, th), keys.confirmR) {
		t.Fatalf("%s: the confirm keys are not the last 64 bytes of HKDF's output", in.name)
	}

	out := katVector{name: in.name, fields: make(map[string]string)}
	for _, f := range katFields {
		if f.input {
			out.fields[f.name] = in.fields[f.name]
		}
	}
	set := func(field string, b []byte) { out.fields[field] = hex.EncodeToString(b) }
	set("prs", prs)
	set("g", g.Encode(nil))
	set("ya", ya.Encode(nil))
	set("Ya", capYa)
	set("yb", yb.Encode(nil))
	set("Yb", capYb)
	set("pake_s", pakeS)
	set("pake_r", pakeR)
	set("K", k)
	set("ISK", isk[:])
	set("TH", th)
	set("key_sr", keys.sr)
	set("key_rs", keys.rs)
	set("confirm_key_s", confirmKeyS)
	set("confirm_key_r", confirmKeyR)
	set("confirm_r", r.frames[1].p)
	set("confirm_s", s.frames[1].p)
	out.fields["cipher"] = s.sess.Cipher().String()

	// The first sealed frame each way: the sender's first (counter 0), and
	// the receiver's first, sealed as its last (counter 0, flag 1).
	for _, c := range []struct {
		prefix   string
		from, to *Session
		sealKey  []byte
		last     bool
		flag     byte // the nonce's last byte
	}{
		{"s0", s.sess, r.sess, keys.sr, false, 0},
		{"r0", r.sess, s.sess, keys.rs, true, 1},
	} {
		typ := framing.Type(in.bytes(t, c.prefix+"_type")[0])
		payload, err := hex.DecodeString(in.fields[c.prefix+"_payload"])
		if err != nil {
			t.Fatalf("%s: %s_payload is not hex: %v", in.name, c.prefix, err)
		}
		sealed, err := c.from.Seal(typ, bytes.Clone(payload), c.last)
		if err != nil {
			t.Fatal(err)
		}
		plain, last, err := c.to.Open(typ, bytes.Clone(sealed))
		if err != nil || !bytes.Equal(plain, payload) || last != c.last {
			t.Fatalf("%s: %s opened as %x, last %v, err %v", in.name, c.prefix, plain, last, err)
		}
		// The nonce is the one under which the bare AEAD, keyed with the
		// direction's key, opens the frame: counter 0, and the flag.
		nonce := make([]byte, nonceLen)
		nonce[counterLen] = c.flag
		aead, err := newAEAD(s.sess.Cipher(), c.sealKey)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := aead.Open(nil, nonce, sealed, []byte{byte(typ)}); err != nil {
			t.Fatalf("%s: %s does not open under nonce %x: %v", in.name, c.prefix, nonce, err)
		}
		set(c.prefix+"_nonce", nonce)
		set(c.prefix+"_frame", framing.AppendFrame(nil, typ, sealed))
	}
	return out
}

// TestKnownAnswers recomputes every result in testdata/kat.txt, a
// reimplementer's check of ferry's own layer of the encrypted mode, from
// the file's inputs through a real handshake and real sealing, so that
// any change to what goes on the wire fails here. go test -update
// rewrites the results.
func TestKnownAnswers(t *testing.T) {
	text, err := os.ReadFile(katFile)
	if err != nil {
		t.Fatal(err)
	}
	header, vectors, err := parseKAT(string(text))
	if err != nil {
		t.Fatalf("%s: %v", katFile, err)
	}
	ciphers := make(map[string]bool)
	computed := make([]katVector, len(vectors))
	for i, v := range vectors {
		for _, f := range katFields {
			if f.input && v.fields[f.name] == "" {
				t.Fatalf("%s: vector %q lacks input %s", katFile, v.name, f.name)
			}
		}
		computed[i] = computeKAT(t, v)
		ciphers[computed[i].fields["cipher"]] = true
	}
	if !ciphers[AES256GCM.String()] || !ciphers[ChaCha20Poly1305.String()] {
		t.Errorf("the vectors cover the ciphers %v, not both", ciphers)
	}
	if *updateKAT {
		if err := os.WriteFile(katFile, []byte(formatKAT(header, computed)), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	for i, v := range vectors {
		for _, f := range katFields {
			if got, want := computed[i].fields[f.name], v.fields[f.name]; got != want {
				t.Errorf("%s: %s:\n got %s\nwant %s", v.name, f.name, got, want)
			}
		}
	}
	// A hand edit that still holds the right values must not drift from
	// the layout the header documents and -update writes.
	if got := formatKAT(header, vectors); got != string(text) {
		t.Errorf("%s is not in canonical form (go test -update rewrites it)", katFile)
	}
}

func TestParseKATRejects(t *testing.T) {
	for _, c := range []struct {
		name, text string
	}{
		{"unknown field", "vector: v\nnonsense: 00\n"},
		{"field given twice", "vector: v\nsid: 00\nsid: 01\n"},
		{"line without a value", "vector: v\nsid 00\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := parseKAT(c.text); err == nil {
				t.Errorf("parseKAT accepted %q", c.text)
			}
		})
	}
	if _, _, err := parseKAT("# a header\n\nvector: v\nsid: 00\n"); err != nil {
		t.Errorf("parseKAT refused a well-formed file: %v", err)
	}
}

// TestKnownAnswersFollowTheSpec checks the file's values against the
// formulas of PROTOCOL.md, computed here from the standard primitives
// alone, with none of this package's helpers: the test a reimplementation
// would run, and what keeps the document and the code saying the same.
func TestKnownAnswersFollowTheSpec(t *testing.T) {
	text, err := os.ReadFile(katFile)
	if err != nil {
		t.Fatal(err)
	}
	_, vectors, err := parseKAT(string(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			b := func(field string) []byte { return v.bytes(t, field) }
			check := func(what string, got, want []byte) {
				t.Helper()
				if !bytes.Equal(got, want) {
					t.Errorf("%s:\n got %x\nwant %x", what, got, want)
				}
			}
			sid, flagsS, flagsR := b("sid"), b("flags_s"), b("flags_r")

			// PRS: upper case, no '-' or white space, O read as 0, I and L as 1.
			prs := strings.Map(func(r rune) rune {
				switch {
				case r == '-' || unicode.IsSpace(r):
					return -1
				case r == 'O':
					return '0'
				case r == 'I' || r == 'L':
					return '1'
				}
				return r
			}, strings.ToUpper(v.fields["code"]))
			check("prs", []byte(prs), b("prs"))

			// CPace, CPACE-RISTR255-SHA512, CI = "ferry v1", ADa and ADb
			// the flags. Every string here is under 128 bytes, so each
			// LEB128 length is one byte.
			lv := func(parts ...[]byte) []byte {
				var out []byte
				for _, p := range parts {
					if len(p) >= 128 {
						t.Fatalf("lv_cat of %d bytes", len(p))
					}
					out = append(append(out, byte(len(p))), p...)
				}
				return out
			}
			dsi := []byte("CPaceRistretto255")
			zpad := make([]byte, 128-1-(1+len(prs))-(1+len(dsi)))
			genHash := sha512.Sum512(lv(dsi, []byte(prs), zpad, []byte("ferry v1"), sid))
			g := ristretto255.NewElement().FromUniformBytes(genHash[:])
			check("g", g.Encode(nil), b("g"))
			scalar := func(random []byte) *ristretto255.Scalar {
				le := bytes.Clone(random)
				le[31] &= 0x0f
				s := ristretto255.NewScalar()
				if err := s.Decode(le); err != nil {
					t.Fatal(err)
				}
				return s
			}
			ya, yb := scalar(b("ya_random")), scalar(b("yb_random"))
			check("ya", ya.Encode(nil), b("ya"))
			check("yb", yb.Encode(nil), b("yb"))
			capYa := ristretto255.NewElement().ScalarMult(ya, g).Encode(nil)
			capYb := ristretto255.NewElement().ScalarMult(yb, g).Encode(nil)
			check("Ya", capYa, b("Ya"))
			check("Yb", capYb, b("Yb"))
			check("pake_s", slicesConcat(sid, flagsS, capYa), b("pake_s"))
			check("pake_r", slicesConcat(flagsR, capYb), b("pake_r"))
			elemYb := ristretto255.NewElement()
			if err := elemYb.Decode(capYb); err != nil {
				t.Fatal(err)
			}
			k := ristretto255.NewElement().ScalarMult(ya, elemYb).Encode(nil)
			check("K", k, b("K"))
			isk := sha512.Sum512(slicesConcat(lv([]byte("CPaceRistretto255_ISK"), sid, k), lv(capYa, flagsS), lv(capYb, flagsR)))
			check("ISK", isk[:], b("ISK"))

			// TH: SHA-256 of the four handshake payloads, each after its
			// length as a big-endian u32.
			th := sha256.New()
			for _, p := range [][]byte{b("hello_s"), b("hello_r"), b("pake_s"), b("pake_r")} {
				th.Write(binary.BigEndian.AppendUint32(nil, uint32(len(p))))
				th.Write(p)
			}
			check("TH", th.Sum(nil), b("TH"))

			// The key schedule and the key confirmation.
			okm, err := hkdf.Key(sha256.New, b("ISK"), b("TH"), "ferry v1 keys", 128)
			if err != nil {
				t.Fatal(err)
			}
			check("key_sr", okm[0:32], b("key_sr"))
			check("key_rs", okm[32:64], b("key_rs"))
			check("confirm_key_s", okm[64:96], b("confirm_key_s"))
			check("confirm_key_r", okm[96:128], b("confirm_key_r"))
			mac := func(key []byte) []byte {
				m := hmac.New(sha256.New, key)
				m.Write([]byte("ferry v1 confirm"))
				m.Write(b("TH"))
				return m.Sum(nil)
			}
			check("confirm_s", mac(b("confirm_key_s")), b("confirm_s"))
			check("confirm_r", mac(b("confirm_key_r")), b("confirm_r"))

			// The cipher: AES-256-GCM only if both flags have bit 0.
			want := "ChaCha20-Poly1305"
			if flagsS[0]&flagsR[0]&1 != 0 {
				want = "AES-256-GCM"
			}
			if v.fields["cipher"] != want {
				t.Errorf("cipher %q, want %q", v.fields["cipher"], want)
			}
			aead := func(key []byte) cipher.AEAD {
				if want == "AES-256-GCM" {
					block, err := aes.NewCipher(key)
					if err != nil {
						t.Fatal(err)
					}
					a, err := cipher.NewGCM(block)
					if err != nil {
						t.Fatal(err)
					}
					return a
				}
				a, err := chacha20poly1305.New(key)
				if err != nil {
					t.Fatal(err)
				}
				return a
			}

			// Sealed frames: the nonce is the frame counter as 11 bytes
			// big-endian and the last-frame flag; the type byte is the
			// associated data; the header's length counts the tag.
			for _, f := range []struct {
				prefix string
				key    []byte
				flag   byte
			}{
				{"s0", b("key_sr"), 0},
				{"r0", b("key_rs"), 1},
			} {
				nonce := append(make([]byte, 11), f.flag)
				check(f.prefix+"_nonce", nonce, b(f.prefix+"_nonce"))
				typ := b(f.prefix + "_type")
				payload, err := hex.DecodeString(v.fields[f.prefix+"_payload"])
				if err != nil {
					t.Fatal(err)
				}
				sealed := aead(f.key).Seal(nil, nonce, payload, typ)
				frame := slicesConcat(typ, binary.BigEndian.AppendUint32(nil, uint32(len(sealed))), sealed)
				check(f.prefix+"_frame", frame, b(f.prefix+"_frame"))
			}
		})
	}
}

func slicesConcat(parts ...[]byte) []byte {
	return bytes.Join(parts, nil)
}
