//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || solaris)

package destdir

import (
	"errors"
	"os"
	"time"
)

// canResume is false: without flock a partial file cannot be claimed so
// that the claim ends with its holder, so Options.Resume does nothing
// here and files are written under temporary names as without it.
const canResume = false

func openPartialDir(*os.File, bool) (dirFS, uint64, error) { return nil, 0, nil }

var errBusy = errors.New("in use by another transfer")

func lockPartial(dirFS, string, bool) (*os.File, error)          { return nil, errors.ErrUnsupported }
func renameBetween(dirFS, string, dirFS, string) error           { return errors.ErrUnsupported }
func scanPartials(*os.File, time.Time, bool) (int, int64, error) { return 0, 0, nil }
func removePartialDir(*os.File)                                  {}
