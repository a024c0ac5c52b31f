/*
 * bench.h - shared pieces of the benchmark programs: options, clocks,
 * repetitions with median / min / max, SRB builders, /proc readers, and
 * the closed-loop driver of the null miniport (nullmp.h).
 *
 * Benchmarks are programs, never tests: they print tables and assert
 * nothing about speed.
 */
#ifndef USTOR_BENCH_H
#define USTOR_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <storport.h>
#include <srbhelper.h>
#include <ustor/ustor.h>

/* ---- options ------------------------------------------------------------ */

struct bench_opts {
    unsigned reps;        /* measured repetitions (after one warm-up) */
    double scale;         /* multiplies every default amount of work */
    bool markdown;        /* tables as Markdown (run-all.sh) */
};

/* Parses --reps=N, --scale=X, --quick (scale 0.2, 3 reps), --long
 * (scale 5), --markdown, --help.  Unknown options print usage naming the
 * bad one and exit(2).  extra_usage describes program-specific options,
 * which are left to the program (is_extra returns true for them). */
void bench_parse(int argc, char **argv, struct bench_opts *o, const char *what,
                 const char *extra_usage, bool (*is_extra)(const char *arg));
uint64_t bench_amount(const struct bench_opts *o, uint64_t base);
/* Whether bench_run_threads pins thread i to the i-th allowed CPU
 * (default; --no-pin clears it). */
extern bool bench_pin_threads;

/* ---- clocks and statistics ------------------------------------------- */

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct bench_stat {
    double median, min, max;
    unsigned n;
};
/* Sorts v in place. */
struct bench_stat bench_stat_of(double *v, unsigned n);
/* Value at quantile q (0..1) of sorted v. */
double bench_quantile_u64(uint64_t *sorted, size_t n, double q);
void bench_sort_u64(uint64_t *v, size_t n);

/* "123.4 (120.1-130.2)" */
const char *bench_fmt_stat(char *buf, size_t len, struct bench_stat s, int decimals);

/* ---- tables ------------------------------------------------------------ */

void bench_table_begin(const struct bench_opts *o, const char *title, const char *const *cols, unsigned ncols);
void bench_table_row(const struct bench_opts *o, const char *const *cells, unsigned ncols);
void bench_table_end(const struct bench_opts *o);
/* A line of prose under a table (a note, a target verdict). */
void bench_note(const struct bench_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- machine ----------------------------------------------------------- */

unsigned bench_nr_cpus(void);
/* Resident set size in bytes (from /proc/self/statm). */
uint64_t bench_rss_bytes(void);

/* ---- SRBs -------------------------------------------------------------- */

struct bench_srb {
    union {
        SCSI_REQUEST_BLOCK scsi;
        STORAGE_REQUEST_BLOCK ex;
        unsigned char raw[512];
    } u;
    UCHAR sense[32];
    /* Host bookkeeping, untouched by the port. */
    uint64_t submit_ns;
    void *owner;
    ULONG len;
};

/* Builds an SRB (STORAGE_REQUEST_BLOCK when ex) for LUN 0/0/lun. */
void *bench_srb_init(struct bench_srb *s, bool ex, UCHAR lun, const UCHAR *cdb, UCHAR cdb_len,
                     void *buf, ULONG len, ULONG flags);
/* Puts back what a completion may have changed before a resubmission. */
void bench_srb_rearm(struct bench_srb *s);
void *bench_srb_ptr(struct bench_srb *s);

/* ---- adapters ------------------------------------------------------------ */

/* Verifier reports from adapters made by bench_null_port (which sends them
 * here rather than to stderr). */
extern unsigned long bench_null_reports;
/* The first report's text (truncated), or "" if none. */
extern char bench_null_first_report[512];

/* Creates an adapter or exits with the port's sentence. */
ustor_adapter *bench_adapter(ustor_driver_entry_fn entry, const char *name,
                             const struct ustor_adapter_config *cfg, ustor_driver **drv_out);
void bench_adapter_free(ustor_adapter *ad, ustor_driver *drv);

/* ---- the null miniport through the port, closed loop ----------------- */

struct null_run {
    enum ustor_sync_mode mode;
    unsigned threads;         /* submitting threads */
    unsigned qd;              /* SRBs each thread keeps in flight */
    uint64_t ios_per_thread;  /* per repetition */
    enum ustor_verifier_mode verifier;
    bool lock_graph;
    unsigned nr_cpus;         /* 0: online CPUs */
    const char *extra_args;   /* appended to the ArgumentString, or NULL */
};

struct null_result {
    struct bench_stat ns_per_io; /* wall time / total I/Os (all threads) */
    struct bench_stat iops;      /* total I/Os per second */
    uint64_t errors;             /* completions other than SUCCESS */
};

/* Through ustor_submit_srb: the callback resubmits, keeping qd in flight
 * per thread.  One adapter for all repetitions. */
struct null_result bench_null_port(const struct bench_opts *o, const struct null_run *r);
/* The floor: the same miniport's HwStorBuildIo + HwStorStartIo called
 * directly, no port, same thread count and I/O count. */
struct null_result bench_null_direct(const struct bench_opts *o, const struct null_run *r);

/* Runs fn(arg, index) on n threads started together; returns the wall
 * time from the common start to the last thread's end. */
uint64_t bench_run_threads(unsigned n, void (*fn)(void *arg, unsigned index), void *arg);

#endif /* USTOR_BENCH_H */
