/* SPDX-License-Identifier: MIT */
/*
 * The loop's timers: a binary min-heap of requests ordered by deadline, then
 * by submission (so equal deadlines fire in the order they were set). Each
 * request keeps its heap index in aux, so cancel is O(log n). The array
 * grows by doubling: no allocation per timer once warm.
 *
 * Backends never see timer requests; they only bound their wait by the
 * earliest deadline. An exported loop fd additionally needs the deadline as
 * a kernel object: a timerfd, armed only while the fd is exported.
 */
#include "config.h"

#include <stdlib.h>
#include <unistd.h>
#include <sys/timerfd.h>

#include "cio-internal.h"

static inline bool before(cio_req *a, cio_req *b)
{
	const struct cio__priv *pa = P(a), *pb = P(b);

	if (pa->a.timer.deadline != pb->a.timer.deadline)
		return pa->a.timer.deadline < pb->a.timer.deadline;
	return pa->a.timer.seq < pb->a.timer.seq;
}

static inline void place(struct cio__timers *t, uint32_t i, cio_req *req)
{
	t->heap[i] = req;
	P(req)->aux = i;
}

static void sift_up(struct cio__timers *t, uint32_t i)
{
	cio_req *req = t->heap[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (!before(req, t->heap[parent]))
			break;
		place(t, i, t->heap[parent]);
		i = parent;
	}
	place(t, i, req);
}

static void sift_down(struct cio__timers *t, uint32_t i)
{
	cio_req *req = t->heap[i];

	for (;;) {
		uint32_t child = 2 * i + 1;

		if (child >= t->len)
			break;
		if (child + 1 < t->len && before(t->heap[child + 1], t->heap[child]))
			child++;
		if (!before(t->heap[child], req))
			break;
		place(t, i, t->heap[child]);
		i = child;
	}
	place(t, i, req);
}

static cio_req *timers_min(const struct cio_loop *loop)
{
	return loop->timers.len ? loop->timers.heap[0] : NULL;
}

int cio__timers_add(struct cio_loop *loop, cio_req *req)
{
	struct cio__timers *t = &loop->timers;

	if (t->len == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 64;
		cio_req **heap = realloc(t->heap, cap * sizeof(*heap));

		if (!heap)
			return -ENOMEM;
		t->heap = heap;
		t->cap = cap;
	}
	P(req)->a.timer.seq = loop->timer_seq++;
	t->heap[t->len] = req;
	sift_up(t, t->len++);
	return 0;
}

void cio__timers_del(struct cio_loop *loop, cio_req *req)
{
	struct cio__timers *t = &loop->timers;
	uint32_t i = P(req)->aux;
	cio_req *last;

	if (i >= t->len || t->heap[i] != req)
		return;
	last = t->heap[--t->len];
	if (last == req)
		return;
	place(t, i, last);
	if (i > 0 && before(last, t->heap[(i - 1) / 2]))
		sift_up(t, i);
	else
		sift_down(t, i);
}

uint64_t cio__timers_wait_ns(const struct cio_loop *loop)
{
	cio_req *min = timers_min(loop);
	uint64_t now, dl;

	if (!min)
		return UINT64_MAX;
	dl = P(min)->a.timer.deadline;
	now = cio__now_ns();
	return dl > now ? dl - now : 0;
}

unsigned cio__timers_expire(struct cio_loop *loop)
{
	struct cio__reqq due = { 0 };
	unsigned n = 0;
	uint64_t now;
	cio_req *req;

	if (!timers_min(loop))
		return 0;
	now = cio__now_ns();
	/* Collect first: a callback that sets a zero timer waits for the next
	 * pass instead of extending this one forever. */
	while ((req = timers_min(loop)) && P(req)->a.timer.deadline <= now) {
		cio__timers_del(loop, req);
		cio__q_push(&due, req);
	}
	while ((req = cio__q_pop(&due))) {
		cio__complete(req, 0);
		n++;
	}
	return n;
}

int cio__timers_export(struct cio_loop *loop)
{
	if (loop->tfd >= 0)
		return 0;
	loop->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (loop->tfd < 0) {
		loop->tfd = -1;
		return -errno;
	}
	loop->tfd_deadline = 0;
	return 0;
}

/* A zero itimerspec disarms the timerfd when no timer is left. */
void cio__timers_sync_fd(struct cio_loop *loop)
{
	cio_req *min = timers_min(loop);
	uint64_t want = min ? P(min)->a.timer.deadline : 0;
	struct itimerspec its = { 0 };

	if (loop->tfd < 0 || want == loop->tfd_deadline)
		return;
	its.it_value.tv_sec = (time_t)(want / 1000000000u);
	its.it_value.tv_nsec = (long)(want % 1000000000u);
	if (timerfd_settime(loop->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		loop->tfd_deadline = want;
}

void cio__timers_fd_fired(struct cio_loop *loop)
{
	uint64_t ticks;

	if (read(loop->tfd, &ticks, sizeof(ticks)) < 0) {
		/* EAGAIN: re-armed meanwhile; nothing to do */
	}
	loop->tfd_deadline = 0;
}

void cio__timers_free(struct cio_loop *loop)
{
	free(loop->timers.heap);
	loop->timers.heap = NULL;
	loop->timers.len = loop->timers.cap = 0;
	if (loop->tfd >= 0)
		close(loop->tfd);
	loop->tfd = -1;
}
