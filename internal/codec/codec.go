// Package codec compresses and decompresses the chunks that ferry's data
// frames carry. Each chunk is compressed on its own, so memory stays bounded
// by the chunk size and a receiver never produces more bytes than a frame
// declares.
package codec

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/ferrytool/ferry/framing"
)

// Mode is the compression a sender asks for.
type Mode int

// Modes, as the -z flag names them.
const (
	// Auto compresses with s2, or with zstd, at its fastest level or its
	// better one, where the network is slow enough for zstd's ratio to
	// send more (see adapt), and sends a chunk raw when that does not
	// shrink it, backing off from trying while the data stays
	// incompressible.
	Auto Mode = iota
	// Zstd compresses every chunk with zstd and sends it raw only when that
	// does not shrink it.
	Zstd
	// S2 compresses every chunk with s2 and sends it raw only when that does
	// not shrink it.
	S2
	// None sends every chunk as it is.
	None
)

// ErrUnknownMode means a mode name is not one of auto, zstd, s2, none.
var ErrUnknownMode = errors.New("unknown compression mode")

// ErrNotDecodable means the receiver does not decode the compression mode
// the sender asked for; an older receiver may lack zstd or s2.
var ErrNotDecodable = errors.New("the receiver cannot decode")

// ErrCorrupt means a compressed chunk does not decode to its declared size.
var ErrCorrupt = errors.New("corrupt compressed chunk")

// ErrTrailing means a compressed chunk holds bytes after its end, such as a
// second zstd frame: one that decodes to nothing would otherwise pass. It
// is an ErrCorrupt too.
var ErrTrailing = fmt.Errorf("%w: bytes after its end", ErrCorrupt)

// ParseMode turns a -z flag value into a Mode. Case does not matter: -z
// ZSTD means nothing but zstd.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "auto":
		return Auto, nil
	case "zstd":
		return Zstd, nil
	case "s2":
		return S2, nil
	case "none":
		return None, nil
	}
	return 0, fmt.Errorf("%w %q (want auto, zstd, s2 or none)", ErrUnknownMode, s)
}

// String gives the flag name of m.
func (m Mode) String() string {
	switch m {
	case Auto:
		return "auto"
	case Zstd:
		return "zstd"
	case S2:
		return "s2"
	case None:
		return "none"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// Capabilities is what a decoder of this package accepts, for a hello.
const Capabilities = framing.CapZstd | framing.CapS2

// MaxEncodedLen is the most bytes Encode may write for a chunk of n bytes.
// s2's bound (n + n/6 + 32) is above zstd's (n + n/256 + a block header), so
// it covers both.
func MaxEncodedLen(n int) int {
	return s2.MaxEncodedLen(n)
}

// Auto's back-off: after a chunk that did not compress, skip the next
// `skip` chunks, doubling up to maxSkip, so incompressible data costs about
// one trial compression in maxSkip+1 chunks.
const maxSkip = 64

// minSaving is the fraction (1/minSaving) a compressed chunk must save to be
// sent compressed; smaller gains are not worth the receiver's time.
const minSaving = 32

// Encoder compresses chunks for one sender. It is not safe for concurrent use.
type Encoder struct {
	mode  Mode
	zenc  *zstd.Encoder
	skip  int // chunks left to send raw without trying (Auto)
	burst int // length of the next skip (Auto)
	auto  adapt
}

// NewEncoder returns an Encoder for mode, downgraded to what the peer's
// capabilities allow: Auto falls back to None, an explicit codec the peer
// cannot decode is an error.
func NewEncoder(mode Mode, peerCaps uint32) (*Encoder, error) {
	e := &Encoder{mode: mode, burst: 1, auto: adapt{now: time.Now, canZstd: peerCaps&framing.CapZstd != 0}}
	switch mode {
	case Auto:
		if peerCaps&framing.CapS2 == 0 {
			e.mode = None
		}
	case S2:
		if peerCaps&framing.CapS2 == 0 {
			return nil, fmt.Errorf("%w s2", ErrNotDecodable)
		}
	case Zstd:
		if peerCaps&framing.CapZstd == 0 {
			return nil, fmt.Errorf("%w zstd", ErrNotDecodable)
		}
		z, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithLowerEncoderMem(true))
		if err != nil {
			return nil, err
		}
		e.zenc = z
	}
	return e, nil
}

// Encode compresses raw into dst, whose length must be at least
// MaxEncodedLen(len(raw)). It returns the codec used and the body: a slice
// of dst when compression paid off, raw itself otherwise.
func (e *Encoder) Encode(dst, raw []byte) (framing.Codec, []byte) {
	switch e.mode {
	case None:
		return framing.CodecNone, raw
	case Zstd:
		return pick(framing.CodecZstd, e.zenc.EncodeAll(raw, dst[:0]), raw)
	case S2:
		return pick(framing.CodecS2, s2.Encode(dst, raw), raw)
	}
	if e.skip > 0 {
		e.skip--
		return framing.CodecNone, raw
	}
	codec := framing.CodecS2
	if e.auto.codec != autoS2 {
		codec = framing.CodecZstd
	}
	c, body := pick(codec, e.auto.encode(dst, raw), raw)
	if c == framing.CodecNone {
		e.skip = e.burst
		e.burst = min(2*e.burst, maxSkip)
	} else {
		e.burst = 1
	}
	return c, body
}

func pick(c framing.Codec, compressed, raw []byte) (framing.Codec, []byte) {
	if len(compressed) > len(raw)-len(raw)/minSaving {
		return framing.CodecNone, raw
	}
	return c, compressed
}

// Waited tells an Auto Encoder that its sender waited d for the network
// to take what it had encoded: the network, not encoding, limits it.
func (e *Encoder) Waited(d time.Duration) {
	e.auto.waited += d
}

// Close releases the encoder's resources. It is safe to call more than once.
func (e *Encoder) Close() {
	if e.zenc != nil {
		e.zenc.Close()
		e.zenc = nil
	}
	e.auto.close()
}

// Decoder decompresses chunks for one receiver. It is not safe for
// concurrent use.
type Decoder struct {
	zdec *zstd.Decoder
}

// NewDecoder returns a Decoder whose output never exceeds framing.MaxChunk.
func NewDecoder() (*Decoder, error) {
	z, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxMemory(framing.MaxChunk),
		zstd.WithDecoderMaxWindow(framing.MaxChunk),
		zstd.WithDecodeAllCapLimit(true),
	)
	if err != nil {
		return nil, err
	}
	return &Decoder{zdec: z}, nil
}

// Decode returns d's file bytes. Compressed bodies are decoded into dst,
// whose capacity must be at least d.RawLen; a body that would decode to more
// or fewer bytes than d.RawLen is ErrCorrupt, and one with bytes after its
// end ErrTrailing, found before any larger allocation.
func (dec *Decoder) Decode(dst []byte, d framing.Data) ([]byte, error) {
	n := int(d.RawLen)
	switch d.Codec {
	case framing.CodecNone:
		if len(d.Body) != n {
			return nil, fmt.Errorf("%w: raw chunk at offset %d holds %d bytes, frame says %d", ErrCorrupt, d.Offset, len(d.Body), n)
		}
		return d.Body, nil
	case framing.CodecS2:
		got, err := s2.DecodedLen(d.Body)
		if err != nil || got != n {
			return nil, fmt.Errorf("%w: s2 chunk at offset %d declares %d bytes, frame says %d", ErrCorrupt, d.Offset, got, n)
		}
		out, err := s2.Decode(dst[:n], d.Body)
		if err != nil {
			return nil, fmt.Errorf("%w: s2 chunk at offset %d: %v", ErrCorrupt, d.Offset, err)
		}
		return out, nil
	case framing.CodecZstd:
		end, err := checkZstdFrame(d.Body, n)
		if err != nil {
			return nil, fmt.Errorf("%w: zstd chunk at offset %d: %v", ErrCorrupt, d.Offset, err)
		}
		if end != len(d.Body) {
			return nil, fmt.Errorf("%w (zstd chunk at offset %d: %d bytes after its frame)", ErrTrailing, d.Offset, len(d.Body)-end)
		}
		out, err := dec.zdec.DecodeAll(d.Body, dst[:0:n])
		if err != nil || len(out) != n {
			return nil, fmt.Errorf("%w: zstd chunk at offset %d does not decode to %d bytes", ErrCorrupt, d.Offset, n)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: unknown codec %d", ErrCorrupt, d.Codec)
}

// zstdSmall is the raw length under which a zstd frame may leave out its
// content size, as encoders do to save a byte, and zstdSmallWindow the
// most such a frame may declare as its window (the least zstd has).
const (
	zstdSmall       = 256
	zstdSmallWindow = 1 << 10
)

// checkZstdFrame checks, before anything is decoded, that body starts with
// a zstd frame that will not make the decoder hold more than n bytes, and
// returns where that frame ends, which the decoder would not stop at: it
// goes on to decode any frame after it. The frame must declare its content
// size, n, or for n under zstdSmall have a window that keeps its blocks that
// small. The decoder checks its cap only after a whole block, and a cap of 0
// is none; without these checks a frame could make it allocate up to a
// block of 128 KiB, or more, past n before it failed.
func checkZstdFrame(body []byte, n int) (int, error) {
	var h zstd.Header
	switch err := h.Decode(body); {
	case err != nil:
		return 0, err
	case h.Skippable:
		return 0, errors.New("a skippable frame")
	case n == 0:
		return 0, errors.New("no bytes to decode")
	case h.HasFCS && h.FrameContentSize != uint64(n):
		return 0, fmt.Errorf("declares %d bytes, frame says %d", h.FrameContentSize, n)
	case !h.HasFCS && (n >= zstdSmall || h.WindowSize > zstdSmallWindow):
		return 0, fmt.Errorf("does not declare its %d bytes", n)
	}
	return zstdFrameEnd(body, &h)
}

// zstdFrameEnd returns where the zstd frame that starts body, whose header
// is h, ends: it follows the frame's block headers, which give each
// block's length, to the last block and the checksum after it.
func zstdFrameEnd(body []byte, h *zstd.Header) (int, error) {
	const (
		blockHeaderLen = 3
		blockRLE       = 1
		blockReserved  = 3
		checksumLen    = 4
	)
	end := h.HeaderSize
	for last := false; !last; {
		if len(body)-end < blockHeaderLen {
			return 0, errors.New("ends inside its frame")
		}
		bh := uint32(body[end]) | uint32(body[end+1])<<8 | uint32(body[end+2])<<16
		end += blockHeaderLen
		last = bh&1 != 0
		size := int(bh >> 3)
		switch (bh >> 1) & 3 {
		case blockRLE:
			// One byte, repeated size times.
			size = 1
		case blockReserved:
			return 0, errors.New("a block of the reserved type")
		}
		if len(body)-end < size {
			return 0, errors.New("ends inside its frame")
		}
		end += size
	}
	if h.HasCheckSum {
		if len(body)-end < checksumLen {
			return 0, errors.New("ends inside its frame")
		}
		end += checksumLen
	}
	return end, nil
}

// Close releases the decoder's resources. It is safe to call more than once.
func (dec *Decoder) Close() {
	if dec.zdec != nil {
		dec.zdec.Close()
		dec.zdec = nil
	}
}
