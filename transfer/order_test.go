package transfer_test

// Tests of the order entries travel in: the receiver refuses entries out
// of tree order, which lets it keep state only for the directories on the
// current path; the sender puts what it is given in that order; and a
// receiver whose disk is slower than the entries arrive stops reading
// rather than holding them.

import (
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/transfer"
)

// TestEntriesOutOfOrder sends entries, with a client that writes the
// frames itself, in orders a sender must not use: the receiver refuses the
// first entry out of order, naming it and the one before, with error code
// 8, and keeps the entries before it. The control, in tree order, holds
// names that plain byte order would sort otherwise.
func TestEntriesOutOfOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		entries []entry
		after   []string // what DIR holds afterwards
	}{
		{name: "control: a directory's contents before the names that extend its own",
			entries: []entry{directory("a"), regular("a/c", "1"), regular("a-b", "2"), regular("a.txt", "3"), regular("ab", "4")},
			after:   []string{"a/", "a/c", "a-b", "a.txt", "ab"}},
		{name: "siblings", entries: []entry{regular("b", "1"), regular("a", "2")},
			after: []string{"b"}},
		{name: "a directory after its contents", entries: []entry{regular("d/f", "1"), directory("d")},
			after: []string{"d/", "d/f"}},
		{name: "a name that extends a directory's, before its contents", entries: []entry{regular("a-b", "1"), regular("a/c", "2")},
			after: []string{"a-b"}},
		{name: "back into a directory left", entries: []entry{regular("a/x", "1"), regular("b", "2"), regular("a/y", "3")},
			after: []string{"a/", "a/x", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink, dir := newDirSink(t, false)
			frames, err := pathSend(t, sink, pathStream(tt.entries))
			last := frames[len(frames)-1]
			if strings.HasPrefix(tt.name, "control") {
				if err != nil || last.t != framing.TypeComplete {
					t.Fatalf("Receive = %v, last frame %v; want the transfer complete", err, last.t)
				}
			} else {
				refused := tt.entries[len(tt.entries)-1].name
				before := tt.entries[len(tt.entries)-2].name
				if err == nil {
					t.Fatalf("Receive accepted %s after %s", refused, before)
				}
				if last.t != framing.TypeError {
					t.Fatalf("receiver's last frame is %v, want an error frame", last.t)
				}
				m, perr := framing.ParseError(last.p)
				if perr != nil {
					t.Fatal(perr)
				}
				if m.Code != framing.CodeBadName {
					t.Errorf("error frame code %d (%q), want %d", m.Code, m.Message, framing.CodeBadName)
				}
				for _, want := range []string{"refusing file name " + refused + ": it comes after " + before + ", out of the order", "update it"} {
					if !strings.Contains(m.Message, want) || !strings.Contains(err.Error(), want) {
						t.Errorf("receiver's error %q, sent as %q, does not say %q", err, m.Message, want)
					}
				}
			}
			noTempFiles(t, dir)
			if got := tree(t, dir); !slices.Equal(got, tt.after) {
				t.Errorf("DIR holds %q, want %q", got, tt.after)
			}
		})
	}
}

// TestCaseFoldAcrossTheTree sends, to a receiver whose file system ignores
// case, names that differ only in case but do not arrive one after the
// other, as tree order puts "B" between "A" and "a": the receiver must
// still refuse the second, whether it is an entry or a directory on an
// entry's way, while the same name in two directories is no clash.
func TestCaseFoldAcrossTheTree(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		entries []entry
		why     string // what the refusal says; "" for a control
		after   []string
	}{
		{name: "control: one name in two directories",
			entries: []entry{regular("d1/README", "1"), regular("d2/readme", "2")},
			after:   []string{"d1/", "d1/README", "d2/", "d2/readme"}},
		{name: "a file", entries: []entry{directory("A"), regular("A/x", "1"), regular("B", "2"), regular("a", "3")},
			why: "refusing file name a: it was already sent in this transfer, in other letter case", after: []string{"A/", "A/x", "B"}},
		{name: "a directory on the way", entries: []entry{regular("A/x", "1"), regular("B", "2"), regular("a/y", "3")},
			why: "refusing a/y: a was already sent in this transfer, in other letter case", after: []string{"A/", "A/x", "B"}},
		{name: "deeper", entries: []entry{regular("d/Notes/x", "1"), regular("d/Other", "2"), regular("d/notes", "3")},
			why: "refusing file name d/notes: it was already sent", after: []string{"d/", "d/Notes/", "d/Notes/x", "d/Other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink, dir := newDirSink(t, false)
			transfer.SetCaseInsensitive(sink)
			_, err := pathSend(t, sink, pathStream(tt.entries))
			switch {
			case tt.why == "" && err != nil:
				t.Errorf("Receive = %v, want the transfer complete", err)
			case tt.why != "" && (err == nil || !strings.Contains(err.Error(), tt.why)):
				t.Errorf("Receive = %v, want it to say %q", err, tt.why)
			}
			if got := tree(t, dir); !slices.Equal(got, tt.after) {
				t.Errorf("DIR holds %q, want %q", got, tt.after)
			}
		})
	}
}

// TestSendSortsSources gives Send its sources out of tree order, a
// directory after its own contents among them: it sends them sorted, so
// the receiver takes them, and both sides report the files in that order.
func TestSendSortsSources(t *testing.T) {
	t.Parallel()
	mtime := time.Unix(1_500_000_000, 0)
	b := writeSource(t, "b.txt", []byte("bravo"), 0o644, mtime)
	x := writeSource(t, "x", []byte("x-ray"), 0o644, mtime)
	x.Name = "a/x"
	dir := transfer.Source{Name: "a", Mode: fs.ModeDir | 0o755, ModTime: mtime}
	sources := []transfer.Source{b, x, dir}
	given := slices.Clone(sources)
	sink, _ := newDirSink(t, false)
	o := run(t, sources, sink, transfer.Options{}, transfer.Options{})
	if o.sendErr != nil || o.recvErr != nil {
		t.Fatalf("send: %v; receive: %v", o.sendErr, o.recvErr)
	}
	for side, done := range map[string][]transfer.FileResult{"sender": o.sendDone, "receiver": o.recvDone} {
		var names []string
		for _, r := range done {
			names = append(names, r.Name)
		}
		if want := []string{"a/x", "b.txt"}; !slices.Equal(names, want) {
			t.Errorf("%s reported %q, want %q", side, names, want)
		}
	}
	for i := range sources {
		if sources[i].Name != given[i].Name {
			t.Errorf("Send reordered the caller's sources: %s at %d, was %s", sources[i].Name, i, given[i].Name)
		}
	}
}
