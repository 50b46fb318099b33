package codec

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"go.uber.org/goleak"

	"github.com/ferrytool/ferry/framing"
)

// TestMain fails the package if a test leaves a goroutine behind: a zstd
// encoder or decoder that is never closed keeps worker goroutines alive.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// randomBytes returns n bytes no compressor can shrink, the same for a given
// seed so a failure reproduces.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	_, _ = r.Read(b)
	return b
}

// textBytes returns n bytes of repetitive text, which every codec shrinks
// well past minSaving, with enough variation that it is not a single run.
func textBytes(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "line %d: the quick brown fox jumps over the lazy dog\n", i)
	}
	return b.Bytes()[:n]
}

func newDecoder(t testing.TB) *Decoder {
	t.Helper()
	d, err := NewDecoder()
	if err != nil {
		t.Fatalf("NewDecoder: %v", err)
	}
	t.Cleanup(d.Close)
	return d
}

func newEncoder(t testing.TB, m Mode) *Encoder {
	t.Helper()
	e, err := NewEncoder(m, Capabilities)
	if err != nil {
		t.Fatalf("NewEncoder(%v): %v", m, err)
	}
	t.Cleanup(e.Close)
	return e
}

func TestRoundTrip(t *testing.T) {
	inputs := []struct {
		name string
		raw  []byte
		// compressible says whether an explicit codec should pick itself;
		// otherwise it must fall back to CodecNone.
		compressible bool
	}{
		{"empty", nil, false},
		{"one byte", []byte{'x'}, false},
		// zstd leaves the content size out of frames under 256 bytes.
		{"text 120B", bytes.Repeat([]byte("ferry "), 20), true},
		{"text 255B", textBytes(255), true},
		{"text 256B", textBytes(256), true},
		{"text 4KiB", textBytes(4 << 10), true},
		{"random 4KiB", randomBytes(4<<10, 1), false},
		{"zeros MaxChunk", make([]byte, framing.MaxChunk), true},
		{"text MaxChunk", textBytes(framing.MaxChunk), true},
		{"random MaxChunk", randomBytes(framing.MaxChunk, 2), false},
	}
	modes := []struct {
		mode Mode
		// want is the codec a compressible chunk must get.
		want framing.Codec
	}{
		{Auto, framing.CodecS2},
		{Zstd, framing.CodecZstd},
		{S2, framing.CodecS2},
		{None, framing.CodecNone},
	}
	dec := newDecoder(t)
	out := make([]byte, framing.MaxChunk)
	for _, m := range modes {
		for _, in := range inputs {
			t.Run(m.mode.String()+"/"+in.name, func(t *testing.T) {
				// A fresh encoder each time: Auto's back-off from an earlier
				// random input would otherwise send compressible data raw.
				enc := newEncoder(t, m.mode)
				dst := make([]byte, MaxEncodedLen(len(in.raw)))
				c, body := enc.Encode(dst, in.raw)
				want := framing.CodecNone
				if in.compressible {
					want = m.want
				}
				if c != want {
					t.Fatalf("Encode chose %v, want %v", c, want)
				}
				if c == framing.CodecNone {
					// Raw chunks go out as the caller's own bytes, no copy.
					if len(body) != len(in.raw) || (len(body) > 0 && &body[0] != &in.raw[0]) {
						t.Fatalf("CodecNone body is not raw itself")
					}
				} else if len(body) > len(in.raw)-len(in.raw)/minSaving {
					t.Fatalf("compressed body of %d bytes for %d raw, saving below 1/%d", len(body), len(in.raw), minSaving)
				}
				got, err := dec.Decode(out, framing.Data{Codec: c, RawLen: uint32(len(in.raw)), Body: body})
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if !bytes.Equal(got, in.raw) {
					t.Fatalf("Decode returned %d bytes that differ from the %d encoded", len(got), len(in.raw))
				}
			})
		}
	}
}

// TestAutoRandom checks that Auto sends incompressible data raw and, after
// the first failures, stops trying: the count of trial compressions over many
// chunks must stay near chunks/(maxSkip+1), not one per chunk.
func TestAutoRandom(t *testing.T) {
	const chunks = 400
	enc := newEncoder(t, Auto)
	raw := randomBytes(64<<10, 3)
	dst := make([]byte, MaxEncodedLen(len(raw)))
	trials, compressed := 0, 0
	for i := range chunks {
		// A chunk is a trial when the encoder had no skip left; internal
		// state is the only way to tell, since a trial on random data and a
		// skipped chunk both return CodecNone.
		if enc.skip == 0 {
			trials++
		}
		// Vary the data so no chunk compresses by repeating an earlier one.
		raw[0], raw[1] = byte(i), byte(i>>8)
		if c, _ := enc.Encode(dst, raw); c != framing.CodecNone {
			compressed++
		}
	}
	if compressed != 0 {
		t.Fatalf("%d of %d random chunks were sent compressed", compressed, chunks)
	}
	// Skips of 1, 2, 4, ..., 64 cover 127 chunks in 7 trials; after that,
	// one trial per maxSkip+1 chunks.
	if limit := 7 + (chunks-127)/(maxSkip+1) + 1; trials > limit {
		t.Fatalf("Auto tried compressing %d of %d random chunks, want at most %d", trials, chunks, limit)
	}
	t.Logf("%d trials over %d random chunks", trials, chunks)

	// Once the data turns compressible, Auto must notice within one
	// back-off period and go back to compressing every chunk.
	text := textBytes(64 << 10)
	first := -1
	for i := range maxSkip + 1 {
		if c, _ := enc.Encode(dst, text); c == framing.CodecS2 {
			first = i
			break
		}
	}
	if first < 0 {
		t.Fatalf("Auto still sends compressible data raw after %d chunks", maxSkip+1)
	}
	for i := range 10 {
		if c, _ := enc.Encode(dst, text); c != framing.CodecS2 {
			t.Fatalf("compressible chunk %d after the switch got %v, want s2", i, c)
		}
	}
}

func TestNewEncoderCapabilities(t *testing.T) {
	tests := []struct {
		name    string
		mode    Mode
		caps    uint32
		wantErr bool
		// want is the codec a compressible chunk gets when there is no error.
		want framing.Codec
	}{
		{"auto, no caps", Auto, 0, false, framing.CodecNone},
		{"auto, zstd only", Auto, framing.CapZstd, false, framing.CodecNone},
		{"auto, s2", Auto, framing.CapS2, false, framing.CodecS2},
		{"none, no caps", None, 0, false, framing.CodecNone},
		{"s2, no caps", S2, 0, true, 0},
		{"s2, zstd only", S2, framing.CapZstd, true, 0},
		{"s2, s2", S2, framing.CapS2, false, framing.CodecS2},
		{"zstd, no caps", Zstd, 0, true, 0},
		{"zstd, s2 only", Zstd, framing.CapS2, true, 0},
		{"zstd, zstd", Zstd, framing.CapZstd, false, framing.CodecZstd},
		// Unknown bits from a newer peer must not confuse the choice.
		{"zstd, all bits", Zstd, ^uint32(0), false, framing.CodecZstd},
	}
	text := textBytes(16 << 10)
	dst := make([]byte, MaxEncodedLen(len(text)))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := NewEncoder(tt.mode, tt.caps)
			if tt.wantErr {
				if err == nil {
					enc.Close()
					t.Fatalf("NewEncoder succeeded; want an error, since the peer cannot decode %v", tt.mode)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewEncoder: %v", err)
			}
			defer enc.Close()
			if c, _ := enc.Encode(dst, text); c != tt.want {
				t.Fatalf("Encode chose %v, want %v", c, tt.want)
			}
		})
	}
}

func TestEncoderCloseTwice(t *testing.T) {
	enc, err := NewEncoder(Zstd, Capabilities)
	if err != nil {
		t.Fatal(err)
	}
	enc.Close()
	enc.Close()
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	dec.Close()
	dec.Close()
}

func zstdEncode(t testing.TB, raw []byte, opts ...zstd.EOption) []byte {
	t.Helper()
	z, err := zstd.NewWriter(nil, append([]zstd.EOption{zstd.WithEncoderConcurrency(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	return z.EncodeAll(raw, nil)
}

// zstdStream encodes raw as a stream encoder does, which does not know the
// size in advance: for more than a block, a frame without its content size,
// with the given window.
func zstdStream(t testing.TB, raw []byte, window int) []byte {
	t.Helper()
	var buf bytes.Buffer
	z, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(window))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := z.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	var h zstd.Header
	if err := h.Decode(buf.Bytes()); err != nil || h.HasFCS {
		t.Fatalf("the stream encoder's frame of %d bytes declares its size (%v)", len(raw), err)
	}
	return buf.Bytes()
}

// zstdSkippable is a skippable zstd frame holding four bytes.
var zstdSkippable = []byte{0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4}

func TestDecodeCorrupt(t *testing.T) {
	text := textBytes(10000)
	s2Body := s2.Encode(nil, text)
	zBody := zstdEncode(t, text)
	// Bombs: a few bytes that expand to a whole MaxChunk, sent under a small
	// RawLen; the decoder must refuse rather than produce (or allocate) it.
	s2Bomb := s2.Encode(nil, make([]byte, framing.MaxChunk))
	zBomb := zstdEncode(t, make([]byte, framing.MaxChunk))
	// Over MaxChunk, beyond what any frame may declare.
	zBigBomb := zstdEncode(t, make([]byte, 4*framing.MaxChunk))
	flipped := func(b []byte, i int) []byte {
		b = bytes.Clone(b)
		b[i] ^= 0xff
		return b
	}
	tests := []struct {
		name   string
		codec  framing.Codec
		rawLen int
		body   []byte
	}{
		{"s2 declares one less", framing.CodecS2, len(text) - 1, s2Body},
		{"s2 declares one more", framing.CodecS2, len(text) + 1, s2Body},
		{"s2 declares zero", framing.CodecS2, 0, s2Body},
		{"s2 bomb", framing.CodecS2, 100, s2Bomb},
		{"s2 truncated", framing.CodecS2, len(text), s2Body[:len(s2Body)/2]},
		{"s2 garbage", framing.CodecS2, 100, randomBytes(100, 4)},
		{"s2 empty body", framing.CodecS2, 10, nil},
		{"zstd declares one less", framing.CodecZstd, len(text) - 1, zBody},
		{"zstd declares one more", framing.CodecZstd, len(text) + 1, zBody},
		{"zstd declares zero", framing.CodecZstd, 0, zBody},
		{"zstd bomb", framing.CodecZstd, 100, zBomb},
		{"zstd bomb over MaxChunk", framing.CodecZstd, framing.MaxChunk, zBigBomb},
		{"zstd truncated", framing.CodecZstd, len(text), zBody[:len(zBody)/2]},
		{"zstd corrupted", framing.CodecZstd, len(text), flipped(zBody, len(zBody)/2)},
		{"zstd garbage", framing.CodecZstd, 100, randomBytes(100, 5)},
		{"zstd empty body", framing.CodecZstd, 10, nil},
		// One frame that declares its size is the only zstd body.
		{"zstd without its size", framing.CodecZstd, framing.MaxChunk, zstdStream(t, textBytes(framing.MaxChunk), framing.MaxChunk)},
		{"zstd small without its size, big window", framing.CodecZstd, 100, zstdStream(t, textBytes(framing.MaxChunk), 2<<10)},
		{"zstd of nothing", framing.CodecZstd, 0, zstdEncode(t, nil)},
		{"zstd two frames", framing.CodecZstd, 2 * len(text), append(bytes.Clone(zBody), zBody...)},
		{"zstd after a skippable frame", framing.CodecZstd, len(text), append(bytes.Clone(zstdSkippable), zBody...)},
		{"zstd skippable frame alone", framing.CodecZstd, 0, zstdSkippable},
		// An s2 block runs to the end of the body, and every element of it
		// writes a byte, so nothing can follow the last one.
		{"s2 with a byte after its block", framing.CodecS2, len(text), append(bytes.Clone(s2Body), 0)},
		{"s2 with a second block", framing.CodecS2, len(text), append(bytes.Clone(s2Body), s2.Encode(nil, []byte("x"))...)},
		{"none, body longer", framing.CodecNone, 3, []byte("abcd")},
		{"none, body shorter", framing.CodecNone, 5, []byte("abcd")},
		{"unknown codec", 3, 4, []byte("abcd")},
	}
	dec := newDecoder(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// dst has exactly RawLen of capacity, as the doc requires and no
			// more, so a decoder writing past RawLen would show.
			dst := make([]byte, tt.rawLen)
			got, err := dec.Decode(dst, framing.Data{Offset: 42, Codec: tt.codec, RawLen: uint32(tt.rawLen), Body: tt.body})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode = %d bytes, %v; want ErrCorrupt", len(got), err)
			}
			if got != nil {
				t.Fatalf("Decode returned %d bytes alongside its error", len(got))
			}
		})
	}
}

// TestDecodeTrailing checks that a zstd body is one frame and nothing
// after it: the decoder goes on to any frame that follows, and one that
// decodes to nothing, or a skippable one, left the output at its declared
// length.
func TestDecodeTrailing(t *testing.T) {
	text := textBytes(10000)
	zBody := zstdEncode(t, text)
	small := textBytes(100)
	zSmall := zstdStream(t, small, 1<<10)
	tests := []struct {
		name   string
		rawLen int
		body   []byte
	}{
		{"an empty frame", len(text), append(bytes.Clone(zBody), zstdEncode(t, nil)...)},
		{"a skippable frame", len(text), append(bytes.Clone(zBody), zstdSkippable...)},
		{"the same frame again", len(text), append(bytes.Clone(zBody), zBody...)},
		{"one zero byte", len(text), append(bytes.Clone(zBody), 0)},
		{"a frame's magic alone", len(text), append(bytes.Clone(zBody), 0x28, 0xb5, 0x2f, 0xfd)},
		{"an empty frame after one without its size", len(small), append(bytes.Clone(zSmall), zstdEncode(t, nil)...)},
	}
	dec := newDecoder(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dec.Decode(make([]byte, tt.rawLen), framing.Data{Offset: 42, Codec: framing.CodecZstd, RawLen: uint32(tt.rawLen), Body: tt.body})
			if !errors.Is(err, ErrTrailing) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode = %d bytes, %v; want ErrTrailing, an ErrCorrupt", len(got), err)
			}
			if got != nil {
				t.Fatalf("Decode returned %d bytes alongside its error", len(got))
			}
		})
	}
}

// TestDecodeOneFrame is the control for TestDecodeTrailing: a frame alone
// decodes, whatever its blocks are, since the decoder finds where it ends
// from its block headers.
func TestDecodeOneFrame(t *testing.T) {
	text := textBytes(framing.MaxChunk)
	tests := []struct {
		name     string
		raw      []byte
		body     []byte
		block    string // the first block's kind, so the case is what it says
		checksum bool
	}{
		{"compressed blocks, checksum", text, zstdEncode(t, text), "compressed", true},
		{"compressed blocks, no checksum", text, zstdEncode(t, text, zstd.WithEncoderCRC(false)), "compressed", false},
		{"one run of a byte", make([]byte, 5000), zstdEncode(t, make([]byte, 5000)), "rle", true},
		{"raw block", randomBytes(1000, 7), zstdEncode(t, randomBytes(1000, 7)), "raw", true},
		{"small, without its size", text[:100], zstdStream(t, text[:100], 1<<10), "compressed", true},
	}
	dec := newDecoder(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h zstd.Header
			if err := h.Decode(tt.body); err != nil || !h.FirstBlock.OK || blockKind(h) != tt.block || h.HasCheckSum != tt.checksum {
				t.Fatalf("first block is %s, checksum %v (%v); want %s, checksum %v", blockKind(h), h.HasCheckSum, err, tt.block, tt.checksum)
			}
			got, err := dec.Decode(make([]byte, len(tt.raw)), framing.Data{Codec: framing.CodecZstd, RawLen: uint32(len(tt.raw)), Body: tt.body})
			if err != nil || !bytes.Equal(got, tt.raw) {
				t.Fatalf("Decode = %d bytes, %v; want the %d bytes encoded", len(got), err, len(tt.raw))
			}
		})
	}
}

// blockKind names the kind of h's first block.
func blockKind(h zstd.Header) string {
	switch {
	case !h.FirstBlock.Compressed:
		return "raw"
	case h.FirstBlock.CompressedSize == 1 && h.FirstBlock.DecompressedSize > 0:
		return "rle"
	}
	return "compressed"
}

// TestDecodeBombAllocation checks the point of the bounded decoder: a tiny
// zstd body under a small RawLen must not make it allocate what the body
// would expand to. Counting allocations cannot tell a small one from a huge
// buffer, so this counts bytes.
func TestDecodeBombAllocation(t *testing.T) {
	const runs = 5
	tests := []struct {
		name   string
		rawLen uint32
		body   []byte
	}{
		{"declares 8 MiB", 100, zstdEncode(t, make([]byte, 8*framing.MaxChunk))},
		// Without a declared size the decoder checks its cap only after a
		// block, and a RawLen of 0 is no cap at all.
		{"declares nothing, raw length 0", 0, zstdStream(t, make([]byte, framing.MaxChunk), framing.MaxChunk)},
		{"declares nothing, raw length 1", 1, zstdStream(t, make([]byte, framing.MaxChunk), framing.MaxChunk)},
		// What a small frame may be: no declared size, the smallest window.
		{"declares nothing, smallest window", 100, zstdStream(t, make([]byte, framing.MaxChunk), 1<<10)},
		// A good small frame, then a bomb the decoder would go on to.
		{"a second frame", 100, append(zstdEncode(t, textBytes(100)), zstdStream(t, make([]byte, framing.MaxChunk), framing.MaxChunk)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A fresh decoder for each call, counted whole: the buffers a
			// decoder makes lazily are what a bomb would make it grow.
			var total uint64
			for range runs {
				dec := newDecoder(t)
				dst := make([]byte, tt.rawLen)
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				_, err := dec.Decode(dst, framing.Data{Codec: framing.CodecZstd, RawLen: tt.rawLen, Body: tt.body})
				runtime.ReadMemStats(&after)
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Decode: %v, want ErrCorrupt", err)
				}
				total += after.TotalAlloc - before.TotalAlloc
			}
			// The bombs' output is 1 to 8 MiB, a zstd block 128 KiB; a
			// fraction of that per call means the decoder is sizing
			// buffers from the body rather than from RawLen.
			if perRun := total / runs; perRun > 16<<10 {
				t.Fatalf("Decode of a zstd bomb allocated %d bytes per call", perRun)
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{"auto", Auto, false},
		{"zstd", Zstd, false},
		{"s2", S2, false},
		{"none", None, false},
		{"", 0, true},
		{"AUTO", Auto, false},
		{"Zstd", Zstd, false},
		{" none", 0, true},
		{"gzip", 0, true},
		{"snappy", 0, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			got, err := ParseMode(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrUnknownMode) {
					t.Fatalf("ParseMode = %v, %v; want ErrUnknownMode", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseMode = %v, %v; want %v", got, err, tt.want)
			}
			// The flag's value and the mode's name must agree, but for
			// case, since messages and --json show String().
			if got.String() != strings.ToLower(tt.in) {
				t.Fatalf("%v.String() = %q, want %q", got, got.String(), tt.in)
			}
		})
	}
	if s := Mode(7).String(); s != "mode(7)" {
		t.Fatalf("Mode(7).String() = %q", s)
	}
}

// FuzzDecode feeds the decoder arbitrary bodies under every codec byte and
// any RawLen a frame may declare: it must never panic and never return more
// than RawLen bytes, and whatever it accepts must be exactly RawLen long.
func FuzzDecode(f *testing.F) {
	text := textBytes(5000)
	f.Add([]byte("abc"), uint8(framing.CodecNone), uint32(3))
	f.Add(s2.Encode(nil, text), uint8(framing.CodecS2), uint32(len(text)))
	f.Add(s2.Encode(nil, text), uint8(framing.CodecS2), uint32(10))
	f.Add(s2.Encode(nil, make([]byte, framing.MaxChunk)), uint8(framing.CodecS2), uint32(framing.MaxChunk))
	f.Add(zstdEncode(f, text), uint8(framing.CodecZstd), uint32(len(text)))
	f.Add(zstdEncode(f, text), uint8(framing.CodecZstd), uint32(len(text)-1))
	f.Add(zstdEncode(f, make([]byte, 2*framing.MaxChunk)), uint8(framing.CodecZstd), uint32(framing.MaxChunk))
	f.Add([]byte{}, uint8(framing.CodecZstd), uint32(0))
	f.Add(append(zstdEncode(f, text), zstdEncode(f, nil)...), uint8(framing.CodecZstd), uint32(len(text)))
	f.Add(append(zstdEncode(f, text), zstdSkippable...), uint8(framing.CodecZstd), uint32(len(text)))
	f.Add([]byte{0xff}, uint8(7), uint32(1))
	dec := newDecoder(f)
	dst := make([]byte, framing.MaxChunk)
	f.Fuzz(func(t *testing.T, body []byte, codec uint8, rawLen uint32) {
		rawLen %= framing.MaxChunk + 1
		got, err := dec.Decode(dst[:0:rawLen], framing.Data{Codec: framing.Codec(codec), RawLen: rawLen, Body: body})
		if len(got) > int(rawLen) {
			t.Fatalf("Decode returned %d bytes for RawLen %d", len(got), rawLen)
		}
		if err == nil && len(got) != int(rawLen) {
			t.Fatalf("Decode accepted %d bytes for RawLen %d", len(got), rawLen)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Decode error %v is not ErrCorrupt", err)
		}
	})
}
