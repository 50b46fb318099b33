//go:build !unix

package main

// watchResize does nothing where there is no SIGWINCH: each redraw still
// reads the terminal's width.
func watchResize(func()) (stop func()) { return func() {} }
