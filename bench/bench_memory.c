/*
 * bench_memory.c - resident memory per outstanding request.  For each
 * queue depth D (1, 32, 256), in a fresh child process so that freed
 * memory from an earlier depth cannot be reused: RSS (/proc/self/statm)
 * before, after creating K adapters with max_requests = D (null miniport,
 * physical full duplex, hold=1, one simulated CPU), and after sending D
 * SRBs to each, which the miniport holds.  The host's own SRBs and
 * buffers are allocated and touched before the first reading.
 *
 * Per request = (per-adapter RSS at D - per-adapter RSS at D=1) / (D - 1),
 * minus the miniport's SrbExtension.  Target: < 1 KiB of port state per
 * outstanding request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "nullmp.h"
#include "port/port.h" /* sizeof(struct port_request), for the static figure */

#define LUNS 8

static unsigned opt_adapters = 16;

static bool extra(const char *a)
{
    if (strncmp(a, "--adapters=", 11) == 0) {
        int v = atoi(a + 11);
        if (v < 1 || v > 64) {
            fprintf(stderr, "bench_memory: bad %s: --adapters wants 1..64\n", a);
            exit(2);
        }
        opt_adapters = (unsigned)v;
        return true;
    }
    return false;
}

struct mem_result {
    double adapter_bytes;   /* per adapter after creation */
    double inflight_bytes;  /* per adapter, added by D requests in flight */
    double total_bytes;     /* per adapter, both */
    unsigned long errors;
};

static volatile unsigned long g_done;

static void done_cb(void *ctx, void *srb, uint8_t status)
{
    (void)ctx;
    (void)srb;
    (void)status;
    __atomic_fetch_add(&g_done, 1, __ATOMIC_RELEASE);
}

static struct mem_result measure_child(unsigned depth, unsigned k)
{
    struct mem_result res;
    memset(&res, 0, sizeof(res));
    size_t nsrb = (size_t)depth * k;
    struct bench_srb *srbs = calloc(nsrb, sizeof(*srbs));
    ustor_adapter **ads = calloc(k, sizeof(*ads));
    ustor_driver **drvs = calloc(k, sizeof(*drvs));
    if (!srbs || !ads || !drvs) {
        res.errors = 1;
        return res;
    }
    const UCHAR tur[6] = { SCSIOP_TEST_UNIT_READY, 0, 0, 0, 0, 0 };
    for (size_t i = 0; i < nsrb; i++)
        bench_srb_init(&srbs[i], false, (UCHAR)(i % LUNS), tur, sizeof(tur), NULL, 0, SRB_FLAGS_NO_DATA_TRANSFER);
    char args[64];
    snprintf(args, sizeof(args), "sync=full;hold=1;luns=%d", LUNS);
    struct ustor_adapter_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.argument_string = args;
    cfg.nr_cpus = 1;
    cfg.max_requests = depth;
    cfg.verifier = USTOR_VERIFIER_OFF;
    /* A first adapter, made and destroyed, warms up the library (thread
     * pools, lazily bound symbols, malloc arenas) out of the figures. */
    ustor_driver *wd;
    ustor_adapter *wa = bench_adapter((ustor_driver_entry_fn)nullmp_phys_DriverEntry, "nullmp-phys", &cfg, &wd);
    bench_adapter_free(wa, wd);

    uint64_t rss0 = bench_rss_bytes();
    for (unsigned a = 0; a < k; a++)
        ads[a] = bench_adapter((ustor_driver_entry_fn)nullmp_phys_DriverEntry, "nullmp-phys", &cfg, &drvs[a]);
    uint64_t rss1 = bench_rss_bytes();
    for (unsigned a = 0; a < k; a++)
        for (unsigned i = 0; i < depth; i++) {
            int rc = ustor_submit_srb(ads[a], bench_srb_ptr(&srbs[(size_t)a * depth + i]), done_cb, NULL);
            if (rc) {
                fprintf(stderr, "bench_memory: submission %u of adapter %u failed (%d): %s\n", i, a, rc,
                        ustor_last_error());
                res.errors++;
            }
        }
    uint64_t rss2 = bench_rss_bytes();
    if (__atomic_load_n(&g_done, __ATOMIC_ACQUIRE) != 0) {
        fprintf(stderr, "bench_memory: %lu requests completed early; the figure is low\n", g_done);
        res.errors++;
    }
    for (unsigned a = 0; a < k; a++)
        ustor_adapter_raise_interrupt(ads[a], 0);
    for (int spin = 0; spin < 5000 && __atomic_load_n(&g_done, __ATOMIC_ACQUIRE) < nsrb; spin++)
        usleep(1000);
    for (unsigned a = 0; a < k; a++)
        bench_adapter_free(ads[a], drvs[a]);
    res.adapter_bytes = ((double)rss1 - (double)rss0) / k;
    res.inflight_bytes = ((double)rss2 - (double)rss1) / k;
    res.total_bytes = ((double)rss2 - (double)rss0) / k;
    free(srbs);
    free(ads);
    free(drvs);
    return res;
}

static struct mem_result measure(unsigned depth, unsigned k)
{
    int fd[2];
    struct mem_result res;
    memset(&res, 0, sizeof(res));
    if (pipe(fd) != 0) {
        perror("bench_memory: pipe");
        exit(1);
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("bench_memory: fork");
        exit(1);
    }
    if (pid == 0) {
        close(fd[0]);
        struct mem_result r = measure_child(depth, k);
        ssize_t w = write(fd[1], &r, sizeof(r));
        _exit(w == (ssize_t)sizeof(r) ? 0 : 1);
    }
    close(fd[1]);
    ssize_t n = read(fd[0], &res, sizeof(res));
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    if (n != (ssize_t)sizeof(res) || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench_memory: the measuring child for depth %u failed\n", depth);
        exit(1);
    }
    return res;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_parse(argc, argv, &o, "resident memory per outstanding request",
                "  --adapters=N  adapters per reading, to rise above page granularity (default 16)", extra);
    static const unsigned depths[3] = { 1, 32, 256 };
    unsigned reps = o.reps > 100 ? 100 : o.reps;
    double tot[3][100], per[3][100], ad_b[3][100], fl_b[3][100];
    for (unsigned r = 0; r < reps; r++)
        for (int d = 0; d < 3; d++) {
            struct mem_result m = measure(depths[d], opt_adapters);
            ad_b[d][r] = m.adapter_bytes;
            fl_b[d][r] = m.inflight_bytes;
            tot[d][r] = m.total_bytes;
        }
    for (int d = 0; d < 3; d++)
        for (unsigned r = 0; r < reps; r++)
            per[d][r] = d == 0 ? 0
                               : (tot[d][r] - tot[0][r]) / (double)(depths[d] - 1) - NULLMP_SRB_EXTENSION_SIZE;
    const char *cols[] = { "QD (max_requests)", "adapter KiB", "in flight KiB", "bytes/request (marginal)" };
    char title[200];
    snprintf(title, sizeof(title),
             "Memory, %u adapters per reading, RSS deltas per adapter, median (min-max) of %u reps; "
             "SrbExtension (%d B) subtracted",
             opt_adapters, reps, NULLMP_SRB_EXTENSION_SIZE);
    bench_table_begin(&o, title, cols, 4);
    double worst = 0;
    for (int d = 0; d < 3; d++) {
        struct bench_stat a = bench_stat_of(ad_b[d], reps), f = bench_stat_of(fl_b[d], reps);
        a.median /= 1024, a.min /= 1024, a.max /= 1024;
        f.median /= 1024, f.min /= 1024, f.max /= 1024;
        char c0[16], c1[48], c2[48], c3[48];
        snprintf(c0, sizeof(c0), "%u", depths[d]);
        bench_fmt_stat(c1, sizeof(c1), a, 1);
        bench_fmt_stat(c2, sizeof(c2), f, 1);
        if (d == 0) {
            snprintf(c3, sizeof(c3), "(baseline)");
        } else {
            struct bench_stat p = bench_stat_of(per[d], reps);
            bench_fmt_stat(c3, sizeof(c3), p, 0);
            if (p.median > worst)
                worst = p.median;
        }
        const char *cells[] = { c0, c1, c2, c3 };
        bench_table_row(&o, cells, 4);
    }
    bench_table_end(&o);
    bench_note(&o, "static: sizeof(struct port_request) = %zu B, plus 2 SrbExtensions per request (BUSY "
                   "re-issue swaps them) = %zu B with this miniport's %d-byte extension",
               sizeof(struct port_request), sizeof(struct port_request) + 2 * NULLMP_SRB_EXTENSION_SIZE,
               NULLMP_SRB_EXTENSION_SIZE);
    bench_note(&o, "target < 1 KiB port state per outstanding request (largest marginal figure): %.0f B -> %s",
               worst, worst < 1024 ? "MET" : "NOT MET");
    return 0;
}
