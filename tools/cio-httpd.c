/* SPDX-License-Identifier: MIT */
/*
 * cio-httpd: a static file server built on libcio's public API only.
 *
 *   cio-httpd --root DIR [--listen ADDR:PORT] [--backend auto|uring|aio|pool]
 *             [--threads N] [--max-conns N] [--access-log FILE] [--index]
 *             [--header-timeout S] [--idle-timeout S] [--send-timeout S]
 *             [--drain-timeout S]
 *
 * One loop per thread, each with its own SO_REUSEPORT listening socket and
 * a multishot accept. Near --max-conns a thread waits for its listener to
 * be readable and accepts only what a free slot lets it serve, so the rest
 * wait in the backlog; a slot freed on one thread wakes the others with
 * cio_post, as the limit is shared by all of them. A connection has
 * one request in flight at a time, so it needs one cio_req: receive the
 * head (with a deadline), open the file, send the head with the body of a
 * small file, or the head and then the body with cio_sendfile, and start
 * over.
 *
 * Files open with cio_openat2 (RESOLVE_BENEATH), directories list with
 * cio_getdents, so a cold disk never stalls the other connections. Where
 * the open would take the pool, a lookup the kernel can do from its
 * caches (RESOLVE_CACHED) runs in the loop first and saves the trip; the
 * ring tries that by itself.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#if defined(SYS_openat2) && __has_include(<linux/openat2.h>)
# include <linux/openat2.h>
# define HAVE_OPENAT2 1
#endif

#include <cio.h>

#include "http-parse.h"
#include "server-util.h"

#define NS_PER_S     1000000000ull
/* Bodies up to SMALL_MAX are read into the connection's buffer and go out
 * with the head in one send; larger ones with cio_sendfile. (Reading 64
 * KiB bodies into buffers too was measured: sendfile was faster, as the
 * copies cost more than its trip to the pool.) */
#define SMALL_MAX    (16 * 1024)
#define OUT_SIZE     (SMALL_MAX + 1024)
#define CHUNK        (1u << 20)    /* bytes per cio_sendfile (CIO_ALL) */
#define LINGER_NS    (2 * NS_PER_S)
#define LINGER_MAX   (256 * 1024)  /* unread bytes drained before a close */
#define RETRY_NS     (100 * 1000000ull)  /* accept back-off */
#define PARK_NS      (10 * NS_PER_S)     /* see accept_resume */
/* A multishot accept takes every connection waiting in the backlog at
 * once (io_uring does so in the kernel, before we can count them), so it
 * is used only while --max-conns leaves this much room; closer to the
 * limit, one accept at a time. */
#define MULTISHOT_ROOM 128
#define LOG_SIZE     (32 * 1024)
#define LOG_FLUSH    (16 * 1024)
#define LIST_MAX     10000         /* directory entries listed */

/* Exit statuses (see cio-httpd(1)). */
enum { EXIT_USAGE = 2, EXIT_BACKEND = 3 };

static struct {
	const char *root, *listen, *backend, *access_log;
	unsigned    threads, max_conns;
	bool        index;
	uint64_t    header_ns, idle_ns, send_ns, drain_ns;
} opt = {
	.listen = "127.0.0.1:8080",
	.threads = 1,
	.max_conns = 0,       /* 0: 1024, or less if RLIMIT_NOFILE says so */
	.header_ns = 10 * NS_PER_S,
	.idle_ns = 30 * NS_PER_S,
	.send_ns = 60 * NS_PER_S,
	.drain_ns = 10 * NS_PER_S,
};

static int root_fd = -1;
static char root_real[PATH_MAX];   /* for the check without openat2 */
static bool have_openat2, have_cached;
static int log_fd = -1;
static atomic_uint live_conns;     /* slots taken over all threads, for --max-conns */

enum conn_state { C_READ, C_OPEN, C_LIST, C_BODY, C_SEND, C_LINGER };
enum open_stage { ST_FILE, ST_INDEX };

struct worker;

struct conn {
	struct worker      *w;
	struct conn        *prev, *next;
	cio_req             req;        /* the one request in flight */
	int                 fd;
	int                 file;       /* the file being sent, or -1 */
	int                 dirfd;      /* a directory to index, or -1 */
	int                 state;      /* enum conn_state */
	int                 stage;      /* enum open_stage */
	struct listing     *list;       /* a directory being listed */
	int                 status;
	bool                idle;       /* waiting for a request to start */
	bool                keep_alive;
	bool                linger;     /* drain unread input before closing */
	uint64_t            head_deadline;
	size_t              inlen, head_len, lingered;
	size_t              path_len;
	bool                want_dir;   /* the target ended with '/' */
	struct stat         st;
	uint64_t            body_off, body_left, chunk, sent;
	size_t              small_got;
	const char         *outp;       /* what to send: out or dyn */
	size_t              outlen;
	char               *dyn;        /* a directory listing */
	size_t              dyn_len;
	struct http_request hr;         /* points into in */
	char                peer[INET6_ADDRSTRLEN];
	char                path[PATH_MAX];
	char                in[HTTP_MAX_HEAD];
	/* cio_getdents fills it while a listing is read: 8-byte aligned */
	_Alignas(uint64_t) char out[OUT_SIZE];
};

struct worker {
	unsigned     id;
	cio_loop    *loop;
	pthread_t    thread;
	int          lfd;
	int          rc;
	bool         stopping, accepting, pausing;
	bool         open_inline;    /* try cached lookups in the loop first */
	bool         retry_armed, drain_armed, log_armed, park_armed;
	cio_req      accept_req, retry_timer, drain_timer, log_timer, park_timer;
	cio_req      wake_post;
	atomic_bool  full;              /* waits for another thread to free a slot */
	atomic_bool  wake_posted;       /* wake_post is in flight */
	struct srv_stop stop;           /* SIGINT and SIGTERM */
	struct conn *conns;
	unsigned     nconns;
	time_t       date_sec;
	char         date[32];          /* IMF-fixdate of date_sec */
	char         logdate[40];       /* [dd/Mon/yyyy:hh:mm:ss +0000] */
	char        *logbuf;
	size_t       loglen;
	uint64_t     accept_warned;
};

static struct worker *workers;

static void read_more(struct conn *c);
static void handle_input(struct conn *c);
static void response_done(struct conn *c);
static void respond_error(struct conn *c, int status);
static void accept_resume(struct worker *w);
static void on_wake(cio_req *req);
static void on_park(cio_req *req);
static void maybe_finish(struct worker *w);
static void log_flush(struct worker *w);

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void refresh_date(struct worker *w)
{
	time_t t = time(NULL);
	struct tm tm;

	if (t == w->date_sec)
		return;
	w->date_sec = t;
	w->date[http_format_date((int64_t)t, w->date)] = '\0';
	gmtime_r(&t, &tm);
	strftime(w->logdate, sizeof(w->logdate), "[%d/%b/%Y:%H:%M:%S +0000]", &tm);
}

/* ---- access log: lines gather per thread, written at most a second late ---- */

static void on_log_timer(cio_req *req)
{
	struct worker *w = req->data;

	w->log_armed = false;
	log_flush(w);
}

/* A plain write(2) of what gathered: appending to a file in the page cache
 * does not wait for the disk, and O_APPEND keeps threads' lines whole. */
static void log_flush(struct worker *w)
{
	size_t done = 0;

	while (done < w->loglen) {
		ssize_t n = write(log_fd, w->logbuf + done, w->loglen - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;      /* a full disk loses log lines, not service */
		done += (size_t)n;
	}
	w->loglen = 0;
}

static void log_request(struct conn *c)
{
	struct worker *w = c->w;
	const struct http_request *r = &c->hr;
	int n, tlen = r->target_len > 2048 ? 2048 : (int)r->target_len;

	if (log_fd < 0)
		return;
	refresh_date(w);
	if (r->method)
		n = snprintf(w->logbuf + w->loglen, LOG_SIZE - w->loglen,
			     "%s - - %s \"%.*s %.*s HTTP/1.%d\" %d %llu\n",
			     c->peer, w->logdate, (int)r->method_len, r->method_str,
			     tlen, r->target, r->minor, c->status,
			     (unsigned long long)c->sent);
	else
		n = snprintf(w->logbuf + w->loglen, LOG_SIZE - w->loglen,
			     "%s - - %s \"-\" %d %llu\n", c->peer, w->logdate,
			     c->status, (unsigned long long)c->sent);
	if (n > 0)
		w->loglen += (size_t)n < LOG_SIZE - w->loglen ? (size_t)n : 0;
	if (w->loglen >= LOG_FLUSH || w->stopping) {
		log_flush(w);
	} else if (!w->log_armed) {
		w->log_timer.data = w;
		if (cio_timer(w->loop, &w->log_timer, NS_PER_S, on_log_timer) == 0)
			w->log_armed = true;
		else
			log_flush(w);
	}
}

/* ---- connections ---- */

/* Take one of the --max-conns slots, if one is free. */
static bool slot_take(void)
{
	unsigned cur = atomic_load(&live_conns);

	while (cur < opt.max_conns)
		if (atomic_compare_exchange_weak(&live_conns, &cur, cur + 1))
			return true;
	return false;
}

/* Give a slot back and wake the threads that wait for one: they sleep
 * with no accept armed, so nothing else would. The caller resumes its own
 * accepting itself. */
static void slot_give(struct worker *self)
{
	atomic_fetch_sub(&live_conns, 1);
	for (unsigned i = 0; i < opt.threads; i++) {
		struct worker *o = &workers[i];

		if (o == self || !atomic_load(&o->full) ||
		    atomic_exchange(&o->wake_posted, true))
			continue;
		o->wake_post.data = o;
		if (cio_post(o->loop, &o->wake_post, on_wake) < 0)
			atomic_store(&o->wake_posted, false);
	}
}


static void list_free(struct conn *c);

static void close_conn(struct conn *c)
{
	struct worker *w = c->w;

	if (c->file >= 0)
		close(c->file);
	if (c->dirfd >= 0)
		close(c->dirfd);
	/* Nothing is in flight on c->fd: its one request has called back. */
	close(c->fd);
	free(c->dyn);
	list_free(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->nconns--;
	slot_give(w);
	free(c);
	accept_resume(w);
	maybe_finish(w);
}

static void on_linger(cio_req *req)
{
	struct conn *c = req->data;

	if (req->res <= 0 || c->w->stopping ||
	    (c->lingered += (size_t)req->res) > LINGER_MAX) {
		close_conn(c);
		return;
	}
	req->timeout_ns = LINGER_NS;
	if (cio_recv(c->w->loop, req, c->fd, c->in, sizeof(c->in), 0, on_linger) < 0)
		close_conn(c);
}

/* Closing a socket with unread input resets the connection, and the reset
 * can overtake the response on its way to the client. So: stop sending,
 * read and drop what comes for a while, then close. */
static void linger_close(struct conn *c)
{
	shutdown(c->fd, SHUT_WR);
	c->state = C_LINGER;
	c->lingered = 0;
	c->req.opts = 0;
	c->req.timeout_ns = LINGER_NS;
	if (cio_recv(c->w->loop, &c->req, c->fd, c->in, sizeof(c->in), 0, on_linger) < 0)
		close_conn(c);
}

static void on_recv(cio_req *req)
{
	struct conn *c = req->data;

	if (req->res <= 0 || c->w->stopping) {
		/* A head that does not arrive in time gets a 408; an idle
		 * connection that times out is just closed. */
		if (req->res == -ETIMEDOUT && !c->idle && c->inlen > 0 && !c->w->stopping) {
			memset(&c->hr, 0, sizeof(c->hr));
			c->head_len = c->inlen;
			respond_error(c, 408);
			return;
		}
		close_conn(c);
		return;
	}
	if (c->idle) {
		c->idle = false;
		c->head_deadline = now_ns() + opt.header_ns;
	}
	c->inlen += (size_t)req->res;
	handle_input(c);
}

/* Receive more of a head: an idle connection waits --idle-timeout, one
 * inside a head what is left of --header-timeout, however it trickles. */
static void read_more(struct conn *c)
{
	uint64_t t = opt.idle_ns, now;

	if (!c->idle || c->inlen > 0) {
		now = now_ns();
		if (now >= c->head_deadline) {
			memset(&c->hr, 0, sizeof(c->hr));
			c->head_len = c->inlen;
			respond_error(c, 408);
			return;
		}
		t = c->head_deadline - now;
	}
	c->state = C_READ;
	c->req.opts = 0;
	c->req.timeout_ns = t;
	if (cio_recv(c->w->loop, &c->req, c->fd, c->in + c->inlen,
		     sizeof(c->in) - c->inlen, 0, on_recv) < 0)
		close_conn(c);
}

/* Serve fd, which holds a slot already. */
static void new_conn(struct worker *w, int fd)
{
	struct conn *c = w->stopping ? NULL : malloc(sizeof(*c));

	if (!c) {
		close(fd);
		slot_give(w);
		return;
	}
	/* Only the head of the struct needs zeroing; the buffers are
	 * written before they are read. */
	memset(c, 0, offsetof(struct conn, path));
	c->w = w;
	c->fd = fd;
	c->file = c->dirfd = -1;
	c->req.data = c;
	c->head_deadline = now_ns() + opt.header_ns;
	strcpy(c->peer, "-");
	if (log_fd >= 0) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);

		if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
			if (ss.ss_family == AF_INET)
				inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
					  c->peer, sizeof(c->peer));
			else if (ss.ss_family == AF_INET6)
				inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
					  c->peer, sizeof(c->peer));
		}
	}
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
	read_more(c);
}

/* A connection from the multishot accept. It can bring in more than the
 * room left (the kernel takes the backlog before we count), so it stops
 * well before the limit; what still finds no slot is closed. */
static void multishot_conn(struct worker *w, int fd)
{
	bool took = !w->stopping && slot_take();

	if (w->accepting && !w->pausing &&
	    (!took || opt.max_conns - atomic_load(&live_conns) <= MULTISHOT_ROOM)) {
		w->pausing = true;      /* on with accepts one slot at a time */
		cio_cancel(w->loop, &w->accept_req);
	}
	if (took)
		new_conn(w, fd);
	else
		close(fd);
}

/* ---- responses ---- */

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default:  return "Internal Server Error";
	}
}

/* Append to the head being built in c->out; a field that does not fit is
 * cut short, which only a Location of several KiB could cause. */
static void put(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->outlen >= sizeof(c->out))
		return;
	va_start(ap, fmt);
	n = vsnprintf(c->out + c->outlen, sizeof(c->out) - c->outlen, fmt, ap);
	va_end(ap);
	if (n > 0)
		c->outlen += (size_t)n < sizeof(c->out) - c->outlen ?
			     (size_t)n : sizeof(c->out) - c->outlen - 1;
}

static void head_start(struct conn *c, int status)
{
	refresh_date(c->w);
	c->status = status;
	c->outlen = 0;
	c->outp = c->out;
	put(c, "HTTP/1.1 %d %s\r\nServer: cio-httpd\r\nDate: %s\r\n",
	    status, reason(status), c->w->date);
}

static void head_end(struct conn *c)
{
	if (!c->keep_alive)
		put(c, "Connection: close\r\n\r\n");
	else if (c->hr.minor == 0)
		put(c, "Connection: keep-alive\r\n\r\n");
	else
		put(c, "\r\n");
}

static void on_sendfile(cio_req *req);

static void send_file_chunk(struct conn *c)
{
	c->chunk = c->body_left < CHUNK ? c->body_left : CHUNK;
	c->state = C_SEND;
	c->req.opts = CIO_ALL;
	c->req.timeout_ns = opt.send_ns;
	if (cio_sendfile(c->w->loop, &c->req, c->fd, c->file, (int64_t)c->body_off,
			 (size_t)c->chunk, on_sendfile) < 0)
		close_conn(c);
}

static void on_sendfile(cio_req *req)
{
	struct conn *c = req->data;

	/* Short: the file shrank, and the promised length cannot be kept. */
	if (req->res < 0 || (uint64_t)req->res < c->chunk) {
		close_conn(c);
		return;
	}
	c->body_off += c->chunk;
	c->body_left -= c->chunk;
	c->sent += c->chunk;
	if (c->body_left)
		send_file_chunk(c);
	else
		response_done(c);
}

static void on_sent(cio_req *req)
{
	struct conn *c = req->data;

	if (req->res < 0) {
		close_conn(c);
		return;
	}
	if (c->body_left && c->file >= 0) {
		send_file_chunk(c);
		return;
	}
	response_done(c);
}

/* Send outp[0..outlen): a head, maybe with its body. MSG_MORE when a
 * sendfile body follows, so the head rides in the body's first segment. */
static void send_out(struct conn *c)
{
	int flags = c->body_left && c->file >= 0 ? MSG_MORE : 0;

	c->state = C_SEND;
	c->req.opts = CIO_ALL;
	c->req.timeout_ns = opt.send_ns;
	if (cio_send(c->w->loop, &c->req, c->fd, c->outp, c->outlen, flags, on_sent) < 0)
		close_conn(c);
}

/* Statuses after which the connection cannot go on: the rest of the input
 * is not a request we can find the start of. */
static bool ends_conn(int status)
{
	return status == 400 || status == 408 || status == 413 || status == 414 ||
	       status == 431 || status == 505;
}

static void respond_error(struct conn *c, int status)
{
	int blen = (int)strlen(reason(status)) + 5;

	if (ends_conn(status) || (status == 405 && c->hr.has_body)) {
		c->keep_alive = false;
		c->linger = status != 408;
	}
	head_start(c, status);
	put(c, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n", blen);
	if (status == 405)
		put(c, "Allow: GET, HEAD\r\n");
	if (status == 416)
		put(c, "Content-Range: bytes */%llu\r\n", (unsigned long long)c->st.st_size);
	head_end(c);
	if (c->hr.method != HTTP_M_HEAD) {
		put(c, "%d %s\n", status, reason(status));
		c->sent = (uint64_t)blen;
	}
	send_out(c);
}

static int errno_status(int err)
{
	switch (err) {
	case -ENOENT: case -ENOTDIR: case -ENAMETOOLONG:
		return 404;
	case -EACCES: case -EPERM: case -EXDEV: case -ELOOP:
		return 403;
	case -EMFILE: case -ENFILE: case -ENOMEM: case -ECANCELED:
		return 503;
	default:
		return 500;
	}
}

/* A directory asked for without its '/': send the client there, so the
 * links of its index resolve. The target is plain visible ASCII. */
static void redirect_dir(struct conn *c)
{
	size_t plen = 0;

	while (plen < c->hr.target_len && c->hr.target[plen] != '?')
		plen++;
	head_start(c, 301);
	put(c, "Location: %.*s/%.*s\r\nContent-Length: 0\r\n", (int)plen,
	    c->hr.target, (int)(c->hr.target_len - plen), c->hr.target + plen);
	head_end(c);
	send_out(c);
}

static void small_ready(struct conn *c)
{
	c->outlen += c->body_left;
	c->sent = c->body_left;
	c->body_left = 0;
	close(c->file);
	c->file = -1;
	send_out(c);
}

static void on_small_read(cio_req *req)
{
	struct conn *c = req->data;

	if (req->res < 0 || c->small_got + (uint64_t)req->res < c->body_left)
		close_conn(c);   /* no head sent yet, but no body to send either */
	else
		small_ready(c);
}

/* The body joins the head in buf (which holds the head). First try the
 * page cache without blocking (RWF_NOWAIT); what is not there is read
 * through the loop. */
static void read_small(struct conn *c, char *buf)
{
	struct iovec iov = { buf + c->outlen, c->body_left };
	ssize_t n = preadv2(c->file, &iov, 1, (off_t)c->body_off, RWF_NOWAIT);

	c->outp = buf;
	c->small_got = n > 0 ? (size_t)n : 0;
	if (c->small_got == c->body_left) {
		small_ready(c);
		return;
	}
	c->state = C_BODY;
	c->req.opts = CIO_ALL;
	c->req.timeout_ns = 0;
	if (cio_read(c->w->loop, &c->req, c->file, buf + c->outlen + c->small_got,
		     c->body_left - c->small_got,
		     (int64_t)(c->body_off + c->small_got), on_small_read) < 0)
		close_conn(c);
}

static void respond_file(struct conn *c)
{
	const struct http_request *r = &c->hr;
	uint64_t size = (uint64_t)c->st.st_size, off = 0, len = size;
	int64_t mtime = (int64_t)c->st.st_mtime;
	char lm[32];
	int status;

	lm[http_format_date(mtime, lm)] = '\0';
	if (r->if_modified_since >= 0 && mtime <= r->if_modified_since) {
		close(c->file);
		c->file = -1;
		head_start(c, 304);
		put(c, "Last-Modified: %s\r\n", lm);
		head_end(c);
		send_out(c);
		return;
	}
	status = http_range_resolve(r, size, mtime, &off, &len);
	if (status == 416) {
		close(c->file);
		c->file = -1;
		respond_error(c, 416);
		return;
	}
	head_start(c, status);
	put(c, "Content-Type: %s\r\nContent-Length: %llu\r\nLast-Modified: %s\r\n"
	    "Accept-Ranges: bytes\r\n",
	    http_content_type(c->path, strlen(c->path)), (unsigned long long)len, lm);
	if (status == 206)
		put(c, "Content-Range: bytes %llu-%llu/%llu\r\n", (unsigned long long)off,
		    (unsigned long long)(off + len - 1), (unsigned long long)size);
	head_end(c);
	c->body_off = off;
	c->body_left = r->method == HTTP_M_HEAD ? 0 : len;
	if (c->body_left == 0) {
		close(c->file);
		c->file = -1;
		send_out(c);
	} else if (len <= SMALL_MAX && c->outlen + len <= sizeof(c->out)) {
		read_small(c, c->out);
	} else {
		send_out(c);    /* then cio_sendfile, from on_sent */
	}
}

/* ---- directory listings (--index): cio_getdents, then the types
 * getdents left unknown with cio_statx, one request at a time ---- */

struct entry {
	char         *name;
	size_t        len;
	unsigned char type;     /* DT_*; DT_UNKNOWN and DT_LNK: ask statx */
};

struct listing {
	struct entry *e;
	size_t        n, typed; /* entries; before typed, each type is known */
	struct statx  stx;
};

static void list_free(struct conn *c)
{
	if (!c->list)
		return;
	for (size_t i = 0; i < c->list->n; i++)
		free(c->list->e[i].name);
	free(c->list->e);
	free(c->list);
	c->list = NULL;
}

struct sbuf {
	char  *p;
	size_t len, cap;
	bool   failed;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 8192;
		char *p;

		while (cap < b->len + n)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

#define SB_LIT(b, lit) sb_add(b, lit, sizeof(lit) - 1)

static void sb_html(struct sbuf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': sb_add(b, "&amp;", 5); break;
		case '<': sb_add(b, "&lt;", 4); break;
		case '>': sb_add(b, "&gt;", 4); break;
		case '"': sb_add(b, "&quot;", 6); break;
		case '\'': sb_add(b, "&#39;", 5); break;
		default: sb_add(b, s, 1);
		}
	}
}

static void sb_url(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char u = (unsigned char)*s;
		char e[3] = { '%', hex[u >> 4], hex[u & 15] };

		if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
		    (u >= '0' && u <= '9') || strchr("-._~", u))
			sb_add(b, s, 1);
		else
			sb_add(b, e, 3);
	}
}

/* In the order of the names with a '/' after each directory's. */
static int sort_key(const struct entry *e, size_t i)
{
	if (i < e->len)
		return (unsigned char)e->name[i];
	return i == e->len && e->type == DT_DIR ? '/' : 0;
}

static int cmp_entries(const void *a, const void *b)
{
	for (size_t i = 0;; i++) {
		int x = sort_key(a, i), y = sort_key(b, i);

		if (x != y || !x)
			return x - y;
	}
}

static void respond_listed(struct conn *c);

/* The HTML into c->dyn, leaving room in front for the head. */
static void list_build(struct conn *c)
{
	struct listing *l = c->list;
	struct sbuf b = { 0 };

	qsort(l->e, l->n, sizeof(*l->e), cmp_entries);
	sb_add(&b, c->out, 1024);   /* room for the head */
	SB_LIT(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of /");
	sb_html(&b, c->path);
	if (c->path_len)
		SB_LIT(&b, "/");
	SB_LIT(&b, "</title></head>\n<body><h1>Index of /");
	sb_html(&b, c->path);
	if (c->path_len)
		SB_LIT(&b, "/");
	SB_LIT(&b, "</h1>\n<ul>\n<li><a href=\"../\">../</a></li>\n");
	for (size_t i = 0; i < l->n; i++) {
		bool isdir = l->e[i].type == DT_DIR;

		SB_LIT(&b, "<li><a href=\"");
		sb_url(&b, l->e[i].name);
		if (isdir)
			SB_LIT(&b, "/\">");
		else
			SB_LIT(&b, "\">");
		sb_html(&b, l->e[i].name);
		if (isdir)
			SB_LIT(&b, "/</a></li>\n");
		else
			SB_LIT(&b, "</a></li>\n");
	}
	SB_LIT(&b, "</ul>\n</body></html>\n");
	list_free(c);
	if (b.failed) {
		free(b.p);
		respond_error(c, 500);
		return;
	}
	c->dyn = b.p;
	c->dyn_len = b.len;
	respond_listed(c);
}

static void list_types(struct conn *c);

static void on_typed(cio_req *req)
{
	struct conn *c = req->data;
	struct listing *l = c->list;
	struct entry *e = &l->e[l->typed];

	/* A link to a directory is listed as one; a broken link as a file. */
	e->type = req->res == 0 && S_ISDIR(l->stx.stx_mode) ? DT_DIR : DT_REG;
	l->typed++;
	list_types(c);
}

/* Symlinks and file systems that give no type: statx, following links. */
static void list_types(struct conn *c)
{
	struct listing *l = c->list;

	for (; l->typed < l->n; l->typed++) {
		struct entry *e = &l->e[l->typed];

		if (e->type != DT_UNKNOWN && e->type != DT_LNK)
			continue;
		if (cio_statx(c->w->loop, &c->req, c->dirfd, e->name, 0, STATX_TYPE,
			      &l->stx, on_typed) == 0)
			return;
		e->type = DT_REG;
	}
	list_build(c);
}

static void list_read(struct conn *c);

static void on_dents(cio_req *req)
{
	struct conn *c = req->data;
	struct listing *l = c->list;
	const struct cio_dirent *d = NULL;
	size_t pos = 0;

	if (req->res < 0) {
		list_free(c);
		respond_error(c, req->res == -ENOMEM || req->res == -EMFILE ? 503 : 500);
		return;
	}
	while (l->n < LIST_MAX &&
	       (d = cio_dirent_next(c->out, (size_t)req->res, &pos)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		if (!(l->e[l->n].name = strdup(d->d_name)))
			break;
		l->e[l->n].len = strlen(d->d_name);
		l->e[l->n++].type = d->d_type;
	}
	if (req->res == 0 || l->n == LIST_MAX || d)
		list_types(c);
	else
		list_read(c);
}

static void list_read(struct conn *c)
{
	if (cio_getdents(c->w->loop, &c->req, c->dirfd, c->out, sizeof(c->out),
			 on_dents) < 0) {
		list_free(c);
		respond_error(c, 503);
	}
}

static void respond_listed(struct conn *c)
{
	size_t blen = c->dyn_len - 1024;

	head_start(c, 200);
	put(c, "Content-Type: text/html; charset=utf-8\r\nContent-Length: %zu\r\n", blen);
	head_end(c);
	if (c->hr.method == HTTP_M_HEAD || c->outlen > 1024) {
		send_out(c);
		return;
	}
	memcpy(c->dyn + 1024 - c->outlen, c->out, c->outlen);
	c->outp = c->dyn + 1024 - c->outlen;
	c->outlen += blen;
	c->sent = blen;
	send_out(c);
}

static void respond_listing(struct conn *c)
{
	c->state = C_LIST;
	c->req.opts = 0;
	c->req.timeout_ns = 0;
	c->list = calloc(1, sizeof(*c->list));
	if (c->list && !(c->list->e = calloc(LIST_MAX, sizeof(*c->list->e)))) {
		free(c->list);
		c->list = NULL;
	}
	if (!c->list) {
		respond_error(c, 503);
		return;
	}
	list_read(c);
}

/* ---- opening files under the root ---- */

#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
#define OPEN_RESOLVE (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)

/* Without openat2: the fd cio_openat gave, checked for where it really
 * points. The check looks at the opened file itself, so a symlink
 * swapped in between cannot fool it. Returns fd, or closes it. */
static int check_beneath(int fd)
{
	char link[64], real[PATH_MAX];
	size_t rlen = strlen(root_real);
	ssize_t n;

	if (fd < 0)
		return fd;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, real, sizeof(real) - 1);
	if (n < 0 || (size_t)n < rlen || memcmp(real, root_real, rlen) != 0 ||
	    ((size_t)n > rlen && real[rlen] != '/' && rlen > 1)) {
		close(fd);
		return -EXDEV;
	}
	return fd;
}

/* Open path beneath the root in the loop, if the kernel can from its
 * caches alone; -EAGAIN if it would have to wait for the disk. */
static int open_cached(const char *p)
{
#ifdef HAVE_OPENAT2
	struct open_how how = {
		.flags = OPEN_FLAGS,
		.resolve = OPEN_RESOLVE | RESOLVE_CACHED,
	};
	int fd = (int)syscall(SYS_openat2, root_fd, p, &how, sizeof(how));

	return fd < 0 ? -errno : fd;
#else
	(void)p;
	return -EAGAIN;
#endif
}

static void index_opened(struct conn *c, int fd)
{
	if (fd >= 0) {
		if (fstat(fd, &c->st) == 0 && S_ISREG(c->st.st_mode)) {
			close(c->dirfd);
			c->dirfd = -1;
			c->file = fd;
			respond_file(c);
			return;
		}
		close(fd);
		fd = -ENOENT;
	}
	if (fd == -ENOENT && opt.index) {
		c->path[c->path_len] = '\0';   /* the directory, not its index.html */
		respond_listing(c);
		return;
	}
	close(c->dirfd);
	c->dirfd = -1;
	respond_error(c, fd == -ENOENT ? 403 : errno_status(fd));
}

static void open_path(struct conn *c);

static void opened(struct conn *c, int fd)
{
	if (c->stage == ST_INDEX) {
		index_opened(c, fd);
		return;
	}
	if (fd < 0) {
		respond_error(c, errno_status(fd));
		return;
	}
	if (fstat(fd, &c->st) < 0) {
		close(fd);
		respond_error(c, 500);
		return;
	}
	/* "file/" names no file: open(2) would say ENOTDIR. */
	if (c->want_dir && !S_ISDIR(c->st.st_mode)) {
		close(fd);
		respond_error(c, 404);
		return;
	}
	if (S_ISDIR(c->st.st_mode)) {
		if (!c->want_dir && c->path_len > 0) {
			close(fd);
			redirect_dir(c);
			return;
		}
		if (c->path_len + sizeof("/index.html") > sizeof(c->path)) {
			close(fd);
			respond_error(c, 404);
			return;
		}
		c->dirfd = fd;
		c->stage = ST_INDEX;
		strcpy(c->path + c->path_len, c->path_len ? "/index.html" : "index.html");
		open_path(c);
		return;
	}
	if (!S_ISREG(c->st.st_mode)) {
		close(fd);
		respond_error(c, 403);
		return;
	}
	c->file = fd;
	respond_file(c);
}

static void on_open(cio_req *req)
{
	opened(req->data, (int)req->res);
}

static void on_open_checked(cio_req *req)
{
	opened(req->data, check_beneath((int)req->res));
}

/* Open c->path (relative, "" for the root itself) beneath the root. */
static void open_path(struct conn *c)
{
	const char *p = *c->path ? c->path : ".";
	int ret;

	if (c->w->open_inline) {
		int fd = open_cached(p);

		if (fd != -EAGAIN) {
			opened(c, fd);
			return;
		}
	}
	c->state = C_OPEN;
	c->req.opts = 0;
	c->req.timeout_ns = 0;
#ifdef HAVE_OPENAT2
	if (have_openat2) {
		/* cio_openat2 copies how; p lives in c until on_open. */
		struct open_how how = { .flags = OPEN_FLAGS, .resolve = OPEN_RESOLVE };

		ret = cio_openat2(c->w->loop, &c->req, root_fd, p, &how, on_open);
	} else
#endif
		ret = cio_openat(c->w->loop, &c->req, root_fd, p, OPEN_FLAGS, 0,
				 on_open_checked);
	if (ret < 0)
		opened(c, -ENOMEM);
}

/* ---- requests ---- */

static void serve(struct conn *c)
{
	const struct http_request *r = &c->hr;
	int n;

	c->keep_alive = r->keep_alive && !c->w->stopping;
	if (r->method == HTTP_M_OTHER) {
		respond_error(c, 405);
		return;
	}
	if (r->has_body) {
		respond_error(c, 413);   /* GET and HEAD take no body here */
		return;
	}
	n = http_decode_path(r->target, r->target_len, c->path, sizeof(c->path) - 16,
			     &c->want_dir);
	if (n < 0) {
		respond_error(c, -n);
		return;
	}
	c->path_len = (size_t)n;
	c->stage = ST_FILE;
	open_path(c);
}

static void handle_input(struct conn *c)
{
	int n = http_parse_request(c->in, c->inlen, &c->hr);

	c->status = 0;
	c->sent = 0;
	c->body_left = 0;
	c->linger = false;
	if (n == 0) {
		read_more(c);
		return;
	}
	if (n < 0) {
		memset(&c->hr, 0, sizeof(c->hr));
		c->head_len = c->inlen;
		c->keep_alive = false;
		respond_error(c, -n);
		return;
	}
	c->head_len = (size_t)n;
	serve(c);
}

static void response_done(struct conn *c)
{
	if (c->file >= 0) {
		close(c->file);
		c->file = -1;
	}
	if (c->dirfd >= 0) {
		close(c->dirfd);
		c->dirfd = -1;
	}
	free(c->dyn);
	c->dyn = NULL;
	list_free(c);
	log_request(c);
	/* Pipelined requests wait behind this head. */
	c->inlen -= c->head_len;
	memmove(c->in, c->in + c->head_len, c->inlen);
	c->head_len = 0;
	if (!c->keep_alive || c->w->stopping) {
		if (c->linger || c->inlen)
			linger_close(c);
		else
			close_conn(c);
		return;
	}
	if (c->inlen > 0) {
		c->idle = false;
		c->head_deadline = now_ns() + opt.header_ns;
		handle_input(c);
	} else {
		c->idle = true;
		read_more(c);
	}
}

/* ---- accepting, backing off, stopping ---- */

static void on_accept(cio_req *req);
static void on_readable(cio_req *req);

/* Far from --max-conns, a multishot accept; near it, wait until the
 * listener is readable and accept as many as there are free slots. */
static void start_accept(struct worker *w)
{
	unsigned live = atomic_load(&live_conns);
	int ret;

	w->accept_req.data = w;
	w->accept_req.timeout_ns = 0;
	w->pausing = false;
	if (live < opt.max_conns && opt.max_conns - live > MULTISHOT_ROOM) {
		w->accept_req.opts = CIO_MULTISHOT;
		ret = cio_accept(w->loop, &w->accept_req, w->lfd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC, on_accept);
	} else {
		w->accept_req.opts = 0;
		ret = cio_poll(w->loop, &w->accept_req, w->lfd, POLLIN, on_readable);
	}
	if (ret == 0)
		w->accepting = true;
}

static void on_retry(cio_req *req)
{
	struct worker *w = req->data;

	w->retry_armed = false;
	if (w->stopping)
		maybe_finish(w);
	else
		accept_resume(w);
}

static void arm_retry(struct worker *w, uint64_t ns)
{
	w->retry_timer.data = w;
	if (cio_timer(w->loop, &w->retry_timer, ns, on_retry) == 0)
		w->retry_armed = true;
}

/* Accept again if nothing stops it: called when a connection ends, when
 * another thread frees a slot and when a back-off timer fires. */
static void accept_resume(struct worker *w)
{
	if (w->stopping || w->accepting || w->retry_armed)
		return;
	if (atomic_load(&live_conns) >= opt.max_conns) {
		/* Full: sleep until a slot_give() posts on_wake. Saying so
		 * before looking again leaves no gap for a slot to be freed
		 * unseen. */
		atomic_store(&w->full, true);
		if (atomic_load(&live_conns) >= opt.max_conns) {
			/* cio_run returns when nothing is pending: a timer
			 * keeps this thread's loop running to get the wake
			 * (and looks again should one ever be lost). */
			w->park_timer.data = w;
			if (!w->park_armed &&
			    cio_timer(w->loop, &w->park_timer, PARK_NS, on_park) == 0)
				w->park_armed = true;
			return;
		}
	}
	atomic_store(&w->full, false);
	if (w->park_armed)
		cio_cancel(w->loop, &w->park_timer);
	start_accept(w);
	if (!w->accepting)
		arm_retry(w, RETRY_NS);
}

static void on_wake(cio_req *req)
{
	struct worker *w = req->data;

	atomic_store(&w->full, false);
	atomic_store(&w->wake_posted, false);
	accept_resume(w);
}

static void on_park(cio_req *req)
{
	struct worker *w = req->data;

	/* Fired, or cancelled as accepting resumed; parks again if full
	 * once more, as a cancelled timer no longer keeps the loop alive. */
	w->park_armed = false;
	if (w->stopping)
		maybe_finish(w);
	else
		accept_resume(w);
}

/* EMFILE, ENFILE, ENOBUFS, ...: the connections wait in the backlog
 * while the ones we have finish and free descriptors. */
static void accept_failed(struct worker *w, int err)
{
	uint64_t now = now_ns();

	if (now - w->accept_warned > 10 * NS_PER_S || !w->accept_warned) {
		fprintf(stderr, "cio-httpd: accept: %s; retrying every %llu ms\n",
			strerror(-err), (unsigned long long)(RETRY_NS / 1000000));
		w->accept_warned = now;
	}
	arm_retry(w, RETRY_NS);
}

static void on_accept(cio_req *req)
{
	struct worker *w = req->data;

	if (req->flags & CIO_F_MORE) {
		multishot_conn(w, (int)req->res);
		return;
	}
	w->accepting = false;
	w->pausing = false;
	if (req->res >= 0)              /* the last one of the multishot */
		multishot_conn(w, (int)req->res);
	if (w->stopping) {
		maybe_finish(w);
		return;
	}
	if (req->res >= 0 || req->res == -ECANCELED) {  /* paused near --max-conns */
		accept_resume(w);
		return;
	}
	accept_failed(w, (int)req->res);
}

/* The listener has connections waiting: take each only with a slot for
 * it. accept4 on the non-blocking listener cannot wait, so no slot is held
 * for a connection that is not there. Bounded, so that one busy listener
 * does not keep this thread's connections waiting. */
static void on_readable(cio_req *req)
{
	struct worker *w = req->data;

	w->accepting = false;
	if (w->stopping) {
		maybe_finish(w);
		return;
	}
	if (req->res < 0) {
		accept_failed(w, (int)req->res);
		return;
	}
	for (int i = 0; i < 64 && slot_take(); i++) {
		int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			int err = errno;

			slot_give(w);
			if (err == ECONNABORTED || err == EINTR)
				continue;
			if (err != EAGAIN && err != EWOULDBLOCK) {
				accept_failed(w, -err);
				return;
			}
			break;
		}
		new_conn(w, fd);
	}
	accept_resume(w);
}

static void on_drain(cio_req *req)
{
	struct worker *w = req->data;

	w->drain_armed = false;
	if (req->res == 0)
		cio_cancel_all(w->loop);   /* the drain took too long */
}

/* Everything done and stopping: end the requests that would keep the
 * loop alive, so cio_run returns. */
static void maybe_finish(struct worker *w)
{
	if (!w->stopping || w->nconns || w->accepting || w->retry_armed || w->park_armed)
		return;
	if (w->drain_armed)
		cio_cancel(w->loop, &w->drain_timer);
	srv_stop_quit(&w->stop);
	if (w->log_armed)
		cio_cancel(w->loop, &w->log_timer);
	if (log_fd >= 0)
		log_flush(w);
}

static void begin_stop(struct worker *w)
{
	if (w->stopping)
		return;
	w->stopping = true;
	atomic_store(&w->full, false);
	if (w->accepting)
		cio_cancel(w->loop, &w->accept_req);
	if (w->retry_armed)
		cio_cancel(w->loop, &w->retry_timer);
	if (w->park_armed)
		cio_cancel(w->loop, &w->park_timer);
	/* Waiting connections go now; the others after their response. */
	for (struct conn *c = w->conns; c; c = c->next) {
		c->keep_alive = false;
		if (c->state == C_READ || c->state == C_LINGER)
			cio_cancel(w->loop, &c->req);
	}
	if (w->nconns) {
		w->drain_timer.data = w;
		if (cio_timer(w->loop, &w->drain_timer, opt.drain_ns, on_drain) == 0)
			w->drain_armed = true;
	}
	maybe_finish(w);
}

static void stop_begin(void *w) { begin_stop(w); }
static bool stop_busy(void *w) { return ((struct worker *)w)->nconns != 0; }
static void stop_finish(void *w) { maybe_finish(w); }

static const struct srv_stop_ops stop_ops = { stop_begin, stop_busy, stop_finish };

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int ret = cio_run(w->loop, CIO_RUN_DEFAULT);

	if (ret < 0) {
		fprintf(stderr, "cio-httpd: thread %u: cio_run: %s\n", w->id, strerror(-ret));
		w->rc = 1;
	}
	return NULL;
}

/* ---- start-up ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cio-httpd --root DIR [--listen ADDR:PORT] [--backend auto|uring|aio|pool]\n"
		"                 [--threads N] [--max-conns N] [--access-log FILE] [--index]\n"
		"                 [--header-timeout S] [--idle-timeout S] [--send-timeout S]\n"
		"                 [--drain-timeout S]\n");
}

static void parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "root",           required_argument, NULL, 'r' },
		{ "listen",         required_argument, NULL, 'l' },
		{ "backend",        required_argument, NULL, 'b' },
		{ "threads",        required_argument, NULL, 't' },
		{ "max-conns",      required_argument, NULL, 'm' },
		{ "access-log",     required_argument, NULL, 'a' },
		{ "index",          no_argument,       NULL, 'i' },
		{ "header-timeout", required_argument, NULL, 'H' },
		{ "idle-timeout",   required_argument, NULL, 'I' },
		{ "send-timeout",   required_argument, NULL, 'S' },
		{ "drain-timeout",  required_argument, NULL, 'D' },
		{ "help",           no_argument,       NULL, 'h' },
		{ 0 }
	};
	int ch;

	srv_set_usage("cio-httpd", usage);

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r': opt.root = optarg; break;
		case 'l': opt.listen = optarg; break;
		case 'b': opt.backend = optarg; break;
		case 't': opt.threads = srv_count_arg(optarg, "--threads", 256); break;
		case 'm': opt.max_conns = srv_count_arg(optarg, "--max-conns", 1u << 20); break;
		case 'a': opt.access_log = optarg; break;
		case 'i': opt.index = true; break;
		case 'H': opt.header_ns = srv_seconds_arg(optarg, "--header-timeout"); break;
		case 'I': opt.idle_ns = srv_seconds_arg(optarg, "--idle-timeout"); break;
		case 'S': opt.send_ns = srv_seconds_arg(optarg, "--send-timeout"); break;
		case 'D': opt.drain_ns = srv_seconds_arg(optarg, "--drain-timeout"); break;
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

/* Which of openat2 and RESOLVE_CACHED this kernel has (5.6 and 5.12). */
static void probe_openat2(void)
{
#ifdef HAVE_OPENAT2
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_DIRECTORY,
		.resolve = RESOLVE_BENEATH,
	};
	int fd = (int)syscall(SYS_openat2, root_fd, ".", &how, sizeof(how));

	if (fd < 0)
		return;     /* ENOSYS, or a seccomp filter: the checked open */
	close(fd);
	have_openat2 = true;
	how.resolve |= RESOLVE_CACHED;
	fd = (int)syscall(SYS_openat2, root_fd, ".", &how, sizeof(how));
	if (fd >= 0 || errno == EAGAIN)
		have_cached = true;
	if (fd >= 0)
		close(fd);
#endif
}

/* Raise the descriptor limit to what we may have, and unless --max-conns
 * says otherwise, take no more connections than it leaves room for: each
 * may hold a socket and a file, and the loops and pools hold some more.
 * Past that, accept would fail with EMFILE and opens with 503s. */
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
	if (opt.max_conns)
		return;
	room = rl.rlim_cur > 32 + 8 * opt.threads ? (rl.rlim_cur - 32 - 8 * opt.threads) / 2 : 1;
	opt.max_conns = room < 1024 ? (unsigned)(room ? room : 1) : 1024;
}

static int setup_root(void)
{
	root_fd = open(opt.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0 || !realpath(opt.root, root_real)) {
		fprintf(stderr, "cio-httpd: --root %s: %s\n", opt.root, strerror(errno));
		return -1;
	}
	probe_openat2();
	return 0;
}

static int setup_workers(const struct sockaddr_storage *addr, socklen_t alen)
{
	struct sockaddr_storage ss = *addr;
	struct cio_loop_opts lo = { .backend = opt.backend, .entries = 1024 };
	socklen_t len = alen;

	workers = calloc(opt.threads, sizeof(*workers));
	if (!workers)
		return 1;
	for (unsigned i = 0; i < opt.threads; i++) {
		struct worker *w = &workers[i];
		int ret;

		w->id = i;
		w->lfd = srv_listener(&ss, len);
		if (w->lfd < 0) {
			fprintf(stderr, "cio-httpd: listen on %s: %s\n", opt.listen,
				strerror(-w->lfd));
			return 1;
		}
		/* Port 0 picked one: the other threads bind the same. */
		if (i == 0 && getsockname(w->lfd, (struct sockaddr *)&ss, &len) < 0)
			return 1;
		ret = cio_loop_new(&w->loop, &lo);
		if (ret < 0) {
			fprintf(stderr, "cio-httpd: backend %s: %s\n",
				opt.backend ? opt.backend : "auto", strerror(-ret));
			return EXIT_BACKEND;
		}
		if (log_fd >= 0 && !(w->logbuf = malloc(LOG_SIZE)))
			return 1;
		/* On the ring, openat2 tries the caches in line by itself. */
		w->open_inline = have_cached &&
			strcmp(cio_op_path(w->loop, CIO_OP_OPENAT2, root_fd), "ring");
	}
	*(struct sockaddr_storage *)addr = ss;
	return 0;
}

static void print_listening(const struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		printf("listening on [%s]:%u\n", host, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		printf("listening on %s:%u\n", host, ntohs(s4->sin_port));
	}
	printf("backend %s, %u thread%s\n", cio_backend(workers[0].loop), opt.threads,
	       opt.threads == 1 ? "" : "s");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t slen;
	sigset_t mask;
	int rc;

	parse_args(argc, argv);
	if (srv_parse_listen(opt.listen, &ss, &slen) < 0)
		srv_die_usage("--listen %s: not ADDR:PORT", opt.listen);
	fit_max_conns();
	if (setup_root() < 0)
		return 1;
	if (opt.access_log) {
		log_fd = open(opt.access_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (log_fd < 0) {
			fprintf(stderr, "cio-httpd: --access-log %s: %s\n", opt.access_log,
				strerror(errno));
			return 1;
		}
	}
	/* sendfile(2) cannot say MSG_NOSIGNAL; a client gone is -EPIPE. The
	 * stop signals are blocked in every thread and read from a signalfd. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);

	rc = setup_workers(&ss, slen);
	if (rc)
		return rc;
	for (unsigned i = 0; i < opt.threads; i++)
		if (srv_stop_add(&workers[i].stop, workers[i].loop, &workers[i]) < 0)
			return 1;
	rc = srv_stop_start(&mask, &stop_ops);
	if (rc < 0) {
		fprintf(stderr, "cio-httpd: signalfd: %s\n", strerror(-rc));
		return 1;
	}
	for (unsigned i = 0; i < opt.threads; i++)
		start_accept(&workers[i]);
	print_listening(&ss);
	for (unsigned i = 1; i < opt.threads; i++) {
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i])) {
			fprintf(stderr, "cio-httpd: cannot start thread %u\n", i);
			return 1;
		}
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
		free(workers[i].logbuf);
	}
	srv_stop_close();
	free(workers);
	if (log_fd >= 0)
		close(log_fd);
	close(root_fd);
	return rc;
}
