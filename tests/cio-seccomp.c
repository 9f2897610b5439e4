/* SPDX-License-Identifier: MIT */
/*
 * cio-seccomp [--uring ERRNO] [--aio ERRNO] PROGRAM [ARGS...]
 *
 * Run PROGRAM with the kernel refusing io_uring (io_uring_setup, _enter and
 * _register, as Docker's default profile does) and/or Linux AIO (io_setup)
 * with the given errno (EPERM, ENOSYS), to prove libcio's automatic
 * fallback. Needs no privilege: PR_SET_NO_NEW_PRIVS, then a seccomp filter.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
# define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
# define ARCH AUDIT_ARCH_AARCH64
#else
# error "cio-seccomp: add this architecture's AUDIT_ARCH"
#endif

static int parse_errno(const char *s)
{
	if (!strcmp(s, "EPERM"))
		return EPERM;
	if (!strcmp(s, "ENOSYS"))
		return ENOSYS;
	fprintf(stderr, "cio-seccomp: unknown errno %s (EPERM or ENOSYS)\n", s);
	exit(2);
}

#define DENY(nr, err) \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
	BPF_STMT(BPF_RET | BPF_K, (err) ? SECCOMP_RET_ERRNO | (err) : SECCOMP_RET_ALLOW)

int main(int argc, char **argv)
{
	int uring = 0, aio = 0, i = 1;

	for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (!strcmp(argv[i], "--uring"))
			uring = parse_errno(argv[i + 1]);
		else if (!strcmp(argv[i], "--aio"))
			aio = parse_errno(argv[i + 1]);
		else
			break;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: cio-seccomp [--uring ERRNO] [--aio ERRNO] PROGRAM [ARGS...]\n");
		return 2;
	}

	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		DENY(__NR_io_uring_setup, uring),
		DENY(__NR_io_uring_enter, uring),
		DENY(__NR_io_uring_register, uring),
		DENY(__NR_io_setup, aio),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = sizeof(code) / sizeof(code[0]),
		.filter = code,
	};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
		perror("cio-seccomp: installing the filter");
		return 2;
	}
	execv(argv[i], argv + i);
	perror("cio-seccomp: exec");
	return 127;
}
