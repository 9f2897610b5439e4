#!/bin/sh
# The manual is complete and well-formed:
#  - every exported cio_* function (from the built library's dynamic symbol
#    table) and every CIO_* macro of cio.h has a man3 page, real or .so alias;
#  - every real man3 page that documents a function has the sections a C
#    programmer looks for;
#  - every page named in a .BR reference to section 1, 3 or 7 of libcio
#    exists, and every .so alias points at a page that exists;
#  - every page is listed in man/Makemodule.am, so it is installed and
#    shipped in the tarball;
#  - every option a tool's --help lists is in its man1 page;
#  - mandoc -Tlint is silent on every page.
set -eu
src="${top_srcdir:-.}"
lib="${top_builddir:-.}/lib/.libs/libcio.so"
hdr="$src/include/cio.h"
status=0
fail() { echo "FAIL: $*"; status=1; }

if [ -f "$lib" ]; then
	syms=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | grep '^cio_' | sort -u)
	from="libcio.so"
else
	# A static-only build (the sanitizer pass): the version script is the
	# list of what is exported.
	syms=$(grep -oE '^[[:space:]]+cio_[a-z0-9_]+;' "$src/lib/libcio.map" | tr -d ' \t;' | sort -u)
	from="lib/libcio.map"
fi
[ -n "$syms" ] || fail "found no exported functions in $from"
macros=$(sed -n 's/^#[[:space:]]*define[[:space:]]\{1,\}\(CIO_[A-Z0-9_]*\).*/\1/p' "$hdr" |
	grep -v '^CIO_H$' | sort -u)
[ -n "$macros" ] || fail "found no macros in $hdr"

for s in $syms $macros; do
	[ -f "$src/man/man3/$s.3" ] || fail "no man page man/man3/$s.3"
done

for page in "$src"/man/man[137]/*.[137]; do
	[ -f "$page" ] || continue
	name=${page#"$src"/}
	grep -qE "^[[:space:]]*$name[[:space:]\\\\]*\$" "$src/man/Makemodule.am" ||
		fail "$name is not listed in man/Makemodule.am"
	first=$(head -n 1 "$page")
	case "$first" in
	.so\ *)
		target=${first#.so }
		[ -f "$src/man/$target" ] || fail "$name: .so $target: no such page"
		continue ;;
	esac
	# Pages whose SYNOPSIS declares a function need the full set.
	if grep -q '^\.SH SYNOPSIS' "$page" && grep -qE '^\.BI? "?(int|void|const char|int64_t) \*?cio_' "$page"; then
		for sec in NAME SYNOPSIS DESCRIPTION "RETURN VALUE" ERRORS NOTES "SEE ALSO"; do
			grep -q "^\.SH \"\\{0,1\\}$sec\"\\{0,1\\}\$" "$page" || fail "$name has no $sec section"
		done
	fi
	# Cross-references to our own pages must resolve.
	refs=$(sed -n 's/^\.BR \([cC][iI][oO][-_A-Za-z0-9]*\) (\([137]\)).*/\1.\2/p' "$page" | sort -u)
	for r in $refs; do
		sec=${r##*.}
		[ -f "$src/man/man$sec/$r" ] || fail "$name refers to ${r%.*}($sec), which has no page"
	done
done

# Each tool's man1 page names every option its --help lists.
for t in cio-bench cio-httpd cio-cp cio-ftpd; do
	bin="${top_builddir:-.}/tools/$t"
	page="$src/man/man1/$t.1"
	[ -f "$page" ] || { fail "no man page man/man1/$t.1"; continue; }
	[ -x "$bin" ] || continue
	for o in $("$bin" --help 2>&1 | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u); do
		# In roff a dash is written \-.
		pat=$(printf '%s' "$o" | sed 's/-/\\\\-/g')
		grep -q -- "$pat" "$page" || fail "$t --help lists $o, man/man1/$t.1 does not"
	done
done

if [ -n "${MANDOC:-}" ] && command -v "$MANDOC" >/dev/null 2>&1; then
	for page in "$src"/man/man[137]/*.[137]; do
		[ -f "$page" ] || continue
		# .so alias pages are resolved by man(1); lint the real pages.
		if head -n 1 "$page" | grep -q '^\.so '; then continue; fi
		out=$("$MANDOC" -Tlint -W warning "$page" 2>&1 || true)
		if [ -n "$out" ]; then fail "$out"; fi
	done
	linted="pages lint clean"
else
	# configure looked for mandoc; a build without it says so and checks
	# the rest. CI installs mandoc, so there the lint always runs.
	echo "SKIP lint: mandoc is not installed (Debian: mandoc)"
	linted="lint skipped"
fi
[ $status -eq 0 ] && echo "PASS: $(echo "$syms" | wc -w) functions ($from) and $(echo "$macros" | wc -w) macros documented, cross-references resolve, $linted"
exit $status
