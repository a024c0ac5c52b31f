/*
 * bench_scaling.c - IOPS of the null miniport through the port as the
 * number of submitting threads grows from 1 to 2 x CPUs, per
 * synchronization mode.  Each thread sends to its own LUN and keeps
 * --qd SRBs in flight.
 *
 * Target: concurrent channels >= 1.7x the one-thread IOPS with two threads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static unsigned opt_qd = 32;
static unsigned opt_max_threads;

static bool extra(const char *a)
{
    if (strncmp(a, "--qd=", 5) == 0) {
        int v = atoi(a + 5);
        if (v < 1 || v > 1024) {
            fprintf(stderr, "bench_scaling: bad %s: --qd wants 1..1024\n", a);
            exit(2);
        }
        opt_qd = (unsigned)v;
        return true;
    }
    if (strncmp(a, "--max-threads=", 14) == 0) {
        int v = atoi(a + 14);
        if (v < 1 || v > 64) {
            fprintf(stderr, "bench_scaling: bad %s: --max-threads wants 1..64\n", a);
            exit(2);
        }
        opt_max_threads = (unsigned)v;
        return true;
    }
    return false;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse(argc, argv, &o, "IOPS as submitting threads grow, per synchronization mode",
                "  --qd=N            SRBs per thread in flight (default 32)\n"
                "  --max-threads=N   up to N threads (default 2 x CPUs)",
                extra);
    unsigned cpus = bench_nr_cpus();
    unsigned maxt = opt_max_threads ? opt_max_threads : 2 * cpus;
    if (maxt > 8)
        maxt = 8;
    const char *cols[12];
    char names[8][24];
    unsigned nc = 0;
    cols[nc++] = "mode";
    for (unsigned t = 1; t <= maxt; t++) {
        snprintf(names[t - 1], sizeof(names[t - 1]), "%u thr MIOPS", t);
        cols[nc++] = names[t - 1];
    }
    cols[nc++] = "2 thr / 1 thr";
    cols[nc++] = "best 2 / best 1";
    char title[160];
    snprintf(title, sizeof(title),
             "Scaling, null miniport, qd %u per thread, M I/Os per second, median (min-max) of %u reps, %u CPUs",
             opt_qd, o.reps, cpus);
    bench_table_begin(&o, title, cols, nc);
    double conc_ratio = -1, conc_best = -1, floor_ratio = -1;
    /* Row -1 is the direct-call floor: how much a second thread buys on
     * this machine right now, with no port at all. */
    for (int m = -1; m < USTOR_SYNC_MODE_COUNT; m++) {
        char cells[12][48];
        const char *cp[12];
        unsigned k = 0;
        snprintf(cells[k], sizeof(cells[k]), "%s",
                 m < 0 ? "direct calls (floor)" : ustor_sync_mode_name((enum ustor_sync_mode)m));
        cp[k] = cells[k];
        k++;
        /* Repetitions are interleaved: rep i runs 1, 2, ... threads back to
         * back (each on a fresh adapter with its own warm-up), so a burst
         * of other load falls on neighbouring thread counts alike, and
         * the 2 / 1 ratio is taken within each repetition. */
        struct bench_opts one_rep = o;
        one_rep.reps = 1;
        unsigned reps = o.reps > 100 ? 100 : o.reps;
        double miops[8][100], paired[100];
        for (unsigned i = 0; i < reps; i++) {
            for (unsigned t = 1; t <= maxt; t++) {
                struct null_run r = {
                    .mode = m < 0 ? USTOR_SYNC_VIRTUAL : (enum ustor_sync_mode)m,
                    .threads = t,
                    .qd = opt_qd,
                    .ios_per_thread = bench_amount(&o, 300000) / t,
                    .verifier = USTOR_VERIFIER_OFF,
                };
                struct null_result res = m < 0 ? bench_null_direct(&one_rep, &r) : bench_null_port(&one_rep, &r);
                miops[t - 1][i] = res.iops.median / 1e6;
            }
            if (maxt >= 2)
                paired[i] = miops[1][i] / miops[0][i];
        }
        for (unsigned t = 1; t <= maxt; t++) {
            bench_fmt_stat(cells[k], sizeof(cells[k]), bench_stat_of(miops[t - 1], reps), 2);
            cp[k] = cells[k];
            k++;
        }
        double two_one = 0, best = 0;
        if (maxt >= 2) {
            two_one = bench_stat_of(paired, reps).median;
            best = bench_stat_of(miops[1], reps).max / bench_stat_of(miops[0], reps).max;
        }
        for (int b = 0; b < 2; b++) {
            if (maxt >= 2)
                snprintf(cells[k], sizeof(cells[k]), "%.2fx", b ? best : two_one);
            else
                snprintf(cells[k], sizeof(cells[k]), "-");
            cp[k] = cells[k];
            k++;
        }
        if (m == USTOR_SYNC_CONCURRENT && maxt >= 2) {
            conc_ratio = two_one;
            conc_best = best;
        }
        if (m < 0 && maxt >= 2)
            floor_ratio = two_one;
        bench_table_row(&o, cp, k);
    }
    bench_table_end(&o);
    bench_note(&o, "2 thr / 1 thr: the median over repetitions of each repetition's own 2-thread / 1-thread "
                   "ratio (the thread counts of one repetition run back to back). best 2 / best 1: the "
                   "fastest repetition with 2 threads over the fastest with 1.");
    if (floor_ratio >= 0)
        bench_note(&o, "the direct-call floor scaled %.2fx from 1 to 2 threads in this run: the parallelism "
                       "the machine gave, with no port at all.", floor_ratio);
    if (conc_ratio >= 0)
        bench_note(&o, "target concurrent channels, 2 threads >= 1.7x 1 thread: %.2fx (paired median; best %.2fx) -> %s",
                   conc_ratio, conc_best, conc_ratio >= 1.7 ? "MET" : "NOT MET");
    return 0;
}
