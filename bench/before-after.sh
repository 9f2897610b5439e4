#!/bin/sh
# SPDX-License-Identifier: MIT
# before-after.sh OLD-BUILD NEW-BUILD: the nop and echo rows of compare.sh
# for two builds of libcio in one go, to show a change costs nothing.
# Each round runs OLD, NEW and the baseline (raw liburing nops, the
# hand-written epoll echo server) one after the other; the table gives
# medians and each build's ratio to the baseline of the same rounds.
#
#   ../bench/before-after.sh /path/to/old/_build .     (after make bench in both)
# Knobs: RUNTIME=3 ROUNDS=3 CONNS=100
set -u
[ $# -eq 2 ] || { echo "usage: $0 OLD-BUILD NEW-BUILD" >&2; exit 2; }
old=$1 new=$2
RUNTIME=${RUNTIME:-3}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-100}
for b in "$old" "$new"; do
	for p in tools/cio-bench bench/uring-nop bench/epoll-echo; do
		[ -x "$b/$p" ] || { echo "$b/$p is missing: run make bench there" >&2; exit 2; }
	done
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cio-ba-XXXXXX") || exit 1
trap 'kill -KILL $(cat "$tmp"/pid 2>/dev/null) 2>/dev/null; rm -rf "$tmp"' EXIT

field() { grep '^RESULT ' | tail -n 1 | tr ' ' '\n' | sed -n "s/^$1=//p"; }
ns_to_ops() { awk '{ if ($1 > 0) printf "%.0f\n", 1e9 / $1 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }

nop() {   # BUILD|raw
	if [ "$1" = raw ]; then
		"$new/bench/uring-nop" 64 "$RUNTIME" 2>/dev/null | field ns_per_op | ns_to_ops
	else
		"$1/tools/cio-bench" nop --backend uring --qd 64 --runtime "$RUNTIME" 2>/dev/null |
			field ns_per_op | ns_to_ops
	fi
}

echo_rt() {   # BUILD BACKEND | raw
	rm -f "$tmp/srv"
	if [ "$1" = raw ]; then
		"$new/bench/epoll-echo" 0 >"$tmp/srv" 2>/dev/null &
	else
		"$1/tools/cio-bench" echo-server --port 0 --backend "$2" >"$tmp/srv" 2>/dev/null &
	fi
	echo $! >"$tmp/pid"
	port=
	for _ in $(seq 1 50); do
		port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/srv" 2>/dev/null)
		[ -n "$port" ] && break
		sleep 0.1
	done
	[ -n "$port" ] && "$new/tools/cio-bench" echo-client --port "$port" --conns "$CONNS" \
		--msg 64 --runtime "$RUNTIME" 2>/dev/null | field trips_per_s
	kill "$(cat "$tmp/pid")" 2>/dev/null
	wait "$(cat "$tmp/pid")" 2>/dev/null
	rm -f "$tmp/pid"
}

printf '%-22s %12s %12s %12s %9s %9s\n' row old new baseline old/base new/base
row() {   # NAME CMD-OLD CMD-NEW CMD-BASE
	name=$1
	: >"$tmp/o"; : >"$tmp/n"; : >"$tmp/b"
	for _ in $(seq 1 "$ROUNDS"); do
		eval "$2" >>"$tmp/o"
		eval "$3" >>"$tmp/n"
		eval "$4" >>"$tmp/b"
	done
	o=$(median <"$tmp/o"); n=$(median <"$tmp/n"); b=$(median <"$tmp/b")
	printf '%-22s %12s %12s %12s %9s %9s\n' "$name" "$o" "$n" "$b" \
		"$(awk -v a="$o" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b }')" \
		"$(awk -v a="$n" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b }')"
}
row "nop uring QD64 ops/s" 'nop "$old"' 'nop "$new"' 'nop raw'
for be in uring aio pool; do
	row "echo $be trips/s" "echo_rt \"\$old\" $be" "echo_rt \"\$new\" $be" 'echo_rt raw'
done
echo "before-after.sh: $(nproc) CPUs, kernel $(uname -r), $ROUNDS rounds x $RUNTIME s, $CONNS connections"
