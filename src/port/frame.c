/*
 * frame.c - what each thread is doing for the port: a stack of miniport
 * routine frames and the locks the thread holds.  Every call into the
 * miniport goes through port_frame_enter/leave (inline, port.h), which
 * take the table-A locks and IRQL (rules.c), and on return check
 * SpChangeIrql and StorPortSpinLock; the outermost frame then drains the
 * completions the routine produced, with no lock held.  Their slow
 * halves (locks, statistics, reports) are here.
 */
#include "port/port.h"
#include "port/vhooks.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The thread's port state lives in a heap block reached through one
 * thread-local pointer (see ukern_tls_block). */
_Thread_local struct port_thread *port_tls_thread;
#define tls (*port_thread())

struct port_thread *port_thread_first(void)
{
    return ukern_tls_block((void **)&port_tls_thread, sizeof(struct port_thread));
}

void port_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tls.last_error, sizeof(tls.last_error), fmt, ap);
    va_end(ap);
}

const char *ustor_last_error(void)
{
    return tls.last_error;
}

/* ---- held locks ----------------------------------------------------- */

void port_held_push_slow(struct port_thread *pt, struct ustor_adapter *ad, enum rules_lock cls,
                         const void *id, const void *handle, bool by_port, void *taken_at,
                         struct port_lock_stats *st)
{
    if (pt->nheld == PORT_MAX_HELD) {
        port_report(ad, "StorPortSpinLock", NULL,
                    "more than %d locks held at once on one thread; lock bookkeeping stops here",
                    PORT_MAX_HELD);
        return;
    }
    vhooks_port_lock_acquired(ad, cls, id); /* lock-order graph: before it counts as held */
    port_held_append(pt, ad, cls, id, handle, by_port, taken_at, st);
}

bool port_held_pop_search(struct port_thread *pt, const void *id, const void *handle,
                          struct port_held_lock *out)
{
    for (unsigned i = pt->nheld; i-- > 0;) {
        struct port_held_lock *h = &pt->held[i];
        if ((id == NULL || h->id == id) && (handle == NULL || h->handle == handle)) {
            if (out)
                *out = *h;
            memmove(h, h + 1, (pt->nheld - i - 1) * sizeof(*h));
            pt->nheld--;
            return true;
        }
    }
    return false;
}

rules_lockset port_held_set(void)
{
    rules_lockset s = RL_NONE;
    for (unsigned i = 0; i < tls.nheld; i++)
        s |= RL_BIT(tls.held[i].cls);
    return s;
}

bool port_held_has(const void *id)
{
    for (unsigned i = 0; i < tls.nheld; i++)
        if (tls.held[i].id == id)
            return true;
    return false;
}

const char *port_held_describe(char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    if (tls.nheld == 0) {
        snprintf(buf, len, "none");
        return buf;
    }
    for (unsigned i = 0; i < tls.nheld && off + 1 < len; i++) {
        const struct port_held_lock *h = &tls.held[i];
        char where[160] = "";
        Dl_info di;
        if (!h->by_port && h->taken_at && dladdr(h->taken_at, &di) && di.dli_sname)
            snprintf(where, sizeof(where), " at %s+0x%lx", di.dli_sname,
                     (unsigned long)((const char *)h->taken_at - (const char *)di.dli_saddr));
        off += (size_t)snprintf(buf + off, len - off, "%s%s@%p (%s, in %s%s)", i ? "; " : "",
                                rules_locks[h->cls].name, h->id,
                                h->by_port ? "taken by the port" : "taken by the miniport",
                                h->taken_in < RR_COUNT ? rules_routines[h->taken_in].name : "(port)", where);
        if (off >= len)
            break;
    }
    return buf;
}

/* ---- reports ---------------------------------------------------------- */

void port_where(struct uv_where *w, struct ustor_adapter *ad, const void *srb, char *locks, size_t len)
{
    memset(w, 0, sizeof(*w));
    w->routine = tls.top ? rules_routines[tls.top->routine].name : NULL;
    w->mode = ad ? port_mode_name(__atomic_load_n(&ad->mode, __ATOMIC_RELAXED)) : NULL;
    w->irql = ukern_irql_get();
    if (!srb && tls.top)
        srb = tls.top->srb;
    w->srb = srb;
    if (srb) {
        if (((const SCSI_REQUEST_BLOCK *)srb)->Function == SRB_FUNCTION_STORAGE_REQUEST_BLOCK) {
            w->cdb = (const uint8_t *)SrbGetCdb((PVOID)srb);
            w->cdb_len = SrbGetCdbLength((PVOID)srb);
        } else {
            w->cdb = ((const SCSI_REQUEST_BLOCK *)srb)->Cdb;
            w->cdb_len = ((const SCSI_REQUEST_BLOCK *)srb)->CdbLength;
            if (w->cdb_len > 16)
                w->cdb_len = 16;
        }
    }
    w->locks = port_held_describe(locks, len);
}

bool port_report(struct ustor_adapter *ad, const char *rule, const void *srb, const char *fmt, ...)
{
    struct uv_state *v = ad ? &ad->uv : &uv_global;
    if (v->mode == USTOR_VERIFIER_OFF)
        return false;
    char locks[512];
    struct uv_where w;
    port_where(&w, ad, srb, locks, sizeof(locks));
    va_list ap;
    va_start(ap, fmt);
    bool r = uv_vreport(v, rule, &w, fmt, ap);
    va_end(ap);
    if (ad && __atomic_load_n(&v->fatal_hit, __ATOMIC_ACQUIRE))
        __atomic_store_n(&ad->state, AD_FAILED, __ATOMIC_RELEASE);
    return r;
}

/* ---- frames: the slow halves of port_frame_enter / leave (port.h) ----- */

/* S4.4: StartIo before Interrupt, each at least at its IRQL (the caller
 * then sets the routine's). */
void port_frame_take_locks(struct ustor_adapter *ad, const struct rules_cell *cell, KIRQL irql)
{
    if (cell->held & RL_BIT(RL_STARTIO)) {
        if (irql < DISPATCH_LEVEL)
            ukern_irql_set(irql = DISPATCH_LEVEL);
        port_startio_lock(ad);
    }
    if (cell->held & RL_BIT(RL_INTERRUPT)) {
        if (irql < ad->dirql)
            ukern_irql_set(irql = ad->dirql);
        port_interrupt_lock_all(ad);
    }
}

void port_frame_release_locks(struct port_frame *f)
{
    if (f->cell->held & RL_BIT(RL_INTERRUPT))
        port_interrupt_unlock_all(f->ad);
    if (f->cell->held & RL_BIT(RL_STARTIO))
        port_startio_unlock(f->ad);
}

void port_frame_report_entry_irql(const struct port_frame *f)
{
    struct ustor_adapter *ad = f->ad;
    port_report(ad, "RoutineIrql", f->srb, "%s entered at IRQL %u; the rules table says %s (DIRQL is %u)",
                rules_routines[f->routine].name, f->entry_irql, rules_irql_name(f->cell->irql), ad->dirql);
}

/* Releases a lock the miniport left held, so the run can go on. */
static void release_leftover(struct port_held_lock *h)
{
    switch (h->cls) {
    case RL_STARTIO:
        port_startio_unlock(h->ad);
        break;
    case RL_INTERRUPT:
        if (h->id == (const void *)h->ad)
            port_interrupt_unlock_all(h->ad);
        else
            ukern_spin_release_raw((PKSPIN_LOCK)h->id);
        break;
    case RL_DPC:
    default:
        ukern_spin_release_raw((PKSPIN_LOCK)h->id);
        break;
    }
}

/* --stats: calls, total and longest time per routine. */
void port_frame_record_time(const struct port_frame *f)
{
    struct port_routine_stat *st = &f->ad->routine_stats[f->routine];
    uint64_t dt = ukern_now_ns() - f->t0;
    __atomic_fetch_add(&st->calls, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&st->total_ns, dt, __ATOMIC_RELAXED);
    uint64_t mx = __atomic_load_n(&st->max_ns, __ATOMIC_RELAXED);
    while (dt > mx && !__atomic_compare_exchange_n(&st->max_ns, &mx, dt, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

struct leftover_ctx {
    struct port_frame *f;
};

/* A Ke* lock the routine took and did not release: SDV's SpinLock,
 * SpinLockDpc or QueuedSpinLock, by how it was taken. */
static void report_ke_leftover(const void *obj, enum ukern_lock_api api, void *ctx)
{
    struct port_frame *f = ((struct leftover_ctx *)ctx)->f;
    const char *rule = api == UKERN_LOCK_KE_SPIN_RAISE ? "SpinLockDpc"
                       : api == UKERN_LOCK_KE_QUEUED   ? "QueuedSpinLock"
                                                       : "SpinLock";
    const char *how = api == UKERN_LOCK_KE_SPIN_RAISE ? "KeAcquireSpinLockRaiseToDpc"
                      : api == UKERN_LOCK_KE_QUEUED   ? "KeAcquireInStackQueuedSpinLock"
                      : api == UKERN_LOCK_KE_SPIN_DPC ? "KeAcquireSpinLockAtDpcLevel"
                      : api == UKERN_LOCK_INTERRUPT   ? "an interrupt object's lock"
                                                      : "KeAcquireSpinLock";
    port_report(f->ad, rule, f->srb, "%s returned still holding spin lock %p taken with %s; the port "
                "released it so other threads do not hang", rules_routines[f->routine].name, obj, how);
}

/* The routine returned at another IRQL or holding locks. */
void port_frame_check_return(struct port_frame *f)
{
    struct port_thread *pt = &tls;
    struct ustor_adapter *ad = f->ad;
    KIRQL now = ukern_irql_get();
    if (now != f->entry_irql) {
        port_report(ad, "SpChangeIrql", f->srb, "%s returned at IRQL %u but was called at IRQL %u",
                    rules_routines[f->routine].name, now, f->entry_irql);
        ukern_irql_set(f->entry_irql);
    }
    if (pt->nheld > f->held_after_port) {
        char locks[512];
        port_report(ad, "StorPortSpinLock", f->srb, "%s returned still holding %u lock(s): %s",
                    rules_routines[f->routine].name, pt->nheld - f->held_after_port,
                    port_held_describe(locks, sizeof(locks)));
        while (pt->nheld > f->held_after_port) {
            struct port_held_lock h = pt->held[--pt->nheld];
            release_leftover(&h);
        }
    }
    if (ukern_held_count() > f->ke_held_at_entry) {
        struct leftover_ctx c = { f };
        ukern_held_release_from(f->ke_held_at_entry, report_ke_leftover, &c);
    }
}
