#!/bin/sh
# The public header: compiles cleanly on its own as C11 and as C++17 with
# -Wall -Wextra -pedantic, and every public declaration has a comment
# (its return convention) right above it.
set -eu
src="${top_srcdir:-.}"
hdr="$src/include/cio.h"
CC="${CC:-cc}"
CXX="${CXX:-c++}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

cat > "$tmp/use.c" <<'EOF'
#include <cio.h>
/* Touch the types and a few declarations, so unused-header warnings and
 * C++ linkage both get exercised. */
static void on_done(cio_req *req) { (void)req; }
int main(void)
{
	cio_req req = { 0 };
	struct cio_loop_opts opts = { 0 };
	int (*fn)(cio_loop *, cio_req *, cio_cb) = cio_nop;
	(void)req; (void)opts; (void)fn; (void)on_done;
	return CIO_VERSION_MAJOR + CIO_RUN_DEFAULT + CIO_OP_NOP;
}
EOF
# C++ value-initialises with {} where C writes { 0 }.
sed "s/{ 0 }/{}/" "$tmp/use.c" > "$tmp/use.cc"

if "$CC" -std=c11 -Wall -Wextra -pedantic -Werror -I"$src/include" \
	-c "$tmp/use.c" -o "$tmp/c.o" 2> "$tmp/c.err"; then
	echo "PASS: cio.h as C11 ($CC -std=c11 -Wall -Wextra -pedantic -Werror)"
else
	echo "FAIL: cio.h as C11:"; cat "$tmp/c.err"; status=1
fi

if command -v "$CXX" >/dev/null 2>&1; then
	if "$CXX" -std=c++17 -Wall -Wextra -pedantic -Werror -I"$src/include" \
		-c "$tmp/use.cc" -o "$tmp/cc.o" 2> "$tmp/cc.err"; then
		echo "PASS: cio.h as C++17 ($CXX -std=c++17 -Wall -Wextra -pedantic -Werror)"
	else
		echo "FAIL: cio.h as C++17:"; cat "$tmp/cc.err"; status=1
	fi
else
	echo "FAIL: no C++ compiler ($CXX) to check the header with (Debian: g++)"
	status=1
fi

# A declaration starts with CIO_API; the line before it (skipping the
# declaration's own continuation lines) must close a comment.
missing=$(awk '
	/^CIO_API/ {
		if (prev !~ /\*\/[ \t]*$/) print FILENAME ":" NR ": " $0
	}
	{ prev = $0 }
' "$hdr")
if [ -n "$missing" ]; then
	echo "FAIL: public declarations without a comment above them:"
	echo "$missing"
	status=1
else
	echo "PASS: $(grep -c '^CIO_API' "$hdr") public declarations, each with its comment"
fi
exit $status
