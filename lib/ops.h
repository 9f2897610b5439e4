/* SPDX-License-Identifier: MIT */
/*
 * The operation table (ops.def) as C: per-operation names, classes, ring
 * opcodes and properties, and the predicates the core, the backends and the
 * stream engine ask. Adding an operation is a row in ops.def plus how it
 * runs (cio__exec in pool.c, prep in backend-uring.c).
 */
#ifndef CIO_OPS_H
#define CIO_OPS_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/io_uring.h>

#include "cio.h"

/* Opcodes newer than the liburing headers we build against. */
#define CIO__IORING_OP_FTRUNCATE 55   /* Linux 6.9 */

enum cio__class {
	CIO__CLASS_RW,
	CIO__CLASS_FILE,
	CIO__CLASS_PATH,
	CIO__CLASS_STREAM,
	CIO__CLASS_CORE,
};

/* Properties */
#define OPF_XFER  (1u << 0)  /* moves bytes: CIO_ALL applies */
#define OPF_OFF   (1u << 1)  /* takes a file offset (-1: the position) */
#define OPF_VEC   (1u << 2)  /* an iovec array */
#define OPF_RX    (1u << 3)  /* receives: readable is what it waits for */
#define OPF_OUT   (1u << 4)  /* waits for room to write (POLLOUT) */
#define OPF_NEWFD (1u << 5)  /* its result is a new fd */
#define OPF_NOFD  (1u << 6)  /* no fd of the caller's: cio_cancel_fd passes it */
#define OPF_MULTI (1u << 7)  /* may be CIO_MULTISHOT */
#define OPF_WHOLE (1u << 8)  /* a short result breaks a CIO_LINK chain, as
                                on io_uring (reads, writes, splices) */

struct cio__opinfo {
	const char *name;
	uint8_t     cls;
	int16_t     ring_opcode;  /* -1: none */
	uint16_t    props;
};

extern const struct cio__opinfo cio__ops[CIO_OP__COUNT];

static inline bool cio__op_has(int op, unsigned prop)
{
	return cio__ops[op].props & prop;
}

static inline int cio__op_class(int op)
{
	return cio__ops[op].cls;
}

#endif /* CIO_OPS_H */
