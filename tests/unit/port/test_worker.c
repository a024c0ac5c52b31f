/* ustor-test-labels: concurrency
 *
 * test_worker.c - src/port/worker.c: StorPort work items (PASSIVE_LEVEL,
 * own thread, BUSY / UNSUCCESSFUL rules, freeing from the callback,
 * draining at removal) and StorPort timers (callback under the HwStorTimer
 * rules, BUSY while armed, cancel with 0, free).
 */
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "port_mp.h"
#include "port/port.h"

/* The IRQL as the port sees it, read through the port (a physical
 * miniport may not call Ke* routines: HwStorPortProhibitedDDIs). */
static KIRQL observed_irql(void)
{
    struct uv_where w;
    char locks[64];
    port_where(&w, NULL, NULL, locks, sizeof(locks));
    return w.irql;
}

static struct tu_reports rep;
static ustor_driver *drv;
static ustor_adapter *adapter;
static PVOID ext;

static int setup(void **state)
{
    (void)state;
    memset(&mp_state, 0, sizeof(mp_state));
    tu_reports_clear(&rep);
    adapter = mp_create(false, NULL, "", &rep, &drv);
    ext = mp_state.ext;
    return adapter ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    if (adapter)
        ustor_adapter_destroy(adapter);
    ustor_driver_unload(drv);
    adapter = NULL;
    return 0;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Waits (bounded) until *v >= want. */
static bool wait_for(volatile int *v, int want)
{
    for (int i = 0; i < 20000; i++) {
        if (__atomic_load_n(v, __ATOMIC_ACQUIRE) >= want)
            return true;
        sleep_ms(1);
    }
    return false;
}

/* ---- work items -------------------------------------------------------------------- */

static struct {
    volatile int calls;
    KIRQL irql;
    PVOID ext, ctx, worker;
    pthread_t thread;
    volatile int gate;      /* blocking callbacks wait until this is set */
    volatile int entered;
    ULONG free_status;
} wi;

static void work_record(PVOID e, PVOID ctx, PVOID worker)
{
    wi.irql = observed_irql();
    wi.ext = e;
    wi.ctx = ctx;
    wi.worker = worker;
    wi.thread = pthread_self();
    /* Work items may take Storport locks (ordinary thread context). */
    STOR_LOCK_HANDLE h;
    memset(&h, 0, sizeof(h));
    StorPortAcquireSpinLock(e, StartIoLock, NULL, &h);
    StorPortReleaseSpinLock(e, &h);
    __atomic_add_fetch(&wi.calls, 1, __ATOMIC_RELEASE);
}

static void work_block(PVOID e, PVOID ctx, PVOID worker)
{
    (void)e;
    (void)ctx;
    (void)worker;
    __atomic_store_n(&wi.entered, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 20000 && !__atomic_load_n(&wi.gate, __ATOMIC_ACQUIRE); i++)
        sleep_ms(1);
    __atomic_add_fetch(&wi.calls, 1, __ATOMIC_RELEASE);
}

static void work_free_self(PVOID e, PVOID ctx, PVOID worker)
{
    (void)ctx;
    wi.free_status = StorPortFreeWorker(e, worker);
    __atomic_add_fetch(&wi.calls, 1, __ATOMIC_RELEASE);
}

static void test_work_item_runs_at_passive_on_worker_thread(void **state)
{
    (void)state;
    memset(&wi, 0, sizeof(wi));
    PVOID w = NULL;
    assert_int_equal(StorPortInitializeWorker(ext, &w), STOR_STATUS_SUCCESS);
    assert_non_null(w);
    int ctx;
    assert_int_equal(StorPortQueueWorkItem(ext, work_record, w, &ctx), STOR_STATUS_SUCCESS);
    assert_true(wait_for(&wi.calls, 1));
    assert_int_equal(wi.irql, PASSIVE_LEVEL);
    assert_ptr_equal(wi.ext, ext);
    assert_ptr_equal(wi.ctx, &ctx);
    assert_ptr_equal(wi.worker, w);
    assert_false(pthread_equal(wi.thread, pthread_self()));
    /* Runs again once it has run. */
    assert_int_equal(StorPortQueueWorkItem(ext, work_record, w, NULL), STOR_STATUS_SUCCESS);
    assert_true(wait_for(&wi.calls, 2));
    assert_null(wi.ctx);
    assert_int_equal(StorPortFreeWorker(ext, w), STOR_STATUS_SUCCESS);
    assert_int_equal(rep.count, 0);
}

static void test_work_item_busy_while_queued(void **state)
{
    (void)state;
    memset(&wi, 0, sizeof(wi));
    PVOID a = NULL, b = NULL;
    assert_int_equal(StorPortInitializeWorker(ext, &a), STOR_STATUS_SUCCESS);
    assert_int_equal(StorPortInitializeWorker(ext, &b), STOR_STATUS_SUCCESS);
    assert_int_equal(StorPortQueueWorkItem(ext, work_block, a, NULL), STOR_STATUS_SUCCESS);
    assert_true(wait_for(&wi.entered, 1)); /* a is running and holds the worker */
    assert_int_equal(StorPortQueueWorkItem(ext, work_block, b, NULL), STOR_STATUS_SUCCESS);
    assert_int_equal(StorPortQueueWorkItem(ext, work_block, b, NULL), STOR_STATUS_BUSY);
    assert_int_equal(StorPortFreeWorker(ext, b), STOR_STATUS_BUSY);
    __atomic_store_n(&wi.gate, 1, __ATOMIC_RELEASE);
    assert_true(wait_for(&wi.calls, 2));
    ULONG st; /* BUSY until the worker has marked b idle again */
    for (int i = 0; i < 1000 && (st = StorPortFreeWorker(ext, b)) == STOR_STATUS_BUSY; i++)
        sleep_ms(1);
    assert_int_equal(st, STOR_STATUS_SUCCESS);
    assert_int_equal(StorPortFreeWorker(ext, b), STOR_STATUS_UNSUCCESSFUL); /* already free */
    for (int i = 0; i < 1000 && (st = StorPortFreeWorker(ext, a)) == STOR_STATUS_BUSY; i++)
        sleep_ms(1);
    assert_int_equal(st, STOR_STATUS_SUCCESS);
}

static void test_work_item_may_free_itself(void **state)
{
    (void)state;
    memset(&wi, 0, sizeof(wi));
    PVOID w = NULL;
    assert_int_equal(StorPortInitializeWorker(ext, &w), STOR_STATUS_SUCCESS);
    assert_int_equal(StorPortQueueWorkItem(ext, work_free_self, w, NULL), STOR_STATUS_SUCCESS);
    assert_true(wait_for(&wi.calls, 1));
    assert_int_equal(wi.free_status, STOR_STATUS_SUCCESS);
    unsigned before = tu_reports_count(&rep, "BadArgument", NULL);
    assert_int_equal(StorPortQueueWorkItem(ext, work_record, w, NULL), STOR_STATUS_INVALID_PARAMETER);
    assert_int_equal(tu_reports_count(&rep, "BadArgument", NULL), before + 1);
}

static void test_work_item_bad_arguments_and_irql(void **state)
{
    (void)state;
    int bogus;
    assert_int_equal(StorPortInitializeWorker(ext, NULL), STOR_STATUS_INVALID_PARAMETER);
    assert_int_equal(StorPortQueueWorkItem(ext, work_record, NULL, NULL), STOR_STATUS_INVALID_PARAMETER);
    assert_int_equal(StorPortQueueWorkItem(ext, work_record, &bogus, NULL), STOR_STATUS_INVALID_PARAMETER);
    assert_int_equal(StorPortFreeWorker(ext, NULL), STOR_STATUS_INVALID_PARAMETER);
    assert_int_equal(tu_reports_count(&rep, "BadArgument", NULL), 4);

    PVOID w = NULL;
    assert_int_equal(StorPortInitializeWorker(ext, &w), STOR_STATUS_SUCCESS);
    KIRQL old;
    KeRaiseIrql(HIGH_LEVEL, &old);
    ULONG st = StorPortQueueWorkItem(ext, work_record, w, NULL);
    KeLowerIrql(old);
    assert_int_equal(st, STOR_STATUS_INVALID_IRQL);
    assert_int_equal(tu_reports_count(&rep, "StorPortIrql", NULL), 1);
    assert_int_equal(StorPortFreeWorker(ext, w), STOR_STATUS_SUCCESS);
}

static volatile int drained;
static void work_count(PVOID e, PVOID ctx, PVOID worker)
{
    (void)e;
    (void)ctx;
    (void)worker;
    sleep_ms(2);
    __atomic_add_fetch(&drained, 1, __ATOMIC_RELEASE);
}

static void test_queued_work_runs_before_removal_returns(void **state)
{
    (void)state;
    drained = 0;
    PVOID w[8];
    int queued = 0;
    for (int i = 0; i < 8; i++) {
        assert_int_equal(StorPortInitializeWorker(ext, &w[i]), STOR_STATUS_SUCCESS);
        queued += StorPortQueueWorkItem(ext, work_count, w[i], NULL) == STOR_STATUS_SUCCESS;
    }
    assert_int_equal(queued, 8);
    ustor_adapter_destroy(adapter);
    adapter = NULL;
    assert_int_equal(__atomic_load_n(&drained, __ATOMIC_ACQUIRE), 8);
}

/* Several threads queue their own work items as fast as they can. */
struct hammer {
    PVOID worker;
    volatile int ran;
    int queued;
    uint64_t rng;
};

static void work_hammer(PVOID e, PVOID ctx, PVOID worker)
{
    (void)e;
    (void)worker;
    struct hammer *h = ctx;
    __atomic_add_fetch(&h->ran, 1, __ATOMIC_RELEASE);
}

static void *hammer_thread(void *arg)
{
    struct hammer *h = arg;
    unsigned n = tu_iterations(2000);
    for (unsigned i = 0; i < n; i++) {
        ULONG st = StorPortQueueWorkItem(ext, work_hammer, h->worker, h);
        if (st == STOR_STATUS_SUCCESS)
            h->queued++;
        else if (st != STOR_STATUS_BUSY)
            return (void *)1;
        if (tu_rand(&h->rng) % 8 == 0)
            sched_yield();
    }
    return NULL;
}

static void test_concurrent_queueing_runs_every_accepted_item(void **state)
{
    (void)state;
    uint64_t seed = tu_seed();
    struct hammer h[4];
    pthread_t t[4];
    memset(h, 0, sizeof(h));
    for (int i = 0; i < 4; i++) {
        h[i].rng = seed + (uint64_t)i;
        assert_int_equal(StorPortInitializeWorker(ext, &h[i].worker), STOR_STATUS_SUCCESS);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer_thread, &h[i]), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        assert_null(r);
    }
    for (int i = 0; i < 4; i++) {
        assert_true(h[i].queued > 0);
        assert_true(wait_for(&h[i].ran, h[i].queued));
        assert_int_equal(h[i].ran, h[i].queued);
    }
    assert_int_equal(rep.count, 0);
}

/* ---- timers --------------------------------------------------------------------------- */

static struct {
    volatile int calls;
    KIRQL irql;
    PVOID ext, ctx;
    int rearm;              /* re-request from the callback this many times */
    PVOID handle;
    ULONG rearm_status;
} tm;

static void timer_cb(PVOID e, PVOID ctx)
{
    tm.irql = observed_irql();
    tm.ext = e;
    tm.ctx = ctx;
    if (tm.rearm > 0) {
        tm.rearm--;
        tm.rearm_status = StorPortRequestTimer(e, tm.handle, timer_cb, ctx, 1000, 0);
    }
    __atomic_add_fetch(&tm.calls, 1, __ATOMIC_RELEASE);
}

static void test_timer_fires_under_hw_timer_rules(void **state)
{
    (void)state;
    memset(&tm, 0, sizeof(tm));
    PVOID t = NULL;
    assert_int_equal(StorPortInitializeTimer(ext, &t), STOR_STATUS_SUCCESS);
    assert_non_null(t);
    tm.handle = t;
    int ctx;
    assert_int_equal(StorPortRequestTimer(ext, t, timer_cb, &ctx, 2000, 0), STOR_STATUS_SUCCESS);
    assert_true(wait_for(&tm.calls, 1));
    /* Full duplex: HwStorTimer runs at DISPATCH_LEVEL holding the StartIo lock. */
    assert_int_equal(tm.irql, DISPATCH_LEVEL);
    assert_ptr_equal(tm.ext, ext);
    assert_ptr_equal(tm.ctx, &ctx);
    assert_int_equal(StorPortFreeTimer(ext, t), STOR_STATUS_SUCCESS);
    assert_int_equal(StorPortFreeTimer(ext, t), STOR_STATUS_UNSUCCESSFUL);
    assert_int_equal(StorPortRequestTimer(ext, t, timer_cb, NULL, 1000, 0), STOR_STATUS_INVALID_PARAMETER);
}

static void test_timer_busy_while_armed_and_cancel(void **state)
{
    (void)state;
    memset(&tm, 0, sizeof(tm));
    PVOID t = NULL;
    assert_int_equal(StorPortInitializeTimer(ext, &t), STOR_STATUS_SUCCESS);
    assert_int_equal(StorPortRequestTimer(ext, t, timer_cb, NULL, 10 * 1000 * 1000, 0), STOR_STATUS_SUCCESS);
    assert_int_equal(StorPortRequestTimer(ext, t, timer_cb, NULL, 1000, 0), STOR_STATUS_BUSY);
    assert_int_equal(StorPortRequestTimer(ext, t, timer_cb, NULL, 0, 0), STOR_STATUS_SUCCESS); /* cancel */
    /* Armed again after the cancel. */
    assert_int_equal(StorPortRequestTimer(ext, t, timer_cb, NULL, 10 * 1000 * 1000, 0), STOR_STATUS_SUCCESS);
    assert_int_equal(StorPortRequestTimer(ext, t, timer_cb, NULL, 0, 0), STOR_STATUS_SUCCESS);
    sleep_ms(20);
    assert_int_equal(tm.calls, 0);
    assert_int_equal(StorPortFreeTimer(ext, t), STOR_STATUS_SUCCESS);
}

static void test_timer_rearms_from_its_callback(void **state)
{
    (void)state;
    memset(&tm, 0, sizeof(tm));
    PVOID t = NULL;
    assert_int_equal(StorPortInitializeTimer(ext, &t), STOR_STATUS_SUCCESS);
    tm.handle = t;
    tm.rearm = 2;
    assert_int_equal(StorPortRequestTimer(ext, t, timer_cb, NULL, 1000, 0), STOR_STATUS_SUCCESS);
    assert_true(wait_for(&tm.calls, 3));
    assert_int_equal(tm.rearm_status, STOR_STATUS_SUCCESS);
    /* An armed timer still pending at removal is cancelled, not run. */
    assert_int_equal(StorPortRequestTimer(ext, t, timer_cb, NULL, 10 * 1000 * 1000, 0), STOR_STATUS_SUCCESS);
    ustor_adapter_destroy(adapter);
    adapter = NULL;
    assert_int_equal(tm.calls, 3);
}

static void test_timer_bad_arguments(void **state)
{
    (void)state;
    int bogus;
    assert_int_equal(StorPortInitializeTimer(ext, NULL), STOR_STATUS_INVALID_PARAMETER);
    assert_int_equal(StorPortRequestTimer(ext, &bogus, timer_cb, NULL, 1000, 0), STOR_STATUS_INVALID_PARAMETER);
    assert_int_equal(StorPortFreeTimer(ext, &bogus), STOR_STATUS_INVALID_PARAMETER);
    PVOID t = NULL;
    assert_int_equal(StorPortInitializeTimer(ext, &t), STOR_STATUS_SUCCESS);
    assert_int_equal(StorPortRequestTimer(ext, t, NULL, NULL, 1000, 0), STOR_STATUS_INVALID_PARAMETER);
    assert_int_equal(tu_reports_count(&rep, "BadArgument", NULL), 4);
    assert_int_equal(StorPortFreeTimer(ext, t), STOR_STATUS_SUCCESS);
}

int main(void)
{
    tu_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_work_item_runs_at_passive_on_worker_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_work_item_busy_while_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_work_item_may_free_itself, setup, teardown),
        cmocka_unit_test_setup_teardown(test_work_item_bad_arguments_and_irql, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queued_work_runs_before_removal_returns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_queueing_runs_every_accepted_item, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_fires_under_hw_timer_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_busy_while_armed_and_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_rearms_from_its_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_bad_arguments, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
