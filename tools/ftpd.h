/* SPDX-License-Identifier: MIT */
/*
 * cio-ftpd's shared state: a session (one control connection and what it
 * drives) and the few helpers the command files share. See cio-ftpd.c.
 */
#ifndef FTPD_H
#define FTPD_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>

#include <cio.h>

#define NS_PER_S  1000000000ull
#define CMD_MAX   1024            /* a command line with its CRLF */
#define OUT_MAX   (16 * 1024)     /* replies waiting to be sent */
/* Commands wait while more than this is unsent: what is left holds any
 * one command's replies (the longest, MLST's, names a path twice). */
#define OUT_PAUSE (OUT_MAX - 2 * PATH_MAX - 1024)
#define XBUF      (256 * 1024)    /* a transfer's buffer */
#define DENTS     (32 * 1024)     /* cio_getdents buffer */
#define CHUNK     (4u << 20)      /* bytes per cio_sendfile (CIO_ALL) */
#define PIPE_SIZE (256u << 10)    /* STOR's splice pipe, when the quota allows */

struct sess;
typedef void (*step_fn)(struct sess *s, int64_t res);

/* One request slot: a session has one per kind of work that may run at
 * the same time, so every request is a member and nothing is allocated
 * per operation. k continues once it calls back. */
struct slot {
	cio_req  req;
	step_fn  k;
	bool     armed;
	bool     opens;    /* its result is a new fd, closed if the session went */
};

enum xkind { X_RETR = 1, X_STOR, X_APPE, X_STOU, X_LIST, X_NLST, X_MLSD };

struct worker;

struct sess {
	struct worker *w;
	struct sess   *prev, *next;
	int            fd, pasv_fd, data_fd, file_fd, dir_fd, tmp_fd, tmp_fd2;
	int            pipe_r, pipe_w;   /* STOR's splice pipe, or -1 */
	struct slot    r, o, a, d, f;  /* control read, control write (out),
	                                  passive accept, data, file ops */
	unsigned       pending;        /* requests whose callback has not run */
	unsigned       depth;          /* callbacks on the stack: free only at 0 */
	bool           closing, quit, lingering, linger_cancel, busy, in_process, out_wait;
	size_t         lingered;
	bool           logged_in, rw, anon, ascii, have_rnfr, port_set;
	bool           xfer, aborting, sent150, xfile_err, want_data, repasv_epsv;
	int            repasv;         /* a PASV/EPSV waits for the old accept */
	int            fails;
	int            xkind;
	int64_t        xerr;
	uint64_t       rest, off, left, moved;
	size_t         xlen, dlen, dpos, wlen;   /* wlen: bytes in the pipe */
	bool           cr_pending;
	bool           up_eof;         /* an upload's data ended */
	size_t         up_fill;        /* received, to be written (or spliced) */
	step_fn        k_after, dk;
	const char    *base, *base2;   /* last components, inside path / path2 */
	struct sockaddr_storage peer, local, port_addr;
	socklen_t      peer_len, local_len, port_len;
	struct statx  *stx;
	char          *xbuf;           /* XBUF bytes, then DENTS, 8-aligned */
	char          *dents;
	uint32_t       mode;           /* SITE CHMOD */
	struct timespec times[2];      /* MFMT */
	bool           login_ok, user_known;
	const char    *hash;
	char           user[64];
	char           ip[INET6_ADDRSTRLEN];
	char           cwd[PATH_MAX];  /* below the root, no leading '/'; "" is it */
	char           path[PATH_MAX], path2[PATH_MAX], pbuf[PATH_MAX], rnfr[PATH_MAX];
	char           arg[CMD_MAX];
	char           in[CMD_MAX];
	size_t         inlen;
	char           out[OUT_MAX];
	size_t         outlen, outsent;
};

extern int root_fd;
extern struct ftpd_opts {
	const char *root, *listen, *backend, *users, *user, *group;
	unsigned    threads, max_conns, max_per_ip;
	bool        fsync, no_anon;
	uint64_t    idle_ns, data_ns, pasv_ns, drain_ns;
} opt;

/* cio-ftpd.c */
void on_slot(cio_req *req);
void sess_free_if_done(struct sess *s);
void pasv_resume(struct sess *s);
bool same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
struct cio_loop *sess_loop(struct sess *s);
void reply(struct sess *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void reply_err(struct sess *s, int code, int64_t err);
void finish(struct sess *s);
void prep(struct sess *s, struct slot *sl, step_fn k, uint32_t opts, uint64_t timeout_ns);
void submitted(struct sess *s, struct slot *sl, int ret);
bool stopping(struct sess *s);

/* ftpd-fs.c */
int resolve_path(const struct sess *s, const char *arg, char *out);
void cmd_cwd(struct sess *s, const char *arg);
void cmd_stat_kind(struct sess *s, const char *arg, int what);
void cmd_dele(struct sess *s, const char *arg, bool dir);
void cmd_mkd(struct sess *s, const char *arg);
void cmd_rnfr(struct sess *s, const char *arg);
void cmd_rnto(struct sess *s, const char *arg);
void cmd_mfmt(struct sess *s, const char *arg);
void cmd_chmod(struct sess *s, const char *arg);
void xfer_begin(struct sess *s, int kind, const char *arg);
void xfer_abort(struct sess *s);
void data_reset(struct sess *s);
void on_pasv_accept(struct sess *s, int64_t res);

enum { ST_SIZE = 1, ST_MDTM, ST_MLST, ST_RNFR };

#endif
