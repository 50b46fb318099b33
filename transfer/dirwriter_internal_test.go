package transfer

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ferry/framing"
)

// TestSmallWriterFailureStopsBigFile has a small file fail in the batch's
// writer (its name appeared after Create, as from another sender), then a
// big file start: the big file's next write must fail with the small
// file's error, rather than the transfer learning of it only after the big
// file. The small file's error names it and --overwrite; nothing of it
// stays, and the file that was there first is untouched.
func TestSmallWriterFailureStopsBigFile(t *testing.T) {
	dir := t.TempDir()
	sink, err := NewDirSink(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	b, err := sink.Begin(framing.Offer{Files: 3, Bytes: framing.UnknownSize})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Create(framing.File{Index: 0, Kind: framing.KindDir, Mode: 0o755, Name: "d"}); err != nil {
		t.Fatal(err)
	}
	small, err := b.Create(framing.File{Index: 1, Kind: framing.KindRegular, Mode: 0o644, Size: 5, Name: "d/small"})
	if err != nil {
		t.Fatal(err)
	}
	// d is new, so Create did not look for d/small: it appears now.
	first := []byte("there first")
	if err := os.WriteFile(filepath.Join(dir, "d", "small"), first, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := small.Write([]byte("small")); err != nil {
		t.Fatal(err)
	}
	if err := small.Commit(); err != nil {
		t.Fatalf("Commit of the small file: %v; the writer reports later", err)
	}
	big, err := b.Create(framing.File{Index: 2, Kind: framing.KindRegular, Mode: 0o644, Size: 2 * smallFile, Name: "d/big"})
	if err != nil {
		t.Fatal(err)
	}
	// Creating the big file handed the small one to the writer; let it
	// finish, as it would while the big file's first chunk arrives.
	written := make(chan struct{})
	go func() {
		b.(*dirBatch).writer.pending.Wait()
		close(written)
	}()
	select {
	case <-written:
	case <-time.After(10 * time.Second):
		t.Fatal("the small file was not handed to the writer when the big file began")
	}
	_, err = big.Write(make([]byte, smallFile))
	if err == nil || !strings.Contains(err.Error(), "d/small already exists") || !strings.Contains(err.Error(), "--overwrite") {
		t.Fatalf("the big file's write = %v, want the small file's refusal", err)
	}
	if code := codeOf(err); code != framing.CodeExists {
		t.Errorf("error %v has code %d, want %d (exists)", err, code, framing.CodeExists)
	}
	big.Discard()
	if err := b.Flush(); err == nil {
		t.Errorf("Flush after the writer failed = nil, want its error")
	}
	b.Close()
	got, err := os.ReadFile(filepath.Join(dir, "d", "small"))
	if err != nil || !bytes.Equal(got, first) {
		t.Errorf("d/small holds %q (%v), want the file that was there first, %q", got, err, first)
	}
	if _, err := os.Lstat(filepath.Join(dir, "d", "big")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("d/big: %v, want it absent", err)
	}
}
