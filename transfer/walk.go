package transfer

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// Collect lists what sending paths means, before anything is sent, so the
// receiver can be told the totals up front. A regular file is sent under
// its base name; a directory is sent with everything under it, under its
// base name, as scp -r does (a trailing slash changes nothing). A symbolic
// link named in paths is followed, like cp -r and scp; one found inside a
// directory is skipped, as are sockets, pipes and devices, and so are names
// the receiver would refuse: each skip is reported to skip with the path as
// the user wrote it and the reason.
func Collect(paths []string, skip func(path, reason string)) ([]Source, error) {
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
			sources, err = walkDir(sources, p, name, skip)
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

// walkDir appends the directory dir and everything under it, in lexical
// order so parents come before their contents.
func walkDir(sources []Source, dir, name string, skip func(path, reason string)) ([]Source, error) {
	// dir itself may be a link named on the command line; walk where it
	// points, since WalkDir does not follow a link even at its root.
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot send %s: %w", dir, unwrapPath(err))
	}
	err = filepath.WalkDir(real, func(p string, d fs.DirEntry, err error) error {
		rel, rerr := filepath.Rel(real, p)
		if rerr != nil {
			return rerr
		}
		shown := filepath.Join(dir, rel)
		if err != nil {
			return fmt.Errorf("cannot send %s: %w", shown, unwrapPath(err))
		}
		entry := path.Join(name, filepath.ToSlash(rel))
		if d.Type()&(fs.ModeSymlink|fs.ModeType&^fs.ModeDir) != 0 {
			skip(shown, kindName(d.Type()))
			return nil
		}
		if why := nameProblem(entry); why != "" {
			skip(shown, "the receiver would refuse its name: "+why)
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("cannot send %s: %w", shown, unwrapPath(err))
		}
		if d.IsDir() {
			sources = append(sources, Source{Name: entry, Mode: fs.ModeDir | info.Mode().Perm(), ModTime: info.ModTime()})
			return nil
		}
		sources = append(sources, fileSource(p, entry, info, false))
		return nil
	})
	return sources, err
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
