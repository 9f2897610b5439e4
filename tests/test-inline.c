/* SPDX-License-Identifier: MIT */
/* Buffered file transfers tried on the loop thread (RWF_NOWAIT) where the
 * pool would run them: cached data answers there, uncached goes to the
 * pool, a partly cached read is one result, what the file system refuses
 * is learned, the per-pass bound holds, O_DIRECT never goes inline. On
 * the ring the same requests run on the ring: results only. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "helpers.h"

#include <fcntl.h>
#include <unistd.h>

#define SEED 23

static bool ring(void)
{
	return !strcmp(t_variant, "uring");
}

struct counts { uint64_t pool, inl; };

static struct counts counts(cio_loop *loop)
{
	struct cio_stats st;

	ck_assert_int_eq(cio_loop_stats(loop, &st), 0);
	return (struct counts){ st.pool_jobs, st.inline_ops };
}

/* The pool and inline counts moved by exactly pool and inl (on the ring
 * neither moves). */
static void moved(cio_loop *loop, struct counts c0, uint64_t pool, uint64_t inl,
		  const char *what)
{
	struct counts c1 = counts(loop);

	if (ring())
		pool = inl = 0;
	ck_assert_msg(c1.pool - c0.pool == pool && c1.inl - c0.inl == inl,
		      "[%s] %s: %llu pool jobs, %llu inline; want %llu, %llu", t_variant,
		      what, (unsigned long long)(c1.pool - c0.pool),
		      (unsigned long long)(c1.inl - c0.inl), (unsigned long long)pool,
		      (unsigned long long)inl);
}

/* A file of len bytes, clean, every page in the page cache. */
static int cached_file(const char *dir, size_t len)
{
	int dfd = t_dirfd(dir), fd = t_mkfile(dfd, "f", len, SEED);
	char *buf = malloc(64 * KiB);

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(fsync(fd), 0);
	for (size_t off = 0; off < len; off += 64 * KiB)
		ck_assert_int_ge(pread(fd, buf, 64 * KiB, (off_t)off), 0);
	free(buf);
	close(dfd);
	return fd;
}

START_TEST(cached_reads_run_inline)
{
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir(), *buf = malloc(8 * KiB);
	int fd = cached_file(dir, 64 * KiB);
	struct iovec iov[2];
	struct counts c0;
	struct op o;

	ck_assert_ptr_nonnull(buf);
	ck_assert_str_eq(cio_op_path(loop, CIO_OP_READ, fd), ring() ? "ring" : "inline");
	op_init(&o);
	c0 = counts(loop);
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf, 4 * KiB, 8 * KiB, op_cb)),
			 4 * KiB);
	ck_assert(t_check(buf, 4 * KiB, SEED, 8 * KiB));
	moved(loop, c0, 0, 1, "cached read");

	/* A vector, and at the file position (which moves). */
	iov[0] = (struct iovec){ buf, 1000 };
	iov[1] = (struct iovec){ buf + 1000, 3000 };
	c0 = counts(loop);
	ck_assert_int_eq(RUN(&o, cio_readv(loop, &o.req, fd, iov, 2, 100, op_cb)), 4000);
	ck_assert(t_check(buf, 4000, SEED, 100));
	ck_assert_int_eq(lseek(fd, 60 * KiB, SEEK_SET), 60 * KiB);
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf, 8 * KiB, -1, op_cb)),
			 4 * KiB);
	ck_assert(t_check(buf, 4 * KiB, SEED, 60 * KiB));
	ck_assert_int_eq(t_fpos(fd), 64 * KiB);
	/* At EOF: 0, from the loop thread as well. */
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf, 8 * KiB, -1, op_cb)), 0);
	moved(loop, c0, 0, 3, "cached readv, position reads");

	free(buf);
	close(fd);
	t_tmpdir_rm(dir);
	t_loop_free(loop);
}
END_TEST

START_TEST(uncached_reads_go_to_the_pool)
{
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir(), *buf = malloc(16 * KiB);
	int fd = cached_file(dir, 64 * KiB);
	struct counts c0;
	struct op o;
	size_t in;

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	if ((in = t_resident_pages(fd, 64 * KiB)))
		T_SKIP("%zu pages stayed cached after POSIX_FADV_DONTNEED", in);
	op_init(&o);
	c0 = counts(loop);
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf, 16 * KiB, 16 * KiB, op_cb)),
			 16 * KiB);
	ck_assert(t_check(buf, 16 * KiB, SEED, 16 * KiB));
	moved(loop, c0, 1, 0, "uncached read");
	free(buf);
	close(fd);
	t_tmpdir_rm(dir);
	t_loop_free(loop);
}
END_TEST

/* A hole never read: its length of zeros, not 0 (EOF) as 5.10's
 * preadv2(RWF_NOWAIT) answers there; at the end of the file, 0. */
START_TEST(uncached_hole_reads_zeros)
{
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir(), *buf = malloc(16 * KiB);
	int dfd = t_dirfd(dir);
	int fd = openat(dfd, "sparse", O_RDWR | O_CREAT | O_EXCL, 0600);
	struct op o;

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 64 * KiB), 0);
	for (int i = 0; i < 3; i++) {
		op_init(&o);
		memset(buf, 0xa5, 16 * KiB);
		ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf, 16 * KiB,
						  (int64_t)(8 + 16 * i) * KiB, op_cb)), 16 * KiB);
		for (size_t k = 0; k < 16 * KiB; k++)
			ck_assert_msg(buf[k] == 0, "byte %zu of read %d: %#x", k, i,
				      (unsigned char)buf[k]);
	}
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf, 16 * KiB, 64 * KiB,
					  op_cb)), 0);
	free(buf);
	close(fd);
	close(dfd);
	t_tmpdir_rm(dir);
	t_loop_free(loop);
}
END_TEST

/* Only the first 16 KiB cached: the loop thread copies them, the pool
 * reads the rest, and the caller sees one result of 64 KiB, as one
 * pread(2) would give; plain, vectored (the split inside an element)
 * and CIO_ALL. */
START_TEST(partly_cached_read_is_one_result)
{
	static const unsigned opts[] = { 0, CIO_ALL };
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir(), *buf = malloc(64 * KiB);
	int fd = cached_file(dir, 64 * KiB);

	ck_assert_ptr_nonnull(buf);
	uint64_t parts = 0;

	/* No readahead: a read caches what it asked for only. */
	ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM), 0);
	for (int round = 0; round < 4; round++) {
		struct iovec iov[2] = { { buf, 10 * KiB }, { buf + 10 * KiB, 54 * KiB } };
		struct counts c0, c1;
		struct op o;
		size_t in;
		int64_t res;

		ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
		ck_assert_int_eq(pread(fd, buf, 16 * KiB, 0), 16 * KiB);
		in = t_resident_pages(fd, 64 * KiB);
		if (in != 16 * KiB / (size_t)getpagesize())
			T_SKIP("%zu pages cached after a 16 KiB read with POSIX_FADV_RANDOM", in);
		memset(buf, 0, 64 * KiB);
		op_init(&o);
		o.req.opts = opts[round & 1];
		c0 = counts(loop);
		if (round < 2)
			res = RUN(&o, cio_read(loop, &o.req, fd, buf, 64 * KiB, 0, op_cb));
		else
			res = RUN(&o, cio_readv(loop, &o.req, fd, iov, 2, 0, op_cb));
		ck_assert_msg(res == 64 * KiB, "[%s] round %d: res %lld", t_variant, round,
			      (long long)res);
		ck_assert_msg(t_check(buf, 64 * KiB, SEED, 0), "round %d: wrong bytes", round);
		ck_assert_int_eq(cio_transferred(&o.req), 64 * KiB);
		/* The loop thread's part counts as inline, the rest as a
		 * pool job; but the first try starts readahead, which may
		 * have brought the rest in by the time it is asked for. */
		c1 = counts(loop);
		if (!ring())
			ck_assert_msg(c1.inl - c0.inl >= 1 && c1.pool - c0.pool <= 1,
				      "[%s] round %d: %llu inline, %llu pool jobs", t_variant,
				      round, (unsigned long long)(c1.inl - c0.inl),
				      (unsigned long long)(c1.pool - c0.pool));
		parts += c1.pool - c0.pool;
	}
	if (!ring())
		printf("partly cached reads [%s]: %llu of 4 finished on the pool\n",
		       t_variant, (unsigned long long)parts);
	free(buf);
	close(fd);
	t_tmpdir_rm(dir);
	t_loop_free(loop);
}
END_TEST

/* Writes go inline where the file system takes RWF_NOWAIT for buffered
 * writes, else the first refusal is learned and the pool takes them from
 * then on; reads on the same fd are not affected. */
START_TEST(writes_learn_the_file_system)
{
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir(), *buf = malloc(8 * KiB), *back = malloc(8 * KiB);
	int fd = cached_file(dir, 64 * KiB);
	struct counts c0, c1;
	struct op o;

	ck_assert_ptr_nonnull(buf);
	ck_assert_ptr_nonnull(back);
	op_init(&o);
	for (int i = 0; i < 3; i++) {
		t_fill(buf, 8 * KiB, SEED + 1 + (uint64_t)i, 0);
		c0 = counts(loop);
		ck_assert_int_eq(RUN(&o, cio_write(loop, &o.req, fd, buf, 8 * KiB,
						   (int64_t)i * 8 * KiB, op_cb)), 8 * KiB);
		c1 = counts(loop);
		ck_assert_int_eq(pread(fd, back, 8 * KiB, (off_t)i * 8 * KiB), 8 * KiB);
		ck_assert(t_check(back, 8 * KiB, SEED + 1 + (uint64_t)i, 0));
		if (ring()) {
			ck_assert_int_eq(c1.pool - c0.pool + c1.inl - c0.inl, 0);
			continue;
		}
		ck_assert_int_eq(c1.pool - c0.pool + c1.inl - c0.inl, 1);
		if (i == 0)
			printf("NOTE %s [%s]: this file system %s buffered RWF_NOWAIT writes\n",
			       __func__, t_variant, c1.inl > c0.inl ? "takes" : "refuses");
		/* What the first answer was, the path now says. */
		ck_assert_str_eq(cio_op_path(loop, CIO_OP_WRITE, fd),
				 c1.inl > c0.inl ? "inline" : "pool");
		ck_assert_str_eq(cio_op_path(loop, CIO_OP_READ, fd), "inline");
	}
	free(buf);
	free(back);
	close(fd);
	t_tmpdir_rm(dir);
	t_loop_free(loop);
}
END_TEST

/* At most CIO__INLINE_BUDGET (1 MiB) is copied inline per pass: a larger
 * read goes to the pool whole, and of three 512 KiB reads submitted in
 * one pass the third does. */
START_TEST(inline_work_per_pass_is_bounded)
{
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir(), *buf = malloc(4 * MiB);
	int fd = cached_file(dir, 4 * MiB);
	struct op o[3];
	struct counts c0;

	ck_assert_ptr_nonnull(buf);
	op_init(&o[0]);
	c0 = counts(loop);
	ck_assert_int_eq(RUN(&o[0], cio_read(loop, &o[0].req, fd, buf, 2 * MiB, 0, op_cb)),
			 2 * MiB);
	ck_assert(t_check(buf, 2 * MiB, SEED, 0));
	moved(loop, c0, 1, 0, "a 2 MiB read");

	ck_assert_int_ge(cio_run(loop, CIO_RUN_NOWAIT), 0);   /* a new pass */
	c0 = counts(loop);
	for (int i = 0; i < 3; i++) {
		op_init(&o[i]);
		START(&o[i], cio_read(loop, &o[i].req, fd, buf + (size_t)i * 512 * KiB,
				      512 * KiB, (int64_t)i * 512 * KiB, op_cb));
	}
	t_run(loop);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(o[i].n, 1);
		ck_assert_int_eq(o[i].req.res, 512 * KiB);
	}
	ck_assert(t_check(buf, 3 * 512 * KiB, SEED, 0));
	moved(loop, c0, 1, 2, "three 512 KiB reads in one pass");
	free(buf);
	close(fd);
	t_tmpdir_rm(dir);
	t_loop_free(loop);
}
END_TEST

START_TEST(direct_never_inline)
{
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir(), *buf;
	int bfd = cached_file(dir, 64 * KiB), dfd = t_dirfd(dir), fd;
	struct counts c0, c1;
	struct op o;

	close(bfd);
	fd = openat(dfd, "f", O_RDONLY | O_DIRECT | O_CLOEXEC);
	close(dfd);
	if (fd < 0) {
		t_tmpdir_rm(dir);
		t_loop_free(loop);
		T_SKIP("O_DIRECT open: %s", strerror(errno));
	}
	ck_assert_int_eq(posix_memalign((void **)&buf, 4096, 16 * KiB), 0);
	ck_assert_str_ne(cio_op_path(loop, CIO_OP_READ, fd), "inline");
	op_init(&o);
	c0 = counts(loop);
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf, 16 * KiB, 16 * KiB, op_cb)),
			 16 * KiB);
	ck_assert(t_check(buf, 16 * KiB, SEED, 16 * KiB));
	c1 = counts(loop);
	ck_assert_int_eq(c1.inl - c0.inl, 0);
	free(buf);
	close(fd);
	t_tmpdir_rm(dir);
	t_loop_free(loop);
}
END_TEST

static Suite *inline_suite(void)
{
	Suite *s = suite_create("inline");
	TCase *tc = tcase_create("inline");

	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, cached_reads_run_inline);
	tcase_add_test(tc, uncached_reads_go_to_the_pool);
	tcase_add_test(tc, uncached_hole_reads_zeros);
	tcase_add_test(tc, partly_cached_read_is_one_result);
	tcase_add_test(tc, writes_learn_the_file_system);
	tcase_add_test(tc, inline_work_per_pass_is_bounded);
	tcase_add_test(tc, direct_never_inline);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return t_main(inline_suite);
}
