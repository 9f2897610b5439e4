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
#include <sys/timerfd.h>

#include "cio-internal.h"

#define TAG_WAKE  1u
#define TAG_TIMER 2u
#define MAX_EVENTS 64

struct pool_backend {
	int      epfd;
	int      tfd;          /* timerfd, made when the loop fd is exported */
	uint64_t tfd_deadline; /* what tfd is armed for; 0 = disarmed */
	bool     no_pwait2;    /* kernel without epoll_pwait2: ms timeouts */
	struct cio__timers timers;
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
	be->tfd = -1;
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
	loop->native[CIO_OP_TIMER] = CIO__NATIVE;
	return 0;
}

static void pool_fini(struct cio_loop *loop)
{
	struct pool_backend *be = BE(loop);

	if (be->tfd >= 0)
		close(be->tfd);
	close(be->epfd);
	cio__timers_free(&be->timers);
	free(be);
	loop->be = NULL;
}

/* With an exported loop fd, the earliest deadline must make epfd readable.
 * A zero itimerspec disarms the timerfd when no timer is left. */
static void sync_timerfd(struct pool_backend *be)
{
	cio_req *min = cio__timers_min(&be->timers);
	uint64_t want = min ? P(min)->a.timer.deadline : 0;
	struct itimerspec its = { 0 };

	if (be->tfd < 0 || want == be->tfd_deadline)
		return;
	its.it_value.tv_sec = (time_t)(want / 1000000000u);
	its.it_value.tv_nsec = (long)(want % 1000000000u);
	if (timerfd_settime(be->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		be->tfd_deadline = want;
}

static int pool_submit(struct cio_loop *loop, cio_req *req)
{
	struct pool_backend *be = BE(loop);
	int ret;

	switch (P(req)->op) {
	case CIO_OP_NOP:
		cio__defer(req, 0);
		return 0;
	case CIO_OP_TIMER:
		ret = cio__timers_add(&be->timers, req);
		if (ret == 0 && loop->exported)
			sync_timerfd(be);
		return ret;
	default:
		return -EOPNOTSUPP;
	}
}

static void pool_cancel(struct cio_loop *loop, cio_req *req)
{
	struct pool_backend *be = BE(loop);

	if (P(req)->op == CIO_OP_TIMER) {
		cio__timers_del(&be->timers, req);
		cio__defer(req, -ECANCELED);
	}
}

static int wait_events(struct pool_backend *be, struct epoll_event *evs,
		       bool block)
{
	cio_req *min = block ? cio__timers_min(&be->timers) : NULL;
	uint64_t wait_ns = 0;
	int n;

	if (block && min) {
		uint64_t now = cio__now_ns(), dl = P(min)->a.timer.deadline;

		wait_ns = dl > now ? dl - now : 0;
	}
#ifdef HAVE_EPOLL_PWAIT2
	if (!be->no_pwait2) {
		struct timespec ts = {
			.tv_sec = (time_t)(wait_ns / 1000000000u),
			.tv_nsec = (long)(wait_ns % 1000000000u),
		};

		n = epoll_pwait2(be->epfd, evs, MAX_EVENTS,
				 (block && !min) ? NULL : &ts, NULL);
		if (n >= 0 || errno != ENOSYS)
			return n;
		be->no_pwait2 = true;
	}
#endif
	/* Round up: a timer must never fire early. */
	if (block && !min)
		return epoll_wait(be->epfd, evs, MAX_EVENTS, -1);
	if (wait_ns / 1000000u >= INT32_MAX)
		return epoll_wait(be->epfd, evs, MAX_EVENTS, INT32_MAX);
	return epoll_wait(be->epfd, evs, MAX_EVENTS,
			  (int)((wait_ns + 999999u) / 1000000u));
}

static void expire_timers(struct pool_backend *be)
{
	struct cio__reqq due = { 0 };
	uint64_t now;
	cio_req *req;

	if (!cio__timers_min(&be->timers))
		return;
	now = cio__now_ns();
	/* Collect first: a callback that adds a zero timer must wait for the
	 * next pass, not extend this one forever. */
	while ((req = cio__timers_min(&be->timers)) &&
	       P(req)->a.timer.deadline <= now) {
		cio__timers_del(&be->timers, req);
		cio__q_push(&due, req);
	}
	while ((req = cio__q_pop(&due)))
		cio__complete(req, 0);
}

static int pool_poll(struct cio_loop *loop, bool block)
{
	struct pool_backend *be = BE(loop);
	struct epoll_event evs[MAX_EVENTS];
	int n;

	loop->stats.kernel_enters++;
	n = wait_events(be, evs, block);
	if (n < 0 && errno != EINTR)
		return -errno;
	for (int i = 0; i < n; i++) {
		switch (evs[i].data.u64) {
		case TAG_WAKE:
			cio__drain_remote(loop);
			break;
		case TAG_TIMER: {
			uint64_t ticks;

			if (read(be->tfd, &ticks, sizeof(ticks)) < 0) {
				/* EAGAIN: re-armed meanwhile; nothing to do */
			}
			be->tfd_deadline = 0;
			break;
		}
		}
	}
	expire_timers(be);
	if (loop->exported)
		sync_timerfd(be);
	return 0;
}

static void pool_kick(struct cio_loop *loop)
{
	static const uint64_t one = 1;
	struct pool_backend *be = BE(loop);

	if (loop->done.head && write(loop->wakefd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, hence readable. */
	}
	sync_timerfd(be);
}

static int pool_loop_fd(struct cio_loop *loop)
{
	struct pool_backend *be = BE(loop);
	int ret;

	if (be->tfd < 0) {
		be->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (be->tfd < 0)
			return -errno;
		ret = epoll_add(be->epfd, be->tfd, TAG_TIMER);
		if (ret < 0) {
			close(be->tfd);
			be->tfd = -1;
			return ret;
		}
		be->tfd_deadline = 0;
		sync_timerfd(be);
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
