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
