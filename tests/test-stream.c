/* SPDX-License-Identifier: MIT */
/* Streams: a pipe between two loops on two threads; receiving into provided
 * buffers with fewer buffers than connections; sendfile and splice; plain
 * read/write on sockets and pipes; and where each runs (cio_op_path). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "helpers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/uio.h>

#define USEC 1000ull
#define SEC  1000000000ull

/* ------------------------------------------------------------------ */
/* A pipe between two loops, each on its own thread. Check's assertions are
 * not for other threads, so each side records its first failure in why[]
 * and cancels everything; the test thread asserts after joining. */

#define PIPE_TOTAL (8 * MiB)
#define PIPE_WRITE (64 * KiB)
#define PIPE_READ  (128 * KiB)
#define PIPE_SEED  4242

struct pside {
	cio_loop *loop;
	int       fd, flags;          /* flags: F_GETFL after the loop ended */
	bool      writer, done;
	cio_req   req;
	struct t_watchdog watchdog;
	uint8_t  *buf;
	size_t    pos, len, part;     /* bytes moved; the current write */
	unsigned  rng, subs, cbs, shorts;
	char      why[200];
};

static void pside_fail(struct pside *s, const char *fmt, ...)
{
	va_list ap;

	if (s->why[0])
		return;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	cio_cancel_all(s->loop);
}

static void pside_sub(struct pside *s, int ret)
{
	if (ret < 0)
		pside_fail(s, "submission rejected: %d", ret);
	else
		s->subs++;
}

static void pw_cb(cio_req *req);
static void pr_cb(cio_req *req);

static void pw_submit(struct pside *s)
{
	pside_sub(s, cio_write(s->loop, &s->req, s->fd, s->buf + s->part,
			       s->len - s->part, -1, pw_cb));
}

static void pw_next(struct pside *s)
{
	s->len = PIPE_TOTAL - s->pos < PIPE_WRITE ? PIPE_TOTAL - s->pos : PIPE_WRITE;
	s->part = 0;
	t_fill(s->buf, s->len, PIPE_SEED, s->pos);
	pw_submit(s);
}

static void pr_next(struct pside *s)
{
	size_t len = (size_t)(rand_r(&s->rng) % PIPE_READ) + 1;

	pside_sub(s, cio_read(s->loop, &s->req, s->fd, s->buf, len, -1, pr_cb));
}

static void pside_finish(struct pside *s)
{
	s->done = true;
	if (t_watchdog_stop(s->loop, &s->watchdog) != 0)
		pside_fail(s, "the watchdog was not pending");
}

static void pw_cb(cio_req *req)
{
	struct pside *s = req->data;

	s->cbs++;
	if (s->why[0])
		return;
	if (req->res <= 0 || (size_t)req->res > s->len - s->part) {
		pside_fail(s, "write of %zu at %zu: %lld", s->len - s->part, s->pos,
			   (long long)req->res);
		return;
	}
	s->part += (size_t)req->res;
	if (s->part < s->len) {
		s->shorts++;
		pw_submit(s);
		return;
	}
	s->pos += s->len;
	if (s->pos == PIPE_TOTAL)
		pside_finish(s);
	else
		pw_next(s);
}

static void pr_cb(cio_req *req)
{
	struct pside *s = req->data;

	s->cbs++;
	if (s->why[0])
		return;
	if (req->res < 0) {
		pside_fail(s, "read at %zu: %lld", s->pos, (long long)req->res);
	} else if (req->res == 0) {
		if (s->pos != PIPE_TOTAL)
			pside_fail(s, "EOF after %zu bytes", s->pos);
		else
			pside_finish(s);
	} else if (s->pos + (size_t)req->res > PIPE_TOTAL) {
		pside_fail(s, "%zu bytes read, %u written", s->pos + (size_t)req->res,
			   PIPE_TOTAL);
	} else if (!t_check(s->buf, (size_t)req->res, PIPE_SEED, s->pos)) {
		pside_fail(s, "bytes at %zu..%zu differ", s->pos,
			   s->pos + (size_t)req->res);
	} else {
		s->pos += (size_t)req->res;
		pr_next(s);
	}
}

static void pside_say(void *arg, char *msg, size_t len)
{
	struct pside *s = arg;

	snprintf(msg, len, "stuck at %zu bytes", s->pos);
}

static void pside_fired(void *arg, const char *msg)
{
	pside_fail(arg, "%s", msg);
}

static void *pside_main(void *arg)
{
	struct pside *s = arg;
	struct cio_loop_opts opts = { .backend = t_backend };
	int ret;

	/* The loop is made on the thread that runs it. */
	ret = cio_loop_new(&s->loop, &opts);
	if (ret < 0) {
		snprintf(s->why, sizeof(s->why), "cio_loop_new: %d", ret);
		close(s->fd);
		return NULL;
	}
	s->req.data = s;
	pside_sub(s, t_watchdog_start(s->loop, &s->watchdog, &s->cbs, pside_say, s));
	s->watchdog.fired = pside_fired;
	if (s->writer)
		pw_next(s);
	else
		pr_next(s);
	ret = cio_run(s->loop, CIO_RUN_DEFAULT);
	if (ret != 0)
		pside_fail(s, "cio_run: %d", ret);
	if (!s->why[0] && s->subs != s->cbs)
		pside_fail(s, "%u submissions, %u callbacks", s->subs, s->cbs);
	s->flags = fcntl(s->fd, F_GETFL);
	/* Each side closes its end when done: EOF for the reader, and a
	 * failed reader turns the writer's next write into -EPIPE. */
	close(s->fd);
	ret = cio_loop_free(s->loop);
	if (ret != 0 && !s->why[0])
		snprintf(s->why, sizeof(s->why), "cio_loop_free: %d", ret);
	return NULL;
}

static void pipe_case(int mode)
{
	const char *name = mode ? "O_NONBLOCK" : "blocking";
	struct pside w = { .writer = true }, r = { .rng = 12345 };
	pthread_t tw, tr;
	int p[2], rfl, wfl;
	uint64_t t0 = t_now_ns();

	ck_assert_int_eq(pipe2(p, mode), 0);
	rfl = t_getfl(p[0]);
	wfl = t_getfl(p[1]);
	ck_assert_int_eq(rfl & O_NONBLOCK, mode);
	ck_assert_int_eq(wfl & O_NONBLOCK, mode);
	r.fd = p[0];
	w.fd = p[1];
	r.buf = malloc(PIPE_READ);
	w.buf = malloc(PIPE_WRITE);
	ck_assert(r.buf && w.buf);
	ck_assert_int_eq(pthread_create(&tr, NULL, pside_main, &r), 0);
	ck_assert_int_eq(pthread_create(&tw, NULL, pside_main, &w), 0);
	pthread_join(tw, NULL);
	pthread_join(tr, NULL);

	ck_assert_msg(!w.why[0], "writer (%s): %s", name, w.why);
	ck_assert_msg(!r.why[0], "reader (%s): %s", name, r.why);
	ck_assert(w.done && r.done);
	ck_assert_uint_eq(w.pos, PIPE_TOTAL);
	ck_assert_uint_eq(r.pos, PIPE_TOTAL);
	ck_assert_uint_eq(w.subs, w.cbs);
	ck_assert_uint_eq(r.subs, r.cbs);
	/* 8 MiB in 64 KiB writes, plus one per short write, plus the watchdog. */
	ck_assert_uint_eq(w.subs, PIPE_TOTAL / PIPE_WRITE + w.shorts + 1);
	/* The library left both ends as they were. */
	ck_assert_int_eq(r.flags, rfl);
	ck_assert_int_eq(w.flags, wfl);
	printf("pipe 8 MiB, two loops [%s, %s]: %.1f ms, %u reads, %u short writes\n",
	       t_variant, name, (double)(t_now_ns() - t0) / 1e6, r.cbs - 1, w.shorts);
	free(r.buf);
	free(w.buf);
}

START_TEST(pipe_between_two_loops)
{
	pipe_case(0);
	pipe_case(O_NONBLOCK);
}
END_TEST

/* ------------------------------------------------------------------ */
/* recv_pool: 8 connections share a pool of 4 buffers. */

#define RP_CONNS 8
#define RP_BYTES (256 * KiB)
#define RP_COUNT 4
#define RP_SIZE  4096
#define RP_DRY_EVERY 40   /* data callbacks between two forced droughts */

struct rp_writer {
	pthread_t tid;
	int       fd, err;
	uint64_t  seed;
	unsigned  rng;
};

/* Plain blocking writes of the pattern in random pieces, then EOF. */
static void *rp_writer_main(void *arg)
{
	struct rp_writer *w = arg;
	uint8_t buf[16 * KiB];
	size_t off = 0;

	while (off < RP_BYTES) {
		size_t len = (size_t)(rand_r(&w->rng) % sizeof(buf)) + 1;
		ssize_t n;

		if (len > RP_BYTES - off)
			len = RP_BYTES - off;
		t_fill(buf, len, w->seed, off);
		n = write(w->fd, buf, len);
		if (n <= 0) {
			w->err = n < 0 ? errno : EIO;
			break;
		}
		off += (size_t)n;
	}
	close(w->fd);
	return NULL;
}

struct rp;

struct rp_conn {
	cio_req    req;
	struct rp *r;
	int        fd, idx;
	size_t     pos;
	unsigned   data_cbs, final_cbs;
};

/* A put deferred to a later loop iteration (cio_nop) or a timer. */
struct rp_put {
	cio_req    req;
	struct rp *r;
	void      *buf;
	bool       busy;
};

struct rp {
	cio_loop      *loop;
	cio_bufpool   *pool;
	struct rp_conn conn[RP_CONNS];
	struct rp_put  put[RP_COUNT];
	void          *seen[RP_COUNT];   /* the distinct buffers met so far */
	unsigned       nseen;
	bool           lent[RP_COUNT];
	unsigned       nlent, max_lent;
	void          *held[RP_COUNT];   /* kept until the pool is dry */
	unsigned       nheld;
	bool           holding;
	unsigned       since_dry, droughts;
	unsigned       rng, ended, subs, cbs, data_cbs;
	unsigned       put_now, put_nop, put_timer;
	bool           busy_checked;
	struct t_watchdog watchdog;
};

static void rp_sub(struct rp *r, int ret)
{
	ck_assert_msg(ret == 0, "submission rejected: %d (%s)", ret, strerror(-ret));
	r->subs++;
}

/* The index of buf among the pool's buffers, learnt as they appear. */
static unsigned rp_slot(struct rp *r, void *buf)
{
	uintptr_t a = (uintptr_t)buf;

	for (unsigned i = 0; i < r->nseen; i++)
		if (r->seen[i] == buf)
			return i;
	ck_assert_msg(r->nseen < RP_COUNT, "a %uth distinct buffer from a pool of %u",
		      r->nseen + 1, RP_COUNT);
	for (unsigned i = 0; i < r->nseen; i++) {
		uintptr_t b = (uintptr_t)r->seen[i];

		ck_assert_msg(a >= b + RP_SIZE || b >= a + RP_SIZE,
			      "buffers %p and %p overlap", buf, r->seen[i]);
	}
	r->seen[r->nseen] = buf;
	return r->nseen++;
}

static void rp_give_back(struct rp *r, void *buf)
{
	unsigned i = rp_slot(r, buf);

	ck_assert_msg(r->lent[i], "putting back a buffer that is not lent");
	r->lent[i] = false;
	r->nlent--;
	cio_bufpool_put(r->pool, buf);
}

static void rp_maybe_done(struct rp *r)
{
	if (r->ended < RP_CONNS || r->nlent)
		return;
	ck_assert_int_eq(t_watchdog_stop(r->loop, &r->watchdog), 0);
}

static void rp_put_cb(cio_req *req)
{
	struct rp_put *p = req->data;
	struct rp *r = p->r;

	r->cbs++;
	ck_assert_int_eq(req->res, 0);
	ck_assert(p->busy);
	p->busy = false;
	rp_give_back(r, p->buf);
	rp_maybe_done(r);
}

/* Put buf back now, on the next iteration, or after 10..500 us. */
static void rp_put_later(struct rp *r, void *buf, unsigned how)
{
	struct rp_put *p = NULL;

	if (how == 0) {
		r->put_now++;
		rp_give_back(r, buf);
		return;
	}
	/* At most RP_COUNT buffers are lent, so a slot is always free. */
	for (unsigned i = 0; i < RP_COUNT && !p; i++)
		if (!r->put[i].busy)
			p = &r->put[i];
	ck_assert_ptr_nonnull(p);
	p->busy = true;
	p->buf = buf;
	if (how == 1) {
		r->put_nop++;
		rp_sub(r, cio_nop(r->loop, &p->req, rp_put_cb));
	} else {
		r->put_timer++;
		rp_sub(r, cio_timer(r->loop, &p->req,
				    (10 + rand_r(&r->rng) % 490) * USEC, rp_put_cb));
	}
}

static void rp_release_held(struct rp *r)
{
	while (r->nheld) {
		r->nheld--;
		/* Half on the next iteration, half after a timer. */
		rp_put_later(r, r->held[r->nheld], 1 + r->nheld % 2);
	}
	r->holding = false;
	r->since_dry = 0;
}

static void rp_data(struct rp_conn *c, cio_req *req)
{
	struct rp *r = c->r;
	unsigned i;

	ck_assert_msg(req->flags & CIO_F_BUF, "conn %d: data without CIO_F_BUF", c->idx);
	ck_assert_msg(req->flags & CIO_F_MORE, "conn %d: data without CIO_F_MORE",
		      c->idx);
	ck_assert_int_le(req->res, RP_SIZE);
	ck_assert_ptr_nonnull(req->buf);
	i = rp_slot(r, req->buf);
	ck_assert_msg(!r->lent[i], "conn %d: buffer %u delivered again before its put",
		      c->idx, i);
	r->lent[i] = true;
	if (++r->nlent > r->max_lent)
		r->max_lent = r->nlent;
	ck_assert_msg(c->pos + (size_t)req->res <= RP_BYTES, "conn %d: too many bytes",
		      c->idx);
	ck_assert_msg(t_check(req->buf, (size_t)req->res, 500u + (uint64_t)c->idx, c->pos),
		      "conn %d: bytes at %zu differ", c->idx, c->pos);
	c->pos += (size_t)req->res;
	c->data_cbs++;
	r->data_cbs++;
	if (!r->busy_checked) {
		ck_assert_int_eq(cio_bufpool_free(r->pool), -EBUSY);
		r->busy_checked = true;
	}
	if (r->holding) {
		/* Keep every buffer until none is left: the recvs must wait. */
		r->held[r->nheld++] = req->buf;
		if (r->nheld == RP_COUNT) {
			r->droughts++;
			rp_release_held(r);
		}
		return;
	}
	rp_put_later(r, req->buf, (unsigned)rand_r(&r->rng) % 3);
	if (++r->since_dry == RP_DRY_EVERY)
		r->holding = true;
}

static void rp_cb(cio_req *req)
{
	struct rp_conn *c = req->data;
	struct rp *r = c->r;

	r->cbs++;
	ck_assert_msg(c->final_cbs == 0, "conn %d: a callback after the final one",
		      c->idx);
	if (req->res > 0) {
		rp_data(c, req);
		return;
	}
	c->final_cbs++;
	r->ended++;
	ck_assert_msg(req->res == 0, "conn %d: final recv_pool result %lld", c->idx,
		      (long long)req->res);
	ck_assert_uint_eq(req->flags & (CIO_F_MORE | CIO_F_BUF), 0);
	ck_assert_msg(c->pos == RP_BYTES, "conn %d: EOF after %zu bytes", c->idx, c->pos);
	/* No more data may come to fill the pool: stop waiting for a drought. */
	if (r->ended == RP_CONNS && r->holding)
		rp_release_held(r);
	rp_maybe_done(r);
}

static void rp_say(void *arg, char *msg, size_t len)
{
	struct rp *r = arg;

	snprintf(msg, len, "recv_pool stuck: %u ended, %u lent, %u held", r->ended,
		 r->nlent, r->nheld);
}

START_TEST(recv_pool_fewer_buffers_than_connections)
{
	struct rp *r = calloc(1, sizeof(*r));
	struct rp_writer w[RP_CONNS];
	cio_loop *loop;

	ck_assert_ptr_nonnull(r);
	loop = r->loop = t_loop_new();
	r->rng = 777;
	r->holding = true;   /* the first drought comes at once */
	ck_assert_int_eq(cio_bufpool_new(loop, &r->pool, RP_COUNT, RP_SIZE), 0);
	for (int i = 0; i < RP_COUNT; i++) {
		r->put[i].r = r;
		r->put[i].req.data = &r->put[i];
	}
	for (int i = 0; i < RP_CONNS; i++) {
		struct rp_conn *c = &r->conn[i];
		int sp[2];

		t_unix_pair(sp);
		c->r = r;
		c->idx = i;
		c->fd = sp[0];
		c->req.data = c;
		c->req.opts = CIO_MULTISHOT;
		rp_sub(r, cio_recv_pool(loop, &c->req, c->fd, r->pool, 0, rp_cb));
		w[i] = (struct rp_writer){ .fd = sp[1], .seed = 500u + (uint64_t)i,
					   .rng = 31u * (unsigned)i + 1 };
	}
	/* Nothing is lent yet, but recv_pools are pending on the pool. */
	ck_assert_int_eq(cio_bufpool_free(r->pool), -EBUSY);
	rp_sub(r, t_watchdog_start(loop, &r->watchdog, &r->cbs, rp_say, r));
	for (int i = 0; i < RP_CONNS; i++)
		ck_assert_int_eq(pthread_create(&w[i].tid, NULL, rp_writer_main, &w[i]), 0);
	ck_assert_uint_eq(r->cbs, 0);
	t_run(loop);
	for (int i = 0; i < RP_CONNS; i++) {
		pthread_join(w[i].tid, NULL);
		ck_assert_msg(w[i].err == 0, "writer %d: %s", i, strerror(w[i].err));
	}

	for (int i = 0; i < RP_CONNS; i++) {
		struct rp_conn *c = &r->conn[i];

		ck_assert_uint_eq(c->final_cbs, 1);
		ck_assert_uint_eq(c->pos, RP_BYTES);
		ck_assert_uint_ge(c->data_cbs, RP_BYTES / RP_SIZE);
		ck_assert_int_eq(close(c->fd), 0);
	}
	ck_assert_uint_eq(r->ended, RP_CONNS);
	ck_assert_uint_eq(r->nlent, 0);
	ck_assert_uint_eq(r->nheld, 0);
	ck_assert_uint_eq(r->nseen, RP_COUNT);
	ck_assert_uint_eq(r->max_lent, RP_COUNT);
	ck_assert_uint_ge(r->droughts, 1);
	ck_assert_uint_gt(r->put_now, 0);
	ck_assert_uint_gt(r->put_nop, 0);
	ck_assert_uint_gt(r->put_timer, 0);
	/* Every callback counted: data, finals, deferred puts, the watchdog. */
	ck_assert_uint_eq(r->cbs, r->data_cbs + r->subs);
	ck_assert_uint_eq(r->subs, RP_CONNS + r->put_nop + r->put_timer + 1);
	ck_assert_int_eq(cio_bufpool_free(r->pool), 0);
	printf("recv_pool %u conns, %u x %u B [%s]: %u data callbacks, %u droughts\n",
	       RP_CONNS, RP_COUNT, RP_SIZE, t_variant, r->data_cbs, r->droughts);
	t_loop_free(loop);
	free(r);
}
END_TEST

/* Without CIO_MULTISHOT: one callback per submission; with every buffer
 * lent it waits, and the buffer put back is the one it gets. */
START_TEST(recv_pool_single)
{
	enum { N = 4, SIZE = 4096, DATA = 6 * 4096 + 100 };
	cio_loop *loop = t_loop_new(), *other = t_loop_new();
	cio_bufpool *pool = NULL;
	uint8_t *data = malloc(DATA);
	void *bufs[N + 1];
	struct op o[N + 1];
	size_t pos = 0;
	int sp[2];

	ck_assert_ptr_nonnull(data);
	t_unix_pair(sp);
	ck_assert_int_eq(cio_bufpool_new(loop, &pool, N, SIZE), 0);
	t_fill(data, DATA, 9, 0);
	ck_assert_int_eq(write(sp[1], data, DATA), DATA);

	/* Each takes one buffer; all of them held. */
	for (int i = 0; i < N; i++) {
		op_init(&o[i]);
		ck_assert_int_eq(RUN(&o[i], cio_recv_pool(loop, &o[i].req, sp[0], pool, 0,
							  op_cb)), SIZE);
		ck_assert_uint_eq(o[i].req.flags & (CIO_F_BUF | CIO_F_MORE), CIO_F_BUF);
		bufs[i] = o[i].req.buf;
		ck_assert(t_check(bufs[i], SIZE, 9, pos));
		pos += SIZE;
		for (int j = 0; j < i; j++)
			ck_assert_ptr_ne(bufs[i], bufs[j]);
		/* A pool with a buffer lent cannot go. */
		ck_assert_int_eq(cio_bufpool_free(pool), -EBUSY);
	}
	t_run(loop);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(o[i].n, 0);

	/* Data is there, no buffer is: it waits, without a callback. */
	op_init(&o[N]);
	START(&o[N], cio_recv_pool(loop, &o[N].req, sp[0], pool, 0, op_cb));
	ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 1);
	ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 1);
	ck_assert_int_eq(o[N].n, 0);
	ck_assert_int_eq(cio_bufpool_free(pool), -EBUSY);
	cio_bufpool_put(pool, bufs[2]);
	t_run(loop);
	ck_assert_int_eq(o[N].n, 1);
	ck_assert_int_eq(o[N].req.res, SIZE);
	ck_assert_ptr_eq(o[N].req.buf, bufs[2]);
	ck_assert(t_check(o[N].req.buf, SIZE, 9, pos));
	pos += SIZE;
	for (int i = 0; i < N; i++)
		cio_bufpool_put(pool, bufs[i]);

	/* The rest, then EOF: no buffer, no CIO_F_BUF. */
	while (pos < DATA) {
		int64_t res = RUN(&o[0], cio_recv_pool(loop, &o[0].req, sp[0], pool, 0,
						       op_cb));

		ck_assert_int_gt(res, 0);
		ck_assert_int_le(res, SIZE);
		ck_assert(o[0].req.flags & CIO_F_BUF);
		ck_assert(t_check(o[0].req.buf, (size_t)res, 9, pos));
		pos += (size_t)res;
		cio_bufpool_put(pool, o[0].req.buf);
	}
	ck_assert_int_eq(close(sp[1]), 0);
	ck_assert_int_eq(RUN(&o[0], cio_recv_pool(loop, &o[0].req, sp[0], pool, 0, op_cb)), 0);
	ck_assert_uint_eq(o[0].req.flags & (CIO_F_BUF | CIO_F_MORE), 0);

	/* A pending multishot recv_pool keeps the pool; once cancelled, it
	 * ends in one callback and the pool can go. */
	{
		int sp2[2];

		t_unix_pair(sp2);
		op_init(&o[1]);
		o[1].req.opts = CIO_MULTISHOT;
		START(&o[1], cio_recv_pool(loop, &o[1].req, sp2[0], pool, 0, op_cb));
		ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 1);
		ck_assert_int_eq(cio_bufpool_free(pool), -EBUSY);
		/* A pool belongs to its loop. */
		op_init(&o[2]);
		ck_assert_int_eq(cio_recv_pool(other, &o[2].req, sp2[0], pool, 0, op_cb),
				 -EINVAL);
		ck_assert_int_eq(cio_cancel(loop, &o[1].req), 0);
		t_run(loop);
		ck_assert_int_eq(o[1].n, 1);
		ck_assert_int_eq(o[1].req.res, -ECANCELED);
		ck_assert_uint_eq(o[1].req.flags & (CIO_F_BUF | CIO_F_MORE), 0);
		ck_assert_int_eq(cio_run(other, CIO_RUN_NOWAIT), 0);
		ck_assert_int_eq(o[2].n, 0);
		close(sp2[0]);
		close(sp2[1]);
	}
	ck_assert_int_eq(cio_bufpool_free(pool), 0);

	close(sp[0]);
	free(data);
	t_loop_free(loop);
	t_loop_free(other);
}
END_TEST

/* ------------------------------------------------------------------ */
/* sendfile: 64 MiB over loopback TCP, the receiver on the same loop. */

#define SF_SIZE      (64 * MiB)
#define SF_POS       12345          /* the file position phase 1 must keep */
#define SF_SLICE_OFF (1 * MiB)      /* phase 2 sends from the file position */
#define SF_SLICE     (256 * KiB)
#define SF_SEED      61
#define SF_RBUF      (256 * KiB)

#define FNV_INIT  0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= FNV_PRIME;
	}
	return h;
}

struct sf {
	cio_loop *loop;
	int       file, out, in;
	cio_req   sreq, rreq;
	struct t_watchdog watchdog;
	int       phase;            /* 1: off >= 0; 2: off = -1; 3: shut down */
	int64_t   off;
	size_t    left, sent;
	uint64_t  got, hash, t0, t_phase1;
	uint8_t  *rbuf;
	unsigned  calls, shorts, subs, cbs;
	bool      eof;
};

static void sf_send_cb(cio_req *req);

static void sf_sub(struct sf *s, int ret)
{
	ck_assert_msg(ret == 0, "submission rejected: %d (%s)", ret, strerror(-ret));
	s->subs++;
}

static void sf_send(struct sf *s)
{
	s->calls++;
	sf_sub(s, cio_sendfile(s->loop, &s->sreq, s->out, s->file,
			       s->phase == 1 ? s->off : -1, s->left, sf_send_cb));
}

static void sf_send_cb(cio_req *req)
{
	struct sf *s = req->data;

	s->cbs++;
	if (s->phase == 3) {
		ck_assert_int_eq(req->res, 0);    /* the shutdown */
		return;
	}
	ck_assert_msg(req->res > 0 && (size_t)req->res <= s->left,
		      "sendfile of %zu (phase %d): %lld", s->left, s->phase,
		      (long long)req->res);
	s->left -= (size_t)req->res;
	s->sent += (size_t)req->res;
	if (s->phase == 1) {
		/* An explicit offset leaves the file position alone. */
		s->off += req->res;
		ck_assert_int_eq(t_fpos(s->file), SF_POS);
	} else {
		/* off = -1 uses the position and moves it by what was sent. */
		ck_assert_int_eq(t_fpos(s->file), SF_SLICE_OFF + SF_SLICE - s->left);
	}
	if (s->left) {
		s->shorts++;
		sf_send(s);
		return;
	}
	if (s->phase == 1) {
		s->phase = 2;
		s->left = SF_SLICE;
		ck_assert_int_eq(lseek(s->file, SF_SLICE_OFF, SEEK_SET), SF_SLICE_OFF);
		sf_send(s);
		return;
	}
	s->phase = 3;
	sf_sub(s, cio_shutdown(s->loop, &s->sreq, s->out, SHUT_WR, sf_send_cb));
}

static void sf_recv_cb(cio_req *req)
{
	struct sf *s = req->data;

	s->cbs++;
	ck_assert_msg(req->res >= 0, "recv after %llu bytes: %lld",
		      (unsigned long long)s->got, (long long)req->res);
	if (req->res == 0) {
		s->eof = true;
		ck_assert_int_eq(t_watchdog_stop(s->loop, &s->watchdog), 0);
		return;
	}
	s->hash = fnv1a(s->hash, s->rbuf, (size_t)req->res);
	if (s->got < SF_SIZE && s->got + (uint64_t)req->res >= SF_SIZE)
		s->t_phase1 = t_now_ns();
	s->got += (uint64_t)req->res;
	sf_sub(s, cio_recv(s->loop, &s->rreq, s->in, s->rbuf, SF_RBUF, 0, sf_recv_cb));
}

static void sf_say(void *arg, char *msg, size_t len)
{
	struct sf *s = arg;

	snprintf(msg, len, "sendfile stuck: phase %d, %zu sent, %llu received", s->phase,
		 s->sent, (unsigned long long)s->got);
}

/* Write the file in 1 MiB pieces of pattern; return the FNV-1a of it. */
static uint64_t sf_make_file(int fd)
{
	uint8_t *b = malloc(MiB);
	uint64_t h = FNV_INIT;

	ck_assert_ptr_nonnull(b);
	for (size_t off = 0; off < SF_SIZE; off += MiB) {
		t_fill(b, MiB, SF_SEED, off);
		ck_assert_int_eq(pwrite(fd, b, MiB, (off_t)off), (ssize_t)MiB);
		h = fnv1a(h, b, MiB);
	}
	free(b);
	return h;
}

START_TEST(sendfile_to_socket)
{
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir);
	struct sf *s = calloc(1, sizeof(*s));
	uint64_t want, wall;
	uint8_t *slice;
	int fds[2];

	ck_assert_ptr_nonnull(s);
	s->rbuf = malloc(SF_RBUF);
	slice = malloc(SF_SLICE);
	ck_assert(s->rbuf && slice);
	s->file = openat(dfd, "big", O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	ck_assert_int_ge(s->file, 0);
	want = sf_make_file(s->file);
	/* The stream is the whole file, then the slice again. */
	t_fill(slice, SF_SLICE, SF_SEED, SF_SLICE_OFF);
	want = fnv1a(want, slice, SF_SLICE);
	ck_assert_int_eq(lseek(s->file, SF_POS, SEEK_SET), SF_POS);

	t_tcp_pair(fds, 0, 0);
	s->loop = loop;
	s->out = fds[0];
	s->in = fds[1];
	s->hash = FNV_INIT;
	s->sreq.data = s->rreq.data = s;
	sf_sub(s, t_watchdog_start(loop, &s->watchdog, &s->cbs, sf_say, s));
	s->t0 = t_now_ns();
	sf_sub(s, cio_recv(loop, &s->rreq, s->in, s->rbuf, SF_RBUF, 0, sf_recv_cb));
	s->phase = 1;
	s->left = SF_SIZE;
	sf_send(s);
	t_run(loop);
	wall = s->t_phase1 - s->t0;

	ck_assert_int_eq(s->phase, 3);
	ck_assert(s->eof);
	ck_assert_uint_eq(s->sent, SF_SIZE + SF_SLICE);
	ck_assert_uint_eq(s->got, SF_SIZE + SF_SLICE);
	ck_assert_msg(s->hash == want, "FNV-1a of the received stream differs");
	ck_assert_int_eq(t_fpos(s->file), SF_SLICE_OFF + SF_SLICE);
	ck_assert_uint_eq(s->cbs, s->subs);
	printf("sendfile 64 MiB [%s]: %.0f MiB/s (%u calls, %u short)\n", t_variant,
	       64.0 / ((double)wall / SEC), s->calls, s->shorts);

	ck_assert_int_eq(close(fds[0]), 0);
	ck_assert_int_eq(close(fds[1]), 0);
	ck_assert_int_eq(close(s->file), 0);
	free(s->rbuf);
	free(slice);
	free(s);
	close(dfd);
	t_loop_free(loop);
	t_tmpdir_rm(dir);
}
END_TEST

/* A read of 0 bytes answers 0 at once, as read(2) does, even on a socket
 * whose last receive had to wait for data; a recv of 0 waits for a byte,
 * as recv(2) does, on every backend alike. */
START_TEST(zero_length_receive_never_waits)
{
	cio_loop *loop = t_loop_new();
	struct op o, w;
	char buf[8];
	int s[2];
	struct iovec none = { buf, 0 };

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
	op_init(&o);
	op_init(&w);
	/* A receive that waits, then gets its byte. */
	ck_assert_int_eq(cio_recv(loop, &o.req, s[0], buf, sizeof(buf), 0, op_cb), 0);
	ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 1);
	ck_assert_int_eq(RUN(&w, cio_send(loop, &w.req, s[1], "x", 1, 0, op_cb)), 1);
	t_run(loop);
	ck_assert_int_eq(o.n, 1);
	ck_assert_int_eq(o.req.res, 1);
	o.n = 0;
	/* Now nothing is there; a deadline turns a wait into -ETIMEDOUT. */
	o.req.timeout_ns = SEC / 20;
	ck_assert_int_eq(RUN(&o, cio_recv(loop, &o.req, s[0], buf, 0, 0, op_cb)),
			 -ETIMEDOUT);
	/* Zero bytes end at once, without a wait: a deadline (long enough for
	 * a loaded machine) would turn a wait into -ETIMEDOUT. */
	o.req.timeout_ns = 30 * SEC;
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, s[0], buf, 0, -1, op_cb)), 0);
	o.req.timeout_ns = 30 * SEC;
	ck_assert_int_eq(RUN(&o, cio_readv(loop, &o.req, s[0], &none, 0, -1, op_cb)), 0);
	o.req.timeout_ns = 30 * SEC;
	ck_assert_int_eq(RUN(&o, cio_readv(loop, &o.req, s[0], &none, 1, -1, op_cb)), 0);
	close(s[0]);
	close(s[1]);
	t_loop_free(loop);
}
END_TEST

/* ------------------------------------------------------------------ */

#define SFI_LEN  (64 * KiB)
#define SFI_OFF  100

/* Is the whole range in the page cache? -1 when cachestat(2) is missing. */
static int range_cached(int fd, uint64_t off, uint64_t len)
{
	struct { uint64_t off, len; } range = { off, len };
	uint64_t cs[5];   /* nr_cache, dirty, writeback, evicted, recently evicted */
	unsigned shift = (unsigned)__builtin_ctz((unsigned)getpagesize());

	if (syscall(451 /* __NR_cachestat */, fd, &range, cs, 0) < 0)
		return -1;
	return cs[0] >= ((off + len - 1) >> shift) - (off >> shift) + 1;
}

static uint64_t pool_jobs(cio_loop *loop)
{
	struct cio_stats st;

	ck_assert_int_eq(cio_loop_stats(loop, &st), 0);
	return st.pool_jobs;
}

/* Send one slice of the file through s[0]; check what s[1] gets and how
 * many pool jobs it took. */
static void sendfile_slice(cio_loop *loop, int file, int s[2], uint64_t jobs_want,
			   const char *what)
{
	uint8_t *got = malloc(SFI_LEN);
	uint64_t jobs = pool_jobs(loop);
	size_t have = 0;
	struct op o;

	ck_assert_ptr_nonnull(got);
	op_init(&o);
	ck_assert_int_eq(RUN(&o, cio_sendfile(loop, &o.req, s[0], file, SFI_OFF,
					      SFI_LEN, op_cb)), SFI_LEN);
	ck_assert_msg(pool_jobs(loop) - jobs == jobs_want,
		      "%s: %llu pool jobs, want %llu", what,
		      (unsigned long long)(pool_jobs(loop) - jobs),
		      (unsigned long long)jobs_want);
	while (have < SFI_LEN) {
		ssize_t n = read(s[1], got + have, SFI_LEN - have);

		ck_assert_int_gt(n, 0);
		have += (size_t)n;
	}
	ck_assert_msg(t_check(got, SFI_LEN, 61, SFI_OFF), "%s: data differs", what);
	free(got);
}

/* A cached file to a non-blocking socket goes out on the loop thread with
 * no pool job; a blocking socket or an uncached range still takes the pool
 * (after readiness), so the loop never blocks on either. */
START_TEST(sendfile_inline_when_it_cannot_block)
{
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir);
	int file = t_mkfile(dfd, "f", SFI_LEN + SFI_OFF, 61);
	int s[2], sndbuf = 4 * SFI_LEN, cached;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
				    0, s), 0);
	ck_assert_int_eq(setsockopt(s[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
				    sizeof(sndbuf)), 0);
	cached = range_cached(file, SFI_OFF, SFI_LEN);
	if (cached < 0) {
		sendfile_slice(loop, file, s, 1, "no cachestat");
		T_SKIP("cachestat(2): %s; sendfile always takes the pool here",
		       strerror(errno));
	}
	ck_assert_msg(cached == 1, "a file just written is not in the page cache");
	sendfile_slice(loop, file, s, 0, "cached, non-blocking socket");
	/* cio_op_path says so: the loop's own wait, not the pool. */
	ck_assert_pstr_eq(cio_op_path(loop, CIO_OP_SENDFILE, s[0]),
			  !strcmp(T_BACKEND_NAME, "uring") ? "ring" : "epoll");

	ck_assert_int_eq(fcntl(s[0], F_SETFL, t_getfl(s[0]) & ~O_NONBLOCK), 0);
	sendfile_slice(loop, file, s, 1, "cached, blocking socket");
	ck_assert_pstr_eq(cio_op_path(loop, CIO_OP_SENDFILE, s[0]), "pool");
	ck_assert_int_eq(fcntl(s[0], F_SETFL, t_getfl(s[0]) | O_NONBLOCK), 0);

	/* Out of the cache, where the file system lets us evict it. */
	ck_assert_int_eq(fsync(file), 0);
	ck_assert_int_eq(posix_fadvise(file, 0, 0, POSIX_FADV_DONTNEED), 0);
	if (range_cached(file, SFI_OFF, SFI_LEN) == 0) {
		sendfile_slice(loop, file, s, 1, "uncached, non-blocking socket");
		printf("sendfile inline [%s]: cached: 0 pool jobs; blocking "
		       "socket: 1; uncached: 1\n", t_variant);
	} else {
		printf("sendfile inline [%s]: cached: 0 pool jobs; blocking "
		       "socket: 1; uncached not checked (this file system keeps "
		       "the file cached)\n", t_variant);
	}

	close(s[0]);
	close(s[1]);
	ck_assert_int_eq(close(file), 0);
	close(dfd);
	t_loop_free(loop);
	t_tmpdir_rm(dir);
}
END_TEST

/* ------------------------------------------------------------------ */

#define SPL_LEN  (1 * MiB + 1234)
#define SPL_DST  4096          /* where the copy lands in the destination */

/* file -> pipe -> file with explicit offsets; then off = -1 on the files. */
START_TEST(splice_file_pipe_file)
{
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir);
	int src = t_mkfile(dfd, "src", SPL_LEN, 77);
	int dst = openat(dfd, "dst", O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	uint8_t *r = malloc(SPL_LEN + SPL_DST);
	struct stat st;
	struct op o;
	size_t done = 0;
	int p[2];

	ck_assert_ptr_nonnull(r);
	ck_assert_int_ge(dst, 0);
	op_init(&o);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);

	while (done < SPL_LEN) {
		size_t want = SPL_LEN - done < 64 * KiB ? SPL_LEN - done : 64 * KiB;
		int64_t in = RUN(&o, cio_splice(loop, &o.req, src, (int64_t)done, p[1], -1,
						want, 0, op_cb));
		int64_t out = 0;

		ck_assert_msg(in > 0 && (size_t)in <= want, "splice in at %zu: %lld",
			      done, (long long)in);
		/* Drain the pipe completely before filling it again. */
		while (out < in) {
			int64_t n = RUN(&o, cio_splice(loop, &o.req, p[0], -1, dst,
						       SPL_DST + (int64_t)done + out,
						       (size_t)(in - out), 0, op_cb));

			ck_assert_msg(n > 0 && n <= in - out, "splice out: %lld", (long long)n);
			out += n;
		}
		done += (size_t)in;
	}
	/* Explicit offsets: neither file position moved. */
	ck_assert_int_eq(t_fpos(src), 0);
	ck_assert_int_eq(t_fpos(dst), 0);
	ck_assert_int_eq(fstat(dst, &st), 0);
	ck_assert_int_eq(st.st_size, SPL_DST + SPL_LEN);
	memset(r, 0xa5, SPL_LEN + SPL_DST);
	ck_assert_int_eq(pread(dst, r, SPL_LEN + SPL_DST, 0), SPL_LEN + SPL_DST);
	for (size_t i = 0; i < SPL_DST; i++)
		ck_assert_uint_eq(r[i], 0);
	ck_assert(t_check(r + SPL_DST, SPL_LEN, 77, 0));

	/* off = -1 on a file: its position, which moves. */
	ck_assert_int_eq(lseek(src, 100, SEEK_SET), 100);
	ck_assert_int_eq(lseek(dst, 10, SEEK_SET), 10);
	ck_assert_int_eq(RUN(&o, cio_splice(loop, &o.req, src, -1, p[1], -1, 50, 0, op_cb)),
			 50);
	ck_assert_int_eq(t_fpos(src), 150);
	ck_assert_int_eq(RUN(&o, cio_splice(loop, &o.req, p[0], -1, dst, -1, 50, 0, op_cb)),
			 50);
	ck_assert_int_eq(t_fpos(dst), 60);
	ck_assert_int_eq(pread(dst, r, 50, 10), 50);
	ck_assert(t_check(r, 50, 77, 100));

	/* As splice(2): no pipe on either side, or an offset for the pipe. */
	ck_assert_int_eq(RUN(&o, cio_splice(loop, &o.req, src, 0, dst, 0, 10, 0, op_cb)),
			 -EINVAL);
	ck_assert_int_eq(RUN(&o, cio_splice(loop, &o.req, p[0], 0, dst, 0, 10, 0, op_cb)),
			 -ESPIPE);

	close(p[0]);
	close(p[1]);
	ck_assert_int_eq(close(src), 0);
	ck_assert_int_eq(close(dst), 0);
	free(r);
	close(dfd);
	t_loop_free(loop);
	t_tmpdir_rm(dir);
}
END_TEST

/* ------------------------------------------------------------------ */

/* Run loop until *n callbacks counted, for at most limit ns (a watchdog
 * timer, so a hang fails the test instead of stalling it). */
#define RUN_LIMIT (60 * SEC)   /* what a hang is: generous on a loaded machine */
static bool run_until(cio_loop *loop, const int *n, int want, uint64_t limit)
{
	struct op dog;
	bool ok;

	op_init(&dog);
	START(&dog, cio_timer(loop, &dog.req, limit, op_cb));
	while (*n < want && !dog.n)
		ck_assert_int_ge(cio_run(loop, CIO_RUN_ONCE), 0);
	ok = *n >= want;
	if (!dog.n)
		ck_assert_int_eq(cio_cancel(loop, &dog.req), 0);
	while (!dog.n)
		ck_assert_int_ge(cio_run(loop, CIO_RUN_ONCE), 0);
	return ok;
}

/* Put a new socketpair at fd number n (free now); t[0] == n. */
static void socketpair_at(int n, int t[2])
{
	t_unix_pair(t);
	if (t[0] != n) {
		ck_assert_int_eq(dup3(t[0], n, O_CLOEXEC), n);
		ck_assert_int_eq(close(t[0]), 0);
		t[0] = n;
	}
	ck_assert_int_ne(t[1], n);
}

/*
 * A cio_recv waits on fd n; the caller closes n with plain close(2) (the
 * file gone, or kept open by a dup) and a new socket takes the number. A
 * receive on the new socket completes with its data; the old request ends
 * exactly once, with -ECANCELED at the latest when cancelled (on io_uring
 * the ring holds the old file, so it may receive the old peer's bytes).
 */
static void reuse_case(bool keep_old)
{
	cio_loop *loop = t_loop_new();
	struct op old, nw;
	char obuf[16], nbuf[16];
	int s[2], t[2], n, dup_fd = -1;

	op_init(&old);
	op_init(&nw);
	t_unix_pair(s);
	n = s[0];
	if (keep_old)
		dup_fd = fcntl(n, F_DUPFD_CLOEXEC, 100);
	START(&old, cio_recv(loop, &old.req, n, obuf, sizeof(obuf), 0, op_cb));
	ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 1);
	ck_assert_int_eq(close(n), 0);
	socketpair_at(n, t);

	ck_assert_int_eq(write(t[1], "fresh", 5), 5);
	START(&nw, cio_recv(loop, &nw.req, n, nbuf, sizeof(nbuf), 0, op_cb));
	ck_assert_msg(run_until(loop, &nw.n, 1, RUN_LIMIT),
		      "a recv on the new file at fd %d never completed (%s)", n,
		      keep_old ? "old file still open" : "old file closed");
	ck_assert_int_eq(nw.req.res, 5);
	ck_assert(!memcmp(nbuf, "fresh", 5));

	if (keep_old) {
		/* The old file wakes up: its registration may still fire
		 * under number n. The next receive on n still gets only the
		 * new file's bytes. */
		nw.n = 0;
		memset(nbuf, 0, sizeof(nbuf));
		START(&nw, cio_recv(loop, &nw.req, n, nbuf, sizeof(nbuf), 0, op_cb));
		ck_assert_int_eq(write(s[1], "old", 3), 3);
		ck_assert_int_ge(cio_run(loop, CIO_RUN_NOWAIT), 0);
		ck_assert_int_eq(nw.n, 0);
		ck_assert_int_eq(write(t[1], "again", 5), 5);
		ck_assert_msg(run_until(loop, &nw.n, 1, RUN_LIMIT),
			      "the second recv on the new file never completed");
		ck_assert_int_eq(nw.req.res, 5);
		ck_assert(!memcmp(nbuf, "again", 5));
		if (!old.n) {
			ck_assert_int_eq(cio_cancel(loop, &old.req), 0);
			ck_assert(run_until(loop, &old.n, 1, RUN_LIMIT));
		}
		ck_assert_int_eq(old.n, 1);
		ck_assert_msg(old.req.res == -ECANCELED ||
			      (old.req.res == 3 && !memcmp(obuf, "old", 3)),
			      "old recv: %lld", (long long)old.req.res);
		ck_assert_int_eq(close(dup_fd), 0);
	} else {
		ck_assert_int_eq(old.n, 0);
		ck_assert_int_eq(cio_cancel_fd(loop, n), 1);
		ck_assert(run_until(loop, &old.n, 1, RUN_LIMIT));
		ck_assert_int_eq(old.req.res, -ECANCELED);
	}
	t_run(loop);
	ck_assert_int_eq(old.n, 1);
	ck_assert_int_eq(nw.n, 1);
	close(s[1]);
	close(t[0]);
	close(t[1]);
	t_loop_free(loop);
}

/*
 * An idle socket closed with plain close(2), its number taken at once by a
 * socket made outside the loop (as a server that accepts with accept(2)
 * does all the time): a receive on the new socket waits for its data like
 * any other. On epoll each wait re-arms with EPOLL_CTL_MOD, which finds
 * the new file at once (lib/epoll.c); a design that skipped that and
 * checked periodically instead was seen to take 78 s for these 40 with a
 * one-second check. The bound below is against such a stall, generous.
 */
START_TEST(recv_on_idle_fd_reused_outside_the_loop)
{
	cio_loop *loop = t_loop_new();
	uint64_t t0 = t_now_ns();
	int s[2];

	t_unix_pair(s);
	for (int i = 0; i < 40; i++) {
		int n = s[0], t[2];
		char buf[8] = { 0 };
		struct op o;

		op_init(&o);
		START(&o, cio_recv(loop, &o.req, n, buf, sizeof(buf), 0, op_cb));
		ck_assert_int_ge(cio_run(loop, CIO_RUN_NOWAIT), 0);
		ck_assert_int_eq(o.n, 0);
		ck_assert_int_eq(write(s[1], "x", 1), 1);
		ck_assert_msg(run_until(loop, &o.n, 1, RUN_LIMIT),
			      "round %d: the recv on fd %d never completed", i, n);
		ck_assert_int_eq(o.req.res, 1);
		ck_assert_int_eq(buf[0], 'x');
		/* Idle: closed behind the loop's back, the number reused. */
		ck_assert_int_eq(close(s[1]), 0);
		ck_assert_int_eq(close(n), 0);
		socketpair_at(n, t);
		s[0] = t[0];
		s[1] = t[1];
	}
	/* A second apiece would be a server that stalls. */
	ck_assert_msg(t_now_ns() - t0 < 30 * SEC,
		      "40 receives on reused numbers took %.1f s",
		      (double)(t_now_ns() - t0) / SEC);
	close(s[0]);
	close(s[1]);
	t_loop_free(loop);
}
END_TEST

START_TEST(recv_on_reused_fd_after_plain_close)
{
	reuse_case(false);
}
END_TEST

START_TEST(recv_on_reused_fd_old_file_still_open)
{
	reuse_case(true);
}
END_TEST

/* ------------------------------------------------------------------ */

/* cio(7): an offset other than -1 on a stream is -ESPIPE, everywhere; the
 * stream's bytes are left alone. */
START_TEST(stream_offset_is_espipe)
{
	static const int64_t offs[] = { 0, 4096 };
	static const char *const kind[2] = { "pipe", "socketpair" };
	cio_loop *loop = t_loop_new();
	char buf[64], got[64];
	struct iovec iov = { buf, sizeof(buf) };
	struct op o;

	op_init(&o);
	t_fill(buf, sizeof(buf), 5, 0);
	for (int k = 0; k < 2; k++) {
		int fds[2], rfd, wfd;

		if (k == 0)
			ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
		else
			t_unix_pair(fds);
		rfd = fds[0];
		wfd = fds[1];
		/* Something to read, so a read that ignored the offset
		 * would succeed rather than wait. */
		ck_assert_int_eq(write(wfd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
		for (size_t i = 0; i < 2; i++) {
			int64_t off = offs[i], r[4];

			r[0] = RUN(&o, cio_read(loop, &o.req, rfd, got, 8, off, op_cb));
			r[1] = RUN(&o, cio_readv(loop, &o.req, rfd, &iov, 1, off, op_cb));
			r[2] = RUN(&o, cio_write(loop, &o.req, wfd, buf, 8, off, op_cb));
			r[3] = RUN(&o, cio_writev(loop, &o.req, wfd, &iov, 1, off, op_cb));
			for (int j = 0; j < 4; j++)
				ck_assert_msg(r[j] == -ESPIPE,
					      "%s, %s at offset %lld: %lld, want -ESPIPE",
					      kind[k], (const char *[]){ "read", "readv",
					      "write", "writev" }[j], (long long)off,
					      (long long)r[j]);
		}
		/* Offset -1 works, and the stream holds exactly what was
		 * written before. */
		ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, rfd, got, sizeof(got), -1,
						  op_cb)), sizeof(got));
		ck_assert(t_check(got, sizeof(got), 5, 0));
		ck_assert_int_eq(RUN(&o, cio_write(loop, &o.req, wfd, "xyz", 3, -1, op_cb)), 3);
		ck_assert_int_eq(RUN(&o, cio_readv(loop, &o.req, rfd,
						   &(struct iovec){ got, 3 }, 1, -1, op_cb)), 3);
		ck_assert(!memcmp(got, "xyz", 3));
		close(rfd);
		close(wfd);
	}
	t_loop_free(loop);
}
END_TEST

/* ------------------------------------------------------------------ */

/*
 * A splice from an empty pipe waits for data without holding a pool
 * thread, so a deadline ends it (-ETIMEDOUT) and so does cio_cancel
 * (-ECANCELED); data written afterwards is still in the pipe. Into another
 * pipe and into a file.
 */
START_TEST(splice_from_empty_pipe_ends_on_deadline_and_cancel)
{
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir);
	int f = openat(dfd, "f", O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	char got[16];

	ck_assert_int_ge(f, 0);
	for (int k = 0; k < 2; k++) {
		const char *what = k ? "pipe->file" : "pipe->pipe";
		int p[2], q[2] = { -1, -1 }, out;
		uint64_t t0;
		struct op o;

		ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
		if (k == 0) {
			ck_assert_int_eq(pipe2(q, O_CLOEXEC), 0);
			out = q[1];
		} else {
			out = f;
		}
		for (int how = 0; how < 2; how++) {
			op_init(&o);
			if (how == 0)
				o.req.timeout_ns = 200 * 1000000ull;
			t0 = t_now_ns();
			START(&o, cio_splice(loop, &o.req, p[0], -1, out, -1, 4096, 0, op_cb));
			if (how == 1) {
				ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 1);
				ck_assert_int_eq(cio_cancel(loop, &o.req), 0);
			}
			ck_assert_msg(run_until(loop, &o.n, 1, RUN_LIMIT),
				      "%s: the splice did not end on its %s", what,
				      how ? "cancel" : "deadline");
			ck_assert_int_eq(o.req.res, how ? -ECANCELED : -ETIMEDOUT);
			if (how == 0)
				ck_assert_uint_ge(t_now_ns() - t0, 200 * 1000000ull);
			/* Nobody still reads the pipe. */
			ck_assert_int_eq(write(p[1], "later", 5), 5);
			ck_assert_int_eq(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
			ck_assert_int_eq(read(p[0], got, sizeof(got)), 5);
			ck_assert(!memcmp(got, "later", 5));
			ck_assert_int_eq(fcntl(p[0], F_SETFL, 0), 0);
		}
		close(p[0]);
		close(p[1]);
		if (k == 0) {
			close(q[0]);
			close(q[1]);
		}
	}
	/* A file end: the pool runs the call, once the pipe is ready. */
	if (strcmp(t_variant, "uring"))
		ck_assert_str_eq(cio_op_path(loop, CIO_OP_SPLICE, f), "pool");
	ck_assert_int_eq(close(f), 0);
	close(dfd);
	t_loop_free(loop);
	t_tmpdir_rm(dir);
}
END_TEST

/* socket -> pipe and pipe -> pipe: data that arrives while the splice
 * waits is moved, and nothing needs the pool for a pipe pair. */
START_TEST(splice_waits_for_socket_and_pipe)
{
	cio_loop *loop = t_loop_new();
	uint8_t src[3000], got[3000];
	int s[2], p[2], q[2];
	uint64_t jobs;
	struct op o;

	t_fill(src, sizeof(src), 9, 0);
	for (int nb = 0; nb < 2; nb++) {
		t_unix_pair(s);
		if (nb)
			ck_assert_int_eq(fcntl(s[0], F_SETFL, O_NONBLOCK), 0);
		ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
		op_init(&o);
		START(&o, cio_splice(loop, &o.req, s[0], -1, p[1], -1, sizeof(src), 0,
				     op_cb));
		if (nb) {
			/* As splice(2): a non-blocking socket does not wait. */
			ck_assert(run_until(loop, &o.n, 1, RUN_LIMIT));
			ck_assert_int_eq(o.req.res, -EAGAIN);
		} else {
			ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 1);
			ck_assert_int_eq(o.n, 0);
			ck_assert_int_eq(write(s[1], src, sizeof(src)), (ssize_t)sizeof(src));
			ck_assert(run_until(loop, &o.n, 1, RUN_LIMIT));
			ck_assert_int_eq(o.req.res, sizeof(src));
			ck_assert_int_eq(read(p[0], got, sizeof(got)), (ssize_t)sizeof(got));
			ck_assert(!memcmp(got, src, sizeof(src)));
		}
		close(s[0]);
		close(s[1]);
		close(p[0]);
		close(p[1]);
	}

	/* pipe -> pipe */
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(q, O_CLOEXEC), 0);
	jobs = pool_jobs(loop);
	op_init(&o);
	START(&o, cio_splice(loop, &o.req, p[0], -1, q[1], -1, sizeof(src), 0, op_cb));
	ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 1);
	ck_assert_int_eq(write(p[1], src, 1000), 1000);
	ck_assert(run_until(loop, &o.n, 1, RUN_LIMIT));
	ck_assert_int_eq(o.req.res, 1000);
	ck_assert_int_eq(read(q[0], got, sizeof(got)), 1000);
	ck_assert(!memcmp(got, src, 1000));
	if (strcmp(t_variant, "uring"))
		ck_assert_uint_eq(pool_jobs(loop) - jobs, 0);
	if (!strcmp(t_variant, "aio") || !strcmp(t_variant, "pool")) {
		/* As it ran: the engine between pipes. */
		ck_assert_str_eq(cio_op_path(loop, CIO_OP_SPLICE, q[1]), "epoll");
		ck_assert_str_eq(cio_op_path(loop, CIO_OP_SPLICE, p[0]), "epoll");
	}
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
	t_loop_free(loop);
}
END_TEST

/* ------------------------------------------------------------------ */

enum { RW_A = 10000, RW_B1 = 1, RW_B2 = 4097, RW_B3 = 333,
       RW_B = RW_B1 + RW_B2 + RW_B3, RW_T = RW_A + RW_B, RW_R1 = 5000 };

enum { EOF_NONE, EOF_SHUTDOWN, EOF_CLOSE };

/*
 * write, writev, read, readv with off = -1, then two reads at the end. A
 * file needs its position moved back to be read; a stream is ended by its
 * writer. res[] gets the six results, got[] the bytes read.
 */
static void rw_sequence(cio_loop *loop, int wfd, int rfd, int eof_how,
			int64_t res[6], uint8_t *got)
{
	uint8_t *w = malloc(RW_T);
	struct iovec wiov[3], riov[3], one;
	struct op o;

	ck_assert_ptr_nonnull(w);
	op_init(&o);
	t_fill(w, RW_T, 88, 0);
	wiov[0] = (struct iovec){ w + RW_A, RW_B1 };
	wiov[1] = (struct iovec){ w + RW_A + RW_B1, RW_B2 };
	wiov[2] = (struct iovec){ w + RW_A + RW_B1 + RW_B2, RW_B3 };
	res[0] = RUN(&o, cio_write(loop, &o.req, wfd, w, RW_A, -1, op_cb));
	res[1] = RUN(&o, cio_writev(loop, &o.req, wfd, wiov, 3, -1, op_cb));
	if (eof_how == EOF_NONE)
		ck_assert_int_eq(lseek(rfd, 0, SEEK_SET), 0);
	memset(got, 0xa5, RW_T + 100);
	res[2] = RUN(&o, cio_read(loop, &o.req, rfd, got, RW_R1, -1, op_cb));
	/* The rest, split unevenly. */
	riov[0] = (struct iovec){ got + RW_R1, 3000 };
	riov[1] = (struct iovec){ got + RW_R1 + 3000, 1 };
	riov[2] = (struct iovec){ got + RW_R1 + 3001, RW_T - RW_R1 - 3001 };
	res[3] = RUN(&o, cio_readv(loop, &o.req, rfd, riov, 3, -1, op_cb));
	if (eof_how == EOF_SHUTDOWN)
		ck_assert_int_eq(shutdown(wfd, SHUT_WR), 0);
	else if (eof_how == EOF_CLOSE)
		ck_assert_int_eq(close(wfd), 0);
	res[4] = RUN(&o, cio_read(loop, &o.req, rfd, got + RW_T, 100, -1, op_cb));
	one = (struct iovec){ got + RW_T, 100 };
	res[5] = RUN(&o, cio_readv(loop, &o.req, rfd, &one, 1, -1, op_cb));
	free(w);
}

/* read/write/readv/writev on a socketpair and a pipe give what a file gives. */
START_TEST(stream_rw_like_a_file)
{
	static const int64_t want[6] = { RW_A, RW_B, RW_R1, RW_T - RW_R1, 0, 0 };
	static const char *const kind[3] = { "file", "socketpair", "pipe" };
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir);
	uint8_t *got = malloc(RW_T + 100);
	int64_t res[3][6];

	ck_assert_ptr_nonnull(got);
	for (int k = 0; k < 3; k++) {
		int fds[2], f = -1;

		if (k == 0) {
			f = openat(dfd, "f", O_CREAT | O_RDWR | O_CLOEXEC, 0600);
			ck_assert_int_ge(f, 0);
			rw_sequence(loop, f, f, EOF_NONE, res[k], got);
		} else if (k == 1) {
			t_unix_pair(fds);
			rw_sequence(loop, fds[0], fds[1], EOF_SHUTDOWN, res[k], got);
			ck_assert_int_eq(close(fds[0]), 0);
		} else {
			ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
			rw_sequence(loop, fds[1], fds[0], EOF_CLOSE, res[k], got);
		}
		for (int i = 0; i < 6; i++)
			ck_assert_msg(res[k][i] == want[i] && res[k][i] == res[0][i],
				      "%s: step %d gave %lld, want %lld (as the file)",
				      kind[k], i, (long long)res[k][i], (long long)want[i]);
		ck_assert_msg(t_check(got, RW_T, 88, 0), "%s: the bytes differ", kind[k]);
		/* The reads at EOF wrote nothing. */
		ck_assert_uint_eq(got[RW_T], 0xa5);
		if (k == 0)
			ck_assert_int_eq(close(f), 0);
		else if (k == 1)
			ck_assert_int_eq(close(fds[1]), 0);
		else
			ck_assert_int_eq(close(fds[0]), 0);
	}
	free(got);
	close(dfd);
	t_loop_free(loop);
	t_tmpdir_rm(dir);
}
END_TEST

/* ------------------------------------------------------------------ */

static void check_path(cio_loop *loop, int op, int fd, const char *want,
		       const char *what)
{
	const char *p = cio_op_path(loop, op, fd);

	ck_assert_msg(p != NULL, "%s, op %d: no path", what, op);
	if (want)
		ck_assert_msg(!strcmp(p, want), "%s, op %d: \"%s\", want \"%s\"", what,
			      op, p, want);
	else
		ck_assert_msg(!strcmp(p, "ring") || !strcmp(p, "epoll") ||
			      !strcmp(p, "pool"), "%s, op %d: \"%s\"", what, op, p);
}

/* Streams wait for readiness (epoll) on the aio and pool backends, buffered
 * files go inline, then to the pool; on io_uring everything is on the ring. */
START_TEST(op_path_streams)
{
	static const int sock_ops[] = {
		CIO_OP_READ, CIO_OP_WRITE, CIO_OP_READV, CIO_OP_WRITEV, CIO_OP_RECV,
		CIO_OP_SEND, CIO_OP_RECVMSG, CIO_OP_SENDMSG, CIO_OP_POLL,
	};
	static const int rw_ops[] = {
		CIO_OP_READ, CIO_OP_WRITE, CIO_OP_READV, CIO_OP_WRITEV,
	};
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir);
	int f = t_mkfile(dfd, "f", 100, 3);
	const char *stream_want, *file_want;
	struct cio_stats s0, s1;
	char buf[16];
	struct op o;
	int sp[2], p[2];

	op_init(&o);
	t_unix_pair(sp);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	if (!strcmp(t_variant, "uring")) {
		stream_want = file_want = "ring";
	} else if (!strcmp(t_variant, "aio") || !strcmp(t_variant, "pool")) {
		/* aio is pool's epoll for streams, and f is buffered: tried
		 * on the loop thread, then the pool. */
		stream_want = "epoll";
		file_want = "inline";
	} else if (!strcmp(t_variant, "uring-fallback")) {
		/* Not fixed for streams; files as in test-file. */
		stream_want = NULL;
		file_want = "inline";
	} else {
		ck_abort_msg("unknown variant %s", t_variant);
		return;
	}
	for (size_t i = 0; i < sizeof(sock_ops) / sizeof(sock_ops[0]); i++)
		check_path(loop, sock_ops[i], sp[0], stream_want, "socket");
	for (size_t i = 0; i < sizeof(rw_ops) / sizeof(rw_ops[0]); i++) {
		check_path(loop, rw_ops[i], p[0], stream_want, "pipe");
		check_path(loop, rw_ops[i], f, file_want, "file");
	}
	if (!stream_want)
		printf("op_path [%s]: socket recv \"%s\", pipe read \"%s\"\n", t_variant,
		       cio_op_path(loop, CIO_OP_RECV, sp[0]),
		       cio_op_path(loop, CIO_OP_READ, p[0]));

	/* A socket recv that said "ring" or "epoll" is not a pool job: the
	 * socket takes MSG_DONTWAIT, so nothing needs a thread. */
	ck_assert_int_eq(write(sp[1], "abc", 3), 3);
	ck_assert_int_eq(cio_loop_stats(loop, &s0), 0);
	ck_assert_int_eq(RUN(&o, cio_recv(loop, &o.req, sp[0], buf, sizeof(buf), 0, op_cb)),
			 3);
	ck_assert_int_eq(cio_loop_stats(loop, &s1), 0);
	if (stream_want)
		ck_assert_uint_eq(s1.pool_jobs - s0.pool_jobs, 0);

	close(sp[0]);
	close(sp[1]);
	close(p[0]);
	close(p[1]);
	ck_assert_int_eq(close(f), 0);
	close(dfd);
	t_loop_free(loop);
	t_tmpdir_rm(dir);
}
END_TEST

static Suite *stream_suite(void)
{
	Suite *s = suite_create("stream");
	TCase *tc;

	tc = tcase_create("pipe");
	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, pipe_between_two_loops);
	suite_add_tcase(s, tc);

	tc = tcase_create("recv_pool");
	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, recv_pool_fewer_buffers_than_connections);
	tcase_add_test(tc, recv_pool_single);
	suite_add_tcase(s, tc);

	tc = tcase_create("zero-copy");
	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, sendfile_to_socket);
	tcase_add_test(tc, sendfile_inline_when_it_cannot_block);
	tcase_add_test(tc, zero_length_receive_never_waits);
	tcase_add_test(tc, splice_file_pipe_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("rw");
	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, stream_rw_like_a_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("path");
	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, op_path_streams);
	suite_add_tcase(s, tc);

	tc = tcase_create("fd-reuse");
	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, recv_on_reused_fd_after_plain_close);
	tcase_add_test(tc, recv_on_reused_fd_old_file_still_open);
	tcase_add_test(tc, recv_on_idle_fd_reused_outside_the_loop);
	suite_add_tcase(s, tc);

	tc = tcase_create("espipe");
	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, stream_offset_is_espipe);
	suite_add_tcase(s, tc);

	tc = tcase_create("splice-wait");
	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, splice_from_empty_pipe_ends_on_deadline_and_cancel);
	tcase_add_test(tc, splice_waits_for_socket_and_pipe);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	/* cio_write on a pipe whose reader has gone behaves like write(2). */
	signal(SIGPIPE, SIG_IGN);
	return t_main(stream_suite);
}
