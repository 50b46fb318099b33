package secure

// CPace with the CPACE-RISTR255-SHA512 cipher suite, as specified by
// draft-irtf-cfrg-cpace-21 (sections 6 to 8.3 and appendix A). Names follow
// the draft's so the two read side by side. The draft's test vectors for this
// suite are in testdata/ and cpace_test.go checks every intermediate value.

import (
	"crypto/sha512"
	"crypto/subtle"
	"io"

	"github.com/gtank/ristretto255"
)

const (
	// dsi is G_Ristretto255.DSI, the group's domain separation identifier.
	dsi = "CPaceRistretto255"
	// sInBytes is H.s_in_bytes, SHA-512's input block size: the generator
	// string's zero padding fills the first block so that hashing a short
	// password takes the same time whatever its length.
	sInBytes = sha512.BlockSize
	// elementLen is the length of an encoded ristretto255 element.
	elementLen = 32
)

// identity is G.I, the encoding of the group's neutral element.
var identity [elementLen]byte

// prependLen appends data to dst after its length in LEB128.
func prependLen(dst, data []byte) []byte {
	n := len(data)
	for n >= 0x80 {
		dst = append(dst, byte(n)|0x80)
		n >>= 7
	}
	dst = append(dst, byte(n))
	return append(dst, data...)
}

// lvCat appends the draft's length-value encoding of args to dst: each one
// after its length, so that no two lists of strings encode alike.
func lvCat(dst []byte, args ...[]byte) []byte {
	for _, a := range args {
		dst = prependLen(dst, a)
	}
	return dst
}

// generatorString is generator_string(G.DSI, PRS, CI, sid, H.s_in_bytes).
func generatorString(prs, ci, sid []byte) []byte {
	zpad := max(0, sInBytes-1-len(prependLen(nil, prs))-len(prependLen(nil, []byte(dsi))))
	return lvCat(nil, []byte(dsi), prs, make([]byte, zpad), ci, sid)
}

// calculateGenerator is G.calculate_generator(H, PRS, CI, sid): the generator
// string hashed to 64 bytes and mapped into the group by ristretto255's
// one-way element derivation, so that nobody knows the discrete logarithm of
// the generator with respect to any other.
func calculateGenerator(prs, ci, sid []byte) *ristretto255.Element {
	h := sha512.Sum512(generatorString(prs, ci, sid))
	return ristretto255.NewElement().FromUniformBytes(h[:])
}

// sampleScalar is G.sample_scalar() as the draft recommends it: 32 random
// bytes with the bits above the group's 252 cleared, read as a little-endian
// integer. Every such value is below the group order, so no rejection loop
// is needed.
func sampleScalar(rand io.Reader) (*ristretto255.Scalar, error) {
	var b [64]byte
	if _, err := io.ReadFull(rand, b[:32]); err != nil {
		return nil, err
	}
	b[31] &= 0x0f
	// FromUniformBytes reduces a 64-byte little-endian integer modulo the
	// group order; zero-extended, a value below the order stays as it is.
	return ristretto255.NewScalar().FromUniformBytes(b[:]), nil
}

// scalarMult is G.scalar_mult(y, g): the encoding of y·g.
func scalarMult(y *ristretto255.Scalar, g *ristretto255.Element) []byte {
	return ristretto255.NewElement().ScalarMult(y, g).Encode(nil)
}

// scalarMultVfy is G.scalar_mult_vfy(y, X): the encoding of y·X, or G.I if X
// is not the canonical encoding of an element.
func scalarMultVfy(y *ristretto255.Scalar, x []byte) []byte {
	e := ristretto255.NewElement()
	if err := e.Decode(x); err != nil {
		return identity[:]
	}
	return e.ScalarMult(y, e).Encode(nil)
}

// isIdentity reports whether k is G.I, on which a party MUST abort: it means
// the peer's element was invalid or the identity, chosen to force a key.
func isIdentity(k []byte) bool {
	return subtle.ConstantTimeCompare(k, identity[:]) == 1
}

// transcriptIR is transcript_ir(Ya, ADa, Yb, ADb), the transcript of the
// initiator-responder setting: the initiator's message first.
func transcriptIR(ya, ada, yb, adb []byte) []byte {
	return lvCat(lvCat(nil, ya, ada), yb, adb)
}

// iskInput is what the ISK hashes: lv_cat(G.DSI || "_ISK", sid, K) followed
// by the transcript.
func iskInput(sid, k, transcript []byte) []byte {
	return append(lvCat(nil, []byte(dsi+"_ISK"), sid, k), transcript...)
}

// intermediateKey is CPace's output, ISK = H.hash(iskInput).
func intermediateKey(sid, k, transcript []byte) [sha512.Size]byte {
	return sha512.Sum512(iskInput(sid, k, transcript))
}
