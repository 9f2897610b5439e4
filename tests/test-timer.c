/* SPDX-License-Identifier: MIT */
/* Timers: each fires once, never early, in deadline order; an idle loop
 * waiting on a timer sleeps. */
#include "helpers.h"

#include <time.h>
#include <sys/resource.h>

#define NTIMERS 1000

struct tmr {
	cio_req  req;
	uint64_t deadline;   /* the earliest the library's deadline can be */
	uint64_t latest;     /* the latest it can be: the clock moves on while
	                        cio_timer() runs, so its deadline is in between */
	uint64_t fired_at;
	int      calls;
};

struct tmr_ctx {
	struct tmr *t;
	uint64_t max_fired_deadline;
	int order_violations;
	int fired;
};

static struct tmr_ctx *g_ctx;

static void tmr_cb(cio_req *req)
{
	struct tmr *t = req->data;

	t->fired_at = t_now_ns();
	t->calls++;
	ck_assert_int_eq(req->res, 0);
	/* Out of order only if an earlier-fired timer was surely due later. */
	if (t->latest < g_ctx->max_fired_deadline)
		g_ctx->order_violations++;
	if (t->deadline > g_ctx->max_fired_deadline)
		g_ctx->max_fired_deadline = t->deadline;
	g_ctx->fired++;
}

START_TEST(thousand_timers_in_order)
{
	cio_loop *loop = t_loop_new();
	struct tmr *t = calloc(NTIMERS, sizeof(*t));
	struct tmr_ctx ctx = { .t = t };
	unsigned order[NTIMERS];

	ck_assert_ptr_nonnull(t);
	g_ctx = &ctx;
	/* Deadlines 200 us apart, submitted in a shuffled order. */
	for (unsigned i = 0; i < NTIMERS; i++)
		order[i] = i;
	srand(7);
	for (unsigned i = NTIMERS - 1; i > 0; i--) {
		unsigned j = (unsigned)rand() % (i + 1), tmp = order[i];

		order[i] = order[j];
		order[j] = tmp;
	}
	uint64_t base = t_now_ns() + 100 * 1000000ull;   /* room for a loaded machine */

	for (unsigned k = 0; k < NTIMERS; k++) {
		unsigned i = order[k];
		uint64_t now = t_now_ns();
		uint64_t dl = base + (uint64_t)i * 200000ull;

		ck_assert_uint_gt(dl, now);
		t[i].deadline = dl;
		t[i].req.data = &t[i];
		ck_assert_int_eq(cio_timer(loop, &t[i].req, dl - now, tmr_cb), 0);
		t[i].latest = dl + (t_now_ns() - now);
	}
	t_run(loop);
	ck_assert_int_eq(ctx.fired, NTIMERS);
	for (unsigned i = 0; i < NTIMERS; i++) {
		ck_assert_int_eq(t[i].calls, 1);
		ck_assert_msg(t[i].fired_at >= t[i].deadline,
			      "timer %u fired %llu ns early", i,
			      (unsigned long long)(t[i].deadline - t[i].fired_at));
	}
	ck_assert_int_eq(ctx.order_violations, 0);
	t_loop_free(loop);
	free(t);
}
END_TEST

START_TEST(zero_and_huge_timers)
{
	cio_loop *loop = t_loop_new();
	cio_req zero = { 0 }, huge = { 0 };
	int n = 0, m = 0;

	zero.data = &n;
	huge.data = &m;
	ck_assert_int_eq(cio_timer(loop, &zero, 0, t_count_cb), 0);
	ck_assert_int_eq(cio_timer(loop, &huge, UINT64_MAX / 2, t_count_cb), 0);
	ck_assert_int_eq(cio_run(loop, CIO_RUN_ONCE), 1);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(zero.res, 0);
	ck_assert_int_eq(m, 0);
	ck_assert_int_eq(cio_cancel(loop, &huge), 0);
	t_run(loop);
	ck_assert_int_eq(m, 1);
	ck_assert_int_eq(huge.res, -ECANCELED);
	t_loop_free(loop);
}
END_TEST

struct chain {
	cio_loop *loop;
	int n;
};

static void chain_cb(cio_req *req)
{
	struct chain *c = req->data;

	ck_assert_int_eq(req->res, 0);
	if (++c->n < 200)
		ck_assert_int_eq(cio_timer(c->loop, req, 0, chain_cb), 0);
}

START_TEST(timer_rearmed_from_callback)
{
	struct chain c = { .loop = t_loop_new() };
	cio_req req = { .data = &c };

	ck_assert_int_eq(cio_timer(c.loop, &req, 1000, chain_cb), 0);
	t_run(c.loop);
	ck_assert_int_eq(c.n, 200);
	t_loop_free(c.loop);
}
END_TEST

static uint64_t thread_cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

START_TEST(idle_loop_sleeps)
{
	cio_loop *loop = t_loop_new();
	cio_req req = { 0 };
	uint64_t cpu0, t0, cpu, wall;
	int n = 0;

	req.data = &n;
	/* The clock starts before the timer is armed: under valgrind the
	 * first cio_timer call alone took 10 ms, and a t0 taken after it
	 * made a timer that was on time look 10 ms early. */
	t0 = t_now_ns();
	ck_assert_int_eq(cio_timer(loop, &req, 200 * 1000000ull, t_count_cb), 0);
	cpu0 = thread_cpu_us();
	t_run(loop);
	cpu = thread_cpu_us() - cpu0;
	wall = t_now_ns() - t0;
	ck_assert_int_eq(n, 1);
	ck_assert_uint_ge(wall, 200 * 1000000ull);
	printf("idle 200 ms timer wait [%s]: %llu us of CPU\n", t_variant,
	       (unsigned long long)cpu);
	/* A spinning loop would burn ~200,000 us; a sleeping one, almost none. */
	ck_assert_uint_lt(cpu, 20000);
	t_loop_free(loop);
}
END_TEST

static Suite *timer_suite(void)
{
	Suite *s = suite_create("timer");
	TCase *tc = tcase_create("timer");

	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, thousand_timers_in_order);
	tcase_add_test(tc, zero_and_huge_timers);
	tcase_add_test(tc, timer_rearmed_from_callback);
	tcase_add_test(tc, idle_loop_sleeps);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return t_main(timer_suite);
}
