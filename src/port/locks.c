/*
 * locks.c - the Storport locks (SPEC S4): StartIo, Interrupt (all messages,
 * or one message in per-message mode), and the per-STOR_DPC DPC locks;
 * StorPortAcquireSpinLock(Ex) / StorPortReleaseSpinLock, the MSI locks,
 * and StorPortSynchronizeAccess (S3).
 *
 * Every acquisition is judged against rules.c before it happens.  When the
 * acquisition itself would deadlock (a lock already held, or the S4.4
 * order broken) the port reports it and does NOT take the lock, so a
 * buggy miniport gets a report instead of a hung process.
 */
#include "port/port.h"

#include <string.h>

/* Marks a STOR_LOCK_HANDLE whose acquisition the port refused, and one
 * that was released (so a second release is told apart). */
#define REFUSED_LOCK ((STOR_SPINLOCK)0x7ef05ed)
#define RELEASED_LOCK ((STOR_SPINLOCK)0x7e1ea5ed)

/* Every message's own interrupt lock, in per-message mode: taken in
 * message order, so two takers never invert (port.h has the common
 * single-word case inline). */
bool port_intr_messages_acquire(struct ustor_adapter *ad)
{
    bool c = false;
    for (uint32_t i = 0; i < ad->nr_messages; i++)
        c |= ukern_spin_acquire_raw_contended(ad->intr[i]->ActualLock);
    return c;
}

void port_intr_messages_release(struct ustor_adapter *ad)
{
    for (uint32_t i = ad->nr_messages; i-- > 0;)
        ukern_spin_release_raw(ad->intr[i]->ActualLock);
}

/* One pass over this thread's held locks: the classes held, and in
 * *conflict whether this lock is among them.  Any interrupt-class lock
 * of the adapter conflicts with any other: taking "all messages" while
 * holding one message would self-deadlock. */
static inline rules_lockset held_scan(const struct port_thread *pt, const struct ustor_adapter *ad,
                                      enum rules_lock cls, const void *id, bool *conflict)
{
    rules_lockset set = RL_NONE;
    bool c = false;
    for (unsigned i = 0; i < pt->nheld; i++) {
        const struct port_held_lock *h = &pt->held[i];
        set |= RL_BIT(h->cls);
        c |= cls == RL_INTERRUPT ? (h->cls == RL_INTERRUPT && h->ad == ad) : h->id == id;
    }
    *conflict = c;
    return set;
}

static struct port_dpc *find_dpc(struct ustor_adapter *ad, const void *stor_dpc)
{
    LONG n = __atomic_load_n(&ad->nr_dpcs, __ATOMIC_ACQUIRE);
    for (LONG i = 0; i < n; i++)
        if (ad->dpcs[i].stor_dpc == stor_dpc)
            return &ad->dpcs[i];
    return NULL;
}

static const char *stor_lock_name(STOR_SPINLOCK l)
{
    switch (l) {
    case DpcLock: return "DpcLock";
    case StartIoLock: return "StartIoLock";
    case InterruptLock: return "InterruptLock";
    case ThreadedDpcLock: return "ThreadedDpcLock";
    case DpcLevelLock: return "DpcLevelLock";
    default: return "InvalidLock";
    }
}

/* judge_acquire found a rule broken: which one, in this order, with its
 * report.  Returns STOR_STATUS_SUCCESS if the lock may still be taken
 * (a table-B violation is reported, the lock is taken). */
static __attribute__((noinline)) ULONG judge_acquire_broken(struct port_thread *pt, struct ustor_adapter *ad,
                                                            const char *api, const char *lockname,
                                                            enum rules_lock cls, rules_lockset held,
                                                            bool conflict)
{
    const struct port_frame *top = pt->top;
    KIRQL irql = ukern_irql_get();
    KIRQL max = rules_irql_value(rules_locks[cls].max_caller, ad->dirql);
    char buf[64];

    /* Half-duplex StartIo holds every lock it could want at DIRQL: one
     * report names the cause; the lock is refused (taking it would
     * deadlock or break the IRQL rule). */
    /* Table B gives half-duplex StartIo no lock at all (S5.4). */
    if (top && top->routine == RR_STARTIO && top->cell->may == RL_NONE) {
        port_report(ad, "HalfDuplexStartIo", top->srb,
                    "%s(%s) in half-duplex HwStorStartIo: it already runs synchronized with the ISR "
                    "at DIRQL and may take no lock (SPEC S5.4); the port did not take it", api, lockname);
        return irql > max ? STOR_STATUS_INVALID_IRQL : STOR_STATUS_INVALID_DEVICE_STATE;
    }

    if (conflict) {
        port_report(ad, "StorPortSpinLock", NULL,
                    "%s(%s): this lock is already held by this thread; acquiring it again would "
                    "deadlock, so the port did not take it", api, lockname);
        return STOR_STATUS_INVALID_DEVICE_STATE;
    }
    /* An order broken by the miniport's own locks is a hierarchy bug; an
     * IRQL raised by the port's call (ISR, DIRQL routines) is the caller
     * being too high, which StorPortAcquireSpinLockEx answers with
     * STOR_STATUS_INVALID_IRQL. */
    rules_lockset own = RL_NONE;
    for (unsigned i = 0; i < pt->nheld; i++)
        if (!pt->held[i].by_port)
            own |= RL_BIT(pt->held[i].cls);
    if (!rules_order_ok(own, cls)) {
        port_report(ad, "StorPortSpinLock3", NULL,
                    "%s(%s) while holding %s: the order is DpcLock or StartIoLock first, then "
                    "InterruptLock (SPEC S4.4); the port did not take it", api, lockname,
                    rules_lockset_str(held, buf, sizeof(buf)));
        return STOR_STATUS_INVALID_DEVICE_STATE;
    }
    if (irql > max) {
        port_report(ad, "LockInvalidIrql", NULL,
                    "%s(%s) at IRQL %u: this lock can be acquired at IRQL <= %u", api, lockname,
                    irql, max);
        return STOR_STATUS_INVALID_IRQL;
    }
    if (!rules_order_ok(held, cls)) {
        port_report(ad, "StorPortSpinLock3", NULL,
                    "%s(%s) while holding %s: the order is DpcLock or StartIoLock first, then "
                    "InterruptLock (SPEC S4.4); the port did not take it", api, lockname,
                    rules_lockset_str(held, buf, sizeof(buf)));
        return STOR_STATUS_INVALID_DEVICE_STATE;
    }
    if (top) {
        rules_lockset may = rules_may_acquire(top->cell, held);
        if (!(may & RL_BIT(cls))) {
            char mb[64];
            port_report(ad, "StorPortSpinLock3", top->srb,
                        "%s may not acquire %s in %s mode (held: %s; it may acquire: %s; SPEC S4.6 "
                        "table B)", rules_routines[top->routine].name, lockname,
                        port_mode_name(port_mode(ad)), rules_lockset_str(held, buf, sizeof(buf)),
                        rules_lockset_str(may, mb, sizeof(mb)));
        }
    }
    return STOR_STATUS_SUCCESS;
}

/* Common judgement for every Storport lock acquisition.  Returns
 * STOR_STATUS_SUCCESS if the lock may be taken.  The common case, every
 * rule kept, is one pass over the held locks and the table's cells;
 * anything else goes to judge_acquire_broken, which works out what was
 * broken.  (Table B, as rules_may_acquire_one reads it, includes the
 * order rule; the order check on all held locks covers the one on the
 * miniport's own, which are a subset.)  lockname NULL: that of `which`. */
static inline ULONG judge_acquire(struct port_thread *pt, struct ustor_adapter *ad, const char *api,
                                  STOR_SPINLOCK which, const char *lockname, enum rules_lock cls,
                                  const void *id)
{
    bool conflict;
    rules_lockset held = held_scan(pt, ad, cls, id, &conflict);
    const struct port_frame *top = pt->top;
    if (__builtin_expect(!conflict &&
                             ukern_irql_get() <= rules_irql_value(rules_locks[cls].max_caller, ad->dirql) &&
                             (top ? rules_may_acquire_one(top->cell, held, cls) : rules_order_ok(held, cls)),
                         1))
        return STOR_STATUS_SUCCESS;
    return judge_acquire_broken(pt, ad, api, lockname ? lockname : stor_lock_name(which), cls, held,
                                conflict);
}

static ULONG acquire(PVOID devext, STOR_SPINLOCK which, PVOID ctx, PSTOR_LOCK_HANDLE h, bool ex,
                     void *caller)
{
    struct port_thread *pt = port_thread();
    struct ustor_adapter *ad = port_adapter_from_devext_on(pt, devext);
    const char *api = ex ? "StorPortAcquireSpinLockEx" : "StorPortAcquireSpinLock";
    if (!ad) {
        port_report(NULL, "BadArgument", NULL,
                    "%s: HwDeviceExtension %p is not the device extension of any adapter", api, devext);
        return STOR_STATUS_INVALID_PARAMETER;
    }
    if (!h) {
        port_report(ad, "LockInvalidParameter", NULL, "%s: LockHandle is NULL", api);
        return STOR_STATUS_INVALID_PARAMETER;
    }
    h->Lock = REFUSED_LOCK;
    enum rules_lock cls;
    if (!rules_lock_from_stor(which, &cls)) {
        port_report(ad, "LockInvalidParameter", NULL,
                    "%s: SpinLock %d is not a lock kind; expected DpcLock (1), StartIoLock (2), "
                    "InterruptLock (3)%s", api, (int)which,
                    ex ? ", ThreadedDpcLock (4) or DpcLevelLock (5)" : "");
        return STOR_STATUS_INVALID_PARAMETER;
    }
    if (which > InterruptLock && !ex) {
        port_report(ad, "LockInvalidParameter", NULL,
                    "StorPortAcquireSpinLock(%s): only DpcLock, StartIoLock and InterruptLock; use "
                    "StorPortAcquireSpinLockEx for this kind", stor_lock_name(which));
        return STOR_STATUS_INVALID_PARAMETER;
    }
    const void *id;
    PKSPIN_LOCK word = NULL;
    struct port_lock_stats *st;
    if (cls == RL_DPC) {
        struct port_dpc *d = ctx ? find_dpc(ad, ctx) : NULL;
        if (!d) {
            port_report(ad, "LockContext", NULL,
                        "%s(%s): LockContext %p is not a STOR_DPC initialized with "
                        "StorPortInitializeDpc (SPEC S4.2)", api, stor_lock_name(which), ctx);
            return STOR_STATUS_INVALID_PARAMETER;
        }
        word = &d->stor_dpc->Lock;
        id = word;
        st = &d->st;
    } else {
        if (ctx)
            port_report(ad, "LockContext", NULL,
                        "%s(%s): LockContext must be NULL for StartIoLock and InterruptLock, got %p "
                        "(SPEC S4.2)", api, stor_lock_name(which), ctx);
        if (cls == RL_STARTIO) {
            word = &ad->startio_lock;
            id = word;
            st = &ad->st_startio;
        } else {
            id = ad;
            st = &ad->st_interrupt;
        }
    }

    ULONG status = judge_acquire(pt, ad, api, which, NULL, cls, id);
    if (status != STOR_STATUS_SUCCESS)
        return status;

    KIRQL old = ukern_irql_get();
    KIRQL to = rules_irql_value(rules_locks[cls].acquire_at, ad->dirql);
    if (which == DpcLevelLock || which == ThreadedDpcLock)
        to = DISPATCH_LEVEL;
    if (old < to)
        ukern_irql_set(to);
    if (cls == RL_INTERRUPT) {
        port_intr_words_acquire(ad);
    } else {
        bool c = ukern_spin_acquire_raw_contended(word);
        port_lock_stat_acquired(ad, st, c);
    }
    port_held_push_on(pt, ad, cls, id, h, false, caller, st);
    h->Lock = which;
    h->Context.OldIrql = old;
    return STOR_STATUS_SUCCESS;
}

STORPORT_API VOID StorPortAcquireSpinLock(PVOID DeviceExtension, STOR_SPINLOCK SpinLock,
                                          PVOID LockContext, PSTOR_LOCK_HANDLE LockHandle)
{
    (void)acquire(DeviceExtension, SpinLock, LockContext, LockHandle, false, __builtin_return_address(0));
}

STORPORT_API ULONG StorPortAcquireSpinLockEx(PVOID DeviceExtension, STOR_SPINLOCK SpinLock,
                                             PVOID LockContext, PSTOR_LOCK_HANDLE LockHandle)
{
    return acquire(DeviceExtension, SpinLock, LockContext, LockHandle, true, __builtin_return_address(0));
}

STORPORT_API VOID StorPortReleaseSpinLock(PVOID DeviceExtension, PSTOR_LOCK_HANDLE LockHandle)
{
    struct port_thread *pt = port_thread();
    struct ustor_adapter *ad = port_adapter_from_devext_on(pt, DeviceExtension);
    if (!ad || !LockHandle) {
        port_report(ad, "StorPortSpinLock4", NULL,
                    "StorPortReleaseSpinLock(%p, %p): %s", DeviceExtension, (void *)LockHandle,
                    !ad ? "not a device extension" : "LockHandle is NULL");
        return;
    }
    if (LockHandle->Lock == REFUSED_LOCK)
        return; /* the acquisition was refused and reported */
    if (LockHandle->Lock == RELEASED_LOCK) {
        port_report(ad, "StorPortSpinLock4", NULL,
                    "StorPortReleaseSpinLock: handle %p was already released; release each acquisition once",
                    (void *)LockHandle);
        return;
    }
    struct port_held_lock h;
    if (!port_held_pop_on(pt, NULL, LockHandle, &h)) {
        port_report(ad, "StorPortSpinLock4", NULL,
                    "StorPortReleaseSpinLock: handle %p (%s) was not acquired by this thread with "
                    "StorPortAcquireSpinLock; nothing released", (void *)LockHandle,
                    stor_lock_name(LockHandle->Lock));
        return;
    }
    KIRQL old = LockHandle->Context.OldIrql;
    if (h.cls == RL_INTERRUPT) {
        port_intr_words_release(ad);
    } else {
        port_lock_stat_releasing(ad, h.st);
        ukern_spin_release_raw((PKSPIN_LOCK)h.id);
    }
    LockHandle->Lock = RELEASED_LOCK;
    ukern_irql_set(old);
}

/* ---- MSI locks ------------------------------------------------------- */

STORPORT_API ULONG StorPortAcquireMSISpinLock(PVOID HwDeviceExtension, ULONG MessageId, PULONG OldIrql)
{
    struct ustor_adapter *ad = port_adapter_from_devext(HwDeviceExtension);
    if (!ad || !OldIrql) {
        port_report(ad, "BadArgument", NULL, "StorPortAcquireMSISpinLock: %s",
                    !ad ? "HwDeviceExtension is not a device extension" : "OldIrql is NULL");
        return STOR_STATUS_INVALID_PARAMETER;
    }
    if (!ad->per_message)
        port_report(ad, "StorPortMSILock", NULL,
                    "StorPortAcquireMSISpinLock(message %u) but InterruptSynchronizationMode is not "
                    "InterruptSynchronizePerMessage", MessageId);
    if (MessageId >= ad->nr_messages) {
        port_report(ad, "BadArgument", NULL,
                    "StorPortAcquireMSISpinLock: message %u does not exist (the adapter has %u)",
                    MessageId, ad->nr_messages);
        return STOR_STATUS_INVALID_PARAMETER;
    }
    PKSPIN_LOCK word = ad->per_message ? ad->intr[MessageId]->ActualLock : &ad->intr_lock;
    const void *id = ad->per_message ? (const void *)word : (const void *)ad;
    struct port_thread *pt = port_thread();
    ULONG st = judge_acquire(pt, ad, "StorPortAcquireMSISpinLock", InvalidLock, "MSI lock", RL_INTERRUPT, id);
    if (st != STOR_STATUS_SUCCESS)
        return st;
    KIRQL old = ukern_irql_get();
    if (old < ad->dirql)
        ukern_irql_set(ad->dirql);
    bool c = ukern_spin_acquire_raw_contended(word);
    port_lock_stat_acquired(ad, &ad->st_msi[MessageId], c);
    port_held_push_on(pt, ad, RL_INTERRUPT, id, NULL, false, __builtin_return_address(0), &ad->st_msi[MessageId]);
    *OldIrql = old;
    return STOR_STATUS_SUCCESS;
}

STORPORT_API ULONG StorPortReleaseMSISpinLock(PVOID HwDeviceExtension, ULONG MessageId, ULONG OldIrql)
{
    struct ustor_adapter *ad = port_adapter_from_devext(HwDeviceExtension);
    if (!ad || MessageId >= (ad ? ad->nr_messages : 0)) {
        port_report(ad, "BadArgument", NULL, "StorPortReleaseMSISpinLock(message %u): %s", MessageId,
                    !ad ? "HwDeviceExtension is not a device extension" : "no such message");
        return STOR_STATUS_INVALID_PARAMETER;
    }
    PKSPIN_LOCK word = ad->per_message ? ad->intr[MessageId]->ActualLock : &ad->intr_lock;
    const void *id = ad->per_message ? (const void *)word : (const void *)ad;
    /* Only a lock the miniport took (not the ISR's own, taken by the port). */
    struct port_thread *pt = port_thread();
    bool mine = false;
    for (unsigned i = pt->nheld; i-- > 0;)
        if (pt->held[i].id == id && !pt->held[i].by_port) {
            mine = true;
            break;
        }
    if (!mine || !port_held_pop(id, NULL, NULL)) {
        port_report(ad, "StorPortSpinLock4", NULL,
                    "StorPortReleaseMSISpinLock(message %u): this thread did not acquire it", MessageId);
        return STOR_STATUS_INVALID_PARAMETER;
    }
    port_lock_stat_releasing(ad, &ad->st_msi[MessageId]);
    ukern_spin_release_raw(word);
    ukern_irql_set((KIRQL)OldIrql);
    return STOR_STATUS_SUCCESS;
}

/* ---- S3 ---------------------------------------------------------------- */

STORPORT_API BOOLEAN StorPortSynchronizeAccess(PVOID HwDeviceExtension,
                                               PSTOR_SYNCHRONIZED_ACCESS SynchronizedAccessRoutine,
                                               PVOID Context)
{
    struct ustor_adapter *ad = port_adapter_from_devext(HwDeviceExtension);
    if (!ad || !SynchronizedAccessRoutine) {
        port_report(ad, "BadArgument", NULL, "StorPortSynchronizeAccess: %s",
                    !ad ? "HwDeviceExtension is not a device extension" : "SynchronizedAccessRoutine is NULL");
        return FALSE;
    }
    if (ukern_irql_get() > ad->dirql) {
        port_report(ad, "KeSynchronizeExecution-Irql", NULL,
                    "StorPortSynchronizeAccess at IRQL %u, above the interrupt's SynchronizeIrql %u "
                    "(SPEC S2.5); routine not called", ukern_irql_get(), ad->dirql);
        return FALSE;
    }
    struct port_frame f;
    const struct rules_cell *cell = rules_cell(RR_SYNCHRONIZED_ACCESS, port_mode(ad));
    /* Already synchronized with the ISR (half-duplex StartIo, the ISR
     * itself, or under the interrupt lock): exclusive access is there
     * already, and taking the lock again would self-deadlock. */
    bool have;
    (void)held_scan(port_thread(), ad, RL_INTERRUPT, ad, &have);
    port_frame_enter(&f, ad, RR_SYNCHRONIZED_ACCESS, cell, NULL, !have);
    BOOLEAN r = SynchronizedAccessRoutine(HwDeviceExtension, Context);
    port_frame_leave(&f, !have);
    return r; /* S3.2 */
}
