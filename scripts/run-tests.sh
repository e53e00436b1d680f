#!/bin/sh
# scripts/run-tests.sh — runs test binaries one after the other, each in its
# own process so a crash in one cannot hide another's result, and closes with
# one line counted in test cases (what CI reads):
#
#     N passed, M failed[, K skipped]
#
# Cases are counted from cmocka's summary lines. A binary that exits
# non-zero with no cmocka failure to show for it (a crash, a hang past the
# timeout, a Valgrind or TSan report at exit) counts as one failed case; a
# binary that is not a cmocka program counts as one case.
#
# Usage: sh scripts/run-tests.sh BINARY...
# Environment: RUNNER        prefix command (valgrind ..., qemu-aarch64 -L ...)
#              TEST_TIMEOUT  seconds per binary (default 600; needs timeout(1))
# Exits 1 if anything failed.
set -u

runner=${RUNNER:-}
limit=${TEST_TIMEOUT:-600}
tmo=
if command -v timeout >/dev/null 2>&1 && [ "$limit" != 0 ]; then
	# -k: a binary that ignores SIGTERM (a hung signal handler) still dies.
	# --foreground keeps the test in the terminal's process group, so that
	# Ctrl-C stops it too and not only make.
	if timeout --foreground 5 true 2>/dev/null; then
		tmo="timeout --foreground -k 10 $limit"
	else
		tmo="timeout -k 10 $limit"
	fi
fi
# Sanitizer reports with a stack are worth the time; the caller's own
# settings win.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

log=$(mktemp "${TMPDIR:-/tmp}/coronet-test.XXXXXX")
trap 'rm -f "$log" "$log.rc"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pass=0 fail=0 skip=0 report=
sum() { sed -n "s/^\[  $1 *\] \([0-9][0-9]*\) test(s).*/\1/p" "$log" | awk '{ n += $1 } END { print n + 0 }'; }

for t in "$@"; do
	echo "== $t${runner:+ (under ${runner%% *})}"
	if [ ! -x "$t" ]; then
		echo "FAILED: $t was not built"
		fail=$((fail + 1))
		report="$report
  FAILED  $t (not built)"
		continue
	fi
	start=$(date +%s)
	# cmocka prints its summary on stderr, the rest on stdout: both go to the
	# terminal and to the log that is counted.
	{ $tmo $runner "$t" 2>&1; echo $? > "$log.rc"; } | tee "$log"
	rc=$(cat "$log.rc")
	secs=$(( $(date +%s) - start ))
	p=$(sum PASSED) f=$(sum FAILED) s=$(sum SKIPPED)
	why=
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		if [ -n "$tmo" ] && [ "$rc" -eq 124 ]; then
			why="timed out after ${limit}s"
		elif [ "$rc" -gt 128 ] && [ "$rc" -lt 160 ]; then
			why="killed by signal $((rc - 128))"
		else
			why="exit status $rc"
		fi
	elif [ "$rc" -eq 0 ] && [ "$p$f$s" = 000 ]; then
		p=1
	fi
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	if [ "$f" -ne 0 ]; then
		echo "FAILED: $t${why:+ ($why)}"
		report="$report
  FAILED  $t: $p passed, $f failed${why:+ ($why)}, ${secs}s"
	else
		report="$report
  ok      $t: $p passed$([ "$s" -eq 0 ] || echo ", $s skipped"), ${secs}s"
	fi
done

echo "== summary${runner:+ (under ${runner%% *})}:$report"
if [ "$skip" -ne 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
