package transfer

import (
	"fmt"
	"io"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/destdir"
	"github.com/ferrytool/ferry/internal/names"
)

// A Destination is where a Receiver puts what arrives: a directory
// (OpenDir) or a writer (ToWriter). A Destination may serve several
// connections at once; each transfer gets a batch of its own.
type Destination interface {
	// begin decides, before any file, whether the offered transfer can be
	// taken at all, and returns the batch that receives it.
	begin(o framing.Offer) (batch, error)
	// streams says whether a file's data reaches its destination as it
	// arrives, before it is verified, so that a failed check cannot keep
	// it out.
	streams() bool
}

// batch receives the entries of one transfer, in the order they were
// sent, which the protocol requires to be tree order: each name after the
// one before, names compared element by element, a directory before what
// is in it. Entries become durable in groups, by the batch's own policy:
// many small files do not each wait on the disk. The receiver acks an
// entry only once Durable has counted it.
type batch interface {
	// Create opens a destination for the entry e, a file or a directory.
	// It may refuse an entry out of tree order. Nothing may appear under
	// a file's final name before Durable has counted it, and nothing but
	// the complete, verified file.
	Create(e destdir.Entry) (destdir.Destination, error)
	// Check says what the destination holds of the regular file e, which
	// comes later, ahead of its Create (PROTOCOL.md 2.11).
	Check(e destdir.Entry) (framing.Held, error)
	// CreateAt is Create for a file that continues the partial data
	// Check reported, from offset: sum is the CRC-32C of those bytes.
	CreateAt(e destdir.Entry, offset int64) (d destdir.Destination, sum uint32, err error)
	// Durable returns how many more of the entries committed, in order,
	// are durable and in place since it last said (the first n not
	// reported yet). With wait it makes every committed entry so first;
	// without, it may start making them so, and waits only as far as it
	// must to bound what it holds. After a failed flush it reports none.
	Durable(wait bool) (n int, err error)
	// Finish ends a transfer whose every entry Durable has counted,
	// giving the directories not given theirs yet their modes and times
	// now that nothing more of it lands in them. failed says the transfer
	// failed after that: its directories are left as a later transfer
	// can still fill them.
	Finish(failed bool) error
	// Close removes whatever was not made durable. Always safe to call,
	// also after Finish.
	Close()
}

// ToWriter returns a Destination that writes the data of exactly one file
// to w, such as stdout, as ferry recv - does. The bytes reach w as they
// arrive, so a checksum mismatch is found after they were written. The
// file counts as durable once w's Flush method, if it has one (a
// bufio.Writer), and then its Sync method, if it has one (an *os.File
// that is not a pipe or a terminal), have returned. One sender at a time:
// under ServeOptions.KeepOpen concurrent senders' bytes would mix.
func ToWriter(w io.Writer) Destination { return writerDest{w: w} }

// writerDest is ToWriter's Destination.
type writerDest struct {
	w io.Writer
}

// begin refuses more than one file: concatenated files could not be told
// apart on the other end.
func (s writerDest) begin(o framing.Offer) (batch, error) {
	if o.Files != 1 {
		return nil, withCode(framing.CodeUnsupported, fmt.Errorf("the receiver writes a single file to a stream, not %d entries: send them to a directory instead", o.Files))
	}
	return &streamBatch{w: s.w}, nil
}

// streams is true: the bytes reach the writer as they arrive.
func (writerDest) streams() bool { return true }

// streamBatch writes its one file to w, and syncs it once committed.
type streamBatch struct {
	w       io.Writer
	pending int // entries committed and not reported durable
}

func (b *streamBatch) Create(e destdir.Entry) (destdir.Destination, error) {
	if e.Dir {
		return nil, withCode(framing.CodeUnsupported, fmt.Errorf("%s is not a regular file; the receiver writes a single file to a stream", names.Quote(e.Name)))
	}
	return streamDest{b}, nil
}

// Durable flushes and syncs the writer, where it can be, as soon as its
// file is committed: a stream has nothing to gather into one sync.
func (b *streamBatch) Durable(bool) (int, error) {
	if b.pending == 0 {
		return 0, nil
	}
	if f, ok := b.w.(interface{ Flush() error }); ok {
		if err := f.Flush(); err != nil {
			return 0, fmt.Errorf("writing the received data: %w", unwrapPath(err))
		}
	}
	if f, ok := b.w.(interface{ Sync() error }); ok {
		if err := destdir.SyncFile(f); err != nil {
			return 0, fmt.Errorf("syncing the received data: %w", unwrapPath(err))
		}
	}
	n := b.pending
	b.pending = 0
	return n, nil
}

// Check says a stream holds nothing: its file is always sent whole.
func (*streamBatch) Check(destdir.Entry) (framing.Held, error) { return framing.Held{}, nil }

// CreateAt is never called: Check offers no partial data.
func (b *streamBatch) CreateAt(destdir.Entry, int64) (destdir.Destination, uint32, error) {
	return nil, 0, protocolErrorf("a resume into a stream")
}

func (*streamBatch) Finish(bool) error { return nil }
func (*streamBatch) Close()            {}

type streamDest struct{ b *streamBatch }

func (d streamDest) Write(p []byte) (int, error) {
	n, err := d.b.w.Write(p)
	if err != nil {
		err = fmt.Errorf("writing the received data: %w", unwrapPath(err))
	}
	return n, err
}

func (d streamDest) Commit() error {
	d.b.pending++
	return nil
}

func (streamDest) Discard() {}
