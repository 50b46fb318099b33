package transfer

import (
	"bytes"
	"testing"

	"github.com/ferrytool/ferry/internal/slab"
)

// TestSlabCopyRelease copies small frames into slabs while a writer,
// lagging 0, 10 or 400 frames behind, writes them in order and calls
// each frame's Release: every frame must still hold its bytes when it is
// written, however far behind the writer is.
func TestSlabCopyRelease(t *testing.T) {
	for _, tc := range []struct {
		name string
		lag  int // frames queued, not yet written
	}{
		{"written at once", 0},
		{"a few queued", 10},
		{"more than a slab queued", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &sender{slabs: slab.New(slabSize, slabsKept)}
			type frame struct {
				payload []byte
				release func()
				fill    byte
			}
			var queued []frame
			for i := range 5000 {
				p := bytes.Repeat([]byte{byte(i)}, 1+i*37%3000)
				c, release := s.slabCopy(p)
				queued = append(queued, frame{c, release, byte(i)})
				for len(queued) > tc.lag {
					f := queued[0]
					if bytes.Count(f.payload, []byte{f.fill}) != len(f.payload) {
						t.Fatalf("a frame was overwritten while queued, %d frames later", tc.lag)
					}
					if f.release != nil {
						f.release()
					}
					queued = queued[1:]
				}
			}
		})
	}
}
