/* ustor-test-labels: concurrency */
/*
 * Unit tests for src/block/blockdev.c over a fake transport: a tiny SCSI
 * disk written here that decodes both SRB kinds, answers the commands the
 * block layer sends, and injects bus resets, unit attentions, timeouts and
 * hard errors on chosen commands.  Completions arrive inline, from a
 * completion thread, or are held until the test releases them.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <srb.h>
#include <scsi.h>

#include "ustor/block.h"

/* ---- the fake disk ------------------------------------------------------- */

#define FAKE_ANY 0x100u
#define FAKE_MAX_FAULTS 8
#define FAKE_QUEUE 1024
#define FAKE_MAX_SRBS 256

enum fault_kind {
    F_BUS_RESET,
    F_UA,
    F_TIMEOUT,
    F_MEDIUM,
    F_NOT_READY,
    F_DATA_PROTECT,
    F_BUSY_SRB,
    F_BUSY_SCSI,
    F_NO_DEVICE,
    F_REJECT_EBUSY,
    F_REJECT_ENODEV,
};

struct fake_fault {
    unsigned opcode; /* or FAKE_ANY */
    unsigned skip;   /* matching commands to let through first */
    unsigned count;  /* then fail this many */
    enum fault_kind kind;
};

enum fake_mode { FAKE_INLINE, FAKE_THREAD };

struct fake_pending {
    void *srb;
    ustor_srb_done cb;
    void *ctx;
    uint8_t status;
};

struct fake {
    pthread_mutex_t lock;
    /* what the disk is */
    bool srbex;
    uint32_t bs;
    uint64_t nblocks;
    uint64_t stored; /* blocks with real storage; reads above give a pattern */
    uint8_t *data;
    uint32_t adapter_max_bytes;
    bool vpd, b0, b2, lbpme, lbpu, lbpws, lbprz, wce, dpofua, wp;
    bool no_mode_sense10, no_mode_sense6, no_write_same, no_rc16, descriptor_sense;
    bool absent; /* INQUIRY peripheral qualifier 3 */
    uint32_t b0_max_transfer, b0_max_unmap, b0_max_ws;
    uint8_t version;
    unsigned not_ready_count;
    struct fake_fault faults[FAKE_MAX_FAULTS];
    unsigned nfaults;
    /* random faults for the concurrency test: permille per command, never
     * twice in a row on the same SRB so that retries always succeed */
    unsigned random_fault_permille;
    uint64_t rng;
    void *faulted[FAKE_MAX_SRBS];
    unsigned nfaulted;

    /* completions */
    enum fake_mode mode;
    bool hold;
    struct fake_pending q[FAKE_QUEUE];
    unsigned qhead, qtail;
    pthread_cond_t qcond;
    pthread_t thread;
    bool thread_started, stop;

    /* what happened */
    unsigned ops[256];
    unsigned total;
    unsigned injected;
    unsigned bad_srbs;
    char bad_why[256];
    unsigned kinds_seen[2]; /* classic, extended */
    unsigned fua_commands;
    unsigned ws_unmap, ws_plain;
    unsigned unmap_descriptors;
    uint8_t last_cdb[32];
    unsigned last_cdb_len;
    uint8_t last_target;
};

struct fake_cmd {
    uint8_t cdb[32];
    unsigned cdb_len;
    uint8_t *data;
    uint32_t len;
    ULONG *len_field;
    UCHAR *srb_status;
    UCHAR *scsi_status;
    uint8_t *sense;
    unsigned sense_len;
    ULONG flags;
    uint8_t target;
};

static void fake_bad(struct fake *f, const char *why)
{
    if (f->bad_srbs++ == 0)
        snprintf(f->bad_why, sizeof(f->bad_why), "%s", why);
}

static bool fake_decode(struct fake *f, void *p, struct fake_cmd *c)
{
    memset(c, 0, sizeof(*c));
    uint8_t function = ((uint8_t *)p)[2];
    if (function == SRB_FUNCTION_STORAGE_REQUEST_BLOCK) {
        STORAGE_REQUEST_BLOCK *s = p;
        f->kinds_seen[1]++;
        if (s->Signature != SRB_SIGNATURE || s->Version != STORAGE_REQUEST_BLOCK_VERSION_1 ||
            s->SrbFunction != SRB_FUNCTION_EXECUTE_SCSI || s->NumSrbExData != 1 ||
            s->Length != offsetof(STORAGE_REQUEST_BLOCK, Signature)) {
            fake_bad(f, "STORAGE_REQUEST_BLOCK header wrong");
            return false;
        }
        if (s->AddressOffset + sizeof(STOR_ADDR_BTL8) > s->SrbLength ||
            s->SrbExDataOffset[0] + sizeof(SRBEX_DATA_SCSI_CDB16) > s->SrbLength) {
            fake_bad(f, "STORAGE_REQUEST_BLOCK offsets beyond SrbLength");
            return false;
        }
        STOR_ADDR_BTL8 *a = (STOR_ADDR_BTL8 *)((uint8_t *)s + s->AddressOffset);
        if (a->Type != STOR_ADDRESS_TYPE_BTL8 || a->AddressLength != STOR_ADDR_BTL8_ADDRESS_LENGTH) {
            fake_bad(f, "address is not BTL8");
            return false;
        }
        c->target = a->Target;
        SRBEX_DATA *ex = (SRBEX_DATA *)((uint8_t *)s + s->SrbExDataOffset[0]);
        if (ex->Type == SrbExDataTypeScsiCdb16) {
            SRBEX_DATA_SCSI_CDB16 *d = (SRBEX_DATA_SCSI_CDB16 *)ex;
            if (d->Length != SRBEX_DATA_SCSI_CDB16_LENGTH || d->CdbLength > 16) {
                fake_bad(f, "SRBEX_DATA_SCSI_CDB16 malformed");
                return false;
            }
            if (s->SrbLength != s->SrbExDataOffset[0] + sizeof(*d)) {
                fake_bad(f, "SrbLength is not the end of the CDB16 block");
                return false;
            }
            c->cdb_len = d->CdbLength;
            memcpy(c->cdb, d->Cdb, d->CdbLength);
            c->sense = d->SenseInfoBuffer;
            c->sense_len = d->SenseInfoBufferLength;
            c->scsi_status = &d->ScsiStatus;
        } else if (ex->Type == SrbExDataTypeScsiCdb32) {
            SRBEX_DATA_SCSI_CDB32 *d = (SRBEX_DATA_SCSI_CDB32 *)ex;
            if (d->Length != SRBEX_DATA_SCSI_CDB32_LENGTH || d->CdbLength > 32 ||
                s->SrbExDataOffset[0] + sizeof(*d) != s->SrbLength) {
                fake_bad(f, "SRBEX_DATA_SCSI_CDB32 malformed");
                return false;
            }
            c->cdb_len = d->CdbLength;
            memcpy(c->cdb, d->Cdb, d->CdbLength);
            c->sense = d->SenseInfoBuffer;
            c->sense_len = d->SenseInfoBufferLength;
            c->scsi_status = &d->ScsiStatus;
        } else {
            fake_bad(f, "unexpected SRBEX data type");
            return false;
        }
        c->data = s->DataBuffer;
        c->len = s->DataTransferLength;
        c->len_field = &s->DataTransferLength;
        c->srb_status = &s->SrbStatus;
        c->flags = s->SrbFlags;
    } else {
        SCSI_REQUEST_BLOCK *s = p;
        f->kinds_seen[0]++;
        if (s->Length != sizeof(SCSI_REQUEST_BLOCK) || s->Function != SRB_FUNCTION_EXECUTE_SCSI ||
            s->CdbLength == 0 || s->CdbLength > 16 || s->OriginalRequest == NULL) {
            fake_bad(f, "SCSI_REQUEST_BLOCK header wrong");
            return false;
        }
        c->target = s->TargetId;
        c->cdb_len = s->CdbLength;
        memcpy(c->cdb, s->Cdb, s->CdbLength);
        c->sense = s->SenseInfoBuffer;
        c->sense_len = s->SenseInfoBufferLength;
        c->scsi_status = &s->ScsiStatus;
        c->data = s->DataBuffer;
        c->len = s->DataTransferLength;
        c->len_field = &s->DataTransferLength;
        c->srb_status = &s->SrbStatus;
        c->flags = s->SrbFlags;
    }
    if (c->sense == NULL || c->sense_len < 18) {
        fake_bad(f, "no room for sense data");
        return false;
    }
    if ((c->len != 0) != (c->data != NULL)) {
        fake_bad(f, "DataBuffer and DataTransferLength disagree");
        return false;
    }
    return true;
}

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t be64(const uint8_t *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }
static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

static void fake_status(struct fake_cmd *c, uint8_t srb_status, uint8_t scsi_status, uint32_t xfer)
{
    *c->srb_status = srb_status;
    *c->scsi_status = scsi_status;
    *c->len_field = xfer;
}

static void fake_check(struct fake *f, struct fake_cmd *c, uint8_t key, uint8_t asc, uint8_t ascq)
{
    memset(c->sense, 0, c->sense_len);
    if (f->descriptor_sense) {
        c->sense[0] = 0x72;
        c->sense[1] = key;
        c->sense[2] = asc;
        c->sense[3] = ascq;
        c->sense[7] = 0;
    } else {
        c->sense[0] = 0x70;
        c->sense[2] = key;
        c->sense[7] = 10;
        c->sense[12] = asc;
        c->sense[13] = ascq;
    }
    fake_status(c, SRB_STATUS_ERROR | SRB_STATUS_AUTOSENSE_VALID, SCSISTAT_CHECK_CONDITION, 0);
}

/* Data-in reply: copies what fits; a shorter answer is an underrun. */
static void fake_reply(struct fake_cmd *c, const uint8_t *src, uint32_t n)
{
    uint32_t m = n < c->len ? n : c->len;
    memcpy(c->data, src, m);
    fake_status(c, m < c->len ? SRB_STATUS_DATA_OVERRUN : SRB_STATUS_SUCCESS, SCSISTAT_GOOD, m);
}

static void fake_good(struct fake_cmd *c)
{
    fake_status(c, SRB_STATUS_SUCCESS, SCSISTAT_GOOD, c->len);
}

static uint8_t fake_pattern(uint64_t lba, uint32_t i)
{
    return (uint8_t)(lba * 7 + i + 1);
}

static bool fake_range_ok(struct fake *f, struct fake_cmd *c, uint64_t lba, uint64_t n)
{
    if (lba > f->nblocks || n > f->nblocks - lba) {
        fake_check(f, c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_ILLEGAL_BLOCK, 0);
        return false;
    }
    return true;
}

static void fake_rw(struct fake *f, struct fake_cmd *c, bool write, uint64_t lba, uint32_t n)
{
    if ((uint64_t)n * f->bs != c->len) {
        fake_bad(f, "DataTransferLength does not match the CDB's block count");
        fake_status(c, SRB_STATUS_INVALID_REQUEST, 0, 0);
        return;
    }
    if (!(c->flags & (write ? SRB_FLAGS_DATA_OUT : SRB_FLAGS_DATA_IN))) {
        fake_bad(f, "transfer direction flag missing");
        fake_status(c, SRB_STATUS_INVALID_REQUEST, 0, 0);
        return;
    }
    if (!fake_range_ok(f, c, lba, n))
        return;
    if (c->cdb[1] & 0x08)
        f->fua_commands++;
    for (uint32_t b = 0; b < n; b++) {
        uint64_t at = lba + b;
        uint8_t *mem = c->data + (size_t)b * f->bs;
        if (at < f->stored) {
            if (write)
                memcpy(f->data + at * f->bs, mem, f->bs);
            else
                memcpy(mem, f->data + at * f->bs, f->bs);
        } else if (!write) {
            for (uint32_t i = 0; i < f->bs; i++)
                mem[i] = fake_pattern(at, i);
        }
    }
    fake_good(c);
}

static void fake_inquiry(struct fake *f, struct fake_cmd *c)
{
    uint8_t r[252];
    memset(r, 0, sizeof(r));
    if (!(c->cdb[1] & 1)) {
        r[0] = f->absent ? 0x7F : 0x00;
        r[2] = f->version;
        r[3] = 0x02;
        r[4] = 31;
        memcpy(&r[8], "USTOR   ", 8);
        memcpy(&r[16], "FAKE DISK       ", 16);
        memcpy(&r[32], "1.0 ", 4);
        fake_reply(c, r, 36);
        return;
    }
    if (!f->vpd) {
        fake_check(f, c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_INVALID_CDB, 0);
        return;
    }
    uint8_t page = c->cdb[2];
    r[1] = page;
    switch (page) {
    case 0x00: {
        unsigned n = 0;
        r[4 + n++] = 0x00;
        r[4 + n++] = 0x80;
        if (f->b0)
            r[4 + n++] = 0xB0;
        if (f->b2)
            r[4 + n++] = 0xB2;
        r[3] = (uint8_t)n;
        fake_reply(c, r, 4 + n);
        return;
    }
    case 0x80: {
        const char *sn = "  FAKE-SN-42  ";
        r[3] = (uint8_t)strlen(sn);
        memcpy(&r[4], sn, strlen(sn));
        fake_reply(c, r, 4 + (uint32_t)strlen(sn));
        return;
    }
    case 0xB0:
        if (!f->b0)
            break;
        r[3] = 0x3C;
        put32(&r[8], f->b0_max_transfer);
        put32(&r[12], 8);
        put32(&r[20], f->b0_max_unmap);
        put32(&r[24], 1);
        put32(&r[28], 8);
        put32(&r[32], 0x80000000u | 2);
        put64(&r[36], f->b0_max_ws);
        fake_reply(c, r, 64);
        return;
    case 0xB2:
        if (!f->b2)
            break;
        r[3] = 4;
        r[5] = (uint8_t)((f->lbpu ? 0x80 : 0) | (f->lbpws ? 0x40 : 0) | (f->lbprz ? 0x04 : 0));
        r[6] = 0x02;
        fake_reply(c, r, 8);
        return;
    default:
        break;
    }
    fake_check(f, c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_INVALID_CDB, 0);
}

static void fake_mode_sense(struct fake *f, struct fake_cmd *c, bool ten)
{
    if ((ten && f->no_mode_sense10) || (!ten && f->no_mode_sense6)) {
        fake_check(f, c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_ILLEGAL_COMMAND, 0);
        return;
    }
    if ((c->cdb[2] & 0x3F) != 0x08) {
        fake_check(f, c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_INVALID_CDB, 0);
        return;
    }
    uint8_t r[64];
    memset(r, 0, sizeof(r));
    uint8_t devspec = (uint8_t)((f->wp ? 0x80 : 0) | (f->dpofua ? 0x10 : 0));
    unsigned hdr = ten ? 8 : 4;
    uint8_t *pg = &r[hdr];
    pg[0] = 0x08;
    pg[1] = 0x12;
    pg[2] = f->wce ? 0x04 : 0;
    unsigned total = hdr + 20;
    if (ten) {
        r[1] = (uint8_t)(total - 2);
        r[3] = devspec;
    } else {
        r[0] = (uint8_t)(total - 1);
        r[2] = devspec;
    }
    fake_reply(c, r, total);
}

static void fake_unmap(struct fake *f, struct fake_cmd *c)
{
    uint32_t plen = be16(&c->cdb[7]);
    if (plen != c->len || plen < 8 || !(c->flags & SRB_FLAGS_DATA_OUT)) {
        fake_bad(f, "UNMAP parameter list length wrong");
        fake_check(f, c, SCSI_SENSE_ILLEGAL_REQUEST, 0x1A, 0);
        return;
    }
    uint32_t dlen = be16(&c->data[2]);
    if (be16(&c->data[0]) != plen - 2 || dlen + 8 > plen || dlen % 16) {
        fake_bad(f, "UNMAP parameter list header wrong");
        fake_check(f, c, SCSI_SENSE_ILLEGAL_REQUEST, 0x26, 0);
        return;
    }
    for (uint32_t off = 8; off < 8 + dlen; off += 16) {
        uint64_t lba = be64(&c->data[off]);
        uint32_t n = be32(&c->data[off + 8]);
        if (f->b0_max_unmap && n > f->b0_max_unmap) {
            fake_bad(f, "UNMAP beyond MAXIMUM UNMAP LBA COUNT");
            fake_check(f, c, SCSI_SENSE_ILLEGAL_REQUEST, 0x26, 0);
            return;
        }
        if (!fake_range_ok(f, c, lba, n))
            return;
        for (uint64_t b = lba; b < lba + n && b < f->stored; b++)
            memset(f->data + b * f->bs, 0, f->bs);
        f->unmap_descriptors++;
    }
    fake_good(c);
}

static void fake_write_same(struct fake *f, struct fake_cmd *c)
{
    if (f->no_write_same) {
        fake_check(f, c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_ILLEGAL_COMMAND, 0);
        return;
    }
    uint64_t lba = be64(&c->cdb[2]);
    uint32_t n = be32(&c->cdb[10]);
    if (c->len != f->bs || n == 0) {
        fake_bad(f, "WRITE SAME needs one block of data and a count");
        fake_status(c, SRB_STATUS_INVALID_REQUEST, 0, 0);
        return;
    }
    if (!fake_range_ok(f, c, lba, n))
        return;
    if (c->cdb[1] & 0x08)
        f->ws_unmap++;
    else
        f->ws_plain++;
    for (uint64_t b = lba; b < lba + n && b < f->stored; b++)
        memcpy(f->data + b * f->bs, c->data, f->bs);
    fake_good(c);
}

static void fake_exec(struct fake *f, struct fake_cmd *c)
{
    uint8_t op = c->cdb[0];
    uint8_t r[32];
    memset(r, 0, sizeof(r));
    switch (op) {
    case SCSIOP_TEST_UNIT_READY:
        if (f->not_ready_count) {
            f->not_ready_count--;
            fake_check(f, c, SCSI_SENSE_NOT_READY, SCSI_ADSENSE_LUN_NOT_READY,
                       SCSI_SENSEQ_BECOMING_READY);
            return;
        }
        fake_good(c);
        return;
    case SCSIOP_INQUIRY:
        fake_inquiry(f, c);
        return;
    case SCSIOP_READ_CAPACITY:
        put32(&r[0], f->nblocks - 1 > UINT32_MAX ? UINT32_MAX : (uint32_t)(f->nblocks - 1));
        put32(&r[4], f->bs);
        fake_reply(c, r, 8);
        return;
    case SCSIOP_SERVICE_ACTION_IN16:
        if (f->no_rc16 || (c->cdb[1] & 0x1F) != SERVICE_ACTION_READ_CAPACITY16)
            break;
        put64(&r[0], f->nblocks - 1);
        put32(&r[8], f->bs);
        r[14] = (uint8_t)((f->lbpme ? 0x80 : 0) | (f->lbprz ? 0x40 : 0));
        fake_reply(c, r, 32);
        return;
    case SCSIOP_MODE_SENSE:
        fake_mode_sense(f, c, false);
        return;
    case SCSIOP_MODE_SENSE10:
        fake_mode_sense(f, c, true);
        return;
    case SCSIOP_READ:
    case SCSIOP_WRITE:
        fake_rw(f, c, op == SCSIOP_WRITE, be32(&c->cdb[2]), be16(&c->cdb[7]));
        return;
    case SCSIOP_READ16:
    case SCSIOP_WRITE16:
        fake_rw(f, c, op == SCSIOP_WRITE16, be64(&c->cdb[2]), be32(&c->cdb[10]));
        return;
    case SCSIOP_SYNCHRONIZE_CACHE:
    case SCSIOP_SYNCHRONIZE_CACHE16:
        fake_good(c);
        return;
    case SCSIOP_UNMAP:
        fake_unmap(f, c);
        return;
    case SCSIOP_WRITE_SAME16:
        fake_write_same(f, c);
        return;
    case SCSIOP_REPORT_LUNS:
        r[3] = 8; /* one LUN, LUN 0 */
        fake_reply(c, r, 16);
        return;
    case SCSIOP_REQUEST_SENSE:
        r[0] = 0x70;
        r[7] = 10;
        fake_reply(c, r, 18);
        return;
    case 0x7F: /* variable-length CDB: accepted, nothing to do */
        fake_good(c);
        return;
    default:
        break;
    }
    fake_check(f, c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_ILLEGAL_COMMAND, 0);
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Returns the fault to inject for this command, or -1. */
static int fake_pick_fault(struct fake *f, uint8_t op, void *srb)
{
    for (unsigned i = 0; i < f->nfaults; i++) {
        struct fake_fault *ft = &f->faults[i];
        if (ft->opcode != FAKE_ANY && ft->opcode != op)
            continue;
        if (ft->skip) {
            ft->skip--;
            continue;
        }
        if (ft->count) {
            ft->count--;
            return (int)ft->kind;
        }
    }
    if (f->random_fault_permille) {
        unsigned idx = f->nfaulted;
        for (unsigned i = 0; i < f->nfaulted; i++)
            if (f->faulted[i] == srb)
                idx = i;
        bool was_faulted = idx < f->nfaulted;
        if (was_faulted) {
            f->faulted[idx] = f->faulted[--f->nfaulted];
            return -1;
        }
        if (xorshift(&f->rng) % 1000 < f->random_fault_permille && f->nfaulted < FAKE_MAX_SRBS) {
            f->faulted[f->nfaulted++] = srb;
            return (xorshift(&f->rng) & 1) ? F_UA : F_BUS_RESET;
        }
    }
    return -1;
}

static void fake_apply_fault(struct fake *f, struct fake_cmd *c, enum fault_kind k)
{
    switch (k) {
    case F_BUS_RESET: fake_status(c, SRB_STATUS_BUS_RESET, 0, 0); break;
    case F_TIMEOUT: fake_status(c, SRB_STATUS_TIMEOUT, 0, 0); break;
    case F_BUSY_SRB: fake_status(c, SRB_STATUS_BUSY, 0, 0); break;
    case F_NO_DEVICE: fake_status(c, SRB_STATUS_NO_DEVICE, 0, 0); break;
    case F_BUSY_SCSI: fake_status(c, SRB_STATUS_ERROR, SCSISTAT_BUSY, 0); break;
    case F_UA: fake_check(f, c, SCSI_SENSE_UNIT_ATTENTION, SCSI_ADSENSE_BUS_RESET, 0); break;
    case F_MEDIUM: fake_check(f, c, SCSI_SENSE_MEDIUM_ERROR, 0x11, 0); break;
    case F_DATA_PROTECT:
        fake_check(f, c, SCSI_SENSE_DATA_PROTECT, SCSI_ADSENSE_WRITE_PROTECT, 0);
        break;
    case F_NOT_READY:
        fake_check(f, c, SCSI_SENSE_NOT_READY, SCSI_ADSENSE_LUN_NOT_READY,
                   SCSI_SENSEQ_BECOMING_READY);
        break;
    default: break;
    }
}

static void fake_deliver(struct fake_pending *p)
{
    p->cb(p->ctx, p->srb, p->status);
}

static void *fake_thread_main(void *arg)
{
    struct fake *f = arg;
    pthread_mutex_lock(&f->lock);
    for (;;) {
        if (f->qhead != f->qtail && !f->hold) {
            struct fake_pending p = f->q[f->qhead % FAKE_QUEUE];
            f->qhead++;
            pthread_mutex_unlock(&f->lock);
            fake_deliver(&p);
            pthread_mutex_lock(&f->lock);
            continue;
        }
        if (f->stop)
            break;
        pthread_cond_wait(&f->qcond, &f->lock);
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

static int fake_submit(void *tctx, void *srb, ustor_srb_done cb, void *cbctx)
{
    struct fake *f = tctx;
    struct fake_cmd c;
    pthread_mutex_lock(&f->lock);
    if (!fake_decode(f, srb, &c)) {
        pthread_mutex_unlock(&f->lock);
        return -EINVAL;
    }
    uint8_t op = c.cdb[0];
    f->ops[op]++;
    f->total++;
    memcpy(f->last_cdb, c.cdb, c.cdb_len);
    f->last_cdb_len = c.cdb_len;
    f->last_target = c.target;
    int fault = fake_pick_fault(f, op, srb);
    if (fault == F_REJECT_EBUSY || fault == F_REJECT_ENODEV) {
        f->injected++;
        pthread_mutex_unlock(&f->lock);
        return fault == F_REJECT_EBUSY ? -EBUSY : -ENODEV;
    }
    if (fault >= 0) {
        f->injected++;
        fake_apply_fault(f, &c, (enum fault_kind)fault);
    } else {
        fake_exec(f, &c);
    }
    struct fake_pending p = {.srb = srb, .cb = cb, .ctx = cbctx, .status = SRB_STATUS(*c.srb_status)};
    if (f->mode == FAKE_INLINE) {
        pthread_mutex_unlock(&f->lock);
        fake_deliver(&p);
        return 0;
    }
    assert_true(f->qtail - f->qhead < FAKE_QUEUE);
    f->q[f->qtail % FAKE_QUEUE] = p;
    f->qtail++;
    pthread_cond_signal(&f->qcond);
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static struct fake *fake_new(bool srbex, enum fake_mode mode)
{
    struct fake *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->qcond, NULL);
    f->srbex = srbex;
    f->mode = mode;
    f->bs = 512;
    f->nblocks = 2048;
    f->stored = 2048;
    f->vpd = f->b0 = f->b2 = true;
    f->lbpme = f->lbpu = f->lbpws = f->lbprz = true;
    f->wce = true;
    f->dpofua = true;
    f->version = 6;
    f->rng = 88172645463325252ull;
    return f;
}

/* Allocates storage once the test has set the geometry. */
static void fake_start(struct fake *f)
{
    if (f->stored > f->nblocks)
        f->stored = f->nblocks;
    f->data = calloc(f->stored ? f->stored : 1, f->bs);
    assert_non_null(f->data);
    if (f->mode == FAKE_THREAD) {
        assert_int_equal(pthread_create(&f->thread, NULL, fake_thread_main, f), 0);
        f->thread_started = true;
    }
}

static void fake_release(struct fake *f)
{
    pthread_mutex_lock(&f->lock);
    f->hold = false;
    pthread_cond_signal(&f->qcond);
    pthread_mutex_unlock(&f->lock);
}

static void fake_free(struct fake *f)
{
    if (f->thread_started) {
        pthread_mutex_lock(&f->lock);
        f->stop = true;
        f->hold = false;
        pthread_cond_signal(&f->qcond);
        pthread_mutex_unlock(&f->lock);
        pthread_join(f->thread, NULL);
    }
    if (f->bad_srbs)
        fail_msg("the fake saw %u malformed SRB(s); first: %s", f->bad_srbs, f->bad_why);
    free(f->data);
    pthread_cond_destroy(&f->qcond);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static unsigned fake_ops(struct fake *f, uint8_t op)
{
    pthread_mutex_lock(&f->lock);
    unsigned n = f->ops[op];
    pthread_mutex_unlock(&f->lock);
    return n;
}

static void fake_add_fault(struct fake *f, unsigned opcode, unsigned skip, unsigned count,
                           enum fault_kind kind)
{
    pthread_mutex_lock(&f->lock);
    assert_true(f->nfaults < FAKE_MAX_FAULTS);
    f->faults[f->nfaults++] = (struct fake_fault){opcode, skip, count, kind};
    pthread_mutex_unlock(&f->lock);
}

static void fake_clear_counts(struct fake *f)
{
    pthread_mutex_lock(&f->lock);
    memset(f->ops, 0, sizeof(f->ops));
    f->total = 0;
    f->injected = 0;
    f->fua_commands = 0;
    f->ws_unmap = f->ws_plain = 0;
    f->unmap_descriptors = 0;
    f->nfaults = 0;
    pthread_mutex_unlock(&f->lock);
}

static char open_err[512];

static int fake_open(struct fake *f, const struct ustor_blk_options *o, ustor_blk_dev **dev)
{
    struct ustor_blk_transport t = {
        .submit = fake_submit,
        .tctx = f,
        .srbex = f->srbex,
        .max_transfer_bytes = f->adapter_max_bytes,
    };
    open_err[0] = '\0';
    return ustor_blk_open_transport(&t, 0, 1, 0, o, dev, open_err, sizeof(open_err));
}

/* Opens and clears the counters so that tests count only their own I/O. */
static ustor_blk_dev *open_ok(struct fake *f, const struct ustor_blk_options *o)
{
    ustor_blk_dev *dev = NULL;
    int r = fake_open(f, o, &dev);
    if (r != 0)
        fail_msg("open failed: %d (%s)", r, open_err);
    fake_clear_counts(f);
    return dev;
}

/* ---- async completion collector -------------------------------------------- */

struct collector {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned done;
    struct ustor_blk_result last;
};

static void collector_init(struct collector *c)
{
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->done = 0;
}

static void collector_cb(void *ctx, const struct ustor_blk_result *r)
{
    struct collector *c = ctx;
    pthread_mutex_lock(&c->lock);
    c->last = *r;
    c->done++;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void collector_wait(struct collector *c, unsigned n)
{
    pthread_mutex_lock(&c->lock);
    while (c->done < n)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
}

static void collector_destroy(struct collector *c)
{
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed * 31 + i * 13 + (i >> 9));
}

/* ---- tests: open -------------------------------------------------------------- */

/* state: NULL = SCSI_REQUEST_BLOCK, non-NULL = STORAGE_REQUEST_BLOCK */
static bool want_srbex(void **state) { return *state != NULL; }

static int setup_classic(void **state) { *state = NULL; return 0; }
static int setup_srbex(void **state) { *state = (void *)1; return 0; }

static void test_open_probe(void **state)
{
    struct fake *f = fake_new(want_srbex(state), FAKE_THREAD);
    f->b0_max_transfer = 64;
    f->b0_max_unmap = 1024;
    f->b0_max_ws = 512;
    fake_start(f);
    ustor_blk_dev *dev = NULL;
    assert_int_equal(fake_open(f, NULL, &dev), 0);
    const struct ustor_blk_info *i = ustor_blk_get_info(dev);
    assert_int_equal(i->num_blocks, 2048);
    assert_int_equal(i->block_size, 512);
    assert_int_equal(i->physical_block_size, 512);
    assert_string_equal(i->vendor, "USTOR");
    assert_string_equal(i->product, "FAKE DISK");
    assert_string_equal(i->revision, "1.0");
    assert_string_equal(i->serial, "FAKE-SN-42");
    assert_int_equal(i->scsi_version, 6);
    assert_true(i->has_vpd_b0);
    assert_true(i->has_vpd_b2);
    assert_true(i->thin_provisioned);
    assert_true(i->can_unmap);
    assert_true(i->can_write_same_unmap);
    assert_true(i->unmapped_reads_zero);
    assert_true(i->has_write_cache);
    assert_true(i->supports_fua);
    assert_false(i->write_protected);
    assert_int_equal(i->max_transfer_blocks, 64);
    assert_int_equal(i->optimal_transfer_blocks, 8);
    assert_int_equal(i->max_unmap_blocks, 1024);
    assert_int_equal(i->max_unmap_descriptors, 1);
    assert_int_equal(i->unmap_granularity, 8);
    assert_int_equal(i->unmap_granularity_alignment, 2);
    assert_int_equal(i->max_write_same_blocks, 512);
    assert_int_equal(i->srbex, want_srbex(state));
    assert_int_equal(i->target, 1);
    assert_int_equal(f->last_target, 1);
    /* The probe used the SRB kind the transport asked for, only that. */
    assert_true(f->kinds_seen[want_srbex(state) ? 1 : 0] > 0);
    assert_int_equal(f->kinds_seen[want_srbex(state) ? 0 : 1], 0);
    assert_int_equal(f->ops[SCSIOP_TEST_UNIT_READY], 1);
    assert_int_equal(f->ops[SCSIOP_READ_CAPACITY], 1);
    assert_int_equal(f->ops[SCSIOP_SERVICE_ACTION_IN16], 1); /* SPC-4 device */
    assert_int_equal(ustor_blk_inflight(dev), 0);
    assert_int_equal(ustor_blk_close(dev), 0);
    fake_free(f);
}

static void test_open_minimal_device(void **state)
{
    (void)state;
    /* An old device: no VPD, no READ CAPACITY 16, no MODE SENSE 10. */
    struct fake *f = fake_new(false, FAKE_INLINE);
    f->vpd = false;
    f->no_rc16 = true;
    f->no_mode_sense10 = true;
    f->version = 2;
    f->wce = false;
    f->wp = true;
    fake_start(f);
    ustor_blk_dev *dev = NULL;
    assert_int_equal(fake_open(f, NULL, &dev), 0);
    const struct ustor_blk_info *i = ustor_blk_get_info(dev);
    assert_int_equal(i->num_blocks, 2048);
    assert_false(i->has_vpd_b0);
    assert_false(i->can_unmap);
    assert_string_equal(i->serial, "");
    assert_int_equal(f->ops[SCSIOP_SERVICE_ACTION_IN16], 0);
    assert_int_equal(f->ops[SCSIOP_MODE_SENSE], 1); /* fell back to MODE SENSE 6 */
    assert_true(i->write_protected);
    assert_false(i->has_write_cache);
    /* Default limit: 1 MiB per command. */
    assert_int_equal(i->max_transfer_blocks, 2048);
    assert_int_equal(ustor_blk_close(dev), 0);
    fake_free(f);
}

static void test_open_large_capacity_uses_rc16(void **state)
{
    (void)state;
    struct fake *f = fake_new(true, FAKE_INLINE);
    f->version = 4; /* READ CAPACITY 16 only because 10 overflows */
    f->nblocks = (1ull << 32) + 1024;
    f->stored = 16;
    fake_start(f);
    ustor_blk_dev *dev = NULL;
    assert_int_equal(fake_open(f, NULL, &dev), 0);
    assert_int_equal(ustor_blk_get_info(dev)->num_blocks, (1ull << 32) + 1024);
    assert_int_equal(f->ops[SCSIOP_SERVICE_ACTION_IN16], 1);
    assert_int_equal(ustor_blk_close(dev), 0);
    fake_free(f);
}

static void test_open_rc16_failure(void **state)
{
    (void)state;
    /* SPC-4 device without READ CAPACITY (16): (10) suffices when it fits. */
    struct fake *f = fake_new(false, FAKE_INLINE);
    f->no_rc16 = true;
    fake_start(f);
    ustor_blk_dev *dev = NULL;
    assert_int_equal(fake_open(f, NULL, &dev), 0);
    assert_int_equal(ustor_blk_get_info(dev)->num_blocks, 2048);
    assert_false(ustor_blk_get_info(dev)->thin_provisioned);
    assert_false(ustor_blk_get_info(dev)->can_unmap);
    assert_int_equal(ustor_blk_close(dev), 0);
    /* ... but not when (10) says the capacity does not fit. */
    f->nblocks = (1ull << 32) + 1;
    assert_int_equal(fake_open(f, NULL, &dev), -EOPNOTSUPP);
    assert_null(dev);
    assert_non_null(strstr(open_err, "READ CAPACITY"));
    assert_non_null(strstr(open_err, "INVALID COMMAND OPERATION CODE"));
    fake_free(f);
}

static void test_open_retries_unit_attention_and_not_ready(void **state)
{
    struct fake *f = fake_new(want_srbex(state), FAKE_THREAD);
    fake_start(f);
    fake_add_fault(f, SCSIOP_TEST_UNIT_READY, 0, 2, F_UA);
    f->not_ready_count = 3;
    ustor_blk_dev *dev = NULL;
    assert_int_equal(fake_open(f, NULL, &dev), 0);
    assert_int_equal(f->ops[SCSIOP_TEST_UNIT_READY], 6);
    assert_int_equal(ustor_blk_close(dev), 0);
    fake_free(f);
}

static void test_open_never_ready_is_bounded(void **state)
{
    (void)state;
    struct fake *f = fake_new(false, FAKE_THREAD);
    fake_start(f);
    f->not_ready_count = 1000;
    ustor_blk_dev *dev = (ustor_blk_dev *)1;
    int r = fake_open(f, NULL, &dev);
    assert_int_equal(r, -EIO);
    assert_null(dev);
    assert_non_null(strstr(open_err, "TEST UNIT READY"));
    assert_non_null(strstr(open_err, "BECOMING READY"));
    /* 1 try + 8 retries (the open minimum), then it gives up. */
    assert_int_equal(f->ops[SCSIOP_TEST_UNIT_READY], 9);
    assert_int_equal(f->ops[SCSIOP_INQUIRY], 0);
    fake_free(f);
}

static void test_open_absent_lun(void **state)
{
    (void)state;
    struct fake *f = fake_new(false, FAKE_INLINE);
    f->absent = true;
    fake_start(f);
    ustor_blk_dev *dev = NULL;
    assert_int_equal(fake_open(f, NULL, &dev), -ENODEV);
    assert_non_null(strstr(open_err, "peripheral qualifier"));
    fake_clear_counts(f);
    f->absent = false;
    fake_add_fault(f, FAKE_ANY, 0, 100, F_NO_DEVICE);
    assert_int_equal(fake_open(f, NULL, &dev), -ENODEV);
    /* SRB_STATUS_NO_DEVICE is final: no retries. */
    assert_int_equal(f->ops[SCSIOP_TEST_UNIT_READY], 1);
    fake_free(f);
}

static void test_open_bad_arguments(void **state)
{
    (void)state;
    ustor_blk_dev *dev = (ustor_blk_dev *)1;
    char err[256];
    assert_int_equal(ustor_blk_open_transport(NULL, 0, 0, 0, NULL, &dev, err, sizeof(err)),
                     -EINVAL);
    assert_null(dev);
    assert_non_null(strstr(err, "transport"));
    struct ustor_blk_transport t = {0};
    assert_int_equal(ustor_blk_open_transport(&t, 0, 0, 0, NULL, &dev, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "submit"));
    t.submit = fake_submit;
    assert_int_equal(ustor_blk_open_transport(&t, 0, 0, 0, NULL, NULL, err, sizeof(err)),
                     -EINVAL);
    struct ustor_blk_options o = {.queue_depth = 1u << 20};
    assert_int_equal(ustor_blk_open_transport(&t, 0, 0, 0, &o, &dev, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "queue_depth"));
    assert_int_equal(ustor_blk_close(NULL), 0);
    assert_null(ustor_blk_get_info(NULL));
}

/* ---- tests: reads and writes ---------------------------------------------------- */

static void roundtrip(void **state, enum fake_mode mode)
{
    struct fake *f = fake_new(want_srbex(state), mode);
    fake_start(f);
    ustor_blk_dev *dev = open_ok(f, NULL);
    uint8_t out[8 * 512], in[8 * 512];
    fill(out, sizeof(out), 3);
    struct ustor_blk_result r;
    assert_int_equal(ustor_blk_write_sync(dev, 100, 8, out, 0, &r), 0);
    assert_int_equal(r.transferred, sizeof(out));
    assert_int_equal(r.retries, 0);
    assert_int_equal(r.srb_status, SRB_STATUS_SUCCESS);
    memset(in, 0, sizeof(in));
    assert_int_equal(ustor_blk_read_sync(dev, 100, 8, in, 0, &r), 0);
    assert_memory_equal(in, out, sizeof(out));
    assert_memory_equal(f->data + 100 * 512, out, sizeof(out));
    assert_int_equal(fake_ops(f, SCSIOP_WRITE), 1);
    assert_int_equal(fake_ops(f, SCSIOP_READ), 1);
    assert_int_equal(fake_ops(f, SCSIOP_READ16), 0);

    /* The async form, last block of the device. */
    struct collector c;
    collector_init(&c);
    assert_int_equal(ustor_blk_read(dev, 2047, 1, in, 0, collector_cb, &c), 0);
    collector_wait(&c, 1);
    assert_int_equal(c.last.error, 0);
    assert_int_equal(c.last.transferred, 512);
    collector_destroy(&c);
    assert_int_equal(ustor_blk_close(dev), 0);
    fake_free(f);
}

static void test_rw_roundtrip_threaded(void **state) { roundtrip(state, FAKE_THREAD); }
static void test_rw_roundtrip_inline(void **state) { roundtrip(state, FAKE_INLINE); }

static void test_rw_chooses_16_byte_cdbs(void **state)
{
    (void)state;
    struct fake *f = fake_new(false, FAKE_INLINE);
    f->nblocks = (1ull << 32) + 4096;
    f->stored = 64;
    fake_start(f);
    ustor_blk_dev *dev = open_ok(f, NULL);
    uint8_t buf[4 * 512];
    /* Beyond 2^32: READ (16), and the data are those of the right LBA. */
    uint64_t lba = (1ull << 32) + 5;
    assert_int_equal(ustor_blk_read_sync(dev, lba, 4, buf, 0, NULL), 0);
    assert_int_equal(fake_ops(f, SCSIOP_READ16), 1);
    assert_int_equal(fake_ops(f, SCSIOP_READ), 0);
    assert_int_equal(buf[0], fake_pattern(lba, 0));
    assert_int_equal(buf[3 * 512 + 7], fake_pattern(lba + 3, 7));
    /* Crossing 2^32: the last block does not fit READ (10). */
    assert_int_equal(ustor_blk_read_sync(dev, (1ull << 32) - 2, 4, buf, 0, NULL), 0);
    assert_int_equal(fake_ops(f, SCSIOP_READ16), 2);
    assert_int_equal(buf[2 * 512], fake_pattern(1ull << 32, 0));
    /* Ending exactly at 2^32 - 1 still fits. */
    assert_int_equal(ustor_blk_read_sync(dev, (1ull << 32) - 4, 4, buf, 0, NULL), 0);
    assert_int_equal(fake_ops(f, SCSIOP_READ), 1);
    assert_int_equal(ustor_blk_write_sync(dev, lba, 1, buf, 0, NULL), 0);
    assert_int_equal(fake_ops(f, SCSIOP_WRITE16), 1);
    assert_int_equal(ustor_blk_close(dev), 0);
    fake_free(f);
}

static void test_rw_long_transfer_uses_16(void **state)
{
    (void)state;
    /* 8-byte blocks keep a >65535-block transfer small in memory. */
    struct fake *f = fake_new(true, FAKE_INLINE);
    f->bs = 8;
    f->nblocks = 200000;
    f->stored = 200000;
    f->b0 = false;
    f->adapter_max_bytes = 8 * 100000;
    fake_start(f);
    ustor_blk_dev *dev = open_ok(f, NULL);
    assert_int_equal(ustor_blk_get_info(dev)->max_transfer_blocks, 100000);
    size_t n = 70000;
    uint8_t *out = malloc(n * 8), *in = malloc(n * 8);
    assert_non_null(out);
    assert_non_null(in);
    fill(out, n * 8, 9);
    assert_int_equal(ustor_blk_write_sync(dev, 10, (uint32_t)n, out, 0, NULL), 0);
    assert_int_equal(fake_ops(f, SCSIOP_WRITE16), 1);
    assert_int_equal(fake_ops(f, SCSIOP_WRITE), 0);
    assert_int_equal(ustor_blk_read_sync(dev, 10, (uint32_t)n, in, 0, NULL), 0);
    assert_memory_equal(in, out, n * 8);
    free(out);
    free(in);
    assert_int_equal(ustor_blk_close(dev), 0);
    fake_free(f);
}

static void test_split_large_io(void **state)
{
    struct fake *f = fake_new(want_srbex(state), FAKE_THREAD);
    f->adapter_max_bytes = 8 * 512;
    fake_start(f);
    ustor_blk_dev *dev = open_ok(f, NULL);
    assert_int_equal(ustor_blk_get_info(dev)->max_transfer_blocks, 8);
    uint8_t *out = malloc(100 * 512), *in = calloc(100, 512);
    fill(out, 100 * 512, 5);
    struct ustor_blk_result r;
    assert_int_equal(ustor_blk_write_sync(dev, 1000, 100, out, 0, &r), 0);
    assert_int_equal(r.transferred, 100 * 512);
    assert_int_equal(fake_ops(f, SCSIOP_WRITE), 13);
    assert_int_equal(ustor_blk_read_sync(dev, 1000, 100, in, 0, &r), 0);
    assert_int_equal(fake_ops(f, SCSIOP_READ), 13);
    assert_memory_equal(in, out, 100 * 512);
    /* A failure in the middle piece stops the request there. */
    fake_add_fault(f, SCSIOP_READ, 5, 1, F_MEDIUM);
    assert_int_equal(ustor_blk_read_sync(dev, 1000, 100, in, 0, &r), -EIO);
    assert_int_equal(r.transferred, 5 * 8 * 512);
    assert_int_equal(fake_ops(f, SCSIOP_READ), 13 + 6);
    free(out);
    free(in);
    assert_int_equal(ustor_blk_close(dev), 0);
    fake_free(f);
}

static void test_split_limits_combine(void **state)
{
    (void)state;
    struct fake *f = fake_new(false, FAKE_INLINE);
    f->adapter_max_bytes = 64 * 512;
    f->b0_max_transfer = 16;
    fake_start(f);
    struct ustor_blk_options o = {.max_transfer_bytes = 32 * 512};
    ustor_blk_dev *dev = open_ok(f, &o);
    assert_int_equal(ustor_blk_get_info(dev)->max_transfer_blocks, 16);
    assert_int_equal(ustor_blk_close(dev), 0);
    o.max_transfer_bytes = 4 * 512;
    dev = open_ok(f, &o);
    assert_int_equal(ustor_blk_get_info(dev)->max_transfer_blocks, 4);
    assert_int_equal(ustor_blk_close(dev), 0);
    fake_free(f);
}

static void test_split_inline_completion_does_not_recurse(void **state)
{
    (void)state;
    /* One block per command, completions inside submit: 50000 pieces must
     * not nest 50000 stack frames. */
    struct fake *f = fake_new(false, FAKE_INLINE);
    f->bs = 8;
    f->nblocks = 60000;
    f->stored = 60000;
    f->b0 = false;
    f->adapter_max_bytes = 8;
    fake_start(f);
    ustor_blk_dev *dev = open_ok(f, NULL);
    assert_int_equal(ustor_blk_get_info(dev)->max_transfer_blocks, 1);
    uint8_t *buf = malloc(50000 * 8);
    struct ustor_blk_result r;
    assert_int_equal(ustor_blk_read_sync(dev, 0, 50000, buf, 0, &r), 0);
    assert_int_equal(r.transferred, 50000 * 8);
    assert_int_equal(fake_ops(f, SCSIOP_READ), 50000);
    free(buf);
    assert_int_equal(ustor_blk_close(dev), 0);
    fake_free(f);
}

/* ---- tests: retries --------------------------------------------------------------- */

static void test_retry_bus_reset_then_success(void **state)
{
    struct fake *f = fake_new(want_srbex(state), FAKE_THREAD);
    fake_start(f);
    ustor_blk_dev *dev = open_ok(f, NULL);
    uint8_t buf[512];
    fill(buf, sizeof(buf), 1);
    fake_add_fault(f, SCSIOP_WRITE, 0, 2, F_BUS_RESET);
    struct ustor_blk_result r;
    assert_int_equal(ustor_blk_write_sync(dev, 7, 1, buf, 0, &r), 0);
    assert_int_equal(r.retries, 2);
    assert_int_equal(r.srb_status, SRB_STATUS_SUCCESS);
    assert_int_equal(fake_ops(f, SCSIOP_WRITE), 3);
    assert_memory_equal(f->data + 7 * 512, buf, 512);
    assert_int_equal(ustor_blk_close(dev), 0);
    fake_free(f);
}

static void test_retry_unit_attention_is_bounded(void **state)
{
    struct fake *f = fake_new(want_srbex(state), FAKE_THREAD);
    fake_start(f);
    ustor_blk_dev *dev = open_ok(f, NULL);
    uint8_t buf[512];
    fake_add_fault(f, SCSIOP_READ, 0, 100, F_UA);
    struct ustor_blk_result r;
    assert_int_equal(ustor_blk_read_sync(dev, 7, 1, buf, 0, &r), -EIO);
    assert_int_equal(r.retries, USTOR_BLK_DEFAULT_RETRIES);
    assert_int_equal(fake_ops(f, SCSIOP_READ), USTOR_BLK_DEFAULT_RETRIES + 1);
    assert_int_equal(r.srb_status, SRB_STATUS_ERROR);
    assert_int_equal(r.scsi_status, SCSISTAT_CHECK_CONDITION);
    assert_int_equal(r.sense_key, SCSI_SENSE_UNIT_ATTENTION);
    assert_int_equal(r.asc, 0x29);
    assert_true(r.sense_len >= 14);
    assert_int_equal(r.sense[0] & 0x7F, 0x70);
    assert_int_equal(ustor_blk_close(dev), 0);
    fake_free(f);
}

static void test_retry_timeout_with_custom_budget(void **state)
{
    (void)state;
    struct fake *f = fake_new(false, FAKE_THREAD);
    fake_start(f);
    struct ustor_blk_options o = {.max_retries = 2};
    ustor_blk_dev *dev = open_ok(f, &o);
    uint8_t buf[512];
    fake_add_fault(f, SCSIOP_WRITE, 0, 100, F_TIMEOUT);
    struct ustor_blk_result r;
    assert_int_equal(ustor_blk_write_sync(dev, 1, 1, buf, 0, &r), -ETIMEDOUT);
    assert_int_equal(r.retries, 2);
    assert_int_equal(r.srb_status, SRB_STATUS_TIMEOUT);
    assert_int_equal(fake_ops(f, SCSIOP_WRITE), 3);
    assert_int_equal(ustor_blk_close(dev), 0);
    fake_free(f);
}

static void test_no_retries_option(void **state)
{
    (void)state;
    struct fake *f = fake_new(false, FAKE_INLINE);
    fake_start(f);
    struct ustor_blk_options o = {.max_retries = USTOR_BLK_NO_RETRIES};
    ustor_blk_dev *dev = open_ok(f, &o);
    uint8_t buf[512];
    fake_add_fault(f, SCSIOP_READ, 0, 1, F_BUS_RESET);
    struct ustor_blk_result r;
    assert_int_equal(ustor_blk_read_sync(dev, 1, 1, buf, 0, &r), -EIO);
    assert_int_equal(r.retries, 0);
    assert_int_equal(r.srb_status, SRB_STATUS_BUS_RESET);
    assert_int_equal(fake_ops(f, SCSIOP_READ), 1);
    assert_int_equal(ustor_blk_close(dev), 0);
    fake_free(f);
}

static void test_hard_errors_not_retried(void **state)
{
    struct fake *f = fake_new(want_srbex(state), FAKE_THREAD);
    fake_start(f);
    ustor_blk_dev *dev = open_ok(f, NULL);
    uint8_t buf[512];
    struct ustor_blk_result r;
    fake_add_fault(f, SCSIOP_READ, 0, 1, F_MEDIUM);
    assert_int_equal(ustor_blk_read_sync(dev, 1, 1, buf, 0, &r), -EIO);
    assert_int_equal(r.retries, 0);
    assert_int_equal(r.sense_key, SCSI_SENSE_MEDIUM_ERROR);
    assert_int_equal(r.asc, 0x11);
    assert_int_equal(fake_ops(f, SCSIOP_READ), 1);
    fake_add_fault(f, SCSIOP_WRITE, 0, 1, F_DATA_PROTECT);
    assert_int_equal(ustor_blk_write_sync(dev, 1, 1, buf, 0, &r), -EROFS);
    assert_int_equal(r.retries, 0);
    fake_add_fault(f, SCSIOP_WRITE, 0, 1, F_NO_DEVICE);
    assert_int_equal(ustor_blk_write_sync(dev, 1, 1, buf, 0, &r), -ENODEV);
    assert_int_equal(r.retries, 0);
    assert_int_equal(ustor_blk_close(dev), 0);
    fake_free(f);
}

static void test_retry_not_ready_and_busy(void **state)
{
    (void)state;
    struct fake *f = fake_new(true, FAKE_THREAD);
    fake_start(f);
    ustor_blk_dev *dev = open_ok(f, NULL);
    uint8_t buf[512];
    struct ustor_blk_result r;
    fake_add_fault(f, SCSIOP_READ, 0, 2, F_NOT_READY);
    assert_int_equal(ustor_blk_read_sync(dev, 1, 1, buf, 0, &r), 0);
    assert_int_equal(r.retries, 2);
    /* BUSY leaking from the port, and SCSI BUSY status: retried. */
    fake_add_fault(f, SCSIOP_READ, 0, 1, F_BUSY_SRB);
    fake_add_fault(f, SCSIOP_READ, 0, 1, F_BUSY_SCSI);
    assert_int_equal(ustor_blk_read_sync(dev, 1, 1, buf, 0, &r), 0);
    assert_int_equal(r.retries, 2);
    assert_int_equal(ustor_blk_close(dev), 0);
    fake_free(f);
}

static void test_transport_refusals(void **state)
{
    (void)state;
    struct fake *f = fake_new(false, FAKE_THREAD);
    fake_start(f);
    ustor_blk_dev *dev = open_ok(f, NULL);
    uint8_t buf[512];
    struct ustor_blk_result r;
    /* -EBUSY from the port's own pool: retried after a pause. */
    fake_add_fault(f, SCSIOP_READ, 0, 2, F_REJECT_EBUSY);
    assert_int_equal(ustor_blk_read_sync(dev, 1, 1, buf, 0, &r), 0);
    assert_int_equal(r.retries, 2);
    /* -ENODEV: final, reported through the callback. */
    fake_add_fault(f, SCSIOP_READ, 0, 1, F_REJECT_ENODEV);
    struct collector c;
    collector_init(&c);
    assert_int_equal(ustor_blk_read(dev, 1, 1, buf, 0, collector_cb, &c), 0);
    collector_wait(&c, 1);
    assert_int_equal(c.last.error, -ENODEV);
    assert_int_equal(c.last.retries, 0);
    collector_destroy(&c);
    assert_int_equal(ustor_blk_close(dev), 0);
    fake_free(f);
}

static void test_descriptor_sense_from_device(void **state)
{
    struct fake *f = fake_new(want_srbex(state), FAKE_INLINE);
    f->descriptor_sense = true;
    fake_start(f);
    ustor_blk_dev *dev = open_ok(f, NULL);
    uint8_t buf[512];
    struct ustor_blk_result r;
    fake_add_fault(f, SCSIOP_READ, 0, 1, F_MEDIUM);
    assert_int_equal(ustor_blk_read_sync(dev, 1, 1, buf, 0, &r), -EIO);
    assert_int_equal(r.sense[0], 0x72);
    assert_int_equal(r.sense_len, 8);
    assert_int_equal(r.sense_key, SCSI_SENSE_MEDIUM_ERROR);
    assert_int_equal(r.asc, 0x11);
    /* Unit attention in descriptor format is recognized and retried too. */
    fake_add_fault(f, SCSIOP_READ, 0, 1, F_UA);
    assert_int_equal(ustor_blk_read_sync(dev, 1, 1, buf, 0, &r), 0);
    assert_int_equal(r.retries, 1);
    assert_int_equal(ustor_blk_close(dev), 0);
    fake_free(f);
}

/* ---- tests: argument and range errors ------------------------------------------- */

static void ignore_cb(void *ctx, const struct ustor_blk_result *r)
{
    (void)ctx;
    (void)r;
    fail_msg("callback ran for a request that was refused");
}

static void test_range_and_argument_errors(void **state)
{
    (void)state;
    struct fake *f = fake_new(false, FAKE_INLINE);
    fake_start(f);
    ustor_blk_dev *dev = open_ok(f, NULL);
    uint8_t buf[2 * 512];
    assert_int_equal(ustor_blk_read(dev, 2047, 2, buf, 0, ignore_cb, NULL), -EINVAL);
    assert_int_equal(ustor_blk_write(dev, 2047, 2, buf, 0, ignore_cb, NULL), -ENOSPC);
    assert_int_equal(ustor_blk_write(dev, 2048, 1, buf, 0, ignore_cb, NULL), -ENOSPC);
    assert_int_equal(ustor_blk_write(dev, UINT64_MAX, 1, buf, 0, ignore_cb, NULL), -ENOSPC);
    assert_int_equal(ustor_blk_read(dev, 0, 0, buf, 0, ignore_cb, NULL), -EINVAL);
    assert_int_equal(ustor_blk_read(dev, 0, 1, NULL, 0, ignore_cb, NULL), -EINVAL);
    assert_int_equal(ustor_blk_read(dev, 0, 1, buf, 0, NULL, NULL), -EINVAL);
    assert_int_equal(ustor_blk_read(dev, 0, 1, buf, 0x80, ignore_cb, NULL), -EINVAL);
    assert_int_equal(ustor_blk_write_zeroes(dev, 0, 1, 0x80, ignore_cb, NULL), -EINVAL);
    assert_int_equal(ustor_blk_unmap(dev, 2000, 100, ignore_cb, NULL), -ENOSPC);
    assert_int_equal(ustor_blk_read(NULL, 0, 1, buf, 0, ignore_cb, NULL), -EINVAL);
    assert_int_equal(ustor_blk_read_sync(dev, 2048, 1, buf, 0, NULL), -EINVAL);
    assert_int_equal(f->total, 0); /* nothing reached the device */
    assert_int_equal(ustor_blk_close(dev), 0);

    /* Write-protected device: writes refused up front, reads fine. */
    f->wp = true;
    dev = open_ok(f, NULL);
    assert_true(ustor_blk_get_info(dev)->write_protected);
    assert_int_equal(ustor_blk_write(dev, 0, 1, buf, 0, ignore_cb, NULL), -EROFS);
    assert_int_equal(ustor_blk_write_zeroes(dev, 0, 1, 0, ignore_cb, NULL), -EROFS);
    assert_int_equal(ustor_blk_unmap(dev, 0, 1, ignore_cb, NULL), -EROFS);
    assert_int_equal(ustor_blk_read_sync(dev, 0, 1, buf, 0, NULL), 0);
    assert_int_equal(ustor_blk_close(dev), 0);
    f->wp = false;

    /* Without probing the layer cannot check the range: the device does,
     * and LBA OUT OF RANGE maps to ENOSPC for a write, EINVAL for a read. */
    struct ustor_blk_options o = {.no_probe = true};
    dev = open_ok(f, &o);
    assert_int_equal(ustor_blk_get_info(dev)->num_blocks, 0);
    assert_int_equal(ustor_blk_get_info(dev)->block_size, 512);
    struct ustor_blk_result r;
    assert_int_equal(ustor_blk_write_sync(dev, 4000, 1, buf, 0, &r), -ENOSPC);
    assert_int_equal(r.sense_key, SCSI_SENSE_ILLEGAL_REQUEST);
    assert_int_equal(r.asc, SCSI_ADSENSE_ILLEGAL_BLOCK);
    assert_int_equal(ustor_blk_read_sync(dev, 4000, 1, buf, 0, &r), -EINVAL);
    assert_int_equal(r.retries, 0);
    assert_int_equal(ustor_blk_close(dev), 0);
    fake_free(f);
}

/* ---- tests: flush, FUA, unmap, zeroes ------------------------------------------- */

static void test_flush_and_fua(void **state)
{
    (void)state;
    struct fake *f = fake_new(false, FAKE_THREAD);
    fake_start(f);
    ustor_blk_dev *dev = open_ok(f, NULL);
    uint8_t buf[512];
    assert_int_equal(ustor_blk_flush_sync(dev, NULL), 0);
    assert_int_equal(fake_ops(f, SCSIOP_SYNCHRONIZE_CACHE), 1);
    assert_int_equal(f->last_cdb[0], SCSIOP_SYNCHRONIZE_CACHE);
    /* DPOFUA: the FUA bit goes into the WRITE itself. */
    assert_int_equal(ustor_blk_write_sync(dev, 3, 1, buf, USTOR_BLK_FUA, NULL), 0);
    assert_int_equal(f->fua_commands, 1);
    assert_int_equal(fake_ops(f, SCSIOP_SYNCHRONIZE_CACHE), 1);
    assert_int_equal(ustor_blk_close(dev), 0);

    /* No DPOFUA but a write cache: WRITE then SYNCHRONIZE CACHE. */
    f->dpofua = false;
    dev = open_ok(f, NULL);
    assert_int_equal(ustor_blk_write_sync(dev, 3, 1, buf, USTOR_BLK_FUA, NULL), 0);
    assert_int_equal(f->fua_commands, 0);
    assert_int_equal(fake_ops(f, SCSIOP_WRITE), 1);
    assert_int_equal(fake_ops(f, SCSIOP_SYNCHRONIZE_CACHE), 1);
    /* A failed flush after the data fails the request. */
    fake_add_fault(f, SCSIOP_SYNCHRONIZE_CACHE, 0, 1, F_MEDIUM);
    assert_int_equal(ustor_blk_write_sync(dev, 3, 1, buf, USTOR_BLK_FUA, NULL), -EIO);
    assert_int_equal(ustor_blk_close(dev), 0);

    /* Write-through device: nothing extra. */
    f->wce = false;
    dev = open_ok(f, NULL);
    assert_int_equal(ustor_blk_write_sync(dev, 3, 1, buf, USTOR_BLK_FUA, NULL), 0);
    assert_int_equal(fake_ops(f, SCSIOP_SYNCHRONIZE_CACHE), 0);
    assert_int_equal(ustor_blk_close(dev), 0);
    fake_free(f);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static void test_unmap(void **state)
{
    struct fake *f = fake_new(want_srbex(state), FAKE_THREAD);
    f->b0_max_unmap = 16;
    fake_start(f);
    ustor_blk_dev *dev = open_ok(f, NULL);
    memset(f->data, 0xEE, 2048 * 512);
    struct ustor_blk_result r;
    assert_int_equal(ustor_blk_unmap_sync(dev, 10, 40, &r), 0);
    assert_int_equal(fake_ops(f, SCSIOP_UNMAP), 3); /* 16 + 16 + 8 */
    assert_int_equal(f->unmap_descriptors, 3);
    assert_true(all_zero(f->data + 10 * 512, 40 * 512));
    assert_int_equal(f->data[9 * 512 + 511], 0xEE);
    assert_int_equal(f->data[50 * 512], 0xEE);
    assert_int_equal(ustor_blk_close(dev), 0);

    f->lbpu = false;
    dev = open_ok(f, NULL);
    assert_false(ustor_blk_get_info(dev)->can_unmap);
    assert_int_equal(ustor_blk_unmap(dev, 0, 1, ignore_cb, NULL), -EOPNOTSUPP);
    assert_int_equal(f->total, 0);
    assert_int_equal(ustor_blk_close(dev), 0);
    fake_free(f);
}

static void test_write_zeroes(void **state)
{
    struct fake *f = fake_new(want_srbex(state), FAKE_THREAD);
    f->b0_max_ws = 100;
    fake_start(f);
    ustor_blk_dev *dev = open_ok(f, NULL);
    memset(f->data, 0xEE, 2048 * 512);
    /* LBPRZ + LBPWS + MAY_UNMAP: WRITE SAME with UNMAP, split by 100. */
    assert_int_equal(ustor_blk_write_zeroes_sync(dev, 0, 250, USTOR_BLK_MAY_UNMAP, NULL), 0);
    assert_int_equal(f->ws_unmap, 3);
    assert_int_equal(f->ws_plain, 0);
    assert_true(all_zero(f->data, 250 * 512));
    assert_int_equal(f->data[250 * 512], 0xEE);
    /* Without MAY_UNMAP: WRITE SAME that allocates. */
    assert_int_equal(ustor_blk_write_zeroes_sync(dev, 300, 10, 0, NULL), 0);
    assert_int_equal(f->ws_plain, 1);
    assert_true(all_zero(f->data + 300 * 512, 10 * 512));
    /* FUA: flush afterwards. */
    assert_int_equal(ustor_blk_write_zeroes_sync(dev, 400, 1, USTOR_BLK_FUA, NULL), 0);
    assert_int_equal(fake_ops(f, SCSIOP_SYNCHRONIZE_CACHE), 1);
    assert_int_equal(ustor_blk_close(dev), 0);

    /* A device rejecting WRITE SAME: plain WRITEs of zeroes, and the layer
     * remembers not to try again. */
    f->no_write_same = true;
    dev = open_ok(f, NULL);
    memset(f->data, 0xEE, 2048 * 512);
    struct ustor_blk_result r;
    assert_int_equal(ustor_blk_write_zeroes_sync(dev, 500, 300, USTOR_BLK_MAY_UNMAP, &r), 0);
    assert_int_equal(fake_ops(f, SCSIOP_WRITE_SAME16), 1);
    assert_true(fake_ops(f, SCSIOP_WRITE) >= 3); /* 300 blocks, 128 per 64 KiB */
    assert_true(all_zero(f->data + 500 * 512, 300 * 512));
    assert_int_equal(f->data[499 * 512], 0xEE);
    assert_int_equal(f->data[800 * 512], 0xEE);
    assert_int_equal(ustor_blk_write_zeroes_sync(dev, 900, 4, 0, NULL), 0);
    assert_int_equal(fake_ops(f, SCSIOP_WRITE_SAME16), 1);
    assert_true(all_zero(f->data + 900 * 512, 4 * 512));
    assert_int_equal(ustor_blk_close(dev), 0);
    fake_free(f);
}

/* ---- tests: passthrough --------------------------------------------------------------- */

static void test_passthrough(void **state)
{
    struct fake *f = fake_new(want_srbex(state), FAKE_THREAD);
    fake_start(f);
    ustor_blk_dev *dev = open_ok(f, NULL);
    uint8_t buf[96];
    struct ustor_blk_result r;
    /* Short answer (underrun) is success with the real length. */
    assert_int_equal(ustor_blk_inquiry(dev, false, 0, buf, sizeof(buf), &r), 0);
    assert_int_equal(r.transferred, 36);
    assert_int_equal(r.srb_status, SRB_STATUS_DATA_OVERRUN);
    assert_memory_equal(&buf[8], "USTOR   ", 8);
    assert_int_equal(ustor_blk_inquiry(dev, true, 0xB2, buf, sizeof(buf), &r), 0);
    assert_int_equal(buf[1], 0xB2);
    assert_int_equal(ustor_blk_report_luns(dev, 0, buf, 16, &r), 0);
    assert_int_equal(r.transferred, 16);
    assert_int_equal(buf[3], 8);
    assert_int_equal(ustor_blk_request_sense(dev, false, buf, 18, &r), 0);
    assert_int_equal(buf[0], 0x70);
    assert_int_equal(ustor_blk_test_unit_ready(dev, &r), 0);
    assert_int_equal(ustor_blk_read_capacity16(dev, buf, 32, &r), 0);
    assert_int_equal(buf[7], 0xFF); /* last LBA 2047 = 0x7FF */
    assert_int_equal(buf[6], 0x07);
    assert_int_equal(ustor_blk_mode_sense10(dev, true, 0, 0x08, 0, buf, 64, &r), 0);
    assert_int_equal(buf[8], 0x08);

    /* Unknown opcode: error with sense, no retries. */
    uint8_t cdb[32] = {0xC5};
    assert_int_equal(ustor_blk_scsi_sync(dev, cdb, 6, USTOR_BLK_DIR_NONE, NULL, 0, 0, &r),
                     -EOPNOTSUPP);
    assert_int_equal(r.sense_key, SCSI_SENSE_ILLEGAL_REQUEST);
    assert_int_equal(r.asc, SCSI_ADSENSE_ILLEGAL_COMMAND);
    assert_int_equal(r.retries, 0);
    /* Passthrough never retries, even what I/O would. */
    fake_add_fault(f, SCSIOP_INQUIRY, 0, 1, F_UA);
    assert_int_equal(ustor_blk_inquiry(dev, false, 0, buf, 36, &r), -EIO);
    assert_int_equal(r.retries, 0);
    assert_int_equal(r.sense_key, SCSI_SENSE_UNIT_ATTENTION);

    /* Argument checks. */
    assert_int_equal(ustor_blk_scsi_sync(dev, cdb, 0, USTOR_BLK_DIR_NONE, NULL, 0, 0, &r), -EINVAL);
    assert_int_equal(ustor_blk_scsi_sync(dev, cdb, 6, USTOR_BLK_DIR_IN, NULL, 10, 0, &r), -EINVAL);
    assert_int_equal(ustor_blk_scsi_sync(dev, cdb, 6, USTOR_BLK_DIR_IN, buf, 0, 0, &r), -EINVAL);
    assert_int_equal(ustor_blk_scsi_sync(dev, cdb, 6, USTOR_BLK_DIR_NONE, buf, 4, 0, &r), -EINVAL);
    assert_int_equal(ustor_blk_scsi_sync(dev, cdb, 6, (enum ustor_blk_dir)7, buf, 4, 0, &r),
                     -EINVAL);
    assert_int_equal(ustor_blk_scsi_sync(dev, cdb, 33, USTOR_BLK_DIR_NONE, NULL, 0, 0, &r),
                     -EINVAL);

    /* A 32-byte CDB needs STORAGE_REQUEST_BLOCK (SRBEX_DATA_SCSI_CDB32). */
    memset(cdb, 0, sizeof(cdb));
    cdb[0] = 0x7F;
    cdb[7] = 24;
    int rc = ustor_blk_scsi_sync(dev, cdb, 32, USTOR_BLK_DIR_NONE, NULL, 0, 0, &r);
    if (want_srbex(state)) {
        assert_int_equal(rc, 0);
        assert_int_equal(f->last_cdb_len, 32);
        assert_int_equal(f->last_cdb[7], 24);
    } else {
        assert_int_equal(rc, -EINVAL);
    }
    assert_int_equal(ustor_blk_close(dev), 0);
    fake_free(f);
}

/* ---- tests: pool, close ------------------------------------------------------------------- */

static void test_pool_exhaustion_returns_ebusy(void **state)
{
    struct fake *f = fake_new(want_srbex(state), FAKE_THREAD);
    fake_start(f);
    struct ustor_blk_options o = {.queue_depth = 2};
    ustor_blk_dev *dev = open_ok(f, &o);
    uint8_t buf[3][512];
    struct collector c;
    collector_init(&c);
    pthread_mutex_lock(&f->lock);
    f->hold = true;
    pthread_mutex_unlock(&f->lock);
    assert_int_equal(ustor_blk_read(dev, 0, 1, buf[0], 0, collector_cb, &c), 0);
    assert_int_equal(ustor_blk_read(dev, 1, 1, buf[1], 0, collector_cb, &c), 0);
    assert_int_equal(ustor_blk_read(dev, 2, 1, buf[2], 0, collector_cb, &c), -EBUSY);
    assert_int_equal(ustor_blk_flush(dev, collector_cb, &c), -EBUSY);
    assert_int_equal(ustor_blk_inflight(dev), 2);
    fake_release(f);
    collector_wait(&c, 2);
    assert_int_equal(c.last.error, 0);
    /* Both slots come back (after their callbacks returned). */
    assert_int_equal(ustor_blk_read_sync(dev, 2, 1, buf[2], 0, NULL), 0);
    assert_int_equal(ustor_blk_close(dev), 0);
    assert_int_equal(c.done, 2);
    collector_destroy(&c);
    fake_free(f);
}

struct release_arg {
    struct fake *f;
    atomic_bool go;
};

static void *release_later(void *arg)
{
    struct release_arg *a = arg;
    while (!atomic_load(&a->go))
        sched_yield();
    usleep(20000);
    fake_release(a->f);
    return NULL;
}

static void test_close_waits_for_outstanding(void **state)
{
    (void)state;
    struct fake *f = fake_new(false, FAKE_THREAD);
    fake_start(f);
    ustor_blk_dev *dev = open_ok(f, NULL);
    pthread_mutex_lock(&f->lock);
    f->hold = true;
    pthread_mutex_unlock(&f->lock);
    uint8_t buf[4][512];
    struct collector c;
    collector_init(&c);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ustor_blk_read(dev, (uint64_t)i, 1, buf[i], 0, collector_cb, &c), 0);
    struct release_arg a = {.f = f};
    atomic_init(&a.go, false);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, release_later, &a), 0);
    atomic_store(&a.go, true);
    /* Returns only once every callback has run. */
    assert_int_equal(ustor_blk_close(dev), 0);
    pthread_mutex_lock(&c.lock);
    assert_int_equal(c.done, 4);
    pthread_mutex_unlock(&c.lock);
    pthread_join(t, NULL);
    collector_destroy(&c);
    fake_free(f);
}

static void test_close_timeout_then_retry(void **state)
{
    (void)state;
    struct fake *f = fake_new(true, FAKE_THREAD);
    fake_start(f);
    struct ustor_blk_options o = {.close_wait_ms = 10};
    ustor_blk_dev *dev = open_ok(f, &o);
    pthread_mutex_lock(&f->lock);
    f->hold = true;
    pthread_mutex_unlock(&f->lock);
    uint8_t buf[512];
    struct collector c;
    collector_init(&c);
    assert_int_equal(ustor_blk_read(dev, 0, 1, buf, 0, collector_cb, &c), 0);
    /* The port still holds the SRB: close refuses to free. */
    assert_int_equal(ustor_blk_close(dev), -ETIMEDOUT);
    /* Closing: new requests are refused, the held one still completes. */
    assert_int_equal(ustor_blk_read(dev, 1, 1, buf, 0, ignore_cb, NULL), -ENODEV);
    assert_int_equal(ustor_blk_read_sync(dev, 1, 1, buf, 0, NULL), -ENODEV);
    fake_release(f);
    collector_wait(&c, 1);
    assert_int_equal(c.last.error, 0);
    assert_int_equal(ustor_blk_close(dev), 0);
    collector_destroy(&c);
    fake_free(f);
}

/* ---- concurrency ------------------------------------------------------------------------------ */

#define CT_THREADS 4
#define CT_REGION 256  /* blocks per thread */
#define CT_SLOTS 4     /* concurrent writes per thread, on distinct sub-regions */
#define CT_ROUNDS 60
#define CT_ITERATIONS 4

static unsigned test_seed;

struct ct_thread {
    ustor_blk_dev *dev;
    unsigned index;
    uint64_t rng;
    uint8_t *shadow; /* what the thread's region must hold */
    atomic_uint retries;
    atomic_uint requests;
    int failure;     /* first unexpected errno, 0 if none */
    char why[160];
};

struct ct_write {
    struct ct_thread *t;
    struct collector *c;
};

static void ct_note(struct ct_thread *t, int err, const char *what)
{
    if (t->failure == 0) {
        t->failure = err ? err : -1;
        snprintf(t->why, sizeof(t->why), "%s: %d", what, err);
    }
}

static void ct_write_cb(void *ctx, const struct ustor_blk_result *r)
{
    struct ct_write *w = ctx;
    atomic_fetch_add(&w->t->retries, r->retries);
    atomic_fetch_add(&w->t->requests, 1);
    collector_cb(w->c, r);
}

static void *ct_main(void *arg)
{
    struct ct_thread *t = arg;
    uint64_t base = (uint64_t)t->index * CT_REGION;
    const unsigned slot_blocks = CT_REGION / CT_SLOTS;
    uint8_t *bufs = malloc((size_t)CT_SLOTS * slot_blocks * 512);
    uint8_t *check = malloc((size_t)CT_REGION * 512);
    for (unsigned round = 0; round < CT_ROUNDS && t->failure == 0; round++) {
        struct collector c;
        collector_init(&c);
        struct ct_write w = {.t = t, .c = &c};
        unsigned issued = 0;
        for (unsigned s = 0; s < CT_SLOTS; s++) {
            unsigned n = 1 + (unsigned)(xorshift(&t->rng) % 20); /* splits above 8 */
            unsigned off = (unsigned)(xorshift(&t->rng) % (slot_blocks - n + 1));
            uint64_t lba = base + (uint64_t)s * slot_blocks + off;
            uint8_t *b = bufs + (size_t)s * slot_blocks * 512;
            fill(b, (size_t)n * 512, (unsigned)xorshift(&t->rng));
            memcpy(t->shadow + (lba - base) * 512, b, (size_t)n * 512);
            int r;
            if (xorshift(&t->rng) & 1) {
                r = ustor_blk_write(t->dev, lba, n, b, 0, ct_write_cb, &w);
            } else {
                memset(t->shadow + (lba - base) * 512, 0, (size_t)n * 512);
                r = ustor_blk_write_zeroes(t->dev, lba, n, 0, ct_write_cb, &w);
            }
            if (r != 0) {
                ct_note(t, r, "submit");
                break;
            }
            issued++;
        }
        collector_wait(&c, issued);
        if (c.last.error)
            ct_note(t, c.last.error, "write completion");
        collector_destroy(&c);
        struct ustor_blk_result res;
        int r = ustor_blk_read_sync(t->dev, base, CT_REGION, check, 0, &res);
        atomic_fetch_add(&t->retries, res.retries);
        atomic_fetch_add(&t->requests, 1);
        if (r != 0)
            ct_note(t, r, "read back");
        else if (memcmp(check, t->shadow, (size_t)CT_REGION * 512) != 0)
            ct_note(t, 0, "data read back differ from what was written");
    }
    free(bufs);
    free(check);
    return NULL;
}

static void test_concurrent_submitters(void **state)
{
    (void)state;
    for (unsigned it = 0; it < CT_ITERATIONS; it++) {
        unsigned seed = test_seed + it;
        /* Both SRB kinds; the last iteration completes inside submit, so
         * completions land on the submitting threads and the retry thread. */
        struct fake *f = fake_new(it % 2 == 1, it == CT_ITERATIONS - 1 ? FAKE_INLINE : FAKE_THREAD);
        f->nblocks = f->stored = CT_THREADS * CT_REGION;
        f->adapter_max_bytes = 8 * 512;
        f->b0_max_ws = 8;
        fake_start(f);
        struct ustor_blk_options o = {.queue_depth = 6, .wait_for_slot = true};
        ustor_blk_dev *dev = open_ok(f, &o);
        pthread_mutex_lock(&f->lock);
        f->random_fault_permille = 50;
        f->rng = 0x9E3779B97F4A7C15ull ^ seed;
        pthread_mutex_unlock(&f->lock);

        struct ct_thread th[CT_THREADS];
        pthread_t tid[CT_THREADS];
        for (unsigned i = 0; i < CT_THREADS; i++) {
            memset(&th[i], 0, sizeof(th[i]));
            th[i].dev = dev;
            th[i].index = i;
            th[i].rng = ((uint64_t)seed << 8 | i) * 0x2545F4914F6CDD1Dull + 1;
            th[i].shadow = calloc(CT_REGION, 512);
            atomic_init(&th[i].retries, 0);
            atomic_init(&th[i].requests, 0);
            assert_int_equal(pthread_create(&tid[i], NULL, ct_main, &th[i]), 0);
        }
        unsigned retries = 0;
        for (unsigned i = 0; i < CT_THREADS; i++) {
            pthread_join(tid[i], NULL);
            if (th[i].failure)
                fail_msg("seed %u (iteration %u) thread %u: %s", test_seed, it, i, th[i].why);
            retries += atomic_load(&th[i].retries);
            free(th[i].shadow);
        }
        assert_int_equal(ustor_blk_inflight(dev), 0);
        pthread_mutex_lock(&f->lock);
        unsigned injected = f->injected;
        pthread_mutex_unlock(&f->lock);
        /* Every injected fault cost exactly one retry, none more. */
        if (retries != injected)
            fail_msg("seed %u (iteration %u): %u retries for %u injected faults", test_seed, it,
                     retries, injected);
        assert_true(injected > 0);
        assert_int_equal(ustor_blk_close(dev), 0);
        fake_free(f);
    }
}

int main(void)
{
    const char *env = getenv("USTOR_SEED");
    test_seed = env ? (unsigned)strtoul(env, NULL, 0) : (unsigned)time(NULL);
    printf("test_blockdev: seed %u (set USTOR_SEED=%u to repeat)\n", test_seed, test_seed);
#define BOTH(fn) cmocka_unit_test_setup(fn, setup_classic), cmocka_unit_test_setup(fn, setup_srbex)
    const struct CMUnitTest tests[] = {
        BOTH(test_open_probe),
        cmocka_unit_test(test_open_minimal_device),
        cmocka_unit_test(test_open_large_capacity_uses_rc16),
        cmocka_unit_test(test_open_rc16_failure),
        BOTH(test_open_retries_unit_attention_and_not_ready),
        cmocka_unit_test(test_open_never_ready_is_bounded),
        cmocka_unit_test(test_open_absent_lun),
        cmocka_unit_test(test_open_bad_arguments),
        BOTH(test_rw_roundtrip_threaded),
        BOTH(test_rw_roundtrip_inline),
        cmocka_unit_test(test_rw_chooses_16_byte_cdbs),
        cmocka_unit_test(test_rw_long_transfer_uses_16),
        BOTH(test_split_large_io),
        cmocka_unit_test(test_split_limits_combine),
        cmocka_unit_test(test_split_inline_completion_does_not_recurse),
        BOTH(test_retry_bus_reset_then_success),
        BOTH(test_retry_unit_attention_is_bounded),
        cmocka_unit_test(test_retry_timeout_with_custom_budget),
        cmocka_unit_test(test_no_retries_option),
        BOTH(test_hard_errors_not_retried),
        cmocka_unit_test(test_retry_not_ready_and_busy),
        cmocka_unit_test(test_transport_refusals),
        BOTH(test_descriptor_sense_from_device),
        cmocka_unit_test(test_range_and_argument_errors),
        cmocka_unit_test(test_flush_and_fua),
        BOTH(test_unmap),
        BOTH(test_write_zeroes),
        BOTH(test_passthrough),
        BOTH(test_pool_exhaustion_returns_ebusy),
        cmocka_unit_test(test_close_waits_for_outstanding),
        cmocka_unit_test(test_close_timeout_then_retry),
        cmocka_unit_test(test_concurrent_submitters),
    };
#undef BOTH
    return cmocka_run_group_tests(tests, NULL, NULL);
}
