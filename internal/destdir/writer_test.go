package destdir

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestFlushStartsWithoutWaitingForWriter holds the batch's writer before
// the files a background flush takes: starting the flush must not wait
// for the writer, and neither the sync nor the flush's end may begin
// before it has written them.
func TestFlushStartsWithoutWaitingForWriter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		syncfs bool
	}{
		{"syncfs", true},
		{"file by file", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.syncfs && !syncfsReportsErrors {
				t.Skip("skipping: this system's flushes fsync each file, not syncfs")
			}
			if !tc.syncfs {
				WithoutSyncFS(t)
			}
			var syncs atomic.Int32
			saved := syncFS
			syncFS = func(f *os.File) error {
				syncs.Add(1)
				return saved(f)
			}
			t.Cleanup(func() { syncFS = saved })

			b, dir := testBatch(t, 8)
			b.dest.bgFlushFiles = 4
			commitFile(t, b, "f0", []byte("0"))
			hold := make(chan error)
			b.writer.jobs <- writerJob{reached: hold}
			for i := 1; i < 4; i++ {
				commitFile(t, b, fmt.Sprintf("f%d", i), []byte("x"))
			}
			started := make(chan error)
			go func() {
				_, err := b.Durable(false)
				started <- err
			}()
			select {
			case err := <-started:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				<-hold
				t.Fatal("starting a flush waited for the writer")
			}
			if b.bg == nil {
				t.Fatal("Durable started no flush")
			}
			if b.bg.synced() {
				t.Error("the flush's sync is over before the writer wrote its files")
			}
			if n := syncs.Load(); n != 0 {
				t.Errorf("%d syncfs before the writer wrote the flush's files, want none", n)
			}
			<-hold
			n, err := b.Durable(true)
			if err != nil || n != 4 {
				t.Fatalf("Durable(true) = %d, %v; want 4, nil", n, err)
			}
			for i := range 4 {
				if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("f%d", i))); err != nil {
					t.Error(err)
				}
			}
			if err := b.Finish(false); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestWriterFailureInBackgroundFlush has the writer fail on files a
// background flush took: the flush reports the failure, the files written
// before it are still put in place by the last flush, and nothing of the
// others stays.
func TestWriterFailureInBackgroundFlush(t *testing.T) {
	b, dir := testBatch(t, 8)
	b.dest.bgFlushFiles = 4
	if _, err := b.Create(Entry{Dir: true, Mode: 0o755, Name: "d"}); err != nil {
		t.Fatal(err)
	}
	commitFile(t, b, "d/a", []byte("a"))
	commitFile(t, b, "d/b", []byte("b"))
	// The writer creates small files through the directory's handle.
	b.handles["d"] = fullDir{b.handles["d"]}
	commitFile(t, b, "d/c", []byte("c"))
	commitFile(t, b, "d/e", []byte("e"))
	if _, err := b.Durable(false); err != nil {
		t.Fatalf("starting the flush: %v; the writer reports later", err)
	}
	if b.bg == nil {
		t.Fatal("Durable started no flush")
	}
	<-b.bg.done
	if _, err := b.Durable(false); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Durable after the writer failed = %v, want its ENOSPC", err)
	}
	if _, err := b.Durable(true); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("the last flush = %v, want the writer's ENOSPC", err)
	}
	b.Close()
	entries, err := os.ReadDir(filepath.Join(dir, "d"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != "a b" {
		t.Errorf("d holds %q, want the files written before the failure, a and b", got)
	}
}

// TestSmallFilesShareSlabs commits more small files than the writer's
// queue and a slab hold many times over, so the writer reuses slabs while
// files cut from the slabs after them wait for it: every file must hold
// its own bytes once flushed.
func TestSmallFilesShareSlabs(t *testing.T) {
	// Files of up to 16 KiB: the writer's queue then holds more than a
	// slab's worth of them.
	const files = 1000
	b, dir := testBatch(t, files)
	data := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 1+i*997%(16<<10)) }
	for i := range files {
		commitFile(t, b, fmt.Sprintf("f%04d", i), data(i))
	}
	if _, err := b.Durable(true); err != nil {
		t.Fatal(err)
	}
	for i := range files {
		if got, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("f%04d", i))); err != nil || !bytes.Equal(got, data(i)) {
			t.Fatalf("f%04d does not hold the %d bytes committed: %d bytes read (%v)", i, len(data(i)), len(got), err)
		}
	}
}
