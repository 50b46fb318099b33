package transfer_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferrytool/ferry/transfer"
)

// TestOpenDirCreate: a directory OpenDir made, with its missing parents,
// is taken away again by Close unless a transfer into it succeeded; one
// that was there stays either way.
func TestOpenDirCreate(t *testing.T) {
	tests := []struct {
		name     string
		existing bool // the directory is there before OpenDir
		transfer bool // a transfer into it succeeds
		kept     bool
	}{
		{"made, nothing received", false, false, false},
		{"made, a transfer received", false, true, true},
		{"there, nothing received", true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top := t.TempDir()
			dir := filepath.Join(top, "new", "inbox")
			if tt.existing {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			d, err := transfer.OpenDir(dir, transfer.DirOptions{Create: true})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := d.Created() != "", !tt.existing; got != want {
				t.Errorf("Created() = %q, want a path: %v", d.Created(), want)
			}
			if tt.transfer {
				src := transfer.StreamSource("note.txt", strings.NewReader("kept\n"))
				ln := listen(t)
				var receiver transfer.Receiver
				done := make(chan error, 1)
				go func() { done <- receiver.Serve(t.Context(), ln, d, transfer.ServeOptions{}) }()
				var sender transfer.Sender
				if _, err := sender.Send(t.Context(), dial(t, ln.Addr()), src); err != nil {
					t.Fatal(err)
				}
				if err := await(t, done, "Serve"); err != nil {
					t.Fatal(err)
				}
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			_, err = os.Stat(filepath.Join(top, "new"))
			if kept := err == nil; kept != tt.kept {
				t.Fatalf("after Close, %s exists: %v, want %v (%v)", filepath.Join(top, "new"), kept, tt.kept, err)
			}
			if !tt.kept && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
		})
	}
}
