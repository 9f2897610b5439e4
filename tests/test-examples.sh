#!/usr/bin/env bash
# The install works: `make install` into a temporary directory, then build
# examples/*.c against the installed header and library the way a user
# would, with pkg-config, and run each one on every backend.
set -euo pipefail
src="${top_srcdir:-.}"
build="${top_builddir:-.}"
CC="${CC:-cc}"
PKG_CONFIG="${PKG_CONFIG:-pkg-config}"
backends="${CIO_TEST_BACKENDS:-uring,aio,pool}"
tmp=$(mktemp -d)
server=
cleanup() {
	[ -n "$server" ] && kill "$server" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

if ! command -v "$PKG_CONFIG" >/dev/null 2>&1; then
	echo "FAIL: no $PKG_CONFIG (Debian: pkg-config)"; exit 1
fi
dest="$tmp/dest"
if ! ${MAKE:-make} -C "$build" install DESTDIR="$dest" > "$tmp/install.log" 2>&1; then
	echo "FAIL: make install DESTDIR=$dest"; cat "$tmp/install.log"; exit 1
fi
pcdir="$dest${libdir:?libdir must be set by the Makefile}/pkgconfig"
[ -f "$pcdir/cio.pc" ] || { echo "FAIL: no cio.pc under $pcdir"; exit 1; }

# The sysroot prefixes the installed -I and -L paths with $dest.
pc() { PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$dest" "$PKG_CONFIG" "$@" cio; }
cflags=$(pc --cflags)
if ls "$dest$libdir"/libcio.so >/dev/null 2>&1; then
	libs=$(pc --libs)
else
	libs=$(pc --libs --static)   # a --disable-shared build installs libcio.a only
fi
case "$cflags" in *"$dest"*) ;; *) echo "FAIL: pkg-config --cflags cio gave '$cflags', not the installed header"; exit 1;; esac
export LD_LIBRARY_PATH="$dest$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "pkg-config cio: $cflags $libs"

# SAN_CFLAGS: a sanitizer build's library needs its runtime in the program.
for ex in copy echo-server timer-cancel; do
	if ! $CC -std=c11 -Wall -Wextra -Werror -pedantic ${SAN_CFLAGS:-} $cflags \
		"$src/examples/$ex.c" $libs -o "$tmp/$ex" 2> "$tmp/$ex.err"; then
		echo "FAIL: examples/$ex.c does not build against the install:"
		cat "$tmp/$ex.err"; exit 1
	fi
done
echo "PASS: examples built against the installed cio.h and libcio"

head -c $((5 * 1024 * 1024 + 12345)) /dev/urandom > "$tmp/in"
for b in ${backends//,/ }; do
	export CIO_BACKEND="$b"
	rm -f "$tmp/out"
	"$tmp/copy" "$tmp/in" "$tmp/out" > "$tmp/copy.log"
	cmp "$tmp/in" "$tmp/out" || { echo "FAIL: copy on $b: output differs"; exit 1; }
	grep -q "backend" "$tmp/copy.log"
	echo "PASS: copy on $b: $(cat "$tmp/copy.log")"

	"$tmp/timer-cancel" > "$tmp/tc.log" || { echo "FAIL: timer-cancel on $b:"; cat "$tmp/tc.log"; exit 1; }
	grep -q '^timer 10 s .*res = -125' "$tmp/tc.log" || { echo "FAIL: timer-cancel on $b: the long timer was not cancelled"; cat "$tmp/tc.log"; exit 1; }
	echo "PASS: timer-cancel on $b: $(tail -n 1 "$tmp/tc.log")"

	# Two clients, then the server exits by itself (bounded by timeout).
	timeout 120 "$tmp/echo-server" 0 2 > "$tmp/echo.log" &
	server=$!
	port=
	for _ in $(seq 600); do   # 30 s: a loaded machine
		port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/echo.log")
		[ -n "$port" ] && break
		sleep 0.05
	done
	[ -n "$port" ] || { echo "FAIL: echo-server on $b did not start"; exit 1; }
	for i in 1 2; do
		exec 3<>"/dev/tcp/127.0.0.1/$port"
		msg="hello $i from $b $(head -c 3000 /dev/urandom | od -An -tx1 | tr -d ' \n')"
		printf '%s\n' "$msg" >&3
		IFS= read -r -t 60 line <&3 || { echo "FAIL: echo-server on $b: no reply"; exit 1; }
		exec 3>&-
		[ "$line" = "$msg" ] || { echo "FAIL: echo-server on $b: reply differs"; exit 1; }
	done
	if ! wait "$server"; then echo "FAIL: echo-server on $b did not exit 0 after 2 clients"; exit 1; fi
	server=
	echo "PASS: echo-server on $b: 2 clients echoed byte for byte (6 KiB lines), then it exited"
done
