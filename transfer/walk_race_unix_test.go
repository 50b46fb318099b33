//go:build unix

package transfer_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOpenNothingOutside replaces a directory of the tree with a link to
// one holding a named pipe under the name of the file listed: Open must
// refuse the file without opening anything through the link. Opening the
// pipe would be seen: it lets a writer open the pipe without blocking,
// which otherwise fails for want of a reader.
func TestOpenNothingOutside(t *testing.T) {
	t.Parallel()
	parent := raceTree(t)
	pipe := filepath.Join(parent, "pipes", "secret")
	if err := os.Mkdir(filepath.Dir(pipe), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(pipe, 0o600); err != nil {
		t.Fatal(err)
	}
	srcs := collectAll(t, filepath.Join(parent, "top"))
	replaceWithLink(t, filepath.Join(parent, "top/a"), filepath.Dir(pipe))
	var open func() (err error)
	for _, s := range srcs {
		if s.Name == "top/a/secret" {
			open = func() error {
				rc, err := s.Open()
				if err == nil {
					_ = rc.Close()
				}
				return err
			}
		}
	}

	done := make(chan error, 1)
	go func() { done <- open() }()
	deadline := time.Now().Add(guard)
	for {
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("Open(top/a/secret) through a link to a named pipe succeeded; want it refused")
			}
			return
		default:
		}
		fd, err := syscall.Open(pipe, syscall.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if err == nil {
			// Let the Open blocked on the pipe go on, and finish.
			_ = syscall.Close(fd)
			<-done
			t.Fatalf("Open(top/a/secret) opened the named pipe outside the tree, through the link")
		}
		if !errors.Is(err, syscall.ENXIO) {
			t.Fatalf("opening the named pipe to write: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("Open(top/a/secret) did not return within %s", guard)
		}
		runtime.Gosched()
	}
}

// TestOpenFileSwappedForPipe replaces a file of the tree by a named pipe
// between Collect and Open: the open must not wait for a writer, which
// would hang the sender for good, but refuse the pipe as a file replaced.
func TestOpenFileSwappedForPipe(t *testing.T) {
	t.Parallel()
	parent := raceTree(t)
	srcs := collectAll(t, filepath.Join(parent, "top"))
	secret := filepath.Join(parent, "top/a/secret")
	if err := os.Remove(secret); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(secret, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, s := range srcs {
		if s.Name != "top/a/secret" {
			continue
		}
		done := make(chan error, 1)
		go func() {
			rc, err := s.Open()
			if err == nil {
				_ = rc.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "since it was listed") {
				t.Errorf("Open(top/a/secret), now a named pipe = %v; want it refused as replaced since it was listed", err)
			}
		case <-time.After(guard):
			// Let the blocked open go on, so the test can end.
			if fd, err := syscall.Open(secret, syscall.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				_ = syscall.Close(fd)
			}
			t.Fatalf("Open(top/a/secret), now a named pipe, still blocked after %s", guard)
		}
	}
}
