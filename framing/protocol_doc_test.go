package framing

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// protocolDoc is the wire specification this package implements.
const protocolDoc = "../PROTOCOL.md"

// docTables returns PROTOCOL.md's tables, each under the heading it
// follows, as rows of trimmed cells without the header and separator rows.
func docTables(t *testing.T) map[string][][][]string {
	t.Helper()
	text, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatal(err)
	}
	tables := make(map[string][][][]string)
	heading := ""
	var rows [][]string
	flush := func() {
		if len(rows) > 2 {
			tables[heading] = append(tables[heading], rows[2:])
		}
		rows = nil
	}
	for line := range strings.Lines(string(text)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			flush()
			heading = strings.TrimSpace(strings.TrimLeft(line, "#"))
			continue
		}
		if !strings.HasPrefix(line, "|") {
			flush()
			continue
		}
		var cells []string
		for c := range strings.SplitSeq(strings.Trim(line, "|"), "|") {
			cells = append(cells, strings.TrimSpace(c))
		}
		rows = append(rows, cells)
	}
	flush()
	return tables
}

// docTable returns the index'th table under heading.
func docTable(t *testing.T, tables map[string][][][]string, heading string, index int) [][]string {
	t.Helper()
	ts := tables[heading]
	if index >= len(ts) {
		t.Fatalf("%s: no table %d under %q", protocolDoc, index, heading)
	}
	return ts[index]
}

// docNumber reads the number that starts a cell, as the document writes
// it: decimal with thousands commas, or hex after 0x.
func docNumber(t *testing.T, cell string) uint64 {
	t.Helper()
	s, _, _ := strings.Cut(cell, " ")
	s = strings.ReplaceAll(strings.Trim(s, "`"), ",", "")
	n, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		t.Fatalf("%s: %q is not a number", protocolDoc, s)
	}
	return n
}

// TestProtocolDocTypes checks the frame type table against the Type
// constants: every type this package knows is listed once, under its name.
func TestProtocolDocTypes(t *testing.T) {
	rows := docTable(t, docTables(t), "1. Frames", 2)
	seen := make(map[Type]bool)
	for _, r := range rows {
		typ := Type(docNumber(t, r[0]))
		if seen[typ] {
			t.Errorf("type %s listed twice", r[0])
		}
		seen[typ] = true
		if typ.String() != r[1] {
			t.Errorf("type %s is %q in the document, %q here", r[0], r[1], typ)
		}
	}
	for n := range 256 {
		typ := Type(n)
		if !strings.HasPrefix(typ.String(), "unknown") && !seen[typ] {
			t.Errorf("type %s (0x%02x) missing from the document", typ, n)
		}
	}
}

// TestProtocolDocConstants checks the limits, capability bits and error
// codes the document gives against this package's constants.
func TestProtocolDocConstants(t *testing.T) {
	tables := docTables(t)
	limits := map[string]uint64{
		"`MaxChunk`":            MaxChunk,
		"`MaxPayload`":          MaxPayload,
		"`MaxHandshakePayload`": MaxHandshakePayload,
		"`MaxName`":             MaxName,
		"`MaxMessage`":          MaxMessage,
	}
	caps := map[string]uint64{"`CapZstd`": uint64(CapZstd), "`CapS2`": uint64(CapS2), "`CapSecure`": uint64(CapSecure), "`CapResume`": uint64(CapResume), "`CapStreams`": uint64(CapStreams)}
	codes := map[string]uint16{
		"internal": CodeInternal, "protocol": CodeProtocol, "version": CodeVersion,
		"exists": CodeExists, "no space": CodeNoSpace, "permission": CodePermission,
		"checksum": CodeChecksum, "bad name": CodeBadName, "unsupported": CodeUnsupported,
		"source": CodeSource, "auth": CodeAuth, "conflict": CodeConflict,
	}
	codeValues := make(map[string]uint64)
	for name, code := range codes {
		codeValues[name] = uint64(code)
	}
	for _, c := range []struct {
		heading  string
		index    int
		key, val int // the columns of the name and of the number
		want     map[string]uint64
	}{
		{"1. Frames", 1, 0, 1, limits},
		{"2.1 hello", 1, 2, 1, caps},
		{"2.8 error", 1, 1, 0, codeValues},
	} {
		found := 0
		for _, r := range docTable(t, tables, c.heading, c.index) {
			want, ok := c.want[r[c.key]]
			if !ok {
				continue
			}
			found++
			if got := docNumber(t, r[c.val]); got != want {
				t.Errorf("%s: %s is %d in the document, %d here", c.heading, r[c.key], got, want)
			}
		}
		if found != len(c.want) {
			t.Errorf("%s: the document gives %d of the %d values", c.heading, found, len(c.want))
		}
	}
}

// TestProtocolDocLayouts checks each payload's layout table: its fields
// follow each other without a gap, and its fixed part is as long as what
// the encoder writes for a value whose variable parts are empty. The
// golden files pin the bytes themselves.
func TestProtocolDocLayouts(t *testing.T) {
	tables := docTables(t)
	for _, c := range []struct {
		heading string
		fixed   int
	}{
		{"1. Frames", HeaderLen},
		{"2.1 hello", len(AppendHello(nil, Hello{}))},
		{"2.2 offer", len(AppendOffer(nil, Offer{}))},
		{"2.3 file", len(AppendFile(nil, File{}))},
		{"2.4 data", len(AppendData(nil, Data{}))},
		{"2.5 end", len(AppendEnd(nil, End{}))},
		{"2.6 done and complete", len(AppendTotals(nil, Totals{}))},
		{"2.7 ack", len(AppendAck(nil, Ack{}))},
		{"2.8 error", len(AppendError(nil, ErrorMsg{}))},
		{"2.12 join: parallel streams", len(AppendJoin(nil, Join{}))},
	} {
		t.Run(c.heading, func(t *testing.T) {
			next, variable := 0, false
			for _, r := range docTable(t, tables, c.heading, 0) {
				if variable {
					t.Fatalf("field %q follows one of variable size", r[2])
				}
				if off := int(docNumber(t, r[0])); off != next {
					t.Fatalf("field %q at offset %d, want %d", r[2], off, next)
				}
				size, err := strconv.Atoi(r[1])
				if err != nil {
					variable = true
					continue
				}
				next += size
			}
			if next != c.fixed {
				t.Errorf("fixed fields of %d bytes in the document, %d here", next, c.fixed)
			}
		})
	}
}

// TestProtocolDocFixedLengths checks the frame type table's payload
// lengths against the encoders, for the types of a fixed length.
func TestProtocolDocFixedLengths(t *testing.T) {
	lengths := map[Type]int{
		TypeOffer:    len(AppendOffer(nil, Offer{})),
		TypeEnd:      len(AppendEnd(nil, End{})),
		TypeDone:     len(AppendTotals(nil, Totals{})),
		TypeAck:      len(AppendAck(nil, Ack{})),
		TypeComplete: len(AppendTotals(nil, Totals{})),
		TypeJoin:     len(AppendJoin(nil, Join{})),
	}
	fixed := regexp.MustCompile(`^section [0-9.]+, ([0-9]+) bytes$`)
	for _, r := range docTable(t, docTables(t), "1. Frames", 2) {
		typ := Type(docNumber(t, r[0]))
		want, ok := lengths[typ]
		if !ok {
			continue
		}
		if got := fixed.FindStringSubmatch(r[3]); got == nil || got[1] != fmt.Sprint(want) {
			t.Errorf("%s: the document says %q, the payload is %d bytes", typ, r[3], want)
		}
	}
}
