package transfer

import (
	"os"
	"time"
)

// SetCaseInsensitive makes d treat names that differ only in case as one,
// as NewDirSink does on a file system that ignores case, so tests on a
// case-sensitive file system can check that rule.
func SetCaseInsensitive(d *DirSink) {
	d.foldCase = true
}

// SetMaxNameBytes sets d's limit on the bytes of one transfer's names,
// MaxNameBytes by default.
func SetMaxNameBytes(d *DirSink, n int) {
	d.maxNameBytes = n
}

// WithoutSyncFS makes the test's sinks sync file by file, as on systems
// without syncfs, until the test ends.
func WithoutSyncFS(t interface{ Cleanup(func()) }) {
	saved := syncfsReportsErrors
	syncfsReportsErrors = false
	t.Cleanup(func() { syncfsReportsErrors = saved })
}

// FailSyncFS makes the test's sinks' syncfs fail with err until the test
// ends.
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

// WithMaxConns returns o serving at most n connections at once instead of
// MaxConns.
func WithMaxConns(o ServeOptions, n int) ServeOptions {
	o.maxConns = n
	return o
}

// WithDisplaceAfter returns o displacing a silent connection after d
// instead of displaceAfter.
func WithDisplaceAfter(o ServeOptions, d time.Duration) ServeOptions {
	o.displaceAfter = &d
	return o
}

// WithBackgroundFlushFiles returns o with a receiver that starts a
// background flush once n files wait, instead of backgroundFlushFiles.
func WithBackgroundFlushFiles(o Options, n int) Options {
	o.backgroundFlushFiles = n
	return o
}
