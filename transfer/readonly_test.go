package transfer_test

// Read-only files must survive the file-by-file sync. Root may open any
// file for writing, so the case only bites a receiver that is not root; to
// run it as one:
//
//	go test -c -o /tmp/transfer.test ./transfer && mkdir -p /tmp/u && chmod 1777 /tmp/u &&
//	cd /tmp/u && TMPDIR=/tmp/u setpriv --reuid=65534 --regid=65534 --clear-groups \
//	    /tmp/transfer.test -test.run TestReadOnlyFilesFsyncEach -test.v

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"

	"ferry/transfer"
)

// TestReadOnlyFilesFsyncEach sends 20 small read-only (0o444) files in one
// flush to a receiver that syncs file by file, as on every system without
// syncfs (macOS among them). Commit closes the files queued beyond the
// first 16 after giving them their mode, and sync must reopen them in a way
// a 0o444 file allows.
func TestReadOnlyFilesFsyncEach(t *testing.T) {
	// No t.Parallel: WithoutSyncFS swaps a package variable.
	tests := []struct {
		name     string
		noSyncFS bool
	}{
		{"default sync", false},
		{"fsync each file", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.noSyncFS {
				transfer.WithoutSyncFS(t)
			}
			src := t.TempDir()
			nodes := []srcNode{{path: "ro", dir: true, mode: 0o755}}
			for i := range 20 {
				nodes = append(nodes, srcNode{path: fmt.Sprintf("ro/f%02d", i), data: textBytes(100 + i), mode: fs.FileMode(0o444)})
			}
			buildTree(t, src, nodes, treeEpoch)
			sink, dir := newDirSink(t, false)
			o := run(t, collectAll(t, filepath.Join(src, "ro")), sink, transfer.Options{}, transfer.Options{})
			if o.sendErr != nil || o.recvErr != nil {
				t.Fatalf("send: %v; receive: %v", o.sendErr, o.recvErr)
			}
			checkReceived(t, src, dir)
			noTempFiles(t, dir)
		})
	}
}
