/* SPDX-License-Identifier: MIT */
/* Cancellation: exactly one callback per request, with -ECANCELED or the
 * real result if the operation won the race. */
#include "helpers.h"

#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <unistd.h>
#include <sys/socket.h>

#define SEC 1000000000ull

START_TEST(cancel_right_after_submit)
{
	cio_loop *loop = t_loop_new();
	cio_req req = { 0 };
	int n = 0;

	req.data = &n;
	ck_assert_int_eq(cio_timer(loop, &req, 10 * SEC, t_count_cb), 0);
	ck_assert_int_eq(cio_cancel(loop, &req), 0);
	ck_assert_int_eq(n, 0);   /* never inside the call */
	t_run(loop);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(req.res, -ECANCELED);
	/* A second cancel of a finished request finds nothing. */
	ck_assert_int_eq(cio_cancel(loop, &req), -ENOENT);
	t_run(loop);
	ck_assert_int_eq(n, 1);
	t_loop_free(loop);
}
END_TEST

START_TEST(cancel_twice_one_callback)
{
	cio_loop *loop = t_loop_new();
	cio_req req = { 0 };
	int n = 0;

	req.data = &n;
	ck_assert_int_eq(cio_timer(loop, &req, 10 * SEC, t_count_cb), 0);
	ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 1);   /* in the kernel now */
	ck_assert_int_eq(cio_cancel(loop, &req), 0);
	ck_assert_int_eq(cio_cancel(loop, &req), 0);
	t_run(loop);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(req.res, -ECANCELED);
	t_loop_free(loop);
}
END_TEST

START_TEST(cancel_after_completion)
{
	cio_loop *loop = t_loop_new();
	cio_req req = { 0 };
	int n = 0;

	req.data = &n;
	ck_assert_int_eq(cio_nop(loop, &req, t_count_cb), 0);
	t_run(loop);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(cio_cancel(loop, &req), -ENOENT);
	t_run(loop);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(req.res, 0);
	t_loop_free(loop);
}
END_TEST

START_TEST(cancel_races_a_nop)
{
	cio_loop *loop = t_loop_new();
	cio_req req = { 0 };
	int n = 0;

	req.data = &n;
	for (int i = 0; i < 200; i++) {
		ck_assert_int_eq(cio_nop(loop, &req, t_count_cb), 0);
		if (i % 2)
			cio_run(loop, CIO_RUN_NOWAIT);
		/* 0 while pending, -ENOENT if the nop already ran. */
		int ret = cio_cancel(loop, &req);

		ck_assert(ret == 0 || ret == -ENOENT);
		t_run(loop);
		ck_assert_int_eq(n, i + 1);
		ck_assert(req.res == 0 || req.res == -ECANCELED);
	}
	t_loop_free(loop);
}
END_TEST

START_TEST(cancel_bad_arguments)
{
	cio_loop *loop = t_loop_new(), *other = t_loop_new();
	cio_req req = { 0 }, fresh = { 0 };
	int n = 0;

	req.data = &n;
	ck_assert_int_eq(cio_cancel(NULL, &req), -EINVAL);
	ck_assert_int_eq(cio_cancel(loop, NULL), -EINVAL);
	ck_assert_int_eq(cio_cancel_all(NULL), -EINVAL);
	ck_assert_int_eq(cio_cancel(loop, &fresh), -ENOENT);
	ck_assert_int_eq(cio_timer(loop, &req, 10 * SEC, t_count_cb), 0);
	/* Pending, but on another loop. */
	ck_assert_int_eq(cio_cancel(other, &req), -ENOENT);
	ck_assert_int_eq(cio_cancel_all(other), 0);
	ck_assert_int_eq(cio_cancel_all(loop), 1);
	t_run(loop);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(req.res, -ECANCELED);
	t_loop_free(loop);
	t_loop_free(other);
}
END_TEST

/* Work items: those cancelled before they start never run their fn. */
struct job {
	cio_req req;
	atomic_int fn_ran;
	int calls;
};

static atomic_int running_now, gate_open;

/* Holds its pool thread until the test opens the gate (or a minute
 * passes): while cio_cancel_all runs, only the jobs already running can
 * finish, and the pool's threads are fewer than the jobs. */
static void slow_fn(cio_req *req)
{
	struct job *j = req->data;
	uint64_t t0 = t_now_ns();

	atomic_store(&j->fn_ran, 1);
	atomic_fetch_add(&running_now, 1);
	while (!atomic_load(&gate_open) && t_now_ns() - t0 < 60000000000ull)
		usleep(1000);
	atomic_fetch_sub(&running_now, 1);
}

static void noop_fn(cio_req *req)
{
	(void)req;
}

static void job_cb(cio_req *req)
{
	struct job *j = req->data;

	j->calls++;
}

START_TEST(cancel_all_queued_work)
{
	enum { N = 300 };
	cio_loop *loop = t_loop_new();
	struct job *jobs = calloc(N, sizeof(*jobs));
	int cancelled = 0, ran = 0;

	ck_assert_ptr_nonnull(jobs);
	atomic_store(&gate_open, 0);
	for (int i = 0; i < N; i++) {
		jobs[i].req.data = &jobs[i];
		ck_assert_int_eq(cio_work(loop, &jobs[i].req, slow_fn, job_cb), 0);
	}
	/* Some running (held at the gate), the rest queued behind them. */
	{
		uint64_t t0 = t_now_ns();

		while (!atomic_load(&running_now)) {
			ck_assert_msg(t_now_ns() - t0 < 60000000000ull, "no job started in 60 s");
			usleep(1000);
		}
	}
	ck_assert_int_eq(cio_cancel_all(loop), N);
	atomic_store(&gate_open, 1);
	t_run(loop);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(jobs[i].calls, 1);
		if (jobs[i].req.res == -ECANCELED) {
			ck_assert_int_eq(atomic_load(&jobs[i].fn_ran), 0);
			cancelled++;
		} else {
			ck_assert_int_eq(jobs[i].req.res, 0);
			ck_assert_int_eq(atomic_load(&jobs[i].fn_ran), 1);
			ran++;
		}
	}
	printf("cancel_all of %d queued work items [%s]: %d cancelled, %d ran\n",
	       N, t_variant, cancelled, ran);
	/* The pool holds at most 64 threads by default, each held at the gate
	 * until cio_cancel_all returned: most jobs were still queued, however
	 * slow the machine or the build (ThreadSanitizer, valgrind). */
	ck_assert_int_gt(cancelled, 0);
	ck_assert_int_gt(ran, 0);
	t_loop_free(loop);
	free(jobs);
}
END_TEST

/* Mixed operations in flight: timers, nops, file reads and writes, fsync,
 * work. Exactly one callback each; timers must report -ECANCELED. */
START_TEST(cancel_all_mixed)
{
	enum { NT = 50, NN = 50, NF = 50 };
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir();
	static cio_req timers[NT], nops[NN], reads[NF], writes[NF], sync_req, work_req;
	static int tcount[NT], ncount[NN], rcount[NF], wcount[NF];
	int scount = 0, wkcount = 0, fd, pending;
	static char rbuf[NF][4096], wbuf[NF][4096];
	char path[512];

	snprintf(path, sizeof(path), "%s/f", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, NF * 4096), 0);
	memset(timers, 0, sizeof(timers));
	for (int i = 0; i < NT; i++) {
		tcount[i] = 0;
		timers[i].data = &tcount[i];
		ck_assert_int_eq(cio_timer(loop, &timers[i], 30 * SEC, t_count_cb), 0);
	}
	for (int i = 0; i < NN; i++) {
		ncount[i] = 0;
		memset(&nops[i], 0, sizeof(nops[i]));
		nops[i].data = &ncount[i];
		ck_assert_int_eq(cio_nop(loop, &nops[i], t_count_cb), 0);
	}
	for (int i = 0; i < NF; i++) {
		rcount[i] = wcount[i] = 0;
		memset(&reads[i], 0, sizeof(reads[i]));
		memset(&writes[i], 0, sizeof(writes[i]));
		reads[i].data = &rcount[i];
		writes[i].data = &wcount[i];
		t_fill(wbuf[i], 4096, 5, (uint64_t)i * 4096);
		ck_assert_int_eq(cio_read(loop, &reads[i], fd, rbuf[i], 4096,
					  (int64_t)i * 4096, t_count_cb), 0);
		ck_assert_int_eq(cio_write(loop, &writes[i], fd, wbuf[i], 4096,
					   (int64_t)(NF + i) * 4096, t_count_cb), 0);
	}
	memset(&sync_req, 0, sizeof(sync_req));
	memset(&work_req, 0, sizeof(work_req));
	sync_req.data = &scount;
	work_req.data = &wkcount;
	ck_assert_int_eq(cio_fsync(loop, &sync_req, fd, 0, t_count_cb), 0);
	ck_assert_int_eq(cio_work(loop, &work_req, noop_fn, t_count_cb), 0);
	if (_i % 2)   /* half the runs let the kernel see them first */
		cio_run(loop, CIO_RUN_NOWAIT);
	pending = NT + NN + 2 * NF + 2;
	int n = cio_cancel_all(loop);

	ck_assert_int_le(n, pending);
	ck_assert_int_ge(n, NT);   /* the timers at least are still pending */
	t_run(loop);
	for (int i = 0; i < NT; i++) {
		ck_assert_int_eq(tcount[i], 1);
		ck_assert_int_eq(timers[i].res, -ECANCELED);
	}
	for (int i = 0; i < NN; i++) {
		ck_assert_int_eq(ncount[i], 1);
		ck_assert(nops[i].res == 0 || nops[i].res == -ECANCELED);
	}
	for (int i = 0; i < NF; i++) {
		ck_assert_int_eq(rcount[i], 1);
		ck_assert_int_eq(wcount[i], 1);
		ck_assert_msg(reads[i].res == 4096 || reads[i].res == -ECANCELED,
			      "read %d: res %lld", i, (long long)reads[i].res);
		ck_assert_msg(writes[i].res == 4096 || writes[i].res == -ECANCELED,
			      "write %d: res %lld", i, (long long)writes[i].res);
		/* A write that reports success is on the file. */
		if (writes[i].res == 4096) {
			char back[4096];

			ck_assert_int_eq(pread(fd, back, 4096, (off_t)(NF + i) * 4096), 4096);
			ck_assert(t_check(back, 4096, 5, (uint64_t)i * 4096));
		}
	}
	ck_assert_int_eq(scount, 1);
	ck_assert(sync_req.res == 0 || sync_req.res == -ECANCELED);
	ck_assert_int_eq(wkcount, 1);
	ck_assert(work_req.res == 0 || work_req.res == -ECANCELED);
	close(fd);
	t_tmpdir_rm(dir);
	t_loop_free(loop);
}
END_TEST

struct canceller {
	cio_loop *loop;
	cio_req *victim;
	int ret;
};

static void cancel_from_cb(cio_req *req)
{
	struct canceller *c = req->data;

	c->ret = cio_cancel(c->loop, c->victim);
}

START_TEST(cancel_from_a_callback)
{
	cio_loop *loop = t_loop_new();
	cio_req victim = { 0 }, trigger = { 0 };
	struct canceller c = { .loop = loop, .victim = &victim, .ret = 1 };
	int n = 0;

	victim.data = &n;
	trigger.data = &c;
	ck_assert_int_eq(cio_timer(loop, &victim, 10 * SEC, t_count_cb), 0);
	ck_assert_int_eq(cio_timer(loop, &trigger, 1000000, cancel_from_cb), 0);
	t_run(loop);
	ck_assert_int_eq(c.ret, 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(victim.res, -ECANCELED);
	t_loop_free(loop);
}
END_TEST

/* cio_close ends whatever waits on the fd it closes (guarantee 1 of
 * API.md: one callback under close of the fd), and nothing else. */
START_TEST(close_ends_waits_on_its_fd)
{
	cio_loop *loop = t_loop_new();
	cio_req rx = { 0 }, pl = { 0 }, pr = { 0 }, cl = { 0 }, cl2 = { 0 }, other = { 0 };
	char b1[16], b2[16], b3[16];
	int n = 0, s[2], p[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	rx.data = pl.data = pr.data = cl.data = cl2.data = other.data = &n;
	ck_assert_int_eq(cio_recv(loop, &rx, s[0], b1, sizeof(b1), 0, t_count_cb), 0);
	ck_assert_int_eq(cio_poll(loop, &pl, s[0], POLLIN, t_count_cb), 0);
	ck_assert_int_eq(cio_read(loop, &pr, p[0], b2, sizeof(b2), -1, t_count_cb), 0);
	/* On another fd: must not be touched. */
	ck_assert_int_eq(cio_recv(loop, &other, s[1], b3, sizeof(b3), 0, t_count_cb), 0);
	ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 4);   /* all waiting now */
	ck_assert_int_eq(n, 0);

	ck_assert_int_eq(cio_close(loop, &cl, s[0], t_count_cb), 0);
	ck_assert_int_eq(cio_close(loop, &cl2, p[0], t_count_cb), 0);
	/* Every callback, each once; a wait left behind would hang here
	 * (the test's timeout). */
	t_run(loop);
	ck_assert_int_eq(n, 6);
	ck_assert_int_eq(cl.res, 0);
	ck_assert_int_eq(cl2.res, 0);
	ck_assert_int_eq(rx.res, -ECANCELED);
	ck_assert_int_eq(pl.res, -ECANCELED);
	ck_assert_int_eq(pr.res, -ECANCELED);
	/* Not cancelled: the peer saw the close, so its recv ended with EOF. */
	ck_assert_int_eq(other.res, 0);

	close(s[1]);
	close(p[1]);
	t_loop_free(loop);
}
END_TEST

/* A CIO_ALL receive whose first step is done (its part is in hand) and
 * whose next step has not started: cancel_fd ends it there, and what
 * moved stays readable through cio_transferred(). */
START_TEST(cancel_fd_between_all_steps)
{
	cio_loop *loop = t_loop_new();
	cio_req rx = { 0 };
	char buf[100];
	int n = 0, s[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
	ck_assert_int_eq(write(s[1], "0123456789", 10), 10);
	rx.data = &n;
	rx.opts = CIO_ALL;
	ck_assert_int_eq(cio_recv(loop, &rx, s[0], buf, sizeof(buf), 0, t_count_cb), 0);
	/* The data is there: on epoll backends the first step is done at
	 * submission; on the ring it is queued or under way. */
	ck_assert_int_eq(cio_cancel_fd(loop, s[0]), 1);
	t_run(loop);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(rx.res, -ECANCELED);
	ck_assert_msg(cio_transferred(&rx) == 0 || cio_transferred(&rx) == 10,
		      "transferred %lld", (long long)cio_transferred(&rx));
	if (cio_transferred(&rx) == 10)
		ck_assert(!memcmp(buf, "0123456789", 10));
	close(s[0]);
	close(s[1]);
	t_loop_free(loop);
}
END_TEST

/* A cancel the kernel misses (older kernels have windows where
 * IORING_OP_ASYNC_CANCEL does not find a request blocked in an io-wq
 * worker, or signals it before it blocks) must not leave the request
 * waiting forever: CIO_DEBUG_DROP_CANCELS makes the uring backend's first
 * cancels nops, and the request must still end, by cio_cancel (_i 0, 1)
 * or by its deadline (_i 2, 3). A splice from an empty pipe (an io-wq
 * worker blocks in it) and a recv on an idle socket (a poll inside the
 * kernel); the aio and pool backends ignore the knob. */
#define MISSED_CANCEL_LIMIT (20 * SEC)

START_TEST(cancel_ends_a_wait_when_the_kernel_misses_it)
{
	const char *what = (_i & 1) ? "recv on an idle socket" : "splice from an empty pipe";
	bool deadline = _i & 2;
	cio_loop *loop;
	cio_req req = { 0 }, dog = { 0 };
	char buf[16], got[16];
	int n = 0, fired = 0, a[2], b[2] = { -1, -1 };
	uint64_t t0;

	setenv("CIO_DEBUG_DROP_CANCELS", "3", 1);
	loop = t_loop_new();
	unsetenv("CIO_DEBUG_DROP_CANCELS");
	req.data = &n;
	dog.data = &fired;
	if (deadline)
		req.timeout_ns = SEC / 5;
	if (!(_i & 1)) {
		ck_assert_int_eq(pipe2(a, O_CLOEXEC), 0);
		ck_assert_int_eq(pipe2(b, O_CLOEXEC), 0);
		ck_assert_int_eq(cio_splice(loop, &req, a[0], -1, b[1], -1, sizeof(buf), 0,
					    t_count_cb), 0);
	} else {
		t_unix_pair(a);
		ck_assert_int_eq(cio_recv(loop, &req, a[0], buf, sizeof(buf), 0, t_count_cb), 0);
	}
	ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 1);
	if (!deadline)
		ck_assert_int_eq(cio_cancel(loop, &req), 0);
	t0 = t_now_ns();
	ck_assert_int_eq(cio_timer(loop, &dog, MISSED_CANCEL_LIMIT, t_count_cb), 0);
	while (!n && !fired)
		ck_assert_int_ge(cio_run(loop, CIO_RUN_ONCE), 0);
	ck_assert_msg(n == 1, "%s: no callback %.1f s after its %s (the kernel "
		      "missed the first 3 cancels)", what, (t_now_ns() - t0) / 1e9,
		      deadline ? "deadline" : "cancel");
	ck_assert_int_eq(req.res, deadline ? -ETIMEDOUT : -ECANCELED);
	if (!fired)
		ck_assert_int_eq(cio_cancel(loop, &dog), 0);
	t_run(loop);
	ck_assert_int_eq(n, 1);

	/* Nobody still reads: what arrives now is there for us. */
	ck_assert_int_eq(write(a[1], "later", 5), 5);
	ck_assert_int_eq(fcntl(a[0], F_SETFL, O_NONBLOCK), 0);
	ck_assert_int_eq(read(a[0], got, sizeof(got)), 5);
	ck_assert(!memcmp(got, "later", 5));
	for (int k = 0; k < 2; k++) {
		close(a[k]);
		if (b[k] >= 0)
			close(b[k]);
	}
	t_loop_free(loop);
}
END_TEST

static Suite *cancel_suite(void)
{
	Suite *s = suite_create("cancel");
	TCase *tc = tcase_create("cancel");

	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, cancel_right_after_submit);
	tcase_add_test(tc, cancel_twice_one_callback);
	tcase_add_test(tc, cancel_after_completion);
	tcase_add_test(tc, cancel_races_a_nop);
	tcase_add_test(tc, cancel_bad_arguments);
	tcase_add_test(tc, cancel_all_queued_work);
	tcase_add_loop_test(tc, cancel_all_mixed, 0, 4);
	tcase_add_test(tc, cancel_from_a_callback);
	tcase_add_test(tc, close_ends_waits_on_its_fd);
	tcase_add_test(tc, cancel_fd_between_all_steps);
	tcase_add_loop_test(tc, cancel_ends_a_wait_when_the_kernel_misses_it, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return t_main(cancel_suite);
}
