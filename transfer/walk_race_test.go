package transfer_test

// Tests of a sender whose tree changes under it: between the walk that
// lists the files and the opens that send them, and during the walk. What
// is sent must be what was listed, and nothing reached through a link
// found inside the tree.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ferrytool/ferry/transfer"
)

// outsideData is what the files outside the tree hold, which must never
// be read.
var outsideData = []byte("OUTSIDE the tree: must never be sent")

// raceTree makes a tree to send, top/a/secret and top/b/secret, and next
// to it a directory outside it, outside/secret, readable by its owner
// alone. It returns the parent of top and outside.
func raceTree(t *testing.T) string {
	t.Helper()
	parent := t.TempDir()
	buildTree(t, parent, []srcNode{
		{path: "top", dir: true, mode: 0o755},
		{path: "top/a", dir: true, mode: 0o755},
		{path: "top/a/secret", data: []byte("inside a"), mode: 0o644},
		{path: "top/b", dir: true, mode: 0o755},
		{path: "top/b/secret", data: []byte("inside b"), mode: 0o644},
		{path: "outside", dir: true, mode: 0o700},
		{path: "outside/secret", data: outsideData, mode: 0o700},
	}, treeEpoch)
	return parent
}

// replaceFile puts a new file holding data at path, by rename as an editor
// saves: another inode in the same place.
func replaceFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// replaceWithLink moves path aside and puts a symbolic link to target in
// its place.
func replaceWithLink(t *testing.T, path, target string) {
	t.Helper()
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

// raceSwaps are the changes a tree built by raceTree undergoes between the
// walk and the opens, with the file each leaves unopenable.
var raceSwaps = []struct {
	name    string
	swap    func(t *testing.T, parent string)
	refused []string // the sources Open must refuse; it must open the others
}{
	{
		// The attack: a directory of the tree becomes a link to one the
		// sender can read and the receiver must not.
		name: "directory replaced by a link outside",
		swap: func(t *testing.T, parent string) {
			replaceWithLink(t, filepath.Join(parent, "top/a"), filepath.Join(parent, "outside"))
		},
		refused: []string{"top/a/secret"},
	},
	{
		name: "directory replaced by a relative link outside",
		swap: func(t *testing.T, parent string) {
			replaceWithLink(t, filepath.Join(parent, "top/a"), "../outside")
		},
		refused: []string{"top/a/secret"},
	},
	{
		// Inside the tree, but b's file would arrive under a's name.
		name: "directory replaced by a link to another directory of the tree",
		swap: func(t *testing.T, parent string) {
			replaceWithLink(t, filepath.Join(parent, "top/a"), "b")
		},
		refused: []string{"top/a/secret"},
	},
	{
		name: "directory replaced by another directory",
		swap: func(t *testing.T, parent string) {
			a := filepath.Join(parent, "top/a")
			if err := os.Rename(a, a+".old"); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(a, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(a, "secret"), outsideData, 0o644); err != nil {
				t.Fatal(err)
			}
		},
		refused: []string{"top/a/secret"},
	},
	{
		name: "file replaced by another file",
		swap: func(t *testing.T, parent string) {
			replaceFile(t, filepath.Join(parent, "top/a/secret"), outsideData)
		},
		refused: []string{"top/a/secret"},
	},
	{
		name: "file replaced by a link outside",
		swap: func(t *testing.T, parent string) {
			replaceWithLink(t, filepath.Join(parent, "top/a/secret"), filepath.Join(parent, "outside/secret"))
		},
		refused: []string{"top/a/secret"},
	},
	{
		// The directory named, whose link was resolved once, for the
		// walk; another directory in its place is not what was listed.
		name: "top directory replaced by another directory",
		swap: func(t *testing.T, parent string) {
			top := filepath.Join(parent, "top")
			if err := os.Rename(top, top+".old"); err != nil {
				t.Fatal(err)
			}
			buildTree(t, parent, []srcNode{
				{path: "top", dir: true, mode: 0o755},
				{path: "top/a", dir: true, mode: 0o755},
				{path: "top/a/secret", data: outsideData, mode: 0o644},
				{path: "top/b", dir: true, mode: 0o755},
				{path: "top/b/secret", data: outsideData, mode: 0o644},
			}, treeEpoch)
		},
		refused: []string{"top/a/secret", "top/b/secret"},
	},
}

// TestOpenAfterSwap changes the tree between Collect and Open and checks
// that Open refuses the file, naming the change, rather than read
// another; and that the files the change left alone still open.
func TestOpenAfterSwap(t *testing.T) {
	t.Parallel()
	for _, tt := range raceSwaps {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parent := raceTree(t)
			srcs := collectAll(t, filepath.Join(parent, "top"))
			tt.swap(t, parent)
			for _, s := range srcs {
				if s.Open == nil {
					continue
				}
				rc, err := s.Open()
				if !slices.Contains(tt.refused, s.Name) {
					if err != nil {
						t.Errorf("Open(%s), which the change left alone: %v", s.Name, err)
						continue
					}
					_ = rc.Close()
					continue
				}
				if err == nil {
					got, _ := io.ReadAll(rc)
					_ = rc.Close()
					t.Fatalf("Open(%s) after the change succeeded and reads %q; want it refused", s.Name, got)
				}
				if !strings.Contains(err.Error(), "since it was listed") {
					t.Errorf("Open(%s) = %v; want an error saying it changed since it was listed", s.Name, err)
				}
			}
		})
	}
}

// TestOpenTopFileAfterSwap replaces a file named on the command line
// between Collect and Open: it is followed if a link, but must still be
// the file listed.
func TestOpenTopFileAfterSwap(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		link bool // name a link to the file rather than the file
	}{
		{"file", false},
		{"link to a file", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parent := raceTree(t)
			file := filepath.Join(parent, "top/a/secret")
			named := file
			if tt.link {
				named = filepath.Join(parent, "link")
				if err := os.Symlink(file, named); err != nil {
					t.Fatal(err)
				}
			}
			srcs := collectAll(t, named)
			replaceFile(t, file, outsideData)
			rc, err := srcs[0].Open()
			if err == nil {
				got, _ := io.ReadAll(rc)
				_ = rc.Close()
				t.Fatalf("Open(%s) after the file was replaced succeeded and reads %q; want it refused", named, got)
			}
			if !strings.Contains(err.Error(), "since it was listed") {
				t.Errorf("Open(%s) = %v; want an error saying it changed since it was listed", named, err)
			}
		})
	}
}

// TestOpenRewrittenInPlace checks what the identity check leaves alone: a
// file written to in place since the walk is still the file listed, and
// is sent as it is now, at the size listed.
func TestOpenRewrittenInPlace(t *testing.T) {
	t.Parallel()
	parent := raceTree(t)
	srcs := collectAll(t, filepath.Join(parent, "top"))
	if err := os.WriteFile(filepath.Join(parent, "top/a/secret"), []byte("INSIDE A"), 0o644); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(srcs, func(s transfer.Source) bool { return s.Name == "top/a/secret" })
	rc, err := srcs[i].Open()
	if err != nil {
		t.Fatalf("Open(top/a/secret) after writing to it in place: %v", err)
	}
	defer rc.Close()
	if got, err := io.ReadAll(rc); err != nil || string(got) != "INSIDE A" {
		t.Errorf("Open(top/a/secret) reads %q, %v; want %q", got, err, "INSIDE A")
	}
}

// TestSendAfterSwap sends a tree over loopback whose directory was
// replaced by a link outside it since the walk: the transfer must fail
// naming the file, and nothing from outside may arrive.
func TestSendAfterSwap(t *testing.T) {
	t.Parallel()
	parent := raceTree(t)
	srcs := collectAll(t, filepath.Join(parent, "top"))
	replaceWithLink(t, filepath.Join(parent, "top/a"), filepath.Join(parent, "outside"))

	sink, dir := newDirSink(t, false)
	o := run(t, srcs, sink, transfer.Options{}, transfer.Options{})
	if o.sendErr == nil || !strings.Contains(o.sendErr.Error(), "top/a/secret") || !strings.Contains(o.sendErr.Error(), "since it was listed") {
		t.Errorf("send error = %v; want one naming top/a/secret, changed since it was listed", o.sendErr)
	}
	if o.recvErr == nil {
		t.Errorf("receive succeeded; want the sender's error")
	}
	for _, name := range tree(t, dir) {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil && bytes.Contains(data, outsideData) {
			t.Errorf("%s arrived with the contents of the file outside the tree", name)
		}
	}
}

// swapOnCheck is a context that, at its nth check, runs swap: the walk
// checks its context as it starts each directory, after the directory's
// parent listed it and before the directory is read.
type swapOnCheck struct {
	context.Context
	n     int32
	swap  func()
	asked atomic.Int32
}

func (c *swapOnCheck) Err() error {
	if c.asked.Add(1) == c.n {
		c.swap()
	}
	return c.Context.Err()
}

// TestCollectSwapDuringWalk replaces a directory with a link outside the
// tree after the walk listed it and before it reads it, or before it reads
// a directory below it: the walk must not list what is outside.
func TestCollectSwapDuringWalk(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		n    int32  // the check that swaps: the first is top's, the second a's, the third a/b's
		read string // the directory whose reading must fail, below the parent
	}{
		{"the directory read next", 2, "top/a"},
		{"a directory above the one read next", 3, "top/a/b"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parent := t.TempDir()
			buildTree(t, parent, []srcNode{
				{path: "top", dir: true, mode: 0o755},
				{path: "top/a", dir: true, mode: 0o755},
				{path: "top/a/b", dir: true, mode: 0o755},
				{path: "top/a/b/mine", data: []byte("inside"), mode: 0o644},
				{path: "outside", dir: true, mode: 0o700},
				{path: "outside/b", dir: true, mode: 0o700},
				{path: "outside/b/secret", data: outsideData, mode: 0o700},
				{path: "outside/secret", data: outsideData, mode: 0o700},
			}, treeEpoch)
			ctx := &swapOnCheck{Context: t.Context(), n: tt.n, swap: func() {
				replaceWithLink(t, filepath.Join(parent, "top/a"), filepath.Join(parent, "outside"))
			}}
			srcs, err := transfer.Collect(ctx, []string{filepath.Join(parent, "top")}, func(p, why string) { t.Errorf("Collect skipped %s: %s", p, why) })
			if ctx.asked.Load() < tt.n {
				t.Fatalf("the walk checked its context %d times; the test needs a check as it starts %s", ctx.asked.Load(), tt.read)
			}
			if err == nil {
				var names []string
				for _, s := range srcs {
					names = append(names, s.Name)
				}
				t.Fatalf("Collect listed %q; want an error for %s, replaced while walked", names, tt.read)
			}
			if !strings.Contains(err.Error(), filepath.Join(parent, tt.read)+":") || !strings.Contains(err.Error(), "since it was listed") {
				t.Errorf("Collect error = %v; want one naming %s, changed since it was listed", err, tt.read)
			}
		})
	}
}

// TestOpenOrder opens the files of nested trees in the order a sender
// does, backwards, and each twice, and checks each reads its own
// contents: the sender keeps the directories on the way open from one
// file to the next, and must not mistake one directory for another.
func TestOpenOrder(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	var nodes []srcNode
	for _, top := range []string{"x", "y"} {
		nodes = append(nodes, srcNode{path: top, dir: true, mode: 0o755})
		for _, d := range []string{"", "/a", "/a/b", "/a/b/c", "/a/b/d", "/a/e", "/a/e/b", "/f"} {
			if d != "" {
				nodes = append(nodes, srcNode{path: top + d, dir: true, mode: 0o755})
			}
			for _, f := range []string{"0", "b.txt", "z"} {
				p := top + d + "/" + f
				nodes = append(nodes, srcNode{path: p, data: []byte("contents of " + p), mode: 0o644})
			}
		}
	}
	buildTree(t, parent, nodes, treeEpoch)
	srcs := collectAll(t, filepath.Join(parent, "x"), filepath.Join(parent, "y"))
	var files []transfer.Source
	for _, s := range srcs {
		if s.Open != nil {
			files = append(files, s)
		}
	}
	if len(files) < 40 {
		t.Fatalf("Collect found %d files; the test needs more", len(files))
	}
	backwards := slices.Clone(files)
	slices.Reverse(backwards)
	var twice []transfer.Source
	for _, s := range files {
		twice = append(twice, s, s)
	}
	for name, order := range map[string][]transfer.Source{"in order": files, "backwards": backwards, "each twice": twice} {
		for _, s := range order {
			rc, err := s.Open()
			if err != nil {
				t.Errorf("%s: Open(%s): %v", name, s.Name, err)
				continue
			}
			got, err := io.ReadAll(rc)
			_ = rc.Close()
			if want := "contents of " + s.Name; err != nil || string(got) != want {
				t.Errorf("%s: Open(%s) reads %q, %v; want %q", name, s.Name, got, err, want)
			}
		}
	}
}

// TestOpenReleasesDescriptors checks that the directories a sender keeps
// open are closed once the last file of their tree is opened, so that
// sending many directories does not hold descriptors for them all.
func TestOpenReleasesDescriptors(t *testing.T) {
	// No t.Parallel: it counts the process's descriptors.
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("skipping: cannot count descriptors: %v", err)
		}
		return len(ents)
	}
	parent := t.TempDir()
	var paths []string
	var nodes []srcNode
	for i := range 20 {
		top := fmt.Sprintf("t%02d", i)
		paths = append(paths, filepath.Join(parent, top))
		nodes = append(nodes,
			srcNode{path: top, dir: true, mode: 0o755},
			srcNode{path: top + "/a", dir: true, mode: 0o755},
			srcNode{path: top + "/a/b", dir: true, mode: 0o755},
			srcNode{path: top + "/a/b/f", data: []byte("f"), mode: 0o644},
			srcNode{path: top + "/a/b/g", data: []byte("g"), mode: 0o644},
		)
	}
	buildTree(t, parent, nodes, treeEpoch)
	srcs := collectAll(t, paths...)
	runtime.GC() // closes what earlier tests left to the garbage collector
	before := fds()
	for _, s := range srcs {
		if s.Open == nil {
			continue
		}
		rc, err := s.Open()
		if err != nil {
			t.Fatalf("Open(%s): %v", s.Name, err)
		}
		_ = rc.Close()
	}
	if after := fds(); after > before {
		t.Errorf("%d descriptors open after opening and closing every file, %d before", after, before)
	}
	runtime.KeepAlive(srcs)
}

// manyFiles makes the tree bench/run's small section sends: 10,000
// files of 1 KiB, 100 to a directory, and returns its top.
func manyFiles(b *testing.B) string {
	b.Helper()
	top := filepath.Join(b.TempDir(), "src")
	data := randomBytes(1024, 7)
	for i := range 10000 {
		dir := filepath.Join(top, fmt.Sprintf("d%03d", i/100))
		if i%100 == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d", i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return top
}

// BenchmarkCollect walks the tree of manyFiles.
func BenchmarkCollect(b *testing.B) {
	top := manyFiles(b)
	for b.Loop() {
		if _, err := transfer.Collect(b.Context(), []string{top}, func(string, string) {}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenFiles opens, reads and closes every file of the tree of
// manyFiles, as the sender does, but with nothing sent.
func BenchmarkOpenFiles(b *testing.B) {
	top := manyFiles(b)
	srcs, err := transfer.Collect(b.Context(), []string{top}, func(string, string) {})
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 4096)
	for b.Loop() {
		for _, s := range srcs {
			if s.Open == nil {
				continue
			}
			rc, err := s.Open()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(rc, buf[:s.Size]); err != nil {
				b.Fatal(err)
			}
			_ = rc.Close()
		}
	}
}

// BenchmarkSendFiles sends the tree of manyFiles, encrypted, over loopback
// TCP into a directory: both sides' costs per small file in one process,
// for -cpuprofile and -memprofile.
func BenchmarkSendFiles(b *testing.B) {
	top := manyFiles(b)
	srcs, err := transfer.Collect(b.Context(), []string{top}, func(string, string) {})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		dir, err := os.MkdirTemp(b.TempDir(), "recv")
		if err != nil {
			b.Fatal(err)
		}
		sink, err := transfer.NewDirSink(dir, false)
		if err != nil {
			b.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		served := make(chan error, 1)
		go func() {
			served <- transfer.ServeWith(b.Context(), ln, sink, transfer.Options{Code: testCode}, transfer.ServeOptions{})
		}()
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := transfer.Send(b.Context(), conn, srcs, transfer.Options{Code: testCode}); err != nil {
			b.Fatal(err)
		}
		if err := <-served; err != nil {
			b.Fatal(err)
		}
		_ = sink.Close()
		_ = os.RemoveAll(dir)
	}
}
