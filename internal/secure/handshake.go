package secure

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"

	"github.com/ferrytool/ferry/framing"
)

const (
	// channelID is CPace's CI. It names the protocol so that a CPace run of
	// some other application, or of a later ferry version, never yields the
	// same keys from the same code. The roles need no place in it: the
	// initiator-responder transcript already orders the two messages.
	channelID = "ferry v1"
	// keysInfo is HKDF's info for ferry's key schedule.
	keysInfo = "ferry v1 keys"
	// confirmLabel starts the message each side's confirmation MACs.
	confirmLabel = "ferry v1 confirm"

	// sidLen is the length of the session identifier the initiator draws.
	sidLen = 16
	// flagHardwareAES is the pake flags bit saying the side has AES
	// instructions; the other bits are sent as zero and ignored.
	flagHardwareAES = 1 << 0

	// Payload lengths of the handshake frames.
	pakeSLen   = sidLen + 1 + elementLen // sid | flags | Ya
	pakeRLen   = 1 + elementLen          // flags | Yb
	confirmLen = sha256.Size             // HMAC-SHA-256
)

// FrameReader reads one frame at a time, as framing.Reader does. A payload
// need only stay valid until the next call.
type FrameReader interface {
	ReadFrame() (framing.Type, []byte, error)
}

// FrameWriter writes one frame, as framing.Writer does.
type FrameWriter interface {
	WriteFrame(framing.Type, []byte) error
}

// config is what a handshake takes from its environment; tests replace it to
// replay a handshake or to force either cipher.
type config struct {
	rand  io.Reader // the source of the sid and the secret scalar
	hwAES bool      // whether to claim AES instructions in the pake flags
}

// Handshake runs the encrypted mode's handshake on a connection whose hellos
// were just exchanged, and returns the Session that seals and opens every
// later frame. role is this side's: the sender initiates, the receiver
// responds. code is the code the user gave, normalized here. helloS and
// helloR are the payloads of the sender's and the receiver's hello, whatever
// this side's role; they are hashed before the first read, so they may alias
// the frame reader's buffer.
//
// A side that detects a failure in the peer's messages tells the peer with a
// plain error frame before Handshake returns: framing.CodeAuth with the text
// "authentication failed: wrong code" for a failed key confirmation
// (ErrAuth), framing.CodeProtocol for anything else wrong (ErrProtocol). So
// when the error matches ErrAuth or ErrProtocol the peer has been told (or
// was the one telling: a *PeerError with CodeAuth matches ErrAuth too), and
// the caller only closes the connection. For other errors, a refused code
// (ErrCodeTooShort, before any I/O), a *PeerError, or a failed read or
// write, Handshake sent nothing. Empty ping frames from the peer are skipped,
// so a keepalive that runs from the start does no harm. Once Handshake has
// returned a Session, every frame either way is sealed, pings and error and
// abort frames included.
func Handshake(r FrameReader, w FrameWriter, role framing.Role, code string, helloS, helloR []byte) (*Session, error) {
	return handshake(r, w, role, code, helloS, helloR, config{rand: rand.Reader, hwAES: hardwareAES})
}

func handshake(r FrameReader, w FrameWriter, role framing.Role, code string, helloS, helloR []byte, cfg config) (*Session, error) {
	if err := CheckCode(code); err != nil {
		return nil, err
	}
	h := &handshakeState{
		r:   r,
		w:   w,
		cfg: cfg,
		prs: []byte(NormalizeCode(code)),
		th:  sha256.New(),
	}
	h.addTranscript(helloS)
	h.addTranscript(helloR)
	switch role {
	case framing.RoleSender:
		return h.initiate()
	case framing.RoleReceiver:
		return h.respond()
	}
	return nil, fmt.Errorf("handshake for unknown role %d", role)
}

// handshakeState is one side's handshake in progress.
type handshakeState struct {
	r   FrameReader
	w   FrameWriter
	cfg config
	prs []byte    // CPace's PRS: the normalized code
	th  hash.Hash // the transcript hash: each handshake payload after its u32 length
}

// pakeS is the sender's pake payload: sid (16) | flags (1) | Ya (32).
type pakeS struct {
	sid   []byte
	flags byte
	y     []byte
}

func appendPakeS(dst []byte, m pakeS) []byte {
	dst = append(dst, m.sid...)
	dst = append(dst, m.flags)
	return append(dst, m.y...)
}

// parsePakeS decodes a sender's pake payload. Whether Ya is a valid element
// is left to the scalar multiplication, which maps an invalid one to G.I.
func parsePakeS(p []byte) (pakeS, error) {
	if len(p) != pakeSLen {
		return pakeS{}, fmt.Errorf("%w: sender's pake frame of %d bytes, want %d", ErrProtocol, len(p), pakeSLen)
	}
	return pakeS{sid: p[:sidLen], flags: p[sidLen], y: p[sidLen+1:]}, nil
}

// pakeR is the receiver's pake payload: flags (1) | Yb (32).
type pakeR struct {
	flags byte
	y     []byte
}

func appendPakeR(dst []byte, m pakeR) []byte {
	return append(append(dst, m.flags), m.y...)
}

// parsePakeR decodes a receiver's pake payload.
func parsePakeR(p []byte) (pakeR, error) {
	if len(p) != pakeRLen {
		return pakeR{}, fmt.Errorf("%w: receiver's pake frame of %d bytes, want %d", ErrProtocol, len(p), pakeRLen)
	}
	return pakeR{flags: p[0], y: p[1:]}, nil
}

// initiate is the sender's side: pake out, the receiver's pake and confirm
// in, and only once that confirm checks out, the sender's confirm.
func (h *handshakeState) initiate() (*Session, error) {
	sid := make([]byte, sidLen)
	if _, err := io.ReadFull(h.cfg.rand, sid); err != nil {
		return nil, fmt.Errorf("drawing a session id: %w", err)
	}
	y, err := sampleScalar(h.cfg.rand)
	if err != nil {
		return nil, fmt.Errorf("drawing a scalar: %w", err)
	}
	mine := pakeS{sid: sid, flags: h.flags(), y: scalarMult(y, calculateGenerator(h.prs, []byte(channelID), sid))}
	p := appendPakeS(make([]byte, 0, pakeSLen), mine)
	if err := h.write(framing.TypePake, p); err != nil {
		return nil, err
	}
	h.addTranscript(p)

	p, err = h.read(framing.TypePake)
	if err != nil {
		return nil, err
	}
	peer, err := parsePakeR(p)
	if err != nil {
		return nil, h.fail(framing.CodeProtocol, err)
	}
	h.addTranscript(p)
	k := scalarMultVfy(y, peer.y)
	if isIdentity(k) {
		return nil, h.fail(framing.CodeProtocol, errBadElement)
	}
	keys, err := h.keys(intermediateKey(sid, k, transcriptIR(mine.y, []byte{mine.flags}, peer.y, []byte{peer.flags})))
	if err != nil {
		return nil, err
	}

	p, err = h.read(framing.TypeConfirm)
	if err != nil {
		return nil, err
	}
	if err := h.checkConfirm(p, keys.confirmR); err != nil {
		return nil, err
	}
	if err := h.write(framing.TypeConfirm, keys.confirmS); err != nil {
		return nil, err
	}
	return newSession(chooseCipher(mine.flags, peer.flags), keys.sr, keys.rs)
}

// respond is the receiver's side: the sender's pake in, pake and confirm
// out, and the sender's confirm checked before any other frame is accepted.
func (h *handshakeState) respond() (*Session, error) {
	p, err := h.read(framing.TypePake)
	if err != nil {
		return nil, err
	}
	peer, err := parsePakeS(p)
	if err != nil {
		return nil, h.fail(framing.CodeProtocol, err)
	}
	h.addTranscript(p)
	y, err := sampleScalar(h.cfg.rand)
	if err != nil {
		return nil, fmt.Errorf("drawing a scalar: %w", err)
	}
	// Check the sender's element before answering: a side that must abort
	// sends nothing derived from the code.
	k := scalarMultVfy(y, peer.y)
	if isIdentity(k) {
		return nil, h.fail(framing.CodeProtocol, errBadElement)
	}
	mine := pakeR{flags: h.flags(), y: scalarMult(y, calculateGenerator(h.prs, []byte(channelID), peer.sid))}
	p = appendPakeR(make([]byte, 0, pakeRLen), mine)
	if err := h.write(framing.TypePake, p); err != nil {
		return nil, err
	}
	h.addTranscript(p)
	keys, err := h.keys(intermediateKey(peer.sid, k, transcriptIR(peer.y, []byte{peer.flags}, mine.y, []byte{mine.flags})))
	if err != nil {
		return nil, err
	}
	if err := h.write(framing.TypeConfirm, keys.confirmR); err != nil {
		return nil, err
	}

	p, err = h.read(framing.TypeConfirm)
	if err != nil {
		return nil, err
	}
	if err := h.checkConfirm(p, keys.confirmS); err != nil {
		return nil, err
	}
	return newSession(chooseCipher(peer.flags, mine.flags), keys.rs, keys.sr)
}

// errBadElement is the abort the draft demands when K is G.I: the peer's
// element did not decode or was the identity.
var errBadElement = fmt.Errorf("%w: the peer's CPace element is invalid or the identity", ErrProtocol)

func (h *handshakeState) flags() byte {
	if h.cfg.hwAES {
		return flagHardwareAES
	}
	return 0
}

// chooseCipher picks AES-256-GCM only if both sides have AES instructions:
// on a machine without them it would be the slower cipher, and not constant
// time.
func chooseCipher(flagsS, flagsR byte) Cipher {
	if flagsS&flagsR&flagHardwareAES != 0 {
		return AES256GCM
	}
	return ChaCha20Poly1305
}

// addTranscript adds one handshake payload to the transcript hash, after
// its length as a big-endian u32 so no two transcripts hash the same input.
func (h *handshakeState) addTranscript(p []byte) {
	h.th.Write(binary.BigEndian.AppendUint32(nil, uint32(len(p))))
	h.th.Write(p)
}

// sessionKeys are the outputs of ferry's key schedule.
type sessionKeys struct {
	sr, rs             []byte // AEAD keys, sender to receiver and back
	confirmS, confirmR []byte // each side's confirm payload
}

// keys derives the session keys from the ISK and the complete transcript:
// HKDF-SHA-256 with the transcript hash as salt, then each side's confirm
// payload, an HMAC of the transcript hash under that side's confirm key.
func (h *handshakeState) keys(isk [64]byte) (sessionKeys, error) {
	th := h.th.Sum(nil)
	okm, err := hkdf.Key(sha256.New, isk[:], th, keysInfo, 4*32)
	if err != nil {
		return sessionKeys{}, fmt.Errorf("deriving keys: %w", err)
	}
	return sessionKeys{
		sr:       okm[0:32],
		rs:       okm[32:64],
		confirmS: confirmMAC(okm[64:96], th),
		confirmR: confirmMAC(okm[96:128], th),
	}, nil
}

func confirmMAC(key, th []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(confirmLabel))
	m.Write(th)
	return m.Sum(nil)
}

// checkConfirm compares the peer's confirm payload p with the expected one
// in constant time.
func (h *handshakeState) checkConfirm(p, want []byte) error {
	if len(p) != confirmLen {
		return h.fail(framing.CodeProtocol, fmt.Errorf("%w: confirm frame of %d bytes, want %d", ErrProtocol, len(p), confirmLen))
	}
	if !hmac.Equal(p, want) {
		return h.fail(framing.CodeAuth, ErrAuth)
	}
	return nil
}

// read returns a copy of the next handshake frame's payload, which must be
// of type want. Empty pings are skipped; an error or abort frame comes back
// as a *PeerError.
func (h *handshakeState) read(want framing.Type) ([]byte, error) {
	for {
		t, p, err := h.r.ReadFrame()
		if err != nil {
			return nil, fmt.Errorf("handshake: waiting for the peer's %s frame: %w", want, err)
		}
		switch {
		case t == want:
			return bytes.Clone(p), nil
		case t == framing.TypePing && len(p) == 0:
		case t == framing.TypeError:
			m, err := framing.ParseError(p)
			if err != nil {
				return nil, h.fail(framing.CodeProtocol, fmt.Errorf("%w: %w", ErrProtocol, err))
			}
			return nil, &PeerError{Code: m.Code, Message: m.Message}
		case t == framing.TypeAbort:
			reason, err := framing.ParseAbort(p)
			if err != nil {
				return nil, h.fail(framing.CodeProtocol, fmt.Errorf("%w: %w", ErrProtocol, err))
			}
			return nil, &PeerError{Message: reason, Aborted: true}
		default:
			return nil, h.fail(framing.CodeProtocol, fmt.Errorf("%w: %s frame of %d bytes where a %s frame belongs", ErrProtocol, t, len(p), want))
		}
	}
}

func (h *handshakeState) write(t framing.Type, p []byte) error {
	if err := h.w.WriteFrame(t, p); err != nil {
		return fmt.Errorf("handshake: sending %s frame: %w", t, err)
	}
	return nil
}

// fail tells the peer about err with a plain error frame carrying code, and
// returns err. A failure to send it is ignored, since err is the failure
// to report and the connection is closed next anyway.
func (h *handshakeState) fail(code uint16, err error) error {
	_ = h.w.WriteFrame(framing.TypeError, framing.AppendError(nil, framing.ErrorMsg{Code: code, Message: err.Error()}))
	return err
}
