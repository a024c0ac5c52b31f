/*
 * block.h - ustorport's SCSI block layer: what a Windows class driver does
 * on top of Storport.  A host opens one LUN as a ustor_blk_dev and reads,
 * writes, flushes, unmaps and zeroes blocks; the layer builds the CDBs and
 * the SRBs (SCSI_REQUEST_BLOCK or STORAGE_REQUEST_BLOCK, whichever the
 * adapter uses), splits large requests, retries like a class driver and
 * turns SCSI failures into negative errno values.  See docs/block.md.
 *
 * Independent of the WDK headers: nothing here needs <srb.h>.
 */
#ifndef USTOR_BLOCK_H
#define USTOR_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ustor/ustor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ustor_blk_dev ustor_blk_dev;

/* ---- transport --------------------------------------------------------- */

/* How the layer sends an SRB.  ustor_blk_open() fills one from an adapter
 * (ustor_submit_srb); unit tests pass a fake to ustor_blk_open_transport().
 * submit has ustor_submit_srb's contract: 0 and cb runs exactly once later
 * (possibly on another thread, possibly before submit returns), or a
 * negative errno and cb never runs. */
struct ustor_blk_transport {
    int (*submit)(void *tctx, void *srb, ustor_srb_done cb, void *cbctx);
    void *tctx;
    /* Build STORAGE_REQUEST_BLOCKs (true) or SCSI_REQUEST_BLOCKs (false). */
    bool srbex;
    /* Adapter's MaximumTransferLength in bytes; 0: no adapter limit. */
    uint32_t max_transfer_bytes;
};

/* ---- building an SRB -------------------------------------------------- */

/* Room for either SRB kind with its address and a CDB of up to 32 bytes. */
#define USTOR_SRB_STORAGE_SIZE 256u

struct ustor_srb_params {
    bool srbex;              /* STORAGE_REQUEST_BLOCK (else SCSI_REQUEST_BLOCK) */
    uint8_t path, target, lun;
    const uint8_t *cdb;      /* 1..16 bytes, or up to 32 for a STORAGE_REQUEST_BLOCK */
    unsigned cdb_len;
    void *data;
    uint32_t data_len;
    uint32_t srb_flags;      /* SRB_FLAGS_DATA_IN / _DATA_OUT / _NO_DATA_TRANSFER, ... */
    void *sense;
    uint8_t sense_len;
    uint32_t timeout_s;
};

/* Builds an SRB of either kind for SRB_FUNCTION_EXECUTE_SCSI in storage
 * (at least USTOR_SRB_STORAGE_SIZE bytes, 16-byte aligned): the one SRB
 * builder of the project, used by the block layer, the tests and the
 * benchmarks.  Returns the SRB to submit (== storage), or NULL when the
 * parameters do not fit (CDB too long for the kind, storage too small). */
void *ustor_srb_init(void *storage, size_t size, const struct ustor_srb_params *p);

/* ---- opening a LUN ----------------------------------------------------- */

#define USTOR_BLK_DEFAULT_QUEUE_DEPTH 64u
#define USTOR_BLK_DEFAULT_RETRIES 4u
#define USTOR_BLK_NO_RETRIES 0xFFFFFFFFu /* max_retries value meaning "none" */
#define USTOR_BLK_DEFAULT_TIMEOUT_S 30u
#define USTOR_BLK_DEFAULT_CLOSE_WAIT_MS 10000u

/* All fields may be left 0 (or pass NULL) for the defaults. */
struct ustor_blk_options {
    /* Request contexts (and so SRBs) this device can have in flight;
     * 0: USTOR_BLK_DEFAULT_QUEUE_DEPTH.  One context per API call, however
     * many commands a split request needs. */
    unsigned queue_depth;
    /* Retries per command for retryable failures (see docs/block.md);
     * 0: USTOR_BLK_DEFAULT_RETRIES, USTOR_BLK_NO_RETRIES: none. */
    unsigned max_retries;
    /* SRB TimeOutValue in seconds for I/O; 0: USTOR_BLK_DEFAULT_TIMEOUT_S. */
    unsigned timeout_s;
    /* Cap on one command's transfer in bytes (below the adapter's and the
     * device's limits); 0: no extra cap. */
    uint32_t max_transfer_bytes;
    /* When all contexts are in use: false -> the async call returns -EBUSY
     * at once; true -> it blocks until one is free (never do that from a
     * completion callback).  The _sync calls always wait. */
    bool wait_for_slot;
    /* Issue no command at open (fuzzers, broken devices): info holds only
     * block_size (probe_block_size or 512) and num_blocks 0 = unknown, which
     * turns range checks off. */
    bool no_probe;
    uint32_t probe_block_size;
    /* How long ustor_blk_close() waits for outstanding requests;
     * 0: USTOR_BLK_DEFAULT_CLOSE_WAIT_MS. */
    unsigned close_wait_ms;
};

/* What ustor_blk_open() learned.  Limits are in logical blocks; 0 means
 * "the device reported no limit". */
struct ustor_blk_info {
    uint64_t num_blocks;          /* READ CAPACITY: last LBA + 1 */
    uint32_t block_size;          /* logical block length in bytes */
    uint32_t physical_block_size; /* from LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT */
    uint8_t peripheral_type;      /* INQUIRY byte 0 bits 4:0 (0 = disk) */
    uint8_t scsi_version;         /* INQUIRY byte 2 */
    bool removable;               /* INQUIRY RMB */
    char vendor[9], product[17], revision[5]; /* trailing blanks removed */
    char serial[65];              /* VPD 0x80, "" if none */
    bool has_vpd_b0, has_vpd_b2;  /* the device listed them in VPD 0x00 */
    /* Logical block provisioning (READ CAPACITY 16 + VPD 0xB2). */
    bool thin_provisioned;        /* LBPME */
    bool can_unmap;               /* UNMAP command (LBPU) */
    bool can_write_same_unmap;    /* WRITE SAME 16 with UNMAP (LBPWS) */
    bool unmapped_reads_zero;     /* LBPRZ */
    /* MODE SENSE caching page / header. */
    bool write_protected;         /* WP bit */
    bool has_write_cache;         /* WCE bit */
    bool supports_fua;            /* DPOFUA bit */
    /* Block limits (VPD 0xB0), clipped by the adapter and options for
     * max_transfer_blocks, which is never 0 after open. */
    uint32_t max_transfer_blocks;
    uint32_t optimal_transfer_blocks;
    uint32_t max_unmap_blocks;
    uint32_t max_unmap_descriptors;
    uint32_t unmap_granularity;
    uint32_t unmap_granularity_alignment;
    uint64_t max_write_same_blocks;
    bool srbex;                   /* which SRB kind the device uses */
    uint8_t path, target, lun;
};

/* Opens LUN path/target/lun of an adapter: TEST UNIT READY (retrying unit
 * attention and "becoming ready"), INQUIRY, VPD 0x00 then 0x80/0xB0/0xB2
 * when listed, READ CAPACITY 10 then 16 when the capacity does not fit or
 * the device claims SPC-3 or later, MODE SENSE 10 (6 as fallback) for the
 * caching page.  Returns 0, or a negative errno with a sentence in err. */
int ustor_blk_open(ustor_adapter *ad, uint8_t path, uint8_t target, uint8_t lun,
                   const struct ustor_blk_options *opts, ustor_blk_dev **out,
                   char *err, size_t errlen);
/* Same over any transport (copied; tctx must outlive the device). */
int ustor_blk_open_transport(const struct ustor_blk_transport *t, uint8_t path,
                             uint8_t target, uint8_t lun,
                             const struct ustor_blk_options *opts,
                             ustor_blk_dev **out, char *err, size_t errlen);
/* Refuses new requests (-ENODEV), waits (up to close_wait_ms) for
 * outstanding requests and their callbacks, then frees.  Returns 0, or
 * -ETIMEDOUT when requests were still outstanding: the device then stays
 * allocated, because the port still owns its SRBs, and calling
 * ustor_blk_close again later finishes the job.  Never call it from a
 * completion callback.  Close every device before destroying its adapter.
 * NULL is a no-op. */
int ustor_blk_close(ustor_blk_dev *dev);
const struct ustor_blk_info *ustor_blk_get_info(const ustor_blk_dev *dev);
/* Requests accepted and not yet completed. */
unsigned ustor_blk_inflight(const ustor_blk_dev *dev);

/* ---- results ------------------------------------------------------------ */

#define USTOR_BLK_SENSE_MAX 64u

struct ustor_blk_result {
    int error;             /* 0 or negative errno, table in docs/block.md */
    uint8_t srb_status;    /* of the last command, flag bits masked off */
    uint8_t scsi_status;   /* SCSI status byte of the last command */
    uint8_t sense_key, asc, ascq; /* decoded from sense, 0 if none */
    uint32_t transferred;  /* bytes moved, over all pieces */
    unsigned retries;      /* retries spent, over all pieces */
    uint8_t sense_len;     /* valid bytes in sense[] */
    uint8_t sense[USTOR_BLK_SENSE_MAX];
};

/* Runs exactly once per accepted request, on any thread; r is valid only
 * during the call.  It may submit new requests. */
typedef void (*ustor_blk_cb)(void *ctx, const struct ustor_blk_result *r);

/* ---- asynchronous block I/O --------------------------------------------- */

/* flags */
#define USTOR_BLK_FUA 0x1u        /* write/zero: durable when completed (reads: FUA bit if DPOFUA) */
#define USTOR_BLK_MAY_UNMAP 0x2u  /* write_zeroes: may deallocate */

/* All return 0 when accepted (cb will run once), or without calling cb:
 * -EINVAL (bad argument: nblocks 0, NULL buffer, unknown flag),
 * -EINVAL reads / -ENOSPC writes past the end of the device,
 * -EROFS (write to a write-protected device), -EOPNOTSUPP (unmap on a
 * device without it), -EBUSY (no free context and !wait_for_slot),
 * -ENODEV (device closing).  Requests above max_transfer_blocks are split
 * into commands issued one after another; cb runs after the last one or
 * the first that fails.  Buffers must hold nblocks * block_size bytes. */
int ustor_blk_read(ustor_blk_dev *dev, uint64_t lba, uint32_t nblocks, void *buf,
                   unsigned flags, ustor_blk_cb cb, void *ctx);
int ustor_blk_write(ustor_blk_dev *dev, uint64_t lba, uint32_t nblocks, const void *buf,
                    unsigned flags, ustor_blk_cb cb, void *ctx);
/* SYNCHRONIZE CACHE (10) of the whole device. */
int ustor_blk_flush(ustor_blk_dev *dev, ustor_blk_cb cb, void *ctx);
/* UNMAP, split by max_unmap_blocks. */
int ustor_blk_unmap(ustor_blk_dev *dev, uint64_t lba, uint64_t nblocks,
                    ustor_blk_cb cb, void *ctx);
/* Zeroes blocks: WRITE SAME (16) with UNMAP when MAY_UNMAP and the device
 * can and reads unmapped blocks as zero, else WRITE SAME (16) of a zero
 * block, else (device rejects WRITE SAME) plain WRITEs of zeroes.  FUA is
 * honoured with a SYNCHRONIZE CACHE afterwards when the device has a
 * write cache. */
int ustor_blk_write_zeroes(ustor_blk_dev *dev, uint64_t lba, uint64_t nblocks,
                           unsigned flags, ustor_blk_cb cb, void *ctx);

enum ustor_blk_dir {
    USTOR_BLK_DIR_NONE = 0,
    USTOR_BLK_DIR_IN,     /* device to host */
    USTOR_BLK_DIR_OUT,    /* host to device */
};

/* Passthrough of any CDB (1..16 bytes, up to 32 with STORAGE_REQUEST_BLOCK),
 * no retries, no splitting; timeout_s 0 means the default.  r->error is 0
 * for success, RECOVERED ERROR, and an underrun (SRB_STATUS_DATA_OVERRUN):
 * r->transferred is the real length. */
int ustor_blk_scsi(ustor_blk_dev *dev, const uint8_t *cdb, unsigned cdb_len,
                   enum ustor_blk_dir dir, void *buf, uint32_t len, unsigned timeout_s,
                   ustor_blk_cb cb, void *ctx);

/* ---- synchronous wrappers ------------------------------------------------ */

/* Block until done; return r.error (or the submission error).  result may
 * be NULL.  They wait for a free context rather than returning -EBUSY, so
 * never call them from a completion callback. */
int ustor_blk_read_sync(ustor_blk_dev *dev, uint64_t lba, uint32_t nblocks, void *buf,
                        unsigned flags, struct ustor_blk_result *result);
int ustor_blk_write_sync(ustor_blk_dev *dev, uint64_t lba, uint32_t nblocks,
                         const void *buf, unsigned flags, struct ustor_blk_result *result);
int ustor_blk_flush_sync(ustor_blk_dev *dev, struct ustor_blk_result *result);
int ustor_blk_unmap_sync(ustor_blk_dev *dev, uint64_t lba, uint64_t nblocks,
                         struct ustor_blk_result *result);
int ustor_blk_write_zeroes_sync(ustor_blk_dev *dev, uint64_t lba, uint64_t nblocks,
                                unsigned flags, struct ustor_blk_result *result);
int ustor_blk_scsi_sync(ustor_blk_dev *dev, const uint8_t *cdb, unsigned cdb_len,
                        enum ustor_blk_dir dir, void *buf, uint32_t len,
                        unsigned timeout_s, struct ustor_blk_result *result);

/* Ready-made synchronous commands (passthrough semantics: no retries).
 * Data land in buf (len bytes at most); result may be NULL. */
int ustor_blk_test_unit_ready(ustor_blk_dev *dev, struct ustor_blk_result *result);
int ustor_blk_inquiry(ustor_blk_dev *dev, bool evpd, uint8_t page, void *buf,
                      uint16_t len, struct ustor_blk_result *result);
int ustor_blk_mode_sense10(ustor_blk_dev *dev, bool dbd, uint8_t page_control,
                           uint8_t page, uint8_t subpage, void *buf, uint16_t len,
                           struct ustor_blk_result *result);
int ustor_blk_report_luns(ustor_blk_dev *dev, uint8_t select_report, void *buf,
                          uint32_t len, struct ustor_blk_result *result);
int ustor_blk_request_sense(ustor_blk_dev *dev, bool descriptor_format, void *buf,
                            uint8_t len, struct ustor_blk_result *result);
int ustor_blk_read_capacity16(ustor_blk_dev *dev, void *buf, uint32_t len,
                              struct ustor_blk_result *result);

/* ---- CDB builders -------------------------------------------------------- */

/* Pure functions: fill cdb (which must hold the command's length, all bytes
 * written) and return that length.  Big-endian fields per SBC-3/SPC-4. */
#define USTOR_CDB_MAX 32u

unsigned ustor_cdb_test_unit_ready(uint8_t cdb[6]);
unsigned ustor_cdb_request_sense(uint8_t cdb[6], bool descriptor_format, uint8_t alloc_len);
unsigned ustor_cdb_inquiry(uint8_t cdb[6], bool evpd, uint8_t page, uint16_t alloc_len);
unsigned ustor_cdb_mode_sense6(uint8_t cdb[6], bool dbd, uint8_t page_control,
                               uint8_t page, uint8_t subpage, uint8_t alloc_len);
unsigned ustor_cdb_mode_sense10(uint8_t cdb[10], bool dbd, uint8_t page_control,
                                uint8_t page, uint8_t subpage, uint16_t alloc_len);
unsigned ustor_cdb_read_capacity10(uint8_t cdb[10]);
/* SERVICE ACTION IN (16) / READ CAPACITY (16). */
unsigned ustor_cdb_read_capacity16(uint8_t cdb[16], uint32_t alloc_len);
unsigned ustor_cdb_report_luns(uint8_t cdb[12], uint8_t select_report, uint32_t alloc_len);
unsigned ustor_cdb_read10(uint8_t cdb[10], uint32_t lba, uint16_t nblocks, bool fua);
unsigned ustor_cdb_write10(uint8_t cdb[10], uint32_t lba, uint16_t nblocks, bool fua);
unsigned ustor_cdb_read16(uint8_t cdb[16], uint64_t lba, uint32_t nblocks, bool fua);
unsigned ustor_cdb_write16(uint8_t cdb[16], uint64_t lba, uint32_t nblocks, bool fua);
/* lba 0 and nblocks 0: the whole medium. */
unsigned ustor_cdb_sync_cache10(uint8_t cdb[10], uint32_t lba, uint16_t nblocks);
unsigned ustor_cdb_sync_cache16(uint8_t cdb[16], uint64_t lba, uint32_t nblocks);
unsigned ustor_cdb_unmap(uint8_t cdb[10], uint16_t param_len);
unsigned ustor_cdb_write_same16(uint8_t cdb[16], uint64_t lba, uint32_t nblocks, bool unmap);

struct ustor_unmap_range {
    uint64_t lba;
    uint32_t nblocks;
};
/* UNMAP parameter list (8-byte header + 16 bytes per range).  Returns its
 * length, or -EINVAL if n is 0 or it does not fit in buflen or 65535. */
int ustor_unmap_param_build(void *buf, size_t buflen,
                            const struct ustor_unmap_range *ranges, unsigned n);

/* ---- sense data and status names ------------------------------------------ */

struct ustor_sense {
    uint8_t response_code;  /* 0x70/0x71 fixed, 0x72/0x73 descriptor */
    bool descriptor_format;
    bool deferred;          /* 0x71/0x73 */
    uint8_t sense_key, asc, ascq;
    bool information_valid;
    uint64_t information;   /* fixed: bytes 3-6 (VALID bit); descriptor: type 0 */
    bool sksv;              /* sense-key specific bytes valid */
    uint8_t sense_key_specific[3];
    bool filemark, eom, ili;
};
/* Decodes fixed or descriptor sense.  Returns 0, or -EINVAL when len is too
 * short to hold a sense key (fixed: 3 bytes, descriptor: 2) or the
 * response code is not 0x70-0x73; fields beyond len are left 0. */
int ustor_scsi_sense_decode(const void *sense, size_t len, struct ustor_sense *out);
/* "ILLEGAL REQUEST: LOGICAL BLOCK ADDRESS OUT OF RANGE (21/00)"; returns buf. */
const char *ustor_scsi_sense_str(const struct ustor_sense *s, char *buf, size_t len);
/* "ILLEGAL REQUEST", ...; "RESERVED" above 0xF. */
const char *ustor_scsi_sense_key_name(uint8_t key);
/* Description of an ASC/ASCQ pair, or NULL when not in the table. */
const char *ustor_scsi_asc_name(uint8_t asc, uint8_t ascq);
/* "SRB_STATUS_SUCCESS", ...; flag bits are masked off; "SRB_STATUS_0x.." if unknown. */
const char *ustor_srb_status_name(uint8_t srb_status);
/* "GOOD", "CHECK CONDITION", ... */
const char *ustor_scsi_status_name(uint8_t scsi_status);

/* The errno table of docs/block.md.  srb_status as completed (flag bits
 * may be set), sense NULL when there is none, is_write selects -ENOSPC
 * over -EINVAL for LBA-out-of-range.  Returns 0 for success. */
int ustor_blk_errno(uint8_t srb_status, uint8_t scsi_status,
                    const struct ustor_sense *sense, bool is_write);

#ifdef __cplusplus
}
#endif

#endif /* USTOR_BLOCK_H */
