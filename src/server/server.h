/* server: `polis server`, a data node (network, clients, dispatch, durability wiring). */
#ifndef POLIS_SERVER_SERVER_H
#define POLIS_SERVER_SERVER_H

/* Entry point of `polis server ARGS…` (argv[0] is "server"). Returns the process exit code. */
int server_main(int argc, char **argv);

#endif
