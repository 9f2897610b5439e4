/* SPDX-License-Identifier: MIT */
/*
 * The thread pool: one per process, shared by every loop. It grows on
 * demand up to its maximum and threads exit after idling for a while.
 * A finished request goes back to its own loop through cio__remote_push().
 */
#include "config.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cio-internal.h"

#define DEFAULT_MAX_THREADS 64u
#define DEFAULT_IDLE_MS     10000u
#define HARD_MAX_THREADS    1024u

static struct {
	pthread_mutex_t  lock;
	pthread_cond_t   work;
	struct cio__reqq queue;
	unsigned         queued;
	unsigned         threads;
	unsigned         idle;
	unsigned         max;
	unsigned         idle_ms;
	bool             max_from_env;
	pthread_once_t   once;
} pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.once = PTHREAD_ONCE_INIT,
};

static unsigned env_unsigned(const char *name, unsigned def, unsigned lo, unsigned hi)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return def;
	v = strtoul(s, &end, 10);
	if (*end || v < lo)
		return def;
	return v > hi ? hi : (unsigned)v;
}

static void init_cond(void)
{
	pthread_condattr_t attr;

	/* Idle waits are timed on the monotonic clock so a wall-clock jump
	 * neither kills all threads nor keeps them forever. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&pool.work, &attr);
	pthread_condattr_destroy(&attr);
}

/* fork(): the pool is taken whole, so the child's copy is consistent; the
 * child has none of the workers, and the queued jobs belong to the
 * parent's loops, so it starts with an empty pool of its own. */
static void fork_prepare(void)
{
	pthread_mutex_lock(&pool.lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&pool.lock);
}

static void fork_child(void)
{
	pool.queue.head = pool.queue.tail = NULL;
	pool.queued = pool.threads = pool.idle = 0;
	init_cond();
	/* The forking thread took the lock in fork_prepare; in the child it
	 * is that thread, so it may give it back. */
	pthread_mutex_unlock(&pool.lock);
}

static void pool_setup(void)
{
	init_cond();
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	pool.max = env_unsigned("CIO_POOL_MAX", 0, 1, HARD_MAX_THREADS);
	pool.max_from_env = pool.max != 0;
	if (!pool.max)
		pool.max = DEFAULT_MAX_THREADS;
	pool.idle_ms = env_unsigned("CIO_POOL_IDLE_MS", DEFAULT_IDLE_MS, 1, 3600000);
}

void cio__pool_set_max(unsigned max)
{
	pthread_once(&pool.once, pool_setup);
	pthread_mutex_lock(&pool.lock);
	/* The environment is the site's word; otherwise the largest asked. */
	if (!pool.max_from_env && max > pool.max)
		pool.max = max > HARD_MAX_THREADS ? HARD_MAX_THREADS : max;
	pthread_mutex_unlock(&pool.lock);
}

unsigned cio__pool_threads(void)
{
	unsigned n;

	pthread_mutex_lock(&pool.lock);
	n = pool.threads;
	pthread_mutex_unlock(&pool.lock);
	return n;
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		cio_req *req;

		while (!pool.queue.head) {
			struct timespec ts;
			int rc;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += pool.idle_ms / 1000;
			ts.tv_nsec += (long)(pool.idle_ms % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pool.idle++;
			rc = pthread_cond_timedwait(&pool.work, &pool.lock, &ts);
			pool.idle--;
			if (rc == ETIMEDOUT && !pool.queue.head) {
				pool.threads--;
				pthread_mutex_unlock(&pool.lock);
				return NULL;
			}
		}
		req = cio__q_pop(&pool.queue);
		pool.queued--;
		/* Off the queue: cio__pool_cancel can no longer take it back. */
		pthread_mutex_unlock(&pool.lock);

		req->res = cio__exec(req);   /* exec.c: the pool knows no operations */
		cio__remote_push(P(req)->loop, req);

		pthread_mutex_lock(&pool.lock);
	}
}

/* Called with pool.lock held. Workers block every signal, so the
 * application's handlers run on its own threads only. */
static int spawn_worker(void)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t tid;
	int rc;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&tid, &attr, worker, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc)
		return -rc;
	pool.threads++;
	return 0;
}

int cio__pool_submit(struct cio_loop *loop, cio_req *req)
{
	int ret = 0;

	(void)loop;
	pthread_once(&pool.once, pool_setup);
	pthread_mutex_lock(&pool.lock);
	cio__q_push(&pool.queue, req);
	pool.queued++;
	if (pool.idle)
		pthread_cond_signal(&pool.work);
	if (pool.queued > pool.idle && pool.threads < pool.max) {
		ret = spawn_worker();
		/* With no thread at all the job would never run: refuse it.
		 * With some, it waits its turn. */
		if (ret < 0 && pool.threads)
			ret = 0;
		if (ret < 0) {
			cio__q_remove(&pool.queue, req);
			pool.queued--;
		}
	}
	pthread_mutex_unlock(&pool.lock);
	return ret;
}

bool cio__pool_cancel(cio_req *req)
{
	bool removed = false;

	pthread_mutex_lock(&pool.lock);
	/* Only from the queue: one a worker took runs to its end. */
	if (cio__q_remove(&pool.queue, req)) {
		pool.queued--;
		removed = true;
	}
	pthread_mutex_unlock(&pool.lock);
	return removed;
}
