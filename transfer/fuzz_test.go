package transfer_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/codec"
)

// FuzzReceive drives the real receiver, over loopback, with any stream a
// plain-mode sender could send: it must end without panicking, whatever
// the frames, create nothing outside its directory and leave no
// temporary file there. The seeds are well-formed transfers, so mutations
// reach past the hello into the offer, entries and data.
func FuzzReceive(f *testing.F) {
	hello := helloFrame(framing.RoleSender, framing.Version)
	done := func(files uint32, n uint64) []byte { return totalsFrame(framing.TypeDone, files, n) }
	f.Add(cat(hello, offerFrame(1, 3), fileFrame(0, "f", 3), rawData(0, "abc"), endFrame(3, crc("abc")), done(1, 3)))
	f.Add(cat(hello, offerFrame(3, 3),
		fileFrameKind(0, "d", 0, framing.KindDir), endFrame(0, 0),
		fileFrame(1, "d/f", 3), rawData(0, "abc"), endFrame(3, crc("abc")),
		fileFrame(2, "d/empty", 0), endFrame(0, crc("")),
		done(3, 3)))
	f.Add(cat(hello, offerFrame(1, framing.UnknownSize), fileFrame(0, "stdin", framing.UnknownSize), rawData(0, "ab"), rawData(2, "c"), endFrame(3, crc("abc")), done(1, 3)))
	text := strings.Repeat("ferry ", 200)
	for _, mode := range []codec.Mode{codec.Zstd, codec.S2} {
		c, body := compressed(f, mode, []byte(text))
		f.Add(cat(hello, offerFrame(1, uint64(len(text))), fileFrame(0, "z", uint64(len(text))), dataFrame(0, c, len(text), body), endFrame(uint64(len(text)), crc(text)), done(1, uint64(len(text)))))
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		sink, dir := newDirSink(t, false)
		_, _ = pathSend(t, sink, stream)
		noTempFiles(t, dir)
		for _, p := range tree(t, filepath.Dir(dir)) {
			if !strings.HasPrefix(p, "recv/") {
				t.Errorf("%s was created next to the receiving directory", p)
			}
		}
	})
}
