// Command netfloor is the least a sender and a receiver can do that keeps
// ferry's promise for bytes on the network path: every byte checksummed end
// to end (CRC-32C, as ferry's end frame carries), and with -seal every
// chunk sealed and opened with the AEAD ferry's handshake picks between two
// machines like this one (secure.LocalAEAD).
// It has no handshake, no goroutines, no compression, no acks and no
// progress, so it shows what the checksum and the cipher cost the machine
// with nothing of ferry's own on top, the way bench/specfloor.c does for a
// tree of files. bench/run times it beside ferry in its net and cpu
// sections.
//
// Usage:
//
//	netfloor recv [-seal] ADDR         listen on ADDR, take one sender, write its bytes to stdout
//	netfloor send [-seal] ADDR FILE    send FILE to ADDR
//
// The stream is chunks of chunkSize bytes read from FILE, each sent as a
// big-endian uint32 length and the chunk (sealed: 16 bytes longer), then a
// zero length and the CRC-32C of all the bytes. The receiver exits 1 if
// the sum or a seal does not match. The key is fixed: this measures, it
// protects nothing.
package main

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"

	"github.com/ferrytool/ferry/internal/secure"
)

// chunkSize is ferry's chunk (transfer.chunkSize): what one read takes
// from the file and one frame carries.
const chunkSize = 256 << 10

// tagLen is the AEAD's tag, which sealing appends to a chunk.
const tagLen = 16

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "netfloor: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet("netfloor "+os.Args[1], flag.ExitOnError)
	seal := fs.Bool("seal", false, "seal each chunk as ferry's encrypted mode does")
	_ = fs.Parse(os.Args[2:])
	var aead cipher.AEAD
	if *seal {
		var err error
		if aead, _, err = secure.LocalAEAD(make([]byte, 32)); err != nil {
			return err
		}
	}
	switch {
	case os.Args[1] == "recv" && fs.NArg() == 1:
		ln, err := net.Listen("tcp", fs.Arg(0))
		if err != nil {
			return err
		}
		return recv(ln, os.Stdout, aead)
	case os.Args[1] == "send" && fs.NArg() == 2:
		return send(fs.Arg(0), fs.Arg(1), aead)
	}
	usage()
	return nil
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: netfloor recv [-seal] ADDR > OUT\n       netfloor send [-seal] ADDR FILE")
	os.Exit(2)
}

// nonce returns the nonce of chunk n.
func nonce(buf []byte, n uint64) []byte {
	clear(buf)
	binary.BigEndian.PutUint64(buf[len(buf)-8:], n)
	return buf
}

// send sends the file name to the receiver at addr.
func send(addr, name string, aead cipher.AEAD) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 4+chunkSize+tagLen)
	nb := make([]byte, 12)
	var sum uint32
	for n := uint64(0); ; n++ {
		k, rerr := io.ReadFull(f, buf[4:4+chunkSize])
		if k > 0 {
			chunk := buf[4 : 4+k]
			sum = crc32.Update(sum, castagnoli, chunk)
			if aead != nil {
				chunk = aead.Seal(chunk[:0], nonce(nb, n), chunk, nil)
			}
			binary.BigEndian.PutUint32(buf, uint32(len(chunk)))
			if _, err := c.Write(buf[:4+len(chunk)]); err != nil {
				return err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	var end [8]byte
	binary.BigEndian.PutUint32(end[4:], sum)
	_, err = c.Write(end[:])
	return err
}

// recv takes one sender from ln, which it closes, and writes the bytes
// that sender sends to out.
func recv(ln net.Listener, out io.Writer, aead cipher.AEAD) error {
	c, err := ln.Accept()
	ln.Close()
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, chunkSize+tagLen)
	nb := make([]byte, 12)
	var sum uint32
	for n := uint64(0); ; n++ {
		if _, err := io.ReadFull(c, buf[:4]); err != nil {
			return fmt.Errorf("reading a length: %w", err)
		}
		l := binary.BigEndian.Uint32(buf)
		if l == 0 {
			break
		}
		if l > uint32(len(buf)) {
			return fmt.Errorf("chunk of %d bytes, more than %d", l, len(buf))
		}
		chunk := buf[:l]
		if _, err := io.ReadFull(c, chunk); err != nil {
			return fmt.Errorf("reading a chunk: %w", err)
		}
		if aead != nil {
			if chunk, err = aead.Open(chunk[:0], nonce(nb, n), chunk, nil); err != nil {
				return fmt.Errorf("chunk %d: %w", n, err)
			}
		}
		sum = crc32.Update(sum, castagnoli, chunk)
		if _, err := out.Write(chunk); err != nil {
			return err
		}
	}
	if _, err := io.ReadFull(c, buf[:4]); err != nil {
		return fmt.Errorf("reading the sum: %w", err)
	}
	if got := binary.BigEndian.Uint32(buf); got != sum {
		return errors.New("the sum does not match")
	}
	return nil
}
