/* SPDX-License-Identifier: MIT */
/* No descriptor left: accept ends with -EMFILE, on every backend, and
 * accepts again once there is one. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

static int highest_fd(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int hi = -1;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && atoi(e->d_name) > hi)
			hi = atoi(e->d_name);
	closedir(d);
	return hi;
}

/* No descriptor left for a new connection: -EMFILE, and once there is
 * room again the same connection is accepted. */
START_TEST(emfile_on_accept)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	cio_loop *loop = t_loop_new();
	struct rlimit old, low;
	struct op o;
	int l, c;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(l, 0);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(l, 4), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	op_init(&o);

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)highest_fd() + 1;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	/* Fill the holes below the limit too. */
	{
		int fill[4096], nfill = 0, d;

		errno = 0;
		while (nfill < 4096 && (d = dup(l)) >= 0)
			fill[nfill++] = d;
		ck_assert_int_eq(errno, EMFILE);
		ck_assert_int_eq(RUN(&o, cio_accept(loop, &o.req, l, NULL, NULL, SOCK_CLOEXEC,
						    op_cb)), -EMFILE);
		while (nfill)
			close(fill[--nfill]);
	}
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	/* The connection waited in the backlog. */
	{
		int64_t fd = RUN(&o, cio_accept(loop, &o.req, l, NULL, NULL, SOCK_CLOEXEC, op_cb));

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(c, "x", 1), 1);
		ck_assert_int_eq(RUN(&o, cio_recv(loop, &o.req, (int)fd, &(char){ 0 }, 1, 0,
						  op_cb)), 1);
		close((int)fd);
	}
	close(c);
	close(l);
	t_loop_free(loop);
}
END_TEST

static Suite *emfile_suite(void)
{
	Suite *s = suite_create("emfile");
	TCase *tc = tcase_create("emfile");

	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, emfile_on_accept);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return t_main(emfile_suite);
}
