/* SPDX-License-Identifier: MIT */
/* Registered buffers (CIO_FIXED_BUF), on every backend: on io_uring the
 * kernel uses the registered pages; elsewhere the option is checked and
 * the results are the same. */
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

#define BUFSZ (64 * KiB)

/* The uring backend, whatever runs the file work. */
static bool on_uring(void)
{
	return !strcmp(T_BACKEND_NAME, "uring");
}


START_TEST(fixed_buffers)
{
	cio_loop *loop = t_loop_new();
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir);
	int fd = openat(dfd, "f", O_CREAT | O_RDWR | O_CLOEXEC, 0644);
	uint8_t *mem = NULL, *out = NULL, stray[64];
	struct iovec reg[2], v;
	struct op o, w;
	int p[2];

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(posix_memalign((void **)&mem, 4096, 2 * BUFSZ), 0);
	ck_assert_int_eq(posix_memalign((void **)&out, 4096, BUFSZ), 0);
	reg[0] = (struct iovec){ mem + BUFSZ, BUFSZ };   /* out of order on purpose */
	reg[1] = (struct iovec){ mem, BUFSZ };
	op_init(&o);
	op_init(&w);

	/* Bad sets. */
	ck_assert_int_eq(cio_register_buffers(loop, reg, 0), -EINVAL);
	ck_assert_int_eq(cio_register_buffers(loop, NULL, 2), -EFAULT);
	ck_assert_int_eq(cio_register_buffers(NULL, reg, 2), -EINVAL);
	v = (struct iovec){ mem + 100, BUFSZ };
	{
		struct iovec overlap[2] = { reg[1], v };

		ck_assert_int_eq(cio_register_buffers(loop, overlap, 2), -EINVAL);
	}
	ck_assert_int_eq(cio_unregister_buffers(loop), -ENXIO);
	/* Nothing registered: a fixed request has nowhere to lie. */
	o.req.opts = CIO_FIXED_BUF;
	REJECT(&o, cio_write(loop, &o.req, fd, mem, 10, 0, op_cb), -EINVAL);

	ck_assert_int_eq(cio_register_buffers(loop, reg, 2), 0);
	ck_assert_int_eq(cio_register_buffers(loop, reg, 2), -EBUSY);

	/* Write from one, read into the other, compare. */
	t_fill(mem, BUFSZ, 21, 0);
	t_fill(mem + BUFSZ, BUFSZ, 21, BUFSZ);
	ck_assert_int_eq(RUN(&o, cio_write(loop, &o.req, fd, mem, BUFSZ, 0, op_cb)),
			 BUFSZ);
	ck_assert_int_eq(RUN(&o, cio_write(loop, &o.req, fd, mem + BUFSZ, BUFSZ, BUFSZ,
					   op_cb)), BUFSZ);
	memset(mem, 0, 2 * BUFSZ);
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, mem + BUFSZ, BUFSZ, 0, op_cb)),
			 BUFSZ);
	ck_assert(t_check(mem + BUFSZ, BUFSZ, 21, 0));
	/* Inside a buffer, not at its start; with CIO_ALL across EOF. */
	o.req.opts = CIO_FIXED_BUF | CIO_ALL;
	ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, mem + 4096, BUFSZ - 4096,
					  BUFSZ + 8192, op_cb)), BUFSZ - 8192);
	ck_assert(t_check(mem + 4096, BUFSZ - 8192, 21, BUFSZ + 8192));
	ck_assert_int_eq(pread(fd, out, BUFSZ, BUFSZ), BUFSZ);
	ck_assert(t_check(out, BUFSZ, 21, BUFSZ));

	/* Outside every buffer, or running off the end of one. */
	o.req.opts = CIO_FIXED_BUF;
	REJECT(&o, cio_read(loop, &o.req, fd, stray, sizeof(stray), 0, op_cb), -EINVAL);
	REJECT(&o, cio_read(loop, &o.req, fd, mem + BUFSZ + 10, BUFSZ, 0, op_cb), -EINVAL);
	REJECT(&o, cio_readv(loop, &o.req, fd, reg, 1, 0, op_cb), -EINVAL);
	REJECT(&o, cio_recv(loop, &o.req, fd, mem, 10, 0, op_cb), -EINVAL);

	/* Not while a fixed request is pending. */
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	START(&o, cio_read(loop, &o.req, p[0], mem, 100, -1, op_cb));
	ck_assert_int_eq(cio_run(loop, CIO_RUN_NOWAIT), 1);
	ck_assert_int_eq(cio_unregister_buffers(loop), -EBUSY);
	ck_assert_int_eq(write(p[1], "fixed", 5), 5);
	t_run(loop);
	ck_assert_int_eq(o.n, 1);
	ck_assert_int_eq(o.req.res, 5);
	ck_assert(!memcmp(mem, "fixed", 5));
	ck_assert_int_eq(cio_unregister_buffers(loop), 0);
	ck_assert_int_eq(cio_unregister_buffers(loop), -ENXIO);
	/* Registered again after that, and freed with the loop. */
	ck_assert_int_eq(cio_register_buffers(loop, reg, 1), 0);

	close(p[0]);
	close(p[1]);
	close(fd);
	close(dfd);
	t_tmpdir_rm(dir);
	t_loop_free(loop);
	free(mem);
	free(out);
}
END_TEST

/* RLIMIT_MEMLOCK that cannot hold the pages: io_uring pins them and says
 * -ENOMEM, cleanly; the other backends pin nothing. Run in a child that
 * has given up root (whose CAP_IPC_LOCK would skip the limit). */
START_TEST(fixed_buffers_memlock)
{
	size_t len = 8 * MiB;
	int status;
	pid_t pid;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct rlimit rl = { 64 * KiB, 64 * KiB };
		struct cio_loop_opts lo = { .backend = t_backend };

		struct iovec iov;
		cio_loop *loop;
		int ret;

		if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0)
			_exit(100);
		if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(101);
		if (cio_loop_new(&loop, &lo) < 0)
			_exit(102);
		iov.iov_base = malloc(len);
		iov.iov_len = len;
		ret = cio_register_buffers(loop, &iov, 1);
		if (ret == 0 && cio_unregister_buffers(loop) < 0)
			_exit(103);
		cio_loop_free(loop);
		_exit(ret == 0 ? 0 : ret == -ENOMEM ? 1 : 104);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_msg(WEXITSTATUS(status) == (on_uring() ? 1 : 0),
		      "[%s] child exited %d", t_variant, WEXITSTATUS(status));
}
END_TEST

static Suite *fixed_suite(void)
{
	Suite *s = suite_create("fixed");
	TCase *tc = tcase_create("fixed");

	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, fixed_buffers);
	tcase_add_test(tc, fixed_buffers_memlock);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return t_main(fixed_suite);
}
