/* ustor-test-labels: concurrency */
/* Unit tests for src/kernel/irql.c: per-thread IRQL, raise/lower rules,
 * PAGED_CODE, critical regions. */
#include <pthread.h>

#include "ktest.h"

static int teardown(void **state)
{
    (void)state;
    ukern_irql_set(PASSIVE_LEVEL);
    ktest_reset_hooks();
    return 0;
}

static void *read_irql_thread(void *arg)
{
    *(KIRQL *)arg = KeGetCurrentIrql();
    return NULL;
}

static void test_irql_is_per_thread(void **state)
{
    (void)state;
    KIRQL old = 0xff, other = 0xff;
    KCHECK(KeGetCurrentIrql() == PASSIVE_LEVEL);
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    KCHECK(old == PASSIVE_LEVEL);
    KCHECK(KeGetCurrentIrql() == DISPATCH_LEVEL);
    pthread_t t;
    KCHECK(pthread_create(&t, NULL, read_irql_thread, &other) == 0);
    pthread_join(t, NULL);
    KCHECK(other == PASSIVE_LEVEL); /* a new thread starts at PASSIVE */
    KeLowerIrql(old);
    KCHECK(KeGetCurrentIrql() == PASSIVE_LEVEL);
}

static void test_raise_and_lower_nest(void **state)
{
    (void)state;
    KIRQL a, b;
    KeRaiseIrql(APC_LEVEL, &a);
    KeRaiseIrql(7, &b);
    KCHECK(a == PASSIVE_LEVEL && b == APC_LEVEL);
    KCHECK(KeGetCurrentIrql() == 7);
    KeLowerIrql(b);
    KCHECK(KeGetCurrentIrql() == APC_LEVEL);
    KeLowerIrql(a);
    KCHECK(KeGetCurrentIrql() == PASSIVE_LEVEL);
    KCHECK(KeRaiseIrqlToDpcLevel() == PASSIVE_LEVEL);
    KCHECK(KeGetCurrentIrql() == DISPATCH_LEVEL);
    KeLowerIrql(PASSIVE_LEVEL);
}

static void test_raise_below_current_is_reported(void **state)
{
    (void)state;
    ktest_record_violations();
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    KIRQL old2;
    KeRaiseIrql(APC_LEVEL, &old2);
    KCHECK(ktest_violation_count() == 1);
    KCHECK(strcmp(ktest_last_rule, "IrqlKeRaiseLower") == 0);
    KCHECK(KeGetCurrentIrql() == DISPATCH_LEVEL); /* unchanged */
    KeLowerIrql(old);
}

static void test_lower_above_current_is_reported(void **state)
{
    (void)state;
    ktest_record_violations();
    KeLowerIrql(DISPATCH_LEVEL);
    KCHECK(ktest_violation_count() == 1);
    KCHECK(strcmp(ktest_last_api, "KeLowerIrql") == 0);
    KCHECK(KeGetCurrentIrql() == PASSIVE_LEVEL);
}

static void test_raise_above_high_is_reported(void **state)
{
    (void)state;
    ktest_record_violations();
    KIRQL old;
    KeRaiseIrql(HIGH_LEVEL + 1, &old);
    KCHECK(ktest_violation_count() == 1);
    KCHECK(KeGetCurrentIrql() == PASSIVE_LEVEL);
}

static KIRQL g_from, g_to;
static int g_changes;
static void irql_hook(KIRQL from, KIRQL to, const char *api)
{
    (void)api;
    g_from = from;
    g_to = to;
    g_changes++;
}

static void test_irql_changed_hook(void **state)
{
    (void)state;
    g_changes = 0;
    ukern_hooks.irql_changed = irql_hook;
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    KCHECK(g_changes == 1 && g_from == PASSIVE_LEVEL && g_to == DISPATCH_LEVEL);
    KeRaiseIrql(DISPATCH_LEVEL, &old); /* no change, no call */
    KCHECK(g_changes == 1);
    KeLowerIrql(PASSIVE_LEVEL);
    KCHECK(g_changes == 2 && g_to == PASSIVE_LEVEL);
    ukern_irql_set(5); /* unchecked, unhooked */
    KCHECK(g_changes == 2 && KeGetCurrentIrql() == 5);
}

static void paged_function(void)
{
    PAGED_CODE();
}

static void test_paged_code_checks_irql_at_run_time(void **state)
{
    (void)state;
    ktest_record_violations();
    paged_function();
    KCHECK(ktest_violation_count() == 0);
    KIRQL old;
    KeRaiseIrql(APC_LEVEL, &old);
    paged_function();
    KCHECK(ktest_violation_count() == 0);
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    paged_function();
    KCHECK(ktest_violation_count() == 1);
    KCHECK(strcmp(ktest_last_rule, "PagedCode") == 0);
    KCHECK(strcmp(ktest_last_api, "paged_function") == 0);
}

static void test_critical_region_balance(void **state)
{
    (void)state;
    ktest_record_violations();
    KeEnterCriticalRegion();
    KeLeaveCriticalRegion();
    KCHECK(ktest_violation_count() == 0);
    KeLeaveCriticalRegion();
    KCHECK(ktest_violation_count() == 1);
}

int main(void)
{
    ktest_seed_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_irql_is_per_thread, teardown),
        cmocka_unit_test_teardown(test_raise_and_lower_nest, teardown),
        cmocka_unit_test_teardown(test_raise_below_current_is_reported, teardown),
        cmocka_unit_test_teardown(test_lower_above_current_is_reported, teardown),
        cmocka_unit_test_teardown(test_raise_above_high_is_reported, teardown),
        cmocka_unit_test_teardown(test_irql_changed_hook, teardown),
        cmocka_unit_test_teardown(test_paged_code_checks_irql_at_run_time, teardown),
        cmocka_unit_test_teardown(test_critical_region_balance, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
