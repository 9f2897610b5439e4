/* SPDX-License-Identifier: MIT */
/*
 * uv-randread: the libuv baseline for `cio-bench file --backend pool`.
 * Random reads of BS bytes at QD requests in flight with uv_fs_read (which
 * libuv runs on its thread pool, UV_THREADPOOL_SIZE threads, default 4):
 *
 *   uv-randread [--direct] FILE [QD [SECONDS [BS]]]    (32, 5, 4096)
 *   RESULT iops=N
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct slot {
	uv_fs_t  req;
	uv_buf_t buf;
};

static uv_loop_t *loop;
static uv_file file;
static uint64_t nblocks, rng = 0x9e3779b97f4a7c15ull;
static size_t bs = 4096;
static unsigned long long done;
static bool stopping;
static int failed;

static uint64_t rng_next(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

static void on_read(uv_fs_t *req);

static void submit(struct slot *s)
{
	int64_t off = (int64_t)((rng_next() % nblocks) * bs);
	int ret = uv_fs_read(loop, &s->req, file, &s->buf, 1, off, on_read);

	if (ret < 0 && !failed)
		failed = ret;
}

static void on_read(uv_fs_t *req)
{
	struct slot *s = req->data;
	ssize_t res = req->result;

	uv_fs_req_cleanup(req);
	req->data = s;
	if (res != (ssize_t)bs) {
		if (!failed)
			failed = res < 0 ? (int)res : UV_EIO;
		stopping = true;
		return;
	}
	if (stopping)
		return;
	done++;
	submit(s);
}

static void on_timer(uv_timer_t *t)
{
	stopping = true;
	uv_close((uv_handle_t *)t, NULL);
}

int main(int argc, char **argv)
{
	int direct = argc > 1 && !strcmp(argv[1], "--direct");
	const char *path = argc > 1 + direct ? argv[1 + direct] : NULL;
	unsigned qd = argc > 2 + direct ? (unsigned)strtoul(argv[2 + direct], NULL, 10) : 32;
	double secs = argc > 3 + direct ? strtod(argv[3 + direct], NULL) : 5.0;
	struct slot *slots;
	uv_timer_t timer;
	uv_fs_t st;
	uint64_t t0, t1;
	int ret;

	if (argc > 4 + direct)
		bs = (size_t)strtoul(argv[4 + direct], NULL, 10);
	if (!path || qd < 1 || qd > 4096 || !(secs > 0) || bs < 512) {
		fprintf(stderr, "usage: uv-randread [--direct] FILE [QD [SECONDS [BS]]]\n");
		return 2;
	}
	loop = uv_default_loop();
	ret = uv_fs_open(loop, &st, path, O_RDONLY | (direct ? O_DIRECT : 0), 0, NULL);
	if (ret < 0) {
		fprintf(stderr, "uv-randread: %s: %s\n", path, uv_strerror(ret));
		return 2;
	}
	file = (uv_file)st.result;
	uv_fs_req_cleanup(&st);
	ret = uv_fs_fstat(loop, &st, file, NULL);
	nblocks = ret < 0 ? 0 : st.statbuf.st_size / bs;
	uv_fs_req_cleanup(&st);
	if (!nblocks) {
		fprintf(stderr, "uv-randread: %s: smaller than one block\n", path);
		return 2;
	}
	slots = calloc(qd, sizeof(*slots));
	if (!slots)
		return 1;
	for (unsigned i = 0; i < qd; i++) {
		void *mem;

		/* Aligned, for O_DIRECT. */
		if (posix_memalign(&mem, 4096, bs))
			return 1;
		slots[i].buf = uv_buf_init(mem, (unsigned)bs);
		slots[i].req.data = &slots[i];
	}
	uv_timer_init(loop, &timer);
	uv_timer_start(&timer, on_timer, (uint64_t)(secs * 1000), 0);
	t0 = uv_hrtime();
	for (unsigned i = 0; i < qd; i++)
		submit(&slots[i]);
	uv_run(loop, UV_RUN_DEFAULT);
	t1 = uv_hrtime();
	if (failed) {
		fprintf(stderr, "uv-randread: read: %s\n", uv_strerror(failed));
		return 1;
	}
	printf("uv-randread: qd %u, bs %zu%s, %llu reads in %.2f s\n", qd, bs,
	       direct ? ", O_DIRECT" : "", done, (double)(t1 - t0) / 1e9);
	printf("RESULT iops=%.0f\n", (double)done * 1e9 / (double)(t1 - t0));
	for (unsigned i = 0; i < qd; i++)
		free(slots[i].buf.base);
	free(slots);
	return 0;
}
