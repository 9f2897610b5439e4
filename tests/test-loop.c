/* SPDX-License-Identifier: MIT */
/* The loop: lifetime, run modes, stop, exactly-once callbacks, loop fd,
 * stats and batching, the SQ-full path, work items, argument errors. */
#include "helpers.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

START_TEST(version_matches_macros)
{
	char want[64];

	snprintf(want, sizeof(want), "%d.%d.%d", CIO_VERSION_MAJOR,
		 CIO_VERSION_MINOR, CIO_VERSION_PATCH);
	ck_assert_str_eq(cio_version(), want);
	printf("sizeof(cio_req) = %zu\n", sizeof(cio_req));
	ck_assert_uint_le(sizeof(cio_req), 128);
}
END_TEST

START_TEST(loop_new_bad_arguments)
{
	struct cio_loop_opts opts = { .backend = "nonsense" };
	cio_loop *loop = NULL;

	ck_assert_int_eq(cio_loop_new(NULL, NULL), -EINVAL);
	ck_assert_int_eq(cio_loop_new(&loop, &opts), -EINVAL);
	opts.backend = t_backend;
	opts.flags = 0x100;
	ck_assert_int_eq(cio_loop_new(&loop, &opts), -EINVAL);
	ck_assert_ptr_null(loop);
	ck_assert_int_eq(cio_loop_free(NULL), -EINVAL);
	ck_assert_int_eq(cio_run(NULL, CIO_RUN_DEFAULT), -EINVAL);
	ck_assert_ptr_null(cio_backend(NULL));
}
END_TEST

START_TEST(env_backend_overrides_auto)
{
	struct cio_loop_opts opts = { .backend = "auto" };
	cio_loop *loop;

	setenv("CIO_BACKEND", T_BACKEND_NAME, 1);
	ck_assert_int_eq(cio_loop_new(&loop, &opts), 0);
	ck_assert_str_eq(cio_backend(loop), T_BACKEND_NAME);
	t_loop_free(loop);
	ck_assert_int_eq(cio_loop_new(&loop, NULL), 0);
	ck_assert_str_eq(cio_backend(loop), T_BACKEND_NAME);
	t_loop_free(loop);
	/* An explicit backend is not overridden. */
	setenv("CIO_BACKEND", "pool", 1);
	opts.backend = T_BACKEND_NAME;
	ck_assert_int_eq(cio_loop_new(&loop, &opts), 0);
	ck_assert_str_eq(cio_backend(loop), T_BACKEND_NAME);
	t_loop_free(loop);
	unsetenv("CIO_BACKEND");
}
END_TEST

START_TEST(free_busy_while_pending)
{
	cio_loop *loop = t_loop_new();
	cio_req req = { 0 };
	int n = 0;

	req.data = &n;
	ck_assert_int_eq(cio_timer(loop, &req, 20 * 1000000ull, t_count_cb), 0);
	ck_assert_int_eq(cio_loop_free(loop), -EBUSY);
	t_run(loop);
	ck_assert_int_eq(n, 1);
	t_loop_free(loop);
}
END_TEST

START_TEST(callback_never_inside_submit)
{
	cio_loop *loop = t_loop_new();
	cio_req req = { 0 };
	int n = 0;

	req.data = &n;
	ck_assert_int_eq(cio_nop(loop, &req, t_count_cb), 0);
	ck_assert_int_eq(n, 0);
	t_run(loop);
	ck_assert_int_eq(n, 1);
	t_loop_free(loop);
}
END_TEST

START_TEST(many_nops_each_once)
{
	static cio_req reqs[1000];
	static int seen[1000];
	cio_loop *loop = t_loop_new();

	memset(reqs, 0, sizeof(reqs));
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < 1000; i++) {
		reqs[i].data = &seen[i];
		ck_assert_int_eq(cio_nop(loop, &reqs[i], t_count_cb), 0);
	}
	t_run(loop);
	for (int i = 0; i < 1000; i++) {
		ck_assert_int_eq(seen[i], 1);
		ck_assert_int_eq(reqs[i].res, 0);
	}
	t_loop_free(loop);
}
END_TEST

START_TEST(run_modes)
{
	cio_loop *loop = t_loop_new();
	cio_req a = { 0 }, b = { 0 }, t = { 0 };
	int n = 0, nt = 0;
	uint64_t t0;

	/* Nothing pending: every mode returns 0 at once. */
	ck_assert_int_eq(cio_run(loop, CIO_RUN_DEFAULT), 0);
	ck_assert_int_eq(cio_run(loop, CIO_RUN_ONCE), 0);
	ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 0);
	ck_assert_int_eq(cio_run(loop, 7), -EINVAL);

	/* NOWAIT never blocks on a pending timer. The timer is an hour long:
	 * the bounds below are generous for a loaded machine and still far
	 * from a wait for it. */
	t.data = &nt;
	t0 = now_ms();
	ck_assert_int_eq(cio_timer(loop, &t, 3600 * 1000000000ull, t_count_cb), 0);
	ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 1);
	ck_assert_uint_lt(now_ms() - t0, 60000);
	ck_assert_int_eq(nt, 0);

	/* ONCE returns after the nops, with the timer still pending. */
	a.data = b.data = &n;
	ck_assert_int_eq(cio_nop(loop, &a, t_count_cb), 0);
	ck_assert_int_eq(cio_nop(loop, &b, t_count_cb), 0);
	while (n < 2)
		ck_assert_int_ge(cio_run(loop, CIO_RUN_ONCE), 1);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(nt, 0);
	ck_assert_uint_lt(now_ms() - t0, 60000);
	ck_assert_int_eq(cio_cancel(loop, &t), 0);
	t_run(loop);
	ck_assert_int_eq(nt, 1);
	ck_assert_int_eq(t.res, -ECANCELED);

	/* ONCE then waits for a timer. */
	t.data = &n;
	t0 = now_ms();
	ck_assert_int_eq(cio_timer(loop, &t, 300 * 1000000ull, t_count_cb), 0);
	ck_assert_int_eq(cio_run(loop, CIO_RUN_ONCE), 0);
	ck_assert_int_eq(n, 3);
	ck_assert_uint_ge(now_ms() - t0, 300);
	t_loop_free(loop);
}
END_TEST

struct stop_ctx {
	cio_loop *loop;
	int calls;
	int nested;
};

static void stop_cb(cio_req *req)
{
	struct stop_ctx *c = req->data;

	c->calls++;
	c->nested = cio_run(c->loop, CIO_RUN_NOWAIT);
	cio_stop(c->loop);
}

START_TEST(stop_from_callback)
{
	cio_loop *loop = t_loop_new();
	struct stop_ctx c = { .loop = loop };
	cio_req fast = { 0 }, slow = { 0 };
	int n = 0;

	fast.data = &c;
	slow.data = &n;
	ck_assert_int_eq(cio_timer(loop, &fast, 1000000, stop_cb), 0);
	ck_assert_int_eq(cio_timer(loop, &slow, 10ull * 1000000000ull, t_count_cb), 0);
	ck_assert_int_eq(cio_run(loop, CIO_RUN_DEFAULT), 1);
	ck_assert_int_eq(c.calls, 1);
	ck_assert_int_eq(c.nested, -EBUSY);   /* no cio_run inside a callback */
	ck_assert_int_eq(cio_cancel(loop, &slow), 0);
	t_run(loop);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(slow.res, -ECANCELED);

	/* A stop before run makes the next run return after one pass. */
	ck_assert_int_eq(cio_timer(loop, &slow, 10ull * 1000000000ull, t_count_cb), 0);
	cio_stop(loop);
	ck_assert_int_eq(cio_run(loop, CIO_RUN_DEFAULT), 1);
	ck_assert_int_eq(cio_cancel_all(loop), 1);
	t_run(loop);
	ck_assert_int_eq(n, 2);
	t_loop_free(loop);
}
END_TEST

/* cio_run_timeout: returns once a callback has run, or when its time is
 * up (never before), or at once for 0; a post from another thread ends
 * the wait; errors by value. */
struct later_post {
	cio_loop *loop;
	cio_req   req;
	int       n, ret;
};

static void *post_later(void *arg)
{
	struct later_post *c = arg;

	usleep(10000);   /* the wait usually begins first; either order works */
	c->ret = cio_post(c->loop, &c->req, t_count_cb);
	return NULL;
}

START_TEST(run_timeout)
{
	cio_loop *loop = t_loop_new();
	cio_req far = { 0 }, nop = { 0 };
	struct later_post post = { .loop = loop, .ret = 1 };
	uint64_t t0, took;
	pthread_t th;
	int n = 0;

	far.data = &n;
	nop.data = &n;
	ck_assert_int_eq(cio_run_timeout(NULL, 1), -EINVAL);
	/* Nothing pending: at once, as CIO_RUN_ONCE. */
	ck_assert_int_eq(cio_run_timeout(loop, 60ull * 1000000000ull), 0);

	/* A timer far away: the wait ends at its time, not before. */
	ck_assert_int_eq(cio_timer(loop, &far, 600ull * 1000000000ull, t_count_cb), 0);
	t0 = t_now_ns();
	ck_assert_int_eq(cio_run_timeout(loop, 50 * 1000000ull), 1);
	took = t_now_ns() - t0;
	ck_assert_uint_ge(took, 50 * 1000000ull);
	ck_assert_int_eq(n, 0);
	/* 0: one pass that never blocks. */
	ck_assert_int_eq(cio_run_timeout(loop, 0), 1);
	ck_assert_int_eq(n, 0);

	/* A callback ends it long before its time. */
	ck_assert_int_eq(cio_nop(loop, &nop, t_count_cb), 0);
	t0 = t_now_ns();
	ck_assert_int_eq(cio_run_timeout(loop, 600ull * 1000000000ull), 1);
	ck_assert_int_eq(n, 1);
	ck_assert_uint_lt(t_now_ns() - t0, 60ull * 1000000000ull);

	/* So does a post from another thread, with the loop fd never asked
	 * for: the wait listens to posts by itself. */
	post.req.data = &post.n;
	ck_assert_int_eq(pthread_create(&th, NULL, post_later, &post), 0);
	while (!post.n)
		ck_assert_int_ge(cio_run_timeout(loop, 600ull * 1000000000ull), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(post.ret, 0);
	ck_assert_int_eq(post.n, 1);
	ck_assert_int_eq(n, 1);

	ck_assert_int_eq(cio_cancel(loop, &far), 0);
	t_run(loop);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(far.res, -ECANCELED);
	t_loop_free(loop);
}
END_TEST

static int poll_in(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms);
}

static void sleep_fn(cio_req *req)
{
	(void)req;
	usleep(20000);
}

START_TEST(loop_fd_readable_when_work)
{
	cio_loop *loop = t_loop_new();
	cio_req req = { 0 };
	int n = 0, fd;
	uint64_t t0;

	fd = cio_loop_fd(loop);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(poll_in(fd, 0), 0);

	/* A nop submitted outside cio_run makes it readable. */
	req.data = &n;
	ck_assert_int_eq(cio_nop(loop, &req, t_count_cb), 0);
	ck_assert_int_eq(poll_in(fd, 60000), 1);
	ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 0);
	ck_assert_int_eq(n, 1);

	/* A timer: readable once it is due, not before. */
	t0 = now_ms();
	ck_assert_int_eq(cio_timer(loop, &req, 50 * 1000000ull, t_count_cb), 0);
	while (n < 2) {
		ck_assert_int_eq(poll_in(fd, 60000), 1);
		cio_run(loop, CIO_RUN_NOWAIT);
		ck_assert_uint_lt(now_ms() - t0, 60000);   /* generous: a loaded machine */
	}
	ck_assert_uint_ge(now_ms() - t0, 50);

	/* Work finishing on a pool thread. */
	ck_assert_int_eq(cio_work(loop, &req, sleep_fn, t_count_cb), 0);
	while (n < 3) {
		ck_assert_int_eq(poll_in(fd, 60000), 1);
		cio_run(loop, CIO_RUN_NOWAIT);
	}
	ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 0);
	t_loop_free(loop);
}
END_TEST

START_TEST(batched_submission)
{
	cio_loop *loop = t_loop_new();
	static cio_req reqs[64];
	struct cio_stats st;
	int n = 0;

	memset(reqs, 0, sizeof(reqs));
	for (int i = 0; i < 64; i++) {
		reqs[i].data = &n;
		ck_assert_int_eq(cio_nop(loop, &reqs[i], t_count_cb), 0);
	}
	ck_assert_int_eq(cio_loop_stats(loop, &st), 0);
	ck_assert_uint_eq(st.submitted, 64);
	ck_assert_uint_eq(st.inflight, 64);
	ck_assert_uint_eq(st.kernel_enters, 0);   /* nothing entered yet */
	t_run(loop);
	ck_assert_int_eq(n, 64);
	ck_assert_int_eq(cio_loop_stats(loop, &st), 0);
	ck_assert_uint_eq(st.completed, 64);
	ck_assert_uint_eq(st.inflight, 0);
	/* One enter submits all 64 and waits; allow a second for the reap.
	 * Injected retries and delays (CIO_FAULTS) take passes of their own,
	 * and nops the pool runs (uring-fallback) come back in as many wakes
	 * as the pool's threads happen to finish them in: three, once, under
	 * ASan with two CPU hogs beside it. */
	if (getenv("CIO_FAULTS") || !strcmp(cio_op_path(loop, CIO_OP_NOP, -1), "pool"))
		printf("NOTE batched_submission [%s]: %llu enters, not checked "
		       "under CIO_FAULTS or on the pool\n", t_variant,
		       (unsigned long long)st.kernel_enters);
	else
		ck_assert_uint_le(st.kernel_enters, 2);
	ck_assert_int_eq(cio_loop_stats(loop, NULL), -EINVAL);

	/* Posts count on both sides: submitted - completed = inflight. */
	reqs[0].data = &n;
	ck_assert_int_eq(cio_post(loop, &reqs[0], t_count_cb), 0);
	ck_assert_int_eq(cio_loop_stats(loop, &st), 0);
	ck_assert_uint_eq(st.submitted, 65);
	ck_assert_uint_eq(st.inflight, 1);
	ck_assert_uint_eq(st.submitted - st.completed, st.inflight);
	t_run(loop);
	ck_assert_int_eq(n, 65);
	ck_assert_int_eq(cio_loop_stats(loop, &st), 0);
	ck_assert_uint_eq(st.submitted, 65);
	ck_assert_uint_eq(st.completed, 65);
	ck_assert_uint_eq(st.inflight, 0);
	t_loop_free(loop);
}
END_TEST

START_TEST(tiny_queue_loses_nothing)
{
	enum { N = 5000 };
	cio_loop *loop = t_loop_new_opts(4);
	cio_req *reqs = calloc(2 * N, sizeof(*reqs));
	struct cio_stats st;
	int n = 0;

	ck_assert_ptr_nonnull(reqs);
	for (int i = 0; i < N; i++) {
		reqs[i].data = &n;
		ck_assert_int_eq(cio_nop(loop, &reqs[i], t_count_cb), 0);
		reqs[N + i].data = &n;
		ck_assert_int_eq(cio_timer(loop, &reqs[N + i], 1000, t_count_cb), 0);
	}
	t_run(loop);
	ck_assert_int_eq(n, 2 * N);
	for (int i = 0; i < 2 * N; i++)
		ck_assert_int_eq(reqs[i].res, 0);
	ck_assert_int_eq(cio_loop_stats(loop, &st), 0);
	/* 10,000 completions into a CQ of 8: the kernel's overflow backlog
	 * was used and reaped, and nothing was lost. */
	if (!strcmp(t_variant, "uring"))
		ck_assert_uint_gt(st.cq_overflows, 0);
	t_loop_free(loop);
	free(reqs);
}
END_TEST

struct work_ctx {
	pthread_t loop_thread, fn_thread, cb_thread;
	int fn_calls, cb_calls;
};

static void work_fn(cio_req *req)
{
	struct work_ctx *c = req->data;

	c->fn_thread = pthread_self();
	c->fn_calls++;
}

static void work_cb(cio_req *req)
{
	struct work_ctx *c = req->data;

	c->cb_thread = pthread_self();
	c->cb_calls++;
	ck_assert_int_eq(req->res, 0);
}

START_TEST(work_runs_off_loop_thread)
{
	cio_loop *loop = t_loop_new();
	struct work_ctx c = { .loop_thread = pthread_self() };
	cio_req req = { .data = &c };

	ck_assert_int_eq(cio_work(loop, &req, NULL, work_cb), -EINVAL);
	ck_assert_int_eq(cio_work(loop, &req, work_fn, work_cb), 0);
	t_run(loop);
	ck_assert_int_eq(c.fn_calls, 1);
	ck_assert_int_eq(c.cb_calls, 1);
	ck_assert(!pthread_equal(c.fn_thread, c.loop_thread));
	ck_assert(pthread_equal(c.cb_thread, c.loop_thread));
	ck_assert_str_eq(cio_op_path(loop, CIO_OP_WORK, -1), "pool");
	t_loop_free(loop);
}
END_TEST

START_TEST(op_path_answers)
{
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir();
	char path[512];
	int fd;

	/* A regular file: the answer depends on the variant, not on a guess. */
	snprintf(path, sizeof(path), "%s/f", dir);
	fd = open(path, O_CREAT | O_RDWR, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_null(cio_op_path(loop, -1, fd));
	ck_assert_ptr_null(cio_op_path(loop, 999, fd));
	ck_assert_ptr_null(cio_op_path(NULL, CIO_OP_READ, fd));
	if (!strcmp(t_variant, "uring")) {
		ck_assert_str_eq(cio_op_path(loop, CIO_OP_READ, fd), "ring");
		ck_assert_str_eq(cio_op_path(loop, CIO_OP_TIMER, -1), "ring");
	} else if (!strcmp(t_variant, "aio") || !strcmp(t_variant, "pool")) {
		/* A buffered file: the loop thread tries it, then the pool,
		 * on both (aio takes O_DIRECT only). */
		ck_assert_str_eq(cio_op_path(loop, CIO_OP_READ, fd), "inline");
		ck_assert_str_eq(cio_op_path(loop, CIO_OP_FSYNC, fd), "pool");
		ck_assert_str_eq(cio_op_path(loop, CIO_OP_OPENAT, fd), "pool");
		ck_assert_str_eq(cio_op_path(loop, CIO_OP_TIMER, -1), "epoll");
		ck_assert_str_eq(cio_op_path(loop, CIO_OP_NOP, -1), "epoll");
	} else if (!strcmp(t_variant, "uring-fallback")) {
		ck_assert_str_eq(cio_op_path(loop, CIO_OP_READ, fd), "inline");
		ck_assert_str_eq(cio_op_path(loop, CIO_OP_OPENAT, fd), "pool");
		ck_assert_str_eq(cio_op_path(loop, CIO_OP_TIMER, -1), "ring");
	} else {
		ck_abort_msg("unknown variant %s", t_variant);
	}
	/* Posts arrive on the loop's eventfd, watched as nops are. */
	ck_assert_str_eq(cio_op_path(loop, CIO_OP_POST, -1),
			 cio_op_path(loop, CIO_OP_NOP, -1));
	close(fd);
	t_tmpdir_rm(dir);
	t_loop_free(loop);
}
END_TEST

START_TEST(reuse_in_flight_is_busy)
{
	cio_loop *loop = t_loop_new();
	cio_req req = { 0 };
	int n = 0;

	req.data = &n;
	ck_assert_int_eq(cio_timer(loop, &req, 10 * 1000000ull, t_count_cb), 0);
	ck_assert_int_eq(cio_nop(loop, &req, t_count_cb), -EBUSY);
	ck_assert_int_eq(cio_timer(loop, &req, 1, t_count_cb), -EBUSY);
	ck_assert_int_eq(cio_post(loop, &req, t_count_cb), -EBUSY);
	t_run(loop);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(req.res, 0);
	/* After the callback the request is free again. */
	ck_assert_int_eq(cio_nop(loop, &req, t_count_cb), 0);
	t_run(loop);
	ck_assert_int_eq(n, 2);
	t_loop_free(loop);
}
END_TEST

struct resubmit_ctx {
	cio_loop *loop;
	int n;
};

static void resubmit_cb(cio_req *req)
{
	struct resubmit_ctx *c = req->data;

	if (++c->n < 100)
		ck_assert_int_eq(cio_nop(c->loop, req, resubmit_cb), 0);
}

START_TEST(resubmit_from_callback)
{
	struct resubmit_ctx c = { .loop = t_loop_new() };
	cio_req req = { .data = &c };

	ck_assert_int_eq(cio_nop(c.loop, &req, resubmit_cb), 0);
	t_run(c.loop);
	ck_assert_int_eq(c.n, 100);
	t_loop_free(c.loop);
}
END_TEST

/* Stats count what happened, on every backend. */
START_TEST(stats_count)
{
	cio_loop *loop = t_loop_new();
	struct cio_stats s0, s1;
	struct op o[10];
	int sv[2];

	ck_assert_int_eq(cio_loop_stats(loop, &s0), 0);
	for (int i = 0; i < 10; i++) {
		op_init(&o[i]);
		START(&o[i], cio_nop(loop, &o[i].req, op_cb));
	}
	t_run(loop);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	op_init(&o[0]);
	o[0].req.timeout_ns = 1000000;
	START(&o[0], cio_poll(loop, &o[0].req, sv[0], POLLIN, op_cb));
	t_run(loop);
	ck_assert_int_eq(o[0].req.res, -ETIMEDOUT);
	ck_assert_int_eq(cio_loop_stats(loop, &s1), 0);
	ck_assert_uint_eq(s1.submitted - s0.submitted, 11);
	ck_assert_uint_eq(s1.completed - s0.completed, 11);
	ck_assert_uint_eq(s1.inflight, 0);
	ck_assert_uint_eq(s1.timeouts - s0.timeouts, 1);
	ck_assert_uint_gt(s1.kernel_enters, s0.kernel_enters);
	close(sv[0]);
	close(sv[1]);
	t_loop_free(loop);
}
END_TEST

static Suite *loop_suite(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, version_matches_macros);
	tcase_add_test(tc, loop_new_bad_arguments);
	tcase_add_test(tc, env_backend_overrides_auto);
	tcase_add_test(tc, free_busy_while_pending);
	tcase_add_test(tc, callback_never_inside_submit);
	tcase_add_test(tc, many_nops_each_once);
	tcase_add_test(tc, run_modes);
	tcase_add_test(tc, stop_from_callback);
	tcase_add_test(tc, run_timeout);
	tcase_add_test(tc, loop_fd_readable_when_work);
	tcase_add_test(tc, batched_submission);
	tcase_add_test(tc, stats_count);
	tcase_add_test(tc, tiny_queue_loses_nothing);
	tcase_add_test(tc, work_runs_off_loop_thread);
	tcase_add_test(tc, op_path_answers);
	tcase_add_test(tc, reuse_in_flight_is_busy);
	tcase_add_test(tc, resubmit_from_callback);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return t_main(loop_suite);
}
