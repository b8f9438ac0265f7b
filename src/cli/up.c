/* up: starts one durable node on the default port in the foreground, data under ./data, and
 * prints how to connect. Ctrl-C stops it cleanly (the server handles SIGINT). Flags after `up`
 * are passed to the server, so `polis up --port 7000` works. */
#include "cli/up.h"

#include <stdio.h>
#include <string.h>

#include "server/server.h"

#define UP_ARGS_MAX 64

int up_main(int argc, char **argv) {
    if (argc > UP_ARGS_MAX - 8) {
        fprintf(stderr, "polis up: too many arguments\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: polis up [SERVER OPTIONS]\n\n"
                   "Starts a durable polis node in the foreground (data in ./data, port 7379)\n"
                   "and prints how to connect. Ctrl-C stops it. Any `polis server` option may\n"
                   "follow and overrides the defaults; see `polis server --help`.\n");
            return 0;
        }
    }
    char *args[UP_ARGS_MAX];
    int n = 0;
    args[n++] = "server";
    args[n++] = "--dir";
    args[n++] = "data";
    args[n++] = "--announce";
    args[n++] = "yes";
    for (int i = 1; i < argc; i++) {
        args[n++] = argv[i];
    }
    args[n] = NULL;
    return server_main(n, args);
}
