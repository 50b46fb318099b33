package slab

import (
	"bytes"
	"testing"
)

// TestCut cuts 5,000 buffers and fills each with its own byte, while a
// user, lagging 0, 40 or 400 buffers behind, is done with them in the
// order they were cut and gives back each slab Cut returned with the one
// it is done with: each buffer must still hold its bytes when it is done
// with, and the slabs must be reused rather than each allocated anew.
func TestCut(t *testing.T) {
	const size, kept = 256 << 10, 2
	for _, tc := range []struct {
		name string
		lag  int // buffers cut and not yet done with
	}{
		{"done with at once", 0},
		{"a few in use", 40},
		{"more than a slab in use", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(size, kept)
			type piece struct {
				buf, before []byte
				fill        byte
			}
			var inUse []piece
			slabs := map[*byte]bool{}
			for i := range 5000 {
				n := 1 + i*37%3000
				buf, before := c.Cut(n)
				if len(buf) != 0 || cap(buf) != n {
					t.Fatalf("Cut(%d) = a buffer of length %d and capacity %d", n, len(buf), cap(buf))
				}
				buf = append(buf, bytes.Repeat([]byte{byte(i)}, n)...)
				slabs[&c.cur[:1][0]] = true
				inUse = append(inUse, piece{buf, before, byte(i)})
				for len(inUse) > tc.lag {
					p := inUse[0]
					if bytes.Count(p.buf, []byte{p.fill}) != len(p.buf) {
						t.Fatalf("a buffer was overwritten while in use, %d buffers later", tc.lag)
					}
					c.Give(p.before)
					inUse = inUse[1:]
				}
			}
			// 5,000 buffers of 1.5 KB on average fill about 30 slabs.
			if most := 2 + tc.lag*3000/size + kept; len(slabs) > most {
				t.Errorf("%d slabs were allocated; reused, there would be at most %d", len(slabs), most)
			}
		})
	}
}
