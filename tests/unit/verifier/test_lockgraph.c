/* ustor-test-labels: concurrency
 *
 * test_lockgraph.c - the lock-order graph on synthetic acquisitions:
 * inversions (direct and through other locks) reported once per pair with
 * both orders' stacks, nothing for a consistent order, interrupt-unsafe
 * locks, and a concurrent run whose known edges never take the slow path.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "verifier/lockgraph.h"

struct sink {
    pthread_mutex_t mu;
    unsigned inversions, irq_unsafe;
    char last[16384];
};

static void on_report(void *ctx, const char *rule, const char *text)
{
    struct sink *s = ctx;
    pthread_mutex_lock(&s->mu);
    if (strcmp(rule, "LockOrderInversion") == 0)
        s->inversions++;
    else if (strcmp(rule, "InterruptUnsafeLock") == 0)
        s->irq_unsafe++;
    snprintf(s->last, sizeof(s->last), "%s", text);
    pthread_mutex_unlock(&s->mu);
}

static unsigned names_made;

static void name_of(void *ctx, char *buf, size_t len)
{
    __atomic_fetch_add(&names_made, 1, __ATOMIC_RELAXED);
    snprintf(buf, len, "%s", (const char *)ctx);
}

/* Lock identities: addresses of these words. */
static long lock_a, lock_b, lock_c, lock_d;

static const char *lock_name(const void *id)
{
    return id == &lock_a ? "LockA" : id == &lock_b ? "LockB" : id == &lock_c ? "LockC" : "LockD";
}

/* Acquires `id` while holding held[0..n) in `routine`. */
static void take(struct lg_graph *g, const void *id, const char *routine, enum lg_context ctx,
                 const void *const *held, unsigned n)
{
    struct lg_acquire a = {
        .id = id,
        .name = name_of,
        .name_ctx = (void *)lock_name(id),
        .routine = routine,
        .context = ctx,
        .irql = 2,
    };
    lg_acquire(g, &a, held, n);
}

/* A then B (B taken holding A). */
static void order(struct lg_graph *g, const void *first, const void *second, const char *routine)
{
    take(g, first, routine, LG_CTX_OTHER, NULL, 0);
    take(g, second, routine, LG_CTX_OTHER, &first, 1);
}

static struct lg_graph *new_graph(struct sink *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    struct lg_graph *g = lg_create(on_report, s);
    assert_non_null(g);
    return g;
}

static unsigned count_stacks(const char *text)
{
    unsigned n = 0;
    for (const char *p = text; (p = strstr(p, "#0 ")) != NULL; p++)
        n++;
    return n;
}

static void test_inversion_reported_once_with_both_stacks(void **state)
{
    (void)state;
    struct sink s;
    struct lg_graph *g = new_graph(&s);
    order(g, &lock_a, &lock_b, "RoutineOne");
    assert_int_equal(s.inversions, 0);
    order(g, &lock_b, &lock_a, "RoutineTwo");
    assert_int_equal(s.inversions, 1);
    /* both orders, each with its routine and a stack */
    assert_non_null(strstr(s.last, "LockA -> LockB in RoutineOne"));
    assert_non_null(strstr(s.last, "LockB -> LockA in RoutineTwo"));
    assert_int_equal(count_stacks(s.last), 2);
    /* the first line is a summary naming both locks */
    const char *nl = strchr(s.last, '\n');
    assert_non_null(nl);
    assert_true(strstr(s.last, "LockB then LockA") < nl);
    /* the same pair again, in either order: no new report */
    order(g, &lock_b, &lock_a, "RoutineTwo");
    order(g, &lock_a, &lock_b, "RoutineOne");
    assert_int_equal(s.inversions, 1);
    /* one name per lock, made when the lock was first seen */
    struct lg_stats st;
    lg_get_stats(g, &st);
    assert_int_equal(st.nodes, 2);
    assert_int_equal(st.edges, 2);
    assert_int_equal(st.inversions, 1);
    lg_destroy(g);
}

static void test_transitive_inversion(void **state)
{
    (void)state;
    struct sink s;
    struct lg_graph *g = new_graph(&s);
    order(g, &lock_a, &lock_b, "R1");
    order(g, &lock_b, &lock_c, "R2");
    assert_int_equal(s.inversions, 0);
    order(g, &lock_c, &lock_a, "R3");
    assert_int_equal(s.inversions, 1);
    assert_non_null(strstr(s.last, "LockC -> LockA in R3"));
    assert_non_null(strstr(s.last, "LockA -> LockB in R1"));
    assert_non_null(strstr(s.last, "LockB -> LockC in R2"));
    assert_non_null(strstr(s.last, "through other locks"));
    assert_int_equal(count_stacks(s.last), 3);
    lg_destroy(g);
}

static void test_consistent_order_no_report(void **state)
{
    (void)state;
    struct sink s;
    struct lg_graph *g = new_graph(&s);
    unsigned before = __atomic_load_n(&names_made, __ATOMIC_RELAXED);
    for (int i = 0; i < 100; i++) {
        const void *held[3] = { &lock_a, &lock_b, &lock_c };
        take(g, &lock_a, "R", LG_CTX_OTHER, NULL, 0);
        take(g, &lock_b, "R", LG_CTX_OTHER, held, 1);
        take(g, &lock_c, "R", LG_CTX_OTHER, held, 2);
        take(g, &lock_d, "R", LG_CTX_OTHER, held, 3);
        /* skipping a lock keeps the order too */
        take(g, &lock_c, "R", LG_CTX_OTHER, held, 1);
        /* a held list naming the lock itself is not an edge to itself */
        take(g, &lock_a, "R", LG_CTX_OTHER, held, 1);
    }
    assert_int_equal(s.inversions, 0);
    struct lg_stats st;
    lg_get_stats(g, &st);
    assert_int_equal(st.nodes, 4);
    assert_int_equal(st.edges, 6); /* a-b a-c a-d b-c b-d c-d */
    /* known edges never take the mutex again */
    assert_int_equal(st.slow_paths, 6);
    assert_int_equal(__atomic_load_n(&names_made, __ATOMIC_RELAXED) - before, 4);
    lg_destroy(g);
}

static void test_pair_dedup_is_per_pair(void **state)
{
    (void)state;
    struct sink s;
    struct lg_graph *g = new_graph(&s);
    order(g, &lock_a, &lock_b, "R1");
    order(g, &lock_b, &lock_a, "R2");
    order(g, &lock_c, &lock_d, "R3");
    order(g, &lock_d, &lock_c, "R4");
    assert_int_equal(s.inversions, 2);
    assert_non_null(strstr(s.last, "LockC -> LockD in R3"));
    order(g, &lock_d, &lock_c, "R4");
    order(g, &lock_b, &lock_a, "R2");
    assert_int_equal(s.inversions, 2);
    lg_destroy(g);
}

static void test_interrupt_unsafe(void **state)
{
    (void)state;
    struct sink s;
    struct lg_graph *g = new_graph(&s);
    /* masked (IRQL >= DIRQL) and interrupt context: safe */
    take(g, &lock_a, "HwStorStartIo", LG_CTX_OTHER, NULL, 0);
    take(g, &lock_a, "HwStorInterrupt", LG_CTX_IRQ, NULL, 0);
    assert_int_equal(s.irq_unsafe, 0);
    /* the interrupt lock itself is exempt */
    struct lg_acquire il = { .id = &lock_d, .routine = "HwStorStartIo", .context = LG_CTX_IRQ_ENABLED,
                             .interrupt_lock = true };
    lg_acquire(g, &il, NULL, 0);
    il.context = LG_CTX_IRQ;
    lg_acquire(g, &il, NULL, 0);
    assert_int_equal(s.irq_unsafe, 0);
    /* enabled elsewhere: reported once, naming both routines */
    take(g, &lock_a, "HwStorDpcRoutine", LG_CTX_IRQ_ENABLED, NULL, 0);
    assert_int_equal(s.irq_unsafe, 1);
    assert_non_null(strstr(s.last, "LockA is taken in interrupt context (HwStorInterrupt)"));
    assert_non_null(strstr(s.last, "HwStorDpcRoutine at IRQL 2"));
    assert_int_equal(count_stacks(s.last), 2);
    take(g, &lock_a, "HwStorDpcRoutine", LG_CTX_IRQ_ENABLED, NULL, 0);
    take(g, &lock_a, "HwStorInterrupt", LG_CTX_IRQ, NULL, 0);
    assert_int_equal(s.irq_unsafe, 1);
    /* the other order of discovery works too */
    take(g, &lock_b, "HwStorStartIo", LG_CTX_IRQ_ENABLED, NULL, 0);
    take(g, &lock_b, "HwMSIInterruptRoutine", LG_CTX_IRQ, NULL, 0);
    assert_int_equal(s.irq_unsafe, 2);
    lg_destroy(g);
}

static void test_bad_input(void **state)
{
    (void)state;
    struct sink s;
    struct lg_graph *g = new_graph(&s);
    /* a NULL lock or graph is ignored, not a crash */
    struct lg_acquire a = { .id = NULL, .routine = "R" };
    lg_acquire(g, &a, NULL, 0);
    a.id = &lock_a;
    lg_acquire(NULL, &a, NULL, 0);
    /* an unknown held lock (never acquired through the graph) adds no edge */
    const void *unknown = &lock_d;
    lg_acquire(g, &a, &unknown, 1);
    struct lg_stats st;
    lg_get_stats(g, &st);
    assert_int_equal(st.nodes, 1);
    assert_int_equal(st.edges, 0);
    lg_get_stats(NULL, &st);
    assert_int_equal(st.nodes, 0);
    lg_destroy(NULL);
    lg_destroy(g);
}

/* ---- concurrency ----------------------------------------------------------- */

#define NLOCKS 8
static long many[NLOCKS];
static struct lg_graph *shared;

static void *worker(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    unsigned iters = tu_iterations(4000);
    for (unsigned it = 0; it < iters; it++) {
        /* a random ascending subset: one global order */
        const void *held[NLOCKS];
        unsigned n = 0;
        for (unsigned i = 0; i < NLOCKS; i++) {
            if (tu_rand(&rng) & 1)
                continue;
            struct lg_acquire a = { .id = &many[i], .routine = "Worker", .context = LG_CTX_OTHER };
            lg_acquire(shared, &a, held, n);
            held[n++] = &many[i];
        }
    }
    return NULL;
}

static void test_concurrent_consistent_then_inverted(void **state)
{
    (void)state;
    struct sink s;
    shared = new_graph(&s);
    uint64_t seed = tu_seed();
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(seed + i * 7919)), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(s.inversions, 0);
    struct lg_stats st;
    lg_get_stats(shared, &st);
    assert_true(st.edges <= NLOCKS * (NLOCKS - 1) / 2);
    /* every slow path added an edge or lost a race to add the same one */
    assert_true(st.slow_paths < st.edges + 4 * NLOCKS * NLOCKS);
    /* one inverted pair: reported once */
    const void *hi = &many[NLOCKS - 1];
    struct lg_acquire lo = { .id = &many[0], .routine = "Inverter", .context = LG_CTX_OTHER };
    lg_acquire(shared, &lo, &hi, 1);
    assert_int_equal(s.inversions, 1);
    lg_destroy(shared);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inversion_reported_once_with_both_stacks),
        cmocka_unit_test(test_transitive_inversion),
        cmocka_unit_test(test_consistent_order_no_report),
        cmocka_unit_test(test_pair_dedup_is_per_pair),
        cmocka_unit_test(test_interrupt_unsafe),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_concurrent_consistent_then_inverted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
