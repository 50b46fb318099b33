package destdir

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ferrytool/ferry/internal/names"
	"github.com/ferrytool/ferry/internal/slab"
)

// maxOpenDirs bounds the directories a transfer holds open at once.
const maxOpenDirs = 64

// maxOpenQueued is how many committed files a transfer keeps open until
// its next flush; the rest are closed at once and reopened if they must be
// synced one by one, so a flush of thousands does not hold thousands of
// descriptors.
const maxOpenQueued = 16

// smallFile is the largest file a Batch holds in memory until the
// receiver has verified it, then has the batch's smallWriter create and
// write at once, under a temporary name, on a goroutine of its own. Bigger
// files, and every file with --overwrite, are written under a temporary
// name as they arrive. Either way a file gets its final name only once it
// is verified and synced.
const smallFile = 64 << 10

// Small files' buffers are cut from slabs of smallSlab bytes, of which
// smallSlabsKept, once written, are kept for the next files.
const (
	smallSlab      = 4 * smallFile
	smallSlabsKept = 2
)

// syncFSThreshold is how many files a flush must hold before one syncfs of
// the whole file system beats an fsync per file.
const syncFSThreshold = 4

// syncsWhole says whether n files, or directories, are synced with one
// syncfs of the whole file system rather than each on its own: where
// syncfs can be trusted to report a failure (see syncfsReportsErrors) and
// to sync at all (see syncfsSkips), and n makes it the cheaper.
func (b *Batch) syncsWhole(n int) bool {
	return n >= syncFSThreshold && syncfsReportsErrors && !b.syncfsSkips
}

// Batch is one transfer into a Dir. Its entries come in tree order
// (see Create), so it keeps state only for the directories on the
// way to the current entry, and for those the walk left until a flush has
// put their files in place: nothing it holds grows with the number of
// entries.
type Batch struct {
	dest *Dir
	// top is the Dir's directory, opened for this transfer's syncfs:
	// syncfs reports a write-back error once per open file, so transfers
	// sharing one descriptor could each miss an error the other was told.
	top         *os.File
	topDev      uint64 // the device of top's file system, the one syncfs syncs
	syncfsSkips bool   // a syncfs of top's file system may not sync its files
	prev        string // the name of the entry before, "" before the first
	prevFile    bool   // that entry is a file
	names       int    // the bytes of the transfer's names
	// path is the directories on the way to the current entry, from the
	// Dir's own, ".", down, each checked to be a directory, not a link.
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

	queued  []*dirDest       // committed files waiting for a flush
	open    *dirDest         // the file being written
	handles map[string]dirFS // open directories, so file operations need not walk each path
	slabs   *slab.Cutter     // small files' buffers, each of its announced size (see release)
	writer  *smallWriter     // started at the first small file
	// placeDirs is the directories open for background flushes to put
	// their files in place in: the running flush's goroutine's alone, so
	// that the batch, which closes its own when it has opened
	// maxOpenDirs, need not wait for that flush. Flushes run one at a
	// time, and each hands the map on to the next.
	placeDirs map[string]dirFS

	bg   *bgFlush // the flush startFlush began, until endFlush
	flow          // what Durable counts and decides by
	// syncFailed is the first failed syncfs of the transfer's descriptor.
	// The kernel reports a failed write-back once per descriptor, so a
	// later syncfs may succeed with data lost: no file is put in place
	// after one failed.
	syncFailed error

	resume resumeState // partial files (see Options.Resume)
	check  checkPath   // where Check looks
}

// leftDir is a directory the walk has left, or will, with the mode and
// time the sender sent for it.
type leftDir struct {
	name    string // its path; "." for the Dir's directory
	dev     uint64 // the device of its file system (see fileDev)
	made    bool   // this transfer created it
	mode    fs.FileMode
	modTime time.Time
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
	upTo int // the entries committed when it began, which it makes durable
	// named is, when the flush before it put files in place, the entries
	// committed when that one began: its sync makes their names durable
	// too. Else -1.
	named    int
	files    []*dirDest
	covered  map[string]uint64 // directories whose new entries the sync covers, and their devices
	left     []leftDir         // directories the walk left before the flush began
	whole    bool              // the sync is one syncfs; else endFlush syncs each file
	done     chan struct{}     // closed when the sync is over, and the placing (see places)
	syncErr  error             // the sync's outcome, once done is closed
	writeErr error             // the writer's failure, which kept the flush from starting
	// places says the flush's own goroutine puts its files in place once
	// its syncfs succeeded, in placeDirs, rather than endFlush: the
	// renames of one flush then overlap the receiving and writing of the
	// next files. misplaced and placeErr are placeAll's outcome, for
	// endFlush to settle.
	places    bool
	misplaced []*dirDest
	placeErr  error
}

// openedDir returns dir, checked by push, opened for the operations on
// the files arriving in it. Before it opens one more than maxOpenDirs,
// it closes those it holds, once the writer is done with them.
func (b *Batch) openedDir(dir string) (dirFS, error) {
	if _, ok := b.handles[dir]; !ok && len(b.handles) >= maxOpenDirs {
		b.closeDirs()
	}
	return openIn(b.handles, b.dest.root, b.top, dir)
}

// closeDirs closes the open directories, once the writer, which creates
// small files in them, is done with them.
func (b *Batch) closeDirs() {
	if b.writer != nil {
		_ = b.writer.wait()
	}
	closeAll(b.handles)
}

// closeAll closes the directories of dirs and empties it.
func closeAll(dirs map[string]dirFS) {
	for name, d := range dirs {
		_ = d.close()
		delete(dirs, name)
	}
}

// openIn returns dir, opened in dirs, which holds at most maxOpenDirs:
// when it holds that many, they are closed before the next one opens.
// root and top are the Dir's directory (see openDir).
func openIn(dirs map[string]dirFS, root *os.Root, top *os.File, dir string) (dirFS, error) {
	if d, ok := dirs[dir]; ok {
		return d, nil
	}
	if len(dirs) >= maxOpenDirs {
		closeAll(dirs)
	}
	d, err := openDir(root, top, dir)
	if err != nil {
		return nil, fmt.Errorf("cannot open directory %s: %w", names.Quote(dir), unwrapPath(err))
	}
	dirs[dir] = d
	return d, nil
}

// begin opens the directory for a transfer (see Batch.top).
func (d *Dir) begin() (*Batch, error) {
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
	return &Batch{
		dest:        d,
		top:         top,
		topDev:      dev,
		syncfsSkips: syncfsSkips(top),
		path:        []dirFrame{{leftDir: leftDir{name: ".", dev: dev}}},
		fold:        [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		dirty:       make(map[string]uint64),
		handles:     make(map[string]dirFS),
		placeDirs:   make(map[string]dirFS),
		slabs:       slab.New(smallSlab, smallSlabsKept),
	}, nil
}

// Create opens a destination for the entry f, a file or a directory. It
// refuses an entry out of tree order: each name after the one before,
// names compared element by element (names.Compare), a directory before
// what is in it. Nothing appears under a file's final name before Durable
// has counted it, and nothing but the complete, verified file.
func (b *Batch) Create(f Entry) (Destination, error) {
	d, _, err := b.create(f, 0)
	return d, err
}

// create is Create, and for a file that continues its partial data from
// at, CreateAt.
func (b *Batch) create(f Entry, at int64) (Destination, uint32, error) {
	if err := names.Check(f.Name); err != nil {
		return nil, 0, &Error{Kind: BadName, Err: err}
	}
	if b.prev != "" {
		if err := checkOrder(b.prev, f.Name); err != nil {
			return nil, 0, err
		}
		// In tree order what is below an entry comes right after it.
		if b.prevFile && len(f.Name) > len(b.prev) && f.Name[len(b.prev)] == '/' && strings.HasPrefix(f.Name, b.prev) {
			return nil, 0, refusef(BadName, "refusing %s: %s is a file in this transfer, not a directory", names.Quote(f.Name), names.Quote(b.prev))
		}
	}
	if b.names += len(f.Name); b.names > b.dest.maxNameBytes {
		return nil, 0, &Error{Kind: TooMany, Err: fmt.Errorf("refusing file name %s: the names of this transfer pass %d bytes together, the most the receiver takes (send in several transfers)", names.Quote(f.Name), b.dest.maxNameBytes)}
	}
	b.prev, b.prevFile = f.Name, !f.Dir
	if f.Dir {
		if at != 0 {
			return nil, 0, fmt.Errorf("cannot continue %s: a directory", names.Quote(f.Name))
		}
		d, err := b.createDir(f)
		return d, 0, err
	}
	return b.createFile(f, at)
}

// checkOrder refuses the entry name if it does not come after prev, the
// entry before it, in tree order.
func checkOrder(prev, name string) error {
	switch c := names.Compare(prev, name); {
	case c == 0:
		return refusef(BadName, "refusing file name %s: it was already sent in this transfer", names.Quote(name))
	case c > 0:
		// The message goes to the sender, which cannot rebuild this advice
		// from the error frame's code: it says what an older sender's
		// user can do.
		return &Error{Kind: BadName, Err: fmt.Errorf("refusing file name %s: it comes after %s, out of the order the protocol requires (an older ferry send does not sort the paths it is given: update it, or name them in sorted order)", names.Quote(name), names.Quote(prev))}
	}
	return nil
}

// checkFold refuses name, the entry being received, if the file system
// ignores case and the directory fr already has an entry of this transfer
// whose name base differs from only in case; p is the path of which base
// is the last element, name itself or a directory above it.
func (b *Batch) checkFold(name, p string, fr *dirFrame, base string) error {
	if !b.dest.foldCase {
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
			return refusef(BadName, "refusing file name %s: it was already sent in this transfer, %s", names.Quote(name), why)
		}
		return refusef(BadName, "refusing %s: %s was already sent in this transfer, %s", names.Quote(name), names.Quote(p), why)
	}
	fr.folded[k] = struct{}{}
	return nil
}

func (b *Batch) createFile(f Entry, at int64) (Destination, uint32, error) {
	dir, base := path.Split(f.Name)
	dir = path.Clean(dir)
	if err := b.enter(f.Name, dir); err != nil {
		return nil, 0, err
	}
	fr := &b.path[len(b.path)-1]
	if err := b.checkFold(f.Name, f.Name, fr, base); err != nil {
		return nil, 0, err
	}
	d, err := b.openedDir(dir)
	if err != nil {
		return nil, 0, err
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
		return nil, 0, fmt.Errorf("cannot create %s: %w", names.Quote(f.Name), unwrapPath(err))
	case e.isDir:
		return nil, 0, refusef(Conflict, "%s is a directory on the receiver; a file cannot replace it", names.Quote(f.Name))
	case e.exists && !b.dest.opts.Overwrite:
		return nil, 0, existsError(f.Name)
	}
	if at == 0 && !b.dest.opts.Overwrite && f.Size != UnknownSize && f.Size <= smallFile {
		b.open = &dirDest{batch: b, dir: dir, dev: fr.dev, base: base, tmp: tempName(base), entry: f, began: time.Now(), small: true}
		b.open.buf, b.open.slabBefore = b.slabs.Cut(int(f.Size))
		return b.open, 0, nil
	}
	if b.writer != nil {
		// The small files before a big one are written while it arrives.
		b.writer.send()
	}
	if b.resumable(f) {
		pf, sum, err := b.createPartial(f, dir, fr, base, at)
		if pf != nil {
			b.open = pf
			return pf, sum, nil
		}
		if err != nil {
			return nil, 0, err
		}
	}
	if at != 0 {
		return nil, 0, fmt.Errorf("cannot continue %s at byte %d: it has no partial data", names.Quote(f.Name), at)
	}
	tmp := tempName(base)
	file, err := d.create(tmp, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot create %s: %w", names.Quote(f.Name), unwrapPath(err))
	}
	b.open = &dirDest{batch: b, file: file, dir: dir, dev: fr.dev, base: base, tmp: tmp, entry: f, began: time.Now(), created: true}
	return b.open, 0, nil
}

// createDir makes a directory entry's directory, private until the walk
// leaves it (see leave). A directory that is already there is merged
// into, as cp -r and rsync do, and keeps its mode and time unless
// --overwrite.
func (b *Batch) createDir(f Entry) (Destination, error) {
	if err := b.enter(f.Name, path.Dir(f.Name)); err != nil {
		return nil, err
	}
	if err := b.push(f.Name, f.Name, &f); err != nil {
		return nil, err
	}
	return &dirEntry{batch: b, name: f.Name, began: time.Now()}, nil
}

// enter makes path the way to dir, for the entry name: it leaves the
// directories not on it, which in tree order nothing more arrives in, and
// pushes those on it the walk has not entered yet.
func (b *Batch) enter(name, dir string) error {
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
func (b *Batch) push(name, p string, sent *Entry) error {
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
		return refusef(BadName, "refusing %s: %s is a symbolic link on the receiver, and ferry never writes through links", names.Quote(name), names.Quote(p))
	case !e.isDir:
		return refusef(Conflict, "refusing %s: %s is a file on the receiver, not a directory", names.Quote(name), names.Quote(p))
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
func (b *Batch) leave() {
	fr := b.path[len(b.path)-1]
	b.path[len(b.path)-1] = dirFrame{} // its names go now
	b.path = b.path[:len(b.path)-1]
	if !fr.sent || !fr.made && !b.dest.opts.Overwrite {
		return
	}
	d := fr.leftDir
	if d.made && b.dest.perm(d.mode)&0o700 == 0o700 {
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

// flushAll syncs every queued file, with one syncfs where it is cheaper
// than many fsyncs, then moves each into place and syncs the directories
// whose entries changed, so the names survive a crash too. A flush
// startFlush began is completed first.
func (b *Batch) flushAll() error {
	for b.bg != nil {
		if err := b.endFlush(); err != nil {
			return err
		}
	}
	// Small files the writer wrote before failing are flushed and kept,
	// as files committed before any other failure are; the error still
	// ends the transfer.
	werr := b.settleWriter()
	upTo := b.committed
	if err := b.flushQueued(); err != nil {
		return err
	}
	if werr != nil {
		return werr
	}
	b.durable = upTo
	return nil
}

func (b *Batch) flushQueued() error {
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
	return b.finishFlush(q, dirty, left, whole, false)
}

// takeQueued takes the files committed since the last flush began, the
// directories whose entries changed meanwhile, and those the walk left.
func (b *Batch) takeQueued() ([]*dirDest, map[string]uint64, []leftDir) {
	q, dirty, left := b.queued, b.dirty, b.leaving
	b.queued, b.dirty, b.leaving = nil, make(map[string]uint64), nil
	return q, dirty, left
}

// flushFailed discards the files of a flush that failed before putting
// any in place, and leaves the directories it was to set to Finish.
func (b *Batch) flushFailed(q []*dirDest, left []leftDir) {
	discardAll(q)
	b.unfinished = append(b.unfinished, left...)
}

// finishFlush makes q durable and puts it in place, then gives the
// directories left, whose files are all in place now, their modes and
// times. synced says the Dir's file system was synced after q was
// written, which made the files and the entries of the dirty directories
// on it durable; every other file is synced here.
// The files' renames make directories dirty again, and those are synced
// last, with those left, so every name, mode and time survives a crash
// before the flush returns; but with fold, those on the Dir's own file
// system are left for the next flush's syncfs, which the caller starts at
// once: one syncfs then makes one flush's names and the next one's data
// durable, and the receiver does not wait for it.
func (b *Batch) finishFlush(q []*dirDest, dirty map[string]uint64, left []leftDir, synced, fold bool) error {
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
	misplaced, err := placeSplit(q, dirty, func(d *dirDest) (dirFS, error) { return b.openedDir(d.dir) }, b.dest.root, b.top)
	return b.settleFlush(misplaced, err, dirty, left, fold)
}

// placeAll puts each file of q in place in the directory dirOf opens for
// it, adding the directories that changed to dirty, and returns the
// files it could not put in place and the first such failure.
func placeAll(q []*dirDest, dirty map[string]uint64, dirOf func(*dirDest) (dirFS, error)) ([]*dirDest, error) {
	var misplaced []*dirDest
	var placeErr error
	for _, d := range q {
		dir, err := dirOf(d)
		if err == nil {
			err = d.place(dir, dirty)
		}
		if err != nil {
			misplaced = append(misplaced, d)
			placeErr = cmp.Or(placeErr, err)
		}
	}
	return misplaced, placeErr
}

// placeSplitMin is the fewest files a flush puts in place on two
// goroutines (see placeSplit).
const placeSplitMin = 256

// placeSplit is placeAll, on two goroutines for a flush of at least
// placeSplitMin files in more than one directory. Renames in one
// directory wait for each other, but those in two need not, and at the
// end of a transfer, when the sender waits for the last flushes, a core
// would otherwise be idle: a thousand renames took 11 ms. q is cut in two
// at a change of directory near its middle; the second part is put in
// place in directories opened for it, in the directory root, whose
// descriptor is top (see openDir).
func placeSplit(q []*dirDest, dirty map[string]uint64, dirOf func(*dirDest) (dirFS, error), root *os.Root, top *os.File) ([]*dirDest, error) {
	if len(q) < placeSplitMin {
		return placeAll(q, dirty, dirOf)
	}
	cut := len(q) / 2
	for cut < len(q) && q[cut].dir == q[cut-1].dir {
		cut++
	}
	if cut == len(q) {
		return placeAll(q, dirty, dirOf)
	}
	var misplaced []*dirDest
	var err error
	later := make(map[string]uint64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		dirs := make(map[string]dirFS)
		defer closeAll(dirs)
		misplaced, err = placeAll(q[cut:], later, func(d *dirDest) (dirFS, error) { return openIn(dirs, root, top, d.dir) })
	}()
	first, firstErr := placeAll(q[:cut], dirty, dirOf)
	<-done
	maps.Copy(dirty, later)
	return append(first, misplaced...), cmp.Or(firstErr, err)
}

// settleFlush ends a flush once placeAll has put its files in place: it
// discards the misplaced ones, then gives the directories left their
// modes and times and syncs those whose entries changed (see
// finishFlush).
func (b *Batch) settleFlush(misplaced []*dirDest, placeErr error, dirty map[string]uint64, left []leftDir, fold bool) error {
	discardAll(misplaced)
	if placeErr != nil {
		b.unfinished = append(b.unfinished, left...)
		return errors.Join(placeErr, b.syncDirs(dirty, b.syncsWhole(len(dirty))))
	}
	whole := fold || b.syncsWhole(len(dirty)+len(left))
	if err := b.setDirs(left, whole, false); err != nil {
		return err
	}
	// Synced by setDirs through their own descriptors, or by the syncfs.
	for _, d := range left {
		delete(dirty, d.name)
	}
	if fold {
		maps.DeleteFunc(dirty, func(_ string, dev uint64) bool { return dev == b.topDev })
		return b.syncDirs(dirty, false)
	}
	return b.syncDirs(dirty, whole)
}

// startFlush begins a flush of every entry committed so far, whose sync
// runs in the background while more arrive; endFlush then completes it.
// The sync is one syncfs of the whole file system where syncsWhole says
// so; else endFlush syncs each file. One flush at a time: startFlush must
// not be called again before endFlush.
func (b *Batch) startFlush(named int) {
	b.started = b.committed
	b.waitBytes, b.waitNames = 0, 0
	f := &bgFlush{upTo: b.committed, named: named, done: make(chan struct{})}
	b.bg = f
	f.files, f.covered, f.left = b.takeQueued()
	f.whole = named >= 0 || b.syncsWhole(len(f.files))
	f.places = f.whole && b.handOver(f.files)
	// The files must be written before the sync begins, and before
	// endFlush syncs them one by one: a mark in the writer's queue says
	// when, so the receiver goes on giving the writer files meanwhile. If
	// the writer failed, endFlush reports it, and the files before the
	// failure wait for flushAll.
	var written <-chan error
	if b.writer != nil {
		written = b.writer.mark()
	} else if !f.whole {
		close(f.done)
		return
	}
	sync, root, top, topDev, dirs := syncFS, b.dest.root, b.top, b.topDev, b.placeDirs
	go func() {
		defer close(f.done)
		if written != nil {
			if f.writeErr = <-written; f.writeErr != nil {
				return
			}
		}
		if f.whole {
			f.syncErr = sync(top)
		}
		if f.places && f.syncErr == nil {
			// As finishFlush does after a syncfs: the renames make the
			// directories on its file system dirty again.
			maps.DeleteFunc(f.covered, func(_ string, dev uint64) bool { return dev == topDev })
			f.misplaced, f.placeErr = placeSplit(f.files, f.covered, func(d *dirDest) (dirFS, error) { return openIn(dirs, root, top, d.dir) }, root, top)
		}
	}()
}

// handOver says whether a flush of files, synced with one syncfs, can put
// them in place on its own goroutine, in placeDirs: if each is on the file
// system the syncfs syncs. No file is put in place after a failed syncfs
// (see syncFailed).
func (b *Batch) handOver(files []*dirDest) bool {
	return b.syncFailed == nil && !slices.ContainsFunc(files, func(d *dirDest) bool { return d.dev != b.topDev })
}

// synced says whether the sync of the flush startFlush began is over.
func (f *bgFlush) synced() bool {
	return syncOver(f.done)
}

// syncOver says whether done is closed; tests make a sync look slower.
var syncOver = func(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// endFlush waits for the sync startFlush began and puts its files in
// place. If that sync was a syncfs, the next flush's syncfs makes their
// names durable: endFlush starts it, with the files committed meanwhile.
func (b *Batch) endFlush() error {
	f := b.bg
	b.bg = nil
	<-f.done
	if f.writeErr != nil {
		// Back in the queue, ahead of the files committed since.
		b.queued = append(keepWritten(f.files), b.queued...)
		maps.Copy(b.dirty, f.covered)
		b.leaving = append(f.left, b.leaving...)
		return f.writeErr
	}
	if f.syncErr != nil {
		b.flushFailed(f.files, f.left)
		b.syncFailed = fmt.Errorf("syncing %s: %w", b.dest.dir, f.syncErr)
		return b.syncFailed
	}
	if f.named >= 0 {
		b.durable = f.named
	}
	fold := f.whole && len(f.files)+len(f.left) > 0
	// Past the failures above, a flush that places did.
	var err error
	if f.places {
		err = b.settleFlush(f.misplaced, f.placeErr, f.covered, f.left, fold)
	} else {
		err = b.finishFlush(f.files, f.covered, f.left, f.whole, fold)
	}
	if err != nil {
		return err
	}
	if !fold {
		b.durable = f.upTo
		return nil
	}
	b.startFlush(f.upTo)
	return nil
}

// syncDirs makes the entries of dirs durable: with whole, with one syncfs,
// and each directory that syncfs does not reach, on another file system,
// on its own.
func (b *Batch) syncDirs(dirs map[string]uint64, whole bool) error {
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

// syncWhole syncs the Dir's whole file system at once.
func (b *Batch) syncWhole() error {
	if err := syncFS(b.top); err != nil {
		b.syncFailed = fmt.Errorf("syncing %s: %w", b.dest.dir, err)
		return b.syncFailed
	}
	return nil
}

func (b *Batch) syncDir(dir string) error {
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
// everything in it, their modes (see Dir.perm) and the sender's times:
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
func (b *Batch) setDirs(dirs []leftDir, whole, failed bool) error {
	for i, f := range dirs {
		if failed && !(f.made && b.dest.perm(f.mode)&0o700 == 0o700) {
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
func (b *Batch) setDir(f leftDir, whole, failed bool) error {
	parent, base := path.Split(f.name)
	pd, err := b.openedDir(path.Clean(parent))
	if err != nil {
		return err
	}
	if !f.modTime.IsZero() {
		if err := pd.chtimes(base, f.modTime); err != nil {
			return fmt.Errorf("setting the time of %s: %w", names.Quote(f.name), unwrapPath(err))
		}
	}
	d, err := b.openedDir(f.name)
	if err != nil {
		return err
	}
	if f.made {
		err = d.chmod(b.dest.perm(f.mode))
	} else {
		err = d.narrow(b.dest.perm(f.mode))
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
// deferred included, and syncs them, unless failed. It ends a transfer
// whose every entry Durable has counted; failed says the transfer failed
// after that: its directories are left as a later transfer can still
// fill them. One that succeeds keeps the directories Open made.
func (b *Batch) Finish(failed bool) error {
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
		if err := b.syncWhole(); err != nil {
			return err
		}
	}
	b.dest.succeeded.Store(true)
	return nil
}

func (b *Batch) Close() {
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
	closeAll(b.placeDirs)
	b.check.close()
	b.closeResume()
	_ = b.top.Close()
}

func discardAll(q []*dirDest) {
	for _, d := range q {
		d.Discard()
	}
}

// tempName is the hidden name a file has while it arrives. Its 48 random
// bits keep two transfers into one directory apart; they need not be
// secret, since a file planted under the name makes the exclusive create
// fail rather than lead it elsewhere. So they come from math/rand's
// generator, seeded by the system: crypto/rand's took a third of
// createFile's time.
func tempName(base string) string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	if len(base) > 64 {
		// Cut at 64 bytes, less a character the cut splits.
		base = strings.ToValidUTF8(base[:64], "")
	}
	return ".ferry-" + hex.EncodeToString(b[:6]) + "-" + base + ".part"
}

// dirDest is a file arriving under a temporary name, or a small file
// gathered in memory until the smallWriter creates it under one.
type dirDest struct {
	batch   *Batch
	file    destFile // nil for a small file before Commit, and once closed
	dir     string   // the directory it lands in
	dev     uint64   // the device of that directory's file system
	base    string   // its name there
	tmp     string   // its name there until placed
	entry   Entry
	began   time.Time // when it was created
	size    int64     // the bytes written
	small   bool      // a small file, gathered in memory for the smallWriter
	buf     []byte    // a small file's data until written
	created bool      // there is a file to remove on Discard
	written bool      // a small file is written whole
	// partialIn is, with Options.Resume, the directory partialDirName
	// holding the file under tmp until Commit, locked (see lockPartial)
	// while open, and kept on Discard; nil for a temporary name in its
	// directory. offset is the bytes it held before this transfer.
	partialIn dirFS
	offset    int64
	synced    bool // synced before it was closed, as a mode that keeps it from being reopened needs
	done      bool // placed or discarded

	// For the smallWriter: the directory to create a small file in, opened
	// at Commit, since the batch's map of open directories is not its.
	dirH dirFS
	// slabBefore is, for the first small file cut from a slab, the slab
	// before, which the writer gives back once it has written this one
	// (see release).
	slabBefore []byte
}

func (d *dirDest) Write(p []byte) (int, error) {
	if d.small {
		// The receiver holds a file to its announced size, at most
		// smallFile bytes here.
		d.buf = append(d.buf, p...)
		d.size += int64(len(p))
		return len(p), nil
	}
	// A small file that failed ends the transfer now, not after this one.
	if w := d.batch.writer; w != nil {
		if err := w.firstErr(); err != nil {
			return 0, err
		}
	}
	n, err := d.file.Write(p)
	d.size += int64(n)
	if err != nil {
		err = fmt.Errorf("writing %s: %w", names.Quote(d.entry.Name), unwrapPath(err))
	}
	return n, err
}

// Commit gives the file its mode (see Dir.perm) and the sender's
// mtime, before the sync that makes them durable with the data, and queues
// it for the batch's next flush.
func (d *dirDest) Commit() error {
	name := d.entry.Name
	perm := d.batch.dest.perm(d.entry.Mode)
	dir, err := d.batch.openedDir(d.dir)
	if err != nil {
		return err
	}
	b := d.batch
	if d.partialIn != nil {
		if err := d.leavePartial(dir); err != nil {
			return err
		}
	}
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
		b.commit(d.began, d.size, name)
		b.writer.write(d)
		return nil
	}
	if err := d.file.Chmod(perm); err != nil {
		return fmt.Errorf("setting the mode of %s: %w", names.Quote(name), unwrapPath(err))
	}
	if !d.entry.ModTime.IsZero() {
		if err := setTimes(dir, d.file, d.tmp, d.entry.ModTime); err != nil {
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
	b.commit(d.began, d.size, name)
	return nil
}

// syncBeforeClose syncs f, the file open before it is closed, if its mode
// keeps dirFS.open from opening it again: a flush that syncs file by file
// reopens a closed file.
func (d *dirDest) syncBeforeClose(f destFile) error {
	if canReopen(d.batch.dest.perm(d.entry.Mode)) {
		return nil
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", names.Quote(d.entry.Name), unwrapPath(err))
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
			return fmt.Errorf("syncing %s: %w", names.Quote(d.entry.Name), unwrapPath(err))
		}
		defer f.Close()
	}
	if err := syncFile(f); err != nil {
		return fmt.Errorf("syncing %s: %w", names.Quote(d.entry.Name), unwrapPath(err))
	}
	return nil
}

// syncFile syncs a file a flush syncs on its own; tests count the calls.
var syncFile = destFile.Sync

// place closes the synced file and moves it to its final name in dir, its
// directory, adding that to dirty if that changed the directory. Without
// --overwrite the move must not replace a file that appeared meanwhile
// (see placeNew).
func (d *dirDest) place(dir dirFS, dirty map[string]uint64) error {
	name := d.entry.Name
	if d.file != nil {
		err := d.file.Close()
		d.file = nil
		if err != nil {
			return fmt.Errorf("closing %s: %w", names.Quote(name), unwrapPath(err))
		}
	}
	switch {
	case d.batch.dest.opts.Overwrite:
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
	if d.partialIn != nil {
		// A failed transfer's data is kept, under its partial name, for
		// the same file sent again; removed, if there is none, while
		// still locked, so that no other transfer claims it meanwhile.
		if d.offset+d.size == 0 {
			_ = d.partialIn.remove(d.tmp)
		}
		_ = d.file.Close()
		return
	}
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
	name := d.entry.Name
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
// directory exists from Create on, and is durable after the next flush.
type dirEntry struct {
	batch *Batch
	name  string
	began time.Time
}

func (e *dirEntry) Write([]byte) (int, error) {
	return 0, refusef(NotAFile, "data for the directory %s", names.Quote(e.name))
}

func (e *dirEntry) Commit() error {
	e.batch.commit(e.began, 0, e.name)
	return nil
}

func (*dirEntry) Discard() {}
