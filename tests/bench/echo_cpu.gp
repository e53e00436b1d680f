# tests/bench/echo_cpu.gp — bar chart of server CPU time (user+sys) per round
# trip, grouped by connection count, one bar per system, one panel per
# message size and CPU placement. Writes OUT/echo_cpu.png. Variables: see
# echo_common.gp.
load sprintf("%s/echo_common.gp", system("dirname '" . ARG0 . "'"))
set output out . "/echo_cpu.png"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:*]
set xlabel "concurrent connections"
set ylabel "server CPU per round trip, microseconds (median)"
set key top left
set multiplot layout ns, np title "Echo: server CPU time per round trip (lower is better)" font ",12"
do for [is = 1:ns] {
	do for [ip = 1:np] {
		if (!has_data(ip, is)) {
			set multiplot next
			continue
		}
		set title panel(ip, is)
		plot for [i = 1:ny] datfile(ip, is) using (column(1 + 2 * ny + i)):xtic(1) \
		     lc rgb color(word(systems, i)) title name(word(systems, i))
	}
}
unset multiplot
