package fdfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestChtimes checks that Chtimes sets both times, to the nanosecond, of
// the file the descriptor holds, whatever its name is now: by path, the
// file moved away would be missed.
func TestChtimes(t *testing.T) {
	want := time.Date(2001, 2, 3, 4, 5, 6, 789012345, time.UTC)
	tests := []struct {
		name  string
		flags int
	}{
		{"write only", unix.O_WRONLY},
		{"read only", unix.O_RDONLY},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "a")
			if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			fd, err := unix.Open(p, tt.flags|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			f := New(fd, "a")
			defer f.Close()
			moved := filepath.Join(dir, "b")
			if err := os.Rename(p, moved); err != nil {
				t.Fatal(err)
			}
			if err := f.Chtimes(want); err != nil {
				t.Fatal(err)
			}
			var st unix.Stat_t
			if err := unix.Stat(moved, &st); err != nil {
				t.Fatal(err)
			}
			if got := time.Unix(st.Mtim.Unix()); !got.Equal(want) {
				t.Errorf("modification time %v, want %v", got, want)
			}
			if got := time.Unix(st.Atim.Unix()); !got.Equal(want) {
				t.Errorf("access time %v, want %v", got, want)
			}
		})
	}
}

// TestChtimesClosed checks that a failure names the file.
func TestChtimesClosed(t *testing.T) {
	f := New(-1, "gone")
	err := f.Chtimes(time.Now())
	if want := "chtimes gone: bad file descriptor"; err == nil || err.Error() != want || !errors.Is(err, unix.EBADF) {
		t.Fatalf("Chtimes on a closed file: %v, want %s", err, want)
	}
}
