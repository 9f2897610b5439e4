/* SPDX-License-Identifier: MIT */
/* Request options, the same on every backend: deadlines (req->timeout_ns),
 * CIO_ALL (go on after short transfers) and CIO_LINK chains. Each case
 * counts every callback and checks results by value; data is compared
 * byte for byte. */
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

/* ------------------------------------------------------------------ */
/* Deadlines */

START_TEST(deadline_ends_idle_waits)
{
	cio_loop *loop = t_loop_new();
	struct op r, pl, rd, tm;
	char buf[64];
	int sv[2], p[2];
	uint64_t t0, el;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	op_init(&r);
	op_init(&pl);
	op_init(&rd);
	op_init(&tm);
	r.req.timeout_ns = 50 * MS;
	pl.req.timeout_ns = 60 * MS;
	rd.req.timeout_ns = 70 * MS;
	/* A timer outlived by its own deadline ends with -ETIMEDOUT. It is an
	 * hour long, so that the bound on the wait below can be generous on a
	 * loaded machine and still tell the deadlines from anything else. */
	tm.req.timeout_ns = 40 * MS;
	t0 = t_now_ns();
	START(&r, cio_recv(loop, &r.req, sv[0], buf, sizeof(buf), 0, op_cb));
	START(&pl, cio_poll(loop, &pl.req, p[0], POLLIN, op_cb));
	START(&rd, cio_read(loop, &rd.req, p[0], buf, sizeof(buf), -1, op_cb));
	START(&tm, cio_timer(loop, &tm.req, 3600000 * MS, op_cb));
	t_run(loop);
	el = t_now_ns() - t0;
	ck_assert_int_eq(r.n, 1);
	ck_assert_int_eq(pl.n, 1);
	ck_assert_int_eq(rd.n, 1);
	ck_assert_int_eq(tm.n, 1);
	ck_assert_int_eq(r.req.res, -ETIMEDOUT);
	ck_assert_int_eq(pl.req.res, -ETIMEDOUT);
	ck_assert_int_eq(rd.req.res, -ETIMEDOUT);
	ck_assert_int_eq(tm.req.res, -ETIMEDOUT);
	ck_assert_uint_ge(el, 70 * MS);
	ck_assert_uint_lt(el, 60000 * MS);

	/* Nothing was consumed: data sent now is all there for a plain read. */
	ck_assert_int_eq(write(sv[1], "abc", 3), 3);
	ck_assert_int_eq(recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT), 3);

	/* A timer shorter than its deadline fires normally (a deadline that a
	 * loop late on a loaded machine cannot reach first). */
	op_init(&tm);
	tm.req.timeout_ns = 3600000 * MS;
	ck_assert_int_eq(RUN(&tm, cio_timer(loop, &tm.req, 5 * MS, op_cb)), 0);
	close(sv[0]);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
	t_loop_free(loop);
}
END_TEST

/* Done in time: the real result, and the deadline does not keep the loop
 * busy afterwards. */
START_TEST(deadline_not_reached)
{
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir);
	int fd = t_mkfile(dfd, "f", 8192, 3);
	uint8_t buf[8192];
	struct op o;
	uint64_t t0;

	/* An hour's deadline: the bound below is generous for a loaded
	 * machine and still far from a loop that waits for the deadline. */
	op_init(&o);
	o.req.timeout_ns = 3600000 * MS;
	t0 = t_now_ns();
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf, sizeof(buf), 0, op_cb)), 8192);
	ck_assert(t_check(buf, sizeof(buf), 3, 0));
	ck_assert_int_eq(RUN(&o, cio_nop(loop, &o.req, op_cb)), 0);
	ck_assert_int_eq(RUN(&o, cio_fsync(loop, &o.req, fd, 0, op_cb)), 0);
	ck_assert_uint_lt(t_now_ns() - t0, 60000 * MS);
	/* Cancelled before its deadline: -ECANCELED, not -ETIMEDOUT. */
	{
		int sv[2];

		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		START(&o, cio_recv(loop, &o.req, sv[0], buf, 10, 0, op_cb));
		ck_assert_int_eq(cio_cancel(loop, &o.req), 0);
		t_run(loop);
		ck_assert_int_eq(o.n, 1);
		ck_assert_int_eq(o.req.res, -ECANCELED);
		close(sv[0]);
		close(sv[1]);
	}
	o.req.timeout_ns = 0;
	close(fd);
	close(dfd);
	t_tmpdir_rm(dir);
	t_loop_free(loop);
}
END_TEST

/* Deadlines expiring as data arrives: each request gets one callback,
 * either its data or -ETIMEDOUT, and no byte is lost or read twice. */
#define RACE_N 64

struct race_writer {
	int *fds;
	int n;
};

static void *race_writer_main(void *arg)
{
	struct race_writer *w = arg;

	for (int i = 0; i < w->n; i++) {
		struct timespec ts = { 0, (long)(i % 4) * 60000L };

		nanosleep(&ts, NULL);
		if (write(w->fds[i], "0123456789abcdef", 16) != 16)
			abort();
	}
	return NULL;
}

START_TEST(deadline_races_completion)
{
	cio_loop *loop = t_loop_new();
	int sv[RACE_N][2], wfd[RACE_N];
	char bufs[RACE_N][32];
	struct op o[RACE_N];
	struct race_writer w = { wfd, RACE_N };
	unsigned got = 0, timed = 0;
	uint64_t bytes = 0;
	pthread_t tid;

	for (int i = 0; i < RACE_N; i++) {
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[i]), 0);
		wfd[i] = sv[i][1];
		op_init(&o[i]);
		o[i].req.timeout_ns = (uint64_t)(1 + i % 8) * MS;
		START(&o[i], cio_recv(loop, &o[i].req, sv[i][0], bufs[i], sizeof(bufs[i]),
				      0, op_cb));
	}
	ck_assert_int_eq(pthread_create(&tid, NULL, race_writer_main, &w), 0);
	t_run(loop);
	ck_assert_int_eq(pthread_join(tid, NULL), 0);
	for (int i = 0; i < RACE_N; i++) {
		char rest[32];
		ssize_t r;

		ck_assert_int_eq(o[i].n, 1);
		if (o[i].req.res == -ETIMEDOUT) {
			timed++;
		} else {
			ck_assert_int_gt(o[i].req.res, 0);
			ck_assert(!memcmp(bufs[i], "0123456789abcdef", (size_t)o[i].req.res));
			bytes += (uint64_t)o[i].req.res;
			got++;
		}
		/* Whatever the request did not take is still in the socket. */
		r = recv(sv[i][0], rest, sizeof(rest), MSG_DONTWAIT);
		if (r > 0)
			bytes += (uint64_t)r;
		ck_assert_int_eq(r > 0 ? (int)r : 0,
				 16 - (o[i].req.res > 0 ? (int)o[i].req.res : 0));
		close(sv[i][0]);
		close(sv[i][1]);
	}
	ck_assert_uint_eq(bytes, 16u * RACE_N);
	printf("deadline race [%s]: %u got data, %u timed out\n", t_variant, got, timed);
	t_loop_free(loop);
}
END_TEST

/* ------------------------------------------------------------------ */
/* CIO_ALL */

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

/* ------------------------------------------------------------------ */
/* CIO_LINK */

static int order[16], norder;

/* Callbacks record their index, to check the order they ran in. */
struct lop {
	struct op o;
	int idx;
};

static void lop_cb(cio_req *req)
{
	struct lop *l = (struct lop *)((char *)req - offsetof(struct lop, o.req));

	op_cb(req);
	order[norder++] = l->idx;
}

static void lop_init(struct lop *l, int idx, uint32_t opts)
{
	op_init(&l->o);
	l->idx = idx;
	l->o.req.opts = opts;
}

START_TEST(link_write_fsync_rename)
{
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir);
	int fd = openat(dfd, "tmp", O_CREAT | O_RDWR | O_CLOEXEC, 0644);
	uint8_t data[5000], back[5000];
	struct lop l[3];
	struct stat st;

	ck_assert_int_ge(fd, 0);
	t_fill(data, sizeof(data), 15, 0);
	norder = 0;
	lop_init(&l[0], 0, CIO_LINK);
	lop_init(&l[1], 1, CIO_LINK);
	lop_init(&l[2], 2, 0);
	START(&l[0].o, cio_write(loop, &l[0].o.req, fd, data, sizeof(data), 0, lop_cb));
	START(&l[1].o, cio_fsync(loop, &l[1].o.req, fd, 0, lop_cb));
	START(&l[2].o, cio_renameat(loop, &l[2].o.req, dfd, "tmp", dfd, "final", 0, lop_cb));
	t_run(loop);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(l[i].o.n, 1);
	ck_assert_int_eq(l[0].o.req.res, sizeof(data));
	ck_assert_int_eq(l[1].o.req.res, 0);
	ck_assert_int_eq(l[2].o.req.res, 0);
	ck_assert_int_eq(norder, 3);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(order[i], i);
	ck_assert_int_eq(fstatat(dfd, "final", &st, 0), 0);
	ck_assert_int_eq(st.st_size, sizeof(data));
	ck_assert_int_eq(pread(fd, back, sizeof(back), 0), sizeof(back));
	ck_assert(!memcmp(back, data, sizeof(data)));

	/* A failing head (a bad fd) cancels the rest, in order: the rename
	 * never happens. */
	norder = 0;
	lop_init(&l[0], 0, CIO_LINK);
	lop_init(&l[1], 1, CIO_LINK);
	lop_init(&l[2], 2, 0);
	START(&l[0].o, cio_write(loop, &l[0].o.req, 9999, data, sizeof(data), 0, lop_cb));
	START(&l[1].o, cio_fsync(loop, &l[1].o.req, fd, 0, lop_cb));
	START(&l[2].o, cio_renameat(loop, &l[2].o.req, dfd, "final", dfd, "gone", 0, lop_cb));
	t_run(loop);
	ck_assert_int_eq(l[0].o.req.res, -EBADF);
	ck_assert_int_eq(l[1].o.req.res, -ECANCELED);
	ck_assert_int_eq(l[2].o.req.res, -ECANCELED);
	ck_assert_int_eq(norder, 3);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(l[i].o.n, 1);
		ck_assert_int_eq(order[i], i);
	}
	ck_assert_int_eq(fstatat(dfd, "final", &st, 0), 0);
	ck_assert_int_eq(fstatat(dfd, "gone", &st, 0), -1);

	/* A short read breaks the chain too. */
	norder = 0;
	lop_init(&l[0], 0, CIO_LINK);
	lop_init(&l[1], 1, 0);
	START(&l[0].o, cio_read(loop, &l[0].o.req, fd, back, sizeof(back), 4000, lop_cb));
	START(&l[1].o, cio_unlinkat(loop, &l[1].o.req, dfd, "final", 0, lop_cb));
	t_run(loop);
	ck_assert_int_eq(l[0].o.req.res, 1000);
	ck_assert_int_eq(l[1].o.req.res, -ECANCELED);
	ck_assert_int_eq(fstatat(dfd, "final", &st, 0), 0);

	/* Independent of it, a request without CIO_LINK before starts at once. */
	close(fd);
	close(dfd);
	t_tmpdir_rm(dir);
	t_loop_free(loop);
}
END_TEST

START_TEST(link_cancel_and_deadline)
{
	cio_loop *loop = t_loop_new();
	struct lop l[3];
	char buf[16];
	int sv[2];
	uint64_t t0;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);

	/* Cancel the head while it waits: everything after it is cancelled. */
	norder = 0;
	lop_init(&l[0], 0, CIO_LINK);
	lop_init(&l[1], 1, CIO_LINK);
	lop_init(&l[2], 2, 0);
	START(&l[0].o, cio_recv(loop, &l[0].o.req, sv[0], buf, sizeof(buf), 0, lop_cb));
	START(&l[1].o, cio_send(loop, &l[1].o.req, sv[0], "x", 1, 0, lop_cb));
	START(&l[2].o, cio_nop(loop, &l[2].o.req, lop_cb));
	ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 3);
	ck_assert_int_eq(norder, 0);
	ck_assert_int_eq(cio_cancel(loop, &l[0].o.req), 0);
	t_run(loop);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(l[i].o.n, 1);
		ck_assert_int_eq(l[i].o.req.res, -ECANCELED);
		ck_assert_int_eq(order[i], i);
	}
	ck_assert_int_eq(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), -1);

	/* The tail starts only once the head is done: a 30 ms timer, then a
	 * nop; the nop's callback comes after the timer's. */
	norder = 0;
	lop_init(&l[0], 0, CIO_LINK);
	lop_init(&l[1], 1, 0);
	t0 = t_now_ns();
	START(&l[0].o, cio_timer(loop, &l[0].o.req, 30 * MS, lop_cb));
	START(&l[1].o, cio_nop(loop, &l[1].o.req, lop_cb));
	t_run(loop);
	ck_assert_int_eq(l[0].o.req.res, 0);
	ck_assert_int_eq(l[1].o.req.res, 0);
	ck_assert_int_eq(order[0], 0);
	ck_assert_int_eq(order[1], 1);
	ck_assert_uint_ge(t_now_ns() - t0, 30 * MS);

	/* A deadline runs from submission, also while held: the tail times
	 * out behind a slow head, which goes on to its own end. */
	norder = 0;
	lop_init(&l[0], 0, CIO_LINK);
	lop_init(&l[1], 1, CIO_LINK);
	lop_init(&l[2], 2, 0);
	l[1].o.req.timeout_ns = 20 * MS;
	START(&l[0].o, cio_timer(loop, &l[0].o.req, 150 * MS, lop_cb));
	START(&l[1].o, cio_nop(loop, &l[1].o.req, lop_cb));
	START(&l[2].o, cio_nop(loop, &l[2].o.req, lop_cb));
	t_run(loop);
	ck_assert_int_eq(l[1].o.req.res, -ETIMEDOUT);
	ck_assert_int_eq(l[2].o.req.res, -ECANCELED);
	ck_assert_int_eq(l[0].o.req.res, 0);
	ck_assert_int_eq(order[0], 1);
	ck_assert_int_eq(order[1], 2);
	ck_assert_int_eq(order[2], 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(l[i].o.n, 1);

	/* A head that timed out: -ETIMEDOUT, and the tail is cancelled. */
	norder = 0;
	lop_init(&l[0], 0, CIO_LINK);
	lop_init(&l[1], 1, 0);
	l[0].o.req.timeout_ns = 10 * MS;
	START(&l[0].o, cio_recv(loop, &l[0].o.req, sv[0], buf, sizeof(buf), 0, lop_cb));
	START(&l[1].o, cio_send(loop, &l[1].o.req, sv[0], "y", 1, 0, lop_cb));
	t_run(loop);
	ck_assert_int_eq(l[0].o.req.res, -ETIMEDOUT);
	ck_assert_int_eq(l[1].o.req.res, -ECANCELED);
	ck_assert_int_eq(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), -1);

	/* A short receive is no failure: the chain goes on. */
	norder = 0;
	ck_assert_int_eq(write(sv[1], "hello", 5), 5);
	lop_init(&l[0], 0, CIO_LINK);
	lop_init(&l[1], 1, 0);
	START(&l[0].o, cio_recv(loop, &l[0].o.req, sv[0], buf, sizeof(buf), 0, lop_cb));
	START(&l[1].o, cio_nop(loop, &l[1].o.req, lop_cb));
	t_run(loop);
	ck_assert_int_eq(l[0].o.req.res, 5);
	ck_assert_int_eq(l[1].o.req.res, 0);
	ck_assert_int_eq(order[0], 0);
	ck_assert_int_eq(order[1], 1);

	/* cancel_all with a chain held: one callback each. */
	norder = 0;
	lop_init(&l[0], 0, CIO_LINK);
	lop_init(&l[1], 1, 0);
	START(&l[0].o, cio_recv(loop, &l[0].o.req, sv[0], buf, sizeof(buf), 0, lop_cb));
	START(&l[1].o, cio_nop(loop, &l[1].o.req, lop_cb));
	ck_assert_int_eq(cio_cancel_all(loop), 2);
	t_run(loop);
	ck_assert_int_eq(l[0].o.n, 1);
	ck_assert_int_eq(l[1].o.n, 1);
	ck_assert_int_eq(l[0].o.req.res, -ECANCELED);
	ck_assert_int_eq(l[1].o.req.res, -ECANCELED);

	close(sv[0]);
	close(sv[1]);
	t_loop_free(loop);
}
END_TEST

static Suite *options_suite(void)
{
	Suite *s = suite_create("options");
	TCase *tc;

	tc = tcase_create("deadline");
	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, deadline_ends_idle_waits);
	tcase_add_test(tc, deadline_not_reached);
	tcase_add_test(tc, deadline_races_completion);
	suite_add_tcase(s, tc);

	tc = tcase_create("all");
	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, all_write_to_slow_pipe);
	tcase_add_test(tc, all_socket_tiny_buffers);
	tcase_add_test(tc, all_read_across_eof);
	tcase_add_test(tc, all_error_keeps_progress);
	tcase_add_test(tc, all_cancelled_between_steps);
	suite_add_tcase(s, tc);

	tc = tcase_create("link");
	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, link_write_fsync_rename);
	tcase_add_test(tc, link_cancel_and_deadline);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return t_main(options_suite);
}
