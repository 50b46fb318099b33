package transfer

import (
	"cmp"
	"slices"
	"time"
)

// pendingEntry is an entry sent and not yet acknowledged.
type pendingEntry struct {
	index  uint32
	result FileResult
	dir    bool
	start  time.Time
	acked  bool // taken, and held only until the entries before it are
}

// pendingQueue is the entries sent and not yet acknowledged, in the order
// of their indexes, which is the order they were sent in. A receiver may
// acknowledge them in any order, but ferry's does so in order: the first
// entry held is most often the one an ack is for, and the queue's array,
// once grown to the entries in flight, serves the whole transfer, where a
// map allocated as it grew and took more work an entry.
type pendingQueue struct {
	q    []pendingEntry // q[head:] in order of index; those acked wait for the ones before them
	head int
	left int // entries not yet acknowledged
}

// add holds e, whose index is above those of every entry added before.
func (p *pendingQueue) add(e pendingEntry) {
	if p.head > 0 && p.head >= len(p.q)/2 {
		n := copy(p.q, p.q[p.head:])
		clear(p.q[n:])
		p.q, p.head = p.q[:n], 0
	}
	p.q = append(p.q, e)
	p.left++
}

// take returns and drops the entry of index, or false if none is held.
func (p *pendingQueue) take(index uint32) (pendingEntry, bool) {
	live := p.q[p.head:]
	i := 0
	if len(live) == 0 || live[0].index != index {
		var found bool
		i, found = slices.BinarySearchFunc(live, index, func(e pendingEntry, index uint32) int { return cmp.Compare(e.index, index) })
		if !found {
			return pendingEntry{}, false
		}
	}
	e := live[i]
	if e.acked {
		return pendingEntry{}, false
	}
	live[i] = pendingEntry{index: index, acked: true}
	p.left--
	for p.head < len(p.q) && p.q[p.head].acked {
		p.q[p.head] = pendingEntry{}
		p.head++
	}
	return e, true
}

// len is the number of entries not yet acknowledged.
func (p *pendingQueue) len() int { return p.left }
