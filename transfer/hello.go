package transfer

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/conn"
	"github.com/ferrytool/ferry/internal/secure"
	"github.com/ferrytool/ferry/internal/stripe"
)

// link is one ferry connection (conn.Conn: frames, deadlines, pings, the
// failure and its telling) with the protocol's opening on top: the hellos,
// the mode check, and in the encrypted mode the handshake, after which
// conn seals and opens every frame.
type link struct {
	*conn.Conn
	// raw is the connection, and sw, if set, the switch on it that can
	// move the link onto parallel streams (see stripe).
	raw     net.Conn
	sw      *stripe.Switch
	streams int           // a sender's streams asked for
	joins   *stripe.Joins // where a receiver's streams join
	granted func()        // see options.granted
	role    framing.Role
	timeout time.Duration // 0: none
	code    string        // the encrypted mode's code; "" for --plain
	// secured, if set, is called once the handshake is done.
	secured func(cipher string)
	// admit, if set, lets the handshake begin (see options.admit).
	admit func() error
	// greeted, if set, is called on a receiver when a valid hello came.
	greeted func()
	// confirmSent says the handshake sent this side's key confirmation,
	// from which the peer learns whether its code was right. Only the
	// reading goroutine, which runs the handshake, touches it.
	confirmSent bool
	// helloCame says the peer's hello came and was valid. Only the
	// reading goroutine touches it.
	helloCame bool
}

func newLink(c net.Conn, role framing.Role, opts options) *link {
	if role == framing.RoleSender {
		// On the socket itself, which a switch would hide; the receiver's
		// writes are acks and pings, which fill no buffer.
		conn.LimitUnsent(c)
	}
	nc := c
	var sw *stripe.Switch
	if striped(c, role, opts) {
		sw = stripe.NewSwitch(c)
		nc = sw
	}
	return &link{
		Conn:    conn.New(nc, connConfig(role, opts)),
		raw:     c,
		sw:      sw,
		streams: opts.streams,
		joins:   opts.joins,
		granted: opts.granted,
		role:    role,
		timeout: opts.timeout(),
		code:    opts.Code,
		secured: opts.Secured,
		admit:   opts.admit,
		greeted: opts.greeted,
	}
}

// connConfig is what the connection of a side with role and opts is given.
func connConfig(role framing.Role, opts options) conn.Config {
	return conn.Config{Role: role, Timeout: opts.timeout(), Encrypted: opts.Code != "", Report: report}
}

// report says what the peer is told of a failure: nothing if it reported
// the failure itself, or the handshake told it; else the failure, with
// the code that describes it.
func report(err error) (uint16, bool) {
	var e *Error
	switch {
	case errors.As(err, &e) && e.Remote:
		// The peer knows.
		return 0, false
	case errors.Is(err, secure.ErrAuth), errors.Is(err, ErrAuth), errors.Is(err, secure.ErrProtocol):
		// The handshake told the peer, or the peer told us.
		return 0, false
	}
	return codeOf(err), true
}

// hello exchanges hellos and returns the peer's. Each side writes its own
// first, so neither waits on the other. In the encrypted mode it then runs
// the handshake, and every frame after it is sealed. Last, the link moves
// onto parallel streams if both sides take part.
func (l *link) hello(caps uint32) (framing.Hello, error) {
	if l.sw == nil {
		return l.greet(caps)
	}
	h, err := l.greet(caps | framing.CapStreams)
	if err == nil {
		err = l.stripe(h)
	}
	return h, err
}

// greet is hello on the one connection.
func (l *link) greet(caps uint32) (framing.Hello, error) {
	if l.code != "" {
		caps |= framing.CapSecure
	}
	mine := framing.AppendHello(nil, framing.Hello{Version: framing.Version, Role: l.role, Capabilities: caps})
	if err := l.SendPlain(framing.TypeHello, mine); err != nil {
		return framing.Hello{}, err
	}
	t, p, err := l.readHello()
	if err != nil {
		switch {
		case l.Silent(err):
			return framing.Hello{}, fmt.Errorf("%s %w", l.RemoteAddr(), ErrSilentPeer)
		case errors.Is(err, framing.ErrFrameTooLarge):
			err = errNotFerry
		case errors.Is(err, framing.ErrTruncated) && l.role == framing.RoleReceiver:
			// A ferry sender writes its whole hello at once: a few bytes
			// and an end of stream are netcat's, as echo hi | nc -N sends.
			err = errNotFerry
		case errors.Is(err, ErrTimeout) && !l.Heard() && l.role == framing.RoleReceiver:
			// A connection held open without a byte: a port check that
			// did not hang up, not a sender.
			return framing.Hello{}, &markedError{err: fmt.Errorf("reading hello from %s: %w", l.RemoteAddr(), err), mark: errQuietPeer}
		case errors.Is(err, ErrTimeout) && l.role == framing.RoleReceiver:
			// A hello begun and not finished in its time: a stray byte, or
			// a client holding the connection, not a sender.
			return framing.Hello{}, l.badHello(fmt.Errorf("reading hello from %s: %w", l.RemoteAddr(), err))
		}
		return framing.Hello{}, l.notFerry(fmt.Errorf("reading hello from %s: %w", l.RemoteAddr(), err))
	}
	switch t {
	case framing.TypeHello:
	case framing.TypeError, framing.TypeAbort:
		return framing.Hello{}, l.peerError(t, p)
	default:
		return framing.Hello{}, l.badHello(fmt.Errorf("reading hello from %s: %w", l.RemoteAddr(), errNotFerry))
	}
	h, err := framing.ParseHello(p)
	if errors.Is(err, framing.ErrNotFerry) {
		err = errNotFerry
	}
	if err != nil {
		return framing.Hello{}, l.badHello(fmt.Errorf("reading hello from %s: %w", l.RemoteAddr(), err))
	}
	if h.Version != framing.Version {
		return framing.Hello{}, l.badHello(withCode(framing.CodeVersion, fmt.Errorf("%s speaks protocol version %d, this ferry speaks %d: use the same ferry release on both machines", l.RemoteAddr(), h.Version, framing.Version)))
	}
	if h.Role == l.role {
		return framing.Hello{}, l.badHello(withCode(framing.CodeProtocol, fmt.Errorf("%s is also a %s: one side must send, the other receive", l.RemoteAddr(), roleName(l.role))))
	}
	if err := l.checkMode(h); err != nil {
		return framing.Hello{}, err
	}
	l.helloCame = true
	if l.greeted != nil {
		l.greeted()
	}
	if l.code == "" {
		l.HandshakeDone()
		return h, nil
	}
	if l.admit != nil {
		if err := l.admitPinging(); err != nil {
			return framing.Hello{}, err
		}
		// The handshake has its own time from here: the wait for its
		// turn is not the sender's.
		l.HandshakeWithin(time.Now(), handshakeTime(l.timeout), "")
	}
	helloS, helloR := mine, p
	if l.role == framing.RoleReceiver {
		helloS, helloR = p, mine
	}
	sess, err := secure.Handshake(handshakeReader{l}, handshakeWriter{l}, l.role, l.code, helloS, helloR)
	if err != nil {
		return framing.Hello{}, l.handshakeError(err)
	}
	// From here on the writer seals every frame but the handshake's, and
	// the reader opens every frame.
	l.Secure(sess)
	l.HandshakeDone()
	if l.secured != nil {
		l.secured(sess.Cipher().String())
	}
	return h, nil
}

// helloTime is how long a receiver gives a connection for its hello, or
// its timeout if that is shorter. A ferry sender writes its hello as soon
// as it connects, so a connection without one for this long is a probe or
// a flood holding a slot, which must not keep it for the whole timeout.
const helloTime = 10 * time.Second

// readHello reads the peer's first frame; a receiver gives it helloTime.
func (l *link) readHello() (framing.Type, []byte, error) {
	if l.role != framing.RoleReceiver {
		return l.ReadPlainFrame(0, "")
	}
	return l.ReadPlainFrame(min(helloTime, handshakeTime(l.timeout)), "a sender's hello comes at once")
}

// badHello marks err, a receiver's failure over the sender's hello, as no
// transfer: no code was tried, and a one-shot receiver goes on waiting.
func (l *link) badHello(err error) error {
	if l.role != framing.RoleReceiver {
		return err
	}
	return &markedError{err: err, mark: errBadHello}
}

// notFerry marks err as framing.ErrNotFerry also where a sender's receiver
// said nothing for the whole timeout: a ferry receiver sends its hello at
// once, and nc -l takes the hello and answers nothing.
func (l *link) notFerry(err error) error {
	if l.role == framing.RoleSender && errors.Is(err, ErrTimeout) && !l.Heard() {
		return &markedError{err: err, mark: framing.ErrNotFerry}
	}
	return err
}

// errNotFerry is framing.ErrNotFerry in this package's words.
var errNotFerry = &markedError{err: errors.New("peer is not speaking the ferry protocol"), mark: framing.ErrNotFerry}

// admitPingInterval is how often a receiver pings a sender waiting for its
// turn, so that the sender's timeout does not run out meanwhile: often
// enough for any --timeout a person sets, rarely enough that many waiting
// connections cost little.
const admitPingInterval = time.Second

// admitPinging calls admit, pinging the sender until it returns: the
// writer pings only once the handshake is done, and the sender's
// handshake skips empty pings.
func (l *link) admitPinging() error {
	done := make(chan error, 1)
	go func() { done <- l.admit() }()
	tick := time.NewTicker(admitPingInterval)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			_ = l.SendPlain(framing.TypePing, nil)
		}
	}
}

// checkMode refuses a peer in the other mode: a code on one side only is a
// mistake to point out, not a reason to fall back to sending in the clear.
func (l *link) checkMode(h framing.Hello) error {
	peerSecure := h.Capabilities&framing.CapSecure != 0
	mineSecure := l.code != ""
	var msg string
	switch {
	case peerSecure == mineSecure:
		return nil
	case l.role == framing.RoleReceiver && mineSecure:
		msg = "the sender at %s uses no code, but this receiver requires its code"
	case l.role == framing.RoleReceiver:
		msg = "the sender at %s uses a code, but this receiver runs in the plain mode"
	case mineSecure:
		// Anyone can answer so; the claim is not checked, and following it
		// blindly would send in the clear to whoever answered.
		msg = "the receiver at %s says it runs in the plain mode (no code, no encryption)"
	default:
		msg = "the receiver at %s requires a code"
	}
	return withCode(framing.CodeAuth, &markedError{err: fmt.Errorf(msg, l.RemoteAddr()), mark: ErrOtherMode})
}

// handshakeError turns the handshake's failure into this package's terms.
func (l *link) handshakeError(err error) error {
	var pe *secure.PeerError
	if errors.As(err, &pe) {
		return peerReport(l.peerRole(), pe.Code, pe.Message, pe.Aborted)
	}
	if errors.Is(err, secure.ErrAuth) {
		return fmt.Errorf("%w (with %s)", ErrAuth, l.RemoteAddr())
	}
	return fmt.Errorf("handshake with %s: %w", l.RemoteAddr(), err)
}

// handshakeReader reads the handshake's frames as they come.
type handshakeReader struct{ l *link }

func (r handshakeReader) ReadFrame() (framing.Type, []byte, error) {
	return r.l.ReadPlainFrame(0, "")
}

// handshakeWriter queues the handshake's frames unsealed. An error frame
// goes ahead of them, as the connection's own error frames do.
type handshakeWriter struct{ l *link }

func (w handshakeWriter) WriteFrame(t framing.Type, p []byte) error {
	switch t {
	case framing.TypeError, framing.TypeAbort:
		w.l.SendFinal(t, p)
		return nil
	case framing.TypeConfirm:
		w.l.confirmSent = true
	}
	return w.l.SendPlain(t, p)
}

func (l *link) peerRole() framing.Role {
	if l.role == framing.RoleSender {
		return framing.RoleReceiver
	}
	return framing.RoleSender
}

// peerError turns an error or abort frame from the peer into an *Error.
func (l *link) peerError(t framing.Type, p []byte) error {
	peer := l.peerRole()
	if t == framing.TypeAbort {
		reason, err := framing.ParseAbort(p)
		if err != nil {
			return err
		}
		return peerReport(peer, 0, reason, true)
	}
	m, err := framing.ParseError(p)
	if err != nil {
		return err
	}
	return peerReport(peer, m.Code, m.Message, false)
}

func roleName(r framing.Role) string {
	if r == framing.RoleSender {
		return "sender"
	}
	return "receiver"
}
