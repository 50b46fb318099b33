package rawnc

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/ferrytool/ferry/framing"
)

// FuzzReadReply feeds readReply, which decodes what a receiver sends back
// to a send --raw, any reply: it must end without panicking, take a reply
// that opens with a ferry hello for a ferry recv without --raw, giving the
// reason of a well-formed error frame, and any other for netcat's.
func FuzzReadReply(f *testing.F) {
	hello := framing.AppendFrame(nil, framing.TypeHello, framing.AppendHello(nil, framing.Hello{Version: framing.Version, Role: framing.RoleReceiver}))
	refusal := framing.AppendFrame(nil, framing.TypeError, framing.AppendError(nil, framing.ErrorMsg{Code: framing.CodeProtocol, Message: "not for me"}))
	f.Add(append(append(append([]byte(nil), hello...), framing.AppendFrame(nil, framing.TypePing, nil)...), refusal...))
	f.Add(append(append([]byte(nil), hello...), framing.AppendFrame(nil, framing.TypeAbort, []byte("interrupted"))...))
	f.Add(hello)
	f.Add([]byte("hello from netcat\n"))
	f.Add([]byte{})
	reason := errors.New("the receiver's reason")
	f.Fuzz(func(t *testing.T, reply []byte) {
		local, remote := net.Pipe()
		defer local.Close()
		go func() {
			_, _ = remote.Write(reply)
			remote.Close()
		}()
		err := readReply(local, time.Minute, func(framing.ErrorMsg, bool) error { return reason })
		framed := len(reply) >= helloPrefixLen && isFerryHello(reply[:helloPrefixLen])
		var fe *framedReceiverError
		switch {
		case framed && !errors.As(err, &fe):
			t.Errorf("readReply = %v, want the framed receiver's error", err)
		case !framed && err != nil:
			t.Errorf("readReply = %v, want nil for a netcat's reply", err)
		case framed && errors.Is(err, reason) && !refused(reply):
			t.Errorf("readReply = %v, a reason where the reply gave none", err)
		}
	})
}

// refused says whether reply, a ferry receiver's, holds an error or abort
// frame after its hello and any pings.
func refused(reply []byte) bool {
	for i := 0; i+framing.HeaderLen <= len(reply); {
		t := framing.Type(reply[i])
		if i > 0 && (t == framing.TypeError || t == framing.TypeAbort) {
			return true
		}
		if i > 0 && t != framing.TypePing {
			return false
		}
		n := int(reply[i+1])<<24 | int(reply[i+2])<<16 | int(reply[i+3])<<8 | int(reply[i+4])
		i += framing.HeaderLen + n
	}
	return false
}
