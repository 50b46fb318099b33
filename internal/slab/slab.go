// Package slab cuts the buffers of many small pieces of data out of large
// slabs, and reuses a slab once every buffer cut from it is done with:
// thousands of small files then cost a few allocations, not one each, and
// the garbage collector, the clearing and the page faults that come with
// each.
//
// A slab is done with when the last buffer cut from it is. Its user knows
// when that is without counting, if the buffers are used up in the order
// they were cut (written to a socket, or to files, one after the other):
// once the first buffer of the next slab is.
package slab

// Cutter cuts buffers from slabs of one size. Cut is for one goroutine,
// Give for any.
type Cutter struct {
	size int
	cur  []byte      // the slab being cut from
	free chan []byte // slabs given back, for Cut to reuse
}

// New returns a Cutter of slabs of size bytes, which keeps up to kept
// slabs given back.
func New(size, kept int) *Cutter {
	return &Cutter{size: size, free: make(chan []byte, kept)}
}

// Cut returns an empty buffer of capacity n, at most the slab size, cut
// from the current slab. When that has no room left, Cut starts another,
// one given back if there is one, and returns the full one as before: the
// caller gives it back (Give) once every buffer cut from it is done with.
// Otherwise before is nil.
func (c *Cutter) Cut(n int) (buf, before []byte) {
	if cap(c.cur)-len(c.cur) < n {
		before = c.cur
		select {
		case c.cur = <-c.free:
		default:
			c.cur = make([]byte, 0, c.size)
		}
	}
	start := len(c.cur)
	c.cur = c.cur[:start+n]
	return c.cur[start : start : start+n], before
}

// Give gives back a slab Cut returned as before, or does nothing for nil.
// Beyond the slabs the Cutter keeps, it is left to the garbage collector.
func (c *Cutter) Give(s []byte) {
	if s == nil {
		return
	}
	select {
	case c.free <- s[:0]:
	default:
	}
}
