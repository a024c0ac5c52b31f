/*
 * bench_locks.c - cost of a StorPort lock acquire + release pair from
 * inside a miniport routine (HwStorBuildIo of the null miniport, a live
 * full-duplex physical adapter), and of StorPortSynchronizeAccess with an
 * empty routine, against a bare pthread spin lock pair and a bare pthread
 * mutex pair.  Uncontended (one thread) and contended (two threads on the
 * same lock).  Each critical section increments a shared counter.  One
 * more row has each thread take the DpcLock of its own STOR_DPC (and
 * count in its own counter): two CPUs holding two DPC locks should not
 * slow each other down.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "nullmp.h"

enum lock_kind {
    LK_DPC,
    LK_STARTIO,
    LK_INTERRUPT,
    LK_SYNC_ACCESS,
    LK_DPC_OWN,
    LK_PTHREAD_SPIN,
    LK_PTHREAD_MUTEX,
    LK_COUNT
};

static const char *const kind_names[LK_COUNT] = {
    "StorPortAcquireSpinLock(DpcLock)",
    "StorPortAcquireSpinLock(StartIoLock)",
    "StorPortAcquireSpinLock(InterruptLock)",
    "StorPortSynchronizeAccess (empty routine)",
    "StorPortAcquireSpinLock(DpcLock), a STOR_DPC per thread",
    "pthread_spin_lock + unlock",
    "pthread_mutex_lock + unlock",
};

struct lock_job {
    ustor_adapter *ad;
    enum lock_kind kind;
    uint64_t n;
    uint64_t ns[2]; /* per thread, inside the loop */
};

static pthread_spinlock_t g_spin;
static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
static volatile uint64_t g_counter;

static BOOLEAN sync_routine(PVOID ext, PVOID ctx)
{
    (void)ext;
    (void)ctx;
    g_counter++;
    return TRUE;
}

struct hook_ctx {
    struct lock_job *job;
    unsigned index;
};

/* Runs in HwStorBuildIo (DISPATCH_LEVEL, no port lock held). */
static void storport_loop(PVOID ext, void *p)
{
    struct hook_ctx *hc = p;
    struct lock_job *j = hc->job;
    NULLMP_EXT *e = ext;
    STOR_LOCK_HANDLE h;
    uint64_t t0 = bench_now_ns();
    switch (j->kind) {
    case LK_DPC:
        for (uint64_t i = 0; i < j->n; i++) {
            StorPortAcquireSpinLock(ext, DpcLock, &e->dpc, &h);
            g_counter++;
            StorPortReleaseSpinLock(ext, &h);
        }
        break;
    case LK_STARTIO:
        for (uint64_t i = 0; i < j->n; i++) {
            StorPortAcquireSpinLock(ext, StartIoLock, NULL, &h);
            g_counter++;
            StorPortReleaseSpinLock(ext, &h);
        }
        break;
    case LK_INTERRUPT:
        for (uint64_t i = 0; i < j->n; i++) {
            StorPortAcquireSpinLock(ext, InterruptLock, NULL, &h);
            g_counter++;
            StorPortReleaseSpinLock(ext, &h);
        }
        break;
    case LK_SYNC_ACCESS:
        for (uint64_t i = 0; i < j->n; i++)
            StorPortSynchronizeAccess(ext, sync_routine, NULL);
        break;
    case LK_DPC_OWN: {
        volatile uint64_t mine = 0;
        for (uint64_t i = 0; i < j->n; i++) {
            StorPortAcquireSpinLock(ext, DpcLock, &e->thread_dpc[hc->index], &h);
            mine++;
            StorPortReleaseSpinLock(ext, &h);
        }
        break;
    }
    default:
        break;
    }
    j->ns[hc->index] = bench_now_ns() - t0;
}

static void srb_done(void *ctx, void *srb, uint8_t status)
{
    (void)srb;
    if (status != SRB_STATUS_SUCCESS)
        fprintf(stderr, "bench_locks: the run SRB completed with status 0x%02x\n", status);
    __atomic_store_n((int *)ctx, 1, __ATOMIC_RELEASE);
}

static void lock_thread(void *arg, unsigned index)
{
    struct lock_job *j = arg;
    if (j->kind == LK_PTHREAD_SPIN || j->kind == LK_PTHREAD_MUTEX) {
        uint64_t t0 = bench_now_ns();
        if (j->kind == LK_PTHREAD_SPIN) {
            for (uint64_t i = 0; i < j->n; i++) {
                pthread_spin_lock(&g_spin);
                g_counter++;
                pthread_spin_unlock(&g_spin);
            }
        } else {
            for (uint64_t i = 0; i < j->n; i++) {
                pthread_mutex_lock(&g_mutex);
                g_counter++;
                pthread_mutex_unlock(&g_mutex);
            }
        }
        j->ns[index] = bench_now_ns() - t0;
        return;
    }
    struct hook_ctx hc = { j, index };
    struct bench_srb s;
    const UCHAR cdb[6] = { NULLMP_OP_RUN, 0, 0, 0, 0, 0 };
    bench_srb_init(&s, false, (UCHAR)index, cdb, sizeof(cdb), NULL, 0, SRB_FLAGS_NO_DATA_TRANSFER);
    int done = 0;
    nullmp_set_hook(storport_loop, &hc);
    int rc = ustor_submit_srb(j->ad, bench_srb_ptr(&s), srb_done, &done);
    if (rc) {
        fprintf(stderr, "bench_locks: submission failed (%d): %s\n", rc, ustor_last_error());
        exit(1);
    }
    while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE))
        sched_yield();
    nullmp_set_hook(NULL, NULL);
}

static struct bench_stat measure(const struct bench_opts *o, ustor_adapter *ad, enum lock_kind k, unsigned threads,
                                 uint64_t n)
{
    double v[1000];
    unsigned reps = o->reps > 1000 ? 1000 : o->reps;
    struct lock_job j = { ad, k, n / 5 + 1, { 0, 0 } };
    bench_run_threads(threads, lock_thread, &j); /* warm-up */
    j.n = n;
    for (unsigned r = 0; r < reps; r++) {
        j.ns[0] = j.ns[1] = 0;
        bench_run_threads(threads, lock_thread, &j);
        double sum = 0;
        for (unsigned t = 0; t < threads; t++)
            sum += (double)j.ns[t] / (double)n;
        v[r] = sum / threads;
    }
    return bench_stat_of(v, reps);
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse(argc, argv, &o, "StorPort lock and StorPortSynchronizeAccess cost against pthread locks", NULL,
                NULL);
    pthread_spin_init(&g_spin, PTHREAD_PROCESS_PRIVATE);
    struct ustor_adapter_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.argument_string = "sync=full;luns=2";
    cfg.verifier = USTOR_VERIFIER_OFF;
    ustor_driver *drv;
    ustor_adapter *ad = bench_adapter((ustor_driver_entry_fn)nullmp_phys_DriverEntry, "nullmp-phys", &cfg, &drv);
    uint64_t n = bench_amount(&o, 300000);
    const char *cols[] = { "lock", "1 thread ns/pair", "2 threads ns/pair", "2 thr / 1 thr" };
    char title[160];
    snprintf(title, sizeof(title),
             "Locks: ns per acquire+release pair as seen by each thread, median (min-max) of %u reps, %u CPUs",
             o.reps, bench_nr_cpus());
    bench_table_begin(&o, title, cols, 4);
    for (int k = 0; k < LK_COUNT; k++) {
        struct bench_stat one = measure(&o, ad, (enum lock_kind)k, 1, n);
        struct bench_stat two = measure(&o, ad, (enum lock_kind)k, 2, n);
        char c1[48], c2[48], c3[16];
        bench_fmt_stat(c1, sizeof(c1), one, 1);
        bench_fmt_stat(c2, sizeof(c2), two, 1);
        snprintf(c3, sizeof(c3), "%.1fx", two.median / one.median);
        const char *cells[] = { kind_names[k], c1, c2, c3 };
        bench_table_row(&o, cells, 4);
    }
    bench_table_end(&o);
    bench_note(&o, "StorPort calls run inside HwStorBuildIo of a full-duplex physical adapter, verifier off; "
                   "the critical section increments one shared counter (with a STOR_DPC per thread, "
                   "the thread's own).");
    bench_adapter_free(ad, drv);
    return 0;
}
