/* ustor-test-labels: concurrency */
/* Unit tests for src/kernel/event.c: notification vs synchronization
 * events, timeouts, cross-thread wake-ups, hooks. */
#include <pthread.h>

#include "ktest.h"

static int teardown(void **state)
{
    (void)state;
    ukern_irql_set(PASSIVE_LEVEL);
    ktest_reset_hooks();
    return 0;
}

static LARGE_INTEGER relative_ms(LONGLONG ms)
{
    LARGE_INTEGER t;
    t.QuadPart = -ms * 10000;
    return t;
}

static NTSTATUS wait_ms(PKEVENT e, LONGLONG ms)
{
    LARGE_INTEGER t = relative_ms(ms);
    return KeWaitForSingleObject(e, Executive, KernelMode, FALSE, &t);
}

static void test_timeout_returns_status_timeout(void **state)
{
    (void)state;
    KEVENT e;
    KeInitializeEvent(&e, NotificationEvent, FALSE);
    KCHECK(wait_ms(&e, 5) == STATUS_TIMEOUT);
    LARGE_INTEGER zero = {.QuadPart = 0};
    KCHECK(KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, &zero) ==
           STATUS_TIMEOUT);
}

static void test_notification_event_stays_signalled(void **state)
{
    (void)state;
    KEVENT e;
    KeInitializeEvent(&e, NotificationEvent, FALSE);
    KCHECK(KeReadStateEvent(&e) == 0);
    KCHECK(KeSetEvent(&e, 0, FALSE) == 0);
    KCHECK(KeReadStateEvent(&e) != 0);
    KCHECK(wait_ms(&e, 0) == STATUS_SUCCESS);
    KCHECK(wait_ms(&e, 0) == STATUS_SUCCESS); /* still signalled */
    KCHECK(KeSetEvent(&e, 0, FALSE) != 0);      /* previous state */
    KCHECK(KeResetEvent(&e) != 0);
    KCHECK(KeReadStateEvent(&e) == 0);
    KCHECK(wait_ms(&e, 1) == STATUS_TIMEOUT);
}

static void test_synchronization_event_is_consumed_by_one_wait(void **state)
{
    (void)state;
    KEVENT e;
    KeInitializeEvent(&e, SynchronizationEvent, TRUE);
    KCHECK(wait_ms(&e, 0) == STATUS_SUCCESS);
    KCHECK(KeReadStateEvent(&e) == 0);
    KCHECK(wait_ms(&e, 1) == STATUS_TIMEOUT);
    KeSetEvent(&e, 0, FALSE);
    KeClearEvent(&e);
    KCHECK(wait_ms(&e, 1) == STATUS_TIMEOUT);
}

/* ---- cross-thread ---------------------------------------------------------- */

#define WAITERS 4

struct waiter_arg {
    PKEVENT event;
    volatile long *woken;
    volatile long *timed_out;
};

static void *waiter_main(void *p)
{
    struct waiter_arg *a = p;
    NTSTATUS s = wait_ms(a->event, 10000);
    if (s == STATUS_SUCCESS)
        __atomic_add_fetch(a->woken, 1, __ATOMIC_SEQ_CST);
    else
        __atomic_add_fetch(a->timed_out, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void test_notification_set_releases_all_waiters(void **state)
{
    (void)state;
    KEVENT e;
    KeInitializeEvent(&e, NotificationEvent, FALSE);
    volatile long woken = 0, timed_out = 0;
    struct waiter_arg a = {&e, &woken, &timed_out};
    pthread_t t[WAITERS];
    for (int i = 0; i < WAITERS; i++)
        KCHECK(pthread_create(&t[i], NULL, waiter_main, &a) == 0);
    ktest_sleep_ms(5); /* let some of them block (not required) */
    KeSetEvent(&e, 0, FALSE);
    for (int i = 0; i < WAITERS; i++)
        pthread_join(t[i], NULL);
    KCHECK(woken == WAITERS && timed_out == 0);
}

static void test_synchronization_set_releases_one_waiter_each(void **state)
{
    (void)state;
    KEVENT e;
    KeInitializeEvent(&e, SynchronizationEvent, FALSE);
    volatile long woken = 0, timed_out = 0;
    struct waiter_arg a = {&e, &woken, &timed_out};
    pthread_t t[WAITERS];
    for (int i = 0; i < WAITERS; i++)
        KCHECK(pthread_create(&t[i], NULL, waiter_main, &a) == 0);
    for (long n = 1; n <= WAITERS; n++) {
        KeSetEvent(&e, 0, FALSE);
        int ok;
        /* each set lets exactly one more waiter through */
        KWAIT_UNTIL(ok, __atomic_load_n(&woken, __ATOMIC_SEQ_CST) == n);
        KCHECK(ok);
        ktest_sleep_ms(2);
        KCHECK(__atomic_load_n(&woken, __ATOMIC_SEQ_CST) == n);
    }
    for (int i = 0; i < WAITERS; i++)
        pthread_join(t[i], NULL);
    KCHECK(woken == WAITERS && timed_out == 0);
    KCHECK(KeReadStateEvent(&e) == 0);
}

static PKEVENT g_hook_event;
static LONG g_hook_prev;
static int g_hook_calls, g_wait_hook_calls;
static void on_event_set(PKEVENT e, LONG prev)
{
    g_hook_event = e;
    g_hook_prev = prev;
    g_hook_calls++;
}
static void on_wait(const void *obj, const char *api)
{
    (void)obj;
    (void)api;
    g_wait_hook_calls++;
}

static void test_hooks_see_set_and_wait(void **state)
{
    (void)state;
    g_hook_calls = g_wait_hook_calls = 0;
    ukern_hooks.event_set = on_event_set;
    ukern_hooks.wait = on_wait;
    KEVENT e;
    KeInitializeEvent(&e, NotificationEvent, FALSE);
    KeSetEvent(&e, 0, FALSE);
    KCHECK(g_hook_calls == 1 && g_hook_event == &e && g_hook_prev == 0);
    KeSetEvent(&e, 0, FALSE);
    KCHECK(g_hook_calls == 2 && g_hook_prev == 1);
    KCHECK(wait_ms(&e, 0) == STATUS_SUCCESS);
    KCHECK(g_wait_hook_calls == 1);
}

static void test_wait_rules_are_reported(void **state)
{
    (void)state;
    ktest_record_violations();
    KEVENT e;
    KeInitializeEvent(&e, NotificationEvent, TRUE);
    KIRQL old = KeRaiseIrqlToDpcLevel();
    KCHECK(wait_ms(&e, 0) == STATUS_SUCCESS); /* zero timeout: allowed */
    KCHECK(ktest_violation_count() == 0);
    KCHECK(wait_ms(&e, 1) == STATUS_SUCCESS); /* nonzero: a violation */
    KCHECK(ktest_violation_count() == 1);
    KeLowerIrql(old);
    KCHECK(KeWaitForSingleObject(NULL, Executive, KernelMode, FALSE, NULL) ==
           STATUS_INVALID_PARAMETER);
    KCHECK(ktest_violation_count() == 2);
    int not_an_object[8];
    memset(not_an_object, 0x7f, sizeof(not_an_object));
    KCHECK(KeWaitForSingleObject(not_an_object, Executive, KernelMode, FALSE,
                                 NULL) == STATUS_INVALID_PARAMETER);
    KCHECK(ktest_violation_count() == 3);
}

static void test_delay_execution(void **state)
{
    (void)state;
    LARGE_INTEGER t = relative_ms(1);
    uint64_t before = ukern_now_ns();
    KCHECK(KeDelayExecutionThread(KernelMode, FALSE, &t) == STATUS_SUCCESS);
    KCHECK(ukern_now_ns() - before >= 1000000); /* never returns early */
}

int main(void)
{
    ktest_seed_init();
#define T(f) cmocka_unit_test_teardown(f, teardown)
    const struct CMUnitTest tests[] = {
        T(test_timeout_returns_status_timeout),
        T(test_notification_event_stays_signalled),
        T(test_synchronization_event_is_consumed_by_one_wait),
        T(test_notification_set_releases_all_waiters),
        T(test_synchronization_set_releases_one_waiter_each),
        T(test_hooks_see_set_and_wait),
        T(test_wait_rules_are_reported),
        T(test_delay_execution),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
