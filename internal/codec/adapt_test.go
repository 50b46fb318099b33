package codec

import (
	"testing"
	"time"

	"github.com/ferrytool/ferry/framing"
)

// window is one window of Auto's, as look sees it.
type window struct {
	codec  int
	in     int64         // input bytes
	ratio  float64       // input over output
	busy   time.Duration // encoding
	waited time.Duration // waiting for the network
	took   time.Duration // the window's time
}

// TestAutoChooses feeds Auto's choice windows of known speeds, ratios and
// waits, and checks the codec it picks after each.
func TestAutoChooses(t *testing.T) {
	const in = adaptWindow
	// s2 encodes 4 MiB in 5 ms and saves 4x; zstd in 20 ms and 6x; zstd's
	// better level in 40 ms and 6.7x.
	s2 := func(waited, took time.Duration) window {
		return window{autoS2, in, 4, 5 * time.Millisecond, waited, took}
	}
	zstd := func(waited, took time.Duration) window {
		return window{autoZstd, in, 6, 20 * time.Millisecond, waited, took}
	}
	better := func(waited, took time.Duration) window {
		return window{autoZstdBetter, in, 6.7, 40 * time.Millisecond, waited, took}
	}
	ms := time.Millisecond
	tests := []struct {
		name    string
		canZstd bool
		windows []window
		want    []int // the codec after each window
	}{
		{
			// 1 MiB out every 100 ms: 10 MB/s. s2 sends 40, zstd 60,
			// its better level 67: s2 goes straight to that.
			name: "slow network", canZstd: true,
			windows: []window{s2(95*ms, 100*ms), better(50*ms, 70*ms), better(50*ms, 70*ms)},
			want:    []int{autoZstdBetter, autoZstdBetter, autoZstdBetter},
		},
		{
			name:    "slow network, peer without zstd",
			windows: []window{s2(95*ms, 100*ms), s2(95*ms, 100*ms)},
			want:    []int{autoS2, autoS2},
		},
		{
			// The network limits s2, but s2 saves nothing: zstd would
			// not either, and is not tried.
			name: "incompressible", canZstd: true,
			windows: []window{{autoS2, in, 1, 2 * ms, 95 * ms, 100 * ms}, {autoS2, in, 1, 2 * ms, 95 * ms, 100 * ms}},
			want:    []int{autoS2, autoS2},
		},
		{
			// s2 never waits: encoding limits it, and zstd is slower.
			name: "fast network", canZstd: true,
			windows: []window{s2(0, 6*ms), s2(0, 6*ms), s2(0, 6*ms)},
			want:    []int{autoS2, autoS2, autoS2},
		},
		{
			// s2 waits for a network of 1 MiB in 8 ms (130 MB/s): s2
			// sends 520 MB/s of input, zstd what it encodes, 210.
			name: "network faster than zstd", canZstd: true,
			windows: []window{s2(3*ms, 8*ms), s2(3*ms, 8*ms)},
			want:    []int{autoS2, autoS2},
		},
		{
			// 1 MiB out every 30 ms (35 MB/s): s2 sends 140 MB/s, zstd
			// is guessed at 190 and sends 210, its better level is
			// guessed at 105 and encodes 105: zstd's fastest level wins.
			name: "network between", canZstd: true,
			windows: []window{s2(25*ms, 30*ms), zstd(10*ms, 36*ms), zstd(10*ms, 36*ms)},
			want:    []int{autoZstd, autoZstd, autoZstd},
		},
		{
			// The network of "network between" slows to 10 MB/s: zstd
			// at 6x sends less than its better level is guessed to, at
			// 7x, which is tried, and kept at the 6.7x it measures.
			name: "network slows down", canZstd: true,
			windows: []window{s2(25*ms, 30*ms), zstd(50*ms, 70*ms), better(50*ms, 90*ms), better(50*ms, 90*ms)},
			want:    []int{autoZstd, autoZstdBetter, autoZstdBetter, autoZstdBetter},
		},
		{
			// On a slower network zstd, then the network speeds up: zstd
			// no longer waits, so once the waits of the windows before
			// have faded, after probeEvery windows s2 gets one, which
			// shows the network faster than zstd can feed it.
			name: "network speeds up", canZstd: true,
			windows: append(append([]window{s2(25*ms, 30*ms)}, repeat(zstd(0, 21*ms), probeEvery+1)...), s2(3*ms, 8*ms)),
			want:    append(append([]int{autoZstd}, append(repeatInt(autoZstd, probeEvery), autoS2)...), autoS2),
		},
		{
			// Likewise from the better level, which steps down to zstd's
			// fastest first.
			name: "network speeds up under the better level", canZstd: true,
			windows: append(append([]window{s2(95*ms, 100*ms)}, repeat(better(0, 41*ms), probeEvery+2)...), zstd(0, 21*ms)),
			want:    append(append([]int{autoZstdBetter}, append(repeatInt(autoZstdBetter, probeEvery+1), autoZstd)...), autoZstd),
		},
		{
			// The socket's buffers take every other window whole, with
			// no wait: over both, the network is still what zstd waits
			// for, and zstd is not left for s2.
			name: "buffers hide the network", canZstd: true,
			windows: append([]window{s2(25*ms, 30*ms)}, repeat2(zstd(0, 21*ms), zstd(30*ms, 55*ms), probeEvery+1)...),
			want:    append([]int{autoZstd}, repeatInt(autoZstd, 2*probeEvery+2)...),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := adapt{canZstd: tt.canZstd}
			now := time.Unix(0, 0)
			a.start = now
			for i, w := range tt.windows {
				if a.codec != w.codec {
					t.Fatalf("window %d: Auto uses %d, the test means %d", i, a.codec, w.codec)
				}
				a.in, a.out, a.busy, a.waited = w.in, int64(float64(w.in)/w.ratio), w.busy, w.waited
				now = now.Add(w.took)
				a.look(now)
				if a.codec != tt.want[i] {
					t.Fatalf("after window %d Auto chose %d, want %d (estimates: speed %v, ratio %v, network %v)", i, a.codec, tt.want[i], a.speed, a.ratio, a.network)
				}
			}
			a.close()
		})
	}
}

func repeat(w window, n int) []window {
	ws := make([]window, n)
	for i := range ws {
		ws[i] = w
	}
	return ws
}

// repeat2 returns n repeats of the pair w1, w2.
func repeat2(w1, w2 window, n int) []window {
	var ws []window
	for range n {
		ws = append(ws, w1, w2)
	}
	return ws
}

func repeatInt(v, n int) []int {
	vs := make([]int, n)
	for i := range vs {
		vs[i] = v
	}
	return vs
}

// TestAutoSlowNetwork encodes text through an Auto Encoder whose sender
// waits for the network most of the time: after a window or two it must
// send zstd frames, which decode to the text.
func TestAutoSlowNetwork(t *testing.T) {
	enc := newEncoder(t, Auto)
	// A clock that moves 1 ms each time it is read: each chunk takes
	// 1 ms to encode.
	clock := time.Unix(0, 0)
	enc.auto.now = func() time.Time {
		clock = clock.Add(time.Millisecond)
		return clock
	}
	dec := newDecoder(t)
	raw := textBytes(256 << 10)
	dst := make([]byte, MaxEncodedLen(len(raw)))
	zstdFrames := 0
	for i := range 3 * adaptWindow / len(raw) {
		c, body := enc.Encode(dst, raw)
		if c == framing.CodecZstd {
			zstdFrames++
			out, err := dec.Decode(make([]byte, len(raw)), framing.Data{Codec: c, RawLen: uint32(len(raw)), Body: body})
			if err != nil || string(out) != string(raw) {
				t.Fatalf("chunk %d: zstd frame decodes to %d bytes (%v)", i, len(out), err)
			}
		}
		// The network takes ten times as long as encoding did.
		clock = clock.Add(10 * time.Millisecond)
		enc.Waited(10 * time.Millisecond)
	}
	if zstdFrames == 0 {
		t.Fatal("Auto sent no zstd frame on a slow network")
	}
}
