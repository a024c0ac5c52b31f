/*
 * probe.c - the observing test miniport (see probe.h).  Built twice into
 * the test library: probe_phys_DriverEntry registers a physical miniport
 * (sync=half|full|concurrent), probe_virt_DriverEntry a virtual one.
 */
#include "probe.h"

#include <srbhelper.h>
#include <stdlib.h>
#include <string.h>

#include "port/port.h" /* port_held_set(): what the port holds on entry */

struct probe_state probe_state;

#define QMAX 2048

typedef struct {
    STOR_DPC dpc;
    BOOLEAN physical;
    BOOLEAN half;
    BOOLEAN dpc_ready;
    BOOLEAN state_change_done;
    BOOLEAN startio_unlocked;   /* StartIo runs without the StartIo lock (concurrent, virtual) */
    /* complete=isr: "device" queue filled by StartIo, drained by the ISR;
     * both sides under the interrupt lock (S3.4) */
    PVOID devq[QMAX];
    ULONG devq_n;
    /* done by the ISR, completed by the DPC; under the interrupt lock */
    PVOID isrdone[QMAX];
    ULONG isrdone_n;
    /* complete=dpc: filled by StartIo, drained by the DPC; under the DPC lock */
    PVOID dpcq[QMAX];
    ULONG dpcq_n;
    volatile LONG srb_counter;
} PROBE_EXT;

void probe_reset(void)
{
    memset(&probe_state, 0, sizeof(probe_state));
}

/* The IRQL as the port sees it.  Not KeGetCurrentIrql(): a physical
 * miniport may not call Ke* routines (HwStorPortProhibitedDDIs), and the
 * probe observes without breaking rules. */
static KIRQL current_irql(void)
{
    struct uv_where w;
    char locks[64];
    port_where(&w, NULL, NULL, locks, sizeof(locks));
    return w.irql;
}

static void record(struct probe_obs *o)
{
    KIRQL irql = current_irql();
    rules_lockset held = port_held_set();
    if (__atomic_fetch_add(&o->calls, 1, __ATOMIC_ACQ_REL) == 0) {
        o->irql_first = irql;
        o->held_first = held;
        __atomic_store_n(&o->ready, 1, __ATOMIC_RELEASE);
        return;
    }
    /* Wait for the first observation to be published (it is being written
     * by the thread that saw calls == 0). */
    while (!__atomic_load_n(&o->ready, __ATOMIC_ACQUIRE))
        ;
    if (irql != o->irql_first)
        __atomic_fetch_add(&o->irql_mismatch, 1, __ATOMIC_RELAXED);
    if (held != o->held_first)
        __atomic_fetch_add(&o->held_mismatch, 1, __ATOMIC_RELAXED);
}

static void observe(enum rules_routine r)
{
    record(&probe_state.obs[r]);
}

static int arg_int(const char *args, const char *key, int def)
{
    const char *p = args ? strstr(args, key) : NULL;
    return p ? atoi(p + strlen(key)) : def;
}

static BOOLEAN has_arg(const char *args, const char *kv)
{
    return args && strstr(args, kv) != NULL;
}

static void spin_ns(unsigned ns)
{
    uint64_t end = ukern_now_ns() + ns;
    while (ukern_now_ns() < end)
        ;
}

static struct probe_track *track_of(PVOID srb)
{
    int n = __atomic_load_n(&probe_state.track_n, __ATOMIC_ACQUIRE);
    for (int i = 0; i < n && i < PROBE_MAX_TRACK; i++)
        if (__atomic_load_n(&probe_state.track[i].srb, __ATOMIC_ACQUIRE) == srb)
            return &probe_state.track[i];
    int slot = __atomic_fetch_add(&probe_state.track_n, 1, __ATOMIC_ACQ_REL);
    if (slot >= PROBE_MAX_TRACK)
        return NULL;
    __atomic_store_n(&probe_state.track[slot].srb, srb, __ATOMIC_RELEASE);
    return &probe_state.track[slot];
}

static void complete(PVOID ext, PVOID srb, UCHAR status)
{
    /* A BUSY SRB comes back through StartIo, which counts it again. */
    __atomic_sub_fetch(&probe_state.outstanding, 1, __ATOMIC_ACQ_REL);
    SrbSetSrbStatus(srb, status);
    SrbSetScsiStatus(srb, SCSISTAT_GOOD);
    StorPortNotification(RequestComplete, ext, srb);
}

/* ---- routines ---------------------------------------------------------- */

static BOOLEAN sync_cb(PVOID ext, PVOID ctx)
{
    (void)ext;
    observe(RR_SYNCHRONIZED_ACCESS);
    __atomic_store_n(&probe_state.in_sync, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&probe_state.in_isr, __ATOMIC_SEQ_CST))
        __atomic_fetch_add(&probe_state.overlap_sync_isr, 1, __ATOMIC_RELAXED);
    spin_ns(200);
    if (__atomic_load_n(&probe_state.in_isr, __ATOMIC_SEQ_CST))
        __atomic_fetch_add(&probe_state.overlap_sync_isr, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&probe_state.in_sync, 0, __ATOMIC_SEQ_CST);
    return (BOOLEAN)(uintptr_t)ctx;
}

struct push_ctx {
    PROBE_EXT *e;
    PVOID srb;
};

static BOOLEAN push_devq(PVOID ext, PVOID ctx)
{
    (void)ext;
    struct push_ctx *p = ctx;
    if (p->e->devq_n >= QMAX)
        return FALSE;
    p->e->devq[p->e->devq_n++] = p->srb;
    return TRUE;
}

static VOID probe_state_change(PVOID ext, PVOID ctx, SHORT type, PVOID addr, ULONG status);

static void probe_dpc(PSTOR_DPC dpc, PVOID ext, PVOID a1, PVOID a2)
{
    (void)dpc;
    (void)a1;
    (void)a2;
    PROBE_EXT *e = ext;
    observe(RR_DPC);
    if (__atomic_exchange_n(&probe_state.paused, 0, __ATOMIC_ACQ_REL))
        StorPortResume(ext);
    if (!__atomic_exchange_n(&e->state_change_done, TRUE, __ATOMIC_ACQ_REL)) {
        STOR_ADDR_BTL8 a;
        memset(&a, 0, sizeof(a));
        a.Type = STOR_ADDRESS_TYPE_BTL8;
        a.AddressLength = STOR_ADDR_BTL8_ADDRESS_LENGTH;
        StorPortStateChangeDetected(ext, STATE_CHANGE_LUN, (PSTOR_ADDRESS)&a, 0, probe_state_change, NULL);
    }
    PVOID local[QMAX];
    ULONG n = 0;
    STOR_LOCK_HANDLE h;
    /* ISR-completed requests: the DPC may take the interrupt lock. */
    if (e->physical) {
        StorPortAcquireSpinLock(ext, InterruptLock, NULL, &h);
        memcpy(local, e->isrdone, e->isrdone_n * sizeof(PVOID));
        n = e->isrdone_n;
        e->isrdone_n = 0;
        StorPortReleaseSpinLock(ext, &h);
    }
    /* dpcq is shared with StartIo: the StartIo lock is the one lock both
     * may hold in every mode (tables A and B). */
    StorPortAcquireSpinLock(ext, StartIoLock, NULL, &h);
    for (ULONG i = 0; i < e->dpcq_n && n < QMAX; i++)
        local[n++] = e->dpcq[i];
    e->dpcq_n = 0;
    StorPortReleaseSpinLock(ext, &h);
    for (ULONG i = 0; i < n; i++)
        complete(ext, local[i], SRB_STATUS_SUCCESS);
}

static VOID probe_state_change(PVOID ext, PVOID ctx, SHORT type, PVOID addr, ULONG status)
{
    (void)ext;
    (void)ctx;
    (void)type;
    (void)addr;
    (void)status;
    observe(RR_STATE_CHANGE);
}

static BOOLEAN probe_interrupt(PVOID ext)
{
    PROBE_EXT *e = ext;
    observe(RR_INTERRUPT);
    __atomic_store_n(&probe_state.in_isr, 1, __ATOMIC_SEQ_CST);
    if (e->half && __atomic_load_n(&probe_state.in_startio, __ATOMIC_SEQ_CST))
        __atomic_fetch_add(&probe_state.overlap_startio_isr, 1, __ATOMIC_RELAXED);
    if (__atomic_load_n(&probe_state.in_sync, __ATOMIC_SEQ_CST))
        __atomic_fetch_add(&probe_state.overlap_sync_isr, 1, __ATOMIC_RELAXED);
    BOOLEAN claimed = e->devq_n > 0;
    if (probe_state.complete == 3) {
        /* complete=isrdirect: RequestComplete from the ISR itself (legal at
         * DIRQL); the port finishes them from its completion DPC. */
        while (e->devq_n > 0)
            complete(ext, e->devq[--e->devq_n], SRB_STATUS_SUCCESS);
    }
    while (e->devq_n > 0 && e->isrdone_n < QMAX)
        e->isrdone[e->isrdone_n++] = e->devq[--e->devq_n];
    spin_ns(300);
    if (e->half && __atomic_load_n(&probe_state.in_startio, __ATOMIC_SEQ_CST))
        __atomic_fetch_add(&probe_state.overlap_startio_isr, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&probe_state.in_isr, 0, __ATOMIC_SEQ_CST);
    if (claimed && probe_state.complete != 3) /* isrdirect: nothing left for the DPC */
        StorPortIssueDpc(ext, &e->dpc, NULL, NULL);
    return claimed;
}

static BOOLEAN probe_buildio(PVOID ext, PSCSI_REQUEST_BLOCK srb)
{
    (void)ext;
    observe(RR_BUILDIO);
    struct probe_track *t = track_of(srb);
    if (t && t->buildio < 4) {
        t->ext[t->buildio] = SrbGetMiniportContext(srb);
        t->dtl[t->buildio] = SrbGetDataTransferLength(srb);
    }
    if (t)
        t->buildio++;
    /* Leave a mark in the extension: a fresh one must not carry it. */
    PUCHAR x = SrbGetMiniportContext(srb);
    if (x)
        x[0] = 0xA5;
    return TRUE;
}

static BOOLEAN probe_startio(PVOID ext, PSCSI_REQUEST_BLOCK srb)
{
    PROBE_EXT *e = ext;
    observe(RR_STARTIO);
    __atomic_fetch_add(&probe_state.srb_seen, 1, __ATOMIC_RELAXED);
    int now = __atomic_add_fetch(&probe_state.startio_now, 1, __ATOMIC_SEQ_CST);
    int mx = __atomic_load_n(&probe_state.startio_max, __ATOMIC_RELAXED);
    while (now > mx && !__atomic_compare_exchange_n(&probe_state.startio_max, &mx, now, true,
                                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
    __atomic_add_fetch(&probe_state.in_startio, 1, __ATOMIC_SEQ_CST);
    if (e->half && __atomic_load_n(&probe_state.in_isr, __ATOMIC_SEQ_CST))
        __atomic_fetch_add(&probe_state.overlap_startio_isr, 1, __ATOMIC_RELAXED);

    if (probe_state.rendezvous_us) {
        uint64_t end = ukern_now_ns() + (uint64_t)probe_state.rendezvous_us * 1000;
        while (ukern_now_ns() < end) {
            if (__atomic_load_n(&probe_state.startio_now, __ATOMIC_SEQ_CST) >= 2) {
                __atomic_fetch_add(&probe_state.rendezvous_hits, 1, __ATOMIC_RELAXED);
                break;
            }
        }
    }
    struct probe_track *t = track_of(srb);
    if (t)
        t->startio++;
    LONG n = __atomic_add_fetch(&e->srb_counter, 1, __ATOMIC_RELAXED);
    int out = __atomic_add_fetch(&probe_state.outstanding, 1, __ATOMIC_ACQ_REL);
    int omax = __atomic_load_n(&probe_state.outstanding_max, __ATOMIC_RELAXED);
    while (out > omax && !__atomic_compare_exchange_n(&probe_state.outstanding_max, &omax, out, true,
                                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
    if (probe_state.busy_after && out >= probe_state.busy_after)
        StorPortBusy(ext, (ULONG)probe_state.busy_after);
    if (probe_state.pause_at && n == probe_state.pause_at) {
        __atomic_store_n(&probe_state.paused, 1, __ATOMIC_RELEASE);
        StorPortPause(ext, 600);
    }
    PUCHAR x = SrbGetMiniportContext(srb);
    BOOLEAN fresh_ok = !x || t == NULL || t->startio < 2 || x[0] == 0xA5; /* marked by this attempt's BuildIo */
    (void)fresh_ok;

    if (probe_state.sync_access && !e->half) {
        BOOLEAN want = (BOOLEAN)(n & 1);
        if (StorPortSynchronizeAccess(ext, sync_cb, (PVOID)(uintptr_t)want) != want)
            __atomic_fetch_add(&probe_state.sync_mismatch, 1, __ATOMIC_RELAXED);
    }
    if (e->half && __atomic_load_n(&probe_state.in_isr, __ATOMIC_SEQ_CST))
        __atomic_fetch_add(&probe_state.overlap_startio_isr, 1, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&probe_state.in_startio, 1, __ATOMIC_SEQ_CST);
    __atomic_sub_fetch(&probe_state.startio_now, 1, __ATOMIC_SEQ_CST);

    if (probe_state.never_tag && SrbGetQueueTag(srb) == (ULONG)probe_state.never_tag + 1)
        return TRUE; /* held forever: the port's timeout must deal with it */
    if (probe_state.busy_every && t && t->startio == 1 && (n % probe_state.busy_every) == 0) {
        complete(ext, srb, SRB_STATUS_BUSY);
        return TRUE;
    }
    if (SrbGetSrbFunction(srb) != SRB_FUNCTION_EXECUTE_SCSI) {
        complete(ext, srb, SRB_STATUS_SUCCESS);
        return TRUE;
    }
    switch (probe_state.complete) {
    case 1: {
        STOR_LOCK_HANDLE h;
        BOOLEAN queued = FALSE;
        if (e->startio_unlocked)
            StorPortAcquireSpinLock(ext, StartIoLock, NULL, &h);
        if (e->dpcq_n < QMAX) {
            e->dpcq[e->dpcq_n++] = srb;
            queued = TRUE;
        }
        if (e->startio_unlocked)
            StorPortReleaseSpinLock(ext, &h);
        if (queued)
            StorPortIssueDpc(ext, &e->dpc, NULL, NULL);
        else
            complete(ext, srb, SRB_STATUS_SUCCESS);
        break;
    }
    case 2:
    case 3: {
        struct push_ctx p = { e, srb };
        BOOLEAN ok = e->half ? push_devq(ext, &p) : StorPortSynchronizeAccess(ext, push_devq, &p);
        if (!ok)
            complete(ext, srb, SRB_STATUS_SUCCESS);
        break;
    }
    default:
        complete(ext, srb, SRB_STATUS_SUCCESS);
    }
    return TRUE;
}

static BOOLEAN probe_reset_bus(PVOID ext, ULONG path)
{
    (void)ext;
    (void)path;
    observe(RR_RESET_BUS);
    __atomic_fetch_add(&probe_state.resets, 1, __ATOMIC_RELAXED);
    return TRUE;
}

static VOID probe_timer(PVOID ext)
{
    observe(RR_TIMER);
    if (__atomic_add_fetch(&probe_state.timer_calls, 1, __ATOMIC_RELAXED) < 5)
        StorPortNotification(RequestTimerCall, ext, probe_timer, 1000);
}

static BOOLEAN probe_passive_init(PVOID ext)
{
    (void)ext;
    observe(RR_PASSIVE_INITIALIZE);
    return TRUE;
}

static BOOLEAN probe_initialize(PVOID ext)
{
    PROBE_EXT *e = ext;
    observe(RR_INITIALIZE);
    StorPortInitializeDpc(ext, &e->dpc, probe_dpc);
    e->dpc_ready = TRUE;
    if (e->physical)
        StorPortEnablePassiveInitialization(ext, probe_passive_init);
    if (probe_state.use_timer)
        StorPortNotification(RequestTimerCall, ext, probe_timer, 1000);
    if (probe_state.lun_depth)
        StorPortSetDeviceQueueDepth(ext, 0, 0, 0, (ULONG)probe_state.lun_depth);
    return TRUE;
}

static SCSI_ADAPTER_CONTROL_STATUS probe_adapter_control(PVOID ext, SCSI_ADAPTER_CONTROL_TYPE type, PVOID p)
{
    (void)ext;
    if ((unsigned)type < ScsiAdapterControlMax)
        record(&probe_state.ac_obs[type]);
    observe(RR_ADAPTER_CONTROL);
    if (type == ScsiQuerySupportedControlTypes) {
        PSCSI_SUPPORTED_CONTROL_TYPE_LIST l = p;
        if (l->MaxControlType > ScsiQuerySupportedControlTypes)
            l->SupportedTypeList[ScsiQuerySupportedControlTypes] = TRUE;
        if (l->MaxControlType > ScsiStopAdapter)
            l->SupportedTypeList[ScsiStopAdapter] = TRUE;
        if (l->MaxControlType > ScsiRestartAdapter)
            l->SupportedTypeList[ScsiRestartAdapter] = TRUE;
    }
    return ScsiAdapterControlSuccess;
}

static void common_config(PPORT_CONFIGURATION_INFORMATION c, PCHAR args)
{
    c->MaximumTransferLength = 1024 * 1024;
    c->NumberOfPhysicalBreaks = 257;
    c->NumberOfBuses = 1;
    c->MaximumNumberOfTargets = 1;
    c->MaximumNumberOfLogicalUnits = (UCHAR)arg_int(args, "luns=", 1);
    c->SrbType = has_arg(args, "srb=scsi") ? SRB_TYPE_SCSI_REQUEST_BLOCK : SRB_TYPE_STORAGE_REQUEST_BLOCK;
    c->AddressType = STORAGE_ADDRESS_TYPE_BTL8;
    probe_state.complete = has_arg(args, "complete=dpc")          ? 1
                           : has_arg(args, "complete=isrdirect") ? 3
                           : has_arg(args, "complete=isr")       ? 2
                                                                 : 0;
    probe_state.busy_every = arg_int(args, "busy=", 0);
    probe_state.rendezvous_us = arg_int(args, "rendezvous=", 0);
    probe_state.sync_access = has_arg(args, "syncaccess=1");
    probe_state.never_tag = arg_int(args, "never=", 0);
    probe_state.use_timer = has_arg(args, "timer=1");
    probe_state.lun_depth = arg_int(args, "depth=", 0);
    probe_state.busy_after = arg_int(args, "busyafter=", 0);
    probe_state.pause_at = arg_int(args, "pauseat=", 0);
}

static ULONG probe_find_phys(PVOID ext, PVOID ctx, PVOID bus, PCHAR args, PPORT_CONFIGURATION_INFORMATION c,
                             PBOOLEAN again)
{
    (void)ctx;
    (void)bus;
    (void)again;
    PROBE_EXT *e = ext;
    observe(RR_FIND_ADAPTER);
    e->physical = TRUE;
    common_config(c, args);
    if (has_arg(args, "sync=half")) {
        c->SynchronizationModel = StorSynchronizeHalfDuplex;
        e->half = TRUE;
    } else {
        c->SynchronizationModel = StorSynchronizeFullDuplex;
    }
    if (has_arg(args, "sync=concurrent")) {
        PERF_CONFIGURATION_DATA perf;
        memset(&perf, 0, sizeof(perf));
        perf.Version = STOR_PERF_VERSION;
        perf.Size = sizeof(perf);
        perf.Flags = STOR_PERF_CONCURRENT_CHANNELS;
        perf.ConcurrentChannels = 4;
        StorPortInitializePerfOpts(ext, FALSE, &perf);
        e->startio_unlocked = TRUE;
    }
    return SP_RETURN_FOUND;
}

static ULONG probe_find_virt(PVOID ext, PVOID ctx, PVOID bus, PVOID lower, PCHAR args,
                             PPORT_CONFIGURATION_INFORMATION c, PBOOLEAN again)
{
    (void)ctx;
    (void)bus;
    (void)lower;
    (void)again;
    observe(RR_FIND_ADAPTER);
    common_config(c, args);
    c->VirtualDevice = TRUE;
    ((PROBE_EXT *)ext)->startio_unlocked = TRUE;
    return SP_RETURN_FOUND;
}

ULONG probe_phys_DriverEntry(PVOID DriverObject, PVOID RegistryPath)
{
    HW_INITIALIZATION_DATA hw;
    memset(&hw, 0, sizeof(hw));
    hw.HwInitializationDataSize = sizeof(hw);
    hw.AdapterInterfaceType = Internal;
    hw.HwInitialize = probe_initialize;
    hw.HwStartIo = probe_startio;
    hw.HwBuildIo = probe_buildio;
    hw.HwInterrupt = probe_interrupt;
    hw.HwFindAdapter = (PVOID)probe_find_phys;
    hw.HwResetBus = probe_reset_bus;
    hw.HwAdapterControl = probe_adapter_control;
    hw.DeviceExtensionSize = sizeof(PROBE_EXT);
    hw.SrbExtensionSize = 64;
    hw.SrbTypeFlags = SRB_TYPE_FLAG_STORAGE_REQUEST_BLOCK;
    hw.TaggedQueuing = TRUE;
    hw.MultipleRequestPerLu = TRUE;
    return StorPortInitialize(DriverObject, RegistryPath, &hw, NULL);
}

ULONG probe_virt_DriverEntry(PVOID DriverObject, PVOID RegistryPath)
{
    VIRTUAL_HW_INITIALIZATION_DATA hw;
    memset(&hw, 0, sizeof(hw));
    hw.HwInitializationDataSize = sizeof(hw);
    hw.AdapterInterfaceType = Internal;
    hw.HwInitialize = probe_initialize;
    hw.HwStartIo = probe_startio;
    hw.HwBuildIo = probe_buildio;
    hw.HwFindAdapter = probe_find_virt;
    hw.HwResetBus = probe_reset_bus;
    hw.HwAdapterControl = probe_adapter_control;
    hw.DeviceExtensionSize = sizeof(PROBE_EXT);
    hw.SrbExtensionSize = 64;
    hw.TaggedQueuing = TRUE;
    hw.MultipleRequestPerLu = TRUE;
    return StorPortInitialize(DriverObject, RegistryPath, (PHW_INITIALIZATION_DATA)&hw, NULL);
}
