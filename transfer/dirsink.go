package transfer

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"maps"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/names"
)

// MaxFiles is the most entries (files and directories) a DirSink takes in
// one transfer. With MaxNameBytes it bounds the memory a receiver spends
// on names.
const MaxFiles = 1_000_000

// MaxNameBytes is the most bytes the names of one transfer's entries may
// take together: a million names of the longest allowed would otherwise
// hold 4 GiB. 256 bytes a name (a path, from the top) for MaxFiles
// entries.
const MaxNameBytes = 256 << 20

// maxOpenDirs bounds the directories a transfer holds open at once.
const maxOpenDirs = 64

// maxOpenQueued is how many committed files a transfer keeps open until
// its next flush; the rest are closed at once and reopened if they must be
// synced one by one, so a flush of thousands does not hold thousands of
// descriptors.
const maxOpenQueued = 16

// smallFile is the largest file a DirSink holds in memory until the
// receiver has verified it, then has the batch's smallWriter create and
// write at once, under a temporary name, on a goroutine of its own. Bigger
// files, and every file with --overwrite, are written under a temporary
// name as they arrive. Either way a file gets its final name only once it
// is verified and synced.
const smallFile = 64 << 10

// syncFSThreshold is how many files a flush must hold before one syncfs of
// the whole file system beats an fsync per file.
const syncFSThreshold = 4

// syncsWhole says whether n files, or directories, are synced with one
// syncfs of the whole file system rather than each on its own: where
// syncfs can be trusted to report a failure (see syncfsReportsErrors) and
// to sync at all (see syncfsSkips), and n makes it the cheaper.
func (b *dirBatch) syncsWhole(n int) bool {
	return n >= syncFSThreshold && syncfsReportsErrors && !b.syncfsSkips
}

// DirSink writes files into a directory. Names are resolved inside the
// directory with os.Root, so no name, symlink or ".." can reach outside it,
// and every directory on a file's path is checked not to be a symbolic
// link, so ferry never writes through one even inside the directory.
type DirSink struct {
	root      *os.Root
	dir       string
	overwrite bool
	foldCase  bool        // the file system treats names that differ in case as one
	umask     fs.FileMode // the permission bits the receiver's umask clears
	keepPerms bool        // entries get the sender's bits, the umask not applied

	maxNameBytes int // MaxNameBytes, or less in tests
}

// NewDirSink opens dir for receiving and checks that files can be created
// in it. With overwrite, existing files are replaced; without it they are
// refused.
func NewDirSink(dir string, overwrite bool) (*DirSink, error) {
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
	return &DirSink{root: root, dir: dir, overwrite: overwrite, foldCase: foldCase, umask: processUmask(), maxNameBytes: MaxNameBytes}, nil
}

// SyncParents makes durable the entries of dirs, directories the caller
// made for a DirSink as mkdir -p does, in the directories above them: a
// sink's flushes sync only the directories inside it.
func SyncParents(dirs []string) error {
	for _, d := range dirs {
		parent := filepath.Dir(d)
		if err := syncDirAt(parent); err != nil {
			return fmt.Errorf("syncing directory %s: %w", parent, unwrapPath(err))
		}
	}
	return nil
}

// SetKeepPerms makes d give the files and directories it creates the
// sender's permission bits as they are (recv --keep-perms). By default
// they lose the bits the receiver's umask clears, as with scp, and with
// tar for a user other than root, but also when the receiver runs as
// root: a sender is not trusted to open up the receiver's files. Call it
// before Begin.
func (d *DirSink) SetKeepPerms(keep bool) {
	d.keepPerms = keep
}

// perm is the permission bits an entry the sender sent with mode gets.
func (d *DirSink) perm(mode uint32) fs.FileMode {
	p := fs.FileMode(mode) & fs.ModePerm
	if !d.keepPerms {
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

// keepTime, as an entry's ModTime, leaves the file the time its data was
// last written: a stream has no sender's time to keep.
const keepTime = math.MinInt64

// StreamFile is the entry for a stream received into the file name, as
// recv --raw does: it has no sender's mode or time, so the file gets the
// mode a shell's > would give it (0666 less the umask) and the time its
// data was last written.
func (d *DirSink) StreamFile(name string) framing.File {
	mode := fs.FileMode(0o666) &^ d.umask
	return framing.File{Kind: framing.KindRegular, Mode: uint32(mode), ModTime: keepTime, Size: framing.UnknownSize, Name: name}
}

// Close releases the directory.
func (d *DirSink) Close() error {
	return d.root.Close()
}

// Begin refuses a transfer that cannot fit: more entries than MaxFiles, or
// more bytes or files than the file system has room for.
func (d *DirSink) Begin(o framing.Offer) (Batch, error) {
	if o.Files > MaxFiles {
		return nil, withCode(framing.CodeUnsupported, fmt.Errorf("too many files: %d offered, the receiver takes at most %d in one transfer", o.Files, MaxFiles))
	}
	if free, ok := freeSpace(d.dir); ok {
		if o.Bytes != framing.UnknownSize && o.Bytes > free.bytes {
			return nil, withCode(framing.CodeNoSpace, fmt.Errorf("not enough space in %s: the transfer needs %s, %s is free", d.dir, FormatBytes(int64(min(o.Bytes, 1<<62))), FormatBytes(int64(free.bytes))))
		}
		if free.files >= 0 && int64(o.Files) > free.files {
			return nil, withCode(framing.CodeNoSpace, fmt.Errorf("not enough room for %d files and directories in %s: its file system has %d inodes free", o.Files, d.dir, free.files))
		}
	}
	top, err := d.root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", d.dir, unwrapPath(err))
	}
	info, err := top.Stat()
	if err != nil {
		_ = top.Close()
		return nil, fmt.Errorf("cannot open %s: %w", d.dir, unwrapPath(err))
	}
	dev := fileDev(info)
	return &dirBatch{
		sink:        d,
		top:         top,
		topDev:      dev,
		syncfsSkips: syncfsSkips(top),
		path:        []dirFrame{{leftDir: leftDir{name: ".", dev: dev}}},
		fold:        [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		dirty:       make(map[string]uint64),
		handles:     make(map[string]dirFS),
	}, nil
}

// dirBatch is one transfer into a DirSink. Its entries come in tree order
// (see treeCompare), so it keeps state only for the directories on the
// way to the current entry, and for those the walk left until a flush has
// put their files in place: nothing it holds grows with the number of
// entries.
type dirBatch struct {
	sink *DirSink
	// top is the sink's directory, opened for this transfer's syncfs:
	// syncfs reports a write-back error once per open file, so transfers
	// sharing one descriptor could each miss an error the other was told.
	top         *os.File
	topDev      uint64 // the device of top's file system, the one syncfs syncs
	syncfsSkips bool   // a syncfs of top's file system may not sync its files
	prev        string // the name of the entry before, "" before the first
	prevFile    bool   // that entry is a file
	names       int    // the bytes of the transfer's names
	// path is the directories on the way to the current entry, from the
	// sink's own, ".", down, each checked to be a directory, not a link.
	path []dirFrame
	fold [2]maphash.Seed // for dirFrame.folded

	dirty map[string]uint64 // directories whose entries changed since the last flush began, and their devices
	// leaving is the directories the walk left since the last flush began,
	// to be given their modes and times once it has put their files in
	// place; deferred is those whose wait for the end of the transfer, and
	// deferredBytes what they take (see leave). unfinished is those a
	// failed flush left: Finish deals with them as a failed transfer's.
	leaving       []leftDir
	deferred      []leftDir
	deferredBytes int
	unfinished    []leftDir

	queued  []*dirDest       // committed files waiting for Flush
	open    *dirDest         // the file being written
	handles map[string]dirFS // open directories, so file operations need not walk each path
	buf     []byte           // for the data of the next small file
	writer  *smallWriter     // started at the first small file

	bg *bgFlush // the flush StartFlush began, until EndFlush
	// syncFailed is the first failed syncfs of the transfer's descriptor.
	// The kernel reports a failed write-back once per descriptor, so a
	// later syncfs may succeed with data lost: no file is put in place
	// after one failed.
	syncFailed error
}

// leftDir is a directory the walk has left, or will, with the mode and
// time the sender sent for it.
type leftDir struct {
	name    string // its path; "." for the sink's directory
	dev     uint64 // the device of its file system (see fileDev)
	made    bool   // this transfer created it
	mode    uint32
	modTime int64
}

// leftDirSize is about what a leftDir takes besides its name's bytes.
const leftDirSize = 64

// maxDeferred bounds the bytes of the directories a transfer defers (see
// leave): about 3,000 of them in 256 KiB, each with a name of 20 bytes.
const maxDeferred = 256 << 10

// dirFrame is a directory on the way to the current entry.
type dirFrame struct {
	leftDir
	sent bool // the sender sent an entry for it, whose mode and time it gets
	// folded holds, where the file system ignores case, a 128-bit keyed
	// hash of each name in the directory, lower-cased, so that a name
	// differing from one sent before only in case is refused.
	folded map[[2]uint64]struct{}
}

// bgFlush is a flush whose sync runs in the background.
type bgFlush struct {
	files    []*dirDest
	covered  map[string]uint64 // directories whose new entries the sync covers, and their devices
	left     []leftDir         // directories the walk left before the flush began
	whole    bool              // the sync is one syncfs; else EndFlush syncs each file
	done     chan struct{}     // closed when the sync is over
	syncErr  error             // the sync's outcome, once done is closed
	writeErr error             // the writer's failure, which kept the flush from starting
}

// openedDir returns dir, checked by push, opened for the operations on
// the files arriving in it.
func (b *dirBatch) openedDir(dir string) (dirFS, error) {
	if d, ok := b.handles[dir]; ok {
		return d, nil
	}
	if len(b.handles) >= maxOpenDirs {
		b.closeDirs()
	}
	d, err := openDir(b.sink.root, b.top, dir)
	if err != nil {
		return nil, fmt.Errorf("cannot open directory %s: %w", names.Quote(dir), unwrapPath(err))
	}
	b.handles[dir] = d
	return d, nil
}

// closeDirs closes the open directories, once the writer, which uses them,
// is done with the files it has.
func (b *dirBatch) closeDirs() {
	if b.writer != nil {
		_ = b.writer.wait()
	}
	for name, d := range b.handles {
		_ = d.close()
		delete(b.handles, name)
	}
}

func (b *dirBatch) Create(f framing.File) (Destination, error) {
	if err := names.Check(f.Name); err != nil {
		return nil, withCode(framing.CodeBadName, err)
	}
	if b.prev != "" {
		if err := checkOrder(b.prev, f.Name); err != nil {
			return nil, err
		}
		// In tree order what is below an entry comes right after it.
		if b.prevFile && len(f.Name) > len(b.prev) && f.Name[len(b.prev)] == '/' && strings.HasPrefix(f.Name, b.prev) {
			return nil, withCode(framing.CodeBadName, fmt.Errorf("refusing %s: %s is a file in this transfer, not a directory", names.Quote(f.Name), names.Quote(b.prev)))
		}
	}
	if b.names += len(f.Name); b.names > b.sink.maxNameBytes {
		return nil, withCode(framing.CodeUnsupported, fmt.Errorf("refusing file name %s: the names of this transfer pass %d bytes together, the most the receiver takes (send in several transfers)", names.Quote(f.Name), b.sink.maxNameBytes))
	}
	b.prev, b.prevFile = f.Name, f.Kind != framing.KindDir
	switch f.Kind {
	case framing.KindDir:
		return b.createDir(f)
	case framing.KindRegular:
		return b.createFile(f)
	}
	return nil, withCode(framing.CodeUnsupported, fmt.Errorf("refusing %s: the receiver takes only files and directories, not kind %d", names.Quote(f.Name), f.Kind))
}

// checkFold refuses name, the entry being received, if the file system
// ignores case and the directory fr already has an entry of this transfer
// whose name base differs from only in case; p is the path of which base
// is the last element, name itself or a directory above it.
func (b *dirBatch) checkFold(name, p string, fr *dirFrame, base string) error {
	if !b.sink.foldCase {
		return nil
	}
	if fr.folded == nil {
		fr.folded = make(map[[2]uint64]struct{})
	}
	lower := strings.ToLower(base)
	k := [2]uint64{maphash.String(b.fold[0], lower), maphash.String(b.fold[1], lower)}
	if _, dup := fr.folded[k]; dup {
		const why = "in other letter case, which the receiver's file system ignores"
		if p == name {
			return withCode(framing.CodeBadName, fmt.Errorf("refusing file name %s: it was already sent in this transfer, %s", names.Quote(name), why))
		}
		return withCode(framing.CodeBadName, fmt.Errorf("refusing %s: %s was already sent in this transfer, %s", names.Quote(name), names.Quote(p), why))
	}
	fr.folded[k] = struct{}{}
	return nil
}

func (b *dirBatch) createFile(f framing.File) (Destination, error) {
	dir, base := path.Split(f.Name)
	dir = path.Clean(dir)
	if err := b.enter(f.Name, dir); err != nil {
		return nil, err
	}
	fr := &b.path[len(b.path)-1]
	if err := b.checkFold(f.Name, f.Name, fr, base); err != nil {
		return nil, err
	}
	d, err := b.openedDir(dir)
	if err != nil {
		return nil, err
	}
	// In a directory this transfer made, only this transfer's names can
	// exist (another sender's are caught when the file is put in place),
	// and the transfer's names are checked above: no need to look.
	var e entry
	if !fr.made {
		e, err = d.lstat(base)
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("cannot create %s: %w", names.Quote(f.Name), unwrapPath(err))
	case e.exists && !b.sink.overwrite:
		return nil, existsError(f.Name)
	case e.isDir:
		return nil, withCode(framing.CodeExists, fmt.Errorf("%s is a directory on the receiver; a file cannot replace it", names.Quote(f.Name)))
	}
	if !b.sink.overwrite && f.Size <= smallFile {
		b.open = &dirDest{batch: b, dir: dir, dev: fr.dev, base: base, tmp: tempName(base), hdr: f, small: true, buf: b.buf[:0]}
		return b.open, nil
	}
	if b.writer != nil {
		// The small files before a big one are written while it arrives.
		b.writer.send()
	}
	tmp := tempName(base)
	file, err := d.create(tmp, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", names.Quote(f.Name), unwrapPath(err))
	}
	b.open = &dirDest{batch: b, file: file, dir: dir, dev: fr.dev, base: base, tmp: tmp, hdr: f, created: true}
	return b.open, nil
}

// createDir makes a directory entry's directory, private until the walk
// leaves it (see leave). A directory that is already there is merged
// into, as cp -r and rsync do, and keeps its mode and time unless
// --overwrite.
func (b *dirBatch) createDir(f framing.File) (Destination, error) {
	if err := b.enter(f.Name, path.Dir(f.Name)); err != nil {
		return nil, err
	}
	if err := b.push(f.Name, f.Name, &f); err != nil {
		return nil, err
	}
	return dirEntry{f.Name}, nil
}

// enter makes path the way to dir, for the entry name: it leaves the
// directories not on it, which in tree order nothing more arrives in, and
// pushes those on it the walk has not entered yet.
func (b *dirBatch) enter(name, dir string) error {
	for len(b.path) > 1 && !within(dir, b.path[len(b.path)-1].name) {
		b.leave()
	}
	for {
		top := b.path[len(b.path)-1].name
		if top == dir {
			return nil
		}
		start := 0 // where the element of dir below top begins
		if top != "." {
			start = len(top) + 1
		}
		next := dir
		if i := strings.IndexByte(dir[start:], '/'); i >= 0 {
			next = dir[:start+i]
		}
		if err := b.push(name, next, nil); err != nil {
			return err
		}
	}
}

// within says whether dir is the directory top or below it.
func within(dir, top string) bool {
	return dir == top || len(dir) > len(top) && dir[len(top)] == '/' && strings.HasPrefix(dir, top)
}

// push enters the directory p, just below the last on the path, for the
// entry name, sent as the directory entry sent if that is not nil: it
// makes sure p is a real directory, creating it if missing, and refuses a
// symbolic link: os.Root would follow a link that stays inside the root,
// and ferry writes through no link at all.
func (b *dirBatch) push(name, p string, sent *framing.File) error {
	parent := &b.path[len(b.path)-1]
	base := path.Base(p)
	if err := b.checkFold(name, p, parent, base); err != nil {
		return err
	}
	fr := dirFrame{leftDir: leftDir{name: p}}
	if sent != nil {
		fr.sent, fr.mode, fr.modTime = true, sent.Mode, sent.ModTime
	}
	// Looked at and made through its parent's descriptor, which openDir
	// opened following no link: a directory above it replaced by a link
	// since it was checked is refused there.
	pd, err := b.openedDir(parent.name)
	if err != nil {
		return err
	}
	e, err := pd.lstat(base)
	if err == nil && !e.exists {
		err = pd.mkdir(base)
		if err == nil {
			// On its parent's file system, whose device is known.
			b.dirty[parent.name] = parent.dev
			fr.dev, fr.made = parent.dev, true
			b.path = append(b.path, fr)
			return nil
		}
		if errors.Is(err, fs.ErrExist) {
			e, err = pd.lstat(base) // made meanwhile by another transfer
		}
	}
	switch {
	case err != nil:
		return fmt.Errorf("cannot create directory %s: %w", names.Quote(p), unwrapPath(err))
	case e.isLink:
		return withCode(framing.CodeBadName, fmt.Errorf("refusing %s: %s is a symbolic link on the receiver, and ferry never writes through links", names.Quote(name), names.Quote(p)))
	case !e.isDir:
		return withCode(framing.CodeExists, fmt.Errorf("refusing %s: %s is a file on the receiver, not a directory", names.Quote(name), names.Quote(p)))
	}
	fr.dev = e.dev
	b.path = append(b.path, fr)
	return nil
}

// leave pops the last directory of the path: everything in it has arrived.
// One the sender sent an entry for gets its mode and time (see setDirs)
// once its files are in place, after the flush that takes them, if it was
// made by this transfer and its mode leaves its owner read, write and
// search permission: what a failed transfer would give it. Any other, one
// with a mode that would keep a retry out, or one that was there already
// (with --overwrite), waits for the end of the transfer, which gives it
// its mode only if it succeeds; but at most maxDeferred bytes of them, so
// that memory does not grow with the number of directories: past that,
// the rest are set as they are left, as if the transfer succeeded.
func (b *dirBatch) leave() {
	fr := b.path[len(b.path)-1]
	b.path[len(b.path)-1] = dirFrame{} // its names go now
	b.path = b.path[:len(b.path)-1]
	if !fr.sent || !fr.made && !b.sink.overwrite {
		return
	}
	d := fr.leftDir
	if d.made && b.sink.perm(d.mode)&0o700 == 0o700 {
		b.leaving = append(b.leaving, d)
		return
	}
	if b.deferredBytes += leftDirSize + len(d.name); b.deferredBytes > maxDeferred {
		// In the order they were left, each after what is in it.
		b.leaving = append(b.leaving, b.deferred...)
		b.leaving = append(b.leaving, d)
		b.deferred = nil
		return
	}
	b.deferred = append(b.deferred, d)
}

// Flush syncs every queued file, with one syncfs where it is cheaper than
// many fsyncs, then moves each into place and syncs the directories whose
// entries changed, so the names survive a crash too. A flush StartFlush
// began is completed first.
func (b *dirBatch) Flush() error {
	if b.bg != nil {
		if err := b.EndFlush(); err != nil {
			return err
		}
	}
	// Small files the writer wrote before failing are flushed and kept,
	// as files committed before any other failure are; the error still
	// ends the transfer.
	werr := b.settleWriter()
	if err := b.flushQueued(); err != nil {
		return err
	}
	return werr
}

func (b *dirBatch) flushQueued() error {
	q, dirty, left := b.takeQueued()
	if b.syncFailed != nil {
		b.flushFailed(q, left)
		return b.syncFailed
	}
	whole := b.syncsWhole(len(q))
	if whole {
		if err := b.syncWhole(); err != nil {
			b.flushFailed(q, left)
			return err
		}
	}
	return b.finishFlush(q, dirty, left, whole)
}

// takeQueued takes the files committed since the last flush began, the
// directories whose entries changed meanwhile, and those the walk left.
func (b *dirBatch) takeQueued() ([]*dirDest, map[string]uint64, []leftDir) {
	q, dirty, left := b.queued, b.dirty, b.leaving
	b.queued, b.dirty, b.leaving = nil, make(map[string]uint64), nil
	return q, dirty, left
}

// flushFailed discards the files of a flush that failed before putting
// any in place, and leaves the directories it was to set to Finish.
func (b *dirBatch) flushFailed(q []*dirDest, left []leftDir) {
	discardAll(q)
	b.unfinished = append(b.unfinished, left...)
}

// finishFlush makes q durable and puts it in place, then gives the
// directories left, whose files are all in place now, their modes and
// times. synced says the sink's file system was synced after q was
// written, which made the files and the entries of the dirty directories
// on it durable; every other file is synced here.
// The files' renames make directories dirty again, and those are synced
// last, with those left, so every name, mode and time survives a crash
// before the flush returns.
func (b *dirBatch) finishFlush(q []*dirDest, dirty map[string]uint64, left []leftDir, synced bool) error {
	if synced {
		maps.DeleteFunc(dirty, func(_ string, dev uint64) bool { return dev == b.topDev })
	}
	for _, d := range q {
		if synced && d.dev == b.topDev {
			continue
		}
		if err := d.sync(); err != nil {
			b.flushFailed(q, left)
			return err
		}
	}
	// A file that cannot be put in place (its name taken meanwhile, by
	// another sender say) fails the flush, but the others are verified and
	// synced: they are put in place, and their directories synced, as
	// files committed before any other failure are.
	var placeErr error
	for _, d := range q {
		if err := d.place(dirty); err != nil {
			d.Discard()
			placeErr = cmp.Or(placeErr, err)
		}
	}
	if placeErr != nil {
		b.unfinished = append(b.unfinished, left...)
		return errors.Join(placeErr, b.syncDirs(dirty, b.syncsWhole(len(dirty))))
	}
	whole := b.syncsWhole(len(dirty) + len(left))
	if err := b.setDirs(left, whole, false); err != nil {
		return err
	}
	// Synced by setDirs through their own descriptors, or by the syncfs.
	for _, d := range left {
		delete(dirty, d.name)
	}
	return b.syncDirs(dirty, whole)
}

// StartFlush begins a flush of every file committed so far, whose sync
// runs in the background while more files arrive, and returns a channel
// closed when it is done; EndFlush then completes the flush. The sync is
// one syncfs of the whole file system where syncsWhole says so; else
// EndFlush syncs each file. One flush
// at a time: StartFlush must not be called again before EndFlush.
func (b *dirBatch) StartFlush() <-chan struct{} {
	f := &bgFlush{done: make(chan struct{})}
	b.bg = f
	// The files must be written before the sync begins. If the writer
	// failed, EndFlush reports it, and the files before the failure wait
	// for Flush.
	if err := b.settleWriter(); err != nil {
		f.writeErr = err
		close(f.done)
		return f.done
	}
	f.files, f.covered, f.left = b.takeQueued()
	if f.whole = b.syncsWhole(len(f.files)); !f.whole {
		close(f.done)
		return f.done
	}
	sync, top := syncFS, b.top
	go func() {
		defer close(f.done)
		f.syncErr = sync(top)
	}()
	return f.done
}

// EndFlush waits for the sync StartFlush began and puts its files in place.
func (b *dirBatch) EndFlush() error {
	f := b.bg
	b.bg = nil
	<-f.done
	if f.writeErr != nil {
		return f.writeErr
	}
	if f.syncErr != nil {
		b.flushFailed(f.files, f.left)
		b.syncFailed = fmt.Errorf("syncing %s: %w", b.sink.dir, f.syncErr)
		return b.syncFailed
	}
	return b.finishFlush(f.files, f.covered, f.left, f.whole)
}

// syncDirs makes the entries of dirs durable: with whole, with one syncfs,
// and each directory that syncfs does not reach, on another file system,
// on its own.
func (b *dirBatch) syncDirs(dirs map[string]uint64, whole bool) error {
	if whole {
		if err := b.syncWhole(); err != nil {
			return err
		}
	}
	for dir, dev := range dirs {
		if whole && dev == b.topDev {
			continue
		}
		if err := b.syncDir(dir); err != nil {
			return err
		}
	}
	return nil
}

// syncWhole syncs the sink's whole file system at once.
func (b *dirBatch) syncWhole() error {
	if err := syncFS(b.top); err != nil {
		b.syncFailed = fmt.Errorf("syncing %s: %w", b.sink.dir, err)
		return b.syncFailed
	}
	return nil
}

func (b *dirBatch) syncDir(dir string) error {
	d, err := b.openedDir(dir)
	if err != nil {
		return err
	}
	if err := d.sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", names.Quote(dir), unwrapPath(err))
	}
	return nil
}

// setDirs gives dirs, directories the walk left in that order, each after
// everything in it, their modes (see DirSink.perm) and the sender's times:
// only once nothing more arrives in them, since creating entries in a
// directory changes its time and a read-only mode would keep them out.
// Without --overwrite a directory that was there already was merged into
// and keeps its own, as with cp -r: a sender must not open up, or lock, a
// directory of the receiver's unless told it may replace what is there
// (leave does not pass one); with it, it takes the sender's time, as with
// rsync -a, and of its permission bits loses those the sender's mode (less
// the umask) lacks, but gains none: a sender never opens up a directory
// the receiver has. The mode is set through the directory's own
// descriptor, which then syncs it, unless whole says one syncfs follows
// that covers it: the mode may deny its owner the read and search
// permission a later open needs.
// With failed, after a failed transfer, only the directories it made are
// given theirs, and not a mode that would deny the owner anything: a later
// transfer, a retry or another sender's under recv -k, must still be able
// to fill the directory, which stays private (0700) instead. Nor are they
// synced then: no ack waits on them. On an error the directories not yet
// set are left to Finish.
func (b *dirBatch) setDirs(dirs []leftDir, whole, failed bool) error {
	for i, f := range dirs {
		if failed && !(f.made && b.sink.perm(f.mode)&0o700 == 0o700) {
			continue
		}
		if err := b.setDir(f, whole, failed); err != nil {
			b.unfinished = append(b.unfinished, dirs[i:]...)
			return err
		}
	}
	return nil
}

// setDir gives the directory f its mode and time, for setDirs.
func (b *dirBatch) setDir(f leftDir, whole, failed bool) error {
	parent, base := path.Split(f.name)
	pd, err := b.openedDir(path.Clean(parent))
	if err != nil {
		return err
	}
	if err := pd.chtimes(base, time.Unix(0, f.modTime)); err != nil {
		return fmt.Errorf("setting the time of %s: %w", names.Quote(f.name), unwrapPath(err))
	}
	d, err := b.openedDir(f.name)
	if err != nil {
		return err
	}
	if f.made {
		err = d.chmod(b.sink.perm(f.mode))
	} else {
		err = d.narrow(b.sink.perm(f.mode))
	}
	if err != nil {
		return fmt.Errorf("setting the mode of %s: %w", names.Quote(f.name), unwrapPath(err))
	}
	if failed || whole && f.dev == b.topDev {
		return nil
	}
	if err := d.sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", names.Quote(f.name), unwrapPath(err))
	}
	return nil
}

// Finish leaves the directories still on the path and gives those the
// transfer left their modes and times (see setDirs), the ones leave
// deferred included, and syncs them, unless failed.
func (b *dirBatch) Finish(failed bool) error {
	if b.writer != nil {
		// Every file was flushed, so the writer is idle; a directory's mode
		// must not change under a file it is still writing, though. After
		// a failure, the writer's own is no reason to leave them private.
		if err := b.writer.wait(); err != nil && !failed {
			return err
		}
	}
	for len(b.path) > 1 {
		b.leave()
	}
	// In the order they were left: those left before the last flush that
	// did not set them, then those since, then those deferred, all of
	// which have the owner's permissions but the deferred.
	todo := slices.Concat(b.unfinished, b.leaving)
	if !failed {
		todo = append(todo, b.deferred...)
	}
	b.unfinished, b.leaving, b.deferred = nil, nil, nil
	if failed {
		return b.setDirs(todo, false, true)
	}
	whole := b.syncsWhole(len(todo))
	if err := b.setDirs(todo, whole, false); err != nil {
		return err
	}
	if whole && slices.ContainsFunc(todo, func(d leftDir) bool { return d.dev == b.topDev }) {
		return b.syncWhole()
	}
	return nil
}

func (b *dirBatch) Close() {
	if b.open != nil {
		b.open.Discard()
	}
	if b.writer != nil {
		b.writer.close()
		b.writer = nil
	}
	if f := b.bg; f != nil {
		b.bg = nil
		<-f.done
		discardAll(f.files)
	}
	discardAll(b.queued)
	b.queued = nil
	b.closeDirs()
	_ = b.top.Close()
}

func discardAll(q []*dirDest) {
	for _, d := range q {
		d.Discard()
	}
}

func existsError(name string) error {
	return withCode(framing.CodeExists, fmt.Errorf("%s already exists on the receiver (ferry recv --overwrite replaces it)", names.Quote(name)))
}

// tempName is the hidden name a file has while it arrives.
func tempName(base string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return ".ferry-" + hex.EncodeToString(b[:]) + "-" + framing.TruncateUTF8(base, 64) + ".part"
}

// dirDest is a file arriving under a temporary name, or a small file
// gathered in memory until the smallWriter creates it under one.
type dirDest struct {
	batch   *dirBatch
	file    destFile // nil for a small file before Commit, and once closed
	dir     string   // the directory it lands in
	dev     uint64   // the device of that directory's file system
	base    string   // its name there
	tmp     string   // its name there until placed
	hdr     framing.File
	small   bool   // a small file, gathered in memory for the smallWriter
	buf     []byte // a small file's data until written
	created bool   // there is a file to remove on Discard
	written bool   // a small file is written whole
	synced  bool   // synced before it was closed, as a mode that keeps it from being reopened needs
	done    bool   // placed or discarded

	// For the smallWriter: the directory to create a small file in, opened
	// at Commit, since the batch's map of open directories is not its.
	dirH dirFS
}

func (d *dirDest) Write(p []byte) (int, error) {
	if d.small {
		// The receiver holds a file to its announced size, at most
		// smallFile bytes here.
		d.buf = append(d.buf, p...)
		return len(p), nil
	}
	// A small file that failed ends the transfer now, not after this one.
	if w := d.batch.writer; w != nil {
		if err := w.firstErr(); err != nil {
			return 0, err
		}
	}
	n, err := d.file.Write(p)
	if err != nil {
		err = fmt.Errorf("writing %s: %w", names.Quote(d.hdr.Name), unwrapPath(err))
	}
	return n, err
}

// Commit gives the file its mode (see DirSink.perm) and the sender's
// mtime, before the sync that makes them durable with the data, and queues
// it for the batch's Flush.
func (d *dirDest) Commit() error {
	name := d.hdr.Name
	perm := d.batch.sink.perm(d.hdr.Mode)
	dir, err := d.batch.openedDir(d.dir)
	if err != nil {
		return err
	}
	b := d.batch
	if d.small {
		if b.writer == nil {
			b.writer = newSmallWriter()
		}
		if err := b.writer.firstErr(); err != nil {
			return err
		}
		d.dirH = dir
		b.open = nil
		b.queued = append(b.queued, d)
		b.buf = b.writer.write(d)
		return nil
	}
	if err := d.file.Chmod(perm); err != nil {
		return fmt.Errorf("setting the mode of %s: %w", names.Quote(name), unwrapPath(err))
	}
	if d.hdr.ModTime != keepTime {
		if err := dir.chtimes(d.tmp, time.Unix(0, d.hdr.ModTime)); err != nil {
			return fmt.Errorf("setting the time of %s: %w", names.Quote(name), unwrapPath(err))
		}
	}
	b.open = nil
	if len(b.queued) >= maxOpenQueued {
		if err := d.syncBeforeClose(d.file); err != nil {
			return err
		}
		err := d.file.Close()
		d.file = nil
		if err != nil {
			return fmt.Errorf("closing %s: %w", names.Quote(name), unwrapPath(err))
		}
	}
	b.queued = append(b.queued, d)
	return nil
}

// syncBeforeClose syncs f, the file open before it is closed, if its mode
// keeps dirFS.open from opening it again: a flush that syncs file by file
// reopens a closed file.
func (d *dirDest) syncBeforeClose(f destFile) error {
	if canReopen(d.batch.sink.perm(d.hdr.Mode)) {
		return nil
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", names.Quote(d.hdr.Name), unwrapPath(err))
	}
	d.synced = true
	return nil
}

// sync makes the file's data durable, reopening it if Commit closed it.
func (d *dirDest) sync() error {
	if d.synced {
		return nil
	}
	f := d.file
	if f == nil {
		dir, err := d.batch.openedDir(d.dir)
		if err != nil {
			return err
		}
		if f, err = dir.open(d.tmp); err != nil {
			return fmt.Errorf("syncing %s: %w", names.Quote(d.hdr.Name), unwrapPath(err))
		}
		defer f.Close()
	}
	if err := syncFile(f); err != nil {
		return fmt.Errorf("syncing %s: %w", names.Quote(d.hdr.Name), unwrapPath(err))
	}
	return nil
}

// syncFile syncs a file a flush syncs on its own; tests count the calls.
var syncFile = destFile.Sync

// place closes the synced file and moves it to its final name, adding its
// directory to dirty if that changed the directory. Without --overwrite the
// move must not replace a file that appeared meanwhile (see placeNew).
func (d *dirDest) place(dirty map[string]uint64) error {
	name := d.hdr.Name
	if d.file != nil {
		err := d.file.Close()
		d.file = nil
		if err != nil {
			return fmt.Errorf("closing %s: %w", names.Quote(name), unwrapPath(err))
		}
	}
	dir, err := d.batch.openedDir(d.dir)
	if err != nil {
		return err
	}
	switch {
	case d.batch.sink.overwrite:
		if err := dir.rename(d.tmp, d.base); err != nil {
			return fmt.Errorf("renaming into %s: %w", names.Quote(name), unwrapPath(err))
		}
		dirty[d.dir] = d.dev
	default:
		if err := d.placeNew(dir); err != nil {
			return err
		}
		dirty[d.dir] = d.dev
	}
	d.done = true
	return nil
}

func (d *dirDest) Discard() {
	if d.done {
		return
	}
	d.done = true
	if d.file != nil {
		_ = d.file.Close()
	}
	if !d.created {
		return
	}
	if dir, err := d.batch.openedDir(d.dir); err == nil {
		_ = dir.remove(d.tmp)
	}
}

// placeNew moves the file to a name that must not exist: in one step where
// the system can, else by a hard link, which fails if the name exists, and
// removing the temporary name.
func (d *dirDest) placeNew(dir dirFS) error {
	name := d.hdr.Name
	err := dir.renameNoReplace(d.tmp, d.base)
	if !errors.Is(err, errors.ErrUnsupported) {
		if errors.Is(err, fs.ErrExist) {
			return existsError(name)
		}
		if err != nil {
			return fmt.Errorf("renaming into %s: %w", names.Quote(name), unwrapPath(err))
		}
		return nil
	}
	err = dir.link(d.tmp, d.base)
	switch {
	case errors.Is(err, fs.ErrExist):
		return existsError(name)
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.ENOTSUP), errors.Is(err, syscall.EMLINK), errors.Is(err, syscall.EXDEV):
		// No hard links here (FAT, some network file systems): check
		// and rename, which leaves a small window for a race.
		if e, _ := dir.lstat(d.base); e.exists {
			return existsError(name)
		}
		if err := dir.rename(d.tmp, d.base); err != nil {
			return fmt.Errorf("renaming into %s: %w", names.Quote(name), unwrapPath(err))
		}
	case err != nil:
		return fmt.Errorf("linking into %s: %w", names.Quote(name), unwrapPath(err))
	default:
		_ = dir.remove(d.tmp)
	}
	return nil
}

// dirEntry is the destination of a directory entry, which has no data; its
// directory exists from Create on.
type dirEntry struct{ name string }

func (e dirEntry) Write([]byte) (int, error) {
	return 0, protocolErrorf("data for the directory %s", names.Quote(e.name))
}

func (dirEntry) Commit() error { return nil }
func (dirEntry) Discard()      {}
