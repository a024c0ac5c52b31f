/* cli_verify.c - see cli_verify.h. */
#include "cli_verify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_digest.h"

static const char magic[8] = { 'U', 'S', 'T', 'O', 'R', 'V', 'F', 'Y' };

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int cli_verify_init(struct cli_verify_table *t, enum cli_verify method, uint32_t lun,
                    uint64_t nblocks, uint32_t bs, uint64_t seed)
{
    memset(t, 0, sizeof(*t));
    if (bs < CLI_VERIFY_HEADER * 2 || nblocks == 0)
        return -EINVAL;
    t->method = method;
    t->lun = lun;
    t->nblocks = nblocks;
    t->bs = bs;
    t->seed = seed;
    t->gen = calloc(nblocks, sizeof(*t->gen));
    t->busy = calloc(nblocks, sizeof(*t->busy));
    if (!t->gen || !t->busy) {
        cli_verify_free(t);
        return -ENOMEM;
    }
    for (uint64_t i = 0; i < nblocks; i++) {
        atomic_init(&t->gen[i], 0);
        atomic_flag_clear(&t->busy[i]);
    }
    return 0;
}

void cli_verify_free(struct cli_verify_table *t)
{
    free(t->gen);
    free(t->busy);
    t->gen = NULL;
    t->busy = NULL;
}

bool cli_verify_claim(struct cli_verify_table *t, uint64_t idx)
{
    return !atomic_flag_test_and_set_explicit(&t->busy[idx], memory_order_acquire);
}

void cli_verify_release(struct cli_verify_table *t, uint64_t idx)
{
    atomic_flag_clear_explicit(&t->busy[idx], memory_order_release);
}

static uint64_t block_seed(const struct cli_verify_table *t, uint64_t lba, uint32_t gen)
{
    uint64_t x = t->seed ^ ((uint64_t)t->lun << 56) ^ (lba * 0xD6E8FEB86659FD93ull) ^ ((uint64_t)gen << 32);
    return splitmix64(&x);
}

void cli_verify_expected(const struct cli_verify_table *t, uint64_t lba, uint32_t gen, void *out)
{
    uint8_t *buf = out;
    uint64_t seed = block_seed(t, lba, gen);
    memcpy(buf, magic, 8);
    put64(buf + 8, lba);
    put64(buf + 16, seed);
    put32(buf + 24, gen);
    put32(buf + 28, t->lun);
    memset(buf + 32, 0, 16);
    uint64_t x = seed;
    size_t i = CLI_VERIFY_HEADER;
    for (; i + 8 <= t->bs; i += 8)
        put64(buf + i, splitmix64(&x));
    for (; i < t->bs; i++)
        buf[i] = (uint8_t)splitmix64(&x);
    const uint8_t *payload = buf + CLI_VERIFY_HEADER;
    size_t plen = t->bs - CLI_VERIFY_HEADER;
    if (t->method == CLI_VERIFY_CRC32C)
        put32(buf + 32, cli_crc32c(0, payload, plen));
    else if (t->method == CLI_VERIFY_MD5)
        cli_md5(payload, plen, buf + 32);
}

uint32_t cli_verify_fill(struct cli_verify_table *t, uint64_t idx, uint64_t lba, void *buf)
{
    uint32_t cur = atomic_load_explicit(&t->gen[idx], memory_order_relaxed);
    uint32_t gen = cur + 1;
    if (gen == CLI_GEN_UNKNOWN || gen == 0)
        gen = 1;
    if (t->method != CLI_VERIFY_NONE)
        cli_verify_expected(t, lba, gen, buf);
    return gen;
}

void cli_verify_commit(struct cli_verify_table *t, uint64_t idx, uint32_t gen, bool ok)
{
    atomic_store_explicit(&t->gen[idx], ok ? gen : CLI_GEN_UNKNOWN, memory_order_relaxed);
}

int cli_verify_check(const struct cli_verify_table *t, uint64_t idx, uint64_t lba,
                     const void *data, struct cli_mismatch *mm)
{
    if (t->method == CLI_VERIFY_NONE)
        return 1;
    uint32_t gen = atomic_load_explicit(&t->gen[idx], memory_order_relaxed);
    if (gen == 0 || gen == CLI_GEN_UNKNOWN)
        return 1;
    uint8_t stackbuf[4096];
    uint8_t *exp = t->bs <= sizeof(stackbuf) ? stackbuf : malloc(t->bs);
    if (!exp)
        return 1;
    cli_verify_expected(t, lba, gen, exp);
    const uint8_t *got = data;
    int rc = 0;
    if (memcmp(exp, got, t->bs) != 0) {
        uint32_t i = 0;
        while (exp[i] == got[i])
            i++;
        memset(mm, 0, sizeof(*mm));
        mm->lun = t->lun;
        mm->lba = lba;
        mm->byte = i;
        mm->expected = exp[i];
        mm->actual = got[i];
        mm->generation = gen;
        const char *where;
        char detail[64] = "";
        if (memcmp(got, magic, 8) != 0) {
            where = "no verify header (block not as last written)";
        } else if (get64(got + 8) != lba) {
            where = "header names another block";
            snprintf(detail, sizeof(detail), " (lba %" PRIu64 ")", get64(got + 8));
        } else if (get32(got + 24) != gen) {
            where = "stale data";
            snprintf(detail, sizeof(detail), " (generation %" PRIu32 ", expected %" PRIu32 ")",
                     get32(got + 24), gen);
        } else if (i >= CLI_VERIFY_HEADER && t->method != CLI_VERIFY_PATTERN) {
            where = t->method == CLI_VERIFY_MD5 ? "md5 mismatch in the data" : "crc32c mismatch in the data";
        } else {
            where = i < CLI_VERIFY_HEADER ? "header corrupt" : "pattern mismatch";
        }
        snprintf(mm->what, sizeof(mm->what),
                 "lun %" PRIu32 " lba %" PRIu64 ": %s%s; first differing byte %" PRIu32
                 ": expected 0x%02x, got 0x%02x",
                 t->lun, lba, where, detail, i, exp[i], got[i]);
        rc = -1;
    }
    if (exp != stackbuf)
        free(exp);
    return rc;
}
