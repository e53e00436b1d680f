#!/bin/sh
# tests/bench/section_http.sh — the http section of `make bench` (issue
# 10): examples/http_server in both netpoll modes against nginx serving the
# same fixed body, driven by the same wrk, same run.
#
# Server pinned to CPU 0, wrk (one thread) to CPU 1 when taskset exists;
# wrk -c50 and -c1000, HTTP_SECONDS each (default 3; QUICK 1), HTTP_REPS
# repetitions (default 3; QUICK 1); the median requests/s, and the ratio to
# nginx taken within each repetition. nginx (Debian nginx-light) runs from
# a throw-away config in a temporary folder: one worker, no master, no
# logs, keep-alive requests unlimited, `return 200 "Hello, world!\n"`. A
# missing wrk or nginx is said and skipped. Writes bench-out/http.csv.
set -u
OUT=${BENCH_OUT:-bench-out}
BIN=${BENCH_BIN_DIR:?run this through make bench}
EX=${BENCH_EX_DIR:-$BIN/../examples}
QUICK=${QUICK:-}
[ "$QUICK" = 0 ] && QUICK=
if [ -n "$QUICK" ]; then
	SECS=${HTTP_SECONDS:-1}
	REPS=${HTTP_REPS:-1}
else
	SECS=${HTTP_SECONDS:-3}
	REPS=${HTTP_REPS:-3}
fi
mkdir -p "$OUT"
if ! command -v wrk >/dev/null 2>&1; then
	echo "http: skipped: wrk not installed (Debian: apt-get install wrk)"
	exit 0
fi
NGINX=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null)
S_PIN= C_PIN=
if command -v taskset >/dev/null 2>&1 && taskset -c 1 true 2>/dev/null; then
	S_PIN="taskset -c ${BENCH_SERVER_CPU:-0}"
	C_PIN="taskset -c ${BENCH_CLIENT_CPU:-1}"
fi
TMPD=$(mktemp -d "${TMPDIR:-/tmp}/cn-http.XXXXXX") || exit 1
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$TMPD"
}
trap cleanup EXIT INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18080
}

# start SYSTEM PORT: starts the server, waits until it answers.
start() {
	case $1 in
	inline | thread)
		# shellcheck disable=SC2086
		$S_PIN "$EX/http_server" --port "$2" --mode "$1" >"$TMPD/srv.out" 2>&1 &
		;;
	nginx)
		cat >"$TMPD/nginx.conf" <<EOC
worker_processes 1;
master_process off;
daemon off;
error_log $TMPD/nginx-error.log;
pid $TMPD/nginx.pid;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_requests 1000000;
	client_body_temp_path $TMPD/body;
	proxy_temp_path $TMPD/proxy;
	fastcgi_temp_path $TMPD/fcgi;
	uwsgi_temp_path $TMPD/uwsgi;
	scgi_temp_path $TMPD/scgi;
	server {
		listen 127.0.0.1:$2;
		location / { default_type text/plain; return 200 "Hello, world!\n"; }
	}
}
EOC
		# shellcheck disable=SC2086
		$S_PIN "$NGINX" -p "$TMPD" -c "$TMPD/nginx.conf" >"$TMPD/srv.out" 2>&1 &
		;;
	esac
	PID=$!
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$2/" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "http: $1 did not start: $(cat "$TMPD/srv.out")" >&2
	return 1
}

stop() {
	kill "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
	PID=
}

# rps SYSTEM CONNS: one wrk run against a fresh server; prints requests/s.
rps() {
	port=$(free_port)
	start "$1" "$port" || { echo 0; return; }
	# shellcheck disable=SC2086
	r=$($C_PIN wrk -t1 -c"$2" -d"${SECS}s" "http://127.0.0.1:$port/" 2>&1 |
		awk '/Requests\/sec:/ { print $2 } /Non-2xx|Socket errors/ { bad = 1 } END { if (bad) print "ERR" }')
	stop
	echo "$r" | tr '\n' ' '
}

systems="inline thread"
[ -n "$NGINX" ] && systems="$systems nginx"
echo "http: examples/http_server vs nginx, wrk -t1, ${SECS}s per run, $REPS reps; server ${S_PIN:-unpinned}, client ${C_PIN:-unpinned}"
[ -n "$NGINX" ] || echo "http: nginx not installed (Debian: apt-get install nginx-light): coronet only"
echo "system,conns,rep,requests_per_s" >"$TMPD/raw.csv"
for c in 50 1000; do
	for rep in $(seq "$REPS"); do
		for sys in $systems; do
			v=$(rps "$sys" "$c")
			echo "$sys,$c,$rep,$v" >>"$TMPD/raw.csv"
		done
	done
done
cp "$TMPD/raw.csv" "$OUT/http_raw.csv"
awk -F, 'NR > 1 { v[$1","$2","$3] = $4; sys[$1] = 1; con[$2] = 1; if ($3 > reps) reps = $3 }
function med(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t } return a[int((n + 1) / 2)] }
END {
	printf "%6s  %-8s %12s %9s\n", "conns", "system", "requests/s", "vs nginx"
	print "system,conns,requests_per_s,vs_nginx" > out
	split("50 1000", cs, " ")
	split("inline thread nginx", ss, " ")
	for (ci = 1; ci <= 2; ci++) for (si = 1; si <= 3; si++) {
		s = ss[si]; c = cs[ci]; if (!(s in sys)) continue
		n = 0; m = 0
		for (r = 1; r <= reps; r++) { x = v[s","c","r]; a[++n] = x + 0; if (("nginx,"c","r) in v && v["nginx,"c","r] > 0) b[++m] = x / v["nginx,"c","r] }
		rv = med(a, n); rr = m ? med(b, m) : 0
		printf "%6s  %-8s %12.0f %8s\n", c, s, rv, m ? sprintf("%.2fx", rr) : "-"
		printf "%s,%s,%.0f,%s\n", s, c, rv, m ? sprintf("%.3f", rr) : "" > out
	}
}' out="$OUT/http.csv" "$TMPD/raw.csv"
echo "target: inline mode >= 0.95x nginx at both connection counts"
