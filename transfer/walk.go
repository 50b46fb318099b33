package transfer

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Collect lists what sending paths means, before anything is sent, so the
// receiver can be told the totals up front. A regular file is sent under
// its base name; a directory is sent with everything under it, under its
// base name, as scp -r does (a trailing slash changes nothing). A symbolic
// link named in paths is followed, like cp -r and scp; one found inside a
// directory is skipped, as are sockets, pipes and devices, and so are names
// the receiver would refuse: each skip is reported to skip with the path as
// the user wrote it and the reason. Cancelling ctx stops a long walk; the
// error is then ctx's.
func Collect(ctx context.Context, paths []string, skip func(path, reason string)) ([]Source, error) {
	var sources []Source
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
		if err := CheckName(name); err != nil {
			return nil, fmt.Errorf("cannot send %s: %w", p, err)
		}
		switch {
		case info.Mode().IsRegular():
			sources = append(sources, fileSource(p, name, info, true))
		case info.IsDir():
			sources, err = walkDir(ctx, sources, p, name, skip)
			if err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("cannot send %s: %s, not a regular file or directory", p, kindName(info.Mode()))
		}
	}
	return sources, nil
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
func walkDir(ctx context.Context, sources []Source, dir, name string, skip func(path, reason string)) ([]Source, error) {
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
	w := &walker{ctx: ctx, extra: make(chan struct{}, walkers-1)}
	top := w.walk(real, filepath.Clean(dir), name, info)
	sources, err = top.flatten(sources, skip)
	if err != nil {
		return nil, err
	}
	return sources, nil
}

type walker struct {
	ctx   context.Context // checked at each directory and every 1,024 entries, so Ctrl-C stops a long walk
	extra chan struct{}   // a token for each goroutine beyond the first
}

// subtree is what walking one directory found, in order: its own entry,
// then one part per entry in it. A walk that failed stops at err.
type subtree struct {
	parts []walkPart
	err   error
}

// walkPart is one entry of a directory: a source, the walk of a
// subdirectory, or an entry skipped.
type walkPart struct {
	src        Source
	sub        *subtree
	skipped    string // the path as the user would write it, if skipped
	skipReason string
}

// walk reads the directory real, shown to the user as shown and named
// name on the receiver, and what is below it.
func (w *walker) walk(real, shown, name string, info fs.FileInfo) *subtree {
	if err := w.ctx.Err(); err != nil {
		return &subtree{err: err}
	}
	ents, err := os.ReadDir(real)
	t := &subtree{parts: make([]walkPart, 1, 1+len(ents))}
	t.parts[0].src = Source{Name: name, Mode: fs.ModeDir | info.Mode().Perm(), ModTime: info.ModTime()}
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
		realE, shownE, nameE := filepath.Join(real, e.Name()), filepath.Join(shown, e.Name()), name+"/"+e.Name()
		if typ := e.Type(); typ&(fs.ModeSymlink|fs.ModeType&^fs.ModeDir) != 0 {
			t.parts = append(t.parts, walkPart{skipped: shownE, skipReason: kindName(typ)})
			continue
		}
		if why := NameProblem(nameE); why != "" {
			t.parts = append(t.parts, walkPart{skipped: shownE, skipReason: "the receiver would refuse its name: " + why})
			continue
		}
		info, err := e.Info()
		if err != nil {
			t.err = fmt.Errorf("cannot send %s: %w", shownE, unwrapPath(err))
			return t
		}
		if !e.IsDir() {
			t.parts = append(t.parts, walkPart{src: fileSource(realE, nameE, info, false)})
			continue
		}
		t.parts = append(t.parts, walkPart{})
		part := &t.parts[len(t.parts)-1] // parts has room for every entry: it never moves
		select {
		case w.extra <- struct{}{}:
			wg.Go(func() {
				part.sub = w.walk(realE, shownE, nameE, info)
				<-w.extra
			})
		default:
			if part.sub = w.walk(realE, shownE, nameE, info); part.sub.err != nil {
				return t
			}
		}
	}
	return t
}

// flatten appends what t found to sources and reports what it skipped, in
// order, up to the first error.
func (t *subtree) flatten(sources []Source, skip func(path, reason string)) ([]Source, error) {
	for _, p := range t.parts {
		switch {
		case p.sub != nil:
			var err error
			if sources, err = p.sub.flatten(sources, skip); err != nil {
				return sources, err
			}
		case p.skipped != "":
			skip(p.skipped, p.skipReason)
		default:
			sources = append(sources, p.src)
		}
	}
	return sources, t.err
}

// fileSource describes the regular file at p. follow says whether p may be
// a link: one named on the command line may, one found in a walk may not.
func fileSource(p, name string, info fs.FileInfo, follow bool) Source {
	return Source{
		Name:    name,
		Size:    info.Size(),
		Mode:    info.Mode().Perm(),
		ModTime: info.ModTime(),
		Open:    func() (io.ReadCloser, error) { return openFile(p, follow) },
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
