package framing

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// Version is the protocol version this package speaks.
const Version = 1

// Magic opens every hello payload.
const Magic = "ferry"

// Role says which side of a transfer a hello comes from.
type Role uint8

// Roles.
const (
	RoleSender   Role = 1
	RoleReceiver Role = 2
)

// Capability bits a side offers in its hello.
const (
	CapZstd uint32 = 1 << 0 // decodes CodecZstd data frames
	CapS2   uint32 = 1 << 1 // decodes CodecS2 data frames
	// CapSecure says the side runs the encrypted mode: a CPace handshake
	// after the hellos, and every later frame sealed. Both sides must agree.
	CapSecure uint32 = 1 << 2
	// CapResume says the side takes part in the check and holds exchange
	// (PROTOCOL.md 2.11): a sender asks what the receiver holds of its
	// files, and skips or resumes them.
	CapResume uint32 = 1 << 3
	// CapStreams says the side stripes a transfer over parallel
	// connections (PROTOCOL.md 2.12): a sender asks for them, a receiver
	// takes the connections that join.
	CapStreams uint32 = 1 << 4
)

// Codec says how a data frame's body is encoded.
type Codec uint8

// Codecs.
const (
	CodecNone Codec = 0
	CodecZstd Codec = 1
	CodecS2   Codec = 2
)

// String names a codec for messages.
func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecZstd:
		return "zstd"
	case CodecS2:
		return "s2"
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

// Kind says what a file frame describes.
type Kind uint8

// Kinds. Version 1 receivers accept only KindRegular; the others are reserved
// for directory transfers.
const (
	KindRegular Kind = 0
	KindDir     Kind = 1
	KindSymlink Kind = 2
)

// ChecksumCRC32C is the checksum algorithm of an end frame: CRC-32C
// (Castagnoli), digest as a big-endian uint32.
const ChecksumCRC32C uint8 = 1

// Error codes carried by error frames.
const (
	CodeInternal    uint16 = 1  // anything not listed below
	CodeProtocol    uint16 = 2  // the peer broke the protocol
	CodeVersion     uint16 = 3  // no protocol version in common
	CodeExists      uint16 = 4  // destination exists and --overwrite was not given
	CodeNoSpace     uint16 = 5  // the receiver's disk is full
	CodePermission  uint16 = 6  // the receiver may not write there
	CodeChecksum    uint16 = 7  // checksum mismatch
	CodeBadName     uint16 = 8  // the file name is not acceptable
	CodeUnsupported uint16 = 9  // a request the receiver does not support
	CodeSource      uint16 = 10 // the sender could not read its source
	CodeAuth        uint16 = 11 // the handshake failed: wrong code, or a peer in another mode
	CodeConflict    uint16 = 12 // the name is taken by an entry of the other kind
)

// Hello is the first frame from each side.
type Hello struct {
	Version      uint8
	Role         Role
	Capabilities uint32
}

// Offer announces the transfer's totals.
type Offer struct {
	Files uint32
	Bytes uint64 // UnknownSize when not known
}

// File starts one file.
type File struct {
	Index   uint32
	Kind    Kind
	Mode    uint32 // permission bits (0o777 and the sticky/setid bits)
	ModTime int64  // Unix nanoseconds
	Size    uint64 // UnknownSize for a stream
	Name    string // slash-separated relative path
}

// Data is one chunk of file content.
type Data struct {
	Offset uint64
	Codec  Codec
	RawLen uint32
	Body   []byte // aliases the payload it was parsed from
}

// End closes a file with its size and checksum.
type End struct {
	Size      uint64
	Algorithm uint8
	Digest    uint32
}

// Totals is the payload of done and complete frames.
type Totals struct {
	Files uint32
	Bytes uint64
}

// Ack confirms one file.
type Ack struct {
	Index uint32
	Size  uint64
}

// ErrorMsg is the payload of an error frame.
type ErrorMsg struct {
	Code    uint16
	Message string
}

// AppendHello appends h's payload to dst.
func AppendHello(dst []byte, h Hello) []byte {
	dst = append(dst, Magic...)
	dst = append(dst, h.Version, byte(h.Role))
	return binary.BigEndian.AppendUint32(dst, h.Capabilities)
}

// ParseHello decodes a hello payload. Bytes after the known fields are
// ignored so a later version can extend the hello. A hello of another
// version comes back with only its Version set, whatever follows it: the
// rest is laid out as that version says, and the caller answers that the
// versions differ.
func ParseHello(p []byte) (Hello, error) {
	if len(p) < len(Magic) || !bytes.Equal(p[:len(Magic)], []byte(Magic)) {
		return Hello{}, ErrNotFerry
	}
	p = p[len(Magic):]
	if len(p) > 0 && p[0] != Version {
		return Hello{Version: p[0]}, nil
	}
	if len(p) < 6 {
		return Hello{}, fmt.Errorf("%w: hello of %d bytes", ErrMalformed, len(p)+len(Magic))
	}
	h := Hello{Version: p[0], Role: Role(p[1]), Capabilities: binary.BigEndian.Uint32(p[2:])}
	if h.Role != RoleSender && h.Role != RoleReceiver {
		return Hello{}, fmt.Errorf("%w: hello with unknown role %d", ErrMalformed, h.Role)
	}
	return h, nil
}

// ParsePing checks a ping payload, which is empty.
func ParsePing(p []byte) error {
	if len(p) != 0 {
		return fmt.Errorf("%w: ping of %d bytes", ErrMalformed, len(p))
	}
	return nil
}

// AppendOffer appends o's payload to dst.
func AppendOffer(dst []byte, o Offer) []byte {
	dst = binary.BigEndian.AppendUint32(dst, o.Files)
	return binary.BigEndian.AppendUint64(dst, o.Bytes)
}

// ParseOffer decodes an offer payload.
func ParseOffer(p []byte) (Offer, error) {
	if len(p) != 12 {
		return Offer{}, fmt.Errorf("%w: offer of %d bytes, want 12", ErrMalformed, len(p))
	}
	return Offer{Files: binary.BigEndian.Uint32(p), Bytes: binary.BigEndian.Uint64(p[4:])}, nil
}

const fileFixedLen = 4 + 1 + 4 + 8 + 8 + 2

// AppendFile appends f's payload to dst. The caller keeps the name within
// MaxName bytes; a receiver rejects a longer one.
func AppendFile(dst []byte, f File) []byte {
	dst = binary.BigEndian.AppendUint32(dst, f.Index)
	dst = append(dst, byte(f.Kind))
	dst = binary.BigEndian.AppendUint32(dst, f.Mode)
	dst = binary.BigEndian.AppendUint64(dst, uint64(f.ModTime))
	dst = binary.BigEndian.AppendUint64(dst, f.Size)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(f.Name)))
	return append(dst, f.Name...)
}

// ParseFile decodes a file payload. It checks the layout and that the name
// is at most MaxName bytes; whether the name is acceptable (non-empty,
// UTF-8, a safe relative path) is the receiver's decision, so that its
// refusal can name the path.
func ParseFile(p []byte) (File, error) {
	if len(p) < fileFixedLen {
		return File{}, fmt.Errorf("%w: file frame of %d bytes", ErrMalformed, len(p))
	}
	f := File{
		Index:   binary.BigEndian.Uint32(p),
		Kind:    Kind(p[4]),
		Mode:    binary.BigEndian.Uint32(p[5:]),
		ModTime: int64(binary.BigEndian.Uint64(p[9:])),
		Size:    binary.BigEndian.Uint64(p[17:]),
	}
	n := int(binary.BigEndian.Uint16(p[25:]))
	name := p[fileFixedLen:]
	switch {
	case len(name) != n:
		return File{}, fmt.Errorf("%w: file name length %d, frame holds %d", ErrMalformed, n, len(name))
	case n > MaxName:
		return File{}, fmt.Errorf("%w: file name of %d bytes, limit %d", ErrMalformed, n, MaxName)
	}
	f.Name = string(name)
	return f, nil
}

// PutDataHeader writes a data payload's fixed fields into
// payload[:DataHeaderLen]; the body must already be in place after them. It
// lets the sender read file bytes straight into the payload buffer and send
// it without a copy. len(payload) must not exceed MaxPayload.
func PutDataHeader(payload []byte, d Data) {
	binary.BigEndian.PutUint64(payload, d.Offset)
	payload[8] = byte(d.Codec)
	binary.BigEndian.PutUint32(payload[9:], d.RawLen)
}

// AppendData appends d's payload to dst.
func AppendData(dst []byte, d Data) []byte {
	dst = binary.BigEndian.AppendUint64(dst, d.Offset)
	dst = append(dst, byte(d.Codec))
	dst = binary.BigEndian.AppendUint32(dst, d.RawLen)
	return append(dst, d.Body...)
}

// ParseData decodes a data payload. It checks that the raw length is within
// MaxChunk and, for uncompressed data, equals the body's length.
func ParseData(p []byte) (Data, error) {
	if len(p) < DataHeaderLen {
		return Data{}, fmt.Errorf("%w: data frame of %d bytes", ErrMalformed, len(p))
	}
	d := Data{
		Offset: binary.BigEndian.Uint64(p),
		Codec:  Codec(p[8]),
		RawLen: binary.BigEndian.Uint32(p[9:]),
		Body:   p[DataHeaderLen:],
	}
	switch {
	case d.RawLen > MaxChunk:
		return Data{}, fmt.Errorf("%w: data frame declares %d bytes, limit %d", ErrMalformed, d.RawLen, MaxChunk)
	case d.Codec > CodecS2:
		return Data{}, fmt.Errorf("%w: unknown codec %d", ErrMalformed, d.Codec)
	case d.Codec == CodecNone && int(d.RawLen) != len(d.Body):
		return Data{}, fmt.Errorf("%w: uncompressed data frame declares %d bytes, holds %d", ErrMalformed, d.RawLen, len(d.Body))
	}
	return d, nil
}

// AppendEnd appends e's payload to dst.
func AppendEnd(dst []byte, e End) []byte {
	dst = binary.BigEndian.AppendUint64(dst, e.Size)
	dst = append(dst, e.Algorithm)
	return binary.BigEndian.AppendUint32(dst, e.Digest)
}

// ParseEnd decodes an end payload.
func ParseEnd(p []byte) (End, error) {
	if len(p) != 13 {
		return End{}, fmt.Errorf("%w: end frame of %d bytes, want 13", ErrMalformed, len(p))
	}
	e := End{Size: binary.BigEndian.Uint64(p), Algorithm: p[8], Digest: binary.BigEndian.Uint32(p[9:])}
	if e.Algorithm != ChecksumCRC32C {
		return End{}, fmt.Errorf("%w: unknown checksum algorithm %d", ErrMalformed, e.Algorithm)
	}
	return e, nil
}

// AppendTotals appends t's payload (a done or complete frame) to dst.
func AppendTotals(dst []byte, t Totals) []byte {
	dst = binary.BigEndian.AppendUint32(dst, t.Files)
	return binary.BigEndian.AppendUint64(dst, t.Bytes)
}

// ParseTotals decodes a done or complete payload.
func ParseTotals(p []byte) (Totals, error) {
	if len(p) != 12 {
		return Totals{}, fmt.Errorf("%w: totals of %d bytes, want 12", ErrMalformed, len(p))
	}
	return Totals{Files: binary.BigEndian.Uint32(p), Bytes: binary.BigEndian.Uint64(p[4:])}, nil
}

// AppendAck appends a's payload to dst.
func AppendAck(dst []byte, a Ack) []byte {
	dst = binary.BigEndian.AppendUint32(dst, a.Index)
	return binary.BigEndian.AppendUint64(dst, a.Size)
}

// ParseAck decodes an ack payload.
func ParseAck(p []byte) (Ack, error) {
	if len(p) != 12 {
		return Ack{}, fmt.Errorf("%w: ack of %d bytes, want 12", ErrMalformed, len(p))
	}
	return Ack{Index: binary.BigEndian.Uint32(p), Size: binary.BigEndian.Uint64(p[4:])}, nil
}

// AppendError appends e's payload to dst, cutting the message to MaxMessage
// bytes at a rune boundary.
func AppendError(dst []byte, e ErrorMsg) []byte {
	dst = binary.BigEndian.AppendUint16(dst, e.Code)
	return append(dst, TruncateUTF8(e.Message, MaxMessage)...)
}

// ParseError decodes an error payload.
func ParseError(p []byte) (ErrorMsg, error) {
	if len(p) < 2 {
		return ErrorMsg{}, fmt.Errorf("%w: error frame of %d bytes", ErrMalformed, len(p))
	}
	msg, err := parseText(p[2:])
	if err != nil {
		return ErrorMsg{}, err
	}
	return ErrorMsg{Code: binary.BigEndian.Uint16(p), Message: msg}, nil
}

// AppendAbort appends an abort payload carrying reason to dst.
func AppendAbort(dst []byte, reason string) []byte {
	return append(dst, TruncateUTF8(reason, MaxMessage)...)
}

// ParseAbort decodes an abort payload into its reason.
func ParseAbort(p []byte) (string, error) {
	return parseText(p)
}

func parseText(p []byte) (string, error) {
	if len(p) > MaxMessage {
		return "", fmt.Errorf("%w: message of %d bytes, limit %d", ErrMalformed, len(p), MaxMessage)
	}
	if !utf8.Valid(p) {
		return "", fmt.Errorf("%w: message is not UTF-8", ErrMalformed)
	}
	return string(p), nil
}

// TruncateUTF8 cuts s to at most n bytes without splitting a character.
func TruncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// CheckEntry is one regular file in a check frame.
type CheckEntry struct {
	Index   uint32
	Size    uint64
	ModTime int64  // Unix nanoseconds
	Name    string // as the file frame will name it
}

// checkEntryFixedLen is a check entry's size without its name.
const checkEntryFixedLen = 4 + 8 + 8 + 2

// AppendCheck appends the payload of a check frame holding es to dst.
func AppendCheck(dst []byte, es []CheckEntry) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(es)))
	for _, e := range es {
		dst = binary.BigEndian.AppendUint32(dst, e.Index)
		dst = binary.BigEndian.AppendUint64(dst, e.Size)
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.ModTime))
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(e.Name)))
		dst = append(dst, e.Name...)
	}
	return dst
}

// ParseCheck decodes a check payload: 1 to MaxCheck entries, each name at
// most MaxName bytes, nothing after the last.
func ParseCheck(p []byte) ([]CheckEntry, error) {
	if len(p) < 2 {
		return nil, fmt.Errorf("%w: check frame of %d bytes", ErrMalformed, len(p))
	}
	n := int(binary.BigEndian.Uint16(p))
	if n == 0 || n > MaxCheck {
		return nil, fmt.Errorf("%w: check frame of %d entries, want 1 to %d", ErrMalformed, n, MaxCheck)
	}
	es := make([]CheckEntry, n)
	p = p[2:]
	for i := range es {
		if len(p) < checkEntryFixedLen {
			return nil, fmt.Errorf("%w: check entry %d cut short", ErrMalformed, i)
		}
		l := int(binary.BigEndian.Uint16(p[20:]))
		if l > MaxName || len(p)-checkEntryFixedLen < l {
			return nil, fmt.Errorf("%w: check entry %d names %d bytes, limit %d, frame holds %d", ErrMalformed, i, l, MaxName, len(p)-checkEntryFixedLen)
		}
		es[i] = CheckEntry{
			Index:   binary.BigEndian.Uint32(p),
			Size:    binary.BigEndian.Uint64(p[4:]),
			ModTime: int64(binary.BigEndian.Uint64(p[12:])),
			Name:    string(p[checkEntryFixedLen : checkEntryFixedLen+l]),
		}
		p = p[checkEntryFixedLen+l:]
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the check frame's last entry", ErrMalformed, len(p))
	}
	return es, nil
}

// HeldState says what a receiver holds of a checked file.
type HeldState uint8

// Held states. A state over HeldRefused is malformed.
const (
	// HeldNone: nothing the sender can use; it sends the file whole.
	HeldNone HeldState = 0
	// HeldPartial: the file's first Length bytes, kept from a transfer
	// that failed; Digest is their SHA-256.
	HeldPartial HeldState = 1
	// HeldReplaced: a file of the same size, which a differing file
	// replaces; Digest is its SHA-256.
	HeldReplaced HeldState = 2
	// HeldKept: a file of the same size, which the receiver keeps if the
	// sender's differs (it replaces no file); Digest is its SHA-256.
	HeldKept HeldState = 3
	// HeldRefused: something the receiver will not replace; Code says
	// what, as an error frame's code does.
	HeldRefused HeldState = 4
)

// Held is one entry of a holds frame.
type Held struct {
	Index  uint32
	State  HeldState
	Code   uint16 // HeldRefused: an error frame's code; else 0
	Length uint64 // HeldPartial: the bytes held; HeldReplaced, HeldKept: the file's size
	Digest [32]byte
}

// heldLen is the size of one holds entry.
const heldLen = 4 + 1 + 2 + 8 + 32

// HoldsLen is the size of the payload of a holds frame of n entries.
func HoldsLen(n int) int { return 2 + n*heldLen }

// AppendHolds appends the payload of a holds frame holding hs to dst.
func AppendHolds(dst []byte, hs []Held) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(hs)))
	for _, h := range hs {
		dst = binary.BigEndian.AppendUint32(dst, h.Index)
		dst = append(dst, byte(h.State))
		dst = binary.BigEndian.AppendUint16(dst, h.Code)
		dst = binary.BigEndian.AppendUint64(dst, h.Length)
		dst = append(dst, h.Digest[:]...)
	}
	return dst
}

// ParseHolds decodes a holds payload: 1 to MaxCheck entries of known
// states.
func ParseHolds(p []byte) ([]Held, error) {
	if len(p) < 2 {
		return nil, fmt.Errorf("%w: holds frame of %d bytes", ErrMalformed, len(p))
	}
	n := int(binary.BigEndian.Uint16(p))
	if n == 0 || n > MaxCheck || len(p) != HoldsLen(n) {
		return nil, fmt.Errorf("%w: holds frame of %d bytes for %d entries", ErrMalformed, len(p), n)
	}
	hs := make([]Held, n)
	for i := range hs {
		e := p[2+i*heldLen:]
		h := Held{Index: binary.BigEndian.Uint32(e), State: HeldState(e[4]), Code: binary.BigEndian.Uint16(e[5:]), Length: binary.BigEndian.Uint64(e[7:])}
		copy(h.Digest[:], e[15:heldLen])
		if h.State > HeldRefused {
			return nil, fmt.Errorf("%w: holds entry %d in unknown state %d", ErrMalformed, i, h.State)
		}
		hs[i] = h
	}
	return hs, nil
}

// Reasons for a skip frame.
const (
	// SkipHeld: the receiver holds the file as it is.
	SkipHeld uint8 = 1
	// SkipRefused: the receiver refused the file in its holds frame, or
	// keeps a differing one.
	SkipRefused uint8 = 2
)

// Skip is the payload of a skip frame.
type Skip struct {
	Index  uint32
	Reason uint8
}

// AppendSkip appends s's payload to dst.
func AppendSkip(dst []byte, s Skip) []byte {
	dst = binary.BigEndian.AppendUint32(dst, s.Index)
	return append(dst, s.Reason)
}

// ParseSkip decodes a skip payload.
func ParseSkip(p []byte) (Skip, error) {
	if len(p) != 5 {
		return Skip{}, fmt.Errorf("%w: skip frame of %d bytes, want 5", ErrMalformed, len(p))
	}
	s := Skip{Index: binary.BigEndian.Uint32(p), Reason: p[4]}
	if s.Reason != SkipHeld && s.Reason != SkipRefused {
		return Skip{}, fmt.Errorf("%w: skip for unknown reason %d", ErrMalformed, s.Reason)
	}
	return s, nil
}

// Resume is the payload of a resume frame.
type Resume struct {
	Index  uint32
	Offset uint64
}

// AppendResume appends r's payload to dst.
func AppendResume(dst []byte, r Resume) []byte {
	dst = binary.BigEndian.AppendUint32(dst, r.Index)
	return binary.BigEndian.AppendUint64(dst, r.Offset)
}

// ParseResume decodes a resume payload.
func ParseResume(p []byte) (Resume, error) {
	if len(p) != 12 {
		return Resume{}, fmt.Errorf("%w: resume frame of %d bytes, want 12", ErrMalformed, len(p))
	}
	return Resume{Index: binary.BigEndian.Uint32(p), Offset: binary.BigEndian.Uint64(p[4:])}, nil
}

// TokenLen is the size of a join frame's token.
const TokenLen = 16

// Join is the payload of a join frame. N is, by where the frame goes, the
// most streams a receiver takes, the streams a sender opens, or the index
// of the stream a new connection carries; never 0.
type Join struct {
	Token [TokenLen]byte
	N     uint8
}

// AppendJoin appends j's payload to dst.
func AppendJoin(dst []byte, j Join) []byte {
	dst = append(dst, j.Token[:]...)
	return append(dst, j.N)
}

// ParseJoin decodes a join payload.
func ParseJoin(p []byte) (Join, error) {
	if len(p) != TokenLen+1 {
		return Join{}, fmt.Errorf("%w: join frame of %d bytes, want %d", ErrMalformed, len(p), TokenLen+1)
	}
	j := Join{N: p[TokenLen]}
	copy(j.Token[:], p)
	if j.N == 0 {
		return Join{}, fmt.Errorf("%w: join frame with a count or index of 0", ErrMalformed)
	}
	return j, nil
}
