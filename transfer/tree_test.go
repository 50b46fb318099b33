package transfer_test

// In-process tests of directory transfers: what Collect makes of the paths
// a user names, whole trees through the real sender and receiver over
// loopback, trees sent again over what arrived before, transfers DirSink
// refuses before any file, many senders into one receiver at once, and two
// senders racing for the same names.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/destdir"
	"github.com/ferrytool/ferry/transfer"
)

// srcNode is one entry of a source tree a test makes.
type srcNode struct {
	path string // slash-separated, under the tree's parent directory
	dir  bool
	data []byte      // a file's contents
	mode fs.FileMode // permission bits
}

// treeEpoch is the base of the old modification times a source tree gets,
// with nanoseconds, so a receiver that drops or rounds times cannot match
// them by chance.
var treeEpoch = time.Date(2021, 3, 4, 5, 6, 7, 890_123_456, time.UTC)

// buildTree creates nodes under parent, each after its parent directory,
// and gives every entry its mode and an mtime of its own counted from
// epoch. Directories get theirs last: creating entries in a directory
// changes its time, and a read-only one would refuse them.
func buildTree(t *testing.T, parent string, nodes []srcNode, epoch time.Time) {
	t.Helper()
	writableAtCleanup(t, parent)
	mtime := func(i int) time.Time {
		return epoch.Add(time.Duration(i)*time.Hour + time.Duration(i)*7919*time.Nanosecond)
	}
	for i, n := range nodes {
		p := filepath.Join(parent, filepath.FromSlash(n.path))
		if n.dir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, n.data, 0o600); err != nil {
			t.Fatal(err)
		}
		// Explicit, since WriteFile's mode passes through the umask.
		if err := os.Chmod(p, n.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime(i), mtime(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		if !n.dir {
			continue
		}
		p := filepath.Join(parent, filepath.FromSlash(n.path))
		if err := os.Chmod(p, n.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime(i), mtime(i)); err != nil {
			t.Fatal(err)
		}
	}
}

// writableAtCleanup makes every directory under root writable again before
// t.TempDir removes it, which a read-only directory would stop when the
// tests do not run as root. Call it after the t.TempDir that made root.
func writableAtCleanup(t *testing.T, root string) {
	t.Cleanup(func() {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = os.Chmod(p, 0o755)
			}
			return nil
		})
	})
}

// checkReceived checks that dst holds exactly what src holds: the same
// names, every file's bytes, and every file's and directory's permission
// bits and mtime, as the source's file system keeps them.
func checkReceived(t *testing.T, src, dst string) {
	t.Helper()
	want, got := tree(t, src), tree(t, dst)
	if !slices.Equal(got, want) {
		t.Fatalf("received tree\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, name := range want {
		rel := strings.TrimSuffix(name, "/")
		info, err := os.Lstat(filepath.Join(src, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		if !info.IsDir() {
			data, err := os.ReadFile(filepath.Join(src, filepath.FromSlash(rel)))
			if err != nil {
				t.Fatal(err)
			}
			checkFile(t, dst, rel, data, info.Mode().Perm(), info.ModTime())
			continue
		}
		got, err := os.Lstat(filepath.Join(dst, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		if got.Mode() != info.Mode() {
			t.Errorf("received directory %s has mode %v, want %v", rel, got.Mode(), info.Mode())
		}
		if !got.ModTime().Equal(info.ModTime()) {
			t.Errorf("received directory %s has mtime %v, want %v", rel, got.ModTime(), info.ModTime())
		}
	}
}

// counts is what a Summary of sending sources must say.
func counts(sources []transfer.Source) (files, dirs int, n int64) {
	for _, s := range sources {
		if s.Mode.IsDir() {
			dirs++
			continue
		}
		files++
		n += s.Size
	}
	return files, dirs, n
}

// collectAll is Collect that fails the test on an error or a skip.
func collectAll(t *testing.T, paths ...string) []transfer.Source {
	t.Helper()
	srcs, err := transfer.Collect(t.Context(), paths, func(p, why string) { t.Errorf("Collect skipped %s: %s", p, why) })
	if err != nil {
		t.Fatalf("Collect(%q): %v", paths, err)
	}
	return srcs
}

// collectFixture is the source tree TestCollect starts from: a file and a
// directory holding files, a nested directory and an empty one, each with
// permission bits of its own.
var collectFixture = []srcNode{
	{path: "f.txt", data: []byte("file"), mode: 0o604},
	{path: "d", dir: true, mode: 0o750},
	{path: "d/a.txt", data: []byte("alpha"), mode: 0o640},
	{path: "d/b", dir: true, mode: 0o700},
	{path: "d/b/c.bin", data: randomBytes(1000, 3), mode: 0o600},
	{path: "d/b.txt", data: []byte("bravo"), mode: 0o604},
	{path: "d/empty", dir: true, mode: 0o755},
}

// wantSource is a source Collect must return: its name on the wire, and the
// fixture entry, relative to the fixture's root, it must describe.
type wantSource struct{ name, src string }

// dirSources is what Collect makes of the fixture's directory d sent as
// name: the directory first, then everything under it in lexical order,
// so "d/b" and its contents come before "d/b.txt".
func dirSources(name string) []wantSource {
	return []wantSource{
		{name, "d"},
		{name + "/a.txt", "d/a.txt"},
		{name + "/b", "d/b"},
		{name + "/b/c.bin", "d/b/c.bin"},
		{name + "/b.txt", "d/b.txt"},
		{name + "/empty", "d/empty"},
	}
}

// TestCollect checks what Collect makes of the paths a user names: the
// names things arrive under, their order, what is followed, what is
// skipped and why, and what is refused.
func TestCollect(t *testing.T) {
	// No t.Parallel: the "." case changes the working directory, which
	// t.Chdir allows only in a test with no parallel ancestor.
	type skipped struct {
		rel    string // the path reported is the first argument, "/", rel
		reason string // which the reason must contain
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, root string) []string // returns the paths to collect
		want  []wantSource
		skips []skipped
		// On an error: the message must contain errMsg and, with
		// namesArgs, every path given.
		errMsg    string
		namesArgs bool
	}{
		{
			name:  "file",
			setup: func(t *testing.T, root string) []string { return []string{filepath.Join(root, "f.txt")} },
			want:  []wantSource{{"f.txt", "f.txt"}},
		},
		{
			name:  "directory",
			setup: func(t *testing.T, root string) []string { return []string{filepath.Join(root, "d")} },
			want:  dirSources("d"),
		},
		{
			name:  "directory with a trailing slash",
			setup: func(t *testing.T, root string) []string { return []string{filepath.Join(root, "d") + "/"} },
			want:  dirSources("d"),
		},
		{
			name: "dot inside the directory",
			setup: func(t *testing.T, root string) []string {
				t.Chdir(filepath.Join(root, "d"))
				return []string{"."}
			},
			want: dirSources("d"),
		},
		{
			name:  "directory/.",
			setup: func(t *testing.T, root string) []string { return []string{filepath.Join(root, "d") + "/."} },
			want:  dirSources("d"),
		},
		{
			name:  "directory through ..",
			setup: func(t *testing.T, root string) []string { return []string{filepath.Join(root, "d", "b") + "/.."} },
			want:  dirSources("d"),
		},
		{
			// In tree order, as they are sent, whatever order they were
			// named in.
			name: "file and directory",
			setup: func(t *testing.T, root string) []string {
				return []string{filepath.Join(root, "f.txt"), filepath.Join(root, "d")}
			},
			want: append(dirSources("d"), wantSource{"f.txt", "f.txt"}),
		},
		{
			// Links inside a directory are skipped, whatever they point
			// at: following them could send a tree twice, or forever.
			name: "symbolic links inside",
			setup: func(t *testing.T, root string) []string {
				d := filepath.Join(root, "d")
				for link, to := range map[string]string{"link": "../f.txt", "dirlink": "b", "zz-dangling": "nowhere"} {
					if err := os.Symlink(to, filepath.Join(d, link)); err != nil {
						t.Fatal(err)
					}
				}
				return []string{d}
			},
			want:  dirSources("d"),
			skips: []skipped{{"dirlink", "symbolic link"}, {"link", "symbolic link"}, {"zz-dangling", "symbolic link"}},
		},
		{
			name: "named pipe inside",
			setup: func(t *testing.T, root string) []string {
				d := filepath.Join(root, "d")
				if err := syscall.Mkfifo(filepath.Join(d, "pipe"), 0o644); err != nil {
					t.Fatal(err)
				}
				return []string{d}
			},
			want:  dirSources("d"),
			skips: []skipped{{"pipe", "named pipe"}},
		},
		{
			name: "socket inside",
			setup: func(t *testing.T, root string) []string {
				d := filepath.Join(root, "d")
				ln, err := net.Listen("unix", filepath.Join(d, "sock"))
				if err != nil {
					// Only where unix sockets cannot be made (a long
					// temporary path, say); never in CI.
					if os.Getenv("CI") == "true" {
						t.Fatalf("cannot make a socket to collect: %v", err)
					}
					t.Skipf("skipping: cannot make a socket to collect: %v", err)
				}
				ln.(*net.UnixListener).SetUnlinkOnClose(false)
				_ = ln.Close()
				return []string{d}
			},
			want:  dirSources("d"),
			skips: []skipped{{"sock", "socket"}},
		},
		{
			// The receiver refuses names of its own temporary files, so
			// sending them would only fail the transfer at that file. A
			// directory of such a name is skipped whole.
			name: "temporary file names inside",
			setup: func(t *testing.T, root string) []string {
				d := filepath.Join(root, "d")
				if err := os.WriteFile(filepath.Join(d, ".ferry-0123456789ab-x.part"), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(filepath.Join(d, "b", ".ferry-0123456789ab-y.part", "inner"), 0o755); err != nil {
					t.Fatal(err)
				}
				return []string{d}
			},
			want: dirSources("d"),
			skips: []skipped{
				{".ferry-0123456789ab-x.part", "the receiver would refuse its name"},
				{"b/.ferry-0123456789ab-y.part", "the receiver would refuse its name"},
			},
		},
		{
			// A link the user names is followed, as cp -r and scp do, and
			// arrives under the link's name with the target's contents.
			name: "symbolic link to a file named",
			setup: func(t *testing.T, root string) []string {
				if err := os.Symlink("f.txt", filepath.Join(root, "lf")); err != nil {
					t.Fatal(err)
				}
				return []string{filepath.Join(root, "lf")}
			},
			want: []wantSource{{"lf", "f.txt"}},
		},
		{
			name: "symbolic link to a directory named",
			setup: func(t *testing.T, root string) []string {
				if err := os.Symlink("d", filepath.Join(root, "ld")); err != nil {
					t.Fatal(err)
				}
				return []string{filepath.Join(root, "ld")}
			},
			want: dirSources("ld"),
		},
		{
			// Both would arrive as d: one would fail, or overwrite the other.
			name: "two paths with one base name",
			setup: func(t *testing.T, root string) []string {
				if err := os.MkdirAll(filepath.Join(root, "other", "d"), 0o755); err != nil {
					t.Fatal(err)
				}
				return []string{filepath.Join(root, "d"), filepath.Join(root, "other", "d")}
			},
			errMsg:    "both would arrive as d",
			namesArgs: true,
		},
		{
			name:      "root directory",
			setup:     func(t *testing.T, root string) []string { return []string{"/"} },
			errMsg:    "name a directory below it",
			namesArgs: true,
		},
		{
			name:      "missing path",
			setup:     func(t *testing.T, root string) []string { return []string{filepath.Join(root, "nope")} },
			errMsg:    "no such file or directory",
			namesArgs: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			buildTree(t, root, collectFixture, treeEpoch)
			args := tt.setup(t, root)
			var skips []string
			srcs, err := transfer.Collect(t.Context(), args, func(p, why string) { skips = append(skips, p+": "+why) })

			if tt.errMsg != "" {
				if err == nil {
					t.Fatalf("Collect(%q) = %d sources, want an error", args, len(srcs))
				}
				if !strings.Contains(err.Error(), tt.errMsg) {
					t.Errorf("Collect error %q does not say %q", err, tt.errMsg)
				}
				for _, a := range args {
					if tt.namesArgs && !strings.Contains(err.Error(), a) {
						t.Errorf("Collect error %q does not name %s", err, a)
					}
				}
				if srcs != nil {
					t.Errorf("Collect returned %d sources with its error", len(srcs))
				}
				return
			}
			if err != nil {
				t.Fatalf("Collect(%q): %v", args, err)
			}

			if len(skips) != len(tt.skips) {
				t.Errorf("skipped %q, want %d skips", skips, len(tt.skips))
			} else {
				for i, want := range tt.skips {
					path := args[0] + "/" + want.rel
					if !strings.HasPrefix(skips[i], path+": ") || !strings.Contains(skips[i], want.reason) {
						t.Errorf("skip %d = %q, want %s with a reason saying %q", i, skips[i], path, want.reason)
					}
				}
			}

			var names []string
			for _, s := range srcs {
				names = append(names, s.Name)
			}
			var wantNames []string
			for _, w := range tt.want {
				wantNames = append(wantNames, w.name)
			}
			if !slices.Equal(names, wantNames) {
				t.Fatalf("Collect(%q) names %q, want %q", args, names, wantNames)
			}
			for i, w := range tt.want {
				checkSource(t, srcs[i], filepath.Join(root, filepath.FromSlash(w.src)))
			}
		})
	}
}

// checkSource checks that s describes the file or directory at path: its
// kind, permission bits, size, mtime and, for a file, its contents.
func checkSource(t *testing.T, s transfer.Source, path string) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !s.ModTime.Equal(info.ModTime()) {
		t.Errorf("%s: mtime %v, want %v", s.Name, s.ModTime, info.ModTime())
	}
	if info.IsDir() {
		if s.Mode != fs.ModeDir|info.Mode().Perm() || s.Size != 0 || s.Open != nil {
			t.Errorf("%s: mode %v, size %d, Open set %t; want a directory entry with mode %v",
				s.Name, s.Mode, s.Size, s.Open != nil, fs.ModeDir|info.Mode().Perm())
		}
		return
	}
	if s.Mode != info.Mode().Perm() || s.Size != info.Size() {
		t.Errorf("%s: mode %v, size %d; want %v, %d", s.Name, s.Mode, s.Size, info.Mode().Perm(), info.Size())
	}
	if s.Open == nil {
		t.Fatalf("%s: no Open for a file", s.Name)
	}
	rc, err := s.Open()
	if err != nil {
		t.Fatalf("%s: Open: %v", s.Name, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: Open reads %d bytes that differ from the %d of %s", s.Name, len(got), len(want), path)
	}
}

// queueSink passes a Sink through and records the most regular files its
// batches held committed but not yet flushed.
type queueSink struct {
	transfer.Sink

	mu   sync.Mutex
	most int
}

func (s *queueSink) Begin(o framing.Offer) (transfer.Batch, error) {
	b, err := s.Sink.Begin(o)
	if err != nil {
		return nil, err
	}
	return &queueBatch{Batch: b, sink: s}, nil
}

func (s *queueSink) mostQueued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.most
}

type queueBatch struct {
	transfer.Batch
	sink      *queueSink
	committed []bool // whether each entry committed and not yet durable is a regular file
	queued    int    // the regular files among them
}

func (b *queueBatch) Create(f destdir.Entry) (destdir.Destination, error) {
	d, err := b.Batch.Create(f)
	if err != nil {
		return d, err
	}
	return queueDest{Destination: d, b: b, file: !f.Dir}, nil
}

func (b *queueBatch) Durable(wait bool) (int, error) {
	n, err := b.Batch.Durable(wait)
	for _, file := range b.committed[:n] {
		if file {
			b.queued--
		}
	}
	b.committed = b.committed[n:]
	return n, err
}

type queueDest struct {
	destdir.Destination
	b    *queueBatch
	file bool
}

func (d queueDest) Commit() error {
	if err := d.Destination.Commit(); err != nil {
		return err
	}
	d.b.committed = append(d.b.committed, d.file)
	if !d.file {
		return nil
	}
	d.b.queued++
	s := d.b.sink
	s.mu.Lock()
	s.most = max(s.most, d.b.queued)
	s.mu.Unlock()
	return nil
}

// sendTreeNodes is the tree TestSendTreeInProcess sends: nested
// directories, an empty one, a read-only one holding a file, and 48 files
// of 0 B to 600 KiB with modes 0o600, 0o640 and 0o755. The files listed
// first are small, so that more than 16 of them (maxOpenQueued) are
// committed well within the receiver's one-second flush age: then the
// receiver closes the later ones at Commit and must reopen them to fsync
// them one by one where syncfs is not used.
func sendTreeNodes() []srcNode {
	// 0o444 among them: a read-only file closed early in a big flush must
	// still be reopened to sync, which only a non-root receiver notices.
	modes := []fs.FileMode{0o600, 0o640, 0o755, 0o444}
	nodes := []srcNode{
		{path: "tree", dir: true, mode: 0o755},
		{path: "tree/a", dir: true, mode: 0o750},
		{path: "tree/a/b", dir: true, mode: 0o700},
		{path: "tree/a/b/c", dir: true, mode: 0o755},
		{path: "tree/a/b/c/deep.txt", data: textBytes(3000), mode: 0o640},
		{path: "tree/empty", dir: true, mode: 0o750},
		{path: "tree/many", dir: true, mode: 0o755},
	}
	big := []int{transfer.ChunkSize - 1, transfer.ChunkSize, transfer.ChunkSize + 1, 600 << 10, 40_000, 150_000, 1, 333_333}
	for i := range 44 {
		n := (i * i * 131) % 9000 // 0 for the first
		if i >= 24 {
			n = big[(i-24)%len(big)]
		}
		data := textBytes(n)
		if i%2 == 1 {
			data = randomBytes(n, uint64(i))
		}
		nodes = append(nodes, srcNode{path: fmt.Sprintf("tree/many/f%02d", i), data: data, mode: modes[i%len(modes)]})
	}
	return append(nodes,
		srcNode{path: "tree/ro", dir: true, mode: 0o555},
		srcNode{path: "tree/ro/inside.txt", data: textBytes(700), mode: 0o640},
		srcNode{path: "tree/top.bin", data: randomBytes(600<<10, 99), mode: 0o755},
		srcNode{path: "tree/zero", mode: 0o600},
	)
}

// TestSendTreeInProcess sends a whole tree through Send and Serve into a
// DirSink and checks every file's bytes, mode and time, every directory's
// mode and time, and both sides' counts; once with syncfs where the system
// has it and once syncing file by file, as on systems without it; each
// with flushes at the end and with background flushes every few files,
// while more arrive.
func TestSendTreeInProcess(t *testing.T) {
	// No t.Parallel, here or below: WithoutSyncFS swaps a package
	// variable, which no other test may read meanwhile.
	tests := []struct {
		name       string
		noSyncFS   bool
		background bool
	}{
		{"default sync", false, false},
		{"fsync each file", true, false},
		{"background flushes", false, true},
		{"background flushes, fsync each file", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.noSyncFS {
				transfer.WithoutSyncFS(t)
			}
			src := t.TempDir()
			nodes := sendTreeNodes()
			buildTree(t, src, nodes, treeEpoch)
			sources := collectAll(t, filepath.Join(src, "tree"))
			files, dirs, total := counts(sources)
			if files != 48 || dirs != 7 {
				t.Fatalf("Collect found %d files and %d directories, want 48 and 7", files, dirs)
			}

			dirSink, dir := newDirSink(t, false)
			writableAtCleanup(t, dir)
			var sink transfer.Sink = dirSink
			var queued *queueSink
			if tt.background {
				transfer.SetBackgroundFlushFiles(dirSink, 4)
			} else {
				queued = &queueSink{Sink: dirSink}
				sink = queued
			}
			o := run(t, sources, sink, transfer.Options{}, transfer.Options{})
			if o.sendErr != nil || o.recvErr != nil {
				t.Fatalf("send: %v; receive: %v", o.sendErr, o.recvErr)
			}
			checkReceived(t, src, dir)
			noTempFiles(t, dir)
			for side, s := range map[string]transfer.Summary{"sender": o.sendSum, "receiver": o.recvSum} {
				if s.Files != files || s.Dirs != dirs || s.Bytes != total {
					t.Errorf("%s summary: %d files, %d directories, %d bytes; want %d, %d, %d", side, s.Files, s.Dirs, s.Bytes, files, dirs, total)
				}
			}
			// FilesDone reports regular files only, each once, with the
			// checksum of what was sent.
			want := map[string]string{}
			for _, n := range nodes {
				if !n.dir {
					want[n.path] = checksum(n.data)
				}
			}
			for side, done := range map[string][]transfer.FileResult{"sender": o.sendDone, "receiver": o.recvDone} {
				got := map[string]string{}
				for _, r := range done {
					got[r.Name] = r.Checksum
				}
				if len(done) != len(want) || !maps.Equal(got, want) {
					t.Errorf("%s reported %d finished files %v, want %d: %v", side, len(done), got, len(want), want)
				}
			}
			// The case this tree is built for: more files waiting for one
			// flush than the receiver keeps open.
			if queued == nil {
				return
			}
			if most := queued.mostQueued(); most <= 16 {
				t.Errorf("at most %d files were waiting for a flush; the tree must queue more than 16 to test closing and reopening them", most)
			}
		})
	}
}

// TestSyncFails has every syncfs fail, in the flush at the end and in
// background flushes: both sides must fail naming the sync, no file may be
// reported done, and any file left in the receiving directory must be whole.
func TestSyncFails(t *testing.T) {
	// No t.Parallel, here or below: FailSyncFS swaps a package variable.
	for _, tt := range []struct {
		name    string
		bgFiles int
	}{
		{"final flush", 0},
		{"background flush", 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			transfer.FailSyncFS(t, syscall.EIO)
			src := t.TempDir()
			nodes := sendTreeNodes()
			buildTree(t, src, nodes, treeEpoch)
			sink, dir := newDirSink(t, false)
			writableAtCleanup(t, dir)
			transfer.SetBackgroundFlushFiles(sink, tt.bgFiles)
			o := run(t, collectAll(t, filepath.Join(src, "tree")), sink, transfer.Options{}, transfer.Options{})
			if o.recvErr == nil || !strings.Contains(o.recvErr.Error(), "syncing") || !errors.Is(o.recvErr, syscall.EIO) {
				t.Errorf("receiver: %v, want a failed sync with EIO", o.recvErr)
			}
			if pe := peerError(t, o.sendErr); !strings.Contains(pe.Err.Error(), "syncing") {
				t.Errorf("sender: %v, want the receiver's failed sync", o.sendErr)
			}
			if len(o.sendDone) != 0 || len(o.recvDone) != 0 {
				t.Errorf("%d files acknowledged and %d reported received, though no sync succeeded", len(o.sendDone), len(o.recvDone))
			}
			noTempFiles(t, dir)
			data := map[string][]byte{}
			for _, n := range nodes {
				data[n.path] = n.data
			}
			for _, name := range tree(t, dir) {
				info, err := os.Lstat(filepath.Join(dir, name))
				if err != nil || info.IsDir() {
					continue
				}
				got, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil || !bytes.Equal(got, data[filepath.ToSlash(name)]) {
					t.Errorf("%s is left with %d bytes that are not the file sent (%v)", name, len(got), err)
				}
			}
		})
	}
}

// TestTreeOverwrite sends a tree, then another version of it under the same
// names: refused at the first existing file without --overwrite, leaving
// what was there; accepted with it, replacing files, modes and times.
func TestTreeOverwrite(t *testing.T) {
	t.Parallel()
	version := func(v int) []srcNode {
		return []srcNode{
			{path: "t", dir: true, mode: 0o755 - fs.FileMode(v-1)*0o005},
			{path: "t/a.txt", data: textBytes(1000 * v), mode: 0o644 - fs.FileMode(v-1)*0o044},
			{path: "t/sub", dir: true, mode: 0o750},
			{path: "t/sub/b.bin", data: randomBytes(transfer.ChunkSize+v*1000, uint64(v)), mode: 0o640},
			{path: "t/sub/c.txt", data: textBytes(5 * v), mode: 0o600},
		}
	}
	srcs := map[int]string{}
	for v := 1; v <= 2; v++ {
		srcs[v] = t.TempDir()
		buildTree(t, srcs[v], version(v), treeEpoch.Add(time.Duration(v)*24*time.Hour))
	}
	_, dir := newDirSink(t, false) // only for its directory; each step opens its own sink
	writableAtCleanup(t, dir)
	steps := []struct {
		name      string
		version   int  // the tree sent
		overwrite bool // the receiver's --overwrite
		refused   bool // the receiver must refuse it
		holds     int  // the version the directory holds afterwards
	}{
		{"first", 1, false, false, 1},
		{"again without overwrite", 2, false, true, 1},
		{"again with overwrite", 2, true, false, 2},
	}
	for _, st := range steps {
		ok := t.Run(st.name, func(t *testing.T) {
			sink, err := transfer.NewDirSink(dir, st.overwrite)
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			o := run(t, collectAll(t, filepath.Join(srcs[st.version], "t")), sink, transfer.Options{}, transfer.Options{})
			if st.refused {
				// Every file that differs is refused, t/a.txt first; the
				// directories are merged into, not refused.
				for side, err := range map[string]error{"sender": o.sendErr, "receiver": o.recvErr} {
					var e *transfer.Error
					if !errors.Is(err, transfer.ErrRefused) || !errors.As(err, &e) || e.Code != framing.CodeExists || e.Path != "t/a.txt" {
						t.Errorf("%s's error %v (%+v); want ErrRefused, code %d (exists), first t/a.txt", side, err, e, framing.CodeExists)
					}
				}
				if n := len(o.sendSum.Refused); n == 0 || n != len(o.recvSum.Refused) || o.sendSum.Files != 0 {
					t.Errorf("summaries %+v and %+v: want the files that differ refused, none sent", o.sendSum, o.recvSum)
				}
			} else if o.sendErr != nil || o.recvErr != nil {
				t.Fatalf("send: %v; receive: %v", o.sendErr, o.recvErr)
			}
			checkReceived(t, srcs[st.holds], dir)
			noTempFiles(t, dir)
		})
		if !ok {
			break // later steps build on this one
		}
	}
}

// TestRefusedBounded: a tree whose every file is refused is counted whole,
// but only the first MaxRefusedNames are named, on both sides, so that
// memory does not grow with the tree.
func TestRefusedBounded(t *testing.T) {
	const n = transfer.MaxRefusedNames + 3
	sink, dir := newDirSink(t, false)
	src := filepath.Join(t.TempDir(), "t")
	for _, d := range []string{src, filepath.Join(dir, "t")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		name := fmt.Sprintf("f%04d", i)
		if err := os.WriteFile(filepath.Join(src, name), []byte("new"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "t", name), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	o := run(t, collectAll(t, src), sink, transfer.Options{}, transfer.Options{})
	if len(o.sendSum.Refused) > 0 && !strings.HasPrefix(o.sendSum.Refused[0], "t/f0000: ") {
		t.Errorf("the sender names %q first, want t/f0000", o.sendSum.Refused[0])
	}
	for side, got := range map[string]struct {
		sum transfer.Summary
		err error
	}{"sender": {o.sendSum, o.sendErr}, "receiver": {o.recvSum, o.recvErr}} {
		if got.sum.RefusedFiles != n || len(got.sum.Refused) != transfer.MaxRefusedNames {
			t.Errorf("%s counted %d files refused and named %d; want %d and %d", side, got.sum.RefusedFiles, len(got.sum.Refused), n, transfer.MaxRefusedNames)
		}
		if want := fmt.Sprintf("%d files", n); !errors.Is(got.err, transfer.ErrRefused) || !strings.Contains(got.err.Error(), want) {
			t.Errorf("%s's error %v; want ErrRefused for %s", side, got.err, want)
		}
	}
}

// TestTreeMergeKeepsDirectory sends a tree into a receiver that already
// has its top directory: without --overwrite the files arrive in it and
// the directory keeps the receiver's mode and is not given the sender's
// time; with --overwrite it takes the sender's time, as with rsync -a, but
// the sender's 0777 must not open it up.
func TestTreeMergeKeepsDirectory(t *testing.T) {
	t.Parallel()
	for _, overwrite := range []bool{false, true} {
		t.Run(fmt.Sprintf("overwrite=%v", overwrite), func(t *testing.T) {
			src := t.TempDir()
			buildTree(t, src, []srcNode{
				{path: "t", dir: true, mode: 0o777},
				{path: "t/new.txt", data: textBytes(100), mode: 0o644},
			}, treeEpoch)
			sink, dir := newDirSink(t, overwrite)
			if err := os.Mkdir(filepath.Join(dir, "t"), 0o700); err != nil {
				t.Fatal(err)
			}
			o := run(t, collectAll(t, filepath.Join(src, "t")), sink, transfer.Options{}, transfer.Options{})
			if o.sendErr != nil || o.recvErr != nil {
				t.Fatalf("send: %v; receive: %v", o.sendErr, o.recvErr)
			}
			if got, err := os.ReadFile(filepath.Join(dir, "t", "new.txt")); err != nil || !bytes.Equal(got, textBytes(100)) {
				t.Errorf("t/new.txt holds %d bytes (%v), want the 100 sent", len(got), err)
			}
			wantMode, wantSame := fs.FileMode(0o700), false
			if overwrite {
				wantSame = true
			}
			mode, same := dirAttrs(t, filepath.Join(dir, "t"), filepath.Join(src, "t"))
			if mode != wantMode || same != wantSame {
				t.Errorf("existing directory t has mode %v after the transfer, mtime the sender's: %v; want %v, %v", mode, same, wantMode, wantSame)
			}
		})
	}
}

// TestFailedTransferDirModes has transfers of a tree fail after some of it
// arrived: the directories a failed transfer made get the sender's mode
// and time all the same, so a later transfer merging into them (which
// keeps an existing directory's own) does not leave them private, except
// a mode that would lock a later transfer out, which stays 0700. A
// directory that was there already is left alone, even with --overwrite,
// and after an interruption nothing is set, so Ctrl-C is not kept waiting.
func TestFailedTransferDirModes(t *testing.T) {
	t.Parallel()
	t.Run("sender fails", func(t *testing.T) {
		t.Parallel()
		src := t.TempDir()
		buildTree(t, src, []srcNode{
			{path: "t", dir: true, mode: 0o751},
			{path: "t/a.txt", data: textBytes(100), mode: 0o644},
			{path: "t/locked", dir: true, mode: 0o555},
			{path: "t/open", dir: true, mode: 0o775},
			{path: "t/z.bin", data: textBytes(100), mode: 0o644},
		}, treeEpoch)
		dirSink, dir := newDirSink(t, false)
		// The sender's modes whatever the umask the tests run under;
		// TestReceiverUmask has a failed transfer under one.
		dirSink.SetKeepPerms(true)
		sink := commitSignal{dirSink, "t/a.txt", make(chan struct{})}
		srcs := failLast(t, collectAll(t, filepath.Join(src, "t")), "t/z.bin", sink.committed)
		o := run(t, srcs, sink, transfer.Options{}, transfer.Options{})
		if o.sendErr == nil || o.recvErr == nil {
			t.Fatalf("Send = %v, Receive = %v; want both to fail", o.sendErr, o.recvErr)
		}
		tests := []struct {
			path     string
			mode     fs.FileMode
			sameTime bool
		}{
			{"t", 0o751, true},
			{"t/locked", 0o700, false},
			{"t/open", 0o775, true},
		}
		for _, tt := range tests {
			mode, same := dirAttrs(t, filepath.Join(dir, tt.path), filepath.Join(src, tt.path))
			if mode != tt.mode || same != tt.sameTime {
				t.Errorf("after the failed transfer, %s has mode %v, mtime the sender's: %v; want %v, %v", tt.path, mode, same, tt.mode, tt.sameTime)
			}
		}
	})
	t.Run("existing directory, --overwrite", func(t *testing.T) {
		t.Parallel()
		src := t.TempDir()
		buildTree(t, src, []srcNode{
			{path: "t", dir: true, mode: 0o777},
			{path: "t/z.bin", data: textBytes(100), mode: 0o644},
		}, treeEpoch)
		sink, dir := newDirSink(t, true)
		if err := os.Mkdir(filepath.Join(dir, "t"), 0o700); err != nil {
			t.Fatal(err)
		}
		failNow := make(chan struct{})
		close(failNow)
		srcs := failLast(t, collectAll(t, filepath.Join(src, "t")), "t/z.bin", failNow)
		o := run(t, srcs, sink, transfer.Options{}, transfer.Options{})
		if o.recvErr == nil {
			t.Fatalf("Receive = nil, want the sender's failure")
		}
		// Its time moves with the temporary file made and removed in it,
		// but must not be set to the sender's.
		if mode, same := dirAttrs(t, filepath.Join(dir, "t"), filepath.Join(src, "t")); mode != 0o700 || same {
			t.Errorf("the failed transfer changed the existing t (0700) to %v, mtime the sender's: %v", mode, same)
		}
	})
	t.Run("another sender's file first", func(t *testing.T) {
		t.Parallel()
		src := t.TempDir()
		buildTree(t, src, []srcNode{
			{path: "t", dir: true, mode: 0o755},
			{path: "t/x.txt", data: textBytes(100), mode: 0o644},
		}, treeEpoch)
		dirSink, dir := newDirSink(t, false)
		o := run(t, collectAll(t, filepath.Join(src, "t")), placeFirst(dirSink, dir, "t/x.txt"), transfer.Options{}, transfer.Options{})
		if o.recvErr == nil || !strings.Contains(o.recvErr.Error(), "already exists") {
			t.Fatalf("Receive = %v, want t/x.txt refused as existing", o.recvErr)
		}
		if info, err := os.Stat(filepath.Join(dir, "t")); err != nil || info.Mode().Perm() != 0o755 {
			t.Errorf("after the failed flush, t is %v (%v), want the sender's 0755", info.Mode(), err)
		}
	})
	t.Run("interrupted", func(t *testing.T) {
		t.Parallel()
		src := t.TempDir()
		buildTree(t, src, []srcNode{{path: "t", dir: true, mode: 0o755}}, treeEpoch)
		dirSink, dir := newDirSink(t, false)
		sink := commitSignal{dirSink, "t", make(chan struct{})}
		srcs := append(collectAll(t, filepath.Join(src, "t")), transfer.StreamSource("t/endless", endless{}))
		ln := listen(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		recvErr := receiveOne(t, ctx, ln, sink, transfer.Options{})
		conn := dial(t, ln.Addr())
		sent := make(chan error, 1)
		go func() { _, err := transfer.Send(t.Context(), conn, srcs, transfer.Options{}); sent <- err }()
		await(t, sink.committed, "the commit of t")
		cancel()
		if err := await(t, recvErr, "Receive"); !errors.Is(err, context.Canceled) {
			t.Errorf("Receive = %v, want it interrupted", err)
		}
		await(t, sent, "Send")
		if info, err := os.Stat(filepath.Join(dir, "t")); err != nil || info.Mode().Perm() != 0o700 {
			t.Errorf("after the interruption, t is %v (%v), want it left 0700", info.Mode(), err)
		}
	})
}

// TestFailedSyncDirModes has the sender fail once a file has arrived, and
// the receiver's last flush then fail to sync that file: it is discarded,
// but the directory the transfer made still gets the sender's mode and
// time. Not parallel: FailSyncFile holds for the whole package.
func TestFailedSyncDirModes(t *testing.T) {
	transfer.FailSyncFile(t, syscall.EIO) // one file: synced on its own
	src := t.TempDir()
	buildTree(t, src, []srcNode{
		{path: "t", dir: true, mode: 0o751},
		{path: "t/a.txt", data: textBytes(100), mode: 0o644},
		{path: "t/z.bin", data: textBytes(100), mode: 0o644},
	}, treeEpoch)
	dirSink, dir := newDirSink(t, false)
	sink := commitSignal{dirSink, "t/a.txt", make(chan struct{})}
	srcs := failLast(t, collectAll(t, filepath.Join(src, "t")), "t/z.bin", sink.committed)
	o := run(t, srcs, sink, transfer.Options{}, transfer.Options{})
	if o.sendErr == nil || o.recvErr == nil {
		t.Fatalf("Send = %v, Receive = %v; want both to fail", o.sendErr, o.recvErr)
	}
	if info, err := os.Stat(filepath.Join(dir, "t")); err != nil || info.Mode().Perm() != 0o751 {
		t.Errorf("after the failed sync, t is %v (%v), want the sender's 0751", info.Mode(), err)
	}
	onlyEntry(t, dir, "t/")
}

// placeFirst is a Sink that puts a file of its own at name, in the
// directory dir receives into, as soon as the batch has created the
// transfer's, as another recv -k sender would.
func placeFirst(sink transfer.Sink, dir, name string) transfer.Sink {
	return createHook{sink, name, func(d destdir.Destination) (destdir.Destination, error) {
		return d, os.WriteFile(filepath.Join(dir, filepath.FromSlash(name)), []byte("another sender's"), 0o644)
	}}
}

// failLast replaces the last of srcs, which must be name, with a stream
// whose first read fails once ready is closed: a stream, which the sender
// does not gather with the small files before it, so their frames go out
// before the failure.
func failLast(t *testing.T, srcs []transfer.Source, name string, ready <-chan struct{}) []transfer.Source {
	t.Helper()
	last := &srcs[len(srcs)-1]
	if last.Name != name {
		t.Fatalf("Collect gave %s last, want %s", last.Name, name)
	}
	*last = transfer.StreamSource(name, failingReader{ready})
	return srcs
}

// dirAttrs gives the permission bits of the received directory recv, and
// whether its mtime is the sender's, that of sent.
func dirAttrs(t *testing.T, recv, sent string) (fs.FileMode, bool) {
	t.Helper()
	info, err := os.Stat(recv)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Stat(sent)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm(), info.ModTime().Equal(src.ModTime())
}

// TestBeginRefuses offers DirSink transfers it cannot take and checks that
// it says so before any file, with the code and a reason the sender's user
// can act on, and writes nothing.
func TestBeginRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		files    uint32
		bytes    uint64
		code     uint16
		msg      string
		namesDir bool // the reason must name the receiving directory
	}{
		{"too many files", transfer.MaxFiles + 1, 3, framing.CodeUnsupported, "too many files", false},
		// 4 EiB: more than any file system under test has free.
		{"more bytes than free", 1, 1 << 62, framing.CodeNoSpace, "not enough space", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.code == framing.CodeNoSpace && runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
				t.Skip("DirSink knows free space only on Linux and macOS")
			}
			frames, dir, err := rawSend(t, cat(helloFrame(framing.RoleSender, framing.Version), offerFrame(tt.files, tt.bytes)))
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Receive = %v, want an error saying %q", err, tt.msg)
			}
			onlyEntry(t, dir)
			if len(frames) == 0 || frames[len(frames)-1].t != framing.TypeError {
				t.Fatalf("the receiver's frames %v do not end with an error frame", frames)
			}
			for _, f := range frames[:len(frames)-1] {
				if f.t != framing.TypeHello && f.t != framing.TypePing {
					t.Errorf("receiver sent a %v frame before its error", f.t)
				}
			}
			m, perr := framing.ParseError(frames[len(frames)-1].p)
			if perr != nil {
				t.Fatal(perr)
			}
			if m.Code != tt.code {
				t.Errorf("error frame code %d (%q), want %d", m.Code, m.Message, tt.code)
			}
			if !strings.Contains(m.Message, tt.msg) || (tt.namesDir && !strings.Contains(m.Message, dir)) {
				t.Errorf("error frame says %q; want %q and, if set, the directory %s (%t)", m.Message, tt.msg, dir, tt.namesDir)
			}
		})
	}
}

// keepOpen is a Serve with KeepOpen running in the background.
type keepOpen struct {
	addr     net.Addr
	finished chan error // each connection's result, from ServeOptions.Finished
	cancel   context.CancelFunc
	served   chan struct{} // closed when Serve returns
	err      error         // Serve's result, once served is closed
}

// serveKeepOpen serves up to conns senders on a fresh listener into sink
// until stop, or the end of the test, cancels it.
func serveKeepOpen(t *testing.T, sink transfer.Sink, conns int) *keepOpen {
	t.Helper()
	ln := listen(t)
	ctx, cancel := context.WithCancel(t.Context())
	k := &keepOpen{addr: ln.Addr(), finished: make(chan error, conns), cancel: cancel, served: make(chan struct{})}
	go func() {
		defer close(k.served)
		k.err = transfer.Serve(ctx, ln, sink, transfer.ServeOptions{
			KeepOpen: true,
			Finished: func(_ net.Addr, _ transfer.Summary, err error) { k.finished <- err },
		})
	}()
	// However the test ends, Serve is not left running.
	t.Cleanup(func() {
		cancel()
		select {
		case <-k.served:
		case <-time.After(guard):
			t.Errorf("Serve did not return within %s of its cancellation", guard)
		}
	})
	return k
}

// stop cancels Serve and returns what it returned.
func (k *keepOpen) stop(t *testing.T) error {
	t.Helper()
	k.cancel()
	await(t, k.served, "Serve")
	return k.err
}

// sendPath runs in a goroutine of its own what ferry send does for one path:
// Collect, then Send to addr. It fails rather than send a partial tree.
func sendPath(ctx context.Context, addr net.Addr, path string) (transfer.Summary, error) {
	var skipped []string
	srcs, err := transfer.Collect(ctx, []string{path}, func(p, why string) { skipped = append(skipped, p+": "+why) })
	if err != nil {
		return transfer.Summary{}, err
	}
	if len(skipped) > 0 {
		return transfer.Summary{}, fmt.Errorf("collecting %s skipped %q", path, skipped)
	}
	conn, err := net.Dial("tcp", addr.String())
	if err != nil {
		return transfer.Summary{}, err
	}
	return transfer.Send(ctx, conn, srcs, transfer.Options{})
}

// TestManySendersInProcess serves 16 senders at once on one listener into
// one DirSink, each sending a directory of its own, and then ends Serve.
func TestManySendersInProcess(t *testing.T) {
	t.Parallel()
	const senders = 16
	src := t.TempDir()
	type want struct {
		files, dirs int
		bytes       int64
	}
	wants := make([]want, senders)
	var nodes []srcNode
	modes := []fs.FileMode{0o644, 0o600, 0o755, 0o640}
	for s := range senders {
		top := fmt.Sprintf("s%02d", s)
		nodes = append(nodes, srcNode{path: top, dir: true, mode: 0o755}, srcNode{path: top + "/sub", dir: true, mode: 0o750})
		for f := range 15 {
			// Sizes differ by sender and file; one file per sender spans
			// two chunks.
			n := ((s*17 + f*131) * 97) % 30_000
			name := fmt.Sprintf("%s/f%02d", top, f)
			if f == 7 {
				n = transfer.ChunkSize + 1 + s*1000
				name = top + "/sub/big.bin"
			}
			data := textBytes(n)
			if (s+f)%2 == 1 {
				data = randomBytes(n, uint64(s*100+f))
			}
			nodes = append(nodes, srcNode{path: name, data: data, mode: modes[(s+f)%len(modes)]})
			wants[s].files++
			wants[s].bytes += int64(n)
		}
		wants[s].dirs = 2
	}
	buildTree(t, src, nodes, treeEpoch)

	sink, dir := newDirSink(t, false)
	k := serveKeepOpen(t, sink, senders)
	type result struct {
		sum transfer.Summary
		err error
	}
	results := make([]result, senders)
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			sum, err := sendPath(t.Context(), k.addr, filepath.Join(src, fmt.Sprintf("s%02d", s)))
			results[s] = result{sum, err}
		})
	}
	sent := make(chan struct{})
	go func() { wg.Wait(); close(sent) }()
	await(t, sent, "the senders")
	for s, r := range results {
		w := wants[s]
		if r.err != nil {
			t.Errorf("sender s%02d: %v", s, r.err)
		} else if r.sum.Files != w.files || r.sum.Dirs != w.dirs || r.sum.Bytes != w.bytes {
			t.Errorf("sender s%02d summary: %d files, %d directories, %d bytes; want %d, %d, %d",
				s, r.sum.Files, r.sum.Dirs, r.sum.Bytes, w.files, w.dirs, w.bytes)
		}
	}
	// Every receiving side finishes before Serve is stopped: a sender
	// returns once it has the final ack, while its receiver may still be
	// waiting for the sender's end of stream.
	for range senders {
		if err := await(t, k.finished, "a receiving side"); err != nil {
			t.Errorf("receiving side: %v", err)
		}
	}
	if err := k.stop(t); !errors.Is(err, context.Canceled) {
		t.Errorf("Serve after its cancellation = %v, want context.Canceled", err)
	}
	checkReceived(t, src, dir)
	noTempFiles(t, dir)
}

// TestSamePathInProcess has two senders race to send different files under
// the same names into one receiver without --overwrite. No file may be a
// mixture, each must be one sender's whole version, and a sender that lost
// must have been told which file the other got first. Big files arrive
// under temporary names as they come; small ones are held in memory and
// then written under temporary names by the batch's writer.
func TestSamePathInProcess(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		size int
	}{
		{"renamed", 2 << 20},
		{"small", 1000},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			testSamePath(t, c.size)
		})
	}
}

func testSamePath(t *testing.T, size int) {
	names := []string{"same/one.bin", "same/three.bin", "same/two.bin"}
	srcs := make([]string, 2)
	data := make([]map[string][]byte, 2)
	for i := range srcs {
		srcs[i] = t.TempDir()
		data[i] = map[string][]byte{}
		nodes := []srcNode{{path: "same", dir: true, mode: 0o755}}
		for j, name := range names {
			data[i][name] = randomBytes(size, uint64(10*i+j+1))
			nodes = append(nodes, srcNode{path: name, data: data[i][name], mode: 0o640 - fs.FileMode(i)*0o040})
		}
		// Different times too, so a file's metadata shows whose it is.
		buildTree(t, srcs[i], nodes, treeEpoch.Add(time.Duration(i)*time.Minute))
	}

	sink, dir := newDirSink(t, false)
	k := serveKeepOpen(t, sink, len(srcs))
	errs := make([]error, len(srcs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range srcs {
		wg.Go(func() {
			<-start // both at once, so that they overlap
			_, errs[i] = sendPath(t.Context(), k.addr, filepath.Join(srcs[i], "same"))
		})
	}
	close(start)
	sent := make(chan struct{})
	go func() { wg.Wait(); close(sent) }()
	await(t, sent, "the senders")
	var recvFailed int
	for range srcs {
		if err := await(t, k.finished, "a receiving side"); err != nil {
			recvFailed++
			if !strings.Contains(err.Error(), "already exists") {
				t.Errorf("receiving side: %v, want a refusal of an existing file", err)
			}
		}
	}
	if err := k.stop(t); !errors.Is(err, context.Canceled) {
		t.Errorf("Serve after its cancellation = %v, want context.Canceled", err)
	}
	noTempFiles(t, dir)

	// Whose version each name holds.
	winner := map[string]int{}
	for _, name := range names {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		w := slices.IndexFunc(data, func(d map[string][]byte) bool { return bytes.Equal(got, d[name]) })
		if w < 0 {
			t.Fatalf("%s holds %d bytes that are neither sender's version", name, len(got))
		}
		winner[name] = w
		info, err := os.Stat(filepath.Join(srcs[w], filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		checkFile(t, dir, name, got, info.Mode().Perm(), info.ModTime())
	}
	var succeeded, sendFailed int
	lost := make([]int, len(srcs))
	for _, w := range winner {
		lost[1-w]++
	}
	for i, err := range errs {
		if err == nil {
			succeeded++
			// Done means every file is this sender's, durably.
			if lost[i] != 0 {
				t.Errorf("sender %d succeeded, but %d of its files are the other's", i, lost[i])
			}
			continue
		}
		sendFailed++
		// Refused when its file came (the other sender's was placed
		// meanwhile: the receiver's error ends the transfer), or already
		// when it asked what the receiver holds (ErrRefused, once the
		// rest went through).
		var e *transfer.Error
		if !errors.As(err, &e) || e.Code != framing.CodeExists || e.Remote == errors.Is(err, transfer.ErrRefused) {
			t.Errorf("sender %d: %v (%+v); want code %d (exists), from the receiver or as ErrRefused", i, err, e, framing.CodeExists)
			continue
		}
		named := slices.IndexFunc(names, func(n string) bool { return strings.Contains(err.Error(), n) })
		if named < 0 || winner[names[named]] != 1-i {
			t.Errorf("sender %d was refused with %q, which names no file the other sender got (winners %v)", i, err, winner)
		}
	}
	if recvFailed != sendFailed {
		t.Errorf("%d receiving sides failed, but %d senders", recvFailed, sendFailed)
	}
	if succeeded == 0 && (lost[0] == 0 || lost[1] == 0) {
		t.Errorf("neither sender succeeded, yet one lost no file: lost %v", lost)
	}
	t.Logf("%d of 2 senders succeeded; files won: %v; senders' errors: %v", succeeded, winner, errs)
}

// cancelledLater is a context cancelled once its Err has been asked
// after times: the walk is under way when it sees the cancellation.
type cancelledLater struct {
	context.Context
	after int32
	asked atomic.Int32 // the walk asks from two goroutines
}

func (c *cancelledLater) Err() error {
	if c.asked.Add(1) > c.after {
		return context.Canceled
	}
	return nil
}

// TestCollectCancelled checks that a walk stops when its context is
// cancelled (Ctrl-C on a sender walking a big tree): before it starts,
// between directories, and within one directory of many files.
func TestCollectCancelled(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after int32 // checks of the context that pass
		make  func(t *testing.T, root string)
	}{
		{"before the walk", 0, func(t *testing.T, root string) {}},
		{"between directories", 1, func(t *testing.T, root string) {
			if err := os.MkdirAll(filepath.Join(root, "d/e"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{"in a directory of many files", 1, func(t *testing.T, root string) {
			for i := range 3000 {
				if err := os.WriteFile(filepath.Join(root, fmt.Sprintf("f%04d", i)), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tc.make(t, root)
			ctx := &cancelledLater{Context: t.Context(), after: tc.after}
			srcs, err := transfer.Collect(ctx, []string{root}, func(p, why string) { t.Errorf("Collect skipped %s: %s", p, why) })
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Collect cancelled after %d checks = %d sources, %v; want context.Canceled", tc.after, len(srcs), err)
			}
		})
	}
}
