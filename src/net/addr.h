/* net: TCP address parsing and listening sockets, shared by the services that accept
 * connections on libuv loops (the load balancer today, admin ports later).
 *
 * Addresses are written "HOST:PORT", "[IPV6]:PORT", ":PORT" or "PORT"; a missing host means
 * 127.0.0.1 (polis binds to loopback unless told otherwise). A host name is resolved once, when
 * the address is parsed (configuration time), never on a hot path. */
#ifndef POLIS_NET_ADDR_H
#define POLIS_NET_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* Room for "[ffff:...:ffff]:65535" and a NUL. */
#define NET_ADDR_TEXT_MAX 64

/* Parses text into out. Returns 0, or -EINVAL with a reason in err. */
int net_addr_parse(const char *text, struct sockaddr_storage *out, char *err, size_t err_len);
/* Bytes of the sockaddr that sa really is (IPv4 or IPv6). */
socklen_t net_addr_len(const struct sockaddr *sa);
/* Whether two addresses are the same family, host and port. */
int net_addr_equal(const struct sockaddr *a, const struct sockaddr *b);
/* Writes "1.2.3.4:80" or "[::1]:80" (out_len >= NET_ADDR_TEXT_MAX). */
void net_addr_format(const struct sockaddr *sa, char *out, size_t out_len);
/* Writes the host part alone: "1.2.3.4" or "::1". Returns its length. */
size_t net_addr_host(const struct sockaddr *sa, char *out, size_t out_len);

/* Creates a non-blocking TCP socket listening on sa (SO_REUSEADDR; SO_REUSEPORT when
 * reuseport != 0, so several event loops can each own a listener on one address).
 * Returns 0 with the descriptor in *fd, or a negative errno. */
int net_listen_socket(const struct sockaddr *sa, int reuseport, int backlog, int *fd);

#endif
