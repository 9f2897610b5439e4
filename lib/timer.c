/* SPDX-License-Identifier: MIT */
/*
 * The loop's timers: a binary min-heap of (deadline, sequence, request),
 * ordered by deadline, then by submission (so equal deadlines fire in the
 * order they were set). It holds cio_timer() requests and the deadlines
 * (req->timeout_ns) of every other operation. Each request keeps its heap
 * index + 1 in tidx, so removal is O(log n). The array grows by doubling:
 * no allocation per timer once warm.
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

static inline bool before(const struct cio__tnode *a, const struct cio__tnode *b)
{
	if (a->deadline != b->deadline)
		return a->deadline < b->deadline;
	return a->seq < b->seq;
}

static inline void place(struct cio__timers *t, uint32_t i, const struct cio__tnode *n)
{
	t->heap[i] = *n;
	P(n->req)->timer_slot = i + 1;
}

static void sift_up(struct cio__timers *t, uint32_t i)
{
	struct cio__tnode n = t->heap[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (!before(&n, &t->heap[parent]))
			break;
		place(t, i, &t->heap[parent]);
		i = parent;
	}
	place(t, i, &n);
}

static void sift_down(struct cio__timers *t, uint32_t i)
{
	struct cio__tnode n = t->heap[i];

	for (;;) {
		uint32_t child = 2 * i + 1;

		if (child >= t->len)
			break;
		if (child + 1 < t->len && before(&t->heap[child + 1], &t->heap[child]))
			child++;
		if (!before(&t->heap[child], &n))
			break;
		place(t, i, &t->heap[child]);
		i = child;
	}
	place(t, i, &n);
}

int cio__timers_add(struct cio_loop *loop, cio_req *req, uint64_t deadline)
{
	struct cio__timers *t = &loop->timers;

	if (t->len == t->cap) {
		void *a = cio__grow(t->heap, &t->cap, sizeof(*t->heap), 64);

		if (!a)
			return -ENOMEM;
		t->heap = a;
	}
	t->heap[t->len] = (struct cio__tnode){
		.deadline = deadline, .seq = loop->timer_seq++, .req = req,
	};
	sift_up(t, t->len++);
	return 0;
}

void cio__timers_del(struct cio_loop *loop, cio_req *req)
{
	struct cio__timers *t = &loop->timers;
	uint32_t i = P(req)->timer_slot - 1;

	if (!P(req)->timer_slot || i >= t->len || t->heap[i].req != req)
		return;
	P(req)->timer_slot = 0;
	if (i == --t->len)
		return;
	t->heap[i] = t->heap[t->len];
	if (i > 0 && before(&t->heap[i], &t->heap[(i - 1) / 2]))
		sift_up(t, i);
	else
		sift_down(t, i);
}

uint64_t cio__timers_wait_ns(const struct cio_loop *loop)
{
	uint64_t now, dl, wait = UINT64_MAX;

	if (loop->timers.len) {
		dl = loop->timers.heap[0].deadline;
		now = cio__now_ns();
		wait = dl > now ? dl - now : 0;
	}
	return wait;
}

/* The earliest request due by now, taken out of the heap (so a callback
 * that sets a zero timer waits for the next pass instead of extending this
 * one forever), or NULL. Equal deadlines come in the order they were set. */
cio_req *cio__timers_due(struct cio_loop *loop, uint64_t now)
{
	struct cio__timers *t = &loop->timers;
	cio_req *req;

	if (!t->len || t->heap[0].deadline > now)
		return NULL;
	req = t->heap[0].req;
	cio__timers_del(loop, req);
	return req;
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

/* A zero itimerspec disarms the timerfd when nothing is left to wait for. */
void cio__timers_sync_fd(struct cio_loop *loop, uint64_t also)
{
	uint64_t want = loop->timers.len ? loop->timers.heap[0].deadline : 0;
	struct itimerspec its = { 0 };

	if (also && (!want || also < want))
		want = also;

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
