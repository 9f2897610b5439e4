/* SPDX-License-Identifier: MIT */
/*
 * echo-server: send back whatever each client sends.
 *
 *   cc echo-server.c $(pkg-config --cflags --libs cio) -o echo-server
 *   ./echo-server [PORT [CONNECTIONS]]
 *
 * Listens on 127.0.0.1:PORT (0, the default, picks a free port) and prints
 * the port. With CONNECTIONS it exits after that many clients have gone;
 * without, it serves until killed. Every connection owns one request and one
 * buffer and moves between two states: receiving, then sending it all back.
 */
#define _POSIX_C_SOURCE 200809L   /* clock_gettime, sockets under -std=c11 */
#include <cio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn {
	cio_req req;
	int     fd;
	char    buf[16384];
};

static cio_loop *loop;
static cio_req accept_req;
static int listen_fd;
static long conns_left = -1;   /* -1: serve forever */

static void on_recv(cio_req *req);

static void on_closed(cio_req *req)
{
	free(req->data);
	if (conns_left > 0 && --conns_left == 0)
		cio_cancel(loop, &accept_req);   /* the loop then runs dry */
}

static void drop(struct conn *c)
{
	c->req.opts = 0;
	if (cio_close(loop, &c->req, c->fd, on_closed) < 0) {
		close(c->fd);
		on_closed(&c->req);
	}
}

static void on_sent(cio_req *req)
{
	struct conn *c = req->data;

	req->opts = 0;
	if (req->res < 0 ||
	    cio_recv(loop, req, c->fd, c->buf, sizeof(c->buf), 0, on_recv) < 0)
		drop(c);
}

static void on_recv(cio_req *req)
{
	struct conn *c = req->data;

	if (req->res <= 0) {            /* 0: the client is done; < 0: error */
		drop(c);
		return;
	}
	req->opts = CIO_ALL;            /* send every byte received */
	if (cio_send(loop, req, c->fd, c->buf, (size_t)req->res, 0, on_sent) < 0)
		drop(c);
}

static void on_accept(cio_req *req)
{
	struct conn *c;

	if (req->res < 0) {
		if (req->res != -ECANCELED)
			fprintf(stderr, "accept: %s\n", strerror((int)-req->res));
		return;                     /* not re-armed: the server stops */
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close((int)req->res);
	} else {
		c->fd = (int)req->res;
		c->req.data = c;
		if (cio_recv(loop, &c->req, c->fd, c->buf, sizeof(c->buf), 0,
			     on_recv) < 0)
			drop(c);
	}
	if (cio_accept(loop, req, listen_fd, NULL, NULL, 0, on_accept) < 0)
		fprintf(stderr, "echo-server: cannot accept any more\n");
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	int one = 1, ret;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((unsigned short)(argc > 1 ? atoi(argv[1]) : 0));
	if (argc > 2)
		conns_left = atol(argv[2]);

	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 ||
	    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(listen_fd, 128) < 0 ||
	    getsockname(listen_fd, (struct sockaddr *)&sa, &salen) < 0) {
		perror("echo-server: listen");
		return 1;
	}
	ret = cio_loop_new(&loop, NULL);
	if (ret < 0) {
		fprintf(stderr, "cio_loop_new: %s\n", strerror(-ret));
		return 1;
	}
	printf("listening on 127.0.0.1:%u (%s backend)\n", ntohs(sa.sin_port),
	       cio_backend(loop));
	fflush(stdout);

	ret = cio_accept(loop, &accept_req, listen_fd, NULL, NULL, 0, on_accept);
	if (ret >= 0)
		ret = cio_run(loop, CIO_RUN_DEFAULT);
	if (ret < 0)
		fprintf(stderr, "echo-server: %s\n", strerror(-ret));
	cio_loop_free(loop);
	close(listen_fd);
	return ret < 0;
}
