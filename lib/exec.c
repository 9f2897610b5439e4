/* SPDX-License-Identifier: MIT */
/*
 * A request's system call, run on the calling thread: by the pool's
 * workers, and by the stream engine for calls that cannot block. The same
 * calls io_uring makes, so results and errnos match the ring backend.
 * Adding an operation means a case here (and a prep in backend-uring.c).
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>      /* renameat2 */
#include <unistd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "cio-internal.h"

static int64_t neg_errno(ssize_t ret)
{
	return ret < 0 ? -(int64_t)errno : (int64_t)ret;
}

/* fchmodat2(2) (Linux 6.6); Debian 12's headers predate it. */
#ifndef __NR_fchmodat2
# define __NR_fchmodat2 452
#endif

/* fchmodat(2) with AT_SYMLINK_NOFOLLOW is the kernel's own answer only
 * through fchmodat2 (6.6+ refuses a symlink's mode with EOPNOTSUPP);
 * before it, glibc's emulation gives the same answer. */
static int64_t exec_fchmodat(cio_req *req)
{
	struct cio__priv *p = P(req);
	mode_t mode = (mode_t)p->a.chmod.mode;
	int flags = p->a.chmod.flags;

	if (flags && syscall(__NR_fchmodat2, p->fd, p->a.chmod.path, mode, flags) == 0)
		return 0;
	if (flags && errno != ENOSYS)
		return -(int64_t)errno;
	return neg_errno(fchmodat(p->fd, p->a.chmod.path, mode, flags));
}

/* A read or write, as this step of it asks (see cio__step). */
static int64_t exec_rw(cio_req *req)
{
	struct cio__priv *p = P(req);
	bool rd = cio__op_has(p->op, OPF_RX);
	struct cio__step st;
	int fd = p->fd;

	cio__step(req, &st);
	if (st.vec) {
		const struct iovec *iov = st.buf;

		if (st.off < 0)
			return neg_errno(rd ? readv(fd, iov, (int)st.len) :
					 writev(fd, iov, (int)st.len));
		return neg_errno(rd ? preadv(fd, iov, (int)st.len, st.off) :
				 pwritev(fd, iov, (int)st.len, st.off));
	}
	if (st.off < 0)
		return neg_errno(rd ? read(fd, st.buf, st.len) : write(fd, st.buf, st.len));
	return neg_errno(rd ? pread(fd, st.buf, st.len, st.off) :
			 pwrite(fd, st.buf, st.len, st.off));
}

int64_t cio__exec(cio_req *req)
{
	struct cio__priv *p = P(req);
	int fd = p->fd;

	switch (p->op) {
	case CIO_OP_NOP:
		return 0;
	case CIO_OP_READ:
	case CIO_OP_READV:
	case CIO_OP_WRITE:
	case CIO_OP_WRITEV:
		return exec_rw(req);
	case CIO_OP_FSYNC:
		return neg_errno(p->a.fsync.flags & CIO_FSYNC_DATA ?
				 fdatasync(fd) : fsync(fd));
	case CIO_OP_FALLOCATE:
		return neg_errno(fallocate(fd, p->a.falloc.mode, p->a.falloc.off,
					   p->a.falloc.len));
	case CIO_OP_FADVISE:
		/* posix_fadvise returns the error number itself. */
		return -(int64_t)posix_fadvise(fd, p->a.fadv.off, p->a.fadv.len,
					       p->a.fadv.advice);
	case CIO_OP_FTRUNCATE:
		return neg_errno(ftruncate(fd, p->a.trunc.len));
	case CIO_OP_SYNC_FILE_RANGE:
		return neg_errno(sync_file_range(fd, p->a.sfr.off, p->a.sfr.len,
						 p->a.sfr.flags));
	case CIO_OP_COPY_FILE_RANGE: {
		/* This step: past what earlier ones moved (cio__step). */
		struct cio__step st;
		int64_t out = p->a.cfr.off_out;
		off_t oi = 0, oo = 0;

		cio__step(req, &st);
		if (st.off >= 0)
			oi = st.off;
		if (out >= 0)
			oo = out + (int64_t)p->a.x.moved;
		return neg_errno(copy_file_range(fd, st.off >= 0 ? &oi : NULL,
						 p->a.cfr.fd_out, out >= 0 ? &oo : NULL,
						 st.len, 0));
	}
	case CIO_OP_OPENAT:
		return neg_errno(openat(fd, p->a.open.path, p->a.open.flags,
					(mode_t)p->a.open.mode));
	case CIO_OP_OPENAT2:
		/* glibc has no wrapper; the size is of the struct we copied. */
		return neg_errno(syscall(SYS_openat2, fd, p->a.open2.path, &p->a.open2.how,
					 sizeof(p->a.open2.how)));
	case CIO_OP_GETDENTS:
		return neg_errno(syscall(SYS_getdents64, fd, p->a.dents.buf,
					 (unsigned)p->a.dents.len));
	case CIO_OP_CLOSE:
		return neg_errno(close(fd));
	case CIO_OP_STATX:
		return neg_errno(statx(fd, p->a.stx.path, p->a.stx.flags,
				       p->a.stx.mask, p->a.stx.out));
	case CIO_OP_UNLINKAT:
		return neg_errno(unlinkat(fd, p->a.path.path, (int)p->a.path.flags));
	case CIO_OP_RENAMEAT:
		return neg_errno(renameat2(fd, p->a.path.path, p->a.path.dirfd2,
					   p->a.path.path2, p->a.path.flags));
	case CIO_OP_MKDIRAT:
		return neg_errno(mkdirat(fd, p->a.path.path, (mode_t)p->a.path.flags));
	case CIO_OP_LINKAT:
		return neg_errno(linkat(fd, p->a.path.path, p->a.path.dirfd2,
					p->a.path.path2, (int)p->a.path.flags));
	case CIO_OP_SYMLINKAT:
		return neg_errno(symlinkat(p->a.path.path2, fd, p->a.path.path));
	case CIO_OP_READLINKAT:
		return neg_errno(readlinkat(fd, p->a.rdlink.path, p->a.rdlink.buf,
					    p->a.rdlink.len));
	case CIO_OP_FCHMODAT:
		return exec_fchmodat(req);
	case CIO_OP_UTIMENSAT:
		return neg_errno(utimensat(fd, p->a.utime.path, p->a.utime.times,
					   p->a.utime.flags));
	case CIO_OP_WORK:
		p->a.work.fn(req);
		return 0;
	case CIO_OP_SOCKET:
		return neg_errno(socket(p->a.sock.domain, p->a.sock.type,
					p->a.sock.protocol));
	case CIO_OP_ACCEPT:
		return neg_errno(accept4(fd, p->a.acc.addr, p->a.acc.addrlen,
					 p->a.acc.flags));
	case CIO_OP_CONNECT:
		/* A blocking socket the stream engine could not start without
		 * waiting (see try_connect). */
		return neg_errno(connect(fd, p->a.conn.addr, p->a.conn.addrlen));
	case CIO_OP_RECV:
	case CIO_OP_SEND: {
		struct cio__step st;

		cio__step(req, &st);
		return neg_errno(p->op == CIO_OP_RECV ?
				 recv(fd, st.buf, st.len, p->a.msg.flags) :
				 send(fd, st.buf, st.len, p->a.msg.flags));
	}
	case CIO_OP_RECVMSG:
		return neg_errno(recvmsg(fd, p->a.msg.buf, p->a.msg.flags));
	case CIO_OP_SENDMSG:
		return neg_errno(sendmsg(fd, p->a.msg.buf, p->a.msg.flags));
	case CIO_OP_SHUTDOWN:
		return neg_errno(shutdown(fd, p->a.shut.how));
	case CIO_OP_SPLICE: {
		loff_t in = p->a.spl.off_in, out = p->a.spl.off_out;

		return neg_errno(splice(fd, in < 0 ? NULL : &in, p->a.spl.fd_out,
					out < 0 ? NULL : &out, p->a.spl.len,
					p->a.spl.flags));
	}
	case CIO_OP_SENDFILE: {
		struct cio__step st;
		off_t off;

		cio__step(req, &st);
		off = st.off;
		return neg_errno(sendfile(fd, p->a.sf.in_fd, off < 0 ? NULL : &off,
					  st.len));
	}
	default:
		return -EOPNOTSUPP;
	}
}
