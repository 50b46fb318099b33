package destdir

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSmallWriterFailureStopsBigFile has a small file fail in the batch's
// writer (its directory has no room left), then a big file start: the big
// file's next write must fail with the small file's error, rather than the
// transfer learning of it only after the big file. The error names the
// small file; nothing of either file stays.
func TestSmallWriterFailureStopsBigFile(t *testing.T) {
	b, dir := testBatch(t, 3)
	if _, err := b.Create(Entry{Dir: true, Mode: 0o755, Name: "d"}); err != nil {
		t.Fatal(err)
	}
	small, err := b.Create(Entry{Mode: 0o644, Size: 5, Name: "d/small"})
	if err != nil {
		t.Fatal(err)
	}
	// The writer creates small files through the directory's handle,
	// which Create opened.
	handles := b.handles
	handles["d"] = fullDir{handles["d"]}
	if _, err := small.Write([]byte("small")); err != nil {
		t.Fatal(err)
	}
	if err := small.Commit(); err != nil {
		t.Fatalf("Commit of the small file: %v; the writer reports later", err)
	}
	big, err := b.Create(Entry{Mode: 0o644, Size: 2 * smallFile, Name: "e/big"})
	if err != nil {
		t.Fatal(err)
	}
	// Creating the big file handed the small one to the writer; let it
	// finish, as it would while the big file's first chunk arrives.
	written := make(chan struct{})
	go func() {
		b.writer.pending.Wait()
		close(written)
	}()
	select {
	case <-written:
	case <-time.After(10 * time.Second):
		t.Fatal("the small file was not handed to the writer when the big file began")
	}
	_, err = big.Write(make([]byte, smallFile))
	if err == nil || !strings.Contains(err.Error(), "cannot create d/small: no space left on device") {
		t.Fatalf("the big file's write = %v, want the small file's failure", err)
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("error %v is not ENOSPC, which the receiver tells the sender as no space", err)
	}
	big.Discard()
	if _, err := b.Durable(true); err == nil {
		t.Errorf("Flush after the writer failed = nil, want its error")
	}
	b.Close()
	for _, name := range []string{"d/small", "e/big"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want it absent", name, err)
		}
	}
	entries, err := os.ReadDir(filepath.Join(dir, "d"))
	if err != nil || len(entries) != 0 {
		t.Errorf("d holds %v (%v), want nothing", entries, err)
	}
}

// fullDir is a directory on a file system with no room for new files.
type fullDir struct{ dirFS }

func (fullDir) create(name string, perm fs.FileMode) (destFile, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.ENOSPC}
}

// TestNothingUnderFinalNameBeforeFlush checks, for a small file (held in
// memory, written by the batch's writer) and a big one (written as it
// arrives), that a committed file has no final name until a flush has made
// it durable: a crash before then must not leave it empty or short under
// its name.
func TestNothingUnderFinalNameBeforeFlush(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
	}{
		{"small", 1000},
		{"big", 2 * smallFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, dir := testBatch(t, 1)
			data := bytes.Repeat([]byte("x"), tc.size)
			commitFile(t, b, "f", data)
			if w := b.writer; w != nil {
				w.send()
				if err := w.wait(); err != nil {
					t.Fatalf("the writer: %v", err)
				}
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), ".ferry-") || !strings.HasSuffix(entries[0].Name(), "-f.part") {
				t.Errorf("after Commit the directory holds %v, want only f's temporary file", entries)
			}
			if _, err := b.Durable(true); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dir, "f"))
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("after Flush f holds %d bytes (%v), want %d", len(got), err, len(data))
			}
			if err := b.Finish(false); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestNoPlaceAfterFailedSyncFS: once a syncfs of a transfer's descriptor
// has failed, a later one may succeed though data was lost (the kernel
// reports a failed write-back once per descriptor), so no file committed
// after the failure may be put in place, whatever the next syncfs says.
func TestNoPlaceAfterFailedSyncFS(t *testing.T) {
	if !syncfsReportsErrors {
		t.Skip("skipping: this system's flushes fsync each file, not syncfs")
	}
	b, dir := testBatch(t, 8)
	// Four files, so that a flush syncs them with one syncfs.
	commit := func(t *testing.T, from int) {
		t.Helper()
		for i := from; i < from+syncFSThreshold; i++ {
			commitFile(t, b, fmt.Sprintf("f%d", i), []byte("hello"))
		}
	}
	t.Run("the syncfs that fails", func(t *testing.T) {
		FailSyncFS(t, syscall.EIO)
		commit(t, 0)
		if _, err := b.Durable(true); !errors.Is(err, syscall.EIO) {
			t.Fatalf("Flush = %v, want EIO", err)
		}
	})
	// syncfs succeeds again, as it may after a write-back error was
	// reported once.
	commit(t, syncFSThreshold)
	if _, err := b.Durable(true); !errors.Is(err, syscall.EIO) {
		t.Errorf("Flush after a failed syncfs = %v, want the earlier failure", err)
	}
	b.Close()
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("DIR holds %v (%v), want nothing", entries, err)
	}
}

// TestPlaceFailureKeepsTheOthers has the first of the committed files
// lose its name to another sender before the flush: the flush fails naming
// it, that file's temporary copy is removed and the other's file stays,
// and the other files are still put in place, as files verified before
// any other failure are. The last flush of a transfer puts its files in
// place on the batch's goroutine; a background flush, synced with one
// syncfs, on its own (see handOver).
func TestPlaceFailureKeepsTheOthers(t *testing.T) {
	tests := []struct {
		name       string
		files      int
		background bool
	}{
		{"last flush", 2, false},
		{"background flush", syncFSThreshold, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.background && !syncfsReportsErrors {
				t.Skip("skipping: this system's flushes fsync each file, not syncfs")
			}
			b, dir := testBatch(t, int64(tt.files))
			want := map[string][]byte{"taken": []byte("theirs")}
			commitFile(t, b, "taken", []byte("mine!"))
			for i := 1; i < tt.files; i++ {
				name := fmt.Sprintf("untaken%d", i)
				commitFile(t, b, name, []byte("mine!"))
				want[name] = []byte("mine!")
			}
			if err := os.WriteFile(filepath.Join(dir, "taken"), want["taken"], 0o644); err != nil {
				t.Fatal(err)
			}
			if tt.background {
				SetBackgroundFlushFiles(b.dest, tt.files)
				if _, err := b.Durable(false); err != nil {
					t.Fatal(err)
				}
				if b.bg == nil || !b.bg.places {
					t.Fatal("no background flush that puts its files in place began")
				}
			}
			if _, err := b.Durable(true); err == nil || !strings.Contains(err.Error(), "taken already exists") {
				t.Fatalf("Flush = %v, want the refusal naming taken", err)
			}
			b.Close()
			for name, w := range want {
				if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || !bytes.Equal(got, w) {
					t.Errorf("%s holds %q (%v), want %q", name, got, err, w)
				}
			}
			if entries, _ := os.ReadDir(dir); len(entries) != len(want) {
				t.Errorf("DIR holds %v, want only taken and the untaken files", entries)
			}
		})
	}
}

// TestPlaceSplit: a flush of at least placeSplitMin files in several
// directories puts them in place on two goroutines (see placeSplit). A
// name taken in either part fails the flush naming it, the file that lost
// it is discarded, and every other file is in place, in both parts.
func TestPlaceSplit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		taken string // among a/f000 to c/fNNN
	}{
		{"taken in the first part", "a/f007"},
		{"taken in the second part", "c/f007"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dirs := []string{"a", "b", "c"}
			perDir := placeSplitMin / 2
			b, dir := testBatch(t, int64(len(dirs)*(perDir+1)))
			want := map[string]string{}
			for _, d := range dirs {
				e, err := b.Create(Entry{Dir: true, Mode: 0o755, Name: d})
				if err == nil {
					err = e.Commit()
				}
				if err != nil {
					t.Fatal(err)
				}
				for i := range perDir {
					name := fmt.Sprintf("%s/f%03d", d, i)
					commitFile(t, b, name, []byte(name))
					want[name] = name
				}
			}
			if err := os.WriteFile(filepath.Join(dir, tc.taken), []byte("theirs"), 0o644); err != nil {
				t.Fatal(err)
			}
			want[tc.taken] = "theirs"
			if _, err := b.Durable(true); err == nil || !strings.Contains(err.Error(), tc.taken+" already exists") {
				t.Fatalf("Durable(true) = %v, want the refusal naming %s", err, tc.taken)
			}
			b.Close()
			for name, w := range want {
				if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(got) != w {
					t.Errorf("%s holds %q (%v), want %q", name, got, err, w)
				}
			}
			for _, d := range dirs {
				if entries, _ := os.ReadDir(filepath.Join(dir, d)); len(entries) != perDir {
					t.Errorf("%s holds %d entries, want only its %d files", d, len(entries), perDir)
				}
			}
		})
	}
}

// TestBackgroundFlushPlaces: a flush synced with one syncfs puts its files
// in place on its own goroutine once the syncfs is over, so that the
// renames overlap the receiving of the next files; the batch only settles
// it (the files are under their names before the batch looks at the flush
// again), and reports the files durable once the next syncfs has made
// their names durable too.
func TestBackgroundFlushPlaces(t *testing.T) {
	if !syncfsReportsErrors {
		t.Skip("skipping: this system's flushes fsync each file, not syncfs")
	}
	const files = 2 * syncFSThreshold
	b, dir := testBatch(t, files)
	SetBackgroundFlushFiles(b.dest, files)
	saved := syncOver
	syncOver = func(<-chan struct{}) bool { return false }
	t.Cleanup(func() { syncOver = saved })
	for i := range files {
		commitFile(t, b, fmt.Sprintf("f%d", i), []byte("data"))
	}
	if n, err := b.Durable(false); err != nil || n != 0 {
		t.Fatalf("Durable(false) = %d, %v; want 0 and a flush begun", n, err)
	}
	f := b.bg
	if f == nil {
		t.Fatal("no background flush began")
	}
	<-f.done
	for i := range files {
		if _, err := os.Lstat(filepath.Join(dir, fmt.Sprintf("f%d", i))); err != nil {
			t.Errorf("once the flush's goroutine is done, f%d is not in place: %v", i, err)
		}
	}
	if n, err := b.Durable(true); err != nil || n != files {
		t.Fatalf("Durable(true) = %d, %v; want %d", n, err, files)
	}
}

// TestOpenDirsClosedDuringFlush: a transfer into more than maxOpenDirs
// directories closes the batch's open ones while a background flush may
// be putting files in place. That flush has directories of its own, so
// the batch goes on without waiting for its syncfs, which a busy disk can
// make long, and every file still arrives in place.
func TestOpenDirsClosedDuringFlush(t *testing.T) {
	if !syncfsReportsErrors {
		t.Skip("skipping: this system's flushes fsync each file, not syncfs")
	}
	const dirs = 2 * maxOpenDirs
	b, dir := testBatch(t, 2*dirs)
	SetBackgroundFlushFiles(b.dest, syncFSThreshold)
	release := make(chan struct{})
	saved := syncFS
	syncFS = func(f *os.File) error {
		<-release
		return saved(f)
	}
	t.Cleanup(func() { syncFS = saved })
	name := func(i int) string { return fmt.Sprintf("d%03d", i) }
	// create makes directory i and a file in it; off the test's
	// goroutine, it returns its error rather than failing the test.
	create := func(i int) error {
		d, err := b.Create(Entry{Dir: true, Mode: 0o755, Name: name(i)})
		if err == nil {
			err = d.Commit()
		}
		if err == nil {
			d, err = b.Create(Entry{Mode: 0o644, Size: int64(len(name(i))), Name: name(i) + "/f"})
		}
		if err == nil {
			_, err = d.Write([]byte(name(i)))
		}
		if err == nil {
			err = d.Commit()
		}
		return err
	}
	for i := range syncFSThreshold {
		if err := create(i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Durable(false); err != nil || b.bg == nil || !b.bg.places {
		t.Fatalf("Durable(false) = %v; want a background flush that puts its files in place begun", err)
	}
	created := make(chan error, 1)
	go func() {
		for i := syncFSThreshold; i < dirs; i++ {
			if err := create(i); err != nil {
				created <- err
				return
			}
		}
		created <- nil
	}()
	select {
	case err := <-created:
		if err != nil {
			close(release)
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		close(release)
		<-created
		t.Fatalf("creating files in %d directories waited for the flush's syncfs", dirs)
	}
	close(release)
	if n, err := b.Durable(true); err != nil || n != 2*dirs {
		t.Fatalf("Durable(true) = %d, %v; want %d", n, err, 2*dirs)
	}
	for i := range dirs {
		if got, err := os.ReadFile(filepath.Join(dir, name(i), "f")); err != nil || string(got) != name(i) {
			t.Errorf("%s/f holds %q (%v), want %q", name(i), got, err, name(i))
		}
	}
}

// TestSyncFSOtherFileSystem: a syncfs syncs the sink's file system only,
// so the files of a directory on another (a disk mounted below the sink's
// directory) are each synced on their own, and those beside them are not.
// The test has the subdirectory's device differ from the sink's by hand:
// mounting one needs privileges tests do not take.
func TestSyncFSOtherFileSystem(t *testing.T) {
	if !syncfsReportsErrors {
		t.Skip("skipping: this system's flushes fsync each file, not syncfs")
	}
	b, dir := testBatch(t, 2*syncFSThreshold)
	synced := 0
	saved := syncFile
	syncFile = func(f destFile) error { synced++; return saved(f) }
	t.Cleanup(func() { syncFile = saved })
	for i := range syncFSThreshold {
		commitFile(t, b, fmt.Sprintf("f%d", i), []byte("on the sink's file system"))
	}
	d, err := b.Create(Entry{Dir: true, Mode: 0o755, Name: "mnt"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Commit(); err != nil {
		t.Fatal(err)
	}
	db := b
	db.path[len(db.path)-1].dev = db.topDev + 1
	for i := range syncFSThreshold {
		commitFile(t, b, fmt.Sprintf("mnt/f%d", i), []byte("on another"))
	}
	if _, err := b.Durable(true); err != nil {
		t.Fatal(err)
	}
	if synced != syncFSThreshold {
		t.Errorf("the flush synced %d files on their own, want the %d in mnt, on another file system", synced, syncFSThreshold)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "mnt", "f0")); err != nil || string(got) != "on another" {
		t.Errorf("mnt/f0 holds %q (%v)", got, err)
	}
}

// TestSyncFSSkippedOnFUSE: where a syncfs may not reach the files (FUSE,
// which syncfsSkips detects), a flush of enough files for one syncfs
// fsyncs each of them instead.
func TestSyncFSSkippedOnFUSE(t *testing.T) {
	b, _ := testBatch(t, syncFSThreshold)
	b.syncfsSkips = true
	synced := 0
	saved := syncFile
	syncFile = func(f destFile) error { synced++; return saved(f) }
	t.Cleanup(func() { syncFile = saved })
	FailSyncFS(t, errors.New("syncfs called"))
	for i := range syncFSThreshold {
		commitFile(t, b, fmt.Sprintf("f%d", i), []byte("hello"))
	}
	if _, err := b.Durable(true); err != nil {
		t.Fatal(err)
	}
	if synced != syncFSThreshold {
		t.Errorf("the flush synced %d files on their own, want all %d", synced, syncFSThreshold)
	}
}

// TestDirReplacedByLink replaces a directory the batch checked by a
// symbolic link to another directory inside DIR, then makes the batch
// reopen it (as it does once it has opened more directories than it keeps
// open): the entries that follow are refused, and nothing is written or
// made through the link.
func TestDirReplacedByLink(t *testing.T) {
	b, dir := testBatch(t, 4)
	commitFile(t, b, "d/f1", []byte("one"))
	if _, err := b.Durable(true); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "other"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "d"), filepath.Join(dir, "d.old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("other", filepath.Join(dir, "d")); err != nil {
		t.Fatal(err)
	}
	// The directories it holds open, d's among them, closed: in tree
	// order the 64 that would push d's out cannot come before more of d.
	b.closeDirs()
	// A file in it, one in a directory to be made in it, and a
	// directory entry below it: each would reach other through the link.
	for _, f := range []Entry{
		{Mode: 0o644, Size: 3, Name: "d/f2"},
		{Mode: 0o644, Size: 3, Name: "d/sub/f3"},
		{Dir: true, Mode: 0o755, Name: "d/sub2"},
	} {
		if _, err := b.Create(f); !errors.Is(err, errNotRealDir) {
			t.Errorf("Create(%s) with d now a link = %v, want %v", f.Name, err, errNotRealDir)
		}
	}
	if entries, err := os.ReadDir(filepath.Join(dir, "other")); err != nil || len(entries) != 0 {
		t.Errorf("other, where the link d points, holds %v (%v), want nothing", entries, err)
	}
}

// testBatch begins a transfer of files entries into a Dir on a new
// temporary directory, returned too; both are closed when the test ends.
func testBatch(t *testing.T, files int64) (*Batch, string) {
	t.Helper()
	dir := t.TempDir()
	d, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	b, err := d.Begin(files, UnknownSize)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b, dir
}

// commitFile receives the regular file name into b, holding data, and
// commits it.
func commitFile(t *testing.T, b *Batch, name string, data []byte) {
	t.Helper()
	d, err := b.Create(Entry{Mode: 0o644, Size: int64(len(data)), Name: name})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := d.Commit(); err != nil {
		t.Fatal(err)
	}
}
