package main

// Tests of directory transfers through the built binary: several paths in
// one send, trees with their modes and times, entries that are skipped,
// summaries, existing files, many senders into one recv -k, two senders
// racing for the same names, and Ctrl-C on a recv -k holding connections.

import (
	"bytes"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// treeNode is one entry of a test tree.
type treeNode struct {
	path   string      // slash-separated, relative to the tree's root
	kind   string      // "" for a regular file, "dir", "symlink" or "fifo"
	data   []byte      // a file's contents
	target string      // a symlink's target
	mode   os.FileMode // 0 means 0o644 for a file, 0o755 for a directory
}

// treeTime is the base of the old modification times a test tree gets, so
// a receiver that does not keep times cannot match them by chance.
var treeTime = time.Date(2022, 5, 6, 7, 8, 9, 123456789, time.UTC)

// makeTree creates nodes under root; parents not listed are made with mode
// 0o755. Every file and directory gets its own old modification time, the
// directories last and deepest first, once nothing more changes inside them.
func makeTree(t *testing.T, root string, nodes []treeNode) {
	t.Helper()
	writableAtCleanup(t, root)
	dirModes := map[string]os.FileMode{}
	for i, n := range nodes {
		p := filepath.Join(root, filepath.FromSlash(n.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch n.kind {
		case "dir":
			err = os.MkdirAll(p, 0o755)
			if n.mode != 0 {
				dirModes[p] = n.mode
			}
		case "symlink":
			err = os.Symlink(n.target, p)
		case "fifo":
			err = syscall.Mkfifo(p, 0o644)
		case "":
			mode := n.mode
			if mode == 0 {
				mode = 0o644
			}
			mtime := treeTime.Add(time.Duration(i)*time.Hour + time.Duration(i)*7*time.Millisecond)
			writeFile(t, root, filepath.FromSlash(n.path), n.data, mode, mtime)
		default:
			t.Fatalf("treeNode %s: unknown kind %q", n.path, n.kind)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && p != root {
			dirs = append(dirs, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sep := string(filepath.Separator)
	slices.SortStableFunc(dirs, func(a, b string) int { return strings.Count(b, sep) - strings.Count(a, sep) })
	for i, p := range dirs {
		mode, ok := dirModes[p]
		if !ok {
			mode = 0o755
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		mtime := treeTime.Add(-time.Duration(i+1)*24*time.Hour + time.Duration(i)*13*time.Millisecond)
		if err := os.Chtimes(p, mtime, mtime); err != nil {
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

// recvDir is an empty directory to receive into.
func recvDir(t *testing.T) string {
	dir := t.TempDir()
	writableAtCleanup(t, dir)
	return dir
}

// treeEntry is what snapshot records of one entry.
type treeEntry struct {
	kind  string // "file", "dir", "symlink" or "other"
	mode  os.FileMode
	mtime time.Time
	data  []byte
}

// snapshot records every entry under root, by slash-separated path.
func snapshot(t *testing.T, root string) map[string]treeEntry {
	t.Helper()
	entries := map[string]treeEntry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := treeEntry{mode: info.Mode().Perm(), mtime: info.ModTime()}
		switch {
		case info.Mode().IsRegular():
			e.kind = "file"
			if e.data, err = os.ReadFile(p); err != nil {
				return err
			}
		case info.IsDir():
			e.kind = "dir"
		case info.Mode()&fs.ModeSymlink != 0:
			e.kind = "symlink"
		default:
			e.kind = "other"
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		entries[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// under keeps the entries of a snapshot that are top or lie under top.
func under(entries map[string]treeEntry, tops ...string) map[string]treeEntry {
	kept := map[string]treeEntry{}
	for name, e := range entries {
		for _, top := range tops {
			if name == top || strings.HasPrefix(name, top+"/") {
				kept[name] = e
			}
		}
	}
	return kept
}

// arriving is what a receiver gets when paths of a snapshot are sent: each
// path with everything under it, under the path's base name.
func arriving(entries map[string]treeEntry, paths ...string) map[string]treeEntry {
	got := map[string]treeEntry{}
	for _, p := range paths {
		parent := path.Dir(p) + "/"
		for name, e := range under(entries, p) {
			got[strings.TrimPrefix(name, parent)] = e
		}
	}
	return got
}

func isTemp(name string) bool {
	base := name[strings.LastIndex(name, "/")+1:]
	return strings.HasPrefix(base, ".ferry-") && strings.HasSuffix(base, ".part")
}

// compareTrees checks that got holds exactly the entries of want, with
// their kinds and contents, and with meta also their permission bits and
// modification times to the second.
func compareTrees(t *testing.T, where string, got, want map[string]treeEntry, meta bool) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(want)) {
		w := want[name]
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: %s (%s) is missing", where, name, w.kind)
			continue
		case g.kind != w.kind:
			t.Errorf("%s: %s is a %s, want a %s", where, name, g.kind, w.kind)
			continue
		case w.kind == "file" && !bytes.Equal(g.data, w.data):
			t.Errorf("%s: %s holds %d bytes that differ from the %d sent", where, name, len(g.data), len(w.data))
		}
		if !meta {
			continue
		}
		if g.mode != w.mode {
			t.Errorf("%s: %s %s has mode %v, want %v", where, w.kind, name, g.mode, w.mode)
		}
		if !g.mtime.Truncate(time.Second).Equal(w.mtime.Truncate(time.Second)) {
			t.Errorf("%s: %s %s has mtime %v, want %v", where, w.kind, name, g.mtime, w.mtime)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[name]; ok {
			continue
		}
		if isTemp(name) {
			t.Errorf("%s: temporary file %s left behind", where, name)
		} else {
			t.Errorf("%s: unexpected %s %s", where, got[name].kind, name)
		}
	}
}

// countFiles counts the regular files of a snapshot and their bytes.
func countFiles(entries map[string]treeEntry) (files int, size int64) {
	for _, e := range entries {
		if e.kind == "file" {
			files++
			size += int64(len(e.data))
		}
	}
	return files, size
}

// photoTree is a small tree with the modes a transfer must keep: group and
// private files and directories, empty directories, and a read-only
// directory with files and a directory inside.
func photoTree() []treeNode {
	return []treeNode{
		{path: "a.txt", data: []byte("alpha\n"), mode: 0o640},
		{path: "b.bin", data: mixedBytes(700 << 10), mode: 0o600},
		{path: "not-sent.txt", data: []byte("stays home\n")},
		{path: "photos", kind: "dir", mode: 0o750},
		{path: "photos/2024", kind: "dir", mode: 0o700},
		{path: "photos/2024/x.jpg", data: randomBytes(300 << 10), mode: 0o640},
		{path: "photos/2024/y.jpg", data: []byte("tiny")},
		{path: "photos/2024/zero.jpg"},
		{path: "photos/2024/deep/er/empty", kind: "dir"},
		{path: "photos/empty", kind: "dir", mode: 0o750},
		{path: "photos/readonly", kind: "dir", mode: 0o555},
		{path: "photos/readonly/r.txt", data: []byte("in a read-only directory\n"), mode: 0o444},
		{path: "photos/readonly/sub/s.txt", data: mixedBytes(5000)},
		{path: "photos/shared", kind: "dir", mode: 0o775},
		{path: "photos/shared/group.txt", data: []byte("group writable\n"), mode: 0o664},
	}
}

// TestSendTree sends files and a directory in one connection; a directory
// arrives under its base name with everything in it, its empty directories,
// permission bits (with recv --keep-perms: TestRecvUmask has the umask)
// and modification times, however its path was written.
func TestSendTree(t *testing.T) {
	for _, tc := range []struct {
		name  string
		paths []string // SRC/ stands for the source directory
		sent  []string // the same paths, relative to it and cleaned
	}{
		{"files and a directory", []string{"a.txt", "photos", "b.bin"}, []string{"a.txt", "photos", "b.bin"}},
		{"trailing slash", []string{"a.txt", "photos/", "b.bin"}, []string{"a.txt", "photos", "b.bin"}},
		{"absolute paths", []string{"SRC/a.txt", "SRC/photos/", "SRC/b.bin"}, []string{"a.txt", "photos", "b.bin"}},
		{"a directory alone", []string{"photos"}, []string{"photos"}},
		{"a subdirectory", []string{"photos/2024"}, []string{"photos/2024"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := t.TempDir(), recvDir(t)
			makeTree(t, src, photoTree())
			want := arriving(snapshot(t, src), tc.sent...)
			args := []string{"send"}
			recv, addr := startRecv(t, dst, nil, "--keep-perms", "-l", "127.0.0.1:0", dst)
			args = append(args, addr)
			for _, p := range tc.paths {
				if rest, ok := strings.CutPrefix(p, "SRC/"); ok {
					p = filepath.Join(src, rest)
					if strings.HasSuffix(rest, "/") {
						p += "/"
					}
				}
				args = append(args, p)
			}
			snd := start(t, src, nil, nil, args...)
			snd.expect(0)
			recv.expect(0)
			compareTrees(t, "DIR", snapshot(t, dst), want, true)
			if strings.Contains(snd.stderr(), "skipping") {
				t.Errorf("send skipped something in a tree of files and directories:\n%s", snd.stderr())
			}
		})
	}
}

// skipTree holds entries a directory transfer skips: symbolic links (to a
// file, to a directory, dangling) and a FIFO; top.txt is a link to a file
// elsewhere, which is followed when named on the command line.
func skipTree() []treeNode {
	return []treeNode{
		{path: "photos/a.jpg", data: []byte("a picture\n"), mode: 0o640},
		{path: "photos/link", kind: "symlink", target: "a.jpg"},
		{path: "photos/fifo", kind: "fifo"},
		{path: "photos/sub/b.txt", data: mixedBytes(3000)},
		{path: "photos/sub/dangling", kind: "symlink", target: "../nowhere"},
		{path: "photos/sub/dirlink", kind: "symlink", target: ".."},
		{path: "real/top.txt", data: []byte("reached through a link\n"), mode: 0o600},
		{path: "top.txt", kind: "symlink", target: "real/top.txt"},
	}
}

var skippedPaths = []string{"photos/fifo", "photos/link", "photos/sub/dangling", "photos/sub/dirlink"}

// TestSkipped checks that symbolic links and FIFOs inside a directory are
// skipped with a warning naming them, that a symbolic link named on the
// command line is followed, and that skips alone do not fail a transfer.
func TestSkipped(t *testing.T) {
	// -q leaves the skips alone: they are warnings.
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{"human", nil},
		{"json", []string{"--json"}},
		{"quiet", []string{"-q"}},
		{"quiet json", []string{"-q", "--json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := t.TempDir(), recvDir(t)
			makeTree(t, src, skipTree())
			flags := tc.flags
			jsonMode := slices.Contains(flags, "--json")
			var recvFlags []string // recv -q would not say where it listens
			if jsonMode {
				recvFlags = []string{"--json"}
			}
			recv, addr := startRecv(t, dst, nil, append(recvFlags, "-l", "127.0.0.1:0", dst)...)
			snd := start(t, src, nil, nil, append(append([]string{"send"}, flags...), addr, "photos", "top.txt")...)
			snd.expect(0)
			recv.expect(0)

			have := snapshot(t, src)
			want := under(have, "photos")
			for _, p := range skippedPaths {
				delete(want, p)
			}
			want["top.txt"] = have["real/top.txt"]
			compareTrees(t, "DIR", snapshot(t, dst), want, true)

			if jsonMode {
				var got []string
				for _, ev := range snd.events() {
					if ev["event"] != "skipped" {
						continue
					}
					path, _ := ev["path"].(string)
					got = append(got, path)
					if reason, _ := ev["reason"].(string); reason == "" {
						t.Errorf("skipped event without a reason: %v", ev)
					}
				}
				slices.Sort(got)
				if !slices.Equal(got, skippedPaths) {
					t.Errorf("send reported skipped paths %q, want %q; stderr:\n%s", got, skippedPaths, snd.stderr())
				}
				recv.events() // nothing but JSON on recv's stderr either
				return
			}
			lines := strings.Split(snd.stderr(), "\n")
			for _, p := range skippedPaths {
				if !slices.ContainsFunc(lines, func(l string) bool {
					return strings.Contains(l, "skipping") && strings.Contains(l, p)
				}) {
					t.Errorf("send stderr has no line with \"skipping\" and %s:\n%s", p, snd.stderr())
				}
			}
			if strings.Contains(snd.stderr(), "skipping top.txt") || strings.Contains(snd.stderr(), "skipping photos/a.jpg") {
				t.Errorf("send skipped something it should have sent:\n%s", snd.stderr())
			}
			if slices.Contains(flags, "-q") && strings.Count(snd.stderr(), "\n") != len(skippedPaths) {
				t.Errorf("send -q printed more than the skips:\n%s", snd.stderr())
			}
		})
	}
}

var (
	doneLine    = regexp.MustCompile(`done:.*`)
	rateInLine  = regexp.MustCompile(`[0-9.]+ ?[kMGTPE]?i?B/s`)
	filesInLine = func(n int) *regexp.Regexp { return regexp.MustCompile(fmt.Sprintf(`(^|[^0-9.])%d files?\b`, n)) }
)

// TestSummary checks the summary each side prints at the end of a tree:
// files counts regular files only (not directories, not skipped entries).
func TestSummary(t *testing.T) {
	base := []treeNode{
		{path: "d/a.txt", data: bytes.Repeat([]byte("a"), 100)},
		{path: "d/e/b.txt", data: bytes.Repeat([]byte("b"), 200)},
		{path: "d/e/f/c.txt", data: bytes.Repeat([]byte("c"), 300)},
		{path: "d/zero.txt"},
		{path: "d/empty", kind: "dir"},
		{path: "d/e/empty", kind: "dir"},
		{path: "d/link", kind: "symlink", target: "a.txt"},
	}
	for _, tc := range []struct {
		name  string
		json  bool
		big   int // size of an extra file, 0 for none
		files int
		bytes int64
	}{
		{"human", false, 0, 4, 600},
		{"json", true, 0, 4, 600},
		{"json, several chunks", true, 3<<20 + 1, 5, 600 + 3<<20 + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := t.TempDir(), recvDir(t)
			nodes := slices.Clone(base)
			if tc.big > 0 {
				nodes = append(nodes, treeNode{path: "d/e/big.bin", data: mixedBytes(tc.big)})
			}
			makeTree(t, src, nodes)
			var flags []string
			if tc.json {
				flags = []string{"--json"}
			}
			recv, addr := startRecv(t, dst, nil, append(flags, "-l", "127.0.0.1:0", dst)...)
			snd := start(t, src, nil, nil, append(append([]string{"send"}, flags...), addr, "d")...)
			snd.expect(0)
			recv.expect(0)
			if files, size := countFiles(snapshot(t, dst)); files != tc.files || size != tc.bytes {
				t.Fatalf("DIR holds %d files of %d bytes, want %d of %d", files, size, tc.files, tc.bytes)
			}
			for _, p := range []*proc{snd, recv} {
				if tc.json {
					sum := p.event("summary")
					if sum["files"] != float64(tc.files) || sum["bytes"] != float64(tc.bytes) {
						t.Errorf("ferry %s summary %v, want files %d and bytes %d", p.name, sum, tc.files, tc.bytes)
					}
					for _, field := range []string{"seconds", "bytes_per_second"} {
						if v, ok := sum[field].(float64); !ok || v < 0 {
							t.Errorf("ferry %s summary %s = %v, want a number >= 0", p.name, field, sum[field])
						}
					}
					continue
				}
				line := doneLine.FindString(p.stderr())
				if line == "" {
					t.Errorf("ferry %s printed no \"done:\" line:\n%s", p.name, p.stderr())
					continue
				}
				if !filesInLine(tc.files).MatchString(line) {
					t.Errorf("ferry %s summary %q does not say %d files", p.name, line, tc.files)
				}
				if !regexp.MustCompile(fmt.Sprintf(`\b%d (B|bytes)\b`, tc.bytes)).MatchString(line) {
					t.Errorf("ferry %s summary %q does not say %d B", p.name, line, tc.bytes)
				}
				if !rateInLine.MatchString(line) {
					t.Errorf("ferry %s summary %q has no rate (.../s)", p.name, line)
				}
			}
		})
	}
}

// TestTreeExisting sends a tree into a directory that already holds one of
// its files: the receiver refuses it, naming it, and leaves it as it was;
// with --overwrite the tree replaces it.
func TestTreeExisting(t *testing.T) {
	src, dst := t.TempDir(), recvDir(t)
	makeTree(t, src, []treeNode{
		{path: "photos/a.txt", data: []byte("first\n")},
		{path: "photos/2024/x.jpg", data: randomBytes(200 << 10), mode: 0o600},
		{path: "photos/2024/y.jpg", data: []byte("y\n")},
		{path: "photos/z/deep.txt", data: mixedBytes(4000)},
		{path: "photos/z/empty", kind: "dir"},
	})
	sent := snapshot(t, src)

	const existing = "photos/2024/x.jpg"
	old := []byte("the receiver's own x.jpg\n")
	oldTime := time.Date(2019, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.MkdirAll(filepath.Join(dst, "photos", "2024"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, filepath.FromSlash(existing), old, 0o644, oldTime)

	t.Run("refused", func(t *testing.T) {
		recv, addr := startRecv(t, dst, nil, "-l", "127.0.0.1:0", dst)
		snd := send(t, src, nil, addr, "photos")
		snd.expect(1)
		recv.expect(1)
		checkOneError(t, snd, existing, "--overwrite")
		mustContain(t, "recv stderr", recv.stderr(), "ferry: error: ", existing, "--overwrite")

		got := snapshot(t, dst)
		x := got[existing]
		if x.kind != "file" || !bytes.Equal(x.data, old) || x.mode != 0o644 || !x.mtime.Equal(oldTime) {
			t.Errorf("refused %s changed: %s, mode %v, mtime %v, %q; want file, -rw-r--r--, %v, %q", existing, x.kind, x.mode, x.mtime, x.data, oldTime, old)
		}
		// Whatever else arrived before the refusal arrived whole.
		for _, name := range slices.Sorted(maps.Keys(got)) {
			g, w := got[name], sent[name]
			switch {
			case name == existing:
			case isTemp(name):
				t.Errorf("temporary file %s left behind", name)
			case w.kind != g.kind:
				t.Errorf("DIR has %s %s, the sender has %q there", g.kind, name, w.kind)
			case g.kind == "file" && !bytes.Equal(g.data, w.data):
				t.Errorf("%s holds %d bytes that differ from the %d sent", name, len(g.data), len(w.data))
			}
		}
	})

	t.Run("--overwrite", func(t *testing.T) {
		recv, addr := startRecv(t, dst, nil, "--json", "--overwrite", "-l", "127.0.0.1:0", dst)
		snd := send(t, src, nil, "--json", addr, "photos")
		snd.expect(0)
		recv.expect(0)
		got := snapshot(t, dst)
		compareTrees(t, "DIR", got, sent, false)
		// The directories existed before; the files are the sender's,
		// modes and times included.
		for name, w := range sent {
			if g := got[name]; w.kind == "file" && (g.mode != w.mode || !g.mtime.Truncate(time.Second).Equal(w.mtime.Truncate(time.Second))) {
				t.Errorf("%s has mode %v and mtime %v, want %v and %v", name, g.mode, g.mtime, w.mode, w.mtime)
			}
		}
	})
}

// TestManySenders runs 16 senders at once into one recv -k, each with its
// own tree, then stops recv with Ctrl-C.
func TestManySenders(t *testing.T) {
	const senders, filesEach = 16, 20
	sizes := []int{0, 3, 17, 100, 1000, 4096, 10_000, 65_536, 100_000, 300 << 10}
	src, dst := t.TempDir(), recvDir(t)
	var nodes []treeNode
	for s := range senders {
		top := fmt.Sprintf("s%02d", s)
		for i := range filesEach {
			dir := top
			switch i % 4 {
			case 1:
				dir += "/sub"
			case 2:
				dir += "/sub/deeper"
			case 3:
				dir += fmt.Sprintf("/d%d", i%3)
			}
			size := sizes[(i+s)%len(sizes)]
			data := randomBytes(size)
			if size >= 1000 && i%2 == 0 {
				data = mixedBytes(size)
			}
			nodes = append(nodes, treeNode{path: fmt.Sprintf("%s/f%02d.bin", dir, i), data: data, mode: []os.FileMode{0o644, 0o600, 0o640}[i%3]})
		}
		nodes = append(nodes, treeNode{path: top + "/empty", kind: "dir", mode: 0o700})
	}
	makeTree(t, src, nodes)
	want := snapshot(t, src)

	recv, addr := startRecv(t, dst, nil, "--json", "-k", "-l", "127.0.0.1:0", dst)
	var procs []*proc
	for s := range senders {
		p := start(t, src, nil, nil, "send", "--json", addr, fmt.Sprintf("s%02d", s))
		p.name = fmt.Sprintf("send s%02d", s)
		procs = append(procs, p)
	}
	for _, p := range procs {
		p.expect(0)
		if sum := p.event("summary"); sum["files"] != float64(filesEach) {
			t.Errorf("ferry %s summary %v, want %d files", p.name, sum, filesEach)
		}
	}
	recv.waitEventN("summary", senders)
	compareTrees(t, "DIR", snapshot(t, dst), want, true)

	recv.interrupt()
	recv.expect(130)
	var errs []string
	// Each of the concurrent senders' reports names it: a peer's files
	// are all of one sender's directory, and each peer has a summary.
	tops := map[string]map[string]bool{} // peer -> top directories of its files
	summaries := map[string]int{}
	for _, ev := range recv.events() {
		peer, _ := ev["peer"].(string)
		switch ev["event"] {
		case "file":
			name, _ := ev["name"].(string)
			top, _, _ := strings.Cut(name, "/")
			if tops[peer] == nil {
				tops[peer] = map[string]bool{}
			}
			tops[peer][top] = true
		case "summary":
			if ev["files"] != float64(filesEach) {
				t.Errorf("recv summary %v, want %d files", ev, filesEach)
			}
			summaries[peer]++
		case "error":
			msg, _ := ev["message"].(string)
			errs = append(errs, msg)
		}
	}
	if len(tops) != senders || len(summaries) != senders {
		t.Errorf("recv's file events name %d peers, its summaries %d; want %d each", len(tops), len(summaries), senders)
	}
	for peer, ts := range tops {
		if peer == "" || len(ts) != 1 || summaries[peer] != 1 {
			t.Errorf("peer %q: files under %v, %d summaries; want one sender's directory and one summary", peer, ts, summaries[peer])
		}
	}
	if len(errs) != 1 || !strings.Contains(errs[0], "interrupted") {
		t.Errorf("recv reported errors %q, want only its interruption", errs)
	}
}

// TestSamePathRace has two senders send a directory of the same name, with
// the same file names and different contents, into one recv -k at the same
// time. Each file that lands is exactly one sender's; a sender that lost a
// file exits 1 naming it.
func TestSamePathRace(t *testing.T) {
	const nfiles, size = 4, 4 << 20
	for round := range 2 {
		t.Run(fmt.Sprintf("round %d", round+1), func(t *testing.T) {
			dst := recvDir(t)
			var srcs [2]string
			var versions [2]map[string][]byte
			var names []string
			for i := range srcs {
				srcs[i] = t.TempDir()
				versions[i] = map[string][]byte{}
				var nodes []treeNode
				for f := range nfiles {
					name := fmt.Sprintf("same/f%d.bin", f)
					data := randomBytes(size)
					versions[i][name] = data
					nodes = append(nodes, treeNode{path: name, data: data})
					if i == 0 {
						names = append(names, name)
					}
				}
				makeTree(t, srcs[i], nodes)
			}

			recv, addr := startRecv(t, dst, nil, "--json", "-k", "-l", "127.0.0.1:0", dst)
			var snd [2]*proc
			for i := range snd {
				snd[i] = start(t, srcs[i], nil, nil, "send", "--json", "-z", "none", addr, "same")
				snd[i].name = fmt.Sprintf("send %c", 'A'+i)
			}
			var codes [2]int
			for i, p := range snd {
				codes[i] = p.wait()
			}
			// Wait until recv has finished with every connection it had, so
			// no temporary file is still being cleaned up.
			connected := 0
			for _, p := range snd {
				if slices.ContainsFunc(p.events(), func(ev map[string]any) bool { return ev["event"] == "connected" }) {
					connected++
				}
			}
			ended := 0
			recv.waitLine("the end of every transfer", func(l string) bool {
				if ev, err := parseEvent(l); err == nil && (ev["event"] == "summary" || ev["event"] == "error") {
					ended++
				}
				return ended >= connected
			})
			for _, ev := range recv.events() {
				if p, _ := ev["peer"].(string); ev["event"] == "error" && p == "" {
					t.Errorf("recv -k's error event %v does not name its peer", ev)
				}
			}

			got := snapshot(t, dst)
			owner := map[string]int{} // file name to the sender whose version it is
			for _, name := range slices.Sorted(maps.Keys(got)) {
				e := got[name]
				switch {
				case name == "same" && e.kind == "dir":
				case slices.Contains(names, name) && e.kind == "file":
					switch {
					case bytes.Equal(e.data, versions[0][name]):
						owner[name] = 0
					case bytes.Equal(e.data, versions[1][name]):
						owner[name] = 1
					default:
						t.Errorf("%s (%d bytes) is neither sender's version", name, len(e.data))
					}
				case isTemp(name):
					t.Errorf("temporary file %s left behind", name)
				default:
					t.Errorf("unexpected %s %s in DIR", e.kind, name)
				}
			}
			for i, p := range snd {
				var lost []string // files in DIR that are the other's
				for _, name := range names {
					if o, ok := owner[name]; ok && o != i {
						lost = append(lost, name)
					}
				}
				if codes[i] == 0 {
					for _, name := range names {
						if o, ok := owner[name]; !ok || o != i {
							t.Errorf("ferry %s exited 0, but DIR's %s is not its version (present: %v)", p.name, name, ok)
						}
					}
					continue
				}
				if codes[i] != 1 {
					t.Errorf("ferry %s exited with status %d, want 0 or 1; stderr:\n%s", p.name, codes[i], p.stderr())
					continue
				}
				msg := p.errorMessage()
				mustContain(t, "ferry "+p.name+" error", msg, "--overwrite")
				if !slices.ContainsFunc(lost, func(name string) bool { return strings.Contains(msg, name) }) {
					t.Errorf("ferry %s exited 1 with %q, which names none of the files the other sender won: %q", p.name, msg, lost)
				}
			}
			t.Logf("exit statuses %v; owners %v", codes, owner)

			recv.interrupt()
			recv.expect(130)
		})
	}
}

// TestKeepOpenInterrupt presses Ctrl-C on a recv -k while three senders
// stream into it, or stops it as systemctl does (SIGTERM), or closes its
// terminal (SIGHUP): recv exits 130 at once, each sender exits 1 saying the
// receiver aborted, and no temporary file stays.
func TestKeepOpenInterrupt(t *testing.T) {
	for _, tc := range []struct {
		name string
		sig  os.Signal
	}{
		{"Ctrl-C", os.Interrupt},
		{"SIGTERM", syscall.SIGTERM},
		{"SIGHUP", syscall.SIGHUP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// ferry inherits an ignored SIGHUP (go test under nohup) and,
			// as it must, keeps ignoring it.
			if tc.sig == syscall.SIGHUP && signal.Ignored(syscall.SIGHUP) {
				t.Skip("skipping: the tests run with SIGHUP ignored (nohup?), which ferry keeps")
			}
			testKeepOpenInterrupt(t, tc.sig)
		})
	}
}

func testKeepOpenInterrupt(t *testing.T, sig os.Signal) {
	const senders = 3
	src, dst := t.TempDir(), recvDir(t)
	recv, addr := startRecv(t, dst, nil, "--json", "-k", "--timeout", "60s", "-l", "127.0.0.1:0", dst)

	var procs []*proc
	var wrote []chan error
	for i := range senders {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = w.Close() })
		p := start(t, src, r, nil, "send", "--json", "--timeout", "60s", "-z", "none", "--name", fmt.Sprintf("stream%d", i), addr, "-")
		p.name = fmt.Sprintf("send stream%d", i)
		_ = r.Close() // the child has its own copy
		procs = append(procs, p)
		// The sender reads this megabyte and then waits on its stdin,
		// which stays open.
		done := make(chan error, 1)
		go func() {
			_, err := w.Write(randomBytes(1 << 20))
			done <- err
		}()
		wrote = append(wrote, done)
	}
	deadline := time.NewTimer(guard)
	defer deadline.Stop()
	for i, done := range wrote {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("writing to %s's stdin: %v", procs[i].name, err)
			}
		case <-deadline.C:
			t.Fatalf("%s did not read 1 MiB of stdin within %v; stderr:\n%s", procs[i].name, guard, procs[i].stderr())
		}
	}
	// Each stream is in the middle of a file once its temporary file exists.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		var parts []string
		entries, err := os.ReadDir(dst)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if isTemp(e.Name()) {
				parts = append(parts, e.Name())
			}
		}
		all := true
		for i := range senders {
			suffix := fmt.Sprintf("-stream%d.part", i)
			all = all && slices.ContainsFunc(parts, func(n string) bool { return strings.HasSuffix(n, suffix) })
		}
		if all {
			break
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("DIR has temporary files %q after %v, want one per sender; recv stderr:\n%s", parts, guard, recv.stderr())
		}
	}

	began := time.Now()
	recv.signal(sig)
	recv.expect(130)
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("recv -k took %v to exit after %v, want it prompt (the timeout is 60s)", took, sig)
	}
	// One error per transfer cut short, then the run's own.
	errs := recv.messages("error")
	if len(errs) != senders+1 {
		t.Errorf("recv reported errors %q, want one per sender and its own", errs)
	}
	for _, msg := range errs {
		mustContain(t, "recv's error", msg, "interrupted")
	}
	for _, p := range procs {
		p.expect(1)
		mustContain(t, "ferry "+p.name+" error", p.errorMessage(), "the receiver stopped (interrupted)")
	}
	compareTrees(t, "DIR", snapshot(t, dst), nil, false)
}

// TestStdinMixed checks that - (stdin) cannot be sent with other paths.
func TestStdinMixed(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"- before a file", []string{"-", "a.txt"}},
		{"- after a file", []string{"a.txt", "-"}},
		{"- with a directory", []string{"d", "-"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			makeTree(t, dir, []treeNode{{path: "a.txt", data: []byte("a\n")}, {path: "d/b.txt", data: []byte("b\n")}})
			// Nothing listens on port 1: trying to connect would fail with
			// status 1 instead of the usage error.
			p := start(t, dir, nil, nil, append([]string{"send", "127.0.0.1:1"}, tc.args...)...)
			p.expect(2)
			mustContain(t, "stderr", p.stderr(), "ferry help")
			if out := p.out.Bytes(); len(out) != 0 {
				t.Errorf("stdout = %q, want nothing", out)
			}
		})
	}
}

// TestRecvMakesDir runs recv into a directory that does not exist yet: recv
// makes it with its missing parents and says so, and a run that fails takes
// away what it made while it is still empty, but never a directory that was
// there before or one a file arrived in.
func TestRecvMakesDir(t *testing.T) {
	const made = "new/inbox" // under the test's directory; neither part exists
	for _, tc := range []struct {
		name string
		// run runs recv with args (--json, -l and the directory) to its end
		// and returns its exit status.
		run  func(t *testing.T, dir string, args ...string) int
		dest string // recv's directory, relative to the test's directory
		kept bool   // whether dest exists afterwards
	}{
		{"a transfer", func(t *testing.T, dir string, args ...string) int {
			recv, addr := startRecv(t, dir, nil, append(args, "127.0.0.1:0", made)...)
			writeFile(t, dir, "f", []byte("hello\n"), 0o644, time.Now())
			send(t, dir, nil, addr, "f").expect(0)
			checkReceived(t, filepath.Join(dir, made), map[string][]byte{"f": []byte("hello\n")})
			status := recv.wait()
			if path := recv.event("created")["path"]; path != filepath.Join(dir, made) {
				t.Errorf("created event path = %v, want %s", path, filepath.Join(dir, made))
			}
			return status
		}, made, true},
		{"port in use", func(t *testing.T, dir string, args ...string) int {
			first, addr := startRecv(t, dir, nil, "--json", "-l", "127.0.0.1:0", dir)
			defer func() { first.interrupt(); first.expect(130) }()
			return start(t, dir, nil, nil, append([]string{"recv"}, append(args, addr, made)...)...).wait()
		}, made, false},
		{"port in use, the directory was there", func(t *testing.T, dir string, args ...string) int {
			if err := os.MkdirAll(filepath.Join(dir, made), 0o755); err != nil {
				t.Fatal(err)
			}
			first, addr := startRecv(t, dir, nil, "--json", "-l", "127.0.0.1:0", dir)
			defer func() { first.interrupt(); first.expect(130) }()
			return start(t, dir, nil, nil, append([]string{"recv"}, append(args, addr, made)...)...).wait()
		}, made, true},
		{"wrong code", func(t *testing.T, dir string, args ...string) int {
			recv, addr := startRecv(t, dir, nil, append(args, "127.0.0.1:0", "--code", "RIGHT-CODE-1", made)...)
			writeFile(t, dir, "f", []byte("hello\n"), 0o644, time.Now())
			send(t, dir, nil, "--code", "WRONG-CODE-2", addr, "f").expect(1)
			return recv.wait()
		}, made, false},
		{"interrupted", func(t *testing.T, dir string, args ...string) int {
			recv, _ := startRecv(t, dir, nil, append(args, "127.0.0.1:0", made)...)
			recv.interrupt()
			return recv.wait()
		}, made, false},
		{"interrupted after a transfer", func(t *testing.T, dir string, args ...string) int {
			recv, addr := startRecv(t, dir, nil, append(args, "127.0.0.1:0", "-k", made)...)
			writeFile(t, dir, "f", []byte("hello\n"), 0o644, time.Now())
			send(t, dir, nil, addr, "f").expect(0)
			recv.waitEvent("summary")
			recv.interrupt()
			return recv.wait()
		}, made, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			status := tc.run(t, dir, "--json", "-l")
			_, err := os.Stat(filepath.Join(dir, tc.dest))
			if exists := err == nil; exists != tc.kept {
				t.Errorf("after recv exited with status %d: %s exists = %v, want %v", status, tc.dest, exists, tc.kept)
			}
			if !tc.kept {
				if _, err := os.Stat(filepath.Join(dir, "new")); err == nil {
					t.Errorf("after recv exited with status %d: the parent it made, new, is still there", status)
				}
			}
		})
	}
}

// TestRecvAsUser runs recv as the nobody user, as the README's systemd unit
// runs it as its own, for a sender running as root: directories whose modes
// deny their owner read and search permission (which root's sender can
// still read) arrive with those modes. With fewer than four directories
// the receiver syncs each on its own, and an open after its mode was set
// would have been refused.
func TestRecvAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root, to send as root to a receiver running as another user")
	}
	src := t.TempDir()
	makeTree(t, src, []treeNode{
		{path: "top/locked", kind: "dir", mode: 0o300},
		{path: "top/blind", kind: "dir", mode: 0o100},
	})
	want := arriving(snapshot(t, src), "top")
	base := reachableTempDir(t)
	dst := filepath.Join(base, "inbox")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dst, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	recv := startAsNobody(t, "recv", dst, "recv", "--json", "-l", "127.0.0.1:0", dst)
	ev, err := parseEvent(recv.waitLine("its listening event", func(l string) bool {
		ev, err := parseEvent(l)
		return err == nil && ev["event"] == "listening"
	}))
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := ev["addr"].(string)
	send(t, src, nil, addr, "top").expect(0)
	recv.expect(0)
	compareTrees(t, "DIR", snapshot(t, dst), want, true)
}

// nobody is the user ID tests run ferry as when they need one whom
// permissions apply to.
const nobody = 65534

// startAsNobody is start, running ferry as the nobody user through setpriv:
// for tests that run as root (as in CI) yet need a ferry that permissions
// apply to. dir must be reachable by nobody (see reachableTempDir).
func startAsNobody(t *testing.T, name, dir string, args ...string) *proc {
	t.Helper()
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("this test needs setpriv (util-linux) to run ferry as nobody: %v", err)
		}
		t.Skipf("skipping: needs setpriv (util-linux) to run ferry as nobody: %v", err)
	}
	prefix := []string{fmt.Sprintf("--reuid=%d", nobody), fmt.Sprintf("--regid=%d", nobody), "--clear-groups", ferryBin}
	return startProg(t, name, setpriv, nil, dir, nil, nil, append(prefix, args...)...)
}

// reachableTempDir is t.TempDir opened up, with the directory above it, so
// that the nobody user can reach what the test puts in it.
func reachableTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
