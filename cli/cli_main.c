/* cli_main.c - the ustor command: dispatch to run, info, list. */
#include <stdio.h>
#include <string.h>

#include "cli_args.h"
#include "cli_backend.h"
#include "cli_run.h"
#include "cli_serve.h"

#ifndef USTOR_VERSION
#define USTOR_VERSION "0.0.0"
#endif

int main(int argc, char **argv)
{
    /* `ustor serve` has options of its own (NBD address) on top of run's. */
    if (argc > 1 && strcmp(argv[1], "serve") == 0)
        return cli_serve_main(argc - 1, argv + 1);
    struct cli_options o;
    char err[512];
    if (cli_parse(argc, argv, &o, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return CLI_EXIT_USAGE;
    }
    if (o.help) {
        cli_print_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (o.version) {
        printf("ustor %s\n", USTOR_VERSION);
        return CLI_EXIT_OK;
    }
    /* miniport output and ours should not interleave mid-line */
    setvbuf(stderr, NULL, _IOLBF, 0);
    cli_install_crash_handler();
    switch (o.command) {
    case CLI_CMD_LIST:
        cli_backend_list(stdout);
        return CLI_EXIT_OK;
    case CLI_CMD_INFO:
        return cli_info(&o);
    case CLI_CMD_RUN:
        return cli_run(&o);
    case CLI_CMD_NONE:
        break;
    }
    cli_print_usage(stderr);
    return CLI_EXIT_USAGE;
}
