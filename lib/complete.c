/* SPDX-License-Identifier: MIT */
/*
 * The completion path: cio__done() is the one door by which results come
 * back (from the backends, the stream engine, the pool's hand-over and the
 * core itself), and the drain is the one place callbacks run. Also the
 * hand-over from other threads: pool results and cio_post().
 */
#include "config.h"

#include <stdlib.h>
#include <unistd.h>

#include "cio-internal.h"

/* A new fd of this number: what the loop knew of the old one is void. */
static inline void new_fd(struct cio_loop *loop, int op, int64_t res)
{
	if (cio__unlikely(res >= 0 && cio__op_has(op, OPF_NEWFD)))
		cio__fd_forget(loop, (int)res);
}

/* The one place a final callback runs. req leaves the pending set, its
 * in-flight mark is cleared (so cb may resubmit it), then cb runs; after
 * that the library never touches req again. */
static void complete_final(cio_req *req, int64_t res, uint32_t flags)
{
	struct cio__priv *p = P(req);
	struct cio_loop *loop = p->loop;
	cio_cb cb = p->cb;
	/* Read before untrack's store to another request, which the compiler
	 * must assume may be this one: reloading op after it stalled. */
	int op = p->op;

	if (p->iflags & CIO__IF_POSTED) {
		atomic_fetch_sub_explicit(&loop->nposted, 1, memory_order_release);
	} else {
		if (cio__unlikely(req->opts || p->timer_slot ||
				  (p->iflags & (CIO__IF_HASNEXT | CIO__IF_TIMEDOUT |
					       CIO__IF_INLINE_PART)) ||
				  loop->link_open == req) &&
		    cio__finish_step(loop, req, &res))
			return;
		cio__untrack(loop, req);
	}
	if (op == CIO_OP_RECV_POOL)
		cio__bufpool_unuse(p->a.rp.pool);
	else
		new_fd(loop, op, res);
	loop->stats.completed++;
	loop->ncallbacks++;
	req->res = res;
	req->flags = flags;
	p->where = CIO__W_NONE;
	p->magic = 0;
	cb(req);
}

CIO_API int64_t cio_transferred(const cio_req *req)
{
	const struct cio__priv *p;

	if (!req)
		return 0;
	p = P((cio_req *)req);
	if (req->res >= 0)
		return req->res;
	return cio__op_has(p->op, OPF_XFER) ? (int64_t)p->a.x.moved : 0;
}

/* A multishot callback (CIO_F_MORE): req stays pending. A final result
 * queued behind it waits in req->res and req->flags: keep them. */
static void deliver_more(const struct cio__more *m)
{
	cio_req *req = m->req;
	struct cio__priv *p = P(req);
	int64_t res = req->res;
	uint32_t flags = req->flags;

	new_fd(p->loop, p->op, m->res);
	p->loop->ncallbacks++;
	req->res = m->res;
	req->flags = m->flags;
	if (m->flags & CIO_F_BUF)
		req->buf = m->buf;
	p->cb(req);
	if (p->where == CIO__W_DONE) {
		req->res = res;
		req->flags = flags;
	}
}

/* cio__done's multishot half (the final half is inline in
 * cio-internal.h): queue a delivery; req stays pending. */
void cio__done_more(cio_req *req, int64_t res, uint32_t flags)
{
	struct cio_loop *loop = P(req)->loop;

	if (cio__unlikely(loop->nmore == loop->morecap)) {
		void *a = cio__grow(loop->more, &loop->morecap, sizeof(*loop->more), 64);

		if (!a) {
			/* No memory to queue it: losing it is the one thing
			 * worse than a callback from in here. */
			struct cio__more now = { req, res, req->buf, flags };

			deliver_more(&now);
			return;
		}
		loop->more = a;
	}
	loop->more[loop->nmore++] = (struct cio__more){ req, res, req->buf, flags };
}

/* Run the callbacks of what is done. Take the whole batch: what callbacks
 * add waits for the next pass, so a callback that resubmits a nop forever
 * cannot starve the loop. Multishot deliveries first: a request's final
 * result never overtakes them. */
unsigned cio__drain(struct cio_loop *loop)
{
	struct cio__reqq batch = loop->done;
	struct cio__more *more = loop->more;
	uint32_t nmore = loop->nmore, cap = loop->morecap;
	unsigned n = 0;
	cio_req *req;

	loop->done.head = loop->done.tail = NULL;
	if (cio__unlikely(nmore)) {
		loop->more = loop->more_spare;
		loop->morecap = loop->sparecap;
		loop->nmore = 0;
		for (uint32_t i = 0; i < nmore; i++)
			deliver_more(&more[i]);
		loop->more_spare = more;
		loop->sparecap = cap;
		n += nmore;
	}
	while ((req = cio__q_pop(&batch))) {
		complete_final(req, req->res, req->flags);
		n++;
	}
	return n;
}

/* Any thread: hand a finished (pool) or posted request to its loop. The
 * eventfd is written under the lock so that cio_loop_free, which takes the
 * lock before closing it, never races with the write. */
void cio__remote_push(struct cio_loop *loop, cio_req *req)
{
	static const uint64_t one = 1;

	pthread_mutex_lock(&loop->remote_lock);
	cio__q_push(&loop->remote, req);
	if (!loop->remote_signaled) {
		loop->remote_signaled = true;
		if (write(loop->wakefd, &one, sizeof(one)) < 0) {
			/* EAGAIN: the counter is saturated, so it is readable anyway. */
		}
	}
	pthread_mutex_unlock(&loop->remote_lock);
}

/* Loop thread: take what other threads handed over. The eventfd is read
 * before the list is taken, so a push that lands after the read either is
 * in the list we take or signals again. */
unsigned cio__drain_remote(struct cio_loop *loop)
{
	struct cio__reqq batch;
	uint64_t val;
	unsigned n = 0;
	cio_req *req;

	if (read(loop->wakefd, &val, sizeof(val)) < 0) {
		/* EAGAIN: nothing signalled; the list may still hold work. */
	}
	pthread_mutex_lock(&loop->remote_lock);
	batch = loop->remote;
	loop->remote.head = loop->remote.tail = NULL;
	loop->remote_signaled = false;
	pthread_mutex_unlock(&loop->remote_lock);

	while ((req = cio__q_pop(&batch))) {
		if (P(req)->iflags & CIO__IF_STREAMJOB)
			cio__stream_pool_done(req);
		else
			cio__done(req, req->res, 0);
		n++;
	}
	return n;
}
