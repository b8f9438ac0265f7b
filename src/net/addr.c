/* net: address parsing and listening sockets (see addr.h). */
#include "net/addr.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Splits text into host and port; host may be empty. */
static int split_host_port(const char *text, char *host, size_t host_len, long *port) {
    const char *colon = strrchr(text, ':');
    const char *port_text = colon ? colon + 1 : text;
    size_t n = colon ? (size_t)(colon - text) : 0;
    if (n > 0 && text[0] == '[') {
        if (text[n - 1] != ']') {
            return -EINVAL;
        }
        text++;
        n -= 2;
    } else if (colon && memchr(text, ':', n)) {
        return -EINVAL; /* a bare IPv6 address needs brackets */
    }
    if (n >= host_len) {
        return -EINVAL;
    }
    memcpy(host, text, n);
    host[n] = '\0';
    char *end;
    errno = 0;
    *port = strtol(port_text, &end, 10);
    if (errno || end == port_text || *end || *port < 0 || *port > 65535) {
        return -EINVAL;
    }
    return 0;
}

int net_addr_parse(const char *text, struct sockaddr_storage *out, char *err, size_t err_len) {
    assert(text);
    assert(out);
    char host[256];
    long port;
    if (split_host_port(text, host, sizeof host, &port) < 0) {
        snprintf(err, err_len, "bad address '%s' (want HOST:PORT)", text);
        return -EINVAL;
    }
    memset(out, 0, sizeof *out);
    struct sockaddr_in *v4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
    if (host[0] == '\0' || inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        if (host[0] == '\0') {
            v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        }
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, err_len, "cannot resolve '%s': %s", host, gai_strerror(rc));
        return -EINVAL;
    }
    memcpy(out, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (out->ss_family == AF_INET) {
        v4->sin_port = htons((uint16_t)port);
    } else {
        v6->sin6_port = htons((uint16_t)port);
    }
    return 0;
}

socklen_t net_addr_len(const struct sockaddr *sa) {
    return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

int net_addr_equal(const struct sockaddr *a, const struct sockaddr *b) {
    if (a->sa_family != b->sa_family) {
        return 0;
    }
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

size_t net_addr_host(const struct sockaddr *sa, char *out, size_t out_len) {
    assert(out_len >= INET6_ADDRSTRLEN);
    const void *src = sa->sa_family == AF_INET6
                          ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                          : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
    if (!inet_ntop(sa->sa_family, src, out, (socklen_t)out_len)) {
        out[0] = '\0';
    }
    return strlen(out);
}

void net_addr_format(const struct sockaddr *sa, char *out, size_t out_len) {
    char host[INET6_ADDRSTRLEN];
    net_addr_host(sa, host, sizeof host);
    if (sa->sa_family == AF_INET6) {
        snprintf(out, out_len, "[%s]:%u", host,
                 ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
    } else {
        snprintf(out, out_len, "%s:%u", host, ntohs(((const struct sockaddr_in *)sa)->sin_port));
    }
}

int net_listen_socket(const struct sockaddr *sa, int reuseport, int backlog, int *fd_out) {
    assert(sa);
    assert(fd_out);
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
        bind(fd, sa, net_addr_len(sa)) < 0 || listen(fd, backlog) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}
