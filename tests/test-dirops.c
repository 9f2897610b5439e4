/* SPDX-License-Identifier: MIT */
/* cio_openat2 and cio_getdents with cio_dirent_next: confined opens
 * refuse every way out of the directory with the kernel's errors, bad
 * open_how values fail as openat2(2) fails them, a large directory lists
 * completely and exactly once through a small buffer, a corrupt buffer
 * never sends cio_dirent_next past its end, and the path each takes. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <unistd.h>
#include <linux/openat2.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define FILE_LEN  10000u
#define FILE_SEED 16
#define NFILES    10000

/* The kernel's own answer, to hold the library's against. */
static int sys_openat2(int dfd, const char *path, const struct open_how *how)
{
	int fd = (int)syscall(SYS_openat2, dfd, path, how, sizeof(*how));

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* dir/in/ (what the tests confine to) with f (FILE_LEN known bytes), a
 * symlink ok -> f that stays inside, and symlinks that leave it: up ->
 * ../secret and abs -> /etc/passwd. dir/secret lies outside. */
struct tree { char *dir; int top, in; };

static void tree_make(struct tree *t)
{
	int fd;

	t->dir = t_tmpdir();
	t->top = t_dirfd(t->dir);
	ck_assert_int_eq(mkdirat(t->top, "in", 0755), 0);
	t->in = openat(t->top, "in", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(t->in, 0);
	close(t_mkfile(t->in, "f", FILE_LEN, FILE_SEED));
	fd = t_mkfile(t->top, "secret", 100, 1);
	close(fd);
	ck_assert_int_eq(symlinkat("f", t->in, "ok"), 0);
	ck_assert_int_eq(symlinkat("../secret", t->in, "up"), 0);
	ck_assert_int_eq(symlinkat("/etc/passwd", t->in, "abs"), 0);
}

static void tree_rm(struct tree *t)
{
	close(t->in);
	close(t->top);
	t_tmpdir_rm(t->dir);
}

static int64_t open2(cio_loop *loop, struct op *o, int dfd, const char *path,
		     uint64_t flags, uint64_t mode, uint64_t resolve)
{
	struct open_how how = { .flags = flags, .mode = mode, .resolve = resolve };

	return RUN(o, cio_openat2(loop, &o->req, dfd, path, &how, op_cb));
}

/* Refused by the library and by the kernel alike, with this error. */
static void refused(cio_loop *loop, struct op *o, int dfd, const char *path,
		    uint64_t resolve, int want)
{
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC, .resolve = resolve };
	int64_t res = open2(loop, o, dfd, path, how.flags, 0, resolve);

	ck_assert_msg(res == want, "[%s] openat2 \"%s\" resolve %#llx: %lld, want %d",
		      t_variant, path, (unsigned long long)resolve, (long long)res, want);
	ck_assert_int_eq(sys_openat2(dfd, path, &how), want);
}

START_TEST(openat2_beneath_refuses_the_ways_out)
{
	cio_loop *loop = t_loop_new();
	struct tree t;
	struct op o;

	tree_make(&t);
	op_init(&o);
	refused(loop, &o, t.in, "../secret", RESOLVE_BENEATH, -EXDEV);
	refused(loop, &o, t.in, "..", RESOLVE_BENEATH, -EXDEV);
	refused(loop, &o, t.in, "/etc/passwd", RESOLVE_BENEATH, -EXDEV);
	refused(loop, &o, t.in, "up", RESOLVE_BENEATH, -EXDEV);
	refused(loop, &o, t.in, "abs", RESOLVE_BENEATH, -EXDEV);
	/* No symlinks at all, not even one that stays inside. */
	refused(loop, &o, t.in, "ok", RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, -ELOOP);
	refused(loop, &o, t.in, "up", RESOLVE_NO_SYMLINKS, -ELOOP);
	/* Without RESOLVE_*, the same paths do leave: the test is real. */
	ck_assert_int_eq(sys_openat2(t.in, "up", &(struct open_how){ .flags = O_RDONLY }), 0);
	tree_rm(&t);
	t_loop_free(loop);
}
END_TEST

static void read_back(cio_loop *loop, struct op *o, int fd)
{
	char *buf = malloc(FILE_LEN + 1);

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(RUN(o, cio_read(loop, &o->req, fd, buf, FILE_LEN + 1, 0, op_cb)),
			 FILE_LEN);
	ck_assert(t_check(buf, FILE_LEN, FILE_SEED, 0));
	free(buf);
}

START_TEST(openat2_opens_inside)
{
	cio_loop *loop = t_loop_new();
	struct stat st;
	struct tree t;
	struct op o;
	int64_t fd;

	tree_make(&t);
	op_init(&o);
	fd = open2(loop, &o, t.in, "f", O_RDONLY | O_CLOEXEC, 0, RESOLVE_BENEATH);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fcntl((int)fd, F_GETFD), FD_CLOEXEC);
	read_back(loop, &o, (int)fd);
	close((int)fd);
	/* A symlink that stays inside, and "." and ".." that do. */
	fd = open2(loop, &o, t.in, "./ok", O_RDONLY | O_CLOEXEC, 0, RESOLVE_BENEATH);
	ck_assert_int_ge(fd, 0);
	read_back(loop, &o, (int)fd);
	close((int)fd);
	ck_assert_int_eq(mkdirat(t.in, "sub", 0755), 0);
	fd = open2(loop, &o, t.in, "sub/../f", O_RDONLY | O_CLOEXEC, 0, RESOLVE_BENEATH);
	ck_assert_int_ge(fd, 0);
	read_back(loop, &o, (int)fd);
	close((int)fd);
	/* RESOLVE_IN_ROOT: "/" is the directory itself. */
	fd = open2(loop, &o, t.in, "/f", O_RDONLY | O_CLOEXEC, 0, RESOLVE_IN_ROOT);
	ck_assert_int_ge(fd, 0);
	read_back(loop, &o, (int)fd);
	close((int)fd);
	/* O_CREAT takes how->mode. */
	umask(022);
	fd = open2(loop, &o, t.in, "new", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640,
		   RESOLVE_BENEATH);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat((int)fd, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
	ck_assert(S_ISREG(st.st_mode));
	close((int)fd);
	ck_assert_int_eq(open2(loop, &o, t.in, "new", O_RDWR | O_CREAT | O_EXCL, 0640,
			       RESOLVE_BENEATH), -EEXIST);
	ck_assert_int_eq(open2(loop, &o, t.in, "nothing", O_RDONLY, 0, RESOLVE_BENEATH),
			 -ENOENT);
	tree_rm(&t);
	t_loop_free(loop);
}
END_TEST

/* Errors of the kernel's, from the callback, equal to openat2(2)'s own. */
static void bad_how(cio_loop *loop, struct op *o, int dfd, uint64_t flags,
		    uint64_t mode, uint64_t resolve, int want)
{
	struct open_how how = { .flags = flags, .mode = mode, .resolve = resolve };
	int64_t res = open2(loop, o, dfd, "f", flags, mode, resolve);

	ck_assert_msg(res == want, "[%s] how {%#llx, %#llo, %#llx}: %lld, want %d", t_variant,
		      (unsigned long long)flags, (unsigned long long)mode,
		      (unsigned long long)resolve, (long long)res, want);
	ck_assert_int_eq(sys_openat2(dfd, "f", &how), want);
}

START_TEST(openat2_errors_by_value)
{
	cio_loop *loop = t_loop_new();
	struct open_how how = { .flags = O_RDONLY };
	struct tree t;
	struct op o;

	tree_make(&t);
	op_init(&o);
	/* At once: the callback never runs. */
	REJECT(&o, cio_openat2(loop, &o.req, t.in, "f", NULL, op_cb), -EFAULT);
	REJECT(&o, cio_openat2(loop, &o.req, t.in, NULL, &how, op_cb), -EFAULT);
	REJECT(&o, cio_openat2(NULL, &o.req, t.in, "f", &how, op_cb), -EINVAL);
	REJECT(&o, cio_openat2(loop, &o.req, t.in, "f", &how, NULL), -EINVAL);
	o.req.opts = CIO_ALL;
	REJECT(&o, cio_openat2(loop, &o.req, t.in, "f", &how, op_cb), -EINVAL);
	o.req.opts = 0;
	/* In the callback, as openat2(2) judges them. */
	bad_how(loop, &o, t.in, O_RDONLY, 0, 1ull << 40, -EINVAL);          /* unknown resolve bit */
	bad_how(loop, &o, t.in, O_RDONLY, 0, RESOLVE_BENEATH | RESOLVE_IN_ROOT, -EINVAL);
	bad_how(loop, &o, t.in, 1ull << 40, 0, 0, -EINVAL);                 /* flags past 32 bits */
	bad_how(loop, &o, t.in, O_RDONLY, 0644, 0, -EINVAL);                /* mode without O_CREAT */
	bad_how(loop, &o, t.in, O_RDWR | O_CREAT, 010000, 0, -EINVAL);      /* mode past 07777 */
	ck_assert_int_eq(RUN(&o, cio_openat2(loop, &o.req, -1, "f", &how, op_cb)), -EBADF);
	ck_assert_int_eq(RUN(&o, cio_openat2(loop, &o.req, t_closed_fd(), "f", &how, op_cb)),
			 -EBADF);
	ck_assert_int_eq(RUN(&o, cio_openat2(loop, &o.req, t.in, "f/x", &how, op_cb)),
			 -ENOTDIR);
	tree_rm(&t);
	t_loop_free(loop);
}
END_TEST

/* The library keeps its own copy of *how: the caller's may change or go
 * once cio_openat2 returns, before the kernel has looked at it. */
static void submit_scoped(cio_loop *loop, struct op *o, int dfd)
{
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_BENEATH };

	START(o, cio_openat2(loop, &o->req, dfd, "../secret", &how, op_cb));
	/* With these values the open would leave the directory and succeed. */
	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY | O_CLOEXEC;
}

START_TEST(openat2_copies_how)
{
	cio_loop *loop = t_loop_new();
	struct tree t;
	struct op o;

	tree_make(&t);
	op_init(&o);
	submit_scoped(loop, &o, t.in);
	t_run(loop);
	ck_assert_int_eq(o.n, 1);
	ck_assert_int_eq(o.req.res, -EXDEV);
	tree_rm(&t);
	t_loop_free(loop);
}
END_TEST

/* The new fd's number may be one the loop knew as another file: what it
 * knew is dropped. Known buffered, the number becomes an O_DIRECT file
 * through cio_openat2, and a misaligned read at EOF (which the kernel
 * answers 0) is held to the O_DIRECT rule again. */
START_TEST(openat2_new_fd_is_learned_afresh)
{
	cio_loop *loop = t_loop_new();
	struct open_how how = {
		.flags = O_RDWR | O_DIRECT | O_CLOEXEC, .resolve = RESOLVE_BENEATH,
	};
	char buf[128];
	struct tree t;
	struct op o;
	int fd, dfd;

	tree_make(&t);
	op_init(&o);
	dfd = openat(t.in, "f", O_RDWR | O_DIRECT | O_CLOEXEC);
	if (dfd < 0) {
		tree_rm(&t);
		t_loop_free(loop);
		T_SKIP("the file system under $TMPDIR refuses O_DIRECT");
	}
	close(dfd);
	fd = openat(t.in, "f", O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf + 1, 100, FILE_LEN, op_cb)), 0);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(RUN(&o, cio_openat2(loop, &o.req, t.in, "f", &how, op_cb)), fd);
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf + 1, 100, FILE_LEN, op_cb)),
			 -EINVAL);
	close(fd);
	tree_rm(&t);
	t_loop_free(loop);
}
END_TEST

/* ---- cio_getdents, cio_dirent_next ---- */

/* Every entry of dfd through a 4 KiB buffer: counts per name index
 * (n%05d), and of "." and "..". */
static void list_all(cio_loop *loop, int dfd, int *seen, int *dot, int *dotdot,
		     unsigned *calls)
{
	uint64_t buf[4096 / sizeof(uint64_t)];
	struct op o;
	int64_t got;

	op_init(&o);
	*calls = 0;
	while ((got = RUN(&o, cio_getdents(loop, &o.req, dfd, buf, sizeof(buf), op_cb))) > 0) {
		const struct cio_dirent *d;
		size_t pos = 0;
		struct stat st;

		ck_assert_int_le(got, sizeof(buf));
		(*calls)++;
		while ((d = cio_dirent_next(buf, (size_t)got, &pos)) != NULL) {
			char *end;
			long i;

			ck_assert_uint_ge(d->d_reclen, offsetof(struct cio_dirent, d_name) + 2);
			ck_assert_uint_lt(strlen(d->d_name),
					  d->d_reclen - offsetof(struct cio_dirent, d_name));
			if (!strcmp(d->d_name, ".")) {
				(*dot)++;
				continue;
			}
			if (!strcmp(d->d_name, "..")) {
				(*dotdot)++;
				continue;
			}
			ck_assert_msg(d->d_name[0] == 'n', "unexpected entry \"%s\"", d->d_name);
			i = strtol(d->d_name + 1, &end, 10);
			ck_assert_msg(*end == '\0' && i >= 0 && i < NFILES, "unexpected \"%s\"",
				      d->d_name);
			seen[i]++;
			ck_assert(d->d_type == DT_REG || d->d_type == DT_UNKNOWN);
			ck_assert_int_eq(fstatat(dfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW), 0);
			ck_assert_uint_eq(d->d_ino, st.st_ino);
		}
		/* The walk used the whole fill. */
		ck_assert_uint_eq(pos, (size_t)got);
	}
	ck_assert_int_eq(got, 0);
	/* At the end it stays at the end. */
	ck_assert_int_eq(RUN(&o, cio_getdents(loop, &o.req, dfd, buf, sizeof(buf), op_cb)), 0);
}

START_TEST(getdents_lists_10000_entries_exactly_once)
{
	cio_loop *loop = t_loop_new();
	int *seen = calloc(NFILES, sizeof(*seen));
	int dot = 0, dotdot = 0, dfd;
	char *dir = t_tmpdir();
	unsigned calls;

	ck_assert_ptr_nonnull(seen);
	dfd = t_dirfd(dir);
	for (int i = 0; i < NFILES; i++) {
		char name[16];
		int fd;

		snprintf(name, sizeof(name), "n%05d", i);
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		ck_assert_int_ge(fd, 0);
		close(fd);
	}
	list_all(loop, dfd, seen, &dot, &dotdot, &calls);
	for (int i = 0; i < NFILES; i++)
		ck_assert_msg(seen[i] == 1, "[%s] n%05d listed %d times", t_variant, i, seen[i]);
	ck_assert_int_eq(dot, 1);
	ck_assert_int_eq(dotdot, 1);
	/* 10,002 records of 24 bytes at least cannot fit fewer fills. */
	ck_assert_uint_ge(calls, (NFILES + 2) * 24 / 4096);
	close(dfd);
	free(seen);
	t_tmpdir_rm(dir);
	t_loop_free(loop);
}
END_TEST

START_TEST(getdents_errors_by_value)
{
	cio_loop *loop = t_loop_new();
	uint64_t buf[512];
	struct tree t;
	struct op o;
	int fd;

	tree_make(&t);
	op_init(&o);
	fd = openat(t.in, "f", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	/* At once. */
	REJECT(&o, cio_getdents(loop, &o.req, t.in, NULL, 4096, op_cb), -EFAULT);
	REJECT(&o, cio_getdents(NULL, &o.req, t.in, buf, sizeof(buf), op_cb), -EINVAL);
	o.req.opts = CIO_ALL;
	REJECT(&o, cio_getdents(loop, &o.req, t.in, buf, sizeof(buf), op_cb), -EINVAL);
	o.req.opts = 0;
	/* From the callback, as getdents64(2) words them. */
	ck_assert_int_eq(RUN(&o, cio_getdents(loop, &o.req, fd, buf, sizeof(buf), op_cb)),
			 -ENOTDIR);
	ck_assert_int_eq(RUN(&o, cio_getdents(loop, &o.req, -1, buf, sizeof(buf), op_cb)),
			 -EBADF);
	/* Too small for one record. */
	ck_assert_int_eq(RUN(&o, cio_getdents(loop, &o.req, t.in, buf, 8, op_cb)), -EINVAL);
	ck_assert_int_eq(RUN(&o, cio_getdents(loop, &o.req, t.in, NULL, 0, op_cb)), -EINVAL);
	close(fd);
	tree_rm(&t);
	t_loop_free(loop);
}
END_TEST

/* A record laid out as the kernel does, at buf + at; returns its size. */
static size_t put_rec(char *buf, size_t at, const char *name, unsigned short reclen)
{
	struct cio_dirent d = { .d_ino = 42, .d_off = 1, .d_type = DT_REG };
	size_t head = offsetof(struct cio_dirent, d_name);
	size_t need = (head + strlen(name) + 1 + 7) & ~(size_t)7;

	d.d_reclen = reclen ? reclen : (unsigned short)need;
	memcpy(buf + at, &d, head);
	memcpy(buf + at + head, name, strlen(name) + 1);
	return need;
}

START_TEST(dirent_next_stays_inside_a_corrupt_buffer)
{
	long page = sysconf(_SC_PAGESIZE);
	const size_t head = offsetof(struct cio_dirent, d_name);
	const struct cio_dirent *d;
	size_t pos, a, b, len;
	char *map, *buf;

	/* The buffer ends where a page the test may not read begins. */
	map = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(map != MAP_FAILED);
	ck_assert_int_eq(mprotect(map + page, (size_t)page, PROT_NONE), 0);
	len = 64;
	buf = map + page - len;

	/* Well formed: two records, then the end. */
	memset(buf, 0, len);
	a = put_rec(buf, 0, "alpha", 0);
	b = put_rec(buf, a, "b", (unsigned short)(len - a));  /* the last runs to the end */
	pos = 0;
	d = cio_dirent_next(buf, len, &pos);
	ck_assert_ptr_nonnull(d);
	ck_assert_str_eq(d->d_name, "alpha");
	ck_assert_uint_eq(d->d_ino, 42);
	ck_assert_uint_eq(pos, a);
	d = cio_dirent_next(buf, len, &pos);
	ck_assert_ptr_nonnull(d);
	ck_assert_str_eq(d->d_name, "b");
	ck_assert_uint_eq(pos, len);
	ck_assert_ptr_null(cio_dirent_next(buf, len, &pos));
	ck_assert_uint_eq(pos, len);
	(void)b;

	/* A reclen of 0 would loop for ever: the end. */
	put_rec(buf, a, "b", 0);
	((struct cio_dirent *)(void *)(buf + a))->d_reclen = 0;
	pos = a;
	ck_assert_ptr_null(cio_dirent_next(buf, len, &pos));
	ck_assert_uint_eq(pos, a);
	/* One past the end. */
	put_rec(buf, a, "b", (unsigned short)(len - a + 8));
	ck_assert_ptr_null(cio_dirent_next(buf, len, &pos));
	/* Shorter than its own header and name. */
	put_rec(buf, a, "b", (unsigned short)head);
	ck_assert_ptr_null(cio_dirent_next(buf, len, &pos));
	/* Not a multiple of 8: the next record would be misaligned. */
	put_rec(buf, a, "b", (unsigned short)(head + 3));
	ck_assert_ptr_null(cio_dirent_next(buf, len, &pos));
	/* A name with no NUL before the end: strlen would run off the page. */
	put_rec(buf, a, "b", (unsigned short)(len - a));
	memset(buf + a + head, 'x', len - a - head);
	ck_assert_ptr_null(cio_dirent_next(buf, len, &pos));
	ck_assert_uint_eq(pos, a);
	/* A fill that ends inside a header. */
	put_rec(buf, a, "b", (unsigned short)(len - a));
	ck_assert_ptr_null(cio_dirent_next(buf, a + head - 1, &pos));
	ck_assert_ptr_nonnull(cio_dirent_next(buf, len, &pos));
	/* A position at or past the end, or not on a record's alignment. */
	pos = len;
	ck_assert_ptr_null(cio_dirent_next(buf, len, &pos));
	pos = len + 100;
	ck_assert_ptr_null(cio_dirent_next(buf, len, &pos));
	pos = 4;
	ck_assert_ptr_null(cio_dirent_next(buf, len, &pos));
	/* Nothing to walk. */
	pos = 0;
	ck_assert_ptr_null(cio_dirent_next(buf, 0, &pos));
	ck_assert_ptr_null(cio_dirent_next(NULL, len, &pos));
	ck_assert_ptr_null(cio_dirent_next(buf, len, NULL));
	munmap(map, 2 * (size_t)page);
}
END_TEST

START_TEST(path_and_cancel)
{
	cio_loop *loop = t_loop_new();
	bool ring = !strcmp(t_variant, "uring");
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_BENEATH };
	struct cio_stats s0, s1;
	uint64_t buf[512];
	struct op a, b;
	struct tree t;
	int64_t fd;

	tree_make(&t);
	op_init(&a);
	op_init(&b);
	ck_assert_pstr_eq(cio_op_path(loop, CIO_OP_OPENAT2, t.in), ring ? "ring" : "pool");
	ck_assert_pstr_eq(cio_op_path(loop, CIO_OP_GETDENTS, t.in), "pool");
	ck_assert_int_eq(cio_loop_stats(loop, &s0), 0);
	fd = open2(loop, &a, t.in, "f", how.flags, 0, how.resolve);
	ck_assert_int_ge(fd, 0);
	close((int)fd);
	ck_assert_int_eq(cio_loop_stats(loop, &s1), 0);
	ck_assert_uint_eq(s1.pool_jobs - s0.pool_jobs, !ring);
	if (!strcmp(t_variant, "uring-fallback"))
		ck_assert_uint_eq(s1.fallbacks - s0.fallbacks, 1);
	ck_assert_int_gt(RUN(&a, cio_getdents(loop, &a.req, t.in, buf, sizeof(buf), op_cb)), 0);
	ck_assert_int_eq(cio_loop_stats(loop, &s0), 0);
	ck_assert_uint_eq(s0.pool_jobs - s1.pool_jobs, 1);
	ck_assert_uint_eq(s0.fallbacks, s1.fallbacks);

	/* Cancelled at once: each ends once, cancelled or with its result. */
	ck_assert_int_eq(lseek(t.in, 0, SEEK_SET), 0);
	START(&a, cio_getdents(loop, &a.req, t.in, buf, sizeof(buf), op_cb));
	START(&b, cio_openat2(loop, &b.req, t.in, "f", &how, op_cb));
	ck_assert_int_eq(cio_cancel(loop, &a.req), 0);
	ck_assert_int_eq(cio_cancel(loop, &b.req), 0);
	t_run(loop);
	ck_assert_int_eq(a.n, 1);
	ck_assert_int_eq(b.n, 1);
	ck_assert(a.req.res > 0 || a.req.res == -ECANCELED);
	ck_assert(b.req.res >= 0 || b.req.res == -ECANCELED);
	if (b.req.res >= 0)
		close((int)b.req.res);
	tree_rm(&t);
	t_loop_free(loop);
}
END_TEST

static Suite *dirops_suite(void)
{
	Suite *s = suite_create("dirops");
	TCase *tc = tcase_create("openat2");

	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, openat2_beneath_refuses_the_ways_out);
	tcase_add_test(tc, openat2_opens_inside);
	tcase_add_test(tc, openat2_errors_by_value);
	tcase_add_test(tc, openat2_copies_how);
	tcase_add_test(tc, openat2_new_fd_is_learned_afresh);
	suite_add_tcase(s, tc);
	tc = tcase_create("getdents");
	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, getdents_lists_10000_entries_exactly_once);
	tcase_add_test(tc, getdents_errors_by_value);
	tcase_add_test(tc, dirent_next_stays_inside_a_corrupt_buffer);
	tcase_add_test(tc, path_and_cancel);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return t_main(dirops_suite);
}
