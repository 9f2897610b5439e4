/* SPDX-License-Identifier: MIT */
/*
 * A binary min-heap of timer requests ordered by deadline. Each request
 * keeps its heap index in aux, so removal (cancel) is O(log n). The array
 * grows by doubling: amortised, no allocation per request.
 */
#include "config.h"

#include <stdlib.h>

#include "cio-internal.h"

static inline uint64_t deadline(cio_req *req)
{
	return P(req)->a.timer.deadline;
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

		if (deadline(t->heap[parent]) <= deadline(req))
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
		if (child + 1 < t->len &&
		    deadline(t->heap[child + 1]) < deadline(t->heap[child]))
			child++;
		if (deadline(req) <= deadline(t->heap[child]))
			break;
		place(t, i, t->heap[child]);
		i = child;
	}
	place(t, i, req);
}

int cio__timers_add(struct cio__timers *t, cio_req *req)
{
	if (t->len == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 64;
		cio_req **heap = realloc(t->heap, cap * sizeof(*heap));

		if (!heap)
			return -ENOMEM;
		t->heap = heap;
		t->cap = cap;
	}
	t->heap[t->len] = req;
	sift_up(t, t->len++);
	return 0;
}

void cio__timers_del(struct cio__timers *t, cio_req *req)
{
	uint32_t i = P(req)->aux;
	cio_req *last;

	if (i >= t->len || t->heap[i] != req)
		return;
	last = t->heap[--t->len];
	if (last == req)
		return;
	place(t, i, last);
	if (i > 0 && deadline(last) < deadline(t->heap[(i - 1) / 2]))
		sift_up(t, i);
	else
		sift_down(t, i);
}

cio_req *cio__timers_min(const struct cio__timers *t)
{
	return t->len ? t->heap[0] : NULL;
}

void cio__timers_free(struct cio__timers *t)
{
	free(t->heap);
	t->heap = NULL;
	t->len = t->cap = 0;
}
