/* SPDX-License-Identifier: MIT */
/* Deadlines (req->timeout_ns), the same on every backend: they end idle
 * waits with -ETIMEDOUT, leave work done in time alone, and race
 * completions without losing or repeating a byte. */
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

static Suite *deadline_suite(void)
{
	Suite *s = suite_create("deadline");
	TCase *tc = tcase_create("deadline");

	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, deadline_ends_idle_waits);
	tcase_add_test(tc, deadline_not_reached);
	tcase_add_test(tc, deadline_races_completion);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return t_main(deadline_suite);
}
