/* SPDX-License-Identifier: MIT */
/*
 * The aio backend, for where io_uring is forbidden: Linux AIO (libaio) for
 * reads, writes and fsync on O_DIRECT files, so a storage engine's I/O stays
 * truly asynchronous; epoll (epoll.c, shared with the pool backend) for
 * streams; the shared thread pool for everything else. AIO completions
 * signal an eventfd in the same epoll set.
 *
 * Completions are read straight from the AIO ring that io_setup mapped
 * into our memory, as the kernel allows (no io_getevents, whose cost per
 * I/O made aio slower than fio's libaio engine); the eventfd is in epoll
 * edge-triggered, so it wakes a sleeping loop and is never read. Where the
 * ring's layout is not the one we know (or CIO_DEBUG_AIO_REAP=syscall),
 * io_getevents does the reading. Transfers carry RWF_NOWAIT, so io_submit
 * never blocks the loop on the file system or a full device queue: what
 * would have blocked completes -EAGAIN and goes to the pool.
 *
 * Requests take an iocb slot and are handed to the kernel in one io_submit
 * per loop iteration. A short io_submit is continued after the failing iocb
 * (which completes with its error); -EAGAIN waits for completions to free
 * kernel resources, or, with nothing in flight, sends the work to the pool.
 * If io_setup fails the loop still works: O_DIRECT work goes to the pool.
 */
#include "config.h"

#include <stdlib.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <libaio.h>

#include "cio-internal.h"

#define TAG_AIO    CIO__EP_TAG_USER
#define REAP_BATCH 64
#define FLUSH_EARLY 1u

/* The kernel's AIO ring (fs/aio.c), at the address io_setup returns. */
struct aio_ring {
	unsigned id, nr, head, tail;
	unsigned magic, compat_features, incompat_features, header_length;
	struct io_event events[];
};
#define AIO_RING_MAGIC 0xa10a10a1u

/* Passes that may skip epoll because the ring had completions, before
 * epoll is asked anyway for streams, posts and pool results. */
#define EPOLL_SKIP_MAX 8

struct aio_backend {
	struct cio__ep   ep;         /* first: epoll.c's view of loop->be */
	io_context_t     ctx;        /* NULL: io_setup failed, no AIO */
	int              efd;        /* completions */
	unsigned         nr;         /* iocb slots, as many as ctx holds */
	unsigned         inflight;   /* submitted to the kernel */
	struct iocb     *iocbs;
	uint32_t        *freel;
	unsigned         nfree;
	struct iocb    **pend;       /* prepared, not yet submitted, in order */
	unsigned         npend;
	struct cio__reqq waitq;      /* waiting for a free slot */
	struct aio_ring *ring;       /* NULL: reap with io_getevents */
	unsigned         skipped;    /* passes in a row without epoll */
};

static struct aio_backend *BE(const struct cio_loop *loop)
{
	return loop->be;
}

static bool aio_op(int op)
{
	return cio__op_class(op) == CIO__CLASS_RW || op == CIO_OP_FSYNC;
}

/* Goes through AIO: an O_DIRECT fd, at an explicit offset for transfers.
 * Buffered files would block inside io_submit, so they do not. */
static bool direct(const struct cio_loop *loop, int op, int fd, int64_t off)
{
	if (!BE(loop)->ctx || (op != CIO_OP_FSYNC && off < 0))
		return false;
	/* From the loop's fd cache (fdinfo.c), not an fcntl per request: a
	 * flag changed with F_SETFL counts from cio_cancel_fd() on. */
	return cio__fd_direct((struct cio_loop *)loop, fd);
}

static void prep(struct aio_backend *be, cio_req *req, unsigned slot)
{
	struct cio__priv *p = P(req);
	struct iocb *cb = &be->iocbs[slot];

	if (p->op == CIO_OP_FSYNC) {
		if (p->a.fsync.flags & CIO_FSYNC_DATA)
			io_prep_fdsync(cb, p->fd);
		else
			io_prep_fsync(cb, p->fd);
	} else {
		bool rd = cio__op_has(p->op, OPF_RX);
		struct cio__step st;

		cio__step(req, &st);
		if (st.vec && rd)
			io_prep_preadv(cb, p->fd, st.buf, (int)st.len, st.off);
		else if (st.vec)
			io_prep_pwritev(cb, p->fd, st.buf, (int)st.len, st.off);
		else if (rd)
			io_prep_pread(cb, p->fd, st.buf, st.len, st.off);
		else
			io_prep_pwrite(cb, p->fd, st.buf, st.len, st.off);
		if (!(p->iflags & CIO__IF_AIO_WAIT))
			cb->aio_rw_flags = RWF_NOWAIT;
	}
	io_set_eventfd(cb, be->efd);
	cb->data = req;
	be->pend[be->npend++] = cb;
}

static void queue(struct aio_backend *be, cio_req *req)
{
	if (!be->nfree) {
		P(req)->iflags |= CIO__IF_LOCALQ;
		cio__q_push(&be->waitq, req);
		return;
	}
	prep(be, req, be->freel[--be->nfree]);
}

/* The iocb's slot is free again (its index: the request keeps none). */
static void release(struct aio_backend *be, const struct iocb *cb)
{
	be->freel[be->nfree++] = (uint32_t)(cb - be->iocbs);
}

static void flush(struct cio_loop *loop, struct aio_backend *be);

/* Nops, and reads, writes and fsyncs on O_DIRECT files. */
static int aio_claims(const struct cio_loop *loop, int op, int fd, int64_t off)
{
	if (op == CIO_OP_NOP)
		return CIO__CLAIM_YES;
	return aio_op(op) && direct(loop, op, fd, op == CIO_OP_FSYNC ? 0 : off) ?
	       CIO__CLAIM_YES : CIO__CLAIM_NO;
}

static int aio_submit(struct cio_loop *loop, cio_req *req)
{
	struct aio_backend *be = BE(loop);

	if (P(req)->op == CIO_OP_NOP) {
		cio__done(req, 0, 0);
		return 0;
	}
	queue(be, req);
	/* To the device at once, not a loop pass's worth later in one
	 * plugged batch (see FLUSH_EARLY in backend-uring.c): at QD 32
	 * on a virtio disk, one io_submit per iocb gave 80-84k IOPS,
	 * one per 4 73-78k, as fio's libaio engine (one per I/O) 79k. */
	if (be->npend >= FLUSH_EARLY)
		flush(loop, be);
	return 0;
}

/* Hand prepared iocbs to the kernel, as many as it takes. */
static void flush(struct cio_loop *loop, struct aio_backend *be)
{
	while (be->npend) {
		int ret;

		loop->stats.kernel_enters++;
		ret = io_submit(be->ctx, (long)be->npend, be->pend);
		if (ret == -EINTR)
			continue;
		if (ret == -EAGAIN) {
			if (be->inflight)
				return;   /* after completions free resources */
			/* Nothing will free anything: run them on the pool. */
			for (unsigned i = 0; i < be->npend; i++) {
				cio_req *req = be->pend[i]->data;

				release(be, be->pend[i]);
				if (cio__to_pool(loop, req) < 0)
					cio__done(req, -EAGAIN, 0);
			}
			be->npend = 0;
			return;
		}
		if (ret < 0) {
			/* The first iocb was refused (e.g. -EINVAL for a
			 * misaligned O_DIRECT transfer): it alone fails. */
			cio_req *req = be->pend[0]->data;

			release(be, be->pend[0]);
			cio__done(req, ret, 0);
			ret = 1;
		} else {
			be->inflight += (unsigned)ret;
		}
		be->npend -= (unsigned)ret;
		memmove(be->pend, be->pend + ret, be->npend * sizeof(*be->pend));
	}
}

static void complete(struct cio_loop *loop, struct aio_backend *be,
		     const struct io_event *ev)
{
	cio_req *req = ev->data;
	int64_t res = (long)ev->res;

	be->inflight--;
	release(be, ev->obj);
	if (cio__unlikely(res == -EAGAIN) && P(req)->op != CIO_OP_FSYNC &&
	    !(P(req)->iflags & CIO__IF_AIO_WAIT)) {
		/* RWF_NOWAIT: it would have blocked in io_submit. The pool
		 * takes it; where the pool cannot (no thread at all), AIO
		 * again, allowed to block this time. */
		if (cio__to_pool(loop, req) == 0)
			return;
		P(req)->iflags |= CIO__IF_AIO_WAIT;
		P(req)->where = CIO__W_BACKEND;
		queue(be, req);
		return;
	}
	cio__done(req, res, 0);
}

/* Completions from the ring in our memory: the kernel moves tail, we
 * move head. The count taken. */
static unsigned reap_ring(struct cio_loop *loop, struct aio_backend *be)
{
	struct aio_ring *ring = be->ring;
	unsigned head = ring->head, n = 0;
	unsigned tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);

	while (head != tail) {
		struct io_event ev = ring->events[head];

		head = head + 1 == ring->nr ? 0 : head + 1;
		__atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
		complete(loop, be, &ev);
		n++;
	}
	return n;
}

static unsigned reap_syscall(struct cio_loop *loop, struct aio_backend *be)
{
	struct timespec zero = { 0, 0 };
	struct io_event evs[REAP_BATCH];
	unsigned total = 0;
	int n;

	do {
		n = io_getevents(be->ctx, 0, REAP_BATCH, evs, &zero);
		for (int i = 0; i < n; i++)
			complete(loop, be, &evs[i]);
		if (n > 0)
			total += (unsigned)n;
	} while (n == REAP_BATCH);
	if (cio__unlikely(n < 0)) {
		static const uint64_t one = 1;

		/* -EINTR, -EAGAIN, ...: the events stay in the AIO ring, but
		 * the edge that woke us is spent. Make another: the next
		 * pass reaps them. */
		if (write(be->efd, &one, sizeof(one)) < 0) {
			/* EAGAIN: the counter is saturated, hence readable. */
		}
	}
	return total;
}

static unsigned reap(struct cio_loop *loop)
{
	struct aio_backend *be = BE(loop);
	unsigned n;

	if (!be->ctx)
		return 0;
	n = be->ring ? reap_ring(loop, be) : reap_syscall(loop, be);
	/* Freed slots go to the requests waiting for one. */
	while (be->nfree && be->waitq.head) {
		cio_req *req = cio__q_pop(&be->waitq);

		P(req)->iflags &= ~CIO__IF_LOCALQ;
		queue(be, req);
	}
	return n;
}

static void aio_event(struct cio_loop *loop, uint64_t tag)
{
	if (tag == TAG_AIO)
		reap(loop);
}

static int aio_poll(struct cio_loop *loop, bool block)
{
	struct aio_backend *be = BE(loop);

	if (be->npend)
		flush(loop, be);
	/* What the ring holds needs no system call. With completions in
	 * hand, a pass may skip epoll (whose answer would be "nothing" most
	 * times at this pace), but not many in a row: streams, posts and
	 * pool results are heard there. */
	if (be->ring && be->inflight && reap(loop) && be->skipped < EPOLL_SKIP_MAX) {
		be->skipped++;
		return 0;
	}
	be->skipped = 0;
	/* What the reap queued (waiters given a slot, retries) goes now. */
	if (be->npend)
		flush(loop, be);
	/* Refused iocbs completed just now: do not sleep on them. */
	return cio__ep_poll(loop, block && !cio__has_done(loop));
}

static void aio_cancel(struct cio_loop *loop, cio_req *req)
{
	struct aio_backend *be = BE(loop);
	struct cio__priv *p = P(req);

	if (p->iflags & CIO__IF_WAITING) {
		cio__ep_cancel(loop, req);
		return;
	}
	if (p->iflags & CIO__IF_LOCALQ) {
		cio__q_remove(&be->waitq, req);
		p->iflags &= ~CIO__IF_LOCALQ;
		cio__done(req, -ECANCELED, 0);
		return;
	}
	for (unsigned i = 0; i < be->npend; i++) {
		if (be->pend[i]->data != req)
			continue;
		/* Prepared but never submitted. */
		release(be, be->pend[i]);
		be->npend--;
		memmove(be->pend + i, be->pend + i + 1,
			(be->npend - i) * sizeof(*be->pend));
		cio__done(req, -ECANCELED, 0);
		return;
	}
	/* In the kernel: Linux AIO cannot cancel file I/O; it completes. */
}

static void aio_fini(struct cio_loop *loop)
{
	struct aio_backend *be = BE(loop);

	if (be->ctx)
		io_destroy(be->ctx);
	close(be->efd);
	cio__ep_fini(&be->ep);
	free(be->iocbs);
	free(be->freel);
	free(be->pend);
	free(be);
	loop->be = NULL;
}

static int aio_init(struct cio_loop *loop, const struct cio_loop_opts *opts)
{
	struct aio_backend *be;
	int ret;

	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	ret = cio__ep_init(loop, &be->ep);
	if (ret < 0) {
		free(be);
		return ret;
	}
	be->ep.on_event = aio_event;
	loop->be = be;
	be->nr = opts->entries;
	be->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	be->iocbs = calloc(be->nr, sizeof(*be->iocbs));
	be->freel = calloc(be->nr, sizeof(*be->freel));
	be->pend = calloc(be->nr, sizeof(*be->pend));
	if (be->efd < 0 || !be->iocbs || !be->freel || !be->pend) {
		ret = be->efd < 0 ? -errno : -ENOMEM;
		goto fail;
	}
	{
		/* Edge-triggered: each completion's signal wakes epoll once,
		 * and the counter is never read (see the top). */
		struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u64 = TAG_AIO };

		if (epoll_ctl(be->ep.epfd, EPOLL_CTL_ADD, be->efd, &ev) < 0) {
			ret = -errno;
			goto fail;
		}
	}
	for (unsigned i = 0; i < be->nr; i++)
		be->freel[i] = be->nr - 1 - i;
	be->nfree = be->nr;
	/* Without a context (aio-max-nr reached, io_setup forbidden) an aio
	 * loop asked for by name still serves everything, O_DIRECT on the
	 * pool; automatic selection moves on to the pool backend instead. */
	ret = io_setup((int)be->nr, &be->ctx);
	if (ret < 0) {
		be->ctx = NULL;
		if (loop->auto_backend)
			goto fail;
	} else {
		struct aio_ring *ring = (struct aio_ring *)be->ctx;
		const char *how = getenv("CIO_DEBUG_AIO_REAP");

		if (ring->magic == AIO_RING_MAGIC && !ring->incompat_features &&
		    ring->header_length == sizeof(*ring) &&
		    !(how && !strcmp(how, "syscall")))
			be->ring = ring;
	}

	return 0;
fail:
	if (be->efd >= 0)
		close(be->efd);
	be->efd = -1;
	cio__ep_fini(&be->ep);
	free(be->iocbs);
	free(be->freel);
	free(be->pend);
	free(be);
	loop->be = NULL;
	return ret;
}

/* What it claims goes through AIO; it waits for streams with epoll. */
static const char *aio_op_path(const struct cio_loop *loop, int op, int fd)
{
	return op != CIO_OP_NOP && aio_claims(loop, op, fd, 0) == CIO__CLAIM_YES ?
	       "aio" : "epoll";
}

const struct cio__backend_ops cio__backend_aio = {
	.name    = "aio",
	.init    = aio_init,
	.fini    = aio_fini,
	.claims  = aio_claims,
	.submit  = aio_submit,
	.cancel  = aio_cancel,
	.wait    = cio__ep_wait,
	.poll    = aio_poll,
	.kick    = cio__ep_kick,
	.loop_fd = cio__ep_loop_fd,
	.op_path = aio_op_path,
};
