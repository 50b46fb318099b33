package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/codec"
	"github.com/ferrytool/ferry/transfer"
)

// Frame builders for raw peers: each returns a whole frame as it goes on
// the wire.

func offerFrame(files uint32, n uint64) []byte {
	return framing.AppendFrame(nil, framing.TypeOffer, framing.AppendOffer(nil, framing.Offer{Files: files, Bytes: n}))
}

func fileFrame(index uint32, name string, size uint64) []byte {
	return fileFrameKind(index, name, size, framing.KindRegular)
}

func fileFrameKind(index uint32, name string, size uint64, kind framing.Kind) []byte {
	f := framing.File{Index: index, Kind: kind, Mode: 0o644, ModTime: 1_600_000_000_000_000_000, Size: size, Name: name}
	return framing.AppendFrame(nil, framing.TypeFile, framing.AppendFile(nil, f))
}

func dataFrame(off uint64, c framing.Codec, rawLen int, body []byte) []byte {
	d := framing.Data{Offset: off, Codec: c, RawLen: uint32(rawLen), Body: body}
	return framing.AppendFrame(nil, framing.TypeData, framing.AppendData(nil, d))
}

func rawData(off uint64, body string) []byte {
	return dataFrame(off, framing.CodecNone, len(body), []byte(body))
}

func endFrame(size uint64, digest uint32) []byte {
	e := framing.End{Size: size, Algorithm: framing.ChecksumCRC32C, Digest: digest}
	return framing.AppendFrame(nil, framing.TypeEnd, framing.AppendEnd(nil, e))
}

func totalsFrame(t framing.Type, files uint32, n uint64) []byte {
	return framing.AppendFrame(nil, t, framing.AppendTotals(nil, framing.Totals{Files: files, Bytes: n}))
}

func crc(s string) uint32 {
	return crc32.Checksum([]byte(s), castagnoli)
}

// header is a frame header declaring n payload bytes, with no payload.
func header(t framing.Type, n uint32) []byte {
	return []byte{byte(t), byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

// compressed encodes raw in mode, which must shrink it.
func compressed(t testing.TB, mode codec.Mode, raw []byte) (framing.Codec, []byte) {
	t.Helper()
	enc, err := codec.NewEncoder(mode, codec.Capabilities)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	c, body := enc.Encode(make([]byte, codec.MaxEncodedLen(len(raw))), raw)
	if c == framing.CodecNone {
		t.Fatalf("%s did not compress %d bytes", mode, len(raw))
	}
	return c, body
}

func cat(parts ...[]byte) []byte {
	return bytes.Join(parts, nil)
}

// rawSend plays a sender that writes stream and half-closes, against Receive
// into a fresh DirSink. It returns the frames the receiver sent back, the
// receiving directory, and Receive's error.
func rawSend(t *testing.T, stream []byte) (frames []rawFrame, dir string, recvErr error) {
	t.Helper()
	sink, dir := newDirSink(t, false)
	frames, recvErr = pathSend(t, sink, stream)
	return frames, dir, recvErr
}

type rawFrame struct {
	t framing.Type
	p []byte
}

// readAll reads frames until the peer closes.
func readAll(t *testing.T, conn net.Conn) []rawFrame {
	t.Helper()
	var frames []rawFrame
	fr := framing.NewReader(conn)
	for {
		typ, p, err := fr.ReadFrame()
		if err == io.EOF {
			return frames
		}
		if err != nil {
			t.Fatalf("reading from the peer after %d frames: %v", len(frames), err)
		}
		frames = append(frames, rawFrame{typ, bytes.Clone(p)})
	}
}

// TestRawSenderValid is the control for TestHostileSender: the frame
// builders make a transfer the receiver accepts, so each hostile case fails
// for its one defect only.
func TestRawSenderValid(t *testing.T) {
	stream := cat(helloFrame(framing.RoleSender, framing.Version),
		offerFrame(1, 3), fileFrame(0, "f", 3), rawData(0, "abc"), endFrame(3, crc("abc")), totalsFrame(framing.TypeDone, 1, 3))
	frames, dir, err := rawSend(t, stream)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	var types []framing.Type
	for _, f := range frames {
		types = append(types, f.t)
	}
	if want := []framing.Type{framing.TypeHello, framing.TypeAck, framing.TypeComplete}; !equalTypes(types, want) {
		t.Fatalf("receiver sent %v, want %v", types, want)
	}
	onlyEntry(t, dir, "f")
}

func equalTypes(a, b []framing.Type) bool {
	return len(a) == len(b) && string(bytesOf(a)) == string(bytesOf(b))
}

func bytesOf(ts []framing.Type) []byte {
	b := make([]byte, len(ts))
	for i, t := range ts {
		b[i] = byte(t)
	}
	return b
}

// TestHostileSender feeds the receiver what no ferry sender sends. Each case
// must end Receive with an error, tell the peer why in an error frame, and
// leave nothing on disk but files completed before the fault.
func TestHostileSender(t *testing.T) {
	hello := helloFrame(framing.RoleSender, framing.Version)
	// A transfer of one three-byte file "f", opened but not yet filled.
	open := cat(hello, offerFrame(1, 3), fileFrame(0, "f", 3))
	// The same file, complete and acknowledged.
	full := cat(open, rawData(0, "abc"), endFrame(3, crc("abc")))
	zc, zBomb := compressed(t, codec.Zstd, make([]byte, framing.MaxChunk))
	sc, sBomb := compressed(t, codec.S2, make([]byte, framing.MaxChunk))
	_, sText := compressed(t, codec.S2, textBytes(1000))
	dataHdr := rawData(0, "abc")
	tests := []struct {
		name    string
		stream  []byte
		wantErr error    // the receiver's error must satisfy errors.Is; nil for any
		wantMsg string   // and contain this, if set
		code    uint16   // the error frame's code; 0 where no code is meaningful
		files   []string // what the directory holds afterwards
	}{
		// Not a ferry peer at all: the first bytes decide.
		{name: "http request", stream: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), wantErr: framing.ErrNotFerry, wantMsg: "not speaking the ferry protocol"},
		{name: "ssh banner", stream: []byte("SSH-2.0-OpenSSH_9.6\r\n"), wantErr: framing.ErrNotFerry},
		{name: "tls client hello", stream: []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc}, wantErr: framing.ErrNotFerry},
		{name: "hello without magic", stream: framing.AppendFrame(nil, framing.TypeHello, []byte("hello!")), wantErr: framing.ErrNotFerry},
		{name: "ping before hello", stream: framing.AppendFrame(nil, framing.TypePing, nil), wantErr: framing.ErrNotFerry},
		{name: "hello over MaxPayload", stream: header(framing.TypeHello, framing.MaxPayload+1), wantErr: framing.ErrNotFerry},
		// An unknown peer gets no big buffer: not even a hello padded
		// with extension bytes past the handshake's limit.
		{name: "hello over MaxHandshakePayload", stream: header(framing.TypeHello, framing.MaxHandshakePayload+1), wantErr: framing.ErrNotFerry},
		{name: "empty stream", stream: nil, wantErr: transfer.ErrSilentPeer, wantMsg: "closed the connection without sending anything"},

		// A ferry peer that cannot be served.
		{name: "version 2", stream: helloFrame(framing.RoleSender, 2), wantMsg: "version 2", code: framing.CodeVersion},
		{name: "version 2 of its own layout", stream: framing.AppendFrame(nil, framing.TypeHello, []byte("ferry\x02\x07")), wantMsg: "version 2", code: framing.CodeVersion},
		{name: "another receiver", stream: helloFrame(framing.RoleReceiver, framing.Version), wantMsg: "also a receiver", code: framing.CodeProtocol},

		// Frames out of place. The oversized header comes with no payload
		// and then end of stream: a receiver that tried to read (and so
		// allocate) the declared payload would report ErrTruncated instead.
		{name: "frame over MaxPayload", stream: cat(hello, header(framing.TypeData, 0xFFFFFFFF)), wantErr: framing.ErrFrameTooLarge, code: framing.CodeProtocol},
		{name: "second hello", stream: cat(hello, hello), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol},
		{name: "file before offer", stream: cat(hello, fileFrame(0, "f", 3)), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol},
		{name: "offer of no files", stream: cat(hello, offerFrame(0, 0)), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol},
		{name: "second offer", stream: cat(hello, offerFrame(1, 3), offerFrame(1, 3)), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol},
		{name: "data before file", stream: cat(hello, offerFrame(1, 3), rawData(0, "abc")), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol},
		{name: "end before file", stream: cat(hello, offerFrame(1, 3), endFrame(0, 0)), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol},
		{name: "file inside file", stream: cat(open, fileFrame(1, "g", 3)), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol},
		{name: "first file index 1", stream: cat(hello, offerFrame(2, 6), fileFrame(1, "f", 3)), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol},
		{name: "more files than offered", stream: cat(full, fileFrame(1, "g", 3)), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol, files: []string{"f"}},
		{name: "done inside file", stream: cat(open, totalsFrame(framing.TypeDone, 1, 0)), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol},
		{name: "done with wrong bytes", stream: cat(full, totalsFrame(framing.TypeDone, 1, 4)), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol, files: []string{"f"}},
		{name: "done short of the offer", stream: cat(hello, offerFrame(2, 6), fileFrame(0, "f", 3), rawData(0, "abc"), endFrame(3, crc("abc")), totalsFrame(framing.TypeDone, 1, 3)), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol, files: []string{"f"}},
		{name: "ack from the sender", stream: cat(open, totalsFrame(framing.TypeAck, 0, 3)), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol},
		{name: "unknown frame type", stream: cat(open, framing.AppendFrame(nil, framing.Type(0x7f), nil)), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol},
		{name: "ping with a payload", stream: cat(open, framing.AppendFrame(nil, framing.TypePing, []byte("x"))), wantErr: framing.ErrMalformed, code: framing.CodeProtocol},

		// Data that does not fit the file.
		{name: "data at offset 1", stream: cat(open, rawData(1, "bc")), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol},
		{name: "data skipping ahead", stream: cat(hello, offerFrame(1, 6), fileFrame(0, "f", 6), rawData(0, "ab"), rawData(3, "def")), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol},
		{name: "data repeated", stream: cat(hello, offerFrame(1, 6), fileFrame(0, "f", 6), rawData(0, "abc"), rawData(0, "abc")), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol},
		{name: "data beyond the size", stream: cat(open, rawData(0, "abcd")), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol},
		{name: "compressed data beyond the size", stream: cat(open, dataFrame(0, framing.CodecS2, 1000, sText)), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol},
		{name: "end short of the size", stream: cat(open, rawData(0, "ab"), endFrame(2, crc("ab"))), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol},
		{name: "end size not what arrived", stream: cat(open, rawData(0, "abc"), endFrame(2, crc("abc"))), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol},
		{name: "wrong checksum", stream: cat(open, rawData(0, "abc"), endFrame(3, crc("abd"))), wantErr: transfer.ErrChecksum, code: framing.CodeChecksum},
		{name: "raw length not the body's", stream: cat(open, dataHdr[:framing.HeaderLen+12], []byte{4}, []byte("abc")), wantErr: framing.ErrMalformed, code: framing.CodeProtocol},

		// Bodies that decode to more than they declare: refused before the
		// receiver makes room for what they expand to.
		{name: "zstd bomb", stream: cat(hello, offerFrame(1, 100), fileFrame(0, "f", 100), dataFrame(0, zc, 100, zBomb)), wantErr: codec.ErrCorrupt, code: framing.CodeProtocol},
		{name: "s2 bomb", stream: cat(hello, offerFrame(1, 100), fileFrame(0, "f", 100), dataFrame(0, sc, 100, sBomb)), wantErr: codec.ErrCorrupt, code: framing.CodeProtocol},
		{name: "zstd garbage", stream: cat(open, dataFrame(0, framing.CodecZstd, 3, []byte("xyzzy"))), wantErr: codec.ErrCorrupt, code: framing.CodeProtocol},
		{name: "s2 garbage", stream: cat(open, dataFrame(0, framing.CodecS2, 3, []byte{0x03, 0xff, 0xff, 0xff})), wantErr: codec.ErrCorrupt, code: framing.CodeProtocol},
		{name: "unknown codec", stream: cat(open, dataFrame(0, framing.Codec(9), 3, []byte("abc"))), wantErr: framing.ErrMalformed, code: framing.CodeProtocol},

		// Names that would escape the directory, hide, or drive a terminal.
		{name: "name ../x", stream: cat(hello, offerFrame(1, 3), fileFrame(0, "../x", 3)), code: framing.CodeBadName},
		{name: "name a/../../x", stream: cat(hello, offerFrame(1, 3), fileFrame(0, "a/../../x", 3)), code: framing.CodeBadName},
		{name: "name /etc/passwd", stream: cat(hello, offerFrame(1, 3), fileFrame(0, "/etc/passwd", 3)), code: framing.CodeBadName},
		{name: "name with escape sequence", stream: cat(hello, offerFrame(1, 3), fileFrame(0, "a\x1b[31m", 3)), code: framing.CodeBadName},
		{name: "name C:x", stream: cat(hello, offerFrame(1, 3), fileFrame(0, "C:x", 3)), code: framing.CodeBadName},
		{name: `name ..\x`, stream: cat(hello, offerFrame(1, 3), fileFrame(0, `..\x`, 3)), code: framing.CodeBadName},
		{name: "name .", stream: cat(hello, offerFrame(1, 3), fileFrame(0, ".", 3)), code: framing.CodeBadName},
		{name: "name a//b", stream: cat(hello, offerFrame(1, 3), fileFrame(0, "a//b", 3)), code: framing.CodeBadName},
		{name: "name of a temporary file", stream: cat(hello, offerFrame(1, 3), fileFrame(0, ".ferry-0123456789ab-x.part", 3)), code: framing.CodeBadName},
		{name: "name element over 255 bytes", stream: cat(hello, offerFrame(1, 3), fileFrame(0, strings.Repeat("n", 256), 3)), code: framing.CodeBadName},
		{name: "name not UTF-8", stream: cat(hello, offerFrame(1, 3), fileFrame(0, "a\xffb", 3)), wantMsg: `a\xffb`, code: framing.CodeBadName},
		{name: "directory with a size", stream: cat(hello, offerFrame(1, 3), fileFrameKind(0, "d", 3, framing.KindDir)), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol},
		{name: "data for a directory", stream: cat(hello, offerFrame(2, 1), fileFrameKind(0, "d", 0, framing.KindDir), rawData(0, "x")), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol, files: []string{"d/"}},
		{name: "more data than offered", stream: cat(hello, offerFrame(1, 2), fileFrame(0, "f", framing.UnknownSize), rawData(0, "abc")), wantErr: transfer.ErrProtocol, code: framing.CodeProtocol},
		{name: "symlink", stream: cat(hello, offerFrame(1, 0), fileFrameKind(0, "l", 0, framing.KindSymlink)), code: framing.CodeUnsupported},

		// The sender stops early.
		{name: "end of stream inside a file", stream: cat(open, rawData(0, "ab")), wantMsg: "closed the connection before its last frame"},
		{name: "end of stream inside a frame", stream: cat(open, dataHdr[:len(dataHdr)-1]), wantErr: framing.ErrTruncated, wantMsg: "the sender closed the connection in the middle of a frame (it was interrupted or failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			frames, dir, err := rawSend(t, tt.stream)
			if err == nil {
				t.Fatal("Receive succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Receive = %v, want %v", err, tt.wantErr)
			}
			if tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Receive = %q, want it to mention %q", err, tt.wantMsg)
			}
			onlyEntry(t, dir, tt.files...)

			// The receiver explains itself in its last frame. Its hello may
			// or may not come first: an error frame jumps the writer's
			// queue, so a receiver that fails at once can drop its queued
			// hello, which a ferry sender accepts (see link.hello).
			if len(frames) == 0 {
				t.Fatal("the receiver sent nothing")
			}
			last := frames[len(frames)-1]
			if last.t != framing.TypeError {
				t.Fatalf("receiver's last frame is %v, want an error frame", last.t)
			}
			for _, f := range frames[:len(frames)-1] {
				// Acks only for the files completed before the fault.
				if f.t != framing.TypeHello && f.t != framing.TypePing && (f.t != framing.TypeAck || len(tt.files) == 0) {
					t.Errorf("receiver sent a %v frame before its error", f.t)
				}
			}
			m, perr := framing.ParseError(last.p)
			if perr != nil {
				t.Fatalf("receiver's error frame: %v", perr)
			}
			if tt.code != 0 && m.Code != tt.code {
				t.Errorf("error frame code %d (%q), want %d", m.Code, m.Message, tt.code)
			}
			// The message reaches the other user's terminal: whatever the
			// hostile sender put in a name must arrive defused.
			for _, r := range m.Message {
				if unicode.IsControl(r) || r == utf8.RuneError {
					t.Errorf("error frame message %q holds %U", m.Message, r)
					break
				}
			}
		})
	}
}

// rawSizes are the sizes of what Send sends a raw receiver (rawSources):
// a directory, a file of known size in it and a stream, so that acks of
// each kind of entry are needed. Each is what the entry's ack must carry.
var rawSizes = []uint64{0, 1000, 300}

// rawTotal is the byte total of rawSources, which the complete frame must
// carry.
const rawTotal = 1300

// rawSources returns the entries of rawSizes, fresh for each Send since a
// stream is read only once.
func rawSources() []transfer.Source {
	mtime := time.Unix(1_600_000_000, 0)
	file := textBytes(int(rawSizes[1]))
	return []transfer.Source{
		{Name: "d", Mode: fs.ModeDir | 0o755, ModTime: mtime},
		{Name: "d/f", Size: int64(len(file)), Mode: 0o644, ModTime: mtime,
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(file)), nil }},
		transfer.StreamSource("x", bytes.NewReader(textBytes(int(rawSizes[2])))),
	}
}

// ackFrame is an ack frame for entry index, of size bytes.
func ackFrame(index uint32, size uint64) []byte {
	return framing.AppendFrame(nil, framing.TypeAck, framing.AppendAck(nil, framing.Ack{Index: index, Size: size}))
}

// rawAcks acknowledges every entry of rawSources, in order.
func rawAcks() []byte {
	var b []byte
	for i, size := range rawSizes {
		b = append(b, ackFrame(uint32(i), size)...)
	}
	return b
}

// rawReceive plays a receiver against Send of rawSources: it writes stream
// at once, reads the sender's frames up to its done, writes reply, then
// reads until the sender closes. Written after done, when every entry
// awaits its ack, a reply is judged on what it says, not on when it
// arrived. It returns what Send returned.
func rawReceive(t *testing.T, stream, reply []byte) (transfer.Summary, error) {
	t.Helper()
	ln := listen(t)
	peerDone := fakePeer(ln, func(conn net.Conn) {
		_ = conn.SetDeadline(time.Now().Add(guard))
		_, _ = conn.Write(stream)
		fr := framing.NewReader(conn)
		for {
			typ, _, err := fr.ReadFrame()
			if err != nil {
				// The sender failed before its done: the reply would
				// answer nothing.
				break
			}
			if typ == framing.TypeDone {
				_, _ = conn.Write(reply)
				break
			}
		}
		_, _ = io.Copy(io.Discard, conn)
	})
	type result struct {
		sum transfer.Summary
		err error
	}
	sent := make(chan result, 1)
	conn := dial(t, ln.Addr())
	go func() {
		sum, err := transfer.Send(t.Context(), conn, rawSources(), transfer.Options{})
		sent <- result{sum, err}
	}()
	r := await(t, sent, "Send")
	await(t, peerDone, "the raw receiver")
	return r.sum, r.err
}

// TestRawReceiverValid is the control for TestHostileReceiver: a reply
// built as those cases build theirs makes Send succeed, so each hostile
// case fails for its one defect only. The acks come out of order and with
// pings among them, which a receiver may send.
func TestRawReceiverValid(t *testing.T) {
	ping := framing.AppendFrame(nil, framing.TypePing, nil)
	reply := cat(ping, ackFrame(1, rawSizes[1]), ackFrame(0, rawSizes[0]), ping, ackFrame(2, rawSizes[2]), totalsFrame(framing.TypeComplete, 3, rawTotal))
	sum, err := rawReceive(t, helloFrame(framing.RoleReceiver, framing.Version), reply)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	checkRawSummary(t, sum)
}

// checkRawSummary fails the test unless sum, from a Send that succeeded,
// counts exactly the entries of rawSources: what the user is told was
// delivered.
func checkRawSummary(t *testing.T, sum transfer.Summary) {
	t.Helper()
	if sum.Files != 2 || sum.Dirs != 1 || sum.Bytes != rawTotal {
		t.Errorf("Send reported %d files, %d directories, %d bytes; want 2, 1, %d", sum.Files, sum.Dirs, sum.Bytes, rawTotal)
	}
}

// TestHostileReceiver feeds the sender what no ferry receiver sends. A
// case's stream goes out at once; its reply once the sender's done has
// arrived, so that every entry has been sent and awaits its ack.
func TestHostileReceiver(t *testing.T) {
	hello := helloFrame(framing.RoleReceiver, framing.Version)
	acks := rawAcks()
	complete := totalsFrame(framing.TypeComplete, 3, rawTotal)
	tests := []struct {
		name    string
		stream  []byte
		reply   []byte
		wantErr error
		wantMsg string
	}{
		{name: "http response", stream: []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), wantErr: framing.ErrNotFerry},
		{name: "another sender", stream: helloFrame(framing.RoleSender, framing.Version), wantMsg: "also a sender"},
		{name: "version 2", stream: helloFrame(framing.RoleReceiver, 2), wantMsg: "version 2"},
		{name: "ack of a file never sent", stream: cat(hello, ackFrame(7, 3)), wantErr: transfer.ErrProtocol},
		{name: "complete before the data", stream: cat(hello, complete), wantErr: transfer.ErrProtocol},
		{name: "data from the receiver", stream: cat(hello, rawData(0, "abc")), wantErr: transfer.ErrProtocol},
		{name: "ping with a payload", stream: cat(hello, framing.AppendFrame(nil, framing.TypePing, []byte("x"))), wantErr: framing.ErrMalformed},
		{name: "frame over MaxPayload", stream: cat(hello, header(framing.TypeAck, framing.MaxPayload+1)), wantErr: framing.ErrFrameTooLarge},
		{name: "hello over MaxHandshakePayload", stream: header(framing.TypeHello, framing.MaxHandshakePayload+1), wantErr: framing.ErrNotFerry},
		{name: "closes after hello", stream: hello, wantMsg: "closed the connection before confirming"},
		// Anyone listening can answer with an error frame: its message must
		// not reach the terminal as escape sequences or extra lines.
		{name: "error with escape sequences", stream: framing.AppendFrame(nil, framing.TypeError, framing.AppendError(nil, framing.ErrorMsg{Code: framing.CodeProtocol, Message: "\x1b[2K\rferry: done\n"})),
			wantMsg: `\u001b[2K\u000dferry: done\u000a`},

		// Acks that do not match what was sent. Each reply is otherwise
		// whole, so only the check the case names stands between it and
		// a transfer reported done.
		{name: "ack with the wrong size", stream: hello, reply: cat(ackFrame(0, 0), ackFrame(1, 999), ackFrame(2, rawSizes[2]), complete),
			wantErr: transfer.ErrProtocol, wantMsg: "acknowledged d/f with 999 bytes, but 1000 were sent"},
		{name: "ack of a directory with a size", stream: hello, reply: cat(ackFrame(0, 1), ackFrame(1, rawSizes[1]), ackFrame(2, rawSizes[2]), complete),
			wantErr: transfer.ErrProtocol, wantMsg: "acknowledged d with 1 bytes, but 0 were sent"},
		{name: "duplicate ack", stream: hello, reply: cat(acks, ackFrame(2, rawSizes[2]), complete),
			wantErr: transfer.ErrProtocol, wantMsg: "acknowledged entry 2, which awaits no acknowledgement"},
		{name: "ack for an unknown index", stream: hello, reply: cat(acks, ackFrame(3, 0), complete),
			wantErr: transfer.ErrProtocol, wantMsg: "acknowledged entry 3, which awaits no acknowledgement"},
		{name: "ack too short", stream: hello, reply: cat(ackFrame(0, 0), framing.AppendFrame(nil, framing.TypeAck, []byte{0, 0, 0, 1})),
			wantErr: framing.ErrMalformed, wantMsg: "ack of 4 bytes"},

		// Complete frames that do not confirm what was sent and acked.
		{name: "complete with the wrong entry count", stream: hello, reply: cat(acks, totalsFrame(framing.TypeComplete, 2, rawTotal)),
			wantErr: transfer.ErrProtocol, wantMsg: "confirmed 2 entries and 1300 bytes"},
		{name: "complete with the wrong byte total", stream: hello, reply: cat(acks, totalsFrame(framing.TypeComplete, 3, rawTotal-1)),
			wantErr: transfer.ErrProtocol, wantMsg: "confirmed 3 entries and 1299 bytes"},
		// The totals are those of the acks that came, not of what was sent.
		{name: "complete with an entry unacknowledged", stream: hello, reply: cat(ackFrame(0, 0), ackFrame(1, rawSizes[1]), totalsFrame(framing.TypeComplete, 3, rawSizes[1])),
			wantErr: transfer.ErrProtocol, wantMsg: "confirmed 3 entries and 1000 bytes, but 2 entries"},
		{name: "complete too short", stream: hello, reply: cat(acks, framing.AppendFrame(nil, framing.TypeComplete, complete[framing.HeaderLen:len(complete)-4])),
			wantErr: framing.ErrMalformed, wantMsg: "totals of 8 bytes"},
		{name: "end of stream inside the complete", stream: hello, reply: cat(acks, complete[:len(complete)-1]),
			wantErr: framing.ErrTruncated},

		// Other frames out of place after the hello.
		{name: "second hello", stream: hello, reply: cat(acks, hello),
			wantErr: transfer.ErrProtocol, wantMsg: "unexpected hello frame"},
		{name: "error frame without a code", stream: hello, reply: cat(acks, framing.AppendFrame(nil, framing.TypeError, []byte{0})),
			wantErr: framing.ErrMalformed, wantMsg: "error frame of 1 bytes"},
		{name: "abort not UTF-8", stream: hello, reply: cat(acks, framing.AppendFrame(nil, framing.TypeAbort, []byte("a\xffb"))),
			wantErr: framing.ErrMalformed, wantMsg: "not UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := rawReceive(t, tt.stream, tt.reply)
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Send = %v, want %v", err, tt.wantErr)
			}
			if tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Send = %q, want it to mention %q", err, tt.wantMsg)
			}
			for _, r := range err.Error() {
				if unicode.IsControl(r) {
					t.Errorf("Send = %q, which holds %U", err, r)
					break
				}
			}
		})
	}
}

// TestSendToNetcat has a sender meet what nc -l is: a peer that takes its
// hello and answers nothing, or answers with something else than ferry.
// The sender fails with framing.ErrNotFerry, to which the command adds
// its advice to use ferry send --raw.
func TestSendToNetcat(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply []byte // nil: nothing, the connection held open
		want  error
	}{
		{"silent", nil, transfer.ErrTimeout},
		{"not ferry", []byte("HTTP/1.0 400 Bad Request\r\n\r\n"), framing.ErrNotFerry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ln := listen(t)
			peerDone := fakePeer(ln, func(conn net.Conn) {
				if tc.reply != nil {
					_, _ = conn.Write(tc.reply)
				}
				_, _ = io.Copy(io.Discard, conn)
			})
			src := transfer.StreamSource("f", bytes.NewReader(textBytes(100)))
			_, err := transfer.Send(t.Context(), dial(t, ln.Addr()), []transfer.Source{src}, transfer.Options{Timeout: 300 * time.Millisecond})
			// ErrNotFerry is what the command adds its --raw hint to.
			if !errors.Is(err, tc.want) || !errors.Is(err, framing.ErrNotFerry) {
				t.Errorf("Send = %v, want %v, and framing.ErrNotFerry", err, tc.want)
			}
			await(t, peerDone, "the fake peer")
		})
	}
}

// TestInterruptAfterComplete stops the receiver once it has sent complete
// and half-closed, before the sender half-closes: the transfer is over,
// files in place and synced, so Receive must not report it interrupted.
func TestInterruptAfterComplete(t *testing.T) {
	sink, dir := newDirSink(t, false)
	ln := listen(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errc := receiveOne(t, ctx, ln, sink, transfer.Options{})
	conn := dial(t, ln.Addr())
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(guard))
	stream := cat(helloFrame(framing.RoleSender, framing.Version),
		offerFrame(1, 3), fileFrame(0, "f", 3), rawData(0, "abc"), endFrame(3, crc("abc")), totalsFrame(framing.TypeDone, 1, 3))
	if _, err := conn.Write(stream); err != nil {
		t.Fatalf("writing to the receiver: %v", err)
	}
	// The receiver's half-close after its complete frame: it waits for
	// the sender's now.
	frames := readAll(t, conn)
	if len(frames) == 0 || frames[len(frames)-1].t != framing.TypeComplete {
		t.Fatalf("the receiver's last frame is not complete: %v", frames)
	}
	cancel()
	if err := await(t, errc, "Receive"); err != nil {
		t.Fatalf("Receive interrupted after complete: %v, want nil", err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "f")); err != nil || string(got) != "abc" {
		t.Fatalf("f = %q, %v; want abc", got, err)
	}
}
