//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestRoundTrip sends a tree of nested directories, an empty file, one of
// two batches' worth of files and one bigger than a read, and wants each
// file back with its bytes, mode and time, and no temporary name left.
func TestRoundTrip(t *testing.T) {
	src := filepath.Join(t.TempDir(), "tree")
	mtime := time.Date(2024, 3, 1, 12, 0, 0, 123456789, time.UTC)
	files := map[string][]byte{
		"empty":         nil,
		"a/big":         bytes.Repeat([]byte("0123456789abcdef"), 1<<17+3),
		"a/b/c/deep":    []byte("deep"),
		"run.sh":        []byte("#!/bin/sh\n"),
		"many/f0000":    []byte("x"),
		"z/last-of-all": []byte("last"),
	}
	for i := range batchFiles + 5 {
		files[fmt.Sprintf("many/g%04d", i)] = []byte(strconv.Itoa(i))
	}
	for name, data := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if name == "run.sh" {
			mode = 0o750
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	dst := t.TempDir()
	ln := listen(t)
	sent := make(chan error, 1)
	go func() { sent <- send(ln.Addr().String(), src) }()
	if err := recv(ln, dst); err != nil {
		t.Fatalf("recv: %v", err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("send: %v", err)
	}
	for name, data := range files {
		p := filepath.Join(dst, "tree", name)
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("%s: %d bytes that differ from the %d sent", name, len(got), len(data))
		}
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o644)
		if name == "run.sh" {
			want = 0o750
		}
		if info.Mode().Perm() != want&^umask() || !info.ModTime().Equal(mtime) {
			t.Errorf("%s: mode %v, time %v; want %v, %v", name, info.Mode().Perm(), info.ModTime(), want&^umask(), mtime)
		}
	}
	if err := filepath.WalkDir(dst, func(p string, _ os.DirEntry, err error) error {
		if strings.HasSuffix(p, ".part") {
			t.Errorf("left behind: %s", p)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// TestRecvRefuses feeds the receiver streams it must refuse, and wants no
// file under the name of one refused.
func TestRecvRefuses(t *testing.T) {
	entry := func(kind byte, name string) []byte {
		b := append([]byte{kind}, binary.BigEndian.AppendUint16(nil, uint16(len(name)))...)
		return append(b, name...)
	}
	file := func(name string, data []byte, sum uint32) []byte {
		b := entry(kindFile, name)
		b = binary.BigEndian.AppendUint32(b, 0o644)
		b = binary.BigEndian.AppendUint64(b, 0)
		b = binary.BigEndian.AppendUint64(b, uint64(len(data)))
		b = append(b, data...)
		return binary.BigEndian.AppendUint32(b, sum)
	}
	good := crc32.Checksum([]byte("abc"), castagnoli)
	top := entry(kindDir, "t")
	for _, tc := range []struct {
		name   string
		stream []byte
		want   string
	}{
		{"wrong sum", append(top, file("t/f", []byte("abc"), good+1)...), "checksum mismatch"},
		{"a name out of the tree", append(top, file("t/../../f", []byte("abc"), good)...), "not a relative path"},
		{"an absolute name", append(top, file("/tmp/f", []byte("abc"), good)...), "not a relative path"},
		{"no directory before it", file("u/f", []byte("abc"), good), "no directory before it"},
		{"cut short", append(top, file("t/f", []byte("abc"), good)[:12]...), "EOF"},
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
			dst := t.TempDir()
			err := recv(ln, dst)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("recv = %v, want an error with %q", err, tc.want)
			}
			if _, err := os.Lstat(filepath.Join(dst, "t", "f")); err == nil {
				t.Errorf("t/f is there after recv refused it")
			}
		})
	}
}

// umask is the process's umask, which the receiver's modes go through.
func umask() os.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return os.FileMode(m)
}
