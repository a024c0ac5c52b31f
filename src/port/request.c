/*
 * request.c - the request path (SPEC S5): submission, per-LUN queues with
 * depth / busy / pause, HwStorBuildIo with no lock then HwStorStartIo
 * under the table-A locks (S5.2-S5.6), RequestComplete, the BUSY re-issue
 * with a fresh SrbExtension (S5.7), timeouts and bus resets.
 *
 * Requests come from a pool made at adapter creation; nothing on this path
 * allocates in steady state.
 */
#include "port/port.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/physmem.h"
#include "port/memory.h"

#define EXT_POISON 0xDB

/* ---- SRB field access for both kinds (S5.9) ------------------------ */

static inline bool srb_is_ex(const void *srb)
{
    return ((const SCSI_REQUEST_BLOCK *)srb)->Function == SRB_FUNCTION_STORAGE_REQUEST_BLOCK;
}

static void srb_set_extension(void *srb, void *ext)
{
    if (srb_is_ex(srb))
        ((PSTORAGE_REQUEST_BLOCK)srb)->MiniportContext = ext;
    else
        ((PSCSI_REQUEST_BLOCK)srb)->SrbExtension = ext;
}

static void *srb_get_extension(void *srb)
{
    return srb_is_ex(srb) ? ((PSTORAGE_REQUEST_BLOCK)srb)->MiniportContext
                          : ((PSCSI_REQUEST_BLOCK)srb)->SrbExtension;
}

static void srb_set_original(void *srb, void *req)
{
    if (srb_is_ex(srb))
        ((PSTORAGE_REQUEST_BLOCK)srb)->OriginalRequest = req;
    else
        ((PSCSI_REQUEST_BLOCK)srb)->OriginalRequest = req;
}

static void *srb_get_original(void *srb)
{
    return srb_is_ex(srb) ? ((PSTORAGE_REQUEST_BLOCK)srb)->OriginalRequest
                          : ((PSCSI_REQUEST_BLOCK)srb)->OriginalRequest;
}

/* Zeroes a fresh SrbExtension: whole 64-byte blocks (the pool's stride,
 * see setup_requests), inline, where a memset call costs more than the
 * stores for the usual small extension. */
static inline void ext_zero(uint8_t *p, uint32_t size)
{
    for (uint32_t off = 0; off < size; off += 64)
        __builtin_memset(p + off, 0, 64);
}

/* ---- pool ----------------------------------------------------------- */

static struct port_request *pool_pop(struct ustor_adapter *ad, struct port_free_list *fl)
{
    uint64_t top = __atomic_load_n(&fl->top, __ATOMIC_ACQUIRE);
    while ((uint32_t)top) {
        struct port_request *r = &ad->reqs[(uint32_t)top - 1];
        /* r may be popped and pushed again meanwhile: then the tag has
         * moved and the exchange fails. */
        uint64_t next = ((top >> 32) + 1) << 32 | __atomic_load_n(&r->free_next, __ATOMIC_RELAXED);
        if (__atomic_compare_exchange_n(&fl->top, &top, next, true, __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE))
            return r;
    }
    return NULL;
}

static struct port_request *pool_get(struct ustor_adapter *ad, unsigned home)
{
    unsigned n = ad->nr_free_lists;
    for (unsigned k = 0, i = home; k < n; k++, i = i + 1 == n ? 0 : i + 1) {
        struct port_request *r = pool_pop(ad, &ad->free_lists[i]);
        if (r)
            return r;
    }
    return NULL;
}

static void pool_put(struct ustor_adapter *ad, unsigned slot, struct port_request *r)
{
    struct port_free_list *fl = &ad->free_lists[slot];
    uint64_t top = __atomic_load_n(&fl->top, __ATOMIC_RELAXED);
    uint64_t next;
    do {
        __atomic_store_n(&r->free_next, (uint32_t)top, __ATOMIC_RELAXED);
        next = ((top >> 32) + 1) << 32 | (r->index + 1);
    } while (!__atomic_compare_exchange_n(&fl->top, &top, next, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

struct port_request *port_request_from_srb(struct ustor_adapter *ad, void *srb)
{
    if (!srb)
        return NULL;
    uintptr_t p = (uintptr_t)srb_get_original(srb);
    uintptr_t base = (uintptr_t)ad->reqs;
    uintptr_t end = base + (uintptr_t)ad->nr_reqs * sizeof(struct port_request);
    if (p < base || p >= end || (p - base) % sizeof(struct port_request) != 0)
        return NULL;
    struct port_request *r = (struct port_request *)p;
    return r->srb == srb ? r : NULL;
}

/* ---- LUNs ----------------------------------------------------------- */

static inline bool lun_in_range(const struct ustor_adapter *ad, UCHAR path, UCHAR target, UCHAR lun)
{
    return path < ad->nr_paths && target < ad->nr_targets && lun < ad->nr_luns;
}

static inline uint32_t lun_slot(const struct ustor_adapter *ad, UCHAR path, UCHAR target, UCHAR lun)
{
    return ((uint32_t)path * ad->nr_targets + target) * ad->nr_luns + lun;
}

/* The LUN at that address once it has seen an I/O, else NULL; inline,
 * as every submission asks. */
static inline struct port_lun *lun_lookup(struct ustor_adapter *ad, UCHAR path, UCHAR target, UCHAR lun)
{
    if (!lun_in_range(ad, path, target, lun))
        return NULL;
    return __atomic_load_n(&ad->luns[lun_slot(ad, path, target, lun)], __ATOMIC_ACQUIRE);
}

struct port_lun *port_lun_get(struct ustor_adapter *ad, UCHAR path, UCHAR target, UCHAR lun, bool create)
{
    struct port_lun *l = lun_lookup(ad, path, target, lun);
    if (l || !create || !lun_in_range(ad, path, target, lun))
        return l;
    uint32_t slot = lun_slot(ad, path, target, lun);
    /* First I/O to this LUN: the one allocation, outside steady state. */
    l = aligned_alloc(64, sizeof(*l));
    if (!l)
        return NULL;
    memset(l, 0, sizeof(*l));
    l->ad = ad;
    l->path = path;
    l->target = target;
    l->lun = lun;
    l->depth = PORT_DEFAULT_LUN_DEPTH;
    if (ad->config.InitialLunQueueDepth && ad->config.InitialLunQueueDepth <= PORT_MAX_LUN_DEPTH)
        l->depth = ad->config.InitialLunQueueDepth;
    if (ad->drv->hw.SpecificLuExtensionSize)
        l->lu_extension = calloc(1, ad->drv->hw.SpecificLuExtensionSize);
    struct port_lun *expected = NULL;
    if (!__atomic_compare_exchange_n(&ad->luns[slot], &expected, l, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        free(l->lu_extension);
        free(l);
        return expected;
    }
    /* Each slot is won once, so the list has room. */
    uint32_t at = __atomic_fetch_add(&ad->nr_lun_list, 1, __ATOMIC_ACQ_REL);
    __atomic_store_n(&ad->lun_list[at], l, __ATOMIC_RELEASE);
    return l;
}

LONG64 port_outstanding(struct ustor_adapter *ad)
{
    LONG64 sum = 0;
    struct port_lun *l;
    for (uint32_t i = 0; (l = port_lun_next(ad, &i)) != NULL;)
        sum += __atomic_load_n(&l->outstanding, __ATOMIC_SEQ_CST);
    return sum;
}

/* Everything but the LUN's depth: adapter running, nothing paused or busy. */
static bool may_start(struct port_lun *l)
{
    struct ustor_adapter *ad = l->ad;
    return __atomic_load_n(&ad->state, __ATOMIC_ACQUIRE) == AD_RUNNING &&
           !__atomic_load_n(&ad->paused, __ATOMIC_ACQUIRE) &&
           __atomic_load_n(&ad->busy_until_completions, __ATOMIC_ACQUIRE) <= 0 &&
           !__atomic_load_n(&l->paused, __ATOMIC_SEQ_CST) &&
           __atomic_load_n(&l->busy_until_completions, __ATOMIC_SEQ_CST) == 0;
}

static bool can_start(struct port_lun *l)
{
    return may_start(l) &&
           __atomic_load_n(&l->outstanding, __ATOMIC_SEQ_CST) < __atomic_load_n(&l->depth, __ATOMIC_SEQ_CST);
}

/* ---- starting a request ---------------------------------------------- */

static void complete_by_port(struct port_request *r, UCHAR status);

static void start_request(struct port_request *r)
{
    struct ustor_adapter *ad = r->ad;
    struct port_thread *pt = port_thread();
    void *srb = r->srb;

    __atomic_store_n(&r->start_ns, __atomic_load_n(&ad->clock_ns, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
    r->dtl_at_start = SrbGetDataTransferLength(srb);
    __atomic_store_n(&r->state, REQ_OUTSTANDING, __ATOMIC_RELEASE);

    /* Completions the routines make are drained after both calls, so the
     * request cannot be recycled under our feet. */
    pt->hold_drain++;

    struct port_frame f;
    BOOLEAN built = TRUE;
    if (ad->drv->hw.HwBuildIo) {
        port_frame_enter(&f, ad, RR_BUILDIO, rules_cell(RR_BUILDIO, port_mode(ad)), srb, true);
        built = ad->drv->hw.HwBuildIo(ad->devext, srb);
        /* Judged inside the frame, so the report names HwStorBuildIo. */
        if (!built && __atomic_load_n(&r->state, __ATOMIC_ACQUIRE) == REQ_OUTSTANDING)
            port_report(ad, "StorPortBuildIo", srb,
                        "HwStorBuildIo returned FALSE but did not complete the SRB; the port "
                        "completes it with SRB_STATUS_INTERNAL_ERROR instead of sending it to StartIo");
        port_frame_leave(&f, true);
    }
    int st = __atomic_load_n(&r->state, __ATOMIC_ACQUIRE);
    if (!built) {
        if (st == REQ_OUTSTANDING)
            complete_by_port(r, SRB_STATUS_INTERNAL_ERROR);
    } else if (st == REQ_OUTSTANDING) {
        port_frame_enter(&f, ad, RR_STARTIO, rules_cell(RR_STARTIO, port_mode(ad)), srb, true);
        (void)ad->drv->hw.HwStartIo(ad->devext, (PSCSI_REQUEST_BLOCK)srb);
        port_frame_leave(&f, true);
    }
    /* else: completed inside HwStorBuildIo, which returned TRUE: legal for
     * a request the miniport finished early; StartIo is not called. */

    pt->hold_drain--;
    if (pt->top == NULL && pt->hold_drain == 0)
        port_drain_completions();
}

void port_kick_lun(struct port_lun *l)
{
    /* Nothing queued: nothing to start.  A request queued right after this
     * look was queued under the lock by a submitter that saw it could not
     * start; whatever stops it (depth, busy, pause) kicks again when it
     * clears. */
    if (!__atomic_load_n(&l->qhead, __ATOMIC_SEQ_CST))
        return;
    for (;;) {
        ukern_spin_acquire_raw(&l->lock);
        struct port_request *r = l->qhead;
        if (!r || !can_start(l)) {
            ukern_spin_release_raw(&l->lock);
            return;
        }
        __atomic_store_n(&l->qhead, r->next, __ATOMIC_SEQ_CST);
        if (!l->qhead)
            l->qtail = NULL;
        l->queued--;
        __atomic_fetch_add(&l->outstanding, 1, __ATOMIC_SEQ_CST);
        ukern_spin_release_raw(&l->lock);
        r->next = NULL;
        start_request(r);
    }
}

void port_kick_all(struct ustor_adapter *ad)
{
    struct port_lun *l;
    for (uint32_t i = 0; (l = port_lun_next(ad, &i)) != NULL;)
        port_kick_lun(l);
}

static void lun_enqueue(struct port_lun *l, struct port_request *r, bool at_head)
{
    __atomic_store_n(&r->state, REQ_QUEUED, __ATOMIC_RELEASE);
    ukern_spin_acquire_raw(&l->lock);
    if (at_head) {
        r->next = l->qhead;
        __atomic_store_n(&l->qhead, r, __ATOMIC_SEQ_CST);
        if (!l->qtail)
            l->qtail = r;
    } else {
        r->next = NULL;
        if (l->qtail)
            l->qtail->next = r;
        else
            __atomic_store_n(&l->qhead, r, __ATOMIC_SEQ_CST);
        l->qtail = r;
    }
    l->queued++;
    ukern_spin_release_raw(&l->lock);
}

/* ---- submission -------------------------------------------------------- */

static int validate_srb(struct ustor_adapter *ad, void *srb, UCHAR *path, UCHAR *target, UCHAR *lun)
{
    const SCSI_REQUEST_BLOCK *s = srb;
    if (s->Function == SRB_FUNCTION_STORAGE_REQUEST_BLOCK) {
        const STORAGE_REQUEST_BLOCK *x = srb;
        if (!ad->config.SrbType) {
            port_set_error("STORAGE_REQUEST_BLOCK sent to a miniport that declared only "
                           "SCSI_REQUEST_BLOCK support (SrbType = SRB_TYPE_SCSI_REQUEST_BLOCK)");
            return -EINVAL;
        }
        if (x->Signature != SRB_SIGNATURE) {
            port_set_error("STORAGE_REQUEST_BLOCK Signature is 0x%08x; expected SRB_SIGNATURE 0x%08x",
                           x->Signature, (unsigned)SRB_SIGNATURE);
            return -EINVAL;
        }
        if (x->Version != STORAGE_REQUEST_BLOCK_VERSION_1) {
            port_set_error("STORAGE_REQUEST_BLOCK Version is %u; expected STORAGE_REQUEST_BLOCK_VERSION_1 (%u)",
                           x->Version, (unsigned)STORAGE_REQUEST_BLOCK_VERSION_1);
            return -EINVAL;
        }
        if (x->SrbLength < sizeof(STORAGE_REQUEST_BLOCK) ||
            x->SrbLength < sizeof(STORAGE_REQUEST_BLOCK) + (x->NumSrbExData ? (x->NumSrbExData - 1) * sizeof(ULONG) : 0)) {
            port_set_error("STORAGE_REQUEST_BLOCK SrbLength %u is too small for the block and its %u "
                           "SrbExDataOffset entries", x->SrbLength, x->NumSrbExData);
            return -EINVAL;
        }
        for (ULONG i = 0; i < x->NumSrbExData; i++) {
            ULONG off = x->SrbExDataOffset[i];
            if (off < sizeof(STORAGE_REQUEST_BLOCK) - sizeof(ULONG) || off + sizeof(SRBEX_DATA) > x->SrbLength) {
                port_set_error("STORAGE_REQUEST_BLOCK SrbExDataOffset[%u] = %u lies outside the block "
                               "(SrbLength %u)", i, off, x->SrbLength);
                return -EINVAL;
            }
            const SRBEX_DATA *d = (const SRBEX_DATA *)((const UCHAR *)x + off);
            if (off + d->Length + offsetof(SRBEX_DATA, Data) > x->SrbLength) {
                port_set_error("SRBEX_DATA %u (type %d, length %u) runs past SrbLength %u", i,
                               (int)d->Type, d->Length, x->SrbLength);
                return -EINVAL;
            }
        }
        if (x->AddressOffset == 0 || x->AddressOffset + sizeof(STOR_ADDR_BTL8) > x->SrbLength) {
            port_set_error("STORAGE_REQUEST_BLOCK AddressOffset %u does not point to a STOR_ADDR_BTL8 "
                           "inside the block", x->AddressOffset);
            return -EINVAL;
        }
        const STOR_ADDR_BTL8 *a = (const STOR_ADDR_BTL8 *)((const UCHAR *)x + x->AddressOffset);
        if (a->Type != STOR_ADDRESS_TYPE_BTL8) {
            port_set_error("STORAGE_REQUEST_BLOCK address type %u; only STOR_ADDRESS_TYPE_BTL8 (%u) is supported",
                           a->Type, (unsigned)STOR_ADDRESS_TYPE_BTL8);
            return -EINVAL;
        }
        *path = a->Path;
        *target = a->Target;
        *lun = a->Lun;
        if (x->SrbFunction == SRB_FUNCTION_EXECUTE_SCSI && SrbGetCdb(srb) == NULL) {
            port_set_error("STORAGE_REQUEST_BLOCK for SRB_FUNCTION_EXECUTE_SCSI has no SRBEX_DATA_SCSI_CDB* block");
            return -EINVAL;
        }
        if (x->DataTransferLength && !x->DataBuffer) {
            port_set_error("DataTransferLength is %u but DataBuffer is NULL", x->DataTransferLength);
            return -EINVAL;
        }
        return 0;
    }
    if (ad->config.SrbType == SRB_TYPE_STORAGE_REQUEST_BLOCK) {
        port_set_error("SCSI_REQUEST_BLOCK sent to a miniport that declared STORAGE_REQUEST_BLOCK "
                       "support; build a STORAGE_REQUEST_BLOCK (ustor_adapter_uses_srbex)");
        return -EINVAL;
    }
    if (s->Length != sizeof(SCSI_REQUEST_BLOCK)) {
        port_set_error("SCSI_REQUEST_BLOCK Length is %u; expected sizeof(SCSI_REQUEST_BLOCK) = %zu",
                       s->Length, sizeof(SCSI_REQUEST_BLOCK));
        return -EINVAL;
    }
    if (s->Function == SRB_FUNCTION_EXECUTE_SCSI && (s->CdbLength == 0 || s->CdbLength > 16)) {
        port_set_error("SCSI_REQUEST_BLOCK CdbLength is %u; expected 1..16 (use a STORAGE_REQUEST_BLOCK "
                       "for 32-byte CDBs)", s->CdbLength);
        return -EINVAL;
    }
    if (s->DataTransferLength && !s->DataBuffer) {
        port_set_error("DataTransferLength is %u but DataBuffer is NULL", s->DataTransferLength);
        return -EINVAL;
    }
    if (s->SenseInfoBufferLength && !s->SenseInfoBuffer) {
        port_set_error("SenseInfoBufferLength is %u but SenseInfoBuffer is NULL", s->SenseInfoBufferLength);
        return -EINVAL;
    }
    *path = s->PathId;
    *target = s->TargetId;
    *lun = s->Lun;
    return 0;
}

int ustor_submit_srb(ustor_adapter *ad, void *srb, ustor_srb_done cb, void *ctx)
{
    if (!ad || !srb || !cb) {
        port_set_error("ustor_submit_srb: %s is NULL", !ad ? "adapter" : !srb ? "srb" : "callback");
        return -EINVAL;
    }
    int state = __atomic_load_n(&ad->state, __ATOMIC_ACQUIRE);
    if (state == AD_STOPPING || state == AD_FAILED) {
        port_set_error("adapter %s is %s; no new requests", ad->name,
                       state == AD_FAILED ? "stopped by the verifier (fatal mode)" : "stopping");
        return -ENODEV;
    }
    UCHAR path = 0, target = 0, lun = 0;
    int rc = validate_srb(ad, srb, &path, &target, &lun);
    if (rc) {
        port_report(ad, "BadSrb", srb, "%s", port_thread()->last_error);
        return rc;
    }
    struct port_lun *l = lun_lookup(ad, path, target, lun);
    if (!l) /* its first I/O, or no such LUN */
        l = port_lun_get(ad, path, target, lun, true);
    if (!l) {
        port_set_error("no logical unit %u/%u/%u: the miniport reports %u bus(es), %u target(s), %u LUN(s)",
                       path, target, lun, ad->nr_paths, ad->nr_targets, ad->nr_luns);
        return -ENODEV;
    }
    /* This CPU's pool and counters (the slot is looked up once). */
    unsigned slot = port_cpu_slot(ad);
    struct port_request *r = pool_get(ad, slot);
    if (!r) {
        port_set_error("all %u requests of adapter %s are in use; retry after a completion",
                       ad->nr_reqs, ad->name);
        return -EBUSY;
    }
    r->ad = ad;
    /* lun, srb and timeout_s are read by the watchdog on another thread. */
    __atomic_store_n(&r->lun, l, __ATOMIC_RELAXED);
    __atomic_store_n(&r->srb, srb, __ATOMIC_RELAXED);
    r->srbex = srb_is_ex(srb);
    r->cb = cb;
    r->cb_ctx = ctx;
    r->busy_count = 0;
    __atomic_store_n(&r->timed_out, 0, __ATOMIC_RELAXED);
    r->status_override = 0;
    r->cur_ext = 0;
    r->submit_ns = __atomic_load_n(&ad->clock_ns, __ATOMIC_RELAXED);
    ULONG to = SrbGetTimeOutValue(srb);
    __atomic_store_n(&r->timeout_s, to ? to : PORT_DEFAULT_TIMEOUT_S, __ATOMIC_RELAXED);
    if (ad->srb_ext_size)
        ext_zero(r->ext[0], ad->srb_ext_size);
    srb_set_extension(srb, ad->srb_ext_size ? r->ext[0] : NULL);
    srb_set_original(srb, r);
    SrbSetSrbStatus(srb, SRB_STATUS_PENDING);

    __atomic_fetch_add(&ad->counts[slot].submitted, 1, __ATOMIC_RELAXED);
    /* Straight to the miniport when nothing waits ahead of it, without
     * the LUN lock: claim a slot of the LUN's depth, then look again
     * that nobody queued meanwhile.  Otherwise give the slot back and
     * queue at the tail; the kick after queueing starts whatever the
     * slot, briefly claimed, kept another submitter from starting. */
    if (!__atomic_load_n(&l->qhead, __ATOMIC_SEQ_CST) && may_start(l)) {
        uint32_t out = __atomic_fetch_add(&l->outstanding, 1, __ATOMIC_SEQ_CST);
        if (out < __atomic_load_n(&l->depth, __ATOMIC_SEQ_CST) && !__atomic_load_n(&l->qhead, __ATOMIC_SEQ_CST)) {
            start_request(r);
            return 0;
        }
        __atomic_fetch_sub(&l->outstanding, 1, __ATOMIC_SEQ_CST);
    }
    lun_enqueue(l, r, false);
    port_kick_lun(l);
    return 0;
}

/* ---- completion -------------------------------------------------------- */

/* Queues a completed request on this thread's list; the outermost frame
 * (or the port, after its own completions) drains it with no lock held. */
static inline void done_append(struct port_thread *pt, struct port_request *r)
{
    r->next = NULL;
    if (pt->done_tail)
        pt->done_tail->next = r;
    else
        pt->done_head = r;
    pt->done_tail = r;
}

void port_request_complete(struct ustor_adapter *ad, void *srb)
{
    struct port_request *r = port_request_from_srb(ad, srb);
    if (!r) {
        port_report(ad, "SrbNotOutstanding", srb,
                    "RequestComplete for SRB %p, which the port never gave this miniport (or which was "
                    "completed and handed back to its owner already)", srb);
        return;
    }
    int expected = REQ_OUTSTANDING;
    if (!__atomic_compare_exchange_n(&r->state, &expected, REQ_COMPLETING, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        if (expected == REQ_COMPLETING)
            port_report(ad, "SrbDoubleCompletion", srb, "RequestComplete for SRB %p a second time", srb);
        else
            port_report(ad, "SrbNotOutstanding", srb,
                        "RequestComplete for SRB %p, which the miniport does not hold (port state %d)",
                        srb, expected);
        return;
    }
    /* S5.7: after a BUSY re-issue the SRB carries the fresh extension; a
     * miniport that completes it from state kept with the dropped one
     * (putting the old pointer back) works on memory it no longer owns. */
    void *ext_now = srb_get_extension(srb);
    if (ad->srb_ext_size && ext_now != r->ext[r->cur_ext]) {
        bool dropped = r->busy_count && ext_now == r->ext[r->cur_ext ^ 1];
        port_report(ad, "SrbCompletedWithOldExtension", srb,
                    "SRB completed with SrbExtension %p but the port gave this attempt %p%s (SPEC S5.7); "
                    "the port puts the right one back", ext_now, (void *)r->ext[r->cur_ext],
                    dropped ? ": that is the extension dropped at the BUSY completion" : "");
        srb_set_extension(srb, r->ext[r->cur_ext]);
    }
    if (SRB_STATUS(SrbGetSrbStatus(srb)) == SRB_STATUS_PENDING)
        port_report(ad, "StorPortStatusPending", srb,
                    "SRB completed with SrbStatus SRB_STATUS_PENDING; the caller sees a failure");
    done_append(port_thread(), r);
}

/* The port decides a request's fate (timeout, abort, BuildIo failure). */
static void complete_by_port(struct port_request *r, UCHAR status)
{
    int expected = REQ_OUTSTANDING;
    if (!__atomic_compare_exchange_n(&r->state, &expected, REQ_COMPLETING, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return;
    r->status_override = status;
    done_append(port_thread(), r);
}

static bool ext_poison_intact(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != EXT_POISON)
            return false;
    return true;
}

static void check_dropped_extension(struct port_request *r)
{
    struct ustor_adapter *ad = r->ad;
    if (!r->busy_count || !ad->srb_ext_size)
        return;
    const uint8_t *old = r->ext[r->cur_ext ^ 1];
    if (!ext_poison_intact(old, ad->srb_ext_size))
        port_report(ad, "SrbExtensionAfterBusy", r->srb,
                    "the SrbExtension %p dropped when this SRB completed with SRB_STATUS_BUSY was "
                    "written afterwards; after BUSY the port gives a new extension and the old one "
                    "belongs to nobody (SPEC S5.7)", (const void *)old);
}

static void finish(struct port_request *r)
{
    struct ustor_adapter *ad = r->ad;
    struct port_lun *l = r->lun;
    void *srb = r->srb;
    UCHAR status = r->status_override ? r->status_override : SRB_STATUS(SrbGetSrbStatus(srb));

    if (status == SRB_STATUS_BUSY && !r->status_override) {
        if (SrbGetDataTransferLength(srb) != r->dtl_at_start) {
            port_report(ad, "SrbBusyDataTransferLength", srb,
                        "SRB completed with SRB_STATUS_BUSY after DataTransferLength changed from %u to "
                        "%u; the port restores it (SPEC S5.7)", r->dtl_at_start,
                        SrbGetDataTransferLength(srb));
            SrbSetDataTransferLength(srb, r->dtl_at_start);
        }
        if (__atomic_load_n(&ad->clock_ns, __ATOMIC_RELAXED) - r->submit_ns < (uint64_t)r->timeout_s * 1000000000ull &&
            __atomic_load_n(&ad->state, __ATOMIC_ACQUIRE) != AD_STOPPING) {
            /* S5.7: drop the extension, give a fresh one, send again. */
            __atomic_fetch_add(&ad->n_busy, 1, __ATOMIC_RELAXED);
            check_dropped_extension(r);
            if (ad->srb_ext_size) {
                memset(r->ext[r->cur_ext], EXT_POISON, ad->srb_ext_size);
                r->cur_ext ^= 1;
                memset(r->ext[r->cur_ext], 0, ad->srb_ext_size);
                srb_set_extension(srb, r->ext[r->cur_ext]);
            }
            r->busy_count++;
            SrbSetSrbStatus(srb, SRB_STATUS_PENDING);
            __atomic_fetch_sub(&l->outstanding, 1, __ATOMIC_SEQ_CST);
            lun_enqueue(l, r, true);
            port_kick_lun(l);
            return;
        }
        status = SRB_STATUS_TIMEOUT;
        r->status_override = status;
    }

    check_dropped_extension(r);
    if (r->status_override)
        SrbSetSrbStatus(srb, r->status_override);
    port_memory_srb_done(ad, r);
    if (r->data_phys) {
        ustor_phys_unmap(r->data_phys);
        r->data_phys = 0;
    }

    LONG busy = __atomic_load_n(&ad->busy_until_completions, __ATOMIC_ACQUIRE);
    if (busy > 0)
        __atomic_fetch_sub(&ad->busy_until_completions, 1, __ATOMIC_ACQ_REL);
    /* No LUN lock for the common case: a submitter that found the LUN
     * full queued its request under the lock and then kicked, re-reading
     * this count after its queueing (sequentially consistent), so either
     * it sees this decrement or port_kick_lun below sees its request. */
    __atomic_fetch_sub(&l->outstanding, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&l->busy_until_completions, __ATOMIC_SEQ_CST)) {
        ukern_spin_acquire_raw(&l->lock);
        if (__atomic_load_n(&l->busy_until_completions, __ATOMIC_SEQ_CST))
            __atomic_store_n(&l->busy_until_completions, l->busy_until_completions - 1, __ATOMIC_SEQ_CST);
        ukern_spin_release_raw(&l->lock);
    }

    /* Counted before the callback, so that a host that has seen its last
     * callback also sees it in the statistics; "released" (after the
     * callback) is what the stop path waits for. */
    unsigned slot = port_cpu_slot(ad);
    __atomic_fetch_add(&ad->counts[slot].completed, 1, __ATOMIC_RELAXED);
    if (status != SRB_STATUS_SUCCESS)
        __atomic_fetch_add(&ad->n_errors, 1, __ATOMIC_RELAXED);

    ustor_srb_done cb = r->cb;
    void *ctx = r->cb_ctx;
    __atomic_store_n(&r->srb, NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&r->state, REQ_FREE, __ATOMIC_RELEASE);
    pool_put(ad, slot, r);

    cb(ctx, srb, status);
    /* Any CPU's counter will do (they are summed); the callback may
     * have moved this thread to another simulated CPU. */
    __atomic_fetch_add(&ad->counts[slot].released, 1, __ATOMIC_RELEASE);
    port_kick_lun(l);
}

/* Completions made where host callbacks cannot run (a lock is held, or
 * IRQL is above DISPATCH: an ISR) go to this CPU's completion queue and
 * DPC, as Storport completes ISR-completed requests from its own DPC.
 * A run of one adapter's requests goes over at once (an ISR completes
 * many per interrupt): one queue lock, one DPC insertion. */
static void handoff_to_dpc(struct port_request *first, struct port_request *last)
{
    struct ustor_adapter *ad = first->ad;
    struct port_cq *cq = &ad->cqs[port_cpu_slot(ad)];
    last->next = NULL;
    ukern_spin_acquire_raw(&cq->lock);
    if (cq->tail)
        cq->tail->next = first;
    else
        cq->head = first;
    cq->tail = last;
    ukern_spin_release_raw(&cq->lock);
    KeInsertQueueDpc(&cq->dpc, NULL, NULL);
}

void port_completion_dpc_queue(struct ustor_adapter *ad)
{
    KeInsertQueueDpc(&ad->cqs[port_cpu_slot(ad)].dpc, NULL, NULL);
}

void port_drain_completions(void)
{
    struct port_thread *pt = port_thread();
    if (pt->draining || !pt->done_head)
        return;
    if (pt->nheld > 0 || ukern_irql_get() > DISPATCH_LEVEL) {
        struct port_request *r = pt->done_head;
        pt->done_head = pt->done_tail = NULL;
        while (r) {
            struct port_request *last = r;
            while (last->next && last->next->ad == r->ad)
                last = last->next;
            struct port_request *next = last->next;
            handoff_to_dpc(r, last);
            r = next;
        }
        return;
    }
    pt->draining = true;
    struct port_request *r;
    while ((r = pt->done_head) != NULL) {
        pt->done_head = r->next;
        if (!pt->done_head)
            pt->done_tail = NULL;
        finish(r);
    }
    pt->draining = false;
}

void port_completion_dpc(PKDPC dpc, PVOID ctx, PVOID a1, PVOID a2)
{
    (void)dpc;
    (void)a1;
    (void)a2;
    struct port_cq *cq = ctx;
    struct ustor_adapter *ad = cq->ad;
    struct port_thread *pt = port_thread();
    ukern_spin_acquire_raw(&cq->lock);
    struct port_request *list = cq->head;
    cq->head = cq->tail = NULL;
    ukern_spin_release_raw(&cq->lock);
    while (list) {
        struct port_request *next = list->next;
        done_append(pt, list);
        list = next;
    }
    port_drain_completions();
    int kick = 1;
    if (__atomic_compare_exchange_n(&ad->kick_pending, &kick, 0, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        port_kick_all(ad);
}

/* ---- aborts, resets, timeouts -------------------------------------- */

void port_abort_queued(struct ustor_adapter *ad, UCHAR status)
{
    struct port_thread *pt = port_thread();
    struct port_lun *l;
    for (uint32_t i = 0; (l = port_lun_next(ad, &i)) != NULL;) {
        ukern_spin_acquire_raw(&l->lock);
        struct port_request *q = l->qhead;
        __atomic_store_n(&l->qhead, NULL, __ATOMIC_RELAXED);
        l->qtail = NULL;
        /* Treat them as handed over so finish() balances the counters. */
        for (struct port_request *r = q; r; r = r->next)
            __atomic_fetch_add(&l->outstanding, 1, __ATOMIC_SEQ_CST);
        l->queued = 0;
        ukern_spin_release_raw(&l->lock);
        while (q) {
            struct port_request *next = q->next;
            __atomic_store_n(&q->state, REQ_OUTSTANDING, __ATOMIC_RELEASE);
            complete_by_port(q, status);
            q = next;
        }
    }
    if (pt->top == NULL && pt->hold_drain == 0)
        port_drain_completions();
}

void port_reset_bus(struct ustor_adapter *ad, ULONG path)
{
    struct port_frame f;
    __atomic_fetch_add(&ad->n_resets, 1, __ATOMIC_RELAXED);
    port_frame_enter(&f, ad, RR_RESET_BUS, rules_cell(RR_RESET_BUS, port_mode(ad)), NULL, true);
    (void)ad->drv->hw.HwResetBus(ad->devext, path);
    port_frame_leave(&f, true);
}

void port_watchdog_scan(struct ustor_adapter *ad)
{
    /* Advance the clock the time stamps read (see clock_ns). */
    uint64_t now = ukern_now_coarse_ns();
    __atomic_store_n(&ad->clock_ns, now, __ATOMIC_RELAXED);
    struct port_thread *pt = port_thread();

    if (__atomic_load_n(&ad->paused, __ATOMIC_ACQUIRE) && now >= __atomic_load_n(&ad->pause_until_ns, __ATOMIC_RELAXED)) {
        __atomic_store_n(&ad->paused, 0, __ATOMIC_RELEASE);
        port_kick_all(ad);
    }
    bool any_lun_resumed = false;
    struct port_lun *pl;
    for (uint32_t i = 0; (pl = port_lun_next(ad, &i)) != NULL;) {
        ukern_spin_acquire_raw(&pl->lock);
        if (pl->paused && now >= pl->pause_until_ns) {
            __atomic_store_n(&pl->paused, false, __ATOMIC_SEQ_CST);
            any_lun_resumed = true;
        }
        ukern_spin_release_raw(&pl->lock);
    }
    if (any_lun_resumed)
        port_kick_all(ad);

    ULONG reset_paths = 0;
    unsigned expired = 0;
    for (uint32_t i = 0; i < ad->nr_reqs; i++) {
        struct port_request *r = &ad->reqs[i];
        if (__atomic_load_n(&r->state, __ATOMIC_ACQUIRE) != REQ_OUTSTANDING)
            continue;
        uint64_t started = __atomic_load_n(&r->start_ns, __ATOMIC_RELAXED);
        uint32_t timeout_s = __atomic_load_n(&r->timeout_s, __ATOMIC_RELAXED);
        /* started > now: the slot was recycled and restarted meanwhile.
         * A stamp is up to one tick older than the start it marks, so a
         * tick is added: a request never times out early. */
        if (started > now ||
            now - started <= (uint64_t)timeout_s * 1000000000ull + PORT_WATCHDOG_MS * 1000000ull ||
            __atomic_load_n(&r->timed_out, __ATOMIC_RELAXED))
            continue;
        struct port_lun *l = __atomic_load_n(&r->lun, __ATOMIC_RELAXED);
        void *srb = __atomic_load_n(&r->srb, __ATOMIC_RELAXED);
        if (!l || !srb || __atomic_load_n(&r->state, __ATOMIC_ACQUIRE) != REQ_OUTSTANDING)
            continue;
        __atomic_store_n(&r->timed_out, 1, __ATOMIC_RELAXED);
        expired++;
        reset_paths |= 1u << (l->path & 31);
        port_report(ad, "SrbTimeout", srb,
                    "SRB %p (LUN %u/%u/%u) not completed after %.1f s (TimeOutValue %u s); the port "
                    "resets the bus", srb, l->path, l->target, l->lun, (double)(now - started) / 1e9,
                    timeout_s);
    }
    if (!expired)
        return;
    __atomic_fetch_add(&ad->n_timeouts, expired, __ATOMIC_RELAXED);
    pt->hold_drain++;
    for (ULONG p = 0; p < 32; p++)
        if (reset_paths & (1u << p))
            port_reset_bus(ad, p);
    pt->hold_drain--;
    port_force_timeouts(ad);
}

void port_force_timeouts(struct ustor_adapter *ad)
{
    struct port_thread *pt = port_thread();
    /* What the reset did not complete completes now with a timeout. */
    for (uint32_t i = 0; i < ad->nr_reqs; i++) {
        struct port_request *r = &ad->reqs[i];
        if (__atomic_load_n(&r->timed_out, __ATOMIC_RELAXED) &&
            __atomic_load_n(&r->state, __ATOMIC_ACQUIRE) == REQ_OUTSTANDING)
            complete_by_port(r, SRB_STATUS_TIMEOUT);
    }
    if (pt->top == NULL && pt->hold_drain == 0)
        port_drain_completions();
}
