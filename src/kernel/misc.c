/*
 * misc.c - hooks and violation reports, clocks, stall, processor queries,
 * debug output and assertions.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ukern_internal.h"
#include "util/cpu_relax.h"

struct ukern_hooks ukern_hooks;

void ukern_violation(const char *rule, const char *api, const char *what_fmt,
                     ...)
{
    char what[320];
    va_list ap;
    va_start(ap, what_fmt);
    vsnprintf(what, sizeof(what), what_fmt, ap);
    va_end(ap);
    if (ukern_hooks.violation)
        ukern_hooks.violation(rule, api, what);
    else
        fprintf(stderr, "ustorport: rule %s broken by %s: %s\n", rule, api,
                what);
}

/* ---- clocks ------------------------------------------------------------- */

static uint64_t g_boot_ns;
static pthread_once_t g_clock_once = PTHREAD_ONCE_INIT;

static void clock_once(void)
{
    g_boot_ns = ukern_now_ns();
}

void ukern_clock_init(void)
{
    pthread_once(&g_clock_once, clock_once);
}

/* Busy-waits like the real routine for short stalls; long ones (which a
 * driver should not ask for) sleep for the bulk so that a 2-core machine is
 * not monopolized. */
VOID KeStallExecutionProcessor(ULONG MicroSeconds)
{
    UKERN_API_ENTRY(KeStallExecutionProcessor);
    if (ukern_hooks.stall)
        ukern_hooks.stall(MicroSeconds);
    uint64_t end = ukern_now_ns() + (uint64_t)MicroSeconds * 1000ull;
    if (MicroSeconds > 1000) {
        uint64_t sleep_ns = (uint64_t)(MicroSeconds - 500) * 1000ull;
        struct timespec ts = {.tv_sec = (time_t)(sleep_ns / 1000000000ull),
                              .tv_nsec = (long)(sleep_ns % 1000000000ull)};
        nanosleep(&ts, NULL);
    }
    while (ukern_now_ns() < end)
        ustor_cpu_relax();
}

LARGE_INTEGER KeQueryPerformanceCounter(PLARGE_INTEGER PerformanceFrequency)
{
    UKERN_API_ENTRY(KeQueryPerformanceCounter);
    if (PerformanceFrequency)
        PerformanceFrequency->QuadPart = 10000000; /* 10 MHz: 100 ns ticks */
    LARGE_INTEGER r;
    r.QuadPart = (LONGLONG)(ukern_now_ns() / 100);
    return r;
}

/* Seconds from January 1, 1601 to January 1, 1970. */
#define EPOCH_DIFF_SECONDS 11644473600LL

VOID KeQuerySystemTime(PLARGE_INTEGER CurrentTime)
{
    UKERN_API_ENTRY(KeQuerySystemTime);
    if (!CurrentTime) {
        ukern_violation("KeQuerySystemTime-Args", "KeQuerySystemTime",
                        "CurrentTime is NULL");
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    CurrentTime->QuadPart =
        ((LONGLONG)ts.tv_sec + EPOCH_DIFF_SECONDS) * 10000000LL +
        ts.tv_nsec / 100;
}

VOID KeQuerySystemTimePrecise(PLARGE_INTEGER CurrentTime)
{
    UKERN_API_ENTRY(KeQuerySystemTimePrecise);
    KeQuerySystemTime(CurrentTime);
}

ULONGLONG KeQueryInterruptTime(VOID)
{
    UKERN_API_ENTRY(KeQueryInterruptTime);
    ukern_clock_init();
    return (ukern_now_ns() - g_boot_ns) / 100;
}

/* ---- processors ----------------------------------------------------------- */

ULONG KeGetCurrentProcessorNumber(VOID)
{
    UKERN_API_ENTRY(KeGetCurrentProcessorNumber);
    return ukern_current_cpu();
}

ULONG KeGetCurrentProcessorNumberEx(PPROCESSOR_NUMBER ProcNumber)
{
    UKERN_API_ENTRY(KeGetCurrentProcessorNumberEx);
    ULONG cpu = ukern_current_cpu();
    if (ProcNumber) {
        ProcNumber->Group = 0;
        ProcNumber->Number = (UCHAR)cpu;
        ProcNumber->Reserved = 0;
    }
    return cpu;
}

static ULONG active_cpus(void)
{
    unsigned n = ukern_cpu_count();
    return n ? n : 1; /* the calling thread's own processor */
}

ULONG KeQueryActiveProcessorCount(PKAFFINITY ActiveProcessors)
{
    UKERN_API_ENTRY(KeQueryActiveProcessorCount);
    ULONG n = active_cpus();
    if (ActiveProcessors)
        *ActiveProcessors = n >= 64 ? ~(KAFFINITY)0 : ((KAFFINITY)1 << n) - 1;
    return n;
}

ULONG KeQueryActiveProcessorCountEx(USHORT GroupNumber)
{
    UKERN_API_ENTRY(KeQueryActiveProcessorCountEx);
    if (GroupNumber != 0 && GroupNumber != ALL_PROCESSOR_GROUPS)
        return 0; /* one processor group */
    return active_cpus();
}

/* ---- debugging ------------------------------------------------------------ */

ULONG DbgPrint(PCSTR Format, ...)
{
    if (!Format)
        return (ULONG)STATUS_INVALID_PARAMETER;
    va_list ap;
    va_start(ap, Format);
    vfprintf(stderr, Format, ap);
    va_end(ap);
    return (ULONG)STATUS_SUCCESS;
}

/* Messages above the level in USTOR_DBGPRINT_LEVEL (default: errors only,
 * as Windows' default filter) are dropped. */
ULONG DbgPrintEx(ULONG ComponentId, ULONG Level, PCSTR Format, ...)
{
    (void)ComponentId;
    if (!Format)
        return (ULONG)STATUS_INVALID_PARAMETER;
    const char *env = getenv("USTOR_DBGPRINT_LEVEL");
    ULONG max = env ? (ULONG)strtoul(env, NULL, 0) : DPFLTR_ERROR_LEVEL;
    /* Level is either a level number (0..31) or a mask (1 << n). */
    if (Level > 31) {
        ULONG n = 0;
        while (n < 31 && !(Level & (1u << n)))
            n++;
        Level = n;
    }
    if (Level > max)
        return (ULONG)STATUS_SUCCESS;
    va_list ap;
    va_start(ap, Format);
    vfprintf(stderr, Format, ap);
    va_end(ap);
    return (ULONG)STATUS_SUCCESS;
}

VOID DbgBreakPoint(VOID)
{
    ukern_violation("DbgBreakPoint", "DbgBreakPoint",
                    "driver code reached a breakpoint; continuing");
}

VOID RtlAssert(PVOID VoidFailedAssertion, PVOID VoidFileName, ULONG LineNumber,
               PSTR MutableMessage)
{
    ukern_violation("ASSERT", "RtlAssert", "%s:%u: assertion failed: %s%s%s",
                    VoidFileName ? (const char *)VoidFileName : "?",
                    LineNumber,
                    VoidFailedAssertion ? (const char *)VoidFailedAssertion
                                        : "?",
                    MutableMessage ? " - " : "",
                    MutableMessage ? MutableMessage : "");
}
