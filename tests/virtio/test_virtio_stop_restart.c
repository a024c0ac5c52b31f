/* ustor-test-labels: concurrency;virtio */
/*
 * test_virtio_stop_restart.c - PnP stop and restart of the virtio
 * adapter (ustor_adapter_stop_restart: ScsiStopAdapter resets the device,
 * ScsiRestartAdapter brings it back) again and again while the
 * integrity stress keeps I/O in flight: every request completes exactly
 * once and the data read back is what was written.  Prints its seed.
 */
#include "vtest.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

struct cycler {
    unsigned cycles, failures;
    char first_error[256];
};

static void stop_restart(struct vt_env *e, void *ctx)
{
    struct cycler *c = ctx;
    struct timespec ts = { 0, 2 * 1000 * 1000 };
    if (ustor_adapter_stop_restart(e->ad) != 0) {
        if (!c->failures++)
            snprintf(c->first_error, sizeof(c->first_error), "%s", ustor_last_error());
    }
    c->cycles++;
    nanosleep(&ts, NULL);
}

static void run(const char *args, const char *device_opts)
{
    uint64_t seed = tu_seed();
    struct vt_env e;
    struct vt_setup s = { .args = args, .device_opts = device_opts };
    struct vt_stress_result r;
    struct virtio_miniport_stats st;
    struct cycler c;
    char what[256];

    memset(&c, 0, sizeof(c));
    virtio_miniport_get_stats(&st, 1);
    vt_open(&e, &s);
    vt_stress(&e, 4, tu_iterations(1500), seed, stop_restart, &c, &r);
    snprintf(what, sizeof(what), "virtio [%s] device [%s], %u stop/restart cycles", args, device_opts, c.cycles);
    vt_assert_clean(&e, &r, what, seed);
    if (c.failures)
        fail_msg("%s: %u stop/restart cycles failed; first: %s", what, c.failures, c.first_error);
    /* And the adapter still works after the last restart. */
    uint8_t buf[4096];
    assert_int_equal(ustor_blk_read_sync(e.blk, 0, 8, buf, 0, NULL), 0);
    vt_close(&e);
    virtio_miniport_get_stats(&st, 1);
    assert_true(c.cycles > 0);
    /* One stop and one restart per cycle, plus the stop of the teardown. */
    assert_int_equal(st.restarts, c.cycles);
    assert_int_equal(st.stops, c.cycles + 1);
}

static void test_stop_restart_full(void **s) { (void)s; run("sync=full", "latency=exp:20us"); }
static void test_stop_restart_half(void **s) { (void)s; run("sync=half", "latency=zero"); }
static void test_stop_restart_concurrent_permessage(void **s)
{
    (void)s;
    run("sync=concurrent;intr=permessage", "latency=exp:20us");
}
static void test_stop_restart_intx(void **s) { (void)s; run("sync=full", "msix=off;latency=exp:20us"); }

int main(void)
{
    tu_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stop_restart_full),
        cmocka_unit_test(test_stop_restart_half),
        cmocka_unit_test(test_stop_restart_concurrent_permessage),
        cmocka_unit_test(test_stop_restart_intx),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
