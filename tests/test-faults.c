/* SPDX-License-Identifier: MIT */
/* CIO_FAULTS, on every backend: injected -EIO does nothing, an injected
 * short transfer is a real one (CIO_ALL goes on past it), transient
 * -EAGAIN never reaches the caller, delays hold a start back. Each case
 * sets CIO_FAULTS before it makes its loop (Check runs each in a child). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "helpers.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define LEN (256 * KiB)

static cio_loop *faulty_loop(const char *spec)
{
	ck_assert_int_eq(setenv("CIO_FAULTS", spec, 1), 0);
	return t_loop_new();
}

static uint64_t faults(cio_loop *loop)
{
	struct cio_stats st;

	ck_assert_int_eq(cio_loop_stats(loop, &st), 0);
	return st.faults;
}

START_TEST(eio_does_nothing)
{
	cio_loop *loop = faulty_loop("eio=1");
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir);
	int fd = t_mkfile(dfd, "f", 4096, 51);
	uint8_t buf[4096], back[4096];
	struct op o;

	op_init(&o);
	memset(buf, 0x77, sizeof(buf));
	ck_assert_int_eq(RUN(&o, cio_write(loop, &o.req, fd, buf, sizeof(buf), 0, op_cb)), -EIO);
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf, sizeof(buf), 0, op_cb)), -EIO);
	ck_assert_int_eq(RUN(&o, cio_fsync(loop, &o.req, fd, 0, op_cb)), -EIO);
	/* Not a transfer: untouched. */
	ck_assert_int_eq(RUN(&o, cio_nop(loop, &o.req, op_cb)), 0);
	ck_assert_uint_eq(faults(loop), 3);
	ck_assert_int_eq(pread(fd, back, sizeof(back), 0), sizeof(back));
	ck_assert(t_check(back, sizeof(back), 51, 0));
	close(fd);
	close(dfd);
	t_tmpdir_rm(dir);
	t_loop_free(loop);
}
END_TEST

START_TEST(short_is_real_and_all_goes_on)
{
	cio_loop *loop = faulty_loop("short=1,seed=3");
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir);
	int fd = t_mkfile(dfd, "f", LEN, 52);
	uint8_t *buf = malloc(LEN), *back = malloc(LEN);
	struct op o;
	int64_t r;
	int sv[2];

	op_init(&o);
	/* Plain: short, and what it says it read is right. */
	r = RUN(&o, cio_read(loop, &o.req, fd, buf, LEN, 0, op_cb));
	ck_assert_int_gt(r, 0);
	ck_assert_int_lt(r, LEN);
	ck_assert(t_check(buf, (size_t)r, 52, 0));
	/* CIO_ALL: every byte, however short each step. */
	o.req.opts = CIO_ALL;
	memset(buf, 0, LEN);
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf, LEN, 0, op_cb)), LEN);
	ck_assert(t_check(buf, LEN, 52, 0));
	/* Written in short steps: the file holds it all, once. */
	t_fill(buf, LEN, 53, 0);
	ck_assert_int_eq(RUN(&o, cio_write(loop, &o.req, fd, buf, LEN, 0, op_cb)), LEN);
	ck_assert_int_eq(pread(fd, back, LEN, 0), LEN);
	ck_assert(t_check(back, LEN, 53, 0));
	/* A stream: sent in short steps, received in short steps, in order. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	{
		struct op s;
		int big = 1 << 20;

		ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big)), 0);
		op_init(&s);
		s.req.opts = CIO_ALL;
		START(&s, cio_send(loop, &s.req, sv[0], buf, 64 * KiB, 0, op_cb));
		memset(back, 0, LEN);
		START(&o, cio_recv(loop, &o.req, sv[1], back, 64 * KiB, 0, op_cb));
		t_run(loop);
		ck_assert_int_eq(s.n, 1);
		ck_assert_int_eq(o.n, 1);
		ck_assert_int_eq(s.req.res, 64 * KiB);
		ck_assert_int_eq(o.req.res, 64 * KiB);
		ck_assert(t_check(back, 64 * KiB, 53, 0));
	}
	ck_assert_uint_gt(faults(loop), 3);
	close(sv[0]);
	close(sv[1]);
	close(fd);
	close(dfd);
	t_tmpdir_rm(dir);
	free(buf);
	free(back);
	t_loop_free(loop);
}
END_TEST

START_TEST(eagain_is_invisible)
{
	enum { N = 200 };
	cio_loop *loop = faulty_loop("eagain=0.5,seed=4");
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir);
	int fd = t_mkfile(dfd, "f", N * 512, 54);
	uint8_t buf[N][512];
	struct op o[N];

	for (int i = 0; i < N; i++) {
		op_init(&o[i]);
		START(&o[i], cio_read(loop, &o[i].req, fd, buf[i], 512, (int64_t)i * 512, op_cb));
	}
	t_run(loop);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(o[i].n, 1);
		ck_assert_int_eq(o[i].req.res, 512);
		ck_assert(t_check(buf[i], 512, 54, (uint64_t)i * 512));
	}
	ck_assert_uint_gt(faults(loop), N / 4);
	/* Cancelled while held back: one callback, -ECANCELED, at once and
	 * not when the delay ends. The delay is a minute so that the bound
	 * can be generous (half of it) on a loaded machine and still tell a
	 * cancel from a wait. */
	{
		cio_loop *l2;
		struct op c;

		uint64_t t0 = t_now_ns();

		t_loop_free(loop);
		loop = faulty_loop("delay_us=60000000");
		l2 = loop;
		op_init(&c);
		START(&c, cio_read(l2, &c.req, fd, buf[0], 512, 0, op_cb));
		ck_assert_int_eq(cio_run(l2, CIO_RUN_NOWAIT), 1);
		ck_assert_int_eq(cio_cancel(l2, &c.req), 0);
		t_run(l2);
		ck_assert_int_eq(c.n, 1);
		ck_assert_int_eq(c.req.res, -ECANCELED);
		ck_assert_uint_lt(t_now_ns() - t0, 30000 * 1000000ull);
	}
	close(fd);
	close(dfd);
	t_tmpdir_rm(dir);
	t_loop_free(loop);
}
END_TEST

START_TEST(delay_holds_back)
{
	cio_loop *loop = faulty_loop("delay_us=20000-20000");
	struct op o;
	uint64_t t0;

	op_init(&o);
	t0 = t_now_ns();
	ck_assert_int_eq(RUN(&o, cio_nop(loop, &o.req, op_cb)), 0);
	ck_assert_uint_ge(t_now_ns() - t0, 19 * 1000000ull);
	/* A deadline still applies to a request held back. Held back a
	 * minute: a loop late on a loaded machine must not find the delay
	 * over as well and run the nop before it sees its deadline. */
	t_loop_free(loop);
	loop = faulty_loop("delay_us=60000000");
	o.req.timeout_ns = 5 * 1000000ull;
	ck_assert_int_eq(RUN(&o, cio_nop(loop, &o.req, op_cb)), -ETIMEDOUT);
	t_loop_free(loop);
}
END_TEST

static Suite *faults_suite(void)
{
	Suite *s = suite_create("faults");
	TCase *tc = tcase_create("faults");

	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, eio_does_nothing);
	tcase_add_test(tc, short_is_real_and_all_goes_on);
	tcase_add_test(tc, eagain_is_invisible);
	tcase_add_test(tc, delay_holds_back);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return t_main(faults_suite);
}
