/* SPDX-License-Identifier: MIT */
/*
 * Fault injection, for the caller's tests and ours: CIO_FAULTS holds
 * comma-separated settings, read when a loop is created:
 *
 *   eio=P        a transfer or fsync fails with -EIO instead of running
 *   short=P      a read, write, recv, send or sendfile moves fewer bytes
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
				f->eio = prob(eq);
			else if (!strcmp(item, "short"))
				f->shrt = prob(eq);
			else if (!strcmp(item, "eagain"))
				f->eagain = prob(eq);
			else if (!strcmp(item, "delay")) {
				f->delay = prob(eq);
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
		f->delay = UINT32_MAX;
	if (!f->delay_max)
		f->delay = 0;
	f->on = f->eio || f->shrt || f->eagain || f->delay;
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

/* The length field a short fault may cut, or NULL. */
static uint64_t cut(struct cio__faults *f, cio_req *req)
{
	struct cio__priv *p = P(req);
	uint64_t len, keep;

	switch (p->op) {
	case CIO_OP_READ:
	case CIO_OP_WRITE:
		if (p->iflags & CIO__IF_VECSTEP)
			return 0;   /* veccnt is in use */
		len = p->a.rw.len;
		break;
	case CIO_OP_RECV:
	case CIO_OP_SEND:
		len = p->a.msg.len;
		break;
	case CIO_OP_SENDFILE:
		len = p->a.sf.len;
		break;
	default:
		return 0;
	}
	if (len < 2)
		return 0;
	keep = 1 + rnd(f) % (len - 1);
	switch (p->op) {
	case CIO_OP_READ:
	case CIO_OP_WRITE:
		p->a.rw.len = (uint32_t)keep;
		break;
	case CIO_OP_RECV:
	case CIO_OP_SEND:
		p->a.msg.len = keep;
		break;
	default:
		p->a.sf.len = keep;
		break;
	}
	return len - keep;
}

int cio__fault(struct cio_loop *loop, cio_req *req)
{
	struct cio__faults *f = &loop->faults;
	struct cio__priv *p = P(req);
	uint64_t withheld;

	if (p->op == CIO_OP_TIMER || (p->iflags & CIO__IF_SHORTENED))
		return CIO__FAULT_NONE;
	if (eio_op(p->op) && hit(f, f->eio)) {
		loop->stats.faults++;
		return CIO__FAULT_EIO;
	}
	if (hit(f, f->eagain) || hit(f, f->delay)) {
		uint32_t us = 0;

		if (f->delay_max)
			us = f->delay_min + (uint32_t)(rnd(f) % (f->delay_max - f->delay_min + 1));
		loop->stats.faults++;
		p->aux = (uint32_t)(cio__now_ns() / 1000u) + us;
		return CIO__FAULT_RETRY;
	}
	if (hit(f, f->shrt) && (withheld = cut(f, req)) != 0) {
		loop->stats.faults++;
		p->a.fault.withheld = (uint32_t)withheld;
		p->iflags |= CIO__IF_SHORTENED;
	}
	return CIO__FAULT_NONE;
}

/* The length a short fault cut off, given back before CIO_ALL or a chain
 * looks at what remains. */
void cio__fault_restore(cio_req *req)
{
	struct cio__priv *p = P(req);
	uint32_t w = p->a.fault.withheld;

	p->iflags &= ~CIO__IF_SHORTENED;
	p->a.fault.withheld = 0;
	switch (p->op) {
	case CIO_OP_READ:
	case CIO_OP_WRITE:
		p->a.rw.len += w;
		break;
	case CIO_OP_RECV:
	case CIO_OP_SEND:
		p->a.msg.len += w;
		break;
	case CIO_OP_SENDFILE:
		p->a.sf.len += w;
		break;
	}
}

static bool due(uint32_t ready_us, uint32_t now_us)
{
	return (int32_t)(now_us - ready_us) >= 0;
}

/* Start the requests whose retry or delay is due. */
void cio__faults_run(struct cio_loop *loop)
{
	struct cio__reqq keep = { 0 }, batch = loop->retryq;
	uint32_t now = (uint32_t)(cio__now_ns() / 1000u);
	cio_req *req;

	loop->retryq.head = loop->retryq.tail = NULL;
	while ((req = cio__q_pop(&batch))) {
		if (!due(P(req)->aux, now))
			cio__q_push(&keep, req);
		else
			cio__route_again(loop, req);
	}
	/* Put the rest back ahead of anything the routes just queued. */
	if (keep.head) {
		if (loop->retryq.head)
			P(keep.tail)->qnext = loop->retryq.head;
		else
			loop->retryq.tail = keep.tail;
		loop->retryq.head = keep.head;
	}
}

uint64_t cio__faults_wait_ns(const struct cio_loop *loop)
{
	uint32_t now = (uint32_t)(cio__now_ns() / 1000u);
	uint64_t best = UINT64_MAX;

	for (cio_req *r = loop->retryq.head; r; r = P(r)->qnext) {
		int32_t d = (int32_t)(P(r)->aux - now);

		if (d <= 0)
			return 0;
		if ((uint64_t)d * 1000u < best)
			best = (uint64_t)d * 1000u;
	}
	return best;
}
