/*
 * bench_interrupt.c - the interrupt path: the physical "virtio" miniport
 * on the simulated virtio-blk device at zero device latency (falls back
 * to ramdisk-phys with complete=dpc, and says so, when the build has no
 * "virtio" miniport), per synchronization mode, against the floor of a
 * plain two-thread handoff measured in the same run.
 *
 * Both sides run the same closed loop: one submitting thread keeps QD
 * requests in flight; a completion arrives on another thread (the port's
 * DPC / interrupt thread, or the floor's completer thread), which hands it
 * back to the submitter through a mutex + condition variable queue; the
 * submitter records the latency (submit to pick-up) and resubmits.
 * Floors: "handoff condvar" (the completer waits on a condvar too) and
 * "handoff spin ring" (two lock-free single-producer rings, both threads
 * polling).
 *
 * Target: the interrupt path within 3x of the handoff floor.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <ustor/builtin.h>
#include <ustor/hw.h>

#include "bench.h"
#include "hw/bus.h"

#define MAXQD 256
#define XFER 512

static unsigned opt_qd_high = 32;

static bool extra(const char *a)
{
    if (strncmp(a, "--qd=", 5) == 0) {
        int v = atoi(a + 5);
        if (v < 2 || v > MAXQD) {
            fprintf(stderr, "bench_interrupt: bad %s: --qd wants 2..%d (QD 1 always runs)\n", a, MAXQD);
            exit(2);
        }
        opt_qd_high = (unsigned)v;
        return true;
    }
    return false;
}

/* ---- a mutex + condvar queue of pointers ----------------------------- */

struct cvq {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void *items[MAXQD + 1];
    unsigned n;
    bool stop;
};

static void cvq_init(struct cvq *q)
{
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->n = 0;
    q->stop = false;
}

static void cvq_destroy(struct cvq *q)
{
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
}

static void cvq_push(struct cvq *q, void *p)
{
    pthread_mutex_lock(&q->mu);
    q->items[q->n++] = p;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* Takes everything queued (waits for at least one); 0 when stopped. */
static unsigned cvq_take(struct cvq *q, void **out)
{
    pthread_mutex_lock(&q->mu);
    while (q->n == 0 && !q->stop)
        pthread_cond_wait(&q->cv, &q->mu);
    unsigned n = q->n;
    memcpy(out, q->items, n * sizeof(void *));
    q->n = 0;
    pthread_mutex_unlock(&q->mu);
    return n;
}

static void cvq_stop(struct cvq *q)
{
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

/* ---- a lock-free single-producer single-consumer ring ----------------- */

struct ring {
    _Alignas(64) volatile unsigned head; /* consumer */
    _Alignas(64) volatile unsigned tail; /* producer */
    void *slot[MAXQD * 2];
};

static void ring_push(struct ring *r, void *p)
{
    unsigned t = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
    r->slot[t % (MAXQD * 2)] = p;
    __atomic_store_n(&r->tail, t + 1, __ATOMIC_RELEASE);
}

static void *ring_pop(struct ring *r)
{
    unsigned h = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
    if (h == __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE))
        return NULL;
    void *p = r->slot[h % (MAXQD * 2)];
    __atomic_store_n(&r->head, h + 1, __ATOMIC_RELEASE);
    return p;
}

/* ---- one closed-loop run ------------------------------------------------ */

enum path_kind { PATH_PORT, PATH_CONDVAR, PATH_SPIN };

struct loop {
    enum path_kind kind;
    ustor_adapter *ad;
    struct bench_srb *srbs;
    unsigned qd;
    uint64_t total;
    uint64_t *lat;     /* total entries */
    uint64_t errors;
    struct cvq back;   /* completions to the submitter */
    struct cvq fwd;    /* condvar floor: requests to the completer */
    struct ring rfwd, rback;
    volatile int stop;
};

static void port_done(void *ctx, void *srb, uint8_t status)
{
    struct loop *l = ctx;
    if (status != SRB_STATUS_SUCCESS)
        __atomic_fetch_add(&l->errors, 1, __ATOMIC_RELAXED);
    cvq_push(&l->back, srb);
}

static void *completer(void *p)
{
    struct loop *l = p;
    void *got[MAXQD + 1];
    if (l->kind == PATH_CONDVAR) {
        unsigned n;
        while ((n = cvq_take(&l->fwd, got)) != 0)
            for (unsigned i = 0; i < n; i++)
                cvq_push(&l->back, got[i]);
    } else {
        while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
            void *x = ring_pop(&l->rfwd);
            if (x)
                ring_push(&l->rback, x);
            else
                cpu_relax();
        }
    }
    return NULL;
}

static void post(struct loop *l, struct bench_srb *s)
{
    s->submit_ns = bench_now_ns();
    switch (l->kind) {
    case PATH_PORT: {
        bench_srb_rearm(s);
        int rc = ustor_submit_srb(l->ad, bench_srb_ptr(s), port_done, l);
        if (rc) {
            fprintf(stderr, "bench_interrupt: submission failed (%d): %s\n", rc, ustor_last_error());
            exit(1);
        }
        break;
    }
    case PATH_CONDVAR:
        cvq_push(&l->fwd, s);
        break;
    case PATH_SPIN:
        ring_push(&l->rfwd, s);
        break;
    }
}

static struct bench_srb *owner_of(struct loop *l, void *p)
{
    /* The port hands back the SRB pointer, which is the bench_srb's start. */
    (void)l;
    return (struct bench_srb *)p;
}

/* Returns the wall time; fills l->lat[0..total). */
static uint64_t run_loop(struct loop *l)
{
    pthread_t tid;
    bool has_completer = l->kind != PATH_PORT;
    cvq_init(&l->back);
    cvq_init(&l->fwd);
    memset(&l->rfwd, 0, sizeof(l->rfwd));
    memset(&l->rback, 0, sizeof(l->rback));
    l->stop = 0;
    if (has_completer && pthread_create(&tid, NULL, completer, l) != 0) {
        fprintf(stderr, "bench_interrupt: pthread_create failed\n");
        exit(1);
    }
    uint64_t t0 = bench_now_ns();
    uint64_t issued = 0, done = 0;
    unsigned first = l->total < l->qd ? (unsigned)l->total : l->qd;
    for (unsigned i = 0; i < first; i++, issued++)
        post(l, &l->srbs[i]);
    void *got[MAXQD + 1];
    while (done < l->total) {
        unsigned n;
        if (l->kind == PATH_SPIN) {
            n = 0;
            void *x;
            while ((x = ring_pop(&l->rback)) != NULL)
                got[n++] = x;
            if (!n) {
                cpu_relax();
                continue;
            }
        } else {
            n = cvq_take(&l->back, got);
        }
        uint64_t now = bench_now_ns();
        for (unsigned i = 0; i < n; i++) {
            struct bench_srb *s = owner_of(l, got[i]);
            l->lat[done++] = now - s->submit_ns;
            if (issued < l->total) {
                issued++;
                post(l, s);
            }
        }
    }
    uint64_t wall = bench_now_ns() - t0;
    if (has_completer) {
        __atomic_store_n(&l->stop, 1, __ATOMIC_RELEASE);
        cvq_stop(&l->fwd);
        pthread_join(tid, NULL);
    }
    cvq_destroy(&l->back);
    cvq_destroy(&l->fwd);
    return wall;
}

struct result {
    struct bench_stat iops;
    double p50, p99, p999; /* microseconds, over all measured reps */
    double csw_per_io;     /* context switches of the whole process per I/O */
    uint64_t errors;
};

static struct result measure(const struct bench_opts *o, enum path_kind kind, ustor_adapter *ad, unsigned qd,
                             uint64_t total)
{
    struct result res;
    memset(&res, 0, sizeof(res));
    struct loop *l = calloc(1, sizeof(*l));
    unsigned reps = o->reps > 100 ? 100 : o->reps;
    uint64_t *all = calloc(total * reps, sizeof(uint64_t));
    l->lat = calloc(total, sizeof(uint64_t));
    l->srbs = calloc(qd, sizeof(struct bench_srb));
    /* aligned_alloc wants a size that is a multiple of the alignment. */
    uint8_t *bufs = aligned_alloc(4096, ((size_t)XFER * qd + 4095) & ~(size_t)4095);
    if (!l || !all || !l->lat || !l->srbs || !bufs) {
        fprintf(stderr, "bench_interrupt: out of memory\n");
        exit(1);
    }
    l->kind = kind;
    l->ad = ad;
    l->qd = qd;
    bool ex = ad ? ustor_adapter_uses_srbex(ad) : false;
    for (unsigned i = 0; i < qd; i++) {
        /* READ(10) of one 512-byte block, a different LBA per slot. */
        UCHAR cdb[10] = { SCSIOP_READ, 0, 0, 0, (UCHAR)(i >> 8), (UCHAR)i, 0, 0, 1, 0 };
        bench_srb_init(&l->srbs[i], ex, 0, cdb, sizeof(cdb), bufs + (size_t)i * XFER, XFER, SRB_FLAGS_DATA_IN);
    }
    double iops[100];
    struct rusage ru0, ru1;
    for (unsigned rep = 0; rep <= reps; rep++) {
        l->total = rep == 0 ? total / 5 + 1 : total;
        if (rep == 1)
            getrusage(RUSAGE_SELF, &ru0);
        uint64_t wall = run_loop(l);
        if (rep == 0)
            continue;
        iops[rep - 1] = (double)total / ((double)wall / 1e9);
        memcpy(all + (size_t)(rep - 1) * total, l->lat, total * sizeof(uint64_t));
    }
    getrusage(RUSAGE_SELF, &ru1);
    res.csw_per_io = (double)((ru1.ru_nvcsw - ru0.ru_nvcsw) + (ru1.ru_nivcsw - ru0.ru_nivcsw)) /
                     ((double)total * reps);
    res.iops = bench_stat_of(iops, reps);
    size_t n = (size_t)total * reps;
    bench_sort_u64(all, n);
    res.p50 = bench_quantile_u64(all, n, 0.50) / 1000.0;
    res.p99 = bench_quantile_u64(all, n, 0.99) / 1000.0;
    res.p999 = bench_quantile_u64(all, n, 0.999) / 1000.0;
    res.errors = l->errors;
    free(bufs);
    free(l->srbs);
    free(l->lat);
    free(all);
    free(l);
    return res;
}

static void row(const struct bench_opts *o, const char *path, const char *mode, unsigned qd, const struct result *r,
                const char *floor_kiops, const char *vs)
{
    char c2[16], c3[64], c4[16], c5[16], c6[16], c7[16];
    snprintf(c2, sizeof(c2), "%u", qd);
    struct bench_stat k = r->iops;
    k.median /= 1e3;
    k.min /= 1e3;
    k.max /= 1e3;
    bench_fmt_stat(c3, sizeof(c3), k, 1);
    snprintf(c4, sizeof(c4), "%.1f", r->p50);
    snprintf(c5, sizeof(c5), "%.1f", r->p99);
    snprintf(c6, sizeof(c6), "%.1f", r->p999);
    snprintf(c7, sizeof(c7), "%.2f", r->csw_per_io);
    const char *cells[] = { path, mode, c2, c3, c4, c5, c6, c7, floor_kiops, vs };
    bench_table_row(o, cells, 10);
    if (r->errors)
        bench_note(o, "WARNING: %llu completions were not SRB_STATUS_SUCCESS", (unsigned long long)r->errors);
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse(argc, argv, &o, "interrupt path (virtio on virtio-blk, zero latency) against a two-thread handoff",
                "  --qd=N       the second queue depth (default 32; QD 1 always runs)", extra);
    const struct ustor_builtin_miniport *vio = ustor_builtin_find("virtio");
    const struct ustor_builtin_miniport *mp = vio ? vio : ustor_builtin_find("ramdisk-phys");
    if (!mp) {
        fprintf(stderr, "bench_interrupt: neither \"virtio\" nor \"ramdisk-phys\" is built in\n");
        return 1;
    }
    uint64_t total1 = bench_amount(&o, 20000), totalq = bench_amount(&o, 60000);
    unsigned qds[2] = { 1, opt_qd_high };
    const char *cols[] = { "path", "mode", "QD", "kIOPS", "p50 us", "p99 us", "p99.9 us", "ctx switches/IO",
                           "floor kIOPS", "floor/port IOPS" };
    char title[200];
    snprintf(title, sizeof(title),
             "Interrupt path, %s, %u-byte reads, kIOPS median (min-max) of %u reps, latency over all reps, %u CPUs",
             vio ? "virtio miniport on virtio-blk (latency=zero)" : "ramdisk-phys complete=dpc (NO virtio miniport built)",
             XFER, o.reps, bench_nr_cpus());
    bench_table_begin(&o, title, cols, 10);
    struct result fl_cv[2], fl_spin[2];
    for (int q = 0; q < 2; q++) {
        uint64_t total = q ? totalq : total1;
        fl_cv[q] = measure(&o, PATH_CONDVAR, NULL, qds[q], total);
        row(&o, "handoff condvar", "-", qds[q], &fl_cv[q], "-", "1.0x");
        fl_spin[q] = measure(&o, PATH_SPIN, NULL, qds[q], total);
        char vs[16];
        snprintf(vs, sizeof(vs), "%.2fx", fl_cv[q].iops.median / fl_spin[q].iops.median);
        row(&o, "handoff spin ring", "-", qds[q], &fl_spin[q], "-", vs);
    }
    static const char *const sync_arg[3] = { "sync=half", "sync=full", "sync=concurrent" };
    double worst = 0, worst_p50 = 0;
    for (int m = 0; m < 3; m++) {
        struct ustor_bus_device *dev = NULL;
        char err[512], args[256];
        if (vio) {
            struct ustor_virtio_blk_config vc;
            memset(&vc, 0, sizeof(vc));
            vc.options = "latency=zero";
            dev = ustor_virtio_blk_create(&vc, err, sizeof(err));
            if (!dev) {
                fprintf(stderr, "bench_interrupt: cannot create the virtio-blk device: %s\n", err);
                return 1;
            }
            snprintf(args, sizeof(args), "%s", sync_arg[m]);
        } else {
            snprintf(args, sizeof(args), "luns=1;size=16M;complete=dpc;%s", sync_arg[m]);
        }
        struct ustor_adapter_config cfg;
        memset(&cfg, 0, sizeof(cfg));
        cfg.argument_string = args;
        cfg.device = dev;
        cfg.verifier = USTOR_VERIFIER_OFF;
        ustor_driver *drv;
        ustor_adapter *ad = bench_adapter(mp->entry, mp->name, &cfg, &drv);
        struct ustor_adapter_info info;
        ustor_adapter_get_info(ad, &info);
        for (int q = 0; q < 2; q++) {
            /* The floor again, right before this row: wake-up costs on a
             * shared VM drift over a run, and the comparison should see
             * the same machine. */
            struct result near = measure(&o, PATH_CONDVAR, NULL, qds[q], q ? totalq : total1);
            struct result r = measure(&o, PATH_PORT, ad, qds[q], q ? totalq : total1);
            double ratio = near.iops.median / r.iops.median;
            if (ratio > worst)
                worst = ratio;
            if (r.p50 / near.p50 > worst_p50)
                worst_p50 = r.p50 / near.p50;
            char vs[16], fk[24];
            snprintf(vs, sizeof(vs), "%.1fx", ratio);
            snprintf(fk, sizeof(fk), "%.1f", near.iops.median / 1e3);
            row(&o, mp->name, ustor_sync_mode_name(info.mode), qds[q], &r, fk, vs);
        }
        bench_adapter_free(ad, drv);
        if (dev)
            dev->ops->destroy(dev->dev);
    }
    bench_table_end(&o);
    bench_note(&o, "floor kIOPS: the condvar handoff at the same QD, measured again just before this row. "
                   "floor/port IOPS: that floor's IOPS over this row's (1.0x = as fast as the floor). "
                   "ctx switches/IO: voluntary + involuntary, all threads of the process (getrusage), per "
                   "completed I/O.");
    if (!vio)
        bench_note(&o, "NOTE: no \"virtio\" miniport in this build; ramdisk-phys with complete=dpc stands in "
                       "(a DPC handoff, no interrupt).");
    bench_note(&o, "p50 latency, port over the condvar floor measured before it, worst mode and QD: %.1fx",
               worst_p50);
    bench_note(&o, "target interrupt path within 3x of the handoff floor (IOPS, worst mode and QD): %.1fx -> %s",
               worst, worst <= 3.0 ? "MET" : "NOT MET");
    return 0;
}
