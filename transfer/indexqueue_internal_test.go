package transfer

import (
	"fmt"
	"testing"
)

// TestIndexQueue adds values (with holes between indexes, as entries
// neither acked nor checked leave) and takes them, in order and out of
// it: each taken once, an index not held or taken before refused, get
// finding what take would without dropping it, and len the values left.
func TestIndexQueue(t *testing.T) {
	for _, tc := range []struct {
		name  string
		added []uint32
		taken []uint32 // in this order
		bad   []uint32 // then refused
	}{
		{"in order", []uint32{0, 1, 2, 3}, []uint32{0, 1, 2, 3}, []uint32{0, 3, 4}},
		{"with holes", []uint32{1, 4, 5, 9}, []uint32{1, 4, 5, 9}, []uint32{0, 2, 8, 10}},
		{"last first", []uint32{0, 1, 2, 3}, []uint32{3, 2, 1, 0}, []uint32{1, 3}},
		{"middle first", []uint32{0, 2, 4, 6, 8}, []uint32{4, 0, 8, 2, 6}, []uint32{4, 5}},
		{"one left behind", []uint32{0, 1, 2, 3, 4, 5}, []uint32{1, 2, 3, 4, 5, 0}, []uint32{2}},
		{"taken twice, behind one held", []uint32{0, 1, 2}, []uint32{2}, []uint32{2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p indexQueue[string]
			for _, i := range tc.added {
				p.add(i, fmt.Sprint("v", i))
			}
			for k, i := range tc.taken {
				if v, ok := p.get(i); !ok || v != fmt.Sprint("v", i) {
					t.Fatalf("get(%d) = %q, %v, want v%d", i, v, ok, i)
				}
				if v, ok := p.take(i); !ok || v != fmt.Sprint("v", i) {
					t.Fatalf("take(%d) = %q, %v, want v%d", i, v, ok, i)
				}
				if want := len(tc.added) - k - 1; p.len() != want {
					t.Fatalf("after taking %d, len() = %d, want %d", i, p.len(), want)
				}
			}
			for _, i := range tc.bad {
				if v, ok := p.get(i); ok {
					t.Errorf("get(%d) = %q, want none", i, v)
				}
				if v, ok := p.take(i); ok {
					t.Errorf("take(%d) = %q, want none", i, v)
				}
			}
		})
	}
}

// TestIndexQueueReuse adds and takes many values, a window of them held:
// the queue's array stops growing at about twice the window.
func TestIndexQueueReuse(t *testing.T) {
	const window = 100
	var p indexQueue[int]
	for i := range uint32(10_000) {
		p.add(i, int(i))
		if i >= window {
			if _, ok := p.take(i - window); !ok {
				t.Fatalf("take(%d) found nothing", i-window)
			}
		}
	}
	if p.len() != window {
		t.Errorf("len() = %d, want %d", p.len(), window)
	}
	if c := cap(p.q); c > 4*window {
		t.Errorf("the queue's array holds %d values for a window of %d", c, window)
	}
}
