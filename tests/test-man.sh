#!/bin/sh
# Every exported function has a man3 page, and every page lints clean.
set -eu
src="${top_srcdir:-.}"
lib="${top_builddir:-.}/lib/.libs/libcio.so"
status=0
if [ -f "$lib" ]; then
	syms=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | grep '^cio_' | sort -u)
else
	syms=$(grep -oE '\bcio_[a-z0-9_]+\(' "$src/include/cio.h" | tr -d '(' | sort -u)
fi
for s in $syms; do
	if [ ! -f "$src/man/man3/$s.3" ]; then
		echo "FAIL: no man page man/man3/$s.3"; status=1
	fi
done
if [ -n "${MANDOC:-}" ] && command -v "$MANDOC" >/dev/null 2>&1; then
	for page in "$src"/man/man[137]/*.[137]; do
		[ -f "$page" ] || continue
		# .so alias pages are resolved by man(1); lint the real pages.
		if head -n 1 "$page" | grep -q '^\.so '; then continue; fi
		out=$("$MANDOC" -Tlint -W warning "$page" 2>&1 || true)
		if [ -n "$out" ]; then echo "FAIL: $out"; status=1; fi
	done
else
	echo "SKIP lint: mandoc is not installed"
fi
[ $status -eq 0 ] && echo "PASS: $(echo "$syms" | wc -w) functions documented, pages lint clean"
exit $status
