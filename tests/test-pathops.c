/* SPDX-License-Identifier: MIT */
/* cio_linkat, cio_symlinkat, cio_readlinkat, cio_fchmodat, cio_utimensat:
 * what each does, seen with plain stat(2)/readlink(2); errors by value,
 * the same on every backend; the path each takes; cancel and deadlines. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "helpers.h"

#include <sys/utsname.h>

#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>

/* fchmodat2(2) (Linux 6.6); Debian 12's headers predate it. */
#ifndef __NR_fchmodat2
# define __NR_fchmodat2 452
#endif

struct dir { char *path; int dfd; };

static void dir_open(struct dir *d)
{
	d->path = t_tmpdir();
	d->dfd = t_dirfd(d->path);
}

static void dir_close(struct dir *d)
{
	close(d->dfd);
	t_tmpdir_rm(d->path);
}

static struct stat st_at(int dfd, const char *name, int flags)
{
	struct stat st;

	ck_assert_msg(fstatat(dfd, name, &st, flags) == 0, "stat %s: %s", name,
		      strerror(errno));
	return st;
}

START_TEST(link_shares_the_inode)
{
	cio_loop *loop = t_loop_new();
	struct stat a, b, s;
	char buf[4096];
	struct dir d;
	struct op o;
	int fd;

	dir_open(&d);
	op_init(&o);
	close(t_mkfile(d.dfd, "a", sizeof(buf), 3));
	ck_assert_int_eq(RUN(&o, cio_linkat(loop, &o.req, d.dfd, "a", d.dfd, "b", 0,
					    op_cb)), 0);
	a = st_at(d.dfd, "a", 0);
	b = st_at(d.dfd, "b", 0);
	ck_assert_uint_eq(a.st_ino, b.st_ino);
	ck_assert_uint_eq(a.st_dev, b.st_dev);
	ck_assert_uint_eq(a.st_nlink, 2);
	fd = openat(d.dfd, "b", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	ck_assert(t_check(buf, sizeof(buf), 3, 0));
	close(fd);

	/* A link to a symlink is to the symlink itself, unless
	 * AT_SYMLINK_FOLLOW. */
	ck_assert_int_eq(symlinkat("a", d.dfd, "s"), 0);
	ck_assert_int_eq(RUN(&o, cio_linkat(loop, &o.req, d.dfd, "s", d.dfd, "ls", 0,
					    op_cb)), 0);
	s = st_at(d.dfd, "ls", AT_SYMLINK_NOFOLLOW);
	ck_assert(S_ISLNK(s.st_mode));
	ck_assert_uint_eq(s.st_ino, st_at(d.dfd, "s", AT_SYMLINK_NOFOLLOW).st_ino);
	ck_assert_int_eq(RUN(&o, cio_linkat(loop, &o.req, d.dfd, "s", d.dfd, "lf",
					    AT_SYMLINK_FOLLOW, op_cb)), 0);
	s = st_at(d.dfd, "lf", AT_SYMLINK_NOFOLLOW);
	ck_assert(S_ISREG(s.st_mode));
	ck_assert_uint_eq(s.st_ino, a.st_ino);
	ck_assert_uint_eq(s.st_nlink, 3);

	/* AT_FDCWD and absolute paths, across to another directory. */
	{
		char *from, *to;

		ck_assert_int_ge(asprintf(&from, "%s/a", d.path), 0);
		ck_assert_int_eq(mkdirat(d.dfd, "sub", 0755), 0);
		ck_assert_int_ge(asprintf(&to, "%s/sub/c", d.path), 0);
		ck_assert_int_eq(RUN(&o, cio_linkat(loop, &o.req, AT_FDCWD, from,
						    AT_FDCWD, to, 0, op_cb)), 0);
		ck_assert_uint_eq(st_at(d.dfd, "sub/c", 0).st_ino, a.st_ino);
		ck_assert_uint_eq(st_at(d.dfd, "a", 0).st_nlink, 4);
		free(from);
		free(to);
	}
	dir_close(&d);
	t_loop_free(loop);
}
END_TEST

/* Every byte but NUL may be in a target; long enough to need more than
 * one small read of it. */
static void make_target(char *t, size_t len)
{
	for (size_t i = 0; i < len; i++)
		t[i] = (char)(1 + (i * 37 + 11) % 255);
	t[len] = '\0';
}

START_TEST(symlink_reads_back_byte_for_byte)
{
	cio_loop *loop = t_loop_new();
	char target[3001], buf[4096], raw[4096];
	struct dir d;
	struct op o;
	size_t tl;

	dir_open(&d);
	op_init(&o);
	make_target(target, sizeof(target) - 1);
	tl = strlen(target);
	ck_assert_uint_eq(tl, sizeof(target) - 1);
	ck_assert_int_eq(RUN(&o, cio_symlinkat(loop, &o.req, target, d.dfd, "s",
					       op_cb)), 0);
	ck_assert(S_ISLNK(st_at(d.dfd, "s", AT_SYMLINK_NOFOLLOW).st_mode));
	ck_assert_int_eq(readlinkat(d.dfd, "s", raw, sizeof(raw)), (ssize_t)tl);
	ck_assert_int_eq(memcmp(raw, target, tl), 0);

	/* Back through cio_readlinkat: the length, the bytes, no NUL. */
	memset(buf, 0x5a, sizeof(buf));
	ck_assert_int_eq(RUN(&o, cio_readlinkat(loop, &o.req, d.dfd, "s", buf,
						sizeof(buf), op_cb)), (int64_t)tl);
	ck_assert_int_eq(memcmp(buf, target, tl), 0);
	for (size_t i = tl; i < sizeof(buf); i++)
		ck_assert_msg(buf[i] == 0x5a, "byte %zu written past the target", i);

	/* Short buffers: truncated, as readlinkat(2) does. */
	memset(buf, 0x5a, sizeof(buf));
	ck_assert_int_eq(RUN(&o, cio_readlinkat(loop, &o.req, d.dfd, "s", buf, 5,
						op_cb)), 5);
	ck_assert_int_eq(memcmp(buf, target, 5), 0);
	ck_assert_int_eq(buf[5], 0x5a);
	memset(buf, 0x5a, sizeof(buf));
	ck_assert_int_eq(RUN(&o, cio_readlinkat(loop, &o.req, d.dfd, "s", buf, tl,
						op_cb)), (int64_t)tl);
	ck_assert_int_eq(memcmp(buf, target, tl), 0);
	ck_assert_int_eq(buf[tl], 0x5a);

	/* A dangling link is made and read all the same; a link it points
	 * through is not followed by readlinkat. */
	ck_assert_int_eq(RUN(&o, cio_symlinkat(loop, &o.req, "no/such/file", d.dfd,
					       "dangling", op_cb)), 0);
	ck_assert_int_eq(RUN(&o, cio_readlinkat(loop, &o.req, d.dfd, "dangling", buf,
						sizeof(buf), op_cb)), 12);
	ck_assert_int_eq(memcmp(buf, "no/such/file", 12), 0);
	ck_assert_int_eq(RUN(&o, cio_symlinkat(loop, &o.req, "dangling", d.dfd,
					       "chain", op_cb)), 0);
	ck_assert_int_eq(RUN(&o, cio_readlinkat(loop, &o.req, d.dfd, "chain", buf,
						sizeof(buf), op_cb)), 8);
	ck_assert_int_eq(memcmp(buf, "dangling", 8), 0);
	dir_close(&d);
	t_loop_free(loop);
}
END_TEST

/* What the kernel itself says to a mode change of a symlink (Linux 6.6+
 * refuses it with EOPNOTSUPP; older glibc emulations say the same). */
static int kernel_lchmod(int dfd, const char *name, mode_t mode)
{
	if (syscall(__NR_fchmodat2, dfd, name, mode, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	if (errno != ENOSYS)
		return -errno;
	return fchmodat(dfd, name, mode, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

START_TEST(fchmodat_changes_the_mode)
{
	static const mode_t modes[] = { 0600, 0751, 01700, 0, 0644 };
	cio_loop *loop = t_loop_new();
	struct stat ls0, ls1;
	struct dir d;
	struct op o;
	int64_t res;
	int want;

	dir_open(&d);
	op_init(&o);
	close(t_mkfile(d.dfd, "f", 16, 1));
	ck_assert_int_eq(fchmodat(d.dfd, "f", 0644, 0), 0);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		ck_assert_int_eq(RUN(&o, cio_fchmodat(loop, &o.req, d.dfd, "f", modes[i],
						      0, op_cb)), 0);
		ck_assert_uint_eq(st_at(d.dfd, "f", 0).st_mode, S_IFREG | modes[i]);
	}
	/* A directory too. */
	ck_assert_int_eq(mkdirat(d.dfd, "sub", 0755), 0);
	ck_assert_int_eq(RUN(&o, cio_fchmodat(loop, &o.req, d.dfd, "sub", 0700, 0,
					      op_cb)), 0);
	ck_assert_uint_eq(st_at(d.dfd, "sub", 0).st_mode, S_IFDIR | 0700);

	/* Through a symlink: the target changes. */
	ck_assert_int_eq(symlinkat("f", d.dfd, "s"), 0);
	ls0 = st_at(d.dfd, "s", AT_SYMLINK_NOFOLLOW);
	ck_assert_int_eq(RUN(&o, cio_fchmodat(loop, &o.req, d.dfd, "s", 0640, 0,
					      op_cb)), 0);
	ck_assert_uint_eq(st_at(d.dfd, "f", 0).st_mode, S_IFREG | 0640);

	/* AT_SYMLINK_NOFOLLOW on a regular file changes it. */
	ck_assert_int_eq(RUN(&o, cio_fchmodat(loop, &o.req, d.dfd, "f", 0604,
					      AT_SYMLINK_NOFOLLOW, op_cb)), 0);
	ck_assert_uint_eq(st_at(d.dfd, "f", 0).st_mode, S_IFREG | 0604);

	/* AT_SYMLINK_NOFOLLOW on a symlink: whatever this kernel says to
	 * the same call made directly, and the target stays as it was. */
	res = RUN(&o, cio_fchmodat(loop, &o.req, d.dfd, "s", 0600, AT_SYMLINK_NOFOLLOW,
				   op_cb));
	want = kernel_lchmod(d.dfd, "s", 0600);
	ck_assert_int_eq(res, want);
	printf("[%s] fchmodat(symlink, AT_SYMLINK_NOFOLLOW) on this kernel: %s\n",
	       t_variant, want ? strerror(-want) : "changed");
	ck_assert_uint_eq(st_at(d.dfd, "f", 0).st_mode, S_IFREG | 0604);
	ls1 = st_at(d.dfd, "s", AT_SYMLINK_NOFOLLOW);
	ck_assert(S_ISLNK(ls1.st_mode));
	if (want)
		ck_assert_uint_eq(ls1.st_mode, ls0.st_mode);
	dir_close(&d);
	t_loop_free(loop);
}
END_TEST

static void assert_ts(struct timespec got, time_t sec, long nsec, const char *what)
{
	ck_assert_msg(got.tv_sec == sec && got.tv_nsec == nsec,
		      "[%s] %s %lld.%09ld, want %lld.%09ld", t_variant, what,
		      (long long)got.tv_sec, got.tv_nsec, (long long)sec, nsec);
}

/* now_lo <= ts <= now_hi, with a second of slack for the kernel's coarse
 * clock and the filesystem's granularity. */
static void assert_now(struct timespec got, time_t lo, time_t hi, const char *what)
{
	ck_assert_msg(got.tv_sec >= lo - 1 && got.tv_sec <= hi + 1,
		      "[%s] %s %lld, want now (%lld..%lld)", t_variant, what,
		      (long long)got.tv_sec, (long long)lo, (long long)hi);
}

START_TEST(utimensat_sets_the_times)
{
	cio_loop *loop = t_loop_new();
	struct timespec ts[2], lo, hi;
	struct stat st;
	struct dir d;
	struct op o;
	int fd;

	dir_open(&d);
	op_init(&o);
	fd = t_mkfile(d.dfd, "f", 16, 1);

	ts[0] = (struct timespec){ .tv_sec = 1000000000, .tv_nsec = 123456789 };
	ts[1] = (struct timespec){ .tv_sec = 1500000000, .tv_nsec = 987654321 };
	ck_assert_int_eq(RUN(&o, cio_utimensat(loop, &o.req, d.dfd, "f", ts, 0,
					       op_cb)), 0);
	st = st_at(d.dfd, "f", 0);
	assert_ts(st.st_atim, 1000000000, 123456789, "atime");
	assert_ts(st.st_mtim, 1500000000, 987654321, "mtime");

	/* UTIME_OMIT keeps one; UTIME_NOW takes the clock. */
	ts[0] = (struct timespec){ .tv_sec = 7, .tv_nsec = UTIME_OMIT };
	ts[1] = (struct timespec){ .tv_sec = 1600000000, .tv_nsec = 5 };
	ck_assert_int_eq(RUN(&o, cio_utimensat(loop, &o.req, d.dfd, "f", ts, 0,
					       op_cb)), 0);
	st = st_at(d.dfd, "f", 0);
	assert_ts(st.st_atim, 1000000000, 123456789, "atime (omitted)");
	assert_ts(st.st_mtim, 1600000000, 5, "mtime");
	ts[0] = (struct timespec){ .tv_sec = 0, .tv_nsec = UTIME_NOW };
	ts[1] = (struct timespec){ .tv_sec = 0, .tv_nsec = UTIME_OMIT };
	clock_gettime(CLOCK_REALTIME_COARSE, &lo);
	ck_assert_int_eq(RUN(&o, cio_utimensat(loop, &o.req, d.dfd, "f", ts, 0,
					       op_cb)), 0);
	clock_gettime(CLOCK_REALTIME, &hi);
	st = st_at(d.dfd, "f", 0);
	assert_now(st.st_atim, lo.tv_sec, hi.tv_sec, "atime (now)");
	assert_ts(st.st_mtim, 1600000000, 5, "mtime (omitted)");

	/* times NULL: both now. */
	clock_gettime(CLOCK_REALTIME_COARSE, &lo);
	ck_assert_int_eq(RUN(&o, cio_utimensat(loop, &o.req, d.dfd, "f", NULL, 0,
					       op_cb)), 0);
	clock_gettime(CLOCK_REALTIME, &hi);
	st = st_at(d.dfd, "f", 0);
	assert_now(st.st_atim, lo.tv_sec, hi.tv_sec, "atime (NULL)");
	assert_now(st.st_mtim, lo.tv_sec, hi.tv_sec, "mtime (NULL)");

	/* AT_EMPTY_PATH: the fd itself. */
	ts[0] = (struct timespec){ .tv_sec = 1100000000, .tv_nsec = 1 };
	ts[1] = (struct timespec){ .tv_sec = 1200000000, .tv_nsec = 2 };
	ck_assert_int_eq(RUN(&o, cio_utimensat(loop, &o.req, fd, "", ts, AT_EMPTY_PATH,
					       op_cb)), 0);
	st = st_at(d.dfd, "f", 0);
	assert_ts(st.st_atim, 1100000000, 1, "atime (fd)");
	assert_ts(st.st_mtim, 1200000000, 2, "mtime (fd)");

	/* AT_SYMLINK_NOFOLLOW: the link's own times, the target's kept. */
	ck_assert_int_eq(symlinkat("f", d.dfd, "s"), 0);
	ts[0] = (struct timespec){ .tv_sec = 1300000000, .tv_nsec = 3 };
	ts[1] = (struct timespec){ .tv_sec = 1400000000, .tv_nsec = 4 };
	ck_assert_int_eq(RUN(&o, cio_utimensat(loop, &o.req, d.dfd, "s", ts,
					       AT_SYMLINK_NOFOLLOW, op_cb)), 0);
	st = st_at(d.dfd, "s", AT_SYMLINK_NOFOLLOW);
	assert_ts(st.st_mtim, 1400000000, 4, "symlink mtime");
	st = st_at(d.dfd, "f", 0);
	assert_ts(st.st_mtim, 1200000000, 2, "target mtime (not followed)");
	/* Without it, through the link. */
	ck_assert_int_eq(RUN(&o, cio_utimensat(loop, &o.req, d.dfd, "s", ts, 0,
					       op_cb)), 0);
	assert_ts(st_at(d.dfd, "f", 0).st_mtim, 1400000000, 4, "target mtime");

	/* A bad nanosecond count: the kernel's EINVAL, in the callback. */
	ts[0] = (struct timespec){ .tv_sec = 1, .tv_nsec = 1000000000 };
	ck_assert_int_eq(RUN(&o, cio_utimensat(loop, &o.req, d.dfd, "f", ts, 0,
					       op_cb)), -EINVAL);
	close(fd);
	dir_close(&d);
	t_loop_free(loop);
}
END_TEST

START_TEST(errors_by_value)
{
	static const struct timespec ts[2] = { { 1, 0 }, { 2, 0 } };
	cio_loop *loop = t_loop_new();
	char buf[64];
	struct dir d;
	struct op o;
	int bad, ffd;

	dir_open(&d);
	op_init(&o);
	ffd = t_mkfile(d.dfd, "f", 16, 1);
	/* After every open of the test, so that none takes its number. */
	bad = t_closed_fd();
	ck_assert_int_eq(symlinkat("f", d.dfd, "s"), 0);

	/* At once, the callback never runs: bad flags, NULL pointers, an
	 * empty buffer, a request option the call does not take. */
	REJECT(&o, cio_linkat(loop, &o.req, d.dfd, "f", d.dfd, "g", AT_REMOVEDIR, op_cb),
	       -EINVAL);
	REJECT(&o, cio_linkat(loop, &o.req, d.dfd, "f", d.dfd, "g", AT_SYMLINK_NOFOLLOW,
			      op_cb), -EINVAL);
	REJECT(&o, cio_linkat(loop, &o.req, d.dfd, NULL, d.dfd, "g", 0, op_cb), -EFAULT);
	REJECT(&o, cio_linkat(loop, &o.req, d.dfd, "f", d.dfd, NULL, 0, op_cb), -EFAULT);
	REJECT(&o, cio_symlinkat(loop, &o.req, NULL, d.dfd, "g", op_cb), -EFAULT);
	REJECT(&o, cio_symlinkat(loop, &o.req, "f", d.dfd, NULL, op_cb), -EFAULT);
	REJECT(&o, cio_readlinkat(loop, &o.req, d.dfd, "s", buf, 0, op_cb), -EINVAL);
	REJECT(&o, cio_readlinkat(loop, &o.req, d.dfd, "s", buf, (size_t)INT32_MAX + 1,
				  op_cb), -EINVAL);
	REJECT(&o, cio_readlinkat(loop, &o.req, d.dfd, NULL, buf, sizeof(buf), op_cb),
	       -EFAULT);
	REJECT(&o, cio_readlinkat(loop, &o.req, d.dfd, "s", NULL, sizeof(buf), op_cb),
	       -EFAULT);
	REJECT(&o, cio_fchmodat(loop, &o.req, d.dfd, "f", 0600, AT_REMOVEDIR, op_cb),
	       -EINVAL);
	REJECT(&o, cio_fchmodat(loop, &o.req, d.dfd, "f", 0600, AT_SYMLINK_FOLLOW, op_cb),
	       -EINVAL);
	REJECT(&o, cio_fchmodat(loop, &o.req, d.dfd, NULL, 0600, 0, op_cb), -EFAULT);
	REJECT(&o, cio_utimensat(loop, &o.req, d.dfd, "f", ts, AT_SYMLINK_FOLLOW, op_cb),
	       -EINVAL);
	REJECT(&o, cio_utimensat(loop, &o.req, d.dfd, NULL, ts, 0, op_cb), -EFAULT);
	REJECT(&o, cio_utimensat(NULL, &o.req, d.dfd, "f", ts, 0, op_cb), -EINVAL);
	o.req.opts = CIO_ALL;
	REJECT(&o, cio_linkat(loop, &o.req, d.dfd, "f", d.dfd, "g", 0, op_cb), -EINVAL);
	REJECT(&o, cio_readlinkat(loop, &o.req, d.dfd, "s", buf, sizeof(buf), op_cb),
	       -EINVAL);
	o.req.opts = 0;
	ck_assert_int_eq(faccessat(d.dfd, "g", F_OK, AT_SYMLINK_NOFOLLOW), -1);

	/* In the callback, as the kernel words them. ENOENT: */
	ck_assert_int_eq(RUN(&o, cio_linkat(loop, &o.req, d.dfd, "none", d.dfd, "g", 0,
					    op_cb)), -ENOENT);
	ck_assert_int_eq(RUN(&o, cio_symlinkat(loop, &o.req, "f", d.dfd, "no/g",
					       op_cb)), -ENOENT);
	ck_assert_int_eq(RUN(&o, cio_readlinkat(loop, &o.req, d.dfd, "none", buf,
						sizeof(buf), op_cb)), -ENOENT);
	ck_assert_int_eq(RUN(&o, cio_fchmodat(loop, &o.req, d.dfd, "none", 0600, 0,
					      op_cb)), -ENOENT);
	ck_assert_int_eq(RUN(&o, cio_utimensat(loop, &o.req, d.dfd, "none", ts, 0,
					       op_cb)), -ENOENT);
	/* EEXIST: */
	ck_assert_int_eq(RUN(&o, cio_linkat(loop, &o.req, d.dfd, "f", d.dfd, "s", 0,
					    op_cb)), -EEXIST);
	ck_assert_int_eq(RUN(&o, cio_symlinkat(loop, &o.req, "x", d.dfd, "f",
					       op_cb)), -EEXIST);
	/* EBADF, a closed dirfd: */
	ck_assert_int_eq(RUN(&o, cio_linkat(loop, &o.req, bad, "f", d.dfd, "g", 0,
					    op_cb)), -EBADF);
	ck_assert_int_eq(RUN(&o, cio_linkat(loop, &o.req, d.dfd, "f", bad, "g", 0,
					    op_cb)), -EBADF);
	ck_assert_int_eq(RUN(&o, cio_symlinkat(loop, &o.req, "f", bad, "g", op_cb)),
			 -EBADF);
	ck_assert_int_eq(RUN(&o, cio_readlinkat(loop, &o.req, bad, "s", buf, sizeof(buf),
						op_cb)), -EBADF);
	ck_assert_int_eq(RUN(&o, cio_fchmodat(loop, &o.req, bad, "f", 0600, 0, op_cb)),
			 -EBADF);
	ck_assert_int_eq(RUN(&o, cio_utimensat(loop, &o.req, bad, "f", ts, 0, op_cb)),
			 -EBADF);
	/* ENOTDIR, a file as the directory, relative paths: */
	ck_assert_int_eq(RUN(&o, cio_linkat(loop, &o.req, ffd, "x", d.dfd, "g", 0,
					    op_cb)), -ENOTDIR);
	ck_assert_int_eq(RUN(&o, cio_linkat(loop, &o.req, d.dfd, "f/x", d.dfd, "g", 0,
					    op_cb)), -ENOTDIR);
	ck_assert_int_eq(RUN(&o, cio_symlinkat(loop, &o.req, "f", ffd, "g", op_cb)),
			 -ENOTDIR);
	ck_assert_int_eq(RUN(&o, cio_readlinkat(loop, &o.req, ffd, "s", buf, sizeof(buf),
						op_cb)), -ENOTDIR);
	ck_assert_int_eq(RUN(&o, cio_fchmodat(loop, &o.req, d.dfd, "f/x", 0600, 0,
					      op_cb)), -ENOTDIR);
	ck_assert_int_eq(RUN(&o, cio_utimensat(loop, &o.req, ffd, "x", ts, 0, op_cb)),
			 -ENOTDIR);
	/* Not a symlink: readlinkat(2)'s EINVAL. */
	ck_assert_int_eq(RUN(&o, cio_readlinkat(loop, &o.req, d.dfd, "f", buf, sizeof(buf),
						op_cb)), -EINVAL);
	/* Nothing was made by the failures. */
	ck_assert_int_eq(faccessat(d.dfd, "g", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	ck_assert_uint_eq(st_at(d.dfd, "f", 0).st_nlink, 1);
	close(ffd);
	dir_close(&d);
	t_loop_free(loop);
}
END_TEST

START_TEST(path_per_variant)
{
	/* IORING_OP_LINKAT and SYMLINKAT came in 5.15: the pool's before. */
	static const struct { int op; bool ring; } ops[] = {
		{ CIO_OP_LINKAT, true }, { CIO_OP_SYMLINKAT, true },
		{ CIO_OP_READLINKAT, false }, { CIO_OP_FCHMODAT, false },
		{ CIO_OP_UTIMENSAT, false },
	};
	bool fallback = !strcmp(t_variant, "uring-fallback");
	cio_loop *loop = t_loop_new();
	struct utsname u;
	int major = 0, minor = 0;
	bool uring, has515, lacks;

	ck_assert_int_eq(uname(&u), 0);
	ck_assert_int_eq(sscanf(u.release, "%d.%d", &major, &minor), 2);
	has515 = major > 5 || (major == 5 && minor >= 15);
	uring = !strncmp(cio_backend(loop), "uring", 5) && !fallback && has515;
	/* A uring loop sends what its kernel lacks to the pool, counted. */
	lacks = !strncmp(cio_backend(loop), "uring", 5) && (fallback || !has515);
	if (!has515 && !fallback && !strncmp(cio_backend(loop), "uring", 5))
		printf("NOTE path_per_variant [%s]: kernel %s has no IORING_OP_LINKAT "
		       "or SYMLINKAT (5.15): the pool's\n", t_variant, u.release);
	struct cio_stats s0, s1;
	struct dir d;
	struct op o;
	char buf[16];

	dir_open(&d);
	op_init(&o);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		const char *want = uring && ops[i].ring ? "ring" : "pool";

		ck_assert_msg(!strcmp(cio_op_path(loop, ops[i].op, d.dfd), want),
			      "[%s] op %d: path %s, want %s", t_variant, ops[i].op,
			      cio_op_path(loop, ops[i].op, d.dfd), want);
	}

	/* And where each one did run: the pool's jobs and the fallbacks
	 * counted as the path said. */
	close(t_mkfile(d.dfd, "f", 16, 1));
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		int64_t res;

		ck_assert_int_eq(cio_loop_stats(loop, &s0), 0);
		switch (ops[i].op) {
		case CIO_OP_LINKAT:
			res = RUN(&o, cio_linkat(loop, &o.req, d.dfd, "f", d.dfd, "g", 0,
						 op_cb));
			break;
		case CIO_OP_SYMLINKAT:
			res = RUN(&o, cio_symlinkat(loop, &o.req, "f", d.dfd, "s", op_cb));
			break;
		case CIO_OP_READLINKAT:
			res = RUN(&o, cio_readlinkat(loop, &o.req, d.dfd, "s", buf,
						     sizeof(buf), op_cb)) - 1;
			break;
		case CIO_OP_FCHMODAT:
			res = RUN(&o, cio_fchmodat(loop, &o.req, d.dfd, "f", 0600, 0,
						   op_cb));
			break;
		default:
			res = RUN(&o, cio_utimensat(loop, &o.req, d.dfd, "f", NULL, 0,
						    op_cb));
			break;
		}
		ck_assert_int_eq(res, 0);
		ck_assert_int_eq(cio_loop_stats(loop, &s1), 0);
		ck_assert_msg(s1.pool_jobs - s0.pool_jobs == !(uring && ops[i].ring),
			      "[%s] op %d: %llu pool jobs", t_variant, ops[i].op,
			      (unsigned long long)(s1.pool_jobs - s0.pool_jobs));
		if (lacks)
			ck_assert_uint_eq(s1.fallbacks - s0.fallbacks, ops[i].ring);
		else
			ck_assert_uint_eq(s1.fallbacks - s0.fallbacks, 0);
	}
	dir_close(&d);
	t_loop_free(loop);
}
END_TEST

START_TEST(cancel_and_deadline)
{
	static const struct timespec ts[2] = { { 1, 0 }, { 2, 0 } };
	cio_loop *loop = t_loop_new();
	struct op o[5], b;
	char buf[16];
	struct dir d;
	struct stat st;

	dir_open(&d);
	close(t_mkfile(d.dfd, "f", 16, 1));
	ck_assert_int_eq(symlinkat("f", d.dfd, "s"), 0);
	for (int i = 0; i < 5; i++)
		op_init(&o[i]);
	op_init(&b);
	/* Cancelled at once: each ends once, -ECANCELED if it had not
	 * started, else with its real result, which then holds. */
	START(&o[0], cio_linkat(loop, &o[0].req, d.dfd, "f", d.dfd, "g", 0, op_cb));
	START(&o[1], cio_symlinkat(loop, &o[1].req, "f", d.dfd, "t", op_cb));
	START(&o[2], cio_readlinkat(loop, &o[2].req, d.dfd, "s", buf, sizeof(buf), op_cb));
	START(&o[3], cio_fchmodat(loop, &o[3].req, d.dfd, "f", 0600, 0, op_cb));
	START(&o[4], cio_utimensat(loop, &o[4].req, d.dfd, "f", ts, 0, op_cb));
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(cio_cancel(loop, &o[i].req), 0);
	/* A generous deadline never fires on a quick call. */
	b.req.timeout_ns = 60000000000ull;
	START(&b, cio_symlinkat(loop, &b.req, "f", d.dfd, "u", op_cb));
	t_run(loop);
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(o[i].n, 1);
		if (i == 2)
			ck_assert(o[i].req.res == 1 || o[i].req.res == -ECANCELED);
		else
			ck_assert(o[i].req.res == 0 || o[i].req.res == -ECANCELED);
	}
	ck_assert_int_eq(b.n, 1);
	ck_assert_int_eq(b.req.res, 0);
	ck_assert_int_eq(faccessat(d.dfd, "g", F_OK, 0) == 0, o[0].req.res == 0);
	ck_assert_int_eq(faccessat(d.dfd, "t", F_OK, AT_SYMLINK_NOFOLLOW) == 0,
			 o[1].req.res == 0);
	st = st_at(d.dfd, "f", 0);
	ck_assert_int_eq((st.st_mode & 07777) == 0600, o[3].req.res == 0);
	ck_assert_int_eq(st.st_mtim.tv_sec == 2, o[4].req.res == 0);
	dir_close(&d);
	t_loop_free(loop);
}
END_TEST

static Suite *pathops_suite(void)
{
	Suite *s = suite_create("pathops");
	TCase *tc = tcase_create("pathops");

	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, link_shares_the_inode);
	tcase_add_test(tc, symlink_reads_back_byte_for_byte);
	tcase_add_test(tc, fchmodat_changes_the_mode);
	tcase_add_test(tc, utimensat_sets_the_times);
	tcase_add_test(tc, errors_by_value);
	tcase_add_test(tc, path_per_variant);
	tcase_add_test(tc, cancel_and_deadline);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return t_main(pathops_suite);
}
