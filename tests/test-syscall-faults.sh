#!/bin/sh
# `make check-syscall-faults`: tests/syscall-faults (a timer, a nop, file
# and O_DIRECT I/O, a socket echo, pool work; every callback counted, every
# result and byte checked) under `strace -e inject=` on the system calls
# each backend makes. Expected every time: each request ends exactly once
# with its real result, nothing hangs (each run is bounded by timeout), and
# a cio_run that returns -EINTR/-EAGAIN/-EBUSY finishes the work when
# called again. The program runs its loop on a thread of its own, and
# strace counts calls per thread, so `when=N` means this loop's Nth call.
#
# `read` is injected only in that program, run with --thread: the loop
# thread's only read(2) calls are then the library's eventfd/timerfd reads
# (file reads use pread64, sockets recvfrom). The main thread's reads (the
# dynamic loader's) are counted first, and the patterns start past them,
# since the same `when=` applies to every thread.
set -u
dir="${top_builddir:-.}/tests"
prog="$dir/syscall-faults"
STRACE=${STRACE:-strace}
TIMEOUT=${TIMEOUT:-60}

if ! command -v "$STRACE" >/dev/null 2>&1; then
	echo "SKIP: no strace (Debian: apt-get install strace)"
	exit 77
fi
# ptrace may be refused (containers, yama): then strace cannot inject.
if ! "$STRACE" -f -qq -o /dev/null -e inject=chdir:error=EACCES:when=1 \
	sh -c 'cd / 2>/dev/null && exit 1; exit 0' >/dev/null 2>&1; then
	echo "SKIP: strace cannot inject faults here (ptrace not permitted?)"
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/cio-sf-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

fail=0 runs=0
# run BACKEND EXTRA-ARG INJECTION...
run() {
	be=$1 extra=$2
	shift 2
	args="" calls=""
	for i in "$@"; do
		args="$args -e inject=$i"
		calls="$calls${calls:+,}${i%%:*}"
	done
	runs=$((runs + 1))
	# Only the injected calls are traced, to count the faults that hit.
	# shellcheck disable=SC2086
	out=$(timeout -k 5 "$TIMEOUT" "$STRACE" -f -qq -o "$tmp/trace" -e trace="$calls" \
		$args "$prog" "$be" "$tmp" $extra 2>&1)
	rc=$?
	hit=$(grep -c 'INJECTED' "$tmp/trace")
	last=$(printf '%s\n' "$out" | tail -n 1)
	# A run whose fault never hit proves nothing (the baseline aside).
	if [ "$rc" = 0 ] && [ "$hit" = 0 ] && [ "$1" != getppid:error=EPERM ]; then
		rc=2 last="no call was injected: pick another when= pattern"
		out=$last
	fi
	case $rc in
	0) echo "ok   $be $*: $hit injected; $last" ;;
	77) echo "skip $be $*: $last" ;;
	124|137) echo "FAIL $be $*: hung (killed after ${TIMEOUT}s)"; fail=1 ;;
	*) printf '%s\n' "$out" | sed 's/^/     /'
	   echo "FAIL $be $*: exit $rc"; fail=1 ;;
	esac
}

# Patterns: the first call, the third, every fifth from the second, and
# a burst of ten failing calls in a row.
WHEN="1 3 2+5 1..10+1"

# Baseline: the program itself passes without faults.
for be in uring aio pool; do run $be "" "getppid:error=EPERM"; done

for e in EINTR EAGAIN EBUSY; do
	for w in $WHEN; do run uring "" "io_uring_enter:error=$e:when=$w"; done
done
# Setup: the opcode probe and buffer-ring check (io_uring_register) must
# not take an interrupted call for a missing feature.
for e in EINTR EAGAIN; do
	for w in 1 2 1..3+1; do run uring "" "io_uring_register:error=$e:when=$w"; done
done
# The aio backend reads completions from the AIO ring in user space;
# CIO_DEBUG_AIO_REAP=syscall makes it call io_getevents, to be faulted.
CIO_DEBUG_AIO_REAP=syscall
export CIO_DEBUG_AIO_REAP
for s in io_getevents io_submit; do
	for e in EINTR EAGAIN; do
		for w in $WHEN; do run aio "" "$s:error=$e:when=$w"; done
	done
done
unset CIO_DEBUG_AIO_REAP
for e in EINTR EAGAIN; do
	for w in $WHEN; do run aio "" "io_submit:error=$e:when=$w"; done
done
for be in aio pool; do
	for w in $WHEN; do run $be "" "epoll_pwait2:error=EINTR:when=$w"; done
	# epoll_wait is the fallback where epoll_pwait2 is missing.
	for w in $WHEN; do
		run $be "" "epoll_pwait2:error=ENOSYS" "epoll_wait:error=EINTR:when=$w"
	done
done
for be in aio pool; do
	# The inline try of a buffered transfer (lib/inline.c): whatever it
	# meets, the request still completes with its data, on the pool.
	for e in EAGAIN EINTR EOPNOTSUPP ENOSYS EPERM EINVAL; do
		for w in 1 2+3; do run $be "" "preadv2:error=$e:when=$w"; done
	done
	for e in EAGAIN EINTR; do run $be "" "pwritev2:error=$e:when=1+2"; done
done
for be in uring aio pool; do
	# glibc falls back from clone3 to clone only on ENOSYS; both get it.
	for w in 1 1+2 1..3+1; do run $be "" "clone3,clone:error=EAGAIN:when=$w"; done
	# No thread can ever start: pool work is refused, never lost.
	run $be --refuse-ok "clone3,clone:error=EAGAIN"
	m=$("$STRACE" -f -qq -o "$tmp/census" -e trace=read "$prog" $be "$tmp" --thread \
		>/dev/null 2>&1 && awk 'NR == 1 { main = $1 } $1 == main { n++ } END { print n + 0 }' \
		"$tmp/census")
	total=$(wc -l < "$tmp/census")
	echo "     $be: main thread (loader) makes $m read(2) calls, the loop thread $((total - m))"
	for w in $((m + 1)) $((m + 3)) $((m + 2))+5 $((m + 1))..$((m + 10))+1; do
		for e in EINTR EAGAIN; do run $be --thread "read:error=$e:when=$w"; done
	done
done
echo "syscall faults: $runs runs"
exit $fail
