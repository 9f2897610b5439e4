/* SPDX-License-Identifier: MIT */
/*
 * cio-bench: measure libcio on this machine, through the public API only.
 *
 *   cio-bench                    the tour: every workload on every backend
 *   cio-bench file [...] FILE    random or sequential reads and writes
 *   cio-bench nop [...]          per-operation overhead
 *   cio-bench echo-server --port P [...]
 *   cio-bench echo-client --port P [...]
 *
 * Every run is bounded by a timer on the loop it measures; nothing spins:
 * the loops run with cio_run(), which sleeps in the kernel when idle.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cio.h>

#include "bench-hist.h"

#define NS_PER_SEC  1000000000ull
#define NS_PER_MS   1000000ull
#define MAX_QD      4096u
#define MAX_CONNS   10000u
#define MAX_MSG     (1u << 20)
#define MAX_RUNTIME 3600.0
#define SERVER_BUF  4096u          /* one receive per connection */
#define POOL_BUFS   1024u          /* --pool: provided buffers per server */
#define DRAIN_NS    (2 * NS_PER_SEC)

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

enum { RW_READ, RW_WRITE, RW_RANDREAD, RW_RANDWRITE };
static const char *const rw_names[] = { "read", "write", "randread", "randwrite" };

/* Everything a command line can say; each subcommand takes a subset. */
struct opts {
	const char *backend;    /* NULL: auto */
	int         rw;
	size_t      bs;
	unsigned    qd;
	bool        qd_set;
	bool        direct;
	uint64_t    size;
	bool        size_set;
	double      runtime;    /* seconds */
	bool        runtime_set;
	bool        sqpoll;
	bool        fixed;
	int         port;       /* -1: not given */
	bool        pool;
	unsigned    conns;
	size_t      msg;
	const char *file;
	bool        quiet;      /* the tour: no progress lines, no reports */
	bool        json;       /* --json: one JSON object on stdout instead */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * NS_PER_SEC +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

/* One line on stderr; returns 2, the exit status for a refused start. */
__attribute__((format(printf, 1, 2)))
static int fail2(const char *fmt, ...)
{
	va_list ap;

	fputs("cio-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

/* xorshift64*: offsets and fill data, cheap and reproducible. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* A run's latency figures in µs, from its histogram (values in ns). */
struct lat {
	double   p50, p99, p999, max;
	uint64_t samples;
};

static void lat_from_hist(struct lat *l, const struct hist *h)
{
	l->p50 = hist_quantile(h, 0.50) / 1000.0;
	l->p99 = hist_quantile(h, 0.99) / 1000.0;
	l->p999 = hist_quantile(h, 0.999) / 1000.0;
	l->max = (double)h->max / 1000.0;
	l->samples = h->n;
}

/* Record now - t0 in h; returns now, so one clock read ends one interval
 * and starts the next. */
static uint64_t hist_add_since(struct hist *h, uint64_t t0)
{
	uint64_t now = now_ns();

	hist_add(h, now - t0);
	return now;
}

/* --json: the object is printed key by key; strings are escaped (a file
 * name may hold anything). */
static void json_str(const char *key, const char *v, bool last)
{
	printf("\"%s\": \"", key);
	for (const unsigned char *p = (const unsigned char *)(v ? v : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	printf("\"%s", last ? "}\n" : ", ");
}

static void json_num(const char *key, const char *fmt, double v, bool last)
{
	printf("\"%s\": ", key);
	printf(fmt, v);
	printf("%s", last ? "}\n" : ", ");
}

static void json_u64(const char *key, uint64_t v, bool last)
{
	printf("\"%s\": %llu%s", key, (unsigned long long)v, last ? "}\n" : ", ");
}

/* The latency keys, the same in the RESULT line and the JSON object. */
static void json_lat(const struct lat *l, const char *fmt)
{
	json_num("p50_us", fmt, l->p50, false);
	json_num("p99_us", fmt, l->p99, false);
	json_num("p999_us", fmt, l->p999, false);
	json_num("max_us", fmt, l->max, false);
	json_u64("lat_samples", l->samples, false);
}

/* --- the run clock ---
 * One timer per run: a tick each second (for the progress line) and the
 * end of the run. At the end it notes the wall and CPU time and calls
 * on_stop; callbacks then stop resubmitting and the loop drains. */
struct ticker {
	cio_req   req;
	cio_loop *loop;
	uint64_t  t0, deadline, last, t_end;
	uint64_t  cpu0, cpu_used;
	bool      stopping;
	void    (*on_tick)(struct ticker *tk, uint64_t now);
	void    (*on_stop)(struct ticker *tk);
};

static void ticker_arm(struct ticker *tk, uint64_t now);

static void ticker_fire(cio_req *req)
{
	struct ticker *tk = container_of(req, struct ticker, req);
	uint64_t now = now_ns();

	if (tk->stopping)       /* stopped early (an error), or cancelled */
		return;
	if (tk->on_tick)
		tk->on_tick(tk, now);
	tk->last = now;
	if (now >= tk->deadline) {
		tk->stopping = true;
		tk->t_end = now;
		tk->cpu_used = cpu_ns() - tk->cpu0;
		if (tk->on_stop)
			tk->on_stop(tk);
		return;
	}
	ticker_arm(tk, now);
}

static void ticker_arm(struct ticker *tk, uint64_t now)
{
	uint64_t left = tk->deadline > now ? tk->deadline - now : 0;
	int ret;

	ret = cio_timer(tk->loop, &tk->req, left < NS_PER_SEC ? left : NS_PER_SEC,
			ticker_fire);
	if (ret < 0) {  /* cannot happen with a valid loop; end the run now */
		tk->stopping = true;
		tk->t_end = now;
		tk->cpu_used = cpu_ns() - tk->cpu0;
	}
}

static void ticker_start(struct ticker *tk, cio_loop *loop, double seconds)
{
	tk->loop = loop;
	tk->cpu0 = cpu_ns();
	tk->t0 = tk->last = now_ns();
	tk->deadline = tk->t0 + (uint64_t)(seconds * (double)NS_PER_SEC);
	tk->stopping = false;
	ticker_arm(tk, tk->t0);
}

/* End the run before its time (an error): the timer stays pending and is
 * cancelled, so the loop can drain. */
static void ticker_stop_early(struct ticker *tk)
{
	if (tk->stopping)
		return;
	tk->stopping = true;
	tk->t_end = now_ns();
	tk->cpu_used = cpu_ns() - tk->cpu0;
	cio_cancel(tk->loop, &tk->req);
	if (tk->on_stop)
		tk->on_stop(tk);
}

static double ticker_seconds(const struct ticker *tk)
{
	uint64_t end = tk->t_end ? tk->t_end : now_ns();

	return (double)(end - tk->t0) / (double)NS_PER_SEC;
}

static int ticker_cpu_pct(const struct ticker *tk)
{
	uint64_t wall = (tk->t_end ? tk->t_end : now_ns()) - tk->t0;

	return wall ? (int)((double)tk->cpu_used * 100.0 / (double)wall + 0.5) : 0;
}

/* Create a loop for a run. Returns 0 or 2 (after the one-line error). */
static int open_loop(cio_loop **loopp, const struct opts *o, unsigned entries)
{
	struct cio_loop_opts lo = {
		.entries = entries,
		.backend = o->backend,
		.flags = o->sqpoll ? CIO_LOOP_SQPOLL : 0,
	};
	int ret = cio_loop_new(loopp, &lo);

	if (ret == 0)
		return 0;
	if (o->sqpoll)
		return fail2("--sqpoll: no SQPOLL loop on backend %s here: %s",
			     o->backend ? o->backend : "auto", strerror(-ret));
	return fail2("backend %s: cannot start a loop: %s",
		     o->backend ? o->backend : "auto", strerror(-ret));
}

/* ===================== file ===================== */

struct file_run;

struct io_slot {
	cio_req          req;
	struct file_run *run;
	char            *buf;
	uint64_t         t_submit;
};

struct file_run {
	struct ticker   tk;
	const struct opts *o;
	cio_loop       *loop;
	int             fd;
	bool            write, random;
	uint64_t        nblocks, next_block, rng;
	struct io_slot *slots;
	uint64_t        ios, ios_last;
	int             err;
	struct hist     hist;
};

static void file_io_done(cio_req *req);

static void file_submit(struct io_slot *s)
{
	struct file_run *r = s->run;
	uint64_t blk = r->random ? rng_next(&r->rng) % r->nblocks
				 : r->next_block++ % r->nblocks;
	int64_t off = (int64_t)(blk * r->o->bs);
	int ret;

	s->t_submit = now_ns();
	if (r->write)
		ret = cio_write(r->loop, &s->req, r->fd, s->buf, r->o->bs, off,
				file_io_done);
	else
		ret = cio_read(r->loop, &s->req, r->fd, s->buf, r->o->bs, off,
			       file_io_done);
	if (ret < 0) {
		if (!r->err)
			r->err = ret;
		ticker_stop_early(&r->tk);
	}
}

static void file_io_done(cio_req *req)
{
	struct io_slot *s = req->data;
	struct file_run *r = s->run;

	if (req->res != (int64_t)r->o->bs) {
		/* Blocks lie wholly inside the file: short means broken. */
		if (!r->err)
			r->err = req->res < 0 ? (int)req->res : -EIO;
		ticker_stop_early(&r->tk);
		return;
	}
	if (r->tk.stopping)
		return;
	hist_add(&r->hist, now_ns() - s->t_submit);
	r->ios++;
	file_submit(s);
}

static void file_tick(struct ticker *tk, uint64_t now)
{
	struct file_run *r = container_of(tk, struct file_run, tk);
	double dt = (double)(now - tk->last) / (double)NS_PER_SEC;
	double iops = dt > 0 ? (double)(r->ios - r->ios_last) / dt : 0;

	r->ios_last = r->ios;
	if (r->o->quiet || dt < 0.5)    /* the last, partial second: skip */
		return;
	fprintf(stderr, "%5.0f s  %10.0f IOPS  %9.1f MiB/s\n",
		(double)(now - tk->t0) / (double)NS_PER_SEC, iops,
		iops * (double)r->o->bs / 1048576.0);
}

struct file_result {
	double      iops, mibs;
	struct lat  lat;
	int         cpu;
	const char *backend, *path;
};

/* --fixed: register every slot's buffer with the loop, so io_uring reads
 * and writes them with READ_FIXED / WRITE_FIXED (no page pinning per I/O).
 * Returns 0 or 2. */
static int register_slots(struct file_run *r)
{
	struct iovec *iov = calloc(r->o->qd, sizeof(*iov));
	int ret;

	if (!iov)
		return fail2("out of memory");
	for (unsigned i = 0; i < r->o->qd; i++) {
		iov[i].iov_base = r->slots[i].buf;
		iov[i].iov_len = r->o->bs;
		r->slots[i].req.opts = CIO_FIXED_BUF;
	}
	ret = cio_register_buffers(r->loop, iov, r->o->qd);  /* copies iov */
	free(iov);
	if (ret < 0)
		return fail2("--fixed: cannot register the buffers: %s", strerror(-ret));
	return 0;
}

/* Keep qd requests in flight on fd for the run time. Returns 0, 1 (the
 * I/O failed) or 2 (could not start), having said why. */
static int file_run_fd(const struct opts *o, int fd, uint64_t size,
		       struct file_result *res)
{
	struct file_run *r;
	int status = 0, ret;

	r = calloc(1, sizeof(*r));
	if (!r)
		return fail2("out of memory");
	r->o = o;
	r->fd = fd;
	r->write = o->rw == RW_WRITE || o->rw == RW_RANDWRITE;
	r->random = o->rw == RW_RANDREAD || o->rw == RW_RANDWRITE;
	r->nblocks = size / o->bs;
	r->rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	r->slots = calloc(o->qd, sizeof(*r->slots));
	if (!r->slots) {
		free(r);
		return fail2("out of memory");
	}
	status = open_loop(&r->loop, o, o->qd * 2);
	for (unsigned i = 0; !status && i < o->qd; i++) {
		struct io_slot *s = &r->slots[i];

		s->run = r;
		s->req.data = s;
		/* Aligned for O_DIRECT; written once, so writes carry data. */
		if (posix_memalign((void **)&s->buf, 4096, o->bs)) {
			status = fail2("out of memory");
			break;
		}
		for (size_t j = 0; j < o->bs; j += 8) {
			uint64_t v = rng_next(&r->rng);

			memcpy(s->buf + j, &v, o->bs - j < 8 ? o->bs - j : 8);
		}
	}
	if (!status && o->fixed)
		status = register_slots(r);
	if (status)
		goto out;

	res->backend = cio_backend(r->loop);
	res->path = cio_op_path(r->loop, r->write ? CIO_OP_WRITE : CIO_OP_READ, fd);
	r->tk.on_tick = file_tick;
	ticker_start(&r->tk, r->loop, o->runtime);
	for (unsigned i = 0; i < o->qd && !r->tk.stopping; i++)
		file_submit(&r->slots[i]);
	ret = cio_run(r->loop, CIO_RUN_DEFAULT);
	if (ret != 0 && !r->err)
		r->err = ret < 0 ? ret : -EIO;
	if (r->err) {
		fprintf(stderr, "cio-bench: %s: %s\n", rw_names[o->rw], strerror(-r->err));
		status = 1;
		goto out;
	}
	res->iops = (double)r->ios / ticker_seconds(&r->tk);
	res->mibs = res->iops * (double)o->bs / 1048576.0;
	lat_from_hist(&res->lat, &r->hist);
	res->cpu = ticker_cpu_pct(&r->tk);
out:
	if (r->loop && o->fixed)
		cio_unregister_buffers(r->loop);   /* -ENXIO if never registered */
	if (r->loop && cio_loop_free(r->loop) < 0 && !status)
		status = fail2("the loop still had requests pending");
	for (unsigned i = 0; i < o->qd; i++)
		free(r->slots[i].buf);
	free(r->slots);
	free(r);
	return status;
}

/* Write pseudo-random data from off to end, so reads read real blocks
 * (not holes), then flush it so O_DIRECT reads hit the device. */
static int fill_file(int fd, uint64_t off, uint64_t end)
{
	const size_t chunk = 1u << 20;
	uint64_t seed = 0x243f6a8885a308d3ull ^ off;
	char *buf = malloc(chunk);

	if (!buf)
		return -ENOMEM;
	while (off < end) {
		size_t n = end - off < chunk ? (size_t)(end - off) : chunk;
		ssize_t w;

		for (size_t j = 0; j + 8 <= chunk; j += 8) {
			uint64_t v = rng_next(&seed);

			memcpy(buf + j, &v, 8);
		}
		w = pwrite(fd, buf, n, (off_t)off);
		if (w <= 0) {
			free(buf);
			return w < 0 ? -errno : -EIO;
		}
		off += (uint64_t)w;
	}
	free(buf);
	return fsync(fd) < 0 ? -errno : 0;
}

/* Make path a regular file of at least size bytes (creating or extending
 * it with data); *sizep gets the bytes the run covers. Returns 0 or 2. */
static int prepare_file(const struct opts *o, uint64_t *sizep)
{
	uint64_t size = o->size;
	struct stat st;
	int fd, ret;

	fd = open(o->file, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 && (errno == EACCES || errno == EROFS || errno == EISDIR) &&
	    o->rw != RW_WRITE && o->rw != RW_RANDWRITE)
		fd = open(o->file, O_RDONLY | O_CLOEXEC);   /* reading is enough */
	if (fd < 0)
		return fail2("%s: %s", o->file, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail2("%s: not a regular file", o->file);
	}
	if (!o->size_set && st.st_size > 0)
		size = (uint64_t)st.st_size;        /* an existing file: all of it */
	if ((uint64_t)st.st_size < size) {
		if (!o->quiet)
			fprintf(stderr, "cio-bench: writing %s up to %llu MiB...\n",
				o->file, (unsigned long long)(size >> 20));
		ret = fill_file(fd, (uint64_t)st.st_size, size);
		if (ret < 0) {
			close(fd);
			return fail2("%s: cannot fill it: %s", o->file, strerror(-ret));
		}
	}
	close(fd);
	if (size < o->bs)
		return fail2("%s: smaller than one block (%zu bytes)", o->file, o->bs);
	*sizep = size;
	return 0;
}

static int cmd_file(const struct opts *o)
{
	bool writing = o->rw == RW_WRITE || o->rw == RW_RANDWRITE;
	struct file_result res = { 0 };
	uint64_t size = 0;
	int fd, status;

	status = prepare_file(o, &size);
	if (status)
		return status;
	fd = open(o->file, (writing ? O_RDWR : O_RDONLY) | O_CLOEXEC |
		  (o->direct ? O_DIRECT : 0));
	if (fd < 0) {
		if (o->direct && errno == EINVAL)
			return fail2("%s: this file system does not take O_DIRECT", o->file);
		return fail2("%s: %s", o->file, strerror(errno));
	}
	if (!o->json) {
		printf("cio-bench file %s: %s, bs %zu, qd %u%s, %llu MiB, %g s\n",
		       o->file, rw_names[o->rw], o->bs, o->qd,
		       o->direct ? ", O_DIRECT" : "", (unsigned long long)(size >> 20),
		       o->runtime);
		fflush(stdout);
	}
	status = file_run_fd(o, fd, size, &res);
	close(fd);
	if (status)
		return status;
	if (o->json) {
		printf("{");
		json_str("command", "file", false);
		json_str("file", o->file, false);
		json_str("rw", rw_names[o->rw], false);
		json_u64("bs", o->bs, false);
		json_u64("qd", o->qd, false);
		json_u64("direct", o->direct, false);
		json_u64("size", size, false);
		json_num("runtime_s", "%g", o->runtime, false);
		json_num("iops", "%.0f", res.iops, false);
		json_num("mibs", "%.1f", res.mibs, false);
		json_lat(&res.lat, "%.1f");
		json_num("cpu", "%.0f", res.cpu, false);
		json_str("path", res.path, false);
		json_str("backend", res.backend, true);
		return 0;
	}
	printf("backend %s, %s ran on: %s\n", res.backend, writing ? "write" : "read",
	       res.path);
	printf("%s: %.0f IOPS, %.1f MiB/s\n", rw_names[o->rw], res.iops, res.mibs);
	printf("completion latency (us, submission to callback, every I/O): "
	       "p50 %.1f, p99 %.1f, p99.9 %.1f, max %.1f\n",
	       res.lat.p50, res.lat.p99, res.lat.p999, res.lat.max);
	printf("cpu: %d%% (user+sys of this process over wall time)\n", res.cpu);
	printf("RESULT iops=%.0f mibs=%.1f p50_us=%.1f p99_us=%.1f p999_us=%.1f "
	       "max_us=%.1f cpu=%d backend=%s\n",
	       res.iops, res.mibs, res.lat.p50, res.lat.p99, res.lat.p999, res.lat.max,
	       res.cpu, res.backend);
	return 0;
}

/* ===================== nop ===================== */

/* A nop costs a few tens of ns; two clock reads on each would be a large
 * part of what we measure. So only every NOP_SAMPLE-th submission is timed:
 * a prime, so that at a queue depth of 64 (or any power of two) the timed
 * ones do not all fall on the same place in each batch. */
#define NOP_SAMPLE 61u

struct nop_slot {
	cio_req  req;
	uint64_t t_submit;      /* 0: this one is not timed */
};

struct nop_run {
	struct ticker    tk;
	cio_loop        *loop;
	struct nop_slot *slots;
	uint64_t         ops, ops_last;
	unsigned         until_sample;
	int              err;
	bool             quiet;
	struct hist      hist;
};

static void nop_done(cio_req *req);

static int nop_submit(struct nop_run *r, struct nop_slot *s)
{
	if (--r->until_sample == 0) {
		r->until_sample = NOP_SAMPLE;
		s->t_submit = now_ns();
	}
	return cio_nop(r->loop, &s->req, nop_done);
}

static void nop_done(cio_req *req)
{
	struct nop_run *r = req->data;
	struct nop_slot *s = container_of(req, struct nop_slot, req);
	int ret;

	if (s->t_submit) {
		hist_add(&r->hist, now_ns() - s->t_submit);
		s->t_submit = 0;
	}
	if (req->res < 0 && !r->err)
		r->err = (int)req->res;
	r->ops++;
	if (r->tk.stopping)
		return;
	ret = nop_submit(r, s);
	if (ret < 0) {
		r->err = ret;
		ticker_stop_early(&r->tk);
	}
}

static void nop_tick(struct ticker *tk, uint64_t now)
{
	struct nop_run *r = container_of(tk, struct nop_run, tk);
	double dt = (double)(now - tk->last) / (double)NS_PER_SEC;
	uint64_t n = r->ops - r->ops_last;

	r->ops_last = r->ops;
	if (r->quiet || dt < 0.5 || !n)
		return;
	fprintf(stderr, "%5.0f s  %12.0f ops/s  %7.1f ns/op\n",
		(double)(now - tk->t0) / (double)NS_PER_SEC, (double)n / dt,
		dt * 1e9 / (double)n);
}

struct nop_result {
	uint64_t    ops;
	double      ns_per_op;
	struct lat  lat;        /* every NOP_SAMPLE-th op */
	const char *backend, *path;
};

static int nop_run(const struct opts *o, struct nop_result *res)
{
	struct nop_run *r = calloc(1, sizeof(*r));     /* the histogram: 15 KiB */
	int status, ret;

	if (!r)
		return fail2("out of memory");
	r->quiet = o->quiet;
	r->until_sample = 1;    /* the first op is timed */
	r->slots = calloc(o->qd, sizeof(*r->slots));
	status = r->slots ? open_loop(&r->loop, o, o->qd * 2) : fail2("out of memory");
	if (status)
		goto out;
	res->backend = cio_backend(r->loop);
	res->path = cio_op_path(r->loop, CIO_OP_NOP, -1);
	r->tk.on_tick = nop_tick;
	ticker_start(&r->tk, r->loop, o->runtime);
	for (unsigned i = 0; i < o->qd && !r->tk.stopping; i++) {
		r->slots[i].req.data = r;
		ret = nop_submit(r, &r->slots[i]);
		if (ret < 0) {
			r->err = ret;
			ticker_stop_early(&r->tk);
		}
	}
	ret = cio_run(r->loop, CIO_RUN_DEFAULT);
	if (ret != 0 && !r->err)
		r->err = ret < 0 ? ret : -EIO;
	if (cio_loop_free(r->loop) < 0 && !r->err)
		r->err = -EBUSY;
	if (r->err) {
		fprintf(stderr, "cio-bench: nop: %s\n", strerror(-r->err));
		status = 1;
		goto out;
	}
	res->ops = r->ops;
	res->ns_per_op = r->ops ? ticker_seconds(&r->tk) * 1e9 / (double)r->ops : 0;
	lat_from_hist(&res->lat, &r->hist);
out:
	free(r->slots);
	free(r);
	return status;
}

static int cmd_nop(const struct opts *o)
{
	struct nop_result res = { 0 };
	int status;

	if (!o->json) {
		printf("cio-bench nop: qd %u, %g s\n", o->qd, o->runtime);
		fflush(stdout);
	}
	status = nop_run(o, &res);
	if (status)
		return status;
	if (o->json) {
		printf("{");
		json_str("command", "nop", false);
		json_u64("qd", o->qd, false);
		json_num("runtime_s", "%g", o->runtime, false);
		json_u64("ops", res.ops, false);
		json_num("ops_per_s", "%.0f", 1e9 / res.ns_per_op, false);
		json_num("ns_per_op", "%.1f", res.ns_per_op, false);
		json_lat(&res.lat, "%.3f");
		json_u64("lat_every", NOP_SAMPLE, false);
		json_str("path", res.path, false);
		json_str("backend", res.backend, true);
		return 0;
	}
	printf("backend %s, nop ran on: %s\n", res.backend, res.path);
	printf("nop: %llu ops, %.0f ops/s, %.1f ns per operation\n",
	       (unsigned long long)res.ops, 1e9 / res.ns_per_op, res.ns_per_op);
	printf("latency (us, submission to callback, every %uth op timed: %llu samples): "
	       "p50 %.3f, p99 %.3f, p99.9 %.3f, max %.3f\n", NOP_SAMPLE,
	       (unsigned long long)res.lat.samples, res.lat.p50, res.lat.p99,
	       res.lat.p999, res.lat.max);
	printf("RESULT ops=%llu ns_per_op=%.1f p50_us=%.3f p99_us=%.3f p999_us=%.3f "
	       "max_us=%.3f lat_every=%u backend=%s\n",
	       (unsigned long long)res.ops, res.ns_per_op, res.lat.p50, res.lat.p99,
	       res.lat.p999, res.lat.max, NOP_SAMPLE, res.backend);
	return 0;
}

/* ===================== echo server ===================== */

struct server;

struct sconn {
	cio_req        req;
	struct server *srv;
	int            fd;
	bool           pooled;     /* data is a provided buffer to give back */
	char          *data;
	size_t         len, sent;
	char           buf[SERVER_BUF];
};

struct server {
	cio_loop    *loop;
	cio_bufpool *pool;          /* --pool */
	int          lfd;
	uint16_t     port;
	bool         stopping;
	int          err;
	uint64_t     accepted;
	cio_req      accept_req;
	cio_req      sig_req;       /* read of the self-pipe: a signal came */
	int          sig_fd;
	char         sig_byte;
	cio_req      stop_req;      /* posted by another thread (the tour) */
};

static void server_stop(struct server *srv)
{
	if (srv->stopping)
		return;
	srv->stopping = true;
	/* Every callback that follows sees stopping and ends its connection. */
	cio_cancel_all(srv->loop);
}

static void sconn_close(struct sconn *c)
{
	if (c->pooled)
		cio_bufpool_put(c->srv->pool, c->data);
	close(c->fd);
	free(c);
}

static void sconn_sent(cio_req *req);
static void sconn_received(cio_req *req);

static void sconn_recv(struct sconn *c)
{
	struct server *srv = c->srv;
	int ret;

	if (srv->pool)
		ret = cio_recv_pool(srv->loop, &c->req, c->fd, srv->pool, 0,
				    sconn_received);
	else
		ret = cio_recv(srv->loop, &c->req, c->fd, c->buf, sizeof(c->buf), 0,
			       sconn_received);
	if (ret < 0)
		sconn_close(c);
}

static void sconn_send_rest(struct sconn *c)
{
	if (cio_send(c->srv->loop, &c->req, c->fd, c->data + c->sent,
		     c->len - c->sent, 0, sconn_sent) < 0)
		sconn_close(c);
}

static void sconn_received(cio_req *req)
{
	struct sconn *c = req->data;

	if (req->flags & CIO_F_BUF) {
		c->pooled = true;
		c->data = req->buf;
	} else {
		c->data = c->buf;
	}
	if (req->res <= 0 || c->srv->stopping) {   /* EOF, reset, or the end */
		sconn_close(c);
		return;
	}
	c->len = (size_t)req->res;
	c->sent = 0;
	sconn_send_rest(c);
}

static void sconn_sent(cio_req *req)
{
	struct sconn *c = req->data;

	if (req->res < 0 || c->srv->stopping) {
		sconn_close(c);
		return;
	}
	c->sent += (size_t)req->res;
	if (c->sent < c->len) {
		sconn_send_rest(c);
		return;
	}
	if (c->pooled) {
		cio_bufpool_put(c->srv->pool, c->data);
		c->pooled = false;
	}
	sconn_recv(c);
}

static int server_accept(struct server *srv);

static void server_accepted(cio_req *req)
{
	struct server *srv = req->data;
	struct sconn *c;
	int one = 1;

	if (req->res >= 0) {
		int fd = (int)req->res;

		c = srv->stopping ? NULL : malloc(sizeof(*c));
		if (!c) {
			close(fd);
		} else {
			srv->accepted++;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			memset(&c->req, 0, sizeof(c->req));
			c->req.data = c;
			c->srv = srv;
			c->fd = fd;
			c->pooled = false;
			sconn_recv(c);
		}
	}
	if (req->flags & CIO_F_MORE || srv->stopping)
		return;
	/* The multishot accept ended. A failure (EMFILE, ...) ends the
	 * server rather than retrying in a tight loop. */
	if (req->res < 0) {
		fprintf(stderr, "cio-bench: accept: %s\n", strerror((int)-req->res));
		srv->err = (int)req->res;
		server_stop(srv);
		return;
	}
	if (server_accept(srv) < 0)
		server_stop(srv);
}

static int server_accept(struct server *srv)
{
	int ret;

	srv->accept_req.data = srv;
	srv->accept_req.opts = CIO_MULTISHOT;
	ret = cio_accept(srv->loop, &srv->accept_req, srv->lfd, NULL, NULL,
			 SOCK_CLOEXEC, server_accepted);
	if (ret < 0 && !srv->err) {
		fprintf(stderr, "cio-bench: accept: %s\n", strerror(-ret));
		srv->err = ret;
	}
	return ret;
}

/* Listen on 127.0.0.1:port (0: any free port) and start accepting.
 * Returns 0 or 2 (after the one-line error). */
static int server_open(struct server *srv, const struct opts *o, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int one = 1, status, ret;

	memset(srv, 0, sizeof(*srv));
	srv->lfd = srv->sig_fd = -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	srv->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (srv->lfd < 0)
		return fail2("socket: %s", strerror(errno));
	setsockopt(srv->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(srv->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(srv->lfd, 4096) < 0 ||
	    getsockname(srv->lfd, (struct sockaddr *)&sa, &len) < 0) {
		status = fail2("127.0.0.1:%d: %s", port, strerror(errno));
		close(srv->lfd);
		return status;
	}
	srv->port = ntohs(sa.sin_port);
	status = open_loop(&srv->loop, o, 1024);
	if (status) {
		close(srv->lfd);
		return status;
	}
	if (o->pool) {
		ret = cio_bufpool_new(srv->loop, &srv->pool, POOL_BUFS, SERVER_BUF);
		if (ret < 0) {
			status = fail2("provided buffers: %s", strerror(-ret));
			goto fail;
		}
	}
	if (server_accept(srv) < 0) {
		status = 2;
		goto fail;
	}
	return 0;
fail:
	if (srv->pool)
		cio_bufpool_free(srv->pool);
	cio_loop_free(srv->loop);
	close(srv->lfd);
	return status;
}

/* Serve until server_stop(), then let every connection end. Returns the
 * loop's result. */
static int server_run(struct server *srv)
{
	int ret = cio_run(srv->loop, CIO_RUN_DEFAULT);

	return ret < 0 ? ret : 0;
}

static void server_close(struct server *srv)
{
	if (srv->pool)
		cio_bufpool_free(srv->pool);
	cio_loop_free(srv->loop);
	close(srv->lfd);
}

static int signal_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (write(signal_pipe[1], &c, 1) < 0) {
		/* the pipe is full: a stop is already on its way */
	}
	errno = saved;
}

static void server_signalled(cio_req *req)
{
	struct server *srv = req->data;

	/* A byte: SIGINT or SIGTERM. -ECANCELED: we are stopping anyway. */
	server_stop(srv);
}

/* SIGINT and SIGTERM write to a pipe the loop reads: the stop arrives as
 * an ordinary completion on the loop's thread. */
static int server_watch_signals(struct server *srv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	int ret;

	if (pipe2(signal_pipe, O_CLOEXEC) < 0)
		return fail2("pipe: %s", strerror(errno));
	fcntl(signal_pipe[1], F_SETFL, O_NONBLOCK);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
		return fail2("sigaction: %s", strerror(errno));
	srv->sig_fd = signal_pipe[0];
	srv->sig_req.data = srv;
	ret = cio_read(srv->loop, &srv->sig_req, srv->sig_fd, &srv->sig_byte, 1, -1,
		       server_signalled);
	if (ret < 0)
		return fail2("reading the signal pipe: %s", strerror(-ret));
	return 0;
}

static int cmd_echo_server(const struct opts *o)
{
	struct server srv;
	int status, ret;

	status = server_open(&srv, o, o->port);
	if (status)
		return status;
	status = server_watch_signals(&srv);
	if (status) {
		server_stop(&srv);
		server_run(&srv);
		server_close(&srv);
		return status;
	}
	printf("cio-bench echo-server: listening on 127.0.0.1:%u, backend %s, "
	       "accept on %s, %s on %s; SIGINT or SIGTERM stops it\n",
	       srv.port, cio_backend(srv.loop),
	       cio_op_path(srv.loop, CIO_OP_ACCEPT, srv.lfd),
	       srv.pool ? "recv_pool" : "recv",
	       cio_op_path(srv.loop, srv.pool ? CIO_OP_RECV_POOL : CIO_OP_RECV, srv.lfd));
	fflush(stdout);
	ret = server_run(&srv);
	server_close(&srv);
	close(signal_pipe[0]);
	close(signal_pipe[1]);
	if (ret < 0 || srv.err) {
		fprintf(stderr, "cio-bench: echo-server: %s\n",
			strerror(ret < 0 ? -ret : -srv.err));
		return 1;
	}
	printf("cio-bench echo-server: stopped after %llu connections\n",
	       (unsigned long long)srv.accepted);
	return 0;
}

/* ===================== echo client ===================== */

struct client;

struct cconn {
	cio_req        req;
	struct client *cl;
	int            fd;
	size_t         done;      /* bytes of the message sent, then received */
	char          *out, *in;
	uint64_t       t_start;   /* this round trip's first send was submitted */
};

struct client {
	struct ticker      tk;
	cio_loop          *loop;
	struct sockaddr_in addr;
	size_t             msg;
	unsigned           nconns, connected;
	struct cconn      *conns;
	char              *bufs;
	uint64_t           trips, trips_last;
	int                err;
	bool               quiet;
	const char        *recv_path;
	struct hist        hist;  /* round trips */
};

static void cconn_step(cio_req *req);

static void client_fail(struct client *cl, int err)
{
	if (!cl->err)
		cl->err = err;
	ticker_stop_early(&cl->tk);
}

/* One connection's cycle: send msg bytes, receive msg bytes, compare, and
 * again, until the run ends. req->data says which half we are in. */
enum { CC_CONNECT, CC_SEND, CC_RECV };

static void cconn_submit(struct cconn *c, int phase)
{
	struct client *cl = c->cl;
	int ret;

	c->req.data = (void *)(uintptr_t)phase;
	if (phase == CC_SEND)
		ret = cio_send(cl->loop, &c->req, c->fd, c->out + c->done,
			       cl->msg - c->done, 0, cconn_step);
	else
		ret = cio_recv(cl->loop, &c->req, c->fd, c->in + c->done,
			       cl->msg - c->done, 0, cconn_step);
	if (ret < 0)
		client_fail(cl, ret);
}

static void cconn_step(cio_req *req)
{
	struct cconn *c = container_of(req, struct cconn, req);
	struct client *cl = c->cl;
	int phase = (int)(uintptr_t)req->data;

	if (cl->tk.stopping)
		return;
	if (req->res < 0 || (phase == CC_RECV && req->res == 0)) {
		client_fail(cl, req->res < 0 ? (int)req->res : -ECONNRESET);
		return;
	}
	if (phase == CC_CONNECT) {
		if (++cl->connected == 1)
			cl->recv_path = cio_op_path(cl->loop, CIO_OP_RECV, c->fd);
		c->done = 0;
		c->t_start = now_ns();
		cconn_submit(c, CC_SEND);
		return;
	}
	c->done += (size_t)req->res;
	if (c->done < cl->msg) {
		cconn_submit(c, phase);
		return;
	}
	c->done = 0;
	if (phase == CC_SEND) {
		cconn_submit(c, CC_RECV);
		return;
	}
	if (memcmp(c->in, c->out, cl->msg)) {
		client_fail(cl, -EBADMSG);
		return;
	}
	cl->trips++;
	c->t_start = hist_add_since(&cl->hist, c->t_start);
	cconn_submit(c, CC_SEND);
}

static void client_tick(struct ticker *tk, uint64_t now)
{
	struct client *cl = container_of(tk, struct client, tk);
	double dt = (double)(now - tk->last) / (double)NS_PER_SEC;
	uint64_t n = cl->trips - cl->trips_last;

	cl->trips_last = cl->trips;
	if (cl->quiet || dt < 0.5)
		return;
	fprintf(stderr, "%5.0f s  %10.0f round trips/s\n",
		(double)(now - tk->t0) / (double)NS_PER_SEC, (double)n / dt);
}

static void client_stop(struct ticker *tk)
{
	struct client *cl = container_of(tk, struct client, tk);

	/* Connections wait for replies that may never come: end them. */
	cio_cancel_all(cl->loop);
}

struct client_result {
	uint64_t    trips;
	double      per_s;
	struct lat  lat;        /* every round trip */
	const char *backend, *path;
};

static int client_run(const struct opts *o, int port, struct client_result *res)
{
	struct client *cl;
	int status = 0, ret, one = 1;

	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return fail2("out of memory");
	cl->quiet = o->quiet;
	cl->msg = o->msg;
	cl->nconns = o->conns;
	cl->addr.sin_family = AF_INET;
	cl->addr.sin_port = htons((uint16_t)port);
	cl->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cl->conns = calloc(o->conns, sizeof(*cl->conns));
	cl->bufs = malloc(2 * o->msg * o->conns);
	if (!cl->conns || !cl->bufs) {
		status = fail2("out of memory");
		goto out_free;
	}
	for (size_t i = 0; i < 2 * o->msg * o->conns; i++)
		cl->bufs[i] = (char)('a' + i % 26);
	for (unsigned i = 0; i < o->conns; i++)
		cl->conns[i].fd = -1;
	status = open_loop(&cl->loop, o, 2 * o->conns + 16);
	if (status)
		goto out_free;
	res->backend = cio_backend(cl->loop);
	cl->tk.on_tick = client_tick;
	cl->tk.on_stop = client_stop;
	/* The clock covers connecting too: a server that never answers still
	 * ends the run on time. */
	ticker_start(&cl->tk, cl->loop, o->runtime);
	for (unsigned i = 0; i < o->conns && !cl->tk.stopping; i++) {
		struct cconn *c = &cl->conns[i];

		c->cl = cl;
		c->out = cl->bufs + 2 * i * o->msg;
		c->in = c->out + o->msg;
		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0) {
			client_fail(cl, -errno);
			break;
		}
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->req.data = (void *)(uintptr_t)CC_CONNECT;
		ret = cio_connect(cl->loop, &c->req, c->fd, (struct sockaddr *)&cl->addr,
				  sizeof(cl->addr), cconn_step);
		if (ret < 0)
			client_fail(cl, ret);
	}
	ret = cio_run(cl->loop, CIO_RUN_DEFAULT);
	if (ret != 0 && !cl->err)
		cl->err = ret < 0 ? ret : -EIO;
	if (cio_loop_free(cl->loop) < 0 && !cl->err)
		cl->err = -EBUSY;
	if (cl->err) {
		status = cl->connected < cl->nconns ? 2 : 1;
		fprintf(stderr, "cio-bench: echo-client: %s127.0.0.1:%d: %s\n",
			cl->connected < cl->nconns ? "connecting to " : "", port,
			strerror(-cl->err));
		goto out_free;
	}
	res->trips = cl->trips;
	res->per_s = (double)cl->trips / ticker_seconds(&cl->tk);
	lat_from_hist(&res->lat, &cl->hist);
	res->path = cl->recv_path;
out_free:
	for (unsigned i = 0; cl->conns && i < o->conns; i++)
		if (cl->conns[i].fd >= 0)
			close(cl->conns[i].fd);
	free(cl->conns);
	free(cl->bufs);
	free(cl);
	return status;
}

static int cmd_echo_client(const struct opts *o)
{
	struct client_result res = { 0 };
	int status;

	if (!o->json) {
		printf("cio-bench echo-client: 127.0.0.1:%d, %u connections x %zu bytes, "
		       "%g s\n", o->port, o->conns, o->msg, o->runtime);
		fflush(stdout);
	}
	status = client_run(o, o->port, &res);
	if (status)
		return status;
	if (o->json) {
		printf("{");
		json_str("command", "echo-client", false);
		json_u64("port", (uint64_t)o->port, false);
		json_u64("conns", o->conns, false);
		json_u64("msg", o->msg, false);
		json_num("runtime_s", "%g", o->runtime, false);
		json_u64("trips", res.trips, false);
		json_num("trips_per_s", "%.0f", res.per_s, false);
		json_lat(&res.lat, "%.1f");
		json_str("path", res.path ? res.path : "-", false);
		json_str("backend", res.backend, true);
		return 0;
	}
	printf("backend %s, recv ran on: %s\n", res.backend, res.path ? res.path : "-");
	printf("echo: %llu round trips, %.0f round trips/s\n",
	       (unsigned long long)res.trips, res.per_s);
	printf("round trip latency (us, first send submitted to the echo's last "
	       "callback): p50 %.1f, p99 %.1f, p99.9 %.1f, max %.1f\n",
	       res.lat.p50, res.lat.p99, res.lat.p999, res.lat.max);
	printf("RESULT trips=%llu trips_per_s=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f "
	       "max_us=%.1f backend=%s\n",
	       (unsigned long long)res.trips, res.per_s, res.lat.p50, res.lat.p99,
	       res.lat.p999, res.lat.max, res.backend);
	return 0;
}

/* ===================== the tour ===================== */

#define TOUR_FILE_SIZE (128ull << 20)

struct tour_server {
	struct server srv;
	pthread_t     thread;
	int           ret;
};

static void *tour_server_main(void *arg)
{
	struct tour_server *ts = arg;

	ts->ret = server_run(&ts->srv);
	return NULL;
}

static void tour_server_stop(cio_req *req)
{
	server_stop(req->data);
}

/* Echo on one backend: the server's loop on a second thread, the client's
 * here. Returns 0, or 1/2 having said why. */
static int tour_echo(const struct opts *o, struct client_result *res)
{
	struct tour_server ts;
	int status;

	status = server_open(&ts.srv, o, 0);
	if (status)
		return status;
	/* From here the server's loop belongs to its thread alone; this one
	 * only posts the stop (cio_post is the one cross-thread call). */
	if (pthread_create(&ts.thread, NULL, tour_server_main, &ts)) {
		server_stop(&ts.srv);
		server_run(&ts.srv);
		server_close(&ts.srv);
		return fail2("cannot start the server thread");
	}
	status = client_run(o, ts.srv.port, res);
	ts.srv.stop_req.data = &ts.srv;
	if (cio_post(ts.srv.loop, &ts.srv.stop_req, tour_server_stop) < 0) {
		/* Cannot happen on a live loop; without it we could not join. */
		fprintf(stderr, "cio-bench: cannot stop the echo server\n");
		exit(1);
	}
	pthread_join(ts.thread, NULL);
	server_close(&ts.srv);
	return status;
}

/* A file of TOUR_FILE_SIZE in a directory that takes O_DIRECT, unlinked at
 * once so nothing is left behind whatever happens. *direct_fd is -1 when no
 * candidate takes O_DIRECT. */
static int tour_make_file(int *fd, int *direct_fd, char *dir_out, size_t dlen)
{
	const char *dirs[] = { getenv("TMPDIR"), "/var/tmp", "/tmp" };
	char path[4096], proc[64];
	int ret;

	*fd = *direct_fd = -1;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		int f, d;

		if (!dirs[i] || !*dirs[i])
			continue;
		snprintf(path, sizeof(path), "%s/cio-bench-XXXXXX", dirs[i]);
		f = mkstemp(path);
		if (f < 0)
			continue;
		unlink(path);
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", f);
		d = open(proc, O_RDONLY | O_DIRECT | O_CLOEXEC);
		if (d < 0 && *fd >= 0) {       /* already have a buffered one */
			close(f);
			continue;
		}
		if (*fd >= 0)
			close(*fd);
		*fd = f;
		*direct_fd = d;
		snprintf(dir_out, dlen, "%s", dirs[i]);
		if (d >= 0)
			break;
	}
	if (*fd < 0)
		return -errno;
	ret = fill_file(*fd, 0, TOUR_FILE_SIZE);
	if (ret < 0) {
		close(*fd);
		if (*direct_fd >= 0)
			close(*direct_fd);
	}
	return ret;
}

static void fmt_rate(char *out, size_t len, double v, const char *unit,
		     const char *path)
{
	if (v >= 1e6)
		snprintf(out, len, "%.2fM %s (%s)", v / 1e6, unit, path);
	else if (v >= 1e4)
		snprintf(out, len, "%.1fk %s (%s)", v / 1e3, unit, path);
	else
		snprintf(out, len, "%.0f %s (%s)", v, unit, path);
}

static int cmd_tour(const struct opts *base)
{
	static const char *const backends[] = { "uring", "aio", "pool" };
	char dir[256] = "", cell[4][64];
	int fd, dfd, ret, status = 0;
	uint64_t t0 = now_ns();

	ret = tour_make_file(&fd, &dfd, dir, sizeof(dir));
	if (ret < 0)
		return fail2("cannot make a %llu MiB temp file: %s",
			     TOUR_FILE_SIZE >> 20, strerror(-ret));
	printf("libcio %s on this machine: %.1f s per run\n"
	       "  randread: 4 KiB random reads, 32 in flight, on a %llu MiB temp file in %s\n"
	       "  nop: cio_nop, 64 in flight; echo: 100 loopback connections x 64 B,\n"
	       "  server and client loops of the same backend on two threads\n",
	       cio_version(), base->runtime, TOUR_FILE_SIZE >> 20, dir);
	if (dfd < 0)
		printf("  note: no temp directory here takes O_DIRECT: that column ran buffered\n");
	printf("  (in parentheses: the path the operation took, from cio_op_path)\n\n");
	printf("%-7s %-26s %-26s %-20s %s\n", "backend", "randread O_DIRECT",
	       "randread page cache", "nop", "echo round trips");
	fflush(stdout);

	for (size_t b = 0; b < sizeof(backends) / sizeof(backends[0]); b++) {
		struct opts o = *base;
		struct file_result fr;
		struct nop_result nr;
		struct client_result cr;
		cio_loop *probe;
		struct cio_loop_opts lo = { .backend = backends[b] };

		o.backend = backends[b];
		o.quiet = true;
		ret = cio_loop_new(&probe, &lo);
		if (ret < 0) {
			printf("%-7s skipped: the loop cannot start here (%s)\n",
			       backends[b], strerror(-ret));
			fflush(stdout);
			continue;
		}
		cio_loop_free(probe);

		o.rw = RW_RANDREAD;
		o.bs = 4096;
		o.qd = 32;
		memset(cell, 0, sizeof(cell));
		for (int direct = 1; direct >= 0; direct--) {
			int f = direct && dfd >= 0 ? dfd : fd;

			memset(&fr, 0, sizeof(fr));
			if (file_run_fd(&o, f, TOUR_FILE_SIZE, &fr)) {
				snprintf(cell[!direct], sizeof(cell[0]), "failed");
				status = 1;
			} else {
				fmt_rate(cell[!direct], sizeof(cell[0]), fr.iops, "IOPS",
					 fr.path);
			}
		}
		o.qd = 64;
		if (nop_run(&o, &nr)) {
			snprintf(cell[2], sizeof(cell[2]), "failed");
			status = 1;
		} else {
			snprintf(cell[2], sizeof(cell[2]), "%.0f ns/op (%s)", nr.ns_per_op,
				 nr.path);
		}
		o.conns = 100;
		o.msg = 64;
		memset(&cr, 0, sizeof(cr));
		if (tour_echo(&o, &cr)) {
			snprintf(cell[3], sizeof(cell[3]), "failed");
			status = 1;
		} else {
			fmt_rate(cell[3], sizeof(cell[3]), cr.per_s, "/s",
				 cr.path ? cr.path : "-");
		}
		printf("%-7s %-26s %-26s %-20s %s\n", backends[b], cell[0], cell[1],
		       cell[2], cell[3]);
		fflush(stdout);
	}
	close(fd);
	if (dfd >= 0)
		close(dfd);
	printf("\n(%.0f s; the temp file is gone. For one workload at a time see "
	       "cio-bench file|nop|echo-server|echo-client --help, and man cio-bench.)\n",
	       (double)(now_ns() - t0) / (double)NS_PER_SEC);
	return status;
}

/* ===================== command line ===================== */

static void usage(FILE *f)
{
	fputs("usage: cio-bench                  the tour: every workload on every backend\n"
	      "       cio-bench tour [--runtime S]\n"
	      "       cio-bench file [--rw read|write|randread|randwrite] [--bs 4k] [--qd 32]\n"
	      "                      [--direct] [--size 1G] [--runtime 10]\n"
	      "                      [--backend auto|uring|aio|pool] [--sqpoll] [--fixed]\n"
	      "                      [--json] FILE\n"
	      "       cio-bench nop [--qd 64] [--runtime 5] [--backend ...] [--json]\n"
	      "       cio-bench echo-server --port P [--backend ...] [--pool]\n"
	      "       cio-bench echo-client --port P [--conns 100] [--msg 64] [--runtime 5]\n"
	      "                      [--backend ...] [--json]\n"
	      "Each command ends with a RESULT line (with --json: one JSON object\n"
	      "instead); see cio-bench(1).\n", f);
}

/* 4096, 4k, 8M, 1G (powers of 1024). 0 on a malformed size. */
static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (shift && (*end == 'i' || *end == 'I'))
		end++;
	if (shift && (*end == 'b' || *end == 'B'))
		end++;
	if (*end || v > (UINT64_MAX >> shift))
		return 0;
	return (uint64_t)v << shift;
}

static bool parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = (unsigned)v;
	return true;
}

enum {
	OPT_RW = 'r', OPT_BS = 'b', OPT_QD = 'q', OPT_DIRECT = 'd', OPT_SIZE = 's',
	OPT_RUNTIME = 't', OPT_BACKEND = 'B', OPT_SQPOLL = 'S', OPT_FIXED = 'F',
	OPT_PORT = 'p', OPT_POOL = 'P', OPT_CONNS = 'c', OPT_MSG = 'm', OPT_HELP = 'h',
	OPT_JSON = 'j',
};

struct command {
	const char *name;
	const char *takes;      /* the OPT_* letters this command accepts */
	int       (*run)(const struct opts *o);
	double      runtime;    /* default */
	unsigned    qd;         /* default */
};

static const struct command commands[] = {
	{ "file", "rbqdstBSFjh", cmd_file, 10, 32 },
	{ "nop", "qtBSjh", cmd_nop, 5, 64 },
	{ "echo-server", "pBSPh", cmd_echo_server, 0, 0 },
	{ "echo-client", "pctmBSjh", cmd_echo_client, 5, 0 },
	{ "tour", "th", cmd_tour, 2, 0 },
};

/* One option. Returns -1 to go on, else an exit status. */
static int parse_opt(int c, const char *arg, const struct command *cmd,
		     const char *optname, struct opts *o)
{
	uint64_t v;

	if (c == '?' || c == ':')     /* getopt said what was wrong */
		return 2;
	if (!strchr(cmd->takes, c))
		return fail2("%s: %s does not apply here (see --help)", cmd->name, optname);
	switch (c) {
	case OPT_HELP:
		usage(stdout);
		return 0;
	case OPT_RW:
		for (o->rw = 0; o->rw < 4; o->rw++)
			if (!strcmp(arg, rw_names[o->rw]))
				return -1;
		return fail2("--rw wants read, write, randread or randwrite");
	case OPT_BS:
		v = parse_size(arg);
		if (!v || v > 64u << 20)
			return fail2("--bs wants a size from 1 to 64M, like 4k");
		o->bs = (size_t)v;
		return -1;
	case OPT_QD:
		if (!parse_uint(arg, 1, MAX_QD, &o->qd))
			return fail2("--qd wants 1..%u", MAX_QD);
		o->qd_set = true;
		return -1;
	case OPT_DIRECT:
		o->direct = true;
		return -1;
	case OPT_SIZE:
		o->size = parse_size(arg);
		if (!o->size)
			return fail2("--size wants a size like 8M or 1G");
		o->size_set = true;
		return -1;
	case OPT_RUNTIME: {
		char *end;

		errno = 0;
		o->runtime = strtod(arg, &end);
		if (errno || *end || end == arg || !(o->runtime > 0) ||
		    o->runtime > MAX_RUNTIME)
			return fail2("--runtime wants seconds, more than 0 and at most %.0f",
				     MAX_RUNTIME);
		o->runtime_set = true;
		return -1;
	}
	case OPT_BACKEND:
		if (strcmp(arg, "auto") && strcmp(arg, "uring") && strcmp(arg, "aio") &&
		    strcmp(arg, "pool"))
			return fail2("unknown backend '%s': use auto, uring, aio or pool", arg);
		o->backend = strcmp(arg, "auto") ? arg : NULL;
		return -1;
	case OPT_SQPOLL:
		o->sqpoll = true;
		return -1;
	case OPT_FIXED:
		o->fixed = true;
		return -1;
	case OPT_PORT: {
		unsigned port;

		if (!parse_uint(arg, 0, 65535, &port))
			return fail2("--port wants 0..65535");
		o->port = (int)port;
		return -1;
	}
	case OPT_POOL:
		o->pool = true;
		return -1;
	case OPT_CONNS:
		if (!parse_uint(arg, 1, MAX_CONNS, &o->conns))
			return fail2("--conns wants 1..%u", MAX_CONNS);
		return -1;
	case OPT_JSON:
		o->json = true;
		return -1;
	case OPT_MSG:
		v = parse_size(arg);
		if (!v || v > MAX_MSG)
			return fail2("--msg wants 1 byte to 1M");
		o->msg = (size_t)v;
		return -1;
	}
	return fail2("unknown option");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "rw", required_argument, NULL, OPT_RW },
		{ "bs", required_argument, NULL, OPT_BS },
		{ "qd", required_argument, NULL, OPT_QD },
		{ "direct", no_argument, NULL, OPT_DIRECT },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "runtime", required_argument, NULL, OPT_RUNTIME },
		{ "backend", required_argument, NULL, OPT_BACKEND },
		{ "sqpoll", no_argument, NULL, OPT_SQPOLL },
		{ "fixed", no_argument, NULL, OPT_FIXED },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "pool", no_argument, NULL, OPT_POOL },
		{ "conns", required_argument, NULL, OPT_CONNS },
		{ "msg", required_argument, NULL, OPT_MSG },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = {
		.rw = RW_RANDREAD, .bs = 4096, .size = 1ull << 30, .port = -1,
		.conns = 100, .msg = 64,
	};
	const struct command *cmd = NULL;
	int c, idx, ret;

	if (argc < 2) {
		o.runtime = 2;
		return cmd_tour(&o);
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			cmd = &commands[i];
	if (!cmd)
		return fail2("unknown command '%s': use file, nop, echo-server, "
			     "echo-client or tour (see --help)", argv[1]);
	o.runtime = cmd->runtime;
	o.qd = cmd->qd;
	argv++;
	argc--;
	opterr = 0;     /* our own one-line message below */
	while (idx = -1, (c = getopt_long(argc, argv, ":h", longopts, &idx)) != -1) {
		char name[32];

		/* For '?' and ':' getopt has just stepped past the bad word. */
		if (c == '?') {
			return optopt ? fail2("%s: unknown option -%c", cmd->name, optopt)
				      : fail2("%s: unknown option %s", cmd->name,
					      argv[optind - 1]);
		}
		if (c == ':')
			return fail2("%s: %s wants a value", cmd->name, argv[optind - 1]);
		snprintf(name, sizeof(name), "--%s", idx >= 0 ? longopts[idx].name : "help");
		ret = parse_opt(c, optarg, cmd, name, &o);
		if (ret >= 0)
			return ret;
	}
	if (!strcmp(cmd->name, "file")) {
		if (argc - optind != 1)
			return fail2("file: name one FILE (see --help)");
		o.file = argv[optind];
	} else if (argc != optind) {
		return fail2("%s: unexpected argument '%s'", cmd->name, argv[optind]);
	}
	if (!strncmp(cmd->name, "echo", 4) && o.port < 0)
		return fail2("%s: --port P is required", cmd->name);
	if (!strcmp(cmd->name, "echo-client") && o.port == 0)
		return fail2("echo-client: --port wants the server's port, 1..65535");
	return cmd->run(&o);
}
