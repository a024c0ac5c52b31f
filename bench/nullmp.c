/*
 * nullmp.c - the null miniport (see nullmp.h).
 */
#include "nullmp.h"

#include <srbhelper.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local nullmp_run_hook tl_hook;
static _Thread_local void *tl_hook_ctx;

void nullmp_set_hook(nullmp_run_hook fn, void *ctx)
{
    tl_hook = fn;
    tl_hook_ctx = ctx;
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

static void complete(NULLMP_EXT *e, PVOID srb)
{
    SrbSetSrbStatus(srb, SRB_STATUS_SUCCESS);
    if (e->direct_complete)
        e->direct_complete(e->direct_ctx, srb);
    else
        StorPortNotification(RequestComplete, e, srb);
}

static BOOLEAN nullmp_buildio(PVOID ext, PSCSI_REQUEST_BLOCK srb)
{
    PCDB cdb = SrbGetCdb(srb);
    if (cdb && cdb->AsByte[0] == NULLMP_OP_RUN && tl_hook)
        tl_hook(ext, tl_hook_ctx);
    return TRUE;
}

struct hold_push {
    NULLMP_EXT *e;
    PVOID srb;
};

/* Under the interrupt lock (StorPortSynchronizeAccess, or half duplex). */
static BOOLEAN push_held(PVOID ext, PVOID ctx)
{
    (void)ext;
    struct hold_push *p = ctx;
    if (p->e->nheld >= NULLMP_MAX_HELD)
        return FALSE;
    p->e->held[p->e->nheld++] = p->srb;
    return TRUE;
}

static BOOLEAN nullmp_startio(PVOID ext, PSCSI_REQUEST_BLOCK srb)
{
    NULLMP_EXT *e = ext;
    if (e->hold && SrbGetSrbFunction(srb) == SRB_FUNCTION_EXECUTE_SCSI) {
        struct hold_push p = { e, srb };
        BOOLEAN kept = e->half ? push_held(ext, &p) : StorPortSynchronizeAccess(ext, push_held, &p);
        if (kept)
            return TRUE;
    }
    if (e->lockio && !e->half) {
        STOR_LOCK_HANDLE h;
        StorPortAcquireSpinLock(ext, DpcLock, &e->dpc, &h);
        StorPortReleaseSpinLock(ext, &h);
    }
    complete(e, srb);
    return TRUE;
}

static BOOLEAN nullmp_interrupt(PVOID ext)
{
    NULLMP_EXT *e = ext;
    BOOLEAN claimed = e->nheld > 0;
    while (e->nheld > 0)
        complete(e, e->held[--e->nheld]);
    return claimed;
}

static void nullmp_dpc(PSTOR_DPC dpc, PVOID ext, PVOID a1, PVOID a2)
{
    (void)dpc;
    (void)ext;
    (void)a1;
    (void)a2;
}

static BOOLEAN nullmp_initialize(PVOID ext)
{
    NULLMP_EXT *e = ext;
    StorPortInitializeDpc(ext, &e->dpc, nullmp_dpc);
    for (int i = 0; i < 2; i++)
        StorPortInitializeDpc(ext, &e->thread_dpc[i], nullmp_dpc);
    return TRUE;
}

static BOOLEAN nullmp_reset_bus(PVOID ext, ULONG path)
{
    (void)ext;
    (void)path;
    return TRUE;
}

static SCSI_ADAPTER_CONTROL_STATUS nullmp_adapter_control(PVOID ext, SCSI_ADAPTER_CONTROL_TYPE type, PVOID p)
{
    (void)ext;
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

static void common_config(NULLMP_EXT *e, PPORT_CONFIGURATION_INFORMATION c, PCHAR args)
{
    int luns = arg_int(args, "luns=", 1);
    c->MaximumTransferLength = 1024 * 1024;
    c->NumberOfPhysicalBreaks = 257;
    c->NumberOfBuses = 1;
    c->MaximumNumberOfTargets = 1;
    c->MaximumNumberOfLogicalUnits = (UCHAR)(luns < 1 ? 1 : luns > 32 ? 32 : luns);
    c->SrbType = SRB_TYPE_SCSI_REQUEST_BLOCK;
    c->AddressType = STORAGE_ADDRESS_TYPE_BTL8;
    e->hold = has_arg(args, "hold=1");
    e->lockio = has_arg(args, "lockio=1");
}

static ULONG nullmp_find_phys(PVOID ext, PVOID ctx, PVOID bus, PCHAR args, PPORT_CONFIGURATION_INFORMATION c,
                              PBOOLEAN again)
{
    (void)ctx;
    (void)bus;
    (void)again;
    NULLMP_EXT *e = ext;
    e->physical = TRUE;
    common_config(e, c, args);
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
    }
    return SP_RETURN_FOUND;
}

static ULONG nullmp_find_virt(PVOID ext, PVOID ctx, PVOID bus, PVOID lower, PCHAR args,
                              PPORT_CONFIGURATION_INFORMATION c, PBOOLEAN again)
{
    (void)ctx;
    (void)bus;
    (void)lower;
    (void)again;
    common_config(ext, c, args);
    c->VirtualDevice = TRUE;
    return SP_RETURN_FOUND;
}

ULONG nullmp_phys_DriverEntry(PVOID DriverObject, PVOID RegistryPath)
{
    HW_INITIALIZATION_DATA hw;
    memset(&hw, 0, sizeof(hw));
    hw.HwInitializationDataSize = sizeof(hw);
    hw.AdapterInterfaceType = Internal;
    hw.HwInitialize = nullmp_initialize;
    hw.HwStartIo = nullmp_startio;
    hw.HwBuildIo = nullmp_buildio;
    hw.HwInterrupt = nullmp_interrupt;
    hw.HwFindAdapter = (PVOID)nullmp_find_phys;
    hw.HwResetBus = nullmp_reset_bus;
    hw.HwAdapterControl = nullmp_adapter_control;
    hw.DeviceExtensionSize = sizeof(NULLMP_EXT);
    hw.SrbExtensionSize = NULLMP_SRB_EXTENSION_SIZE;
    hw.TaggedQueuing = TRUE;
    hw.MultipleRequestPerLu = TRUE;
    return StorPortInitialize(DriverObject, RegistryPath, &hw, NULL);
}

ULONG nullmp_virt_DriverEntry(PVOID DriverObject, PVOID RegistryPath)
{
    VIRTUAL_HW_INITIALIZATION_DATA hw;
    memset(&hw, 0, sizeof(hw));
    hw.HwInitializationDataSize = sizeof(hw);
    hw.AdapterInterfaceType = Internal;
    hw.HwInitialize = nullmp_initialize;
    hw.HwStartIo = nullmp_startio;
    hw.HwBuildIo = nullmp_buildio;
    hw.HwFindAdapter = nullmp_find_virt;
    hw.HwResetBus = nullmp_reset_bus;
    hw.HwAdapterControl = nullmp_adapter_control;
    hw.DeviceExtensionSize = sizeof(NULLMP_EXT);
    hw.SrbExtensionSize = NULLMP_SRB_EXTENSION_SIZE;
    hw.TaggedQueuing = TRUE;
    hw.MultipleRequestPerLu = TRUE;
    return StorPortInitialize(DriverObject, RegistryPath, (PHW_INITIALIZATION_DATA)&hw, NULL);
}

/* ---- the floor: the routines called through pointers, as the port does */

static PHW_BUILDIO volatile direct_buildio = nullmp_buildio;
static PHW_STARTIO volatile direct_startio = nullmp_startio;

void nullmp_direct_init(NULLMP_EXT *e, void (*complete_fn)(void *ctx, PVOID srb), void *ctx)
{
    memset(e, 0, sizeof(*e));
    e->direct_complete = complete_fn;
    e->direct_ctx = ctx;
}

BOOLEAN nullmp_direct_buildio(NULLMP_EXT *e, PVOID srb)
{
    return direct_buildio(e, srb);
}

BOOLEAN nullmp_direct_startio(NULLMP_EXT *e, PVOID srb)
{
    return direct_startio(e, srb);
}
