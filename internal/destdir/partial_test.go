//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly || solaris

package destdir

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"hash/crc32"
	"os"
	"path"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// bigData is a file's data above smallFile, which Resume keeps when its
// transfer fails.
var bigData = func() []byte {
	b := make([]byte, 3*smallFile+123)
	for i := range b {
		b[i] = byte(i * 7 / 5)
	}
	return b
}()

var bigMTime = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

func bigEntry(name string) Entry {
	return Entry{Name: name, Size: int64(len(bigData)), Mode: 0o644, ModTime: bigMTime}
}

// openResume opens a Dir in a new directory with Resume on, or as opts
// say, and returns it and its path.
func openResume(t *testing.T, opts Options) (*Dir, string) {
	t.Helper()
	dir := t.TempDir()
	d, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d, dir
}

// failHalfway has a batch of d write the first n bytes of e's data, then
// fail (Discard, as the receiver does when the transfer fails, then Close).
func failHalfway(t *testing.T, d *Dir, e Entry, n int) {
	t.Helper()
	b := begin(t, d, 1)
	defer b.Close()
	dest := create(t, b, e)
	if _, err := dest.Write(bigData[:n]); err != nil {
		t.Fatal(err)
	}
	dest.Discard()
}

// partialPath is where Resume keeps e's data in dir.
func partialPath(dir string, e Entry) string {
	return filepath.Join(dir, partialDirName, partialID(e))
}

// listDir lists the names in dir and in its subdirectories, sorted.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var got []string
	err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			got = append(got, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	return got
}

func check(t *testing.T, b *Batch, e Entry) Held {
	t.Helper()
	h, err := b.Check(e)
	if err != nil {
		t.Fatalf("Check(%s): %v", e.Name, err)
	}
	return h
}

// TestResumeAfterDiscard fails a big file halfway, then sends it again:
// the failed transfer's data is kept under its partial name, never under
// the final name; Check reports it; CreateAt continues it with the crc32c
// of what is held, and the file arrives whole, the partial name gone.
func TestResumeAfterDiscard(t *testing.T) {
	d, dir := openResume(t, Options{Resume: true})
	e := bigEntry("sub/f")
	half := len(bigData) / 2
	failHalfway(t, d, e, half)

	if got, want := listDir(t, dir), []string{partialDirName, partialDirName + "/" + partialID(e), "sub"}; !slices.Equal(got, want) {
		t.Fatalf("after a failure halfway %s holds %q, want %q", dir, got, want)
	}
	if held, err := os.ReadFile(partialPath(dir, e)); err != nil || !bytes.Equal(held, bigData[:half]) {
		t.Fatalf("the partial file holds %d bytes (%v), want the %d written", len(held), err, half)
	}

	b := begin(t, d, 1)
	defer b.Close()
	h := check(t, b, e)
	if h.State != HeldPartial || h.Length != int64(half) || h.Digest != sha256.Sum256(bigData[:half]) {
		t.Fatalf("Check = %v %d %x, want HeldPartial %d and the SHA-256 of those bytes", h.State, h.Length, h.Digest, half)
	}
	dest, sum, err := b.CreateAt(e, h.Length)
	if err != nil {
		t.Fatal(err)
	}
	if want := crc32.Checksum(bigData[:half], crc32.MakeTable(crc32.Castagnoli)); sum != want {
		t.Errorf("CreateAt's sum = %08x, want the crc32c of the first %d bytes, %08x", sum, half, want)
	}
	if _, err := dest.Write(bigData[half:]); err != nil {
		t.Fatal(err)
	}
	if err := dest.Commit(); err != nil {
		t.Fatal(err)
	}
	durable(t, b)
	if err := b.Finish(false); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if got, err := os.ReadFile(filepath.Join(dir, "sub/f")); err != nil || !bytes.Equal(got, bigData) {
		t.Fatalf("the resumed file holds %d bytes (%v), want the %d sent, byte for byte", len(got), err, len(bigData))
	}
	info, err := os.Stat(filepath.Join(dir, "sub/f"))
	if err != nil || !info.ModTime().Equal(bigMTime) || info.Mode().Perm() != 0o644&^d.umask {
		t.Errorf("the resumed file: %v %v (%v), want the sender's mtime and mode", info.ModTime(), info.Mode(), err)
	}
	if got, want := listDir(t, dir), []string{"sub", "sub/f"}; !slices.Equal(got, want) {
		t.Errorf("after the resumed transfer %s holds %q, want %q", dir, got, want)
	}
}

// TestResumeAfterKill kills a receiver (a child process) halfway through a
// big file, so that nothing of it is discarded or closed: its data stays,
// and the next receiver finds it.
func TestResumeAfterKill(t *testing.T) {
	if dir := os.Getenv("FERRY_TEST_KILLED_RECEIVER"); dir != "" {
		d, err := Open(dir, Options{Resume: true})
		if err != nil {
			t.Fatal(err)
		}
		b := begin(t, d, 1)
		dest := create(t, b, bigEntry("f"))
		if _, err := dest.Write(bigData[:smallFile+1]); err != nil {
			t.Fatal(err)
		}
		_ = unix.Kill(os.Getpid(), unix.SIGKILL)
		select {}
	}
	d, dir := openResume(t, Options{Resume: true})
	child, err := os.StartProcess(os.Args[0], []string{os.Args[0], "-test.run=^TestResumeAfterKill$"}, &os.ProcAttr{
		Env:   append(os.Environ(), "FERRY_TEST_KILLED_RECEIVER="+dir),
		Files: []*os.File{nil, os.Stdout, os.Stderr},
	})
	if errors.Is(err, syscall.ENOEXEC) {
		// Cross-built and run under an emulator, the test binary cannot
		// start itself: the kernel does not know its format.
		t.Skipf("cannot start this test binary as a child: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	state, err := child.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the child receiver ended with %v, want killed", state)
	}
	b := begin(t, d, 1)
	defer b.Close()
	if h := check(t, b, bigEntry("f")); h.State != HeldPartial || h.Length != smallFile+1 {
		t.Errorf("after the receiver was killed Check = %v of %d bytes, want HeldPartial of %d", h.State, h.Length, smallFile+1)
	}
	if _, err := os.Lstat(filepath.Join(dir, "f")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the killed transfer's file: %v, want nothing under its final name", err)
	}
}

// TestCheckPartial has a big file's transfer fail halfway, then checks for
// the same file and others, as a later transfer would: only the same
// name, size and mtime find its data, unless something holds it.
func TestCheckPartial(t *testing.T) {
	half := int64(len(bigData) / 2)
	for _, tc := range []struct {
		name   string
		opts   Options
		alter  func(t *testing.T, dir string) // after the failure
		entry  func(e Entry) Entry
		state  HeldState
		digest []byte // of what the partial file holds
	}{
		{name: "same file", opts: Options{Resume: true}, state: HeldPartial, digest: bigData[:half]},
		{name: "another mtime", opts: Options{Resume: true},
			entry: func(e Entry) Entry { e.ModTime = e.ModTime.Add(time.Nanosecond); return e }},
		{name: "another size", opts: Options{Resume: true},
			entry: func(e Entry) Entry { e.Size++; return e }},
		{name: "another name", opts: Options{Resume: true},
			entry: func(e Entry) Entry { e.Name = "g"; return e }},
		{name: "changed on disk", opts: Options{Resume: true}, state: HeldPartial,
			alter: func(t *testing.T, dir string) {
				f, err := os.OpenFile(partialPath(dir, bigEntry("f")), os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if _, err := f.WriteAt([]byte("X"), 10); err != nil {
					t.Fatal(err)
				}
			},
			digest: slices.Concat(bigData[:10], []byte("X"), bigData[11:half])},
		{name: "longer than the file", opts: Options{Resume: true},
			alter: func(t *testing.T, dir string) {
				if err := os.WriteFile(partialPath(dir, bigEntry("f")), slices.Concat(bigData, []byte("x")), 0o600); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "held by another transfer", opts: Options{Resume: true},
			alter: func(t *testing.T, dir string) {
				f, err := os.Open(partialPath(dir, bigEntry("f")))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = f.Close() })
				if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "with overwrite, a file of another size there", opts: Options{Resume: true, Overwrite: true}, state: HeldPartial,
			alter: func(t *testing.T, dir string) {
				if err := os.WriteFile(filepath.Join(dir, "f"), []byte("old"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			digest: bigData[:half]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, dir := openResume(t, tc.opts)
			failHalfway(t, d, bigEntry("f"), int(half))
			if tc.alter != nil {
				tc.alter(t, dir)
			}
			e := bigEntry("f")
			if tc.entry != nil {
				e = tc.entry(e)
			}
			b := begin(t, d, 1)
			defer b.Close()
			h := check(t, b, e)
			if h.State != tc.state {
				t.Fatalf("Check = %v, want %v", h.State, tc.state)
			}
			if tc.state == HeldPartial && (h.Length != int64(len(tc.digest)) || h.Digest != sha256.Sum256(tc.digest)) {
				t.Errorf("Check = %d bytes, digest %x, want %d, that of the bytes on disk", h.Length, h.Digest, len(tc.digest))
			}
		})
	}
}

// TestResumeOff: without Resume a failed transfer's file is removed, as
// ever, and Check finds nothing to continue.
func TestResumeOff(t *testing.T) {
	d, dir := openResume(t, Options{})
	failHalfway(t, d, bigEntry("f"), len(bigData)/2)
	if got := listDir(t, dir); len(got) != 0 {
		t.Errorf("after a failure without Resume %s holds %q, want nothing", dir, got)
	}
	b := begin(t, d, 1)
	defer b.Close()
	if h := check(t, b, bigEntry("f")); h.State != HeldNone {
		t.Errorf("Check = %v, want HeldNone", h.State)
	}
}

// TestDiscardWithoutData: a file discarded before any data came leaves
// nothing, partial directory included.
func TestDiscardWithoutData(t *testing.T) {
	d, dir := openResume(t, Options{Resume: true})
	failHalfway(t, d, bigEntry("f"), 0)
	if got := listDir(t, dir); len(got) != 0 {
		t.Errorf("after a failure before any data %s holds %q, want nothing", dir, got)
	}
}

// TestPartialClaim: partial data Check reported is this batch's until it
// creates the file: another batch checking the same file finds nothing,
// and writes it under a temporary name; once the first batch closes, the
// data can be claimed again.
func TestPartialClaim(t *testing.T) {
	d, dir := openResume(t, Options{Resume: true})
	half := len(bigData) / 2
	failHalfway(t, d, bigEntry("f"), half)

	first := begin(t, d, 1)
	if h := check(t, first, bigEntry("f")); h.State != HeldPartial {
		t.Fatalf("the first batch's Check = %v, want HeldPartial", h.State)
	}
	if h := check(t, first, bigEntry("f")); h.State != HeldPartial || h.Length != int64(half) {
		t.Fatalf("the first batch's second Check = %v of %d bytes, want its claim, HeldPartial of %d", h.State, h.Length, half)
	}
	second := begin(t, d, 1)
	defer second.Close()
	if h := check(t, second, bigEntry("f")); h.State != HeldNone {
		t.Errorf("the second batch's Check of a claimed partial = %v, want HeldNone", h.State)
	}
	dest := create(t, second, bigEntry("f"))
	if _, err := dest.Write(bigData[:10]); err != nil {
		t.Fatal(err)
	}
	if held, err := os.ReadFile(partialPath(dir, bigEntry("f"))); err != nil || !bytes.Equal(held, bigData[:half]) {
		t.Errorf("a second transfer of a claimed file changed its partial data (%d bytes, %v)", len(held), err)
	}
	dest.Discard()
	first.Close()
	if h := check(t, second, bigEntry("f")); h.State != HeldPartial || h.Length != int64(half) {
		t.Errorf("Check once the claim ended = %v of %d bytes, want HeldPartial of %d", h.State, h.Length, half)
	}
}

// TestCreateStartsOver: Create of a file whose partial data was claimed
// writes it from its first byte.
func TestCreateStartsOver(t *testing.T) {
	d, dir := openResume(t, Options{Resume: true})
	failHalfway(t, d, bigEntry("f"), len(bigData)/2)
	b := begin(t, d, 1)
	defer b.Close()
	if h := check(t, b, bigEntry("f")); h.State != HeldPartial {
		t.Fatalf("Check = %v, want HeldPartial", h.State)
	}
	dest := create(t, b, bigEntry("f"))
	want := bytes.Repeat([]byte("y"), len(bigData))
	if _, err := dest.Write(want); err != nil {
		t.Fatal(err)
	}
	if err := dest.Commit(); err != nil {
		t.Fatal(err)
	}
	durable(t, b)
	if got, err := os.ReadFile(filepath.Join(dir, "f")); err != nil || !bytes.Equal(got, want) {
		t.Errorf("the file started over holds %d bytes (%v), want only the %d written", len(got), err, len(want))
	}
}

// TestCreateTruncatesPartial: Create of a file whose partial data was not
// claimed starts it over too, so that a failure leaves only its own data.
func TestCreateTruncatesPartial(t *testing.T) {
	d, dir := openResume(t, Options{Resume: true})
	failHalfway(t, d, bigEntry("f"), len(bigData)/2)
	failHalfway(t, d, bigEntry("f"), 10)
	if held, err := os.ReadFile(partialPath(dir, bigEntry("f"))); err != nil || !bytes.Equal(held, bigData[:10]) {
		t.Errorf("the partial file holds %d bytes (%v), want the 10 the second transfer wrote", len(held), err)
	}
}

// TestCreateAtWithoutClaim: CreateAt continues only data Check claimed,
// of that length.
func TestCreateAtWithoutClaim(t *testing.T) {
	d, _ := openResume(t, Options{Resume: true})
	failHalfway(t, d, bigEntry("f"), 1000)
	for _, tc := range []struct {
		name  string
		check bool
		at    int64
	}{
		{"not checked", false, 1000},
		{"another length", true, 999},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := begin(t, d, 1)
			defer b.Close()
			if tc.check {
				check(t, b, bigEntry("f"))
			}
			if _, _, err := b.CreateAt(bigEntry("f"), tc.at); err == nil {
				t.Errorf("CreateAt at %d = nil error, want one", tc.at)
			}
		})
	}
}

// TestPartialMovedAcrossMounts: a file that cannot be renamed from the
// partial directory into its own is copied there at Commit.
func TestPartialMovedAcrossMounts(t *testing.T) {
	d, dir := openResume(t, Options{Resume: true})
	b := begin(t, d, 1)
	defer b.Close()
	dest := create(t, b, bigEntry("f"))
	if _, err := dest.Write(bigData); err != nil {
		t.Fatal(err)
	}
	b.handles["."] = otherMount{b.handles["."]}
	if err := dest.Commit(); err != nil {
		t.Fatal(err)
	}
	durable(t, b)
	if got, err := os.ReadFile(filepath.Join(dir, "f")); err != nil || !bytes.Equal(got, bigData) {
		t.Errorf("the copied file holds %d bytes (%v), want the %d sent", len(got), err, len(bigData))
	}
	if _, err := os.Lstat(partialPath(dir, bigEntry("f"))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the partial file after the copy: %v, want it gone", err)
	}
}

// otherMount is a directory that renameBetween cannot move a file into,
// as if on another mount.
type otherMount struct{ dirFS }

// TestCheckFinalName checks a file against what the directory holds under
// its name and on the way to it, with and without Overwrite: Check reports
// what Create would refuse, hashes a file of the same size, and creates
// nothing.
func TestCheckFinalName(t *testing.T) {
	same := []byte("the same size")
	for _, tc := range []struct {
		name      string
		overwrite bool
		setup     func(t *testing.T, dir string)
		file      string
		state     HeldState
		kind      Kind // of the refusal
	}{
		{name: "nothing there", file: "a/b/f", state: HeldNone},
		{name: "a file of the same size", file: "f", state: HeldPresent,
			setup: func(t *testing.T, dir string) { write(t, dir, "f", same) }},
		{name: "a file of the same size, overwrite", overwrite: true, file: "f", state: HeldPresent,
			setup: func(t *testing.T, dir string) { write(t, dir, "f", same) }},
		{name: "a file of another size", file: "f", state: HeldRefused, kind: Exists,
			setup: func(t *testing.T, dir string) { write(t, dir, "f", []byte("other")) }},
		{name: "a file of another size, overwrite", overwrite: true, file: "f", state: HeldNone,
			setup: func(t *testing.T, dir string) { write(t, dir, "f", []byte("other")) }},
		{name: "a directory", file: "f", state: HeldRefused, kind: Conflict,
			setup: func(t *testing.T, dir string) { mkdir(t, dir, "f") }},
		{name: "a directory, overwrite", overwrite: true, file: "f", state: HeldRefused, kind: Conflict,
			setup: func(t *testing.T, dir string) { mkdir(t, dir, "f") }},
		{name: "a link of the same size", file: "f", state: HeldRefused, kind: Exists,
			setup: func(t *testing.T, dir string) {
				write(t, dir, "t", same)
				link(t, dir, "t", "f")
			}},
		{name: "a link on the way", file: "l/f", state: HeldRefused, kind: BadName,
			setup: func(t *testing.T, dir string) {
				mkdir(t, dir, "d")
				write(t, dir, "d/f", same)
				link(t, dir, "d", "l")
			}},
		{name: "a file on the way", file: "a/f", state: HeldRefused, kind: Conflict,
			setup: func(t *testing.T, dir string) { write(t, dir, "a", same) }},
		{name: "a directory missing on the way", file: "a/b/f", state: HeldNone,
			setup: func(t *testing.T, dir string) { mkdir(t, dir, "a") }},
		{name: "a file deeper", file: "a/b/f", state: HeldPresent,
			setup: func(t *testing.T, dir string) {
				mkdir(t, dir, "a/b")
				write(t, dir, "a/b/f", same)
			}},
		{name: "a reserved name", file: ".ferry-partial/f", state: HeldRefused, kind: BadName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, dir := openResume(t, Options{Resume: true, Overwrite: tc.overwrite})
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			before := listDir(t, dir)
			b := begin(t, d, 1)
			defer b.Close()
			h := check(t, b, Entry{Name: tc.file, Size: int64(len(same)), Mode: 0o644})
			if h.State != tc.state {
				t.Fatalf("Check = %v (%v), want %v", h.State, h.Err, tc.state)
			}
			var refusal *Error
			switch {
			case tc.state == HeldRefused && (!errors.As(h.Err, &refusal) || refusal.Kind != tc.kind):
				t.Errorf("Check refused with %v, want an *Error of kind %v", h.Err, tc.kind)
			case tc.state == HeldPresent && (h.Length != int64(len(same)) || h.Digest != sha256.Sum256(same)):
				t.Errorf("Check = %d bytes, digest %x, want those of the file there", h.Length, h.Digest)
			}
			if after := listDir(t, dir); !slices.Equal(after, before) {
				t.Errorf("Check changed %s from %q to %q", dir, before, after)
			}
		})
	}
}

// TestCheckAfterCheck checks files in several directories in tree order,
// as the receiver does ahead of Create, each against its own.
func TestCheckAfterCheck(t *testing.T) {
	d, dir := openResume(t, Options{})
	for _, name := range []string{"a/b/f", "a/c/f", "d/e/f"} {
		mkdir(t, dir, path.Dir(name))
		write(t, dir, name, []byte(name))
	}
	b := begin(t, d, 1)
	defer b.Close()
	for _, name := range []string{"a/b/f", "a/b/g", "a/c/f", "a/f", "d/e/f", "e/f"} {
		h := check(t, b, Entry{Name: name, Size: 5, Mode: 0o644})
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			if h.State != HeldPresent || h.Digest != sha256.Sum256([]byte(name)) {
				t.Errorf("Check(%s) = %v %x, want HeldPresent with its digest", name, h.State, h.Digest)
			}
		} else if h.State != HeldNone {
			t.Errorf("Check(%s) = %v, want HeldNone", name, h.State)
		}
	}
}

func write(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
}

func link(t *testing.T, dir, target, name string) {
	t.Helper()
	if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// TestPartialsByAge lists the partial files of failed transfers and
// removes the old ones, but not one a transfer holds.
func TestPartialsByAge(t *testing.T) {
	d, dir := openResume(t, Options{Resume: true})
	old, recent, held := bigEntry("old"), bigEntry("recent"), bigEntry("held")
	failHalfway(t, d, held, 300)
	failHalfway(t, d, old, 100)
	failHalfway(t, d, recent, 200)
	now := time.Now()
	for e, age := range map[Entry]time.Duration{old: 48 * time.Hour, held: 48 * time.Hour, recent: time.Minute} {
		if err := os.Chtimes(partialPath(dir, e), now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	if n, bytes, err := d.Partials(); n != 3 || bytes != 600 || err != nil {
		t.Fatalf("Partials() = %d, %d, %v; want 3 files of 600 bytes", n, bytes, err)
	}
	b := begin(t, d, 1)
	defer b.Close()
	if h := check(t, b, held); h.State != HeldPartial {
		t.Fatalf("Check(held) = %v, want HeldPartial", h.State)
	}
	if n, bytes, err := d.RemovePartials(now.Add(-24 * time.Hour)); n != 1 || bytes != 100 || err != nil {
		t.Errorf("RemovePartials(a day ago) = %d, %d, %v; want 1 file of 100 bytes", n, bytes, err)
	}
	if n, bytes, err := d.Partials(); n != 2 || bytes != 500 || err != nil {
		t.Errorf("Partials() after = %d, %d, %v; want 2 files of 500 bytes", n, bytes, err)
	}
	b.Close()
	if n, _, err := d.RemovePartials(now.Add(time.Hour)); n != 2 || err != nil {
		t.Errorf("RemovePartials(later) = %d, %v; want the 2 left", n, err)
	}
	if got := listDir(t, dir); len(got) != 0 {
		t.Errorf("with no partial files left %s holds %q, want nothing", dir, got)
	}
}

// TestPartialsNone: a directory that never held partial files has none.
func TestPartialsNone(t *testing.T) {
	d, _ := openResume(t, Options{})
	if n, bytes, err := d.Partials(); n != 0 || bytes != 0 || err != nil {
		t.Errorf("Partials() = %d, %d, %v; want none", n, bytes, err)
	}
	if n, bytes, err := d.RemovePartials(time.Now()); n != 0 || bytes != 0 || err != nil {
		t.Errorf("RemovePartials() = %d, %d, %v; want none", n, bytes, err)
	}
}
