/*
 * cli_run.h - `ustor run` and `ustor info`: the workload engine (numjobs
 * threads each keeping iodepth block I/Os in flight round-robin over the
 * LUNs), the watchdog that turns a miniport hang into a report, and the
 * crash handler.
 */
#ifndef USTOR_CLI_RUN_H
#define USTOR_CLI_RUN_H

#include "cli_args.h"

/* Both return the process exit status (enum cli_exit); output goes to
 * stdout (report) and stderr (diagnostics).  A hang does not return: the
 * report is printed and the process exits with CLI_EXIT_CRASH. */
int cli_run(const struct cli_options *o);
int cli_info(const struct cli_options *o);

/* The default hang timeout for a request timeout of timeout_s seconds:
 * max(10 s, 2 x timeout). */
uint64_t cli_default_hang_timeout_ms(unsigned timeout_s);

/* SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT: "miniport crashed: signal N in
 * <symbol>" with the verifier counts so far, exit CLI_EXIT_CRASH. */
void cli_install_crash_handler(void);

#endif
