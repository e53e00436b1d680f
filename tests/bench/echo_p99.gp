# tests/bench/echo_p99.gp — p99 round-trip latency against connections (log
# x, log y), every system, one panel per message size and CPU placement.
# Writes OUT/echo_p99.png. Variables: see echo_common.gp.
load sprintf("%s/echo_common.gp", system("dirname '" . ARG0 . "'"))
set output out . "/echo_p99.png"
set logscale xy
set format y "%.0s%c"
set xrange [0.7:15000]
set xlabel "concurrent connections (closed loop, one message in flight each)"
set ylabel "p99 latency, microseconds (median)"
set key top left
set multiplot layout ns, np title "Echo: 99th percentile round-trip latency" font ",12"
do for [is = 1:ns] {
	do for [ip = 1:np] {
		if (!has_data(ip, is)) {
			set multiplot next
			continue
		}
		set title panel(ip, is)
		plot for [i = 1:ny] datfile(ip, is) using 1:(column(1 + ny + i)) with linespoints \
		     lw 2 pt 7 ps 0.8 lc rgb color(word(systems, i)) title name(word(systems, i))
	}
}
unset multiplot
