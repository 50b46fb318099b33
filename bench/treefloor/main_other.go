//go:build !linux

// Command treefloor is bench/specfloor.c in Go (see main.go), for Linux
// only: it uses syncfs and renameat2.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "treefloor: Linux only (syncfs, renameat2)")
	os.Exit(1)
}
