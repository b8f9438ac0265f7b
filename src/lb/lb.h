/* lb: `polis lb`, the HTTP/1.1 and TCP load balancer (design: docs/ARCHITECTURE.md,
 * "Load balancer"; configuration: README.md, "polis lb"). */
#ifndef POLIS_LB_LB_H
#define POLIS_LB_LB_H

/* Entry point of `polis lb ARGS…` (argv[0] is "lb"). Returns the process exit code. */
int lb_main(int argc, char **argv);

#endif
