// Package transfer moves files, directories and streams between two
// programs over one connection, as the ferry command does: a Sender sends
// what Collect or StreamSource gives, and a Receiver receives it into a
// Destination, a directory (OpenDir) or a writer (ToWriter), and acks each
// file only once it is complete, verified and durable. With the same code
// on both sides (NewCode), a CPace handshake authenticates them and every
// frame is encrypted; without one they run in the plain mode. SendRaw and
// ReceiveRaw speak netcat's raw bytes.
//
// Underneath is ferry's protocol (PROTOCOL.md): the hello exchange, the
// sender that streams frames while a receive goroutine collects acks, the
// receiver that verifies, syncs and renames before it acks, and the close
// and abort handling that lets each side learn of the other's failure at
// once. The package draws no UI and prints nothing: it reports progress
// and finished files through callbacks, and fails with an *Error.
package transfer

import (
	"hash/crc32"
	"io"
	"io/fs"
	"time"

	"github.com/ferrytool/ferry/internal/codec"
	"github.com/ferrytool/ferry/internal/conn"
	"github.com/ferrytool/ferry/internal/secure"
	"github.com/ferrytool/ferry/internal/stripe"
)

// chunkSize is how many file bytes a sender puts in one data frame. Big
// enough that per-frame costs vanish, small enough that the queue between
// reading and writing stays within a few MiB.
const chunkSize = 256 << 10

// DefaultTimeout is how long a side waits without hearing from its peer.
const DefaultTimeout = conn.DefaultTimeout

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Compression is how a sender compresses file data (ferry send -z).
type Compression int

// The compression modes. CompressAuto, the zero value, uses s2 where it
// pays and sends a chunk raw where it does not.
const (
	CompressAuto = Compression(codec.Auto)
	CompressZstd = Compression(codec.Zstd)
	CompressS2   = Compression(codec.S2)
	CompressNone = Compression(codec.None)
)

// String gives the mode's name: auto, zstd, s2 or none.
func (c Compression) String() string { return codec.Mode(c).String() }

// ParseCompression gives the mode named s, one of auto, zstd, s2 and
// none, in any case; an unknown name is an error.
func ParseCompression(s string) (Compression, error) {
	m, err := codec.ParseMode(s)
	return Compression(m), err
}

// NewCode returns a fresh random code for a receiver: 15 decimal digits in
// groups of five, such as "48210-93755-62184" (49.8 bits).
func NewCode() string { return secure.NewCode() }

// MinCodeLen is the fewest letters or digits a code may have.
const MinCodeLen = secure.MinCodeLen

// ErrCodeTooShort is CheckCode's refusal of a code.
var ErrCodeTooShort = secure.ErrCodeTooShort

// CheckCode returns ErrCodeTooShort if code, its spaces, dashes and case
// ignored, has fewer than MinCodeLen letters or digits. Both sides should
// check a code they are given before they use it.
func CheckCode(code string) error { return secure.CheckCode(code) }

// options configure a transfer: a Sender's or a Receiver's settings, and
// the hooks of a serving receiver. The zero value sends with -z auto and the
// default timeout.
type options struct {
	// Compression is the sender's mode; receivers ignore it.
	Compression codec.Mode
	// NoResume makes a sender send every file whole, though the receiver
	// holds part of it from a transfer that failed.
	NoResume bool
	// Timeout is how long silence from the peer means it is dead; zero
	// means DefaultTimeout, negative means wait forever.
	Timeout time.Duration
	// Progress, if set, is called as bytes move, from the goroutine that
	// moves them, and never after Send or Receive has returned. It must
	// return quickly.
	Progress func(Progress)
	// FilesDone, if set, is called with the files the receiver has just
	// verified and made durable, in order, each file once. Many small
	// files are reported in groups, so a caller can print a group with one
	// write; the slice is valid only during the call.
	FilesDone func([]FileResult)
	// Code, if set, runs the encrypted mode: a CPace handshake on the code,
	// then every frame sealed. Both sides must be given the same code; ""
	// is the plain mode (--plain) on both sides.
	Code string
	// Secured, if set, is called with the cipher's name once the encrypted
	// mode's handshake has succeeded.
	Secured func(cipher string)
	// streams is how many connections a sender asks to stripe the
	// transfer over; 0 or 1 keeps it on one.
	streams int
	// joins, if set, takes the connections that join a receiver's
	// transfer: it serves a listener.
	joins *stripe.Joins
	// granted, if set, is called on a receiver that has granted a sender
	// parallel streams, before it tells the sender: tests forge joins then.
	granted func()

	// admit, if set, is called on a receiver in the encrypted mode once the
	// sender's hello has come, before the handshake: it may wait for the
	// sender's turn, or refuse it with an error the sender is told.
	admit func() error
	// greeted, if set, is called on a receiver's reading goroutine when a
	// valid hello came from the sender.
	greeted func()
	// offered, if set, is called on a receiver's reading goroutine when
	// the sender's offer came, past the handshake.
	offered func()
	// handshakeOver, if set, is called on a receiver as soon as the
	// sender's hello and handshake are over; counts says they failed in a
	// way that counts against the sender's address: after this side's
	// confirm, which tells a guesser whether its code was right, or by
	// running out of time, which held a turn.
	handshakeOver func(counts bool)
	// maxConns, if positive, replaces MaxConns for a serving receiver, so
	// tests can fill the table with a few connections.
	maxConns int
	// displaceAfter, if set, replaces displaceAfter for a serving
	// receiver.
	displaceAfter *time.Duration
}

func (o options) timeout() time.Duration {
	switch {
	case o.Timeout == 0:
		return DefaultTimeout
	case o.Timeout < 0:
		return 0
	}
	return o.Timeout
}

// Progress is a snapshot of a transfer in flight.
type Progress struct {
	Name      string // current file
	FileBytes int64  // bytes of the current file so far
	FileSize  int64  // its size, -1 if unknown
	Bytes     int64  // bytes of the whole transfer so far
	Total     int64  // size of the whole transfer, -1 if unknown
}

// FileResult describes one file that arrived complete and verified.
type FileResult struct {
	Name     string
	Bytes    int64 // the file's size
	Elapsed  time.Duration
	Checksum string // "crc32c:" and eight hex digits, of the whole file
	// ResumedFrom is how many of the file's first bytes the receiver
	// held from a transfer that failed, and were not sent again; 0 for a
	// file sent whole.
	ResumedFrom int64
	// Restarted says the receiver held partial data of the file that
	// turned out not to be the file's first bytes: it was sent whole.
	Restarted bool
	// Skipped, if not "", says why the file was not sent at all: the
	// receiver had it already ("already there"), or refused it (the
	// reason). Elapsed and Checksum are then empty.
	Skipped string
}

// Summary describes a finished transfer.
type Summary struct {
	Files   int   // regular files, or streams, sent whole or resumed
	Dirs    int   // directories
	Bytes   int64 // data bytes that moved over the connection
	Elapsed time.Duration
	// Resumed is how many files continued from data the receiver held,
	// and Reused those bytes, which were not sent again.
	Resumed int
	Reused  int64
	// Skipped is how many files the receiver had already, and were not
	// sent.
	Skipped int
	// RefusedFiles is how many files the receiver refused: they were not
	// sent, and the transfer failed for them once the other files had
	// arrived. Refused names the first of them, at most
	// MaxRefusedNames, each with the reason, so that memory does not
	// grow with a tree whose every file is refused.
	RefusedFiles int
	Refused      []string
}

// MaxRefusedNames is the most files Summary.Refused names.
const MaxRefusedNames = 1000

func checksumString(sum uint32) string {
	const prefix, digits = "crc32c:", "0123456789abcdef"
	var b [len(prefix) + 8]byte
	copy(b[:], prefix)
	for i := range 8 {
		b[len(b)-1-i] = digits[sum>>(4*i)&0xf]
	}
	return string(b[:])
}

// smallFrame returns an empty buffer for a small frame's payload with n
// bytes of variable fields (a name), and room for the fixed fields and the
// AEAD tag, so that sealing the frame works in place.
func smallFrame(n int) []byte {
	return make([]byte, 0, n+smallFrameCap)
}

// smallFrameRoom is more than any small frame's fixed fields, and
// smallFrameCap the capacity of a small frame without variable fields,
// its tag included.
const (
	smallFrameRoom = 48
	smallFrameCap  = smallFrameRoom + secure.Overhead
)

// Source is one entry for Send: a file, a stream or a directory.
type Source struct {
	Name    string      // name on the receiver, slash-separated
	Size    int64       // -1 for a stream of unknown length; 0 for a directory
	Mode    fs.FileMode // permission bits, and fs.ModeDir for a directory
	ModTime time.Time
	Open    func() (io.ReadCloser, error) // nil for a directory
}

// StreamSource describes a stream of unknown length, such as stdin, to be
// received under name. If r is an io.ReadCloser, a failed Send closes it to
// stop a read blocked on it.
func StreamSource(name string, r io.Reader) Source {
	rc, ok := r.(io.ReadCloser)
	if !ok {
		rc = io.NopCloser(r)
	}
	return Source{
		Name:    name,
		Size:    -1,
		Mode:    0o644,
		ModTime: time.Now(),
		Open:    func() (io.ReadCloser, error) { return rc, nil },
	}
}

// unwrapPath drops the *fs.PathError wrapper so a message names the path once.
func unwrapPath(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}
