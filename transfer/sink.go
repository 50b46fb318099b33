package transfer

import (
	"fmt"
	"io"
	"os"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/names"
)

// Sink is where a receiver puts what arrives. A Sink may serve several
// connections at once; each transfer gets a Batch of its own.
type Sink interface {
	// Begin decides, before any file, whether the offered transfer can be
	// taken at all, and returns the Batch that receives it.
	Begin(o framing.Offer) (Batch, error)
}

// Batch receives the entries of one transfer, in the order they were
// sent, which the protocol requires to be tree order: each name after the
// one before, names compared element by element, a directory before what
// is in it. Files are made durable in groups: each committed file waits
// for the next Flush, which syncs them together, so many small files do
// not each wait on the disk.
type Batch interface {
	// Create opens a destination for entry f, a file or a directory. It
	// may refuse an entry out of tree order. Nothing may appear under a
	// file's final name before a Flush has made it durable, and nothing
	// but the complete, verified file.
	Create(f framing.File) (Destination, error)
	// Flush makes every committed destination durable and puts it under
	// its final name.
	Flush() error
	// Finish ends a transfer whose every entry was flushed, giving the
	// directories not given theirs yet (a Flush may give the directories
	// the transfer has left theirs) their modes and times now that
	// nothing more of it lands in them. failed says the transfer failed
	// after that flush: its directories are left as a later transfer can
	// still fill them.
	Finish(failed bool) error
	// Close removes whatever was not flushed. Always safe to call, also
	// after Finish.
	Close()
}

// backgroundFlusher is a Batch whose flushes can sync while more entries
// arrive. StartFlush begins a flush of every destination committed so far
// and returns a channel closed when its sync is done; EndFlush then puts
// those destinations in place. One at a time; Flush and Close complete or
// undo one in progress first.
type backgroundFlusher interface {
	StartFlush() <-chan struct{}
	EndFlush() error
}

// Destination receives one entry's bytes.
type Destination interface {
	io.Writer
	// Commit ends the entry's data, which the receiver has verified; the
	// batch's next Flush makes it durable and puts it in place.
	Commit() error
	// Discard removes whatever was written, unless a Flush has put it in
	// place. Safe to call more than once.
	Discard()
}

// FormatBytes renders n bytes for people: "512 B", "1.5 MB".
func FormatBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// StreamSink writes the data of exactly one file to a writer, such as
// stdout. The bytes reach the writer as they arrive, so a checksum mismatch
// is reported after the fact.
type StreamSink struct {
	w io.Writer
}

// NewStreamSink returns a Sink that writes to w.
func NewStreamSink(w io.Writer) *StreamSink {
	return &StreamSink{w: w}
}

// Begin refuses more than one file: concatenated files could not be told
// apart on the other end.
func (s *StreamSink) Begin(o framing.Offer) (Batch, error) {
	if o.Files != 1 {
		return nil, withCode(framing.CodeUnsupported, fmt.Errorf("the receiver writes to stdout and takes one file, not %d entries: send them to a directory instead", o.Files))
	}
	return streamBatch{s.w}, nil
}

type streamBatch struct{ w io.Writer }

func (b streamBatch) Create(f framing.File) (Destination, error) {
	if f.Kind != framing.KindRegular {
		return nil, withCode(framing.CodeUnsupported, fmt.Errorf("%s is not a regular file; the receiver writes to stdout and takes one file", names.Quote(f.Name)))
	}
	return streamDest(b), nil
}

// Flush syncs the writer when it is a file; pipes and terminals cannot be
// synced and need not be.
func (b streamBatch) Flush() error {
	f, ok := b.w.(*os.File)
	if !ok {
		return nil
	}
	if err := ignoreUnsyncable(f.Sync()); err != nil {
		return fmt.Errorf("syncing stdout: %w", err)
	}
	return nil
}

func (streamBatch) Finish(bool) error { return nil }
func (streamBatch) Close()            {}

type streamDest struct{ w io.Writer }

func (d streamDest) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	if err != nil {
		err = fmt.Errorf("writing to stdout: %w", unwrapPath(err))
	}
	return n, err
}

func (streamDest) Commit() error { return nil }
func (streamDest) Discard()      {}
