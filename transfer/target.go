package transfer

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ferrytool/ferry/framing"
)

// A Target is where a Receiver puts what arrives: a directory (OpenDir) or
// a writer (ToWriter).
type Target interface {
	sink() Sink
}

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
	// still empty, so a run that fails leaves nothing behind.
	Create bool
}

// Dir is a directory that receives files, as ferry recv DIR does. Names
// are resolved inside it, so that no name, symbolic link or ".." reaches
// outside it, and a file appears under its name only complete, verified
// and durable.
type Dir struct {
	ds   *DirSink
	made []string // the directories OpenDir made, deepest first
}

// OpenDir opens dir for receiving and checks that files can be created in
// it.
func OpenDir(dir string, opts DirOptions) (*Dir, error) {
	d := &Dir{}
	if opts.Create {
		made, err := makeDir(dir)
		if err != nil {
			return nil, err
		}
		d.made = made
	}
	ds, err := NewDirSink(dir, opts.Overwrite)
	if err != nil {
		removeEmpty(d.made)
		return nil, err
	}
	ds.SetKeepPerms(opts.KeepPerms)
	d.ds = ds
	return d, nil
}

func (d *Dir) sink() Sink { return d.ds }

// Created returns the directory's path, cleaned, if OpenDir made it, and
// "" if it was there.
func (d *Dir) Created() string {
	if len(d.made) == 0 {
		return ""
	}
	return d.made[0]
}

// Close releases the directory and removes the directories OpenDir made
// that are still empty: no transfer put anything in them. A transfer that
// succeeded always leaves an entry.
func (d *Dir) Close() error {
	err := d.ds.Close()
	removeEmpty(d.made)
	return err
}

// makeDir makes dir and any missing parents, as mkdir -p does, and returns
// the directories it made, deepest first.
func makeDir(dir string) ([]string, error) {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		_, err := os.Lstat(d)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("cannot receive into %s: %w", dir, unwrapPath(err))
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	// The clean path, as walked above: "a/b/../c" would make a/b too.
	if err := os.MkdirAll(filepath.Clean(dir), 0o777); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", dir, unwrapPath(err))
	}
	// So that a file received and acked is not lost with its directory.
	if err := SyncParents(missing); err != nil {
		removeEmpty(missing)
		return nil, fmt.Errorf("cannot create %s: %w", dir, err)
	}
	return missing, nil
}

// removeEmpty removes the directories makeDir made, deepest first, stopping
// at the first that is not empty (os.Remove never removes one with entries).
func removeEmpty(dirs []string) {
	for _, d := range dirs {
		if os.Remove(d) != nil {
			return
		}
	}
}

// ToWriter returns a Target that writes the data of exactly one file to
// w, such as stdout, as ferry recv - does. The bytes reach w as they
// arrive, so a checksum mismatch is found after they were written.
func ToWriter(w io.Writer) Target { return writerTarget{NewStreamSink(w)} }

type writerTarget struct{ s *StreamSink }

func (t writerTarget) sink() Sink { return t.s }

// File is one file in a Dir that receives a stream of unknown length, as
// ferry recv --raw FILE does: written under a temporary name, and put
// under its own, synced, only by Commit. Until then nothing appears under
// the name; without DirOptions.Overwrite an existing file is refused at
// once, before anything is written.
type File struct {
	batch Batch
	dest  Destination
	done  bool
}

// CreateFile opens name in d for a stream. It gets the mode a shell's >
// would give it (0666 less the umask) and the time its data was last
// written: a stream has no sender's.
func (d *Dir) CreateFile(name string) (*File, error) {
	batch, err := d.ds.Begin(framing.Offer{Files: 1, Bytes: framing.UnknownSize})
	if err != nil {
		return nil, err
	}
	dest, err := batch.Create(d.ds.StreamFile(name))
	if err != nil {
		batch.Close()
		return nil, err
	}
	return &File{batch: batch, dest: dest}, nil
}

// Write writes to the file's temporary name.
func (f *File) Write(p []byte) (int, error) { return f.dest.Write(p) }

// Commit makes the file durable and puts it under its name.
func (f *File) Commit() error {
	if err := f.dest.Commit(); err != nil {
		return err
	}
	if err := f.batch.Flush(); err != nil {
		return err
	}
	if err := f.batch.Finish(false); err != nil {
		return err
	}
	f.done = true
	return nil
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
