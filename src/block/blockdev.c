/*
 * blockdev.c - the block device: per-LUN request pool, SRB construction
 * (both kinds), splitting, class-driver retries, open-time probing and the
 * synchronous wrappers.  See docs/block.md.
 *
 * Each API call takes one request context from the pool and keeps it until
 * its callback has run; the commands a request needs (pieces of a split
 * transfer, retries, a trailing SYNCHRONIZE CACHE) go out one after another
 * on that context.  Completions may arrive on any thread, even inside the
 * transport's submit; blk_drive() serializes the events of one context
 * without recursion so that a transport completing inline cannot grow the
 * stack with every piece.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <storport.h>
#include <srbhelper.h>
#include <srb.h>
#include <scsi.h>

#include "ustor/block.h"
#include "blk_internal.h"

/* Without a limit from the adapter or the device, commands move at most
 * this much: large enough for throughput, small enough to bound latency. */
#define BLK_DEFAULT_MAX_TRANSFER_BYTES (1u << 20)
/* WRITE SAME pieces when VPD 0xB0 gives no MAXIMUM WRITE SAME LENGTH. */
#define BLK_DEFAULT_WRITE_SAME_BLOCKS 65535u
/* Zero buffer for the plain-WRITE fallback of write_zeroes. */
#define BLK_ZERO_BUFFER_BYTES (64u << 10)
/* Open-time TEST UNIT READY tolerates this many retries at least: a unit
 * attention after power-on and a while "becoming ready" are normal. */
#define BLK_OPEN_TUR_MIN_RETRIES 8u
#define BLK_INQUIRY_LEN 96u
#define BLK_VPD_LEN 252u


enum blk_op {
    BLK_OP_READ,
    BLK_OP_WRITE,
    BLK_OP_FLUSH,
    BLK_OP_UNMAP,
    BLK_OP_ZERO_SAME,  /* WRITE SAME (16) */
    BLK_OP_ZERO_WRITE, /* plain WRITEs from the zero buffer */
    BLK_OP_SCSI,       /* one caller-made CDB */
};

enum blk_phase {
    BLK_PH_START,    /* prepare the first command and submit it */
    BLK_PH_SUBMIT,   /* (re)submit the current command */
    BLK_PH_INFLIGHT, /* the transport owns the SRB */
    BLK_PH_DONE,     /* the SRB came back: look at it */
    BLK_PH_DELAYED,  /* waiting on the retry thread */
};

struct blk_req {
    _Alignas(16) unsigned char srb[USTOR_SRB_STORAGE_SIZE]; /* ustor_srb_init */
    uint8_t sense[USTOR_BLK_SENSE_MAX];
    uint8_t unmap_param[24]; /* header + one descriptor */
    struct ustor_blk_dev *dev;
    struct blk_req *next;    /* free list or delayed-retry list */
    uint64_t retry_due_ns;
    /* Events pending on this context; the thread taking it from 0 to 1
     * drives them all (blk_drive). */
    atomic_uint drive_refs;
    enum blk_phase phase;
    uint8_t done_status;

    /* The request. */
    enum blk_op op;
    unsigned flags;
    bool is_write;
    bool fua_flush_pending;  /* FUA done as SYNCHRONIZE CACHE afterwards */
    uint64_t lba;            /* next block to do */
    uint64_t remaining;      /* blocks left, the current command included */
    uint8_t *buf;            /* next byte of the caller's buffer */
    enum ustor_blk_dir scsi_dir;
    uint32_t scsi_len;
    unsigned max_retries;
    unsigned timeout_s;
    uint64_t transferred;

    /* The current command. */
    uint8_t cdb[USTOR_CDB_MAX];
    unsigned cdb_len;
    enum ustor_blk_dir dir;
    void *data;
    uint32_t data_len;
    uint32_t cur_blocks;
    unsigned cmd_retries;

    struct ustor_blk_result result;
    ustor_blk_cb cb;
    void *cbctx;
};

struct ustor_blk_dev {
    struct ustor_blk_transport t;
    struct ustor_blk_info info;
    bool probed;
    unsigned max_retries;
    unsigned timeout_s;
    bool wait_for_slot;
    unsigned close_wait_ms;
    atomic_bool no_write_same; /* the device rejected WRITE SAME once */

    struct blk_req *reqs;
    unsigned nreqs;
    uint8_t *zero_buf;
    uint32_t zero_blocks;

    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond; /* a context came back, or closing */
    struct blk_req *free_list;
    unsigned nfree;
    unsigned callbacks_running;
    bool closing;

    pthread_mutex_t retry_lock;
    pthread_cond_t retry_cond;
    struct blk_req *retry_head; /* sorted by due time */
    bool retry_stop;
    pthread_t retry_thread;
};

/* ---- small helpers ---------------------------------------------------- */

static uint64_t blk_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct timespec blk_abs_time(uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull),
                          .tv_nsec = (long)(ns % 1000000000ull)};
    return ts;
}

static int blk_cond_init_monotonic(pthread_cond_t *c)
{
    pthread_condattr_t attr;
    int r = pthread_condattr_init(&attr);
    if (r)
        return -r;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    r = pthread_cond_init(c, &attr);
    pthread_condattr_destroy(&attr);
    return -r;
}

static void blk_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void blk_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static uint32_t blk_min32(uint64_t a, uint64_t b)
{
    uint64_t m = a < b ? a : b;
    return m > UINT32_MAX ? UINT32_MAX : (uint32_t)m;
}

/* Length of the sense data the device returned, from its own header. */
static uint8_t blk_sense_len(const uint8_t *s)
{
    uint8_t code = s[0] & 0x7F;
    if (code < 0x70 || code > 0x73)
        return 0;
    unsigned len = 8u + s[7];
    return (uint8_t)(len > USTOR_BLK_SENSE_MAX ? USTOR_BLK_SENSE_MAX : len);
}

/* ---- SRB construction --------------------------------------------------- */

static ULONG blk_srb_flags(enum ustor_blk_dir dir)
{
    switch (dir) {
    case USTOR_BLK_DIR_IN:
        return SRB_FLAGS_DATA_IN;
    case USTOR_BLK_DIR_OUT:
        return SRB_FLAGS_DATA_OUT;
    default:
        return SRB_FLAGS_NO_DATA_TRANSFER;
    }
}

static void blk_build_srb(struct blk_req *rq)
{
    const struct ustor_blk_info *info = &rq->dev->info;
    const struct ustor_srb_params p = {
        .srbex = rq->dev->t.srbex,
        .path = info->path,
        .target = info->target,
        .lun = info->lun,
        .cdb = rq->cdb,
        .cdb_len = rq->cdb_len,
        .data = rq->data,
        .data_len = rq->data_len,
        .srb_flags = blk_srb_flags(rq->dir),
        .sense = rq->sense,
        .sense_len = (uint8_t)sizeof(rq->sense),
        .timeout_s = rq->timeout_s,
    };
    ustor_srb_init(rq->srb, sizeof(rq->srb), &p);
    SrbSetOriginalRequest(rq->srb, rq); /* the class driver's own pointer until the port takes over */
}

/* What the miniport wrote back. */
static void blk_srb_outcome(struct blk_req *rq, uint8_t *srb_status, uint8_t *scsi_status,
                            uint32_t *xfer)
{
    *srb_status = SrbGetSrbStatus(rq->srb);
    *scsi_status = SrbGetScsiStatus(rq->srb);
    *xfer = SrbGetDataTransferLength(rq->srb);
}

/* ---- the request state machine ------------------------------------------ */

static void blk_drive(struct blk_req *rq);

static void blk_srb_done(void *ctx, void *srb, uint8_t srb_status)
{
    struct blk_req *rq = ctx;
    (void)srb;
    rq->done_status = srb_status;
    rq->phase = BLK_PH_DONE;
    blk_drive(rq);
}

static void blk_delay(struct blk_req *rq, int ms)
{
    struct ustor_blk_dev *dev = rq->dev;
    rq->phase = BLK_PH_DELAYED;
    rq->retry_due_ns = blk_now_ns() + (uint64_t)ms * 1000000ull;
    pthread_mutex_lock(&dev->retry_lock);
    struct blk_req **pp = &dev->retry_head;
    while (*pp && (*pp)->retry_due_ns <= rq->retry_due_ns)
        pp = &(*pp)->next;
    rq->next = *pp;
    *pp = rq;
    pthread_cond_signal(&dev->retry_cond);
    pthread_mutex_unlock(&dev->retry_lock);
}

static void *blk_retry_main(void *arg)
{
    struct ustor_blk_dev *dev = arg;
    pthread_mutex_lock(&dev->retry_lock);
    while (!dev->retry_stop) {
        struct blk_req *rq = dev->retry_head;
        if (rq == NULL) {
            pthread_cond_wait(&dev->retry_cond, &dev->retry_lock);
            continue;
        }
        if (blk_now_ns() < rq->retry_due_ns) {
            struct timespec ts = blk_abs_time(rq->retry_due_ns);
            pthread_cond_timedwait(&dev->retry_cond, &dev->retry_lock, &ts);
            continue;
        }
        dev->retry_head = rq->next;
        rq->next = NULL;
        pthread_mutex_unlock(&dev->retry_lock);
        rq->phase = BLK_PH_SUBMIT;
        blk_drive(rq);
        pthread_mutex_lock(&dev->retry_lock);
    }
    pthread_mutex_unlock(&dev->retry_lock);
    return NULL;
}

/* READ/WRITE (10) can address blocks below 2^32 and move 65535 at most. */
static bool blk_fits_10(uint64_t lba, uint32_t n)
{
    return n <= UINT16_MAX && lba <= UINT32_MAX && n - 1 <= UINT32_MAX - lba;
}

/* Sets up the next command of rq; false when the request is complete. */
static bool blk_prepare(struct blk_req *rq)
{
    struct ustor_blk_dev *dev = rq->dev;
    const struct ustor_blk_info *info = &dev->info;
    rq->cmd_retries = 0;
    if (rq->remaining == 0) {
        if (!rq->fua_flush_pending)
            return false;
        rq->fua_flush_pending = false;
        rq->cdb_len = ustor_cdb_sync_cache10(rq->cdb, 0, 0);
        rq->dir = USTOR_BLK_DIR_NONE;
        rq->data = NULL;
        rq->data_len = 0;
        rq->cur_blocks = 0;
        return true;
    }
    uint64_t lba = rq->lba;
    uint32_t n;
    switch (rq->op) {
    case BLK_OP_READ:
    case BLK_OP_WRITE: {
        n = blk_min32(rq->remaining, info->max_transfer_blocks);
        bool write = rq->op == BLK_OP_WRITE;
        bool fua = (rq->flags & USTOR_BLK_FUA) && info->supports_fua;
        /* The 10-byte form whenever it can express the command: every SCSI
         * disk has it; 16 only beyond 2^32 blocks or 65535 per command. */
        if (blk_fits_10(lba, n))
            rq->cdb_len = write ? ustor_cdb_write10(rq->cdb, (uint32_t)lba, (uint16_t)n, fua)
                                : ustor_cdb_read10(rq->cdb, (uint32_t)lba, (uint16_t)n, fua);
        else
            rq->cdb_len = write ? ustor_cdb_write16(rq->cdb, lba, n, fua)
                                : ustor_cdb_read16(rq->cdb, lba, n, fua);
        rq->dir = write ? USTOR_BLK_DIR_OUT : USTOR_BLK_DIR_IN;
        rq->data = rq->buf;
        rq->data_len = n * info->block_size;
        break;
    }
    case BLK_OP_ZERO_WRITE:
        n = blk_min32(rq->remaining, dev->zero_blocks);
        if (blk_fits_10(lba, n))
            rq->cdb_len = ustor_cdb_write10(rq->cdb, (uint32_t)lba, (uint16_t)n, false);
        else
            rq->cdb_len = ustor_cdb_write16(rq->cdb, lba, n, false);
        rq->dir = USTOR_BLK_DIR_OUT;
        rq->data = dev->zero_buf;
        rq->data_len = n * info->block_size;
        break;
    case BLK_OP_ZERO_SAME: {
        uint64_t cap = info->max_write_same_blocks ? info->max_write_same_blocks
                                                   : BLK_DEFAULT_WRITE_SAME_BLOCKS;
        n = blk_min32(rq->remaining, cap);
        bool unmap = (rq->flags & USTOR_BLK_MAY_UNMAP) && info->can_write_same_unmap &&
                     info->unmapped_reads_zero;
        rq->cdb_len = ustor_cdb_write_same16(rq->cdb, lba, n, unmap);
        rq->dir = USTOR_BLK_DIR_OUT;
        rq->data = dev->zero_buf;
        rq->data_len = info->block_size;
        break;
    }
    case BLK_OP_UNMAP: {
        n = blk_min32(rq->remaining, info->max_unmap_blocks ? info->max_unmap_blocks : UINT32_MAX);
        struct ustor_unmap_range range = {.lba = lba, .nblocks = n};
        int plen = ustor_unmap_param_build(rq->unmap_param, sizeof(rq->unmap_param), &range, 1);
        rq->cdb_len = ustor_cdb_unmap(rq->cdb, (uint16_t)plen);
        rq->dir = USTOR_BLK_DIR_OUT;
        rq->data = rq->unmap_param;
        rq->data_len = (uint32_t)plen;
        break;
    }
    case BLK_OP_FLUSH:
        n = 1;
        rq->cdb_len = ustor_cdb_sync_cache10(rq->cdb, 0, 0);
        rq->dir = USTOR_BLK_DIR_NONE;
        rq->data = NULL;
        rq->data_len = 0;
        break;
    case BLK_OP_SCSI:
    default:
        n = 1; /* cdb was copied in at submission */
        rq->dir = rq->scsi_dir;
        rq->data = rq->buf;
        rq->data_len = rq->scsi_len;
        break;
    }
    rq->cur_blocks = n;
    return true;
}

/* Sends the current command; true when the request is finished (the
 * transport refused it for good). */
static bool blk_submit(struct blk_req *rq)
{
    struct ustor_blk_dev *dev = rq->dev;
    memset(rq->sense, 0, sizeof(rq->sense));
    blk_build_srb(rq);
    rq->phase = BLK_PH_INFLIGHT;
    int r = dev->t.submit(dev->t.tctx, rq->srb, blk_srb_done, rq);
    if (r == 0)
        return false; /* rq belongs to the completion now */
    /* Not accepted, so no completion will come: rq is still ours. */
    if (r == -EBUSY && rq->cmd_retries < rq->max_retries) {
        rq->cmd_retries++;
        rq->result.retries++;
        blk_delay(rq, BLK_BUSY_DELAY_MS);
        return false;
    }
    rq->result.error = r < 0 ? r : -EIO;
    return true;
}

/* The device cannot do WRITE SAME (16) the way we asked. */
static bool blk_write_same_refused(uint8_t srb_status, uint8_t scsi_status,
                                   const struct ustor_sense *s)
{
    uint8_t st = SRB_STATUS(srb_status);
    if (st == SRB_STATUS_INVALID_REQUEST || st == SRB_STATUS_BAD_FUNCTION)
        return true;
    return st == SRB_STATUS_ERROR && scsi_status == SCSISTAT_CHECK_CONDITION && s != NULL &&
           s->sense_key == SCSI_SENSE_ILLEGAL_REQUEST &&
           (s->asc == SCSI_ADSENSE_ILLEGAL_COMMAND || s->asc == SCSI_ADSENSE_INVALID_CDB);
}

static bool blk_on_done(struct blk_req *rq)
{
    struct ustor_blk_dev *dev = rq->dev;
    uint8_t field_status, scsi_status;
    uint32_t xfer;
    blk_srb_outcome(rq, &field_status, &scsi_status, &xfer);
    /* The callback's status is authoritative; the SRB's field keeps the
     * flag bits (AUTOSENSE_VALID) the callback masks off. */
    uint8_t status = rq->done_status;
    if (SRB_STATUS(field_status) == SRB_STATUS(status))
        status = field_status;

    struct ustor_sense sense;
    bool have_sense = scsi_status == SCSISTAT_CHECK_CONDITION &&
                      ustor_scsi_sense_decode(rq->sense, sizeof(rq->sense), &sense) == 0;
    struct ustor_blk_result *res = &rq->result;
    res->srb_status = SRB_STATUS(status);
    res->scsi_status = scsi_status;
    res->sense_key = have_sense ? sense.sense_key : 0;
    res->asc = have_sense ? sense.asc : 0;
    res->ascq = have_sense ? sense.ascq : 0;
    res->sense_len = have_sense ? blk_sense_len(rq->sense) : 0;
    memcpy(res->sense, rq->sense, res->sense_len);

    int err = ustor_blk_errno(status, scsi_status, have_sense ? &sense : NULL, rq->is_write);
    if (rq->op == BLK_OP_SCSI && SRB_STATUS(status) == SRB_STATUS_DATA_OVERRUN)
        err = 0; /* passthrough: a short answer is an answer */
    if (xfer > rq->data_len)
        xfer = rq->data_len; /* a miniport claiming more than we gave */
    if (err == 0 && rq->op != BLK_OP_SCSI && xfer < rq->data_len)
        err = -EIO; /* block I/O must move every byte */

    if (err == 0) {
        rq->transferred += xfer;
        rq->remaining -= rq->cur_blocks;
        rq->lba += rq->cur_blocks;
        if (rq->op == BLK_OP_READ || rq->op == BLK_OP_WRITE)
            rq->buf += (size_t)rq->cur_blocks * dev->info.block_size;
        if (blk_prepare(rq))
            return blk_submit(rq);
        res->error = 0;
        return true;
    }
    if (rq->op == BLK_OP_ZERO_SAME &&
        blk_write_same_refused(status, scsi_status, have_sense ? &sense : NULL)) {
        /* Remember, and zero the rest with plain writes. */
        atomic_store(&dev->no_write_same, true);
        rq->op = BLK_OP_ZERO_WRITE;
        blk_prepare(rq);
        return blk_submit(rq);
    }
    int delay = blk_retry_delay_ms(status, scsi_status, have_sense ? &sense : NULL);
    if (delay >= 0 && rq->cmd_retries < rq->max_retries) {
        rq->cmd_retries++;
        res->retries++;
        if (delay == 0)
            return blk_submit(rq);
        blk_delay(rq, delay);
        return false;
    }
    res->error = err;
    return true;
}

static bool blk_step(struct blk_req *rq)
{
    switch (rq->phase) {
    case BLK_PH_START:
        if (!blk_prepare(rq)) {
            rq->result.error = 0;
            return true;
        }
        return blk_submit(rq);
    case BLK_PH_SUBMIT:
        return blk_submit(rq);
    case BLK_PH_DONE:
        return blk_on_done(rq);
    default:
        return false;
    }
}

static void blk_finish(struct blk_req *rq)
{
    struct ustor_blk_dev *dev = rq->dev;
    struct ustor_blk_result res = rq->result;
    res.transferred = rq->transferred > UINT32_MAX ? UINT32_MAX : (uint32_t)rq->transferred;
    ustor_blk_cb cb = rq->cb;
    void *cbctx = rq->cbctx;

    /* The context goes back before the callback so that a callback may
     * submit again even with a queue depth of 1. */
    pthread_mutex_lock(&dev->pool_lock);
    rq->next = dev->free_list;
    dev->free_list = rq;
    dev->nfree++;
    dev->callbacks_running++;
    pthread_cond_broadcast(&dev->pool_cond);
    pthread_mutex_unlock(&dev->pool_lock);

    cb(cbctx, &res);

    pthread_mutex_lock(&dev->pool_lock);
    dev->callbacks_running--;
    pthread_cond_broadcast(&dev->pool_cond);
    pthread_mutex_unlock(&dev->pool_lock);
}

/* Every event (start, completion, delayed retry) calls this.  Only one
 * thread at a time runs the steps of a context; an event arriving while it
 * runs is picked up by its loop instead of recursing. */
static void blk_drive(struct blk_req *rq)
{
    if (atomic_fetch_add(&rq->drive_refs, 1) != 0)
        return;
    bool finished = false;
    do {
        finished |= blk_step(rq);
    } while (atomic_fetch_sub(&rq->drive_refs, 1) != 1);
    /* Nothing is in flight once finished, so no event can race this. */
    if (finished)
        blk_finish(rq);
}

/* ---- request pool ---------------------------------------------------------- */

static struct blk_req *blk_get_req(struct ustor_blk_dev *dev, bool wait, int *err)
{
    struct blk_req *rq = NULL;
    pthread_mutex_lock(&dev->pool_lock);
    for (;;) {
        if (dev->closing) {
            *err = -ENODEV;
            break;
        }
        if (dev->free_list) {
            rq = dev->free_list;
            dev->free_list = rq->next;
            dev->nfree--;
            break;
        }
        if (!wait) {
            *err = -EBUSY;
            break;
        }
        pthread_cond_wait(&dev->pool_cond, &dev->pool_lock);
    }
    pthread_mutex_unlock(&dev->pool_lock);
    if (rq) {
        rq->next = NULL;
        rq->flags = 0;
        rq->is_write = false;
        rq->fua_flush_pending = false;
        rq->lba = 0;
        rq->remaining = 0;
        rq->buf = NULL;
        rq->scsi_dir = USTOR_BLK_DIR_NONE;
        rq->scsi_len = 0;
        rq->max_retries = dev->max_retries;
        rq->timeout_s = dev->timeout_s;
        rq->transferred = 0;
        rq->cmd_retries = 0;
        memset(&rq->result, 0, sizeof(rq->result));
        rq->phase = BLK_PH_START;
    }
    return rq;
}

static int blk_start(struct blk_req *rq, ustor_blk_cb cb, void *ctx)
{
    rq->cb = cb;
    rq->cbctx = ctx;
    blk_drive(rq);
    return 0;
}

/* ---- argument checks --------------------------------------------------------- */

static int blk_check_range(const struct ustor_blk_dev *dev, uint64_t lba, uint64_t nblocks,
                           bool is_write)
{
    if (nblocks == 0)
        return -EINVAL;
    uint64_t size = dev->info.num_blocks;
    if (!dev->probed)
        return 0; /* size unknown: let the device judge */
    if (lba >= size || nblocks > size - lba)
        return is_write ? -ENOSPC : -EINVAL;
    return 0;
}

/* ---- asynchronous API ---------------------------------------------------------- */

static int blk_rw(ustor_blk_dev *dev, enum blk_op op, uint64_t lba, uint32_t nblocks,
                  void *buf, unsigned flags, ustor_blk_cb cb, void *ctx, bool wait)
{
    if (dev == NULL || buf == NULL || cb == NULL || (flags & ~USTOR_BLK_FUA))
        return -EINVAL;
    bool write = op == BLK_OP_WRITE;
    int r = blk_check_range(dev, lba, nblocks, write);
    if (r)
        return r;
    if (write && dev->info.write_protected)
        return -EROFS;
    struct blk_req *rq = blk_get_req(dev, wait, &r);
    if (rq == NULL)
        return r;
    rq->op = op;
    rq->flags = flags;
    rq->is_write = write;
    rq->lba = lba;
    rq->remaining = nblocks;
    rq->buf = buf;
    /* FUA on a device without DPOFUA but with a write cache: flush after. */
    rq->fua_flush_pending = write && (flags & USTOR_BLK_FUA) && !dev->info.supports_fua &&
                            dev->info.has_write_cache;
    return blk_start(rq, cb, ctx);
}

int ustor_blk_read(ustor_blk_dev *dev, uint64_t lba, uint32_t nblocks, void *buf,
                   unsigned flags, ustor_blk_cb cb, void *ctx)
{
    return blk_rw(dev, BLK_OP_READ, lba, nblocks, buf, flags, cb, ctx,
                  dev && dev->wait_for_slot);
}

int ustor_blk_write(ustor_blk_dev *dev, uint64_t lba, uint32_t nblocks, const void *buf,
                    unsigned flags, ustor_blk_cb cb, void *ctx)
{
    /* The buffer is only read from (DATA OUT); the SRB's field is not const. */
    return blk_rw(dev, BLK_OP_WRITE, lba, nblocks, (void *)(uintptr_t)buf, flags, cb, ctx,
                  dev && dev->wait_for_slot);
}

static int blk_flush(ustor_blk_dev *dev, ustor_blk_cb cb, void *ctx, bool wait)
{
    if (dev == NULL || cb == NULL)
        return -EINVAL;
    int r;
    struct blk_req *rq = blk_get_req(dev, wait, &r);
    if (rq == NULL)
        return r;
    rq->op = BLK_OP_FLUSH;
    rq->is_write = true;
    rq->remaining = 1;
    return blk_start(rq, cb, ctx);
}

int ustor_blk_flush(ustor_blk_dev *dev, ustor_blk_cb cb, void *ctx)
{
    return blk_flush(dev, cb, ctx, dev && dev->wait_for_slot);
}

static int blk_unmap(ustor_blk_dev *dev, uint64_t lba, uint64_t nblocks, ustor_blk_cb cb,
                     void *ctx, bool wait)
{
    if (dev == NULL || cb == NULL)
        return -EINVAL;
    int r = blk_check_range(dev, lba, nblocks, true);
    if (r)
        return r;
    if (dev->info.write_protected)
        return -EROFS;
    if (dev->probed && !dev->info.can_unmap)
        return -EOPNOTSUPP;
    struct blk_req *rq = blk_get_req(dev, wait, &r);
    if (rq == NULL)
        return r;
    rq->op = BLK_OP_UNMAP;
    rq->is_write = true;
    rq->lba = lba;
    rq->remaining = nblocks;
    return blk_start(rq, cb, ctx);
}

int ustor_blk_unmap(ustor_blk_dev *dev, uint64_t lba, uint64_t nblocks, ustor_blk_cb cb,
                    void *ctx)
{
    return blk_unmap(dev, lba, nblocks, cb, ctx, dev && dev->wait_for_slot);
}

static int blk_write_zeroes(ustor_blk_dev *dev, uint64_t lba, uint64_t nblocks, unsigned flags,
                            ustor_blk_cb cb, void *ctx, bool wait)
{
    if (dev == NULL || cb == NULL || (flags & ~(USTOR_BLK_FUA | USTOR_BLK_MAY_UNMAP)))
        return -EINVAL;
    int r = blk_check_range(dev, lba, nblocks, true);
    if (r)
        return r;
    if (dev->info.write_protected)
        return -EROFS;
    struct blk_req *rq = blk_get_req(dev, wait, &r);
    if (rq == NULL)
        return r;
    rq->op = atomic_load(&dev->no_write_same) ? BLK_OP_ZERO_WRITE : BLK_OP_ZERO_SAME;
    rq->flags = flags;
    rq->is_write = true;
    rq->lba = lba;
    rq->remaining = nblocks;
    /* Neither WRITE SAME nor our WRITEs carry FUA: flush the cache after. */
    rq->fua_flush_pending = (flags & USTOR_BLK_FUA) && dev->info.has_write_cache;
    return blk_start(rq, cb, ctx);
}

int ustor_blk_write_zeroes(ustor_blk_dev *dev, uint64_t lba, uint64_t nblocks, unsigned flags,
                           ustor_blk_cb cb, void *ctx)
{
    return blk_write_zeroes(dev, lba, nblocks, flags, cb, ctx, dev && dev->wait_for_slot);
}

static int blk_scsi(ustor_blk_dev *dev, const uint8_t *cdb, unsigned cdb_len,
                    enum ustor_blk_dir dir, void *buf, uint32_t len, unsigned timeout_s,
                    unsigned max_retries, ustor_blk_cb cb, void *ctx, bool wait)
{
    if (dev == NULL || cdb == NULL || cb == NULL || cdb_len == 0)
        return -EINVAL;
    /* SCSI_REQUEST_BLOCK has a 16-byte Cdb; CDB32 needs the extended SRB. */
    if (cdb_len > (dev->t.srbex ? 32u : 16u))
        return -EINVAL;
    if (dir != USTOR_BLK_DIR_NONE && dir != USTOR_BLK_DIR_IN && dir != USTOR_BLK_DIR_OUT)
        return -EINVAL;
    if ((dir == USTOR_BLK_DIR_NONE) != (len == 0) || (len != 0 && buf == NULL))
        return -EINVAL;
    int r;
    struct blk_req *rq = blk_get_req(dev, wait, &r);
    if (rq == NULL)
        return r;
    rq->op = BLK_OP_SCSI;
    memcpy(rq->cdb, cdb, cdb_len);
    rq->cdb_len = cdb_len;
    rq->is_write = dir == USTOR_BLK_DIR_OUT;
    rq->scsi_dir = dir;
    rq->scsi_len = len;
    rq->buf = buf;
    rq->remaining = 1;
    rq->max_retries = max_retries;
    if (timeout_s)
        rq->timeout_s = timeout_s;
    return blk_start(rq, cb, ctx);
}

int ustor_blk_scsi(ustor_blk_dev *dev, const uint8_t *cdb, unsigned cdb_len,
                   enum ustor_blk_dir dir, void *buf, uint32_t len, unsigned timeout_s,
                   ustor_blk_cb cb, void *ctx)
{
    return blk_scsi(dev, cdb, cdb_len, dir, buf, len, timeout_s, 0, cb, ctx,
                    dev && dev->wait_for_slot);
}

/* ---- synchronous wrappers ------------------------------------------------------- */

struct blk_waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    struct ustor_blk_result result;
};

static void blk_waiter_init(struct blk_waiter *w)
{
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->done = false;
    memset(&w->result, 0, sizeof(w->result));
}

static void blk_waiter_cb(void *ctx, const struct ustor_blk_result *r)
{
    struct blk_waiter *w = ctx;
    pthread_mutex_lock(&w->lock);
    w->result = *r;
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* Waits for the request submitted with status r (0: accepted). */
static int blk_waiter_finish(struct blk_waiter *w, int r, struct ustor_blk_result *out)
{
    if (r == 0) {
        pthread_mutex_lock(&w->lock);
        while (!w->done)
            pthread_cond_wait(&w->cond, &w->lock);
        pthread_mutex_unlock(&w->lock);
        r = w->result.error;
    } else {
        w->result.error = r;
    }
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    if (out)
        *out = w->result;
    return r;
}

int ustor_blk_read_sync(ustor_blk_dev *dev, uint64_t lba, uint32_t nblocks, void *buf,
                        unsigned flags, struct ustor_blk_result *result)
{
    struct blk_waiter w;
    blk_waiter_init(&w);
    int r = blk_rw(dev, BLK_OP_READ, lba, nblocks, buf, flags, blk_waiter_cb, &w, true);
    return blk_waiter_finish(&w, r, result);
}

int ustor_blk_write_sync(ustor_blk_dev *dev, uint64_t lba, uint32_t nblocks, const void *buf,
                         unsigned flags, struct ustor_blk_result *result)
{
    struct blk_waiter w;
    blk_waiter_init(&w);
    int r = blk_rw(dev, BLK_OP_WRITE, lba, nblocks, (void *)(uintptr_t)buf, flags,
                   blk_waiter_cb, &w, true);
    return blk_waiter_finish(&w, r, result);
}

int ustor_blk_flush_sync(ustor_blk_dev *dev, struct ustor_blk_result *result)
{
    struct blk_waiter w;
    blk_waiter_init(&w);
    int r = blk_flush(dev, blk_waiter_cb, &w, true);
    return blk_waiter_finish(&w, r, result);
}

int ustor_blk_unmap_sync(ustor_blk_dev *dev, uint64_t lba, uint64_t nblocks,
                         struct ustor_blk_result *result)
{
    struct blk_waiter w;
    blk_waiter_init(&w);
    int r = blk_unmap(dev, lba, nblocks, blk_waiter_cb, &w, true);
    return blk_waiter_finish(&w, r, result);
}

int ustor_blk_write_zeroes_sync(ustor_blk_dev *dev, uint64_t lba, uint64_t nblocks,
                                unsigned flags, struct ustor_blk_result *result)
{
    struct blk_waiter w;
    blk_waiter_init(&w);
    int r = blk_write_zeroes(dev, lba, nblocks, flags, blk_waiter_cb, &w, true);
    return blk_waiter_finish(&w, r, result);
}

static int blk_scsi_sync_retries(ustor_blk_dev *dev, const uint8_t *cdb, unsigned cdb_len,
                                 enum ustor_blk_dir dir, void *buf, uint32_t len,
                                 unsigned timeout_s, unsigned max_retries,
                                 struct ustor_blk_result *result)
{
    struct blk_waiter w;
    blk_waiter_init(&w);
    int r = blk_scsi(dev, cdb, cdb_len, dir, buf, len, timeout_s, max_retries, blk_waiter_cb,
                     &w, true);
    return blk_waiter_finish(&w, r, result);
}

int ustor_blk_scsi_sync(ustor_blk_dev *dev, const uint8_t *cdb, unsigned cdb_len,
                        enum ustor_blk_dir dir, void *buf, uint32_t len, unsigned timeout_s,
                        struct ustor_blk_result *result)
{
    return blk_scsi_sync_retries(dev, cdb, cdb_len, dir, buf, len, timeout_s, 0, result);
}

int ustor_blk_test_unit_ready(ustor_blk_dev *dev, struct ustor_blk_result *result)
{
    uint8_t cdb[6];
    unsigned n = ustor_cdb_test_unit_ready(cdb);
    return ustor_blk_scsi_sync(dev, cdb, n, USTOR_BLK_DIR_NONE, NULL, 0, 0, result);
}

int ustor_blk_inquiry(ustor_blk_dev *dev, bool evpd, uint8_t page, void *buf, uint16_t len,
                      struct ustor_blk_result *result)
{
    uint8_t cdb[6];
    unsigned n = ustor_cdb_inquiry(cdb, evpd, page, len);
    return ustor_blk_scsi_sync(dev, cdb, n, USTOR_BLK_DIR_IN, buf, len, 0, result);
}

int ustor_blk_mode_sense10(ustor_blk_dev *dev, bool dbd, uint8_t page_control, uint8_t page,
                           uint8_t subpage, void *buf, uint16_t len,
                           struct ustor_blk_result *result)
{
    uint8_t cdb[10];
    unsigned n = ustor_cdb_mode_sense10(cdb, dbd, page_control, page, subpage, len);
    return ustor_blk_scsi_sync(dev, cdb, n, USTOR_BLK_DIR_IN, buf, len, 0, result);
}

int ustor_blk_report_luns(ustor_blk_dev *dev, uint8_t select_report, void *buf, uint32_t len,
                          struct ustor_blk_result *result)
{
    uint8_t cdb[12];
    unsigned n = ustor_cdb_report_luns(cdb, select_report, len);
    return ustor_blk_scsi_sync(dev, cdb, n, USTOR_BLK_DIR_IN, buf, len, 0, result);
}

int ustor_blk_request_sense(ustor_blk_dev *dev, bool descriptor_format, void *buf, uint8_t len,
                            struct ustor_blk_result *result)
{
    uint8_t cdb[6];
    unsigned n = ustor_cdb_request_sense(cdb, descriptor_format, len);
    return ustor_blk_scsi_sync(dev, cdb, n, USTOR_BLK_DIR_IN, buf, len, 0, result);
}

int ustor_blk_read_capacity16(ustor_blk_dev *dev, void *buf, uint32_t len,
                              struct ustor_blk_result *result)
{
    uint8_t cdb[16];
    unsigned n = ustor_cdb_read_capacity16(cdb, len);
    return ustor_blk_scsi_sync(dev, cdb, n, USTOR_BLK_DIR_IN, buf, len, 0, result);
}

/* ---- opening and probing --------------------------------------------------------- */

/* "SRB_STATUS_ERROR, CHECK CONDITION, ILLEGAL REQUEST: ... (24/00)" */
static const char *blk_describe(const struct ustor_blk_result *r, char *buf, size_t len)
{
    char sense[128] = "";
    if (r->sense_len) {
        struct ustor_sense s;
        if (ustor_scsi_sense_decode(r->sense, r->sense_len, &s) == 0) {
            char tmp[120];
            snprintf(sense, sizeof(sense), ", %s", ustor_scsi_sense_str(&s, tmp, sizeof(tmp)));
        }
    }
    if (r->srb_status == 0)
        snprintf(buf, len, "not accepted by the transport (%s)", strerror(-r->error));
    else
        snprintf(buf, len, "%s, %s%s (%s)", ustor_srb_status_name(r->srb_status),
                 ustor_scsi_status_name(r->scsi_status), sense, strerror(-r->error));
    return buf;
}

/* Copies a blank-padded ASCII field, dropping trailing blanks and
 * replacing what is not printable. */
static void blk_copy_ascii(char *dst, const uint8_t *src, size_t n)
{
    size_t end = 0;
    for (size_t i = 0; i < n; i++) {
        char c = (char)src[i];
        dst[i] = (c >= 0x20 && c < 0x7F) ? c : ' ';
        if (dst[i] != ' ')
            end = i + 1;
    }
    dst[end] = '\0';
}

static int blk_probe_cmd(ustor_blk_dev *dev, uint8_t *cdb, unsigned cdb_len, void *buf,
                         uint32_t len, unsigned retries, struct ustor_blk_result *r)
{
    return blk_scsi_sync_retries(dev, cdb, cdb_len, len ? USTOR_BLK_DIR_IN : USTOR_BLK_DIR_NONE,
                                 buf, len, 0, retries, r);
}

static void blk_probe_vpd(ustor_blk_dev *dev, uint8_t *buf)
{
    struct ustor_blk_info *info = &dev->info;
    struct ustor_blk_result r;
    uint8_t cdb[16];
    bool has_80 = false;

    unsigned n = ustor_cdb_inquiry(cdb, true, 0x00, BLK_VPD_LEN);
    memset(buf, 0, BLK_VPD_LEN);
    if (blk_probe_cmd(dev, cdb, n, buf, BLK_VPD_LEN, dev->max_retries, &r) != 0 || buf[1] != 0x00)
        return; /* no VPD pages: nothing more to learn */
    unsigned count = blk_get_be16(&buf[2]);
    for (unsigned i = 0; i < count && 4 + i < r.transferred && 4 + i < BLK_VPD_LEN; i++) {
        switch (buf[4 + i]) {
        case 0x80: has_80 = true; break;
        case 0xB0: info->has_vpd_b0 = true; break;
        case 0xB2: info->has_vpd_b2 = true; break;
        default: break;
        }
    }

    if (has_80) {
        n = ustor_cdb_inquiry(cdb, true, 0x80, BLK_VPD_LEN);
        memset(buf, 0, BLK_VPD_LEN);
        if (blk_probe_cmd(dev, cdb, n, buf, BLK_VPD_LEN, dev->max_retries, &r) == 0 &&
            buf[1] == 0x80) {
            size_t len = blk_get_be16(&buf[2]);
            size_t got = r.transferred >= 4 ? r.transferred - 4 : 0;
            if (len > got)
                len = got;
            if (len > sizeof(info->serial) - 1)
                len = sizeof(info->serial) - 1;
            size_t start = 0;
            while (start < len && buf[4 + start] == ' ')
                start++; /* serials are often right-justified */
            blk_copy_ascii(info->serial, &buf[4 + start], len - start);
        }
    }

    if (info->has_vpd_b0) {
        n = ustor_cdb_inquiry(cdb, true, 0xB0, BLK_VPD_LEN);
        memset(buf, 0, BLK_VPD_LEN);
        if (blk_probe_cmd(dev, cdb, n, buf, BLK_VPD_LEN, dev->max_retries, &r) == 0 &&
            buf[1] == 0xB0) {
            /* Fields past what arrived stay 0 (= no limit reported). */
            info->max_transfer_blocks = blk_get_be32(&buf[8]);
            info->optimal_transfer_blocks = blk_get_be32(&buf[12]);
            info->max_unmap_blocks = blk_get_be32(&buf[20]);
            info->max_unmap_descriptors = blk_get_be32(&buf[24]);
            info->unmap_granularity = blk_get_be32(&buf[28]);
            if (buf[32] & 0x80)
                info->unmap_granularity_alignment = blk_get_be32(&buf[32]) & 0x7FFFFFFFu;
            info->max_write_same_blocks = blk_get_be64(&buf[36]);
        }
    }

    if (info->has_vpd_b2) {
        n = ustor_cdb_inquiry(cdb, true, 0xB2, BLK_VPD_LEN);
        memset(buf, 0, BLK_VPD_LEN);
        if (blk_probe_cmd(dev, cdb, n, buf, BLK_VPD_LEN, dev->max_retries, &r) == 0 &&
            buf[1] == 0xB2) {
            info->can_unmap = (buf[5] & 0x80) != 0;            /* LBPU */
            info->can_write_same_unmap = (buf[5] & 0x40) != 0; /* LBPWS */
            if (buf[5] & 0x1C)                                 /* LBPRZ (SBC-4: 3 bits) */
                info->unmapped_reads_zero = true;
        }
    }
}

static int blk_probe_capacity(ustor_blk_dev *dev, uint8_t *buf, char *err, size_t errlen)
{
    struct ustor_blk_info *info = &dev->info;
    struct ustor_blk_result r;
    uint8_t cdb[16];
    char why[256];

    unsigned n = ustor_cdb_read_capacity10(cdb);
    memset(buf, 0, 32);
    int rc10 = blk_probe_cmd(dev, cdb, n, buf, 8, dev->max_retries, &r);
    if (rc10 == 0 && r.transferred < 8)
        rc10 = -EIO;
    /* All ones: the capacity does not fit and only (16) can tell it. */
    bool rc10_overflow = rc10 == 0 && blk_get_be32(&buf[0]) == UINT32_MAX;
    bool need16 = rc10 != 0 || rc10_overflow || info->scsi_version >= 5;
    if (rc10 == 0) {
        info->num_blocks = (uint64_t)blk_get_be32(&buf[0]) + 1;
        info->block_size = blk_get_be32(&buf[4]);
    } else {
        blk_describe(&r, why, sizeof(why));
    }
    if (need16) {
        n = ustor_cdb_read_capacity16(cdb, 32);
        memset(buf, 0, 32);
        int rc16 = blk_probe_cmd(dev, cdb, n, buf, 32, dev->max_retries, &r);
        if (rc16 == 0 && r.transferred >= 12) {
            info->num_blocks = blk_get_be64(&buf[0]) + 1;
            info->block_size = blk_get_be32(&buf[8]);
            unsigned exp = buf[13] & 0x0F;
            if (exp < 16)
                info->physical_block_size = info->block_size << exp;
            info->thin_provisioned = (buf[14] & 0x80) != 0; /* LBPME */
            if (buf[14] & 0x40)
                info->unmapped_reads_zero = true;            /* LBPRZ */
        } else if (rc10 != 0 || rc10_overflow) {
            if (rc10 == 0)
                blk_describe(&r, why, sizeof(why));
            blk_seterr(err, errlen,
                       "READ CAPACITY of LUN %u:%u:%u failed: %s; a block device must report "
                       "its capacity with READ CAPACITY (10) or (16)",
                       info->path, info->target, info->lun, why);
            return rc10 ? rc10 : (rc16 ? rc16 : -EIO);
        }
    }
    if (info->block_size == 0 || info->block_size > (1u << 20)) {
        blk_seterr(err, errlen,
                   "LUN %u:%u:%u reports a logical block length of %u bytes; expected a "
                   "length between 1 and 1048576 (usually 512 or 4096)",
                   info->path, info->target, info->lun, info->block_size);
        return -EIO;
    }
    if (info->physical_block_size == 0)
        info->physical_block_size = info->block_size;
    return 0;
}

static void blk_probe_caching(ustor_blk_dev *dev, uint8_t *buf)
{
    struct ustor_blk_info *info = &dev->info;
    struct ustor_blk_result r;
    uint8_t cdb[16];
    const uint8_t caching_page = 0x08;

    unsigned n = ustor_cdb_mode_sense10(cdb, true, 0, caching_page, 0, 64);
    memset(buf, 0, 64);
    uint8_t *page = NULL;
    if (blk_probe_cmd(dev, cdb, n, buf, 64, dev->max_retries, &r) == 0 && r.transferred >= 8) {
        info->write_protected = (buf[3] & 0x80) != 0;
        info->supports_fua = (buf[3] & 0x10) != 0;
        size_t off = 8 + (size_t)blk_get_be16(&buf[6]);
        if (off + 3 <= r.transferred)
            page = &buf[off];
    } else {
        n = ustor_cdb_mode_sense6(cdb, true, 0, caching_page, 0, 64);
        memset(buf, 0, 64);
        if (blk_probe_cmd(dev, cdb, n, buf, 64, dev->max_retries, &r) == 0 && r.transferred >= 4) {
            info->write_protected = (buf[2] & 0x80) != 0;
            info->supports_fua = (buf[2] & 0x10) != 0;
            size_t off = 4 + (size_t)buf[3];
            if (off + 3 <= r.transferred)
                page = &buf[off];
        }
    }
    if (page && (page[0] & 0x3F) == caching_page)
        info->has_write_cache = (page[2] & 0x04) != 0; /* WCE */
}

static int blk_probe(ustor_blk_dev *dev, char *err, size_t errlen)
{
    struct ustor_blk_info *info = &dev->info;
    struct ustor_blk_result r;
    uint8_t cdb[16];
    uint8_t buf[BLK_VPD_LEN];
    char why[256];

    unsigned tur_retries = dev->max_retries > BLK_OPEN_TUR_MIN_RETRIES ? dev->max_retries
                                                                       : BLK_OPEN_TUR_MIN_RETRIES;
    unsigned n = ustor_cdb_test_unit_ready(cdb);
    int rc = blk_probe_cmd(dev, cdb, n, NULL, 0, tur_retries, &r);
    /* A LUN that does not know TEST UNIT READY may still be usable; one
     * that is absent, not ready or unresponsive is not. */
    if (rc == -ENODEV || rc == -ENOMEDIUM || rc == -ETIMEDOUT ||
        (rc != 0 && r.sense_key == SCSI_SENSE_NOT_READY) || (rc != 0 && r.srb_status == 0)) {
        blk_seterr(err, errlen,
                   "TEST UNIT READY of LUN %u:%u:%u failed after %u retries: %s; the LUN "
                   "must exist and become ready",
                   info->path, info->target, info->lun, r.retries, blk_describe(&r, why, sizeof(why)));
        return rc;
    }

    n = ustor_cdb_inquiry(cdb, false, 0, BLK_INQUIRY_LEN);
    memset(buf, 0, sizeof(buf));
    rc = blk_probe_cmd(dev, cdb, n, buf, BLK_INQUIRY_LEN, dev->max_retries, &r);
    if (rc == 0 && r.transferred < 5)
        rc = -EIO;
    if (rc != 0) {
        blk_seterr(err, errlen,
                   "INQUIRY of LUN %u:%u:%u failed: %s; a LUN must answer standard INQUIRY "
                   "with at least 5 bytes",
                   info->path, info->target, info->lun, blk_describe(&r, why, sizeof(why)));
        return rc;
    }
    if ((buf[0] >> 5) == 0x3) {
        blk_seterr(err, errlen,
                   "LUN %u:%u:%u is not present (INQUIRY peripheral qualifier 3); pick a LUN "
                   "that REPORT LUNS lists",
                   info->path, info->target, info->lun);
        return -ENODEV;
    }
    info->peripheral_type = buf[0] & 0x1F;
    info->removable = (buf[1] & 0x80) != 0;
    info->scsi_version = buf[2];
    blk_copy_ascii(info->vendor, &buf[8], 8);
    blk_copy_ascii(info->product, &buf[16], 16);
    blk_copy_ascii(info->revision, &buf[32], 4);

    blk_probe_vpd(dev, buf);
    rc = blk_probe_capacity(dev, buf, err, errlen);
    if (rc)
        return rc;
    blk_probe_caching(dev, buf);
    /* UNMAP needs logical block provisioning enabled (LBPME) to mean
     * anything; without VPD 0xB2 we cannot know it is supported. */
    if (!info->thin_provisioned) {
        info->can_unmap = false;
        info->can_write_same_unmap = false;
    }
    return 0;
}

/* Clips max_transfer_blocks to the adapter, the options, the device and
 * what one SRB's 32-bit DataTransferLength can express. */
static void blk_set_limits(ustor_blk_dev *dev, uint32_t opt_max_bytes)
{
    struct ustor_blk_info *info = &dev->info;
    uint64_t bytes = BLK_DEFAULT_MAX_TRANSFER_BYTES;
    bool limited = false;
    if (dev->t.max_transfer_bytes) {
        bytes = dev->t.max_transfer_bytes;
        limited = true;
    }
    if (opt_max_bytes && (!limited || opt_max_bytes < bytes)) {
        bytes = opt_max_bytes;
        limited = true;
    }
    uint64_t blocks = bytes / info->block_size;
    if (info->max_transfer_blocks && info->max_transfer_blocks < blocks)
        blocks = info->max_transfer_blocks;
    if (blocks > UINT32_MAX / info->block_size)
        blocks = UINT32_MAX / info->block_size;
    if (blocks == 0)
        blocks = 1; /* a limit below one block still has to move blocks */
    info->max_transfer_blocks = (uint32_t)blocks;
}

static int blk_adapter_submit(void *tctx, void *srb, ustor_srb_done cb, void *cbctx)
{
    return ustor_submit_srb(tctx, srb, cb, cbctx);
}

int ustor_blk_open(ustor_adapter *ad, uint8_t path, uint8_t target, uint8_t lun,
                   const struct ustor_blk_options *opts, ustor_blk_dev **out, char *err,
                   size_t errlen)
{
    if (ad == NULL) {
        blk_seterr(err, errlen, "ustor_blk_open: adapter is NULL; pass one from ustor_adapter_create");
        if (out)
            *out = NULL;
        return -EINVAL;
    }
    struct ustor_adapter_info ai;
    ustor_adapter_get_info(ad, &ai);
    struct ustor_blk_transport t = {
        .submit = blk_adapter_submit,
        .tctx = ad,
        .srbex = ustor_adapter_uses_srbex(ad),
        .max_transfer_bytes = ai.max_transfer_length,
    };
    return ustor_blk_open_transport(&t, path, target, lun, opts, out, err, errlen);
}

static void blk_free(ustor_blk_dev *dev)
{
    pthread_mutex_destroy(&dev->pool_lock);
    pthread_cond_destroy(&dev->pool_cond);
    pthread_mutex_destroy(&dev->retry_lock);
    pthread_cond_destroy(&dev->retry_cond);
    free(dev->zero_buf);
    free(dev->reqs);
    free(dev);
}

static void blk_stop_retry_thread(ustor_blk_dev *dev)
{
    pthread_mutex_lock(&dev->retry_lock);
    dev->retry_stop = true;
    pthread_cond_signal(&dev->retry_cond);
    pthread_mutex_unlock(&dev->retry_lock);
    pthread_join(dev->retry_thread, NULL);
}

int ustor_blk_open_transport(const struct ustor_blk_transport *t, uint8_t path, uint8_t target,
                             uint8_t lun, const struct ustor_blk_options *opts,
                             ustor_blk_dev **out, char *err, size_t errlen)
{
    if (out == NULL) {
        blk_seterr(err, errlen, "ustor_blk_open: out is NULL; pass where to store the device");
        return -EINVAL;
    }
    *out = NULL;
    if (t == NULL || t->submit == NULL) {
        blk_seterr(err, errlen, "ustor_blk_open: transport %s; it needs a submit function",
                   t == NULL ? "is NULL" : "has no submit function");
        return -EINVAL;
    }
    struct ustor_blk_options o = {0};
    if (opts)
        o = *opts;
    if (o.probe_block_size && (o.probe_block_size > (1u << 20))) {
        blk_seterr(err, errlen,
                   "ustor_blk_open: probe_block_size %u is too large; use 512..1048576 or 0",
                   o.probe_block_size);
        return -EINVAL;
    }
    unsigned depth = o.queue_depth ? o.queue_depth : USTOR_BLK_DEFAULT_QUEUE_DEPTH;
    if (depth > 65536) {
        blk_seterr(err, errlen, "ustor_blk_open: queue_depth %u is too large; use 1..65536 or 0",
                   depth);
        return -EINVAL;
    }

    ustor_blk_dev *dev = calloc(1, sizeof(*dev));
    if (dev == NULL) {
        blk_seterr(err, errlen, "ustor_blk_open: out of memory");
        return -ENOMEM;
    }
    dev->t = *t;
    dev->max_retries = o.max_retries == USTOR_BLK_NO_RETRIES ? 0
                       : o.max_retries                       ? o.max_retries
                                                             : USTOR_BLK_DEFAULT_RETRIES;
    dev->timeout_s = o.timeout_s ? o.timeout_s : USTOR_BLK_DEFAULT_TIMEOUT_S;
    dev->wait_for_slot = o.wait_for_slot;
    dev->close_wait_ms = o.close_wait_ms ? o.close_wait_ms : USTOR_BLK_DEFAULT_CLOSE_WAIT_MS;
    atomic_init(&dev->no_write_same, false);
    dev->info.path = path;
    dev->info.target = target;
    dev->info.lun = lun;
    dev->info.srbex = t->srbex;
    dev->info.block_size = o.probe_block_size ? o.probe_block_size : 512;

    dev->nreqs = depth;
    dev->reqs = calloc(depth, sizeof(*dev->reqs));
    int rc = dev->reqs ? 0 : -ENOMEM;
    pthread_mutex_init(&dev->pool_lock, NULL);
    pthread_mutex_init(&dev->retry_lock, NULL);
    if (rc == 0)
        rc = blk_cond_init_monotonic(&dev->pool_cond);
    if (rc == 0)
        rc = blk_cond_init_monotonic(&dev->retry_cond);
    if (rc) {
        blk_seterr(err, errlen, "ustor_blk_open: cannot allocate %u request contexts", depth);
        free(dev->reqs);
        free(dev);
        return rc;
    }
    for (unsigned i = depth; i-- > 0;) {
        struct blk_req *rq = &dev->reqs[i];
        rq->dev = dev;
        atomic_init(&rq->drive_refs, 0);
        rq->next = dev->free_list;
        dev->free_list = rq;
    }
    dev->nfree = depth;
    rc = -pthread_create(&dev->retry_thread, NULL, blk_retry_main, dev);
    if (rc == 0)
        pthread_setname_np(dev->retry_thread, "ustor-blkretry");
    if (rc) {
        blk_seterr(err, errlen, "ustor_blk_open: cannot start the retry thread (%s)",
                   strerror(-rc));
        blk_free(dev);
        return rc;
    }

    if (o.no_probe) {
        /* Unknown size and features: assume a write cache so that flushes
         * and FUA are never skipped. */
        dev->info.has_write_cache = true;
    } else {
        dev->info.block_size = 0;
        rc = blk_probe(dev, err, errlen);
        if (rc) {
            ustor_blk_close(dev);
            return rc;
        }
        dev->probed = true;
    }
    blk_set_limits(dev, o.max_transfer_bytes);
    uint64_t zb = BLK_ZERO_BUFFER_BYTES / dev->info.block_size;
    if (zb > dev->info.max_transfer_blocks)
        zb = dev->info.max_transfer_blocks;
    if (zb == 0)
        zb = 1;
    dev->zero_blocks = (uint32_t)zb;
    dev->zero_buf = calloc(zb, dev->info.block_size);
    if (dev->zero_buf == NULL) {
        blk_seterr(err, errlen, "ustor_blk_open: out of memory for the zero buffer");
        ustor_blk_close(dev);
        return -ENOMEM;
    }
    *out = dev;
    return 0;
}

int ustor_blk_close(ustor_blk_dev *dev)
{
    if (dev == NULL)
        return 0;
    uint64_t deadline = blk_now_ns() + (uint64_t)dev->close_wait_ms * 1000000ull;
    struct timespec ts = blk_abs_time(deadline);
    pthread_mutex_lock(&dev->pool_lock);
    dev->closing = true;
    pthread_cond_broadcast(&dev->pool_cond); /* release _sync callers waiting for a slot */
    while (dev->nfree < dev->nreqs || dev->callbacks_running > 0) {
        if (pthread_cond_timedwait(&dev->pool_cond, &dev->pool_lock, &ts) == ETIMEDOUT)
            break;
    }
    bool idle = dev->nfree == dev->nreqs && dev->callbacks_running == 0;
    pthread_mutex_unlock(&dev->pool_lock);
    if (!idle) {
        /* The port still holds SRBs that point into dev: freeing it would
         * turn their completions into use-after-free. */
        fprintf(stderr,
                "ustor_blk_close: %u request(s) still outstanding after %u ms on LUN %u:%u:%u; "
                "the device stays allocated until a later ustor_blk_close succeeds\n",
                dev->nreqs - dev->nfree, dev->close_wait_ms, dev->info.path, dev->info.target,
                dev->info.lun);
        return -ETIMEDOUT;
    }
    blk_stop_retry_thread(dev);
    blk_free(dev);
    return 0;
}

const struct ustor_blk_info *ustor_blk_get_info(const ustor_blk_dev *dev)
{
    return dev ? &dev->info : NULL;
}

unsigned ustor_blk_inflight(const ustor_blk_dev *dev)
{
    if (dev == NULL)
        return 0;
    /* The count is read under the lock so that it is a consistent value. */
    pthread_mutex_t *lock = (pthread_mutex_t *)&dev->pool_lock;
    pthread_mutex_lock(lock);
    unsigned n = dev->nreqs - dev->nfree;
    pthread_mutex_unlock(lock);
    return n;
}
