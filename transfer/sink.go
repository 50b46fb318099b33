package transfer

import (
	"fmt"
	"io"
	"math"
	"os"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/destdir"
	"github.com/ferrytool/ferry/internal/names"
)

// Sink is where a receiver puts what arrives. A Sink may serve several
// connections at once; each transfer gets a Batch of its own.
type Sink interface {
	// Begin decides, before any file, whether the offered transfer can be
	// taken at all, and returns the Batch that receives it.
	Begin(o framing.Offer) (Batch, error)
	// Streams says whether a file's data reaches its destination as it
	// arrives, before it is verified, so that a failed check cannot keep
	// it out.
	Streams() bool
}

// Batch receives the entries of one transfer, in the order they were
// sent, which the protocol requires to be tree order: each name after the
// one before, names compared element by element, a directory before what
// is in it. Entries become durable in groups, by the batch's own policy:
// many small files do not each wait on the disk. The receiver acks an
// entry only once Durable has counted it.
type Batch interface {
	// Create opens a destination for the entry e, a file or a directory.
	// It may refuse an entry out of tree order. Nothing may appear under
	// a file's final name before Durable has counted it, and nothing but
	// the complete, verified file.
	Create(e destdir.Entry) (Destination, error)
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
	// Flush makes every committed entry durable and puts it in place:
	// Durable(true) for a caller that does not count the entries.
	Flush() error
}

// Destination receives one entry's bytes: Commit ends the entry's data,
// which the receiver has verified, and Discard removes whatever was
// written, unless it is in place.
type Destination = destdir.Destination

// FormatBytes renders n bytes for people: "512 B", "1.5 MB".
func FormatBytes(n int64) string {
	return destdir.FormatBytes(n)
}

// MaxFiles is the most entries (files and directories) a DirSink takes in
// one transfer; with MaxNameBytes, the most bytes their names may take
// together, it bounds the memory a receiver spends on names.
const (
	MaxFiles     = destdir.MaxFiles
	MaxNameBytes = destdir.MaxNameBytes
)

// DirSink writes files into a directory (see package destdir).
type DirSink struct {
	*destdir.Dir
}

// NewDirSink opens dir for receiving and checks that files can be created
// in it. With overwrite, existing files are replaced; without it they are
// refused.
func NewDirSink(dir string, overwrite bool) (*DirSink, error) {
	d, err := destdir.Open(dir, destdir.Options{Overwrite: overwrite})
	if err != nil {
		return nil, err
	}
	return &DirSink{d}, nil
}

// SyncParents makes durable the entries of dirs, directories the caller
// made for a DirSink as mkdir -p does, in the directories above them: a
// sink's flushes sync only the directories inside it.
func SyncParents(dirs []string) error {
	return destdir.SyncParents(dirs)
}

// Begin refuses a transfer that cannot fit: more entries than
// destdir.MaxFiles, or more bytes or files than the file system has room
// for.
func (d *DirSink) Begin(o framing.Offer) (Batch, error) {
	bytes := int64(destdir.UnknownSize)
	if o.Bytes != framing.UnknownSize {
		bytes = int64(min(o.Bytes, math.MaxInt64))
	}
	b, err := d.Dir.Begin(int64(o.Files), bytes)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Streams is false: a file appears only once verified.
func (*DirSink) Streams() bool { return false }

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
	return &streamBatch{w: s.w}, nil
}

// Streams is true: the bytes reach the writer as they arrive.
func (*StreamSink) Streams() bool { return true }

// streamBatch writes its one file to w, and syncs it once committed.
type streamBatch struct {
	w       io.Writer
	pending int // entries committed and not reported durable
}

func (b *streamBatch) Create(e destdir.Entry) (Destination, error) {
	if e.Dir {
		return nil, withCode(framing.CodeUnsupported, fmt.Errorf("%s is not a regular file; the receiver writes to stdout and takes one file", names.Quote(e.Name)))
	}
	return streamDest{b}, nil
}

// Durable syncs the writer, when it is a file, as soon as its file is
// committed: a stream has nothing to gather into one sync.
func (b *streamBatch) Durable(bool) (int, error) {
	if b.pending == 0 {
		return 0, nil
	}
	if f, ok := b.w.(*os.File); ok {
		if err := destdir.SyncFile(f); err != nil {
			return 0, fmt.Errorf("syncing stdout: %w", err)
		}
	}
	n := b.pending
	b.pending = 0
	return n, nil
}

func (b *streamBatch) Flush() error {
	_, err := b.Durable(true)
	return err
}

func (*streamBatch) Finish(bool) error { return nil }
func (*streamBatch) Close()            {}

type streamDest struct{ b *streamBatch }

func (d streamDest) Write(p []byte) (int, error) {
	n, err := d.b.w.Write(p)
	if err != nil {
		err = fmt.Errorf("writing to stdout: %w", unwrapPath(err))
	}
	return n, err
}

func (d streamDest) Commit() error {
	d.b.pending++
	return nil
}

func (streamDest) Discard() {}
