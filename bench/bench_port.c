/*
 * bench_port.c - port overhead: the null miniport through the whole port
 * path (ustor_submit_srb, the callback resubmits) against the floor of
 * its own HwStorBuildIo + HwStorStartIo called directly, per
 * synchronization mode, with one submitting thread and one per core.
 *
 * Targets (issue "Benchmarks and speed"): port <= 2x the floor with one
 * thread in full-duplex and virtual modes; >= 5 M I/Os per second per
 * core.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static unsigned opt_qd = 32;
static uint64_t opt_ios = 200000;
static int opt_mode = -1;       /* -1: all */
static unsigned opt_threads;    /* 0: 1 and one per CPU */

static bool extra(const char *a)
{
    if (strncmp(a, "--qd=", 5) == 0) {
        int v = atoi(a + 5);
        if (v < 1 || v > 1024) {
            fprintf(stderr, "bench_port: bad %s: --qd wants 1..1024\n", a);
            exit(2);
        }
        opt_qd = (unsigned)v;
        return true;
    }
    if (strncmp(a, "--mode=", 7) == 0) {
        for (int m = 0; m < USTOR_SYNC_MODE_COUNT; m++)
            if (strcmp(a + 7, ustor_sync_mode_name((enum ustor_sync_mode)m)) == 0)
                opt_mode = m;
        if (opt_mode < 0) {
            fprintf(stderr, "bench_port: bad %s: --mode wants half-duplex, full-duplex, "
                            "concurrent-channels or virtual\n", a);
            exit(2);
        }
        return true;
    }
    if (strncmp(a, "--threads=", 10) == 0) {
        int v = atoi(a + 10);
        if (v < 1 || v > 256) {
            fprintf(stderr, "bench_port: bad %s: --threads wants 1..256\n", a);
            exit(2);
        }
        opt_threads = (unsigned)v;
        return true;
    }
    if (strncmp(a, "--ios=", 6) == 0) {
        long long v = atoll(a + 6);
        if (v < 1000) {
            fprintf(stderr, "bench_port: bad %s: --ios wants at least 1000 I/Os per thread\n", a);
            exit(2);
        }
        opt_ios = (uint64_t)v;
        return true;
    }
    return false;
}

/* What one clock read costs here.  The port reads no clock per request
 * (the watchdog advances the adapter's clock), and this is why. */
static double clock_ns(clockid_t id)
{
    struct timespec ts;
    const int n = 200000;
    uint64_t t0 = bench_now_ns();
    for (int i = 0; i < n; i++)
        clock_gettime(id, &ts);
    return (double)(bench_now_ns() - t0) / n;
}

/* What one uncontended lock-prefixed read-modify-write costs here,
 * measured alone.  The port does eight per I/O; inside its path they
 * overlap other work and cost far less (BENCHMARKS.md, "the atomics
 * experiment"), so this is a machine fact, not the port's price. */
static double atomic_rmw_ns(void)
{
    static volatile uint64_t word;
    const int n = 2000000;
    uint64_t t0 = bench_now_ns();
    for (int i = 0; i < n; i++)
        __atomic_fetch_add(&word, 1, __ATOMIC_SEQ_CST);
    return (double)(bench_now_ns() - t0) / n;
}

/* Floor and port repetitions alternate, each on a fresh adapter with its
 * own warm-up, so that load from other processes falls on both alike;
 * the ratio is the median of each pair's own port / floor. */
static double measure_pairs(const struct bench_opts *o, const struct null_run *r, struct null_result *floor,
                            struct null_result *port)
{
    struct bench_opts one_rep = *o;
    one_rep.reps = 1;
    enum { MAX_REPS = 100 };
    unsigned reps = o->reps > MAX_REPS ? MAX_REPS : o->reps;
    double floor_ns[MAX_REPS], port_ns[MAX_REPS], port_iops[MAX_REPS], ratio[MAX_REPS];
    uint64_t errors = 0;
    for (unsigned i = 0; i < reps; i++) {
        struct null_result f = bench_null_direct(&one_rep, r);
        struct null_result p = bench_null_port(&one_rep, r);
        floor_ns[i] = f.ns_per_io.median;
        port_ns[i] = p.ns_per_io.median;
        port_iops[i] = p.iops.median;
        ratio[i] = port_ns[i] / floor_ns[i];
        errors += p.errors;
    }
    *floor = (struct null_result){ .ns_per_io = bench_stat_of(floor_ns, reps) };
    *port = (struct null_result){
        .ns_per_io = bench_stat_of(port_ns, reps),
        .iops = bench_stat_of(port_iops, reps),
        .errors = errors,
    };
    return bench_stat_of(ratio, reps).median;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse(argc, argv, &o, "port overhead of the null miniport against direct calls",
                "  --qd=N       SRBs each thread keeps in flight (default 32)\n"
                "  --ios=N      I/Os per thread per repetition before --scale (default 200000)\n"
                "  --mode=M     only mode M (half-duplex, full-duplex, concurrent-channels, virtual)\n"
                "  --threads=N  only N submitting threads (default: 1, then one per CPU)",
                extra);
    unsigned cpus = bench_nr_cpus();
    const char *cols[] = { "mode", "threads", "floor ns/IO", "port ns/IO", "ratio", "best ratio", "port MIOPS",
                           "MIOPS/core", "CPUs seen" };
    char title[160];
    snprintf(title, sizeof(title),
             "Port overhead, null miniport, qd %u per thread, median (min-max) of %u reps, %u CPUs",
             opt_qd, o.reps, cpus);
    bench_table_begin(&o, title, cols, 9);
    double ratio_full1 = -1, ratio_virt1 = -1, best_full1 = -1, best_virt1 = -1, best_per_core = 0;
    unsigned thread_counts[2] = { opt_threads ? opt_threads : 1, cpus };
    int nr_counts = opt_threads || cpus == 1 ? 1 : 2;
    double floor_one = 0;
    for (int m = 0; m < USTOR_SYNC_MODE_COUNT; m++) {
        if (opt_mode >= 0 && m != opt_mode)
            continue;
        for (int k = 0; k < nr_counts; k++) {
            struct null_run r = {
                .mode = (enum ustor_sync_mode)m,
                .threads = thread_counts[k],
                .qd = opt_qd,
                .ios_per_thread = bench_amount(&o, opt_ios),
                .verifier = USTOR_VERIFIER_OFF,
            };
            struct null_result floor, port;
            double ratio = measure_pairs(&o, &r, &floor, &port);
            /* Other load only ever slows a repetition: fastest over fastest
             * is the steadier ratio on a shared machine. */
            double best = port.ns_per_io.min / floor.ns_per_io.min;
            /* The floor scales perfectly if the CPUs are free; how much it
             * sped up says how many CPUs this row really had. */
            if (r.threads == 1)
                floor_one = floor.ns_per_io.median;
            unsigned cores = r.threads < cpus ? r.threads : cpus;
            double per_core = port.iops.median / 1e6 / cores;
            if (m == USTOR_SYNC_FULL_DUPLEX && r.threads == 1) {
                ratio_full1 = ratio;
                best_full1 = best;
            }
            if (m == USTOR_SYNC_VIRTUAL && r.threads == 1) {
                ratio_virt1 = ratio;
                best_virt1 = best;
            }
            if (per_core > best_per_core)
                best_per_core = per_core;
            char c1[16], c2[48], c3[48], c4[16], c4b[16], c5[48], c6[16], c7[16];
            if (r.threads == 1)
                snprintf(c7, sizeof(c7), "1");
            else if (floor_one > 0)
                snprintf(c7, sizeof(c7), "%.1f", floor_one / floor.ns_per_io.median);
            else
                snprintf(c7, sizeof(c7), "-");
            snprintf(c1, sizeof(c1), "%u", r.threads);
            bench_fmt_stat(c2, sizeof(c2), floor.ns_per_io, 1);
            bench_fmt_stat(c3, sizeof(c3), port.ns_per_io, 1);
            snprintf(c4, sizeof(c4), "%.1fx", ratio);
            snprintf(c4b, sizeof(c4b), "%.1fx", best);
            struct bench_stat mi = port.iops;
            mi.median /= 1e6;
            mi.min /= 1e6;
            mi.max /= 1e6;
            bench_fmt_stat(c5, sizeof(c5), mi, 2);
            snprintf(c6, sizeof(c6), "%.2f", per_core);
            const char *cells[] = { ustor_sync_mode_name(r.mode), c1, c2, c3, c4, c4b, c5, c6, c7 };
            bench_table_row(&o, cells, 9);
            if (port.errors)
                bench_note(&o, "WARNING: %llu completions were not SRB_STATUS_SUCCESS",
                           (unsigned long long)port.errors);
        }
    }
    bench_table_end(&o);
    bench_note(&o, "CPUs seen: the floor's speed-up over one thread (2.0 = both CPUs were free for the "
                   "multi-thread row; less means other processes were running). ratio: the median of each "
                   "repetition's port / floor (floor and port repetitions alternate). best ratio: the fastest "
                   "port repetition over the fastest floor repetition.");
    if (ratio_full1 >= 0)
        bench_note(&o, "target port <= 2x floor, 1 thread, full duplex: %.1fx (best %.1fx) -> %s", ratio_full1,
                   best_full1, ratio_full1 <= 2.0 ? "MET" : "NOT MET");
    if (ratio_virt1 >= 0)
        bench_note(&o, "target port <= 2x floor, 1 thread, virtual: %.1fx (best %.1fx) -> %s", ratio_virt1,
                   best_virt1, ratio_virt1 <= 2.0 ? "MET" : "NOT MET");
    bench_note(&o, "one clock_gettime: CLOCK_MONOTONIC %.1f ns, CLOCK_MONOTONIC_COARSE %.1f ns",
               clock_ns(CLOCK_MONOTONIC), clock_ns(CLOCK_MONOTONIC_COARSE));
    bench_note(&o, "one uncontended atomic read-modify-write (lock xadd): %.1f ns", atomic_rmw_ns());
    bench_note(&o, "target >= 5 M I/Os per second per core: best %.2f M -> %s", best_per_core,
               best_per_core >= 5.0 ? "MET" : "NOT MET");
    return 0;
}
