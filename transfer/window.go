package transfer

import (
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/ferrytool/ferry/internal/names"
)

// A sender takes its sources from a sequence in batches of feedBatch, or
// fewer whose names take feedNames bytes, and a goroutine of its own walks
// up to feedAhead batches ahead of what the sender has taken: the walk's
// system calls overlap the sending, and what is held of the sources stays
// a window (see window) however many there are, and however long their
// names.
const (
	feedBatch = 256
	feedNames = 64 << 10
	feedAhead = 4
)

// maxScan bounds the sources a check frame looks through for files (see
// sendCheck): a tree of many directories and few files would otherwise
// pull all of them into the window in search of files to ask about.
const maxScan = 4 * feedBatch * feedAhead

// window is the sources a sender has taken and not yet sent: those from
// the one being sent to the last a check frame asked about, about two
// check frames' worth. It checks each source taken against the totals
// offered, so that a tree changed since it was counted fails the
// transfer, not the receiver's checks.
type window struct {
	total Totals   // as offered
	srcs  []Source // taken and still needed, the first of them index base
	base  int
	given bool // srcs is the caller's slice, all the sources: never written

	batches <-chan feedItem // from the feeder; nil once it is done
	stop    chan struct{}   // closed to stop the feeder
	fed     chan struct{}   // closed once the feeder has returned
	err     error           // the sequence's error, or a source refused, after the sources taken
	taken   int             // sources taken from batches
	bytes   int64           // their files' bytes
	prev    string          // the name of the last source taken
}

// feedItem is a batch of sources, and the error that ended the sequence
// after them.
type feedItem struct {
	srcs []Source
	err  error
}

// sliceWindow is a window over sources, all of them, in tree order, which
// total counts.
func sliceWindow(sources []Source, total Totals) *window {
	return &window{total: total, srcs: sources, given: true, taken: len(sources)}
}

// seqWindow is a window over the sources seq yields, which total should
// count, and starts the goroutine that ranges over it.
func seqWindow(seq iter.Seq2[Source, error], total Totals) *window {
	batches := make(chan feedItem, feedAhead)
	w := &window{total: total, batches: batches, stop: make(chan struct{}), fed: make(chan struct{})}
	go func() {
		defer close(w.fed)
		defer close(batches)
		send := func(it feedItem) bool {
			select {
			case batches <- it:
				return true
			case <-w.stop:
				return false
			}
		}
		batch := make([]Source, 0, feedBatch)
		names := 0 // the bytes of batch's names
		for src, err := range seq {
			if err != nil {
				send(feedItem{srcs: batch, err: err})
				return
			}
			batch = append(batch, src)
			if names += len(src.Name); len(batch) == feedBatch || names >= feedNames {
				if !send(feedItem{srcs: batch}) {
					return
				}
				batch, names = make([]Source, 0, feedBatch), 0
			}
		}
		send(feedItem{srcs: batch})
	}()
	return w
}

// get returns source i, at or after the first still needed, taking what it
// must from the feeder; ok is false past the last source, or at a source
// that failed, whose error w.err then holds. It waits for the feeder
// until failed is closed, and then returns errFailed.
func (w *window) get(i int, failed <-chan struct{}) (src Source, ok bool, err error) {
	for i-w.base >= len(w.srcs) {
		if w.err != nil || w.batches == nil {
			return Source{}, false, nil
		}
		select {
		case it, more := <-w.batches:
			if !more {
				w.batches = nil
				if w.taken != w.total.Entries {
					w.err = fmt.Errorf("the sources changed since they were counted: %d entries were offered, %d found", w.total.Entries, w.taken)
				}
				continue
			}
			w.take(it)
		case <-failed:
			return Source{}, false, errFailed
		}
	}
	return w.srcs[i-w.base], true, nil
}

// errFailed is get's return when the transfer failed meanwhile: its error
// is the link's.
var errFailed = errors.New("the transfer failed")

// take adds the batch it to the window, checking each source.
func (w *window) take(it feedItem) {
	for _, src := range it.srcs {
		if err := w.check(src); err != nil {
			w.err = err
			return
		}
		w.srcs = append(w.srcs, src)
		w.prev = src.Name
		w.taken++
	}
	w.err = it.err
}

// check refuses src as the next source: one SendSeq refuses, or one the
// totals offered did not count.
func (w *window) check(src Source) error {
	if err := checkNext(w.taken, w.prev, src); err != nil {
		return err
	}
	if w.taken == w.total.Entries {
		return fmt.Errorf("the sources changed since they were counted: more than the %d entries offered", w.total.Entries)
	}
	if !src.Mode.IsDir() && w.total.Bytes >= 0 {
		if src.Size < 0 || w.bytes+src.Size > w.total.Bytes {
			return fmt.Errorf("%s changed since the sources were counted: the files now hold more than the %d bytes offered", names.Quote(src.Name), w.total.Bytes)
		}
		w.bytes += src.Size
	}
	return nil
}

// drop lets go of the sources before index i.
func (w *window) drop(i int) {
	k := min(i-w.base, len(w.srcs))
	if k <= 0 {
		return
	}
	if !w.given {
		clear(w.srcs[:k])
	}
	w.srcs, w.base = w.srcs[k:], w.base+k
}

// close stops the feeder, and waits for it for up to wait: a sequence
// blocked in a read that nothing wakes is left behind, as a stream's read
// is (see stuckReadWait).
func (w *window) close(wait <-chan time.Time) {
	if w.stop == nil {
		return
	}
	close(w.stop)
	select {
	case <-w.fed:
	case <-wait:
	}
}
