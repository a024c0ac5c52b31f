/*
 * memory.c - StorPort memory, address translation, registry, time and
 * small utility routines, plus the per-adapter side table that bus.c,
 * memory.c and worker.c keep their state in.
 *
 * Memory a device may reach (uncached extension, contiguous blocks, SRB
 * extensions, SRB data buffers) is registered with the simulated physical
 * address space (hw/physmem.h); StorPortGetPhysicalAddress and the
 * scatter/gather lists hand out those simulated addresses, never pointers.
 */
#include "port/memory.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hw/physmem.h"

#define PAGE 4096u

static size_t page_round(size_t n)
{
    return (n + PAGE - 1) & ~(size_t)(PAGE - 1);
}

/* ---- side table ------------------------------------------------------------ */

#define SIDE_MAX 64

struct side_entry {
    struct ustor_adapter *ad;
    void *kind[PORT_SIDE_COUNT];
};

static struct side_entry sides[SIDE_MAX];
static pthread_mutex_t side_lock = PTHREAD_MUTEX_INITIALIZER;
/* Bumped whenever an entry is dropped: invalidates the per-thread caches. */
static volatile uint64_t side_gen;

static _Thread_local struct {
    struct ustor_adapter *ad;
    unsigned idx;
    uint64_t gen;
} side_cache;

static int side_find(struct ustor_adapter *ad)
{
    uint64_t gen = __atomic_load_n(&side_gen, __ATOMIC_ACQUIRE);
    if (side_cache.ad == ad && side_cache.gen == gen)
        return (int)side_cache.idx;
    for (unsigned i = 0; i < SIDE_MAX; i++)
        if (__atomic_load_n(&sides[i].ad, __ATOMIC_ACQUIRE) == ad) {
            side_cache.ad = ad;
            side_cache.idx = i;
            side_cache.gen = gen;
            return (int)i;
        }
    return -1;
}

void *port_side_get(struct ustor_adapter *ad, enum port_side_kind kind, size_t size, bool create)
{
    if (!ad)
        return NULL;
    int i = side_find(ad);
    if (i >= 0) {
        void *p = __atomic_load_n(&sides[i].kind[kind], __ATOMIC_ACQUIRE);
        if (p || !create)
            return p;
    } else if (!create) {
        return NULL;
    }
    pthread_mutex_lock(&side_lock);
    i = -1;
    for (unsigned k = 0; k < SIDE_MAX && i < 0; k++)
        if (sides[k].ad == ad)
            i = (int)k;
    for (unsigned k = 0; k < SIDE_MAX && i < 0; k++)
        if (sides[k].ad == NULL) {
            i = (int)k;
            memset(sides[k].kind, 0, sizeof(sides[k].kind));
            __atomic_store_n(&sides[k].ad, ad, __ATOMIC_RELEASE);
        }
    void *p = NULL;
    if (i >= 0) {
        p = sides[i].kind[kind];
        if (!p) {
            p = calloc(1, size);
            __atomic_store_n(&sides[i].kind[kind], p, __ATOMIC_RELEASE);
        }
    }
    pthread_mutex_unlock(&side_lock);
    return p;
}

void port_side_forget(struct ustor_adapter *ad)
{
    pthread_mutex_lock(&side_lock);
    for (unsigned k = 0; k < SIDE_MAX; k++)
        if (sides[k].ad == ad) {
            for (unsigned j = 0; j < PORT_SIDE_COUNT; j++) {
                free(sides[k].kind[j]);
                __atomic_store_n(&sides[k].kind[j], NULL, __ATOMIC_RELEASE);
            }
            __atomic_store_n(&sides[k].ad, NULL, __ATOMIC_RELEASE);
        }
    __atomic_add_fetch(&side_gen, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&side_lock);
}

struct ustor_adapter *port_adapter_or_report(PVOID devext, const char *api)
{
    struct ustor_adapter *ad = port_adapter_from_devext(devext);
    if (!ad)
        port_report(NULL, "BadArgument", NULL,
                    "%s: HwDeviceExtension %p is not the device extension of any live adapter; pass the "
                    "DeviceExtension the port gave the miniport routine", api, devext);
    return ad;
}

/* ---- per-adapter memory state ------------------------------------------------ */

struct contig_block {
    struct contig_block *next;
    void *va;
    size_t len;        /* as allocated (page multiple) */
    size_t asked;      /* NumberOfBytes */
    uint64_t phys;
};

struct mem_side {
    void *uncached;
    size_t uncached_len;
    uint64_t uncached_phys;
    uint64_t ext_pool_phys;      /* SRB extensions, mapped on first use */
    struct contig_block *contig;
    PUCHAR reg_buffer;           /* the one registry buffer (documented limit) */
    ULONG reg_buffer_len;
};

/* Guards mem_side contents (allocation paths only, not the I/O path). */
static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;

static struct mem_side *mem_side(struct ustor_adapter *ad, bool create)
{
    return port_side_get(ad, PORT_SIDE_MEMORY, sizeof(struct mem_side), create);
}

/* Page-aligned, zeroed, registered with the physical address space. */
static void *alloc_dma(size_t n, size_t *len_out, uint64_t *phys_out)
{
    size_t len = page_round(n);
    void *p = aligned_alloc(PAGE, len);
    if (!p)
        return NULL;
    memset(p, 0, len);
    uint64_t phys = ustor_phys_map(p, len);
    if (!phys) {
        free(p);
        return NULL;
    }
    *len_out = len;
    *phys_out = phys;
    return p;
}

/* ---- registry (in memory) ------------------------------------------------------ */

/* Values under Parameters\Device are per driver (keyed by its name, so
 * they survive an unload and reload, like the registry); values under
 * Parameters\Device<N> are per adapter and go with it. */
struct reg_value {
    struct reg_value *next;
    char driver[64];
    const struct ustor_adapter *ad;   /* NULL: global to the driver */
    char name[128];
    ULONG type;
    ULONG len;
    UCHAR data[];
};

static struct reg_value *registry;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;

static void registry_forget_adapter(const struct ustor_adapter *ad)
{
    pthread_mutex_lock(&reg_lock);
    for (struct reg_value **pp = &registry; *pp;) {
        struct reg_value *v = *pp;
        if (v->ad == ad) {
            *pp = v->next;
            free(v);
        } else {
            pp = &v->next;
        }
    }
    pthread_mutex_unlock(&reg_lock);
}

/* ---- release -------------------------------------------------------------------- */

void port_memory_srb_done(struct ustor_adapter *ad, struct port_request *r)
{
    (void)ad;
    if (r && r->sg)
        r->sg->NumberOfElements = 0;
}

void port_memory_release(struct ustor_adapter *ad)
{
    if (!ad)
        return;
    /* Callbacks first: nothing may run miniport code on memory freed below. */
    port_timers_release(ad);
    port_workers_release(ad);

    pthread_mutex_lock(&mem_lock);
    struct mem_side *m = mem_side(ad, false);
    if (m) {
        if (m->uncached) {
            ustor_phys_unmap(m->uncached_phys);
            free(m->uncached);
            m->uncached = NULL;
        }
        if (m->ext_pool_phys) {
            ustor_phys_unmap(m->ext_pool_phys);
            m->ext_pool_phys = 0;
        }
        while (m->contig) {
            struct contig_block *b = m->contig;
            m->contig = b->next;
            port_report(ad, "StorPortAllocatePool2", NULL,
                        "%zu bytes of contiguous memory at %p (physical 0x%llx) from "
                        "StorPortAllocateContiguousMemorySpecifyCacheNode were never freed with "
                        "StorPortFreeContiguousMemorySpecifyCache; the port frees them at removal",
                        b->asked, b->va, (unsigned long long)b->phys);
            ustor_phys_unmap(b->phys);
            free(b->va);
            free(b);
        }
        if (m->reg_buffer) {
            port_report(ad, "StorPortAllocatePool2", NULL,
                        "the registry buffer at %p (%u bytes) from StorPortAllocateRegistryBuffer was never "
                        "freed with StorPortFreeRegistryBuffer", (void *)m->reg_buffer, m->reg_buffer_len);
            free(m->reg_buffer);
            m->reg_buffer = NULL;
        }
    }
    pthread_mutex_unlock(&mem_lock);
    registry_forget_adapter(ad);
    port_bus_release(ad);
    port_side_forget(ad);
}

/* ---- uncached extension ------------------------------------------------------------ */

STORPORT_API PVOID StorPortGetUncachedExtension(PVOID HwDeviceExtension, PPORT_CONFIGURATION_INFORMATION ConfigInfo,
                                                ULONG NumberOfBytes)
{
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, "StorPortGetUncachedExtension");
    if (!ad)
        return NULL;
    struct port_frame *top = port_thread()->top;
    if (!top || top->ad != ad || top->routine != RR_FIND_ADAPTER) {
        port_report(ad, "BadArgument", NULL,
                    "StorPortGetUncachedExtension called from %s; it may only be called from HwStorFindAdapter",
                    top ? rules_routines[top->routine].name : "outside any miniport routine");
        return NULL;
    }
    if (!ConfigInfo || NumberOfBytes == 0) {
        port_report(ad, "BadArgument", NULL,
                    "StorPortGetUncachedExtension: %s; pass the ConfigInfo given to HwStorFindAdapter and a "
                    "size in bytes", !ConfigInfo ? "ConfigInfo is NULL" : "NumberOfBytes is 0");
        return NULL;
    }
    pthread_mutex_lock(&mem_lock);
    struct mem_side *m = mem_side(ad, true);
    void *p = NULL;
    if (m && m->uncached) {
        /* Documented: a second call returns the extension already made. */
        if (NumberOfBytes <= m->uncached_len)
            p = m->uncached;
        else
            port_report(ad, "BadArgument", NULL,
                        "StorPortGetUncachedExtension(%u bytes): an uncached extension of %zu bytes already "
                        "exists and is the only one an adapter gets; ask for the total size in one call",
                        NumberOfBytes, m->uncached_len);
    } else if (m) {
        p = alloc_dma(NumberOfBytes, &m->uncached_len, &m->uncached_phys);
        m->uncached = p;
    }
    pthread_mutex_unlock(&mem_lock);
    return p;
}

/* ---- address translation ---------------------------------------------------------- */

/* Maps the SRB's data buffer once per request; the completion path unmaps
 * r->data_phys.  Returns its physical address or 0. */
static uint64_t map_data_buffer(struct port_request *r, void **buf_out, ULONG *len_out)
{
    void *buf = SrbGetDataBuffer(r->srb);
    ULONG len = SrbGetDataTransferLength(r->srb);
    *buf_out = buf;
    *len_out = len;
    if (!buf || !len)
        return 0;
    if (!r->data_phys)
        r->data_phys = ustor_phys_map(buf, len);
    return r->data_phys;
}

/* SRB extensions live in one pool; it is mapped the first time a miniport
 * asks for the physical address of one (they hold DMA descriptors). */
static uint64_t ext_pool_phys(struct ustor_adapter *ad, const void *va, size_t *contig)
{
    if (!ad->ext_pool || !ad->nr_reqs)
        return 0;
    size_t ext = ((size_t)ad->srb_ext_size + 63) & ~(size_t)63;
    size_t pool = ext * 2 * ad->nr_reqs;
    uintptr_t a = (uintptr_t)va, base = (uintptr_t)ad->ext_pool;
    if (a < base || a >= base + pool)
        return 0;
    pthread_mutex_lock(&mem_lock);
    struct mem_side *m = mem_side(ad, true);
    if (m && !m->ext_pool_phys)
        m->ext_pool_phys = ustor_phys_map(ad->ext_pool, pool);
    uint64_t phys = m ? m->ext_pool_phys : 0;
    pthread_mutex_unlock(&mem_lock);
    if (!phys)
        return 0;
    /* Contiguous to the end of this SRB extension only. */
    size_t off = a - base;
    *contig = ext - off % ext;
    return phys + off;
}

STORPORT_API STOR_PHYSICAL_ADDRESS StorPortGetPhysicalAddress(PVOID HwDeviceExtension, PSCSI_REQUEST_BLOCK Srb,
                                                              PVOID VirtualAddress, ULONG *Length)
{
    STOR_PHYSICAL_ADDRESS pa = { .QuadPart = 0 };
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, "StorPortGetPhysicalAddress");
    if (!Length) {
        if (ad)
            port_report(ad, "BadArgument", Srb, "StorPortGetPhysicalAddress: Length is NULL");
        return pa;
    }
    *Length = 0;
    if (!ad)
        return pa;
    if (Srb) {
        struct port_request *r = port_request_from_srb(ad, Srb);
        if (!r) {
            port_report(ad, "BadArgument", Srb,
                        "StorPortGetPhysicalAddress: Srb %p is not a request the port gave this miniport", (void *)Srb);
            return pa;
        }
        void *buf;
        ULONG len;
        uintptr_t a = (uintptr_t)VirtualAddress;
        uint64_t phys = 0;
        buf = SrbGetDataBuffer(r->srb);
        len = SrbGetDataTransferLength(r->srb);
        if (buf && a >= (uintptr_t)buf && a < (uintptr_t)buf + len) {
            phys = map_data_buffer(r, &buf, &len);
            if (phys) {
                pa.QuadPart = (LONGLONG)(phys + (a - (uintptr_t)buf));
                *Length = len - (ULONG)(a - (uintptr_t)buf);
                return pa;
            }
        }
    }
    size_t contig = 0;
    uint64_t phys = ustor_virt_to_phys(VirtualAddress, &contig);
    if (!phys)
        phys = ext_pool_phys(ad, VirtualAddress, &contig);
    if (!phys) {
        port_report(ad, "BadArgument", Srb,
                    "StorPortGetPhysicalAddress(%p): the address is in no memory a device can reach (the "
                    "uncached extension, contiguous memory, an SRB extension%s); *Length is 0",
                    VirtualAddress, Srb ? ", or this SRB's data buffer" : ", or - with its Srb - an SRB's data buffer");
        return pa;
    }
    pa.QuadPart = (LONGLONG)phys;
    *Length = contig > 0xFFFFFFFFu ? 0xFFFFFFFFu : (ULONG)contig;
    return pa;
}

STORPORT_API PVOID StorPortGetVirtualAddress(PVOID HwDeviceExtension, STOR_PHYSICAL_ADDRESS PhysicalAddress)
{
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, "StorPortGetVirtualAddress");
    if (!ad)
        return NULL;
    void *va = ustor_phys_to_virt((uint64_t)PhysicalAddress.QuadPart, 1);
    if (!va)
        port_report(ad, "BadArgument", NULL,
                    "StorPortGetVirtualAddress(0x%llx): no live mapping holds this physical address; pass an "
                    "address StorPortGetPhysicalAddress returned for memory still allocated",
                    (unsigned long long)PhysicalAddress.QuadPart);
    return va;
}

/* ---- scatter/gather ----------------------------------------------------------------- */

STORPORT_API PSTOR_SCATTER_GATHER_LIST StorPortGetScatterGatherList(PVOID HwDeviceExtension, PSCSI_REQUEST_BLOCK Srb)
{
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, "StorPortGetScatterGatherList");
    if (!ad)
        return NULL;
    struct port_request *r = port_request_from_srb(ad, Srb);
    if (!r) {
        port_report(ad, "BadArgument", Srb,
                    "StorPortGetScatterGatherList: Srb %p is not a request the port gave this miniport", (void *)Srb);
        return NULL;
    }
    void *buf;
    ULONG len;
    uint64_t phys = map_data_buffer(r, &buf, &len);
    if (!buf || !len)
        return NULL;
    if (!phys) {
        port_report(ad, "BadArgument", Srb,
                    "StorPortGetScatterGatherList: the data buffer %p (%u bytes) could not be mapped for DMA",
                    buf, len);
        return NULL;
    }
    /* One element per 4 KiB page the virtual buffer touches, merged when
     * the adapter accepts fewer (NumberOfPhysicalBreaks + 1). */
    uintptr_t a = (uintptr_t)buf;
    size_t pages = ((a + len - 1) / PAGE) - (a / PAGE) + 1;
    size_t max_elems = (size_t)ad->config.NumberOfPhysicalBreaks + 1;
    if (ad->config.NumberOfPhysicalBreaks == SP_UNINITIALIZED_VALUE || max_elems == 0)
        max_elems = PORT_MAX_SG;
    size_t nelem = pages < max_elems ? pages : max_elems;
    size_t pages_per = (pages + nelem - 1) / nelem;
    nelem = (pages + pages_per - 1) / pages_per;

    size_t cap = r->sg ? (size_t)r->sg->Reserved : 0;
    if (!r->sg || cap < nelem) {
        /* Once per request slot: sized for the adapter's largest transfer,
         * so steady-state I/O never allocates. */
        size_t want = (size_t)ad->config.MaximumTransferLength / PAGE + 2;
        if (want > max_elems)
            want = max_elems;
        if (want < nelem)
            want = nelem;
        STOR_SCATTER_GATHER_LIST *sg =
            realloc(r->sg, sizeof(STOR_SCATTER_GATHER_LIST) + want * sizeof(STOR_SCATTER_GATHER_ELEMENT));
        if (!sg) {
            port_report(ad, "BadArgument", Srb, "StorPortGetScatterGatherList: out of memory for %zu elements", want);
            return NULL;
        }
        sg->Reserved = want;
        r->sg = sg;
    }
    STOR_SCATTER_GATHER_LIST *sg = r->sg;
    uintptr_t cur = a, end = a + len;
    ULONG n = 0;
    while (cur < end) {
        uintptr_t stop = (cur / PAGE + pages_per) * PAGE;
        if (stop > end)
            stop = end;
        sg->List[n].PhysicalAddress.QuadPart = (LONGLONG)(phys + (cur - a));
        sg->List[n].Length = (ULONG)(stop - cur);
        sg->List[n].Reserved = 0;
        n++;
        cur = stop;
    }
    sg->NumberOfElements = n;
    return sg;
}

STORPORT_API ULONG StorPortPutScatterGatherList(PVOID HwDeviceExtension, PSTOR_SCATTER_GATHER_LIST ScatterGatherList,
                                                BOOLEAN WriteToDevice)
{
    (void)ScatterGatherList;
    (void)WriteToDevice;
    /* Lists are per request slot and reused; nothing to give back. */
    return port_adapter_or_report(HwDeviceExtension, "StorPortPutScatterGatherList") ? STOR_STATUS_SUCCESS
                                                                                      : STOR_STATUS_INVALID_PARAMETER;
}

STORPORT_API ULONG StorPortGetSystemAddress(PVOID HwDeviceExtension, PSCSI_REQUEST_BLOCK Srb, PVOID *SystemAddress)
{
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, "StorPortGetSystemAddress");
    if (!ad)
        return STOR_STATUS_INVALID_PARAMETER;
    if (!Srb || !SystemAddress) {
        port_report(ad, "BadArgument", Srb, "StorPortGetSystemAddress: %s is NULL", !Srb ? "Srb" : "SystemAddress");
        return STOR_STATUS_INVALID_PARAMETER;
    }
    /* Data buffers are ordinary process memory: the system address is
     * the DataBuffer itself. */
    *SystemAddress = SrbGetDataBuffer(Srb);
    return STOR_STATUS_SUCCESS;
}

STORPORT_API ULONG StorPortGetOriginalMdl(PVOID HwDeviceExtension, PSCSI_REQUEST_BLOCK Srb, PVOID *Mdl)
{
    (void)HwDeviceExtension;
    (void)Srb;
    /* Requests come from host callers, not IRPs: there is no MDL behind a
     * data buffer.  Miniports use StorPortGetSystemAddress or the
     * scatter/gather list instead. */
    if (Mdl)
        *Mdl = NULL;
    return STOR_STATUS_NOT_IMPLEMENTED;
}

/* ---- contiguous memory ---------------------------------------------------------------- */

static bool irql_at_most_dispatch(struct ustor_adapter *ad, const char *api)
{
    KIRQL irql = ukern_irql_get();
    if (irql <= DISPATCH_LEVEL)
        return true;
    port_report(ad, "StorPortIrql", NULL, "%s called at IRQL %u; it requires IRQL <= DISPATCH_LEVEL (2)", api, irql);
    return false;
}

STORPORT_API ULONG StorPortAllocateContiguousMemorySpecifyCacheNode(
    PVOID HwDeviceExtension, SIZE_T NumberOfBytes, PHYSICAL_ADDRESS LowestAcceptableAddress,
    PHYSICAL_ADDRESS HighestAcceptableAddress, PHYSICAL_ADDRESS BoundaryAddressMultiple, MEMORY_CACHING_TYPE CacheType,
    NODE_REQUIREMENT PreferredNode, PVOID *BufferPointer)
{
    static const char api[] = "StorPortAllocateContiguousMemorySpecifyCacheNode";
    (void)CacheType;
    (void)PreferredNode;
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, api);
    if (!ad)
        return STOR_STATUS_INVALID_PARAMETER;
    if (!BufferPointer || NumberOfBytes == 0) {
        port_report(ad, "BadArgument", NULL, "%s: %s", api,
                    !BufferPointer ? "BufferPointer is NULL" : "NumberOfBytes is 0");
        return STOR_STATUS_INVALID_PARAMETER;
    }
    *BufferPointer = NULL;
    if (!irql_at_most_dispatch(ad, api))
        return STOR_STATUS_INVALID_IRQL;
    uint64_t lo = (uint64_t)LowestAcceptableAddress.QuadPart;
    uint64_t hi = (uint64_t)HighestAcceptableAddress.QuadPart;
    uint64_t boundary = (uint64_t)BoundaryAddressMultiple.QuadPart;
    if (boundary && page_round(NumberOfBytes) > boundary)
        return STOR_STATUS_INSUFFICIENT_RESOURCES;
    struct contig_block *b = calloc(1, sizeof(*b));
    if (!b)
        return STOR_STATUS_INSUFFICIENT_RESOURCES;
    /* Each mapping gets fresh physical space, so a few tries can satisfy
     * a boundary; an address range below the window never can. */
    for (int attempt = 0; attempt < 4; attempt++) {
        b->va = alloc_dma(NumberOfBytes, &b->len, &b->phys);
        if (!b->va)
            break;
        uint64_t last = b->phys + b->len - 1;
        bool range_ok = b->phys >= lo && last <= hi;
        bool boundary_ok = !boundary || b->phys / boundary == last / boundary;
        if (range_ok && boundary_ok)
            break;
        ustor_phys_unmap(b->phys);
        free(b->va);
        b->va = NULL;
        if (!range_ok)
            break;
    }
    if (!b->va) {
        free(b);
        return STOR_STATUS_INSUFFICIENT_RESOURCES;
    }
    b->asked = NumberOfBytes;
    pthread_mutex_lock(&mem_lock);
    struct mem_side *m = mem_side(ad, true);
    if (m) {
        b->next = m->contig;
        m->contig = b;
    }
    pthread_mutex_unlock(&mem_lock);
    if (!m) {
        ustor_phys_unmap(b->phys);
        free(b->va);
        free(b);
        return STOR_STATUS_INSUFFICIENT_RESOURCES;
    }
    *BufferPointer = b->va;
    return STOR_STATUS_SUCCESS;
}

STORPORT_API ULONG StorPortFreeContiguousMemorySpecifyCache(PVOID HwDeviceExtension, PVOID BaseAddress,
                                                            SIZE_T NumberOfBytes, MEMORY_CACHING_TYPE CacheType)
{
    static const char api[] = "StorPortFreeContiguousMemorySpecifyCache";
    (void)CacheType;
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, api);
    if (!ad)
        return STOR_STATUS_INVALID_PARAMETER;
    if (!irql_at_most_dispatch(ad, api))
        return STOR_STATUS_INVALID_IRQL;
    struct contig_block *b = NULL;
    pthread_mutex_lock(&mem_lock);
    struct mem_side *m = mem_side(ad, false);
    for (struct contig_block **pp = m ? &m->contig : NULL; pp && *pp; pp = &(*pp)->next)
        if ((*pp)->va == BaseAddress) {
            b = *pp;
            *pp = b->next;
            break;
        }
    pthread_mutex_unlock(&mem_lock);
    if (!b) {
        port_report(ad, "BadArgument", NULL,
                    "%s(%p): not a block StorPortAllocateContiguousMemorySpecifyCacheNode returned to this "
                    "adapter, or already freed", api, BaseAddress);
        return STOR_STATUS_INVALID_PARAMETER;
    }
    if (NumberOfBytes != b->asked)
        port_report(ad, "BadArgument", NULL, "%s(%p): NumberOfBytes is %zu but the block was allocated with %zu",
                    api, BaseAddress, (size_t)NumberOfBytes, b->asked);
    ustor_phys_unmap(b->phys);
    free(b->va);
    free(b);
    return STOR_STATUS_SUCCESS;
}

/* ---- conversions, moves ---------------------------------------------------------------- */

STORPORT_API STOR_PHYSICAL_ADDRESS StorPortConvertUlongToPhysicalAddress(ULONG_PTR UlongAddress)
{
    STOR_PHYSICAL_ADDRESS pa;
    pa.QuadPart = (LONGLONG)UlongAddress;
    return pa;
}

STORPORT_API ULONG StorPortConvertPhysicalAddressToUlong(STOR_PHYSICAL_ADDRESS Address)
{
    return Address.LowPart;
}

STORPORT_API VOID StorPortMoveMemory(PVOID WriteBuffer, PVOID ReadBuffer, ULONG Length)
{
    if (Length)
        memmove(WriteBuffer, ReadBuffer, Length);
}

STORPORT_API VOID StorPortCopyMemory(PVOID Destination, PVOID Source, ULONG Length)
{
    /* Documented to allow overlap like RtlMoveMemory. */
    if (Length)
        memmove(Destination, Source, Length);
}

/* ---- time, processors, spin lock words ----------------------------------------------------- */

STORPORT_API VOID StorPortQuerySystemTime(PLARGE_INTEGER CurrentTime)
{
    if (CurrentTime)
        KeQuerySystemTime(CurrentTime);
}

STORPORT_API ULONG StorPortQueryPerformanceCounter(PVOID HwDeviceExtension, PLARGE_INTEGER PerformanceFrequency,
                                                   PLARGE_INTEGER PerformanceCounter)
{
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, "StorPortQueryPerformanceCounter");
    if (!ad)
        return STOR_STATUS_INVALID_PARAMETER;
    if (!PerformanceCounter) {
        port_report(ad, "BadArgument", NULL, "StorPortQueryPerformanceCounter: PerformanceCounter is NULL");
        return STOR_STATUS_INVALID_PARAMETER;
    }
    *PerformanceCounter = KeQueryPerformanceCounter(PerformanceFrequency);
    return STOR_STATUS_SUCCESS;
}

STORPORT_API ULONG StorPortGetCurrentProcessorNumber(PVOID HwDeviceExtension, PPROCESSOR_NUMBER ProcNumber)
{
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, "StorPortGetCurrentProcessorNumber");
    if (!ad)
        return STOR_STATUS_INVALID_PARAMETER;
    if (!ProcNumber) {
        port_report(ad, "BadArgument", NULL, "StorPortGetCurrentProcessorNumber: ProcNumber is NULL");
        return STOR_STATUS_INVALID_PARAMETER;
    }
    KeGetCurrentProcessorNumberEx(ProcNumber);
    return STOR_STATUS_SUCCESS;
}

STORPORT_API ULONG StorPortInitializeSpinlock(PVOID HwDeviceExtension, PSTOR_KSPIN_LOCK Lock)
{
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, "StorPortInitializeSpinlock");
    if (!ad)
        return STOR_STATUS_INVALID_PARAMETER;
    if (!Lock) {
        port_report(ad, "BadArgument", NULL, "StorPortInitializeSpinlock: Lock is NULL");
        return STOR_STATUS_INVALID_PARAMETER;
    }
    *Lock = 0; /* the unlocked lock word */
    return STOR_STATUS_SUCCESS;
}

STORPORT_API ULONG StorPortGetStartIoPerfParams(PVOID HwDeviceExtension, PSCSI_REQUEST_BLOCK Srb,
                                                PSTARTIO_PERFORMANCE_PARAMETERS StartIoPerfParams)
{
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, "StorPortGetStartIoPerfParams");
    if (!ad)
        return STOR_STATUS_INVALID_PARAMETER;
    if (!Srb || !StartIoPerfParams) {
        port_report(ad, "BadArgument", Srb, "StorPortGetStartIoPerfParams: %s is NULL",
                    !Srb ? "Srb" : "StartIoPerfParams");
        return STOR_STATUS_INVALID_PARAMETER;
    }
    if (!port_request_from_srb(ad, Srb)) {
        port_report(ad, "BadArgument", Srb,
                    "StorPortGetStartIoPerfParams: Srb %p is not a request the port gave this miniport", (void *)Srb);
        return STOR_STATUS_INVALID_PARAMETER;
    }
    if (StartIoPerfParams->Size < sizeof(STARTIO_PERFORMANCE_PARAMETERS)) {
        port_report(ad, "BadArgument", Srb,
                    "StorPortGetStartIoPerfParams: StartIoPerfParams->Size is %u; set it to "
                    "sizeof(STARTIO_PERFORMANCE_PARAMETERS) = %zu", StartIoPerfParams->Size,
                    sizeof(STARTIO_PERFORMANCE_PARAMETERS));
        return STOR_STATUS_INVALID_PARAMETER;
    }
    ULONG cpu = ukern_current_cpu();
    ULONG msg = 0, channel = 0;
    /* The message of the submitting CPU (completions stay local), inside
     * the redirection range if the miniport set one. */
    if (ad->msi && ad->nr_messages > 0) {
        ULONG first = 0, count = ad->nr_messages;
        if (ad->perf_set && (ad->perf.Flags & STOR_PERF_INTERRUPT_MESSAGE_RANGES) &&
            ad->perf.LastRedirectionMessageNumber >= ad->perf.FirstRedirectionMessageNumber &&
            ad->perf.LastRedirectionMessageNumber < ad->nr_messages) {
            first = ad->perf.FirstRedirectionMessageNumber;
            count = ad->perf.LastRedirectionMessageNumber - first + 1;
        }
        msg = first + cpu % count;
    }
    if (port_mode(ad) == USTOR_SYNC_CONCURRENT && ad->perf.ConcurrentChannels > 0)
        channel = cpu % ad->perf.ConcurrentChannels;
    StartIoPerfParams->Version = STOR_PERF_VERSION;
    StartIoPerfParams->MessageNumber = msg;
    StartIoPerfParams->ChannelNumber = channel;
    return STOR_STATUS_SUCCESS;
}

/* ---- registry ------------------------------------------------------------------------------ */

static bool registry_irql_ok(struct ustor_adapter *ad, const char *api)
{
    KIRQL irql = ukern_irql_get();
    if (irql == PASSIVE_LEVEL)
        return true;
    port_report(ad, "StorPortIrql", NULL, "%s called at IRQL %u; it requires PASSIVE_LEVEL (0)", api, irql);
    return false;
}

STORPORT_API PUCHAR StorPortAllocateRegistryBuffer(PVOID HwDeviceExtension, PULONG Length)
{
    static const char api[] = "StorPortAllocateRegistryBuffer";
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, api);
    if (!ad || !registry_irql_ok(ad, api))
        return NULL;
    if (!Length || *Length == 0) {
        port_report(ad, "BadArgument", NULL, "%s: %s", api, !Length ? "Length is NULL" : "*Length is 0");
        return NULL;
    }
    PUCHAR buf = NULL;
    pthread_mutex_lock(&mem_lock);
    struct mem_side *m = mem_side(ad, true);
    if (m && m->reg_buffer) {
        pthread_mutex_unlock(&mem_lock);
        port_report(ad, "BadArgument", NULL,
                    "%s: this adapter already has a registry buffer (%p); only one may be allocated at a "
                    "time, free it with StorPortFreeRegistryBuffer first", api, (void *)m->reg_buffer);
        return NULL;
    }
    if (m) {
        buf = calloc(1, *Length);
        m->reg_buffer = buf;
        m->reg_buffer_len = buf ? *Length : 0;
    }
    pthread_mutex_unlock(&mem_lock);
    return buf;
}

STORPORT_API VOID StorPortFreeRegistryBuffer(PVOID HwDeviceExtension, PUCHAR Buffer)
{
    static const char api[] = "StorPortFreeRegistryBuffer";
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, api);
    if (!ad)
        return;
    pthread_mutex_lock(&mem_lock);
    struct mem_side *m = mem_side(ad, false);
    bool ok = m && Buffer && m->reg_buffer == Buffer;
    if (ok) {
        free(m->reg_buffer);
        m->reg_buffer = NULL;
        m->reg_buffer_len = 0;
    }
    pthread_mutex_unlock(&mem_lock);
    if (!ok)
        port_report(ad, "BadArgument", NULL,
                    "%s(%p): not this adapter's registry buffer from StorPortAllocateRegistryBuffer (or freed "
                    "already)", api, (void *)Buffer);
}

/* The registry buffer check shared by read and write; *cap gets its size. */
static bool registry_buffer_ok(struct ustor_adapter *ad, const char *api, PUCHAR Buffer, ULONG *cap)
{
    pthread_mutex_lock(&mem_lock);
    struct mem_side *m = mem_side(ad, false);
    bool ok = m && Buffer && m->reg_buffer == Buffer;
    *cap = ok ? m->reg_buffer_len : 0;
    pthread_mutex_unlock(&mem_lock);
    if (!ok)
        port_report(ad, "BadArgument", NULL,
                    "%s: Buffer %p was not allocated with StorPortAllocateRegistryBuffer for this adapter",
                    api, (void *)Buffer);
    return ok;
}

static bool registry_name_ok(struct ustor_adapter *ad, const char *api, PUCHAR ValueName)
{
    if (ValueName && ValueName[0] && strlen((const char *)ValueName) < sizeof(((struct reg_value *)0)->name))
        return true;
    port_report(ad, "BadArgument", NULL, "%s: ValueName is %s; pass a NUL-terminated name of 1 to %zu characters",
                api, !ValueName ? "NULL" : !ValueName[0] ? "empty" : "too long",
                sizeof(((struct reg_value *)0)->name) - 1);
    return false;
}

static struct reg_value *registry_find(struct ustor_adapter *ad, const char *name, bool global)
{
    for (struct reg_value *v = registry; v; v = v->next)
        if (strcmp(v->name, name) == 0 &&
            (global ? (v->ad == NULL && strcmp(v->driver, ad->drv->name) == 0) : v->ad == ad))
            return v;
    return NULL;
}

STORPORT_API BOOLEAN StorPortRegistryRead(PVOID HwDeviceExtension, PUCHAR ValueName, ULONG Global, ULONG Type,
                                          PUCHAR Buffer, PULONG BufferLength)
{
    static const char api[] = "StorPortRegistryRead";
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, api);
    ULONG cap;
    if (!ad || !registry_irql_ok(ad, api) || !registry_name_ok(ad, api, ValueName) ||
        !registry_buffer_ok(ad, api, Buffer, &cap))
        return FALSE;
    if (!BufferLength) {
        port_report(ad, "BadArgument", NULL, "%s: BufferLength is NULL", api);
        return FALSE;
    }
    ULONG room = *BufferLength < cap ? *BufferLength : cap;
    BOOLEAN found = FALSE;
    pthread_mutex_lock(&reg_lock);
    struct reg_value *v = registry_find(ad, (const char *)ValueName, Global != 0);
    if (v && v->type == Type) {
        *BufferLength = v->len;
        if (v->len <= room) {
            memcpy(Buffer, v->data, v->len);
            found = TRUE;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return found;
}

STORPORT_API BOOLEAN StorPortRegistryWrite(PVOID HwDeviceExtension, PUCHAR ValueName, ULONG Global, ULONG Type,
                                           PUCHAR Buffer, ULONG BufferLength)
{
    static const char api[] = "StorPortRegistryWrite";
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, api);
    ULONG cap;
    if (!ad || !registry_irql_ok(ad, api) || !registry_name_ok(ad, api, ValueName) ||
        !registry_buffer_ok(ad, api, Buffer, &cap))
        return FALSE;
    if (BufferLength > cap) {
        port_report(ad, "BadArgument", NULL, "%s: BufferLength %u is larger than the registry buffer (%u bytes)",
                    api, BufferLength, cap);
        return FALSE;
    }
    struct reg_value *nv = calloc(1, sizeof(*nv) + BufferLength);
    if (!nv)
        return FALSE;
    snprintf(nv->driver, sizeof(nv->driver), "%s", ad->drv->name);
    nv->ad = Global ? NULL : ad;
    snprintf(nv->name, sizeof(nv->name), "%s", (const char *)ValueName);
    nv->type = Type;
    nv->len = BufferLength;
    memcpy(nv->data, Buffer, BufferLength);
    pthread_mutex_lock(&reg_lock);
    struct reg_value *old = registry_find(ad, nv->name, Global != 0);
    for (struct reg_value **pp = &registry; old && *pp; pp = &(*pp)->next)
        if (*pp == old) {
            *pp = old->next;
            free(old);
            break;
        }
    nv->next = registry;
    registry = nv;
    pthread_mutex_unlock(&reg_lock);
    return TRUE;
}

/* ---- debug output ---------------------------------------------------------------------------- */

static int debug_level(void)
{
    static volatile int level = -1;
    int l = __atomic_load_n(&level, __ATOMIC_RELAXED);
    if (l < 0) {
        const char *e = getenv("USTOR_DEBUG_LEVEL");
        l = e && *e ? atoi(e) : 0;
        if (l < 0)
            l = 0;
        __atomic_store_n(&level, l, __ATOMIC_RELAXED);
    }
    return l;
}

STORPORT_API VOID StorPortDebugPrint(ULONG DebugPrintLevel, PCSTR DebugMessage, ...)
{
    if (!DebugMessage || DebugPrintLevel > (ULONG)debug_level())
        return;
    char text[1024];
    va_list ap;
    va_start(ap, DebugMessage);
    vsnprintf(text, sizeof(text), DebugMessage, ap);
    va_end(ap);
    struct port_frame *top = port_thread()->top;
    size_t n = strlen(text);
    /* One write per message so lines from several threads do not mix. */
    if (top && top->ad)
        fprintf(stderr, "[%s] %s%s", top->ad->name, text, n && text[n - 1] == '\n' ? "" : "\n");
    else
        fprintf(stderr, "%s%s", text, n && text[n - 1] == '\n' ? "" : "\n");
}

/* ---- stall, processor count, error log ------------------------------------------------------- */

STORPORT_API VOID StorPortStallExecution(ULONG Delay)
{
    /* Busy-waits like the real one; the kernel layer's stall hook lets
     * the verifier see long stalls. */
    KeStallExecutionProcessor(Delay);
}

STORPORT_API ULONG StorPortGetProcessorCount(PVOID HwDeviceExtension, PULONG ProcessorCount)
{
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, "StorPortGetProcessorCount");
    if (!ad)
        return STOR_STATUS_INVALID_PARAMETER;
    if (!ProcessorCount) {
        port_report(ad, "BadArgument", NULL, "StorPortGetProcessorCount: ProcessorCount is NULL");
        return STOR_STATUS_INVALID_PARAMETER;
    }
    /* The adapter's simulated CPUs (what its DPCs and interrupts run on). */
    *ProcessorCount = ukern_cpu_count();
    return STOR_STATUS_SUCCESS;
}

static const char *log_error_name(ULONG code)
{
    static const char *const names[] = {
        NULL, "SP_BUS_PARITY_ERROR", "SP_UNEXPECTED_DISCONNECT", "SP_INVALID_RESELECTION",
        "SP_BUS_TIME_OUT", "SP_PROTOCOL_ERROR", "SP_INTERNAL_ADAPTER_ERROR", "SP_REQUEST_TIMEOUT",
        "SP_IRQ_NOT_RESPONDING", "SP_BAD_FW_WARNING", "SP_BAD_FW_ERROR", "SP_LOST_WMI_MINIPORT_REQUEST",
    };
    return code < sizeof(names) / sizeof(names[0]) && names[code] ? names[code] : "miniport-defined";
}

STORPORT_API VOID StorPortLogError(PVOID HwDeviceExtension, PSCSI_REQUEST_BLOCK Srb, UCHAR PathId, UCHAR TargetId,
                                   UCHAR Lun, ULONG ErrorCode, ULONG UniqueId)
{
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, "StorPortLogError");
    if (!ad)
        return;
    port_report(ad, "StorPortDeprecated", Srb,
                "StorPortLogError is deprecated (SDV StorPortDeprecated); the entry still goes to stderr");
    /* No event log here: the entry goes to stderr, like a level-0 debug print. */
    char srb_text[40] = "";
    if (Srb)
        snprintf(srb_text, sizeof(srb_text), " srb %p", (void *)Srb);
    fprintf(stderr, "[%s] StorPortLogError: %u/%u/%u %s (0x%x) unique id 0x%x%s\n", ad->name, PathId, TargetId, Lun,
            log_error_name(ErrorCode), ErrorCode, UniqueId, srb_text);
}
