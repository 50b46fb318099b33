package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ferrytool/ferry/transfer"
)

// interrupted sends data as name, from a file in a directory of its own
// with the mtime given, into sink, and cancels the sending side (or the
// receiving side, with recvSide) once about half of it has gone: what an
// interrupted transfer leaves the receiver.
func interrupted(t *testing.T, sink transfer.Sink, src transfer.Source, size int64, recvSide bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	half := func(p transfer.Progress) {
		if p.Bytes >= size/2 {
			cancel()
		}
	}
	sendOpts, recvOpts := transfer.Options{Progress: half}, transfer.Options{}
	sendCtx, recvCtx := ctx, t.Context()
	if recvSide {
		sendOpts, recvOpts = transfer.Options{}, transfer.Options{Progress: half}
		sendCtx, recvCtx = t.Context(), ctx
	}
	ln := listen(t)
	recvErr := receiveOne(t, recvCtx, ln, sink, recvOpts)
	_, sendErr := transfer.Send(sendCtx, dial(t, ln.Addr()), []transfer.Source{src}, sendOpts)
	if rerr := await(t, recvErr, "Receive"); sendErr == nil || rerr == nil {
		t.Fatalf("the interrupted transfer: Send = %v, Receive = %v; want both to fail", sendErr, rerr)
	}
}

// TestResume interrupts a transfer of a big file at about half, on either
// side, then sends the same file again into the same directory: it
// arrives whole and byte-identical, and only about the half that had not
// arrived moves again.
func TestResume(t *testing.T) {
	for _, side := range []string{"sender", "receiver"} {
		t.Run("interrupted "+side, func(t *testing.T) {
			const size = 48 << 20
			data := randomBytes(size, 17)
			src := writeSource(t, "big.bin", data, 0o644, time.Unix(1_700_000_000, 0))
			sink, dir := newDirSink(t, false)
			interrupted(t, sink, src, size, side == "receiver")
			if _, err := os.Lstat(filepath.Join(dir, "big.bin")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("big.bin after the interrupted transfer: %v, want it not there", err)
			}
			o := run(t, []transfer.Source{src}, sink, transfer.Options{}, transfer.Options{})
			if o.sendErr != nil || o.recvErr != nil {
				t.Fatalf("the second transfer: Send = %v, Serve = %v", o.sendErr, o.recvErr)
			}
			checkFile(t, dir, "big.bin", data, 0o644, src.ModTime)
			for who, s := range map[string]transfer.Summary{"sender": o.sendSum, "receiver": o.recvSum} {
				if s.Resumed != 1 || s.Reused < size/4 || s.Bytes+s.Reused != size || s.Bytes > size*3/4 {
					t.Errorf("%s's summary %+v: want 1 file resumed, about half of %d bytes moved", who, s, size)
				}
			}
			if got := o.sendDone; len(got) != 1 || got[0].ResumedFrom != o.sendSum.Reused || got[0].Checksum != checksum(data) {
				t.Errorf("sender reported %+v, want big.bin resumed from %d, with the whole file's checksum", got, o.sendSum.Reused)
			}
		})
	}
}

// TestResumeRefused: what would resume does not when it must not: with
// NoResume on the sender, when the source changed between the tries, and
// when the partial data changed on the receiver's disk. Each time the file
// arrives whole and right, and moves whole.
func TestResumeRefused(t *testing.T) {
	const size = 16 << 20
	tests := []struct {
		name      string
		noResume  bool
		touch     bool // the source gets another mtime before the retry
		alter     bool // the partial data is changed on the receiver's disk
		restarted bool // both sides say the partial copy differed
	}{
		{name: "sender says no resume", noResume: true},
		{name: "source changed", touch: true},
		{name: "partial data altered", alter: true, restarted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := randomBytes(size, 23)
			src := writeSource(t, "f.bin", data, 0o600, time.Unix(1_700_000_000, 0))
			sink, dir := newDirSink(t, false)
			interrupted(t, sink, src, size, false)
			if tt.touch {
				src.ModTime = src.ModTime.Add(time.Second)
			}
			if tt.alter {
				parts, err := filepath.Glob(filepath.Join(dir, ".ferry-partial", "*"))
				if err != nil || len(parts) != 1 {
					t.Fatalf("partial files %q, %v; want one", parts, err)
				}
				f, err := os.OpenFile(parts[0], os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.WriteAt([]byte("changed"), 100); err != nil {
					t.Fatal(err)
				}
				f.Close()
			}
			o := run(t, []transfer.Source{src}, sink, transfer.Options{NoResume: tt.noResume}, transfer.Options{})
			if o.sendErr != nil || o.recvErr != nil {
				t.Fatalf("Send = %v, Serve = %v", o.sendErr, o.recvErr)
			}
			checkFile(t, dir, "f.bin", data, 0o600, src.ModTime)
			if o.sendSum.Resumed != 0 || o.sendSum.Bytes != size || o.recvSum.Bytes != size {
				t.Errorf("summaries %+v, %+v: want the file sent whole", o.sendSum, o.recvSum)
			}
			restarted := len(o.sendDone) == 1 && o.sendDone[0].Restarted && len(o.recvDone) == 1 && o.recvDone[0].Restarted
			if restarted != tt.restarted {
				t.Errorf("reported %+v and %+v: restarted on both sides %v, want %v", o.sendDone, o.recvDone, restarted, tt.restarted)
			}
		})
	}
}

// TestSkipArrived sends a tree, then sends it again with one file changed
// and one new: the files that arrived are skipped, not sent; the changed
// one is refused without overwriting, and the others still arrive; with
// overwriting it is sent.
func TestSkipArrived(t *testing.T) {
	for _, overwrite := range []bool{false, true} {
		t.Run(map[bool]string{false: "refused", true: "overwritten"}[overwrite], func(t *testing.T) {
			root := t.TempDir()
			files := map[string][]byte{"t/a.txt": []byte("alpha"), "t/b.bin": randomBytes(200<<10, 3), "t/sub/c.txt": []byte("charlie")}
			for name, data := range files {
				p := filepath.Join(root, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			sink, dir := newDirSink(t, overwrite)
			if o := run(t, collectAll(t, filepath.Join(root, "t")), sink, transfer.Options{}, transfer.Options{}); o.sendErr != nil || o.recvErr != nil {
				t.Fatalf("first transfer: %v, %v", o.sendErr, o.recvErr)
			}
			changed := []byte("ALPHA")
			if err := os.WriteFile(filepath.Join(root, "t", "a.txt"), changed, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, "t", "new.txt"), []byte("new"), 0o644); err != nil {
				t.Fatal(err)
			}
			o := run(t, collectAll(t, filepath.Join(root, "t")), sink, transfer.Options{}, transfer.Options{})
			var skipped []string
			for _, r := range o.sendDone {
				if r.Skipped == transfer.SkippedHeld {
					skipped = append(skipped, r.Name)
				}
			}
			slices.Sort(skipped)
			if want := []string{"t/b.bin", "t/sub/c.txt"}; !slices.Equal(skipped, want) || o.sendSum.Skipped != 2 || o.recvSum.Skipped != 2 {
				t.Errorf("skipped %q (summaries %+v, %+v), want %q", skipped, o.sendSum, o.recvSum, want)
			}
			if o.sendSum.Bytes > int64(len(changed)+len("new")) {
				t.Errorf("sent %d bytes, want only the changed and the new file's", o.sendSum.Bytes)
			}
			got, err := os.ReadFile(filepath.Join(dir, "t", "new.txt"))
			if err != nil || string(got) != "new" {
				t.Errorf("t/new.txt = %q, %v; want it to arrive whatever became of t/a.txt", got, err)
			}
			a, _ := os.ReadFile(filepath.Join(dir, "t", "a.txt"))
			if overwrite {
				if o.sendErr != nil || !bytes.Equal(a, changed) {
					t.Errorf("with overwriting: Send = %v, t/a.txt = %q; want it replaced", o.sendErr, a)
				}
				return
			}
			var e *transfer.Error
			if !errors.Is(o.sendErr, transfer.ErrRefused) || !errors.As(o.sendErr, &e) || len(o.sendSum.Refused) != 1 || !errors.Is(o.recvErr, transfer.ErrRefused) {
				t.Errorf("Send = %v (refused %q), Serve = %v; want both to fail with ErrRefused for t/a.txt", o.sendErr, o.sendSum.Refused, o.recvErr)
			}
			if !bytes.Equal(a, files["t/a.txt"]) {
				t.Errorf("t/a.txt = %q, want it kept", a)
			}
		})
	}
}
