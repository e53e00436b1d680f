# tests/bench/echo_rtps.gp — echo round trips/s against connections (log x),
# every system, one panel per message size and CPU placement. Writes
# OUT/echo_rtps.png. Variables: see echo_common.gp.
load sprintf("%s/echo_common.gp", system("dirname '" . ARG0 . "'"))
set output out . "/echo_rtps.png"
set logscale x
set xrange [0.7:15000]
set yrange [0:*]
set format y "%.0s%c"
set xlabel "concurrent connections (closed loop, one message in flight each)"
set ylabel "round trips/s (median)"
set multiplot layout ns, np title "Echo: round trips per second (same client for every server)" font ",12"
do for [is = 1:ns] {
	do for [ip = 1:np] {
		if (!has_data(ip, is)) {
			set multiplot next
			continue
		}
		set title panel(ip, is)
		plot for [i = 1:ny] datfile(ip, is) using 1:(column(1 + i)) with linespoints \
		     lw 2 pt 7 ps 0.8 lc rgb color(word(systems, i)) title name(word(systems, i))
	}
}
unset multiplot
