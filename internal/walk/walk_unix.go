//go:build unix

package walk

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferrytool/ferry/internal/fdfile"
)

// walkRoot is the top directory of a walk, through which the files found
// below it are opened when they are sent: each directory on the way is
// opened in its parent's descriptor without following a link, so one
// replaced by a link since the walk cannot lead out of the tree, and each
// file must be the one the walk listed. The descriptors of the way to the
// last file opened are kept for the next, which is most often in the same
// directory: a file then costs an open, an fstat and a close besides its
// reads.
type walkRoot struct {
	path   string // the top directory, its links resolved once for the walk
	name   string // the name it arrives under, for errors
	id     fileID
	shared *walkShared
	n      int // which of the walk's top directories it is
}

// walkShared is what the roots of one walk share: the descriptors kept
// from one file opened to the next. Files are opened in the order they
// were found, so a root whose files are all opened is left for the next
// for good, and a walk of many directories holds the descriptors of one.
type walkShared struct {
	dirs *openDirs
}

// openDirs is the way to the directory the last file was opened in: a
// descriptor of its top directory, then one of each directory below it.
type openDirs struct {
	mu    sync.Mutex
	root  int      // the walkRoot.n the descriptors are of
	fds   []int    // empty when nothing is open
	names []string // the names of the directories of fds[1:]
	dir   string   // names joined by "/": the directory of fds' last
}

func newWalkShared() *walkShared {
	s := &walkShared{dirs: &openDirs{}}
	// For entries dropped before the walk's last file was opened (see
	// walker.finish), such as those of a failed transfer.
	runtime.AddCleanup(s, (*openDirs).close, s.dirs)
	return s
}

// release closes the descriptors kept for the next file.
func (s *walkShared) release() { s.dirs.close() }

func newWalkRoot(path, name string, id fileID, shared *walkShared, n int) *walkRoot {
	return &walkRoot{path: path, name: name, id: id, shared: shared, n: n}
}

// open opens the file base in the directory dir below the top, which
// must be the file want identifies.
func (r *walkRoot) open(dir, base string, want fileID) (io.ReadCloser, error) {
	d := r.shared.dirs
	d.mu.Lock()
	defer d.mu.Unlock()
	dirfd, err := r.enter(d, dir)
	if err != nil {
		return nil, err
	}
	f, err := openAt(dirfd, base, false, want)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// enter returns the descriptor of the directory dir below the top,
// opening what it must of the way there and closing what it leaves.
func (r *walkRoot) enter(d *openDirs, dir string) (int, error) {
	if len(d.fds) > 0 && d.root == r.n && d.dir == dir {
		return d.fds[len(d.fds)-1], nil
	}
	if len(d.fds) > 0 && d.root != r.n {
		d.closeLocked()
	}
	if len(d.fds) == 0 {
		fd, err := openDirAt(unix.AT_FDCWD, r.path)
		if err == nil {
			if err = checkID(fd, r.path, r.id); err != nil {
				_ = unix.Close(fd)
			}
		}
		if err != nil {
			return -1, r.dirErr("", err)
		}
		d.fds, d.names, d.root = append(d.fds, fd), d.names[:0], r.n
	}
	var names []string
	if dir != "" {
		names = strings.Split(dir, "/")
	}
	keep := 0
	for keep < len(names) && keep < len(d.names) && names[keep] == d.names[keep] {
		keep++
	}
	for _, fd := range d.fds[keep+1:] {
		_ = unix.Close(fd)
	}
	d.fds, d.names = d.fds[:keep+1], d.names[:keep]
	for i := keep; i < len(names); i++ {
		fd, err := openDirAt(d.fds[i], names[i])
		if err != nil {
			d.closeLocked()
			return -1, r.dirErr(strings.Join(names[:i+1], "/"), err)
		}
		d.fds, d.names = append(d.fds, fd), append(d.names, names[i])
	}
	d.dir = dir
	return d.fds[len(d.fds)-1], nil
}

// dirErr is the error for a directory, rel below the top, that could not
// be opened on the way to a file.
func (r *walkRoot) dirErr(rel string, err error) error {
	name := r.name
	if rel != "" {
		name += "/" + rel
	}
	if errors.Is(err, errReplaced) {
		return fmt.Errorf("%s was %w", name, errReplaced)
	}
	return &fs.PathError{Op: "open", Path: name, Err: err}
}

func (d *openDirs) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closeLocked()
}

func (d *openDirs) closeLocked() {
	for _, fd := range d.fds {
		_ = unix.Close(fd)
	}
	d.fds, d.names, d.dir = d.fds[:0], d.names[:0], ""
}

// openDirAt opens the directory name in dirfd without following a link.
// A link or a file in its place, where the walk listed a directory, is
// errReplaced.
func openDirAt(dirfd int, name string) (int, error) {
	var fd int
	err := fdfile.Retry(func() (err error) {
		fd, err = unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		return err
	})
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return -1, errReplaced
	}
	return fd, err
}

// dirList is a directory being walked: its entries' names in lexical
// order, a part at a time, and its descriptor, in which each entry is
// looked at when its turn comes.
type dirList struct {
	listing
	fd   int
	path string
	st   unix.Stat_t // of the entry stat looked at last
}

// listDir lists the directory at path, which must be the one want
// identifies: that its parent listed.
func listDir(path string, want fileID) (*dirList, error) {
	fd, err := openDirAt(unix.AT_FDCWD, path)
	if errors.Is(err, errReplaced) {
		return nil, err
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path) // for its ReadDir
	if err := checkID(fd, path, want); err != nil {
		_ = f.Close()
		return nil, err
	}
	l, err := list(f)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &dirList{listing: l, fd: fd, path: path}, nil
}

// stat is what an lstat of entry i in the directory finds.
func (d *dirList) stat(i int) (entryInfo, error) {
	name := d.names[i]
	if err := fdfile.Retry(func() error { return unix.Fstatat(d.fd, name, &d.st, unix.AT_SYMLINK_NOFOLLOW) }); err != nil {
		return entryInfo{}, &fs.PathError{Op: "lstat", Path: filepath.Join(d.path, name), Err: err}
	}
	return entryInfo{mode: fileMode(&d.st), size: d.st.Size, mtime: time.Unix(d.st.Mtim.Unix()), id: statID(&d.st)}, nil
}

// denied is the permission error reading entry i, a regular file that
// stat looked at last, would meet, or nil.
func (d *dirList) denied(i int) error {
	if readableByMode(&d.st, euid) {
		return nil
	}
	return deniedAt(d.fd, d.names[i])
}

func (d *dirList) close() { _ = d.f.Close() }

// euid is the user the walk reads files as.
var euid = uint32(os.Geteuid())

// readableByMode says whether st's mode bits let the user uid read the
// file whichever class of user it falls in: root, or its owner with the
// owner's read bit, or anyone else with both the group's and the others'.
// Most files pass, and cost the walk nothing more than the fstatat it
// made; the rest get an access check, which knows the process's groups
// and an ACL that grants more than the bits.
func readableByMode(st *unix.Stat_t, uid uint32) bool {
	switch {
	case uid == 0:
		return true
	case st.Uid == uid:
		return st.Mode&0o400 != 0
	}
	return st.Mode&0o044 == 0o044
}

// deniedAt is the permission error opening the file name in dirfd to read
// it would meet, or nil: found in the walk, before the sender connects, a
// file it cannot read does not end a transfer, and spend the receiver's
// code, once the data flows. Other failures are left to the open.
func deniedAt(dirfd int, name string) error {
	err := fdfile.Retry(func() error { return unix.Faccessat(dirfd, name, unix.R_OK, 0) })
	if errors.Is(err, fs.ErrPermission) {
		return err
	}
	return nil
}

// denied is deniedAt for a file named on the command line.
func denied(path string) error {
	return deniedAt(unix.AT_FDCWD, path)
}

// fileMode is the type and permission bits of st, as os would give them;
// the walk uses no other bits.
func fileMode(st *unix.Stat_t) fs.FileMode {
	mode := fs.FileMode(st.Mode & 0o777)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	}
	return mode
}
