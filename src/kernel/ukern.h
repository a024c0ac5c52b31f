/*
 * ukern.h - the kernel emulation layer's interface to the rest of ustorport
 * (port engine, hardware models, verifier).  Miniports never include this;
 * they see the WDK names in <wdm.h>.
 *
 * Model (docs/architecture.md):
 *  - every thread has a current IRQL (thread-local), starting at PASSIVE;
 *  - there are N simulated CPUs; each has a DPC thread and an interrupt
 *    thread.  A thread that is not one of those is bound to a CPU by
 *    ukern_bind_thread_cpu() or gets one round-robin on first use;
 *  - KSPIN_LOCK is a word; locks spin briefly then sleep on a futex, with
 *    acquire/release atomics so ThreadSanitizer sees the happens-before;
 *  - interrupts are delivered on the target CPU's interrupt thread
 *    (ukern_interrupt_trigger) or synchronously on the caller's thread
 *    (ukern_interrupt_deliver), always at the object's SynchronizeIrql
 *    holding its (possibly shared) lock, or its event for passive ISRs;
 *  - timers are one timer thread that queues the timer's DPC on expiry.
 */
#ifndef USTOR_KERNEL_UKERN_H
#define USTOR_KERNEL_UKERN_H

#include <stdbool.h>
#include <stdint.h>
#include <wdm.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Device IRQLs used by the port for its interrupt objects (x64 numbering:
 * device IRQLs lie between DISPATCH_LEVEL (2) and CLOCK_LEVEL (13)). */
#define UKERN_DIRQL_BASE ((KIRQL)5)
#define UKERN_DIRQL_MAX ((KIRQL)12)

/* ---- life cycle ------------------------------------------------------ */

/* Starts the CPU threads (DPC + interrupt per CPU) and the timer thread.
 * Reference counted: every adapter calls it, the last ukern_shutdown()
 * stops the threads.  nr_cpus == 0 means "number of online CPUs".
 * Returns 0 or -errno. */
int ukern_init(unsigned nr_cpus);
void ukern_shutdown(void);
unsigned ukern_cpu_count(void);

/* Simulated CPU of the calling thread.  Inline: the request path asks
 * several times per I/O; the slow half binds an unbound thread. */
extern _Thread_local int ukern_tls_cpu;
extern _Thread_local unsigned ukern_tls_cpu_generation;
extern unsigned ukern_cpu_generation; /* changes whenever the CPU set is rebuilt */
ULONG ukern_current_cpu_slow(void);
static inline ULONG ukern_current_cpu(void)
{
    int c = ukern_tls_cpu;
    if (c >= 0 && ukern_tls_cpu_generation == __atomic_load_n(&ukern_cpu_generation, __ATOMIC_RELAXED))
        return (ULONG)c;
    return ukern_current_cpu_slow();
}
void ukern_bind_thread_cpu(ULONG cpu);
/* True on a DPC thread while it runs a DPC, on an interrupt thread while it
 * runs an ISR. */
bool ukern_in_dpc(void);
bool ukern_in_isr(void);

/* Per-thread memory kept out of the static TLS segment: libustorport is
 * also dlopen()ed (by nbdkit), where static TLS space is scarce, and its
 * small hot thread-locals use the initial-exec model.  *slot is a
 * thread-local pointer; the block is zeroed on first use and freed when
 * the thread exits. */
void *ukern_tls_block(void **slot, size_t size);

/* Monotonic clock in nanoseconds. */
uint64_t ukern_now_ns(void);
/* The same clock at a few milliseconds' resolution, several times cheaper:
 * for time stamps that only feed timeouts counted in seconds. */
uint64_t ukern_now_coarse_ns(void);

/* ---- IRQL ------------------------------------------------------------ */

/* Sets the calling thread's IRQL without any check (thread entry points,
 * and the port restoring state after a miniport broke SpChangeIrql). */
extern _Thread_local KIRQL ukern_tls_irql;
static inline void ukern_irql_set(KIRQL irql)
{
    ukern_tls_irql = irql;
}
/* The calling thread's IRQL, for the port's own use: unlike
 * KeGetCurrentIrql it is not a miniport-visible API, so the verifier's
 * API hooks do not see it (and it costs no hook branch). */
static inline KIRQL ukern_irql_get(void)
{
    return ukern_tls_irql;
}

/* ---- spin locks (the word behind KSPIN_LOCK) ------------------------- */

/* Raw lock operations on a KSPIN_LOCK word, with no IRQL change and no
 * verifier hook: the building block for every lock in the system.
 * Spins UKERN_SPIN_TRIES times, then sleeps on a futex. */
bool ukern_spin_is_held(const KSPIN_LOCK *lock);
/* The slow halves (spin, then futex), out of line. */
void ukern_spin_acquire_slow(PKSPIN_LOCK lock);
void ukern_spin_wake(PKSPIN_LOCK lock);

/* The uncontended halves are inline: every I/O takes several locks. */
static inline bool ukern_spin_try_raw(PKSPIN_LOCK lock)
{
    KSPIN_LOCK expected = 0;
    return __atomic_compare_exchange_n(lock, &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/* As acquire_raw, but also reports whether the lock was contended (the
 * first try failed), for the port's lock statistics. */
static inline bool ukern_spin_acquire_raw_contended(PKSPIN_LOCK lock)
{
    if (ukern_spin_try_raw(lock))
        return false;
    ukern_spin_acquire_slow(lock);
    return true;
}

static inline void ukern_spin_acquire_raw(PKSPIN_LOCK lock)
{
    (void)ukern_spin_acquire_raw_contended(lock);
}

static inline void ukern_spin_release_raw(PKSPIN_LOCK lock)
{
    /* 2 = held with sleepers: one of them must be woken. */
    if (__atomic_exchange_n(lock, 0, __ATOMIC_RELEASE) == 2)
        ukern_spin_wake(lock);
}

/* ---- interrupts ------------------------------------------------------ */

/* The interrupt object behind the opaque PKINTERRUPT of <wdm.h>. */
struct _KINTERRUPT {
    PKSERVICE_ROUTINE ServiceRoutine;             /* line-based ISR */
    PKMESSAGE_SERVICE_ROUTINE MessageServiceRoutine; /* message-based ISR */
    PVOID ServiceContext;
    ULONG MessageId;
    KIRQL Irql;
    KIRQL SynchronizeIrql;
    BOOLEAN Passive;          /* S1.3: ISR at PASSIVE_LEVEL, event-synchronized */
    PKSPIN_LOCK ActualLock;   /* own SpinLockStorage or a shared one (S1.2) */
    KSPIN_LOCK SpinLockStorage;
    PKEVENT PassiveEvent;     /* synchronization event for passive ISRs */
    KEVENT PassiveEventStorage;
    ULONG TargetCpu;          /* CPU whose interrupt thread delivers it */
    volatile LONG Pending;    /* coalesces triggers not yet delivered */
    volatile LONG Triggering; /* ukern_interrupt_trigger calls under way */
    volatile LONG Connected;
    struct _KINTERRUPT *NextPending; /* interrupt-thread queue linkage */
    volatile LONG64 Deliveries;      /* ISR invocations */
    volatile LONG64 Claimed;         /* ISR returned TRUE */
};

/* Creates a connected interrupt object (what IoConnectInterruptEx builds).
 * shared_lock != NULL puts it in a set with other objects (S1.2).  For a
 * passive ISR (irql == sync_irql == PASSIVE_LEVEL) shared_event may name a
 * set's synchronization event instead.  Returns NULL on bad arguments. */
PKINTERRUPT ukern_interrupt_create(PKSERVICE_ROUTINE isr,
                                   PKMESSAGE_SERVICE_ROUTINE msg_isr,
                                   PVOID context, ULONG message_id,
                                   KIRQL irql, KIRQL sync_irql,
                                   PKSPIN_LOCK shared_lock,
                                   PKEVENT shared_event, ULONG target_cpu);
/* Disconnects: waits for a running ISR and drops pending deliveries. */
void ukern_interrupt_destroy(PKINTERRUPT intr);

/* Asynchronous delivery on the target CPU's interrupt thread.  Triggers
 * that arrive before delivery coalesce into one ISR call (edge/MSI
 * semantics).  Returns false if the object is disconnected. */
bool ukern_interrupt_trigger(PKINTERRUPT intr);
/* Synchronous delivery on the calling thread: raise to SynchronizeIrql,
 * take the lock (or event), call the ISR, release, restore.  Returns the
 * ISR's result. */
BOOLEAN ukern_interrupt_deliver(PKINTERRUPT intr);

/* Acquire / release an interrupt object's lock the way KeSynchronizeExecution
 * does (raise to SynchronizeIrql; lock or wait on the event).  Used by the
 * port for the Storport InterruptLock.  *old receives the previous IRQL. */
void ukern_interrupt_lock(PKINTERRUPT intr, PKIRQL old);
void ukern_interrupt_unlock(PKINTERRUPT intr, KIRQL old);

/* ---- DPCs ------------------------------------------------------------ */

/* Waits until every DPC queued before the call has finished running. */
void ukern_dpc_flush(void);
/* Number of DPCs queued and not yet started (all CPUs). */
unsigned ukern_dpc_pending(void);

/* ---- timers ---------------------------------------------------------- */

/* KeSetTimer semantics with a relative due time in nanoseconds; period_ns
 * != 0 makes it periodic.  Returns TRUE if the timer was already set. */
BOOLEAN ukern_timer_set_ns(PKTIMER timer, uint64_t due_ns, uint64_t period_ns,
                           PKDPC dpc);

/* ---- additions by the kernel layer ----------------------------------- */

/* Fast-path spin count of ukern_spin_acquire_raw before it sleeps. */
#ifndef UKERN_SPIN_TRIES
#define UKERN_SPIN_TRIES 200
#endif

/* Tells IoConnectInterruptEx(CONNECT_MESSAGE_BASED) how many MSI/MSI-X
 * messages the device behind pdo has (what the PnP manager knows from the
 * device's resources on Windows).  message_count == 0 means "line-based
 * only": CONNECT_MESSAGE_BASED then falls back to the FallBackServiceRoutine.
 * An unregistered PDO is treated as having one message.  Returns 0 or
 * -ENOSPC when the table (64 PDOs) is full. */
int ukern_pdo_set_interrupt_messages(PDEVICE_OBJECT pdo, ULONG message_count);
void ukern_pdo_forget(PDEVICE_OBJECT pdo);

/* Spin lock words (not interrupt locks or events) the calling thread holds
 * through the Ke routines, oldest first; returns how many (at most max are
 * stored).  For the verifier's lock-order graph. */
unsigned ukern_held_spin_locks(const void **out, unsigned max);

/* Reports a rule violation through ukern_hooks.violation (or stderr when no
 * verifier is installed); what is a printf format. */
void ukern_violation(const char *rule, const char *api, const char *what_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- observation hooks ----------------------------------------------- */

/* The verifier installs these; NULL members cost one predictable branch.
 * They are called on the thread doing the operation, after it succeeded
 * (acquire) or before it happens (release). */
enum ukern_lock_api {
    UKERN_LOCK_KE_SPIN,          /* KeAcquireSpinLock / KeReleaseSpinLock */
    UKERN_LOCK_KE_SPIN_RAISE,    /* KeAcquireSpinLockRaiseToDpc */
    UKERN_LOCK_KE_SPIN_DPC,      /* ...AtDpcLevel / ...FromDpcLevel */
    UKERN_LOCK_KE_QUEUED,        /* KeAcquireInStackQueuedSpinLock */
    UKERN_LOCK_INTERRUPT,        /* an interrupt object's lock */
};

struct ukern_hooks {
    void (*lock_acquired)(const void *lock, enum ukern_lock_api api,
                          KIRQL irql_before, const void *handle);
    void (*lock_releasing)(const void *lock, enum ukern_lock_api api,
                           KIRQL irql_now, KIRQL new_irql, const void *handle);
    void (*irql_changed)(KIRQL from, KIRQL to, const char *api);
    void (*pool_alloc)(void *p, SIZE_T size, ULONG tag, const char *api);
    void (*pool_free)(void *p, const char *api);
    void (*event_set)(PKEVENT event, LONG previous_state);
    void (*wait)(const void *object, const char *api);
    void (*stall)(ULONG microseconds);
    /* a kernel routine was called against its documented rules:
     * rule is Microsoft's SDV rule name when there is one */
    void (*violation)(const char *rule, const char *api, const char *what);
    /* an exported Ke / Ex / Io routine was entered: its name, its address,
     * and the return address (the verifier tells miniport calls from the
     * port's own, including the port's tail calls) */
    void (*api_called)(const char *api, const void *fn, const void *caller);
};
extern struct ukern_hooks ukern_hooks;

/* Kernel locks (Ke spin locks, queued locks, interrupt locks taken by
 * KeSynchronizeExecution) this thread holds, in acquisition order. */
extern _Thread_local unsigned ukern_tls_held_count;
static inline unsigned ukern_held_count(void)
{
    return ukern_tls_held_count;
}
/* Releases every kernel lock this thread took after its first `keep`,
 * newest first, telling report() about each before releasing it: how the
 * port recovers when a miniport routine returns holding one. */
void ukern_held_release_from(unsigned keep,
                             void (*report)(const void *obj, enum ukern_lock_api api, void *ctx),
                             void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* USTOR_KERNEL_UKERN_H */
