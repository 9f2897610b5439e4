/* SPDX-License-Identifier: MIT */
/*
 * The stream engine: sockets, pipes, ttys and other fds that can wait
 * forever. It never lets such an fd tie up a pool thread: the call is tried
 * first without blocking (MSG_DONTWAIT, RWF_NOWAIT: per call, so the fd's
 * own flags are never touched), and only when it would block does the
 * request wait for readiness through the backend's wait() (epoll on the
 * pool backend, a poll request on the ring). Regular files go to the pool.
 *
 * An fd with no non-blocking form of the call (a tty without RWF_NOWAIT, a
 * blocking listening socket) waits for readiness and then runs the call on
 * the pool, so a lost race costs a pool thread for a moment, never the loop.
 *
 * Splice too: SPLICE_F_NONBLOCK makes only its pipe side non-blocking (a
 * blocking TCP socket still waits for data, any socket for room, and a
 * file end may wait for the disk). Between pipes, or a pipe and an
 * O_NONBLOCK socket, it is tried here; otherwise it runs on the pool, but
 * only once the end that would block is ready, and still with
 * SPLICE_F_NONBLOCK, so an empty or full pipe never holds a thread.
 */
#include "config.h"

#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "cio-internal.h"

/* Callbacks a multishot request may get from one readiness event before
 * it waits again, so one busy fd cannot starve the others. */
#define MULTISHOT_BATCH 16

bool cio__is_stream_op(int op)
{
	int cls = cio__op_class(op);

	return cls == CIO__CLASS_STREAM || cls == CIO__CLASS_RW;
}

static inline int64_t neg(ssize_t r)
{
	return r < 0 ? -errno : r;
}

static bool multishot(const cio_req *req)
{
	return req->opts & CIO_MULTISHOT;
}

uint32_t cio__stream_events(const cio_req *req)
{
	const struct cio__priv *p = P((cio_req *)req);

	if (p->op == CIO_OP_POLL)
		return p->a.poll.events;
	if (p->op == CIO_OP_SPLICE)
		return (p->iflags & CIO__IF_SPL_OUT) ? POLLOUT : POLLIN;
	return cio__op_has(p->op, OPF_OUT) ? POLLOUT : POLLIN;
}

static bool receives(int op)
{
	return cio__op_has(op, OPF_RX);
}

/* What a receive asked for, to tell a full buffer (0: unknown). */
static uint64_t wanted(const cio_req *req)
{
	struct cio__step st;

	if (P((cio_req *)req)->op != CIO_OP_RECV && P((cio_req *)req)->op != CIO_OP_READ)
		return 0;
	cio__step(req, &st);
	return st.len;
}

/* A read(2) of 0 bytes answers 0 at once on every stream (a socket's
 * read_iter and pipe_read both say so), where a try with recvmsg() would
 * wait for a byte: recv(2) of 0 waits, and cio_recv keeps that. */
static bool reads_nothing(const cio_req *req)
{
	int op = P((cio_req *)req)->op;
	struct cio__step st;

	if (op != CIO_OP_READ && op != CIO_OP_READV)
		return false;
	cio__step(req, &st);
	if (!st.vec)
		return !st.len;
	for (uint64_t i = 0; i < st.len; i++)   /* len: the count */
		if (((const struct iovec *)st.buf)[i].iov_len)
			return false;
	return true;
}

/* try_op's -EAGAIN means "wait for readiness", but for a connect that
 * marked it so, which is its result. */
static inline bool must_wait(const cio_req *req, int64_t r)
{
	return r == -EAGAIN && !(P((cio_req *)req)->iflags & CIO__IF_CONNECT_EAGAIN);
}

/* Non-blocking connect on any socket: a blocking one is switched to
 * non-blocking just for the connect(2) call and switched back at once;
 * the handshake goes on in the kernel either way. */
static int64_t try_connect(cio_req *req)
{
	struct cio__priv *p = P(req);
	int fl, ret, err = 0;
	socklen_t len = sizeof(err);

	if (p->iflags & CIO__IF_STARTED) {
		if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			return -errno;
		return err ? -err : 0;
	}
	fl = fcntl(p->fd, F_GETFL);
	if (fl < 0)
		return -errno;
	if (!(fl & O_NONBLOCK) && fcntl(p->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	ret = connect(p->fd, p->a.conn.addr, p->a.conn.addrlen);
	err = ret < 0 ? errno : 0;
	if (!(fl & O_NONBLOCK))
		fcntl(p->fd, F_SETFL, fl);
	if (err == EINPROGRESS) {
		p->iflags |= CIO__IF_STARTED;
		return -EAGAIN;
	}
	if (err == EAGAIN) {
		/* Nothing started: a UNIX socket whose listener's backlog is
		 * full. connect(2) on a blocking socket waits for room, which
		 * no readiness says; on a non-blocking one it fails so. */
		if (fl & O_NONBLOCK) {
			p->iflags |= CIO__IF_CONNECT_EAGAIN;
			return -EAGAIN;
		}
		p->iflags |= CIO__IF_BLOCKFD;   /* a blocking connect, pooled */
		return -EAGAIN;
	}
	return -err;
}

static int64_t try_rw(cio_req *req)
{
	struct cio__priv *p = P(req);
	bool rx = cio__op_has(p->op, OPF_RX);
	struct cio__step st;
	struct iovec one, *iov;
	int cnt;
	int64_t r;

	cio__step(req, &st);
	cnt = cio__step_iov(&st, &one, &iov);
	if (p->iflags & CIO__IF_SOCK) {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };

		if (rx)
			return neg(recvmsg(p->fd, &mh, MSG_DONTWAIT));
		return neg(sendmsg(p->fd, &mh, MSG_DONTWAIT));
	}
	if (rx)
		r = neg(preadv2(p->fd, iov, cnt, -1, RWF_NOWAIT));
	else
		r = neg(pwritev2(p->fd, iov, cnt, -1, RWF_NOWAIT));
	if (r == -EOPNOTSUPP) {
		/* No per-call non-blocking form for this fd. */
		p->iflags |= CIO__IF_BLOCKFD;
		return -EAGAIN;
	}
	return r;
}

/* cachestat(2) (Linux 6.5); Debian 12's headers predate it. */
#ifndef __NR_cachestat
# define __NR_cachestat 451
#endif
struct cachestat_range_v1 { uint64_t off, len; };
struct cachestat_v1 {
	uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};
static atomic_bool no_cachestat;

/* Can sendfile(2) run here without ever blocking the loop? Only if out_fd
 * is non-blocking (its own flag: sendfile has no per-call MSG_DONTWAIT;
 * read fresh each time, since the caller may change it) and every page of
 * the range is in the page cache, so no disk read can stall us. */
static bool sendfile_cannot_block(const struct cio__priv *p, const struct cio__step *st)
{
	struct cachestat_range_v1 range;
	struct cachestat_v1 cs;
	uint64_t first, last;
	unsigned page_shift;
	int fl;

	if (st->off < 0 || !st->len ||
	    atomic_load_explicit(&no_cachestat, memory_order_relaxed))
		return false;
	fl = fcntl(p->fd, F_GETFL);
	if (fl < 0 || !(fl & O_NONBLOCK))
		return false;
	range.off = (uint64_t)st->off;
	range.len = st->len;
	if (syscall(__NR_cachestat, p->a.sf.in_fd, &range, &cs, 0) < 0) {
		/* Not this kernel, or a seccomp policy says no: stop asking. */
		if (errno == ENOSYS || errno == EPERM)
			atomic_store_explicit(&no_cachestat, true, memory_order_relaxed);
		return false;
	}
	page_shift = (unsigned)__builtin_ctz((unsigned)getpagesize());
	first = range.off >> page_shift;
	last = (range.off + range.len - 1) >> page_shift;
	return cs.nr_cache >= last - first + 1;
}

static int64_t try_sendfile(cio_req *req)
{
	struct cio__priv *p = P(req);
	struct cio__step st;
	off_t off;

	cio__step(req, &st);
	if (!sendfile_cannot_block(p, &st)) {
		/* Wait for room, then run it on the pool. */
		p->iflags |= CIO__IF_BLOCKFD;
		return -EAGAIN;
	}
	off = st.off;
	return neg(sendfile(p->fd, p->a.sf.in_fd, &off, st.len));
}

/* One non-blocking attempt: the result, or -EAGAIN to wait. */
static int64_t try_op(cio_req *req)
{
	struct cio__priv *p = P(req);

	switch (p->op) {
	case CIO_OP_READ:
	case CIO_OP_WRITE:
	case CIO_OP_READV:
	case CIO_OP_WRITEV:
		return try_rw(req);
	case CIO_OP_RECV:
	case CIO_OP_SEND: {
		struct cio__step st;

		cio__step(req, &st);
		if (p->op == CIO_OP_RECV)
			return neg(recv(p->fd, st.buf, st.len, p->a.msg.flags | MSG_DONTWAIT));
		return neg(send(p->fd, st.buf, st.len, p->a.msg.flags | MSG_DONTWAIT));
	}
	case CIO_OP_RECVMSG:
		return neg(recvmsg(p->fd, p->a.msg.buf, p->a.msg.flags | MSG_DONTWAIT));
	case CIO_OP_SENDMSG:
		return neg(sendmsg(p->fd, p->a.msg.buf, p->a.msg.flags | MSG_DONTWAIT));
	case CIO_OP_ACCEPT:
		return neg(accept4(p->fd, p->a.acc.addr, p->a.acc.addrlen,
				   p->a.acc.flags));
	case CIO_OP_CONNECT:
		return try_connect(req);
	case CIO_OP_SENDFILE:
		return try_sendfile(req);
	case CIO_OP_SPLICE:
		return cio__exec(req);   /* with SPLICE_F_NONBLOCK, see below */
	case CIO_OP_POLL: {
		struct pollfd pfd = { .fd = p->fd, .events = (short)p->a.poll.events };
		int n = poll(&pfd, 1, 0);

		if (n < 0)
			return -errno;
		return n ? pfd.revents : -EAGAIN;
	}
	default:
		return -EOPNOTSUPP;
	}
}

#define SPLICE_F_KNOWN (SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | \
			SPLICE_F_GIFT)

static void splice_swap(struct cio__priv *p)
{
	int32_t fd = p->fd;

	p->fd = p->a.spl.fd_out;
	p->a.spl.fd_out = fd;
	p->iflags ^= CIO__IF_SPL_OUT;
}

static bool nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl >= 0 && (fl & O_NONBLOCK);
}

/* A splice met -EAGAIN: wait on the end that is not ready (swapping it
 * into p->fd for the backend's wait), 0; or -EAGAIN for good where the
 * caller asked for that, as splice(2) gives it: SPLICE_F_NONBLOCK, or a
 * non-blocking end. */
static int splice_pick_end(cio_req *req)
{
	struct cio__priv *p = P(req);
	struct pollfd pfd[2] = {
		{ .fd = p->fd, .events = POLLIN },
		{ .fd = p->a.spl.fd_out, .events = POLLOUT },
	};
	bool out;

	if ((p->iflags & CIO__IF_SPL_NB) || nonblocking(p->fd) ||
	    nonblocking(p->a.spl.fd_out))
		return -EAGAIN;
	if (poll(pfd, 2, 0) < 0)
		return -errno;
	/* Input first: where both look ready (a race), its wait ends at
	 * once and the call is tried again. */
	out = pfd[0].revents && !pfd[1].revents;
	if (out)
		splice_swap(p);
	return 0;
}

/* Does this splice belong to the engine? Not where splice(2) fails before
 * it could wait (no pipe, an offset on a stream, the wrong access mode,
 * ...): the pool gets those, and the kernel answers at once. Sets BLOCKFD
 * where an end has no non-blocking form. */
static bool splice_waits(cio_req *req)
{
	struct cio__priv *p = P(req);
	int in = p->fd, out = p->a.spl.fd_out;
	struct stat si, so;
	bool pin, pout, sin, sout;
	int fin, fout;

	if (!p->a.spl.len || (p->a.spl.flags & ~SPLICE_F_KNOWN) ||
	    fstat(in, &si) < 0 || fstat(out, &so) < 0)
		return false;
	fin = fcntl(in, F_GETFL);
	fout = fcntl(out, F_GETFL);
	if (fin < 0 || fout < 0 || (fin & O_ACCMODE) == O_WRONLY ||
	    (fout & O_ACCMODE) == O_RDONLY || (fout & O_APPEND))
		return false;
	pin = S_ISFIFO(si.st_mode);
	pout = S_ISFIFO(so.st_mode);
	sin = pin || S_ISSOCK(si.st_mode);
	sout = pout || S_ISSOCK(so.st_mode);
	if ((!pin && !pout) || (sin && p->a.spl.off_in != -1) ||
	    (sout && p->a.spl.off_out != -1) ||
	    (pin && pout && si.st_ino == so.st_ino && si.st_dev == so.st_dev))
		return false;
	if (!(pin || (sin && (fin & O_NONBLOCK))) ||
	    !(pout || (sout && (fout & O_NONBLOCK))))
		p->iflags |= CIO__IF_BLOCKFD;
	if (p->a.spl.flags & SPLICE_F_NONBLOCK)
		p->iflags |= CIO__IF_SPL_NB;
	p->a.spl.flags |= SPLICE_F_NONBLOCK;
	return true;
}

/* Wait for readiness again. Never runs a callback: a failure to wait is
 * reported on the next pass. */
void cio__stream_rearm(cio_req *req)
{
	struct cio__priv *p = P(req);
	struct cio_loop *loop = p->loop;
	int ret;

	p->where = CIO__W_BACKEND;
	if (p->iflags & CIO__IF_CANCELED) {
		cio__done(req, -ECANCELED, 0);
		return;
	}
	if (p->op == CIO_OP_SPLICE) {
		ret = splice_pick_end(req);
		if (ret < 0) {
			cio__done(req, ret, 0);
			return;
		}
	}
	p->iflags |= CIO__IF_WAITING;
	ret = loop->ops->wait(loop, req);
	if (ret == 0)
		return;
	p->iflags &= ~CIO__IF_WAITING;
	/* An fd epoll refuses (a regular file, /dev/null) is always ready,
	 * as poll(2) says, and is no socket: answer as the kernel would. */
	if (ret == -EPERM) {
		if (p->op == CIO_OP_POLL) {
			ret = (int)(p->a.poll.events & (POLLIN | POLLOUT |
							POLLRDNORM | POLLWRNORM));
		} else if (multishot(req) || p->op == CIO_OP_RECV_POOL) {
			ret = -ENOTSOCK;
		} else {
			p->iflags |= CIO__IF_STREAMJOB;
			ret = cio__to_pool(loop, req);
			if (ret == 0)
				return;
		}
	}
	cio__done(req, ret, 0);
}

int cio__stream_submit(struct cio_loop *loop, cio_req *req)
{
	struct cio__priv *p = P(req);
	int64_t r;
	int fl;

	p->where = CIO__W_BACKEND;
	switch (p->op) {
	case CIO_OP_SOCKET:
	case CIO_OP_SHUTDOWN:
		/* Never block: run them here. */
		cio__done(req, cio__exec(req), 0);
		return 0;
	case CIO_OP_READ:
	case CIO_OP_WRITE:
	case CIO_OP_READV:
	case CIO_OP_WRITEV:
		/* A stream's (the core sends files to the pool and marks a
		 * socket CIO__IF_SOCK). */
		break;
	case CIO_OP_SPLICE:
		if (!splice_waits(req))
			return cio__to_pool(loop, req);
		/* A caller's SPLICE_F_NONBLOCK with a file end: once, now. */
		if ((p->iflags & CIO__IF_BLOCKFD) &&
		    (p->iflags & CIO__IF_SPL_NB))
			return cio__to_pool(loop, req);
		break;
	case CIO_OP_SENDFILE:
		/* Here and now when that cannot block (see try_sendfile),
		 * saving the trip to a pool thread; else sendfile(2) on a pool
		 * thread once out_fd has room: as fast as io_uring's two linked
		 * splices through a pipe (measured), and a thread is held only
		 * while data moves. */
		break;
	case CIO_OP_ACCEPT:
		fl = fcntl(p->fd, F_GETFL);
		if (fl < 0) {
			cio__done(req, -errno, 0);
			return 0;
		}
		if (!(fl & O_NONBLOCK)) {
			int on = 0;
			socklen_t len = sizeof(on);

			/* Readiness would never come for a socket that does
			 * not listen (or cannot: SOCK_DGRAM); accept(2) says
			 * so at once. */
			if (getsockopt(p->fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) < 0 ||
			    !on) {
				cio__done(req, cio__exec(req), 0);
				return 0;
			}
			p->iflags |= CIO__IF_BLOCKFD;
		}
		break;
	default:
		break;
	}
	/* Multishot requests and polls wait first: trying now could run a
	 * callback inside the submitting call. */
	if (!multishot(req) && p->op != CIO_OP_POLL && p->op != CIO_OP_RECV_POOL &&
	    !(p->iflags & CIO__IF_BLOCKFD)) {
		bool rx = receives(p->op);

		/* Where the last receive found nothing, this one most likely
		 * will too: wait first and save the failing call. */
		if (reads_nothing(req)) {
			cio__done(req, 0, 0);
			return 0;
		}
		if (rx && cio__fd_recv_waits(loop, p->fd)) {
			cio__stream_rearm(req);
			return 0;
		}
		r = try_op(req);
		if (rx)
			cio__fd_set_recv_waits(loop, p->fd, r == -EAGAIN);
		if (!must_wait(req, r)) {
			cio__done(req, r, 0);
			return 0;
		}
	}
	cio__stream_rearm(req);
	return 0;
}

static void recv_pool_ready(cio_req *req)
{
	struct cio__priv *p = P(req);
	struct cio_bufpool *pool = p->a.rp.pool;

	for (int n = 0; n < MULTISHOT_BATCH; n++) {
		int bid = cio__bufpool_take(pool);
		char *buf;
		int64_t r;

		if (bid < 0) {
			cio__bufpool_starve(pool, req);
			return;
		}
		buf = pool->base + (size_t)bid * pool->size;
		r = neg(recv(p->fd, buf, pool->size, p->a.rp.flags | MSG_DONTWAIT));
		if (r <= 0) {
			pool->freel[pool->nfree++] = (uint32_t)bid;
			if (r == -EAGAIN)
				break;
			cio__done(req, r, 0);
			return;
		}
		cio__bufpool_lend(pool, req, (unsigned)bid);
		if (!multishot(req)) {
			cio__done(req, r, CIO_F_BUF);
			return;
		}
		cio__done(req, r, CIO_F_BUF | CIO_F_MORE);
		if (p->iflags & CIO__IF_CANCELED) {
			cio__done(req, -ECANCELED, 0);
			return;
		}
	}
	cio__stream_rearm(req);
}

static void accept_ready(cio_req *req)
{
	struct cio__priv *p = P(req);

	for (int n = 0; n < MULTISHOT_BATCH; n++) {
		int64_t r = try_op(req);

		if (r == -EAGAIN)
			break;
		if (r < 0) {
			cio__done(req, r, 0);
			return;
		}
		cio__done(req, r, 0 | CIO_F_MORE);
		if (p->iflags & CIO__IF_CANCELED) {
			cio__done(req, -ECANCELED, 0);
			return;
		}
	}
	cio__stream_rearm(req);
}

/* A call the backend made itself (a ring op) met -EAGAIN, where the fd
 * is non-blocking: wait for readiness here, then hand it back to the
 * backend (cio__stream_ready). */
void cio__stream_again(cio_req *req)
{
	P(req)->iflags |= CIO__IF_BACKEND_RETRY;
	cio__stream_rearm(req);
}

/* The backend's answer to wait(): revents, or -errno (-ECANCELED). */
void cio__stream_ready(cio_req *req, int32_t revents)
{
	struct cio__priv *p = P(req);
	int64_t r;

	p->iflags &= ~CIO__IF_WAITING;
	if (p->op == CIO_OP_SPLICE && (p->iflags & CIO__IF_SPL_OUT))
		splice_swap(p);
	if (revents < 0) {
		cio__done(req, revents, 0);
		return;
	}
	if (p->iflags & CIO__IF_CANCELED) {
		cio__done(req, -ECANCELED, 0);
		return;
	}
	if (p->iflags & CIO__IF_BACKEND_RETRY) {
		struct cio_loop *loop = p->loop;
		int ret;

		p->iflags &= ~CIO__IF_BACKEND_RETRY;
		ret = loop->ops->submit(loop, req);
		if (ret < 0)
			cio__done(req, ret, 0);
		return;
	}
	if (p->iflags & CIO__IF_BLOCKFD) {
		p->iflags |= CIO__IF_STREAMJOB;
		if (cio__to_pool(p->loop, req) < 0) {
			p->iflags &= ~CIO__IF_STREAMJOB;
			cio__done(req, -EAGAIN, 0);
		}
		return;
	}
	switch (p->op) {
	case CIO_OP_POLL:
		/* Asked afresh: on epoll the readiness may be an old file's
		 * that had this number (see epoll.c). */
		r = try_op(req);
		if (r == -EAGAIN)
			cio__stream_rearm(req);
		else
			cio__done(req, r, 0);
		return;
	case CIO_OP_RECV_POOL:
		recv_pool_ready(req);
		return;
	case CIO_OP_ACCEPT:
		if (multishot(req)) {
			accept_ready(req);
			return;
		}
		break;
	default:
		break;
	}
	r = try_op(req);
	/* A full buffer: more is likely waiting, so try first next time. */
	if (receives(p->op) && r > 0 && (uint64_t)r == wanted(req))
		cio__fd_set_recv_waits(p->loop, p->fd, false);
	if (must_wait(req, r))
		cio__stream_rearm(req);
	else
		cio__done(req, r, 0);
}

/* A stream request's call ran on the pool (after readiness). */
void cio__stream_pool_done(cio_req *req)
{
	struct cio__priv *p = P(req);

	p->iflags &= ~CIO__IF_STREAMJOB;
	p->where = CIO__W_BACKEND;
	if (cio__unlikely(req->res == -EAGAIN)) {
		/* Lost a race after readiness (another accept took the
		 * connection, a non-blocking socket filled up): wait again
		 * (rearm ends a cancelled request instead). */
		cio__stream_rearm(req);
		return;
	}
	if (multishot(req) && req->res >= 0) {
		cio__done(req, req->res, 0 | CIO_F_MORE);
		if (p->iflags & CIO__IF_CANCELED)
			cio__done(req, -ECANCELED, 0);
		else
			cio__stream_rearm(req);
		return;
	}
	cio__done(req, req->res, 0);
}

const char *cio__stream_path(const struct cio_loop *loop, int op, int fd)
{
	struct stat st;

	if (op == CIO_OP_SENDFILE) {
		/* fd: out_fd. Non-blocking, the engine calls sendfile(2) here
		 * (when the range is cached: see try_sendfile) and waits for
		 * room through the backend; blocking, the pool calls it once
		 * out_fd has room. */
		int fl = fcntl(fd, F_GETFL);

		if (fl < 0 || !(fl & O_NONBLOCK))
			return "pool";
		return loop->ops->op_path(loop, op, fd);
	}
	if (op == CIO_OP_SPLICE) {
		/* fd: the end other than the pipe. Between pipes or with a
		 * non-blocking socket the engine runs it; with anything else
		 * the pool does, once the pipe is ready. */
		int fl = fcntl(fd, F_GETFL);

		if (fstat(fd, &st) < 0 || fl < 0 ||
		    !(S_ISFIFO(st.st_mode) ||
		      (S_ISSOCK(st.st_mode) && (fl & O_NONBLOCK))))
			return "pool";
		return loop->ops->op_path(loop, op, fd);
	}
	return loop->ops->op_path(loop, op, fd);
}
