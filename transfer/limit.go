package transfer

import (
	"net"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/guard"
)

// GuessesPerMinute is the most wrong codes a receiver with code lets
// senders try in a minute, from every address together (see Serve).
func GuessesPerMinute(code string) int {
	return guard.GuessesPerMinute(code)
}

// refuse turns a sender away before the hello with an error frame saying
// why, and closes the connection.
func refuse(conn net.Conn, wait time.Duration) {
	defer conn.Close()
	tell(conn, framing.CodeAuth, (&refusedError{wait: wait}).Error())
}

// tell writes an error frame on conn, outside any link, within lingerTime.
func tell(conn net.Conn, code uint16, msg string) {
	_ = conn.SetDeadline(time.Now().Add(lingerTime))
	_ = framing.NewWriter(conn).WriteFrame(framing.TypeError, framing.AppendError(nil, framing.ErrorMsg{Code: code, Message: msg}))
}
