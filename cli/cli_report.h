/*
 * cli_report.h - what a ustor run measured, and its text and JSON
 * renderings (the JSON schema is docs/json-schema.md).
 */
#ifndef USTOR_CLI_REPORT_H
#define USTOR_CLI_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <ustor/hw.h>
#include <ustor/ustor.h>

#include "cli_args.h"
#include "cli_hist.h"

#define CLI_JSON_SCHEMA_VERSION 1
#define CLI_MAX_VIOLATION_RULES 64

enum cli_dir { CLI_DIR_READ, CLI_DIR_WRITE, CLI_DIR_COUNT };

struct cli_dir_result {
    uint64_t ios;        /* completed, successful or not */
    uint64_t bytes;      /* moved by successful I/Os */
    uint64_t errors;     /* completed with an error */
    struct cli_hist lat; /* submit to completion, ns */
};

struct cli_result {
    const struct cli_options *opt;
    /* adapter */
    char miniport[64];        /* the name the adapter reports */
    char miniport_source[256]; /* "built-in" or the path given */
    char device[32];          /* "none", "virtio-blk" */
    bool have_info;
    struct ustor_adapter_info info;
    unsigned luns;
    uint64_t lun_blocks;      /* per LUN, from READ CAPACITY */
    uint32_t block_size;
    /* workload */
    double elapsed_s;
    struct cli_dir_result dir[CLI_DIR_COUNT];
    struct cli_hist lat_all;
    uint64_t verified_reads;  /* reads compared with what was written */
    uint64_t unverified_reads; /* reads of blocks never (successfully) written */
    uint64_t mismatches;
    char first_mismatch[256];
    char first_error[256];
    /* port statistics */
    bool have_stats;
    struct ustor_stats stats;
    /* the simulated device: what it did and which faults it injected */
    bool have_device_stats;
    struct ustor_hw_stats device_stats;
    /* verifier */
    uint64_t violation_errors, violation_warnings;
    unsigned nr_rules;
    struct ustor_violation_count rules[CLI_MAX_VIOLATION_RULES];
    /* outcome */
    int exit_status;
    char failure[400];        /* crash / hang / load failure sentence, or "" */
};

/* The exit status the numbers call for (docs/cli.md precedence); a
 * failure already recorded (>= CLI_EXIT_LOAD) is kept. */
int cli_result_exit_status(const struct cli_result *r);

/* "INTx", "MSI-X (4 messages, per-message locks)", ... */
void cli_interrupt_mode(const struct ustor_adapter_info *info, char *buf, size_t len);

void cli_report_text(FILE *f, const struct cli_result *r);
void cli_report_json(FILE *f, const struct cli_result *r);

/* Progress line body (no \r): "elapsed 3s  iops 12345  errors 0  violations 0" */
void cli_progress_line(char *buf, size_t len, double elapsed_s, double iops,
                       uint64_t errors, uint64_t violations);

#endif
