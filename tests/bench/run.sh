#!/bin/sh
# tests/bench/run.sh — runs the benchmark sections in one go, prints their
# tables and leaves text, CSV and raw files under $BENCH_OUT (bench-out/).
# Called by `make bench` (tests/bench/bench.mk) after the release build.
#
# Environment (bench.mk sets it):
#   BENCH_BIN_DIR  folder with the benchmark binaries (required)
#   BENCH_OUT      output folder (default bench-out)
#   QUICK          non-empty and not 0: the short variant
#   SECTIONS       space-separated section names to run, in order (default:
#                  switch mem threads, then every tests/bench/section_*.sh)
#   BENCH_CPU      CPU for pinned runs (default: the one idlest over the
#                  second before the run)
#
# A section is either built in here (a function section_NAME) or a script
# tests/bench/section_NAME.sh, run with the same environment plus PIN (the
# taskset prefix, empty when taskset is missing) and BENCH_QUICK_FLAG. Each
# section writes $BENCH_OUT/NAME.txt (its table) and its own CSV files. A
# section that fails or times out is reported and the others still run.
set -u

BIN=${BENCH_BIN_DIR:?BENCH_BIN_DIR is not set: run this through make bench}
OUT=${BENCH_OUT:-bench-out}
QUICK=${QUICK:-}
[ "$QUICK" = 0 ] && QUICK=
HERE=$(dirname "$0")
mkdir -p "$OUT" || exit 1

if [ -n "$QUICK" ]; then
	BENCH_QUICK_FLAG=--quick
	SECTION_TIMEOUT=${SECTION_TIMEOUT:-170}
else
	BENCH_QUICK_FLAG=
	SECTION_TIMEOUT=${SECTION_TIMEOUT:-1200}
fi

# The CPU that was idle the longest over the last second, from /proc/stat
# (on a shared machine another job may be pinned somewhere); the last CPU
# when /proc/stat is missing, since CPU 0 usually takes more interrupts.
idlest_cpu() {
	a=$(grep '^cpu[0-9]' /proc/stat 2>/dev/null) || {
		echo $(( $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1) - 1 ))
		return
	}
	sleep 1
	b=$(grep '^cpu[0-9]' /proc/stat)
	printf '%s\n%s\n' "$a" "$b" | awk '
		{ idle = $5 + $6; if ($1 in first) d[$1] = idle - first[$1]; else first[$1] = idle }
		END { best = -1; for (c in d) if (d[c] > best || (d[c] == best && c > bc)) { best = d[c]; bc = c }
		      sub("cpu", "", bc); print bc }'
}

# Pin to one CPU: BENCH_CPU, or the idlest one.
PIN=
PIN_NOTE="not pinned: taskset not installed"
if command -v taskset >/dev/null 2>&1; then
	cpu=${BENCH_CPU:-}
	[ -n "$cpu" ] || cpu=$(idlest_cpu)
	if taskset -c "$cpu" true 2>/dev/null; then
		PIN="taskset -c $cpu"
		PIN_NOTE="pinned to CPU $cpu with taskset"
	else
		PIN_NOTE="not pinned: taskset -c $cpu refused"
	fi
fi
TIMEOUT=
command -v timeout >/dev/null 2>&1 && TIMEOUT="timeout $SECTION_TIMEOUT"
export BENCH_OUT="$OUT" QUICK BENCH_QUICK_FLAG PIN PIN_NOTE BENCH_BIN_DIR="$BIN"

machine() {
	model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
	[ -n "$model" ] || model=$(sysctl -n machdep.cpu.brand_string 2>/dev/null || uname -m)
	echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "machine:  $model, $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?') CPUs online"
	# The model number and the hypervisor say more than a generic name
	# such as "Intel(R) Xeon(R) Processor" that a VM shows.
	fam=$(sed -n 's/^cpu family[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
	mod=$(sed -n 's/^model[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
	hyp=$(lscpu 2>/dev/null | sed -n 's/^Hypervisor vendor:[[:space:]]*//p')
	[ -n "$fam$mod" ] && echo "cpu:      family $fam model $mod, $(sed -n 's/^cpu MHz[[:space:]]*: //p' /proc/cpuinfo | head -1) MHz${hyp:+, virtual machine ($hyp)}"
	echo "kernel:   $(uname -sr)"
	[ -r /proc/loadavg ] && echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (other jobs on a shared machine skew the ns figures, not the instruction counts)"
	echo "compiler: $(${CC:-cc} --version 2>/dev/null | head -1)"
	echo "commit:   $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
	echo "mode:     $([ -n "$QUICK" ] && echo 'QUICK=1 (short variant)' || echo full); $PIN_NOTE"
	if command -v valgrind >/dev/null 2>&1; then
		echo "valgrind: $(valgrind --version 2>/dev/null)"
	else
		echo "valgrind: not installed (instruction counts skipped)"
	fi
}

# --- built-in sections ---------------------------------------------------

section_switch() {
	b="$BIN/bench_switch"
	if [ ! -x "$b" ]; then
		echo "switch: skipped: $b was not built"
		return 0
	fi
	echo "context switch ($PIN_NOTE)"
	rm -f "$OUT"/callgrind/*.callgrind
	# PIN and the flag split into words on purpose.
	# shellcheck disable=SC2086
	$TIMEOUT $PIN "$b" $BENCH_QUICK_FLAG --csv "$OUT/switch.csv" \
		--raw "$OUT/switch_raw.csv" --callgrind-dir "$OUT/callgrind"
}

# The stacks engineer's bench_coro_mem: memory per idle coroutine and the
# largest number of guarded coroutines. It is given the flags its source
# says it understands.
section_mem() {
	b="$BIN/bench_coro_mem"
	src="$HERE/bench_coro_mem.c"
	if [ ! -x "$b" ]; then
		echo "mem: skipped: $b was not built (tests/bench/bench_coro_mem.c missing?)"
		return 0
	fi
	set --
	if [ -n "$QUICK" ] && grep -q -- '--quick' "$src" 2>/dev/null; then
		set -- "$@" --quick
	fi
	if grep -q -- '--csv' "$src" 2>/dev/null; then
		set -- "$@" --csv "$OUT/coro_mem.csv"
	fi
	echo "coroutine memory (unpinned)"
	$TIMEOUT "$b" "$@"
}

# bench_threads: foreign fulfil latency and throughput, the blocking pool
# against libuv, a cached file read (issue 10). Unpinned: it needs both
# CPUs (a fulfilling thread and the scheduler).
section_threads() {
	b="$BIN/bench_threads"
	if [ ! -x "$b" ]; then
		echo "threads: skipped: $b was not built"
		return 0
	fi
	echo "threads: the rest of the program talking to a runtime (unpinned)"
	# shellcheck disable=SC2086
	$TIMEOUT "$b" $BENCH_QUICK_FLAG --csv "$OUT/threads.csv"
}

# --- driver ----------------------------------------------------------------

if [ -z "${SECTIONS:-}" ]; then
	SECTIONS="switch mem threads"
	for f in "$HERE"/section_*.sh; do
		[ -f "$f" ] || continue
		s=${f##*/section_}
		SECTIONS="$SECTIONS ${s%.sh}"
	done
fi

machine | tee "$OUT/machine.txt"
failed=
start=$(date +%s)
for s in $SECTIONS; do
	echo
	echo "==== $s"
	t0=$(date +%s)
	# The table shows up as it is printed and lands in NAME.txt; the exit
	# status survives the pipe through a file.
	rcf="$OUT/.$s.rc"
	echo 1 >"$rcf"
	{
		if [ "$(command -v "section_$s" 2>/dev/null)" = "section_$s" ]; then
			"section_$s"
		elif [ -f "$HERE/section_$s.sh" ]; then
			$TIMEOUT sh "$HERE/section_$s.sh"
		else
			echo "no such section: $s"
			false
		fi
		echo $? >"$rcf"
	} 2>&1 | tee "$OUT/$s.txt"
	rc=$(cat "$rcf")
	rm -f "$rcf"
	if [ "$rc" -ne 0 ]; then
		[ "$rc" -eq 124 ] && echo "$s: TIMED OUT after ${SECTION_TIMEOUT}s"
		echo "$s: FAILED (exit $rc)"
		failed="$failed $s"
	fi
	echo "($s took $(( $(date +%s) - t0 ))s)"
done

echo
echo "bench: $(( $(date +%s) - start ))s; tables and CSV in $OUT/"
if [ -n "$failed" ]; then
	echo "bench: failed sections:$failed"
	exit 1
fi
