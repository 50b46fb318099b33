//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// watchResize calls resized on each change of the terminal's size, until
// the returned stop is called.
func watchResize(resized func()) (stop func()) {
	c := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(c, syscall.SIGWINCH)
	go func() {
		for {
			select {
			case <-c:
				resized()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(c)
		close(done)
	}
}
