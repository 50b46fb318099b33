package framing

// Tests of Writer.Add and Writer.Flush, the gathered writes that let many
// small frames (the file, end and ack frames of small files) share one
// system call. WriteFrame's own tests are in framing_test.go.

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// recordingWriter keeps every byte written to it and counts the Write
// calls. While failErr is set it takes only failAfter bytes in all; the
// Write that cannot take the whole of its slice returns failErr, once, so a
// test can fail one Flush part way and then carry on.
type recordingWriter struct {
	buf       bytes.Buffer
	calls     int
	failErr   error
	failAfter int
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.calls++
	if w.failErr == nil {
		return w.buf.Write(p)
	}
	n := min(len(p), w.failAfter)
	w.buf.Write(p[:n])
	w.failAfter -= n
	if n < len(p) {
		err := w.failErr
		w.failErr = nil
		return n, err
	}
	return n, nil
}

// addAll queues frames on w, failing the test at the first refusal.
func addAll(t *testing.T, w *Writer, frames []frame) {
	t.Helper()
	for i, f := range frames {
		if err := w.Add(f.typ, f.payload); err != nil {
			t.Fatalf("Add of frame %d (%v, %d bytes): %v", i, f.typ, len(f.payload), err)
		}
	}
}

// manyFrames returns n frames of varied types and small, varied sizes,
// empty ones included, each payload distinct.
func manyFrames(n, maxLen int) []frame {
	types := []Type{TypeFile, TypeData, TypeEnd, TypeAck, TypePing}
	frames := make([]frame, n)
	for i := range frames {
		frames[i] = frame{types[i%len(types)], pattern((i*7919)%(maxLen+1), byte(i))}
	}
	return frames
}

// TestWriterAddFlush checks that frames added and then flushed reach the
// connection exactly as AppendFrame encodes them, in order, only at the
// Flush, and that a second group on the same Writer is not mixed with the
// first: the Writer reuses its header buffer from one flush to the next.
func TestWriterAddFlush(t *testing.T) {
	tests := []struct {
		name   string
		frames []frame
	}{
		{"one frame", []frame{{TypeAck, AppendAck(nil, Ack{Index: 3, Size: 12})}}},
		{"empty payloads", []frame{{TypePing, nil}, {TypePing, []byte{}}, {TypePing, nil}}},
		{"small file", []frame{
			{TypeFile, AppendFile(nil, File{Index: 0, Mode: 0o644, Size: 5, Name: "a/b.txt"})},
			{TypeData, AppendData(nil, Data{Offset: 0, RawLen: 5, Body: []byte("hello")})},
			{TypeEnd, AppendEnd(nil, End{Size: 5, Algorithm: ChecksumCRC32C, Digest: 0x01020304})},
		}},
		// The largest payload a Writer accepts, between two tiny frames.
		{"MaxPayload", []frame{{TypePing, nil}, {TypeData, pattern(MaxPayload, 9)}, {TypeEnd, pattern(13, 1)}}},
		// Enough frames that the header buffer grows many times while
		// earlier headers are still queued: each queued header must keep
		// its own bytes, not see a later one's.
		{"1000 frames", manyFrames(1000, 40)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recordingWriter
			w := NewWriter(&rec)
			addAll(t, w, tt.frames)
			if rec.calls != 0 {
				t.Fatalf("Add wrote %d times before Flush", rec.calls)
			}
			if err := w.Flush(); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			if want := encodeFrames(tt.frames...); !bytes.Equal(rec.buf.Bytes(), want) {
				t.Fatalf("Flush wrote %d bytes, want the %d of AppendFrame for each frame; contents differ", rec.buf.Len(), len(want))
			}

			// A second group on the same Writer: reversed, so every header
			// lands where a different one was before.
			second := make([]frame, len(tt.frames))
			for i, f := range tt.frames {
				second[len(second)-1-i] = f
			}
			rec.buf.Reset()
			addAll(t, w, second)
			if err := w.Flush(); err != nil {
				t.Fatalf("second Flush: %v", err)
			}
			if want := encodeFrames(second...); !bytes.Equal(rec.buf.Bytes(), want) {
				t.Fatalf("second Flush wrote %d bytes, want %d; contents differ", rec.buf.Len(), len(want))
			}

			// Everything went out: a further Flush has nothing to write.
			calls := rec.calls
			if err := w.Flush(); err != nil || rec.calls != calls {
				t.Fatalf("third Flush with nothing added: err %v, %d more writes", err, rec.calls-calls)
			}
		})
	}
}

// TestWriterAddOversized checks that Add refuses a payload over MaxPayload
// before queueing anything of it: half a frame on the wire would
// desynchronise the peer's reader for good. The frames around it still go
// out.
func TestWriterAddOversized(t *testing.T) {
	tests := []struct {
		name string
		n    int
	}{
		{"MaxPayload+1", MaxPayload + 1},
		{"twice MaxPayload", 2 * MaxPayload},
	}
	before := frame{TypeFile, pattern(30, 1)}
	after := frame{TypeEnd, pattern(13, 2)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recordingWriter
			w := NewWriter(&rec)
			addAll(t, w, []frame{before})
			err := w.Add(TypeData, make([]byte, tt.n))
			if !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("Add of %d bytes: err = %v, want ErrFrameTooLarge", tt.n, err)
			}
			addAll(t, w, []frame{after})
			if err := w.Flush(); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			if want := encodeFrames(before, after); !bytes.Equal(rec.buf.Bytes(), want) {
				t.Fatalf("Flush wrote %d bytes, want %d: the refused frame must leave no trace", rec.buf.Len(), len(want))
			}
		})
	}
}

// TestWriterFlushEmpty checks that a Flush with nothing added touches the
// connection not at all: the link's writer may flush an empty group.
func TestWriterFlushEmpty(t *testing.T) {
	var rec recordingWriter
	w := NewWriter(&rec)
	for i := range 3 {
		if err := w.Flush(); err != nil {
			t.Fatalf("Flush %d: %v", i, err)
		}
	}
	if rec.calls != 0 || rec.buf.Len() != 0 {
		t.Fatalf("empty Flushes wrote %d bytes in %d calls", rec.buf.Len(), rec.calls)
	}
}

// TestWriterFlushError checks that a Flush that fails, wherever in its
// frames the connection gives up, reports the connection's error and
// forgets those frames: the next group must not resend a stale frame or
// point at a payload its caller has since reused.
func TestWriterFlushError(t *testing.T) {
	group := []frame{
		{TypeFile, pattern(40, 1)},
		{TypeData, pattern(1000, 2)},
		{TypeEnd, pattern(13, 3)},
	}
	wire := encodeFrames(group...)
	next := frame{TypeAck, pattern(12, 4)}
	tests := []struct {
		name      string
		failAfter int // bytes the connection takes before it fails
	}{
		{"at once", 0},
		{"inside the first header", 2},
		{"after the first header", HeaderLen},
		{"inside a payload", HeaderLen + 40 + HeaderLen + 500},
		{"at the last byte", len(wire) - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sentinel := errors.New("test: connection reset")
			rec := recordingWriter{failErr: sentinel, failAfter: tt.failAfter}
			w := NewWriter(&rec)
			addAll(t, w, group)
			if err := w.Flush(); !errors.Is(err, sentinel) {
				t.Fatalf("Flush = %v, want the connection's error", err)
			}
			if got := rec.buf.Bytes(); !bytes.Equal(got, wire[:tt.failAfter]) {
				t.Fatalf("the failing Flush wrote %d bytes, want the %d the connection took", len(got), tt.failAfter)
			}
			addAll(t, w, []frame{next})
			if err := w.Flush(); err != nil {
				t.Fatalf("Flush after the failure: %v", err)
			}
			want := append(bytes.Clone(wire[:tt.failAfter]), encodeFrames(next)...)
			if !bytes.Equal(rec.buf.Bytes(), want) {
				t.Fatalf("after the failure the Writer wrote %d bytes, want the %d of the new frame alone",
					rec.buf.Len()-tt.failAfter, len(want)-tt.failAfter)
			}
		})
	}
}

// TestWriterWriteFrameAfterAdd checks that WriteFrame flushes the frames
// added before it, ahead of its own: the link's writer adds queued frames
// and WriteFrame sends a ping or the final error frame.
func TestWriterWriteFrameAfterAdd(t *testing.T) {
	tests := []struct {
		name  string
		added []frame
		last  frame
	}{
		{"nothing added", nil, frame{TypePing, nil}},
		{"one added", []frame{{TypeAck, pattern(12, 1)}}, frame{TypeComplete, pattern(12, 2)}},
		{"several added", []frame{{TypeFile, pattern(50, 3)}, {TypeData, pattern(3000, 4)}, {TypeEnd, pattern(13, 5)}}, frame{TypeError, pattern(20, 6)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recordingWriter
			w := NewWriter(&rec)
			addAll(t, w, tt.added)
			if err := w.WriteFrame(tt.last.typ, tt.last.payload); err != nil {
				t.Fatalf("WriteFrame: %v", err)
			}
			want := encodeFrames(append(tt.added, tt.last)...)
			if !bytes.Equal(rec.buf.Bytes(), want) {
				t.Fatalf("wrote %d bytes, want %d: the added frames, then WriteFrame's", rec.buf.Len(), len(want))
			}
			calls := rec.calls
			if err := w.Flush(); err != nil || rec.calls != calls {
				t.Fatalf("Flush after WriteFrame: err %v, %d more writes; WriteFrame left frames queued", err, rec.calls-calls)
			}
		})
	}
}

// TestWriterTCP sends frames with Add and Flush over a real loopback TCP
// connection, where Flush hands the buffers to writev (net.Buffers), and
// reads them back with a Reader: the kernel may take part of a gathered
// write, and the rest must follow in order.
func TestWriterTCP(t *testing.T) {
	tests := []struct {
		name   string
		frames []frame
		group  int // frames per Flush
	}{
		{"1000 small frames in groups of 64", manyFrames(1000, 200), 64},
		// 2000 buffers in one Flush, more than one writev takes (1024).
		{"1000 small frames in one group", manyFrames(1000, 200), 1000},
		// Groups of several MiB, more than the socket buffers hold, so
		// writev returns short and Flush must carry on mid-frame.
		{"200 frames up to 100 KiB in groups of 64", manyFrames(200, 100<<10), 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			server, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer server.Close()
			// Deadlines only bound a hang; nothing here waits on time.
			deadline := time.Now().Add(20 * time.Second)
			_ = client.SetDeadline(deadline)
			_ = server.SetDeadline(deadline)

			var werr error
			written := make(chan struct{})
			go func() {
				defer close(written)
				werr = writeGroups(client.(*net.TCPConn), tt.frames, tt.group)
			}()
			// Whatever happens below, the writer goroutine ends before the
			// test does: closing the server side fails its writes.
			defer func() {
				_ = server.Close()
				<-written
			}()

			r := NewReader(server)
			for i, want := range tt.frames {
				typ, got, err := r.ReadFrame()
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if typ != want.typ || !bytes.Equal(got, want.payload) {
					t.Fatalf("frame %d = %v, %d bytes; want %v, %d bytes", i, typ, len(got), want.typ, len(want.payload))
				}
			}
			if _, _, err := r.ReadFrame(); err != io.EOF {
				t.Fatalf("after %d frames: err = %v, want io.EOF", len(tt.frames), err)
			}
			<-written
			if werr != nil {
				t.Fatalf("writing: %v", werr)
			}
		})
	}
}

// writeGroups adds frames to a Writer on conn, flushing after every group
// of n and after the last, then half-closes so the reader sees the end.
func writeGroups(conn *net.TCPConn, frames []frame, n int) error {
	w := NewWriter(conn)
	for i, f := range frames {
		if err := w.Add(f.typ, f.payload); err != nil {
			return err
		}
		if (i+1)%n == 0 || i == len(frames)-1 {
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
	return conn.CloseWrite()
}

// groupWriter is a BuffersWriter that records each group it is handed.
type groupWriter struct {
	recordingWriter
	groups int
}

func (w *groupWriter) WriteBuffers(bufs *net.Buffers) (int64, error) {
	w.groups++
	return bufs.WriteTo(&w.recordingWriter)
}

// TestWriterBuffersWriter checks that a destination with WriteBuffers gets
// each flushed group whole, in one call, and no Write of its own: the
// link's writer wraps the connection this way to keep one gathered write
// per group while it renews the write deadline.
func TestWriterBuffersWriter(t *testing.T) {
	frames := manyFrames(100, 40)
	var gw groupWriter
	w := NewWriter(&gw)
	addAll(t, w, frames)
	if err := w.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if err := w.Flush(); err != nil {
		t.Fatalf("empty Flush: %v", err)
	}
	if gw.groups != 1 {
		t.Fatalf("WriteBuffers called %d times for one group and an empty flush, want 1", gw.groups)
	}
	if want := encodeFrames(frames...); !bytes.Equal(gw.buf.Bytes(), want) {
		t.Fatalf("the group wrote %d bytes, want %d; contents differ", gw.buf.Len(), len(want))
	}
}
