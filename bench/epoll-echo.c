/* SPDX-License-Identifier: MIT */
/*
 * epoll-echo: the hand-written baseline for `cio-bench echo-server`. An
 * edge-free (level-triggered) epoll loop on 127.0.0.1:PORT that echoes
 * what each connection sends, the way one writes it without a library:
 *
 *   epoll-echo PORT          (0: any free port; the line on stdout says which)
 *
 * Drive it with `cio-bench echo-client --port PORT`. SIGINT or SIGTERM
 * stops it (exit 0).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define BUF 4096
#define MAX_EVENTS 256

struct conn {
	int    fd;
	size_t len, sent;       /* bytes waiting to go back, and gone */
	char   buf[BUF];
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void conn_close(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

/* Flush what is pending; when the socket is full, wait for EPOLLOUT.
 * Returns -1 if the connection is done for. */
static int conn_flush(int ep, struct conn *c)
{
	struct epoll_event ev = { .data.ptr = c };

	while (c->sent < c->len) {
		ssize_t n = send(c->fd, c->buf + c->sent, c->len - c->sent, MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN) {
			ev.events = EPOLLOUT;
			return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		}
		if (n < 0)
			return -1;
		c->sent += (size_t)n;
	}
	c->len = c->sent = 0;
	return 0;
}

static void conn_event(int ep, struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	ssize_t n;

	if (events & EPOLLOUT) {
		if (conn_flush(ep, c) < 0) {
			conn_close(ep, c);
			return;
		}
		if (c->len == 0)
			epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		return;
	}
	n = recv(c->fd, c->buf, sizeof(c->buf), 0);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		conn_close(ep, c);
		return;
	}
	c->len = (size_t)n;
	c->sent = 0;
	if (conn_flush(ep, c) < 0)
		conn_close(ep, c);
}

static void accept_all(int ep, int lfd)
{
	int one = 1;

	for (;;) {
		struct epoll_event ev = { .events = EPOLLIN };
		struct conn *c;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = malloc(sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->len = c->sent = 0;
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
		}
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct epoll_event events[MAX_EVENTS];
	struct sigaction sig = { .sa_handler = on_signal };
	socklen_t len = sizeof(sa);
	int lfd, ep, one = 1;
	char *end;
	long port;

	port = argc == 2 ? strtol(argv[1], &end, 10) : -1;
	if (argc != 2 || *end || port < 0 || port > 65535) {
		fprintf(stderr, "usage: epoll-echo PORT\n");
		return 2;
	}
	sigemptyset(&sig.sa_mask);
	sigaction(SIGINT, &sig, NULL);
	sigaction(SIGTERM, &sig, NULL);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 4096) < 0 || getsockname(lfd, (struct sockaddr *)&sa, &len) < 0) {
		fprintf(stderr, "epoll-echo: 127.0.0.1:%ld: %s\n", port, strerror(errno));
		return 2;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
		fprintf(stderr, "epoll-echo: epoll: %s\n", strerror(errno));
		return 2;
	}
	printf("epoll-echo: listening on 127.0.0.1:%u\n", ntohs(sa.sin_port));
	fflush(stdout);
	/* The signal interrupts epoll_wait (no SA_RESTART): no timeout needed. */
	while (!stop) {
		int n = epoll_wait(ep, events, MAX_EVENTS, -1);

		for (int i = 0; i < n; i++) {
			if (events[i].data.ptr)
				conn_event(ep, events[i].data.ptr, events[i].events);
			else
				accept_all(ep, lfd);
		}
	}
	/* Connections still open are closed by exit. */
	close(lfd);
	close(ep);
	return 0;
}
