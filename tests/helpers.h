/* SPDX-License-Identifier: MIT */
/*
 * Test helpers: every suite runs once per backend. CIO_TEST_BACKENDS
 * (default "uring,aio,pool,uring-fallback"; "auto" for automatic selection)
 * lists them; "uring-fallback" is the
 * uring backend with CIO_DEBUG_NO_OPS=all, so all file work takes the pool
 * fallback path. A backend the kernel refuses is skipped with the reason.
 */
#ifndef CIO_TEST_HELPERS_H
#define CIO_TEST_HELPERS_H

#ifndef _GNU_SOURCE
# define _GNU_SOURCE   /* statx, renameat2 flags, asprintf */
#endif

#include <check.h>
#include <pthread.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cio.h>

/* The backend name the current run passes to cio_loop_new. */
extern const char *t_backend;
/* The backend's name even when automatic selection chose it. */
#define T_BACKEND_NAME (t_backend ? t_backend : t_variant)
/* The variant being run ("uring", "pool", "uring-fallback"). */
extern const char *t_variant;

/* A loop on the current backend; fails the test if it cannot be made. */
cio_loop *t_loop_new(void);
cio_loop *t_loop_new_opts(unsigned entries);
/* Free it, asserting it is idle. */
void t_loop_free(cio_loop *loop);
/* Run until nothing is pending, asserting success. */
void t_run(cio_loop *loop);

/* A fresh directory under $TMPDIR (default /var/tmp: a real disk, for
 * O_DIRECT later), removed with its files by t_tmpdir_rm. */
char *t_tmpdir(void);
void t_tmpdir_rm(char *dir);
/* Open dir as a directory fd. */
int t_dirfd(const char *dir);

/* xorshift64*: the next number of the sequence in *state (not 0). A
 * printed seed replays a run. */
uint64_t t_rand(uint64_t *state);

/* Deterministic pattern bytes for offset off of stream seed. */
void t_fill(void *buf, size_t len, uint64_t seed, uint64_t off);
int t_check(const void *buf, size_t len, uint64_t seed, uint64_t off);

/* A file of len pattern bytes (seed) in dfd, made with plain system calls. */
int t_mkfile(int dfd, const char *name, size_t len, uint64_t seed);
/* CLOCK_MONOTONIC in ns. */
uint64_t t_now_ns(void);
/* fcntl(fd, F_GETFL), asserting success. */
int t_getfl(int fd);

/* lseek(fd, 0, SEEK_CUR): the file position, or -1. */
int64_t t_fpos(int fd);
/* A descriptor number that is certainly closed right now. */
int t_closed_fd(void);

/* Connected pairs made with plain system calls, both ends blocking.
 * t_tcp_pair: loopback TCP, fds[0] connected (SO_SNDBUF sndbuf if > 0),
 * fds[1] accepted (SO_RCVBUF rcvbuf if > 0). t_unix_pair: AF_UNIX stream. */
void t_tcp_pair(int fds[2], int sndbuf, int rcvbuf);
void t_unix_pair(int fds[2]);
/* A loopback TCP socket bound to an ephemeral port (SO_RCVBUF rcvbuf if
 * > 0), its address in *sa: a listener once listen(2) is called. */
struct sockaddr_in;
int t_tcp_bound(struct sockaddr_in *sa, int rcvbuf);

/*
 * A watchdog: a timer of T_WATCHDOG_SEC on the loop of a test whose loop
 * runs until its work is done, stopped (cancelled) by the test at that
 * point. If it fires instead, the loop was still busy: the test fails with
 * what say() writes about its state. Its callback is counted in calls and,
 * when count is not NULL, in the test's own *count. A loop on another
 * thread, where Check's assertions are not for use, sets fired (after
 * t_watchdog_start, before it runs the loop) to record the failure itself.
 */
#define T_WATCHDOG_SEC 90   /* generous on a loaded machine, below T_TIMEOUT */
struct t_watchdog {
	cio_req   req;
	unsigned  calls;
	unsigned *count;
	void    (*say)(void *arg, char *msg, size_t len);
	void     *arg;
	void    (*fired)(void *arg, const char *msg);
};
/* Arm it; cio_timer's result. */
int t_watchdog_start(cio_loop *loop, struct t_watchdog *w, unsigned *count,
		     void (*say)(void *arg, char *msg, size_t len), void *arg);
/* Stop it; cio_cancel's result (0: it was still waiting). */
int t_watchdog_stop(cio_loop *loop, struct t_watchdog *w);

/* How many pages of fd's first len bytes the page cache holds (mincore). */
size_t t_resident_pages(int fd, size_t len);

/* A counting callback: increments *(int *)req->data. */
void t_count_cb(cio_req *req);

/* Print a skip line for the current test and variant. */
#define T_SKIP(...) do { \
	printf("SKIP %s [%s]: ", __func__, t_variant); \
	printf(__VA_ARGS__); printf("\n"); fflush(stdout); return; \
} while (0)

/* main(): run the suite made by make_suite once per backend. */
int t_main(Suite *(*make_suite)(void));

#define T_TIMEOUT 120

#define KiB 1024u
#define MiB (1024u * 1024u)

/* One request, how often its callback ran and on which thread. */
struct op {
	cio_req   req;
	int       n;
	pthread_t tid;
};
void op_cb(cio_req *req);      /* counts, notes the thread */
void op_init(struct op *o);    /* zeroed, req.data = o */
/* Accepted, and no callback inside the submitting call. */
void op_started(struct op *o, int ret, int line);
#define START(o, call) op_started((o), (call), __LINE__)
/* Accepted; run until idle; exactly one callback, on this thread: its res. */
int64_t op_run(cio_loop *loop, struct op *o, int ret, int line);
#define RUN(o, call) op_run(loop, (o), (call), __LINE__)
/* Refused with want; no callback ever runs and nothing stays in flight. */
void op_reject(cio_loop *loop, struct op *o, int ret, int want, int line);
#define REJECT(o, call, want) op_reject(loop, (o), (call), (want), __LINE__)

#endif
