/* SPDX-License-Identifier: MIT */
/*
 * Registered buffers (cio_register_buffers, CIO_FIXED_BUF). The core keeps
 * the table, sorted by address, so every backend checks a fixed-buffer
 * request the same way: its bytes must lie inside one registered buffer,
 * else -EINVAL. The uring backend also hands the table to the kernel and
 * reads and writes with READ_FIXED / WRITE_FIXED, saving the page pinning
 * of every request; the other backends need nothing more.
 */
#include "config.h"

#include <stdlib.h>
#include <sys/uio.h>

#include "cio-internal.h"

/* The kernel's limits: IORING_MAX_REG_BUFFERS and 1 GiB per buffer. */
#define MAX_BUFS    16384u
#define MAX_BUF_LEN (1ull << 30)

static int by_base(const void *a, const void *b)
{
	const struct cio__regbuf *x = a, *y = b;

	return x->base < y->base ? -1 : x->base > y->base;
}

CIO_API int cio_register_buffers(cio_loop *loop, const struct iovec *iov, unsigned n)
{
	struct cio__regbuf *t;
	int ret;

	if (!loop || !n || n > MAX_BUFS)
		return -EINVAL;
	if (!iov)
		return -EFAULT;
	if (loop->nregbufs)
		return -EBUSY;
	for (unsigned i = 0; i < n; i++)
		if (!iov[i].iov_base || !iov[i].iov_len || iov[i].iov_len > MAX_BUF_LEN)
			return -EINVAL;
	t = malloc(n * sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		t[i] = (struct cio__regbuf){
			.base = (uintptr_t)iov[i].iov_base, .len = iov[i].iov_len,
			.index = i,
		};
	qsort(t, n, sizeof(*t), by_base);
	for (unsigned i = 1; i < n; i++) {
		if (t[i - 1].base + t[i - 1].len > t[i].base) {
			free(t);
			return -EINVAL;     /* overlapping buffers */
		}
	}
	if (loop->ops->register_buffers) {
		ret = loop->ops->register_buffers(loop, iov, n);
		if (ret < 0) {
			free(t);
			return ret;
		}
	}
	loop->regbufs = t;
	loop->nregbufs = n;
	return 0;
}

CIO_API int cio_unregister_buffers(cio_loop *loop)
{
	if (!loop)
		return -EINVAL;
	if (!loop->nregbufs)
		return -ENXIO;
	if (loop->nfixed)
		return -EBUSY;
	if (loop->ops->unregister_buffers)
		loop->ops->unregister_buffers(loop);
	free(loop->regbufs);
	loop->regbufs = NULL;
	loop->nregbufs = 0;
	return 0;
}

int cio__fixed_index(const struct cio_loop *loop, const void *buf, uint64_t len)
{
	uintptr_t b = (uintptr_t)buf;
	uint32_t lo = 0, hi = loop->nregbufs;

	/* The last buffer starting at or before b. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (loop->regbufs[mid].base <= b)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return -EINVAL;
	lo--;
	if (b - loop->regbufs[lo].base + len > loop->regbufs[lo].len)
		return -EINVAL;
	return (int)loop->regbufs[lo].index;
}

void cio__buffers_free(struct cio_loop *loop)
{
	free(loop->regbufs);
	loop->regbufs = NULL;
	loop->nregbufs = 0;
}
