/* ustor-test-labels: concurrency */
/* Unit tests for src/kernel/timer.c: timers fire, in due-time order,
 * periodically, and can be cancelled.  No assertion depends on timing
 * beyond "eventually" (bounded polls of several seconds). */
#include <pthread.h>

#include "ktest.h"

static int setup(void **state)
{
    ukern_bind_thread_cpu(0);
    return ktest_setup_two_cpus(state);
}

static LARGE_INTEGER relative_ms(LONGLONG ms)
{
    LARGE_INTEGER due;
    due.QuadPart = -ms * 10000; /* 100 ns units, negative: relative */
    return due;
}

static volatile long g_fired;
static KIRQL g_fire_irql;
static VOID count_timer_dpc(PKDPC dpc, PVOID ctx, PVOID a1, PVOID a2)
{
    (void)dpc;
    (void)ctx;
    (void)a1;
    (void)a2;
    g_fire_irql = KeGetCurrentIrql();
    __atomic_add_fetch(&g_fired, 1, __ATOMIC_SEQ_CST);
}

static void test_timer_fires_and_queues_its_dpc(void **state)
{
    (void)state;
    g_fired = 0;
    KTIMER timer;
    KDPC dpc;
    KeInitializeTimer(&timer);
    KeInitializeDpc(&dpc, count_timer_dpc, NULL);
    KCHECK(KeReadStateTimer(&timer) == FALSE);
    KCHECK(KeSetTimer(&timer, relative_ms(2), &dpc) == FALSE);
    int ok;
    KWAIT_UNTIL(ok, __atomic_load_n(&g_fired, __ATOMIC_SEQ_CST) == 1);
    KCHECK(ok);
    KCHECK(g_fire_irql == DISPATCH_LEVEL);
    KCHECK(KeReadStateTimer(&timer) == TRUE); /* notification timer stays set */
    KCHECK(KeCancelTimer(&timer) == FALSE);   /* it already expired */
}

static int g_order[3];
static volatile int g_order_n;
static VOID order_dpc(PKDPC dpc, PVOID ctx, PVOID a1, PVOID a2)
{
    (void)dpc;
    (void)a1;
    (void)a2;
    int n = __atomic_fetch_add(&g_order_n, 1, __ATOMIC_SEQ_CST);
    if (n < 3)
        g_order[n] = (int)(intptr_t)ctx;
}

static void test_timers_fire_in_due_time_order(void **state)
{
    (void)state;
    g_order_n = 0;
    KTIMER t[3];
    KDPC d[3];
    /* set out of order: 30, 10, 20 ms; all DPCs go to this thread's CPU 0,
     * whose queue is FIFO, so the run order is the expiry order */
    const int ms[3] = {30, 10, 20};
    for (int i = 0; i < 3; i++) {
        KeInitializeTimer(&t[i]);
        KeInitializeDpc(&d[i], order_dpc, (PVOID)(intptr_t)ms[i]);
    }
    for (int i = 0; i < 3; i++)
        KCHECK(KeSetTimer(&t[i], relative_ms(ms[i]), &d[i]) == FALSE);
    int ok;
    KWAIT_UNTIL(ok, __atomic_load_n(&g_order_n, __ATOMIC_SEQ_CST) == 3);
    KCHECK(ok);
    KeFlushQueuedDpcs(); /* the last DPC may still be writing g_order */
    KCHECK(g_order[0] == 10 && g_order[1] == 20 && g_order[2] == 30);
}

static void test_periodic_timer_repeats_until_cancelled(void **state)
{
    (void)state;
    g_fired = 0;
    KTIMER timer;
    KDPC dpc;
    KeInitializeTimerEx(&timer, NotificationTimer);
    KeInitializeDpc(&dpc, count_timer_dpc, NULL);
    KCHECK(KeSetTimerEx(&timer, relative_ms(1), 1, &dpc) == FALSE);
    int ok;
    KWAIT_UNTIL(ok, __atomic_load_n(&g_fired, __ATOMIC_SEQ_CST) >= 3);
    KCHECK(ok);
    KCHECK(KeCancelTimer(&timer) == TRUE); /* periodic: still set */
    KeFlushQueuedDpcs(); /* a DPC queued before the cancel may still run */
    long after_cancel = __atomic_load_n(&g_fired, __ATOMIC_SEQ_CST);
    ktest_sleep_ms(20);
    KeFlushQueuedDpcs();
    KCHECK(__atomic_load_n(&g_fired, __ATOMIC_SEQ_CST) == after_cancel);
}

static void test_cancel_before_expiry(void **state)
{
    (void)state;
    g_fired = 0;
    KTIMER timer;
    KDPC dpc;
    KeInitializeTimer(&timer);
    KeInitializeDpc(&dpc, count_timer_dpc, NULL);
    KCHECK(KeSetTimer(&timer, relative_ms(60000), &dpc) == FALSE);
    KCHECK(KeSetTimer(&timer, relative_ms(60000), &dpc) == TRUE); /* reset */
    KCHECK(KeCancelTimer(&timer) == TRUE);
    KCHECK(KeCancelTimer(&timer) == FALSE);
    KCHECK(KeReadStateTimer(&timer) == FALSE);
    KCHECK(g_fired == 0);
}

static void test_wait_on_timer_object(void **state)
{
    (void)state;
    KTIMER timer;
    KeInitializeTimerEx(&timer, SynchronizationTimer);
    KCHECK(KeSetTimer(&timer, relative_ms(2), NULL) == FALSE);
    LARGE_INTEGER timeout = relative_ms(10000);
    KCHECK(KeWaitForSingleObject(&timer, Executive, KernelMode, FALSE,
                                 &timeout) == STATUS_SUCCESS);
    /* a synchronization timer is reset by the satisfied wait */
    KCHECK(KeReadStateTimer(&timer) == FALSE);
}

static void test_set_resets_signal_state(void **state)
{
    (void)state;
    KTIMER timer;
    KeInitializeTimer(&timer);
    KCHECK(KeSetTimer(&timer, relative_ms(1), NULL) == FALSE);
    int ok;
    KWAIT_UNTIL(ok, KeReadStateTimer(&timer) == TRUE);
    KCHECK(ok);
    KCHECK(KeSetTimer(&timer, relative_ms(60000), NULL) == FALSE);
    KCHECK(KeReadStateTimer(&timer) == FALSE);
    KCHECK(KeCancelTimer(&timer) == TRUE);
}

static void test_ns_interface_and_bad_period(void **state)
{
    (void)state;
    ktest_record_violations();
    g_fired = 0;
    KTIMER timer;
    KDPC dpc;
    KeInitializeTimer(&timer);
    KeInitializeDpc(&dpc, count_timer_dpc, NULL);
    KCHECK(KeSetTimerEx(&timer, relative_ms(60000), -5, &dpc) == FALSE);
    KCHECK(ktest_violation_count() == 1);
    KCHECK(timer.Period == 0);
    KCHECK(ukern_timer_set_ns(&timer, 500000, 500000, &dpc) == TRUE);
    int ok;
    KWAIT_UNTIL(ok, __atomic_load_n(&g_fired, __ATOMIC_SEQ_CST) >= 2);
    KCHECK(ok);
    KCHECK(KeCancelTimer(&timer) == TRUE);
    KeFlushQueuedDpcs();
}

int main(void)
{
    ktest_seed_init();
#define T(f) cmocka_unit_test_setup_teardown(f, setup, ktest_teardown_cpus)
    const struct CMUnitTest tests[] = {
        T(test_timer_fires_and_queues_its_dpc),
        T(test_timers_fire_in_due_time_order),
        T(test_periodic_timer_repeats_until_cancelled),
        T(test_cancel_before_expiry),
        T(test_wait_on_timer_object),
        T(test_set_resets_signal_state),
        T(test_ns_interface_and_bad_period),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
