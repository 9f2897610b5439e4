#!/bin/sh
# cio-cp: byte-exact copies on every backend, and the refusals that
# protect data: a copy onto itself, a source whose size is unknown, a
# backend that cannot run, a bad option. Each refusal exits 2 and leaves the files as they were.
set -u
cp_="${top_builddir:-.}/tools/cio-cp"
[ -x "$cp_" ] || { echo "FAIL: $cp_ is not built"; exit 1; }
for d in /var/tmp "${TMPDIR:-/tmp}"; do
	tmp=$(mktemp -d "$d/cio-cp-test-XXXXXX" 2>/dev/null) && break
done
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

head -c $((3 * 1024 * 1024 + 4096 * 3)) /dev/urandom > "$tmp/src"
cp "$tmp/src" "$tmp/keep"
for b in $(echo "${CIO_TEST_BACKENDS:-uring,aio,pool}" | tr ',' ' '); do
	rm -f "$tmp/dst"
	if "$cp_" --backend "$b" --qd 8 --bs 64k "$tmp/src" "$tmp/dst" > "$tmp/out" 2>&1 &&
	   cmp -s "$tmp/src" "$tmp/dst"; then
		echo "PASS: copy on $b: $(cat "$tmp/out")"
	else
		bad "copy on $b: $(cat "$tmp/out")"
	fi
done

expect2() {   # expect2 WHAT ARGS...: exit status 2, one line on stderr
	what=$1; shift
	"$cp_" "$@" > /dev/null 2> "$tmp/err"
	rc=$?
	if [ $rc -eq 2 ] && [ "$(wc -l < "$tmp/err")" -eq 1 ]; then
		echo "PASS: $what: $(cat "$tmp/err")"
	else
		bad "$what: exit $rc, stderr: $(cat "$tmp/err")"
	fi
}
expect2 "onto itself" "$tmp/src" "$tmp/src"
ln -s src "$tmp/link"
expect2 "onto itself by a symlink" "$tmp/src" "$tmp/link"
cmp -s "$tmp/src" "$tmp/keep" || bad "the source changed"
expect2 "size unknown (/proc)" /proc/self/status "$tmp/proc"
[ -e "$tmp/proc" ] && bad "/proc copy created its destination"
echo data > "$tmp/old"
expect2 "unknown backend" --backend nosuch "$tmp/src" "$tmp/old"
[ "$(cat "$tmp/old")" = data ] || bad "an unknown backend truncated DST"
expect2 "--qd 8x" --qd 8x "$tmp/src" "$tmp/x"
expect2 "--bs 0" --bs 0 "$tmp/src" "$tmp/x"
[ $fail -eq 0 ] && echo "PASS: cio-cp"
exit $fail
