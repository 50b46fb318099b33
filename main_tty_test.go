//go:build linux

package main

// Tests of what ferry draws on a terminal: the progress bar, on a
// pseudo-terminal the test opens.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rivo/uniseg"
	"golang.org/x/sys/unix"
)

// TestProgressBar sends a file with the sender's stderr on terminals of
// several widths, and one that reports none (a serial console, script(1)
// without a size, taken as 80 columns): each shows the line with the
// bytes and the bar, every redraw fits the width, and the line is wiped
// before the summary.
func TestProgressBar(t *testing.T) {
	bar := regexp.MustCompile(`\r +[0-9]+% \|[ █]+\|  [0-9.]+ [kM]?B`)
	// The line is wiped (blanks between carriage returns) before the
	// summary.
	wiped := regexp.MustCompile(`\r +\rferry: done: sent big\.bin, 16\.8 MB in `)
	src := t.TempDir()
	path := writeFile(t, src, "big.bin", randomBytes(16<<20), 0o644, time.Now())
	for _, tc := range []struct {
		name  string
		cols  uint16
		wants []string // on the line at this width
	}{
		{"20 columns", 20, nil},
		{"40 columns", 40, []string{"/16.8 MB"}},
		{"80 columns", 80, []string{"/16.8 MB", "big.bin"}},
		{"200 columns", 200, []string{"/16.8 MB", "big.bin"}},
		{"width unknown", 0, []string{"/16.8 MB", "big.bin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := t.TempDir()
			recv, addr := startRecv(t, dst, nil, "--json", "-l", "127.0.0.1:0", dst)
			screen, status := runOnTerminal(t, tc.cols, src, "send", "-z", "none", addr, path)
			recv.expect(0)
			if status != 0 {
				t.Fatalf("ferry send exited with status %d; terminal:\n%s", status, screen)
			}
			if !bar.MatchString(screen) {
				t.Errorf("terminal shows no bar matching %v:\n%q", bar, screen)
			}
			if !wiped.MatchString(screen) {
				t.Errorf("the bar is not wiped before the summary:\n%q", screen)
			}
			cols := int(tc.cols)
			if cols == 0 {
				cols = 80
			}
			frames := drawn(screen)
			checkFrames(t, frames, cols)
			for _, w := range tc.wants {
				if !slices.ContainsFunc(frames, func(f string) bool { return strings.Contains(f, w) }) {
					t.Errorf("no redraw at %d columns shows %q:\n%q", cols, w, frames)
				}
			}
		})
	}
}

// TestProgressResize sends a file whose receiver stops taking data, so
// that the line stands still, and narrows the terminal: the line is drawn
// again at the new width, and fits it.
func TestProgressResize(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	path := writeFile(t, src, "big.bin", randomBytes(64<<20), 0o644, time.Now())
	// recv - blocks on a pipe nobody reads until the resize is done.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	recv, addr := startRecv(t, dst, w, "--json", "-l", "127.0.0.1:0", "-")
	_ = w.Close()
	term := startOnTerminal(t, 200, src, nil, "send", "-z", "none", addr, path)
	wide := regexp.MustCompile(`\r +[0-9]+% \|[ █]{30,}\|[^\r]*big\.bin`)
	at := term.waitFor(0, wide)
	term.resize(40)
	narrow := regexp.MustCompile(`\r +[0-9]+% \|[ █]{1,20}\|  [0-9.]+ [kM]?B/67\.1 MB`)
	term.waitFor(at, narrow)
	go func() { _, _ = io.Copy(io.Discard, r) }()
	screen, status := term.wait()
	recv.expect(0)
	if status != 0 {
		t.Fatalf("ferry send exited with status %d; terminal:\n%q", status, screen)
	}
	checkFrames(t, drawn(screen[at:]), 40)
}

// TestNoProgressLine: with NO_COLOR or TERM=dumb, on a terminal still, the
// sender draws no line and writes no escape or carriage return of its
// own: one message a line.
func TestNoProgressLine(t *testing.T) {
	src := t.TempDir()
	path := writeFile(t, src, "big.bin", randomBytes(8<<20), 0o644, time.Now())
	for _, env := range []string{"NO_COLOR=1", "NO_COLOR=", "TERM=dumb"} {
		t.Run(env, func(t *testing.T) {
			dst := t.TempDir()
			recv, addr := startRecv(t, dst, nil, "--json", "-l", "127.0.0.1:0", dst)
			screen, status := startOnTerminal(t, 80, src, []string{env}, "send", "-z", "none", addr, path).wait()
			recv.expect(0)
			if status != 0 {
				t.Fatalf("ferry send exited with status %d; terminal:\n%q", status, screen)
			}
			// The terminal turns each newline into CR LF.
			if plain := strings.ReplaceAll(screen, "\r\n", "\n"); strings.ContainsAny(plain, "\r\x1b") {
				t.Errorf("the terminal shows a redrawn line or an escape:\n%q", screen)
			}
			mustContain(t, "terminal", screen, "ferry: done: sent big.bin, 8.4 MB")
		})
	}
}

// TestManyFiles sends a tree of 1,000 files with the sender on a terminal:
// without -v both sides print a handful of lines, and the sender's line
// counts the files; with -v each side lists every file.
func TestManyFiles(t *testing.T) {
	src := t.TempDir()
	for i := range 1000 {
		writeFile(t, src, fmt.Sprintf("tree/f%04d", i), randomBytes(10<<10), 0o644, time.Now())
	}
	for _, tc := range []struct {
		name    string
		flags   []string
		perFile bool
	}{
		{"quiet by default", nil, false},
		{"-v", []string{"-v"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := t.TempDir()
			recv, addr := startRecv(t, dst, nil, append(tc.flags, "-l", "127.0.0.1:0", dst)...)
			screen, status := runOnTerminal(t, 80, src, append(append([]string{"send"}, tc.flags...), addr, "tree")...)
			recv.expect(0)
			if status != 0 {
				t.Fatalf("ferry send exited with status %d; terminal:\n%q", status, screen)
			}
			// A message may follow the wiped line on the same row.
			sent := regexp.MustCompile(`(?m)(^|\r)ferry: sent tree/f[0-9]{4}: 10\.2 kB, crc32c:[0-9a-f]{8}\r$`)
			received := regexp.MustCompile(`(?m)^ferry: received tree/f[0-9]{4}: 10\.2 kB, crc32c:[0-9a-f]{8}$`)
			sends, recvs := len(sent.FindAllString(screen, -1)), len(received.FindAllString(recv.stderr(), -1))
			if tc.perFile {
				if sends != 1000 || recvs != 1000 {
					t.Errorf("with -v, send listed %d files and recv %d, want 1000 each", sends, recvs)
				}
			} else {
				if lines := strings.Count(screen, "\n"); lines > 4 {
					t.Errorf("send printed %d lines for 1,000 files:\n%s", lines, screen)
				}
				if lines := strings.Count(recv.stderr(), "\n"); lines > 6 {
					t.Errorf("recv printed %d lines for 1,000 files:\n%s", lines, recv.stderr())
				}
			}
			mustContain(t, "terminal", screen, "ferry: done: sent 1000 files in 1 directory")
			checkFrames(t, drawn(screen), 80)
		})
	}
}

// drawn is what the progress line drew on screen: each stretch between
// carriage returns or newlines that is no message.
func drawn(screen string) []string {
	var frames []string
	for _, l := range strings.FieldsFunc(screen, func(r rune) bool { return r == '\r' || r == '\n' }) {
		if !strings.HasPrefix(l, "ferry: ") && !strings.HasPrefix(l, "    ") {
			frames = append(frames, l)
		}
	}
	return frames
}

// checkFrames fails the test for a frame wider than cols columns, which
// would wrap and leave a line behind on each redraw.
func checkFrames(t *testing.T, frames []string, cols int) {
	t.Helper()
	for _, f := range frames {
		if w := uniseg.StringWidth(f); w >= cols {
			t.Errorf("a redraw takes %d columns of %d (the last column wraps on some terminals): %q", w, cols, f)
		}
	}
}

// runOnTerminal runs ferry with args in dir, its stdin, stdout and stderr
// on a new pseudo-terminal of cols columns (0: a size it does not report),
// and returns everything it wrote there and its exit status.
func runOnTerminal(t *testing.T, cols uint16, dir string, args ...string) (string, int) {
	t.Helper()
	return startOnTerminal(t, cols, dir, nil, args...).wait()
}

// onTerminal is a ferry process on a pseudo-terminal, which is its
// controlling terminal: a resize sends it SIGWINCH.
type onTerminal struct {
	t      *testing.T
	cmd    *exec.Cmd
	ptm    *os.File
	mu     sync.Mutex
	screen bytes.Buffer
	grew   chan struct{} // closed and replaced whenever screen grows
	eof    chan struct{}
}

// startOnTerminal starts ferry as runOnTerminal does, with env added to
// this process's environment.
func startOnTerminal(t *testing.T, cols uint16, dir string, env []string, args ...string) *onTerminal {
	t.Helper()
	ptm, pts := openTerminal(t)
	if cols > 0 {
		if err := unix.IoctlSetWinsize(int(pts.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: cols}); err != nil {
			t.Fatalf("setting the terminal's size: %v", err)
		}
	}
	cmd := exec.Command(ferryBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 2}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = pts.Close() // the child has its own; the master reads EIO once it exits
	o := &onTerminal{t: t, cmd: cmd, ptm: ptm, grew: make(chan struct{}), eof: make(chan struct{})}
	go func() {
		defer close(o.eof)
		buf := make([]byte, 4096)
		for {
			n, err := ptm.Read(buf)
			o.mu.Lock()
			o.screen.Write(buf[:n])
			close(o.grew)
			o.grew = make(chan struct{})
			o.mu.Unlock()
			if err != nil {
				if !errors.Is(err, syscall.EIO) && !errors.Is(err, os.ErrClosed) {
					t.Errorf("reading the terminal: %v", err)
				}
				return
			}
		}
	}()
	kill := time.AfterFunc(guard, func() { _ = cmd.Process.Kill() })
	t.Cleanup(func() { kill.Stop(); _ = cmd.Process.Kill() })
	return o
}

// waitFor waits until what the terminal shows after offset from matches
// re, and returns the offset where the match ends.
func (o *onTerminal) waitFor(offset int, re *regexp.Regexp) int {
	o.t.Helper()
	deadline := time.After(guard)
	for {
		o.mu.Lock()
		shown, grew := o.screen.String(), o.grew
		o.mu.Unlock()
		if loc := re.FindStringIndex(shown[offset:]); loc != nil {
			return offset + loc[1]
		}
		select {
		case <-grew:
		case <-o.eof:
			o.t.Fatalf("the terminal closed without showing %v:\n%q", re, shown)
		case <-deadline:
			o.t.Fatalf("the terminal did not show %v in %v:\n%q", re, guard, shown)
		}
	}
}

// resize sets the terminal's width to cols.
func (o *onTerminal) resize(cols uint16) {
	o.t.Helper()
	if err := unix.IoctlSetWinsize(int(o.ptm.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: cols}); err != nil {
		o.t.Fatalf("resizing the terminal: %v", err)
	}
}

// wait waits for ferry to exit, and returns everything it wrote on the
// terminal and its exit status.
func (o *onTerminal) wait() (string, int) {
	o.t.Helper()
	<-o.eof
	var exit *exec.ExitError
	if err := o.cmd.Wait(); err != nil && !errors.As(err, &exit) {
		o.t.Fatal(err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.screen.String(), o.cmd.ProcessState.ExitCode()
}

// openTerminal opens a new pseudo-terminal and returns its master and its
// slave, closed when the test ends.
func openTerminal(t *testing.T) (ptm, pts *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err == nil {
		t.Cleanup(func() { _ = ptm.Close() })
		err = unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0)
	}
	var n int
	if err == nil {
		n, err = unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	}
	if err == nil {
		pts, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("this test needs a pseudo-terminal (/dev/ptmx): %v", err)
		}
		t.Skipf("skipping: needs a pseudo-terminal (/dev/ptmx): %v", err)
	}
	t.Cleanup(func() { _ = pts.Close() })
	return ptm, pts
}
