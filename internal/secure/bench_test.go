package secure

import (
	"testing"

	"github.com/ferrytool/ferry/framing"
)

// BenchmarkSealOpen seals and opens one 256 KiB data frame, the size
// ferry's sender uses, per iteration: the whole per-frame cost of the
// encrypted mode on one machine. The target is 0 allocs/op: Seal works in
// place in the payload's spare capacity and Open reuses its buffer, so a
// transfer makes no garbage per frame.
func BenchmarkSealOpen(b *testing.B) {
	const size = 256 << 10
	for _, c := range ciphers {
		b.Run(c.String(), func(b *testing.B) {
			s, r := sessionPair(b, c)
			buf := make([]byte, size, size+Overhead)
			frame := func() {
				sealed, err := s.Seal(framing.TypeData, buf[:size], false)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := r.Open(framing.TypeData, sealed); err != nil {
					b.Fatal(err)
				}
			}
			// Open grows its buffer for the first frame; one frame before
			// the loop leaves that out, so allocs/op is the steady state
			// even at -benchtime 1x.
			frame()
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				frame()
			}
		})
	}
}

// BenchmarkHandshake runs both sides of a handshake over net.Pipe: the fixed
// cost the encrypted mode adds to a connection.
func BenchmarkHandshake(b *testing.B) {
	for b.Loop() {
		s := &side{code: "K7Q-M2X-RD9", cfg: config{rand: seeded(1)}}
		r := &side{code: "K7Q-M2X-RD9", cfg: config{rand: seeded(2)}}
		runHandshake(b, s, r)
		if s.err != nil || r.err != nil {
			b.Fatal(s.err, r.err)
		}
	}
}
