package transfer_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/destdir"
	"github.com/ferrytool/ferry/transfer"
)

// TestLockedDirs receives directories whose modes deny their owner read or
// search permission, as a sender running as root may send them, into a
// DirSink of an ordinary user: with syncfs and without, with few
// directories (each synced on its own) and with many. Each must be opened
// before its mode is set, since it cannot be after. Root passes every
// permission check, so when the tests run as root (as in CI) the test
// runs itself again as the nobody user.
func TestLockedDirs(t *testing.T) {
	if os.Geteuid() == 0 {
		rerunAsNobody(t, t.Name())
		return
	}
	// No t.Parallel: WithoutSyncFS swaps a package variable.
	for _, tc := range []struct {
		name     string
		noSync   bool
		dirs     []string
		existing int // directories DIR has already, merged into with a file each
	}{
		{"few directories", false, []string{"a", "a/blind", "a/locked"}, 0},
		{"few directories, fsync each file", true, []string{"a", "a/blind", "a/locked"}, 0},
		{"many directories", false, []string{"a", "a/blind", "a/locked", "b", "c", "d"}, 0},
		{"many directories, fsync each file", true, []string{"a", "a/blind", "a/locked", "b", "c", "d"}, 0},
		// Enough directories in all for one syncfs, but few made, whose
		// modes Finish sets; and their handles pushed out by the others'.
		{"few made among many existing", false, []string{"a", "a/blind", "a/locked"}, 61},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.noSync {
				transfer.WithoutSyncFS(t)
			}
			modes := map[string]fs.FileMode{"a/locked": 0o300, "a/blind": 0o100}
			sink, dir := newDirSink(t, false)
			writableAtCleanup(t, dir)
			for i := range tc.existing {
				if err := os.Mkdir(filepath.Join(dir, fmt.Sprintf("e%02d", i)), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			b, err := sink.Begin(framing.Offer{Files: uint32(len(tc.dirs) + 2*tc.existing)})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			mtime := time.Unix(1_600_000_000, 0)
			for _, name := range tc.dirs {
				mode, ok := modes[name]
				if !ok {
					mode = 0o755
				}
				d, err := b.Create(destdir.Entry{Dir: true, Mode: mode, ModTime: mtime, Name: name})
				if err != nil {
					t.Fatalf("Create %s: %v", name, err)
				}
				if err := d.Commit(); err != nil {
					t.Fatalf("Commit %s: %v", name, err)
				}
			}
			for i := range tc.existing {
				name := fmt.Sprintf("e%02d", i)
				for _, f := range []destdir.Entry{
					{Dir: true, Mode: 0o755, ModTime: time.Unix(0, 0), Name: name},
					{Mode: 0o644, Size: 1, ModTime: time.Unix(0, 0), Name: name + "/f"},
				} {
					d, err := b.Create(f)
					if err == nil && !f.Dir {
						_, err = d.Write([]byte("x"))
					}
					if err == nil {
						err = d.Commit()
					}
					if err != nil {
						t.Fatalf("%s: %v", f.Name, err)
					}
				}
			}
			if _, err := b.Durable(true); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			if err := b.Finish(false); err != nil {
				t.Fatalf("Finish: %v", err)
			}
			for name, mode := range modes {
				info, err := os.Lstat(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				if info.Mode().Perm() != mode || !info.ModTime().Equal(mtime) {
					t.Errorf("%s: mode %v, time %v; want %v, %v", name, info.Mode().Perm(), info.ModTime(), mode, mtime)
				}
			}
		})
	}
}

// rerunAsNobody runs the test named name (the calling test, or another that
// needs a user whom permissions apply to) alone, in a copy of the test
// binary running as the nobody user (through setpriv), and fails t if it
// does not pass there.
func rerunAsNobody(t *testing.T, name string) {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("this test needs setpriv (util-linux) to run as nobody: %v", err)
		}
		t.Skipf("skipping: needs setpriv (util-linux) to run as nobody: %v", err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The copy sits where nobody can reach it: the test's directory and
	// the one above it are opened up.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "transfer.test")
	if err := copyFile(exe, bin); err != nil {
		t.Fatal(err)
	}
	// Under an emulator (the ARM runs of CI, qemu without binfmt_misc)
	// the binary cannot be started directly; the native run covers this.
	if err := exec.Command(bin, "-test.list=^$").Run(); errors.Is(err, syscall.ENOEXEC) {
		t.Skipf("skipping: the test binary cannot be started directly here (an emulator runs it): %v", err)
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
		bin, "-test.run=^"+name+"$", "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TMPDIR="+os.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+name)) {
		t.Fatalf("%s as nobody: %v\n%s", name, err, out)
	}
}

// TestUnreadableModes receives files whose modes keep their owner from
// reading them (0o200, 0o000), small and big, and more than a flush keeps
// open, into a DirSink that syncs file by file: each must be synced
// without being reopened to read, which its mode forbids. Root passes
// every permission check, so as root (as in CI) the test runs itself again
// as the nobody user.
func TestUnreadableModes(t *testing.T) {
	if os.Geteuid() == 0 {
		rerunAsNobody(t, t.Name())
		return
	}
	// No t.Parallel: WithoutSyncFS swaps a package variable.
	transfer.WithoutSyncFS(t)
	for _, tc := range []struct {
		name  string
		size  int
		files int
	}{
		{"small", 10, 2},
		{"big", 100 << 10, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink, dir := newDirSink(t, false)
			writableAtCleanup(t, dir)
			b, err := sink.Begin(framing.Offer{Files: uint32(tc.files), Bytes: framing.UnknownSize})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			modes := []fs.FileMode{0o200, 0o000}
			for i := range tc.files {
				name := fmt.Sprintf("f%02d", i)
				d, err := b.Create(destdir.Entry{Mode: modes[i%2], ModTime: time.Now(), Size: int64(tc.size), Name: name})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := d.Write(bytes.Repeat([]byte("x"), tc.size)); err != nil {
					t.Fatal(err)
				}
				if err := d.Commit(); err != nil {
					t.Fatalf("Commit %s: %v", name, err)
				}
			}
			if _, err := b.Durable(true); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			if err := b.Finish(false); err != nil {
				t.Fatal(err)
			}
			for i := range tc.files {
				info, err := os.Lstat(filepath.Join(dir, fmt.Sprintf("f%02d", i)))
				if err != nil || info.Mode().Perm() != modes[i%2] || info.Size() != int64(tc.size) {
					t.Errorf("f%02d: %v, %v; want mode %v and %d bytes", i, info, err, modes[i%2], tc.size)
				}
			}
		})
	}
}

// TestSendTreeAsNobody runs TestSendTreeInProcess as the nobody user when
// the tests run as root (as in CI): its read-only file, closed early in a
// big flush, must be reopened to be synced, which only a receiver that
// permissions apply to can get wrong.
func TestSendTreeAsNobody(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: not root, so TestSendTreeInProcess itself runs as a user whom permissions apply to")
	}
	rerunAsNobody(t, "TestSendTreeInProcess")
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		_ = dst.Close()
		return fmt.Errorf("copying %s: %w", from, err)
	}
	return dst.Close()
}
