#!/bin/sh
# SPDX-License-Identifier: MIT
# Fetch and unpack fio's source from Debian's source package into DEST,
# through a private apt configuration kept inside DEST: the system's apt
# sources are never read or changed. The version fetched is the installed
# fio's (dpkg -s fio), so the engine is built against the headers of the
# binary that will load it.
#
# usage: fetch-fio-src.sh DEST [SUITE]
# env:   FIO_MIRROR (default http://deb.debian.org/debian)
set -eu
dest=${1:?usage: fetch-fio-src.sh DEST [SUITE]}
suite=${2:-bookworm}
mirror=${FIO_MIRROR:-http://deb.debian.org/debian}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

for tool in apt-get dpkg-source; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "fetch-fio-src: $tool not found (Debian: apt-get install apt dpkg-dev)" >&2
		exit 1
	}
done
ver=$(dpkg-query -W -f='${Version}' fio 2>/dev/null || true)
[ -n "$ver" ] || { echo "fetch-fio-src: fio is not installed (apt-get install fio)" >&2; exit 1; }

mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
apt="$dest/apt"
mkdir -p "$apt/empty" "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/dl"
echo "deb-src [signed-by=$keyring] $mirror $suite main" > "$apt/sources.list"
set -- -o "Dir::Etc::sourcelist=$apt/sources.list" \
	-o "Dir::Etc::sourceparts=$apt/empty" \
	-o "Dir::State::Lists=$apt/lists" \
	-o "Dir::Cache=$apt/cache" \
	-o "APT::Sandbox::User=$(id -un)" \
	-o "Debug::NoLocking=1"

echo "fetch-fio-src: fio $ver from $mirror $suite into $dest"
apt-get "$@" -q update
(cd "$apt/dl" && apt-get "$@" -q source --download-only "fio=$ver")
rm -rf "$dest/src.tmp"
dsc=$(ls "$apt/dl"/fio_*.dsc | head -n 1)
# --no-copy: leave the orig tarball in apt/dl, not beside src.
dpkg-source --no-copy -x "$dsc" "$dest/src.tmp"
rm -rf "$dest/src"
mv "$dest/src.tmp" "$dest/src"
echo "fetch-fio-src: unpacked in $dest/src"
