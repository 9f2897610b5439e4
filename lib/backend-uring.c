/* SPDX-License-Identifier: MIT */
/*
 * The io_uring backend. Requests become SQEs as they are submitted; the
 * kernel sees them in one io_uring_enter per loop iteration (submit and wait
 * together). When the SQ is full requests wait in a local FIFO, so nothing
 * is refused or lost; completions are reaped in batches. Operations the
 * running kernel lacks (probed at start-up) go to the shared pool through
 * the core's one fallback door.
 */
#include "config.h"

#include <poll.h>
#include <stdlib.h>
#include <unistd.h>
#include <liburing.h>

#include "cio-internal.h"

/* user_data values that are not requests (requests are 8-byte aligned). */
#define TAG_IGNORE 0u   /* cancel SQEs and kick nops: their CQEs say nothing */
#define TAG_WAKE   1u   /* the poll on the loop's eventfd */
#define TAG_TIMER  2u   /* the poll on the loop's timerfd (exported fd only) */
/* liburing's own timeout SQE, used for timed waits on kernels before 5.11. */
#define TAG_LIBURING_TIMEOUT UINT64_MAX

/* IORING_OP_FTRUNCATE came in Linux 6.9, after liburing 2.3's headers. */
#define CIO_IORING_OP_FTRUNCATE 55

#define REAP_BATCH 64

struct uring_backend {
	struct io_uring  ring;
	struct cio__reqq localq;    /* waiting for an SQE, in submission order */
	struct cio__reqq cancelq;   /* cancel targets waiting for an SQE */
	unsigned         inflight;  /* requests the kernel holds */
	unsigned         cq_entries;
	bool             nodrop;    /* IORING_FEAT_NODROP: overflow is kept, not lost */
	bool             wake_armed;
	bool             tfd_armed;
};

static struct uring_backend *BE(const struct cio_loop *loop)
{
	return loop->be;
}

static const int opcode_of[CIO_OP__COUNT] = {
	[CIO_OP_NOP] = IORING_OP_NOP,           [CIO_OP_READ] = IORING_OP_READ,
	[CIO_OP_WRITE] = IORING_OP_WRITE,       [CIO_OP_READV] = IORING_OP_READV,
	[CIO_OP_WRITEV] = IORING_OP_WRITEV,     [CIO_OP_FSYNC] = IORING_OP_FSYNC,
	[CIO_OP_FALLOCATE] = IORING_OP_FALLOCATE,
	[CIO_OP_FTRUNCATE] = CIO_IORING_OP_FTRUNCATE,
	[CIO_OP_OPENAT] = IORING_OP_OPENAT,     [CIO_OP_CLOSE] = IORING_OP_CLOSE,
	[CIO_OP_STATX] = IORING_OP_STATX,       [CIO_OP_UNLINKAT] = IORING_OP_UNLINKAT,
	[CIO_OP_RENAMEAT] = IORING_OP_RENAMEAT, [CIO_OP_MKDIRAT] = IORING_OP_MKDIRAT,
	[CIO_OP_TIMER] = IORING_OP_TIMEOUT,     [CIO_OP_WORK] = -1,
};

static void probe_ops(struct cio_loop *loop, struct uring_backend *be)
{
	struct io_uring_probe *probe = io_uring_get_probe_ring(&be->ring);

	for (int op = 0; op < CIO_OP__COUNT; op++) {
		int opcode = opcode_of[op];

		if (opcode < 0)
			continue;
		loop->native[op] = CIO__FALLBACK;
		/* Without a probe (before 5.6) only the first opcodes exist. */
		if (probe ? !io_uring_opcode_supported(probe, opcode)
			  : opcode > IORING_OP_TIMEOUT)
			continue;
		/* Timers never go to the pool: the debug knob leaves them. */
		if (op != CIO_OP_TIMER && cio__debug_no_op(op))
			continue;
		loop->native[op] = CIO__NATIVE;
	}
	if (probe)
		io_uring_free_probe(probe);
}

static int uring_init(struct cio_loop *loop, const struct cio_loop_opts *opts)
{
	struct io_uring_params params;
	struct uring_backend *be;
	int ret;

	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	memset(&params, 0, sizeof(params));
	/* A CQ twice the SQ absorbs bursts; SUBMIT_ALL (5.18) keeps going past
	 * an SQE that fails at submission. */
	params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
	params.cq_entries = opts->entries * 2;
	ret = io_uring_queue_init_params(opts->entries, &be->ring, &params);
	if (ret == -EINVAL) {
		memset(&params, 0, sizeof(params));
		ret = io_uring_queue_init_params(opts->entries, &be->ring, &params);
	}
	if (ret < 0) {
		free(be);
		return ret;
	}
	be->nodrop = params.features & IORING_FEAT_NODROP;
	be->cq_entries = params.cq_entries;
	loop->be = be;
	probe_ops(loop, be);
	if (loop->native[CIO_OP_TIMER] != CIO__NATIVE) {
		/* Too old to be worth it: let auto selection take the pool. */
		io_uring_queue_exit(&be->ring);
		free(be);
		loop->be = NULL;
		return -ENOSYS;
	}
	return 0;
}

static void uring_fini(struct cio_loop *loop)
{
	struct uring_backend *be = BE(loop);

	io_uring_queue_exit(&be->ring);
	free(be);
	loop->be = NULL;
}

static void prep(struct io_uring_sqe *sqe, cio_req *req)
{
	struct cio__priv *p = P(req);
	int fd = p->fd;

	switch (p->op) {
	case CIO_OP_NOP:
		io_uring_prep_nop(sqe);
		break;
	case CIO_OP_READ:
		io_uring_prep_read(sqe, fd, p->a.rw.buf, (unsigned)p->a.rw.len,
				   (uint64_t)p->a.rw.off);
		break;
	case CIO_OP_WRITE:
		io_uring_prep_write(sqe, fd, p->a.rw.buf, (unsigned)p->a.rw.len,
				    (uint64_t)p->a.rw.off);
		break;
	case CIO_OP_READV:
		io_uring_prep_readv(sqe, fd, p->a.rw.buf, (unsigned)p->a.rw.len,
				    (uint64_t)p->a.rw.off);
		break;
	case CIO_OP_WRITEV:
		io_uring_prep_writev(sqe, fd, p->a.rw.buf, (unsigned)p->a.rw.len,
				     (uint64_t)p->a.rw.off);
		break;
	case CIO_OP_FSYNC:
		io_uring_prep_fsync(sqe, fd, (p->a.fsync.flags & CIO_FSYNC_DATA) ?
				    IORING_FSYNC_DATASYNC : 0);
		break;
	case CIO_OP_FALLOCATE:
		io_uring_prep_fallocate(sqe, fd, p->a.falloc.mode,
					(uint64_t)p->a.falloc.off,
					(uint64_t)p->a.falloc.len);
		break;
	case CIO_OP_FTRUNCATE:
		/* The new length travels in off; every other field is zero. */
		io_uring_prep_rw(CIO_IORING_OP_FTRUNCATE, sqe, fd, NULL, 0,
				 (uint64_t)p->a.trunc.len);
		break;
	case CIO_OP_OPENAT:
		io_uring_prep_openat(sqe, fd, p->a.open.path, p->a.open.flags,
				     (mode_t)p->a.open.mode);
		break;
	case CIO_OP_CLOSE:
		io_uring_prep_close(sqe, fd);
		break;
	case CIO_OP_STATX:
		io_uring_prep_statx(sqe, fd, p->a.stx.path, p->a.stx.flags,
				    p->a.stx.mask, p->a.stx.out);
		break;
	case CIO_OP_UNLINKAT:
		io_uring_prep_unlinkat(sqe, fd, p->a.path.path, (int)p->a.path.flags);
		break;
	case CIO_OP_RENAMEAT:
		io_uring_prep_renameat(sqe, fd, p->a.path.path, p->a.path.dirfd2,
				       p->a.path.path2, p->a.path.flags);
		break;
	case CIO_OP_MKDIRAT:
		io_uring_prep_mkdirat(sqe, fd, p->a.path.path, (mode_t)p->a.path.flags);
		break;
	}
	io_uring_sqe_set_data(sqe, req);
}

/* An SQE now, flushing the SQ to the kernel once if it is full. */
static struct io_uring_sqe *get_sqe(struct cio_loop *loop, struct uring_backend *be)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&be->ring);

	if (!sqe) {
		loop->stats.kernel_enters++;
		if (io_uring_submit(&be->ring) > 0)
			sqe = io_uring_get_sqe(&be->ring);
	}
	return sqe;
}

static bool cq_has_room(const struct uring_backend *be)
{
	return be->nodrop || be->inflight < be->cq_entries;
}

static int uring_submit(struct cio_loop *loop, cio_req *req)
{
	struct uring_backend *be = BE(loop);
	struct io_uring_sqe *sqe;

	/* Behind a backlog, wait in line: submission order is kept. */
	if (cio__likely(!be->localq.head && cq_has_room(be))) {
		sqe = get_sqe(loop, be);
		if (cio__likely(sqe != NULL)) {
			prep(sqe, req);
			be->inflight++;
			return 0;
		}
	}
	P(req)->iflags |= CIO__IF_LOCALQ;
	cio__q_push(&be->localq, req);
	loop->stats.sq_full++;
	return 0;
}

static void prep_cancel(struct io_uring_sqe *sqe, cio_req *target)
{
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)target, 0);
	io_uring_sqe_set_data64(sqe, TAG_IGNORE);
}

/* Move what waits in user space into the SQ, as far as it has room. */
static void fill_sq(struct cio_loop *loop, struct uring_backend *be)
{
	struct io_uring_sqe *sqe;
	cio_req *req;

	/* First the poll on the eventfd, so remote completions always wake us. */
	if (!be->wake_armed && (sqe = io_uring_get_sqe(&be->ring))) {
		io_uring_prep_poll_add(sqe, loop->wakefd, POLLIN);
		io_uring_sqe_set_data64(sqe, TAG_WAKE);
		be->wake_armed = true;
	}
	if (loop->tfd >= 0 && !be->tfd_armed && (sqe = io_uring_get_sqe(&be->ring))) {
		io_uring_prep_poll_add(sqe, loop->tfd, POLLIN);
		io_uring_sqe_set_data64(sqe, TAG_TIMER);
		be->tfd_armed = true;
	}
	while (be->cancelq.head && (sqe = io_uring_get_sqe(&be->ring))) {
		req = cio__q_pop(&be->cancelq);
		P(req)->iflags &= ~CIO__IF_CANCELQ;
		prep_cancel(sqe, req);
	}
	while (be->localq.head && cq_has_room(be) &&
	       (sqe = io_uring_get_sqe(&be->ring))) {
		req = cio__q_pop(&be->localq);
		P(req)->iflags &= ~CIO__IF_LOCALQ;
		prep(sqe, req);
		be->inflight++;
	}
}

static void handle_cqe(struct cio_loop *loop, struct uring_backend *be,
		       uint64_t ud, int32_t res)
{
	cio_req *req;

	if (ud == TAG_IGNORE || ud == TAG_LIBURING_TIMEOUT)
		return;
	if (ud == TAG_TIMER) {
		be->tfd_armed = false;
		cio__timers_fd_fired(loop);
		return;
	}
	if (ud == TAG_WAKE) {
		be->wake_armed = false;
		cio__drain_remote(loop);
		return;
	}
	req = (cio_req *)(uintptr_t)ud;
	be->inflight--;
	if (cio__unlikely(P(req)->iflags & CIO__IF_CANCELQ))
		cio__q_remove(&be->cancelq, req);
	cio__complete(req, res);
}

/* Reap every CQE, in batches: copy them out and advance the CQ head before
 * running callbacks, which may submit (and so enter the kernel) again. */
static unsigned reap(struct cio_loop *loop, struct uring_backend *be)
{
	struct io_uring_cqe *cqes[REAP_BATCH];
	struct { uint64_t ud; int32_t res; } got[REAP_BATCH];
	unsigned total = 0, n;

	for (;;) {
		if (cio__unlikely(IO_URING_READ_ONCE(*be->ring.sq.kflags) &
				  IORING_SQ_CQ_OVERFLOW))
			loop->stats.cq_overflows++;
		/* Flushes the kernel's overflow backlog when the CQ is empty. */
		n = io_uring_peek_batch_cqe(&be->ring, cqes, REAP_BATCH);
		if (!n)
			break;
		for (unsigned i = 0; i < n; i++) {
			got[i].ud = cqes[i]->user_data;
			got[i].res = cqes[i]->res;
		}
		io_uring_cq_advance(&be->ring, n);
		for (unsigned i = 0; i < n; i++)
			handle_cqe(loop, be, got[i].ud, got[i].res);
		total += n;
	}
	return total;
}

static int uring_poll(struct cio_loop *loop, bool block)
{
	struct uring_backend *be = BE(loop);
	struct io_uring_cqe *cqe;
	int ret;

	for (;;) {
		bool backlog;
		unsigned to_submit, wait_nr = 0;
		uint64_t wait_ns = UINT64_MAX;

		fill_sq(loop, be);
		to_submit = io_uring_sq_ready(&be->ring);
		backlog = be->localq.head || be->cancelq.head;
		/* Wait only when all is handed over (or nothing can be) and
		 * nothing is ready: one enter both submits and waits. */
		if (block && !io_uring_cq_ready(&be->ring) && (!backlog || !to_submit))
			wait_nr = 1;
		/* A due timer means no wait at all; a later one bounds it. */
		if (wait_nr && (wait_ns = cio__timers_wait_ns(loop)) == 0)
			wait_nr = 0;
		if (!to_submit && !wait_nr)
			break;
		loop->stats.kernel_enters++;
		if (wait_nr && wait_ns != UINT64_MAX) {
			struct __kernel_timespec ts = {
				.tv_sec = (int64_t)(wait_ns / 1000000000u),
				.tv_nsec = (long long)(wait_ns % 1000000000u),
			};

			ret = io_uring_submit_and_wait_timeout(&be->ring, &cqe,
							       wait_nr, &ts, NULL);
			if (ret == -ETIME)
				ret = 0;
		} else {
			ret = io_uring_submit_and_wait(&be->ring, wait_nr);
		}
		if (ret == -EINTR)
			break;
		if (ret == -EAGAIN || ret == -EBUSY) {
			/* The kernel is short of memory or holding CQ overflow:
			 * reap to make room; if nothing is there, wait for it. */
			if (reap(loop, be) || !block)
				break;
			loop->stats.kernel_enters++;
			ret = io_uring_wait_cqe(&be->ring, &cqe);
			if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
				return ret;
			break;
		}
		if (ret < 0)
			return ret;
		if (wait_nr || !backlog)
			break;
		/* A backlog remains: reap to make room, then hand over more. */
		reap(loop, be);
	}
	reap(loop, be);
	return 0;
}

static void uring_cancel(struct cio_loop *loop, cio_req *req)
{
	struct uring_backend *be = BE(loop);
	struct cio__priv *p = P(req);
	struct io_uring_sqe *sqe;

	if (p->iflags & CIO__IF_LOCALQ) {
		/* Never reached the kernel: finish it here. */
		cio__q_remove(&be->localq, req);
		p->iflags &= ~CIO__IF_LOCALQ;
		cio__defer(req, -ECANCELED);
		return;
	}
	if (p->iflags & CIO__IF_CANCELQ)
		return;
	sqe = get_sqe(loop, be);
	if (!sqe) {
		p->iflags |= CIO__IF_CANCELQ;
		cio__q_push(&be->cancelq, req);
		return;
	}
	prep_cancel(sqe, req);
}

static void uring_kick(struct cio_loop *loop)
{
	struct uring_backend *be = BE(loop);
	struct io_uring_sqe *sqe;

	/* Results already known make the ring fd readable through a nop. */
	if (loop->done.head && (sqe = get_sqe(loop, be))) {
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data64(sqe, TAG_IGNORE);
	}
	fill_sq(loop, be);
	if (io_uring_sq_ready(&be->ring)) {
		loop->stats.kernel_enters++;
		io_uring_submit(&be->ring);
	}
}

static int uring_loop_fd(struct cio_loop *loop)
{
	return BE(loop)->ring.ring_fd;
}

static const char *uring_op_path(const struct cio_loop *loop, int op, int fd)
{
	(void)loop; (void)op; (void)fd;
	return "ring";
}

const struct cio__backend_ops cio__backend_uring = {
	.name    = "uring",
	.init    = uring_init,
	.fini    = uring_fini,
	.submit  = uring_submit,
	.cancel  = uring_cancel,
	.poll    = uring_poll,
	.kick    = uring_kick,
	.loop_fd = uring_loop_fd,
	.op_path = uring_op_path,
};
