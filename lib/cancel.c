/* SPDX-License-Identifier: MIT */
/*
 * Cancellation, and the deadlines that are cancellations on a clock.
 * cio_cancel() starts it wherever the request is (lib/README draws the
 * places); the request's one callback still comes through cio__done(),
 * with -ECANCELED, or with its real result where that won the race.
 */
#include "config.h"

#include "cio-internal.h"

void cio__cancel_one(struct cio_loop *loop, cio_req *req)
{
	struct cio__priv *p = P(req);

	/* Marked even when its result is known already: a CIO_ALL request
	 * between two steps must not start another. */
	p->iflags |= CIO__IF_CANCELED;
	switch (p->where) {
	case CIO__W_BACKEND:
		if (p->iflags & CIO__IF_STARVED) {
			cio__bufpool_unstarve(p->a.rp.pool, req);
			cio__done(req, -ECANCELED, 0);
		} else {
			loop->ops->cancel(loop, req);
		}
		break;
	case CIO__W_TIMER:
		cio__timers_del(loop, req);
		cio__done(req, -ECANCELED, 0);
		break;
	case CIO__W_POOL:
		if (cio__pool_cancel(req))
			cio__done(req, -ECANCELED, 0);
		break;
	case CIO__W_FAULT:
		if (cio__unhold(loop, req))
			cio__done(req, -ECANCELED, 0);
		break;
	case CIO__W_LINKED:
		/* Never started. */
		cio__unlink(loop, req);
		cio__done(req, -ECANCELED, 0);
		break;
	default:
		/* Result already known: the callback runs with it. */
		break;
	}
}

CIO_API int cio_cancel(cio_loop *loop, cio_req *target)
{
	if (!loop || !target)
		return -EINVAL;
	if (P(target)->magic != CIO__INFLIGHT || P(target)->loop != loop)
		return -ENOENT;
	cio__cancel_one(loop, target);
	if (loop->exported && !loop->running)
		cio__kick(loop);
	return 0;
}

static bool uses_fd(cio_req *req, int fd)
{
	struct cio__priv *p = P(req);

	if (p->fd == fd)
		return !cio__op_has(p->op, OPF_NOFD);
	if (p->op == CIO_OP_SPLICE)
		return p->a.spl.fd_out == fd;
	if (p->op == CIO_OP_SENDFILE)
		return p->a.sf.in_fd == fd;
	if (p->op == CIO_OP_COPY_FILE_RANGE)
		return p->a.cfr.fd_out == fd;
	return false;
}

/* Cancel every pending request that uses fd, but except. cio__cancel_one
 * never completes a request here, so the array holds still while we walk
 * it. */
int cio__cancel_fd_users(struct cio_loop *loop, int fd, const cio_req *except)
{
	int n = 0;

	for (uint32_t i = 0; i < loop->npending; i++) {
		cio_req *req = loop->pend[i];

		/* One whose result is known is marked all the same: a CIO_ALL
		 * request between two steps must not start another. */
		if (req == except || !uses_fd(req, fd) ||
		    (P(req)->iflags & CIO__IF_CANCELED))
			continue;
		cio__cancel_one(loop, req);
		n++;
	}
	return n;
}

CIO_API int cio_cancel_fd(cio_loop *loop, int fd)
{
	int n;

	if (!loop)
		return -EINVAL;
	if (fd < 0)
		return 0;
	/* The caller is about to close fd: a new one may take its number. */
	cio__fd_forget(loop, fd);
	n = cio__cancel_fd_users(loop, fd, NULL);
	if (loop->exported && !loop->running)
		cio__kick(loop);
	return n;
}

CIO_API int cio_cancel_all(cio_loop *loop)
{
	int n = 0;

	if (!loop)
		return -EINVAL;
	for (uint32_t i = 0; i < loop->npending; i++) {
		cio__cancel_one(loop, loop->pend[i]);
		n++;
	}
	if (loop->exported && !loop->running)
		cio__kick(loop);
	return n;
}

/* What the timer heap says is due: a timer fires; any other request's
 * deadline passed, so it is cancelled and ends -ETIMEDOUT. */
unsigned cio__expire(struct cio_loop *loop)
{
	uint64_t now;
	unsigned n = 0;
	cio_req *req;

	/* No clock read on every pass of a loop without timers. */
	if (!loop->timers.len)
		return 0;
	now = cio__now_ns();
	while ((req = cio__timers_due(loop, now))) {
		struct cio__priv *p = P(req);

		n++;
		if (p->op == CIO_OP_TIMER) {
			cio__done(req, (p->iflags & CIO__IF_TIMEDOUT) ? -ETIMEDOUT : 0, 0);
			continue;
		}
		/* Already cancelled by the caller: as it is. A result known
		 * already stands, but a CIO_ALL request starts no further
		 * step. */
		if (p->iflags & CIO__IF_CANCELED)
			continue;
		p->iflags |= CIO__IF_TIMEDOUT;
		loop->stats.timeouts++;
		cio__cancel_one(loop, req);
	}
	return n;
}
