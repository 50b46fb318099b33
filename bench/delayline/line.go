package main

import (
	"math/rand/v2"
	"time"
)

// A link is one direction of the modelled path: a transmitter of a fixed
// rate fed by a drop-tail queue, then a fixed propagation delay. It holds
// no packets, only when its transmitter will be free, which is all the
// model needs: a packet's delivery time is fixed the moment it arrives.
type link struct {
	bitrate int64         // bits per second; 0 sends at once, with no queue
	delay   time.Duration // one-way propagation delay
	limit   int64         // bytes the queue holds, the packet being sent included
	loss    float64       // probability a packet is lost on the wire
	rng     *rand.Rand

	busyUntil time.Time // when the transmitter has sent all it took
}

// verdict says what became of a packet offered to a link.
type verdict int

const (
	delivered verdict = iota
	queueFull         // dropped at the tail of a full queue
	lost              // dropped on the wire (-loss)
)

// admit offers the link an n-byte packet that arrives at now. It returns
// when the packet reaches the far end, or why it never will. Delivery
// times never go backwards, so the caller can keep packets in a FIFO.
func (l *link) admit(now time.Time, n int) (time.Time, verdict) {
	depart := now
	if l.bitrate > 0 {
		start := now
		if l.busyUntil.After(now) {
			start = l.busyUntil
			// The bytes still waiting are those the transmitter sends
			// between now and busyUntil; a packet that would take the
			// queue past its limit is dropped, as a router's tail drop.
			if l.bytesIn(l.busyUntil.Sub(now))+int64(n) > l.limit {
				return time.Time{}, queueFull
			}
		}
		l.busyUntil = start.Add(l.txTime(n))
		depart = l.busyUntil
	}
	// A packet lost on the wire has still used the transmitter's time.
	if l.loss > 0 && l.rng.Float64() < l.loss {
		return time.Time{}, lost
	}
	return depart.Add(l.delay), delivered
}

// txTime is how long the transmitter takes to send n bytes.
func (l *link) txTime(n int) time.Duration {
	return time.Duration(int64(n) * 8 * int64(time.Second) / l.bitrate)
}

// bytesIn is how many bytes the transmitter sends in d.
func (l *link) bytesIn(d time.Duration) int64 {
	return int64(d.Seconds() * float64(l.bitrate) / 8)
}
