package framing

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
)

type frame struct {
	typ     Type
	payload []byte
}

// pattern returns n bytes whose values vary with position and seed, so a
// payload that is shifted, cut, or left over from an earlier frame in the
// Reader's reused buffer does not compare equal by accident.
func pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7+i>>8) ^ seed
	}
	return p
}

func encodeFrames(frames ...frame) []byte {
	var b []byte
	for _, f := range frames {
		b = AppendFrame(b, f.typ, f.payload)
	}
	return b
}

func header(t Type, n uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{byte(t)}, n)
}

// readerShapes are the ways a connection hands bytes to the Reader: a frame
// must decode the same however the stream is split across Read calls.
var readerShapes = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"whole", func(r io.Reader) io.Reader { return r }},
	{"one-byte", iotest.OneByteReader},
	{"half", iotest.HalfReader},
	// Data and io.EOF in the same call is legal and easy to mishandle.
	{"data-err", iotest.DataErrReader},
}

func TestWriteReadRoundTrip(t *testing.T) {
	lengths := []struct {
		name string
		n    int
	}{
		{"empty", 0},
		{"one", 1},
		{"max-1", MaxPayload - 1},
		{"max", MaxPayload},
	}
	for _, l := range lengths {
		for _, s := range readerShapes {
			t.Run(l.name+"/"+s.name, func(t *testing.T) {
				payload := pattern(l.n, 0x5a)
				var wire bytes.Buffer
				if err := NewWriter(&wire).WriteFrame(TypeData, payload); err != nil {
					t.Fatalf("WriteFrame: %v", err)
				}
				// The Writer and AppendFrame must agree, since golden files
				// and the sender's single-buffer data path use AppendFrame's
				// encoding as the reference.
				if want := AppendFrame(nil, TypeData, payload); !bytes.Equal(wire.Bytes(), want) {
					t.Fatalf("WriteFrame wrote %d bytes, AppendFrame %d; contents differ", wire.Len(), len(want))
				}
				r := NewReader(s.wrap(&wire))
				typ, got, err := r.ReadFrame()
				if err != nil {
					t.Fatalf("ReadFrame: %v", err)
				}
				if typ != TypeData || !bytes.Equal(got, payload) {
					t.Fatalf("ReadFrame = %v, %d bytes; want %v, %d bytes", typ, len(got), TypeData, len(payload))
				}
				if _, _, err := r.ReadFrame(); err != io.EOF {
					t.Fatalf("ReadFrame after the only frame: err = %v, want io.EOF", err)
				}
			})
		}
	}
}

func TestReadBackToBack(t *testing.T) {
	// Sizes go up and down so a later, shorter frame is read into a buffer
	// still holding a longer earlier one.
	frames := []frame{
		{TypePing, nil},
		{TypeHello, AppendHello(nil, Hello{Version: Version, Role: RoleSender, Capabilities: CapS2})},
		{TypeData, pattern(1, 1)},
		{TypeData, pattern(MaxPayload, 2)},
		{TypeData, pattern(300, 3)},
		{TypePing, nil},
		{TypeData, pattern(70000, 4)},
		// The Reader does not interpret types; the caller rejects unknown ones.
		{Type(0xff), pattern(5, 5)},
	}
	var wire bytes.Buffer
	w := NewWriter(&wire)
	for _, f := range frames {
		if err := w.WriteFrame(f.typ, f.payload); err != nil {
			t.Fatalf("WriteFrame(%v): %v", f.typ, err)
		}
	}
	for _, s := range readerShapes {
		t.Run(s.name, func(t *testing.T) {
			r := NewReader(s.wrap(bytes.NewReader(wire.Bytes())))
			for i, want := range frames {
				typ, got, err := r.ReadFrame()
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if typ != want.typ || !bytes.Equal(got, want.payload) {
					t.Fatalf("frame %d = %v, %d bytes; want %v, %d bytes", i, typ, len(got), want.typ, len(want.payload))
				}
			}
			if _, _, err := r.ReadFrame(); err != io.EOF {
				t.Fatalf("after %d frames: err = %v, want io.EOF", len(frames), err)
			}
		})
	}
}

func TestReadTruncated(t *testing.T) {
	one := AppendFrame(nil, TypeAck, AppendAck(nil, Ack{Index: 1, Size: 2}))
	tests := []struct {
		name   string
		stream []byte
		frames int // complete frames before the failure
		want   error
	}{
		{"empty stream", nil, 0, io.EOF},
		{"between frames", one, 1, io.EOF},
		{"inside header, 1 byte", one[:1], 0, ErrTruncated},
		{"inside header, 4 bytes", one[:HeaderLen-1], 0, ErrTruncated},
		{"header without payload", one[:HeaderLen], 0, ErrTruncated},
		{"inside payload", one[:len(one)-1], 0, ErrTruncated},
		{"second frame header", append(one[:len(one):len(one)], one[:2]...), 1, ErrTruncated},
		{"second frame payload", append(one[:len(one):len(one)], one[:HeaderLen+3]...), 1, ErrTruncated},
		// MaxPayload itself is allowed, so running out of bytes is truncation,
		// not an oversized frame.
		{"max payload declared, none sent", header(TypeData, MaxPayload), 0, ErrTruncated},
	}
	for _, tt := range tests {
		for _, s := range readerShapes {
			t.Run(tt.name+"/"+s.name, func(t *testing.T) {
				r := NewReader(s.wrap(bytes.NewReader(tt.stream)))
				for i := range tt.frames {
					if _, _, err := r.ReadFrame(); err != nil {
						t.Fatalf("frame %d: %v", i, err)
					}
				}
				_, p, err := r.ReadFrame()
				if tt.want == io.EOF {
					// io.EOF must come back unwrapped: callers and io helpers
					// compare it with ==.
					if err != io.EOF {
						t.Fatalf("err = %v, want io.EOF", err)
					}
				} else if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				if p != nil {
					t.Fatalf("payload = %d bytes alongside error, want nil", len(p))
				}
			})
		}
	}
}

// errPayloadRead is what the stream yields after an oversized header: a Reader
// that reached for the payload would report it instead of ErrFrameTooLarge.
var errPayloadRead = errors.New("test: payload of an oversized frame was read")

func TestReadOversized(t *testing.T) {
	tests := []struct {
		name string
		n    uint32
	}{
		{"max+1", MaxPayload + 1},
		{"2^31", 1 << 31},
		{"0xffffffff", 0xFFFFFFFF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(io.MultiReader(bytes.NewReader(header(TypeFile, tt.n)), iotest.ErrReader(errPayloadRead)))
			typ, p, err := r.ReadFrame()
			if !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("err = %v, want ErrFrameTooLarge", err)
			}
			if typ != TypeFile || p != nil {
				t.Fatalf("ReadFrame = %v, %d bytes; want the header's type %v and no payload", typ, len(p), TypeFile)
			}
			if cap(r.buf) != 0 {
				t.Fatalf("Reader buffer grew to %d bytes for a rejected frame", cap(r.buf))
			}
		})
	}
}

// TestReadLimit checks SetLimit: a payload up to the limit is read, one
// past it is rejected before it is read, and no limit goes above
// MaxPayload.
func TestReadLimit(t *testing.T) {
	tests := []struct {
		name  string
		limit uint32
		n     uint32
		ok    bool
	}{
		{"handshake limit", MaxHandshakePayload, MaxHandshakePayload, true},
		{"handshake limit+1", MaxHandshakePayload, MaxHandshakePayload + 1, false},
		{"zero", 0, 0, true},
		{"zero+1", 0, 1, false},
		{"over MaxPayload", MaxPayload + 100, MaxPayload + 1, false},
		{"back to MaxPayload", MaxPayload, MaxPayload, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream := append(header(TypeHello, tt.n), make([]byte, tt.n)...)
			r := NewReader(io.MultiReader(bytes.NewReader(stream), iotest.ErrReader(errPayloadRead)))
			r.SetLimit(tt.limit)
			_, p, err := r.ReadFrame()
			switch {
			case tt.ok && (err != nil || len(p) != int(tt.n)):
				t.Fatalf("ReadFrame = %d bytes, %v; want the %d-byte payload", len(p), err, tt.n)
			case !tt.ok && !errors.Is(err, ErrFrameTooLarge):
				t.Fatalf("ReadFrame = %d bytes, %v; want ErrFrameTooLarge", len(p), err)
			case !tt.ok && cap(r.buf) != 0:
				t.Fatalf("Reader buffer grew to %d bytes for a rejected frame", cap(r.buf))
			}
		})
	}
}

// TestReadOversizedAllocation guards the point of the limit: a hostile header
// must not make the reader allocate what it declares. Counting allocations
// cannot tell a small error value from a huge buffer, so this counts bytes.
func TestReadOversizedAllocation(t *testing.T) {
	const runs = 50
	stream := header(TypeData, 0xFFFFFFFF)
	br := bytes.NewReader(stream)
	r := NewReader(br)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		br.Reset(stream)
		if _, _, err := r.ReadFrame(); !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("err = %v, want ErrFrameTooLarge", err)
		}
	}
	runtime.ReadMemStats(&after)
	// The error value is a few hundred bytes; the smallest buffer a faulty
	// reader would make for this header is MaxPayload.
	if perRun := (after.TotalAlloc - before.TotalAlloc) / runs; perRun > 4096 {
		t.Fatalf("ReadFrame of an oversized header allocated %d bytes per call", perRun)
	}
}

func TestWriteOversized(t *testing.T) {
	var wire bytes.Buffer
	err := NewWriter(&wire).WriteFrame(TypeData, make([]byte, MaxPayload+1))
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("err = %v, want ErrFrameTooLarge", err)
	}
	// A partial frame would desynchronise the peer's reader for good.
	if wire.Len() != 0 {
		t.Fatalf("wrote %d bytes of a rejected frame", wire.Len())
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWriteError(t *testing.T) {
	sentinel := errors.New("test: connection reset")
	err := NewWriter(failWriter{sentinel}).WriteFrame(TypePing, nil)
	if !errors.Is(err, sentinel) {
		t.Fatalf("err = %v, want the writer's error", err)
	}
}

// TestReadStreamError checks that a failing connection is reported as its own
// error: turning a timeout into ErrTruncated would hide the real cause.
func TestReadStreamError(t *testing.T) {
	sentinel := errors.New("test: connection reset")
	frame := AppendFrame(nil, TypeOffer, AppendOffer(nil, Offer{Files: 1, Bytes: 2}))
	tests := []struct {
		name string
		r    io.Reader
		want error
	}{
		{"in header", iotest.ErrReader(sentinel), sentinel},
		{"after partial header", io.MultiReader(bytes.NewReader(frame[:2]), iotest.ErrReader(sentinel)), sentinel},
		{"in payload", io.MultiReader(bytes.NewReader(frame[:HeaderLen+1]), iotest.ErrReader(sentinel)), sentinel},
		// TimeoutReader fails its second Read, which is the payload's.
		{"timeout in payload", iotest.TimeoutReader(bytes.NewReader(frame)), iotest.ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := NewReader(tt.r).ReadFrame()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// growingFrames are data frames of every size from 1 to 4096 bytes, then
// three large ones up to MaxPayload: by doubling, the second large frame
// would take a Reader's buffer past MaxPayload.
func growingFrames() []frame {
	var frames []frame
	for n := 1; n <= 4096; n++ {
		frames = append(frames, frame{TypeData, pattern(n, byte(n))})
	}
	return append(frames, frame{TypeData, pattern(600_000, 1)}, frame{TypeData, pattern(700_000, 2)}, frame{TypeData, pattern(MaxPayload, 3)})
}

// TestReadBufferGrowth checks that the Reader's buffer never grows past
// MaxPayload however the doubling lands: a peer's frame sizes drive the
// growth, so this bounds the memory a peer can make a Reader hold. How often
// the buffer is reallocated is BenchmarkReadBufferGrowth's to report.
func TestReadBufferGrowth(t *testing.T) {
	frames := growingFrames()
	r := NewReader(bytes.NewReader(encodeFrames(frames...)))
	for i, want := range frames {
		_, got, err := r.ReadFrame()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(got, want.payload) {
			t.Fatalf("frame %d: payload differs", i)
		}
		if cap(r.buf) > MaxPayload {
			t.Fatalf("after a %d-byte frame the buffer holds %d bytes, over MaxPayload", len(want.payload), cap(r.buf))
		}
	}
}

func TestTypeString(t *testing.T) {
	tests := []struct {
		typ  Type
		want string
	}{
		{TypeHello, "hello"},
		{TypeOffer, "offer"},
		{TypeFile, "file"},
		{TypeData, "data"},
		{TypeEnd, "end"},
		{TypeDone, "done"},
		{TypeAck, "ack"},
		{TypeComplete, "complete"},
		{TypeError, "error"},
		{TypeAbort, "abort"},
		{TypePing, "ping"},
		{TypeCheck, "check"},
		{TypeSkip, "skip"},
		{TypeResume, "resume"},
		{TypeHolds, "holds"},
		{0x00, "unknown(0x00)"},
		{0x0a, "unknown(0x0a)"},
		{0xff, "unknown(0xff)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.typ.String(); got != tt.want {
				t.Fatalf("Type(0x%02x).String() = %q, want %q", uint8(tt.typ), got, tt.want)
			}
		})
	}
}
