package framing

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the values in goldenCases")

func same[T comparable](a, b T) bool { return a == b }

// dataEqual compares by content: a parsed body is a non-nil slice of the
// payload even when empty, which reflect.DeepEqual would tell apart from nil.
func dataEqual(a, b Data) bool {
	return a.Offset == b.Offset && a.Codec == b.Codec && a.RawLen == b.RawLen && bytes.Equal(a.Body, b.Body)
}

// checkRoundTrip encodes v after a non-empty prefix, because senders append
// payloads to a buffer that already holds a frame header.
func checkRoundTrip[T any](t *testing.T, v T, enc func([]byte, T) []byte, dec func([]byte) (T, error), eq func(a, b T) bool, wantLen int) {
	t.Helper()
	prefix := []byte("prefix")
	b := enc(slices.Clone(prefix), v)
	if !bytes.HasPrefix(b, prefix) {
		t.Fatalf("encoding overwrote the bytes already in dst: %x", b)
	}
	p := b[len(prefix):]
	if len(p) != wantLen {
		t.Fatalf("payload is %d bytes, want %d: %x", len(p), wantLen, p)
	}
	got, err := dec(p)
	if err != nil {
		t.Fatalf("parse %x: %v", p, err)
	}
	if !eq(got, v) {
		t.Fatalf("round trip = %+v, want %+v", got, v)
	}
}

func TestHelloRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		h    Hello
	}{
		{"sender", Hello{Version: Version, Role: RoleSender, Capabilities: CapZstd | CapS2}},
		{"receiver no caps", Hello{Version: Version, Role: RoleReceiver}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRoundTrip(t, tt.h, AppendHello, ParseHello, same, 11)
		})
	}
}

// TestHelloOtherVersion checks that a hello of another version parses to
// its version alone, whatever its own layout, so the caller can answer
// CodeVersion rather than call it malformed.
func TestHelloOtherVersion(t *testing.T) {
	tests := []struct {
		name string
		p    []byte
	}{
		{"version 1 layout", AppendHello(nil, Hello{Version: 255, Role: RoleReceiver, Capabilities: 0xFFFFFFFF})},
		{"version byte only", []byte("ferry\x02")},
		{"unknown role", []byte("ferry\x02\x03\x00\x00\x00\x00")},
		{"shorter fields", []byte("ferry\x02\x01")},
		{"version 0", []byte("ferry\x00\x01\x00\x00\x00\x00")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseHello(tt.p)
			if want := (Hello{Version: tt.p[len(Magic)]}); err != nil || got != want {
				t.Fatalf("ParseHello = %+v, %v; want %+v", got, err, want)
			}
		})
	}
}

func TestHelloIgnoresExtension(t *testing.T) {
	h := Hello{Version: Version, Role: RoleSender, Capabilities: CapS2}
	for _, ext := range [][]byte{{0}, []byte("ferry"), bytes.Repeat([]byte{0xff}, 1000)} {
		p := append(AppendHello(nil, h), ext...)
		got, err := ParseHello(p)
		if err != nil {
			t.Fatalf("hello with %d extension bytes: %v", len(ext), err)
		}
		if got != h {
			t.Fatalf("hello with %d extension bytes = %+v, want %+v", len(ext), got, h)
		}
	}
}

func TestOfferRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		o    Offer
	}{
		{"zero", Offer{}},
		{"typical", Offer{Files: 3, Bytes: 1 << 33}},
		{"unknown size", Offer{Files: 1, Bytes: UnknownSize}},
		{"max", Offer{Files: 0xFFFFFFFF, Bytes: 0xFFFFFFFFFFFFFFFE}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRoundTrip(t, tt.o, AppendOffer, ParseOffer, same, 12)
		})
	}
}

func TestFileRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		f    File
	}{
		{"one byte name", File{Name: "a"}},
		{"typical", File{Index: 7, Kind: KindRegular, Mode: 0o644, ModTime: 1_700_000_000_123_456_789, Size: 4096, Name: "dir/file.txt"}},
		{"utf-8 name", File{Index: 1, Mode: 0o4755, Size: 1, Name: "résumé/日本語/😀"}},
		// ModTime travels as the bits of a u64, so times before 1970 must survive.
		{"before epoch", File{ModTime: -1, Name: "old"}},
		{"min time", File{ModTime: -1 << 63, Name: "older"}},
		{"stream", File{Index: 0xFFFFFFFF, Kind: KindSymlink, Mode: 0xFFFFFFFF, Size: UnknownSize, Name: "-"}},
		{"max name", File{Kind: KindDir, Name: strings.Repeat("n", MaxName)}},
		{"max name multibyte", File{Name: strings.Repeat("€", MaxName/3) + "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRoundTrip(t, tt.f, AppendFile, ParseFile, same, fileFixedLen+len(tt.f.Name))
		})
	}
}

func TestDataRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		d    Data
	}{
		{"empty", Data{}},
		{"raw", Data{Offset: 1 << 20, Codec: CodecNone, RawLen: 5, Body: []byte("hello")}},
		{"raw max chunk", Data{Offset: UnknownSize - MaxChunk, RawLen: MaxChunk, Body: pattern(MaxChunk, 9)}},
		{"zstd", Data{Codec: CodecZstd, RawLen: MaxChunk, Body: []byte{0x28, 0xb5, 0x2f, 0xfd}}},
		{"s2 empty body", Data{Codec: CodecS2, RawLen: 0, Body: []byte{}}},
		// A compressed body may exceed the raw length when data is incompressible.
		{"s2 expanded", Data{Codec: CodecS2, RawLen: 3, Body: pattern(40, 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRoundTrip(t, tt.d, AppendData, ParseData, dataEqual, DataHeaderLen+len(tt.d.Body))
		})
	}
}

// TestDataBodyAliases holds ParseData to its documented zero-copy contract:
// the receiver decodes chunks straight out of the Reader's buffer.
func TestDataBodyAliases(t *testing.T) {
	p := AppendData(nil, Data{RawLen: 3, Body: []byte("abc")})
	d, err := ParseData(p)
	if err != nil {
		t.Fatal(err)
	}
	if &d.Body[0] != &p[DataHeaderLen] {
		t.Fatal("Body is a copy, not a slice of the payload")
	}
}

func TestEndRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		e    End
	}{
		{"empty file", End{Algorithm: ChecksumCRC32C}},
		{"typical", End{Size: 9, Algorithm: ChecksumCRC32C, Digest: 0xE3069283}},
		{"max", End{Size: 0xFFFFFFFFFFFFFFFF, Algorithm: ChecksumCRC32C, Digest: 0xFFFFFFFF}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRoundTrip(t, tt.e, AppendEnd, ParseEnd, same, 13)
		})
	}
}

func TestTotalsRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		v    Totals
	}{
		{"zero", Totals{}},
		{"typical", Totals{Files: 3, Bytes: 123_456_789}},
		{"max", Totals{Files: 0xFFFFFFFF, Bytes: 0xFFFFFFFFFFFFFFFF}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRoundTrip(t, tt.v, AppendTotals, ParseTotals, same, 12)
		})
	}
}

func TestAckRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		a    Ack
	}{
		{"zero", Ack{}},
		{"typical", Ack{Index: 7, Size: 4096}},
		{"max", Ack{Index: 0xFFFFFFFF, Size: 0xFFFFFFFFFFFFFFFF}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRoundTrip(t, tt.a, AppendAck, ParseAck, same, 12)
		})
	}
}

func TestErrorRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		e    ErrorMsg
	}{
		{"empty message", ErrorMsg{Code: CodeInternal}},
		{"typical", ErrorMsg{Code: CodeNoSpace, Message: "no space left on device"}},
		{"utf-8", ErrorMsg{Code: CodeBadName, Message: "nom refusé: «../x»"}},
		{"max message", ErrorMsg{Code: 0xFFFF, Message: strings.Repeat("m", MaxMessage)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRoundTrip(t, tt.e, AppendError, ParseError, same, 2+len(tt.e.Message))
		})
	}
}

func TestAbortRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		reason string
	}{
		{"empty", ""},
		{"typical", "interrupted"},
		{"utf-8", "中断されました"},
		{"max", strings.Repeat("r", MaxMessage)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRoundTrip(t, tt.reason, AppendAbort, ParseAbort, same, len(tt.reason))
		})
	}
}

// filePayload builds a file payload whose name-length field and name bytes
// are chosen independently, which AppendFile cannot produce.
func filePayload(nameLen uint16, name []byte) []byte {
	p := AppendFile(nil, File{Index: 1, Mode: 0o600, Size: 3, Name: "x"})
	p = p[:fileFixedLen-2]
	p = binary.BigEndian.AppendUint16(p, nameLen)
	return append(p, name...)
}

func dataPayload(codec Codec, rawLen uint32, body []byte) []byte {
	p := binary.BigEndian.AppendUint64(nil, 0)
	p = append(p, byte(codec))
	p = binary.BigEndian.AppendUint32(p, rawLen)
	return append(p, body...)
}

func TestParseMalformed(t *testing.T) {
	type malformed struct {
		name string
		p    []byte
		want error // ErrMalformed or ErrNotFerry
	}
	hello := AppendHello(nil, Hello{Version: Version, Role: RoleSender})
	withRole := func(r byte) []byte { p := slices.Clone(hello); p[6] = r; return p }
	end := func(alg byte) []byte { return AppendEnd(nil, End{Size: 1, Algorithm: alg, Digest: 2}) }
	ascii := func(n int) []byte { return bytes.Repeat([]byte("x"), n) }
	twelve := ascii(12)
	bad := []byte("ok \xff")

	parsers := []struct {
		name  string
		parse func([]byte) error
		cases []malformed
	}{
		{"hello", func(p []byte) error { _, err := ParseHello(p); return err }, []malformed{
			{"empty", nil, ErrNotFerry},
			{"short magic", []byte("ferr"), ErrNotFerry},
			{"bad magic", append([]byte("FERRY"), hello[5:]...), ErrNotFerry},
			{"http", []byte("GET / HTTP/1.1\r\n"), ErrNotFerry},
			{"magic only", []byte("ferry"), ErrMalformed},
			{"one short", hello[:10], ErrMalformed},
			{"role 0", withRole(0), ErrMalformed},
			{"role 3", withRole(3), ErrMalformed},
			{"role 255", withRole(255), ErrMalformed},
		}},
		{"offer", func(p []byte) error { _, err := ParseOffer(p); return err }, []malformed{
			{"empty", nil, ErrMalformed},
			{"short", twelve[:11], ErrMalformed},
			{"long", ascii(13), ErrMalformed},
		}},
		{"file", func(p []byte) error { _, err := ParseFile(p); return err }, []malformed{
			{"empty", nil, ErrMalformed},
			{"short fixed fields", filePayload(0, nil)[:fileFixedLen-1], ErrMalformed},
			{"length over name", filePayload(4, []byte("abc")), ErrMalformed},
			{"length under name", filePayload(2, []byte("abc")), ErrMalformed},
			{"length with no name", filePayload(1, nil), ErrMalformed},
			{"max length with no name", filePayload(0xFFFF, nil), ErrMalformed},
			{"name over MaxName", filePayload(MaxName+1, ascii(MaxName+1)), ErrMalformed},
			{"name at u16 limit", filePayload(0xFFFF, ascii(0xFFFF)), ErrMalformed},
		}},
		{"data", func(p []byte) error { _, err := ParseData(p); return err }, []malformed{
			{"empty", nil, ErrMalformed},
			{"short header", dataPayload(CodecNone, 0, nil)[:DataHeaderLen-1], ErrMalformed},
			{"raw over MaxChunk", dataPayload(CodecS2, MaxChunk+1, []byte{1}), ErrMalformed},
			{"raw 0xffffffff", dataPayload(CodecZstd, 0xFFFFFFFF, []byte{1}), ErrMalformed},
			{"raw over MaxChunk uncompressed", dataPayload(CodecNone, MaxChunk+1, make([]byte, MaxChunk+1)), ErrMalformed},
			{"codec 3", dataPayload(3, 1, []byte{1}), ErrMalformed},
			{"codec 255", dataPayload(255, 1, []byte{1}), ErrMalformed},
			{"none, raw over body", dataPayload(CodecNone, 4, []byte("abc")), ErrMalformed},
			{"none, raw under body", dataPayload(CodecNone, 2, []byte("abc")), ErrMalformed},
			{"none, raw with no body", dataPayload(CodecNone, 1, nil), ErrMalformed},
		}},
		{"end", func(p []byte) error { _, err := ParseEnd(p); return err }, []malformed{
			{"empty", nil, ErrMalformed},
			{"short", end(ChecksumCRC32C)[:12], ErrMalformed},
			{"long", append(end(ChecksumCRC32C), 0), ErrMalformed},
			{"algorithm 0", end(0), ErrMalformed},
			{"algorithm 2", end(2), ErrMalformed},
			{"algorithm 255", end(255), ErrMalformed},
		}},
		{"totals", func(p []byte) error { _, err := ParseTotals(p); return err }, []malformed{
			{"empty", nil, ErrMalformed},
			{"short", twelve[:11], ErrMalformed},
			{"long", ascii(13), ErrMalformed},
		}},
		{"ack", func(p []byte) error { _, err := ParseAck(p); return err }, []malformed{
			{"empty", nil, ErrMalformed},
			{"short", twelve[:11], ErrMalformed},
			{"long", ascii(13), ErrMalformed},
		}},
		{"error", func(p []byte) error { _, err := ParseError(p); return err }, []malformed{
			{"empty", nil, ErrMalformed},
			{"code cut", []byte{0}, ErrMalformed},
			{"message over MaxMessage", append([]byte{0, 1}, ascii(MaxMessage+1)...), ErrMalformed},
			{"invalid byte", append([]byte{0, 1}, bad...), ErrMalformed},
			{"cut rune", append([]byte{0, 1}, "é"[:1]...), ErrMalformed},
		}},
		{"abort", func(p []byte) error { _, err := ParseAbort(p); return err }, []malformed{
			{"over MaxMessage", ascii(MaxMessage + 1), ErrMalformed},
			{"invalid byte", bad, ErrMalformed},
			{"cut rune", []byte("stop" + "€"[:2]), ErrMalformed},
		}},
		{"ping", ParsePing, []malformed{
			{"one byte", []byte{0}, ErrMalformed},
			{"MaxPayload", make([]byte, MaxPayload), ErrMalformed},
		}},
	}
	for _, pr := range parsers {
		t.Run(pr.name, func(t *testing.T) {
			for _, tc := range pr.cases {
				t.Run(tc.name, func(t *testing.T) {
					err := pr.parse(tc.p)
					if !errors.Is(err, tc.want) {
						t.Fatalf("parse %q: err = %v, want %v", abbrev(tc.p), err, tc.want)
					}
					// The two are reported differently to the user: "not a
					// ferry peer" versus a protocol error from a ferry peer.
					other := ErrNotFerry
					if tc.want == ErrNotFerry {
						other = ErrMalformed
					}
					if errors.Is(err, other) {
						t.Fatalf("parse %q: err = %v is also %v", abbrev(tc.p), err, other)
					}
				})
			}
		})
	}
}

func abbrev(p []byte) []byte {
	if len(p) > 40 {
		return p[:40]
	}
	return p
}

func TestAppendTextTruncates(t *testing.T) {
	a := strings.Repeat
	tests := []struct {
		name string
		in   string
		want int // bytes kept
	}{
		{"short", "disk full", 9},
		{"exactly max", a("a", MaxMessage), MaxMessage},
		{"one over", a("a", MaxMessage+1), MaxMessage},
		{"far over", a("a", 10*MaxMessage), MaxMessage},
		{"rune ends at limit", a("a", MaxMessage-2) + "é" + "tail", MaxMessage},
		{"2-byte rune across limit", a("a", MaxMessage-1) + "é", MaxMessage - 1},
		{"3-byte rune across limit", a("a", MaxMessage-2) + "€", MaxMessage - 2},
		{"4-byte rune, 1 byte in", a("a", MaxMessage-1) + "😀", MaxMessage - 1},
		{"4-byte rune, 3 bytes in", a("a", MaxMessage-3) + "😀", MaxMessage - 3},
		{"all 3-byte runes", a("€", 400), MaxMessage / 3 * 3},
		{"all 4-byte runes", a("😀", 300), MaxMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.in[:tt.want]
			if !utf8.ValidString(want) {
				t.Fatalf("bad test case: %d-byte prefix is not UTF-8", tt.want)
			}
			p := AppendError(nil, ErrorMsg{Code: CodeSource, Message: tt.in})
			e, err := ParseError(p)
			if err != nil {
				t.Fatalf("AppendError produced a payload ParseError rejects: %v", err)
			}
			if e.Code != CodeSource || e.Message != want {
				t.Fatalf("error message kept %d bytes, want %d", len(e.Message), tt.want)
			}
			reason, err := ParseAbort(AppendAbort(nil, tt.in))
			if err != nil {
				t.Fatalf("AppendAbort produced a payload ParseAbort rejects: %v", err)
			}
			if reason != want {
				t.Fatalf("abort reason kept %d bytes, want %d", len(reason), tt.want)
			}
		})
	}
}

func TestPutDataHeader(t *testing.T) {
	tests := []struct {
		name string
		d    Data
	}{
		{"empty", Data{}},
		{"raw", Data{Offset: 0x0102030405060708, Codec: CodecNone, RawLen: 5, Body: []byte("hello")}},
		{"s2", Data{Offset: 1 << 40, Codec: CodecS2, RawLen: MaxChunk, Body: pattern(1000, 7)}},
		{"max chunk", Data{Offset: 3 * MaxChunk, RawLen: MaxChunk, Body: pattern(MaxChunk, 8)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := AppendData(nil, tt.d)
			// Junk in the header area shows any byte PutDataHeader leaves unwritten.
			payload := bytes.Repeat([]byte{0xAA}, DataHeaderLen+len(tt.d.Body))
			copy(payload[DataHeaderLen:], tt.d.Body)
			PutDataHeader(payload, tt.d)
			if !bytes.Equal(payload, want) {
				t.Fatalf("PutDataHeader header = %x, AppendData header = %x", payload[:DataHeaderLen], want[:DataHeaderLen])
			}
		})
	}
}

func TestCodecString(t *testing.T) {
	for c, want := range map[Codec]string{CodecNone: "none", CodecZstd: "zstd", CodecS2: "s2", 3: "codec(3)", 255: "codec(255)"} {
		if got := c.String(); got != want {
			t.Errorf("Codec(%d).String() = %q, want %q", uint8(c), got, want)
		}
	}
}

// goldenCase ties a frame type to one fixed value and its Append/Parse pair.
type goldenCase struct {
	name   string // testdata/<name>.golden
	typ    Type
	encode func() []byte                                // the fixed value's payload
	decode func(p []byte) (reencoded []byte, err error) // parse, compare with the fixed value, encode again
}

func newGolden[T any](name string, typ Type, v T, enc func([]byte, T) []byte, dec func([]byte) (T, error), eq func(a, b T) bool) goldenCase {
	return goldenCase{
		name:   name,
		typ:    typ,
		encode: func() []byte { return enc(nil, v) },
		decode: func(p []byte) ([]byte, error) {
			got, err := dec(p)
			if err != nil {
				return nil, err
			}
			// Compared here too, since a decoder bug mirrored by the encoder
			// would still reproduce the file's bytes.
			if !eq(got, v) {
				return nil, errors.New("decoded value differs from the fixed value")
			}
			return enc(nil, got), nil
		},
	}
}

func parsePing(p []byte) (struct{}, error) {
	return struct{}{}, ParsePing(p)
}

// goldenCases are the fixed values behind testdata/*.golden, one per frame
// type and one per data codec family. The fuzz targets seed from them too.
func goldenCases() []goldenCase {
	return []goldenCase{
		newGolden("hello", TypeHello, Hello{Version: Version, Role: RoleSender, Capabilities: CapZstd | CapS2}, AppendHello, ParseHello, same),
		newGolden("offer", TypeOffer, Offer{Files: 3, Bytes: 0x0000_0123_4567_89ab}, AppendOffer, ParseOffer, same),
		newGolden("file", TypeFile, File{Index: 2, Kind: KindRegular, Mode: 0o644, ModTime: 1_700_000_000_123_456_789, Size: 4096, Name: "docs/résumé.txt"}, AppendFile, ParseFile, same),
		newGolden("data-none", TypeData, Data{Offset: 1 << 20, Codec: CodecNone, RawLen: 13, Body: []byte("hello, ferry\n")}, AppendData, ParseData, dataEqual),
		// 64 bytes of "a", as ferry's s2 and zstd encoders write them
		// (codec's TestGoldenData decodes both).
		newGolden("data-s2", TypeData, Data{Offset: 0, Codec: CodecS2, RawLen: 64, Body: []byte{0x40, 0x00, 0x61, 0xfa, 0x01, 0x00}}, AppendData, ParseData, dataEqual),
		newGolden("data-zstd", TypeData, Data{Offset: 0, Codec: CodecZstd, RawLen: 64, Body: []byte{0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x00, 0x03, 0x02, 0x00, 0x61, 0xe2, 0x22, 0x93, 0xaa}}, AppendData, ParseData, dataEqual),
		newGolden("end", TypeEnd, End{Size: 9, Algorithm: ChecksumCRC32C, Digest: 0xe3069283}, AppendEnd, ParseEnd, same),
		newGolden("done", TypeDone, Totals{Files: 3, Bytes: 0x0000_0123_4567_89ab}, AppendTotals, ParseTotals, same),
		newGolden("ack", TypeAck, Ack{Index: 2, Size: 4096}, AppendAck, ParseAck, same),
		newGolden("complete", TypeComplete, Totals{Files: 3, Bytes: 0x0000_0123_4567_89ab}, AppendTotals, ParseTotals, same),
		newGolden("error", TypeError, ErrorMsg{Code: CodeNoSpace, Message: "no space left on device"}, AppendError, ParseError, same),
		newGolden("abort", TypeAbort, "interrupted by user", AppendAbort, ParseAbort, same),
		newGolden("ping", TypePing, struct{}{}, func(dst []byte, _ struct{}) []byte { return dst }, parsePing, same),
		newGolden("check", TypeCheck, []CheckEntry{
			{Index: 2, Size: 4096, ModTime: 1_700_000_000_123_456_789, Name: "docs/résumé.txt"},
			{Index: 5, Size: 1 << 30, ModTime: -1, Name: "big.iso"},
		}, AppendCheck, ParseCheck, slices.Equal),
		newGolden("holds", TypeHolds, []Held{
			{Index: 2, State: HeldPartial, Length: 1024, Digest: [32]byte{0: 0xe3, 31: 0x55}},
			{Index: 5, State: HeldRefused, Code: CodeExists},
		}, AppendHolds, ParseHolds, slices.Equal),
		newGolden("skip", TypeSkip, Skip{Index: 7, Reason: SkipHeld}, AppendSkip, ParseSkip, same),
		newGolden("resume", TypeResume, Resume{Index: 2, Offset: 1024}, AppendResume, ParseResume, same),
		newGolden("join", TypeJoin, Join{Token: [TokenLen]byte{0: 0x5a, 7: 0x01, 15: 0xc3}, N: 4}, AppendJoin, ParseJoin, same),
	}
}

// formatGolden writes a frame as the golden files hold it: lowercase hex, the
// header on the first line as "tt llllllll" (type byte, big-endian payload
// length), then the payload 16 bytes a line, bytes separated by spaces.
// Whitespace carries no meaning to parseGolden; it is there for reviewers.
func formatGolden(frame []byte) string {
	var b strings.Builder
	b.WriteString(hex.EncodeToString(frame[:1]) + " " + hex.EncodeToString(frame[1:HeaderLen]) + "\n")
	for line := range slices.Chunk(frame[HeaderLen:], 16) {
		hexes := make([]string, len(line))
		for i, c := range line {
			hexes[i] = hex.EncodeToString([]byte{c})
		}
		b.WriteString(strings.Join(hexes, " ") + "\n")
	}
	return b.String()
}

func parseGolden(text string) ([]byte, error) {
	return hex.DecodeString(strings.Join(strings.Fields(text), ""))
}

func TestGolden(t *testing.T) {
	cases := goldenCases()
	if *update {
		for _, c := range cases {
			path := filepath.Join("testdata", c.name+".golden")
			if err := os.WriteFile(path, []byte(formatGolden(AppendFrame(nil, c.typ, c.encode()))), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join("testdata", c.name+".golden"))
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			file, err := parseGolden(string(text))
			if err != nil {
				t.Fatalf("golden file is not hex: %v", err)
			}
			r := NewReader(bytes.NewReader(file))
			typ, p, err := r.ReadFrame()
			if err != nil {
				t.Fatalf("ReadFrame: %v", err)
			}
			if typ != c.typ {
				t.Fatalf("frame type %v, want %v", typ, c.typ)
			}
			if _, _, err := r.ReadFrame(); err != io.EOF {
				t.Fatalf("bytes after the frame: err = %v, want io.EOF", err)
			}
			payload, err := c.decode(p)
			if err != nil {
				t.Fatalf("decode %x: %v", p, err)
			}
			got := AppendFrame(nil, c.typ, payload)
			if !bytes.Equal(got, file) {
				t.Fatalf("re-encoded frame differs from the golden file:\n got %x\nwant %x", got, file)
			}
			// Keeps the files in the documented layout, so a hand edit
			// that still decodes does not drift from what -update writes.
			if formatGolden(got) != string(text) {
				t.Fatalf("golden file is not in canonical form; want:\n%s", formatGolden(got))
			}
		})
	}
	t.Run("no stale files", func(t *testing.T) {
		files, err := filepath.Glob(filepath.Join("testdata", "*.golden"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range cases {
			names = append(names, filepath.Join("testdata", c.name+".golden"))
		}
		slices.Sort(names)
		if !reflect.DeepEqual(files, names) {
			t.Fatalf("testdata holds %v, the test knows %v", files, names)
		}
	})
}
