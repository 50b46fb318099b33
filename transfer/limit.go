package transfer

import (
	"net"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/conn"
	"github.com/ferrytool/ferry/internal/guard"
	"github.com/ferrytool/ferry/internal/secure"
)

// GuessingTime is how long, on average, guessing a code of code's kind
// takes at the most wrong codes a Receiver lets senders try in a minute,
// from every address together (see Receiver.Serve): half the codes of its
// kind, tried at that rate. It is capped at 200 years.
func GuessingTime(code string) time.Duration {
	const years200 = 200 * 365 * 24 * time.Hour
	minutes := secure.CodeSpace(code) / 2 / float64(guard.GuessesPerMinute(code))
	return time.Duration(min(minutes, float64(years200/time.Minute))) * time.Minute
}

// refuse turns a sender away before the hello with an error frame saying
// why, and closes the connection.
func refuse(c net.Conn, wait time.Duration) {
	defer c.Close()
	conn.Tell(c, framing.CodeAuth, (&refusedError{wait: wait}).Error())
}
