/*
 * cli_hist.h - log-linear latency histogram (HDR-like): values below 64
 * are exact, above that each power of two is split into 64 linear
 * sub-buckets, so a recorded value is off by less than 1/64 (1.6%).
 * One per submitting thread, merged at the end; no locking.
 */
#ifndef USTOR_CLI_HIST_H
#define USTOR_CLI_HIST_H

#include <stdint.h>

#define CLI_HIST_SUB_BITS 6
#define CLI_HIST_SUB (1u << CLI_HIST_SUB_BITS)
#define CLI_HIST_BUCKETS ((64 - CLI_HIST_SUB_BITS + 1) * CLI_HIST_SUB)

struct cli_hist {
    uint64_t count, sum, min, max;
    uint64_t buckets[CLI_HIST_BUCKETS];
};

void cli_hist_init(struct cli_hist *h);
void cli_hist_record(struct cli_hist *h, uint64_t value);
void cli_hist_merge(struct cli_hist *into, const struct cli_hist *from);
/* The smallest recorded-bucket value v such that at least pct percent of
 * the values are <= v (the bucket's upper bound, clamped to max).
 * 0 when empty. */
uint64_t cli_hist_percentile(const struct cli_hist *h, double pct);
double cli_hist_mean(const struct cli_hist *h);

/* Bucket arithmetic, exposed for the tests. */
unsigned cli_hist_index(uint64_t value);
uint64_t cli_hist_bucket_low(unsigned index);
uint64_t cli_hist_bucket_high(unsigned index);

#endif
