/* cli_hist.c - see cli_hist.h. */
#include "cli_hist.h"

#include <string.h>

void cli_hist_init(struct cli_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

unsigned cli_hist_index(uint64_t v)
{
    if (v < CLI_HIST_SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS */
    unsigned sub = (unsigned)(v >> (e - CLI_HIST_SUB_BITS)) & (CLI_HIST_SUB - 1);
    return (e - CLI_HIST_SUB_BITS + 1) * CLI_HIST_SUB + sub;
}

uint64_t cli_hist_bucket_low(unsigned index)
{
    if (index < CLI_HIST_SUB)
        return index;
    unsigned e = index / CLI_HIST_SUB + CLI_HIST_SUB_BITS - 1;
    uint64_t sub = index % CLI_HIST_SUB;
    return (CLI_HIST_SUB + sub) << (e - CLI_HIST_SUB_BITS);
}

uint64_t cli_hist_bucket_high(unsigned index)
{
    if (index < CLI_HIST_SUB)
        return index;
    unsigned e = index / CLI_HIST_SUB + CLI_HIST_SUB_BITS - 1;
    uint64_t width = 1ull << (e - CLI_HIST_SUB_BITS);
    return cli_hist_bucket_low(index) + (width - 1);
}

void cli_hist_record(struct cli_hist *h, uint64_t v)
{
    h->buckets[cli_hist_index(v)]++;
    h->count++;
    h->sum += v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void cli_hist_merge(struct cli_hist *into, const struct cli_hist *from)
{
    for (unsigned i = 0; i < CLI_HIST_BUCKETS; i++)
        into->buckets[i] += from->buckets[i];
    into->count += from->count;
    into->sum += from->sum;
    if (from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
}

uint64_t cli_hist_percentile(const struct cli_hist *h, double pct)
{
    if (h->count == 0)
        return 0;
    if (pct <= 0)
        return h->min;
    /* rank of the value wanted, 1-based, rounded up */
    double exact = pct / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)exact;
    if ((double)rank < exact)
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < CLI_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t v = cli_hist_bucket_high(i);
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max;
}

double cli_hist_mean(const struct cli_hist *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}
