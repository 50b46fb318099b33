package walk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"weak"

	"go.uber.org/goleak"
)

// aheadTree makes a tree of dirs directories in two levels, with files,
// empty directories, links and names the receiver refuses among them, and
// returns its top.
func aheadTree(t *testing.T, dirs int) string {
	t.Helper()
	top := filepath.Join(t.TempDir(), "top")
	for i := range dirs {
		d := filepath.Join(top, fmt.Sprintf("d%02d", i/10), fmt.Sprintf("e%03d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for k := range i % 4 {
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%d", k)), []byte(d[:k+1]), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		switch i % 7 {
		case 1:
			if err := os.Symlink("f0", filepath.Join(d, "link")); err != nil {
				t.Skipf("no symbolic links here: %v", err)
			}
		case 2:
			if err := os.WriteFile(filepath.Join(d, `back\slash`), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		case 3:
			if err := os.Mkdir(filepath.Join(d, `bad\dir`), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	return top
}

// walkAll walks top and returns every entry (name, size and mode) and
// every skip, in order.
func walkAll(t *testing.T, top string) (entries, skips []string) {
	t.Helper()
	err := Walk(t.Context(), []string{top}, func(path, reason string) {
		skips = append(skips, path+": "+reason)
	}, func(e Entry) bool {
		entries = append(entries, fmt.Sprintf("%s %d %v", e.Name, e.Size, e.Mode))
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return entries, skips
}

// TestAheadInTurn walks a tree of more directories than are listed ahead
// at once, with and without listing ahead, with few names allowed ahead
// and with a directory read in parts: the same entries and skips, in the
// same order.
func TestAheadInTurn(t *testing.T) {
	top := aheadTree(t, 150)
	savedDirs, savedNames, savedListed, savedLooks, savedBytes := aheadDirs, aheadNames, maxListed, aheadLooks, aheadDirBytes
	t.Cleanup(func() {
		aheadDirs, aheadNames, maxListed, aheadLooks, aheadDirBytes = savedDirs, savedNames, savedListed, savedLooks, savedBytes
	})
	aheadDirs = 0
	want, wantSkips := walkAll(t, top)
	if len(want) < 300 || len(wantSkips) < 60 {
		t.Fatalf("the walk in turn found %d entries and %d skips, want more", len(want), len(wantSkips))
	}
	for _, tc := range []struct {
		name   string
		dirs   int
		names  int64
		listed int
		looks  int
		bytes  int64
	}{
		{"ahead", savedDirs, savedNames, savedListed, savedLooks, savedBytes},
		{"one directory ahead", 1, savedNames, savedListed, savedLooks, savedBytes},
		{"few names ahead", savedDirs, 5, savedListed, savedLooks, savedBytes},
		{"in parts", savedDirs, savedNames, 3, savedLooks, savedBytes},
		{"big directories listed again", savedDirs, savedNames, savedListed, 2, 1 << 40},
		{"big directories left to their turn", savedDirs, savedNames, savedListed, savedLooks, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			aheadDirs, aheadNames, maxListed, aheadLooks, aheadDirBytes = tc.dirs, tc.names, tc.listed, tc.looks, tc.bytes
			for range 5 {
				got, skips := walkAll(t, top)
				if !slices.Equal(got, want) {
					t.Fatalf("the walk found\n%q\nwant\n%q", got, want)
				}
				if !slices.Equal(skips, wantSkips) {
					t.Fatalf("the walk skipped\n%q\nwant\n%q", skips, wantSkips)
				}
			}
		})
	}
}

// TestAheadDropsWalked walks a directory of more subdirectories than are
// listed ahead at once: by the last of them, those walked (their listings
// and looks) are garbage, so that what a walk holds is bounded.
func TestAheadDropsWalked(t *testing.T) {
	const dirs = 300
	top := filepath.Join(t.TempDir(), "top")
	for i := range dirs {
		d := filepath.Join(top, fmt.Sprintf("d%03d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "f"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var jobs []weak.Pointer[dirJob]
	gaveJob = func(j *dirJob) { jobs = append(jobs, weak.Make(j)) }
	t.Cleanup(func() { gaveJob = nil })
	// A file is yielded once the next is found (see walker.emit): this
	// one in the walk of the last directory.
	last := fmt.Sprintf("top/d%03d/f", dirs-2)
	held := -1
	err := Walk(t.Context(), []string{top}, func(string, string) {}, func(e Entry) bool {
		if e.Name == last {
			runtime.GC()
			held = 0
			for _, p := range jobs {
				if p.Value() != nil {
					held++
				}
			}
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) < dirs/2 {
		t.Fatalf("%d of %d directories were listed ahead", len(jobs), dirs)
	}
	if held < 0 || held > aheadDirs+1 {
		t.Errorf("at the last directory the walk held %d of the %d listed ahead, want at most %d", held, len(jobs), aheadDirs+1)
	}
}

// TestAheadBigDirectories walks directories of more entries than are
// looked at ahead: none is looked at, or held, before the walk comes to
// it, whatever their size says, so that a walk of a few huge directories
// holds no more than one's names. (Below a directory of more entries
// than that, nothing is listed ahead: its entries are looked at in turn.)
func TestAheadBigDirectories(t *testing.T) {
	top := filepath.Join(t.TempDir(), "top")
	for i := range 8 {
		d := filepath.Join(top, fmt.Sprintf("d%02d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for k := range 30 {
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%02d", k)), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	savedLooks, savedBytes := aheadLooks, aheadDirBytes
	t.Cleanup(func() { aheadLooks, aheadDirBytes, gaveJob = savedLooks, savedBytes, nil })
	aheadLooks, aheadDirBytes = 10, 1<<40 // given ahead whatever their size
	var jobs []*dirJob
	gaveJob = func(j *dirJob) { jobs = append(jobs, j) }
	entries, _ := walkAll(t, top)
	if len(entries) != 1+8*31 {
		t.Fatalf("the walk found %d entries, want %d", len(entries), 1+8*31)
	}
	if len(jobs) != 8 {
		t.Fatalf("%d directories were given to be listed ahead, want 8", len(jobs))
	}
	for _, j := range jobs {
		if len(j.looks) > aheadLooks {
			t.Errorf("%s: %d entries looked at ahead, want at most %d", j.name, len(j.looks), aheadLooks)
		}
	}
}

// TestAheadStopped stops walks early, by yield and by an error in a
// directory listed ahead (one replaced between its look and its listing):
// the helper is gone and every directory closed once Walk returns.
func TestAheadStopped(t *testing.T) {
	defer goleak.VerifyNone(t)
	fds := func() int {
		t.Helper()
		des, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("cannot count open files: %v", err)
		}
		return len(des)
	}
	for _, tc := range []struct {
		name     string
		after    int  // entries yielded before yield says stop, or -1
		replaced bool // e075 is replaced by another directory after its look
	}{
		{"first entry", 1, false},
		{"mid-way", 120, false},
		{"failed listing", -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top := aheadTree(t, 150)
			before := fds()
			if tc.replaced {
				dir := filepath.Join(top, "d07", "e075")
				afterLook = func(path string) {
					if path == dir {
						if err := os.Rename(dir, dir+".old"); err != nil {
							t.Error(err)
						}
						if err := os.Mkdir(dir, 0o755); err != nil {
							t.Error(err)
						}
					}
				}
				t.Cleanup(func() { afterLook = nil })
			}
			n := 0
			err := Walk(t.Context(), []string{top}, func(string, string) {}, func(Entry) bool {
				n++
				return n != tc.after
			})
			switch {
			case tc.replaced && !errors.Is(err, errReplaced):
				t.Fatalf("Walk = %v, want the replaced directory's error", err)
			case !tc.replaced && err != nil:
				t.Fatal(err)
			case tc.after > 0 && n != tc.after:
				t.Fatalf("the walk went on after yield said stop: %d entries", n)
			}
			if got := fds(); got != before {
				t.Errorf("%d files open after the walk, %d before", got, before)
			}
		})
	}
}
