/* SPDX-License-Identifier: MIT */
/*
 * One small workload for tests/test-syscall-faults.sh, which runs it under
 * `strace -e inject=...`: per round a timer, a nop, a buffered file write
 * then read, an O_DIRECT write then read (Linux AIO on the aio backend),
 * a socket echo (recv posted before the data exists, so it waits) and a
 * cio_work job. Every callback must run exactly once with the expected
 * result and data. When cio_run returns a transient error (-EINTR,
 * -EAGAIN, -EBUSY) it is called again, as cio-backends(7) tells callers.
 *
 * strace counts calls per thread. The workload runs on the main thread,
 * so that the Nth clone3 is the pool's Nth, not the one starting a thread
 * of ours; with --thread it runs on a thread of its own, whose read(2)
 * calls are then only the library's (main's are the dynamic loader's).
 *
 * Usage: syscall-faults BACKEND DIR [--refuse-ok] [--thread]
 * --refuse-ok: a submission the pool keeps refusing with -EAGAIN (no
 * thread can be started at all) counts as a sensible end, not a failure.
 * Exit 0: all good; 1: a broken promise (printed); 77: cannot run here.
 */
#ifndef _GNU_SOURCE
# define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <cio.h>

#define ROUNDS   8
#define BLK      4096u
#define TIMER_NS (20u * 1000u * 1000u)

enum { R_TIMER, R_NOP, R_BWRITE, R_BREAD, R_DWRITE, R_DREAD, R_SRVRECV,
       R_CLISEND, R_SRVSEND, R_CLIRECV, R_WORK, R__COUNT };
static const char *const names[R__COUNT] = {
	"timer", "nop", "buffered write", "buffered read", "direct write",
	"direct read", "server recv", "client send", "server send",
	"client recv", "work",
};

static const char *backend, *dir;
static bool refuse_ok;
static int failures;
static unsigned transient_returns, refused;

struct slot {
	cio_req req;
	int     calls;
	bool    submitted;
};
static struct slot slots[R__COUNT];

#define FAIL(...) do { printf("FAIL: " __VA_ARGS__); printf("\n"); failures++; } while (0)

static void count_cb(cio_req *req)
{
	((struct slot *)req->data)->calls++;
}

static void work_fn(cio_req *req)
{
	(void)req;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Run until nothing is pending; a transient error means: call again. */
static int run_all(cio_loop *loop)
{
	for (int tries = 0; tries < 100000; tries++) {
		int ret = cio_run(loop, CIO_RUN_DEFAULT);

		if (ret == 0)
			return 0;
		if (ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			FAIL("cio_run: %d (%s)", ret, strerror(-ret));
			return ret;
		}
		transient_returns++;
	}
	FAIL("cio_run kept failing");
	return -EIO;
}

/* Submit through fn; -EAGAIN (the pool could not start a thread) is
 * retried for a while, as a caller would. */
#define SUBMIT(loop, idx, call) do { \
	struct slot *s_ = &slots[idx]; \
	int r_ = -EAGAIN; \
	memset(s_, 0, sizeof(*s_)); \
	s_->req.data = s_; \
	for (int t_ = 0; t_ < 200 && r_ == -EAGAIN; t_++) { \
		r_ = (call); \
		if (r_ == -EAGAIN) \
			usleep(1000); \
	} \
	if (r_ == 0) \
		s_->submitted = true; \
	else if (r_ == -EAGAIN && refuse_ok) \
		refused++; \
	else \
		FAIL("round %d: %s: submit: %d (%s)", round, names[idx], r_, strerror(-r_)); \
} while (0)

static void expect(int round, int idx, int64_t res)
{
	struct slot *s = &slots[idx];

	if (!s->submitted)
		return;
	if (s->calls != 1)
		FAIL("round %d: %s: %d callbacks", round, names[idx], s->calls);
	else if (s->req.res != res)
		FAIL("round %d: %s: res %lld, expected %lld", round, names[idx],
		     (long long)s->req.res, (long long)res);
}

static void *workload(void *arg)
{
	struct cio_loop_opts opts = { .backend = backend };
	static char msg[64], srvbuf[64], clibuf[64];
	char *bw, *br, *dw, *drd;
	cio_loop *loop;
	char path[4096], dpath[4096];
	int sv[2], bfd, dfd, ret;
	int round = 0;

	(void)arg;
	ret = cio_loop_new(&loop, &opts);
	if (ret < 0) {
		FAIL("cio_loop_new(%s): %d (%s)", backend, ret, strerror(-ret));
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/buffered", dir);
	snprintf(dpath, sizeof(dpath), "%s/direct", dir);
	bfd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	dfd = open(dpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0600);
	if (dfd < 0)
		printf("note: %s: no O_DIRECT here (%s): direct I/O left out\n",
		       dir, strerror(errno));
	if (bfd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    posix_memalign((void **)&bw, BLK, BLK) || posix_memalign((void **)&br, BLK, BLK) ||
	    posix_memalign((void **)&dw, BLK, BLK) || posix_memalign((void **)&drd, BLK, BLK)) {
		FAIL("set-up: %s", strerror(errno));
		return NULL;
	}

	for (round = 0; round < ROUNDS; round++) {
		uint64_t t0 = now_ns();
		int len;

		memset(bw, 'a' + round, BLK);
		memset(dw, 'A' + round, BLK);
		memset(br, 0, BLK);
		memset(drd, 0, BLK);
		memset(srvbuf, 0, sizeof(srvbuf));
		memset(clibuf, 0, sizeof(clibuf));
		len = snprintf(msg, sizeof(msg), "ping %d", round);

		/* First stage: the recv is posted before the data is sent, so
		 * it has to wait for readiness. */
		SUBMIT(loop, R_TIMER, cio_timer(loop, &s_->req, TIMER_NS, count_cb));
		SUBMIT(loop, R_NOP, cio_nop(loop, &s_->req, count_cb));
		SUBMIT(loop, R_BWRITE, cio_write(loop, &s_->req, bfd, bw, BLK,
						  (int64_t)round * BLK, count_cb));
		if (dfd >= 0)
			SUBMIT(loop, R_DWRITE, cio_write(loop, &s_->req, dfd, dw, BLK,
							  (int64_t)round * BLK, count_cb));
		SUBMIT(loop, R_SRVRECV, cio_recv(loop, &s_->req, sv[0], srvbuf,
						  sizeof(srvbuf), 0, count_cb));
		SUBMIT(loop, R_WORK, cio_work(loop, &s_->req, work_fn, count_cb));
		/* Let the recv reach its wait before the data comes. */
		ret = cio_run(loop, CIO_RUN_NOWAIT);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			FAIL("round %d: cio_run(NOWAIT): %d", round, ret);
		else if (ret < 0)
			transient_returns++;
		SUBMIT(loop, R_CLISEND, cio_send(loop, &s_->req, sv[1], msg,
						  (size_t)len, 0, count_cb));
		if (run_all(loop) < 0)
			break;
		expect(round, R_TIMER, 0);
		expect(round, R_NOP, 0);
		expect(round, R_BWRITE, BLK);
		expect(round, R_DWRITE, BLK);
		expect(round, R_SRVRECV, len);
		expect(round, R_CLISEND, len);
		expect(round, R_WORK, 0);
		if (slots[R_TIMER].submitted && now_ns() - t0 < TIMER_NS)
			FAIL("round %d: the timer fired early", round);
		if (slots[R_SRVRECV].calls == 1 && memcmp(srvbuf, msg, (size_t)len))
			FAIL("round %d: server got \"%.*s\"", round, len, srvbuf);

		/* Second stage: read back what was written; echo back. */
		if (slots[R_BWRITE].submitted)
			SUBMIT(loop, R_BREAD, cio_read(loop, &s_->req, bfd, br, BLK,
							(int64_t)round * BLK, count_cb));
		if (dfd >= 0 && slots[R_DWRITE].submitted)
			SUBMIT(loop, R_DREAD, cio_read(loop, &s_->req, dfd, drd, BLK,
							(int64_t)round * BLK, count_cb));
		SUBMIT(loop, R_CLIRECV, cio_recv(loop, &s_->req, sv[1], clibuf,
						  sizeof(clibuf), 0, count_cb));
		ret = cio_run(loop, CIO_RUN_NOWAIT);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			FAIL("round %d: cio_run(NOWAIT): %d", round, ret);
		else if (ret < 0)
			transient_returns++;
		SUBMIT(loop, R_SRVSEND, cio_send(loop, &s_->req, sv[0], srvbuf,
						  (size_t)len, 0, count_cb));
		if (run_all(loop) < 0)
			break;
		expect(round, R_BREAD, BLK);
		expect(round, R_DREAD, BLK);
		expect(round, R_SRVSEND, len);
		expect(round, R_CLIRECV, len);
		if (slots[R_BREAD].calls == 1 && memcmp(br, bw, BLK))
			FAIL("round %d: buffered read: wrong data", round);
		if (slots[R_DREAD].calls == 1 && memcmp(drd, dw, BLK))
			FAIL("round %d: direct read: wrong data", round);
		if (slots[R_CLIRECV].calls == 1 && memcmp(clibuf, msg, (size_t)len))
			FAIL("round %d: client got \"%.*s\"", round, len, clibuf);
		memset(&slots[R_BREAD], 0, sizeof(slots[R_BREAD]));
		memset(&slots[R_DREAD], 0, sizeof(slots[R_DREAD]));
	}
	ret = cio_loop_free(loop);
	if (ret < 0)
		FAIL("cio_loop_free: %d (%s)", ret, strerror(-ret));
	close(sv[0]);
	close(sv[1]);
	close(bfd);
	if (dfd >= 0)
		close(dfd);
	unlink(path);
	unlink(dpath);
	free(bw);
	free(br);
	free(dw);
	free(drd);
	return NULL;
}

int main(int argc, char **argv)
{
	bool thread = false;
	pthread_t t;
	int rc;

	if (argc < 3) {
		fprintf(stderr, "usage: %s BACKEND DIR [--refuse-ok] [--thread]\n", argv[0]);
		return 2;
	}
	backend = argv[1];
	dir = argv[2];
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--refuse-ok"))
			refuse_ok = true;
		else if (!strcmp(argv[i], "--thread"))
			thread = true;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (thread) {
		rc = pthread_create(&t, NULL, workload, NULL);
		if (rc) {
			printf("cannot start the workload thread: %s\n", strerror(rc));
			return 77;
		}
		pthread_join(t, NULL);
	} else {
		workload(NULL);
	}
	printf("%s: %d failure(s), %u transient return(s) from cio_run, %u refused\n",
	       backend, failures, transient_returns, refused);
	return failures ? 1 : 0;
}
