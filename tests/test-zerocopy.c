/* SPDX-License-Identifier: MIT */
/* Zero-copy sends (CIO_ZEROCOPY), on every backend: on io_uring the
 * kernel sends from the caller's pages and the buffer is reusable once the
 * callback ran; elsewhere, and on sockets without zero-copy, it copies. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

/* Zero-copy sends: 8 TCP connections, each sending 125 messages of 4 KiB
 * one after the other from one buffer that its callback rewrites for the
 * next message. A buffer reused before the kernel let go of it would
 * show as a wrong byte at the receiver. */

#define ZC_CONNS 8
#define ZC_MSGS  125
#define ZC_LEN   4096

struct zc_conn {
	struct op o;
	int       idx;
	cio_loop *loop;
	int       fd, peer;
	unsigned  sent;
	uint8_t   buf[ZC_LEN];
	bool      bad;
	pthread_t rtid;
	bool      rok;
};

static void zc_fill(struct zc_conn *c)
{
	t_fill(c->buf, ZC_LEN, 500 + (uint64_t)c->idx, (uint64_t)c->sent * ZC_LEN);
}

static void *zc_reader(void *arg)
{
	struct zc_conn *c = arg;
	uint64_t seed = 500 + (uint64_t)c->idx;
	uint8_t buf[ZC_LEN];
	uint64_t got = 0;

	c->rok = true;
	while (got < (uint64_t)ZC_MSGS * ZC_LEN) {
		ssize_t r = read(c->peer, buf, sizeof(buf));

		if (r <= 0)
			break;
		if (!t_check(buf, (size_t)r, seed, got))
			c->rok = false;
		got += (uint64_t)r;
	}
	if (got != (uint64_t)ZC_MSGS * ZC_LEN)
		c->rok = false;
	return NULL;
}

static void zc_cb(cio_req *req)
{
	struct zc_conn *c = req->data;

	c->o.n++;
	if (req->res != ZC_LEN)
		c->bad = true;
	if (++c->sent == ZC_MSGS || c->bad)
		return;
	zc_fill(c);          /* the callback ran: the buffer is ours again */
	if (cio_send(c->loop, &c->o.req, c->fd, c->buf, ZC_LEN, 0, zc_cb) < 0)
		c->bad = true;
}

START_TEST(zerocopy_sends_reuse_after_callback)
{
	cio_loop *loop = t_loop_new();
	struct zc_conn *c = calloc(ZC_CONNS, sizeof(*c));
	unsigned total = 0;

	for (int i = 0; i < ZC_CONNS; i++) {
		{
			int fds[2];

			t_tcp_pair(fds, 0, 0);
			c[i].fd = fds[0];
			c[i].peer = fds[1];
		}
		c[i].loop = loop;
		c[i].idx = i;
		op_init(&c[i].o);
		c[i].o.req.data = &c[i];
		c[i].o.req.opts = CIO_ZEROCOPY;
		ck_assert_int_eq(pthread_create(&c[i].rtid, NULL, zc_reader, &c[i]), 0);
	}
	for (int i = 0; i < ZC_CONNS; i++) {
		zc_fill(&c[i]);
		ck_assert_int_eq(cio_send(loop, &c[i].o.req, c[i].fd, c[i].buf, ZC_LEN, 0,
					  zc_cb), 0);
	}
	t_run(loop);
	for (int i = 0; i < ZC_CONNS; i++) {
		ck_assert_int_eq(pthread_join(c[i].rtid, NULL), 0);
		ck_assert(!c[i].bad);
		ck_assert(c[i].rok);
		ck_assert_int_eq(c[i].o.n, ZC_MSGS);
		total += (unsigned)c[i].o.n;
		close(c[i].fd);
		close(c[i].peer);
	}
	ck_assert_uint_eq(total, ZC_CONNS * ZC_MSGS);
	free(c);
	t_loop_free(loop);
}
END_TEST

/* sendmsg with CIO_ZEROCOPY, and the option refused where it has no
 * meaning. */
START_TEST(zerocopy_sendmsg_and_misuse)
{
	cio_loop *loop = t_loop_new();
	uint8_t buf[3000], back[3000];
	struct iovec iov[2] = { { buf, 1000 }, { buf + 1000, 2000 } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	struct op o;
	size_t got = 0;
	int a, b;

	{
		int fds[2];

		t_tcp_pair(fds, 0, 0);
		a = fds[0];
		b = fds[1];
	}
	op_init(&o);
	t_fill(buf, sizeof(buf), 31, 0);
	o.req.opts = CIO_ZEROCOPY;
	ck_assert_int_eq(RUN(&o, cio_sendmsg(loop, &o.req, a, &mh, 0, op_cb)), 3000);
	while (got < sizeof(back)) {
		ssize_t r = read(b, back + got, sizeof(back) - got);

		ck_assert_int_gt(r, 0);
		got += (size_t)r;
	}
	ck_assert(t_check(back, sizeof(back), 31, 0));
	REJECT(&o, cio_recv(loop, &o.req, a, buf, 10, 0, op_cb), -EINVAL);
	REJECT(&o, cio_write(loop, &o.req, a, buf, 10, -1, op_cb), -EINVAL);
	close(a);
	close(b);
	t_loop_free(loop);
}
END_TEST

/* CIO_ZEROCOPY is a hint: on a socket type without zero-copy (AF_UNIX)
 * send and sendmsg still deliver, on every backend, with a copy. */
START_TEST(zerocopy_on_unix_socket_copies)
{
	cio_loop *loop = t_loop_new();
	uint8_t buf[5000], back[10000];
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct op o;
	size_t got = 0;
	int s[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
	op_init(&o);
	t_fill(buf, sizeof(buf), 32, 0);
	o.req.opts = CIO_ZEROCOPY;
	ck_assert_int_eq(RUN(&o, cio_send(loop, &o.req, s[0], buf, sizeof(buf), 0,
					  op_cb)), sizeof(buf));
	o.req.opts = CIO_ZEROCOPY;
	ck_assert_int_eq(RUN(&o, cio_sendmsg(loop, &o.req, s[0], &mh, 0, op_cb)),
			 sizeof(buf));
	while (got < sizeof(back)) {
		ssize_t r = read(s[1], back + got, sizeof(back) - got);

		ck_assert_int_gt(r, 0);
		got += (size_t)r;
	}
	ck_assert(t_check(back, sizeof(buf), 32, 0));
	ck_assert(t_check(back + sizeof(buf), sizeof(buf), 32, 0));
	close(s[0]);
	close(s[1]);
	t_loop_free(loop);
}
END_TEST

static Suite *zerocopy_suite(void)
{
	Suite *s = suite_create("zerocopy");
	TCase *tc = tcase_create("zerocopy");

	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, zerocopy_sends_reuse_after_callback);
	tcase_add_test(tc, zerocopy_sendmsg_and_misuse);
	tcase_add_test(tc, zerocopy_on_unix_socket_copies);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return t_main(zerocopy_suite);
}
