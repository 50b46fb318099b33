package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rivo/uniseg"

	"github.com/ferrytool/ferry/transfer"
)

// TestProgressLineFits draws the progress line at every width from 10 to
// 220 columns, for a tree, a file, a stream and names wide or long: no
// line is wider than the width it was drawn for.
func TestProgressLineFits(t *testing.T) {
	long := strings.Repeat("photos/2024/", 12) + "IMG_0001.jpg"
	for _, tc := range []struct {
		name string
		f    lineFields
	}{
		{"tree", lineFields{bytes: 1_234_567_890, total: 3_456_789_012, rate: 45_300_000, files: 12, filesTotal: 1000, name: long}},
		{"file", lineFields{bytes: 5_000_000, total: 8_400_000, rate: 150_000_000, name: "big.bin"}},
		{"start", lineFields{bytes: 0, total: 8_400_000, name: "big.bin"}},
		{"done", lineFields{bytes: 8_400_000, total: 8_400_000, rate: 1, name: "big.bin"}},
		{"stream", lineFields{bytes: 99_000_000, total: -1, rate: 12_000_000, name: "stdin"}},
		{"wide name", lineFields{bytes: 1, total: 2, rate: 1, files: 1, filesTotal: 2, name: strings.Repeat("写真", 40) + ".jpg"}},
		{"control characters", lineFields{bytes: 1, total: 2, name: "a\x1b[2Jb\nc" + long}},
		// A file that grew after the walk: more bytes than the total.
		{"past the total", lineFields{bytes: 200, total: 100, name: "grew.log"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &progress{}
			for width := 10; width <= 220; width++ {
				line := p.render(width, tc.f)
				if w := uniseg.StringWidth(line); w > width {
					t.Errorf("at %d columns the line takes %d: %q", width, w, line)
				}
				if strings.ContainsAny(line, "\x1b\n\r") {
					t.Errorf("at %d columns the line holds a control character: %q", width, line)
				}
			}
		})
	}
}

// TestProgressLineDrops checks the order in which the fields leave the
// line as it narrows: the name (shortened in the middle first), the
// files, the time left, the rate, the total; the bytes done stay.
func TestProgressLineDrops(t *testing.T) {
	f := lineFields{bytes: 1_234_567_890, total: 3_456_789_012, rate: 45_300_000, files: 12, filesTotal: 1000, name: strings.Repeat("photos/2024/", 12) + "IMG_0001.jpg"}
	for _, tc := range []struct {
		width      int
		has, lacks []string
	}{
		{19, []string{"1.2 GB"}, []string{"3.5 GB", "MB/s", "left", "files", "IMG"}},
		{39, []string{"1.2 GB/3.5 GB", "45.3 MB/s"}, []string{"left", "files", "IMG"}},
		{59, []string{"1.2 GB/3.5 GB", "45.3 MB/s", "49s left"}, []string{"files", "IMG"}},
		{69, []string{"1.2 GB/3.5 GB", "45.3 MB/s", "49s left", "12/1000 files"}, []string{"IMG"}},
		{79, []string{"1.2 GB/3.5 GB", "45.3 MB/s", "49s left", "12/1000 files", "photos…01.jpg"}, nil},
		{199, []string{"1.2 GB/3.5 GB", "45.3 MB/s", "49s left", "12/1000 files", "photos/2024/photos/", "…", "2024/IMG_0001.jpg"}, nil},
		{300, []string{"photos/2024/IMG_0001.jpg"}, []string{"…"}},
	} {
		line := (&progress{}).render(tc.width, f)
		for _, s := range tc.has {
			if !strings.Contains(line, s) {
				t.Errorf("at %d columns, %q lacks %q", tc.width, line, s)
			}
		}
		for _, s := range tc.lacks {
			if strings.Contains(line, s) {
				t.Errorf("at %d columns, %q shows %q", tc.width, line, s)
			}
		}
	}
}

// TestProgressRedrawLimit updates the line as fast as a transfer of small
// chunks would: it is drawn at most once per redrawEvery.
func TestProgressRedrawLimit(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "term")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := &progress{term: f}
	start := time.Now()
	for i := range int64(200_000) {
		p.update(transfer.Progress{Name: "big.bin", Bytes: i, Total: 1 << 30})
	}
	elapsed := time.Since(start)
	p.finish()
	written, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	// Each redraw and the final clear start with a carriage return.
	draws := strings.Count(string(written), "\r") - 2
	if most := 1 + int(elapsed/redrawEvery); draws > most || draws < 1 {
		t.Errorf("%d redraws in %v, want 1 to %d", draws, elapsed, most)
	}
}
