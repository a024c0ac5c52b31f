/* ustor-test-labels: concurrency */
/*
 * test_verifier_clean_load.c - the other side of the corpus: the correct
 * sample miniports (ramdisk, and ramdisk-phys in half duplex, full duplex
 * and concurrent channels) under a randomized concurrent load, with BUSY
 * re-issues, a bus reset and a stop/restart in the middle, make the
 * verifier say nothing at all (half duplex: only its SpDuplex warning).
 */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ustor/builtin.h>

#include "kernel/ukern.h"

#define THREADS 3
#define SLOTS 4
#define DISK_BLOCKS 8192u /* size=4M, 512-byte blocks */

struct worker {
    ustor_adapter *ad;
    uint64_t rng;
    uint64_t deadline_ns;
    unsigned done, failures;
    char why[256];
};

static void fill_rw10(UCHAR *cdb, bool write, uint32_t lba, uint16_t blocks)
{
    memset(cdb, 0, 10);
    cdb[0] = write ? 0x2a : 0x28;
    cdb[2] = (UCHAR)(lba >> 24);
    cdb[3] = (UCHAR)(lba >> 16);
    cdb[4] = (UCHAR)(lba >> 8);
    cdb[5] = (UCHAR)lba;
    cdb[7] = (UCHAR)(blocks >> 8);
    cdb[8] = (UCHAR)blocks;
}

static void *load_thread(void *arg)
{
    struct worker *w = arg;
    struct tu_srb *s = calloc(SLOTS, sizeof(*s));
    UCHAR *bufs = calloc(SLOTS, 8 * 512);
    bool ex = ustor_adapter_uses_srbex(w->ad);
    while (ukern_now_ns() < w->deadline_ns && !w->failures) {
        int n = 1 + (int)(tu_rand(&w->rng) % SLOTS);
        for (int i = 0; i < n; i++) {
            UCHAR cdb[10];
            unsigned op = (unsigned)(tu_rand(&w->rng) % 3);
            uint16_t blocks = (uint16_t)(1 + tu_rand(&w->rng) % 8);
            uint32_t lba = (uint32_t)(tu_rand(&w->rng) % (DISK_BLOCKS - blocks));
            void *srb;
            if (op == 2) {
                memset(cdb, 0, 6);
                srb = tu_srb_init(&s[i], ex, 0, cdb, 6, NULL, 0, SRB_FLAGS_NO_DATA_TRANSFER);
            } else {
                fill_rw10(cdb, op == 1, lba, blocks);
                srb = tu_srb_init(&s[i], ex, 0, cdb, 10, bufs + (size_t)i * 8 * 512, blocks * 512u,
                                  op == 1 ? SRB_FLAGS_DATA_OUT : SRB_FLAGS_DATA_IN);
            }
            int rc;
            while ((rc = ustor_submit_srb(w->ad, srb, tu_srb_done, &s[i])) == -EBUSY)
                ;
            if (rc) {
                snprintf(w->why, sizeof(w->why), "submit: %d %s", rc, ustor_last_error());
                w->failures++;
                n = i;
                break;
            }
        }
        for (int i = 0; i < n; i++) {
            /* the bus reset in the middle may complete what is in flight */
            if (!tu_wait_done(&s[i], 1, 20000) || s[i].done != 1 ||
                (s[i].status != SRB_STATUS_SUCCESS && s[i].status != SRB_STATUS_BUS_RESET)) {
                snprintf(w->why, sizeof(w->why), "SRB %d: done %d status 0x%02x", i, s[i].done, s[i].status);
                w->failures++;
            }
            w->done++;
        }
    }
    free(bufs);
    free(s);
    return NULL;
}

static void run_clean(const char *miniport, const char *args, bool half)
{
    const struct ustor_builtin_miniport *m = ustor_builtin_find(miniport);
    assert_non_null(m);
    struct tu_reports rep;
    memset(&rep, 0, sizeof(rep));
    ustor_driver *drv = NULL;
    ustor_adapter *ad = tu_adapter(m->entry, args, &rep, &drv);
    assert_non_null(ad);

    uint64_t seed = tu_seed();
    unsigned ms = tu_iterations(800);
    struct worker w[THREADS];
    pthread_t t[THREADS];
    uint64_t start = ukern_now_ns();
    for (int i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].ad = ad;
        w[i].rng = seed + (uint64_t)i * 7919u + (uint64_t)(uintptr_t)miniport;
        w[i].deadline_ns = start + (uint64_t)ms * 1000000ull;
        pthread_create(&t[i], NULL, load_thread, &w[i]);
    }
    /* port life-cycle events in the middle of the load */
    struct timespec ts = { 0, (long)ms * 300000L };
    nanosleep(&ts, NULL);
    ustor_adapter_reset_bus(ad);
    nanosleep(&ts, NULL);
    assert_int_equal(ustor_adapter_stop_restart(ad), 0);
    unsigned total = 0, failures = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        total += w[i].done;
        failures += w[i].failures;
        if (w[i].failures)
            fprintf(stderr, "%s (%s) thread %d: %s\n", miniport, args, i, w[i].why);
    }
    tu_adapter_free(ad, drv);
    assert_int_equal(failures, 0);
    assert_true(total > 0);
    unsigned expected = half ? tu_reports_count(&rep, "SpDuplex", NULL) : 0;
    if (half)
        assert_int_equal(expected, 1);
    if (rep.count != expected)
        fail_msg("%s (%s): %u report(s) from a correct miniport:\n%s", miniport, args, rep.count - expected,
                 rep.text);
    tu_reports_clear(&rep);
}

static void test_clean_ramdisk_virtual(void **state)
{
    (void)state;
    run_clean("ramdisk", "size=4M;busy=7", false);
}

static void test_clean_ramdisk_phys_half_duplex(void **state)
{
    (void)state;
    run_clean("ramdisk-phys", "size=4M;busy=7;sync=half", true);
}

static void test_clean_ramdisk_phys_full_duplex(void **state)
{
    (void)state;
    run_clean("ramdisk-phys", "size=4M;busy=7;sync=full", false);
}

static void test_clean_ramdisk_phys_concurrent_channels(void **state)
{
    (void)state;
    run_clean("ramdisk-phys", "size=4M;busy=7;sync=concurrent;srb=scsi", false);
}

int main(void)
{
    tu_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_ramdisk_virtual),
        cmocka_unit_test(test_clean_ramdisk_phys_half_duplex),
        cmocka_unit_test(test_clean_ramdisk_phys_full_duplex),
        cmocka_unit_test(test_clean_ramdisk_phys_concurrent_channels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
