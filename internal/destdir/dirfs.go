package destdir

import (
	"errors"
	"io"
	"io/fs"
	"syscall"
	"time"
)

// dirFS is one directory of the destination, opened once per transfer, and
// the operations a file arriving in it needs, each on a name directly in it.
// openDir picks the implementation: system calls on the directory's
// descriptor where the system has them (dirfs_unix.go), os.Root elsewhere.
type dirFS interface {
	// lstat describes name without following a link.
	lstat(name string) (entry, error)
	// mkdir makes the directory name, private (mode 0700).
	mkdir(name string) error
	// create makes name, which must not exist, for writing, with the
	// permission bits perm less the umask.
	create(name string, perm fs.FileMode) (destFile, error)
	// open opens the existing file name to sync it.
	open(name string) (destFile, error)
	// openRead opens the existing file name, not a link, for reading.
	openRead(name string) (io.ReadCloser, error)
	// sub opens the directory name in it, not a link.
	sub(name string) (dirFS, error)
	// chtimes sets name's access and modification times to t.
	chtimes(name string, t time.Time) error
	// rename moves from to to, replacing to.
	rename(from, to string) error
	// renameNoReplace moves from to to, failing with fs.ErrExist if to
	// exists; errors.ErrUnsupported where it cannot be done atomically.
	renameNoReplace(from, to string) error
	// link makes to a hard link of from.
	link(from, to string) error
	// remove removes the file name.
	remove(name string) error
	// chmod sets the directory's own permission bits.
	chmod(mode fs.FileMode) error
	// narrow clears the directory's own permission bits that perm lacks,
	// and keeps the rest, setgid and sticky included: it adds none.
	narrow(perm fs.FileMode) error
	// sync makes the directory's entries durable.
	sync() error
	close() error
}

// entry is what lstat tells of a name in a directory.
type entry struct {
	exists, isDir, isLink, isRegular bool
	size                             int64  // a regular file's
	dev                              uint64 // its file system's device (see fileDev)
}

// errNotRealDir is a directory the batch checked that has since been
// replaced by a link or a file.
var errNotRealDir = errors.New("replaced by a link or a file since it was checked")

// destFile is a file being received: an *os.File, or on Unix a bare
// descriptor, which saves the system calls os.File spends on each open.
type destFile interface {
	io.Writer
	Chmod(mode fs.FileMode) error
	Sync() error
	Close() error
}

// setTimes sets the access and modification times of f, open as name in
// dir, to t: through its descriptor where the system can, which spares a
// lookup of the name per file, else by name.
func setTimes(dir dirFS, f destFile, name string, t time.Time) error {
	if tf, ok := f.(interface{ Chtimes(time.Time) error }); ok {
		if err := tf.Chtimes(t); !errors.Is(err, errors.ErrUnsupported) {
			return err
		}
	}
	return dir.chtimes(name, t)
}

// ignoreUnsyncable drops the errors of what cannot be synced and need not
// be: a directory on some systems and file systems, a pipe, a terminal,
// /dev/null.
func ignoreUnsyncable(err error) error {
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EROFS) {
		return nil
	}
	return err
}
