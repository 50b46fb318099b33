package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rivo/uniseg"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/ferrytool/ferry/internal/names"
	"github.com/ferrytool/ferry/internal/units"
	"github.com/ferrytool/ferry/transfer"
)

// The progress line is drawn by progressbar, which draws the percentage
// and the bar, with the rest of the line as its description at the line's
// end. What progressbar cannot do, ferry does: it picks the fields that
// fit the width, in a fixed order, and shortens the name in the middle;
// it measures the rate over the last seconds (progressbar's is an average
// since the start); it sizes the bar anew when the terminal is resized;
// and it writes each frame itself, once per redraw, and clears it with
// blanks as wide as the line (progressbar redraws on every change of the
// percentage and the description, and clears with blanks as wide as the
// widest line it drew, which wraps once the terminal has shrunk).

// redrawEvery is the shortest time between two redraws.
const redrawEvery = 100 * time.Millisecond

// rateWindow is how far back the rate is measured.
const rateWindow = 5 * time.Second

// progress draws one line for the whole transfer on stderr when stderr is
// a terminal. A nil *progress draws nothing, so callers need not check.
type progress struct {
	mu   sync.Mutex // the sender updates and finishes from two goroutines
	term *os.File
	// filesTotal is how many files the transfer holds, if known: 0 if
	// not; files is how many are done.
	filesTotal, files int

	bar      *progressbar.ProgressBar
	barWidth int
	total    int64
	buf      bytes.Buffer // where bar draws; each frame is copied from it
	last     transfer.Progress
	samples  []sample
	drawn    time.Time
	shown    int // the columns the line on the screen takes, 0 if none
	unwatch  func()
}

// sample is how many bytes had moved at a time.
type sample struct {
	at    time.Time
	bytes int64
}

// newProgress is the progress line of a transfer, or nil where none is
// drawn: with -q or --json, when stderr is no terminal, and for NO_COLOR
// and TERM=dumb, which ask for no escapes and no redrawn lines. Messages
// the output prints take the line off the screen first.
func (o *output) newProgress(filesTotal int) *progress {
	f, ok := o.w.(*os.File)
	if o.quiet || o.json || !ok || !term.IsTerminal(int(f.Fd())) || plainTerminal() {
		return nil
	}
	p := &progress{term: f, filesTotal: filesTotal}
	o.w = clearing{p: p, w: f}
	return p
}

// plainTerminal says the environment asks for output without escapes or
// redrawn lines: TERM=dumb, or NO_COLOR set, even empty (stricter than
// no-color.org, which counts only a value: a user who sets it at all
// wants plain lines).
func plainTerminal() bool {
	_, noColor := os.LookupEnv("NO_COLOR")
	return noColor || os.Getenv("TERM") == "dumb"
}

// clearing writes a message on a line of its own: it takes the progress
// line off the screen first; the next redraw puts it back.
type clearing struct {
	p *progress
	w io.Writer
}

// Write holds the line's lock from the clearing to the end of the
// message, so that no redraw can come between them and leave the message
// after the line.
func (c clearing) Write(b []byte) (int, error) {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	c.p.clearLocked()
	return c.w.Write(b)
}

// update moves the line to pr, redrawing it at most every redrawEvery.
func (p *progress) update(pr transfer.Progress) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = pr
	now := time.Now()
	if now.Sub(p.drawn) < redrawEvery {
		return
	}
	p.addSample(now, pr.Bytes)
	if p.unwatch == nil {
		stopResize := watchResize(p.resized)
		stopTick := p.tickWhileShown()
		p.unwatch = func() { stopResize(); stopTick() }
	}
	p.draw(now)
}

// addSample notes that bytes had moved at now, and forgets the samples
// older than rateWindow but the one the rate starts from. p.mu is held.
func (p *progress) addSample(now time.Time, bytes int64) {
	p.samples = append(p.samples, sample{now, bytes})
	for len(p.samples) > 2 && now.Sub(p.samples[1].at) >= rateWindow {
		p.samples = p.samples[1:]
	}
}

// resized redraws the line at the terminal's new width, at most every
// redrawEvery: a window dragged wider sends a stream of signals, and the
// tick or the next update draws the last width.
func (p *progress) resized() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := time.Now(); p.shown > 0 && now.Sub(p.drawn) >= redrawEvery {
		p.draw(now)
	}
}

// stallRedraw is how often the line is redrawn when nothing moves, so that
// a stalled transfer's rate falls, rather than showing the last one.
const stallRedraw = time.Second

// tickWhileShown redraws the line every stallRedraw that passes without
// an update, counting no bytes moved, until the returned stop.
func (p *progress) tickWhileShown() (stop func()) {
	t := time.NewTicker(stallRedraw)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case now := <-t.C:
				p.mu.Lock()
				if p.shown > 0 && now.Sub(p.drawn) >= stallRedraw {
					p.addSample(now, p.last.Bytes)
					p.draw(now)
				}
				p.mu.Unlock()
			case <-done:
				return
			}
		}
	}()
	return func() {
		t.Stop()
		close(done)
	}
}

// width is the columns the line may take: one less than the terminal's,
// as a character in the last column wraps on some terminals. A terminal
// that reports no width (a serial console, script(1) without a size) is
// taken as 80 columns.
func (p *progress) width() int {
	w, _, err := term.GetSize(int(p.term.Fd()))
	if err != nil || w <= 0 {
		w = 80
	}
	return w - 1
}

// rate is the bytes per second over the samples of the last rateWindow,
// 0 until they span half a second.
func (p *progress) rate() float64 {
	if len(p.samples) < 2 {
		return 0
	}
	first, last := p.samples[0], p.samples[len(p.samples)-1]
	span := last.at.Sub(first.at)
	if span < rateWindow/10 {
		return 0
	}
	return float64(last.bytes-first.bytes) / span.Seconds()
}

// draw writes the line as it stands, fitted to the terminal's width.
func (p *progress) draw(now time.Time) {
	f := lineFields{bytes: p.last.Bytes, total: p.last.Total, rate: p.rate(), name: p.last.Name, files: p.files, filesTotal: p.filesTotal}
	width := p.width()
	line := p.render(width, f)
	pad := min(p.shown, width) - uniseg.StringWidth(line)
	_, _ = io.WriteString(p.term, "\r"+line+strings.Repeat(" ", max(pad, 0)))
	p.shown = uniseg.StringWidth(line)
	p.drawn = now
}

// render is the line of f for width columns, as progressbar draws it.
func (p *progress) render(width int, f lineFields) string {
	total := f.total
	if total <= 0 {
		total = -1 // a stream: progressbar draws a spinner
	}
	desc, barWidth := layout(width, f)
	if p.bar == nil || barWidth != p.barWidth || total != p.total {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(&p.buf),
			progressbar.OptionSetWidth(barWidth),
			progressbar.OptionThrottle(0),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionSetElapsedTime(false),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionSpinnerType(14),
		)
		p.barWidth, p.total = barWidth, total
	}
	// More bytes than the total (a file grown since the walk) would draw
	// the bar past its width.
	n := f.bytes
	if total > 0 {
		n = min(n, total)
	}
	_ = p.bar.Set64(n)
	p.bar.Describe(desc)
	p.buf.Reset()
	return strings.TrimRight(strings.TrimPrefix(p.bar.String(), "\r"), " ")
}

// clearLocked takes the line off the screen so a message can be printed
// on a clean line; the next update draws it again. p.mu is held.
func (p *progress) clearLocked() {
	if p.shown == 0 {
		return
	}
	_, _ = io.WriteString(p.term, "\r"+strings.Repeat(" ", min(p.shown, p.width()))+"\r")
	p.shown = 0
}

// finish takes the line off the screen at the end of a transfer, for its
// summary; another transfer starts a new line.
func (p *progress) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
	if p.unwatch != nil {
		p.unwatch()
	}
	p.bar, p.unwatch, p.samples, p.drawn, p.files = nil, nil, nil, time.Time{}, 0
}

// done counts the files of rs as done.
func (p *progress) done(rs []transfer.FileResult) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.files += len(rs)
}

// lineFields is what a progress line can show.
type lineFields struct {
	bytes, total int64   // total -1 or 0 if unknown
	rate         float64 // bytes per second of late, 0 if not known yet
	files        int     // files done
	filesTotal   int     // 0 if unknown
	name         string  // the current file
}

// The columns progressbar takes beside its description, less the blank
// it ends the line with, which render drops: for a known total, the
// percentage, the bar's ends and the spaces around them; for a stream,
// the spinner and the spaces.
const (
	barOverhead     = 10
	spinnerOverhead = 3
)

// minName is the fewest columns a shortened name is given; with fewer, it
// is dropped.
const minName = 8

// layout picks what a line of width columns shows: the description after
// the bar, and the bar's width. As the width shrinks the fields drop in a
// fixed order: the name (first shortened in the middle), the files, the
// time left, the rate, the total; the bytes done go last.
func layout(width int, f lineFields) (string, int) {
	known := f.total > 0
	// The fields come first, beside a bar of one column; then the bar
	// grows to its preferred width, the name takes what is left, and
	// the bar what the name leaves, up to its widest.
	overhead, bar, preferred, widest := spinnerOverhead, 0, 0, 0
	if known {
		overhead, bar, preferred, widest = barOverhead, 1, min(max((width-60)/4, 5), 30), 40
	}
	room := width - overhead - bar
	done := units.Bytes(f.bytes)
	first := done
	if known && len(done+"/"+units.Bytes(f.total)) <= room {
		first = done + "/" + units.Bytes(f.total)
	}
	fields := []string{first}
	if f.rate > 0 {
		fields = append(fields, units.Bytes(int64(f.rate))+"/s")
		if known && f.bytes < f.total {
			fields = append(fields, roughLeft(time.Duration(float64(f.total-f.bytes)/f.rate*float64(time.Second)))+" left")
		}
	}
	switch {
	case f.filesTotal > 1:
		fields = append(fields, fmt.Sprintf("%d/%d files", f.files, f.filesTotal))
	case f.filesTotal == 0 && f.files > 0:
		fields = append(fields, plural(f.files, "file", "files"))
	}
	var desc string
	for _, field := range fields {
		next := field
		if desc != "" {
			next = desc + "  " + field
		}
		if uniseg.StringWidth(next) > room {
			break
		}
		desc = next
	}
	grow := func(to int) {
		more := max(min(room-uniseg.StringWidth(desc), to-bar), 0)
		bar += more
		room -= more
	}
	grow(preferred)
	if f.name != "" {
		rest := room - uniseg.StringWidth(desc) - 2
		if name := shortenMiddle(names.Quote(f.name), rest); rest >= minName {
			desc += "  " + name
		}
	}
	grow(widest)
	return desc, bar
}

// roughLeft says a time left as a person reads it: 45s, 12m05s, 3h20m.
func roughLeft(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()+0.5))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// shortenMiddle fits s into width columns, keeping its start and its end
// around an ellipsis: a file's name is at the end of its path.
func shortenMiddle(s string, width int) string {
	if uniseg.StringWidth(s) <= width {
		return s
	}
	if width < 1 {
		return ""
	}
	var clusters []string
	g := uniseg.NewGraphemes(s)
	for g.Next() {
		clusters = append(clusters, g.Str())
	}
	headRoom := (width - 1) / 2
	tailRoom := width - 1 - headRoom
	var head, tail strings.Builder
	used := 0
	for _, c := range clusters {
		w := uniseg.StringWidth(c)
		if used+w > headRoom {
			break
		}
		head.WriteString(c)
		used += w
	}
	var end []string
	used = 0
	for i := len(clusters) - 1; i >= 0; i-- {
		w := uniseg.StringWidth(clusters[i])
		if used+w > tailRoom {
			break
		}
		end = append(end, clusters[i])
		used += w
	}
	for i := len(end) - 1; i >= 0; i-- {
		tail.WriteString(end[i])
	}
	return head.String() + "…" + tail.String()
}
