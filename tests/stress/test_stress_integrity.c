/* ustor-test-labels: concurrency */
/*
 * test_stress_integrity.c - data integrity under concurrency, in every
 * synchronization mode: several threads keep random reads and writes in
 * flight through the block layer and the whole Storport path to the RAM
 * disk; every read is checked against what was last written, every
 * request must complete exactly once, and at the end the whole disk is
 * read back.  Prints its seed; replay with USTOR_SEED=<seed>.
 */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ustor/block.h>
#include <ustor/builtin.h>

#define THREADS 4
#define QD 8
#define SLOT_BLOCKS 8
#define BS 512

struct op {
    struct worker *w;
    bool write;
    uint64_t lba;
    uint32_t nblocks;
    uint32_t slot;
    uint32_t gen;
    volatile int completions;
    int error;
    uint8_t buf[SLOT_BLOCKS * BS];
};

struct worker {
    ustor_blk_dev *dev;
    uint64_t first_slot, nslots;
    uint32_t *gen;          /* per slot: generation last written (0: never) */
    bool *busy;             /* per slot: an op is in flight */
    struct op ops[QD];
    pthread_mutex_t m;
    pthread_cond_t c;
    int inflight;
    unsigned ops_total;
    uint64_t rng;
    unsigned mismatches, errors, lost_or_dup;
    char first_problem[256];
};

static uint64_t word(uint64_t lba, uint32_t gen, unsigned i)
{
    uint64_t s = lba * 0x9e3779b97f4a7c15ull ^ ((uint64_t)gen << 32) ^ i;
    return tu_rand(&s);
}

static void fill(uint8_t *buf, uint64_t lba, uint32_t nblocks, uint32_t gen)
{
    for (uint32_t b = 0; b < nblocks; b++)
        for (unsigned i = 0; i < BS / 8; i++) {
            uint64_t v = gen ? word(lba + b, gen, i) : 0;
            memcpy(buf + b * BS + i * 8, &v, 8);
        }
}

static bool check(struct worker *w, const uint8_t *buf, uint64_t lba, uint32_t nblocks, uint32_t gen)
{
    static _Thread_local uint8_t want[SLOT_BLOCKS * BS];
    fill(want, lba, nblocks, gen);
    if (memcmp(buf, want, (size_t)nblocks * BS) == 0)
        return true;
    size_t off = 0;
    while (buf[off] == want[off])
        off++;
    if (!w->first_problem[0])
        snprintf(w->first_problem, sizeof(w->first_problem),
                 "mismatch at LBA %llu + byte %zu: read 0x%02x, expected 0x%02x (generation %u)",
                 (unsigned long long)lba, off, buf[off], want[off], gen);
    return false;
}

static void op_done(void *ctx, const struct ustor_blk_result *r)
{
    struct op *o = ctx;
    struct worker *w = o->w;
    pthread_mutex_lock(&w->m);
    if (__atomic_add_fetch(&o->completions, 1, __ATOMIC_ACQ_REL) != 1)
        w->lost_or_dup++;
    if (r->error) {
        w->errors++;
        if (!w->first_problem[0])
            snprintf(w->first_problem, sizeof(w->first_problem), "%s at LBA %llu failed: %d (srb 0x%02x)",
                     o->write ? "write" : "read", (unsigned long long)o->lba, r->error, r->srb_status);
    } else if (o->write) {
        w->gen[o->slot] = o->gen;
    } else if (!check(w, o->buf, o->lba, o->nblocks, w->gen[o->slot])) {
        w->mismatches++;
    }
    w->busy[o->slot] = false;
    w->inflight--;
    pthread_cond_signal(&w->c);
    pthread_mutex_unlock(&w->m);
}

static void *work(void *arg)
{
    struct worker *w = arg;
    unsigned next_gen = 1;
    for (unsigned issued = 0; issued < w->ops_total;) {
        pthread_mutex_lock(&w->m);
        while (w->inflight >= QD)
            pthread_cond_wait(&w->c, &w->m);
        struct op *o = NULL;
        for (int i = 0; i < QD; i++)
            if (w->ops[i].completions == 1 || w->ops[i].w == NULL) {
                o = &w->ops[i];
                break;
            }
        uint32_t slot;
        do
            slot = (uint32_t)(tu_rand(&w->rng) % w->nslots);
        while (w->busy[slot]);
        w->busy[slot] = true;
        w->inflight++;
        pthread_mutex_unlock(&w->m);
        if (!o) {
            w->lost_or_dup++;
            break;
        }
        o->w = w;
        o->completions = 0;
        o->slot = slot;
        o->write = tu_rand(&w->rng) & 1;
        o->lba = (w->first_slot + slot) * SLOT_BLOCKS;
        o->nblocks = SLOT_BLOCKS; /* a slot is written whole so its generation covers it */
        int rc;
        if (o->write) {
            o->gen = next_gen++; /* slots belong to one thread: unique per slot */
            fill(o->buf, o->lba, o->nblocks, o->gen);
            rc = ustor_blk_write(w->dev, o->lba, o->nblocks, o->buf, 0, op_done, o);
        } else {
            rc = ustor_blk_read(w->dev, o->lba, o->nblocks, o->buf, 0, op_done, o);
        }
        if (rc == -EBUSY) {
            pthread_mutex_lock(&w->m);
            w->busy[slot] = false;
            w->inflight--;
            o->completions = 1;
            pthread_mutex_unlock(&w->m);
            continue;
        }
        if (rc) {
            pthread_mutex_lock(&w->m);
            w->errors++;
            w->busy[slot] = false;
            w->inflight--;
            o->completions = 1;
            pthread_mutex_unlock(&w->m);
        }
        issued++;
    }
    pthread_mutex_lock(&w->m);
    while (w->inflight > 0)
        pthread_cond_wait(&w->c, &w->m);
    pthread_mutex_unlock(&w->m);
    return NULL;
}

static void stress(const char *miniport, const char *args)
{
    uint64_t seed = tu_seed();
    const struct ustor_builtin_miniport *bm = ustor_builtin_find(miniport);
    assert_non_null(bm);
    struct tu_reports rep = { 0 };
    ustor_driver *drv;
    ustor_adapter *ad = tu_adapter(bm->entry, args, &rep, &drv);
    assert_non_null(ad);
    char err[256];
    ustor_blk_dev *dev;
    struct ustor_blk_options opts = { .queue_depth = THREADS * QD + 4 };
    int rc = ustor_blk_open(ad, 0, 0, 0, &opts, &dev, err, sizeof(err));
    if (rc)
        fail_msg("ustor_blk_open: %s", err);
    const struct ustor_blk_info *info = ustor_blk_get_info(dev);
    assert_int_equal(info->block_size, BS);
    uint64_t nslots = info->num_blocks / SLOT_BLOCKS;
    uint32_t *gen = calloc(nslots, sizeof(*gen));
    bool *busy = calloc(nslots, sizeof(*busy));
    struct worker *w = calloc(THREADS, sizeof(*w));
    pthread_t t[THREADS];
    unsigned ops_total = tu_iterations(5000);
    for (int i = 0; i < THREADS; i++) {
        w[i].dev = dev;
        w[i].nslots = nslots / THREADS;
        w[i].first_slot = w[i].nslots * (uint64_t)i;
        w[i].gen = gen + w[i].first_slot;
        w[i].busy = busy + w[i].first_slot;
        w[i].ops_total = ops_total;
        w[i].rng = seed + (uint64_t)i * 7919;
        pthread_mutex_init(&w[i].m, NULL);
        pthread_cond_init(&w[i].c, NULL);
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    unsigned mism = 0, errs = 0, dup = 0;
    const char *problem = NULL;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        mism += w[i].mismatches;
        errs += w[i].errors;
        dup += w[i].lost_or_dup;
        for (int k = 0; k < QD; k++)
            if (w[i].ops[k].w && w[i].ops[k].completions != 1)
                dup++;
        if (!problem && w[i].first_problem[0])
            problem = w[i].first_problem;
    }
    /* Read everything back. */
    static uint8_t buf[SLOT_BLOCKS * BS];
    for (uint64_t s = 0; s < (nslots / THREADS) * THREADS; s++) {
        struct ustor_blk_result r;
        if (ustor_blk_read_sync(dev, s * SLOT_BLOCKS, SLOT_BLOCKS, buf, 0, &r) != 0) {
            errs++;
            continue;
        }
        struct worker *owner = &w[s / (nslots / THREADS)];
        if (!check(owner, buf, s * SLOT_BLOCKS, SLOT_BLOCKS, gen[s])) {
            mism++;
            if (!problem)
                problem = owner->first_problem;
        }
    }
    uint64_t violations = ustor_adapter_violations(ad);
    assert_int_equal(ustor_blk_close(dev), 0);
    tu_adapter_free(ad, drv);
    if (mism || errs || dup || violations)
        fail_msg("%s [%s] seed %llu: %u mismatches, %u errors, %u lost/duplicated completions, %llu "
                 "verifier violations; first: %s\n%s", miniport, args, (unsigned long long)seed, mism, errs,
                 dup, (unsigned long long)violations, problem ? problem : "-", rep.text ? rep.text : "");
    free(gen);
    free(busy);
    free(w);
    tu_reports_clear(&rep);
}

static void test_integrity_virtual(void **s)
{
    (void)s;
    stress("ramdisk", "luns=1;size=4M;complete=mixed");
}

static void test_integrity_half_duplex(void **s)
{
    (void)s;
    stress("ramdisk-phys", "sync=half;size=4M;complete=mixed");
}

static void test_integrity_full_duplex(void **s)
{
    (void)s;
    stress("ramdisk-phys", "sync=full;size=4M;complete=mixed");
}

static void test_integrity_concurrent_channels(void **s)
{
    (void)s;
    stress("ramdisk-phys", "sync=concurrent;size=4M;complete=mixed");
}

static void test_integrity_with_busy_reissues(void **s)
{
    (void)s;
    stress("ramdisk-phys", "sync=full;size=4M;complete=dpc;busy=5");
}

static void test_integrity_scsi_request_block(void **s)
{
    (void)s;
    stress("ramdisk", "size=4M;complete=dpc;srb=scsi");
}

int main(void)
{
    tu_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integrity_virtual),
        cmocka_unit_test(test_integrity_half_duplex),
        cmocka_unit_test(test_integrity_full_duplex),
        cmocka_unit_test(test_integrity_concurrent_channels),
        cmocka_unit_test(test_integrity_with_busy_reissues),
        cmocka_unit_test(test_integrity_scsi_request_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
