/*
 * virtio_blk.h - virtio-blk over PCI (virtio 1.x "modern" interface):
 * register layout and wire formats, shared by the device model and by
 * drivers written against it (tests, the virtio miniport).
 * Numbers are from the OASIS virtio 1.1/1.2 specification.
 */
#ifndef USTOR_HW_VIRTIO_BLK_H
#define USTOR_HW_VIRTIO_BLK_H

#include <stdint.h>

/* PCI identity. */
#define VIRTIO_PCI_VENDOR_ID 0x1AF4
#define VIRTIO_PCI_DEVICE_ID_BLK_MODERN 0x1042
#define VIRTIO_PCI_REVISION_MODERN 1

/* Where the model puts things (drivers must find them through the
 * capabilities; these are here for tests). */
#define VBLK_BAR_MSIX 0
#define VBLK_BAR_VIRTIO 4
#define VBLK_COMMON_OFF 0x0000u
#define VBLK_ISR_OFF 0x1000u
#define VBLK_DEVCFG_OFF 0x2000u
#define VBLK_NOTIFY_OFF 0x3000u
#define VBLK_NOTIFY_MULTIPLIER 4u
#define VBLK_VIRTIO_BAR_SIZE 0x4000u
#define VBLK_MSIX_TABLE_OFF 0x0000u
#define VBLK_MSIX_PBA_OFF 0x1000u
#define VBLK_MSIX_BAR_SIZE 0x2000u
#define VBLK_MAX_QUEUES 64u

/* Vendor-specific capability (cap id 0x09) cfg_type values. */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG 5
/* Capability layout: +2 cap_len, +3 cfg_type, +4 bar, +5 id, +8 offset
 * (le32), +12 length (le32), +16 notify_off_multiplier (notify cap). */

/* Common configuration structure offsets. */
#define VIRTIO_PCI_COMMON_DFSELECT 0x00
#define VIRTIO_PCI_COMMON_DF 0x04
#define VIRTIO_PCI_COMMON_GFSELECT 0x08
#define VIRTIO_PCI_COMMON_GF 0x0C
#define VIRTIO_PCI_COMMON_MSIX 0x10
#define VIRTIO_PCI_COMMON_NUMQ 0x12
#define VIRTIO_PCI_COMMON_STATUS 0x14
#define VIRTIO_PCI_COMMON_CFGGENERATION 0x15
#define VIRTIO_PCI_COMMON_Q_SELECT 0x16
#define VIRTIO_PCI_COMMON_Q_SIZE 0x18
#define VIRTIO_PCI_COMMON_Q_MSIX 0x1A
#define VIRTIO_PCI_COMMON_Q_ENABLE 0x1C
#define VIRTIO_PCI_COMMON_Q_NOFF 0x1E
#define VIRTIO_PCI_COMMON_Q_DESCLO 0x20
#define VIRTIO_PCI_COMMON_Q_DESCHI 0x24
#define VIRTIO_PCI_COMMON_Q_AVAILLO 0x28
#define VIRTIO_PCI_COMMON_Q_AVAILHI 0x2C
#define VIRTIO_PCI_COMMON_Q_USEDLO 0x30
#define VIRTIO_PCI_COMMON_Q_USEDHI 0x34
#define VIRTIO_PCI_COMMON_SIZE 0x38

#define VIRTIO_MSI_NO_VECTOR 0xFFFF

/* Device status bits. */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* ISR status bits. */
#define VIRTIO_ISR_QUEUE 1
#define VIRTIO_ISR_CONFIG 2

/* Feature bits. */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_GEOMETRY 4
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_TOPOLOGY 10
#define VIRTIO_BLK_F_CONFIG_WCE 11
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

/* struct virtio_blk_config offsets (device configuration). */
#define VIRTIO_BLK_CFG_CAPACITY 0                   /* le64 */
#define VIRTIO_BLK_CFG_SIZE_MAX 8                   /* le32 */
#define VIRTIO_BLK_CFG_SEG_MAX 12                   /* le32 */
#define VIRTIO_BLK_CFG_GEOMETRY 16                  /* le16 cyl, u8 heads, u8 sectors */
#define VIRTIO_BLK_CFG_BLK_SIZE 20                  /* le32 */
#define VIRTIO_BLK_CFG_TOPOLOGY 24                  /* u8 exp, u8 align, le16 min_io, le32 opt_io */
#define VIRTIO_BLK_CFG_WRITEBACK 32                 /* u8 */
#define VIRTIO_BLK_CFG_NUM_QUEUES 34                /* le16 */
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36       /* le32 */
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG 40           /* le32 */
#define VIRTIO_BLK_CFG_DISCARD_SECTOR_ALIGNMENT 44  /* le32 */
#define VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS 48  /* le32 */
#define VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG 52      /* le32 */
#define VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP 56    /* u8 */
#define VIRTIO_BLK_CFG_SIZE 60

/* Requests. */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_SECTOR_SIZE 512u

struct virtio_blk_outhdr {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

struct virtio_blk_discard_write_zeroes {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags; /* bit 0: unmap */
};
#define VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 1u

/* Split virtqueue. */
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct virtq_used_elem {
    uint32_t id;
    uint32_t len;
};

/* Ring sizes in bytes for a queue of n entries (with the event fields). */
#define VIRTQ_DESC_BYTES(n) (16u * (n))
#define VIRTQ_AVAIL_BYTES(n) (6u + 2u * (n))
#define VIRTQ_USED_BYTES(n) (6u + 8u * (n))

#endif /* USTOR_HW_VIRTIO_BLK_H */
