/* SPDX-License-Identifier: MIT */
/* cio_sync_file_range and cio_copy_file_range on every backend: the
 * effect seen from outside (dirty pages written back, bytes copied and
 * compared, file positions moved), CIO_ALL to the end, errors by value,
 * the path each takes. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "helpers.h"

#include <fcntl.h>
#include <unistd.h>
#include <sys/syscall.h>

#define SEED 51
#define LEN  (1u * MiB)

#ifndef __NR_cachestat
# define __NR_cachestat 451
#endif
struct t_cachestat_range { uint64_t off, len; };
struct t_cachestat { uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted; };

/* Dirty pages of fd's first len bytes; -1 where cachestat(2) is missing. */
static int64_t dirty_pages(int fd, uint64_t len)
{
	struct t_cachestat_range r = { 0, len };
	struct t_cachestat cs;

	if (syscall(__NR_cachestat, fd, &r, &cs, 0) < 0)
		return -1;
	return (int64_t)cs.nr_dirty;
}

static const char *ring_or_pool(void)
{
	return !strcmp(t_variant, "uring") ? "ring" : "pool";
}

START_TEST(sync_file_range_writes_back)
{
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir(), *buf = malloc(LEN);
	int dfd = t_dirfd(dir), fd, p[2];
	struct op o;
	int64_t d;

	ck_assert_ptr_nonnull(buf);
	fd = openat(dfd, "f", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	t_fill(buf, LEN, SEED, 0);
	ck_assert_int_eq(pwrite(fd, buf, LEN, 0), (ssize_t)LEN);
	ck_assert_str_eq(cio_op_path(loop, CIO_OP_SYNC_FILE_RANGE, fd), ring_or_pool());

	op_init(&o);
	d = dirty_pages(fd, LEN);
	ck_assert_int_eq(RUN(&o, cio_sync_file_range(loop, &o.req, fd, 0, 0,
						     SYNC_FILE_RANGE_WAIT_BEFORE |
						     SYNC_FILE_RANGE_WRITE |
						     SYNC_FILE_RANGE_WAIT_AFTER, op_cb)), 0);
	if (d < 0) {
		printf("NOTE %s [%s]: no cachestat(2): the write-back is not observed\n",
		       __func__, t_variant);
	} else {
		ck_assert_msg(d > 0, "[%s] nothing dirty before", t_variant);
		ck_assert_msg(dirty_pages(fd, LEN) == 0, "[%s] %lld pages still dirty",
			      t_variant, (long long)dirty_pages(fd, LEN));
	}
	/* A range past 4 GiB (longer than an SQE carries) and len 0 both
	 * work; flags 0 is a no-op. */
	ck_assert_int_eq(RUN(&o, cio_sync_file_range(loop, &o.req, fd, 4096,
						     (int64_t)1 << 33, SYNC_FILE_RANGE_WRITE,
						     op_cb)), 0);
	ck_assert_int_eq(RUN(&o, cio_sync_file_range(loop, &o.req, fd, 0, 0, 0, op_cb)), 0);

	/* Errors: refused at once, or by value from the kernel. */
	REJECT(&o, cio_sync_file_range(loop, &o.req, fd, -1, 0, 0, op_cb), -EINVAL);
	REJECT(&o, cio_sync_file_range(loop, &o.req, fd, 0, -1, 0, op_cb), -EINVAL);
	REJECT(&o, cio_sync_file_range(loop, &o.req, fd, INT64_MAX, 2, 0, op_cb), -EINVAL);
	REJECT(&o, cio_sync_file_range(loop, &o.req, fd, 0, 0, 0x100, op_cb), -EINVAL);
	ck_assert_int_eq(RUN(&o, cio_sync_file_range(loop, &o.req, t_closed_fd(), 0, 0,
						     SYNC_FILE_RANGE_WRITE, op_cb)), -EBADF);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(RUN(&o, cio_sync_file_range(loop, &o.req, p[0], 0, 0,
						     SYNC_FILE_RANGE_WRITE, op_cb)), -ESPIPE);
	close(p[0]);
	close(p[1]);
	free(buf);
	close(fd);
	close(dfd);
	t_tmpdir_rm(dir);
	t_loop_free(loop);
}
END_TEST

static int make_out(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	ck_assert_int_ge(fd, 0);
	return fd;
}

static void check_file(int fd, uint64_t off, uint64_t len, uint64_t src_off)
{
	char *back = malloc(len);

	ck_assert_ptr_nonnull(back);
	ck_assert_int_eq(pread(fd, back, len, (off_t)off), (ssize_t)len);
	ck_assert_msg(t_check(back, len, SEED, src_off), "[%s] copied bytes differ",
		      t_variant);
	free(back);
}

START_TEST(copy_file_range_copies)
{
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir), in = t_mkfile(dfd, "in", LEN, SEED), out, ro;
	struct cio_stats s0, s1;
	struct op o;

	ck_assert_str_eq(cio_op_path(loop, CIO_OP_COPY_FILE_RANGE, in), "pool");
	op_init(&o);

	/* At offsets: the whole length with CIO_ALL. */
	out = make_out(dfd, "out");
	o.req.opts = CIO_ALL;
	ck_assert_int_eq(RUN(&o, cio_copy_file_range(loop, &o.req, in, 4096, out, 100,
						     256 * KiB, 0, op_cb)), 256 * KiB);
	check_file(out, 100, 256 * KiB, 4096);
	ck_assert_int_eq(t_fpos(in), 0);
	ck_assert_int_eq(t_fpos(out), 0);

	/* At the positions, which move by what was copied. */
	ck_assert_int_eq(lseek(in, 8192, SEEK_SET), 8192);
	ck_assert_int_eq(lseek(out, 0, SEEK_SET), 0);
	o.req.opts = CIO_ALL;
	ck_assert_int_eq(RUN(&o, cio_copy_file_range(loop, &o.req, in, -1, out, -1,
						     64 * KiB, 0, op_cb)), 64 * KiB);
	check_file(out, 0, 64 * KiB, 8192);
	ck_assert_int_eq(t_fpos(in), 8192 + 64 * KiB);
	ck_assert_int_eq(t_fpos(out), 64 * KiB);

	/* CIO_ALL past the end of the input: what there was, then 0 ends it. */
	close(out);
	out = make_out(dfd, "out2");
	o.req.opts = CIO_ALL;
	ck_assert_int_eq(cio_loop_stats(loop, &s0), 0);
	ck_assert_int_eq(RUN(&o, cio_copy_file_range(loop, &o.req, in, 0, out, 0,
						     2 * LEN, 0, op_cb)), LEN);
	ck_assert_int_eq(cio_loop_stats(loop, &s1), 0);
	ck_assert_uint_ge(s1.pool_jobs - s0.pool_jobs, 1);
	check_file(out, 0, LEN, 0);
	/* Without CIO_ALL: at the end, 0. */
	o.req.opts = 0;
	ck_assert_int_eq(RUN(&o, cio_copy_file_range(loop, &o.req, in, LEN, out, 0,
						     4096, 0, op_cb)), 0);

	/* Errors. */
	REJECT(&o, cio_copy_file_range(loop, &o.req, in, 0, out, 0, 4096, 1, op_cb), -EINVAL);
	REJECT(&o, cio_copy_file_range(loop, &o.req, in, -2, out, 0, 4096, 0, op_cb), -EINVAL);
	ck_assert_int_eq(RUN(&o, cio_copy_file_range(loop, &o.req, t_closed_fd(), 0, out, 0,
						     4096, 0, op_cb)), -EBADF);
	ro = openat(dfd, "out2", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(ro, 0);
	ck_assert_int_eq(RUN(&o, cio_copy_file_range(loop, &o.req, in, 0, ro, 0, 4096, 0,
						     op_cb)), -EBADF);
	/* Overlapping ranges of one file. */
	ck_assert_int_eq(RUN(&o, cio_copy_file_range(loop, &o.req, in, 0, in, 4096, 8192, 0,
						     op_cb)), -EINVAL);
	close(ro);
	close(out);
	close(in);
	close(dfd);
	t_tmpdir_rm(dir);
	t_loop_free(loop);
}
END_TEST

/* cio_cancel_fd on the output cancels a copy still waiting for the pool
 * (or lets one that runs finish with its real result). */
START_TEST(copy_file_range_and_cancel_fd)
{
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir), in = t_mkfile(dfd, "in", LEN, SEED), out = make_out(dfd, "o");
	struct op o;

	op_init(&o);
	START(&o, cio_copy_file_range(loop, &o.req, in, 0, out, 0, LEN, 0, op_cb));
	ck_assert_int_eq(cio_cancel_fd(loop, out), 1);
	t_run(loop);
	ck_assert_int_eq(o.n, 1);
	ck_assert_msg(o.req.res == -ECANCELED || o.req.res > 0, "res %lld",
		      (long long)o.req.res);
	if (o.req.res > 0)
		check_file(out, 0, (uint64_t)o.req.res, 0);
	close(out);
	close(in);
	close(dfd);
	t_tmpdir_rm(dir);
	t_loop_free(loop);
}
END_TEST

/* CIO_FAULTS shortens a copy as it does a read: alone it comes back
 * short, with CIO_ALL it still copies everything. */
START_TEST(copy_file_range_takes_short_faults)
{
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir), in = t_mkfile(dfd, "in", LEN, SEED), out = make_out(dfd, "o");
	struct cio_stats st;
	cio_loop *loop;
	struct op o;
	int64_t res;

	setenv("CIO_FAULTS", "short=1,seed=7", 1);
	loop = t_loop_new();
	unsetenv("CIO_FAULTS");
	op_init(&o);
	res = RUN(&o, cio_copy_file_range(loop, &o.req, in, 0, out, 0, 64 * KiB, 0, op_cb));
	ck_assert_msg(res > 0 && res < 64 * KiB, "[%s] res %lld", t_variant, (long long)res);
	check_file(out, 0, (uint64_t)res, 0);
	o.req.opts = CIO_ALL;
	ck_assert_int_eq(RUN(&o, cio_copy_file_range(loop, &o.req, in, 0, out, 0, 256 * KiB,
						     0, op_cb)), 256 * KiB);
	check_file(out, 0, 256 * KiB, 0);
	ck_assert_int_eq(cio_loop_stats(loop, &st), 0);
	ck_assert_uint_ge(st.faults, 2);
	close(out);
	close(in);
	close(dfd);
	t_tmpdir_rm(dir);
	t_loop_free(loop);
}
END_TEST

static Suite *range_suite(void)
{
	Suite *s = suite_create("rangeops");
	TCase *tc = tcase_create("rangeops");

	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, sync_file_range_writes_back);
	tcase_add_test(tc, copy_file_range_copies);
	tcase_add_test(tc, copy_file_range_and_cancel_fd);
	tcase_add_test(tc, copy_file_range_takes_short_faults);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return t_main(range_suite);
}
