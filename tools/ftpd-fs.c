/* SPDX-License-Identifier: MIT */
/*
 * cio-ftpd's file side: paths below the root, the commands that look at
 * or change names, and the transfers (RETR, STOR, APPE, STOU, LIST, NLST,
 * MLSD) over the data connection.
 *
 * A client's path is made absolute against the session's directory and
 * its "." and ".." are folded lexically, never above the root; what is
 * left is opened with cio_openat2 and RESOLVE_BENEATH on the root's
 * descriptor, so the kernel refuses any symlink or ".." that would leave
 * it. Operations on a name open its parent that way and act on the one
 * last component, which holds no '/' and is not "." or "..".
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ftpd.h"

/* ---- paths ---- */

/* The path below the root that arg names from the session's directory:
 * "" for the root itself, else "a/b". 0, or -ENAMETOOLONG. */
int resolve_path(const struct sess *s, const char *arg, char *out)
{
	char tmp[2 * PATH_MAX + 2];
	size_t n = 0;
	int len;

	if (arg[0] == '/')
		len = snprintf(tmp, sizeof(tmp), "%s", arg);
	else
		len = snprintf(tmp, sizeof(tmp), "%s/%s", s->cwd, arg);
	if (len < 0 || (size_t)len >= sizeof(tmp))
		return -ENAMETOOLONG;
	for (char *p = tmp, *seg; *p; ) {
		size_t sl;

		while (*p == '/')
			p++;
		seg = p;
		while (*p && *p != '/')
			p++;
		sl = (size_t)(p - seg);
		if (sl == 0 || (sl == 1 && seg[0] == '.'))
			continue;
		if (sl == 2 && seg[0] == '.' && seg[1] == '.') {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
			continue;
		}
		if (n + (n > 0) + sl >= PATH_MAX)
			return -ENAMETOOLONG;
		if (n > 0)
			out[n++] = '/';
		memcpy(out + n, seg, sl);
		n += sl;
	}
	out[n] = '\0';
	return 0;
}

static const char *rel(const char *p) { return p[0] ? p : "."; }

/* Open path below the root; k gets the fd or -errno. */
static void open_beneath(struct sess *s, const char *path, uint64_t flags, uint64_t mode,
			 step_fn k)
{
	struct open_how how = {
		.flags = flags | O_CLOEXEC,
		.mode = mode,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};

	prep(s, &s->f, k, 0, 0);
	s->f.opens = true;
	submitted(s, &s->f, cio_openat2(sess_loop(s), &s->f.req, root_fd, rel(path), &how,
					on_slot));
}

/* Split path (in place, "a/b/c") into its parent, opened below the root,
 * and *base; k gets the parent's fd. The root itself has no parent. */
static void open_parent(struct sess *s, char *path, const char **base, step_fn k)
{
	char *slash = strrchr(path, '/');

	if (!path[0]) {
		k(s, -EPERM);
		return;
	}
	if (slash) {
		*base = slash + 1;
		memcpy(s->pbuf, path, (size_t)(slash - path));
		s->pbuf[slash - path] = '\0';
	} else {
		*base = path;
		s->pbuf[0] = '\0';
	}
	open_beneath(s, s->pbuf, O_PATH | O_DIRECTORY, 0, k);
}

static int path_arg(struct sess *s, const char *arg, char *out)
{
	int ret = resolve_path(s, arg, out);

	if (ret < 0)
		reply(s, "553 File name too long.");
	return ret;
}

/* ---- CWD ---- */

static void cwd_opened(struct sess *s, int64_t res)
{
	if (res < 0) {
		reply_err(s, 550, res);
	} else {
		close((int)res);
		memcpy(s->cwd, s->path, strlen(s->path) + 1);
		reply(s, "250 Directory successfully changed.");
	}
	finish(s);
}

void cmd_cwd(struct sess *s, const char *arg)
{
	if (path_arg(s, arg, s->path) < 0)
		return;
	s->busy = true;
	open_beneath(s, s->path, O_PATH | O_DIRECTORY, 0, cwd_opened);
}

/* ---- SIZE, MDTM, MLST, RNFR: look at one name ---- */

static void fmt_time(char *buf, size_t len, int64_t sec)
{
	time_t t = (time_t)sec;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y%m%d%H%M%S", &tm);
}

static int fmt_facts(const struct sess *s, const struct statx *st, char *buf, size_t len)
{
	char mt[32];
	bool dir = S_ISDIR(st->stx_mode);

	fmt_time(mt, sizeof(mt), st->stx_mtime.tv_sec);
	return snprintf(buf, len, "type=%s;size=%llu;modify=%s;perm=%s;",
			dir ? "dir" : S_ISREG(st->stx_mode) ? "file" : "OS.unix=other",
			(unsigned long long)st->stx_size, mt,
			dir ? (s->rw ? "elcmpf" : "el") : (s->rw ? "radfw" : "r"));
}

static void stat_done(struct sess *s, int64_t res)
{
	close(s->tmp_fd);
	s->tmp_fd = -1;
	s->k_after(s, res);
}

static void stat_opened(struct sess *s, int64_t res)
{
	if (res < 0) {
		s->k_after(s, res);
		return;
	}
	s->tmp_fd = (int)res;
	prep(s, &s->f, stat_done, 0, 0);
	submitted(s, &s->f, cio_statx(sess_loop(s), &s->f.req, s->tmp_fd, "", AT_EMPTY_PATH,
				      STATX_BASIC_STATS, s->stx, on_slot));
}

/* statx of path below the root (following links inside it) into s->stx. */
static void stat_path(struct sess *s, const char *path, step_fn k)
{
	if (!s->stx && !(s->stx = malloc(sizeof(*s->stx)))) {
		k(s, -ENOMEM);
		return;
	}
	s->k_after = k;
	open_beneath(s, path, O_PATH, 0, stat_opened);
}

static void stat_reply(struct sess *s, int64_t res)
{
	const struct statx *st = s->stx;
	char buf[256];

	if (res < 0) {
		reply_err(s, 550, res);
	} else if (s->xkind == ST_SIZE) {
		if (S_ISREG(st->stx_mode))
			reply(s, "213 %llu", (unsigned long long)st->stx_size);
		else
			reply(s, "550 Not a regular file.");
	} else if (s->xkind == ST_MDTM) {
		fmt_time(buf, sizeof(buf), st->stx_mtime.tv_sec);
		reply(s, "213 %s", buf);
	} else if (s->xkind == ST_MLST) {
		fmt_facts(s, st, buf, sizeof(buf));
		reply(s, "250-Listing /%s\r\n %s /%s\r\n250 End.", s->path, buf, s->path);
	} else {
		memcpy(s->rnfr, s->path, strlen(s->path) + 1);
		s->have_rnfr = true;
		reply(s, "350 Ready for RNTO.");
	}
	finish(s);
}

void cmd_stat_kind(struct sess *s, const char *arg, int what)
{
	if (path_arg(s, arg, s->path) < 0)
		return;
	s->busy = true;
	s->xkind = what;
	stat_path(s, s->path, stat_reply);
}

void cmd_rnfr(struct sess *s, const char *arg)
{
	if (path_arg(s, arg, s->path) < 0)
		return;
	if (!s->path[0]) {
		reply(s, "550 Cannot rename the root.");
		return;
	}
	s->busy = true;
	s->xkind = ST_RNFR;
	stat_path(s, s->path, stat_reply);
}

/* ---- DELE, RMD, MKD, RNTO ---- */

static void name_done(struct sess *s, int64_t res)
{
	if (s->tmp_fd >= 0)
		close(s->tmp_fd);
	if (s->tmp_fd2 >= 0)
		close(s->tmp_fd2);
	s->tmp_fd = s->tmp_fd2 = -1;
	if (res < 0)
		reply_err(s, 550, res);
	else if (s->xkind == 'M')
		reply(s, "257 \"/%s\" created.", s->path);
	else if (s->xkind == 'R')
		reply(s, "250 Rename successful.");
	else
		reply(s, "250 %s operation successful.", s->xkind == 'D' ? "Remove directory"
								 : "Delete");
	finish(s);
}

static void parent_opened(struct sess *s, int64_t res)
{
	cio_loop *loop = sess_loop(s);

	if (res < 0) {
		name_done(s, res);
		return;
	}
	s->tmp_fd = (int)res;
	prep(s, &s->f, name_done, 0, 0);
	if (s->xkind == 'M')
		submitted(s, &s->f, cio_mkdirat(loop, &s->f.req, s->tmp_fd, s->base, 0755,
						on_slot));
	else
		submitted(s, &s->f, cio_unlinkat(loop, &s->f.req, s->tmp_fd, s->base,
						 s->xkind == 'D' ? AT_REMOVEDIR : 0, on_slot));
}

void cmd_dele(struct sess *s, const char *arg, bool dir)
{
	if (path_arg(s, arg, s->path) < 0)
		return;
	s->busy = true;
	s->xkind = dir ? 'D' : 'F';
	open_parent(s, s->path, &s->base, parent_opened);
}

void cmd_mkd(struct sess *s, const char *arg)
{
	if (path_arg(s, arg, s->path) < 0)
		return;
	s->busy = true;
	s->xkind = 'M';
	/* open_parent cuts path at its last '/' only in pbuf */
	open_parent(s, s->path, &s->base, parent_opened);
}

static void rnto_second(struct sess *s, int64_t res)
{
	if (res < 0) {
		name_done(s, res);
		return;
	}
	s->tmp_fd2 = (int)res;
	prep(s, &s->f, name_done, 0, 0);
	submitted(s, &s->f, cio_renameat(sess_loop(s), &s->f.req, s->tmp_fd, s->base,
					 s->tmp_fd2, s->base2, 0, on_slot));
}

static void rnto_first(struct sess *s, int64_t res)
{
	if (res < 0) {
		name_done(s, res);
		return;
	}
	s->tmp_fd = (int)res;
	open_parent(s, s->path2, &s->base2, rnto_second);
}

void cmd_rnto(struct sess *s, const char *arg)
{
	if (!s->have_rnfr) {
		reply(s, "503 RNFR required first.");
		return;
	}
	s->have_rnfr = false;
	if (path_arg(s, arg, s->path2) < 0)
		return;
	memcpy(s->path, s->rnfr, strlen(s->rnfr) + 1);
	s->busy = true;
	s->xkind = 'R';
	open_parent(s, s->path, &s->base, rnto_first);
}

/* ---- MFMT and SITE CHMOD: on the file the path reaches below the root,
 * through its O_PATH descriptor's /proc link (chmod follows it to that
 * very inode, so a symlink cannot lead the change out) ---- */

static void attr_done(struct sess *s, int64_t res)
{
	close(s->tmp_fd);
	s->tmp_fd = -1;
	if (res < 0)
		reply_err(s, 550, res);
	else if (s->xkind == 'T')
		reply(s, "213 Modify=%s; /%s", s->arg, s->path);
	else
		reply(s, "200 SITE CHMOD command ok.");
	finish(s);
}

static void attr_opened(struct sess *s, int64_t res)
{
	if (res < 0) {
		reply_err(s, 550, res);
		finish(s);
		return;
	}
	s->tmp_fd = (int)res;
	snprintf(s->pbuf, sizeof(s->pbuf), "/proc/self/fd/%d", s->tmp_fd);
	prep(s, &s->f, attr_done, 0, 0);
	if (s->xkind == 'T')
		submitted(s, &s->f, cio_utimensat(sess_loop(s), &s->f.req, AT_FDCWD, s->pbuf,
						  s->times, 0, on_slot));
	else
		submitted(s, &s->f, cio_fchmodat(sess_loop(s), &s->f.req, AT_FDCWD, s->pbuf,
						 s->mode, 0, on_slot));
}

void cmd_mfmt(struct sess *s, const char *arg)
{
	struct tm tm;
	const char *sp = strchr(arg, ' ');
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (!sp || sp - arg != 14 || !strptime(arg, "%Y%m%d%H%M%S", &tm) || !sp[1]) {
		reply(s, "501 MFMT YYYYMMDDHHMMSS path.");
		return;
	}
	t = timegm(&tm);
	if (path_arg(s, sp + 1, s->path) < 0)
		return;
	memcpy(s->arg, arg, 14);
	s->arg[14] = '\0';
	s->times[0].tv_sec = s->times[1].tv_sec = t;
	s->times[0].tv_nsec = UTIME_OMIT;
	s->times[1].tv_nsec = 0;
	s->busy = true;
	s->xkind = 'T';
	open_beneath(s, s->path, O_PATH, 0, attr_opened);
}

void cmd_chmod(struct sess *s, const char *arg)
{
	char *end;
	unsigned long mode = strtoul(arg, &end, 8);

	if (end == arg || *end != ' ' || !end[1] || mode > 0777) {
		reply(s, "501 SITE CHMOD mode path (mode 0 to 777).");
		return;
	}
	if (path_arg(s, end + 1, s->path) < 0)
		return;
	s->mode = (uint32_t)mode;
	s->busy = true;
	s->xkind = 'C';
	open_beneath(s, s->path, O_PATH, 0, attr_opened);
}

/* ---- the data connection ---- */

/* Forget the data connection and any passive listener. */
void data_reset(struct sess *s)
{
	if (s->data_fd >= 0) {
		close(s->data_fd);
		s->data_fd = -1;
	}
	if (s->a.armed)
		cio_cancel(sess_loop(s), &s->a.req);   /* its callback closes pasv_fd */
	else if (s->pasv_fd >= 0) {
		close(s->pasv_fd);
		s->pasv_fd = -1;
	}
	s->port_set = false;
}

static void xfer_done(struct sess *s, int64_t err);

void on_pasv_accept(struct sess *s, int64_t res)
{
	if (res >= 0) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);

		/* Only the client on the control connection may connect. */
		if (getpeername((int)res, (struct sockaddr *)&ss, &len) < 0 ||
		    !same_host(&ss, &s->peer)) {
			close((int)res);
			res = -EACCES;
		}
	}
	if (res == -EACCES && s->pasv_fd >= 0 && !s->aborting && !s->repasv) {
		prep(s, &s->a, on_pasv_accept, 0, opt.pasv_ns);
		s->a.opens = true;
		submitted(s, &s->a, cio_accept(sess_loop(s), &s->a.req, s->pasv_fd, NULL, NULL,
					       SOCK_NONBLOCK | SOCK_CLOEXEC, on_slot));
		return;
	}
	if (s->pasv_fd >= 0) {
		close(s->pasv_fd);      /* one connection per PASV */
		s->pasv_fd = -1;
	}
	if (res >= 0) {
		if (s->xfer && !s->want_data && s->aborting) {
			close((int)res);
			res = -ECANCELED;
		} else {
			s->data_fd = (int)res;
		}
	}
	if (s->repasv) {
		if (s->data_fd >= 0) {
			close(s->data_fd);
			s->data_fd = -1;
		}
		pasv_resume(s);
		return;
	}
	if (s->want_data) {
		s->want_data = false;
		s->dk(s, res < 0 ? res : 0);
	} else if (s->xfer && s->aborting) {
		xfer_done(s, -ECANCELED);
	}
}

/* Once the data connection is there, k(s, 0); else k(s, -errno). */
static void data_wait(struct sess *s, step_fn k)
{
	if (s->data_fd >= 0) {
		k(s, 0);
	} else if (s->a.armed) {
		s->dk = k;
		s->want_data = true;
	} else if (s->port_set) {
		s->data_fd = socket(s->port_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (s->data_fd < 0) {
			k(s, -errno);
			return;
		}
		prep(s, &s->d, k, 0, opt.data_ns);
		submitted(s, &s->d, cio_connect(sess_loop(s), &s->d.req, s->data_fd,
						(struct sockaddr *)&s->port_addr, s->port_len,
						on_slot));
	} else {
		k(s, -ENOTCONN);
	}
}

/* ---- transfers ---- */

static void retr_next(struct sess *s, int64_t res);
static void stor_next(struct sess *s, int64_t res);
static void list_read(struct sess *s, int64_t res);

/* End of a transfer, or a step of it that failed or was cancelled: once
 * no request of it is left, close everything and send the one reply (or
 * pair, for ABOR). */
static void xfer_done(struct sess *s, int64_t err)
{
	if (err < 0 && !s->xerr)
		s->xerr = err;
	if (s->d.armed || s->f.armed || s->a.armed || s->want_data) {
		if (s->d.armed)
			cio_cancel(sess_loop(s), &s->d.req);
		if (s->f.armed)
			cio_cancel(sess_loop(s), &s->f.req);
		if (s->a.armed)
			cio_cancel(sess_loop(s), &s->a.req);
		if (s->want_data && !s->a.armed) {
			s->want_data = false;
		} else {
			return;   /* the last callback comes back here */
		}
	}
	if (s->file_fd >= 0)
		close(s->file_fd);
	if (s->dir_fd >= 0)
		close(s->dir_fd);
	s->file_fd = s->dir_fd = -1;
	if (s->pipe_r >= 0) {
		/* after an error or ABOR, it may hold what never reached the
		 * file; kept, it would count against the user's pipe quota */
		close(s->pipe_r);
		close(s->pipe_w);
		s->pipe_r = s->pipe_w = -1;
	}
	data_reset(s);
	if (s->aborting) {
		if (s->sent150)
			reply(s, "426 Connection closed; transfer aborted.");
		reply(s, "226 Abort successful.");
	} else if (!s->xerr) {
		reply(s, "226 Transfer complete.");
	} else if (!s->sent150) {
		if (s->xerr == -ENOTCONN || s->xerr == -ETIMEDOUT)
			reply(s, "425 Use PORT or PASV first.");
		else
			reply_err(s, 550, s->xerr);
	} else if (s->xfile_err) {
		reply_err(s, 451, s->xerr);
	} else {
		reply(s, "426 Connection closed; transfer aborted (%s).", strerror((int)-s->xerr));
	}
	s->xfer = s->aborting = s->sent150 = s->xfile_err = false;
	s->xerr = 0;
	finish(s);
}

void xfer_abort(struct sess *s)
{
	s->aborting = true;
	xfer_done(s, -ECANCELED);
}

/* The common first step of a transfer continuation: stop on an error
 * or an ABOR. */
static bool xfer_failed(struct sess *s, int64_t res, bool file_side)
{
	if (res >= 0 && !s->aborting)
		return false;
	if (res < 0 && !s->xerr)
		s->xfile_err = file_side;
	xfer_done(s, res < 0 ? res : -ECANCELED);
	return true;
}

/* RETR: cio_sendfile in CIO_ALL chunks, each with --data-timeout; in
 * ASCII mode, read, LF to CR LF, send. */
static void retr_sent(struct sess *s, int64_t res)
{
	int64_t moved = cio_transferred(&s->d.req);

	if (moved > 0) {
		s->off += (uint64_t)moved;
		s->left -= (uint64_t)moved < s->left ? (uint64_t)moved : s->left;
	}
	if (xfer_failed(s, res, false))
		return;
	if (res == 0 && !s->ascii) {
		s->left = 0;       /* the file shrank */
	}
	retr_next(s, 0);
}

static void retr_read(struct sess *s, int64_t res)
{
	char *in = s->xbuf, *out = s->xbuf + XBUF / 3;
	size_t n = 0;

	if (xfer_failed(s, res, true))
		return;
	if (res == 0) {
		xfer_done(s, 0);
		return;
	}
	for (int64_t i = 0; i < res; i++) {
		if (in[i] == '\n' && !s->cr_pending)
			out[n++] = '\r';
		out[n++] = in[i];
		s->cr_pending = in[i] == '\r';
	}
	s->off += (uint64_t)res;
	prep(s, &s->d, retr_next, CIO_ALL, opt.data_ns);
	submitted(s, &s->d, cio_send(sess_loop(s), &s->d.req, s->data_fd, out, n, 0,
				     on_slot));
}

static void retr_next(struct sess *s, int64_t res)
{
	if (xfer_failed(s, res, false))
		return;
	if (s->ascii) {
		prep(s, &s->f, retr_read, 0, 0);
		submitted(s, &s->f, cio_read(sess_loop(s), &s->f.req, s->file_fd, s->xbuf,
					     XBUF / 3, (int64_t)s->off, on_slot));
		return;
	}
	if (s->left == 0) {
		xfer_done(s, 0);
		return;
	}
	prep(s, &s->d, retr_sent, CIO_ALL, opt.data_ns);
	submitted(s, &s->d, cio_sendfile(sess_loop(s), &s->d.req, s->data_fd, s->file_fd,
					 (int64_t)s->off, s->left < CHUNK ? s->left : CHUNK,
					 on_slot));
}

/* STOR, APPE, STOU. The end of each: --fsync's fdatasync, then the 226. */
static void stor_synced(struct sess *s, int64_t res)
{
	if (xfer_failed(s, res, true))
		return;
	xfer_done(s, 0);
}

static void stor_end(struct sess *s)
{
	if (!opt.fsync) {
		xfer_done(s, 0);
		return;
	}
	prep(s, &s->f, stor_synced, 0, 0);
	submitted(s, &s->f, cio_fsync(sess_loop(s), &s->f.req, s->file_fd, CIO_FSYNC_DATA,
				      on_slot));
}

/* What an upload writes at a time: received data waits until it fills
 * this much (or ends), so that every write but the last starts and ends
 * on a block boundary. Writing each receive as it came (often 8 KiB on
 * loopback) made ext4 zero the part of a new block the write did not
 * cover, and then write over it (perf: a tenth of the server's time). */
#define UP_FILL  (64 * 1024)
#define UP_BLOCK 4096

static int64_t stor_at(const struct sess *s)
{
	return s->xkind == X_APPE ? -1 : (int64_t)s->off;
}

/* ASCII: receive, CR LF becomes LF, write (CIO_ALL). */
static void ascii_next(struct sess *s, int64_t res);

static void ascii_recvd(struct sess *s, int64_t res)
{
	char *b = s->xbuf + 1;    /* xbuf[0] holds a CR carried over */
	size_t n = 0;

	if (xfer_failed(s, res, false))
		return;
	if (res == 0) {
		if (!s->cr_pending) {
			stor_end(s);
			return;
		}
		s->xbuf[n++] = '\r';      /* a last CR, alone */
		s->cr_pending = false;
		s->up_eof = true;
	}
	if (s->cr_pending) {
		if (b[0] != '\n')
			s->xbuf[n++] = '\r';
		s->cr_pending = false;
	}
	for (size_t i = 0; i < (size_t)res; i++) {
		if (b[i] == '\r') {
			if (i + 1 == (size_t)res) {
				s->cr_pending = true;
				break;
			}
			if (b[i + 1] == '\n')
				continue;
		}
		s->xbuf[n++] = b[i];
	}
	prep(s, &s->f, ascii_next, CIO_ALL, 0);
	submitted(s, &s->f, cio_write(sess_loop(s), &s->f.req, s->file_fd, s->xbuf, n,
				      stor_at(s), on_slot));
}

static void ascii_next(struct sess *s, int64_t res)
{
	if (xfer_failed(s, res, true))
		return;
	s->off += (uint64_t)res;
	if (s->up_eof) {
		stor_end(s);
		return;
	}
	prep(s, &s->d, ascii_recvd, 0, opt.data_ns);
	submitted(s, &s->d, cio_recv(sess_loop(s), &s->d.req, s->data_fd, s->xbuf + 1,
				     XBUF - 1, 0, on_slot));
}

/* Binary, where no pipe is to be had (APPE: splice(2) refuses an
 * O_APPEND file; or the user's pipe quota is spent): receive until
 * UP_FILL bytes (each receive with --data-timeout), write them (CIO_ALL),
 * receive again. One buffer, written as soon as it is full, while what
 * the receives put there is still in the cache. */
static void bin_fill(struct sess *s);

static void bin_written(struct sess *s, int64_t res)
{
	if (xfer_failed(s, res, true))
		return;
	s->off += (uint64_t)res;
	s->up_fill = 0;
	if (s->up_eof)
		stor_end(s);
	else
		bin_fill(s);
}

static void bin_recvd(struct sess *s, int64_t res)
{
	if (xfer_failed(s, res, false))
		return;
	s->up_fill += (size_t)res;
	s->up_eof = res == 0;
	if (!s->up_eof && s->up_fill < UP_FILL) {
		bin_fill(s);
	} else if (s->up_fill) {
		prep(s, &s->f, bin_written, CIO_ALL, 0);
		submitted(s, &s->f, cio_write(sess_loop(s), &s->f.req, s->file_fd, s->xbuf,
					      s->up_fill, stor_at(s), on_slot));
	} else {
		stor_end(s);
	}
}

static void bin_fill(struct sess *s)
{
	prep(s, &s->d, bin_recvd, 0, opt.data_ns);
	submitted(s, &s->d, cio_recv(sess_loop(s), &s->d.req, s->data_fd, s->xbuf + s->up_fill,
				     UP_FILL - s->up_fill, 0, on_slot));
}

/* Binary STOR and STOU: splice socket -> pipe -> file, so the data never
 * passes through user space (one copy, into the page cache, where
 * receive and write make two). The pipe gathers SPLICE_FILL bytes, or
 * what fits, before they go on to the file in whole blocks (the rest
 * waits in the pipe for the next ones). From the socket, cio_splice
 * runs on the loop's thread, without blocking, on every backend; into
 * the file, on a pool thread or io-wq worker. s->wlen: bytes in the
 * pipe; s->up_fill: bytes of them the running splice to the file has
 * left to move. */
#define SPLICE_FILL (PIPE_SIZE / 2)

static void pipe_in(struct sess *s);
static void pipe_flush(struct sess *s);

static void pipe_out_done(struct sess *s, int64_t res)
{
	if (xfer_failed(s, res, true))
		return;
	if (res == 0) {             /* cannot happen with data in the pipe */
		xfer_failed(s, -EIO, true);
		return;
	}
	s->off += (uint64_t)res;
	s->wlen -= (size_t)res;
	s->up_fill -= (size_t)res;
	if (s->up_fill) {
		prep(s, &s->f, pipe_out_done, 0, 0);
		submitted(s, &s->f, cio_splice(sess_loop(s), &s->f.req, s->pipe_r, -1,
					       s->file_fd, (int64_t)s->off, s->up_fill,
					       SPLICE_F_MOVE, on_slot));
	} else if (s->up_eof) {
		pipe_flush(s);            /* the tail, then the end */
	} else {
		pipe_in(s);
	}
}

/* The pipe's whole blocks to the file (all of it at the end, or where a
 * full pipe holds less than a block). */
static void pipe_flush(struct sess *s)
{
	s->up_fill = s->up_eof ? s->wlen : s->wlen & ~(size_t)(UP_BLOCK - 1);
	if (!s->up_fill)
		s->up_fill = s->wlen;
	if (!s->up_fill) {
		stor_end(s);
		return;
	}
	prep(s, &s->f, pipe_out_done, 0, 0);
	submitted(s, &s->f, cio_splice(sess_loop(s), &s->f.req, s->pipe_r, -1, s->file_fd,
				       (int64_t)s->off, s->up_fill, SPLICE_F_MOVE, on_slot));
}

static void pipe_readable(struct sess *s, int64_t res)
{
	if (xfer_failed(s, res, false))
		return;
	pipe_in(s);
}

static void pipe_in_done(struct sess *s, int64_t res)
{
	if (res == -EAGAIN && !s->aborting) {
		/* The socket (non-blocking) is empty, or the pipe is full:
		 * the pipe says which, at once. */
		struct pollfd room = { .fd = s->pipe_w, .events = POLLOUT };

		if (s->wlen && poll(&room, 1, 0) == 0) {
			pipe_flush(s);
			return;
		}
		prep(s, &s->d, pipe_readable, 0, opt.data_ns);
		submitted(s, &s->d, cio_poll(sess_loop(s), &s->d.req, s->data_fd, POLLIN, on_slot));
		return;
	}
	if (xfer_failed(s, res, false))
		return;
	s->wlen += (size_t)res;
	s->up_eof = res == 0;
	if (s->up_eof || s->wlen >= SPLICE_FILL)
		pipe_flush(s);
	else
		pipe_in(s);
}

static void pipe_in(struct sess *s)
{
	prep(s, &s->d, pipe_in_done, 0, opt.data_ns);
	submitted(s, &s->d, cio_splice(sess_loop(s), &s->d.req, s->data_fd, -1, s->pipe_w, -1,
				       PIPE_SIZE - s->wlen, SPLICE_F_MOVE, on_slot));
}

/* A pipe of PIPE_SIZE for this upload; false where there is none (the
 * user's pipe quota, /proc/sys/fs/pipe-user-pages-soft, is spent). */
static bool stor_pipe(struct sess *s)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return false;
	if (fcntl(p[1], F_SETPIPE_SZ, PIPE_SIZE) < (int)PIPE_SIZE) {
		close(p[0]);
		close(p[1]);
		return false;
	}
	s->pipe_r = p[0];
	s->pipe_w = p[1];
	return true;
}

static void stor_next(struct sess *s, int64_t res)
{
	if (xfer_failed(s, res, false))
		return;
	s->up_fill = s->wlen = 0;
	s->up_eof = false;
	if (s->ascii)
		ascii_next(s, 0);
	else if (s->xkind != X_APPE && stor_pipe(s))
		pipe_in(s);
	else
		bin_fill(s);
}

/* ---- listings: cio_getdents, then (LIST, MLSD) lstat on the pool ---- */

static void list_next(struct sess *s, int64_t res);

static void list_sent(struct sess *s, int64_t res)
{
	if (xfer_failed(s, res, false))
		return;
	s->xlen = 0;
	if (s->dlen == 0)
		xfer_done(s, 0);
	else
		list_next(s, 0);
}

static void list_send(struct sess *s)
{
	prep(s, &s->d, list_sent, CIO_ALL, opt.data_ns);
	submitted(s, &s->d, cio_send(sess_loop(s), &s->d.req, s->data_fd, s->xbuf, s->xlen, 0,
				     on_slot));
}

static void list_line(struct sess *s, const struct statx *st, const char *name)
{
	char *p = s->xbuf + s->xlen;
	size_t room = XBUF - s->xlen;
	int n;

	if (s->xkind == X_NLST) {
		n = snprintf(p, room, "%s\r\n", name);
	} else if (s->xkind == X_MLSD) {
		n = fmt_facts(s, st, p, room);
		if (n > 0 && (size_t)n < room)
			n += snprintf(p + n, room - (size_t)n, " %s\r\n", name);
	} else {
		static const char rwx[] = "rwxrwxrwx";
		char perm[11], date[16];
		time_t t = (time_t)st->stx_mtime.tv_sec, now = time(NULL);
		struct tm tm;
		unsigned m = st->stx_mode;

		perm[0] = S_ISDIR(m) ? 'd' : S_ISLNK(m) ? 'l' : S_ISREG(m) ? '-' : 'p';
		for (int i = 0; i < 9; i++)
			perm[i + 1] = m & (0400u >> i) ? rwx[i] : '-';
		perm[10] = '\0';
		gmtime_r(&t, &tm);
		strftime(date, sizeof(date), t > now - 180 * 86400 && t < now + 86400
			 ? "%b %d %H:%M" : "%b %d  %Y", &tm);
		n = snprintf(p, room, "%s %4u ftp      ftp      %12llu %s %s\r\n", perm,
			     st->stx_nlink, (unsigned long long)st->stx_size, date, name);
	}
	if (n > 0 && (size_t)n < room)
		s->xlen += (size_t)n;
}

/* Not listed: . and .., and a name a reply line could not carry. */
static bool list_skips(const char *nm)
{
	return (nm[0] == '.' && (!nm[1] || (nm[1] == '.' && !nm[2]))) || strpbrk(nm, "\r\n");
}

/* LIST and MLSD, on a pool thread (cio_work): lstat each entry of the
 * getdents buffer and format its line, until the buffer is done or the
 * lines fill xbuf. One trip to the pool for a buffer's worth of entries,
 * where a cio_statx each made a trip per entry (io_uring, too, runs every
 * statx on a worker thread). While it runs, the loop touches none of
 * what it uses (dents, dpos, xbuf, xlen). An entry gone since getdents
 * is left out. */
static void list_stat_batch(cio_req *req)
{
	struct sess *s = req->data;
	const struct cio_dirent *e;
	struct statx st;
	size_t at = s->dpos;

	while ((e = cio_dirent_next(s->dents, s->dlen, &s->dpos))) {
		if (list_skips(e->d_name))
			continue;
		if (s->xlen > XBUF - 8192) {
			s->dpos = at;         /* this one goes in the next batch */
			return;
		}
		if (statx(s->dir_fd, e->d_name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &st) == 0)
			list_line(s, &st, e->d_name);
		at = s->dpos;
	}
}

static void list_batched(struct sess *s, int64_t res)
{
	if (xfer_failed(s, res, false))
		return;
	if (s->xlen > XBUF - 8192)
		list_send(s);
	else
		list_read(s, 0);
}

static void list_next(struct sess *s, int64_t res)
{
	const struct cio_dirent *e;

	if (xfer_failed(s, res, false))
		return;
	if (s->xkind != X_NLST) {
		prep(s, &s->f, list_batched, 0, 0);
		submitted(s, &s->f, cio_work(sess_loop(s), &s->f.req, list_stat_batch, on_slot));
		return;
	}
	while ((e = cio_dirent_next(s->dents, s->dlen, &s->dpos))) {
		if (list_skips(e->d_name))
			continue;
		list_line(s, NULL, e->d_name);
		if (s->xlen > XBUF - 8192) {
			list_send(s);
			return;
		}
	}
	list_read(s, 0);
}

static void list_got(struct sess *s, int64_t res)
{
	if (xfer_failed(s, res, true))
		return;
	s->dlen = (size_t)res;
	s->dpos = 0;
	if (res == 0) {
		if (s->xlen)
			list_send(s);
		else
			xfer_done(s, 0);
		return;
	}
	list_next(s, 0);
}

static void list_read(struct sess *s, int64_t res)
{
	if (xfer_failed(s, res, false))
		return;
	prep(s, &s->f, list_got, 0, 0);
	submitted(s, &s->f, cio_getdents(sess_loop(s), &s->f.req, s->dir_fd, s->dents, DENTS,
					 on_slot));
}

/* ---- starting a transfer ---- */

static void xfer_connected(struct sess *s, int64_t res)
{
	if (xfer_failed(s, res, false))
		return;
	switch (s->xkind) {
	case X_RETR:
		retr_next(s, 0);
		break;
	case X_LIST: case X_NLST: case X_MLSD:
		s->xlen = 0;
		list_read(s, 0);
		break;
	default:
		stor_next(s, 0);
		break;
	}
}

/* Files open with O_NONBLOCK, so that a FIFO below the root cannot hold
 * the open for ever; once the file is known to be regular the flag goes,
 * and reads and writes wait for the disk as they should. */
static bool regular_file(int fd, struct stat *st)
{
	int fl;

	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode))
		return false;
	fl = fcntl(fd, F_GETFL);
	return fl >= 0 && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == 0;
}

static void xfer_opened(struct sess *s, int64_t res)
{
	struct stat st;

	if (res == -EEXIST && s->xkind == X_STOU && s->rest++ < 16) {
		snprintf(s->path + strlen(s->path) - 6, 7, "%06u", (unsigned)random() % 1000000);
		open_beneath(s, s->path, O_WRONLY | O_CREAT | O_EXCL | O_NONBLOCK, 0644, xfer_opened);
		return;
	}
	if (res < 0) {
		xfer_done(s, res);
		return;
	}
	if (s->aborting) {
		close((int)res);
		xfer_done(s, -ECANCELED);
		return;
	}
	switch (s->xkind) {
	case X_LIST: case X_NLST: case X_MLSD:
		s->dir_fd = (int)res;
		reply(s, "150 Here comes the directory listing.");
		break;
	case X_RETR:
		s->file_fd = (int)res;
		if (!regular_file(s->file_fd, &st)) {
			xfer_done(s, -EISDIR);
			return;
		}
		s->left = (uint64_t)st.st_size > s->off ? (uint64_t)st.st_size - s->off : 0;
		reply(s, "150 Opening %s mode data connection for /%s (%llu bytes).",
		      s->ascii ? "ASCII" : "BINARY", s->path, (unsigned long long)st.st_size);
		break;
	default:
		s->file_fd = (int)res;
		if (!regular_file(s->file_fd, &st)) {
			xfer_done(s, -EISDIR);
			return;
		}
		if (s->xkind == X_STOU)
			reply(s, "150 FILE: %s", strrchr(s->path, '/') ? strrchr(s->path, '/') + 1
								    : s->path);
		else
			reply(s, "150 Ok to send data.");
		break;
	}
	s->rest = 0;
	s->sent150 = true;
	data_wait(s, xfer_connected);
}

void xfer_begin(struct sess *s, int kind, const char *arg)
{
	uint64_t flags;

	if (s->data_fd < 0 && !s->a.armed && !s->port_set) {
		reply(s, "425 Use PORT or PASV first.");
		return;
	}
	if (!s->xbuf) {
		s->xbuf = aligned_alloc(8, XBUF + DENTS);
		if (!s->stx)
			s->stx = malloc(sizeof(*s->stx));
		if (!s->xbuf || !s->stx) {
			reply(s, "451 Out of memory.");
			return;
		}
	}
	s->dents = s->xbuf + XBUF;
	/* LIST and NLST take ls options; a "-" word is one, not a path. */
	if (kind == X_LIST || kind == X_NLST)
		while (arg[0] == '-') {
			while (*arg && *arg != ' ')
				arg++;
			while (*arg == ' ')
				arg++;
		}
	if (kind == X_STOU) {
		if (snprintf(s->arg, sizeof(s->arg), "%s%sstou.%06u", arg, arg[0] ? "/" : "",
			     (unsigned)random() % 1000000) >= (int)sizeof(s->arg)) {
			reply(s, "553 File name too long.");
			return;
		}
		arg = s->arg;
	}
	if (path_arg(s, arg, s->path) < 0)
		return;
	s->busy = s->xfer = true;
	s->xkind = kind;
	s->xerr = 0;
	s->cr_pending = false;
	s->off = s->rest;
	s->dlen = 0;
	switch (kind) {
	case X_RETR:
		flags = O_RDONLY;
		break;
	case X_STOR:
		flags = O_WRONLY | O_CREAT | (s->rest ? 0 : O_TRUNC);
		break;
	case X_APPE:
		flags = O_WRONLY | O_CREAT | O_APPEND;
		break;
	case X_STOU:
		flags = O_WRONLY | O_CREAT | O_EXCL;
		s->rest = 0;
		break;
	default:
		flags = O_RDONLY | O_DIRECTORY;
		break;
	}
	if (kind < X_LIST)
		flags |= O_NONBLOCK | O_NOCTTY;
	open_beneath(s, s->path, flags, kind == X_RETR || kind >= X_LIST ? 0 : 0644, xfer_opened);
}
