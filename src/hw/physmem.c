/*
 * physmem.c - simulated physical address space (see physmem.h).
 *
 * Two sorted arrays (by physical base and by process address) under a
 * reader/writer lock: lookups sit on every device DMA and are far more
 * frequent than map/unmap, so readers must not serialize.
 *
 * Address space is handed out by a cursor that goes round the window:
 * a freed range is reused only once the cursor has gone all the way
 * round (1 TiB of mappings later), so a stale physical address faults
 * for as long as possible, and a run that maps per I/O never runs out
 * (it did after 2^27 mappings, some 17 minutes of virtio I/O, while the
 * cursor only grew).  Past the end the cursor wraps and skips what is
 * still mapped or reserved.
 */
#include "physmem.h"
#include "util/cpu_relax.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct phys_range {
    uint64_t phys;  /* physical address of va */
    uintptr_t va;
    size_t len;
};

/* Writer-preferring: a stream of device lookups must not starve the
 * driver's map/unmap.  (No code path takes the read lock twice on one
 * thread, which this kind of lock would deadlock on.) */
static pthread_rwlock_t g_lock;
static pthread_once_t g_lock_once = PTHREAD_ONCE_INIT;
static struct phys_range *g_by_phys;
static struct phys_range *g_by_va;
static size_t g_count, g_cap;
/* Longest mapping ever made: bounds the backward scan in virt_to_phys. */
static size_t g_max_len;
/* Where the next range's search starts, and the end of the window the
 * cursor goes round (smaller only in tests: ustor_phys_limit_window). */
static uint64_t g_next = USTOR_PHYS_WINDOW_BASE;
static uint64_t g_end = USTOR_PHYS_WINDOW_BASE + USTOR_PHYS_WINDOW_SIZE;
/* Reserved ranges (device BARs), sorted by base; never freed. */
struct phys_span {
    uint64_t lo, hi;
};
static struct phys_span *g_reserved;
static size_t g_nr_reserved, g_cap_reserved;
_Atomic(ustor_phys_fault_fn) ustor_phys_fault_hook;
static atomic_uint_least64_t g_faults;

static void init_lock(void)
{
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
#ifdef PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    pthread_rwlock_init(&g_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
}

/* Both sides hold the lock for a short copy or a small array update:
 * spinning a little first keeps a thread from going to sleep in the
 * kernel (and its unlocker from a futex wake-up) at nearly every
 * map/unmap that meets a DMA, which was a tenth of the interrupt path's
 * time.  A holder that got preempted still costs a sleep, not a spin. */
#define LOCK_SPINS 200

static void lock_with(int (*try_lock)(pthread_rwlock_t *), int (*block)(pthread_rwlock_t *))
{
    pthread_once(&g_lock_once, init_lock);
    for (int i = 0; i < LOCK_SPINS; i++) {
        if (try_lock(&g_lock) == 0)
            return;
        ustor_cpu_relax();
    }
    block(&g_lock);
}

static void rdlock(void)
{
    lock_with(pthread_rwlock_tryrdlock, pthread_rwlock_rdlock);
}

static void wrlock(void)
{
    lock_with(pthread_rwlock_trywrlock, pthread_rwlock_wrlock);
}

static uint64_t page_round_up(uint64_t v)
{
    return (v + USTOR_PHYS_PAGE_SIZE - 1) & ~(uint64_t)(USTOR_PHYS_PAGE_SIZE - 1);
}

/* Address space a range of len bytes takes: whole pages, and one guard
 * page after them so that adjacent ranges never look contiguous. */
static uint64_t span_len(uint64_t len)
{
    return page_round_up(len) + USTOR_PHYS_PAGE_SIZE;
}

/* First index whose key is > key. */
static size_t upper_bound_phys(uint64_t key);

/* The pages a live mapping occupies, with its guard page. */
static struct phys_span mapping_span(const struct phys_range *r)
{
    uint64_t lo = r->phys & ~(uint64_t)(USTOR_PHYS_PAGE_SIZE - 1);
    return (struct phys_span){ lo, lo + span_len(r->phys - lo + r->len) };
}

/* End of the mapping or reservation that overlaps [lo, hi), or 0 if
 * none does.  Neither kind overlaps its own kind, so the one starting
 * last below hi ends last: only it needs looking at. */
static uint64_t occupied_until(uint64_t lo, uint64_t hi)
{
    uint64_t end = 0;
    size_t i = upper_bound_phys(hi - 1);
    if (i > 0) {
        struct phys_span m = mapping_span(&g_by_phys[i - 1]);
        if (m.hi > lo)
            end = m.hi;
    }
    size_t a = 0, b = g_nr_reserved;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (g_reserved[mid].lo < hi)
            a = mid + 1;
        else
            b = mid;
    }
    if (a > 0 && g_reserved[a - 1].hi > lo && g_reserved[a - 1].hi > end)
        end = g_reserved[a - 1].hi;
    return end;
}

/* Takes span_len(len) of address space at the cursor, skipping what is
 * in use, wrapping once past the end.  Returns 0 when nothing free is
 * large enough.  Caller holds the lock for writing. */
static uint64_t take_space(uint64_t len)
{
    uint64_t need = span_len(len);
    if (need < len || need > g_end - USTOR_PHYS_WINDOW_BASE)
        return 0;
    uint64_t base = g_next < g_end ? g_next : g_end;
    bool wrapped = false;
    for (;;) {
        if (base + need > g_end) {
            if (wrapped)
                return 0;
            wrapped = true;
            base = USTOR_PHYS_WINDOW_BASE;
        }
        uint64_t busy = occupied_until(base, base + need);
        if (!busy)
            break;
        base = busy;
    }
    g_next = base + need;
    return base;
}

/* First index whose key is > key. */
static size_t upper_bound_phys(uint64_t key)
{
    size_t lo = 0, hi = g_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g_by_phys[mid].phys <= key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static size_t upper_bound_va(uintptr_t key)
{
    size_t lo = 0, hi = g_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g_by_va[mid].va <= key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void insert_at(struct phys_range *arr, size_t idx, const struct phys_range *r)
{
    memmove(&arr[idx + 1], &arr[idx], (g_count - idx) * sizeof(*arr));
    arr[idx] = *r;
}

uint64_t ustor_phys_map(void *va, size_t len)
{
    if (!va || len == 0)
        return 0;
    uintptr_t addr = (uintptr_t)va;
    uint64_t in_page = addr & (USTOR_PHYS_PAGE_SIZE - 1);

    wrlock();
    if (g_count == g_cap) {
        size_t ncap = g_cap ? g_cap * 2 : 64;
        struct phys_range *a = realloc(g_by_phys, ncap * sizeof(*a));
        if (a)
            g_by_phys = a;
        struct phys_range *b = a ? realloc(g_by_va, ncap * sizeof(*b)) : NULL;
        if (b)
            g_by_va = b;
        if (!a || !b) {
            pthread_rwlock_unlock(&g_lock);
            return 0;
        }
        g_cap = ncap;
    }
    uint64_t base = take_space(in_page + len);
    if (!base) {
        pthread_rwlock_unlock(&g_lock);
        return 0;
    }
    struct phys_range r = { .phys = base + in_page, .va = addr, .len = len };
    insert_at(g_by_phys, upper_bound_phys(r.phys), &r);
    /* Several mappings may share process memory; equal keys go after. */
    insert_at(g_by_va, upper_bound_va(r.va), &r);
    g_count++;
    if (len > g_max_len)
        g_max_len = len;
    pthread_rwlock_unlock(&g_lock);
    return r.phys;
}

int ustor_phys_unmap(uint64_t phys)
{
    wrlock();
    size_t i = upper_bound_phys(phys);
    if (i == 0 || g_by_phys[i - 1].phys != phys) {
        pthread_rwlock_unlock(&g_lock);
        return -ENOENT;
    }
    struct phys_range r = g_by_phys[i - 1];
    memmove(&g_by_phys[i - 1], &g_by_phys[i], (g_count - i) * sizeof(r));
    /* Find the same range in the va-sorted array (equal va keys possible). */
    size_t j = upper_bound_va(r.va);
    while (j > 0 && g_by_va[j - 1].va == r.va && g_by_va[j - 1].phys != r.phys)
        j--;
    if (j > 0 && g_by_va[j - 1].phys == r.phys)
        memmove(&g_by_va[j - 1], &g_by_va[j], (g_count - j) * sizeof(r));
    g_count--;
    pthread_rwlock_unlock(&g_lock);
    return 0;
}

uint64_t ustor_phys_reserve(uint64_t len)
{
    wrlock();
    uint64_t base = 0;
    if (len && g_nr_reserved == g_cap_reserved) {
        size_t ncap = g_cap_reserved ? g_cap_reserved * 2 : 16;
        struct phys_span *a = realloc(g_reserved, ncap * sizeof(*a));
        if (a) {
            g_reserved = a;
            g_cap_reserved = ncap;
        }
    }
    if (len && g_nr_reserved < g_cap_reserved)
        base = take_space(len);
    if (base) {
        struct phys_span sp = { base, base + span_len(len) };
        size_t i = g_nr_reserved;
        while (i > 0 && g_reserved[i - 1].lo > base)
            i--;
        memmove(&g_reserved[i + 1], &g_reserved[i], (g_nr_reserved - i) * sizeof(sp));
        g_reserved[i] = sp;
        g_nr_reserved++;
    }
    pthread_rwlock_unlock(&g_lock);
    return base;
}

uint64_t ustor_phys_limit_window(uint64_t size)
{
    wrlock();
    uint64_t old = g_end - USTOR_PHYS_WINDOW_BASE;
    if (!size || size > USTOR_PHYS_WINDOW_SIZE)
        size = USTOR_PHYS_WINDOW_SIZE;
    g_end = USTOR_PHYS_WINDOW_BASE + (size & ~(uint64_t)(USTOR_PHYS_PAGE_SIZE - 1));
    pthread_rwlock_unlock(&g_lock);
    return old;
}

/* Caller holds the lock (either mode). */
static void *lookup_locked(uint64_t phys, size_t len)
{
    size_t i = upper_bound_phys(phys);
    if (i == 0)
        return NULL;
    const struct phys_range *r = &g_by_phys[i - 1];
    uint64_t off = phys - r->phys;
    if (off >= r->len || len > r->len - off)
        return NULL;
    return (void *)(r->va + (uintptr_t)off);
}

void *ustor_phys_to_virt(uint64_t phys, size_t len)
{
    rdlock();
    void *p = lookup_locked(phys, len ? len : 1);
    pthread_rwlock_unlock(&g_lock);
    return p;
}

uint64_t ustor_virt_to_phys(const void *va, size_t *contig_len)
{
    uintptr_t addr = (uintptr_t)va;
    uint64_t phys = 0;
    size_t contig = 0;
    rdlock();
    /* Overlapping process ranges: take the one reaching furthest, so the
     * caller gets the longest contiguous run. */
    for (size_t i = upper_bound_va(addr); i > 0; i--) {
        const struct phys_range *r = &g_by_va[i - 1];
        if (addr - r->va < r->len && r->len - (addr - r->va) > contig) {
            contig = r->len - (addr - r->va);
            phys = r->phys + (addr - r->va);
        }
        /* Ranges starting further below than the longest one cannot
         * reach addr. */
        if (addr - r->va >= g_max_len)
            break;
    }
    pthread_rwlock_unlock(&g_lock);
    if (contig_len)
        *contig_len = contig;
    return phys;
}

static void default_fault_report(const char *device, uint64_t phys, size_t len, bool write)
{
    fprintf(stderr,
            "ustor: DMA fault: device %s tried to %s %zu bytes at physical 0x%" PRIx64
            ", which is not inside one mapped range (memory not mapped, already unmapped, "
            "or a process pointer used as a physical address)\n",
            device ? device : "?", write ? "write" : "read", len, phys);
}

ustor_phys_fault_fn ustor_phys_set_fault_hook(ustor_phys_fault_fn hook)
{
    return atomic_exchange(&ustor_phys_fault_hook, hook);
}

void ustor_phys_report_fault(const char *device, uint64_t phys, size_t len, bool write)
{
    atomic_fetch_add(&g_faults, 1);
    ustor_phys_fault_fn fn = atomic_load(&ustor_phys_fault_hook);
    (fn ? fn : default_fault_report)(device, phys, len, write);
}

void *ustor_phys_dma_begin(const char *device, uint64_t phys, size_t len, bool write)
{
    rdlock();
    void *p = lookup_locked(phys, len ? len : 1);
    if (!p) {
        pthread_rwlock_unlock(&g_lock);
        ustor_phys_report_fault(device, phys, len, write);
    }
    return p;
}

void ustor_phys_dma_end(void)
{
    pthread_rwlock_unlock(&g_lock);
}

bool ustor_phys_read(const char *device, uint64_t phys, void *buf, size_t len)
{
    void *p = ustor_phys_dma_begin(device, phys, len, false);
    if (!p)
        return false;
    memcpy(buf, p, len);
    ustor_phys_dma_end();
    return true;
}

bool ustor_phys_write(const char *device, uint64_t phys, const void *buf, size_t len)
{
    void *p = ustor_phys_dma_begin(device, phys, len, true);
    if (!p)
        return false;
    memcpy(p, buf, len);
    ustor_phys_dma_end();
    return true;
}

size_t ustor_phys_mapping_count(void)
{
    rdlock();
    size_t n = g_count;
    pthread_rwlock_unlock(&g_lock);
    return n;
}

uint64_t ustor_phys_fault_count(void)
{
    return atomic_load(&g_faults);
}
