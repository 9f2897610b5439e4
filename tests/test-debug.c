/* SPDX-License-Identifier: MIT */
/* CIO_DEBUG: the traces a user turns on to see which requests fall back to
 * the pool, on every backend. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

/* The uring backend, whatever runs the file work. */
static bool on_uring(void)
{
	return !strcmp(T_BACKEND_NAME, "uring");
}

/* CIO_DEBUG=1 names each kind of fallback once, with the path taken;
 * CIO_DEBUG=2 every one. Run in a child whose stderr is a pipe. */
static void debug_child(const char *level, int wfd)
{
	struct cio_loop_opts lo = { .backend = t_backend };
	cio_loop *loop;
	cio_req req;
	char buf[8];
	int fd;

	setenv("CIO_DEBUG", level, 1);
	setenv("CIO_DEBUG_NO_OPS", "read", 1);
	if (dup2(wfd, 2) < 0 || cio_loop_new(&loop, &lo) < 0)
		_exit(100);
	fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	for (int i = 0; i < 3; i++) {
		int n = 0;

		memset(&req, 0, sizeof(req));
		req.data = &n;
		if (cio_read(loop, &req, fd, buf, sizeof(buf), 0, t_count_cb) < 0)
			_exit(101);
		cio_run(loop, CIO_RUN_DEFAULT);
		if (n != 1)
			_exit(102);
	}
	cio_loop_free(loop);
	_exit(0);
}

static unsigned debug_lines(const char *level, char *out, size_t n)
{
	unsigned lines = 0;
	size_t got = 0;
	int p[2], status;
	pid_t pid;
	ssize_t r;

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		debug_child(level, p[1]);
	close(p[1]);
	while (got + 1 < n && (r = read(p[0], out + got, n - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = 0;
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (char *q = out; (q = strstr(q, "libcio: fallback: read")); q++)
		lines++;
	return lines;
}

START_TEST(debug_traces_fallbacks)
{
	char out[4096];

	/* The knob makes the uring backend lack read; elsewhere nothing is
	 * missing, so nothing falls back. */
	ck_assert_uint_eq(debug_lines("1", out, sizeof(out)), on_uring() ? 1 : 0);
	ck_assert_msg(strstr(out, "libcio: backend "), "no backend line: %s", out);
	if (on_uring())
		/* A buffered read the ring lacks: the loop thread, then the
		 * pool (cio_op_path(3)). */
		ck_assert_msg(strstr(out, "path \"inline\""), "%s", out);
	ck_assert_uint_eq(debug_lines("2", out, sizeof(out)), on_uring() ? 3 : 0);
	ck_assert_uint_eq(debug_lines("0", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
}
END_TEST

static Suite *debug_suite(void)
{
	Suite *s = suite_create("debug");
	TCase *tc = tcase_create("debug");

	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, debug_traces_fallbacks);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return t_main(debug_suite);
}
