package transfer

import (
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ferrytool/ferry/framing"
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
		return nil, withCode(framing.CodeUnsupported, fmt.Errorf("%s is not a regular file; the receiver writes to stdout and takes one file", Quote(f.Name)))
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

// CheckName reports whether name is acceptable as a relative path under
// the receiving directory: slash-separated, no empty, "." or ".." elements,
// no backslashes, drive letters, invalid UTF-8 or characters that Quote
// escapes, and each element at most 255 bytes.
func CheckName(name string) error {
	if why := NameProblem(name); why != "" {
		return fmt.Errorf("refusing file name %s: %s", Quote(name), why)
	}
	return nil
}

// NameProblem says what makes the entry name unacceptable to a receiver
// ("absolute path", "control or invalid character", "bidirectional
// control character"), or "" if nothing does.
func NameProblem(name string) string {
	if name == "" {
		return "empty"
	}
	if strings.HasPrefix(name, "/") {
		return "absolute path"
	}
	if len(name) >= 2 && name[1] == ':' {
		return "drive letter"
	}
	for i, r := range name {
		switch {
		case r == '\\':
			return "backslash"
		case r == utf8.RuneError && !strings.HasPrefix(name[i:], "\uFFFD"):
			return "control or invalid character"
		}
		if why := misleads(r); why != "" {
			return why
		}
	}
	for elem := range strings.SplitSeq(name, "/") {
		switch {
		case elem == "", elem == ".":
			return "empty or '.' element"
		case elem == "..":
			return "'..' element"
		case len(elem) > 255:
			return "element longer than 255 bytes"
		case strings.HasPrefix(elem, ".ferry-") && strings.HasSuffix(elem, ".part"):
			return "reserved for ferry's temporary files"
		}
	}
	return ""
}

// misleads says what r is if, printed, it would make a terminal show
// something other than the text around it as it is, and "" if not: a
// control character, which can drive the terminal; a line or paragraph
// separator (U+2028, U+2029), which breaks the line as a newline does; or
// a bidirectional control (U+061C, U+200E, U+200F, U+202A to U+202E,
// U+2066 to U+2069), which makes the text read in another order, as
// "a\u202etxt.exe" shows as "aexe.txt". Names refuse them, so that ls
// shows what arrived, and Quote escapes them.
func misleads(r rune) string {
	switch {
	case unicode.IsControl(r):
		return "control or invalid character"
	case r == '\u2028', r == '\u2029':
		return "line or paragraph separator"
	case unicode.Is(unicode.Bidi_Control, r):
		return "bidirectional control character"
	}
	return ""
}

// Quote returns name with invalid UTF-8 and the characters that misleads
// names escaped, so printing a name from the network cannot drive the
// terminal or disguise the name.
func Quote(name string) string {
	var b strings.Builder
	for i, r := range name {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(name[i:], "\uFFFD"):
			fmt.Fprintf(&b, `\x%02x`, name[i])
		case misleads(r) != "":
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
