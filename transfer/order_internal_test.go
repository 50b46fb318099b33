package transfer

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/ferrytool/ferry/framing"
)

// TestInTreeOrder: sources in tree order already are sent as they are,
// without a copy; others are sorted in a copy, the caller's slice left
// alone, and sources of the same name kept in their order.
func TestInTreeOrder(t *testing.T) {
	src := func(names ...string) []Source {
		var s []Source
		for i, n := range names {
			s = append(s, Source{Name: n, Size: int64(i)})
		}
		return s
	}
	sorted := src("a", "a/b", "a/c", "a-b", "b")
	if got := inTreeOrder(sorted); &got[0] != &sorted[0] {
		t.Errorf("inTreeOrder copied sources already in order")
	}
	given := src("b", "a-b", "a/c", "a", "a-b")
	got := inTreeOrder(given)
	var names []string
	for _, s := range got {
		names = append(names, fmt.Sprintf("%s#%d", s.Name, s.Size))
	}
	if want := []string{"a#3", "a/c#2", "a-b#1", "a-b#4", "b#0"}; !slices.Equal(names, want) {
		t.Errorf("inTreeOrder = %q, want %q", names, want)
	}
	if given[0].Name != "b" || given[3].Name != "a" {
		t.Errorf("inTreeOrder sorted the caller's slice: %v", given)
	}
}

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
			b.(*dirBatch).sink.foldCase = fold
			live := func() uint64 {
				runtime.GC()
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				return m.HeapAlloc
			}
			var start uint64
			for i := range entries {
				f := framing.File{Index: uint32(i), Kind: framing.KindRegular, Mode: 0o644, Name: fmt.Sprintf("d%05d/f%05d", i/dirSize, i)}
				if i%dirSize == 0 {
					f.Kind, f.Mode, f.Name = framing.KindDir, 0o755, fmt.Sprintf("d%05d", i/dirSize)
				}
				d, err := b.Create(f)
				if err != nil {
					t.Fatal(err)
				}
				if err := d.Commit(); err != nil {
					t.Fatal(err)
				}
				if i%flushEvery == flushEvery-1 {
					if err := b.Flush(); err != nil {
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
		d, err := b.Create(framing.File{Index: uint32(i), Kind: framing.KindDir, Mode: 0o555, Name: fmt.Sprintf("d%04d", i)})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Commit(); err != nil {
			t.Fatal(err)
		}
		if i == 10 {
			if err := b.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	db := b.(*dirBatch)
	if n := len(db.deferred); n > maxDeferred/leftDirSize {
		t.Errorf("%d directories deferred, more than maxDeferred allows", n)
	}
	commitFile(t, b, dirs, "z", nil) // leaves the last directory
	if err := b.Flush(); err != nil {
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
	for i, f := range []framing.File{
		{Kind: framing.KindDir, Mode: 0o555, Name: "locked"},
		{Kind: framing.KindDir, Mode: 0o750, Name: "open"},
		{Kind: framing.KindDir, Mode: 0o755, Name: "z"},
	} {
		f.Index = uint32(i)
		d, err := b.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Flush(); err != nil {
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
