// Package framing is ferry's wire format: the frame types, their payload
// layouts, a length-prefixed frame reader and writer, and the limits that keep
// a hostile peer from making either side allocate more than a fixed amount.
//
// A frame is a type byte, a big-endian uint32 payload length, and the
// payload. PROTOCOL.md is the normative description; this package is its
// implementation.
package framing

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
)

// Type identifies what a frame's payload holds.
type Type uint8

// Frame types. Each comment gives the payload layout; integers are big-endian.
const (
	// TypeHello opens the connection, once from each side:
	// magic "ferry" | version u8 | role u8 | capabilities u32 | ignored extension bytes.
	TypeHello Type = 0x01
	// TypeOffer, sender to receiver, announces the transfer before any file:
	// file count u32 | total bytes u64 (UnknownSize when a stream's length is unknown).
	TypeOffer Type = 0x02
	// TypeFile, sender to receiver, starts a file:
	// index u32 | kind u8 | mode u32 | mtime i64 (Unix ns) | size u64 | name length u16 | name.
	TypeFile Type = 0x03
	// TypeData, sender to receiver, carries one chunk of the current file:
	// offset u64 | codec u8 | raw length u32 | body (raw length bytes once decoded).
	TypeData Type = 0x04
	// TypeEnd, sender to receiver, closes the current file:
	// size u64 | checksum algorithm u8 | digest (4 bytes for CRC-32C).
	TypeEnd Type = 0x05
	// TypeDone, sender to receiver, is the sender's last frame:
	// file count u32 | total bytes u64.
	TypeDone Type = 0x06
	// TypeCheck, sender to receiver, asks what the receiver holds of
	// regular files the sender is about to send (CapResume):
	// count u16 | count x (index u32 | size u64 | mtime i64 (Unix ns) | name length u16 | name).
	TypeCheck Type = 0x07
	// TypeSkip, sender to receiver, in place of a checked file's frames:
	// index u32 | reason u8 (SkipHeld, SkipRefused).
	TypeSkip Type = 0x08
	// TypeResume, sender to receiver, right before a checked file's file
	// frame: the file continues the receiver's partial data from offset:
	// index u32 | offset u64.
	TypeResume Type = 0x09
	// TypeAck, receiver to sender, says a file is verified, synced and in place:
	// index u32 | size u64.
	TypeAck Type = 0x10
	// TypeComplete, receiver to sender, is the final ack of the whole transfer:
	// file count u32 | total bytes u64.
	TypeComplete Type = 0x11
	// TypeHolds, receiver to sender, answers one check frame, its entries
	// in the same order:
	// count u16 | count x (index u32 | state u8 | code u16 | length u64 | digest, 32 bytes of SHA-256).
	TypeHolds Type = 0x15
	// TypeError, either direction, ends the transfer because of a failure:
	// code u16 | message (UTF-8, at most MaxMessage bytes).
	TypeError Type = 0x12
	// TypeAbort, either direction, ends the transfer because a user interrupted it:
	// reason (UTF-8, at most MaxMessage bytes).
	TypeAbort Type = 0x13
	// TypePing, either direction, proves the peer is alive while nothing else moves:
	// empty payload.
	TypePing Type = 0x14
	// TypeJoin opens parallel streams (PROTOCOL.md 2.12): receiver to
	// sender right after the handshake it grants them, sender to receiver
	// it ends the first connection's single stream, and it is the first
	// frame of each connection that joins:
	// token (16 bytes) | count or index u8.
	TypeJoin Type = 0x16
	// TypePake, during the handshake of the encrypted mode, carries one
	// side's CPace message; package secure defines its layout.
	TypePake Type = 0x20
	// TypeConfirm, during the handshake of the encrypted mode, proves that
	// its sender derived the same keys; package secure defines its layout.
	TypeConfirm Type = 0x21
)

// String names a frame type for error messages.
func (t Type) String() string {
	switch t {
	case TypeHello:
		return "hello"
	case TypeOffer:
		return "offer"
	case TypeFile:
		return "file"
	case TypeData:
		return "data"
	case TypeEnd:
		return "end"
	case TypeDone:
		return "done"
	case TypeCheck:
		return "check"
	case TypeSkip:
		return "skip"
	case TypeResume:
		return "resume"
	case TypeHolds:
		return "holds"
	case TypeAck:
		return "ack"
	case TypeComplete:
		return "complete"
	case TypeError:
		return "error"
	case TypeAbort:
		return "abort"
	case TypePing:
		return "ping"
	case TypeJoin:
		return "join"
	case TypePake:
		return "pake"
	case TypeConfirm:
		return "confirm"
	}
	return fmt.Sprintf("unknown(0x%02x)", uint8(t))
}

// Limits.
const (
	// HeaderLen is the size of a frame header: type u8 | length u32.
	HeaderLen = 5
	// MaxChunk is the most file bytes one data frame may carry once decoded.
	MaxChunk = 1 << 20
	// DataHeaderLen is the size of a data frame's fixed fields before its body.
	DataHeaderLen = 8 + 1 + 4
	// MaxPayload is the largest payload a reader accepts: a full data frame
	// plus room for the fields a later protocol version adds (an AEAD tag).
	MaxPayload = MaxChunk + DataHeaderLen + 64
	// MaxHandshakePayload is the largest payload a reader accepts before
	// the peer is known: the hellos, the handshake's frames and error or
	// abort frames all fit.
	MaxHandshakePayload = 4096
	// MaxName is the longest file name, in bytes, a file frame may carry.
	MaxName = 4096
	// MaxMessage is the longest error or abort text, in bytes.
	MaxMessage = 1024
	// MaxCheck is the most entries one check frame, and so one holds
	// frame, may carry.
	MaxCheck = 1024
	// UnknownSize stands for a size not known in advance (a stream from stdin).
	UnknownSize = ^uint64(0)
)

// Errors returned by the reader and the payload decoders.
var (
	// ErrFrameTooLarge means a frame header declared a payload over the
	// reader's limit, MaxPayload unless set lower.
	ErrFrameTooLarge = errors.New("framing: frame too large")
	// ErrTruncated means the stream ended inside a frame.
	ErrTruncated = errors.New("framing: truncated frame")
	// ErrMalformed means a payload does not match its type's layout.
	ErrMalformed = errors.New("framing: malformed payload")
	// ErrNotFerry means the first bytes from the peer are not a ferry hello.
	ErrNotFerry = errors.New("framing: peer is not speaking the ferry protocol")
)

// Reader reads frames from a byte stream. It reuses one buffer, so a payload
// is valid only until the next call to ReadFrame.
type Reader struct {
	r     io.Reader
	hdr   [HeaderLen]byte
	buf   []byte
	limit uint32 // the largest payload accepted
}

// NewReader returns a Reader that reads frames from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: r, limit: MaxPayload}
}

// SetLimit sets the largest payload ReadFrame accepts, MaxPayload at the
// most (and by default): MaxHandshakePayload keeps a peer not yet known
// from making this side hold a big buffer.
func (r *Reader) SetLimit(n uint32) {
	r.limit = min(n, MaxPayload)
}

// ReadFrame reads the next frame. At a clean end of stream between frames it
// returns io.EOF; inside a frame it returns ErrTruncated. A declared length
// over the limit (see SetLimit) is rejected before anything is allocated.
func (r *Reader) ReadFrame() (Type, []byte, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			err = ErrTruncated
		}
		return 0, nil, err
	}
	t := Type(r.hdr[0])
	n := binary.BigEndian.Uint32(r.hdr[1:])
	if n > r.limit {
		return t, nil, fmt.Errorf("%w: %s frame declares %d bytes, limit %d", ErrFrameTooLarge, t, n, r.limit)
	}
	if cap(r.buf) < int(n) {
		// Grow geometrically so a connection allocates a handful of times at most.
		r.buf = make([]byte, min(max(int(n), 2*cap(r.buf)), MaxPayload))
	}
	p := r.buf[:n]
	if _, err := io.ReadFull(r.r, p); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = ErrTruncated
		}
		return t, nil, err
	}
	return t, p, nil
}

// Writer writes frames to a byte stream: on a TCP connection each frame, or
// each group of frames added before a Flush, goes out in one gathered
// write. It is not safe for concurrent use; each direction of a ferry
// connection has exactly one writing goroutine.
type Writer struct {
	w    io.Writer
	hdrs []byte      // the headers of the frames added since the last flush
	bufs net.Buffers // those headers and payloads, in order
}

// BuffersWriter is a destination that writes a group of buffers itself, in
// one gathered write as a TCP connection does, consuming from bufs what it
// wrote. Flush hands such a destination each group whole: a wrapper around
// a connection implements it to keep the gathered write, which an
// io.Writer wrapper would lose.
type BuffersWriter interface {
	WriteBuffers(bufs *net.Buffers) (int64, error)
}

// WriteBuffers writes bufs to w in one gathered write: through w's own
// WriteBuffers if it is a BuffersWriter, else as net.Buffers.WriteTo
// does, which gathers only for the standard library's connections.
func WriteBuffers(w io.Writer, bufs *net.Buffers) (int64, error) {
	if bw, ok := w.(BuffersWriter); ok {
		return bw.WriteBuffers(bufs)
	}
	return bufs.WriteTo(w)
}

// NewWriter returns a Writer that writes frames to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w}
}

// WriteFrame writes one frame, after any frames added before it. The
// payload must not exceed MaxPayload.
func (w *Writer) WriteFrame(t Type, payload []byte) error {
	if err := w.Add(t, payload); err != nil {
		return err
	}
	return w.Flush()
}

// Add queues a frame for the next Flush, so that many small frames cost one
// write. The payload must not change until Flush returns.
func (w *Writer) Add(t Type, payload []byte) error {
	if len(payload) > MaxPayload {
		return fmt.Errorf("%w: %s frame of %d bytes, limit %d", ErrFrameTooLarge, t, len(payload), MaxPayload)
	}
	// A header slice taken before append grows hdrs keeps the old array,
	// which is never written again before the flush.
	n := len(w.hdrs)
	w.hdrs = binary.BigEndian.AppendUint32(append(w.hdrs, byte(t)), uint32(len(payload)))
	w.bufs = append(w.bufs, w.hdrs[n:n+HeaderLen:n+HeaderLen], payload)
	return nil
}

// Flush writes every frame added since the last Flush.
func (w *Writer) Flush() error {
	if len(w.bufs) == 0 {
		return nil
	}
	bufs := w.bufs
	_, err := WriteBuffers(w.w, &bufs)
	clear(w.bufs)
	w.bufs = w.bufs[:0]
	w.hdrs = w.hdrs[:0]
	return err
}

// AppendFrame appends a whole frame (header and payload) to dst. It is the
// encoding WriteFrame puts on the wire, for tests and golden files.
func AppendFrame(dst []byte, t Type, payload []byte) []byte {
	dst = append(dst, byte(t))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...)
}
