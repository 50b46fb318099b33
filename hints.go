package main

import (
	"errors"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/transfer"
)

// hint is the advice ferry adds to the message of err, an error of the
// command cmd ("send" or "recv") run with flags c: what to type to fix it.
// The library's messages say what went wrong and name no command or flag;
// which ferry command, flag or other program helps is this command's to
// say. The first hint that fits is given, or "".
func hint(err error, cmd string, c *common) string {
	send := cmd == "send"
	var e *transfer.Error
	exists := errors.As(err, &e) && e.Code == framing.CodeExists
	switch {
	case errors.Is(err, transfer.ErrFramedReceiver):
		return ": drop --raw from ferry send, or restart ferry recv with --raw"
	case errors.Is(err, transfer.ErrFramedSender):
		return ": add --raw to it, or run ferry recv without --raw"
	case errors.Is(err, transfer.ErrPaused):
		return "; if that is what happened, raise --timeout there"
	case errors.Is(err, transfer.ErrUnended):
		return ": if the sender is nc, use nc -N so it closes when its input ends; if its input pauses, raise --timeout"
	case errors.Is(err, framing.ErrNotFerry) && send:
		return ": if it is nc -l, use ferry send --raw"
	case errors.Is(err, framing.ErrNotFerry):
		return ": if it is nc or ferry send --raw, run ferry recv --raw"
	case errors.Is(err, transfer.ErrOtherMode) && send && !c.plain:
		return ": if you started it so, add --plain to ferry send; if not, someone else answered there"
	case errors.Is(err, transfer.ErrOtherMode) && !send && c.plain:
		return ": add --plain to ferry send, or restart ferry recv without --plain"
	case errors.Is(err, transfer.ErrOtherMode):
		return ": run ferry send --code CODE, with the code ferry recv printed"
	case errors.Is(err, transfer.ErrAuth) && send && !reportedByPeer(err):
		return ": check it; ferry recv without -k stops after a wrong code, so it must be run again"
	case exists:
		return " (ferry recv --overwrite replaces it)"
	case errors.Is(err, transfer.ErrStreams) && send:
		return "; send again without -P, or let more connections through to that port"
	case errors.Is(err, transfer.ErrNotDecodable):
		return "; use -z none"
	case lostOrStopped(err) && send && c.stdin:
		return "; a stream from stdin cannot resume: send it again whole"
	case lostOrStopped(err) && send:
		return "; run the same send again to resume"
	case errors.Is(err, transfer.ErrTimeout) && !transfer.NoTransfer(err):
		return " (--timeout)"
	}
	return ""
}

// lostOrStopped says the transfer ended midway for the peer or the network:
// the connection lost, or the peer interrupted.
func lostOrStopped(err error) bool {
	return errors.Is(err, transfer.ErrConnectionLost) || errors.Is(err, transfer.ErrPeerStopped)
}
