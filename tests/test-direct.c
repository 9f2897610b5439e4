/* SPDX-License-Identifier: MIT */
/* O_DIRECT files: a 32 MiB file written, read and partly rewritten in random
 * order at queue depth 64 with every byte checked; misaligned buffers,
 * offsets and lengths refused with -EINVAL (the kernel's rule) and never
 * redone through the page cache; and where each backend runs reads, writes
 * and fsync of a buffered and of an O_DIRECT descriptor. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/uio.h>

#define BLK        4096u              /* valid O_DIRECT alignment on ext4 */
#define QD         64                 /* requests in flight */
#define MAX_BLKS   16                 /* longest transfer: 64 KiB */
#define FILE_LEN   (32 * MiB)
#define FILE_BLKS  (FILE_LEN / BLK)
#define NREADS     4000
/* A readv of up to MAX_BLKS + 2 blocks in 4 pieces, a block apart. */
#define SLOT_BUF   (128 * KiB)
#define POISON     0xee

#define SEED_FIRST  101               /* phase 1: the whole file */
#define SEED_SECOND 202               /* phase 3: the overwritten blocks */

/* ------------------------------------------------------------------ */

static void *aligned_alloc_or_die(size_t len)
{
	void *p = NULL;

	ck_assert_int_eq(posix_memalign(&p, BLK, len), 0);
	return p;
}

/* openat with O_DIRECT: the fd, or -errno. */
static int open_direct(int dfd, const char *name, int flags)
{
	int fd = openat(dfd, name, flags | O_DIRECT | O_CLOEXEC, 0644);

	return fd >= 0 ? fd : -errno;
}

static uint32_t rnd_below(uint64_t *s, uint32_t n)
{
	return (uint32_t)(t_rand(s) % n);
}

/* The route the spec gives reads, writes and fsync of a regular file on
 * this variant; fails on a variant this file does not know. */
static const char *file_path_want(bool direct)
{
	if (!strcmp(t_variant, "uring"))
		return "ring";
	if (!strcmp(t_variant, "aio"))
		return direct ? "aio" : "pool";
	if (!strcmp(t_variant, "pool") || !strcmp(t_variant, "uring-fallback"))
		return "pool";
	ck_abort_msg("unknown variant %s", t_variant);
	return NULL;
}

/* The same for a buffered file, by operation: transfers are tried on
 * the loop thread first (RWF_NOWAIT) wherever the pool would run them. */
static const char *buffered_path_want(int op)
{
	const char *p = file_path_want(false);

	return op != CIO_OP_FSYNC && !strcmp(p, "pool") ? "inline" : p;
}

/* /proc/sys/fs/aio-nr and aio-max-nr, for messages: an aio loop without
 * an AIO context sends O_DIRECT work to the pool. */
static const char *aio_room(char *out, size_t n)
{
	unsigned long long nr = 0, max = 0;
	FILE *f;

	if ((f = fopen("/proc/sys/fs/aio-nr", "r"))) {
		if (fscanf(f, "%llu", &nr) != 1)
			nr = 0;
		fclose(f);
	}
	if ((f = fopen("/proc/sys/fs/aio-max-nr", "r"))) {
		if (fscanf(f, "%llu", &max) != 1)
			max = 0;
		fclose(f);
	}
	snprintf(out, n, "aio-nr %llu of aio-max-nr %llu", nr, max);
	return out;
}

static void check_path(cio_loop *loop, int op, int fd, const char *want,
		       const char *what)
{
	const char *p = cio_op_path(loop, op, fd);
	char room[96];

	ck_assert_msg(p && !strcmp(p, want), "[%s] %s, op %d: path \"%s\", want \"%s\" (%s)",
		      t_variant, what, op, p ? p : "(null)", want,
		      aio_room(room, sizeof(room)));
}

/* ------------------------------------------------------------------ */
/* Queue depth 64: each of QD slots resubmits from its callback until the
 * job list is used up. Reads are checked block by block against owner[],
 * the seed each block holds. */

enum { J_WRITE, J_WRITEV, J_READ, J_READV };
static const char *const kind_name[] = { "write", "writev", "read", "readv" };

struct job {
	int64_t  off;
	uint32_t len;
	uint8_t  kind;
	uint8_t  niov;
	uint8_t  seed;      /* what a write writes */
	uint8_t  cbs;       /* callbacks seen */
};

struct qd_run;

struct slot {
	cio_req        req;
	struct qd_run *q;
	uint8_t       *buf;         /* SLOT_BUF bytes, BLK-aligned */
	struct iovec   iov[4];
	size_t         used;        /* bytes the layout spans, gaps included */
	uint32_t       job;
};

struct qd_run {
	cio_loop      *loop;
	int            fd;
	pthread_t      loop_thread;
	const uint8_t *owner;
	bool           verify;      /* check what reads bring */
	struct job    *jobs;
	uint32_t       njobs, next, inflight, max_inflight, callbacks;
	uint64_t       check_ns;
	const char    *pool_why;    /* set: the kernel sends this phase to the pool */
	struct slot    slot[QD];
};

static void qd_cb(cio_req *req);

static int open_direct(int dfd, const char *name, int flags);

/* Whether a non-blocking O_DIRECT write into a fallocated (unwritten)
 * block of a scratch file in dfd succeeds. */
static bool nowait_write_unwritten(int dfd)
{
	struct iovec iov = { .iov_len = BLK };
	int fd = open_direct(dfd, "nowait-probe", O_CREAT | O_EXCL | O_RDWR);
	ssize_t ret;
	int err;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fallocate(fd, 0, 0, 4 * BLK), 0);
	ck_assert_int_eq(posix_memalign(&iov.iov_base, BLK, BLK), 0);
	memset(iov.iov_base, 0, BLK);
	ret = pwritev2(fd, &iov, 1, BLK, RWF_NOWAIT);
	err = errno;
	ck_assert_msg(ret == (ssize_t)BLK || (ret < 0 && err == EAGAIN),
		      "pwritev2(RWF_NOWAIT): %zd (%s)", ret, strerror(err));
	free(iov.iov_base);
	close(fd);
	ck_assert_int_eq(unlinkat(dfd, "nowait-probe", 0), 0);
	return ret == (ssize_t)BLK;
}

/* Lay the job out in the slot's buffer: niov pieces of whole blocks with a
 * poisoned block between them, so a scatter that strays is seen. */
static int qd_layout(struct slot *sl, const struct job *jb)
{
	uint32_t nb = jb->len / BLK, n = jb->niov ? jb->niov : 1;
	size_t pos = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t b = nb / n + (i < nb % n);

		sl->iov[i].iov_base = sl->buf + pos;
		sl->iov[i].iov_len = (size_t)b * BLK;
		pos += (size_t)b * BLK + BLK;
	}
	sl->used = pos - BLK;
	if (sl->used > SLOT_BUF)
		ck_abort_msg("a job of %u bytes in %u pieces overflows its slot",
			     jb->len, n);
	return (int)n;
}

static void qd_submit(struct slot *sl, uint32_t j)
{
	struct qd_run *q = sl->q;
	struct job *jb = &q->jobs[j];
	int n = qd_layout(sl, jb), ret = -1;
	int64_t off = jb->off;

	sl->job = j;
	if (jb->kind == J_WRITE || jb->kind == J_WRITEV) {
		for (int i = 0; i < n; i++) {
			t_fill(sl->iov[i].iov_base, sl->iov[i].iov_len, jb->seed,
			       (uint64_t)off);
			off += (int64_t)sl->iov[i].iov_len;
		}
	} else {
		memset(sl->buf, POISON, sl->used);
	}
	switch (jb->kind) {
	case J_WRITE:
		ret = cio_write(q->loop, &sl->req, q->fd, sl->buf, jb->len, jb->off, qd_cb);
		break;
	case J_WRITEV:
		ret = cio_writev(q->loop, &sl->req, q->fd, sl->iov, n, jb->off, qd_cb);
		break;
	case J_READ:
		ret = cio_read(q->loop, &sl->req, q->fd, sl->buf, jb->len, jb->off, qd_cb);
		break;
	case J_READV:
		ret = cio_readv(q->loop, &sl->req, q->fd, sl->iov, n, jb->off, qd_cb);
		break;
	}
	if (ret != 0)
		ck_abort_msg("job %u (%s of %u at %lld): rejected: %d (%s)", j,
			     kind_name[jb->kind], jb->len, (long long)jb->off, ret,
			     strerror(-ret));
	if (++q->inflight > q->max_inflight)
		q->max_inflight = q->inflight;
}

static void qd_verify(struct qd_run *q, struct slot *sl, uint32_t j)
{
	const struct job *jb = &q->jobs[j];
	uint64_t t0 = t_now_ns(), off = (uint64_t)jb->off;
	int n = jb->niov ? jb->niov : 1;

	for (int i = 0; i < n; i++) {
		const uint8_t *p = sl->iov[i].iov_base;

		/* Hot loops test first and fail once: every passing ck_assert
		 * is a _mark_point message to Check's parent process. */
		for (size_t k = 0; k < sl->iov[i].iov_len; k += BLK, off += BLK) {
			uint8_t seed = q->owner[off / BLK];

			if (!t_check(p + k, BLK, seed, off))
				ck_abort_msg("job %u (%s of %u at %lld): block at %llu differs "
					     "from pattern %u", j, kind_name[jb->kind], jb->len,
					     (long long)jb->off, (unsigned long long)off, seed);
		}
		/* The poisoned block after each piece but the last is untouched. */
		if (i + 1 < n)
			for (size_t k = 0; k < BLK; k++)
				if (p[sl->iov[i].iov_len + k] != POISON)
					ck_abort_msg("job %u: readv wrote between its pieces", j);
	}
	q->check_ns += t_now_ns() - t0;
}

static void qd_cb(cio_req *req)
{
	struct slot *sl = req->data;
	struct qd_run *q = sl->q;
	struct job *jb = &q->jobs[sl->job];

	jb->cbs++;
	q->callbacks++;
	q->inflight--;
	if (jb->cbs != 1)
		ck_abort_msg("job %u: callback %u", sl->job, jb->cbs);
	if (!pthread_equal(pthread_self(), q->loop_thread))
		ck_abort_msg("job %u: callback on another thread", sl->job);
	if (req->res != (int64_t)jb->len)
		ck_abort_msg("job %u (%s of %u at %lld): res %lld (%s)", sl->job,
			     kind_name[jb->kind], jb->len, (long long)jb->off,
			     (long long)req->res,
			     req->res < 0 ? strerror((int)-req->res) : "short");
	if (q->verify && (jb->kind == J_READ || jb->kind == J_READV))
		qd_verify(q, sl, sl->job);
	if (q->next < q->njobs)
		qd_submit(sl, q->next++);
}

/* Runs every job at queue depth QD; each callback once, each res the length.
 * The loop's counters show njobs submitted and completed and where they ran. */
static void qd_go(struct qd_run *q, struct job *jobs, uint32_t n, const char *phase)
{
	bool native = !strcmp(file_path_want(true), "ring") ||
		      !strcmp(file_path_want(true), "aio");
	struct cio_stats s0, s1;

	q->jobs = jobs;
	q->njobs = n;
	q->next = 0;
	q->callbacks = 0;
	q->max_inflight = 0;
	ck_assert_int_eq(cio_loop_stats(q->loop, &s0), 0);
	for (int i = 0; i < QD && q->next < n; i++)
		qd_submit(&q->slot[i], q->next++);
	ck_assert_uint_eq(q->callbacks, 0);
	t_run(q->loop);
	ck_assert_int_eq(cio_loop_stats(q->loop, &s1), 0);

	ck_assert_uint_eq(q->next, n);
	ck_assert_uint_eq(q->callbacks, n);
	ck_assert_uint_eq(q->inflight, 0);
	ck_assert_uint_eq(q->max_inflight, n < QD ? n : QD);
	for (uint32_t j = 0; j < n; j++)
		if (jobs[j].cbs != 1)
			ck_abort_msg("%s: job %u: %u callbacks", phase, j, jobs[j].cbs);
	ck_assert_uint_eq(s1.submitted - s0.submitted, n);
	ck_assert_uint_eq(s1.completed - s0.completed, n);
	ck_assert_uint_eq(s1.inflight, 0);
	/* On aio the O_DIRECT transfers went through Linux AIO, on uring
	 * through the ring: no thread carried any of them. */
	if (native && q->pool_why)
		printf("%s [%s]: %llu of %u requests ran on the pool: %s\n", phase,
		       t_variant, (unsigned long long)(s1.pool_jobs - s0.pool_jobs), n,
		       q->pool_why);
	else if (native)
		ck_assert_msg(s1.pool_jobs == s0.pool_jobs,
			      "[%s] %s: %llu of %u requests ran on the pool", t_variant,
			      phase, (unsigned long long)(s1.pool_jobs - s0.pool_jobs), n);
	else
		ck_assert_uint_eq(s1.pool_jobs - s0.pool_jobs, n);
	if (!strcmp(t_variant, "uring-fallback"))
		ck_assert_uint_eq(s1.fallbacks - s0.fallbacks, n);
	else if (native)
		ck_assert_uint_eq(s1.fallbacks - s0.fallbacks, 0);
}

/* Cut the file into extents of minb..MAX_BLKS blocks (the last may be
 * shorter) as jobs of kind; returns how many. */
static uint32_t cut_extents(uint64_t *rs, struct job *jobs, uint32_t minb, uint8_t kind)
{
	uint32_t n = 0, b = 0;

	while (b < FILE_BLKS) {
		uint32_t len = minb + rnd_below(rs, MAX_BLKS - minb + 1);

		if (len > FILE_BLKS - b)
			len = FILE_BLKS - b;
		jobs[n++] = (struct job){ .off = (int64_t)b * BLK, .len = len * BLK,
					  .kind = kind, .niov = 1 };
		b += len;
	}
	return n;
}

static void shuffle(uint64_t *rs, struct job *jobs, uint32_t n)
{
	for (uint32_t i = n; i > 1; i--) {
		uint32_t k = rnd_below(rs, i);
		struct job t = jobs[i - 1];

		jobs[i - 1] = jobs[k];
		jobs[k] = t;
	}
}

/* FNV-1a over 8-byte words: enough to compare two 32 MiB images. */
static uint64_t sum_words(uint64_t h, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x100000001b3ull;
	}
	return h;
}

START_TEST(qd64_random_aligned)
{
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir);
	struct qd_run *q = calloc(1, sizeof(*q));
	struct job *jobs = calloc(FILE_BLKS + NREADS, sizeof(*jobs));
	uint8_t *owner = malloc(FILE_BLKS);
	uint8_t *got = aligned_alloc_or_die(MiB), *want = malloc(MiB);
	uint64_t rs = 0x5eed0064c10ull, bytes = 0, t0, wall, io_ns, got_sum, want_sum;
	uint32_t n, nw, nv, first_bad = UINT32_MAX;
	const char *path_want;
	struct op o;
	int fd, bfd;

	ck_assert(q && jobs && owner && want);
	op_init(&o);
	fd = open_direct(dfd, "big", O_CREAT | O_EXCL | O_RDWR);
	if (fd == -EINVAL) {
		free(q); free(jobs); free(owner); free(got); free(want);
		close(dfd);
		t_tmpdir_rm(dir);
		t_loop_free(loop);
		T_SKIP("the file system under $TMPDIR refuses O_DIRECT: %s",
		       strerror(EINVAL));
	}
	ck_assert_msg(fd >= 0, "open O_DIRECT: %s", strerror(-fd));
	ck_assert(t_getfl(fd) & O_DIRECT);

	q->loop = loop;
	q->fd = fd;
	q->loop_thread = pthread_self();
	q->owner = owner;
	q->verify = true;
	for (int i = 0; i < QD; i++) {
		q->slot[i].q = q;
		q->slot[i].req.data = &q->slot[i];
		q->slot[i].buf = aligned_alloc_or_die(SLOT_BUF);
	}
	path_want = file_path_want(true);
	check_path(loop, CIO_OP_READ, fd, path_want, "O_DIRECT read");
	check_path(loop, CIO_OP_WRITE, fd, path_want, "O_DIRECT write");
	check_path(loop, CIO_OP_READV, fd, path_want, "O_DIRECT readv");
	check_path(loop, CIO_OP_WRITEV, fd, path_want, "O_DIRECT writev");
	check_path(loop, CIO_OP_FSYNC, fd, path_want, "O_DIRECT fsync");

	/* Blocks allocated in advance: io_submit does not block on allocation
	 * (cio-backends(7)). The fallocate itself is the pool's on aio. */
	ck_assert_int_eq(RUN(&o, cio_fallocate(loop, &o.req, fd, 0, 0, FILE_LEN, op_cb)), 0);

	/* Phase 1: every block written exactly once, in random order. The
	 * blocks are unwritten extents: ext4 before 6.x (Debian's 5.10 and
	 * 6.1) answers a non-blocking O_DIRECT write there -EAGAIN, as the
	 * extent's conversion takes a journal transaction, so aio rightly
	 * hands each to the pool; asked with pwritev2(RWF_NOWAIT) first. */
	if (!strcmp(T_BACKEND_NAME, "aio") && !nowait_write_unwritten(dfd))
		q->pool_why = "the kernel refuses RWF_NOWAIT O_DIRECT writes into "
			      "unwritten extents (-EAGAIN)";
	n = cut_extents(&rs, jobs, 1, J_WRITE);
	for (uint32_t j = 0; j < n; j++)
		jobs[j].seed = SEED_FIRST;
	shuffle(&rs, jobs, n);
	memset(owner, SEED_FIRST, FILE_BLKS);
	qd_go(q, jobs, n, "random writes");
	q->pool_why = NULL;

	/* Phase 2: random reads, each checked. */
	memset(jobs, 0, NREADS * sizeof(*jobs));
	for (uint32_t j = 0; j < NREADS; j++) {
		uint32_t len = 1 + rnd_below(&rs, MAX_BLKS);
		uint32_t b = rnd_below(&rs, FILE_BLKS - len + 1);

		jobs[j] = (struct job){ .off = (int64_t)b * BLK, .len = len * BLK,
					.kind = J_READ, .niov = 1 };
		bytes += len * BLK;
	}
	q->check_ns = 0;
	t0 = t_now_ns();
	qd_go(q, jobs, NREADS, "random reads");
	wall = t_now_ns() - t0;
	/* The checks run on the loop thread and take most of that time; the
	 * same reads again, unchecked, show what the route itself gives. */
	for (uint32_t j = 0; j < NREADS; j++)
		jobs[j].cbs = 0;
	q->verify = false;
	t0 = t_now_ns();
	qd_go(q, jobs, NREADS, "random reads, unchecked");
	io_ns = t_now_ns() - t0;
	q->verify = true;
	printf("qd64 random O_DIRECT reads [%s]: %u reads of 4-64 KiB, %.1f MiB: "
	       "%.0f MiB/s (checked: %.0f MiB/s, %.0f ms in t_check)\n", t_variant,
	       NREADS, (double)bytes / MiB, (double)bytes / MiB / ((double)io_ns / 1e9),
	       (double)bytes / MiB / ((double)wall / 1e9), (double)q->check_ns / 1e6);
	fflush(stdout);

	/* Phase 3: a quarter of the extents of another cut (two blocks or
	 * more) rewritten with a second pattern, by write and writev in turn;
	 * the extents do not overlap, so the order among them is free. */
	n = cut_extents(&rs, jobs, 1, J_WRITE);
	nw = 0;
	for (uint32_t j = 0; j < n; j++) {
		if (jobs[j].len < 2 * BLK || rnd_below(&rs, 4))
			continue;
		jobs[nw] = jobs[j];
		jobs[nw].seed = SEED_SECOND;
		if (nw & 1) {
			jobs[nw].kind = J_WRITEV;
			jobs[nw].niov = 2;
		}
		memset(owner + jobs[nw].off / BLK, SEED_SECOND, jobs[nw].len / BLK);
		nw++;
	}
	ck_assert_uint_gt(nw, 100);
	shuffle(&rs, jobs, nw);
	qd_go(q, jobs, nw, "random overwrites");

	/* Each rewritten extent and a block either side, by readv in 2-4
	 * pieces: the new pattern inside, the old one around it. */
	nv = 0;
	for (uint32_t j = 0; j < nw; j++) {
		int64_t b0 = jobs[j].off / BLK, b1 = b0 + jobs[j].len / BLK;
		struct job *v = &jobs[nw + nv++];

		if (b0 > 0)
			b0--;
		if (b1 < FILE_BLKS)
			b1++;
		*v = (struct job){ .off = b0 * BLK, .len = (uint32_t)(b1 - b0) * BLK,
				   .kind = J_READV, .niov = (uint8_t)(2 + rnd_below(&rs, 3)) };
	}
	qd_go(q, jobs + nw, nv, "readv checks");

	/* fsync on the O_DIRECT descriptor, by the same route. */
	{
		struct cio_stats s0, s1;

		ck_assert_int_eq(cio_loop_stats(loop, &s0), 0);
		ck_assert_int_eq(RUN(&o, cio_fsync(loop, &o.req, fd, 0, op_cb)), 0);
		ck_assert_int_eq(cio_loop_stats(loop, &s1), 0);
		ck_assert_uint_eq(s1.pool_jobs - s0.pool_jobs, !strcmp(path_want, "pool"));
	}
	check_path(loop, CIO_OP_READ, fd, path_want, "O_DIRECT read, at the end");
	ck_assert(t_getfl(fd) & O_DIRECT);

	/* The file as plain read(2)s see it, against what it should hold. */
	bfd = openat(dfd, "big", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(bfd, 0);
	ck_assert(!(t_getfl(bfd) & O_DIRECT));
	{
		struct stat st;

		ck_assert_int_eq(fstat(bfd, &st), 0);
		ck_assert_int_eq(st.st_size, FILE_LEN);
	}
	got_sum = want_sum = 0xcbf29ce484222325ull;
	for (uint64_t off = 0; off < FILE_LEN; off += MiB) {
		ssize_t r = pread(bfd, got, MiB, (off_t)off);

		if (r != (ssize_t)MiB)
			ck_abort_msg("pread at %llu: %zd (%s)", (unsigned long long)off, r,
				     r < 0 ? strerror(errno) : "short");
		for (uint64_t k = 0; k < MiB; k += BLK)
			t_fill(want + k, BLK, owner[(off + k) / BLK], off + k);
		got_sum = sum_words(got_sum, got, MiB);
		want_sum = sum_words(want_sum, want, MiB);
		for (uint64_t k = 0; k < MiB && first_bad == UINT32_MAX; k += BLK)
			if (memcmp(got + k, want + k, BLK))
				first_bad = (uint32_t)((off + k) / BLK);
	}
	ck_assert_msg(got_sum == want_sum && first_bad == UINT32_MAX,
		      "checksum %016llx, want %016llx; first bad block %u",
		      (unsigned long long)got_sum, (unsigned long long)want_sum, first_bad);

	ck_assert_int_eq(close(bfd), 0);
	ck_assert_int_eq(close(fd), 0);
	for (int i = 0; i < QD; i++)
		free(q->slot[i].buf);
	free(q);
	free(jobs);
	free(owner);
	free(got);
	free(want);
	close(dfd);
	t_loop_free(loop);
	t_tmpdir_rm(dir);
}
END_TEST

/* ------------------------------------------------------------------ */

#define MIS_LEN  (64 * KiB)
#define MIS_SEED 31

/* The O_DIRECT alignment statx reports, else 512 (the smallest logical
 * block size): a one-byte skew is wrong under either. */
static void dio_align(int fd, unsigned *mem, unsigned *off)
{
	struct statx stx;

	*mem = *off = 512;
#ifdef STATX_DIOALIGN
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
		*mem = stx.stx_dio_mem_align;
		*off = stx.stx_dio_offset_align;
	}
#else
	(void)fd;
	(void)stx;
#endif
}

enum { M_READ, M_WRITE, M_READV, M_WRITEV, M__COUNT };
static const char *const m_name[] = { "read", "write", "readv", "writev" };

struct misalign {
	const char *what;
	size_t      skew;     /* bytes added to a BLK-aligned address */
	int64_t     off;
	size_t      len;
};

static const struct misalign misaligned[] = {
	{ "buffer address + 1", 1, 0, BLK },
	{ "offset 1", 0, 1, BLK },
	{ "length 4097", 0, 0, BLK + 1 },
	{ "length 100", 0, 0, 100 },
};

/* One transfer of kind k with misalignment m. A vector has an aligned
 * block first, then the piece that carries the fault. buf is 4 blocks. */
static int mis_iov(const struct misalign *m, int k, uint8_t *buf, struct iovec *iov)
{
	if (k == M_READ || k == M_WRITE) {
		iov[0] = (struct iovec){ buf + m->skew, m->len };
		return 1;
	}
	iov[0] = (struct iovec){ buf, BLK };
	iov[1] = (struct iovec){ buf + 2 * BLK + m->skew, m->len };
	return 2;
}

/* What the kernel itself says to the transfer, made with plain system
 * calls. A write probe carries the bytes the file already holds there,
 * so even one the kernel took would change nothing. */
static int mis_probe(int fd, const struct misalign *m, int k, uint8_t *buf)
{
	struct iovec iov[2];
	int n = mis_iov(m, k, buf, iov);
	uint64_t pos = (uint64_t)m->off;
	ssize_t r;

	for (int i = 0; i < n; i++) {
		t_fill(iov[i].iov_base, iov[i].iov_len, MIS_SEED, pos);
		pos += iov[i].iov_len;
	}
	if (k == M_READ || k == M_READV)
		r = preadv(fd, iov, n, m->off);
	else
		r = pwritev(fd, iov, n, m->off);
	return r < 0 ? -errno : (int)r;
}

static int mis_submit(cio_loop *loop, cio_req *req, int fd, const struct misalign *m,
		      int k, uint8_t *buf, struct iovec *iov, cio_cb cb)
{
	int n = mis_iov(m, k, buf, iov);

	switch (k) {
	case M_READ:
		return cio_read(loop, req, fd, iov[0].iov_base, iov[0].iov_len, m->off, cb);
	case M_WRITE:
		return cio_write(loop, req, fd, iov[0].iov_base, iov[0].iov_len, m->off, cb);
	case M_READV:
		return cio_readv(loop, req, fd, iov, n, m->off, cb);
	default:
		return cio_writev(loop, req, fd, iov, n, m->off, cb);
	}
}

START_TEST(misaligned_gives_einval)
{
	enum { NM = sizeof(misaligned) / sizeof(misaligned[0]), NGOOD = 8 };
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir);
	int bfd = t_mkfile(dfd, "f", MIS_LEN, MIS_SEED);
	uint8_t *probe = aligned_alloc_or_die(4 * BLK);
	uint8_t *bufs = aligned_alloc_or_die((size_t)NM * M__COUNT * 4 * BLK);
	uint8_t *good = aligned_alloc_or_die(NGOOD * BLK);
	uint8_t *back = aligned_alloc_or_die(MIS_LEN);
	struct iovec iov[NM][M__COUNT][2];
	struct op o, wo, ro, ops[NM][M__COUNT], gops[NGOOD];
	bool tried[NM][M__COUNT], sent_wo = false, sent_ro = false;
	unsigned mem, offal, nbad = 0;
	struct stat st;
	int fd, wofd, rofd;

	op_init(&o);
	/* On disk, not only in the page cache: a read of a delayed-allocation
	 * hole would not reach the alignment check. */
	ck_assert_int_eq(fsync(bfd), 0);
	fd = open_direct(dfd, "f", O_RDWR);
	if (fd == -EINVAL) {
		free(probe); free(bufs); free(good); free(back);
		close(bfd);
		close(dfd);
		t_tmpdir_rm(dir);
		t_loop_free(loop);
		T_SKIP("the file system under $TMPDIR refuses O_DIRECT: %s",
		       strerror(EINVAL));
	}
	ck_assert_msg(fd >= 0, "open O_DIRECT: %s", strerror(-fd));
	dio_align(fd, &mem, &offal);
	printf("misaligned_gives_einval [%s]: O_DIRECT alignment: memory %u, "
	       "offset and length %u\n", t_variant, mem, offal);

	/* Each fault alone, each operation: -EINVAL in the one callback,
	 * where the kernel says so to the same call. The writes carry bytes
	 * the file does not hold, so a write that slipped through shows. */
	for (int i = 0; i < NM; i++) {
		const struct misalign *m = &misaligned[i];

		for (int k = 0; k < M__COUNT; k++) {
			uint8_t *buf = bufs + ((size_t)i * M__COUNT + k) * 4 * BLK;
			int kr = mis_probe(fd, m, k, probe);

			tried[i][k] = false;
			if ((m->skew && mem < 2) || kr != -EINVAL) {
				printf("SKIP %s [%s]: %s %s: the kernel gave %d (%s), "
				       "not -EINVAL\n", __func__, t_variant, m_name[k],
				       m->what, kr, kr < 0 ? strerror(-kr) : "accepted");
				continue;
			}
			tried[i][k] = true;
			nbad++;
			memset(buf, k == M_READ || k == M_READV ? POISON : 0x5a, 4 * BLK);
			ck_assert_msg(RUN(&o, mis_submit(loop, &o.req, fd, m, k, buf,
							 iov[i][k], op_cb)) == -EINVAL,
				      "%s with %s: res %lld, want -EINVAL", m_name[k],
				      m->what, (long long)o.req.res);
		}
	}
	ck_assert_uint_gt(nbad, 0);

	/* Aligned, but the wrong access mode: io_submit itself refuses such
	 * an iocb (aio_read's FMODE_READ check), where a misaligned one is
	 * accepted and completes with its error. */
	wofd = open_direct(dfd, "f", O_WRONLY);
	rofd = open_direct(dfd, "f", O_RDONLY);
	ck_assert_int_ge(wofd, 0);
	ck_assert_int_ge(rofd, 0);
	memset(probe, 0x5a, 4 * BLK);
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, wofd, probe, BLK, 0, op_cb)), -EBADF);
	ck_assert_int_eq(RUN(&o, cio_write(loop, &o.req, rofd, probe, BLK, 0, op_cb)), -EBADF);

	/* All at once, between good reads, so one batch (one io_submit on
	 * aio, cut short at each refused iocb) holds them all: the bad ones
	 * fail alone, the good ones before and after them succeed. */
	for (int g = 0; g < NGOOD; g++) {
		op_init(&gops[g]);
		memset(good + g * BLK, POISON, BLK);
	}
	op_init(&wo);
	op_init(&ro);
	for (int i = 0, g = 0; i < NM; i++) {
		for (int k = 0; k < M__COUNT; k++) {
			uint8_t *buf = bufs + ((size_t)i * M__COUNT + k) * 4 * BLK;

			op_init(&ops[i][k]);
			if (!tried[i][k])
				continue;
			if (g < NGOOD) {
				START(&gops[g], cio_read(loop, &gops[g].req, fd, good + g * BLK,
							 BLK, (int64_t)g * BLK, op_cb));
				if (g == 1) {
					START(&wo, cio_read(loop, &wo.req, wofd, probe, BLK, 0,
							    op_cb));
					sent_wo = true;
				}
				if (g == 3) {
					START(&ro, cio_write(loop, &ro.req, rofd, probe, BLK, 0,
							     op_cb));
					sent_ro = true;
				}
				g++;
			}
			START(&ops[i][k], mis_submit(loop, &ops[i][k].req, fd,
						     &misaligned[i], k, buf, iov[i][k], op_cb));
		}
	}
	t_run(loop);
	ck_assert_int_eq(wo.n, sent_wo);
	ck_assert_int_eq(ro.n, sent_ro);
	if (sent_wo)
		ck_assert_int_eq(wo.req.res, -EBADF);
	if (sent_ro)
		ck_assert_int_eq(ro.req.res, -EBADF);
	for (int i = 0; i < NM; i++)
		for (int k = 0; k < M__COUNT; k++) {
			if (!tried[i][k])
				continue;
			ck_assert_msg(ops[i][k].n == 1, "batch: %s with %s: %d callbacks",
				      m_name[k], misaligned[i].what, ops[i][k].n);
			ck_assert_msg(ops[i][k].req.res == -EINVAL,
				      "batch: %s with %s: res %lld, want -EINVAL", m_name[k],
				      misaligned[i].what, (long long)ops[i][k].req.res);
		}
	for (int g = 0; g < NGOOD && g < (int)nbad; g++) {
		ck_assert_int_eq(gops[g].n, 1);
		ck_assert_int_eq(gops[g].req.res, BLK);
		ck_assert(t_check(good + g * BLK, BLK, MIS_SEED, (uint64_t)g * BLK));
	}

	/* Nothing was written, through the page cache or around it; the
	 * descriptor is still O_DIRECT. */
	ck_assert(t_getfl(fd) & O_DIRECT);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, MIS_LEN);
	memset(back, 0, MIS_LEN);
	ck_assert_int_eq(pread(bfd, back, MIS_LEN, 0), MIS_LEN);
	ck_assert_msg(t_check(back, MIS_LEN, MIS_SEED, 0),
		      "buffered read: the file changed");
	memset(back, 0, MIS_LEN);
	ck_assert_int_eq(pread(fd, back, MIS_LEN, 0), MIS_LEN);
	ck_assert_msg(t_check(back, MIS_LEN, MIS_SEED, 0), "O_DIRECT read: the file changed");

	ck_assert_int_eq(close(rofd), 0);
	ck_assert_int_eq(close(wofd), 0);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(close(bfd), 0);
	free(probe);
	free(bufs);
	free(good);
	free(back);
	close(dfd);
	t_loop_free(loop);
	t_tmpdir_rm(dir);
}
END_TEST

/* ------------------------------------------------------------------ */

#define PATH_LEN  (64 * KiB)
#define PATH_SEED 41

#define WANT_INLINE 2   /* run_counted: the loop thread ran it, or the pool
                           (a file system that refuses RWF_NOWAIT, an
                           uncached page) */
#define WANT_POOL_MAYBE 3  /* run_counted: its own path, or the pool */

/* Whether the kernel answers an RWF_NOWAIT O_DIRECT read of BLK at off
 * of fd -EAGAIN, as 5.10 does where the page cache holds the range. */
static bool nowait_read_refused(int fd, uint8_t *buf, int64_t off)
{
	if (preadv2(fd, &(struct iovec){ buf, BLK }, 1, off, RWF_NOWAIT) >= 0 ||
	    errno != EAGAIN)
		return false;
	printf("NOTE [%s]: the kernel answers an RWF_NOWAIT O_DIRECT read of a "
	       "cached range -EAGAIN: the pool's\n", t_variant);
	return true;
}

/* The pool count run_counted expects where cio_op_path said path. */
static uint64_t pool_want(const char *path)
{
	return !strcmp(path, "inline") ? WANT_INLINE : !strcmp(path, "pool");
}

/* One op on fd at off (-1: the position, which is at pos); the pool ran
 * it exactly when want_pool says (WANT_INLINE: one of the two). */
static void run_counted(cio_loop *loop, int op, int fd, uint8_t *buf, int64_t off,
			uint64_t pos, uint64_t want_pool, const char *what)
{
	struct iovec iov = { buf, BLK };
	struct cio_stats s0, s1;
	struct op o;
	int64_t res = -1;

	op_init(&o);
	ck_assert_int_eq(cio_loop_stats(loop, &s0), 0);
	switch (op) {
	case CIO_OP_READ:
		memset(buf, POISON, BLK);
		res = RUN(&o, cio_read(loop, &o.req, fd, buf, BLK, off, op_cb));
		break;
	case CIO_OP_READV:
		memset(buf, POISON, BLK);
		res = RUN(&o, cio_readv(loop, &o.req, fd, &iov, 1, off, op_cb));
		break;
	case CIO_OP_WRITE:
		/* What the file holds already: the content stays as it was. */
		t_fill(buf, BLK, PATH_SEED, pos);
		res = RUN(&o, cio_write(loop, &o.req, fd, buf, BLK, off, op_cb));
		break;
	case CIO_OP_WRITEV:
		t_fill(buf, BLK, PATH_SEED, pos);
		res = RUN(&o, cio_writev(loop, &o.req, fd, &iov, 1, off, op_cb));
		break;
	case CIO_OP_FSYNC:
		res = RUN(&o, cio_fsync(loop, &o.req, fd, 0, op_cb));
		break;
	}
	ck_assert_int_eq(cio_loop_stats(loop, &s1), 0);
	ck_assert_msg(res == (op == CIO_OP_FSYNC ? 0 : BLK), "%s, op %d: res %lld", what,
		      op, (long long)res);
	if (op == CIO_OP_READ || op == CIO_OP_READV)
		ck_assert_msg(t_check(buf, BLK, PATH_SEED, pos),
			      "%s, op %d: wrong bytes", what, op);
	if (want_pool == WANT_POOL_MAYBE) {
		ck_assert_int_eq(s1.inline_ops - s0.inline_ops, 0);
		ck_assert_uint_le(s1.pool_jobs - s0.pool_jobs, 1);
		return;
	}
	if (want_pool == WANT_INLINE) {
		ck_assert_msg(s1.pool_jobs - s0.pool_jobs + s1.inline_ops - s0.inline_ops == 1,
			      "[%s] %s, op %d: %llu pool jobs, %llu inline", t_variant,
			      what, op, (unsigned long long)(s1.pool_jobs - s0.pool_jobs),
			      (unsigned long long)(s1.inline_ops - s0.inline_ops));
		return;
	}
	ck_assert_int_eq(s1.inline_ops - s0.inline_ops, 0);
	ck_assert_msg(s1.pool_jobs - s0.pool_jobs == want_pool,
		      "[%s] %s, op %d: %llu pool jobs, want %llu", t_variant, what, op,
		      (unsigned long long)(s1.pool_jobs - s0.pool_jobs),
		      (unsigned long long)want_pool);
}

START_TEST(buffered_and_direct_paths)
{
	static const int rw_ops[] = {
		CIO_OP_READ, CIO_OP_WRITE, CIO_OP_READV, CIO_OP_WRITEV, CIO_OP_FSYNC,
	};
	static const int other_ops[] = { CIO_OP_FALLOCATE, CIO_OP_FTRUNCATE };
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir);
	int bfd = t_mkfile(dfd, "f", PATH_LEN, PATH_SEED);
	uint8_t *buf = aligned_alloc_or_die(BLK);
	const char *want_d = file_path_want(true);
	bool aio = !strcmp(t_variant, "aio");
	int fd, fl;

	ck_assert_int_eq(fsync(bfd), 0);
	fd = open_direct(dfd, "f", O_RDWR);
	if (fd == -EINVAL) {
		free(buf);
		close(bfd);
		close(dfd);
		t_tmpdir_rm(dir);
		t_loop_free(loop);
		T_SKIP("the file system under $TMPDIR refuses O_DIRECT: %s",
		       strerror(EINVAL));
	}
	ck_assert_msg(fd >= 0, "open O_DIRECT: %s", strerror(-fd));

	/* The same loop, the same file: the answer follows the descriptor. */
	for (size_t i = 0; i < sizeof(rw_ops) / sizeof(rw_ops[0]); i++) {
		check_path(loop, rw_ops[i], bfd, buffered_path_want(rw_ops[i]), "buffered");
		check_path(loop, rw_ops[i], fd, want_d, "O_DIRECT");
	}
	/* Other file work is the pool's on aio whatever the flags. On uring
	 * it is "ring" where the kernel has the opcode, else "pool". */
	for (size_t i = 0; i < sizeof(other_ops) / sizeof(other_ops[0]); i++) {
		const char *p = cio_op_path(loop, other_ops[i], fd);

		ck_assert_ptr_nonnull(p);
		if (!strcmp(t_variant, "uring"))
			ck_assert_msg(!strcmp(p, "ring") || !strcmp(p, "pool"),
				      "op %d: \"%s\"", other_ops[i], p);
		else
			ck_assert_msg(!strcmp(p, "pool"), "op %d on O_DIRECT: \"%s\"",
				      other_ops[i], p);
	}

	/* And the work goes where the answer said. */
	for (size_t i = 0; i < sizeof(rw_ops) / sizeof(rw_ops[0]); i++) {
		run_counted(loop, rw_ops[i], bfd, buf, 8 * KiB, 8 * KiB,
			    pool_want(buffered_path_want(rw_ops[i])), "buffered");
		/* aio's iocbs carry RWF_NOWAIT: a write that must update the
		 * file's mtime (here, after the buffered write just before)
		 * meets -EAGAIN and goes to the pool. So does, on 5.10, a
		 * read of a range the page cache holds (the buffered fd's):
		 * asked with preadv2(RWF_NOWAIT) first. */
		bool nowait_write = aio && (rw_ops[i] == CIO_OP_WRITE ||
					    rw_ops[i] == CIO_OP_WRITEV);
		bool rd = rw_ops[i] == CIO_OP_READ || rw_ops[i] == CIO_OP_READV;

		if (aio && rd && nowait_read_refused(fd, buf, 12 * KiB))
			nowait_write = true;

		run_counted(loop, rw_ops[i], fd, buf, 12 * KiB, 12 * KiB,
			    nowait_write ? WANT_POOL_MAYBE : !strcmp(want_d, "pool"),
			    "O_DIRECT");
	}

	/* At the file position (off = -1) an O_DIRECT transfer is not a Linux
	 * AIO one: on aio it runs on the pool (cio-backends(7)). */
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	run_counted(loop, CIO_OP_READ, fd, buf, -1, 0, aio || !strcmp(want_d, "pool"),
		    "O_DIRECT at the position");
	/* read(2) on a pool thread moves the position. io_uring does not
	 * when the O_DIRECT read completes asynchronously (seen on 6.18:
	 * f_pos is only updated for inline completions), so on the ring
	 * this is reported, not asserted. */
	if (strcmp(want_d, "ring"))
		ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), BLK);
	else if (lseek(fd, 0, SEEK_CUR) != BLK)
		printf("NOTE %s [%s]: an O_DIRECT read at off -1 left the position "
		       "at %lld\n", __func__, t_variant, (long long)lseek(fd, 0, SEEK_CUR));

	/* Turning O_DIRECT on and off with fcntl changes the route on aio
	 * once cio_cancel_fd() has made the loop forget what it knew of the
	 * fd (cio_op_path(3)); elsewhere the answer does not move. */
	fl = t_getfl(bfd);
	if (fcntl(bfd, F_SETFL, fl | O_DIRECT) == 0) {
		ck_assert_int_eq(cio_cancel_fd(loop, bfd), 0);
		check_path(loop, CIO_OP_READ, bfd, want_d, "buffered turned O_DIRECT");
		run_counted(loop, CIO_OP_READ, bfd, buf, 4 * KiB, 4 * KiB,
			    aio && nowait_read_refused(bfd, buf, 4 * KiB) ? WANT_POOL_MAYBE :
			    !strcmp(want_d, "pool"), "buffered turned O_DIRECT");
		ck_assert_int_eq(fcntl(bfd, F_SETFL, fl), 0);
		ck_assert_int_eq(cio_cancel_fd(loop, bfd), 0);
		check_path(loop, CIO_OP_READ, bfd, buffered_path_want(CIO_OP_READ),
			   "O_DIRECT turned off");
		run_counted(loop, CIO_OP_READ, bfd, buf, 4 * KiB, 4 * KiB,
			    pool_want(buffered_path_want(CIO_OP_READ)), "O_DIRECT turned off");
	} else {
		printf("SKIP %s [%s]: F_SETFL O_DIRECT: %s\n", __func__, t_variant,
		       strerror(errno));
	}

	/* The writes put back what was there. */
	{
		uint8_t *all = malloc(PATH_LEN);

		ck_assert_ptr_nonnull(all);
		ck_assert_int_eq(pread(bfd, all, PATH_LEN, 0), PATH_LEN);
		ck_assert(t_check(all, PATH_LEN, PATH_SEED, 0));
		free(all);
	}
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(close(bfd), 0);
	free(buf);
	close(dfd);
	t_loop_free(loop);
	t_tmpdir_rm(dir);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The library's own rule, from STATX_DIOALIGN: it refuses what the file
 * cannot take even where the kernel never looks (a read at EOF returns 0
 * before any alignment check), and it is not fooled by an fd number that
 * was closed and reused behind its back. */

#define EOF_LEN  (4 * BLK)
#define EOF_SEED 57

/* Reopen name on fd's number (dup2), buffered or O_DIRECT. */
static void reopen_as(int dfd, const char *name, int fd, bool direct)
{
	int nfd = openat(dfd, name, O_RDWR | O_CLOEXEC | (direct ? O_DIRECT : 0));

	ck_assert_int_ge(nfd, 0);
	if (nfd != fd) {
		ck_assert_int_eq(dup2(nfd, fd), fd);
		ck_assert_int_eq(close(nfd), 0);
	}
	ck_assert_int_eq(!!(t_getfl(fd) & O_DIRECT), direct);
}

START_TEST(library_rule_and_fd_reuse)
{
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir);
	int bfd = t_mkfile(dfd, "f", EOF_LEN, EOF_SEED);
	uint8_t *buf = aligned_alloc_or_die(2 * BLK);
	struct op o;
	ssize_t kr;
	int fd;

	op_init(&o);
	ck_assert_int_eq(fsync(bfd), 0);
	fd = open_direct(dfd, "f", O_RDWR);
	if (fd == -EINVAL) {
		free(buf);
		close(bfd);
		close(dfd);
		t_tmpdir_rm(dir);
		t_loop_free(loop);
		T_SKIP("the file system under $TMPDIR refuses O_DIRECT");
	}
	ck_assert_int_ge(fd, 0);

	/* At EOF the kernel answers 0 to any length; the library holds the
	 * transfer to the alignment statx reports, as everywhere else. */
	kr = pread(fd, buf, 100, EOF_LEN);
	printf("library_rule [%s]: the kernel answers %zd to a 100-byte O_DIRECT "
	       "read at EOF\n", t_variant, kr);
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf, 100, EOF_LEN, op_cb)),
			 -EINVAL);
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf + 1, BLK, EOF_LEN,
					  op_cb)), -EINVAL);
	/* Aligned at EOF: 0, and aligned inside: the bytes. */
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf, BLK, EOF_LEN, op_cb)), 0);
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf, BLK, BLK, op_cb)), BLK);
	ck_assert(t_check(buf, BLK, EOF_SEED, BLK));

	/* The number now names a buffered file, swapped in by dup2 behind
	 * the loop's back: a misaligned read is no longer refused. */
	reopen_as(dfd, "f", fd, false);
	memset(buf, 0, 2 * BLK);
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf + 1, 100, 7, op_cb)), 100);
	ck_assert(t_check(buf + 1, 100, EOF_SEED, 7));

	/* And back to O_DIRECT, closed through the loop first: the loop
	 * forgets what it knew and applies the rule again. */
	ck_assert_int_eq(RUN(&o, cio_close(loop, &o.req, fd, op_cb)), 0);
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
	reopen_as(dfd, "f", fd, true);
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf, 100, EOF_LEN, op_cb)),
			 -EINVAL);

	/* Buffered again, then an O_DIRECT open through the loop that takes
	 * the same number: the new fd is learned afresh. */
	reopen_as(dfd, "f", fd, false);
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf, 100, EOF_LEN, op_cb)), 0);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(RUN(&o, cio_openat(loop, &o.req, dfd, "f",
					    O_RDWR | O_DIRECT | O_CLOEXEC, 0, op_cb)), fd);
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf, 100, EOF_LEN, op_cb)),
			 -EINVAL);
	ck_assert_int_eq(RUN(&o, cio_write(loop, &o.req, fd, buf, BLK, 3 * BLK + 100,
					   op_cb)), -EINVAL);

	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(close(bfd), 0);
	free(buf);
	close(dfd);
	t_loop_free(loop);
	t_tmpdir_rm(dir);
}
END_TEST

static Suite *direct_suite(void)
{
	Suite *s = suite_create("direct");
	TCase *tc;

	tc = tcase_create("qd");
	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, qd64_random_aligned);
	suite_add_tcase(s, tc);

	tc = tcase_create("align");
	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, misaligned_gives_einval);
	tcase_add_test(tc, library_rule_and_fd_reuse);
	suite_add_tcase(s, tc);

	tc = tcase_create("path");
	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, buffered_and_direct_paths);
	suite_add_tcase(s, tc);

	return s;
}

int main(void) { return t_main(direct_suite); }
