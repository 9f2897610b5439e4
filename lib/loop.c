/* SPDX-License-Identifier: MIT */
/*
 * The core: loop lifetime, cio_run, the exactly-once completion path,
 * cross-thread completions (pool results and cio_post) and cancellation.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/stat.h>

#include "cio-internal.h"

#define DEFAULT_ENTRIES 256u
#define MAX_ENTRIES     32768u

CIO_API const char *cio_version(void)
{
	return PACKAGE_VERSION;
}

uint64_t cio__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CIO_DEBUG: unset or 0, quiet; 1, the backend chosen and each kind of
 * fallback once per loop; 2, every fallback. */
static unsigned debug_level(void)
{
	const char *env = getenv("CIO_DEBUG");

	if (!env || !*env || !strcmp(env, "0"))
		return 0;
	return !strcmp(env, "2") ? 2 : 1;
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

static const struct cio__backend_ops *backend_by_name(const char *name)
{
	if (!strcmp(name, "uring"))
		return &cio__backend_uring;
	if (!strcmp(name, "aio"))
		return &cio__backend_aio;
	if (!strcmp(name, "pool"))
		return &cio__backend_pool;
	return NULL;
}

static int loop_init_backend(struct cio_loop *loop, const struct cio__backend_ops *ops,
			     const struct cio_loop_opts *opts)
{
	int ret;

	loop->ops = ops;
	ret = ops->init(loop, opts);
	if (ret < 0)
		loop->ops = NULL;
	return ret;
}

CIO_API int cio_loop_new(cio_loop **loopp, const struct cio_loop_opts *opts)
{
	static const struct cio_loop_opts defaults;
	static const struct cio__backend_ops *const auto_order[] = {
		&cio__backend_uring, &cio__backend_aio, &cio__backend_pool,
	};
	char why[256] = "";
	size_t wlen = 0;
	struct cio_loop_opts o;
	struct cio_loop *loop;
	const char *name;
	int ret = -EINVAL;

	if (!loopp)
		return -EINVAL;
	o = opts ? *opts : defaults;
	if (o.flags & ~CIO_LOOP_SQPOLL)
		return -EINVAL;
	if (!o.entries)
		o.entries = DEFAULT_ENTRIES;
	if (o.entries > MAX_ENTRIES)
		o.entries = MAX_ENTRIES;

	name = o.backend;
	if (!name || !strcmp(name, "auto")) {
		name = getenv("CIO_BACKEND");
		if (name && (!*name || !strcmp(name, "auto")))
			name = NULL;
	}
	if (name && !backend_by_name(name))
		return -EINVAL;

	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->wakefd < 0) {
		ret = -errno;
		free(loop);
		return ret;
	}
	loop->tfd = -1;
	pthread_mutex_init(&loop->remote_lock, NULL);
	atomic_init(&loop->nposted, 0);
	atomic_init(&loop->posts, 0);

	loop->auto_backend = !name;
	if (name) {
		ret = loop_init_backend(loop, backend_by_name(name), &o);
	} else {
		/* Any failure to set one up falls through to the next. */
		for (size_t i = 0; i < sizeof(auto_order) / sizeof(auto_order[0]); i++) {
			ret = loop_init_backend(loop, auto_order[i], &o);
			if (ret == 0)
				break;
			if (wlen < sizeof(why))
				wlen += (size_t)snprintf(why + wlen, sizeof(why) - wlen,
							 "%s%s: %s", wlen ? ", " : "",
							 auto_order[i]->name, strerror(-ret));
		}
	}
	if (ret < 0) {
		pthread_mutex_destroy(&loop->remote_lock);
		close(loop->wakefd);
		free(loop);
		return ret;
	}
	cio__pool_set_max(o.pool_max_threads);
	/* Once per loop, on request: which backend, and why not the others. */
	loop->debug = debug_level();
	cio__faults_init(loop);
	if (loop->debug)
		fprintf(stderr, "libcio: backend %s (%s%s%s)\n", loop->ops->name,
			name ? "asked for" : "auto", wlen ? "; skipped " : "", why);
	*loopp = loop;
	return 0;
}

/* With an exported loop fd, make it readable for what is due now and for
 * the earliest timer. */
static void kick(struct cio_loop *loop)
{
	cio__timers_sync_fd(loop);
	loop->ops->kick(loop);
}

static uint64_t loop_pending(const struct cio_loop *loop)
{
	return loop->npending + atomic_load_explicit(&loop->nposted, memory_order_acquire);
}

CIO_API int cio_loop_free(cio_loop *loop)
{
	if (!loop)
		return -EINVAL;
	/* Pending requests, or provided-buffer pools (registered with the
	 * backend) still alive. */
	if (loop->running || loop_pending(loop) || loop->npools)
		return -EBUSY;
	loop->ops->fini(loop);
	cio__timers_free(loop);
	cio__fd_free(loop);
	free(loop->pend);
	free(loop->links);
	free(loop->more);
	free(loop->more_spare);
	cio__buffers_free(loop);
	/* Take the lock once more: a pool worker that pushed our last
	 * completion writes the eventfd while holding it. */
	pthread_mutex_lock(&loop->remote_lock);
	pthread_mutex_unlock(&loop->remote_lock);
	pthread_mutex_destroy(&loop->remote_lock);
	close(loop->wakefd);
	free(loop);
	return 0;
}

/* A new fd of this number: what the loop knew of the old one is void. */
static inline bool gives_fd(int op)
{
	return cio__op_has(op, OPF_NEWFD);
}

static int route(struct cio_loop *loop, cio_req *req, bool first);
enum { ROUTE_BACKEND, ROUTE_STREAM, ROUTE_POOL, ROUTE_TIMER };
#define WHY_LACKS 1u   /* decide()'s *why: the kernel lacks the op */
#define WHY_SOCK  2u   /* ... a read or write on a socket */
static int decide(struct cio_loop *loop, int op, int fd, int64_t off, int *why);
static int cancel_fd_users(struct cio_loop *loop, int fd, const cio_req *except);
static void untrack(struct cio_loop *loop, cio_req *req);

/* The length a transfer has still to move, for CIO_ALL and CIO_LINK; 0
 * for operations that are not transfers. */
static uint64_t remaining(const cio_req *req)
{
	const struct cio__priv *p = P((cio_req *)req);
	uint64_t n = 0;

	switch (p->op) {
	case CIO_OP_READ:
	case CIO_OP_WRITE:
		n = p->a.rw.len;
		if (p->iflags & CIO__IF_VECSTEP)
			for (uint32_t i = 0; i < p->a.rw.veccnt; i++)
				n += p->a.rw.vec[i].iov_len;
		return n;
	case CIO_OP_READV:
	case CIO_OP_WRITEV:
		for (uint32_t i = 0; i < p->a.rw.len; i++)
			n += ((const struct iovec *)p->a.rw.buf)[i].iov_len;
		return n;
	case CIO_OP_RECV:
	case CIO_OP_SEND:
		return p->a.msg.len;
	case CIO_OP_SENDFILE:
		return p->a.sf.len;
	case CIO_OP_SPLICE:
		return p->a.spl.len;
	default:
		return 0;
	}
}

/* CIO_ALL: account for a step that moved res (> 0) bytes, less than what
 * remained, and set up the next one. */
static void advance(cio_req *req, uint64_t res)
{
	struct cio__priv *p = P(req);
	const struct iovec *iov;
	uint32_t cnt;

	p->done += res;
	switch (p->op) {
	case CIO_OP_READ:
	case CIO_OP_WRITE:
	case CIO_OP_READV:
	case CIO_OP_WRITEV:
		if (p->a.rw.off >= 0)
			p->a.rw.off += (int64_t)res;
		if (p->iflags & CIO__IF_VECSTEP) {
			if (res < p->a.rw.len) {
				p->a.rw.buf = (char *)p->a.rw.buf + res;
				p->a.rw.len -= (uint32_t)res;
				return;
			}
			/* That element is done: back to the vector. */
			p->iflags &= ~CIO__IF_VECSTEP;
			p->op = p->op == CIO_OP_READ ? CIO_OP_READV : CIO_OP_WRITEV;
			p->a.rw.buf = (void *)p->a.rw.vec;
			p->a.rw.len = p->a.rw.veccnt;
			return;
		}
		if (p->op == CIO_OP_READ || p->op == CIO_OP_WRITE) {
			p->a.rw.buf = (char *)p->a.rw.buf + res;
			p->a.rw.len -= (uint32_t)res;
			return;
		}
		/* Skip the elements done; finish a part-done one on its own,
		 * since the caller's vector is not ours to change. */
		iov = p->a.rw.buf;
		cnt = p->a.rw.len;
		while (cnt && res >= iov->iov_len) {
			res -= iov->iov_len;
			iov++;
			cnt--;
		}
		if (res) {
			p->iflags |= CIO__IF_VECSTEP;
			p->op = p->op == CIO_OP_READV ? CIO_OP_READ : CIO_OP_WRITE;
			p->a.rw.vec = iov + 1;
			p->a.rw.veccnt = cnt - 1;
			p->a.rw.buf = (char *)iov->iov_base + res;
			p->a.rw.len = (uint32_t)(iov->iov_len - res);
		} else {
			p->a.rw.buf = (void *)iov;
			p->a.rw.len = cnt;
		}
		return;
	case CIO_OP_RECV:
	case CIO_OP_SEND:
		p->a.msg.buf = (char *)p->a.msg.buf + res;
		p->a.msg.len -= res;
		return;
	case CIO_OP_SENDFILE:
		if (p->a.sf.off >= 0)
			p->a.sf.off += (int64_t)res;
		p->a.sf.len -= res;
		return;
	}
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
	ret = route(loop, next, true);
	if (ret < 0)
		cio__done(next, ret, 0);
}

/* Completion with options or a deadline: returns true when the request
 * goes on (CIO_ALL) instead of calling back; else *res is final. */
static bool finish_slow(struct cio_loop *loop, cio_req *req, int64_t *res)
{
	struct cio__priv *p = P(req);
	bool stopped = p->iflags & (CIO__IF_CANCELED | CIO__IF_TIMEDOUT);
	uint64_t left;
	bool ok;

	if (p->iflags & CIO__IF_SHORTENED)
		cio__fault_restore(req);
	/* What this step had to move, before any advance below: for CIO_ALL
	 * and for a chain's break rule. */
	left = (req->opts & CIO_ALL) || (p->iflags & CIO__IF_HASNEXT) ? remaining(req) : 0;

	if ((req->opts & CIO_ALL) && cio__op_has(p->op, OPF_XFER)) {
		if (*res > 0 && (uint64_t)*res < left) {
			if (!stopped) {
				advance(req, (uint64_t)*res);
				p->iflags = (uint16_t)((p->iflags & CIO__IF_CORE) | CIO__IF_CONT);
				int err = route(loop, req, false);

				if (err == 0)
					return true;
				*res = err;   /* the next step could not start */
			} else {
				/* Cancelled between steps: what moved stays
				 * readable through cio_transferred(). */
				p->done += (uint64_t)*res;
				*res = -ECANCELED;
			}
		} else if (*res >= 0) {
			*res += (int64_t)p->done;
		}
	}
	if (req->opts & CIO_FIXED_BUF)
		loop->nfixed--;
	if (*res == -ECANCELED && (p->iflags & CIO__IF_TIMEDOUT) && p->op != CIO_OP_TIMER)
		*res = -ETIMEDOUT;
	if (p->tidx)
		cio__timers_del(loop, req);
	if (loop->link_open == req)
		loop->link_open = NULL;
	if (p->iflags & CIO__IF_HASNEXT) {
		/* A short read or write breaks a chain, as on io_uring (with
		 * CIO_ALL only EOF leaves one short). */
		ok = *res >= 0 && (!cio__op_has(p->op, OPF_WHOLE) ||
				   (uint64_t)*res - p->done >= left);
		release_next(loop, req, ok);
	}
	return false;
}

/* The one place a final callback runs. req leaves the pending set, its
 * in-flight mark is cleared (so cb may resubmit it), then cb runs; after
 * that the library never touches req again. */
static void complete_final(cio_req *req, int64_t res, uint32_t flags)
{
	struct cio__priv *p = P(req);
	struct cio_loop *loop = p->loop;
	cio_cb cb = p->cb;

	if (p->iflags & CIO__IF_POSTED) {
		atomic_fetch_sub_explicit(&loop->nposted, 1, memory_order_release);
	} else {
		if (cio__unlikely(req->opts || p->tidx ||
				  (p->iflags & (CIO__IF_HASNEXT | CIO__IF_TIMEDOUT |
						CIO__IF_SHORTENED)) ||
				  loop->link_open == req) &&
		    finish_slow(loop, req, &res))
			return;
		untrack(loop, req);
	}
	if (p->op == CIO_OP_RECV_POOL)
		p->a.rp.pool->users--;
	else if (cio__unlikely(res >= 0 && gives_fd(p->op)))
		cio__fd_forget(loop, (int)res);
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
	if (!req)
		return 0;
	return req->res >= 0 ? req->res : (int64_t)P((cio_req *)req)->done;
}

/* A multishot callback (CIO_F_MORE): req stays pending. A final result
 * queued behind it waits in req->res and req->flags: keep them. */
static void deliver_more(const struct cio__more *m)
{
	cio_req *req = m->req;
	struct cio__priv *p = P(req);
	int64_t res = req->res;
	uint32_t flags = req->flags;

	if (m->res >= 0 && gives_fd(p->op))
		cio__fd_forget(p->loop, (int)m->res);
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

/*
 * The one door by which results come back, from the backends, the stream
 * engine, the pool's hand-over and the core itself: a final result (the
 * request's callback runs once, on the next drain), or with CIO_F_MORE a
 * multishot delivery (req stays pending). Never runs a callback, so no
 * backend's reap or walk is ever re-entered from one.
 */
void cio__done(cio_req *req, int64_t res, uint32_t flags)
{
	struct cio__priv *p = P(req);
	struct cio_loop *loop = p->loop;

	if (cio__unlikely(flags & CIO_F_MORE)) {
		if (cio__unlikely(loop->nmore == loop->morecap)) {
			uint32_t cap = loop->morecap ? loop->morecap * 2 : 64;
			struct cio__more *m = realloc(loop->more, cap * sizeof(*m));

			if (!m) {
				/* No memory to queue it: losing it is the one
				 * thing worse than a callback from inside. */
				struct cio__more now = { req, res, req->buf, flags };

				deliver_more(&now);
				return;
			}
			loop->more = m;
			loop->morecap = cap;
		}
		loop->more[loop->nmore++] = (struct cio__more){ req, res, req->buf, flags };
		return;
	}
	req->res = res;
	req->flags = flags;
	p->where = CIO__W_DONE;
	cio__q_push(&loop->done, req);
}

/* Run the callbacks of what is done. Take the whole batch: what callbacks
 * add waits for the next pass, so a callback that resubmits a nop forever
 * cannot starve the loop. Multishot deliveries first: a request's final
 * result never overtakes them. */
static unsigned drain(struct cio_loop *loop)
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

/* Loop thread: complete what other threads handed over. The eventfd is read
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

CIO_API int cio_run(cio_loop *loop, int mode)
{
	uint64_t before;
	int ret = 0;

	if (!loop || mode < CIO_RUN_DEFAULT || mode > CIO_RUN_NOWAIT)
		return -EINVAL;
	if (loop->running)
		return -EBUSY;
	loop->running = true;
	before = loop->ncallbacks;

	for (;;) {
		drain(loop);
		if (loop->stop)
			break;
		if (cio__unlikely(loop->retryq.head != NULL))
			cio__faults_run(loop);
		if (mode == CIO_RUN_NOWAIT) {
			ret = loop->ops->poll(loop, false);
			cio__timers_expire(loop);
			drain(loop);
			break;
		}
		if (!loop_pending(loop))
			break;
		if (mode == CIO_RUN_ONCE && loop->ncallbacks != before)
			break;
		ret = loop->ops->poll(loop, !cio__has_done(loop));
		/* A transient error lost nothing (see the backends' poll):
		 * a waiting run goes round again; NOWAIT returns it above. */
		if (ret == -EINTR || ret == -EAGAIN || ret == -EBUSY)
			ret = 0;
		if (ret < 0)
			break;
		cio__timers_expire(loop);
	}
	loop->stop = false;
	loop->running = false;
	if (loop->exported)
		kick(loop);
	if (ret < 0)
		return ret;
	return (int)(loop_pending(loop) > INT32_MAX ? INT32_MAX : loop_pending(loop));
}

CIO_API void cio_stop(cio_loop *loop)
{
	if (loop)
		loop->stop = true;
}

CIO_API const char *cio_backend(const cio_loop *loop)
{
	if (!loop)
		return NULL;
	return loop->name ? loop->name : loop->ops->name;
}

CIO_API const char *cio_op_path(const cio_loop *loop, int op, int fd)
{
	/* The fd cache decide() may fill is a memo, not the loop's state. */
	struct cio_loop *l = (struct cio_loop *)loop;

	if (!loop || op < 0 || op >= CIO_OP__COUNT)
		return NULL;
	/* A post comes in through the loop's own eventfd, watched as a nop
	 * would be: by the ring, or by epoll. */
	if (op == CIO_OP_POST)
		op = CIO_OP_NOP;
	/* Transfers as at an explicit offset: how a file's would run. */
	switch (decide(l, op, fd, 0, NULL)) {
	case ROUTE_BACKEND:
	case ROUTE_TIMER:
		return loop->ops->op_path(loop, op, fd);
	case ROUTE_STREAM:
		return cio__stream_path(loop, op, fd);
	default:
		return "pool";
	}
}

CIO_API int cio_loop_fd(cio_loop *loop)
{
	int fd;

	if (!loop)
		return -EINVAL;
	fd = cio__timers_export(loop);
	if (fd < 0)
		return fd;
	fd = loop->ops->loop_fd(loop);
	if (fd < 0)
		return fd;
	loop->exported = true;
	kick(loop);
	return fd;
}

CIO_API int cio_loop_stats(const cio_loop *loop, struct cio_stats *out)
{
	if (!loop || !out)
		return -EINVAL;
	*out = loop->stats;
	/* Posts count as submitted too, so submitted - completed = inflight
	 * (read at slightly different moments while other threads post). */
	out->submitted += atomic_load_explicit(&loop->posts,
					       memory_order_relaxed);
	out->inflight = loop_pending(loop);
	out->pool_threads = cio__pool_threads();
	return 0;
}

CIO_API int cio_post(cio_loop *loop, cio_req *req, cio_cb cb)
{
	struct cio__priv *p;

	if (!loop || !req || !cb)
		return -EINVAL;
	p = P(req);
	if (p->magic == CIO__INFLIGHT)
		return -EBUSY;
	p->magic = CIO__INFLIGHT;
	p->cb = cb;
	p->loop = loop;
	p->op = CIO_OP_NOP;
	p->iflags = CIO__IF_POSTED;
	p->where = CIO__W_REMOTE;
	req->res = 0;
	atomic_fetch_add_explicit(&loop->nposted, 1, memory_order_acq_rel);
	atomic_fetch_add_explicit(&loop->posts, 1, memory_order_relaxed);
	cio__remote_push(loop, req);
	return 0;
}

/* Into the loop's pending set: an array, so cancel_all and cancel_fd can
 * walk it and a completion leaves it in O(1). It grows to the most ever
 * pending and stays: no allocation per request once warm. */
static int track(struct cio_loop *loop, cio_req *req, int op, int fd, cio_cb cb)
{
	struct cio__priv *p = P(req);

	if (cio__unlikely(loop->npending == loop->pendcap)) {
		uint32_t cap = loop->pendcap ? loop->pendcap * 2 : 256;
		cio_req **pend;

		if (cap <= loop->pendcap)
			return -ENOMEM;
		pend = realloc(loop->pend, cap * sizeof(*pend));
		if (!pend)
			return -ENOMEM;
		loop->pend = pend;
		loop->pendcap = cap;
	}
	p->cb = cb;
	p->loop = loop;
	p->op = (uint8_t)op;
	p->fd = fd;
	p->iflags = 0;
	p->done = 0;
	p->tidx = 0;
	p->magic = CIO__INFLIGHT;
	p->pidx = loop->npending;
	loop->pend[loop->npending++] = req;
	return 0;
}

static void untrack(struct cio_loop *loop, cio_req *req)
{
	uint32_t i = P(req)->pidx;
	cio_req *last = loop->pend[--loop->npending];

	loop->pend[i] = last;
	P(last)->pidx = i;
}

/* A read or write on a file goes to the pool, on a stream to the stream
 * engine. An explicit offset means a file (route() refused it on what the
 * fd cache knows is a stream); at the position, the fd's type says. */
static int rw_route(struct cio_loop *loop, int fd, int64_t off, int *why)
{
	struct stat st;

	if (off >= 0 && !cio__fd_is_stream(loop, fd))
		return ROUTE_POOL;
	/* A bad fd: the pool's call reports it, as the kernel words it. */
	if (fstat(fd, &st) < 0 || S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) ||
	    S_ISDIR(st.st_mode))
		return ROUTE_POOL;
	if (S_ISSOCK(st.st_mode))
		*why |= WHY_SOCK;
	return ROUTE_STREAM;
}

/*
 * Where a request runs: the one place that decides, for route() and for
 * cio_op_path() alike. Timers are the core's heap; the backend runs what
 * it claims; the rest goes by the operation's class (ops.def). *why says
 * whether that is a fallback (the kernel lacks the op) and, for a read or
 * write on a stream, whether the fd is a socket.
 */
static int decide(struct cio_loop *loop, int op, int fd, int64_t off, int *why)
{
	int claim, dummy;

	if (!why)
		why = &dummy;
	*why = 0;
	if (op == CIO_OP_TIMER)
		return ROUTE_TIMER;
	claim = loop->ops->claims(loop, op, fd, off);
	if (cio__likely(claim == CIO__CLAIM_YES))
		return ROUTE_BACKEND;
	if (claim == CIO__CLAIM_LACKS)
		*why |= WHY_LACKS;
	switch (cio__op_class(op)) {
	case CIO__CLASS_RW:
		return rw_route(loop, fd, off, why);
	case CIO__CLASS_STREAM:
		return ROUTE_STREAM;
	default:
		return ROUTE_POOL;
	}
}

/* Sent to the pool or the stream engine because the kernel lacks the op. */
static void count_fallback(struct cio_loop *loop, cio_req *req, bool first, int why)
{
	if (cio__likely(!(why & WHY_LACKS)) || !first)
		return;
	loop->stats.fallbacks++;
	if (cio__unlikely(loop->debug))
		trace_fallback(loop, req);
}

/* Start a request (first) or the next step of a CIO_ALL one: the backend
 * runs it, or the stream engine, or the pool. 0, or -errno if it could
 * not be started (nothing runs then). */
static int route(struct cio_loop *loop, cio_req *req, bool first)
{
	struct cio__priv *p = P(req);
	int op = p->op;
	int ret, why;

	if (cio__unlikely(loop->faults.on)) {
		switch (cio__fault(loop, req)) {
		case CIO__FAULT_EIO:
			cio__done(req, -EIO, 0);
			return 0;
		case CIO__FAULT_RETRY:
			/* As if the backend met -EAGAIN: go again later. */
			if (first)
				p->iflags |= CIO__IF_FIRSTRETRY;
			p->where = CIO__W_RETRY;
			cio__q_push(&loop->retryq, req);
			return 0;
		}
	}
	if (cio__op_class(op) == CIO__CLASS_RW && first) {
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
	if (cio__unlikely(op == CIO_OP_CLOSE) && first) {
		/* Nothing may go on waiting on a closed fd (epoll forgets it,
		 * a ring poll holds the file open): whatever else is pending
		 * on it ends now, each with its one callback. */
		cancel_fd_users(loop, p->fd, req);
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
		count_fallback(loop, req, first, why);
		if (why & WHY_SOCK)
			p->iflags |= CIO__IF_SOCK;
		return cio__stream_submit(loop, req);
	default:
		count_fallback(loop, req, first, why);
		p->where = CIO__W_POOL;
		loop->stats.pool_jobs++;
		return cio__pool_submit(loop, req);
	}
}

/* A request the fault injection held back: start it now. */
void cio__route_again(struct cio_loop *loop, cio_req *req)
{
	struct cio__priv *p = P(req);
	bool first = p->iflags & CIO__IF_FIRSTRETRY;
	int ret;

	p->iflags &= ~CIO__IF_FIRSTRETRY;
	/* Held back once for this start is enough: no second fault now, or
	 * delay=1 would hold it back forever. */
	loop->faults.on = false;
	ret = route(loop, req, first);
	loop->faults.on = true;
	if (ret < 0)
		cio__done(req, ret, 0);
}

/* Submission, the one door every operation goes through (called by req.c
 * after argument checks): mark the request pending, arm its deadline, then
 * start it, or hold it behind the request it is linked to. */
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
		if (loop->nlinks == loop->linkcap) {
			uint32_t cap = loop->linkcap ? loop->linkcap * 2 : 16;
			struct cio__link *l = realloc(loop->links, cap * sizeof(*l));

			if (!l) {
				ret = -ENOMEM;
				goto rejected;
			}
			loop->links = l;
			loop->linkcap = cap;
		}
		loop->links[loop->nlinks++] = (struct cio__link){ pred, req };
		P(pred)->iflags |= CIO__IF_HASNEXT;
		p->where = CIO__W_HELD;
		loop->link_open = (req->opts & CIO_LINK) ? req : NULL;
	} else {
		ret = route(loop, req, true);
		if (cio__unlikely(ret < 0))
			goto rejected;
		if (cio__unlikely(req->opts & CIO_LINK))
			loop->link_open = req;
	}
	if (cio__unlikely(req->opts & CIO_FIXED_BUF))
		loop->nfixed++;
	loop->stats.submitted++;
	if (cio__unlikely(loop->exported) && !loop->running)
		kick(loop);
	return 0;

rejected:
	/* Undo: the callback will not run. */
	if (p->tidx)
		cio__timers_del(loop, req);
	untrack(loop, req);
	p->magic = 0;
	p->where = CIO__W_NONE;
	return ret;
}

static int cancel_one(struct cio_loop *loop, cio_req *req)
{
	struct cio__priv *p = P(req);

	/* Marked even when its result is known already: a CIO_ALL request
	 * between two steps must not start another. */
	p->iflags |= CIO__IF_CANCELED;
	switch (p->where) {
	case CIO__W_BACKEND:
		if (p->iflags & CIO__IF_STARVED) {
			cio__q_remove(&p->a.rp.pool->starved, req);
			p->iflags &= ~CIO__IF_STARVED;
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
	case CIO__W_RETRY:
		cio__q_remove(&loop->retryq, req);
		cio__done(req, -ECANCELED, 0);
		break;
	case CIO__W_HELD: {
		/* Never started: off the chain; what follows it is ended
		 * with it when its callback comes. */
		struct cio__link *l = find_link(loop, req, false);

		if (l) {
			P(l->pred)->iflags &= ~CIO__IF_HASNEXT;
			drop_link(loop, l);
		}
		cio__done(req, -ECANCELED, 0);
		break;
	}
	default:
		/* Result already known: the callback runs with it. */
		break;
	}
	return 0;
}

CIO_API int cio_cancel(cio_loop *loop, cio_req *target)
{
	if (!loop || !target)
		return -EINVAL;
	if (P(target)->magic != CIO__INFLIGHT || P(target)->loop != loop)
		return -ENOENT;
	cancel_one(loop, target);
	if (loop->exported && !loop->running)
		kick(loop);
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
	return false;
}

/* Cancel every pending request that uses fd, but except. cancel_one never
 * completes a request here, so the array holds still while we walk it. */
static int cancel_fd_users(struct cio_loop *loop, int fd, const cio_req *except)
{
	int n = 0;

	for (uint32_t i = 0; i < loop->npending; i++) {
		cio_req *req = loop->pend[i];

		/* One whose result is known is marked all the same: a CIO_ALL
		 * request between two steps must not start another. */
		if (req == except || !uses_fd(req, fd) ||
		    (P(req)->iflags & CIO__IF_CANCELED))
			continue;
		cancel_one(loop, req);
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
	n = cancel_fd_users(loop, fd, NULL);
	if (loop->exported && !loop->running)
		kick(loop);
	return n;
}

CIO_API int cio_cancel_all(cio_loop *loop)
{
	int n = 0;

	if (!loop)
		return -EINVAL;
	for (uint32_t i = 0; i < loop->npending; i++) {
		cancel_one(loop, loop->pend[i]);
		n++;
	}
	if (loop->exported && !loop->running)
		kick(loop);
	return n;
}

void cio__deadline_expired(struct cio_loop *loop, cio_req *req)
{
	struct cio__priv *p = P(req);

	/* Already cancelled by the caller: as it is. A result known already
	 * stands, but a CIO_ALL request starts no further step. */
	if (p->iflags & CIO__IF_CANCELED)
		return;
	p->iflags |= CIO__IF_TIMEDOUT;
	loop->stats.timeouts++;
	cancel_one(loop, req);
}
