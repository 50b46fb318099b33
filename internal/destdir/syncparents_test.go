package destdir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSyncParents syncs the directories above ones a caller made, and
// names the one it cannot open.
func TestSyncParents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	made := []string{filepath.Join(dir, "a", "b"), filepath.Join(dir, "a")}
	if err := os.MkdirAll(made[0], 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syncParents(made); err != nil {
		t.Errorf("syncParents(%q) = %v", made, err)
	}
	gone := filepath.Join(dir, "gone", "x")
	if err := syncParents([]string{gone}); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "gone")) {
		t.Errorf("syncParents(%q) = %v, want an error naming %s", gone, err, filepath.Join(dir, "gone"))
	}
}
