# tests/bench/echo_summary.awk — turns the echo section's raw CSV (one row
# per system, point and repetition) into medians, ratios to the raw-epoll
# baseline, the printed tables, the target verdicts, the summary CSV and the
# gnuplot data files. Used by section_echo.sh:
#
#   awk -F, -f echo_summary.awk -v placements="pinned unpinned" \
#       -v sizes="64 16384" -v conns="1 10 ..." -v systems="raw-epoll inline ..." \
#       -v out=bench-out -v notes_pinned=... -v notes_unpinned=... raw.csv raw.csv
#
# The file is read twice: the first pass keeps the baseline's figures of
# every repetition, so that each system's ratio is taken against the
# baseline of the same repetition (same minute, same machine state) before
# the median of those ratios is printed.

function median(arr, n,    i, j, t, a) {
	if (n < 1)
		return ""
	for (i = 1; i <= n; i++)
		a[i] = arr[i]
	for (i = 2; i <= n; i++) {
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] > t; j--)
			a[j + 1] = a[j]
		a[j + 1] = t
	}
	if (n % 2)
		return a[(n + 1) / 2]
	return (a[n / 2] + a[n / 2 + 1]) / 2
}

# Median of the values stored as v[key, name, 1..cnt], skipping NaN.
function med(key, name,    i, m, a) {
	m = 0
	for (i = 1; i <= cnt[key, name]; i++)
		if (v[key, name, i] != "NaN" && v[key, name, i] != "")
			a[++m] = v[key, name, i] + 0
	return median(a, m)
}

function add(key, name, val) {
	v[key, name, ++cnt[key, name]] = val
}

function fmt(x, f) {
	return x == "" ? "-" : sprintf(f, x)
}

function label(s) {
	if (s == "raw-epoll") return "raw epoll"
	if (s == "inline") return "coronet inline"
	if (s == "thread") return "coronet thread"
	return s
}

function verdict(ok) {
	return ok ? "MET" : "MISSED"
}

BEGIN {
	OFS = ","
	np = split(placements, P, " ")
	ns = split(sizes, S, " ")
	nc = split(conns, C, " ")
	ny = split(systems, Y, " ")
}

FNR == 1 {
	pass++
	if (pass == 1)
		for (i = 1; i <= NF; i++)
			col[$i] = i
	next
}

pass == 1 {
	if ($col["system"] == "raw-epoll") {
		k = $col["placement"] SUBSEP $col["size"] SUBSEP $col["conns"] SUBSEP $col["rep"]
		base_rt[k] = $col["rt_per_s"]
		base_cpu[k] = $col["cpu_s_per_100k"]
	}
	next
}

{
	pl = $col["placement"]; sz = $col["size"]; cn = $col["conns"]; sy = $col["system"]
	key = pl SUBSEP sz SUBSEP cn SUBSEP sy
	seen[key] = 1
	reps[key]++
	add(key, "rt", $col["rt_per_s"])
	add(key, "mb", $col["mb_per_s"])
	add(key, "p50", $col["p50_us"])
	add(key, "p99", $col["p99_us"])
	add(key, "p999", $col["p999_us"])
	add(key, "cpu", $col["cpu_s_per_100k"])
	add(key, "ccpu", $col["client_cpu_per_100k"])
	add(key, "wakes", $col["wakes_per_1000"])
	add(key, "batch", $col["avg_batch"])
	errs[key] += $col["errors"]
	bk = pl SUBSEP sz SUBSEP cn SUBSEP $col["rep"]
	if ((bk in base_rt) && base_rt[bk] != "NaN" && base_rt[bk] > 0 && $col["rt_per_s"] != "NaN")
		add(key, "rt_ratio", $col["rt_per_s"] / base_rt[bk])
	if ((bk in base_cpu) && base_cpu[bk] != "NaN" && base_cpu[bk] > 0 && $col["cpu_s_per_100k"] != "NaN")
		add(key, "cpu_ratio", $col["cpu_s_per_100k"] / base_cpu[bk])
}

END {
	sumf = out "/echo.csv"
	print "placement,size,conns,system,reps,rt_per_s,rt_vs_raw,mb_per_s,p50_us,p99_us,p999_us," \
	      "cpu_s_per_100k,cpu_vs_raw,client_cpu_s_per_100k,wakes_per_1000,avg_batch,errors" > sumf
	for (ip = 1; ip <= np; ip++) {
		pl = P[ip]
		for (is = 1; is <= ns; is++) {
			sz = S[is]
			any = 0
			for (ic = 1; ic <= nc; ic++)
				for (iy = 1; iy <= ny; iy++)
					if ((pl SUBSEP sz SUBSEP C[ic] SUBSEP Y[iy]) in seen)
						any = 1
			if (!any)
				continue
			note = pl == "pinned" ? notes_pinned : notes_unpinned
			printf "\n%s B messages, %s\n", sz, note
			printf "%6s  %-15s %9s %7s %8s %9s %9s %9s %9s %7s %9s %8s %6s %4s\n",
			       "conns", "system", "rt/s", "vs raw", "MB/s", "p50 us", "p99 us", "p99.9 us",
			       "CPU s/", "vs raw", "client s/", "wakes/", "batch", "err"
			printf "%6s  %-15s %9s %7s %8s %9s %9s %9s %9s %7s %9s %8s %6s %4s\n",
			       "", "", "", "", "", "", "", "", "100k rt", "", "100k rt", "1k compl", "", ""
			datf = out "/echo_plot_" pl "_" sz ".dat"
			printf "# conns" > datf
			for (iy = 1; iy <= ny; iy++)
				printf " rt_%s", Y[iy] > datf
			for (iy = 1; iy <= ny; iy++)
				printf " p99_%s", Y[iy] > datf
			for (iy = 1; iy <= ny; iy++)
				printf " cpu_%s", Y[iy] > datf
			printf "\n" > datf
			for (ic = 1; ic <= nc; ic++) {
				cn = C[ic]
				line = cn
				lrt = ""; lp99 = ""; lcpu = ""
				for (iy = 1; iy <= ny; iy++) {
					sy = Y[iy]
					key = pl SUBSEP sz SUBSEP cn SUBSEP sy
					if (!(key in seen)) {
						lrt = lrt " NaN"; lp99 = lp99 " NaN"; lcpu = lcpu " NaN"
						continue
					}
					rt = med(key, "rt"); mb = med(key, "mb")
					p50 = med(key, "p50"); p99 = med(key, "p99"); p999 = med(key, "p999")
					cpu = med(key, "cpu"); ccpu = med(key, "ccpu")
					rr = med(key, "rt_ratio"); cr = med(key, "cpu_ratio")
					wk = sy == "thread" ? med(key, "wakes") : ""
					bt = sy == "thread" ? med(key, "batch") : ""
					M[key, "rt"] = rt; M[key, "cpu"] = cpu; M[key, "rr"] = rr
					M[key, "cr"] = cr; M[key, "wk"] = wk; M[key, "bt"] = bt
					M[key, "err"] = errs[key]; M[key, "p99"] = p99
					printf "%6s  %-15s %9s %7s %8s %9s %9s %9s %9s %7s %9s %8s %6s %4d\n",
					       cn, label(sy), fmt(rt, "%.0f"), fmt(rr, "%.2fx"), fmt(mb, "%.2f"),
					       fmt(p50, "%.1f"), fmt(p99, "%.1f"), fmt(p999, "%.1f"),
					       fmt(cpu, "%.3f"), fmt(cr, "%.2fx"), fmt(ccpu, "%.3f"),
					       fmt(wk, "%.1f"), fmt(bt, "%.2f"), errs[key]
					print pl, sz, cn, sy, reps[key], rt, rr, mb, p50, p99, p999, cpu, cr, ccpu,
					      wk, bt, errs[key] > sumf
					lrt = lrt " " (rt == "" ? "NaN" : rt)
					lp99 = lp99 " " (p99 == "" ? "NaN" : p99)
					lcpu = lcpu " " (cpu == "" ? "NaN" : cpu / 1e5 * 1e6)
				}
				print cn lrt lp99 lcpu > datf
			}
			close(datf)
		}
	}
	close(sumf)

	# The experiment in one table: thread against inline, per point, with
	# the baseline's CPU for scale. CPU in microseconds per round trip.
	if (index(" " systems " ", " thread ") && index(" " systems " ", " inline ")) {
		printf "\nnetpoll thread vs inline (medians; CPU = server CPU per round trip, us)\n"
		printf "%-9s %6s %6s | %9s %9s %6s | %7s %7s %7s | %9s %9s | %7s %6s\n",
		       "placement", "size", "conns", "inline", "thread", "thr/inl", "raw CPU", "inl CPU",
		       "thr CPU", "inl p99", "thr p99", "wakes/", "batch"
		printf "%-9s %6s %6s | %9s %9s %6s | %7s %7s %7s | %9s %9s | %7s %6s\n",
		       "", "", "", "rt/s", "rt/s", "", "", "", "", "us", "us", "1k", ""
		for (ip = 1; ip <= np; ip++)
			for (is = 1; is <= ns; is++)
				for (ic = 1; ic <= nc; ic++) {
					b = P[ip] SUBSEP S[is] SUBSEP C[ic] SUBSEP
					ki = b "inline"; kt = b "thread"; kr = b "raw-epoll"
					if (!((ki SUBSEP "rt") in M) || !((kt SUBSEP "rt") in M))
						continue
					r = M[ki, "rt"] > 0 ? M[kt, "rt"] / M[ki, "rt"] : ""
					rc = (kr SUBSEP "cpu") in M ? M[kr, "cpu"] : ""
					printf "%-9s %6s %6s | %9s %9s %6s | %7s %7s %7s | %9s %9s | %7s %6s\n",
					       P[ip], S[is], C[ic], fmt(M[ki, "rt"], "%.0f"), fmt(M[kt, "rt"], "%.0f"),
					       fmt(r, "%.2fx"), fmt(rc == "" ? "" : rc * 10, "%.2f"),
					       fmt(M[ki, "cpu"] == "" ? "" : M[ki, "cpu"] * 10, "%.2f"),
					       fmt(M[kt, "cpu"] == "" ? "" : M[kt, "cpu"] * 10, "%.2f"),
					       fmt(M[ki, "p99"], "%.0f"), fmt(M[kt, "p99"], "%.0f"),
					       fmt(M[kt, "wk"], "%.1f"), fmt(M[kt, "bt"], "%.1f")
				}
	}

	# Targets of issue 5, per placement. Inline is compared on 64 B at
	# 10, 100 and 1,000 connections; thread mode at 1,000.
	printf "\nTargets (issue 5; medians of the repetitions; ratios taken within each repetition)\n"
	for (ip = 1; ip <= np; ip++) {
		pl = P[ip]
		printf "  %s\n", pl == "pinned" ? notes_pinned : notes_unpinned
		for (ic = 1; ic <= nc; ic++) {
			cn = C[ic]
			if (cn != 10 && cn != 100 && cn != 1000)
				continue
			ki = pl SUBSEP 64 SUBSEP cn SUBSEP "inline"
			ku = pl SUBSEP 64 SUBSEP cn SUBSEP "libuv"
			if (!((ki SUBSEP "cr") in M))
				continue
			x = M[ki, "cr"]
			if (x != "")
				printf "    inline CPU/rt vs raw epoll, 64 B, %5d conns   %6.2fx  %-6s (target <= 1.10x)\n",
				       cn, x, verdict(x <= 1.10)
			x = M[ki, "rr"]
			if (x != "")
				printf "    inline rt/s vs raw epoll,   64 B, %5d conns   %6.2fx  %-6s (target >= 0.95x)\n",
				       cn, x, verdict(x >= 0.95)
			if ((ku SUBSEP "rt") in M && M[ku, "rt"] != "" && M[ki, "rt"] != "") {
				a = M[ki, "rt"] / M[ku, "rt"]; b = M[ki, "cpu"] / M[ku, "cpu"]
				printf "    inline vs libuv,            64 B, %5d conns   rt/s %.2fx, CPU/rt %.2fx  %-6s (target: rt/s >= 1x and CPU/rt <= 1x)\n",
				       cn, a, b, verdict(a >= 1 && b <= 1)
			} else if (index(systems, "libuv") == 0) {
				printf "    inline vs libuv,            64 B, %5d conns   skipped: libuv not built\n", cn
			}
		}
		for (is = 1; is <= ns; is++) {
			sz = S[is]
			kt = pl SUBSEP sz SUBSEP 1000 SUBSEP "thread"
			ki = pl SUBSEP sz SUBSEP 1000 SUBSEP "inline"
			if (!((kt SUBSEP "rt") in M))
				continue
			x = M[kt, "wk"]
			if (x != "")
				printf "    thread wakes/1000 completions, %5s B, 1000 conns %6.1f  %-6s (target <= 100)\n",
				       sz, x, verdict(x <= 100)
			if ((ki SUBSEP "rt") in M && M[ki, "rt"] > 0) {
				x = M[kt, "rt"] / M[ki, "rt"]
				printf "    thread rt/s vs inline,         %5s B, 1000 conns %6.2fx  %-6s (target >= 0.80x)\n",
				       sz, x, verdict(x >= 0.8)
			}
		}
		for (is = 1; is <= ns; is++)
			for (iy = 1; iy <= ny; iy++) {
				k = pl SUBSEP S[is] SUBSEP 10000 SUBSEP Y[iy]
				if ((k SUBSEP "err") in M)
					printf "    errors at 10000 conns, %5s B, %-15s %d  %s\n", S[is], label(Y[iy]),
					       M[k, "err"], verdict(M[k, "err"] == 0)
			}
	}
}
