#!/bin/sh
# The whole suite under automatic backend selection, with the kernel
# refusing io_uring (EPERM as Docker does, ENOSYS as an old kernel does):
# auto must pick aio. Refusing io_setup as well: auto must pick pool.
set -u
dir="${top_builddir:-.}/tests"
progs="test-loop test-file test-timer test-cancel test-threads test-net test-stream test-direct test-deadline test-all test-link test-fixed test-zerocopy test-sqpoll test-debug test-faults test-small-ring test-fork test-emfile test-fadvise test-pathops test-dirops test-inline test-rangeops stress"
export CIO_TEST_BACKENDS=auto
fail=0
run() {
	expect=$1; shift
	for p in $progs; do
		[ -x "$dir/$p" ] || continue
		echo "=== $p under seccomp $* (expect $expect) ==="
		if ! CIO_TEST_EXPECT_BACKEND=$expect "$dir/cio-seccomp" "$@" "$dir/$p"; then
			echo "FAIL: $p under seccomp $*"
			fail=1
		fi
	done
}
run aio --uring EPERM
run aio --uring ENOSYS
run pool --uring EPERM --aio EPERM
exit $fail
