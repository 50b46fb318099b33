package main

import (
	"math"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name string
		in   []float64
		want float64
	}{
		{"odd", []float64{3, 1, 2}, 2},
		{"even", []float64{4, 1, 3, 2}, 2.5},
		{"skips NaN", []float64{nan, 5, nan}, 5},
		{"none", []float64{nan}, nan},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := median(tc.in)
			if got != tc.want && !(math.IsNaN(got) && math.IsNaN(tc.want)) {
				t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

// results is a run in which ferry meets some targets and misses others.
const results = `ferry benchmark (bench/run)
  commit:   abc1234
RESULT section=net case=2GiB-random tool=ferry-plain round=1 bytes=2000 secs=1.000 send_rss_mib=7.5 recv_rss_mib=6.0 send_cpu_s=0.5 recv_cpu_s=0.4 status=ok
RESULT section=net case=2GiB-random tool=nc round=1 bytes=2000 secs=2.000 send_rss_mib=1.9 recv_rss_mib=1.6 send_cpu_s=0.1 recv_cpu_s=0.1 status=ok
RESULT section=net case=2GiB-random tool=netfloor round=1 bytes=2000 secs=0.800 send_rss_mib=1.9 recv_rss_mib=1.6 send_cpu_s=0.1 recv_cpu_s=0.1 status=ok
RESULT section=net case=2GiB-random tool=ferry-plain round=2 bytes=2000 secs=NA send_rss_mib=? recv_rss_mib=? send_cpu_s=? recv_cpu_s=? status=FAILED
RESULT section=disk case=2GiB-random tool=ferry round=1 bytes=2000 secs=1.100 send_rss_mib=40.0 recv_rss_mib=6.0 send_cpu_s=0.5 recv_cpu_s=0.4 status=ok
RESULT section=disk case=2GiB-random tool=nc+sync round=1 bytes=2000 secs=2.000 send_rss_mib=1.9 recv_rss_mib=1.6 send_cpu_s=0.1 recv_cpu_s=0.1 status=ok
RESULT section=disk case=2GiB-random tool=diskfloor round=1 bytes=2000 secs=1.000 send_rss_mib=1.9 recv_rss_mib=1.6 send_cpu_s=0.1 recv_cpu_s=0.1 status=ok
RESULT section=disk case=2GiB-random tool=dd-fsync round=1 bytes=2000 secs=1.500 send_rss_mib=1.9 recv_rss_mib=1.6 send_cpu_s=0.1 recv_cpu_s=0.1 status=ok
RESULT section=small case=10000x1KiB tool=ferry round=1 bytes=10240000 files=10000 secs=1.000 send_rss_mib=9 recv_rss_mib=9 send_cpu_s=0.5 recv_cpu_s=0.4 status=ok
RESULT section=small case=10000x1KiB tool=tar+sync round=1 bytes=10240000 files=10000 secs=1.000 send_rss_mib=3 recv_rss_mib=3 send_cpu_s=0.5 recv_cpu_s=0.4 status=ok
RESULT section=small case=10000x1KiB tool=specfloor-p round=1 bytes=10240000 files=10000 secs=NA send_rss_mib=3 recv_rss_mib=3 send_cpu_s=0.5 recv_cpu_s=0.4 status=FAILED
RESULT section=small case=10000x1KiB tool=ferry-plain round=1 bytes=10240000 files=10000 secs=0.900 send_rss_mib=9 recv_rss_mib=9 send_cpu_s=0.5 recv_cpu_s=0.4 status=ok
RESULT section=small case=10000x1KiB tool=treefloor round=1 bytes=10240000 files=10000 secs=0.800 send_rss_mib=3 recv_rss_mib=3 send_cpu_s=0.1 recv_cpu_s=0.3 status=ok
RESULT section=small case=10000x1KiB tool=ferry-b round=1 bytes=10240000 files=10000 secs=0.900 send_rss_mib=9 recv_rss_mib=9 send_cpu_s=0.5 recv_cpu_s=0.4 status=ok
RESULT section=links case=100mbit-text tool=ferry-auto round=1 bytes=1000 secs=1.0 send_rss_mib=9 recv_rss_mib=9 send_cpu_s=0.5 recv_cpu_s=0.4 status=ok
RESULT section=links case=100mbit-text tool=ferry-zstd round=1 bytes=1000 secs=0.5 send_rss_mib=9 recv_rss_mib=9 send_cpu_s=0.5 recv_cpu_s=0.4 status=ok
RESULT section=links case=100mbit-text tool=ferry-none round=1 bytes=1000 secs=4.0 send_rss_mib=9 recv_rss_mib=9 send_cpu_s=0.5 recv_cpu_s=0.4 status=ok
RESULT section=links case=100mbit-text tool=zstd-nc round=1 bytes=1000 secs=1.0 send_rss_mib=3 recv_rss_mib=3 send_cpu_s=0.5 recv_cpu_s=0.4 status=ok
RESULT section=cpu case=2GiB-random-pinned tool=ferry round=1 bytes=2000 secs=1.700 send_rss_mib=7.5 recv_rss_mib=6.0 send_cpu_s=0.5 recv_cpu_s=0.4 status=ok
RESULT section=cpu case=2GiB-random-pinned tool=ferry-plain round=1 bytes=2000 secs=1.000 send_rss_mib=7.5 recv_rss_mib=6.0 send_cpu_s=0.5 recv_cpu_s=0.4 status=ok
RESULT section=cpu case=2GiB-random-pinned tool=netfloor round=1 bytes=2000 secs=0.900 send_rss_mib=1.9 recv_rss_mib=1.6 send_cpu_s=0.1 recv_cpu_s=0.1 status=ok
RESULT section=cpu case=2GiB-random-pinned tool=netfloor-seal round=1 bytes=2000 secs=1.600 send_rss_mib=1.9 recv_rss_mib=1.6 send_cpu_s=0.1 recv_cpu_s=0.1 status=ok
NOTE rss: skipped
`

func TestTargets(t *testing.T) {
	r, err := parse(strings.NewReader(results))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]target{}
	for _, tg := range targets(r) {
		got[tg.name] = tg
	}
	for _, tc := range []struct {
		name, target, measured, verdict string
	}{
		{"a failed round is left out of the median", "net 2GiB-random: ferry --plain -z none >= 1.5x nc (throughput)", "2.00x", "met"},
		{"the floor allows the target", "net 2GiB-random: floor: netfloor >= 1.5x nc (throughput)", "2.50x", "met"},
		{"ferry slower than its floor", "net 2GiB-random: ferry --plain -z none time <= 1.10x netfloor's", "1.25x", "not met"},
		{"the cipher alone rules a target out", "cpu 2GiB-random-pinned: floor: netfloor -seal >= 0.8x netfloor (throughput)", "0.56x", "not met"},
		{"encrypted within 10% of its floor", "cpu 2GiB-random-pinned: encrypted time <= 1.10x netfloor -seal's", "1.06x", "met"},
		{"plain against its floor, pinned", "cpu 2GiB-random-pinned: --plain time <= 1.10x netfloor's", "1.11x", "not met"},
		{"missing tool", "disk 2GiB-random: ferry-plain >= 2x nc + sync -f (throughput)", "not run", "n/a"},
		{"throughput ratio below target", "disk 2GiB-random: ferry >= 2x nc + sync -f (throughput)", "1.82x", "not met"},
		{"time ratio within 10%", "disk 2GiB-random: ferry time <= 1.10x diskfloor's", "1.10x", "met"},
		{"faster than the floor", "disk 2GiB-random: ferry time <= 1.10x dd conv=fsync's", "0.73x", "met"},
		{"the floor rules a target out", "disk 2GiB-random: floor: dd conv=fsync (no network) time <= 0.5x nc + sync -f's", "0.75x", "not met"},
		{"equal is not faster", "small 10000x1KiB: ferry time < tar | nc + sync -f's", "1.00x", "not met"},
		{"baseline failed every round", "small 10000x1KiB: ferry time <= 1.15x SPEC floor's (specfloor -p)", "specfloor-p FAILED", "not met"},
		{"plain against the Go floor", "small 10000x1KiB: ferry --plain time <= 1.10x treefloor's", "1.12x", "not met"},
		{"the Go floor's own baseline failed", "small 10000x1KiB: floor: treefloor (Go) time <= 1.15x SPEC floor's", "specfloor-p FAILED", "not met"},
		{"worst RSS of any ferry side", "peak RSS <= 32 MiB per side, every ferry case", "40.00 MiB (send side of disk 2GiB-random ferry)", "not met"},
		{"tree not run", "peak RSS <= 32 MiB per side, the tree (section rss)", "not run", "n/a"},
		{"auto against the best fixed mode", "links 100mbit-text: -z auto >= 0.9x best fixed mode (ferry-zstd)", "0.50x", "not met"},
		{"auto against zstd | nc on text at 100 Mbit", "links 100mbit-text: -z auto >= zstd -1 | nc", "1.00x", "met"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg, ok := got[tc.target]
			if !ok {
				t.Fatalf("no target %q among %v", tc.target, got)
			}
			if tg.measured != tc.measured || tg.verdict != tc.verdict {
				t.Errorf("%s: got %q, %q; want %q, %q", tc.target, tg.measured, tg.verdict, tc.measured, tc.verdict)
			}
		})
	}
}

func TestMarkdown(t *testing.T) {
	r, err := parse(strings.NewReader(results))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	writeMarkdown(&b, r, true)
	md := b.String()
	for _, want := range []string{
		"**QUICK smoke run**",
		"  commit:   abc1234",
		"| ferry-plain | ferry --plain -z none | 1.000* | 0.0 | 1.000 FAILED |",
		"| specfloor-p | SPEC floor (tar c \\| nc, nc -l \\| specfloor -p) | FAILED |",
		"- rss: skipped",
		"| ferry-b | ferry (code, -z auto), the FERRY_B binary | 0.900 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

func TestChartData(t *testing.T) {
	r, err := parse(strings.NewReader(results))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	writeChartData(&b, r)
	for _, want := range []string{
		`0 "net 2GiB-random: ferry-plain" 0.5000 1`,
		`1 "net 2GiB-random: nc" 1.0000 0`,
		`4 "disk 2GiB-random: ferry" 0.5500 1`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("chart data lacks %q:\n%s", want, b.String())
		}
	}
}
