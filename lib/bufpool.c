/* SPDX-License-Identifier: MIT */
/*
 * Provided buffers. A pool is count buffers of one size in one allocation,
 * owned by one loop. A buffer is either free (the kernel's, through a
 * backend's buffer ring, or on the core's free list for the stream engine)
 * or lent to the caller by a recv_pool callback until cio_bufpool_put().
 * The lent[] bytes make a double or foreign put harmless.
 */
#include "config.h"

#include <stdlib.h>
#include <sys/mman.h>

#include "cio-internal.h"

#define MAX_BUFS 32768u

CIO_API int cio_bufpool_new(cio_loop *loop, cio_bufpool **poolp, unsigned count,
			    size_t size)
{
	struct cio_bufpool *pool;
	size_t bytes;
	int ret;

	if (!loop || !poolp || !count || count > MAX_BUFS || !size ||
	    size > INT32_MAX)
		return -EINVAL;
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	pool->loop = loop;
	pool->size = size;
	pool->count = count;
	pool->bgid = loop->next_bgid++;   /* buffer group ids are per ring */
	bytes = (size_t)count * size;
	/* Whole pages: a large pool costs address space, not memory, until
	 * the kernel writes into it. */
	pool->base = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pool->lent = calloc(count, 1);
	pool->freel = malloc(count * sizeof(*pool->freel));
	if (pool->base == MAP_FAILED || !pool->lent || !pool->freel) {
		ret = -ENOMEM;
		goto fail;
	}
	if (loop->ops->claims(loop, CIO_OP_RECV_POOL, -1, -1) == CIO__CLAIM_YES &&
	    loop->ops->bufpool_init) {
		ret = loop->ops->bufpool_init(loop, pool);
		if (ret < 0)
			goto fail;
		pool->kernel = true;
	} else {
		/* Lowest ids first: the most recently used buffers stay warm. */
		for (unsigned i = 0; i < count; i++)
			pool->freel[i] = count - 1 - i;
		pool->nfree = count;
	}
	loop->npools++;
	*poolp = pool;
	return 0;
fail:
	if (pool->base != MAP_FAILED && pool->base)
		munmap(pool->base, bytes);
	free(pool->lent);
	free(pool->freel);
	free(pool);
	return ret;
}

CIO_API int cio_bufpool_free(cio_bufpool *pool)
{
	if (!pool)
		return -EINVAL;
	if (pool->nlent || pool->users)
		return -EBUSY;
	if (pool->kernel)
		pool->loop->ops->bufpool_fini(pool->loop, pool);
	munmap(pool->base, (size_t)pool->count * pool->size);
	pool->loop->npools--;
	free(pool->lent);
	free(pool->freel);
	free(pool);
	return 0;
}

/* Core-managed pools: the next free buffer id, or -ENOBUFS. */
int cio__bufpool_take(struct cio_bufpool *pool)
{
	if (!pool->nfree)
		return -ENOBUFS;
	return (int)pool->freel[--pool->nfree];
}

/* Buffer bid now holds data for req's callback. */
void cio__bufpool_lend(struct cio_bufpool *pool, cio_req *req, unsigned bid)
{
	pool->lent[bid] = 1;
	pool->nlent++;
	req->buf = pool->base + (size_t)bid * pool->size;
}

/* req found no buffer: it waits, without a callback, for the next put. */
void cio__bufpool_starve(struct cio_bufpool *pool, cio_req *req)
{
	P(req)->iflags |= CIO__IF_STARVED;
	cio__q_push(&pool->starved, req);
}

/* A starved request is cancelled: it waits no more. */
void cio__bufpool_unstarve(struct cio_bufpool *pool, cio_req *req)
{
	cio__q_remove(&pool->starved, req);
	P(req)->iflags &= ~CIO__IF_STARVED;
}

/* A recv_pool request on it has ended. */
void cio__bufpool_unuse(struct cio_bufpool *pool)
{
	pool->users--;
}

CIO_API void cio_bufpool_put(cio_bufpool *pool, void *buf)
{
	struct cio_loop *loop;
	size_t off;
	unsigned bid;
	cio_req *req;

	if (!pool || (char *)buf < pool->base)
		return;
	off = (size_t)((char *)buf - pool->base);
	bid = (unsigned)(off / pool->size);
	if (off % pool->size || bid >= pool->count || !pool->lent[bid])
		return;
	pool->lent[bid] = 0;
	pool->nlent--;
	loop = pool->loop;
	if (pool->kernel)
		loop->ops->bufpool_give(loop, pool, bid);
	else
		pool->freel[pool->nfree++] = bid;
	/* Wake the requests that ran dry: the core starts them again (to
	 * the kernel or to wait for readiness); a callback, if any, comes on
	 * its next drain. */
	while ((req = cio__q_pop(&pool->starved))) {
		int ret;

		P(req)->iflags &= ~CIO__IF_STARVED;
		ret = cio__route(loop, req, CIO__ROUTE_NOFAULT);
		if (ret < 0)
			cio__done(req, ret, 0);
	}
	if (loop->exported && !loop->running)
		cio__kick(loop);
}
