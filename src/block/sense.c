/*
 * sense.c - sense data decoding (SPC-4 fixed and descriptor formats),
 * readable names for sense keys, ASC/ASCQ, SRB and SCSI status, and the
 * mapping from a failed command to an errno value and a retry decision.
 * The tables are documented in docs/block.md.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <srb.h>
#include <scsi.h>

#include "ustor/block.h"
#include "blk_internal.h"

/* ---- decoding ------------------------------------------------------------ */

#define SENSE_RESPONSE_FIXED_CURRENT 0x70
#define SENSE_RESPONSE_FIXED_DEFERRED 0x71
#define SENSE_RESPONSE_DESC_CURRENT 0x72
#define SENSE_RESPONSE_DESC_DEFERRED 0x73

/* Descriptor types (SPC-4 table 29). */
#define SENSE_DESC_INFORMATION 0x00
#define SENSE_DESC_SENSE_KEY_SPECIFIC 0x02
#define SENSE_DESC_STREAM_COMMANDS 0x04
#define SENSE_DESC_BLOCK_COMMANDS 0x05

/* Bytes actually usable: what the buffer holds, cut to what the device
 * says it returned (ADDITIONAL SENSE LENGTH at byte 7 in both formats). */
static size_t sense_usable_len(const uint8_t *p, size_t len)
{
    if (len < 8)
        return len;
    size_t declared = 8 + (size_t)p[7];
    return declared < len ? declared : len;
}

static void decode_fixed(const uint8_t *p, size_t len, struct ustor_sense *out)
{
    out->sense_key = p[2] & 0x0F;
    out->filemark = (p[2] & 0x80) != 0;
    out->eom = (p[2] & 0x40) != 0;
    out->ili = (p[2] & 0x20) != 0;
    if (len >= 7 && (p[0] & 0x80)) {
        out->information_valid = true;
        out->information = blk_get_be32(&p[3]);
    }
    if (len >= 13)
        out->asc = p[12];
    if (len >= 14)
        out->ascq = p[13];
    if (len >= 18 && (p[15] & 0x80)) {
        out->sksv = true;
        memcpy(out->sense_key_specific, &p[15], 3);
        out->sense_key_specific[0] &= 0x7F;
    }
}

static void decode_descriptor(const uint8_t *p, size_t len, struct ustor_sense *out)
{
    out->sense_key = p[1] & 0x0F;
    if (len >= 3)
        out->asc = p[2];
    if (len >= 4)
        out->ascq = p[3];
    /* Walk the descriptors; each is type, additional length, body.  A
     * descriptor that runs past the usable length is ignored. */
    size_t off = 8;
    while (off + 2 <= len) {
        uint8_t type = p[off];
        size_t dlen = 2 + (size_t)p[off + 1];
        if (off + dlen > len)
            break;
        const uint8_t *d = &p[off];
        switch (type) {
        case SENSE_DESC_INFORMATION:
            if (dlen >= 12 && (d[2] & 0x80)) {
                out->information_valid = true;
                out->information = blk_get_be64(&d[4]);
            }
            break;
        case SENSE_DESC_SENSE_KEY_SPECIFIC:
            if (dlen >= 7 && (d[4] & 0x80)) {
                out->sksv = true;
                memcpy(out->sense_key_specific, &d[4], 3);
                out->sense_key_specific[0] &= 0x7F;
            }
            break;
        case SENSE_DESC_STREAM_COMMANDS:
            if (dlen >= 4) {
                out->filemark = (d[3] & 0x80) != 0;
                out->eom = (d[3] & 0x40) != 0;
                out->ili = (d[3] & 0x20) != 0;
            }
            break;
        case SENSE_DESC_BLOCK_COMMANDS:
            if (dlen >= 4)
                out->ili = (d[3] & 0x20) != 0;
            break;
        default:
            break;
        }
        off += dlen;
    }
}

int ustor_scsi_sense_decode(const void *sense, size_t len, struct ustor_sense *out)
{
    if (out == NULL)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    if (sense == NULL || len == 0)
        return -EINVAL;
    const uint8_t *p = sense;
    uint8_t code = p[0] & 0x7F;
    switch (code) {
    case SENSE_RESPONSE_FIXED_CURRENT:
    case SENSE_RESPONSE_FIXED_DEFERRED:
        if (len < 3)
            return -EINVAL;
        out->response_code = code;
        out->deferred = code == SENSE_RESPONSE_FIXED_DEFERRED;
        decode_fixed(p, sense_usable_len(p, len), out);
        return 0;
    case SENSE_RESPONSE_DESC_CURRENT:
    case SENSE_RESPONSE_DESC_DEFERRED:
        if (len < 2)
            return -EINVAL;
        out->response_code = code;
        out->descriptor_format = true;
        out->deferred = code == SENSE_RESPONSE_DESC_DEFERRED;
        decode_descriptor(p, sense_usable_len(p, len), out);
        return 0;
    default:
        return -EINVAL;
    }
}

/* ---- names --------------------------------------------------------------- */

const char *ustor_scsi_sense_key_name(uint8_t key)
{
    static const char *const names[16] = {
        "NO SENSE", "RECOVERED ERROR", "NOT READY", "MEDIUM ERROR",
        "HARDWARE ERROR", "ILLEGAL REQUEST", "UNIT ATTENTION", "DATA PROTECT",
        "BLANK CHECK", "VENDOR SPECIFIC", "COPY ABORTED", "ABORTED COMMAND",
        "EQUAL", "VOLUME OVERFLOW", "MISCOMPARE", "COMPLETED",
    };
    return key < 16 ? names[key] : "RESERVED";
}

struct asc_entry {
    uint8_t asc, ascq;
    const char *text;
};

/* The conditions a block device commonly reports (SPC-4 annex D). */
static const struct asc_entry asc_table[] = {
    {0x00, 0x00, "NO ADDITIONAL SENSE INFORMATION"},
    {0x04, 0x00, "LOGICAL UNIT NOT READY, CAUSE NOT REPORTABLE"},
    {0x04, 0x01, "LOGICAL UNIT IS IN PROCESS OF BECOMING READY"},
    {0x04, 0x02, "LOGICAL UNIT NOT READY, INITIALIZING COMMAND REQUIRED"},
    {0x04, 0x03, "LOGICAL UNIT NOT READY, MANUAL INTERVENTION REQUIRED"},
    {0x04, 0x04, "LOGICAL UNIT NOT READY, FORMAT IN PROGRESS"},
    {0x04, 0x07, "LOGICAL UNIT NOT READY, OPERATION IN PROGRESS"},
    {0x04, 0x0A, "LOGICAL UNIT NOT ACCESSIBLE, ASYMMETRIC ACCESS STATE TRANSITION"},
    {0x08, 0x00, "LOGICAL UNIT COMMUNICATION FAILURE"},
    {0x0C, 0x00, "WRITE ERROR"},
    {0x11, 0x00, "UNRECOVERED READ ERROR"},
    {0x1A, 0x00, "PARAMETER LIST LENGTH ERROR"},
    {0x1D, 0x00, "MISCOMPARE DURING VERIFY OPERATION"},
    {0x20, 0x00, "INVALID COMMAND OPERATION CODE"},
    {0x21, 0x00, "LOGICAL BLOCK ADDRESS OUT OF RANGE"},
    {0x24, 0x00, "INVALID FIELD IN CDB"},
    {0x25, 0x00, "LOGICAL UNIT NOT SUPPORTED"},
    {0x26, 0x00, "INVALID FIELD IN PARAMETER LIST"},
    {0x27, 0x00, "WRITE PROTECTED"},
    {0x27, 0x07, "SPACE ALLOCATION FAILED WRITE PROTECT"},
    {0x28, 0x00, "NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED"},
    {0x29, 0x00, "POWER ON, RESET, OR BUS DEVICE RESET OCCURRED"},
    {0x29, 0x01, "POWER ON OCCURRED"},
    {0x29, 0x02, "SCSI BUS RESET OCCURRED"},
    {0x29, 0x03, "BUS DEVICE RESET FUNCTION OCCURRED"},
    {0x29, 0x04, "DEVICE INTERNAL RESET"},
    {0x2A, 0x01, "MODE PARAMETERS CHANGED"},
    {0x2A, 0x09, "CAPACITY DATA HAS CHANGED"},
    {0x3A, 0x00, "MEDIUM NOT PRESENT"},
    {0x3E, 0x02, "TIMEOUT ON LOGICAL UNIT"},
    {0x3F, 0x0E, "REPORTED LUNS DATA HAS CHANGED"},
    {0x44, 0x00, "INTERNAL TARGET FAILURE"},
    {0x47, 0x00, "SCSI PARITY ERROR"},
    {0x4E, 0x00, "OVERLAPPED COMMANDS ATTEMPTED"},
    {0x5D, 0x00, "FAILURE PREDICTION THRESHOLD EXCEEDED"},
};

const char *ustor_scsi_asc_name(uint8_t asc, uint8_t ascq)
{
    for (size_t i = 0; i < sizeof(asc_table) / sizeof(asc_table[0]); i++)
        if (asc_table[i].asc == asc && asc_table[i].ascq == ascq)
            return asc_table[i].text;
    return NULL;
}

const char *ustor_scsi_sense_str(const struct ustor_sense *s, char *buf, size_t len)
{
    if (buf == NULL || len == 0)
        return "";
    if (s == NULL || s->response_code == 0) {
        snprintf(buf, len, "no sense data");
        return buf;
    }
    const char *asc = ustor_scsi_asc_name(s->asc, s->ascq);
    snprintf(buf, len, "%s%s: %s (%02X/%02X)", s->deferred ? "deferred " : "",
             ustor_scsi_sense_key_name(s->sense_key),
             asc ? asc : "UNKNOWN ADDITIONAL SENSE CODE", s->asc, s->ascq);
    return buf;
}

const char *ustor_srb_status_name(uint8_t srb_status)
{
    switch (SRB_STATUS(srb_status)) {
#define S(name) case name: return #name
    S(SRB_STATUS_PENDING);
    S(SRB_STATUS_SUCCESS);
    S(SRB_STATUS_ABORTED);
    S(SRB_STATUS_ABORT_FAILED);
    S(SRB_STATUS_ERROR);
    S(SRB_STATUS_BUSY);
    S(SRB_STATUS_INVALID_REQUEST);
    S(SRB_STATUS_INVALID_PATH_ID);
    S(SRB_STATUS_NO_DEVICE);
    S(SRB_STATUS_TIMEOUT);
    S(SRB_STATUS_SELECTION_TIMEOUT);
    S(SRB_STATUS_COMMAND_TIMEOUT);
    S(SRB_STATUS_MESSAGE_REJECTED);
    S(SRB_STATUS_BUS_RESET);
    S(SRB_STATUS_PARITY_ERROR);
    S(SRB_STATUS_REQUEST_SENSE_FAILED);
    S(SRB_STATUS_NO_HBA);
    S(SRB_STATUS_DATA_OVERRUN);
    S(SRB_STATUS_UNEXPECTED_BUS_FREE);
    S(SRB_STATUS_PHASE_SEQUENCE_FAILURE);
    S(SRB_STATUS_BAD_SRB_BLOCK_LENGTH);
    S(SRB_STATUS_REQUEST_FLUSHED);
    S(SRB_STATUS_INVALID_LUN);
    S(SRB_STATUS_INVALID_TARGET_ID);
    S(SRB_STATUS_BAD_FUNCTION);
    S(SRB_STATUS_ERROR_RECOVERY);
    S(SRB_STATUS_NOT_POWERED);
    S(SRB_STATUS_LINK_DOWN);
    S(SRB_STATUS_INSUFFICIENT_RESOURCES);
    S(SRB_STATUS_THROTTLED_REQUEST);
    S(SRB_STATUS_INTERNAL_ERROR);
#undef S
    default: {
        /* Unknown codes still get a stable, readable name. */
        static const char hex[] = "0123456789ABCDEF";
        static _Thread_local char unknown[] = "SRB_STATUS_0x00";
        uint8_t v = SRB_STATUS(srb_status);
        unknown[13] = hex[v >> 4];
        unknown[14] = hex[v & 0xF];
        return unknown;
    }
    }
}

const char *ustor_scsi_status_name(uint8_t scsi_status)
{
    switch (scsi_status) {
    case SCSISTAT_GOOD: return "GOOD";
    case SCSISTAT_CHECK_CONDITION: return "CHECK CONDITION";
    case SCSISTAT_CONDITION_MET: return "CONDITION MET";
    case SCSISTAT_BUSY: return "BUSY";
    case SCSISTAT_INTERMEDIATE: return "INTERMEDIATE";
    case SCSISTAT_INTERMEDIATE_COND_MET: return "INTERMEDIATE-CONDITION MET";
    case SCSISTAT_RESERVATION_CONFLICT: return "RESERVATION CONFLICT";
    case SCSISTAT_COMMAND_TERMINATED: return "COMMAND TERMINATED";
    case SCSISTAT_QUEUE_FULL: return "TASK SET FULL";
    case 0x30: return "ACA ACTIVE";
    case 0x40: return "TASK ABORTED";
    default: return "RESERVED";
    }
}

/* ---- errno mapping and retry policy --------------------------------------- */

static int sense_errno(const struct ustor_sense *s, bool is_write)
{
    switch (s->sense_key) {
    case SCSI_SENSE_NO_SENSE:
        /* CHECK CONDITION that says nothing: the command did not complete. */
        return -EIO;
    case SCSI_SENSE_RECOVERED_ERROR:
        return 0; /* the device recovered; the data are good */
    case SCSI_SENSE_NOT_READY:
        return s->asc == SCSI_ADSENSE_NO_MEDIA_IN_DEVICE ? -ENOMEDIUM : -EIO;
    case SCSI_SENSE_ILLEGAL_REQUEST:
        switch (s->asc) {
        case SCSI_ADSENSE_ILLEGAL_BLOCK:
            /* nbd semantics: writing past the end is ENOSPC, reading EINVAL. */
            return is_write ? -ENOSPC : -EINVAL;
        case SCSI_ADSENSE_ILLEGAL_COMMAND:
            return -EOPNOTSUPP;
        case SCSI_ADSENSE_INVALID_LUN:
            return -ENODEV;
        default:
            return -EINVAL;
        }
    case SCSI_SENSE_DATA_PROTECT:
        /* A thin device out of space reports it as DATA PROTECT 27/07. */
        if (s->asc == SCSI_ADSENSE_WRITE_PROTECT && s->ascq == 0x07)
            return -ENOSPC;
        return -EROFS;
    case SCSI_SENSE_VOL_OVERFLOW:
        return -ENOSPC;
    case SCSI_SENSE_MISCOMPARE:
        return -EILSEQ;
    default:
        /* MEDIUM ERROR, HARDWARE ERROR, UNIT ATTENTION, ABORTED COMMAND, ... */
        return -EIO;
    }
}

int ustor_blk_errno(uint8_t srb_status, uint8_t scsi_status,
                    const struct ustor_sense *sense, bool is_write)
{
    switch (SRB_STATUS(srb_status)) {
    case SRB_STATUS_SUCCESS:
        return 0;
    case SRB_STATUS_ERROR:
        break; /* look at the SCSI status below */
    case SRB_STATUS_BUSY:
    case SRB_STATUS_INSUFFICIENT_RESOURCES:
    case SRB_STATUS_THROTTLED_REQUEST:
        return -EBUSY;
    case SRB_STATUS_TIMEOUT:
    case SRB_STATUS_COMMAND_TIMEOUT:
        return -ETIMEDOUT;
    case SRB_STATUS_SELECTION_TIMEOUT:
    case SRB_STATUS_NO_DEVICE:
    case SRB_STATUS_INVALID_LUN:
    case SRB_STATUS_INVALID_TARGET_ID:
    case SRB_STATUS_INVALID_PATH_ID:
    case SRB_STATUS_NO_HBA:
        return -ENODEV;
    case SRB_STATUS_INVALID_REQUEST:
    case SRB_STATUS_BAD_FUNCTION:
    case SRB_STATUS_BAD_SRB_BLOCK_LENGTH:
        return -EINVAL;
    case SRB_STATUS_ABORTED:
        return -ECANCELED;
    default:
        return -EIO;
    }
    switch (scsi_status) {
    case SCSISTAT_GOOD:
    case SCSISTAT_CONDITION_MET:
        /* SRB_STATUS_ERROR yet GOOD: the miniport contradicts itself. */
        return -EIO;
    case SCSISTAT_CHECK_CONDITION:
        return sense != NULL && sense->response_code != 0 ? sense_errno(sense, is_write) : -EIO;
    case SCSISTAT_BUSY:
    case SCSISTAT_QUEUE_FULL:
        return -EBUSY;
    case SCSISTAT_RESERVATION_CONFLICT:
        return -EACCES;
    default:
        return -EIO;
    }
}

int blk_retry_delay_ms(uint8_t srb_status, uint8_t scsi_status, const struct ustor_sense *sense)
{
    switch (SRB_STATUS(srb_status)) {
    case SRB_STATUS_BUS_RESET:
    case SRB_STATUS_TIMEOUT:
    case SRB_STATUS_COMMAND_TIMEOUT:
    case SRB_STATUS_REQUEST_FLUSHED:
    case SRB_STATUS_PARITY_ERROR:
    case SRB_STATUS_UNEXPECTED_BUS_FREE:
    case SRB_STATUS_PHASE_SEQUENCE_FAILURE:
    case SRB_STATUS_MESSAGE_REJECTED:
    case SRB_STATUS_ERROR_RECOVERY:
    case SRB_STATUS_REQUEST_SENSE_FAILED:
    case SRB_STATUS_LINK_DOWN:
        return 0;
    case SRB_STATUS_BUSY:
    case SRB_STATUS_INSUFFICIENT_RESOURCES:
    case SRB_STATUS_THROTTLED_REQUEST:
        /* The port re-issues BUSY itself; seeing it here means it leaked. */
        return BLK_BUSY_DELAY_MS;
    case SRB_STATUS_ERROR:
        break;
    default:
        return -1;
    }
    switch (scsi_status) {
    case SCSISTAT_BUSY:
    case SCSISTAT_QUEUE_FULL:
        return BLK_BUSY_DELAY_MS;
    case SCSISTAT_CHECK_CONDITION:
        break;
    default:
        return -1;
    }
    if (sense == NULL || sense->response_code == 0)
        return 0; /* CHECK CONDITION with no sense to explain it: try again */
    switch (sense->sense_key) {
    case SCSI_SENSE_UNIT_ATTENTION:
    case SCSI_SENSE_ABORTED_COMMAND:
    case SCSI_SENSE_NO_SENSE:
        return 0;
    case SCSI_SENSE_NOT_READY:
        if (sense->asc == SCSI_ADSENSE_LUN_NOT_READY &&
            (sense->ascq == SCSI_SENSEQ_BECOMING_READY ||
             sense->ascq == SCSI_SENSEQ_OPERATION_IN_PROGRESS ||
             sense->ascq == 0x0A /* asymmetric access state transition */))
            return BLK_NOT_READY_DELAY_MS;
        return -1;
    default:
        return -1;
    }
}
