#!/bin/sh
# The shared library exports cio_* symbols only, each under a version node.
set -eu
lib="${top_builddir:-.}/lib/.libs/libcio.so"
if [ ! -f "$lib" ]; then
	echo "SKIP: no shared library built ($lib)"
	exit 77
fi
bad=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^CIO_' | grep -v '^cio_[a-z]' || true)
if [ -n "$bad" ]; then
	echo "FAIL: symbols exported beyond cio_*:"; echo "$bad"; exit 1
fi
internal=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep '^cio__' || true)
if [ -n "$internal" ]; then
	echo "FAIL: internal symbols exported:"; echo "$internal"; exit 1
fi
unversioned=$(nm -D --defined-only "$lib" | awk '$3 ~ /^cio_/ && $3 !~ /@@CIO_/ {print $3}' || true)
if [ -n "$unversioned" ]; then
	echo "FAIL: exported without a version node:"; echo "$unversioned"; exit 1
fi
n=$(nm -D --defined-only "$lib" | awk '$3 ~ /^cio_/' | wc -l)
echo "PASS: $n cio_* symbols exported, all versioned"
