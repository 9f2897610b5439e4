#!/bin/sh
# SPDX-License-Identifier: MIT
# Make a fio source tree ready to build fio/cio-engine.c against, and check
# that it matches the fio binary that will load the engine.
#
# usage: prepare-fio-src.sh SRC [FETCH-DEST]
#   SRC: a fio source tree (FIO_SRC=...), or empty to use FETCH-DEST/src,
#        fetched from Debian's source package by fetch-fio-src.sh if absent.
# Prints the source directory on stdout; messages go to stderr.
# env: FIO (default fio): the binary the engine is for.
set -eu
src=${1:-}
fetch=${2:-fio}
fio=${FIO:-fio}
here=$(dirname "$0")
say() { echo "prepare-fio-src: $*" >&2; }

command -v "$fio" >/dev/null 2>&1 || { say "$fio not found (Debian: apt-get install fio)"; exit 1; }
if [ -z "$src" ]; then
	src=$fetch/src
	[ -f "$src/fio.h" ] || sh "$here/fetch-fio-src.sh" "$fetch" >&2
fi
[ -f "$src/fio.h" ] && [ -f "$src/ioengines.h" ] || { say "$src is not a fio source tree"; exit 1; }

# The version fio reports ("fio-3.33") against the source's default one.
want=$("$fio" --version | sed 's/^fio-//')
have=$(sed -n 's/^DEF_VER=fio-//p' "$src/FIO-VERSION-GEN")
case $want in
"$have"|"$have"-*) ;;
*) say "$src is fio $have, but $fio is $want: the structs an engine sees must match"; exit 1 ;;
esac

# Debian's configure line (debian/rules), less --enable-gfio and
# --enable-libnbd, which add programs and an engine but change no struct
# an external engine reads.
if [ ! -f "$src/config-host.h" ]; then
	say "configuring $src"
	(cd "$src" && ./configure --disable-native --prefix=/usr) >&2
fi

# The options that change struct io_u or struct thread_data (io_u.h,
# fio.h) must agree with the binary's; its engine list tells what it has.
# (CONFIG_RDMA only adds a pointer to io_u's last union, which the aiocb
# of CONFIG_POSIXAIO outsizes, so the build machine need not have rdma.)
engines=$("$fio" --enghelp 2>/dev/null)
check() {   # CONFIG ENGINE
	if printf '%s\n' "$engines" | grep -qx "[[:space:]]*$2"; then b=yes; else b=no; fi
	if grep -q "^#define $1\$" "$src/config-host.h"; then s=yes; else s=no; fi
	if [ "$b" != "$s" ]; then
		say "$1: $s in $src/config-host.h, but $fio's $2 engine says $b; the engine's io_u or thread_data would not match"
		exit 1
	fi
}
check CONFIG_LIBAIO libaio
check CONFIG_POSIXAIO posixaio
check CONFIG_CUDA libcufile
echo "$src"
