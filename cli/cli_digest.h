/* cli_digest.h - CRC-32C (Castagnoli) and MD5 for data verification. */
#ifndef USTOR_CLI_DIGEST_H
#define USTOR_CLI_DIGEST_H

#include <stddef.h>
#include <stdint.h>

/* crc32c of buf continuing from crc (start with 0). */
uint32_t cli_crc32c(uint32_t crc, const void *buf, size_t len);
/* RFC 1321 MD5 of buf into out[16]. */
void cli_md5(const void *buf, size_t len, uint8_t out[16]);

#endif
