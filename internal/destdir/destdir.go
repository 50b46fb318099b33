// Package destdir writes the entries of transfers into a directory,
// durably: a file appears under its final name only once it is whole,
// verified by the caller, and synced, and the caller learns which entries
// are durable and in place (Batch.Durable) before it tells anyone so.
// Names are taken in tree order and resolved without following links, so
// nothing a sender names reaches outside the directory or through a link
// inside it. docs/receiver-disk.md describes what it does on disk.
package destdir

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ferrytool/ferry/internal/units"
)

// MaxFiles is the most entries (files and directories) a Dir takes in one
// transfer. A receiver's memory does not grow with them (it flushes and
// forgets what is in place), so this is a sanity bound, well above the
// 1,001,001 entries of a million files in a thousand directories.
const MaxFiles = 10_000_000

// MaxNameBytes is the most bytes the names of one transfer's entries may
// take together: a million names of the longest allowed would otherwise
// hold 4 GiB. 256 bytes a name (a path, from the top) for a million
// entries.
const MaxNameBytes = 256 << 20

// UnknownSize is the size of a file, or of a whole transfer, not known
// before it has arrived: a stream's.
const UnknownSize = -1

// Entry is one entry of a transfer: a file or a directory.
type Entry struct {
	// Name is the entry's path below the directory, its elements
	// separated by slashes; see names.Check for the names taken.
	Name string
	// Dir says the entry is a directory; else it is a regular file.
	Dir bool
	// Size is a file's size as announced, or UnknownSize. The caller
	// holds the data written to it.
	Size int64
	// Mode is the permission bits as the sender sent them; the entry gets
	// them less those the receiver's umask clears, unless KeepPerms.
	Mode fs.FileMode
	// ModTime is the time the entry gets; the zero time leaves it the time
	// it was last written, as a stream, which has none, is left.
	ModTime time.Time
}

// Destination receives the data of one entry.
type Destination interface {
	io.Writer
	// Commit ends the entry's data, which the caller has verified; the
	// entry is durable and in place once Durable has counted it.
	Commit() error
	// Discard removes whatever was written, unless it is in place. Safe
	// to call more than once.
	Discard()
}

// Options say how a Dir receives.
type Options struct {
	// Overwrite replaces existing files, and gives existing directories
	// the sender's times and (narrowed) modes; without it an existing
	// file is refused and an existing directory merged into as it is.
	Overwrite bool
	// KeepPerms gives entries the sender's permission bits as they are
	// (recv --keep-perms). By default they lose the bits the receiver's
	// umask clears, as with scp, and with tar for a user other than
	// root, but also when the receiver runs as root: a sender is not
	// trusted to open up the receiver's files.
	KeepPerms bool
	// Create makes the directory and its missing parents, as mkdir -p
	// does, and durably. Close removes those it made while they are
	// still empty unless a transfer into the directory succeeded, so a
	// run that fails leaves nothing behind; a file that arrived keeps
	// them.
	Create bool
	// Resume keeps the data of a file whose transfer failed (or was killed), so that the same
	// file sent again continues where it stopped; see Batch.Check and Batch.CreateAt.
	Resume bool
}

// Dir is a directory that receives transfers, each through a Batch of its
// own; several may run at once.
type Dir struct {
	root     *os.Root
	dir      string
	opts     Options
	foldCase bool        // the file system treats names that differ in case as one
	umask    fs.FileMode // the permission bits the receiver's umask clears

	made      []string    // the directories Open made, deepest first
	succeeded atomic.Bool // a transfer into the directory finished

	maxNameBytes int // MaxNameBytes, or less in tests
	// bgFlushFiles is the files that start a background flush,
	// backgroundFlushFiles, or fewer in tests.
	bgFlushFiles int
}

// Open opens dir for receiving and checks that files can be created in
// it, making it first with opts.Create.
func Open(dir string, opts Options) (*Dir, error) {
	var made []string
	if opts.Create {
		var err error
		if made, err = makeDir(dir); err != nil {
			return nil, err
		}
	}
	d, err := open(dir, opts)
	if err != nil {
		removeEmpty(made)
		return nil, err
	}
	d.made = made
	return d, nil
}

func open(dir string, opts Options) (*Dir, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot receive into %s: %w", dir, unwrapPath(err))
	}
	probeName := tempName("probe")
	probe, err := root.OpenFile(probeName, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		_ = root.Close()
		return nil, fmt.Errorf("cannot receive into %s: %w", dir, unwrapPath(err))
	}
	_ = probe.Close()
	_, err = root.Lstat(strings.ToUpper(probeName))
	_ = root.Remove(probeName)
	foldCase := err == nil
	return &Dir{root: root, dir: dir, opts: opts, foldCase: foldCase, umask: processUmask(),
		maxNameBytes: MaxNameBytes, bgFlushFiles: backgroundFlushFiles}, nil
}

// Created returns the directories Open made (see Options.Create), deepest,
// the directory itself, first; none if it was there.
func (d *Dir) Created() []string {
	return d.made
}

// SetKeepPerms sets Options.KeepPerms. Call it before Begin.
func (d *Dir) SetKeepPerms(keep bool) {
	d.opts.KeepPerms = keep
}

// perm is the permission bits an entry the sender sent with mode gets.
func (d *Dir) perm(mode fs.FileMode) fs.FileMode {
	p := mode & fs.ModePerm
	if !d.opts.KeepPerms {
		p &^= d.umask
	}
	return p
}

// processUmask returns the permission bits the process's umask clears, as
// Linux shows it in /proc/self/status, which reads it without setting it:
// setting it to learn it leaves a moment in which other goroutines create
// files under another umask. Elsewhere it is learnt so (see systemUmask).
func processUmask() fs.FileMode {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return systemUmask()
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return fs.FileMode(m) & fs.ModePerm
			}
		}
	}
	return systemUmask()
}

// StreamFile is the entry for a stream received into the file name, as
// recv --raw does: it has no sender's mode or time, so the file gets the
// mode a shell's > would give it (0666 less the umask) and the time its
// data was last written.
func (d *Dir) StreamFile(name string) Entry {
	return Entry{Name: name, Size: UnknownSize, Mode: 0o666 &^ d.umask}
}

// Close releases the directory, and with Options.Create removes the
// directories Open made while they are still empty, unless a transfer
// into the directory finished.
func (d *Dir) Close() error {
	err := d.root.Close()
	if !d.succeeded.Load() {
		removeEmpty(d.made)
	}
	return err
}

// Begin refuses a transfer that cannot fit: more entries than MaxFiles, or
// more bytes (UnknownSize if not known) or entries than the file system
// has room for; else it returns the Batch that receives the transfer.
func (d *Dir) Begin(entries, bytes int64) (*Batch, error) {
	if entries > MaxFiles {
		return nil, refusef(TooMany, "too many files: %d offered, the receiver takes at most %d in one transfer", entries, MaxFiles)
	}
	if free, ok := freeSpace(d.dir); ok {
		if bytes != UnknownSize && uint64(bytes) > free.bytes {
			return nil, refusef(NoSpace, "not enough space in %s: the transfer needs %s, %s is free", d.dir, units.Bytes(min(bytes, 1<<62)), units.Bytes(int64(free.bytes)))
		}
		if free.files >= 0 && entries > free.files {
			return nil, refusef(NoSpace, "not enough room for %d files and directories in %s: its file system has %d inodes free", entries, d.dir, free.files)
		}
	}
	return d.begin()
}

// SyncFile makes what was written to f durable, where f can be synced: a
// pipe, a terminal or /dev/null cannot, and need not be.
func SyncFile(f interface{ Sync() error }) error {
	return ignoreUnsyncable(f.Sync())
}
