/*
 * event.c - KEVENT and the waits on dispatcher objects (events, timers).
 *
 * An object's state is Header.SignalState.  Waiters sleep on one of a small
 * table of mutex+condvar pairs chosen by hashing the object's address, so
 * objects need no constructor/destructor beyond KeInitialize*: a KEVENT may
 * live in zeroed memory that is later freed with no teardown call, as on
 * Windows.  SignalState is only changed under the bucket's mutex.
 */
#include <errno.h>
#include <time.h>

#include "ukern_internal.h"

#define EVENT_BUCKETS 64

struct event_bucket {
    pthread_mutex_t lock;
    pthread_cond_t cond;
};

static struct event_bucket g_buckets[EVENT_BUCKETS];
static pthread_once_t g_buckets_once = PTHREAD_ONCE_INIT;

static void buckets_init(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    for (int i = 0; i < EVENT_BUCKETS; i++) {
        pthread_mutex_init(&g_buckets[i].lock, NULL);
        pthread_cond_init(&g_buckets[i].cond, &attr);
    }
    pthread_condattr_destroy(&attr);
}

static struct event_bucket *bucket_of(const void *obj)
{
    pthread_once(&g_buckets_once, buckets_init);
    uintptr_t h = (uintptr_t)obj;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ull;
    return &g_buckets[(h >> 32) % EVENT_BUCKETS];
}

static bool is_synchronization(const DISPATCHER_HEADER *h)
{
    return h->Type == UKERN_OBJ_EVENT_SYNCHRONIZATION ||
           h->Type == UKERN_OBJ_TIMER_SYNCHRONIZATION;
}

static LONG read_state(const DISPATCHER_HEADER *h)
{
    return __atomic_load_n(&h->SignalState, __ATOMIC_ACQUIRE);
}

/* Sets the state to signalled and wakes waiters; returns the old state. */
static LONG object_signal(DISPATCHER_HEADER *h)
{
    struct event_bucket *b = bucket_of(h);
    pthread_mutex_lock(&b->lock);
    LONG prev = h->SignalState;
    __atomic_store_n(&h->SignalState, 1, __ATOMIC_RELEASE);
    /* Broadcast even for synchronization objects: waiters of other objects
     * share the condvar, and the one that consumes the state is decided
     * under the mutex. */
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    return prev;
}

static LONG object_reset(DISPATCHER_HEADER *h)
{
    struct event_bucket *b = bucket_of(h);
    pthread_mutex_lock(&b->lock);
    LONG prev = h->SignalState;
    __atomic_store_n(&h->SignalState, 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&b->lock);
    return prev;
}

void ukern_object_signal(DISPATCHER_HEADER *header)
{
    (void)object_signal(header);
}

void ukern_object_reset(DISPATCHER_HEADER *header)
{
    (void)object_reset(header);
}

static bool check_event(PRKEVENT e, const char *api)
{
    if (e)
        return true;
    ukern_violation("KeEvent-Args", api,
                    "Event is NULL; pass a KEVENT initialized with "
                    "KeInitializeEvent");
    return false;
}

VOID KeInitializeEvent(PRKEVENT Event, EVENT_TYPE Type, BOOLEAN State)
{
    UKERN_API_ENTRY(KeInitializeEvent);
    if (!check_event(Event, "KeInitializeEvent"))
        return;
    if (Type != NotificationEvent && Type != SynchronizationEvent) {
        ukern_violation("KeEvent-Args", "KeInitializeEvent",
                        "Type %d is neither NotificationEvent (0) nor "
                        "SynchronizationEvent (1); using NotificationEvent",
                        (int)Type);
        Type = NotificationEvent;
    }
    DISPATCHER_HEADER *h = &Event->Header;
    h->Type = Type == SynchronizationEvent ? UKERN_OBJ_EVENT_SYNCHRONIZATION
                                           : UKERN_OBJ_EVENT_NOTIFICATION;
    h->Signalling = 0;
    h->Size = (UCHAR)(sizeof(KEVENT) / sizeof(LONG));
    h->Reserved1 = 0;
    __atomic_store_n(&h->SignalState, State ? 1 : 0, __ATOMIC_RELEASE);
    h->WaitListHead.Flink = h->WaitListHead.Blink = &h->WaitListHead;
}

LONG KeSetEvent(PRKEVENT Event, KPRIORITY Increment, BOOLEAN Wait)
{
    UKERN_API_ENTRY(KeSetEvent);
    (void)Increment;
    (void)Wait; /* only a scheduling hint on Windows */
    if (!check_event(Event, "KeSetEvent"))
        return 0;
    KIRQL irql = KeGetCurrentIrql();
    if (irql > DISPATCH_LEVEL)
        ukern_violation("IrqlKeSetEvent", "KeSetEvent",
                        "called at IRQL %u; must be <= DISPATCH_LEVEL", irql);
    LONG prev = object_signal(&Event->Header);
    if (ukern_hooks.event_set)
        ukern_hooks.event_set(Event, prev);
    return prev;
}

LONG KeResetEvent(PRKEVENT Event)
{
    UKERN_API_ENTRY(KeResetEvent);
    if (!check_event(Event, "KeResetEvent"))
        return 0;
    return object_reset(&Event->Header);
}

VOID KeClearEvent(PRKEVENT Event)
{
    UKERN_API_ENTRY(KeClearEvent);
    if (check_event(Event, "KeClearEvent"))
        (void)object_reset(&Event->Header);
}

LONG KeReadStateEvent(PRKEVENT Event)
{
    UKERN_API_ENTRY(KeReadStateEvent);
    if (!check_event(Event, "KeReadStateEvent"))
        return 0;
    return read_state(&Event->Header);
}

/* Absolute CLOCK_MONOTONIC deadline for a Windows timeout; false means
 * "wait forever". */
static bool timeout_deadline(const LARGE_INTEGER *timeout, uint64_t *deadline)
{
    if (!timeout)
        return false;
    uint64_t now = ukern_now_ns();
    LONGLONG t = timeout->QuadPart;
    if (t <= 0) {
        /* relative, in 100 ns units; guard the negation against overflow */
        uint64_t rel = t == INT64_MIN ? (uint64_t)INT64_MAX : (uint64_t)-t;
        uint64_t ns = rel > UINT64_MAX / 100 ? UINT64_MAX / 2 : rel * 100;
        *deadline = now + ns;
    } else {
        LARGE_INTEGER sys;
        KeQuerySystemTime(&sys);
        *deadline = t > sys.QuadPart ? now + (uint64_t)(t - sys.QuadPart) * 100
                                     : now;
    }
    return true;
}

static bool is_wait_object(const DISPATCHER_HEADER *h)
{
    return h->Type == UKERN_OBJ_EVENT_NOTIFICATION ||
           h->Type == UKERN_OBJ_EVENT_SYNCHRONIZATION ||
           h->Type == UKERN_OBJ_TIMER_NOTIFICATION ||
           h->Type == UKERN_OBJ_TIMER_SYNCHRONIZATION;
}

NTSTATUS KeWaitForSingleObject(PVOID Object, KWAIT_REASON WaitReason,
                               KPROCESSOR_MODE WaitMode, BOOLEAN Alertable,
                               PLARGE_INTEGER Timeout)
{
    UKERN_API_ENTRY(KeWaitForSingleObject);
    (void)WaitReason;
    (void)WaitMode;
    (void)Alertable; /* no APCs in this emulation */
    if (!Object) {
        ukern_violation("KeWait-Args", "KeWaitForSingleObject",
                        "Object is NULL; pass a KEVENT or KTIMER");
        return STATUS_INVALID_PARAMETER;
    }
    DISPATCHER_HEADER *h = Object;
    if (!is_wait_object(h)) {
        ukern_violation("KeWait-Args", "KeWaitForSingleObject",
                        "object %p has type %u; only events and timers can "
                        "be waited on here",
                        Object, h->Type);
        return STATUS_INVALID_PARAMETER;
    }
    KIRQL irql = KeGetCurrentIrql();
    bool poll = Timeout && Timeout->QuadPart == 0;
    if (irql > DISPATCH_LEVEL || (irql == DISPATCH_LEVEL && !poll))
        ukern_violation("IrqlKeWaitForSingleObject", "KeWaitForSingleObject",
                        "called at IRQL %u; waits need IRQL <= APC_LEVEL "
                        "(DISPATCH_LEVEL only with a zero timeout)",
                        irql);
    if (ukern_hooks.wait)
        ukern_hooks.wait(Object, "KeWaitForSingleObject");

    uint64_t deadline = 0;
    bool bounded = timeout_deadline(Timeout, &deadline);
    struct event_bucket *b = bucket_of(h);
    NTSTATUS status = STATUS_SUCCESS;
    pthread_mutex_lock(&b->lock);
    while (h->SignalState == 0) {
        if (!bounded) {
            pthread_cond_wait(&b->cond, &b->lock);
            continue;
        }
        if (ukern_now_ns() >= deadline) {
            status = STATUS_TIMEOUT;
            break;
        }
        struct timespec ts = {
            .tv_sec = (time_t)(deadline / 1000000000ull),
            .tv_nsec = (long)(deadline % 1000000000ull),
        };
        (void)pthread_cond_timedwait(&b->cond, &b->lock, &ts);
    }
    if (status == STATUS_SUCCESS && is_synchronization(h))
        __atomic_store_n(&h->SignalState, 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&b->lock);
    return status;
}

NTSTATUS KeDelayExecutionThread(KPROCESSOR_MODE WaitMode, BOOLEAN Alertable,
                                PLARGE_INTEGER Interval)
{
    UKERN_API_ENTRY(KeDelayExecutionThread);
    (void)WaitMode;
    (void)Alertable;
    KIRQL irql = KeGetCurrentIrql();
    if (irql > APC_LEVEL)
        ukern_violation("IrqlKeDelayExecutionThread", "KeDelayExecutionThread",
                        "called at IRQL %u; must be <= APC_LEVEL", irql);
    if (!Interval) {
        ukern_violation("KeWait-Args", "KeDelayExecutionThread",
                        "Interval is NULL; pass a negative relative interval "
                        "in 100 ns units");
        return STATUS_INVALID_PARAMETER;
    }
    uint64_t deadline;
    (void)timeout_deadline(Interval, &deadline);
    for (;;) {
        uint64_t now = ukern_now_ns();
        if (now >= deadline)
            break;
        uint64_t left = deadline - now;
        struct timespec ts = {.tv_sec = (time_t)(left / 1000000000ull),
                              .tv_nsec = (long)(left % 1000000000ull)};
        nanosleep(&ts, NULL);
    }
    return STATUS_SUCCESS;
}
