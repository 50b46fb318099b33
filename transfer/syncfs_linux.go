package transfer

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes every dirty file of the file system holding f at once:
// the kernel writes them out together, where an fsync per file would wait
// for the disk once per file.
var syncFS = syncFileSystem

func syncFileSystem(f *os.File) error {
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := conn.Control(func(fd uintptr) { serr = unix.Syncfs(int(fd)) }); err != nil {
		return err
	}
	return serr
}
