# bench/plot.gp - the chart of bench/run: every tool's median time in each
# case, relative to the case's baseline (what a user would run instead:
# nc, nc + sync -f, tar | nc + sync -f; for cpu, ferry --plain). ferry's bars
# are blue, the others grey; below the dashed line at 1 is faster.
# Use: gnuplot -e "data='results.dat'; out='results.png'" bench/plot.gp
# (results.dat comes from bench/report: x, "section case: tool", ratio, is ferry).
if (!exists("data")) data = 'results.dat'
if (!exists("out")) out = 'results.png'
set terminal pngcairo size 1400,800 font ",10"
set output out
set title "ferry benchmark: median time relative to each case's baseline (lower is faster)"
set ylabel "time / baseline's time"
set style fill solid 0.85 border -1
set boxwidth 0.8
set xtics rotate by -50 left font ",9" nomirror
set bmargin 16
set rmargin 20
set yrange [0:*]
set grid ytics
set key off
set arrow from graph 0, first 1 to graph 1, first 1 nohead dashtype 2 lw 1.5
plot data using 1:3:($4 > 0 ? 0x1f77b4 : 0x9a9a9a):xtic(2) with boxes lc rgb variable, \
	'' using 1:3:(sprintf("%.2f", $3)) with labels offset 0,0.6 font ",8"
