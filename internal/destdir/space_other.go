//go:build !(linux || darwin)

package destdir

// space is what a file system has free for an unprivileged user.
type space struct {
	bytes uint64
	files int64
}

// freeSpace does not know free space on this system; transfers that do not
// fit fail when the disk fills.
func freeSpace(string) (space, bool) {
	return space{}, false
}
