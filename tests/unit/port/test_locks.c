/* ustor-test-labels: concurrency
 *
 * test_locks.c - src/port/locks.c: StorPortAcquireSpinLock(Ex) /
 * StorPortReleaseSpinLock judged in one pass when every rule holds, and
 * by the full judgement, in its order, when one does not; and the lock
 * statistics, where every STOR_DPC's lock keeps its own record (two CPUs
 * holding two DPC locks write no common line) and the adapter's
 * "DpcLock" figure is their sum.
 */
#include <pthread.h>

#include "port_mp.h"
#include "port/port.h"

static struct tu_reports rep;
static ustor_driver *drv;
static ustor_adapter *adapter;
static struct ustor_adapter *ad;

static void dpc_routine(PSTOR_DPC dpc, PVOID ext, PVOID a1, PVOID a2)
{
    (void)dpc;
    (void)ext;
    (void)a1;
    (void)a2;
}

static int setup_with(bool collect_stats)
{
    struct ustor_adapter_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.nr_cpus = 2;
    cfg.max_requests = 16;
    cfg.verifier = USTOR_VERIFIER_LOG;
    cfg.collect_stats = collect_stats;
    cfg.report_sink = tu_reports_sink;
    cfg.report_ctx = &rep;
    memset(&mp_state, 0, sizeof(mp_state));
    tu_reports_clear(&rep);
    adapter = tu_adapter_with((ustor_driver_entry_fn)mp_phys_DriverEntry, &cfg, &drv);
    ad = (struct ustor_adapter *)adapter;
    return adapter ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    return setup_with(false);
}

static int setup_stats(void **state)
{
    (void)state;
    return setup_with(true);
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(port_thread()->nheld, 0);
    ustor_adapter_destroy(adapter);
    ustor_driver_unload(drv);
    adapter = NULL;
    return 0;
}

static const struct ustor_lock_stats *lock_stats(struct ustor_stats *st, const char *name)
{
    ustor_adapter_get_stats(adapter, st);
    for (unsigned i = 0; i < st->nr_locks; i++)
        if (strcmp(st->locks[i].name, name) == 0)
            return &st->locks[i];
    return NULL;
}

/* ---- the judgement --------------------------------------------------------- */

static void test_kept_rules_take_the_lock_without_a_report(void **state)
{
    (void)state;
    STOR_DPC dpc;
    StorPortInitializeDpc(ad->devext, &dpc, dpc_routine);
    struct port_thread *pt = port_thread();
    /* In a HwStorDpcRoutine frame: table B lets it take all three, in
     * the S4.4 order. */
    struct port_frame f;
    port_frame_enter(&f, ad, RR_DPC, rules_cell(RR_DPC, port_mode(ad)), NULL, true);
    STOR_LOCK_HANDLE hd, hs, hi;
    assert_int_equal(StorPortAcquireSpinLockEx(ad->devext, DpcLock, &dpc, &hd), STOR_STATUS_SUCCESS);
    assert_int_equal(StorPortAcquireSpinLockEx(ad->devext, StartIoLock, NULL, &hs), STOR_STATUS_SUCCESS);
    assert_int_equal(StorPortAcquireSpinLockEx(ad->devext, InterruptLock, NULL, &hi), STOR_STATUS_SUCCESS);
    assert_int_equal(pt->nheld, 3);
    assert_int_equal(ukern_irql_get(), ad->dirql);
    StorPortReleaseSpinLock(ad->devext, &hi);
    assert_int_equal(ukern_irql_get(), DISPATCH_LEVEL);
    StorPortReleaseSpinLock(ad->devext, &hs);
    StorPortReleaseSpinLock(ad->devext, &hd);
    assert_int_equal(pt->nheld, 0);
    port_frame_leave(&f, true);
    assert_int_equal(ukern_irql_get(), PASSIVE_LEVEL);
    assert_int_equal(rep.count, 0);
    /* The lock words are free again: another thread's try would win. */
    assert_int_equal(__atomic_load_n(&dpc.Lock, __ATOMIC_RELAXED), 0);
    assert_int_equal(__atomic_load_n(&ad->startio_lock, __ATOMIC_RELAXED), 0);
    assert_int_equal(__atomic_load_n(&ad->intr_lock, __ATOMIC_RELAXED), 0);
}

static void test_broken_rules_are_refused_with_their_report(void **state)
{
    (void)state;
    STOR_DPC dpc;
    StorPortInitializeDpc(ad->devext, &dpc, dpc_routine);
    struct port_thread *pt = port_thread();
    STOR_LOCK_HANDLE h1, h2;

    /* The same DPC lock again: a self-deadlock, refused. */
    assert_int_equal(StorPortAcquireSpinLockEx(ad->devext, DpcLock, &dpc, &h1), STOR_STATUS_SUCCESS);
    assert_int_equal(StorPortAcquireSpinLockEx(ad->devext, DpcLock, &dpc, &h2),
                     STOR_STATUS_INVALID_DEVICE_STATE);
    assert_int_equal(tu_reports_count(&rep, "StorPortSpinLock", NULL), 1);
    assert_non_null(strstr(rep.text, "already held by this thread"));
    assert_int_equal(pt->nheld, 1);
    StorPortReleaseSpinLock(ad->devext, &h2); /* refused: nothing to release, no report */
    assert_int_equal(pt->nheld, 1);
    StorPortReleaseSpinLock(ad->devext, &h1);

    /* Interrupt before StartIo breaks S4.4: refused. */
    assert_int_equal(StorPortAcquireSpinLockEx(ad->devext, InterruptLock, NULL, &h1), STOR_STATUS_SUCCESS);
    assert_int_equal(StorPortAcquireSpinLockEx(ad->devext, StartIoLock, NULL, &h2),
                     STOR_STATUS_INVALID_DEVICE_STATE);
    assert_int_equal(tu_reports_count(&rep, "StorPortSpinLock3", NULL), 1);
    assert_non_null(strstr(rep.text, "StorPortAcquireSpinLockEx(StartIoLock) while holding InterruptLock"));
    StorPortReleaseSpinLock(ad->devext, &h1);

    /* DpcLock above DISPATCH_LEVEL: the IRQL rule. */
    ukern_irql_set(ad->dirql);
    assert_int_equal(StorPortAcquireSpinLockEx(ad->devext, DpcLock, &dpc, &h1), STOR_STATUS_INVALID_IRQL);
    ukern_irql_set(PASSIVE_LEVEL);
    assert_int_equal(tu_reports_count(&rep, "LockInvalidIrql", NULL), 1);

    /* Table B alone: full-duplex HwStorTimer runs with the StartIo lock
     * (table A) and may take only the interrupt lock; DpcLock keeps the
     * order and the IRQL rule, so it is reported and taken. */
    assert_int_equal(port_mode(ad), USTOR_SYNC_FULL_DUPLEX); /* the test miniport's default */
    struct port_frame f;
    port_frame_enter(&f, ad, RR_TIMER, rules_cell(RR_TIMER, port_mode(ad)), NULL, true);
    assert_int_equal(StorPortAcquireSpinLockEx(ad->devext, DpcLock, &dpc, &h1), STOR_STATUS_SUCCESS);
    assert_int_equal(pt->nheld, 2);
    assert_int_equal(tu_reports_count(&rep, "StorPortSpinLock3", "HwStorTimer"), 1);
    assert_non_null(strstr(rep.text, "HwStorTimer may not acquire DpcLock in full-duplex mode"));
    StorPortReleaseSpinLock(ad->devext, &h1);
    port_frame_leave(&f, true);
    assert_int_equal(pt->nheld, 0);
    assert_int_equal(rep.count, 4);
}

/* ---- statistics ------------------------------------------------------------ */

struct dpc_hammer {
    STOR_DPC dpc;
    unsigned n;
    volatile unsigned *go;
};

static void *hammer(void *arg)
{
    struct dpc_hammer *h = arg;
    while (!__atomic_load_n(h->go, __ATOMIC_ACQUIRE))
        ;
    for (unsigned i = 0; i < h->n; i++) {
        STOR_LOCK_HANDLE lh;
        StorPortAcquireSpinLock(ad->devext, DpcLock, &h->dpc, &lh);
        StorPortReleaseSpinLock(ad->devext, &lh);
    }
    return NULL;
}

static void test_each_dpc_lock_counts_on_its_own_record(void **state)
{
    (void)state;
    unsigned n = tu_iterations(20000);
    volatile unsigned go = 0;
    struct dpc_hammer h[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        memset(&h[i], 0, sizeof(h[i]));
        StorPortInitializeDpc(ad->devext, &h[i].dpc, dpc_routine);
        h[i].n = n * (unsigned)(i + 1);
        h[i].go = &go;
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &h[i]), 0);
    }
    __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);

    /* Each lock's record holds its own count; two threads on two locks
     * never contend. */
    assert_int_equal(ad->nr_dpcs, 2);
    for (int i = 0; i < 2; i++) {
        assert_ptr_equal(ad->dpcs[i].stor_dpc, &h[i].dpc);
        assert_int_equal(ad->dpcs[i].st.acquisitions, h[i].n);
        assert_int_equal(ad->dpcs[i].st.contended, 0);
    }
    /* The adapter reports them as one "DpcLock" line. */
    struct ustor_stats st;
    const struct ustor_lock_stats *d = lock_stats(&st, "DpcLock");
    assert_non_null(d);
    assert_int_equal(d->acquisitions, 3ull * n);
    assert_int_equal(d->contended, 0);
    assert_int_equal(d->hold_total_ns, 0); /* hold times only with collect_stats */
    assert_int_equal(rep.count, 0);
}

static void test_dpc_lock_hold_time_with_stats(void **state)
{
    (void)state;
    STOR_DPC a, b;
    StorPortInitializeDpc(ad->devext, &a, dpc_routine);
    StorPortInitializeDpc(ad->devext, &b, dpc_routine);
    STOR_LOCK_HANDLE ha, hb;
    /* a held for at least 2 ms, b briefly: the maximum is a's, the total
     * both. */
    StorPortAcquireSpinLock(ad->devext, DpcLock, &a, &ha);
    uint64_t t0 = ukern_now_ns();
    while (ukern_now_ns() - t0 < 2000000)
        ;
    StorPortReleaseSpinLock(ad->devext, &ha);
    StorPortAcquireSpinLock(ad->devext, DpcLock, &b, &hb);
    StorPortReleaseSpinLock(ad->devext, &hb);

    struct ustor_stats st;
    const struct ustor_lock_stats *d = lock_stats(&st, "DpcLock");
    assert_non_null(d);
    assert_int_equal(d->acquisitions, 2);
    assert_true(d->hold_max_ns >= 2000000);
    assert_true(d->hold_total_ns >= d->hold_max_ns);
    assert_true(ad->dpcs[0].st.hold_max_ns >= 2000000);
    assert_true(ad->dpcs[1].st.hold_max_ns < ad->dpcs[0].st.hold_max_ns);
    assert_int_equal(rep.count, 0);
}

int main(void)
{
    tu_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kept_rules_take_the_lock_without_a_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_rules_are_refused_with_their_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_dpc_lock_counts_on_its_own_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dpc_lock_hold_time_with_stats, setup_stats, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
