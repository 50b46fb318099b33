package destdir

import "time"

// Flush thresholds: a flush waits for this many files, bytes or bytes of
// names, or for the oldest waiting file to be this old when the next one
// ends, so small files share one sync while a big file is acked as soon as
// it is in place. Flushes run in the background, since the receiver need
// not wait for them, and a flush that ends early leaves less for the last
// one, which the sender does wait for. While one runs, up to maxWaiting
// times the files, or flushNames of names, wait for the next, then the
// receiver waits for it: what waits is held in memory, so that memory
// does not grow with a transfer's files when the disk is slower than they
// arrive. Not more: with 8, a receiver of a million empty files under
// GOMEMLIMIT=24MiB peaked at 21 MB of RSS, against 12 MB with 4.
const (
	backgroundFlushFiles = 1024
	flushBytes           = 32 << 20
	flushNames           = 1 << 20
	flushAge             = time.Second
	maxWaiting           = 4
)

// flow is what a Batch counts of its entries for Durable.
type flow struct {
	committed int // entries committed
	started   int // of those, the ones a flush has taken
	durable   int // of those, the ones a flush has made durable and put in place
	reported  int // of those, the ones Durable has reported
	failed    bool

	// The entries committed that no flush has taken yet: their bytes of
	// data and of names, and when the first of them was created.
	waitBytes int64
	waitNames int
	oldest    time.Time
	looked    bool // Durable has looked at them since the last commit
}

// commit counts an entry committed, created at began, with size bytes of
// data.
func (b *Batch) commit(began time.Time, size int64, name string) {
	if b.committed == b.started {
		b.oldest = began
	}
	b.committed++
	b.waitBytes += size
	b.waitNames += len(name)
	b.looked = false
}

// Durable returns how many more of the entries committed, in the order
// they were, are durable and in place since it last said: none reported
// before, the first n after them. Without wait it waits for nothing but,
// past the thresholds above, for a flush that holds too many behind it;
// it starts a background flush when its entries have reached a
// threshold, and completes one whose sync is over. With wait every
// entry committed is made durable and put in place. Once a flush has
// failed, what it was to put in place may be there or not, and Durable
// reports nothing more.
func (b *Batch) Durable(wait bool) (int, error) {
	if err := b.advance(wait); err != nil {
		b.failed = true
		return 0, err
	}
	if b.failed {
		return 0, nil
	}
	n := b.durable - b.reported
	b.reported = b.durable
	return n, nil
}

// advance runs the flushes Durable asks for.
func (b *Batch) advance(wait bool) error {
	if wait {
		b.started = b.committed
		b.waitBytes, b.waitNames = 0, 0
		return b.flushAll()
	}
	if b.bg != nil && b.bg.synced() {
		if err := b.endFlush(); err != nil {
			return err
		}
	}
	if b.looked {
		return nil
	}
	b.looked = true
	waiting, files := b.committed-b.started, b.dest.bgFlushFiles
	switch {
	case waiting < files && b.waitBytes < flushBytes && b.waitNames < flushNames && time.Since(b.oldest) < flushAge:
		return nil
	case b.bg != nil && waiting < maxWaiting*files && b.waitNames < flushNames:
		return nil // for the next flush, once this one is done
	}
	if b.bg != nil {
		if err := b.endFlush(); err != nil {
			return err
		}
		if b.bg != nil {
			return nil // endFlush began the next flush, with them
		}
	}
	b.startFlush(-1)
	return nil
}
