/* Unit tests for cli/cli_verify.c: write/read round trips and what a
 * mismatch report says for each kind of corruption. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cli_digest.h"
#include "cli_verify.h"

#define BS 4096u

static void test_never_written_is_not_checked(void **state)
{
    (void)state;
    struct cli_verify_table t;
    assert_int_equal(cli_verify_init(&t, CLI_VERIFY_CRC32C, 0, 16, BS, 1), 0);
    uint8_t buf[BS];
    memset(buf, 0x5a, sizeof(buf));
    struct cli_mismatch mm;
    assert_int_equal(cli_verify_check(&t, 3, 3 * 8, buf, &mm), 1);
    cli_verify_free(&t);
}

static void round_trip(enum cli_verify method)
{
    struct cli_verify_table t;
    assert_int_equal(cli_verify_init(&t, method, 2, 16, BS, 99), 0);
    uint8_t buf[BS];
    uint32_t g1 = cli_verify_fill(&t, 5, 40, buf);
    assert_int_equal(g1, 1);
    cli_verify_commit(&t, 5, g1, true);
    struct cli_mismatch mm;
    assert_int_equal(cli_verify_check(&t, 5, 40, buf, &mm), 0);
    /* a second write changes the content: the old data is now stale */
    uint8_t old[BS];
    memcpy(old, buf, BS);
    uint32_t g2 = cli_verify_fill(&t, 5, 40, buf);
    assert_int_equal(g2, 2);
    assert_memory_not_equal(old, buf, BS);
    cli_verify_commit(&t, 5, g2, true);
    assert_int_equal(cli_verify_check(&t, 5, 40, buf, &mm), 0);
    assert_int_equal(cli_verify_check(&t, 5, 40, old, &mm), -1);
    assert_int_equal(mm.lun, 2);
    assert_int_equal(mm.lba, 40);
    assert_non_null(strstr(mm.what, "stale data"));
    assert_non_null(strstr(mm.what, "lba 40"));
    cli_verify_free(&t);
}

static void test_round_trip_crc32c(void **state) { (void)state; round_trip(CLI_VERIFY_CRC32C); }
static void test_round_trip_md5(void **state) { (void)state; round_trip(CLI_VERIFY_MD5); }
static void test_round_trip_pattern(void **state) { (void)state; round_trip(CLI_VERIFY_PATTERN); }

static void test_header_carries_lba_and_checksum(void **state)
{
    (void)state;
    struct cli_verify_table t;
    assert_int_equal(cli_verify_init(&t, CLI_VERIFY_CRC32C, 0, 4, BS, 7), 0);
    uint8_t buf[BS];
    cli_verify_fill(&t, 1, 8, buf);
    assert_memory_equal(buf, "USTORVFY", 8);
    uint64_t lba = 0;
    for (int i = 7; i >= 0; i--)
        lba = lba << 8 | buf[8 + i];
    assert_int_equal(lba, 8);
    uint32_t crc = (uint32_t)buf[32] | (uint32_t)buf[33] << 8 | (uint32_t)buf[34] << 16 | (uint32_t)buf[35] << 24;
    assert_int_equal(crc, cli_crc32c(0, buf + CLI_VERIFY_HEADER, BS - CLI_VERIFY_HEADER));
    cli_verify_free(&t);
}

static void test_corruption_reports_first_byte(void **state)
{
    (void)state;
    struct cli_verify_table t;
    assert_int_equal(cli_verify_init(&t, CLI_VERIFY_CRC32C, 0, 8, BS, 3), 0);
    uint8_t buf[BS];
    uint32_t g = cli_verify_fill(&t, 2, 16, buf);
    cli_verify_commit(&t, 2, g, true);
    uint8_t bad[BS];
    memcpy(bad, buf, BS);
    bad[1000] ^= 0xff;
    bad[2000] ^= 0x01;
    struct cli_mismatch mm;
    assert_int_equal(cli_verify_check(&t, 2, 16, bad, &mm), -1);
    assert_int_equal(mm.byte, 1000);
    assert_int_equal(mm.expected, buf[1000]);
    assert_int_equal(mm.actual, bad[1000]);
    assert_non_null(strstr(mm.what, "crc32c mismatch"));
    assert_non_null(strstr(mm.what, "first differing byte 1000"));

    /* zeroes: the header is gone */
    memset(bad, 0, BS);
    assert_int_equal(cli_verify_check(&t, 2, 16, bad, &mm), -1);
    assert_int_equal(mm.byte, 0);
    assert_non_null(strstr(mm.what, "no verify header"));

    /* another block's data (misdirected write) */
    uint32_t g5 = cli_verify_fill(&t, 5, 40, bad);
    cli_verify_commit(&t, 5, g5, true);
    assert_int_equal(cli_verify_check(&t, 2, 16, bad, &mm), -1);
    assert_non_null(strstr(mm.what, "another block"));
    assert_non_null(strstr(mm.what, "lba 40"));
    cli_verify_free(&t);
}

static void test_failed_write_makes_block_unknown(void **state)
{
    (void)state;
    struct cli_verify_table t;
    assert_int_equal(cli_verify_init(&t, CLI_VERIFY_CRC32C, 0, 8, BS, 3), 0);
    uint8_t buf[BS];
    uint32_t g = cli_verify_fill(&t, 1, 8, buf);
    cli_verify_commit(&t, 1, g, false);
    struct cli_mismatch mm;
    memset(buf, 0, BS);
    assert_int_equal(cli_verify_check(&t, 1, 8, buf, &mm), 1);
    /* the next good write is checked again */
    g = cli_verify_fill(&t, 1, 8, buf);
    assert_int_not_equal(g, CLI_GEN_UNKNOWN);
    cli_verify_commit(&t, 1, g, true);
    assert_int_equal(cli_verify_check(&t, 1, 8, buf, &mm), 0);
    cli_verify_free(&t);
}

static void test_claim_is_exclusive(void **state)
{
    (void)state;
    struct cli_verify_table t;
    assert_int_equal(cli_verify_init(&t, CLI_VERIFY_NONE, 0, 8, BS, 3), 0);
    assert_true(cli_verify_claim(&t, 4));
    assert_false(cli_verify_claim(&t, 4));
    assert_true(cli_verify_claim(&t, 5));
    cli_verify_release(&t, 4);
    assert_true(cli_verify_claim(&t, 4));
    /* method none never checks */
    uint8_t buf[BS] = { 0 };
    uint32_t g = cli_verify_fill(&t, 4, 32, buf);
    cli_verify_commit(&t, 4, g, true);
    struct cli_mismatch mm;
    assert_int_equal(cli_verify_check(&t, 4, 32, buf, &mm), 1);
    cli_verify_free(&t);
}

static void test_rejects_tiny_blocks(void **state)
{
    (void)state;
    struct cli_verify_table t;
    assert_int_not_equal(cli_verify_init(&t, CLI_VERIFY_CRC32C, 0, 8, 64, 3), 0);
    assert_int_not_equal(cli_verify_init(&t, CLI_VERIFY_CRC32C, 0, 0, BS, 3), 0);
}

static void test_large_blocks(void **state)
{
    (void)state;
    struct cli_verify_table t;
    uint32_t bs = 64 * 1024;
    assert_int_equal(cli_verify_init(&t, CLI_VERIFY_MD5, 1, 2, bs, 3), 0);
    uint8_t *buf = malloc(bs);
    uint32_t g = cli_verify_fill(&t, 1, 128, buf);
    cli_verify_commit(&t, 1, g, true);
    struct cli_mismatch mm;
    assert_int_equal(cli_verify_check(&t, 1, 128, buf, &mm), 0);
    buf[bs - 1] ^= 1;
    assert_int_equal(cli_verify_check(&t, 1, 128, buf, &mm), -1);
    assert_int_equal(mm.byte, bs - 1);
    assert_non_null(strstr(mm.what, "md5 mismatch"));
    free(buf);
    cli_verify_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_never_written_is_not_checked),
        cmocka_unit_test(test_round_trip_crc32c),
        cmocka_unit_test(test_round_trip_md5),
        cmocka_unit_test(test_round_trip_pattern),
        cmocka_unit_test(test_header_carries_lba_and_checksum),
        cmocka_unit_test(test_corruption_reports_first_byte),
        cmocka_unit_test(test_failed_write_makes_block_unknown),
        cmocka_unit_test(test_claim_is_exclusive),
        cmocka_unit_test(test_rejects_tiny_blocks),
        cmocka_unit_test(test_large_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
