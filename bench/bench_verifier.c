/*
 * bench_verifier.c - what the verifier costs: throughput with the
 * verifier off, in log mode, and in log mode plus the lock-order graph,
 * on the null miniport (virtual and full-duplex physical, one thread,
 * QD 32; also with one DpcLock acquire/release per I/O in HwStorStartIo,
 * which the lock-order graph records) and on the built-in "ramdisk" (virtual, 512-byte reads,
 * complete=inline, one thread, QD 32).
 *
 * Target: verifier log >= 0.5x the throughput with it off.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ustor/builtin.h>

#include "bench.h"

#define QD 32
#define XFER 512

static unsigned long g_reports;

static void count_sink(void *ctx, const char *text)
{
    (void)ctx;
    (void)text;
    __atomic_fetch_add(&g_reports, 1, __ATOMIC_RELAXED);
}

/* ---- ramdisk closed loop: the callback resubmits -------------------- */

struct rd_loop {
    ustor_adapter *ad;
    struct bench_srb srbs[QD];
    uint64_t total, issued;
    volatile uint64_t done;
    uint64_t errors;
};

static void rd_done(void *ctx, void *srb, uint8_t status)
{
    struct rd_loop *l = ctx;
    if (status != SRB_STATUS_SUCCESS)
        __atomic_fetch_add(&l->errors, 1, __ATOMIC_RELAXED);
    if (__atomic_add_fetch(&l->issued, 1, __ATOMIC_RELAXED) <= l->total) {
        bench_srb_rearm((struct bench_srb *)srb);
        if (ustor_submit_srb(l->ad, srb, rd_done, l) != 0) {
            fprintf(stderr, "bench_verifier: resubmission failed: %s\n", ustor_last_error());
            exit(1);
        }
    }
    __atomic_fetch_add(&l->done, 1, __ATOMIC_RELEASE);
}

static struct bench_stat ramdisk_iops(const struct bench_opts *o, enum ustor_verifier_mode v, bool graph)
{
    const struct ustor_builtin_miniport *mp = ustor_builtin_find("ramdisk");
    struct ustor_adapter_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.argument_string = "luns=1;size=16M;complete=inline";
    cfg.verifier = v;
    cfg.lock_graph = graph;
    cfg.report_sink = count_sink;
    ustor_driver *drv;
    ustor_adapter *ad = bench_adapter(mp->entry, mp->name, &cfg, &drv);
    struct rd_loop *l = calloc(1, sizeof(*l));
    uint8_t *bufs = aligned_alloc(4096, (size_t)XFER * QD);
    if (!l || !bufs) {
        fprintf(stderr, "bench_verifier: out of memory\n");
        exit(1);
    }
    l->ad = ad;
    bool ex = ustor_adapter_uses_srbex(ad);
    for (unsigned i = 0; i < QD; i++) {
        UCHAR cdb[10] = { SCSIOP_READ, 0, 0, 0, 0, (UCHAR)i, 0, 0, 1, 0 };
        bench_srb_init(&l->srbs[i], ex, 0, cdb, sizeof(cdb), bufs + (size_t)i * XFER, XFER, SRB_FLAGS_DATA_IN);
    }
    unsigned reps = o->reps > 1000 ? 1000 : o->reps;
    double iops[1000];
    uint64_t per = bench_amount(o, 100000);
    for (unsigned rep = 0; rep <= reps; rep++) {
        l->total = rep == 0 ? per / 5 + QD : per;
        l->issued = QD;
        l->done = 0;
        uint64_t t0 = bench_now_ns();
        for (unsigned i = 0; i < QD; i++) {
            bench_srb_rearm(&l->srbs[i]);
            if (ustor_submit_srb(ad, bench_srb_ptr(&l->srbs[i]), rd_done, l) != 0) {
                fprintf(stderr, "bench_verifier: submission failed: %s\n", ustor_last_error());
                exit(1);
            }
        }
        while (__atomic_load_n(&l->done, __ATOMIC_ACQUIRE) < l->total)
            sched_yield();
        uint64_t wall = bench_now_ns() - t0;
        if (rep)
            iops[rep - 1] = (double)l->total / ((double)wall / 1e9);
    }
    if (l->errors)
        fprintf(stderr, "bench_verifier: %llu ramdisk reads failed\n", (unsigned long long)l->errors);
    free(bufs);
    free(l);
    bench_adapter_free(ad, drv);
    return bench_stat_of(iops, reps);
}

static struct bench_stat null_iops(const struct bench_opts *o, enum ustor_sync_mode m, enum ustor_verifier_mode v,
                                   bool graph, const char *extra_args)
{
    struct null_run r = {
        .mode = m,
        .threads = 1,
        .qd = QD,
        .ios_per_thread = bench_amount(o, 100000),
        .verifier = v,
        .lock_graph = graph,
        .extra_args = extra_args,
    };
    return bench_null_port(o, &r).iops;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse(argc, argv, &o, "throughput with the verifier off, log, log + lock-order graph", NULL, NULL);
    const char *cols[] = { "miniport", "off MIOPS", "log MIOPS", "log+graph MIOPS", "log/off", "log+graph/off" };
    char title[160];
    snprintf(title, sizeof(title), "Verifier cost, 1 thread, QD %d, M I/Os per second, median (min-max) of %u reps",
             QD, o.reps);
    bench_table_begin(&o, title, cols, 6);
    double worst_log = 1e9;
    /* Configurations interleaved within each repetition (off, log, graph,
     * off, ...) so that load from other processes hits all three alike. */
    unsigned reps = o.reps > 100 ? 100 : o.reps;
    struct bench_opts one = o;
    one.reps = 1;
    for (int w = 0; w < 5; w++) {
        double v[3][100];
        struct bench_stat s[3];
        static const char *const names[5] = { "null, virtual", "null, full-duplex",
                                              "null + DpcLock per I/O, virtual",
                                              "null + DpcLock per I/O, full-duplex", "ramdisk 512 B reads" };
        const char *name = names[w];
        for (unsigned rep = 0; rep < reps; rep++) {
            for (int k = 0; k < 3; k++) {
                enum ustor_verifier_mode vm = k == 0 ? USTOR_VERIFIER_OFF : USTOR_VERIFIER_LOG;
                bool graph = k == 2;
                struct bench_stat x;
                if (w < 4)
                    x = null_iops(&one, w % 2 ? USTOR_SYNC_FULL_DUPLEX : USTOR_SYNC_VIRTUAL, vm, graph,
                                  w >= 2 ? "lockio=1" : NULL);
                else
                    x = ramdisk_iops(&one, vm, graph);
                v[k][rep] = x.median / 1e6;
            }
        }
        for (int k = 0; k < 3; k++)
            s[k] = bench_stat_of(v[k], reps);
        char c[3][48], r1[16], r2[16];
        for (int k = 0; k < 3; k++)
            bench_fmt_stat(c[k], sizeof(c[k]), s[k], 2);
        snprintf(r1, sizeof(r1), "%.2fx", s[1].median / s[0].median);
        snprintf(r2, sizeof(r2), "%.2fx", s[2].median / s[0].median);
        if (s[1].median / s[0].median < worst_log)
            worst_log = s[1].median / s[0].median;
        const char *cells[] = { name, c[0], c[1], c[2], r1, r2 };
        bench_table_row(&o, cells, 6);
    }
    bench_table_end(&o);
    bench_note(&o, "verifier reports: ramdisk runs %lu, null miniport runs %lu", g_reports, bench_null_reports);
    if (bench_null_reports) {
        /* Only the summary line: the rest is a backtrace. */
        int len = (int)strcspn(bench_null_first_report, "\n");
        bench_note(&o, "first null-miniport report: `%.*s`", len, bench_null_first_report);
    }
    bench_note(&o, "target verifier log >= 0.5x off (worst row): %.2fx -> %s", worst_log,
               worst_log >= 0.5 ? "MET" : "NOT MET");
    return 0;
}
