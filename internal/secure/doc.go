// Package secure is ferry's encrypted mode: a password-authenticated key
// exchange run over the connection right after the plain hellos, explicit key
// confirmation, and authenticated encryption of every frame after that.
//
// # Codes
//
// The receiver's user gets a short one-time code (NewCode, 15 digits like
// "48210-93755-62184") and passes it to the sender's user by voice or chat.
// Both sides normalize it (NormalizeCode) and use it as the password of the
// key exchange. A code needs no more than its 49.8 bits because it is never
// exposed to offline guessing:
// each connection lets an attacker in the middle test exactly one guess, and
// a wrong guess ends the transfer with "authentication failed" on both sides.
//
// # Handshake
//
// The key exchange is CPace (draft-irtf-cfrg-cpace) with the
// CPACE-RISTR255-SHA512 suite: ristretto255 as the group, SHA-512 as the
// hash, in the initiator-responder setting because ferry's two sides have
// fixed roles (the sender initiates). CPace needs one message each way and
// lets neither side test more than one password per run. Its output, ISK, is
// fed to HKDF-SHA-256 with a hash of every handshake message (both hellos and
// both CPace messages) as salt, so a man in the middle who altered a hello (to
// downgrade capabilities, say) makes the keys differ. The receiver then sends
// an HMAC over that hash; the sender checks it before it sends its own, so
// with a wrong code it is the sender that notices, tells the receiver with
// one plain error frame, and never gets a Session. The receiver checks the
// sender's HMAC before it accepts any other frame. Handshake implements both
// sides; PROTOCOL.md has the frame layouts.
//
// # Sealing
//
// Every frame after the handshake is sealed like a chunk of age's STREAM
// construction: one AEAD key per direction, and a 12-byte nonce made of an
// 11-byte big-endian frame counter and a last-frame flag. The counter makes a
// dropped, replayed or reordered frame fail to open; the flag, set on the
// last frame a side sends, makes a stream cut short detectable, because the
// reader knows at end of stream whether the last frame arrived (Session.AtEOF).
// Writer and Reader wrap a frame stream in this, as age's stream wraps an
// io.Writer and an io.Reader: the connection seals and opens through them.
// The cipher is AES-256-GCM when both machines have AES instructions, and
// ChaCha20-Poly1305 otherwise, which is faster than AES without them and
// constant time in software.
//
// The frame's type byte stays in the clear, in the ordinary frame header, and
// is the AEAD's associated data, so changing it makes the frame fail to open.
// Hiding it would buy little: the kinds and sizes of frames show anyway in the
// traffic's pattern (data frames are the big ones, all the others are small),
// while what matters, file names, sizes, modes and contents, is sealed.
// Keeping it in the header keeps the reader unchanged: it still checks the
// length before reading a payload and still sees which frame it holds.
//
// What an observer learns: that ferry runs, the hellos (version, role,
// capabilities), the handshake's public values, and the type and length of
// every frame, hence roughly how many files and bytes go across.
package secure
