package transfer_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/ferrytool/ferry/transfer"
)

// Example moves a small tree from one directory to another over a
// loopback connection, encrypted with a fresh code, as ferry send and
// ferry recv do between two machines.
func Example() {
	ctx := context.Background()
	src, err := os.MkdirTemp("", "ferry-example-src")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(src)
	dst, err := os.MkdirTemp("", "ferry-example-dst")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dst)
	if err := os.MkdirAll(filepath.Join(src, "notes", "2024"), 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "notes", "2024", "todo.txt"), []byte("ship it\n"), 0o644); err != nil {
		log.Fatal(err)
	}

	code := transfer.NewCode()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	dir, err := transfer.OpenDir(dst, transfer.DirOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer dir.Close()
	receiver := transfer.Receiver{Code: code}
	received := make(chan transfer.Summary, 1)
	served := make(chan error, 1)
	go func() {
		// Without KeepOpen, Serve returns after one transfer.
		served <- receiver.Serve(ctx, ln, dir, transfer.ServeOptions{
			Finished: func(_ net.Addr, s transfer.Summary, _ error) { received <- s },
		})
	}()

	sources, err := transfer.Collect(ctx, []string{filepath.Join(src, "notes")}, func(path, reason string) {
		log.Printf("skipping %s: %s", path, reason)
	})
	if err != nil {
		log.Fatal(err)
	}
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	sender := transfer.Sender{Code: code}
	sent, err := sender.Send(ctx, conn, sources...)
	if err != nil {
		log.Fatal(err)
	}
	if err := <-served; err != nil {
		log.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dst, "notes", "2024", "todo.txt"))
	if err != nil {
		log.Fatal(err)
	}
	r := <-received
	fmt.Printf("sent %d file, %d directories; received %d file, %d directories\n", sent.Files, sent.Dirs, r.Files, r.Dirs)
	fmt.Print(strings.ToUpper(string(got)))
	// Output:
	// sent 1 file, 2 directories; received 1 file, 2 directories
	// SHIP IT
}

// ExampleStreamSource sends what a reader gives as one file, and receives
// it into a writer, as ferry send - and ferry recv - do, in the clear
// (--plain: no Code on either side).
func ExampleStreamSource() {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	var out strings.Builder
	received := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			received <- err
			return
		}
		var receiver transfer.Receiver // the zero value: --plain
		_, err = receiver.Receive(ctx, conn, transfer.ToWriter(&out))
		received <- err
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	src := transfer.StreamSource("greeting.txt", strings.NewReader("hello over ferry\n"))
	sender := transfer.Sender{Compression: transfer.CompressZstd}
	if _, err := sender.Send(ctx, conn, src); err != nil {
		log.Fatal(err)
	}
	if err := <-received; err != nil {
		log.Fatal(err)
	}
	fmt.Print(out.String())
	// Output:
	// hello over ferry
}
