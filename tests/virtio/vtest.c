/*
 * vtest.c - see vtest.h.
 */
#include "vtest.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ustor/builtin.h>

#include "hw/bus.h"

#define VT_QD 8
#define VT_SLOT_BLOCKS 8
#define VT_BS 512

void vt_open(struct vt_env *e, const struct vt_setup *s)
{
    char err[512], opts[512];
    ustor_driver_entry_fn entry = s->entry;

    memset(e, 0, sizeof(*e));
    if (!entry) {
        const struct ustor_builtin_miniport *bm = ustor_builtin_find("virtio");
        assert_non_null(bm);
        entry = bm->entry;
    }
    snprintf(opts, sizeof(opts), "capacity=4M;%s", s->device_opts ? s->device_opts : "");
    struct ustor_virtio_blk_config vc = { .options = opts, .seed = tu_seed() };
    e->dev = ustor_virtio_blk_create(&vc, err, sizeof(err));
    if (!e->dev)
        fail_msg("ustor_virtio_blk_create(%s): %s", opts, err);
    if (ustor_driver_from_entry(entry, "virtio-test", &e->drv, err, sizeof(err)) != 0)
        fail_msg("ustor_driver_from_entry: %s", err);
    struct ustor_adapter_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.argument_string = s->args;
    cfg.nr_cpus = s->cpus ? s->cpus : 2;
    cfg.device = e->dev;
    cfg.verifier = USTOR_VERIFIER_LOG;
    cfg.report_sink = tu_reports_sink;
    cfg.report_ctx = &e->rep;
    if (ustor_adapter_create(e->drv, &cfg, &e->ad, err, sizeof(err)) != 0)
        fail_msg("ustor_adapter_create(args \"%s\", device \"%s\"): %s\n%s", s->args ? s->args : "", opts, err,
                 e->rep.text ? e->rep.text : "");
    struct ustor_blk_options bo = {
        .queue_depth = s->queue_depth ? s->queue_depth : 64,
        .timeout_s = s->blk_timeout_s,
        .wait_for_slot = true,
    };
    if (ustor_blk_open(e->ad, 0, 0, 0, &bo, &e->blk, err, sizeof(err)) != 0)
        fail_msg("ustor_blk_open: %s\n%s", err, e->rep.text ? e->rep.text : "");
}

void vt_close(struct vt_env *e)
{
    if (e->blk)
        assert_int_equal(ustor_blk_close(e->blk), 0);
    e->blk = NULL;
    if (e->ad)
        ustor_adapter_destroy(e->ad);
    e->ad = NULL;
    if (e->drv)
        ustor_driver_unload(e->drv);
    e->drv = NULL;
    if (e->dev)
        e->dev->ops->destroy(e->dev->dev);
    e->dev = NULL;
    tu_reports_clear(&e->rep);
}

/* ---- stress ---------------------------------------------------------------- */

struct vt_worker;

struct vt_op {
    struct vt_worker *w;
    bool write;
    uint64_t lba;
    uint32_t slot, gen;
    volatile int completions;
    uint8_t buf[VT_SLOT_BLOCKS * VT_BS];
};

struct vt_worker {
    ustor_blk_dev *dev;
    uint64_t first_slot, nslots;
    uint32_t *gen;
    bool *busy;
    struct vt_op ops[VT_QD];
    pthread_mutex_t m;
    pthread_cond_t c;
    int inflight;
    unsigned ops_total, done;
    uint64_t rng;
    unsigned mismatches, errors, lost_or_dup;
    char problem[256];
};

static uint64_t vt_word(uint64_t lba, uint32_t gen, unsigned i)
{
    uint64_t s = lba * 0x9e3779b97f4a7c15ull ^ ((uint64_t)gen << 32) ^ i;
    return tu_rand(&s);
}

static void vt_fill(uint8_t *buf, uint64_t lba, uint32_t gen)
{
    for (uint32_t b = 0; b < VT_SLOT_BLOCKS; b++)
        for (unsigned i = 0; i < VT_BS / 8; i++) {
            uint64_t v = gen ? vt_word(lba + b, gen, i) : 0;
            memcpy(buf + b * VT_BS + i * 8, &v, 8);
        }
}

static bool vt_check(char *problem, size_t len, const uint8_t *buf, uint64_t lba, uint32_t gen)
{
    uint8_t want[VT_SLOT_BLOCKS * VT_BS];
    vt_fill(want, lba, gen);
    if (memcmp(buf, want, sizeof(want)) == 0)
        return true;
    size_t off = 0;
    while (buf[off] == want[off])
        off++;
    if (!problem[0])
        snprintf(problem, len, "mismatch at LBA %llu + byte %zu: read 0x%02x, expected 0x%02x (generation %u)",
                 (unsigned long long)lba, off, buf[off], want[off], gen);
    return false;
}

static void vt_op_done(void *ctx, const struct ustor_blk_result *r)
{
    struct vt_op *o = ctx;
    struct vt_worker *w = o->w;
    pthread_mutex_lock(&w->m);
    if (__atomic_add_fetch(&o->completions, 1, __ATOMIC_ACQ_REL) != 1)
        w->lost_or_dup++;
    if (r->error) {
        w->errors++;
        if (!w->problem[0])
            snprintf(w->problem, sizeof(w->problem), "%s at LBA %llu failed: %d (srb 0x%02x, sense %x/%02x/%02x)",
                     o->write ? "write" : "read", (unsigned long long)o->lba, r->error, r->srb_status,
                     r->sense_key, r->asc, r->ascq);
    } else if (o->write) {
        w->gen[o->slot] = o->gen;
    } else if (!vt_check(w->problem, sizeof(w->problem), o->buf, o->lba, w->gen[o->slot])) {
        w->mismatches++;
    }
    w->busy[o->slot] = false;
    w->inflight--;
    w->done++;
    pthread_cond_signal(&w->c);
    pthread_mutex_unlock(&w->m);
}

/* Waits on the worker's condition for at most 60 s; false on timeout. */
static bool vt_wait(struct vt_worker *w)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 60;
    return pthread_cond_timedwait(&w->c, &w->m, &ts) == 0;
}

static void *vt_work(void *arg)
{
    struct vt_worker *w = arg;
    uint32_t next_gen = 1;
    for (unsigned issued = 0; issued < w->ops_total;) {
        pthread_mutex_lock(&w->m);
        while (w->inflight >= VT_QD)
            if (!vt_wait(w)) {
                w->lost_or_dup++;
                snprintf(w->problem, sizeof(w->problem), "no completion for 60 s");
                pthread_mutex_unlock(&w->m);
                return NULL;
            }
        struct vt_op *o = NULL;
        for (int i = 0; i < VT_QD; i++)
            if (w->ops[i].w == NULL || w->ops[i].completions == 1) {
                o = &w->ops[i];
                break;
            }
        uint32_t slot;
        do
            slot = (uint32_t)(tu_rand(&w->rng) % w->nslots);
        while (w->busy[slot]);
        if (!o) {
            w->lost_or_dup++;
            pthread_mutex_unlock(&w->m);
            break;
        }
        w->busy[slot] = true;
        w->inflight++;
        pthread_mutex_unlock(&w->m);
        o->w = w;
        o->completions = 0;
        o->slot = slot;
        o->write = tu_rand(&w->rng) & 1;
        o->lba = (w->first_slot + slot) * VT_SLOT_BLOCKS;
        int rc;
        if (o->write) {
            o->gen = next_gen++;
            vt_fill(o->buf, o->lba, o->gen);
            rc = ustor_blk_write(w->dev, o->lba, VT_SLOT_BLOCKS, o->buf, 0, vt_op_done, o);
        } else {
            rc = ustor_blk_read(w->dev, o->lba, VT_SLOT_BLOCKS, o->buf, 0, vt_op_done, o);
        }
        if (rc) {
            pthread_mutex_lock(&w->m);
            if (rc != -EBUSY)
                w->errors++;
            w->busy[slot] = false;
            w->inflight--;
            o->completions = 1;
            pthread_mutex_unlock(&w->m);
            if (rc == -EBUSY)
                continue;
        }
        issued++;
    }
    pthread_mutex_lock(&w->m);
    while (w->inflight > 0)
        if (!vt_wait(w)) {
            w->lost_or_dup += (unsigned)w->inflight;
            snprintf(w->problem, sizeof(w->problem), "%d requests never completed", w->inflight);
            break;
        }
    pthread_mutex_unlock(&w->m);
    return NULL;
}

struct vt_runner {
    struct vt_worker *w;
    volatile int finished;
};

static void *vt_run(void *arg)
{
    struct vt_runner *r = arg;
    vt_work(r->w);
    __atomic_store_n(&r->finished, 1, __ATOMIC_RELEASE);
    return NULL;
}

void vt_stress(struct vt_env *e, unsigned threads, unsigned ops, uint64_t seed, vt_during_fn *during,
               void *ctx, struct vt_stress_result *out)
{
    const struct ustor_blk_info *info = ustor_blk_get_info(e->blk);
    memset(out, 0, sizeof(*out));
    assert_int_equal(info->block_size, VT_BS);
    uint64_t blocks = e->stress_blocks && e->stress_blocks < info->num_blocks ? e->stress_blocks : info->num_blocks;
    uint64_t nslots = blocks / VT_SLOT_BLOCKS;
    uint64_t per = nslots / threads;
    assert_true(per >= VT_QD * 2);
    uint32_t *gen = calloc(nslots, sizeof(*gen));
    bool *busy = calloc(nslots, sizeof(*busy));
    struct vt_worker *w = calloc(threads, sizeof(*w));
    struct vt_runner *run = calloc(threads, sizeof(*run));
    pthread_t *t = calloc(threads, sizeof(*t));
    assert_true(gen && busy && w && run && t);
    for (unsigned i = 0; i < threads; i++) {
        w[i].dev = e->blk;
        w[i].nslots = per;
        w[i].first_slot = per * i;
        w[i].gen = gen + w[i].first_slot;
        w[i].busy = busy + w[i].first_slot;
        w[i].ops_total = ops;
        w[i].rng = seed + (uint64_t)i * 7919;
        pthread_mutex_init(&w[i].m, NULL);
        pthread_cond_init(&w[i].c, NULL);
        run[i].w = &w[i];
        pthread_create(&t[i], NULL, vt_run, &run[i]);
    }
    if (during) {
        for (;;) {
            unsigned fin = 0;
            for (unsigned i = 0; i < threads; i++)
                fin += (unsigned)__atomic_load_n(&run[i].finished, __ATOMIC_ACQUIRE);
            if (fin == threads)
                break;
            during(e, ctx);
        }
    }
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        out->mismatches += w[i].mismatches;
        out->errors += w[i].errors;
        out->lost_or_dup += w[i].lost_or_dup;
        out->ops += w[i].done;
        for (int k = 0; k < VT_QD; k++)
            if (w[i].ops[k].w && w[i].ops[k].completions != 1)
                out->lost_or_dup++;
        if (!out->problem[0] && w[i].problem[0])
            snprintf(out->problem, sizeof(out->problem), "%s", w[i].problem);
    }
    /* Every completed write must be there, intact. */
    uint8_t *buf = malloc(VT_SLOT_BLOCKS * VT_BS);
    for (uint64_t s = 0; s < per * threads; s++) {
        struct ustor_blk_result r;
        if (ustor_blk_read_sync(e->blk, s * VT_SLOT_BLOCKS, VT_SLOT_BLOCKS, buf, 0, &r) != 0) {
            out->readback_errors++;
            continue;
        }
        if (!vt_check(out->problem, sizeof(out->problem), buf, s * VT_SLOT_BLOCKS, gen[s]))
            out->readback_mismatches++;
    }
    free(buf);
    for (unsigned i = 0; i < threads; i++) {
        pthread_mutex_destroy(&w[i].m);
        pthread_cond_destroy(&w[i].c);
    }
    free(gen);
    free(busy);
    free(w);
    free(run);
    free(t);
}

void vt_assert_clean(const struct vt_env *e, const struct vt_stress_result *r, const char *what, uint64_t seed)
{
    uint64_t violations = ustor_adapter_violations(e->ad);
    if (r->mismatches || r->errors || r->lost_or_dup || r->readback_mismatches || r->readback_errors ||
        violations)
        fail_msg("%s seed %llu: %u ops, %u mismatches, %u errors, %u lost/duplicated completions, read-back: "
                 "%u mismatches, %u errors; %llu verifier violations; first: %s\n%s",
                 what, (unsigned long long)seed, r->ops, r->mismatches, r->errors, r->lost_or_dup,
                 r->readback_mismatches, r->readback_errors, (unsigned long long)violations,
                 r->problem[0] ? r->problem : "-", e->rep.text ? e->rep.text : "");
}
