package secure

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"

	"github.com/ferrytool/ferry/framing"
)

// frame is one recorded or scripted frame.
type frame struct {
	t framing.Type
	p []byte
}

// script is a FrameReader that plays a fixed list of frames, then io.EOF.
type script struct{ frames []frame }

func (s *script) ReadFrame() (framing.Type, []byte, error) {
	if len(s.frames) == 0 {
		return 0, nil, io.EOF
	}
	f := s.frames[0]
	s.frames = s.frames[1:]
	return f.t, f.p, nil
}

// recorder is a FrameWriter that keeps copies of what it is given and
// passes it on to w, if set.
type recorder struct {
	w      FrameWriter
	frames []frame
}

func (r *recorder) WriteFrame(t framing.Type, p []byte) error {
	r.frames = append(r.frames, frame{t, bytes.Clone(p)})
	if r.w != nil {
		return r.w.WriteFrame(t, p)
	}
	return nil
}

// seeded returns a reproducible source of randomness.
func seeded(seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

var (
	testHelloS = framing.AppendHello(nil, framing.Hello{Version: framing.Version, Role: framing.RoleSender, Capabilities: framing.CapS2 | framing.CapSecure})
	testHelloR = framing.AppendHello(nil, framing.Hello{Version: framing.Version, Role: framing.RoleReceiver, Capabilities: framing.CapZstd | framing.CapS2 | framing.CapSecure})
)

// side is one end of a test handshake.
type side struct {
	code   string
	cfg    config
	helloS []byte // the hellos this side saw; the test ones if nil
	helloR []byte

	sess   *Session
	err    error
	frames []frame // what this side wrote
}

// runHandshake runs a sender and a receiver against each other over
// net.Pipe with framing's reader and writer, and fills in their results.
func runHandshake(t testing.TB, s, r *side) {
	t.Helper()
	a, b := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer b.Close()
		r.run(framing.NewReader(b), framing.NewWriter(b), framing.RoleReceiver)
	}()
	s.run(framing.NewReader(a), framing.NewWriter(a), framing.RoleSender)
	a.Close()
	<-done
}

func (sd *side) run(fr FrameReader, fw FrameWriter, role framing.Role) {
	if sd.helloS == nil {
		sd.helloS, sd.helloR = testHelloS, testHelloR
	}
	rec := &recorder{w: fw}
	sd.sess, sd.err = handshake(fr, rec, role, sd.code, sd.helloS, sd.helloR, sd.cfg)
	sd.frames = rec.frames
}

// checkSessionsAgree seals frames each way and checks the other side opens
// them, the last one flagged as last.
func checkSessionsAgree(t *testing.T, from, to *Session) {
	t.Helper()
	for i, msg := range []string{"offer", "file frame with a name", strings.Repeat("data ", 1000), "done"} {
		last := i == 3
		sealed, err := from.Seal(framing.TypeData, []byte(msg), last)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, []byte(msg)) {
			t.Fatalf("frame %d went out in the clear", i)
		}
		plain, gotLast, err := to.Open(framing.TypeData, sealed)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if string(plain) != msg || gotLast != last {
			t.Fatalf("frame %d opened as %.20q last=%v, want %.20q last=%v", i, plain, gotLast, msg, last)
		}
	}
	if err := to.AtEOF(); err != nil {
		t.Fatalf("AtEOF after the last frame: %v", err)
	}
}

func TestHandshakeRightCode(t *testing.T) {
	for _, c := range []struct {
		name         string
		hwS, hwR     bool
		want         Cipher
		codeS, codeR string
	}{
		{"both AES", true, true, AES256GCM, "K7Q-M2X-RD9", "K7Q-M2X-RD9"},
		{"sender AES only", true, false, ChaCha20Poly1305, "K7Q-M2X-RD9", "k7q m2x rd9"},
		{"receiver AES only", false, true, ChaCha20Poly1305, "K7Q-M2X-RD9", "K7QM2XRD9"},
		{"neither", false, false, ChaCha20Poly1305, "1L0-AB1-XYZ", "ilo-abl-xyz"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &side{code: c.codeS, cfg: config{rand: seeded(1), hwAES: c.hwS}}
			r := &side{code: c.codeR, cfg: config{rand: seeded(2), hwAES: c.hwR}}
			runHandshake(t, s, r)
			if s.err != nil || r.err != nil {
				t.Fatalf("sender: %v; receiver: %v", s.err, r.err)
			}
			if s.sess.Cipher() != c.want || r.sess.Cipher() != c.want {
				t.Fatalf("ciphers %v and %v, want %v", s.sess.Cipher(), r.sess.Cipher(), c.want)
			}
			checkSessionsAgree(t, s.sess, r.sess)
			checkSessionsAgree(t, r.sess, s.sess)

			// The frames are as PROTOCOL.md lays them out.
			if len(s.frames) != 2 || s.frames[0].t != framing.TypePake || len(s.frames[0].p) != 49 ||
				s.frames[1].t != framing.TypeConfirm || len(s.frames[1].p) != 32 {
				t.Errorf("sender wrote %v", kinds(s.frames))
			}
			if len(r.frames) != 2 || r.frames[0].t != framing.TypePake || len(r.frames[0].p) != 33 ||
				r.frames[1].t != framing.TypeConfirm || len(r.frames[1].p) != 32 {
				t.Errorf("receiver wrote %v", kinds(r.frames))
			}
			if got, want := s.frames[0].p[16], flagsOf(c.hwS); got != want {
				t.Errorf("sender's flags %#x, want %#x", got, want)
			}
			if got, want := r.frames[0].p[0], flagsOf(c.hwR); got != want {
				t.Errorf("receiver's flags %#x, want %#x", got, want)
			}
		})
	}
}

func flagsOf(hw bool) byte {
	if hw {
		return flagHardwareAES
	}
	return 0
}

func kinds(fs []frame) []string {
	var k []string
	for _, f := range fs {
		k = append(k, f.t.String())
	}
	return k
}

func TestHandshakeWrongCode(t *testing.T) {
	s := &side{code: "K7Q-M2X-RD9", cfg: config{rand: seeded(1), hwAES: true}}
	r := &side{code: "K7Q-M2X-RD8", cfg: config{rand: seeded(2), hwAES: true}}
	runHandshake(t, s, r)
	if !errors.Is(s.err, ErrAuth) || s.sess != nil {
		t.Fatalf("sender: %v, session %v; want ErrAuth and no session", s.err, s.sess)
	}
	if !errors.Is(r.err, ErrAuth) || r.sess != nil {
		t.Fatalf("receiver: %v, session %v; want ErrAuth and no session", r.err, r.sess)
	}
	var pe *PeerError
	if !errors.As(r.err, &pe) || pe.Code != framing.CodeAuth || pe.Message != "authentication failed: wrong code" {
		t.Fatalf("receiver got %#v, want the sender's auth error", r.err)
	}
	// The sender sent its pake and then the error, never its confirm.
	if got := kinds(s.frames); len(got) != 2 || got[0] != "pake" || got[1] != "error" {
		t.Errorf("sender wrote %v, want pake, error", got)
	}
	if !strings.Contains(s.err.Error(), "authentication failed: wrong code") {
		t.Errorf("sender's error says %q", s.err)
	}
}

// TestHandshakeHelloBinding: a man in the middle who changes a hello on its
// way (say, strips a capability) makes the two transcripts differ, and key
// confirmation fails even with the right code.
func TestHandshakeHelloBinding(t *testing.T) {
	altered := framing.AppendHello(nil, framing.Hello{Version: framing.Version, Role: framing.RoleReceiver, Capabilities: framing.CapSecure})
	s := &side{code: "K7Q-M2X-RD9", cfg: config{rand: seeded(1)}, helloS: testHelloS, helloR: altered}
	r := &side{code: "K7Q-M2X-RD9", cfg: config{rand: seeded(2)}}
	runHandshake(t, s, r)
	if !errors.Is(s.err, ErrAuth) || !errors.Is(r.err, ErrAuth) {
		t.Fatalf("sender: %v; receiver: %v; want ErrAuth on both", s.err, r.err)
	}
}

// TestHandshakeDeterministic: with the same randomness a handshake is
// replayed byte for byte, keys included.
func TestHandshakeDeterministic(t *testing.T) {
	var runs [2][2]*side
	for i := range runs {
		s := &side{code: "K7Q-M2X-RD9", cfg: config{rand: seeded(7)}}
		r := &side{code: "K7Q-M2X-RD9", cfg: config{rand: seeded(8)}}
		runHandshake(t, s, r)
		if s.err != nil || r.err != nil {
			t.Fatalf("sender: %v; receiver: %v", s.err, r.err)
		}
		runs[i] = [2]*side{s, r}
	}
	for j := range 2 {
		a, b := runs[0][j].frames, runs[1][j].frames
		if len(a) != len(b) {
			t.Fatalf("side %d wrote %d frames, then %d", j, len(a), len(b))
		}
		for k := range a {
			if a[k].t != b[k].t || !bytes.Equal(a[k].p, b[k].p) {
				t.Errorf("side %d frame %d differs between runs", j, k)
			}
		}
	}
	x, err := runs[0][0].sess.Seal(framing.TypeOffer, []byte("same"), false)
	if err != nil {
		t.Fatal(err)
	}
	y, err := runs[1][0].sess.Seal(framing.TypeOffer, []byte("same"), false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Error("same randomness, different keys")
	}
}

// TestHandshakeReplay records an honest handshake and plays the sender's
// frames to a new receiver: its fresh scalar changes the keys, so the
// recorded sender confirm does not check out.
func TestHandshakeReplay(t *testing.T) {
	s := &side{code: "K7Q-M2X-RD9", cfg: config{rand: seeded(1)}}
	r := &side{code: "K7Q-M2X-RD9", cfg: config{rand: seeded(2)}}
	runHandshake(t, s, r)
	if s.err != nil || r.err != nil {
		t.Fatalf("sender: %v; receiver: %v", s.err, r.err)
	}

	replay := func(seed byte) (*Session, []frame, error) {
		rec := &recorder{}
		sess, err := handshake(&script{frames: s.frames}, rec, framing.RoleReceiver, "K7Q-M2X-RD9", testHelloS, testHelloR, config{rand: seeded(seed)})
		return sess, rec.frames, err
	}
	sess, wrote, err := replay(3)
	if !errors.Is(err, ErrAuth) || sess != nil {
		t.Fatalf("replay against a fresh receiver: %v, session %v; want ErrAuth", err, sess)
	}
	if len(wrote) != 3 || wrote[2].t != framing.TypeError {
		t.Fatalf("fresh receiver wrote %v, want pake, confirm, error", kinds(wrote))
	}
	if m, err := framing.ParseError(wrote[2].p); err != nil || m.Code != framing.CodeAuth || m.Message != "authentication failed: wrong code" {
		t.Errorf("error frame %+v, %v", m, err)
	}

	// Only the fresh scalar defeats the replay: with the original
	// receiver's randomness the same frames are accepted.
	if sess, _, err := replay(2); err != nil || sess == nil {
		t.Fatalf("replay with the original randomness: %v", err)
	}
}

// TestHandshakeAliasedHellos: the hellos may live in the frame reader's
// buffer, which the next read overwrites.
func TestHandshakeAliasedHellos(t *testing.T) {
	s := &side{code: "K7Q-M2X-RD9", cfg: config{rand: seeded(1)}}
	runHandshake(t, s, &side{code: "K7Q-M2X-RD9", cfg: config{rand: seeded(2)}})
	if s.err != nil {
		t.Fatal(s.err)
	}
	helloR := bytes.Clone(testHelloR)
	clobber := &clobberingReader{r: &script{frames: s.frames}, buf: helloR}
	if _, err := handshake(clobber, &recorder{}, framing.RoleReceiver, "K7Q-M2X-RD9", testHelloS, helloR, config{rand: seeded(2)}); err != nil {
		t.Fatalf("handshake with a hello overwritten by the first read: %v", err)
	}
}

type clobberingReader struct {
	r   FrameReader
	buf []byte
}

func (c *clobberingReader) ReadFrame() (framing.Type, []byte, error) {
	clear(c.buf)
	return c.r.ReadFrame()
}

// validPakeS returns a well-formed sender pake payload for scripted tests.
func validPakeS(t testing.TB) []byte {
	rec := &recorder{}
	_, _ = handshake(&script{}, rec, framing.RoleSender, "K7Q-M2X-RD9", testHelloS, testHelloR, config{rand: seeded(1)})
	if len(rec.frames) == 0 {
		t.Fatal("sender wrote no pake")
	}
	return rec.frames[0].p
}

func TestHandshakeProtocolErrors(t *testing.T) {
	good := validPakeS(t)
	withY := func(y []byte) []byte { return append(bytes.Clone(good[:17]), y...) }
	nonCanonical := bytes.Repeat([]byte{0xff}, 32)
	ping := frame{framing.TypePing, nil}
	errFrame := func(code uint16, msg string) frame {
		return frame{framing.TypeError, framing.AppendError(nil, framing.ErrorMsg{Code: code, Message: msg})}
	}
	abort := frame{framing.TypeAbort, framing.AppendAbort(nil, "interrupted")}

	// want: "protocol" (ErrProtocol, and a CodeProtocol error frame sent),
	// "auth" (ErrAuth from the peer), "peer" (a *PeerError, not ErrAuth),
	// "io" (no sentinel, nothing sent after the failure).
	for _, c := range []struct {
		name   string
		role   framing.Role
		frames []frame
		want   string
	}{
		{"responder: offer instead of pake", framing.RoleReceiver, []frame{{framing.TypeOffer, make([]byte, 12)}}, "protocol"},
		{"responder: confirm first", framing.RoleReceiver, []frame{{framing.TypeConfirm, make([]byte, 32)}}, "protocol"},
		{"responder: short pake", framing.RoleReceiver, []frame{{framing.TypePake, good[:48]}}, "protocol"},
		{"responder: long pake", framing.RoleReceiver, []frame{{framing.TypePake, append(bytes.Clone(good), 0)}}, "protocol"},
		{"responder: empty pake", framing.RoleReceiver, []frame{{framing.TypePake, nil}}, "protocol"},
		{"responder: identity Ya", framing.RoleReceiver, []frame{{framing.TypePake, withY(make([]byte, 32))}}, "protocol"},
		{"responder: Ya not canonical", framing.RoleReceiver, []frame{{framing.TypePake, withY(nonCanonical)}}, "protocol"},
		{"responder: ping with a payload", framing.RoleReceiver, []frame{{framing.TypePing, []byte{1}}}, "protocol"},
		{"responder: malformed error frame", framing.RoleReceiver, []frame{{framing.TypeError, []byte{0}}}, "protocol"},
		{"responder: malformed abort frame", framing.RoleReceiver, []frame{{framing.TypeAbort, []byte{0xff}}}, "protocol"},
		{"responder: short confirm", framing.RoleReceiver, []frame{{framing.TypePake, good}, {framing.TypeConfirm, make([]byte, 31)}}, "protocol"},
		{"responder: data instead of confirm", framing.RoleReceiver, []frame{{framing.TypePake, good}, {framing.TypeData, make([]byte, 13)}}, "protocol"},
		{"responder: wrong confirm", framing.RoleReceiver, []frame{ping, {framing.TypePake, good}, ping, {framing.TypeConfirm, make([]byte, 32)}}, "auth-local"},
		{"responder: peer's auth error", framing.RoleReceiver, []frame{errFrame(framing.CodeAuth, authMessage)}, "auth"},
		{"responder: peer's other error", framing.RoleReceiver, []frame{errFrame(framing.CodeInternal, "disk on fire")}, "peer"},
		{"responder: peer aborts", framing.RoleReceiver, []frame{abort}, "peer"},
		{"responder: end of stream", framing.RoleReceiver, nil, "io"},
		{"responder: pings then end of stream", framing.RoleReceiver, []frame{ping, ping}, "io"},
		{"initiator: short pake", framing.RoleSender, []frame{{framing.TypePake, make([]byte, 32)}}, "protocol"},
		{"initiator: sender-sized pake", framing.RoleSender, []frame{{framing.TypePake, good}}, "protocol"},
		{"initiator: identity Yb", framing.RoleSender, []frame{{framing.TypePake, make([]byte, 33)}}, "protocol"},
		{"initiator: Yb not canonical", framing.RoleSender, []frame{{framing.TypePake, append([]byte{1}, nonCanonical...)}}, "protocol"},
		{"initiator: hello again", framing.RoleSender, []frame{{framing.TypeHello, testHelloR}}, "protocol"},
		{"initiator: peer's auth error", framing.RoleSender, []frame{ping, errFrame(framing.CodeAuth, authMessage)}, "auth"},
		{"initiator: peer aborts", framing.RoleSender, []frame{abort}, "peer"},
		{"initiator: end of stream", framing.RoleSender, nil, "io"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := &recorder{}
			sess, err := handshake(&script{frames: c.frames}, rec, c.role, "K7Q-M2X-RD9", testHelloS, testHelloR, config{rand: seeded(9)})
			if sess != nil || err == nil {
				t.Fatalf("handshake succeeded")
			}
			var pe *PeerError
			isPeer := errors.As(err, &pe)
			var lastSent *frame
			if n := len(rec.frames); n > 0 {
				lastSent = &rec.frames[n-1]
			}
			sentError := func(code uint16) {
				t.Helper()
				if lastSent == nil || lastSent.t != framing.TypeError {
					t.Fatalf("wrote %v, want an error frame last", kinds(rec.frames))
				}
				m, perr := framing.ParseError(lastSent.p)
				if perr != nil || m.Code != code || strings.HasPrefix(m.Message, "secure:") {
					t.Fatalf("error frame %+v (%v), want code %d without the package prefix", m, perr, code)
				}
			}
			switch c.want {
			case "protocol":
				if !errors.Is(err, ErrProtocol) || errors.Is(err, ErrAuth) || isPeer {
					t.Fatalf("error %v, want ErrProtocol", err)
				}
				sentError(framing.CodeProtocol)
			case "auth-local":
				if !errors.Is(err, ErrAuth) || isPeer {
					t.Fatalf("error %v, want a local ErrAuth", err)
				}
				sentError(framing.CodeAuth)
			case "auth":
				if !errors.Is(err, ErrAuth) || !isPeer {
					t.Fatalf("error %v, want the peer's ErrAuth", err)
				}
			case "peer":
				if !isPeer || errors.Is(err, ErrAuth) || errors.Is(err, ErrProtocol) {
					t.Fatalf("error %v, want a *PeerError that is not ErrAuth", err)
				}
			case "io":
				if !errors.Is(err, io.EOF) || errors.Is(err, ErrProtocol) || errors.Is(err, ErrAuth) {
					t.Fatalf("error %v, want io.EOF", err)
				}
			}
			if c.want != "protocol" && c.want != "auth-local" && lastSent != nil && lastSent.t == framing.TypeError {
				t.Errorf("sent an error frame for %v", err)
			}
			// A responder that finds Ya bad sends nothing derived from the code.
			if strings.Contains(c.name, "responder") && errors.Is(err, errBadElement) && len(rec.frames) != 1 {
				t.Errorf("responder wrote %v before aborting", kinds(rec.frames))
			}
		})
	}
}

func TestPeerErrorMessages(t *testing.T) {
	e := &PeerError{Code: framing.CodeAuth, Message: authMessage}
	if got := e.Error(); !strings.Contains(got, "authentication failed: wrong code") {
		t.Errorf("PeerError says %q", got)
	}
	a := &PeerError{Message: "interrupted", Aborted: true}
	if got := a.Error(); !strings.Contains(got, "aborted") || !strings.Contains(got, "interrupted") {
		t.Errorf("abort says %q", got)
	}
	if errors.Is(&PeerError{Code: framing.CodeAuth, Aborted: true}, ErrAuth) {
		t.Error("an abort matched ErrAuth")
	}
}

func TestHandshakeArguments(t *testing.T) {
	rec := &recorder{}
	rd := &script{frames: []frame{{framing.TypePake, nil}}}
	if _, err := handshake(rd, rec, framing.RoleSender, "AB-CD", testHelloS, testHelloR, config{rand: seeded(1)}); !errors.Is(err, ErrCodeTooShort) {
		t.Errorf("short code: %v", err)
	}
	if _, err := handshake(rd, rec, framing.Role(3), "K7Q-M2X-RD9", testHelloS, testHelloR, config{rand: seeded(1)}); err == nil {
		t.Error("role 3 accepted")
	}
	if len(rec.frames) != 0 || len(rd.frames) != 1 {
		t.Errorf("refused arguments, yet wrote %v and read %d frames", kinds(rec.frames), 1-len(rd.frames))
	}
	if _, err := Handshake(rd, rec, framing.RoleSender, "AB-CD", testHelloS, testHelloR); !errors.Is(err, ErrCodeTooShort) {
		t.Errorf("Handshake with a short code: %v", err)
	}
	// Randomness that runs out is an error, not a weak key.
	for _, n := range []int{0, 16, 40} {
		_, err := handshake(&script{}, &recorder{}, framing.RoleSender, "K7Q-M2X-RD9", testHelloS, testHelloR, config{rand: bytes.NewReader(make([]byte, n))})
		if err == nil || errors.Is(err, ErrProtocol) {
			t.Errorf("sender with %d random bytes: %v", n, err)
		}
	}
	_, err := handshake(&script{frames: []frame{{framing.TypePake, validPakeS(t)}}}, &recorder{}, framing.RoleReceiver, "K7Q-M2X-RD9", testHelloS, testHelloR, config{rand: bytes.NewReader(nil)})
	if err == nil || errors.Is(err, ErrProtocol) {
		t.Errorf("receiver without randomness: %v", err)
	}
}

// failingWriter fails every write.
type failingWriter struct{}

var errWrite = errors.New("write failed")

func (failingWriter) WriteFrame(framing.Type, []byte) error { return errWrite }

func TestHandshakeWriteFailure(t *testing.T) {
	_, err := handshake(&script{}, failingWriter{}, framing.RoleSender, "K7Q-M2X-RD9", testHelloS, testHelloR, config{rand: seeded(1)})
	if !errors.Is(err, errWrite) {
		t.Errorf("sender: %v", err)
	}
	_, err = handshake(&script{frames: []frame{{framing.TypePake, validPakeS(t)}}}, failingWriter{}, framing.RoleReceiver, "K7Q-M2X-RD9", testHelloS, testHelloR, config{rand: seeded(1)})
	if !errors.Is(err, errWrite) {
		t.Errorf("receiver: %v", err)
	}
}

// TestHandshakeRealRandomness runs the exported Handshake, with crypto/rand
// and this machine's AES detection.
func TestHandshakeRealRandomness(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	code := NewCode()
	type res struct {
		s   *Session
		err error
	}
	ch := make(chan res, 1)
	go func() {
		defer b.Close()
		s, err := Handshake(framing.NewReader(b), framing.NewWriter(b), framing.RoleReceiver, strings.ToLower(code), testHelloS, testHelloR)
		ch <- res{s, err}
	}()
	s, err := Handshake(framing.NewReader(a), framing.NewWriter(a), framing.RoleSender, code, testHelloS, testHelloR)
	r := <-ch
	if err != nil || r.err != nil {
		t.Fatalf("sender: %v; receiver: %v", err, r.err)
	}
	want := ChaCha20Poly1305
	if hardwareAES {
		want = AES256GCM
	}
	if s.Cipher() != want {
		t.Errorf("cipher %v on a machine with hardware AES %v", s.Cipher(), hardwareAES)
	}
	checkSessionsAgree(t, s, r.s)
	checkSessionsAgree(t, r.s, s)
}
