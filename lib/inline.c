/* SPDX-License-Identifier: MIT */
/*
 * Inline file transfers: where a buffered file read or write would go to
 * the pool (aio and pool backends, and what the ring lacks), it is tried
 * first on the loop's thread with preadv2/pwritev2(RWF_NOWAIT), which
 * answers at once from the page cache or says -EAGAIN; only what it
 * could not do goes to a pool thread. A cached 4 KiB read then costs one
 * system call instead of a futex wake, a thread switch and an eventfd.
 *
 * Never on O_DIRECT files (there RWF_NOWAIT still waits for the device)
 * and never on what the fd cache does not know to be a buffered file.
 *
 * What the file system refuses (-EOPNOTSUPP: ext4 and tmpfs writes on
 * 6.18, tmpfs reads) is remembered per fd and direction; -ENOSYS (a
 * kernel without preadv2, a seccomp policy that says so) turns it off
 * for the process. Any other error goes to the pool, whose call words it.
 *
 * The loop's inline copying is bounded per pass (CIO__INLINE_BUDGET
 * bytes): a request larger than what is left of it goes to the pool
 * whole, so a burst of large cached reads cannot hold the loop away from
 * its sockets for long.
 */
#include "config.h"

#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cio-internal.h"

static atomic_bool off_for_process;

/* The loop calls this once per pass. */
void cio__inline_refill(struct cio_loop *loop)
{
	loop->inline_budget = CIO__INLINE_BUDGET;
}

bool cio__inline_usable(struct cio_loop *loop, int op, int fd)
{
	return !atomic_load_explicit(&off_for_process, memory_order_relaxed) &&
	       cio__fd_nowait(loop, fd, cio__op_has(op, OPF_RX));
}

/* preadv2(RWF_NOWAIT) on 5.10 (Debian's 5.10.0-46) answers 0 for a hole
 * it has not cached, and -EAGAIN at the end of the file: a 0 counts as
 * EOF, and an -EAGAIN too, only where the file really ends. (A -EAGAIN
 * goes to the pool anyway: an fstat costs less.) */
static ssize_t nowait_call(int fd, bool rx, struct iovec *iov, int cnt, int64_t off)
{
	struct stat st;
	ssize_t r;

	if (!rx)
		return pwritev2(fd, iov, cnt, off, RWF_NOWAIT);
	r = preadv2(fd, iov, cnt, off, RWF_NOWAIT);
	if (r > 0 || (r < 0 && errno != EAGAIN))
		return r;
	if (off < 0)
		off = lseek(fd, 0, SEEK_CUR);
	if (off >= 0 && fstat(fd, &st) == 0 && off >= st.st_size)
		return 0;
	errno = EAGAIN;
	return -1;
}

/* Try req's step now. true: it is done (cio__done was called), or the
 * part the page cache had is done and the rest went to the pool;
 * false: nothing moved, the caller sends it all to the pool. */
bool cio__inline_try(struct cio_loop *loop, cio_req *req)
{
	struct cio__priv *p = P(req);
	bool rx = cio__op_has(p->op, OPF_RX);
	struct cio__step st;
	struct iovec one, *iov;
	uint64_t want = 0;
	ssize_t r;
	int cnt;

	cio__step(req, &st);
	cnt = cio__step_iov(&st, &one, &iov);
	for (int i = 0; i < cnt; i++)
		want += iov[i].iov_len;
	if (want > loop->inline_budget)
		return false;
	r = nowait_call(p->fd, rx, iov, cnt, st.off);
	if (r < 0) {
		if (errno == EOPNOTSUPP)
			cio__fd_set_no_nowait(loop, p->fd, rx);
		else if (errno == ENOSYS)
			atomic_store_explicit(&off_for_process, true, memory_order_relaxed);
		return false;
	}
	loop->inline_budget -= (uint64_t)r;
	loop->stats.inline_ops++;
	if ((uint64_t)r == want || r == 0 || (req->opts & CIO_ALL)) {
		/* All of it, or EOF; CIO_ALL goes on by itself. */
		cio__done(req, r, 0);
		return true;
	}
	/* Short: EOF, or only part of it was cached. Ask once more for the
	 * rest (0 says EOF); what is still missing goes to the pool, and
	 * the one result is the sum (chain.c), as one pread(2) reports. */
	want -= (uint64_t)r;
	p->a.x.moved += (uint32_t)r;
	cio__step(req, &st);
	cnt = cio__step_iov(&st, &one, &iov);
	r = nowait_call(p->fd, rx, iov, cnt, st.off);
	if (r == 0 || (r > 0 && (uint64_t)r == want)) {
		loop->inline_budget -= (uint64_t)r;
		r += p->a.x.moved;
		p->a.x.moved = 0;
		cio__done(req, r, 0);
		return true;
	}
	if (r > 0) {
		loop->inline_budget -= (uint64_t)r;
		p->a.x.moved += (uint32_t)r;
	}
	p->iflags |= CIO__IF_INLINE_PART;
	if (cio__to_pool(loop, req) < 0) {
		/* A short transfer, as the kernel may give. */
		r = p->a.x.moved;
		p->iflags &= ~CIO__IF_INLINE_PART;
		p->a.x.moved = 0;
		cio__done(req, r, 0);
	}
	return true;
}
