package transfer

import (
	"errors"
	"math"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/destdir"
)

// MaxFiles is the most entries (files and directories) a Dir takes in one
// transfer: with a limit on the bytes of their names, it bounds the
// memory a receiver spends on a transfer.
const MaxFiles = destdir.MaxFiles

// DirOptions configure OpenDir.
type DirOptions struct {
	// Overwrite replaces existing files (ferry recv --overwrite); without
	// it a file that exists is refused.
	Overwrite bool
	// KeepPerms gives entries the sender's permission bits as they are
	// (ferry recv --keep-perms); by default they lose the bits the
	// receiver's umask clears.
	KeepPerms bool
	// Create makes the directory and its missing parents, as mkdir -p
	// does, durably. Close removes those it made again while they are
	// still empty and no transfer into the directory succeeded, so a run
	// that fails leaves nothing behind.
	Create bool
	// NoResume drops the data of a file whose transfer failed, instead
	// of keeping it so that the same file sent again continues from
	// there (ferry recv --no-resume), and offers no such data to a
	// sender.
	NoResume bool
}

// Dir is a directory that receives files, as ferry recv DIR does. Names
// are resolved inside it, so that no name, symbolic link or ".." reaches
// outside it, and a file appears under its name only complete, verified
// and durable.
type Dir struct {
	d         *destdir.Dir
	overwrite bool
}

// OpenDir opens dir for receiving and checks that files can be created in
// it.
func OpenDir(dir string, opts DirOptions) (*Dir, error) {
	d, err := destdir.Open(dir, destdir.Options{Overwrite: opts.Overwrite, KeepPerms: opts.KeepPerms, Create: opts.Create, Resume: !opts.NoResume})
	if err != nil {
		return nil, described(err, nil, "")
	}
	return &Dir{d: d, overwrite: opts.Overwrite}, nil
}

// Created returns the directory's path, cleaned, if OpenDir made it, and
// "" if it was there.
func (d *Dir) Created() string {
	if made := d.d.Created(); len(made) > 0 {
		return made[0]
	}
	return ""
}

// Close releases the directory and, with DirOptions.Create, removes the
// directories OpenDir made while they are still empty and no transfer
// into the directory succeeded.
func (d *Dir) Close() error { return d.d.Close() }

// Partials says how many files of partial data the directory holds, kept
// from transfers that failed, and their bytes: the same files sent again
// continue from there.
func (d *Dir) Partials() (n int, bytes int64, err error) { return d.d.Partials() }

// RemovePartials removes the partial data last written before t, and
// says how much it removed.
func (d *Dir) RemovePartials(before time.Time) (n int, bytes int64, err error) {
	return d.d.RemovePartials(before)
}

// begin refuses a transfer that cannot fit: more entries than MaxFiles,
// or more bytes or files than the file system has room for.
func (d *Dir) begin(o framing.Offer) (batch, error) {
	bytes := int64(destdir.UnknownSize)
	if o.Bytes != framing.UnknownSize {
		bytes = int64(min(o.Bytes, math.MaxInt64))
	}
	b, err := d.d.Begin(int64(o.Files), bytes)
	if err != nil {
		return nil, err
	}
	return dirBatch{b, d.overwrite}, nil
}

// dirBatch is a transfer into a Dir.
type dirBatch struct {
	*destdir.Batch
	overwrite bool // a differing file replaces one of its size
}

// Check says what the directory holds of e, in the protocol's terms.
func (b dirBatch) Check(e destdir.Entry) (framing.Held, error) {
	h, err := b.Batch.Check(e)
	if err != nil {
		return framing.Held{}, err
	}
	w := framing.Held{Length: uint64(h.Length), Digest: h.Digest}
	switch h.State {
	case destdir.HeldPartial:
		w.State = framing.HeldPartial
	case destdir.HeldPresent:
		w.State = framing.HeldKept
		if b.overwrite {
			w.State = framing.HeldReplaced
		}
	case destdir.HeldRefused:
		w = framing.Held{State: framing.HeldRefused, Code: codeOf(h.Err)}
	default:
		w = framing.Held{}
	}
	return w, nil
}

// streams is false: a file appears only once verified.
func (*Dir) streams() bool { return false }

// File is one file in a Dir that receives a stream of unknown length, as
// ferry recv --raw FILE does: written under a temporary name, and put
// under its own, synced, only by Commit. Until then nothing appears under
// the name; without DirOptions.Overwrite an existing file is refused at
// once, before anything is written.
type File struct {
	batch *destdir.Batch
	dest  destdir.Destination
	err   error // what Write and Commit return once Commit ran
	done  bool  // Commit put the file in place
}

// CreateFile opens name in d for a stream. It gets the mode a shell's >
// would give it (0666 less the umask) and the time its data was last
// written: a stream has no sender's.
func (d *Dir) CreateFile(name string) (*File, error) {
	b, err := d.d.Begin(1, destdir.UnknownSize)
	if err != nil {
		return nil, described(err, nil, name)
	}
	dest, err := b.Create(d.d.StreamFile(name))
	if err != nil {
		b.Close()
		return nil, described(err, nil, name)
	}
	return &File{batch: b, dest: dest}, nil
}

// errCommitted is what a File's Write returns after Commit.
var errCommitted = errors.New("the file was committed: nothing more can be written to it")

// Write writes to the file's temporary name.
func (f *File) Write(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	return f.dest.Write(p)
}

// Commit makes the file durable and puts it under its name. It is done
// once: a second Commit returns what the first did.
func (f *File) Commit() error {
	if f.err != nil {
		if f.done {
			return nil
		}
		return f.err
	}
	f.err = f.commit()
	if f.err == nil {
		f.done = true
		f.err = errCommitted
		return nil
	}
	return f.err
}

func (f *File) commit() error {
	if err := f.dest.Commit(); err != nil {
		return err
	}
	if _, err := f.batch.Durable(true); err != nil {
		return err
	}
	return f.batch.Finish(false)
}

// Close removes what was written unless Commit put it in place. Always
// safe to call.
func (f *File) Close() error {
	if !f.done {
		f.dest.Discard()
	}
	f.batch.Close()
	return nil
}
