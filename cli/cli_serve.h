/*
 * cli_serve.h - `ustor serve`: one LUN of an adapter over NBD, by running
 * nbdkit with nbdkit-ustorport-plugin.so in the foreground (docs/nbd.md).
 */
#ifndef USTOR_CLI_SERVE_H
#define USTOR_CLI_SERVE_H

#include <stdio.h>

/* argv[0] is "serve"; parses its own options (the adapter options of
 * `ustor run` plus --lun, --socket, --tcp[=PORT], --plugin, --nbdkit).
 * Prints the NBD URI on stdout once the server answers, runs until
 * SIGINT/SIGTERM or nbdkit exits, and returns a CLI_EXIT_* status. */
int cli_serve_main(int argc, char **argv);

void cli_serve_usage(FILE *f);

#endif
