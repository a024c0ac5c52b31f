/*
 * pool.c - StorPortAllocatePool / StorPortFreePool with the bookkeeping
 * the SDV pool rules need: live blocks per adapter (leaks at removal,
 * StorPortAllocatePool2), and recently freed blocks (double free,
 * StorPortAllocatePool).  The block memory itself is never read after it
 * was freed.
 */
#include "port/port.h"

#include <stdlib.h>
#include <string.h>

struct port_pool_block {
    struct port_pool_block *next;
    void *p;
    size_t size;
    ULONG tag;
    const char *routine;
};

#define FREED_RING 256
static void *freed_ring[FREED_RING];
static unsigned freed_pos;
static KSPIN_LOCK freed_lock;

static bool live_has(struct ustor_adapter *ad, const void *p)
{
    for (struct port_pool_block *b = ad->pool_list; b; b = b->next)
        if (b->p == p)
            return true;
    return false;
}

static bool recently_freed(const void *p)
{
    bool hit = false;
    ukern_spin_acquire_raw(&freed_lock);
    for (unsigned i = 0; i < FREED_RING; i++)
        if (freed_ring[i] == p)
            hit = true;
    ukern_spin_release_raw(&freed_lock);
    return hit;
}

static void tag_str(ULONG tag, char out[5])
{
    for (int i = 0; i < 4; i++) {
        char c = (char)((tag >> (8 * i)) & 0xff);
        out[i] = (c >= 32 && c < 127) ? c : '.';
    }
    out[4] = '\0';
}

STORPORT_API ULONG StorPortAllocatePool(PVOID HwDeviceExtension, ULONG NumberOfBytes, ULONG Tag,
                                        PVOID *BufferPointer)
{
    struct ustor_adapter *ad = port_adapter_from_devext(HwDeviceExtension);
    if (!ad || !BufferPointer) {
        port_report(ad, "BadArgument", NULL, "StorPortAllocatePool: %s",
                    !ad ? "HwDeviceExtension is not a device extension" : "BufferPointer is NULL");
        return STOR_STATUS_INVALID_PARAMETER;
    }
    struct port_frame *top = port_thread()->top;
    /* Half-duplex StartIo runs at DIRQL: one report, naming the cause. */
    bool half_startio = top && top->routine == RR_STARTIO && port_mode(ad) == USTOR_SYNC_HALF_DUPLEX;
    if (half_startio)
        port_report(ad, "HalfDuplexStartIo", top->srb,
                    "StorPortAllocatePool in half-duplex HwStorStartIo (SPEC S5.4)");
    if (ukern_irql_get() > DISPATCH_LEVEL) {
        if (!half_startio)
            port_report(ad, "StorPortIrql", NULL, "StorPortAllocatePool at IRQL %u; allowed at <= DISPATCH_LEVEL",
                        ukern_irql_get());
        *BufferPointer = NULL;
        return STOR_STATUS_INVALID_IRQL;
    }
    ukern_spin_acquire_raw(&ad->pool_lock);
    bool overwrite = *BufferPointer && live_has(ad, *BufferPointer);
    ukern_spin_release_raw(&ad->pool_lock);
    if (overwrite)
        port_report(ad, "StorPortAllocatePool2", NULL,
                    "StorPortAllocatePool into a variable that still holds the live allocation %p; "
                    "free it first or it leaks", *BufferPointer);
    struct port_pool_block *b = malloc(sizeof(*b));
    void *p = b ? calloc(1, NumberOfBytes ? NumberOfBytes : 1) : NULL;
    if (!p) {
        free(b);
        *BufferPointer = NULL;
        return STOR_STATUS_INSUFFICIENT_RESOURCES;
    }
    b->p = p;
    b->size = NumberOfBytes;
    b->tag = Tag;
    b->routine = top ? rules_routines[top->routine].name : "(outside a miniport routine)";
    ukern_spin_acquire_raw(&ad->pool_lock);
    b->next = ad->pool_list;
    ad->pool_list = b;
    ukern_spin_release_raw(&ad->pool_lock);
    *BufferPointer = p;
    return STOR_STATUS_SUCCESS;
}

STORPORT_API ULONG StorPortFreePool(PVOID HwDeviceExtension, PVOID BufferPointer)
{
    struct ustor_adapter *ad = port_adapter_from_devext(HwDeviceExtension);
    if (!ad) {
        port_report(NULL, "BadArgument", NULL, "StorPortFreePool: HwDeviceExtension is not a device extension");
        return STOR_STATUS_INVALID_PARAMETER;
    }
    if (ukern_irql_get() > DISPATCH_LEVEL)
        port_report(ad, "StorPortIrql", NULL, "StorPortFreePool at IRQL %u; allowed at <= DISPATCH_LEVEL",
                    ukern_irql_get());
    ukern_spin_acquire_raw(&ad->pool_lock);
    struct port_pool_block **pp = &ad->pool_list, *b = NULL;
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->p == BufferPointer) {
            b = *pp;
            *pp = b->next;
            break;
        }
    ukern_spin_release_raw(&ad->pool_lock);
    if (!b) {
        bool twice = BufferPointer && recently_freed(BufferPointer);
        port_report(ad, "StorPortAllocatePool", NULL,
                    "StorPortFreePool(%p): %s", BufferPointer,
                    twice ? "this buffer was already freed (double free)"
                          : "not a buffer StorPortAllocatePool returned to this adapter");
        return STOR_STATUS_INVALID_PARAMETER;
    }
    ukern_spin_acquire_raw(&freed_lock);
    freed_ring[freed_pos++ % FREED_RING] = b->p;
    ukern_spin_release_raw(&freed_lock);
    free(b->p);
    free(b);
    return STOR_STATUS_SUCCESS;
}

void port_pool_check_leaks(struct ustor_adapter *ad)
{
    for (struct port_pool_block *b = ad->pool_list; b; b = b->next) {
        char tag[5];
        tag_str(b->tag, tag);
        port_report(ad, "StorPortAllocatePool2", NULL,
                    "pool block %p (%zu bytes, tag '%s', allocated in %s) was never freed before the "
                    "adapter was removed", b->p, b->size, tag, b->routine);
    }
}

void port_pool_release_all(struct ustor_adapter *ad)
{
    struct port_pool_block *b = ad->pool_list;
    while (b) {
        struct port_pool_block *next = b->next;
        free(b->p);
        free(b);
        b = next;
    }
    ad->pool_list = NULL;
}
