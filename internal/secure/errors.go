package secure

import (
	"errors"
	"fmt"

	"github.com/ferrytool/ferry/framing"
)

// authMessage is what a side that detects a failed key confirmation tells
// its peer in the error frame, and the text of ErrAuth.
const authMessage = "authentication failed: wrong code"

// Errors of the handshake and of sealed frames.
var (
	// ErrCodeTooShort refuses a code with fewer than MinCodeLen characters
	// once normalized.
	ErrCodeTooShort = errors.New("code too short: at least 6 characters")
	// ErrAuth means key confirmation failed: the two sides used different
	// codes, or someone in the middle tried one. A *PeerError carrying
	// framing.CodeAuth also matches it, so both sides test for it alike.
	ErrAuth = errors.New("" + authMessage)
	// ErrProtocol means the peer broke the handshake's rules: an unexpected
	// frame, a payload of the wrong length, or a CPace element that does not
	// decode or is the identity. It wraps a description of what arrived.
	ErrProtocol = errors.New("handshake protocol error")
	// ErrTampered means a sealed frame failed to open: it was changed, is a
	// replay, arrived out of order, follows a dropped frame, or was sealed
	// for the other direction.
	ErrTampered = errors.New("frame failed authentication: tampered, replayed or out of order")
	// ErrAfterLast means a frame arrived after the peer's last frame.
	ErrAfterLast = errors.New("frame after the peer's last frame")
	// ErrTruncated means the stream ended before the peer's last frame.
	ErrTruncated = errors.New("stream cut before its last frame")
	// ErrSealAfterLast means Seal was called after the last frame was sealed.
	ErrSealAfterLast = errors.New("seal after the last frame")
	// ErrCounterExhausted means a direction used all 2^88 frame counters.
	ErrCounterExhausted = errors.New("frame counter exhausted")
)

// PeerError is an error or abort frame the peer sent during the handshake:
// it failed (a wrong code, a local error) or its user interrupted it.
type PeerError struct {
	Code    uint16 // the error frame's code; 0 for an abort
	Message string // the peer's reason, as it sent it
	Aborted bool   // true for an abort frame
}

// Error describes the peer's failure.
func (e *PeerError) Error() string {
	if e.Aborted {
		return "peer aborted the handshake: " + e.Message
	}
	return fmt.Sprintf("peer failed the handshake: %s (code %d)", e.Message, e.Code)
}

// Is makes errors.Is(err, ErrAuth) hold when the peer reported a failed
// authentication, so a wrong code reads the same on both sides.
func (e *PeerError) Is(target error) bool {
	return target == ErrAuth && !e.Aborted && e.Code == framing.CodeAuth
}
