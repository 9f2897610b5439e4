/* SPDX-License-Identifier: MIT */
/*
 * What cio-httpd and cio-ftpd share outside their protocols: reading
 * their command-line numbers and addresses, making a listener, and what
 * SIGINT and SIGTERM do.
 */
#ifndef SERVER_UTIL_H
#define SERVER_UTIL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <cio.h>

/* What a bad command line prints before the usage: "PROG: ...". Set once,
 * before any of the *_arg calls or srv_die_usage. */
void srv_set_usage(const char *prog, void (*usage)(FILE *f));
/* "PROG: " fmt (with arg), the usage on stderr, exit 2. */
void srv_die_usage(const char *fmt, const char *arg) __attribute__((noreturn));
/* The option name's value as a count in 1..max, or srv_die_usage. */
unsigned srv_count_arg(const char *s, const char *name, unsigned max);
/* The option name's value as seconds, in ns, or srv_die_usage. */
uint64_t srv_seconds_arg(const char *s, const char *name);

/* A count in 1..max into *out: 0, or -1 for anything else. */
int srv_parse_count(const char *s, unsigned max, unsigned *out);
/* Seconds (fractions allowed, above 0, at most a year) into *ns: 0 or -1. */
int srv_parse_seconds(const char *s, uint64_t *ns);
/* "ADDR:PORT" or "[ADDR6]:PORT" into *ss and *len: 0 or -1. */
int srv_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len);
/* A non-blocking TCP listener on *ss with SO_REUSEPORT (one per loop
 * thread) and TCP_NODELAY (accepted sockets inherit it: replies are
 * whole, so Nagle could only delay the last segment): its fd or -errno. */
int srv_listener(const struct sockaddr_storage *ss, socklen_t len);

/*
 * Stopping. The first SIGINT or SIGTERM has every worker thread stop
 * accepting and drain what it serves; a second one cuts the drain short
 * (cio_cancel_all on every loop). The first worker's loop reads them
 * from a signalfd, and posts to the others. Each worker holds a struct
 * srv_stop, and the server says what stopping means for it.
 */
struct srv_stop_ops {
	void (*begin)(void *worker);   /* stop accepting, drain */
	bool (*busy)(void *worker);    /* is anything left to drain? */
	void (*finish)(void *worker);  /* let the loop end if nothing holds it */
};

struct srv_stop {
	cio_loop *loop;
	void     *worker;
	cio_req   sig_req, stop_post, hurry_post;
	bool      sig_armed;
	struct signalfd_siginfo si;
};

/* One worker, in order, the first one first: 0 or -ENOMEM. */
int srv_stop_add(struct srv_stop *st, cio_loop *loop, void *worker);
/* Once every worker is added and mask (SIGINT, SIGTERM) blocked in every
 * thread: the first worker reads the signals. 0 or -errno. */
int srv_stop_start(const sigset_t *mask, const struct srv_stop_ops *ops);
/* The worker's loop is to end: it stops reading the signals. */
void srv_stop_quit(struct srv_stop *st);
/* After the loops: the signalfd closed, the workers forgotten. */
void srv_stop_close(void);

#endif
