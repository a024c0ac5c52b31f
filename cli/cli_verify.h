/*
 * cli_verify.h - data verification for ustor run.
 *
 * The unit is one I/O of --bs bytes at a bs-aligned offset ("a block").
 * A table holds, per block, the generation last written (0: never
 * written, CLI_GEN_UNKNOWN: a write failed so the content is unknown) and
 * an in-flight flag, so that one I/O at a time touches a block and every
 * read can be compared with exactly what the last write put there.
 *
 * A written block starts with a 48-byte header
 *   magic "USTORVFY" | lba (u64) | seed (u64) | generation (u32) | lun (u32)
 *   | checksum (16 bytes: crc32c in the first 4 or md5; zero for pattern)
 * followed by a pattern generated from the seed.  Reads of blocks never
 * written (or whose last write failed) are not checked ("skipped").
 */
#ifndef USTOR_CLI_VERIFY_H
#define USTOR_CLI_VERIFY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli_args.h"

#define CLI_VERIFY_HEADER 48
#define CLI_GEN_UNKNOWN UINT32_MAX

struct cli_verify_table {
    enum cli_verify method;
    uint32_t lun;
    uint64_t nblocks;
    uint32_t bs;
    uint64_t seed;
    _Atomic uint32_t *gen;
    atomic_flag *busy;
};

struct cli_mismatch {
    uint32_t lun;
    uint64_t lba;
    uint32_t byte;        /* offset of the first differing byte in the block */
    uint8_t expected, actual;
    uint32_t generation;  /* expected generation */
    char what[256];       /* one line: what differs */
};

int cli_verify_init(struct cli_verify_table *t, enum cli_verify method, uint32_t lun,
                    uint64_t nblocks, uint32_t bs, uint64_t seed);
void cli_verify_free(struct cli_verify_table *t);

/* Marks block idx in flight; false if another I/O has it. */
bool cli_verify_claim(struct cli_verify_table *t, uint64_t idx);
void cli_verify_release(struct cli_verify_table *t, uint64_t idx);

/* Fills buf (bs bytes) for a write of block idx at lba; returns the
 * generation it carries, to pass to cli_verify_commit. */
uint32_t cli_verify_fill(struct cli_verify_table *t, uint64_t idx, uint64_t lba, void *buf);
/* After the write completed: ok records the generation; a failure makes
 * the block's content unknown. */
void cli_verify_commit(struct cli_verify_table *t, uint64_t idx, uint32_t gen, bool ok);
/* Checks a read of block idx at lba: 0 matches, 1 not checked (never
 * written / unknown / method none), -1 mismatch described in mm. */
int cli_verify_check(const struct cli_verify_table *t, uint64_t idx, uint64_t lba,
                     const void *buf, struct cli_mismatch *mm);

/* The full expected content of a block, for tests and reports. */
void cli_verify_expected(const struct cli_verify_table *t, uint64_t lba, uint32_t gen, void *buf);

#endif
