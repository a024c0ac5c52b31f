/* Unit tests for src/block/cdb.c: every CDB builder's bytes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ustor/block.h"

/* Fills a buffer with junk first so that a builder leaving a byte unset
 * is caught. */
#define JUNK 0xA5

static void expect_bytes(const uint8_t *got, const uint8_t *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (got[i] != want[i])
            fail_msg("byte %zu: got 0x%02x, want 0x%02x", i, got[i], want[i]);
    }
}

static void test_test_unit_ready(void **state)
{
    (void)state;
    uint8_t cdb[6];
    memset(cdb, JUNK, sizeof(cdb));
    const uint8_t want[6] = {0x00, 0, 0, 0, 0, 0};
    assert_int_equal(ustor_cdb_test_unit_ready(cdb), 6);
    expect_bytes(cdb, want, 6);
}

static void test_request_sense(void **state)
{
    (void)state;
    uint8_t cdb[6];
    memset(cdb, JUNK, sizeof(cdb));
    assert_int_equal(ustor_cdb_request_sense(cdb, false, 18), 6);
    const uint8_t fixed[6] = {0x03, 0x00, 0, 0, 18, 0};
    expect_bytes(cdb, fixed, 6);
    assert_int_equal(ustor_cdb_request_sense(cdb, true, 252), 6);
    const uint8_t desc[6] = {0x03, 0x01, 0, 0, 252, 0};
    expect_bytes(cdb, desc, 6);
}

static void test_inquiry(void **state)
{
    (void)state;
    uint8_t cdb[6];
    memset(cdb, JUNK, sizeof(cdb));
    assert_int_equal(ustor_cdb_inquiry(cdb, true, 0xB0, 0x1234), 6);
    const uint8_t vpd[6] = {0x12, 0x01, 0xB0, 0x12, 0x34, 0};
    expect_bytes(cdb, vpd, 6);
    /* Standard INQUIRY: PAGE CODE must be zero even if a page is given. */
    assert_int_equal(ustor_cdb_inquiry(cdb, false, 0x80, 96), 6);
    const uint8_t std[6] = {0x12, 0x00, 0x00, 0x00, 96, 0};
    expect_bytes(cdb, std, 6);
}

static void test_mode_sense6(void **state)
{
    (void)state;
    uint8_t cdb[6];
    memset(cdb, JUNK, sizeof(cdb));
    assert_int_equal(ustor_cdb_mode_sense6(cdb, true, 2, 0x08, 0x00, 192), 6);
    const uint8_t want[6] = {0x1A, 0x08, 0x88, 0x00, 192, 0};
    expect_bytes(cdb, want, 6);
    /* Out-of-range page control and page code are masked, not spilled. */
    assert_int_equal(ustor_cdb_mode_sense6(cdb, false, 0xFF, 0xFF, 0xFF, 4), 6);
    const uint8_t masked[6] = {0x1A, 0x00, 0xFF, 0xFF, 4, 0};
    expect_bytes(cdb, masked, 6);
}

static void test_mode_sense10(void **state)
{
    (void)state;
    uint8_t cdb[10];
    memset(cdb, JUNK, sizeof(cdb));
    assert_int_equal(ustor_cdb_mode_sense10(cdb, false, 1, 0x3F, 0xFF, 0x0102), 10);
    const uint8_t want[10] = {0x5A, 0x00, 0x7F, 0xFF, 0, 0, 0, 0x01, 0x02, 0};
    expect_bytes(cdb, want, 10);
}

static void test_read_capacity(void **state)
{
    (void)state;
    uint8_t cdb[16];
    memset(cdb, JUNK, sizeof(cdb));
    assert_int_equal(ustor_cdb_read_capacity10(cdb), 10);
    const uint8_t rc10[10] = {0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    expect_bytes(cdb, rc10, 10);
    memset(cdb, JUNK, sizeof(cdb));
    assert_int_equal(ustor_cdb_read_capacity16(cdb, 0x01020304), 16);
    const uint8_t rc16[16] = {0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0, 0};
    expect_bytes(cdb, rc16, 16);
}

static void test_report_luns(void **state)
{
    (void)state;
    uint8_t cdb[12];
    memset(cdb, JUNK, sizeof(cdb));
    assert_int_equal(ustor_cdb_report_luns(cdb, 0x02, 0xAABBCCDD), 12);
    const uint8_t want[12] = {0xA0, 0, 0x02, 0, 0, 0, 0xAA, 0xBB, 0xCC, 0xDD, 0, 0};
    expect_bytes(cdb, want, 12);
}

static void test_read_write10(void **state)
{
    (void)state;
    uint8_t cdb[10];
    memset(cdb, JUNK, sizeof(cdb));
    assert_int_equal(ustor_cdb_read10(cdb, 0x12345678, 0x9ABC, false), 10);
    const uint8_t rd[10] = {0x28, 0x00, 0x12, 0x34, 0x56, 0x78, 0, 0x9A, 0xBC, 0};
    expect_bytes(cdb, rd, 10);
    memset(cdb, JUNK, sizeof(cdb));
    assert_int_equal(ustor_cdb_write10(cdb, 0xFFFFFFFF, 1, true), 10);
    const uint8_t wr[10] = {0x2A, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0x00, 0x01, 0};
    expect_bytes(cdb, wr, 10);
    assert_int_equal(ustor_cdb_read10(cdb, 0, 0, true), 10);
    const uint8_t rdfua[10] = {0x28, 0x08, 0, 0, 0, 0, 0, 0, 0, 0};
    expect_bytes(cdb, rdfua, 10);
}

static void test_read_write16(void **state)
{
    (void)state;
    uint8_t cdb[16];
    memset(cdb, JUNK, sizeof(cdb));
    assert_int_equal(ustor_cdb_read16(cdb, 0x0102030405060708ull, 0x11223344, true), 16);
    const uint8_t rd[16] = {0x88, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x22, 0x33, 0x44, 0, 0};
    expect_bytes(cdb, rd, 16);
    memset(cdb, JUNK, sizeof(cdb));
    assert_int_equal(ustor_cdb_write16(cdb, 0x100000000ull, 8, false), 16);
    const uint8_t wr[16] = {0x8A, 0x00, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0};
    expect_bytes(cdb, wr, 16);
}

static void test_sync_cache(void **state)
{
    (void)state;
    uint8_t cdb[16];
    memset(cdb, JUNK, sizeof(cdb));
    assert_int_equal(ustor_cdb_sync_cache10(cdb, 0, 0), 10);
    const uint8_t all[10] = {0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    expect_bytes(cdb, all, 10);
    assert_int_equal(ustor_cdb_sync_cache10(cdb, 0x0A0B0C0D, 0x0E0F), 10);
    const uint8_t range[10] = {0x35, 0, 0x0A, 0x0B, 0x0C, 0x0D, 0, 0x0E, 0x0F, 0};
    expect_bytes(cdb, range, 10);
    memset(cdb, JUNK, sizeof(cdb));
    assert_int_equal(ustor_cdb_sync_cache16(cdb, 0xFFFFFFFF00000001ull, 0x80000000u), 16);
    const uint8_t c16[16] = {0x91, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 1, 0x80, 0, 0, 0, 0, 0};
    expect_bytes(cdb, c16, 16);
}

static void test_unmap_and_write_same(void **state)
{
    (void)state;
    uint8_t cdb[16];
    memset(cdb, JUNK, sizeof(cdb));
    assert_int_equal(ustor_cdb_unmap(cdb, 24), 10);
    const uint8_t um[10] = {0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0};
    expect_bytes(cdb, um, 10);
    memset(cdb, JUNK, sizeof(cdb));
    assert_int_equal(ustor_cdb_write_same16(cdb, 0x1234, 0x10000, true), 16);
    const uint8_t ws[16] = {0x93, 0x08, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0, 1, 0, 0, 0, 0};
    expect_bytes(cdb, ws, 16);
    assert_int_equal(ustor_cdb_write_same16(cdb, 7, 1, false), 16);
    assert_int_equal(cdb[1], 0x00);
}

static void test_unmap_param_list(void **state)
{
    (void)state;
    uint8_t buf[64];
    memset(buf, JUNK, sizeof(buf));
    struct ustor_unmap_range ranges[2] = {
        {.lba = 0x0102030405060708ull, .nblocks = 0x11223344},
        {.lba = 9, .nblocks = 1},
    };
    assert_int_equal(ustor_unmap_param_build(buf, sizeof(buf), ranges, 2), 40);
    const uint8_t want[40] = {
        0, 38, 0, 32, 0, 0, 0, 0,
        1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0,
    };
    expect_bytes(buf, want, sizeof(want));
    /* Bytes past the list are not touched. */
    assert_int_equal(buf[40], JUNK);
}

static void test_unmap_param_list_rejects_bad_input(void **state)
{
    (void)state;
    uint8_t buf[24];
    struct ustor_unmap_range r = {.lba = 1, .nblocks = 1};
    assert_int_equal(ustor_unmap_param_build(buf, sizeof(buf), &r, 0), -EINVAL);
    assert_int_equal(ustor_unmap_param_build(buf, 23, &r, 1), -EINVAL);
    assert_int_equal(ustor_unmap_param_build(NULL, 24, &r, 1), -EINVAL);
    assert_int_equal(ustor_unmap_param_build(buf, 24, NULL, 1), -EINVAL);
    assert_int_equal(ustor_unmap_param_build(buf, 24, &r, 1), 24);
    /* 4096 descriptors would need a parameter list longer than 65535. */
    static struct ustor_unmap_range many[4096];
    static uint8_t big[8 + 16 * 4096];
    assert_int_equal(ustor_unmap_param_build(big, sizeof(big), many, 4096), -EINVAL);
    assert_int_equal(ustor_unmap_param_build(big, sizeof(big), many, 4095), 8 + 16 * 4095);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_test_unit_ready),
        cmocka_unit_test(test_request_sense),
        cmocka_unit_test(test_inquiry),
        cmocka_unit_test(test_mode_sense6),
        cmocka_unit_test(test_mode_sense10),
        cmocka_unit_test(test_read_capacity),
        cmocka_unit_test(test_report_luns),
        cmocka_unit_test(test_read_write10),
        cmocka_unit_test(test_read_write16),
        cmocka_unit_test(test_sync_cache),
        cmocka_unit_test(test_unmap_and_write_same),
        cmocka_unit_test(test_unmap_param_list),
        cmocka_unit_test(test_unmap_param_list_rejects_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
