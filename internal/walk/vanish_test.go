package walk

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestVanished removes an entry of the tree while it is walked, after the
// directory was listed: the entry is skipped, saying so, and the rest of
// the tree is walked.
func TestVanished(t *testing.T) {
	for _, tc := range []struct {
		name   string
		at     string // the entry after whose look remove goes
		remove string
		want   []string
	}{
		{name: "file", at: "a", remove: "b", want: []string{"top", "top/a", "top/c", "top/d", "top/d/e"}},
		{name: "link", at: "a", remove: "link", want: []string{"top", "top/a", "top/b", "top/c", "top/d", "top/d/e"}},
		{name: "directory", at: "d", remove: "d", want: []string{"top", "top/a", "top/b", "top/c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top := filepath.Join(t.TempDir(), "top")
			for _, d := range []string{top, filepath.Join(top, "d")} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range []string{"a", "b", "c", "d/e"} {
				if err := os.WriteFile(filepath.Join(top, f), []byte(f), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink("a", filepath.Join(top, "link")); err != nil {
				t.Skipf("no symbolic links here: %v", err)
			}
			afterLook = func(path string) {
				if path == filepath.Join(top, tc.at) {
					if err := os.RemoveAll(filepath.Join(top, tc.remove)); err != nil {
						t.Error(err)
					}
				}
			}
			t.Cleanup(func() { afterLook = nil })
			var got []string
			skipped := map[string]string{}
			err := Walk(t.Context(), []string{top}, func(path, reason string) { skipped[path] = reason }, func(e Entry) bool {
				got = append(got, e.Name)
				return true
			})
			if err != nil {
				t.Fatalf("Walk = %v, want the tree without %s", err, tc.remove)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("the walk found %q, want %q", got, tc.want)
			}
			if r := skipped[filepath.Join(top, tc.remove)]; r != vanished {
				t.Errorf("skipped %q, want %s skipped as %q", skipped, tc.remove, vanished)
			}
		})
	}
}
