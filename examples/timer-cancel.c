/* SPDX-License-Identifier: MIT */
/*
 * timer-cancel: a timer that cancels other work, and a deadline.
 *
 *   cc timer-cancel.c $(pkg-config --cflags --libs cio) -o timer-cancel
 *   ./timer-cancel
 *
 * Three requests: a read from a pipe nobody writes to, a 10-second timer,
 * and a 50 ms timer whose callback cancels the other two. Then a second read
 * from the same pipe with a 50 ms deadline (timeout_ns). Every callback
 * runs exactly once; the cancelled ones end with -ECANCELED, the one whose
 * deadline passed with -ETIMEDOUT. Exits 0 when that is what happened.
 */
#define _POSIX_C_SOURCE 200809L   /* clock_gettime, sockets under -std=c11 */
#include <cio.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static cio_loop *loop;
static cio_req read_req, long_req, short_req;
static int callbacks;

static void on_done(cio_req *req)
{
	callbacks++;
	printf("%-12s res = %lld (%s)\n", (const char *)req->data,
	       (long long)req->res, req->res < 0 ? strerror((int)-req->res) : "ok");
}

static void on_short(cio_req *req)
{
	on_done(req);
	/* Each cancel starts the end of its target; the target's own
	 * callback reports how it ended. */
	cio_cancel(loop, &read_req);
	cio_cancel(loop, &long_req);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
	char byte;
	int p[2], ret;
	double t0 = now(), took;

	if (pipe(p) < 0) {
		perror("pipe");
		return 1;
	}
	ret = cio_loop_new(&loop, NULL);
	if (ret < 0) {
		fprintf(stderr, "cio_loop_new: %s\n", strerror(-ret));
		return 1;
	}
	read_req.data = "read";
	long_req.data = "timer 10 s";
	short_req.data = "timer 50 ms";
	if (cio_read(loop, &read_req, p[0], &byte, 1, -1, on_done) < 0 ||
	    cio_timer(loop, &long_req, 10000000000ull, on_done) < 0 ||
	    cio_timer(loop, &short_req, 50000000ull, on_short) < 0)
		return 1;
	cio_run(loop, CIO_RUN_DEFAULT);

	/* The same read again, now with a deadline instead of a canceller. */
	read_req.data = "read+deadline";
	read_req.timeout_ns = 50000000ull;
	if (cio_read(loop, &read_req, p[0], &byte, 1, -1, on_done) < 0)
		return 1;
	cio_run(loop, CIO_RUN_DEFAULT);
	took = now() - t0;
	printf("%d callbacks in %.3f s on the %s backend\n", callbacks, took,
	       cio_backend(loop));

	cio_loop_free(loop);
	close(p[0]);
	close(p[1]);
	return !(callbacks == 4 && long_req.res == -ECANCELED &&
		 read_req.res == -ETIMEDOUT && took < 5.0);
}
