#!/bin/sh
# SPDX-License-Identifier: MIT
# plot.sh: draws the benchmark results as PNG charts with gnuplot.
#
#   ../bench/plot.sh [DIR]
#
# reads what bench/scale.sh and bench/compare.sh left in DIR (default
# ./scale) and writes beside them:
#   file-qd.png     4 KiB O_DIRECT random-read IOPS against queue depth,
#                   per backend, beside fio (file.dat)
#   echo-conns.png  echo round trips/s against connections, per backend,
#                   beside the hand-written epoll server (echo.dat)
#   p99.png         p99 latency against load for both (file-p99.dat,
#                   echo-p99.dat)
#   ratios.png      every compare.sh row as libcio/baseline (compare.txt,
#                   the saved output of compare.sh or fio-compare.sh)
# A missing input only skips its chart. `make charts` runs the benchmarks
# and this script in one go.
set -u
dir=${1:-scale}
say() { echo "plot.sh: $*" >&2; }

command -v gnuplot >/dev/null 2>&1 ||
	{ say "no gnuplot (Debian: apt-get install gnuplot-nox)"; exit 2; }
[ -d "$dir" ] || { say "$dir: no such directory"; exit 2; }

# The column names are the .dat files' header line: "# x name name ...".
names() { sed -n '1s/^# *[^ ]* \([^(]*\).*/\1/p' "$1"; }
made=0
plot() {   # OUTPUT-NAME GNUPLOT-TEXT
	if printf '%s\n' "$2" | gnuplot && [ -s "$dir/$1" ]; then
		say "wrote $dir/$1"
		made=$((made + 1))
	else
		say "gnuplot failed on $dir/$1"
	fi
}

head='set terminal pngcairo noenhanced size 800,480 font ",11"
set grid
set key outside right top
set style data linespoints'

# Lines for columns 2..N of a .dat file; the last is the baseline, dashed.
series() {   # FILE
	n=$(names "$1" | wc -w)
	i=2
	s=
	for name in $(names "$1"); do
		dash=
		[ "$i" -eq $((n + 1)) ] && dash=' dashtype 2 lw 2'
		s="$s${s:+, }\"$1\" using 1:$i pt 7$dash title \"$name\""
		i=$((i + 1))
	done
	echo "plot $s"
}

if [ -s "$dir/file.dat" ]; then
	plot file-qd.png "$head
set output \"$dir/file-qd.png\"
set title \"4 KiB O_DIRECT random reads\"
set logscale x 2
set xlabel \"queue depth\"
set ylabel \"IOPS\"
set yrange [0:*]
$(series "$dir/file.dat")"
fi

if [ -s "$dir/echo.dat" ]; then
	plot echo-conns.png "$head
set output \"$dir/echo-conns.png\"
set title \"echo, 64 B messages\"
set logscale x 10
set xlabel \"connections\"
set ylabel \"round trips/s\"
set yrange [0:*]
$(series "$dir/echo.dat")"
fi

if [ -s "$dir/file-p99.dat" ] && [ -s "$dir/echo-p99.dat" ]; then
	plot p99.png "$(printf '%s\n' "$head" | sed 's/800,480/1200,480/')
set output \"$dir/p99.png\"
set multiplot layout 1,2
set title \"p99, 4 KiB O_DIRECT random reads\"
set logscale x 2
set xlabel \"queue depth\"
set ylabel \"p99 latency, µs (log)\"
set logscale y
$(series "$dir/file-p99.dat")
set title \"p99, echo round trip\"
set logscale x 10
set xlabel \"connections\"
$(series "$dir/echo-p99.dat")
unset multiplot"
fi

# compare.sh rows: a 34-column name, then "libcio baseline-name median unit
# ratio target met [runs]"; or a markdown table whose header names a
# "ratio" column (fio-compare.sh).
if [ -s "$dir/compare.txt" ]; then
	awk '
	/^\|/ {
		n = split($0, f, "|")
		for (i = 2; i < n; i++) { gsub(/^ +| +$/, "", f[i]) }
		if (!rc) {
			for (i = 2; i < n; i++) {
				if (f[i] == "ratio") rc = i
				if (f[i] == "libcio backend") bc = i
			}
			next
		}
		if (f[rc] ~ /^[0-9.]+$/) {
			gsub(/\*/, "", f[2])
			print "\"" (bc ? f[bc] ", " : "") f[2] "\"", f[rc]
		}
		next
	}
	length($0) > 40 && !/^compare/ {
		name = substr($0, 1, 34); sub(/ +$/, "", name)
		rest = substr($0, 35); sub(/^ +/, "", rest)
		n = split(rest, f, " +")
		# the figure, the baseline name, its figure, the unit, the ratio
		for (i = 2; i + 2 <= n; i++)
			if (f[i] ~ /^[0-9]+$/ && f[i + 1] !~ /^[0-9.]+$/ && f[i + 2] ~ /^[0-9]+\.[0-9]+$/) {
				if (f[1] ~ /^[0-9]+$/) print "\"" name "\"", f[i + 2]
				break
			}
	}' "$dir/compare.txt" >"$dir/ratios.dat"
	rows=$(wc -l <"$dir/ratios.dat")
	if [ "$rows" -gt 0 ]; then
		plot ratios.png "set terminal pngcairo noenhanced size 900,$((120 + rows * 24)) font \",11\"
set output \"$dir/ratios.png\"
set title \"libcio against its baseline (1.0 = as fast)\"
set style fill solid 0.6
set grid x
unset key
set xrange [0:*]
set yrange [-0.6:$rows - 0.4] reverse
set ytics scale 0
set xlabel \"ratio, libcio / baseline\"
set arrow from 1, graph 0 to 1, graph 1 nohead dashtype 2 lw 2
plot \"$dir/ratios.dat\" using (\$2 / 2):(\$0):(\$2 / 2):(0.35):yticlabels(1) with boxxyerror, \
     \"\" using 2:0:(sprintf(\"%.2f\", \$2)) with labels left offset 0.5,0"
	else
		say "$dir/compare.txt has no rows with a ratio"
	fi
fi

[ "$made" -gt 0 ] || { say "nothing to draw in $dir"; exit 1; }
