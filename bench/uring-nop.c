/* SPDX-License-Identifier: MIT */
/*
 * uring-nop: the raw liburing baseline for `cio-bench nop`. Keeps QD nops
 * in flight on one ring for SECONDS and says what one costs:
 *
 *   uring-nop [QD [SECONDS]]         (defaults 64 and 5)
 *   RESULT ops=N ns_per_op=N
 *
 * The loop is what a hand-written program would do: refill the SQ with one
 * nop per completion seen, then one io_uring_enter that submits and waits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <liburing.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int queue_nops(struct io_uring *ring, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

		if (!sqe)
			return -EBUSY;
		io_uring_prep_nop(sqe);
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned qd = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 64;
	double secs = argc > 2 ? strtod(argv[2], NULL) : 5.0;
	unsigned long long ops = 0;
	struct io_uring ring;
	double t0, t;
	int ret;

	if (qd < 1 || qd > 4096 || !(secs > 0)) {
		fprintf(stderr, "usage: uring-nop [QD 1..4096 [SECONDS]]\n");
		return 2;
	}
	ret = io_uring_queue_init(qd, &ring, 0);
	if (ret < 0) {
		fprintf(stderr, "uring-nop: io_uring_queue_init: %s\n", strerror(-ret));
		return 2;
	}
	queue_nops(&ring, qd);
	t0 = t = now_s();
	/* Check the clock every 1024 rounds: a clock_gettime per round would
	 * be a sizeable share of what we measure. */
	for (unsigned long round = 1; ; round++) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;

		ret = io_uring_submit_and_wait(&ring, 1);
		if (ret < 0) {
			fprintf(stderr, "uring-nop: io_uring_enter: %s\n", strerror(-ret));
			return 1;
		}
		io_uring_for_each_cqe(&ring, head, cqe)
			seen++;
		io_uring_cq_advance(&ring, seen);
		ops += seen;
		if (!(round & 1023) && (t = now_s()) - t0 >= secs)
			break;
		queue_nops(&ring, seen);
	}
	io_uring_queue_exit(&ring);
	printf("uring-nop: qd %u, %llu nops in %.2f s\n", qd, ops, t - t0);
	printf("RESULT ops=%llu ns_per_op=%.1f\n", ops, (t - t0) * 1e9 / (double)ops);
	return 0;
}
