package destdir

import (
	"cmp"
	"os"
)

// The hooks below are for tests, here and in the packages that receive
// into a Dir: they change what no caller may choose.

// SetCaseInsensitive makes d treat names that differ only in case as one,
// as Open does on a file system that ignores case, so tests on a
// case-sensitive file system can check that rule.
func SetCaseInsensitive(d *Dir) {
	d.foldCase = true
}

// SetMaxNameBytes sets d's limit on the bytes of one transfer's names,
// MaxNameBytes by default.
func SetMaxNameBytes(d *Dir, n int) {
	d.maxNameBytes = n
}

// SetBackgroundFlushFiles makes d's batches start a background flush once
// n files wait, instead of backgroundFlushFiles, if n is positive.
func SetBackgroundFlushFiles(d *Dir, n int) {
	d.bgFlushFiles = cmp.Or(n, backgroundFlushFiles)
}

// WithoutSyncFS makes every Dir sync file by file, as on systems without
// syncfs, until the test ends.
func WithoutSyncFS(t interface{ Cleanup(func()) }) {
	saved := syncfsReportsErrors
	syncfsReportsErrors = false
	t.Cleanup(func() { syncfsReportsErrors = saved })
}

// FailSyncFS makes every Dir's syncfs fail with err until the test ends.
func FailSyncFS(t interface{ Cleanup(func()) }, err error) {
	saved := syncFS
	syncFS = func(*os.File) error { return err }
	t.Cleanup(func() { syncFS = saved })
}

// FailSyncFile makes the syncs of single files fail with err until the
// test ends.
func FailSyncFile(t interface{ Cleanup(func()) }, err error) {
	saved := syncFile
	syncFile = func(destFile) error { return err }
	t.Cleanup(func() { syncFile = saved })
}
