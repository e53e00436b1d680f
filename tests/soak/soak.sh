#!/bin/sh
# tests/soak/soak.sh — runs the soak (see soak.mk) and prints one report per
# netpoll mode. Server and client are separate processes, each with up to
# 20,000 fds (ulimit -n), so 10,000 connections fit on both sides.
#
# Usage: sh tests/soak/soak.sh BUILD_DIR
# Environment: SOAK_SECONDS (60), SOAK_CONNS (10000), SOAK_MODES
# ("thread inline"), SOAK_RSS_MB (32: the most the server's RSS may grow
# between "warm", when every connection is up, and the end of the load).
#
# Verdict per mode, all must hold: the client saw no error and every byte
# its good clients sent came back; the server's fd count after the clients
# left equals the count before they came; RSS growth under load stays within
# SOAK_RSS_MB; the server stops on SIGTERM within 30 s and exits 0.
set -u
build=${1:-build}
secs=${SOAK_SECONDS:-60}
conns=${SOAK_CONNS:-10000}
modes=${SOAK_MODES:-thread inline}
rss_mb=${SOAK_RSS_MB:-32}
server=$build/examples/echo_server
client=$build/soak/soak_client
out=$build/soak
mkdir -p "$out"

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
nfd() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null; }

status=0
for mode in $modes; do
	echo "==== soak: mode $mode, $conns connections, $secs s (fd limit $(ulimit -n))"
	"$server" --port 0 --mode "$mode" > "$out/server-$mode.out" 2>&1 &
	spid=$!
	port=
	for _ in $(seq 100); do
		port=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\).*/\1/p' "$out/server-$mode.out")
		[ -n "$port" ] && break
		sleep 0.1
	done
	if [ -z "$port" ]; then
		echo "soak: the server did not start"; cat "$out/server-$mode.out"
		kill "$spid" 2>/dev/null; status=1; continue
	fi
	rss0=$(rss "$spid") fd0=$(nfd "$spid")
	t0=$(date +%s)
	"$client" --port "$port" --conns "$conns" --seconds "$secs" > "$out/client-$mode.out" 2>&1 &
	cpid=$!
	warm_at=$((secs / 4 > 10 ? 10 : secs / 4 + 1))
	rss_warm= rss_last= fd_peak=$fd0 rss_peak=$rss0
	while kill -0 "$cpid" 2>/dev/null; do
		sleep 1
		el=$(( $(date +%s) - t0 ))
		r=$(rss "$spid") f=$(nfd "$spid")
		[ -n "$r" ] || break
		[ "$r" -gt "$rss_peak" ] && rss_peak=$r
		[ "$f" -gt "$fd_peak" ] && fd_peak=$f
		[ -z "$rss_warm" ] && [ "$el" -ge "$warm_at" ] && rss_warm=$r
		[ "$el" -le "$((secs - 2))" ] && rss_last=$r
	done
	wait "$cpid"
	crc=$?
	# The server closes its side as each client leaves: give it a moment.
	for _ in $(seq 50); do
		[ "$(nfd "$spid")" -le "$fd0" ] && break
		sleep 0.1
	done
	rss1=$(rss "$spid") fd1=$(nfd "$spid") scpu=$(cpu "$spid")
	kill -TERM "$spid"
	srs=0
	for _ in $(seq 300); do
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$spid" 2>/dev/null; then
		echo "soak: the server hangs on SIGTERM"; kill -KILL "$spid"; srs=1
	fi
	wait "$spid" || srs=1
	: "${rss_warm:=$rss0}" "${rss_last:=$rss_peak}"
	growth=$(( (rss_last - rss_warm) / 1024 ))
	verdict=ok
	why=
	[ "$crc" -eq 0 ] || { verdict=FAILED; why="$why client-errors"; }
	[ "$fd1" -eq "$fd0" ] || { verdict=FAILED; why="$why fd-leak"; }
	[ "$growth" -le "$rss_mb" ] || { verdict=FAILED; why="$why rss-growth"; }
	[ "$srs" -eq 0 ] || { verdict=FAILED; why="$why server-exit"; }
	[ "$verdict" = ok ] || status=1
	echo "---- soak report: mode=$mode connections=$conns seconds=$secs"
	grep '^client:' "$out/client-$mode.out"
	grep -v '^client:' "$out/client-$mode.out" | head -5
	echo "server: rss_kib start=$rss0 warm(${warm_at}s)=$rss_warm end_of_load=$rss_last peak=$rss_peak after_clients_left=$rss1 (growth under load ${growth} MiB, bound $rss_mb MiB)"
	echo "server: fds start=$fd0 peak=$fd_peak after_clients_left=$fd1 ($( [ "$fd1" -eq "$fd0" ] && echo no leak || echo LEAK))"
	echo "server: cpu_ticks=$scpu"
	grep 'echo_server: stopped\|echo_server: stats' "$out/server-$mode.out" | sed 's/^/server: /'
	echo "soak $mode: $verdict${why:+ ($why )}"
done
exit $status
