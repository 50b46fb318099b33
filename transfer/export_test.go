package transfer

// SetCaseInsensitive makes d treat names that differ only in case as one,
// as NewDirSink does on a file system that ignores case, so tests on a
// case-sensitive file system can check that rule.
func SetCaseInsensitive(d *DirSink) {
	d.foldCase = true
}
