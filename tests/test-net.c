/* SPDX-License-Identifier: MIT */
/* Sockets: a thousand echo connections behind one multishot accept; errors
 * by value, in the callback and at submission; fd flags left alone by
 * connect and by a waiting recv; cancelling everything on one fd; passing an
 * fd; poll; socket, accept and shutdown. Loopback only. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "helpers.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#define MSEC 1000000ull
#define SEC  1000000000ull

static int getfd(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	ck_assert_msg(fl >= 0, "F_GETFD %d: %s", fd, strerror(errno));
	return fl;
}

/* Wait (at most limit_s seconds, else fail) until want threads of this
 * process other than the caller are inside system call nr, as /proc says. */
static void wait_for_threads_in(long nr, unsigned want, unsigned limit_s)
{
	uint64_t t0 = t_now_ns();
	char self[32];

	snprintf(self, sizeof(self), "%ld", (long)syscall(SYS_gettid));
	for (;;) {
		DIR *d = opendir("/proc/self/task");
		struct dirent *e;
		unsigned found = 0;

		ck_assert_ptr_nonnull(d);
		while ((e = readdir(d))) {
			char path[300], line[64] = "";
			FILE *f;

			if (e->d_name[0] == '.' || !strcmp(e->d_name, self))
				continue;
			snprintf(path, sizeof(path), "/proc/self/task/%s/syscall", e->d_name);
			if (!(f = fopen(path, "r")))
				continue;
			if (fgets(line, sizeof(line), f) && strtol(line, NULL, 10) == nr)
				found++;
			fclose(f);
		}
		closedir(d);
		if (found >= want)
			return;
		ck_assert_msg(t_now_ns() - t0 < limit_s * 1000000000ull,
			      "%u of %u threads in system call %ld after %u s", found, want,
			      nr, limit_s);
		usleep(1000);
	}
}

static struct sockaddr *SA(struct sockaddr_in *sa)
{
	return (struct sockaddr *)sa;
}

/* ------------------------------------------------------------------ */
/* Echo: clients and servers on one loop, one multishot accept. */

#define ECHO_CONNS 1000
#define ECHO_BYTES (64 * KiB)
#define ECHO_PIECE 8192

struct echo;

struct client {
	struct echo *e;
	cio_req      sreq;      /* socket, then connect, then shutdown */
	cio_req      wreq;      /* send or write */
	cio_req      rreq;      /* recv or read */
	int          fd, idx;
	unsigned     rng;
	size_t       sent;      /* whole pieces sent */
	size_t       piece, piece_done;
	size_t       got;       /* bytes read back */
	bool         shut, eof;
	uint8_t      wbuf[ECHO_PIECE];
	uint8_t      rbuf[ECHO_PIECE];
};

struct server {
	struct echo *e;
	cio_req      req;       /* recv/read, then send/write, in turn */
	int          fd;
	unsigned     rng;
	size_t       len, done; /* the piece being echoed */
	uint8_t      buf[ECHO_PIECE];
};

struct echo {
	cio_loop      *loop;
	struct sockaddr_in addr;
	cio_req        accept_req;
	struct t_watchdog watchdog;
	unsigned       max_open, started, open, finished, accepted;
	/* every submission accepted, every final and every CIO_F_MORE callback */
	unsigned       subs, finals, mores;
	unsigned       sockets, connects, shutdowns, c_sends, c_writes, c_recvs, c_reads;
	unsigned       s_recvs, s_reads, s_sends, s_writes, s_eofs, c_eofs, shorts;
	unsigned       pieces, accept_finals;
	uint64_t       echoed;
	struct client *clients;
	struct server *servers;
};

static void echo_sub(struct echo *e, int ret)
{
	ck_assert_msg(ret == 0, "submission rejected: %d (%s)", ret, strerror(-ret));
	e->subs++;
}

static uint64_t client_seed(const struct client *c)
{
	return 1000u + (uint64_t)c->idx;
}

static void client_socket_cb(cio_req *req);
static void client_connect_cb(cio_req *req);
static void client_send_cb(cio_req *req);
static void client_recv_cb(cio_req *req);
static void client_shutdown_cb(cio_req *req);
static void server_recv_cb(cio_req *req);
static void server_send_cb(cio_req *req);

static void client_start(struct echo *e)
{
	struct client *c = &e->clients[e->started];
	/* Half the clients on non-blocking sockets, half on blocking ones. */
	int type = SOCK_STREAM | SOCK_CLOEXEC | ((e->started & 1) ? SOCK_NONBLOCK : 0);

	c->e = e;
	c->idx = (int)e->started++;
	c->fd = -1;
	c->rng = 0x5eed0000u + (unsigned)c->idx;
	c->sreq.data = c->wreq.data = c->rreq.data = c;
	e->open++;
	echo_sub(e, cio_socket(e->loop, &c->sreq, AF_INET, type, 0, client_socket_cb));
}

static void client_send_piece(struct client *c)
{
	struct echo *e = c->e;
	const uint8_t *p = c->wbuf + c->piece_done;
	size_t len = c->piece - c->piece_done;

	if (rand_r(&c->rng) & 1) {
		e->c_sends++;
		echo_sub(e, cio_send(e->loop, &c->wreq, c->fd, p, len, 0, client_send_cb));
	} else {
		e->c_writes++;
		echo_sub(e, cio_write(e->loop, &c->wreq, c->fd, p, len, -1, client_send_cb));
	}
}

/* The next random-sized piece, or the end of the stream. */
static void client_send_next(struct client *c)
{
	struct echo *e = c->e;
	size_t left = ECHO_BYTES - c->sent;

	if (!left) {
		e->shutdowns++;
		echo_sub(e, cio_shutdown(e->loop, &c->sreq, c->fd, SHUT_WR,
					 client_shutdown_cb));
		return;
	}
	c->piece = (size_t)(rand_r(&c->rng) % ECHO_PIECE) + 1;
	if (c->piece > left)
		c->piece = left;
	c->piece_done = 0;
	t_fill(c->wbuf, c->piece, client_seed(c), c->sent);
	client_send_piece(c);
}

static void client_recv_next(struct client *c)
{
	struct echo *e = c->e;

	if (rand_r(&c->rng) & 1) {
		e->c_recvs++;
		echo_sub(e, cio_recv(e->loop, &c->rreq, c->fd, c->rbuf, sizeof(c->rbuf),
				     0, client_recv_cb));
	} else {
		e->c_reads++;
		echo_sub(e, cio_read(e->loop, &c->rreq, c->fd, c->rbuf, sizeof(c->rbuf),
				     -1, client_recv_cb));
	}
}

static void echo_all_done(struct echo *e)
{
	/* The only requests left are the accept and the watchdog. */
	ck_assert_int_eq(cio_cancel(e->loop, &e->accept_req), 0);
	ck_assert_int_eq(t_watchdog_stop(e->loop, &e->watchdog), 0);
}

/* Both directions are finished and the server has closed its end (its close
 * is what sent the EOF), so this connection holds no fd once we close ours. */
static void client_maybe_done(struct client *c)
{
	struct echo *e = c->e;

	if (!c->eof || !c->shut)
		return;
	ck_assert_int_eq(close(c->fd), 0);
	c->fd = -1;
	e->open--;
	e->finished++;
	if (e->finished == ECHO_CONNS)
		echo_all_done(e);
	else if (e->started < ECHO_CONNS)
		client_start(e);
}

static void client_socket_cb(cio_req *req)
{
	struct client *c = req->data;
	struct echo *e = c->e;

	e->finals++;
	ck_assert_msg(req->res >= 0, "client %d: socket: %lld", c->idx,
		      (long long)req->res);
	c->fd = (int)req->res;
	echo_sub(e, cio_connect(e->loop, &c->sreq, c->fd, SA(&e->addr),
				sizeof(e->addr), client_connect_cb));
}

static void client_connect_cb(cio_req *req)
{
	struct client *c = req->data;
	struct echo *e = c->e;

	e->finals++;
	e->connects++;
	ck_assert_msg(req->res == 0, "client %d: connect: %lld", c->idx,
		      (long long)req->res);
	client_recv_next(c);
	client_send_next(c);
}

static void client_send_cb(cio_req *req)
{
	struct client *c = req->data;
	struct echo *e = c->e;

	e->finals++;
	ck_assert_msg(req->res > 0 && (size_t)req->res <= c->piece - c->piece_done,
		      "client %d: send of %zu: %lld", c->idx, c->piece - c->piece_done,
		      (long long)req->res);
	c->piece_done += (size_t)req->res;
	if (c->piece_done < c->piece) {
		e->shorts++;
		client_send_piece(c);
		return;
	}
	c->sent += c->piece;
	e->pieces++;
	client_send_next(c);
}

static void client_recv_cb(cio_req *req)
{
	struct client *c = req->data;
	struct echo *e = c->e;

	e->finals++;
	ck_assert_msg(req->res >= 0, "client %d: recv: %lld", c->idx,
		      (long long)req->res);
	if (req->res == 0) {
		ck_assert_msg(c->got == ECHO_BYTES, "client %d: EOF after %zu bytes",
			      c->idx, c->got);
		e->c_eofs++;
		c->eof = true;
		client_maybe_done(c);
		return;
	}
	ck_assert_msg(c->got + (size_t)req->res <= ECHO_BYTES,
		      "client %d: %zu bytes echoed, %zu sent", c->idx,
		      c->got + (size_t)req->res, (size_t)ECHO_BYTES);
	ck_assert_msg(t_check(c->rbuf, (size_t)req->res, client_seed(c), c->got),
		      "client %d: echoed bytes at %zu differ", c->idx, c->got);
	c->got += (size_t)req->res;
	client_recv_next(c);
}

static void client_shutdown_cb(cio_req *req)
{
	struct client *c = req->data;

	c->e->finals++;
	ck_assert_msg(req->res == 0, "client %d: shutdown: %lld", c->idx,
		      (long long)req->res);
	c->shut = true;
	client_maybe_done(c);
}

static void server_recv_next(struct server *s)
{
	struct echo *e = s->e;

	if (rand_r(&s->rng) & 1) {
		e->s_recvs++;
		echo_sub(e, cio_recv(e->loop, &s->req, s->fd, s->buf, sizeof(s->buf), 0,
				     server_recv_cb));
	} else {
		e->s_reads++;
		echo_sub(e, cio_read(e->loop, &s->req, s->fd, s->buf, sizeof(s->buf), -1,
				     server_recv_cb));
	}
}

static void server_send_rest(struct server *s)
{
	struct echo *e = s->e;
	size_t len = s->len - s->done;

	if (rand_r(&s->rng) & 1) {
		e->s_sends++;
		echo_sub(e, cio_send(e->loop, &s->req, s->fd, s->buf + s->done, len, 0,
				     server_send_cb));
	} else {
		e->s_writes++;
		echo_sub(e, cio_write(e->loop, &s->req, s->fd, s->buf + s->done, len, -1,
				      server_send_cb));
	}
}

static void server_recv_cb(cio_req *req)
{
	struct server *s = req->data;
	struct echo *e = s->e;

	e->finals++;
	ck_assert_msg(req->res >= 0, "server fd %d: recv: %lld", s->fd,
		      (long long)req->res);
	if (req->res == 0) {
		e->s_eofs++;
		ck_assert_int_eq(close(s->fd), 0);
		s->fd = -1;
		return;
	}
	s->len = (size_t)req->res;
	s->done = 0;
	server_send_rest(s);
}

static void server_send_cb(cio_req *req)
{
	struct server *s = req->data;
	struct echo *e = s->e;

	e->finals++;
	ck_assert_msg(req->res > 0 && (size_t)req->res <= s->len - s->done,
		      "server fd %d: send of %zu: %lld", s->fd, s->len - s->done,
		      (long long)req->res);
	s->done += (size_t)req->res;
	if (s->done < s->len) {
		e->shorts++;
		server_send_rest(s);
		return;
	}
	e->echoed += s->len;
	server_recv_next(s);
}

static void echo_accept_cb(cio_req *req)
{
	struct echo *e = req->data;
	struct server *s;

	if (!(req->flags & CIO_F_MORE)) {
		/* Only our cancel at the very end may end the accept. */
		e->finals++;
		e->accept_finals++;
		ck_assert_msg(e->finished == ECHO_CONNS,
			      "accept ended early: %lld after %u connections",
			      (long long)req->res, e->accepted);
		return;
	}
	e->mores++;
	ck_assert_msg(req->res >= 0, "accept with CIO_F_MORE: %lld", (long long)req->res);
	ck_assert_msg(e->accepted < ECHO_CONNS, "more connections accepted than made");
	s = &e->servers[e->accepted++];
	s->e = e;
	s->fd = (int)req->res;
	s->rng = 0xec400000u + e->accepted;
	s->req.data = s;
	/* accept4 flags: SOCK_CLOEXEC only, so a blocking fd the library must
	 * serve without changing it. */
	ck_assert_int_eq(getfd(s->fd), FD_CLOEXEC);
	ck_assert_int_eq(t_getfl(s->fd) & O_NONBLOCK, 0);
	server_recv_next(s);
}

static void echo_say(void *arg, char *msg, size_t len)
{
	struct echo *e = arg;

	snprintf(msg, len, "echo stuck: %u started, %u accepted, %u finished, %u open",
		 e->started, e->accepted, e->finished, e->open);
}

/* Raise the soft fd limit to the hard one; the limit we then have. */
static rlim_t raise_nofile(void)
{
	struct rlimit rl;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = { rl.rlim_max, rl.rlim_max };

		/* An unlimited hard limit cannot be the soft one (nr_open caps it):
		 * keep what we have then. */
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
	}
	return rl.rlim_cur;
}

START_TEST(echo_thousand_connections)
{
	struct echo *e = calloc(1, sizeof(*e));
	rlim_t nofile = raise_nofile();
	struct cio_stats st0, st1;
	uint64_t t0, wall;
	cio_loop *loop;
	int lfd;

	ck_assert_ptr_nonnull(e);
	/* Two fds per live connection, a hundred kept for everything else. */
	if (nofile < 100 + 2 * 10) {
		free(e);
		T_SKIP("RLIMIT_NOFILE is %llu", (unsigned long long)nofile);
	}
	e->max_open = (nofile - 100) / 2 < ECHO_CONNS ? (unsigned)((nofile - 100) / 2)
						      : ECHO_CONNS;
	e->clients = calloc(ECHO_CONNS, sizeof(*e->clients));
	e->servers = calloc(ECHO_CONNS, sizeof(*e->servers));
	ck_assert(e->clients && e->servers);
	loop = e->loop = t_loop_new();

	/* The listener is made through the library too. */
	{
		struct op o;
		socklen_t len = sizeof(e->addr);

		op_init(&o);
		lfd = (int)RUN(&o, cio_socket(loop, &o.req, AF_INET,
					      SOCK_STREAM | SOCK_CLOEXEC, 0, op_cb));
		ck_assert_int_ge(lfd, 0);
		e->addr.sin_family = AF_INET;
		e->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ck_assert_int_eq(bind(lfd, SA(&e->addr), sizeof(e->addr)), 0);
		ck_assert_int_eq(listen(lfd, 1024), 0);
		ck_assert_int_eq(getsockname(lfd, SA(&e->addr), &len), 0);
		ck_assert_uint_ne(e->addr.sin_port, 0);
	}

	ck_assert_int_eq(cio_loop_stats(loop, &st0), 0);
	t0 = t_now_ns();
	e->accept_req.data = e;
	e->accept_req.opts = CIO_MULTISHOT;
	echo_sub(e, cio_accept(loop, &e->accept_req, lfd, NULL, NULL, SOCK_CLOEXEC,
			       echo_accept_cb));
	echo_sub(e, t_watchdog_start(loop, &e->watchdog, &e->finals, echo_say, e));
	while (e->started < e->max_open)
		client_start(e);
	ck_assert_uint_eq(e->finals + e->mores, 0);
	t_run(loop);
	wall = t_now_ns() - t0;

	/* Every connection went through, both ways, and closed. */
	ck_assert_uint_eq(e->started, ECHO_CONNS);
	ck_assert_uint_eq(e->finished, ECHO_CONNS);
	ck_assert_uint_eq(e->open, 0);
	ck_assert_uint_eq(e->accepted, ECHO_CONNS);
	ck_assert_uint_eq(e->connects, ECHO_CONNS);
	ck_assert_uint_eq(e->shutdowns, ECHO_CONNS);
	ck_assert_uint_eq(e->c_eofs, ECHO_CONNS);
	ck_assert_uint_eq(e->s_eofs, ECHO_CONNS);
	ck_assert_uint_eq(e->echoed, (uint64_t)ECHO_CONNS * ECHO_BYTES);
	/* Both calls were used on both sides. */
	ck_assert_uint_gt(e->c_sends, 0);
	ck_assert_uint_gt(e->c_writes, 0);
	ck_assert_uint_gt(e->c_recvs, 0);
	ck_assert_uint_gt(e->c_reads, 0);
	ck_assert_uint_gt(e->s_recvs, 0);
	ck_assert_uint_gt(e->s_reads, 0);
	ck_assert_uint_gt(e->s_sends, 0);
	ck_assert_uint_gt(e->s_writes, 0);
	/* One accept callback with CIO_F_MORE per connection, then the
	 * cancelled final one. */
	ck_assert_uint_eq(e->mores, ECHO_CONNS);
	ck_assert_uint_eq(e->accept_finals, 1);
	ck_assert_int_eq(e->accept_req.res, -ECANCELED);
	ck_assert_uint_eq(e->accept_req.flags & CIO_F_MORE, 0);
	ck_assert_uint_eq(e->watchdog.calls, 1);
	/* One final callback per accepted submission, and the loop agrees. */
	ck_assert_uint_eq(e->finals, e->subs);
	ck_assert_int_eq(cio_loop_stats(loop, &st1), 0);
	ck_assert_uint_eq(st1.submitted - st0.submitted, e->subs);
	ck_assert_uint_eq(st1.completed - st0.completed, e->subs);
	ck_assert_uint_eq(st1.inflight, 0);

	printf("echo %u conns x %u KiB [%s]: %.2f s, %.0f round trips/s "
	       "(%u at once, %u short sends)\n", ECHO_CONNS, ECHO_BYTES / KiB,
	       t_variant, (double)wall / SEC, e->pieces / ((double)wall / SEC),
	       e->max_open, e->shorts);
	fflush(stdout);

	ck_assert_int_eq(close(lfd), 0);
	t_loop_free(loop);
	free(e->clients);
	free(e->servers);
	free(e);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Errors the system call reports come back in the callback, by value. */

static volatile sig_atomic_t sigpipes;

static void on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

static void check_broken(int64_t res, const char *what)
{
	ck_assert_msg(res == -EPIPE || res == -ECONNRESET,
		      "%s on a broken connection: %lld, want -EPIPE or -ECONNRESET",
		      what, (long long)res);
}

/* A peer that resets or has gone: -ECONNRESET, -EPIPE, never SIGPIPE. The
 * test counts SIGPIPE instead of ignoring it, so a send without
 * MSG_NOSIGNAL on any of our threads would show. */
START_TEST(broken_connections)
{
	cio_loop *loop = t_loop_new();
	struct sigaction sa = { .sa_handler = on_sigpipe }, old;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct msghdr msg = { 0 };
	struct iovec iov;
	uint8_t buf[256];
	struct op o;
	int fds[2];

	op_init(&o);
	memset(buf, 'x', sizeof(buf));
	iov = (struct iovec){ buf, sizeof(buf) };
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGPIPE, &sa, &old), 0);
	sigpipes = 0;

	/* SO_LINGER {1, 0}: close() sends a reset instead of a FIN. */
	t_tcp_pair(fds, 0, 0);
	ck_assert_int_eq(setsockopt(fds[1], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	ck_assert_int_eq(close(fds[1]), 0);
	ck_assert_int_eq(RUN(&o, cio_recv(loop, &o.req, fds[0], buf, sizeof(buf), 0,
					  op_cb)), -ECONNRESET);
	check_broken(RUN(&o, cio_send(loop, &o.req, fds[0], buf, sizeof(buf), 0, op_cb)),
		     "cio_send");
	check_broken(RUN(&o, cio_sendmsg(loop, &o.req, fds[0], &msg, 0, op_cb)),
		     "cio_sendmsg");
	ck_assert_int_eq(close(fds[0]), 0);

	/* The same with the reset arriving while the recv waits. */
	t_tcp_pair(fds, 0, 0);
	START(&o, cio_recv(loop, &o.req, fds[0], buf, sizeof(buf), 0, op_cb));
	ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 1);
	ck_assert_int_eq(o.n, 0);
	ck_assert_int_eq(setsockopt(fds[1], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	ck_assert_int_eq(close(fds[1]), 0);
	t_run(loop);
	ck_assert_int_eq(o.n, 1);
	o.n = 0;
	ck_assert_int_eq(o.req.res, -ECONNRESET);
	ck_assert_int_eq(close(fds[0]), 0);

	/* A unix peer that has gone: send(2) would raise SIGPIPE here. */
	t_unix_pair(fds);
	ck_assert_int_eq(close(fds[1]), 0);
	ck_assert_int_eq(RUN(&o, cio_send(loop, &o.req, fds[0], buf, 10, 0, op_cb)),
			 -EPIPE);
	ck_assert_int_eq(RUN(&o, cio_sendmsg(loop, &o.req, fds[0], &msg, 0, op_cb)),
			 -EPIPE);
	/* The read side of it sees EOF. */
	ck_assert_int_eq(RUN(&o, cio_recv(loop, &o.req, fds[0], buf, sizeof(buf), 0,
					  op_cb)), 0);
	ck_assert_int_eq(close(fds[0]), 0);

	ck_assert_int_eq(sigpipes, 0);
	ck_assert_int_eq(sigaction(SIGPIPE, &old, NULL), 0);
	t_loop_free(loop);
}
END_TEST

START_TEST(errors_in_callback)
{
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir);
	struct sockaddr_in nla;
	struct msghdr msg = { 0 };
	struct iovec iov;
	uint8_t buf[256];
	struct op o;
	int nl, fd, f, bad;

	op_init(&o);
	iov = (struct iovec){ buf, sizeof(buf) };
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;

	/* Bound but not listening: connecting to it is refused (the port stays
	 * ours, so nothing else can be listening there), on blocking and
	 * non-blocking sockets alike. */
	nl = t_tcp_bound(&nla, 0);
	for (int nb = 0; nb < 2; nb++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nb ? SOCK_NONBLOCK : 0), 0);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(RUN(&o, cio_connect(loop, &o.req, fd, SA(&nla), sizeof(nla),
						     op_cb)), -ECONNREFUSED);
		ck_assert_int_eq(close(fd), 0);
	}
	/* Accept on it: -EINVAL, as accept4(2). Multishot too, in one final
	 * callback. */
	ck_assert_int_eq(RUN(&o, cio_accept(loop, &o.req, nl, NULL, NULL, 0, op_cb)),
			 -EINVAL);
	o.req.opts = CIO_MULTISHOT;
	ck_assert_int_eq(RUN(&o, cio_accept(loop, &o.req, nl, NULL, NULL, SOCK_CLOEXEC,
					    op_cb)), -EINVAL);
	ck_assert_uint_eq(o.req.flags & CIO_F_MORE, 0);
	o.req.opts = 0;
	ck_assert_int_eq(close(nl), 0);

	/* A regular file is not a socket. */
	f = openat(dfd, "f", O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	ck_assert_int_ge(f, 0);
	ck_assert_int_eq(write(f, "0123456789", 10), 10);
	ck_assert_int_eq(RUN(&o, cio_recv(loop, &o.req, f, buf, sizeof(buf), 0, op_cb)),
			 -ENOTSOCK);
	ck_assert_int_eq(RUN(&o, cio_send(loop, &o.req, f, buf, 10, 0, op_cb)), -ENOTSOCK);
	ck_assert_int_eq(RUN(&o, cio_recvmsg(loop, &o.req, f, &msg, 0, op_cb)), -ENOTSOCK);
	ck_assert_int_eq(RUN(&o, cio_shutdown(loop, &o.req, f, SHUT_RDWR, op_cb)),
			 -ENOTSOCK);
	/* ... and the failed calls did not move its position. */
	ck_assert_int_eq(lseek(f, 0, SEEK_CUR), 10);
	ck_assert_int_eq(close(f), 0);

	/* Unconnected. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(RUN(&o, cio_shutdown(loop, &o.req, fd, SHUT_RDWR, op_cb)),
			 -ENOTCONN);
	ck_assert_int_eq(RUN(&o, cio_shutdown(loop, &o.req, fd, SHUT_WR, op_cb)),
			 -ENOTCONN);
	ck_assert_int_eq(close(fd), 0);

	/* A closed descriptor. */
	bad = t_closed_fd();
	ck_assert_int_eq(RUN(&o, cio_recv(loop, &o.req, bad, buf, sizeof(buf), 0, op_cb)),
			 -EBADF);
	ck_assert_int_eq(RUN(&o, cio_send(loop, &o.req, bad, buf, 10, 0, op_cb)), -EBADF);

	/* cio_socket fails as socket(2) does with the same arguments. */
	{
		static const int args[][3] = {
			{ 12345, SOCK_STREAM, 0 },
			{ AF_INET, SOCK_STREAM, IPPROTO_UDP },
		};

		for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
			int want;

			errno = 0;
			fd = socket(args[i][0], args[i][1] | SOCK_CLOEXEC, args[i][2]);
			ck_assert_int_eq(fd, -1);
			want = -errno;
			ck_assert_int_eq(RUN(&o, cio_socket(loop, &o.req, args[i][0],
							    args[i][1] | SOCK_CLOEXEC,
							    args[i][2], op_cb)), want);
		}
	}

	close(dfd);
	t_loop_free(loop);
	t_tmpdir_rm(dir);
}
END_TEST

/* Submission-time errors from the spec, each by value, and the callback never
 * runs. */
START_TEST(argument_errors_are_immediate)
{
	cio_loop *loop = t_loop_new(), *other = t_loop_new();
	cio_bufpool *pool = NULL, *opool = NULL, *big = NULL, *none = NULL;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	struct msghdr msg = { 0 };
	struct cio_stats st;
	const size_t huge = (size_t)INT32_MAX + 1;
	uint8_t buf[64];
	struct op o;
	int sp[2], pp[2], s;

	op_init(&o);
	t_unix_pair(sp);
	ck_assert_int_eq(pipe2(pp, O_CLOEXEC), 0);
	s = sp[0];
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(cio_bufpool_new(loop, &pool, 4, 4096), 0);
	ck_assert_int_eq(cio_bufpool_new(other, &opool, 4, 4096), 0);

	/* NULL loop. */
	REJECT(&o, cio_socket(NULL, &o.req, AF_INET, SOCK_STREAM, 0, op_cb), -EINVAL);
	REJECT(&o, cio_accept(NULL, &o.req, s, NULL, NULL, 0, op_cb), -EINVAL);
	REJECT(&o, cio_connect(NULL, &o.req, s, SA(&sa), salen, op_cb), -EINVAL);
	REJECT(&o, cio_recv(NULL, &o.req, s, buf, 10, 0, op_cb), -EINVAL);
	REJECT(&o, cio_send(NULL, &o.req, s, buf, 10, 0, op_cb), -EINVAL);
	REJECT(&o, cio_recvmsg(NULL, &o.req, s, &msg, 0, op_cb), -EINVAL);
	REJECT(&o, cio_sendmsg(NULL, &o.req, s, &msg, 0, op_cb), -EINVAL);
	REJECT(&o, cio_shutdown(NULL, &o.req, s, SHUT_WR, op_cb), -EINVAL);
	REJECT(&o, cio_recv_pool(NULL, &o.req, s, pool, 0, op_cb), -EINVAL);
	REJECT(&o, cio_poll(NULL, &o.req, s, POLLIN, op_cb), -EINVAL);
	REJECT(&o, cio_splice(NULL, &o.req, pp[0], -1, s, -1, 10, 0, op_cb), -EINVAL);
	REJECT(&o, cio_sendfile(NULL, &o.req, s, pp[0], 0, 10, op_cb), -EINVAL);
	/* NULL request. */
	REJECT(&o, cio_socket(loop, NULL, AF_INET, SOCK_STREAM, 0, op_cb), -EINVAL);
	REJECT(&o, cio_accept(loop, NULL, s, NULL, NULL, 0, op_cb), -EINVAL);
	REJECT(&o, cio_connect(loop, NULL, s, SA(&sa), salen, op_cb), -EINVAL);
	REJECT(&o, cio_recv(loop, NULL, s, buf, 10, 0, op_cb), -EINVAL);
	REJECT(&o, cio_send(loop, NULL, s, buf, 10, 0, op_cb), -EINVAL);
	REJECT(&o, cio_recvmsg(loop, NULL, s, &msg, 0, op_cb), -EINVAL);
	REJECT(&o, cio_sendmsg(loop, NULL, s, &msg, 0, op_cb), -EINVAL);
	REJECT(&o, cio_shutdown(loop, NULL, s, SHUT_WR, op_cb), -EINVAL);
	REJECT(&o, cio_recv_pool(loop, NULL, s, pool, 0, op_cb), -EINVAL);
	REJECT(&o, cio_poll(loop, NULL, s, POLLIN, op_cb), -EINVAL);
	REJECT(&o, cio_splice(loop, NULL, pp[0], -1, s, -1, 10, 0, op_cb), -EINVAL);
	REJECT(&o, cio_sendfile(loop, NULL, s, pp[0], 0, 10, op_cb), -EINVAL);
	/* NULL callback. */
	REJECT(&o, cio_socket(loop, &o.req, AF_INET, SOCK_STREAM, 0, NULL), -EINVAL);
	REJECT(&o, cio_accept(loop, &o.req, s, NULL, NULL, 0, NULL), -EINVAL);
	REJECT(&o, cio_connect(loop, &o.req, s, SA(&sa), salen, NULL), -EINVAL);
	REJECT(&o, cio_recv(loop, &o.req, s, buf, 10, 0, NULL), -EINVAL);
	REJECT(&o, cio_send(loop, &o.req, s, buf, 10, 0, NULL), -EINVAL);
	REJECT(&o, cio_recvmsg(loop, &o.req, s, &msg, 0, NULL), -EINVAL);
	REJECT(&o, cio_sendmsg(loop, &o.req, s, &msg, 0, NULL), -EINVAL);
	REJECT(&o, cio_shutdown(loop, &o.req, s, SHUT_WR, NULL), -EINVAL);
	REJECT(&o, cio_recv_pool(loop, &o.req, s, pool, 0, NULL), -EINVAL);
	REJECT(&o, cio_poll(loop, &o.req, s, POLLIN, NULL), -EINVAL);
	REJECT(&o, cio_splice(loop, &o.req, pp[0], -1, s, -1, 10, 0, NULL), -EINVAL);
	REJECT(&o, cio_sendfile(loop, &o.req, s, pp[0], 0, 10, NULL), -EINVAL);

	/* Buffers and lengths. */
	REJECT(&o, cio_recv(loop, &o.req, s, NULL, 10, 0, op_cb), -EFAULT);
	REJECT(&o, cio_send(loop, &o.req, s, NULL, 10, 0, op_cb), -EFAULT);
	REJECT(&o, cio_recv(loop, &o.req, s, buf, huge, 0, op_cb), -EINVAL);
	REJECT(&o, cio_send(loop, &o.req, s, buf, huge, 0, op_cb), -EINVAL);
	REJECT(&o, cio_recv(loop, &o.req, s, buf, SIZE_MAX, 0, op_cb), -EINVAL);
	REJECT(&o, cio_send(loop, &o.req, s, buf, SIZE_MAX, 0, op_cb), -EINVAL);
	REJECT(&o, cio_splice(loop, &o.req, pp[0], -1, s, -1, huge, 0, op_cb), -EINVAL);
	REJECT(&o, cio_sendfile(loop, &o.req, s, pp[0], 0, huge, op_cb), -EINVAL);
	REJECT(&o, cio_recvmsg(loop, &o.req, s, NULL, 0, op_cb), -EFAULT);
	REJECT(&o, cio_sendmsg(loop, &o.req, s, NULL, 0, op_cb), -EFAULT);

	/* Per-operation arguments. */
	REJECT(&o, cio_connect(loop, &o.req, s, NULL, salen, op_cb), -EFAULT);
	REJECT(&o, cio_accept(loop, &o.req, s, SA(&sa), NULL, 0, op_cb), -EFAULT);
	REJECT(&o, cio_accept(loop, &o.req, s, NULL, NULL, 1, op_cb), -EINVAL);
	REJECT(&o, cio_accept(loop, &o.req, s, NULL, NULL,
			      SOCK_NONBLOCK | SOCK_CLOEXEC | O_APPEND, op_cb), -EINVAL);
	REJECT(&o, cio_accept(loop, &o.req, s, NULL, NULL, -1, op_cb), -EINVAL);
	REJECT(&o, cio_recv_pool(loop, &o.req, s, NULL, 0, op_cb), -EINVAL);
	REJECT(&o, cio_recv_pool(loop, &o.req, s, opool, 0, op_cb), -EINVAL);
	REJECT(&o, cio_poll(loop, &o.req, s, 0, op_cb), -EINVAL);
	REJECT(&o, cio_splice(loop, &o.req, pp[0], -2, s, -1, 10, 0, op_cb), -EINVAL);
	REJECT(&o, cio_splice(loop, &o.req, pp[0], -1, s, -2, 10, 0, op_cb), -EINVAL);
	REJECT(&o, cio_splice(loop, &o.req, pp[0], INT64_MIN, s, -1, 10, 0, op_cb),
	       -EINVAL);
	REJECT(&o, cio_sendfile(loop, &o.req, s, pp[0], -2, 10, op_cb), -EINVAL);
	REJECT(&o, cio_sendfile(loop, &o.req, s, pp[0], INT64_MIN, 10, op_cb), -EINVAL);

	/* Options: CIO_MULTISHOT on accept and recv_pool only, nothing else. */
	o.req.opts = CIO_MULTISHOT;
	REJECT(&o, cio_socket(loop, &o.req, AF_INET, SOCK_STREAM, 0, op_cb), -EINVAL);
	REJECT(&o, cio_connect(loop, &o.req, s, SA(&sa), salen, op_cb), -EINVAL);
	REJECT(&o, cio_recv(loop, &o.req, s, buf, 10, 0, op_cb), -EINVAL);
	REJECT(&o, cio_send(loop, &o.req, s, buf, 10, 0, op_cb), -EINVAL);
	REJECT(&o, cio_recvmsg(loop, &o.req, s, &msg, 0, op_cb), -EINVAL);
	REJECT(&o, cio_sendmsg(loop, &o.req, s, &msg, 0, op_cb), -EINVAL);
	REJECT(&o, cio_shutdown(loop, &o.req, s, SHUT_WR, op_cb), -EINVAL);
	REJECT(&o, cio_poll(loop, &o.req, s, POLLIN, op_cb), -EINVAL);
	REJECT(&o, cio_splice(loop, &o.req, pp[0], -1, s, -1, 10, 0, op_cb), -EINVAL);
	REJECT(&o, cio_sendfile(loop, &o.req, s, pp[0], 0, 10, op_cb), -EINVAL);
	REJECT(&o, cio_read(loop, &o.req, s, buf, 10, -1, op_cb), -EINVAL);
	REJECT(&o, cio_nop(loop, &o.req, op_cb), -EINVAL);
	o.req.opts = CIO_MULTISHOT | 1;
	REJECT(&o, cio_accept(loop, &o.req, s, NULL, NULL, 0, op_cb), -EINVAL);
	REJECT(&o, cio_recv_pool(loop, &o.req, s, pool, 0, op_cb), -EINVAL);
	o.req.opts = 1u << 31;
	REJECT(&o, cio_accept(loop, &o.req, s, NULL, NULL, 0, op_cb), -EINVAL);
	REJECT(&o, cio_recv_pool(loop, &o.req, s, pool, 0, op_cb), -EINVAL);
	o.req.opts = 0;
	/* A multishot request takes neither a deadline nor a link: it has
	 * no single end. CIO_ALL only on transfers. */
	o.req.opts = CIO_MULTISHOT;
	o.req.timeout_ns = 5;
	REJECT(&o, cio_accept(loop, &o.req, s, NULL, NULL, 0, op_cb), -EINVAL);
	REJECT(&o, cio_recv_pool(loop, &o.req, s, pool, 0, op_cb), -EINVAL);
	o.req.timeout_ns = 0;
	o.req.opts = CIO_MULTISHOT | CIO_LINK;
	REJECT(&o, cio_accept(loop, &o.req, s, NULL, NULL, 0, op_cb), -EINVAL);
	o.req.opts = CIO_ALL;
	REJECT(&o, cio_accept(loop, &o.req, s, NULL, NULL, 0, op_cb), -EINVAL);
	REJECT(&o, cio_poll(loop, &o.req, s, POLLIN, op_cb), -EINVAL);
	REJECT(&o, cio_connect(loop, &o.req, s, SA(&sa), salen, op_cb), -EINVAL);
	REJECT(&o, cio_recvmsg(loop, &o.req, s, &(struct msghdr){ 0 }, 0, op_cb), -EINVAL);
	o.req.opts = 0;

	/* Buffer pools. */
	ck_assert_int_eq(cio_bufpool_new(NULL, &none, 4, 4096), -EINVAL);
	ck_assert_int_eq(cio_bufpool_new(loop, NULL, 4, 4096), -EINVAL);
	ck_assert_int_eq(cio_bufpool_new(loop, &none, 0, 4096), -EINVAL);
	ck_assert_int_eq(cio_bufpool_new(loop, &none, 32769, 4096), -EINVAL);
	ck_assert_int_eq(cio_bufpool_new(loop, &none, UINT_MAX, 4096), -EINVAL);
	ck_assert_int_eq(cio_bufpool_new(loop, &none, 4, 0), -EINVAL);
	ck_assert_int_eq(cio_bufpool_new(loop, &none, 4, huge), -EINVAL);
	ck_assert_int_eq(cio_bufpool_new(loop, &none, 1, SIZE_MAX), -EINVAL);
	ck_assert_ptr_null(none);
	ck_assert_int_eq(cio_bufpool_free(NULL), -EINVAL);
	/* The largest count is fine. */
	ck_assert_int_eq(cio_bufpool_new(loop, &big, 32768, 1), 0);
	ck_assert_ptr_nonnull(big);
	ck_assert_int_eq(cio_bufpool_free(big), 0);

	/* cio_cancel_fd. */
	ck_assert_int_eq(cio_cancel_fd(NULL, s), -EINVAL);
	ck_assert_int_eq(cio_cancel_fd(loop, s), 0);

	/* Nothing was accepted. */
	ck_assert_int_eq(cio_loop_stats(loop, &st), 0);
	ck_assert_uint_eq(st.submitted, 0);
	ck_assert_uint_eq(st.completed, 0);

	/* A request in flight is refused by every operation. */
	START(&o, cio_recv(loop, &o.req, s, buf, sizeof(buf), 0, op_cb));
	ck_assert_int_eq(cio_socket(loop, &o.req, AF_INET, SOCK_STREAM, 0, op_cb), -EBUSY);
	ck_assert_int_eq(cio_accept(loop, &o.req, s, NULL, NULL, 0, op_cb), -EBUSY);
	ck_assert_int_eq(cio_connect(loop, &o.req, s, SA(&sa), salen, op_cb), -EBUSY);
	ck_assert_int_eq(cio_recv(loop, &o.req, s, buf, 10, 0, op_cb), -EBUSY);
	ck_assert_int_eq(cio_send(loop, &o.req, s, buf, 10, 0, op_cb), -EBUSY);
	ck_assert_int_eq(cio_recvmsg(loop, &o.req, s, &msg, 0, op_cb), -EBUSY);
	ck_assert_int_eq(cio_sendmsg(loop, &o.req, s, &msg, 0, op_cb), -EBUSY);
	ck_assert_int_eq(cio_shutdown(loop, &o.req, s, SHUT_WR, op_cb), -EBUSY);
	ck_assert_int_eq(cio_recv_pool(loop, &o.req, s, pool, 0, op_cb), -EBUSY);
	ck_assert_int_eq(cio_poll(loop, &o.req, s, POLLIN, op_cb), -EBUSY);
	ck_assert_int_eq(cio_splice(loop, &o.req, pp[0], -1, s, -1, 10, 0, op_cb), -EBUSY);
	ck_assert_int_eq(cio_sendfile(loop, &o.req, s, pp[0], 0, 10, op_cb), -EBUSY);
	ck_assert_int_eq(cio_read(loop, &o.req, s, buf, 10, -1, op_cb), -EBUSY);
	ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 1);
	ck_assert_int_eq(o.n, 0);
	ck_assert_int_eq(cio_loop_stats(loop, &st), 0);
	ck_assert_uint_eq(st.submitted, 1);
	ck_assert_uint_eq(st.inflight, 1);
	/* The refused shutdown never ran: the peer still sees no EOF. */
	ck_assert_int_eq(recv(sp[1], buf, sizeof(buf), MSG_DONTWAIT), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(cio_cancel(loop, &o.req), 0);
	t_run(loop);
	ck_assert_int_eq(o.n, 1);
	ck_assert_int_eq(o.req.res, -ECANCELED);

	ck_assert_int_eq(cio_bufpool_free(pool), 0);
	ck_assert_int_eq(cio_bufpool_free(opool), 0);
	close(sp[0]);
	close(sp[1]);
	close(pp[0]);
	close(pp[1]);
	t_loop_free(loop);
	t_loop_free(other);
}
END_TEST

/* ------------------------------------------------------------------ */

/* cio_connect on a blocking and on a non-blocking socket; the fd's flags
 * are the same before, while a recv waits, and after. */
START_TEST(connect_leaves_fd_flags)
{
	cio_loop *loop = t_loop_new();
	struct sockaddr_in la, pa;
	socklen_t len;
	char buf[64];
	struct op o;
	int l = t_tcp_bound(&la, 0);

	op_init(&o);
	ck_assert_int_eq(listen(l, 8), 0);
	for (int i = 0; i < 2; i++) {
		int nb = i ? SOCK_NONBLOCK : 0;
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | nb, 0);
		int fl, fdfl, peer, pfl;

		ck_assert_int_ge(s, 0);
		fl = t_getfl(s);
		fdfl = getfd(s);
		ck_assert_int_eq(!!(fl & O_NONBLOCK), !!nb);
		ck_assert_int_eq(RUN(&o, cio_connect(loop, &o.req, s, SA(&la), sizeof(la),
						     op_cb)), 0);
		ck_assert_int_eq(t_getfl(s), fl);
		ck_assert_int_eq(getfd(s), fdfl);
		len = sizeof(pa);
		ck_assert_int_eq(getpeername(s, SA(&pa), &len), 0);
		ck_assert_uint_eq(pa.sin_port, la.sin_port);
		peer = accept4(l, NULL, NULL, SOCK_CLOEXEC | nb);
		ck_assert_int_ge(peer, 0);
		pfl = t_getfl(peer);

		/* A recv that has to wait: nothing was sent yet. */
		START(&o, cio_recv(loop, &o.req, s, buf, sizeof(buf), 0, op_cb));
		ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 1);
		ck_assert_int_eq(o.n, 0);
		ck_assert_int_eq(t_getfl(s), fl);
		ck_assert_int_eq(write(peer, "ping", 4), 4);
		t_run(loop);
		ck_assert_int_eq(o.n, 1);
		o.n = 0;
		ck_assert_int_eq(o.req.res, 4);
		ck_assert_int_eq(memcmp(buf, "ping", 4), 0);
		ck_assert_int_eq(t_getfl(s), fl);

		/* A read on the accepted side that has to wait. */
		START(&o, cio_read(loop, &o.req, peer, buf, sizeof(buf), -1, op_cb));
		ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 1);
		ck_assert_int_eq(o.n, 0);
		ck_assert_int_eq(t_getfl(peer), pfl);
		ck_assert_int_eq(write(s, "pong!", 5), 5);
		t_run(loop);
		ck_assert_int_eq(o.n, 1);
		o.n = 0;
		ck_assert_int_eq(o.req.res, 5);
		ck_assert_int_eq(memcmp(buf, "pong!", 5), 0);
		ck_assert_int_eq(t_getfl(peer), pfl);
		ck_assert_int_eq(t_getfl(s), fl);
		ck_assert_int_eq(getfd(s), fdfl);

		ck_assert_int_eq(close(peer), 0);
		ck_assert_int_eq(close(s), 0);
	}
	ck_assert_int_eq(close(l), 0);
	t_loop_free(loop);
}
END_TEST

/* ------------------------------------------------------------------ */

/* Send MSG_DONTWAIT until the socket takes no more; bounded. */
static size_t fill_sndbuf(int fd)
{
	static uint8_t junk[64 * KiB];
	size_t total = 0;

	for (int i = 0; i < 4096; i++) {
		ssize_t n = send(fd, junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			ck_assert_msg(errno == EAGAIN || errno == EWOULDBLOCK,
				      "filling the socket: %s", strerror(errno));
			return total;
		}
		total += (size_t)n;
	}
	ck_abort_msg("the socket took %zu bytes and still had room", total);
	return total;
}

#define CANCEL_SEND (1 * MiB)

/*
 * A recv, a send and a poll pending on one fd; cio_cancel_fd ends all three
 * with exactly one callback each. The peer never reads or writes.
 *
 * The send may legitimately finish with a positive, short count instead of
 * -ECANCELED on TCP: a stream send completes as soon as any bytes move, and
 * the receiver may find a little room after our fill (its window opens when
 * it collapses its queue, a zero-window probe then moves data, our send
 * buffer drains a bit). On a unix socket nothing frees room but a read, so
 * there it must be -ECANCELED.
 */
static void cancel_fd_case(bool tcp)
{
	cio_loop *loop = t_loop_new();
	uint8_t *big = calloc(1, CANCEL_SEND), rbuf[4096];
	struct op snd, rcv, pol, tmr;
	int fds[2], small = 4096, pending, a;
	size_t filled;

	ck_assert_ptr_nonnull(big);
	op_init(&snd);
	op_init(&rcv);
	op_init(&pol);
	op_init(&tmr);
	if (tcp) {
		t_tcp_pair(fds, small, small);
	} else {
		t_unix_pair(fds);
		ck_assert_int_eq(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small,
					    sizeof(small)), 0);
	}
	a = fds[0];
	filled = fill_sndbuf(a);
	ck_assert_uint_gt(filled, 0);

	START(&snd, cio_send(loop, &snd.req, a, big, CANCEL_SEND, 0, op_cb));
	START(&rcv, cio_recv(loop, &rcv.req, a, rbuf, sizeof(rbuf), 0, op_cb));
	START(&pol, cio_poll(loop, &pol.req, a, POLLIN, op_cb));
	pending = cio_run(loop, CIO_RUN_NOWAIT);
	ck_assert_int_eq(rcv.n, 0);
	ck_assert_int_eq(pol.n, 0);
	if (!tcp)
		ck_assert_int_eq(snd.n, 0);
	if (snd.n)
		ck_assert_msg(snd.req.res > 0 && snd.req.res < CANCEL_SEND,
			      "send finished early with %lld", (long long)snd.req.res);
	ck_assert_int_eq(pending, 3 - snd.n);

	ck_assert_int_eq(cio_cancel_fd(loop, a), pending);
	ck_assert_int_eq(rcv.n + pol.n, 0);   /* never inside the call */
	t_run(loop);
	ck_assert_int_eq(snd.n, 1);
	ck_assert_int_eq(rcv.n, 1);
	ck_assert_int_eq(pol.n, 1);
	ck_assert_int_eq(rcv.req.res, -ECANCELED);
	ck_assert_int_eq(pol.req.res, -ECANCELED);
	if (tcp)
		ck_assert_msg(snd.req.res == -ECANCELED ||
			      (snd.req.res > 0 && snd.req.res < CANCEL_SEND),
			      "cancelled send: %lld", (long long)snd.req.res);
	else
		ck_assert_int_eq(snd.req.res, -ECANCELED);
	ck_assert_int_eq(cio_cancel_fd(loop, a), 0);
	ck_assert_int_eq(cio_cancel_fd(loop, fds[1]), 0);

	/* Closing is safe now; a fresh timer proves nothing else fires. */
	ck_assert_int_eq(close(fds[0]), 0);
	ck_assert_int_eq(close(fds[1]), 0);
	START(&tmr, cio_timer(loop, &tmr.req, 20 * MSEC, op_cb));
	t_run(loop);
	ck_assert_int_eq(tmr.n, 1);
	ck_assert_int_eq(tmr.req.res, 0);
	ck_assert_int_eq(snd.n, 1);
	ck_assert_int_eq(rcv.n, 1);
	ck_assert_int_eq(pol.n, 1);

	free(big);
	t_loop_free(loop);
}

START_TEST(cancel_fd_unix)
{
	cancel_fd_case(false);
}
END_TEST

START_TEST(cancel_fd_tcp)
{
	cancel_fd_case(true);
}
END_TEST

/* ------------------------------------------------------------------ */

#define PASS_LEN 10000

/* SCM_RIGHTS through cio_sendmsg and cio_recvmsg. */
START_TEST(fd_passing)
{
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir);
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} sc, rc;
	struct msghdr sm = { 0 }, rm = { 0 };
	struct iovec siov, riov;
	struct cmsghdr *cm;
	struct stat st, st2;
	char sb[3] = { 'f', 'd', '!' }, rb[16];
	uint8_t *data = malloc(PASS_LEN * 2);
	struct op o;
	int sp[2], f, got = -1;

	ck_assert_ptr_nonnull(data);
	op_init(&o);
	t_unix_pair(sp);
	f = openat(dfd, "f", O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	ck_assert_int_ge(f, 0);
	t_fill(data, PASS_LEN, 31, 0);
	ck_assert_int_eq(pwrite(f, data, PASS_LEN, 0), PASS_LEN);
	ck_assert_int_eq(fstat(f, &st), 0);

	memset(&sc, 0, sizeof(sc));
	siov = (struct iovec){ sb, sizeof(sb) };
	sm.msg_iov = &siov;
	sm.msg_iovlen = 1;
	sm.msg_control = sc.b;
	sm.msg_controllen = sizeof(sc.b);
	cm = CMSG_FIRSTHDR(&sm);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &f, sizeof(int));
	ck_assert_int_eq(RUN(&o, cio_sendmsg(loop, &o.req, sp[0], &sm, 0, op_cb)),
			 (int)sizeof(sb));
	/* The message in flight holds its own reference to the file. */
	ck_assert_int_eq(close(f), 0);

	memset(&rc, 0, sizeof(rc));
	memset(rb, 0, sizeof(rb));
	riov = (struct iovec){ rb, sizeof(rb) };
	rm.msg_iov = &riov;
	rm.msg_iovlen = 1;
	rm.msg_control = rc.b;
	rm.msg_controllen = sizeof(rc.b);
	ck_assert_int_eq(RUN(&o, cio_recvmsg(loop, &o.req, sp[1], &rm, MSG_CMSG_CLOEXEC,
					     op_cb)), (int)sizeof(sb));
	ck_assert_int_eq(memcmp(rb, sb, sizeof(sb)), 0);
	ck_assert_int_eq(rm.msg_flags & (MSG_CTRUNC | MSG_TRUNC), 0);
	cm = CMSG_FIRSTHDR(&rm);
	ck_assert_ptr_nonnull(cm);
	ck_assert_int_eq(cm->cmsg_level, SOL_SOCKET);
	ck_assert_int_eq(cm->cmsg_type, SCM_RIGHTS);
	ck_assert_uint_eq(cm->cmsg_len, CMSG_LEN(sizeof(int)));
	memcpy(&got, CMSG_DATA(cm), sizeof(int));
	ck_assert_ptr_null(CMSG_NXTHDR(&rm, cm));

	/* The same file, readable through the new fd; MSG_CMSG_CLOEXEC held. */
	ck_assert_int_ge(got, 0);
	ck_assert_int_eq(getfd(got), FD_CLOEXEC);
	ck_assert_int_eq(fstat(got, &st2), 0);
	ck_assert(st.st_dev == st2.st_dev && st.st_ino == st2.st_ino);
	memset(data, 0, PASS_LEN * 2);
	ck_assert_int_eq(pread(got, data, PASS_LEN * 2, 0), PASS_LEN);
	ck_assert(t_check(data, PASS_LEN, 31, 0));

	ck_assert_int_eq(close(got), 0);
	ck_assert_int_eq(close(sp[0]), 0);
	ck_assert_int_eq(close(sp[1]), 0);
	free(data);
	close(dfd);
	t_loop_free(loop);
	t_tmpdir_rm(dir);
}
END_TEST

/* ------------------------------------------------------------------ */

START_TEST(poll_readiness)
{
	cio_loop *loop = t_loop_new();
	struct op o;
	char c;
	int sp[2];

	op_init(&o);
	t_unix_pair(sp);

	/* Writable at once. */
	ck_assert_int_eq(RUN(&o, cio_poll(loop, &o.req, sp[0], POLLOUT, op_cb)) & POLLOUT,
			 POLLOUT);

	/* Readable only once the peer writes. */
	START(&o, cio_poll(loop, &o.req, sp[0], POLLIN, op_cb));
	ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 1);
	ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 1);
	ck_assert_int_eq(o.n, 0);
	ck_assert_int_eq(write(sp[1], "x", 1), 1);
	t_run(loop);
	ck_assert_int_eq(o.n, 1);
	o.n = 0;
	ck_assert_int_gt(o.req.res, 0);
	ck_assert_int_eq(o.req.res & POLLIN, POLLIN);
	/* revents holds what was asked for (and errors), as with poll(2). */
	ck_assert_int_eq(o.req.res & POLLOUT, 0);
	/* Polling consumed nothing. */
	ck_assert_int_eq(read(sp[0], &c, 1), 1);
	ck_assert_int_eq(c, 'x');
	/* One-shot: more data, no second callback. */
	ck_assert_int_eq(write(sp[1], "y", 1), 1);
	ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 0);
	ck_assert_int_eq(o.n, 0);
	ck_assert_int_eq(read(sp[0], &c, 1), 1);

	/* EOF is readable too. */
	START(&o, cio_poll(loop, &o.req, sp[0], POLLIN, op_cb));
	ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 1);
	ck_assert_int_eq(close(sp[1]), 0);
	t_run(loop);
	ck_assert_int_eq(o.n, 1);
	ck_assert_int_eq(o.req.res & POLLIN, POLLIN);

	ck_assert_int_eq(close(sp[0]), 0);
	t_loop_free(loop);
}
END_TEST

/* ------------------------------------------------------------------ */

static void check_socket(int fd, int domain, int type, bool cloexec, bool nonblock)
{
	int v = 0;
	socklen_t len = sizeof(v);

	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len), 0);
	ck_assert_int_eq(v, domain);
	len = sizeof(v);
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len), 0);
	ck_assert_int_eq(v, type);
	ck_assert_int_eq(getfd(fd), cloexec ? FD_CLOEXEC : 0);
	ck_assert_int_eq(!!(t_getfl(fd) & O_NONBLOCK), nonblock);
}

/* cio_socket makes a working socket; a single accept fills the address;
 * cio_shutdown(SHUT_WR) is EOF for the peer, which can still answer. */
START_TEST(socket_accept_shutdown)
{
	cio_loop *loop = t_loop_new();
	struct sockaddr_in la, peer, me;
	socklen_t plen = sizeof(peer), mlen = sizeof(me);
	struct op so, ao;
	char buf[64];
	int fd, fd2, l, afd;

	op_init(&so);
	op_init(&ao);
	fd = (int)RUN(&so, cio_socket(loop, &so.req, AF_INET,
				      SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, op_cb));
	ck_assert_int_ge(fd, 0);
	check_socket(fd, AF_INET, SOCK_STREAM, true, true);
	fd2 = (int)RUN(&so, cio_socket(loop, &so.req, AF_INET, SOCK_STREAM, 0, op_cb));
	ck_assert_int_ge(fd2, 0);
	ck_assert_int_ne(fd2, fd);
	check_socket(fd2, AF_INET, SOCK_STREAM, false, false);
	ck_assert_int_eq(close(fd2), 0);
	fd2 = (int)RUN(&so, cio_socket(loop, &so.req, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC,
				       0, op_cb));
	ck_assert_int_ge(fd2, 0);
	check_socket(fd2, AF_UNIX, SOCK_DGRAM, true, false);
	ck_assert_int_eq(close(fd2), 0);

	/* Connect while a single accept with an address waits. */
	l = t_tcp_bound(&la, 0);
	ck_assert_int_eq(listen(l, 8), 0);
	memset(&peer, 0xa5, sizeof(peer));
	START(&ao, cio_accept(loop, &ao.req, l, SA(&peer), &plen,
			      SOCK_NONBLOCK | SOCK_CLOEXEC, op_cb));
	START(&so, cio_connect(loop, &so.req, fd, SA(&la), sizeof(la), op_cb));
	t_run(loop);
	ck_assert_int_eq(ao.n, 1);
	ck_assert_int_eq(so.n, 1);
	ao.n = so.n = 0;
	ck_assert_int_eq(so.req.res, 0);
	ck_assert_uint_eq(ao.req.flags & CIO_F_MORE, 0);
	afd = (int)ao.req.res;
	ck_assert_int_ge(afd, 0);
	check_socket(afd, AF_INET, SOCK_STREAM, true, true);
	ck_assert_uint_eq(plen, sizeof(peer));
	ck_assert_int_eq(peer.sin_family, AF_INET);
	ck_assert_uint_eq(peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	ck_assert_int_eq(getsockname(fd, SA(&me), &mlen), 0);
	ck_assert_uint_eq(peer.sin_port, me.sin_port);

	/* Data both ways. */
	ck_assert_int_eq(RUN(&so, cio_send(loop, &so.req, fd, "hello", 5, 0, op_cb)), 5);
	ck_assert_int_eq(RUN(&ao, cio_recv(loop, &ao.req, afd, buf, sizeof(buf), 0, op_cb)),
			 5);
	ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
	/* Half-close: EOF for the peer, which can still answer. */
	ck_assert_int_eq(RUN(&so, cio_shutdown(loop, &so.req, fd, SHUT_WR, op_cb)), 0);
	ck_assert_int_eq(RUN(&ao, cio_recv(loop, &ao.req, afd, buf, sizeof(buf), 0, op_cb)),
			 0);
	ck_assert_int_eq(RUN(&ao, cio_send(loop, &ao.req, afd, "back", 4, 0, op_cb)), 4);
	ck_assert_int_eq(RUN(&so, cio_recv(loop, &so.req, fd, buf, sizeof(buf), 0, op_cb)),
			 4);
	ck_assert_int_eq(memcmp(buf, "back", 4), 0);
	/* Sending after SHUT_WR: -EPIPE (MSG_NOSIGNAL, so no signal either). */
	ck_assert_int_eq(RUN(&so, cio_send(loop, &so.req, fd, "x", 1, 0, op_cb)), -EPIPE);

	ck_assert_int_eq(close(afd), 0);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(close(l), 0);
	t_loop_free(loop);
}
END_TEST

/* connect(2) to a UNIX listener whose backlog is full: a non-blocking
 * socket gets -EAGAIN (at once, no spinning), a blocking one waits until
 * the listener accepts, on every backend. */
START_TEST(connect_unix_full_backlog)
{
	cio_loop *loop = t_loop_new();
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t salen = offsetof(struct sockaddr_un, sun_path) + 1 + 20;
	struct cio_stats st0, st1;
	int lfd, filled[64], nfilled = 0, nb, bl;
	struct op o;

	/* An abstract name: nothing on disk. */
	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "cio-bl-%08x", (unsigned)getpid());
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, salen), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_lt(nfilled, 64);
		if (connect(fd, (struct sockaddr *)&sa, salen) < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			close(fd);
			break;
		}
		filled[nfilled++] = fd;
	}

	op_init(&o);
	nb = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(nb, 0);
	ck_assert_int_eq(cio_loop_stats(loop, &st0), 0);
	ck_assert_int_eq(RUN(&o, cio_connect(loop, &o.req, nb, (struct sockaddr *)&sa,
					     salen, op_cb)), -EAGAIN);
	ck_assert_int_eq(cio_loop_stats(loop, &st1), 0);
	ck_assert_msg(st1.kernel_enters - st0.kernel_enters < 20,
		      "%llu kernel enters for one refused connect",
		      (unsigned long long)(st1.kernel_enters - st0.kernel_enters));

	bl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(bl, 0);
	START(&o, cio_connect(loop, &o.req, bl, (struct sockaddr *)&sa, salen, op_cb));
	/* Still waiting for room after a while... */
	for (int i = 0; i < 5; i++) {
		cio_req tick = { 0 };
		int n = 0;

		tick.data = &n;
		ck_assert_int_eq(cio_timer(loop, &tick, 10000000, t_count_cb), 0);
		while (!n)
			ck_assert_int_ge(cio_run(loop, CIO_RUN_ONCE), 0);
	}
	ck_assert_int_eq(o.n, 0);
	/* ...until the listener takes one. First a second one, cancelled
	 * while it waits: -ECANCELED (the ring's
	 * worker sees an interrupted connect(2)), or on aio and pool, whose
	 * blocking connect on a pool thread cannot be stopped, the real
	 * result once there is room (below). */
	{
		struct op c;
		int bl2 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		ck_assert_int_ge(bl2, 0);
		op_init(&c);
		START(&c, cio_connect(loop, &c.req, bl2, (struct sockaddr *)&sa, salen, op_cb));
		for (int i = 0; i < 3; i++)
			ck_assert_int_ge(cio_run(loop, CIO_RUN_NOWAIT), 0);
		/* Where connect is not the ring's (aio, pool, uring-fallback)
		 * the stream engine hands a blocking connect that found no
		 * room to a pool thread: cancel once both (the first one's
		 * and this one's) are inside connect(2), as /proc says, so
		 * that the cancel meets a call that cannot be stopped. On the
		 * ring the cancel ends it whenever it comes. */
		if (strcmp(cio_op_path(loop, CIO_OP_CONNECT, bl2), "ring"))
			wait_for_threads_in(SYS_connect, 2, 60);
		ck_assert_int_eq(cio_cancel(loop, &c.req), 0);
		if (!strncmp(t_variant, "uring", 5) && strcmp(t_variant, "uring-fallback")) {
			while (!c.n)
				ck_assert_int_ge(cio_run(loop, CIO_RUN_ONCE), 0);
			ck_assert_int_eq(c.req.res, -ECANCELED);
		}
		for (int i = 0; i < nfilled; i++) {
			int a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			ck_assert_int_ge(a, 0);
			close(a);
		}
		/* Take the rest without ever blocking here: accept4's
		 * SOCK_NONBLOCK is the new socket's flag, not the call's, and
		 * a blocking accept with nothing queued would wait forever
		 * with the callbacks still undelivered. */
		ck_assert_int_eq(fcntl(lfd, F_SETFL, O_NONBLOCK), 0);
		for (uint64_t t0 = t_now_ns(); !c.n || !o.n;) {
			int a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (a >= 0)
				close(a);
			else
				ck_assert_int_eq(errno, EAGAIN);
			ck_assert_int_ge(cio_run(loop, CIO_RUN_NOWAIT), 0);
			ck_assert_msg(t_now_ns() - t0 < 60 * SEC,
				      "connects not done after 60 s: %d %d", c.n, o.n);
			usleep(1000);
		}
		ck_assert_msg(c.req.res == -ECANCELED || c.req.res == 0,
			      "cancelled connect: %lld", (long long)c.req.res);
		close(bl2);
	}
	/* The first one connected once the listener took some. */
	t_run(loop);
	ck_assert_int_eq(o.n, 1);
	ck_assert_int_eq(o.req.res, 0);

	close(bl);
	close(nb);
	for (int i = 0; i < nfilled; i++)
		close(filled[i]);
	close(lfd);
	t_loop_free(loop);
}
END_TEST

/* accept on a socket that does not listen answers at once, as accept(2)
 * does, blocking or not, on every backend: it never waits for readiness
 * that cannot come. */
START_TEST(accept_on_a_socket_that_does_not_listen)
{
	cio_loop *loop = t_loop_new();
	struct op o;
	int types[] = { SOCK_DGRAM, SOCK_STREAM };
	int want[] = { -EOPNOTSUPP, -EINVAL };

	op_init(&o);
	for (int i = 0; i < 2; i++) {
		for (int nb = 0; nb <= SOCK_NONBLOCK; nb += SOCK_NONBLOCK) {
			int fd = socket(AF_UNIX, types[i] | nb | SOCK_CLOEXEC, 0);

			ck_assert_int_ge(fd, 0);
			o.req.timeout_ns = 5 * 1000000000ull;   /* a hang fails, late */
			ck_assert_int_eq(RUN(&o, cio_accept(loop, &o.req, fd, NULL, NULL,
							    0, op_cb)), want[i]);
			close(fd);
		}
	}
	t_loop_free(loop);
}
END_TEST

/*
 * A multishot accept on a blocking listening socket: accept(2) runs on the
 * pool once the socket is ready. Each connection taken uses that readiness
 * up, so no accept(2) may start again on it (on epoll, on what an earlier
 * edge said): that one would hold a pool thread until the next client, and
 * a cancel of the accept could not end it till then.
 */
struct macc {
	cio_req req;
	int     more, final;
	int64_t res;
	int     fds[3];
};

static void macc_cb(cio_req *req)
{
	struct macc *m = req->data;

	if (!(req->flags & CIO_F_MORE)) {
		m->final++;
		m->res = req->res;
		return;
	}
	ck_assert_int_ge(req->res, 0);
	ck_assert_int_lt(m->more, 3);
	m->fds[m->more++] = (int)req->res;
}

START_TEST(multishot_accept_on_blocking_listener_cancels)
{
	cio_loop *loop = t_loop_new();
	struct sockaddr_in sa;
	struct macc m = { .fds = { -1, -1, -1 } };
	cio_req dog = { 0 };
	int fired = 0, lfd = t_tcp_bound(&sa, 0), c[3] = { -1, -1, -1 };

	ck_assert_int_eq(listen(lfd, 16), 0);
	m.req.data = &m;
	m.req.opts = CIO_MULTISHOT;
	ck_assert_int_eq(cio_accept(loop, &m.req, lfd, NULL, NULL, SOCK_CLOEXEC,
				    macc_cb), 0);
	/* What a hang is here: generous on a loaded machine. */
	dog.data = &fired;
	ck_assert_int_eq(cio_timer(loop, &dog, 30 * 1000000000ull, t_count_cb), 0);
	for (int i = 0; i < 2; i++) {
		c[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(c[i], 0);
		ck_assert_int_eq(connect(c[i], SA(&sa), sizeof(sa)), 0);
		while (m.more < i + 1 && !fired)
			ck_assert_int_ge(cio_run(loop, CIO_RUN_ONCE), 0);
		ck_assert_msg(m.more == i + 1, "connection %d never accepted", i);
	}
	/* Some passes with no connection waiting: none may start accept(2). */
	for (int i = 0; i < 3; i++)
		ck_assert_int_ge(cio_run(loop, CIO_RUN_NOWAIT), 0);
	ck_assert_int_eq(cio_cancel(loop, &m.req), 0);
	while (!m.final && !fired)
		ck_assert_int_ge(cio_run(loop, CIO_RUN_ONCE), 0);
	if (!m.final) {
		/* Let the accept(2) that waits on the pool end, then fail. */
		c[2] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_eq(connect(c[2], SA(&sa), sizeof(sa)), 0);
		t_run(loop);
		ck_abort_msg("the cancelled accept did not end until another "
			     "client came (an accept(2) ran without a connection)");
	}
	ck_assert_int_eq(m.res, -ECANCELED);
	ck_assert_int_eq(cio_cancel(loop, &dog), 0);
	t_run(loop);
	ck_assert_int_eq(m.final, 1);
	ck_assert_int_eq(m.more, 2);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(close(m.fds[i]), 0);
		ck_assert_int_eq(close(c[i]), 0);
	}
	close(lfd);
	t_loop_free(loop);
}
END_TEST

static Suite *net_suite(void)
{
	Suite *s = suite_create("net");
	TCase *tc;

	tc = tcase_create("echo");
	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, echo_thousand_connections);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, broken_connections);
	tcase_add_test(tc, errors_in_callback);
	tcase_add_test(tc, argument_errors_are_immediate);
	suite_add_tcase(s, tc);

	tc = tcase_create("flags");
	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, connect_leaves_fd_flags);
	suite_add_tcase(s, tc);

	tc = tcase_create("cancel");
	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, cancel_fd_unix);
	tcase_add_test(tc, cancel_fd_tcp);
	suite_add_tcase(s, tc);

	tc = tcase_create("ops");
	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, fd_passing);
	tcase_add_test(tc, poll_readiness);
	tcase_add_test(tc, socket_accept_shutdown);
	tcase_add_test(tc, connect_unix_full_backlog);
	tcase_add_test(tc, accept_on_a_socket_that_does_not_listen);
	tcase_add_test(tc, multishot_accept_on_blocking_listener_cancels);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	/* cio_write on a broken socket behaves like write(2). */
	signal(SIGPIPE, SIG_IGN);
	return t_main(net_suite);
}
