/* SPDX-License-Identifier: MIT */
#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/mman.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

const char *t_backend = "uring";
const char *t_variant = "uring";

cio_loop *t_loop_new_opts(unsigned entries)
{
	struct cio_loop_opts opts = { .backend = t_backend, .entries = entries };
	cio_loop *loop = NULL;
	int ret = cio_loop_new(&loop, &opts);

	ck_assert_msg(ret == 0, "cio_loop_new(%s): %s", t_backend, strerror(-ret));
	ck_assert_str_eq(cio_backend(loop), T_BACKEND_NAME);
	return loop;
}

cio_loop *t_loop_new(void)
{
	return t_loop_new_opts(0);
}

void t_loop_free(cio_loop *loop)
{
	ck_assert_int_eq(cio_loop_free(loop), 0);
}

void t_run(cio_loop *loop)
{
	ck_assert_int_eq(cio_run(loop, CIO_RUN_DEFAULT), 0);
}

char *t_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *dir;

	if (!base || !*base)
		base = "/var/tmp";
	ck_assert(asprintf(&dir, "%s/cio-test-XXXXXX", base) > 0);
	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
	return dir;
}

static void rm_tree(int dfd)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno == EISDIR) {
			int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY);

			if (sub >= 0)
				rm_tree(sub);
			unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
		}
	}
	closedir(d);
}

void t_tmpdir_rm(char *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);

	if (dfd >= 0)
		rm_tree(dfd);
	rmdir(dir);
	free(dir);
}

int t_dirfd(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	ck_assert_msg(fd >= 0, "open %s: %s", dir, strerror(errno));
	return fd;
}

/* splitmix64 over (seed, 8-byte word index): any offset, any length. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint8_t pattern_byte(uint64_t seed, uint64_t pos)
{
	return (uint8_t)(mix(seed * 0x100000001b3ull + pos / 8) >> (8 * (pos % 8)));
}

void t_fill(void *buf, size_t len, uint64_t seed, uint64_t off)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = pattern_byte(seed, off + i);
}

int t_check(const void *buf, size_t len, uint64_t seed, uint64_t off)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern_byte(seed, off + i))
			return 0;
	return 1;
}

int64_t t_fpos(int fd)
{
	return lseek(fd, 0, SEEK_CUR);
}

int t_closed_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(close(fd), 0);
	errno = 0;
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
	ck_assert_int_eq(errno, EBADF);
	return fd;
}

int t_tcp_bound(struct sockaddr_in *sa, int rcvbuf)
{
	socklen_t len = sizeof(*sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
	if (rcvbuf > 0)
		ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
					    sizeof(rcvbuf)), 0);
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_msg(bind(fd, (struct sockaddr *)sa, sizeof(*sa)) == 0, "bind: %s",
		      strerror(errno));
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)sa, &len), 0);
	ck_assert_uint_eq(len, sizeof(*sa));
	return fd;
}

void t_tcp_pair(int fds[2], int sndbuf, int rcvbuf)
{
	struct sockaddr_in sa;
	int l = t_tcp_bound(&sa, rcvbuf);   /* the accepted end inherits it */

	ck_assert_int_eq(listen(l, 1), 0);
	fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fds[0], 0);
	if (sndbuf > 0)
		ck_assert_int_eq(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
					    sizeof(sndbuf)), 0);
	/* On loopback the handshake completes into the backlog at once. */
	ck_assert_msg(connect(fds[0], (struct sockaddr *)&sa, sizeof(sa)) == 0,
		      "connect: %s", strerror(errno));
	fds[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_msg(fds[1] >= 0, "accept4: %s", strerror(errno));
	ck_assert_int_eq(close(l), 0);
}

void t_unix_pair(int fds[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
}

static void watchdog_cb(cio_req *req)
{
	struct t_watchdog *w = req->data;
	char state[400] = "", msg[512];

	w->calls++;
	if (w->count)
		(*w->count)++;
	if (req->res == -ECANCELED)
		return;
	if (w->say)
		w->say(w->arg, state, sizeof(state));
	snprintf(msg, sizeof(msg), "still busy after %d s: %s (timer: %lld)",
		 T_WATCHDOG_SEC, state, (long long)req->res);
	if (w->fired)
		w->fired(w->arg, msg);
	else
		ck_assert_msg(req->res == -ECANCELED, "%s", msg);
}

int t_watchdog_start(cio_loop *loop, struct t_watchdog *w, unsigned *count,
		     void (*say)(void *arg, char *msg, size_t len), void *arg)
{
	memset(w, 0, sizeof(*w));
	w->req.data = w;
	w->count = count;
	w->say = say;
	w->arg = arg;
	return cio_timer(loop, &w->req, T_WATCHDOG_SEC * 1000000000ull, watchdog_cb);
}

int t_watchdog_stop(cio_loop *loop, struct t_watchdog *w)
{
	return cio_cancel(loop, &w->req);
}

void t_count_cb(cio_req *req)
{
	(*(int *)req->data)++;
}

struct variant {
	const char *name, *backend, *no_ops;
};

static const struct variant variants[] = {
	{ "uring", "uring", NULL },
	{ "aio", "aio", NULL },
	{ "pool", "pool", NULL },
	{ "uring-fallback", "uring", "all" },
	/* Whatever automatic selection picks (the seccomp runs); the variant
	 * then takes that backend's name, and CIO_TEST_EXPECT_BACKEND, if
	 * set, must match it. */
	{ "auto", NULL, NULL },
};

int t_main(Suite *(*make_suite)(void))
{
	const char *list = getenv("CIO_TEST_BACKENDS");
	int failed = 0, ran = 0;

	if (!list || !*list)
		list = "uring,aio,pool,uring-fallback";
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		const struct variant *v = &variants[i];
		size_t n = strlen(v->name);
		const char *p = list;
		bool wanted = false;
		cio_loop *probe = NULL;
		struct cio_loop_opts opts = { .backend = v->backend };
		SRunner *sr;
		int ret;

		while (*p) {
			size_t len = strcspn(p, ",");

			if (len == n && !strncmp(p, v->name, n))
				wanted = true;
			p += len + (p[len] == ',');
		}
		if (!wanted)
			continue;
		if (v->no_ops)
			setenv("CIO_DEBUG_NO_OPS", v->no_ops, 1);
		else
			unsetenv("CIO_DEBUG_NO_OPS");
		ret = cio_loop_new(&probe, &opts);
		if (ret < 0) {
			printf("SKIP backend %s: cannot create a loop: %s\n",
			       v->name, strerror(-ret));
			continue;
		}
		t_backend = v->backend;
		t_variant = v->backend ? v->name : cio_backend(probe);
		cio_loop_free(probe);
		if (!v->backend && getenv("CIO_TEST_EXPECT_BACKEND") &&
		    strcmp(getenv("CIO_TEST_EXPECT_BACKEND"), t_variant)) {
			printf("FAIL: automatic selection picked %s, expected %s\n",
			       t_variant, getenv("CIO_TEST_EXPECT_BACKEND"));
			failed++;
			continue;
		}
		printf("=== backend %s%s%s ===\n", v->backend ? "" : "auto: ",
		       t_variant, "");
		fflush(stdout);
		sr = srunner_create(make_suite());
		srunner_run_all(sr, CK_NORMAL);
		failed += srunner_ntests_failed(sr);
		srunner_free(sr);
		ran++;
	}
	if (!ran) {
		printf("no backend could run\n");
		return 1;
	}
	return failed ? 1 : 0;
}

void op_cb(cio_req *req)
{
	struct op *o = req->data;

	o->n++;
	o->tid = pthread_self();
}

void op_init(struct op *o)
{
	memset(o, 0, sizeof(*o));
	o->req.data = o;
}

/* Accepted, no callback inside the submitting call. */
void op_started(struct op *o, int ret, int line)
{
	ck_assert_msg(ret == 0, "line %d: submission rejected: %d (%s)",
		      line, ret, strerror(-ret));
	ck_assert_msg(o->n == 0, "line %d: callback ran inside the submitting call",
		      line);
}

/* Accepted; run until idle; exactly one callback, on this thread. */
int64_t op_run(cio_loop *loop, struct op *o, int ret, int line)
{
	op_started(o, ret, line);
	t_run(loop);
	ck_assert_msg(o->n == 1, "line %d: %d callbacks, want 1", line, o->n);
	ck_assert_msg(pthread_equal(o->tid, pthread_self()),
		      "line %d: callback ran on another thread", line);
	o->n = 0;
	return o->req.res;
}

/* Refused with want; no callback ever runs and nothing stays in flight. */
void op_reject(cio_loop *loop, struct op *o, int ret, int want, int line)
{
	struct cio_stats st;

	ck_assert_msg(ret == want, "line %d: returned %d, want %d", line, ret, want);
	t_run(loop);
	ck_assert_msg(o->n == 0, "line %d: a refused request called back", line);
	ck_assert_int_eq(cio_loop_stats(loop, &st), 0);
	ck_assert_msg(st.inflight == 0, "line %d: %llu in flight after a refusal",
		      line, (unsigned long long)st.inflight);
}

int t_mkfile(int dfd, const char *name, size_t len, uint64_t seed)
{
	int fd = openat(dfd, name, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644);

	ck_assert_msg(fd >= 0, "open %s: %s", name, strerror(errno));
	if (len) {
		uint8_t *b = malloc(len);

		ck_assert_ptr_nonnull(b);
		t_fill(b, len, seed, 0);
		ck_assert_int_eq(pwrite(fd, b, len, 0), (ssize_t)len);
		free(b);
	}
	return fd;
}

uint64_t t_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int t_getfl(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	ck_assert_msg(fl >= 0, "F_GETFL %d: %s", fd, strerror(errno));
	return fl;
}

uint64_t t_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

size_t t_resident_pages(int fd, size_t len)
{
	size_t page = (size_t)getpagesize(), n = (len + page - 1) / page, in = 0;
	unsigned char *vec = malloc(n);
	void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);

	ck_assert_ptr_nonnull(vec);
	ck_assert_ptr_ne(map, MAP_FAILED);
	ck_assert_int_eq(mincore(map, len, vec), 0);
	for (size_t i = 0; i < n; i++)
		in += vec[i] & 1;
	munmap(map, len);
	free(vec);
	return in;
}
