// Command report turns the RESULT lines of bench/run into the Markdown
// tables of bench/results/results.md, the targets of issue 18 with their
// measured ratios, and the data bench/plot.gp draws.
//
// Usage:
//
//	report [-quick] -md results.md -dat results.dat < results.txt
//
// A RESULT line is space-separated key=value pairs after the word RESULT:
// section, case, tool, round, bytes, secs, send_rss_mib, recv_rss_mib,
// send_cpu_s, recv_cpu_s, status (ok or FAILED), and files for trees. Lines
// starting with NOTE are copied into the report; the lines before the first
// RESULT line are the run's header.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("report: ")
	quick := flag.Bool("quick", false, "mark the report as a QUICK smoke run")
	mdPath := flag.String("md", "results.md", "Markdown report to write")
	datPath := flag.String("dat", "results.dat", "chart data to write, for plot.gp")
	flag.Parse()
	run, err := parse(os.Stdin)
	if err != nil {
		log.Fatal(err)
	}
	var md, dat strings.Builder
	writeMarkdown(&md, run, *quick)
	writeChartData(&dat, run)
	if err := os.WriteFile(*mdPath, []byte(md.String()), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*datPath, []byte(dat.String()), 0o644); err != nil {
		log.Fatal(err)
	}
}

// result is one RESULT line. Figures a line lacks, or that read n/a, are NaN.
type result struct {
	section, cas, tool string
	round              int
	bytes, files       int64
	secs               float64
	rssS, rssR         float64
	cpuS, cpuR         float64
	ok                 bool
}

// group is every round of one tool in one case, in the order they ran.
type group struct {
	section, cas, tool string
	rounds             []result
}

// run is a parsed results.txt: groups keep the order in which their first
// round appeared, so the tables read in the order the run went.
type run struct {
	header []string
	notes  []string
	groups []*group
}

func parse(r io.Reader) (*run, error) {
	out := &run{}
	index := map[string]*group{}
	sc := bufio.NewScanner(r)
	seenResult := false
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \t")
		switch {
		case strings.HasPrefix(line, "RESULT "):
			seenResult = true
			res, err := parseResult(line)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", n, err)
			}
			key := res.section + "\x00" + res.cas + "\x00" + res.tool
			g := index[key]
			if g == nil {
				g = &group{section: res.section, cas: res.cas, tool: res.tool}
				index[key] = g
				out.groups = append(out.groups, g)
			}
			g.rounds = append(g.rounds, res)
		case strings.HasPrefix(line, "NOTE "):
			out.notes = append(out.notes, strings.TrimPrefix(line, "NOTE "))
		case !seenResult && line != "":
			out.header = append(out.header, line)
		}
	}
	return out, sc.Err()
}

func parseResult(line string) (result, error) {
	kv := map[string]string{}
	for _, f := range strings.Fields(line)[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return result{}, fmt.Errorf("field %q is not key=value", f)
		}
		kv[k] = v
	}
	res := result{section: kv["section"], cas: kv["case"], tool: kv["tool"], ok: kv["status"] == "ok"}
	if res.section == "" || res.cas == "" || res.tool == "" {
		return result{}, fmt.Errorf("RESULT line without section, case or tool")
	}
	res.round, _ = strconv.Atoi(kv["round"])
	res.bytes, _ = strconv.ParseInt(kv["bytes"], 10, 64)
	res.files, _ = strconv.ParseInt(kv["files"], 10, 64)
	res.secs = number(kv["secs"])
	res.rssS, res.rssR = number(kv["send_rss_mib"]), number(kv["recv_rss_mib"])
	res.cpuS, res.cpuR = number(kv["send_cpu_s"]), number(kv["recv_cpu_s"])
	if math.IsNaN(res.secs) || res.secs <= 0 {
		res.ok = false
	}
	return res, nil
}

func number(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

// median of the values that are numbers; NaN if none is.
func median(vs []float64) float64 {
	var xs []float64
	for _, v := range vs {
		if !math.IsNaN(v) {
			xs = append(xs, v)
		}
	}
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	m := len(xs) / 2
	if len(xs)%2 == 1 {
		return xs[m]
	}
	return (xs[m-1] + xs[m]) / 2
}

// maxOf the values that are numbers; NaN if none is.
func maxOf(vs []float64) float64 {
	m := math.NaN()
	for _, v := range vs {
		if !math.IsNaN(v) && (math.IsNaN(m) || v > m) {
			m = v
		}
	}
	return m
}

// okField collects one figure of the rounds that succeeded.
func (g *group) okField(f func(result) float64) []float64 {
	var vs []float64
	for _, r := range g.rounds {
		if r.ok {
			vs = append(vs, f(r))
		}
	}
	return vs
}

func (g *group) secs() float64 { return median(g.okField(func(r result) float64 { return r.secs })) }

// bytesPerSec is the group's file bytes over its median time.
func (g *group) bytesPerSec() float64 { return float64(g.rounds[0].bytes) / g.secs() }

func (g *group) failed() int {
	n := 0
	for _, r := range g.rounds {
		if !r.ok {
			n++
		}
	}
	return n
}

func (g *group) maxRSS() (send, recv float64) {
	all := func(f func(result) float64) []float64 {
		var vs []float64
		for _, r := range g.rounds {
			vs = append(vs, f(r))
		}
		return vs
	}
	return maxOf(all(func(r result) float64 { return r.rssS })), maxOf(all(func(r result) float64 { return r.rssR }))
}

func (g *group) cpu() (send, recv float64) {
	return median(g.okField(func(r result) float64 { return r.cpuS })), median(g.okField(func(r result) float64 { return r.cpuR }))
}

func (r *run) find(section, cas, tool string) *group {
	for _, g := range r.groups {
		if g.section == section && g.cas == cas && g.tool == tool {
			return g
		}
	}
	return nil
}

// cases lists a section's cases in the order they ran.
func (r *run) cases(section string) []string {
	var cs []string
	for _, g := range r.groups {
		if g.section == section && !slices.Contains(cs, g.cas) {
			cs = append(cs, g.cas)
		}
	}
	return cs
}

func (r *run) sections() []string {
	var ss []string
	for _, g := range r.groups {
		if !slices.Contains(ss, g.section) {
			ss = append(ss, g.section)
		}
	}
	return ss
}

// baselines names the tool each section's chart measures the others
// against: what a user would run instead, or for cpu, ferry --plain.
var baselines = map[string]string{
	"net":   "nc",
	"disk":  "nc+sync",
	"small": "tar+sync",
	"cpu":   "ferry-plain",
	"links": "nc",
}

// cell escapes the pipes of tar | nc for a Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// labels say what each tool of bench/run ran; a tool of bench/links.sh
// shows under its own name.
var labels = map[string]string{
	"ferry-plain": "ferry --plain -z none",
	"ferry":       "ferry (code, -z auto)",
	"ferry-b":     "ferry (code, -z auto), the FERRY_B binary",
	"nc":          "nc -N / nc -l",
	"socat":       "socat -u (8 KiB buffer)",
	"socat-b128k": "socat -u -b 131072",
	"nc+sync":     "nc -l > FILE + sync -f",
	"diskfloor":   "nc -l | diskfloor FILE",
	"dd-fsync":    "dd conv=fsync FILE (no network)",
	"tar+sync":    "tar c | nc, nc -l | tar x + sync -f",
	"specfloor-p": "SPEC floor (tar c | nc, nc -l | specfloor -p)",
	"treefloor":   "treefloor (the SPEC floor in Go, with CRC-32C and one ack)",
	"rsync":       "rsync -a to rsync daemon + sync -f",
	"netfloor":    "netfloor (read, CRC-32C, send; no more)",
	"ssh-cat":     "ssh HOST 'cat > /dev/null' < FILE",
	"scp+sync":    "scp (-r for a tree) + sync -f",
	"croc+sync":   "croc send, croc --yes, local relay + sync -f",
}

// cpuLabels say what the cpu section ran, each pinned as label adds.
var cpuLabels = map[string]string{
	"ferry":         "ferry -z none (code)",
	"ferry-plain":   "ferry --plain -z none",
	"netfloor":      "netfloor (read, CRC-32C, send)",
	"netfloor-seal": "netfloor -seal (and ferry's cipher)",
}

func label(section, tool string) string {
	if section == "links" {
		return tool
	}
	if l, ok := cpuLabels[tool]; ok && section == "cpu" {
		return l + ", sender CPU 0, receiver CPU 1"
	}
	if l, ok := labels[tool]; ok {
		return l
	}
	return tool
}

func fmtNum(v float64, decimals int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

func writeMarkdown(w io.Writer, r *run, quick bool) {
	fmt.Fprintln(w, "# ferry benchmark results")
	fmt.Fprintln(w)
	if quick {
		fmt.Fprintln(w, "**QUICK smoke run**: every size shrunk (QUICK=1), so these figures only show that the")
		fmt.Fprintln(w, "benchmark works; they say nothing about ferry's speed.")
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "Made by `bench/run`; method and columns in bench/README.md. Times are medians of the rounds")
	fmt.Fprintln(w, "that succeeded (`*`: some rounds failed); MB/s = 10^6 bytes of file data per second; RSS =")
	fmt.Fprintln(w, "peak resident set in MiB, the largest over the rounds; CPU = user + system seconds, median.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "```")
	for _, h := range r.header {
		fmt.Fprintln(w, h)
	}
	fmt.Fprintln(w, "```")
	for _, s := range r.sections() {
		fmt.Fprintf(w, "\n## %s\n", s)
		for _, c := range r.cases(s) {
			writeCase(w, r, s, c)
		}
	}
	fmt.Fprintln(w, "\n## targets (issue 18)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | measured | verdict |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, t := range targets(r) {
		fmt.Fprintf(w, "| %s | %s | %s |\n", cell(t.name), cell(t.measured), t.verdict)
	}
	if len(r.notes) > 0 {
		fmt.Fprintln(w, "\n## notes")
		fmt.Fprintln(w)
		for _, n := range r.notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

func writeCase(w io.Writer, r *run, section, cas string) {
	var gs []*group
	files := false
	for _, g := range r.groups {
		if g.section == section && g.cas == cas {
			gs = append(gs, g)
			files = files || g.rounds[0].files > 0
		}
	}
	perGiB := section == "cpu"
	fmt.Fprintf(w, "\n### %s: %s\n\n", section, cas)
	cols := []string{"tool", "what runs", "median s", "MB/s"}
	if files {
		cols = append(cols, "files/s")
	}
	cols = append(cols, "rounds s", "send RSS MiB", "recv RSS MiB", "send CPU s", "recv CPU s")
	if perGiB {
		cols = append(cols, "send CPU s/GiB", "recv CPU s/GiB")
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(cols, " | "))
	fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(cols)))
	for _, g := range gs {
		med := g.secs()
		medS := fmtNum(med, 3)
		if n := g.failed(); n == len(g.rounds) {
			medS = "FAILED"
		} else if n > 0 {
			medS += "*"
		}
		row := []string{g.tool, cell(label(section, g.tool)), medS, fmtNum(g.bytesPerSec()/1e6, 1)}
		if files {
			row = append(row, fmtNum(float64(g.rounds[0].files)/med, 0))
		}
		var rounds []string
		for _, x := range g.rounds {
			if x.ok {
				rounds = append(rounds, fmtNum(x.secs, 3))
			} else {
				rounds = append(rounds, "FAILED")
			}
		}
		rs, rr := g.maxRSS()
		cs, cr := g.cpu()
		row = append(row, strings.Join(rounds, " "), fmtNum(rs, 1), fmtNum(rr, 1), fmtNum(cs, 2), fmtNum(cr, 2))
		if perGiB {
			gib := float64(g.rounds[0].bytes) / (1 << 30)
			row = append(row, fmtNum(cs/gib, 2), fmtNum(cr/gib, 2))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
}

// writeChartData writes one line per tool of every case that has its
// section's baseline: x position, "case: tool" label, median time relative
// to the baseline's, and 1 for ferry's bars, 0 for the others. A blank x
// step separates cases.
func writeChartData(w io.Writer, r *run) {
	fmt.Fprintln(w, "# x label relative_time is_ferry")
	x := 0
	for _, s := range r.sections() {
		for _, c := range r.cases(s) {
			base := r.find(s, c, baselines[s])
			if base == nil || math.IsNaN(base.secs()) {
				continue
			}
			for _, g := range r.groups {
				if g.section != s || g.cas != c || math.IsNaN(g.secs()) {
					continue
				}
				isFerry := 0
				if strings.HasPrefix(g.tool, "ferry") {
					isFerry = 1
				}
				fmt.Fprintf(w, "%d \"%s %s: %s\" %.4f %d\n", x, s, c, g.tool, g.secs()/base.secs(), isFerry)
				x++
			}
			x++
		}
	}
}
