#!/bin/bash
# cio-httpd against nginx, one core each: wrk -t1 -c100 -d5s on a 1 KiB
# and a 64 KiB file over loopback, the two servers alternated, three runs
# each; prints the medians (requests/s) and the ratio cio-httpd / nginx.
#
# Run from a build directory (or set CIO_HTTPD to the binary). Needs the
# Debian packages nginx and wrk; installs nothing itself. A benchmark, not
# a test: about 75 s. Environment: RUNS (3), DURATION (5s), CONNS (100).
set -u
httpd="${CIO_HTTPD:-./tools/cio-httpd}"
runs="${RUNS:-3}"
duration="${DURATION:-5s}"
conns="${CONNS:-100}"

missing=
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || missing="$missing nginx"
if [ -n "$missing" ]; then
	echo "httpd-vs-nginx: missing:$missing (Debian: apt-get install -y$missing)" >&2
	exit 1
fi
if [ ! -x "$httpd" ]; then
	echo "httpd-vs-nginx: $httpd not found: run from the build directory or set CIO_HTTPD" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/httpd-vs-nginx-XXXXXX") || exit 1
cio_pid=
ngx_pid=
cleanup() {
	[ -n "$cio_pid" ] && kill -TERM "$cio_pid" 2>/dev/null
	[ -n "$ngx_pid" ] && kill -QUIT "$ngx_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# nginx's worker runs as an unprivileged user: let it read the files.
chmod 755 "$tmp"
mkdir -p "$tmp/www"
head -c 1024 /dev/urandom >"$tmp/www/1k.bin"
head -c 65536 /dev/urandom >"$tmp/www/64k.bin"

# One core for the server under test, the other for wrk, when there are two.
srv_cpu=
cli_cpu=
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
	srv_cpu="taskset -c 1"
	cli_cpu="taskset -c 0"
fi

# nginx: one worker, sendfile on, no access log, everything in $tmp.
# keepalive_requests is raised from its default of 1000 so that both
# servers keep wrk's connections for the whole run: the figures compare
# request handling, not reconnects.
start_nginx() {
	local port i
	for i in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 20000))
		cat >"$tmp/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	keepalive_requests 1000000;
	default_type application/octet-stream;
	client_body_temp_path $tmp/body;
	proxy_temp_path $tmp/proxy;
	fastcgi_temp_path $tmp/fastcgi;
	uwsgi_temp_path $tmp/uwsgi;
	scgi_temp_path $tmp/scgi;
	server {
		listen 127.0.0.1:$port reuseport;
		root $tmp/www;
	}
}
EOF
		$srv_cpu "$nginx" -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/nginx-error.log" 2>>"$tmp/nginx-error.log" &
		ngx_pid=$!
		sleep 0.5
		if kill -0 "$ngx_pid" 2>/dev/null &&
		   wrk -t1 -c1 -d1s "http://127.0.0.1:$port/1k.bin" 2>/dev/null | grep -q '^Requests/sec'; then
			ngx_port=$port
			return 0
		fi
		kill -QUIT "$ngx_pid" 2>/dev/null
		wait "$ngx_pid" 2>/dev/null
		ngx_pid=
	done
	echo "httpd-vs-nginx: nginx did not start:" >&2
	cat "$tmp/nginx-error.log" >&2
	exit 1
}

start_cio() {
	local i
	$srv_cpu "$httpd" --root "$tmp/www" --listen 127.0.0.1:0 --threads 1 >"$tmp/cio.out" 2>&1 &
	cio_pid=$!
	for i in $(seq 50); do
		cio_port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$tmp/cio.out")
		[ -n "$cio_port" ] && return 0
		sleep 0.1
	done
	echo "httpd-vs-nginx: cio-httpd did not start:" >&2
	cat "$tmp/cio.out" >&2
	exit 1
}

# measure PORT FILE: requests/s of one wrk run; complains about errors.
measure() {
	local out
	out=$($cli_cpu wrk -t1 -c"$conns" -d"$duration" "http://127.0.0.1:$1/$2" 2>&1)
	if echo "$out" | grep -q -e 'Socket errors' -e 'Non-2xx'; then
		echo "httpd-vs-nginx: errors on port $1 /$2:" >&2
		echo "$out" | grep -e 'Socket errors' -e 'Non-2xx' >&2
	fi
	echo "$out" | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p'
}

median() {
	tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END {
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

start_nginx
start_cio
echo "nginx $("$nginx" -v 2>&1 | sed 's/.*nginx\///'), one worker, port $ngx_port;" \
     "cio-httpd $(sed -n 's/^backend //p' "$tmp/cio.out"), port $cio_port"
echo "wrk -t1 -c$conns -d$duration, $runs runs each, alternated${srv_cpu:+; server on CPU 1, wrk on CPU 0}"

# warm both (page cache, lazy set-up) before measuring
for f in 1k.bin 64k.bin; do
	wrk -t1 -c"$conns" -d1s "http://127.0.0.1:$ngx_port/$f" >/dev/null 2>&1
	wrk -t1 -c"$conns" -d1s "http://127.0.0.1:$cio_port/$f" >/dev/null 2>&1
done

declare -A res
for r in $(seq "$runs"); do
	for f in 1k 64k; do
		n=$(measure "$ngx_port" "$f.bin")
		c=$(measure "$cio_port" "$f.bin")
		echo "run $r $f: nginx $n  cio-httpd $c"
		res[ngx_$f]="${res[ngx_$f]:-} $n"
		res[cio_$f]="${res[cio_$f]:-} $c"
	done
done

echo
printf '%-6s %14s %16s %8s\n' file "nginx req/s" "cio-httpd req/s" ratio
status=0
for f in 1k 64k; do
	n=$(echo "${res[ngx_$f]}" | median)
	c=$(echo "${res[cio_$f]}" | median)
	ratio=$(awk -v c="$c" -v n="$n" 'BEGIN { if (n > 0) printf "%.2f", c / n; else print "-" }')
	printf '%-6s %14.0f %16.0f %8s\n' "$f" "$n" "$c" "$ratio"
done
exit $status
