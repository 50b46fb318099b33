// Package walk lists what a sender sends: the files and directories below
// the paths it is given, in the order the receiver expects them, each file
// with a way to open it later that refuses a file replaced since it was
// listed. It knows nothing of the wire: the protocol turns its entries into
// offers.
package walk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ferrytool/ferry/internal/names"
)

// Entry is a file or directory to send. Its fields are those of the
// public transfer.Source, so that one converts to the other.
type Entry struct {
	Name    string      // name on the receiver, slash-separated
	Size    int64       // 0 for a directory
	Mode    fs.FileMode // permission bits, and fs.ModeDir for a directory
	ModTime time.Time
	Open    func() (io.ReadCloser, error) // nil for a directory
}

// Walk walks paths and calls yield with each entry of sending them, in
// tree order (names.Compare), as the walk finds it: nothing of the tree is
// held but the listings of the directories on the way to the current
// entry. A regular file is sent under its base name; a directory is sent
// with everything under it, under its base name, as scp -r does (a
// trailing slash changes nothing). A symbolic link named in paths is
// followed, like cp -r and scp; one found inside a directory is skipped,
// as are sockets, pipes and devices, and so are names the receiver would
// refuse: each skip is reported to skip with the path as the user wrote
// it and the reason. A regular file this process may not read is an
// error, found in the walk rather than once its data is due. The paths
// are checked before any is walked, and walked in the order of the names
// they arrive under, so the entries come in tree order whatever order the
// paths were given in. Cancelling ctx stops a long walk; the error is
// then ctx's. Walk returns the first error, or nil once every entry was
// yielded or yield returned false.
//
// The entries' Open opens a file below a directory named through the
// directories the walk read, following no link, and refuses a file that
// is not the one the walk listed: what was swapped in since, even a link
// to somewhere else in place of one of those directories, is never read.
func Walk(ctx context.Context, paths []string, skip func(path, reason string), yield func(Entry) bool) error {
	tops, err := checkPaths(paths)
	if err != nil {
		return err
	}
	w := &walker{ctx: ctx, skip: skip, yield: yield, shared: newWalkShared(), ahead: ahead{ctx: ctx}}
	defer w.ahead.end()
	for _, t := range tops {
		if t.info.Mode().IsRegular() {
			err = w.emit(fileEntry(t.path, t.name, t.info))
		} else {
			err = w.walkTop(t.path, t.name)
		}
		if err != nil {
			break
		}
	}
	if err == nil {
		err = w.finish()
	}
	if err == errStop {
		err = nil
	}
	return err
}

// top is a path named to Walk: the name it arrives under, and what it is.
type top struct {
	path, name string
	info       fs.FileInfo
}

// checkPaths checks every path given before any is walked, so that a
// mistyped one fails at once, and returns them in the order of their
// names. Paths with the same name are refused.
func checkPaths(paths []string) ([]top, error) {
	tops := make([]top, 0, len(paths))
	from := make(map[string]string) // top-level name -> the path it came from
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("cannot send %s: %w", p, unwrapPath(err))
		}
		name := topName(p)
		if name == "" {
			return nil, fmt.Errorf("cannot send %s: name a directory below it instead", p)
		}
		if other, dup := from[name]; dup {
			return nil, fmt.Errorf("cannot send both %s and %s: both would arrive as %s; send them in separate transfers", other, p, name)
		}
		from[name] = p
		if err := names.Check(name); err != nil {
			return nil, fmt.Errorf("cannot send %s: %w", p, err)
		}
		switch {
		case info.Mode().IsRegular():
			if err := denied(p); err != nil {
				return nil, fmt.Errorf("cannot read %s: %w", p, err)
			}
		case info.IsDir():
		default:
			return nil, fmt.Errorf("cannot send %s: %s, not a regular file or directory", p, kindName(info.Mode()))
		}
		tops = append(tops, top{path: p, name: name, info: info})
	}
	slices.SortStableFunc(tops, func(a, b top) int { return strings.Compare(a.name, b.name) })
	return tops, nil
}

// topName is the name path arrives under: its base name, or for "." and
// the like the base name of the directory it stands for. It is "" for the
// root directory.
func topName(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		abs = p
	}
	base := filepath.Base(abs)
	if base == string(filepath.Separator) || base == "." {
		return ""
	}
	return base
}

// errStop is a walk stopped because yield returned false.
var errStop = errors.New("walk stopped")

// maxHeld bounds the entries a walk holds back after a file (see emit).
const maxHeld = 256

type walker struct {
	ctx    context.Context // checked at each directory and every 1,024 entries, so Ctrl-C stops a long walk
	skip   func(path, reason string)
	yield  func(Entry) bool
	shared *walkShared // the descriptors kept from one file opened to the next
	roots  int         // top directories walked so far
	ahead  ahead       // the directories listed ahead of their turn

	// held is the last file found and the directories found since: the
	// file is yielded once another is found, and at the end with an Open
	// that releases the descriptors kept, which no later file needs.
	held []Entry
}

// emit yields e, or holds it back (see held).
func (w *walker) emit(e Entry) error {
	switch {
	case e.Open != nil:
		if err := w.flush(); err != nil {
			return err
		}
	case len(w.held) == 0:
		if !w.yield(e) {
			return errStop
		}
		return nil
	case len(w.held) == maxHeld:
		// So many directories after the last file: it goes out without
		// the release, and the descriptors wait for the garbage
		// collector (see newWalkShared).
		if err := w.flush(); err != nil {
			return err
		}
		if !w.yield(e) {
			return errStop
		}
		return nil
	}
	w.held = append(w.held, e)
	return nil
}

// flush yields what is held.
func (w *walker) flush() error {
	for i, e := range w.held {
		w.held[i] = Entry{}
		if !w.yield(e) {
			w.held = w.held[:0]
			return errStop
		}
	}
	w.held = w.held[:0]
	return nil
}

// finish yields what is held, the last file of the walk opening with the
// release of what it kept open.
func (w *walker) finish() error {
	if len(w.held) > 0 {
		open, shared := w.held[0].Open, w.shared
		w.held[0].Open = func() (io.ReadCloser, error) {
			defer shared.release()
			return open()
		}
	}
	return w.flush()
}

// walkTop yields the directory dir, named name, and everything under it.
func (w *walker) walkTop(dir, name string) error {
	// dir itself may be a link named on the command line; walk where it
	// points.
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("cannot send %s: %w", dir, unwrapPath(err))
	}
	info, err := os.Lstat(real)
	if err != nil {
		return fmt.Errorf("cannot send %s: %w", dir, unwrapPath(err))
	}
	top := infoOf(info)
	w.roots++
	root := newWalkRoot(real, name, top.id, w.shared, w.roots)
	return w.walk(root, real, filepath.Clean(dir), name, "", top, nil)
}

// vanished is why an entry listed in a directory and gone when the walk
// looked at it, or a directory gone when it was to be listed, is skipped:
// deleted meanwhile, as the temporary files of a running program are, it
// is not sent, as rsync does not send it, and the rest of the tree is.
const vanished = "it vanished while the tree was walked"

// afterLook, set by tests, runs once the walk has looked at the entry at
// path, below a top directory: the moment at which it, or an entry listed
// after it, can vanish.
var afterLook func(path string)

// errReplaced is a file or directory found, when opened, not to be the one
// the walk listed: replaced since, by a link or by another file.
var errReplaced = errors.New("replaced since it was listed")

// entryInfo is what the walk saw of a file or directory.
type entryInfo struct {
	mode  fs.FileMode
	size  int64
	mtime time.Time
	id    fileID // to check that what is opened later is the same file
}

func infoOf(info fs.FileInfo) entryInfo {
	return entryInfo{mode: info.Mode(), size: info.Size(), mtime: info.ModTime(), id: idOf(info)}
}

// listable says whether the walk takes an entry of mode m: a directory
// or a regular file, not a link or anything else.
func listable(m fs.FileMode) bool {
	return m&(fs.ModeType&^fs.ModeDir) == 0
}

// walk yields the directory real, shown to the user as shown, named name
// on the receiver and rel below the top directory, and what is below it.
// The directory read must be the one info describes, as its parent
// listed it: one replaced since is not walked. Each entry is looked at
// (an fstatat in the directory) in its turn, or, for a directory listed
// ahead (j, see ahead), in order once it is listed, so a walk holds the
// names of the directories on the way and those listed ahead and no
// more; that look tells what to skip, links and the like.
func (w *walker) walk(root *walkRoot, real, shown, name, rel string, info entryInfo, j *dirJob) error {
	if j == nil {
		j = &dirJob{real: real, name: name, id: info.id}
		j.list(w.ctx, nil)
	} else {
		w.ahead.take(j)
	}
	d, err := j.d, j.err
	if j.cancelled {
		return err
	}
	if rel != "" && errors.Is(err, fs.ErrNotExist) {
		w.skip(shown, vanished)
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot send %s: %w", shown, unwrapPath(err))
	}
	defer d.close()
	if err := w.emit(Entry{Name: name, Mode: fs.ModeDir | info.mode.Perm(), ModTime: info.mtime}); err != nil {
		return err
	}
	var subs []*dirJob
	next := w.listAhead(j, &subs, 0)
	for i, base := range d.all() {
		if i%1024 == 1023 && w.ctx.Err() != nil {
			return w.ctx.Err()
		}
		var l look
		if d.part == 0 && j.looks != nil {
			l = j.looks[i]
		} else {
			l = lookAt(d, i, real, name+"/"+base)
		}
		if errors.Is(l.err, fs.ErrNotExist) {
			w.skip(filepath.Join(shown, base), vanished)
			continue
		}
		if l.err != nil {
			return fmt.Errorf("cannot send %s: %w", filepath.Join(shown, base), unwrapPath(l.err))
		}
		if !listable(l.info.mode) {
			w.skip(filepath.Join(shown, base), kindName(l.info.mode))
			continue
		}
		if l.problem != "" {
			w.skip(filepath.Join(shown, base), "the receiver would refuse its name: "+l.problem)
			continue
		}
		if l.info.mode.IsRegular() {
			if l.denied != nil {
				return fmt.Errorf("cannot read %s: %w", filepath.Join(shown, base), l.denied)
			}
			if err := w.emit(root.fileEntry(rel, l.name, l.info)); err != nil {
				return err
			}
			continue
		}
		relE := base
		if rel != "" {
			relE = rel + "/" + base
		}
		var sub *dirJob
		if d.part == 0 && subs != nil {
			sub, subs[i] = subs[i], nil // its listing and looks are dropped once walked
		}
		if err := w.walk(root, filepath.Join(real, base), filepath.Join(shown, base), l.name, relE, l.info, sub); err != nil {
			return err
		}
		if d.part == 0 {
			next = w.listAhead(j, &subs, max(next, i+1))
		}
	}
	if d.err != nil {
		return fmt.Errorf("cannot send %s: %w", shown, unwrapPath(d.err))
	}
	return nil
}

// listAhead gives the directories among j's looks from index from on to
// be listed ahead, as many as there is room for, setting their jobs in
// subs by index (nil where none), and returns the index of the first
// directory it had no room for (len(j.looks) if none).
func (w *walker) listAhead(j *dirJob, subs *[]*dirJob, from int) int {
	for i := from; i < len(j.looks); i++ {
		l := j.looks[i]
		if l.err != nil || !l.info.mode.IsDir() || l.problem != "" || l.info.size > aheadDirBytes {
			continue
		}
		base := j.d.names[i]
		sub := w.ahead.submit(filepath.Join(j.real, base), j.name+"/"+base, l.info.id)
		if sub == nil {
			return i
		}
		if *subs == nil {
			*subs = make([]*dirJob, len(j.looks))
		}
		(*subs)[i] = sub
	}
	return len(j.looks)
}

// fileEntry describes the regular file at p, named on the command line,
// which info describes: p is followed if a link, but what it leads to must
// still be that file when opened.
func fileEntry(p, name string, info fs.FileInfo) Entry {
	id := idOf(info)
	return Entry{
		Name:    name,
		Size:    info.Size(),
		Mode:    info.Mode().Perm(),
		ModTime: info.ModTime(),
		Open:    func() (io.ReadCloser, error) { return openFile(p, id) },
	}
}

// fileEntry describes the regular file name, found in the directory dir
// below the walk's top, which info describes. Its base name is the end of
// name, which the entry holds anyway.
func (r *walkRoot) fileEntry(dir, name string, info entryInfo) Entry {
	id := info.id
	return Entry{
		Name:    name,
		Size:    info.size,
		Mode:    info.mode.Perm(),
		ModTime: info.mtime,
		Open:    func() (io.ReadCloser, error) { return r.open(dir, name[strings.LastIndexByte(name, '/')+1:], id) },
	}
}

// kindName says what a file that is neither regular nor a directory is.
func kindName(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "not a regular file"
}

// listing is the names of a directory being walked, read a part of at
// most maxListed names at a time.
type listing struct {
	f     *os.File
	names []string // the part being walked
	part  int      // which part it is, from 0
	more  bool     // names remain after that part
	err   error    // the failure to read the next part, which ends all
}

// list reads the first part of the directory f's names.
func list(f *os.File) (listing, error) {
	names, more, err := readSorted(f, "", nil)
	return listing{f: f, names: names, more: more}, err
}

// all yields the directory's names in order, each with its index in
// names, reading the next part once a part has been walked.
func (l *listing) all() iter.Seq2[int, string] {
	return func(yield func(int, string) bool) {
		for {
			for i, name := range l.names {
				if !yield(i, name) {
					return
				}
			}
			if !l.more {
				return
			}
			last := l.names[len(l.names)-1]
			if l.names, l.more, l.err = readSorted(l.f, last, l.names); l.err != nil {
				return
			}
			l.part++
		}
	}
}

// maxListed bounds the names a walk holds of one directory. A directory
// with more is read again for each next maxListed of its names, in order,
// so that what the sender holds of a directory is bounded however many
// files it has; a read of a directory costs far less than sending its
// files.
var maxListed = 1 << 16

// readSorted returns the first names in the directory f sorted as bytes
// (the order in which the walk finds, and the receiver expects, its
// entries) that sort after after, at most maxListed of them, in buf's
// array, and whether more names remain after those. after is "" for the
// first part, which every name sorts after; for a later part f was read
// before, and is read again from its start. The names alone: each entry's
// type comes from the lstat the walk makes of it anyway, so a listing
// costs a string an entry and no more.
func readSorted(f *os.File, after string, buf []string) (names []string, more bool, err error) {
	names = buf[:0]
	if after != "" {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, false, err
		}
	}
	// Sorted and cut back to maxListed whenever twice that have gathered,
	// which holds the memory to a bound at the cost of a sort in
	// maxListed names.
	keep := func() {
		slices.Sort(names)
		if len(names) > maxListed {
			clear(names[maxListed:])
			names, more = names[:maxListed], true
		}
	}
	for {
		part, err := f.Readdirnames(1024)
		if len(names) == 0 && after == "" {
			// A first part, all of whose names are taken: most
			// directories fit in one, which then needs no copy.
			names = part
		} else {
			for _, name := range part {
				if name > after {
					names = append(names, name)
				}
			}
		}
		if len(names) >= 2*maxListed {
			keep()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, false, err
		}
	}
	keep()
	return names, more, nil
}

// unwrapPath drops the *fs.PathError wrapper so a message names the path once.
func unwrapPath(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}
