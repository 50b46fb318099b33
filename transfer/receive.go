package transfer

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"sync"
	"time"

	"ferry/codec"
	"ferry/framing"
)

// receiver is the state of one Receive.
type receiver struct {
	l    *link
	opts Options
	sink Sink
	dec  *codec.Decoder
	out  []byte // decompression buffer, allocated at the first compressed chunk

	offer   framing.Offer
	summary Summary

	// The file being received.
	dest    Destination
	hdr     framing.File
	written uint64
	sum     uint32
	started time.Time
}

// Receive serves one sender on conn: it writes each file to sink, verifies
// its checksum, commits it, and acks it, and returns once the sender's last
// frame has been confirmed. On any failure the file being received is
// discarded and the sender is told why. Cancelling ctx sends an abort to the
// sender. Receive closes conn.
func Receive(ctx context.Context, conn net.Conn, sink Sink, opts Options) (Summary, error) {
	start := time.Now()
	dec, err := codec.NewDecoder()
	if err != nil {
		_ = conn.Close()
		return Summary{}, err
	}
	defer dec.Close()
	r := &receiver{l: newLink(conn, framing.RoleReceiver, opts.timeout()), opts: opts, sink: sink, dec: dec}
	stop := context.AfterFunc(ctx, func() { r.l.interrupt(ctx) })
	defer stop()

	var wg sync.WaitGroup
	wg.Go(func() {
		if err := r.run(); err != nil {
			r.l.fail(err)
		}
	})
	wg.Wait()
	if r.dest != nil {
		r.dest.Discard()
	}
	err = r.l.firstErr()
	if err != nil {
		r.l.shutdown(true)
	} else {
		// The writer still has the final ack to send; let it finish first.
		<-r.l.writeDone
		r.l.close()
	}
	r.summary.Elapsed = time.Since(start)
	return r.summary, err
}

// run is the receiver's receive goroutine: it reads every frame the sender
// sends, while the link's writer goroutine carries acks back.
func (r *receiver) run() error {
	if _, err := r.l.hello(codec.Capabilities); err != nil {
		return err
	}
	for {
		t, p, err := r.l.fr.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("the sender closed the connection before its last frame")
			}
			if failed := r.l.firstErr(); failed != nil {
				return failed
			}
			return err
		}
		switch t {
		case framing.TypePing:
		case framing.TypeOffer:
			err = r.onOffer(p)
		case framing.TypeFile:
			err = r.onFile(p)
		case framing.TypeData:
			err = r.onData(p)
		case framing.TypeEnd:
			err = r.onEnd(p)
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
	r.offer = o
	return r.sink.Accept(o)
}

func (r *receiver) onFile(p []byte) error {
	switch {
	case r.offer.Files == 0:
		return protocolErrorf("a file before the offer")
	case r.dest != nil:
		return protocolErrorf("a file inside %s", Quote(r.hdr.Name))
	}
	f, err := framing.ParseFile(p)
	if err != nil {
		return err
	}
	if f.Index != uint32(r.summary.Files) || f.Index >= r.offer.Files {
		return protocolErrorf("file index %d where %d was due", f.Index, r.summary.Files)
	}
	dest, err := r.sink.Create(f)
	if err != nil {
		return err
	}
	r.dest, r.hdr, r.written, r.sum, r.started = dest, f, 0, 0, time.Now()
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
		return protocolErrorf("data for offset %d of %s, expected %d", d.Offset, Quote(r.hdr.Name), r.written)
	}
	if r.hdr.Size != framing.UnknownSize && r.written+uint64(d.RawLen) > r.hdr.Size {
		return protocolErrorf("more data than the %d bytes announced for %s", r.hdr.Size, Quote(r.hdr.Name))
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
	r.summary.Bytes += int64(len(raw))
	if r.opts.Progress != nil {
		total := int64(-1)
		if r.offer.Bytes != framing.UnknownSize {
			total = int64(r.offer.Bytes)
		}
		size := int64(-1)
		if r.hdr.Size != framing.UnknownSize {
			size = int64(r.hdr.Size)
		}
		r.opts.Progress(Progress{Name: r.hdr.Name, FileBytes: int64(r.written), FileSize: size, Bytes: r.summary.Bytes, Total: total})
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
	name := Quote(r.hdr.Name)
	switch {
	case e.Size != r.written:
		return protocolErrorf("%s ended at %d bytes, %d arrived", name, e.Size, r.written)
	case r.hdr.Size != framing.UnknownSize && e.Size != r.hdr.Size:
		return protocolErrorf("%s ended at %d bytes, %d were announced", name, e.Size, r.hdr.Size)
	case e.Digest != r.sum:
		return fmt.Errorf("%w for %s: sender's crc32c %08x, received data's %08x; the file was discarded", ErrChecksum, name, e.Digest, r.sum)
	}
	if err := r.dest.Commit(); err != nil {
		return err
	}
	r.dest = nil
	r.summary.Files++
	if err := r.l.send(outFrame{t: framing.TypeAck, payload: framing.AppendAck(nil, framing.Ack{Index: r.hdr.Index, Size: r.written})}); err != nil {
		return err
	}
	if r.opts.FileDone != nil {
		r.opts.FileDone(FileResult{Name: r.hdr.Name, Bytes: int64(r.written), Elapsed: time.Since(r.started), Checksum: checksumString(r.sum)})
	}
	return nil
}

// onDone checks the sender's totals, sends the final ack, and waits for the
// sender's half-close, which proves the done frame was its last.
func (r *receiver) onDone(p []byte) error {
	t, err := framing.ParseTotals(p)
	if err != nil {
		return err
	}
	switch {
	case r.dest != nil:
		return protocolErrorf("done inside %s", Quote(r.hdr.Name))
	case int(t.Files) != r.summary.Files || t.Files != r.offer.Files || t.Bytes != uint64(r.summary.Bytes):
		return protocolErrorf("the sender says it sent %d files and %d bytes of %d offered; %d files and %d bytes arrived",
			t.Files, t.Bytes, r.offer.Files, r.summary.Files, r.summary.Bytes)
	}
	complete := framing.Totals{Files: uint32(r.summary.Files), Bytes: uint64(r.summary.Bytes)}
	if err := r.l.send(outFrame{t: framing.TypeComplete, payload: framing.AppendTotals(nil, complete)}); err != nil {
		return err
	}
	close(r.l.out)
	t2, _, err := r.l.fr.ReadFrame()
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return err
	}
	return protocolErrorf("a %s frame after done", t2)
}
