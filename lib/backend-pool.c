/* SPDX-License-Identifier: MIT */
/*
 * The pool backend: epoll for the loop's own events (remote completions,
 * timers) and the shared thread pool for all file work. It needs nothing
 * from the kernel beyond epoll and eventfd, so it works where io_uring is
 * forbidden.
 */
#include "config.h"

#include <stdlib.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "cio-internal.h"

#define TAG_WAKE  1u
#define TAG_TIMER 2u
#define MAX_EVENTS 64

struct pool_backend {
	int      epfd;
	bool     tfd_watched;  /* the loop's timerfd is in epfd */
	bool     no_pwait2;    /* kernel without epoll_pwait2: ms timeouts */
};

static struct pool_backend *BE(const struct cio_loop *loop)
{
	return loop->be;
}

static int epoll_add(int epfd, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int pool_init(struct cio_loop *loop, const struct cio_loop_opts *opts)
{
	struct pool_backend *be;
	int ret;

	(void)opts;
	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	be->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (be->epfd < 0) {
		ret = -errno;
		free(be);
		return ret;
	}
	ret = epoll_add(be->epfd, loop->wakefd, TAG_WAKE);
	if (ret < 0) {
		close(be->epfd);
		free(be);
		return ret;
	}
	loop->be = be;
	loop->native[CIO_OP_NOP] = CIO__NATIVE;
	loop->native[CIO_OP_TIMER] = CIO__NATIVE;   /* the wait below */
	return 0;
}

static void pool_fini(struct cio_loop *loop)
{
	struct pool_backend *be = BE(loop);

	close(be->epfd);
	free(be);
	loop->be = NULL;
}

static int pool_submit(struct cio_loop *loop, cio_req *req)
{
	(void)loop;
	switch (P(req)->op) {
	case CIO_OP_NOP:
		cio__defer(req, 0);
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

static void pool_cancel(struct cio_loop *loop, cio_req *req)
{
	(void)loop; (void)req;
	/* Nothing native waits here yet: nops finish at once. */
}

static int wait_events(struct cio_loop *loop, struct pool_backend *be,
		       struct epoll_event *evs, bool block)
{
	uint64_t wait_ns = block ? cio__timers_wait_ns(loop) : 0;
	bool forever = wait_ns == UINT64_MAX;
	int n;

#ifdef HAVE_EPOLL_PWAIT2
	if (!be->no_pwait2) {
		struct timespec ts = {
			.tv_sec = (time_t)(wait_ns / 1000000000u),
			.tv_nsec = (long)(wait_ns % 1000000000u),
		};

		n = epoll_pwait2(be->epfd, evs, MAX_EVENTS,
				 forever ? NULL : &ts, NULL);
		if (n >= 0 || errno != ENOSYS)
			return n;
		be->no_pwait2 = true;
	}
#endif
	/* Round up: a timer must never fire early. */
	if (forever)
		return epoll_wait(be->epfd, evs, MAX_EVENTS, -1);
	if (wait_ns / 1000000u >= INT32_MAX)
		return epoll_wait(be->epfd, evs, MAX_EVENTS, INT32_MAX);
	return epoll_wait(be->epfd, evs, MAX_EVENTS,
			  (int)((wait_ns + 999999u) / 1000000u));
}

static int pool_poll(struct cio_loop *loop, bool block)
{
	struct pool_backend *be = BE(loop);
	struct epoll_event evs[MAX_EVENTS];
	int n;

	loop->stats.kernel_enters++;
	n = wait_events(loop, be, evs, block);
	if (n < 0 && errno != EINTR)
		return -errno;
	for (int i = 0; i < n; i++) {
		switch (evs[i].data.u64) {
		case TAG_WAKE:
			cio__drain_remote(loop);
			break;
		case TAG_TIMER:
			cio__timers_fd_fired(loop);
			break;
		}
	}
	return 0;
}

static void pool_kick(struct cio_loop *loop)
{
	static const uint64_t one = 1;

	if (loop->done.head && write(loop->wakefd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, hence readable. */
	}
}

static int pool_loop_fd(struct cio_loop *loop)
{
	struct pool_backend *be = BE(loop);
	int ret;

	if (!be->tfd_watched) {
		ret = epoll_add(be->epfd, loop->tfd, TAG_TIMER);
		if (ret < 0)
			return ret;
		be->tfd_watched = true;
	}
	return be->epfd;
}

static const char *pool_op_path(const struct cio_loop *loop, int op, int fd)
{
	(void)loop; (void)op; (void)fd;
	return "epoll";
}

const struct cio__backend_ops cio__backend_pool = {
	.name    = "pool",
	.init    = pool_init,
	.fini    = pool_fini,
	.submit  = pool_submit,
	.cancel  = pool_cancel,
	.poll    = pool_poll,
	.kick    = pool_kick,
	.loop_fd = pool_loop_fd,
	.op_path = pool_op_path,
};
