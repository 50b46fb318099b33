package codec

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferrytool/ferry/framing"
)

// TestGoldenData decodes the data frames among framing's golden files
// (framing/testdata), which a re-encoding test alone would take as they
// are: each body must decode to exactly its raw length, 64 bytes of "a".
func TestGoldenData(t *testing.T) {
	for _, name := range []string{"data-none", "data-s2", "data-zstd"} {
		t.Run(name, func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join("..", "..", "framing", "testdata", name+".golden"))
			if err != nil {
				t.Fatal(err)
			}
			frame, err := hex.DecodeString(strings.Join(strings.Fields(string(text)), ""))
			if err != nil {
				t.Fatal(err)
			}
			typ, p, err := framing.NewReader(bytes.NewReader(frame)).ReadFrame()
			if err != nil || typ != framing.TypeData {
				t.Fatalf("ReadFrame = %v, %v; want a data frame", typ, err)
			}
			d, err := framing.ParseData(p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := newDecoder(t).Decode(make([]byte, d.RawLen), d)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if d.Codec != framing.CodecNone && !bytes.Equal(got, bytes.Repeat([]byte("a"), 64)) {
				t.Fatalf("decodes to %q, want 64 bytes of \"a\"", got)
			}
			if len(got) != int(d.RawLen) {
				t.Fatalf("decodes to %d bytes, frame says %d", len(got), d.RawLen)
			}
		})
	}
}
