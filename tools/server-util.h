/* SPDX-License-Identifier: MIT */
/*
 * What cio-httpd and cio-ftpd share outside their protocols: reading
 * their command-line numbers and addresses, and making a listener.
 */
#ifndef SERVER_UTIL_H
#define SERVER_UTIL_H

#include <stdint.h>
#include <sys/socket.h>

/* A count in 1..max into *out: 0, or -1 for anything else. */
int srv_parse_count(const char *s, unsigned max, unsigned *out);
/* Seconds (fractions allowed, above 0, at most a year) into *ns: 0 or -1. */
int srv_parse_seconds(const char *s, uint64_t *ns);
/* "ADDR:PORT" or "[ADDR6]:PORT" into *ss and *len: 0 or -1. */
int srv_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len);
/* A non-blocking TCP listener on *ss with SO_REUSEPORT (one per loop
 * thread) and TCP_NODELAY (accepted sockets inherit it: replies are
 * whole, so Nagle could only delay the last segment): its fd or -errno. */
int srv_listener(const struct sockaddr_storage *ss, socklen_t len);

#endif
