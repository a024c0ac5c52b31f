/*
 * timer.c - KTIMER: one timer thread keeps the set timers in a list
 * ordered by expiry; on expiry it signals the timer object and queues the
 * timer's DPC on the CPU that set it.
 *
 * KTIMER members as used here: DueTime = absolute expiry in ukern_now_ns()
 * nanoseconds; Period = period in microseconds (0: one-shot);
 * TimerListEntry.Flink != NULL while the timer is set; Processor = CPU of
 * the thread that set it.
 */
#include <time.h>

#include "ukern_internal.h"

static pthread_mutex_t g_timer_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_timer_cond;
static pthread_once_t g_timer_once = PTHREAD_ONCE_INIT;
static LIST_ENTRY g_timers = {&g_timers, &g_timers};
static pthread_t g_timer_thread;
static bool g_timer_started;
static bool g_timer_stop;

static void timer_cond_init(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&g_timer_cond, &attr);
    pthread_condattr_destroy(&attr);
}

static bool timer_is_set(const KTIMER *t)
{
    return t->TimerListEntry.Flink != NULL;
}

static void timer_unlink(PKTIMER t)
{
    t->TimerListEntry.Blink->Flink = t->TimerListEntry.Flink;
    t->TimerListEntry.Flink->Blink = t->TimerListEntry.Blink;
    t->TimerListEntry.Flink = t->TimerListEntry.Blink = NULL;
}

/* Inserts in expiry order (after timers with the same DueTime, so equal
 * expiries fire in the order they were set).  Returns true when the timer
 * became the first one, so the timer thread must re-arm. */
static bool timer_link(PKTIMER t)
{
    PLIST_ENTRY pos = g_timers.Flink;
    while (pos != &g_timers &&
           CONTAINING_RECORD(pos, KTIMER, TimerListEntry)->DueTime.QuadPart <=
               t->DueTime.QuadPart)
        pos = pos->Flink;
    t->TimerListEntry.Flink = pos;
    t->TimerListEntry.Blink = pos->Blink;
    pos->Blink->Flink = &t->TimerListEntry;
    pos->Blink = &t->TimerListEntry;
    return g_timers.Flink == &t->TimerListEntry;
}

static void *timer_thread_main(void *arg)
{
    (void)arg;
    ukern_irql_set(DISPATCH_LEVEL); /* expiry processing is a DPC-level job */
    pthread_mutex_lock(&g_timer_lock);
    while (!g_timer_stop) {
        if (g_timers.Flink == &g_timers) {
            pthread_cond_wait(&g_timer_cond, &g_timer_lock);
            continue;
        }
        PKTIMER t = CONTAINING_RECORD(g_timers.Flink, KTIMER, TimerListEntry);
        uint64_t now = ukern_now_ns();
        if ((uint64_t)t->DueTime.QuadPart > now) {
            uint64_t due = t->DueTime.QuadPart;
            struct timespec ts = {.tv_sec = (time_t)(due / 1000000000ull),
                                  .tv_nsec = (long)(due % 1000000000ull)};
            (void)pthread_cond_timedwait(&g_timer_cond, &g_timer_lock, &ts);
            continue;
        }
        timer_unlink(t);
        if (t->Period) {
            uint64_t period = (uint64_t)t->Period * 1000ull;
            uint64_t next = t->DueTime.QuadPart + period;
            /* no burst of catch-up expiries after a stall */
            t->DueTime.QuadPart = next > now ? next : now + period;
            (void)timer_link(t);
        }
        /* Signal and queue under the timer lock so that once KeCancelTimer
         * has returned no expiry of this round is still in flight.  Read
         * the timer before signalling it: a waiter may free it at once. */
        PKDPC dpc = t->Dpc;
        ULONG processor = t->Processor;
        ukern_object_signal(&t->Header);
        if (dpc) {
            LARGE_INTEGER sys;
            KeQuerySystemTime(&sys);
            (void)ukern_dpc_queue_on(dpc, processor,
                                     (PVOID)(ULONG_PTR)sys.LowPart,
                                     (PVOID)(ULONG_PTR)(ULONG)sys.HighPart);
        }
    }
    pthread_mutex_unlock(&g_timer_lock);
    return NULL;
}

int ukern_timer_start(void)
{
    pthread_once(&g_timer_once, timer_cond_init);
    pthread_mutex_lock(&g_timer_lock);
    g_timer_stop = false;
    int e = pthread_create(&g_timer_thread, NULL, timer_thread_main, NULL);
    if (e == 0)
        pthread_setname_np(g_timer_thread, "ustor-timer"); /* what gdb, perf and top show */
    g_timer_started = e == 0;
    pthread_mutex_unlock(&g_timer_lock);
    return -e;
}

void ukern_timer_stop(void)
{
    pthread_mutex_lock(&g_timer_lock);
    if (!g_timer_started) {
        pthread_mutex_unlock(&g_timer_lock);
        return;
    }
    g_timer_stop = true;
    pthread_cond_broadcast(&g_timer_cond);
    pthread_mutex_unlock(&g_timer_lock);
    pthread_join(g_timer_thread, NULL);
    pthread_mutex_lock(&g_timer_lock);
    g_timer_started = false;
    /* Timers still set die with the emulation: their memory may be freed
     * by their owners without a KeCancelTimer. */
    while (g_timers.Flink != &g_timers)
        timer_unlink(CONTAINING_RECORD(g_timers.Flink, KTIMER, TimerListEntry));
    pthread_mutex_unlock(&g_timer_lock);
}

static bool check_timer(PKTIMER t, const char *api)
{
    if (t)
        return true;
    ukern_violation("KeTimer-Args", api,
                    "Timer is NULL; pass a KTIMER initialized with "
                    "KeInitializeTimer");
    return false;
}

VOID KeInitializeTimerEx(PKTIMER Timer, TIMER_TYPE Type)
{
    UKERN_API_ENTRY(KeInitializeTimerEx);
    if (!check_timer(Timer, "KeInitializeTimerEx"))
        return;
    if (Type != NotificationTimer && Type != SynchronizationTimer) {
        ukern_violation("KeTimer-Args", "KeInitializeTimerEx",
                        "Type %d is neither NotificationTimer (0) nor "
                        "SynchronizationTimer (1); using NotificationTimer",
                        (int)Type);
        Type = NotificationTimer;
    }
    DISPATCHER_HEADER *h = &Timer->Header;
    h->Type = Type == SynchronizationTimer ? UKERN_OBJ_TIMER_SYNCHRONIZATION
                                           : UKERN_OBJ_TIMER_NOTIFICATION;
    h->Signalling = 0;
    h->Size = (UCHAR)(sizeof(KTIMER) / sizeof(LONG));
    h->Reserved1 = 0;
    __atomic_store_n(&h->SignalState, 0, __ATOMIC_RELEASE);
    h->WaitListHead.Flink = h->WaitListHead.Blink = &h->WaitListHead;
    Timer->DueTime.QuadPart = 0;
    Timer->TimerListEntry.Flink = Timer->TimerListEntry.Blink = NULL;
    Timer->Dpc = NULL;
    Timer->Processor = 0;
    Timer->Period = 0;
}

VOID KeInitializeTimer(PKTIMER Timer)
{
    UKERN_API_ENTRY(KeInitializeTimer);
    KeInitializeTimerEx(Timer, NotificationTimer);
}

BOOLEAN ukern_timer_set_ns(PKTIMER timer, uint64_t due_ns, uint64_t period_ns,
                           PKDPC dpc)
{
    if (!check_timer(timer, "KeSetTimer"))
        return FALSE;
    if (!ukern_running())
        ukern_violation("KeTimer-NotRunning", "KeSetTimer",
                        "the kernel emulation is not running (call ukern_init "
                        "first); the timer will only fire once it runs");
    pthread_once(&g_timer_once, timer_cond_init);
    /* A set timer is not signalled until it expires again. */
    ukern_object_reset(&timer->Header);
    uint64_t period_us = (period_ns + 999) / 1000;
    if (period_us > UINT32_MAX)
        period_us = UINT32_MAX;
    pthread_mutex_lock(&g_timer_lock);
    bool was_set = timer_is_set(timer);
    if (was_set)
        timer_unlink(timer);
    timer->DueTime.QuadPart = (LONGLONG)(ukern_now_ns() + due_ns);
    timer->Period = (ULONG)period_us;
    timer->Dpc = dpc;
    timer->Processor = ukern_current_cpu();
    if (timer_link(timer))
        pthread_cond_signal(&g_timer_cond);
    pthread_mutex_unlock(&g_timer_lock);
    return was_set ? TRUE : FALSE;
}

/* Relative nanoseconds until a Windows due time (negative: relative 100 ns
 * units; positive: absolute system time). */
static uint64_t due_to_ns(LARGE_INTEGER due)
{
    if (due.QuadPart <= 0) {
        uint64_t rel = due.QuadPart == INT64_MIN ? (uint64_t)INT64_MAX
                                                 : (uint64_t)-due.QuadPart;
        return rel > UINT64_MAX / 200 ? UINT64_MAX / 2 : rel * 100;
    }
    LARGE_INTEGER now;
    KeQuerySystemTime(&now);
    return due.QuadPart > now.QuadPart
               ? (uint64_t)(due.QuadPart - now.QuadPart) * 100
               : 0;
}

static void check_timer_irql(const char *api)
{
    KIRQL irql = KeGetCurrentIrql();
    if (irql > DISPATCH_LEVEL)
        ukern_violation("IrqlKeTimer", api,
                        "called at IRQL %u; must be <= DISPATCH_LEVEL", irql);
}

BOOLEAN KeSetTimer(PKTIMER Timer, LARGE_INTEGER DueTime, PKDPC Dpc)
{
    UKERN_API_ENTRY(KeSetTimer);
    check_timer_irql("KeSetTimer");
    return ukern_timer_set_ns(Timer, due_to_ns(DueTime), 0, Dpc);
}

BOOLEAN KeSetTimerEx(PKTIMER Timer, LARGE_INTEGER DueTime, LONG Period,
                     PKDPC Dpc)
{
    UKERN_API_ENTRY(KeSetTimerEx);
    check_timer_irql("KeSetTimerEx");
    if (Period < 0) {
        ukern_violation("KeTimer-Args", "KeSetTimerEx",
                        "Period %d is negative; pass 0 (one-shot) or a period "
                        "in milliseconds; using 0",
                        (int)Period);
        Period = 0;
    }
    return ukern_timer_set_ns(Timer, due_to_ns(DueTime),
                              (uint64_t)Period * 1000000ull, Dpc);
}

BOOLEAN KeCancelTimer(PKTIMER Timer)
{
    UKERN_API_ENTRY(KeCancelTimer);
    if (!check_timer(Timer, "KeCancelTimer"))
        return FALSE;
    check_timer_irql("KeCancelTimer");
    pthread_mutex_lock(&g_timer_lock);
    bool was_set = timer_is_set(Timer);
    if (was_set)
        timer_unlink(Timer);
    pthread_mutex_unlock(&g_timer_lock);
    return was_set ? TRUE : FALSE;
}

BOOLEAN KeReadStateTimer(PKTIMER Timer)
{
    UKERN_API_ENTRY(KeReadStateTimer);
    if (!check_timer(Timer, "KeReadStateTimer"))
        return FALSE;
    return __atomic_load_n(&Timer->Header.SignalState, __ATOMIC_ACQUIRE) ? TRUE
                                                                         : FALSE;
}
