/* SPDX-License-Identifier: MIT */
/*
 * The HTTP/1.x request parser of cio-httpd, kept apart from the server so
 * that a fuzzer can drive it (tests/fuzz/fuzz-http.c). It does no I/O and
 * no allocation: it reads a buffer and points into it.
 */
#ifndef CIO_HTTP_PARSE_H
#define CIO_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A request head (request line and header fields) longer than this is
 * refused with 431 (or 414 when the request line alone is too long). */
#define HTTP_MAX_HEAD    8192
/* More header fields than this: 431. */
#define HTTP_MAX_FIELDS  64

enum http_method {
	HTTP_M_GET = 1,
	HTTP_M_HEAD,
	HTTP_M_OTHER,   /* a well-formed method we do not serve: 405 */
};

enum http_range_kind {
	HTTP_RANGE_NONE = 0,  /* no Range field, or one we ignore */
	HTTP_RANGE_FROM,      /* bytes=first-last or bytes=first- */
	HTTP_RANGE_SUFFIX,    /* bytes=-n: the last n bytes */
};

struct http_request {
	int         method;       /* enum http_method */
	int         minor;        /* HTTP/1.minor: 0 or 1 (1 for any 1.x above) */
	const char *method_str;   /* points into the buffer */
	size_t      method_len;
	const char *target;       /* the request target as sent */
	size_t      target_len;
	bool        keep_alive;   /* by version and Connection */
	bool        has_body;     /* Content-Length > 0 or Transfer-Encoding */
	bool        has_host;
	int64_t     if_modified_since;  /* seconds since the epoch; -1: none */
	bool        has_if_range;
	int64_t     if_range;     /* the If-Range date; -1 if not a date */
	int         range_kind;   /* enum http_range_kind */
	uint64_t    range_first;  /* FROM: first byte; SUFFIX: the length */
	uint64_t    range_last;   /* FROM: last byte, UINT64_MAX if open */
	size_t      head_len;     /* bytes of the head, blank line included */
};

/* Parse the head at the start of buf[0..len). Returns the head's length
 * (> 0) when it is complete and valid, 0 when more bytes are needed, or
 * -status (-400, -414, -431, -505) for a request to refuse. Empty lines
 * before the request line are skipped, as RFC 9112 allows. */
int http_parse_request(const char *buf, size_t len, struct http_request *req);

/* Turn a request target into a path relative to the served root:
 * percent-decoded, query and fragment cut off, empty and "." segments
 * dropped, no leading '/'; the root itself is "". Writes at most outsz
 * bytes, NUL included. Sets *dir when the target's path ends with '/'.
 * Returns the path's length or -status: -400 for a bad target, a bad
 * escape or a NUL; -403 for a ".." segment; -414 when it does not fit. */
int http_decode_path(const char *target, size_t len, char *out, size_t outsz,
		     bool *dir);

/* Apply req's Range to a file of size bytes and mtime seconds. Returns 200
 * (send it all), 206 (send *len bytes from *off) or 416. */
int http_range_resolve(const struct http_request *req, uint64_t size,
		       int64_t mtime, uint64_t *off, uint64_t *len);

/* Parse an HTTP date (IMF-fixdate, RFC 850 or asctime form). Returns
 * seconds since the epoch, or -1 if s is not one. */
int64_t http_parse_date(const char *s, size_t len);

/* Format t as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") into out,
 * which holds at least 30 bytes. Returns the length, 29. */
size_t http_format_date(int64_t t, char *out);

/* The Content-Type for a file name, by its extension. Never NULL. */
const char *http_content_type(const char *name, size_t len);

#endif /* CIO_HTTP_PARSE_H */
