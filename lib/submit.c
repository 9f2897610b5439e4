/* SPDX-License-Identifier: MIT */
/*
 * Submission: the one door every operation goes through (cio__submit,
 * called by req.c after the argument checks), and the one place that
 * decides where a request runs (decide), for route() and cio_op_path()
 * alike. Also the fault queue, where CIO_FAULTS holds requests back.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cio-internal.h"

enum { ROUTE_BACKEND, ROUTE_STREAM, ROUTE_POOL, ROUTE_TIMER, ROUTE_INLINE };
#define WHY_LACKS 1u   /* decide()'s *why: the kernel lacks the op */
#define WHY_SOCK  2u   /* ... a read or write on a socket */

/* Into the loop's pending set: an array, so cancel_all and cancel_fd can
 * walk it and a completion leaves it in O(1). It grows to the most ever
 * pending and stays: no allocation per request once warm. */
static int track(struct cio_loop *loop, cio_req *req, int op, int fd, cio_cb cb)
{
	struct cio__priv *p = P(req);

	if (cio__unlikely(loop->npending == loop->pendcap)) {
		void *a = cio__grow(loop->pend, &loop->pendcap, sizeof(*loop->pend), 256);

		if (!a)
			return -ENOMEM;
		loop->pend = a;
	}
	p->cb = cb;
	p->loop = loop;
	p->op = (uint8_t)op;
	p->fd = fd;
	p->iflags = 0;
	p->timer_slot = 0;
	if (cio__op_has(op, OPF_XFER)) {
		p->a.x.moved = 0;
		p->a.x.limit = 0;
	}
	p->magic = CIO__INFLIGHT;
	p->pidx = loop->npending;
	loop->pend[loop->npending++] = req;
	return 0;
}

/* A read or write on a file goes to the pool (a buffered one tried on
 * the loop thread first: inline.c), on a stream to the stream engine. An
 * explicit offset means a file (route() refused it on what the fd cache
 * knows is a stream); at the position, the fd's type says. */
static int rw_route(struct cio_loop *loop, int op, int fd, int64_t off, int *why)
{
	struct stat st;

	if (off >= 0 && !cio__fd_is_stream(loop, fd))
		return cio__inline_usable(loop, op, fd) ? ROUTE_INLINE : ROUTE_POOL;
	/* A bad fd: the pool's call reports it, as the kernel words it. */
	if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode))
		return ROUTE_POOL;
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
		return cio__inline_usable(loop, op, fd) ? ROUTE_INLINE : ROUTE_POOL;
	if (S_ISSOCK(st.st_mode))
		*why |= WHY_SOCK;
	return ROUTE_STREAM;
}

/*
 * Where a request runs. Timers are the core's heap; the backend runs what
 * it claims; the rest goes by the operation's class (ops.def). *why says
 * whether that is a fallback (the kernel lacks the op) and, for a read or
 * write on a stream, whether the fd is a socket.
 */
static inline int decide(struct cio_loop *loop, int op, int fd, int64_t off, int *why)
{
	int claim;

	*why = 0;
	if (op == CIO_OP_TIMER)
		return ROUTE_TIMER;
	/* What the backend claims on any fd needs no asking each time. */
	if (cio__likely(loop->claims_always & (1ull << op)))
		return ROUTE_BACKEND;
	claim = loop->ops->claims(loop, op, fd, off);
	if (cio__likely(claim == CIO__CLAIM_YES))
		return ROUTE_BACKEND;
	if (claim == CIO__CLAIM_LACKS)
		*why |= WHY_LACKS;
	switch (cio__op_class(op)) {
	case CIO__CLASS_RW:
		return rw_route(loop, op, fd, off, why);
	case CIO__CLASS_STREAM:
		return ROUTE_STREAM;
	default:
		return ROUTE_POOL;
	}
}

CIO_API const char *cio_op_path(const cio_loop *loop, int op, int fd)
{
	/* The fd cache decide() may fill is a memo, not the loop's state. */
	struct cio_loop *l = (struct cio_loop *)loop;
	int why;

	if (!loop || op < 0 || op >= CIO_OP__COUNT)
		return NULL;
	/* A post comes in through the loop's own eventfd, watched as a nop
	 * would be: by the ring, or by epoll. */
	if (op == CIO_OP_POST)
		op = CIO_OP_NOP;
	/* Transfers as at an explicit offset: how a file's would run. */
	switch (decide(l, op, fd, 0, &why)) {
	case ROUTE_BACKEND:
	case ROUTE_TIMER:
		return loop->ops->op_path(loop, op, fd);
	case ROUTE_STREAM:
		return cio__stream_path(loop, op, fd);
	case ROUTE_INLINE:
		return "inline";
	default:
		return "pool";
	}
}

/* An operation the backend would run itself goes to the pool or the
 * stream engine, because the running kernel lacks it. */
static void trace_fallback(struct cio_loop *loop, cio_req *req)
{
	int op = P(req)->op;

	if (loop->debug < 2 && (loop->traced & (1ull << op)))
		return;
	loop->traced |= 1ull << op;
	fprintf(stderr, "libcio: fallback: %s on fd %d: the kernel lacks it for %s; "
		"path \"%s\"%s\n", cio__op_name(op), P(req)->fd, cio_backend(loop),
		cio_op_path(loop, op, P(req)->fd),
		loop->debug < 2 ? " (once per loop; CIO_DEBUG=2: every time)" : "");
}

static void count_fallback(struct cio_loop *loop, cio_req *req, unsigned how, int why)
{
	if (cio__likely(!(why & WHY_LACKS)) || !(how & CIO__ROUTE_FIRST))
		return;
	loop->stats.fallbacks++;
	if (cio__unlikely(loop->debug))
		trace_fallback(loop, req);
}

/* Once the backend is set up: the operations it claims whatever the fd
 * (its answer for fd -1), so that decide() need not ask again. */
void cio__learn_claims(struct cio_loop *loop)
{
	loop->claims_always = 0;
	for (int op = 0; op < CIO_OP__COUNT; op++)
		if (op != CIO_OP_TIMER &&
		    loop->ops->claims(loop, op, -1, -1) == CIO__CLAIM_YES)
			loop->claims_always |= 1ull << op;
}

/* Once the backend and CIO_FAULTS are set up: the operations whose start
 * route() has nothing to do for but hand them to the backend (no fault to
 * draw, no per-fd check of a transfer, no close's cancel sweep), so that
 * cio__submit, the per-op path, skips it. */
void cio__learn_straight(struct cio_loop *loop)
{
	loop->straight = 0;
	if (loop->faults.on)
		return;
	for (int op = 0; op < CIO_OP__COUNT; op++)
		if ((loop->claims_always & (1ull << op)) &&
		    cio__op_class(op) != CIO__CLASS_RW && op != CIO_OP_CLOSE)
			loop->straight |= 1ull << op;
}

/* The pool runs it: for route(), and for the stream engine's calls that
 * must block (after readiness, on an fd with no non-blocking form). */
int cio__to_pool(struct cio_loop *loop, cio_req *req)
{
	P(req)->where = CIO__W_POOL;
	loop->stats.pool_jobs++;
	return cio__pool_submit(loop, req);
}

/* ------------------------------------------------------------------ */
/* The fault queue: requests CIO_FAULTS holds back for a transient error
 * or a delay, with the time each is due. */

static int hold(struct cio_loop *loop, cio_req *req, uint32_t us, unsigned how)
{
	if (loop->nholds == loop->holdcap) {
		void *a = cio__grow(loop->holds, &loop->holdcap, sizeof(*loop->holds), 16);

		if (!a)
			return -ENOMEM;
		loop->holds = a;
	}
	loop->holds[loop->nholds++] = (struct cio__hold){
		.req = req, .due = cio__now_ns() + (uint64_t)us * 1000u,
	};
	if (how & CIO__ROUTE_FIRST)
		P(req)->iflags |= CIO__IF_HELD_FIRST;
	P(req)->where = CIO__W_FAULT;
	return 0;
}

/* cio_cancel of a held request: true if it was still held. */
bool cio__unhold(struct cio_loop *loop, cio_req *req)
{
	for (uint32_t i = 0; i < loop->nholds; i++) {
		if (loop->holds[i].req != req)
			continue;
		memmove(loop->holds + i, loop->holds + i + 1,
			(loop->nholds - i - 1) * sizeof(*loop->holds));
		loop->nholds--;
		return true;
	}
	return false;
}

/* Start the held requests that are due, in the order they were held. */
void cio__holds_run(struct cio_loop *loop)
{
	uint64_t now = cio__now_ns();
	struct cio__reqq due = { 0 };
	uint32_t keep = 0;
	cio_req *req;

	/* Take them out first: starting one (a close) may cancel another. */
	for (uint32_t i = 0; i < loop->nholds; i++) {
		if (loop->holds[i].due <= now) {
			P(loop->holds[i].req)->where = CIO__W_BACKEND;
			cio__q_push(&due, loop->holds[i].req);
		} else {
			loop->holds[keep++] = loop->holds[i];
		}
	}
	loop->nholds = keep;
	while ((req = cio__q_pop(&due))) {
		struct cio__priv *p = P(req);
		unsigned how = CIO__ROUTE_NOFAULT;
		int ret;

		if (p->iflags & CIO__IF_CANCELED) {
			cio__done(req, -ECANCELED, 0);
			continue;
		}
		if (p->iflags & CIO__IF_HELD_FIRST)
			how |= CIO__ROUTE_FIRST;
		p->iflags &= ~CIO__IF_HELD_FIRST;
		/* Held back once for this start is enough: no second fault,
		 * or delay=1 would hold it back forever. */
		ret = cio__route(loop, req, how);
		if (ret < 0)
			cio__done(req, ret, 0);
	}
}

/* When the first held request is due: 0 now, UINT64_MAX none. */
uint64_t cio__holds_wait_ns(const struct cio_loop *loop)
{
	uint64_t now = cio__now_ns(), best = UINT64_MAX;

	for (uint32_t i = 0; i < loop->nholds; i++) {
		if (loop->holds[i].due <= now)
			return 0;
		if (loop->holds[i].due - now < best)
			best = loop->holds[i].due - now;
	}
	return best;
}

/* ------------------------------------------------------------------ */

/* Start a request (CIO__ROUTE_FIRST) or the next step of a CIO_ALL one:
 * the backend runs it, or the stream engine, or the pool, or the timer
 * heap. 0, or -errno if it could not be started (nothing runs then). */
static inline int route(struct cio_loop *loop, cio_req *req, unsigned how)
{
	struct cio__priv *p = P(req);
	int op = p->op;
	int ret, why;

	if (cio__unlikely(loop->faults.on) && !(how & CIO__ROUTE_NOFAULT)) {
		uint32_t arg;

		switch (cio__fault(&loop->faults, req, &arg)) {
		case CIO__FAULT_EIO:
			loop->stats.faults++;
			cio__done(req, -EIO, 0);
			return 0;
		case CIO__FAULT_HOLD:
			/* As if the backend met -EAGAIN: go again later (now,
			 * if there is no room to hold it). */
			loop->stats.faults++;
			if (hold(loop, req, arg, how) == 0)
				return 0;
			break;
		case CIO__FAULT_SHORT:
			loop->stats.faults++;
			p->a.x.limit = arg;
			break;
		}
	}
	if (cio__op_class(op) == CIO__CLASS_RW && (how & CIO__ROUTE_FIRST)) {
		/* An offset on a stream, or an O_DIRECT transfer the file
		 * cannot take, fails the same way on every backend, in its
		 * callback. Later steps of CIO_ALL are left to the kernel,
		 * which answers 0 at EOF. */
		ret = cio__check_rw(loop, op, p->fd, p->a.rw.buf, p->a.rw.len,
				    p->a.rw.off);
		if (cio__unlikely(ret)) {
			cio__done(req, ret, 0);
			return 0;
		}
	}
	if (cio__unlikely(op == CIO_OP_CLOSE) && (how & CIO__ROUTE_FIRST)) {
		/* Nothing may go on waiting on a closed fd (epoll forgets it,
		 * a ring poll holds the file open): whatever else is pending
		 * on it ends now, each with its one callback. */
		cio__cancel_fd_users(loop, p->fd, req);
	}
	switch (decide(loop, op, p->fd, cio__op_has(op, OPF_OFF) ? p->a.rw.off : -1,
		       &why)) {
	case ROUTE_TIMER:
		p->where = CIO__W_TIMER;
		return cio__timers_add(loop, req, p->a.timer.deadline);
	case ROUTE_BACKEND:
		p->where = CIO__W_BACKEND;
		return loop->ops->submit(loop, req);
	case ROUTE_STREAM:
		count_fallback(loop, req, how, why);
		if (why & WHY_SOCK)
			p->iflags |= CIO__IF_SOCK;
		return cio__stream_submit(loop, req);
	case ROUTE_INLINE:
		count_fallback(loop, req, how, why);
		if (cio__inline_try(loop, req))
			return 0;
		return cio__to_pool(loop, req);
	default:
		count_fallback(loop, req, how, why);
		return cio__to_pool(loop, req);
	}
}

int cio__route(struct cio_loop *loop, cio_req *req, unsigned how)
{
	return route(loop, req, how);
}

/* Submission (called by req.c after argument checks): mark the request
 * pending, arm its deadline, then start it, or hold it behind the request
 * it is linked to. 0, or -errno: then the callback will not run. */
int cio__submit(struct cio_loop *loop, cio_req *req, int op, int fd, cio_cb cb)
{
	struct cio__priv *p = P(req);
	cio_req *pred = loop->link_open;
	int ret;

	ret = track(loop, req, op, fd, cb);
	if (cio__unlikely(ret < 0))
		return ret;
	if (op == CIO_OP_CLOSE)
		cio__fd_forget(loop, fd);
	if (cio__unlikely(req->timeout_ns) && op != CIO_OP_TIMER) {
		uint64_t now = cio__now_ns();
		uint64_t dl = req->timeout_ns > UINT64_MAX - now ? UINT64_MAX :
			      now + req->timeout_ns;

		ret = cio__timers_add(loop, req, dl);
		if (ret < 0)
			goto rejected;
	}
	if (op == CIO_OP_TIMER && p->a.timer.timedout)
		p->iflags |= CIO__IF_TIMEDOUT;
	if (cio__unlikely(pred != NULL)) {
		/* Linked behind pred: waits until it succeeds. */
		ret = cio__link(loop, pred, req);
		if (ret < 0)
			goto rejected;
	} else {
		if (cio__likely(loop->straight & (1ull << op))) {
			p->where = CIO__W_BACKEND;
			ret = loop->ops->submit(loop, req);
		} else {
			ret = route(loop, req, CIO__ROUTE_FIRST);
		}
		if (cio__unlikely(ret < 0))
			goto rejected;
		if (cio__unlikely(req->opts & CIO_LINK))
			loop->link_open = req;
	}
	if (cio__unlikely(req->opts & CIO_FIXED_BUF))
		loop->nfixed++;
	loop->stats.submitted++;
	if (cio__unlikely(loop->exported) && !loop->running)
		cio__kick(loop);
	return 0;

rejected:
	if (p->timer_slot)
		cio__timers_del(loop, req);
	cio__untrack(loop, req);
	p->magic = 0;
	p->where = CIO__W_NONE;
	return ret;
}
