/* ustor-test-labels: concurrency */
/* Unit tests for src/kernel/cpu.c: reference-counted life cycle, CPU
 * binding, monotonic clock. */
#include <pthread.h>

#include "ktest.h"

static int teardown(void **state)
{
    (void)state;
    ktest_reset_hooks();
    return 0;
}

static void test_init_is_reference_counted(void **state)
{
    (void)state;
    KCHECK(ukern_cpu_count() == 0);
    KCHECK(ukern_init(2) == 0);
    KCHECK(ukern_cpu_count() == 2);
    KCHECK(ukern_init(4) == 0); /* second user: keeps the first's CPUs */
    KCHECK(ukern_cpu_count() == 2);
    ukern_shutdown();
    KCHECK(ukern_cpu_count() == 2); /* still one user */
    ukern_shutdown();
    KCHECK(ukern_cpu_count() == 0);
    /* and it can start again */
    KCHECK(ukern_init(1) == 0);
    KCHECK(ukern_cpu_count() == 1);
    ukern_shutdown();
}

static void test_zero_means_online_cpus(void **state)
{
    (void)state;
    KCHECK(ukern_init(0) == 0);
    KCHECK(ukern_cpu_count() >= 1);
    ukern_shutdown();
}

static void *report_cpu(void *arg)
{
    *(ULONG *)arg = ukern_current_cpu();
    return NULL;
}

static void test_threads_are_bound_round_robin(void **state)
{
    (void)state;
    KCHECK(ukern_init(2) == 0);
    ULONG cpu[4];
    for (int i = 0; i < 4; i++) {
        pthread_t t;
        KCHECK(pthread_create(&t, NULL, report_cpu, &cpu[i]) == 0);
        pthread_join(t, NULL);
    }
    for (int i = 0; i < 4; i++)
        KCHECK(cpu[i] < 2);
    /* consecutive new threads alternate between the two CPUs */
    KCHECK(cpu[0] != cpu[1] && cpu[1] != cpu[2] && cpu[2] != cpu[3]);
    ukern_bind_thread_cpu(1);
    KCHECK(ukern_current_cpu() == 1);
    ukern_bind_thread_cpu(5); /* wraps onto the simulated CPUs */
    KCHECK(ukern_current_cpu() == 1);
    ukern_shutdown();
}

static void test_monotonic_clock(void **state)
{
    (void)state;
    uint64_t a = ukern_now_ns();
    uint64_t b = ukern_now_ns();
    KCHECK(b >= a);
    KCHECK(a > 0);
}

static void test_extra_shutdown_is_harmless(void **state)
{
    (void)state;
    ukern_shutdown(); /* nothing running: prints a message, no crash */
    KCHECK(ukern_cpu_count() == 0);
}

static void test_not_in_dpc_or_isr_on_ordinary_thread(void **state)
{
    (void)state;
    KCHECK(!ukern_in_dpc());
    KCHECK(!ukern_in_isr());
}

int main(void)
{
    ktest_seed_init();
#define T(f) cmocka_unit_test_teardown(f, teardown)
    const struct CMUnitTest tests[] = {
        T(test_init_is_reference_counted),
        T(test_zero_means_online_cpus),
        T(test_threads_are_bound_round_robin),
        T(test_monotonic_clock),
        T(test_extra_shutdown_is_harmless),
        T(test_not_in_dpc_or_isr_on_ordinary_thread),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
