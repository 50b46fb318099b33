package transfer

import (
	"iter"
	"strings"
	"testing"
	"unsafe"

	"github.com/ferrytool/ferry/framing"
)

// TestPendingNames sends entries with short names and with long ones in
// two directories: a short name, or one without a directory, is held
// whole; a long one as its base and its directory, one string for the
// entries of one directory that holds nothing of the name it came from;
// and the ack's result has the whole name again.
func TestPendingNames(t *testing.T) {
	deep := strings.Repeat("d", sharedPathAt) + "/"
	other := strings.Repeat("e", sharedPathAt) + "/"
	tests := []struct {
		name       string
		parent     string // want
		sameAsLast bool   // parent is the string of the entry before
	}{
		{name: "a/b"},
		{name: strings.Repeat("x", sharedPathAt+1)},
		{name: deep + "f1", parent: deep},
		{name: deep + "f2", parent: deep, sameAsLast: true},
		{name: other + "f3", parent: other},
		{name: other + "sub/f4", parent: other + "sub/"},
	}
	s := &sender{}
	var last string
	for i, tt := range tests {
		name := strings.Clone(tt.name)
		parent, base := s.pendingNames(name)
		if parent != tt.parent || parent+base != tt.name {
			t.Fatalf("%d: pendingNames = %q + %q, want %q + the rest of %q", i, parent, base, tt.parent, tt.name)
		}
		if parent != "" {
			if sharesMemory(parent, name) || sharesMemory(base, name) {
				t.Errorf("%d: the parts hold the memory of the name they came from", i)
			}
			if same := unsafe.StringData(parent) == unsafe.StringData(last); same != tt.sameAsLast {
				t.Errorf("%d: parent is the last entry's string: %v, want %v", i, same, tt.sameAsLast)
			}
			last = parent
		}
		s.await(uint32(i), name, pendingEntry{result: FileResult{Bytes: 1}})
		if e, _ := s.pending.get(uint32(i)); e.parent != tt.parent || e.result.Name != base {
			t.Errorf("%d: the pending entry holds %q + %q, want %q + %q", i, e.parent, e.result.Name, tt.parent, base)
		}
		if err := s.acked(framing.Ack{Index: uint32(i), Size: 1}); err != nil {
			t.Fatal(err)
		}
		if got := s.done[len(s.done)-1].Name; got != tt.name {
			t.Errorf("%d: the acked result names %q, want %q", i, got, tt.name)
		}
	}
}

// sharesMemory says whether part lies within whole's bytes.
func sharesMemory(part, whole string) bool {
	p, w := uintptr(unsafe.Pointer(unsafe.StringData(part))), uintptr(unsafe.Pointer(unsafe.StringData(whole)))
	return p >= w && p < w+uintptr(len(whole))
}

// TestFeedNames feeds sources with names of 1 KiB, and of 10 bytes: a
// batch ends at feedNames bytes of names, or at feedBatch sources.
func TestFeedNames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  int // of each source's name
		first int // sources in the first batch
	}{
		{"long names", 1 << 10, feedNames >> 10},
		{"short names", 10, feedBatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seq iter.Seq2[Source, error] = func(yield func(Source, error) bool) {
				for i := range 2 * feedBatch {
					if !yield(Source{Name: strings.Repeat("n", tc.size-3) + string(rune('a'+i%26)) + "/x", Size: 0}, nil) {
						return
					}
				}
			}
			w := seqWindow(seq, Totals{Entries: 2 * feedBatch})
			defer w.close(nil)
			it := <-w.batches
			if len(it.srcs) != tc.first {
				t.Errorf("the first batch has %d sources, want %d", len(it.srcs), tc.first)
			}
		})
	}
}
