/*
 * notify.c - StorPortNotification and the routines it stands for on
 * Windows: RequestComplete (request.c), DPCs, the HwStorTimer timer,
 * passive initialization, perf options, flow control (busy / ready /
 * pause / resume, per adapter and per LUN), state changes, and the
 * port-only StorPortCompleteRequest.
 */
#include "port/port.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static struct ustor_adapter *adapter_or_report(PVOID devext, const char *api)
{
    struct ustor_adapter *ad = port_adapter_from_devext(devext);
    if (!ad)
        port_report(NULL, "BadArgument", NULL,
                    "%s: HwDeviceExtension %p is not the device extension of any adapter", api, devext);
    return ad;
}

/* A flow-control call made from inside a miniport routine must not start
 * requests there (StartIo would nest under the caller's locks): the kick
 * goes to this CPU's completion DPC instead. */
static void kick_later_or_now(struct ustor_adapter *ad)
{
    struct port_thread *pt = port_thread();
    if (pt->top || pt->nheld || pt->hold_drain) {
        __atomic_store_n(&ad->kick_pending, 1, __ATOMIC_RELEASE);
        port_completion_dpc_queue(ad);
    } else {
        port_kick_all(ad);
    }
}

/* ---- DPCs -------------------------------------------------------------- */

static void dpc_trampoline(PKDPC kdpc, PVOID ctx, PVOID a1, PVOID a2)
{
    (void)kdpc;
    struct port_dpc *d = ctx;
    struct ustor_adapter *ad = d->ad;
    struct port_frame f;
    port_frame_enter(&f, ad, RR_DPC, rules_cell(RR_DPC, port_mode(ad)), NULL, true);
    d->routine(d->stor_dpc, ad->devext, a1, a2);
    port_frame_leave(&f, true);
}

STORPORT_API VOID StorPortInitializeDpc(PVOID DeviceExtension, PSTOR_DPC Dpc, PHW_DPC_ROUTINE HwDpcRoutine)
{
    struct ustor_adapter *ad = adapter_or_report(DeviceExtension, "StorPortInitializeDpc");
    if (!ad)
        return;
    if (!Dpc || !HwDpcRoutine) {
        port_report(ad, "BadArgument", NULL, "StorPortInitializeDpc: %s is NULL", !Dpc ? "Dpc" : "HwDpcRoutine");
        return;
    }
    LONG n = __atomic_load_n(&ad->nr_dpcs, __ATOMIC_ACQUIRE);
    struct port_dpc *d = NULL;
    for (LONG i = 0; i < n; i++)
        if (ad->dpcs[i].stor_dpc == Dpc)
            d = &ad->dpcs[i];
    if (!d) {
        LONG slot = __atomic_fetch_add(&ad->nr_dpcs_reserved, 1, __ATOMIC_ACQ_REL);
        if (slot >= PORT_MAX_DPCS) {
            port_report(ad, "BadArgument", NULL, "StorPortInitializeDpc: more than %d DPCs per adapter",
                        PORT_MAX_DPCS);
            return;
        }
        d = &ad->dpcs[slot];
        d->ad = ad;
        d->stor_dpc = Dpc;
        d->routine = HwDpcRoutine;
        /* Publish in order: find_dpc() reads entries below nr_dpcs. */
        while (__atomic_load_n(&ad->nr_dpcs, __ATOMIC_ACQUIRE) != slot)
            ;
        __atomic_store_n(&ad->nr_dpcs, slot + 1, __ATOMIC_RELEASE);
    } else {
        d->routine = HwDpcRoutine;
    }
    KeInitializeDpc(&Dpc->Dpc, dpc_trampoline, d);
    Dpc->Lock = 0; /* what KeInitializeSpinLock does, without a kernel call the verifier would blame on the miniport */
}

STORPORT_API BOOLEAN StorPortIssueDpc(PVOID DeviceExtension, PSTOR_DPC Dpc, PVOID SystemArgument1,
                                      PVOID SystemArgument2)
{
    struct ustor_adapter *ad = adapter_or_report(DeviceExtension, "StorPortIssueDpc");
    if (!ad || !Dpc)
        return FALSE;
    if (Dpc->Dpc.DeferredRoutine != dpc_trampoline) {
        port_report(ad, "BadArgument", NULL,
                    "StorPortIssueDpc(%p): the DPC was not initialized with StorPortInitializeDpc", (void *)Dpc);
        return FALSE;
    }
    return KeInsertQueueDpc(&Dpc->Dpc, SystemArgument1, SystemArgument2);
}

/* ---- HwStorTimer ------------------------------------------------------- */

static void hw_timer_dpc(PKDPC kdpc, PVOID ctx, PVOID a1, PVOID a2)
{
    (void)kdpc;
    (void)a1;
    (void)a2;
    struct ustor_adapter *ad = ctx;
    PHW_TIMER routine = __atomic_load_n(&ad->hw_timer_routine, __ATOMIC_ACQUIRE);
    if (!routine || __atomic_load_n(&ad->state, __ATOMIC_ACQUIRE) == AD_STOPPING)
        return;
    struct port_frame f;
    port_frame_enter(&f, ad, RR_TIMER, rules_cell(RR_TIMER, port_mode(ad)), NULL, true);
    routine(ad->devext);
    port_frame_leave(&f, true);
}

static void request_timer(struct ustor_adapter *ad, PHW_TIMER routine, ULONG us)
{
    if (!routine && us != 0) {
        port_report(ad, "StorPortTimer", NULL,
                    "RequestTimerCall with a NULL HwStorTimer routine; a miniport that requests a "
                    "timer must supply the routine");
        return;
    }
    if (!ad->hw_timer_ready) {
        KeInitializeTimerEx(&ad->hw_timer, NotificationTimer);
        KeInitializeDpc(&ad->hw_timer_dpc, hw_timer_dpc, ad);
        ad->hw_timer_ready = true;
    }
    if (us == 0) {
        /* RequestTimerCall is legal at any IRQL (miniports cancel from
         * ScsiStopAdapter at DIRQL); KeCancelTimer is not, so above
         * DISPATCH_LEVEL the expiry is disarmed instead: the DPC finds no
         * routine and does nothing. */
        __atomic_store_n(&ad->hw_timer_routine, NULL, __ATOMIC_RELEASE);
        if (ukern_irql_get() <= DISPATCH_LEVEL)
            KeCancelTimer(&ad->hw_timer);
        return;
    }
    __atomic_store_n(&ad->hw_timer_routine, routine, __ATOMIC_RELEASE);
    ukern_timer_set_ns(&ad->hw_timer, (uint64_t)us * 1000ull, 0, &ad->hw_timer_dpc);
}

/* ---- passive initialization and perf options --------------------------- */

static bool frame_chain_has(enum rules_routine r)
{
    for (struct port_frame *f = port_thread()->top; f; f = f->prev)
        if (f->routine == r)
            return true;
    return false;
}

STORPORT_API BOOLEAN StorPortEnablePassiveInitialization(PVOID DeviceExtension,
                                                         PHW_PASSIVE_INITIALIZE_ROUTINE HwPassiveInitializeRoutine)
{
    struct ustor_adapter *ad = adapter_or_report(DeviceExtension, "StorPortEnablePassiveInitialization");
    if (!ad)
        return FALSE;
    struct port_frame *top = port_thread()->top;
    if (top && top->routine == RR_ADAPTER_CONTROL &&
        __atomic_load_n(&ad->state, __ATOMIC_ACQUIRE) == AD_HOLDING) {
        /* HwStorAdapterControl(ScsiRestartAdapter) running its own
         * HwStorInitialize: no port frame marks that call, so the restart
         * in progress is what tells it from a plain misplaced call. */
        port_report(ad, "StorPortPassiveFromHwInit", NULL,
                    "StorPortEnablePassiveInitialization during a stop/restart, from HwStorAdapterControl "
                    "(a HwStorInitialize it calls directly): passive initialization happens once, at start");
        return FALSE;
    }
    if (!top || top->routine != RR_INITIALIZE) {
        port_report(ad, "StorPortEnablePassive", NULL,
                    "StorPortEnablePassiveInitialization called from %s; it may be called only from "
                    "HwStorInitialize", top ? rules_routines[top->routine].name : "outside any miniport routine");
        return FALSE;
    }
    if (frame_chain_has(RR_ADAPTER_CONTROL) || ad->in_restart) {
        port_report(ad, "StorPortPassiveFromHwInit", NULL,
                    "HwStorInitialize enabled passive initialization while running for a restart "
                    "(called from HwStorAdapterControl)");
        return FALSE;
    }
    if (!HwPassiveInitializeRoutine) {
        port_report(ad, "BadArgument", NULL, "StorPortEnablePassiveInitialization: routine is NULL");
        return FALSE;
    }
    ad->passive_init = HwPassiveInitializeRoutine;
    return TRUE;
}

STORPORT_API ULONG StorPortInitializePerfOpts(PVOID HwDeviceExtension, BOOLEAN Query,
                                              PPERF_CONFIGURATION_DATA PerfConfigData)
{
    struct ustor_adapter *ad = adapter_or_report(HwDeviceExtension, "StorPortInitializePerfOpts");
    if (!ad)
        return STOR_STATUS_INVALID_PARAMETER;
    if (!PerfConfigData) {
        port_report(ad, "StorPortPerfOpts", NULL, "StorPortInitializePerfOpts with PerfConfigData NULL");
        return STOR_STATUS_INVALID_PARAMETER;
    }
    if (PerfConfigData->Size < offsetof(PERF_CONFIGURATION_DATA, ConcurrentChannels) + sizeof(ULONG)) {
        port_report(ad, "BadArgument", NULL,
                    "StorPortInitializePerfOpts: PerfConfigData->Size %u is too small (expected "
                    "sizeof(PERF_CONFIGURATION_DATA) = %zu)", PerfConfigData->Size, sizeof(PERF_CONFIGURATION_DATA));
        return STOR_STATUS_INVALID_PARAMETER;
    }
    if (Query) {
        PerfConfigData->Flags = STOR_PERF_CONCURRENT_CHANNELS | STOR_PERF_DPC_REDIRECTION;
        PerfConfigData->ConcurrentChannels = ukern_cpu_count();
        return STOR_STATUS_SUCCESS;
    }
    if (__atomic_load_n(&ad->state, __ATOMIC_ACQUIRE) != AD_INITIALIZING) {
        port_report(ad, "BadArgument", NULL,
                    "StorPortInitializePerfOpts after initialization; call it from HwStorFindAdapter "
                    "or HwStorInitialize");
        return STOR_STATUS_INVALID_DEVICE_STATE;
    }
    if (PerfConfigData->Flags & ~(ULONG)(STOR_PERF_CONCURRENT_CHANNELS | STOR_PERF_DPC_REDIRECTION |
                                         STOR_PERF_DPC_REDIRECTION_CURRENT_CPU |
                                         STOR_PERF_OPTIMIZE_FOR_COMPLETION_DURING_STARTIO))
        return STOR_STATUS_INVALID_PARAMETER;
    memcpy(&ad->perf, PerfConfigData,
           PerfConfigData->Size < sizeof(ad->perf) ? PerfConfigData->Size : sizeof(ad->perf));
    ad->perf_set = true;
    return STOR_STATUS_SUCCESS;
}

/* ---- flow control ------------------------------------------------------ */

STORPORT_API BOOLEAN StorPortBusy(PVOID HwDeviceExtension, ULONG RequestsToComplete)
{
    struct ustor_adapter *ad = adapter_or_report(HwDeviceExtension, "StorPortBusy");
    if (!ad)
        return FALSE;
    /* Busy until that many requests complete; never more than are out,
     * or the adapter would stay busy forever. */
    LONG64 out = port_outstanding(ad);
    LONG n = (LONG)(RequestsToComplete < (ULONG)out ? RequestsToComplete : (ULONG)out);
    __atomic_store_n(&ad->busy_until_completions, n, __ATOMIC_RELEASE);
    return TRUE;
}

STORPORT_API BOOLEAN StorPortReady(PVOID HwDeviceExtension)
{
    struct ustor_adapter *ad = adapter_or_report(HwDeviceExtension, "StorPortReady");
    if (!ad)
        return FALSE;
    __atomic_store_n(&ad->busy_until_completions, 0, __ATOMIC_RELEASE);
    kick_later_or_now(ad);
    return TRUE;
}

STORPORT_API BOOLEAN StorPortPause(PVOID HwDeviceExtension, ULONG Timeout)
{
    struct ustor_adapter *ad = adapter_or_report(HwDeviceExtension, "StorPortPause");
    if (!ad)
        return FALSE;
    __atomic_store_n(&ad->pause_until_ns, ukern_now_ns() + (uint64_t)Timeout * 1000000000ull, __ATOMIC_RELAXED);
    __atomic_store_n(&ad->paused, 1, __ATOMIC_RELEASE);
    return TRUE;
}

STORPORT_API BOOLEAN StorPortResume(PVOID HwDeviceExtension)
{
    struct ustor_adapter *ad = adapter_or_report(HwDeviceExtension, "StorPortResume");
    if (!ad)
        return FALSE;
    __atomic_store_n(&ad->paused, 0, __ATOMIC_RELEASE);
    kick_later_or_now(ad);
    return TRUE;
}

static struct port_lun *lun_or_report(struct ustor_adapter *ad, const char *api, UCHAR p, UCHAR t, UCHAR l)
{
    struct port_lun *lun = port_lun_get(ad, p, t, l, true);
    if (!lun)
        port_report(ad, "BadArgument", NULL, "%s(%u/%u/%u): no such logical unit (%u bus(es), %u target(s), %u LUN(s))",
                    api, p, t, l, ad->nr_paths, ad->nr_targets, ad->nr_luns);
    return lun;
}

STORPORT_API BOOLEAN StorPortDeviceBusy(PVOID HwDeviceExtension, UCHAR PathId, UCHAR TargetId, UCHAR Lun,
                                        ULONG RequestsToComplete)
{
    struct ustor_adapter *ad = adapter_or_report(HwDeviceExtension, "StorPortDeviceBusy");
    struct port_lun *l = ad ? lun_or_report(ad, "StorPortDeviceBusy", PathId, TargetId, Lun) : NULL;
    if (!l)
        return FALSE;
    ukern_spin_acquire_raw(&l->lock);
    uint32_t out = __atomic_load_n(&l->outstanding, __ATOMIC_SEQ_CST);
    __atomic_store_n(&l->busy_until_completions, RequestsToComplete < out ? RequestsToComplete : out, __ATOMIC_SEQ_CST);
    ukern_spin_release_raw(&l->lock);
    return TRUE;
}

STORPORT_API BOOLEAN StorPortDeviceReady(PVOID HwDeviceExtension, UCHAR PathId, UCHAR TargetId, UCHAR Lun)
{
    struct ustor_adapter *ad = adapter_or_report(HwDeviceExtension, "StorPortDeviceReady");
    struct port_lun *l = ad ? lun_or_report(ad, "StorPortDeviceReady", PathId, TargetId, Lun) : NULL;
    if (!l)
        return FALSE;
    ukern_spin_acquire_raw(&l->lock);
    __atomic_store_n(&l->busy_until_completions, 0, __ATOMIC_SEQ_CST);
    ukern_spin_release_raw(&l->lock);
    kick_later_or_now(ad);
    return TRUE;
}

STORPORT_API BOOLEAN StorPortPauseDevice(PVOID HwDeviceExtension, UCHAR PathId, UCHAR TargetId, UCHAR Lun,
                                         ULONG Timeout)
{
    struct ustor_adapter *ad = adapter_or_report(HwDeviceExtension, "StorPortPauseDevice");
    struct port_lun *l = ad ? lun_or_report(ad, "StorPortPauseDevice", PathId, TargetId, Lun) : NULL;
    if (!l)
        return FALSE;
    ukern_spin_acquire_raw(&l->lock);
    l->pause_until_ns = ukern_now_ns() + (uint64_t)Timeout * 1000000000ull;
    __atomic_store_n(&l->paused, true, __ATOMIC_SEQ_CST);
    ukern_spin_release_raw(&l->lock);
    return TRUE;
}

STORPORT_API BOOLEAN StorPortResumeDevice(PVOID HwDeviceExtension, UCHAR PathId, UCHAR TargetId, UCHAR Lun)
{
    struct ustor_adapter *ad = adapter_or_report(HwDeviceExtension, "StorPortResumeDevice");
    struct port_lun *l = ad ? lun_or_report(ad, "StorPortResumeDevice", PathId, TargetId, Lun) : NULL;
    if (!l)
        return FALSE;
    ukern_spin_acquire_raw(&l->lock);
    __atomic_store_n(&l->paused, false, __ATOMIC_SEQ_CST);
    ukern_spin_release_raw(&l->lock);
    kick_later_or_now(ad);
    return TRUE;
}

STORPORT_API BOOLEAN StorPortSetDeviceQueueDepth(PVOID HwDeviceExtension, UCHAR PathId, UCHAR TargetId,
                                                 UCHAR Lun, ULONG Depth)
{
    struct ustor_adapter *ad = adapter_or_report(HwDeviceExtension, "StorPortSetDeviceQueueDepth");
    struct port_lun *l = ad ? lun_or_report(ad, "StorPortSetDeviceQueueDepth", PathId, TargetId, Lun) : NULL;
    if (!l)
        return FALSE;
    if (Depth == 0 || Depth > PORT_MAX_LUN_DEPTH) {
        port_report(ad, "BadArgument", NULL, "StorPortSetDeviceQueueDepth(%u): the depth must be 1..%d",
                    Depth, PORT_MAX_LUN_DEPTH);
        return FALSE;
    }
    ukern_spin_acquire_raw(&l->lock);
    __atomic_store_n(&l->depth, Depth, __ATOMIC_SEQ_CST);
    ukern_spin_release_raw(&l->lock);
    kick_later_or_now(ad);
    return TRUE;
}

STORPORT_API PVOID StorPortGetLogicalUnit(PVOID HwDeviceExtension, UCHAR PathId, UCHAR TargetId, UCHAR Lun)
{
    struct ustor_adapter *ad = adapter_or_report(HwDeviceExtension, "StorPortGetLogicalUnit");
    struct port_lun *l = ad ? port_lun_get(ad, PathId, TargetId, Lun, false) : NULL;
    return l ? l->lu_extension : NULL;
}

/* ---- StorPortCompleteRequest (port-only, a warning) --------------------- */

STORPORT_API VOID StorPortCompleteRequest(PVOID HwDeviceExtension, UCHAR PathId, UCHAR TargetId, UCHAR Lun,
                                          UCHAR SrbStatus)
{
    struct ustor_adapter *ad = adapter_or_report(HwDeviceExtension, "StorPortCompleteRequest");
    if (!ad)
        return;
    port_report(ad, "StorPortCompleteRequest", NULL,
                "StorPortCompleteRequest(%u/%u/%u, status 0x%02x): Microsoft advises completing SRBs one "
                "at a time with StorPortNotification(RequestComplete) (also SDV StorPortDDIsPortOnly)",
                PathId, TargetId, Lun, SrbStatus);
    for (uint32_t i = 0; i < ad->nr_reqs; i++) {
        struct port_request *r = &ad->reqs[i];
        if (__atomic_load_n(&r->state, __ATOMIC_ACQUIRE) != REQ_OUTSTANDING)
            continue;
        struct port_lun *l = r->lun;
        if ((PathId != SP_UNTAGGED && l->path != PathId) || (TargetId != SP_UNTAGGED && l->target != TargetId) ||
            (Lun != SP_UNTAGGED && l->lun != Lun))
            continue;
        void *srb = r->srb;
        if (!srb)
            continue;
        SrbSetSrbStatus(srb, SrbStatus);
        port_request_complete(ad, srb);
    }
}

/* ---- state change ------------------------------------------------------ */

static void state_change_dpc(PKDPC kdpc, PVOID ctx, PVOID a1, PVOID a2)
{
    (void)kdpc;
    (void)a1;
    (void)a2;
    struct state_change *sc = ctx;
    struct ustor_adapter *ad = sc->ad;
    struct port_frame f;
    port_frame_enter(&f, ad, RR_STATE_CHANGE, rules_cell(RR_STATE_CHANGE, port_mode(ad)), NULL, true);
    sc->routine(ad->devext, sc->context, sc->address_type, &sc->address, STOR_STATUS_SUCCESS);
    port_frame_leave(&f, true);
    __atomic_store_n(&ad->state_change_busy, 0, __ATOMIC_RELEASE);
}

STORPORT_API ULONG StorPortStateChangeDetected(PVOID HwDeviceExtension, ULONG ChangedEntity,
                                               PSTOR_ADDRESS Address, ULONG Attributes,
                                               PHW_STATE_CHANGE HwStateChange, PVOID HwStateChangeContext)
{
    (void)ChangedEntity;
    (void)Attributes;
    struct ustor_adapter *ad = adapter_or_report(HwDeviceExtension, "StorPortStateChangeDetected");
    if (!ad)
        return STOR_STATUS_INVALID_PARAMETER;
    if (!HwStateChange)
        return STOR_STATUS_SUCCESS; /* no callback asked for */
    int expected = 0;
    if (!__atomic_compare_exchange_n(&ad->state_change_busy, &expected, 1, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return STOR_STATUS_BUSY;
    struct state_change *sc = &ad->state_change;
    sc->ad = ad;
    sc->routine = HwStateChange;
    sc->context = HwStateChangeContext;
    sc->address_type = Address ? (SHORT)Address->Type : 0;
    memset(&sc->address, 0, sizeof(sc->address));
    if (Address && Address->Type == STOR_ADDRESS_TYPE_BTL8)
        memcpy(&sc->address, Address, sizeof(sc->address));
    KeInitializeDpc(&sc->dpc, state_change_dpc, sc);
    KeInsertQueueDpc(&sc->dpc, NULL, NULL);
    return STOR_STATUS_SUCCESS;
}

/* ---- StorPortNotification --------------------------------------------- */

STORPORT_API VOID StorPortNotification(SCSI_NOTIFICATION_TYPE NotificationType, PVOID HwDeviceExtension, ...)
{
    struct ustor_adapter *ad = adapter_or_report(HwDeviceExtension, "StorPortNotification");
    if (!ad)
        return;
    va_list ap;
    va_start(ap, HwDeviceExtension);
    switch (NotificationType) {
    case RequestComplete:
        port_request_complete(ad, va_arg(ap, PVOID));
        break;
    case NextRequest:
    case NextLuRequest:
        /* Storport does not need these; accepted and ignored. */
        break;
    case ResetDetected:
        __atomic_fetch_add(&ad->n_resets_detected, 1, __ATOMIC_RELAXED);
        break;
    case RequestTimerCall: {
        PHW_TIMER routine = va_arg(ap, PHW_TIMER);
        ULONG us = va_arg(ap, ULONG);
        request_timer(ad, routine, us);
        break;
    }
    case BusChangeDetected:
    case WMIEvent:
    case WMIReregister:
    case LinkUp:
    case LinkDown:
    case BufferOverrunDetected:
    case TraceNotification:
        break;
    case QueryTickCount: {
        PLARGE_INTEGER t = va_arg(ap, PLARGE_INTEGER);
        if (t)
            t->QuadPart = (LONGLONG)(ukern_now_ns() / 15625000ull); /* 15.625 ms ticks */
        break;
    }
    case GetExtendedFunctionTable: {
        PVOID *table = va_arg(ap, PVOID *);
        if (table)
            *table = NULL; /* no extended function table: the routines are exported */
        break;
    }
    case EnablePassiveInitialization: {
        PHW_PASSIVE_INITIALIZE_ROUTINE r = va_arg(ap, PHW_PASSIVE_INITIALIZE_ROUTINE);
        StorPortEnablePassiveInitialization(HwDeviceExtension, r);
        break;
    }
    case InitializeDpc: {
        PSTOR_DPC dpc = va_arg(ap, PSTOR_DPC);
        PHW_DPC_ROUTINE r = va_arg(ap, PHW_DPC_ROUTINE);
        StorPortInitializeDpc(HwDeviceExtension, dpc, r);
        break;
    }
    case IssueDpc: {
        PSTOR_DPC dpc = va_arg(ap, PSTOR_DPC);
        PVOID a1 = va_arg(ap, PVOID);
        PVOID a2 = va_arg(ap, PVOID);
        PBOOLEAN result = va_arg(ap, PBOOLEAN);
        BOOLEAN r = StorPortIssueDpc(HwDeviceExtension, dpc, a1, a2);
        if (result)
            *result = r;
        break;
    }
    case AcquireSpinLock: {
        STOR_SPINLOCK l = (STOR_SPINLOCK)va_arg(ap, int);
        PVOID ctx = va_arg(ap, PVOID);
        PSTOR_LOCK_HANDLE h = va_arg(ap, PSTOR_LOCK_HANDLE);
        StorPortAcquireSpinLock(HwDeviceExtension, l, ctx, h);
        break;
    }
    case ReleaseSpinLock:
        StorPortReleaseSpinLock(HwDeviceExtension, va_arg(ap, PSTOR_LOCK_HANDLE));
        break;
    default:
        port_report(ad, "StorPortNotification2", NULL,
                    "StorPortNotification with undocumented NotificationType %d (0x%x)",
                    (int)NotificationType, (unsigned)NotificationType);
        break;
    }
    va_end(ap);
}
