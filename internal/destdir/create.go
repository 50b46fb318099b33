package destdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// makeDir makes dir and any missing parents, as mkdir -p does, and
// durably, and returns the directories it made, deepest first.
func makeDir(dir string) ([]string, error) {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		_, err := os.Lstat(d)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("cannot receive into %s: %w", dir, unwrapPath(err))
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	// The clean path, as walked above: "a/b/../c" would make a/b too.
	if err := os.MkdirAll(filepath.Clean(dir), 0o777); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", dir, unwrapPath(err))
	}
	// So that a file received and acked is not lost with its directory:
	// a batch's flushes sync only the directories inside the Dir.
	if err := syncParents(missing); err != nil {
		removeEmpty(missing)
		return nil, fmt.Errorf("cannot create %s: %w", dir, err)
	}
	return missing, nil
}

// removeEmpty removes the directories makeDir made, deepest first, stopping
// at the first that is not empty (os.Remove never removes one with entries).
func removeEmpty(dirs []string) {
	for _, d := range dirs {
		if os.Remove(d) != nil {
			return
		}
	}
}

// syncParents makes durable the entries of dirs, directories made for a
// Dir as mkdir -p does, in the directories above them: a batch's flushes
// sync only the directories inside its Dir. Open with Options.Create does
// this itself.
func syncParents(dirs []string) error {
	for _, d := range dirs {
		parent := filepath.Dir(d)
		if err := syncDirAt(parent); err != nil {
			return fmt.Errorf("syncing directory %s: %w", parent, unwrapPath(err))
		}
	}
	return nil
}
