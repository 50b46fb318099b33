# bench/plot.gp - the chart of bench/run: every tool's median time in each
# case, relative to the case's baseline (what a user would run instead:
# nc, nc + sync -f, tar | nc + sync -f; for cpu, ferry --plain). One
# horizontal bar a tool, so each has its label on its own line however
# many cases there are; ferry's bars are blue, the others grey; left of the
# dashed line at 1 is faster. Bars are cut at cap times the baseline, so
# that one very slow tool (croc) does not squeeze the rest into a sliver;
# a cut bar's label says so.
# Use: gnuplot -e "data='results.dat'; out='results.png'" bench/plot.gp
# (results.dat comes from bench/report: x, "section case: tool", ratio, is
# ferry; x leaves a gap between cases).
if (!exists("data")) data = 'results.dat'
if (!exists("out")) out = 'results.png'
stats data using 1:3 nooutput
rows = STATS_max_x + 1
set terminal pngcairo size 1100, 120 + 17 * rows font ",10"
set output out
set title "ferry benchmark: median time relative to each case's baseline (shorter is faster)"
set xlabel "time / baseline's time"
set style fill solid 0.85 border -1
set ytics font ",9" nomirror
set yrange [-rows:1]
cap = 5.0
w(r) = r > cap ? cap : r
set xrange [0:w(STATS_max_y) * 1.15]
set lmargin 36
set grid xtics
set key off
set arrow from first 1, graph 0 to first 1, graph 1 nohead dashtype 2 lw 1.5
plot data using (w($3)/2):(-$1):(w($3)/2):(0.4):($4 > 0 ? 0x1f77b4 : 0x9a9a9a):ytic(2) with boxxyerror lc rgb variable, \
	'' using (w($3)):(-$1):(sprintf(" %.2f%s", $3, $3 > cap ? " (bar cut)" : "")) with labels left font ",8"
