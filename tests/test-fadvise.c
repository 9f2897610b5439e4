/* SPDX-License-Identifier: MIT */
/* cio_fadvise: the advice reaches the page cache (DONTNEED drops a range,
 * WILLNEED brings it back), errors by value the same on every backend,
 * the path it takes, and a range too long for a ring request. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "helpers.h"

#include <fcntl.h>
#include <unistd.h>

#define FILE_LEN (4u * MiB)

static int cached_file(char **dirp, int *dfdp)
{
	char buf[64 * KiB];
	int fd;

	*dirp = t_tmpdir();
	*dfdp = t_dirfd(*dirp);
	fd = t_mkfile(*dfdp, "f", FILE_LEN, 7);
	/* Clean and in the cache: DONTNEED can drop every page. */
	ck_assert_int_eq(fsync(fd), 0);
	for (off_t off = 0; off < (off_t)FILE_LEN; off += (off_t)sizeof(buf))
		ck_assert_int_eq(pread(fd, buf, sizeof(buf), off), (ssize_t)sizeof(buf));
	return fd;
}

START_TEST(advice_reaches_the_page_cache)
{
	size_t pages = FILE_LEN / (size_t)getpagesize(), in;
	cio_loop *loop = t_loop_new();
	uint64_t end;
	struct op o;
	char *dir;
	int dfd, fd;

	fd = cached_file(&dir, &dfd);
	op_init(&o);
	ck_assert_uint_eq(t_resident_pages(fd, FILE_LEN), pages);

	ck_assert_int_eq(RUN(&o, cio_fadvise(loop, &o.req, fd, 0, 0, POSIX_FADV_DONTNEED,
					     op_cb)), 0);
	in = t_resident_pages(fd, FILE_LEN);
	ck_assert_msg(in == 0, "[%s] %zu of %zu pages still cached after DONTNEED",
		      t_variant, in, pages);

	/* The second megabyte only: the rest stays out. */
	ck_assert_int_eq(RUN(&o, cio_fadvise(loop, &o.req, fd, MiB, MiB, POSIX_FADV_WILLNEED,
					     op_cb)), 0);
	/* WILLNEED starts reading; wait for it, generously. */
	end = t_now_ns() + 30000000000ull;
	while ((in = t_resident_pages(fd, FILE_LEN)) < MiB / (size_t)getpagesize() &&
	       t_now_ns() < end)
		usleep(1000);
	ck_assert_msg(in >= MiB / (size_t)getpagesize(),
		      "[%s] WILLNEED brought %zu pages in", t_variant, in);

	/* Plain hints answer 0 too. */
	ck_assert_int_eq(RUN(&o, cio_fadvise(loop, &o.req, fd, 0, 0, POSIX_FADV_SEQUENTIAL,
					     op_cb)), 0);
	ck_assert_int_eq(RUN(&o, cio_fadvise(loop, &o.req, fd, 4096, 8192, POSIX_FADV_RANDOM,
					     op_cb)), 0);
	close(fd);
	close(dfd);
	t_tmpdir_rm(dir);
	t_loop_free(loop);
}
END_TEST

/* A small file in a fresh directory, for the cases that need no cache. */
struct small { char *dir; int dfd, fd; };

static void small_open(struct small *f)
{
	f->dir = t_tmpdir();
	f->dfd = t_dirfd(f->dir);
	f->fd = t_mkfile(f->dfd, "f", 8192, 1);
}

static void small_close(struct small *f)
{
	close(f->fd);
	close(f->dfd);
	t_tmpdir_rm(f->dir);
}

START_TEST(errors_by_value)
{
	cio_loop *loop = t_loop_new();
	struct small f;
	int pfd[2], fd;
	struct op o;

	small_open(&f);
	fd = f.fd;
	op_init(&o);
	/* At once: the callback never runs. */
	REJECT(&o, cio_fadvise(loop, &o.req, fd, -1, 0, POSIX_FADV_NORMAL, op_cb), -EINVAL);
	REJECT(&o, cio_fadvise(loop, &o.req, fd, 0, -1, POSIX_FADV_NORMAL, op_cb), -EINVAL);
	REJECT(&o, cio_fadvise(NULL, &o.req, fd, 0, 0, POSIX_FADV_NORMAL, op_cb), -EINVAL);
	o.req.opts = CIO_ALL;
	REJECT(&o, cio_fadvise(loop, &o.req, fd, 0, 0, POSIX_FADV_NORMAL, op_cb), -EINVAL);
	o.req.opts = 0;
	/* In the callback, as posix_fadvise(2) words them. */
	ck_assert_int_eq(RUN(&o, cio_fadvise(loop, &o.req, -1, 0, 0, POSIX_FADV_NORMAL, op_cb)),
			 -EBADF);
	ck_assert_int_eq(RUN(&o, cio_fadvise(loop, &o.req, fd, 0, 0, 12345, op_cb)), -EINVAL);
	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	ck_assert_int_eq(RUN(&o, cio_fadvise(loop, &o.req, pfd[0], 0, 0, POSIX_FADV_NORMAL,
					     op_cb)), -ESPIPE);
	close(pfd[0]);
	close(pfd[1]);
	small_close(&f);
	t_loop_free(loop);
}
END_TEST

START_TEST(path_and_long_range)
{
	cio_loop *loop = t_loop_new();
	bool ring = !strcmp(t_variant, "uring");
	struct cio_stats s0, s1, s2;
	struct small f;
	struct op o;
	int fd;

	small_open(&f);
	fd = f.fd;
	op_init(&o);
	ck_assert_pstr_eq(cio_op_path(loop, CIO_OP_FADVISE, fd), ring ? "ring" : "pool");
	ck_assert_int_eq(cio_loop_stats(loop, &s0), 0);
	ck_assert_int_eq(RUN(&o, cio_fadvise(loop, &o.req, fd, 0, 4096, POSIX_FADV_NORMAL,
					     op_cb)), 0);
	ck_assert_int_eq(cio_loop_stats(loop, &s1), 0);
	ck_assert_uint_eq(s1.pool_jobs - s0.pool_jobs, !ring);
	if (!strcmp(t_variant, "uring-fallback"))
		ck_assert_uint_eq(s1.fallbacks - s0.fallbacks, 1);
	/* 8 GiB: more than a ring request's 32-bit length, so the pool's on
	 * every backend, and still answered. */
	ck_assert_int_eq(RUN(&o, cio_fadvise(loop, &o.req, fd, 0, 8ll << 30, POSIX_FADV_NORMAL,
					     op_cb)), 0);
	ck_assert_int_eq(cio_loop_stats(loop, &s2), 0);
	ck_assert_uint_eq(s2.pool_jobs - s1.pool_jobs, 1);
	small_close(&f);
	t_loop_free(loop);
}
END_TEST

START_TEST(cancel_and_deadline)
{
	cio_loop *loop = t_loop_new();
	struct small f;
	struct op a, b;
	int fd;

	small_open(&f);
	fd = f.fd;
	op_init(&a);
	op_init(&b);
	/* Cancelled at once: it did not start, or it won the race. */
	START(&a, cio_fadvise(loop, &a.req, fd, 0, 0, POSIX_FADV_NORMAL, op_cb));
	ck_assert_int_eq(cio_cancel(loop, &a.req), 0);
	/* A generous deadline never fires on a hint. */
	b.req.timeout_ns = 60000000000ull;
	START(&b, cio_fadvise(loop, &b.req, fd, 0, 0, POSIX_FADV_NORMAL, op_cb));
	t_run(loop);
	ck_assert_int_eq(a.n, 1);
	ck_assert_int_eq(b.n, 1);
	ck_assert(a.req.res == 0 || a.req.res == -ECANCELED);
	ck_assert_int_eq(b.req.res, 0);
	small_close(&f);
	t_loop_free(loop);
}
END_TEST

static Suite *fadvise_suite(void)
{
	Suite *s = suite_create("fadvise");
	TCase *tc = tcase_create("fadvise");

	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, advice_reaches_the_page_cache);
	tcase_add_test(tc, errors_by_value);
	tcase_add_test(tc, path_and_long_range);
	tcase_add_test(tc, cancel_and_deadline);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return t_main(fadvise_suite);
}
