/* SPDX-License-Identifier: MIT */
/*
 * Stress: on each backend, a random mix of file writes and reads with
 * every block checked, socket echo, timers, deadlines, CIO_LINK chains,
 * cancels and cancel_fd, with faults injected (CIO_FAULTS), from a seed
 * that is printed so a failure replays. It asserts that every accepted
 * request got exactly one final callback, that the file holds exactly
 * what the writes reported (no block lost, none torn where a write said
 * it was whole), and that fds and pool threads return to their start.
 * A second case, the cancel storm, checks every read against the last
 * write that succeeded before it was submitted (API.md guarantee 6).
 *
 *   STRESS_SECONDS=N   seconds per backend (default 2)
 *   STRESS_SEED=N      the seed (default: from the clock, printed)
 *   STRESS_FAULTS=...  CIO_FAULTS for the run (default below; "none": off)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define BLK       4096u
#define NBLK      512u               /* a 2 MiB file */
#define HDR       24u                /* offset, sequence, crc32c (+pad) */
#define FSLOTS    24
#define NPAIRS    8
#define MAXMSG    3000u
#define NTIMERS   8
#define DEFAULT_FAULTS "eio=0.002,short=0.02,eagain=0.02,delay_us=0-300,delay=0.02"

/* ------------------------------------------------------------------ */
/* crc32c (Castagnoli), bitwise: small and plenty fast for a test. */
static uint32_t crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = ~0u;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
	}
	return ~c;
}

static uint64_t rng;

static uint64_t rnd(void)
{
	return t_rand(&rng);
}

static uint32_t below(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

/* ------------------------------------------------------------------ */

enum { K_FILE, K_FSYNC, K_CLIENT, K_SERVER, K_TIMER, K_WORK, K_TICK };

struct slot {
	cio_req  req;
	int      kind;
	bool     inflight;
	int      idx;            /* file slot, pair or timer number */
};

struct fslot {
	struct slot s, sync;     /* the transfer; an fsync linked after a write */
	uint8_t    *buf;
	uint32_t    blk;
	bool        writing;
	uint64_t    seq;
};

struct pair {
	struct slot cli, srv;
	int      fd[2];
	bool     dead;
	uint32_t len;            /* the message in flight */
	uint8_t  out[MAXMSG], back[MAXMSG], sbuf[MAXMSG];
	uint32_t sgot;           /* the server's bytes to echo */
	int      phase;          /* client: 0 sending, 1 receiving */
	uint64_t msgs;
};

struct timerslot {
	struct slot s;
	uint64_t    deadline;
};

static struct {
	cio_loop *loop;
	int       fd;
	bool      stopping;
	uint8_t  *expect;        /* NBLK blocks: what the file must hold */
	uint8_t   torn[NBLK];    /* a write to it ended part way */
	bool      busy[NBLK];
	uint64_t  seq;
	struct fslot f[FSLOTS];
	struct pair  p[NPAIRS];
	struct timerslot t[NTIMERS];
	struct slot work[4], tick;
	uint64_t  accepted, finals, cancels, cancel_fds, verified, writes, reads;
	uint64_t  errors_seen, timeouts_seen, echoes;
	uint64_t  stopped_at;
	char      fail[256];
} S;

#define FAIL(...) do { if (!S.fail[0]) snprintf(S.fail, sizeof(S.fail), __VA_ARGS__); } while (0)

static void on_final(cio_req *req);

static bool submitted(struct slot *s, int ret)
{
	if (ret < 0) {
		FAIL("kind %d: submission refused: %s", s->kind, strerror(-ret));
		return false;
	}
	if (s->inflight)
		FAIL("kind %d: submitted while in flight", s->kind);
	s->inflight = true;
	S.accepted++;
	return true;
}

/* A deadline on some requests: mostly generous, sometimes tight. */
static void maybe_deadline(cio_req *req)
{
	uint32_t r = below(100);

	req->timeout_ns = r < 3 ? 50000 + below(200000) : r < 8 ? 50000000 : 0;
}

/* ------------------------------------------------------------------ */
/* File blocks: [offset, sequence, crc32c of the payload] + payload. */

static void make_block(uint8_t *b, uint32_t blk, uint64_t seq)
{
	uint64_t off = (uint64_t)blk * BLK;
	uint32_t crc;

	for (uint32_t i = HDR; i < BLK; i += 8) {
		uint64_t v = rnd();

		memcpy(b + i, &v, 8);
	}
	memcpy(b, &off, 8);
	memcpy(b + 8, &seq, 8);
	crc = crc32c(b + HDR, BLK - HDR);
	memcpy(b + 16, &crc, 4);
	memset(b + 20, 0, 4);
}

static void check_block(const uint8_t *b, uint32_t blk, const char *what)
{
	const uint8_t *e = S.expect + (size_t)blk * BLK;
	uint64_t off;
	uint32_t crc;

	if (memcmp(b, e, BLK)) {
		FAIL("%s: block %u differs from what the writes reported", what, blk);
		return;
	}
	if (S.torn[blk])
		return;
	memcpy(&off, b, 8);
	memcpy(&crc, b + 16, 4);
	if (off != (uint64_t)blk * BLK || crc != crc32c(b + HDR, BLK - HDR))
		FAIL("%s: block %u: bad header or crc", what, blk);
}

static void file_start(struct fslot *f)
{
	struct cio_req *r = &f->s.req;
	uint32_t blk;
	int tries = 0;

	do
		blk = below(NBLK);
	while (S.busy[blk] && ++tries < 8);
	if (S.busy[blk])
		return;
	S.busy[blk] = true;
	f->blk = blk;
	f->writing = below(2);
	r->opts = CIO_ALL;
	maybe_deadline(r);
	if (f->writing) {
		f->seq = ++S.seq;
		make_block(f->buf, blk, f->seq);
		/* One write in eight is made durable in the same chain. */
		if (!below(8))
			r->opts |= CIO_LINK;
		if (submitted(&f->s, cio_write(S.loop, r, S.fd, f->buf, BLK,
					       (int64_t)blk * BLK, on_final)) &&
		    (r->opts & CIO_LINK)) {
			f->sync.req.opts = 0;
			f->sync.req.timeout_ns = 0;
			submitted(&f->sync, cio_fsync(S.loop, &f->sync.req, S.fd,
						      CIO_FSYNC_DATA, on_final));
		}
		S.writes++;
	} else {
		memset(f->buf, 0xee, BLK);
		submitted(&f->s, cio_read(S.loop, r, S.fd, f->buf, BLK,
					  (int64_t)blk * BLK, on_final));
		S.reads++;
	}
}

static void file_done(struct fslot *f, cio_req *req)
{
	int64_t moved = cio_transferred(req);
	uint8_t *e = S.expect + (size_t)f->blk * BLK;

	if (moved < 0 || moved > (int64_t)BLK) {
		FAIL("file: %lld bytes moved of %u", (long long)moved, BLK);
		return;
	}
	if (req->res < 0)
		S.errors_seen++;
	if (req->res == -ETIMEDOUT)
		S.timeouts_seen++;
	if (req->res >= 0 && req->res != (int64_t)BLK)
		FAIL("file: CIO_ALL %s gave %lld of %u", f->writing ? "write" : "read",
		     (long long)req->res, BLK);
	if (f->writing) {
		/* What the write says it wrote is what the file now holds. */
		memcpy(e, f->buf, (size_t)moved);
		if (moved == (int64_t)BLK)
			S.torn[f->blk] = 0;
		else if (moved)
			S.torn[f->blk] = 1;
	} else if (moved) {
		if (moved == (int64_t)BLK)
			check_block(f->buf, f->blk, "read");
		else if (memcmp(f->buf, e, (size_t)moved))
			FAIL("read: block %u: the %lld bytes read differ", f->blk,
			     (long long)moved);
		S.verified += (uint64_t)moved;
	}
}

/* ------------------------------------------------------------------ */
/* Echo pairs: the client sends a message (CIO_ALL) and reads it back
 * (CIO_ALL); the server receives what comes and sends it back. */

static void pair_open(struct pair *p)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p->fd) < 0)
		FAIL("socketpair: %s", strerror(errno));
	p->dead = false;
	p->phase = 0;
}

static void server_recv(struct pair *p)
{
	cio_req *r = &p->srv.req;

	r->opts = 0;
	r->timeout_ns = 200000000;   /* idle: go round again */
	submitted(&p->srv, cio_recv(S.loop, r, p->fd[1], p->sbuf, MAXMSG, 0, on_final));
}

static void client_send(struct pair *p)
{
	cio_req *r = &p->cli.req;

	p->len = 1 + below(MAXMSG);
	for (uint32_t i = 0; i < p->len; i++)
		p->out[i] = (uint8_t)rnd();
	p->phase = 0;
	r->opts = CIO_ALL;
	r->timeout_ns = 0;
	submitted(&p->cli, cio_send(S.loop, r, p->fd[0], p->out, p->len, 0, on_final));
}

static void pair_maybe_reopen(struct pair *p)
{
	if (!p->dead || p->cli.inflight || p->srv.inflight)
		return;
	close(p->fd[0]);
	close(p->fd[1]);
	if (S.stopping)
		return;
	pair_open(p);
	server_recv(p);
	client_send(p);
}

static void pair_kill(struct pair *p)
{
	if (p->dead)
		return;
	p->dead = true;
	/* A server closes a connection safely: cancel, then close once
	 * every callback has run. */
	cio_cancel_fd(S.loop, p->fd[0]);
	cio_cancel_fd(S.loop, p->fd[1]);
	S.cancel_fds++;
	/* Nothing in flight on it: close (and reopen) now. */
	pair_maybe_reopen(p);
}

static void client_done(struct pair *p, cio_req *req)
{
	if (p->dead) {
		pair_maybe_reopen(p);
		return;
	}
	if (req->res < 0 || (p->phase == 1 && req->res == 0)) {
		S.errors_seen++;
		pair_kill(p);
		pair_maybe_reopen(p);
		return;
	}
	if (req->res != (int64_t)p->len) {
		FAIL("echo: CIO_ALL moved %lld of %u", (long long)req->res, p->len);
		return;
	}
	if (p->phase == 0) {
		p->phase = 1;
		req->opts = CIO_ALL;
		submitted(&p->cli, cio_recv(S.loop, req, p->fd[0], p->back, p->len, 0,
					    on_final));
		return;
	}
	if (memcmp(p->out, p->back, p->len))
		FAIL("echo: pair %d: message %llu came back wrong", p->cli.idx,
		     (unsigned long long)p->msgs);
	S.verified += p->len;
	S.echoes++;
	p->msgs++;
	if (!S.stopping)
		client_send(p);
}

static void server_done(struct pair *p, cio_req *req)
{
	if (p->dead) {
		pair_maybe_reopen(p);
		return;
	}
	if (req->res == -ETIMEDOUT) {
		S.timeouts_seen++;
		if (!S.stopping)
			server_recv(p);
		return;
	}
	if (req->res <= 0) {
		if (!(S.stopping && req->res == -ECANCELED))
			S.errors_seen++;
		pair_kill(p);
		pair_maybe_reopen(p);
		return;
	}
	if (req->opts & CIO_ALL) {       /* the echo went out */
		if (!S.stopping)
			server_recv(p);
		return;
	}
	p->sgot = (uint32_t)req->res;
	req->opts = CIO_ALL;
	req->timeout_ns = 0;
	submitted(&p->srv, cio_send(S.loop, req, p->fd[1], p->sbuf, p->sgot, 0, on_final));
}

/* ------------------------------------------------------------------ */

static void timer_start(struct timerslot *t)
{
	uint64_t ns = below(3000) * 1000ull;

	t->deadline = t_now_ns() + ns;
	t->s.req.opts = 0;
	t->s.req.timeout_ns = 0;
	submitted(&t->s, cio_timer(S.loop, &t->s.req, ns, on_final));
}

static void work_fn(cio_req *req)
{
	volatile uint32_t x = 0;

	for (int i = 0; i < 1000; i++)
		x += (uint32_t)i;
	(void)req;
}

static void work_start(struct slot *w)
{
	w->req.opts = 0;
	w->req.timeout_ns = 0;
	submitted(w, cio_work(S.loop, &w->req, work_fn, on_final));
}

static void dump_slot(const char *what, int i, const struct slot *s)
{
	if (s->inflight)
		printf("  in flight: %s %d (kind %d), opts %#x, timeout %llu\n", what, i,
		       s->kind, s->req.opts, (unsigned long long)s->req.timeout_ns);
}

static void dump_inflight(void)
{
	for (int i = 0; i < FSLOTS; i++) {
		dump_slot(S.f[i].writing ? "write" : "read", i, &S.f[i].s);
		dump_slot("fsync", i, &S.f[i].sync);
	}
	for (int i = 0; i < NPAIRS; i++) {
		dump_slot(S.p[i].phase ? "client recv" : "client send", i, &S.p[i].cli);
		dump_slot("server", i, &S.p[i].srv);
	}
	for (int i = 0; i < NTIMERS; i++)
		dump_slot("timer", i, &S.t[i].s);
	for (int i = 0; i < 4; i++)
		dump_slot("work", i, &S.work[i]);
	fflush(stdout);
}

/* Every millisecond or so: cancel a random request, now and then a whole
 * connection. */
static void tick(void)
{
	uint32_t r = below(FSLOTS + NPAIRS + NTIMERS);
	cio_req *target = NULL;

	if (r < FSLOTS)
		target = S.f[r].s.inflight ? &S.f[r].s.req : NULL;
	else if (r < FSLOTS + NPAIRS)
		target = S.p[r - FSLOTS].cli.inflight ? &S.p[r - FSLOTS].cli.req : NULL;
	else
		target = S.t[r - FSLOTS - NPAIRS].s.inflight ? &S.t[r - FSLOTS - NPAIRS].s.req : NULL;
	if (target && !below(4)) {
		int ret = cio_cancel(S.loop, target);

		if (ret != 0 && ret != -ENOENT)
			FAIL("cancel: %s", strerror(-ret));
		S.cancels++;
	}
	if (!below(200) && !S.stopping)
		pair_kill(&S.p[below(NPAIRS)]);
	if (S.stopping) {
		/* A watchdog while winding down: with only itself left it
		 * ends; if something never completes, say what and stop. */
		if (S.accepted - S.finals == 0)
			return;
		if (t_now_ns() - S.stopped_at > 20000000000ull) {
			dump_inflight();
			FAIL("winding down: %llu requests never completed",
			     (unsigned long long)(S.accepted - S.finals));
			cio_stop(S.loop);
			return;
		}
	}
	S.tick.req.opts = 0;
	S.tick.req.timeout_ns = 0;
	submitted(&S.tick, cio_timer(S.loop, &S.tick.req, S.stopping ? 100000000 : 1000000,
				     on_final));
}

static void on_final(cio_req *req)
{
	struct slot *s = (struct slot *)req;   /* req is the first member */

	if (req->flags & CIO_F_MORE) {
		FAIL("kind %d: a multishot flag on a single request", s->kind);
		return;
	}
	if (!s->inflight)
		FAIL("kind %d: a callback for a request not in flight", s->kind);
	s->inflight = false;
	S.finals++;
	switch (s->kind) {
	case K_FILE: {
		struct fslot *f = &S.f[s->idx];

		file_done(f, req);
		/* A linked fsync still pending keeps the block busy. */
		if (!f->sync.inflight) {
			S.busy[f->blk] = false;
			if (!S.stopping)
				file_start(f);
		}
		break;
	}
	case K_FSYNC: {
		struct fslot *f = &S.f[s->idx];

		if (req->res < 0 && req->res != -ECANCELED && req->res != -EIO)
			FAIL("fsync: %s", strerror((int)-req->res));
		if (!f->s.inflight) {
			S.busy[f->blk] = false;
			if (!S.stopping)
				file_start(f);
		}
		break;
	}
	case K_CLIENT:
		client_done(&S.p[s->idx], req);
		break;
	case K_SERVER:
		server_done(&S.p[s->idx], req);
		break;
	case K_TIMER: {
		struct timerslot *t = &S.t[s->idx];

		if (req->res == 0 && t_now_ns() < t->deadline)
			FAIL("timer fired early");
		if (req->res != 0 && req->res != -ECANCELED)
			FAIL("timer: %lld", (long long)req->res);
		if (!S.stopping)
			timer_start(t);
		break;
	}
	case K_WORK:
		if (req->res != 0 && req->res != -ECANCELED)
			FAIL("work: %lld", (long long)req->res);
		if (!S.stopping)
			work_start(s);
		break;
	case K_TICK:
		tick();
		break;
	}
}

/* ------------------------------------------------------------------ */

static unsigned count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	unsigned n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void *stress_run(void *arg)
{
	const char *env = getenv("STRESS_SECONDS");
	const char *faults = getenv("STRESS_FAULTS");
	double secs = env ? atof(env) : 2.0;
	uint64_t seed = getenv("STRESS_SEED") ? strtoull(getenv("STRESS_SEED"), NULL, 0) :
			(t_now_ns() ^ (uint64_t)getpid());
	char spec[256], *dir;
	struct cio_stats st;
	uint64_t end;
	int dfd;

	memset(&S, 0, sizeof(S));
	rng = seed | 1;
	if (!faults)
		faults = DEFAULT_FAULTS;
	if (strcmp(faults, "none")) {
		snprintf(spec, sizeof(spec), "%s,seed=%llu", faults, (unsigned long long)seed);
		setenv("CIO_FAULTS", spec, 1);
	}
	printf("stress [%s]: seed %llu, %.1f s, faults \"%s\" (replay: STRESS_SEED=%llu)\n",
	       t_variant, (unsigned long long)seed, secs, faults, (unsigned long long)seed);
	fflush(stdout);
	dir = t_tmpdir();
	dfd = t_dirfd(dir);

	S.loop = t_loop_new();
	S.fd = t_mkfile(dfd, "data", (size_t)NBLK * BLK, 0);
	S.expect = malloc((size_t)NBLK * BLK);
	ck_assert_ptr_nonnull(S.expect);
	ck_assert_int_eq(pread(S.fd, S.expect, (size_t)NBLK * BLK, 0), (ssize_t)(NBLK * BLK));
	memset(S.torn, 1, sizeof(S.torn));   /* no headers yet: content only */

	for (int i = 0; i < FSLOTS; i++) {
		S.f[i].s.kind = K_FILE;
		S.f[i].sync.kind = K_FSYNC;
		S.f[i].s.idx = S.f[i].sync.idx = i;
		ck_assert_int_eq(posix_memalign((void **)&S.f[i].buf, BLK, BLK), 0);
		file_start(&S.f[i]);
	}
	for (int i = 0; i < NPAIRS; i++) {
		S.p[i].cli.kind = K_CLIENT;
		S.p[i].srv.kind = K_SERVER;
		S.p[i].cli.idx = S.p[i].srv.idx = i;
		pair_open(&S.p[i]);
		server_recv(&S.p[i]);
		client_send(&S.p[i]);
	}
	for (int i = 0; i < NTIMERS; i++) {
		S.t[i].s.kind = K_TIMER;
		S.t[i].s.idx = i;
		timer_start(&S.t[i]);
	}
	for (int i = 0; i < 4; i++) {
		S.work[i].kind = K_WORK;
		work_start(&S.work[i]);
	}
	S.tick.kind = K_TICK;
	tick();

	end = t_now_ns() + (uint64_t)(secs * 1e9);
	while (t_now_ns() < end && !S.fail[0])
		ck_assert_int_ge(cio_run(S.loop, CIO_RUN_ONCE), 0);
	/* Wind down: nothing new is started; connections are cancelled. */
	S.stopping = true;
	S.stopped_at = t_now_ns();
	for (int i = 0; i < NPAIRS; i++)
		pair_kill(&S.p[i]);
	ck_assert_int_ge(cio_run(S.loop, CIO_RUN_DEFAULT), 0);
	ck_assert_msg(!S.fail[0], "[%s] seed %llu: %s", t_variant, (unsigned long long)seed,
		      S.fail);

	/* Exactly one final callback for every accepted request. */
	ck_assert_uint_eq(S.accepted, S.finals);
	ck_assert_int_eq(cio_loop_stats(S.loop, &st), 0);
	ck_assert_uint_eq(st.inflight, 0);
	ck_assert_uint_eq(st.submitted, S.accepted);
	ck_assert_uint_eq(st.completed, S.finals);

	/* The file holds what the writes reported, block for block. */
	{
		uint8_t *all = malloc((size_t)NBLK * BLK);

		ck_assert_int_eq(pread(S.fd, all, (size_t)NBLK * BLK, 0), (ssize_t)(NBLK * BLK));
		for (uint32_t b = 0; b < NBLK; b++)
			check_block(all + (size_t)b * BLK, b, "final read-back");
		ck_assert_msg(!S.fail[0], "[%s] seed %llu: %s", t_variant,
			      (unsigned long long)seed, S.fail);
		S.verified += (uint64_t)NBLK * BLK;
		free(all);
	}
	printf("stress [%s]: %llu ops (%llu writes, %llu reads, %llu echoes), %llu cancels, "
	       "%llu cancel_fd, %llu faults, %llu timeouts, %llu errors seen, "
	       "%llu bytes verified, 0 violations\n", t_variant,
	       (unsigned long long)S.accepted, (unsigned long long)S.writes,
	       (unsigned long long)S.reads, (unsigned long long)S.echoes,
	       (unsigned long long)S.cancels, (unsigned long long)S.cancel_fds,
	       (unsigned long long)st.faults, (unsigned long long)st.timeouts,
	       (unsigned long long)S.errors_seen, (unsigned long long)S.verified);
	fflush(stdout);

	close(S.fd);
	for (int i = 0; i < FSLOTS; i++)
		free(S.f[i].buf);
	free(S.expect);
	t_loop_free(S.loop);
	close(dfd);
	t_tmpdir_rm(dir);
	unsetenv("CIO_FAULTS");
	return arg;
}

START_TEST(stress)
{
	unsigned fds0, tasks0, fds1, tasks1 = 0;
	pthread_t th;

	fds0 = count_dir("/proc/self/fd");
	tasks0 = count_dir("/proc/self/task");
	/*
	 * The run has a thread of its own, ended before the count. io_uring
	 * punts work that would block (buffered writes to ext4 before 6.x)
	 * to io-wq workers, iou-wrk-<pid> threads of the submitting thread,
	 * not of the ring: they idle out after 5 s, but the last one of
	 * each kind stays until that thread exits, every ring closed or
	 * not; only kernels with io-wq's exit-on-idle mode (late 2025: the
	 * host's 6.18, not Debian's 5.10 or 6.1) let it go when the thread's
	 * last ring closes. Ending the thread ends them on every kernel, so
	 * the count below stays exact; the library's own threads (its pool)
	 * outlive it and still count. (Check's assertions leave a thread by
	 * exit(), as CK_FORK runs them.)
	 */
	ck_assert_int_eq(pthread_create(&th, NULL, stress_run, NULL), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);

	/* Nothing leaked: fds at once, pool threads once they idle out. */
	fds1 = count_dir("/proc/self/fd");
	ck_assert_uint_eq(fds1, fds0);
	/* Idle threads leave after CIO_POOL_IDLE_MS (50 ms here); a minute
	 * leaves a loaded machine room to schedule them. */
	for (uint64_t t0 = t_now_ns(); t_now_ns() - t0 < 60000000000ull; usleep(20000)) {
		tasks1 = count_dir("/proc/self/task");
		if (tasks1 <= tasks0)
			break;
	}
	ck_assert_uint_le(tasks1, tasks0);
}
END_TEST

/* ------------------------------------------------------------------ */
/*
 * The cancel storm: API.md guarantee 6 checked read by read. 512 requests
 * in flight, each a 4 KiB buffered write or read of one of 1,024 blocks
 * (never two on one block at once), with deadlines and random cio_cancel
 * calls (just after submission, from callbacks, from a timer). Every word
 * of a written block carries (block, stamp), so a read shows exactly which
 * write it saw: it must be the last one whose success callback ran before
 * the read was submitted. A write that ended -ECANCELED or -ETIMEDOUT
 * without moving a byte did not happen and never will.
 */
#define STORM_SLOTS 512
#define STORM_BLKS  1024u

struct storm_slot {
	cio_req  req;
	uint64_t *buf;
	uint32_t blk;
	bool     writing, inflight;
	uint64_t stamp;          /* a write's own; a read's expected one */
};

static struct {
	cio_loop *loop;
	int       fd;
	bool      stopping;
	uint64_t  stamp;
	uint64_t  last[STORM_BLKS];   /* stamp of the last successful write */
	bool      torn[STORM_BLKS];   /* a write to it ended part way */
	bool      busy[STORM_BLKS];
	struct storm_slot s[STORM_SLOTS];
	cio_req   tick;
	uint64_t  accepted, finals, cancels, cancelled, reads_checked, stale;
	char      fail[256];
} W;

#define WFAIL(...) do { if (!W.fail[0]) snprintf(W.fail, sizeof(W.fail), __VA_ARGS__); } while (0)

static void storm_cb(cio_req *req);

/* What a block holds after the write with this stamp (0: never written). */
static uint64_t storm_word(uint32_t blk, uint64_t stamp, unsigned i)
{
	return stamp ? ((uint64_t)blk << 40 | stamp) ^ ((uint64_t)i * 0x9e3779b97f4a7c15ull) : 0;
}

static void storm_cancel_some(void)
{
	struct storm_slot *v = &W.s[below(STORM_SLOTS)];

	if (!v->inflight)
		return;
	int ret = cio_cancel(W.loop, &v->req);

	if (ret != 0)
		WFAIL("cancel of a request in flight: %d", ret);
	W.cancels++;
}

static void storm_start(struct storm_slot *v)
{
	cio_req *r = &v->req;
	uint32_t blk, x;
	int ret;

	do
		blk = below(STORM_BLKS);
	while (W.busy[blk]);
	W.busy[blk] = true;
	v->blk = blk;
	v->writing = below(2);
	x = below(100);
	r->timeout_ns = x < 3 ? 20000 + below(200000) : x < 6 ? 50000000 : 0;
	r->opts = below(2) ? CIO_ALL : 0;
	if (v->writing) {
		v->stamp = ++W.stamp;
		for (unsigned i = 0; i < BLK / 8; i++)
			v->buf[i] = storm_word(blk, v->stamp, i);
		ret = cio_write(W.loop, r, W.fd, v->buf, BLK, (int64_t)blk * BLK, storm_cb);
	} else {
		v->stamp = W.last[blk];
		memset(v->buf, 0xee, BLK);
		ret = cio_read(W.loop, r, W.fd, v->buf, BLK, (int64_t)blk * BLK, storm_cb);
	}
	if (ret < 0) {
		WFAIL("storm: submission refused: %s", strerror(-ret));
		W.busy[blk] = false;
		return;
	}
	v->inflight = true;
	W.accepted++;
	/* Now and then cancel it at once: it is certainly still queued. */
	if (!below(16)) {
		ck_assert_int_eq(cio_cancel(W.loop, r), 0);
		W.cancels++;
	}
}

static void storm_check_read(struct storm_slot *v, int64_t moved)
{
	for (unsigned i = 0; i < (unsigned)moved / 8; i++) {
		uint64_t want = storm_word(v->blk, v->stamp, i);

		if (v->buf[i] == want)
			continue;
		/* Which write did it see? Undo the mixing of word i. */
		uint64_t seen = v->buf[i] ^ ((uint64_t)i * 0x9e3779b97f4a7c15ull);

		W.stale++;
		WFAIL("block %u: a read submitted after write #%llu succeeded saw "
		      "%s (word %u: %#llx)", v->blk, (unsigned long long)v->stamp,
		      v->buf[i] == 0 ? "a never-written block" :
		      (seen >> 40) == v->blk ? "another write" : "foreign data",
		      i, (unsigned long long)v->buf[i]);
		if ((seen >> 40) == v->blk)
			snprintf(W.fail + strlen(W.fail), sizeof(W.fail) - strlen(W.fail),
				 " = write #%llu", (unsigned long long)(seen & ((1ull << 40) - 1)));
		return;
	}
}

static void storm_cb(cio_req *req)
{
	struct storm_slot *v = (struct storm_slot *)req;
	int64_t moved = cio_transferred(req);

	if (!v->inflight)
		WFAIL("storm: a callback for a request not in flight");
	v->inflight = false;
	W.finals++;
	if (req->res == -ECANCELED || req->res == -ETIMEDOUT)
		W.cancelled++;
	else if (req->res != (int64_t)BLK)
		WFAIL("storm: %s of block %u: %lld", v->writing ? "write" : "read",
		      v->blk, (long long)req->res);
	if (moved < 0 || moved > (int64_t)BLK)
		WFAIL("storm: %lld bytes moved", (long long)moved);
	if (v->writing) {
		if (moved == (int64_t)BLK) {
			W.last[v->blk] = v->stamp;
			W.torn[v->blk] = false;
		} else if (moved > 0) {
			W.torn[v->blk] = true;
		}
	} else if (moved > 0 && !W.torn[v->blk]) {
		storm_check_read(v, moved);
		W.reads_checked++;
	}
	W.busy[v->blk] = false;
	if (!below(4))
		storm_cancel_some();
	if (!W.stopping && !W.fail[0])
		storm_start(v);
}

static void storm_tick(cio_req *req)
{
	(void)req;
	W.finals++;
	for (int i = 0; i < 8; i++)
		storm_cancel_some();
	if (W.stopping)
		return;
	W.tick.timeout_ns = 0;
	W.tick.opts = 0;
	if (cio_timer(W.loop, &W.tick, 200000, storm_tick) == 0)
		W.accepted++;
}

START_TEST(cancel_storm)
{
	const char *env = getenv("STRESS_SECONDS");
	double secs = env ? atof(env) : 2.0;
	uint64_t seed = getenv("STRESS_SEED") ? strtoull(getenv("STRESS_SEED"), NULL, 0) :
			(t_now_ns() ^ (uint64_t)getpid());
	uint64_t *all, end, hard_end;
	struct cio_stats st;
	char *dir;
	int dfd;

	memset(&W, 0, sizeof(W));
	rng = seed | 1;
	unsetenv("CIO_FAULTS");
	printf("cancel storm [%s]: seed %llu, %.1f s (replay: STRESS_SEED=%llu)\n",
	       t_variant, (unsigned long long)seed, secs, (unsigned long long)seed);
	fflush(stdout);
	dir = t_tmpdir();
	dfd = t_dirfd(dir);
	W.loop = t_loop_new_opts(1024);
	W.fd = openat(dfd, "storm", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(W.fd, 0);
	ck_assert_int_eq(ftruncate(W.fd, (off_t)STORM_BLKS * BLK), 0);
	for (int i = 0; i < STORM_SLOTS; i++) {
		ck_assert_int_eq(posix_memalign((void **)&W.s[i].buf, BLK, BLK), 0);
		storm_start(&W.s[i]);
	}
	storm_tick(&W.tick);
	W.finals--;                  /* that call was no callback */
	/* For the time asked, and then until enough was checked for the
	 * verdict to mean something, however slow the machine is today. */
	end = t_now_ns() + (uint64_t)(secs * 1e9);
	hard_end = end + 90 * 1000000000ull;
	while (!W.fail[0] && t_now_ns() < hard_end &&
	       (t_now_ns() < end || W.reads_checked < 2000 || W.cancelled < 20))
		ck_assert_int_ge(cio_run(W.loop, CIO_RUN_ONCE), 0);
	W.stopping = true;
	ck_assert_int_ge(cio_run(W.loop, CIO_RUN_DEFAULT), 0);
	ck_assert_msg(!W.fail[0], "[%s] seed %llu: %s", t_variant, (unsigned long long)seed,
		      W.fail);
	ck_assert_uint_eq(W.accepted, W.finals);
	ck_assert_int_eq(cio_loop_stats(W.loop, &st), 0);
	ck_assert_uint_eq(st.inflight, 0);

	/* And at the end the file holds each block's last successful write. */
	all = malloc((size_t)STORM_BLKS * BLK);
	ck_assert_ptr_nonnull(all);
	ck_assert_int_eq(pread(W.fd, all, (size_t)STORM_BLKS * BLK, 0),
			 (ssize_t)(STORM_BLKS * BLK));
	for (uint32_t b = 0; b < STORM_BLKS; b++) {
		if (W.torn[b])
			continue;
		for (unsigned i = 0; i < BLK / 8; i++)
			ck_assert_msg(all[(size_t)b * (BLK / 8) + i] == storm_word(b, W.last[b], i),
				      "[%s] seed %llu: block %u does not hold write #%llu",
				      t_variant, (unsigned long long)seed, b,
				      (unsigned long long)W.last[b]);
	}
	printf("cancel storm [%s]: %llu requests, %llu cancels, %llu ended cancelled, "
	       "%llu reads checked, 0 stale\n", t_variant, (unsigned long long)W.accepted,
	       (unsigned long long)W.cancels, (unsigned long long)W.cancelled,
	       (unsigned long long)W.reads_checked);
	fflush(stdout);
	ck_assert_uint_ge(W.reads_checked, 2000);
	ck_assert_uint_ge(W.cancelled, 20);
	free(all);
	for (int i = 0; i < STORM_SLOTS; i++)
		free(W.s[i].buf);
	close(W.fd);
	t_loop_free(W.loop);
	close(dfd);
	t_tmpdir_rm(dir);
}
END_TEST

static Suite *stress_suite(void)
{
	Suite *s = suite_create("stress");
	TCase *tc = tcase_create("stress");
	const char *env = getenv("STRESS_SECONDS");

	tcase_set_timeout(tc, (double)T_TIMEOUT + (env ? atof(env) : 0));
	tcase_add_test(tc, stress);
	tcase_add_test(tc, cancel_storm);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	/* Idle pool threads leave soon, so the end can count them. */
	setenv("CIO_POOL_IDLE_MS", "50", 1);
	return t_main(stress_suite);
}
