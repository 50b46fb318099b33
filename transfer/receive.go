package transfer

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"net"
	"sync"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/codec"
	"github.com/ferrytool/ferry/internal/conn"
	"github.com/ferrytool/ferry/internal/destdir"
	"github.com/ferrytool/ferry/internal/names"
)

// receiver is the state of one Receive.
type receiver struct {
	l    *link
	opts options
	to   Destination
	dec  *codec.Decoder
	out  []byte // decompression buffer, allocated at the first compressed chunk

	offer   framing.Offer
	framed  bool // a frame came after the hello and handshake
	batch   batch
	entries uint32 // entries received, the next one's index
	bytes   uint64 // data bytes received, in every entry
	// heldBytes is the bytes of files skipped and of resumed files'
	// beginnings: done, for progress, without being received.
	heldBytes uint64
	summary   Summary

	queued []queuedAck  // entries committed but not yet acked, in order
	done   []FileResult // reused for options.FilesDone

	// The check exchange (PROTOCOL.md 2.11).
	resume    bool                     // both sides take part
	checked   indexQueue[checkedEntry] // answers given, for entries not yet come
	nextCheck uint32                   // the lowest index a check may ask about
	resumeAt  *framing.Resume          // a resume frame read, for the next entry
	// The first file refused, and the error code of its refusal.
	refusedFirst string
	refusedCode  uint16

	// The entry being received.
	dest      destdir.Destination
	entry     string // the name of the entry being received, for errors
	hdr       framing.File
	written   uint64
	from      uint64 // the bytes held before, for a resumed file
	restarted bool   // partial data was held, and the file comes whole
	sum       uint32
	started   time.Time
}

// queuedAck is an entry that is verified and committed, waiting for the
// batch to make it durable before the sender hears that it is in place.
type queuedAck struct {
	hdr       framing.File
	size      uint64
	from      uint64 // the bytes held before, for a resumed file
	restarted bool   // partial data was held, and the file came whole
	sum       uint32
	started   time.Time
}

// receive serves one sender on conn: it writes each file to to, verifies
// its checksum, commits it, and acks it, and returns once the sender's last
// frame has been confirmed. On any failure the file being received is
// discarded and the sender is told why. Cancelling ctx sends an abort to the
// sender. The sender's hello and handshake must be done within the timeout
// (DefaultTimeout if there is none), which its pings do not extend then.
// receive closes conn.
func receive(ctx context.Context, conn net.Conn, to Destination, opts options) (Summary, error) {
	start := time.Now()
	dec, err := codec.NewDecoder()
	if err != nil {
		_ = conn.Close()
		return Summary{}, described(err, conn.RemoteAddr(), "")
	}
	defer dec.Close()
	r := &receiver{l: newLink(conn, framing.RoleReceiver, opts), opts: opts, to: to, dec: dec}
	r.l.HandshakeWithin(start, handshakeTime(opts.timeout()), "")
	stop := context.AfterFunc(ctx, func() { r.l.Interrupt(ctx) })
	defer stop()

	var wg sync.WaitGroup
	wg.Go(func() {
		if err := r.run(); err != nil {
			r.l.Fail(err)
		}
	})
	wg.Wait()
	if r.dest != nil {
		r.dest.Discard()
	}
	if r.batch != nil {
		if r.l.Err() != nil {
			// Files that arrived whole and verified are kept, as a
			// successful transfer would have kept them, and reported;
			// their acks cannot reach the sender any more. After a flush
			// that failed, some of the queued entries may have been
			// discarded: then the batch reports none, rather than one
			// wrongly.
			if n, err := r.batch.Durable(true); err == nil {
				r.report(n)
			}
			// The directories made get the sender's modes and times as
			// far as that leaves them open to a retry: one left private
			// would stay so after a retry merged into it. Also after a
			// failed write or flush; not after Ctrl-C, which must not
			// wait on many of them.
			if ctx.Err() == nil {
				_ = r.batch.Finish(true) // the transfer's own error stands
			}
		}
		r.batch.Close()
	}
	err = r.l.Err()
	if err == nil {
		// The writer still has the final acks to send; let it finish
		// first, unless it gives up on a sender that takes none of them,
		// or ctx ends meanwhile (Ctrl-C must not wait for that).
		select {
		case <-r.l.WriterDone():
		case <-r.l.Failed():
		}
		err = r.l.Err()
	}
	if err != nil && ctx.Err() != nil && r.l.AllSent() {
		// A receiver half-closes only after its complete frame (onDone),
		// so all sent means the files are in place and synced and the
		// sender told: interrupted while it waited for the sender's
		// half-close, a -k receiver stopped with Ctrl-C must not call the
		// transfer interrupted.
		err = nil
	}
	if err != nil && !errors.Is(err, ErrSilentPeer) && r.l.Silent(err) {
		// The writer met the silent sender's reset before the reader did.
		err = fmt.Errorf("%s %w", conn.RemoteAddr(), ErrSilentPeer)
	}
	if err != nil {
		r.l.Shutdown(true)
	} else {
		r.l.Close()
	}
	r.summary.Elapsed = time.Since(start)
	if err == nil && r.summary.RefusedFiles > 0 {
		err = refusalError(r.summary, r.refusedFirst, r.refusedCode)
	}
	return r.summary, withBytes(described(err, conn.RemoteAddr(), r.entry), r.l, r.offer.Files != 0, r.bytes+r.heldBytes, r.offer.Bytes)
}

// run is the receiver's receive goroutine: it reads every frame the sender
// sends, while the link's writer goroutine carries acks back. A sender
// whose hello came that fails or goes before its code was tried (the
// receiver's confirm is what tells a guesser), or in the plain mode
// before a frame after its hello, began no transfer: a client that sends a
// hello and hangs up must not end a one-shot receiver, nor count as a
// sender in the log.
func (r *receiver) run() error {
	err := r.receive()
	before := r.l.code != "" && !r.l.confirmSent || r.l.code == "" && !r.framed
	if err != nil && r.l.helloCame && before && !NoTransfer(err) {
		err = &markedError{err: err, mark: errGoneBeforeCode}
	}
	return err
}

// receive reads the hello, runs the handshake, then reads every frame
// until done.
func (r *receiver) receive() error {
	h, err := r.l.hello(codec.Capabilities | framing.CapResume)
	r.resume = h.Capabilities&framing.CapResume != 0
	if r.opts.handshakeOver != nil {
		r.opts.handshakeOver(err != nil && (r.l.confirmSent || errors.Is(err, ErrTimeout)))
	}
	if err != nil {
		return err
	}
	for {
		if err := r.acknowledge(false); err != nil {
			return err
		}
		t, p, err := r.l.ReadFrame()
		r.framed = r.framed || err == nil
		if err != nil {
			if errors.Is(err, io.EOF) {
				return r.l.Lost(io.ErrUnexpectedEOF, "the sender closed the connection before its last frame")
			}
			if failed := r.l.Err(); failed != nil {
				return failed
			}
			return err
		}
		switch t {
		case framing.TypePing:
			err = framing.ParsePing(p)
		case framing.TypeOffer:
			err = r.onOffer(p)
		case framing.TypeFile:
			err = r.onFile(p)
		case framing.TypeData:
			err = r.onData(p)
		case framing.TypeEnd:
			err = r.onEnd(p)
		case framing.TypeCheck:
			err = r.onCheck(p)
		case framing.TypeSkip:
			err = r.onSkip(p)
		case framing.TypeResume:
			err = r.onResume(p)
		case framing.TypeDone:
			return r.onDone(p)
		case framing.TypeError, framing.TypeAbort:
			return r.l.peerError(t, p)
		default:
			err = protocolErrorf("unexpected %s frame from the sender", t)
		}
		if err != nil {
			return err
		}
	}
}

func (r *receiver) onOffer(p []byte) error {
	if r.offer.Files != 0 {
		return protocolErrorf("a second offer")
	}
	o, err := framing.ParseOffer(p)
	if err != nil {
		return err
	}
	if o.Files == 0 {
		return protocolErrorf("an offer of no files")
	}
	if r.opts.offered != nil {
		r.opts.offered()
	}
	r.offer = o
	r.batch, err = r.to.begin(o)
	return err
}

func (r *receiver) onFile(p []byte) error {
	switch {
	case r.offer.Files == 0:
		return protocolErrorf("a file before the offer")
	case r.dest != nil:
		return protocolErrorf("a file inside %s", names.Quote(r.hdr.Name))
	}
	f, err := framing.ParseFile(p)
	if err != nil {
		return err
	}
	r.entry = f.Name
	if f.Index != r.entries || f.Index >= r.offer.Files {
		return protocolErrorf("file index %d where %d was due", f.Index, r.entries)
	}
	if f.Kind == framing.KindDir && f.Size != 0 {
		return protocolErrorf("directory %s with a size", names.Quote(f.Name))
	}
	e, err := entryOf(f)
	if err != nil {
		return err
	}
	c, checked := r.checked.take(f.Index)
	if checked && (f.Name != c.name || f.Size != c.size || f.ModTime != c.mtime || f.Kind != framing.KindRegular) {
		return protocolErrorf("%s is not the file checked as entry %d", names.Quote(f.Name), f.Index)
	}
	var dest destdir.Destination
	var from uint64
	var sum uint32
	if rs := r.resumeAt; rs != nil {
		r.resumeAt = nil
		dest, sum, err = r.batch.CreateAt(e, int64(rs.Offset))
		from = rs.Offset
	} else {
		dest, err = r.batch.Create(e)
	}
	if err != nil {
		return err
	}
	r.dest, r.hdr, r.written, r.sum, r.started = dest, f, from, sum, time.Now()
	r.from, r.restarted = from, checked && c.state == framing.HeldPartial && from == 0
	r.heldBytes += from
	return nil
}

func (r *receiver) onData(p []byte) error {
	if r.dest == nil {
		return protocolErrorf("data outside a file")
	}
	d, err := framing.ParseData(p)
	if err != nil {
		return err
	}
	if d.Offset != r.written {
		return protocolErrorf("data for offset %d of %s, expected %d", d.Offset, names.Quote(r.hdr.Name), r.written)
	}
	if r.hdr.Size != framing.UnknownSize && r.written+uint64(d.RawLen) > r.hdr.Size {
		return protocolErrorf("more data than the %d bytes announced for %s", r.hdr.Size, names.Quote(r.hdr.Name))
	}
	if r.offer.Bytes != framing.UnknownSize && r.bytes+uint64(d.RawLen) > r.offer.Bytes {
		return protocolErrorf("more data than the %d bytes offered for the whole transfer", r.offer.Bytes)
	}
	if d.Codec != framing.CodecNone && r.out == nil {
		r.out = make([]byte, framing.MaxChunk)
	}
	raw, err := r.dec.Decode(r.out, d)
	if err != nil {
		return withCode(framing.CodeProtocol, err)
	}
	r.sum = crc32.Update(r.sum, castagnoli, raw)
	if _, err := r.dest.Write(raw); err != nil {
		return err
	}
	r.written += uint64(len(raw))
	r.bytes += uint64(len(raw))
	if r.opts.Progress != nil {
		total := int64(-1)
		if r.offer.Bytes != framing.UnknownSize {
			total = int64(r.offer.Bytes)
		}
		size := int64(-1)
		if r.hdr.Size != framing.UnknownSize {
			size = int64(r.hdr.Size)
		}
		r.opts.Progress(Progress{Name: r.hdr.Name, FileBytes: int64(r.written), FileSize: size, Bytes: int64(r.bytes + r.heldBytes), Total: total})
	}
	return nil
}

func (r *receiver) onEnd(p []byte) error {
	if r.dest == nil {
		return protocolErrorf("end outside a file")
	}
	e, err := framing.ParseEnd(p)
	if err != nil {
		return err
	}
	switch {
	case e.Size != r.written:
		return protocolErrorf("%s ended at %d bytes, %d arrived", names.Quote(r.hdr.Name), e.Size, r.written)
	case r.hdr.Size != framing.UnknownSize && e.Size != r.hdr.Size:
		return protocolErrorf("%s ended at %d bytes, %d were announced", names.Quote(r.hdr.Name), e.Size, r.hdr.Size)
	case e.Digest != r.sum:
		fate := "the file was discarded"
		if r.to.streams() {
			fate = "the data already written out is not what was sent"
		}
		return fmt.Errorf("%w for %s: sender's crc32c %08x, received data's %08x; %s", ErrChecksum, names.Quote(r.hdr.Name), e.Digest, r.sum, fate)
	}
	if err := r.dest.Commit(); err != nil {
		return err
	}
	r.dest, r.entry = nil, ""
	r.entries++
	r.queued = append(r.queued, queuedAck{hdr: r.hdr, size: r.written, from: r.from, restarted: r.restarted, sum: r.sum, started: r.started})
	return nil
}

// entryOf is the entry of the file frame f as a destination takes it.
func entryOf(f framing.File) (destdir.Entry, error) {
	e := destdir.Entry{Name: f.Name, Dir: f.Kind == framing.KindDir, Size: destdir.UnknownSize, Mode: fs.FileMode(f.Mode), ModTime: unixTime(f.ModTime)}
	switch {
	case f.Kind != framing.KindRegular && f.Kind != framing.KindDir:
		return destdir.Entry{}, withCode(framing.CodeUnsupported, fmt.Errorf("refusing %s: the receiver takes only files and directories, not kind %d", names.Quote(f.Name), f.Kind))
	case f.Size != framing.UnknownSize:
		e.Size = int64(min(f.Size, math.MaxInt64))
	}
	return e, nil
}

// acknowledge acks the entries the batch says are now durable and in
// place, with wait once it has made every one so.
func (r *receiver) acknowledge(wait bool) error {
	if r.batch == nil {
		return nil
	}
	n, err := r.batch.Durable(wait)
	if err != nil || n == 0 {
		return err
	}
	return r.ack(n)
}

// ack tells the sender that the first n queued entries are in place, and
// reports them.
func (r *receiver) ack(n int) error {
	acks := make([]conn.Frame, n)
	payloads := make([]byte, n*smallFrameCap) // the acks' buffers, as smallFrame(0) gives each, in one allocation
	for i, q := range r.queued[:n] {
		p := payloads[i*smallFrameCap : i*smallFrameCap : (i+1)*smallFrameCap]
		acks[i] = conn.Frame{Type: framing.TypeAck, Payload: framing.AppendAck(p, framing.Ack{Index: q.hdr.Index, Size: q.size})}
	}
	if err := r.l.SendBatch(acks); err != nil {
		return err
	}
	r.report(n)
	return nil
}

// report counts the first n queued entries, which are in place, reports
// them, and drops them from the queue.
func (r *receiver) report(n int) {
	done := r.done[:0]
	for _, q := range r.queued[:n] {
		if q.hdr.Kind == framing.KindDir {
			r.summary.Dirs++
			continue
		}
		r.summary.Files++
		r.summary.Bytes += int64(q.size - q.from)
		if q.from > 0 {
			r.summary.Resumed++
			r.summary.Reused += int64(q.from)
		}
		done = append(done, FileResult{Name: q.hdr.Name, Bytes: int64(q.size), Elapsed: time.Since(q.started), Checksum: checksumString(q.sum), ResumedFrom: int64(q.from), Restarted: q.restarted})
	}
	if r.opts.FilesDone != nil && len(done) > 0 {
		r.opts.FilesDone(done)
	}
	clear(done)
	r.done = done[:0]
	rest := copy(r.queued, r.queued[n:])
	clear(r.queued[rest:])
	r.queued = r.queued[:rest]
}

// onDone checks the sender's totals, sends the final ack, and waits for the
// sender's half-close, which proves the done frame was its last.
func (r *receiver) onDone(p []byte) error {
	t, err := framing.ParseTotals(p)
	if err != nil {
		return err
	}
	switch {
	case r.offer.Files == 0:
		return protocolErrorf("done before the offer")
	case r.dest != nil:
		return protocolErrorf("done inside %s", names.Quote(r.hdr.Name))
	case r.resumeAt != nil:
		return protocolErrorf("done after a resume frame")
	case t.Files != r.entries || t.Files != r.offer.Files || t.Bytes != r.bytes:
		return protocolErrorf("the sender says it sent %d entries and %d bytes of %d offered; %d entries and %d bytes arrived",
			t.Files, t.Bytes, r.offer.Files, r.entries, r.bytes)
	}
	if err := r.acknowledge(true); err != nil {
		return err
	}
	if err := r.batch.Finish(false); err != nil {
		return err
	}
	complete := framing.Totals{Files: r.entries, Bytes: r.bytes}
	if err := r.l.Send(conn.Frame{Type: framing.TypeComplete, Payload: framing.AppendTotals(nil, complete)}); err != nil {
		return err
	}
	r.l.CloseSend()
	t2, _, err := r.l.ReadFrame()
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return err
	}
	return protocolErrorf("a %s frame after done", t2)
}
