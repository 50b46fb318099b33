package destdir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCreateRollback opens a directory two levels below one that exists,
// with Options.Create: Open makes both and says so, and Close removes them
// unless a transfer into them finished, or a file arrived in them.
func TestCreateRollback(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, d *Dir)
		kept []string // what is left below the top directory
	}{
		{"no transfer", func(*testing.T, *Dir) {}, nil},
		{"a transfer that finished", func(t *testing.T, d *Dir) {
			b := begin(t, d, 1)
			defer b.Close()
			create(t, b, Entry{Dir: true, Mode: 0o755, Name: "sub"})
			durable(t, b)
			if err := b.Finish(false); err != nil {
				t.Fatal(err)
			}
		}, []string{"a", "a/b", "a/b/sub"}},
		{"a failed transfer that left nothing", func(t *testing.T, d *Dir) {
			b := begin(t, d, 2)
			defer b.Close()
			create(t, b, Entry{Mode: 0o644, Size: 1, Name: "f"}) // discarded by Close
		}, nil},
		{"a failed transfer that left a file", func(t *testing.T, d *Dir) {
			b := begin(t, d, 2)
			defer b.Close()
			commitFile(t, b, "f", []byte("x"))
			durable(t, b)
			if err := b.Finish(true); err != nil {
				t.Fatal(err)
			}
		}, []string{"a", "a/b", "a/b/f"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top := t.TempDir()
			dir := filepath.Join(top, "a", "b")
			d, err := Open(dir, Options{Create: true})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := d.Created(), []string{dir, filepath.Dir(dir)}; !slices.Equal(got, want) {
				t.Errorf("Created() = %q, want %q", got, want)
			}
			tc.run(t, d)
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			var left []string
			_ = filepath.WalkDir(top, func(p string, _ fs.DirEntry, err error) error {
				if p != top && err == nil {
					rel, _ := filepath.Rel(top, p)
					left = append(left, filepath.ToSlash(rel))
				}
				return nil
			})
			if !slices.Equal(left, tc.kept) {
				t.Errorf("after Close %s holds %q, want %q", top, left, tc.kept)
			}
		})
	}
}

// TestCreateExisting: with Options.Create a directory that exists is
// received into as it is, and Close leaves it.
func TestCreateExisting(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if made := d.Created(); len(made) != 0 {
		t.Errorf("Created() = %q for a directory that was there", made)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("Close took the directory that was there: %v", err)
	}
}

// TestCreateRefused: a file in the way, or a parent that cannot be made,
// is refused with the message the command gives, and nothing is left.
func TestCreateRefused(t *testing.T) {
	top := t.TempDir()
	file := filepath.Join(top, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ dir, want string }{
		{filepath.Join(file, "sub"), "cannot receive into " + filepath.Join(file, "sub") + ": not a directory"},
		{file, "cannot receive into " + file + ": not a directory"},
	} {
		_, err := Open(tc.dir, Options{Create: true})
		if err == nil || err.Error() != tc.want {
			t.Errorf("Open(%s) = %v, want %q", tc.dir, err, tc.want)
		}
	}
	locked := filepath.Join(top, "locked")
	if err := os.Mkdir(locked, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(locked, 0o755) })
	if os.Getuid() == 0 {
		return // root makes it all the same
	}
	dir := filepath.Join(locked, "a", "b")
	_, err := Open(dir, Options{Create: true})
	if err == nil || !strings.HasPrefix(err.Error(), "cannot create "+dir+": ") || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Open(%s) = %v, want cannot create it, permission denied", dir, err)
	}
}

func begin(t *testing.T, d *Dir, entries int64) *Batch {
	t.Helper()
	b, err := d.Begin(entries, UnknownSize)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func create(t *testing.T, b *Batch, e Entry) Destination {
	t.Helper()
	dest, err := b.Create(e)
	if err != nil {
		t.Fatal(err)
	}
	if e.Dir {
		if err := dest.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	return dest
}

func durable(t *testing.T, b *Batch) {
	t.Helper()
	if _, err := b.Durable(true); err != nil {
		t.Fatal(err)
	}
}
