package transfer

import (
	"context"
	"fmt"
	"iter"

	"github.com/ferrytool/ferry/internal/names"
	"github.com/ferrytool/ferry/internal/walk"
)

// Walk returns the sources that sending paths means, yielded in tree
// order as the walk finds them, so that a sender of a large tree need not
// hold a list of it (see Sender.SendSeq). A regular file is sent under its
// base name; a directory is sent with everything under it, under its base
// name, as scp -r does (a trailing slash changes nothing). A symbolic link
// named in paths is followed, like cp -r and scp; one found inside a
// directory is skipped, as are sockets, pipes and devices, and so are
// names the receiver would refuse: each skip is reported to skip with the
// path as the user wrote it and the reason (skip may be nil). A regular
// file this process may not read is an error, yielded when the walk comes
// to it. Every path is checked before any is walked, and the paths are
// walked in the order of the names they arrive under. A walk that fails
// yields its error once and stops. Cancelling ctx stops a long walk; the
// error is then ctx's.
//
// Each range over the sequence walks the paths again, and reports its
// skips again. Count ranges over it once to find the totals SendSeq needs,
// and the errors to be had before connecting.
//
// The sources' Open opens a file below a directory named through the
// directories the walk read, following no link, and refuses a file that
// is not the one the walk listed: what was swapped in since, even a link
// to somewhere else in place of one of those directories, is never read.
func Walk(ctx context.Context, paths []string, skip func(path, reason string)) iter.Seq2[Source, error] {
	if skip == nil {
		skip = func(string, string) {}
	}
	return func(yield func(Source, error) bool) {
		stopped := false
		err := walk.Walk(ctx, paths, skip, func(e walk.Entry) bool {
			stopped = !yield(Source(e), nil)
			return !stopped
		})
		if err != nil && !stopped {
			yield(Source{}, err)
		}
	}
}

// Collect lists what sending paths means, as Walk yields it: every source
// at once, before anything is sent. A sender of a large tree holds less
// with Count and SendSeq.
func Collect(ctx context.Context, paths []string, skip func(path, reason string)) ([]Source, error) {
	var sources []Source
	for src, err := range Walk(ctx, paths, skip) {
		if err != nil {
			return nil, err
		}
		sources = append(sources, src)
	}
	return sources, nil
}

// Totals is what a transfer offers the receiver before its first entry.
type Totals struct {
	Entries int   // files, streams and directories
	Files   int   // files and streams
	Bytes   int64 // of the files; -1 if a stream's length is unknown
}

// add counts src in t.
func (t *Totals) add(src Source) {
	t.Entries++
	if src.Mode.IsDir() {
		return
	}
	t.Files++
	if src.Size < 0 || t.Bytes < 0 {
		t.Bytes = -1
		return
	}
	t.Bytes += src.Size
}

// Count ranges over sources once and returns their totals, for SendSeq.
// It fails with the first error sources yields, and refuses what SendSeq
// would: no source at all, a file or stream without an Open, or sources
// out of tree order (names.Compare, as Walk yields them).
func Count(sources iter.Seq2[Source, error]) (Totals, error) {
	var t Totals
	var prev string
	for src, err := range sources {
		if err != nil {
			return Totals{}, err
		}
		if err := checkNext(t.Entries, prev, src); err != nil {
			return Totals{}, err
		}
		prev = src.Name
		t.add(src)
	}
	if t.Entries == 0 {
		return Totals{}, errNoSources
	}
	return t, nil
}

// checkNext refuses src as the source at index i, after one named prev:
// one without an Open that needs one, or out of tree order. Sources of the
// same name may follow each other, for the receiver to refuse the second.
func checkNext(i int, prev string, src Source) error {
	if src.Open == nil && !src.Mode.IsDir() {
		return fmt.Errorf("cannot send %s: the source has no Open", names.Quote(src.Name))
	}
	if i > 0 && names.Compare(prev, src.Name) > 0 {
		return fmt.Errorf("cannot send %s after %s: sources must come in tree order", names.Quote(src.Name), names.Quote(prev))
	}
	return nil
}
