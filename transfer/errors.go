package transfer

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"syscall"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/codec"
	"github.com/ferrytool/ferry/internal/conn"
	"github.com/ferrytool/ferry/internal/destdir"
	"github.com/ferrytool/ferry/internal/names"
	"github.com/ferrytool/ferry/internal/rawnc"
	"github.com/ferrytool/ferry/internal/secure"
	"github.com/ferrytool/ferry/internal/units"
)

// Errors a transfer can end with, which errors.Is finds in its *Error.
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
	// ErrNotDecodable means the receiver does not decode the compression
	// the Sender asked for; an older receiver may lack zstd or s2.
	ErrNotDecodable = codec.ErrNotDecodable
	// ErrConnectionLost means the connection ended without the peer
	// saying why, before the transfer did: the peer was killed, or the
	// network between the two failed or reset the connection. The
	// *Error's Bytes and Total say how far the transfer came.
	ErrConnectionLost = conn.ErrLost
	// ErrPeerStopped means the peer was interrupted (Ctrl-C, SIGTERM) and
	// said so with an abort frame.
	ErrPeerStopped = errors.New("the peer stopped")
	// ErrStreams means a Sender asking for parallel streams (see
	// Sender.Streams) could not open the connections after the first,
	// as through a firewall or forwarder that lets one connection in. It
	// told the receiver so; no file data moved.
	ErrStreams = errors.New("cannot open parallel connection")
)

// Errors of SendRaw and ReceiveRaw.
var (
	// ErrFramedReceiver means SendRaw reached a Receiver that is not in
	// the raw mode, which took none of the bytes.
	ErrFramedReceiver = rawnc.ErrFramedReceiver
	// ErrFramedSender means ReceiveRaw was reached by a Sender's Send, not
	// SendRaw: none of its frames was written out.
	ErrFramedSender = rawnc.ErrFramedSender
	// ErrPaused means SendRaw's connection was lost after its reader had
	// paused for longer than a raw receiver waits.
	ErrPaused = rawnc.ErrPaused
	// ErrUnended means ReceiveRaw's sender went silent without ending its
	// stream, as nc without -N never ends it.
	ErrUnended = rawnc.ErrUnended
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

// Error is how a transfer fails, with what a program can act on: the
// kind of failure (Code), the peer, the entry it concerns, whether the
// peer reported it, and the cause. The transfers of Sender and Receiver
// fail with an error in which errors.As finds an *Error. Its text says
// what went wrong and names no command or flag: advice for a person is
// the caller's to add, by Code or by the sentinel errors above. (A
// message the peer sent may carry the peer's advice.)
type Error struct {
	// Code is the kind of failure as an error frame carries it:
	// framing.CodeExists, framing.CodeChecksum, framing.CodeAuth, ...;
	// framing.CodeInternal for one without a code of its own, and 0 for
	// an interruption the peer reported.
	Code uint16
	// Peer is the other side's address, where it is known.
	Peer net.Addr
	// Path is the entry that was being sent or received when this side
	// failed, or for ErrRefused the first file refused, as the sender
	// named it (unescaped: see names in PROTOCOL.md); "" between entries
	// and for the peer's reports.
	Path string
	// Remote says the peer found the failure and reported it, in an error
	// frame or, when it was interrupted, an abort frame; Err is then its
	// message as it came, which Error escapes for printing.
	Remote bool
	// Err is the cause.
	Err error
	// Bytes is how many file bytes this side had received, or read to
	// send, when the transfer failed, and Total how many were offered in
	// all, -1 for a stream of unknown length. Both are set only for a
	// transfer that failed after its offer with ErrConnectionLost, which
	// a silent peer (ErrTimeout) then is too, and the message says them.
	Bytes, Total int64

	role    framing.Role // the peer's, when Remote
	aborted bool         // the peer's report was an abort frame
	counted bool         // Bytes and Total are set
}

// Error gives the cause; a peer's report is given as the peer's, with
// its control characters escaped (see names.Quote): anyone who can
// connect can send one, and printing it must not drive the terminal.
func (e *Error) Error() string {
	if !e.Remote {
		var lost *conn.Lost
		if !e.counted || !errors.As(e.Err, &lost) {
			return e.Err.Error()
		}
		after := "after " + units.Bytes(e.Bytes)
		if e.Total >= 0 {
			after += " of " + units.Bytes(e.Total)
		}
		return lost.Text(after)
	}
	who := roleName(e.role)
	if e.aborted {
		return fmt.Sprintf("the %s stopped (%s)", who, names.Quote(e.Err.Error()))
	}
	return fmt.Sprintf("%s: %s", who, names.Quote(e.Err.Error()))
}

// Unwrap gives the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is lets errors.Is(err, ErrChecksum) hold for a checksum failure the peer
// reported, and errors.Is(err, ErrAuth) for a failed handshake, so both
// sides test for them the same way; and errors.Is(err, ErrPeerStopped)
// for the peer's abort.
func (e *Error) Is(target error) bool {
	return e.Remote && (target == ErrChecksum && e.Code == framing.CodeChecksum ||
		target == ErrAuth && e.Code == framing.CodeAuth ||
		target == ErrPeerStopped && e.aborted)
}

// peerReport is the failure the peer reported with role in an error frame
// (code, message) or an abort frame.
func peerReport(role framing.Role, code uint16, message string, aborted bool) *Error {
	return &Error{Code: code, Remote: true, Err: errors.New(message), role: role, aborted: aborted}
}

// withCode attaches an error-frame code to err.
func withCode(code uint16, err error) error {
	return &Error{Code: code, Err: err}
}

// sourceError is the sender's failure to read or send its entry name.
func sourceError(name string, err error) error {
	return &Error{Code: framing.CodeSource, Path: name, Err: err}
}

// described makes err, the failure of a transfer with peer, which failed
// over the entry path if it is not "", hold an *Error naming them: the
// one it holds, or a new one around it.
func described(err error, peer net.Addr, path string) error {
	if err == nil {
		return nil
	}
	var e *Error
	if !errors.As(err, &e) {
		return &Error{Code: codeOf(err), Peer: peer, Path: path, Err: err}
	}
	if e.Peer == nil {
		e.Peer = peer
	}
	if e.Path == "" && !e.Remote {
		e.Path = path
	}
	return err
}

// withBytes gives err, an *Error or nil, of a transfer over l, the file
// bytes moved (done) and offered (total, framing.UnknownSize for a stream)
// if the connection was lost or went silent after the offer (offered):
// how far the transfer came. A silence then is a lost connection too, as
// a link cut without a reset shows itself.
func withBytes(err error, l *link, offered bool, done, total uint64) error {
	var e *Error
	if !offered || !errors.As(err, &e) || e.Remote || !errors.Is(err, ErrConnectionLost) && !errors.Is(err, ErrTimeout) {
		return err
	}
	if !errors.Is(err, ErrConnectionLost) {
		e.Err = &conn.Lost{Peer: e.Peer, From: l.role == framing.RoleReceiver, Why: e.Err.Error(), Err: e.Err}
	}
	e.Bytes, e.Total, e.counted = int64(done), -1, true
	if total != framing.UnknownSize {
		e.Total = int64(total)
	}
	return err
}

// codeOf picks the error-frame code that describes err to the peer.
func codeOf(err error) uint16 {
	var e *Error
	var de *destdir.Error
	switch {
	case errors.As(err, &e) && !e.Remote:
		return e.Code
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
	destdir.Conflict: framing.CodeConflict,
	destdir.BadName:  framing.CodeBadName,
	destdir.TooMany:  framing.CodeUnsupported,
	destdir.NoSpace:  framing.CodeNoSpace,
	destdir.NotAFile: framing.CodeProtocol,
}

func protocolErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}
