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

static const char *const op_names[CIO_OP__COUNT] = {
	[CIO_OP_NOP] = "nop",           [CIO_OP_READ] = "read",
	[CIO_OP_WRITE] = "write",       [CIO_OP_READV] = "readv",
	[CIO_OP_WRITEV] = "writev",     [CIO_OP_FSYNC] = "fsync",
	[CIO_OP_FALLOCATE] = "fallocate", [CIO_OP_FTRUNCATE] = "ftruncate",
	[CIO_OP_OPENAT] = "openat",     [CIO_OP_CLOSE] = "close",
	[CIO_OP_STATX] = "statx",       [CIO_OP_UNLINKAT] = "unlinkat",
	[CIO_OP_RENAMEAT] = "renameat", [CIO_OP_MKDIRAT] = "mkdirat",
	[CIO_OP_TIMER] = "timer",       [CIO_OP_WORK] = "work",
};

const char *cio__op_name(int op)
{
	return (op >= 0 && op < CIO_OP__COUNT) ? op_names[op] : NULL;
}

/* CIO_DEBUG_NO_OPS=openat,statx (or "all"): a test knob that makes the
 * backend treat those operations as missing, to prove the pool fallback. */
bool cio__debug_no_op(int op)
{
	const char *env = getenv("CIO_DEBUG_NO_OPS");
	const char *name = cio__op_name(op);
	size_t n;

	if (!env || !name)
		return false;
	n = strlen(name);
	while (*env) {
		size_t len = strcspn(env, ",");

		if ((len == 3 && !strncmp(env, "all", 3)) ||
		    (len == n && !strncmp(env, name, n)))
			return true;
		env += len;
		if (*env == ',')
			env++;
	}
	return false;
}

static bool debug_enabled(void)
{
	const char *env = getenv("CIO_DEBUG");

	return env && *env && strcmp(env, "0");
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

	memset(loop->native, 0, sizeof(loop->native));
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
	if (o.flags & CIO_LOOP_SQPOLL)
		return -EOPNOTSUPP;     /* not in this release */
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
	if (debug_enabled())
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
	return op == CIO_OP_OPENAT || op == CIO_OP_ACCEPT || op == CIO_OP_SOCKET;
}

/* The one place a final callback runs. req leaves the pending list, its
 * in-flight mark is cleared (so cb may resubmit it), then cb runs; after
 * that the library never touches req again. */
void cio__complete_flags(cio_req *req, int64_t res, uint32_t flags)
{
	struct cio__priv *p = P(req);
	struct cio_loop *loop = p->loop;
	cio_cb cb = p->cb;

	if (p->iflags & CIO__IF_POSTED) {
		atomic_fetch_sub_explicit(&loop->nposted, 1, memory_order_release);
	} else {
		if (p->iprev)
			P(p->iprev)->inext = p->inext;
		else
			loop->pending = p->inext;
		if (p->inext)
			P(p->inext)->iprev = p->iprev;
		loop->npending--;
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

void cio__complete(cio_req *req, int64_t res)
{
	cio__complete_flags(req, res, 0);
}

void cio__deliver_more(cio_req *req, int64_t res, uint32_t flags)
{
	if (res >= 0 && gives_fd(P(req)->op))
		cio__fd_forget(P(req)->loop, (int)res);
	P(req)->loop->ncallbacks++;
	req->res = res;
	req->flags = flags | CIO_F_MORE;
	P(req)->cb(req);
}

void cio__defer(cio_req *req, int64_t res)
{
	struct cio_loop *loop = P(req)->loop;

	req->res = res;
	req->flags = 0;
	P(req)->where = CIO__W_DONE;
	cio__q_push(&loop->done, req);
}

static unsigned run_done(struct cio_loop *loop)
{
	unsigned n = 0;
	cio_req *req;

	/* Take the whole list: callbacks that defer new work see it next pass,
	 * so a callback that resubmits a nop forever cannot starve the loop. */
	struct cio__reqq batch = loop->done;

	loop->done.head = loop->done.tail = NULL;
	while ((req = cio__q_pop(&batch))) {
		cio__complete_flags(req, req->res, req->flags);
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
			cio__complete(req, req->res);
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
		run_done(loop);
		if (loop->stop)
			break;
		if (mode == CIO_RUN_NOWAIT) {
			ret = loop->ops->poll(loop, false);
			cio__timers_expire(loop);
			run_done(loop);
			break;
		}
		if (!loop_pending(loop))
			break;
		if (mode == CIO_RUN_ONCE && loop->ncallbacks != before)
			break;
		ret = loop->ops->poll(loop, loop->done.head == NULL);
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
	return loop ? loop->ops->name : NULL;
}

CIO_API const char *cio_op_path(const cio_loop *loop, int op, int fd)
{
	if (!loop || op < 0 || op >= CIO_OP__COUNT)
		return NULL;
	switch (loop->native[op] & CIO__PATH) {
	case CIO__NATIVE:
		return loop->ops->op_path(loop, op, fd);
	case CIO__STREAM:
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
	cio__remote_push(loop, req);
	return 0;
}

/* Submission, the one door every operation goes through (called by req.c
 * after argument checks): mark the request pending, then let the backend
 * run it natively or send it to the pool. */
static void track(struct cio_loop *loop, cio_req *req, int op, int fd, cio_cb cb)
{
	struct cio__priv *p = P(req);

	p->cb = cb;
	p->loop = loop;
	p->op = (uint8_t)op;
	p->fd = fd;
	p->iflags = 0;
	p->magic = CIO__INFLIGHT;
	p->iprev = NULL;
	p->inext = loop->pending;
	if (loop->pending)
		P(loop->pending)->iprev = req;
	loop->pending = req;
	loop->npending++;
}

static void accepted(struct cio_loop *loop)
{
	loop->stats.submitted++;
	if (cio__unlikely(loop->exported) && !loop->running)
		kick(loop);
}

int cio__submit_done(struct cio_loop *loop, cio_req *req, int op, int fd,
		     cio_cb cb, int64_t res)
{
	track(loop, req, op, fd, cb);
	cio__defer(req, res);
	accepted(loop);
	return 0;
}

int cio__submit(struct cio_loop *loop, cio_req *req, int op, int fd, cio_cb cb)
{
	struct cio__priv *p = P(req);
	int ret;

	track(loop, req, op, fd, cb);
	if (op == CIO_OP_CLOSE)
		cio__fd_forget(loop, fd);
	if (op == CIO_OP_TIMER) {
		p->where = CIO__W_TIMER;
		ret = cio__timers_add(loop, req);
	} else if (cio__likely(loop->native[op] == CIO__NATIVE)) {
		p->where = CIO__W_BACKEND;
		ret = loop->ops->submit(loop, req);
	} else {
		if (loop->native[op] & CIO__FB)
			loop->stats.fallbacks++;
		if ((loop->native[op] & CIO__PATH) == CIO__STREAM) {
			ret = cio__stream_submit(loop, req);
		} else {
			p->where = CIO__W_POOL;
			loop->stats.pool_jobs++;
			ret = cio__pool_submit(loop, req);
		}
	}
	if (cio__unlikely(ret < 0)) {
		/* Rejected: undo, the callback will not run. */
		if (p->iprev)
			P(p->iprev)->inext = p->inext;
		else
			loop->pending = p->inext;
		if (p->inext)
			P(p->inext)->iprev = p->iprev;
		loop->npending--;
		p->magic = 0;
		p->where = CIO__W_NONE;
		return ret;
	}
	accepted(loop);
	return 0;
}

static int cancel_one(struct cio_loop *loop, cio_req *req)
{
	struct cio__priv *p = P(req);

	if (p->where != CIO__W_DONE && p->where != CIO__W_REMOTE)
		p->iflags |= CIO__IF_CANCELED;
	switch (p->where) {
	case CIO__W_BACKEND:
		if (p->iflags & CIO__IF_STARVED) {
			cio__q_remove(&p->a.rp.pool->starved, req);
			p->iflags &= ~CIO__IF_STARVED;
			cio__defer(req, -ECANCELED);
		} else {
			loop->ops->cancel(loop, req);
		}
		break;
	case CIO__W_TIMER:
		cio__timers_del(loop, req);
		cio__defer(req, -ECANCELED);
		break;
	case CIO__W_POOL:
		if (cio__pool_cancel(req))
			cio__defer(req, -ECANCELED);
		break;
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
		return p->op != CIO_OP_NOP && p->op != CIO_OP_TIMER &&
		       p->op != CIO_OP_WORK && p->op != CIO_OP_SOCKET;
	if (p->op == CIO_OP_SPLICE)
		return p->a.spl.fd_out == fd;
	if (p->op == CIO_OP_SENDFILE)
		return p->a.sf.in_fd == fd;
	return false;
}

CIO_API int cio_cancel_fd(cio_loop *loop, int fd)
{
	int n = 0;

	if (!loop)
		return -EINVAL;
	if (fd < 0)
		return 0;
	/* The caller is about to close fd: a new one may take its number. */
	cio__fd_forget(loop, fd);
	for (cio_req *req = loop->pending; req; req = P(req)->inext) {
		if (!uses_fd(req, fd) || P(req)->where == CIO__W_DONE ||
		    (P(req)->iflags & CIO__IF_CANCELED))
			continue;
		cancel_one(loop, req);
		n++;
	}
	if (loop->exported && !loop->running)
		kick(loop);
	return n;
}

CIO_API int cio_cancel_all(cio_loop *loop)
{
	int n = 0;

	if (!loop)
		return -EINVAL;
	for (cio_req *req = loop->pending; req; req = P(req)->inext) {
		cancel_one(loop, req);
		n++;
	}
	if (loop->exported && !loop->running)
		kick(loop);
	return n;
}
