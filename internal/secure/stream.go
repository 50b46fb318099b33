package secure

import (
	"errors"
	"io"

	"github.com/ferrytool/ferry/framing"
)

// Writer seals frames onto a frame stream after the handshake, as age's
// stream Writer encrypts chunks onto an io.Writer: each frame is sealed
// under the next counter, and the last one under the last-frame flag, so
// the peer's Reader can tell a stream that ended from one that was cut.
// The caller flushes the framing.Writer, on which it may also add frames
// of its own in the clear (the handshake's, queued before the handshake
// ended), in the order they go out.
type Writer struct {
	w *framing.Writer
	s *Session
}

// NewWriter returns a Writer that seals with s's sending direction and
// adds the sealed frames to w.
func NewWriter(w *framing.Writer, s *Session) *Writer {
	return &Writer{w: w, s: s}
}

// Add seals payload as the next frame of type t and adds it to the
// framing.Writer for its next Flush; last marks this side's last frame,
// after which Add returns ErrSealAfterLast. Sealing works in place, as
// Session.Seal does: payload must not be used afterwards, and with
// Overhead bytes of spare capacity nothing is copied.
func (w *Writer) Add(t framing.Type, payload []byte, last bool) error {
	sealed, err := w.s.Seal(t, payload, last)
	if err != nil {
		return err
	}
	return w.w.Add(t, sealed)
}

// Reader opens the frames read from a frame stream after the handshake,
// as age's stream Reader decrypts the chunks of an io.Reader.
type Reader struct {
	r FrameReader
	s *Session
}

// NewReader returns a Reader that reads frames from r and opens them with
// s's receiving direction.
func NewReader(r FrameReader, s *Session) *Reader {
	return &Reader{r: r, s: s}
}

// ReadFrame reads the next frame and opens it; the plaintext is valid
// until the next call. At the end of the stream it returns io.EOF if the
// peer's last frame came, and ErrTruncated if the stream was cut before
// it. A frame that does not open is ErrTampered, one after the last frame
// ErrAfterLast (see Session.Open); the errors of the stream below are
// returned as they are.
func (r *Reader) ReadFrame() (framing.Type, []byte, error) {
	t, p, err := r.r.ReadFrame()
	if errors.Is(err, io.EOF) {
		if terr := r.s.AtEOF(); terr != nil {
			return 0, nil, terr
		}
		return 0, nil, err
	}
	if err != nil {
		return t, nil, err
	}
	plain, _, err := r.s.Open(t, p)
	if err != nil {
		return t, nil, err
	}
	return t, plain, nil
}

// StreamFailure says whether err is a Reader's own: a frame that did not
// open, or a stream cut before its last frame, rather than a failure of
// the stream below.
func StreamFailure(err error) bool {
	return errors.Is(err, ErrTampered) || errors.Is(err, ErrAfterLast) || errors.Is(err, ErrTruncated) || errors.Is(err, ErrCounterExhausted)
}
