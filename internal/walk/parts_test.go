package walk

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestListedInParts walks a directory with more names than maxListed: it
// is read a part at a time, and the walk finds every entry once, in the
// same order as when the whole directory fits in one part.
func TestListedInParts(t *testing.T) {
	top := filepath.Join(t.TempDir(), "top")
	if err := os.MkdirAll(filepath.Join(top, "m"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := []string{"B", "a", "a0", "a~", "é", "m/x", "m/y", "z"}
	for i := range 40 {
		files = append(files, fmt.Sprintf("f%02d", i))
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(top, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a", filepath.Join(top, "link")); err != nil {
		t.Logf("no symbolic links here: %v", err)
	}
	walked := func() []string {
		t.Helper()
		var got []string
		if err := Walk(t.Context(), []string{top}, func(string, string) {}, func(e Entry) bool {
			got = append(got, e.Name)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := walked()
	if len(want) != len(files)+2 { // top and m too
		t.Fatalf("the walk in one part found %q, want %d entries", want, len(files)+2)
	}
	saved := maxListed
	t.Cleanup(func() { maxListed = saved })
	for _, n := range []int{1, 2, 7, 48} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			maxListed = n
			if got := walked(); !slices.Equal(got, want) {
				t.Errorf("in parts of %d the walk found\n%q\nwant\n%q", n, got, want)
			}
		})
	}
}

// TestReadSorted reads a directory of 25 names in parts of 10: each part
// the next names in order, and more set but after the last.
func TestReadSorted(t *testing.T) {
	dir := t.TempDir()
	var all []string
	for i := range 25 {
		name := fmt.Sprintf("n%02d", 24-i)
		all = append(all, name)
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(all)
	saved := maxListed
	maxListed = 10
	t.Cleanup(func() { maxListed = saved })
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	after := ""
	for _, want := range []struct {
		names []string
		more  bool
	}{{all[:10], true}, {all[10:20], true}, {all[20:], false}} {
		names, more, err := readSorted(f, after, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names, want.names) || more != want.more {
			t.Fatalf("readSorted(after %q) = %q, more %v; want %q, more %v", after, names, more, want.names, want.more)
		}
		after = names[len(names)-1]
	}
}
