/*
 * vhooks.c - the WDM shim: routes what the kernel emulation sees (rule
 * violations, spin lock acquisitions, waits, stalls, allocations, calls
 * into Ke / Ex / Io routines) to the verifier of the adapter whose
 * miniport code is running on this thread, under Microsoft's SDV rule
 * names, and feeds the adapter's lock-order graph with every lock the
 * miniport or the port takes.  docs/verifier-wdm.md says what is checked
 * and what cannot be.
 *
 * "The adapter" is the one of the thread's innermost port frame, else of
 * the newest Storport lock the thread holds; events with neither go to
 * uv_global.  The hooks are installed once per process, when the first
 * adapter is created, and never removed: removing them while kernel
 * threads run would race with their reads.
 */
#include "port/vhooks.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VH_MAX_HELD 48
#define VH_MAX_APIS 64
#define FREED_RING 256

struct vh_adapter {
    struct lg_graph *graph;
    KSPIN_LOCK lock;                       /* guards apis[] */
    unsigned nr_apis;
    const char *apis[VH_MAX_APIS];         /* prohibited routines already reported */
};

static pthread_mutex_t install_mu = PTHREAD_MUTEX_INITIALIZER;
static bool installed;
static struct ukern_hooks prev;            /* hooks set before ours: chained */

/* ---- where the caller is ------------------------------------------------- */

/* Address range of libustorport's loaded segments: a kernel routine called
 * from there is the port (or the kernel) doing its own work, not the
 * miniport. */
static uintptr_t own_lo, own_hi;
static pthread_once_t own_once = PTHREAD_ONCE_INIT;

static int find_own(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    uintptr_t me = (uintptr_t)data;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t s = info->dlpi_addr + ph->p_vaddr, e = s + ph->p_memsz;
        if (s < lo)
            lo = s;
        if (e > hi)
            hi = e;
    }
    if (me >= lo && me < hi) {
        own_lo = lo;
        own_hi = hi;
        return 1;
    }
    return 0;
}

static void own_init(void)
{
    dl_iterate_phdr(find_own, (void *)(uintptr_t)own_init);
}

static bool caller_is_port(const void *caller)
{
    pthread_once(&own_once, own_init);
    uintptr_t a = (uintptr_t)caller;
    return a >= own_lo && a < own_hi;
}

/* Did the code returning to `caller` call `fn` itself?  A StorPort
 * routine that ends in a call to a kernel routine is often compiled as a
 * jump (tail call), so the kernel routine sees the miniport's return
 * address although the miniport called the StorPort routine.  On x86-64
 * the call instruction just before the return address names the callee:
 * "call rel32" to a PLT stub ("jmp *GOT(%rip)"), or "call *GOT(%rip)"
 * (-fno-plt).  Returns 1 (yes), 0 (no: the port called fn) or -1 (cannot
 * tell; counted as the miniport's call). */
static bool mapped(const void *p)
{
    Dl_info info;
    return p && dladdr(p, &info) != 0;
}

#if defined(__x86_64__)
static const void *through_plt(const void *target)
{
    const uint8_t *p = target;
    if (!mapped(p))
        return target;
    if (p[0] == 0xf3 && p[1] == 0x0f && p[2] == 0x1e && p[3] == 0xfa)
        p += 4;                                  /* endbr64 */
    if (p[0] == 0xf2)
        p++;                                     /* bnd */
    if (p[0] == 0xff && p[1] == 0x25) {          /* jmp *disp32(%rip) */
        int32_t d;
        memcpy(&d, p + 2, sizeof(d));
        const void *const *slot = (const void *const *)(p + 6 + d);
        if (mapped(slot))
            return *slot;
    }
    return target;
}

static int called_directly(const void *caller, const void *fn)
{
    const uint8_t *r = caller;
    if (!fn || !mapped(r - 6))
        return -1;
    fn = through_plt(fn);
    if (r[-6] == 0xff && r[-5] == 0x15) {        /* call *disp32(%rip) */
        int32_t d;
        memcpy(&d, r - 4, sizeof(d));
        const void *const *slot = (const void *const *)(r + d);
        return mapped(slot) ? through_plt(*slot) == fn : -1;
    }
    if (r[-5] == 0xe8) {                         /* call rel32 */
        int32_t d;
        memcpy(&d, r - 4, sizeof(d));
        const void *target = r + d;
        return mapped(target) ? through_plt(target) == fn : -1;
    }
    return -1;
}
#else
static int called_directly(const void *caller, const void *fn)
{
    (void)caller;
    (void)fn;
    return -1;
}
#endif

/* ---- which adapter --------------------------------------------------------- */

static struct ustor_adapter *current_adapter(void)
{
    struct port_thread *pt = port_thread();
    if (pt->top)
        return pt->top->ad;
    for (unsigned i = pt->nheld; i-- > 0;)
        if (pt->held[i].ad)
            return pt->held[i].ad;
    return NULL;
}

static const char *current_routine(void)
{
    struct port_thread *pt = port_thread();
    return pt->top ? rules_routines[pt->top->routine].name : "(no miniport routine)";
}

static struct vh_adapter *vh_of(struct ustor_adapter *ad)
{
    return ad ? (struct vh_adapter *)ad->uv.ext : NULL;
}

struct lg_graph *vhooks_lock_graph(struct ustor_adapter *ad)
{
    struct vh_adapter *vh = vh_of(ad);
    return vh ? vh->graph : NULL;
}

/* ---- kernel rule names -> Microsoft's ------------------------------------- */

/* Recently freed pool blocks, to tell a double free (DoubleExFreePool)
 * from a pointer that never came from ExAllocatePool*. */
static KSPIN_LOCK freed_lock;
static const void *freed[FREED_RING];
static unsigned freed_next;

static bool recently_freed(const void *p)
{
    bool found = false;
    ukern_spin_acquire_raw(&freed_lock);
    for (unsigned i = 0; i < FREED_RING && !found; i++)
        found = freed[i] == p;
    ukern_spin_release_raw(&freed_lock);
    return found;
}

static const char *sdv_name(const char *rule, const char *api, const char *what)
{
    bool queued = strstr(api, "InStackQueued") != NULL;
    if (strcmp(rule, "SpinLock") == 0) {
        if (queued)
            return "QueuedSpinLock";
        if (strcmp(api, "KeAcquireSpinLockRaiseToDpc") == 0)
            return "SpinLockDpc";
        return "SpinLock";
    }
    if (strcmp(rule, "SpinLockRelease") == 0)
        return queued ? "QueuedSpinLockRelease" : "SpinLockRelease";
    if (strcmp(rule, "IrqlKeSpinLockAtDpc") == 0)
        return "IrqlDispatch";
    if (strcmp(rule, "ExFreePool-Invalid") == 0) {
        void *p = NULL;
        if (sscanf(what, "%p", &p) == 1 && p && recently_freed(p))
            return "DoubleExFreePool";
    }
    return rule;
}

/* The last kernel routines entered on this thread and whether the port
 * (not the miniport) called them: a violation inside a routine the port
 * called is the port's own doing and is not charged to the miniport. */
#define RECENT_APIS 8
struct recent_api {
    const char *api;
    const void *fn, *caller;
};
static _Thread_local struct recent_api *recent_p; /* off static TLS: ukern_tls_block */
#define recent                                                                            \
    (recent_p ? recent_p                                                                  \
              : (struct recent_api *)ukern_tls_block((void **)&recent_p,                 \
                                                     sizeof(struct recent_api) * RECENT_APIS))
static _Thread_local unsigned recent_next;

/* Per-thread memo of called_directly() by call site: decoding a call site
 * costs a few dladdr() calls, and the same sites come back every I/O. */
#define SITE_CACHE 32
struct site_memo {
    const void *caller, *fn;
    int direct;
};
static _Thread_local struct site_memo *site_cache_p; /* off static TLS: ukern_tls_block */
#define site_cache                                                                        \
    (site_cache_p ? site_cache_p                                                          \
                  : (struct site_memo *)ukern_tls_block((void **)&site_cache_p,          \
                                                        sizeof(struct site_memo) * SITE_CACHE))

static int called_directly_cached(const void *caller, const void *fn)
{
    unsigned k = (unsigned)(((uintptr_t)caller >> 2) ^ ((uintptr_t)fn >> 4)) % SITE_CACHE;
    if (site_cache[k].caller == caller && site_cache[k].fn == fn)
        return site_cache[k].direct;
    int d = called_directly(caller, fn);
    site_cache[k].caller = caller;
    site_cache[k].fn = fn;
    site_cache[k].direct = d;
    return d;
}

/* Did the port (or the kernel itself), not the miniport, call api? */
static bool port_called(const void *fn, const void *caller)
{
    return caller_is_port(caller) || called_directly_cached(caller, fn) == 0;
}

static bool called_by_port(const char *api)
{
    if (strncmp(api, "ukern_", 6) == 0)
        return true; /* the kernel's port-only interface */
    for (unsigned i = 0; i < RECENT_APIS; i++) {
        unsigned k = (recent_next - 1 - i) % RECENT_APIS;
        if (recent[k].api && strcmp(recent[k].api, api) == 0)
            return port_called(recent[k].fn, recent[k].caller);
    }
    return false;
}

static void on_violation(const char *rule, const char *api, const char *what)
{
    if (called_by_port(api)) {
        /* as the kernel says it with no verifier installed */
        fprintf(stderr, "ustorport: rule %s broken by %s (called by the port): %s\n", rule, api, what);
    } else {
        const char *name = sdv_name(rule, api, what);
        port_report(current_adapter(), name, NULL, "%s: %s", api, what);
    }
    if (prev.violation)
        prev.violation(rule, api, what);
}

/* ---- calls into the kernel from miniport code ------------------------------ */

static bool is_wait(const char *api)
{
    return strcmp(api, "KeWaitForSingleObject") == 0 || strcmp(api, "KeDelayExecutionThread") == 0;
}

static bool is_alloc(const char *api)
{
    return strncmp(api, "ExAllocatePool", 14) == 0;
}

/* SDV's HwStorPortProhibitedDDIs list covers the Cm, Ex, Hal, Io, Ke, Mm,
 * Ob, Po, Ps, Se and Zw routines except the interlocked helpers; of those
 * the kernel emulation exports Ke*, Ex* and Io* ones, all listed. */
static bool is_prohibited(const char *api)
{
    if (strstr(api, "Interlocked"))
        return false;
    return strncmp(api, "Ke", 2) == 0 || strncmp(api, "Ex", 2) == 0 || strncmp(api, "Io", 2) == 0;
}

static bool first_prohibited_call(struct vh_adapter *vh, const char *api)
{
    bool first = true;
    ukern_spin_acquire_raw(&vh->lock);
    for (unsigned i = 0; i < vh->nr_apis && first; i++)
        first = strcmp(vh->apis[i], api) != 0;
    if (first && vh->nr_apis < VH_MAX_APIS)
        vh->apis[vh->nr_apis++] = api;
    ukern_spin_release_raw(&vh->lock);
    return first;
}

static bool already_reported(struct vh_adapter *vh, const char *api)
{
    bool seen = false;
    ukern_spin_acquire_raw(&vh->lock);
    for (unsigned i = 0; i < vh->nr_apis && !seen; i++)
        seen = strcmp(vh->apis[i], api) == 0;
    ukern_spin_release_raw(&vh->lock);
    return seen;
}

static void on_api_called(const char *api, const void *fn, const void *caller)
{
    unsigned k = recent_next++ % RECENT_APIS;
    recent[k].api = api;
    recent[k].fn = fn;
    recent[k].caller = caller;
    struct port_frame *top = port_thread()->top;
    if (!top || caller_is_port(caller))
        goto chain;
    struct ustor_adapter *ad = top->ad;
    if (ad->uv.mode == USTOR_VERIFIER_OFF)
        goto chain;
    /* Decide whether anything would be reported before looking at the
     * call site, which is the costly part. */
    bool in_startio = top->routine == RR_STARTIO && (is_wait(api) || is_alloc(api));
    struct vh_adapter *vh = vh_of(ad);
    bool ddi = !ad->virtual_miniport && vh && is_prohibited(api) && !already_reported(vh, api);
    if ((!in_startio && !ddi) || called_directly_cached(caller, fn) == 0)
        goto chain;
    if (in_startio && is_wait(api))
        port_report(ad, "SpNoWait", top->srb,
                    "HwStorStartIo called %s: StartIo must not wait (it runs at DISPATCH_LEVEL, "
                    "serialized with every other StartIo); do the waiting elsewhere", api);
    else if (in_startio)
        port_report(ad, "StorPortStartIo", top->srb,
                    "HwStorStartIo called %s: allocate in HwStorBuildIo or at initialization, "
                    "not in the serialized StartIo", api);
    if (ddi && first_prohibited_call(vh, api))
        port_report(ad, "HwStorPortProhibitedDDIs", top->srb,
                    "physical miniport called %s from %s: a physical Storport miniport uses only "
                    "StorPort* routines (and interlocked helpers); reported once per routine",
                    api, rules_routines[top->routine].name);
chain:
    if (prev.api_called)
        prev.api_called(api, fn, caller);
}

static void on_stall(ULONG us)
{
    struct port_frame *top = port_thread()->top;
    if (top && top->routine == RR_STARTIO)
        port_report(top->ad, "StorPortStartIo", top->srb,
                    "HwStorStartIo stalled for %u us: StartIo must not stall (StorPortStallExecution "
                    "or KeStallExecutionProcessor); wait for the device in a timer or DPC", (unsigned)us);
    if (prev.stall)
        prev.stall(us);
}

static void on_event_set(PKEVENT event, LONG previous_state)
{
    /* Only miniport code counts: the port and kernel set events of their own. */
    struct port_frame *top = port_thread()->top;
    if (top && previous_state != 0)
        port_report(top->ad, "DoubleKeSetEvent", top->srb,
                    "KeSetEvent on event %p that is already signaled: it was set before and "
                    "neither reset nor consumed by a wait", (void *)event);
    if (prev.event_set)
        prev.event_set(event, previous_state);
}

static void on_pool_alloc(void *p, SIZE_T size, ULONG tag, const char *api)
{
    ukern_spin_acquire_raw(&freed_lock);
    for (unsigned i = 0; i < FREED_RING; i++)
        if (freed[i] == p)
            freed[i] = NULL;
    ukern_spin_release_raw(&freed_lock);
    if (prev.pool_alloc)
        prev.pool_alloc(p, size, tag, api);
}

static void on_pool_free(void *p, const char *api)
{
    ukern_spin_acquire_raw(&freed_lock);
    freed[freed_next++ % FREED_RING] = p;
    ukern_spin_release_raw(&freed_lock);
    if (prev.pool_free)
        prev.pool_free(p, api);
}

/* ---- lock-order graph feed ------------------------------------------------ */

/* The locks this thread holds for ad (Storport locks) plus its Ke spin
 * locks, oldest first, without `except`. */
static unsigned held_for(struct ustor_adapter *ad, const void *except, const void **out, bool *in_irq)
{
    struct port_thread *pt = port_thread();
    unsigned n = 0;
    *in_irq = pt->top && (pt->top->routine == RR_INTERRUPT || pt->top->routine == RR_MSI_INTERRUPT);
    for (unsigned i = 0; i < pt->nheld && n < VH_MAX_HELD; i++) {
        const struct port_held_lock *h = &pt->held[i];
        if (h->ad != ad)
            continue;
        if (h->cls == RL_INTERRUPT)
            *in_irq = true;
        if (h->id != except)
            out[n++] = h->id;
    }
    const void *ke[16];
    unsigned nk = ukern_held_spin_locks(ke, 16);
    for (unsigned i = 0; i < nk && i < 16 && n < VH_MAX_HELD; i++)
        if (ke[i] != except)
            out[n++] = ke[i];
    return n;
}

static enum lg_context context_of(struct ustor_adapter *ad, bool in_irq, KIRQL irql)
{
    /* A virtual miniport has no interrupt to arrive: nothing to be unsafe
     * against. */
    if (ad->virtual_miniport)
        return LG_CTX_OTHER;
    if (in_irq)
        return LG_CTX_IRQ;
    return irql < ad->dirql ? LG_CTX_IRQ_ENABLED : LG_CTX_OTHER;
}

struct port_lock_name {
    struct ustor_adapter *ad;
    enum rules_lock cls;
    const void *id;
};

static void name_port_lock(void *ctx, char *buf, size_t len)
{
    const struct port_lock_name *n = ctx;
    switch (n->cls) {
    case RL_STARTIO:
        snprintf(buf, len, "StartIoLock");
        return;
    case RL_DPC:
        snprintf(buf, len, "DpcLock(STOR_DPC@%p)",
                 (const void *)((const char *)n->id - offsetof(STOR_DPC, Lock)));
        return;
    case RL_INTERRUPT:
    default:
        if (n->id == (const void *)n->ad) {
            snprintf(buf, len, "InterruptLock");
            return;
        }
        for (uint32_t i = 0; i < n->ad->nr_messages && i < PORT_MAX_MESSAGES; i++)
            if (n->ad->intr[i] && (const void *)n->ad->intr[i]->ActualLock == n->id) {
                snprintf(buf, len, "MSI lock %u", (unsigned)i);
                return;
            }
        snprintf(buf, len, "InterruptLock@%p", n->id);
        return;
    }
}

static void __attribute__((noinline)) graph_port_lock(struct vh_adapter *vh, struct ustor_adapter *ad,
                                                      enum rules_lock cls, const void *id)
{
    const void *held[VH_MAX_HELD];
    bool in_irq;
    unsigned n = held_for(ad, id, held, &in_irq);
    struct port_lock_name nm = { ad, cls, id };
    KIRQL irql = ukern_irql_get();
    struct lg_acquire a = {
        .id = id,
        .name = name_port_lock,
        .name_ctx = &nm,
        .routine = current_routine(),
        .context = context_of(ad, in_irq, irql),
        .interrupt_lock = cls == RL_INTERRUPT,
        .irql = irql,
    };
    lg_acquire(vh->graph, &a, held, n);
}

/* Every port lock taken, verifier on or off: the test is all most calls
 * pay; the graph's work (and its stack) is in graph_port_lock. */
void vhooks_port_lock_acquired(struct ustor_adapter *ad, enum rules_lock cls, const void *id)
{
    struct vh_adapter *vh = vh_of(ad);
    if (vh && vh->graph)
        graph_port_lock(vh, ad, cls, id);
}

struct ke_lock_name {
    const void *lock;
    enum ukern_lock_api api;
    const char *routine;
};

static const char *ke_api_name(enum ukern_lock_api api)
{
    switch (api) {
    case UKERN_LOCK_KE_SPIN: return "KeAcquireSpinLock";
    case UKERN_LOCK_KE_SPIN_RAISE: return "KeAcquireSpinLockRaiseToDpc";
    case UKERN_LOCK_KE_SPIN_DPC: return "KeAcquireSpinLockAtDpcLevel";
    case UKERN_LOCK_KE_QUEUED: return "KeAcquireInStackQueuedSpinLock";
    default: return "interrupt lock";
    }
}

static void name_ke_lock(void *ctx, char *buf, size_t len)
{
    const struct ke_lock_name *n = ctx;
    snprintf(buf, len, "KSPIN_LOCK@%p (%s in %s)", n->lock, ke_api_name(n->api), n->routine);
}

static void on_lock_acquired(const void *lock, enum ukern_lock_api api, KIRQL irql_before,
                             const void *handle)
{
    if (api != UKERN_LOCK_INTERRUPT) {
        /* Interrupt objects' locks reach the graph through the port's own
         * bookkeeping (InterruptLock / MSI lock N). */
        struct ustor_adapter *ad = current_adapter();
        struct vh_adapter *vh = vh_of(ad);
        if (vh && vh->graph) {
            const void *held[VH_MAX_HELD];
            bool in_irq;
            unsigned n = held_for(ad, lock, held, &in_irq);
            struct ke_lock_name nm = { lock, api, current_routine() };
            KIRQL irql = ukern_irql_get();
            struct lg_acquire a = {
                .id = lock,
                .name = name_ke_lock,
                .name_ctx = &nm,
                .routine = nm.routine,
                .context = context_of(ad, in_irq, irql),
                .interrupt_lock = false,
                .irql = irql,
            };
            lg_acquire(vh->graph, &a, held, n);
        }
    }
    if (prev.lock_acquired)
        prev.lock_acquired(lock, api, irql_before, handle);
}

static void graph_report(void *ctx, const char *rule, const char *text)
{
    port_report(ctx, rule, NULL, "%s", text);
}

/* ---- life cycle ------------------------------------------------------------ */

static void install(void)
{
    pthread_mutex_lock(&install_mu);
    if (!installed) {
        prev = ukern_hooks;
        ukern_hooks.violation = on_violation;
        ukern_hooks.api_called = on_api_called;
        ukern_hooks.stall = on_stall;
        ukern_hooks.event_set = on_event_set;
        ukern_hooks.pool_alloc = on_pool_alloc;
        ukern_hooks.pool_free = on_pool_free;
        ukern_hooks.lock_acquired = on_lock_acquired;
        __atomic_store_n(&installed, true, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&install_mu);
}

void vhooks_adapter_created(struct ustor_adapter *ad)
{
    if (!__atomic_load_n(&installed, __ATOMIC_ACQUIRE))
        install();
    struct vh_adapter *vh = calloc(1, sizeof(*vh));
    if (!vh) {
        fprintf(stderr, "ustor-verifier: out of memory for %s's verifier state; the WDM shim and "
                        "lock graph are off for it\n", ad->name);
        return;
    }
    if (ad->cfg.lock_graph && ad->cfg.verifier != USTOR_VERIFIER_OFF) {
        vh->graph = lg_create(graph_report, ad);
        if (!vh->graph)
            fprintf(stderr, "ustor-verifier: out of memory for %s's lock-order graph; it is off\n",
                    ad->name);
    }
    ad->uv.ext = vh;
}

void vhooks_adapter_destroyed(struct ustor_adapter *ad)
{
    struct vh_adapter *vh = vh_of(ad);
    if (!vh)
        return;
    ad->uv.ext = NULL;
    lg_destroy(vh->graph);
    free(vh);
}
