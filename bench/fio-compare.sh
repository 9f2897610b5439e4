#!/bin/sh
# SPDX-License-Identifier: MIT
# fio-compare.sh: one fio binary, two engines per row: libcio's
# (fio/cio-engine.so, `make fio-engine`) on one backend against the fio
# engine that does the same job: uring vs io_uring, aio vs libaio
# (O_DIRECT) or psync (buffered: Linux AIO is synchronous there), pool vs
# psync. Same job file, same file, alternately, ROUNDS runs each of
# RUNTIME seconds; prints the medians and libcio / fio as a markdown table.
#
# From the build directory, after `make fio-engine`:
#   ../bench/fio-compare.sh
# Knobs (environment): RUNTIME=5 ROUNDS=3 FILE=/var/tmp/cio-fio-compare.dat
#   SIZE=1G ONLY=REGEX (rows whose name matches) FIO=fio ENGINE=fio/cio-engine.so
#
# psync is synchronous: fio runs it at depth 1 whatever iodepth says. It is
# the row's baseline because it is what a program without io_uring or
# O_DIRECT has; the ratio says what the backend's queue depth buys.
set -u
RUNTIME=${RUNTIME:-5}
ROUNDS=${ROUNDS:-3}
FILE=${FILE:-/var/tmp/cio-fio-compare.dat}
SIZE=${SIZE:-1G}
FIO=${FIO:-fio}
ENGINE=${ENGINE:-${BUILD:-.}/fio/cio-engine.so}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cio-fio-compare-XXXXXX") || exit 1
made_file=
cleanup() {
	[ -n "$made_file" ] && rm -f "$FILE"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

say() { echo "fio-compare.sh: $*" >&2; }

if ! command -v "$FIO" >/dev/null 2>&1; then
	say "$FIO is not installed (Debian: apt-get install fio)"
	exit 2
fi
if [ ! -f "$ENGINE" ]; then
	say "$ENGINE is missing: run 'make fio-engine' in the build directory, and this from there"
	exit 2
fi
case $ENGINE in /*) ;; *) ENGINE=$PWD/$ENGINE ;; esac

# One run: print its IOPS, or nothing. Terse v3: field 8 is read IOPS, 49
# write IOPS. invalidate=0 keeps the page cache warm for the buffered rows.
# fio_iops RW BS QD DIRECT ENGINE-OPTION...
fio_iops() {
	rw=$1 bs=$2 qd=$3 direct=$4; shift 4
	"$FIO" --name=compare --filename="$FILE" --size="$SIZE" --rw="$rw" --bs="$bs" \
		--iodepth="$qd" --direct="$direct" --invalidate=0 --runtime="$RUNTIME" \
		--time_based --output-format=terse --terse-version=3 "$@" 2>"$tmp/err" |
		awk -F';' -v w="$rw" 'NF > 48 { printf "%.0f\n", (w ~ /write/) ? $49 : $8 }'
}

median() {     # numbers on stdin -> the median (the lower middle one)
	sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

rows=
# row WORKLOAD RW BS QD DIRECT BACKEND FIO-ENGINE
row() {
	wl=$1 rw=$2 bs=$3 qd=$4 direct=$5 backend=$6 base=$7
	name="$wl: cio $backend vs $base"
	if [ -n "${ONLY:-}" ] && ! printf '%s\n' "$name" | grep -Eq "$ONLY"; then
		return
	fi
	: >"$tmp/a"
	: >"$tmp/b"
	say "$name, $ROUNDS x $RUNTIME s each, alternately"
	i=0
	while [ $i -lt "$ROUNDS" ]; do
		va=$(fio_iops "$rw" "$bs" "$qd" "$direct" --ioengine="external:$ENGINE" \
			--cio_backend="$backend")
		if [ -n "$va" ]; then echo "$va" >>"$tmp/a"; else say "  cio run failed: $(tail -n 1 "$tmp/err")"; fi
		vb=$(fio_iops "$rw" "$bs" "$qd" "$direct" --ioengine="$base")
		if [ -n "$vb" ]; then echo "$vb" >>"$tmp/b"; else say "  $base run failed: $(tail -n 1 "$tmp/err")"; fi
		say "  round $((i + 1)): cio $backend ${va:-fail}, $base ${vb:-fail} IOPS"
		i=$((i + 1))
	done
	ma=$(median <"$tmp/a")
	mb=$(median <"$tmp/b")
	line=$(awk -v w="$wl" -v cb="$backend" -v fb="$base" -v a="${ma:-0}" -v b="${mb:-0}" \
		-v ra="$(tr '\n' ' ' <"$tmp/a")" -v rb="$(tr '\n' ' ' <"$tmp/b")" 'BEGIN {
		r = (a > 0 && b > 0) ? sprintf("%.2f", a / b) : "-"
		printf "| %s | %s | %.0f | %s | %.0f | %s | %s/ %s|\n", w, cb, a, fb, b, r, ra, rb
	}')
	rows="$rows$line
"
}

# One layout for every row; O_DIRECT runs read what was written.
if [ ! -f "$FILE" ]; then
	made_file=yes
	say "preparing $FILE ($SIZE)"
	if ! "$FIO" --name=prep --filename="$FILE" --size="$SIZE" --rw=write --bs=1m \
		--ioengine=psync --output-format=terse >/dev/null 2>"$tmp/err"; then
		say "cannot prepare $FILE: $(cat "$tmp/err")"
		exit 2
	fi
fi

for b in "uring io_uring" "aio libaio" "pool psync"; do
	set -- $b
	row "4k randread QD32 O_DIRECT" randread 4k 32 1 "$1" "$2"
done
for b in "uring io_uring" "aio psync" "pool psync"; do
	set -- $b
	row "4k randread QD32 buffered (cached)" randread 4k 32 0 "$1" "$2"
done
for b in "uring io_uring" "aio libaio" "pool psync"; do
	set -- $b
	row "4k randwrite QD32 O_DIRECT" randwrite 4k 32 1 "$1" "$2"
done
for b in "uring io_uring" "aio libaio" "pool psync"; do
	set -- $b
	row "128k read QD8 O_DIRECT" read 128k 8 1 "$1" "$2"
done

echo
echo "fio-compare.sh: $("$FIO" --version), $(nproc) CPUs, kernel $(uname -r), $ROUNDS rounds x ${RUNTIME} s, file $FILE ($SIZE); IOPS are medians; psync runs at depth 1"
echo
echo "| workload | libcio backend | IOPS | fio engine | IOPS | ratio | runs (libcio / fio) |"
echo "|---|---|---:|---|---:|---:|---|"
printf "%s" "$rows"
