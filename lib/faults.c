/* SPDX-License-Identifier: MIT */
/*
 * Fault injection, for the caller's tests and ours: CIO_FAULTS holds
 * comma-separated settings, read when a loop is created:
 *
 *   eio=P        a transfer or fsync fails with -EIO instead of running
 *   short=P      a read, write, recv, send, sendfile or copy_file_range
 *                moves fewer bytes
 *   eagain=P     an operation meets a transient -EAGAIN; the library
 *                retries it on the next pass, the caller never sees it
 *   delay_us=A-B an operation starts A to B microseconds late
 *   delay=P      ... with this probability (default 1 when delay_us is set)
 *   seed=N       the random sequence (default 1), the same on every run
 *
 * P is a probability from 0 to 1. Faults are decided where a request (or
 * a CIO_ALL step) starts, in the core, so every backend gets the same.
 * They are truthful: a -EIO request did nothing, a short one asked the
 * kernel for less, so no byte is reported that did not move or moves
 * that is not reported.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "cio-internal.h"

static uint32_t prob(const char *v)
{
	double p = strtod(v, NULL);

	if (!(p > 0))
		return 0;
	if (p >= 1)
		return UINT32_MAX;
	return (uint32_t)(p * 4294967296.0);
}

void cio__faults_init(struct cio_loop *loop)
{
	struct cio__faults *f = &loop->faults;
	const char *env = getenv("CIO_FAULTS");
	bool delay_rate = false;

	memset(f, 0, sizeof(*f));
	f->rng = 1;
	if (!env || !*env)
		return;
	while (*env) {
		size_t len = strcspn(env, ",");
		char item[64];
		char *eq;

		snprintf(item, sizeof(item), "%.*s", (int)len, env);
		eq = strchr(item, '=');
		if (eq) {
			*eq++ = 0;
			if (!strcmp(item, "eio"))
				f->p_eio = prob(eq);
			else if (!strcmp(item, "short"))
				f->p_short = prob(eq);
			else if (!strcmp(item, "eagain"))
				f->p_eagain = prob(eq);
			else if (!strcmp(item, "delay")) {
				f->p_delay = prob(eq);
				delay_rate = true;
			} else if (!strcmp(item, "delay_us")) {
				unsigned a = 0, b = 0;

				if (sscanf(eq, "%u-%u", &a, &b) == 2 && a <= b) {
					f->delay_min = a;
					f->delay_max = b;
				} else if (sscanf(eq, "%u", &a) == 1) {
					f->delay_min = f->delay_max = a;
				}
			} else if (!strcmp(item, "seed")) {
				f->rng = strtoull(eq, NULL, 0) * 0x9e3779b97f4a7c15ull + 1;
			}
		}
		env += len;
		if (*env == ',')
			env++;
	}
	if (f->delay_max && !delay_rate)
		f->p_delay = UINT32_MAX;
	if (!f->delay_max)
		f->p_delay = 0;
	f->on = f->p_eio || f->p_short || f->p_eagain || f->p_delay;
}

/* xorshift64*: cheap, and the same sequence for the same seed. */
static uint64_t rnd(struct cio__faults *f)
{
	f->rng ^= f->rng >> 12;
	f->rng ^= f->rng << 25;
	f->rng ^= f->rng >> 27;
	return f->rng * 0x2545f4914f6cdd1dull;
}

static bool hit(struct cio__faults *f, uint32_t p)
{
	return p && (uint32_t)(rnd(f) >> 32) < p;
}

static bool eio_op(int op)
{
	return cio__op_has(op, OPF_XFER | OPF_WHOLE) || op == CIO_OP_FSYNC;
}

/* What a short fault lets this step ask for: 1 to len - 1 bytes of the
 * step's len; 0 where it cannot cut (a vector, a step of 0 or 1 byte). */
static uint32_t cut(struct cio__faults *f, const cio_req *req)
{
	struct cio__step st;

	switch (P((cio_req *)req)->op) {
	case CIO_OP_READ:
	case CIO_OP_WRITE:
	case CIO_OP_RECV:
	case CIO_OP_SEND:
	case CIO_OP_SENDFILE:
	case CIO_OP_COPY_FILE_RANGE:
		break;
	default:
		return 0;
	}
	cio__step(req, &st);
	if (st.vec || st.len < 2)
		return 0;
	return (uint32_t)(1 + rnd(f) % (st.len - 1));
}

int cio__fault(struct cio__faults *f, const cio_req *req, uint32_t *arg)
{
	int op = P((cio_req *)req)->op;

	if (op == CIO_OP_TIMER)
		return CIO__FAULT_NONE;
	if (eio_op(op) && hit(f, f->p_eio))
		return CIO__FAULT_EIO;
	if (hit(f, f->p_eagain) || hit(f, f->p_delay)) {
		*arg = 0;
		if (f->delay_max)
			*arg = f->delay_min + (uint32_t)(rnd(f) % (f->delay_max - f->delay_min + 1));
		return CIO__FAULT_HOLD;
	}
	if (hit(f, f->p_short) && (*arg = cut(f, req)) != 0)
		return CIO__FAULT_SHORT;
	return CIO__FAULT_NONE;
}
