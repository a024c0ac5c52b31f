/* Unit tests for src/kernel/pool.c: ExAllocatePool* / ExFreePool*. */
#include "ktest.h"

static int teardown(void **state)
{
    (void)state;
    ukern_irql_set(PASSIVE_LEVEL);
    ktest_reset_hooks();
    return 0;
}

#define TAG_A 0x41414141u
#define TAG_B 0x42424242u

static struct {
    int allocs, frees;
    void *p;
    SIZE_T size;
    ULONG tag;
    const char *api;
    void *freed;
} g_log;

static void on_alloc(void *p, SIZE_T size, ULONG tag, const char *api)
{
    g_log.allocs++;
    g_log.p = p;
    g_log.size = size;
    g_log.tag = tag;
    g_log.api = api;
}

static void on_free(void *p, const char *api)
{
    g_log.frees++;
    g_log.freed = p;
    g_log.api = api;
}

static void test_alloc_and_free_hooks(void **state)
{
    (void)state;
    memset(&g_log, 0, sizeof(g_log));
    ukern_hooks.pool_alloc = on_alloc;
    ukern_hooks.pool_free = on_free;
    void *p = ExAllocatePoolWithTag(NonPagedPoolNx, 100, TAG_A);
    KCHECK(p != NULL);
    KCHECK(g_log.allocs == 1 && g_log.p == p && g_log.size == 100);
    KCHECK(g_log.tag == TAG_A);
    KCHECK(strcmp(g_log.api, "ExAllocatePoolWithTag") == 0);
    memset(p, 0xab, 100); /* the whole block is usable */
    ExFreePoolWithTag(p, TAG_A);
    KCHECK(g_log.frees == 1 && g_log.freed == p);
    KCHECK(strcmp(g_log.api, "ExFreePoolWithTag") == 0);

    void *q = ExAllocatePool(PagedPool, 8);
    KCHECK(q != NULL && g_log.allocs == 2);
    ExFreePool(q);
    KCHECK(g_log.frees == 2 && g_log.freed == q);
}

static void test_pool2_zeroes_unless_uninitialized(void **state)
{
    (void)state;
    unsigned char *p = ExAllocatePool2(POOL_FLAG_NON_PAGED, 256, TAG_A);
    KCHECK(p != NULL);
    for (int i = 0; i < 256; i++)
        KCHECK(p[i] == 0);
    ExFreePoolWithTag(p, TAG_A);
    p = ExAllocatePool2(POOL_FLAG_NON_PAGED | POOL_FLAG_UNINITIALIZED, 64,
                        TAG_A);
    KCHECK(p != NULL);
    ExFreePool(p);
}

static void test_pool2_rejects_bad_flags(void **state)
{
    (void)state;
    ktest_record_violations();
    KCHECK(ExAllocatePool2(0, 16, TAG_A) == NULL); /* no pool kind */
    KCHECK(ExAllocatePool2(POOL_FLAG_NON_PAGED | POOL_FLAG_PAGED, 16, TAG_A) ==
           NULL);
    KCHECK(ExAllocatePool2(POOL_FLAG_NON_PAGED | 0x1000000ull, 16, TAG_A) ==
           NULL); /* unknown required bit */
    KCHECK(ktest_violation_count() == 3);
    /* unknown optional bits are ignored */
    void *p = ExAllocatePool2(POOL_FLAG_NON_PAGED | 0x200000000ull, 16, TAG_A);
    KCHECK(p != NULL);
    KCHECK(ktest_violation_count() == 3);
    ExFreePool(p);
}

static void test_large_blocks_are_page_aligned(void **state)
{
    (void)state;
    void *p = ExAllocatePoolWithTag(NonPagedPoolNx, PAGE_SIZE * 2, TAG_A);
    KCHECK(p != NULL);
    KCHECK(((uintptr_t)p & (PAGE_SIZE - 1)) == 0);
    void *q = ExAllocatePoolWithTag(NonPagedPoolNx, 24, TAG_A);
    KCHECK(((uintptr_t)q & 15) == 0);
    ExFreePool(p);
    ExFreePool(q);
}

static void test_tag_mismatch_and_null_free_reported(void **state)
{
    (void)state;
    ktest_record_violations();
    void *p = ExAllocatePoolWithTag(NonPagedPoolNx, 10, TAG_A);
    ExFreePoolWithTag(p, TAG_B);
    KCHECK(ktest_violation_count() == 1);
    KCHECK(strcmp(ktest_last_rule, "ExFreePoolWithTag-Tag") == 0);
    ExFreePool(NULL);
    KCHECK(ktest_violation_count() == 2);
}

static void test_irql_rules_reported(void **state)
{
    (void)state;
    ktest_record_violations();
    KIRQL old = KeRaiseIrqlToDpcLevel();
    void *np = ExAllocatePoolWithTag(NonPagedPoolNx, 10, TAG_A);
    KCHECK(ktest_violation_count() == 0); /* nonpaged at DISPATCH: fine */
    void *pp = ExAllocatePoolWithTag(PagedPool, 10, TAG_A);
    KCHECK(ktest_violation_count() == 1); /* paged at DISPATCH: not */
    KCHECK(strcmp(ktest_last_rule, "IrqlExAllocatePool") == 0);
    ExFreePool(np);
    ExFreePool(pp);
    KeLowerIrql(old);
    ukern_irql_set(5);
    void *x = ExAllocatePoolWithTag(NonPagedPoolNx, 10, TAG_A);
    KCHECK(ktest_violation_count() == 2);
    ExFreePool(x);
    KCHECK(ktest_violation_count() == 3);
    ukern_irql_set(PASSIVE_LEVEL);
}

static void test_bad_pool_type_rejected(void **state)
{
    (void)state;
    ktest_record_violations();
    KCHECK(ExAllocatePoolWithTag((POOL_TYPE)3, 10, TAG_A) == NULL);
    KCHECK(ExAllocatePoolWithTag((POOL_TYPE)77, 10, TAG_A) == NULL);
    KCHECK(ktest_violation_count() == 2);
}

int main(void)
{
    ktest_seed_init();
#define T(f) cmocka_unit_test_teardown(f, teardown)
    const struct CMUnitTest tests[] = {
        T(test_alloc_and_free_hooks),
        T(test_pool2_zeroes_unless_uninitialized),
        T(test_pool2_rejects_bad_flags),
        T(test_large_blocks_are_page_aligned),
        T(test_tag_mismatch_and_null_free_reported),
        T(test_irql_rules_reported),
        T(test_bad_pool_type_rejected),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
