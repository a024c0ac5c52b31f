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
        double one = 0, two = 0, one_best = 0, two_best = 0;
        for (unsigned t = 1; t <= maxt; t++) {
            struct null_run r = {
                .mode = m < 0 ? USTOR_SYNC_VIRTUAL : (enum ustor_sync_mode)m,
                .threads = t,
                .qd = opt_qd,
                .ios_per_thread = bench_amount(&o, 300000) / t,
                .verifier = USTOR_VERIFIER_OFF,
            };
            struct null_result res = m < 0 ? bench_null_direct(&o, &r) : bench_null_port(&o, &r);
            struct bench_stat s = res.iops;
            s.median /= 1e6;
            s.min /= 1e6;
            s.max /= 1e6;
            if (t == 1) {
                one = s.median;
                one_best = s.max;
            }
            if (t == 2) {
                two = s.median;
                two_best = s.max;
            }
            bench_fmt_stat(cells[k], sizeof(cells[k]), s, 2);
            cp[k] = cells[k];
            k++;
        }
        for (int b = 0; b < 2; b++) {
            if (maxt >= 2)
                snprintf(cells[k], sizeof(cells[k]), "%.2fx", b ? two_best / one_best : two / one);
            else
                snprintf(cells[k], sizeof(cells[k]), "-");
            cp[k] = cells[k];
            k++;
        }
        if (m == USTOR_SYNC_CONCURRENT && maxt >= 2) {
            conc_ratio = two / one;
            conc_best = two_best / one_best;
        }
        if (m < 0 && maxt >= 2)
            floor_ratio = two / one;
        bench_table_row(&o, cp, k);
    }
    bench_table_end(&o);
    bench_note(&o, "best 2 / best 1: the fastest repetition with 2 threads over the fastest with 1; other "
                   "processes only ever slow a repetition down, so this is the less noisy ratio.");
    if (floor_ratio >= 0)
        bench_note(&o, "the direct-call floor scaled %.2fx from 1 to 2 threads in this run: the parallelism "
                       "the machine gave, with no port at all.", floor_ratio);
    if (conc_ratio >= 0)
        bench_note(&o, "target concurrent channels, 2 threads >= 1.7x 1 thread: %.2fx (medians; best %.2fx) -> %s",
                   conc_ratio, conc_best, conc_ratio >= 1.7 ? "MET" : "NOT MET");
    return 0;
}
