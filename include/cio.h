/* SPDX-License-Identifier: MIT */
/*
 * libcio: one completion-based asynchronous I/O interface for Linux.
 *
 * Hand the loop an operation, a buffer and a callback; the callback runs
 * exactly once, on the loop's thread, from inside cio_run(), when the work
 * is done. Underneath: io_uring, or epoll plus a shared thread pool.
 *
 * Conventions (see cio(7)):
 *  - every call that can fail returns >= 0 on success and -errno on failure;
 *    errno is never read or set for results;
 *  - an operation that returns 0 was accepted and its callback runs exactly
 *    once later; one that returns < 0 was rejected and its callback never runs;
 *  - the caller owns the request, its buffers and paths until the final
 *    callback has started.
 */
#ifndef CIO_H
#define CIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CIO_VERSION_MAJOR 0
#define CIO_VERSION_MINOR 1
#define CIO_VERSION_PATCH 0

#if defined(__GNUC__) && !defined(CIO_NO_VISIBILITY)
# define CIO_API __attribute__((visibility("default")))
#else
# define CIO_API
#endif

typedef struct cio_loop cio_loop;
typedef struct cio_req cio_req;
typedef struct cio_bufpool cio_bufpool;   /* provided buffers, see cio_recv_pool */
typedef void (*cio_cb)(cio_req *req);

/*
 * A request. Caller-allocated (stack, struct member, pool); the library
 * never allocates per request. Zero it (or set the caller fields) before
 * first use; after the final callback has started it may be reused.
 */
struct cio_req {
	/* set by the caller before submitting; the library never changes them */
	void     *data;        /* user pointer */
	uint64_t  timeout_ns;  /* 0: none; else the operation ends with
	                          -ETIMEDOUT if not done this long after
	                          submission (not with CIO_MULTISHOT) */
	uint32_t  opts;        /* request options, CIO_* below; 0 for none */
	/* set by the library before each callback */
	uint32_t  flags;       /* CIO_F_* */
	int64_t   res;         /* >= 0 result, < 0 -errno */
	void     *buf;         /* with CIO_F_BUF: the provided buffer to read */
	/* private state follows; do not touch */
	uint64_t  cio__private[11];
};

/* Callback flags (req->flags). */
#define CIO_F_MORE  (1u << 0)   /* more callbacks follow (multishot) */
#define CIO_F_BUF   (1u << 1)   /* req->buf points into a provided-buffer pool */

/* Request options (req->opts). */
#define CIO_ALL       (1u << 0)  /* read, write, readv, writev, recv, send,
                                    sendfile: go on after a short transfer
                                    until all is moved, EOF or an error;
                                    see cio_transferred() */
#define CIO_LINK      (1u << 1)  /* the next request submitted on this loop
                                    starts only once this one succeeds; if
                                    it fails, that one ends with -ECANCELED */
#define CIO_FIXED_BUF (1u << 2)  /* read, write: buf lies inside a buffer
                                    registered with cio_register_buffers */
#define CIO_MULTISHOT (1u << 3)  /* accept, recv_pool: keep delivering until
                                    cancelled or an error (CIO_F_MORE) */
#define CIO_ZEROCOPY  (1u << 4)  /* send, sendmsg: zero-copy where the
                                    backend can; the one callback runs once
                                    the buffer may be reused */

/* cio_run() modes. */
enum {
	CIO_RUN_DEFAULT = 0,    /* until nothing is pending or cio_stop() */
	CIO_RUN_ONCE    = 1,    /* wait for at least one completion, run callbacks */
	CIO_RUN_NOWAIT  = 2,    /* run what is ready, never block */
};

/* cio_loop_opts.flags */
#define CIO_LOOP_SQPOLL (1u << 0)  /* io_uring: a kernel thread polls the
                                     submission queue (ignored elsewhere) */

/* cio_fsync() flags */
#define CIO_FSYNC_DATA  (1u << 0)  /* fdatasync semantics */

/* Operation codes, for cio_op_path(). */
enum {
	CIO_OP_NOP = 0,
	CIO_OP_READ,
	CIO_OP_WRITE,
	CIO_OP_READV,
	CIO_OP_WRITEV,
	CIO_OP_FSYNC,
	CIO_OP_FALLOCATE,
	CIO_OP_FTRUNCATE,
	CIO_OP_OPENAT,
	CIO_OP_CLOSE,
	CIO_OP_STATX,
	CIO_OP_UNLINKAT,
	CIO_OP_RENAMEAT,
	CIO_OP_MKDIRAT,
	CIO_OP_TIMER,
	CIO_OP_WORK,
	CIO_OP_POST,
	CIO_OP_SOCKET,
	CIO_OP_ACCEPT,
	CIO_OP_CONNECT,
	CIO_OP_RECV,
	CIO_OP_SEND,
	CIO_OP_RECVMSG,
	CIO_OP_SENDMSG,
	CIO_OP_SHUTDOWN,
	CIO_OP_RECV_POOL,
	CIO_OP_POLL,
	CIO_OP_SPLICE,
	CIO_OP_SENDFILE,
	CIO_OP_FADVISE,
	CIO_OP_LINKAT,
	CIO_OP_SYMLINKAT,
	CIO_OP_READLINKAT,
	CIO_OP_FCHMODAT,
	CIO_OP_UTIMENSAT,
	CIO_OP_SYNC_FILE_RANGE,
	CIO_OP_COPY_FILE_RANGE,
	CIO_OP_OPENAT2,
	CIO_OP_GETDENTS,
	CIO_OP__COUNT
};

struct cio_loop_opts {
	unsigned    entries;           /* queue size hint; 0 = default (256) */
	unsigned    flags;             /* CIO_LOOP_* */
	unsigned    sqpoll_idle_ms;    /* SQPOLL thread idles out after; 0 = 100 */
	const char *backend;           /* NULL or "auto", "uring", "aio", "pool" */
	unsigned    pool_max_threads;  /* raise the process-wide pool's thread
	                                  limit to this (at most 1024); 0 = leave
	                                  it (64; env CIO_POOL_MAX overrides) */
};

struct cio_stats {
	uint64_t submitted;      /* requests accepted */
	uint64_t completed;      /* final callbacks run */
	uint64_t inflight;       /* accepted, final callback not yet run */
	uint64_t kernel_enters;  /* io_uring_enter / epoll_wait calls */
	uint64_t pool_jobs;      /* requests run on the thread pool */
	uint64_t pool_threads;   /* threads in the shared pool right now */
	uint64_t fallbacks;      /* requests sent to the pool because the backend lacks the op */
	uint64_t cq_overflows;   /* times the kernel reported a completion-queue overflow */
	uint64_t sq_full;        /* submissions queued in user space because the SQ was full */
	uint64_t timeouts;       /* operations whose deadline (timeout_ns) passed */
	uint64_t faults;         /* faults injected (CIO_FAULTS) */
	uint64_t inline_ops;     /* file reads/writes done on the loop thread (RWF_NOWAIT) */
	uint64_t reserved[4];
};

/* Library version string "MAJOR.MINOR.PATCH". Never fails. */
CIO_API const char *cio_version(void);

/* Create a loop. opts may be NULL. Returns 0 and sets *loopp, or -errno. */
CIO_API int cio_loop_new(cio_loop **loopp, const struct cio_loop_opts *opts);
/* Free an idle loop. Returns 0, or -EBUSY while requests are pending. */
CIO_API int cio_loop_free(cio_loop *loop);
/* Run callbacks. Returns the number of requests still pending, or -errno. */
CIO_API int cio_run(cio_loop *loop, int mode);
/* Run until at least one callback has run or ns nanoseconds have passed
 * (0: one pass that never blocks). Returns the number of requests still
 * pending, or -errno; a timeout is not an error. */
CIO_API int cio_run_timeout(cio_loop *loop, uint64_t ns);
/* Make the running (or next) cio_run() return soon. Never fails. */
CIO_API void cio_stop(cio_loop *loop);
/* The backend in use: "uring", "uring+sqpoll", "aio" or "pool". */
CIO_API const char *cio_backend(const cio_loop *loop);
/* How op on fd would run now: "ring", "epoll" or "pool"; NULL for a bad op. */
CIO_API const char *cio_op_path(const cio_loop *loop, int op, int fd);
/* A pollable fd, readable when cio_run(NOWAIT) has work. Returns fd or -errno. */
CIO_API int cio_loop_fd(cio_loop *loop);
/* Thread-safe: run cb(req) on the loop thread. Returns 0 (cb runs once) or -errno. */
CIO_API int cio_post(cio_loop *loop, cio_req *req, cio_cb cb);
/* Copy the loop's counters into *out. Returns 0 or -EINVAL. */
CIO_API int cio_loop_stats(const cio_loop *loop, struct cio_stats *out);
/* Bytes the request's last operation moved: res when res >= 0; with
 * CIO_ALL after an error, what moved before it (else 0). Valid from its
 * final callback until the request is submitted again. Never fails. */
CIO_API int64_t cio_transferred(const cio_req *req);

/*
 * Operations. Each returns 0 when accepted (cb runs exactly once later) or
 * -errno when rejected (cb never runs); "0 or -errno" below means that.
 * The result arrives in req->res: >= 0 as stated, or -errno.
 * off = -1 means the current position.
 */
/* Read up to len bytes into buf; res = bytes read, 0 at EOF. 0 or -errno. */
CIO_API int cio_read(cio_loop *loop, cio_req *req, int fd, void *buf, size_t len,
		     int64_t off, cio_cb cb);
/* Write up to len bytes from buf; res = bytes written. 0 or -errno. */
CIO_API int cio_write(cio_loop *loop, cio_req *req, int fd, const void *buf,
		      size_t len, int64_t off, cio_cb cb);
/* Scatter read into iov[iovcnt]; res = bytes read. 0 or -errno. */
CIO_API int cio_readv(cio_loop *loop, cio_req *req, int fd,
		      const struct iovec *iov, int iovcnt, int64_t off, cio_cb cb);
/* Gather write from iov[iovcnt]; res = bytes written. 0 or -errno. */
CIO_API int cio_writev(cio_loop *loop, cio_req *req, int fd,
		       const struct iovec *iov, int iovcnt, int64_t off, cio_cb cb);
/* Flush fd to storage (CIO_FSYNC_DATA: data only); res = 0. 0 or -errno. */
CIO_API int cio_fsync(cio_loop *loop, cio_req *req, int fd, unsigned flags,
		      cio_cb cb);
/* fallocate(2) mode over [off, off+len); res = 0. 0 or -errno. */
CIO_API int cio_fallocate(cio_loop *loop, cio_req *req, int fd, int mode,
			  int64_t off, int64_t len, cio_cb cb);
/* Set fd's size to len; res = 0. 0 or -errno. */
CIO_API int cio_ftruncate(cio_loop *loop, cio_req *req, int fd, int64_t len,
			  cio_cb cb);
/* posix_fadvise(2) advice for [off, off+len) (len 0: to the end); res = 0.
 * 0 or -errno. */
CIO_API int cio_fadvise(cio_loop *loop, cio_req *req, int fd, int64_t off,
			int64_t len, int advice, cio_cb cb);
/* sync_file_range(2) of [off, off+len) (len 0: to the end) with
 * SYNC_FILE_RANGE_* flags; res = 0. 0 or -errno. */
CIO_API int cio_sync_file_range(cio_loop *loop, cio_req *req, int fd, int64_t off,
				int64_t len, unsigned flags, cio_cb cb);
/* copy_file_range(2) of up to len bytes from fd_in at off_in to fd_out at
 * off_out (-1: the file position); flags must be 0; res = bytes copied,
 * 0 at fd_in's end. CIO_ALL: the whole length. 0 or -errno. */
CIO_API int cio_copy_file_range(cio_loop *loop, cio_req *req, int fd_in, int64_t off_in,
				int fd_out, int64_t off_out, size_t len, unsigned flags,
				cio_cb cb);
/* openat(2); res = the new fd. 0 or -errno. */
CIO_API int cio_openat(cio_loop *loop, cio_req *req, int dirfd, const char *path,
		       int flags, mode_t mode, cio_cb cb);
struct open_how;   /* <linux/openat2.h> */
/* openat2(2) with *how (RESOLVE_* honoured), copied before the call returns;
 * res = the new fd. 0 or -errno. */
CIO_API int cio_openat2(cio_loop *loop, cio_req *req, int dirfd, const char *path,
			const struct open_how *how, cio_cb cb);
/* close(2) fd; res = 0. 0 or -errno. */
CIO_API int cio_close(cio_loop *loop, cio_req *req, int fd, cio_cb cb);
struct statx;
/* statx(2) into *out; res = 0. 0 or -errno. */
CIO_API int cio_statx(cio_loop *loop, cio_req *req, int dirfd, const char *path,
		      int flags, unsigned mask, struct statx *out, cio_cb cb);
/* unlinkat(2) (AT_REMOVEDIR for a directory); res = 0. 0 or -errno. */
CIO_API int cio_unlinkat(cio_loop *loop, cio_req *req, int dirfd,
			 const char *path, int flags, cio_cb cb);
/* renameat2(2) with flags; res = 0. 0 or -errno. */
CIO_API int cio_renameat(cio_loop *loop, cio_req *req, int olddirfd,
			 const char *oldpath, int newdirfd, const char *newpath,
			 unsigned flags, cio_cb cb);
/* mkdirat(2); res = 0. 0 or -errno. */
CIO_API int cio_mkdirat(cio_loop *loop, cio_req *req, int dirfd,
			const char *path, mode_t mode, cio_cb cb);
/* linkat(2) (flags: AT_SYMLINK_FOLLOW, AT_EMPTY_PATH); res = 0. 0 or -errno. */
CIO_API int cio_linkat(cio_loop *loop, cio_req *req, int olddirfd,
		       const char *oldpath, int newdirfd, const char *newpath,
		       int flags, cio_cb cb);
/* symlinkat(2): linkpath in newdirfd, pointing at target; res = 0.
 * 0 or -errno. */
CIO_API int cio_symlinkat(cio_loop *loop, cio_req *req, const char *target,
			  int newdirfd, const char *linkpath, cio_cb cb);
/* readlinkat(2) into buf (no NUL added); res = the bytes placed, at most
 * len. 0 or -errno. */
CIO_API int cio_readlinkat(cio_loop *loop, cio_req *req, int dirfd,
			   const char *path, char *buf, size_t len, cio_cb cb);
/* fchmodat(2) (flags: AT_SYMLINK_NOFOLLOW); res = 0. 0 or -errno. */
CIO_API int cio_fchmodat(cio_loop *loop, cio_req *req, int dirfd,
			 const char *path, mode_t mode, int flags, cio_cb cb);
/* utimensat(2) (times NULL: both now; flags: AT_SYMLINK_NOFOLLOW,
 * AT_EMPTY_PATH); res = 0. 0 or -errno. */
CIO_API int cio_utimensat(cio_loop *loop, cio_req *req, int dirfd,
			  const char *path, const struct timespec times[2],
			  int flags, cio_cb cb);

/*
 * A directory entry as cio_getdents() leaves it in the caller's buffer:
 * the kernel's struct linux_dirent64, so cio_dirent_next() returns
 * pointers into that buffer. d_name is NUL-terminated; d_reclen is the
 * whole record's size. C++ has no flexible array member: GCC and Clang
 * accept it there as an extension, hence the markings.
 */
#if defined(__cplusplus) && defined(__clang__)
# pragma clang diagnostic push
# pragma clang diagnostic ignored "-Wc99-extensions"
#endif
struct cio_dirent {
	uint64_t       d_ino;      /* inode number */
	int64_t        d_off;      /* the directory's own cookie: opaque */
	unsigned short d_reclen;   /* bytes of this record */
	unsigned char  d_type;     /* DT_* (<dirent.h>); DT_UNKNOWN: ask statx */
#ifdef __GNUC__
	__extension__
#endif
	char           d_name[];   /* NUL-terminated */
};
#if defined(__cplusplus) && defined(__clang__)
# pragma clang diagnostic pop
#endif
/* getdents64(2): fill buf (8-byte aligned) with entries of the directory fd
 * from its current position; res = bytes filled, 0 at the end. Walk them
 * with cio_dirent_next(). 0 or -errno. */
CIO_API int cio_getdents(cio_loop *loop, cio_req *req, int fd, void *buf,
			 size_t len, cio_cb cb);
/* The entry at *pos in the len bytes cio_getdents() filled, advancing *pos
 * past it (start with *pos = 0); NULL at the end, and for a record that
 * would reach past len or is malformed. Never reads past buf + len. */
CIO_API const struct cio_dirent *cio_dirent_next(const void *buf, size_t len,
						 size_t *pos);

/*
 * Sockets. They and every other stream (pipe, tty, eventfd) also take
 * cio_read/write/readv/writev with off = -1. Blocking and non-blocking fds
 * both work; the library never changes an fd's flags (but for cio_connect
 * on a blocking socket without io_uring, which sets O_NONBLOCK around its
 * connect(2) call and puts the flags back at once). cio_send and
 * cio_sendmsg add MSG_NOSIGNAL: a broken connection is -EPIPE, not SIGPIPE.
 */
/* socket(2); res = the new fd. 0 or -errno. */
CIO_API int cio_socket(cio_loop *loop, cio_req *req, int domain, int type,
		       int protocol, cio_cb cb);
/* Accept a connection (CIO_MULTISHOT: many); res = its fd. 0 or -errno. */
CIO_API int cio_accept(cio_loop *loop, cio_req *req, int fd,
		       struct sockaddr *addr, socklen_t *addrlen, int flags,
		       cio_cb cb);
/* Connect fd to addr; res = 0. 0 or -errno. */
CIO_API int cio_connect(cio_loop *loop, cio_req *req, int fd,
			const struct sockaddr *addr, socklen_t addrlen, cio_cb cb);
/* Receive into buf; res = bytes, 0 when the peer shut down. 0 or -errno. */
CIO_API int cio_recv(cio_loop *loop, cio_req *req, int fd, void *buf,
		     size_t len, int flags, cio_cb cb);
/* Send from buf; res = bytes sent. 0 or -errno. */
CIO_API int cio_send(cio_loop *loop, cio_req *req, int fd, const void *buf,
		     size_t len, int flags, cio_cb cb);
/* recvmsg(2) into *msg; res = bytes received. 0 or -errno. */
CIO_API int cio_recvmsg(cio_loop *loop, cio_req *req, int fd,
			struct msghdr *msg, int flags, cio_cb cb);
/* sendmsg(2) from *msg; res = bytes sent. 0 or -errno. */
CIO_API int cio_sendmsg(cio_loop *loop, cio_req *req, int fd,
			const struct msghdr *msg, int flags, cio_cb cb);
/* shutdown(2) how (SHUT_RD, SHUT_WR, SHUT_RDWR); res = 0. 0 or -errno. */
CIO_API int cio_shutdown(cio_loop *loop, cio_req *req, int fd, int how,
			 cio_cb cb);
/* Receive into a buffer the library picks from pool: the callback sees
 * CIO_F_BUF and req->buf; give the buffer back with cio_bufpool_put().
 * res = bytes received. 0 or -errno. */
CIO_API int cio_recv_pool(cio_loop *loop, cio_req *req, int fd,
			  cio_bufpool *pool, int flags, cio_cb cb);
/* Wait until fd is ready for events (POLLIN, ...): res = revents. 0 or -errno. */
CIO_API int cio_poll(cio_loop *loop, cio_req *req, int fd, short events,
		     cio_cb cb);

/* splice(2) up to len bytes (one side a pipe; off = -1: the current
 * position, which pipes need); res = bytes moved. 0 or -errno. */
CIO_API int cio_splice(cio_loop *loop, cio_req *req, int fd_in, int64_t off_in,
		       int fd_out, int64_t off_out, size_t len, unsigned flags,
		       cio_cb cb);
/* len bytes of in_fd from off (-1: its position) to out_fd; res = bytes sent,
 * which may be fewer than len, as with sendfile(2). 0 or -errno. */
CIO_API int cio_sendfile(cio_loop *loop, cio_req *req, int out_fd, int in_fd,
			 int64_t off, size_t len, cio_cb cb);

/*
 * Provided buffers: count buffers of size bytes, owned by one loop.
 * put gives a buffer a callback lent back; free fails with -EBUSY while
 * buffers are lent out or a recv_pool request uses the pool.
 */
/* A pool of count buffers of size bytes; sets *poolp. Returns 0 or -errno. */
CIO_API int cio_bufpool_new(cio_loop *loop, cio_bufpool **poolp, unsigned count,
			    size_t size);
/* Give back a buffer a callback received (req->buf). Never fails. */
CIO_API void cio_bufpool_put(cio_bufpool *pool, void *buf);
/* Free the pool. Returns 0, or -EBUSY while it is in use. */
CIO_API int cio_bufpool_free(cio_bufpool *pool);

/*
 * Registered buffers: memory the kernel maps once (io_uring READ_FIXED /
 * WRITE_FIXED) for reads and writes with CIO_FIXED_BUF. One set per loop.
 * Returns 0 or -errno (-EBUSY: a set is registered; -ENOMEM: the memlock
 * limit refuses it). Elsewhere than io_uring the set is only checked.
 */
CIO_API int cio_register_buffers(cio_loop *loop, const struct iovec *iov,
				 unsigned n);
/* Returns 0, -ENXIO if none are registered, -EBUSY while a CIO_FIXED_BUF
 * request is pending. */
CIO_API int cio_unregister_buffers(cio_loop *loop);

/* A timer: res = 0 when it fires ns nanoseconds after submission.
 * 0 or -errno. */
CIO_API int cio_timer(cio_loop *loop, cio_req *req, uint64_t ns, cio_cb cb);
/* Completes with res = 0 on the next loop iteration. 0 or -errno. */
CIO_API int cio_nop(cio_loop *loop, cio_req *req, cio_cb cb);
/* Run fn(req) on a pool thread, then cb(req) on the loop; res = 0.
 * 0 or -errno. */
CIO_API int cio_work(cio_loop *loop, cio_req *req, void (*fn)(cio_req *req),
		     cio_cb cb);

/* Start cancelling target. Returns 0, or -ENOENT if it is not pending.
 * target's callback still runs exactly once: -ECANCELED or its real result. */
CIO_API int cio_cancel(cio_loop *loop, cio_req *target);
/* Start cancelling every pending request on fd (as its fd, or either fd of
 * a splice or sendfile). Returns how many, or -errno. Once their callbacks
 * have run, closing fd is safe. */
CIO_API int cio_cancel_fd(cio_loop *loop, int fd);
/* Start cancelling every pending request. Returns how many, or -errno. */
CIO_API int cio_cancel_all(cio_loop *loop);

#ifdef __cplusplus
}
#endif

#endif /* CIO_H */
