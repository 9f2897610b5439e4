/* SPDX-License-Identifier: MIT */
/*
 * The operation table, made from ops.def, and what is read from it by
 * name: CIO_DEBUG_NO_OPS.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cio-internal.h"

const struct cio__opinfo cio__ops[CIO_OP__COUNT] = {
#define X(op, nm, cl, opcode, pr) \
	[CIO_OP_##op] = { .name = nm, .cls = CIO__CLASS_##cl, \
			  .ring_opcode = (opcode), .props = (pr) },
#include "ops.def"
#undef X
};

/* Every CIO_OP_* code has its row. */
#define X(op, nm, cl, opcode, pr) + 1
_Static_assert(0
#include "ops.def"
	       == CIO_OP__COUNT, "ops.def must have a row for every CIO_OP_*");
#undef X

const char *cio__op_name(int op)
{
	return (op >= 0 && op < CIO_OP__COUNT) ? cio__ops[op].name : NULL;
}

/* CIO_DEBUG_NO_OPS=openat,statx (or "all"): a test knob that makes the
 * backend treat those operations as missing, to prove the pool fallback. */
bool cio__debug_no_op(int op)
{
	const char *env = getenv("CIO_DEBUG_NO_OPS");
	const char *name = cio__op_name(op);
	size_t n;

	if (!env || !name)
		return false;
	n = strlen(name);
	while (*env) {
		size_t len = strcspn(env, ",");

		if ((len == 3 && !strncmp(env, "all", 3)) ||
		    (len == n && !strncmp(env, name, n)))
			return true;
		env += len;
		if (*env == ',')
			env++;
	}
	return false;
}
