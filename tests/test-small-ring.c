/* SPDX-License-Identifier: MIT */
/* A ring of 8 entries under 10,000 operations, on every backend: the SQ
 * full most of the time, the CQ overflowing, nothing lost. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

/* 5,000 nops and 5,000 reads in flight at once through a queue of 8: the
 * SQ is full most of the time and the CQ overflows; nothing is lost. */
START_TEST(small_ring_ten_thousand)
{
	enum { N = 5000, PIECE = 256 };
	cio_loop *loop = t_loop_new_opts(8);
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir);
	int fd = t_mkfile(dfd, "f", (size_t)N * PIECE, 61);
	uint8_t *buf = malloc((size_t)N * PIECE);
	cio_req *reqs = calloc(2 * N, sizeof(*reqs));
	int64_t *res = calloc(2 * N, sizeof(*res));
	struct cio_stats st;
	int n = 0;

	ck_assert_ptr_nonnull(buf);
	ck_assert_ptr_nonnull(reqs);
	for (int i = 0; i < N; i++) {
		reqs[i].data = &n;
		ck_assert_int_eq(cio_nop(loop, &reqs[i], t_count_cb), 0);
		reqs[N + i].data = &n;
		ck_assert_int_eq(cio_read(loop, &reqs[N + i], fd, buf + (size_t)i * PIECE, PIECE,
					  (int64_t)i * PIECE, t_count_cb), 0);
	}
	ck_assert_int_eq(cio_loop_stats(loop, &st), 0);
	ck_assert_uint_eq(st.inflight, 2 * N);
	t_run(loop);
	ck_assert_int_eq(n, 2 * N);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(reqs[i].res, 0);
		ck_assert_int_eq(reqs[N + i].res, PIECE);
	}
	ck_assert(t_check(buf, (size_t)N * PIECE, 61, 0));
	ck_assert_int_eq(cio_loop_stats(loop, &st), 0);
	printf("small ring [%s]: 10000 ops through 8 entries: %llu kept back for a full "
	       "SQ, %llu CQ overflows\n", t_variant, (unsigned long long)st.sq_full,
	       (unsigned long long)st.cq_overflows);
	/* 10,000 completions into a CQ of 16: the kernel's overflow list was
	 * used, and drained. */
	if (!strcmp(t_variant, "uring"))
		ck_assert_uint_gt(st.cq_overflows + st.sq_full, 0);
	close(fd);
	close(dfd);
	t_tmpdir_rm(dir);
	free(buf);
	free(reqs);
	free(res);
	t_loop_free(loop);
}
END_TEST

static Suite *small_ring_suite(void)
{
	Suite *s = suite_create("small-ring");
	TCase *tc = tcase_create("small-ring");

	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, small_ring_ten_thousand);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return t_main(small_ring_suite);
}
