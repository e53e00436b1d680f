#!/bin/sh
# tests/bench/section_scale.sh — the scale section of `make bench` (issue 5):
# 10,000 concurrent connections held open, most of them idle, a steady
# subset playing ping-pong. For each server (coronet inline and thread, raw
# epoll, libuv): the server's resident memory per connection, and the
# latency of the active connections while the idle ones sit, next to the
# same active connections with no idle ones around (a fresh server and a
# client with only those connections).
#
# Client and server are separate processes (20,000 open files per process
# here). Run by tests/bench/run.sh with its environment. Knobs:
#   SCALE_CONNS      connections held (default 10000)
#   SCALE_ACTIVE     of which active (default 100)
#   SCALE_SECONDS    ping-pong time once all are connected (default 3; QUICK 1)
#   SCALE_REPS       repetitions (default 3; QUICK 1)
#   SCALE_PLACEMENT  pinned or unpinned (default pinned when possible)
#   ECHO_SYSTEMS     subset of "raw-epoll inline thread libuv"
#
# Memory: VmRSS of the server (/proc/PID/status) once it listens, and the
# largest VmRSS sampled every 50 ms while the client runs (all connections
# are up then: the client connects them all before the ping-pong starts).
# (max - before) / connections is the figure; kernel socket buffers are not
# in it (they are not the server's memory). Target: <= 6 KiB per
# connection with zero errors.
#
# Writes bench-out/scale_raw.csv (every run) and scale.csv (medians).
set -u
HERE=$(dirname "$0")
. "$HERE/echo_lib.sh"

N=${SCALE_CONNS:-10000}
A=${SCALE_ACTIVE:-100}
if [ -n "$QUICK" ]; then
	SECS=${SCALE_SECONDS:-1}
	REPS=${SCALE_REPS:-1}
else
	SECS=${SCALE_SECONDS:-3}
	REPS=${SCALE_REPS:-3}
fi
PL=${SCALE_PLACEMENT:-pinned}
if [ "$PL" = pinned ] && [ -z "$CAN_PIN" ]; then
	echo "pinned placement not possible here (taskset, 2 CPUs): running unpinned"
	PL=unpinned
fi
if [ -n "${ECHO_SYSTEMS:-}" ]; then
	want=$ECHO_SYSTEMS
	SYSTEMS=
	for s in $want; do
		case " $ALL_SYSTEMS " in *" $s "*) [ -z "$(sys_skip "$s")" ] && SYSTEMS="$SYSTEMS $s" ;; esac
	done
fi
if [ ! -x "$CLIENT" ]; then
	echo "scale: skipped: $CLIENT was not built"
	exit 1
fi
if [ "$N" -gt $((NOFILE - 64)) ]; then
	echo "scale: skipped: $N connections need more than the fd limit $NOFILE"
	exit 1
fi
TO=
command -v timeout >/dev/null 2>&1 && TO="timeout -s KILL $(awk -v s="$SECS" 'BEGIN { printf "%d", s + 180 }')"

echo "scale: $N connections held, $A of them active (closed-loop ping-pong, 64 B), the rest idle"
echo "machine: $(machine_line)"
echo "placement $(placement_note "$PL"); $REPS repetitions of ${SECS}s; medians"
echo "systems:$(for s in $SYSTEMS; do printf ' %s;' "$(sys_label "$s")"; done)"
[ -n "$SKIP_NOTES" ] && printf '%s' "$SKIP_NOTES"
echo

RAW="$OUT/scale_raw.csv"
echo "system,rep,kind,conns,active,rss_before_kib,rss_max_kib,kib_per_conn,rt_per_s,p50_us,p99_us,p999_us,errors" >"$RAW"

# run_one SYSTEM REP KIND CONNS: one fresh server, one client; appends a row.
run_one() {
	sys=$1 rep=$2 kind=$3 conns=$4
	if ! srv_start "$sys" "$PL"; then
		echo "$sys,$rep,$kind,$conns,$A,NaN,NaN,NaN,NaN,NaN,NaN,NaN,1" >>"$RAW"
		return
	fi
	before=$(rss_kib "$SRV_PID")
	max=$before
	# shellcheck disable=SC2046
	$TO $(client_pin "$PL") "$CLIENT" --port "$SRV_PORT" --conns "$conns" --active "$A" \
		--size 64 --seconds "$SECS" --quiet --label "$sys" >"$TMPD/cli.out" 2>"$TMPD/cli.err" &
	cpid=$!
	while kill -0 "$cpid" 2>/dev/null; do
		r=$(rss_kib "$SRV_PID")
		[ -n "$r" ] && [ "$r" -gt "$max" ] && max=$r
		sleep 0.05
	done
	wait "$cpid"
	rc=$?
	srv_stop
	[ "$rc" -ne 0 ] && echo "  $sys $kind rep $rep: client exit $rc: $(head -c 300 "$TMPD/cli.err" | tr '\n' ' ')" >&2
	f=$TMPD/cli.out
	err=$(( $(kv0 connect_errors "$f") + $(kv0 io_errors "$f") + $(kv0 mismatches "$f") + \
		$(kv0 conn_errors "$TMPD/srv.out") ))
	[ "$rc" -ne 0 ] && [ "$err" -eq 0 ] && err=1
	awk -v sys="$sys" -v rep="$rep" -v kind="$kind" -v conns="$conns" -v a="$A" \
		-v b="$before" -v m="$max" -v rt="$(nan "$(kv rt_per_s "$f")")" \
		-v p50="$(nan "$(kv p50_us "$f")")" -v p99="$(nan "$(kv p99_us "$f")")" \
		-v p999="$(nan "$(kv p999_us "$f")")" -v err="$err" \
		'BEGIN { printf "%s,%s,%s,%s,%s,%s,%s,%.2f,%s,%s,%s,%s,%d\n", sys, rep, kind, conns, a,
			b, m, (m - b) / conns, rt, p50, p99, p999, err }' >>"$RAW"
}

rep=1
while [ "$rep" -le "$REPS" ]; do
	# A different system first in each repetition, and the two kinds in
	# alternating order: a neighbour's burst on a shared machine then
	# does not always land on the same one.
	# shellcheck disable=SC2086
	k=$(( (rep - 1) % $(echo $SYSTEMS | wc -w) ))
	# shellcheck disable=SC2086
	order=$(echo $SYSTEMS | tr ' ' '\n' | awk -v k="$k" '{ a[NR] = $0 } END { for (i = 0; i < NR; i++) print a[(i + k) % NR + 1] }')
	for sys in $order; do
		if [ $((rep % 2)) -eq 1 ]; then
			run_one "$sys" "$rep" idle "$N"
			run_one "$sys" "$rep" alone "$A"
		else
			run_one "$sys" "$rep" alone "$A"
			run_one "$sys" "$rep" idle "$N"
		fi
	done
	echo "  repetition $rep done"
	rep=$((rep + 1))
done
echo

awk -F, -v systems="$SYSTEMS" -v n="$N" -v a="$A" -v out="$OUT/scale.csv" '
function median(arr, k,    i, j, t) {
	for (i = 2; i <= k; i++) {
		t = arr[i]
		for (j = i - 1; j >= 1 && arr[j] > t; j--)
			arr[j + 1] = arr[j]
		arr[j + 1] = t
	}
	return k % 2 ? arr[(k + 1) / 2] : (arr[k / 2] + arr[k / 2 + 1]) / 2
}
function med(key, name,    i, k, arr) {
	k = 0
	for (i = 1; i <= cnt[key]; i++)
		if (v[key, name, i] != "NaN")
			arr[++k] = v[key, name, i] + 0
	return k ? median(arr, k) : ""
}
function f(x, fm) { return x == "" ? "-" : sprintf(fm, x) }
function label(s) {
	return s == "raw-epoll" ? "raw epoll" : s == "inline" ? "coronet inline" : \
	       s == "thread" ? "coronet thread" : s
}
NR == 1 { next }
{
	key = $1 SUBSEP $3
	i = ++cnt[key]
	v[key, "before", i] = $6; v[key, "max", i] = $7; v[key, "per", i] = $8
	v[key, "rt", i] = $9; v[key, "p50", i] = $10; v[key, "p99", i] = $11; v[key, "p999", i] = $12
	err[key] += $13
}
END {
	ny = split(systems, Y, " ")
	printf "%-15s %10s %10s %9s | %-32s | %-32s | %s\n", "", "server RSS", "", "", \
	       sprintf("%d active among %d", a, n), sprintf("%d active alone", a), ""
	printf "%-15s %10s %10s %9s | %8s %7s %7s %7s | %8s %7s %7s %7s | %s\n",
	       "system", "before KiB", "held KiB", "KiB/conn", "rt/s", "p50 us", "p99 us", "p99.9",
	       "rt/s", "p50 us", "p99 us", "p99.9", "errors"
	print "system,conns,active,rss_before_kib,rss_held_kib,kib_per_conn,rt_per_s,p50_us,p99_us,p999_us," \
	      "alone_rt_per_s,alone_p50_us,alone_p99_us,alone_p999_us,errors" > out
	for (iy = 1; iy <= ny; iy++) {
		s = Y[iy]; ki = s SUBSEP "idle"; ka = s SUBSEP "alone"
		if (!(ki in cnt))
			continue
		e = err[ki] + err[ka]
		per = med(ki, "per")
		printf "%-15s %10s %10s %9s | %8s %7s %7s %7s | %8s %7s %7s %7s | %d\n", label(s),
		       f(med(ki, "before"), "%.0f"), f(med(ki, "max"), "%.0f"), f(per, "%.2f"),
		       f(med(ki, "rt"), "%.0f"), f(med(ki, "p50"), "%.1f"), f(med(ki, "p99"), "%.1f"),
		       f(med(ki, "p999"), "%.1f"), f(med(ka, "rt"), "%.0f"), f(med(ka, "p50"), "%.1f"),
		       f(med(ka, "p99"), "%.1f"), f(med(ka, "p999"), "%.1f"), e
		print s, n, a, med(ki, "before"), med(ki, "max"), per, med(ki, "rt"), med(ki, "p50"),
		      med(ki, "p99"), med(ki, "p999"), med(ka, "rt"), med(ka, "p50"), med(ka, "p99"),
		      med(ka, "p999"), e > out
		P[s] = per; E[s] = e
	}
	printf "\nTargets (issue 5; issue 13: 6 KiB)\n"
	for (iy = 1; iy <= ny; iy++) {
		s = Y[iy]
		if (s != "inline" && s != "thread")
			continue
		if (!(s in P))
			continue
		printf "  %-15s %d connections held, errors %d: %-6s; server RSS %s KiB/conn: %-6s (target <= 6 KiB)\n",
		       label(s), n, E[s], E[s] == 0 ? "MET" : "MISSED", f(P[s], "%.2f"),
		       P[s] != "" && P[s] <= 6 ? "MET" : "MISSED"
	}
}' OFS=, "$RAW"
echo
echo "CSV: $RAW (every run), $OUT/scale.csv (medians)"
exit 0
