/* SPDX-License-Identifier: MIT */
/*
 * op-paths [backend]: the path every operation takes on this kernel
 * (cio_op_path), one "OPPATH <op> <path>" line each: file operations
 * asked about a regular file in $TMPDIR, network ones about a TCP socket,
 * path operations about a directory. make check-kernels prints it in each
 * guest; cio-backends(7)'s table of paths per kernel comes from it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <cio.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/utsname.h>

enum { ON_NONE, ON_FILE, ON_SOCK, ON_LISTENER, ON_DIR };

static const struct {
	int         op;
	const char *name;
	int         on;
} ops[] = {
	{ CIO_OP_NOP, "nop", ON_NONE },
	{ CIO_OP_READ, "read", ON_FILE },
	{ CIO_OP_WRITE, "write", ON_FILE },
	{ CIO_OP_READV, "readv", ON_FILE },
	{ CIO_OP_WRITEV, "writev", ON_FILE },
	{ CIO_OP_FSYNC, "fsync", ON_FILE },
	{ CIO_OP_FALLOCATE, "fallocate", ON_FILE },
	{ CIO_OP_FTRUNCATE, "ftruncate", ON_FILE },
	{ CIO_OP_OPENAT, "openat", ON_DIR },
	{ CIO_OP_OPENAT2, "openat2", ON_DIR },
	{ CIO_OP_CLOSE, "close", ON_FILE },
	{ CIO_OP_STATX, "statx", ON_DIR },
	{ CIO_OP_UNLINKAT, "unlinkat", ON_DIR },
	{ CIO_OP_RENAMEAT, "renameat", ON_DIR },
	{ CIO_OP_MKDIRAT, "mkdirat", ON_DIR },
	{ CIO_OP_LINKAT, "linkat", ON_DIR },
	{ CIO_OP_SYMLINKAT, "symlinkat", ON_DIR },
	{ CIO_OP_READLINKAT, "readlinkat", ON_DIR },
	{ CIO_OP_FCHMODAT, "fchmodat", ON_DIR },
	{ CIO_OP_UTIMENSAT, "utimensat", ON_DIR },
	{ CIO_OP_GETDENTS, "getdents", ON_DIR },
	{ CIO_OP_FADVISE, "fadvise", ON_FILE },
	{ CIO_OP_SYNC_FILE_RANGE, "sync_file_range", ON_FILE },
	{ CIO_OP_COPY_FILE_RANGE, "copy_file_range", ON_FILE },
	{ CIO_OP_SPLICE, "splice", ON_FILE },
	{ CIO_OP_SENDFILE, "sendfile", ON_FILE },
	{ CIO_OP_TIMER, "timer", ON_NONE },
	{ CIO_OP_WORK, "work", ON_NONE },
	{ CIO_OP_POST, "post", ON_NONE },
	{ CIO_OP_SOCKET, "socket", ON_NONE },
	{ CIO_OP_ACCEPT, "accept", ON_LISTENER },
	{ CIO_OP_CONNECT, "connect", ON_SOCK },
	{ CIO_OP_RECV, "recv", ON_SOCK },
	{ CIO_OP_SEND, "send", ON_SOCK },
	{ CIO_OP_RECVMSG, "recvmsg", ON_SOCK },
	{ CIO_OP_SENDMSG, "sendmsg", ON_SOCK },
	{ CIO_OP_SHUTDOWN, "shutdown", ON_SOCK },
	{ CIO_OP_RECV_POOL, "recv_pool", ON_SOCK },
	{ CIO_OP_POLL, "poll", ON_SOCK },
};

int main(int argc, char **argv)
{
	struct cio_loop_opts opts = { .backend = argc > 1 ? argv[1] : "uring" };
	const char *tmp = getenv("TMPDIR");
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char path[4096];
	struct utsname u;
	cio_loop *loop;
	int fds[5], ret;

	_Static_assert(sizeof(ops) / sizeof(ops[0]) == CIO_OP__COUNT,
		       "an operation is missing from the table");
	ret = cio_loop_new(&loop, &opts);
	if (ret < 0) {
		fprintf(stderr, "op-paths: cio_loop_new(%s): %s\n", opts.backend,
			strerror(-ret));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/op-paths.%d", tmp ? tmp : "/var/tmp",
		 (int)getpid());
	fds[ON_NONE] = -1;
	fds[ON_FILE] = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	unlink(path);
	fds[ON_SOCK] = socket(AF_INET, SOCK_STREAM, 0);
	fds[ON_LISTENER] = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fds[ON_DIR] = open(tmp ? tmp : "/var/tmp", O_RDONLY | O_DIRECTORY);
	if (fds[ON_FILE] < 0 || fds[ON_SOCK] < 0 || fds[ON_DIR] < 0 ||
	    bind(fds[ON_LISTENER], (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(fds[ON_LISTENER], 1)) {
		perror("op-paths");
		return 1;
	}
	uname(&u);
	printf("OPPATH kernel %s backend %s\n", u.release, cio_backend(loop));
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		const char *p = cio_op_path(loop, ops[i].op, fds[ops[i].on]);

		printf("OPPATH %s %s\n", ops[i].name, p ? p : "(none)");
	}
	cio_loop_free(loop);
	for (int i = ON_FILE; i <= ON_DIR; i++)
		close(fds[i]);
	return 0;
}
