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
	ptm, pts := openTerminal(t)
	if cols > 0 {
		if err := unix.IoctlSetWinsize(int(pts.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: cols}); err != nil {
			t.Fatalf("setting the terminal's size: %v", err)
		}
	}
	cmd := exec.Command(ferryBin, args...)
	cmd.Dir = dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = pts.Close() // the child has its own; the master reads EIO once it exits
	kill := time.AfterFunc(guard, func() { _ = cmd.Process.Kill() })
	defer kill.Stop()

	var screen bytes.Buffer
	_, err := io.Copy(&screen, ptm)
	if err != nil && !errors.Is(err, syscall.EIO) {
		t.Errorf("reading the terminal: %v", err)
	}
	var exit *exec.ExitError
	if err := cmd.Wait(); err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return screen.String(), cmd.ProcessState.ExitCode()
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
