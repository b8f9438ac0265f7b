/* polis: one binary, several roles. `polis ROLE ARGS…` dispatches to the role's entry point;
 * each role parses its own flags and documents them under `polis ROLE --help`. */
#include <stdio.h>
#include <string.h>

#include "cli/up.h"
#include "lb/lb.h"
#include "server/server.h"

#define POLIS_VERSION "0.1.0"

typedef struct role {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *summary;
} role_t;

static const role_t roles[] = {
    {"server", server_main, "run a data node (Redis protocol)"},
    {"lb", lb_main, "run the HTTP/TCP load balancer"},
    {"up", up_main, "start a local polis on this machine and print how to connect"},
};

static void usage(FILE *to) {
    fprintf(to, "polis %s — a distributed data platform\n\nusage: polis ROLE [OPTIONS]\n\n",
            POLIS_VERSION);
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        fprintf(to, "  %-8s %s\n", roles[i].name, roles[i].summary);
    }
    fprintf(to, "\n`polis ROLE --help` lists a role's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-v") == 0) {
        printf("polis %s\n", POLIS_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        if (strcmp(argv[1], roles[i].name) == 0) {
            return roles[i].main(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "polis: unknown role '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
