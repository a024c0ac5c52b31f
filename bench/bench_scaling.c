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
    const char *cols[10];
    char names[8][24];
    unsigned nc = 0;
    cols[nc++] = "mode";
    for (unsigned t = 1; t <= maxt; t++) {
        snprintf(names[t - 1], sizeof(names[t - 1]), "%u thr MIOPS", t);
        cols[nc++] = names[t - 1];
    }
    cols[nc++] = "2 thr / 1 thr";
    char title[160];
    snprintf(title, sizeof(title),
             "Scaling, null miniport, qd %u per thread, M I/Os per second, median (min-max) of %u reps, %u CPUs",
             opt_qd, o.reps, cpus);
    bench_table_begin(&o, title, cols, nc);
    double conc_ratio = -1;
    for (int m = 0; m < USTOR_SYNC_MODE_COUNT; m++) {
        char cells[10][48];
        const char *cp[10];
        unsigned k = 0;
        snprintf(cells[k], sizeof(cells[k]), "%s", ustor_sync_mode_name((enum ustor_sync_mode)m));
        cp[k] = cells[k];
        k++;
        double one = 0, two = 0;
        for (unsigned t = 1; t <= maxt; t++) {
            struct null_run r = {
                .mode = (enum ustor_sync_mode)m,
                .threads = t,
                .qd = opt_qd,
                .ios_per_thread = bench_amount(&o, 300000) / t,
                .verifier = USTOR_VERIFIER_OFF,
            };
            struct null_result res = bench_null_port(&o, &r);
            struct bench_stat s = res.iops;
            s.median /= 1e6;
            s.min /= 1e6;
            s.max /= 1e6;
            if (t == 1)
                one = s.median;
            if (t == 2)
                two = s.median;
            bench_fmt_stat(cells[k], sizeof(cells[k]), s, 2);
            cp[k] = cells[k];
            k++;
        }
        if (maxt >= 2)
            snprintf(cells[k], sizeof(cells[k]), "%.2fx", two / one);
        else
            snprintf(cells[k], sizeof(cells[k]), "-");
        cp[k] = cells[k];
        k++;
        if (m == USTOR_SYNC_CONCURRENT && maxt >= 2)
            conc_ratio = two / one;
        bench_table_row(&o, cp, k);
    }
    bench_table_end(&o);
    if (conc_ratio >= 0)
        bench_note(&o, "target concurrent channels, 2 threads >= 1.7x 1 thread: %.2fx -> %s", conc_ratio,
                   conc_ratio >= 1.7 ? "MET" : "NOT MET");
    return 0;
}
