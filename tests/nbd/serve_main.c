/* serve_main.c - `ustor serve` as its own program, for tests/nbd while
 * the ustor dispatcher (cli/cli_main.c) does not list it: argv is passed
 * as if after "ustor". */
#include "cli_serve.h"

int main(int argc, char **argv)
{
    argv[0] = "serve";
    return cli_serve_main(argc, argv);
}
