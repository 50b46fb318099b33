//go:build unix && !linux

package fdfile

// WriteBehind does nothing where there is no sync_file_range: the file's
// data goes to disk at the final sync, or as the system decides.
func (*File) WriteBehind(off, n int64) error { return nil }
