package destdir

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// syncFS flushes every dirty file of the file system holding f at once:
// the kernel writes them out together, where an fsync per file would wait
// for the disk once per file.
var syncFS = syncFileSystem

// syncfsReportsErrors says whether syncfs(2) reports a failed write-back,
// as it has since Linux 5.8. Before, it returned 0 regardless, and a file
// it was trusted with could be acked though the disk never took it; there
// each file is fsynced instead (see syncsWhole).
var syncfsReportsErrors = kernelAtLeast(unameRelease(), 5, 8)

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

// syncfsSkips says whether a syncfs of the file system holding f may
// leave its files unsynced though it succeeds: on FUSE (ntfs-3g,
// exfat-fuse, sshfs) the kernel sends a syncfs to the file system's server
// only where the server asked for it, which few do; an fsync of each file
// always reaches it.
func syncfsSkips(f *os.File) bool {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return true
	}
	return st.Type == unix.FUSE_SUPER_MAGIC
}

func unameRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// kernelAtLeast reports whether release, as uname gives it ("6.1.0-rpi7",
// "5.10.103-v7+"), is at least major.minor. A release it cannot read
// counts as older.
func kernelAtLeast(release string, major, minor int) bool {
	maj, rest, ok := strings.Cut(release, ".")
	if !ok {
		return false
	}
	if i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		rest = rest[:i]
	}
	gotMajor, err1 := strconv.Atoi(maj)
	gotMinor, err2 := strconv.Atoi(rest)
	if err1 != nil || err2 != nil {
		return false
	}
	return gotMajor > major || gotMajor == major && gotMinor >= minor
}
