/* cli_digest.h - CRC-32C (Castagnoli) and MD5 for data verification. */
#ifndef USTOR_CLI_DIGEST_H
#define USTOR_CLI_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* crc32c of buf continuing from crc (start with 0): the CPU's crc32
 * instruction where it has one (SSE4.2), slicing-by-8 tables otherwise. */
uint32_t cli_crc32c(uint32_t crc, const void *buf, size_t len);
/* Each implementation by itself (the tests compare them), and whether the
 * instruction is in use. */
uint32_t cli_crc32c_sw(uint32_t crc, const void *buf, size_t len);
uint32_t cli_crc32c_hw(uint32_t crc, const void *buf, size_t len);
bool cli_crc32c_has_hw(void);
/* RFC 1321 MD5 of buf into out[16]. */
void cli_md5(const void *buf, size_t len, uint8_t out[16]);

#endif
