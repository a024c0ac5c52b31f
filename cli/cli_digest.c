/* cli_digest.c - CRC-32C and MD5 (RFC 1321) for data verification.
 *
 * CRC-32C is on the data path of every verified I/O (once when a block is
 * written, once when it is read back), and byte-at-a-time tables made it
 * the largest cost of a verified `ustor run` (40 % of the CPU time in a
 * profile).  It uses the SSE4.2 crc32 instruction where the CPU has it
 * (8 bytes per instruction) and slicing-by-8 tables elsewhere; both give
 * the same value (tests/unit/cli/test_cli_digest.c compares them). */
#include "cli_digest.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define HAVE_CRC32C_SSE42 1
#endif

#define CRC32C_POLY 0x82F63B78u /* reflected Castagnoli polynomial */

/* crc_table[k][b]: the CRC of byte b followed by k zero bytes. */
static uint32_t crc_table[8][256];
static uint32_t (*crc_impl)(uint32_t crc, const uint8_t *p, size_t len);

static uint32_t crc_sw_raw(uint32_t crc, const uint8_t *p, size_t len)
{
    while (len && ((uintptr_t)p & 7)) {
        crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        len--;
    }
    for (; len >= 8; p += 8, len -= 8) {
        /* Little-endian load, as the table layout assumes. */
        uint32_t lo = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        lo ^= crc;
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^ crc_table[5][(lo >> 16) & 0xff] ^
              crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
              crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
    }
    while (len--)
        crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#ifdef HAVE_CRC32C_SSE42
__attribute__((target("sse4.2"))) static uint32_t crc_hw_raw(uint32_t crc, const uint8_t *p, size_t len)
{
    while (len && ((uintptr_t)p & 7)) {
        crc = _mm_crc32_u8(crc, *p++);
        len--;
    }
    uint64_t c = crc;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
    }
    crc = (uint32_t)c;
    while (len--)
        crc = _mm_crc32_u8(crc, *p++);
    return crc;
}
#endif

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        crc_table[0][i] = c;
    }
    for (int k = 1; k < 8; k++)
        for (uint32_t i = 0; i < 256; i++)
            crc_table[k][i] = crc_table[0][crc_table[k - 1][i] & 0xff] ^ (crc_table[k - 1][i] >> 8);
    crc_impl = crc_sw_raw;
#ifdef HAVE_CRC32C_SSE42
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2"))
        crc_impl = crc_hw_raw;
#endif
}

static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

uint32_t cli_crc32c(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc_once, crc_init);
    return ~crc_impl(~crc, buf, len);
}

/* The two implementations by name, for the tests. */
uint32_t cli_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc_once, crc_init);
    return ~crc_sw_raw(~crc, buf, len);
}

/* The instruction's version; the table one where the CPU lacks it. */
uint32_t cli_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc_once, crc_init);
#ifdef HAVE_CRC32C_SSE42
    if (crc_impl == crc_hw_raw)
        return ~crc_hw_raw(~crc, buf, len);
#endif
    return ~crc_sw_raw(~crc, buf, len);
}

bool cli_crc32c_has_hw(void)
{
    pthread_once(&crc_once, crc_init);
#ifdef HAVE_CRC32C_SSE42
    return crc_impl == crc_hw_raw;
#else
    return false;
#endif
}

/* ---- MD5 ---- */

static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};
static const uint8_t md5_r[64] = {
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
    5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
};

/* RFC 1321, section 3.4: the four round functions, and one step with
 * constant message index, constant and shift (all 64 written out, as in
 * the RFC's reference code, so that none is computed at run time: the
 * looped version with those computed cost half a verified run's speed
 * with --verify=md5). */
#define MD5_F(x, y, z) (((x) & (y)) | (~(x) & (z)))
#define MD5_G(x, y, z) (((x) & (z)) | ((y) & ~(z)))
#define MD5_H(x, y, z) ((x) ^ (y) ^ (z))
#define MD5_I(x, y, z) ((y) ^ ((x) | ~(z)))
#define MD5_STEP(f, a, b, c, d, m, i)                                       \
    do {                                                                    \
        uint32_t t_ = (a) + MD5_##f((b), (c), (d)) + md5_k[i] + (m);        \
        (a) = (b) + ((t_ << md5_r[i]) | (t_ >> (32 - md5_r[i])));          \
    } while (0)

static void md5_block(uint32_t h[4], const uint8_t *blk)
{
    uint32_t w[16];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)blk[i * 4] | (uint32_t)blk[i * 4 + 1] << 8 |
               (uint32_t)blk[i * 4 + 2] << 16 | (uint32_t)blk[i * 4 + 3] << 24;
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    /* round 1 */
    MD5_STEP(F, a, b, c, d, w[0], 0);
    MD5_STEP(F, d, a, b, c, w[1], 1);
    MD5_STEP(F, c, d, a, b, w[2], 2);
    MD5_STEP(F, b, c, d, a, w[3], 3);
    MD5_STEP(F, a, b, c, d, w[4], 4);
    MD5_STEP(F, d, a, b, c, w[5], 5);
    MD5_STEP(F, c, d, a, b, w[6], 6);
    MD5_STEP(F, b, c, d, a, w[7], 7);
    MD5_STEP(F, a, b, c, d, w[8], 8);
    MD5_STEP(F, d, a, b, c, w[9], 9);
    MD5_STEP(F, c, d, a, b, w[10], 10);
    MD5_STEP(F, b, c, d, a, w[11], 11);
    MD5_STEP(F, a, b, c, d, w[12], 12);
    MD5_STEP(F, d, a, b, c, w[13], 13);
    MD5_STEP(F, c, d, a, b, w[14], 14);
    MD5_STEP(F, b, c, d, a, w[15], 15);
    /* round 2 */
    MD5_STEP(G, a, b, c, d, w[1], 16);
    MD5_STEP(G, d, a, b, c, w[6], 17);
    MD5_STEP(G, c, d, a, b, w[11], 18);
    MD5_STEP(G, b, c, d, a, w[0], 19);
    MD5_STEP(G, a, b, c, d, w[5], 20);
    MD5_STEP(G, d, a, b, c, w[10], 21);
    MD5_STEP(G, c, d, a, b, w[15], 22);
    MD5_STEP(G, b, c, d, a, w[4], 23);
    MD5_STEP(G, a, b, c, d, w[9], 24);
    MD5_STEP(G, d, a, b, c, w[14], 25);
    MD5_STEP(G, c, d, a, b, w[3], 26);
    MD5_STEP(G, b, c, d, a, w[8], 27);
    MD5_STEP(G, a, b, c, d, w[13], 28);
    MD5_STEP(G, d, a, b, c, w[2], 29);
    MD5_STEP(G, c, d, a, b, w[7], 30);
    MD5_STEP(G, b, c, d, a, w[12], 31);
    /* round 3 */
    MD5_STEP(H, a, b, c, d, w[5], 32);
    MD5_STEP(H, d, a, b, c, w[8], 33);
    MD5_STEP(H, c, d, a, b, w[11], 34);
    MD5_STEP(H, b, c, d, a, w[14], 35);
    MD5_STEP(H, a, b, c, d, w[1], 36);
    MD5_STEP(H, d, a, b, c, w[4], 37);
    MD5_STEP(H, c, d, a, b, w[7], 38);
    MD5_STEP(H, b, c, d, a, w[10], 39);
    MD5_STEP(H, a, b, c, d, w[13], 40);
    MD5_STEP(H, d, a, b, c, w[0], 41);
    MD5_STEP(H, c, d, a, b, w[3], 42);
    MD5_STEP(H, b, c, d, a, w[6], 43);
    MD5_STEP(H, a, b, c, d, w[9], 44);
    MD5_STEP(H, d, a, b, c, w[12], 45);
    MD5_STEP(H, c, d, a, b, w[15], 46);
    MD5_STEP(H, b, c, d, a, w[2], 47);
    /* round 4 */
    MD5_STEP(I, a, b, c, d, w[0], 48);
    MD5_STEP(I, d, a, b, c, w[7], 49);
    MD5_STEP(I, c, d, a, b, w[14], 50);
    MD5_STEP(I, b, c, d, a, w[5], 51);
    MD5_STEP(I, a, b, c, d, w[12], 52);
    MD5_STEP(I, d, a, b, c, w[3], 53);
    MD5_STEP(I, c, d, a, b, w[10], 54);
    MD5_STEP(I, b, c, d, a, w[1], 55);
    MD5_STEP(I, a, b, c, d, w[8], 56);
    MD5_STEP(I, d, a, b, c, w[15], 57);
    MD5_STEP(I, c, d, a, b, w[6], 58);
    MD5_STEP(I, b, c, d, a, w[13], 59);
    MD5_STEP(I, a, b, c, d, w[4], 60);
    MD5_STEP(I, d, a, b, c, w[11], 61);
    MD5_STEP(I, c, d, a, b, w[2], 62);
    MD5_STEP(I, b, c, d, a, w[9], 63);
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
}

void cli_md5(const void *buf, size_t len, uint8_t out[16])
{
    uint32_t h[4] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476 };
    const uint8_t *p = buf;
    size_t left = len;
    while (left >= 64) {
        md5_block(h, p);
        p += 64;
        left -= 64;
    }
    uint8_t tail[128] = { 0 };
    memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t tlen = left + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[tlen - 8 + (size_t)i] = (uint8_t)(bits >> (8 * i));
    md5_block(h, tail);
    if (tlen == 128)
        md5_block(h, tail + 64);
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 4; k++)
            out[i * 4 + k] = (uint8_t)(h[i] >> (8 * k));
}
