/*
 * virtio_blk.c - virtio-blk device model over PCI (virtio 1.x modern
 * interface), written from the OASIS virtio specification.
 *
 * The driver's rings and buffers are reached only through the simulated
 * physical address space (physmem.h).  Commands flow through devsim, which
 * adds latency, bounds what is in flight and injects faults.
 *
 * Locking: dev->lock guards the common configuration (feature words,
 * status, queue registers).  A queue's ring cursors (last_avail, used_idx)
 * belong to the devsim worker serving it, which holds its pass lock; a
 * driver reset takes every pass lock (ustor_devsim_reset) and then
 * dev->lock, so dev->lock is never held while waiting for a worker.
 */
#include "virtio_blk.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devsim.h"
#include "pci.h"
#include "physmem.h"
#include "ustor/hw.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "virtio structures are little-endian; this model assumes a little-endian host"
#endif

#define FEAT(bit) (1ull << (bit))
#define VBLK_FEATURES                                                                        \
    (FEAT(VIRTIO_F_VERSION_1) | FEAT(VIRTIO_BLK_F_SIZE_MAX) | FEAT(VIRTIO_BLK_F_SEG_MAX) |  \
     FEAT(VIRTIO_BLK_F_BLK_SIZE) | FEAT(VIRTIO_BLK_F_FLUSH) | FEAT(VIRTIO_BLK_F_TOPOLOGY) | \
     FEAT(VIRTIO_BLK_F_MQ) | FEAT(VIRTIO_BLK_F_DISCARD) | FEAT(VIRTIO_BLK_F_WRITE_ZEROES) | \
     FEAT(VIRTIO_RING_F_INDIRECT_DESC) | FEAT(VIRTIO_RING_F_EVENT_IDX))

#define VBLK_SIZE_MAX (1u << 20)      /* bytes in one data segment */
#define VBLK_MAX_DISCARD_SECTORS 65536u
#define VBLK_MAX_DISCARD_SEG 16u
#define VBLK_DISCARD_ALIGNMENT 8u     /* sectors (4 KiB) */
#define VBLK_MAX_WZ_SECTORS 65536u
#define VBLK_MAX_WZ_SEG 16u

struct vblk_queue {
    /* Driver-programmed, under dev->lock. */
    uint16_t size;
    uint16_t msix_vector;
    bool enabled;
    uint64_t desc, avail, used;
    /* Worker-owned cursors. */
    uint16_t last_avail;
    uint16_t used_idx;
    uint16_t signalled_used; /* used_idx when interrupts were last decided */
};

struct vblk_seg {
    uint64_t addr;
    uint32_t len;
    bool write;
};

struct vblk_req {
    struct ustor_devsim_req base; /* first: devsim hands it back */
    uint16_t head;
    uint32_t used_len;
    /* Ring snapshot taken at fetch (the driver cannot move rings while
     * DRIVER_OK without a reset, which discards requests first). */
    uint64_t desc_table, used_ring, avail_ring;
    uint16_t qsize;
    uint64_t features;
};

struct vblk {
    struct ustor_bus_device bus;
    struct ustor_pci_dev pci;
    struct ustor_devsim sim;
    bool sim_started;
    char name[32];

    pthread_mutex_t lock;
    uint64_t driver_features;
    uint32_t dfselect, gfselect;
    uint16_t msix_config;
    uint16_t queue_select;
    _Atomic uint8_t status;
    _Atomic uint8_t isr;
    uint8_t config_generation;

    unsigned num_queues, queue_size_max;
    struct vblk_queue *vqs;
    uint8_t devcfg[VIRTIO_BLK_CFG_SIZE];

    uint64_t capacity; /* sectors */
    uint8_t *mem;      /* memory backing */
    int fd;            /* file backing, or -1 */
    char serial[VIRTIO_BLK_ID_BYTES];

    atomic_uint_least64_t st_requests, st_reads, st_writes, st_flushes, st_others;
    atomic_uint_least64_t st_bytes_read, st_bytes_written, st_errors, st_bad, st_dma_faults;
    atomic_uint_least64_t st_irqs;
};

static const struct ustor_bus_ops vblk_ops;
static atomic_uint g_vblk_serial_counter;

/* ---- small helpers ---------------------------------------------------- */

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- interrupts --------------------------------------------------------- */

static void signal_vector(struct vblk *d, uint16_t vector, uint8_t isr_bits)
{
    if (ustor_pci_msix_enabled(&d->pci)) {
        if (vector == VIRTIO_MSI_NO_VECTOR)
            return;
        if (ustor_pci_signal(&d->pci, vector))
            atomic_fetch_add(&d->st_irqs, 1);
        return;
    }
    /* INTx: the ISR register says why; a spurious one leaves it alone. */
    if (isr_bits)
        atomic_fetch_or(&d->isr, isr_bits);
    if (ustor_pci_signal(&d->pci, 0))
        atomic_fetch_add(&d->st_irqs, 1);
}

static void config_interrupt(struct vblk *d)
{
    pthread_mutex_lock(&d->lock);
    uint16_t vec = d->msix_config;
    pthread_mutex_unlock(&d->lock);
    signal_vector(d, vec, VIRTIO_ISR_CONFIG);
}

/* The device cannot go on (ring unreachable or corrupt): it asks for a
 * reset, drops what it holds and tells the driver (virtio 1.1 2.1.2). */
static void device_error(struct vblk *d)
{
    uint8_t old = atomic_fetch_or(&d->status, VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    atomic_store(&d->sim.needs_reset, true);
    if (!(old & VIRTIO_STATUS_DEVICE_NEEDS_RESET) && (old & VIRTIO_STATUS_DRIVER_OK))
        config_interrupt(d);
}

/* ---- data movement ------------------------------------------------------- */

/* Moves len bytes between the backing store at byte offset `pos` and the
 * driver's buffer at phys.  to_guest: a read from the disk. */
static bool backing_xfer(struct vblk *d, uint64_t pos, uint64_t phys, uint32_t len, bool to_guest)
{
    uint8_t *p = ustor_phys_dma_begin(d->name, phys, len, to_guest);
    if (!p) {
        atomic_fetch_add(&d->st_dma_faults, 1);
        return false;
    }
    bool ok = true;
    if (d->fd < 0) {
        if (to_guest)
            memcpy(p, d->mem + pos, len);
        else
            memcpy(d->mem + pos, p, len);
    } else {
        size_t done = 0;
        while (done < len) {
            ssize_t n = to_guest ? pread(d->fd, p + done, len - done, (off_t)(pos + done))
                                 : pwrite(d->fd, p + done, len - done, (off_t)(pos + done));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                if (n == 0 && to_guest) /* past EOF of a sparse file: zeros */
                    memset(p + done, 0, len - done);
                else
                    ok = false;
                break;
            }
            done += (size_t)n;
        }
    }
    ustor_phys_dma_end();
    return ok;
}

static bool backing_zero(struct vblk *d, uint64_t sector, uint64_t count, bool unmap)
{
    uint64_t pos = sector * VIRTIO_BLK_SECTOR_SIZE, len = count * VIRTIO_BLK_SECTOR_SIZE;
    if (d->fd < 0) {
        memset(d->mem + pos, 0, len);
        return true;
    }
#ifdef FALLOC_FL_PUNCH_HOLE
    if (unmap && fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)pos, (off_t)len) == 0)
        return true;
#else
    (void)unmap;
#endif
    static const uint8_t zeros[65536];
    while (len) {
        size_t chunk = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
        ssize_t n = pwrite(d->fd, zeros, chunk, (off_t)pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        pos += (uint64_t)n;
        len -= (uint64_t)n;
    }
    return true;
}

/* Copies `len` bytes starting `skip` bytes into the device-readable part
 * of the chain. */
static bool gather(struct vblk *d, const struct vblk_seg *segs, unsigned n, uint64_t skip,
                   void *buf, uint64_t len)
{
    uint8_t *out = buf;
    for (unsigned i = 0; i < n && len; i++) {
        if (segs[i].write)
            break;
        if (skip >= segs[i].len) {
            skip -= segs[i].len;
            continue;
        }
        uint64_t take = segs[i].len - skip;
        if (take > len)
            take = len;
        if (!ustor_phys_read(d->name, segs[i].addr + skip, out, take)) {
            atomic_fetch_add(&d->st_dma_faults, 1);
            return false;
        }
        out += take;
        len -= take;
        skip = 0;
    }
    return len == 0;
}

/* ---- descriptor chains ---------------------------------------------------- */

static bool read_desc(struct vblk *d, uint64_t table, unsigned idx, struct virtq_desc *out)
{
    if (!ustor_phys_read(d->name, table + 16ull * idx, out, sizeof(*out))) {
        atomic_fetch_add(&d->st_dma_faults, 1);
        return false;
    }
    return true;
}

/* Walks the chain at req->head into segs (at most max).  Returns the
 * number of segments, -1 if the chain is malformed, -2 if the descriptor
 * table itself could not be reached. */
static int walk_chain(struct vblk *d, const struct vblk_req *req, struct vblk_seg *segs, unsigned max)
{
    uint64_t table = req->desc_table;
    unsigned table_size = req->qsize;
    unsigned idx = req->head, n = 0, steps = 0;
    bool indirect = false;
    for (;;) {
        struct virtq_desc desc;
        if (idx >= table_size)
            return -1;
        if (!read_desc(d, table, idx, &desc))
            return indirect ? -1 : -2;
        if (desc.flags & VIRTQ_DESC_F_INDIRECT) {
            /* One level only, never combined with NEXT (virtio 2.7.5.3). */
            if (indirect || !(req->features & FEAT(VIRTIO_RING_F_INDIRECT_DESC)) ||
                (desc.flags & VIRTQ_DESC_F_NEXT) || desc.len == 0 || desc.len % 16)
                return -1;
            indirect = true;
            table = desc.addr;
            table_size = desc.len / 16;
            idx = 0;
            steps = 0;
            continue;
        }
        if (n == max || ++steps > table_size)
            return -1; /* longer than any valid chain: a loop */
        segs[n].addr = desc.addr;
        segs[n].len = desc.len;
        segs[n].write = (desc.flags & VIRTQ_DESC_F_WRITE) != 0;
        n++;
        if (!(desc.flags & VIRTQ_DESC_F_NEXT))
            return (int)n;
        idx = desc.next;
    }
}

/* Writes the status byte (last byte of the last device-writable segment). */
static bool put_status(struct vblk *d, const struct vblk_seg *segs, unsigned n, uint8_t status)
{
    if (n == 0 || !segs[n - 1].write || segs[n - 1].len == 0)
        return false;
    if (!ustor_phys_write(d->name, segs[n - 1].addr + segs[n - 1].len - 1, &status, 1)) {
        atomic_fetch_add(&d->st_dma_faults, 1);
        return false;
    }
    return true;
}

static uint8_t do_rw(struct vblk *d, const struct vblk_seg *segs, unsigned n, uint64_t sector,
                     bool is_read, uint64_t rd_bytes, uint64_t wr_bytes, uint32_t *data_len)
{
    /* Data lies after the 16-byte header (write) or before the status
     * byte (read); nothing of the other direction is allowed. */
    uint64_t bytes = is_read ? wr_bytes - 1 : rd_bytes - 16;
    if ((is_read && rd_bytes != 16) || (!is_read && wr_bytes != 1))
        return VIRTIO_BLK_S_IOERR;
    if (bytes % VIRTIO_BLK_SECTOR_SIZE || sector > d->capacity ||
        bytes / VIRTIO_BLK_SECTOR_SIZE > d->capacity - sector)
        return VIRTIO_BLK_S_IOERR;
    unsigned data_segs = 0;
    for (unsigned i = 0; i < n; i++)
        if (segs[i].len > VBLK_SIZE_MAX && segs[i].write == is_read)
            return VIRTIO_BLK_S_IOERR;
    uint64_t pos = sector * VIRTIO_BLK_SECTOR_SIZE, skip = is_read ? 0 : 16, left = bytes;
    for (unsigned i = 0; i < n && left; i++) {
        if (segs[i].write != is_read)
            continue;
        if (skip >= segs[i].len) {
            skip -= segs[i].len;
            continue;
        }
        uint64_t take = segs[i].len - skip;
        if (take > left)
            take = left;
        if (++data_segs > d->queue_size_max - 2)
            return VIRTIO_BLK_S_IOERR; /* beyond seg_max */
        if (!backing_xfer(d, pos, segs[i].addr + skip, (uint32_t)take, is_read))
            return VIRTIO_BLK_S_IOERR;
        pos += take;
        left -= take;
        skip = 0;
    }
    if (is_read) {
        *data_len = (uint32_t)bytes;
        atomic_fetch_add(&d->st_reads, 1);
        atomic_fetch_add(&d->st_bytes_read, bytes);
    } else {
        atomic_fetch_add(&d->st_writes, 1);
        atomic_fetch_add(&d->st_bytes_written, bytes);
    }
    return VIRTIO_BLK_S_OK;
}

static uint8_t do_discard_wz(struct vblk *d, const struct vblk_req *req, const struct vblk_seg *segs,
                             unsigned n, uint32_t type, uint64_t rd_bytes, uint64_t wr_bytes)
{
    bool discard = type == VIRTIO_BLK_T_DISCARD;
    uint64_t feat = discard ? FEAT(VIRTIO_BLK_F_DISCARD) : FEAT(VIRTIO_BLK_F_WRITE_ZEROES);
    if (!(req->features & feat))
        return VIRTIO_BLK_S_UNSUPP;
    uint64_t bytes = rd_bytes - 16;
    if (wr_bytes != 1 || bytes == 0 || bytes % 16)
        return VIRTIO_BLK_S_IOERR;
    uint64_t count = bytes / 16;
    if (count > (discard ? VBLK_MAX_DISCARD_SEG : VBLK_MAX_WZ_SEG))
        return VIRTIO_BLK_S_IOERR;
    struct virtio_blk_discard_write_zeroes ranges[VBLK_MAX_DISCARD_SEG > VBLK_MAX_WZ_SEG ? VBLK_MAX_DISCARD_SEG
                                                                                      : VBLK_MAX_WZ_SEG];
    if (!gather(d, segs, n, 16, ranges, bytes))
        return VIRTIO_BLK_S_IOERR;
    /* Check every range before touching any, so a bad one changes nothing. */
    for (uint64_t i = 0; i < count; i++) {
        const struct virtio_blk_discard_write_zeroes *r = &ranges[i];
        if (r->flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
            return VIRTIO_BLK_S_UNSUPP; /* reserved flag bits */
        if (discard && (r->flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))
            return VIRTIO_BLK_S_UNSUPP; /* unmap is only for write zeroes */
        if (r->num_sectors > (discard ? VBLK_MAX_DISCARD_SECTORS : VBLK_MAX_WZ_SECTORS) ||
            r->sector > d->capacity || r->num_sectors > d->capacity - r->sector)
            return VIRTIO_BLK_S_IOERR;
        if (discard && (r->sector % VBLK_DISCARD_ALIGNMENT || r->num_sectors % VBLK_DISCARD_ALIGNMENT))
            return VIRTIO_BLK_S_IOERR;
    }
    for (uint64_t i = 0; i < count; i++) {
        /* Discarded sectors read back as zeros in this model. */
        if (!backing_zero(d, ranges[i].sector, ranges[i].num_sectors,
                          discard || (ranges[i].flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)))
            return VIRTIO_BLK_S_IOERR;
    }
    atomic_fetch_add(&d->st_others, 1);
    return VIRTIO_BLK_S_OK;
}

static void vblk_execute(void *ctx, struct ustor_devsim_req *base, bool inject_error)
{
    struct vblk *d = ctx;
    struct vblk_req *req = (struct vblk_req *)base;
    /* No valid chain is longer than seg_max + 2 = queue_size_max, direct
     * or indirect. */
    unsigned max = d->queue_size_max;
    struct vblk_seg stack_segs[256];
    struct vblk_seg *segs = max <= 256 ? stack_segs : malloc(max * sizeof(*segs));
    req->used_len = 0;
    if (!segs) {
        device_error(d);
        return;
    }
    int n = walk_chain(d, req, segs, max);
    if (n == -2) {
        device_error(d);
        goto out;
    }
    if (n < 0) {
        /* A malformed chain (loop, bad index, bad indirect table): where
         * its status byte is cannot be known, so it completes with used
         * length 0 and is only counted. */
        atomic_fetch_add(&d->st_bad, 1);
        atomic_fetch_add(&d->st_errors, 1);
        goto out;
    }
    uint64_t rd_bytes = 0, wr_bytes = 0;
    bool order_ok = true;
    for (int i = 0; i < n; i++) {
        if (segs[i].write)
            wr_bytes += segs[i].len;
        else if (wr_bytes) /* device-readable after device-writable */
            order_ok = false;
        else
            rd_bytes += segs[i].len;
    }
    uint8_t status = VIRTIO_BLK_S_IOERR;
    uint32_t data_len = 0;
    struct virtio_blk_outhdr hdr;
    if (wr_bytes == 0) {
        /* Nowhere to put a status: nothing the driver can be told. */
        atomic_fetch_add(&d->st_bad, 1);
        atomic_fetch_add(&d->st_errors, 1);
        goto out;
    }
    if (!order_ok || rd_bytes < sizeof(hdr) || !gather(d, segs, (unsigned)n, 0, &hdr, sizeof(hdr))) {
        atomic_fetch_add(&d->st_bad, 1);
    } else if (inject_error) {
        status = VIRTIO_BLK_S_IOERR;
    } else {
        switch (hdr.type) {
        case VIRTIO_BLK_T_IN:
        case VIRTIO_BLK_T_OUT:
            status = do_rw(d, segs, (unsigned)n, hdr.sector, hdr.type == VIRTIO_BLK_T_IN, rd_bytes, wr_bytes,
                           &data_len);
            break;
        case VIRTIO_BLK_T_FLUSH:
            status = (d->fd < 0 || fdatasync(d->fd) == 0) ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
            atomic_fetch_add(&d->st_flushes, 1);
            break;
        case VIRTIO_BLK_T_GET_ID: {
            uint64_t room = wr_bytes - 1;
            uint32_t len = room < VIRTIO_BLK_ID_BYTES ? (uint32_t)room : VIRTIO_BLK_ID_BYTES;
            status = VIRTIO_BLK_S_OK;
            uint32_t done = 0;
            for (int i = 0; i < n && done < len; i++) {
                if (!segs[i].write)
                    continue;
                uint32_t take = segs[i].len < len - done ? segs[i].len : len - done;
                if (!ustor_phys_write(d->name, segs[i].addr, d->serial + done, take)) {
                    atomic_fetch_add(&d->st_dma_faults, 1);
                    status = VIRTIO_BLK_S_IOERR;
                    break;
                }
                done += take;
            }
            data_len = done;
            atomic_fetch_add(&d->st_others, 1);
            break;
        }
        case VIRTIO_BLK_T_DISCARD:
        case VIRTIO_BLK_T_WRITE_ZEROES:
            status = do_discard_wz(d, req, segs, (unsigned)n, hdr.type, rd_bytes, wr_bytes);
            break;
        default:
            status = VIRTIO_BLK_S_UNSUPP;
            break;
        }
    }
    if (status != VIRTIO_BLK_S_OK)
        atomic_fetch_add(&d->st_errors, 1);
    if (put_status(d, segs, (unsigned)n, status))
        req->used_len = (status == VIRTIO_BLK_S_OK ? data_len : 0) + 1;
out:
    if (segs != stack_segs)
        free(segs);
}

/* ---- rings ------------------------------------------------------------ */

static uint16_t ring_load16(struct vblk *d, uint64_t phys, bool *ok)
{
    uint16_t *p = ustor_phys_dma_begin(d->name, phys, 2, false);
    if (!p) {
        atomic_fetch_add(&d->st_dma_faults, 1);
        *ok = false;
        return 0;
    }
    uint16_t v = __atomic_load_n(p, __ATOMIC_ACQUIRE);
    ustor_phys_dma_end();
    return v;
}

static bool ring_store16(struct vblk *d, uint64_t phys, uint16_t v)
{
    uint16_t *p = ustor_phys_dma_begin(d->name, phys, 2, true);
    if (!p) {
        atomic_fetch_add(&d->st_dma_faults, 1);
        return false;
    }
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
    ustor_phys_dma_end();
    return true;
}

static bool device_live(uint8_t status)
{
    return (status & VIRTIO_STATUS_DRIVER_OK) &&
           !(status & (VIRTIO_STATUS_DEVICE_NEEDS_RESET | VIRTIO_STATUS_FAILED));
}

static struct ustor_devsim_req *vblk_fetch(void *ctx, unsigned q)
{
    struct vblk *d = ctx;
    struct vblk_queue *vq = &d->vqs[q];
    pthread_mutex_lock(&d->lock);
    bool live = device_live(atomic_load(&d->status)) && vq->enabled;
    uint64_t desc = vq->desc, avail = vq->avail, used = vq->used, features = d->driver_features;
    uint16_t size = vq->size;
    pthread_mutex_unlock(&d->lock);
    if (!live)
        return NULL;
    bool ok = true;
    uint16_t avail_idx = ring_load16(d, avail + 2, &ok);
    if (!ok) {
        device_error(d);
        return NULL;
    }
    uint16_t waiting = (uint16_t)(avail_idx - vq->last_avail);
    if (waiting == 0)
        return NULL;
    if (waiting > size) {
        /* The driver claims more than the ring holds: corrupt ring. */
        device_error(d);
        return NULL;
    }
    uint16_t head = ring_load16(d, avail + 4 + 2ull * (vq->last_avail % size), &ok);
    if (!ok) {
        device_error(d);
        return NULL;
    }
    struct vblk_req *req = calloc(1, sizeof(*req));
    if (!req)
        return NULL; /* try again on the next pass */
    vq->last_avail++;
    if (features & FEAT(VIRTIO_RING_F_EVENT_IDX)) {
        /* avail_event: notify us once anything past what we took arrives. */
        ring_store16(d, used + 4 + 8ull * size, vq->last_avail);
    }
    req->head = head;
    req->desc_table = desc;
    req->used_ring = used;
    req->avail_ring = avail;
    req->qsize = size;
    req->features = features;
    return &req->base;
}

static void vblk_complete(void *ctx, struct ustor_devsim_req *base)
{
    struct vblk *d = ctx;
    struct vblk_req *req = (struct vblk_req *)base;
    struct vblk_queue *vq = &d->vqs[base->queue];
    struct virtq_used_elem elem = { .id = req->head, .len = req->used_len };
    uint64_t slot = req->used_ring + 4 + 8ull * (vq->used_idx % req->qsize);
    if (!ustor_phys_write(d->name, slot, &elem, sizeof(elem))) {
        atomic_fetch_add(&d->st_dma_faults, 1);
        device_error(d);
    } else {
        vq->used_idx++;
        /* Release: the element (and the data) before the index. */
        if (!ring_store16(d, req->used_ring + 2, vq->used_idx))
            device_error(d);
    }
    atomic_fetch_add(&d->st_requests, 1);
    free(req);
}

static void vblk_discard(void *ctx, struct ustor_devsim_req *base)
{
    (void)ctx;
    free(base);
}

static bool vblk_irq_wanted(void *ctx, unsigned q)
{
    struct vblk *d = ctx;
    struct vblk_queue *vq = &d->vqs[q];
    pthread_mutex_lock(&d->lock);
    uint64_t avail = vq->avail, features = d->driver_features;
    uint16_t size = vq->size;
    pthread_mutex_unlock(&d->lock);
    uint16_t old = vq->signalled_used, now = vq->used_idx;
    vq->signalled_used = now;
    if (old == now)
        return false;
    /* The used index must be visible before we read the driver's
     * suppression fields (virtio 2.7.7.2). */
    atomic_thread_fence(memory_order_seq_cst);
    bool ok = true;
    if (features & FEAT(VIRTIO_RING_F_EVENT_IDX)) {
        uint16_t used_event = ring_load16(d, avail + 4 + 2ull * size, &ok);
        return !ok || (uint16_t)(now - used_event - 1) < (uint16_t)(now - old);
    }
    uint16_t flags = ring_load16(d, avail, &ok);
    return !ok || !(flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

static void vblk_interrupt(void *ctx, unsigned q, bool spurious)
{
    struct vblk *d = ctx;
    pthread_mutex_lock(&d->lock);
    uint16_t vec = d->vqs[q].msix_vector;
    pthread_mutex_unlock(&d->lock);
    signal_vector(d, vec, spurious ? 0 : VIRTIO_ISR_QUEUE);
}

static void vblk_reset_event(void *ctx)
{
    device_error(ctx);
}

static const struct ustor_devsim_ops vblk_sim_ops = {
    .fetch = vblk_fetch,
    .execute = vblk_execute,
    .complete = vblk_complete,
    .discard = vblk_discard,
    .irq_wanted = vblk_irq_wanted,
    .interrupt = vblk_interrupt,
    .reset_event = vblk_reset_event,
};

/* ---- registers ------------------------------------------------------------ */

/* Runs with every worker held (ustor_devsim_reset). */
static void vblk_reset_state(void *ctx)
{
    struct vblk *d = ctx;
    pthread_mutex_lock(&d->lock);
    atomic_store(&d->status, 0);
    d->driver_features = 0;
    d->dfselect = d->gfselect = 0;
    d->msix_config = VIRTIO_MSI_NO_VECTOR;
    d->queue_select = 0;
    for (unsigned q = 0; q < d->num_queues; q++) {
        struct vblk_queue *vq = &d->vqs[q];
        memset(vq, 0, sizeof(*vq));
        vq->size = (uint16_t)d->queue_size_max;
        vq->msix_vector = VIRTIO_MSI_NO_VECTOR;
    }
    atomic_store(&d->isr, 0);
    pthread_mutex_unlock(&d->lock);
    ustor_pci_intx_deassert(&d->pci);
}

static uint16_t valid_vector(struct vblk *d, uint64_t v)
{
    /* A vector the function does not have reads back as NO_VECTOR, which
     * is how the driver learns the mapping failed. */
    return v < d->pci.msix_count ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
}

static void common_image(struct vblk *d, uint8_t *img)
{
    memset(img, 0, VIRTIO_PCI_COMMON_SIZE);
    uint64_t dev_feat = VBLK_FEATURES;
    put_le(img + VIRTIO_PCI_COMMON_DFSELECT, d->dfselect, 4);
    put_le(img + VIRTIO_PCI_COMMON_DF, d->dfselect < 2 ? (uint32_t)(dev_feat >> (32 * d->dfselect)) : 0, 4);
    put_le(img + VIRTIO_PCI_COMMON_GFSELECT, d->gfselect, 4);
    put_le(img + VIRTIO_PCI_COMMON_GF,
           d->gfselect < 2 ? (uint32_t)(d->driver_features >> (32 * d->gfselect)) : 0, 4);
    put_le(img + VIRTIO_PCI_COMMON_MSIX, d->msix_config, 2);
    put_le(img + VIRTIO_PCI_COMMON_NUMQ, d->num_queues, 2);
    img[VIRTIO_PCI_COMMON_STATUS] = atomic_load(&d->status);
    img[VIRTIO_PCI_COMMON_CFGGENERATION] = d->config_generation;
    put_le(img + VIRTIO_PCI_COMMON_Q_SELECT, d->queue_select, 2);
    if (d->queue_select < d->num_queues) {
        const struct vblk_queue *vq = &d->vqs[d->queue_select];
        put_le(img + VIRTIO_PCI_COMMON_Q_SIZE, vq->size, 2);
        put_le(img + VIRTIO_PCI_COMMON_Q_MSIX, vq->msix_vector, 2);
        put_le(img + VIRTIO_PCI_COMMON_Q_ENABLE, vq->enabled, 2);
        put_le(img + VIRTIO_PCI_COMMON_Q_NOFF, d->queue_select, 2);
        put_le(img + VIRTIO_PCI_COMMON_Q_DESCLO, vq->desc, 8);
        put_le(img + VIRTIO_PCI_COMMON_Q_AVAILLO, vq->avail, 8);
        put_le(img + VIRTIO_PCI_COMMON_Q_USEDLO, vq->used, 8);
    }
}

static void set_half(uint64_t *field, bool high, uint64_t v)
{
    if (high)
        *field = (*field & 0xFFFFFFFFull) | (v << 32);
    else
        *field = (*field & ~0xFFFFFFFFull) | (v & 0xFFFFFFFFull);
}

static void write_status(struct vblk *d, uint8_t val)
{
    if (val == 0) {
        ustor_devsim_reset(&d->sim, vblk_reset_state, d);
        return;
    }
    pthread_mutex_lock(&d->lock);
    uint8_t old = atomic_load(&d->status);
    if ((val & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
        /* Accept only a subset of what we offer that includes VERSION_1;
         * otherwise FEATURES_OK does not stick (virtio 3.1.1 step 6). */
        if ((d->driver_features & ~VBLK_FEATURES) || !(d->driver_features & FEAT(VIRTIO_F_VERSION_1)))
            val &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
    }
    if ((val & VIRTIO_STATUS_DRIVER_OK) && !(val & VIRTIO_STATUS_FEATURES_OK))
        val &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK; /* DRIVER_OK needs negotiated features */
    uint8_t now = (uint8_t)(val | (old & VIRTIO_STATUS_DEVICE_NEEDS_RESET));
    atomic_store(&d->status, now);
    pthread_mutex_unlock(&d->lock);
    if ((now & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK))
        ustor_devsim_kick_all(&d->sim);
}

static void common_write(struct vblk *d, uint64_t off, unsigned size, uint64_t v)
{
    if (size == 8 && (off == VIRTIO_PCI_COMMON_Q_DESCLO || off == VIRTIO_PCI_COMMON_Q_AVAILLO ||
                      off == VIRTIO_PCI_COMMON_Q_USEDLO)) {
        common_write(d, off, 4, v & 0xFFFFFFFFull);
        common_write(d, off + 4, 4, v >> 32);
        return;
    }
    if (off == VIRTIO_PCI_COMMON_STATUS && size == 1) {
        write_status(d, (uint8_t)v);
        return;
    }
    pthread_mutex_lock(&d->lock);
    uint8_t status = atomic_load(&d->status);
    struct vblk_queue *vq = d->queue_select < d->num_queues ? &d->vqs[d->queue_select] : NULL;
    /* Queue layout may change only before DRIVER_OK (virtio 4.1.4.3.2). */
    bool q_writable = vq && !(status & VIRTIO_STATUS_DRIVER_OK) && !vq->enabled;
    switch (off | (uint64_t)size << 16) {
    case VIRTIO_PCI_COMMON_DFSELECT | 4 << 16:
        d->dfselect = (uint32_t)v;
        break;
    case VIRTIO_PCI_COMMON_GFSELECT | 4 << 16:
        d->gfselect = (uint32_t)v;
        break;
    case VIRTIO_PCI_COMMON_GF | 4 << 16:
        if (d->gfselect < 2 && !(status & VIRTIO_STATUS_FEATURES_OK))
            set_half(&d->driver_features, d->gfselect == 1, v);
        break;
    case VIRTIO_PCI_COMMON_MSIX | 2 << 16:
        d->msix_config = valid_vector(d, v);
        break;
    case VIRTIO_PCI_COMMON_Q_SELECT | 2 << 16:
        d->queue_select = (uint16_t)v;
        break;
    case VIRTIO_PCI_COMMON_Q_SIZE | 2 << 16:
        /* Split rings need a power of two no larger than the maximum. */
        if (q_writable && v && v <= d->queue_size_max && !(v & (v - 1)))
            vq->size = (uint16_t)v;
        break;
    case VIRTIO_PCI_COMMON_Q_MSIX | 2 << 16:
        if (vq)
            vq->msix_vector = valid_vector(d, v);
        break;
    case VIRTIO_PCI_COMMON_Q_ENABLE | 2 << 16:
        if (q_writable && v == 1)
            vq->enabled = true;
        break;
    case VIRTIO_PCI_COMMON_Q_DESCLO | 4 << 16:
    case VIRTIO_PCI_COMMON_Q_DESCHI | 4 << 16:
        if (q_writable)
            set_half(&vq->desc, off == VIRTIO_PCI_COMMON_Q_DESCHI, v);
        break;
    case VIRTIO_PCI_COMMON_Q_AVAILLO | 4 << 16:
    case VIRTIO_PCI_COMMON_Q_AVAILHI | 4 << 16:
        if (q_writable)
            set_half(&vq->avail, off == VIRTIO_PCI_COMMON_Q_AVAILHI, v);
        break;
    case VIRTIO_PCI_COMMON_Q_USEDLO | 4 << 16:
    case VIRTIO_PCI_COMMON_Q_USEDHI | 4 << 16:
        if (q_writable)
            set_half(&vq->used, off == VIRTIO_PCI_COMMON_Q_USEDHI, v);
        break;
    default:
        break; /* read-only field or an access width the spec does not allow */
    }
    pthread_mutex_unlock(&d->lock);
}

static uint64_t vblk_bar_read(void *ctx, uint64_t off, unsigned size)
{
    struct vblk *d = ctx;
    uint8_t img[VIRTIO_PCI_COMMON_SIZE];
    if (off < VIRTIO_PCI_COMMON_SIZE && off + size <= VIRTIO_PCI_COMMON_SIZE) {
        pthread_mutex_lock(&d->lock);
        common_image(d, img);
        pthread_mutex_unlock(&d->lock);
        return get_le(img + off, size);
    }
    if (off == VBLK_ISR_OFF && size == 1) {
        /* Reading ISR acknowledges: clears it and drops the INTx line. */
        uint8_t v = atomic_exchange(&d->isr, 0);
        ustor_pci_intx_deassert(&d->pci);
        return v;
    }
    if (off >= VBLK_DEVCFG_OFF && off + size <= VBLK_DEVCFG_OFF + VIRTIO_BLK_CFG_SIZE)
        return get_le(d->devcfg + (off - VBLK_DEVCFG_OFF), size);
    return 0; /* notify region and holes read as zero */
}

static void vblk_bar_write(void *ctx, uint64_t off, unsigned size, uint64_t v)
{
    struct vblk *d = ctx;
    if (off < VIRTIO_PCI_COMMON_SIZE) {
        common_write(d, off, size, v);
        return;
    }
    if (off >= VBLK_NOTIFY_OFF && off < VBLK_NOTIFY_OFF + VBLK_NOTIFY_MULTIPLIER * d->num_queues) {
        /* Any write to a queue's notify address is its doorbell. */
        ustor_devsim_kick(&d->sim, (unsigned)((off - VBLK_NOTIFY_OFF) / VBLK_NOTIFY_MULTIPLIER));
        return;
    }
    /* ISR and device config are read-only here (no CONFIG_WCE). */
}

/* ---- bus ops ------------------------------------------------------------ */

static uint32_t op_config_read(void *dev, uint32_t offset, void *buf, uint32_t len)
{
    return ustor_pci_config_read(&((struct vblk *)dev)->pci, offset, buf, len);
}

static uint32_t op_config_write(void *dev, uint32_t offset, const void *buf, uint32_t len)
{
    return ustor_pci_config_write(&((struct vblk *)dev)->pci, offset, buf, len);
}

static void op_bar_info(void *dev, unsigned bar, struct ustor_bar_info *info)
{
    ustor_pci_bar_info(&((struct vblk *)dev)->pci, bar, info);
}

static uint64_t op_reg_read(void *dev, unsigned bar, uint64_t offset, unsigned size)
{
    return ustor_pci_reg_read(&((struct vblk *)dev)->pci, bar, offset, size);
}

static void op_reg_write(void *dev, unsigned bar, uint64_t offset, unsigned size, uint64_t value)
{
    ustor_pci_reg_write(&((struct vblk *)dev)->pci, bar, offset, size, value);
}

static uint32_t op_msi_count(void *dev)
{
    return ustor_pci_msi_count(&((struct vblk *)dev)->pci);
}

static void op_attach(void *dev, struct ustor_irq_sink *sink)
{
    ustor_pci_attach(&((struct vblk *)dev)->pci, sink);
}

static void op_quiesce(void *dev)
{
    /* Adapter stop: behave as if the driver reset the device. */
    struct vblk *d = dev;
    ustor_devsim_reset(&d->sim, vblk_reset_state, d);
}

static void op_destroy(void *dev)
{
    struct vblk *d = dev;
    if (!d)
        return;
    if (d->sim_started)
        ustor_devsim_stop(&d->sim);
    ustor_pci_fini(&d->pci);
    pthread_mutex_destroy(&d->lock);
    if (d->fd >= 0)
        close(d->fd);
    free(d->mem);
    free(d->vqs);
    free(d);
}

static const struct ustor_bus_ops vblk_ops = {
    .config_read = op_config_read,
    .config_write = op_config_write,
    .bar_info = op_bar_info,
    .reg_read = op_reg_read,
    .reg_write = op_reg_write,
    .msi_count = op_msi_count,
    .attach = op_attach,
    .quiesce = op_quiesce,
    .destroy = op_destroy,
};

/* ---- creation ------------------------------------------------------------ */

static bool add_virtio_cap(struct vblk *d, uint8_t type, uint32_t off, uint32_t len, bool notify)
{
    uint8_t body[18] = { 0 };
    uint8_t cap_len = notify ? 20 : 16;
    body[0] = cap_len;
    body[1] = type;
    body[2] = VBLK_BAR_VIRTIO;
    body[3] = 0; /* id */
    put_le(body + 6, off, 4);
    put_le(body + 10, len, 4);
    if (notify)
        put_le(body + 14, VBLK_NOTIFY_MULTIPLIER, 4);
    return ustor_pci_add_cap(&d->pci, PCI_CAP_ID_VNDR, body, cap_len) != 0;
}

static int open_backing(struct vblk *d, const char *path, uint64_t *capacity_bytes, char *err, size_t errlen)
{
    d->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (d->fd < 0) {
        set_err(err, errlen, "virtio-blk: cannot open backing file '%s': %s", path, strerror(errno));
        return -errno;
    }
    struct stat st;
    if (fstat(d->fd, &st) < 0) {
        set_err(err, errlen, "virtio-blk: cannot stat backing file '%s': %s", path, strerror(errno));
        return -errno;
    }
    if (!*capacity_bytes) /* no size asked for: an existing file decides */
        *capacity_bytes = st.st_size >= VIRTIO_BLK_SECTOR_SIZE
                              ? (uint64_t)st.st_size / VIRTIO_BLK_SECTOR_SIZE * VIRTIO_BLK_SECTOR_SIZE
                              : 64ull << 20;
    if ((uint64_t)st.st_size < *capacity_bytes && ftruncate(d->fd, (off_t)*capacity_bytes) < 0) {
        set_err(err, errlen, "virtio-blk: cannot extend backing file '%s' to %" PRIu64 " bytes: %s", path,
                *capacity_bytes, strerror(errno));
        return -errno;
    }
    return 0;
}

struct ustor_bus_device *ustor_virtio_blk_create(const struct ustor_virtio_blk_config *cfg, char *err,
                                                 size_t errlen)
{
    static const struct ustor_virtio_blk_config defaults = { 0 };
    if (!cfg)
        cfg = &defaults;
    struct ustor_hw_options opts;
    if (ustor_hw_parse_options(cfg->options, &opts, err, errlen))
        return NULL;
    /* The option string (the user's command line) wins over cfg. */
    uint64_t capacity_bytes = opts.capacity_bytes ? opts.capacity_bytes
                                                  : cfg->capacity_sectors * VIRTIO_BLK_SECTOR_SIZE;
    if (cfg->capacity_sectors > (UINT64_MAX >> 10)) {
        set_err(err, errlen, "virtio-blk: capacity of %" PRIu64 " sectors is too large", cfg->capacity_sectors);
        return NULL;
    }
    unsigned num_queues = opts.num_queues ? opts.num_queues : cfg->num_queues ? cfg->num_queues : 4;
    unsigned qmax = opts.queue_size ? opts.queue_size : cfg->queue_size_max ? cfg->queue_size_max : 256;
    const char *file = opts.file[0] ? opts.file : cfg->backing_file;
    bool msix = opts.msix >= 0 ? opts.msix == 1 : !cfg->intx_only;
    if (num_queues > VBLK_MAX_QUEUES) {
        set_err(err, errlen, "virtio-blk: %u queues asked for; the model supports 1 to %u", num_queues,
                VBLK_MAX_QUEUES);
        return NULL;
    }
    if (qmax < 4 || qmax > 32768 || (qmax & (qmax - 1))) {
        set_err(err, errlen, "virtio-blk: queue size %u is not a power of two from 4 to 32768", qmax);
        return NULL;
    }
    if (!opts.seed_set)
        opts.seed = cfg->seed;
    if (!file && !capacity_bytes)
        capacity_bytes = 64ull << 20;
    if (!file && capacity_bytes > (64ull << 30)) {
        set_err(err, errlen,
                "virtio-blk: a memory-backed disk of %" PRIu64 " bytes is too large (max 64 GiB); use a backing file",
                capacity_bytes);
        return NULL;
    }

    struct vblk *d = calloc(1, sizeof(*d));
    if (!d) {
        set_err(err, errlen, "virtio-blk: out of memory");
        return NULL;
    }
    d->fd = -1;
    unsigned n = atomic_fetch_add(&g_vblk_serial_counter, 1);
    snprintf(d->name, sizeof(d->name), "virtio-blk%u", n);
    /* The ID is up to 20 bytes, NUL-padded, not necessarily terminated. */
    char serial[32];
    if (opts.serial[0] || cfg->serial)
        snprintf(serial, sizeof(serial), "%s", opts.serial[0] ? opts.serial : cfg->serial);
    else
        snprintf(serial, sizeof(serial), "USTOR-VBLK-%u", n);
    memcpy(d->serial, serial, strnlen(serial, sizeof(d->serial)));
    pthread_mutex_init(&d->lock, NULL);
    d->num_queues = num_queues;
    d->queue_size_max = qmax;
    d->vqs = calloc(num_queues, sizeof(*d->vqs));
    struct ustor_pci_ids ids = {
        .vendor = VIRTIO_PCI_VENDOR_ID,
        .device = VIRTIO_PCI_DEVICE_ID_BLK_MODERN,
        .subsys_vendor = VIRTIO_PCI_VENDOR_ID,
        .subsys_id = 0x1100,
        .revision = VIRTIO_PCI_REVISION_MODERN,
        .class_base = 0x01, /* mass storage */
        .class_sub = 0x00,
    };
    int rc = ustor_pci_init(&d->pci, d->name, &ids);
    if (rc || !d->vqs) {
        set_err(err, errlen, "virtio-blk: out of memory");
        free(d->vqs);
        pthread_mutex_destroy(&d->lock);
        free(d);
        return NULL;
    }
    if (file) {
        if (open_backing(d, file, &capacity_bytes, err, errlen))
            goto fail;
    } else {
        d->mem = calloc(1, capacity_bytes);
        if (!d->mem) {
            set_err(err, errlen, "virtio-blk: cannot allocate %" PRIu64 " bytes of disk memory", capacity_bytes);
            goto fail;
        }
    }
    d->capacity = capacity_bytes / VIRTIO_BLK_SECTOR_SIZE;

    if (ustor_pci_add_bar(&d->pci, VBLK_BAR_VIRTIO, VBLK_VIRTIO_BAR_SIZE, true, vblk_bar_read, vblk_bar_write, d) ||
        ustor_pci_add_msix(&d->pci, num_queues + 1, VBLK_BAR_MSIX, VBLK_MSIX_TABLE_OFF, VBLK_MSIX_PBA_OFF,
                           VBLK_MSIX_BAR_SIZE, msix) ||
        !add_virtio_cap(d, VIRTIO_PCI_CAP_COMMON_CFG, VBLK_COMMON_OFF, VIRTIO_PCI_COMMON_SIZE, false) ||
        !add_virtio_cap(d, VIRTIO_PCI_CAP_NOTIFY_CFG, VBLK_NOTIFY_OFF, VBLK_NOTIFY_MULTIPLIER * num_queues, true) ||
        !add_virtio_cap(d, VIRTIO_PCI_CAP_ISR_CFG, VBLK_ISR_OFF, 1, false) ||
        !add_virtio_cap(d, VIRTIO_PCI_CAP_DEVICE_CFG, VBLK_DEVCFG_OFF, VIRTIO_BLK_CFG_SIZE, false)) {
        set_err(err, errlen, "virtio-blk: cannot lay out PCI BARs and capabilities");
        goto fail;
    }

    uint8_t *c = d->devcfg;
    put_le(c + VIRTIO_BLK_CFG_CAPACITY, d->capacity, 8);
    put_le(c + VIRTIO_BLK_CFG_SIZE_MAX, VBLK_SIZE_MAX, 4);
    put_le(c + VIRTIO_BLK_CFG_SEG_MAX, qmax - 2, 4); /* header and status take two */
    put_le(c + VIRTIO_BLK_CFG_BLK_SIZE, VIRTIO_BLK_SECTOR_SIZE, 4);
    c[VIRTIO_BLK_CFG_TOPOLOGY + 0] = 0;                      /* physical_block_exp */
    c[VIRTIO_BLK_CFG_TOPOLOGY + 1] = 0;                      /* alignment_offset */
    put_le(c + VIRTIO_BLK_CFG_TOPOLOGY + 2, 1, 2);           /* min_io_size (blocks) */
    put_le(c + VIRTIO_BLK_CFG_TOPOLOGY + 4, 0, 4);           /* opt_io_size */
    put_le(c + VIRTIO_BLK_CFG_NUM_QUEUES, num_queues, 2);
    put_le(c + VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, VBLK_MAX_DISCARD_SECTORS, 4);
    put_le(c + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, VBLK_MAX_DISCARD_SEG, 4);
    put_le(c + VIRTIO_BLK_CFG_DISCARD_SECTOR_ALIGNMENT, VBLK_DISCARD_ALIGNMENT, 4);
    put_le(c + VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS, VBLK_MAX_WZ_SECTORS, 4);
    put_le(c + VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG, VBLK_MAX_WZ_SEG, 4);
    c[VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP] = 1;

    vblk_reset_state(d);
    rc = ustor_devsim_start(&d->sim, d->name, &opts, num_queues, &vblk_sim_ops, d);
    if (rc) {
        set_err(err, errlen, "virtio-blk: cannot start device threads: %s", strerror(-rc));
        goto fail;
    }
    d->sim_started = true;
    d->bus.ops = &vblk_ops;
    d->bus.dev = d;
    d->bus.name = "virtio-blk";
    return &d->bus;
fail:
    op_destroy(d);
    return NULL;
}

/* ---- registry and stats ---------------------------------------------------- */

static const struct ustor_hw_model_info g_models[] = {
    { "virtio-blk",
      "virtio 1.x block device on PCI (1AF4:1042): split queues, MQ, MSI-X or INTx, "
      "discard/write-zeroes, memory or file backing, latency and fault injection" },
    { NULL, NULL },
};

const struct ustor_hw_model_info *ustor_hw_list(void)
{
    return g_models;
}

int ustor_hw_device_stats(const struct ustor_bus_device *bus, struct ustor_hw_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!bus || bus->ops != &vblk_ops)
        return -EINVAL;
    struct vblk *d = bus->dev;
    out->requests = atomic_load(&d->st_requests);
    out->reads = atomic_load(&d->st_reads);
    out->writes = atomic_load(&d->st_writes);
    out->flushes = atomic_load(&d->st_flushes);
    out->others = atomic_load(&d->st_others);
    out->bytes_read = atomic_load(&d->st_bytes_read);
    out->bytes_written = atomic_load(&d->st_bytes_written);
    out->errors = atomic_load(&d->st_errors);
    out->bad_requests = atomic_load(&d->st_bad);
    out->dma_faults = atomic_load(&d->st_dma_faults);
    out->dropped_by_reset = atomic_load(&d->sim.dropped_by_reset);
    out->in_flight = ustor_devsim_held(&d->sim);
    out->irqs_raised = atomic_load(&d->st_irqs);
    out->irqs_dropped = atomic_load(&d->sim.irqs_dropped);
    out->irqs_delayed = atomic_load(&d->sim.irqs_delayed);
    out->irqs_spurious = atomic_load(&d->sim.irqs_spurious);
    for (int k = 0; k < USTOR_HW_FAULT_COUNT; k++)
        out->faults[k] = atomic_load(&d->sim.faults[k]);
    return 0;
}
