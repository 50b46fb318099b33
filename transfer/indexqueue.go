package transfer

import (
	"cmp"
	"slices"
)

// indexQueue holds values by entry index, added in the order of their
// indexes, until each is taken: the sender's entries awaiting an ack, the
// receiver's answers to checks awaiting their entries. Both are taken in
// about the order they were added (ferry's receiver acks in order; entries
// arrive in order), so the first value held is most often the one asked
// for, and the queue's array, once grown to the values in flight, serves
// the whole transfer, where a map allocated as it grew and took more work
// a value. A value may be taken out of order (another receiver may ack in
// any order): it is found by binary search, and held as taken until those
// before it are.
type indexQueue[T any] struct {
	q    []queued[T] // q[head:] in order of index
	head int
	left int // values not yet taken
}

type queued[T any] struct {
	index uint32
	v     T
	taken bool
}

// add holds v under index, which is above every index added before.
func (p *indexQueue[T]) add(index uint32, v T) {
	if p.head > 0 && p.head >= len(p.q)/2 {
		n := copy(p.q, p.q[p.head:])
		clear(p.q[n:])
		p.q, p.head = p.q[:n], 0
	}
	p.q = append(p.q, queued[T]{index: index, v: v})
	p.left++
}

// find returns the position in q of the value held under index, or -1.
func (p *indexQueue[T]) find(index uint32) int {
	live := p.q[p.head:]
	if len(live) > 0 && live[0].index == index {
		return p.head
	}
	i, found := slices.BinarySearchFunc(live, index, func(e queued[T], index uint32) int { return cmp.Compare(e.index, index) })
	if !found || live[i].taken {
		return -1
	}
	return p.head + i
}

// get returns the value held under index, or false if none is.
func (p *indexQueue[T]) get(index uint32) (T, bool) {
	i := p.find(index)
	if i < 0 {
		var zero T
		return zero, false
	}
	return p.q[i].v, true
}

// take returns and drops the value held under index, or false if none is.
func (p *indexQueue[T]) take(index uint32) (T, bool) {
	i := p.find(index)
	if i < 0 {
		var zero T
		return zero, false
	}
	v := p.q[i].v
	p.q[i] = queued[T]{index: index, taken: true}
	p.left--
	for p.head < len(p.q) && p.q[p.head].taken {
		p.q[p.head] = queued[T]{}
		p.head++
	}
	return v, true
}

// len is the number of values not yet taken.
func (p *indexQueue[T]) len() int { return p.left }
