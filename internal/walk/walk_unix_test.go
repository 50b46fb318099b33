//go:build unix

package walk

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFileMode checks that the mode the walk makes of an fstatat is the
// type and permission bits os.Lstat gives: the walk reads its entries'
// modes without os, and tells what to send from what to skip by them.
func TestFileMode(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	if err := os.Mkdir(p("dir"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p("file"), nil, 0o604); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("file", p("link")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(p("pipe"), 0o640); err != nil {
		t.Fatal(err)
	}
	// A socket's path may be no longer than about 100 bytes, which a
	// temporary directory's can pass: bind it by a name within dir.
	t.Chdir(dir)
	l, err := net.Listen("unix", "socket")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	names := []string{"dir", "file", "link", "pipe", "socket"}
	if _, err := os.Stat("/dev/null"); err == nil {
		names = append(names, "/dev/null")
	}
	for _, name := range names {
		path := name
		if !filepath.IsAbs(path) {
			path = p(name)
		}
		info, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			t.Fatal(err)
		}
		want := info.Mode() & (fs.ModeType | fs.ModeCharDevice | fs.ModePerm)
		if got := fileMode(&st); got != want {
			t.Errorf("fileMode(%s) = %v; want %v, as os.Lstat has it", name, got, want)
		}
	}
}

// TestReadableByMode checks which files the walk passes on their mode bits
// alone, without an access check: only those any user of the class the
// reader falls in may read.
func TestReadableByMode(t *testing.T) {
	const owner, other = 1000, 2000
	for _, tc := range []struct {
		name string
		uid  uint32
		mode uint32
		want bool
	}{
		{"root, no bits", 0, 0o000, true},
		{"owner, owner's read bit", owner, 0o400, true},
		{"owner, only the others' read bit", owner, 0o044, false},
		{"another user, group and others may read", other, 0o644, true},
		{"another user, only the others may read", other, 0o604, false},
		{"another user, only the group may read", other, 0o640, false},
		{"another user, only the owner may read", other, 0o600, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := unix.Stat_t{Uid: owner}
			setMode(&st.Mode, unix.S_IFREG|tc.mode)
			if got := readableByMode(&st, tc.uid); got != tc.want {
				t.Errorf("readableByMode(mode %o, uid %d) = %v, want %v", tc.mode, tc.uid, got, tc.want)
			}
		})
	}
}

// setMode sets a Stat_t's mode, which is 16 bits on some systems and 32 on
// others.
func setMode[M uint16 | uint32](m *M, mode uint32) { *m = M(mode) }
