package fdfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWriteBehind starts and waits for the write-back of a real file's
// pieces, and reports a failure to, naming the file.
func TestWriteBehind(t *testing.T) {
	const piece = 1 << 20
	path := filepath.Join(t.TempDir(), "f")
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f := New(fd, path)
	data := make([]byte, piece)
	for off := int64(0); off < 3*piece; off += piece {
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := f.WriteBehind(off, piece); err != nil {
			t.Fatalf("WriteBehind(%d, %d) = %v", off, piece, err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(path); err != nil || info.Size() != 3*piece {
		t.Fatalf("the file is %v (%v), want %d bytes", info, err, 3*piece)
	}
	// No file: the write-back cannot begin, and says so.
	err = New(-1, path).WriteBehind(3*piece, piece)
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Path != path || !errors.Is(err, unix.EBADF) {
		t.Errorf("WriteBehind without a file = %v, want EBADF naming %s", err, path)
	}
}
