//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "delayline: Linux only (it needs network namespaces and TUN devices)")
	os.Exit(2)
}
