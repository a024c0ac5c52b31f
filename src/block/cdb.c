/*
 * cdb.c - CDB builders (SBC-3, SPC-4).  Pure functions: every byte of the
 * command is written, so callers need not clear the buffer first.
 */
#include <errno.h>
#include <string.h>

#include <scsi.h>

#include "ustor/block.h"
#include "blk_internal.h"

/* Bit positions shared by several commands. */
#define CDB_FUA_BIT 0x08         /* byte 1 of READ/WRITE 10/16 */
#define CDB_UNMAP_BIT 0x08       /* byte 1 of WRITE SAME 16 */
#define CDB_DBD_BIT 0x08         /* byte 1 of MODE SENSE 6/10 */
#define CDB_EVPD_BIT 0x01        /* byte 1 of INQUIRY */
#define CDB_DESC_BIT 0x01        /* byte 1 of REQUEST SENSE */

unsigned ustor_cdb_test_unit_ready(uint8_t cdb[6])
{
    memset(cdb, 0, 6);
    cdb[0] = SCSIOP_TEST_UNIT_READY;
    return 6;
}

unsigned ustor_cdb_request_sense(uint8_t cdb[6], bool descriptor_format, uint8_t alloc_len)
{
    memset(cdb, 0, 6);
    cdb[0] = SCSIOP_REQUEST_SENSE;
    cdb[1] = descriptor_format ? CDB_DESC_BIT : 0;
    cdb[4] = alloc_len;
    return 6;
}

unsigned ustor_cdb_inquiry(uint8_t cdb[6], bool evpd, uint8_t page, uint16_t alloc_len)
{
    memset(cdb, 0, 6);
    cdb[0] = SCSIOP_INQUIRY;
    /* SPC-4: PAGE CODE must be 0 when EVPD is 0, or the device rejects it. */
    cdb[1] = evpd ? CDB_EVPD_BIT : 0;
    cdb[2] = evpd ? page : 0;
    blk_put_be16(&cdb[3], alloc_len);
    return 6;
}

unsigned ustor_cdb_mode_sense6(uint8_t cdb[6], bool dbd, uint8_t page_control,
                               uint8_t page, uint8_t subpage, uint8_t alloc_len)
{
    memset(cdb, 0, 6);
    cdb[0] = SCSIOP_MODE_SENSE;
    cdb[1] = dbd ? CDB_DBD_BIT : 0;
    cdb[2] = (uint8_t)(((page_control & 0x3) << 6) | (page & 0x3F));
    cdb[3] = subpage;
    cdb[4] = alloc_len;
    return 6;
}

unsigned ustor_cdb_mode_sense10(uint8_t cdb[10], bool dbd, uint8_t page_control,
                                uint8_t page, uint8_t subpage, uint16_t alloc_len)
{
    memset(cdb, 0, 10);
    cdb[0] = SCSIOP_MODE_SENSE10;
    cdb[1] = dbd ? CDB_DBD_BIT : 0;
    cdb[2] = (uint8_t)(((page_control & 0x3) << 6) | (page & 0x3F));
    cdb[3] = subpage;
    blk_put_be16(&cdb[7], alloc_len);
    return 10;
}

unsigned ustor_cdb_read_capacity10(uint8_t cdb[10])
{
    memset(cdb, 0, 10);
    cdb[0] = SCSIOP_READ_CAPACITY;
    return 10;
}

unsigned ustor_cdb_read_capacity16(uint8_t cdb[16], uint32_t alloc_len)
{
    memset(cdb, 0, 16);
    cdb[0] = SCSIOP_SERVICE_ACTION_IN16;
    cdb[1] = SERVICE_ACTION_READ_CAPACITY16;
    blk_put_be32(&cdb[10], alloc_len);
    return 16;
}

unsigned ustor_cdb_report_luns(uint8_t cdb[12], uint8_t select_report, uint32_t alloc_len)
{
    memset(cdb, 0, 12);
    cdb[0] = SCSIOP_REPORT_LUNS;
    cdb[2] = select_report;
    blk_put_be32(&cdb[6], alloc_len);
    return 12;
}

static unsigned rw10(uint8_t cdb[10], uint8_t op, uint32_t lba, uint16_t nblocks, bool fua)
{
    memset(cdb, 0, 10);
    cdb[0] = op;
    cdb[1] = fua ? CDB_FUA_BIT : 0;
    blk_put_be32(&cdb[2], lba);
    blk_put_be16(&cdb[7], nblocks);
    return 10;
}

static unsigned lba16(uint8_t cdb[16], uint8_t op, uint8_t byte1, uint64_t lba, uint32_t nblocks)
{
    memset(cdb, 0, 16);
    cdb[0] = op;
    cdb[1] = byte1;
    blk_put_be64(&cdb[2], lba);
    blk_put_be32(&cdb[10], nblocks);
    return 16;
}

unsigned ustor_cdb_read10(uint8_t cdb[10], uint32_t lba, uint16_t nblocks, bool fua)
{
    return rw10(cdb, SCSIOP_READ, lba, nblocks, fua);
}

unsigned ustor_cdb_write10(uint8_t cdb[10], uint32_t lba, uint16_t nblocks, bool fua)
{
    return rw10(cdb, SCSIOP_WRITE, lba, nblocks, fua);
}

unsigned ustor_cdb_read16(uint8_t cdb[16], uint64_t lba, uint32_t nblocks, bool fua)
{
    return lba16(cdb, SCSIOP_READ16, fua ? CDB_FUA_BIT : 0, lba, nblocks);
}

unsigned ustor_cdb_write16(uint8_t cdb[16], uint64_t lba, uint32_t nblocks, bool fua)
{
    return lba16(cdb, SCSIOP_WRITE16, fua ? CDB_FUA_BIT : 0, lba, nblocks);
}

unsigned ustor_cdb_sync_cache10(uint8_t cdb[10], uint32_t lba, uint16_t nblocks)
{
    return rw10(cdb, SCSIOP_SYNCHRONIZE_CACHE, lba, nblocks, false);
}

unsigned ustor_cdb_sync_cache16(uint8_t cdb[16], uint64_t lba, uint32_t nblocks)
{
    return lba16(cdb, SCSIOP_SYNCHRONIZE_CACHE16, 0, lba, nblocks);
}

unsigned ustor_cdb_unmap(uint8_t cdb[10], uint16_t param_len)
{
    memset(cdb, 0, 10);
    cdb[0] = SCSIOP_UNMAP;
    blk_put_be16(&cdb[7], param_len);
    return 10;
}

unsigned ustor_cdb_write_same16(uint8_t cdb[16], uint64_t lba, uint32_t nblocks, bool unmap)
{
    return lba16(cdb, SCSIOP_WRITE_SAME16, unmap ? CDB_UNMAP_BIT : 0, lba, nblocks);
}

#define UNMAP_HEADER_LEN 8u
#define UNMAP_DESCRIPTOR_LEN 16u

int ustor_unmap_param_build(void *buf, size_t buflen,
                            const struct ustor_unmap_range *ranges, unsigned n)
{
    if (buf == NULL || ranges == NULL || n == 0)
        return -EINVAL;
    size_t total = UNMAP_HEADER_LEN + (size_t)n * UNMAP_DESCRIPTOR_LEN;
    /* The CDB's PARAMETER LIST LENGTH is 16 bits. */
    if (total > buflen || total > 0xFFFF)
        return -EINVAL;
    uint8_t *p = buf;
    memset(p, 0, total);
    blk_put_be16(&p[0], (uint16_t)(total - 2));             /* UNMAP DATA LENGTH */
    blk_put_be16(&p[2], (uint16_t)(n * UNMAP_DESCRIPTOR_LEN)); /* BLOCK DESCRIPTOR DATA LENGTH */
    for (unsigned i = 0; i < n; i++) {
        uint8_t *d = p + UNMAP_HEADER_LEN + (size_t)i * UNMAP_DESCRIPTOR_LEN;
        blk_put_be64(&d[0], ranges[i].lba);
        blk_put_be32(&d[8], ranges[i].nblocks);
    }
    return (int)total;
}
