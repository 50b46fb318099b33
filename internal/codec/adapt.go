package codec

import (
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Auto chooses between s2 and zstd by what limits the transfer. s2
// compresses several times faster than zstd but less: where the network is
// slower than zstd's output, zstd sends a file sooner; where compression
// is what the network waits for, s2 does. Every adaptWindow input bytes
// Auto looks at how fast it encoded, how much that saved, and whether the
// sender waited for the network (see Encoder.Waited); from those it
// predicts each codec's rate, the lesser of its encoding speed and the
// network's speed times its ratio, and keeps the faster, by a margin.
const (
	adaptWindow = 4 << 20
	// netBound is the share of a window (1/netBound) the sender must
	// have waited for the network to take it as the limit; then the
	// window's output over its time is the network's speed.
	netBound = 4
	// probeEvery is how many windows of zstd that did not wait for the
	// network pass before Auto tries one of s2, to learn whether the
	// network is faster than zstd can feed it.
	probeEvery = 8
	// switchMargin: the other codec must promise 1/switchMargin more.
	switchMargin = 8
)

// Auto's codecs, indexes of adapt's estimates.
const (
	autoS2 = iota
	autoZstd
)

// adapt is Auto's state for choosing its codec.
type adapt struct {
	now     func() time.Time
	zenc    *zstd.Encoder // made when zstd is first chosen; nil without the peer's CapZstd
	canZstd bool
	codec   int // autoS2 or autoZstd

	// The window so far: its start, input and output bytes, time spent
	// encoding and waiting for the network.
	start   time.Time
	in, out int64
	busy    time.Duration
	waited  time.Duration
	calm    int // windows of zstd in a row that did not wait for the network

	// Estimates: each codec's encoding speed (input bytes a second) and
	// ratio (input over output), 0 until measured; the network's speed
	// in output bytes a second, 0 until the network was the limit.
	speed, ratio [2]float64
	network      float64
}

// encode compresses raw with Auto's current codec into dst, and counts it
// for the window.
func (a *adapt) encode(dst, raw []byte) []byte {
	t := a.now()
	if a.start.IsZero() {
		a.start = t
	}
	var out []byte
	if a.codec == autoZstd {
		out = a.zenc.EncodeAll(raw, dst[:0])
	} else {
		out = s2.Encode(dst, raw)
	}
	end := a.now()
	a.busy += end.Sub(t)
	a.in += int64(len(raw))
	a.out += int64(min(len(out), len(raw)))
	if a.in >= adaptWindow {
		a.look(end)
	}
	return out
}

// look ends a window at now: it updates the estimates and picks the codec
// for the next one.
func (a *adapt) look(now time.Time) {
	elapsed := now.Sub(a.start)
	c := a.codec
	if a.busy > 0 && a.out > 0 {
		a.speed[c] = blend(a.speed[c], float64(a.in)/a.busy.Seconds())
		a.ratio[c] = blend(a.ratio[c], float64(a.in)/float64(a.out))
	}
	limited := elapsed > 0 && a.waited*netBound >= elapsed
	if elapsed > 0 {
		took := float64(a.out) / elapsed.Seconds()
		if limited {
			a.network = blend(a.network, took)
		} else {
			// The network took all this, and might have taken more.
			a.network = max(a.network, took)
		}
	}
	a.start, a.in, a.out, a.busy, a.waited = now, 0, 0, 0, 0
	if !a.canZstd {
		return
	}
	s2Rate, zstdRate := a.rate(autoS2), a.rate(autoZstd)
	next := c
	switch {
	case c == autoS2 && zstdRate*switchMargin > s2Rate*(switchMargin+1):
		next = autoZstd
	case c == autoZstd && s2Rate*switchMargin > zstdRate*(switchMargin+1):
		next = autoS2
	}
	if c == autoZstd && next == autoZstd && !limited {
		// zstd is what the network waits for, or nothing is: whether s2
		// would do better depends on the network's speed now.
		if a.calm++; a.calm >= probeEvery {
			next = autoS2
		}
	}
	if next != autoZstd || c != autoZstd {
		a.calm = 0
	}
	if next == autoZstd && a.zenc == nil {
		z, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithLowerEncoderMem(true))
		if err != nil {
			a.canZstd = false
			return
		}
		a.zenc = z
	}
	a.codec = next
}

// rate predicts the input bytes a second codec c would send: the lesser
// of its encoding speed and what the network takes at its ratio. zstd,
// before it is measured, is taken to encode a third as fast as s2 and
// save half as much again: nothing where s2 saves nothing.
func (a *adapt) rate(c int) float64 {
	speed, ratio := a.speed[c], a.ratio[c]
	if speed == 0 && c == autoZstd {
		speed, ratio = a.speed[autoS2]/3, 1+(a.ratio[autoS2]-1)*1.5
	}
	if a.network > 0 {
		return min(speed, a.network*ratio)
	}
	return speed
}

// blend moves an estimate halfway to a new measurement.
func blend(old, v float64) float64 {
	if old == 0 {
		return v
	}
	return (old + v) / 2
}
