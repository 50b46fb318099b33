package transfer

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/codec"
	"github.com/ferrytool/ferry/internal/conn"
	"github.com/ferrytool/ferry/internal/names"
	"github.com/ferrytool/ferry/internal/secure"
	"github.com/ferrytool/ferry/internal/slab"
)

// senderHandshakeFactor times the timeout is how long a sender gives the
// receiver, from the connection, to finish the hello and the handshake: a
// busy receiver may keep it waiting for its turn for twice its timeout,
// and then has its timeout for the handshake (see Serve).
const senderHandshakeFactor = 4

// stuckReadWait is how long a failed Send waits for its producer after
// closing the source it reads. Closable sources return at once.
const stuckReadWait = 250 * time.Millisecond

// dataBuffers is how many data frames a sender has buffers for: one being
// filled, the rest queued or being written. With chunks of chunkSize this
// bounds the file data a sender holds.
const dataBuffers = 5

// Data frames of up to slabFrame bytes are copied into slabs of slabSize
// bytes, which the frames share, rather than held in a data buffer each.
// The frames of the small files the producer holds (see holdBytes) take
// up one or two slabs, and those the writer has queued about as many: up
// to slabsKept written slabs are kept for reuse, so that the slabs of
// many small files are not each a fresh allocation, cleared and faulted
// in.
const (
	slabFrame = 64 << 10
	slabSize  = 256 << 10
	slabsKept = 4
)

// sender is the state of one Send.
type sender struct {
	l     *link
	opts  options
	win   *window // the sources taken and not yet sent
	total int64   // the bytes offered; -1 if any source's size is unknown

	pool    chan []byte // payload buffers shared with the writer goroutine
	scratch []byte      // the buffer compression writes into; swapped with a pool buffer

	// Frames the producer holds back to hand to the writer together.
	held      []conn.Frame
	heldBytes int
	slabs     *slab.Cutter // the payloads of small data frames; see slabCopy
	// waited, set by produce, tells the encoder how long a handover
	// waited for the writer: with data that compresses well no buffer
	// runs out, and a slow network holds the producer there instead (see
	// codec.Encoder.Waited).
	waited func(time.Duration)

	mu      sync.Mutex
	pending indexQueue[pendingEntry] // entries sent, waiting for their ack
	parent  string                   // the producer's: the last pending entry's shared directory (see pendingNames)
	current io.Closer                // the source being read, closed to unblock it on failure
	summary Summary
	checks  [][]framing.CheckEntry // check frames sent, oldest first, whose holds has not come
	skipped []FileResult           // files skipped, not yet reported
	moved   int64                  // data bytes sent, which done counts
	// The first file refused, and the error code of its refusal.
	refusedFirst string
	refusedCode  uint16

	check checker // the producer's

	done []FileResult // files acked but not yet reported; readControl's

	// progressMu orders the producer's Progress calls before Send's
	// return: a producer left blocked reading stdin may wake later, and
	// must not report to a caller that has moved on.
	progressMu sync.Mutex
	returned   bool

	// How far the transfer came, for the error of one that fails: the
	// offer was queued, and the file bytes read and queued since.
	offered atomic.Bool
	// progressed is the bytes done so far, sent or held by the receiver,
	// for the message of a connection lost midway.
	progressed atomic.Int64
}

// send sends sources over conn and returns once the receiver has confirmed
// that every file is verified, synced and in place. The entries go in the
// order the protocol requires, sorted by name (see names.Compare), whatever
// order sources has. Any failure, on either
// side, ends the transfer with an error; cancelling ctx sends an abort to the
// receiver. send closes conn.
func send(ctx context.Context, conn net.Conn, sources []Source, opts options) (Summary, error) {
	sources = inTreeOrder(sources)
	var t Totals
	for _, src := range sources {
		t.add(src)
	}
	return sendWindow(ctx, conn, sliceWindow(sources, t), opts)
}

// sendWindow is send of the sources w takes, which it closes.
func sendWindow(ctx context.Context, conn net.Conn, w *window, opts options) (Summary, error) {
	start := time.Now()
	s := &sender{
		l:     newLink(conn, framing.RoleSender, opts),
		opts:  opts,
		win:   w,
		total: w.total.Bytes,
		check: checker{holds: make(chan []framing.Held, checksAhead)},
		slabs: slab.New(slabSize, slabsKept),
	}
	// A receiver may keep a sender waiting for its turn, pinging, for
	// twice its timeout, then give it its timeout for the handshake: a
	// peer that pings for longer than that is no honest receiver.
	s.l.HandshakeWithin(start, senderHandshakeFactor*handshakeTime(opts.timeout()), fmt.Sprintf("%d times the timeout", senderHandshakeFactor))
	// Room for the tag too, so a data frame is sealed where it lies.
	bufLen := framing.DataHeaderLen + codec.MaxEncodedLen(chunkSize) + secure.Overhead
	s.pool = make(chan []byte, dataBuffers)
	for range dataBuffers {
		s.pool <- make([]byte, bufLen)
	}
	s.scratch = make([]byte, bufLen)

	hello := make(chan framing.Hello, 1)
	complete := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { s.readControl(hello, complete) })
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		select {
		case h := <-hello:
			if err := s.produce(h.Capabilities); err != nil {
				s.l.Fail(err)
			}
		case <-s.l.Failed():
		}
	}()
	stop := context.AfterFunc(ctx, func() { s.l.Interrupt(ctx) })
	defer stop()

	select {
	case <-complete:
	case <-s.l.Failed():
	}
	err := s.l.Err()
	if err != nil {
		s.closeCurrent()
		s.l.Shutdown(false)
	} else {
		s.l.Close()
	}
	wg.Wait()
	if err == nil {
		<-produced
		s.win.close(nil)
	} else {
		stuck := time.After(stuckReadWait)
		select {
		case <-produced:
		case <-stuck:
			// The producer is blocked reading a source that closing cannot
			// wake, such as a terminal or pipe on stdin. Waiting would hang
			// an interrupted ferry; the read ends with the process.
		}
		s.win.close(stuck)
	}
	s.progressMu.Lock()
	s.returned = true
	s.progressMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.summary.Elapsed = time.Since(start)
	if err == nil && s.summary.RefusedFiles > 0 {
		err = refusalError(s.summary, s.refusedFirst, s.refusedCode)
	}
	return s.summary, withBytes(described(err, conn.RemoteAddr(), ""), s.l, s.offered.Load(), uint64(s.progressed.Load()), uint64(s.total))
}

// readControl is the sender's receive goroutine: it reads the receiver's
// hello, then every ack, error or abort while the data flows.
func (s *sender) readControl(hello chan<- framing.Hello, complete chan<- struct{}) {
	h, err := s.l.hello(framing.CapResume)
	if err != nil {
		s.l.Fail(err)
		return
	}
	// Set before the producer hears the hello, which is its cue to read it.
	s.check.on = h.Capabilities&framing.CapResume != 0
	hello <- h
	// Acks are reported in the groups they arrive in, as the receiver
	// sends them after each of its flushes.
	defer s.reportDone()
	for {
		if !s.l.Buffered() {
			s.reportDone()
		}
		t, p, err := s.l.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = s.l.Lost(io.ErrUnexpectedEOF, "the receiver closed the connection before confirming the transfer")
			}
			s.l.Fail(err)
			return
		}
		switch t {
		case framing.TypePing:
			if err := framing.ParsePing(p); err != nil {
				s.l.Fail(err)
				return
			}
		case framing.TypeAck:
			a, err := framing.ParseAck(p)
			if err == nil {
				err = s.acked(a)
			}
			if err != nil {
				s.l.Fail(err)
				return
			}
		case framing.TypeHolds:
			if !s.check.on {
				s.l.Fail(protocolErrorf("a holds frame, but CapResume was not offered by both sides"))
				return
			}
			if err := s.holdsCame(p); err != nil {
				s.l.Fail(err)
				return
			}
		case framing.TypeComplete:
			if err := s.completed(p); err != nil {
				s.l.Fail(err)
				return
			}
			close(complete)
			return
		case framing.TypeError, framing.TypeAbort:
			s.l.Fail(s.l.peerError(t, p))
			return
		default:
			s.l.Fail(protocolErrorf("unexpected %s frame from the receiver", t))
			return
		}
	}
}

// pendingEntry is an entry sent and not yet acknowledged. Its result's
// Name is, past sharedPathAt bytes, only the name's last element, and
// parent the rest, shared with the entries before it in that directory
// (see pendingNames): thousands of entries may wait for their acks, and
// with long paths each would otherwise hold the whole of its own.
type pendingEntry struct {
	result FileResult
	parent string
	dir    bool
	start  time.Time
}

// sharedPathAt is the length of name past which a pending entry shares
// its directory's part.
const sharedPathAt = 256

// pendingNames splits a name as pendingEntry holds it: parent, the same
// string as the last entry's if it is in the same directory, and base. A
// name of at most sharedPathAt bytes stays whole.
func (s *sender) pendingNames(name string) (parent, base string) {
	i := strings.LastIndexByte(name, '/')
	if len(name) <= sharedPathAt || i < 0 {
		return "", name
	}
	if dir := name[:i+1]; dir != s.parent {
		s.parent = strings.Clone(dir)
	}
	return s.parent, strings.Clone(name[i+1:])
}

// await notes entry index, named name, as sent and waiting for its ack.
func (s *sender) await(index uint32, name string, p pendingEntry) {
	p.parent, p.result.Name = s.pendingNames(name)
	s.mu.Lock()
	s.pending.add(index, p)
	s.mu.Unlock()
}

func (s *sender) acked(a framing.Ack) error {
	s.mu.Lock()
	p, pending := s.pending.take(a.Index)
	r := p.result
	r.Name = p.parent + r.Name
	ok := pending && uint64(r.Bytes) == a.Size
	switch {
	case !ok:
	case p.dir:
		s.summary.Dirs++
	default:
		s.summary.Files++
		s.summary.Bytes += r.Bytes - r.ResumedFrom
		if r.ResumedFrom > 0 {
			s.summary.Resumed++
			s.summary.Reused += r.ResumedFrom
		}
	}
	s.mu.Unlock()
	switch {
	case !pending:
		return protocolErrorf("the receiver acknowledged entry %d, which awaits no acknowledgement: it was not sent, or was acknowledged already", a.Index)
	case !ok:
		return protocolErrorf("the receiver acknowledged %s with %d bytes, but %d were sent", names.Quote(r.Name), a.Size, r.Bytes)
	}
	// A file is done when the receiver has it durable, not when it left.
	r.Elapsed = time.Since(p.start)
	if !p.dir {
		s.done = append(s.done, r)
	}
	return nil
}

// reportDone passes the files acked or skipped since the last call to
// options.FilesDone.
func (s *sender) reportDone() {
	s.mu.Lock()
	s.done = append(s.done, s.skipped...)
	clear(s.skipped)
	s.skipped = s.skipped[:0]
	s.mu.Unlock()
	if s.opts.FilesDone != nil && len(s.done) > 0 {
		s.opts.FilesDone(s.done)
	}
	clear(s.done)
	s.done = s.done[:0]
}

func (s *sender) completed(p []byte) error {
	t, err := framing.ParseTotals(p)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	acked := s.summary.Files + s.summary.Dirs + s.summary.Skipped + s.summary.RefusedFiles
	entries := s.win.total.Entries
	if s.pending.len() != 0 || int(t.Files) != entries || acked != entries || t.Bytes != uint64(s.moved) || s.summary.Bytes != s.moved {
		return protocolErrorf("the receiver confirmed %d entries and %d bytes, but %d entries and %d bytes were acknowledged or skipped of %d sent",
			t.Files, t.Bytes, acked, s.summary.Bytes, entries)
	}
	return nil
}

// The producer hands frames to the writer in groups of up to holdFrames
// frames or holdBytes bytes: a handover per frame would wake the writer
// goroutine three times per small file, which cost more than the files.
const (
	holdFrames = conn.BatchFrames
	holdBytes  = chunkSize
)

// queue holds f for the writer and hands over what is held once it is
// holdFrames frames or holdBytes bytes.
func (s *sender) queue(f conn.Frame) error {
	if s.held == nil {
		// The writer takes each group held, slice and all (see pass).
		s.held = make([]conn.Frame, 0, holdFrames)
	}
	s.held = append(s.held, f)
	s.heldBytes += len(f.Payload)
	if len(s.held) >= holdFrames || s.heldBytes >= holdBytes {
		return s.pass()
	}
	return nil
}

// failSource ends the transfer with err, a source that failed: the
// entries before it, queued, go out first, so that the receiver keeps
// those that arrive whole, as it would had they not waited to be passed.
// It waits for the writer to write them: the error frame goes out ahead
// of anything still queued.
func (s *sender) failSource(err error) error {
	if s.l.Err() == nil && s.pass() == nil {
		_ = s.l.Drain()
	}
	return err
}

// pass hands the held frames to the writer. The producer passes before
// anything that can wait: a data buffer from the writer, a read from a
// stream, the end of the transfer.
func (s *sender) pass() error {
	if len(s.held) == 0 {
		return nil
	}
	fs := s.held
	s.held, s.heldBytes = nil, 0 // the writer owns fs now
	start := time.Now()
	err := s.l.SendBatch(fs)
	if s.waited != nil {
		s.waited(time.Since(start))
	}
	return err
}

// slabBuf cuts an empty buffer for a frame's payload of up to n bytes
// from a slab, with room after it for the tag it is sealed with. The first
// buffer cut from a new slab comes with the return of the slab before it,
// for its frame's Release: frames are written in order, so once it is
// written so are all the frames in that slab.
func (s *sender) slabBuf(n int) (buf []byte, release func()) {
	buf, before := s.slabs.Cut(n + secure.Overhead)
	if before != nil {
		release = func() { s.slabs.Give(before) }
	}
	return buf, release
}

// slabCopy copies a small data frame's payload p into a slab (see
// slabBuf) and returns the copy.
func (s *sender) slabCopy(p []byte) (copied []byte, release func()) {
	buf, release := s.slabBuf(len(p))
	return append(buf, p...), release
}

// queueFile queues the file frame hdr, and queueEnd the end frame end,
// their payloads cut from a slab (see slabBuf): an entry's file and end
// frames are no allocation each.
func (s *sender) queueFile(hdr framing.File) error {
	buf, release := s.slabBuf(len(hdr.Name) + smallFrameRoom)
	return s.queue(conn.Frame{Type: framing.TypeFile, Payload: framing.AppendFile(buf, hdr), Release: release})
}

func (s *sender) queueEnd(end framing.End) error {
	buf, release := s.slabBuf(smallFrameRoom)
	return s.queue(conn.Frame{Type: framing.TypeEnd, Payload: framing.AppendEnd(buf, end), Release: release})
}

// produce is the stream goroutine: it reads each source, checksums and
// compresses it, and queues the frames for the writer.
func (s *sender) produce(peerCaps uint32) error {
	defer func() {
		// Frames held when the transfer failed: return their buffers.
		for _, f := range s.held {
			if f.Release != nil {
				f.Release()
			}
		}
		s.held = nil
	}()
	enc, err := codec.NewEncoder(s.opts.Compression, peerCaps)
	if err != nil {
		return withCode(framing.CodeUnsupported, err)
	}
	defer enc.Close()
	s.waited = enc.Waited
	offer := framing.Offer{Files: uint32(s.win.total.Entries), Bytes: framing.UnknownSize}
	if s.total >= 0 {
		offer.Bytes = uint64(s.total)
	}
	if err := s.queue(conn.Frame{Type: framing.TypeOffer, Payload: framing.AppendOffer(nil, offer)}); err != nil {
		return err
	}
	s.offered.Store(true)
	var done, moved int64 // bytes done, sent or not, and sent
	for i := 0; ; i++ {
		src, ok, err := s.win.get(i, s.l.Failed())
		if err != nil {
			return s.l.Err()
		}
		if !ok {
			if s.win.err != nil {
				return s.failSource(withCode(framing.CodeSource, s.win.err))
			}
			break
		}
		var d, n int64
		if s.check.on && checkable(src) {
			h, err := s.heldFor(i)
			if err != nil {
				return err
			}
			d, n, err = s.sendChecked(uint32(i), src, h, enc, done)
			if err != nil {
				return s.failSource(err)
			}
		} else if n, err = s.sendFile(uint32(i), src, enc, done, false); err != nil {
			return s.failSource(err)
		} else {
			d = n
		}
		done += d
		moved += n
		s.win.drop(i + 1)
	}
	s.mu.Lock()
	s.moved = moved
	s.mu.Unlock()
	totals := framing.Totals{Files: uint32(s.win.total.Entries), Bytes: uint64(moved)}
	if err := s.queue(conn.Frame{Type: framing.TypeDone, Payload: framing.AppendTotals(nil, totals)}); err != nil {
		return err
	}
	if err := s.pass(); err != nil {
		return err
	}
	// Closing the queue makes the writer half-close once Done is out.
	s.l.CloseSend()
	return nil
}

// sendFile sends source index whole; restarted says the receiver held
// partial data of it that turned out to differ. It returns the bytes
// sent.
func (s *sender) sendFile(index uint32, src Source, enc *codec.Encoder, before int64, restarted bool) (int64, error) {
	if len(src.Name) > framing.MaxName {
		return 0, sourceError(src.Name, fmt.Errorf("cannot send %s: name longer than %d bytes", src.Name, framing.MaxName))
	}
	if src.Mode.IsDir() {
		return 0, s.sendDir(index, src, time.Now())
	}
	rc, err := src.Open()
	if err != nil {
		return 0, sourceError(src.Name, fmt.Errorf("cannot read %s: %w", src.Name, unwrapPath(err)))
	}
	return s.sendOpened(index, src, rc, 0, 0, enc, before, restarted)
}

// sendOpened sends the file src from rc, which is at offset from, whose
// bytes before that have the CRC-32C sum: the receiver holds them. It
// closes rc and returns the bytes sent.
func (s *sender) sendOpened(index uint32, src Source, rc io.ReadCloser, from int64, sum uint32, enc *codec.Encoder, before int64, restarted bool) (int64, error) {
	start := time.Now()
	if src.Size < 0 {
		// A stream, such as a pipe, can block a read for good: a failure
		// elsewhere closes it to wake the read. A file's reads end by
		// themselves, and closing it under a read could hand its
		// descriptor to another file.
		s.setCurrent(rc)
		defer s.closeCurrent()
	} else {
		defer rc.Close()
	}

	size := framing.UnknownSize
	if src.Size >= 0 {
		size = uint64(src.Size)
	}
	hdr := framing.File{Index: index, Kind: framing.KindRegular, Mode: uint32(src.Mode.Perm()), ModTime: src.ModTime.UnixNano(), Size: size, Name: src.Name}
	if err := s.queueFile(hdr); err != nil {
		return 0, err
	}
	off := from
	for {
		var buf []byte
		select {
		case buf = <-s.pool:
		default:
			// All buffers are with the writer, some perhaps held here.
			if err := s.pass(); err != nil {
				return off, err
			}
			waitFrom := time.Now()
			select {
			case buf = <-s.pool:
			case <-s.l.Failed():
				return off, s.l.Err()
			}
			enc.Waited(time.Since(waitFrom))
		}
		if src.Size < 0 {
			// A stream's next bytes may be long in coming.
			if err := s.pass(); err != nil {
				s.pool <- buf
				return off, err
			}
		}
		want := int64(chunkSize)
		if src.Size >= 0 {
			// Exactly the size the walk saw: no read is spent finding the
			// end, which for a small file is a third of the work. A file
			// that grows meanwhile is sent at that size; one that shrinks
			// is an error below.
			want = min(want, src.Size-off)
		}
		if want == 0 {
			// Resumed with every byte held: only the end is left.
			s.pool <- buf
			break
		}
		raw := buf[framing.DataHeaderLen : framing.DataHeaderLen+int(want)]
		n, rerr := readChunk(rc, raw, src.Size >= 0)
		if src.Size >= 0 && rerr == nil && off+int64(n) == src.Size {
			rerr = io.EOF
		}
		if n == 0 {
			s.pool <- buf
		} else {
			raw = raw[:n]
			sum = crc32.Update(sum, castagnoli, raw)
			c, body := enc.Encode(s.scratch[framing.DataHeaderLen:], raw)
			if c != framing.CodecNone {
				buf, s.scratch = s.scratch, buf
			}
			payload := buf[:framing.DataHeaderLen+len(body)]
			framing.PutDataHeader(payload, framing.Data{Offset: uint64(off), Codec: c, RawLen: uint32(n)})
			var f conn.Frame
			if len(payload) <= slabFrame {
				// Copied out, a small chunk leaves its buffer free at
				// once, so that the frames of many small files can be
				// held for one handover, not those of dataBuffers files.
				copied, release := s.slabCopy(payload)
				f = conn.Frame{Type: framing.TypeData, Payload: copied, Release: release}
				s.pool <- buf
			} else {
				f = conn.Frame{Type: framing.TypeData, Payload: payload, Release: func() { s.pool <- buf }}
			}
			if err := s.queue(f); err != nil {
				return off, err
			}
			off += int64(n)
			s.progressed.Add(int64(n))
			if s.opts.Progress != nil {
				s.progressMu.Lock()
				if !s.returned {
					s.opts.Progress(Progress{Name: src.Name, FileBytes: off, FileSize: src.Size, Bytes: before + off - from, Total: s.total})
				}
				s.progressMu.Unlock()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if s.l.Err() != nil {
				return off, s.l.Err()
			}
			return off, sourceError(src.Name, fmt.Errorf("cannot read %s: %w", src.Name, unwrapPath(rerr)))
		}
	}
	if src.Size >= 0 && off != src.Size {
		return off, sourceError(src.Name, fmt.Errorf("%s changed while being sent: it was %d bytes, %d were read", src.Name, src.Size, off))
	}
	s.await(index, src.Name, pendingEntry{result: FileResult{Bytes: off, Checksum: checksumString(sum), ResumedFrom: from, Restarted: restarted}, start: start})
	end := framing.End{Size: uint64(off), Algorithm: framing.ChecksumCRC32C, Digest: sum}
	return off - from, s.queueEnd(end)
}

// sendDir sends a directory entry: a file frame and an empty end frame.
func (s *sender) sendDir(index uint32, src Source, start time.Time) error {
	hdr := framing.File{Index: index, Kind: framing.KindDir, Mode: uint32(src.Mode.Perm()), ModTime: src.ModTime.UnixNano(), Size: 0, Name: src.Name}
	if err := s.queueFile(hdr); err != nil {
		return err
	}
	s.await(index, src.Name, pendingEntry{dir: true, start: start})
	end := framing.End{Algorithm: framing.ChecksumCRC32C}
	return s.queueEnd(end)
}

// readChunk fills buf from a file, or returns what a stream has now so a
// slow pipe's bytes are not held back waiting for a full chunk. It returns
// io.EOF, possibly with the last bytes, at the end.
func readChunk(r io.Reader, buf []byte, full bool) (int, error) {
	if full {
		n, err := io.ReadFull(r, buf)
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		return n, err
	}
	for {
		n, err := r.Read(buf)
		if n > 0 || err != nil {
			return n, err
		}
	}
}

func (s *sender) setCurrent(c io.Closer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.current = c
}

// closeCurrent closes the source being read; on failure that wakes a
// producer blocked reading a pipe. Safe to call more than once.
func (s *sender) closeCurrent() {
	s.mu.Lock()
	c := s.current
	s.current = nil
	s.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}
