/*
 * port.h - the port engine's internal structures: driver, adapter, logical
 * unit, request, and the per-thread frame stack that records which
 * miniport routine is running and which locks this thread holds.
 */
#ifndef USTOR_PORT_PORT_H
#define USTOR_PORT_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include <storport.h>
#include <srbhelper.h>
#include <ustor/ustor.h>

#include "hw/bus.h"
#include "kernel/ukern.h"
#include "port/rules.h"
#include "verifier/verifier.h"

#define PORT_MAX_MESSAGES 64
#define PORT_MAX_DPCS 128
#define PORT_DEFAULT_TIMEOUT_S 10
#define PORT_DEFAULT_LUN_DEPTH 64
#define PORT_MAX_LUN_DEPTH 254
#define PORT_WATCHDOG_MS 100
#define PORT_MAX_SG 257
#define PORT_MAX_FREE_LISTS 64

/* What DriverEntry registered through StorPortInitialize. */
struct ustor_driver {
    char name[64];
    void *dl_handle;               /* dlopen()ed module, or NULL */
    bool virtual_miniport;
    bool registered;
    HW_INITIALIZATION_DATA hw;     /* copy of what the miniport passed */
    VIRTUAL_HW_INITIALIZATION_DATA vhw;
    PVOID hw_context;
    NTSTATUS init_status;
    char init_error[256];
};

/* A pending StorPortStateChangeDetected callback. */
struct state_change {
    KDPC dpc;
    struct ustor_adapter *ad;
    PHW_STATE_CHANGE routine;
    PVOID context;
    SHORT address_type;
    STOR_ADDR_BTL8 address;
};

/* Lock statistics, one per Storport lock instance. */
struct port_lock_stats {
    const char *name;
    uint64_t acquisitions;
    uint64_t contended;
    uint64_t hold_total_ns;
    uint64_t hold_max_ns;
    uint64_t taken_at_ns;          /* while held */
};

/* A STOR_DPC the miniport initialized (StorPortInitializeDpc), and the
 * statistics of its lock on a line of their own: written only by the
 * lock's holder, so CPUs holding different DPCs' locks share no written
 * line, and the entry's other fields (read by every lock call) stay
 * clean.  ustor_adapter_get_stats sums them as "DpcLock". */
struct port_dpc {
    struct ustor_adapter *ad;
    PSTOR_DPC stor_dpc;
    PHW_DPC_ROUTINE routine;
    struct port_lock_stats st __attribute__((aligned(64)));
};

enum port_req_state {
    REQ_FREE = 0,
    REQ_QUEUED,      /* waiting in its LUN queue */
    REQ_STARTING,    /* in HwStorBuildIo / HwStorStartIo */
    REQ_OUTSTANDING, /* the miniport has it */
    REQ_COMPLETING,  /* RequestComplete seen, waiting for the drain */
};

/* The port's request: one per SRB in flight, from a preallocated pool. */
struct port_request {
    struct port_request *next;      /* LUN queue / completion list */
    struct ustor_adapter *ad;
    struct port_lun *lun;
    void *srb;
    bool srbex;
    ustor_srb_done cb;
    void *cb_ctx;
    volatile int state;             /* enum port_req_state */
    uint32_t index;
    uint32_t free_next;             /* free stack: index + 1 of the next, 0 at the end */
    uint32_t timeout_s;
    uint32_t dtl_at_start;          /* DataTransferLength when handed over */
    uint32_t busy_count;
    volatile int timed_out;
    uint64_t submit_ns;
    uint64_t start_ns;
    uint8_t *ext[2];                /* two SrbExtensions: a BUSY swaps them */
    unsigned cur_ext;
    UCHAR status_override;          /* port-decided status (timeout, abort) or 0 */
    STOR_SCATTER_GATHER_LIST *sg;   /* built on demand */
    uint64_t data_phys;             /* data buffer mapping, physical adapters */
} __attribute__((aligned(64)));     /* no two requests share a cache line */

/* A logical unit (PathId, TargetId, Lun). */
struct port_lun {
    KSPIN_LOCK lock;
    struct ustor_adapter *ad;
    UCHAR path, target, lun;
    struct port_request *qhead, *qtail;
    uint32_t queued;
    uint32_t outstanding;
    uint32_t depth;
    uint32_t busy_until_completions;  /* StorPortDeviceBusy */
    bool paused;                      /* StorPortPauseDevice */
    uint64_t pause_until_ns;
    PVOID lu_extension;
} __attribute__((aligned(64)));       /* LUNs busy on different CPUs share no line */

enum port_adapter_state {
    AD_INITIALIZING,
    AD_RUNNING,
    AD_HOLDING,    /* stop/restart in progress: new I/O queued, not started */
    AD_STOPPING,   /* destroy: new I/O refused */
    AD_FAILED,     /* verifier fatal: I/O fails */
};

struct ustor_adapter {
    struct ustor_driver *drv;
    char name[80];
    struct ustor_adapter_config cfg;
    enum ustor_sync_mode mode;
    volatile int state;
    bool virtual_miniport;
    bool physical_no_device;

    /* what the miniport sees */
    PVOID devext;                   /* HwDeviceExtension */
    size_t devext_size;
    PORT_CONFIGURATION_INFORMATION config;
    ACCESS_RANGE access_ranges[8];
    PERF_CONFIGURATION_DATA perf;
    bool perf_set;
    uint32_t srb_ext_size;
    BOOLEAN supported_control[ScsiAdapterControlMax];

    /* interrupts */
    KIRQL dirql;
    bool per_message;
    bool msi;
    uint32_t nr_messages;
    PKINTERRUPT intr[PORT_MAX_MESSAGES];
    struct ustor_irq_sink sink;
    struct ustor_bus_device *device;

    /* The two port-wide lock words, each on its own cache line with the
     * statistics its holder writes: a CPU taking one does not evict the
     * read-mostly fields around it from the other CPUs' caches (in half
     * duplex two submitting CPUs hand the interrupt lock back and forth
     * on every I/O). */
    KSPIN_LOCK intr_lock __attribute__((aligned(64))); /* shared by all messages unless per-message */
    struct port_lock_stats st_interrupt;
    KSPIN_LOCK startio_lock __attribute__((aligned(64)));
    struct port_lock_stats st_startio;
    struct port_lock_stats st_msi[PORT_MAX_MESSAGES] __attribute__((aligned(64)));

    /* DPCs and timers */
    struct port_dpc dpcs[PORT_MAX_DPCS];
    volatile LONG nr_dpcs;          /* published entries */
    volatile LONG nr_dpcs_reserved; /* slots handed out */
    KTIMER hw_timer;                /* RequestTimerCall */
    KDPC hw_timer_dpc;
    bool hw_timer_ready;
    PHW_TIMER hw_timer_routine;
    struct state_change state_change;
    volatile int state_change_busy;
    volatile int kick_pending;      /* flow control resumed inside a routine */
    volatile uint64_t n_resets_detected;
    KTIMER watchdog;
    KDPC watchdog_dpc;
    PHW_PASSIVE_INITIALIZE_ROUTINE passive_init;

    /* The port's clock for request time stamps, advanced by the watchdog
     * every PORT_WATCHDOG_MS: reading it costs a load, where a clock read
     * costs a few nanoseconds on every I/O.  Timeouts are counted in its
     * ticks, as Storport counts them in its one-second timer's. */
    volatile uint64_t clock_ns;

    /* flow control */
    volatile LONG busy_until_completions;  /* StorPortBusy */
    volatile LONG paused;                  /* StorPortPause */
    uint64_t pause_until_ns;

    /* logical units */
    uint32_t nr_paths, nr_targets, nr_luns;
    struct port_lun **luns;         /* [path][target][lun], created on first use */
    uint32_t nr_lun_slots;
    struct port_lun **lun_list;     /* the created ones, in creation order */
    volatile uint32_t nr_lun_list;

    /* requests */
    struct port_request *reqs;
    uint32_t nr_reqs;
    uint8_t *ext_pool;
    /* Free requests, one lock-free stack per simulated CPU so that
     * submitters on different CPUs do not share a line; an empty stack
     * steals from the others.  top = (tag << 32) | (index + 1), 0 when
     * empty; the tag, bumped on every change, defeats ABA. */
    struct port_free_list {
        volatile uint64_t top;
    } __attribute__((aligned(64))) free_lists[PORT_MAX_FREE_LISTS];
    unsigned nr_free_lists;
    /* Per-I/O counters, one cache line per simulated CPU so that
     * submitters and completers on different CPUs do not bounce a shared
     * line; the sum over CPUs is the value (port_count_sum).  Requests
     * in the port (submitted, callback not yet returned) are submitted -
     * released; those the miniport holds are counted per LUN
     * (port_outstanding). */
    struct port_cpu_counts {
        volatile uint64_t submitted;   /* accepted by ustor_submit_srb */
        volatile uint64_t completed;   /* completion callback about to run */
        volatile uint64_t released;    /* completion callback returned */
    } __attribute__((aligned(64))) counts[PORT_MAX_FREE_LISTS];

    /* Completions made where host callbacks cannot run (in an ISR, or
     * with a lock held), one queue per simulated CPU, each drained by its
     * own DPC on that CPU: ISRs on different CPUs share no lock. */
    struct port_cq {
        KSPIN_LOCK lock;
        struct port_request *head, *tail;
        struct ustor_adapter *ad;
        KDPC dpc;
    } __attribute__((aligned(64))) cqs[PORT_MAX_FREE_LISTS];

    /* pool allocations (StorPortAllocatePool) */
    KSPIN_LOCK pool_lock;
    struct port_pool_block *pool_list;

    /* statistics */
    struct port_routine_stat {
        volatile uint64_t calls, total_ns, max_ns;
    } routine_stats[RR_COUNT];
    volatile uint64_t n_busy, n_timeouts, n_resets, n_errors;

    /* verifier */
    struct uv_state uv;
    bool in_restart;                /* HwStorInitialize called for a restart */
};

/* ---- per-thread frames ------------------------------------------------ */

#define PORT_MAX_HELD 24

struct port_held_lock {
    enum rules_lock cls;
    const void *id;                 /* the lock word */
    const void *handle;             /* STOR_LOCK_HANDLE or NULL (port) */
    struct ustor_adapter *ad;
    bool by_port;
    enum rules_routine taken_in;    /* routine it was taken in; RR_COUNT: the port's own code */
    void *taken_at;                 /* caller address */
    struct port_lock_stats *st;     /* the lock's statistics, for its release by
                                     * StorPortReleaseSpinLock; NULL for the port's
                                     * own locks, whose release knows them */
};

struct port_frame {
    struct port_frame *prev;
    struct ustor_adapter *ad;
    enum rules_routine routine;
    const struct rules_cell *cell;
    void *srb;
    KIRQL saved_irql;               /* caller's IRQL, restored on leave */
    KIRQL entry_irql;               /* IRQL the routine was entered at */
    unsigned held_at_entry;         /* thread's held count before the port's locks */
    unsigned held_after_port;       /* ... after them */
    unsigned ke_held_at_entry;      /* kernel (Ke*) locks held on entry */
    uint64_t t0;
};

struct port_thread {
    struct port_frame *top;
    unsigned nheld;
    struct port_held_lock held[PORT_MAX_HELD];
    struct port_request *done_head, *done_tail;
    bool draining;
    unsigned hold_drain;            /* >0: the port is mid-request; drain later */
    char last_error[512];
};

/* The calling thread's port state; inline, as every routine call asks. */
extern _Thread_local struct port_thread *port_tls_thread;
struct port_thread *port_thread_first(void); /* allocates it */
static inline struct port_thread *port_thread(void)
{
    struct port_thread *pt = port_tls_thread;
    return pt ? pt : port_thread_first();
}

/* port_frame_enter / port_frame_leave run a miniport routine's prologue
 * and epilogue; they are inline, at the end of this file. */

/* The held-lock record is kept on every I/O (the StartIo lock in full
 * duplex, the interrupt lock in half duplex), so its common cases are
 * inline; the slow halves (frame.c) report an overflowing record, feed
 * the lock-order graph, and search below the newest entry. */
void port_held_push_slow(struct port_thread *pt, struct ustor_adapter *ad, enum rules_lock cls,
                         const void *id, const void *handle, bool by_port, void *taken_at,
                         struct port_lock_stats *st);
bool port_held_pop_search(struct port_thread *pt, const void *id, const void *handle,
                          struct port_held_lock *out);

/* Writes the next entry of a record known to have room. */
static inline void port_held_append(struct port_thread *pt, struct ustor_adapter *ad, enum rules_lock cls,
                                    const void *id, const void *handle, bool by_port, void *taken_at,
                                    struct port_lock_stats *st)
{
    struct port_held_lock *h = &pt->held[pt->nheld++];
    h->cls = cls;
    h->id = id;
    h->handle = handle;
    h->ad = ad;
    h->by_port = by_port;
    h->taken_in = pt->top ? pt->top->routine : RR_COUNT;
    h->taken_at = taken_at;
    h->st = st;
}

/* Records a lock this thread took (or that the kernel took for it).
 * taken_at: the miniport's call site, for a lock it asked for (NULL for
 * the port's own). */
static inline void port_held_push_on(struct port_thread *pt, struct ustor_adapter *ad, enum rules_lock cls,
                                     const void *id, const void *handle, bool by_port, void *taken_at,
                                     struct port_lock_stats *st)
{
    if (__builtin_expect(pt->nheld == PORT_MAX_HELD || (ad && ad->cfg.lock_graph), 0))
        port_held_push_slow(pt, ad, cls, id, handle, by_port, taken_at, st);
    else
        port_held_append(pt, ad, cls, id, handle, by_port, taken_at, st);
}

/* A lock whose release keeps its own statistics (the port's locks). */
static inline void port_held_push(struct ustor_adapter *ad, enum rules_lock cls, const void *id,
                                  const void *handle, bool by_port, void *taken_at)
{
    port_held_push_on(port_thread(), ad, cls, id, handle, by_port, taken_at, NULL);
}

/* Removes it (NULL id or handle: any); returns false if not found.
 * Locks are almost always released newest first. */
static inline bool port_held_pop_on(struct port_thread *pt, const void *id, const void *handle,
                                    struct port_held_lock *out)
{
    unsigned n = pt->nheld;
    if (n) {
        const struct port_held_lock *h = &pt->held[n - 1];
        if ((id == NULL || h->id == id) && (handle == NULL || h->handle == handle)) {
            if (out)
                *out = *h;
            pt->nheld = n - 1;
            return true;
        }
    }
    return port_held_pop_search(pt, id, handle, out);
}
static inline bool port_held_pop(const void *id, const void *handle, struct port_held_lock *out)
{
    return port_held_pop_on(port_thread(), id, handle, out);
}

rules_lockset port_held_set(void);
bool port_held_has(const void *id);
const char *port_held_describe(char *buf, size_t len);

/* The verifier's view of "here". */
void port_where(struct uv_where *w, struct ustor_adapter *ad, const void *srb, char *locks, size_t len);
bool port_report(struct ustor_adapter *ad, const char *rule, const void *srb, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void port_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- locks ------------------------------------------------------------ */

/* Lock statistics, kept on every acquisition (inline: the StartIo or
 * interrupt lock is taken on every I/O).  Each lock has its own record
 * (every STOR_DPC too), written only by the lock's holder; relaxed
 * atomics because ustor_adapter_get_stats reads them from another
 * thread. */
static inline void port_lock_stat_acquired(struct ustor_adapter *ad, struct port_lock_stats *st,
                                           bool contended)
{
    __atomic_store_n(&st->acquisitions, st->acquisitions + 1, __ATOMIC_RELAXED);
    if (contended)
        __atomic_store_n(&st->contended, st->contended + 1, __ATOMIC_RELAXED);
    if (__builtin_expect(ad->cfg.collect_stats, 0))
        st->taken_at_ns = ukern_now_ns();
}

static inline void port_lock_stat_releasing(struct ustor_adapter *ad, struct port_lock_stats *st)
{
    if (__builtin_expect(ad->cfg.collect_stats, 0) && st->taken_at_ns) {
        uint64_t dt = ukern_now_ns() - st->taken_at_ns;
        __atomic_store_n(&st->hold_total_ns, st->hold_total_ns + dt, __ATOMIC_RELAXED);
        if (dt > st->hold_max_ns)
            __atomic_store_n(&st->hold_max_ns, dt, __ATOMIC_RELAXED);
        st->taken_at_ns = 0;
    }
}

/* The adapter's interrupt lock(s): one shared word, or every message's
 * own word in per-message mode (locks.c).  Inline: half-duplex StartIo
 * and StorPortSynchronizeAccess take it on every call. */
bool port_intr_messages_acquire(struct ustor_adapter *ad);
void port_intr_messages_release(struct ustor_adapter *ad);
static inline void port_intr_words_acquire(struct ustor_adapter *ad)
{
    bool c = ad->per_message && ad->nr_messages > 0 ? port_intr_messages_acquire(ad)
                                                    : ukern_spin_acquire_raw_contended(&ad->intr_lock);
    port_lock_stat_acquired(ad, &ad->st_interrupt, c);
}

static inline void port_intr_words_release(struct ustor_adapter *ad)
{
    port_lock_stat_releasing(ad, &ad->st_interrupt);
    if (ad->per_message && ad->nr_messages > 0)
        port_intr_messages_release(ad);
    else
        ukern_spin_release_raw(&ad->intr_lock);
}

/* All of them, taken by the port (table A, StorPortSynchronizeAccess). */
static inline void port_interrupt_lock_all(struct ustor_adapter *ad)
{
    port_intr_words_acquire(ad);
    port_held_push(ad, RL_INTERRUPT, ad, NULL, true, NULL);
}

static inline void port_interrupt_unlock_all(struct ustor_adapter *ad)
{
    port_held_pop(ad, NULL, NULL);
    port_intr_words_release(ad);
}

/* The adapter's StartIo lock, taken by the port (table A). */
static inline void port_startio_lock(struct ustor_adapter *ad)
{
    bool c = ukern_spin_acquire_raw_contended(&ad->startio_lock);
    port_lock_stat_acquired(ad, &ad->st_startio, c);
    port_held_push(ad, RL_STARTIO, &ad->startio_lock, NULL, true, NULL);
}

static inline void port_startio_unlock(struct ustor_adapter *ad)
{
    port_held_pop(&ad->startio_lock, NULL, NULL);
    port_lock_stat_releasing(ad, &ad->st_startio);
    ukern_spin_release_raw(&ad->startio_lock);
}

/* The adapter's synchronization mode.  Fixed before the first I/O, but
 * timers and interrupts may already run while HwStorInitialize decides
 * it, so it is read and written atomically. */
static inline enum ustor_sync_mode port_mode(const struct ustor_adapter *ad)
{
    return __atomic_load_n(&ad->mode, __ATOMIC_RELAXED);
}

/* ---- adapter lookup -------------------------------------------------- */

/* Maps a miniport's HwDeviceExtension back to its adapter; NULL if it is
 * not one (reported by the caller).  Almost always the adapter whose
 * routine is running on this thread (live while its frame is), tried
 * inline; otherwise the search through the live adapters. */
struct ustor_adapter *port_adapter_search(PVOID devext);
static inline struct ustor_adapter *port_adapter_from_devext_on(const struct port_thread *pt, PVOID devext)
{
    const struct port_frame *top = pt->top;
    if (top && top->ad->devext == devext && devext)
        return top->ad;
    return port_adapter_search(devext);
}
static inline struct ustor_adapter *port_adapter_from_devext(PVOID devext)
{
    return port_adapter_from_devext_on(port_thread(), devext);
}
const char *port_mode_name(enum ustor_sync_mode m);

/* ---- requests ---------------------------------------------------------- */

void port_request_complete(struct ustor_adapter *ad, void *srb);  /* RequestComplete */
void port_drain_completions(void);

/* The calling thread's slot in the adapter's per-CPU arrays.  The CPU
 * count cannot change while an adapter lives, so the division is only
 * for a thread bound before a rebuild. */
static inline unsigned port_cpu_slot(const struct ustor_adapter *ad)
{
    unsigned c = ukern_current_cpu();
    return c < ad->nr_free_lists ? c : c % ad->nr_free_lists;
}

/* The sum of one per-CPU counter over all CPUs. */
#define port_count_sum(ad, field)                                                \
    __extension__({                                                              \
        LONG64 _sum = 0;                                                         \
        for (unsigned _i = 0; _i < (ad)->nr_free_lists; _i++)                    \
            _sum += (LONG64)__atomic_load_n(&(ad)->counts[_i].field, __ATOMIC_ACQUIRE); \
        _sum;                                                                    \
    })
/* The LUNs created so far, in creation order:
 *     for (uint32_t i = 0; (l = port_lun_next(ad, &i)) != NULL;)
 * A LUN is listed before the I/O that created it is queued or started,
 * so a walk never misses a LUN that holds requests. */
static inline struct port_lun *port_lun_next(struct ustor_adapter *ad, uint32_t *i)
{
    uint32_t n = __atomic_load_n(&ad->nr_lun_list, __ATOMIC_ACQUIRE);
    while (*i < n) {
        struct port_lun *l = __atomic_load_n(&ad->lun_list[(*i)++], __ATOMIC_ACQUIRE);
        if (l) /* NULL: counted, not stored yet, so it holds nothing yet */
            return l;
    }
    return NULL;
}

/* Requests the miniport holds (handed to it, not completed), and requests
 * in the port at all (submitted, callback not yet returned). */
LONG64 port_outstanding(struct ustor_adapter *ad);
#define port_in_port(ad) ((LONG64)(port_count_sum(ad, submitted) - port_count_sum(ad, released)))
void port_completion_dpc(PKDPC dpc, PVOID ctx, PVOID a1, PVOID a2); /* ctx: its struct port_cq */
/* Queues the calling CPU's completion DPC (which also runs a pending kick). */
void port_completion_dpc_queue(struct ustor_adapter *ad);
void port_kick_all(struct ustor_adapter *ad);
void port_kick_lun(struct port_lun *lun);
struct port_lun *port_lun_get(struct ustor_adapter *ad, UCHAR path, UCHAR target, UCHAR lun, bool create);
void port_watchdog_scan(struct ustor_adapter *ad);
void port_abort_queued(struct ustor_adapter *ad, UCHAR status);
struct port_request *port_request_from_srb(struct ustor_adapter *ad, void *srb);
void port_reset_bus(struct ustor_adapter *ad, ULONG path);
void port_force_timeouts(struct ustor_adapter *ad);

/* Generic miniport calls with the table's locks and IRQL. */
BOOLEAN port_call_adapter_control(struct ustor_adapter *ad, SCSI_ADAPTER_CONTROL_TYPE type,
                                  PVOID params, SCSI_ADAPTER_CONTROL_STATUS *status);
BOOLEAN port_call_initialize(struct ustor_adapter *ad);

/* Interrupt plumbing (port/interrupt.c). */
int port_interrupts_connect(struct ustor_adapter *ad);
void port_interrupts_disconnect(struct ustor_adapter *ad);

/* Pool (port/pool.c): leak check at removal. */
void port_pool_check_leaks(struct ustor_adapter *ad);
void port_pool_release_all(struct ustor_adapter *ad);

/* ---- frames ------------------------------------------------------------ */

/* Their slow halves, out of line (frame.c): taking and releasing the
 * table-A locks, statistics, and what a routine did wrong. */
void port_frame_take_locks(struct ustor_adapter *ad, const struct rules_cell *cell, KIRQL irql);
void port_frame_release_locks(struct port_frame *f);
void port_frame_report_entry_irql(const struct port_frame *f);
void port_frame_record_time(const struct port_frame *f);
void port_frame_check_return(struct port_frame *f);

/* A miniport routine's prologue: takes the table-A locks (unless the
 * caller already holds them, as for ISRs), raises to the table's IRQL,
 * and pushes the frame the verifier's reports name.  Inline, because
 * every request runs two of them. */
static inline void port_frame_enter(struct port_frame *f, struct ustor_adapter *ad, enum rules_routine r,
                                    const struct rules_cell *cell, void *srb, bool take_locks)
{
    struct port_thread *pt = port_thread();
    KIRQL irql = ukern_irql_get();
    f->ad = ad;
    f->routine = r;
    f->cell = cell;
    f->srb = srb;
    f->held_at_entry = pt->nheld;
    f->saved_irql = irql;
    if (take_locks) {
        if (cell->held & (RL_BIT(RL_STARTIO) | RL_BIT(RL_INTERRUPT)))
            port_frame_take_locks(ad, cell, irql);
        irql = rules_irql_value(cell->irql, ad->dirql);
        ukern_irql_set(irql);
    }
    f->held_after_port = pt->nheld;
    f->ke_held_at_entry = ukern_held_count();
    f->entry_irql = irql;
    f->prev = pt->top;
    pt->top = f;
    if (__builtin_expect(!rules_irql_ok(cell->irql, irql, ad->dirql), 0))
        port_frame_report_entry_irql(f);
    f->t0 = __builtin_expect(ad->cfg.collect_stats, 0) ? ukern_now_ns() : 0;
}

/* Its epilogue: checks SpChangeIrql and the locks left held (releasing
 * them so the run goes on), releases the table-A locks, and drains the
 * completions when this was the outermost frame. */
static inline void port_frame_leave(struct port_frame *f, bool release_locks)
{
    struct port_thread *pt = port_thread();
    if (__builtin_expect(f->t0 != 0, 0))
        port_frame_record_time(f);
    if (__builtin_expect(ukern_irql_get() != f->entry_irql || pt->nheld > f->held_after_port ||
                             ukern_held_count() > f->ke_held_at_entry,
                         0))
        port_frame_check_return(f);
    pt->top = f->prev;
    if (release_locks) {
        if (f->cell->held & (RL_BIT(RL_STARTIO) | RL_BIT(RL_INTERRUPT)))
            port_frame_release_locks(f);
        ukern_irql_set(f->saved_irql);
    }
    if (pt->top == NULL && pt->hold_drain == 0)
        port_drain_completions();
}

#endif /* USTOR_PORT_PORT_H */
