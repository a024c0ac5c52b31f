/*
 * blk_internal.h - helpers shared by the block layer's source files.
 */
#ifndef USTOR_BLK_INTERNAL_H
#define USTOR_BLK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* SCSI fields are big-endian whatever the host is. */
static inline void blk_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void blk_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void blk_put_be64(uint8_t *p, uint64_t v)
{
    blk_put_be32(p, (uint32_t)(v >> 32));
    blk_put_be32(p + 4, (uint32_t)v);
}
static inline uint16_t blk_get_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t blk_get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t blk_get_be64(const uint8_t *p)
{
    return ((uint64_t)blk_get_be32(p) << 32) | blk_get_be32(p + 4);
}

/* ---- shared between sense.c and blockdev.c ---- */
struct ustor_sense;

/* How a failed command should be retried: -1 not at all, otherwise after
 * that many milliseconds.  srb_status may carry flag bits. */
int blk_retry_delay_ms(uint8_t srb_status, uint8_t scsi_status, const struct ustor_sense *sense);

/* Delay before retrying a LUN that is becoming ready; short because the
 * simulated devices become ready quickly, and bounded by max_retries. */
#define BLK_NOT_READY_DELAY_MS 20
#define BLK_BUSY_DELAY_MS 5

#endif /* USTOR_BLK_INTERNAL_H */
