#!/bin/sh
# SPDX-License-Identifier: MIT
# scale.sh: how each backend scales, beside a baseline measured in the
# same run: echo at 100, 1,000 and 10,000 connections against the
# hand-written epoll server (bench/epoll-echo), and 4 KiB O_DIRECT random
# reads at queue depth 1, 8, 32 and 128 against fio's libaio engine. Every
# point is the median of ROUNDS runs, the backends and the baseline taking
# turns within each round. It answers "where does epoll beat the thread
# pool?" for this machine.
#
# From the build directory, after `make bench`:
#   ../bench/scale.sh [OUT-DIR]
# Writes OUT-DIR/echo.dat and OUT-DIR/file.dat (default: ./scale), the
# p99 latencies of the same runs in echo-p99.dat and file-p99.dat (µs, the
# median of the runs' p99s), and, where gnuplot is installed, the charts
# of bench/plot.sh.
# Knobs: RUNTIME=3 ROUNDS=3 FILE=/var/tmp/cio-compare.dat SIZE=1G
set -u
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
RUNTIME=${RUNTIME:-3}
ROUNDS=${ROUNDS:-3}
FILE=${FILE:-/var/tmp/cio-compare.dat}
SIZE=${SIZE:-1G}
build=${BUILD:-.}
out=${1:-scale}
cio=$build/tools/cio-bench
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cio-scale-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

say() { echo "scale.sh: $*" >&2; }

for p in "$cio" "$build/bench/epoll-echo"; do
	[ -x "$p" ] || { say "$p is missing: run 'make bench' first, and this from the build directory"; exit 2; }
done
mkdir -p "$out" || exit 2

# "VALUE P99" from a RESULT line
fields() {
	grep '^RESULT ' | tail -n 1 | awk -v k="$1" '{
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		if (k in v) print v[k], (("p99_us" in v) ? v["p99_us"] : 0) }'
}

echo_once() {   # CONNS SERVER-COMMAND...
	conns=$1
	shift
	"$@" >"$tmp/srv" 2>&1 &
	srv=$!
	port=
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/srv")
		[ -n "$port" ] && break
		sleep 0.1
	done
	[ -n "$port" ] && "$cio" echo-client --port "$port" --conns "$conns" --msg 64 \
		--runtime "$RUNTIME" 2>/dev/null | fields trips_per_s
	kill -TERM "$srv" 2>/dev/null
	wait "$srv" 2>/dev/null
}

file_once() {   # QD WHO
	case $2 in
	fio)
		fio --name=scale --filename="$FILE" --ioengine=libaio --rw=randread --bs=4k \
			--iodepth="$1" --direct=1 --size="$SIZE" --runtime="$RUNTIME" \
			--time_based --output-format=terse --terse-version=3 --percentile_list=99 \
			2>/dev/null | awk -F';' 'NF > 18 { split($18, p, "="); printf "%.0f %s\n", $8, p[2] }' ;;
	*)
		"$cio" file --backend "$2" --direct --rw randread --bs 4k --qd "$1" \
			--runtime "$RUNTIME" --size "$SIZE" "$FILE" 2>/dev/null | fields iops ;;
	esac
}

# median of column $1 of stdin
median() { awk -v c="$1" '{ print $c }' | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }

"$cio" file --runtime 0.1 --size "$SIZE" "$FILE" >/dev/null 2>&1 ||
	{ say "cannot prepare $FILE"; exit 2; }

echo "# conns uring aio pool epoll   (round trips/s, medians of $ROUNDS x ${RUNTIME} s)" >"$out/echo.dat"
echo "# conns uring aio pool epoll   (p99 round trip, µs, medians of $ROUNDS x ${RUNTIME} s)" >"$out/echo-p99.dat"
for conns in 100 1000 10000; do
	for who in uring aio pool epoll; do : >"$tmp/$who"; done
	r=0
	while [ $r -lt "$ROUNDS" ]; do
		for who in uring aio pool epoll; do
			if [ $who = epoll ]; then
				v=$(echo_once "$conns" "$build/bench/epoll-echo" 0)
			else
				v=$(echo_once "$conns" "$cio" echo-server --port 0 --backend $who)
			fi
			echo "${v:-0 0}" >>"$tmp/$who"
		done
		r=$((r + 1))
	done
	line="$conns"
	lat="$conns"
	for who in uring aio pool epoll; do
		line="$line $(median 1 <"$tmp/$who")"
		lat="$lat $(median 2 <"$tmp/$who")"
	done
	echo "$line" >>"$out/echo.dat"
	echo "$lat" >>"$out/echo-p99.dat"
	say "echo $conns conns: $line"
done

if command -v fio >/dev/null 2>&1; then
	whos="uring aio pool fio"
else
	whos="uring aio pool"
	say "no fio: the file curve has no baseline"
fi
echo "# qd $whos   (4 KiB O_DIRECT randread IOPS, medians of $ROUNDS x ${RUNTIME} s)" >"$out/file.dat"
echo "# qd $whos   (p99 completion latency, µs, medians of $ROUNDS x ${RUNTIME} s)" >"$out/file-p99.dat"
for qd in 1 8 32 128; do
	for who in $whos; do : >"$tmp/$who"; done
	r=0
	while [ $r -lt "$ROUNDS" ]; do
		for who in $whos; do
			v=$(file_once "$qd" "$who")
			echo "${v:-0 0}" >>"$tmp/$who"
		done
		r=$((r + 1))
	done
	line="$qd"
	lat="$qd"
	for who in $whos; do
		line="$line $(median 1 <"$tmp/$who")"
		lat="$lat $(median 2 <"$tmp/$who")"
	done
	echo "$line" >>"$out/file.dat"
	echo "$lat" >>"$out/file-p99.dat"
	say "file QD $qd: $line"
done

echo "== $out/echo.dat"; cat "$out/echo.dat"
echo "== $out/file.dat"; cat "$out/file.dat"
echo "== $out/echo-p99.dat"; cat "$out/echo-p99.dat"
echo "== $out/file-p99.dat"; cat "$out/file-p99.dat"
echo "scale.sh: $(nproc) CPUs, kernel $(uname -r), $ROUNDS rounds x ${RUNTIME} s"

if command -v gnuplot >/dev/null 2>&1; then
	"$(dirname "$0")/plot.sh" "$out"
else
	say "no gnuplot (Debian: apt-get install gnuplot-nox): no charts, the .dat files only"
fi
