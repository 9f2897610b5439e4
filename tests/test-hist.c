/* SPDX-License-Identifier: MIT */
/*
 * cio-bench's latency histogram (tools/bench-hist.h) against inputs whose
 * percentiles are known: each quantile must land within one bucket width
 * of the true value, the maximum must be exact, and p50 <= p99 <= p99.9
 * <= max must hold even when all samples share one bucket.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/bench-hist.h"

static int failures;

static void expect_near(const char *what, double got, double want, double tol)
{
	if (got < want - tol || got > want + tol) {
		printf("FAIL: %s: %.1f, want %.1f +- %.1f\n", what, got, want, tol);
		failures++;
	} else {
		printf("ok: %s: %.1f (want %.1f +- %.1f)\n", what, got, want, tol);
	}
}

static void expect_ordered(const char *what, const struct hist *h)
{
	double p50 = hist_quantile(h, 0.50), p99 = hist_quantile(h, 0.99);
	double p999 = hist_quantile(h, 0.999), max = (double)h->max;

	if (!(p50 <= p99 && p99 <= p999 && p999 <= max)) {
		printf("FAIL: %s: p50 %.1f p99 %.1f p99.9 %.1f max %.1f out of order\n",
		       what, p50, p99, p999, max);
		failures++;
	} else {
		printf("ok: %s: p50 %.1f <= p99 %.1f <= p99.9 %.1f <= max %.1f\n",
		       what, p50, p99, p999, max);
	}
}

int main(void)
{
	static struct hist h;   /* 15 KiB: not on the stack */

	/* 1..1000 us, one sample each, in ns. */
	for (uint64_t us = 1; us <= 1000; us++)
		hist_add(&h, us * 1000);
	if (h.n != 1000) {
		printf("FAIL: n %llu, want 1000\n", (unsigned long long)h.n);
		failures++;
	}
	expect_near("uniform 1..1000 us: p50", hist_quantile(&h, 0.50),
		    500e3, (double)hist_bucket_width(500e3));
	expect_near("uniform 1..1000 us: p99", hist_quantile(&h, 0.99),
		    990e3, (double)hist_bucket_width(990e3));
	expect_near("uniform 1..1000 us: p99.9", hist_quantile(&h, 0.999),
		    999e3, (double)hist_bucket_width(999e3));
	expect_near("uniform 1..1000 us: max", (double)h.max, 1000e3, 0);
	expect_ordered("uniform 1..1000 us", &h);

	/* 999 fast samples and one slow: p50 and p99 see the fast ones, max
	 * the slow one. */
	memset(&h, 0, sizeof(h));
	for (int i = 0; i < 999; i++)
		hist_add(&h, 2000);
	hist_add(&h, 5000000);
	expect_near("one outlier: p99", hist_quantile(&h, 0.99), 2000,
		    (double)hist_bucket_width(2000));
	expect_near("one outlier: max", (double)h.max, 5000000, 0);

	/* Every sample the same value at the bottom of its bucket: the
	 * bucket's middle lies above it, yet no percentile may exceed max. */
	memset(&h, 0, sizeof(h));
	for (int i = 0; i < 100; i++)
		hist_add(&h, 1024);
	expect_ordered("one value (1024 ns)", &h);

	/* Exact below HIST_SUB, and an empty histogram reads 0. */
	memset(&h, 0, sizeof(h));
	for (uint64_t v = 0; v < HIST_SUB; v++)
		hist_add(&h, v);
	expect_near("small values: p50", hist_quantile(&h, 0.5), HIST_SUB / 2, 0);
	memset(&h, 0, sizeof(h));
	expect_near("empty: p99", hist_quantile(&h, 0.99), 0, 0);

	/* The largest values keep to the array. */
	hist_add(&h, UINT64_MAX);
	if (hist_index(UINT64_MAX) >= HIST_BUCKETS) {
		printf("FAIL: hist_index(UINT64_MAX) %u is past the array\n",
		       hist_index(UINT64_MAX));
		failures++;
	}
	if (failures)
		return 1;
	printf("PASS: histogram\n");
	return 0;
}
