package transfer_test

import (
	"bytes"
	"testing"

	"github.com/ferrytool/ferry/framing"
)

// FuzzSend drives the real sender, over loopback, with any reply a
// plain-mode receiver could send after its hello: Send must end without
// panicking, within the guard, and succeed exactly when the reply
// acknowledges every entry it sent with that entry's size and then
// confirms their totals. The reply goes out once the sender's done has
// arrived (see rawReceive), so whether Send may succeed depends on the
// bytes alone, and the converse can be checked too: a sender that refused
// a good reply would be as broken as one that took a bad one. The seeds
// are a good reply and near misses, so mutations start one check away
// from success.
func FuzzSend(f *testing.F) {
	ping := framing.AppendFrame(nil, framing.TypePing, nil)
	acks := rawAcks()
	complete := totalsFrame(framing.TypeComplete, 3, rawTotal)
	f.Add(cat(acks, complete))
	f.Add(cat(ping, ackFrame(2, rawSizes[2]), ackFrame(0, rawSizes[0]), ping, ackFrame(1, rawSizes[1]), complete))
	f.Add(cat(ackFrame(0, rawSizes[0]), ackFrame(1, rawSizes[1]-1), ackFrame(2, rawSizes[2]), complete))
	f.Add(cat(acks, ackFrame(2, rawSizes[2]), complete))
	f.Add(cat(acks, ackFrame(3, 0), complete))
	f.Add(cat(ackFrame(0, rawSizes[0]), ackFrame(1, rawSizes[1]), totalsFrame(framing.TypeComplete, 3, rawSizes[1])))
	f.Add(cat(acks, totalsFrame(framing.TypeComplete, 2, rawTotal)))
	f.Add(cat(acks, totalsFrame(framing.TypeComplete, 3, rawTotal+1)))
	f.Add(cat(acks, complete[:len(complete)-1]))
	f.Add(cat(acks, framing.AppendFrame(nil, framing.TypeError, framing.AppendError(nil, framing.ErrorMsg{Code: framing.CodeNoSpace, Message: "no space"}))))
	hello := helloFrame(framing.RoleReceiver, framing.Version)
	f.Fuzz(func(t *testing.T, reply []byte) {
		sum, err := rawReceive(t, hello, reply)
		switch ok := confirms(reply); {
		case err == nil && !ok:
			t.Fatalf("Send succeeded on a reply that does not confirm the transfer (summary %+v)", sum)
		case err != nil && ok:
			t.Fatalf("Send = %v on a reply that confirms the transfer", err)
		case err == nil:
			checkRawSummary(t, sum)
		}
	})
}

// confirms reports whether reply, the receiver's frames after its hello,
// acknowledges each entry of rawSources once, in any order, with its size,
// among pings, and then confirms the entries' count and byte total: what a
// receiver that has every entry in place sends. It reads no further than
// the complete frame, since the sender stops reading there.
func confirms(reply []byte) bool {
	fr := framing.NewReader(bytes.NewReader(reply))
	acked := make([]bool, len(rawSizes))
	n := 0
	for {
		t, p, err := fr.ReadFrame()
		if err != nil {
			return false
		}
		switch t {
		case framing.TypePing:
			if framing.ParsePing(p) != nil {
				return false
			}
		case framing.TypeAck:
			a, err := framing.ParseAck(p)
			if err != nil || a.Index >= uint32(len(rawSizes)) || acked[a.Index] || a.Size != rawSizes[a.Index] {
				return false
			}
			acked[a.Index] = true
			n++
		case framing.TypeComplete:
			c, err := framing.ParseTotals(p)
			return err == nil && n == len(rawSizes) && c == framing.Totals{Files: uint32(len(rawSizes)), Bytes: rawTotal}
		default:
			return false
		}
	}
}
