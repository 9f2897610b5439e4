/* SPDX-License-Identifier: MIT */
/*
 * The public operations: check arguments the same way for every backend
 * (so the same mistake gives the same errno everywhere), record them in the
 * request, and pass it to cio__submit().
 */
#include "config.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/uio.h>

#include "cio-internal.h"

/* Longest single transfer accepted: what one read(2) can move is
 * MAX_RW_COUNT (2 GiB - 4 KiB) anyway, and io_uring's length is 32 bits. */
#define MAX_LEN ((uint64_t)INT32_MAX)

/* Options only where they apply; a multishot request has no single end
 * to link from or to hold to a deadline. */
static inline int check_req_opts(struct cio_loop *loop, cio_req *req, cio_cb cb,
				 uint32_t allowed)
{
	if (cio__unlikely(!loop || !req || !cb))
		return -EINVAL;
	if (cio__unlikely(P(req)->magic == CIO__INFLIGHT))
		return -EBUSY;
	if (cio__unlikely(req->opts & ~(allowed | CIO_LINK)))
		return -EINVAL;
	if (cio__unlikely((req->opts & CIO_MULTISHOT) &&
			  (req->timeout_ns || (req->opts & CIO_LINK))))
		return -EINVAL;
	return 0;
}

static inline int check_req(struct cio_loop *loop, cio_req *req, cio_cb cb)
{
	return check_req_opts(loop, req, cb, 0);
}

/* Transfers take CIO_ALL. */
static inline int check_xfer(struct cio_loop *loop, cio_req *req, cio_cb cb)
{
	return check_req_opts(loop, req, cb, CIO_ALL);
}

static inline int check_buf(const void *buf, size_t len, int64_t off)
{
	if (cio__unlikely(off < -1 || len > MAX_LEN))
		return -EINVAL;
	if (cio__unlikely(!buf && len))
		return -EFAULT;
	return 0;
}

static inline int check_rw(struct cio_loop *loop, cio_req *req, cio_cb cb,
			   const void *buf, size_t len, int64_t off)
{
	int ret = check_xfer(loop, req, cb);

	return cio__likely(!ret) ? check_buf(buf, len, off) : ret;
}

static inline int check_fixed(struct cio_loop *loop, cio_req *req, const void *buf,
			      size_t len);

/* read and write: CIO_ALL and CIO_FIXED_BUF. */
static inline int check_rw_fixed(struct cio_loop *loop, cio_req *req, cio_cb cb,
				 const void *buf, size_t len, int64_t off)
{
	int ret = check_req_opts(loop, req, cb, CIO_ALL | CIO_FIXED_BUF);

	if (cio__likely(!ret))
		ret = check_buf(buf, len, off);
	if (cio__likely(!ret))
		ret = check_fixed(loop, req, buf, len);
	return ret;
}

static int check_iov(const struct iovec *iov, int iovcnt, int64_t off)
{
	uint64_t total = 0;

	if (off < -1 || iovcnt < 0 || iovcnt > IOV_MAX)
		return -EINVAL;
	if (!iov && iovcnt)
		return -EFAULT;
	for (int i = 0; i < iovcnt; i++) {
		if (!iov[i].iov_base && iov[i].iov_len)
			return -EFAULT;
		total += iov[i].iov_len;
		if (total > MAX_LEN)
			return -EINVAL;
	}
	return 0;
}

static int submit_rw(struct cio_loop *loop, cio_req *req, int op, int fd,
		     void *buf, uint64_t len, int64_t off, cio_cb cb)
{
	struct cio__priv *p = P(req);

	p->a.rw.buf = buf;
	p->a.rw.len = (uint32_t)len;   /* <= MAX_LEN, or an iovcnt */
	p->a.rw.off = off;
	return cio__submit(loop, req, op, fd, cb);
}

/* CIO_FIXED_BUF: the bytes must lie inside one registered buffer. */
static inline int check_fixed(struct cio_loop *loop, cio_req *req, const void *buf,
			      size_t len)
{
	if (cio__likely(!(req->opts & CIO_FIXED_BUF)))
		return 0;
	return cio__fixed_index(loop, buf, len) < 0 ? -EINVAL : 0;
}

CIO_API int cio_read(cio_loop *loop, cio_req *req, int fd, void *buf, size_t len,
		     int64_t off, cio_cb cb)
{
	int ret = check_rw_fixed(loop, req, cb, buf, len, off);

	if (cio__unlikely(ret))
		return ret;
	return submit_rw(loop, req, CIO_OP_READ, fd, buf, len, off, cb);
}

CIO_API int cio_write(cio_loop *loop, cio_req *req, int fd, const void *buf,
		      size_t len, int64_t off, cio_cb cb)
{
	int ret = check_rw_fixed(loop, req, cb, buf, len, off);

	if (cio__unlikely(ret))
		return ret;
	return submit_rw(loop, req, CIO_OP_WRITE, fd, (void *)buf, len, off, cb);
}

CIO_API int cio_readv(cio_loop *loop, cio_req *req, int fd,
		      const struct iovec *iov, int iovcnt, int64_t off, cio_cb cb)
{
	int ret = check_xfer(loop, req, cb);

	if (!ret)
		ret = check_iov(iov, iovcnt, off);
	if (ret)
		return ret;
	return submit_rw(loop, req, CIO_OP_READV, fd, (void *)iov,
			 (uint64_t)iovcnt, off, cb);
}

CIO_API int cio_writev(cio_loop *loop, cio_req *req, int fd,
		       const struct iovec *iov, int iovcnt, int64_t off, cio_cb cb)
{
	int ret = check_xfer(loop, req, cb);

	if (!ret)
		ret = check_iov(iov, iovcnt, off);
	if (ret)
		return ret;
	return submit_rw(loop, req, CIO_OP_WRITEV, fd, (void *)iov,
			 (uint64_t)iovcnt, off, cb);
}

CIO_API int cio_fsync(cio_loop *loop, cio_req *req, int fd, unsigned flags,
		      cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	if (flags & ~CIO_FSYNC_DATA)
		return -EINVAL;
	P(req)->a.fsync.flags = flags;
	return cio__submit(loop, req, CIO_OP_FSYNC, fd, cb);
}

CIO_API int cio_fallocate(cio_loop *loop, cio_req *req, int fd, int mode,
			  int64_t off, int64_t len, cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	if (off < 0 || len <= 0)
		return -EINVAL;   /* what fallocate(2) says for both */
	P(req)->a.falloc.off = off;
	P(req)->a.falloc.len = len;
	P(req)->a.falloc.mode = mode;
	return cio__submit(loop, req, CIO_OP_FALLOCATE, fd, cb);
}

CIO_API int cio_ftruncate(cio_loop *loop, cio_req *req, int fd, int64_t len,
			  cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	if (len < 0)
		return -EINVAL;
	P(req)->a.trunc.len = len;
	return cio__submit(loop, req, CIO_OP_FTRUNCATE, fd, cb);
}

CIO_API int cio_fadvise(cio_loop *loop, cio_req *req, int fd, int64_t off,
			int64_t len, int advice, cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	if (off < 0 || len < 0)
		return -EINVAL;
	P(req)->a.fadv.off = off;
	P(req)->a.fadv.len = len;
	P(req)->a.fadv.advice = advice;
	return cio__submit(loop, req, CIO_OP_FADVISE, fd, cb);
}

#define SFR_FLAGS (SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | \
		   SYNC_FILE_RANGE_WAIT_AFTER)

CIO_API int cio_sync_file_range(cio_loop *loop, cio_req *req, int fd, int64_t off,
				int64_t len, unsigned flags, cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	/* What sync_file_range(2) refuses before it looks at fd. */
	if (off < 0 || len < 0 || (flags & ~SFR_FLAGS) || off > INT64_MAX - len)
		return -EINVAL;
	P(req)->a.sfr.off = off;
	P(req)->a.sfr.len = len;
	P(req)->a.sfr.flags = flags;
	return cio__submit(loop, req, CIO_OP_SYNC_FILE_RANGE, fd, cb);
}

CIO_API int cio_copy_file_range(cio_loop *loop, cio_req *req, int fd_in, int64_t off_in,
				int fd_out, int64_t off_out, size_t len, unsigned flags,
				cio_cb cb)
{
	int ret = check_xfer(loop, req, cb);

	if (ret)
		return ret;
	/* copy_file_range(2) has no flags yet: any is -EINVAL, as there. */
	if (off_in < -1 || off_out < -1 || len > MAX_LEN || flags)
		return -EINVAL;
	P(req)->a.cfr.off_in = off_in;
	P(req)->a.cfr.off_out = off_out;
	P(req)->a.cfr.fd_out = fd_out;
	P(req)->a.cfr.len = (uint32_t)len;
	return cio__submit(loop, req, CIO_OP_COPY_FILE_RANGE, fd_in, cb);
}

CIO_API int cio_openat(cio_loop *loop, cio_req *req, int dirfd, const char *path,
		       int flags, mode_t mode, cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	if (!path)
		return -EFAULT;
	P(req)->a.open.path = path;
	P(req)->a.open.flags = flags;
	P(req)->a.open.mode = mode;
	return cio__submit(loop, req, CIO_OP_OPENAT, dirfd, cb);
}

CIO_API int cio_openat2(cio_loop *loop, cio_req *req, int dirfd, const char *path,
			const struct open_how *how, cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	/* openat2(2) says EFAULT for either; flags and resolve bits are the
	 * kernel's to judge, the same for the ring and the pool. */
	if (!path || !how)
		return -EFAULT;
	P(req)->a.open2.path = path;
	P(req)->a.open2.how = *how;
	return cio__submit(loop, req, CIO_OP_OPENAT2, dirfd, cb);
}

CIO_API int cio_close(cio_loop *loop, cio_req *req, int fd, cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	return cio__submit(loop, req, CIO_OP_CLOSE, fd, cb);
}

CIO_API int cio_statx(cio_loop *loop, cio_req *req, int dirfd, const char *path,
		      int flags, unsigned mask, struct statx *out, cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	if (!path || !out)
		return -EFAULT;
	P(req)->a.stx.path = path;
	P(req)->a.stx.out = out;
	P(req)->a.stx.flags = flags;
	P(req)->a.stx.mask = mask;
	return cio__submit(loop, req, CIO_OP_STATX, dirfd, cb);
}

static int submit_path(struct cio_loop *loop, cio_req *req, int op, int dirfd,
		       const char *path, int dirfd2, const char *path2,
		       unsigned flags, cio_cb cb)
{
	struct cio__priv *p = P(req);

	p->a.path.path = path;
	p->a.path.path2 = path2;
	p->a.path.dirfd2 = dirfd2;
	p->a.path.flags = flags;
	return cio__submit(loop, req, op, dirfd, cb);
}

CIO_API int cio_unlinkat(cio_loop *loop, cio_req *req, int dirfd,
			 const char *path, int flags, cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	if (!path)
		return -EFAULT;
	return submit_path(loop, req, CIO_OP_UNLINKAT, dirfd, path, -1, NULL,
			   (unsigned)flags, cb);
}

CIO_API int cio_renameat(cio_loop *loop, cio_req *req, int olddirfd,
			 const char *oldpath, int newdirfd, const char *newpath,
			 unsigned flags, cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	if (!oldpath || !newpath)
		return -EFAULT;
	return submit_path(loop, req, CIO_OP_RENAMEAT, olddirfd, oldpath,
			   newdirfd, newpath, flags, cb);
}

CIO_API int cio_mkdirat(cio_loop *loop, cio_req *req, int dirfd,
			const char *path, mode_t mode, cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	if (!path)
		return -EFAULT;
	return submit_path(loop, req, CIO_OP_MKDIRAT, dirfd, path, -1, NULL,
			   (unsigned)mode, cb);
}

CIO_API int cio_linkat(cio_loop *loop, cio_req *req, int olddirfd,
		       const char *oldpath, int newdirfd, const char *newpath,
		       int flags, cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	if (flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	if (!oldpath || !newpath)
		return -EFAULT;
	return submit_path(loop, req, CIO_OP_LINKAT, olddirfd, oldpath,
			   newdirfd, newpath, (unsigned)flags, cb);
}

/* The request's fd is newdirfd, the one the call works in, so that
 * cio_cancel_fd(newdirfd) finds it; path is the link, path2 its target. */
CIO_API int cio_symlinkat(cio_loop *loop, cio_req *req, const char *target,
			  int newdirfd, const char *linkpath, cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	if (!target || !linkpath)
		return -EFAULT;
	return submit_path(loop, req, CIO_OP_SYMLINKAT, newdirfd, linkpath,
			   -1, target, 0, cb);
}

CIO_API int cio_readlinkat(cio_loop *loop, cio_req *req, int dirfd,
			   const char *path, char *buf, size_t len, cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	/* readlinkat(2): EINVAL for bufsiz <= 0, before the path is read. */
	if (!len || len > MAX_LEN)
		return -EINVAL;
	if (!path || !buf)
		return -EFAULT;
	P(req)->a.rdlink.path = path;
	P(req)->a.rdlink.buf = buf;
	P(req)->a.rdlink.len = len;
	return cio__submit(loop, req, CIO_OP_READLINKAT, dirfd, cb);
}

CIO_API int cio_fchmodat(cio_loop *loop, cio_req *req, int dirfd,
			 const char *path, mode_t mode, int flags, cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	if (flags & ~AT_SYMLINK_NOFOLLOW)
		return -EINVAL;
	if (!path)
		return -EFAULT;
	P(req)->a.chmod.path = path;
	P(req)->a.chmod.mode = mode;
	P(req)->a.chmod.flags = flags;
	return cio__submit(loop, req, CIO_OP_FCHMODAT, dirfd, cb);
}

CIO_API int cio_utimensat(cio_loop *loop, cio_req *req, int dirfd,
			  const char *path, const struct timespec times[2],
			  int flags, cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	if (!path)
		return -EFAULT;
	P(req)->a.utime.path = path;
	P(req)->a.utime.times = times;
	P(req)->a.utime.flags = flags;
	return cio__submit(loop, req, CIO_OP_UTIMENSAT, dirfd, cb);
}

CIO_API int cio_getdents(cio_loop *loop, cio_req *req, int fd, void *buf,
			 size_t len, cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	if (!buf && len)
		return -EFAULT;
	/* A larger buffer is only filled as far as the entries go. */
	P(req)->a.dents.buf = buf;
	P(req)->a.dents.len = (uint32_t)(len > MAX_LEN ? MAX_LEN : len);
	return cio__submit(loop, req, CIO_OP_GETDENTS, fd, cb);
}

CIO_API const struct cio_dirent *cio_dirent_next(const void *buf, size_t len,
						 size_t *pos)
{
	const size_t head = offsetof(struct cio_dirent, d_name);
	const struct cio_dirent *d;
	unsigned short reclen;
	size_t at;

	if (!buf || !pos)
		return NULL;
	at = *pos;
	/* Room for the header and one name byte, at an aligned place (the
	 * kernel's records are 8-byte multiples in an 8-byte aligned buffer). */
	if (at >= len || len - at < head + 1 ||
	    ((uintptr_t)buf + at) % _Alignof(struct cio_dirent))
		return NULL;
	d = (const struct cio_dirent *)(const void *)((const char *)buf + at);
	reclen = d->d_reclen;
	if (reclen < head + 1 || reclen > len - at ||
	    reclen % _Alignof(struct cio_dirent) ||
	    !memchr(d->d_name, '\0', reclen - head))
		return NULL;
	*pos = at + reclen;
	return d;
}

CIO_API int cio_timer(cio_loop *loop, cio_req *req, uint64_t ns, cio_cb cb)
{
	int ret = check_req(loop, req, cb);
	uint64_t now, dl;

	if (ret)
		return ret;
	/* An absolute CLOCK_MONOTONIC deadline, fixed now; a shorter
	 * req->timeout_ns ends it first, with -ETIMEDOUT. */
	now = cio__now_ns();
	P(req)->a.timer.timedout = req->timeout_ns && req->timeout_ns < ns;
	if (P(req)->a.timer.timedout)
		ns = req->timeout_ns;
	dl = ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
	P(req)->a.timer.deadline = dl;
	return cio__submit(loop, req, CIO_OP_TIMER, -1, cb);
}

CIO_API int cio_nop(cio_loop *loop, cio_req *req, cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	return cio__submit(loop, req, CIO_OP_NOP, -1, cb);
}

CIO_API int cio_work(cio_loop *loop, cio_req *req, void (*fn)(cio_req *req),
		     cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	if (!fn)
		return -EINVAL;
	P(req)->a.work.fn = fn;
	return cio__submit(loop, req, CIO_OP_WORK, -1, cb);
}

CIO_API int cio_socket(cio_loop *loop, cio_req *req, int domain, int type,
		       int protocol, cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	P(req)->a.sock.domain = domain;
	P(req)->a.sock.type = type;
	P(req)->a.sock.protocol = protocol;
	return cio__submit(loop, req, CIO_OP_SOCKET, -1, cb);
}

CIO_API int cio_accept(cio_loop *loop, cio_req *req, int fd,
		       struct sockaddr *addr, socklen_t *addrlen, int flags,
		       cio_cb cb)
{
	int ret = check_req_opts(loop, req, cb, CIO_MULTISHOT);

	if (ret)
		return ret;
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return -EINVAL;
	if (addr && !addrlen)
		return -EFAULT;
	P(req)->a.acc.addr = addr;
	P(req)->a.acc.addrlen = addrlen;
	P(req)->a.acc.flags = flags;
	return cio__submit(loop, req, CIO_OP_ACCEPT, fd, cb);
}

CIO_API int cio_connect(cio_loop *loop, cio_req *req, int fd,
			const struct sockaddr *addr, socklen_t addrlen, cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	if (!addr)
		return -EFAULT;
	P(req)->a.conn.addr = addr;
	P(req)->a.conn.addrlen = addrlen;
	return cio__submit(loop, req, CIO_OP_CONNECT, fd, cb);
}

static int submit_msg(struct cio_loop *loop, cio_req *req, int op, int fd,
		      void *buf, uint64_t len, int flags, cio_cb cb)
{
	struct cio__priv *p = P(req);

	p->a.msg.buf = buf;
	p->a.msg.len = len;
	p->a.msg.flags = flags;
	return cio__submit(loop, req, op, fd, cb);
}

CIO_API int cio_recv(cio_loop *loop, cio_req *req, int fd, void *buf,
		     size_t len, int flags, cio_cb cb)
{
	int ret = check_rw(loop, req, cb, buf, len, -1);

	if (cio__unlikely(ret))
		return ret;
	return submit_msg(loop, req, CIO_OP_RECV, fd, buf, len, flags, cb);
}

CIO_API int cio_send(cio_loop *loop, cio_req *req, int fd, const void *buf,
		     size_t len, int flags, cio_cb cb)
{
	int ret = check_req_opts(loop, req, cb, CIO_ALL | CIO_ZEROCOPY);

	if (cio__likely(!ret))
		ret = check_buf(buf, len, -1);

	if (cio__unlikely(ret))
		return ret;
	return submit_msg(loop, req, CIO_OP_SEND, fd, (void *)buf, len,
			  flags | MSG_NOSIGNAL, cb);
}

CIO_API int cio_recvmsg(cio_loop *loop, cio_req *req, int fd,
			struct msghdr *msg, int flags, cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	if (!msg)
		return -EFAULT;
	return submit_msg(loop, req, CIO_OP_RECVMSG, fd, msg, 0, flags, cb);
}

CIO_API int cio_sendmsg(cio_loop *loop, cio_req *req, int fd,
			const struct msghdr *msg, int flags, cio_cb cb)
{
	int ret = check_req_opts(loop, req, cb, CIO_ZEROCOPY);

	if (ret)
		return ret;
	if (!msg)
		return -EFAULT;
	return submit_msg(loop, req, CIO_OP_SENDMSG, fd, (void *)msg, 0,
			  flags | MSG_NOSIGNAL, cb);
}

CIO_API int cio_shutdown(cio_loop *loop, cio_req *req, int fd, int how,
			 cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	P(req)->a.shut.how = how;
	return cio__submit(loop, req, CIO_OP_SHUTDOWN, fd, cb);
}

CIO_API int cio_recv_pool(cio_loop *loop, cio_req *req, int fd,
			  cio_bufpool *pool, int flags, cio_cb cb)
{
	int ret = check_req_opts(loop, req, cb, CIO_MULTISHOT);

	if (ret)
		return ret;
	if (!pool || pool->loop != loop)
		return -EINVAL;
	P(req)->a.rp.pool = pool;
	P(req)->a.rp.flags = flags;
	ret = cio__submit(loop, req, CIO_OP_RECV_POOL, fd, cb);
	if (ret == 0)
		pool->users++;
	return ret;
}

CIO_API int cio_poll(cio_loop *loop, cio_req *req, int fd, short events,
		     cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	if (!events)
		return -EINVAL;
	P(req)->a.poll.events = (uint16_t)events;
	return cio__submit(loop, req, CIO_OP_POLL, fd, cb);
}

CIO_API int cio_splice(cio_loop *loop, cio_req *req, int fd_in, int64_t off_in,
		       int fd_out, int64_t off_out, size_t len, unsigned flags,
		       cio_cb cb)
{
	int ret = check_req(loop, req, cb);

	if (ret)
		return ret;
	if (off_in < -1 || off_out < -1 || len > MAX_LEN)
		return -EINVAL;
	P(req)->a.spl.off_in = off_in;
	P(req)->a.spl.off_out = off_out;
	P(req)->a.spl.len = (uint32_t)len;
	P(req)->a.spl.flags = flags;
	P(req)->a.spl.fd_out = fd_out;
	return cio__submit(loop, req, CIO_OP_SPLICE, fd_in, cb);
}

CIO_API int cio_sendfile(cio_loop *loop, cio_req *req, int out_fd, int in_fd,
			 int64_t off, size_t len, cio_cb cb)
{
	int ret = check_xfer(loop, req, cb);

	if (ret)
		return ret;
	if (off < -1 || len > MAX_LEN)
		return -EINVAL;
	P(req)->a.sf.off = off;
	P(req)->a.sf.len = len;
	P(req)->a.sf.in_fd = in_fd;
	return cio__submit(loop, req, CIO_OP_SENDFILE, out_fd, cb);
}
