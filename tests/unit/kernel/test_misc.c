/* Unit tests for src/kernel/misc.c and the inline helpers of <wdm.h>:
 * clocks, stall, processor queries, assertions, Interlocked*, Rtl*. */
#include <ntddk.h>

#include "ktest.h"

static int teardown(void **state)
{
    (void)state;
    ukern_irql_set(PASSIVE_LEVEL);
    ktest_reset_hooks();
    return 0;
}

static ULONG g_stalled_us;
static int g_stall_calls;
static void on_stall(ULONG us)
{
    g_stalled_us = us;
    g_stall_calls++;
}

static void test_stall_calls_hook_and_waits(void **state)
{
    (void)state;
    g_stall_calls = 0;
    ukern_hooks.stall = on_stall;
    uint64_t before = ukern_now_ns();
    KeStallExecutionProcessor(200);
    KCHECK(g_stall_calls == 1 && g_stalled_us == 200);
    KCHECK(ukern_now_ns() - before >= 200000); /* never returns early */
}

static void test_performance_counter_is_10mhz_and_monotonic(void **state)
{
    (void)state;
    LARGE_INTEGER freq = {.QuadPart = 0};
    LARGE_INTEGER a = KeQueryPerformanceCounter(&freq);
    KCHECK(freq.QuadPart == 10000000);
    KeStallExecutionProcessor(5);
    LARGE_INTEGER b = KeQueryPerformanceCounter(NULL);
    KCHECK(b.QuadPart > a.QuadPart);
    ULONGLONG i1 = KeQueryInterruptTime();
    KeStallExecutionProcessor(5);
    KCHECK(KeQueryInterruptTime() > i1);
}

static void test_system_time_counts_from_1601(void **state)
{
    (void)state;
    LARGE_INTEGER now;
    KeQuerySystemTime(&now);
    /* 2020-01-01 is 132223104000000000 in 100 ns units since 1601 */
    KCHECK(now.QuadPart > 132223104000000000LL);
    time_t unix_now = time(NULL);
    LONGLONG unix_from_nt = now.QuadPart / 10000000LL - 11644473600LL;
    KCHECK(unix_from_nt - (LONGLONG)unix_now <= 2 &&
           (LONGLONG)unix_now - unix_from_nt <= 2);
}

static void test_processor_queries(void **state)
{
    (void)state;
    KCHECK(ukern_init(3) == 0);
    KAFFINITY mask = 0;
    KCHECK(KeQueryActiveProcessorCount(&mask) == 3);
    KCHECK(mask == 0x7);
    KCHECK(KeQueryActiveProcessorCountEx(0) == 3);
    KCHECK(KeQueryActiveProcessorCountEx(ALL_PROCESSOR_GROUPS) == 3);
    KCHECK(KeQueryActiveProcessorCountEx(1) == 0);
    ukern_bind_thread_cpu(2);
    PROCESSOR_NUMBER pn;
    memset(&pn, 0xff, sizeof(pn));
    KCHECK(KeGetCurrentProcessorNumberEx(&pn) == 2);
    KCHECK(pn.Group == 0 && pn.Number == 2 && pn.Reserved == 0);
    KCHECK(KeGetCurrentProcessorNumber() == 2);
    ukern_shutdown();
}

static void test_assert_is_reported_and_continues(void **state)
{
    (void)state;
    ktest_record_violations();
    int x = 1;
    KCHECK(ASSERT(x == 1) == TRUE);
    KCHECK(ktest_violation_count() == 0);
    KCHECK(ASSERT(x == 2) == FALSE);
    KCHECK(ktest_violation_count() == 1);
    KCHECK(strcmp(ktest_last_rule, "ASSERT") == 0);
    NT_ASSERT(x == 3);
    KCHECK(ktest_violation_count() == 2);
    DbgBreakPoint();
    KCHECK(ktest_violation_count() == 3);
    KCHECK(strcmp(ktest_last_rule, "DbgBreakPoint") == 0);
}

static void test_interlocked_semantics(void **state)
{
    (void)state;
    volatile LONG v = 5;
    KCHECK(InterlockedIncrement(&v) == 6);
    KCHECK(InterlockedDecrement(&v) == 5);
    KCHECK(InterlockedExchange(&v, 9) == 5 && v == 9);
    KCHECK(InterlockedCompareExchange(&v, 1, 8) == 9 && v == 9); /* no swap */
    KCHECK(InterlockedCompareExchange(&v, 1, 9) == 9 && v == 1); /* swap */
    KCHECK(InterlockedExchangeAdd(&v, 4) == 1 && v == 5);
    KCHECK(InterlockedAdd(&v, 4) == 9);
    KCHECK(InterlockedOr(&v, 0x10) == 9 && v == 0x19);
    KCHECK(InterlockedAnd(&v, 0x11) == 0x19 && v == 0x11);
    volatile LONG64 w = (LONG64)1 << 40;
    KCHECK(InterlockedIncrement64(&w) == ((LONG64)1 << 40) + 1);
    KCHECK(InterlockedCompareExchange64(&w, 3, ((LONG64)1 << 40) + 1) ==
           ((LONG64)1 << 40) + 1);
    KCHECK(w == 3);
    KCHECK(InterlockedAdd64(&w, -4) == -1);
    int a = 1, b = 2;
    PVOID volatile ptr = &a;
    KCHECK(InterlockedExchangePointer(&ptr, &b) == &a && ptr == &b);
    KCHECK(InterlockedCompareExchangePointer(&ptr, &a, &a) == &b && ptr == &b);
    KCHECK(InterlockedCompareExchangePointer(&ptr, &a, &b) == &b && ptr == &a);
}

static void test_rtl_memory_helpers(void **state)
{
    (void)state;
    unsigned char a[8], b[8];
    RtlFillMemory(a, sizeof(a), 0x5a);
    RtlCopyMemory(b, a, sizeof(a));
    KCHECK(RtlEqualMemory(a, b, sizeof(a)));
    KCHECK(RtlCompareMemory(a, b, sizeof(a)) == 8);
    b[3] = 0;
    KCHECK(RtlCompareMemory(a, b, sizeof(a)) == 3);
    KCHECK(!RtlEqualMemory(a, b, sizeof(a)));
    RtlMoveMemory(a + 1, a, 4); /* overlapping */
    KCHECK(a[0] == 0x5a && a[4] == 0x5a);
    RtlZeroMemory(a, sizeof(a));
    for (int i = 0; i < 8; i++)
        KCHECK(a[i] == 0);
}

static void test_header_layouts(void **state)
{
    (void)state;
    KCHECK(PCI_COMMON_HDR_LENGTH == 64);
    KCHECK(sizeof(PCI_COMMON_CONFIG) == 256);
    KCHECK(offsetof(PCI_COMMON_CONFIG, u.type0.BaseAddresses) == 0x10);
    KCHECK(offsetof(PCI_COMMON_CONFIG, u.type0.CapabilitiesPtr) == 0x34);
    KCHECK(offsetof(PCI_COMMON_CONFIG, u.type0.InterruptLine) == 0x3c);
    KCHECK(sizeof(KSPIN_LOCK) == sizeof(void *));
    KCHECK(HIGH_LEVEL == 15 && DISPATCH_LEVEL == 2 && CLOCK_LEVEL == 13);
    KCHECK(NonPagedPoolNx == 512 && PCIBus == 5 && PCIConfiguration == 4);
    KCHECK(MmWriteCombined == 2 && CONNECT_MESSAGE_BASED == 3);
}

int main(void)
{
    ktest_seed_init();
#define T(f) cmocka_unit_test_teardown(f, teardown)
    const struct CMUnitTest tests[] = {
        T(test_stall_calls_hook_and_waits),
        T(test_performance_counter_is_10mhz_and_monotonic),
        T(test_system_time_counts_from_1601),
        T(test_processor_queries),
        T(test_assert_is_reported_and_continues),
        T(test_interlocked_semantics),
        T(test_rtl_memory_helpers),
        T(test_header_layouts),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
