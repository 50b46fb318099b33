package destdir

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestBatchMemoryFlat receives tens of thousands of empty files, in
// directories of a hundred, into a DirSink, flushing as the receiver does,
// and checks that the memory the batch holds does not grow with them:
// between the flush after the 5,120th entry and the one after the
// 10,240th the live heap may not grow by more than a few bytes an entry.
// It grew by about 60 an entry, for the name of every entry and the state of
// every directory, kept to the end. Also
// where the file system folds case, whose per-directory names go when the
// walk leaves the directory.
func TestBatchMemoryFlat(t *testing.T) {
	for _, fold := range []bool{false, true} {
		t.Run(fmt.Sprintf("fold=%v", fold), func(t *testing.T) {
			const dirSize, flushEvery, flushes = 100, 1024, 10
			const entries = flushes * flushEvery
			b, _ := testBatch(t, entries)
			b.dest.foldCase = fold
			live := func() uint64 {
				runtime.GC()
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				return m.HeapAlloc
			}
			var start uint64
			for i := range entries {
				f := Entry{Mode: 0o644, Name: fmt.Sprintf("d%05d/f%05d", i/dirSize, i)}
				if i%dirSize == 0 {
					f.Dir, f.Mode, f.Name = true, 0o755, fmt.Sprintf("d%05d", i/dirSize)
				}
				d, err := b.Create(f)
				if err != nil {
					t.Fatal(err)
				}
				if err := d.Commit(); err != nil {
					t.Fatal(err)
				}
				if i%flushEvery == flushEvery-1 {
					if _, err := b.Durable(true); err != nil {
						t.Fatal(err)
					}
				}
				if i == entries/2-1 {
					start = live()
				}
			}
			grown := int64(live()) - int64(start)
			t.Logf("the live heap grew by %d bytes over %d entries", grown, entries/2)
			if grown > 64<<10 {
				t.Errorf("the live heap grew by %d bytes over %d entries, %d an entry", grown, entries/2, grown/(entries/2))
			}
			if err := b.Finish(false); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDeferredDirs receives directories whose mode denies their owner
// write permission, which a transfer keeps private until it has succeeded
// (so a failed one leaves them for a retry to fill), but only so many:
// past maxDeferred bytes of them, each is set as the walk leaves it, after
// the flush that follows, and memory does not grow with them.
func TestDeferredDirs(t *testing.T) {
	// Nothing is made in the directories, so their modes keep no user
	// out, root or not.
	const dirs = 2 * maxDeferred / (leftDirSize + 5)
	b, dir := testBatch(t, dirs+1)
	writableAtEnd(t, dir)
	for i := range dirs {
		d, err := b.Create(Entry{Dir: true, Mode: 0o555, Name: fmt.Sprintf("d%04d", i)})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Commit(); err != nil {
			t.Fatal(err)
		}
		if i == 10 {
			if _, err := b.Durable(true); err != nil {
				t.Fatal(err)
			}
		}
	}
	db := b
	if n := len(db.deferred); n > maxDeferred/leftDirSize {
		t.Errorf("%d directories deferred, more than maxDeferred allows", n)
	}
	commitFile(t, b, "z", nil) // leaves the last directory
	if _, err := b.Durable(true); err != nil {
		t.Fatal(err)
	}
	mode := func(name string) fs.FileMode {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return info.Mode().Perm()
	}
	// The first ones were deferred, until there were too many: then they
	// were set, as every one after them.
	for _, i := range []int{0, 10, dirs / 2, dirs - 1} {
		if m := mode(fmt.Sprintf("d%04d", i)); m != 0o555 {
			t.Errorf("d%04d has mode %v after the flush, want it set, 0555", i, m)
		}
	}
	if err := b.Finish(false); err != nil {
		t.Fatal(err)
	}
}

// TestDeferredDirsFailed: a transfer that fails after the walk left a
// directory whose mode denies its owner write permission, and after a
// flush, leaves it private, for a retry to fill, while one with an open
// mode gets it.
func TestDeferredDirsFailed(t *testing.T) {
	b, dir := testBatch(t, 4)
	for _, f := range []Entry{
		{Dir: true, Mode: 0o555, Name: "locked"},
		{Dir: true, Mode: 0o750, Name: "open"},
		{Dir: true, Mode: 0o755, Name: "z"},
	} {
		d, err := b.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Durable(true); err != nil {
		t.Fatal(err)
	}
	if err := b.Finish(true); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]fs.FileMode{"locked": 0o700, "open": 0o750, "z": 0o755} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if m := info.Mode().Perm(); m != want {
			t.Errorf("after the failed transfer %s has mode %v, want %v", name, m, want)
		}
	}
}

// writableAtEnd makes the directories in dir writable when the test ends,
// so that its temporary directory can be removed.
func writableAtEnd(t *testing.T, dir string) {
	t.Cleanup(func() {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			_ = os.Chmod(filepath.Join(dir, e.Name()), 0o755)
		}
	})
}
