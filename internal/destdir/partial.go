package destdir

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/ferrytool/ferry/internal/names"
)

// partialDirName is the directory, at the top of a Dir, that holds the
// data of files whose transfer failed (see Options.Resume). names.Check
// refuses it as an entry name.
const partialDirName = ".ferry-partial"

// partialID is the name of e's partial file: the first 16 bytes of
// SHA-256 over its name, a zero byte (which no name holds), its size as 8
// bytes and its mtime as 8 bytes of Unix seconds and 4 of nanoseconds, all
// big-endian, in hex, then ".part". So a file changed on the sender
// between two tries, which changes its size or mtime, or another file,
// never finds this one's data.
func partialID(e Entry) string {
	var meta [20]byte
	binary.BigEndian.PutUint64(meta[0:], uint64(e.Size))
	binary.BigEndian.PutUint64(meta[8:], uint64(e.ModTime.Unix()))
	binary.BigEndian.PutUint32(meta[16:], uint32(e.ModTime.Nanosecond()))
	h := sha256.New()
	h.Write([]byte(e.Name))
	h.Write([]byte{0})
	h.Write(meta[:])
	return hex.EncodeToString(h.Sum(nil)[:16]) + ".part"
}

// isPartialName says whether name is one partialID makes.
func isPartialName(name string) bool {
	id, ok := strings.CutSuffix(name, ".part")
	if !ok || len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Held is what a Dir holds of a regular file about to be sent into it.
type Held struct {
	State  HeldState
	Length int64    // HeldPartial: the bytes held; HeldPresent: the existing file's size
	Digest [32]byte // SHA-256 of those Length bytes
	Err    error    // HeldRefused: why, an *Error (Exists, Conflict, BadName...)
}

// HeldState says what a Dir holds of a file under its name: see Held.
type HeldState int

// What a Dir may hold of a file.
const (
	HeldNone    HeldState = iota // nothing under the name, no partial data: send it whole
	HeldPartial                  // partial data of this very file (same name, size, mtime) from a transfer that failed
	HeldPresent                  // a regular file of the same size under the name (it may differ; Overwrite says whether a differing one is replaced)
	HeldRefused                  // something the transfer may not replace: a file of another size without Overwrite, a directory, a link...
)

// resumeState is a batch's partial files: the directory that holds them,
// and those Check claimed. Check may run on another goroutine than
// Create, so mu guards it.
type resumeState struct {
	mu     sync.Mutex
	dir    dirFS  // partialDirName, once opened; nil before
	dev    uint64 // the device of its file system
	claims map[string]*claim
}

// claim is partial data Check reported, held locked until the entry is
// created or the batch closed.
type claim struct {
	file *os.File
	held Held
	sum  uint32 // the crc32c of the held bytes
}

// resumable says whether e's data goes to a partial file: with Resume, a
// regular file of known size above smallFile. Small files are held in
// memory and simply sent again.
func (b *Batch) resumable(e Entry) bool {
	return canResume && b.dest.opts.Resume && !e.Dir && e.Size > smallFile
}

// partialDir returns the batch's partialDirName and its device, opening
// it, and making it if create says so, when first needed; nil if it is
// missing or cannot be opened: the file is then written as without
// Resume.
func (b *Batch) partialDir(create bool) (dirFS, uint64) {
	r := &b.resume
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dir == nil {
		r.dir, r.dev, _ = openPartialDir(b.top, create)
	}
	return r.dir, r.dev
}

// takeClaim returns the claim on the partial file id and ends it; nil if
// there is none.
func (b *Batch) takeClaim(id string) *claim {
	r := &b.resume
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.claims[id]
	delete(r.claims, id)
	return c
}

// closeResume releases the batch's claims and its partialDirName, which
// it removes if empty (a transfer that resumed leaves no trace). Another
// transfer that opened it meanwhile can then create nothing in it, and
// writes its files under temporary names instead (see createPartial).
func (b *Batch) closeResume() {
	r := &b.resume
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.claims {
		_ = c.file.Close()
	}
	r.claims = nil
	if r.dir != nil {
		_ = r.dir.close()
		r.dir = nil
		removePartialDir(b.top)
	}
}

// Check says what the directory holds of the regular file e (e.Size known), which the batch
// creates later, after the entries before it in tree order. Checks run ahead of Create, in tree
// order among themselves, for a window of upcoming files; they create nothing (no directories
// either) and only read: hashing the bytes they report. A HeldPartial answer claims the
// partial data for this batch until CreateAt or Create of that entry, or the batch's Close:
// another transfer of the same file at the same time finds HeldNone for it.
//
// Check may run on another goroutine than Create, but not at once with
// itself. The final name is looked at without following links, as
// Create does; an error is a failure to read, not a refusal.
func (b *Batch) Check(e Entry) (Held, error) {
	if e.Dir || e.Size < 0 {
		return Held{}, fmt.Errorf("checking %s: not a file of known size", names.Quote(e.Name))
	}
	if err := names.Check(e.Name); err != nil {
		return refused(&Error{Kind: BadName, Err: err})
	}
	dir, base := path.Split(e.Name)
	d, dev, err := b.check.open(b, e.Name, path.Clean(dir))
	if refusal := (*Error)(nil); errors.As(err, &refusal) {
		return refused(refusal)
	}
	if err != nil {
		return Held{}, err
	}
	if d == nil {
		// A directory on the way is missing: Create makes it, on the file
		// system of dev, the deepest that exists.
		return b.checkPartial(e, dev), nil
	}
	f, err := d.lstat(base)
	switch {
	case err != nil:
		return Held{}, fmt.Errorf("checking %s: %w", names.Quote(e.Name), unwrapPath(err))
	case !f.exists:
		return b.checkPartial(e, dev), nil
	case f.isDir:
		return refused(refusef(Conflict, "%s is a directory on the receiver; a file cannot replace it", names.Quote(e.Name)))
	case f.isRegular && f.size == e.Size:
		return b.checkPresent(e, d, base)
	case b.dest.opts.Overwrite:
		// Replaced by Create; the data of an earlier try at replacing it
		// may be held.
		return b.checkPartial(e, dev), nil
	}
	return refused(existsError(e.Name))
}

func refused(err error) (Held, error) {
	return Held{State: HeldRefused, Err: err}, nil
}

// checkPresent hashes the regular file base, in d, of e's size.
func (b *Batch) checkPresent(e Entry, d dirFS, base string) (Held, error) {
	r, err := d.openRead(base)
	if err != nil {
		return Held{}, fmt.Errorf("reading %s: %w", names.Quote(e.Name), unwrapPath(err))
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, io.LimitReader(r, e.Size), b.check.buffer()); err != nil {
		return Held{}, fmt.Errorf("reading %s: %w", names.Quote(e.Name), unwrapPath(err))
	}
	held := Held{State: HeldPresent, Length: e.Size}
	h.Sum(held.Digest[:0])
	return held, nil
}

// checkPartial looks for e's partial file and claims it if it holds some
// of e's data, and no other transfer holds it. The file must be on dev,
// the file system of e's directory, for Commit to move it there. Anything
// in the way of resuming, a failure to read included, makes it HeldNone:
// the file is sent whole, as without Resume.
func (b *Batch) checkPartial(e Entry, dev uint64) Held {
	if !b.resumable(e) {
		return Held{}
	}
	id := partialID(e)
	r := &b.resume
	r.mu.Lock()
	c, ok := r.claims[id]
	r.mu.Unlock()
	if ok {
		return c.held
	}
	pd, pdev := b.partialDir(false)
	if pd == nil || pdev != dev {
		return Held{}
	}
	f, err := lockPartial(pd, id, false)
	if err != nil {
		return Held{}
	}
	c, err = b.check.hashPartial(f, e.Size)
	if err != nil {
		_ = f.Close()
		return Held{}
	}
	r.mu.Lock()
	if r.claims == nil {
		r.claims = make(map[string]*claim)
	}
	r.claims[id] = c
	r.mu.Unlock()
	return c.held
}

// checkPath is the directories Check looked in last, from the Dir's own
// down, kept open for the next Check, which in tree order is likely in
// the same one: apart from the batch's path, which Create walks.
type checkPath struct {
	dirs []checkDir
	buf  []byte // for hashing
	// missing is a directory found missing, and missingDev the device of
	// the deepest one on its way. The checks ahead of Create find most of
	// a new tree's directories so, each for many files: what is in one
	// comes from this transfer, and needs no look.
	missing    string
	missingDev uint64
}

type checkDir struct {
	name string
	fs   dirFS
	dev  uint64
}

// buffer returns the buffer Check reads files through.
func (p *checkPath) buffer() []byte {
	if p.buf == nil {
		p.buf = make([]byte, 256<<10)
	}
	return p.buf
}

// open opens dir, for the entry name, and returns it and its device; nil
// and the device of the deepest directory on the way if one is missing.
// A link or a file on the way is refused, as push refuses it.
func (p *checkPath) open(b *Batch, name, dir string) (dirFS, uint64, error) {
	if p.missing != "" && within(dir, p.missing) {
		return nil, p.missingDev, nil
	}
	for len(p.dirs) > 0 && !within(dir, p.dirs[len(p.dirs)-1].name) {
		_ = p.dirs[len(p.dirs)-1].fs.close()
		p.dirs = p.dirs[:len(p.dirs)-1]
	}
	if len(p.dirs) == 0 {
		d, err := openDir(b.dest.root, b.top, ".")
		if err != nil {
			return nil, 0, fmt.Errorf("cannot open %s: %w", b.dest.dir, unwrapPath(err))
		}
		p.dirs = append(p.dirs, checkDir{name: ".", fs: d, dev: b.topDev})
	}
	for {
		top := p.dirs[len(p.dirs)-1]
		if top.name == dir {
			return top.fs, top.dev, nil
		}
		start := 0
		if top.name != "." {
			start = len(top.name) + 1
		}
		next := dir
		if i := strings.IndexByte(dir[start:], '/'); i >= 0 {
			next = dir[:start+i]
		}
		e, err := top.fs.lstat(path.Base(next))
		switch {
		case err != nil:
			return nil, 0, fmt.Errorf("checking %s: %w", names.Quote(name), unwrapPath(err))
		case !e.exists:
			p.missing, p.missingDev = next, top.dev
			return nil, top.dev, nil
		case e.isLink:
			return nil, 0, refusef(BadName, "refusing %s: %s is a symbolic link on the receiver, and ferry never writes through links", names.Quote(name), names.Quote(next))
		case !e.isDir:
			return nil, 0, refusef(Conflict, "refusing %s: %s is a file on the receiver, not a directory", names.Quote(name), names.Quote(next))
		}
		d, err := top.fs.sub(path.Base(next))
		if err != nil {
			return nil, 0, fmt.Errorf("cannot open directory %s: %w", names.Quote(next), unwrapPath(err))
		}
		p.dirs = append(p.dirs, checkDir{name: next, fs: d, dev: e.dev})
	}
}

// hashPartial hashes the partial data in f, the claim Check makes if f
// holds from 1 to size bytes.
func (p *checkPath) hashPartial(f *os.File, size int64) (*claim, error) {
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	n := info.Size()
	if n <= 0 || n > size {
		return nil, errors.New("no data of the file")
	}
	h := sha256.New()
	crc := crc32.New(castagnoli)
	if _, err := io.CopyBuffer(io.MultiWriter(h, crc), io.NewSectionReader(f, 0, n), p.buffer()); err != nil {
		return nil, err
	}
	c := &claim{file: f, held: Held{State: HeldPartial, Length: n}, sum: crc.Sum32()}
	h.Sum(c.held.Digest[:0])
	return c, nil
}

// close closes the directories Check holds open.
func (p *checkPath) close() {
	for _, d := range p.dirs {
		_ = d.fs.close()
	}
	p.dirs = nil
}

// CreateAt is Create for a file that continues the partial data Check reported
// (HeldPartial, offset == Held.Length): its writes go after the first offset bytes, and sum is
// the crc32c (Castagnoli) of those bytes, for the caller's whole-file check. Create of an entry
// with a claimed partial starts that file over from byte 0.
func (b *Batch) CreateAt(e Entry, offset int64) (d Destination, sum uint32, err error) {
	return b.create(e, offset)
}

// createPartial creates the file f, above smallFile, under its partial
// name (see partialID), continuing the claimed data from at, or from 0;
// nil without an error if it cannot be: a file on another file system
// than partialDirName, or whose partial file another transfer holds, is
// written under a temporary name, as without Resume.
func (b *Batch) createPartial(f Entry, dir string, fr *dirFrame, base string, at int64) (*dirDest, uint32, error) {
	id := partialID(f)
	c := b.takeClaim(id)
	if at > 0 && (c == nil || c.held.Length != at) {
		if c != nil {
			_ = c.file.Close()
		}
		return nil, 0, fmt.Errorf("cannot continue %s at byte %d: no partial data of that length was claimed", names.Quote(f.Name), at)
	}
	pd, pdev := b.partialDir(true)
	if pd == nil || pdev != fr.dev {
		return nil, 0, nil
	}
	var file *os.File
	var sum uint32
	if c != nil {
		file = c.file
		if at > 0 {
			sum = c.sum
		}
	} else {
		var err error
		if file, err = lockPartial(pd, id, true); err != nil {
			return nil, 0, nil
		}
	}
	// At the claimed length: the data Check hashed, and no more.
	if err := file.Truncate(at); err != nil {
		_ = file.Close()
		return nil, 0, fmt.Errorf("cannot continue %s: %w", names.Quote(f.Name), unwrapPath(err))
	}
	if _, err := file.Seek(at, io.SeekStart); err != nil {
		_ = file.Close()
		return nil, 0, fmt.Errorf("cannot continue %s: %w", names.Quote(f.Name), unwrapPath(err))
	}
	d := &dirDest{batch: b, file: file, dir: dir, dev: fr.dev, base: base, tmp: id, partialIn: pd, offset: at,
		entry: f, began: time.Now(), created: true}
	return d, sum, nil
}

// leavePartial moves the file, committed, from partialDirName to a
// temporary name in its directory, dir, where it is put in place as any
// other file; from then on it is no longer partial data, and no lock is
// needed. Where it cannot be moved there (a mount inside the Dir on the
// same file system), it is copied.
func (d *dirDest) leavePartial(dir dirFS) error {
	tmp := tempName(d.base)
	err := renameBetween(d.partialIn, d.tmp, dir, tmp)
	if err != nil {
		return d.copyOut(dir, tmp)
	}
	d.tmp, d.partialIn = tmp, nil
	return nil
}

// copyOut copies the file's data from its partial file to tmp in dir, and
// removes the partial file.
func (d *dirDest) copyOut(dir dirFS, tmp string) error {
	name := d.entry.Name
	to, err := dir.create(tmp, 0o600)
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", names.Quote(name), unwrapPath(err))
	}
	from := d.file.(*os.File)
	if _, err := io.Copy(to, io.NewSectionReader(from, 0, d.offset+d.size)); err != nil {
		_ = to.Close()
		_ = dir.remove(tmp)
		return fmt.Errorf("writing %s: %w", names.Quote(name), unwrapPath(err))
	}
	_ = d.partialIn.remove(d.tmp)
	_ = from.Close()
	d.file, d.tmp, d.partialIn = to, tmp, nil
	return nil
}

// Partials says how many files of partial data the directory holds, from transfers that failed,
// and their bytes; RemovePartials removes those whose data was last written before t.
func (d *Dir) Partials() (n int, bytes int64, err error) {
	return d.scanPartials(time.Time{}, false)
}

// RemovePartials removes the partial files whose data was last written
// before before and that no transfer holds, and says how many it removed
// and their bytes; see Partials.
func (d *Dir) RemovePartials(before time.Time) (n int, bytes int64, err error) {
	return d.scanPartials(before, true)
}

func (d *Dir) scanPartials(before time.Time, remove bool) (int, int64, error) {
	top, err := d.root.Open(".")
	if err != nil {
		return 0, 0, fmt.Errorf("cannot open %s: %w", d.dir, unwrapPath(err))
	}
	defer top.Close()
	n, bytes, err := scanPartials(top, before, remove)
	if err != nil {
		err = fmt.Errorf("partial files in %s: %w", path.Join(d.dir, partialDirName), unwrapPath(err))
	}
	return n, bytes, err
}
