#!/bin/sh
# examples/demo.sh BUILD_DIR — the coronet demo, run by `make demo`.
#
# For each netpoll mode (thread, then inline): starts examples/echo_server on
# a free port (port 0; the port is read from its "listening on" line), drives
# it with tests/bench/echo_client for a few seconds, prints the client's figures,
# then sends SIGINT to the server and shows its clean-shutdown counts. Ends
# with a two-line comparison and exits non-zero if anything failed.
#
# Knobs (environment): DEMO_SECONDS (default 3), DEMO_CONNS (default 100),
# DEMO_SIZE (default 64 bytes). POSIX sh; everything it starts is stopped and
# its temporary folder removed on exit, also on Ctrl-C.

set -u

build=${1:-build}
secs=${DEMO_SECONDS:-3}
conns=${DEMO_CONNS:-100}
size=${DEMO_SIZE:-64}
server=$build/examples/echo_server
client=$build/bench/echo_client

for exe in "$server" "$client"; do
	if [ ! -x "$exe" ]; then
		echo "demo: $exe is missing; build it first (make examples BUILD=$build)" >&2
		exit 2
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/coronet-demo.XXXXXX") || exit 2
spid=

# shellcheck disable=SC2317 # called through the trap
cleanup() {
	if [ -n "$spid" ] && kill -0 "$spid" 2>/dev/null; then
		kill -KILL "$spid" 2>/dev/null
		wait "$spid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# kv KEY FILE: the value of KEY= on the last line of FILE that has it.
kv() {
	sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$2" | tail -n 1
}

failed=0
summary=$tmp/summary
: >"$summary"

for mode in thread inline; do
	log=$tmp/server.$mode
	echo "== echo_server --mode $mode"
	"$server" --port 0 --mode "$mode" >"$log" 2>&1 &
	spid=$!

	# The server prints its port once it listens; give it 5 s.
	port=
	tries=0
	while [ "$tries" -lt 50 ]; do
		port=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$log")
		[ -n "$port" ] && break
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.1
		tries=$((tries + 1))
	done
	if [ -z "$port" ]; then
		echo "demo: echo_server ($mode) did not start:" >&2
		cat "$log" >&2
		failed=1
		continue
	fi
	head -n 1 "$log"

	echo "== echo_client --conns $conns --size $size --seconds $secs (against $mode mode)"
	"$client" --port "$port" --conns "$conns" --size "$size" --seconds "$secs" \
		>"$tmp/client.$mode" 2>&1
	crc=$?
	cat "$tmp/client.$mode"
	if [ "$crc" -ne 0 ]; then
		echo "demo: echo_client failed against $mode mode (exit $crc)" >&2
		failed=1
	fi

	# Clean shutdown: SIGINT, then up to 10 s for the server to finish.
	kill -INT "$spid"
	tries=0
	while kill -0 "$spid" 2>/dev/null && [ "$tries" -lt 100 ]; do
		sleep 0.1
		tries=$((tries + 1))
	done
	if kill -0 "$spid" 2>/dev/null; then
		echo "demo: echo_server ($mode) did not stop within 10 s of SIGINT" >&2
		kill -KILL "$spid"
		failed=1
	fi
	wait "$spid"
	src=$?
	spid=
	sed -n '2,$p' "$log"
	if [ "$src" -ne 0 ]; then
		echo "demo: echo_server ($mode) exited with status $src" >&2
		failed=1
	fi
	echo

	# Wake system calls only exist where a netpoll thread wakes the scheduler.
	wakes=-
	[ "$mode" = thread ] && wakes=$(kv wakes_per_1000 "$log")
	printf '%-8s %8s %14s %9s %9s %16s\n' "$mode" "$conns" \
		"$(kv rt_per_s "$tmp/client.$mode")" "$(kv p50_us "$tmp/client.$mode")" \
		"$(kv p99_us "$tmp/client.$mode")" "$wakes" >>"$summary"
done

echo "== summary: $conns connections, $size-byte messages, ${secs} s each, client in inline mode"
printf '%-8s %8s %14s %9s %9s %16s\n' "server" "conns" "round trips/s" "p50 us" "p99 us" \
	"wakes/1000 compl"
cat "$summary"
if [ "$failed" -ne 0 ]; then
	echo "demo: FAILED (see above)" >&2
	exit 1
fi
exit 0
