package main

import (
	"bytes"
	"crypto/cipher"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferrytool/ferry/internal/secure"
)

func localAEAD(t *testing.T) cipher.AEAD {
	t.Helper()
	a, _, err := secure.LocalAEAD(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestRoundTrip sends files that end inside a chunk, on one and with none,
// plain and sealed, and wants them back as they were.
func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		aead cipher.AEAD
	}{
		{"empty", 0, nil},
		{"one chunk and a bit", chunkSize + 7, nil},
		{"two chunks exactly", 2 * chunkSize, nil},
		{"sealed, one chunk and a bit", chunkSize + 7, localAEAD(t)},
		{"sealed, empty", 0, localAEAD(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := make([]byte, tc.size)
			for i := range data {
				data[i] = byte(i * 7)
			}
			name := filepath.Join(t.TempDir(), "src")
			if err := os.WriteFile(name, data, 0o644); err != nil {
				t.Fatal(err)
			}
			ln := listen(t)
			sent := make(chan error, 1)
			go func() { sent <- send(ln.Addr().String(), name, tc.aead) }()
			var got bytes.Buffer
			if err := recv(ln, &got, tc.aead); err != nil {
				t.Fatalf("recv: %v", err)
			}
			if err := <-sent; err != nil {
				t.Fatalf("send: %v", err)
			}
			if !bytes.Equal(got.Bytes(), data) {
				t.Errorf("received %d bytes that differ from the %d sent", got.Len(), len(data))
			}
		})
	}
}

// TestRecvRefuses feeds the receiver streams it must refuse.
func TestRecvRefuses(t *testing.T) {
	frame := func(payload []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
	}
	end := func(sum uint32) []byte { return binary.BigEndian.AppendUint32(frame(nil), sum) }
	for _, tc := range []struct {
		name   string
		stream []byte
		aead   cipher.AEAD
		want   string
	}{
		{"wrong sum", append(frame([]byte("abc")), end(1)...), nil, "the sum does not match"},
		{"chunk too long", binary.BigEndian.AppendUint32(nil, chunkSize+tagLen+1), nil, "more than"},
		{"cut short", frame([]byte("abc"))[:5], nil, "reading a chunk"},
		{"no end", frame([]byte("abc")), nil, "reading a length"},
		{"not sealed", append(frame(make([]byte, 20)), end(0)...), localAEAD(t), "chunk 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := listen(t)
			go func() {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					return
				}
				defer c.Close()
				_, _ = c.Write(tc.stream)
			}()
			err := recv(ln, &bytes.Buffer{}, tc.aead)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("recv = %v, want an error with %q", err, tc.want)
			}
		})
	}
}
