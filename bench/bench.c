/*
 * bench.c - shared pieces of the benchmark programs (see bench.h).
 */
#include "bench.h"

#include <ustor/block.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nullmp.h"

/* ---- options ------------------------------------------------------------ */

static void usage(FILE *f, const char *prog, const char *what, const char *extra)
{
    fprintf(f,
            "%s - %s\n"
            "usage: %s [--reps=N] [--scale=X] [--quick] [--long] [--markdown] [--no-pin]%s%s\n"
            "  --reps=N     measured repetitions after one warm-up (default 5)\n"
            "  --scale=X    multiply the amount of work per repetition (default 1)\n"
            "  --quick      --scale=0.2 --reps=3\n"
            "  --long       --scale=5\n"
            "  --markdown   print tables as Markdown\n"
            "  --no-pin     let the scheduler place the measuring threads (default: thread i\n"
            "               runs on the i-th CPU this process may use)\n",
            prog, what, prog, extra ? "\n" : "", extra ? extra : "");
}

void bench_parse(int argc, char **argv, struct bench_opts *o, const char *what,
                 const char *extra_usage, bool (*is_extra)(const char *arg))
{
    o->reps = 5;
    o->scale = 1.0;
    o->markdown = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *end;
        if (strncmp(a, "--reps=", 7) == 0) {
            long v = strtol(a + 7, &end, 10);
            if (*end || v < 1 || v > 1000) {
                fprintf(stderr, "%s: bad %s: --reps wants a whole number from 1 to 1000\n", argv[0], a);
                exit(2);
            }
            o->reps = (unsigned)v;
        } else if (strncmp(a, "--scale=", 8) == 0) {
            double v = strtod(a + 8, &end);
            if (*end || !(v > 0.0) || v > 1000.0) {
                fprintf(stderr, "%s: bad %s: --scale wants a number above 0 and at most 1000\n", argv[0], a);
                exit(2);
            }
            o->scale = v;
        } else if (strcmp(a, "--quick") == 0) {
            o->scale = 0.2;
            o->reps = 3;
        } else if (strcmp(a, "--long") == 0) {
            o->scale = 5.0;
        } else if (strcmp(a, "--markdown") == 0) {
            o->markdown = true;
        } else if (strcmp(a, "--no-pin") == 0) {
            bench_pin_threads = false;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout, argv[0], what, extra_usage);
            exit(0);
        } else if (!is_extra || !is_extra(a)) {
            fprintf(stderr, "%s: unknown option '%s'\n", argv[0], a);
            usage(stderr, argv[0], what, extra_usage);
            exit(2);
        }
    }
}

uint64_t bench_amount(const struct bench_opts *o, uint64_t base)
{
    double v = (double)base * o->scale;
    return v < 1.0 ? 1 : (uint64_t)v;
}

/* ---- statistics ------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct bench_stat bench_stat_of(double *v, unsigned n)
{
    struct bench_stat s = { 0, 0, 0, n };
    if (!n)
        return s;
    qsort(v, n, sizeof(*v), cmp_double);
    s.min = v[0];
    s.max = v[n - 1];
    s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
    return s;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void bench_sort_u64(uint64_t *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_u64);
}

double bench_quantile_u64(uint64_t *sorted, size_t n, double q)
{
    if (!n)
        return 0;
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return (double)sorted[i < n ? i : n - 1];
}

const char *bench_fmt_stat(char *buf, size_t len, struct bench_stat s, int decimals)
{
    snprintf(buf, len, "%.*f (%.*f-%.*f)", decimals, s.median, decimals, s.min, decimals, s.max);
    return buf;
}

/* ---- tables ---------------------------------------------------------------- */

static unsigned widths[16];

void bench_table_begin(const struct bench_opts *o, const char *title, const char *const *cols, unsigned ncols)
{
    printf("\n%s%s\n\n", o->markdown ? "#### " : "== ", title);
    for (unsigned i = 0; i < ncols && i < 16; i++) {
        widths[i] = (unsigned)strlen(cols[i]);
        if (widths[i] < 20)
            widths[i] = 20;
        /* The first column holds labels, some long. */
        if (i == 0 && widths[i] < 42)
            widths[i] = 42;
    }
    bench_table_row(o, cols, ncols);
    if (o->markdown) {
        printf("|");
        for (unsigned i = 0; i < ncols; i++)
            printf("---|");
        printf("\n");
    } else {
        for (unsigned i = 0; i < ncols; i++)
            printf("%s%.*s", i ? "  " : "", (int)widths[i],
                   "--------------------------------------------------------------");
        printf("\n");
    }
}

void bench_table_row(const struct bench_opts *o, const char *const *cells, unsigned ncols)
{
    if (o->markdown) {
        printf("|");
        for (unsigned i = 0; i < ncols; i++)
            printf(" %s |", cells[i]);
    } else {
        for (unsigned i = 0; i < ncols; i++)
            printf("%s%-*s", i ? "  " : "", (int)(i < 16 ? widths[i] : 20), cells[i]);
    }
    printf("\n");
    fflush(stdout);
}

void bench_table_end(const struct bench_opts *o)
{
    (void)o;
    printf("\n");
}

void bench_note(const struct bench_opts *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!o->markdown)
        printf("  ");
    vprintf(fmt, ap);
    printf("\n");
    if (o->markdown)
        printf("\n");
    va_end(ap);
    fflush(stdout);
}

/* ---- machine ------------------------------------------------------------------ */

unsigned bench_nr_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (unsigned)n;
}

uint64_t bench_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* ---- SRBs ------------------------------------------------------------------ */

void *bench_srb_init(struct bench_srb *s, bool ex, UCHAR lun, const UCHAR *cdb, UCHAR cdb_len,
                     void *buf, ULONG len, ULONG flags)
{
    memset(s, 0, sizeof(*s));
    s->len = len;
    const struct ustor_srb_params p = {
        .srbex = ex, .lun = lun, .cdb = cdb, .cdb_len = cdb_len, .data = buf, .data_len = len,
        .srb_flags = flags, .sense = s->sense, .sense_len = sizeof(s->sense), .timeout_s = 10,
    };
    return ustor_srb_init(s->u.raw, sizeof(s->u.raw), &p);
}

void *bench_srb_ptr(struct bench_srb *s)
{
    return s->u.raw;
}

void bench_srb_rearm(struct bench_srb *s)
{
    SrbSetDataTransferLength(s->u.raw, s->len);
    SrbSetScsiStatus(s->u.raw, 0);
}

/* ---- adapters ---------------------------------------------------------------- */

ustor_adapter *bench_adapter(ustor_driver_entry_fn entry, const char *name,
                             const struct ustor_adapter_config *cfg, ustor_driver **drv_out)
{
    char err[512];
    ustor_driver *drv = NULL;
    ustor_adapter *ad = NULL;
    if (ustor_driver_from_entry(entry, name, &drv, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench: cannot load miniport %s: %s\n", name, err);
        exit(1);
    }
    if (ustor_adapter_create(drv, cfg, &ad, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench: cannot create an adapter for %s (args \"%s\"): %s\n", name,
                cfg->argument_string ? cfg->argument_string : "", err);
        exit(1);
    }
    *drv_out = drv;
    return ad;
}

void bench_adapter_free(ustor_adapter *ad, ustor_driver *drv)
{
    ustor_adapter_destroy(ad);
    ustor_driver_unload(drv);
}

/* ---- threads ------------------------------------------------------------------ */

/* Thread i of a measurement runs on the i-th CPU of the process's
 * affinity set: left to itself the scheduler sometimes keeps two threads
 * woken by the same barrier on one CPU for a whole run, which halved
 * two-thread figures in about one run in four on the 2-CPU test VM. */
bool bench_pin_threads = true;

static void pin_to_nth_cpu(unsigned n)
{
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
        return;
    int count = CPU_COUNT(&allowed);
    if (count <= 0)
        return;
    unsigned want = n % (unsigned)count;
    for (int cpu = 0, seen = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &allowed))
            continue;
        if ((unsigned)seen++ == want) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
            return;
        }
    }
}

struct thread_start {
    void (*fn)(void *arg, unsigned index);
    void *arg;
    unsigned index;
    pthread_barrier_t *barrier;
    uint64_t start_ns, end_ns;
};

static void *thread_main(void *p)
{
    struct thread_start *t = p;
    if (bench_pin_threads)
        pin_to_nth_cpu(t->index);
    pthread_barrier_wait(t->barrier);
    t->start_ns = bench_now_ns();
    t->fn(t->arg, t->index);
    t->end_ns = bench_now_ns();
    return NULL;
}

uint64_t bench_run_threads(unsigned n, void (*fn)(void *arg, unsigned index), void *arg)
{
    pthread_t tid[256];
    struct thread_start ts[256];
    pthread_barrier_t barrier;
    if (n > 256)
        n = 256;
    pthread_barrier_init(&barrier, NULL, n);
    for (unsigned i = 0; i < n; i++) {
        ts[i] = (struct thread_start){ fn, arg, i, &barrier, 0, 0 };
        if (pthread_create(&tid[i], NULL, thread_main, &ts[i]) != 0) {
            fprintf(stderr, "bench: pthread_create failed: %s\n", strerror(errno));
            exit(1);
        }
    }
    /* Wall time from the first thread's start to the last one's end: a
     * thread the scheduler starts late stretches it, never shrinks it. */
    uint64_t start = UINT64_MAX, end = 0;
    for (unsigned i = 0; i < n; i++) {
        pthread_join(tid[i], NULL);
        if (ts[i].start_ns < start)
            start = ts[i].start_ns;
        if (ts[i].end_ns > end)
            end = ts[i].end_ns;
    }
    pthread_barrier_destroy(&barrier);
    return end - start;
}

/* ---- the null miniport, closed loop ------------------------------------------- */

/* One per submitting thread, on its own cache lines (aligned_alloc), so
 * the counters each completion updates share no line with another
 * thread's or with the floor's device extension. */
struct null_thread {
    ustor_adapter *ad;
    struct bench_srb *srbs;
    unsigned qd;
    uint64_t total;
    uint64_t issued;
    volatile uint64_t completed;
    uint64_t errors;
    NULLMP_EXT *direct_ext;
} __attribute__((aligned(64)));

struct null_job {
    const struct null_run *r;
    struct null_thread *th;
};

static void null_port_done(void *ctx, void *srb, uint8_t status)
{
    struct null_thread *t = ctx;
    if (status != SRB_STATUS_SUCCESS)
        t->errors++;
    /* Atomic in case the port ever completes on another thread. */
    if (__atomic_add_fetch(&t->issued, 1, __ATOMIC_RELAXED) <= t->total) {
        int rc = ustor_submit_srb(t->ad, srb, null_port_done, t);
        if (rc) {
            fprintf(stderr, "bench: resubmission failed (%d): %s\n", rc, ustor_last_error());
            exit(1);
        }
    }
    /* Last: the waiter may free t as soon as it sees the count. */
    __atomic_fetch_add(&t->completed, 1, __ATOMIC_RELEASE);
}

static void null_port_thread(void *arg, unsigned index)
{
    struct null_job *j = arg;
    struct null_thread *t = &j->th[index];
    t->issued = 0;
    t->completed = 0;
    unsigned first = t->total < t->qd ? (unsigned)t->total : t->qd;
    __atomic_store_n(&t->issued, first, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < first; i++) {
        int rc = ustor_submit_srb(t->ad, bench_srb_ptr(&t->srbs[i]), null_port_done, t);
        if (rc) {
            fprintf(stderr, "bench: submission failed (%d): %s\n", rc, ustor_last_error());
            exit(1);
        }
    }
    /* Completions are inline (the null miniport completes in StartIo) but
     * wait anyway in case the port defers one to its DPC. */
    while (__atomic_load_n(&t->completed, __ATOMIC_ACQUIRE) < t->total)
        sched_yield();
}

static void null_direct_complete(void *ctx, PVOID srb)
{
    struct null_thread *t = ctx;
    if (SRB_STATUS(SrbGetSrbStatus(srb)) != SRB_STATUS_SUCCESS)
        t->errors++;
    t->completed++;
}

static void null_direct_thread(void *arg, unsigned index)
{
    struct null_job *j = arg;
    struct null_thread *t = &j->th[index];
    t->completed = 0;
    unsigned k = 0;
    while (t->completed < t->total) {
        void *srb = bench_srb_ptr(&t->srbs[k]);
        if (++k == t->qd)
            k = 0;
        if (nullmp_direct_buildio(t->direct_ext, srb))
            nullmp_direct_startio(t->direct_ext, srb);
    }
}

unsigned long bench_null_reports;
char bench_null_first_report[512];

static void null_report_sink(void *ctx, const char *text)
{
    (void)ctx;
    if (__atomic_fetch_add(&bench_null_reports, 1, __ATOMIC_RELAXED) == 0)
        snprintf(bench_null_first_report, sizeof(bench_null_first_report), "%s", text);
}

static const char *null_args(enum ustor_sync_mode m)
{
    switch (m) {
    case USTOR_SYNC_HALF_DUPLEX:
        return "sync=half";
    case USTOR_SYNC_FULL_DUPLEX:
        return "sync=full";
    case USTOR_SYNC_CONCURRENT:
        return "sync=concurrent";
    default:
        return "";
    }
}

static struct null_result null_measure(const struct bench_opts *o, const struct null_run *r, bool direct)
{
    struct null_result res;
    memset(&res, 0, sizeof(res));
    ustor_adapter *ad = NULL;
    ustor_driver *drv = NULL;
    char args[160];
    unsigned luns = r->threads > 32 ? 32 : r->threads;
    snprintf(args, sizeof(args), "%s;luns=%u%s%s", null_args(r->mode), luns, r->extra_args ? ";" : "",
             r->extra_args ? r->extra_args : "");
    if (!direct) {
        struct ustor_adapter_config cfg;
        memset(&cfg, 0, sizeof(cfg));
        cfg.argument_string = args;
        cfg.nr_cpus = r->nr_cpus;
        cfg.verifier = r->verifier;
        cfg.lock_graph = r->lock_graph;
        cfg.report_sink = null_report_sink;
        cfg.max_requests = r->threads * r->qd + 16;
        bool virt = r->mode == USTOR_SYNC_VIRTUAL;
        ad = bench_adapter(virt ? (ustor_driver_entry_fn)nullmp_virt_DriverEntry
                                : (ustor_driver_entry_fn)nullmp_phys_DriverEntry,
                           virt ? "nullmp-virt" : "nullmp-phys", &cfg, &drv);
        struct ustor_adapter_info info;
        ustor_adapter_get_info(ad, &info);
        if (info.mode != r->mode) {
            fprintf(stderr, "bench: asked for %s, the port set the adapter up as %s\n",
                    ustor_sync_mode_name(r->mode), ustor_sync_mode_name(info.mode));
            exit(1);
        }
    }
    struct null_thread *th = aligned_alloc(64, r->threads * sizeof(*th));
    if (th)
        memset(th, 0, r->threads * sizeof(*th));
    if (!th) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    const UCHAR tur[6] = { SCSIOP_TEST_UNIT_READY, 0, 0, 0, 0, 0 };
    for (unsigned i = 0; i < r->threads; i++) {
        th[i].ad = ad;
        th[i].qd = r->qd ? r->qd : 1;
        th[i].srbs = calloc(th[i].qd, sizeof(struct bench_srb));
        if (!th[i].srbs) {
            fprintf(stderr, "bench: out of memory\n");
            exit(1);
        }
        for (unsigned k = 0; k < th[i].qd; k++)
            bench_srb_init(&th[i].srbs[k], false, (UCHAR)(i % luns), tur, sizeof(tur), NULL, 0, SRB_FLAGS_NO_DATA_TRANSFER);
        th[i].direct_ext = aligned_alloc(64, (sizeof(NULLMP_EXT) + 63) & ~(size_t)63);
        if (!th[i].direct_ext) {
            fprintf(stderr, "bench: out of memory\n");
            exit(1);
        }
        nullmp_direct_init(th[i].direct_ext, null_direct_complete, &th[i]);
    }
    struct null_job job = { r, th };
    double ns[1000], iops[1000];
    unsigned reps = o->reps > 1000 ? 1000 : o->reps;
    for (unsigned rep = 0; rep <= reps; rep++) {
        /* rep 0 is the warm-up, a fifth of the work, not recorded */
        uint64_t per = rep == 0 ? r->ios_per_thread / 5 + 1 : r->ios_per_thread;
        /* Direct calls are some 30x faster: give them 10x the work so that
         * thread start-up skew does not dominate the wall time. */
        if (direct)
            per *= 10;
        for (unsigned i = 0; i < r->threads; i++)
            th[i].total = per;
        uint64_t wall = bench_run_threads(r->threads, direct ? null_direct_thread : null_port_thread, &job);
        if (rep == 0)
            continue;
        double total = (double)per * r->threads;
        ns[rep - 1] = (double)wall / total;
        iops[rep - 1] = total / ((double)wall / 1e9);
    }
    for (unsigned i = 0; i < r->threads; i++) {
        res.errors += th[i].errors;
        free(th[i].srbs);
        free(th[i].direct_ext);
    }
    free(th);
    res.ns_per_io = bench_stat_of(ns, reps);
    res.iops = bench_stat_of(iops, reps);
    if (ad)
        bench_adapter_free(ad, drv);
    return res;
}

struct null_result bench_null_port(const struct bench_opts *o, const struct null_run *r)
{
    return null_measure(o, r, false);
}

struct null_result bench_null_direct(const struct bench_opts *o, const struct null_run *r)
{
    return null_measure(o, r, true);
}
