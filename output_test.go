package main

import (
	"testing"
	"time"

	"ferry/transfer"
)

// TestFileEvent checks that the hand-made "file" event is the line the
// generic encoder makes, for names that need escaping too.
func TestFileEvent(t *testing.T) {
	for _, r := range []transfer.FileResult{
		{Name: "a/b.txt", Bytes: 1024, Elapsed: 1234567 * time.Nanosecond, Checksum: "crc32c:01234567"},
		// A control character, quotes, HTML, non-ASCII and invalid UTF-8.
		{Name: "we\x01ird\"<&>\u00e9\xff", Bytes: 0, Elapsed: 0, Checksum: "crc32c:00000000"},
		{Name: "x", Bytes: 1 << 40, Elapsed: 3 * time.Hour, Checksum: "crc32c:ffffffff"},
		{Name: "y", Bytes: 5, Elapsed: 3, Checksum: "c"},
	} {
		secs := r.Elapsed.Seconds()
		want := appendEvent(nil, "file", map[string]any{"name": r.Name, "bytes": r.Bytes, "seconds": secs, "checksum": r.Checksum})
		got := appendFileEvent(nil, r, secs)
		if string(got) != string(want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}
