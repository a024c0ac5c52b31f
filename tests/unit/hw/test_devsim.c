/* ustor-test-labels: concurrency */
/*
 * test_devsim.c - PRNG and latency reproducibility, fault rolls, the
 * option string parser, and the worker engine driven by a toy device
 * (completion, error injection, stuck commands released by reset).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hw/devsim.h"

static uint64_t test_seed(void)
{
    const char *s = getenv("USTOR_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
    print_message("seed=%llu (set USTOR_SEED to repeat)\n", (unsigned long long)seed);
    return seed;
}

static void test_rng_reproducible(void **state)
{
    (void)state;
    struct ustor_rng a, b, c;
    ustor_rng_seed(&a, 42);
    ustor_rng_seed(&b, 42);
    ustor_rng_seed(&c, 43);
    int same_as_c = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = ustor_rng_next(&a);
        assert_int_equal(x, ustor_rng_next(&b));
        same_as_c += x == ustor_rng_next(&c);
    }
    assert_true(same_as_c < 5);
    for (int i = 0; i < 1000; i++) {
        double d = ustor_rng_double(&a);
        assert_true(d >= 0.0 && d < 1.0);
    }
}

static void test_latency_models(void **state)
{
    (void)state;
    uint64_t seed = test_seed();
    struct ustor_rng r1, r2;
    struct ustor_hw_latency zero = { USTOR_HW_LAT_ZERO, 0, 0 };
    struct ustor_hw_latency fixed = { USTOR_HW_LAT_FIXED, 1234, 0 };
    struct ustor_hw_latency uni = { USTOR_HW_LAT_UNIFORM, 1000, 3000 };
    struct ustor_hw_latency ex = { USTOR_HW_LAT_EXP, 20000, 0 };
    ustor_rng_seed(&r1, seed);
    ustor_rng_seed(&r2, seed);
    double sum_uni = 0, sum_exp = 0;
    const int n = 100000;
    for (int i = 0; i < n; i++) {
        assert_int_equal(ustor_latency_sample(&zero, &r1), 0);
        assert_int_equal(ustor_latency_sample(&fixed, &r1), 1234);
        uint64_t u = ustor_latency_sample(&uni, &r1);
        assert_true(u >= 1000 && u <= 3000);
        assert_int_equal(u, ustor_latency_sample(&uni, &r2));
        sum_uni += (double)u;
        uint64_t e = ustor_latency_sample(&ex, &r1);
        assert_int_equal(e, ustor_latency_sample(&ex, &r2));
        sum_exp += (double)e;
    }
    /* Means within 5% over 100k draws (standard error is well under 1%). */
    assert_true(fabs(sum_uni / n - 2000.0) < 100.0);
    assert_true(fabs(sum_exp / n - 20000.0) < 1000.0);
}

static void test_fault_rolls_reproducible(void **state)
{
    (void)state;
    uint64_t seed = test_seed();
    struct ustor_hw_fault_rate p = { .prob = 0.01 };
    int counts[2] = { 0, 0 };
    for (int run = 0; run < 2; run++) {
        struct ustor_rng r;
        atomic_uint_least64_t ctr = 0;
        ustor_rng_seed(&r, seed);
        for (int i = 0; i < 100000; i++)
            counts[run] += ustor_fault_roll(&p, &r, &ctr);
    }
    assert_int_equal(counts[0], counts[1]);
    assert_true(counts[0] > 700 && counts[0] < 1300); /* mean 1000, sd ~31 */

    struct ustor_hw_fault_rate every = { .every = 7 };
    struct ustor_hw_fault_rate never = { 0 };
    struct ustor_rng r;
    ustor_rng_seed(&r, seed);
    atomic_uint_least64_t ctr = 0;
    int fired = 0, first = -1;
    for (int i = 0; i < 700; i++) {
        if (ustor_fault_roll(&every, &r, &ctr)) {
            fired++;
            if (first < 0)
                first = i;
        }
        assert_false(ustor_fault_roll(&never, &r, &ctr));
    }
    assert_int_equal(fired, 100);
    assert_int_equal(first, 6); /* the 7th opportunity */
}

static void test_parse_options(void **state)
{
    (void)state;
    struct ustor_hw_options o;
    char err[256];
    assert_int_equal(ustor_hw_parse_options(
                         "latency=exp:20us;faults=drop_irq:0.01,stuck:0.001,error:0.01,reset:0.0001;seed=42",
                         &o, err, sizeof(err)),
                     0);
    assert_int_equal(o.latency.kind, USTOR_HW_LAT_EXP);
    assert_int_equal(o.latency.a_ns, 20000);
    assert_true(fabs(o.faults[USTOR_HW_FAULT_DROP_IRQ].prob - 0.01) < 1e-12);
    assert_true(fabs(o.faults[USTOR_HW_FAULT_STUCK].prob - 0.001) < 1e-12);
    assert_true(fabs(o.faults[USTOR_HW_FAULT_RESET].prob - 0.0001) < 1e-12);
    assert_true(o.seed_set);
    assert_int_equal(o.seed, 42);
    assert_int_equal(o.irq_delay_ns, 1000000); /* default */

    assert_int_equal(ustor_hw_parse_options(" latency = uniform:1us-2.5ms ; faults=error:every:10 ;"
                                            "workers=3;depth=16;irq_delay=5ms;capacity=1M;queues=2;"
                                            "queue_size=64;msix=off;file=/tmp/x;serial=ABC",
                                            &o, err, sizeof(err)),
                     0);
    assert_int_equal(o.latency.kind, USTOR_HW_LAT_UNIFORM);
    assert_int_equal(o.latency.a_ns, 1000);
    assert_int_equal(o.latency.b_ns, 2500000);
    assert_int_equal(o.faults[USTOR_HW_FAULT_ERROR].every, 10);
    assert_int_equal(o.workers, 3);
    assert_int_equal(o.max_inflight, 16);
    assert_int_equal(o.irq_delay_ns, 5000000);
    assert_int_equal(o.capacity_bytes, 1 << 20);
    assert_int_equal(o.num_queues, 2);
    assert_int_equal(o.queue_size, 64);
    assert_int_equal(o.msix, 0);
    assert_string_equal(o.file, "/tmp/x");
    assert_string_equal(o.serial, "ABC");
    assert_int_equal(ustor_hw_parse_options("latency=fixed:300", &o, err, sizeof(err)), 0);
    assert_int_equal(o.latency.a_ns, 300);
    assert_int_equal(ustor_hw_parse_options(NULL, &o, err, sizeof(err)), 0);
    assert_int_equal(o.latency.kind, USTOR_HW_LAT_ZERO);
    assert_int_equal(o.msix, -1);

    /* Each error names what was wrong and what is allowed. */
    static const struct {
        const char *text, *must_mention, *must_mention2;
    } bad[] = {
        { "speed=fast", "'speed'", "allowed" },
        { "latency=gauss:1us", "'gauss'", "exp:" },
        { "latency=fixed:10parsecs", "10parsecs", "duration" },
        { "latency=uniform:5us-1us", "below", "uniform" },
        { "faults=explode:0.1", "'explode'", "drop_irq" },
        { "faults=error:1.5", "'1.5'", "between 0 and 1" },
        { "faults=error", "no rate", "every" },
        { "faults=stuck:every:0", "'0'", "positive" },
        { "seed=-3", "'-3'", "seed" },
        { "workers=0", "'0'", "1 to 64" },
        { "queue_size=100", "power of two", "queue_size" },
        { "capacity=1000", "multiple of 512", "capacity" },
        { "msix=maybe", "'maybe'", "on or off" },
        { "serial=123456789012345678901", "20 characters", "serial" },
        { "latency", "no value", "key=value" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        assert_int_equal(ustor_hw_parse_options(bad[i].text, &o, err, sizeof(err)), -EINVAL);
        if (!strstr(err, bad[i].must_mention) || !strstr(err, bad[i].must_mention2))
            fail_msg("'%s' gave \"%s\"", bad[i].text, err);
    }
    assert_string_equal(ustor_hw_fault_name(USTOR_HW_FAULT_SPURIOUS_IRQ), "spurious_irq");
}

/* ---- a toy device on the engine --------------------------------------- */

#define TOY_QUEUES 3
#define TOY_MAX 512

struct toy_req {
    struct ustor_devsim_req base;
    int id;
    bool error;
};

struct toy {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int queued[TOY_QUEUES][TOY_MAX];
    int head[TOY_QUEUES], tail[TOY_QUEUES];
    int executed, completed, errors, discarded, irqs, spurious, resets;
    bool done[TOY_QUEUES * TOY_MAX];
};

static struct ustor_devsim_req *toy_fetch(void *ctx, unsigned q)
{
    struct toy *t = ctx;
    pthread_mutex_lock(&t->lock);
    struct toy_req *r = NULL;
    if (t->head[q] != t->tail[q]) {
        r = calloc(1, sizeof(*r));
        r->id = t->queued[q][t->head[q]++];
    }
    pthread_mutex_unlock(&t->lock);
    return r ? &r->base : NULL;
}

static void toy_execute(void *ctx, struct ustor_devsim_req *req, bool inject_error)
{
    struct toy *t = ctx;
    pthread_mutex_lock(&t->lock);
    t->executed++;
    pthread_mutex_unlock(&t->lock);
    ((struct toy_req *)req)->error = inject_error;
}

static void toy_complete(void *ctx, struct ustor_devsim_req *req)
{
    struct toy *t = ctx;
    struct toy_req *r = (struct toy_req *)req;
    pthread_mutex_lock(&t->lock);
    t->completed++;
    t->errors += r->error;
    t->done[r->id] = true;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
    free(r);
}

static void toy_discard(void *ctx, struct ustor_devsim_req *req)
{
    struct toy *t = ctx;
    pthread_mutex_lock(&t->lock);
    t->discarded++;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
    free(req);
}

static void toy_interrupt(void *ctx, unsigned q, bool spurious)
{
    struct toy *t = ctx;
    (void)q;
    pthread_mutex_lock(&t->lock);
    t->irqs++;
    t->spurious += spurious;
    pthread_mutex_unlock(&t->lock);
}

static void toy_reset_event(void *ctx)
{
    struct toy *t = ctx;
    pthread_mutex_lock(&t->lock);
    t->resets++;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

static const struct ustor_devsim_ops toy_ops = {
    .fetch = toy_fetch,
    .execute = toy_execute,
    .complete = toy_complete,
    .discard = toy_discard,
    .interrupt = toy_interrupt,
    .reset_event = toy_reset_event,
};

static void toy_init(struct toy *t)
{
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
}

static void toy_submit(struct toy *t, struct ustor_devsim *sim, int n)
{
    for (int i = 0; i < n; i++) {
        unsigned q = (unsigned)i % TOY_QUEUES;
        pthread_mutex_lock(&t->lock);
        t->queued[q][t->tail[q]++] = i;
        pthread_mutex_unlock(&t->lock);
        ustor_devsim_kick(sim, q);
    }
}

/* Waits (bounded: a hang is a failure, not a stuck test) for pred. */
static bool toy_wait(struct toy *t, bool (*pred)(struct toy *, int), int arg)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    pthread_mutex_lock(&t->lock);
    bool ok = true;
    while (!pred(t, arg) && ok)
        ok = pthread_cond_timedwait(&t->cond, &t->lock, &ts) == 0 || pred(t, arg);
    pthread_mutex_unlock(&t->lock);
    return ok;
}

static bool all_completed(struct toy *t, int n)
{
    return t->completed == n;
}

static void test_engine_completes_everything(void **state)
{
    (void)state;
    uint64_t seed = test_seed();
    for (int iter = 0; iter < 5; iter++) {
        struct toy t;
        toy_init(&t);
        struct ustor_hw_options o;
        char err[200];
        assert_int_equal(ustor_hw_parse_options("latency=uniform:0-50us;depth=8;faults=error:0.25,spurious_irq:0.1",
                                                &o, err, sizeof(err)),
                         0);
        o.seed = seed + (uint64_t)iter;
        struct ustor_devsim sim;
        assert_int_equal(ustor_devsim_start(&sim, "toy", &o, TOY_QUEUES, &toy_ops, &t), 0);
        assert_int_equal(sim.nworkers, 2); /* default: one per queue, up to 2 */
        const int n = 300;
        toy_submit(&t, &sim, n);
        if (!toy_wait(&t, all_completed, n))
            fail_msg("only %d of %d completed (seed=%llu)", t.completed, n, (unsigned long long)o.seed);
        ustor_devsim_stop(&sim);
        for (int i = 0; i < n; i++)
            assert_true(t.done[i]);
        assert_int_equal(t.executed, n);
        assert_int_equal((uint64_t)t.errors, atomic_load(&sim.faults[USTOR_HW_FAULT_ERROR]));
        assert_true(t.errors > 0 && t.errors < n);
        assert_int_equal((uint64_t)t.spurious, atomic_load(&sim.irqs_spurious));
        assert_true(t.irqs > t.spurious);
        assert_int_equal(t.discarded, 0);
    }
}

static void test_stuck_released_by_reset(void **state)
{
    (void)state;
    struct toy t;
    toy_init(&t);
    struct ustor_hw_options o;
    char err[200];
    assert_int_equal(ustor_hw_parse_options("faults=stuck:every:2;workers=1", &o, err, sizeof(err)), 0);
    struct ustor_devsim sim;
    assert_int_equal(ustor_devsim_start(&sim, "toy", &o, TOY_QUEUES, &toy_ops, &t), 0);
    const int n = 40;
    toy_submit(&t, &sim, n);
    assert_true(toy_wait(&t, all_completed, n / 2));
    /* The other half is held, not completed; wait until all were fetched. */
    for (int i = 0; i < 2000 && ustor_devsim_held(&sim) != (unsigned)n / 2; i++)
        usleep(1000);
    assert_int_equal(ustor_devsim_held(&sim), n / 2);
    usleep(20000);
    pthread_mutex_lock(&t.lock);
    assert_int_equal(t.completed, n / 2);
    assert_int_equal(t.discarded, 0);
    pthread_mutex_unlock(&t.lock);
    assert_int_equal(atomic_load(&sim.faults[USTOR_HW_FAULT_STUCK]), n / 2);

    ustor_devsim_reset(&sim, NULL, NULL);
    assert_int_equal(ustor_devsim_held(&sim), 0);
    pthread_mutex_lock(&t.lock);
    assert_int_equal(t.discarded, n / 2);
    pthread_mutex_unlock(&t.lock);
    assert_int_equal(atomic_load(&sim.dropped_by_reset), n / 2);
    ustor_devsim_stop(&sim);
}

static bool reset_seen(struct toy *t, int n)
{
    return t->resets >= n;
}

static void test_injected_reset_loses_inflight(void **state)
{
    (void)state;
    struct toy t;
    toy_init(&t);
    struct ustor_hw_options o;
    char err[200];
    /* Long latency keeps the first commands in flight when the 5th
     * triggers the reset. */
    assert_int_equal(ustor_hw_parse_options("latency=fixed:10s;faults=reset:every:5;workers=1", &o, err, sizeof(err)), 0);
    struct ustor_devsim sim;
    assert_int_equal(ustor_devsim_start(&sim, "toy", &o, 1, &toy_ops, &t), 0);
    pthread_mutex_lock(&t.lock);
    for (int i = 0; i < 5; i++)
        t.queued[0][t.tail[0]++] = i;
    pthread_mutex_unlock(&t.lock);
    ustor_devsim_kick(&sim, 0);
    assert_true(toy_wait(&t, reset_seen, 1));
    assert_true(atomic_load(&sim.needs_reset));
    assert_int_equal(ustor_devsim_held(&sim), 0);
    pthread_mutex_lock(&t.lock);
    assert_int_equal(t.completed, 0);
    assert_int_equal(t.discarded, 5);
    pthread_mutex_unlock(&t.lock);
    /* Nothing is taken until the driver resets the device. */
    pthread_mutex_lock(&t.lock);
    t.queued[0][t.tail[0]++] = 5;
    pthread_mutex_unlock(&t.lock);
    ustor_devsim_kick(&sim, 0);
    usleep(20000);
    pthread_mutex_lock(&t.lock);
    assert_int_equal(t.executed, 4);
    pthread_mutex_unlock(&t.lock);
    ustor_devsim_reset(&sim, NULL, NULL);
    assert_false(atomic_load(&sim.needs_reset));
    ustor_devsim_stop(&sim); /* power-off with a command in flight: no hang */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_reproducible),
        cmocka_unit_test(test_latency_models),
        cmocka_unit_test(test_fault_rolls_reproducible),
        cmocka_unit_test(test_parse_options),
        cmocka_unit_test(test_engine_completes_everything),
        cmocka_unit_test(test_stuck_released_by_reset),
        cmocka_unit_test(test_injected_reset_loses_inflight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
