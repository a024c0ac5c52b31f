/* ustor-test-labels: concurrency;virtio */
/*
 * test_virtio_integrity.c - the data-integrity stress on the virtio
 * miniport and the simulated virtio-blk device, in every synchronization
 * mode (half, full, concurrent) x interrupt mode (all, per message, INTx)
 * with zero device latency and with "latency=exp:20us".  Every read is
 * checked, every request completes exactly once, the disk is read back,
 * and the verifier stays silent.  Prints its seed; replay with
 * USTOR_SEED=<seed>.
 */
#include "vtest.h"

#include <stdio.h>
#include <string.h>

static void run_stats(const char *args, const char *device_opts, struct virtio_miniport_stats *out);

static void run(const char *args, const char *device_opts)
{
    struct virtio_miniport_stats st;
    run_stats(args, device_opts, &st);
}

static void run_stats(const char *args, const char *device_opts, struct virtio_miniport_stats *out)
{
    uint64_t seed = tu_seed();
    struct vt_env e;
    struct vt_setup s = { .args = args, .device_opts = device_opts };
    struct vt_stress_result r;
    struct virtio_miniport_stats st;
    char what[256];

    virtio_miniport_get_stats(&st, 1);
    vt_open(&e, &s);
    vt_stress(&e, 4, tu_iterations(1500), seed, NULL, NULL, &r);
    snprintf(what, sizeof(what), "virtio [%s] device [%s]", args, device_opts);
    vt_assert_clean(&e, &r, what, seed);
    /* Reports other than the advice against half duplex mean a rule broke. */
    unsigned reports = e.rep.count - tu_reports_count(&e.rep, "SpDuplex", NULL);
    if (reports)
        fail_msg("%s: %u verifier reports:\n%s", what, reports, e.rep.text);
    virtio_miniport_get_stats(&st, 1);
    /* The I/O went through the device, not around it. */
    assert_true(st.posted >= r.ops);
    assert_true(st.device_completions >= r.ops);
    assert_true(st.isr_calls > 0);
    assert_int_equal(st.reset_completions, 0);
    vt_close(&e);
    *out = st;
}

static void test_half_all(void **s) { (void)s; run("sync=half;intr=all", "latency=zero"); }
static void test_half_all_latency(void **s) { (void)s; run("sync=half;intr=all", "latency=exp:20us"); }
static void test_half_permessage(void **s) { (void)s; run("sync=half;intr=permessage", "latency=exp:20us"); }
static void test_half_intx(void **s) { (void)s; run("sync=half", "msix=off;latency=exp:20us"); }
static void test_full_all(void **s) { (void)s; run("sync=full;intr=all", "latency=zero"); }
static void test_full_all_latency(void **s) { (void)s; run("sync=full;intr=all", "latency=exp:20us"); }
static void test_full_permessage(void **s) { (void)s; run("sync=full;intr=permessage", "latency=zero"); }
static void test_full_permessage_latency(void **s) { (void)s; run("sync=full;intr=permessage", "latency=exp:20us"); }
static void test_full_intx(void **s) { (void)s; run("sync=full", "msix=off;latency=zero"); }
static void test_concurrent_all(void **s) { (void)s; run("sync=concurrent;intr=all", "latency=zero"); }
static void test_concurrent_all_latency(void **s) { (void)s; run("sync=concurrent;intr=all", "latency=exp:20us"); }
static void test_concurrent_permessage(void **s) { (void)s; run("sync=concurrent;intr=permessage", "latency=zero"); }
static void test_concurrent_permessage_latency(void **s)
{
    (void)s;
    run("sync=concurrent;intr=permessage", "latency=exp:20us");
}
static void test_concurrent_intx(void **s) { (void)s; run("sync=concurrent", "msix=off;latency=exp:20us"); }

static void test_full_small_ring(void **s)
{
    struct virtio_miniport_stats st;
    (void)s;
    /* 8 ring entries for 32 requests in flight: StartIo bounces the
     * excess with SRB_STATUS_BUSY and the port sends them again. */
    run_stats("sync=full", "queue_size=8;latency=exp:20us", &st);
    assert_true(st.queue_full_busy > 0);
}

static void test_concurrent_small_rings_permessage(void **s)
{
    struct virtio_miniport_stats st;
    (void)s;
    run_stats("sync=concurrent;intr=permessage;queues=2", "queue_size=4;latency=zero", &st);
    assert_true(st.queue_full_busy > 0);
}

int main(void)
{
    tu_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_half_all),
        cmocka_unit_test(test_half_all_latency),
        cmocka_unit_test(test_half_permessage),
        cmocka_unit_test(test_half_intx),
        cmocka_unit_test(test_full_all),
        cmocka_unit_test(test_full_all_latency),
        cmocka_unit_test(test_full_permessage),
        cmocka_unit_test(test_full_permessage_latency),
        cmocka_unit_test(test_full_intx),
        cmocka_unit_test(test_concurrent_all),
        cmocka_unit_test(test_concurrent_all_latency),
        cmocka_unit_test(test_concurrent_permessage),
        cmocka_unit_test(test_concurrent_permessage_latency),
        cmocka_unit_test(test_concurrent_intx),
        cmocka_unit_test(test_full_small_ring),
        cmocka_unit_test(test_concurrent_small_rings_permessage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
