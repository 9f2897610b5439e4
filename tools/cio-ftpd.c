/* SPDX-License-Identifier: MIT */
/*
 * cio-ftpd: an FTP server built on libcio's public API only.
 *
 *   cio-ftpd --root DIR [--listen ADDR:PORT] [--users FILE] [--threads N] ...
 *
 * One loop per thread, each with its own SO_REUSEPORT listener and a
 * multishot accept. A session is one control connection; it holds a
 * request per kind of work that can run at once (control read, control
 * write, passive accept, data socket, file operation), so nothing is
 * allocated per operation and an ABOR can cancel the one running
 * transfer request while the control read goes on. Commands run one at a
 * time, in order; while a transfer runs only ABOR is read ahead.
 *
 * Every path goes through cio_openat2 with RESOLVE_BENEATH below the root
 * descriptor; operations on names (unlink, rename, mkdir) run on a parent
 * directory opened that way, with a single last component (ftpd-fs.c).
 */
#define _GNU_SOURCE
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_CRYPT_R
# include <crypt.h>
#endif

#include "ftpd.h"
#include "server-util.h"

enum { EXIT_USAGE = 2, EXIT_BACKEND = 3 };

struct ftpd_opts opt = {
	.listen = "127.0.0.1:2121",
	.threads = 1,
	.max_per_ip = 64,
	.idle_ns = 300 * NS_PER_S,
	.data_ns = 60 * NS_PER_S,
	.pasv_ns = 30 * NS_PER_S,
	.drain_ns = 10 * NS_PER_S,
};

int root_fd = -1;

struct user { char *name, *hash; bool rw; };
static struct user *users;
static size_t nusers;

static atomic_uint live_conns;

/* Connections per client address, shared by the threads. Accepting is
 * not a hot path: a mutex and a linear table are enough. */
struct ipcount { struct in6_addr a; unsigned n; };
static pthread_mutex_t ip_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ipcount *ips;
static size_t nips;

struct worker {
	unsigned     id;
	cio_loop    *loop;
	pthread_t    thread;
	int          lfd, rc;
	bool         stopping, accepting, drain_armed, retry_armed;
	cio_req      accept_req, drain_timer, retry_timer;
	struct srv_stop stop;
	struct sess *sessions;
	unsigned     nsess;
};

static struct worker *workers;

static void process(struct sess *s);
static void maybe_finish(struct worker *w);

struct cio_loop *sess_loop(struct sess *s) { return s->w->loop; }
bool stopping(struct sess *s) { return s->w->stopping; }

static void addr_key(const struct sockaddr_storage *ss, struct in6_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET6) {
		*a = ((const struct sockaddr_in6 *)ss)->sin6_addr;
	} else {
		a->s6_addr[10] = a->s6_addr[11] = 0xff;
		memcpy(&a->s6_addr[12], &((const struct sockaddr_in *)ss)->sin_addr, 4);
	}
}

static bool ip_take(const struct sockaddr_storage *ss)
{
	struct in6_addr a;
	bool ok = true;
	size_t i, free_i = nips;

	addr_key(ss, &a);
	pthread_mutex_lock(&ip_lock);
	for (i = 0; i < nips; i++) {
		if (ips[i].n == 0 && free_i == nips)
			free_i = i;
		if (ips[i].n && !memcmp(&ips[i].a, &a, sizeof(a)))
			break;
	}
	if (i < nips) {
		ok = ips[i].n < opt.max_per_ip;
		if (ok)
			ips[i].n++;
	} else if (free_i < nips) {
		ips[free_i].a = a;
		ips[free_i].n = 1;
	} else {
		ok = false;
	}
	pthread_mutex_unlock(&ip_lock);
	return ok;
}

static void ip_give(const struct sockaddr_storage *ss)
{
	struct in6_addr a;

	addr_key(ss, &a);
	pthread_mutex_lock(&ip_lock);
	for (size_t i = 0; i < nips; i++)
		if (ips[i].n && !memcmp(&ips[i].a, &a, sizeof(a))) {
			ips[i].n--;
			break;
		}
	pthread_mutex_unlock(&ip_lock);
}

/* ---- request slots ---- */

void on_slot(cio_req *req)
{
	struct slot *sl = (struct slot *)req;   /* req is the first member */
	struct sess *s = req->data;

	sl->armed = false;
	s->pending--;
	s->depth++;
	if (s->closing) {
		if (sl->opens && req->res >= 0)
			close((int)req->res);
	} else {
		sl->k(s, req->res);
	}
	s->depth--;
	sess_free_if_done(s);
}

void prep(struct sess *s, struct slot *sl, step_fn k, uint32_t opts, uint64_t timeout_ns)
{
	sl->k = k;
	sl->opens = false;
	sl->req.data = s;
	sl->req.opts = opts;
	sl->req.timeout_ns = timeout_ns;
}

/* After a cio_* call on sl: count it, or continue at once with the error
 * (the callback will not run). */
void submitted(struct sess *s, struct slot *sl, int ret)
{
	if (ret == 0) {
		sl->armed = true;
		s->pending++;
		return;
	}
	if (!s->closing)
		sl->k(s, ret);
}

/* ---- sessions ---- */

static void sess_close(struct sess *s)
{
	struct slot *all[] = { &s->r, &s->o, &s->a, &s->d, &s->f };

	if (s->closing)
		return;
	s->closing = true;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (all[i]->armed)
			cio_cancel(s->w->loop, &all[i]->req);
}

void sess_free_if_done(struct sess *s)
{
	struct worker *w = s->w;
	int fds[] = { s->fd, s->pasv_fd, s->data_fd, s->file_fd, s->dir_fd, s->tmp_fd, s->tmp_fd2,
		      s->pipe_r, s->pipe_w };

	if (!s->closing || s->pending || s->depth)
		return;
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (s->prev)
		s->prev->next = s->next;
	else
		w->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	w->nsess--;
	ip_give(&s->peer);
	atomic_fetch_sub(&live_conns, 1);
	free(s->xbuf);
	free(s->stx);
	free(s);
	maybe_finish(w);
}

static void on_sent(struct sess *s, int64_t res);
static void on_read(struct sess *s, int64_t res);

/* Closing a socket with unread input resets the connection, and the reset
 * can overtake the last reply. So: stop sending, read and drop what comes
 * for a while (LINGER_NS, LINGER_MAX bytes), then close. */
#define LINGER_NS  (2 * NS_PER_S)
#define LINGER_MAX (256 * 1024)

static void linger(struct sess *s)
{
	if (!s->lingering) {
		s->lingering = true;
		shutdown(s->fd, SHUT_WR);
		if (s->r.armed) {
			/* it waits with the idle deadline: trade it for ours */
			s->linger_cancel = true;
			cio_cancel(s->w->loop, &s->r.req);
		}
	}
	if (s->r.armed)
		return;       /* on_read drains from there */
	s->inlen = 0;
	prep(s, &s->r, on_read, 0, LINGER_NS);
	submitted(s, &s->r, cio_recv(s->w->loop, &s->r.req, s->fd, s->in, CMD_MAX, 0, on_slot));
}

static void flush_out(struct sess *s)
{
	if (s->o.armed || s->outsent >= s->outlen)
		return;
	prep(s, &s->o, on_sent, CIO_ALL, opt.data_ns);
	submitted(s, &s->o, cio_send(s->w->loop, &s->o.req, s->fd, s->out + s->outsent,
				     s->outlen - s->outsent, 0, on_slot));
}

static void on_sent(struct sess *s, int64_t res)
{
	if (res < 0) {
		sess_close(s);
		return;
	}
	s->outsent += (size_t)res;
	if (s->outsent >= s->outlen) {
		s->outlen = s->outsent = 0;
		if (s->quit) {
			linger(s);
			return;
		}
	} else {
		/* replies queued behind the send: to the front, as nothing
		 * reads the buffer until the next send */
		memmove(s->out, s->out + s->outsent, s->outlen - s->outsent);
		s->outlen -= s->outsent;
		s->outsent = 0;
	}
	flush_out(s);
	if (s->out_wait && s->outlen <= OUT_PAUSE) {
		s->out_wait = false;
		if (!s->busy)
			process(s);
	}
}

/* Queue a reply; the text goes out as the control connection takes it.
 * Replies are short, so OUT_MAX holds any backlog a client that reads
 * leaves; a client that does not read is cut by the send deadline. */
void reply(struct sess *s, const char *fmt, ...)
{
	size_t room = OUT_MAX - s->outlen;
	va_list ap;
	int n;

	if (s->closing || room < 3)
		return;     /* cannot happen: process() waits at OUT_PAUSE */
	va_start(ap, fmt);
	n = vsnprintf(s->out + s->outlen, room - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > room - 3)
		n = (int)(room - 3);
	s->outlen += (size_t)n;
	s->out[s->outlen++] = '\r';
	s->out[s->outlen++] = '\n';
	flush_out(s);
}

void reply_err(struct sess *s, int code, int64_t err)
{
	const char *what = strerror((int)-err);

	switch (-err) {
	case ENOSPC: case EDQUOT: code = 552; break;
	case EXDEV: case ELOOP: what = "Permission denied"; code = 550; break;
	case ENAMETOOLONG: code = 553; break;
	default: break;
	}
	reply(s, "%d %s.", code, what);
}

static void quit_after_reply(struct sess *s)
{
	s->quit = true;
	if (!s->o.armed && s->outsent >= s->outlen)
		linger(s);
}

/* An asynchronous command is done: read on. */
void finish(struct sess *s)
{
	s->busy = false;
	if (s->w->stopping && !s->quit) {
		reply(s, "421 Server shutting down.");
		quit_after_reply(s);
		return;
	}
	if (!s->in_process)
		process(s);
}

static void arm_read(struct sess *s)
{
	if (s->r.armed || s->closing || s->quit || s->inlen >= CMD_MAX)
		return;
	prep(s, &s->r, on_read, 0, opt.idle_ns);
	submitted(s, &s->r, cio_recv(s->w->loop, &s->r.req, s->fd, s->in + s->inlen,
				     CMD_MAX - s->inlen, 0, on_slot));
}

static void on_read(struct sess *s, int64_t res)
{
	if (s->lingering) {
		if (res == -ECANCELED && s->linger_cancel) {
			s->linger_cancel = false;
			linger(s);
			return;
		}
		if (res <= 0 || (s->lingered += (size_t)res) > LINGER_MAX)
			sess_close(s);
		else
			linger(s);
		return;
	}
	if (s->quit)
		return;       /* the reply is on its way; linger() reads on */
	if (res == -ETIMEDOUT && s->busy) {
		arm_read(s);     /* a long transfer is not an idle session */
		return;
	}
	if (res == -ETIMEDOUT) {
		reply(s, "421 Timeout.");
		quit_after_reply(s);
		return;
	}
	if (res <= 0) {
		sess_close(s);
		return;
	}
	s->inlen += (size_t)res;
	if (s->w->stopping && !s->busy) {
		reply(s, "421 Server shutting down.");
		quit_after_reply(s);
		return;
	}
	process(s);
}

/* Copy the first line out of in (without CR LF, Telnet IAC sequences
 * dropped); false if none is complete. */
static bool take_line(struct sess *s, char *line, bool *bad)
{
	char *nl = memchr(s->in, '\n', s->inlen);
	size_t n = 0, len;

	if (!nl)
		return false;
	len = (size_t)(nl - s->in);
	*bad = false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s->in[i];

		if (c == 0xff && i + 1 < len) {
			if ((unsigned char)s->in[i + 1] == 0xff)
				line[n++] = (char)0xff;
			i++;
			continue;
		}
		if (c == 0xf2 && n == 0)
			continue;    /* the urgent byte of a Telnet Synch */
		if (c == '\0')
			*bad = true;
		line[n++] = (char)c;
	}
	if (n && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	memmove(s->in, nl + 1, s->inlen - len - 1);
	s->inlen -= len + 1;
	return true;
}

static bool line_is_abor(const struct sess *s)
{
	const char *nl = memchr(s->in, '\n', s->inlen);
	char word[8];
	size_t n = 0;

	if (!nl)
		return false;
	for (const char *p = s->in; p < nl && n < sizeof(word) - 1; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == 0xff || c == 0xf4 || c == 0xf2)
			continue;
		if (c == '\r' || c == ' ')
			break;
		word[n++] = (char)c;
	}
	word[n] = '\0';
	return !strcasecmp(word, "ABOR");
}

static void dispatch(struct sess *s, char *line);

static void process(struct sess *s)
{
	char line[CMD_MAX];
	bool bad;

	s->in_process = true;
	while (!s->closing && !s->quit) {
		if (s->busy) {
			/* Only ABOR overtakes a running transfer. */
			if (s->xfer && !s->aborting && line_is_abor(s)) {
				take_line(s, line, &bad);
				xfer_abort(s);
				continue;
			}
			if (!memchr(s->in, '\n', s->inlen))
				arm_read(s);
			break;
		}
		if (s->outlen > OUT_PAUSE) {
			/* the client reads slower than it sends: on_sent goes on */
			s->out_wait = true;
			break;
		}
		if (!take_line(s, line, &bad)) {
			if (s->inlen >= CMD_MAX) {
				reply(s, "500 Command line too long.");
				quit_after_reply(s);
				break;
			}
			arm_read(s);
			break;
		}
		if (bad) {
			reply(s, "501 NUL byte in command.");
			continue;
		}
		dispatch(s, line);
	}
	s->in_process = false;
}

/* ---- commands ---- */

enum { NEED_LOGIN = 1, NEED_ARG = 2, NEED_RW = 4 };

static void cmd_user(struct sess *s, char *arg)
{
	if (strlen(arg) >= sizeof(s->user)) {
		reply(s, "501 User name too long.");
		return;
	}
	s->logged_in = false;
	s->rw = false;
	snprintf(s->user, sizeof(s->user), "%s", arg);
	s->anon = !strcasecmp(arg, "anonymous") || !strcasecmp(arg, "ftp");
	if (s->anon && !opt.no_anon)
		reply(s, "331 Anonymous login ok, send any password.");
	else
		reply(s, "331 Please specify the password.");
}

#ifdef HAVE_CRYPT_R
static void check_password(cio_req *req)
{
	struct sess *s = req->data;
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *h;

	s->login_ok = false;
	if (!cd)
		return;
	h = crypt_r(s->arg, s->hash, cd);
	s->login_ok = h && h[0] != '*' && strlen(h) == strlen(s->hash) && !strcmp(h, s->hash);
	free(cd);
}
#endif

static void on_checked(struct sess *s, int64_t res)
{
	explicit_bzero(s->arg, sizeof(s->arg));
	if (res == 0 && s->login_ok && s->user_known) {
		s->logged_in = true;
		reply(s, "230 Login successful.");
	} else {
		reply(s, "530 Login incorrect.");
		if (++s->fails >= 3) {
			quit_after_reply(s);
			return;
		}
	}
	finish(s);
}

static void cmd_pass(struct sess *s, char *arg)
{
	const struct user *u = NULL;

	if (!s->user[0] || s->logged_in) {
		reply(s, s->logged_in ? "230 Already logged in." : "503 Login with USER first.");
		return;
	}
	if (s->anon) {
		if (opt.no_anon) {
			reply(s, "530 Login incorrect.");
			return;
		}
		s->logged_in = true;
		s->rw = false;
		reply(s, "230 Login successful.");
		return;
	}
	for (size_t i = 0; i < nusers; i++)
		if (!strcmp(users[i].name, s->user))
			u = &users[i];
	/* crypt(3) takes milliseconds by design: on the pool, not the loop.
	 * An unknown user is checked against a real hash too, so the reply
	 * takes as long. */
	s->hash = u ? u->hash : nusers ? users[0].hash : NULL;
	s->rw = u && u->rw;
	snprintf(s->arg, sizeof(s->arg), "%s", arg);
	s->busy = true;
#ifdef HAVE_CRYPT_R
	if (s->hash) {
		s->user_known = u != NULL;
		prep(s, &s->f, on_checked, 0, 0);
		submitted(s, &s->f, cio_work(s->w->loop, &s->f.req, check_password, on_slot));
		return;
	}
#endif
	s->login_ok = false;
	on_checked(s, 0);
}

static void cmd_pwd(struct sess *s, char *arg)
{
	char q[2 * PATH_MAX + 2];
	size_t n = 0;

	(void)arg;
	q[n++] = '/';
	for (const char *p = s->cwd; *p && n < sizeof(q) - 2; p++) {
		if (*p == '"')
			q[n++] = '"';
		q[n++] = *p;
	}
	q[n] = '\0';
	reply(s, "257 \"%s\" is the current directory.", q);
}

static void cmd_type(struct sess *s, char *arg)
{
	if (!strcasecmp(arg, "A") || !strcasecmp(arg, "A N")) {
		s->ascii = true;
		reply(s, "200 Switching to ASCII mode.");
	} else if (!strcasecmp(arg, "I") || !strcasecmp(arg, "L 8")) {
		s->ascii = false;
		reply(s, "200 Switching to Binary mode.");
	} else {
		reply(s, "504 Unsupported type.");
	}
}

bool same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	struct in6_addr x, y;

	addr_key(a, &x);
	addr_key(b, &y);
	return !memcmp(&x, &y, sizeof(x));
}

static bool is_v4(const struct sess *s, uint32_t *ip)
{
	struct in6_addr a;

	addr_key(&s->local, &a);
	if (!IN6_IS_ADDR_V4MAPPED(&a))
		return false;
	memcpy(ip, &a.s6_addr[12], 4);
	return true;
}

/* A passive listener on the control connection's own address. */
static void pasv_open(struct sess *s, bool epsv)
{
	struct sockaddr_storage ss = s->local;
	socklen_t len = s->local_len;
	uint32_t ip = 0;
	unsigned port;
	int fd;

	if (!epsv && !is_v4(s, &ip)) {
		reply(s, "522 Use EPSV on IPv6.");
		return;
	}
	if (ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port = 0;
	else
		((struct sockaddr_in *)&ss)->sin_port = 0;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		if (fd >= 0)
			close(fd);
		reply(s, "425 Cannot open a passive connection.");
		return;
	}
	s->pasv_fd = fd;
	port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					      : ((struct sockaddr_in *)&ss)->sin_port);
	/* The listener waits --pasv-timeout for its one connection. */
	prep(s, &s->a, on_pasv_accept, 0, opt.pasv_ns);
	s->a.opens = true;
	submitted(s, &s->a, cio_accept(s->w->loop, &s->a.req, fd, NULL, NULL,
				       SOCK_NONBLOCK | SOCK_CLOEXEC, on_slot));
	if (s->closing)
		return;
	if (epsv) {
		reply(s, "229 Entering Extended Passive Mode (|||%u|).", port);
	} else {
		const unsigned char *b = (const unsigned char *)&ip;

		reply(s, "227 Entering Passive Mode (%u,%u,%u,%u,%u,%u).", b[0], b[1], b[2],
		      b[3], port >> 8, port & 255);
	}
}

static void cmd_pasv_common(struct sess *s, bool epsv)
{
	data_reset(s);
	if (s->a.armed) {
		/* The old listener's accept must call back first. */
		s->busy = true;
		s->repasv = 1;
		s->repasv_epsv = epsv;
		return;
	}
	pasv_open(s, epsv);
}

/* Called by ftpd-fs.c's on_pasv_accept when a cancelled accept ends. */
void pasv_resume(struct sess *s)
{
	if (!s->repasv)
		return;
	s->repasv = 0;
	pasv_open(s, s->repasv_epsv);
	finish(s);
}

static void cmd_pasv(struct sess *s, char *arg) { (void)arg; cmd_pasv_common(s, false); }

static void cmd_epsv(struct sess *s, char *arg)
{
	if (arg[0] && !strcasecmp(arg, "ALL")) {
		reply(s, "200 EPSV ALL ok.");
		return;
	}
	if (arg[0] && strcmp(arg, "1") && strcmp(arg, "2")) {
		reply(s, "522 Protocol not supported, use (1,2).");
		return;
	}
	cmd_pasv_common(s, true);
}

/* PORT and EPRT: the data connection goes out only to the control
 * connection's peer, and never to a privileged port (no FTP bounce). */
static void port_set(struct sess *s, struct sockaddr_storage *ss, socklen_t len, unsigned port)
{
	if (!same_host(ss, &s->peer) || port < 1024) {
		reply(s, "500 Illegal PORT command.");
		return;
	}
	data_reset(s);
	s->port_addr = *ss;
	s->port_len = len;
	s->port_set = true;
	reply(s, "200 PORT command successful.");
}

static void cmd_port(struct sess *s, char *arg)
{
	unsigned h[6];
	int n = 0;
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

	if (sscanf(arg, "%u,%u,%u,%u,%u,%u%n", &h[0], &h[1], &h[2], &h[3], &h[4], &h[5], &n) != 6 ||
	    arg[n] || h[0] > 255 || h[1] > 255 || h[2] > 255 || h[3] > 255 || h[4] > 255 ||
	    h[5] > 255) {
		reply(s, "501 Syntax error in PORT.");
		return;
	}
	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(h[0] << 24 | h[1] << 16 | h[2] << 8 | h[3]);
	sin->sin_port = htons((uint16_t)(h[4] << 8 | h[5]));
	port_set(s, &ss, sizeof(*sin), h[4] << 8 | h[5]);
}

static void cmd_eprt(struct sess *s, char *arg)
{
	char d = arg[0], host[INET6_ADDRSTRLEN], *p, *q;
	struct sockaddr_storage ss;
	unsigned long port;
	size_t hl;

	memset(&ss, 0, sizeof(ss));
	if (!d || !(p = strchr(arg + 1, d)) || !(q = strchr(p + 1, d)) ||
	    (hl = (size_t)(q - p - 1)) >= sizeof(host)) {
		reply(s, "501 Syntax error in EPRT.");
		return;
	}
	memcpy(host, p + 1, hl);
	host[hl] = '\0';
	port = strtoul(q + 1, &p, 10);
	if (*p != d || p[1] || port == 0 || port > 65535) {
		reply(s, "501 Syntax error in EPRT.");
		return;
	}
	if (!strncmp(arg + 1, "1", 1) && arg[2] == d &&
	    inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		ss.ss_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		port_set(s, &ss, sizeof(struct sockaddr_in), (unsigned)port);
	} else if (!strncmp(arg + 1, "2", 1) && arg[2] == d &&
		   inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		port_set(s, &ss, sizeof(struct sockaddr_in6), (unsigned)port);
	} else {
		reply(s, "522 Protocol not supported, use (1,2).");
	}
}

static void cmd_rest(struct sess *s, char *arg)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-') {
		reply(s, "501 REST needs a byte offset.");
		return;
	}
	s->rest = v;
	reply(s, "350 Restart position accepted (%llu).", v);
}

static void cmd_feat(struct sess *s, char *arg)
{
	(void)arg;
	reply(s, "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n MFMT\r\n"
	      " MLST type*;size*;modify*;perm*;\r\n PASV\r\n REST STREAM\r\n SIZE\r\n"
	      " TVFS\r\n UTF8\r\n211 End");
}

static void cmd_opts(struct sess *s, char *arg)
{
	if (!strcasecmp(arg, "UTF8 ON") || !strcasecmp(arg, "UTF8"))
		reply(s, "200 Always in UTF8 mode.");
	else if (!strncasecmp(arg, "MLST", 4))
		reply(s, "200 MLST OPTS type;size;modify;perm;");
	else
		reply(s, "501 Option not understood.");
}

static void cmd_site(struct sess *s, char *arg)
{
	if (!strncasecmp(arg, "CHMOD ", 6)) {
		if (!s->rw) {
			reply(s, "550 Permission denied.");
			return;
		}
		cmd_chmod(s, arg + 6);
		return;
	}
	reply(s, "502 SITE command not implemented.");
}

static void cmd_abor(struct sess *s, char *arg) { (void)arg; reply(s, "226 No transfer to abort."); }
static void cmd_noop(struct sess *s, char *arg) { (void)arg; reply(s, "200 NOOP ok."); }
static void cmd_syst(struct sess *s, char *arg) { (void)arg; reply(s, "215 UNIX Type: L8"); }
static void cmd_quit(struct sess *s, char *arg)
{
	(void)arg;
	reply(s, "221 Goodbye.");
	quit_after_reply(s);
}
static void cmd_mode(struct sess *s, char *arg)
{
	reply(s, !strcasecmp(arg, "S") ? "200 Mode set to S." : "504 Only stream mode.");
}
static void cmd_stru(struct sess *s, char *arg)
{
	reply(s, !strcasecmp(arg, "F") ? "200 Structure set to F." : "504 Only file structure.");
}
static void cmd_cdup(struct sess *s, char *arg) { (void)arg; cmd_cwd(s, ".."); }
static void c_cwd(struct sess *s, char *arg) { cmd_cwd(s, arg); }
static void c_size(struct sess *s, char *arg) { cmd_stat_kind(s, arg, ST_SIZE); }
static void c_mdtm(struct sess *s, char *arg) { cmd_stat_kind(s, arg, ST_MDTM); }
static void c_mlst(struct sess *s, char *arg) { cmd_stat_kind(s, arg, ST_MLST); }
static void c_dele(struct sess *s, char *arg) { cmd_dele(s, arg, false); }
static void c_rmd(struct sess *s, char *arg) { cmd_dele(s, arg, true); }
static void c_mkd(struct sess *s, char *arg) { cmd_mkd(s, arg); }
static void c_rnfr(struct sess *s, char *arg) { cmd_rnfr(s, arg); }
static void c_rnto(struct sess *s, char *arg) { cmd_rnto(s, arg); }
static void c_mfmt(struct sess *s, char *arg) { cmd_mfmt(s, arg); }
static void c_retr(struct sess *s, char *arg) { xfer_begin(s, X_RETR, arg); }
static void c_stor(struct sess *s, char *arg) { xfer_begin(s, X_STOR, arg); }
static void c_appe(struct sess *s, char *arg) { xfer_begin(s, X_APPE, arg); }
static void c_stou(struct sess *s, char *arg) { xfer_begin(s, X_STOU, arg); }
static void c_list(struct sess *s, char *arg) { xfer_begin(s, X_LIST, arg); }
static void c_nlst(struct sess *s, char *arg) { xfer_begin(s, X_NLST, arg); }
static void c_mlsd(struct sess *s, char *arg) { xfer_begin(s, X_MLSD, arg); }

static const struct command {
	const char *name;
	void (*fn)(struct sess *s, char *arg);
	unsigned flags;
} commands[] = {
	{ "USER", cmd_user, NEED_ARG },
	{ "PASS", cmd_pass, 0 },
	{ "SYST", cmd_syst, 0 },
	{ "FEAT", cmd_feat, 0 },
	{ "OPTS", cmd_opts, NEED_ARG },
	{ "NOOP", cmd_noop, 0 },
	{ "QUIT", cmd_quit, 0 },
	{ "PWD",  cmd_pwd,  NEED_LOGIN },
	{ "XPWD", cmd_pwd,  NEED_LOGIN },
	{ "CWD",  c_cwd,    NEED_LOGIN | NEED_ARG },
	{ "XCWD", c_cwd,    NEED_LOGIN | NEED_ARG },
	{ "CDUP", cmd_cdup, NEED_LOGIN },
	{ "XCUP", cmd_cdup, NEED_LOGIN },
	{ "TYPE", cmd_type, NEED_LOGIN | NEED_ARG },
	{ "MODE", cmd_mode, NEED_LOGIN | NEED_ARG },
	{ "STRU", cmd_stru, NEED_LOGIN | NEED_ARG },
	{ "PASV", cmd_pasv, NEED_LOGIN },
	{ "EPSV", cmd_epsv, NEED_LOGIN },
	{ "PORT", cmd_port, NEED_LOGIN | NEED_ARG },
	{ "EPRT", cmd_eprt, NEED_LOGIN | NEED_ARG },
	{ "REST", cmd_rest, NEED_LOGIN | NEED_ARG },
	{ "LIST", c_list,   NEED_LOGIN },
	{ "NLST", c_nlst,   NEED_LOGIN },
	{ "MLSD", c_mlsd,   NEED_LOGIN },
	{ "MLST", c_mlst,   NEED_LOGIN },
	{ "RETR", c_retr,   NEED_LOGIN | NEED_ARG },
	{ "STOR", c_stor,   NEED_LOGIN | NEED_ARG | NEED_RW },
	{ "APPE", c_appe,   NEED_LOGIN | NEED_ARG | NEED_RW },
	{ "STOU", c_stou,   NEED_LOGIN | NEED_RW },
	{ "DELE", c_dele,   NEED_LOGIN | NEED_ARG | NEED_RW },
	{ "RMD",  c_rmd,    NEED_LOGIN | NEED_ARG | NEED_RW },
	{ "XRMD", c_rmd,    NEED_LOGIN | NEED_ARG | NEED_RW },
	{ "MKD",  c_mkd,    NEED_LOGIN | NEED_ARG | NEED_RW },
	{ "XMKD", c_mkd,    NEED_LOGIN | NEED_ARG | NEED_RW },
	{ "RNFR", c_rnfr,   NEED_LOGIN | NEED_ARG | NEED_RW },
	{ "RNTO", c_rnto,   NEED_LOGIN | NEED_ARG | NEED_RW },
	{ "SIZE", c_size,   NEED_LOGIN | NEED_ARG },
	{ "MDTM", c_mdtm,   NEED_LOGIN | NEED_ARG },
	{ "MFMT", c_mfmt,   NEED_LOGIN | NEED_ARG | NEED_RW },
	{ "SITE", cmd_site, NEED_LOGIN | NEED_ARG },
	{ "ABOR", cmd_abor, 0 },
	{ NULL, NULL, 0 }
};

static void dispatch(struct sess *s, char *line)
{
	char *arg = strchr(line, ' ');
	const struct command *c;

	if (arg)
		*arg++ = '\0';
	else
		arg = line + strlen(line);
	for (c = commands; c->name; c++)
		if (!strcasecmp(c->name, line))
			break;
	if (!c->name) {
		reply(s, "502 Command not implemented.");
		return;
	}
	if (strcmp(c->name, "RNTO") && strcmp(c->name, "RNFR"))
		s->have_rnfr = false;
	if ((c->flags & NEED_LOGIN) && !s->logged_in) {
		reply(s, "530 Please login with USER and PASS.");
		return;
	}
	if ((c->flags & NEED_ARG) && !arg[0]) {
		reply(s, "501 %s needs an argument.", c->name);
		return;
	}
	if ((c->flags & NEED_RW) && !s->rw) {
		reply(s, "550 Permission denied.");
		return;
	}
	c->fn(s, arg);
}

/* ---- accepting ---- */

static void new_session(struct worker *w, int fd)
{
	struct sess *s;
	int one = 1;

	if (atomic_fetch_add(&live_conns, 1) >= opt.max_conns) {
		atomic_fetch_sub(&live_conns, 1);
		if (write(fd, "421 Too many connections.\r\n", 27) < 0) {}
		close(fd);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		atomic_fetch_sub(&live_conns, 1);
		close(fd);
		return;
	}
	s->w = w;
	s->fd = fd;
	s->pasv_fd = s->data_fd = s->file_fd = s->dir_fd = s->tmp_fd = s->tmp_fd2 = -1;
	s->pipe_r = s->pipe_w = -1;
	s->peer_len = sizeof(s->peer);
	s->local_len = sizeof(s->local);
	if (getpeername(fd, (struct sockaddr *)&s->peer, &s->peer_len) < 0 ||
	    getsockname(fd, (struct sockaddr *)&s->local, &s->local_len) < 0) {
		atomic_fetch_sub(&live_conns, 1);
		close(fd);
		free(s);
		return;
	}
	if (!ip_take(&s->peer)) {
		atomic_fetch_sub(&live_conns, 1);
		if (write(fd, "421 Too many connections from your address.\r\n", 46) < 0) {}
		close(fd);
		free(s);
		return;
	}
	/* ftplib sends ABOR with MSG_OOB: keep the urgent byte in line. */
	setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one));
	s->next = w->sessions;
	if (s->next)
		s->next->prev = s;
	w->sessions = s;
	w->nsess++;
	s->depth++;
	reply(s, "220 cio-ftpd ready.");
	arm_read(s);
	s->depth--;
	sess_free_if_done(s);
}

static void on_accept(cio_req *req);

static void start_accept(struct worker *w)
{
	w->accept_req.data = w;
	w->accept_req.opts = CIO_MULTISHOT;
	if (cio_accept(w->loop, &w->accept_req, w->lfd, NULL, NULL,
		       SOCK_NONBLOCK | SOCK_CLOEXEC, on_accept) == 0)
		w->accepting = true;
}

static void on_retry(cio_req *req)
{
	struct worker *w = req->data;

	w->retry_armed = false;
	if (!w->stopping)
		start_accept(w);
	maybe_finish(w);
}

static void on_accept(cio_req *req)
{
	struct worker *w = req->data;

	if (req->res >= 0)
		new_session(w, (int)req->res);
	if (req->flags & CIO_F_MORE)
		return;
	w->accepting = false;
	if (w->stopping) {
		maybe_finish(w);
		return;
	}
	/* EMFILE and the like: wait a little for descriptors to come back. */
	w->retry_timer.data = w;
	if (cio_timer(w->loop, &w->retry_timer, req->res >= 0 ? 0 : 100000000ull, on_retry) == 0)
		w->retry_armed = true;
}

/* ---- stopping ---- */

static void on_drain(cio_req *req)
{
	struct worker *w = req->data;

	w->drain_armed = false;
	if (req->res == 0)
		cio_cancel_all(w->loop);
}

static void maybe_finish(struct worker *w)
{
	if (!w->stopping || w->nsess || w->accepting || w->retry_armed)
		return;
	if (w->drain_armed)
		cio_cancel(w->loop, &w->drain_timer);
	srv_stop_quit(&w->stop);
}

/* Idle sessions are told and closed now; a running command finishes,
 * and finish() closes its session. */
static void begin_stop(struct worker *w)
{
	struct sess *s, *next;

	if (w->stopping)
		return;
	w->stopping = true;
	if (w->accepting)
		cio_cancel(w->loop, &w->accept_req);
	if (w->retry_armed)
		cio_cancel(w->loop, &w->retry_timer);
	for (s = w->sessions; s; s = next) {
		next = s->next;
		s->depth++;
		if (!s->busy && !s->quit) {
			reply(s, "421 Server shutting down.");
			quit_after_reply(s);
		}
		s->depth--;
	}
	if (w->nsess) {
		w->drain_timer.data = w;
		if (cio_timer(w->loop, &w->drain_timer, opt.drain_ns, on_drain) == 0)
			w->drain_armed = true;
	}
	for (s = w->sessions; s; s = next) {
		next = s->next;
		sess_free_if_done(s);
	}
	maybe_finish(w);
}

static void stop_begin(void *w) { begin_stop(w); }
static bool stop_busy(void *w) { return ((struct worker *)w)->nsess != 0; }
static void stop_finish(void *w) { maybe_finish(w); }

static const struct srv_stop_ops stop_ops = { stop_begin, stop_busy, stop_finish };

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int ret = cio_run(w->loop, CIO_RUN_DEFAULT);

	if (ret < 0) {
		fprintf(stderr, "cio-ftpd: thread %u: cio_run: %s\n", w->id, strerror(-ret));
		w->rc = 1;
	}
	return NULL;
}

/* ---- start-up ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cio-ftpd --root DIR [--listen ADDR:PORT] [--backend auto|uring|aio|pool]\n"
		"                [--threads N] [--users FILE] [--no-anonymous] [--fsync]\n"
		"                [--user NAME] [--group NAME] [--max-conns N] [--max-per-ip N]\n"
		"                [--idle-timeout S] [--data-timeout S] [--pasv-timeout S]\n"
		"                [--drain-timeout S]\n");
}

static void parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "root",          required_argument, NULL, 'r' },
		{ "listen",        required_argument, NULL, 'l' },
		{ "backend",       required_argument, NULL, 'b' },
		{ "threads",       required_argument, NULL, 't' },
		{ "users",         required_argument, NULL, 'U' },
		{ "no-anonymous",  no_argument,       NULL, 'N' },
		{ "fsync",         no_argument,       NULL, 'F' },
		{ "user",          required_argument, NULL, 'u' },
		{ "group",         required_argument, NULL, 'g' },
		{ "max-conns",     required_argument, NULL, 'm' },
		{ "max-per-ip",    required_argument, NULL, 'p' },
		{ "idle-timeout",  required_argument, NULL, 'I' },
		{ "data-timeout",  required_argument, NULL, 'D' },
		{ "pasv-timeout",  required_argument, NULL, 'P' },
		{ "drain-timeout", required_argument, NULL, 'T' },
		{ "help",          no_argument,       NULL, 'h' },
		{ 0 }
	};
	int ch;

	srv_set_usage("cio-ftpd", usage);

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r': opt.root = optarg; break;
		case 'l': opt.listen = optarg; break;
		case 'b': opt.backend = optarg; break;
		case 't': opt.threads = srv_count_arg(optarg, "--threads", 256); break;
		case 'U': opt.users = optarg; break;
		case 'N': opt.no_anon = true; break;
		case 'F': opt.fsync = true; break;
		case 'u': opt.user = optarg; break;
		case 'g': opt.group = optarg; break;
		case 'm': opt.max_conns = srv_count_arg(optarg, "--max-conns", 1u << 20); break;
		case 'p': opt.max_per_ip = srv_count_arg(optarg, "--max-per-ip", 1u << 20); break;
		case 'I': opt.idle_ns = srv_seconds_arg(optarg, "--idle-timeout"); break;
		case 'D': opt.data_ns = srv_seconds_arg(optarg, "--data-timeout"); break;
		case 'P': opt.pasv_ns = srv_seconds_arg(optarg, "--pasv-timeout"); break;
		case 'T': opt.drain_ns = srv_seconds_arg(optarg, "--drain-timeout"); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(EXIT_USAGE);
		}
	}
	if (optind < argc)
		srv_die_usage("unexpected argument %s", argv[optind]);
	if (!opt.root)
		srv_die_usage("%s", "--root DIR is required");
	if (opt.backend && strcmp(opt.backend, "auto") && strcmp(opt.backend, "uring") &&
	    strcmp(opt.backend, "aio") && strcmp(opt.backend, "pool"))
		srv_die_usage("--backend %s: not auto, uring, aio or pool", opt.backend);
}

/* name:crypt-hash:rw|ro per line; '#' starts a comment. */
static int load_users(const char *path)
{
	FILE *f = fopen(path, "re");
	char line[1024];
	unsigned lineno = 0;

	if (!f) {
		fprintf(stderr, "cio-ftpd: --users %s: %s\n", path, strerror(errno));
		return -1;
	}
#ifndef HAVE_CRYPT_R
	fprintf(stderr, "cio-ftpd: --users: built without crypt(3) (libcrypt-dev)\n");
	fclose(f);
	return -1;
#endif
	while (fgets(line, sizeof(line), f)) {
		char *name = line, *hash, *mode, *nl;
		struct user *nu;

		lineno++;
		if ((nl = strchr(line, '\n')))
			*nl = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		hash = strchr(name, ':');
		mode = hash ? strchr(hash + 1, ':') : NULL;
		if (!mode || hash == name || mode == hash + 1 ||
		    (strcmp(mode + 1, "rw") && strcmp(mode + 1, "ro"))) {
			fprintf(stderr, "cio-ftpd: %s:%u: not name:hash:rw|ro\n", path, lineno);
			fclose(f);
			return -1;
		}
		*hash++ = '\0';
		*mode++ = '\0';
		nu = realloc(users, (nusers + 1) * sizeof(*users));
		if (!nu)
			break;
		users = nu;
		users[nusers].name = strdup(name);
		users[nusers].hash = strdup(hash);
		users[nusers].rw = !strcmp(mode, "rw");
		nusers++;
	}
	fclose(f);
	return 0;
}

/* After the listeners are bound and before any loop (and so any SQPOLL
 * thread, which keeps the credentials it starts with) exists. */
static int drop_privileges(void)
{
	struct passwd *pw;
	gid_t gid;

	if (!opt.user) {
		if (geteuid() == 0) {
			fprintf(stderr, "cio-ftpd: refusing to serve as root: give --user\n");
			return -1;
		}
		return 0;
	}
	pw = getpwnam(opt.user);
	if (!pw) {
		fprintf(stderr, "cio-ftpd: --user %s: no such user\n", opt.user);
		return -1;
	}
	gid = pw->pw_gid;
	if (opt.group) {
		struct group *gr = getgrnam(opt.group);

		if (!gr) {
			fprintf(stderr, "cio-ftpd: --group %s: no such group\n", opt.group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0) {
		fprintf(stderr, "cio-ftpd: dropping privileges to %s: %s\n", opt.user,
			strerror(errno));
		return -1;
	}
	if (pw->pw_uid != 0 && setuid(0) == 0) {
		fprintf(stderr, "cio-ftpd: privileges came back after the drop\n");
		return -1;
	}
	return 0;
}

static void fit_max_conns(void)
{
	struct rlimit rl;
	rlim_t room;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		rl.rlim_cur = rl.rlim_max = 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	/* a session may hold its socket, a listener, a data socket, a file
	 * and a directory */
	room = rl.rlim_cur > 64 + 8 * opt.threads ? (rl.rlim_cur - 64 - 8 * opt.threads) / 5 : 1;
	if (!opt.max_conns)
		opt.max_conns = room < 1024 ? (unsigned)(room ? room : 1) : 1024;
	nips = opt.max_conns;
	ips = calloc(nips, sizeof(*ips));
}

static void print_listening(const struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, host, sizeof(host));
		printf("listening on [%s]:%u\n", host,
		       ntohs(((const struct sockaddr_in6 *)ss)->sin6_port));
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, host, sizeof(host));
		printf("listening on %s:%u\n", host, ntohs(((const struct sockaddr_in *)ss)->sin_port));
	}
	printf("backend %s, %u thread%s\n", cio_backend(workers[0].loop), opt.threads,
	       opt.threads == 1 ? "" : "s");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	struct cio_loop_opts lo = { .entries = 1024 };
	socklen_t slen;
	sigset_t mask;
	int rc;

	parse_args(argc, argv);
	if (srv_parse_listen(opt.listen, &ss, &slen) < 0)
		srv_die_usage("--listen %s: not ADDR:PORT", opt.listen);
	fit_max_conns();
	if (!ips)
		return 1;
	root_fd = open(opt.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		fprintf(stderr, "cio-ftpd: --root %s: %s\n", opt.root, strerror(errno));
		return 1;
	}
	if (opt.users && load_users(opt.users) < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);

	workers = calloc(opt.threads, sizeof(*workers));
	if (!workers)
		return 1;
	for (unsigned i = 0; i < opt.threads; i++) {
		workers[i].id = i;
		workers[i].lfd = srv_listener(&ss, slen);
		if (workers[i].lfd < 0) {
			fprintf(stderr, "cio-ftpd: listen on %s: %s\n", opt.listen,
				strerror(-workers[i].lfd));
			return 1;
		}
		/* Port 0 picked one: the other threads bind the same. */
		if (i == 0 && getsockname(workers[0].lfd, (struct sockaddr *)&ss, &slen) < 0)
			return 1;
	}
	if (drop_privileges() < 0)
		return 1;
	lo.backend = opt.backend;
	for (unsigned i = 0; i < opt.threads; i++) {
		rc = cio_loop_new(&workers[i].loop, &lo);
		if (rc < 0) {
			fprintf(stderr, "cio-ftpd: backend %s: %s\n",
				opt.backend ? opt.backend : "auto", strerror(-rc));
			return EXIT_BACKEND;
		}
	}
	for (unsigned i = 0; i < opt.threads; i++)
		if (srv_stop_add(&workers[i].stop, workers[i].loop, &workers[i]) < 0)
			return 1;
	rc = srv_stop_start(&mask, &stop_ops);
	if (rc < 0) {
		fprintf(stderr, "cio-ftpd: signalfd: %s\n", strerror(-rc));
		return 1;
	}
	for (unsigned i = 0; i < opt.threads; i++)
		start_accept(&workers[i]);
	print_listening(&ss);
	for (unsigned i = 1; i < opt.threads; i++)
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i])) {
			fprintf(stderr, "cio-ftpd: cannot start thread %u\n", i);
			return 1;
		}
	worker_main(&workers[0]);
	rc = workers[0].rc;
	for (unsigned i = 1; i < opt.threads; i++) {
		pthread_join(workers[i].thread, NULL);
		rc |= workers[i].rc;
	}
	for (unsigned i = 0; i < opt.threads; i++) {
		close(workers[i].lfd);
		cio_loop_free(workers[i].loop);
	}
	srv_stop_close();
	free(workers);
	close(root_fd);
	return rc;
}
