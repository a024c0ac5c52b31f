/* Unit tests for src/block/sense.c: fixed and descriptor sense decoding,
 * truncated buffers, names, the errno table and the retry policy. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <srb.h>
#include <scsi.h>

#include "ustor/block.h"
#include "block/blk_internal.h"

/* Fixed-format sense: key, ASC, ASCQ, with VALID information. */
static size_t make_fixed(uint8_t *s, uint8_t code, uint8_t key, uint8_t asc, uint8_t ascq)
{
    memset(s, 0, 18);
    s[0] = 0x80 | code; /* VALID */
    s[2] = key;
    s[3] = 0x00;
    s[4] = 0x00;
    s[5] = 0x12;
    s[6] = 0x34;
    s[7] = 10; /* additional length: bytes 8..17 */
    s[12] = asc;
    s[13] = ascq;
    return 18;
}

static void test_decode_fixed(void **state)
{
    (void)state;
    uint8_t s[18];
    size_t n = make_fixed(s, 0x70, SCSI_SENSE_ILLEGAL_REQUEST, 0x21, 0x00);
    s[2] |= 0x20;             /* ILI */
    s[15] = 0x80 | 0x40;      /* SKSV, C/D */
    s[16] = 0x00;
    s[17] = 0x02;
    struct ustor_sense d;
    assert_int_equal(ustor_scsi_sense_decode(s, n, &d), 0);
    assert_int_equal(d.response_code, 0x70);
    assert_false(d.descriptor_format);
    assert_false(d.deferred);
    assert_int_equal(d.sense_key, SCSI_SENSE_ILLEGAL_REQUEST);
    assert_int_equal(d.asc, 0x21);
    assert_int_equal(d.ascq, 0x00);
    assert_true(d.information_valid);
    assert_int_equal(d.information, 0x1234);
    assert_true(d.ili);
    assert_false(d.eom);
    assert_true(d.sksv);
    assert_int_equal(d.sense_key_specific[0], 0x40);
    assert_int_equal(d.sense_key_specific[2], 0x02);
}

static void test_decode_fixed_deferred_without_valid(void **state)
{
    (void)state;
    uint8_t s[18];
    size_t n = make_fixed(s, 0x71, SCSI_SENSE_MEDIUM_ERROR, 0x0C, 0x00);
    s[0] = 0x71; /* no VALID bit: information must be ignored */
    struct ustor_sense d;
    assert_int_equal(ustor_scsi_sense_decode(s, n, &d), 0);
    assert_true(d.deferred);
    assert_false(d.information_valid);
    assert_int_equal(d.information, 0);
    assert_int_equal(d.sense_key, SCSI_SENSE_MEDIUM_ERROR);
    assert_int_equal(d.asc, 0x0C);
}

static void test_decode_fixed_truncated(void **state)
{
    (void)state;
    uint8_t s[18];
    make_fixed(s, 0x70, SCSI_SENSE_UNIT_ATTENTION, 0x29, 0x02);
    struct ustor_sense d;
    /* 3 bytes: the key is there, ASC/ASCQ are not. */
    assert_int_equal(ustor_scsi_sense_decode(s, 3, &d), 0);
    assert_int_equal(d.sense_key, SCSI_SENSE_UNIT_ATTENTION);
    assert_int_equal(d.asc, 0);
    assert_int_equal(d.ascq, 0);
    assert_false(d.information_valid);
    /* 13 bytes: ASC but no ASCQ. */
    assert_int_equal(ustor_scsi_sense_decode(s, 13, &d), 0);
    assert_int_equal(d.asc, 0x29);
    assert_int_equal(d.ascq, 0);
    /* Too short for a key. */
    assert_int_equal(ustor_scsi_sense_decode(s, 2, &d), -EINVAL);
    assert_int_equal(ustor_scsi_sense_decode(s, 0, &d), -EINVAL);
    /* A device declaring fewer bytes than the buffer holds is believed. */
    s[7] = 4; /* bytes 8..11 only: no ASC */
    assert_int_equal(ustor_scsi_sense_decode(s, 18, &d), 0);
    assert_int_equal(d.sense_key, SCSI_SENSE_UNIT_ATTENTION);
    assert_int_equal(d.asc, 0);
}

static void test_decode_rejects_bad_response_code(void **state)
{
    (void)state;
    uint8_t s[18] = {0};
    struct ustor_sense d;
    assert_int_equal(ustor_scsi_sense_decode(s, sizeof(s), &d), -EINVAL);
    s[0] = 0x7F;
    assert_int_equal(ustor_scsi_sense_decode(s, sizeof(s), &d), -EINVAL);
    assert_int_equal(d.response_code, 0);
    assert_int_equal(ustor_scsi_sense_decode(NULL, 18, &d), -EINVAL);
    assert_int_equal(ustor_scsi_sense_decode(s, 18, NULL), -EINVAL);
}

static size_t make_descriptor(uint8_t *s, size_t cap)
{
    memset(s, 0, cap);
    s[0] = 0x72;
    s[1] = SCSI_SENSE_DATA_PROTECT;
    s[2] = 0x27;
    s[3] = 0x07;
    size_t off = 8;
    /* information descriptor */
    s[off + 0] = 0x00;
    s[off + 1] = 0x0A;
    s[off + 2] = 0x80;
    for (int i = 0; i < 8; i++)
        s[off + 4 + i] = (uint8_t)(0x11 * (i + 1));
    off += 12;
    /* an unknown descriptor the decoder must skip */
    s[off + 0] = 0x80;
    s[off + 1] = 0x02;
    off += 4;
    /* sense key specific */
    s[off + 0] = 0x02;
    s[off + 1] = 0x06;
    s[off + 4] = 0x80 | 0x01;
    s[off + 5] = 0x02;
    s[off + 6] = 0x03;
    off += 8;
    /* block commands: ILI */
    s[off + 0] = 0x05;
    s[off + 1] = 0x02;
    s[off + 3] = 0x20;
    off += 4;
    s[7] = (uint8_t)(off - 8);
    return off;
}

static void test_decode_descriptor(void **state)
{
    (void)state;
    uint8_t s[64];
    size_t n = make_descriptor(s, sizeof(s));
    struct ustor_sense d;
    assert_int_equal(ustor_scsi_sense_decode(s, n, &d), 0);
    assert_true(d.descriptor_format);
    assert_false(d.deferred);
    assert_int_equal(d.response_code, 0x72);
    assert_int_equal(d.sense_key, SCSI_SENSE_DATA_PROTECT);
    assert_int_equal(d.asc, 0x27);
    assert_int_equal(d.ascq, 0x07);
    assert_true(d.information_valid);
    assert_int_equal(d.information, 0x1122334455667788ull);
    assert_true(d.sksv);
    assert_int_equal(d.sense_key_specific[0], 0x01);
    assert_int_equal(d.sense_key_specific[1], 0x02);
    assert_int_equal(d.sense_key_specific[2], 0x03);
    assert_true(d.ili);
}

static void test_decode_descriptor_truncated(void **state)
{
    (void)state;
    uint8_t s[64];
    make_descriptor(s, sizeof(s));
    struct ustor_sense d;
    /* Cut inside the information descriptor: header fields only. */
    assert_int_equal(ustor_scsi_sense_decode(s, 14, &d), 0);
    assert_int_equal(d.sense_key, SCSI_SENSE_DATA_PROTECT);
    assert_int_equal(d.asc, 0x27);
    assert_false(d.information_valid);
    /* Two bytes still carry the key. */
    assert_int_equal(ustor_scsi_sense_decode(s, 2, &d), 0);
    assert_int_equal(d.sense_key, SCSI_SENSE_DATA_PROTECT);
    assert_int_equal(d.asc, 0);
    assert_int_equal(ustor_scsi_sense_decode(s, 1, &d), -EINVAL);
    /* A descriptor claiming more than is there stops the walk, no overread:
     * the length byte says 255 inside a 64-byte buffer. */
    s[8 + 1] = 0xFF;
    s[7] = 0xFF;
    assert_int_equal(ustor_scsi_sense_decode(s, 64, &d), 0);
    assert_false(d.information_valid);
    assert_false(d.sksv);
}

static void test_sense_str(void **state)
{
    (void)state;
    uint8_t s[18];
    struct ustor_sense d;
    char buf[128];
    make_fixed(s, 0x70, SCSI_SENSE_ILLEGAL_REQUEST, 0x21, 0x00);
    assert_int_equal(ustor_scsi_sense_decode(s, sizeof(s), &d), 0);
    assert_string_equal(ustor_scsi_sense_str(&d, buf, sizeof(buf)),
                        "ILLEGAL REQUEST: LOGICAL BLOCK ADDRESS OUT OF RANGE (21/00)");
    make_fixed(s, 0x71, SCSI_SENSE_HARDWARE_ERROR, 0x99, 0x42);
    assert_int_equal(ustor_scsi_sense_decode(s, sizeof(s), &d), 0);
    assert_string_equal(ustor_scsi_sense_str(&d, buf, sizeof(buf)),
                        "deferred HARDWARE ERROR: UNKNOWN ADDITIONAL SENSE CODE (99/42)");
    /* A small buffer is truncated, still terminated. */
    char small[8];
    ustor_scsi_sense_str(&d, small, sizeof(small));
    assert_int_equal(strlen(small), sizeof(small) - 1);
    struct ustor_sense none;
    memset(&none, 0, sizeof(none));
    assert_string_equal(ustor_scsi_sense_str(&none, buf, sizeof(buf)), "no sense data");
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(ustor_scsi_sense_key_name(SCSI_SENSE_UNIT_ATTENTION), "UNIT ATTENTION");
    assert_string_equal(ustor_scsi_sense_key_name(SCSI_SENSE_NOT_READY), "NOT READY");
    assert_string_equal(ustor_scsi_sense_key_name(0x10), "RESERVED");
    assert_string_equal(ustor_scsi_asc_name(0x29, 0x00),
                        "POWER ON, RESET, OR BUS DEVICE RESET OCCURRED");
    assert_null(ustor_scsi_asc_name(0xEE, 0xEE));
    assert_string_equal(ustor_srb_status_name(SRB_STATUS_SUCCESS), "SRB_STATUS_SUCCESS");
    /* Flag bits do not change the name. */
    assert_string_equal(ustor_srb_status_name(SRB_STATUS_ERROR | SRB_STATUS_AUTOSENSE_VALID),
                        "SRB_STATUS_ERROR");
    assert_string_equal(ustor_srb_status_name(SRB_STATUS_BUS_RESET), "SRB_STATUS_BUS_RESET");
    assert_string_equal(ustor_srb_status_name(0x3F), "SRB_STATUS_0x3F");
    assert_string_equal(ustor_scsi_status_name(SCSISTAT_CHECK_CONDITION), "CHECK CONDITION");
    assert_string_equal(ustor_scsi_status_name(SCSISTAT_GOOD), "GOOD");
    assert_string_equal(ustor_scsi_status_name(0x7E), "RESERVED");
}

static struct ustor_sense sense_of(uint8_t key, uint8_t asc, uint8_t ascq)
{
    uint8_t s[18];
    struct ustor_sense d;
    make_fixed(s, 0x70, key, asc, ascq);
    assert_int_equal(ustor_scsi_sense_decode(s, sizeof(s), &d), 0);
    return d;
}


static int cc(uint8_t key, uint8_t asc, uint8_t ascq, bool wr)
{
    struct ustor_sense s = sense_of(key, asc, ascq);
    return ustor_blk_errno(SRB_STATUS_ERROR | SRB_STATUS_AUTOSENSE_VALID,
                           SCSISTAT_CHECK_CONDITION, &s, wr);
}

static void test_errno_table_sense(void **state)
{
    (void)state;
    /* Past the end: ENOSPC for writes, EINVAL for reads (nbd semantics). */
    assert_int_equal(cc(SCSI_SENSE_ILLEGAL_REQUEST, 0x21, 0x00, true), -ENOSPC);
    assert_int_equal(cc(SCSI_SENSE_ILLEGAL_REQUEST, 0x21, 0x00, false), -EINVAL);
    assert_int_equal(cc(SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00, true), -EINVAL);
    assert_int_equal(cc(SCSI_SENSE_ILLEGAL_REQUEST, 0x20, 0x00, false), -EOPNOTSUPP);
    assert_int_equal(cc(SCSI_SENSE_ILLEGAL_REQUEST, 0x25, 0x00, false), -ENODEV);
    assert_int_equal(cc(SCSI_SENSE_DATA_PROTECT, 0x27, 0x00, true), -EROFS);
    assert_int_equal(cc(SCSI_SENSE_DATA_PROTECT, 0x27, 0x07, true), -ENOSPC);
    assert_int_equal(cc(SCSI_SENSE_MEDIUM_ERROR, 0x11, 0x00, false), -EIO);
    assert_int_equal(cc(SCSI_SENSE_HARDWARE_ERROR, 0x44, 0x00, false), -EIO);
    assert_int_equal(cc(SCSI_SENSE_UNIT_ATTENTION, 0x29, 0x00, false), -EIO);
    assert_int_equal(cc(SCSI_SENSE_NOT_READY, 0x04, 0x01, false), -EIO);
    assert_int_equal(cc(SCSI_SENSE_NOT_READY, 0x3A, 0x00, false), -ENOMEDIUM);
    assert_int_equal(cc(SCSI_SENSE_RECOVERED_ERROR, 0x00, 0x00, false), 0);
    assert_int_equal(cc(SCSI_SENSE_VOL_OVERFLOW, 0x00, 0x00, true), -ENOSPC);
    assert_int_equal(cc(SCSI_SENSE_MISCOMPARE, 0x1D, 0x00, true), -EILSEQ);
    assert_int_equal(cc(SCSI_SENSE_ABORTED_COMMAND, 0x47, 0x00, true), -EIO);
}

static void test_errno_table_status(void **state)
{
    (void)state;
    assert_int_equal(ustor_blk_errno(SRB_STATUS_SUCCESS, 0, NULL, false), 0);
    assert_int_equal(ustor_blk_errno(SRB_STATUS_TIMEOUT, 0, NULL, false), -ETIMEDOUT);
    assert_int_equal(ustor_blk_errno(SRB_STATUS_COMMAND_TIMEOUT, 0, NULL, true), -ETIMEDOUT);
    assert_int_equal(ustor_blk_errno(SRB_STATUS_BUSY, 0, NULL, false), -EBUSY);
    assert_int_equal(ustor_blk_errno(SRB_STATUS_BUS_RESET, 0, NULL, false), -EIO);
    assert_int_equal(ustor_blk_errno(SRB_STATUS_NO_DEVICE, 0, NULL, false), -ENODEV);
    assert_int_equal(ustor_blk_errno(SRB_STATUS_SELECTION_TIMEOUT, 0, NULL, false), -ENODEV);
    assert_int_equal(ustor_blk_errno(SRB_STATUS_INVALID_LUN, 0, NULL, false), -ENODEV);
    assert_int_equal(ustor_blk_errno(SRB_STATUS_INVALID_REQUEST, 0, NULL, false), -EINVAL);
    assert_int_equal(ustor_blk_errno(SRB_STATUS_ABORTED, 0, NULL, false), -ECANCELED);
    assert_int_equal(ustor_blk_errno(SRB_STATUS_DATA_OVERRUN, 0, NULL, false), -EIO);
    assert_int_equal(ustor_blk_errno(SRB_STATUS_ERROR, SCSISTAT_BUSY, NULL, false), -EBUSY);
    assert_int_equal(ustor_blk_errno(SRB_STATUS_ERROR, SCSISTAT_QUEUE_FULL, NULL, false), -EBUSY);
    assert_int_equal(ustor_blk_errno(SRB_STATUS_ERROR, SCSISTAT_RESERVATION_CONFLICT, NULL, true),
                     -EACCES);
    /* CHECK CONDITION without sense, and an ERROR that says GOOD. */
    assert_int_equal(ustor_blk_errno(SRB_STATUS_ERROR, SCSISTAT_CHECK_CONDITION, NULL, false), -EIO);
    assert_int_equal(ustor_blk_errno(SRB_STATUS_ERROR, SCSISTAT_GOOD, NULL, false), -EIO);
    assert_int_equal(ustor_blk_errno(0x3F, 0, NULL, false), -EIO);
}

static int retry(uint8_t srb, uint8_t scsi, const struct ustor_sense *s)
{
    return blk_retry_delay_ms(srb, scsi, s);
}

static void test_retry_policy(void **state)
{
    (void)state;
    assert_int_equal(retry(SRB_STATUS_BUS_RESET, 0, NULL), 0);
    assert_int_equal(retry(SRB_STATUS_TIMEOUT, 0, NULL), 0);
    assert_true(retry(SRB_STATUS_BUSY, 0, NULL) > 0);
    assert_int_equal(retry(SRB_STATUS_NO_DEVICE, 0, NULL), -1);
    assert_int_equal(retry(SRB_STATUS_INVALID_REQUEST, 0, NULL), -1);
    assert_int_equal(retry(SRB_STATUS_ABORTED, 0, NULL), -1);
    assert_true(retry(SRB_STATUS_ERROR, SCSISTAT_BUSY, NULL) > 0);
    assert_int_equal(retry(SRB_STATUS_ERROR, SCSISTAT_RESERVATION_CONFLICT, NULL), -1);
    struct ustor_sense ua = sense_of(SCSI_SENSE_UNIT_ATTENTION, 0x29, 0x00);
    assert_int_equal(retry(SRB_STATUS_ERROR, SCSISTAT_CHECK_CONDITION, &ua), 0);
    struct ustor_sense becoming = sense_of(SCSI_SENSE_NOT_READY, 0x04, 0x01);
    assert_true(retry(SRB_STATUS_ERROR, SCSISTAT_CHECK_CONDITION, &becoming) > 0);
    struct ustor_sense nomedium = sense_of(SCSI_SENSE_NOT_READY, 0x3A, 0x00);
    assert_int_equal(retry(SRB_STATUS_ERROR, SCSISTAT_CHECK_CONDITION, &nomedium), -1);
    struct ustor_sense medium = sense_of(SCSI_SENSE_MEDIUM_ERROR, 0x11, 0x00);
    assert_int_equal(retry(SRB_STATUS_ERROR, SCSISTAT_CHECK_CONDITION, &medium), -1);
    struct ustor_sense illegal = sense_of(SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
    assert_int_equal(retry(SRB_STATUS_ERROR, SCSISTAT_CHECK_CONDITION, &illegal), -1);
    struct ustor_sense aborted = sense_of(SCSI_SENSE_ABORTED_COMMAND, 0x00, 0x00);
    assert_int_equal(retry(SRB_STATUS_ERROR, SCSISTAT_CHECK_CONDITION, &aborted), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_fixed),
        cmocka_unit_test(test_decode_fixed_deferred_without_valid),
        cmocka_unit_test(test_decode_fixed_truncated),
        cmocka_unit_test(test_decode_rejects_bad_response_code),
        cmocka_unit_test(test_decode_descriptor),
        cmocka_unit_test(test_decode_descriptor_truncated),
        cmocka_unit_test(test_sense_str),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_errno_table_sense),
        cmocka_unit_test(test_errno_table_status),
        cmocka_unit_test(test_retry_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
