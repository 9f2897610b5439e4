/* SPDX-License-Identifier: MIT */
/*
 * The fd-info cache: what each loop learned of an fd number, so that a
 * request costs no system call to ask again. Its entries: the O_DIRECT
 * alignment, whether the fd can seek, and two hints (a receive that found
 * nothing, a socket that refused zero copy).
 *
 * O_DIRECT rules, the same on every backend. A transfer on an O_DIRECT fd
 * whose buffer, offset or length breaks the file's direct-I/O alignment
 * completes with -EINVAL, whatever the file system would do with it: some
 * (btrfs, NFS) quietly go through the page cache instead, and a read at
 * EOF or over a hole never reaches the kernel's own check.
 *
 * The alignment comes from statx(STATX_DIOALIGN) (Linux 6.1) and, where
 * the kernel does not report it, from the logical block size of the
 * device under the file. An fd's O_DIRECT flag costs a system call to
 * learn (fcntl, ~200 ns here), too much for every request, so each loop
 * keeps what it learned per fd number. It forgets when the fd is closed
 * through the loop, cancelled with cio_cancel_fd(), or handed out again
 * by cio_openat/cio_accept/cio_socket. A stale entry can only err in two
 * ways, both harmless: "buffered" for what is now O_DIRECT leaves the
 * check to the kernel; "O_DIRECT" for what is now buffered is learned
 * again before a request is refused.
 *
 * The O_DIRECT flag decides routes too (aio takes O_DIRECT transfers,
 * inline.c only buffered ones), so a flag changed with F_SETFL after the
 * loop has seen the fd counts from cio_cancel_fd() on, which forgets it.
 *
 * The same entry says whether the fd can seek: an offset other than -1 on
 * a pipe, socket or other stream is -ESPIPE on every backend, as pread(2)
 * says, where io_uring would quietly ignore it. "A stream" is learned again
 * before a request is refused; a stale "seekable" (the number closed behind
 * the loop's back and reused by a stream) leaves the answer to the backend.
 */
#include "config.h"

#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <linux/fs.h>

#include "cio-internal.h"

enum {
	FD_UNKNOWN = 0,
	FD_BUFFERED,
	FD_DIRECT,      /* with the alignment, or 0 where none is known */
};

struct cio__fdinfo {
	uint8_t  state;
	uint8_t  mem_shift;     /* buffer addresses: 1 << mem_shift */
	uint8_t  off_shift;     /* offsets and lengths: 1 << off_shift */
	uint8_t  recv_waits;    /* the last receive on it found nothing */
	uint8_t  no_zc;         /* the kernel refused a zero-copy send on it */
	uint8_t  stream;        /* cannot seek: offsets are -ESPIPE */
	uint8_t  no_nowait;     /* 1 << rx: RWF_NOWAIT refused (inline.c) */
};

static uint8_t shift_of(unsigned v)
{
	/* Alignments are powers of two; anything else is not trusted. */
	if (v < 2 || (v & (v - 1)))
		return 0;
	return (uint8_t)__builtin_ctz(v);
}

/* The logical block size of the device holding a file, from sysfs (a
 * partition's queue is its disk's). 0 when there is none (tmpfs, NFS). */
static unsigned dev_block_size(unsigned major, unsigned minor)
{
	static const char *const fmt[] = {
		"/sys/dev/block/%u:%u/queue/logical_block_size",
		"/sys/dev/block/%u:%u/../queue/logical_block_size",
	};
	unsigned v = 0;

	for (size_t i = 0; i < sizeof(fmt) / sizeof(fmt[0]) && !v; i++) {
		char path[96];
		FILE *f;

		snprintf(path, sizeof(path), fmt[i], major, minor);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fscanf(f, "%u", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

static void learn(int fd, struct cio__fdinfo *fi)
{
	unsigned mem = 0, off = 0;
	struct statx stx;
	int fl = fcntl(fd, F_GETFL);

	memset(fi, 0, sizeof(*fi));
	if (fl < 0)
		return;              /* a bad fd: the operation will say so */
	/* What pread(2) answers with ESPIPE cannot seek either (pipes,
	 * FIFOs, sockets, ttys); SEEK_CUR by 0 moves nothing. */
	fi->stream = lseek(fd, 0, SEEK_CUR) < 0 && errno == ESPIPE;
	if (!(fl & O_DIRECT)) {
		fi->state = FD_BUFFERED;
		return;
	}
	fi->state = FD_DIRECT;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_DIOALIGN, &stx) < 0)
		return;
	if ((stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
		mem = stx.stx_dio_mem_align;
		off = stx.stx_dio_offset_align;
	} else if (S_ISBLK(stx.stx_mode)) {
		int bs = 0;

		if (ioctl(fd, BLKSSZGET, &bs) == 0 && bs > 0)
			mem = off = (unsigned)bs;
	} else if (S_ISREG(stx.stx_mode)) {
		mem = off = dev_block_size(stx.stx_dev_major, stx.stx_dev_minor);
	}
	fi->mem_shift = shift_of(mem);
	fi->off_shift = shift_of(off);
}

/* What the loop knows of fd, learned now if need be. NULL: nothing to
 * check (a bad fd, or no memory to remember it: the kernel's rule). */
static struct cio__fdinfo *lookup(struct cio_loop *loop, int fd)
{
	struct cio__fdinfo *fi;

	if (fd < 0)
		return NULL;
	if ((unsigned)fd >= loop->nfdinfo) {
		unsigned n = loop->nfdinfo ? loop->nfdinfo : 64;
		struct cio__fdinfo *t;

		while (n <= (unsigned)fd)
			n *= 2;
		t = realloc(loop->fdinfo, n * sizeof(*t));
		if (!t)
			return NULL;
		memset(t + loop->nfdinfo, 0, (n - loop->nfdinfo) * sizeof(*t));
		loop->fdinfo = t;
		loop->nfdinfo = n;
	}
	fi = &loop->fdinfo[fd];
	if (cio__unlikely(fi->state == FD_UNKNOWN))
		learn(fd, fi);
	return fi->state == FD_UNKNOWN ? NULL : fi;
}

void cio__fd_forget(struct cio_loop *loop, int fd)
{
	if (fd >= 0 && (unsigned)fd < loop->nfdinfo) {
		loop->fdinfo[fd].state = FD_UNKNOWN;
		loop->fdinfo[fd].recv_waits = 0;
		loop->fdinfo[fd].no_zc = 0;
	}
}

void cio__fd_free(struct cio_loop *loop)
{
	free(loop->fdinfo);
	loop->fdinfo = NULL;
	loop->nfdinfo = 0;
}

static bool aligned(const struct cio__fdinfo *fi, const void *buf, uint64_t len)
{
	uint64_t mmask = (1ull << fi->mem_shift) - 1;
	uint64_t omask = (1ull << fi->off_shift) - 1;

	return !((uintptr_t)buf & mmask) && !(len & omask);
}

static bool transfer_ok(const struct cio__fdinfo *fi, int op, const void *buf,
			uint64_t len, int64_t off)
{
	if (off > 0 && ((uint64_t)off & ((1ull << fi->off_shift) - 1)))
		return false;
	if (op == CIO_OP_READ || op == CIO_OP_WRITE)
		return aligned(fi, buf, len);
	/* Each piece of a vector on its own, as the block layer sees it. */
	for (uint64_t i = 0; i < len; i++) {
		const struct iovec *iov = (const struct iovec *)buf + i;

		if (!aligned(fi, iov->iov_base, iov->iov_len))
			return false;
	}
	return true;
}

int cio__check_rw(struct cio_loop *loop, int op, int fd, const void *buf,
		  uint64_t len, int64_t off)
{
	const struct cio__fdinfo *fi = lookup(loop, fd);

	if (cio__unlikely(fi && off >= 0 && fi->stream)) {
		/* About to refuse: make sure the fd is still a stream. */
		cio__fd_forget(loop, fd);
		fi = lookup(loop, fd);
		if (fi && fi->stream)
			return -ESPIPE;
	}
	if (cio__likely(!fi || fi->state != FD_DIRECT))
		return 0;
	if (transfer_ok(fi, op, buf, len, off))
		return 0;
	/* About to refuse: make sure the fd is still what we think. */
	cio__fd_forget(loop, fd);
	fi = lookup(loop, fd);
	if (!fi || fi->state != FD_DIRECT || transfer_ok(fi, op, buf, len, off))
		return 0;
	return -EINVAL;
}

/* Can fd not seek (a pipe, socket, tty)? From the cache: a stale answer
 * is possible where the number was closed behind the loop's back. */
bool cio__fd_is_stream(struct cio_loop *loop, int fd)
{
	const struct cio__fdinfo *fi = lookup(loop, fd);

	return fi && fi->stream;
}

/* A hint for the stream engine, kept here with what else the loop knows of
 * an fd: did the last receive on it find nothing and have to wait? Then
 * the next one waits for readiness first instead of trying a receive that
 * would fail (request/response traffic). A stale hint costs one epoll
 * round, never a result. */
bool cio__fd_recv_waits(struct cio_loop *loop, int fd)
{
	const struct cio__fdinfo *fi = lookup(loop, fd);

	return fi && fi->recv_waits;
}

void cio__fd_set_recv_waits(struct cio_loop *loop, int fd, bool waits)
{
	if (fd >= 0 && (unsigned)fd < loop->nfdinfo)
		loop->fdinfo[fd].recv_waits = waits;
}

/* Zero-copy sends on an fd the kernel said -EOPNOTSUPP for (AF_UNIX, for
 * one) go as plain sends from then on: CIO_ZEROCOPY is a hint. */
bool cio__fd_no_zc(struct cio_loop *loop, int fd)
{
	return fd >= 0 && (unsigned)fd < loop->nfdinfo && loop->fdinfo[fd].no_zc;
}

/* false when it could not be remembered (no memory for the table). */
bool cio__fd_set_no_zc(struct cio_loop *loop, int fd)
{
	struct cio__fdinfo *fi = lookup(loop, fd);

	if (!fi)
		return false;
	fi->no_zc = 1;
	return true;
}

/* A buffered file (or block device) the loop may try RWF_NOWAIT on, in
 * this direction: not O_DIRECT, not a stream, not refused before. */
bool cio__fd_nowait(struct cio_loop *loop, int fd, bool rx)
{
	const struct cio__fdinfo *fi = lookup(loop, fd);

	return fi && fi->state == FD_BUFFERED && !fi->stream &&
	       !(fi->no_nowait & (1u << rx));
}

void cio__fd_set_no_nowait(struct cio_loop *loop, int fd, bool rx)
{
	struct cio__fdinfo *fi = lookup(loop, fd);

	if (fi)
		fi->no_nowait |= (uint8_t)(1u << rx);
}

/* Opened (or set) O_DIRECT, as far as the loop knows. */
bool cio__fd_direct(struct cio_loop *loop, int fd)
{
	const struct cio__fdinfo *fi = lookup(loop, fd);

	return fi && fi->state == FD_DIRECT;
}
