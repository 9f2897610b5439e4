/* SPDX-License-Identifier: MIT */
/* Ring features that every backend accepts with one meaning: registered
 * buffers (CIO_FIXED_BUF), zero-copy sends (CIO_ZEROCOPY) and SQPOLL. On
 * io_uring they change how the kernel works; elsewhere they are checked
 * and the results are the same. */
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

/* ------------------------------------------------------------------ */
/* Registered buffers */

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

/* ------------------------------------------------------------------ */
/* Zero-copy sends: 8 TCP connections, each sending 125 messages of 4 KiB
 * one after the other from one buffer that its callback rewrites for the
 * next message. A buffer reused before the kernel let go of it would
 * show as a wrong byte at the receiver. */

#define ZC_CONNS 8
#define ZC_MSGS  125
#define ZC_LEN   4096

struct zc_conn {
	struct op o;
	int       idx;
	cio_loop *loop;
	int       fd, peer;
	unsigned  sent;
	uint8_t   buf[ZC_LEN];
	bool      bad;
	pthread_t rtid;
	bool      rok;
};

static void zc_fill(struct zc_conn *c)
{
	t_fill(c->buf, ZC_LEN, 500 + (uint64_t)c->idx, (uint64_t)c->sent * ZC_LEN);
}

static void *zc_reader(void *arg)
{
	struct zc_conn *c = arg;
	uint64_t seed = 500 + (uint64_t)c->idx;
	uint8_t buf[ZC_LEN];
	uint64_t got = 0;

	c->rok = true;
	while (got < (uint64_t)ZC_MSGS * ZC_LEN) {
		ssize_t r = read(c->peer, buf, sizeof(buf));

		if (r <= 0)
			break;
		if (!t_check(buf, (size_t)r, seed, got))
			c->rok = false;
		got += (uint64_t)r;
	}
	if (got != (uint64_t)ZC_MSGS * ZC_LEN)
		c->rok = false;
	return NULL;
}

static void zc_cb(cio_req *req)
{
	struct zc_conn *c = req->data;

	c->o.n++;
	if (req->res != ZC_LEN)
		c->bad = true;
	if (++c->sent == ZC_MSGS || c->bad)
		return;
	zc_fill(c);          /* the callback ran: the buffer is ours again */
	if (cio_send(c->loop, &c->o.req, c->fd, c->buf, ZC_LEN, 0, zc_cb) < 0)
		c->bad = true;
}

static void tcp_pair(int *a, int *b)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(l, 0);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(l, 1), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	*a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(*a, 0);
	ck_assert_int_eq(connect(*a, (struct sockaddr *)&sa, sizeof(sa)), 0);
	*b = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(*b, 0);
	close(l);
}

START_TEST(zerocopy_sends_reuse_after_callback)
{
	cio_loop *loop = t_loop_new();
	struct zc_conn *c = calloc(ZC_CONNS, sizeof(*c));
	unsigned total = 0;

	for (int i = 0; i < ZC_CONNS; i++) {
		tcp_pair(&c[i].fd, &c[i].peer);
		c[i].loop = loop;
		c[i].idx = i;
		op_init(&c[i].o);
		c[i].o.req.data = &c[i];
		c[i].o.req.opts = CIO_ZEROCOPY;
		ck_assert_int_eq(pthread_create(&c[i].rtid, NULL, zc_reader, &c[i]), 0);
	}
	for (int i = 0; i < ZC_CONNS; i++) {
		zc_fill(&c[i]);
		ck_assert_int_eq(cio_send(loop, &c[i].o.req, c[i].fd, c[i].buf, ZC_LEN, 0,
					  zc_cb), 0);
	}
	t_run(loop);
	for (int i = 0; i < ZC_CONNS; i++) {
		ck_assert_int_eq(pthread_join(c[i].rtid, NULL), 0);
		ck_assert(!c[i].bad);
		ck_assert(c[i].rok);
		ck_assert_int_eq(c[i].o.n, ZC_MSGS);
		total += (unsigned)c[i].o.n;
		close(c[i].fd);
		close(c[i].peer);
	}
	ck_assert_uint_eq(total, ZC_CONNS * ZC_MSGS);
	free(c);
	t_loop_free(loop);
}
END_TEST

/* sendmsg with CIO_ZEROCOPY, and the option refused where it has no
 * meaning. */
START_TEST(zerocopy_sendmsg_and_misuse)
{
	cio_loop *loop = t_loop_new();
	uint8_t buf[3000], back[3000];
	struct iovec iov[2] = { { buf, 1000 }, { buf + 1000, 2000 } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	struct op o;
	size_t got = 0;
	int a, b;

	tcp_pair(&a, &b);
	op_init(&o);
	t_fill(buf, sizeof(buf), 31, 0);
	o.req.opts = CIO_ZEROCOPY;
	ck_assert_int_eq(RUN(&o, cio_sendmsg(loop, &o.req, a, &mh, 0, op_cb)), 3000);
	while (got < sizeof(back)) {
		ssize_t r = read(b, back + got, sizeof(back) - got);

		ck_assert_int_gt(r, 0);
		got += (size_t)r;
	}
	ck_assert(t_check(back, sizeof(back), 31, 0));
	REJECT(&o, cio_recv(loop, &o.req, a, buf, 10, 0, op_cb), -EINVAL);
	REJECT(&o, cio_write(loop, &o.req, a, buf, 10, -1, op_cb), -EINVAL);
	close(a);
	close(b);
	t_loop_free(loop);
}
END_TEST

/* CIO_ZEROCOPY is a hint: on a socket type without zero-copy (AF_UNIX)
 * send and sendmsg still deliver, on every backend, with a copy. */
START_TEST(zerocopy_on_unix_socket_copies)
{
	cio_loop *loop = t_loop_new();
	uint8_t buf[5000], back[10000];
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct op o;
	size_t got = 0;
	int s[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
	op_init(&o);
	t_fill(buf, sizeof(buf), 32, 0);
	o.req.opts = CIO_ZEROCOPY;
	ck_assert_int_eq(RUN(&o, cio_send(loop, &o.req, s[0], buf, sizeof(buf), 0,
					  op_cb)), sizeof(buf));
	o.req.opts = CIO_ZEROCOPY;
	ck_assert_int_eq(RUN(&o, cio_sendmsg(loop, &o.req, s[0], &mh, 0, op_cb)),
			 sizeof(buf));
	while (got < sizeof(back)) {
		ssize_t r = read(s[1], back + got, sizeof(back) - got);

		ck_assert_int_gt(r, 0);
		got += (size_t)r;
	}
	ck_assert(t_check(back, sizeof(buf), 32, 0));
	ck_assert(t_check(back + sizeof(buf), sizeof(buf), 32, 0));
	close(s[0]);
	close(s[1]);
	t_loop_free(loop);
}
END_TEST

/* ------------------------------------------------------------------ */
/* SQPOLL */

/* The kernel's SQ threads of this process ("iou-sqp-PID") and the CPU
 * ticks they have used. */
static unsigned sq_threads(unsigned long *ticks)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	unsigned n = 0;

	*ticks = 0;
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		char path[300], comm[64] = "", stat[1024];
		unsigned long ut = 0, st = 0;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = 0;
		fclose(f);
		if (strncmp(comm, "iou-sqp-", 8))
			continue;
		n++;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (fgets(stat, sizeof(stat), f)) {
			char *p = strrchr(stat, ')');

			/* fields after ") ": state is 3rd; utime 14th, stime 15th */
			if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
					&ut, &st) == 2)
				*ticks += ut + st;
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

/* Wait (at most limit_s seconds, else fail) until every SQ thread of this
 * process is asleep ("S" in /proc). */
static void wait_sq_thread_asleep(unsigned limit_s)
{
	uint64_t t0 = t_now_ns();

	for (;;) {
		DIR *d = opendir("/proc/self/task");
		struct dirent *e;
		bool awake = false;

		ck_assert_ptr_nonnull(d);
		while ((e = readdir(d))) {
			char path[300], comm[64] = "", stat[1024] = "", *p;
			FILE *f;

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
			if (!(f = fopen(path, "r")))
				continue;
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = 0;
			fclose(f);
			if (strncmp(comm, "iou-sqp-", 8))
				continue;
			snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
			if (!(f = fopen(path, "r")))
				continue;
			if (fgets(stat, sizeof(stat), f) && (p = strrchr(stat, ')')) && p[1] &&
			    p[2] != 'S')
				awake = true;
			fclose(f);
		}
		closedir(d);
		if (!awake)
			return;
		ck_assert_msg(t_now_ns() - t0 < limit_s * 1000000000ull,
			      "the SQ thread did not go to sleep in %u s", limit_s);
		usleep(10000);
	}
}

START_TEST(sqpoll_loops)
{
	struct cio_loop_opts lo = {
		.backend = t_backend, .flags = CIO_LOOP_SQPOLL, .sqpoll_idle_ms = 20,
	};
	char *dir = t_tmpdir();
	int dfd = t_dirfd(dir);
	int fd = t_mkfile(dfd, "f", BUFSZ, 41);
	cio_loop *a, *b;
	uint8_t buf[BUFSZ];
	unsigned long t0, t1;
	unsigned nthreads;
	struct op o, nops[64];
	cio_loop *loop;
	int ret;

	ret = cio_loop_new(&a, &lo);
	if (ret == -EPERM || ret == -EINVAL)
		T_SKIP("the kernel refuses SQPOLL here: %s", strerror(-ret));
	ck_assert_int_eq(ret, 0);
	ck_assert_int_eq(cio_loop_new(&b, &lo), 0);
	if (on_uring()) {
		ck_assert_str_eq(cio_backend(a), "uring+sqpoll");
		ck_assert_str_eq(cio_backend(b), "uring+sqpoll");
	} else {
		/* Nothing to poll without a ring: asked for, and ignored. */
		ck_assert_str_eq(cio_backend(a), T_BACKEND_NAME);
	}

	/* Work on both loops, verified. */
	loop = a;
	for (int k = 0; k < 2; k++, loop = b) {
		op_init(&o);
		memset(buf, 0, sizeof(buf));
		ck_assert_int_eq(RUN(&o, cio_read(loop, &o.req, fd, buf, BUFSZ, 0, op_cb)),
				 BUFSZ);
		ck_assert(t_check(buf, BUFSZ, 41, 0));
		for (int i = 0; i < 64; i++) {
			op_init(&nops[i]);
			START(&nops[i], cio_nop(loop, &nops[i].req, op_cb));
		}
		t_run(loop);
		for (int i = 0; i < 64; i++)
			ck_assert_int_eq(nops[i].n, 1);
	}

	nthreads = sq_threads(&t0);
	if (strcmp(cio_backend(a), "uring+sqpoll")) {
		ck_assert_uint_eq(nthreads, 0);
	} else {
		/* One kernel thread polls for both rings. */
		ck_assert_uint_eq(nthreads, 1);
		/* Idle, it sleeps: next to no CPU over 300 ms (ticks are 10 ms),
		 * counted from when /proc shows it asleep (a minute allowed: on
		 * a loaded machine it may get the CPU late to see its idle time
		 * passed). */
		wait_sq_thread_asleep(60);
		sq_threads(&t0);
		usleep(300000);
		sq_threads(&t1);
		ck_assert_msg(t1 - t0 <= 2, "idle SQ thread used %lu ticks", t1 - t0);
		printf("sqpoll [%s]: 1 SQ thread for 2 loops, %lu ticks in 300 ms idle\n",
		       t_variant, t1 - t0);
	}
	/* Woken after idling out: the next request still completes. */
	op_init(&o);
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(op_run(a, &o, cio_read(a, &o.req, fd, buf, 4096, 4096, op_cb),
				__LINE__), 4096);
	ck_assert(t_check(buf, 4096, 41, 4096));
	/* The first loop gone, the second still works, and a third attaches. */
	ck_assert_int_eq(cio_loop_free(a), 0);
	ck_assert_int_eq(cio_loop_new(&a, &lo), 0);
	ck_assert_int_eq(op_run(b, &o, cio_read(b, &o.req, fd, buf, 4096, 0, op_cb),
				__LINE__), 4096);
	ck_assert_int_eq(op_run(a, &o, cio_read(a, &o.req, fd, buf, 4096, 0, op_cb),
				__LINE__), 4096);
	ck_assert(t_check(buf, 4096, 41, 0));
	ck_assert_int_eq(cio_loop_free(a), 0);
	ck_assert_int_eq(cio_loop_free(b), 0);
	close(fd);
	close(dfd);
	t_tmpdir_rm(dir);
}
END_TEST

/* Stats count what happened, on every backend. */
START_TEST(stats_count)
{
	cio_loop *loop = t_loop_new();
	struct cio_stats s0, s1;
	struct op o[10];
	int sv[2];

	ck_assert_int_eq(cio_loop_stats(loop, &s0), 0);
	for (int i = 0; i < 10; i++) {
		op_init(&o[i]);
		START(&o[i], cio_nop(loop, &o[i].req, op_cb));
	}
	t_run(loop);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	op_init(&o[0]);
	o[0].req.timeout_ns = 1000000;
	START(&o[0], cio_poll(loop, &o[0].req, sv[0], POLLIN, op_cb));
	t_run(loop);
	ck_assert_int_eq(o[0].req.res, -ETIMEDOUT);
	ck_assert_int_eq(cio_loop_stats(loop, &s1), 0);
	ck_assert_uint_eq(s1.submitted - s0.submitted, 11);
	ck_assert_uint_eq(s1.completed - s0.completed, 11);
	ck_assert_uint_eq(s1.inflight, 0);
	ck_assert_uint_eq(s1.timeouts - s0.timeouts, 1);
	ck_assert_uint_gt(s1.kernel_enters, s0.kernel_enters);
	close(sv[0]);
	close(sv[1]);
	t_loop_free(loop);
}
END_TEST

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
		ck_assert_msg(strstr(out, "path \"pool\""), "%s", out);
	ck_assert_uint_eq(debug_lines("2", out, sizeof(out)), on_uring() ? 3 : 0);
	ck_assert_uint_eq(debug_lines("0", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
}
END_TEST

static Suite *features_suite(void)
{
	Suite *s = suite_create("features");
	TCase *tc;

	tc = tcase_create("fixed");
	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, fixed_buffers);
	tcase_add_test(tc, fixed_buffers_memlock);
	suite_add_tcase(s, tc);

	tc = tcase_create("zerocopy");
	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, zerocopy_sends_reuse_after_callback);
	tcase_add_test(tc, zerocopy_sendmsg_and_misuse);
	tcase_add_test(tc, zerocopy_on_unix_socket_copies);
	suite_add_tcase(s, tc);

	tc = tcase_create("sqpoll");
	tcase_set_timeout(tc, T_TIMEOUT);
	tcase_add_test(tc, sqpoll_loops);
	tcase_add_test(tc, stats_count);
	tcase_add_test(tc, debug_traces_fallbacks);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return t_main(features_suite);
}
