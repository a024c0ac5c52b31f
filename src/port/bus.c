/*
 * bus.c - device access for physical miniports on a simulated device:
 * PCI configuration space (StorPortGetBusData / SetBusDataByOffset),
 * device bases (StorPortGetDeviceBase / FreeDeviceBase / ValidateRange),
 * register and port I/O, and MSI information.
 *
 * A "mapped" device base is a block of reserved, inaccessible process
 * address space (mmap PROT_NONE): the pointer is unique, and a miniport
 * that dereferences it directly instead of calling StorPortRead/Write*
 * faults at once rather than scribbling on memory.  The register routines
 * decode the pointer back to (BAR, offset) with a short scan of the
 * adapter's mappings and call the device's reg_read / reg_write.
 */
#include "port/memory.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BUS_MAX_MAPS 16
#define BUS_NR_BARS 6
#define PCI_CONFIG_SPACE 256
#define PCI_INVALID_VENDOR 0xFFFFu

struct bus_map {
    uintptr_t va;          /* what StorPortGetDeviceBase returned */
    uintptr_t end;         /* va + NumberOfBytes */
    uint64_t bar_offset;   /* offset of va inside the BAR */
    unsigned bar;
    bool io_space;
    volatile int live;     /* mappings handed out and not freed */
    void *reserved;        /* the mmap()ed block */
    size_t reserved_len;
};

struct bus_side {
    volatile unsigned nr_maps;  /* published entries (release/acquire) */
    struct bus_map maps[BUS_MAX_MAPS];
    uint8_t *bus_data;          /* StorPortGetBusData(Length 0) buffer */
};

/* Serializes writers of the mapping tables (FindAdapter-time, rare). */
static pthread_mutex_t bus_lock = PTHREAD_MUTEX_INITIALIZER;

static struct bus_side *bus_side(struct ustor_adapter *ad, bool create)
{
    return port_side_get(ad, PORT_SIDE_BUS, sizeof(struct bus_side), create);
}

static bool bar_info(struct ustor_adapter *ad, unsigned bar, struct ustor_bar_info *bi)
{
    memset(bi, 0, sizeof(*bi));
    if (!ad->device || !ad->device->ops || !ad->device->ops->bar_info)
        return false;
    ad->device->ops->bar_info(ad->device->dev, bar, bi);
    return bi->length != 0;
}

/* The BAR holding [addr, addr+len); false if none does. */
static bool find_bar(struct ustor_adapter *ad, uint64_t addr, uint64_t len, unsigned *bar,
                     struct ustor_bar_info *out)
{
    for (unsigned b = 0; b < BUS_NR_BARS; b++) {
        struct ustor_bar_info bi;
        if (!bar_info(ad, b, &bi))
            continue;
        if (addr >= bi.phys && len <= bi.length && addr - bi.phys <= bi.length - len) {
            *bar = b;
            *out = bi;
            return true;
        }
    }
    return false;
}

static const char *describe_bars(struct ustor_adapter *ad, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (unsigned b = 0; b < BUS_NR_BARS && off + 1 < len; b++) {
        struct ustor_bar_info bi;
        if (!bar_info(ad, b, &bi))
            continue;
        off += (size_t)snprintf(buf + off, len - off, "%sBAR%u [0x%llx, 0x%llx) %s", off ? ", " : "", b,
                                (unsigned long long)bi.phys, (unsigned long long)(bi.phys + bi.length),
                                bi.io_space ? "I/O" : "memory");
    }
    if (!buf[0])
        snprintf(buf, len, "none");
    return buf;
}

/* ---- configuration space --------------------------------------------------- */

STORPORT_API ULONG StorPortGetBusData(PVOID DeviceExtension, ULONG BusDataType, ULONG SystemIoBusNumber,
                                      ULONG SlotNumber, PVOID Buffer, ULONG Length)
{
    struct ustor_adapter *ad = port_adapter_or_report(DeviceExtension, "StorPortGetBusData");
    if (!ad)
        return 0;
    if (!Buffer) {
        port_report(ad, "BadArgument", NULL,
                    "StorPortGetBusData: Buffer is NULL; pass a buffer of Length bytes, or with Length 0 "
                    "the address of a PVOID that receives a port-allocated buffer");
        return 0;
    }
    /* Only PCI is simulated; 0 is the documented "bus not present". */
    if (BusDataType != PCIConfiguration || !ad->device || !ad->device->ops->config_read)
        return 0;
    if (SystemIoBusNumber != ad->config.SystemIoBusNumber || SlotNumber != ad->config.SlotNumber) {
        /* Documented: 2 = bus present, no device in that slot; the
         * VendorID reads PCI_INVALID_VENDORID. */
        if (Length >= 2) {
            USHORT v = PCI_INVALID_VENDOR;
            memcpy(Buffer, &v, sizeof(v));
        }
        return Length == 0 ? 0 : 2;
    }
    if (Length == 0) {
        /* Buffer is a PVOID* that receives a buffer the port owns; it
         * stays valid until the next call (as documented). */
        pthread_mutex_lock(&bus_lock);
        struct bus_side *side = bus_side(ad, true);
        if (side && !side->bus_data)
            side->bus_data = calloc(1, PCI_CONFIG_SPACE);
        uint8_t *data = side ? side->bus_data : NULL;
        pthread_mutex_unlock(&bus_lock);
        if (!data) {
            *(PVOID *)Buffer = NULL;
            return 0;
        }
        ULONG n = ad->device->ops->config_read(ad->device->dev, 0, data, PCI_CONFIG_SPACE);
        *(PVOID *)Buffer = data;
        return n;
    }
    return ad->device->ops->config_read(ad->device->dev, 0, Buffer, Length);
}

STORPORT_API ULONG StorPortSetBusDataByOffset(PVOID DeviceExtension, ULONG BusDataType,
                                              ULONG SystemIoBusNumber, ULONG SlotNumber, PVOID Buffer,
                                              ULONG Offset, ULONG Length)
{
    struct ustor_adapter *ad = port_adapter_or_report(DeviceExtension, "StorPortSetBusDataByOffset");
    if (!ad)
        return 0;
    if (!Buffer && Length) {
        port_report(ad, "BadArgument", NULL, "StorPortSetBusDataByOffset: Buffer is NULL with Length %u", Length);
        return 0;
    }
    if (BusDataType != PCIConfiguration || !ad->device || !ad->device->ops->config_write || Length == 0)
        return 0;
    if (SystemIoBusNumber != ad->config.SystemIoBusNumber || SlotNumber != ad->config.SlotNumber)
        return 0;
    return ad->device->ops->config_write(ad->device->dev, Offset, Buffer, Length);
}

/* ---- device bases ------------------------------------------------------------ */

STORPORT_API PVOID StorPortGetDeviceBase(PVOID HwDeviceExtension, INTERFACE_TYPE BusType,
                                         ULONG SystemIoBusNumber, STOR_PHYSICAL_ADDRESS IoAddress,
                                         ULONG NumberOfBytes, BOOLEAN InIoSpace)
{
    (void)BusType;
    (void)SystemIoBusNumber;
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, "StorPortGetDeviceBase");
    if (!ad)
        return NULL;
    uint64_t addr = (uint64_t)IoAddress.QuadPart;
    if (!ad->device) {
        port_report(ad, "BadArgument", NULL,
                    "StorPortGetDeviceBase(0x%llx, %u bytes): this adapter has no device (%s), so there "
                    "is no bus address to map", (unsigned long long)addr, NumberOfBytes,
                    ad->virtual_miniport ? "virtual miniport" : "physical miniport created without one");
        return NULL;
    }
    if (NumberOfBytes == 0) {
        port_report(ad, "BadArgument", NULL,
                    "StorPortGetDeviceBase(0x%llx): NumberOfBytes is 0; pass the length of the range "
                    "(ConfigInfo->AccessRanges[i].RangeLength)", (unsigned long long)addr);
        return NULL;
    }
    unsigned bar;
    struct ustor_bar_info bi;
    char bars[400];
    if (!find_bar(ad, addr, NumberOfBytes, &bar, &bi)) {
        port_report(ad, "BadArgument", NULL,
                    "StorPortGetDeviceBase: [0x%llx, +%u) is not inside any of the device's access "
                    "ranges; they are: %s", (unsigned long long)addr, NumberOfBytes,
                    describe_bars(ad, bars, sizeof(bars)));
        return NULL;
    }
    if ((bool)InIoSpace != bi.io_space) {
        port_report(ad, "BadArgument", NULL,
                    "StorPortGetDeviceBase(0x%llx): InIoSpace is %s but BAR%u is %s space; pass "
                    "!AccessRanges[i].RangeInMemory", (unsigned long long)addr, InIoSpace ? "TRUE" : "FALSE",
                    bar, bi.io_space ? "I/O" : "memory");
        return NULL;
    }
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t in_page = (size_t)(addr & (page - 1));
    size_t len = (in_page + NumberOfBytes + page - 1) & ~(page - 1);
    void *block = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (block == MAP_FAILED) {
        port_report(ad, "BadArgument", NULL, "StorPortGetDeviceBase: cannot reserve %zu bytes of address space",
                    len);
        return NULL;
    }
    pthread_mutex_lock(&bus_lock);
    struct bus_side *side = bus_side(ad, true);
    unsigned n = side ? side->nr_maps : BUS_MAX_MAPS;
    /* The same range again (a restart re-mapping its BARs): hand out the
     * same address, counted, so repeated stop/restart cycles cannot run
     * the table out. */
    for (unsigned i = 0; side && i < n; i++) {
        struct bus_map *m = &side->maps[i];
        if (m->bar == bar && m->bar_offset == addr - bi.phys && m->end - m->va == NumberOfBytes &&
            __atomic_load_n(&m->live, __ATOMIC_RELAXED) > 0) {
            __atomic_add_fetch(&m->live, 1, __ATOMIC_RELAXED);
            pthread_mutex_unlock(&bus_lock);
            munmap(block, len);
            return (PVOID)m->va;
        }
    }
    if (n == BUS_MAX_MAPS) {
        pthread_mutex_unlock(&bus_lock);
        munmap(block, len);
        port_report(ad, "BadArgument", NULL,
                    "StorPortGetDeviceBase: more than %d device bases mapped on one adapter; free unused "
                    "ones with StorPortFreeDeviceBase", BUS_MAX_MAPS);
        return NULL;
    }
    struct bus_map *m = &side->maps[n];
    m->va = (uintptr_t)block + in_page;
    m->end = m->va + NumberOfBytes;
    m->bar_offset = addr - bi.phys;
    m->bar = bar;
    m->io_space = bi.io_space;
    m->reserved = block;
    m->reserved_len = len;
    __atomic_store_n(&m->live, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&side->nr_maps, n + 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&bus_lock);
    return (PVOID)m->va;
}

STORPORT_API VOID StorPortFreeDeviceBase(PVOID HwDeviceExtension, PVOID MappedAddress)
{
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, "StorPortFreeDeviceBase");
    if (!ad)
        return;
    struct bus_side *side = bus_side(ad, false);
    unsigned n = side ? __atomic_load_n(&side->nr_maps, __ATOMIC_ACQUIRE) : 0;
    for (unsigned i = 0; i < n; i++) {
        struct bus_map *m = &side->maps[i];
        /* The block stays reserved until removal so a stale pointer
         * never decodes to a newer mapping. */
        if (m->va != (uintptr_t)MappedAddress)
            continue;
        int live = __atomic_load_n(&m->live, __ATOMIC_ACQUIRE);
        while (live > 0 && !__atomic_compare_exchange_n(&m->live, &live, live - 1, false, __ATOMIC_ACQ_REL,
                                                        __ATOMIC_ACQUIRE))
            ;
        if (live > 0)
            return;
    }
    port_report(ad, "BadArgument", NULL,
                "StorPortFreeDeviceBase(%p): not an address StorPortGetDeviceBase returned for this adapter "
                "(or already freed)", MappedAddress);
}

STORPORT_API BOOLEAN StorPortValidateRange(PVOID HwDeviceExtension, INTERFACE_TYPE BusType,
                                           ULONG SystemIoBusNumber, STOR_PHYSICAL_ADDRESS IoAddress,
                                           ULONG NumberOfBytes, BOOLEAN InIoSpace)
{
    (void)BusType;
    (void)SystemIoBusNumber;
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, "StorPortValidateRange");
    if (!ad)
        return FALSE;
    port_report(ad, "StorPortDeprecated", NULL,
                "StorPortValidateRange is obsolete; the port already gives the miniport only its own "
                "access ranges in ConfigInfo->AccessRanges");
    unsigned bar;
    struct ustor_bar_info bi;
    if (!ad->device || NumberOfBytes == 0 ||
        !find_bar(ad, (uint64_t)IoAddress.QuadPart, NumberOfBytes, &bar, &bi))
        return FALSE;
    return (bool)InIoSpace == bi.io_space;
}

void port_bus_release(struct ustor_adapter *ad)
{
    pthread_mutex_lock(&bus_lock);
    struct bus_side *side = bus_side(ad, false);
    if (side) {
        for (unsigned i = 0; i < side->nr_maps; i++)
            munmap(side->maps[i].reserved, side->maps[i].reserved_len);
        side->nr_maps = 0;
        free(side->bus_data);
        side->bus_data = NULL;
    }
    pthread_mutex_unlock(&bus_lock);
}

/* ---- register and port I/O ---------------------------------------------------- */

/* (bar, offset) of [p, p+len) inside one live mapping of this adapter. */
static bool decode(struct ustor_adapter *ad, const void *p, size_t len, unsigned *bar, uint64_t *offset)
{
    struct bus_side *side = bus_side(ad, false);
    if (!side)
        return false;
    uintptr_t a = (uintptr_t)p;
    unsigned n = __atomic_load_n(&side->nr_maps, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++) {
        const struct bus_map *m = &side->maps[i];
        if (a >= m->va && a < m->end && len <= m->end - a && __atomic_load_n(&m->live, __ATOMIC_RELAXED) > 0) {
            *bar = m->bar;
            *offset = m->bar_offset + (a - m->va);
            return true;
        }
    }
    return false;
}

static void report_unmapped(struct ustor_adapter *ad, const char *api, const void *p, size_t len, bool read)
{
    if (!ad->device)
        port_report(ad, "BadArgument", NULL,
                    "%s(%p): this adapter has no device, so there are no registers; the %s", api, p,
                    read ? "read returns all ones" : "write is dropped");
    else
        port_report(ad, "BadArgument", NULL,
                    "%s(%p, %zu bytes): the address is not inside a device base that StorPortGetDeviceBase "
                    "returned for this adapter (never mapped, freed, or past its end); the %s", api, p, len,
                    read ? "read returns all ones" : "write is dropped");
}

static inline uint64_t all_ones(unsigned size)
{
    return size >= 8 ? ~0ull : ((1ull << (size * 8)) - 1);
}

static uint64_t reg_read(PVOID devext, const void *reg, unsigned size, const char *api)
{
    struct ustor_adapter *ad = port_adapter_or_report(devext, api);
    unsigned bar;
    uint64_t off;
    if (!ad)
        return all_ones(size);
    if (!ad->device || !decode(ad, reg, size, &bar, &off)) {
        report_unmapped(ad, api, reg, size, true);
        return all_ones(size);
    }
    return ad->device->ops->reg_read(ad->device->dev, bar, off, size) & all_ones(size);
}

static void reg_write(PVOID devext, const void *reg, unsigned size, uint64_t value, const char *api)
{
    struct ustor_adapter *ad = port_adapter_or_report(devext, api);
    unsigned bar;
    uint64_t off;
    if (!ad)
        return;
    if (!ad->device || !decode(ad, reg, size, &bar, &off)) {
        report_unmapped(ad, api, reg, size, false);
        return;
    }
    ad->device->ops->reg_write(ad->device->dev, bar, off, size, value & all_ones(size));
}

/* Buffer variants.  Register buffers walk consecutive addresses (as
 * READ_REGISTER_BUFFER_* does); port buffers repeat one port (as the
 * string I/O instructions behind READ_PORT_BUFFER_* do). */
static void buf_read(PVOID devext, const void *reg, unsigned size, void *buf, ULONG count, bool same_address,
                     const char *api)
{
    struct ustor_adapter *ad = port_adapter_or_report(devext, api);
    if (!ad || count == 0)
        return;
    if (!buf) {
        port_report(ad, "BadArgument", NULL, "%s: Buffer is NULL with Count %u", api, count);
        return;
    }
    size_t span = same_address ? size : (size_t)size * count;
    unsigned bar;
    uint64_t off;
    bool ok = ad->device && decode(ad, reg, span, &bar, &off);
    if (!ok)
        report_unmapped(ad, api, reg, span, true);
    for (ULONG i = 0; i < count; i++) {
        uint64_t v = ok ? ad->device->ops->reg_read(ad->device->dev, bar, same_address ? off : off + (uint64_t)i * size,
                                                    size)
                        : all_ones(size);
        switch (size) {
        case 1: ((UCHAR *)buf)[i] = (UCHAR)v; break;
        case 2: ((USHORT *)buf)[i] = (USHORT)v; break;
        default: ((ULONG *)buf)[i] = (ULONG)v; break;
        }
    }
}

static void buf_write(PVOID devext, const void *reg, unsigned size, const void *buf, ULONG count,
                      bool same_address, const char *api)
{
    struct ustor_adapter *ad = port_adapter_or_report(devext, api);
    if (!ad || count == 0)
        return;
    if (!buf) {
        port_report(ad, "BadArgument", NULL, "%s: Buffer is NULL with Count %u", api, count);
        return;
    }
    size_t span = same_address ? size : (size_t)size * count;
    unsigned bar;
    uint64_t off;
    if (!ad->device || !decode(ad, reg, span, &bar, &off)) {
        report_unmapped(ad, api, reg, span, false);
        return;
    }
    for (ULONG i = 0; i < count; i++) {
        uint64_t v;
        switch (size) {
        case 1: v = ((const UCHAR *)buf)[i]; break;
        case 2: v = ((const USHORT *)buf)[i]; break;
        default: v = ((const ULONG *)buf)[i]; break;
        }
        ad->device->ops->reg_write(ad->device->dev, bar, same_address ? off : off + (uint64_t)i * size, size, v);
    }
}

STORPORT_API UCHAR StorPortReadPortUchar(PVOID HwDeviceExtension, PUCHAR Port)
{
    return (UCHAR)reg_read(HwDeviceExtension, Port, 1, "StorPortReadPortUchar");
}
STORPORT_API USHORT StorPortReadPortUshort(PVOID HwDeviceExtension, PUSHORT Port)
{
    return (USHORT)reg_read(HwDeviceExtension, Port, 2, "StorPortReadPortUshort");
}
STORPORT_API ULONG StorPortReadPortUlong(PVOID HwDeviceExtension, PULONG Port)
{
    return (ULONG)reg_read(HwDeviceExtension, Port, 4, "StorPortReadPortUlong");
}
STORPORT_API VOID StorPortReadPortBufferUchar(PVOID HwDeviceExtension, PUCHAR Port, PUCHAR Buffer, ULONG Count)
{
    buf_read(HwDeviceExtension, Port, 1, Buffer, Count, true, "StorPortReadPortBufferUchar");
}
STORPORT_API VOID StorPortReadPortBufferUshort(PVOID HwDeviceExtension, PUSHORT Port, PUSHORT Buffer, ULONG Count)
{
    buf_read(HwDeviceExtension, Port, 2, Buffer, Count, true, "StorPortReadPortBufferUshort");
}
STORPORT_API VOID StorPortReadPortBufferUlong(PVOID HwDeviceExtension, PULONG Port, PULONG Buffer, ULONG Count)
{
    buf_read(HwDeviceExtension, Port, 4, Buffer, Count, true, "StorPortReadPortBufferUlong");
}
STORPORT_API VOID StorPortWritePortUchar(PVOID HwDeviceExtension, PUCHAR Port, UCHAR Value)
{
    reg_write(HwDeviceExtension, Port, 1, Value, "StorPortWritePortUchar");
}
STORPORT_API VOID StorPortWritePortUshort(PVOID HwDeviceExtension, PUSHORT Port, USHORT Value)
{
    reg_write(HwDeviceExtension, Port, 2, Value, "StorPortWritePortUshort");
}
STORPORT_API VOID StorPortWritePortUlong(PVOID HwDeviceExtension, PULONG Port, ULONG Value)
{
    reg_write(HwDeviceExtension, Port, 4, Value, "StorPortWritePortUlong");
}
STORPORT_API VOID StorPortWritePortBufferUchar(PVOID HwDeviceExtension, PUCHAR Port, PUCHAR Buffer, ULONG Count)
{
    buf_write(HwDeviceExtension, Port, 1, Buffer, Count, true, "StorPortWritePortBufferUchar");
}
STORPORT_API VOID StorPortWritePortBufferUshort(PVOID HwDeviceExtension, PUSHORT Port, PUSHORT Buffer, ULONG Count)
{
    buf_write(HwDeviceExtension, Port, 2, Buffer, Count, true, "StorPortWritePortBufferUshort");
}
STORPORT_API VOID StorPortWritePortBufferUlong(PVOID HwDeviceExtension, PULONG Port, PULONG Buffer, ULONG Count)
{
    buf_write(HwDeviceExtension, Port, 4, Buffer, Count, true, "StorPortWritePortBufferUlong");
}

STORPORT_API UCHAR StorPortReadRegisterUchar(PVOID HwDeviceExtension, PUCHAR Register)
{
    return (UCHAR)reg_read(HwDeviceExtension, Register, 1, "StorPortReadRegisterUchar");
}
STORPORT_API USHORT StorPortReadRegisterUshort(PVOID HwDeviceExtension, PUSHORT Register)
{
    return (USHORT)reg_read(HwDeviceExtension, Register, 2, "StorPortReadRegisterUshort");
}
STORPORT_API ULONG StorPortReadRegisterUlong(PVOID HwDeviceExtension, PULONG Register)
{
    return (ULONG)reg_read(HwDeviceExtension, Register, 4, "StorPortReadRegisterUlong");
}
STORPORT_API ULONG64 StorPortReadRegisterUlong64(PVOID HwDeviceExtension, PULONG64 Register)
{
    return reg_read(HwDeviceExtension, Register, 8, "StorPortReadRegisterUlong64");
}
STORPORT_API VOID StorPortReadRegisterBufferUchar(PVOID HwDeviceExtension, PUCHAR Register, PUCHAR Buffer,
                                                  ULONG Count)
{
    buf_read(HwDeviceExtension, Register, 1, Buffer, Count, false, "StorPortReadRegisterBufferUchar");
}
STORPORT_API VOID StorPortReadRegisterBufferUshort(PVOID HwDeviceExtension, PUSHORT Register, PUSHORT Buffer,
                                                   ULONG Count)
{
    buf_read(HwDeviceExtension, Register, 2, Buffer, Count, false, "StorPortReadRegisterBufferUshort");
}
STORPORT_API VOID StorPortReadRegisterBufferUlong(PVOID HwDeviceExtension, PULONG Register, PULONG Buffer,
                                                  ULONG Count)
{
    buf_read(HwDeviceExtension, Register, 4, Buffer, Count, false, "StorPortReadRegisterBufferUlong");
}
STORPORT_API VOID StorPortWriteRegisterUchar(PVOID HwDeviceExtension, PUCHAR Register, UCHAR Value)
{
    reg_write(HwDeviceExtension, Register, 1, Value, "StorPortWriteRegisterUchar");
}
STORPORT_API VOID StorPortWriteRegisterUshort(PVOID HwDeviceExtension, PUSHORT Register, USHORT Value)
{
    reg_write(HwDeviceExtension, Register, 2, Value, "StorPortWriteRegisterUshort");
}
STORPORT_API VOID StorPortWriteRegisterUlong(PVOID HwDeviceExtension, PULONG Register, ULONG Value)
{
    reg_write(HwDeviceExtension, Register, 4, Value, "StorPortWriteRegisterUlong");
}
STORPORT_API VOID StorPortWriteRegisterUlong64(PVOID HwDeviceExtension, PULONG64 Register, ULONG64 Value)
{
    reg_write(HwDeviceExtension, Register, 8, Value, "StorPortWriteRegisterUlong64");
}
STORPORT_API VOID StorPortWriteRegisterBufferUchar(PVOID HwDeviceExtension, PUCHAR Register, PUCHAR Buffer,
                                                   ULONG Count)
{
    buf_write(HwDeviceExtension, Register, 1, Buffer, Count, false, "StorPortWriteRegisterBufferUchar");
}
STORPORT_API VOID StorPortWriteRegisterBufferUshort(PVOID HwDeviceExtension, PUSHORT Register, PUSHORT Buffer,
                                                    ULONG Count)
{
    buf_write(HwDeviceExtension, Register, 2, Buffer, Count, false, "StorPortWriteRegisterBufferUshort");
}
STORPORT_API VOID StorPortWriteRegisterBufferUlong(PVOID HwDeviceExtension, PULONG Register, PULONG Buffer,
                                                   ULONG Count)
{
    buf_write(HwDeviceExtension, Register, 4, Buffer, Count, false, "StorPortWriteRegisterBufferUlong");
}

/* ---- MSI ----------------------------------------------------------------------- */

/* x86 MSI: messages go to the local APIC window at 0xFEE00000. */
#define MSI_ADDRESS_BASE 0xFEE00000ull
#define MSI_VECTOR_BASE 0x60u

STORPORT_API ULONG StorPortGetMSIInfo(PVOID HwDeviceExtension, ULONG MessageId,
                                      PMESSAGE_INTERRUPT_INFORMATION InterruptInfo)
{
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, "StorPortGetMSIInfo");
    if (!ad)
        return STOR_STATUS_INVALID_PARAMETER;
    if (!InterruptInfo) {
        port_report(ad, "BadArgument", NULL, "StorPortGetMSIInfo: InterruptInfo is NULL");
        return STOR_STATUS_INVALID_PARAMETER;
    }
    /* Line-based adapters have one interrupt and no message information. */
    if (!ad->msi || MessageId >= ad->nr_messages)
        return STOR_STATUS_INVALID_PARAMETER;
    memset(InterruptInfo, 0, sizeof(*InterruptInfo));
    InterruptInfo->MessageId = MessageId;
    InterruptInfo->MessageData = MSI_VECTOR_BASE + MessageId;
    InterruptInfo->MessageAddress.QuadPart = (LONGLONG)MSI_ADDRESS_BASE;
    InterruptInfo->InterruptVector = MSI_VECTOR_BASE + MessageId;
    InterruptInfo->InterruptLevel = ad->dirql;
    InterruptInfo->InterruptMode = Latched;
    return STOR_STATUS_SUCCESS;
}
