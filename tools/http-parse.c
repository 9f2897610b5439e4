/* SPDX-License-Identifier: MIT */
/*
 * HTTP/1.x request heads, targets, ranges and dates for cio-httpd
 * (RFC 9110, RFC 9112). Strict where leniency has been a source of
 * request smuggling (bare CR, obs-fold, conflicting Content-Length),
 * lenient where the RFC asks (empty lines before the request line, LF
 * without CR). Every function bounds its reads by the length it is given:
 * the buffer need not be NUL-terminated.
 */
#include <string.h>

#include "http-parse.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* tchar of RFC 9110 5.6.2: the characters of a token. */
static bool is_tchar(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A field value may hold visible characters, obs-text, SP and HTAB. */
static bool is_value_char(char c)
{
	unsigned char u = (unsigned char)c;

	return u == '\t' || u >= 0x20 ? u != 0x7f : false;
}

static bool eq_nocase(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);

	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (lower(a[i]) != b[i])
			return false;
	return true;
}

/* Digits only into *v; false on anything else, nothing, or overflow. */
static bool parse_u64(const char *s, size_t len, uint64_t *v)
{
	uint64_t n = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(s[i]) || n > (UINT64_MAX - 9) / 10)
			return false;
		n = n * 10 + (uint64_t)(s[i] - '0');
	}
	*v = n;
	return true;
}

/* The offset just past the blank line that ends the head, or 0 if it has
 * not arrived yet. */
static size_t find_head_end(const char *buf, size_t from, size_t len)
{
	const char *p = buf + from, *end = buf + len;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		p++;
		if (p < end && *p == '\n')
			return (size_t)(p + 1 - buf);
		if (p + 1 < end && p[0] == '\r' && p[1] == '\n')
			return (size_t)(p + 2 - buf);
	}
	return 0;
}

/* The line at *pos (which ends before limit): [*start, *stop) without its
 * CR LF or LF, and *pos moved past it. Returns false on a bare CR. */
static bool next_line(const char *buf, size_t *pos, size_t limit,
		      size_t *start, size_t *stop)
{
	const char *nl = memchr(buf + *pos, '\n', limit - *pos);
	size_t e = nl ? (size_t)(nl - buf) : limit;

	*start = *pos;
	*pos = nl ? e + 1 : limit;
	if (e > *start && buf[e - 1] == '\r')
		e--;
	*stop = e;
	return memchr(buf + *start, '\r', e - *start) == NULL;
}

/* "HTTP/1.1" and kin: the minor version, or -status. */
static int parse_version(const char *s, size_t len)
{
	if (len != 8 || memcmp(s, "HTTP/", 5) != 0 || !is_digit(s[5]) ||
	    s[6] != '.' || !is_digit(s[7]))
		return -400;
	if (s[5] != '1')
		return -505;
	return s[7] == '0' ? 0 : 1;
}

static int parse_request_line(const char *s, size_t len, struct http_request *req)
{
	const char *sp1 = memchr(s, ' ', len), *sp2;
	size_t tlen;
	int minor;

	if (!sp1 || sp1 == s)
		return -400;
	for (const char *c = s; c < sp1; c++)
		if (!is_tchar(*c))
			return -400;
	req->method_str = s;
	req->method_len = (size_t)(sp1 - s);
	if (req->method_len == 3 && memcmp(s, "GET", 3) == 0)
		req->method = HTTP_M_GET;
	else if (req->method_len == 4 && memcmp(s, "HEAD", 4) == 0)
		req->method = HTTP_M_HEAD;
	else
		req->method = HTTP_M_OTHER;

	sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - s));
	if (!sp2)
		return -400;   /* HTTP/0.9 is not served */
	tlen = (size_t)(sp2 - (sp1 + 1));
	if (tlen == 0)
		return -400;
	for (const char *c = sp1 + 1; c < sp2; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
			return -400;
	req->target = sp1 + 1;
	req->target_len = tlen;

	minor = parse_version(sp2 + 1, len - (size_t)(sp2 + 1 - s));
	if (minor < 0)
		return minor;
	req->minor = minor;
	return 0;
}

/* Range: bytes=first-last | bytes=first- | bytes=-suffix. A field we do
 * not take (other units, several ranges, bad syntax) is ignored, as RFC
 * 9110 14.2 allows: the whole file is sent. */
static void parse_range(const char *v, size_t len, struct http_request *req)
{
	const char *dash;
	uint64_t a, b;

	req->range_kind = HTTP_RANGE_NONE;
	if (len < 6 || !eq_nocase(v, 6, "bytes=") || memchr(v, ',', len))
		return;
	v += 6;
	len -= 6;
	dash = memchr(v, '-', len);
	if (!dash)
		return;
	if (dash == v) {
		if (!parse_u64(v + 1, len - 1, &a))
			return;
		req->range_kind = HTTP_RANGE_SUFFIX;
		req->range_first = a;
		return;
	}
	if (!parse_u64(v, (size_t)(dash - v), &a))
		return;
	if (dash + 1 == v + len) {
		b = UINT64_MAX;
	} else if (!parse_u64(dash + 1, len - (size_t)(dash + 1 - v), &b) || b < a) {
		return;
	}
	req->range_kind = HTTP_RANGE_FROM;
	req->range_first = a;
	req->range_last = b;
}

/* Connection: a comma-separated list of tokens. */
static void parse_connection(const char *v, size_t len, bool *close, bool *keep)
{
	size_t i = 0;

	while (i < len) {
		size_t s, e;

		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < len && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (eq_nocase(v + s, e - s, "close"))
			*close = true;
		else if (eq_nocase(v + s, e - s, "keep-alive"))
			*keep = true;
	}
}

struct field_state {
	bool     close, keep;
	bool     have_cl;
	uint64_t cl;
};

static int parse_field(const char *s, size_t len, struct http_request *req,
		       struct field_state *st)
{
	const char *colon = memchr(s, ':', len), *v, *ve;
	size_t nlen;
	uint64_t n;

	if (!colon || colon == s)
		return -400;
	nlen = (size_t)(colon - s);
	for (size_t i = 0; i < nlen; i++)
		if (!is_tchar(s[i]))
			return -400;   /* also a space before the colon */
	v = colon + 1;
	ve = s + len;
	for (const char *c = v; c < ve; c++)
		if (!is_value_char(*c))
			return -400;
	while (v < ve && (*v == ' ' || *v == '\t'))
		v++;
	while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
		ve--;

	if (eq_nocase(s, nlen, "host")) {
		if (req->has_host)
			return -400;
		req->has_host = true;
	} else if (eq_nocase(s, nlen, "connection")) {
		parse_connection(v, (size_t)(ve - v), &st->close, &st->keep);
	} else if (eq_nocase(s, nlen, "content-length")) {
		if (!parse_u64(v, (size_t)(ve - v), &n) || (st->have_cl && n != st->cl))
			return -400;
		st->have_cl = true;
		st->cl = n;
		if (n > 0)
			req->has_body = true;
	} else if (eq_nocase(s, nlen, "transfer-encoding")) {
		req->has_body = true;
	} else if (eq_nocase(s, nlen, "if-modified-since")) {
		req->if_modified_since = http_parse_date(v, (size_t)(ve - v));
	} else if (eq_nocase(s, nlen, "range")) {
		parse_range(v, (size_t)(ve - v), req);
	} else if (eq_nocase(s, nlen, "if-range")) {
		req->has_if_range = true;
		req->if_range = http_parse_date(v, (size_t)(ve - v));
	}
	return 0;
}

int http_parse_request(const char *buf, size_t len, struct http_request *req)
{
	struct field_state st = { 0 };
	size_t pos = 0, end, s, e, nfields = 0;
	int ret;

	size_t limit = len < HTTP_MAX_HEAD ? len : HTTP_MAX_HEAD;

	while (pos < limit && (buf[pos] == '\r' || buf[pos] == '\n'))
		pos++;
	/* Bytes past the limit may be the next pipelined request: only the
	 * first HTTP_MAX_HEAD bytes can hold this head. */
	end = find_head_end(buf, pos, limit);
	if (end == 0) {
		if (len < HTTP_MAX_HEAD)
			return 0;
		return memchr(buf + pos, '\n', limit - pos) ? -431 : -414;
	}

	memset(req, 0, sizeof(*req));
	req->if_modified_since = -1;
	req->if_range = -1;
	if (!next_line(buf, &pos, end, &s, &e))
		return -400;
	ret = parse_request_line(buf + s, e - s, req);
	if (ret < 0)
		return ret;
	for (;;) {
		if (!next_line(buf, &pos, end, &s, &e))
			return -400;
		if (s == e)
			break;          /* the blank line */
		if (buf[s] == ' ' || buf[s] == '\t')
			return -400;    /* obs-fold: RFC 9112 5.2 lets us refuse it */
		if (++nfields > HTTP_MAX_FIELDS)
			return -431;
		ret = parse_field(buf + s, e - s, req, &st);
		if (ret < 0)
			return ret;
	}
	if (req->minor == 1 && !req->has_host)
		return -400;    /* RFC 9112 3.2 */
	req->keep_alive = !st.close && (req->minor == 1 || st.keep);
	req->head_len = end;
	return (int)end;
}

static int hex_value(char c)
{
	if (is_digit(c))
		return c - '0';
	c = lower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Keep the path's segments but drop empty and "." ones; refuse "..".
 * Works in place: the write index never passes the read index. */
static int normalize(char *p, size_t len)
{
	size_t r = 0, w = 0;

	while (r < len) {
		size_t s, n;

		while (r < len && p[r] == '/')
			r++;
		s = r;
		while (r < len && p[r] != '/')
			r++;
		n = r - s;
		if (n == 0 || (n == 1 && p[s] == '.'))
			continue;
		if (n == 2 && p[s] == '.' && p[s + 1] == '.')
			return -403;
		if (w > 0)
			p[w++] = '/';
		memmove(p + w, p + s, n);
		w += n;
	}
	p[w] = '\0';
	return (int)w;
}

int http_decode_path(const char *target, size_t len, char *out, size_t outsz,
		     bool *dir)
{
	size_t i = 0, end, o = 0;

	/* absolute-form (RFC 9112 3.2.2): keep the path, ignore the authority */
	if (len >= 7 && (eq_nocase(target, 7, "http://") ||
			 (len >= 8 && eq_nocase(target, 8, "https://")))) {
		i = target[4] == ':' ? 7 : 8;
		while (i < len && target[i] != '/' && target[i] != '?' && target[i] != '#')
			i++;
		if (i == len || target[i] != '/')
			return -400;
	}
	if (i >= len || target[i] != '/')
		return -400;
	end = i;
	while (end < len && target[end] != '?' && target[end] != '#')
		end++;
	while (i < end) {
		char c = target[i++];

		if (c == '%') {
			int hi, lo;

			if (end - i < 2)
				return -400;
			hi = hex_value(target[i]);
			lo = hex_value(target[i + 1]);
			if (hi < 0 || lo < 0)
				return -400;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (c == '\0')
			return -400;
		if (o + 1 >= outsz)
			return -414;
		out[o++] = c;
	}
	*dir = o > 0 && out[o - 1] == '/';
	return normalize(out, o);
}

int http_range_resolve(const struct http_request *req, uint64_t size,
		       int64_t mtime, uint64_t *off, uint64_t *len)
{
	uint64_t last;

	if (req->range_kind == HTTP_RANGE_NONE)
		return 200;
	/* If-Range with a date: the range holds only if the file is the one
	 * the client has (an exact Last-Modified match); an entity tag never
	 * matches, as we send none. */
	if (req->has_if_range && (req->if_range < 0 || req->if_range != mtime))
		return 200;
	if (req->range_kind == HTTP_RANGE_SUFFIX) {
		if (req->range_first == 0 || size == 0)
			return 416;
		*len = req->range_first < size ? req->range_first : size;
		*off = size - *len;
		return 206;
	}
	if (req->range_first >= size)
		return 416;
	last = req->range_last < size - 1 ? req->range_last : size - 1;
	*off = req->range_first;
	*len = last - req->range_first + 1;
	return 206;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar, by
 * counting in 400-year eras that start on March 1st (so the leap day is
 * the last of its year). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static const char months[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};
static const char wdays[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };

/* A cursor over a date string. */
struct scan {
	const char *s;
	size_t      i, len;
	bool        ok;
};

static void expect(struct scan *sc, char c)
{
	if (sc->i < sc->len && sc->s[sc->i] == c)
		sc->i++;
	else
		sc->ok = false;
}

static unsigned digits(struct scan *sc, unsigned n)
{
	unsigned v = 0;

	for (unsigned k = 0; k < n; k++) {
		if (sc->i >= sc->len || !is_digit(sc->s[sc->i])) {
			sc->ok = false;
			return 0;
		}
		v = v * 10 + (unsigned)(sc->s[sc->i++] - '0');
	}
	return v;
}

static unsigned month(struct scan *sc)
{
	if (sc->len - sc->i >= 3)
		for (unsigned m = 0; m < 12; m++)
			if (memcmp(sc->s + sc->i, months[m], 3) == 0) {
				sc->i += 3;
				return m + 1;
			}
	sc->ok = false;
	return 1;
}

static void clock_time(struct scan *sc, unsigned *hh, unsigned *mm, unsigned *ss)
{
	*hh = digits(sc, 2);
	expect(sc, ':');
	*mm = digits(sc, 2);
	expect(sc, ':');
	*ss = digits(sc, 2);
}

static void gmt(struct scan *sc)
{
	expect(sc, ' ');
	expect(sc, 'G');
	expect(sc, 'M');
	expect(sc, 'T');
}

static bool leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int64_t http_parse_date(const char *s, size_t len)
{
	static const unsigned mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	struct scan sc = { .s = s, .len = len, .ok = true };
	unsigned day, mon, hh, mm, ss;
	int64_t year;

	while (sc.i < len && ((s[sc.i] >= 'a' && s[sc.i] <= 'z') ||
			      (s[sc.i] >= 'A' && s[sc.i] <= 'Z')))
		sc.i++;
	if (sc.i < 3 || sc.i >= len)
		return -1;
	if (s[sc.i] == ',') {
		sc.i++;
		expect(&sc, ' ');
		day = digits(&sc, 2);
		if (sc.i < len && s[sc.i] == '-') {         /* RFC 850 */
			sc.i++;
			mon = month(&sc);
			expect(&sc, '-');
			year = digits(&sc, 2);
			year += year < 70 ? 2000 : 1900;
		} else {                                    /* IMF-fixdate */
			expect(&sc, ' ');
			mon = month(&sc);
			expect(&sc, ' ');
			year = digits(&sc, 4);
		}
		expect(&sc, ' ');
		clock_time(&sc, &hh, &mm, &ss);
		gmt(&sc);
	} else {                                            /* asctime */
		expect(&sc, ' ');
		mon = month(&sc);
		expect(&sc, ' ');
		if (sc.i < len && s[sc.i] == ' ') {
			sc.i++;
			day = digits(&sc, 1);
		} else {
			day = digits(&sc, 2);
		}
		expect(&sc, ' ');
		clock_time(&sc, &hh, &mm, &ss);
		expect(&sc, ' ');
		year = digits(&sc, 4);
	}
	if (!sc.ok || sc.i != len || year < 1970 || day < 1 || day > mdays[mon - 1] ||
	    (mon == 2 && day == 29 && !leap(year)) || hh > 23 || mm > 59 || ss > 60)
		return -1;
	return days_from_civil(year, mon, day) * 86400 +
	       (int64_t)(hh * 3600 + mm * 60 + ss);
}

static void put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
}

size_t http_format_date(int64_t t, char *out)
{
	int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
	int64_t secs = t - days * 86400, y;
	unsigned m, d;

	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		y = y < 0 ? 0 : 9999;   /* only a broken clock gets here */
	memcpy(out, wdays[(unsigned)(((days % 7) + 11) % 7)], 3);
	memcpy(out + 3, ", ", 2);
	put2(out + 5, d);
	out[7] = ' ';
	memcpy(out + 8, months[m - 1], 3);
	out[11] = ' ';
	put2(out + 12, (unsigned)(y / 100));
	put2(out + 14, (unsigned)(y % 100));
	out[16] = ' ';
	put2(out + 17, (unsigned)(secs / 3600));
	out[19] = ':';
	put2(out + 20, (unsigned)(secs / 60 % 60));
	out[22] = ':';
	put2(out + 23, (unsigned)(secs % 60));
	memcpy(out + 25, " GMT", 5);
	return 29;
}

static const struct {
	const char *ext;
	const char *type;
} types[] = {
	{ "html",  "text/html; charset=utf-8" },
	{ "htm",   "text/html; charset=utf-8" },
	{ "css",   "text/css; charset=utf-8" },
	{ "js",    "text/javascript; charset=utf-8" },
	{ "mjs",   "text/javascript; charset=utf-8" },
	{ "json",  "application/json" },
	{ "txt",   "text/plain; charset=utf-8" },
	{ "md",    "text/markdown; charset=utf-8" },
	{ "csv",   "text/csv; charset=utf-8" },
	{ "xml",   "application/xml" },
	{ "svg",   "image/svg+xml" },
	{ "png",   "image/png" },
	{ "jpg",   "image/jpeg" },
	{ "jpeg",  "image/jpeg" },
	{ "gif",   "image/gif" },
	{ "webp",  "image/webp" },
	{ "avif",  "image/avif" },
	{ "ico",   "image/vnd.microsoft.icon" },
	{ "pdf",   "application/pdf" },
	{ "wasm",  "application/wasm" },
	{ "woff",  "font/woff" },
	{ "woff2", "font/woff2" },
	{ "ttf",   "font/ttf" },
	{ "otf",   "font/otf" },
	{ "mp3",   "audio/mpeg" },
	{ "ogg",   "audio/ogg" },
	{ "mp4",   "video/mp4" },
	{ "webm",  "video/webm" },
	{ "zip",   "application/zip" },
	{ "gz",    "application/gzip" },
	{ "tar",   "application/x-tar" },
};

const char *http_content_type(const char *name, size_t len)
{
	size_t dot = len;

	while (dot > 0 && name[dot - 1] != '.' && name[dot - 1] != '/')
		dot--;
	if (dot > 1 && name[dot - 1] == '.' && name[dot - 2] != '/')
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (eq_nocase(name + dot, len - dot, types[i].ext))
				return types[i].type;
	return "application/octet-stream";
}
