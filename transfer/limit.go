package transfer

import (
	"net"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/conn"
	"github.com/ferrytool/ferry/internal/guard"
)

// GuessesPerMinute is the most wrong codes a receiver with code lets
// senders try in a minute, from every address together (see Serve).
func GuessesPerMinute(code string) int {
	return guard.GuessesPerMinute(code)
}

// refuse turns a sender away before the hello with an error frame saying
// why, and closes the connection.
func refuse(c net.Conn, wait time.Duration) {
	defer c.Close()
	conn.Tell(c, framing.CodeAuth, (&refusedError{wait: wait}).Error())
}
