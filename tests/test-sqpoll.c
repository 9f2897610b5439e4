/* SPDX-License-Identifier: MIT */
/* SQPOLL (CIO_LOOP_SQPOLL): on io_uring one kernel thread polls the rings
 * of the process's loops and sleeps when idle; elsewhere the flag is
 * accepted and ignored. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define BUFSZ (64 * KiB)

/* The uring backend, whatever runs the file work. */
static bool on_uring(void)
{
	return !strcmp(T_BACKEND_NAME, "uring");
}


/* The kernel's SQ threads of this process ("iou-sqp-PID"): how many, the
 * CPU ticks they have used, and whether any is not asleep ("S"). */
static unsigned sq_threads_state(unsigned long *ticks, bool *awake)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	unsigned n = 0;

	*ticks = 0;
	*awake = false;
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		char path[300], comm[64] = "", stat[1024];
		unsigned long ut = 0, st = 0;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = 0;
		fclose(f);
		if (strncmp(comm, "iou-sqp-", 8))
			continue;
		n++;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (fgets(stat, sizeof(stat), f)) {
			char *p = strrchr(stat, ')');

			if (p && p[1] && p[2] != 'S')
				*awake = true;
			/* fields after ") ": state is 3rd; utime 14th, stime 15th */
			if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
					&ut, &st) == 2)
				*ticks += ut + st;
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

static unsigned sq_threads(unsigned long *ticks)
{
	bool awake;

	return sq_threads_state(ticks, &awake);
}

/* Wait (at most limit_s seconds, else fail) until every SQ thread of this
 * process is asleep ("S" in /proc). */
static void wait_sq_thread_asleep(unsigned limit_s)
{
	uint64_t t0 = t_now_ns();
	unsigned long ticks;
	bool awake;

	for (;;) {
		sq_threads_state(&ticks, &awake);
		if (!awake)
			return;
		ck_assert_msg(t_now_ns() - t0 < limit_s * 1000000000ull,
			      "the SQ thread did not go to sleep in %u s", limit_s);
		usleep(10000);
	}
}

START_TEST(sqpoll_loops)
{
	struct cio_loop_opts lo = {
		.backend = t_backend, .flags = CIO_LOOP_SQPOLL, .sqpoll_idle_ms = 20,
	};
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir);
	int fd = t_mkfile(dfd, "f", BUFSZ, 41);
	cio_loop *a, *b;
	uint8_t buf[BUFSZ];
	unsigned long t0, t1;
	unsigned nthreads;
	struct op o, nops[64];
	cio_loop *loop;
	int ret;

	ret = cio_loop_new(&a, &lo);
	if (ret == -EPERM || ret == -EINVAL)
		T_SKIP("the kernel refuses SQPOLL here: %s", strerror(-ret));
	ck_assert_int_eq(ret, 0);
	ck_assert_int_eq(cio_loop_new(&b, &lo), 0);
	if (on_uring()) {
		ck_assert_str_eq(cio_backend(a), "uring+sqpoll");
		ck_assert_str_eq(cio_backend(b), "uring+sqpoll");
	} else {
		/* Nothing to poll without a ring: asked for, and ignored. */
		ck_assert_str_eq(cio_backend(a), T_BACKEND_NAME);
	}

	/* Work on both loops, verified. */
	loop = a;
	for (int k = 0; k < 2; k++, loop = b) {
		op_init(&o);
		memset(buf, 0, sizeof(buf));
		ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf, BUFSZ, 0, op_cb)),
				 BUFSZ);
		ck_assert(t_check(buf, BUFSZ, 41, 0));
		for (int i = 0; i < 64; i++) {
			op_init(&nops[i]);
			START(&nops[i], cio_nop(loop, &nops[i].req, op_cb));
		}
		t_run(loop);
		for (int i = 0; i < 64; i++)
			ck_assert_int_eq(nops[i].n, 1);
	}

	nthreads = sq_threads(&t0);
	if (strcmp(cio_backend(a), "uring+sqpoll")) {
		ck_assert_uint_eq(nthreads, 0);
	} else {
		/* One kernel thread polls for both rings. */
		ck_assert_uint_eq(nthreads, 1);
		/* Idle, it sleeps: next to no CPU over 300 ms (ticks are 10 ms),
		 * counted from when /proc shows it asleep (a minute allowed: on
		 * a loaded machine it may get the CPU late to see its idle time
		 * passed). */
		wait_sq_thread_asleep(60);
		sq_threads(&t0);
		usleep(300000);
		sq_threads(&t1);
		ck_assert_msg(t1 - t0 <= 2, "idle SQ thread used %lu ticks", t1 - t0);
		printf("sqpoll [%s]: 1 SQ thread for 2 loops, %lu ticks in 300 ms idle\n",
		       t_variant, t1 - t0);
	}
	/* Woken after idling out: the next request still completes. */
	op_init(&o);
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(op_run(a, &o, cio_read(a, &o.req, fd, buf, 4096, 4096, op_cb),
				__LINE__), 4096);
	ck_assert(t_check(buf, 4096, 41, 4096));
	/* The first loop gone, the second still works, and a third attaches. */
	ck_assert_int_eq(cio_loop_free(a), 0);
	ck_assert_int_eq(cio_loop_new(&a, &lo), 0);
	ck_assert_int_eq(op_run(b, &o, cio_read(b, &o.req, fd, buf, 4096, 0, op_cb),
				__LINE__), 4096);
	ck_assert_int_eq(op_run(a, &o, cio_read(a, &o.req, fd, buf, 4096, 0, op_cb),
				__LINE__), 4096);
	ck_assert(t_check(buf, 4096, 41, 0));
	ck_assert_int_eq(cio_loop_free(a), 0);
	ck_assert_int_eq(cio_loop_free(b), 0);
	close(fd);
	close(dfd);
	t_tmpdir_rm(dir);
}
END_TEST

static Suite *sqpoll_suite(void)
{
	Suite *s = suite_create("sqpoll");
	TCase *tc = tcase_create("sqpoll");

	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, sqpoll_loops);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return t_main(sqpoll_suite);
}
