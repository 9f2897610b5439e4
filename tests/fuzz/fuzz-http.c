/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for cio-httpd's request parser (tools/http-parse.c).
 * Built by `make fuzz` with clang; run briefly by tests/test-fuzz-http.sh.
 *
 * Besides "no crash, no out-of-bounds read" (the sanitizers' part), it
 * checks what the server relies on: a parsed head lies inside the input,
 * a decoded path never holds "..", a NUL or a leading '/', a resolved
 * range lies inside the file, and a date read back equals the one written.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static void check_path(const char *p, int n)
{
	check(strlen(p) == (size_t)n);
	check(n == 0 || (p[0] != '/' && p[n - 1] != '/'));
	for (const char *s = p; *s; ) {
		const char *e = strchr(s, '/');
		size_t len = e ? (size_t)(e - s) : strlen(s);

		check(len > 0);
		check(!(len == 1 && s[0] == '.'));
		check(!(len == 2 && s[0] == '.' && s[1] == '.'));
		s += len + (e != NULL);
	}
}

static void check_ranges(const struct http_request *req)
{
	static const uint64_t sizes[] = { 0, 1, 1023, 1024, 1u << 20, UINT64_MAX / 2 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t off = 0, len = 0;
		int st = http_range_resolve(req, sizes[i], 784111777, &off, &len);

		check(st == 200 || st == 206 || st == 416);
		if (st == 206)
			check(len > 0 && off < sizes[i] && len <= sizes[i] - off);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct http_request req;
	char path[4096], date[32];
	int64_t t;
	bool dir;
	int n;

	n = http_parse_request(buf, size, &req);
	check(n == 0 || n == -400 || n == -414 || n == -431 || n == -505 || n > 0);
	if (n > 0) {
		check((size_t)n == req.head_len && (size_t)n <= size && n <= HTTP_MAX_HEAD);
		check(req.target >= buf && req.target + req.target_len <= buf + n);
		check(req.method >= HTTP_M_GET && req.method <= HTTP_M_OTHER);
		n = http_decode_path(req.target, req.target_len, path, sizeof(path), &dir);
		check(n >= 0 || n == -400 || n == -403 || n == -414);
		if (n >= 0)
			check_path(path, n);
		check_ranges(&req);
	}
	/* The input as a target and as a date too. */
	n = http_decode_path(buf, size, path, sizeof(path), &dir);
	if (n >= 0)
		check_path(path, n);
	t = http_parse_date(buf, size);
	if (t >= 0 && t < 253402300800) {    /* up to year 9999 */
		date[http_format_date(t, date)] = '\0';
		/* a leap second (:60) reads as the next second */
		check(http_parse_date(date, strlen(date)) == t);
	}
	http_content_type(buf, size);
	return 0;
}
