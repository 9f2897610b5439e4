#!/bin/sh
# The libFuzzer target for cio-httpd's request parser runs briefly from its
# seed corpus: no crash, no sanitizer report, no broken invariant (see
# tests/fuzz/fuzz-http.c). Exit 77 (skip) when clang cannot build it.
set -u
src="${top_srcdir:-.}"
build="${top_builddir:-.}"
fuzzer="$build/tests/fuzz/fuzz-http"
if ! command -v "${FUZZ_CC:-clang}" >/dev/null 2>&1; then
	echo "SKIP: ${FUZZ_CC:-clang} is not installed (Debian: apt-get install clang)"
	exit 77
fi
make -s -C "$build" fuzz FUZZ_CC="${FUZZ_CC:-clang}" || exit 1
if [ ! -x "$fuzzer" ]; then
	echo "SKIP: ${FUZZ_CC:-clang} -fsanitize=fuzzer does not link here (libFuzzer missing)"
	exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/cio-fuzz-http-XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
# New inputs go to a scratch copy: the seed corpus in the tree stays as is.
cp "$src"/tests/fuzz/corpus/* "$work/" 2>/dev/null
if "$fuzzer" -runs=200000 -max_total_time=20 -max_len=9000 -timeout=10 \
	     -print_final_stats=1 "$work" >"$work.log" 2>&1; then
	echo "PASS: $(grep -E '^stat::number_of_executed_units' "$work.log" | awk '{print $2}') inputs, $(grep -c . "$work.log") log lines"
	rm -f "$work.log"
	exit 0
fi
cat "$work.log"
rm -f "$work.log"
echo "FAIL: the fuzzer found a problem (reproducer above, crash-* in the build directory)"
exit 1
