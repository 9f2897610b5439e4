/* SPDX-License-Identifier: MIT */
/*
 * What follows a step's end: CIO_ALL, the next step of a transfer that came
 * back short, and CIO_LINK, the next request of a chain. A transfer's
 * arguments stay as the caller gave them; cio__step() derives each step
 * from them and from what the steps before moved (the request's tail).
 */
#include "config.h"

#include <stdlib.h>

#include "cio-internal.h"

void cio__step(const cio_req *req, struct cio__step *st)
{
	const struct cio__priv *p = P((cio_req *)req);
	uint64_t moved = p->a.x.moved;

	st->vec = false;
	switch (p->op) {
	case CIO_OP_READV:
	case CIO_OP_WRITEV: {
		const struct iovec *iov = p->a.rw.buf;
		uint64_t cnt = p->a.rw.len;   /* the element count */

		st->off = p->a.rw.off < 0 ? -1 : p->a.rw.off + (int64_t)moved;
		if (cio__likely(!moved)) {
			st->vec = true;
			st->buf = (void *)iov;
			st->len = cnt;
			return;
		}
		while (cnt && moved >= iov->iov_len) {
			moved -= iov->iov_len;
			iov++;
			cnt--;
		}
		if (moved) {
			/* The caller's vector is not ours to change: the rest
			 * of a part-done element goes on its own. */
			st->buf = (char *)iov->iov_base + moved;
			st->len = iov->iov_len - moved;
		} else {
			st->vec = true;
			st->buf = (void *)iov;
			st->len = cnt;
		}
		return;
	}
	case CIO_OP_READ:
	case CIO_OP_WRITE:
		st->buf = (char *)p->a.rw.buf + moved;
		st->len = p->a.rw.len - moved;
		st->off = p->a.rw.off < 0 ? -1 : p->a.rw.off + (int64_t)moved;
		break;
	case CIO_OP_RECV:
	case CIO_OP_SEND:
		st->buf = (char *)p->a.msg.buf + moved;
		st->len = p->a.msg.len - moved;
		st->off = -1;
		break;
	case CIO_OP_SENDFILE:
		st->buf = NULL;
		st->len = p->a.sf.len - moved;
		st->off = p->a.sf.off < 0 ? -1 : p->a.sf.off + (int64_t)moved;
		break;
	case CIO_OP_COPY_FILE_RANGE:
		/* off: the input's; the output's moves alike (exec.c). */
		st->buf = NULL;
		st->len = p->a.cfr.len - moved;
		st->off = p->a.cfr.off_in < 0 ? -1 : p->a.cfr.off_in + (int64_t)moved;
		break;
	default:
		st->buf = NULL;
		st->len = 0;
		st->off = -1;
		return;
	}
	if (cio__unlikely(p->a.x.limit) && p->a.x.limit < st->len)
		st->len = p->a.x.limit;
}

int cio__step_iov(const struct cio__step *st, struct iovec *one, struct iovec **iov)
{
	if (st->vec) {
		*iov = st->buf;
		return (int)st->len;
	}
	one->iov_base = st->buf;
	one->iov_len = st->len;
	*iov = one;
	return 1;
}

/* What a transfer has still to move, for CIO_ALL and CIO_LINK; 0 for
 * operations that move nothing. */
static uint64_t remaining(const cio_req *req)
{
	const struct cio__priv *p = P((cio_req *)req);
	uint64_t n = 0;

	switch (p->op) {
	case CIO_OP_READ:
	case CIO_OP_WRITE:
		n = p->a.rw.len;
		break;
	case CIO_OP_READV:
	case CIO_OP_WRITEV:
		for (uint32_t i = 0; i < p->a.rw.len; i++)
			n += ((const struct iovec *)p->a.rw.buf)[i].iov_len;
		break;
	case CIO_OP_RECV:
	case CIO_OP_SEND:
		n = p->a.msg.len;
		break;
	case CIO_OP_SENDFILE:
		n = p->a.sf.len;
		break;
	case CIO_OP_COPY_FILE_RANGE:
		n = p->a.cfr.len;
		break;
	case CIO_OP_SPLICE:
		return p->a.spl.len;
	default:
		return 0;
	}
	return n - p->a.x.moved;
}

static struct cio__link *find_link(struct cio_loop *loop, cio_req *req, bool as_pred)
{
	for (uint32_t i = 0; i < loop->nlinks; i++)
		if ((as_pred ? loop->links[i].pred : loop->links[i].succ) == req)
			return &loop->links[i];
	return NULL;
}

static void drop_link(struct cio_loop *loop, struct cio__link *l)
{
	*l = loop->links[--loop->nlinks];
}

/* CIO_LINK: hold req until pred succeeds. 0, or -ENOMEM. */
int cio__link(struct cio_loop *loop, cio_req *pred, cio_req *req)
{
	if (loop->nlinks == loop->linkcap) {
		void *a = cio__grow(loop->links, &loop->linkcap, sizeof(*loop->links), 16);

		if (!a)
			return -ENOMEM;
		loop->links = a;
	}
	loop->links[loop->nlinks++] = (struct cio__link){ pred, req };
	P(pred)->iflags |= CIO__IF_HASNEXT;
	P(req)->where = CIO__W_LINKED;
	loop->link_open = (req->opts & CIO_LINK) ? req : NULL;
	return 0;
}

/* A linked request cancelled before it started: off its chain. What
 * follows it ends with it when its callback comes. */
void cio__unlink(struct cio_loop *loop, cio_req *req)
{
	struct cio__link *l = find_link(loop, req, false);

	if (l) {
		P(l->pred)->iflags &= ~CIO__IF_HASNEXT;
		drop_link(loop, l);
	}
}

/* The request after req in a CIO_LINK chain: start it if req succeeded,
 * else end it with -ECANCELED (which goes on down the chain). */
static void release_next(struct cio_loop *loop, cio_req *req, bool ok)
{
	struct cio__link *l = find_link(loop, req, true);
	cio_req *next;
	int ret;

	P(req)->iflags &= ~CIO__IF_HASNEXT;
	if (!l)
		return;
	next = l->succ;
	drop_link(loop, l);
	if (!ok || (P(next)->iflags & CIO__IF_CANCELED)) {
		cio__done(next, -ECANCELED, 0);
		return;
	}
	ret = cio__route(loop, next, CIO__ROUTE_FIRST);
	if (ret < 0)
		cio__done(next, ret, 0);
}

/* A step ended with *res, and the request has options or a deadline:
 * true when it goes on (CIO_ALL's next step) instead of calling back;
 * else *res is its final result. */
bool cio__finish_step(struct cio_loop *loop, cio_req *req, int64_t *res)
{
	struct cio__priv *p = P(req);
	bool stopped = p->iflags & (CIO__IF_CANCELED | CIO__IF_TIMEDOUT);
	bool xfer = cio__op_has(p->op, OPF_XFER);
	int64_t step = *res;
	uint64_t left;

	/* What this step had to move: for CIO_ALL and for a chain's break
	 * rule. A fault's cap was for this step only. */
	left = (req->opts & CIO_ALL) || (p->iflags & CIO__IF_HASNEXT) ? remaining(req) : 0;
	if (xfer)
		p->a.x.limit = 0;
	if (p->iflags & CIO__IF_INLINE_PART) {
		/* inline.c moved the first bytes, the pool the rest: one
		 * result, as one pread(2) would give. What stops the rest (an
		 * error, a cancel) leaves a short transfer, for it happened. */
		p->iflags &= ~CIO__IF_INLINE_PART;
		*res = *res >= 0 ? *res + p->a.x.moved : (int64_t)p->a.x.moved;
	}

	if ((req->opts & CIO_ALL) && xfer) {
		if (step > 0 && (uint64_t)step < left) {
			/* Bytes moved stay readable through cio_transferred()
			 * whatever ends the request now. */
			p->a.x.moved += (uint32_t)step;
			if (!stopped) {
				int err;

				p->iflags = (p->iflags & CIO__IF_CORE) | CIO__IF_CONT;
				err = cio__route(loop, req, 0);
				if (err == 0)
					return true;
				*res = err;   /* the next step could not start */
			} else {
				*res = -ECANCELED;
			}
		} else if (step >= 0) {
			*res = step + p->a.x.moved;
		}
	}
	if (req->opts & CIO_FIXED_BUF)
		loop->nfixed--;
	if (*res == -ECANCELED && (p->iflags & CIO__IF_TIMEDOUT) && p->op != CIO_OP_TIMER)
		*res = -ETIMEDOUT;
	if (p->timer_slot)
		cio__timers_del(loop, req);
	if (loop->link_open == req)
		loop->link_open = NULL;
	if (p->iflags & CIO__IF_HASNEXT) {
		/* A short read or write breaks a chain, as on io_uring (with
		 * CIO_ALL only EOF leaves one short). */
		bool ok = *res >= 0 && (!cio__op_has(p->op, OPF_WHOLE) ||
					(uint64_t)step >= left);

		release_next(loop, req, ok);
	}
	return false;
}
