package transfer_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferrytool/ferry/framing"
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

// TestSendChecksSources: a Send with nothing it can send fails at once,
// without a word on the connection, and closes it.
func TestSendChecksSources(t *testing.T) {
	tests := []struct {
		name    string
		sources []transfer.Source
		want    string
	}{
		{"none", nil, "nothing to send"},
		{"a file without Open", []transfer.Source{{Name: "f", Size: 1, Mode: 0o644}}, "cannot send f: the source has no Open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := listen(t)
			var sender transfer.Sender
			_, err := sender.Send(t.Context(), dial(t, ln.Addr()), tt.sources...)
			var e *transfer.Error
			if !errors.As(err, &e) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Send = %v, want an *Error saying %q", err, tt.want)
			}
			conn, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			if n, err := conn.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
				t.Errorf("the receiving end read %d bytes, %v; want the connection closed, empty", n, err)
			}
		})
	}
}

// TestFile: a File from Dir.CreateFile appears under its name only once
// committed, a second Commit changes nothing, writing after it fails, and
// a name that exists is refused with CodeExists before anything is written.
func TestFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "recv")
	d, err := transfer.OpenDir(dir, transfer.DirOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	f, err := d.CreateFile("out.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("kept\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "out.txt")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("out.txt before Commit: %v, want it not there", err)
	}
	for i := range 2 {
		if err := f.Commit(); err != nil {
			t.Fatalf("Commit %d: %v", i+1, err)
		}
	}
	if _, err := f.Write([]byte("more")); err == nil {
		t.Error("Write after Commit succeeded")
	}
	onlyEntry(t, dir, "out.txt")
	_, err = d.CreateFile("out.txt")
	var e *transfer.Error
	if !errors.As(err, &e) || e.Code != framing.CodeExists || e.Path != "out.txt" {
		t.Errorf("CreateFile of a name that exists = %v, want an *Error with CodeExists naming out.txt", err)
	}
}

// TestConflict: a file sent where the receiver has a directory of its
// name is refused as a conflict, which overwriting does not mend, not as
// a file that exists.
func TestConflict(t *testing.T) {
	for _, overwrite := range []bool{false, true} {
		t.Run(fmt.Sprintf("overwrite %v", overwrite), func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "x"), 0o755); err != nil {
				t.Fatal(err)
			}
			d, err := transfer.OpenDir(dir, transfer.DirOptions{Overwrite: overwrite})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			ln := listen(t)
			var receiver transfer.Receiver
			served := make(chan error, 1)
			go func() { served <- receiver.Serve(t.Context(), ln, d, transfer.ServeOptions{}) }()
			var sender transfer.Sender
			_, err = sender.Send(t.Context(), dial(t, ln.Addr()), transfer.StreamSource("x", strings.NewReader("data")))
			pe := peerError(t, err)
			if pe.Code != framing.CodeConflict || !strings.Contains(err.Error(), "x is a directory on the receiver; a file cannot replace it") {
				t.Errorf("Send = %v (code %d), want code %d (conflict)", err, pe.Code, framing.CodeConflict)
			}
			var e *transfer.Error
			if rerr := await(t, served, "Serve"); !errors.As(rerr, &e) || e.Remote || e.Code != framing.CodeConflict || e.Path != "x" {
				t.Errorf("Serve = %v, want the same conflict, over x", rerr)
			}
		})
	}
}
