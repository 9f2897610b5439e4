/* SPDX-License-Identifier: MIT */
/*
 * cio-cp: copy a file with a deep queue of reads and writes through libcio,
 * and say what it did and how fast. Built on the public API only.
 *
 *   cio-cp [--qd N] [--bs SIZE] [--backend auto|uring|aio|pool] SRC DST
 *   cio-cp --demo      copy a 64 MiB temp file on every backend, verify it
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cio.h>

struct copy;

struct slot {
	cio_req      req;
	struct copy *cp;
	char        *buf;
	int64_t      off;   /* next byte of this chunk to read */
	int64_t      end;   /* end of this chunk */
	size_t       len;   /* bytes in buf to write at off */
	size_t       done;  /* bytes of len written so far */
};

struct copy {
	cio_loop    *loop;
	int          in, out;
	uint64_t     size, next;
	size_t       bs;
	unsigned     qd, active;
	int          err;
	uint64_t     reads, writes;
	struct slot *slots;
};

static void on_read(cio_req *req);
static void on_write(cio_req *req);

static void fail(struct slot *s, int err)
{
	if (!s->cp->err)
		s->cp->err = err;
	s->cp->active--;
}

static void read_more(struct slot *s)
{
	struct copy *cp = s->cp;
	int ret = cio_read(cp->loop, &s->req, cp->in, s->buf,
			   (size_t)(s->end - s->off), s->off, on_read);

	if (ret < 0)
		fail(s, ret);
}

static void start_chunk(struct slot *s)
{
	struct copy *cp = s->cp;

	if (cp->err || cp->next >= cp->size) {
		cp->active--;
		return;
	}
	s->off = (int64_t)cp->next;
	cp->next = cp->size - cp->next < cp->bs ? cp->size : cp->next + cp->bs;
	s->end = (int64_t)cp->next;
	read_more(s);
}

static void write_rest(struct slot *s)
{
	struct copy *cp = s->cp;
	int ret = cio_write(cp->loop, &s->req, cp->out, s->buf + s->done,
			    s->len - s->done, s->off + (int64_t)s->done, on_write);

	if (ret < 0)
		fail(s, ret);
}

static void on_read(cio_req *req)
{
	struct slot *s = req->data;

	if (req->res <= 0) {   /* 0: the file shrank under us */
		fail(s, req->res < 0 ? (int)req->res : -EIO);
		return;
	}
	s->cp->reads++;
	s->len = (size_t)req->res;
	s->done = 0;
	write_rest(s);
}

static void on_write(cio_req *req)
{
	struct slot *s = req->data;

	if (req->res <= 0) {
		fail(s, req->res < 0 ? (int)req->res : -EIO);
		return;
	}
	s->cp->writes++;
	s->done += (size_t)req->res;
	if (s->done < s->len) {         /* short write: finish it */
		write_rest(s);
		return;
	}
	s->off += (int64_t)s->len;
	if (s->off < s->end)            /* short read: the rest of the chunk */
		read_more(s);
	else
		start_chunk(s);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A loop sized for qd chunks in flight. Returns 0 or -errno. */
static int new_loop(cio_loop **loopp, const char *backend, unsigned qd)
{
	struct cio_loop_opts opts = { .backend = backend, .entries = qd * 2 };

	return cio_loop_new(loopp, &opts);
}

/* Copy in to out on loop with qd chunks in flight. Returns 0 or -errno. */
static int copy_fds(cio_loop *loop, int in, int out, uint64_t size,
		    size_t bs, unsigned qd, int verbose)
{
	struct copy cp = { .loop = loop, .in = in, .out = out, .size = size,
			   .bs = bs, .qd = qd };
	struct cio_stats st;
	double t0, dt;
	int ret;

	cp.slots = calloc(qd, sizeof(*cp.slots));
	if (!cp.slots)
		return -ENOMEM;
	for (unsigned i = 0; i < qd; i++) {
		cp.slots[i].cp = &cp;
		cp.slots[i].req.data = &cp.slots[i];
		if (posix_memalign((void **)&cp.slots[i].buf, 4096, bs)) {
			ret = -ENOMEM;
			goto out;
		}
	}
	t0 = now_s();
	cp.active = qd;
	for (unsigned i = 0; i < qd; i++)
		start_chunk(&cp.slots[i]);
	ret = cio_run(cp.loop, CIO_RUN_DEFAULT);
	if (ret > 0)
		ret = -EIO;
	if (!ret && cp.err)
		ret = cp.err;
	dt = now_s() - t0;
	cio_loop_stats(cp.loop, &st);
	if (!ret && verbose)
		printf("%-6s  %8.1f MiB in %6.3f s = %8.1f MiB/s   qd %u, bs %zu KiB, "
		       "%llu reads, %llu writes, %llu kernel enters, read on %s\n",
		       cio_backend(cp.loop), (double)size / 1048576.0, dt,
		       dt > 0 ? (double)size / 1048576.0 / dt : 0.0, qd, bs / 1024,
		       (unsigned long long)cp.reads, (unsigned long long)cp.writes,
		       (unsigned long long)st.kernel_enters,
		       cio_op_path(cp.loop, CIO_OP_READ, in));
out:
	for (unsigned i = 0; i < qd; i++)
		free(cp.slots[i].buf);
	free(cp.slots);
	return ret;
}

/* copy_paths() once the loop exists. */
static int copy_open(cio_loop *loop, const char *src, const char *dst,
		     size_t bs, unsigned qd)
{
	struct stat st, ost;
	int in, out, ret;

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0) {
		fprintf(stderr, "cio-cp: %s: %s\n", src, strerror(errno));
		return 2;
	}
	/* The copy is sized by st_size: a pipe or /proc file would copy as
	 * empty, so say so instead. */
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		fprintf(stderr, "cio-cp: %s: not a regular file or block device\n", src);
		close(in);
		return 2;
	}
	if (S_ISREG(st.st_mode) && st.st_size == 0) {
		char byte;

		/* /proc and sysfs files say 0 and have data. */
		if (pread(in, &byte, 1, 0) == 1) {
			fprintf(stderr, "cio-cp: %s: its size is not known (a /proc or "
				"sysfs file?)\n", src);
			close(in);
			return 2;
		}
	}
	/* Opened without O_TRUNC first: DST may be SRC under another name,
	 * and truncating it would lose the data before it is read. */
	out = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, st.st_mode & 0777);
	if (out < 0) {
		fprintf(stderr, "cio-cp: %s: %s\n", dst, strerror(errno));
		close(in);
		return 2;
	}
	if (fstat(out, &ost) < 0) {
		fprintf(stderr, "cio-cp: %s: %s\n", dst, strerror(errno));
		goto refuse;
	}
	if (ost.st_dev == st.st_dev && ost.st_ino == st.st_ino) {
		fprintf(stderr, "cio-cp: %s and %s are the same file\n", src, dst);
		goto refuse;
	}
	if (S_ISREG(ost.st_mode) && ftruncate(out, 0) < 0) {
		fprintf(stderr, "cio-cp: %s: %s\n", dst, strerror(errno));
		goto refuse;
	}
	ret = copy_fds(loop, in, out, (uint64_t)st.st_size, bs, qd, 1);
	close(in);
	if (close(out) < 0 && !ret)
		ret = -errno;
	if (ret < 0) {
		fprintf(stderr, "cio-cp: %s -> %s: %s\n", src, dst, strerror(-ret));
		return 1;
	}
	return 0;
refuse:
	close(in);
	close(out);
	return 2;
}

static int copy_paths(const char *backend, const char *src, const char *dst,
		      size_t bs, unsigned qd)
{
	cio_loop *loop;
	int ret;

	/* The loop first: a backend that cannot run here fails before DST
	 * is touched. */
	ret = new_loop(&loop, backend, qd);
	if (ret < 0) {
		fprintf(stderr, "cio-cp: backend %s: %s\n", backend ? backend : "auto",
			strerror(-ret));
		return 2;
	}
	ret = copy_open(loop, src, dst, bs, qd);
	cio_loop_free(loop);
	return ret;
}

static int same_contents(int a, int b, uint64_t size)
{
	static char x[1 << 16], y[1 << 16];

	for (uint64_t off = 0; off < size; off += sizeof(x)) {
		size_t n = size - off < sizeof(x) ? size - off : sizeof(x);

		if (pread(a, x, n, (off_t)off) != (ssize_t)n ||
		    pread(b, y, n, (off_t)off) != (ssize_t)n || memcmp(x, y, n))
			return 0;
	}
	return 1;
}

/* A second open file description for fd's file, with other flags. */
static int reopen(int fd, int flags)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, flags | O_CLOEXEC);
}

static int demo(size_t bs, unsigned qd)
{
	static const char *const backends[] = { "uring", "aio", "pool" };
	const uint64_t size = 64ull << 20;
	char src[] = "/var/tmp/cio-cp-src-XXXXXX", dst[] = "/var/tmp/cio-cp-dst-XXXXXX";
	int in, out, status = 0;
	char *buf;

	in = mkstemp(src);
	out = mkstemp(dst);
	buf = malloc(1 << 20);
	if (in < 0 || out < 0 || !buf) {
		fprintf(stderr, "cio-cp: cannot make temp files in /var/tmp: %s\n",
			strerror(errno));
		return 2;
	}
	unlink(src);
	unlink(dst);
	srand(42);
	for (uint64_t off = 0; off < size; off += 1 << 20) {
		for (size_t i = 0; i < 1 << 20; i++)
			buf[i] = (char)rand();
		if (pwrite(in, buf, 1 << 20, (off_t)off) != 1 << 20) {
			fprintf(stderr, "cio-cp: writing the source: %s\n", strerror(errno));
			return 2;
		}
	}
	free(buf);
	printf("libcio %s: copying a 64 MiB file with %u chunks of %zu KiB in flight\n",
	       cio_version(), qd, bs / 1024);
	/* Buffered, then O_DIRECT (what storage engines use; on aio it is
	 * the one kind of file I/O Linux AIO runs asynchronously). */
	for (size_t i = 0; i < 2 * sizeof(backends) / sizeof(backends[0]); i++) {
		size_t b = i % (sizeof(backends) / sizeof(backends[0]));
		bool direct = i >= sizeof(backends) / sizeof(backends[0]);
		int rfd = in, wfd = out, ret;
		cio_loop *loop;

		if (ftruncate(out, 0) < 0)
			return 2;
		if (direct) {
			rfd = reopen(in, O_RDONLY | O_DIRECT);
			wfd = reopen(out, O_WRONLY | O_DIRECT);
			if (rfd < 0 || wfd < 0) {
				printf("%-6s  O_DIRECT not available here\n", backends[b]);
				break;
			}
			printf("O_DIRECT ");
			fflush(stdout);
		}
		ret = new_loop(&loop, backends[b], qd);
		if (ret == 0) {
			ret = copy_fds(loop, rfd, wfd, size, bs, qd, 1);
			cio_loop_free(loop);
		}
		if (direct) {
			close(rfd);
			close(wfd);
		}

		if (ret == -ENOSYS || ret == -EPERM) {
			printf("%-6s  not available here (%s)\n", backends[b], strerror(-ret));
			continue;
		}
		if (ret < 0) {
			printf("%-6s  FAILED: %s\n", backends[b], strerror(-ret));
			status = 1;
			continue;
		}
		if (!same_contents(in, out, size)) {
			printf("%-6s  FAILED: the copy differs from the source\n", backends[b]);
			status = 1;
		} else {
			printf("%-6s  verified: copy identical to the source\n", backends[b]);
		}
	}
	close(in);
	close(out);
	return status;
}

static size_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	}
	return *end || v == 0 || v > (64u << 20) ? 0 : (size_t)v;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: cio-cp [--qd N] [--bs SIZE] [--backend auto|uring|aio|pool] SRC DST\n"
		   "       cio-cp --demo [--qd N] [--bs SIZE]\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "qd", required_argument, NULL, 'q' },
		{ "bs", required_argument, NULL, 'b' },
		{ "backend", required_argument, NULL, 'B' },
		{ "demo", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *backend = NULL;
	size_t bs = 128 << 10;
	unsigned qd = 32;
	int c, run_demo = 0;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'q': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			qd = *end || end == optarg || v > 4096 ? 0 : (unsigned)v;
			if (qd < 1) {
				fprintf(stderr, "cio-cp: --qd wants 1..4096\n");
				return 2;
			}
			break;
		}
		case 'b':
			bs = parse_size(optarg);
			if (!bs) {
				fprintf(stderr, "cio-cp: --bs wants a size like 4k, 128k, 1M (at most 64M)\n");
				return 2;
			}
			break;
		case 'B':
			backend = optarg;
			break;
		case 'd':
			run_demo = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (run_demo)
		return demo(bs, qd);
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	return copy_paths(backend, argv[optind], argv[optind + 1], bs, qd);
}
