/* ustor-test-labels: concurrency */
/* Unit tests for src/kernel/interrupt.c: interrupt objects, delivery and
 * KeSynchronizeExecution, named after the SPEC statements they check. */
#include <pthread.h>
#include <sched.h>

#include "ktest.h"

#define DIRQL ((KIRQL)5)
#define SYNC_IRQL ((KIRQL)7)
#define ROUNDS 3000


/* ---- shared "inside" flags ------------------------------------------------ */

static volatile int g_in_isr, g_in_sync;
static volatile int g_overlaps;
static volatile long g_isr_calls, g_sync_calls;
static volatile int g_isr_bad_irql, g_sync_bad_irql;
static KIRQL g_expected_irql;
static long g_shared_data; /* protected by the interrupt lock only */

static void spin_a_little(void)
{
    for (int i = 0; i < 50; i++)
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static BOOLEAN test_isr(PKINTERRUPT intr, PVOID ctx)
{
    (void)intr;
    (void)ctx;
    __atomic_store_n(&g_in_isr, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&g_in_sync, __ATOMIC_SEQ_CST))
        __atomic_add_fetch(&g_overlaps, 1, __ATOMIC_SEQ_CST);
    if (KeGetCurrentIrql() != g_expected_irql)
        __atomic_add_fetch(&g_isr_bad_irql, 1, __ATOMIC_SEQ_CST);
    g_shared_data++;
    spin_a_little();
    __atomic_add_fetch(&g_isr_calls, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&g_in_isr, 0, __ATOMIC_SEQ_CST);
    return TRUE;
}

static BOOLEAN sync_routine(PVOID ctx)
{
    (void)ctx;
    __atomic_store_n(&g_in_sync, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&g_in_isr, __ATOMIC_SEQ_CST))
        __atomic_add_fetch(&g_overlaps, 1, __ATOMIC_SEQ_CST);
    if (KeGetCurrentIrql() != g_expected_irql)
        __atomic_add_fetch(&g_sync_bad_irql, 1, __ATOMIC_SEQ_CST);
    g_shared_data++;
    spin_a_little();
    __atomic_add_fetch(&g_sync_calls, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&g_in_sync, 0, __ATOMIC_SEQ_CST);
    return TRUE;
}

static void reset_flags(KIRQL expected)
{
    g_in_isr = g_in_sync = g_overlaps = 0;
    g_isr_calls = g_sync_calls = 0;
    g_isr_bad_irql = g_sync_bad_irql = 0;
    g_shared_data = 0;
    g_expected_irql = expected;
}

/* Interrupt sources: one thread triggers (interrupt thread delivery), one
 * delivers synchronously on itself. */
struct source {
    PKINTERRUPT intr;
    volatile int *stop;
    int synchronous;
    long delivered;
};

static void *source_main(void *arg)
{
    struct source *s = arg;
    while (!__atomic_load_n(s->stop, __ATOMIC_SEQ_CST)) {
        if (s->synchronous) {
            if (ukern_interrupt_deliver(s->intr))
                s->delivered++;
        } else {
            (void)ukern_interrupt_trigger(s->intr);
        }
        sched_yield();
    }
    return NULL;
}

static void *sync_caller_main(void *arg)
{
    PKINTERRUPT intr = arg;
    for (int i = 0; i < ROUNDS; i++)
        (void)KeSynchronizeExecution(intr, sync_routine, NULL);
    return NULL;
}

/* Runs ISR sources against KeSynchronizeExecution callers on `sync_on`. */
static void run_exclusion(PKINTERRUPT isr_on, PKINTERRUPT sync_on)
{
    volatile int stop = 0;
    struct source src[2] = {{isr_on, &stop, 0, 0}, {isr_on, &stop, 1, 0}};
    pthread_t st[2], ct[2];
    for (int i = 0; i < 2; i++)
        KCHECK(pthread_create(&st[i], NULL, source_main, &src[i]) == 0);
    for (int i = 0; i < 2; i++)
        KCHECK(pthread_create(&ct[i], NULL, sync_caller_main, sync_on) == 0);
    for (int i = 0; i < 2; i++)
        pthread_join(ct[i], NULL);
    /* make sure the ISR really ran alongside */
    int ok;
    KWAIT_UNTIL(ok, __atomic_load_n(&g_isr_calls, __ATOMIC_SEQ_CST) > 10);
    __atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < 2; i++)
        pthread_join(st[i], NULL);
    KCHECK(ok);
}

static void test_S2_3_never_concurrent_with_isr(void **state)
{
    (void)state;
    ktest_record_violations();
    reset_flags(SYNC_IRQL);
    PKINTERRUPT intr = ukern_interrupt_create(test_isr, NULL, NULL, 0, DIRQL,
                                              SYNC_IRQL, NULL, NULL, 1);
    KCHECK(intr != NULL);
    run_exclusion(intr, intr);
    ukern_interrupt_destroy(intr);
    KCHECK(g_overlaps == 0);
    KCHECK(g_sync_calls == 2 * ROUNDS);
    KCHECK(g_shared_data == g_sync_calls + g_isr_calls);
    KCHECK(g_isr_bad_irql == 0 && g_sync_bad_irql == 0);
    KCHECK(ktest_violation_count() == 0);
}

static void test_S1_2_shared_lock_set_excludes(void **state)
{
    (void)state;
    ktest_record_violations();
    reset_flags(SYNC_IRQL);
    KSPIN_LOCK set_lock;
    KeInitializeSpinLock(&set_lock);
    /* two objects of one set, different DIRQLs, the set's SynchronizeIrql */
    PKINTERRUPT a = ukern_interrupt_create(test_isr, NULL, NULL, 0, DIRQL,
                                           SYNC_IRQL, &set_lock, NULL, 0);
    PKINTERRUPT b = ukern_interrupt_create(test_isr, NULL, NULL, 0, 6,
                                           SYNC_IRQL, &set_lock, NULL, 1);
    KCHECK(a && b);
    KCHECK(a->ActualLock == &set_lock && b->ActualLock == &set_lock);
    run_exclusion(a, b); /* ISRs of a vs. SynchCritSection of b */
    ukern_interrupt_destroy(a);
    ukern_interrupt_destroy(b);
    KCHECK(g_overlaps == 0);
    KCHECK(g_shared_data == g_sync_calls + g_isr_calls);
    KCHECK(ktest_violation_count() == 0);
}

static void test_S1_3_passive_isr_synchronized_by_event(void **state)
{
    (void)state;
    ktest_record_violations();
    reset_flags(PASSIVE_LEVEL);
    PKINTERRUPT intr = ukern_interrupt_create(test_isr, NULL, NULL, 0,
                                              PASSIVE_LEVEL, PASSIVE_LEVEL,
                                              NULL, NULL, 0);
    KCHECK(intr != NULL);
    KCHECK(intr->Passive);
    run_exclusion(intr, intr);
    ukern_interrupt_destroy(intr);
    KCHECK(g_overlaps == 0);
    KCHECK(g_sync_bad_irql == 0); /* the routine ran at PASSIVE_LEVEL */
    KCHECK(g_isr_bad_irql == 0);
    KCHECK(g_shared_data == g_sync_calls + g_isr_calls);
    KCHECK(ktest_violation_count() == 0);
}

static KIRQL g_seen_irql;
static BOOLEAN record_irql_return_ctx(PVOID ctx)
{
    g_seen_irql = KeGetCurrentIrql();
    return (BOOLEAN)(uintptr_t)ctx;
}

static void test_S2_1_runs_at_synchronize_irql(void **state)
{
    (void)state;
    PKINTERRUPT intr = ukern_interrupt_create(test_isr, NULL, NULL, 0, DIRQL,
                                              SYNC_IRQL, NULL, NULL, 0);
    g_seen_irql = 0;
    (void)KeSynchronizeExecution(intr, record_irql_return_ctx, (PVOID)1);
    KCHECK(g_seen_irql == SYNC_IRQL);
    ukern_interrupt_destroy(intr);
}

static void test_S2_4_returns_routine_value(void **state)
{
    (void)state;
    PKINTERRUPT intr = ukern_interrupt_create(test_isr, NULL, NULL, 0, DIRQL,
                                              SYNC_IRQL, NULL, NULL, 0);
    KCHECK(KeSynchronizeExecution(intr, record_irql_return_ctx, (PVOID)1) ==
           TRUE);
    KCHECK(KeSynchronizeExecution(intr, record_irql_return_ctx, (PVOID)0) ==
           FALSE);
    ukern_interrupt_destroy(intr);
}

static void test_S2_4_restores_caller_irql_and_lock(void **state)
{
    (void)state;
    PKINTERRUPT intr = ukern_interrupt_create(test_isr, NULL, NULL, 0, DIRQL,
                                              SYNC_IRQL, NULL, NULL, 0);
    (void)KeSynchronizeExecution(intr, record_irql_return_ctx, (PVOID)1);
    KCHECK(KeGetCurrentIrql() == PASSIVE_LEVEL);
    KCHECK(!ukern_spin_is_held(intr->ActualLock));
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    (void)KeSynchronizeExecution(intr, record_irql_return_ctx, (PVOID)1);
    KCHECK(g_seen_irql == SYNC_IRQL);
    KCHECK(KeGetCurrentIrql() == DISPATCH_LEVEL);
    KeLowerIrql(old);
    /* from exactly the SynchronizeIrql: allowed, no raise needed */
    KeRaiseIrql(SYNC_IRQL, &old);
    KCHECK(KeSynchronizeExecution(intr, record_irql_return_ctx, (PVOID)1));
    KCHECK(KeGetCurrentIrql() == SYNC_IRQL);
    KeLowerIrql(old);
    KCHECK(!ukern_spin_is_held(intr->ActualLock));
    ukern_interrupt_destroy(intr);
}

static int g_routine_calls;
static BOOLEAN count_call(PVOID ctx)
{
    (void)ctx;
    g_routine_calls++;
    return TRUE;
}

static void test_S2_5_call_above_synchronize_irql_reported(void **state)
{
    (void)state;
    ktest_record_violations();
    PKINTERRUPT intr = ukern_interrupt_create(test_isr, NULL, NULL, 0, DIRQL,
                                              SYNC_IRQL, NULL, NULL, 0);
    g_routine_calls = 0;
    KIRQL old;
    KeRaiseIrql(SYNC_IRQL + 1, &old);
    KCHECK(KeSynchronizeExecution(intr, count_call, NULL) == FALSE);
    KCHECK(g_routine_calls == 0);
    KCHECK(ktest_violation_count() == 1);
    KCHECK(strcmp(ktest_last_rule, "KeSynchronizeExecution-Irql") == 0);
    KCHECK(KeGetCurrentIrql() == SYNC_IRQL + 1);
    KCHECK(!ukern_spin_is_held(intr->ActualLock));
    KeLowerIrql(old);
    ukern_interrupt_destroy(intr);
}

static void test_S2_5_passive_object_from_dispatch_reported(void **state)
{
    (void)state;
    ktest_record_violations();
    PKINTERRUPT intr = ukern_interrupt_create(test_isr, NULL, NULL, 0,
                                              PASSIVE_LEVEL, PASSIVE_LEVEL,
                                              NULL, NULL, 0);
    g_routine_calls = 0;
    KIRQL old = KeRaiseIrqlToDpcLevel();
    KCHECK(KeSynchronizeExecution(intr, count_call, NULL) == FALSE);
    KCHECK(g_routine_calls == 0);
    KCHECK(strcmp(ktest_last_rule, "KeSynchronizeExecution-Irql") == 0);
    KeLowerIrql(old);
    ukern_interrupt_destroy(intr);
}

/* The ISR calls KeSynchronizeExecution on its own object: reported, not a
 * deadlock. */
static PKINTERRUPT g_self;
static BOOLEAN g_inner_result;
static BOOLEAN recursive_isr(PKINTERRUPT intr, PVOID ctx)
{
    (void)ctx;
    g_routine_calls = 0;
    g_inner_result = KeSynchronizeExecution(intr, count_call, NULL);
    return TRUE;
}

static void test_S2_3_call_from_own_isr_reported_not_deadlocked(void **state)
{
    (void)state;
    ktest_record_violations();
    g_self = ukern_interrupt_create(recursive_isr, NULL, NULL, 0, DIRQL,
                                    DIRQL, NULL, NULL, 0);
    g_inner_result = TRUE;
    KCHECK(ukern_interrupt_deliver(g_self) == TRUE);
    KCHECK(g_inner_result == FALSE);
    KCHECK(g_routine_calls == 0);
    KCHECK(ktest_violation_count() == 1);
    ukern_interrupt_destroy(g_self);
}

static volatile int g_thread_isr_ok;
static volatile long g_thread_isr_calls;
static BOOLEAN thread_isr(PKINTERRUPT intr, PVOID ctx)
{
    (void)ctx;
    if (ukern_in_isr() && KeGetCurrentIrql() == intr->SynchronizeIrql &&
        ukern_current_cpu() == intr->TargetCpu % ukern_cpu_count())
        __atomic_store_n(&g_thread_isr_ok, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&g_thread_isr_calls, 1, __ATOMIC_SEQ_CST);
    return FALSE; /* not ours */
}

static void test_S1_4_trigger_runs_isr_on_interrupt_thread_at_dirql(void **state)
{
    (void)state;
    g_thread_isr_ok = 0;
    g_thread_isr_calls = 0;
    PKINTERRUPT intr = ukern_interrupt_create(thread_isr, NULL, NULL, 0, DIRQL,
                                              SYNC_IRQL, NULL, NULL, 1);
    KCHECK(ukern_interrupt_trigger(intr));
    int ok;
    KWAIT_UNTIL(ok, __atomic_load_n(&g_thread_isr_calls, __ATOMIC_SEQ_CST) >= 1);
    KCHECK(ok);
    KCHECK(g_thread_isr_ok == 1);
    KCHECK(!ukern_in_isr());
    /* FALSE from the ISR: delivered but not claimed */
    KWAIT_UNTIL(ok, __atomic_load_n(&intr->Deliveries, __ATOMIC_SEQ_CST) >= 1);
    KCHECK(ok);
    KCHECK(__atomic_load_n(&intr->Claimed, __ATOMIC_SEQ_CST) == 0);
    KCHECK(ukern_interrupt_deliver(intr) == FALSE);
    ukern_interrupt_destroy(intr);
}

static void test_deliver_counts_claimed(void **state)
{
    (void)state;
    reset_flags(SYNC_IRQL);
    PKINTERRUPT intr = ukern_interrupt_create(test_isr, NULL, NULL, 0, DIRQL,
                                              SYNC_IRQL, NULL, NULL, 0);
    for (int i = 0; i < 5; i++)
        KCHECK(ukern_interrupt_deliver(intr) == TRUE);
    KCHECK(intr->Deliveries == 5 && intr->Claimed == 5);
    KCHECK(KeGetCurrentIrql() == PASSIVE_LEVEL);
    ukern_interrupt_destroy(intr);
}

static void test_disconnected_object_is_not_delivered(void **state)
{
    (void)state;
    reset_flags(SYNC_IRQL);
    PKINTERRUPT intr = ukern_interrupt_create(test_isr, NULL, NULL, 0, DIRQL,
                                              SYNC_IRQL, NULL, NULL, 0);
    intr->Connected = 0;
    KCHECK(!ukern_interrupt_trigger(intr));
    KCHECK(ukern_interrupt_deliver(intr) == FALSE);
    KCHECK(g_isr_calls == 0);
    ukern_interrupt_destroy(intr);
}

static void test_destroy_while_triggering(void **state)
{
    (void)state;
    reset_flags(SYNC_IRQL);
    for (int round = 0; round < 50; round++) {
        PKINTERRUPT intr = ukern_interrupt_create(
            test_isr, NULL, NULL, 0, DIRQL, SYNC_IRQL, NULL, NULL,
            (ULONG)round);
        for (int i = 0; i < 20; i++)
            (void)ukern_interrupt_trigger(intr);
        ukern_interrupt_destroy(intr); /* must wait for a running ISR */
    }
    KCHECK(g_in_isr == 0);
}

static void test_create_rejects_bad_arguments(void **state)
{
    (void)state;
    ktest_record_violations();
    KCHECK(ukern_interrupt_create(NULL, NULL, NULL, 0, DIRQL, DIRQL, NULL, NULL,
                                  0) == NULL);
    KCHECK(ukern_interrupt_create(test_isr, NULL, NULL, 0, DIRQL, DIRQL - 1,
                                  NULL, NULL, 0) == NULL);
    KCHECK(ukern_interrupt_create(test_isr, NULL, NULL, 0, DISPATCH_LEVEL,
                                  DISPATCH_LEVEL, NULL, NULL, 0) == NULL);
    KSPIN_LOCK l = 0;
    KCHECK(ukern_interrupt_create(test_isr, NULL, NULL, 0, PASSIVE_LEVEL,
                                  PASSIVE_LEVEL, &l, NULL, 0) == NULL);
    KCHECK(ktest_violation_count() == 4);
}

static void test_interrupt_lock_for_port(void **state)
{
    (void)state;
    PKINTERRUPT intr = ukern_interrupt_create(test_isr, NULL, NULL, 0, DIRQL,
                                              SYNC_IRQL, NULL, NULL, 0);
    KIRQL old = 0xff;
    ukern_interrupt_lock(intr, &old);
    KCHECK(old == PASSIVE_LEVEL);
    KCHECK(KeGetCurrentIrql() == SYNC_IRQL);
    KCHECK(ukern_spin_is_held(intr->ActualLock));
    /* an interrupt arriving now is masked: queued, not run here */
    reset_flags(SYNC_IRQL);
    KCHECK(ukern_interrupt_deliver(intr) == FALSE);
    KCHECK(g_isr_calls == 0);
    ukern_interrupt_unlock(intr, old);
    KCHECK(KeGetCurrentIrql() == PASSIVE_LEVEL);
    int ok;
    KWAIT_UNTIL(ok, __atomic_load_n(&g_isr_calls, __ATOMIC_SEQ_CST) == 1);
    KCHECK(ok); /* delivered by the interrupt thread once unmasked */
    ukern_interrupt_destroy(intr);
}

/* ---- IoConnectInterruptEx --------------------------------------------- */

static void test_connect_fully_specified(void **state)
{
    (void)state;
    PKINTERRUPT intr = NULL;
    IO_CONNECT_INTERRUPT_PARAMETERS p;
    memset(&p, 0, sizeof(p));
    p.Version = CONNECT_FULLY_SPECIFIED;
    p.FullySpecified.InterruptObject = &intr;
    p.FullySpecified.ServiceRoutine = test_isr;
    p.FullySpecified.Irql = DIRQL;
    p.FullySpecified.SynchronizeIrql = SYNC_IRQL;
    p.FullySpecified.ProcessorEnableMask = 2;
    KCHECK(IoConnectInterruptEx(&p) == STATUS_SUCCESS);
    KCHECK(intr != NULL);
    KCHECK(intr->Irql == DIRQL && intr->SynchronizeIrql == SYNC_IRQL);
    KCHECK(intr->TargetCpu == 1);
    KCHECK(KeSynchronizeExecution(intr, record_irql_return_ctx, (PVOID)1));
    KCHECK(g_seen_irql == SYNC_IRQL);
    IO_DISCONNECT_INTERRUPT_PARAMETERS d;
    d.Version = p.Version;
    d.ConnectionContext.InterruptObject = intr;
    IoDisconnectInterruptEx(&d);
}

static void test_connect_bad_version_is_rejected(void **state)
{
    (void)state;
    ktest_record_violations();
    IO_CONNECT_INTERRUPT_PARAMETERS p;
    memset(&p, 0, sizeof(p));
    p.Version = 42;
    KCHECK(IoConnectInterruptEx(&p) == STATUS_INVALID_PARAMETER);
    KCHECK(IoConnectInterruptEx(NULL) == STATUS_INVALID_PARAMETER);
    KCHECK(ktest_violation_count() == 2);
}

static volatile long g_msg_seen[4];
static BOOLEAN msg_isr(PKINTERRUPT intr, PVOID ctx, ULONG message_id)
{
    (void)intr;
    (void)ctx;
    if (message_id < 4)
        __atomic_add_fetch(&g_msg_seen[message_id], 1, __ATOMIC_SEQ_CST);
    return TRUE;
}

static void test_connect_message_based(void **state)
{
    (void)state;
    DEVICE_OBJECT pdo;
    memset(&pdo, 0, sizeof(pdo));
    KCHECK(ukern_pdo_set_interrupt_messages(&pdo, 3) == 0);
    PIO_INTERRUPT_MESSAGE_INFO table = NULL;
    IO_CONNECT_INTERRUPT_PARAMETERS p;
    memset(&p, 0, sizeof(p));
    p.Version = CONNECT_MESSAGE_BASED;
    p.MessageBased.PhysicalDeviceObject = &pdo;
    p.MessageBased.ConnectionContext.InterruptMessageTable = &table;
    p.MessageBased.MessageServiceRoutine = msg_isr;
    KCHECK(IoConnectInterruptEx(&p) == STATUS_SUCCESS);
    KCHECK(p.Version == CONNECT_MESSAGE_BASED);
    KCHECK(table && table->MessageCount == 3);
    memset((void *)g_msg_seen, 0, sizeof(g_msg_seen));
    for (ULONG i = 0; i < 3; i++) {
        KCHECK(table->MessageInfo[i].InterruptObject->MessageId == i);
        KCHECK(ukern_interrupt_deliver(table->MessageInfo[i].InterruptObject));
    }
    KCHECK(g_msg_seen[0] == 1 && g_msg_seen[1] == 1 && g_msg_seen[2] == 1);
    IO_DISCONNECT_INTERRUPT_PARAMETERS d;
    d.Version = p.Version;
    d.ConnectionContext.InterruptMessageTable = table;
    IoDisconnectInterruptEx(&d);
    ukern_pdo_forget(&pdo);
}

static void test_connect_message_based_falls_back_to_line(void **state)
{
    (void)state;
    DEVICE_OBJECT pdo;
    memset(&pdo, 0, sizeof(pdo));
    KCHECK(ukern_pdo_set_interrupt_messages(&pdo, 0) == 0);
    PKINTERRUPT intr = NULL;
    IO_CONNECT_INTERRUPT_PARAMETERS p;
    memset(&p, 0, sizeof(p));
    p.Version = CONNECT_MESSAGE_BASED;
    p.MessageBased.PhysicalDeviceObject = &pdo;
    p.MessageBased.ConnectionContext.InterruptObject = &intr;
    p.MessageBased.MessageServiceRoutine = msg_isr;
    p.MessageBased.FallBackServiceRoutine = test_isr;
    KCHECK(IoConnectInterruptEx(&p) == STATUS_SUCCESS);
    KCHECK(p.Version == CONNECT_LINE_BASED);
    KCHECK(intr != NULL && intr->ServiceRoutine == test_isr);
    IO_DISCONNECT_INTERRUPT_PARAMETERS d;
    d.Version = p.Version;
    d.ConnectionContext.InterruptObject = intr;
    IoDisconnectInterruptEx(&d);
    ukern_pdo_forget(&pdo);
}

int main(void)
{
    ktest_seed_init();
#define T(f) cmocka_unit_test_setup_teardown(f, ktest_setup_two_cpus, ktest_teardown_cpus)
    const struct CMUnitTest tests[] = {
        T(test_S2_3_never_concurrent_with_isr),
        T(test_S1_2_shared_lock_set_excludes),
        T(test_S1_3_passive_isr_synchronized_by_event),
        T(test_S2_1_runs_at_synchronize_irql),
        T(test_S2_4_returns_routine_value),
        T(test_S2_4_restores_caller_irql_and_lock),
        T(test_S2_5_call_above_synchronize_irql_reported),
        T(test_S2_5_passive_object_from_dispatch_reported),
        T(test_S2_3_call_from_own_isr_reported_not_deadlocked),
        T(test_S1_4_trigger_runs_isr_on_interrupt_thread_at_dirql),
        T(test_deliver_counts_claimed),
        T(test_disconnected_object_is_not_delivered),
        T(test_destroy_while_triggering),
        T(test_create_rejects_bad_arguments),
        T(test_interrupt_lock_for_port),
        T(test_connect_fully_specified),
        T(test_connect_bad_version_is_rejected),
        T(test_connect_message_based),
        T(test_connect_message_based_falls_back_to_line),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
