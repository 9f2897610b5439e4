/* SPDX-License-Identifier: MIT */
/*
 * The core's loop: its lifetime, cio_run, cio_post and what the loop
 * tells about itself. Submission is submit.c, completion complete.c,
 * CIO_ALL and CIO_LINK chain.c, cancellation and deadlines cancel.c;
 * lib/README draws how a request goes through them.
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

/* CIO_DEBUG: unset or 0, quiet; 1, the backend chosen and each kind of
 * fallback once per loop; 2, every fallback. */
static unsigned debug_level(void)
{
	const char *env = getenv("CIO_DEBUG");

	if (!env || !*env || !strcmp(env, "0"))
		return 0;
	return !strcmp(env, "2") ? 2 : 1;
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
	cio__learn_claims(loop);
	cio__inline_refill(loop);
	cio__pool_set_max(o.pool_max_threads);
	/* Once per loop, on request: which backend, and why not the others. */
	loop->debug = debug_level();
	cio__faults_init(loop);
	cio__learn_straight(loop);
	if (loop->debug)
		fprintf(stderr, "libcio: backend %s (%s%s%s)\n", loop->ops->name,
			name ? "asked for" : "auto", wlen ? "; skipped " : "", why);
	*loopp = loop;
	return 0;
}

/* Room for more in arr, an array of *cap elements of size bytes: twice
 * as many (first: how many to start with). The array, perhaps moved, or
 * NULL with arr and *cap as they were. The loop's arrays grow to the most
 * they ever held and stay, so a warm loop allocates nothing per request. */
void *cio__grow(void *arr, uint32_t *cap, size_t size, uint32_t first)
{
	uint32_t n = *cap ? *cap * 2 : first;

	if (n <= *cap)
		return NULL;
	arr = realloc(arr, (size_t)n * size);
	if (arr)
		*cap = n;
	return arr;
}

/* With an exported loop fd, make it readable for what is due now and for
 * the earliest timer or held request. */
void cio__kick(struct cio_loop *loop)
{
	uint64_t held = cio__holds_wait_ns(loop);

	cio__timers_sync_fd(loop, held == UINT64_MAX ? 0 : cio__now_ns() + held);
	loop->ops->kick(loop);
}

/* How long the backend may wait: until the earliest timer or held request
 * is due (UINT64_MAX: no limit). */
uint64_t cio__wait_ns(const struct cio_loop *loop)
{
	uint64_t t = cio__timers_wait_ns(loop);

	if (cio__unlikely(loop->nholds)) {
		uint64_t h = cio__holds_wait_ns(loop);

		if (h < t)
			t = h;
	}
	if (cio__unlikely(loop->run_deadline)) {
		uint64_t now = cio__now_ns();
		uint64_t d = loop->run_deadline > now ? loop->run_deadline - now : 0;

		if (d < t)
			t = d;
	}
	return t;
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
	free(loop->holds);
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

/* cio_run's body; deadline (with CIO_RUN_ONCE) bounds the wait: 0, none. */
static int run(struct cio_loop *loop, int mode, uint64_t deadline)
{
	uint64_t before;
	int ret = 0;

	if (loop->running)
		return -EBUSY;
	loop->running = true;
	loop->run_deadline = deadline;
	before = loop->ncallbacks;

	for (;;) {
		cio__inline_refill(loop);
		cio__drain(loop);
		if (loop->stop)
			break;
		if (cio__unlikely(loop->nholds))
			cio__holds_run(loop);
		if (mode == CIO_RUN_NOWAIT) {
			ret = loop->ops->poll(loop, false);
			cio__expire(loop);
			cio__drain(loop);
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
		cio__expire(loop);
		if (cio__unlikely(deadline) && cio__now_ns() >= deadline) {
			/* Time is up: what that pass completed still runs. */
			cio__drain(loop);
			break;
		}
	}
	loop->stop = false;
	loop->running = false;
	loop->run_deadline = 0;
	if (loop->exported)
		cio__kick(loop);
	if (ret < 0)
		return ret;
	return (int)(loop_pending(loop) > INT32_MAX ? INT32_MAX : loop_pending(loop));
}

CIO_API int cio_run(cio_loop *loop, int mode)
{
	if (!loop || mode < CIO_RUN_DEFAULT || mode > CIO_RUN_NOWAIT)
		return -EINVAL;
	return run(loop, mode, 0);
}

CIO_API int cio_run_timeout(cio_loop *loop, uint64_t ns)
{
	uint64_t now;

	if (!loop)
		return -EINVAL;
	if (!ns)
		return run(loop, CIO_RUN_NOWAIT, 0);
	now = cio__now_ns();
	return run(loop, CIO_RUN_ONCE, ns > UINT64_MAX - now ? UINT64_MAX : now + ns);
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
	cio__kick(loop);
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
