package transfer

import (
	"time"

	"github.com/ferrytool/ferry/internal/destdir"
)

// SetCaseInsensitive makes d treat names that differ only in case as one,
// as NewDirSink does on a file system that ignores case, so tests on a
// case-sensitive file system can check that rule.
func SetCaseInsensitive(d *DirSink) {
	destdir.SetCaseInsensitive(d.Dir)
}

// SetMaxNameBytes sets d's limit on the bytes of one transfer's names,
// MaxNameBytes by default.
func SetMaxNameBytes(d *DirSink, n int) {
	destdir.SetMaxNameBytes(d.Dir, n)
}

// SetBackgroundFlushFiles makes d's batches start a background flush once
// n files wait, if n is positive.
func SetBackgroundFlushFiles(d *DirSink, n int) {
	destdir.SetBackgroundFlushFiles(d.Dir, n)
}

// WithoutSyncFS makes the test's sinks sync file by file, as on systems
// without syncfs, until the test ends.
func WithoutSyncFS(t interface{ Cleanup(func()) }) {
	destdir.WithoutSyncFS(t)
}

// FailSyncFS makes the test's sinks' syncfs fail with err until the test
// ends.
func FailSyncFS(t interface{ Cleanup(func()) }, err error) {
	destdir.FailSyncFS(t, err)
}

// FailSyncFile makes the syncs of single files fail with err until the
// test ends.
func FailSyncFile(t interface{ Cleanup(func()) }, err error) {
	destdir.FailSyncFile(t, err)
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
