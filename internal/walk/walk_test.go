package walk

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestWalkAllocs bounds what walking a directory of many small files
// allocates per file: a sender of many small files spends a good part of
// its time in the walk, and the garbage collector with it.
func TestWalkAllocs(t *testing.T) {
	const files = 200
	top := filepath.Join(t.TempDir(), "top")
	if err := os.Mkdir(top, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range files {
		if err := os.WriteFile(filepath.Join(top, fmt.Sprintf("f%03d", i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	seen := 0
	allocs := testing.AllocsPerRun(5, func() {
		seen = 0
		err := Walk(t.Context(), []string{top}, func(string, string) {}, func(Entry) bool {
			seen++
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if seen != files+1 {
		t.Fatalf("the walk found %d entries, want %d", seen, files+1)
	}
	// 4 now: the name in the listing, the name on the receiver, Open, and
	// the name x/sys copies for the fstatat; the rest is the walk's own.
	if perFile := allocs / files; perFile > 4.5 {
		t.Errorf("the walk allocates %.2f times a file, want at most 4.5", perFile)
	}
}
