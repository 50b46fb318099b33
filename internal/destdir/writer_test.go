package destdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
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

// TestSmallSlabReuse cuts the buffers of small files from slabs while a
// writer, lagging 0, 40 or 400 files behind, writes them in order and
// gives back the slabs smallBuf noted: no buffer may overlap that of a
// file not yet written, and the slabs must be reused rather than each
// allocated anew.
func TestSmallSlabReuse(t *testing.T) {
	for _, tc := range []struct {
		name string
		lag  int // files given to the writer, not yet written
	}{
		{"written at once", 0},
		{"a few queued", 40},
		{"more than a slab queued", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &smallWriter{free: make(chan []byte, smallWriterFree)}
			b := &Batch{writer: w}
			var queued []*dirDest
			slabs := map[*byte]bool{}
			for i := range 5000 {
				d := &dirDest{}
				b.smallBuf(d, i*37%(2*1024))
				slabs[unsafe.SliceData(b.slab)] = true
				for _, q := range queued {
					if overlap(q.buf[:cap(q.buf)], d.buf[:cap(d.buf)]) {
						t.Fatalf("file %d was given the buffer of a file not yet written", i)
					}
				}
				queued = append(queued, d)
				for len(queued) > tc.lag {
					w.release(queued[0])
					queued = queued[1:]
				}
			}
			// 5000 files of 1 KiB on average fill about 20 slabs.
			if most := 2 + tc.lag*2048/smallSlab + smallWriterFree; len(slabs) > most {
				t.Errorf("%d slabs were allocated; reused, there would be at most %d", len(slabs), most)
			}
		})
	}
}

// overlap says whether a and b share any byte.
func overlap(a, b []byte) bool {
	a0, b0 := uintptr(unsafe.Pointer(unsafe.SliceData(a))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return a0 < b0+uintptr(len(b)) && b0 < a0+uintptr(len(a))
}
