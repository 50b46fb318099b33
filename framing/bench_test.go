package framing

import (
	"bytes"
	"testing"
)

// BenchmarkReadFrame reads a 64 KiB data frame and a ping per iteration
// with a Reader whose buffer is already sized. The target is 0 allocs/op:
// a receiver reads a frame per chunk, so an allocation per frame would be
// garbage in proportion to the whole transfer.
func BenchmarkReadFrame(b *testing.B) {
	stream := encodeFrames(frame{TypeData, pattern(64<<10, 1)}, frame{TypePing, nil})
	br := bytes.NewReader(stream)
	r := NewReader(br)
	read := func() {
		br.Reset(stream)
		for range 2 {
			if _, _, err := r.ReadFrame(); err != nil {
				b.Fatal(err)
			}
		}
	}
	// The first frame sizes the buffer; reading it before the loop leaves
	// that out, so allocs/op is the steady state even at -benchtime 1x.
	read()
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		read()
	}
}

// BenchmarkReadBufferGrowth reads growingFrames per iteration into an
// empty buffer, as on a new connection, so allocs/op is the number of times
// the buffer was reallocated: the target is 16 at most, 13 sizes up to 4096
// bytes and one for each large frame.
func BenchmarkReadBufferGrowth(b *testing.B) {
	frames := growingFrames()
	stream := encodeFrames(frames...)
	br := bytes.NewReader(stream)
	r := NewReader(br)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		br.Reset(stream)
		r.buf = nil
		for range frames {
			if _, _, err := r.ReadFrame(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
