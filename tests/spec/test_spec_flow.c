/* ustor-test-labels: concurrency */
/*
 * test_spec_flow.c - per-LUN queues honour queue depth and the busy /
 * pause state the miniport asks for (StorPortSetDeviceQueueDepth,
 * StorPortBusy, StorPortPause / StorPortResume; SPEC S6).  The probe
 * miniport holds every request until an interrupt completes it, so what
 * the port sends while the miniport is "full" is observable.
 */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "probe.h"

#define N 40

static struct tu_reports rep;
static ustor_driver *drv;
static struct tu_srb srbs[N];

static ustor_adapter *start(const char *args)
{
    probe_reset();
    tu_reports_clear(&rep);
    ustor_adapter *ad = tu_adapter((ustor_driver_entry_fn)probe_phys_DriverEntry, args, &rep, &drv);
    assert_non_null(ad);
    const UCHAR tur[6] = { 0 };
    for (int i = 0; i < N; i++) {
        void *srb = tu_srb_init(&srbs[i], true, 0, tur, 6, NULL, 0, SRB_FLAGS_NO_DATA_TRANSFER);
        assert_int_equal(ustor_submit_srb(ad, srb, tu_srb_done, &srbs[i]), 0);
    }
    return ad;
}

static void settle(void)
{
    struct timespec ts = { 0, 50 * 1000000 };
    nanosleep(&ts, NULL);
}

static int completed(void)
{
    int n = 0;
    for (int i = 0; i < N; i++)
        n += __atomic_load_n(&srbs[i].done, __ATOMIC_ACQUIRE);
    return n;
}

/* Interrupts complete what the miniport holds; returns when all are done. */
static bool drain(ustor_adapter *ad)
{
    for (int i = 0; i < 20000 && completed() < N; i++) {
        ustor_adapter_raise_interrupt(ad, 0);
        struct timespec ts = { 0, 100000 };
        nanosleep(&ts, NULL);
    }
    return completed() == N;
}

static void finish(ustor_adapter *ad)
{
    uint64_t v = ustor_adapter_violations(ad);
    tu_adapter_free(ad, drv);
    assert_int_equal(v, 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(srbs[i].done, 1);
        assert_int_equal(srbs[i].status, SRB_STATUS_SUCCESS);
    }
}

static void test_lun_queue_depth_honoured(void **s)
{
    (void)s;
    ustor_adapter *ad = start("sync=full;complete=isr;depth=4");
    settle();
    /* 40 submitted, the LUN's depth is 4: exactly 4 reach the miniport. */
    assert_int_equal(__atomic_load_n(&probe_state.srb_seen, __ATOMIC_ACQUIRE), 4);
    assert_int_equal(completed(), 0);
    assert_true(drain(ad));
    assert_true(probe_state.outstanding_max <= 4);
    finish(ad);
}

static void test_storport_busy_holds_requests(void **s)
{
    (void)s;
    ustor_adapter *ad = start("sync=full;complete=isr;busyafter=3");
    settle();
    /* StorPortBusy(3) when 3 are out: the port sends nothing more until
     * they complete. */
    assert_int_equal(__atomic_load_n(&probe_state.srb_seen, __ATOMIC_ACQUIRE), 3);
    assert_true(drain(ad));
    assert_true(probe_state.outstanding_max <= 3);
    finish(ad);
}

static void test_storport_pause_and_resume(void **s)
{
    (void)s;
    ustor_adapter *ad = start("sync=full;complete=isr;pauseat=5");
    settle();
    /* Paused (600 s) at the 5th request: nothing more starts... */
    assert_int_equal(__atomic_load_n(&probe_state.srb_seen, __ATOMIC_ACQUIRE), 5);
    /* ...until the DPC that the next interrupt runs calls StorPortResume. */
    assert_true(drain(ad));
    assert_int_equal(probe_state.srb_seen, N);
    finish(ad);
}

int main(void)
{
    tu_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lun_queue_depth_honoured),
        cmocka_unit_test(test_storport_busy_holds_requests),
        cmocka_unit_test(test_storport_pause_and_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
