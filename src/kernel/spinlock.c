/*
 * spinlock.c - the KSPIN_LOCK word and the Ke spin lock routines.
 *
 * Word states: 0 free, 1 held, 2 held with (possible) sleepers.  A short
 * spin covers the common short critical section; after that the thread
 * sleeps on a futex so that more threads than cores never livelock.
 * Acquire/release atomics give ThreadSanitizer the happens-before edges.
 */
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ukern_internal.h"
#include "util/cpu_relax.h"

/* The futex is the 32-bit half of the word that holds the state. */
static int *futex_word(PKSPIN_LOCK lock)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (int *)lock;
#else
    return (int *)lock + (sizeof(KSPIN_LOCK) / sizeof(int) - 1);
#endif
}

void ukern_spin_acquire_slow(PKSPIN_LOCK lock)
{
    for (int i = 0; i < UKERN_SPIN_TRIES; i++) {
        ustor_cpu_relax();
        if (__atomic_load_n(lock, __ATOMIC_RELAXED) == 0 &&
            ukern_spin_try_raw(lock))
            return;
    }
    /* Mark "held with sleepers" and sleep until a release wakes us; taking
     * the lock by exchange leaves it marked 2, which errs on the side of
     * one extra wake-up rather than a lost one. */
    while (__atomic_exchange_n(lock, 2, __ATOMIC_ACQUIRE) != 0)
        syscall(SYS_futex, futex_word(lock), FUTEX_WAIT_PRIVATE, 2, NULL, NULL,
                0);
}

void ukern_spin_wake(PKSPIN_LOCK lock)
{
    syscall(SYS_futex, futex_word(lock), FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

bool ukern_spin_is_held(const KSPIN_LOCK *lock)
{
    return __atomic_load_n(lock, __ATOMIC_RELAXED) != 0;
}

/* ---- per-thread held-lock list ------------------------------------------ */

#define HELD_MAX 32

struct held_entry {
    const void *obj;
    enum ukern_lock_api api;
    bool is_event; /* a passive-level ISR's synchronization event */
};

static _Thread_local struct held_entry *tls_held_p; /* off static TLS: ukern_tls_block */
#define tls_held                                                                          \
    (tls_held_p ? tls_held_p                                                              \
                : (struct held_entry *)ukern_tls_block((void **)&tls_held_p,             \
                                                       sizeof(struct held_entry) * HELD_MAX))
_Thread_local unsigned ukern_tls_held_count;
#define tls_held_count ukern_tls_held_count

bool ukern_held_contains(const void *obj)
{
    for (unsigned i = 0; i < tls_held_count; i++)
        if (tls_held[i].obj == obj)
            return true;
    return false;
}

bool ukern_held_push(const void *obj, enum ukern_lock_api api, bool is_event)
{
    if (tls_held_count == HELD_MAX)
        return false;
    tls_held[tls_held_count].obj = obj;
    tls_held[tls_held_count].api = api;
    tls_held[tls_held_count].is_event = is_event;
    tls_held_count++;
    return true;
}

bool ukern_held_pop(const void *obj, enum ukern_lock_api *api)
{
    for (unsigned i = tls_held_count; i-- > 0;) {
        if (tls_held[i].obj != obj)
            continue;
        if (api)
            *api = tls_held[i].api;
        /* Locks need not be released in LIFO order. */
        for (unsigned j = i + 1; j < tls_held_count; j++)
            tls_held[j - 1] = tls_held[j];
        tls_held_count--;
        return true;
    }
    return false;
}

unsigned ukern_held_spin_locks(const void **out, unsigned max)
{
    unsigned n = 0;
    for (unsigned i = 0; i < tls_held_count; i++) {
        if (tls_held[i].is_event || tls_held[i].api == UKERN_LOCK_INTERRUPT)
            continue;
        if (n < max)
            out[n] = tls_held[i].obj;
        n++;
    }
    return n;
}

void ukern_held_release_from(unsigned keep,
                             void (*report)(const void *obj, enum ukern_lock_api api, void *ctx),
                             void *ctx)
{
    while (tls_held_count > keep) {
        struct held_entry e = tls_held[--tls_held_count];
        if (report)
            report(e.obj, e.api, ctx);
        if (e.is_event)
            KeSetEvent((PKEVENT)e.obj, 0, FALSE);
        else
            ukern_spin_release_raw((PKSPIN_LOCK)e.obj);
    }
}

unsigned ukern_held_release_all(const char *who)
{
    unsigned n = tls_held_count;
    while (tls_held_count > 0) {
        struct held_entry e = tls_held[--tls_held_count];
        ukern_violation("SpinLock", who,
                        "returned holding a spin lock (%p); released it so "
                        "other threads do not hang",
                        e.obj);
        if (e.is_event)
            KeSetEvent((PKEVENT)e.obj, 0, FALSE);
        else
            ukern_spin_release_raw((PKSPIN_LOCK)e.obj);
    }
    return n;
}

/* ---- Ke routines ---------------------------------------------------------- */

/* Common acquire path: recursion check, raw lock, bookkeeping, hook.
 * Returns false when the lock was not taken (recursive acquisition). */
static bool ke_lock(PKSPIN_LOCK lock, enum ukern_lock_api api,
                    KIRQL irql_before, const void *handle, const char *name)
{
    if (ukern_held_contains(lock)) {
        ukern_violation("SpinLock", name,
                        "spin lock %p is already held by this thread; "
                        "acquiring it again would deadlock (not acquired)",
                        (void *)lock);
        return false;
    }
    ukern_spin_acquire_raw(lock);
    if (!ukern_held_push(lock, api, false))
        ukern_violation("SpinLock", name,
                        "more than 32 spin locks held by one thread; this "
                        "one is not tracked");
    if (ukern_hooks.lock_acquired)
        ukern_hooks.lock_acquired(lock, api, irql_before, handle);
    return true;
}

/* Common release path: bookkeeping, hook (with the API the lock was
 * acquired with), raw release. */
static void ke_unlock(PKSPIN_LOCK lock, enum ukern_lock_api api_default,
                      KIRQL new_irql, const void *handle, const char *name)
{
    enum ukern_lock_api api = api_default;
    if (!ukern_held_pop(lock, &api)) {
        if (!ukern_spin_is_held(lock)) {
            ukern_violation("SpinLockRelease", name,
                            "spin lock %p is not held; nothing released",
                            (void *)lock);
            return;
        }
        ukern_violation("SpinLockRelease", name,
                        "spin lock %p was not acquired by this thread; "
                        "released anyway",
                        (void *)lock);
    }
    if (ukern_hooks.lock_releasing)
        ukern_hooks.lock_releasing(lock, api, KeGetCurrentIrql(), new_irql,
                                   handle);
    ukern_spin_release_raw(lock);
}

static bool check_lock_arg(PKSPIN_LOCK lock, const char *name)
{
    if (lock)
        return true;
    ukern_violation("SpinLock", name,
                    "SpinLock is NULL; pass a KSPIN_LOCK initialized with "
                    "KeInitializeSpinLock");
    return false;
}

VOID KeInitializeSpinLock(PKSPIN_LOCK SpinLock)
{
    UKERN_API_ENTRY(KeInitializeSpinLock);
    if (check_lock_arg(SpinLock, "KeInitializeSpinLock"))
        __atomic_store_n(SpinLock, 0, __ATOMIC_RELAXED);
}

BOOLEAN KeTestSpinLock(PKSPIN_LOCK SpinLock)
{
    UKERN_API_ENTRY(KeTestSpinLock);
    if (!check_lock_arg(SpinLock, "KeTestSpinLock"))
        return FALSE;
    return ukern_spin_is_held(SpinLock) ? FALSE : TRUE;
}

static KIRQL raise_to_dpc(const char *name)
{
    KIRQL old = KeGetCurrentIrql();
    if (old > DISPATCH_LEVEL)
        ukern_violation("IrqlKeSpinLock", name,
                        "called at IRQL %u; must be <= DISPATCH_LEVEL", old);
    else
        ukern_irql_change(DISPATCH_LEVEL, name);
    return old;
}

static void lower_to(KIRQL new_irql, const char *name)
{
    KIRQL cur = KeGetCurrentIrql();
    if (new_irql > cur) {
        ukern_violation("IrqlKeReleaseSpinLock", name,
                        "NewIrql %u is above the current IRQL %u; pass the "
                        "IRQL returned by the matching acquire",
                        new_irql, cur);
        return;
    }
    ukern_irql_change(new_irql, name);
}

VOID KeAcquireSpinLock(PKSPIN_LOCK SpinLock, PKIRQL OldIrql)
{
    UKERN_API_ENTRY(KeAcquireSpinLock);
    if (!check_lock_arg(SpinLock, "KeAcquireSpinLock"))
        return;
    KIRQL old = raise_to_dpc("KeAcquireSpinLock");
    if (OldIrql)
        *OldIrql = old;
    else
        ukern_violation("SpinLock", "KeAcquireSpinLock",
                        "OldIrql is NULL; pass the address of a KIRQL");
    ke_lock(SpinLock, UKERN_LOCK_KE_SPIN, old, NULL, "KeAcquireSpinLock");
}

KIRQL KeAcquireSpinLockRaiseToDpc(PKSPIN_LOCK SpinLock)
{
    UKERN_API_ENTRY(KeAcquireSpinLockRaiseToDpc);
    if (!check_lock_arg(SpinLock, "KeAcquireSpinLockRaiseToDpc"))
        return KeGetCurrentIrql();
    KIRQL old = raise_to_dpc("KeAcquireSpinLockRaiseToDpc");
    ke_lock(SpinLock, UKERN_LOCK_KE_SPIN_RAISE, old, NULL,
            "KeAcquireSpinLockRaiseToDpc");
    return old;
}

VOID KeReleaseSpinLock(PKSPIN_LOCK SpinLock, KIRQL NewIrql)
{
    UKERN_API_ENTRY(KeReleaseSpinLock);
    if (!check_lock_arg(SpinLock, "KeReleaseSpinLock"))
        return;
    ke_unlock(SpinLock, UKERN_LOCK_KE_SPIN, NewIrql, NULL, "KeReleaseSpinLock");
    lower_to(NewIrql, "KeReleaseSpinLock");
}

static void require_dpc_level(const char *name)
{
    KIRQL cur = KeGetCurrentIrql();
    if (cur < DISPATCH_LEVEL)
        ukern_violation("IrqlKeSpinLockAtDpc", name,
                        "called at IRQL %u; must be >= DISPATCH_LEVEL (use "
                        "the variant that raises the IRQL)",
                        cur);
}

VOID KeAcquireSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock)
{
    UKERN_API_ENTRY(KeAcquireSpinLockAtDpcLevel);
    if (!check_lock_arg(SpinLock, "KeAcquireSpinLockAtDpcLevel"))
        return;
    require_dpc_level("KeAcquireSpinLockAtDpcLevel");
    ke_lock(SpinLock, UKERN_LOCK_KE_SPIN_DPC, KeGetCurrentIrql(), NULL,
            "KeAcquireSpinLockAtDpcLevel");
}

VOID KeReleaseSpinLockFromDpcLevel(PKSPIN_LOCK SpinLock)
{
    UKERN_API_ENTRY(KeReleaseSpinLockFromDpcLevel);
    if (!check_lock_arg(SpinLock, "KeReleaseSpinLockFromDpcLevel"))
        return;
    require_dpc_level("KeReleaseSpinLockFromDpcLevel");
    ke_unlock(SpinLock, UKERN_LOCK_KE_SPIN_DPC, KeGetCurrentIrql(), NULL,
              "KeReleaseSpinLockFromDpcLevel");
}

BOOLEAN KeTryToAcquireSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock)
{
    UKERN_API_ENTRY(KeTryToAcquireSpinLockAtDpcLevel);
    if (!check_lock_arg(SpinLock, "KeTryToAcquireSpinLockAtDpcLevel"))
        return FALSE;
    require_dpc_level("KeTryToAcquireSpinLockAtDpcLevel");
    if (ukern_held_contains(SpinLock) || !ukern_spin_try_raw(SpinLock))
        return FALSE;
    if (!ukern_held_push(SpinLock, UKERN_LOCK_KE_SPIN_DPC, false))
        ukern_violation("SpinLock", "KeTryToAcquireSpinLockAtDpcLevel",
                        "more than 32 spin locks held by one thread; this "
                        "one is not tracked");
    if (ukern_hooks.lock_acquired)
        ukern_hooks.lock_acquired(SpinLock, UKERN_LOCK_KE_SPIN_DPC,
                                  KeGetCurrentIrql(), NULL);
    return TRUE;
}

static bool check_handle(PKLOCK_QUEUE_HANDLE h, const char *name)
{
    if (h)
        return true;
    ukern_violation("QueuedSpinLock", name,
                    "LockHandle is NULL; pass a KLOCK_QUEUE_HANDLE on the "
                    "caller's stack");
    return false;
}

VOID KeAcquireInStackQueuedSpinLock(PKSPIN_LOCK SpinLock,
                                    PKLOCK_QUEUE_HANDLE LockHandle)
{
    UKERN_API_ENTRY(KeAcquireInStackQueuedSpinLock);
    if (!check_lock_arg(SpinLock, "KeAcquireInStackQueuedSpinLock") ||
        !check_handle(LockHandle, "KeAcquireInStackQueuedSpinLock"))
        return;
    KIRQL old = raise_to_dpc("KeAcquireInStackQueuedSpinLock");
    LockHandle->OldIrql = old;
    LockHandle->LockQueue.Next = NULL;
    LockHandle->LockQueue.Lock = SpinLock;
    ke_lock(SpinLock, UKERN_LOCK_KE_QUEUED, old, LockHandle,
            "KeAcquireInStackQueuedSpinLock");
}

VOID KeReleaseInStackQueuedSpinLock(PKLOCK_QUEUE_HANDLE LockHandle)
{
    UKERN_API_ENTRY(KeReleaseInStackQueuedSpinLock);
    if (!check_handle(LockHandle, "KeReleaseInStackQueuedSpinLock"))
        return;
    PKSPIN_LOCK lock = LockHandle->LockQueue.Lock;
    if (!check_lock_arg(lock, "KeReleaseInStackQueuedSpinLock"))
        return;
    KIRQL old = LockHandle->OldIrql;
    ke_unlock(lock, UKERN_LOCK_KE_QUEUED, old, LockHandle,
              "KeReleaseInStackQueuedSpinLock");
    LockHandle->LockQueue.Lock = NULL;
    lower_to(old, "KeReleaseInStackQueuedSpinLock");
}

VOID KeAcquireInStackQueuedSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock,
                                              PKLOCK_QUEUE_HANDLE LockHandle)
{
    UKERN_API_ENTRY(KeAcquireInStackQueuedSpinLockAtDpcLevel);
    const char *name = "KeAcquireInStackQueuedSpinLockAtDpcLevel";
    if (!check_lock_arg(SpinLock, name) || !check_handle(LockHandle, name))
        return;
    require_dpc_level(name);
    LockHandle->OldIrql = KeGetCurrentIrql();
    LockHandle->LockQueue.Next = NULL;
    LockHandle->LockQueue.Lock = SpinLock;
    ke_lock(SpinLock, UKERN_LOCK_KE_QUEUED, KeGetCurrentIrql(), LockHandle,
            name);
}

VOID KeReleaseInStackQueuedSpinLockFromDpcLevel(PKLOCK_QUEUE_HANDLE LockHandle)
{
    UKERN_API_ENTRY(KeReleaseInStackQueuedSpinLockFromDpcLevel);
    const char *name = "KeReleaseInStackQueuedSpinLockFromDpcLevel";
    if (!check_handle(LockHandle, name))
        return;
    PKSPIN_LOCK lock = LockHandle->LockQueue.Lock;
    if (!check_lock_arg(lock, name))
        return;
    require_dpc_level(name);
    ke_unlock(lock, UKERN_LOCK_KE_QUEUED, KeGetCurrentIrql(), LockHandle, name);
    LockHandle->LockQueue.Lock = NULL;
}
