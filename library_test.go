package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ferrytool/ferry/transfer"
)

// TestLibraryMovesTree moves a tree with package transfer's public API
// alone, as a program that imports ferry would: a package outside
// transfer sees nothing of what its own tests may use. The tree arrives
// whole, with its modes, and the callbacks and summaries account for
// every file.
func TestLibraryMovesTree(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	files := map[string]string{
		"tree/a.txt":       "alpha\n",
		"tree/sub/b.txt":   "bravo\n",
		"tree/sub/c/d.txt": "delta\n",
		"tree/empty.txt":   "",
	}
	for name, data := range files {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	code := transfer.NewCode()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := transfer.OpenDir(filepath.Join(dst, "in"), transfer.DirOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	var mu sync.Mutex
	var received []string
	receiver := transfer.Receiver{Code: code, FilesDone: func(rs []transfer.FileResult) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range rs {
			received = append(received, r.Name)
		}
	}}
	served := make(chan error, 1)
	go func() { served <- receiver.Serve(ctx, ln, dir, transfer.ServeOptions{}) }()

	sources, err := transfer.Collect(ctx, []string{filepath.Join(src, "tree")}, func(path, reason string) {
		t.Errorf("Collect skipped %s: %s", path, reason)
	})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	var progressed int64
	sender := transfer.Sender{Code: code, Compression: transfer.CompressZstd, Progress: func(p transfer.Progress) { progressed = p.Bytes }}
	sum, err := sender.Send(ctx, conn, sources...)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if sum.Files != len(files) || sum.Dirs != 3 || sum.Bytes != 18 || progressed != 18 {
		t.Errorf("Send = %+v with progress at %d bytes, want 4 files, 3 directories, 18 bytes", sum, progressed)
	}
	var want []string
	for name, data := range files {
		want = append(want, name)
		p := filepath.Join(dst, "in", filepath.FromSlash(name))
		got, err := os.ReadFile(p)
		if err != nil || string(got) != data {
			t.Errorf("%s = %q, %v; want %q", name, got, err, data)
		}
		// 0640 less the receiver's umask, which takes no owner bits.
		if info, err := os.Stat(p); err == nil && (info.Mode().Perm()&^0o640 != 0 || info.Mode().Perm()&0o600 != 0o600) {
			t.Errorf("%s has mode %v, want 0640 less the umask", name, info.Mode().Perm())
		}
	}
	slices.Sort(want)
	slices.Sort(received)
	if !slices.Equal(received, want) {
		t.Errorf("FilesDone reported %q, want %q", received, want)
	}
}
