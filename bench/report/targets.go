package main

import (
	"fmt"
	"math"
	"strings"
)

// target is one row of the targets table: a target of issue 18 point 2,
// what the run measured, and whether that meets it.
type target struct{ name, measured, verdict string }

// bound says which side of its limit meets a target.
type bound int

const (
	atLeast bound = iota // >= limit
	atMost               // <= limit
	below                // < limit
)

// ratioTarget is the target "num/den >= limit" (or <= limit): a ratio of
// two groups' figures. A group that is missing or failed every round gives
// no ratio, and says which.
func ratioTarget(name string, num, den *group, fig func(*group) float64, limit float64, dir bound, unit string) target {
	for _, g := range []*group{num, den} {
		if t, bad := unusable(name, g); bad {
			return t
		}
	}
	return limitTarget(name, fig(num)/fig(den), limit, dir, unit, "")
}

// unusable says why g gives no figure, if it gives none.
func unusable(name string, g *group) (target, bool) {
	if g == nil {
		return target{name, "not run", "n/a"}, true
	}
	if math.IsNaN(g.secs()) {
		return target{name, g.tool + " FAILED", "not met"}, true
	}
	return target{}, false
}

// limitTarget compares v with limit; how says where v comes from.
func limitTarget(name string, v, limit float64, dir bound, unit, how string) target {
	if math.IsNaN(v) {
		return target{name, "n/a", "n/a"}
	}
	met := v >= limit
	switch dir {
	case atMost:
		met = v <= limit
	case below:
		met = v < limit
	}
	measured := fmt.Sprintf("%.2f%s", v, unit)
	if how != "" {
		measured += " (" + how + ")"
	}
	if met {
		return target{name, measured, "met"}
	}
	return target{name, measured, "not met"}
}

func speed(g *group) float64 { return g.bytesPerSec() }
func secs(g *group) float64  { return g.secs() }

func targets(r *run) []target {
	var ts []target
	for _, c := range r.cases("net") {
		// Whether 1.5x nc is within the machine at all: netfloor does
		// no more than read, checksum and send.
		ts = append(ts,
			ratioTarget("net "+c+": floor: netfloor >= 1.5x nc (throughput)",
				r.find("net", c, "netfloor"), r.find("net", c, "nc"), speed, 1.5, atLeast, "x"),
			ratioTarget("net "+c+": ferry --plain -z none >= 1.5x nc (throughput)",
				r.find("net", c, "ferry-plain"), r.find("net", c, "nc"), speed, 1.5, atLeast, "x"),
			ratioTarget("net "+c+": ferry --plain -z none time <= 1.10x netfloor's",
				r.find("net", c, "ferry-plain"), r.find("net", c, "netfloor"), secs, 1.10, atMost, "x"))
	}
	for _, c := range r.cases("disk") {
		// Whether 2x nc + sync -f is within the machine at all: the
		// disk alone, with no network, must take at most half its time.
		ts = append(ts, ratioTarget("disk "+c+": floor: dd conv=fsync (no network) time <= 0.5x nc + sync -f's",
			r.find("disk", c, "dd-fsync"), r.find("disk", c, "nc+sync"), secs, 0.5, atMost, "x"))
		for _, tool := range []string{"ferry-plain", "ferry"} {
			ts = append(ts,
				ratioTarget("disk "+c+": "+tool+" >= 2x nc + sync -f (throughput)",
					r.find("disk", c, tool), r.find("disk", c, "nc+sync"), speed, 2, atLeast, "x"),
				ratioTarget("disk "+c+": "+tool+" time <= 1.10x diskfloor's",
					r.find("disk", c, tool), r.find("disk", c, "diskfloor"), secs, 1.10, atMost, "x"),
				ratioTarget("disk "+c+": "+tool+" time <= 1.10x dd conv=fsync's",
					r.find("disk", c, tool), r.find("disk", c, "dd-fsync"), secs, 1.10, atMost, "x"))
		}
	}
	for _, c := range r.cases("small") {
		ts = append(ts,
			ratioTarget("small "+c+": ferry time <= 1.15x SPEC floor's (specfloor -p)",
				r.find("small", c, "ferry"), r.find("small", c, "specfloor-p"), secs, 1.15, atMost, "x"),
			ratioTarget("small "+c+": ferry time < tar | nc + sync -f's",
				r.find("small", c, "ferry"), r.find("small", c, "tar+sync"), secs, 1, below, "x"),
			// Whether 1.15x is within Go's reach: treefloor is the
			// SPEC floor in Go, with the checksum and ack the promise
			// needs, and nothing of ferry's design.
			ratioTarget("small "+c+": floor: treefloor (Go) time <= 1.15x SPEC floor's",
				r.find("small", c, "treefloor"), r.find("small", c, "specfloor-p"), secs, 1.15, atMost, "x"),
			ratioTarget("small "+c+": ferry --plain time <= 1.10x treefloor's",
				r.find("small", c, "ferry-plain"), r.find("small", c, "treefloor"), secs, 1.10, atMost, "x"))
	}
	for _, c := range r.cases("cpu") {
		enc := r.find("cpu", c, "ferry")
		// Whether 0.8x is within the machine at all: netfloor -seal
		// adds ferry's cipher, and nothing else, to netfloor.
		ts = append(ts,
			ratioTarget("cpu "+c+": floor: netfloor -seal >= 0.8x netfloor (throughput)",
				r.find("cpu", c, "netfloor-seal"), r.find("cpu", c, "netfloor"), speed, 0.8, atLeast, "x"),
			ratioTarget("cpu "+c+": encrypted, own cores, >= 0.8x --plain (throughput)",
				enc, r.find("cpu", c, "ferry-plain"), speed, 0.8, atLeast, "x"),
			ratioTarget("cpu "+c+": encrypted time <= 1.10x netfloor -seal's",
				enc, r.find("cpu", c, "netfloor-seal"), secs, 1.10, atMost, "x"),
			ratioTarget("cpu "+c+": --plain time <= 1.10x netfloor's",
				r.find("cpu", c, "ferry-plain"), r.find("cpu", c, "netfloor"), secs, 1.10, atMost, "x"))
		name := "cpu " + c + ": encrypted, own cores, >= 1.2 GB/s"
		if t, bad := unusable(name, enc); bad {
			ts = append(ts, t)
		} else {
			ts = append(ts, limitTarget(name, speed(enc)/1e9, 1.2, atLeast, " GB/s", ""))
		}
	}
	ts = append(ts, rssTargets(r)...)
	return append(ts, linksTargets(r)...)
}

// rssTargets: the largest peak RSS of any ferry side, in every case but the
// tree, then in the tree (section rss).
func rssTargets(r *run) []target {
	var ts []target
	for _, tree := range []bool{false, true} {
		name := "peak RSS <= 32 MiB per side, every ferry case"
		if tree {
			name = "peak RSS <= 32 MiB per side, the tree (section rss)"
		}
		worst, where := math.NaN(), ""
		for _, g := range r.groups {
			if !strings.HasPrefix(g.tool, "ferry") || (g.section == "rss") != tree {
				continue
			}
			s, rv := g.maxRSS()
			for _, side := range []struct {
				v    float64
				name string
			}{{s, "send"}, {rv, "recv"}} {
				if !math.IsNaN(side.v) && (math.IsNaN(worst) || side.v > worst) {
					worst, where = side.v, fmt.Sprintf("%s side of %s %s %s", side.name, g.section, g.cas, g.tool)
				}
			}
		}
		if where == "" {
			ts = append(ts, target{name, "not run", "n/a"})
			continue
		}
		ts = append(ts, limitTarget(name, worst, 32, atMost, " MiB", where))
	}
	return ts
}

// linksTargets reads bench/links.sh's cases: in each, ferry -z auto against
// the fastest fixed mode (ferry-none, ferry-s2, ferry-zstd), and on text at
// 100 Mbit against zstd -1 | nc (a tool whose name starts with zstd).
func linksTargets(r *run) []target {
	var ts []target
	for _, c := range r.cases("links") {
		var auto, best, zstd *group
		for _, g := range r.groups {
			if g.section != "links" || g.cas != c || math.IsNaN(g.secs()) {
				continue
			}
			switch {
			case strings.HasPrefix(g.tool, "zstd"):
				zstd = g
			case !strings.HasPrefix(g.tool, "ferry") || strings.Contains(g.tool, "-p"):
				// nc, and parallel streams, which are not a compression mode
			case strings.Contains(g.tool, "auto"):
				if auto == nil {
					auto = g
				}
			case strings.HasSuffix(g.tool, "none") || strings.HasSuffix(g.tool, "s2") || strings.HasSuffix(g.tool, "zstd"):
				if best == nil || speed(g) > speed(best) {
					best = g
				}
			}
		}
		if auto == nil || best == nil {
			continue
		}
		ts = append(ts, ratioTarget("links "+c+": -z auto >= 0.9x best fixed mode ("+best.tool+")",
			auto, best, speed, 0.9, atLeast, "x"))
		if strings.Contains(c, "100mbit") && strings.Contains(c, "text") {
			ts = append(ts, ratioTarget("links "+c+": -z auto >= zstd -1 | nc", auto, zstd, speed, 1, atLeast, "x"))
		}
	}
	if len(ts) == 0 {
		ts = append(ts, target{"links: -z auto >= 0.9x best fixed mode; >= zstd -1 | nc on text at 100 Mbit", "not run", "n/a"})
	}
	return ts
}
