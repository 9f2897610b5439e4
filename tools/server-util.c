// SPDX-License-Identifier: MIT
/* Command-line parsing, the listener and stopping, shared by cio-httpd
 * and cio-ftpd. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server-util.h"

int srv_parse_count(const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int srv_parse_seconds(const char *s, uint64_t *ns)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > 86400 * 365)
		return -1;
	*ns = (uint64_t)(v * 1e9);
	return 0;
}

int srv_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(s, ':');
	size_t hlen;
	char *end;
	unsigned long port;

	if (!colon || colon == s || (size_t)(colon - s) >= sizeof(host))
		return -1;
	hlen = (size_t)(colon - s);
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port > 65535)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		host[hlen - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -1;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof(*sin);
	}
	return 0;
}

int srv_listener(const struct sockaddr_storage *ss, socklen_t len)
{
	int one = 1;
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)ss, len) < 0 ||
	    listen(fd, 4096) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static const char *usage_prog = "server";
static void (*usage_fn)(FILE *f);

void srv_set_usage(const char *prog, void (*usage)(FILE *f))
{
	usage_prog = prog;
	usage_fn = usage;
}

void srv_die_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", usage_prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	if (usage_fn)
		usage_fn(stderr);
	exit(2);
}

unsigned srv_count_arg(const char *s, const char *name, unsigned max)
{
	unsigned v;

	if (srv_parse_count(s, max, &v) < 0)
		srv_die_usage("%s: not a count in range", name);
	return v;
}

uint64_t srv_seconds_arg(const char *s, const char *name)
{
	uint64_t ns;

	if (srv_parse_seconds(s, &ns) < 0)
		srv_die_usage("%s: not a number of seconds", name);
	return ns;
}

static struct srv_stop **stops;
static unsigned nstops, capstops;
static const struct srv_stop_ops *stop_ops;
static int sigfd = -1;
static atomic_bool stop_asked;

int srv_stop_add(struct srv_stop *st, cio_loop *loop, void *worker)
{
	if (nstops == capstops) {
		unsigned cap = capstops ? 2 * capstops : 8;
		struct srv_stop **a = realloc(stops, cap * sizeof(*a));

		if (!a)
			return -ENOMEM;
		stops = a;
		capstops = cap;
	}
	st->loop = loop;
	st->worker = worker;
	st->sig_armed = false;
	stops[nstops++] = st;
	return 0;
}

static void on_stop_post(cio_req *req)
{
	struct srv_stop *st = req->data;

	stop_ops->begin(st->worker);
}

static void on_hurry_post(cio_req *req)
{
	struct srv_stop *st = req->data;

	stop_ops->begin(st->worker);
	cio_cancel_all(st->loop);
}

static void on_signal(cio_req *req);

static void read_signal(struct srv_stop *st)
{
	st->sig_req.data = st;
	if (cio_read(st->loop, &st->sig_req, sigfd, &st->si, sizeof(st->si), -1,
		     on_signal) == 0)
		st->sig_armed = true;
}

static void on_signal(cio_req *req)
{
	struct srv_stop *st = req->data;
	bool again;

	st->sig_armed = false;
	if (req->res != (int64_t)sizeof(st->si))
		return;    /* cancelled: this thread is done */
	again = atomic_exchange(&stop_asked, true);
	for (unsigned i = 0; i < nstops; i++) {
		struct srv_stop *o = stops[i];
		cio_req *post = again ? &o->hurry_post : &o->stop_post;

		if (o == st)
			continue;
		post->data = o;
		cio_post(o->loop, post, again ? on_hurry_post : on_stop_post);
	}
	stop_ops->begin(st->worker);
	if (again)
		cio_cancel_all(st->loop);
	else if (stop_ops->busy(st->worker))
		read_signal(st);
	stop_ops->finish(st->worker);
}

int srv_stop_start(const sigset_t *mask, const struct srv_stop_ops *ops)
{
	if (!nstops)
		return -EINVAL;
	sigfd = signalfd(-1, mask, SFD_CLOEXEC);
	if (sigfd < 0)
		return -errno;
	stop_ops = ops;
	read_signal(stops[0]);
	return 0;
}

void srv_stop_quit(struct srv_stop *st)
{
	if (st->sig_armed)
		cio_cancel(st->loop, &st->sig_req);
}

void srv_stop_close(void)
{
	if (sigfd >= 0)
		close(sigfd);
	sigfd = -1;
	free(stops);
	stops = NULL;
	nstops = capstops = 0;
}
