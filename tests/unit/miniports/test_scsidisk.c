/* test_scsidisk.c - unit tests of miniports/ramdisk/scsidisk.c: CDB decoding,
 * range checks, sense data and the INQUIRY / VPD / READ CAPACITY / MODE
 * SENSE / REPORT LUNS / UNMAP builders, byte by byte against SPC-4/SBC-3. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <scsi.h>

#include "ramdisk/scsidisk.h"

#define ILLEGAL_REQUEST 0x05
#define DATA_PROTECT 0x07
#define ASC_PARAMETER_LIST_LENGTH 0x1A
#define ASC_INVALID_OPCODE 0x20
#define ASC_LBA_OUT_OF_RANGE 0x21
#define ASC_INVALID_FIELD_IN_CDB 0x24
#define ASC_INVALID_FIELD_IN_PARAMETER_LIST 0x26
#define ASC_WRITE_PROTECTED 0x27
#define ASC_SAVING_NOT_SUPPORTED 0x39

static SCSIDISK_GEOMETRY make_geometry(ULONGLONG blocks, ULONG block_size)
{
    SCSIDISK_GEOMETRY g;

    memset(&g, 0, sizeof(g));
    g.BlockCount = blocks;
    g.BlockSize = block_size;
    g.MaxTransferBlocks = 256;
    g.MaxUnmapBlocks = 1000;
    g.MaxUnmapDescriptors = 4;
    g.MaxWriteSameBlocks = 512;
    return g;
}

static SCSIDISK_IDENTITY make_identity(void)
{
    SCSIDISK_IDENTITY id;

    id.VendorId = "USTOR";
    id.ProductId = "RAMDISK";
    id.ProductRevision = "0001";
    id.SerialNumber = "SERIAL42";
    id.NaaVendorSpecific = 0x123456789ull;
    return id;
}

static void assert_sense(const SCSIDISK_SENSE *s, UCHAR key, UCHAR asc, UCHAR ascq)
{
    assert_int_equal(s->SenseKey, key);
    assert_int_equal(s->AdditionalSenseCode, asc);
    assert_int_equal(s->AdditionalSenseCodeQualifier, ascq);
}

static void put_be64(UCHAR *p, ULONGLONG v) { ScsiDiskPutBe64(p, v); }
static void put_be32(UCHAR *p, ULONG v) { ScsiDiskPutBe32(p, v); }
static void put_be16(UCHAR *p, ULONG v) { ScsiDiskPutBe16(p, v); }

/* ---- block command decoding ------------------------------------------ */

static void test_decode_read10(void **state)
{
    SCSIDISK_GEOMETRY g = make_geometry(100000, 512);
    UCHAR cdb[10] = {SCSIOP_READ};
    SCSIDISK_BLOCK_COMMAND c;
    SCSIDISK_SENSE s;
    (void)state;

    put_be32(&cdb[2], 0x00012345);
    put_be16(&cdb[7], 17);
    cdb[1] = 0x08; /* FUA */
    assert_true(ScsiDiskDecodeBlockCommand(cdb, sizeof(cdb), &g, &c, &s));
    assert_int_equal(c.Kind, ScsiDiskRead);
    assert_int_equal(c.Lba, 0x12345);
    assert_int_equal(c.Blocks, 17);
    assert_true(c.ForceUnitAccess);
    assert_int_equal(ScsiDiskBlockCommandDataLength(&c, &g), 17 * 512);

    cdb[1] = 0;
    assert_true(ScsiDiskDecodeBlockCommand(cdb, sizeof(cdb), &g, &c, &s));
    assert_false(c.ForceUnitAccess);
}

static void test_decode_write16(void **state)
{
    SCSIDISK_GEOMETRY g = make_geometry(0x200000000ull, 4096); /* 2^33 blocks */
    UCHAR cdb[16] = {SCSIOP_WRITE16};
    SCSIDISK_BLOCK_COMMAND c;
    SCSIDISK_SENSE s;
    (void)state;

    put_be64(&cdb[2], 0x1FFFFFF00ull);
    put_be32(&cdb[10], 0x80);
    cdb[1] = 0x08;
    assert_true(ScsiDiskDecodeBlockCommand(cdb, sizeof(cdb), &g, &c, &s));
    assert_int_equal(c.Kind, ScsiDiskWrite);
    assert_true(c.Lba == 0x1FFFFFF00ull);
    assert_int_equal(c.Blocks, 0x80);
    assert_true(c.ForceUnitAccess);
    assert_int_equal(ScsiDiskBlockCommandDataLength(&c, &g), 0x80 * 4096);
    assert_true(ScsiDiskOpcodeWrites(cdb[0]));
    assert_false(ScsiDiskOpcodeWrites(SCSIOP_READ16));
}

static void test_decode_read6_zero_means_256(void **state)
{
    SCSIDISK_GEOMETRY g = make_geometry(100000, 512);
    UCHAR cdb[6] = {SCSIOP_READ6, 0x01, 0x02, 0x03, 0x00, 0};
    SCSIDISK_BLOCK_COMMAND c;
    SCSIDISK_SENSE s;
    (void)state;

    assert_true(ScsiDiskDecodeBlockCommand(cdb, sizeof(cdb), &g, &c, &s));
    assert_int_equal(c.Lba, 0x010203);
    assert_int_equal(c.Blocks, 256);
}

static void test_decode_out_of_range(void **state)
{
    SCSIDISK_GEOMETRY g = make_geometry(1000, 512);
    UCHAR cdb10[10] = {SCSIOP_READ};
    UCHAR cdb16[16] = {SCSIOP_WRITE16};
    SCSIDISK_BLOCK_COMMAND c;
    SCSIDISK_SENSE s;
    (void)state;

    /* Last block is fine, one past it is not. */
    put_be32(&cdb10[2], 999);
    put_be16(&cdb10[7], 1);
    assert_true(ScsiDiskDecodeBlockCommand(cdb10, sizeof(cdb10), &g, &c, &s));
    put_be16(&cdb10[7], 2);
    assert_false(ScsiDiskDecodeBlockCommand(cdb10, sizeof(cdb10), &g, &c, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);

    /* LBA + length wrapping around 2^64 must not pass. */
    put_be64(&cdb16[2], ~0ull - 1);
    put_be32(&cdb16[10], 4);
    assert_false(ScsiDiskDecodeBlockCommand(cdb16, sizeof(cdb16), &g, &c, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);

    assert_false(ScsiDiskCheckRange(&g, 1001, 0, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
    assert_true(ScsiDiskCheckRange(&g, 0, 1000, &s));
}

static void test_decode_bad_fields(void **state)
{
    SCSIDISK_GEOMETRY g = make_geometry(100000, 512);
    UCHAR cdb[10] = {SCSIOP_READ};
    UCHAR verify[10] = {SCSIOP_VERIFY};
    UCHAR unknown[10] = {0xC5};
    SCSIDISK_BLOCK_COMMAND c;
    SCSIDISK_SENSE s;
    (void)state;

    put_be16(&cdb[7], 257); /* MaxTransferBlocks is 256 */
    assert_false(ScsiDiskDecodeBlockCommand(cdb, sizeof(cdb), &g, &c, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 0);

    put_be16(&cdb[7], 1);
    cdb[1] = 0x20; /* RDPROTECT = 1: no protection information here */
    assert_false(ScsiDiskDecodeBlockCommand(cdb, sizeof(cdb), &g, &c, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 0);

    verify[1] = 0x02; /* BYTCHK */
    put_be16(&verify[7], 1);
    assert_false(ScsiDiskDecodeBlockCommand(verify, sizeof(verify), &g, &c, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 0);
    verify[1] = 0;
    assert_true(ScsiDiskDecodeBlockCommand(verify, sizeof(verify), &g, &c, &s));
    assert_int_equal(c.Kind, ScsiDiskVerify);
    assert_int_equal(ScsiDiskBlockCommandDataLength(&c, &g), 0);

    /* A CDB shorter than its opcode's group needs. */
    assert_false(ScsiDiskDecodeBlockCommand(cdb, 6, &g, &c, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 0);

    assert_false(ScsiDiskIsBlockCommand(unknown[0]));
    assert_false(ScsiDiskDecodeBlockCommand(unknown, sizeof(unknown), &g, &c, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0);
}

static void test_decode_write_same_and_sync(void **state)
{
    SCSIDISK_GEOMETRY g = make_geometry(100000, 512);
    UCHAR ws[16] = {SCSIOP_WRITE_SAME16};
    UCHAR sync[10] = {SCSIOP_SYNCHRONIZE_CACHE};
    SCSIDISK_BLOCK_COMMAND c;
    SCSIDISK_SENSE s;
    (void)state;

    put_be64(&ws[2], 100);
    put_be32(&ws[10], 0); /* WSNZ: zero blocks refused */
    assert_false(ScsiDiskDecodeBlockCommand(ws, sizeof(ws), &g, &c, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 0);
    put_be32(&ws[10], 513); /* above MaxWriteSameBlocks */
    assert_false(ScsiDiskDecodeBlockCommand(ws, sizeof(ws), &g, &c, &s));
    put_be32(&ws[10], 512);
    ws[1] = 0x08; /* UNMAP */
    assert_true(ScsiDiskDecodeBlockCommand(ws, sizeof(ws), &g, &c, &s));
    assert_int_equal(c.Kind, ScsiDiskWriteSame);
    assert_true(c.Unmap);
    assert_false(c.NoDataOutBuffer);
    assert_int_equal(ScsiDiskBlockCommandDataLength(&c, &g), 512); /* one block of data */
    ws[1] = 0x09; /* UNMAP + NDOB */
    assert_true(ScsiDiskDecodeBlockCommand(ws, sizeof(ws), &g, &c, &s));
    assert_true(c.NoDataOutBuffer);
    assert_int_equal(ScsiDiskBlockCommandDataLength(&c, &g), 0);

    put_be32(&sync[2], 50);
    assert_true(ScsiDiskDecodeBlockCommand(sync, sizeof(sync), &g, &c, &s));
    assert_int_equal(c.Kind, ScsiDiskSyncCache);
    assert_true(c.ToEndOfMedium);
    put_be32(&sync[2], 100000); /* one past the end */
    assert_false(ScsiDiskDecodeBlockCommand(sync, sizeof(sync), &g, &c, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
}

static void test_write_protect_sense(void **state)
{
    SCSIDISK_GEOMETRY g = make_geometry(100, 512);
    SCSIDISK_SENSE s;
    (void)state;

    assert_true(ScsiDiskCheckWritable(&g, &s));
    g.WriteProtected = TRUE;
    assert_false(ScsiDiskCheckWritable(&g, &s));
    assert_sense(&s, DATA_PROTECT, ASC_WRITE_PROTECTED, 0);
}

/* ---- sense data ------------------------------------------------------ */

static void test_fixed_sense_data(void **state)
{
    SCSIDISK_SENSE s;
    UCHAR buf[32];
    (void)state;

    ScsiDiskSetSense(&s, ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0x07);
    memset(buf, 0xEE, sizeof(buf));
    assert_int_equal(ScsiDiskBuildSenseData(buf, sizeof(buf), &s), SCSIDISK_FIXED_SENSE_LENGTH);
    assert_int_equal(buf[0], 0x70);
    assert_int_equal(buf[2], ILLEGAL_REQUEST);
    assert_int_equal(buf[7], SCSIDISK_FIXED_SENSE_LENGTH - 8);
    assert_int_equal(buf[12], ASC_LBA_OUT_OF_RANGE);
    assert_int_equal(buf[13], 0x07);
    assert_int_equal(buf[SCSIDISK_FIXED_SENSE_LENGTH], 0xEE); /* nothing past the end */

    memset(buf, 0xEE, sizeof(buf));
    assert_int_equal(ScsiDiskBuildSenseData(buf, 8, &s), 8);
    assert_int_equal(buf[8], 0xEE);
}

/* ---- INQUIRY ----------------------------------------------------------- */

static void inquiry_cdb(UCHAR *cdb, BOOLEAN evpd, UCHAR page, ULONG allocation)
{
    memset(cdb, 0, 6);
    cdb[0] = SCSIOP_INQUIRY;
    cdb[1] = evpd ? 1 : 0;
    cdb[2] = page;
    put_be16(&cdb[3], allocation);
}

static void test_inquiry_standard(void **state)
{
    SCSIDISK_GEOMETRY g = make_geometry(1000, 512);
    SCSIDISK_IDENTITY id = make_identity();
    UCHAR cdb[6], buf[255];
    ULONG n;
    SCSIDISK_SENSE s;
    (void)state;

    inquiry_cdb(cdb, FALSE, 0, sizeof(buf));
    assert_true(ScsiDiskInquiry(cdb, 6, &g, &id, buf, sizeof(buf), &n, &s));
    assert_int_equal(n, 36);
    assert_int_equal(buf[0], DIRECT_ACCESS_DEVICE);
    assert_int_equal(buf[2], 0x06);         /* SPC-4 */
    assert_int_equal(buf[3] & 0x0F, 2);     /* response data format */
    assert_int_equal(buf[4], n - 5);        /* additional length */
    assert_memory_equal(&buf[8], "USTOR   ", 8);
    assert_memory_equal(&buf[16], "RAMDISK         ", 16);
    assert_memory_equal(&buf[32], "0001", 4);

    /* Allocation length truncates; so does a small buffer. */
    inquiry_cdb(cdb, FALSE, 0, 5);
    assert_true(ScsiDiskInquiry(cdb, 6, &g, &id, buf, sizeof(buf), &n, &s));
    assert_int_equal(n, 5);
    inquiry_cdb(cdb, FALSE, 0, 200);
    assert_true(ScsiDiskInquiry(cdb, 6, &g, &id, buf, 10, &n, &s));
    assert_int_equal(n, 10);

    /* Page code without EVPD, CMDDT: INVALID FIELD IN CDB. */
    inquiry_cdb(cdb, FALSE, 0x80, 255);
    assert_false(ScsiDiskInquiry(cdb, 6, &g, &id, buf, sizeof(buf), &n, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 0);
    inquiry_cdb(cdb, FALSE, 0, 255);
    cdb[1] = 0x02;
    assert_false(ScsiDiskInquiry(cdb, 6, &g, &id, buf, sizeof(buf), &n, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 0);
}

static ULONG get_vpd(UCHAR page, UCHAR *buf, ULONG len, const SCSIDISK_GEOMETRY *g)
{
    SCSIDISK_IDENTITY id = make_identity();
    UCHAR cdb[6];
    ULONG n = 0;
    SCSIDISK_SENSE s;

    inquiry_cdb(cdb, TRUE, page, len);
    assert_true(ScsiDiskInquiry(cdb, 6, g, &id, buf, len, &n, &s));
    assert_int_equal(buf[1], page);
    /* PAGE LENGTH covers exactly what follows the 4-byte header. */
    assert_int_equal(ScsiDiskGetBe16(&buf[2]) + 4, n);
    return n;
}

static void test_vpd_supported_pages(void **state)
{
    SCSIDISK_GEOMETRY g = make_geometry(1000, 512);
    UCHAR buf[255];
    static const UCHAR expected[] = {0x00, 0x80, 0x83, 0xB0, 0xB2};
    ULONG n;
    (void)state;

    n = get_vpd(0x00, buf, sizeof(buf), &g);
    assert_int_equal(n, 4 + sizeof(expected));
    assert_memory_equal(&buf[4], expected, sizeof(expected));
}

static void test_vpd_serial_number(void **state)
{
    SCSIDISK_GEOMETRY g = make_geometry(1000, 512);
    UCHAR buf[255];
    ULONG n;
    (void)state;

    n = get_vpd(0x80, buf, sizeof(buf), &g);
    assert_int_equal(n, 4 + strlen("SERIAL42"));
    assert_memory_equal(&buf[4], "SERIAL42", 8);
}

static void test_vpd_device_identification(void **state)
{
    SCSIDISK_GEOMETRY g = make_geometry(1000, 512);
    UCHAR buf[255];
    ULONG n, off, designators = 0;
    BOOLEAN naa = FALSE, t10 = FALSE;
    (void)state;

    n = get_vpd(0x83, buf, sizeof(buf), &g);
    /* Walk the designators: their lengths must tile the page exactly. */
    for (off = 4; off < n; off += 4 + buf[off + 3]) {
        UCHAR type = buf[off + 1] & 0x0F;
        designators++;
        if (type == 3) {
            ULONGLONG v = ScsiDiskGetBe64(&buf[off + 4]);
            naa = TRUE;
            assert_int_equal(buf[off] & 0x0F, 1); /* binary */
            assert_int_equal(buf[off + 3], 8);
            assert_int_equal(v >> 60, 5);        /* NAA IEEE Registered */
            assert_true((v & 0xFFFFFFFFFull) == 0x123456789ull);
        } else if (type == 1) {
            t10 = TRUE;
            assert_int_equal(buf[off] & 0x0F, 2); /* ASCII */
            assert_memory_equal(&buf[off + 4], "USTOR   ", 8);
            assert_memory_equal(&buf[off + 4 + 24], "SERIAL42", 8);
        }
    }
    assert_int_equal(off, n);
    assert_int_equal(designators, 2);
    assert_true(naa);
    assert_true(t10);
}

static void test_vpd_block_limits(void **state)
{
    SCSIDISK_GEOMETRY g = make_geometry(1000, 512);
    UCHAR buf[255];
    ULONG n;
    (void)state;

    n = get_vpd(0xB0, buf, sizeof(buf), &g);
    assert_int_equal(n, 64);
    assert_int_equal(buf[4] & 1, 1); /* WSNZ */
    assert_int_equal(ScsiDiskGetBe32(&buf[8]), g.MaxTransferBlocks);
    assert_int_equal(ScsiDiskGetBe32(&buf[20]), g.MaxUnmapBlocks);
    assert_int_equal(ScsiDiskGetBe32(&buf[24]), g.MaxUnmapDescriptors);
    assert_true(ScsiDiskGetBe32(&buf[28]) >= 1); /* unmap granularity */
    assert_true(ScsiDiskGetBe64(&buf[36]) == g.MaxWriteSameBlocks);
}

static void test_vpd_provisioning(void **state)
{
    SCSIDISK_GEOMETRY g = make_geometry(1000, 512);
    UCHAR buf[255];
    ULONG n;
    (void)state;

    n = get_vpd(0xB2, buf, sizeof(buf), &g);
    assert_int_equal(n, 8);
    assert_true(buf[5] & 0x80); /* LBPU */
    assert_true(buf[5] & 0x40); /* LBPWS */
    assert_int_equal((buf[5] >> 2) & 0x07, 1); /* LBPRZ = 1 */
}

static void test_vpd_unsupported_page(void **state)
{
    SCSIDISK_GEOMETRY g = make_geometry(1000, 512);
    SCSIDISK_IDENTITY id = make_identity();
    UCHAR cdb[6], buf[255];
    ULONG n = 99;
    SCSIDISK_SENSE s;
    (void)state;

    inquiry_cdb(cdb, TRUE, 0x99, sizeof(buf));
    assert_false(ScsiDiskInquiry(cdb, 6, &g, &id, buf, sizeof(buf), &n, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 0);
    assert_int_equal(n, 0);
}

/* ---- READ CAPACITY ------------------------------------------------------ */

static void test_read_capacity10(void **state)
{
    SCSIDISK_GEOMETRY g = make_geometry(131072, 512);
    UCHAR cdb[10] = {SCSIOP_READ_CAPACITY};
    UCHAR buf[8];
    ULONG n;
    SCSIDISK_SENSE s;
    (void)state;

    assert_true(ScsiDiskReadCapacity10(cdb, 10, &g, buf, sizeof(buf), &n, &s));
    assert_int_equal(n, 8);
    assert_int_equal(ScsiDiskGetBe32(&buf[0]), 131071);
    assert_int_equal(ScsiDiskGetBe32(&buf[4]), 512);

    /* Last LBA 0xFFFFFFFF itself no longer fits: the host must use (16). */
    g = make_geometry(0x100000000ull, 4096);
    assert_true(ScsiDiskReadCapacity10(cdb, 10, &g, buf, sizeof(buf), &n, &s));
    assert_int_equal(ScsiDiskGetBe32(&buf[0]), 0xFFFFFFFFu);
    assert_int_equal(ScsiDiskGetBe32(&buf[4]), 4096);
    g = make_geometry(0x100000005ull, 512);
    assert_true(ScsiDiskReadCapacity10(cdb, 10, &g, buf, sizeof(buf), &n, &s));
    assert_int_equal(ScsiDiskGetBe32(&buf[0]), 0xFFFFFFFFu);
    /* Largest that fits. */
    g = make_geometry(0xFFFFFFFFull, 512);
    assert_true(ScsiDiskReadCapacity10(cdb, 10, &g, buf, sizeof(buf), &n, &s));
    assert_int_equal(ScsiDiskGetBe32(&buf[0]), 0xFFFFFFFEu);

    /* PMI = 0 with a nonzero LBA is invalid. */
    put_be32(&cdb[2], 5);
    assert_false(ScsiDiskReadCapacity10(cdb, 10, &g, buf, sizeof(buf), &n, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 0);
}

static void test_read_capacity16(void **state)
{
    SCSIDISK_GEOMETRY g = make_geometry(0x300000001ull, 4096);
    UCHAR cdb[16] = {SCSIOP_READ_CAPACITY16, SERVICE_ACTION_READ_CAPACITY16};
    UCHAR buf[64];
    ULONG n;
    SCSIDISK_SENSE s;
    (void)state;

    put_be32(&cdb[10], sizeof(buf));
    memset(buf, 0xEE, sizeof(buf));
    assert_true(ScsiDiskReadCapacity16(cdb, 16, &g, buf, sizeof(buf), &n, &s));
    assert_int_equal(n, 32);
    assert_true(ScsiDiskGetBe64(&buf[0]) == 0x300000000ull);
    assert_int_equal(ScsiDiskGetBe32(&buf[8]), 4096);
    assert_true(buf[14] & 0x80); /* LBPME */
    assert_true(buf[14] & 0x40); /* LBPRZ */
    assert_int_equal(buf[32], 0xEE);

    put_be32(&cdb[10], 12);
    assert_true(ScsiDiskReadCapacity16(cdb, 16, &g, buf, sizeof(buf), &n, &s));
    assert_int_equal(n, 12);

    cdb[1] = 0x11; /* another service action */
    assert_false(ScsiDiskReadCapacity16(cdb, 16, &g, buf, sizeof(buf), &n, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 0);
}

/* ---- MODE SENSE --------------------------------------------------------- */

static void test_mode_sense6(void **state)
{
    SCSIDISK_GEOMETRY g = make_geometry(2048, 512);
    UCHAR cdb[6] = {SCSIOP_MODE_SENSE, 0, MODE_SENSE_RETURN_ALL, 0, 255, 0};
    UCHAR buf[255];
    ULONG n;
    SCSIDISK_SENSE s;
    (void)state;

    assert_true(ScsiDiskModeSense(cdb, 6, &g, buf, sizeof(buf), &n, &s));
    assert_int_equal(buf[0], n - 1);          /* MODE DATA LENGTH */
    assert_int_equal(buf[2] & 0x80, 0);       /* not write protected */
    assert_int_equal(buf[3], 8);              /* one short block descriptor */
    assert_int_equal(ScsiDiskGetBe32(&buf[4]), 2048);
    assert_int_equal(ScsiDiskGetBe24(&buf[9]), 512);
    assert_int_equal(buf[12] & 0x3F, MODE_PAGE_CACHING);
    assert_int_equal(buf[13] + 2, n - 12);    /* page length covers the page */

    g.WriteProtected = TRUE;
    g.WriteCacheEnabled = TRUE;
    cdb[1] = 0x08; /* DBD */
    cdb[2] = MODE_PAGE_CACHING;
    assert_true(ScsiDiskModeSense(cdb, 6, &g, buf, sizeof(buf), &n, &s));
    assert_int_equal(buf[0], n - 1);
    assert_int_equal(buf[2] & 0x80, 0x80);    /* WP */
    assert_int_equal(buf[3], 0);              /* no block descriptor */
    assert_int_equal(buf[4] & 0x3F, MODE_PAGE_CACHING);
    assert_true(buf[6] & 0x04);               /* WCE */

    /* Allocation length 4: header only, MODE DATA LENGTH still complete. */
    cdb[4] = 4;
    assert_true(ScsiDiskModeSense(cdb, 6, &g, buf, sizeof(buf), &n, &s));
    assert_int_equal(n, 4);
    assert_int_equal(buf[0], 4 + 20 - 1);

    cdb[4] = 255;
    cdb[2] = 0x1C; /* a page this disk does not have */
    assert_false(ScsiDiskModeSense(cdb, 6, &g, buf, sizeof(buf), &n, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 0);
    cdb[2] = 0xC0 | MODE_PAGE_CACHING; /* saved values */
    assert_false(ScsiDiskModeSense(cdb, 6, &g, buf, sizeof(buf), &n, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_SAVING_NOT_SUPPORTED, 0);
}

static void test_mode_sense10(void **state)
{
    SCSIDISK_GEOMETRY g = make_geometry(0x123456789ull, 4096);
    UCHAR cdb[10] = {SCSIOP_MODE_SENSE10, 0, MODE_PAGE_CACHING};
    UCHAR buf[255];
    ULONG n;
    SCSIDISK_SENSE s;
    (void)state;

    put_be16(&cdb[7], sizeof(buf));
    assert_true(ScsiDiskModeSense(cdb, 10, &g, buf, sizeof(buf), &n, &s));
    assert_int_equal(ScsiDiskGetBe16(&buf[0]), n - 2);
    assert_int_equal(ScsiDiskGetBe16(&buf[6]), 8);
    assert_int_equal(ScsiDiskGetBe32(&buf[8]), 0xFFFFFFFFu); /* too many blocks: saturates */
    assert_int_equal(n, 8 + 8 + 20);

    cdb[1] = 0x10; /* LLBAA: long descriptor */
    g.WriteProtected = TRUE;
    assert_true(ScsiDiskModeSense(cdb, 10, &g, buf, sizeof(buf), &n, &s));
    assert_int_equal(ScsiDiskGetBe16(&buf[0]), n - 2);
    assert_int_equal(buf[3] & 0x80, 0x80);
    assert_int_equal(buf[4] & 1, 1); /* LONGLBA */
    assert_int_equal(ScsiDiskGetBe16(&buf[6]), 16);
    assert_true(ScsiDiskGetBe64(&buf[8]) == 0x123456789ull);
    assert_int_equal(ScsiDiskGetBe32(&buf[20]), 4096);
    assert_int_equal(n, 8 + 16 + 20);
}

/* ---- UNMAP -------------------------------------------------------------- */

static ULONG unmap_list(UCHAR *list, ULONG descriptors, const ULONGLONG *lba, const ULONG *blocks)
{
    ULONG i, len = 8 + descriptors * 16;

    memset(list, 0, len);
    put_be16(&list[0], len - 2);
    put_be16(&list[2], descriptors * 16);
    for (i = 0; i < descriptors; i++) {
        put_be64(&list[8 + i * 16], lba[i]);
        put_be32(&list[8 + i * 16 + 8], blocks[i]);
    }
    return len;
}

static void test_unmap_cdb(void **state)
{
    UCHAR cdb[10] = {SCSIOP_UNMAP};
    ULONG len;
    SCSIDISK_SENSE s;
    (void)state;

    assert_true(ScsiDiskDecodeUnmap(cdb, 10, &len, &s));
    assert_int_equal(len, 0);
    put_be16(&cdb[7], 5);
    assert_false(ScsiDiskDecodeUnmap(cdb, 10, &len, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH, 0);
    put_be16(&cdb[7], 24);
    assert_true(ScsiDiskDecodeUnmap(cdb, 10, &len, &s));
    assert_int_equal(len, 24);
    cdb[1] = 1; /* ANCHOR */
    assert_false(ScsiDiskDecodeUnmap(cdb, 10, &len, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 0);
}

static void test_unmap_list_validation(void **state)
{
    SCSIDISK_GEOMETRY g = make_geometry(1000, 512); /* 4 descriptors, 1000 blocks max */
    UCHAR list[8 + 16 * 8];
    ULONGLONG lba[5] = {0, 100, 200, 300, 400};
    ULONG blocks[5] = {10, 20, 30, 40, 50};
    ULONG count, len, b;
    ULONGLONG l;
    SCSIDISK_SENSE s;
    (void)state;

    len = unmap_list(list, 2, lba, blocks);
    assert_true(ScsiDiskValidateUnmapList(list, len, &g, &count, &s));
    assert_int_equal(count, 2);
    ScsiDiskUnmapDescriptor(list, 1, &l, &b);
    assert_int_equal(l, 100);
    assert_int_equal(b, 20);

    /* Short list: cannot hold the header. */
    assert_false(ScsiDiskValidateUnmapList(list, 7, &g, &count, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH, 0);

    /* Descriptor data length claiming more than was sent. */
    len = unmap_list(list, 2, lba, blocks);
    put_be16(&list[2], 3 * 16);
    assert_false(ScsiDiskValidateUnmapList(list, len, &g, &count, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST, 0);

    /* More descriptors than MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT. */
    len = unmap_list(list, 5, lba, blocks);
    assert_false(ScsiDiskValidateUnmapList(list, len, &g, &count, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST, 0);

    /* A range leaving the medium. */
    lba[1] = 995;
    len = unmap_list(list, 2, lba, blocks);
    assert_false(ScsiDiskValidateUnmapList(list, len, &g, &count, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
    assert_int_equal(count, 0);

    /* More blocks in total than MAXIMUM UNMAP LBA COUNT. */
    g.MaxUnmapBlocks = 25;
    lba[1] = 100;
    len = unmap_list(list, 2, lba, blocks);
    assert_false(ScsiDiskValidateUnmapList(list, len, &g, &count, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST, 0);

    /* Empty list is fine. */
    assert_true(ScsiDiskValidateUnmapList(NULL, 0, &g, &count, &s));
    assert_int_equal(count, 0);
}

/* ---- REPORT LUNS / REQUEST SENSE ----------------------------------------- */

static void check_report_luns(ULONG luns)
{
    UCHAR cdb[12] = {SCSIOP_REPORT_LUNS};
    static UCHAR buf[8 + 256 * 8];
    ULONG n, i;
    SCSIDISK_SENSE s;

    put_be32(&cdb[6], sizeof(buf));
    memset(buf, 0xEE, sizeof(buf));
    assert_true(ScsiDiskReportLuns(cdb, 12, luns, buf, sizeof(buf), &n, &s));
    assert_int_equal(n, 8 + luns * 8);
    assert_int_equal(ScsiDiskGetBe32(&buf[0]), luns * 8);
    for (i = 0; i < luns; i++) {
        assert_int_equal(buf[8 + i * 8], 0);
        assert_int_equal(buf[8 + i * 8 + 1], i);
    }
    assert_int_equal(buf[n], 0xEE);
}

static void test_report_luns(void **state)
{
    UCHAR cdb[12] = {SCSIOP_REPORT_LUNS};
    UCHAR buf[64];
    ULONG n;
    SCSIDISK_SENSE s;
    (void)state;

    check_report_luns(1);
    check_report_luns(3);
    check_report_luns(255);

    /* Truncated to the allocation length, LUN LIST LENGTH still whole. */
    put_be32(&cdb[6], 16);
    assert_true(ScsiDiskReportLuns(cdb, 12, 4, buf, sizeof(buf), &n, &s));
    assert_int_equal(n, 16);
    assert_int_equal(ScsiDiskGetBe32(&buf[0]), 32);

    put_be32(&cdb[6], 15); /* below the minimum of 16 */
    assert_false(ScsiDiskReportLuns(cdb, 12, 4, buf, sizeof(buf), &n, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 0);
    put_be32(&cdb[6], 64);
    cdb[2] = 3; /* unknown SELECT REPORT */
    assert_false(ScsiDiskReportLuns(cdb, 12, 4, buf, sizeof(buf), &n, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 0);
}

static void test_request_sense(void **state)
{
    UCHAR cdb[6] = {SCSIOP_REQUEST_SENSE, 0, 0, 0, 252, 0};
    UCHAR buf[252];
    ULONG n;
    SCSIDISK_SENSE s;
    (void)state;

    assert_true(ScsiDiskRequestSense(cdb, 6, buf, sizeof(buf), &n, &s));
    assert_int_equal(n, SCSIDISK_FIXED_SENSE_LENGTH);
    assert_int_equal(buf[0], 0x70);
    assert_int_equal(buf[2] & 0x0F, 0);
    cdb[1] = 1; /* DESC */
    assert_false(ScsiDiskRequestSense(cdb, 6, buf, sizeof(buf), &n, &s));
    assert_sense(&s, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_read10),
        cmocka_unit_test(test_decode_write16),
        cmocka_unit_test(test_decode_read6_zero_means_256),
        cmocka_unit_test(test_decode_out_of_range),
        cmocka_unit_test(test_decode_bad_fields),
        cmocka_unit_test(test_decode_write_same_and_sync),
        cmocka_unit_test(test_write_protect_sense),
        cmocka_unit_test(test_fixed_sense_data),
        cmocka_unit_test(test_inquiry_standard),
        cmocka_unit_test(test_vpd_supported_pages),
        cmocka_unit_test(test_vpd_serial_number),
        cmocka_unit_test(test_vpd_device_identification),
        cmocka_unit_test(test_vpd_block_limits),
        cmocka_unit_test(test_vpd_provisioning),
        cmocka_unit_test(test_vpd_unsupported_page),
        cmocka_unit_test(test_read_capacity10),
        cmocka_unit_test(test_read_capacity16),
        cmocka_unit_test(test_mode_sense6),
        cmocka_unit_test(test_mode_sense10),
        cmocka_unit_test(test_unmap_cdb),
        cmocka_unit_test(test_unmap_list_validation),
        cmocka_unit_test(test_report_luns),
        cmocka_unit_test(test_request_sense),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
