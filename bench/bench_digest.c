/*
 * bench_digest.c - what `ustor run --verify=` costs per block: the digests
 * of cli/cli_digest.c over one 4 KiB block's payload (4 048 bytes, the
 * block less its 48-byte verify header), computed once when the block is
 * written and again when it is read back.  CRC-32C as `ustor run` uses
 * it (the CPU's crc32 instruction where it has one), each implementation
 * by name, and MD5.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "cli_digest.h"

#define PAYLOAD 4048

enum digest_kind { D_CRC_IN_USE, D_CRC_TABLES, D_CRC_INSTRUCTION, D_MD5, D_COUNT };

static const char *const digest_names[D_COUNT] = {
    "crc32c, as ustor run uses it",
    "crc32c, slicing-by-8 tables",
    "crc32c, SSE4.2 crc32 instruction",
    "md5",
};

static uint8_t block[PAYLOAD];
static volatile uint32_t sink;

/* ns per block over n blocks (each block's first byte changed, so no
 * two digests are of the same data). */
static double per_block_ns(enum digest_kind k, uint64_t n)
{
    uint32_t acc = 0;
    uint8_t md[16];
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        block[0] = (uint8_t)i;
        switch (k) {
        case D_CRC_IN_USE:
            acc ^= cli_crc32c(0, block, PAYLOAD);
            break;
        case D_CRC_TABLES:
            acc ^= cli_crc32c_sw(0, block, PAYLOAD);
            break;
        case D_CRC_INSTRUCTION:
            acc ^= cli_crc32c_hw(0, block, PAYLOAD);
            break;
        default:
            cli_md5(block, PAYLOAD, md);
            acc ^= md[0];
            break;
        }
    }
    sink = acc;
    return (double)(bench_now_ns() - t0) / (double)n;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse(argc, argv, &o, "the data-verification digests per 4 KiB block (ustor run --verify=)", NULL,
                NULL);
    for (size_t i = 0; i < sizeof(block); i++)
        block[i] = (uint8_t)(i * 131u + 7u);
    uint64_t n = bench_amount(&o, 20000);
    unsigned reps = o.reps > 1000 ? 1000 : o.reps;
    const char *cols[] = { "digest", "ns per block", "GB/s" };
    char title[160];
    snprintf(title, sizeof(title), "Verify digests, one 4 KiB block's payload (%d B), median (min-max) of %u reps",
             PAYLOAD, reps);
    bench_table_begin(&o, title, cols, 3);
    for (int k = 0; k < D_COUNT; k++) {
        if (k == D_CRC_INSTRUCTION && !cli_crc32c_has_hw())
            continue;
        double v[1000];
        /* MD5 is some 15x slower than the instruction: fewer blocks. */
        uint64_t kn = k == D_MD5 ? n / 10 + 1 : n;
        (void)per_block_ns((enum digest_kind)k, kn / 5 + 1); /* warm-up */
        for (unsigned r = 0; r < reps; r++)
            v[r] = per_block_ns((enum digest_kind)k, kn);
        struct bench_stat st = bench_stat_of(v, reps);
        char c1[48], c2[16];
        bench_fmt_stat(c1, sizeof(c1), st, 0);
        snprintf(c2, sizeof(c2), "%.2f", PAYLOAD / st.median);
        const char *cells[] = { digest_names[k], c1, c2 };
        bench_table_row(&o, cells, 3);
    }
    bench_table_end(&o);
    bench_note(&o, "computed twice per verified block (written, then read back); the CPU's crc32 instruction is %s",
               cli_crc32c_has_hw() ? "in use" : "not available here (tables in use)");
    return 0;
}
