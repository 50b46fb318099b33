//go:build linux || darwin

package destdir

import "golang.org/x/sys/unix"

// space is what a file system has free for an unprivileged user.
type space struct {
	bytes uint64
	files int64 // free inodes, -1 if the file system does not say
}

// freeSpace reports the free space of the file system holding dir.
func freeSpace(dir string) (space, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return space{}, false
	}
	s := space{bytes: st.Bavail * uint64(st.Bsize), files: -1}
	if st.Files > 0 {
		s.files = int64(min(st.Ffree, 1<<62))
	}
	return s, true
}
