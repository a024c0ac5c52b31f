/* Unit tests for cli/cli_digest.c against published check values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
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

/* An independent oracle: the bit-at-a-time definition of CRC-32C. */
static uint32_t crc32c_bitwise(uint32_t crc, const uint8_t *p, size_t len)
{
    crc = ~crc;
    while (len--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return ~crc;
}

/* The instruction and the tables agree with the definition at every
 * length and alignment (the head before an 8-byte boundary, the 8-byte
 * body, the tail), and continuing from a partial CRC works in both. */
static void test_crc32c_implementations_agree(void **state)
{
    (void)state;
    static uint8_t buf[4096 + 16];
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
    static const size_t lens[] = { 0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 511, 512, 4048, 4096 };
    for (size_t off = 0; off < 8; off++) {
        for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
            size_t n = lens[k];
            uint32_t want = crc32c_bitwise(0, buf + off, n);
            assert_int_equal(cli_crc32c(0, buf + off, n), want);
            assert_int_equal(cli_crc32c_sw(0, buf + off, n), want);
            assert_int_equal(cli_crc32c_hw(0, buf + off, n), want);
            size_t cut = n / 3;
            assert_int_equal(cli_crc32c_sw(cli_crc32c_sw(0, buf + off, cut), buf + off + cut, n - cut), want);
            assert_int_equal(cli_crc32c_hw(cli_crc32c_hw(0, buf + off, cut), buf + off + cut, n - cut), want);
        }
    }
    assert_int_equal(cli_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(cli_crc32c_hw(0, "123456789", 9), 0xE3069283u);
#if defined(__x86_64__)
    /* Every x86-64 CPU this runs on since 2008 has SSE4.2: the fast path
     * must be the one in use, or verified runs lose half their speed. */
    assert_true(cli_crc32c_has_hw() == (bool)__builtin_cpu_supports("sse4.2"));
#endif
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
    /* many blocks: one million 'a' (15 625 blocks, every step of every
     * round many times over) */
    static char million[1000000];
    memset(million, 'a', sizeof(million));
    cli_md5(million, sizeof(million), d);
    hexify(d, hex);
    assert_string_equal(hex, "7707d6ae4e027c70eea2a935c2296f21");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_check_values),
        cmocka_unit_test(test_crc32c_implementations_agree),
        cmocka_unit_test(test_md5_rfc1321_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
