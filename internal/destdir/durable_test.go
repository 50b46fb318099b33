package destdir

import (
	"fmt"
	"strings"
	"testing"
)

// TestWaitsForSlowFlush has background flushes whose sync is over only
// once the batch waits for it, as on a disk much slower than the network:
// the batch may take in entries for the next flush while one runs, but
// only so many, or so many bytes of names, then waits, so that what it
// holds does not grow with the transfer.
func TestWaitsForSlowFlush(t *testing.T) {
	tests := []struct {
		name       string
		flushFiles int // the background flush threshold
		nameLen    int
		most       int // entries committed while one flush runs, at most
	}{
		{"by count", 8, 8, maxWaiting * 8},
		// 1 MiB of names of 3,000 bytes each: 350 of them.
		{"by names", 1024, 3000, flushNames / 3000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const entries = 2000
			b, _ := testBatch(t, entries)
			SetBackgroundFlushFiles(b.dest, tt.flushFiles)
			// The sync of a flush is over only when the batch waits for it.
			saved := syncOver
			syncOver = func(<-chan struct{}) bool { return false }
			t.Cleanup(func() { syncOver = saved })

			var running *bgFlush
			during, most, flushes := 0, 0, 0
			for i := range entries {
				name := fmt.Sprintf("%08d", i)
				for len(name) < tt.nameLen { // in elements a receiver takes
					name += "/" + strings.Repeat("x", min(200, tt.nameLen-len(name)-1))
				}
				commitFile(t, b, name, nil)
				if _, err := b.Durable(false); err != nil {
					t.Fatal(err)
				}
				switch {
				case b.bg != running:
					running, during = b.bg, 0
					flushes++
				case running != nil:
					during++
					most = max(most, during)
				}
			}
			if _, err := b.Durable(true); err != nil {
				t.Fatal(err)
			}
			t.Logf("at most %d entries while a flush ran, in %d flushes", most, flushes)
			if flushes == 0 || most > tt.most+1 {
				t.Errorf("the batch took %d entries while a flush ran (in %d flushes), want at most %d and then to wait", most, flushes, tt.most+1)
			}
		})
	}
}
