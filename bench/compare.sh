#!/bin/sh
# SPDX-License-Identifier: MIT
# compare.sh: libcio (cio-bench) against what people would use instead, on
# this machine, in one go: fio for files (io_uring and libaio engines), a
# raw liburing nop loop, a hand-written epoll echo server, libuv's
# uv_fs_read. Each pair runs alternately, ROUNDS times each, RUNTIME
# seconds a run; the table gives the medians and libcio / baseline.
#
# From the build directory, after `make bench`:
#   ../bench/compare.sh
# Knobs (environment): RUNTIME=5 ROUNDS=3 FILE=/var/tmp/cio-compare.dat ONLY=REGEX
#   SIZE=1G QD=32 UV_THREADPOOL_SIZE (libuv's own; its default is 4)
#
# Installs nothing. It needs fio (Debian package fio) for the file rows and
# libuv (libuv1-dev, then `make bench` again) for the pool row, and says so
# when they are missing, skipping those rows.
set -u
# 10,000 connections take 20,000 descriptors in all (client and server).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
CONNS=100
RUNTIME=${RUNTIME:-5}
ROUNDS=${ROUNDS:-3}
FILE=${FILE:-/var/tmp/cio-compare.dat}
SIZE=${SIZE:-1G}
QD=${QD:-32}
build=${BUILD:-.}
cio=$build/tools/cio-bench
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cio-compare-XXXXXX") || exit 1
made_file=

cleanup() {
	# echo_with runs in a subshell: its server's pid is in a file.
	[ -s "$tmp/server.pid" ] && kill -KILL "$(cat "$tmp/server.pid")" 2>/dev/null
	[ -n "$made_file" ] && rm -f "$FILE"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

say() { echo "compare.sh: $*" >&2; }

for p in "$cio" "$build/bench/uring-nop" "$build/bench/epoll-echo"; do
	if [ ! -x "$p" ]; then
		say "$p is missing: run 'make bench' in the build directory, and this from there"
		exit 2
	fi
done
have_fio=yes
if ! command -v fio >/dev/null 2>&1; then
	have_fio=
	say "fio is not installed (Debian: apt-get install fio): skipping the fio rows"
fi
have_uv=yes
if [ ! -x "$build/bench/uv-randread" ]; then
	have_uv=
	say "bench/uv-randread is not built (Debian: apt-get install libuv1-dev, then make bench): skipping the libuv row"
fi

# The value of KEY in the last RESULT line on stdin.
field() {
	grep '^RESULT ' | tail -n 1 | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# --- one measurement each: print a number (per second), or nothing ---

cio_file() {   # BACKEND DIRECT(0|1)
	d=; [ "$2" = 1 ] && d=--direct
	"$cio" file --backend "$1" $d --rw randread --bs 4k --qd "$QD" \
		--runtime "$RUNTIME" --size "$SIZE" "$FILE" 2>"$tmp/err" | field iops
}

fio_file() {   # ENGINE DIRECT(0|1) [RW [BS [FIO-OPTION...]]]
	# Terse v3: field 8 read IOPS, 49 write IOPS. invalidate=0 keeps the
	# page cache warm.
	eng=$1 dir=$2 rw=${3:-randread} bs=${4:-4k}
	shift 2; [ $# -gt 0 ] && shift; [ $# -gt 0 ] && shift
	fio --name=compare --filename="$FILE" --ioengine="$eng" --rw="$rw" \
		--bs="$bs" --iodepth="$QD" --direct="$dir" --invalidate=0 --size="$SIZE" \
		--runtime="$RUNTIME" --time_based --output-format=terse \
		--terse-version=3 "$@" 2>"$tmp/err" |
		awk -F';' -v w="$rw" 'NF > 8 { printf "%.0f\n", (w ~ /write/) ? $49 : $8 }'
}

# fio's libaio at its best on this disk: the better of its default
# submission and 32-at-a-time batches (which, some days, double its IOPS
# on this virtio disk, and some days cost it 15%).
fio_libaio_best() {   # RW BS
	a=$(fio_file libaio 1 "$1" "$2")
	b=$(fio_file libaio 1 "$1" "$2" --iodepth_batch_submit=32 --iodepth_batch_complete_max=32)
	printf '%s\n%s\n' "$a" "$b" | sort -n | tail -n 1
}

cio_file_rw() {   # BACKEND DIRECT(0|1) RW BS
	d=; [ "$2" = 1 ] && d=--direct
	"$cio" file --backend "$1" $d --rw "$3" --bs "$4" --qd "$QD" \
		--runtime "$RUNTIME" --size "$SIZE" "$FILE" 2>"$tmp/err" | field iops
}

uv_file() {    # DIRECT(0|1)
	d=; [ "$1" = 1 ] && d=--direct
	"$build/bench/uv-randread" $d "$FILE" "$QD" "$RUNTIME" 2>"$tmp/err" | field iops
}

ns_to_ops() { awk '{ if ($1 > 0) printf "%.0f\n", 1e9 / $1 }'; }

cio_nop() { "$cio" nop --backend uring --qd 64 --runtime "$RUNTIME" 2>"$tmp/err" | field ns_per_op | ns_to_ops; }
raw_nop() { "$build/bench/uring-nop" 64 "$RUNTIME" 2>"$tmp/err" | field ns_per_op | ns_to_ops; }

# echo_with SERVER-COMMAND...: start it on a free port, drive it with
# cio-bench echo-client (CONNS connections x 64 B), stop it.
echo_with() {
	rm -f "$tmp/srv"     # a stale "listening" line would name the last port
	"$@" >"$tmp/srv" 2>"$tmp/srv.err" &
	server=$!
	echo "$server" >"$tmp/server.pid"
	port=
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/srv" 2>/dev/null)
		[ -n "$port" ] && break
		sleep 0.1
	done
	if [ -n "$port" ]; then
		"$cio" echo-client --port "$port" --conns "$CONNS" --msg 64 \
			--runtime "$RUNTIME" 2>"$tmp/err" | field trips_per_s
	fi
	kill -TERM "$server" 2>/dev/null
	wait "$server" 2>/dev/null
	: >"$tmp/server.pid"
	server=
}

cio_echo() { echo_with "$cio" echo-server --port 0 --backend "$1" ${2:+"$2"}; }
epoll_echo() { echo_with "$build/bench/epoll-echo" 0; }

median() {     # numbers on stdin -> the median (the lower middle one)
	sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

rows=
# row NAME UNIT BASELINE-NAME TARGET "CIO-COMMAND" "BASELINE-COMMAND"
row() {
	name=$1 unit=$2 bname=$3 target=$4 a=$5 b=$6
	# ONLY=REGEX: just the rows whose name matches.
	if [ -n "${ONLY:-}" ] && ! printf '%s\n' "$name" | grep -Eq "$ONLY"; then
		return
	fi
	: >"$tmp/a"
	: >"$tmp/b"
	say "$name: libcio vs $bname, $ROUNDS x $RUNTIME s each, alternately"
	i=0
	while [ $i -lt "$ROUNDS" ]; do
		va=$(eval "$a")
		if [ -n "$va" ]; then echo "$va" >>"$tmp/a"; else say "  libcio run failed: $(tail -n 1 "$tmp/err")"; fi
		vb=$(eval "$b")
		if [ -n "$vb" ]; then echo "$vb" >>"$tmp/b"; else say "  $bname run failed: $(tail -n 1 "$tmp/err")"; fi
		say "  round $((i + 1)): libcio ${va:-fail}, $bname ${vb:-fail} $unit"
		i=$((i + 1))
	done
	ma=$(median <"$tmp/a")
	mb=$(median <"$tmp/b")
	line=$(awk -v n="$name" -v u="$unit" -v bn="$bname" -v a="${ma:-0}" -v b="${mb:-0}" \
		-v t="$target" -v ra="$(tr '\n' ' ' <"$tmp/a")" -v rb="$(tr '\n' ' ' <"$tmp/b")" 'BEGIN {
		r = (a > 0 && b > 0) ? a / b : 0
		met = (t == "-") ? "-" : (r >= t ? "yes" : "NO")
		printf "%-34s %10.0f  %-14s %10.0f  %-6s %5.2f  %-6s %-3s  [%s| %s]\n", n, a, bn, b, u, r, \
			(t == "-" ? "-" : ">=" t), met, ra, rb
	}')
	rows="$rows$line
"
}

[ -f "$FILE" ] || made_file=yes
say "preparing $FILE ($SIZE)"
if ! "$cio" file --runtime 0.1 --size "$SIZE" "$FILE" >/dev/null 2>"$tmp/err"; then
	say "cannot prepare $FILE: $(cat "$tmp/err")"
	exit 2
fi

if [ -n "$have_fio" ]; then
	row "uring 4K randread QD$QD O_DIRECT" IOPS "fio io_uring" 0.95 "cio_file uring 1" "fio_file io_uring 1"
	row "uring 4K randread QD$QD cached" IOPS "fio io_uring" 0.95 "cio_file uring 0" "fio_file io_uring 0"
	# Where io_uring is refused (#15): the aio and pool backends.
	row "pool 4K randread QD$QD cached" IOPS "fio psync" 0.9 "cio_file pool 0" "fio_file psync 0"
	row "aio 4K randread QD$QD cached" IOPS "fio psync" 0.9 "cio_file aio 0" "fio_file psync 0"
	row "aio 4K randread QD$QD O_DIRECT" IOPS "fio libaio*" 0.95 "cio_file aio 1" "fio_libaio_best randread 4k"
	row "aio 4K randwrite QD$QD O_DIRECT" IOPS "fio libaio*" 0.95 "cio_file_rw aio 1 randwrite 4k" "fio_libaio_best randwrite 4k"
	row "aio 64K read QD$QD O_DIRECT" IOPS "fio libaio*" 0.95 "cio_file_rw aio 1 read 64k" "fio_libaio_best read 64k"
fi
if [ -n "$have_uv" ]; then
	row "pool 4K randread QD$QD O_DIRECT" IOPS "libuv" 1.5 "cio_file pool 1" "uv_file 1"
fi
row "uring nop QD64" ops/s "raw liburing" 0.9 "cio_nop" "raw_nop"
for CONNS in 100 10000; do
	row "echo uring ${CONNS}x64B" trips/s "epoll" 1.0 "cio_echo uring" "epoll_echo"
	row "echo pool ${CONNS}x64B" trips/s "epoll" 1.0 "cio_echo pool" "epoll_echo"
	row "echo aio ${CONNS}x64B" trips/s "epoll" 1.0 "cio_echo aio" "epoll_echo"
done
CONNS=100
row "echo uring --pool 100x64B" trips/s "epoll" - "cio_echo uring --pool" "epoll_echo"

echo
echo "compare.sh: fio libaio*: the better of fio's default submission and --iodepth_batch_submit=32 --iodepth_batch_complete_max=32"
echo "compare.sh: $(nproc) CPUs, kernel $(uname -r), $ROUNDS rounds x ${RUNTIME} s, file $FILE ($SIZE), libuv threads ${UV_THREADPOOL_SIZE:-4 (default)}"
printf "%-34s %10s  %-14s %10s  %-6s %5s  %-6s %-3s  %s\n" workload libcio baseline median unit ratio target met "[runs: libcio | baseline]"
printf "%s" "$rows"
