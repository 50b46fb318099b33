package fdfile

import (
	"io/fs"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Chtimes sets the file's access and modification times to t through its
// descriptor: utimensat with no path, which x/sys does not offer, spares
// the kernel the name's lookup that setting them by path costs.
func (f *File) Chtimes(t time.Time) error {
	ts := unix.NsecToTimespec(t.UnixNano())
	times := [2]unix.Timespec{ts, ts}
	err := Retry(func() error {
		_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(f.fd), 0, uintptr(unsafe.Pointer(&times)), 0, 0, 0)
		if errno != 0 {
			return errno
		}
		return nil
	})
	if err != nil {
		return &fs.PathError{Op: "chtimes", Path: f.path, Err: err}
	}
	return nil
}
