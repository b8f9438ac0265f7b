/* bus_addr: peer addresses for the cluster bus: the "ID@HOST:PORT,..." list syntax and the
 * loopback test behind the no-secret rule (see bus.h). Pure: no I/O, no name resolution. */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cluster/bus_int.h"

int bus_sockaddr_is_loopback(const struct sockaddr *sa) {
    assert(sa != NULL);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a)) {
            return 1;
        }
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return 0;
}

int bus_host_is_loopback(const char *host) {
    assert(host != NULL);
    if (strcasecmp(host, "localhost") == 0) {
        return 1;
    }
    struct sockaddr_in in4 = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, host, &in4.sin_addr) == 1) {
        return bus_sockaddr_is_loopback((struct sockaddr *)&in4);
    }
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    if (inet_pton(AF_INET6, host, &in6.sin6_addr) == 1) {
        return bus_sockaddr_is_loopback((struct sockaddr *)&in6);
    }
    return 0;
}

/* Parses a decimal number in [min, max] from the n bytes at s. */
static int parse_number(const char *s, size_t n, unsigned long min, unsigned long max,
                        unsigned long *out) {
    if (n == 0 || n > 10) {
        return -EINVAL;
    }
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -EINVAL;
        }
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v < min || v > max) {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

/* Parses one "ID@HOST:PORT" of n bytes at s. */
static int parse_one(const char *s, size_t n, bus_peer_addr_t *out, char *err, size_t err_len) {
    const char *at = memchr(s, '@', n);
    const char *colon = NULL;
    for (const char *p = s + n; p > s; p--) {
        if (p[-1] == ':') {
            colon = p - 1;
            break;
        }
    }
    unsigned long id = 0, port = 0;
    if (!at || !colon || colon < at || parse_number(s, (size_t)(at - s), 1, UINT32_MAX, &id) != 0 ||
        parse_number(colon + 1, (size_t)(s + n - colon - 1), 1, 65535, &port) != 0) {
        snprintf(err, err_len, "bad peer '%.*s': expected ID@HOST:PORT", (int)n, s);
        return -EINVAL;
    }
    const char *host = at + 1;
    size_t host_len = (size_t)(colon - host);
    if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
        host++;
        host_len -= 2;
    }
    if (host_len == 0 || host_len > BUS_HOST_MAX) {
        snprintf(err, err_len, "bad peer '%.*s': host is empty or too long", (int)n, s);
        return -EINVAL;
    }
    out->id = (uint32_t)id;
    out->port = (uint16_t)port;
    memcpy(out->host, host, host_len);
    out->host[host_len] = '\0';
    return 0;
}

int bus_peers_parse(const char *spec, bus_peer_addr_t *out, size_t max, size_t *count, char *err,
                    size_t err_len) {
    assert(spec != NULL && out != NULL);
    assert(count != NULL && err != NULL);
    size_t n = 0;
    const char *p = spec;
    size_t spec_len = strlen(spec);
    if (spec_len > 0 && spec[spec_len - 1] == ',') {
        snprintf(err, err_len, "bad peer list: it ends with a comma");
        return -EINVAL;
    }
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (n == max) {
            snprintf(err, err_len, "too many peers (at most %zu)", max);
            return -EINVAL;
        }
        if (parse_one(p, len, &out[n], err, err_len) != 0) {
            return -EINVAL;
        }
        for (size_t i = 0; i < n; i++) {
            if (out[i].id == out[n].id) {
                snprintf(err, err_len, "peer id %u appears twice", out[n].id);
                return -EINVAL;
            }
        }
        n++;
        p += len + (end ? 1 : 0);
    }
    *count = n;
    return 0;
}
