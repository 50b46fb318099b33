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
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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

// Collect lists what sending paths means, before anything is sent, so the
// receiver can be told the totals up front. A regular file is sent under
// its base name; a directory is sent with everything under it, under its
// base name, as scp -r does (a trailing slash changes nothing). A symbolic
// link named in paths is followed, like cp -r and scp; one found inside a
// directory is skipped, as are sockets, pipes and devices, and so are names
// the receiver would refuse: each skip is reported to skip with the path as
// the user wrote it and the reason. A regular file this process may not
// read is an error, found here rather than once the transfer is under way.
// Cancelling ctx stops a long walk; the error is then ctx's.
//
// The entries' Open opens a file below a directory named through the
// directories the walk read, following no link, and refuses a file that
// is not the one the walk listed: what was swapped in since, even a link
// to somewhere else in place of one of those directories, is never read.
func Collect(ctx context.Context, paths []string, skip func(path, reason string)) ([]Entry, error) {
	var entries []Entry
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
			entries = append(entries, fileEntry(p, name, info))
		case info.IsDir():
			entries, err = walkDir(ctx, entries, p, name, skip)
			if err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("cannot send %s: %s, not a regular file or directory", p, kindName(info.Mode()))
		}
	}
	return entries, nil
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

// walkers is how many goroutines read directories at once in a walk. A
// walk of many small files is a system call or two per file while the
// receiver waits for the offer, so a second goroutine halves the wait;
// more would only contend for the same directories and cores.
const walkers = 2

// walkDir appends the directory dir and everything under it, in lexical
// order so parents come before their contents. Subdirectories are read
// concurrently (see walkers), but what the walk finds, and what it skips,
// comes out in the order one goroutine would have found it.
func walkDir(ctx context.Context, entries []Entry, dir, name string, skip func(path, reason string)) ([]Entry, error) {
	// dir itself may be a link named on the command line; walk where it
	// points.
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot send %s: %w", dir, unwrapPath(err))
	}
	info, err := os.Lstat(real)
	if err != nil {
		return nil, fmt.Errorf("cannot send %s: %w", dir, unwrapPath(err))
	}
	top := infoOf(info)
	w := &walker{ctx: ctx, extra: make(chan struct{}, walkers-1), top: name, root: newWalkRoot(real, name, top.id)}
	start := len(entries)
	entries, err = w.walk(real, filepath.Clean(dir), name, "", top).flatten(entries, skip)
	if err != nil {
		return nil, err
	}
	// The root keeps the directories on the way to the last file opened
	// open for the next; once the last file of the walk is opened none is
	// needed, and a sender of many directories holds the descriptors of
	// one at a time.
	for i := len(entries) - 1; i >= start; i-- {
		if open := entries[i].Open; open != nil {
			root := w.root
			entries[i].Open = func() (io.ReadCloser, error) {
				defer root.release()
				return open()
			}
			break
		}
	}
	return entries, nil
}

type walker struct {
	ctx   context.Context // checked at each directory and every 1,024 entries, so Ctrl-C stops a long walk
	extra chan struct{}   // a token for each goroutine beyond the first
	top   string          // the name the walk's top directory arrives under
	root  *walkRoot       // through which the files found are opened
}

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

// dirEntry is an entry of a directory the walk read: its name, its type
// as the directory lists it and, for one the walk takes (see listable),
// what it is or why that could not be found.
type dirEntry struct {
	name   string
	typ    fs.FileMode
	info   entryInfo
	err    error
	denied error // a regular file this process may not read
}

// listable says whether the walk takes an entry of type typ: a directory
// or a regular file, not a link or anything else.
func listable(typ fs.FileMode) bool {
	return typ&(fs.ModeType&^fs.ModeDir) == 0
}

// subtree is what walking one directory found, in order: its own entry,
// then one part per entry in it. A walk that failed stops at err.
type subtree struct {
	parts []walkPart
	err   error
}

// walkPart is one entry of a directory: an entry to send, the walk of a
// subdirectory, or an entry skipped.
type walkPart struct {
	entry      Entry
	sub        *subtree
	skipped    string // the path as the user would write it, if skipped
	skipReason string
}

// walk reads the directory real, shown to the user as shown, named name
// on the receiver and rel below the top directory, and what is below it.
// The directory read must be the one info describes, as its parent
// listed it: one replaced since is not walked.
func (w *walker) walk(real, shown, name, rel string, info entryInfo) *subtree {
	if err := w.ctx.Err(); err != nil {
		return &subtree{err: err}
	}
	ents, err := readDir(real, info.id)
	t := &subtree{parts: make([]walkPart, 1, 1+len(ents))}
	t.parts[0].entry = Entry{Name: name, Mode: fs.ModeDir | info.mode.Perm(), ModTime: info.mtime}
	if err != nil {
		t.err = fmt.Errorf("cannot send %s: %w", shown, unwrapPath(err))
		return t
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for i, e := range ents {
		if i%1024 == 1023 && w.ctx.Err() != nil {
			t.err = w.ctx.Err()
			return t
		}
		shownE, nameE := filepath.Join(shown, e.name), name+"/"+e.name
		if !listable(e.typ) {
			t.parts = append(t.parts, walkPart{skipped: shownE, skipReason: kindName(e.typ)})
			continue
		}
		if why := names.Problem(nameE); why != "" {
			t.parts = append(t.parts, walkPart{skipped: shownE, skipReason: "the receiver would refuse its name: " + why})
			continue
		}
		if e.err != nil {
			t.err = fmt.Errorf("cannot send %s: %w", shownE, unwrapPath(e.err))
			return t
		}
		if e.denied != nil {
			t.err = fmt.Errorf("cannot read %s: %w", shownE, e.denied)
			return t
		}
		if e.info.mode.IsRegular() {
			t.parts = append(t.parts, walkPart{entry: w.fileEntry(rel, e.name, nameE, e.info)})
			continue
		}
		if !e.info.mode.IsDir() {
			// Listed as a directory or a file, something else since.
			t.parts = append(t.parts, walkPart{skipped: shownE, skipReason: kindName(e.info.mode)})
			continue
		}
		realE, relE := filepath.Join(real, e.name), nameE[len(w.top)+1:]
		t.parts = append(t.parts, walkPart{})
		part := &t.parts[len(t.parts)-1] // parts has room for every entry: it never moves
		select {
		case w.extra <- struct{}{}:
			wg.Go(func() {
				part.sub = w.walk(realE, shownE, nameE, relE, e.info)
				<-w.extra
			})
		default:
			if part.sub = w.walk(realE, shownE, nameE, relE, e.info); part.sub.err != nil {
				return t
			}
		}
	}
	return t
}

// flatten appends what t found to entries and reports what it skipped, in
// order, up to the first error.
func (t *subtree) flatten(entries []Entry, skip func(path, reason string)) ([]Entry, error) {
	for _, p := range t.parts {
		switch {
		case p.sub != nil:
			var err error
			if entries, err = p.sub.flatten(entries, skip); err != nil {
				return entries, err
			}
		case p.skipped != "":
			skip(p.skipped, p.skipReason)
		default:
			entries = append(entries, p.entry)
		}
	}
	return entries, t.err
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

// fileEntry describes the regular file base, found in the directory dir
// below the walk's top, which info describes.
func (w *walker) fileEntry(dir, base, name string, info entryInfo) Entry {
	root, id := w.root, info.id
	return Entry{
		Name:    name,
		Size:    info.size,
		Mode:    info.mode.Perm(),
		ModTime: info.mtime,
		Open:    func() (io.ReadCloser, error) { return root.open(dir, base, id) },
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

// readSorted lists the directory f by name, compared as bytes: the order
// in which the walk finds, and the receiver expects, its entries.
func readSorted(f *os.File) ([]fs.DirEntry, error) {
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, nil
}

// unwrapPath drops the *fs.PathError wrapper so a message names the path once.
func unwrapPath(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}
