/* ustor-test-labels: concurrency */
/* Unit tests for src/kernel/dpc.c: DPCs run at DISPATCH_LEVEL on the
 * queuing thread's CPU's DPC thread; double insert; remove; flush. */
#include <pthread.h>

#include "ktest.h"


struct dpc_obs {
    volatile int runs;
    KIRQL irql;
    bool in_dpc;
    ULONG cpu;
    PVOID ctx, a1, a2;
    pthread_t thread;
};

static VOID observe_dpc(PKDPC dpc, PVOID ctx, PVOID a1, PVOID a2)
{
    (void)dpc;
    struct dpc_obs *o = ctx;
    o->irql = KeGetCurrentIrql();
    o->in_dpc = ukern_in_dpc();
    o->cpu = KeGetCurrentProcessorNumber();
    o->ctx = ctx;
    o->a1 = a1;
    o->a2 = a2;
    o->thread = pthread_self();
    __atomic_add_fetch(&o->runs, 1, __ATOMIC_SEQ_CST);
}

static void test_dpc_runs_at_dispatch_on_dpc_thread_of_own_cpu(void **state)
{
    (void)state;
    for (ULONG cpu = 0; cpu < 2; cpu++) {
        struct dpc_obs o;
        memset(&o, 0, sizeof(o));
        KDPC dpc;
        KeInitializeDpc(&dpc, observe_dpc, &o);
        ukern_bind_thread_cpu(cpu);
        KCHECK(KeInsertQueueDpc(&dpc, (PVOID)0x11, (PVOID)0x22) == TRUE);
        KeFlushQueuedDpcs();
        KCHECK(o.runs == 1);
        KCHECK(o.irql == DISPATCH_LEVEL);
        KCHECK(o.in_dpc);
        KCHECK(o.cpu == cpu);
        KCHECK(o.ctx == &o && o.a1 == (PVOID)0x11 && o.a2 == (PVOID)0x22);
        KCHECK(!pthread_equal(o.thread, pthread_self()));
    }
    KCHECK(!ukern_in_dpc());
}

/* A DPC that holds its CPU until released, to keep others queued. */
static volatile int g_blocker_running, g_blocker_release;
static VOID blocker_dpc(PKDPC dpc, PVOID ctx, PVOID a1, PVOID a2)
{
    (void)dpc;
    (void)ctx;
    (void)a1;
    (void)a2;
    __atomic_store_n(&g_blocker_running, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&g_blocker_release, __ATOMIC_SEQ_CST))
        ktest_sleep_ms(1);
}

static void block_cpu(PKDPC blocker)
{
    g_blocker_running = g_blocker_release = 0;
    KeInitializeDpc(blocker, blocker_dpc, NULL);
    KCHECK(KeInsertQueueDpc(blocker, NULL, NULL));
    int ok;
    KWAIT_UNTIL(ok, __atomic_load_n(&g_blocker_running, __ATOMIC_SEQ_CST));
    KCHECK(ok);
}

static void test_double_insert_returns_false(void **state)
{
    (void)state;
    ukern_bind_thread_cpu(0);
    KDPC blocker, dpc;
    struct dpc_obs o;
    memset(&o, 0, sizeof(o));
    block_cpu(&blocker);
    KeInitializeDpc(&dpc, observe_dpc, &o);
    KCHECK(KeInsertQueueDpc(&dpc, (PVOID)1, NULL) == TRUE);
    KCHECK(KeInsertQueueDpc(&dpc, (PVOID)2, NULL) == FALSE);
    KCHECK(ukern_dpc_pending() == 1);
    __atomic_store_n(&g_blocker_release, 1, __ATOMIC_SEQ_CST);
    KeFlushQueuedDpcs();
    KCHECK(o.runs == 1);
    KCHECK(o.a1 == (PVOID)1); /* the second insert changed nothing */
    /* once it has run it can be queued again */
    KCHECK(KeInsertQueueDpc(&dpc, (PVOID)3, NULL) == TRUE);
    KeFlushQueuedDpcs();
    KCHECK(o.runs == 2 && o.a1 == (PVOID)3);
}

static void test_remove_queued_dpc(void **state)
{
    (void)state;
    ukern_bind_thread_cpu(1);
    KDPC blocker, d1, d2, d3;
    struct dpc_obs o1, o2, o3;
    memset(&o1, 0, sizeof(o1));
    memset(&o2, 0, sizeof(o2));
    memset(&o3, 0, sizeof(o3));
    block_cpu(&blocker);
    KeInitializeDpc(&d1, observe_dpc, &o1);
    KeInitializeDpc(&d2, observe_dpc, &o2);
    KeInitializeDpc(&d3, observe_dpc, &o3);
    KCHECK(KeInsertQueueDpc(&d1, NULL, NULL));
    KCHECK(KeInsertQueueDpc(&d2, NULL, NULL));
    KCHECK(KeInsertQueueDpc(&d3, NULL, NULL));
    KCHECK(KeRemoveQueueDpc(&d2) == TRUE);  /* middle of the queue */
    KCHECK(KeRemoveQueueDpc(&d2) == FALSE); /* no longer queued */
    KCHECK(KeRemoveQueueDpc(&d3) == TRUE);  /* tail */
    KCHECK(ukern_dpc_pending() == 1);
    __atomic_store_n(&g_blocker_release, 1, __ATOMIC_SEQ_CST);
    KeFlushQueuedDpcs();
    KCHECK(o1.runs == 1 && o2.runs == 0 && o3.runs == 0);
    KCHECK(ukern_dpc_pending() == 0);
}

static volatile int g_slow_done;
static VOID slow_dpc(PKDPC dpc, PVOID ctx, PVOID a1, PVOID a2)
{
    (void)dpc;
    (void)ctx;
    (void)a1;
    (void)a2;
    ktest_sleep_ms(20);
    __atomic_store_n(&g_slow_done, 1, __ATOMIC_SEQ_CST);
}

static void test_flush_waits_for_queued_and_running(void **state)
{
    (void)state;
    g_slow_done = 0;
    KDPC dpc;
    KeInitializeDpc(&dpc, slow_dpc, NULL);
    KCHECK(KeInsertQueueDpc(&dpc, NULL, NULL));
    KeFlushQueuedDpcs();
    KCHECK(__atomic_load_n(&g_slow_done, __ATOMIC_SEQ_CST) == 1);
}

static VOID lowering_dpc(PKDPC dpc, PVOID ctx, PVOID a1, PVOID a2)
{
    (void)dpc;
    (void)ctx;
    (void)a1;
    (void)a2;
    KeLowerIrql(PASSIVE_LEVEL); /* a bug: returns at another IRQL */
}

static void test_dpc_changing_irql_is_reported_and_repaired(void **state)
{
    (void)state;
    ktest_record_violations();
    ukern_bind_thread_cpu(0);
    KDPC bad, good;
    struct dpc_obs o;
    memset(&o, 0, sizeof(o));
    KeInitializeDpc(&bad, lowering_dpc, NULL);
    KeInitializeDpc(&good, observe_dpc, &o);
    KCHECK(KeInsertQueueDpc(&bad, NULL, NULL));
    KCHECK(KeInsertQueueDpc(&good, NULL, NULL));
    KeFlushQueuedDpcs();
    KCHECK(ktest_violation_count() == 1);
    KCHECK(strcmp(ktest_last_rule, "SpChangeIrql") == 0);
    KCHECK(o.irql == DISPATCH_LEVEL); /* the next DPC is unaffected */
}

static KSPIN_LOCK g_leaked;
static VOID leaking_dpc(PKDPC dpc, PVOID ctx, PVOID a1, PVOID a2)
{
    (void)dpc;
    (void)ctx;
    (void)a1;
    (void)a2;
    KeAcquireSpinLockAtDpcLevel(&g_leaked);
}

static void test_dpc_returning_with_lock_is_reported_and_released(void **state)
{
    (void)state;
    ktest_record_violations();
    KeInitializeSpinLock(&g_leaked);
    KDPC dpc;
    KeInitializeDpc(&dpc, leaking_dpc, NULL);
    KCHECK(KeInsertQueueDpc(&dpc, NULL, NULL));
    KeFlushQueuedDpcs();
    KCHECK(ktest_violation_count() == 1);
    KCHECK(!ukern_spin_is_held(&g_leaked));
}

static void test_flush_above_passive_is_reported(void **state)
{
    (void)state;
    ktest_record_violations();
    KIRQL old = KeRaiseIrqlToDpcLevel();
    KeFlushQueuedDpcs();
    KCHECK(ktest_violation_count() == 1);
    KeLowerIrql(old);
}

static void test_insert_without_routine_is_rejected(void **state)
{
    (void)state;
    ktest_record_violations();
    KDPC dpc;
    memset(&dpc, 0, sizeof(dpc));
    KCHECK(KeInsertQueueDpc(&dpc, NULL, NULL) == FALSE);
    KCHECK(KeInsertQueueDpc(NULL, NULL, NULL) == FALSE);
    KCHECK(ktest_violation_count() == 2);
}

/* Many threads queue many DPCs; each runs exactly once per accepted insert. */
#define QUEUERS 4
#define PER_QUEUER 500
static volatile long g_count_runs;
static VOID count_dpc(PKDPC dpc, PVOID ctx, PVOID a1, PVOID a2)
{
    (void)dpc;
    (void)ctx;
    (void)a1;
    (void)a2;
    __atomic_add_fetch(&g_count_runs, 1, __ATOMIC_SEQ_CST);
}

static volatile long g_accepted;
static void *queuer(void *arg)
{
    KDPC *dpcs = arg;
    for (int i = 0; i < PER_QUEUER; i++)
        if (KeInsertQueueDpc(&dpcs[i % 8], NULL, NULL))
            __atomic_add_fetch(&g_accepted, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void test_concurrent_inserts_run_once_each(void **state)
{
    (void)state;
    g_count_runs = g_accepted = 0;
    static KDPC dpcs[8];
    for (int i = 0; i < 8; i++)
        KeInitializeDpc(&dpcs[i], count_dpc, NULL);
    pthread_t t[QUEUERS];
    for (int i = 0; i < QUEUERS; i++)
        KCHECK(pthread_create(&t[i], NULL, queuer, dpcs) == 0);
    for (int i = 0; i < QUEUERS; i++)
        pthread_join(t[i], NULL);
    KeFlushQueuedDpcs();
    KCHECK(g_accepted > 0);
    KCHECK(g_count_runs == g_accepted);
}

static void test_insert_when_not_running_is_reported(void **state)
{
    (void)state;
    ukern_shutdown(); /* undo setup */
    ktest_record_violations();
    KDPC dpc;
    struct dpc_obs o;
    KeInitializeDpc(&dpc, observe_dpc, &o);
    KCHECK(KeInsertQueueDpc(&dpc, NULL, NULL) == FALSE);
    KCHECK(ktest_violation_count() == 1);
    KCHECK(ukern_init(1) == 0); /* for teardown */
}

int main(void)
{
    ktest_seed_init();
#define T(f) cmocka_unit_test_setup_teardown(f, ktest_setup_two_cpus, ktest_teardown_cpus)
    const struct CMUnitTest tests[] = {
        T(test_dpc_runs_at_dispatch_on_dpc_thread_of_own_cpu),
        T(test_double_insert_returns_false),
        T(test_remove_queued_dpc),
        T(test_flush_waits_for_queued_and_running),
        T(test_dpc_changing_irql_is_reported_and_repaired),
        T(test_dpc_returning_with_lock_is_reported_and_released),
        T(test_flush_above_passive_is_reported),
        T(test_insert_without_routine_is_rejected),
        T(test_concurrent_inserts_run_once_each),
        T(test_insert_when_not_running_is_reported),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
