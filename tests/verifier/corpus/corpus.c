/*
 * corpus.c - a small, otherwise correct miniport that breaks exactly one
 * Storport rule, chosen by "bug=<name>" in its argument string:
 *
 *   bug=                      routine           rule broken
 *   spinlock_twice            HwStorDpcRoutine  StorPortSpinLock (DpcLock taken while held)
 *   spinlock_return_held      HwStorDpcRoutine  StorPortSpinLock (returns holding StartIoLock)
 *   spinlock3_order           HwStorDpcRoutine  StorPortSpinLock3 (InterruptLock, then StartIoLock)
 *   spinlock4_not_held        HwStorDpcRoutine  StorPortSpinLock4 (release of a never-acquired handle)
 *   spinlock4_other_handle    HwStorDpcRoutine  StorPortSpinLock4 (release through a copy of the handle)
 *   lockcontext_dpc_null      HwStorDpcRoutine  LockContext (DpcLock with no STOR_DPC)
 *   lockcontext_startio_ctx   HwStorDpcRoutine  LockContext (StartIoLock with a context)
 *   msi_lock                  HwStorDpcRoutine  StorPortMSILock (MSI lock, not per-message mode)
 *   lock_invalid_irql         HwStorInterrupt   LockInvalidIrql (DpcLock from the ISR)
 *   lock_kind_invalid         HwStorDpcRoutine  LockInvalidParameter (lock kind 9)
 *   pool_from_isr             HwStorInterrupt   StorPortIrql (StorPortAllocatePool at DIRQL)
 *   initialize_dpc_null       HwStorDpcRoutine  BadArgument (StorPortInitializeDpc with no STOR_DPC)
 *   halfduplex_pool           HwStorStartIo     HalfDuplexStartIo (StorPortAllocatePool)
 *   halfduplex_lock           HwStorStartIo     HalfDuplexStartIo (StorPortAcquireSpinLock)
 *   change_irql               HwStorStartIo     SpChangeIrql (KeRaiseIrql, never lowered; a physical
 *                                               miniport calling Ke* breaks HwStorPortProhibitedDDIs too)
 *   change_irql_handle        HwStorDpcRoutine  SpChangeIrql (lock handle's OldIrql overwritten)
 *   buildio_false             HwStorBuildIo     StorPortBuildIo (FALSE without completing)
 *   double_completion         HwStorStartIo     SrbDoubleCompletion
 *   not_outstanding           HwStorStartIo     SrbNotOutstanding (completes a stack SRB)
 *   busy_dtl                  HwStorStartIo     SrbBusyDataTransferLength
 *   ext_after_busy            HwStorStartIo     SrbExtensionAfterBusy
 *   old_extension             HwStorStartIo     SrbCompletedWithOldExtension
 *   never_complete            HwStorStartIo     SrbTimeout / SrbNeverCompleted
 *   findadapter_return        HwStorFindAdapter SpReturnValue (returns 7)
 *   findadapter_no_mtl        HwStorFindAdapter StorPortFindAdapter (MaximumTransferLength unset)
 *   virtual_device            HwStorFindAdapter StorPortVirtualDevice / StorPortVirtualDevice2
 *   enable_passive_startio    HwStorStartIo     StorPortEnablePassive
 *   passive_from_hwinit       HwStorAdapterControl  StorPortPassiveFromHwInit (restart calls HwStorInitialize)
 *   perfopts_null             HwStorFindAdapter StorPortPerfOpts
 *   timer_null                HwStorInitialize  StorPortTimer
 *   notification_undocumented HwStorStartIo     StorPortNotification2 (type 0x77)
 *   pool_double_free          HwStorDpcRoutine  StorPortAllocatePool
 *   pool_overwrite            HwStorDpcRoutine  StorPortAllocatePool2 (live buffer variable reused)
 *   pool_leak                 HwStorDpcRoutine  StorPortAllocatePool2 (never freed)
 *   status_pending            HwStorStartIo     StorPortStatusPending (warning)
 *   complete_request          HwStorStartIo     StorPortCompleteRequest (warning)
 *   validate_range            HwStorFindAdapter StorPortDeprecated (warning)
 *   log_error                 HwStorStartIo     StorPortDeprecated (warning)
 *   lock_inversion            HwStorDpcRoutine  LockOrderInversion (StartIo: StartIoLock then DpcLock;
 *                                               DPC: DpcLock then StartIoLock; needs lockgraph=1)
 *   syncaccess_above_dirql    HwStorStartIo     KeSynchronizeExecution-Irql (KeRaiseIrql to
 *                                               HIGH_LEVEL: physical miniports also break
 *                                               HwStorPortProhibitedDDIs, no StorPort call goes there)
 *
 *
 * WDM-shim rules (virtual miniports may call the kernel; the physical
 * build only for wdm_prohibited_ddi):
 *   wdm_spinlock_return_held  HwStorDpcRoutine  SpinLock (KeAcquireSpinLock, returns holding it)
 *   wdm_spinlockdpc_return_held HwStorDpcRoutine SpinLockDpc
 *   wdm_queued_return_held    HwStorDpcRoutine  QueuedSpinLock
 *   wdm_queued_release_unacquired HwStorDpcRoutine QueuedSpinLockRelease
 *   wdm_double_free           HwStorDpcRoutine  DoubleExFreePool
 *   wdm_paged_code            HwStorDpcRoutine  PagedCode
 *   wdm_set_event_twice       HwStorDpcRoutine  DoubleKeSetEvent
 *   wdm_lower_raises          HwStorDpcRoutine  KeLowerIrql to a higher IRQL
 *   wdm_atdpc_at_passive      HwStorFindAdapter KeAcquireSpinLockAtDpcLevel at PASSIVE_LEVEL
 *   wdm_prohibited_ddi        HwStorDpcRoutine  HwStorPortProhibitedDDIs (physical: KeQuerySystemTime)
 *
 * "lockin=<routine name>;lock=<STOR_SPINLOCK value>" makes that routine
 * take (and release) that lock once, which is how the tests walk table B.
 * sync=half adds the SpDuplex warning by itself, which the tests expect.
 */
#include "corpus.h"

#include <srbhelper.h>
#include <stdlib.h>
#include <string.h>

struct corpus_state corpus_state;

/* "Cprp" in a pool dump */
#define CORPUS_POOL_TAG ((ULONG)0x70727043)

typedef struct {
    STOR_DPC dpc;
    BOOLEAN dpc_ready;
    BOOLEAN physical;
    BOOLEAN initialized;
    BOOLEAN startio_locked_by_port; /* full duplex: the port holds StartIoLock around HwStorStartIo */
    volatile LONG dpc_issued;
    PVOID busy_srb;    /* SRB bounced with BUSY, by the busy_* / *_extension bugs */
    PVOID saved_ext;   /* its SrbExtension at the BUSY completion */
    PVOID leaked;
    /* WDM objects for the wdm_* bugs (virtual miniports may use the kernel) */
    KSPIN_LOCK klock;
    KLOCK_QUEUE_HANDLE kqueue;
    KEVENT kevent;
} CORPUS_EXT;

void corpus_reset(void)
{
    memset(&corpus_state, 0, sizeof(corpus_state));
    strcpy(corpus_state.bug, "none");
    corpus_state.lock_in = -1;
}

static BOOLEAN bug(const char *name)
{
    return strcmp(corpus_state.bug, name) == 0;
}

/* Value of key in "k=v;k=v" (exact key match), copied into out. */
static BOOLEAN arg_get(const char *args, const char *key, char *out, size_t len)
{
    size_t klen = strlen(key);
    for (const char *p = args; p && *p;) {
        const char *end = strchr(p, ';');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            size_t v = n - klen - 1;
            if (v >= len)
                v = len - 1;
            memcpy(out, p + klen + 1, v);
            out[v] = '\0';
            return TRUE;
        }
        p = end ? end + 1 : NULL;
    }
    return FALSE;
}

static void parse_args(const char *args)
{
    char v[64];
    corpus_reset();
    if (arg_get(args, "bug", v, sizeof(v)))
        strcpy(corpus_state.bug, v);
    if (arg_get(args, "lockin", v, sizeof(v)))
        for (int r = 0; r < RR_COUNT; r++)
            if (strcmp(rules_routines[r].name, v) == 0)
                corpus_state.lock_in = r;
    if (arg_get(args, "lock", v, sizeof(v)))
        corpus_state.lock_kind = atoi(v);
}

static void count_call(enum rules_routine r)
{
    __atomic_fetch_add(&corpus_state.calls[r], 1, __ATOMIC_ACQ_REL);
}

static void complete(PVOID ext, PVOID srb, UCHAR status)
{
    SrbSetSrbStatus(srb, status);
    SrbSetScsiStatus(srb, SCSISTAT_GOOD);
    StorPortNotification(RequestComplete, ext, srb);
}

static void corpus_dpc(PSTOR_DPC dpc, PVOID ext, PVOID a1, PVOID a2);

static void ensure_dpc(PVOID ext)
{
    CORPUS_EXT *e = ext;
    if (!e->dpc_ready) {
        StorPortInitializeDpc(ext, &e->dpc, corpus_dpc);
        e->dpc_ready = TRUE;
    }
}

/* The table-B probe: take lock_kind once in routine r, release it. */
static void maybe_lock(PVOID ext, enum rules_routine r)
{
    CORPUS_EXT *e = ext;
    int unclaimed = 0;
    if (corpus_state.lock_in != (int)r ||
        !__atomic_compare_exchange_n(&corpus_state.lock_done, &unclaimed, 1, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return;
    STOR_SPINLOCK kind = (STOR_SPINLOCK)corpus_state.lock_kind;
    BOOLEAN dpc_class = kind == DpcLock || kind == ThreadedDpcLock || kind == DpcLevelLock;
    if (dpc_class)
        ensure_dpc(ext);
    STOR_LOCK_HANDLE h;
    memset(&h, 0, sizeof(h));
    ULONG st = StorPortAcquireSpinLockEx(ext, kind, dpc_class ? &e->dpc : NULL, &h);
    if (st == STOR_STATUS_SUCCESS)
        StorPortReleaseSpinLock(ext, &h);
    __atomic_store_n(&corpus_state.lock_status, st, __ATOMIC_RELAXED);
    __atomic_store_n(&corpus_state.lock_done, 2, __ATOMIC_RELEASE); /* published */
}

/* ---- routines ---------------------------------------------------------- */

static VOID corpus_state_change(PVOID ext, PVOID ctx, SHORT type, PVOID addr, ULONG status)
{
    (void)ctx;
    (void)type;
    (void)addr;
    (void)status;
    count_call(RR_STATE_CHANGE);
    maybe_lock(ext, RR_STATE_CHANGE);
}

static void dpc_bugs(PVOID ext)
{
    CORPUS_EXT *e = ext;
    STOR_LOCK_HANDLE h1, h2;
    memset(&h1, 0, sizeof(h1));
    memset(&h2, 0, sizeof(h2));
    if (bug("spinlock_twice")) {
        StorPortAcquireSpinLock(ext, DpcLock, &e->dpc, &h1);
        StorPortAcquireSpinLock(ext, DpcLock, &e->dpc, &h2);
        StorPortReleaseSpinLock(ext, &h2);
        StorPortReleaseSpinLock(ext, &h1);
    } else if (bug("spinlock_return_held")) {
        StorPortAcquireSpinLock(ext, StartIoLock, NULL, &h1);
    } else if (bug("spinlock3_order")) {
        StorPortAcquireSpinLock(ext, InterruptLock, NULL, &h1);
        StorPortAcquireSpinLock(ext, StartIoLock, NULL, &h2);
        StorPortReleaseSpinLock(ext, &h2);
        StorPortReleaseSpinLock(ext, &h1);
    } else if (bug("spinlock4_not_held")) {
        h1.Lock = StartIoLock;
        StorPortReleaseSpinLock(ext, &h1);
    } else if (bug("spinlock4_other_handle")) {
        StorPortAcquireSpinLock(ext, StartIoLock, NULL, &h1);
        h2 = h1;
        StorPortReleaseSpinLock(ext, &h2);
        StorPortReleaseSpinLock(ext, &h1);
    } else if (bug("lockcontext_dpc_null")) {
        StorPortAcquireSpinLock(ext, DpcLock, NULL, &h1);
        StorPortReleaseSpinLock(ext, &h1);
    } else if (bug("lockcontext_startio_ctx")) {
        StorPortAcquireSpinLock(ext, StartIoLock, &e->dpc, &h1);
        StorPortReleaseSpinLock(ext, &h1);
    } else if (bug("msi_lock")) {
        ULONG old = 0;
        if (StorPortAcquireMSISpinLock(ext, 0, &old) == STOR_STATUS_SUCCESS)
            StorPortReleaseMSISpinLock(ext, 0, old);
    } else if (bug("pool_double_free")) {
        PVOID p = NULL;
        if (StorPortAllocatePool(ext, 64, CORPUS_POOL_TAG, &p) == STOR_STATUS_SUCCESS) {
            StorPortFreePool(ext, p);
            StorPortFreePool(ext, p);
        }
    } else if (bug("pool_overwrite")) {
        PVOID p = NULL;
        if (StorPortAllocatePool(ext, 64, CORPUS_POOL_TAG, &p) == STOR_STATUS_SUCCESS) {
            PVOID first = p;
            if (StorPortAllocatePool(ext, 64, CORPUS_POOL_TAG, &p) == STOR_STATUS_SUCCESS)
                StorPortFreePool(ext, p);
            StorPortFreePool(ext, first);
        }
    } else if (bug("lock_kind_invalid")) {
        StorPortAcquireSpinLock(ext, (STOR_SPINLOCK)9, NULL, &h1);
        StorPortReleaseSpinLock(ext, &h1);
    } else if (bug("initialize_dpc_null")) {
        StorPortInitializeDpc(ext, NULL, corpus_dpc);
    } else if (bug("lock_inversion")) {
        /* DpcLock then StartIoLock, while HwStorStartIo takes them the
         * other way round: legal one by one, a deadlock together. */
        StorPortAcquireSpinLock(ext, DpcLock, &e->dpc, &h1);
        StorPortAcquireSpinLock(ext, StartIoLock, NULL, &h2);
        StorPortReleaseSpinLock(ext, &h2);
        StorPortReleaseSpinLock(ext, &h1);
    } else if (bug("change_irql_handle")) {
        /* A scribbled-on lock handle: release "restores" an IRQL above the
         * DPC's own, and the routine returns there. */
        StorPortAcquireSpinLock(ext, DpcLock, &e->dpc, &h1);
        h1.Context.OldIrql = DISPATCH_LEVEL + 1;
        StorPortReleaseSpinLock(ext, &h1);
    } else if (bug("wdm_spinlock_return_held")) {
        KIRQL old;
        KeAcquireSpinLock(&e->klock, &old);
    } else if (bug("wdm_spinlockdpc_return_held")) {
        (void)KeAcquireSpinLockRaiseToDpc(&e->klock);
    } else if (bug("wdm_queued_return_held")) {
        KeAcquireInStackQueuedSpinLock(&e->klock, &e->kqueue);
    } else if (bug("wdm_queued_release_unacquired")) {
        /* a handle naming a real lock, never passed to an acquire */
        e->kqueue.LockQueue.Lock = &e->klock;
        e->kqueue.OldIrql = DISPATCH_LEVEL;
        KeReleaseInStackQueuedSpinLock(&e->kqueue);
    } else if (bug("wdm_double_free")) {
        PVOID p = ExAllocatePoolWithTag(NonPagedPoolNx, 64, CORPUS_POOL_TAG);
        if (p) {
            ExFreePoolWithTag(p, CORPUS_POOL_TAG);
            ExFreePoolWithTag(p, CORPUS_POOL_TAG);
        }
    } else if (bug("wdm_paged_code")) {
        PAGED_CODE();
    } else if (bug("wdm_set_event_twice")) {
        KeInitializeEvent(&e->kevent, NotificationEvent, FALSE);
        (void)KeSetEvent(&e->kevent, 0, FALSE);
        (void)KeSetEvent(&e->kevent, 0, FALSE);
    } else if (bug("wdm_lower_raises")) {
        KeLowerIrql((KIRQL)(DISPATCH_LEVEL + 1));
    } else if (bug("wdm_prohibited_ddi")) {
        LARGE_INTEGER now;
        KeQuerySystemTime(&now);
    } else if (bug("pool_leak")) {
        (void)StorPortAllocatePool(ext, 64, CORPUS_POOL_TAG, &e->leaked);
    }
}

static void corpus_dpc(PSTOR_DPC dpc, PVOID ext, PVOID a1, PVOID a2)
{
    (void)dpc;
    (void)a1;
    (void)a2;
    count_call(RR_DPC);
    maybe_lock(ext, RR_DPC);
    if (corpus_state.lock_in == RR_STATE_CHANGE) {
        STOR_ADDR_BTL8 a;
        memset(&a, 0, sizeof(a));
        a.Type = STOR_ADDRESS_TYPE_BTL8;
        a.AddressLength = STOR_ADDR_BTL8_ADDRESS_LENGTH;
        StorPortStateChangeDetected(ext, STATE_CHANGE_LUN, (PSTOR_ADDRESS)&a, 0, corpus_state_change, NULL);
    }
    dpc_bugs(ext);
    __atomic_store_n(&corpus_state.dpc_done, 1, __ATOMIC_RELEASE);
}

static BOOLEAN corpus_interrupt(PVOID ext)
{
    CORPUS_EXT *e = ext;
    count_call(RR_INTERRUPT);
    maybe_lock(ext, RR_INTERRUPT);
    if (bug("pool_from_isr")) {
        PVOID p = NULL;
        if (StorPortAllocatePool(ext, 64, CORPUS_POOL_TAG, &p) == STOR_STATUS_SUCCESS)
            StorPortFreePool(ext, p);
    }
    if (bug("lock_invalid_irql")) {
        STOR_LOCK_HANDLE h;
        memset(&h, 0, sizeof(h));
        ULONG st = StorPortAcquireSpinLockEx(ext, DpcLock, &e->dpc, &h);
        corpus_state.lock_status = st;
        if (st == STOR_STATUS_SUCCESS)
            StorPortReleaseSpinLock(ext, &h);
    }
    return TRUE;
}

static BOOLEAN corpus_sync(PVOID ext, PVOID ctx)
{
    (void)ext;
    (void)ctx;
    __atomic_store_n(&corpus_state.sync_called, 1, __ATOMIC_RELEASE);
    return TRUE;
}

static BOOLEAN corpus_buildio(PVOID ext, PSCSI_REQUEST_BLOCK srb)
{
    (void)srb;
    count_call(RR_BUILDIO);
    maybe_lock(ext, RR_BUILDIO);
    return bug("buildio_false") ? FALSE : TRUE;
}

static BOOLEAN corpus_passive_init(PVOID ext)
{
    count_call(RR_PASSIVE_INITIALIZE);
    maybe_lock(ext, RR_PASSIVE_INITIALIZE);
    return TRUE;
}

static void set_extension(PVOID srb, PVOID ext)
{
    if (((PSCSI_REQUEST_BLOCK)srb)->Function == SRB_FUNCTION_STORAGE_REQUEST_BLOCK)
        ((PSTORAGE_REQUEST_BLOCK)srb)->MiniportContext = ext;
    else
        ((PSCSI_REQUEST_BLOCK)srb)->SrbExtension = ext;
}

static BOOLEAN needs_dpc(void)
{
    static const char *const dpc_bugs_list[] = {
        "spinlock_twice", "spinlock_return_held", "spinlock3_order", "spinlock4_not_held",
        "spinlock4_other_handle", "lockcontext_dpc_null", "lockcontext_startio_ctx", "msi_lock",
        "pool_double_free", "pool_overwrite", "pool_leak", "change_irql_handle",
        "wdm_spinlock_return_held", "wdm_spinlockdpc_return_held", "wdm_queued_return_held",
        "wdm_queued_release_unacquired", "wdm_double_free", "wdm_paged_code", "wdm_set_event_twice",
        "wdm_lower_raises", "wdm_prohibited_ddi", "lock_inversion", "lock_kind_invalid", "initialize_dpc_null",
    };
    for (size_t i = 0; i < sizeof(dpc_bugs_list) / sizeof(dpc_bugs_list[0]); i++)
        if (bug(dpc_bugs_list[i]))
            return TRUE;
    return corpus_state.lock_in == RR_DPC || corpus_state.lock_in == RR_STATE_CHANGE;
}

/* The BUSY bugs: the first attempt of an SRB is bounced, the second runs. */
static BOOLEAN first_attempt_busy(CORPUS_EXT *e, PVOID ext, PVOID srb)
{
    if (e->busy_srb == srb)
        return FALSE;
    e->busy_srb = srb;
    e->saved_ext = SrbGetMiniportContext(srb);
    if (bug("busy_dtl"))
        SrbSetDataTransferLength(srb, SrbGetDataTransferLength(srb) / 2);
    complete(ext, srb, SRB_STATUS_BUSY);
    return TRUE;
}

static BOOLEAN corpus_startio(PVOID ext, PSCSI_REQUEST_BLOCK srb)
{
    CORPUS_EXT *e = ext;
    count_call(RR_STARTIO);
    maybe_lock(ext, RR_STARTIO);

    if (bug("halfduplex_pool")) {
        PVOID p = NULL;
        if (StorPortAllocatePool(ext, 64, CORPUS_POOL_TAG, &p) == STOR_STATUS_SUCCESS)
            StorPortFreePool(ext, p);
    } else if (bug("halfduplex_lock")) {
        STOR_LOCK_HANDLE h;
        memset(&h, 0, sizeof(h));
        StorPortAcquireSpinLock(ext, DpcLock, &e->dpc, &h);
        StorPortReleaseSpinLock(ext, &h);
    } else if (bug("change_irql")) {
        KIRQL old;
        KeRaiseIrql((KIRQL)(KeGetCurrentIrql() + 1), &old);
    } else if (bug("double_completion")) {
        complete(ext, srb, SRB_STATUS_SUCCESS);
    } else if (bug("not_outstanding")) {
        SCSI_REQUEST_BLOCK stack_srb;
        memset(&stack_srb, 0, sizeof(stack_srb));
        stack_srb.Length = sizeof(stack_srb);
        stack_srb.Function = SRB_FUNCTION_EXECUTE_SCSI;
        stack_srb.CdbLength = 6;
        complete(ext, &stack_srb, SRB_STATUS_SUCCESS);
    } else if (bug("busy_dtl")) {
        if (first_attempt_busy(e, ext, srb))
            return TRUE;
    } else if (bug("ext_after_busy")) {
        if (first_attempt_busy(e, ext, srb))
            return TRUE;
        if (e->saved_ext)
            memset(e->saved_ext, 0x11, 8);
    } else if (bug("old_extension")) {
        if (first_attempt_busy(e, ext, srb))
            return TRUE;
        set_extension(srb, e->saved_ext);
    } else if (bug("never_complete")) {
        return TRUE;
    } else if (bug("lock_inversion")) {
        STOR_LOCK_HANDLE hs, hd;
        memset(&hs, 0, sizeof(hs));
        memset(&hd, 0, sizeof(hd));
        if (!e->startio_locked_by_port)
            StorPortAcquireSpinLock(ext, StartIoLock, NULL, &hs);
        StorPortAcquireSpinLock(ext, DpcLock, &e->dpc, &hd);
        StorPortReleaseSpinLock(ext, &hd);
        if (!e->startio_locked_by_port)
            StorPortReleaseSpinLock(ext, &hs);
    } else if (bug("wdm_spinlock_return_held_startio")) {
        KIRQL old;
        KeAcquireSpinLock(&e->klock, &old);
    } else if (bug("enable_passive_startio")) {
        (void)StorPortEnablePassiveInitialization(ext, corpus_passive_init);
    } else if (bug("notification_undocumented")) {
        StorPortNotification((SCSI_NOTIFICATION_TYPE)0x77, ext);
    } else if (bug("status_pending")) {
        complete(ext, srb, SRB_STATUS_PENDING);
        return TRUE;
    } else if (bug("complete_request")) {
        /* completes every outstanding SRB of LUN 0, this one included */
        StorPortCompleteRequest(ext, 0, 0, 0, SRB_STATUS_ABORTED);
        return TRUE;
    } else if (bug("log_error")) {
        StorPortLogError(ext, srb, 0, 0, 0, SP_INTERNAL_ADAPTER_ERROR, 0x42);
    } else if (bug("syncaccess_above_dirql")) {
        KIRQL old;
        KeRaiseIrql(HIGH_LEVEL, &old);
        corpus_state.sync_ret = StorPortSynchronizeAccess(ext, corpus_sync, NULL);
        KeLowerIrql(old);
    }
    /* Issued last, with no lock held: the DPC never runs while this
     * StartIo holds something (lock_inversion would really deadlock). */
    if (needs_dpc() && __atomic_exchange_n(&e->dpc_issued, 1, __ATOMIC_ACQ_REL) == 0)
        StorPortIssueDpc(ext, &e->dpc, NULL, NULL);
    complete(ext, srb, SRB_STATUS_SUCCESS);
    return TRUE;
}

static BOOLEAN corpus_reset_bus(PVOID ext, ULONG path)
{
    (void)path;
    count_call(RR_RESET_BUS);
    maybe_lock(ext, RR_RESET_BUS);
    return TRUE;
}

static VOID corpus_timer(PVOID ext)
{
    count_call(RR_TIMER);
    maybe_lock(ext, RR_TIMER);
}

static BOOLEAN corpus_initialize(PVOID ext)
{
    CORPUS_EXT *e = ext;
    count_call(RR_INITIALIZE);
    ensure_dpc(ext);
    maybe_lock(ext, RR_INITIALIZE);
    if (e->initialized) {
        /* Only reached through bug=passive_from_hwinit (restart). */
        (void)StorPortEnablePassiveInitialization(ext, corpus_passive_init);
        return TRUE;
    }
    e->initialized = TRUE;
    if (e->physical)
        (void)StorPortEnablePassiveInitialization(ext, corpus_passive_init);
    if (corpus_state.lock_in == RR_TIMER)
        StorPortNotification(RequestTimerCall, ext, corpus_timer, 1000);
    if (bug("timer_null"))
        StorPortNotification(RequestTimerCall, ext, (PHW_TIMER)NULL, 1000);
    return TRUE;
}

static SCSI_ADAPTER_CONTROL_STATUS corpus_adapter_control(PVOID ext, SCSI_ADAPTER_CONTROL_TYPE type, PVOID p)
{
    if (type == ScsiQuerySupportedControlTypes) {
        PSCSI_SUPPORTED_CONTROL_TYPE_LIST l = p;
        if (l->MaxControlType > ScsiQuerySupportedControlTypes)
            l->SupportedTypeList[ScsiQuerySupportedControlTypes] = TRUE;
        if (l->MaxControlType > ScsiStopAdapter)
            l->SupportedTypeList[ScsiStopAdapter] = TRUE;
        if (l->MaxControlType > ScsiRestartAdapter)
            l->SupportedTypeList[ScsiRestartAdapter] = TRUE;
    } else if (type == ScsiStopAdapter) {
        count_call(RR_ADAPTER_CONTROL);
        maybe_lock(ext, RR_ADAPTER_CONTROL);
    } else if (type == ScsiRestartAdapter && bug("passive_from_hwinit")) {
        (void)corpus_initialize(ext);
    }
    return ScsiAdapterControlSuccess;
}

static ULONG common_find(PVOID ext, PCHAR args, PPORT_CONFIGURATION_INFORMATION c)
{
    count_call(RR_FIND_ADAPTER);
    maybe_lock(ext, RR_FIND_ADAPTER);
    if (!bug("findadapter_no_mtl"))
        c->MaximumTransferLength = 1024 * 1024;
    c->NumberOfPhysicalBreaks = 257;
    c->NumberOfBuses = 1;
    c->MaximumNumberOfTargets = 1;
    c->MaximumNumberOfLogicalUnits = 1;
    c->SrbType = SRB_TYPE_STORAGE_REQUEST_BLOCK;
    c->AddressType = STORAGE_ADDRESS_TYPE_BTL8;
    (void)args;
    if (bug("wdm_atdpc_at_passive")) {
        CORPUS_EXT *e = ext;
        KeAcquireSpinLockAtDpcLevel(&e->klock);
        KeReleaseSpinLockFromDpcLevel(&e->klock);
    }
    if (bug("perfopts_null"))
        (void)StorPortInitializePerfOpts(ext, FALSE, NULL);
    if (bug("validate_range")) {
        STOR_PHYSICAL_ADDRESS a;
        a.QuadPart = 0xfe000000;
        (void)StorPortValidateRange(ext, Internal, 0, a, 4096, FALSE);
    }
    return bug("findadapter_return") ? 7 : SP_RETURN_FOUND;
}

static ULONG corpus_find_phys(PVOID ext, PVOID ctx, PVOID bus, PCHAR args, PPORT_CONFIGURATION_INFORMATION c,
                              PBOOLEAN again)
{
    (void)ctx;
    (void)bus;
    (void)again;
    parse_args(args);
    CORPUS_EXT *e = ext;
    e->physical = TRUE;
    char sync[32] = "full";
    (void)arg_get(args, "sync", sync, sizeof(sync));
    c->SynchronizationModel = strcmp(sync, "half") == 0 ? StorSynchronizeHalfDuplex : StorSynchronizeFullDuplex;
    e->startio_locked_by_port = strcmp(sync, "full") == 0;
    if (strcmp(sync, "concurrent") == 0) {
        PERF_CONFIGURATION_DATA perf;
        memset(&perf, 0, sizeof(perf));
        perf.Version = STOR_PERF_VERSION;
        perf.Size = sizeof(perf);
        perf.Flags = STOR_PERF_CONCURRENT_CHANNELS;
        perf.ConcurrentChannels = 4;
        StorPortInitializePerfOpts(ext, FALSE, &perf);
    }
    if (bug("virtual_device"))
        c->VirtualDevice = TRUE;
    return common_find(ext, args, c);
}

static ULONG corpus_find_virt(PVOID ext, PVOID ctx, PVOID bus, PVOID lower, PCHAR args,
                              PPORT_CONFIGURATION_INFORMATION c, PBOOLEAN again)
{
    (void)ctx;
    (void)bus;
    (void)lower;
    (void)again;
    parse_args(args);
    KeInitializeSpinLock(&((CORPUS_EXT *)ext)->klock);
    if (!bug("virtual_device"))
        c->VirtualDevice = TRUE;
    return common_find(ext, args, c);
}

ULONG corpus_phys_DriverEntry(PVOID DriverObject, PVOID RegistryPath)
{
    HW_INITIALIZATION_DATA hw;
    memset(&hw, 0, sizeof(hw));
    hw.HwInitializationDataSize = sizeof(hw);
    hw.AdapterInterfaceType = Internal;
    hw.HwInitialize = corpus_initialize;
    hw.HwStartIo = corpus_startio;
    hw.HwBuildIo = corpus_buildio;
    hw.HwInterrupt = corpus_interrupt;
    hw.HwFindAdapter = (PVOID)corpus_find_phys;
    hw.HwResetBus = corpus_reset_bus;
    hw.HwAdapterControl = corpus_adapter_control;
    hw.DeviceExtensionSize = sizeof(CORPUS_EXT);
    hw.SrbExtensionSize = 64;
    hw.SrbTypeFlags = SRB_TYPE_FLAG_STORAGE_REQUEST_BLOCK;
    hw.TaggedQueuing = TRUE;
    hw.MultipleRequestPerLu = TRUE;
    return StorPortInitialize(DriverObject, RegistryPath, &hw, NULL);
}

ULONG corpus_virt_DriverEntry(PVOID DriverObject, PVOID RegistryPath)
{
    VIRTUAL_HW_INITIALIZATION_DATA hw;
    memset(&hw, 0, sizeof(hw));
    hw.HwInitializationDataSize = sizeof(hw);
    hw.AdapterInterfaceType = Internal;
    hw.HwInitialize = corpus_initialize;
    hw.HwStartIo = corpus_startio;
    hw.HwBuildIo = corpus_buildio;
    hw.HwFindAdapter = corpus_find_virt;
    hw.HwResetBus = corpus_reset_bus;
    hw.HwAdapterControl = corpus_adapter_control;
    hw.DeviceExtensionSize = sizeof(CORPUS_EXT);
    hw.SrbExtensionSize = 64;
    hw.TaggedQueuing = TRUE;
    hw.MultipleRequestPerLu = TRUE;
    return StorPortInitialize(DriverObject, RegistryPath, (PHW_INITIALIZATION_DATA)&hw, NULL);
}
