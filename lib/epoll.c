/* SPDX-License-Identifier: MIT */
/*
 * epoll for the backends that have no ring (pool, aio): the loop's own
 * events (remote completions, timers), the stream engine's readiness waits,
 * and any extra fd a backend adds (aio's completion eventfd).
 *
 * Each stream fd is registered EPOLLONESHOT and re-armed when a request
 * waits on it: one epoll_ctl per wait, no removal when it is done, and an fd
 * the caller closes behind our back (even one still open elsewhere) can fire
 * at most once more, never spin.
 *
 * epoll knows a registration by file and number, and a file closed behind
 * our back stays in the set while anything else holds it open. So every
 * wait re-arms with EPOLL_CTL_MOD, even where the registration seems to
 * cover it already: MOD looks up the file the number names now, and ENOENT
 * for a number we registered says that file is another one. The requests
 * still waiting were waiting on the old file, which no number of ours
 * reaches any more: they are set aside ("stale") until they are cancelled
 * or time out, as on io_uring, where the ring holds the old file. The new
 * file is registered afresh. The old registration may still fire once under
 * the same number; the stream engine takes readiness as a hint and tries
 * the call again, so that costs a call, never a wrong result.
 */
#include "config.h"

#include <stdlib.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "cio-internal.h"

#define TAG_WAKE  1u
#define TAG_TIMER 2u
#define TAG_FD    3u    /* | fd << 8 */
#define MAX_EVENTS 64

struct cio__fdwait {
	struct cio__reqq q;    /* requests waiting on this fd */
	struct cio__reqq stale;   /* waiting on a file since closed behind our
	                             back: they end on cancel or deadline */
	uint32_t want;         /* union of what they wait for */
	uint32_t armed;        /* what the one-shot registration waits for */
	bool     reg;          /* registered (perhaps disarmed) in epfd */
};

/* The backend state starts with a struct cio__ep. */
static struct cio__ep *BE(const struct cio_loop *loop)
{
	return loop->be;
}

static int epoll_add(int epfd, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int cio__ep_init(struct cio_loop *loop, struct cio__ep *be)
{
	int ret;

	memset(be, 0, sizeof(*be));
	be->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (be->epfd < 0)
		return -errno;
	ret = epoll_add(be->epfd, loop->wakefd, TAG_WAKE);
	if (ret < 0) {
		close(be->epfd);
		return ret;
	}
	return 0;
}

int cio__ep_add(struct cio__ep *be, int fd, uint64_t tag)
{
	return epoll_add(be->epfd, fd, tag);
}

void cio__ep_fini(struct cio__ep *be)
{
	close(be->epfd);
	free(be->fds);
}

/* Register fd for want, or re-arm it. -ENOENT: the file under fd is not
 * the one we registered (see the top of this file). */
static int arm(struct cio__ep *be, int fd, struct cio__fdwait *w, uint32_t want)
{
	struct epoll_event ev = {
		.events = want | EPOLLONESHOT,
		.data.u64 = TAG_FD | (uint64_t)fd << 8,
	};

	if (w->reg) {
		if (epoll_ctl(be->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
			return -errno;
	} else if (epoll_ctl(be->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		/* Registered after all (a DEL that found another file). */
		if (errno != EEXIST ||
		    epoll_ctl(be->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
			return -errno;
	}
	w->reg = true;
	w->armed = want;
	return 0;
}

int cio__ep_wait(struct cio_loop *loop, cio_req *req)
{
	uint32_t events = cio__stream_events(req);
	struct cio__ep *be = BE(loop);
	int fd = P(req)->fd;
	struct cio__fdwait *w;
	int ret;

	if (fd < 0)
		return -EBADF;
	if ((unsigned)fd >= be->nfds) {
		unsigned n = be->nfds ? be->nfds : 64;
		struct cio__fdwait *fds;

		while (n <= (unsigned)fd)
			n *= 2;
		fds = realloc(be->fds, n * sizeof(*fds));
		if (!fds)
			return -ENOMEM;
		memset(fds + be->nfds, 0, (n - be->nfds) * sizeof(*fds));
		be->fds = fds;
		be->nfds = n;
	}
	w = &be->fds[fd];
	ret = arm(be, fd, w, w->want | events);
	if (cio__unlikely(ret == -ENOENT && w->reg)) {
		/* Another file has this number now. */
		cio_req *r;

		while ((r = cio__q_pop(&w->q)))
			cio__q_push(&w->stale, r);
		w->want = 0;
		w->armed = 0;
		w->reg = false;
		cio__fd_forget(loop, fd);
		ret = arm(be, fd, w, events);
	}
	if (ret < 0)
		return ret;
	w->want |= events;
	cio__q_push(&w->q, req);
	return 0;
}

/* The one-shot registration of fd fired: hand it to every request that
 * waits for one of revents, re-arm for the rest. */
static void fd_ready(struct cio_loop *loop, struct cio__ep *be, int fd,
		     uint32_t revents)
{
	struct cio__fdwait *w = &be->fds[fd];
	struct cio__reqq batch = w->q, keep = { 0 };
	cio_req *req;

	w->q.head = w->q.tail = NULL;
	w->want = 0;
	w->armed = 0;
	while ((req = cio__q_pop(&batch))) {
		uint32_t want = cio__stream_events(req);

		if (revents & (want | EPOLLERR | EPOLLHUP)) {
			/* May wait again, on this fd or another (and so move
			 * be->fds): look the entry up afresh afterwards. */
			cio__stream_ready(req, (int32_t)(revents & (want | EPOLLERR | EPOLLHUP)));
		} else {
			cio__q_push(&keep, req);
		}
	}
	while ((req = cio__q_pop(&keep))) {
		if (cio__ep_wait(loop, req) < 0) {
			P(req)->iflags &= ~CIO__IF_WAITING;
			cio__done(req, -EBADF, 0);
		}
	}
}

void cio__ep_cancel(struct cio_loop *loop, cio_req *req)
{
	struct cio__ep *be = BE(loop);
	struct cio__priv *p = P(req);
	struct cio__fdwait *w;

	/* Only stream waits can be pending here (nops finish at once); one
	 * being run right now sees CIO__IF_CANCELED when it is done. */
	if (!(p->iflags & CIO__IF_WAITING) || (unsigned)p->fd >= be->nfds)
		return;
	w = &be->fds[p->fd];
	if (cio__q_remove(&w->stale, req)) {
		p->iflags &= ~CIO__IF_WAITING;
		cio__done(req, -ECANCELED, 0);
		return;
	}
	if (!cio__q_remove(&w->q, req))
		return;
	p->iflags &= ~CIO__IF_WAITING;
	cio__done(req, -ECANCELED, 0);
	w->want = 0;
	for (cio_req *r = w->q.head; r; r = P(r)->qnext)
		w->want |= cio__stream_events(r);
	if (!w->q.head && w->reg) {
		/* Nobody waits: forget the fd, so the caller may close it. */
		epoll_ctl(be->epfd, EPOLL_CTL_DEL, p->fd, NULL);
		w->reg = false;
		w->armed = 0;
	}
}

static int wait_events(struct cio_loop *loop, struct cio__ep *be,
		       struct epoll_event *evs, bool block)
{
	uint64_t wait_ns = block ? cio__wait_ns(loop) : 0;
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

int cio__ep_poll(struct cio_loop *loop, bool block)
{
	struct cio__ep *be = BE(loop);
	struct epoll_event evs[MAX_EVENTS];
	int n;

	loop->stats.kernel_enters++;
	n = wait_events(loop, be, evs, block);
	if (n < 0 && errno != EINTR)
		return -errno;
	for (int i = 0; i < n; i++) {
		if ((evs[i].data.u64 & 0xff) == TAG_FD) {
			fd_ready(loop, be, (int)(evs[i].data.u64 >> 8), evs[i].events);
			continue;
		}
		switch (evs[i].data.u64) {
		case TAG_WAKE:
			cio__drain_remote(loop);
			break;
		case TAG_TIMER:
			cio__timers_fd_fired(loop);
			break;
		default:
			if (be->on_event)
				be->on_event(loop, evs[i].data.u64);
			break;
		}
	}
	return 0;
}

void cio__ep_kick(struct cio_loop *loop)
{
	static const uint64_t one = 1;

	if (cio__has_done(loop) && write(loop->wakefd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, hence readable. */
	}
}

int cio__ep_loop_fd(struct cio_loop *loop)
{
	struct cio__ep *be = BE(loop);
	int ret;

	if (!be->tfd_watched) {
		ret = epoll_add(be->epfd, loop->tfd, TAG_TIMER);
		if (ret < 0)
			return ret;
		be->tfd_watched = true;
	}
	return be->epfd;
}

