/*
 * port_mp.h - a tiny miniport (physical or virtual) and a fake PCI device
 * for the tests of src/port/bus.c, memory.c and worker.c.  Header-only so
 * each test program carries its own copy (only test_*.c files are built).
 *
 * The miniport records what it saw in mp_state; tests add work to
 * HwStorFindAdapter and HwStorStartIo through mp_state hooks.
 *
 * Arguments: "breaks=N" (NumberOfPhysicalBreaks), "msi" (ask for MSI).
 */
#ifndef USTOR_TEST_PORT_MP_H
#define USTOR_TEST_PORT_MP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <storport.h>
#include <srbhelper.h>
#include <ustor/ustor.h>

#include "hw/bus.h"
#include "testutil.h"

/* ---- fake device -------------------------------------------------------------- */

#define FAKE_BAR0_PHYS 0xFEB00000ull /* memory BAR */
#define FAKE_BAR0_LEN 0x1000u
#define FAKE_BAR2_PHYS 0xC000ull     /* I/O BAR */
#define FAKE_BAR2_LEN 0x100u
#define FAKE_VENDOR 0x1AF4
#define FAKE_DEVICE 0x1042
#define FAKE_MAX_LOG 256

struct fake_access {
    unsigned bar;
    uint64_t offset;
    unsigned size;
    bool write;
};

struct fake_dev {
    uint8_t cfg[256];
    uint8_t bar0[FAKE_BAR0_LEN];
    uint8_t bar2[FAKE_BAR2_LEN];
    unsigned nlog;
    struct fake_access log[FAKE_MAX_LOG];
    unsigned msi;
    struct ustor_irq_sink *sink;
};

static uint8_t *fake_bar_mem(struct fake_dev *d, unsigned bar, uint64_t off, unsigned size)
{
    if (bar == 0 && off + size <= FAKE_BAR0_LEN)
        return d->bar0 + off;
    if (bar == 2 && off + size <= FAKE_BAR2_LEN)
        return d->bar2 + off;
    return NULL;
}

static void fake_log(struct fake_dev *d, unsigned bar, uint64_t off, unsigned size, bool write)
{
    if (d->nlog < FAKE_MAX_LOG)
        d->log[d->nlog++] = (struct fake_access){ bar, off, size, write };
}

static uint32_t fake_config_read(void *dev, uint32_t offset, void *buf, uint32_t len)
{
    struct fake_dev *d = dev;
    if (offset >= sizeof(d->cfg))
        return 0;
    if (len > sizeof(d->cfg) - offset)
        len = (uint32_t)sizeof(d->cfg) - offset;
    memcpy(buf, d->cfg + offset, len);
    return len;
}

static uint32_t fake_config_write(void *dev, uint32_t offset, const void *buf, uint32_t len)
{
    struct fake_dev *d = dev;
    if (offset >= sizeof(d->cfg))
        return 0;
    if (len > sizeof(d->cfg) - offset)
        len = (uint32_t)sizeof(d->cfg) - offset;
    memcpy(d->cfg + offset, buf, len);
    return len;
}

static void fake_bar_info(void *dev, unsigned bar, struct ustor_bar_info *info)
{
    (void)dev;
    memset(info, 0, sizeof(*info));
    if (bar == 0) {
        info->phys = FAKE_BAR0_PHYS;
        info->length = FAKE_BAR0_LEN;
    } else if (bar == 2) {
        info->phys = FAKE_BAR2_PHYS;
        info->length = FAKE_BAR2_LEN;
        info->io_space = true;
    }
}

static uint64_t fake_reg_read(void *dev, unsigned bar, uint64_t offset, unsigned size)
{
    struct fake_dev *d = dev;
    fake_log(d, bar, offset, size, false);
    uint8_t *p = fake_bar_mem(d, bar, offset, size);
    uint64_t v = 0;
    if (p)
        memcpy(&v, p, size);
    return v;
}

static void fake_reg_write(void *dev, unsigned bar, uint64_t offset, unsigned size, uint64_t value)
{
    struct fake_dev *d = dev;
    fake_log(d, bar, offset, size, true);
    uint8_t *p = fake_bar_mem(d, bar, offset, size);
    if (p)
        memcpy(p, &value, size);
}

static uint32_t fake_msi_count(void *dev)
{
    return ((struct fake_dev *)dev)->msi;
}

static void fake_attach(void *dev, struct ustor_irq_sink *sink)
{
    ((struct fake_dev *)dev)->sink = sink;
}

static void fake_nop(void *dev)
{
    (void)dev;
}

static const struct ustor_bus_ops fake_ops = {
    .config_read = fake_config_read,
    .config_write = fake_config_write,
    .bar_info = fake_bar_info,
    .reg_read = fake_reg_read,
    .reg_write = fake_reg_write,
    .msi_count = fake_msi_count,
    .attach = fake_attach,
    .quiesce = fake_nop,
    .destroy = fake_nop,
};

static inline void fake_init(struct fake_dev *d, struct ustor_bus_device *bd, unsigned msi)
{
    memset(d, 0, sizeof(*d));
    d->cfg[0] = FAKE_VENDOR & 0xFF;
    d->cfg[1] = FAKE_VENDOR >> 8;
    d->cfg[2] = FAKE_DEVICE & 0xFF;
    d->cfg[3] = FAKE_DEVICE >> 8;
    for (unsigned i = 0x40; i < sizeof(d->cfg); i++)
        d->cfg[i] = (uint8_t)i;
    d->msi = msi;
    bd->ops = &fake_ops;
    bd->dev = d;
    bd->name = "fake-pci";
}

/* ---- the miniport ------------------------------------------------------------- */

typedef void mp_hook(PVOID ext, PPORT_CONFIGURATION_INFORMATION config);
typedef void mp_srb_hook(PVOID ext, PSCSI_REQUEST_BLOCK srb);

struct mp_ext {
    ULONG magic;
};

struct mp_state {
    PVOID ext;                      /* the last adapter's HwDeviceExtension */
    mp_hook *find_hook;             /* called inside HwStorFindAdapter */
    mp_srb_hook *startio_hook;      /* called inside HwStorStartIo before completion */
    /* what HwStorFindAdapter saw */
    ULONG bus_bytes;
    USHORT vendor;
    PVOID mem_base, io_base;        /* device bases of the memory and I/O ranges */
    ULONG nr_ranges;
};
static struct mp_state mp_state;

static int mp_arg_int(const char *args, const char *key, int def)
{
    const char *p = args ? strstr(args, key) : NULL;
    return p ? atoi(p + strlen(key)) : def;
}

static void mp_common_config(PPORT_CONFIGURATION_INFORMATION c, const char *args)
{
    c->MaximumTransferLength = 1024 * 1024;
    c->NumberOfPhysicalBreaks = (ULONG)mp_arg_int(args, "breaks=", 257);
    c->NumberOfBuses = 1;
    c->MaximumNumberOfTargets = 1;
    c->MaximumNumberOfLogicalUnits = 1;
    c->ScatterGather = TRUE;
    c->Master = TRUE;
    c->Dma64BitAddresses = SCSI_DMA64_MINIPORT_FULL64BIT_SUPPORTED;
}

static BOOLEAN mp_msi(PVOID ext, ULONG id)
{
    (void)ext;
    (void)id;
    return FALSE;
}

static ULONG mp_find_phys(PVOID ext, PVOID ctx, PVOID bus, PCHAR args, PPORT_CONFIGURATION_INFORMATION c,
                          PBOOLEAN again)
{
    (void)ctx;
    (void)bus;
    (void)again;
    mp_state.ext = ext;
    mp_common_config(c, args);
    c->SynchronizationModel = StorSynchronizeFullDuplex;
    if (args && strstr(args, "msi")) {
        c->HwMSInterruptRoutine = mp_msi;
        c->InterruptSynchronizationMode = InterruptSynchronizeAll;
    }
    UCHAR pci[64];
    memset(pci, 0, sizeof(pci));
    mp_state.bus_bytes = StorPortGetBusData(ext, PCIConfiguration, c->SystemIoBusNumber, c->SlotNumber, pci,
                                            sizeof(pci));
    mp_state.vendor = (USHORT)(pci[0] | pci[1] << 8);
    mp_state.nr_ranges = c->NumberOfAccessRanges;
    for (ULONG i = 0; i < c->NumberOfAccessRanges; i++) {
        ACCESS_RANGE *r = &(*c->AccessRanges)[i];
        PVOID base = StorPortGetDeviceBase(ext, c->AdapterInterfaceType, c->SystemIoBusNumber, r->RangeStart,
                                           r->RangeLength, !r->RangeInMemory);
        if (r->RangeInMemory)
            mp_state.mem_base = base;
        else
            mp_state.io_base = base;
    }
    if (mp_state.find_hook)
        mp_state.find_hook(ext, c);
    return SP_RETURN_FOUND;
}

static ULONG mp_find_virt(PVOID ext, PVOID ctx, PVOID bus, PVOID lower, PCHAR args,
                          PPORT_CONFIGURATION_INFORMATION c, PBOOLEAN again)
{
    (void)ctx;
    (void)bus;
    (void)lower;
    (void)again;
    mp_state.ext = ext;
    mp_common_config(c, args);
    c->VirtualDevice = TRUE;
    if (mp_state.find_hook)
        mp_state.find_hook(ext, c);
    return SP_RETURN_FOUND;
}

static BOOLEAN mp_initialize(PVOID ext)
{
    (void)ext;
    return TRUE;
}

static BOOLEAN mp_startio(PVOID ext, PSCSI_REQUEST_BLOCK srb)
{
    if (mp_state.startio_hook)
        mp_state.startio_hook(ext, srb);
    SrbSetSrbStatus(srb, SRB_STATUS_SUCCESS);
    StorPortNotification(RequestComplete, ext, srb);
    return TRUE;
}

static BOOLEAN mp_interrupt(PVOID ext)
{
    (void)ext;
    return FALSE;
}

static BOOLEAN mp_reset_bus(PVOID ext, ULONG path)
{
    (void)ext;
    (void)path;
    return TRUE;
}

static SCSI_ADAPTER_CONTROL_STATUS mp_adapter_control(PVOID ext, SCSI_ADAPTER_CONTROL_TYPE type, PVOID p)
{
    (void)ext;
    if (type == ScsiQuerySupportedControlTypes) {
        PSCSI_SUPPORTED_CONTROL_TYPE_LIST l = p;
        for (ULONG t = 0; t < l->MaxControlType && t <= ScsiRestartAdapter; t++)
            l->SupportedTypeList[t] = TRUE;
    }
    return ScsiAdapterControlSuccess;
}

static ULONG mp_phys_DriverEntry(PVOID DriverObject, PVOID RegistryPath)
{
    HW_INITIALIZATION_DATA hw;
    memset(&hw, 0, sizeof(hw));
    hw.HwInitializationDataSize = sizeof(hw);
    hw.AdapterInterfaceType = PCIBus;
    hw.HwInitialize = mp_initialize;
    hw.HwStartIo = mp_startio;
    hw.HwInterrupt = mp_interrupt;
    hw.HwFindAdapter = (PVOID)mp_find_phys;
    hw.HwResetBus = mp_reset_bus;
    hw.HwAdapterControl = mp_adapter_control;
    hw.DeviceExtensionSize = sizeof(struct mp_ext);
    hw.SrbExtensionSize = 128;
    hw.TaggedQueuing = TRUE;
    hw.MultipleRequestPerLu = TRUE;
    return StorPortInitialize(DriverObject, RegistryPath, &hw, NULL);
}

static ULONG mp_virt_DriverEntry(PVOID DriverObject, PVOID RegistryPath)
{
    VIRTUAL_HW_INITIALIZATION_DATA hw;
    memset(&hw, 0, sizeof(hw));
    hw.HwInitializationDataSize = sizeof(hw);
    hw.AdapterInterfaceType = Internal;
    hw.HwInitialize = mp_initialize;
    hw.HwStartIo = mp_startio;
    hw.HwFindAdapter = mp_find_virt;
    hw.HwResetBus = mp_reset_bus;
    hw.HwAdapterControl = mp_adapter_control;
    hw.DeviceExtensionSize = sizeof(struct mp_ext);
    hw.SrbExtensionSize = 128;
    hw.TaggedQueuing = TRUE;
    hw.MultipleRequestPerLu = TRUE;
    return StorPortInitialize(DriverObject, RegistryPath, (PHW_INITIALIZATION_DATA)&hw, NULL);
}

/* Loads the miniport (virtual or physical) and creates an adapter over
 * dev (may be NULL); reports go to rep.  Fails the test on error. */
static inline ustor_adapter *mp_create(bool virtual_mp, struct ustor_bus_device *dev, const char *args,
                                struct tu_reports *rep, ustor_driver **drv_out)
{
    struct ustor_adapter_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.argument_string = args;
    cfg.nr_cpus = 2;
    cfg.max_requests = 16;
    cfg.device = dev;
    cfg.verifier = USTOR_VERIFIER_LOG;
    cfg.report_sink = rep ? tu_reports_sink : NULL;
    cfg.report_ctx = rep;
    ustor_adapter *ad = tu_adapter_with(
        (ustor_driver_entry_fn)(virtual_mp ? mp_virt_DriverEntry : mp_phys_DriverEntry), &cfg, drv_out);
    if (!ad)
        fail(); /* tu_adapter_with said why */
    return ad;
}

/* Sends one SRB with buf/len through the adapter and waits for it. */
static inline UCHAR mp_io(ustor_adapter *ad, void *buf, ULONG len)
{
    static const UCHAR cdb[10] = { 0x28 }; /* READ(10): any data-in command will do */
    struct tu_srb s;
    void *srb = tu_srb_init(&s, ustor_adapter_uses_srbex(ad), 0, cdb, sizeof(cdb), buf, len,
                            len ? SRB_FLAGS_DATA_IN : SRB_FLAGS_NO_DATA_TRANSFER);
    assert_int_equal(ustor_submit_srb(ad, srb, tu_srb_done, &s), 0);
    assert_true(tu_wait_done(&s, 1, 10000));
    return s.status;
}

#endif
