/* SPDX-License-Identifier: MIT */
/* Threads: cio_post from many threads, loops of both backends in parallel
 * threads, and the shared pool growing, shrinking and keeping its maximum. */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define SEC 1000000000ull

enum { POSTERS = 4, POSTS = 10000 };

struct post_ctx {
	cio_loop  *loop;
	pthread_t  loop_thread;
	cio_req   *reqs;            /* POSTERS * POSTS */
	int       *calls;           /* per request */
	int        total;
	int        off_thread;
	cio_req    keepalive;
};

struct poster {
	struct post_ctx *c;
	int idx;
	int errors;
};

static void post_cb(cio_req *req)
{
	struct post_ctx *c = *(struct post_ctx **)req->data;
	size_t i = (size_t)(req - c->reqs);

	c->calls[i]++;
	c->total++;
	if (!pthread_equal(pthread_self(), c->loop_thread))
		c->off_thread++;
	ck_assert_int_eq(req->res, 0);
	if (c->total == POSTERS * POSTS)
		cio_cancel(c->loop, &c->keepalive);
}

static void *poster_main(void *arg)
{
	struct poster *p = arg;

	for (int i = 0; i < POSTS; i++) {
		cio_req *req = &p->c->reqs[p->idx * POSTS + i];

		if (cio_post(p->c->loop, req, post_cb) != 0)
			p->errors++;
	}
	return NULL;
}

static void keepalive_cb(cio_req *req)
{
	ck_assert_int_eq(req->res, -ECANCELED);
}

START_TEST(post_from_four_threads)
{
	struct post_ctx c = { .loop = t_loop_new(), .loop_thread = pthread_self() };
	struct poster p[POSTERS];
	pthread_t tid[POSTERS];
	struct post_ctx *self = &c;

	c.reqs = calloc(POSTERS * POSTS, sizeof(*c.reqs));
	c.calls = calloc(POSTERS * POSTS, sizeof(*c.calls));
	ck_assert(c.reqs && c.calls);
	for (int i = 0; i < POSTERS * POSTS; i++)
		c.reqs[i].data = &self;
	/* A long timer keeps cio_run going until the last post arrives. */
	ck_assert_int_eq(cio_timer(c.loop, &c.keepalive, 60 * SEC, keepalive_cb), 0);
	for (int i = 0; i < POSTERS; i++) {
		p[i] = (struct poster){ .c = &c, .idx = i };
		ck_assert_int_eq(pthread_create(&tid[i], NULL, poster_main, &p[i]), 0);
	}
	t_run(c.loop);
	for (int i = 0; i < POSTERS; i++) {
		pthread_join(tid[i], NULL);
		ck_assert_int_eq(p[i].errors, 0);
	}
	ck_assert_int_eq(c.total, POSTERS * POSTS);
	ck_assert_int_eq(c.off_thread, 0);
	for (int i = 0; i < POSTERS * POSTS; i++)
		ck_assert_int_eq(c.calls[i], 1);
	t_loop_free(c.loop);
	free(c.reqs);
	free(c.calls);
}
END_TEST

START_TEST(post_bad_arguments)
{
	cio_loop *loop = t_loop_new();
	cio_req req = { 0 };
	int n = 0;

	req.data = &n;
	ck_assert_int_eq(cio_post(NULL, &req, t_count_cb), -EINVAL);
	ck_assert_int_eq(cio_post(loop, NULL, t_count_cb), -EINVAL);
	ck_assert_int_eq(cio_post(loop, &req, NULL), -EINVAL);
	ck_assert_int_eq(cio_post(loop, &req, t_count_cb), 0);
	ck_assert_int_eq(cio_post(loop, &req, t_count_cb), -EBUSY);
	ck_assert_int_eq(cio_loop_free(loop), -EBUSY);   /* a post is pending */
	ck_assert_int_eq(n, 0);
	t_run(loop);
	ck_assert_int_eq(n, 1);
	t_loop_free(loop);
}
END_TEST

/* One loop's worth of mixed work, run in its own thread. */
struct worker_args {
	const char *backend;
	const char *dir;
	int id;
	int ok;
	char why[128];
};

struct file_job {
	cio_req req;
	char buf[65536];
	int stage;
	int calls;
};

static void count_job(cio_req *req)
{
	struct file_job *j = req->data;

	j->calls++;
}

static void *loop_thread(void *arg)
{
	struct worker_args *a = arg;
	struct cio_loop_opts opts = { .backend = a->backend };
	static _Thread_local struct file_job jobs[16];
	cio_loop *loop;
	char path[512];
	int fd, ret;

	ret = cio_loop_new(&loop, &opts);
	if (ret < 0) {
		snprintf(a->why, sizeof(a->why), "loop_new: %d", ret);
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/t%d", a->dir, a->id);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	for (int round = 0; round < 20 && fd >= 0; round++) {
		cio_req timer = { 0 };
		int tcount = 0;

		for (int i = 0; i < 16; i++) {
			memset(&jobs[i].req, 0, sizeof(jobs[i].req));
			jobs[i].req.data = &jobs[i];
			jobs[i].calls = 0;
			t_fill(jobs[i].buf, sizeof(jobs[i].buf), (uint64_t)(a->id * 100 + round),
			       (uint64_t)i * sizeof(jobs[i].buf));
			if (cio_write(loop, &jobs[i].req, fd, jobs[i].buf, sizeof(jobs[i].buf),
				      (int64_t)i * (int64_t)sizeof(jobs[i].buf), count_job) < 0)
				goto fail;
		}
		timer.data = &tcount;
		if (cio_timer(loop, &timer, 100000, t_count_cb) < 0 ||
		    cio_run(loop, CIO_RUN_DEFAULT) != 0 || tcount != 1)
			goto fail;
		for (int i = 0; i < 16; i++) {
			if (jobs[i].calls != 1 || jobs[i].req.res != (int64_t)sizeof(jobs[i].buf))
				goto fail;
			memset(jobs[i].buf, 0, sizeof(jobs[i].buf));
			if (cio_read(loop, &jobs[i].req, fd, jobs[i].buf, sizeof(jobs[i].buf),
				     (int64_t)i * (int64_t)sizeof(jobs[i].buf), count_job) < 0)
				goto fail;
		}
		if (cio_run(loop, CIO_RUN_DEFAULT) != 0)
			goto fail;
		for (int i = 0; i < 16; i++)
			if (jobs[i].calls != 2 ||
			    !t_check(jobs[i].buf, sizeof(jobs[i].buf), (uint64_t)(a->id * 100 + round),
				     (uint64_t)i * sizeof(jobs[i].buf)))
				goto fail;
	}
	a->ok = fd >= 0;
	if (fd < 0)
		snprintf(a->why, sizeof(a->why), "open failed");
	close(fd);
	cio_loop_free(loop);
	return NULL;
fail:
	snprintf(a->why, sizeof(a->why), "%s loop: a check failed", a->backend);
	close(fd);
	cio_cancel_all(loop);
	cio_run(loop, CIO_RUN_DEFAULT);
	cio_loop_free(loop);
	return NULL;
}

START_TEST(ring_and_pool_loops_in_parallel)
{
	char *dir = t_tmpdir();
	struct worker_args a[2] = {
		{ .backend = "uring", .dir = dir, .id = 1 },
		{ .backend = "pool", .dir = dir, .id = 2 },
	};
	struct cio_loop_opts probe_opts = { .backend = "uring" };
	cio_loop *probe;
	pthread_t tid[2];

	if (cio_loop_new(&probe, &probe_opts) < 0) {
		t_tmpdir_rm(dir);
		T_SKIP("io_uring is not available here");
	}
	cio_loop_free(probe);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&tid[i], NULL, loop_thread, &a[i]), 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(tid[i], NULL);
		ck_assert_msg(a[i].ok, "%s", a[i].why);
	}
	t_tmpdir_rm(dir);
}
END_TEST

static atomic_int concurrent, max_concurrent;

/* A barrier for pool jobs: none goes on until bar_target of them have
 * started, so that many must run at once (never a sleep hoping they
 * overlap). 30 s is for a loaded machine; a pool that cannot grow that
 * far lets the jobs through late, counted in bar_timedout. */
static pthread_mutex_t bar_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bar_cond = PTHREAD_COND_INITIALIZER;
static int bar_target, bar_arrived, bar_timedout;

static void barrier_reset(int target)
{
	pthread_mutex_lock(&bar_lock);
	bar_target = target;
	bar_arrived = bar_timedout = 0;
	pthread_mutex_unlock(&bar_lock);
	atomic_store(&concurrent, 0);
	atomic_store(&max_concurrent, 0);
}

static void barrier_fn(cio_req *req)
{
	int now = atomic_fetch_add(&concurrent, 1) + 1, seen;
	struct timespec ts;

	(void)req;
	seen = atomic_load(&max_concurrent);
	while (now > seen && !atomic_compare_exchange_weak(&max_concurrent, &seen, now))
		;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 30;
	pthread_mutex_lock(&bar_lock);
	if (++bar_arrived == bar_target)
		pthread_cond_broadcast(&bar_cond);
	while (bar_arrived < bar_target)
		if (pthread_cond_timedwait(&bar_cond, &bar_lock, &ts) == ETIMEDOUT) {
			bar_timedout++;
			break;
		}
	pthread_mutex_unlock(&bar_lock);
	/* Held a little longer: a pool over its maximum would run more. */
	usleep(20000);
	atomic_fetch_sub(&concurrent, 1);
}

/* n jobs, held until `together` of them run at once; returns the most
 * that ran at once. */
static int run_together(cio_loop *loop, int n, int together)
{
	cio_req *reqs = calloc((size_t)n, sizeof(*reqs));
	int done = 0;

	ck_assert_ptr_nonnull(reqs);
	barrier_reset(together);
	for (int i = 0; i < n; i++) {
		reqs[i].data = &done;
		ck_assert_int_eq(cio_work(loop, &reqs[i], barrier_fn, t_count_cb), 0);
	}
	t_run(loop);
	ck_assert_int_eq(done, n);
	ck_assert_msg(bar_timedout == 0, "%d jobs waited 30 s for %d to run at once",
		      bar_timedout, together);
	free(reqs);
	return atomic_load(&max_concurrent);
}

START_TEST(pool_grows_and_shrinks)
{
	cio_loop *loop = t_loop_new();
	struct cio_stats st;
	uint64_t t0;

	/* Grew on demand: the 16 jobs pass their barrier only when all 16
	 * run at once. CIO_POOL_IDLE_MS is 300 for this program (see main). */
	ck_assert_int_eq(run_together(loop, 16, 16), 16);
	ck_assert_int_eq(cio_loop_stats(loop, &st), 0);
	ck_assert_uint_ge(st.pool_threads, 16);
	/* Shrinks when idle: every thread gone, however long a loaded
	 * machine takes to run them out (60 s at most). */
	t0 = t_now_ns();
	for (;;) {
		ck_assert_int_eq(cio_loop_stats(loop, &st), 0);
		if (st.pool_threads == 0 || t_now_ns() - t0 > 60 * SEC)
			break;
		usleep(20000);
	}
	ck_assert_uint_eq(st.pool_threads, 0);
	t_loop_free(loop);
}
END_TEST

/* Run as a child with CIO_POOL_MAX=3: never more than 3 at once. */
static int pool_max_child(void)
{
	struct cio_loop_opts opts = { .backend = getenv("T_CHILD_BACKEND"),
				      .pool_max_threads = 100 };
	cio_loop *loop;
	cio_req reqs[12];
	int done = 0;

	memset(reqs, 0, sizeof(reqs));
	if (cio_loop_new(&loop, &opts) < 0)
		return 3;
	/* 3 at once must happen (the barrier waits for them), 4 must not. */
	barrier_reset(3);
	for (int i = 0; i < 12; i++) {
		reqs[i].data = &done;
		if (cio_work(loop, &reqs[i], barrier_fn, t_count_cb) < 0)
			return 4;
	}
	if (cio_run(loop, CIO_RUN_DEFAULT) != 0 || done != 12 || bar_timedout)
		return 5;
	cio_loop_free(loop);
	printf("pool max child: peak %d with CIO_POOL_MAX=3\n", atomic_load(&max_concurrent));
	return atomic_load(&max_concurrent) == 3 ? 0 : 6;
}

START_TEST(pool_max_from_env)
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setenv("CIO_POOL_MAX", "3", 1);
		setenv("T_CHILD_BACKEND", T_BACKEND_NAME, 1);
		execl("/proc/self/exe", "test-threads", "--pool-max-child", (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

/* Data that another thread sends while the loop thread is busy in user
 * space (no system call to run the ring's deferred work on): the next
 * CIO_RUN_NOWAIT still delivers the receive. The completion reaches the
 * loop asynchronously (seen: 6 of 3,000 runs not there yet right after
 * write(2) returned), so the writer, on its own thread, then waits for
 * what cio_loop_fd(3) promises: readable when NOWAIT has work. */
struct nw {
	int        fd, loop_fd;
	atomic_int state;   /* 1: written, loop fd readable; 2: it never was */
};

static void *nw_writer(void *arg)
{
	struct nw *w = arg;
	struct pollfd pfd = { .fd = w->loop_fd, .events = POLLIN };

	usleep(20000);
	ck_assert_int_eq(write(w->fd, "x", 1), 1);
	atomic_store(&w->state, poll(&pfd, 1, 60000) == 1 ? 1 : 2);
	return NULL;
}

START_TEST(nowait_sees_what_another_cpu_completed)
{
	cio_loop *loop = t_loop_new();
	cio_req req = { 0 };
	struct nw w = { 0 };
	pthread_t t;
	char b[4];
	int n = 0, s[2];
	uint64_t t0;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
	w.fd = s[1];
	w.loop_fd = cio_loop_fd(loop);
	ck_assert_int_ge(w.loop_fd, 0);
	req.data = &n;
	ck_assert_int_eq(cio_recv(loop, &req, s[0], b, sizeof(b), 0, t_count_cb), 0);
	ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 1);   /* waiting now */
	ck_assert_int_eq(pthread_create(&t, NULL, nw_writer, &w), 0);
	/* Busy here, no system call, until the writer says the loop has work. */
	t0 = t_now_ns();
	while (!atomic_load(&w.state))
		ck_assert_msg(t_now_ns() - t0 < 90000000000ull, "writer stuck");
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_msg(atomic_load(&w.state) == 1, "the loop fd was not readable in 60 s");
	/* The pool backend's epoll sees it the same way: one pass is enough. */
	ck_assert_int_ge(cio_run(loop, CIO_RUN_NOWAIT), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(req.res, 1);
	close(s[0]);
	close(s[1]);
	t_loop_free(loop);
}
END_TEST

/* A loop is used by one thread at a time (cio_loop_new(3)), not by one
 * thread for ever: made and given work on one thread, run on a second,
 * which adds work and a provided-buffer pool of its own, then run on the
 * first again. Every callback runs on the thread running the loop. A ring
 * bound to the task that made it (IORING_SETUP_SINGLE_ISSUER, which
 * DEFER_TASKRUN needs) fails this: the second thread's io_uring_enter
 * gets -EEXIST. */
struct mover {
	cio_loop  *loop;
	int        fd, sock[2];
	pthread_t  runner;        /* the thread meant to run the callbacks */
	int        calls, off_thread;
	cio_req    nop, wr, rd, rv;
	uint8_t    out[4096], in[4096];
	char       rbuf[8];
	char       why[160];
};

static void mover_cb(cio_req *req)
{
	struct mover *m = req->data;

	m->calls++;
	if (!pthread_equal(pthread_self(), m->runner))
		m->off_thread++;
}

/* The second thread: Check's assertions are not for use here. */
static void *mover_thread(void *arg)
{
	struct mover *m = arg;
	cio_bufpool *pool;
	int ret;

	m->runner = pthread_self();
	/* What the first thread submitted completes here. */
	ret = cio_run(m->loop, CIO_RUN_DEFAULT);
	if (ret != 0 || m->calls != 2 || m->nop.res != 0 ||
	    m->wr.res != (int64_t)sizeof(m->out)) {
		snprintf(m->why, sizeof(m->why), "first run: ret %d, %d calls, "
			 "nop %lld, write %lld", ret, m->calls, (long long)m->nop.res,
			 (long long)m->wr.res);
		return NULL;
	}
	ret = cio_bufpool_new(m->loop, &pool, 4, 256);
	if (ret < 0) {
		snprintf(m->why, sizeof(m->why), "cio_bufpool_new: %d", ret);
		return NULL;
	}
	cio_bufpool_free(pool);
	if ((ret = cio_read(m->loop, &m->rd, m->fd, m->in, sizeof(m->in), 0, mover_cb)) < 0 ||
	    (ret = cio_recv(m->loop, &m->rv, m->sock[0], m->rbuf, sizeof(m->rbuf), 0,
			    mover_cb)) < 0) {
		snprintf(m->why, sizeof(m->why), "submit on the second thread: %d", ret);
		return NULL;
	}
	if (write(m->sock[1], "two", 3) != 3) {
		snprintf(m->why, sizeof(m->why), "write to the socket failed");
		return NULL;
	}
	ret = cio_run(m->loop, CIO_RUN_DEFAULT);
	if (ret != 0 || m->calls != 4 || m->rd.res != (int64_t)sizeof(m->in) ||
	    m->rv.res != 3 || memcmp(m->rbuf, "two", 3) ||
	    memcmp(m->in, m->out, sizeof(m->in)))
		snprintf(m->why, sizeof(m->why), "second run: ret %d, %d calls, "
			 "read %lld, recv %lld", ret, m->calls, (long long)m->rd.res,
			 (long long)m->rv.res);
	return NULL;
}

START_TEST(loop_moves_between_threads)
{
	struct mover m = { .loop = t_loop_new() };
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir);
	pthread_t t;

	m.fd = openat(dfd, "f", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(m.fd, 0);
	t_unix_pair(m.sock);
	m.nop.data = m.wr.data = m.rd.data = m.rv.data = &m;
	t_fill(m.out, sizeof(m.out), 77, 0);
	/* Submitted here, run on the second thread. */
	ck_assert_int_eq(cio_nop(m.loop, &m.nop, mover_cb), 0);
	ck_assert_int_eq(cio_write(m.loop, &m.wr, m.fd, m.out, sizeof(m.out), 0,
				   mover_cb), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, mover_thread, &m), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_msg(!m.why[0], "[%s] %s", t_variant, m.why);
	ck_assert_int_eq(m.off_thread, 0);

	/* And back on this thread. */
	m.runner = pthread_self();
	memset(m.rbuf, 0, sizeof(m.rbuf));
	ck_assert_int_eq(cio_nop(m.loop, &m.nop, mover_cb), 0);
	ck_assert_int_eq(cio_recv(m.loop, &m.rv, m.sock[0], m.rbuf, sizeof(m.rbuf), 0,
				  mover_cb), 0);
	ck_assert_int_eq(write(m.sock[1], "one", 3), 3);
	t_run(m.loop);
	ck_assert_int_eq(m.calls, 6);
	ck_assert_int_eq(m.off_thread, 0);
	ck_assert_int_eq(m.nop.res, 0);
	ck_assert_int_eq(m.rv.res, 3);
	ck_assert(!memcmp(m.rbuf, "one", 3));
	close(m.sock[0]);
	close(m.sock[1]);
	close(m.fd);
	close(dfd);
	t_tmpdir_rm(dir);
	t_loop_free(m.loop);
}
END_TEST

static Suite *threads_suite(void)
{
	Suite *s = suite_create("threads");
	TCase *tc = tcase_create("threads");

	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, post_from_four_threads);
	tcase_add_test(tc, post_bad_arguments);
	tcase_add_test(tc, ring_and_pool_loops_in_parallel);
	tcase_add_test(tc, pool_grows_and_shrinks);
	tcase_add_test(tc, pool_max_from_env);
	tcase_add_test(tc, nowait_sees_what_another_cpu_completed);
	tcase_add_test(tc, loop_moves_between_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--pool-max-child"))
		return pool_max_child();
	/* Before any loop exists: the pool reads its settings once. */
	setenv("CIO_POOL_IDLE_MS", "300", 1);
	return t_main(threads_suite);
}
