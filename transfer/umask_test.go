//go:build unix

package transfer_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/ferrytool/ferry/transfer"
)

// init sets the usual umask, 022, for the whole test binary, whatever the
// shell's: a receiver applies its umask to the modes it is sent, and the
// tests expect those modes as 022 leaves them.
func init() {
	syscall.Umask(0o022)
}

// TestReceiverUmask sends trees to a DirSink while the process's umask is
// 027: by default every file and directory the receiver creates gets the
// sender's permission bits less the umask, small files and big ones alike,
// and also after a failed transfer; with --keep-perms it gets the sender's
// bits as they are. A directory the receiver had already, merged into with
// --overwrite, takes the sender's time and may lose bits, never gain one,
// and keeps its setgid bit. Not parallel: the umask is the process's.
func TestReceiverUmask(t *testing.T) {
	old := syscall.Umask(0o027)
	t.Cleanup(func() { syscall.Umask(old) })
	big := textBytes(100 << 10) // past smallFile: written as it arrives
	sent := []srcNode{
		{path: "t", dir: true, mode: 0o777},
		{path: "t/big", data: big, mode: 0o666},
		{path: "t/small", data: textBytes(10), mode: 0o666},
		{path: "t/sub", dir: true, mode: 0o751},
		{path: "t/sub/x", data: textBytes(20), mode: 0o604},
		{path: "t/z", data: textBytes(30), mode: 0o640},
	}
	tests := []struct {
		name      string
		keepPerms bool
		overwrite bool
		existing  map[string]fs.FileMode // directories DIR has before the transfer
		fail      bool                   // the sender fails at t/z, the last entry
		want      map[string]fs.FileMode // what DIR holds after it, by path
		sameTime  []string               // directories given the sender's time
	}{
		{name: "default", want: map[string]fs.FileMode{
			"t": 0o750, "t/big": 0o640, "t/small": 0o640, "t/sub": 0o750, "t/sub/x": 0o600, "t/z": 0o640,
		}, sameTime: []string{"t", "t/sub"}},
		{name: "keep-perms", keepPerms: true, want: map[string]fs.FileMode{
			"t": 0o777, "t/big": 0o666, "t/small": 0o666, "t/sub": 0o751, "t/sub/x": 0o604, "t/z": 0o640,
		}, sameTime: []string{"t", "t/sub"}},
		{name: "failed transfer", fail: true, want: map[string]fs.FileMode{
			"t": 0o750, "t/big": 0o640, "t/small": 0o640, "t/sub": 0o750, "t/sub/x": 0o600,
		}, sameTime: []string{"t", "t/sub"}},
		// With --overwrite the files are written as they arrive, not
		// gathered: both ways of writing them are covered.
		{name: "overwrite, existing directories", overwrite: true,
			existing: map[string]fs.FileMode{"t": 0o700, "t/sub": 0o775 | fs.ModeSetgid},
			want: map[string]fs.FileMode{
				"t": 0o700, "t/big": 0o640, "t/small": 0o640, "t/sub": 0o750 | fs.ModeSetgid, "t/sub/x": 0o600, "t/z": 0o640,
			}, sameTime: []string{"t", "t/sub"}},
		{name: "overwrite, existing directories, keep-perms", overwrite: true, keepPerms: true,
			existing: map[string]fs.FileMode{"t": 0o700, "t/sub": 0o775},
			want: map[string]fs.FileMode{
				"t": 0o700, "t/big": 0o666, "t/small": 0o666, "t/sub": 0o751, "t/sub/x": 0o604, "t/z": 0o640,
			}, sameTime: []string{"t", "t/sub"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := t.TempDir()
			buildTree(t, src, sent, treeEpoch)
			sink, dir := newDirSink(t, tt.overwrite)
			sink.SetKeepPerms(tt.keepPerms)
			for _, p := range []string{"t", "t/sub"} {
				mode, ok := tt.existing[p]
				if !ok {
					continue
				}
				full := filepath.Join(dir, filepath.FromSlash(p))
				if err := os.Mkdir(full, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(full, mode); err != nil { // past the umask
					t.Fatal(err)
				}
			}
			srcs := collectAll(t, filepath.Join(src, "t"))
			if tt.fail {
				failNow := make(chan struct{})
				close(failNow)
				srcs = failLast(t, srcs, "t/z", failNow)
			}
			o := run(t, srcs, sink, transfer.Options{}, transfer.Options{})
			if failed := o.sendErr != nil || o.recvErr != nil; failed != tt.fail {
				t.Fatalf("send: %v; receive: %v", o.sendErr, o.recvErr)
			}
			var got []string
			for _, p := range tree(t, dir) {
				got = append(got, filepath.ToSlash(filepath.Clean(p)))
			}
			if len(got) != len(tt.want) {
				t.Errorf("DIR holds %q, want the %d entries %v", got, len(tt.want), tt.want)
			}
			for p, want := range tt.want {
				info, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(p)))
				if err != nil {
					t.Error(err)
					continue
				}
				if mode := info.Mode() & (fs.ModePerm | fs.ModeSetgid); mode != want {
					t.Errorf("%s has mode %v, want %v", p, mode, want)
				}
			}
			for _, p := range tt.sameTime {
				if _, same := dirAttrs(t, filepath.Join(dir, p), filepath.Join(src, p)); !same {
					t.Errorf("%s does not have the sender's mtime", p)
				}
			}
		})
	}
}
