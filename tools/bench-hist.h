/* SPDX-License-Identifier: MIT */
/*
 * cio-bench's latency histogram, in a header of its own so that
 * tests/test-hist.c can check it against known inputs.
 *
 * Log-linear: values below HIST_SUB ns get a bucket each; above, each power
 * of two is cut into HIST_SUB equal buckets, so a bucket is at most ~3% of
 * its value wide. A fixed array inside the run's struct: recording is an
 * increment, no allocation.
 */
#ifndef CIO_BENCH_HIST_H
#define CIO_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 5u
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_BUCKETS  ((64u - HIST_SUB_BITS + 1u) * HIST_SUB)

struct hist {
	uint64_t n;
	uint64_t max;
	uint64_t count[HIST_BUCKETS];
};

static inline unsigned hist_index(uint64_t v)
{
	unsigned shift;

	if (v < HIST_SUB)
		return (unsigned)v;
	shift = 63u - (unsigned)__builtin_clzll(v) - HIST_SUB_BITS;
	return (shift + 1u) * HIST_SUB + (unsigned)((v >> shift) & (HIST_SUB - 1u));
}

/* The width of the bucket that holds v: the error bound of a quantile. */
static inline uint64_t hist_bucket_width(uint64_t v)
{
	unsigned i = hist_index(v);

	return i < HIST_SUB ? 1 : 1ull << (i / HIST_SUB - 1u);
}

static inline void hist_add(struct hist *h, uint64_t v)
{
	h->count[hist_index(v)]++;
	h->n++;
	if (v > h->max)
		h->max = v;
}

/* The value at quantile q (0..1): the middle of its bucket, but never
 * above the largest value seen (the top bucket's middle can be), so that
 * p50 <= p99 <= p99.9 <= max always holds. */
static inline double hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0;
	double mid;

	if (!h->n)
		return 0;
	rank = (uint64_t)(q * (double)h->n);
	if (rank >= h->n)
		rank = h->n - 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		unsigned shift;

		seen += h->count[i];
		if (seen <= rank)
			continue;
		if (i < HIST_SUB)
			return i;
		shift = i / HIST_SUB - 1u;
		mid = (double)((uint64_t)(HIST_SUB + i % HIST_SUB) << shift) +
		      (double)(1ull << shift) / 2;
		return mid < (double)h->max ? mid : (double)h->max;
	}
	return 0;
}

#endif
