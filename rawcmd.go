package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"github.com/ferrytool/ferry/transfer"
)

// recvRaw is recv --raw: the bytes of one connection, with no framing, as
// netcat sends them, into FILE or to stdout. A FILE is written the way a
// framed transfer's file is: under a temporary name, synced, then moved
// into place, never over an existing file without --overwrite.
func recvRaw(ctx context.Context, c *common, listen string, overwrite bool, pos []string, stdout io.Writer, out *output) error {
	dest := "-"
	if len(pos) == 1 {
		dest = pos[0]
	}
	var w io.Writer = stdout
	var commit func() error
	if dest != "-" {
		dir, base := filepath.Split(dest)
		if info, err := os.Stat(dest); base == "" || base == "." || base == ".." || err == nil && info.IsDir() {
			return usagef("recv --raw takes a FILE to write, or -, not the directory %s", dest)
		}
		if dir == "" {
			dir = "."
		}
		d, err := transfer.OpenDir(dir, transfer.DirOptions{Overwrite: overwrite})
		if err != nil {
			return err
		}
		defer d.Close()
		f, err := d.CreateFile(base)
		if err != nil {
			return err
		}
		defer f.Close()
		w, commit = f, f.Commit
	}

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return listenError(listen, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	defer ln.Close()
	addr := ln.Addr().(*net.TCPAddr)
	out.listening(addr, dest, "--raw", "FILE", false)
	if !out.json {
		out.say("or with netcat: nc -N %s %d < FILE", reachableHosts(addr)[0], addr.Port)
	}
	conn, err := ln.Accept()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("accepting a connection: %w", err)
	}
	out.connected("connection from", conn.RemoteAddr())
	rcv := transfer.Receiver{Timeout: c.timeout}
	s, err := rcv.ReceiveRaw(ctx, conn, w, commit)
	if err != nil {
		return err
	}
	out.summary("received", s, nil)
	return nil
}

// sendRaw is send --raw: the bytes of path, or of stdin for "-", with no
// framing, to addr (from dialAddr), then a half-close, as nc -N does.
func sendRaw(ctx context.Context, c *common, addr, path string, stdin io.Reader, out *output) error {
	r := stdin
	if path != "-" {
		// Collect checks the path as a framed send does. Stat first, so
		// a directory is refused without walking it.
		var sources []transfer.Source
		if info, err := os.Stat(path); err != nil || !info.IsDir() {
			if sources, err = transfer.Collect(ctx, []string{path}, func(string, string) {}); err != nil {
				return err
			}
		}
		if len(sources) != 1 || sources[0].Open == nil {
			return fmt.Errorf("cannot send %s: a directory; --raw sends one file (use tar c %s | ferry send --raw HOST -)", path, path)
		}
		f, err := sources[0].Open()
		if err != nil {
			return fmt.Errorf("cannot send %s: %w", path, err)
		}
		defer f.Close()
		r = f
	}
	conn, err := dial(ctx, addr, c, out)
	if err != nil {
		return err
	}
	snd := transfer.Sender{Timeout: c.timeout}
	s, err := snd.SendRaw(ctx, conn, r)
	if err != nil {
		return err
	}
	out.summary("sent", s, nil)
	return nil
}
