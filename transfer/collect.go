package transfer

import (
	"context"

	"github.com/ferrytool/ferry/internal/walk"
)

// Collect lists what sending paths means, before anything is sent, so the
// receiver can be told the totals up front. A regular file is sent under
// its base name; a directory is sent with everything under it, under its
// base name, as scp -r does (a trailing slash changes nothing). A symbolic
// link named in paths is followed, like cp -r and scp; one found inside a
// directory is skipped, as are sockets, pipes and devices, and so are names
// the receiver would refuse: each skip is reported to skip with the path as
// the user wrote it and the reason (skip may be nil). A regular file this
// process may not read is an error, found here rather than once the
// transfer is under way. Cancelling ctx stops a long walk; the error is
// then ctx's.
//
// The sources' Open opens a file below a directory named through the
// directories the walk read, following no link, and refuses a file that
// is not the one the walk listed: what was swapped in since, even a link
// to somewhere else in place of one of those directories, is never read.
func Collect(ctx context.Context, paths []string, skip func(path, reason string)) ([]Source, error) {
	if skip == nil {
		skip = func(string, string) {}
	}
	entries, err := walk.Collect(ctx, paths, skip)
	if err != nil {
		return nil, err
	}
	sources := make([]Source, len(entries))
	for i, e := range entries {
		sources[i] = Source(e)
	}
	return sources, nil
}
