# tests/bench/echo_lib.sh — shared by section_echo.sh and section_scale.sh:
# which echo servers exist, how to start and stop one, and how to read a
# process's CPU time and memory from /proc. Sourced (". echo_lib.sh"), never
# run; POSIX sh. Everything here runs in the one shell of the section.
#
# The servers all take "--port 0" (pick a free port), print
# "... listening on HOST:PORT (mode M)" once ready, and on SIGINT print one
# "... stats key=value ..." line: the script reads both and nothing else.
#
# The variables set here are used by the sourcing scripts (SC2034); every
# shell we run under (dash, bash, macOS sh) has ulimit -n (SC3045).
# shellcheck disable=SC2034,SC3045

BIN=${BENCH_BIN_DIR:?BENCH_BIN_DIR is not set: run this through make bench}
EX=${BENCH_EX_DIR:-$BIN/../examples}
OUT=${BENCH_OUT:-bench-out}
QUICK=${QUICK:-}
[ "$QUICK" = 0 ] && QUICK=
mkdir -p "$OUT" || exit 1

CLIENT="$BIN/echo_client"
TMPD=$(mktemp -d "${TMPDIR:-/tmp}/cn-bench.XXXXXX") || exit 1
SRV_PID=
# A section killed by the run.sh timeout must not leave a server behind
# holding thousands of sockets.
cleanup() {
	[ -n "$SRV_PID" ] && kill -KILL "$SRV_PID" 2>/dev/null
	rm -rf "$TMPD"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 10,000 connections: one fd each on both sides, plus a few. The servers and
# the client raise their own soft limit too; doing it here covers a server
# that does not.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)

CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
NCPU=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)

# System names, in the order tables list them. Each has a binary (or
# "skipped: why") in sys_cmd/sys_skip.
ALL_SYSTEMS="raw-epoll inline thread libuv"

sys_label() {
	case $1 in
	raw-epoll) echo "raw epoll" ;;
	inline) echo "coronet inline" ;;
	thread) echo "coronet thread" ;;
	libuv) echo "libuv" ;;
	esac
}

sys_cmd() {
	case $1 in
	raw-epoll) echo "$BIN/raw_epoll_echo" ;;
	inline) echo "$EX/echo_server --mode inline" ;;
	thread) echo "$EX/echo_server --mode thread" ;;
	libuv) echo "$BIN/uv_echo" ;;
	esac
}

# Prints why a system cannot run here, or nothing.
sys_skip() {
	case $1 in
	raw-epoll)
		[ -x "$BIN/raw_epoll_echo" ] || echo "skipped: raw_epoll_echo not built (Linux only)" ;;
	inline | thread)
		[ -x "$EX/echo_server" ] || echo "skipped: examples/echo_server not built" ;;
	libuv)
		[ -x "$BIN/uv_echo" ] || echo "skipped: libuv1-dev not installed (uv_echo not built)" ;;
	esac
}

# The systems that can run, and a line for each one that cannot.
SYSTEMS=
SKIP_NOTES=
for s in $ALL_SYSTEMS; do
	why=$(sys_skip "$s")
	if [ -n "$why" ]; then
		SKIP_NOTES="$SKIP_NOTES$(sys_label "$s"): $why
"
	else
		SYSTEMS="$SYSTEMS $s"
	fi
done

# CPU placement. "pinned": server on SERVER_CPU, client on CLIENT_CPU, one
# core each (a thread-mode server's two threads then share its one core);
# "unpinned": the kernel places everything.
SERVER_CPU=${BENCH_SERVER_CPU:-0}
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
CAN_PIN=
if command -v taskset >/dev/null 2>&1 && [ "$NCPU" -ge 2 ] &&
	taskset -c "$SERVER_CPU" true 2>/dev/null && taskset -c "$CLIENT_CPU" true 2>/dev/null; then
	CAN_PIN=1
fi

placement_note() {
	case $1 in
	pinned) echo "pinned: server on CPU $SERVER_CPU, client on CPU $CLIENT_CPU (taskset)" ;;
	unpinned) echo "unpinned: the kernel places server and client" ;;
	esac
}
server_pin() { [ "$1" = pinned ] && echo "taskset -c $SERVER_CPU"; }
client_pin() { [ "$1" = pinned ] && echo "taskset -c $CLIENT_CPU"; }

# Total CPU time (user+sys) of every thread of a live process, in ns, from
# the scheduler's own accounting: exact, where /proc/PID/stat counts ticks.
cpu_ns() {
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# "USER SYS" seconds of a live process from /proc/PID/stat (ticks).
cpu_user_sys() {
	sed 's/^.*) //' /proc/"$1"/stat 2>/dev/null |
		awk -v hz="$CLK_TCK" '{ printf "%.2f %.2f\n", $12 / hz, $13 / hz }'
}

# Resident memory of a live process, KiB.
rss_kib() {
	awk '/^VmRSS:/ { print $2 }' /proc/"$1"/status 2>/dev/null
}

# Sets CHILD_CPU to the user+sys seconds of this shell's reaped children so
# far (the second line of "times"): the difference around a foreground run
# is that run's CPU time. "times" must run in the measuring shell itself,
# not in a $(...) subshell, hence the file and the variable.
children_cpu() {
	times >"$TMPD/times"
	CHILD_CPU=$(awk 'NR == 2 {
		n = split($0, f, " "); t = 0
		for (i = 1; i <= n; i++) { split(f[i], ms, "m"); sub("s", "", ms[2]); t += ms[1] * 60 + ms[2] }
		printf "%.3f\n", t }' "$TMPD/times")
}

# srv_start SYSTEM PLACEMENT: starts the server on a free port; sets SRV_PID
# and SRV_PORT. Its output goes to $TMPD/srv.out. Fails after 5 s.
srv_start() {
	# Emptied here, synchronously: the background job's own redirection may
	# come after the first look below, which must not find the previous
	# server's "listening" line.
	: >"$TMPD/srv.out"
	# shellcheck disable=SC2046
	$(server_pin "$2") $(sys_cmd "$1") --port 0 >"$TMPD/srv.out" 2>&1 &
	SRV_PID=$!
	i=0
	while :; do
		SRV_PORT=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\).*/\1/p' "$TMPD/srv.out" | head -1)
		[ -n "$SRV_PORT" ] && return 0
		if ! kill -0 "$SRV_PID" 2>/dev/null || [ $i -ge 500 ]; then
			echo "$1: server did not start:" >&2
			cat "$TMPD/srv.out" >&2
			kill -KILL "$SRV_PID" 2>/dev/null
			wait "$SRV_PID" 2>/dev/null
			SRV_PID=
			return 1
		fi
		i=$((i + 1))
		sleep 0.01
	done
}

# srv_stop: SIGINT, wait (at most 30 s, then SIGKILL), leaves the server's
# output in $TMPD/srv.out.
srv_stop() {
	[ -n "$SRV_PID" ] || return 0
	kill -INT "$SRV_PID" 2>/dev/null
	i=0
	while kill -0 "$SRV_PID" 2>/dev/null && [ $i -lt 3000 ]; do
		# A zombie still answers kill -0; the stats line means it is done.
		grep -q ' stats ' "$TMPD/srv.out" 2>/dev/null && break
		i=$((i + 1))
		sleep 0.01
	done
	if ! grep -q ' stats ' "$TMPD/srv.out" 2>/dev/null; then
		echo "server $SRV_PID did not stop within 30 s: killed" >&2
		kill -KILL "$SRV_PID" 2>/dev/null
	fi
	wait "$SRV_PID" 2>/dev/null
	SRV_PID=
}

# kv KEY FILE: the value of KEY=... on the last "stats" or "result" line.
kv() {
	grep -E ' (stats|result) ' "$2" 2>/dev/null | tail -1 |
		tr ' ' '\n' | sed -n "s/^$1=//p" | head -1
}

# The same, 0 when missing (counters).
kv0() {
	x=$(kv "$1" "$2")
	echo "${x:-0}"
}

# A value, or NaN when empty (for the CSV and gnuplot).
nan() { if [ -n "$1" ]; then echo "$1"; else echo NaN; fi; }

machine_line() {
	model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
	echo "${model:-$(uname -m)}, $NCPU CPUs online, $(uname -sr); load $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
}
