//go:build linux

// Command treefloor is the least a Go sender and receiver can do that keeps
// ferry's promise for a tree of files: each file checksummed end to end
// (CRC-32C, as ferry's end frame carries), written under a temporary name in
// its own directory with its mode and time, synced, then renamed into place
// (refusing to replace a file), the names synced, and only then one ack to
// the sender, which exits 0 on it. It is bench/specfloor.c's receiver and
// tar's sender in Go, with the checksum and the ack the promise needs, and
// nothing of ferry's own: no count before sending, no handshake, framing of
// one header a file, no per-file acks, no progress. bench/run times it
// beside ferry and specfloor in its small section, so that what the Go
// runtime costs shows apart from what ferry's design does.
//
// Usage:
//
//	treefloor recv ADDR DIR    listen on ADDR, take one sender, write its tree into DIR
//	treefloor send ADDR PATH   send the directory PATH (its last element and all below)
//
// The stream is, for each entry in tree order (names sorted in each
// directory, a directory before what is in it), a kind byte (1 file, 2
// directory), a big-endian uint16 name length and the name (slash-separated,
// relative to the tree's parent), and for a file its mode (uint32), its
// modification time (int64 nanoseconds), its size (uint64), its bytes and
// their CRC-32C (uint32); then a 0 byte. The receiver answers one byte, 'k',
// once every file is in place and durable. As the C floor, the receiver
// keeps each directory it made open to the end, and puts files in place a
// batch of batchFiles at a time on a second goroutine while more arrive.
// It refuses names that would leave DIR and a file whose sum does not
// match, and trusts its sender for the rest: it measures, it protects
// nothing.
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchFiles is how many files the receiver syncs and renames at once, as
// specfloor's BATCH.
const batchFiles = 1000

// Entry kinds on the wire.
const (
	kindEnd  = 0
	kindFile = 1
	kindDir  = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: treefloor recv ADDR DIR | treefloor send ADDR PATH")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "recv":
		var ln net.Listener
		if ln, err = net.Listen("tcp", os.Args[2]); err == nil {
			err = recv(ln, os.Args[3])
		}
	case "send":
		err = send(os.Args[2], os.Args[3])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "treefloor:", err)
		os.Exit(1)
	}
}

// send walks top and streams it to addr, then waits for the ack.
func send(addr, top string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	w := bufio.NewWriterSize(c, 256<<10)
	buf := make([]byte, 1<<20)
	if err := sendDir(w, buf, top, filepath.Base(top)); err != nil {
		return err
	}
	if err := w.WriteByte(kindEnd); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	var ack [1]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil || ack[0] != 'k' {
		return fmt.Errorf("no ack from the receiver: %v", err)
	}
	return nil
}

// sendDir sends the directory at real, named name, and what is in it.
func sendDir(w *bufio.Writer, buf []byte, real, name string) error {
	header(w, kindDir, name)
	dfd, err := unix.Open(real, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", real, err)
	}
	f := os.NewFile(uintptr(dfd), real)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(dfd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("%s/%s: %w", real, n, err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			err = sendDir(w, buf, real+"/"+n, name+"/"+n)
		case unix.S_IFREG:
			err = sendFile(w, buf, dfd, n, name+"/"+n, &st)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// sendFile sends the file base in the directory dfd, named name, which st
// describes.
func sendFile(w *bufio.Writer, buf []byte, dfd int, base, name string, st *unix.Stat_t) error {
	fd, err := unix.Openat(dfd, base, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer unix.Close(fd)
	header(w, kindFile, name)
	var meta [20]byte
	binary.BigEndian.PutUint32(meta[0:], st.Mode&0o7777)
	binary.BigEndian.PutUint64(meta[4:], uint64(st.Mtim.Nano()))
	binary.BigEndian.PutUint64(meta[12:], uint64(st.Size))
	if _, err := w.Write(meta[:]); err != nil {
		return err
	}
	var sum uint32
	for left := st.Size; left > 0; {
		n, err := unix.Read(fd, buf[:min(int64(len(buf)), left)])
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if n == 0 {
			return fmt.Errorf("%s: shorter than its size", name)
		}
		sum = crc32.Update(sum, castagnoli, buf[:n])
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		left -= int64(n)
	}
	_, err = w.Write(binary.BigEndian.AppendUint32(meta[:0], sum))
	return err
}

// header writes an entry's kind and name; a failed write shows at the
// next write that returns its error.
func header(w *bufio.Writer, kind byte, name string) {
	_ = w.WriteByte(kind)
	var l [2]byte
	binary.BigEndian.PutUint16(l[:], uint16(len(name)))
	_, _ = w.Write(l[:])
	_, _ = w.WriteString(name)
}

// pending is a file written under tmp in the directory dir, to be renamed
// to name there.
type pending struct {
	dir       int
	tmp, name string
}

// recv takes one sender from ln, closes ln, and writes the sender's tree
// into dir.
func recv(ln net.Listener, dir string) error {
	c, err := ln.Accept()
	_ = ln.Close()
	if err != nil {
		return err
	}
	defer c.Close()
	root, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	r := bufio.NewReaderSize(c, 1<<20)
	dirs := map[string]int{".": root}
	batches := make(chan []pending, 1)
	placed := make(chan error, 1)
	go func() { placed <- place(root, batches) }()
	ended := false
	defer func() {
		if !ended {
			close(batches)
			<-placed
		}
	}()
	var batch []pending
	buf := make([]byte, 1<<20)
	var hdr [20]byte
	var n int
	for {
		kind, err := r.ReadByte()
		if err != nil {
			return err
		}
		if kind == kindEnd {
			break
		}
		name, err := readName(r)
		if err != nil {
			return err
		}
		if !fs.ValidPath(name) || name == "." {
			return fmt.Errorf("%q: not a relative path inside the tree", name)
		}
		parent, base := path.Split(name)
		pfd, ok := dirs[path.Clean("./"+parent)]
		if !ok {
			return fmt.Errorf("%s: no directory before it", name)
		}
		if kind == kindDir {
			if err := unix.Mkdirat(pfd, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("%s: %w", name, err)
			}
			fd, err := unix.Openat(pfd, base, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			dirs[path.Clean(name)] = fd
			continue
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return err
		}
		mode := binary.BigEndian.Uint32(hdr[0:])
		mtime := int64(binary.BigEndian.Uint64(hdr[4:]))
		size := int64(binary.BigEndian.Uint64(hdr[12:]))
		tmp := ".treefloor-" + strconv.Itoa(n) + ".part"
		n++
		fd, err := unix.Openat(pfd, tmp, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode&0o777)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		var sum uint32
		for left := size; left > 0; {
			part := buf[:min(int64(len(buf)), left)]
			if _, err := io.ReadFull(r, part); err != nil {
				return err
			}
			sum = crc32.Update(sum, castagnoli, part)
			if _, err := unix.Write(fd, part); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			left -= int64(len(part))
		}
		if _, err := io.ReadFull(r, hdr[:4]); err != nil {
			return err
		}
		if binary.BigEndian.Uint32(hdr[:4]) != sum {
			return fmt.Errorf("%s: checksum mismatch", name)
		}
		ts := [2]unix.Timespec{unix.NsecToTimespec(mtime), unix.NsecToTimespec(mtime)}
		if _, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0); errno != 0 {
			return fmt.Errorf("%s: %w", name, errno)
		}
		if err := unix.Close(fd); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		batch = append(batch, pending{dir: pfd, tmp: tmp, name: base})
		if len(batch) == batchFiles {
			batches <- batch
			batch = nil
		}
	}
	if len(batch) > 0 {
		batches <- batch
	}
	close(batches)
	ended = true
	if err := <-placed; err != nil {
		return err
	}
	if err := unix.Syncfs(root); err != nil {
		return err
	}
	_, err = c.Write([]byte{'k'})
	return err
}

// place makes each batch durable and renames its files into place: the
// syncfs before a batch's renames also makes the batch before's names
// durable, and recv syncs once more after the last.
func place(root int, batches <-chan []pending) error {
	var err error
	for b := range batches {
		if err != nil {
			continue
		}
		if err = unix.Syncfs(root); err != nil {
			continue
		}
		for _, p := range b {
			if err = unix.Renameat2(p.dir, p.tmp, p.dir, p.name, unix.RENAME_NOREPLACE); err != nil {
				err = fmt.Errorf("%s: %w", p.name, err)
				break
			}
		}
	}
	return err
}

func readName(r *bufio.Reader) (string, error) {
	var l [2]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return "", err
	}
	b := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return string(b), nil
}
