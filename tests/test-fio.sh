#!/bin/sh
# SPDX-License-Identifier: MIT
# fio's own verify through the libcio engine (fio/cio-engine.so, built by
# `make fio-engine`), in Debian's fio binary, on every backend: crc32c and
# md5 with a verify backlog, random mixed reads and writes of 4k to 64k,
# O_DIRECT and buffered, registered buffers, fsync, fdatasync,
# sync_file_range and trim. A run whose engine corrupts every read must be
# caught by verify. Under a seccomp filter that refuses io_uring,
# cio_backend=auto must pick aio and still verify.
set -u
engine="${top_builddir:-.}/fio/cio-engine.so"
seccomp="${top_builddir:-.}/tests/cio-seccomp"
FIO=${FIO:-fio}
if ! command -v "$FIO" >/dev/null 2>&1; then
	echo "SKIP: fio is not installed (Debian: apt-get install fio)"
	exit 77
fi
if [ ! -f "$engine" ]; then
	echo "SKIP: $engine is not built (make fio-engine; see cio-fio(7))"
	exit 77
fi
case $engine in /*) ;; *) engine=$PWD/$engine ;; esac
FIO=$(command -v "$FIO")    # cio-seccomp execs a path, not a name
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cio-fio-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# O_DIRECT needs a file system that takes it (tmpfs does not).
direct_ok=1
if ! dd if=/dev/zero of="$tmp/probe" bs=4096 count=1 oflag=direct 2>/dev/null; then
	direct_ok=0
	echo "note: ${TMPDIR:-/tmp} refuses O_DIRECT: the direct=1 runs are skipped"
fi
rm -f "$tmp/probe"

# Every run is small and bounded: a hang ends in timeout's kill. Without
# verify_state_save=0, fio leaves local-*-verify.state files in the cwd.
# fio_run NAME ENV-ASSIGNMENT|- FIO-OPTION... : out in $tmp/NAME.out/.err
fio_run() {
	name=$1 envs=$2; shift 2
	mkdir -p "$tmp/$name"
	if [ "$envs" = - ]; then envs=; fi
	env $envs timeout -k 10 120 ${WRAP:-} "$FIO" --ioengine="external:$engine" \
		--directory="$tmp/$name" --size=8m --runtime=30 --iodepth=16 --verify_state_save=0 \
		"$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$?
	rm -rf "${tmp:?}/$name"
	return $rc
}

# expect_pass NAME ENV FIO-OPTION...: exit 0, no verify error, I/O done.
expect_pass() {
	name=$1
	if ! fio_run "$@"; then
		bad "$name: fio exited $rc"
		sed 's/^/  | /' "$tmp/$name.err" | head -n 20
		return 1
	fi
	if grep -qi 'verify' "$tmp/$name.err"; then
		bad "$name: verify complained"
		sed 's/^/  | /' "$tmp/$name.err" | head -n 20
		return 1
	fi
	if ! grep -q 'issued rwts: total=' "$tmp/$name.out"; then
		bad "$name: no I/O reported"
		sed 's/^/  | /' "$tmp/$name.out" | head -n 20
		return 1
	fi
	echo "ok: $name"
}

# The "issued rwts: total=R,W,T,S" counts of the run's first job.
issued() { sed -n 's/.*issued rwts: total=\([0-9,]*\).*/\1/p' "$tmp/$1.out" | head -n 1; }

# How many syncs fio timed, from the JSON half of --output-format=normal,json.
sync_count() {
	awk '/"sync" : \{/ { s = 1 } s && /"N" :/ { gsub(/[^0-9]/, ""); print; exit }' "$tmp/$1.out"
}

variant() {   # NAME BACKEND ENV
	v=$1 b=$2 e=$3
	set -- --cio_backend="$b"
	mix="--rw=randrw --bsrange=4k-64k --norandommap=0"
	if [ "$direct_ok" = 1 ]; then
		expect_pass "$v-crc32c-direct" "$e" "$@" --name=crc $mix --direct=1 --verify=crc32c
		expect_pass "$v-md5-backlog-direct" "$e" "$@" --name=md5 $mix --direct=1 \
			--verify=md5 --verify_backlog=16
		expect_pass "$v-fixed-direct" "$e" "$@" --cio_fixed=1 --name=fixed $mix \
			--direct=1 --verify=crc32c
	fi
	expect_pass "$v-crc32c-buffered" "$e" "$@" --name=crc $mix --direct=0 --verify=crc32c
	expect_pass "$v-md5-backlog-buffered" "$e" "$@" --name=md5 $mix --direct=0 \
		--verify=md5 --verify_backlog=16
	expect_pass "$v-fixed-buffered" "$e" "$@" --cio_fixed=1 --name=fixed $mix --direct=0 \
		--verify=crc32c
	# Syncs, counted by their latency samples in fio's JSON ("sync":
	# "lat_ns": "N"): fio 3.33's "issued" line files fdatasync and
	# sync_file_range under "short", whatever the engine.
	for s in --fsync=4 --fdatasync=4 --sync_file_range=write:4; do
		n="$v-$(echo "$s" | sed 's/^--//; s/=.*//')"
		if expect_pass "$n" "$e" "$@" --name=sync --rw=randwrite --bs=4k --size=2m \
			--verify=crc32c --output-format=normal,json "$s"; then
			syncs=$(sync_count "$n")
			if [ "${syncs:-0}" -lt 120 ]; then
				bad "$n: ${syncs:-no} syncs done, want about 128 (one per 4 of 512 writes)"
			fi
		fi
	done
	# Trim: punched holes read back as zeroes.
	if expect_pass "$v-trimwrite" "$e" "$@" --name=trim --rw=trimwrite --bs=64k --size=2m; then
		trims=$(issued "$v-trimwrite" | cut -d, -f3)
		[ "${trims:-0}" -eq 32 ] || bad "$v-trimwrite: $trims trims issued, want 32"
	fi
	# The negative control: every read is corrupted, so verify must fail.
	n="$v-corrupt-reads"
	if fio_run "$n" "$e" "$@" --cio_corrupt_reads=1 --name=bad $mix --direct=0 \
		--verify=crc32c; then
		bad "$n: fio exited 0 although every read was corrupted"
	elif ! grep -q 'verify failed' "$tmp/$n.err"; then
		bad "$n: fio failed ($rc) but not with a verify error"
		sed 's/^/  | /' "$tmp/$n.err" | head -n 10
	else
		echo "ok: $n (verify caught it: $(grep -m1 'verify failed' "$tmp/$n.err" | cut -c1-60)...)"
	fi
}

start=$(date +%s)
variant uring uring -
expect_pass uring-sqpoll - --cio_backend=uring --cio_sqpoll=1 --name=sq \
	--rw=randrw --bsrange=4k-64k --verify=crc32c
variant aio aio -
variant pool pool -
# uring with every opcode refused: each request goes to the pool through
# the backend's fallback (as tests/helpers.c's uring-fallback does).
variant uring-fallback uring CIO_DEBUG_NO_OPS=all

# The fallback variant really went through the pool, the plain one did not
# (the engine's cleanup reports the loop's counters under --debug=io).
for e in - CIO_DEBUG_NO_OPS=all; do
	n=uring-path; [ "$e" = - ] || n=uring-fallback-path
	if expect_pass "$n" "$e" --cio_backend=uring --debug=io --name=p --rw=read --size=1m; then
		fb=$(sed -n 's/.*cio: backend uring submitted=.* fallbacks=\([0-9]*\).*/\1/p' "$tmp/$n.out")
		case $e:$fb in
		-:0|CIO*:[1-9]*) ;;
		*) bad "$n: fallbacks=${fb:-none} with ${e#-}" ;;
		esac
	fi
done

# Under a seccomp filter refusing io_uring: auto picks aio; uring fails.
if [ -x "$seccomp" ]; then
	n=seccomp-auto
	if WRAP="$seccomp --uring EPERM" expect_pass "$n" - --cio_backend=auto --debug=io \
		--name=auto --rw=randrw --bsrange=4k-64k --verify=crc32c; then
		if ! grep -q 'cio: backend aio' "$tmp/$n.out"; then
			bad "$n: the engine did not report backend aio"
			grep 'cio:' "$tmp/$n.out" | sed 's/^/  | /'
		fi
	fi
	n=seccomp-uring
	if WRAP="$seccomp --uring EPERM" fio_run "$n" - --cio_backend=uring --name=u --rw=read; then
		bad "$n: cio_backend=uring ran although io_uring was refused"
	elif ! grep -q 'cio_loop_new(backend=uring): Operation not permitted' "$tmp/$n.err"; then
		bad "$n: not the expected refusal"
		sed 's/^/  | /' "$tmp/$n.err" | head -n 10
	else
		echo "ok: $n (refused: $(grep -m1 'cio_loop_new' "$tmp/$n.err"))"
	fi
else
	echo "note: $seccomp is not built: the seccomp runs are skipped"
fi

# A bad backend name is refused with a message, not run on some default.
if fio_run bad-backend - --cio_backend=nosuch --name=x --rw=read; then
	bad "bad-backend: cio_backend=nosuch ran"
elif ! grep -q 'cio_backend=nosuch' "$tmp/bad-backend.err"; then
	bad "bad-backend: no message naming the option"
else
	echo "ok: bad-backend"
fi
echo "test-fio: $(($(date +%s) - start)) s"
exit $fail
