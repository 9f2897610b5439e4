/* SPDX-License-Identifier: MIT */
/* CIO_ALL, the same on every backend: a transfer goes on after short
 * steps until all is moved, EOF, an error or a cancel; cio_transferred()
 * says what moved. Data is compared byte for byte. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "helpers.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#define MS 1000000ull


struct drain {
	int      fd;
	size_t   want, got;
	size_t   chunk;
	long     pause_ns;
	uint64_t seed;
	bool     ok;
	bool     close_early;   /* close after `want` bytes */
};

/* A slow reader: small reads with pauses, checking every byte. */
static void *drain_main(void *arg)
{
	struct drain *d = arg;
	uint8_t *buf = malloc(d->chunk);

	d->ok = true;
	while (d->got < d->want) {
		struct timespec ts = { 0, d->pause_ns };
		size_t n = d->want - d->got < d->chunk ? d->want - d->got : d->chunk;
		ssize_t r;

		nanosleep(&ts, NULL);
		r = read(d->fd, buf, n);
		if (r <= 0)
			break;
		if (!t_check(buf, (size_t)r, d->seed, d->got))
			d->ok = false;
		d->got += (size_t)r;
	}
	if (d->close_early)
		close(d->fd);
	free(buf);
	return NULL;
}

START_TEST(all_write_to_slow_pipe)
{
	enum { LEN = 1 * MiB };
	cio_loop *loop = t_loop_new();
	uint8_t *data = malloc(LEN);
	struct drain d = { .want = LEN, .chunk = 16 * KiB, .pause_ns = 200000, .seed = 11 };
	struct op o;
	pthread_t tid;
	int p[2];

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	t_fill(data, LEN, 11, 0);
	d.fd = p[0];
	ck_assert_int_eq(pthread_create(&tid, NULL, drain_main, &d), 0);
	op_init(&o);
	o.req.opts = CIO_ALL;
	ck_assert_int_eq(RUN(&o, cio_write(loop, &o.req, p[1], data, LEN, -1, op_cb)), LEN);
	ck_assert_int_eq(cio_transferred(&o.req), LEN);
	ck_assert_int_eq(pthread_join(tid, NULL), 0);
	ck_assert_uint_eq(d.got, LEN);
	ck_assert(d.ok);
	close(p[0]);
	close(p[1]);
	free(data);
	t_loop_free(loop);
}
END_TEST

static void *feed_main(void *arg)
{
	struct drain *d = arg;   /* here: a writer in small pieces */
	uint8_t *buf = malloc(d->want);

	t_fill(buf, d->want, d->seed, 0);
	while (d->got < d->want) {
		struct timespec ts = { 0, d->pause_ns };
		size_t n = d->want - d->got < d->chunk ? d->want - d->got : d->chunk;
		ssize_t r = write(d->fd, buf + d->got, n);

		if (r <= 0)
			break;
		d->got += (size_t)r;
		nanosleep(&ts, NULL);
	}
	free(buf);
	return NULL;
}

START_TEST(all_socket_tiny_buffers)
{
	enum { LEN = 256 * KiB };
	cio_loop *loop = t_loop_new();
	uint8_t *data = malloc(LEN), *back = malloc(LEN);
	struct drain d = { .want = LEN, .chunk = 1000, .pause_ns = 20000, .seed = 12 };
	struct op o;
	pthread_t tid;
	int sv[2], small = 4096;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	t_fill(data, LEN, 12, 0);

	/* send: the peer drains 1000 bytes at a time. */
	d.fd = sv[1];
	ck_assert_int_eq(pthread_create(&tid, NULL, drain_main, &d), 0);
	op_init(&o);
	o.req.opts = CIO_ALL;
	ck_assert_int_eq(RUN(&o, cio_send(loop, &o.req, sv[0], data, LEN, 0, op_cb)), LEN);
	ck_assert_int_eq(pthread_join(tid, NULL), 0);
	ck_assert_uint_eq(d.got, LEN);
	ck_assert(d.ok);

	/* recv: the peer sends 1000 bytes at a time. */
	d.got = 0;
	d.fd = sv[1];
	ck_assert_int_eq(pthread_create(&tid, NULL, feed_main, &d), 0);
	memset(back, 0, LEN);
	ck_assert_int_eq(RUN(&o, cio_recv(loop, &o.req, sv[0], back, LEN, 0, op_cb)), LEN);
	ck_assert_int_eq(pthread_join(tid, NULL), 0);
	ck_assert(t_check(back, LEN, 12, 0));

	/* readv over odd-sized elements, fed in 1000-byte pieces: elements
	 * are finished across several steps. */
	{
		static const size_t sz[] = { 1, 999, 3001, 70000, 5, 0, 188138 };
		struct iovec iov[7];
		size_t off = 0;

		for (int i = 0; i < 7; i++) {
			iov[i].iov_base = back + off;
			iov[i].iov_len = sz[i];
			off += sz[i];
		}
		ck_assert_uint_eq(off, LEN);
		d.got = 0;
		ck_assert_int_eq(pthread_create(&tid, NULL, feed_main, &d), 0);
		memset(back, 0, LEN);
		ck_assert_int_eq(RUN(&o, cio_readv(loop, &o.req, sv[0], iov, 7, -1, op_cb)),
				 LEN);
		ck_assert_int_eq(pthread_join(tid, NULL), 0);
		ck_assert(t_check(back, LEN, 12, 0));
		/* and writev to a slow reader */
		d.got = 0;
		ck_assert_int_eq(pthread_create(&tid, NULL, drain_main, &d), 0);
		t_fill(back, LEN, 12, 0);
		ck_assert_int_eq(RUN(&o, cio_writev(loop, &o.req, sv[0], iov, 7, -1, op_cb)),
				 LEN);
		ck_assert_int_eq(pthread_join(tid, NULL), 0);
		ck_assert_uint_eq(d.got, LEN);
		ck_assert(d.ok);
	}
	close(sv[0]);
	close(sv[1]);
	free(data);
	free(back);
	t_loop_free(loop);
}
END_TEST

START_TEST(all_read_across_eof)
{
	enum { FLEN = 10000 };
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir);
	int fd = t_mkfile(dfd, "f", FLEN, 13);
	uint8_t buf[16384];
	struct iovec iov[3] = {
		{ buf, 3000 }, { buf + 3000, 5000 }, { buf + 8000, 8384 },
	};
	struct op o;

	op_init(&o);
	o.req.opts = CIO_ALL;
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf, sizeof(buf), 0, op_cb)), FLEN);
	ck_assert_int_eq(cio_transferred(&o.req), FLEN);
	ck_assert(t_check(buf, FLEN, 13, 0));
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(RUN(&o, cio_readv(loop, &o.req, fd, iov, 3, 500, op_cb)), FLEN - 500);
	ck_assert(t_check(buf, FLEN - 500, 13, 500));
	/* At the current position, then EOF: 0. */
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf, sizeof(buf), -1, op_cb)), FLEN);
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf, sizeof(buf), -1, op_cb)), 0);
	close(fd);
	close(dfd);
	t_tmpdir_rm(dir);
	t_loop_free(loop);
}
END_TEST

/* An error after partial progress: res is the error, cio_transferred()
 * says what moved before it. */
START_TEST(all_error_keeps_progress)
{
	enum { LEN = 1 * MiB, PEER = 100 * KiB };
	cio_loop *loop = t_loop_new();
	uint8_t *data = malloc(LEN);
	struct drain d = { .want = PEER, .chunk = 4096, .pause_ns = 0, .seed = 14,
			   .close_early = true };
	struct op o;
	pthread_t tid;
	int sv[2];
	int64_t moved;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	t_fill(data, LEN, 14, 0);
	d.fd = sv[1];
	ck_assert_int_eq(pthread_create(&tid, NULL, drain_main, &d), 0);
	op_init(&o);
	o.req.opts = CIO_ALL;
	ck_assert_int_eq(RUN(&o, cio_send(loop, &o.req, sv[0], data, LEN, 0, op_cb)), -EPIPE);
	ck_assert_int_eq(pthread_join(tid, NULL), 0);
	moved = cio_transferred(&o.req);
	ck_assert(d.ok);
	ck_assert_int_ge(moved, PEER);
	ck_assert_int_lt(moved, LEN);
	printf("CIO_ALL send to a peer gone after %u bytes [%s]: -EPIPE after %lld\n",
	       PEER, t_variant, (long long)moved);
	close(sv[0]);
	free(data);
	t_loop_free(loop);
}
END_TEST

/* A cancel that comes between two steps of a CIO_ALL request (the first
 * step's result known, not yet handled) ends it there: no further step
 * waits for data that will not come. */
START_TEST(all_cancelled_between_steps)
{
	cio_loop *loop = t_loop_new();
	char buf[100];
	struct op o;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(write(sv[1], "0123456789", 10), 10);
	op_init(&o);
	o.req.opts = CIO_ALL;
	START(&o, cio_recv(loop, &o.req, sv[0], buf, sizeof(buf), 0, op_cb));
	ck_assert_int_eq(cio_cancel(loop, &o.req), 0);
	t_run(loop);
	ck_assert_int_eq(o.n, 1);
	ck_assert_int_eq(o.req.res, -ECANCELED);
	ck_assert_int_eq(cio_transferred(&o.req), 10);
	ck_assert(!memcmp(buf, "0123456789", 10));
	close(sv[0]);
	close(sv[1]);
	t_loop_free(loop);
}
END_TEST

static Suite *all_suite(void)
{
	Suite *s = suite_create("all");
	TCase *tc = tcase_create("all");

	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, all_write_to_slow_pipe);
	tcase_add_test(tc, all_socket_tiny_buffers);
	tcase_add_test(tc, all_read_across_eof);
	tcase_add_test(tc, all_error_keeps_progress);
	tcase_add_test(tc, all_cancelled_between_steps);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return t_main(all_suite);
}
