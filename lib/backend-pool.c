/* SPDX-License-Identifier: MIT */
/*
 * The pool backend: epoll (epoll.c) for the loop's own events and for
 * streams, the shared thread pool for all file work. It needs nothing from
 * the kernel beyond epoll and eventfd, so it works where io_uring and Linux
 * AIO are both forbidden.
 */
#include "config.h"

#include <stdlib.h>

#include "cio-internal.h"

static int pool_init(struct cio_loop *loop, const struct cio_loop_opts *opts)
{
	struct cio__ep *ep;
	int ret;

	(void)opts;
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	ret = cio__ep_init(loop, ep);
	if (ret < 0) {
		free(ep);
		return ret;
	}
	loop->be = ep;
	return 0;
}

static void pool_fini(struct cio_loop *loop)
{
	cio__ep_fini(loop->be);
	free(loop->be);
	loop->be = NULL;
}

/* Nops only: everything else is the stream engine's or the pool's. */
static int pool_claims(const struct cio_loop *loop, int op, int fd, int64_t off)
{
	(void)loop; (void)fd; (void)off;
	return op == CIO_OP_NOP ? CIO__CLAIM_YES : CIO__CLAIM_NO;
}

static int pool_submit(struct cio_loop *loop, cio_req *req)
{
	(void)loop;
	cio__done(req, 0, 0);
	return 0;
}

static const char *pool_op_path(const struct cio_loop *loop, int op, int fd)
{
	(void)loop; (void)op; (void)fd;
	return "epoll";
}

const struct cio__backend_ops cio__backend_pool = {
	.name    = "pool",
	.init    = pool_init,
	.fini    = pool_fini,
	.claims  = pool_claims,
	.submit  = pool_submit,
	.cancel  = cio__ep_cancel,
	.wait    = cio__ep_wait,
	.poll    = cio__ep_poll,
	.kick    = cio__ep_kick,
	.loop_fd = cio__ep_loop_fd,
	.op_path = pool_op_path,
};
