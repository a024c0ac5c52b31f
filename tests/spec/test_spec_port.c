/* ustor-test-labels: concurrency */
/*
 * test_spec_port.c - one test per observable SPEC statement of the port
 * engine (S3, S4.5, S5), run through the probe miniport
 * (tests/miniports/probe.c), which records what the port does to it.
 */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernel/ukern.h"
#include "port/port.h"
#include "port/rules.h"
#include "probe.h"

static struct tu_reports rep;
static ustor_driver *drv;

static ustor_adapter *probe_adapter(bool virt, const char *args)
{
    probe_reset();
    tu_reports_clear(&rep);
    ustor_adapter *ad = tu_adapter(virt ? (ustor_driver_entry_fn)probe_virt_DriverEntry
                                        : (ustor_driver_entry_fn)probe_phys_DriverEntry,
                                   args, &rep, &drv);
    assert_non_null(ad);
    return ad;
}

static void done(ustor_adapter *ad)
{
    tu_adapter_free(ad, drv);
}

/* ---- load generators ---------------------------------------------------- */

struct loadgen {
    ustor_adapter *ad;
    bool ex;
    int n;
    int failures;
    struct tu_srb *srbs;
};

static void *submit_thread(void *arg)
{
    struct loadgen *g = arg;
    static const UCHAR tur[6] = { 0 };
    for (int i = 0; i < g->n; i++) {
        void *srb = tu_srb_init(&g->srbs[i], g->ex, 0, tur, 6, NULL, 0, SRB_FLAGS_NO_DATA_TRANSFER);
        int rc;
        while ((rc = ustor_submit_srb(g->ad, srb, tu_srb_done, &g->srbs[i])) == -EBUSY)
            ;
        if (rc)
            g->failures++;
    }
    for (int i = 0; i < g->n; i++)
        if (!tu_wait_done(&g->srbs[i], 1, 20000) || g->srbs[i].status != SRB_STATUS_SUCCESS ||
            g->srbs[i].done != 1)
            g->failures++;
    return NULL;
}

static int run_load(ustor_adapter *ad, bool ex, int threads, int per_thread)
{
    pthread_t t[16];
    struct loadgen g[16];
    int failures = 0;
    for (int i = 0; i < threads; i++) {
        g[i] = (struct loadgen){ ad, ex, per_thread, 0, calloc((size_t)per_thread, sizeof(struct tu_srb)) };
        pthread_create(&t[i], NULL, submit_thread, &g[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        failures += g[i].failures;
        /* exactly one completion each */
        for (int k = 0; k < per_thread; k++)
            if (g[i].srbs[k].done != 1)
                failures++;
        free(g[i].srbs);
    }
    return failures;
}

/* A "device" raising interrupts while the test runs. */
struct raiser {
    ustor_adapter *ad;
    volatile int stop;
    long raised;
};

static void *raise_thread(void *arg)
{
    struct raiser *r = arg;
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        if (ustor_adapter_raise_interrupt(r->ad, 0) == 0)
            r->raised++;
        struct timespec ts = { 0, 20000 };
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* ---- S5.3: full duplex StartIo is serialized --------------------------- */

static void test_S5_3_full_duplex_startio_never_concurrent(void **state)
{
    (void)state;
    ustor_adapter *ad = probe_adapter(false, "sync=full;rendezvous=200");
    int per = (int)tu_iterations(150);
    assert_int_equal(run_load(ad, true, 4, per), 0);
    assert_int_equal(probe_state.startio_max, 1);
    assert_int_equal(probe_state.rendezvous_hits, 0);
    assert_int_equal(probe_state.srb_seen, 4 * per);
    assert_int_equal(ustor_adapter_violations(ad), 0);
    done(ad);
}

/* ---- S5.5: concurrent channels run StartIo concurrently ----------------- */

static void test_S5_5_concurrent_channels_startio_concurrent(void **state)
{
    (void)state;
    ustor_adapter *ad = probe_adapter(false, "sync=concurrent;rendezvous=50000");
    struct ustor_adapter_info info;
    ustor_adapter_get_info(ad, &info);
    assert_int_equal(info.mode, USTOR_SYNC_CONCURRENT);
    assert_int_equal(run_load(ad, true, 4, 40), 0);
    assert_true(probe_state.rendezvous_hits > 0);
    assert_true(probe_state.startio_max >= 2);
    assert_int_equal(ustor_adapter_violations(ad), 0);
    done(ad);
}

/* ---- S5.6: virtual StartIo has no internal lock ------------------------- */

static void test_S5_6_virtual_startio_no_lock_upto_dispatch(void **state)
{
    (void)state;
    ustor_adapter *ad = probe_adapter(true, "rendezvous=50000");
    assert_int_equal(run_load(ad, true, 4, 40), 0);
    assert_true(probe_state.rendezvous_hits > 0);
    assert_true(probe_state.obs[RR_STARTIO].irql_first <= DISPATCH_LEVEL);
    assert_int_equal(probe_state.obs[RR_STARTIO].held_first, RL_NONE);
    assert_int_equal(ustor_adapter_violations(ad), 0);
    done(ad);
}

/* ---- S5.4: half duplex StartIo never overlaps the ISR ------------------- */

static void test_S5_4_half_duplex_startio_never_overlaps_isr(void **state)
{
    (void)state;
    ustor_adapter *ad = probe_adapter(false, "sync=half;complete=isr");
    struct raiser r = { ad, 0, 0 };
    pthread_t t;
    pthread_create(&t, NULL, raise_thread, &r);
    assert_int_equal(run_load(ad, true, 3, (int)tu_iterations(200)), 0);
    __atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    uint64_t violations = ustor_adapter_violations(ad);
    done(ad); /* joins the interrupt threads: probe_state is stable now */
    assert_true(probe_state.obs[RR_INTERRUPT].calls > 0);
    assert_int_equal(probe_state.overlap_startio_isr, 0);
    assert_int_equal(probe_state.obs[RR_STARTIO].irql_first, UKERN_DIRQL_BASE);
    assert_int_equal(probe_state.obs[RR_STARTIO].held_first, RL_BIT(RL_STARTIO) | RL_BIT(RL_INTERRUPT));
    assert_int_equal(violations, 0);
}

/* ---- S3: StorPortSynchronizeAccess -------------------------------------- */

static void test_S3_1_S3_2_synchronize_access_excludes_isr_returns_value(void **state)
{
    (void)state;
    ustor_adapter *ad = probe_adapter(false, "sync=full;syncaccess=1;complete=isr");
    struct raiser r = { ad, 0, 0 };
    pthread_t t;
    pthread_create(&t, NULL, raise_thread, &r);
    assert_int_equal(run_load(ad, true, 3, (int)tu_iterations(200)), 0);
    __atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    uint64_t violations = ustor_adapter_violations(ad);
    done(ad);
    assert_true(probe_state.obs[RR_SYNCHRONIZED_ACCESS].calls > 0);
    assert_true(probe_state.obs[RR_INTERRUPT].calls > 0);
    assert_int_equal(probe_state.overlap_sync_isr, 0);
    assert_int_equal(probe_state.sync_mismatch, 0);
    assert_int_equal(probe_state.obs[RR_SYNCHRONIZED_ACCESS].irql_first, UKERN_DIRQL_BASE);
    assert_int_equal(violations, 0);
}

/* ---- S4.5 + routine IRQLs: every routine, every mode -------------------- */

static void check_obs(const char *what, const struct probe_obs *o, const struct rules_cell *cell)
{
    if (!o->calls)
        return;
    KIRQL want = rules_irql_value(cell->irql, UKERN_DIRQL_BASE);
    if (o->irql_mismatch || o->held_mismatch || !rules_irql_ok(cell->irql, o->irql_first, UKERN_DIRQL_BASE) ||
        o->held_first != cell->held)
        fail_msg("%s: entered at IRQL %u (table: %s = %u, %d mismatches), port held 0x%x (table A: 0x%x, "
                 "%d mismatches)", what, o->irql_first, rules_irql_name(cell->irql), want, o->irql_mismatch,
                 o->held_first, cell->held, o->held_mismatch);
}

static void run_table_a(bool virt, const char *args, enum ustor_sync_mode mode)
{
    ustor_adapter *ad = probe_adapter(virt, args);
    struct ustor_adapter_info info;
    ustor_adapter_get_info(ad, &info);
    assert_int_equal(info.mode, mode);
    struct raiser r = { ad, 0, 0 };
    pthread_t t;
    if (!virt)
        pthread_create(&t, NULL, raise_thread, &r);
    assert_int_equal(run_load(ad, true, 2, 50), 0);
    ustor_adapter_reset_bus(ad);
    assert_int_equal(ustor_adapter_stop_restart(ad), 0);
    assert_int_equal(run_load(ad, true, 2, 20), 0);
    for (int i = 0; i < 2000 && __atomic_load_n(&probe_state.timer_calls, __ATOMIC_ACQUIRE) < 5; i++) {
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    if (!virt) {
        __atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
        pthread_join(t, NULL);
    }
    for (int i = 0; i < 1000 && !__atomic_load_n(&probe_state.obs[RR_STATE_CHANGE].calls, __ATOMIC_ACQUIRE); i++) {
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    uint64_t violations = ustor_adapter_violations(ad);
    done(ad); /* joins the port's threads: probe_state is stable now */
    assert_true(probe_state.timer_calls >= 5);
    static const enum rules_routine checked[] = {
        RR_FIND_ADAPTER, RR_INITIALIZE, RR_INTERRUPT, RR_STARTIO, RR_BUILDIO, RR_TIMER, RR_RESET_BUS,
        RR_PASSIVE_INITIALIZE, RR_DPC, RR_STATE_CHANGE,
    };
    for (unsigned i = 0; i < sizeof(checked) / sizeof(checked[0]); i++)
        check_obs(rules_routines[checked[i]].name, &probe_state.obs[checked[i]], rules_cell(checked[i], mode));
    for (unsigned ty = 0; ty < ScsiAdapterControlMax; ty++)
        check_obs("HwStorAdapterControl", &probe_state.ac_obs[ty],
                  rules_adapter_control((SCSI_ADAPTER_CONTROL_TYPE)ty, mode));
    /* the routines the modes must have exercised */
    assert_true(probe_state.obs[RR_STARTIO].calls > 0);
    assert_true(probe_state.obs[RR_BUILDIO].calls > 0);
    assert_true(probe_state.obs[RR_RESET_BUS].calls > 0);
    assert_true(probe_state.obs[RR_DPC].calls > 0);
    assert_true(probe_state.ac_obs[ScsiStopAdapter].calls > 0);
    assert_true(probe_state.ac_obs[ScsiRestartAdapter].calls > 0);
    assert_true(probe_state.obs[RR_STATE_CHANGE].calls > 0);
    if (!virt) {
        assert_true(probe_state.obs[RR_INTERRUPT].calls > 0);
        assert_true(probe_state.obs[RR_PASSIVE_INITIALIZE].calls > 0);
    }
    assert_int_equal(violations, 0);
}

static void test_S4_5_table_A_half_duplex(void **state)
{
    (void)state;
    run_table_a(false, "sync=half;timer=1;complete=dpc", USTOR_SYNC_HALF_DUPLEX);
}

static void test_S4_5_table_A_full_duplex(void **state)
{
    (void)state;
    run_table_a(false, "sync=full;timer=1;complete=dpc", USTOR_SYNC_FULL_DUPLEX);
}

static void test_S4_5_table_A_concurrent_channels(void **state)
{
    (void)state;
    run_table_a(false, "sync=concurrent;timer=1;complete=dpc", USTOR_SYNC_CONCURRENT);
}

static void test_S4_5_table_A_virtual(void **state)
{
    (void)state;
    run_table_a(true, "timer=1;complete=dpc", USTOR_SYNC_VIRTUAL);
}

/* ---- S5.7: BUSY re-issues with a fresh SrbExtension --------------------- */

static void busy_reissue(bool ex)
{
    ustor_adapter *ad = probe_adapter(false, ex ? "sync=full;busy=1" : "sync=full;busy=1;srb=scsi");
    static UCHAR buf[512];
    const UCHAR read10[10] = { 0x28, 0, 0, 0, 0, 8, 0, 0, 1, 0 };
    for (int i = 0; i < 20; i++) {
        struct tu_srb s;
        void *srb = tu_srb_init(&s, ex, 0, read10, 10, buf, sizeof(buf), SRB_FLAGS_DATA_IN);
        assert_int_equal(ustor_submit_srb(ad, srb, tu_srb_done, &s), 0);
        assert_true(tu_wait_done(&s, 1, 5000));
        assert_int_equal(s.done, 1);
        assert_int_equal(s.status, SRB_STATUS_SUCCESS);
        assert_int_equal(SrbGetDataTransferLength(srb), sizeof(buf));
        struct probe_track *t = NULL;
        for (int k = 0; k < probe_state.track_n; k++)
            if (probe_state.track[k].srb == srb)
                t = &probe_state.track[k];
        assert_non_null(t);
        assert_int_equal(t->buildio, 2);
        assert_int_equal(t->startio, 2);
        assert_ptr_not_equal(t->ext[0], t->ext[1]);
        assert_int_equal(t->dtl[1], sizeof(buf));
        __atomic_store_n(&t->srb, NULL, __ATOMIC_RELEASE); /* the next SRB reuses this stack slot */
    }
    struct ustor_stats st;
    ustor_adapter_get_stats(ad, &st);
    assert_int_equal(st.busy_reissues, 20);
    assert_int_equal(ustor_adapter_violations(ad), 0);
    done(ad);
}

static void test_S5_7_busy_reissues_buildio_startio_fresh_extension_srbex(void **state)
{
    (void)state;
    busy_reissue(true);
}

static void test_S5_7_busy_reissues_buildio_startio_fresh_extension_scsi(void **state)
{
    (void)state;
    busy_reissue(false);
}

/* ---- S5.9: both SRB kinds -------------------------------------------- */

static void test_S5_9_both_srb_kinds_end_to_end(void **state)
{
    (void)state;
    const UCHAR tur[6] = { 0 };
    for (int ex = 0; ex < 2; ex++) {
        ustor_adapter *ad = probe_adapter(ex == 0, ex ? "srb=ex" : "srb=scsi");
        assert_int_equal(ustor_adapter_uses_srbex(ad), ex == 1);
        struct tu_srb s;
        void *srb = tu_srb_init(&s, ex == 1, 0, tur, 6, NULL, 0, SRB_FLAGS_NO_DATA_TRANSFER);
        assert_int_equal(ustor_submit_srb(ad, srb, tu_srb_done, &s), 0);
        assert_true(tu_wait_done(&s, 1, 5000));
        assert_int_equal(s.status, SRB_STATUS_SUCCESS);
        /* the other kind is refused with a reason */
        struct tu_srb w;
        srb = tu_srb_init(&w, ex == 0, 0, tur, 6, NULL, 0, SRB_FLAGS_NO_DATA_TRANSFER);
        assert_int_equal(ustor_submit_srb(ad, srb, tu_srb_done, &w), -EINVAL);
        assert_non_null(strstr(ustor_last_error(), ex ? "SCSI_REQUEST_BLOCK" : "STORAGE_REQUEST_BLOCK"));
        assert_int_equal(w.done, 0);
        done(ad);
    }
}

/* ---- timeouts ----------------------------------------------------------- */

static void test_S5_1_timeout_resets_bus_and_completes_with_timeout(void **state)
{
    (void)state;
    ustor_adapter *ad = probe_adapter(false, "sync=full;never=5;srb=scsi");
    const UCHAR tur[6] = { 0 };
    struct tu_srb s;
    SCSI_REQUEST_BLOCK *srb = tu_srb_init(&s, false, 0, tur, 6, NULL, 0, SRB_FLAGS_NO_DATA_TRANSFER);
    srb->QueueTag = 6;
    srb->TimeOutValue = 1;
    assert_int_equal(ustor_submit_srb(ad, srb, tu_srb_done, &s), 0);
    assert_true(tu_wait_done(&s, 1, 5000));
    assert_int_equal(s.done, 1);
    assert_int_equal(s.status, SRB_STATUS_TIMEOUT);
    assert_true(probe_state.resets >= 1);
    assert_true(tu_reports_count(&rep, "SrbTimeout", NULL) >= 1);
    done(ad);
}

static void test_shutdown_completes_never_completed_srb(void **state)
{
    (void)state;
    ustor_adapter *ad = probe_adapter(false, "sync=full;never=5;srb=scsi");
    const UCHAR tur[6] = { 0 };
    struct tu_srb s;
    SCSI_REQUEST_BLOCK *srb = tu_srb_init(&s, false, 0, tur, 6, NULL, 0, SRB_FLAGS_NO_DATA_TRANSFER);
    srb->QueueTag = 6;
    srb->TimeOutValue = 600;
    assert_int_equal(ustor_submit_srb(ad, srb, tu_srb_done, &s), 0);
    done(ad); /* must not hang */
    assert_int_equal(s.done, 1);
    assert_int_equal(s.status, SRB_STATUS_TIMEOUT);
    assert_true(tu_reports_count(&rep, "SrbNeverCompleted", NULL) >= 1);
}

/* ---- S5.2, S4.1-S4.3, S3.3 ------------------------------------------- */

static void test_S5_2_buildio_without_lock_at_dispatch_every_mode(void **state)
{
    (void)state;
    static const char *const args[] = { "sync=half", "sync=full", "sync=concurrent", NULL };
    for (int i = 0; i < 4; i++) {
        ustor_adapter *ad = probe_adapter(args[i] == NULL, args[i] ? args[i] : "");
        assert_int_equal(run_load(ad, true, 2, 20), 0);
        uint64_t v = ustor_adapter_violations(ad);
        done(ad);
        assert_int_equal(v, 0);
        assert_int_equal(probe_state.obs[RR_BUILDIO].calls, 40);
        assert_int_equal(probe_state.obs[RR_BUILDIO].held_first, RL_NONE);
        assert_int_equal(probe_state.obs[RR_BUILDIO].held_mismatch, 0);
        assert_int_equal(probe_state.obs[RR_BUILDIO].irql_first, DISPATCH_LEVEL);
        assert_int_equal(probe_state.obs[RR_BUILDIO].irql_mismatch, 0);
        /* BuildIo ran before StartIo for every SRB */
        assert_int_equal(probe_state.obs[RR_STARTIO].calls, 40);
    }
}

static KIRQL irql_now(void)
{
    struct uv_where w;
    char locks[64];
    port_where(&w, NULL, NULL, locks, sizeof(locks));
    return w.irql;
}

static void test_S4_1_S4_3_acquire_raises_handle_releases(void **state)
{
    (void)state;
    ustor_adapter *ad = probe_adapter(false, "sync=full");
    PVOID ext = ((struct ustor_adapter *)ad)->devext;
    STOR_LOCK_HANDLE h;
    memset(&h, 0, sizeof(h));
    assert_int_equal(irql_now(), PASSIVE_LEVEL);
    StorPortAcquireSpinLock(ext, StartIoLock, NULL, &h);
    assert_int_equal(h.Lock, StartIoLock);           /* S4.3: the handle names the lock */
    assert_int_equal(irql_now(), DISPATCH_LEVEL);     /* StartIo lock: DISPATCH_LEVEL */
    STOR_LOCK_HANDLE hi;
    StorPortAcquireSpinLock(ext, InterruptLock, NULL, &hi);
    assert_int_equal(hi.Lock, InterruptLock);
    assert_int_equal(irql_now(), UKERN_DIRQL_BASE);   /* interrupt lock: DIRQL */
    /* already held: taking it again would deadlock, so it is refused */
    STOR_LOCK_HANDLE h2;
    assert_int_equal(StorPortAcquireSpinLockEx(ext, StartIoLock, NULL, &h2), STOR_STATUS_INVALID_DEVICE_STATE);
    assert_true(tu_reports_count(&rep, "StorPortSpinLock", NULL) >= 1);
    StorPortReleaseSpinLock(ext, &h2); /* a refused handle releases nothing */
    StorPortReleaseSpinLock(ext, &hi);
    assert_int_equal(irql_now(), DISPATCH_LEVEL);     /* back to the IRQL before it */
    StorPortReleaseSpinLock(ext, &h);
    assert_int_equal(irql_now(), PASSIVE_LEVEL);
    /* S4.3: a handle that was released is not held any more */
    StorPortReleaseSpinLock(ext, &h);
    assert_int_equal(tu_reports_count(&rep, "StorPortSpinLock4", NULL), 1);
    done(ad);
}

static void test_S3_3_extension_lives_from_initialize_to_removal(void **state)
{
    (void)state;
    ustor_adapter *ad = probe_adapter(false, "sync=full");
    PVOID ext = ((struct ustor_adapter *)ad)->devext;
    assert_ptr_equal(port_adapter_from_devext(ext), (struct ustor_adapter *)ad);
    assert_int_equal(ustor_adapter_stop_restart(ad), 0);
    assert_ptr_equal(((struct ustor_adapter *)ad)->devext, ext); /* same extension after restart */
    done(ad);
    assert_null(port_adapter_from_devext(ext)); /* gone with the adapter */
}

int main(void)
{
    tu_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_S5_3_full_duplex_startio_never_concurrent),
        cmocka_unit_test(test_S5_5_concurrent_channels_startio_concurrent),
        cmocka_unit_test(test_S5_6_virtual_startio_no_lock_upto_dispatch),
        cmocka_unit_test(test_S5_4_half_duplex_startio_never_overlaps_isr),
        cmocka_unit_test(test_S3_1_S3_2_synchronize_access_excludes_isr_returns_value),
        cmocka_unit_test(test_S4_5_table_A_half_duplex),
        cmocka_unit_test(test_S4_5_table_A_full_duplex),
        cmocka_unit_test(test_S4_5_table_A_concurrent_channels),
        cmocka_unit_test(test_S4_5_table_A_virtual),
        cmocka_unit_test(test_S5_7_busy_reissues_buildio_startio_fresh_extension_srbex),
        cmocka_unit_test(test_S5_7_busy_reissues_buildio_startio_fresh_extension_scsi),
        cmocka_unit_test(test_S5_9_both_srb_kinds_end_to_end),
        cmocka_unit_test(test_S5_1_timeout_resets_bus_and_completes_with_timeout),
        cmocka_unit_test(test_shutdown_completes_never_completed_srb),
        cmocka_unit_test(test_S5_2_buildio_without_lock_at_dispatch_every_mode),
        cmocka_unit_test(test_S4_1_S4_3_acquire_raises_handle_releases),
        cmocka_unit_test(test_S3_3_extension_lives_from_initialize_to_removal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
