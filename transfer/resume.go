package transfer

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/codec"
	"github.com/ferrytool/ferry/internal/conn"
	"github.com/ferrytool/ferry/internal/destdir"
	"github.com/ferrytool/ferry/internal/names"
)

// The check exchange (PROTOCOL.md 2.11): a sender asks, ahead of the
// data, what the receiver holds of its regular files, and skips those the
// receiver has, continues those it holds part of, and sends the rest.

// checksAhead is how many check frames a sender keeps answered or in
// flight beyond the file it sends: while it sends one batch's files, the
// next batch's answers come, so no file waits for a round trip.
const checksAhead = 2

// maxChecked is how many checked entries, not yet arrived, a receiver
// remembers: checksAhead full check frames and then some.
const maxChecked = 4 * framing.MaxCheck

// checkPayload bounds a check frame's payload, names included.
const checkPayload = framing.MaxChunk

// SkippedHeld is FileResult.Skipped for a file the receiver had already.
const SkippedHeld = "already there"

// ErrRefused means the receiver refused some files: they were not sent,
// and the transfer of the others went on. Summary.Refused names them.
var ErrRefused = errors.New("the receiver refused")

// checkable says whether src is one a sender asks about: a regular file
// of known size.
func checkable(src Source) bool {
	return !src.Mode.IsDir() && src.Size >= 0
}

// checker is a sender's side of the check exchange.
type checker struct {
	on       bool                // both sides take part
	next     int                 // the first source not yet in a check frame
	ended    bool                // no source after next, or one that failed
	inflight int                 // check frames whose holds has not come
	answers  []framing.Held      // holds come, for files not yet sent, in index order
	holds    chan []framing.Held // from readControl, checked against the checks
}

// heldFor returns what the receiver holds of source i, a checkable one,
// sending check frames ahead as they run out and waiting for their holds.
// Checks ask for every checkable source in the order the producer sends
// them, and holdsCame matches each holds to its check, so the answer for
// i is the first in answers.
func (s *sender) heldFor(i int) (framing.Held, error) {
	c := &s.check
	for {
		if len(c.answers) > 0 {
			h := c.answers[0]
			c.answers = c.answers[1:]
			if h.Index != uint32(i) {
				return framing.Held{}, fmt.Errorf("the answer to the check of entry %d came for entry %d", i, h.Index)
			}
			return h, nil
		}
		if c.inflight < checksAhead && !c.ended {
			if err := s.sendCheck(); err != nil {
				return framing.Held{}, err
			}
			continue
		}
		if err := s.pass(); err != nil {
			return framing.Held{}, err
		}
		select {
		case hs := <-c.holds:
			c.inflight--
			c.answers = append(c.answers, hs...)
		case <-s.l.Failed():
			return framing.Held{}, s.l.Err()
		}
	}
}

// sendCheck queues a check frame for the next checkable sources, as many
// as one frame takes, and notes them for readControl to match the holds
// against.
func (s *sender) sendCheck() error {
	c := &s.check
	// The producer has sent, unchecked, the sources before the window.
	c.next = max(c.next, s.win.base)
	var es []framing.CheckEntry
	size := 2
	for scanned := 0; len(es) < framing.MaxCheck && scanned < maxScan; scanned++ {
		src, ok, err := s.win.get(c.next, s.l.Failed())
		if err != nil {
			return s.l.Err()
		}
		if !ok {
			// The sources end here, or fail: the producer comes to that
			// in its turn, after the files before.
			c.ended = true
			break
		}
		if !checkable(src) {
			c.next++
			continue
		}
		if size+22+len(src.Name) > checkPayload {
			break
		}
		size += 22 + len(src.Name)
		es = append(es, framing.CheckEntry{Index: uint32(c.next), Size: uint64(src.Size), ModTime: src.ModTime.UnixNano(), Name: src.Name})
		c.next++
	}
	if len(es) == 0 {
		return nil
	}
	s.mu.Lock()
	s.checks = append(s.checks, es)
	s.mu.Unlock()
	c.inflight++
	return s.queue(conn.Frame{Type: framing.TypeCheck, Payload: framing.AppendCheck(smallFrame(size), es)})
}

// holdsCame checks a holds frame against the oldest check frame not
// answered, and passes it to the producer.
func (s *sender) holdsCame(p []byte) error {
	hs, err := framing.ParseHolds(p)
	if err != nil {
		return err
	}
	s.mu.Lock()
	var es []framing.CheckEntry
	if len(s.checks) > 0 {
		es = s.checks[0]
		s.checks = s.checks[1:]
	}
	s.mu.Unlock()
	if es == nil {
		return protocolErrorf("a holds frame that answers no check")
	}
	if len(hs) != len(es) {
		return protocolErrorf("a holds frame of %d entries for a check of %d", len(hs), len(es))
	}
	for i, h := range hs {
		e := es[i]
		switch {
		case h.Index != e.Index:
			return protocolErrorf("a holds frame answers entry %d where %d was asked", h.Index, e.Index)
		case h.State == framing.HeldPartial && (h.Length == 0 || h.Length > e.Size):
			return protocolErrorf("the receiver holds %d bytes of %s, which has %d", h.Length, names.Quote(e.Name), e.Size)
		case (h.State == framing.HeldReplaced || h.State == framing.HeldKept) && h.Length != e.Size:
			return protocolErrorf("the receiver holds a file of %d bytes for %s, of %d, as one of its size", h.Length, names.Quote(e.Name), e.Size)
		}
	}
	s.check.holds <- hs
	return nil
}

// sendChecked sends source i, checked, as what the receiver holds of it
// allows: skipped, continued, or whole. It returns the bytes that count as
// done, sent or not, for progress, and the bytes sent.
func (s *sender) sendChecked(index uint32, src Source, h framing.Held, enc *codec.Encoder, before int64) (done, sent int64, err error) {
	switch h.State {
	case framing.HeldPartial:
		if s.opts.NoResume {
			break
		}
		rc, err := src.Open()
		if err != nil {
			return 0, 0, sourceError(src.Name, fmt.Errorf("cannot read %s: %w", src.Name, unwrapPath(err)))
		}
		sum, digest, err := hashPrefix(rc, int64(h.Length))
		if err != nil {
			rc.Close()
			return 0, 0, sourceError(src.Name, fmt.Errorf("cannot read %s: %w", src.Name, unwrapPath(err)))
		}
		if digest != h.Digest {
			rc.Close()
			n, err := s.sendFile(index, src, enc, before, true)
			return n, n, err
		}
		if err := s.queue(conn.Frame{Type: framing.TypeResume, Payload: framing.AppendResume(smallFrame(0), framing.Resume{Index: index, Offset: h.Length})}); err != nil {
			rc.Close()
			return 0, 0, err
		}
		s.progressed.Add(int64(h.Length))
		n, err := s.sendOpened(index, src, rc, int64(h.Length), sum, enc, before+int64(h.Length), false)
		return int64(h.Length) + n, n, err
	case framing.HeldReplaced, framing.HeldKept:
		same, err := sameContent(src, h.Digest)
		if err != nil {
			return 0, 0, err
		}
		switch {
		case same:
			return src.Size, 0, s.skip(index, src, framing.SkipHeld, 0, SkippedHeld)
		case h.State == framing.HeldKept:
			return src.Size, 0, s.skip(index, src, framing.SkipRefused, framing.CodeExists, "a different file of its name already exists on the receiver")
		}
	case framing.HeldRefused:
		return src.Size, 0, s.skip(index, src, framing.SkipRefused, h.Code, refusalReason(h.Code))
	}
	n, err := s.sendFile(index, src, enc, before, false)
	return n, n, err
}

// refusalReason says why a receiver refused a file, by its code.
func refusalReason(code uint16) string {
	switch code {
	case framing.CodeExists:
		return "it already exists on the receiver"
	case framing.CodeConflict:
		return "an entry of the other kind has its name on the receiver"
	case framing.CodeBadName:
		return "the receiver refuses its name"
	case framing.CodePermission:
		return "the receiver may not write it"
	}
	return fmt.Sprintf("the receiver refused it (code %d)", code)
}

// skip queues a skip frame for entry index and reports the file as not
// sent, for reason; a refused one goes into the summary's Refused.
func (s *sender) skip(index uint32, src Source, why uint8, code uint16, reason string) error {
	s.progressed.Add(src.Size)
	s.mu.Lock()
	s.skipped = append(s.skipped, FileResult{Name: src.Name, Bytes: src.Size, Skipped: reason})
	if why == framing.SkipRefused {
		if s.summary.RefusedFiles == 0 {
			s.refusedCode, s.refusedFirst = code, src.Name
		}
		s.summary.refuse(src.Name, reason)
	} else {
		s.summary.Skipped++
	}
	s.mu.Unlock()
	return s.queue(conn.Frame{Type: framing.TypeSkip, Payload: framing.AppendSkip(smallFrame(0), framing.Skip{Index: index, Reason: why})})
}

// hashPrefix reads the first n bytes of r, and returns their CRC-32C and
// SHA-256.
func hashPrefix(r io.Reader, n int64) (uint32, [32]byte, error) {
	h := sha256.New()
	c := crc32.New(castagnoli)
	got, err := io.Copy(io.MultiWriter(h, c), io.LimitReader(r, n))
	if err == nil && got != n {
		err = io.ErrUnexpectedEOF
	}
	var digest [32]byte
	h.Sum(digest[:0])
	return c.Sum32(), digest, err
}

// sameContent says whether src, read whole, has the SHA-256 digest.
func sameContent(src Source, digest [32]byte) (bool, error) {
	rc, err := src.Open()
	if err != nil {
		return false, sourceError(src.Name, fmt.Errorf("cannot read %s: %w", src.Name, unwrapPath(err)))
	}
	defer rc.Close()
	_, d, err := hashPrefix(rc, src.Size)
	if err != nil {
		return false, sourceError(src.Name, fmt.Errorf("cannot read %s: %w", src.Name, unwrapPath(err)))
	}
	return d == digest, nil
}

// refuse counts the file name as refused for reason.
func (s *Summary) refuse(name, reason string) {
	s.RefusedFiles++
	if len(s.Refused) < MaxRefusedNames {
		s.Refused = append(s.Refused, names.Quote(name)+": "+reason)
	}
}

// refusalError is the failure of a transfer whose other files went
// through: it names those s refused; first is the first of them, and code
// the error code of its refusal.
func refusalError(s Summary, first string, code uint16) error {
	const shown = 5
	list := strings.Join(s.Refused[:min(len(s.Refused), shown)], "; ")
	if s.RefusedFiles > shown {
		list += fmt.Sprintf("; and %d more", s.RefusedFiles-shown)
	}
	what := "1 file"
	if s.RefusedFiles > 1 {
		what = fmt.Sprintf("%d files", s.RefusedFiles)
	}
	return &Error{Code: code, Path: first, Err: fmt.Errorf("%w %s: %s", ErrRefused, what, list)}
}

// unixTime is the time of a frame's mtime, Unix nanoseconds.
func unixTime(ns int64) time.Time { return time.Unix(0, ns) }

// checkedEntry is a receiver's answer to a checked entry, until it comes.
type checkedEntry struct {
	state framing.HeldState
	code  uint16
	size  uint64
	held  uint64 // HeldPartial: the bytes held
	name  string
	mtime int64
}

// onCheck answers a check frame with a holds frame, saying for each file
// what the destination holds of it.
func (r *receiver) onCheck(p []byte) error {
	switch {
	case !r.resume:
		return protocolErrorf("a check frame, but CapResume was not offered by both sides")
	case r.offer.Files == 0:
		return protocolErrorf("a check before the offer")
	case r.resumeAt != nil:
		return protocolErrorf("a check between a resume and its file")
	}
	es, err := framing.ParseCheck(p)
	if err != nil {
		return err
	}
	if r.checked.len()+len(es) > maxChecked {
		return protocolErrorf("more than %d entries checked and not yet sent", maxChecked)
	}
	hs := make([]framing.Held, len(es))
	for i, e := range es {
		if e.Index < r.entries || e.Index < r.nextCheck || e.Index >= r.offer.Files {
			return protocolErrorf("a check of entry %d, out of order", e.Index)
		}
		r.nextCheck = e.Index + 1
		h := framing.Held{State: framing.HeldRefused, Code: framing.CodeBadName}
		if names.Check(e.Name) == nil {
			entry := destdir.Entry{Name: e.Name, Size: int64(min(e.Size, 1<<62)), Mode: fs.FileMode(0o600), ModTime: unixTime(e.ModTime)}
			if h, err = r.batch.Check(entry); err != nil {
				return err
			}
		}
		h.Index = e.Index
		hs[i] = h
		r.checked.add(e.Index, checkedEntry{state: h.State, code: h.Code, size: e.Size, held: h.Length, name: e.Name, mtime: e.ModTime})
	}
	return r.l.Send(conn.Frame{Type: framing.TypeHolds, Payload: framing.AppendHolds(smallFrame(framing.HoldsLen(len(hs))), hs)})
}

// onSkip counts a checked entry the sender does not send.
func (r *receiver) onSkip(p []byte) error {
	if r.dest != nil || r.resumeAt != nil {
		return protocolErrorf("a skip inside an entry")
	}
	sk, err := framing.ParseSkip(p)
	if err != nil {
		return err
	}
	c, ok := r.checked.get(sk.Index)
	switch {
	case sk.Index != r.entries || !ok:
		return protocolErrorf("a skip of entry %d where %d was due, or not checked", sk.Index, r.entries)
	case sk.Reason == framing.SkipHeld && c.state != framing.HeldReplaced && c.state != framing.HeldKept:
		return protocolErrorf("a skip of %s, which the receiver does not hold", names.Quote(c.name))
	case sk.Reason == framing.SkipRefused && c.state != framing.HeldKept && c.state != framing.HeldRefused:
		return protocolErrorf("a skip of %s as refused, which the receiver did not refuse", names.Quote(c.name))
	}
	r.checked.take(sk.Index)
	r.entries++
	r.heldBytes += c.size
	res := FileResult{Name: c.name, Bytes: int64(c.size), Skipped: SkippedHeld}
	if sk.Reason == framing.SkipRefused {
		code := c.code
		res.Skipped = refusalReason(code)
		if c.state == framing.HeldKept {
			code, res.Skipped = framing.CodeExists, "a different file of its name already exists here"
		}
		if r.summary.RefusedFiles == 0 {
			r.refusedCode, r.refusedFirst = code, c.name
		}
		r.summary.refuse(c.name, res.Skipped)
	} else {
		r.summary.Skipped++
	}
	if r.opts.FilesDone != nil {
		r.opts.FilesDone([]FileResult{res})
	}
	return nil
}

// onResume notes that the next entry continues the partial data held.
func (r *receiver) onResume(p []byte) error {
	if r.dest != nil || r.resumeAt != nil {
		return protocolErrorf("a resume inside an entry")
	}
	rs, err := framing.ParseResume(p)
	if err != nil {
		return err
	}
	c, ok := r.checked.get(rs.Index)
	if rs.Index != r.entries || !ok || c.state != framing.HeldPartial || c.held != rs.Offset {
		return protocolErrorf("a resume of entry %d from %d, which was not answered so", rs.Index, rs.Offset)
	}
	r.resumeAt = &framing.Resume{Index: rs.Index, Offset: rs.Offset}
	return nil
}
