package destdir

import (
	"fmt"
	"os"
	"strings"
	"sync"
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

// TestNamesSyncFolded has background flushes one after another: each
// flush's syncfs must also make the names the flush before it put in
// place durable, so a transfer takes one syncfs a flush, not two, and the
// receiver never waits for one; and no entry may be reported durable
// before a syncfs that began after it was under its name is over.
func TestNamesSyncFolded(t *testing.T) {
	if !syncfsReportsErrors {
		t.Skip("skipping: this system's flushes fsync each file, not syncfs")
	}
	const entries, perFlush = 64, 8
	b, dir := testBatch(t, entries)
	SetBackgroundFlushFiles(b.dest, perFlush)
	// Every flush's sync is over by the time the batch next looks.
	savedOver := syncOver
	syncOver = func(done <-chan struct{}) bool { <-done; return true }
	t.Cleanup(func() { syncOver = savedOver })
	named := func() int {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Error(err)
		}
		n := 0
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") {
				n++
			}
		}
		return n
	}
	// The syncs run on other goroutines than the batch's.
	var mu sync.Mutex
	var syncs, covered int
	savedSync := syncFS
	syncFS = func(f *os.File) error {
		n := named()
		err := savedSync(f)
		mu.Lock()
		syncs++
		covered = max(covered, n)
		mu.Unlock()
		return err
	}
	t.Cleanup(func() { syncFS = savedSync })

	reported := 0
	durable := func(wait bool) {
		t.Helper()
		n, err := b.Durable(wait)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if reported += n; reported > covered {
			t.Fatalf("%d entries reported durable, but the last syncfs over began with %d under their names", reported, covered)
		}
	}
	for i := range entries {
		commitFile(t, b, fmt.Sprintf("f%03d", i), []byte("data"))
		if (i+1)%perFlush == 0 {
			durable(false)
		}
	}
	durable(true)
	if reported != entries {
		t.Fatalf("%d entries reported durable, want %d", reported, entries)
	}
	// Each flush of perFlush entries takes one syncfs, and the last
	// names one more.
	mu.Lock()
	defer mu.Unlock()
	if most := entries/perFlush + 2; syncs > most {
		t.Errorf("%d syncfs calls for %d flushes of %d entries, want at most %d", syncs, entries/perFlush, perFlush, most)
	}
}
