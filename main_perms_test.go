//go:build unix

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// init sets the usual umask, 022, for the whole test binary, whatever the
// shell's: a receiver applies its umask to the modes it is sent, and the
// tests expect those modes as 022 leaves them.
func init() {
	syscall.Umask(0o022)
}

// TestRecvUmask runs recv under umask 027, as the README's service unit
// sets it, with --overwrite into a DIR that has one of the directories
// sent, mode 0700: by default the files and directories it creates get
// the sender's modes less the umask; with --keep-perms, the sender's
// modes as they are. Either way the directory it had is not opened up.
func TestRecvUmask(t *testing.T) {
	sent := []treeNode{
		{path: "open", kind: "dir", mode: 0o777},
		{path: "open/all.txt", data: []byte("world-writable\n"), mode: 0o666},
		{path: "open/big.bin", data: mixedBytes(200 << 10), mode: 0o664},
		{path: "open/sub", kind: "dir", mode: 0o775},
		{path: "open/sub/g.txt", data: []byte("group-writable\n"), mode: 0o664},
		{path: "kept", kind: "dir", mode: 0o777},
		{path: "kept/f.txt", data: []byte("in a directory recv had\n"), mode: 0o644},
	}
	for _, tc := range []struct {
		name  string
		flags []string
		want  map[string]os.FileMode
	}{
		{"default", nil, map[string]os.FileMode{
			"open": 0o750, "open/all.txt": 0o640, "open/big.bin": 0o640, "open/sub": 0o750, "open/sub/g.txt": 0o640,
			"kept": 0o700, "kept/f.txt": 0o640,
		}},
		{"--keep-perms", []string{"--keep-perms"}, map[string]os.FileMode{
			"open": 0o777, "open/all.txt": 0o666, "open/big.bin": 0o664, "open/sub": 0o775, "open/sub/g.txt": 0o664,
			"kept": 0o700, "kept/f.txt": 0o644,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := t.TempDir(), recvDir(t)
			makeTree(t, src, sent)
			if err := os.Mkdir(filepath.Join(dst, "kept"), 0o700); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"-c", `umask 027 && exec "$0" "$@"`, ferryBin, "recv", "--json", "--overwrite"}, tc.flags...)
			recv := startProg(t, "recv", "/bin/sh", nil, dst, nil, nil, append(args, "-l", "127.0.0.1:0", dst)...)
			ev := recv.waitEvent("listening")
			addr, _ := ev["addr"].(string)
			send(t, src, nil, addr, "open", "kept").expect(0)
			recv.expect(0)
			got := snapshot(t, dst)
			if len(got) != len(tc.want) {
				t.Errorf("DIR holds %d entries, want %d", len(got), len(tc.want))
			}
			for name, want := range tc.want {
				e, ok := got[name]
				switch {
				case !ok:
					t.Errorf("%s did not arrive", name)
				case e.mode.Perm() != want:
					t.Errorf("%s has mode %v, want %v", name, e.mode.Perm(), want)
				}
			}
		})
	}
}
