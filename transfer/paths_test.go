package transfer_test

import (
	"io/fs"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/names"
	"github.com/ferrytool/ferry/transfer"
)

// entry is one file frame a raw sender sends, with the frames that complete
// it: data and end for a regular file or a symlink, end alone for a
// directory.
type entry struct {
	name string
	kind framing.Kind
	data string
}

func regular(name, data string) entry {
	return entry{name: name, kind: framing.KindRegular, data: data}
}
func directory(name string) entry { return entry{name: name, kind: framing.KindDir} }

// symlink is a link the test puts inside DIR before the transfer, as if an
// earlier transfer or the user had left it there. With abs, to is relative
// to DIR's parent and the link holds the absolute path.
type symlink struct {
	name, to string
	abs      bool
}

// pathStream is a whole transfer of entries as a sender puts it on the wire:
// hello, offer, each entry, done. Entries after the one the receiver refuses
// are sent all the same, so a receiver that let a bad name through would
// also get its bytes, and write them.
func pathStream(entries []entry) []byte {
	var total uint64
	for _, e := range entries {
		if e.kind != framing.KindDir {
			total += uint64(len(e.data))
		}
	}
	out := cat(helloFrame(framing.RoleSender, framing.Version), offerFrame(uint32(len(entries)), total))
	for i, e := range entries {
		n := uint64(len(e.data))
		out = append(out, fileFrameKind(uint32(i), e.name, n, e.kind)...)
		if n > 0 {
			out = append(out, rawData(0, e.data)...)
		}
		out = append(out, endFrame(n, crc(e.data))...)
	}
	return append(out, totalsFrame(framing.TypeDone, uint32(len(entries)), total)...)
}

// pathSend plays a sender that writes stream to Receive on sink and
// half-closes, and returns what the receiver sent back and Receive's error.
func pathSend(t *testing.T, sink transfer.Sink, stream []byte) ([]rawFrame, error) {
	t.Helper()
	ln := listen(t)
	errc := receiveOne(t, t.Context(), ln, sink, transfer.Options{})
	conn := dial(t, ln.Addr())
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(guard))
	if _, err := conn.Write(stream); err != nil {
		t.Fatalf("writing to the receiver: %v", err)
	}
	// The half-close ends the receiver's wait for more, so a failing
	// receiver's drain finishes at once rather than after its linger time.
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	frames := readAll(t, conn)
	return frames, await(t, errc, "Receive")
}

// snapshot describes everything under dir, contents and link targets
// included, so a comparison catches a file changed in place as well as one
// added.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	s := map[string]string{}
	for _, name := range tree(t, dir) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		info, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case info.IsDir():
			s[name] = "directory"
		case info.Mode()&fs.ModeSymlink != 0:
			to, err := os.Readlink(p)
			if err != nil {
				t.Fatal(err)
			}
			s[name] = "symlink to " + to
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			s[name] = "file " + string(b)
		}
	}
	return s
}

// TestHostilePaths drives every kind of path a hostile sender can claim
// through the real receiver, over TCP, with a client that writes the frames
// itself (so no sender-side check can hide a receiver bug). Each refusal
// must name the path, defused, to both users; write nothing for it, inside
// DIR or out; and leave the entries that came before intact. TestCheckName
// covers the name rules one by one; this test is about what reaches the
// disk.
func TestHostilePaths(t *testing.T) {
	long := strings.Repeat("n", 256)
	// A path over framing.MaxName made of acceptable elements, so only its
	// length is wrong.
	longPath := strings.Repeat(strings.Repeat("p", 200)+"/", 21) + "x"
	// Links out of DIR: the sibling "outside" is what a hostile sender would
	// love to write into.
	relOut := symlink{name: "out", to: "../outside"}
	absOut := symlink{name: "out", to: "outside", abs: true}
	bad := []uint16{framing.CodeBadName}

	tests := []struct {
		name      string
		overwrite bool
		caseFold  bool              // the sink behaves as on a case-insensitive file system
		nameBytes int               // if set, the sink's limit on the transfer's names, in bytes
		dirs      []string          // real directories in DIR before the transfer
		links     []symlink         // symlinks in DIR before the transfer
		outside   map[string]string // files in the sibling "outside" before the transfer
		entries   []entry           // the last one is refused, unless ok
		ok        bool              // the transfer must succeed: a control case
		codes     []uint16          // acceptable error-frame codes; nil for any
		unnamed   bool              // the message need not name the path (it cannot fit)
		after     []string          // DIR's tree afterwards, as tree lists it
		contents  map[string]string // regular files in DIR and what they hold
	}{
		// Controls: the same client and checks accept an ordinary
		// transfer, so every refusal below is for its path alone.
		{name: "control: nested directory and file", entries: []entry{directory("d"), regular("d/f", "abc")}, ok: true,
			after: []string{"d/", "d/f"}, contents: map[string]string{"d/f": "abc"}},
		{name: "control: names differing in case on a case-sensitive file system", entries: []entry{regular("README", "two"), regular("Readme", "one")}, ok: true,
			after: []string{"README", "Readme"}, contents: map[string]string{"Readme": "one", "README": "two"}},

		// Out of DIR by the name alone.
		{name: "absolute", entries: []entry{regular("/etc/passwd", "x")}, codes: bad},
		{name: "dot dot", entries: []entry{regular("..", "x")}, codes: bad},
		{name: "dot dot first", entries: []entry{regular("../x", "x")}, codes: bad},
		{name: "dot dot climbing out", entries: []entry{regular("a/../../x", "x")}, codes: bad},
		{name: "dot element", entries: []entry{regular("a/./b", "x")}, codes: bad},
		{name: "empty element", entries: []entry{regular("a//b", "x")}, codes: bad},
		{name: "trailing slash", entries: []entry{regular("a/", "x")}, codes: bad},
		{name: "empty", entries: []entry{regular("", "x")}, codes: bad},
		{name: "backslash", entries: []entry{regular(`a\b`, "x")}, codes: bad},
		{name: "drive letter", entries: []entry{regular("C:x", "x")}, codes: bad},
		{name: "drive root", entries: []entry{regular("c:/x", "x")}, codes: bad},
		{name: "directory dot dot", entries: []entry{directory("../up")}, codes: bad},

		// Names that would drive the terminal they are printed on, or that
		// no file system agrees on.
		{name: "NUL", entries: []entry{regular("a\x00b", "x")}, codes: bad},
		{name: "escape sequence", entries: []entry{regular("\x1b[31mred", "x")}, codes: bad},
		{name: "DEL", entries: []entry{regular("a\x7f", "x")}, codes: bad},
		{name: "C1 control", entries: []entry{regular("\u0085", "x")}, codes: bad},
		{name: "invalid UTF-8", entries: []entry{regular("\xff\xfe", "x")}, codes: bad},

		// Too long. A whole path over MaxName is the frame parser's to
		// refuse, so a protocol error will do; its message cannot hold the
		// path.
		{name: "element of 256 bytes", entries: []entry{regular(long, "x")}, codes: bad},
		{name: "path over MaxName", entries: []entry{regular(longPath, "x")}, codes: []uint16{framing.CodeProtocol, framing.CodeBadName}, unnamed: true},

		// A name the receiver's own temporary files use: accepting it would
		// let a sender clobber or hide a file in flight.
		{name: "temporary file name", entries: []entry{regular(".ferry-0123456789ab-x.part", "x")}, codes: bad},

		// A bad last element must not leave the directories before it
		// behind: the whole path is checked before anything is made.
		{name: "escape sequence under a new directory", entries: []entry{regular("new/dir/\x1b]0;pwned\x07", "x")}, codes: bad},
		{name: "element of 256 bytes under a new directory", entries: []entry{regular("new/"+long, "x")}, codes: bad},
		{name: "temporary file name under a new directory", entries: []entry{regular("new/.ferry-0123456789ab-x.part", "x")}, codes: bad},

		// Symlink entries are not accepted at all, whatever they point to.
		{name: "symlink entry", entries: []entry{{name: "l", kind: framing.KindSymlink, data: "../outside"}}, codes: []uint16{framing.CodeUnsupported}},

		// The same path twice in one transfer: the second would silently
		// replace (or merge into) what the transfer itself just wrote.
		{name: "duplicate file", entries: []entry{regular("a", "first"), regular("a", "second")}, codes: bad,
			after: []string{"a"}, contents: map[string]string{"a": "first"}},
		// With --overwrite nothing else would stop the second copy.
		{name: "duplicate file, overwrite", overwrite: true, entries: []entry{regular("a", "first"), regular("a", "second")}, codes: bad,
			after: []string{"a"}, contents: map[string]string{"a": "first"}},
		{name: "file over a directory of the transfer", entries: []entry{directory("d"), regular("d", "x")}, codes: bad,
			after: []string{"d/"}},
		{name: "duplicate directory", entries: []entry{directory("d"), directory("d")}, codes: bad,
			after: []string{"d/"}},
		{name: "file under a file of the transfer", entries: []entry{regular("a", "first"), regular("a/b", "x")},
			after: []string{"a"}, contents: map[string]string{"a": "first"}},

		// On a case-insensitive file system "README" is "Readme": it would
		// overwrite the file the transfer just wrote.
		// Names are kept for the whole transfer: their total is limited.
		{name: "names past their total", nameBytes: 7, entries: []entry{regular("abc", "x"), regular("defg", "y"), regular("h", "z")}, codes: []uint16{framing.CodeUnsupported},
			after: []string{"abc", "defg"}, contents: map[string]string{"abc": "x", "defg": "y"}},
		{name: "names differing in case on a case-insensitive file system", caseFold: true, entries: []entry{regular("README", "one"), regular("Readme", "two")}, codes: bad,
			after: []string{"README"}, contents: map[string]string{"README": "one"}},

		// Symlinks already in DIR: never written through, wherever they
		// point.
		{name: "file through a relative link out of DIR", links: []symlink{relOut}, entries: []entry{regular("out/evil", "x")}, codes: bad,
			after: []string{"out"}},
		{name: "file through an absolute link out of DIR", links: []symlink{absOut}, entries: []entry{regular("out/evil", "x")}, codes: bad,
			after: []string{"out"}},
		{name: "directory through a link out of DIR", links: []symlink{relOut}, entries: []entry{directory("out/new")}, codes: bad,
			after: []string{"out"}},
		{name: "file through a link deeper in DIR", dirs: []string{"sub"}, links: []symlink{{name: "sub/out", to: "../../outside"}}, entries: []entry{regular("sub/out/evil", "x")}, codes: bad,
			after: []string{"sub/", "sub/out"}},
		{name: "file through a link inside DIR", dirs: []string{"sub"}, links: []symlink{{name: "in", to: "sub"}}, entries: []entry{regular("in/x", "x")}, codes: bad,
			after: []string{"in", "sub/"}},
		{name: "directory named as a link", links: []symlink{relOut}, entries: []entry{directory("out")}, codes: []uint16{framing.CodeExists, framing.CodeBadName},
			after: []string{"out"}},
		{name: "file named as a link", links: []symlink{absOut}, entries: []entry{regular("out", "x")}, codes: []uint16{framing.CodeExists},
			after: []string{"out"}},
		// With --overwrite the link itself is replaced, never its target.
		{name: "file replacing a link to a directory, overwrite", overwrite: true, links: []symlink{absOut}, entries: []entry{regular("out", "replaced")}, ok: true,
			after: []string{"out"}, contents: map[string]string{"out": "replaced"}},
		{name: "file replacing a link to a file, overwrite", overwrite: true, links: []symlink{{name: "target", to: "../outside/target"}},
			outside: map[string]string{"target": "secret"}, entries: []entry{regular("target", "replaced")}, ok: true,
			after: []string{"target"}, contents: map[string]string{"target": "replaced"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink, dir := newDirSink(t, tt.overwrite)
			if tt.caseFold {
				transfer.SetCaseInsensitive(sink)
			}
			if tt.nameBytes != 0 {
				transfer.SetMaxNameBytes(sink, tt.nameBytes)
			}
			parent := filepath.Dir(dir)
			outside := filepath.Join(parent, "outside")
			if err := os.Mkdir(outside, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, data := range tt.outside {
				if err := os.WriteFile(filepath.Join(outside, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, d := range tt.dirs {
				if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, l := range tt.links {
				to := l.to
				if l.abs {
					to = filepath.Join(parent, l.to)
				}
				if err := os.Symlink(to, filepath.Join(dir, filepath.FromSlash(l.name))); err != nil {
					t.Fatal(err)
				}
			}
			linksBefore := snapshot(t, dir)
			outsideBefore := snapshot(t, outside)

			frames, err := pathSend(t, sink, pathStream(tt.entries))

			// Acks come in order from entry 0, directories included. A
			// successful transfer acks every entry. A failed one never acks
			// the refused entry; the entries before it may go unacked, as
			// the receiver acks only after a batch's sync and sends nothing
			// after its error frame.
			accepted := len(tt.entries)
			if !tt.ok {
				accepted--
			}
			var acks []uint32
			var last rawFrame
			for i, f := range frames {
				switch {
				case f.t == framing.TypeAck:
					a, perr := framing.ParseAck(f.p)
					if perr != nil {
						t.Fatalf("receiver's ack: %v", perr)
					}
					acks = append(acks, a.Index)
				case f.t == framing.TypeHello, f.t == framing.TypePing:
				case i == len(frames)-1:
					last = f
				default:
					t.Errorf("receiver sent a %v frame before its last", f.t)
				}
			}
			if len(acks) > accepted || (tt.ok && len(acks) != accepted) {
				t.Errorf("receiver acked entries %v of %d, want the first %d", acks, len(tt.entries), accepted)
			}
			for i, a := range acks {
				if a != uint32(i) {
					t.Errorf("receiver acked entries %v, want them in order from 0", acks)
					break
				}
			}

			if tt.ok {
				if err != nil {
					t.Errorf("Receive: %v", err)
				}
				if last.t != framing.TypeComplete {
					t.Errorf("receiver's last frame is %v, want complete", last.t)
				}
			} else {
				refused := tt.entries[len(tt.entries)-1].name
				quoted := names.Quote(refused)
				if err == nil {
					t.Errorf("Receive accepted %q", refused)
				} else if !tt.unnamed && !strings.Contains(err.Error(), quoted) {
					t.Errorf("Receive = %q, want it to name %q", err, quoted)
				}
				if last.t != framing.TypeError {
					t.Errorf("receiver's last frame is %v, want an error frame", last.t)
				} else {
					m, perr := framing.ParseError(last.p)
					if perr != nil {
						t.Fatalf("receiver's error frame: %v", perr)
					}
					if tt.codes != nil && !slices.Contains(tt.codes, m.Code) {
						t.Errorf("error frame code %d (%q), want one of %v", m.Code, m.Message, tt.codes)
					}
					if !tt.unnamed && !strings.Contains(m.Message, quoted) {
						t.Errorf("error frame message %q does not name %q", m.Message, quoted)
					}
					// The message reaches the sending user's terminal, so
					// whatever the name held must arrive escaped: no raw
					// C0 byte or DEL, and no C1 control or invalid UTF-8.
					if strings.IndexFunc(m.Message, unicode.IsControl) >= 0 || !utf8.ValidString(m.Message) {
						t.Errorf("error frame message %q holds a control character or invalid UTF-8", m.Message)
					}
					for i := 0; i < len(m.Message); i++ {
						if c := m.Message[i]; c < 0x20 || c == 0x7f {
							t.Errorf("error frame message %q holds control byte %#x", m.Message, c)
							break
						}
					}
				}
			}

			// Nothing written for the refused entry: DIR holds exactly what
			// the case expects, no temporary file, and nothing appeared or
			// changed next to DIR or in outside.
			noTempFiles(t, dir)
			if got := tree(t, dir); !slices.Equal(got, tt.after) {
				t.Errorf("DIR holds %q, want %q", got, tt.after)
			}
			for name, want := range tt.contents {
				p := filepath.Join(dir, filepath.FromSlash(name))
				info, err := os.Lstat(p)
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				if !info.Mode().IsRegular() {
					t.Errorf("%s is %v, want a regular file", name, info.Mode())
					continue
				}
				if b, err := os.ReadFile(p); err != nil || string(b) != want {
					t.Errorf("%s holds %q (%v), want %q", name, b, err, want)
				}
			}
			// Links the transfer did not replace point where they did.
			now := snapshot(t, dir)
			for _, l := range tt.links {
				if _, replaced := tt.contents[l.name]; !replaced && now[l.name] != linksBefore[l.name] {
					t.Errorf("link %s is now %q, was %q", l.name, now[l.name], linksBefore[l.name])
				}
			}
			if got := snapshot(t, outside); !maps.Equal(got, outsideBefore) {
				t.Errorf("outside DIR changed: %q, was %q", got, outsideBefore)
			}
			entries, rerr := os.ReadDir(parent)
			if rerr != nil {
				t.Fatal(rerr)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if want := []string{"outside", filepath.Base(dir)}; !slices.Equal(names, want) {
				t.Errorf("DIR's parent holds %q, want %q", names, want)
			}
		})
	}
}
