package transfer

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"ferry/framing"
)

// Sink is where a receiver puts what arrives. A Sink may serve several
// connections at once.
type Sink interface {
	// Accept decides, before any file, whether the offered transfer can be
	// taken at all.
	Accept(o framing.Offer) error
	// Create opens a destination for f. Nothing may appear under f's final
	// name before the destination's Commit.
	Create(f framing.File) (Destination, error)
}

// Destination receives one file's bytes.
type Destination interface {
	io.Writer
	// Commit makes the file durable and puts it under its final name.
	Commit() error
	// Discard removes whatever was written. Safe to call after Commit, when
	// it does nothing, and more than once.
	Discard()
}

// DirSink writes files into a directory. Names are resolved inside the
// directory with os.Root, so no name, symlink or ".." can reach outside it.
type DirSink struct {
	root      *os.Root
	overwrite bool
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
	_ = root.Remove(probeName)
	return &DirSink{root: root, overwrite: overwrite}, nil
}

// Close releases the directory.
func (d *DirSink) Close() error {
	return d.root.Close()
}

// Accept takes any offer; the checks are per file.
func (d *DirSink) Accept(framing.Offer) error {
	return nil
}

// Create checks f's name and opens a temporary file next to where f will
// land.
func (d *DirSink) Create(f framing.File) (Destination, error) {
	if f.Kind != framing.KindRegular {
		return nil, withCode(framing.CodeUnsupported, fmt.Errorf("%s: only regular files are supported", Quote(f.Name)))
	}
	if err := CheckName(f.Name); err != nil {
		return nil, withCode(framing.CodeBadName, err)
	}
	if !d.overwrite {
		if _, err := d.root.Lstat(f.Name); err == nil {
			return nil, existsError(f.Name)
		}
	}
	dir := path.Dir(f.Name)
	if dir != "." {
		if err := d.root.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("cannot create directory %s: %w", Quote(dir), unwrapPath(err))
		}
	}
	tmp := path.Join(dir, tempName(path.Base(f.Name)))
	file, err := d.root.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", Quote(f.Name), unwrapPath(err))
	}
	return &dirDest{sink: d, file: file, tmp: tmp, hdr: f}, nil
}

func existsError(name string) error {
	return withCode(framing.CodeExists, fmt.Errorf("%s already exists on the receiver (use --overwrite to replace it)", Quote(name)))
}

// tempName is the hidden name a file has while it arrives.
func tempName(base string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return ".ferry-" + hex.EncodeToString(b[:]) + "-" + truncate(base, 64) + ".part"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

type dirDest struct {
	sink *DirSink
	file *os.File
	tmp  string
	hdr  framing.File
	done bool
}

func (d *dirDest) Write(p []byte) (int, error) {
	n, err := d.file.Write(p)
	if err != nil {
		err = fmt.Errorf("writing %s: %w", Quote(d.hdr.Name), unwrapPath(err))
	}
	return n, err
}

// Commit syncs the temporary file, gives it the sender's mode and mtime,
// renames it into place, and syncs the directory so the rename survives a
// crash. Without --overwrite the rename must not replace a file that
// appeared meanwhile, so it is a hard link, which fails if the name exists.
func (d *dirDest) Commit() error {
	name := d.hdr.Name
	if err := d.file.Chmod(fs.FileMode(d.hdr.Mode) & fs.ModePerm); err != nil {
		return fmt.Errorf("setting the mode of %s: %w", Quote(name), unwrapPath(err))
	}
	if err := d.file.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", Quote(name), unwrapPath(err))
	}
	if err := d.file.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", Quote(name), unwrapPath(err))
	}
	mtime := time.Unix(0, d.hdr.ModTime)
	if err := d.sink.root.Chtimes(d.tmp, mtime, mtime); err != nil {
		return fmt.Errorf("setting the time of %s: %w", Quote(name), unwrapPath(err))
	}
	root := d.sink.root
	if d.sink.overwrite {
		if err := root.Rename(d.tmp, name); err != nil {
			return fmt.Errorf("renaming into %s: %w", Quote(name), unwrapPath(err))
		}
	} else {
		err := root.Link(d.tmp, name)
		switch {
		case errors.Is(err, fs.ErrExist):
			return existsError(name)
		case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.ENOTSUP), errors.Is(err, syscall.EMLINK), errors.Is(err, syscall.EXDEV):
			// No hard links here (FAT, some network file systems): check
			// and rename, which leaves a small window for a race.
			if _, serr := root.Lstat(name); serr == nil {
				return existsError(name)
			}
			if err := root.Rename(d.tmp, name); err != nil {
				return fmt.Errorf("renaming into %s: %w", Quote(name), unwrapPath(err))
			}
		case err != nil:
			return fmt.Errorf("linking into %s: %w", Quote(name), unwrapPath(err))
		default:
			_ = root.Remove(d.tmp)
		}
	}
	d.done = true
	if dir, err := root.Open(path.Dir(name)); err == nil {
		_ = dir.Sync()
		_ = dir.Close()
	}
	return nil
}

func (d *dirDest) Discard() {
	if d.done {
		return
	}
	d.done = true
	_ = d.file.Close()
	_ = d.sink.root.Remove(d.tmp)
}

// StreamSink writes the data of exactly one file to a writer, such as
// stdout. The bytes reach the writer as they arrive, so a checksum mismatch
// is reported after the fact.
type StreamSink struct {
	w io.Writer
}

// NewStreamSink returns a Sink that writes to w.
func NewStreamSink(w io.Writer) *StreamSink {
	return &StreamSink{w: w}
}

// Accept refuses more than one file: concatenated files could not be told
// apart on the other end.
func (s *StreamSink) Accept(o framing.Offer) error {
	if o.Files != 1 {
		return withCode(framing.CodeUnsupported, fmt.Errorf("the receiver writes to stdout and takes one file, not %d: send them to a directory instead", o.Files))
	}
	return nil
}

// Create returns a destination that writes to the sink's writer.
func (s *StreamSink) Create(framing.File) (Destination, error) {
	return streamDest{s.w}, nil
}

type streamDest struct{ w io.Writer }

func (d streamDest) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	if err != nil {
		err = fmt.Errorf("writing to stdout: %w", err)
	}
	return n, err
}

// Commit syncs the writer when it is a file; pipes and terminals cannot be
// synced and need not be.
func (d streamDest) Commit() error {
	f, ok := d.w.(*os.File)
	if !ok {
		return nil
	}
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) && !errors.Is(err, syscall.EROFS) {
		return fmt.Errorf("syncing stdout: %w", err)
	}
	return nil
}

func (streamDest) Discard() {}

// CheckName reports whether name is acceptable as a relative path under
// the receiving directory: slash-separated, no empty, "." or ".." elements,
// no backslashes, drive letters or control characters, and each element at
// most 255 bytes.
func CheckName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("refusing file name %s: %s", Quote(name), why)
	}
	if name == "" {
		return bad("empty")
	}
	if strings.HasPrefix(name, "/") {
		return bad("absolute path")
	}
	if len(name) >= 2 && name[1] == ':' {
		return bad("drive letter")
	}
	for i, r := range name {
		switch {
		case r == '\\':
			return bad("backslash")
		case r == utf8.RuneError && !strings.HasPrefix(name[i:], "\uFFFD"), unicode.IsControl(r):
			return bad("control or invalid character")
		}
	}
	for _, elem := range strings.Split(name, "/") {
		switch {
		case elem == "", elem == ".":
			return bad("empty or '.' element")
		case elem == "..":
			return bad("'..' element")
		case len(elem) > 255:
			return bad("element longer than 255 bytes")
		case strings.HasPrefix(elem, ".ferry-") && strings.HasSuffix(elem, ".part"):
			return bad("reserved for ferry's temporary files")
		}
	}
	return nil
}

// Quote returns name with control characters and invalid UTF-8 escaped, so
// printing a name from the network cannot drive the terminal.
func Quote(name string) string {
	var b strings.Builder
	for i, r := range name {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(name[i:], "\uFFFD"):
			fmt.Fprintf(&b, `\x%02x`, name[i])
		case unicode.IsControl(r), r == '\u2028', r == '\u2029', unicode.Is(unicode.Bidi_Control, r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
