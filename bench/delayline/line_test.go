package main

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestLinkAdmit(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := time.Millisecond
	type offer struct {
		at   time.Duration // after t0
		n    int
		want verdict
		due  time.Duration // after t0, when delivered
	}
	tests := []struct {
		name   string
		link   link
		offers []offer
	}{
		{
			name: "no rate: every packet after the delay alone",
			link: link{delay: 25 * ms},
			offers: []offer{
				{0, 1500, delivered, 25 * ms},
				{0, 1500, delivered, 25 * ms},
				{3 * ms, 60, delivered, 28 * ms},
			},
		},
		{
			// 8 Mbit/s sends one byte a microsecond.
			name: "rate: back-to-back packets leave one transmission apart",
			link: link{bitrate: 8e6, delay: 10 * ms, limit: 1 << 20},
			offers: []offer{
				{0, 1000, delivered, 11 * ms},
				{0, 1000, delivered, 12 * ms},
				{0, 500, delivered, 12*ms + 500*time.Microsecond},
			},
		},
		{
			name: "rate: an idle transmitter starts at arrival",
			link: link{bitrate: 8e6, delay: 10 * ms, limit: 1 << 20},
			offers: []offer{
				{0, 1000, delivered, 11 * ms},
				{5 * ms, 1000, delivered, 16 * ms},
			},
		},
		{
			name: "queue: a packet that would overfill it is dropped, and costs no time",
			link: link{bitrate: 8e6, delay: 0, limit: 3000},
			offers: []offer{
				{0, 1000, delivered, 1 * ms},
				{0, 1000, delivered, 2 * ms},
				{0, 1000, delivered, 3 * ms},
				{0, 1000, queueFull, 0},
				{0, 100, queueFull, 0},
				// One packet has gone out by 1 ms: room for one more.
				{1 * ms, 1000, delivered, 4 * ms},
				{1 * ms, 1000, queueFull, 0},
			},
		},
		{
			name: "loss: a lost packet still takes the transmitter's time",
			link: link{bitrate: 8e6, limit: 1 << 20, loss: 1, rng: rand.New(rand.NewPCG(1, 2))},
			offers: []offer{
				{0, 1000, lost, 0},
				{0, 1000, lost, 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.link
			for i, o := range tt.offers {
				due, v := l.admit(t0.Add(o.at), o.n)
				if v != o.want {
					t.Fatalf("offer %d: verdict %d, want %d", i, v, o.want)
				}
				if v == delivered && !due.Equal(t0.Add(o.due)) {
					t.Errorf("offer %d: due at %v, want %v", i, due.Sub(t0), o.due)
				}
			}
			if tt.link.loss == 1 && !l.busyUntil.Equal(t0.Add(2*ms)) {
				t.Errorf("transmitter busy until %v, want 2ms", l.busyUntil.Sub(t0))
			}
		})
	}
}

// TestLinkDueNeverGoesBack checks what the forwarding FIFO relies on: on a
// link of any rate, delivery times follow arrival order.
func TestLinkDueNeverGoesBack(t *testing.T) {
	r := rand.New(rand.NewPCG(18, 1))
	for _, bitrate := range []int64{0, 20e6, 1e9} {
		l := link{bitrate: bitrate, delay: 25 * time.Millisecond, limit: 64 << 10}
		now := time.Unix(0, 0)
		var last time.Time
		for i := 0; i < 10000; i++ {
			now = now.Add(time.Duration(r.IntN(300)) * time.Microsecond)
			due, v := l.admit(now, 40+r.IntN(1461))
			if v != delivered {
				continue
			}
			if due.Before(last) {
				t.Fatalf("bitrate %d, packet %d: due %v before the previous %v", bitrate, i, due, last)
			}
			last = due
		}
	}
}

// TestLinkLossRate checks that -loss drops about the share it says.
func TestLinkLossRate(t *testing.T) {
	l := link{delay: time.Millisecond, loss: 0.01, rng: rand.New(rand.NewPCG(18, 2))}
	lostN := 0
	for i := 0; i < 100000; i++ {
		if _, v := l.admit(time.Unix(0, 0), 1500); v == lost {
			lostN++
		}
	}
	if lostN < 800 || lostN > 1200 {
		t.Errorf("lost %d of 100000 at -loss 0.01, want about 1000", lostN)
	}
}
