#!/bin/sh
# cio-bench: every command runs briefly on every backend and ends with a
# RESULT line of non-zero figures; a mistake exits 2 with one line on
# stderr, never a crash; the echo server stops on SIGTERM with status 0.
set -u
bench="${top_builddir:-.}/tools/cio-bench"
seccomp="${top_builddir:-.}/tests/cio-seccomp"
if [ ! -x "$bench" ]; then
	echo "FAIL: $bench is not built"
	exit 1
fi
# /var/tmp first: the O_DIRECT runs need a file system that takes it.
for d in /var/tmp "${TMPDIR:-/tmp}"; do
	tmp=$(mktemp -d "$d/cio-bench-test-XXXXXX" 2>/dev/null) && break
done
server=
cleanup() {
	[ -n "$server" ] && kill -KILL "$server" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# The value of key in the last RESULT line of file.
field() {
	grep '^RESULT ' "$1" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# check_result FILE WHAT KEY... : each key is a number above zero.
check_result() {
	f=$1; what=$2; shift 2
	if ! grep -q '^RESULT ' "$f"; then
		bad "$what: no RESULT line"; sed 's/^/  | /' "$f"; return
	fi
	for k in "$@"; do
		v=$(field "$f" "$k")
		case $v in
		''|*[!0-9.]*) bad "$what: $k='$v' is not a number"; continue ;;
		esac
		awk -v v="$v" 'BEGIN { exit !(v + 0 > 0) }' || bad "$what: $k=$v"
	done
	echo "ok: $what: $(grep '^RESULT ' "$f" | tail -n 1)"
}

# check_lat FILE WHAT: the RESULT line's latency keys (p50_us, p99_us,
# p999_us, max_us) are numbers with p50 <= p99 <= p99.9 <= max, max > 0.
check_lat() {
	f=$1; what=$2
	p50=$(field "$f" p50_us); p99=$(field "$f" p99_us)
	p999=$(field "$f" p999_us); max=$(field "$f" max_us)
	for v in "$p50" "$p99" "$p999" "$max"; do
		case $v in
		''|*[!0-9.]*) bad "$what: latency '$p50' '$p99' '$p999' '$max' is not four numbers"; return ;;
		esac
	done
	if awk -v a="$p50" -v b="$p99" -v c="$p999" -v d="$max" \
		'BEGIN { exit !(a + 0 <= b + 0 && b + 0 <= c + 0 && c + 0 <= d + 0 && d + 0 > 0) }'; then
		echo "ok: $what: latency p50 $p50 <= p99 $p99 <= p99.9 $p999 <= max $max us"
	else
		bad "$what: latency out of order: p50 $p50 p99 $p99 p99.9 $p999 max $max"
	fi
}

# check_json FILE WHAT KEY...: FILE is one JSON object (nothing else) with
# these keys as numbers, its latencies ordered as check_lat wants.
check_json() {
	f=$1; what=$2; shift 2
	if ! command -v python3 >/dev/null; then
		echo "SKIP $what: no python3 to parse the JSON"; return
	fi
	if msg=$(python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
for k in sys.argv[2:] + ["p50_us", "p99_us", "p999_us", "max_us"]:
    v = o.get(k)
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        sys.exit("key %s is %r, not a number" % (k, v))
if not (o["p50_us"] <= o["p99_us"] <= o["p999_us"] <= o["max_us"] and o["max_us"] > 0):
    sys.exit("latency out of order: %r" % o)
print(json.dumps(o, sort_keys=True))
' "$f" "$@" 2>&1); then
		echo "ok: $what: $msg"
	else
		bad "$what: $msg"; sed 's/^/  | /' "$f"
	fi
}

# expect2 WHAT ARGS...: exit status 2 and exactly one line on stderr.
expect2() {
	what=$1; shift
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	n=$(wc -l <"$tmp/err")
	if [ $rc -ne 2 ] || [ "$n" -ne 1 ]; then
		bad "$what: exit $rc with $n lines on stderr (want 2 and 1)"
		sed 's/^/  | /' "$tmp/err"
	else
		echo "ok: $what: $(cat "$tmp/err")"
	fi
}

# Start an echo server in the background; sets server and port.
start_server() {
	rm -f "$tmp/srv"     # a stale "listening" line would name the last port
	"$bench" echo-server --port 0 "$@" >"$tmp/srv" 2>"$tmp/srv.err" &
	server=$!
	port=
	for _ in $(seq 600); do   # 60 s: a loaded machine
		port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/srv" 2>/dev/null)
		[ -n "$port" ] && return 0
		kill -0 "$server" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}

# SIGTERM, then at most 60 s (generous for a loaded machine; a server that
# ignores it never exits) for a clean exit with status 0.
stop_server() {
	what=$1
	kill -TERM "$server"
	for _ in $(seq 600); do
		kill -0 "$server" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$server" 2>/dev/null; then
		bad "$what: the echo server ignored SIGTERM"
		kill -KILL "$server"
	fi
	wait "$server"
	rc=$?
	server=
	[ $rc -eq 0 ] || { bad "$what: echo server exited $rc after SIGTERM"; sed 's/^/  | /' "$tmp/srv.err"; }
}

# echo_run BACKEND [SERVER-OPTION...]: a 1 s echo on that backend.
echo_run() {
	b=$1; shift
	what="echo $b $*"
	if ! start_server --backend "$b" "$@"; then
		bad "$what: the server did not start"; sed 's/^/  | /' "$tmp/srv.err"
		[ -n "$server" ] && kill -KILL "$server" 2>/dev/null
		server=
		return
	fi
	"$bench" echo-client --port "$port" --conns 20 --runtime 1 --backend "$b" \
		>"$tmp/cl" 2>"$tmp/cl.err" ||
		{ bad "$what: client exit $?"; sed 's/^/  | /' "$tmp/cl.err"; }
	check_result "$tmp/cl" "$what" trips trips_per_s
	check_lat "$tmp/cl" "$what"
	if [ $# -eq 0 ]; then     # once per backend: the same as JSON
		"$bench" echo-client --json --port "$port" --conns 20 --runtime 0.5 \
			--backend "$b" >"$tmp/cl" 2>"$tmp/cl.err" ||
			{ bad "$what --json: client exit $?"; sed 's/^/  | /' "$tmp/cl.err"; }
		check_json "$tmp/cl" "$what --json" trips trips_per_s
	fi
	stop_server "$what"
}

for b in uring aio pool; do
	if ! "$bench" nop --runtime 0.05 --backend "$b" >/dev/null 2>"$tmp/err"; then
		echo "SKIP $b: $(cat "$tmp/err")"
		continue
	fi
	direct=--direct
	case $b in pool) direct= ;; esac   # and buffered reads once per backend
	"$bench" file --runtime 1 --size 8M --backend "$b" $direct "$tmp/data" \
		>"$tmp/out" 2>"$tmp/err" || bad "file $b $direct: exit $?"
	if grep -q 'does not take O_DIRECT' "$tmp/err"; then
		echo "note: $tmp does not take O_DIRECT; buffered instead"
		"$bench" file --runtime 1 --size 8M --backend "$b" "$tmp/data" \
			>"$tmp/out" 2>"$tmp/err" || bad "file $b: exit $?"
	fi
	check_result "$tmp/out" "file $b $direct" iops mibs p50_us p99_us
	check_lat "$tmp/out" "file $b $direct"
	[ "$(field "$tmp/out" backend)" = "$b" ] || bad "file $b: ran on $(field "$tmp/out" backend)"
	"$bench" file --json --runtime 0.3 --size 8M --backend "$b" "$tmp/data" \
		>"$tmp/out" 2>"$tmp/err" || bad "file --json $b: exit $?"
	check_json "$tmp/out" "file --json $b" iops mibs cpu
	"$bench" nop --runtime 1 --backend "$b" >"$tmp/out" 2>"$tmp/err" || bad "nop $b: exit $?"
	check_result "$tmp/out" "nop $b" ops ns_per_op
	check_lat "$tmp/out" "nop $b"
	"$bench" nop --json --runtime 0.3 --backend "$b" >"$tmp/out" 2>"$tmp/err" ||
		bad "nop --json $b: exit $?"
	check_json "$tmp/out" "nop --json $b" ops ns_per_op
	"$bench" file --rw randwrite --runtime 0.3 --size 8M --backend "$b" "$tmp/data" \
		>"$tmp/out" 2>"$tmp/err" || bad "randwrite $b: exit $?"
	check_result "$tmp/out" "randwrite $b" iops mibs
	echo_run "$b"
	echo_run "$b" --pool
done

# The tour, quickly: every workload on every backend, one table.
"$bench" tour --runtime 0.2 >"$tmp/out" 2>"$tmp/err" || { bad "tour: exit $?"; sed 's/^/  | /' "$tmp/err"; }
if grep -Eq '^(uring|aio|pool) .*IOPS' "$tmp/out"; then
	echo "ok: tour"
	sed 's/^/  | /' "$tmp/out"
else
	bad "tour: no table"; sed 's/^/  | /' "$tmp/out"
fi
if grep -q failed "$tmp/out"; then bad "tour: a run failed"; fi

# Mistakes: exit 2, one line.
expect2 "unknown option" "$bench" file --bogus "$tmp/data"
expect2 "bad --qd" "$bench" file --qd 0 "$tmp/data"
expect2 "bad --rw" "$bench" file --rw sideways "$tmp/data"
expect2 "bad --bs" "$bench" file --bs 4q "$tmp/data"
expect2 "missing value" "$bench" nop --runtime
expect2 "no FILE" "$bench" file
expect2 "unopenable file" "$bench" file --runtime 0.1 "$tmp/no/such/dir/data"
expect2 "unknown backend" "$bench" nop --backend nosuch
expect2 "option of another command" "$bench" nop --direct
expect2 "unknown command" "$bench" frobnicate
expect2 "echo-client without --port" "$bench" echo-client
expect2 "connection refused" "$bench" echo-client --port 1 --runtime 1
# --sqpoll: a RESULT from an SQPOLL loop where libcio and the kernel give
# one, else the refusal: exit 2, one line.
"$bench" nop --sqpoll --runtime 0.2 --backend uring >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 0 ]; then
	check_result "$tmp/out" "nop --sqpoll" ops ns_per_op
	[ "$(field "$tmp/out" backend)" = "uring+sqpoll" ] ||
		bad "--sqpoll: ran on $(field "$tmp/out" backend)"
elif [ $rc -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ]; then
	echo "ok: --sqpoll refused: $(cat "$tmp/err")"
else
	bad "--sqpoll: exit $rc"; sed 's/^/  | /' "$tmp/err"
fi
for b in uring pool; do
	"$bench" file --fixed --direct --runtime 0.3 --size 8M --backend "$b" "$tmp/data" \
		>"$tmp/out" 2>"$tmp/err" || bad "file --fixed $b: exit $?"
	check_result "$tmp/out" "file --fixed $b" iops mibs
done
if [ -x "$seccomp" ]; then
	expect2 "refused backend (io_uring blocked)" "$seccomp" --uring EPERM "$bench" nop --runtime 0.1 --backend uring
else
	echo "SKIP refused backend: tests/cio-seccomp is not built"
fi
if "$bench" --help >"$tmp/out" 2>&1 && grep -q '^usage:' "$tmp/out"; then
	echo "ok: --help"
else
	bad "--help: not usage and exit 0"
fi

# bench/plot.sh: from known results, the four charts, and the ratio of
# every compare.sh row and every fio-compare.sh table row.
plot="${top_srcdir:-.}/bench/plot.sh"
if command -v gnuplot >/dev/null 2>&1; then
	mkdir -p "$tmp/plot"
	printf '# qd uring aio fio   (IOPS)\n1 100 90 110\n32 900 800 1000\n' >"$tmp/plot/file.dat"
	printf '# conns uring pool epoll   (trips/s)\n100 50 40 45\n1000 30 35 32\n' >"$tmp/plot/echo.dat"
	cp "$tmp/plot/file.dat" "$tmp/plot/file-p99.dat"
	cp "$tmp/plot/echo.dat" "$tmp/plot/echo-p99.dat"
	{
		echo "compare.sh: an example"
		printf "%-34s %10s  %-14s %10s  %-6s %5s  %-6s %-3s  %s\n" workload libcio baseline median unit ratio target met "[runs]"
		printf "%-34s %10.0f  %-14s %10.0f  %-6s %5.2f  %-6s %-3s  [%s]\n" "randread 4k uring" 90 "fio io_uring" 100 IOPS 0.9 0.95 no "90 | 100" \
			"echo uring 100x64B" 120 "epoll" 100 trips/s 1.2 - "" "120 | 100"
		printf '| row | libcio | fio | ratio |\n|---|---:|---:|---:|\n| aio 4k randread | 98 | 100 | 0.98 |\n'
	} >"$tmp/plot/compare.txt"
	if "$plot" "$tmp/plot" >"$tmp/out" 2>&1; then
		for png in file-qd echo-conns p99 ratios; do
			[ -s "$tmp/plot/$png.png" ] || bad "plot.sh made no $png.png"
		done
		printf '"randread 4k uring" 0.90\n"echo uring 100x64B" 1.20\n"aio 4k randread" 0.98\n' >"$tmp/want"
		cmp -s "$tmp/want" "$tmp/plot/ratios.dat" ||
			{ bad "plot.sh read the ratios wrong:"; sed 's/^/  | /' "$tmp/plot/ratios.dat"; }
		[ $fail -eq 0 ] && echo "ok: plot.sh drew 4 charts"
	else
		bad "plot.sh: exit $?"; sed 's/^/  | /' "$tmp/out"
	fi
else
	echo "SKIP plot.sh: gnuplot is not installed (Debian: apt-get install gnuplot-nox)"
fi

[ $fail -eq 0 ] && echo "PASS: cio-bench"
exit $fail
