package transfer

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/conn"
	"github.com/ferrytool/ferry/internal/destdir"
	"github.com/ferrytool/ferry/internal/names"
	"github.com/ferrytool/ferry/internal/secure"
)

// Errors a transfer can end with, besides a *PeerError.
var (
	// ErrTimeout means nothing arrived from the peer for the whole timeout.
	ErrTimeout = conn.ErrTimeout
	// ErrChecksum means the received bytes do not match the sender's checksum.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrProtocol means the peer sent something the protocol does not allow.
	ErrProtocol = errors.New("protocol error")
	// ErrAuth means the encrypted mode's handshake failed: the two sides
	// were given different codes. Not one frame of file data or metadata
	// moved.
	ErrAuth = errors.New("authentication failed: wrong code")
	// ErrSilentPeer means the peer closed the connection without sending
	// a byte: a port check or a health probe rather than a ferry.
	ErrSilentPeer = errors.New("closed the connection without sending anything")
	// ErrOtherMode means the peer runs in the other mode: with a code
	// where this side has --plain, or the reverse. No code was tried.
	ErrOtherMode = errors.New("the peer runs in the other mode")
	// ErrDisplaced means a receiver with no room for a connection that
	// came closed one whose transfer had not begun (no hello, or no offer
	// past the handshake), to serve the new one: a port check held open,
	// or a flood of connections, not a sender.
	ErrDisplaced = errors.New("was closed to make room: its transfer had not begun, and another connection came")
)

// errQuietPeer marks a connection whose peer sent not a byte for the whole
// timeout and kept the connection open: no sender, as one that hung up
// without a byte (ErrSilentPeer) is none.
var errQuietPeer = errors.New("no byte for the whole timeout")

// errBadHello marks a connection whose peer sent a hello cut short, late,
// or not one a ferry sender of this version sends: no code was tried.
var errBadHello = errors.New("no valid hello")

// errGoneBeforeCode marks a sender that aborted (interrupted), failed or
// hung up before its code was tried, or in the plain mode before its
// offer: no transfer began.
var errGoneBeforeCode = errors.New("the sender stopped before its code was tried")

// markedError is err, with its own message, that errors.Is also takes for
// mark: the kind of failure it is (ErrOtherMode, errQuietPeer).
type markedError struct{ err, mark error }

func (e *markedError) Error() string        { return e.err.Error() }
func (e *markedError) Unwrap() error        { return e.err }
func (e *markedError) Is(target error) bool { return target == e.mark }

// PeerError is a failure the peer reported: an error frame, or an abort
// frame when the peer was interrupted.
type PeerError struct {
	Role    framing.Role // who reported it
	Code    uint16       // an error frame's code; 0 for an abort
	Message string       // the peer's reason, as it sent it
	Aborted bool         // true for an abort frame
}

// Error gives the peer's reason with control characters escaped (see
// Quote): anyone who can connect can send one, and printing it must not
// drive the terminal.
func (e *PeerError) Error() string {
	who := "receiver"
	if e.Role == framing.RoleSender {
		who = "sender"
	}
	if e.Aborted {
		return fmt.Sprintf("%s aborted: %s", who, names.Quote(e.Message))
	}
	return fmt.Sprintf("%s: %s", who, names.Quote(e.Message))
}

// Is lets errors.Is(err, ErrChecksum) hold for a checksum failure the peer
// reported, and errors.Is(err, ErrAuth) for a failed handshake, so both
// sides test for them the same way.
func (e *PeerError) Is(target error) bool {
	return target == ErrChecksum && e.Code == framing.CodeChecksum ||
		target == ErrAuth && e.Code == framing.CodeAuth
}

// codedError is a local failure with the code the peer is told.
type codedError struct {
	code uint16
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// withCode attaches an error-frame code to err.
func withCode(code uint16, err error) error {
	return &codedError{code: code, err: err}
}

// codeOf picks the error-frame code that describes err to the peer.
func codeOf(err error) uint16 {
	var ce *codedError
	var de *destdir.Error
	switch {
	case errors.As(err, &ce):
		return ce.code
	case errors.As(err, &de):
		return destCodes[de.Kind]
	case errors.Is(err, ErrChecksum):
		return framing.CodeChecksum
	case errors.Is(err, ErrAuth):
		return framing.CodeAuth
	case errors.Is(err, ErrProtocol), errors.Is(err, framing.ErrMalformed), errors.Is(err, framing.ErrFrameTooLarge),
		errors.Is(err, secure.ErrTampered), errors.Is(err, secure.ErrAfterLast), errors.Is(err, secure.ErrTruncated):
		return framing.CodeProtocol
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return framing.CodeNoSpace
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS):
		return framing.CodePermission
	case errors.Is(err, fs.ErrExist):
		return framing.CodeExists
	}
	return framing.CodeInternal
}

// destCodes are the error-frame codes of a destination's refusals.
var destCodes = map[destdir.Kind]uint16{
	destdir.Exists:   framing.CodeExists,
	destdir.BadName:  framing.CodeBadName,
	destdir.TooMany:  framing.CodeUnsupported,
	destdir.NoSpace:  framing.CodeNoSpace,
	destdir.NotAFile: framing.CodeProtocol,
}

func protocolErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}
