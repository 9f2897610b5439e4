/* SPDX-License-Identifier: MIT */
/*
 * copy: copy a file with 32 reads or writes in flight at once.
 *
 *   cc copy.c $(pkg-config --cflags --libs cio) -o copy
 *   ./copy SRC DST
 *
 * Each slot reads a 128 KiB chunk, writes it at the same offset, then takes
 * the next chunk. CIO_ALL makes each request move its whole chunk (or fail),
 * so there is no short-transfer bookkeeping here.
 */
#define _POSIX_C_SOURCE 200809L   /* POSIX declarations under -std=c11 */
#include <cio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define QD    32
#define CHUNK (128 * 1024)

struct slot {
	cio_req req;
	char    buf[CHUNK];
	int64_t off;
	size_t  len;
};

static int src, dst, err;
static int64_t size, next_off;
static cio_loop *loop;

static void on_read(cio_req *req);

/* Give the slot the next chunk, or leave it idle when the file is done. */
static void start_chunk(struct slot *s)
{
	int ret;

	if (err || next_off >= size)
		return;
	s->off = next_off;
	s->len = (size_t)(size - next_off < CHUNK ? size - next_off : CHUNK);
	next_off += (int64_t)s->len;
	s->req.opts = CIO_ALL;
	ret = cio_read(loop, &s->req, src, s->buf, s->len, s->off, on_read);
	if (ret < 0)
		err = ret;
}

static void on_write(cio_req *req)
{
	struct slot *s = req->data;

	if (req->res < 0) {
		err = (int)req->res;
		return;
	}
	start_chunk(s);
}

static void on_read(cio_req *req)
{
	struct slot *s = req->data;
	int ret;

	if (req->res < 0 || (size_t)req->res != s->len) {
		/* A short read with CIO_ALL means the file shrank under us. */
		err = req->res < 0 ? (int)req->res : -EIO;
		return;
	}
	ret = cio_write(loop, &s->req, dst, s->buf, s->len, s->off, on_write);
	if (ret < 0)
		err = ret;
}

int main(int argc, char **argv)
{
	struct slot *slots;
	struct stat st;
	int i, ret;

	if (argc != 3) {
		fprintf(stderr, "usage: %s SRC DST\n", argv[0]);
		return 2;
	}
	src = open(argv[1], O_RDONLY);
	if (src < 0 || fstat(src, &st) < 0) {
		perror(argv[1]);
		return 1;
	}
	dst = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (dst < 0) {
		perror(argv[2]);
		return 1;
	}
	size = st.st_size;

	ret = cio_loop_new(&loop, NULL);
	if (ret < 0) {
		fprintf(stderr, "cio_loop_new: %s\n", strerror(-ret));
		return 1;
	}
	slots = calloc(QD, sizeof(*slots));
	if (!slots) {
		perror("calloc");
		return 1;
	}
	for (i = 0; i < QD; i++) {
		slots[i].req.data = &slots[i];
		start_chunk(&slots[i]);
	}
	/* Returns once every callback has run: nothing is left in flight. */
	ret = cio_run(loop, CIO_RUN_DEFAULT);
	if (ret < 0 && !err)
		err = ret;

	printf("copied %lld bytes on the %s backend\n", (long long)size,
	       cio_backend(loop));
	cio_loop_free(loop);
	free(slots);
	if (close(dst) < 0 && !err)
		err = -errno;
	close(src);
	if (err) {
		fprintf(stderr, "copy: %s\n", strerror(-err));
		return 1;
	}
	return 0;
}
