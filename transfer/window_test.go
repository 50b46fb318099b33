package transfer_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ferrytool/ferry/transfer"
)

// emptyFiles yields a directory "d" and then n empty files in it, in tree
// order, with names long enough that a list of them would show.
func emptyFiles(n int, sample func(i int)) iter.Seq2[transfer.Source, error] {
	mtime := time.Unix(1_500_000_000, 0)
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(nil)), nil }
	return func(yield func(transfer.Source, error) bool) {
		if !yield(transfer.Source{Name: "d", Mode: fs.ModeDir | 0o755, ModTime: mtime}, nil) {
			return
		}
		for i := range n {
			if sample != nil {
				sample(i)
			}
			name := fmt.Sprintf("d/a-file-with-a-name-of-some-length-%09d", i)
			if !yield(transfer.Source{Name: name, Mode: 0o644, ModTime: mtime, Open: open}, nil) {
				return
			}
		}
	}
}

// sendSeq sends what seq yields, which t counts, into sink, and returns
// the sender's summary and error.
func sendSeq(t *testing.T, tot transfer.Totals, seq iter.Seq2[transfer.Source, error], sink transfer.Sink) (transfer.Summary, error) {
	t.Helper()
	ln := listen(t)
	errc := receiveOne(t, t.Context(), ln, sink, transfer.Options{})
	var s transfer.Sender
	sum, err := s.SendSeq(t.Context(), dial(t, ln.Addr()), tot, seq)
	<-errc
	return sum, err
}

// TestSendSeqMemory sends 200,000 files from a sequence and samples the
// live heap as the sender takes them: it must not grow with the files
// sent, as it would were they held (some 100 bytes each, 20 MiB in all).
func TestSendSeqMemory(t *testing.T) {
	// No t.Parallel: it measures the process's heap.
	const n, every = 200_000, 20_000
	var heap []uint64
	sample := func(i int) {
		if i%every == every-1 {
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			heap = append(heap, m.HeapAlloc)
		}
	}
	tot, err := transfer.Count(emptyFiles(n, nil))
	if err != nil {
		t.Fatal(err)
	}
	// The files are empty: the sink, which keeps nothing, gets no writes.
	sum, err := sendSeq(t, tot, emptyFiles(n, sample), &failingSink{})
	if err != nil || sum.Files != n {
		t.Fatalf("SendSeq = %d files, %v; want %d files", sum.Files, err, n)
	}
	// The first samples see the transfer's buffers come; past them the
	// heap stays within a few MiB however many files were sent.
	low, high := heap[1], heap[1]
	for _, h := range heap[1:] {
		low, high = min(low, h), max(high, h)
	}
	if high-low > 4<<20 {
		t.Errorf("the live heap grew from %d to %d KiB over %d files (samples %v): the sender holds what it sent", low>>10, high>>10, n-2*every, heap)
	}
}

// TestSendSeqChanged gives SendSeq sequences other than the one counted,
// as a tree that changed between its count and its walk: it must send
// the entries before the change and fail with an error that says so.
func TestSendSeqChanged(t *testing.T) {
	t.Parallel()
	mtime := time.Unix(1_500_000_000, 0)
	file := func(name string, data string) transfer.Source {
		return transfer.Source{Name: name, Size: int64(len(data)), Mode: 0o644, ModTime: mtime,
			Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(data)), nil }}
	}
	counted := []transfer.Source{file("a", "alpha"), file("b", "bravo")}
	tests := []struct {
		name string
		sent []transfer.Source
		err  error // yielded after sent
		want string
	}{
		{"one more", append(counted[:2:2], file("c", "charlie")), nil, "more than the 2 entries offered"},
		{"one fewer", counted[:1], nil, "2 entries were offered, 1 found"},
		{"grown", []transfer.Source{counted[0], file("b", "bravo!")}, nil, "more than the 10 bytes offered"},
		{"out of order", []transfer.Source{counted[1], counted[0]}, nil, "tree order"},
		{"walk failed", counted[:1], errors.New("cannot read b: permission denied"), "cannot read b: permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tot, err := transfer.Count(func(yield func(transfer.Source, error) bool) {
				for _, s := range counted {
					yield(s, nil)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			sink, _ := newDirSink(t, false)
			_, err = sendSeq(t, tot, func(yield func(transfer.Source, error) bool) {
				for _, s := range tt.sent {
					if !yield(s, nil) {
						return
					}
				}
				if tt.err != nil {
					yield(transfer.Source{}, tt.err)
				}
			}, sink)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("SendSeq = %v; want an error saying %q", err, tt.want)
			}
		})
	}
}

// TestCountRefuses checks that Count refuses what SendSeq cannot send,
// before anything is sent.
func TestCountRefuses(t *testing.T) {
	t.Parallel()
	dir := transfer.Source{Name: "a", Mode: fs.ModeDir | 0o755}
	tests := []struct {
		name    string
		sources []transfer.Source
		want    string
	}{
		{"nothing", nil, "no sources"},
		{"no Open", []transfer.Source{{Name: "f", Mode: 0o644}}, "has no Open"},
		{"out of order", []transfer.Source{{Name: "b", Mode: fs.ModeDir}, dir}, "tree order"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := transfer.Count(func(yield func(transfer.Source, error) bool) {
				for _, s := range tt.sources {
					yield(s, nil)
				}
			})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Count = %v; want an error saying %q", err, tt.want)
			}
		})
	}
}
