package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"net"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/codec"
	"github.com/ferrytool/ferry/internal/names"
	"github.com/ferrytool/ferry/internal/rawnc"
)

// A Sender sends files, directories and streams to a Receiver over one
// connection. Its zero value sends in the plain mode (no code, no
// encryption), with -z auto and DefaultTimeout; set Code for the
// encrypted mode. A Sender may be used for several transfers, also at
// once: it holds only its settings.
type Sender struct {
	// Code, if set, runs the encrypted mode: a CPace handshake on the
	// code, then every frame sealed. The receiver must have the same
	// code; "" is the plain mode, which the receiver must run too.
	Code string
	// Compression is how file data is compressed (ferry send -z).
	Compression Compression
	// Timeout is how long silence from the receiver means it is dead; zero
	// means DefaultTimeout, negative means wait forever.
	Timeout time.Duration
	// Progress, if set, is called as bytes move, from the goroutine that
	// moves them, and never after Send has returned. It must return
	// quickly.
	Progress func(Progress)
	// FilesDone, if set, is called with the files the receiver has just
	// verified and made durable, in order, each file once. Many small
	// files are reported in groups; the slice is valid only during the
	// call.
	FilesDone func([]FileResult)
	// Secured, if set, is called with the cipher's name once the
	// encrypted mode's handshake has succeeded.
	Secured func(cipher string)
	// NoResume sends every file whole, though the receiver holds part of
	// it from a transfer that failed (ferry send --no-resume). Files the
	// receiver has whole are skipped all the same.
	NoResume bool
	// Streams, if 2 or more, stripes the transfer over that many TCP
	// connections to the receiver's address, at most MaxStreams, for a
	// path where one connection's window cannot fill the link (ferry send
	// -P). The receiver must serve a listener (Receiver.Serve); one that
	// does not, or an older one, gets one connection, as do a conn other
	// than TCP and the zero value.
	Streams int
}

func (s *Sender) options() options {
	return options{Compression: codec.Mode(s.Compression), Timeout: s.Timeout, Progress: s.Progress, FilesDone: s.FilesDone, Code: s.Code, Secured: s.Secured, NoResume: s.NoResume, streams: s.Streams}
}

// Send sends sources over conn, in tree order, and returns once the
// receiver has confirmed that every file arrived complete, verified and
// durable. Sources come from Collect (paths) or StreamSource (a reader).
// Cancelling ctx aborts the transfer and tells the receiver. Send closes
// conn. It sends nothing, and fails, unless there is at least one source,
// and every one but a directory has an Open. It holds every source to
// the end: SendSeq sends a tree of any size in little memory.
func (s *Sender) Send(ctx context.Context, conn net.Conn, sources ...Source) (Summary, error) {
	if err := checkSources(sources); err != nil {
		_ = conn.Close()
		return Summary{}, described(err, conn.RemoteAddr(), "")
	}
	return send(ctx, conn, sources, s.options())
}

// SendSeq is Send for sources taken from a sequence as they are sent, such
// as Walk's, so that a sender holds a window of them (a few thousand) and
// not the whole tree. The receiver is told the totals before the first
// entry, so SendSeq needs them first: t must be what Count gave for the
// same sources, found before connecting, so that what Count refuses (a
// file this process may not read, sources out of tree order) fails with
// nothing sent. SendSeq ranges over sources once more as it sends, in a
// goroutine of its own; if that yields an error, or sources other than
// those counted (a tree changed since: more or fewer entries, or files
// grown past the bytes counted), the entries before are sent and the
// transfer fails. Cancelling ctx aborts the transfer and tells the
// receiver; a walk should take the same ctx. SendSeq closes conn.
func (s *Sender) SendSeq(ctx context.Context, conn net.Conn, t Totals, sources iter.Seq2[Source, error]) (Summary, error) {
	if t.Entries <= 0 || int64(t.Entries) > math.MaxUint32 {
		_ = conn.Close()
		err := errNoSources
		if t.Entries > 0 {
			err = fmt.Errorf("cannot send %d entries: at most %d go in one transfer", t.Entries, uint32(math.MaxUint32))
		}
		return Summary{}, described(err, conn.RemoteAddr(), "")
	}
	return sendWindow(ctx, conn, seqWindow(sources, t), s.options())
}

// A Receiver receives what a Sender sends into a Destination. Its zero
// value receives in the plain mode with DefaultTimeout; set Code for the
// encrypted mode, which a Sender without the same code cannot pass. A
// Receiver may serve several connections at once.
type Receiver struct {
	// Code, if set, runs the encrypted mode; "" is the plain mode.
	Code string
	// Timeout is how long silence from the sender means it is dead, and
	// how long its hello and handshake may take; zero means
	// DefaultTimeout, negative means wait forever (the handshake still
	// gets DefaultTimeout).
	Timeout time.Duration
	// Progress, if set, is called as bytes arrive, from the goroutine that
	// writes them, and never after Receive has returned.
	Progress func(Progress)
	// FilesDone, if set, is called with the files just verified and made
	// durable, in order, in groups; the slice is valid only during the
	// call.
	FilesDone func([]FileResult)
	// Secured, if set, is called with the cipher's name once the
	// encrypted mode's handshake has succeeded.
	Secured func(cipher string)
}

// receiver is the Receiver whose options o holds.
func (o options) receiver() Receiver {
	return Receiver{Code: o.Code, Timeout: o.Timeout, Progress: o.Progress, FilesDone: o.FilesDone, Secured: o.Secured}
}

func (r *Receiver) options() options {
	return options{Timeout: r.Timeout, Progress: r.Progress, FilesDone: r.FilesDone, Code: r.Code, Secured: r.Secured}
}

// Receive serves the one sender on conn: it writes each entry into dest,
// verifies its checksum, makes it durable and only then tells the sender
// it arrived, and returns once the sender's last frame has been
// confirmed. On a failure the entry being received is discarded and the
// sender told why. Cancelling ctx aborts the transfer and tells the
// sender. Receive closes conn.
func (r *Receiver) Receive(ctx context.Context, conn net.Conn, dest Destination) (Summary, error) {
	return receive(ctx, conn, dest, r.options())
}

// Serve accepts senders on ln and receives from each into dest, as ferry
// recv does, reporting each connection through the callbacks of opts.
// Without KeepOpen it returns the first transfer's error; a connection
// that was no transfer (see NoTransfer) is not one, and one that comes
// while another is served is told the receiver is busy, unless the other
// has not sent its hello for a second: that one is closed (ErrDisplaced)
// and the new one served. With KeepOpen it serves up to MaxConns
// connections at once, MaxConnsPerAddress of them from one prefix (an IPv4
// address or an IPv6 /64); when either is full, a connection whose offer
// has not come (one without its hello first) is closed (ErrDisplaced) to
// make room, from the prefix holding the most connections, else the new
// one is told the receiver is busy. A connection has 10 seconds for its
// hello. In the encrypted mode the guessing limits of PROTOCOL.md, section
// 4.10, apply: a prefix with 3 failed handshakes in a minute is turned
// away, for longer each time it does it again, and the failures from
// everywhere have a budget sized from the code's strength; one handshake
// per prefix, and 8 in all, run at once, the other senders waiting their
// turn. With KeepOpen it returns when ctx ends, after aborting every
// transfer still running and waiting for each to be cleaned up. Accepting
// is retried, after a pause, when the process is out of descriptors or
// memory. Serve closes ln.
func (r *Receiver) Serve(ctx context.Context, ln net.Listener, dest Destination, opts ServeOptions) error {
	return serve(ctx, ln, dest, r.options(), opts)
}

// SendRaw sends the bytes of r over conn with no framing at all, as nc -N
// does, for a receiver that is netcat or ReceiveRaw: no code, no names, no
// checksum. It returns once the receiver has closed its end after the
// last byte. Cancelling ctx resets the connection, so the receiver cannot
// take the bytes so far for the whole. SendRaw closes conn.
func (s *Sender) SendRaw(ctx context.Context, conn net.Conn, r io.Reader) (Summary, error) {
	start := time.Now()
	n, err := rawnc.Send(ctx, conn, r, s.options().timeout(), func(m framing.ErrorMsg, aborted bool) error {
		return peerReport(framing.RoleReceiver, m.Code, m.Message, aborted)
	})
	return Summary{Files: 1, Bytes: n, Elapsed: time.Since(start)}, described(err, conn.RemoteAddr(), "")
}

// ReceiveRaw writes the bytes that arrive on conn, with no framing, as
// netcat sends them, to w until the sender ends its stream, then calls
// commit, if it is not nil, before it closes the connection: with a
// *File's Commit, the bytes are durable under the file's name before a
// ferry SendRaw hears that they arrived. Any failure, commit's included,
// resets the connection, and so does cancelling ctx. ReceiveRaw closes
// conn.
func (r *Receiver) ReceiveRaw(ctx context.Context, conn net.Conn, w io.Writer, commit func() error) (Summary, error) {
	start := time.Now()
	n, err := rawnc.Receive(ctx, conn, w, commit, r.options().timeout())
	return Summary{Files: 1, Bytes: n, Elapsed: time.Since(start)}, described(err, conn.RemoteAddr(), "")
}

// errNoSources is Send's refusal of an empty transfer, which the protocol
// has no offer for.
var errNoSources = errors.New("nothing to send: no sources")

// checkSources refuses what send cannot send: no sources, or a file or
// stream without an Open.
func checkSources(sources []Source) error {
	if len(sources) == 0 {
		return errNoSources
	}
	for _, src := range sources {
		if src.Open == nil && !src.Mode.IsDir() {
			return fmt.Errorf("cannot send %s: the source has no Open", names.Quote(src.Name))
		}
	}
	return nil
}
