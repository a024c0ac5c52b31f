/*
 * cli_args.h - the ustor command line: options, their fio-style value
 * syntax (sizes "4k", times "10s"), and the parsed result.
 */
#ifndef USTOR_CLI_ARGS_H
#define USTOR_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <ustor/ustor.h>

enum cli_command { CLI_CMD_NONE, CLI_CMD_RUN, CLI_CMD_INFO, CLI_CMD_LIST };

enum cli_rw {
    CLI_RW_READ, CLI_RW_WRITE, CLI_RW_RANDREAD, CLI_RW_RANDWRITE,
    CLI_RW_RANDRW, CLI_RW_RW, CLI_RW_COUNT
};

enum cli_verify { CLI_VERIFY_NONE, CLI_VERIFY_CRC32C, CLI_VERIFY_MD5, CLI_VERIFY_PATTERN };

enum cli_device { CLI_DEVICE_DEFAULT, CLI_DEVICE_NONE, CLI_DEVICE_VIRTIO_BLK };

enum cli_sync { CLI_SYNC_DEFAULT, CLI_SYNC_HALF, CLI_SYNC_FULL, CLI_SYNC_CONCURRENT, CLI_SYNC_VIRTUAL };

/* Exit statuses (docs/cli.md).  When several apply the highest wins:
 * crash/hang > load failure > verifier > I/O errors > success. */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_IO = 1,
    CLI_EXIT_USAGE = 2,
    CLI_EXIT_VERIFIER = 3,
    CLI_EXIT_LOAD = 4,
    CLI_EXIT_CRASH = 5,
};

struct cli_options {
    enum cli_command command;
    bool help, version;
    const char *miniport;       /* NULL: the default (cli_default_miniport) */
    enum cli_device device;
    unsigned luns;
    uint64_t size;              /* capacity per LUN, bytes */
    enum cli_sync sync;
    const char *miniport_args;  /* appended to the argument string */
    enum cli_rw rw;
    unsigned rwmixread;         /* percent of reads in randrw / rw */
    uint64_t bs;
    unsigned iodepth;
    unsigned numjobs;
    uint64_t runtime_ms;
    uint64_t number_ios;        /* 0: no limit */
    uint64_t offset;            /* start of the region each job covers */
    uint64_t randseed;
    enum cli_verify verify;
    enum ustor_verifier_mode verifier;
    bool verifier_warnings_fail;
    bool lock_graph;
    const char *device_opts;
    unsigned cpus;
    uint64_t hang_timeout_ms;   /* 0: the default */
    bool json, quiet;
};

void cli_options_default(struct cli_options *o);

/* Parses argv (argv[0] is the program).  Returns 0, or -1 with a message
 * naming the option, the bad value and what is allowed in err. */
int cli_parse(int argc, char **argv, struct cli_options *o, char *err, size_t errlen);

/* fio's size syntax: digits with an optional k/m/g/t/p suffix (powers of
 * 1024, any case, optionally followed by "b" or "ib").  0 or -1. */
int cli_parse_size(const char *s, uint64_t *out);
/* fio's time syntax: digits with an optional unit (us, ms, s, m, h, d);
 * seconds when none.  Result in milliseconds (us rounds up). */
int cli_parse_time_ms(const char *s, uint64_t *out);
/* Unsigned decimal in [min, max]. */
int cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

const char *cli_rw_name(enum cli_rw rw);
const char *cli_verify_name(enum cli_verify v);
const char *cli_device_name(enum cli_device d);
const char *cli_sync_name(enum cli_sync s);
const char *cli_verifier_name(enum ustor_verifier_mode m);
/* Formats bytes as fio would print them back ("4k", "64M", "1000"). */
void cli_format_size(uint64_t bytes, char *buf, size_t len);

/* The usage text for --help. */
void cli_print_usage(FILE *f);

#endif
