/* SPDX-License-Identifier: MIT */
/* CIO_LINK chains, the same on every backend: each request starts when the
 * one before it succeeded; a failure, cancel or deadline ends the rest. */
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

static Suite *link_suite(void)
{
	Suite *s = suite_create("link");
	TCase *tc = tcase_create("link");

	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, link_write_fsync_rename);
	tcase_add_test(tc, link_cancel_and_deadline);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return t_main(link_suite);
}
