package secure

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/gtank/ristretto255"
)

// hexBytes is a byte string written as hex in the vectors file.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

// cpaceVectors is testdata/cpace-ristretto255-sha512.json: the test vectors
// of draft-irtf-cfrg-cpace-21, appendix B.3 (CPACE-RISTR255-SHA512), and of
// its string functions, appendices A.1.2, A.1.4 and A.3.5.
type cpaceVectors struct {
	PrependLen []struct {
		Input  hexBytes `json:"input"`
		Output hexBytes `json:"output"`
	} `json:"prepend_len"`
	LvCat struct {
		Inputs []hexBytes `json:"inputs"`
		Output hexBytes   `json:"output"`
	} `json:"lv_cat"`
	TranscriptIR []struct {
		Ya, ADa, Yb, ADb hexBytes
		Output           hexBytes `json:"output"`
	} `json:"transcript_ir"`

	PRS, CI    hexBytes
	Sid        hexBytes `json:"sid"`
	ZPADLength int      `json:"ZPAD_length"`
	GenString  hexBytes `json:"generator_string"`
	GenHash    hexBytes `json:"generator_hash"`
	G          hexBytes `json:"g"`
	ADa, ADb   hexBytes
	Ya, Yb     hexBytes
	YaScalar   hexBytes `json:"ya"`
	YbScalar   hexBytes `json:"yb"`
	K          hexBytes
	Transcript hexBytes `json:"transcript_ir_YaADaYbADb"`
	DSIISK     hexBytes `json:"DSI_ISK"`
	ISKInput   hexBytes `json:"ISK_input_ir"`
	ISK        hexBytes `json:"ISK_IR"`

	Valid struct {
		S, X   hexBytes
		Result hexBytes `json:"result"`
	} `json:"scalar_mult_valid"`
	Invalid struct {
		S   hexBytes `json:"s"`
		YI1 hexBytes `json:"Y_i1"`
		YI2 hexBytes `json:"Y_i2"`
	} `json:"scalar_mult_vfy_invalid"`
}

func loadVectors(t *testing.T) cpaceVectors {
	t.Helper()
	b, err := os.ReadFile("testdata/cpace-ristretto255-sha512.json")
	if err != nil {
		t.Fatal(err)
	}
	var v cpaceVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func checkBytes(t *testing.T, name string, got, want []byte) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: the vectors file has no value", name)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %x\nwant %x", name, got, want)
	}
}

func TestCPaceStringFunctions(t *testing.T) {
	v := loadVectors(t)
	if len(v.PrependLen) != 4 || len(v.TranscriptIR) != 2 {
		t.Fatalf("vectors file incomplete: %d prepend_len, %d transcript_ir", len(v.PrependLen), len(v.TranscriptIR))
	}
	for _, c := range v.PrependLen {
		checkBytes(t, "prepend_len", prependLen(nil, c.Input), c.Output)
	}
	args := make([][]byte, len(v.LvCat.Inputs))
	for i, a := range v.LvCat.Inputs {
		args[i] = a
	}
	checkBytes(t, "lv_cat", lvCat(nil, args...), v.LvCat.Output)
	for _, c := range v.TranscriptIR {
		checkBytes(t, "transcript_ir", transcriptIR(c.Ya, c.ADa, c.Yb, c.ADb), c.Output)
	}
}

func TestCPaceVectors(t *testing.T) {
	v := loadVectors(t)

	gs := generatorString(v.PRS, v.CI, v.Sid)
	checkBytes(t, "generator_string", gs, v.GenString)
	// The zero padding sits after lv(DSI) and lv(PRS), behind its own length byte.
	if zpad := int(gs[len(prependLen(nil, []byte(dsi)))+len(prependLen(nil, v.PRS))]); zpad != v.ZPADLength {
		t.Errorf("ZPAD length %d, want %d", zpad, v.ZPADLength)
	}
	h := sha512.Sum512(gs)
	checkBytes(t, "generator string hash", h[:], v.GenHash)
	g := calculateGenerator(v.PRS, v.CI, v.Sid)
	checkBytes(t, "g", g.Encode(nil), v.G)

	// The scalars go through sampleScalar as the random bytes it draws,
	// which must leave them as they are (their top four bits are clear).
	ya, err := sampleScalar(bytes.NewReader(v.YaScalar))
	if err != nil {
		t.Fatal(err)
	}
	checkBytes(t, "ya", ya.Encode(nil), v.YaScalar)
	yb, err := sampleScalar(bytes.NewReader(v.YbScalar))
	if err != nil {
		t.Fatal(err)
	}
	checkBytes(t, "yb", yb.Encode(nil), v.YbScalar)

	checkBytes(t, "Ya", scalarMult(ya, g), v.Ya)
	checkBytes(t, "Yb", scalarMult(yb, g), v.Yb)
	ka := scalarMultVfy(ya, v.Yb)
	kb := scalarMultVfy(yb, v.Ya)
	checkBytes(t, "K = scalar_mult_vfy(ya, Yb)", ka, v.K)
	checkBytes(t, "K = scalar_mult_vfy(yb, Ya)", kb, v.K)
	if isIdentity(ka) {
		t.Error("K reported as the identity")
	}

	tr := transcriptIR(v.Ya, v.ADa, v.Yb, v.ADb)
	checkBytes(t, "transcript_ir", tr, v.Transcript)
	checkBytes(t, "G.DSI_ISK", []byte(dsi+"_ISK"), v.DSIISK)
	checkBytes(t, "lv_cat(DSI, sid, K) || transcript_ir", iskInput(v.Sid, v.K, tr), v.ISKInput)
	isk := intermediateKey(v.Sid, ka, tr)
	checkBytes(t, "ISK (initiator-responder)", isk[:], v.ISK)
}

func TestCPaceScalarMultVectors(t *testing.T) {
	v := loadVectors(t)
	s := ristretto255.NewScalar()
	if err := s.Decode(v.Valid.S); err != nil {
		t.Fatal(err)
	}
	x := ristretto255.NewElement()
	if err := x.Decode(v.Valid.X); err != nil {
		t.Fatal(err)
	}
	checkBytes(t, "scalar_mult(s, decode(X))", scalarMult(s, x), v.Valid.Result)
	checkBytes(t, "scalar_mult_vfy(s, X)", scalarMultVfy(s, v.Valid.X), v.Valid.Result)

	// B.3.11: a string that does not decode and the identity's encoding
	// both give G.I, on which the protocol aborts.
	if err := s.Decode(v.Invalid.S); err != nil {
		t.Fatal(err)
	}
	for name, y := range map[string][]byte{"Y_i1": v.Invalid.YI1, "Y_i2": v.Invalid.YI2} {
		if len(y) != elementLen {
			t.Fatalf("%s: %d bytes in the vectors file", name, len(y))
		}
		if k := scalarMultVfy(s, y); !isIdentity(k) {
			t.Errorf("scalar_mult_vfy(s, %s) = %x, want G.I", name, k)
		}
	}
}

func TestSampleScalarClearsHighBits(t *testing.T) {
	s, err := sampleScalar(bytes.NewReader(bytes.Repeat([]byte{0xff}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	want := append(bytes.Repeat([]byte{0xff}, 31), 0x0f)
	checkBytes(t, "scalar from all ones", s.Encode(nil), want)
	if _, err := sampleScalar(bytes.NewReader(make([]byte, 31))); err == nil {
		t.Error("sampleScalar succeeded on 31 random bytes")
	}
}
