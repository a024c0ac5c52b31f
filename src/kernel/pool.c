/*
 * pool.c - ExAllocatePool* / ExFreePool* over malloc.
 *
 * Every block carries a header just below the returned pointer with its
 * tag and size, so ExFreePoolWithTag can check the tag and the verifier's
 * hooks get the size.  Blocks of PAGE_SIZE or more are page aligned and
 * smaller ones are 16-byte aligned, as Windows' pool guarantees (DMA-minded
 * miniports rely on it).
 */
#include <stdlib.h>

#include "ukern_internal.h"

#define POOL_MAGIC 0x4C4F4F50u /* "POOL" */
#define POOL_FREED 0x45455246u /* "FREE" */

struct pool_header {
    void *base;   /* what free() takes */
    SIZE_T size;
    ULONG tag;
    ULONG magic;
    ULONG type;   /* POOL_TYPE, or 0x80000000 | low POOL_FLAGS for Pool2 */
    ULONG pad;
    struct pool_header *next_live; /* live-block hash chain */
    void *pad2;
};
_Static_assert(sizeof(struct pool_header) % 16 == 0, "keeps 16-byte alignment");

/* Live blocks, so that a free of a block already freed (or never
 * allocated) is recognised without reading the memory behind it. */
#define LIVE_BUCKETS 1024
static struct pool_header *live[LIVE_BUCKETS];
static KSPIN_LOCK live_lock;

static unsigned live_bucket(const void *p)
{
    return (unsigned)(((uintptr_t)p >> 4) * 2654435761u) % LIVE_BUCKETS;
}

static void live_insert(struct pool_header *h, void *p)
{
    unsigned b = live_bucket(p);
    ukern_spin_acquire_raw(&live_lock);
    h->next_live = live[b];
    live[b] = h;
    ukern_spin_release_raw(&live_lock);
}

/* Unlinks and returns p's header, or NULL if p is not a live block. */
static struct pool_header *live_remove(const void *p)
{
    unsigned b = live_bucket(p);
    struct pool_header *found = NULL;
    ukern_spin_acquire_raw(&live_lock);
    for (struct pool_header **pp = &live[b]; *pp; pp = &(*pp)->next_live)
        if ((const char *)*pp + sizeof(struct pool_header) == (const char *)p) {
            found = *pp;
            *pp = found->next_live;
            break;
        }
    ukern_spin_release_raw(&live_lock);
    return found;
}

#define DEFAULT_TAG 0x656E6F4E /* 'None', as the WDK's ExAllocatePool uses */

static void *pool_alloc(SIZE_T size, ULONG tag, ULONG type, bool zero,
                        const char *api)
{
    const SIZE_T hdr = sizeof(struct pool_header);
    SIZE_T align = size >= PAGE_SIZE ? PAGE_SIZE : 16;
    SIZE_T lead = align > hdr ? align : hdr;
    SIZE_T want = size ? size : 1;
    if (want > SIZE_MAX - lead)
        return NULL;
    void *base = NULL;
    if (posix_memalign(&base, align, lead + want) != 0)
        return NULL;
    char *p = (char *)base + lead;
    struct pool_header *h = (struct pool_header *)(p - hdr);
    h->base = base;
    h->size = size;
    h->tag = tag;
    h->magic = POOL_MAGIC;
    h->type = type;
    h->pad = 0;
    live_insert(h, p);
    if (zero)
        memset(p, 0, want);
    if (ukern_hooks.pool_alloc)
        ukern_hooks.pool_alloc(p, size, tag, api);
    return p;
}

static void check_alloc_irql(bool paged, const char *api)
{
    KIRQL irql = KeGetCurrentIrql();
    if (irql > DISPATCH_LEVEL)
        ukern_violation("IrqlExAllocatePool", api,
                        "called at IRQL %u; must be <= DISPATCH_LEVEL", irql);
    else if (paged && irql > APC_LEVEL)
        ukern_violation("IrqlExAllocatePool", api,
                        "paged pool requested at IRQL %u; paged pool needs "
                        "IRQL <= APC_LEVEL",
                        irql);
}

static bool pool_type_valid(POOL_TYPE t)
{
    switch ((int)t) {
    case NonPagedPool:
    case PagedPool:
    case NonPagedPoolMustSucceed:
    case NonPagedPoolCacheAligned:
    case PagedPoolCacheAligned:
    case NonPagedPoolCacheAlignedMustS:
    case NonPagedPoolSession:
    case PagedPoolSession:
    case NonPagedPoolMustSucceedSession:
    case NonPagedPoolCacheAlignedSession:
    case PagedPoolCacheAlignedSession:
    case NonPagedPoolCacheAlignedMustSSession:
    case NonPagedPoolNx:
    case NonPagedPoolNxCacheAligned:
    case NonPagedPoolSessionNx:
        return true;
    default:
        return false;
    }
}

PVOID ExAllocatePoolWithTag(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag)
{
    UKERN_API_ENTRY(ExAllocatePoolWithTag);
    if (!pool_type_valid(PoolType)) {
        ukern_violation("ExAllocatePool-Type", "ExAllocatePoolWithTag",
                        "PoolType %d is not a POOL_TYPE value (e.g. "
                        "NonPagedPoolNx 512, PagedPool 1); allocation refused",
                        (int)PoolType);
        return NULL;
    }
    bool paged = ((int)PoolType & 1) != 0 && (int)PoolType < 512;
    check_alloc_irql(paged, "ExAllocatePoolWithTag");
    if (NumberOfBytes == 0)
        ukern_violation("ExAllocatePool-Size", "ExAllocatePoolWithTag",
                        "NumberOfBytes is 0");
    return pool_alloc(NumberOfBytes, Tag, (ULONG)PoolType, false,
                      "ExAllocatePoolWithTag");
}

PVOID ExAllocatePool(POOL_TYPE PoolType, SIZE_T NumberOfBytes)
{
    UKERN_API_ENTRY(ExAllocatePool);
    return ExAllocatePoolWithTag(PoolType, NumberOfBytes, DEFAULT_TAG);
}

PVOID ExAllocatePool2(POOL_FLAGS Flags, SIZE_T NumberOfBytes, ULONG Tag)
{
    UKERN_API_ENTRY(ExAllocatePool2);
    const POOL_FLAGS kinds =
        POOL_FLAG_NON_PAGED | POOL_FLAG_NON_PAGED_EXECUTE | POOL_FLAG_PAGED;
    const POOL_FLAGS known_required =
        POOL_FLAG_USE_QUOTA | POOL_FLAG_UNINITIALIZED | POOL_FLAG_SESSION |
        POOL_FLAG_CACHE_ALIGNED | POOL_FLAG_RAISE_ON_FAILURE | kinds;
    POOL_FLAGS kind = Flags & kinds;
    if (kind == 0 || (kind & (kind - 1)) != 0) {
        ukern_violation("ExAllocatePool2-Flags", "ExAllocatePool2",
                        "Flags 0x%llx must contain exactly one of "
                        "POOL_FLAG_NON_PAGED, POOL_FLAG_NON_PAGED_EXECUTE, "
                        "POOL_FLAG_PAGED; allocation refused",
                        (unsigned long long)Flags);
        return NULL;
    }
    POOL_FLAGS unknown = Flags & 0xFFFFFFFFull & ~known_required;
    if (unknown) {
        ukern_violation("ExAllocatePool2-Flags", "ExAllocatePool2",
                        "required flag bits 0x%llx are not POOL_FLAG_* "
                        "values; allocation refused",
                        (unsigned long long)unknown);
        return NULL;
    }
    if (Tag == 0)
        ukern_violation("ExAllocatePool2-Tag", "ExAllocatePool2",
                        "Tag is 0; use a nonzero four-character tag");
    check_alloc_irql(kind == POOL_FLAG_PAGED, "ExAllocatePool2");
    /* ExAllocatePool2 zeroes unless asked not to. */
    return pool_alloc(NumberOfBytes, Tag, 0x80000000u | (ULONG)(Flags & 0xFFFF),
                      (Flags & POOL_FLAG_UNINITIALIZED) == 0, "ExAllocatePool2");
}

static void pool_free(PVOID p, bool check_tag, ULONG tag, const char *api)
{
    KIRQL irql = KeGetCurrentIrql();
    if (irql > DISPATCH_LEVEL)
        ukern_violation("IrqlExFreePool", api,
                        "called at IRQL %u; must be <= DISPATCH_LEVEL", irql);
    if (!p) {
        ukern_violation("ExFreePool-Null", api,
                        "P is NULL; pass a pointer ExAllocatePool* returned");
        return;
    }
    struct pool_header *h = live_remove(p);
    if (!h || h->magic != POOL_MAGIC) {
        ukern_violation("ExFreePool-Invalid", api,
                        "%p was not returned by ExAllocatePool* (or was "
                        "already freed); not freed",
                        p);
        return;
    }
    if (check_tag && h->tag != tag)
        ukern_violation("ExFreePoolWithTag-Tag", api,
                        "Tag 0x%08x does not match the allocation's tag "
                        "0x%08x",
                        tag, h->tag);
    if (ukern_hooks.pool_free)
        ukern_hooks.pool_free(p, api);
    h->magic = POOL_FREED;
    free(h->base);
}

VOID ExFreePool(PVOID P)
{
    UKERN_API_ENTRY(ExFreePool);
    pool_free(P, false, 0, "ExFreePool");
}

VOID ExFreePoolWithTag(PVOID P, ULONG Tag)
{
    UKERN_API_ENTRY(ExFreePoolWithTag);
    pool_free(P, true, Tag, "ExFreePoolWithTag");
}
