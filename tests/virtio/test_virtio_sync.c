/* ustor-test-labels: concurrency;virtio */
/*
 * test_virtio_sync.c - is the virtio miniport's ring state really
 * synchronized with its ISR?  With check=1 the miniport marks each
 * queue's ISR as running and has every ring critical section outside the
 * ISR (StartIo posting, the DPC taking completions, the FLUSH after a FUA
 * write) look for it; any sighting is an overlap, i.e. a data race on the
 * rings.  In every mode the count must stay 0.  The miniport's test-only
 * nosync=1 skips the interrupt lock in those sections (it keeps the rings
 * consistent with a private spin word, so nothing breaks but the
 * guarantee): the same check must then see overlaps, which shows the check
 * can fail.  Prints its seed.
 */
#include "vtest.h"

#include <stdio.h>
#include <string.h>

#include "hw/bus.h"

int32_t virtio_DriverEntry(void *driver_object, void *registry_path);

static void run_checked(const char *args, const char *device_opts, struct virtio_miniport_stats *st)
{
    uint64_t seed = tu_seed();
    struct vt_env e;
    struct vt_setup s = { .args = args, .device_opts = device_opts };
    struct vt_stress_result r;
    char what[256];

    virtio_miniport_get_stats(st, 1);
    vt_open(&e, &s);
    vt_stress(&e, 4, tu_iterations(1500), seed, NULL, NULL, &r);
    snprintf(what, sizeof(what), "virtio [%s] device [%s]", args, device_opts);
    vt_assert_clean(&e, &r, what, seed);
    vt_close(&e);
    virtio_miniport_get_stats(st, 1);
    assert_true(st->sync_checks > 0);
    assert_true(st->isr_calls > 0);
}

static void expect_no_overlap(const char *args, const char *device_opts)
{
    struct virtio_miniport_stats st;
    run_checked(args, device_opts, &st);
    if (st.sync_overlaps != 0)
        fail_msg("[%s]: %llu of %llu ring sections ran while their queue's ISR was running", args,
                 (unsigned long long)st.sync_overlaps, (unsigned long long)st.sync_checks);
}

static void test_half_duplex_synchronized(void **s)
{
    (void)s;
    expect_no_overlap("sync=half;intr=all;check=1", "latency=zero");
}

static void test_half_duplex_permessage_synchronized(void **s)
{
    (void)s;
    expect_no_overlap("sync=half;intr=permessage;check=1", "latency=zero");
}

static void test_half_duplex_intx_synchronized(void **s)
{
    (void)s;
    expect_no_overlap("sync=half;check=1", "msix=off;latency=zero");
}

static void test_full_duplex_synchronized(void **s)
{
    (void)s;
    expect_no_overlap("sync=full;intr=all;check=1", "latency=zero");
}

static void test_full_duplex_permessage_synchronized(void **s)
{
    (void)s;
    expect_no_overlap("sync=full;intr=permessage;check=1", "latency=zero");
}

static void test_full_duplex_intx_synchronized(void **s)
{
    (void)s;
    expect_no_overlap("sync=full;check=1", "msix=off;latency=zero");
}

static void test_concurrent_synchronized(void **s)
{
    (void)s;
    expect_no_overlap("sync=concurrent;intr=all;check=1", "latency=zero");
}

static void test_concurrent_permessage_synchronized(void **s)
{
    (void)s;
    expect_no_overlap("sync=concurrent;intr=permessage;check=1", "latency=zero");
}

/* The check's own test: without the lock it must see the ISR.  Bounded:
 * a few rounds, stopping at the first sighting. */
static void test_unsynchronized_is_detected(void **s)
{
    struct virtio_miniport_stats st;
    uint64_t overlaps = 0, checks = 0;
    (void)s;
    for (int round = 0; round < 10 && overlaps == 0; round++) {
        run_checked("sync=full;check=1;nosync=1", "latency=zero", &st);
        overlaps += st.sync_overlaps;
        checks += st.sync_checks;
    }
    if (overlaps == 0)
        fail_msg("nosync=1: %llu ring sections and not one saw its ISR running; the check cannot detect a "
                 "missing lock", (unsigned long long)checks);
}

static void test_nosync_refused_in_half_duplex(void **s)
{
    char err[512];
    ustor_driver *drv;
    ustor_adapter *ad = NULL;
    struct tu_reports rep = { 0 };
    (void)s;
    /* In half duplex the port synchronizes StartIo itself: nosync would
     * test nothing, so the miniport refuses the combination. */
    const char *opts = "capacity=4M";
    struct ustor_virtio_blk_config vc = { .options = opts };
    struct ustor_bus_device *dev = ustor_virtio_blk_create(&vc, err, sizeof(err));
    assert_non_null(dev);
    assert_int_equal(ustor_driver_from_entry(virtio_DriverEntry, "virtio", &drv, err, sizeof(err)), 0);
    struct ustor_adapter_config cfg = { .argument_string = "sync=half;nosync=1", .nr_cpus = 2, .device = dev,
                                        .verifier = USTOR_VERIFIER_LOG, .report_sink = tu_reports_sink,
                                        .report_ctx = &rep };
    assert_int_not_equal(ustor_adapter_create(drv, &cfg, &ad, err, sizeof(err)), 0);
    assert_null(ad);
    assert_non_null(strstr(err, "BAD_CONFIG"));
    ustor_driver_unload(drv);
    dev->ops->destroy(dev->dev);
    tu_reports_clear(&rep);
}

int main(void)
{
    tu_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_half_duplex_synchronized),
        cmocka_unit_test(test_half_duplex_permessage_synchronized),
        cmocka_unit_test(test_half_duplex_intx_synchronized),
        cmocka_unit_test(test_full_duplex_synchronized),
        cmocka_unit_test(test_full_duplex_permessage_synchronized),
        cmocka_unit_test(test_full_duplex_intx_synchronized),
        cmocka_unit_test(test_concurrent_synchronized),
        cmocka_unit_test(test_concurrent_permessage_synchronized),
        cmocka_unit_test(test_unsynchronized_is_detected),
        cmocka_unit_test(test_nosync_refused_in_half_duplex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
