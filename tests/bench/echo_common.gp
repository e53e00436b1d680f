# tests/bench/echo_common.gp — settings shared by the echo plots
# (echo_rtps.gp, echo_p99.gp, echo_cpu.gp), loaded by each of them.
# The caller (section_echo.sh) sets, with gnuplot -e:
#   out         folder with the echo_plot_PLACEMENT_SIZE.dat files (bench-out)
#   placements  e.g. "pinned unpinned"
#   sizes       e.g. "64 16384"
#   systems     the column order of the .dat files, e.g.
#               "raw-epoll inline thread libuv"
# Each .dat row: conns, then round trips/s for each system, then p99 latency
# (us) for each system, then server CPU per round trip (us) for each system.

if (!exists("out")) out = "bench-out"
if (!exists("placements")) placements = "pinned unpinned"
if (!exists("sizes")) sizes = "64 16384"
if (!exists("systems")) systems = "raw-epoll inline thread libuv"

np = words(placements)
ns = words(sizes)
ny = words(systems)

name(s) = s eq "raw-epoll" ? "raw epoll (baseline)" : \
          s eq "inline" ? "coronet inline" : \
          s eq "thread" ? "coronet thread" : s
# One colour per system in every plot, whichever systems are present.
color(s) = s eq "raw-epoll" ? "#404040" : s eq "inline" ? "#1f77b4" : \
           s eq "thread" ? "#d62728" : s eq "libuv" ? "#2ca02c" : "#9467bd"
where(p) = p eq "pinned" ? "server and client pinned to separate cores" : \
           "unpinned (kernel places both)"
size_name(s) = s + 0 >= 1024 ? sprintf("%d KiB", s / 1024) : sprintf("%s B", s)
datfile(ip, is) = sprintf("%s/echo_plot_%s_%s.dat", out, word(placements, ip), word(sizes, is))
# A placement may have been run for fewer sizes (QUICK=1): its panel stays
# empty.
has_data(ip, is) = system(sprintf("test -s '%s' && echo 1 || echo 0", datfile(ip, is))) + 0
panel(ip, is) = sprintf("%s messages, %s", size_name(word(sizes, is)), where(word(placements, ip)))

set terminal pngcairo size (np > 1 ? 1400 : 800), (ns > 1 ? 1000 : 550) font "sans,10"
set grid
set key top right box opaque font ",9"
set datafile missing "NaN"
