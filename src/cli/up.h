/* up: `polis up`, the newcomer's first command: a local polis with sensible defaults. */
#ifndef POLIS_CLI_UP_H
#define POLIS_CLI_UP_H

int up_main(int argc, char **argv);

#endif
