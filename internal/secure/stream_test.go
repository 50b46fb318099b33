package secure

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/ferrytool/ferry/framing"
)

// sealedStream writes payloads as data frames through a Writer, the last
// one as the last frame, and returns the bytes on the wire.
func sealedStream(t *testing.T, s *Session, payloads ...string) []byte {
	t.Helper()
	var wire bytes.Buffer
	fw := framing.NewWriter(&wire)
	w := NewWriter(fw, s)
	for i, p := range payloads {
		if err := w.Add(framing.TypeData, []byte(p), i == len(payloads)-1); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Flush(); err != nil {
		t.Fatal(err)
	}
	return wire.Bytes()
}

// TestStreamWire checks that the Writer puts on the wire what sealing each
// frame with Session.Seal and framing it does, the encoding PROTOCOL.md
// and the known answers fix, with a frame added in the clear kept in its
// place; and that the Reader gives back every payload, then io.EOF.
func TestStreamWire(t *testing.T) {
	for _, c := range ciphers {
		t.Run(c.String(), func(t *testing.T) {
			sender, receiver := sessionPair(t, c)
			var wire bytes.Buffer
			fw := framing.NewWriter(&wire)
			w := NewWriter(fw, sender)
			if err := fw.Add(framing.TypeConfirm, []byte("in the clear")); err != nil {
				t.Fatal(err)
			}
			for _, f := range []struct {
				payload string
				last    bool
			}{{"one", false}, {"", false}, {"three", true}} {
				if err := w.Add(framing.TypeData, []byte(f.payload), f.last); err != nil {
					t.Fatal(err)
				}
			}
			if err := fw.Flush(); err != nil {
				t.Fatal(err)
			}

			want := framing.AppendFrame(nil, framing.TypeConfirm, []byte("in the clear"))
			reference, _ := sessionPair(t, c)
			for _, f := range sealAll(t, reference, "one", "", "three") {
				want = framing.AppendFrame(want, f.t, f.p)
			}
			if !bytes.Equal(wire.Bytes(), want) {
				t.Fatalf("wire\n%x\nwant\n%x", wire.Bytes(), want)
			}

			fr := framing.NewReader(&wire)
			if typ, p, err := fr.ReadFrame(); err != nil || typ != framing.TypeConfirm {
				t.Fatalf("the clear frame: %v %q %v", typ, p, err)
			}
			r := NewReader(fr, receiver)
			for _, want := range []string{"one", "", "three"} {
				typ, p, err := r.ReadFrame()
				if err != nil || typ != framing.TypeData || string(p) != want {
					t.Fatalf("ReadFrame = %v %q %v, want data %q", typ, p, err, want)
				}
			}
			if _, _, err := r.ReadFrame(); err != io.EOF {
				t.Errorf("ReadFrame after the last frame = %v, want io.EOF", err)
			}
		})
	}
}

// TestStreamReaderErrors checks the Reader's failures: a stream cut before
// the last frame, a frame changed, a frame after the last, and a failure
// of the stream below, which is passed on as it is.
func TestStreamReaderErrors(t *testing.T) {
	sender, _ := sessionPair(t, AES256GCM)
	whole := sealedStream(t, sender, "one", "two")
	first := len(framing.AppendFrame(nil, framing.TypeData, make([]byte, len("one")+Overhead)))
	for _, tc := range []struct {
		name string
		wire []byte
		want error
	}{
		{name: "cut between frames", wire: whole[:first], want: ErrTruncated},
		{name: "cut inside a frame", wire: whole[:first+3], want: framing.ErrTruncated},
		{name: "changed", wire: flip(whole, first-1), want: ErrTampered},
		{name: "type changed", wire: flip(whole, 0), want: ErrTampered},
		{name: "after the last", wire: append(bytes.Clone(whole), whole[first:]...), want: ErrAfterLast},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, receiver := sessionPair(t, AES256GCM)
			r := NewReader(framing.NewReader(bytes.NewReader(tc.wire)), receiver)
			var err error
			for err == nil {
				_, _, err = r.ReadFrame()
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("ReadFrame = %v, want %v", err, tc.want)
			}
			if StreamFailure(err) != (tc.want != framing.ErrTruncated) {
				t.Errorf("StreamFailure(%v) = %v", err, StreamFailure(err))
			}
		})
	}
}

// TestStreamWriterAfterLast checks that nothing is sealed after the last
// frame.
func TestStreamWriterAfterLast(t *testing.T) {
	sender, _ := sessionPair(t, ChaCha20Poly1305)
	w := NewWriter(framing.NewWriter(io.Discard), sender)
	if err := w.Add(framing.TypeDone, nil, true); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(framing.TypeError, []byte("late"), false); !errors.Is(err, ErrSealAfterLast) {
		t.Errorf("Add after the last frame = %v, want %v", err, ErrSealAfterLast)
	}
}
