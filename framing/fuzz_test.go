package framing

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"unicode/utf8"
)

// Every decoder here reads bytes from an untrusted peer. The fuzz targets
// check that none of them panics, that each failure is one of the package's
// sentinel errors (so callers can classify it), and that anything accepted
// re-encodes to exactly the bytes it came from: a decoder that accepts two
// encodings of one value, or loses a field, breaks that.

// addSeeds seeds f with the golden payloads of typ and then extra, the
// corrupt inputs worth starting mutation from.
func addSeeds(f *testing.F, typ Type, extra ...[]byte) {
	for _, c := range goldenCases() {
		if c.typ == typ {
			f.Add(c.encode())
		}
	}
	for _, p := range extra {
		f.Add(p)
	}
}

// checkErr fails unless err wraps one of the sentinels a decoder may return.
func checkErr(t *testing.T, err error, allowed ...error) {
	t.Helper()
	for _, a := range allowed {
		if errors.Is(err, a) {
			return
		}
	}
	t.Fatalf("error %v wraps none of %v", err, allowed)
}

// checkReencode fails unless enc, applied to what was parsed from p, gives p.
func checkReencode(t *testing.T, p, enc []byte) {
	t.Helper()
	if !bytes.Equal(enc, p) {
		t.Fatalf("accepted payload re-encodes differently:\n  in %x\n out %x", p, enc)
	}
}

func FuzzReadFrame(f *testing.F) {
	var all []byte
	for _, c := range goldenCases() {
		fr := AppendFrame(nil, c.typ, c.encode())
		f.Add(fr)
		all = append(all, fr...)
	}
	f.Add(all)
	f.Add([]byte{})
	f.Add(all[:len(all)-1])
	f.Add(all[:3])
	f.Add(header(TypeData, MaxPayload+1))
	f.Add(header(TypeData, 0xFFFFFFFF))
	f.Add(append(header(TypeData, MaxPayload), 1, 2, 3))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in))
		var again []byte // the frames read so far, encoded again
		for {
			typ, p, err := r.ReadFrame()
			if err != nil {
				if err == io.EOF {
					// Clean end of stream: every input byte belonged to a frame.
					checkReencode(t, in, again)
					return
				}
				checkErr(t, err, ErrTruncated, ErrFrameTooLarge)
				if len(again) >= len(in) || !bytes.HasPrefix(in, again) {
					t.Fatalf("%v after frames that do not form a proper prefix of the input", err)
				}
				return
			}
			if len(p) > MaxPayload {
				t.Fatalf("%v frame with a %d-byte payload, limit %d", typ, len(p), MaxPayload)
			}
			again = AppendFrame(again, typ, p)
		}
	})
}

func FuzzParseHello(f *testing.F) {
	hello := AppendHello(nil, Hello{Version: Version, Role: RoleReceiver})
	addSeeds(f, TypeHello,
		append(hello, "extension"...),
		hello[:10],
		[]byte("ferry"),
		[]byte("FERRY\x01\x01\x00\x00\x00\x00"),
		[]byte("ferry\x01\x03\x00\x00\x00\x00"),
		[]byte("SSH-2.0-OpenSSH_9.6\r\n"),
		[]byte("ferry\x02\x07"),
	)
	f.Fuzz(func(t *testing.T, p []byte) {
		h, err := ParseHello(p)
		if err != nil {
			checkErr(t, err, ErrMalformed, ErrNotFerry)
			return
		}
		if h.Version != Version {
			// Another version's hello: its version alone, for the caller.
			if want := (Hello{Version: p[len(Magic)]}); h != want {
				t.Fatalf("another version's hello parsed to %+v, want %+v", h, want)
			}
			return
		}
		if h.Role != RoleSender && h.Role != RoleReceiver {
			t.Fatalf("accepted role %d", h.Role)
		}
		if len(p) < 11 {
			t.Fatalf("accepted a %d-byte hello", len(p))
		}
		// Only the known fields re-encode; the rest is extension space.
		checkReencode(t, p[:11], AppendHello(nil, h))
	})
}

func FuzzParseOffer(f *testing.F) {
	addSeeds(f, TypeOffer, nil, make([]byte, 11), make([]byte, 13))
	f.Fuzz(func(t *testing.T, p []byte) {
		o, err := ParseOffer(p)
		if err != nil {
			checkErr(t, err, ErrMalformed)
			return
		}
		checkReencode(t, p, AppendOffer(nil, o))
	})
}

func FuzzParseFile(f *testing.F) {
	addSeeds(f, TypeFile,
		filePayload(0, nil),
		filePayload(4, []byte("abc")),
		filePayload(3, []byte("a\xffc")),
		filePayload(MaxName+1, bytes.Repeat([]byte("x"), MaxName+1)),
		filePayload(0xFFFF, nil),
	)
	f.Fuzz(func(t *testing.T, p []byte) {
		fi, err := ParseFile(p)
		if err != nil {
			checkErr(t, err, ErrMalformed)
			return
		}
		if len(fi.Name) > MaxName {
			t.Fatalf("accepted name %q (%d bytes)", fi.Name, len(fi.Name))
		}
		checkReencode(t, p, AppendFile(nil, fi))
	})
}

func FuzzParseData(f *testing.F) {
	addSeeds(f, TypeData,
		dataPayload(CodecNone, 0, nil)[:DataHeaderLen-1],
		dataPayload(CodecNone, 4, []byte("abc")),
		dataPayload(CodecS2, MaxChunk+1, []byte{1}),
		dataPayload(CodecZstd, MaxChunk, []byte{0x28, 0xb5, 0x2f, 0xfd}),
		dataPayload(3, 1, []byte{1}),
	)
	f.Fuzz(func(t *testing.T, p []byte) {
		d, err := ParseData(p)
		if err != nil {
			checkErr(t, err, ErrMalformed)
			return
		}
		if d.RawLen > MaxChunk {
			t.Fatalf("accepted raw length %d, limit %d", d.RawLen, MaxChunk)
		}
		if d.Codec > CodecS2 {
			t.Fatalf("accepted codec %d", d.Codec)
		}
		if d.Codec == CodecNone && int(d.RawLen) != len(d.Body) {
			t.Fatalf("accepted uncompressed raw length %d with a %d-byte body", d.RawLen, len(d.Body))
		}
		checkReencode(t, p, AppendData(nil, d))
	})
}

func FuzzParseEnd(f *testing.F) {
	addSeeds(f, TypeEnd,
		AppendEnd(nil, End{Size: 1, Algorithm: 2, Digest: 3}),
		AppendEnd(nil, End{Algorithm: ChecksumCRC32C})[:12],
		append(AppendEnd(nil, End{Algorithm: ChecksumCRC32C}), 0),
	)
	f.Fuzz(func(t *testing.T, p []byte) {
		e, err := ParseEnd(p)
		if err != nil {
			checkErr(t, err, ErrMalformed)
			return
		}
		if e.Algorithm != ChecksumCRC32C {
			t.Fatalf("accepted checksum algorithm %d", e.Algorithm)
		}
		checkReencode(t, p, AppendEnd(nil, e))
	})
}

func FuzzParseTotals(f *testing.F) {
	addSeeds(f, TypeDone, nil, make([]byte, 11), make([]byte, 13))
	addSeeds(f, TypeComplete)
	f.Fuzz(func(t *testing.T, p []byte) {
		v, err := ParseTotals(p)
		if err != nil {
			checkErr(t, err, ErrMalformed)
			return
		}
		checkReencode(t, p, AppendTotals(nil, v))
	})
}

func FuzzParseAck(f *testing.F) {
	addSeeds(f, TypeAck, nil, make([]byte, 11), make([]byte, 13))
	f.Fuzz(func(t *testing.T, p []byte) {
		a, err := ParseAck(p)
		if err != nil {
			checkErr(t, err, ErrMalformed)
			return
		}
		checkReencode(t, p, AppendAck(nil, a))
	})
}

func FuzzParseError(f *testing.F) {
	addSeeds(f, TypeError,
		nil,
		[]byte{0},
		[]byte("\x00\x01ok \xff"),
		append([]byte{0, 1}, bytes.Repeat([]byte("m"), MaxMessage+1)...),
	)
	f.Fuzz(func(t *testing.T, p []byte) {
		e, err := ParseError(p)
		if err != nil {
			checkErr(t, err, ErrMalformed)
			return
		}
		if len(e.Message) > MaxMessage || !utf8.ValidString(e.Message) {
			t.Fatalf("accepted message %q (%d bytes)", e.Message, len(e.Message))
		}
		checkReencode(t, p, AppendError(nil, e))
	})
}

func FuzzParsePing(f *testing.F) {
	addSeeds(f, TypePing, []byte{0})
	f.Fuzz(func(t *testing.T, p []byte) {
		if err := ParsePing(p); err != nil {
			checkErr(t, err, ErrMalformed)
			return
		}
		if len(p) != 0 {
			t.Fatalf("accepted a ping of %d bytes", len(p))
		}
	})
}

func FuzzParseAbort(f *testing.F) {
	addSeeds(f, TypeAbort,
		nil,
		[]byte("stop\xe2\x82"),
		bytes.Repeat([]byte("r"), MaxMessage+1),
	)
	f.Fuzz(func(t *testing.T, p []byte) {
		reason, err := ParseAbort(p)
		if err != nil {
			checkErr(t, err, ErrMalformed)
			return
		}
		if len(reason) > MaxMessage || !utf8.ValidString(reason) {
			t.Fatalf("accepted reason %q (%d bytes)", reason, len(reason))
		}
		checkReencode(t, p, AppendAbort(nil, reason))
	})
}

func FuzzParseCheck(f *testing.F) {
	addSeeds(f, TypeCheck, nil, []byte{0, 0}, []byte{0, 1}, []byte{0xff, 0xff},
		AppendCheck(nil, []CheckEntry{{Index: 1, Name: string(bytes.Repeat([]byte("x"), MaxName+1))}}))
	f.Fuzz(func(t *testing.T, p []byte) {
		es, err := ParseCheck(p)
		if err != nil {
			checkErr(t, err, ErrMalformed)
			return
		}
		if len(es) == 0 || len(es) > MaxCheck {
			t.Fatalf("accepted %d entries", len(es))
		}
		checkReencode(t, p, AppendCheck(nil, es))
	})
}

func FuzzParseHolds(f *testing.F) {
	addSeeds(f, TypeHolds, nil, []byte{0, 0}, []byte{0, 1}, AppendHolds(nil, []Held{{State: HeldRefused + 1}}))
	f.Fuzz(func(t *testing.T, p []byte) {
		hs, err := ParseHolds(p)
		if err != nil {
			checkErr(t, err, ErrMalformed)
			return
		}
		for _, h := range hs {
			if h.State > HeldRefused {
				t.Fatalf("accepted state %d", h.State)
			}
		}
		checkReencode(t, p, AppendHolds(nil, hs))
	})
}

func FuzzParseSkipResume(f *testing.F) {
	addSeeds(f, TypeSkip, nil, []byte{0, 0, 0, 1, 3}, make([]byte, 12))
	addSeeds(f, TypeResume, make([]byte, 11))
	f.Fuzz(func(t *testing.T, p []byte) {
		if s, err := ParseSkip(p); err != nil {
			checkErr(t, err, ErrMalformed)
		} else {
			checkReencode(t, p, AppendSkip(nil, s))
		}
		if r, err := ParseResume(p); err != nil {
			checkErr(t, err, ErrMalformed)
		} else {
			checkReencode(t, p, AppendResume(nil, r))
		}
	})
}

func FuzzParseJoin(f *testing.F) {
	addSeeds(f, TypeJoin, nil, make([]byte, TokenLen+1), make([]byte, TokenLen), make([]byte, TokenLen+2))
	f.Fuzz(func(t *testing.T, p []byte) {
		j, err := ParseJoin(p)
		if err != nil {
			checkErr(t, err, ErrMalformed)
			return
		}
		if j.N == 0 {
			t.Fatal("accepted a count or index of 0")
		}
		checkReencode(t, p, AppendJoin(nil, j))
	})
}
