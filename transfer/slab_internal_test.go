package transfer

import (
	"testing"
	"unsafe"

	"github.com/ferrytool/ferry/internal/secure"
)

// TestSlabReuse copies small frames into slabs while a writer releases
// them in order, lagging behind by some frames: no copy may overlap a
// frame not yet released, tag room included, and the slabs must be
// reused rather than each allocated anew.
func TestSlabReuse(t *testing.T) {
	for _, tc := range []struct {
		name string
		lag  int // frames queued, not yet written
	}{
		{"written at once", 0},
		{"a few queued", 10},
		{"more than a slab queued", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &sender{slabs: make(chan []byte, slabsKept)}
			type frame struct {
				mem     []byte // the copy, with its room for the tag
				release func()
			}
			var queued []frame
			slabs := map[*byte]bool{}
			for i := range 5000 {
				p := make([]byte, 1+i*37%3000)
				c, release := s.slabCopy(p)
				mem := c[:len(c)+secure.Overhead]
				slabs[unsafe.SliceData(s.slab)] = true
				for _, q := range queued {
					if overlap(q.mem, mem) {
						t.Fatalf("frame %d was copied over a frame still queued", i)
					}
				}
				queued = append(queued, frame{mem, release})
				for len(queued) > tc.lag {
					if queued[0].release != nil {
						queued[0].release()
					}
					queued = queued[1:]
				}
			}
			// 5000 frames of 1.5 KB on average fill about 30 slabs.
			if most := 2 + tc.lag*3000/slabSize + slabsKept; len(slabs) > most {
				t.Errorf("%d slabs were allocated; reused, there would be at most %d", len(slabs), most)
			}
		})
	}
}

// overlap says whether a and b share any byte.
func overlap(a, b []byte) bool {
	a0, b0 := uintptr(unsafe.Pointer(unsafe.SliceData(a))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return a0 < b0+uintptr(len(b)) && b0 < a0+uintptr(len(a))
}
