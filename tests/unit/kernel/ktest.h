/*
 * ktest.h - helpers shared by the kernel layer's unit tests: the random
 * seed (USTOR_SEED or the time, printed when a check fails) and a
 * recorder for ukern_hooks.violation.
 */
#ifndef USTOR_TESTS_KTEST_H
#define USTOR_TESTS_KTEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kernel/ukern.h"

static unsigned ktest_seed;

static inline unsigned ktest_seed_init(void)
{
    const char *env = getenv("USTOR_SEED");
    ktest_seed = env ? (unsigned)strtoul(env, NULL, 0)
                     : (unsigned)time(NULL) ^ (unsigned)clock();
    return ktest_seed;
}

/* xorshift32: per-thread state seeded from the test seed. */
static inline unsigned ktest_rand(unsigned *state)
{
    unsigned x = *state ? *state : 0x9E3779B9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

/* Like assert_true, but names the seed so the failing run can be repeated
 * with USTOR_SEED=<seed>. */
#define KCHECK(cond)                                                        \
    do {                                                                    \
        int kcheck_ok_ = !!(cond);                                          \
        if (!kcheck_ok_)                                                    \
            fprintf(stderr, "check failed: %s (USTOR_SEED=%u)\n", #cond,    \
                    ktest_seed);                                            \
        _assert_true((uintmax_t)kcheck_ok_, #cond, __FILE__, __LINE__);     \
    } while (0)

/* ---- violation recorder ------------------------------------------------ */

static volatile int ktest_violations;
static char ktest_last_rule[96];
static char ktest_last_api[96];

static void ktest_violation_hook(const char *rule, const char *api,
                                 const char *what)
{
    (void)what;
    /* Tests read these only after the violating call has returned on the
     * same thread, or after joining the thread that made it. */
    snprintf(ktest_last_rule, sizeof(ktest_last_rule), "%s", rule);
    snprintf(ktest_last_api, sizeof(ktest_last_api), "%s", api);
    __atomic_add_fetch(&ktest_violations, 1, __ATOMIC_SEQ_CST);
}

static inline void ktest_record_violations(void)
{
    ktest_violations = 0;
    ktest_last_rule[0] = ktest_last_api[0] = '\0';
    ukern_hooks.violation = ktest_violation_hook;
}

static inline int ktest_violation_count(void)
{
    return __atomic_load_n(&ktest_violations, __ATOMIC_SEQ_CST);
}

static inline void ktest_reset_hooks(void)
{
    memset(&ukern_hooks, 0, sizeof(ukern_hooks));
}

/* cmocka setup / teardown for tests that need the simulated CPUs: two
 * CPUs up; afterwards down again, the thread back at PASSIVE_LEVEL and
 * the hooks cleared. */
static inline int ktest_setup_two_cpus(void **state)
{
    (void)state;
    return ukern_init(2) == 0 ? 0 : -1;
}

static inline int ktest_teardown_cpus(void **state)
{
    (void)state;
    ukern_shutdown();
    ukern_irql_set(PASSIVE_LEVEL);
    ktest_reset_hooks();
    return 0;
}

/* Sleeps for ms milliseconds (used only to give other threads time, never
 * to assert a timing). */
static inline void ktest_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls cond (an expression) for up to 10 s; ok is set to 1 when it
 * became true, 0 otherwise. */
#define KWAIT_UNTIL(ok, cond)                                               \
    do {                                                                    \
        (ok) = 0;                                                           \
        for (int i_ = 0; i_ < 10000; i_++) {                                \
            if (cond) {                                                     \
                (ok) = 1;                                                   \
                break;                                                      \
            }                                                               \
            ktest_sleep_ms(1);                                              \
        }                                                                   \
    } while (0)

#endif /* USTOR_TESTS_KTEST_H */
