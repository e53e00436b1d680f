#!/bin/sh
# tests/bench/section_sync.sh — the sync section of `make bench` (issue 11):
# channel ping-pong, spawn + join and the coroutine mutex (bench_sync),
# beside Go's channels, go + WaitGroup and sync.Mutex (tests/bench/go_sync) with
# GOMAXPROCS=1, both under the same CPU pin, in one run; the ratio is
# coronet / Go (below 1: coronet is faster). Go comes from Debian's
# golang-go; without it the Go column says "skipped".
#
# Run by tests/bench/run.sh with its environment (BIN, OUT, PIN,
# BENCH_QUICK_FLAG). Writes bench-out/sync.csv and sync.txt.
set -u
BIN=${BENCH_BIN_DIR:?}
OUT=${BENCH_OUT:-bench-out}
HERE=$(dirname "$0")
b="$BIN/bench_sync"
if [ ! -x "$b" ]; then
	echo "sync: skipped: $b was not built"
	exit 0
fi
model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
echo "sync: coroutines talking to each other, one core (${PIN:-not pinned}; ${model:-cpu ?})"

# shellcheck disable=SC2086
${PIN:-} "$b" ${BENCH_QUICK_FLAG:-} --csv "$OUT/sync_coronet.csv" > "$OUT/sync_coronet.txt" || exit 1

gobin="$BIN/go_sync"
: > "$OUT/sync_go.txt"
if command -v go >/dev/null 2>&1; then
	# The Go build cache must be writable (CI and make run as any user).
	absout=$(cd "$OUT" && pwd)
	absbin=$(cd "$BIN" && pwd)/go_sync
	if (cd "$HERE/go_sync" && GOCACHE=${GOCACHE:-$absout/.gocache} HOME=${HOME:-$absout} \
	    GO111MODULE=off go build -o "$absbin" main.go) 2>"$OUT/sync_go_build.txt"; then
		# shellcheck disable=SC2086
		GOMAXPROCS=1 ${PIN:-} "$gobin" ${BENCH_QUICK_FLAG:+-quick} > "$OUT/sync_go.txt" || :
	else
		echo "sync: go build failed:"; cat "$OUT/sync_go_build.txt"
	fi
	gover=$(go version 2>/dev/null)
else
	gover="skipped: go not installed (apt-get install golang-go)"
fi
echo "go: $gover"

awk -v model="${model:-?}" -v OUT="$OUT" '
	FILENAME == ARGV[1] { go[$1] = $2; next }
	{ name = $1; ns = $2
	  if (name in go) printf "%-24s %9.1f ns   go %9.1f ns   %5.2fx go\n", name, ns, go[name], ns / go[name]
	  else printf "%-24s %9.1f ns\n", name, ns
	  csv = csv sprintf("%s,%s,%.1f,%s,%s\n", model, name, ns, (name in go) ? go[name] : "", (name in go) ? sprintf("%.2f", ns / go[name]) : "") }
	END { printf "cpu,name,coronet_ns,go_ns,ratio\n%s", csv > OUT "/sync.csv" }
' "$OUT/sync_go.txt" "$OUT/sync_coronet.txt" | tee "$OUT/sync.txt"
