package codec

import (
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Auto chooses among s2 and two levels of zstd by what limits the
// transfer. s2 compresses several times faster than zstd but less, and
// zstd's better level slower again but less still: where the network is
// slower than a codec's output, the smaller output sends a file sooner;
// where compression is what the network waits for, the faster codec does.
// Every adaptWindow input bytes Auto looks at how fast it encoded, how
// much that saved, and whether the sender waited for the network (see
// Encoder.Waited); from those it predicts each codec's rate, the lesser of
// its encoding speed and the network's speed times its ratio, and keeps
// the fastest, by a margin.
const (
	adaptWindow = 4 << 20
	// netBound is the share of a window (1/netBound) the sender must
	// have waited for the network to take it as the limit; then the
	// window's output over its time is the network's speed.
	netBound = 4
	// probeEvery is how many windows of a zstd level that did not wait
	// for the network pass before Auto tries the next faster codec, to
	// learn whether the network is faster than this one can feed it.
	probeEvery = 8
	// switchMargin: another codec must promise 1/switchMargin more.
	switchMargin = 8
)

// Auto's codecs, from the fastest, each an index of adapt's estimates.
const (
	autoS2 = iota
	autoZstd
	autoZstdBetter // zstd at its better-compression level
	autoCodecs
)

// autoLevels is the zstd level of each of Auto's zstd codecs.
var autoLevels = [autoCodecs]zstd.EncoderLevel{
	autoZstd:       zstd.SpeedFastest,
	autoZstdBetter: zstd.SpeedBetterCompression,
}

// Before a codec is measured, it is taken to encode slower[c] times slower
// than the codec one step faster, and save gain[c] times as much again:
// nothing where that one saves nothing. The gains are hopeful, so that a
// codec is tried where it might pay; once measured, it is judged by what
// it did.
var (
	slower = [autoCodecs]float64{autoZstd: 3, autoZstdBetter: 2}
	gain   = [autoCodecs]float64{autoZstd: 1.5, autoZstdBetter: 1.2}
)

// adapt is Auto's state for choosing its codec.
type adapt struct {
	now     func() time.Time
	zenc    [autoCodecs]*zstd.Encoder // each made when first chosen; only zstd's
	canZstd bool                      // the peer has CapZstd
	codec   int

	// The window so far: its start, input and output bytes, time spent
	// encoding and waiting for the network.
	start   time.Time
	in, out int64
	busy    time.Duration
	waited  time.Duration
	calm    int // windows of this zstd level in a row that did not wait for the network

	// The recent windows' output, time and wait, each window weighing
	// half the one after it.
	netOut    float64
	netTime   time.Duration
	netWaited time.Duration

	// Estimates: each codec's encoding speed (input bytes a second) and
	// ratio (input over output), 0 until measured; the network's speed
	// in output bytes a second, 0 until the network was the limit.
	speed, ratio [autoCodecs]float64
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
	if a.codec == autoS2 {
		out = s2.Encode(dst, raw)
	} else {
		out = a.zenc[a.codec].EncodeAll(raw, dst[:0])
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
	// The network is judged over the last few windows, each weighing
	// half the one after it: the socket's buffers can take a whole window
	// without a wait, at what looks like many times the network's speed,
	// and the next window then waits for both.
	a.netOut = a.netOut/2 + float64(a.out)
	a.netTime = a.netTime/2 + elapsed
	a.netWaited = a.netWaited/2 + a.waited
	limited := a.netTime > 0 && a.netWaited*netBound >= a.netTime
	if a.netTime > 0 {
		took := a.netOut / a.netTime.Seconds()
		if limited {
			a.network = took
		} else {
			// The network took all this, and might have taken more.
			a.network = max(a.network, took)
		}
	}
	a.start, a.in, a.out, a.busy, a.waited = now, 0, 0, 0, 0
	if !a.canZstd {
		return
	}
	best := autoS2
	for o := range autoCodecs {
		if a.rate(o) > a.rate(best) {
			best = o
		}
	}
	next := c
	if a.rate(best)*switchMargin > a.rate(c)*(switchMargin+1) {
		next = best
	}
	if c != autoS2 && next == c && !limited {
		// This level is what the network waits for, or nothing is:
		// whether a faster codec would do better depends on the
		// network's speed now.
		if a.calm++; a.calm >= probeEvery {
			next = c - 1
		}
	}
	if next != c {
		a.calm = 0
	}
	if next != autoS2 && a.zenc[next] == nil {
		z, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(autoLevels[next]), zstd.WithLowerEncoderMem(true))
		if err != nil {
			a.canZstd = false
			return
		}
		a.zenc[next] = z
	}
	a.codec = next
}

// rate predicts the input bytes a second codec c would send: the lesser
// of its encoding speed and what the network takes at its ratio.
func (a *adapt) rate(c int) float64 {
	speed, ratio := a.estimate(c)
	if a.network > 0 {
		return min(speed, a.network*ratio)
	}
	return speed
}

// estimate returns codec c's encoding speed and ratio: measured, or else
// guessed from the next faster codec's (see slower and gain).
func (a *adapt) estimate(c int) (speed, ratio float64) {
	if a.speed[c] != 0 || c == autoS2 {
		return a.speed[c], a.ratio[c]
	}
	speed, ratio = a.estimate(c - 1)
	return speed / slower[c], 1 + (ratio-1)*gain[c]
}

// close releases the zstd encoders.
func (a *adapt) close() {
	for i, z := range a.zenc {
		if z != nil {
			z.Close()
			a.zenc[i] = nil
		}
	}
}

// blend moves an estimate halfway to a new measurement.
func blend(old, v float64) float64 {
	if old == 0 {
		return v
	}
	return (old + v) / 2
}
