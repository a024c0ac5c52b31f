/* Unit tests for cli/cli_digest.c against published check values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cli_digest.h"

static void hexify(const uint8_t d[16], char out[33])
{
    for (int i = 0; i < 16; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_crc32c_check_values(void **state)
{
    (void)state;
    /* the CRC catalogue's check value for CRC-32C */
    assert_int_equal(cli_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(cli_crc32c(0, "", 0), 0);
    uint8_t zeros[32] = { 0 };
    assert_int_equal(cli_crc32c(0, zeros, 32), 0x8A9136AAu); /* RFC 3720 B.4 */
    /* incremental equals one shot */
    uint32_t part = cli_crc32c(0, "12345", 5);
    assert_int_equal(cli_crc32c(part, "6789", 4), 0xE3069283u);
}

static void test_md5_rfc1321_vectors(void **state)
{
    (void)state;
    static const struct { const char *in, *out; } v[] = {
        { "", "d41d8cd98f00b204e9800998ecf8427e" },
        { "a", "0cc175b9c0f1b6a831c399e269772661" },
        { "abc", "900150983cd24fb0d6963f7d28e17f72" },
        { "message digest", "f96b697d7cb7938d525a2f31aaf161d0" },
        { "abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b" },
        { "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
          "57edf4a22be3c955ac49da2e2107b67a" },
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        uint8_t d[16];
        char hex[33];
        cli_md5(v[i].in, strlen(v[i].in), d);
        hexify(d, hex);
        assert_string_equal(hex, v[i].out);
    }
    /* 56 bytes: the length no longer fits in the first padding block */
    uint8_t d[16];
    char hex[33];
    cli_md5("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, d);
    hexify(d, hex);
    assert_string_equal(hex, "8215ef0796a20bcaaae116d3876c664a");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_check_values),
        cmocka_unit_test(test_md5_rfc1321_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
