/* ustor-test-labels: concurrency */
/*
 * test_physmem.c - simulated physical address space: map/unmap/translate,
 * faults reported through the hook, lookups racing map/unmap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hw/physmem.h"

static uint64_t test_seed(void)
{
    const char *s = getenv("USTOR_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
    print_message("seed=%llu (set USTOR_SEED to repeat)\n", (unsigned long long)seed);
    return seed;
}

static void test_map_translate_unmap(void **state)
{
    (void)state;
    size_t before = ustor_phys_mapping_count();
    uint8_t *buf = malloc(10000);
    assert_non_null(buf);
    uint64_t phys = ustor_phys_map(buf + 100, 5000);
    assert_int_not_equal(phys, 0);
    assert_int_not_equal(phys, (uint64_t)(uintptr_t)(buf + 100));
    assert_true(phys >= USTOR_PHYS_WINDOW_BASE);
    /* The offset inside the page is kept, as a real page mapping would. */
    assert_int_equal(phys % USTOR_PHYS_PAGE_SIZE, (uintptr_t)(buf + 100) % USTOR_PHYS_PAGE_SIZE);
    assert_int_equal(ustor_phys_mapping_count(), before + 1);

    assert_ptr_equal(ustor_phys_to_virt(phys, 5000), buf + 100);
    assert_ptr_equal(ustor_phys_to_virt(phys + 4999, 1), buf + 100 + 4999);
    assert_null(ustor_phys_to_virt(phys + 4999, 2)); /* runs off the end */
    assert_null(ustor_phys_to_virt(phys - 1, 1));
    assert_null(ustor_phys_to_virt(phys, 5001));

    size_t contig = 0;
    assert_int_equal(ustor_virt_to_phys(buf + 100, &contig), phys);
    assert_int_equal(contig, 5000);
    assert_int_equal(ustor_virt_to_phys(buf + 1100, &contig), phys + 1000);
    assert_int_equal(contig, 4000);
    assert_int_equal(ustor_virt_to_phys(buf + 99, &contig), 0);
    assert_int_equal(contig, 0);
    assert_int_equal(ustor_virt_to_phys(buf + 5100, NULL), 0);

    assert_int_equal(ustor_phys_unmap(phys), 0);
    assert_int_equal(ustor_phys_unmap(phys), -ENOENT);
    assert_null(ustor_phys_to_virt(phys, 1));
    assert_int_equal(ustor_virt_to_phys(buf + 100, NULL), 0);
    assert_int_equal(ustor_phys_mapping_count(), before);

    /* Mapping the same memory again gives a different physical range: a
     * stale address must not reach the new mapping. */
    uint64_t again = ustor_phys_map(buf + 100, 5000);
    assert_int_not_equal(again, 0);
    assert_true(again > phys + 5000);
    assert_null(ustor_phys_to_virt(phys, 1));
    assert_int_equal(ustor_phys_unmap(again), 0);
    free(buf);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    int x;
    assert_int_equal(ustor_phys_map(NULL, 10), 0);
    assert_int_equal(ustor_phys_map(&x, 0), 0);
    assert_int_equal(ustor_phys_unmap(0x12345), -ENOENT);
    assert_null(ustor_phys_to_virt(0, 1));
    assert_null(ustor_phys_to_virt(UINT64_MAX, 1));
}

static void test_overlapping_and_adjacent(void **state)
{
    (void)state;
    uint8_t *buf = malloc(8192);
    uint64_t a = ustor_phys_map(buf, 4096);
    uint64_t b = ustor_phys_map(buf + 4096, 4096);
    uint64_t whole = ustor_phys_map(buf, 8192);
    assert_true(a && b && whole);
    /* Adjacent in process memory, not in physical space: a DMA that spans
     * both must fault rather than silently cross. */
    assert_null(ustor_phys_to_virt(a + 4000, 200));
    assert_ptr_equal(ustor_phys_to_virt(whole + 4000, 200), buf + 4000);
    /* The longest contiguous run wins for the port's SG building. */
    size_t contig;
    assert_int_equal(ustor_virt_to_phys(buf + 10, &contig), whole + 10);
    assert_int_equal(contig, 8182);
    assert_int_equal(ustor_phys_unmap(whole), 0);
    assert_int_equal(ustor_virt_to_phys(buf + 10, &contig), a + 10);
    assert_int_equal(contig, 4086);
    assert_int_equal(ustor_virt_to_phys(buf + 5000, &contig), b + 904);
    assert_int_equal(ustor_phys_unmap(a), 0);
    assert_int_equal(ustor_phys_unmap(b), 0);
    free(buf);
}

static struct {
    int calls;
    char device[32];
    uint64_t phys;
    size_t len;
    bool write;
} g_fault;

static void fault_hook(const char *device, uint64_t phys, size_t len, bool write)
{
    g_fault.calls++;
    snprintf(g_fault.device, sizeof(g_fault.device), "%s", device);
    g_fault.phys = phys;
    g_fault.len = len;
    g_fault.write = write;
}

static void test_dma_and_fault_hook(void **state)
{
    (void)state;
    memset(&g_fault, 0, sizeof(g_fault));
    ustor_phys_fault_fn old = ustor_phys_set_fault_hook(fault_hook);
    uint8_t buf[256];
    memset(buf, 0xAB, sizeof(buf));
    uint64_t phys = ustor_phys_map(buf, sizeof(buf));
    uint8_t tmp[16];
    assert_true(ustor_phys_read("devA", phys + 8, tmp, sizeof(tmp)));
    assert_int_equal(tmp[0], 0xAB);
    memset(tmp, 0x11, sizeof(tmp));
    assert_true(ustor_phys_write("devA", phys + 240, tmp, sizeof(tmp)));
    assert_int_equal(buf[255], 0x11);
    assert_int_equal(g_fault.calls, 0);

    uint64_t faults = ustor_phys_fault_count();
    assert_false(ustor_phys_write("devB", phys + 250, tmp, sizeof(tmp)));
    assert_int_equal(g_fault.calls, 1);
    assert_string_equal(g_fault.device, "devB");
    assert_int_equal(g_fault.phys, phys + 250);
    assert_int_equal(g_fault.len, sizeof(tmp));
    assert_true(g_fault.write);
    assert_int_equal(buf[250], 0x11); /* nothing written past the fault */
    assert_int_equal(ustor_phys_fault_count(), faults + 1);

    /* A process pointer used as a physical address is a miss too. */
    assert_null(ustor_phys_dma_begin("devC", (uint64_t)(uintptr_t)buf, 4, false));
    assert_int_equal(g_fault.calls, 2);
    assert_false(g_fault.write);

    assert_int_equal(ustor_phys_unmap(phys), 0);
    assert_false(ustor_phys_read("devA", phys, tmp, 1));
    assert_int_equal(g_fault.calls, 3);
    assert_ptr_equal(ustor_phys_set_fault_hook(old), fault_hook);
    /* Plain assignment to the hook variable works as well. */
    ustor_phys_fault_hook = fault_hook;
    assert_false(ustor_phys_read("devD", phys, tmp, 1));
    assert_int_equal(g_fault.calls, 4);
    assert_string_equal(g_fault.device, "devD");
    ustor_phys_fault_hook = old;
}

static void test_reserve_never_overlaps(void **state)
{
    (void)state;
    uint64_t r = ustor_phys_reserve(1 << 20);
    assert_int_not_equal(r, 0);
    assert_null(ustor_phys_to_virt(r, 1));
    uint8_t buf[64];
    uint64_t p = ustor_phys_map(buf, sizeof(buf));
    assert_true(p >= r + (1 << 20) || p + sizeof(buf) <= r);
    assert_int_equal(ustor_phys_unmap(p), 0);
}

/* Freed space comes back only after the cursor went round the window,
 * and going round skips what is still mapped or reserved.  The window is
 * cut to 8 MiB so that some 40 laps take 20 000 mappings (the real one is
 * 1 TiB: 2^27 per-I/O mappings, where the old cursor stopped for good). */
static void test_cursor_wraps_and_skips_live_ranges(void **state)
{
    (void)state;
    uint64_t seed = test_seed(), x = seed;
    uint64_t old_window = ustor_phys_limit_window(8u << 20);
    assert_int_equal(old_window, USTOR_PHYS_WINDOW_SIZE);

    uint64_t res = ustor_phys_reserve(64 << 10);
    assert_int_not_equal(res, 0);
    uint8_t *keep = malloc(4096);
    assert_non_null(keep);
    memset(keep, 0xA5, 4096);
    uint64_t keep_phys = ustor_phys_map(keep, 4096);
    assert_int_not_equal(keep_phys, 0);

    uint8_t *buf = malloc(16384);
    assert_non_null(buf);
    uint64_t recent[64] = { 0 };
    unsigned wraps = 0;
    uint64_t last = 0;
    for (unsigned i = 0; i < 20000; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        size_t off = (size_t)(x >> 33) % 4096, len = 1 + (size_t)(x >> 45) % 12000;
        uint64_t p = ustor_phys_map(buf + off, len);
        if (!p)
            print_message("map %u failed, seed=%llu\n", i, (unsigned long long)seed);
        assert_int_not_equal(p, 0);
        assert_true(p >= USTOR_PHYS_WINDOW_BASE && p + len <= USTOR_PHYS_WINDOW_BASE + (8u << 20));
        /* Never on the reservation or the live mapping (guard pages apart). */
        assert_true(p + len <= res || p >= res + (64 << 10));
        assert_true(p + len < keep_phys || p > keep_phys + 4096);
        assert_ptr_equal(ustor_phys_to_virt(p, len), buf + off);
        /* The last 64 freed addresses stay unmapped (a lap is ~500 maps). */
        for (unsigned k = 0; k < 64; k++)
            assert_true(recent[k] == 0 || (recent[k] != p && ustor_phys_to_virt(recent[k], 1) == NULL));
        assert_int_equal(ustor_phys_unmap(p), 0);
        recent[i % 64] = p;
        wraps += p < last;
        last = p;
    }
    print_message("cursor went round the 8 MiB window %u times\n", wraps);
    assert_true(wraps >= 10);

    uint8_t got[4096];
    assert_true(ustor_phys_read("wrap-test", keep_phys, got, sizeof(got)));
    assert_memory_equal(got, keep, sizeof(got));
    assert_ptr_equal(ustor_phys_to_virt(keep_phys, 4096), keep);

    /* Full: map says so (0) rather than overlap; freeing makes room. */
    enum { MAXLIVE = 2048 };
    uint64_t *live = calloc(MAXLIVE, sizeof(*live));
    assert_non_null(live);
    unsigned n = 0;
    while (n < MAXLIVE && (live[n] = ustor_phys_map(buf, 4096)) != 0)
        n++;
    assert_true(n > 0 && n < MAXLIVE); /* 8 KiB each: under 1 024 fit */
    for (unsigned k = 0; k < n; k++) {
        assert_ptr_equal(ustor_phys_to_virt(live[k], 4096), buf);
        for (unsigned j = 0; j < k; j++)
            assert_true(live[j] + 4096 < live[k] || live[k] + 4096 < live[j]);
    }
    for (unsigned k = 0; k < n; k++)
        assert_int_equal(ustor_phys_unmap(live[k]), 0);
    uint64_t again = ustor_phys_map(buf, 4096);
    assert_int_not_equal(again, 0);
    assert_int_equal(ustor_phys_unmap(again), 0);
    free(live);

    assert_int_equal(ustor_phys_unmap(keep_phys), 0);
    free(keep);
    free(buf);
    assert_int_equal(ustor_phys_limit_window(0), 8u << 20);
}

/* Readers translate and copy while writers map and unmap their own ranges;
 * a reader's long-lived range must always translate to the same memory. */
#define RACE_THREADS 3
struct race_ctx {
    uint64_t seed;
    atomic_bool stop;
    uint64_t stable_phys;
    uint8_t *stable;
    atomic_int errors;
};

static void *race_mapper(void *arg)
{
    struct race_ctx *c = arg;
    uint64_t x = c->seed;
    for (int i = 0; i < 1000; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        size_t len = 1 + (size_t)(x >> 40) % 20000;
        uint8_t *b = malloc(len);
        uint64_t p = ustor_phys_map(b, len);
        if (!p || ustor_phys_to_virt(p, len) != b || ustor_virt_to_phys(b, NULL) == 0)
            atomic_fetch_add(&c->errors, 1);
        if (ustor_phys_unmap(p) != 0)
            atomic_fetch_add(&c->errors, 1);
        free(b);
    }
    atomic_store(&c->stop, true);
    return NULL;
}

static void *race_reader(void *arg)
{
    struct race_ctx *c = arg;
    uint8_t tmp[64];
    while (!atomic_load(&c->stop)) {
        if (!ustor_phys_read("racer", c->stable_phys + 64, tmp, sizeof(tmp)) || tmp[0] != 0x5A ||
            ustor_phys_to_virt(c->stable_phys, 4096) != c->stable)
            atomic_fetch_add(&c->errors, 1);
        sched_yield();
    }
    return NULL;
}

static void test_concurrent_lookups_while_mapping(void **state)
{
    (void)state;
    struct race_ctx c = { .seed = test_seed() };
    c.stable = malloc(4096);
    memset(c.stable, 0x5A, 4096);
    /* A 2 MiB window: the mapper's cursor goes round it, and past the
     * readers' range, a dozen times. */
    ustor_phys_limit_window(2u << 20);
    c.stable_phys = ustor_phys_map(c.stable, 4096);
    assert_int_not_equal(c.stable_phys, 0);
    pthread_t readers[RACE_THREADS], mapper;
    for (int i = 0; i < RACE_THREADS; i++)
        assert_int_equal(pthread_create(&readers[i], NULL, race_reader, &c), 0);
    assert_int_equal(pthread_create(&mapper, NULL, race_mapper, &c), 0);
    pthread_join(mapper, NULL);
    for (int i = 0; i < RACE_THREADS; i++)
        pthread_join(readers[i], NULL);
    ustor_phys_limit_window(0);
    if (atomic_load(&c.errors))
        print_message("failed with seed=%llu\n", (unsigned long long)c.seed);
    assert_int_equal(atomic_load(&c.errors), 0);
    assert_int_equal(ustor_phys_unmap(c.stable_phys), 0);
    free(c.stable);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_translate_unmap),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_overlapping_and_adjacent),
        cmocka_unit_test(test_dma_and_fault_hook),
        cmocka_unit_test(test_reserve_never_overlaps),
        cmocka_unit_test(test_cursor_wraps_and_skips_live_ranges),
        cmocka_unit_test(test_concurrent_lookups_while_mapping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
