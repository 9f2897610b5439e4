/* SPDX-License-Identifier: MIT */
/*
 * Private structures shared by the core, the backends and the pool.
 * Never installed.
 */
#ifndef CIO_INTERNAL_H
#define CIO_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <linux/openat2.h>

#include "cio.h"
#include "ops.h"

#define CIO__UNUSED __attribute__((unused))
#define cio__likely(x)   __builtin_expect(!!(x), 1)
#define cio__unlikely(x) __builtin_expect(!!(x), 0)

/* Set in the private part while a request is pending. A magic number rather
 * than a flag so that an uninitialised stack request is not taken for one in
 * flight (the chance that garbage equals it is 2^-32). */
#define CIO__INFLIGHT 0xc10f11e5u

/* Where a pending request is; the core routes cio_cancel() by it. */
enum {
	CIO__W_NONE = 0,
	CIO__W_BACKEND,   /* owned by the backend (kernel, local queue) */
	CIO__W_TIMER,     /* in the loop's timer heap */
	CIO__W_POOL,      /* queued on or running in the thread pool */
	CIO__W_DONE,      /* result known, on the loop's done list */
	CIO__W_REMOTE,    /* posted from another thread, or finished by the pool */
	CIO__W_LINKED,    /* CIO_LINK: waits for the request before it */
	CIO__W_FAULT,     /* CIO_FAULTS: held back in the loop's fault queue */
};

/* iflags */
#define CIO__IF_POSTED    (1u << 0)  /* came through cio_post() */
#define CIO__IF_LOCALQ    (1u << 1)  /* uring: waiting in the local queue for an SQE */
#define CIO__IF_CANCELQ   (1u << 2)  /* uring: a cancel for it waits for an SQE */
#define CIO__IF_CANCELED  (1u << 3)  /* cio_cancel was called for it */
#define CIO__IF_WAITING   (1u << 4)  /* stream: waits for readiness */
#define CIO__IF_STARVED   (1u << 5)  /* recv_pool: waits for a free buffer */
#define CIO__IF_SOCK      (1u << 6)  /* stream: the fd is a socket */
#define CIO__IF_BLOCKFD   (1u << 7)  /* stream: no non-blocking try exists for
                                        this fd: run it on the pool once ready */
#define CIO__IF_STREAMJOB (1u << 8)  /* stream: the pool result comes back to
                                        the stream engine, not the callback */
#define CIO__IF_STARTED   (1u << 9)  /* connect in progress / multishot armed */
#define CIO__IF_TIMEDOUT  (1u << 10) /* its deadline passed: -ECANCELED reads
                                        -ETIMEDOUT; a timer fires -ETIMEDOUT */
#define CIO__IF_HASNEXT   (1u << 11) /* CIO_LINK: a request waits on this one */
#define CIO__IF_CONT      (1u << 12) /* CIO_ALL: a continuation step */
#define CIO__IF_SPL_OUT   (1u << 13) /* stream splice: waits on fd_out, swapped
                                        into fd for the backend's wait */
#define CIO__IF_SPL_NB    (1u << 14) /* stream splice: the caller's own
                                        SPLICE_F_NONBLOCK */
#define CIO__IF_CONNECT_EAGAIN (1u << 15) /* stream connect: -EAGAIN is its
                                        result, not a reason to wait */
#define CIO__IF_HELD_FIRST (1u << 16) /* CIO_FAULTS held it back before its
                                        first start */
#define CIO__IF_BACKEND_RETRY (1u << 17) /* stream: the backend's own call met
                                        -EAGAIN; once ready it goes again */
#define CIO__IF_INLINE_PART (1u << 18) /* inline.c moved a.x.moved bytes of
                                        it; the pool does the rest */
#define CIO__IF_AIO_WAIT  (1u << 19) /* aio: submit without RWF_NOWAIT (it met
                                        -EAGAIN and the pool could not take it) */
#define CIO__IF_CANCEL_SENT (1u << 20) /* uring: a cancel SQE for it went to
                                        the kernel; sent again until it ends */
/* Bits 21-31 are free. */
/* What the core keeps across the steps of one request; the rest is the
 * backends' and the stream engine's, cleared before each step. */
#define CIO__IF_CORE (CIO__IF_CANCELED | CIO__IF_TIMEDOUT | CIO__IF_HASNEXT | \
		      CIO__IF_CONT)

/* A transfer's own tail (read, write, readv, writev, recv, send,
 * sendfile): the arguments stay as the caller gave them, and these say
 * where CIO_ALL has got to and how much a fault lets this step ask for. */
struct cio__xfer_tail {
	uint8_t  args[24];
	uint32_t moved;            /* bytes moved by finished steps; after the
	                              final callback, before an error */
	uint32_t limit;            /* CIO_FAULTS short: at most this (0: no cap) */
};

/* The private part of cio_req: must fit in cio_req.cio__private. */
struct cio__priv {
	cio_cb           cb;
	struct cio_loop *loop;
	cio_req         *qnext;          /* one FIFO at a time: local, pool, done, remote */
	uint32_t         pidx;           /* index in the loop's pending array */
	uint32_t         timer_slot;     /* timer heap index + 1; 0: not in it */
	int32_t          fd;
	uint32_t         magic;          /* CIO__INFLIGHT while pending */
	uint32_t         iflags;
	uint8_t          op;
	uint8_t          where;
	union {
		/* buf or iov; len or iovcnt */
		struct { void *buf; int64_t off; uint32_t len; } rw;
		struct { int64_t off, len; int32_t mode; } falloc;
		struct { int64_t len; } trunc;
		struct { int64_t off, len; int32_t advice; } fadv;
		struct { int64_t off, len; uint32_t flags; } sfr;
		/* copy_file_range: fd is fd_in; its flags must be 0 */
		struct { int64_t off_in, off_out; int32_t fd_out; uint32_t len; } cfr;
		struct { uint32_t flags; } fsync;
		struct { const char *path; int32_t flags; uint32_t mode; } open;
		/* A copy of the caller's open_how: the caller may drop theirs once
		 * cio_openat2 returns. The ring reads this one when it takes the
		 * SQE, the pool when its worker runs. */
		struct { const char *path; struct open_how how; } open2;
		struct { void *buf; uint32_t len; } dents;
		struct { const char *path; struct statx *out; int32_t flags; uint32_t mask; } stx;
		struct { const char *path, *path2; int32_t dirfd2; uint32_t flags; } path;
		struct { const char *path; char *buf; uint64_t len; } rdlink;
		struct { const char *path; uint32_t mode; int32_t flags; } chmod;
		struct { const char *path; const struct timespec *times; int32_t flags; } utime;
		struct { uint64_t deadline; uint32_t timedout; } timer;  /* absolute */
		struct { void (*fn)(cio_req *); } work;
		struct { int32_t domain, type, protocol; } sock;
		struct { struct sockaddr *addr; socklen_t *addrlen; int32_t flags; } acc;
		struct { const struct sockaddr *addr; uint32_t addrlen; } conn;
		struct { void *buf; uint64_t len; int32_t flags; } msg;   /* buf: or msghdr */
		struct { struct cio_bufpool *pool; int32_t flags; uint32_t bid; } rp;
		struct { uint32_t events; } poll;
		struct { int32_t how; } shut;
		struct { int64_t off_in, off_out; uint32_t len, flags; int32_t fd_out; } spl;
		struct { int64_t off; uint64_t len; int32_t in_fd; } sf;
		struct cio__xfer_tail x;
	} a;
};
_Static_assert(offsetof(struct cio__priv, a.rw.len) + sizeof(uint32_t) <=
	       offsetof(struct cio__priv, a.x.moved) &&
	       offsetof(struct cio__priv, a.msg.flags) + sizeof(int32_t) <=
	       offsetof(struct cio__priv, a.x.moved) &&
	       offsetof(struct cio__priv, a.sf.in_fd) + sizeof(int32_t) <=
	       offsetof(struct cio__priv, a.x.moved) &&
	       offsetof(struct cio__priv, a.cfr.len) + sizeof(uint32_t) <=
	       offsetof(struct cio__priv, a.x.moved),
	       "a transfer's arguments overlap its tail");
/* Room to grow, as the core's redraw promised: 8 bytes (here) and 11 flag
 * bits (above). */
_Static_assert(sizeof(struct cio__priv) + 8 <= 88, "cio__priv has no room left");

/* The part of a transfer one step moves (cio__step): past what CIO_ALL's
 * earlier steps moved, within a fault's cap. A vector whose first element
 * is part done runs that element's rest as a plain transfer. */
struct cio__step {
	void     *buf;       /* bytes, or with vec the iovec array */
	uint64_t  len;       /* bytes, or with vec the element count */
	int64_t   off;       /* -1: the file position */
	bool      vec;
};
void cio__step(const cio_req *req, struct cio__step *st);
/* The step as an iovec array: the caller's for a vector, else *one filled
 * in. Its element count. */
int cio__step_iov(const struct cio__step *st, struct iovec *one, struct iovec **iov);

_Static_assert(CIO_OP__COUNT <= 64, "loop->traced is a 64-bit mask");
_Static_assert(sizeof(struct cio__priv) <= sizeof(((cio_req *)0)->cio__private),
	       "cio_req private area too small");

static inline struct cio__priv *P(cio_req *req)
{
	return (struct cio__priv *)(void *)req->cio__private;
}

struct cio__reqq {               /* a FIFO of requests linked by qnext */
	cio_req *head, *tail;
};

static inline void cio__q_push(struct cio__reqq *q, cio_req *req)
{
	P(req)->qnext = NULL;
	if (q->tail)
		P(q->tail)->qnext = req;
	else
		q->head = req;
	q->tail = req;
}

static inline cio_req *cio__q_pop(struct cio__reqq *q)
{
	cio_req *req = q->head;

	if (req) {
		q->head = P(req)->qnext;
		if (!q->head)
			q->tail = NULL;
	}
	return req;
}

/* Unlink req from q; returns true if it was there. O(n): cancel paths only. */
static inline bool cio__q_remove(struct cio__reqq *q, cio_req *req)
{
	cio_req *prev = NULL, *cur;

	for (cur = q->head; cur; prev = cur, cur = P(cur)->qnext) {
		if (cur != req)
			continue;
		if (prev)
			P(prev)->qnext = P(cur)->qnext;
		else
			q->head = P(cur)->qnext;
		if (q->tail == cur)
			q->tail = prev;
		return true;
	}
	return false;
}

/*
 * A backend: a small const table. The core calls it and never asks which
 * backend it is. The core alone decides where a request runs (loop.c,
 * decide()): it asks the backend whether it claims an operation on an fd,
 * and sends everything else by the operation's class (ops.def) to the
 * stream engine or the shared pool.
 */
enum {
	CIO__CLAIM_NO = 0,  /* not the backend's: the class decides */
	CIO__CLAIM_YES,     /* the backend runs it (submit) */
	CIO__CLAIM_LACKS,   /* it would, but the running kernel lacks it: the
	                       class decides, counted as a fallback */
};
struct cio__backend_ops {
	const char *name;
	int  (*init)(struct cio_loop *loop, const struct cio_loop_opts *opts);
	void (*fini)(struct cio_loop *loop);
	/* Does it run op on fd (at off, for transfers)? CIO__CLAIM_*. Pure:
	 * cio_op_path asks it too. Asked with fd -1, YES means on every fd
	 * (the core then stops asking). */
	int  (*claims)(const struct cio_loop *loop, int op, int fd, int64_t off);
	/* Take a request it claimed. 0, or -errno to reject it. */
	int  (*submit)(struct cio_loop *loop, cio_req *req);
	/* Start cancelling a request the backend owns (also one that waits
	 * through wait()). */
	void (*cancel)(struct cio_loop *loop, cio_req *req);
	/* Stream engine: call cio__stream_ready(req, revents) once fd is
	 * ready for cio__stream_events(req) (or with -errno). 0, or -errno if fd cannot be
	 * waited for (e.g. -EPERM for a regular file with epoll). */
	int  (*wait)(struct cio_loop *loop, cio_req *req);
	/* Provided buffers that the backend hands to the kernel itself
	 * (recv_pool native); NULL when the core's free list serves. */
	int  (*bufpool_init)(struct cio_loop *loop, struct cio_bufpool *pool);
	void (*bufpool_fini)(struct cio_loop *loop, struct cio_bufpool *pool);
	void (*bufpool_give)(struct cio_loop *loop, struct cio_bufpool *pool,
			     unsigned bid);
	/* Hand queued work to the kernel, wait (if block) for events, but no
	 * later than the earliest timer (cio__timers_wait_ns), and complete
	 * what is ready. The core expires timers. Returns 0 or -errno;
	 * -EINTR, -EAGAIN or -EBUSY only when nothing was lost and calling
	 * again goes on with the work. */
	int  (*poll)(struct cio_loop *loop, bool block);
	/* Make loop_fd readable now if the loop has work (exported fd only). */
	void (*kick)(struct cio_loop *loop);
	/* The fd to export; it must also become readable when loop->tfd
	 * (made by the core before this is called) does. */
	int  (*loop_fd)(struct cio_loop *loop);
	/* Registered buffers the backend hands to the kernel (NULL: none). */
	int  (*register_buffers)(struct cio_loop *loop, const struct iovec *iov,
				 unsigned n);
	void (*unregister_buffers)(struct cio_loop *loop);
	/* "ring", "aio", "epoll": how the backend runs what it claims, or
	 * waits for the stream engine. */
	const char *(*op_path)(const struct cio_loop *loop, int op, int fd);
};

struct cio__tnode {              /* a timer, or an operation's deadline */
	uint64_t deadline;           /* absolute, CLOCK_MONOTONIC */
	uint64_t seq;                /* breaks ties: first set, first fired */
	cio_req *req;
};
struct cio__timers {             /* a binary min-heap by deadline */
	struct cio__tnode *heap;
	uint32_t  len, cap;
};
struct cio__regbuf {             /* a registered buffer */
	uintptr_t base;
	uint64_t  len;
	uint32_t  index;             /* as registered */
};
struct cio__faults {             /* CIO_FAULTS, see faults.c */
	uint32_t p_eio, p_short, p_eagain, p_delay;  /* probabilities, in 2^-32 */
	uint32_t delay_min, delay_max;       /* microseconds */
	uint64_t rng;
	bool     on;
};
/* What cio__fault() decides for a request about to start. */
enum { CIO__FAULT_NONE, CIO__FAULT_EIO, CIO__FAULT_HOLD, CIO__FAULT_SHORT };
struct cio__hold {               /* a request CIO_FAULTS holds back */
	cio_req  *req;
	uint64_t  due;               /* CLOCK_MONOTONIC ns */
};
struct cio__more {               /* a multishot delivery waiting to be run */
	cio_req  *req;
	int64_t   res;
	void     *buf;                   /* with CIO_F_BUF */
	uint32_t  flags;
};
struct cio__link {               /* CIO_LINK: succ starts once pred succeeds */
	cio_req *pred, *succ;
};

extern const struct cio__backend_ops cio__backend_uring;
extern const struct cio__backend_ops cio__backend_aio;
extern const struct cio__backend_ops cio__backend_pool;

/* epoll.c: what the pool and aio backends share. Their state (loop->be)
 * starts with a struct cio__ep. Extra fds a backend adds get tags from
 * CIO__EP_TAG_USER on, reported through on_event. */
#define CIO__EP_TAG_USER 16u
struct cio__fdwait;
struct cio__fdinfo;
struct cio__ep {
	int      epfd;
	bool     tfd_watched;  /* the loop's timerfd is in epfd */
	bool     no_pwait2;    /* kernel without epoll_pwait2: ms timeouts */
	struct cio__fdwait *fds;   /* indexed by fd */
	unsigned nfds;
	void   (*on_event)(struct cio_loop *loop, uint64_t tag);
};
int  cio__ep_init(struct cio_loop *loop, struct cio__ep *ep);
void cio__ep_fini(struct cio__ep *ep);
int  cio__ep_add(struct cio__ep *ep, int fd, uint64_t tag);
int  cio__ep_wait(struct cio_loop *loop, cio_req *req);
void cio__ep_cancel(struct cio_loop *loop, cio_req *req);
int  cio__ep_poll(struct cio_loop *loop, bool block);
void cio__ep_kick(struct cio_loop *loop);
int  cio__ep_loop_fd(struct cio_loop *loop);

struct cio_loop {
	const struct cio__backend_ops *ops;
	void            *be;               /* backend state */
	uint64_t         claims_always;    /* 1 << op: the backend's on any fd */
	uint64_t         straight;         /* 1 << op: a start needs no check in
	                                      route(), straight to the backend */
	cio_req        **pend;             /* pending requests, by pidx */
	uint32_t         npending, pendcap;
	struct cio__link *links;           /* CIO_LINK chains waiting to go on */
	uint32_t         nlinks, linkcap;
	cio_req         *link_open;        /* pending, with CIO_LINK, nothing after it yet */
	struct cio__reqq done;             /* final results, callbacks to run */
	struct cio__more *more, *more_spare;  /* multishot deliveries to run;
	                                      the spare is drained meanwhile */
	uint32_t         nmore, morecap, sparecap;
	bool             running;
	bool             stop;
	bool             exported;         /* cio_loop_fd() was called */
	bool             auto_backend;     /* chosen by automatic selection */
	struct cio__timers timers;
	uint64_t         timer_seq;
	unsigned         npools;           /* cio_bufpools alive */
	uint64_t         ncallbacks;       /* final and multishot: for RUN_ONCE */
	int              tfd;              /* timerfd, only once exported */
	uint64_t         tfd_deadline;     /* what tfd is armed for; 0: disarmed */
	int              wakefd;           /* eventfd: remote completions and posts */

	/* Filled by other threads (pool workers, cio_post), under remote_lock. */
	pthread_mutex_t  remote_lock;
	struct cio__reqq remote;
	bool             remote_signaled;
	atomic_uint_fast64_t nposted;       /* posted, callback not yet run */
	atomic_uint_fast64_t posts;         /* cio_post calls accepted, ever */
	uint16_t             next_bgid;     /* next provided-buffer group id */

	/* CIO_FAULTS: its settings (faults.c), what it holds back (submit.c) */
	struct cio__faults faults;
	struct cio__hold *holds;
	uint32_t         nholds, holdcap;

	/* buffers.c: registered buffers, sorted by base */
	struct cio__regbuf *regbufs;
	uint32_t         nregbufs;
	uint32_t         nfixed;           /* pending CIO_FIXED_BUF requests */
	const char      *name;             /* what cio_backend() says */
	unsigned         debug;            /* CIO_DEBUG level */
	uint64_t         traced;           /* ops whose fallback was traced */

	/* fdinfo.c: what this loop learned of fds' O_DIRECT flags */
	struct cio__fdinfo *fdinfo;
	unsigned         nfdinfo;
	uint64_t         inline_budget;    /* inline.c: bytes left this pass */
	uint64_t         run_deadline;     /* cio_run_timeout's end; 0: none */

	struct cio_stats stats;
};

/* bufpool.c */
struct cio_bufpool {
	struct cio_loop *loop;
	char            *base;
	size_t           size;       /* of one buffer */
	unsigned         count;
	unsigned         nlent;      /* delivered, not yet put back */
	unsigned         users;      /* recv_pool requests pending on it */
	uint8_t         *lent;       /* per buffer */
	uint32_t        *freel;      /* free buffer ids (core-managed pools) */
	unsigned         nfree;
	bool             kernel;     /* the backend hands buffers to the kernel */
	uint16_t         bgid;
	void            *be;         /* backend data */
	struct cio__reqq starved;    /* recv_pool requests waiting for a buffer */
};
int  cio__bufpool_take(struct cio_bufpool *pool);          /* id or -ENOBUFS */
void cio__bufpool_lend(struct cio_bufpool *pool, cio_req *req, unsigned bid);
void cio__bufpool_starve(struct cio_bufpool *pool, cio_req *req);
void cio__bufpool_unstarve(struct cio_bufpool *pool, cio_req *req); /* cancel */
void cio__bufpool_unuse(struct cio_bufpool *pool);   /* a recv_pool ended */

/* stream.c: the stream engine (try first, then wait for readiness) */
int  cio__stream_submit(struct cio_loop *loop, cio_req *req);
void cio__stream_ready(cio_req *req, int32_t revents);
void cio__stream_again(cio_req *req);   /* a backend's call met -EAGAIN */
void cio__stream_pool_done(cio_req *req);
void cio__stream_rearm(cio_req *req);   /* wait again; never a callback */
const char *cio__stream_path(const struct cio_loop *loop, int op, int fd);
bool cio__is_stream_op(int op);   /* one the stream engine can run */
uint32_t cio__stream_events(const cio_req *req);  /* what it waits for */

/* fdinfo.c: offsets on streams and O_DIRECT alignment, checked the same
 * way on every backend: 0, -ESPIPE or -EINVAL */
int  cio__check_rw(struct cio_loop *loop, int op, int fd, const void *buf,
		   uint64_t len, int64_t off);
void cio__fd_forget(struct cio_loop *loop, int fd);
bool cio__fd_is_stream(struct cio_loop *loop, int fd);
bool cio__fd_recv_waits(struct cio_loop *loop, int fd);
bool cio__fd_no_zc(struct cio_loop *loop, int fd);
bool cio__fd_set_no_zc(struct cio_loop *loop, int fd);
void cio__fd_set_recv_waits(struct cio_loop *loop, int fd, bool waits);
void cio__fd_free(struct cio_loop *loop);
bool cio__fd_nowait(struct cio_loop *loop, int fd, bool rx);
void cio__fd_set_no_nowait(struct cio_loop *loop, int fd, bool rx);
bool cio__fd_direct(struct cio_loop *loop, int fd);

/* inline.c: buffered file transfers tried on the loop thread first */
#define CIO__INLINE_BUDGET (1u << 20)   /* bytes copied inline per pass */
void cio__inline_refill(struct cio_loop *loop);
bool cio__inline_usable(struct cio_loop *loop, int op, int fd);
bool cio__inline_try(struct cio_loop *loop, cio_req *req);

/* faults.c: CIO_FAULTS, read from the environment; a decision per start:
 * CIO__FAULT_HOLD with *arg microseconds, CIO__FAULT_SHORT with *arg
 * bytes for this step. The core acts on it. */
void cio__faults_init(struct cio_loop *loop);
int  cio__fault(struct cio__faults *f, const cio_req *req, uint32_t *arg);

/* buffers.c */
int  cio__fixed_index(const struct cio_loop *loop, const void *buf, uint64_t len);
void cio__buffers_free(struct cio_loop *loop);

/* The core: loop.c, submit.c, complete.c, chain.c, cancel.c. */
#define CIO__ROUTE_FIRST   1u   /* a request's start, not a CIO_ALL step */
#define CIO__ROUTE_NOFAULT 2u   /* CIO_FAULTS held it back already */
int  cio__submit(struct cio_loop *loop, cio_req *req, int op, int fd, cio_cb cb);
int  cio__route(struct cio_loop *loop, cio_req *req, unsigned how);
int  cio__to_pool(struct cio_loop *loop, cio_req *req);
void cio__learn_claims(struct cio_loop *loop);
void cio__learn_straight(struct cio_loop *loop);
/* Out of the pending set, in O(1): the last one takes its place. */
static inline void cio__untrack(struct cio_loop *loop, cio_req *req)
{
	uint32_t i = P(req)->pidx;
	cio_req *last = loop->pend[--loop->npending];

	loop->pend[i] = last;
	P(last)->pidx = i;
}
bool cio__unhold(struct cio_loop *loop, cio_req *req);
void cio__holds_run(struct cio_loop *loop);
uint64_t cio__holds_wait_ns(const struct cio_loop *loop);
int  cio__link(struct cio_loop *loop, cio_req *pred, cio_req *req);
void cio__unlink(struct cio_loop *loop, cio_req *req);
bool cio__finish_step(struct cio_loop *loop, cio_req *req, int64_t *res);
void cio__cancel_one(struct cio_loop *loop, cio_req *req);
int  cio__cancel_fd_users(struct cio_loop *loop, int fd, const cio_req *except);
unsigned cio__expire(struct cio_loop *loop);
unsigned cio__drain(struct cio_loop *loop);
void cio__kick(struct cio_loop *loop);
void *cio__grow(void *arr, uint32_t *cap, size_t size, uint32_t first);
/* How long a backend may wait: the earliest timer or held request. */
uint64_t cio__wait_ns(const struct cio_loop *loop);
/*
 * The one door by which results come back (complete.c): final, or with
 * CIO_F_MORE a multishot delivery (req stays pending; with CIO_F_BUF,
 * req->buf is the buffer it delivers). The callback runs on the core's
 * next drain, never from inside this call, so no backend's reap or walk
 * is ever re-entered from one.
 */
void cio__done_more(cio_req *req, int64_t res, uint32_t flags);
static inline void cio__done(cio_req *req, int64_t res, uint32_t flags)
{
	struct cio__priv *p = P(req);

	if (cio__unlikely(flags & CIO_F_MORE)) {
		cio__done_more(req, res, flags);
		return;
	}
	req->res = res;
	req->flags = flags;
	p->where = CIO__W_DONE;
	cio__q_push(&p->loop->done, req);
}
/* Callbacks wait to be run: the loop must not sleep. */
static inline bool cio__has_done(const struct cio_loop *loop)
{
	return loop->done.head || loop->nmore;
}
unsigned cio__drain_remote(struct cio_loop *loop);
void cio__remote_push(struct cio_loop *loop, cio_req *req); /* any thread */
uint64_t cio__now_ns(void);
bool cio__debug_no_op(int op);                   /* CIO_DEBUG_NO_OPS */
const char *cio__op_name(int op);

/* pool.c: the process-wide thread pool */
int  cio__pool_submit(struct cio_loop *loop, cio_req *req);
bool cio__pool_cancel(cio_req *req);  /* true: dequeued before it ran */
void cio__pool_set_max(unsigned max);
unsigned cio__pool_threads(void);
/* exec.c: run a request's system call on this thread; its result */
int64_t cio__exec(cio_req *req);

/* timer.c: the loop's timers. Every backend shares one user-space heap, so
 * timers fire in deadline order everywhere and cost no kernel object each;
 * the backend only bounds its wait by the earliest deadline. */
int  cio__timers_add(struct cio_loop *loop, cio_req *req, uint64_t deadline);
void cio__timers_del(struct cio_loop *loop, cio_req *req);
uint64_t cio__timers_wait_ns(const struct cio_loop *loop); /* UINT64_MAX: none */
/* The next request whose deadline is at or before now, out of the heap;
 * NULL when none. What that means is the core's (cancel.c). */
cio_req *cio__timers_due(struct cio_loop *loop, uint64_t now);
int  cio__timers_export(struct cio_loop *loop);  /* make loop->tfd */
/* Arm tfd for the earliest deadline, or for also (absolute) if earlier. */
void cio__timers_sync_fd(struct cio_loop *loop, uint64_t also);
void cio__timers_fd_fired(struct cio_loop *loop);
void cio__timers_free(struct cio_loop *loop);

#endif /* CIO_INTERNAL_H */
