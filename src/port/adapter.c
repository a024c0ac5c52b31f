/*
 * adapter.c - the adapter life cycle: HwStorFindAdapter -> HwStorInitialize
 * -> passive initialization -> ScsiQuerySupportedControlTypes -> I/O ->
 * stop / restart through HwStorAdapterControl -> removal.  Each call goes
 * through a port frame, so it runs under the locks and IRQL of rules.c.
 */
#include "port/port.h"
#include "port/vhooks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hw/physmem.h"
#include "port/memory.h"

/* Live adapters, for mapping a HwDeviceExtension back to its adapter. */
#define MAX_ADAPTERS 64
static struct ustor_adapter *live[MAX_ADAPTERS];

struct ustor_adapter *port_adapter_search(PVOID devext)
{
    if (!devext)
        return NULL;
    for (unsigned i = 0; i < MAX_ADAPTERS; i++) {
        struct ustor_adapter *ad = __atomic_load_n(&live[i], __ATOMIC_ACQUIRE);
        if (ad && ad->devext == devext)
            return ad;
    }
    return NULL;
}

static bool register_adapter(struct ustor_adapter *ad)
{
    for (unsigned i = 0; i < MAX_ADAPTERS; i++) {
        struct ustor_adapter *expected = NULL;
        if (__atomic_compare_exchange_n(&live[i], &expected, ad, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return true;
    }
    return false;
}

static void unregister_adapter(struct ustor_adapter *ad)
{
    for (unsigned i = 0; i < MAX_ADAPTERS; i++) {
        struct ustor_adapter *expected = ad;
        if (__atomic_compare_exchange_n(&live[i], &expected, NULL, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return;
    }
}

const char *port_mode_name(enum ustor_sync_mode m)
{
    return ustor_sync_mode_name(m);
}

const char *ustor_sync_mode_name(enum ustor_sync_mode m)
{
    switch (m) {
    case USTOR_SYNC_HALF_DUPLEX: return "half-duplex";
    case USTOR_SYNC_FULL_DUPLEX: return "full-duplex";
    case USTOR_SYNC_CONCURRENT: return "concurrent-channels";
    case USTOR_SYNC_VIRTUAL: return "virtual";
    default: return "?";
    }
}

static const char *sp_return_name(ULONG r)
{
    switch (r) {
    case SP_RETURN_NOT_FOUND: return "SP_RETURN_NOT_FOUND";
    case SP_RETURN_FOUND: return "SP_RETURN_FOUND";
    case SP_RETURN_ERROR: return "SP_RETURN_ERROR";
    case SP_RETURN_BAD_CONFIG: return "SP_RETURN_BAD_CONFIG";
    default: return "an undefined value";
    }
}

/* ---- generic calls ----------------------------------------------------- */

BOOLEAN port_call_adapter_control(struct ustor_adapter *ad, SCSI_ADAPTER_CONTROL_TYPE type,
                                  PVOID params, SCSI_ADAPTER_CONTROL_STATUS *status)
{
    if (type != ScsiQuerySupportedControlTypes &&
        ((unsigned)type >= ScsiAdapterControlMax || !ad->supported_control[type]))
        return FALSE;
    struct port_frame f;
    port_frame_enter(&f, ad, RR_ADAPTER_CONTROL, rules_adapter_control(type, port_mode(ad)), NULL, true);
    SCSI_ADAPTER_CONTROL_STATUS st = ad->drv->hw.HwAdapterControl(ad->devext, type, params);
    port_frame_leave(&f, true);
    if (status)
        *status = st;
    return TRUE;
}

BOOLEAN port_call_initialize(struct ustor_adapter *ad)
{
    struct port_frame f;
    port_frame_enter(&f, ad, RR_INITIALIZE, rules_cell(RR_INITIALIZE, port_mode(ad)), NULL, true);
    BOOLEAN ok = ad->drv->hw.HwInitialize(ad->devext);
    port_frame_leave(&f, true);
    return ok;
}

static void watchdog_dpc(PKDPC dpc, PVOID ctx, PVOID a1, PVOID a2)
{
    (void)dpc;
    (void)a1;
    (void)a2;
    port_watchdog_scan(ctx);
}

/* Physical adapters run StartIo as table A says for their model. */
static enum ustor_sync_mode decide_mode(struct ustor_adapter *ad)
{
    if (ad->virtual_miniport)
        return USTOR_SYNC_VIRTUAL;
    if (ad->config.SynchronizationModel == StorSynchronizeHalfDuplex)
        return USTOR_SYNC_HALF_DUPLEX;
    if (ad->perf_set && (ad->perf.Flags & STOR_PERF_CONCURRENT_CHANNELS) && ad->perf.ConcurrentChannels > 1)
        return USTOR_SYNC_CONCURRENT;
    return USTOR_SYNC_FULL_DUPLEX;
}

static void fill_config(struct ustor_adapter *ad)
{
    PORT_CONFIGURATION_INFORMATION *c = &ad->config;
    const HW_INITIALIZATION_DATA *hw = &ad->drv->hw;
    memset(c, 0, sizeof(*c));
    c->Length = sizeof(*c);
    c->AdapterInterfaceType = hw->AdapterInterfaceType;
    c->InterruptMode = Latched;
    /* Pre-filled so that StorPortFindAdapter can tell "not set". */
    c->MaximumTransferLength = SP_UNINITIALIZED_VALUE;
    c->NumberOfPhysicalBreaks = SP_UNINITIALIZED_VALUE;
    c->DmaChannel = SP_UNINITIALIZED_VALUE;
    c->DmaPort = SP_UNINITIALIZED_VALUE;
    c->NumberOfAccessRanges = hw->NumberOfAccessRanges;
    c->AccessRanges = (ACCESS_RANGE(*)[])ad->access_ranges;
    c->NumberOfBuses = 1;
    c->MaximumNumberOfTargets = 1;
    c->MaximumNumberOfLogicalUnits = 1;
    c->MapBuffers = hw->MapBuffers;
    c->NeedPhysicalAddresses = hw->NeedPhysicalAddresses;
    c->TaggedQueuing = hw->TaggedQueuing;
    c->AutoRequestSense = hw->AutoRequestSense;
    c->MultipleRequestPerLu = hw->MultipleRequestPerLu;
    c->DeviceExtensionSize = hw->DeviceExtensionSize;
    c->SpecificLuExtensionSize = hw->SpecificLuExtensionSize;
    c->SrbExtensionSize = hw->SrbExtensionSize;
    c->SynchronizationModel = StorSynchronizeFullDuplex;
    c->InterruptSynchronizationMode = InterruptSupportNone;
    c->VirtualDevice = FALSE;
    if (hw->SrbTypeFlags & SRB_TYPE_FLAG_STORAGE_REQUEST_BLOCK)
        c->SrbType = SRB_TYPE_STORAGE_REQUEST_BLOCK;
    if (ad->device) {
        ULONG n = 0;
        for (unsigned bar = 0; bar < 6 && n < 8; bar++) {
            struct ustor_bar_info bi;
            memset(&bi, 0, sizeof(bi));
            ad->device->ops->bar_info(ad->device->dev, bar, &bi);
            if (!bi.length)
                continue;
            ad->access_ranges[n].RangeStart.QuadPart = (LONGLONG)bi.phys;
            ad->access_ranges[n].RangeLength = (ULONG)bi.length;
            ad->access_ranges[n].RangeInMemory = !bi.io_space;
            n++;
        }
        c->NumberOfAccessRanges = n;
        c->AdapterInterfaceType = PCIBus;
        c->BusInterruptLevel = 11;
        c->BusInterruptVector = 11;
        c->InterruptMode = LevelSensitive;
    }
}

static int find_adapter(struct ustor_adapter *ad, char *err, size_t errlen)
{
    char args[512];
    snprintf(args, sizeof(args), "%s", ad->cfg.argument_string ? ad->cfg.argument_string : "");
    BOOLEAN again = FALSE;
    ULONG r;
    struct port_frame f;
    port_frame_enter(&f, ad, RR_FIND_ADAPTER, rules_cell(RR_FIND_ADAPTER, USTOR_SYNC_VIRTUAL), NULL, true);
    if (ad->virtual_miniport)
        r = ad->drv->vhw.HwFindAdapter(ad->devext, ad->drv->hw_context, NULL, NULL, args, &ad->config, &again);
    else {
        /* HW_INITIALIZATION_DATA declares HwFindAdapter as PVOID, as the WDK does. */
        PHW_FIND_ADAPTER find;
        PVOID p = ad->drv->hw.HwFindAdapter;
        memcpy(&find, &p, sizeof(find));
        r = find(ad->devext, ad->drv->hw_context, NULL, args, &ad->config, &again);
    }
    port_frame_leave(&f, true);

    if (r != SP_RETURN_FOUND) {
        if (r != SP_RETURN_NOT_FOUND && r != SP_RETURN_ERROR && r != SP_RETURN_BAD_CONFIG)
            port_report(ad, "SpReturnValue", NULL,
                        "HwStorFindAdapter returned %u; the legal values are SP_RETURN_NOT_FOUND (0), "
                        "SP_RETURN_FOUND (1), SP_RETURN_ERROR (2), SP_RETURN_BAD_CONFIG (3)", r);
        snprintf(err, errlen, "%s: HwStorFindAdapter returned %s (%u) for argument string \"%s\"",
                 ad->drv->name, sp_return_name(r), r, args);
        return -ENODEV;
    }
    PORT_CONFIGURATION_INFORMATION *c = &ad->config;
    /* The model the miniport chose, for the reports below; final after
     * HwStorInitialize (StorPortInitializePerfOpts may come later). */
    ad->mode = decide_mode(ad);
    if (c->MaximumTransferLength == SP_UNINITIALIZED_VALUE) {
        port_report(ad, "StorPortFindAdapter", NULL,
                    "HwStorFindAdapter left MaximumTransferLength unset; the port uses 128 KiB");
        c->MaximumTransferLength = 128 * 1024;
    }
    if (c->NumberOfPhysicalBreaks == SP_UNINITIALIZED_VALUE) {
        port_report(ad, "StorPortFindAdapter", NULL,
                    "HwStorFindAdapter left NumberOfPhysicalBreaks unset; the port uses 33");
        c->NumberOfPhysicalBreaks = 33;
    }
    if (ad->virtual_miniport && !c->VirtualDevice)
        port_report(ad, "StorPortVirtualDevice2", NULL,
                    "a virtual miniport's HwStorFindAdapter must set ConfigInfo->VirtualDevice = TRUE");
    if (!ad->virtual_miniport && c->VirtualDevice)
        port_report(ad, "StorPortVirtualDevice", NULL,
                    "a physical miniport's HwStorFindAdapter must leave ConfigInfo->VirtualDevice FALSE");
    if (!ad->virtual_miniport && c->SynchronizationModel == StorSynchronizeHalfDuplex)
        port_report(ad, "SpDuplex", NULL,
                    "the miniport chose StorSynchronizeHalfDuplex; full duplex is recommended (half "
                    "duplex is for legacy SCSIport miniports)");
    return 0;
}

static int setup_requests(struct ustor_adapter *ad)
{
    ad->srb_ext_size = ad->config.SrbExtensionSize ? ad->config.SrbExtensionSize : ad->drv->hw.SrbExtensionSize;
    size_t ext = (ad->srb_ext_size + 63) & ~(size_t)63;
    ad->nr_reqs = ad->cfg.max_requests ? ad->cfg.max_requests : 1024;
    ad->reqs = aligned_alloc(64, ad->nr_reqs * sizeof(struct port_request));
    if (!ad->reqs)
        return -ENOMEM;
    memset(ad->reqs, 0, ad->nr_reqs * sizeof(struct port_request));
    if (ext) {
        ad->ext_pool = aligned_alloc(64, ext * 2 * ad->nr_reqs);
        if (!ad->ext_pool)
            return -ENOMEM;
        memset(ad->ext_pool, 0, ext * 2 * ad->nr_reqs);
    }
    for (uint32_t i = ad->nr_reqs; i-- > 0;) {
        struct port_request *r = &ad->reqs[i];
        r->index = i;
        r->ad = ad;
        if (ext) {
            r->ext[0] = ad->ext_pool + ext * 2 * i;
            r->ext[1] = r->ext[0] + ext;
        }
        /* Contiguous slices per CPU: requests used on different CPUs do
         * not share cache lines. */
        struct port_free_list *fl = &ad->free_lists[(uint64_t)i * ad->nr_free_lists / ad->nr_reqs];
        r->free_next = (uint32_t)fl->top;
        fl->top = i + 1;
    }
    ad->nr_paths = ad->config.NumberOfBuses ? ad->config.NumberOfBuses : 1;
    ad->nr_targets = ad->config.MaximumNumberOfTargets ? ad->config.MaximumNumberOfTargets : 1;
    ad->nr_luns = ad->config.MaximumNumberOfLogicalUnits ? ad->config.MaximumNumberOfLogicalUnits : 1;
    ad->nr_lun_slots = ad->nr_paths * ad->nr_targets * ad->nr_luns;
    ad->luns = calloc(ad->nr_lun_slots, sizeof(*ad->luns));
    ad->lun_list = calloc(ad->nr_lun_slots, sizeof(*ad->lun_list));
    return ad->luns && ad->lun_list ? 0 : -ENOMEM;
}

/* Everything the StorPort routines of bus.c / memory.c / worker.c keep on
 * the side, and the miniport's own removal callback, in removal order. */
static void release_resources(struct ustor_adapter *ad, bool call_miniport)
{
    port_timers_release(ad);
    port_workers_release(ad);
    ukern_dpc_flush();
    if (call_miniport && ad->virtual_miniport && ad->drv->vhw.HwFreeAdapterResources) {
        struct port_frame f;
        port_frame_enter(&f, ad, RR_FREE_ADAPTER_RESOURCES, rules_cell(RR_FREE_ADAPTER_RESOURCES, port_mode(ad)),
                         NULL, true);
        ad->drv->vhw.HwFreeAdapterResources(ad->devext);
        port_frame_leave(&f, true);
    }
    if (call_miniport)
        port_pool_check_leaks(ad);
    port_memory_release(ad);
    port_bus_release(ad);
    port_side_forget(ad);
}

static void free_adapter(struct ustor_adapter *ad)
{
    if (!ad)
        return;
    if (ad->lun_list) {
        struct port_lun *l;
        for (uint32_t i = 0; (l = port_lun_next(ad, &i)) != NULL;) {
            free(l->lu_extension);
            free(l);
        }
    }
    free(ad->luns);
    free(ad->lun_list);
    for (uint32_t i = 0; ad->reqs && i < ad->nr_reqs; i++)
        free(ad->reqs[i].sg);
    free(ad->reqs);
    free(ad->ext_pool);
    port_pool_release_all(ad);
    free(ad->devext);
    free(ad);
}

int ustor_adapter_create(ustor_driver *drv, const struct ustor_adapter_config *cfg,
                         ustor_adapter **out, char *err, size_t errlen)
{
    static const struct ustor_adapter_config defaults = { .verifier = USTOR_VERIFIER_LOG };
    if (!drv || !out) {
        snprintf(err, errlen, "ustor_adapter_create: %s is NULL", !drv ? "driver" : "out");
        return -EINVAL;
    }
    if (!drv->registered) {
        snprintf(err, errlen, "%s: the miniport never registered with StorPortInitialize", drv->name);
        return -EINVAL;
    }
    if (!cfg)
        cfg = &defaults;
    int rc = ukern_init(cfg->nr_cpus);
    if (rc) {
        snprintf(err, errlen, "cannot start the kernel emulation threads: %s", strerror(-rc));
        return rc;
    }
    /* Aligned: the per-CPU arrays and the lock words inside are laid out
     * on cache lines. */
    struct ustor_adapter *ad = aligned_alloc(64, (sizeof(*ad) + 63) & ~(size_t)63);
    if (ad)
        memset(ad, 0, sizeof(*ad));
    if (!ad) {
        ukern_shutdown();
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    ad->clock_ns = ukern_now_coarse_ns();
    static volatile LONG adapter_seq;
    /* Per-CPU request lists and counters: one per simulated CPU. */
    ad->nr_free_lists = ukern_cpu_count() ? ukern_cpu_count() : 1;
    if (ad->nr_free_lists > PORT_MAX_FREE_LISTS)
        ad->nr_free_lists = PORT_MAX_FREE_LISTS;
    ad->drv = drv;
    ad->cfg = *cfg;
    ad->device = cfg->device;
    ad->virtual_miniport = drv->virtual_miniport;
    ad->physical_no_device = !drv->virtual_miniport && !cfg->device;
    ad->mode = ad->virtual_miniport ? USTOR_SYNC_VIRTUAL : USTOR_SYNC_FULL_DUPLEX;
    ad->dirql = UKERN_DIRQL_BASE;
    ad->state = AD_INITIALIZING;
    snprintf(ad->name, sizeof(ad->name), "%s#%d", drv->name,
             (int)__atomic_add_fetch(&adapter_seq, 1, __ATOMIC_RELAXED));
    uv_init(&ad->uv, cfg->verifier, cfg->warnings_are_errors, cfg->report_sink, cfg->report_ctx, ad->name);
    vhooks_adapter_created(ad);
    ad->st_startio.name = "StartIoLock";
    ad->st_interrupt.name = "InterruptLock";
    for (unsigned i = 0; i < ad->nr_free_lists; i++) {
        ad->cqs[i].ad = ad;
        KeInitializeDpc(&ad->cqs[i].dpc, port_completion_dpc, &ad->cqs[i]);
    }

    ad->devext_size = drv->hw.DeviceExtensionSize;
    ad->devext = aligned_alloc(64, (ad->devext_size + 63) & ~(size_t)63 ? (ad->devext_size + 63) & ~(size_t)63 : 64);
    if (!ad->devext || !register_adapter(ad)) {
        snprintf(err, errlen, ad->devext ? "too many adapters (at most %d)" : "out of memory", MAX_ADAPTERS);
        vhooks_adapter_destroyed(ad);
        free_adapter(ad);
        ukern_shutdown();
        return -ENOMEM;
    }
    memset(ad->devext, 0, (ad->devext_size + 63) & ~(size_t)63 ? (ad->devext_size + 63) & ~(size_t)63 : 64);
    fill_config(ad);

    rc = find_adapter(ad, err, errlen);
    if (rc)
        goto fail;
    rc = setup_requests(ad);
    if (rc) {
        snprintf(err, errlen, "out of memory for %u requests", ad->cfg.max_requests);
        goto fail;
    }
    if (!ad->virtual_miniport) {
        rc = port_interrupts_connect(ad);
        if (rc) {
            snprintf(err, errlen, "%s: cannot connect interrupts: %s", drv->name, ustor_last_error());
            goto fail;
        }
    }
    if (!port_call_initialize(ad)) {
        snprintf(err, errlen, "%s: HwStorInitialize returned FALSE", drv->name);
        rc = -EIO;
        goto fail_intr;
    }
    if (ad->passive_init) {
        struct port_frame f;
        port_frame_enter(&f, ad, RR_PASSIVE_INITIALIZE, rules_cell(RR_PASSIVE_INITIALIZE, port_mode(ad)), NULL, true);
        BOOLEAN ok = ad->passive_init(ad->devext);
        port_frame_leave(&f, true);
        if (!ok) {
            snprintf(err, errlen, "%s: HwStorPassiveInitializeRoutine returned FALSE", drv->name);
            rc = -EIO;
            goto fail_intr;
        }
    }
    /* StorPortInitializePerfOpts may come from FindAdapter or Initialize:
     * the StartIo discipline is fixed from here on. */
    __atomic_store_n(&ad->mode, decide_mode(ad), __ATOMIC_RELEASE); /* ISRs may already run */

    /* The list ends in a flexible array: give it room for every type. */
    union {
        SCSI_SUPPORTED_CONTROL_TYPE_LIST list;
        UCHAR raw[sizeof(SCSI_SUPPORTED_CONTROL_TYPE_LIST) + ScsiAdapterControlMax];
    } q;
    memset(&q, 0, sizeof(q));
    q.list.MaxControlType = ScsiAdapterControlMax;
    port_call_adapter_control(ad, ScsiQuerySupportedControlTypes, &q.list, NULL);
    for (unsigned i = 0; i < ScsiAdapterControlMax; i++)
        ad->supported_control[i] = q.list.SupportedTypeList[i];

    KeInitializeTimerEx(&ad->watchdog, NotificationTimer);
    KeInitializeDpc(&ad->watchdog_dpc, watchdog_dpc, ad);
    ukern_timer_set_ns(&ad->watchdog, PORT_WATCHDOG_MS * 1000000ull, PORT_WATCHDOG_MS * 1000000ull,
                       &ad->watchdog_dpc);
    __atomic_store_n(&ad->state, AD_RUNNING, __ATOMIC_RELEASE);
    *out = ad;
    return 0;

fail_intr:
    if (!ad->virtual_miniport)
        port_interrupts_disconnect(ad);
fail:
    if (ad->hw_timer_ready)
        KeCancelTimer(&ad->hw_timer);
    ukern_dpc_flush();
    release_resources(ad, false);
    vhooks_adapter_destroyed(ad);
    unregister_adapter(ad);
    free_adapter(ad);
    ukern_shutdown();
    return rc;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Waits until the miniport holds nothing; false after grace_ms. */
static bool wait_outstanding(struct ustor_adapter *ad, unsigned grace_ms)
{
    for (unsigned waited = 0; port_outstanding(ad) > 0; waited++) {
        if (waited >= grace_ms)
            return false;
        sleep_ms(1);
    }
    return true;
}

static void force_complete_outstanding(struct ustor_adapter *ad)
{
    uint64_t now = ukern_now_coarse_ns();
    for (uint32_t i = 0; i < ad->nr_reqs; i++) {
        struct port_request *r = &ad->reqs[i];
        if (__atomic_load_n(&r->state, __ATOMIC_ACQUIRE) != REQ_OUTSTANDING)
            continue;
        port_report(ad, "SrbNeverCompleted", r->srb,
                    "SRB %p (LUN %u/%u/%u) still held by the miniport at stop, %.1f s after it was "
                    "started; the port completes it with SRB_STATUS_TIMEOUT", r->srb, r->lun->path,
                    r->lun->target, r->lun->lun,
                    (double)(now - __atomic_load_n(&r->start_ns, __ATOMIC_RELAXED)) / 1e9);
        __atomic_store_n(&r->timed_out, 1, __ATOMIC_RELAXED);
    }
    port_reset_bus(ad, 0);
    port_force_timeouts(ad);
}

void ustor_adapter_destroy(ustor_adapter *ad)
{
    if (!ad)
        return;
    __atomic_store_n(&ad->state, AD_STOPPING, __ATOMIC_RELEASE);
    port_abort_queued(ad, SRB_STATUS_ABORTED);
    if (!wait_outstanding(ad, USTOR_SHUTDOWN_GRACE_MS))
        force_complete_outstanding(ad);
    /* Callbacks still running on other threads finish before teardown. */
    for (unsigned i = 0; port_in_port(ad) > 0 && i < 10000; i++) {
        ukern_dpc_flush();
        sleep_ms(1);
    }
    KeCancelTimer(&ad->watchdog);
    if (ad->hw_timer_ready)
        KeCancelTimer(&ad->hw_timer);
    port_call_adapter_control(ad, ScsiStopAdapter, NULL, NULL);
    if (!ad->virtual_miniport)
        port_interrupts_disconnect(ad);
    ukern_dpc_flush();
    release_resources(ad, true);
    vhooks_adapter_destroyed(ad);
    unregister_adapter(ad);
    free_adapter(ad);
    ukern_shutdown();
}

int ustor_adapter_stop_restart(ustor_adapter *ad)
{
    if (!ad)
        return -EINVAL;
    int expected = AD_RUNNING;
    if (!__atomic_compare_exchange_n(&ad->state, &expected, AD_HOLDING, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        port_set_error("adapter %s is not running", ad->name);
        return -EBUSY;
    }
    /* Storport stops only an adapter with no uncompleted request. */
    if (!wait_outstanding(ad, USTOR_SHUTDOWN_GRACE_MS))
        force_complete_outstanding(ad);
    port_call_adapter_control(ad, ScsiStopAdapter, NULL, NULL);
    if (ad->supported_control[ScsiSetRunningConfig])
        port_call_adapter_control(ad, ScsiSetRunningConfig, NULL, NULL);
    int rc = 0;
    if (ad->supported_control[ScsiRestartAdapter]) {
        SCSI_ADAPTER_CONTROL_STATUS st = ScsiAdapterControlSuccess;
        port_call_adapter_control(ad, ScsiRestartAdapter, NULL, &st);
        if (st != ScsiAdapterControlSuccess)
            rc = -EIO;
    } else {
        ad->in_restart = true;
        if (!port_call_initialize(ad))
            rc = -EIO;
        ad->in_restart = false;
    }
    if (rc) {
        port_set_error("%s: restart failed", ad->name);
        __atomic_store_n(&ad->state, AD_FAILED, __ATOMIC_RELEASE);
        port_abort_queued(ad, SRB_STATUS_ERROR);
        return rc;
    }
    __atomic_store_n(&ad->state, AD_RUNNING, __ATOMIC_RELEASE);
    port_kick_all(ad);
    return 0;
}

void ustor_adapter_reset_bus(ustor_adapter *ad)
{
    if (ad)
        port_reset_bus(ad, 0);
}

bool ustor_adapter_uses_srbex(const ustor_adapter *ad)
{
    return ad && ad->config.SrbType == SRB_TYPE_STORAGE_REQUEST_BLOCK;
}

uint32_t ustor_adapter_srb_extension_size(const ustor_adapter *ad)
{
    return ad ? ad->srb_ext_size : 0;
}

void ustor_adapter_get_info(const ustor_adapter *ad, struct ustor_adapter_info *info)
{
    memset(info, 0, sizeof(*info));
    if (!ad)
        return;
    snprintf(info->miniport, sizeof(info->miniport), "%s", ad->drv->name);
    info->mode = port_mode(ad);
    info->virtual_miniport = ad->virtual_miniport;
    info->per_message_interrupts = ad->per_message;
    info->msi = ad->msi;
    info->interrupt_messages = ad->nr_messages;
    info->concurrent_channels = port_mode(ad) == USTOR_SYNC_CONCURRENT ? ad->perf.ConcurrentChannels : 1;
    info->max_transfer_length = ad->config.MaximumTransferLength;
    info->number_of_physical_breaks = ad->config.NumberOfPhysicalBreaks;
    info->srb_extension_size = ad->srb_ext_size;
    info->device_extension_size = (uint32_t)ad->devext_size;
    info->max_path = (uint8_t)ad->nr_paths;
    info->max_target = (uint8_t)ad->nr_targets;
    info->max_lun = (uint8_t)ad->nr_luns;
    info->srbex = ustor_adapter_uses_srbex(ad);
    for (unsigned i = 0; i < 32 && i < ScsiAdapterControlMax; i++)
        if (ad->supported_control[i])
            info->supported_control_types |= 1u << i;
}

static void add_lock_stats(struct ustor_stats *st, const struct port_lock_stats *l, const char *name)
{
    if (st->nr_locks >= USTOR_MAX_STATS_LOCKS || !__atomic_load_n(&l->acquisitions, __ATOMIC_RELAXED))
        return;
    struct ustor_lock_stats *o = &st->locks[st->nr_locks++];
    o->name = name;
    o->acquisitions = __atomic_load_n(&l->acquisitions, __ATOMIC_RELAXED);
    o->contended = __atomic_load_n(&l->contended, __ATOMIC_RELAXED);
    o->hold_total_ns = __atomic_load_n(&l->hold_total_ns, __ATOMIC_RELAXED);
    o->hold_max_ns = __atomic_load_n(&l->hold_max_ns, __ATOMIC_RELAXED);
}

void ustor_adapter_get_stats(const ustor_adapter *ad, struct ustor_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (!ad)
        return;
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
    st->submitted = (uint64_t)port_count_sum(ad, submitted);
    st->completed = (uint64_t)port_count_sum(ad, completed);
    st->busy_reissues = LOAD(ad->n_busy);
    st->timeouts = LOAD(ad->n_timeouts);
    st->bus_resets = LOAD(ad->n_resets);
    st->errors = LOAD(ad->n_errors);
    for (unsigned r = 0; r < RR_COUNT && st->nr_routines < USTOR_MAX_STATS_ROUTINES; r++) {
        if (!LOAD(ad->routine_stats[r].calls))
            continue;
        struct ustor_routine_stats *o = &st->routines[st->nr_routines++];
        o->name = rules_routines[r].name;
        o->calls = LOAD(ad->routine_stats[r].calls);
        o->total_ns = LOAD(ad->routine_stats[r].total_ns);
        o->max_ns = LOAD(ad->routine_stats[r].max_ns);
    }
    add_lock_stats(st, &ad->st_startio, "StartIoLock");
    add_lock_stats(st, &ad->st_interrupt, "InterruptLock");
    /* Every STOR_DPC's lock has its own record (see struct port_dpc);
     * reported together. */
    struct port_lock_stats dpc = { .name = "DpcLock" };
    LONG nr_dpcs = LOAD(ad->nr_dpcs);
    for (LONG i = 0; i < nr_dpcs; i++) {
        const struct port_lock_stats *d = &ad->dpcs[i].st;
        dpc.acquisitions += LOAD(d->acquisitions);
        dpc.contended += LOAD(d->contended);
        dpc.hold_total_ns += LOAD(d->hold_total_ns);
        uint64_t mx = LOAD(d->hold_max_ns);
        if (mx > dpc.hold_max_ns)
            dpc.hold_max_ns = mx;
    }
    add_lock_stats(st, &dpc, "DpcLock");
    static const char *const msi_names[] = {
        "MSI lock 0", "MSI lock 1", "MSI lock 2", "MSI lock 3", "MSI lock 4", "MSI lock 5",
        "MSI lock 6", "MSI lock 7", "MSI lock 8", "MSI lock 9", "MSI lock 10", "MSI lock 11",
        "MSI lock 12", "MSI lock 13", "MSI lock 14", "MSI lock 15",
    };
    for (uint32_t m = 0; m < ad->nr_messages && m < 16; m++)
        add_lock_stats(st, &ad->st_msi[m], msi_names[m]);
}

uint64_t ustor_adapter_violations(const ustor_adapter *ad)
{
    return ad ? uv_failures(&ad->uv) : 0;
}

uint64_t ustor_adapter_warnings(const ustor_adapter *ad)
{
    return ad ? (uint64_t)__atomic_load_n(&ad->uv.warnings, __ATOMIC_RELAXED) : 0;
}

unsigned ustor_adapter_violation_counts(const ustor_adapter *ad, struct ustor_violation_count *out,
                                        unsigned max)
{
    return ad ? uv_counts((struct uv_state *)&ad->uv, out, max) : 0;
}
