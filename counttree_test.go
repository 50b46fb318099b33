package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestCountTree counts a tree of five files, then removes one before the
// sources are sent: with room to keep them, the sources counted are sent,
// the tree is not walked again; without, for their number or for the
// bytes of their names, a new walk finds four.
func TestCountTree(t *testing.T) {
	tests := []struct {
		name      string
		keep      int
		keepBytes int
		want      int // entries the sources yield after the removal
	}{
		{"kept", 10, 1 << 10, 6},
		{"walked again", 3, 1 << 10, 5},
		{"names too long to keep", 10, 33, 5}, // "tree" and five "tree/x": 34 bytes
		{"names just short enough", 10, 34, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "tree")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"a", "b", "c", "d", "e"} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			totals, seq, err := countTree(context.Background(), []string{dir}, nil, tt.keep, tt.keepBytes)
			if err != nil {
				t.Fatal(err)
			}
			if totals.Entries != 6 || totals.Files != 5 || totals.Bytes != 5 {
				t.Fatalf("counted %+v, want 6 entries, 5 files, 5 bytes", totals)
			}
			if err := os.Remove(filepath.Join(dir, "c")); err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, err := range seq {
				if err != nil {
					t.Fatal(err)
				}
				n++
			}
			if n != tt.want {
				t.Errorf("the sources to send are %d entries, want %d", n, tt.want)
			}
		})
	}
}
