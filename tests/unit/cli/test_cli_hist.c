/* Unit tests for cli/cli_hist.c: bucket arithmetic, percentiles, merge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli_hist.h"

static uint64_t seed_from_env(void)
{
    const char *s = getenv("USTOR_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
    return seed;
}

static uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void test_buckets_cover_every_value_in_order(void **state)
{
    (void)state;
    /* contiguous, increasing, each value inside its bucket */
    for (unsigned i = 0; i + 1 < CLI_HIST_BUCKETS; i++) {
        assert_true(cli_hist_bucket_low(i) <= cli_hist_bucket_high(i));
        assert_int_equal(cli_hist_bucket_high(i) + 1, cli_hist_bucket_low(i + 1));
    }
    assert_int_equal(cli_hist_bucket_high(CLI_HIST_BUCKETS - 1), UINT64_MAX);
    assert_int_equal(cli_hist_index(UINT64_MAX), CLI_HIST_BUCKETS - 1);
    uint64_t x = seed_from_env() | 1;
    printf("seed %llu\n", (unsigned long long)x);
    for (int k = 0; k < 100000; k++) {
        uint64_t v = xorshift(&x) >> (xorshift(&x) % 64);
        unsigned i = cli_hist_index(v);
        assert_true(cli_hist_bucket_low(i) <= v);
        assert_true(v <= cli_hist_bucket_high(i));
        /* relative width under 1/64 above the linear range */
        if (v >= CLI_HIST_SUB)
            assert_true(cli_hist_bucket_high(i) - cli_hist_bucket_low(i) < v / 32);
    }
    for (uint64_t v = 0; v < CLI_HIST_SUB; v++)
        assert_int_equal(cli_hist_bucket_low(cli_hist_index(v)), v);
}

static void test_percentiles_of_uniform_values(void **state)
{
    (void)state;
    struct cli_hist h;
    cli_hist_init(&h);
    assert_int_equal(cli_hist_percentile(&h, 50), 0);
    for (uint64_t v = 1; v <= 10000; v++)
        cli_hist_record(&h, v * 1000);
    assert_int_equal(h.count, 10000);
    assert_int_equal(h.min, 1000);
    assert_int_equal(h.max, 10000000);
    double want[] = { 50, 90, 99, 99.9 };
    uint64_t prev = 0;
    for (int i = 0; i < 4; i++) {
        uint64_t exact = (uint64_t)(want[i] * 100) * 1000;
        uint64_t got = cli_hist_percentile(&h, want[i]);
        assert_true(got >= exact);
        assert_true(got <= exact + exact / 64 + 1);
        assert_true(got >= prev);
        prev = got;
    }
    assert_int_equal(cli_hist_percentile(&h, 100), h.max);
    assert_int_equal(cli_hist_percentile(&h, 0), h.min);
    assert_true(cli_hist_mean(&h) > 5000000.0 && cli_hist_mean(&h) < 5001000.0);
}

static void test_single_value_percentiles_are_exact(void **state)
{
    (void)state;
    struct cli_hist h;
    cli_hist_init(&h);
    cli_hist_record(&h, 123456);
    /* clamped to min/max, so one sample reports itself everywhere */
    assert_int_equal(cli_hist_percentile(&h, 50), 123456);
    assert_int_equal(cli_hist_percentile(&h, 99.9), 123456);
}

static void test_merge_equals_recording_together(void **state)
{
    (void)state;
    struct cli_hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b)), *all = malloc(sizeof(*all));
    cli_hist_init(a);
    cli_hist_init(b);
    cli_hist_init(all);
    uint64_t x = seed_from_env() | 1;
    for (int k = 0; k < 5000; k++) {
        uint64_t v = xorshift(&x) % 1000000;
        cli_hist_record(k % 2 ? a : b, v);
        cli_hist_record(all, v);
    }
    cli_hist_merge(a, b);
    assert_int_equal(a->count, all->count);
    assert_int_equal(a->sum, all->sum);
    assert_int_equal(a->min, all->min);
    assert_int_equal(a->max, all->max);
    assert_memory_equal(a->buckets, all->buckets, sizeof(a->buckets));
    assert_int_equal(cli_hist_percentile(a, 99), cli_hist_percentile(all, 99));
    free(a);
    free(b);
    free(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets_cover_every_value_in_order),
        cmocka_unit_test(test_percentiles_of_uniform_values),
        cmocka_unit_test(test_single_value_percentiles_are_exact),
        cmocka_unit_test(test_merge_equals_recording_together),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
