/* ustor-test-labels: concurrency */
/* Unit tests for src/kernel/spinlock.c: the lock word, mutual exclusion
 * with more threads than cores, the Ke routines' IRQL rules and hooks. */
#include <pthread.h>
#include <sched.h>

#include "ktest.h"

#define THREADS 8
#define ITERATIONS 20000

static int teardown(void **state)
{
    (void)state;
    ukern_irql_set(PASSIVE_LEVEL);
    ktest_reset_hooks();
    return 0;
}

/* ---- mutual exclusion ---------------------------------------------------- */

static KSPIN_LOCK g_lock;
static long g_counter; /* deliberately not atomic: the lock protects it */
static volatile int g_inside;
static volatile int g_overlaps;
static volatile int g_bad_irql;
static pthread_barrier_t g_start; /* all workers start together */

struct worker {
    unsigned seed;
    int mode;
};

static void critical_section(unsigned *rnd)
{
    if (__atomic_add_fetch(&g_inside, 1, __ATOMIC_SEQ_CST) != 1)
        __atomic_add_fetch(&g_overlaps, 1, __ATOMIC_SEQ_CST);
    if (KeGetCurrentIrql() != DISPATCH_LEVEL)
        __atomic_add_fetch(&g_bad_irql, 1, __ATOMIC_SEQ_CST);
    long v = g_counter;
    for (unsigned i = ktest_rand(rnd) % 16; i > 0; i--)
        __atomic_signal_fence(__ATOMIC_SEQ_CST); /* widen the window */
    g_counter = v + 1;
    __atomic_sub_fetch(&g_inside, 1, __ATOMIC_SEQ_CST);
}

static void *lock_worker(void *arg)
{
    struct worker *w = arg;
    unsigned rnd = w->seed;
    pthread_barrier_wait(&g_start);
    for (int i = 0; i < ITERATIONS; i++) {
        if (ktest_rand(&rnd) % 64 == 0)
            sched_yield(); /* vary the interleaving, seeded */
        /* Mix every acquire flavour on the one lock. */
        switch ((w->mode + i) % 4) {
        case 0: {
            KIRQL old;
            KeAcquireSpinLock(&g_lock, &old);
            critical_section(&rnd);
            KeReleaseSpinLock(&g_lock, old);
            break;
        }
        case 1: {
            KIRQL old = KeAcquireSpinLockRaiseToDpc(&g_lock);
            critical_section(&rnd);
            KeReleaseSpinLock(&g_lock, old);
            break;
        }
        case 2: {
            KLOCK_QUEUE_HANDLE h;
            KeAcquireInStackQueuedSpinLock(&g_lock, &h);
            critical_section(&rnd);
            KeReleaseInStackQueuedSpinLock(&h);
            break;
        }
        default: {
            KIRQL old = KeRaiseIrqlToDpcLevel();
            KeAcquireSpinLockAtDpcLevel(&g_lock);
            critical_section(&rnd);
            KeReleaseSpinLockFromDpcLevel(&g_lock);
            KeLowerIrql(old);
            break;
        }
        }
        if (KeGetCurrentIrql() != PASSIVE_LEVEL)
            __atomic_add_fetch(&g_bad_irql, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static void test_spin_lock_mutual_exclusion(void **state)
{
    (void)state;
    ktest_record_violations();
    KeInitializeSpinLock(&g_lock);
    g_counter = 0;
    g_overlaps = g_bad_irql = 0;
    pthread_t t[THREADS];
    struct worker w[THREADS];
    pthread_barrier_init(&g_start, NULL, THREADS);
    for (int i = 0; i < THREADS; i++) {
        w[i].seed = ktest_seed + (unsigned)i * 7919u;
        w[i].mode = i;
        KCHECK(pthread_create(&t[i], NULL, lock_worker, &w[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&g_start);
    KCHECK(g_overlaps == 0);
    KCHECK(g_bad_irql == 0);
    KCHECK(g_counter == (long)THREADS * ITERATIONS);
    KCHECK(ktest_violation_count() == 0);
    KCHECK(!ukern_spin_is_held(&g_lock));
}

/* ---- raw word ------------------------------------------------------------ */

static void test_raw_try_and_held(void **state)
{
    (void)state;
    KSPIN_LOCK l = 0;
    KCHECK(!ukern_spin_is_held(&l));
    KCHECK(ukern_spin_try_raw(&l));
    KCHECK(ukern_spin_is_held(&l));
    KCHECK(!ukern_spin_try_raw(&l));
    ukern_spin_release_raw(&l);
    KCHECK(!ukern_spin_is_held(&l));
    KCHECK(!ukern_spin_acquire_raw_contended(&l)); /* free: not contended */
    ukern_spin_release_raw(&l);
}

static KSPIN_LOCK g_contended;
static volatile int g_holder_ready, g_holder_release;

static void *holder(void *arg)
{
    (void)arg;
    ukern_spin_acquire_raw(&g_contended);
    __atomic_store_n(&g_holder_ready, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&g_holder_release, __ATOMIC_SEQ_CST))
        ktest_sleep_ms(1);
    ukern_spin_release_raw(&g_contended);
    return NULL;
}

static void test_raw_contended_sleeper_is_woken(void **state)
{
    (void)state;
    g_contended = 0;
    g_holder_ready = g_holder_release = 0;
    pthread_t t;
    KCHECK(pthread_create(&t, NULL, holder, NULL) == 0);
    int ok;
    KWAIT_UNTIL(ok, __atomic_load_n(&g_holder_ready, __ATOMIC_SEQ_CST));
    KCHECK(ok);
    /* release from the holder only after we are (most likely) asleep */
    __atomic_store_n(&g_holder_release, 1, __ATOMIC_SEQ_CST);
    KCHECK(ukern_spin_acquire_raw_contended(&g_contended));
    ukern_spin_release_raw(&g_contended);
    pthread_join(t, NULL);
    KCHECK(!ukern_spin_is_held(&g_contended));
}

/* ---- Ke rules ------------------------------------------------------------ */

static void test_acquire_raises_and_release_restores(void **state)
{
    (void)state;
    KSPIN_LOCK l;
    KeInitializeSpinLock(&l);
    KIRQL old;
    KeAcquireSpinLock(&l, &old);
    KCHECK(old == PASSIVE_LEVEL);
    KCHECK(KeGetCurrentIrql() == DISPATCH_LEVEL);
    KCHECK(KeTestSpinLock(&l) == FALSE);
    KeReleaseSpinLock(&l, old);
    KCHECK(KeGetCurrentIrql() == PASSIVE_LEVEL);
    KCHECK(KeTestSpinLock(&l) == TRUE);
}

static void test_recursive_acquire_is_reported_not_deadlocked(void **state)
{
    (void)state;
    ktest_record_violations();
    KSPIN_LOCK l;
    KeInitializeSpinLock(&l);
    KIRQL old, old2;
    KeAcquireSpinLock(&l, &old);
    KeAcquireSpinLock(&l, &old2); /* would hang on Windows */
    KCHECK(ktest_violation_count() == 1);
    KCHECK(strcmp(ktest_last_rule, "SpinLock") == 0);
    KeReleaseSpinLock(&l, old);
    KCHECK(!ukern_spin_is_held(&l));
}

static void test_release_unheld_is_reported(void **state)
{
    (void)state;
    ktest_record_violations();
    KSPIN_LOCK l;
    KeInitializeSpinLock(&l);
    KeReleaseSpinLock(&l, PASSIVE_LEVEL);
    KCHECK(ktest_violation_count() == 1);
    KCHECK(strcmp(ktest_last_rule, "SpinLockRelease") == 0);
}

static void test_at_dpc_level_from_passive_is_reported(void **state)
{
    (void)state;
    ktest_record_violations();
    KSPIN_LOCK l;
    KeInitializeSpinLock(&l);
    KeAcquireSpinLockAtDpcLevel(&l);
    KCHECK(ktest_violation_count() == 1);
    KCHECK(KeGetCurrentIrql() == PASSIVE_LEVEL); /* this variant never raises */
    KeReleaseSpinLockFromDpcLevel(&l);
    KCHECK(!ukern_spin_is_held(&l));
}

static void test_acquire_above_dispatch_is_reported(void **state)
{
    (void)state;
    ktest_record_violations();
    KSPIN_LOCK l;
    KeInitializeSpinLock(&l);
    ukern_irql_set(5);
    KIRQL old;
    KeAcquireSpinLock(&l, &old);
    KCHECK(ktest_violation_count() == 1);
    KCHECK(strcmp(ktest_last_rule, "IrqlKeSpinLock") == 0);
    KeReleaseSpinLock(&l, old);
    KCHECK(KeGetCurrentIrql() == 5);
}

static void test_try_at_dpc_level(void **state)
{
    (void)state;
    KSPIN_LOCK l;
    KeInitializeSpinLock(&l);
    KIRQL old = KeRaiseIrqlToDpcLevel();
    KCHECK(KeTryToAcquireSpinLockAtDpcLevel(&l) == TRUE);
    KCHECK(KeTryToAcquireSpinLockAtDpcLevel(&l) == FALSE);
    KeReleaseSpinLockFromDpcLevel(&l);
    KCHECK(KeTryToAcquireSpinLockAtDpcLevel(&l) == TRUE);
    KeReleaseSpinLockFromDpcLevel(&l);
    KeLowerIrql(old);
}

struct hook_log {
    int acquired, releasing;
    const void *lock;
    enum ukern_lock_api api_acq, api_rel;
    KIRQL before, now, next;
    const void *handle;
};
static struct hook_log g_log;

static void on_acquired(const void *lock, enum ukern_lock_api api,
                        KIRQL before, const void *handle)
{
    g_log.acquired++;
    g_log.lock = lock;
    g_log.api_acq = api;
    g_log.before = before;
    g_log.handle = handle;
}

static void on_releasing(const void *lock, enum ukern_lock_api api, KIRQL now,
                         KIRQL next, const void *handle)
{
    g_log.releasing++;
    g_log.lock = lock;
    g_log.api_rel = api;
    g_log.now = now;
    g_log.next = next;
    g_log.handle = handle;
}

static void test_hooks_name_the_api(void **state)
{
    (void)state;
    memset(&g_log, 0, sizeof(g_log));
    ukern_hooks.lock_acquired = on_acquired;
    ukern_hooks.lock_releasing = on_releasing;
    KSPIN_LOCK l;
    KeInitializeSpinLock(&l);

    KIRQL old = KeAcquireSpinLockRaiseToDpc(&l);
    KCHECK(g_log.acquired == 1 && g_log.lock == &l);
    KCHECK(g_log.api_acq == UKERN_LOCK_KE_SPIN_RAISE);
    KCHECK(g_log.before == PASSIVE_LEVEL);
    KeReleaseSpinLock(&l, old);
    KCHECK(g_log.releasing == 1);
    /* the release reports how the lock was taken */
    KCHECK(g_log.api_rel == UKERN_LOCK_KE_SPIN_RAISE);
    KCHECK(g_log.now == DISPATCH_LEVEL && g_log.next == PASSIVE_LEVEL);

    KeAcquireSpinLock(&l, &old);
    KCHECK(g_log.api_acq == UKERN_LOCK_KE_SPIN);
    KeReleaseSpinLock(&l, old);
    KCHECK(g_log.api_rel == UKERN_LOCK_KE_SPIN);

    KLOCK_QUEUE_HANDLE h;
    KeAcquireInStackQueuedSpinLock(&l, &h);
    KCHECK(g_log.api_acq == UKERN_LOCK_KE_QUEUED && g_log.handle == &h);
    KCHECK(h.LockQueue.Lock == &l && h.OldIrql == PASSIVE_LEVEL);
    KeReleaseInStackQueuedSpinLock(&h);
    KCHECK(g_log.api_rel == UKERN_LOCK_KE_QUEUED && g_log.handle == &h);
    KCHECK(g_log.acquired == 3 && g_log.releasing == 3);
}

static void test_null_lock_is_reported(void **state)
{
    (void)state;
    ktest_record_violations();
    KIRQL old = 0x55;
    KeAcquireSpinLock(NULL, &old);
    KCHECK(ktest_violation_count() == 1);
    KCHECK(KeGetCurrentIrql() == PASSIVE_LEVEL);
}

int main(void)
{
    ktest_seed_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_spin_lock_mutual_exclusion, teardown),
        cmocka_unit_test_teardown(test_raw_try_and_held, teardown),
        cmocka_unit_test_teardown(test_raw_contended_sleeper_is_woken, teardown),
        cmocka_unit_test_teardown(test_acquire_raises_and_release_restores, teardown),
        cmocka_unit_test_teardown(test_recursive_acquire_is_reported_not_deadlocked, teardown),
        cmocka_unit_test_teardown(test_release_unheld_is_reported, teardown),
        cmocka_unit_test_teardown(test_at_dpc_level_from_passive_is_reported, teardown),
        cmocka_unit_test_teardown(test_acquire_above_dispatch_is_reported, teardown),
        cmocka_unit_test_teardown(test_try_at_dpc_level, teardown),
        cmocka_unit_test_teardown(test_hooks_name_the_api, teardown),
        cmocka_unit_test_teardown(test_null_lock_is_reported, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
