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

#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <liburing.h>

#include "cio-internal.h"

/* user_data values that are not requests (requests are 8-byte aligned). */
#define TAG_IGNORE 0u   /* cancel SQEs and kick nops: their CQEs say nothing */
#define TAG_WAKE   1u   /* the poll on the loop's eventfd */
#define TAG_TIMER  2u   /* the poll on the loop's timerfd (exported fd only) */
/* liburing's own timeout SQE, used for timed waits on kernels before 5.11. */
#define TAG_LIBURING_TIMEOUT UINT64_MAX
/* A request's user_data is its address (8-byte aligned); the low bits say
 * which of its SQEs completed. */
#define SUB_MASK  7u
#define SUB_POLL  1u    /* the stream engine's readiness poll */

#define REAP_BATCH 64
/* The kernel's internal "restart the call", which an io-wq worker that a
 * cancel interrupted may leak into its CQE (include/linux/errno.h). */
#define ERESTARTSYS 512
/* A cancel the kernel missed goes again after this long, doubling. */
#define CANCEL_RETRY_MIN_NS  20000000u
#define CANCEL_RETRY_MAX_NS 1000000000u
/* Reads and writes handed to the kernel in groups of this many. */
#define FLUSH_EARLY 4u

struct uring_backend {
	struct io_uring  ring;
	struct cio__reqq localq;    /* waiting for an SQE, in submission order */
	struct cio__reqq cancelq;   /* cancel targets waiting for an SQE */
	unsigned         inflight;  /* requests the kernel holds */
	unsigned         cq_entries;
	bool             nodrop;    /* IORING_FEAT_NODROP: overflow is kept, not lost */
	bool             wake_armed;
	bool             tfd_armed;
	bool             ms_accept;  /* multishot accept (5.19) */
	bool             ms_recv;    /* multishot recv (6.0) */
	bool             send_zc;    /* IORING_OP_SEND_ZC (6.0) */
	bool             sendmsg_zc; /* IORING_OP_SENDMSG_ZC (6.1) */
	bool             sqpoll;
	unsigned         unflushed;   /* reads/writes prepared since a submit */
	unsigned         drop_cancels; /* CIO_DEBUG_DROP_CANCELS: still to drop */
	unsigned         cancels_out;  /* requests with CIO__IF_CANCEL_SENT */
	uint64_t         cancel_retry_at;  /* when to send their cancels again */
	uint64_t         cancel_retry_ns;  /* the wait after that */
	uint64_t         native;      /* 1 << op: the running kernel has it */
	struct uring_backend *sq_next;   /* the process's SQPOLL rings */
};

/* SQPOLL rings of this process, so a new one attaches to the kernel SQ
 * thread of an existing one (IORING_SETUP_ATTACH_WQ) instead of starting
 * another: one thread polls for all of them. */
static pthread_mutex_t sq_lock = PTHREAD_MUTEX_INITIALIZER;
static struct uring_backend *sq_rings;

#define DEFAULT_SQPOLL_IDLE_MS 100u

/* A provided-buffer pool's ring, registered with the kernel. */
struct uring_bufring {
	struct io_uring_buf_ring *br;
	size_t   bytes;
	unsigned mask;
};

static struct uring_backend *BE(const struct cio_loop *loop)
{
	return loop->be;
}

/* Features the opcode probe cannot show: flags and registrations. */
static bool kernel_at_least(int major, int minor)
{
	struct utsname u;
	int ma = 0, mi = 0;

	if (uname(&u) < 0 || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return false;
	return ma > major || (ma == major && mi >= minor);
}

/* io_uring_register(2) may meet a signal (-EINTR) or a moment's want of
 * memory (-EAGAIN): a feature probe must not take that for "missing",
 * so ask again a few times. */
#define REGISTER_TRIES 4
#define REGISTER_RETRY(ret, call) do { \
	int tries_ = REGISTER_TRIES; \
	do { \
		(ret) = (call); \
	} while (((ret) == -EINTR || (ret) == -EAGAIN) && --tries_); \
} while (0)

static bool have_buf_ring(struct io_uring *ring)
{
	struct io_uring_buf_reg reg = { 0 };
	void *mem;
	long page = sysconf(_SC_PAGESIZE);
	int ret;

	mem = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return false;
	reg.ring_addr = (uint64_t)(uintptr_t)mem;
	reg.ring_entries = 1;
	reg.bgid = 0xffff;
	REGISTER_RETRY(ret, io_uring_register_buf_ring(ring, &reg, 0));
	if (ret == 0)
		io_uring_unregister_buf_ring(ring, 0xffff);
	munmap(mem, (size_t)page);
	return ret == 0;
}

static void probe_ops(struct uring_backend *be)
{
	struct io_uring_probe *probe = NULL;

	/* NULL for any failure, -EINTR too: ask a few times. */
	for (int i = 0; i < REGISTER_TRIES && !probe; i++)
		probe = io_uring_get_probe_ring(&be->ring);

	for (int op = 0; op < CIO_OP__COUNT; op++) {
		int opcode = cio__ops[op].ring_opcode;

		/* Without a probe (before 5.6) we cannot tell which exist:
		 * none is claimed, and init gives the ring up. */
		if (opcode < 0 || !probe || !io_uring_opcode_supported(probe, opcode))
			continue;
		/* Timers are the core's: the debug knob leaves them. */
		if (op != CIO_OP_TIMER && cio__debug_no_op(op))
			continue;
		if (op == CIO_OP_RECV_POOL && !have_buf_ring(&be->ring))
			continue;
		be->native |= 1ull << op;
	}
	if (probe) {
		be->send_zc = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
		be->sendmsg_zc = io_uring_opcode_supported(probe, IORING_OP_SENDMSG_ZC);
		io_uring_free_probe(probe);
	}
	be->ms_accept = kernel_at_least(5, 19);
	be->ms_recv = kernel_at_least(6, 0);
}

static void uring_fini(struct cio_loop *loop)
{
	struct uring_backend *be = BE(loop);

	if (be->sqpoll) {
		pthread_mutex_lock(&sq_lock);
		for (struct uring_backend **pp = &sq_rings; *pp; pp = &(*pp)->sq_next) {
			if (*pp == be) {
				*pp = be->sq_next;
				break;
			}
		}
		io_uring_queue_exit(&be->ring);
		pthread_mutex_unlock(&sq_lock);
	} else {
		io_uring_queue_exit(&be->ring);
	}
	free(be);
	loop->be = NULL;
	loop->name = NULL;
}

/* The ring, with the most the kernel takes of: a CQ twice the SQ (absorbs
 * bursts), SUBMIT_ALL (5.18: go on past an SQE that fails at submission),
 * COOP_TASKRUN (5.19: a completion found by another CPU, such as data
 * arriving on a socket, is queued for our thread without an interrupt to
 * it; we run it at our next io_uring_enter, and TASKRUN_FLAG tells
 * liburing's peek to enter when some waits. On loopback HTTP with 64 KiB
 * responses, those interrupts cost cio-httpd a fifth of its throughput),
 * and for SQPOLL, the SQ thread of another ring of ours.
 * Not SINGLE_ISSUER | DEFER_TASKRUN (6.1): a loop may change threads
 * (cio_loop_new(3)), and the ring would answer its next thread -EEXIST;
 * and with deferred task work no CQE is posted until the loop's thread
 * enters, so the ring fd that cio_loop_fd exports would not wake a poller.
 * On a nop round trip they saved no measurable time either. */
static int setup_ring(struct uring_backend *be, const struct cio_loop_opts *opts,
		      struct io_uring_params *params)
{
	static const unsigned extra[] = {
		IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL |
			IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL, 0,
	};
	int ret = -EINVAL;

	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		for (int attach = !!(be->sqpoll && sq_rings); attach >= 0; attach--) {
			memset(params, 0, sizeof(*params));
			params->flags = extra[i];
			params->cq_entries = opts->entries * 2;
			if (be->sqpoll) {
				/* The SQ thread runs the task work: no IPI
				 * flags (the kernel refuses them). */
				params->flags &= ~(IORING_SETUP_COOP_TASKRUN |
						   IORING_SETUP_TASKRUN_FLAG);
				params->flags |= IORING_SETUP_SQPOLL;
				params->sq_thread_idle = opts->sqpoll_idle_ms ?
					opts->sqpoll_idle_ms : DEFAULT_SQPOLL_IDLE_MS;
			}
			if (attach) {
				params->flags |= IORING_SETUP_ATTACH_WQ;
				params->wq_fd = (uint32_t)sq_rings->ring.ring_fd;
			}
			ret = io_uring_queue_init_params(opts->entries, &be->ring, params);
			/* Attaching can fail for reasons of its own (a ring of
			 * the parent after fork: -EPERM): then go alone. */
			if (ret == 0 || (!attach && ret != -EINVAL))
				return ret;
		}
	}
	return ret;
}

/* CIO_DEBUG_DROP_CANCELS=N: a test knob that makes the loop's first N
 * cancel SQEs nops, as if the kernel had missed them (cio-cancel(7)). */
static unsigned debug_drop_cancels(void)
{
	const char *env = getenv("CIO_DEBUG_DROP_CANCELS");
	unsigned long n;

	if (!env || !*env)
		return 0;
	n = strtoul(env, NULL, 10);
	return n > UINT_MAX ? UINT_MAX : (unsigned)n;
}

static int uring_init(struct cio_loop *loop, const struct cio_loop_opts *opts)
{
	struct io_uring_params params;
	struct uring_backend *be;
	int ret;

	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	be->sqpoll = opts->flags & CIO_LOOP_SQPOLL;
	if (be->sqpoll)
		pthread_mutex_lock(&sq_lock);
	ret = setup_ring(be, opts, &params);
	if (be->sqpoll) {
		if (ret == 0) {
			be->sq_next = sq_rings;
			sq_rings = be;
		}
		pthread_mutex_unlock(&sq_lock);
	}
	if (ret < 0) {
		free(be);
		return ret;
	}
	if (be->sqpoll)
		loop->name = "uring+sqpoll";

	be->nodrop = params.features & IORING_FEAT_NODROP;
	be->drop_cancels = debug_drop_cancels();
	be->cq_entries = params.cq_entries;
	loop->be = be;
	probe_ops(be);
	if (!(be->native & (1ull << CIO_OP_TIMER))) {
		/* Too old to be worth it: let auto selection take the pool. */
		uring_fini(loop);
		return -ENOSYS;
	}
	return 0;
}

/* A read or write, as this step of it asks (cio__step): a vector, or
 * plain bytes, from a registered buffer with CIO_FIXED_BUF (the core
 * checked it lies inside one). */
static void prep_rw(struct io_uring_sqe *sqe, cio_req *req)
{
	struct cio__priv *p = P(req);
	bool rd = cio__op_has(p->op, OPF_RX);
	bool fixed = req->opts & CIO_FIXED_BUF;
	struct cio__step st;
	int opcode;

	cio__step(req, &st);
	if (st.vec)
		opcode = rd ? IORING_OP_READV : IORING_OP_WRITEV;
	else if (fixed)
		opcode = rd ? IORING_OP_READ_FIXED : IORING_OP_WRITE_FIXED;
	else
		opcode = rd ? IORING_OP_READ : IORING_OP_WRITE;
	io_uring_prep_rw(opcode, sqe, p->fd, st.buf, (unsigned)st.len, (uint64_t)st.off);
	if (fixed && !st.vec)
		sqe->buf_index = (uint16_t)cio__fixed_index(p->loop, st.buf, st.len);
}

static void prep_any(struct io_uring_sqe *sqe, cio_req *req)
{
	struct cio__priv *p = P(req);
	struct cio__step st;
	int fd = p->fd;

	if (p->iflags & CIO__IF_WAITING) {
		/* The stream engine waits for readiness. */
		io_uring_prep_poll_add(sqe, fd, cio__stream_events(req));
		io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)req | SUB_POLL);
		return;
	}
	switch (p->op) {
	case CIO_OP_NOP:
		io_uring_prep_nop(sqe);
		break;
	case CIO_OP_READ:
	case CIO_OP_WRITE:
	case CIO_OP_READV:
	case CIO_OP_WRITEV:
		prep_rw(sqe, req);
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
		io_uring_prep_rw(CIO__IORING_OP_FTRUNCATE, sqe, fd, NULL, 0,
				 (uint64_t)p->a.trunc.len);
		break;
	case CIO_OP_FADVISE:
		io_uring_prep_fadvise(sqe, fd, (uint64_t)p->a.fadv.off, p->a.fadv.len,
				      p->a.fadv.advice);
		break;
	case CIO_OP_SYNC_FILE_RANGE:
		io_uring_prep_sync_file_range(sqe, fd, (unsigned)p->a.sfr.len,
					      (uint64_t)p->a.sfr.off, (int)p->a.sfr.flags);
		break;
	case CIO_OP_OPENAT:
		io_uring_prep_openat(sqe, fd, p->a.open.path, p->a.open.flags,
				     (mode_t)p->a.open.mode);
		break;
	case CIO_OP_OPENAT2:
		/* The kernel copies *how when it takes the SQE (io_openat2_prep);
		 * ours lives in the request until the end anyway. */
		io_uring_prep_openat2(sqe, fd, p->a.open2.path, &p->a.open2.how);
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
	case CIO_OP_LINKAT:
		io_uring_prep_linkat(sqe, fd, p->a.path.path, p->a.path.dirfd2,
				     p->a.path.path2, (int)p->a.path.flags);
		break;
	case CIO_OP_SYMLINKAT:
		io_uring_prep_symlinkat(sqe, p->a.path.path2, fd, p->a.path.path);
		break;
	case CIO_OP_SOCKET:
		io_uring_prep_socket(sqe, p->a.sock.domain, p->a.sock.type,
				     p->a.sock.protocol, 0);
		break;
	case CIO_OP_ACCEPT:
		if ((req->opts & CIO_MULTISHOT) && BE(p->loop)->ms_accept)
			io_uring_prep_multishot_accept(sqe, fd, p->a.acc.addr,
						       p->a.acc.addrlen, p->a.acc.flags);
		else
			io_uring_prep_accept(sqe, fd, p->a.acc.addr, p->a.acc.addrlen,
					     p->a.acc.flags);
		break;
	case CIO_OP_CONNECT:
		io_uring_prep_connect(sqe, fd, p->a.conn.addr, p->a.conn.addrlen);
		break;
	case CIO_OP_RECV:
		cio__step(req, &st);
		io_uring_prep_recv(sqe, fd, st.buf, st.len, p->a.msg.flags);
		break;
	case CIO_OP_SEND:
		cio__step(req, &st);
		if ((req->opts & CIO_ZEROCOPY) && BE(p->loop)->send_zc &&
		    !cio__fd_no_zc(p->loop, fd))
			io_uring_prep_send_zc(sqe, fd, st.buf, st.len, p->a.msg.flags, 0);
		else
			io_uring_prep_send(sqe, fd, st.buf, st.len, p->a.msg.flags);
		break;
	case CIO_OP_RECVMSG:
		io_uring_prep_recvmsg(sqe, fd, p->a.msg.buf, (unsigned)p->a.msg.flags);
		break;
	case CIO_OP_SENDMSG:
		if ((req->opts & CIO_ZEROCOPY) && BE(p->loop)->sendmsg_zc &&
		    !cio__fd_no_zc(p->loop, fd))
			io_uring_prep_sendmsg_zc(sqe, fd, p->a.msg.buf,
						 (unsigned)p->a.msg.flags);
		else
			io_uring_prep_sendmsg(sqe, fd, p->a.msg.buf,
					      (unsigned)p->a.msg.flags);
		break;
	case CIO_OP_SHUTDOWN:
		io_uring_prep_shutdown(sqe, fd, p->a.shut.how);
		break;
	case CIO_OP_RECV_POOL: {
		struct cio_bufpool *pool = p->a.rp.pool;

		if ((req->opts & CIO_MULTISHOT) && BE(p->loop)->ms_recv)
			io_uring_prep_recv_multishot(sqe, fd, NULL, 0, p->a.rp.flags);
		else
			io_uring_prep_recv(sqe, fd, NULL, pool->size, p->a.rp.flags);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = pool->bgid;
		break;
	}
	case CIO_OP_POLL:
		io_uring_prep_poll_add(sqe, fd, p->a.poll.events);
		break;
	case CIO_OP_SPLICE:
		io_uring_prep_splice(sqe, fd, p->a.spl.off_in, p->a.spl.fd_out,
				     p->a.spl.off_out, p->a.spl.len, p->a.spl.flags);
		break;
	}
	io_uring_sqe_set_data(sqe, req);
}

/* A nop, the measure of the per-op cost and how programs yield, is set
 * up in line; everything else goes through prep_any's switch, whose
 * prologue alone saves six registers. */
static inline void prep(struct io_uring_sqe *sqe, cio_req *req)
{
	if (P(req)->op == CIO_OP_NOP) {
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data(sqe, req);
		return;
	}
	prep_any(sqe, req);
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

/* Hand what is queued to the kernel now. Reads and writes go out in
 * small groups rather than a loop iteration's worth at once: the block
 * layer plugs a large batch and starts none of it until all is built, so
 * the device idles meanwhile (on a virtio disk at QD 32, one io_uring_enter
 * for 32 reads gave 60k IOPS, one per 4 reads 77k, as fio does with one
 * per read). Nops and sockets still batch fully. */
static void flush_early(struct cio_loop *loop, struct uring_backend *be)
{
	be->unflushed = 0;
	if (be->sqpoll)
		return;        /* the SQ thread picks them up by itself */
	loop->stats.kernel_enters++;
	io_uring_submit(&be->ring);
}

/* Is fd a socket? For the splice route below; a bad fd is not. */
static bool is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* What the kernel has, by the probe; what it lacks is the class's, as a
 * fallback. Ops with no ring opcode of ours are the class's by design.
 * The timer row only says the kernel is recent enough: the core keeps
 * the timers. */
static int uring_claims(const struct cio_loop *loop, int op, int fd, int64_t off)
{
	(void)off;
	/* A splice from a socket is the stream engine's: IORING_OP_SPLICE
	 * always hands its call to an io-wq worker, a thread switch for
	 * every call even with the data waiting, where the engine calls
	 * splice(2) here without blocking and waits with a ring poll only
	 * when it must (an upload through a pipe: perf showed the switches
	 * costing more than the copy). Asked per request (fd -1 is the
	 * question "whatever the fd"). A splice into a socket or file may
	 * block on it and stays with the ring. */
	if (op == CIO_OP_SPLICE && (fd < 0 || is_socket(fd)))
		return CIO__CLAIM_NO;
	if (cio__likely(BE(loop)->native & (1ull << op)))
		return CIO__CLAIM_YES;
	return cio__ops[op].ring_opcode >= 0 ? CIO__CLAIM_LACKS : CIO__CLAIM_NO;
}

static int uring_submit(struct cio_loop *loop, cio_req *req)
{
	struct uring_backend *be = BE(loop);
	struct io_uring_sqe *sqe;

	/* An SQE carries a fadvise or sync_file_range length in 32 bits
	 * (sqe->len): a longer range is the pool's. */
	if (cio__unlikely(P(req)->op == CIO_OP_FADVISE ||
			  P(req)->op == CIO_OP_SYNC_FILE_RANGE) &&
	    (uint64_t)(P(req)->op == CIO_OP_FADVISE ? P(req)->a.fadv.len :
		       P(req)->a.sfr.len) > UINT32_MAX)
		return cio__to_pool(loop, req);

	/* Behind a backlog, wait in line: submission order is kept. */
	if (cio__likely(!be->localq.head && cq_has_room(be))) {
		sqe = get_sqe(loop, be);
		if (cio__likely(sqe != NULL)) {
			prep(sqe, req);
			be->inflight++;
			if (cio__op_class(P(req)->op) == CIO__CLASS_RW &&
			    ++be->unflushed >= FLUSH_EARLY)
				flush_early(loop, be);
			return 0;
		}
	}
	P(req)->iflags |= CIO__IF_LOCALQ;
	cio__q_push(&be->localq, req);
	loop->stats.sq_full++;
	return 0;
}

/* IORING_OP_ASYNC_CANCEL can miss a request that an io-wq worker runs
 * (seen on 6.1, not on 6.18): it may not find the work (-ENOENT), or
 * signal the worker before it blocks (a splice from an empty pipe), and
 * the request would then wait forever. The cancel's CQE cannot tell a miss from a
 * cancel still under way, so every target is marked and counted until its
 * own last CQE, and its cancel sent again while it lasts (resend_cancels).
 * An operation that cannot be interrupted just ends meanwhile. */
static void prep_cancel(struct uring_backend *be, struct io_uring_sqe *sqe,
			cio_req *target)
{
	struct cio__priv *p = P(target);
	uint64_t ud = (uint64_t)(uintptr_t)target;

	if (p->iflags & CIO__IF_WAITING)
		ud |= SUB_POLL;
	if (cio__unlikely(be->drop_cancels)) {
		be->drop_cancels--;
		io_uring_prep_nop(sqe);
	} else {
		io_uring_prep_cancel64(sqe, ud, 0);
	}
	/* The target's address only in the SQE, never in a CQE we read:
	 * the caller may reuse it once its callback has run. */
	io_uring_sqe_set_data64(sqe, TAG_IGNORE);
	if (!(p->iflags & CIO__IF_CANCEL_SENT)) {
		p->iflags |= CIO__IF_CANCEL_SENT;
		if (be->cancels_out++ == 0) {
			be->cancel_retry_ns = CANCEL_RETRY_MIN_NS;
			be->cancel_retry_at = cio__now_ns() + CANCEL_RETRY_MIN_NS;
		}
	}
}

/* When their time has come, a cancel again for every request whose
 * cancel went out and that has not ended. Rare, so a walk of the pending
 * set beats a list that every request would pay for. */
static void resend_cancels(struct cio_loop *loop, struct uring_backend *be)
{
	uint64_t now = cio__now_ns();
	struct io_uring_sqe *sqe;

	if (now < be->cancel_retry_at)
		return;
	for (uint32_t i = 0; i < loop->npending; i++) {
		cio_req *req = loop->pend[i];

		if ((P(req)->iflags & (CIO__IF_CANCEL_SENT | CIO__IF_CANCELQ)) !=
		    CIO__IF_CANCEL_SENT)
			continue;
		sqe = get_sqe(loop, be);
		if (!sqe) {
			/* No room even after a submit: soon, from the start. */
			be->cancel_retry_ns = CANCEL_RETRY_MIN_NS;
			break;
		}
		prep_cancel(be, sqe, req);
	}
	be->cancel_retry_at = now + be->cancel_retry_ns;
	if (be->cancel_retry_ns < CANCEL_RETRY_MAX_NS / 2)
		be->cancel_retry_ns *= 2;
	else
		be->cancel_retry_ns = CANCEL_RETRY_MAX_NS;
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
		prep_cancel(be, sqe, req);
	}
	while (be->localq.head && cq_has_room(be) &&
	       (sqe = io_uring_get_sqe(&be->ring))) {
		req = cio__q_pop(&be->localq);
		P(req)->iflags &= ~CIO__IF_LOCALQ;
		prep(sqe, req);
		be->inflight++;
	}
}

/* A multishot request the kernel ended with a result to deliver: go on
 * with a fresh SQE unless the caller cancelled it meanwhile. */
static void rearm_multishot(struct cio_loop *loop, cio_req *req)
{
	if (P(req)->iflags & CIO__IF_CANCELED)
		cio__done(req, -ECANCELED, 0);
	else
		uring_submit(loop, req);
}

static void recv_pool_cqe(struct cio_loop *loop, cio_req *req, int32_t res,
			  uint32_t cflags)
{
	struct cio_bufpool *pool = P(req)->a.rp.pool;
	bool more = cflags & IORING_CQE_F_MORE;
	bool ms = req->opts & CIO_MULTISHOT;

	if (res == -ENOBUFS) {
		/* The ring ran dry; nothing was consumed. Go again at once if
		 * buffers came back meanwhile, else when one is put back. */
		if (P(req)->iflags & CIO__IF_CANCELED)
			cio__done(req, -ECANCELED, 0);
		else if (pool->nlent < pool->count)
			uring_submit(loop, req);
		else
			cio__bufpool_starve(pool, req);
		return;
	}
	if (res <= 0 || !(cflags & IORING_CQE_F_BUFFER)) {
		if (cflags & IORING_CQE_F_BUFFER)
			loop->ops->bufpool_give(loop, pool, cflags >> IORING_CQE_BUFFER_SHIFT);
		cio__done(req, res > 0 ? -EIO : res, 0);
		return;
	}
	cio__bufpool_lend(pool, req, cflags >> IORING_CQE_BUFFER_SHIFT);
	if (!ms) {
		cio__done(req, res, CIO_F_BUF);
		return;
	}
	cio__done(req, res, CIO_F_BUF | CIO_F_MORE);
	if (!more)
		rearm_multishot(loop, req);
}

static void handle_cqe(struct cio_loop *loop, struct uring_backend *be,
		       uint64_t ud, int32_t res, uint32_t cflags)
{
	cio_req *req;
	bool more = cflags & IORING_CQE_F_MORE;

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
	req = (cio_req *)(uintptr_t)(ud & ~(uint64_t)SUB_MASK);
	if (!more) {
		be->inflight--;
		if (cio__unlikely(P(req)->iflags & (CIO__IF_CANCELQ | CIO__IF_CANCEL_SENT))) {
			if (P(req)->iflags & CIO__IF_CANCELQ)
				cio__q_remove(&be->cancelq, req);
			if (P(req)->iflags & CIO__IF_CANCEL_SENT)
				be->cancels_out--;
			P(req)->iflags &= ~(CIO__IF_CANCELQ | CIO__IF_CANCEL_SENT);
		}
	}
	if ((ud & SUB_MASK) == SUB_POLL) {
		/* The stream engine's wait ended. */
		cio__stream_ready(req, res);
		return;
	}
	if (cio__unlikely(req->opts & CIO_ZEROCOPY)) {
		/* Zero-copy send: the result comes first (F_MORE), then a
		 * notification once the kernel no longer reads the buffer.
		 * Act on the result only after both, so that a retry never
		 * overlaps a notification still to come. */
		if (!(cflags & IORING_CQE_F_NOTIF) && more) {
			req->res = res;
			return;
		}
		if (cflags & IORING_CQE_F_NOTIF)
			res = (int32_t)req->res;
		/* Not on this socket type: send with a copy. The resubmission
		 * reads the fd's memo, so go again only once it is stored. */
		if (res == -EOPNOTSUPP && !cio__fd_no_zc(loop, P(req)->fd) &&
		    cio__fd_set_no_zc(loop, P(req)->fd)) {
			uring_submit(loop, req);
			return;
		}
	}
	/* A cancel interrupts a call blocked in an io-wq worker (connect,
	 * splice), which then ends -EINTR or the kernel-internal
	 * -ERESTARTSYS: to the caller that is the cancel it asked for. */
	if (cio__unlikely((res == -EINTR || res == -ERESTARTSYS) &&
			  (P(req)->iflags & CIO__IF_CANCELED)))
		res = -ECANCELED;
	/* A connect's -EAGAIN is final (a full UNIX backlog on an
	 * O_NONBLOCK socket: POLLOUT is there at once, so waiting would
	 * spin; the kernel itself waits on a blocking one). So is a
	 * splice's: SPLICE_F_NONBLOCK or a non-blocking end asked for it. */
	if (cio__unlikely(res == -EAGAIN) && cio__is_stream_op(P(req)->op) &&
	    P(req)->op != CIO_OP_CONNECT && P(req)->op != CIO_OP_SPLICE &&
	    !(req->opts & CIO_MULTISHOT)) {
		/* The kernel answers -EAGAIN for reads and writes on an
		 * O_NONBLOCK fd instead of waiting; every backend waits, in
		 * the one stream engine, which hands it back once ready. */
		cio__stream_again(req);
		return;
	}
	switch (P(req)->op) {
	case CIO_OP_RECV_POOL:
		recv_pool_cqe(loop, req, res, cflags);
		return;
	case CIO_OP_ACCEPT:
		if ((req->opts & CIO_MULTISHOT) && res >= 0) {
			cio__done(req, res, 0 | CIO_F_MORE);
			if (!more)
				rearm_multishot(loop, req);
			return;
		}
		break;
	}
	cio__done(req, res, 0);
}

/* Up to REAP_BATCH CQEs copied out of the ring (head advanced), read in
 * place as io_uring_for_each_cqe does: liburing's peek_batch_cqe is a
 * call into the library and fills an array of pointers first. Only when
 * the ring looks empty is it asked, for what it does then: flush the
 * kernel's overflow backlog, or run task work the kernel flagged. */
struct cqe_copy { uint64_t ud; int32_t res; uint32_t flags; };

static unsigned take_cqes(struct uring_backend *be, struct cqe_copy *got)
{
	struct io_uring *ring = &be->ring;
	unsigned head = *ring->cq.khead;
	unsigned n = io_uring_smp_load_acquire(ring->cq.ktail) - head;

	if (!n) {
		struct io_uring_cqe *cqe;

		if (!io_uring_peek_batch_cqe(ring, &cqe, 1))
			return 0;
		n = io_uring_smp_load_acquire(ring->cq.ktail) - head;
	}
	if (n > REAP_BATCH)
		n = REAP_BATCH;
	for (unsigned i = 0; i < n; i++) {
		const struct io_uring_cqe *cqe =
			&ring->cq.cqes[(head + i) & ring->cq.ring_mask];

		got[i].ud = cqe->user_data;
		got[i].res = cqe->res;
		got[i].flags = cqe->flags;
	}
	io_uring_cq_advance(ring, n);
	return n;
}

/* Reap every CQE, in batches: copy them out and advance the CQ head before
 * running callbacks, which may submit (and so enter the kernel) again. */
static unsigned reap(struct cio_loop *loop, struct uring_backend *be)
{
	struct cqe_copy got[REAP_BATCH];
	unsigned total = 0, n;

	/* At most about a CQ's worth per call: callbacks that resubmit work
	 * the kernel completes at once (page-cache reads) must not keep us
	 * here forever; the rest waits for the next pass. */
	while (total < be->cq_entries) {
		if (cio__unlikely(IO_URING_READ_ONCE(*be->ring.sq.kflags) &
				  IORING_SQ_CQ_OVERFLOW))
			loop->stats.cq_overflows++;
		n = take_cqes(be, got);
		if (!n)
			break;
		for (unsigned i = 0; i < n; i++)
			handle_cqe(loop, be, got[i].ud, got[i].res, got[i].flags);
		total += n;
	}
	return total;
}

/* io_uring_enter(2): -EINTR, a signal came first; -EAGAIN, the kernel is
 * short of memory for requests; -EBUSY, CQ overflow it could not flush
 * (or, without IORING_FEAT_NODROP, too many requests pending). Each ends
 * as requests complete: none says the ring is broken. */
static bool transient(int ret)
{
	return ret == -EINTR || ret == -EAGAIN || ret == -EBUSY;
}

#define BACKOFF_NS 1000000u

/* After -EAGAIN or -EBUSY with no CQE to reap: wait, without submitting,
 * for a completion to free what the kernel lacks, but no later than the
 * next timer and never long (nothing may be in flight to complete). */
static void backoff(struct cio_loop *loop, struct uring_backend *be)
{
	struct io_uring_cqe *cqe;
	uint64_t ns = cio__wait_ns(loop);
	struct __kernel_timespec ts;

	if (ns > BACKOFF_NS)
		ns = BACKOFF_NS;
	ts.tv_sec = 0;
	ts.tv_nsec = (long long)ns;
	loop->stats.kernel_enters++;
	io_uring_wait_cqe_timeout(&be->ring, &cqe, &ts);
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

		if (cio__unlikely(be->cancels_out))
			resend_cancels(loop, be);
		fill_sq(loop, be);
		to_submit = io_uring_sq_ready(&be->ring);
		backlog = be->localq.head || be->cancelq.head;
		/* Wait only when all is handed over (or nothing can be) and
		 * nothing is ready: one enter both submits and waits. */
		if (block && !io_uring_cq_ready(&be->ring) && (!backlog || !to_submit))
			wait_nr = 1;
		/* A due timer means no wait at all; a later one bounds it. */
		if (wait_nr && (wait_ns = cio__wait_ns(loop)) == 0)
			wait_nr = 0;
		/* Wake for the next round of cancels that may have missed. */
		if (wait_nr && be->cancels_out) {
			uint64_t now = cio__now_ns();
			uint64_t d = be->cancel_retry_at > now ?
				be->cancel_retry_at - now : 0;

			if (d < wait_ns)
				wait_ns = d;
		}
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
		if (cio__unlikely(transient(ret))) {
			/* Nothing is lost: SQEs the kernel did not take stay
			 * in the SQ ring (io_uring_sq_ready counts them) and
			 * go with the next enter. */
			if (reap(loop, be))
				break;   /* progress: the core comes back */
			if (!block)
				return ret;   /* cio_run returns it: call again */
			if (ret != -EINTR)
				backoff(loop, be);
			break;   /* the core runs due timers, then enters again */
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
		p->iflags &= ~(CIO__IF_LOCALQ | CIO__IF_WAITING);
		cio__done(req, -ECANCELED, 0);
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
	prep_cancel(be, sqe, req);
}

static int uring_wait(struct cio_loop *loop, cio_req *req)
{
	return uring_submit(loop, req);
}

static int uring_bufpool_init(struct cio_loop *loop, struct cio_bufpool *pool)
{
	struct uring_backend *be = BE(loop);
	struct io_uring_buf_reg reg = { 0 };
	struct uring_bufring *r;
	unsigned entries = 1;
	int ret;

	while (entries < pool->count)
		entries *= 2;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->bytes = entries * sizeof(struct io_uring_buf);
	r->br = mmap(NULL, r->bytes, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->br == MAP_FAILED) {
		free(r);
		return -ENOMEM;
	}
	reg.ring_addr = (uint64_t)(uintptr_t)r->br;
	reg.ring_entries = entries;
	reg.bgid = pool->bgid;
	REGISTER_RETRY(ret, io_uring_register_buf_ring(&be->ring, &reg, 0));
	if (ret < 0) {
		munmap(r->br, r->bytes);
		free(r);
		return ret;
	}
	io_uring_buf_ring_init(r->br);
	r->mask = (unsigned)io_uring_buf_ring_mask(entries);
	for (unsigned i = 0; i < pool->count; i++)
		io_uring_buf_ring_add(r->br, pool->base + (size_t)i * pool->size,
				      (unsigned)pool->size, (unsigned short)i, (int)r->mask,
				      (int)i);
	io_uring_buf_ring_advance(r->br, (int)pool->count);
	pool->be = r;
	return 0;
}

static void uring_bufpool_fini(struct cio_loop *loop, struct cio_bufpool *pool)
{
	struct uring_bufring *r = pool->be;

	io_uring_unregister_buf_ring(&BE(loop)->ring, pool->bgid);
	munmap(r->br, r->bytes);
	free(r);
	pool->be = NULL;
}

static void uring_bufpool_give(struct cio_loop *loop, struct cio_bufpool *pool,
			       unsigned bid)
{
	struct uring_bufring *r = pool->be;

	(void)loop;
	io_uring_buf_ring_add(r->br, pool->base + (size_t)bid * pool->size,
			      (unsigned)pool->size, (unsigned short)bid, (int)r->mask, 0);
	io_uring_buf_ring_advance(r->br, 1);
}

static void uring_kick(struct cio_loop *loop)
{
	struct uring_backend *be = BE(loop);
	struct io_uring_sqe *sqe;

	/* Results already known make the ring fd readable through a nop. */
	if (cio__has_done(loop) && (sqe = get_sqe(loop, be))) {
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data64(sqe, TAG_IGNORE);
	}
	fill_sq(loop, be);
	/* No cio_run may follow to retry: the caller waits for the fd. */
	for (int tries = REGISTER_TRIES; io_uring_sq_ready(&be->ring) && tries; tries--) {
		loop->stats.kernel_enters++;
		if (!transient(io_uring_submit(&be->ring)))
			break;
	}
}

static int uring_register_buffers(struct cio_loop *loop, const struct iovec *iov,
				  unsigned n)
{
	int ret;

	/* -ENOMEM where RLIMIT_MEMLOCK does not cover the pages. */
	REGISTER_RETRY(ret, io_uring_register_buffers(&BE(loop)->ring, iov, n));
	return ret;
}

static void uring_unregister_buffers(struct cio_loop *loop)
{
	io_uring_unregister_buffers(&BE(loop)->ring);
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
	.claims  = uring_claims,
	.submit  = uring_submit,
	.cancel  = uring_cancel,
	.wait    = uring_wait,
	.bufpool_init = uring_bufpool_init,
	.bufpool_fini = uring_bufpool_fini,
	.bufpool_give = uring_bufpool_give,
	.poll    = uring_poll,
	.kick    = uring_kick,
	.loop_fd = uring_loop_fd,
	.register_buffers   = uring_register_buffers,
	.unregister_buffers = uring_unregister_buffers,
	.op_path = uring_op_path,
};
