package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// collectorSetting reads the garbage collector's percent and memory limit
// without changing them.
func collectorSetting() (int, int64) {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p, debug.SetMemoryLimit(-1)
}

// TestHoldCollections holds and restores the collector: held, it waits for
// the limit; restored, it is as it was. GOGC or GOMEMLIMIT set by the user
// stand.
func TestHoldCollections(t *testing.T) {
	const limit = 8 << 20
	tests := []struct {
		name string
		env  string // GOGC or GOMEMLIMIT, set to "100" or "1GiB"
	}{
		{name: "held"},
		{name: "GOGC set", env: "GOGC"},
		{name: "GOMEMLIMIT set", env: "GOMEMLIMIT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GOGC", "")
			t.Setenv("GOMEMLIMIT", "")
			switch tt.env {
			case "GOGC":
				t.Setenv("GOGC", "100")
			case "GOMEMLIMIT":
				t.Setenv("GOMEMLIMIT", "1GiB")
			}
			defer debug.SetGCPercent(debug.SetGCPercent(100))
			defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
			restore := holdCollections(limit)
			wantP, wantL := -1, int64(limit)
			if tt.env != "" {
				wantP, wantL = 100, math.MaxInt64
			}
			if p, l := collectorSetting(); p != wantP || l != wantL {
				t.Fatalf("held: GC percent %d, limit %d; want %d, %d", p, l, wantP, wantL)
			}
			restore()
			if p, l := collectorSetting(); p != 100 || l != math.MaxInt64 {
				t.Errorf("restored: GC percent %d, limit %d; want 100, %d", p, l, int64(math.MaxInt64))
			}
		})
	}
}
