/* ustor-test-labels: concurrency */
/*
 * test_virtio_blk.c - the virtio-blk model driven by a small virtio driver
 * written here against the bus ops and physmem (no Storport): feature
 * negotiation, split virtqueues, every request type, bad requests, DMA
 * faults, resets (driver and injected), INTx, indirect descriptors, file
 * backing, and several queues driven at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hw/bus.h"
#include "hw/pci.h"
#include "hw/physmem.h"
#include "hw/virtio_blk.h"
#include "ustor/hw.h"

static uint64_t test_seed(void)
{
    const char *s = getenv("USTOR_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
    print_message("seed=%llu (set USTOR_SEED to repeat)\n", (unsigned long long)seed);
    return seed;
}

/* ---- the test driver ------------------------------------------------------ */

#define MAXQ 8
#define QSIZE 64

struct tsink {
    struct ustor_irq_sink base;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t count[80];
};

static void tsink_raise(struct ustor_irq_sink *sink, uint32_t message)
{
    struct tsink *s = (struct tsink *)sink;
    pthread_mutex_lock(&s->lock);
    if (message < 80)
        s->count[message]++;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static uint64_t tsink_count(struct tsink *s, uint32_t message)
{
    pthread_mutex_lock(&s->lock);
    uint64_t v = s->count[message];
    pthread_mutex_unlock(&s->lock);
    return v;
}

struct tq {
    uint16_t size;
    uint8_t *mem;
    uint64_t phys;
    struct virtq_desc *desc;
    uint16_t *avail; /* flags, idx, ring[size], used_event */
    uint8_t *used;   /* flags, idx, elems[size], avail_event */
    uint16_t avail_idx, last_used, next_desc, notify_off;
    uint16_t vector;
    bool suppress_next; /* next submit asks for no interrupt */
};

struct tdrv {
    struct ustor_bus_device *dev;
    const struct ustor_bus_ops *ops;
    void *d;
    unsigned bar[5];
    uint32_t off[5], mult;
    bool msix;
    unsigned nq;
    uint64_t features;
    struct tq q[MAXQ];
    struct tsink sink;
};

static uint64_t rd(struct tdrv *t, int type, uint32_t off, unsigned size)
{
    return t->ops->reg_read(t->d, t->bar[type], t->off[type] + off, size);
}

static void wr(struct tdrv *t, int type, uint32_t off, unsigned size, uint64_t v)
{
    t->ops->reg_write(t->d, t->bar[type], t->off[type] + off, size, v);
}

#define COMMON VIRTIO_PCI_CAP_COMMON_CFG
#define ISR VIRTIO_PCI_CAP_ISR_CFG
#define DEVCFG VIRTIO_PCI_CAP_DEVICE_CFG

static uint8_t status(struct tdrv *t)
{
    return (uint8_t)rd(t, COMMON, VIRTIO_PCI_COMMON_STATUS, 1);
}

static void find_caps(struct tdrv *t)
{
    uint8_t ptr = 0;
    t->ops->config_read(t->d, PCI_CFG_CAP_PTR, &ptr, 1);
    int found = 0;
    while (ptr) {
        uint8_t c[20];
        t->ops->config_read(t->d, ptr, c, sizeof(c));
        if (c[0] == PCI_CAP_ID_VNDR && c[3] >= 1 && c[3] <= 4) {
            t->bar[c[3]] = c[4];
            memcpy(&t->off[c[3]], c + 8, 4);
            if (c[3] == VIRTIO_PCI_CAP_NOTIFY_CFG)
                memcpy(&t->mult, c + 16, 4);
            found++;
        }
        ptr = c[1];
    }
    assert_int_equal(found, 4);
}

static void setup_queue(struct tdrv *t, unsigned qi)
{
    struct tq *q = &t->q[qi];
    wr(t, COMMON, VIRTIO_PCI_COMMON_Q_SELECT, 2, qi);
    uint16_t max = (uint16_t)rd(t, COMMON, VIRTIO_PCI_COMMON_Q_SIZE, 2);
    assert_true(max >= QSIZE);
    q->size = QSIZE;
    wr(t, COMMON, VIRTIO_PCI_COMMON_Q_SIZE, 2, q->size);
    assert_int_equal(rd(t, COMMON, VIRTIO_PCI_COMMON_Q_SIZE, 2), QSIZE);
    if (!q->mem) {
        q->mem = aligned_alloc(4096, 3 * 4096);
        q->phys = ustor_phys_map(q->mem, 3 * 4096);
        assert_int_not_equal(q->phys, 0);
    }
    memset(q->mem, 0, 3 * 4096);
    q->desc = (struct virtq_desc *)q->mem;
    q->avail = (uint16_t *)(q->mem + 4096);
    q->used = q->mem + 8192;
    q->avail_idx = q->last_used = q->next_desc = 0;
    wr(t, COMMON, VIRTIO_PCI_COMMON_Q_DESCLO, 8, q->phys);
    wr(t, COMMON, VIRTIO_PCI_COMMON_Q_AVAILLO, 4, (uint32_t)(q->phys + 4096));
    wr(t, COMMON, VIRTIO_PCI_COMMON_Q_AVAILHI, 4, (q->phys + 4096) >> 32);
    wr(t, COMMON, VIRTIO_PCI_COMMON_Q_USEDLO, 8, q->phys + 8192);
    assert_int_equal(rd(t, COMMON, VIRTIO_PCI_COMMON_Q_AVAILLO, 8), q->phys + 4096);
    q->vector = t->msix ? (uint16_t)(qi + 1) : VIRTIO_MSI_NO_VECTOR;
    wr(t, COMMON, VIRTIO_PCI_COMMON_Q_MSIX, 2, q->vector);
    assert_int_equal(rd(t, COMMON, VIRTIO_PCI_COMMON_Q_MSIX, 2), q->vector);
    q->notify_off = (uint16_t)rd(t, COMMON, VIRTIO_PCI_COMMON_Q_NOFF, 2);
    wr(t, COMMON, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
    assert_int_equal(rd(t, COMMON, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
}

static uint64_t device_features(struct tdrv *t)
{
    wr(t, COMMON, VIRTIO_PCI_COMMON_DFSELECT, 4, 0);
    uint64_t f = rd(t, COMMON, VIRTIO_PCI_COMMON_DF, 4);
    wr(t, COMMON, VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
    return f | rd(t, COMMON, VIRTIO_PCI_COMMON_DF, 4) << 32;
}

static void set_driver_features(struct tdrv *t, uint64_t f)
{
    wr(t, COMMON, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
    wr(t, COMMON, VIRTIO_PCI_COMMON_GF, 4, (uint32_t)f);
    wr(t, COMMON, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
    wr(t, COMMON, VIRTIO_PCI_COMMON_GF, 4, f >> 32);
}

/* virtio 3.1.1 initialization, using nq queues. */
static void drv_init(struct tdrv *t, unsigned nq, uint64_t want)
{
    wr(t, COMMON, VIRTIO_PCI_COMMON_STATUS, 1, 0);
    assert_int_equal(status(t), 0);
    wr(t, COMMON, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE);
    wr(t, COMMON, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    uint64_t dev = device_features(t);
    assert_true(dev & (1ull << VIRTIO_F_VERSION_1));
    t->features = dev & (want | (1ull << VIRTIO_F_VERSION_1));
    set_driver_features(t, t->features);
    uint8_t s = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
    wr(t, COMMON, VIRTIO_PCI_COMMON_STATUS, 1, s);
    assert_int_equal(status(t), s);
    t->nq = nq;
    for (unsigned i = 0; i < nq; i++)
        setup_queue(t, i);
    wr(t, COMMON, VIRTIO_PCI_COMMON_MSIX, 2, t->msix ? 0 : VIRTIO_MSI_NO_VECTOR);
    wr(t, COMMON, VIRTIO_PCI_COMMON_STATUS, 1, s | VIRTIO_STATUS_DRIVER_OK);
    assert_int_equal(status(t), s | VIRTIO_STATUS_DRIVER_OK);
}

#define ALL_FEATURES (~0ull)

static void drv_open(struct tdrv *t, const struct ustor_virtio_blk_config *cfg)
{
    memset(t, 0, sizeof(*t));
    char err[256] = "";
    t->dev = ustor_virtio_blk_create(cfg, err, sizeof(err));
    if (!t->dev)
        fail_msg("create failed: %s", err);
    t->ops = t->dev->ops;
    t->d = t->dev->dev;
    pthread_mutex_init(&t->sink.lock, NULL);
    pthread_cond_init(&t->sink.cond, NULL);
    t->sink.base.raise = tsink_raise;
    t->ops->attach(t->d, &t->sink.base);
    t->msix = t->ops->msi_count(t->d) > 0;
    find_caps(t);
}

static void drv_close(struct tdrv *t)
{
    t->ops->attach(t->d, NULL);
    t->ops->destroy(t->d);
    for (unsigned i = 0; i < MAXQ; i++) {
        if (t->q[i].mem) {
            assert_int_equal(ustor_phys_unmap(t->q[i].phys), 0);
            free(t->q[i].mem);
        }
    }
    pthread_mutex_destroy(&t->sink.lock);
    pthread_cond_destroy(&t->sink.cond);
}

struct tseg {
    uint64_t addr;
    uint32_t len;
    bool write;
};

/* Puts a chain on the ring and rings the doorbell; returns the head. */
static uint16_t submit(struct tdrv *t, unsigned qi, const struct tseg *segs, unsigned n)
{
    struct tq *q = &t->q[qi];
    uint16_t head = q->next_desc % q->size;
    for (unsigned i = 0; i < n; i++) {
        uint16_t idx = (uint16_t)((head + i) % q->size);
        q->desc[idx].addr = segs[i].addr;
        q->desc[idx].len = segs[i].len;
        q->desc[idx].flags = (uint16_t)((segs[i].write ? VIRTQ_DESC_F_WRITE : 0) |
                                        (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
        q->desc[idx].next = (uint16_t)((idx + 1) % q->size);
    }
    q->next_desc = (uint16_t)(q->next_desc + n);
    /* With EVENT_IDX, ask for an interrupt at the next completion (or far
     * later when suppressing); set before the request is published so the
     * device cannot miss it.  Without it, the NO_INTERRUPT flag. */
    bool quiet = q->suppress_next;
    q->suppress_next = false;
    if (t->features & (1ull << VIRTIO_RING_F_EVENT_IDX))
        __atomic_store_n(&q->avail[2 + q->size], (uint16_t)(q->last_used + (quiet ? 1000 : 0)), __ATOMIC_RELEASE);
    else
        __atomic_store_n(&q->avail[0], quiet ? VIRTQ_AVAIL_F_NO_INTERRUPT : 0, __ATOMIC_RELEASE);
    q->avail[2 + q->avail_idx % q->size] = head;
    q->avail_idx++;
    __atomic_store_n(&q->avail[1], q->avail_idx, __ATOMIC_RELEASE);
    t->ops->reg_write(t->d, t->bar[VIRTIO_PCI_CAP_NOTIFY_CFG],
                      t->off[VIRTIO_PCI_CAP_NOTIFY_CFG] + q->notify_off * t->mult, 2, qi);
    return head;
}

static uint16_t used_idx(struct tq *q)
{
    return __atomic_load_n((uint16_t *)(q->used + 2), __ATOMIC_ACQUIRE);
}

/* Waits for the next used element (bounded; a hang fails the test). */
static bool wait_used(struct tdrv *t, unsigned qi, uint32_t *id, uint32_t *len, int timeout_ms)
{
    struct tq *q = &t->q[qi];
    for (int waited = 0; used_idx(q) == q->last_used; waited += 5) {
        if (waited >= timeout_ms)
            return false;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 5000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_mutex_lock(&t->sink.lock);
        pthread_cond_timedwait(&t->sink.cond, &t->sink.lock, &ts);
        pthread_mutex_unlock(&t->sink.lock);
    }
    struct virtq_used_elem e;
    memcpy(&e, q->used + 4 + 8 * (q->last_used % q->size), sizeof(e));
    q->last_used++;
    *id = e.id;
    *len = e.len;
    return true;
}

struct tbuf {
    uint8_t *mem;
    uint64_t phys;
    size_t len;
};

static struct tbuf tbuf_new(size_t len)
{
    struct tbuf b = { .len = len };
    b.mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
    assert_non_null(b.mem);
    b.phys = ustor_phys_map(b.mem, len);
    assert_int_not_equal(b.phys, 0);
    return b;
}

static void tbuf_free(struct tbuf *b)
{
    assert_int_equal(ustor_phys_unmap(b->phys), 0);
    free(b->mem);
}

/* One request, synchronously.  Returns the status byte (0xEE if the device
 * never wrote one); *used_len gets the used element's length. */
static uint8_t blk_req(struct tdrv *t, unsigned qi, uint32_t type, uint64_t sector, void *data, uint32_t len,
                       bool device_writes, uint32_t *used_len)
{
    struct tbuf b = tbuf_new(16 + (size_t)len + 1);
    struct virtio_blk_outhdr hdr = { .type = type, .sector = sector };
    memcpy(b.mem, &hdr, 16);
    if (len && !device_writes)
        memcpy(b.mem + 16, data, len);
    b.mem[16 + len] = 0xEE;
    struct tseg segs[3] = { { b.phys, 16, false } };
    unsigned n = 1;
    if (len)
        segs[n++] = (struct tseg){ b.phys + 16, len, device_writes };
    segs[n++] = (struct tseg){ b.phys + 16 + len, 1, true };
    uint16_t head = submit(t, qi, segs, n);
    uint32_t id = 0, ulen = 0;
    if (!wait_used(t, qi, &id, &ulen, 10000))
        fail_msg("request type %u on queue %u never completed", type, qi);
    assert_int_equal(id, head);
    if (used_len)
        *used_len = ulen;
    if (len && device_writes)
        memcpy(data, b.mem + 16, len);
    uint8_t st = b.mem[16 + len];
    tbuf_free(&b);
    return st;
}

static void fill_pattern(uint8_t *p, size_t len, uint64_t seed)
{
    for (size_t i = 0; i < len; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (uint8_t)(seed >> 56);
    }
}

static uint8_t blk_write(struct tdrv *t, unsigned q, uint64_t sector, const void *data, uint32_t len)
{
    return blk_req(t, q, VIRTIO_BLK_T_OUT, sector, (void *)data, len, false, NULL);
}

static uint8_t blk_read(struct tdrv *t, unsigned q, uint64_t sector, void *data, uint32_t len)
{
    return blk_req(t, q, VIRTIO_BLK_T_IN, sector, data, len, true, NULL);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_negotiation_and_config(void **state)
{
    (void)state;
    struct ustor_virtio_blk_config cfg = { .capacity_sectors = 4096, .num_queues = 3, .queue_size_max = 128 };
    struct tdrv t;
    drv_open(&t, &cfg);
    uint64_t dev = device_features(&t);
    uint64_t expect = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_MQ) |
                      (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES) |
                      (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE);
    assert_int_equal(dev & expect, expect);
    assert_int_equal(dev & (1ull << VIRTIO_BLK_F_RO), 0);

    /* Device config. */
    assert_int_equal(rd(&t, DEVCFG, VIRTIO_BLK_CFG_CAPACITY, 8), 4096);
    assert_int_equal(rd(&t, DEVCFG, VIRTIO_BLK_CFG_NUM_QUEUES, 2), 3);
    assert_int_equal(rd(&t, DEVCFG, VIRTIO_BLK_CFG_BLK_SIZE, 4), 512);
    assert_int_equal(rd(&t, DEVCFG, VIRTIO_BLK_CFG_SEG_MAX, 4), 126);
    assert_int_equal(rd(&t, DEVCFG, VIRTIO_BLK_CFG_DISCARD_SECTOR_ALIGNMENT, 4), 8);
    assert_true(rd(&t, DEVCFG, VIRTIO_BLK_CFG_MAX_DISCARD_SEG, 4) >= 1);
    assert_int_equal(rd(&t, COMMON, VIRTIO_PCI_COMMON_NUMQ, 2), 3);

    /* A feature the device did not offer: FEATURES_OK does not stick. */
    wr(&t, COMMON, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    set_driver_features(&t, (1ull << VIRTIO_F_VERSION_1) | (1ull << 34));
    wr(&t, COMMON, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    assert_int_equal(status(&t) & VIRTIO_STATUS_FEATURES_OK, 0);
    /* Legacy-only driver (no VERSION_1): refused too. */
    set_driver_features(&t, 1ull << VIRTIO_BLK_F_FLUSH);
    wr(&t, COMMON, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    assert_int_equal(status(&t) & VIRTIO_STATUS_FEATURES_OK, 0);
    /* DRIVER_OK without negotiated features does not stick either. */
    wr(&t, COMMON, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
    assert_int_equal(status(&t) & VIRTIO_STATUS_DRIVER_OK, 0);

    /* Queue registers: a size that is not a power of two is refused, a
     * vector the function lacks reads back as NO_VECTOR, a queue beyond
     * num_queues reads size 0. */
    wr(&t, COMMON, VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
    assert_int_equal(rd(&t, COMMON, VIRTIO_PCI_COMMON_Q_SIZE, 2), 128);
    wr(&t, COMMON, VIRTIO_PCI_COMMON_Q_SIZE, 2, 100);
    assert_int_equal(rd(&t, COMMON, VIRTIO_PCI_COMMON_Q_SIZE, 2), 128);
    wr(&t, COMMON, VIRTIO_PCI_COMMON_Q_MSIX, 2, 4); /* 3 queues + config = vectors 0..3 */
    assert_int_equal(rd(&t, COMMON, VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
    assert_int_equal(rd(&t, COMMON, VIRTIO_PCI_COMMON_Q_NOFF, 2), 1);
    wr(&t, COMMON, VIRTIO_PCI_COMMON_Q_SELECT, 2, 3);
    assert_int_equal(rd(&t, COMMON, VIRTIO_PCI_COMMON_Q_SIZE, 2), 0);

    /* Full init works; then reset clears everything. */
    drv_init(&t, 3, ALL_FEATURES);
    assert_true(t.features & (1ull << VIRTIO_RING_F_INDIRECT_DESC));
    wr(&t, COMMON, VIRTIO_PCI_COMMON_STATUS, 1, 0);
    assert_int_equal(status(&t), 0);
    wr(&t, COMMON, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
    assert_int_equal(rd(&t, COMMON, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
    assert_int_equal(rd(&t, COMMON, VIRTIO_PCI_COMMON_Q_DESCLO, 8), 0);
    drv_close(&t);
}

static void test_io_roundtrip_all_queues(void **state)
{
    (void)state;
    uint64_t seed = test_seed();
    struct ustor_virtio_blk_config cfg = { .capacity_sectors = 8192, .num_queues = 4, .serial = "SN-12345" };
    struct tdrv t;
    drv_open(&t, &cfg);
    drv_init(&t, 4, ALL_FEATURES);
    uint8_t out[8192], in[8192];
    for (unsigned q = 0; q < 4; q++) {
        uint64_t irq_before = tsink_count(&t.sink, t.q[q].vector);
        fill_pattern(out, sizeof(out), seed + q);
        assert_int_equal(blk_write(&t, q, 100 + 16 * q, out, sizeof(out)), VIRTIO_BLK_S_OK);
        memset(in, 0, sizeof(in));
        uint32_t ulen = 0;
        assert_int_equal(blk_req(&t, q, VIRTIO_BLK_T_IN, 100 + 16 * q, in, sizeof(in), true, &ulen),
                         VIRTIO_BLK_S_OK);
        assert_int_equal(ulen, sizeof(in) + 1);
        assert_memory_equal(in, out, sizeof(out));
        /* The interrupt for queue q arrives on its vector (q + 1). */
        for (int i = 0; i < 1000 && tsink_count(&t.sink, t.q[q].vector) < irq_before + 2; i++)
            usleep(1000);
        assert_true(tsink_count(&t.sink, t.q[q].vector) >= irq_before + 2);
    }
    /* Last sector is reachable, one past is not. */
    assert_int_equal(blk_write(&t, 0, 8191, out, 512), VIRTIO_BLK_S_OK);
    assert_int_equal(blk_read(&t, 1, 8191, in, 512), VIRTIO_BLK_S_OK);
    assert_memory_equal(in, out, 512);

    uint32_t ulen = 0;
    assert_int_equal(blk_req(&t, 2, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false, &ulen), VIRTIO_BLK_S_OK);
    assert_int_equal(ulen, 1);
    char id[VIRTIO_BLK_ID_BYTES + 1] = { 0 };
    assert_int_equal(blk_req(&t, 3, VIRTIO_BLK_T_GET_ID, 0, id, VIRTIO_BLK_ID_BYTES, true, &ulen), VIRTIO_BLK_S_OK);
    assert_string_equal(id, "SN-12345");
    assert_int_equal(ulen, VIRTIO_BLK_ID_BYTES + 1);

    struct ustor_hw_stats st;
    /* The interrupt follows the used-ring update: let the last one land. */
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(ustor_hw_device_stats(t.dev, &st), 0);
        if (st.irqs_raised >= 12)
            break;
        usleep(1000);
    }
    assert_int_equal(st.writes, 5);
    assert_int_equal(st.reads, 5);
    assert_int_equal(st.bytes_written, 4 * sizeof(out) + 512);
    assert_int_equal(st.flushes, 1);
    assert_int_equal(st.requests, 12);
    assert_int_equal(st.errors, 0);
    assert_true(st.irqs_raised >= 12);
    drv_close(&t);
}

static uint8_t range_req(struct tdrv *t, uint32_t type, const struct virtio_blk_discard_write_zeroes *r, unsigned n)
{
    return blk_req(t, 0, type, 0, (void *)r, n * (uint32_t)sizeof(*r), false, NULL);
}

static void test_discard_and_write_zeroes(void **state)
{
    (void)state;
    struct ustor_virtio_blk_config cfg = { .capacity_sectors = 1024, .num_queues = 1 };
    struct tdrv t;
    drv_open(&t, &cfg);
    drv_init(&t, 1, ALL_FEATURES);
    uint8_t pat[32 * 512], in[32 * 512], zero[32 * 512] = { 0 };
    memset(pat, 0xA5, sizeof(pat));
    assert_int_equal(blk_write(&t, 0, 0, pat, sizeof(pat)), VIRTIO_BLK_S_OK);

    struct virtio_blk_discard_write_zeroes r[2] = { { .sector = 8, .num_sectors = 8 } };
    assert_int_equal(range_req(&t, VIRTIO_BLK_T_DISCARD, r, 1), VIRTIO_BLK_S_OK);
    assert_int_equal(blk_read(&t, 0, 0, in, sizeof(in)), VIRTIO_BLK_S_OK);
    assert_memory_equal(in, pat, 8 * 512);
    assert_memory_equal(in + 8 * 512, zero, 8 * 512);
    assert_memory_equal(in + 16 * 512, pat, 16 * 512);

    /* Misaligned discard: I/O error, nothing changed. */
    r[0] = (struct virtio_blk_discard_write_zeroes){ .sector = 17, .num_sectors = 8 };
    assert_int_equal(range_req(&t, VIRTIO_BLK_T_DISCARD, r, 1), VIRTIO_BLK_S_IOERR);
    /* Unmap flag on a discard: unsupported. */
    r[0] = (struct virtio_blk_discard_write_zeroes){ .sector = 16, .num_sectors = 8, .flags = 1 };
    assert_int_equal(range_req(&t, VIRTIO_BLK_T_DISCARD, r, 1), VIRTIO_BLK_S_UNSUPP);
    /* Beyond capacity. */
    r[0] = (struct virtio_blk_discard_write_zeroes){ .sector = 1016, .num_sectors = 16 };
    assert_int_equal(range_req(&t, VIRTIO_BLK_T_WRITE_ZEROES, r, 1), VIRTIO_BLK_S_IOERR);
    /* A good range and a bad one: the request fails as a whole. */
    r[0] = (struct virtio_blk_discard_write_zeroes){ .sector = 16, .num_sectors = 1 };
    r[1] = (struct virtio_blk_discard_write_zeroes){ .sector = 2000, .num_sectors = 1 };
    assert_int_equal(range_req(&t, VIRTIO_BLK_T_WRITE_ZEROES, r, 2), VIRTIO_BLK_S_IOERR);
    assert_int_equal(blk_read(&t, 0, 16, in, 512), VIRTIO_BLK_S_OK);
    assert_memory_equal(in, pat, 512);

    /* Write zeroes (with unmap allowed): two ranges. */
    r[0] = (struct virtio_blk_discard_write_zeroes){ .sector = 20, .num_sectors = 3, .flags = 1 };
    r[1] = (struct virtio_blk_discard_write_zeroes){ .sector = 30, .num_sectors = 1 };
    assert_int_equal(range_req(&t, VIRTIO_BLK_T_WRITE_ZEROES, r, 2), VIRTIO_BLK_S_OK);
    assert_int_equal(blk_read(&t, 0, 0, in, sizeof(in)), VIRTIO_BLK_S_OK);
    assert_memory_equal(in + 16 * 512, pat, 4 * 512);
    assert_memory_equal(in + 20 * 512, zero, 3 * 512);
    assert_memory_equal(in + 23 * 512, pat, 7 * 512);
    assert_memory_equal(in + 30 * 512, zero, 512);
    assert_memory_equal(in + 31 * 512, pat, 512);
    drv_close(&t);

    /* Not negotiated: unsupported. */
    drv_open(&t, &cfg);
    drv_init(&t, 1, 1ull << VIRTIO_BLK_F_FLUSH);
    r[0] = (struct virtio_blk_discard_write_zeroes){ .sector = 0, .num_sectors = 8 };
    assert_int_equal(range_req(&t, VIRTIO_BLK_T_DISCARD, r, 1), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(range_req(&t, VIRTIO_BLK_T_WRITE_ZEROES, r, 1), VIRTIO_BLK_S_UNSUPP);
    drv_close(&t);
}

static void test_bad_requests(void **state)
{
    (void)state;
    struct ustor_virtio_blk_config cfg = { .capacity_sectors = 64, .num_queues = 1 };
    struct tdrv t;
    drv_open(&t, &cfg);
    drv_init(&t, 1, ALL_FEATURES);
    uint8_t buf[1024];
    memset(buf, 0x33, sizeof(buf));
    uint32_t ulen;
    assert_int_equal(blk_write(&t, 0, 64, buf, 512), VIRTIO_BLK_S_IOERR);       /* beyond capacity */
    assert_int_equal(blk_write(&t, 0, 63, buf, 1024), VIRTIO_BLK_S_IOERR);      /* runs off the end */
    assert_int_equal(blk_write(&t, 0, UINT64_MAX, buf, 512), VIRTIO_BLK_S_IOERR);/* wraps */
    assert_int_equal(blk_write(&t, 0, 0, buf, 100), VIRTIO_BLK_S_IOERR);        /* partial sector */
    assert_int_equal(blk_req(&t, 0, 99, 0, NULL, 0, false, &ulen), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(ulen, 1);
    /* Wrong direction: a read whose data buffer is device-readable, a
     * write whose data buffer is device-writable. */
    assert_int_equal(blk_req(&t, 0, VIRTIO_BLK_T_IN, 0, buf, 512, false, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(blk_req(&t, 0, VIRTIO_BLK_T_OUT, 0, buf, 512, true, NULL), VIRTIO_BLK_S_IOERR);

    /* Header too short. */
    struct tbuf b = tbuf_new(64);
    b.mem[63] = 0xEE;
    struct tseg short_hdr[2] = { { b.phys, 8, false }, { b.phys + 63, 1, true } };
    uint32_t id;
    uint16_t head = submit(&t, 0, short_hdr, 2);
    assert_true(wait_used(&t, 0, &id, &ulen, 10000));
    assert_int_equal(id, head);
    assert_int_equal(b.mem[63], VIRTIO_BLK_S_IOERR);
    /* Readable after writable. */
    struct virtio_blk_outhdr hdr = { .type = VIRTIO_BLK_T_OUT };
    memcpy(b.mem, &hdr, 16);
    b.mem[63] = 0xEE;
    struct tseg order[3] = { { b.phys, 16, false }, { b.phys + 63, 1, true }, { b.phys + 16, 16, false } };
    submit(&t, 0, order, 3);
    assert_true(wait_used(&t, 0, &id, &ulen, 10000));
    assert_int_equal(ulen, 0);
    /* No status descriptor at all: completed with length 0, no crash. */
    struct tseg nostatus[1] = { { b.phys, 16, false } };
    head = submit(&t, 0, nostatus, 1);
    assert_true(wait_used(&t, 0, &id, &ulen, 10000));
    assert_int_equal(id, head);
    assert_int_equal(ulen, 0);
    /* A descriptor loop. */
    struct tq *q = &t.q[0];
    uint16_t d0 = q->next_desc % q->size;
    q->desc[d0] = (struct virtq_desc){ .addr = b.phys, .len = 16, .flags = VIRTQ_DESC_F_NEXT, .next = d0 };
    q->next_desc++;
    q->avail[2 + q->avail_idx % q->size] = d0;
    q->avail_idx++;
    __atomic_store_n(&q->avail[1], q->avail_idx, __ATOMIC_RELEASE);
    t.ops->reg_write(t.d, t.bar[VIRTIO_PCI_CAP_NOTIFY_CFG], t.off[VIRTIO_PCI_CAP_NOTIFY_CFG] + q->notify_off * t.mult, 2, 0);
    assert_true(wait_used(&t, 0, &id, &ulen, 10000));
    assert_int_equal(id, d0);
    assert_int_equal(ulen, 0);
    tbuf_free(&b);

    /* The device is still fine. */
    assert_int_equal(status(&t) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
    assert_int_equal(blk_write(&t, 0, 0, buf, 512), VIRTIO_BLK_S_OK);
    struct ustor_hw_stats st;
    ustor_hw_device_stats(t.dev, &st);
    assert_true(st.bad_requests >= 4);
    assert_true(st.errors >= 10);
    drv_close(&t);
}

static atomic_int g_hook_calls;
static char g_hook_device[32];
static uint64_t g_hook_phys;
static bool g_hook_write;

static void hook(const char *device, uint64_t phys, size_t len, bool write)
{
    (void)len;
    snprintf(g_hook_device, sizeof(g_hook_device), "%s", device);
    g_hook_phys = phys;
    g_hook_write = write;
    atomic_fetch_add(&g_hook_calls, 1);
}

static void test_dma_fault(void **state)
{
    (void)state;
    struct ustor_virtio_blk_config cfg = { .capacity_sectors = 64, .num_queues = 2 };
    struct tdrv t;
    drv_open(&t, &cfg);
    drv_init(&t, 2, ALL_FEATURES);
    ustor_phys_fault_fn old = ustor_phys_set_fault_hook(hook);
    atomic_store(&g_hook_calls, 0);

    /* A read into memory the driver has already unmapped. */
    struct tbuf b = tbuf_new(16 + 512 + 1);
    struct tbuf gone = tbuf_new(512);
    uint64_t gone_phys = gone.phys;
    tbuf_free(&gone);
    struct virtio_blk_outhdr hdr = { .type = VIRTIO_BLK_T_IN, .sector = 0 };
    memcpy(b.mem, &hdr, 16);
    b.mem[16 + 512] = 0xEE;
    struct tseg segs[3] = { { b.phys, 16, false }, { gone_phys, 512, true }, { b.phys + 16 + 512, 1, true } };
    uint16_t head = submit(&t, 1, segs, 3);
    uint32_t id, ulen;
    assert_true(wait_used(&t, 1, &id, &ulen, 10000));
    assert_int_equal(id, head);
    assert_int_equal(b.mem[16 + 512], VIRTIO_BLK_S_IOERR);
    assert_int_equal(atomic_load(&g_hook_calls), 1);
    assert_int_equal(strncmp(g_hook_device, "virtio-blk", 10), 0);
    assert_int_equal(g_hook_phys, gone_phys);
    assert_true(g_hook_write);
    /* A process pointer where a physical address belongs. */
    segs[1].addr = (uint64_t)(uintptr_t)b.mem;
    b.mem[16 + 512] = 0xEE;
    submit(&t, 1, segs, 3);
    assert_true(wait_used(&t, 1, &id, &ulen, 10000));
    assert_int_equal(b.mem[16 + 512], VIRTIO_BLK_S_IOERR);
    assert_int_equal(atomic_load(&g_hook_calls), 2);
    tbuf_free(&b);
    struct ustor_hw_stats st;
    ustor_hw_device_stats(t.dev, &st);
    assert_int_equal(st.dma_faults, 2);
    assert_int_equal(status(&t) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);

    /* Ring memory gone: the device cannot go on; it asks for a reset and
     * raises a config interrupt on msix_config (vector 0). */
    uint64_t cfg_irqs = tsink_count(&t.sink, 0);
    struct tq *q = &t.q[0];
    assert_int_equal(ustor_phys_unmap(q->phys), 0);
    t.ops->reg_write(t.d, t.bar[VIRTIO_PCI_CAP_NOTIFY_CFG], t.off[VIRTIO_PCI_CAP_NOTIFY_CFG] + q->notify_off * t.mult, 2, 0);
    for (int i = 0; i < 2000 && !(status(&t) & VIRTIO_STATUS_DEVICE_NEEDS_RESET); i++)
        usleep(1000);
    assert_true(status(&t) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    for (int i = 0; i < 2000 && tsink_count(&t.sink, 0) == cfg_irqs; i++)
        usleep(1000);
    assert_int_equal(tsink_count(&t.sink, 0), cfg_irqs + 1);
    assert_true(atomic_load(&g_hook_calls) >= 3);
    q->phys = ustor_phys_map(q->mem, 3 * 4096);
    /* After a reset and re-init the device works again. */
    drv_init(&t, 2, ALL_FEATURES);
    uint8_t data[512] = { 1, 2, 3 };
    assert_int_equal(blk_write(&t, 0, 5, data, 512), VIRTIO_BLK_S_OK);
    ustor_phys_set_fault_hook(old);
    drv_close(&t);
}

static void test_reset_drops_inflight(void **state)
{
    (void)state;
    /* Ten seconds of latency: whatever is submitted stays in flight. */
    struct ustor_virtio_blk_config cfg = { .capacity_sectors = 64, .num_queues = 2, .options = "latency=fixed:10s" };
    struct tdrv t;
    drv_open(&t, &cfg);
    drv_init(&t, 2, ALL_FEATURES);
    struct tbuf bufs[4];
    for (int i = 0; i < 4; i++) {
        bufs[i] = tbuf_new(16 + 512 + 1);
        struct virtio_blk_outhdr hdr = { .type = VIRTIO_BLK_T_IN, .sector = (uint64_t)i };
        memcpy(bufs[i].mem, &hdr, 16);
        bufs[i].mem[16 + 512] = 0xEE;
        struct tseg segs[3] = { { bufs[i].phys, 16, false },
                                { bufs[i].phys + 16, 512, true },
                                { bufs[i].phys + 528, 1, true } };
        submit(&t, (unsigned)i % 2, segs, 3);
    }
    struct ustor_hw_stats st;
    for (int i = 0; i < 2000; i++) {
        ustor_hw_device_stats(t.dev, &st);
        if (st.in_flight == 4)
            break;
        usleep(1000);
    }
    assert_int_equal(st.in_flight, 4);
    /* Reset: returns at once, nothing completes, the buffers may go. */
    wr(&t, COMMON, VIRTIO_PCI_COMMON_STATUS, 1, 0);
    assert_int_equal(status(&t), 0);
    ustor_hw_device_stats(t.dev, &st);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.dropped_by_reset, 4);
    assert_int_equal(st.requests, 0);
    assert_int_equal(used_idx(&t.q[0]), 0);
    assert_int_equal(used_idx(&t.q[1]), 0);
    /* The device never touches the buffers again: free them, and the
     * device comes back with a fresh init (no latency this time). */
    for (int i = 0; i < 4; i++)
        tbuf_free(&bufs[i]);
    usleep(10000);
    assert_int_equal(used_idx(&t.q[0]), 0);
    ustor_hw_device_stats(t.dev, &st);
    assert_int_equal(st.requests, 0);
    drv_close(&t);
}

static void test_injected_faults(void **state)
{
    (void)state;
    struct ustor_virtio_blk_config cfg = { .capacity_sectors = 64, .num_queues = 1,
                                           .options = "faults=error:every:2,reset:every:5;workers=1" };
    struct tdrv t;
    drv_open(&t, &cfg);
    drv_init(&t, 1, ALL_FEATURES);
    uint8_t data[512];
    memset(data, 7, sizeof(data));
    assert_int_equal(blk_write(&t, 0, 0, data, 512), VIRTIO_BLK_S_OK);
    assert_int_equal(blk_write(&t, 0, 1, data, 512), VIRTIO_BLK_S_IOERR); /* 2nd: injected error */
    assert_int_equal(blk_write(&t, 0, 2, data, 512), VIRTIO_BLK_S_OK);
    assert_int_equal(blk_write(&t, 0, 3, data, 512), VIRTIO_BLK_S_IOERR);
    uint64_t cfg_irqs = tsink_count(&t.sink, 0);
    /* 5th: the device resets itself and loses the command. */
    struct tbuf b = tbuf_new(16 + 512 + 1);
    struct virtio_blk_outhdr hdr = { .type = VIRTIO_BLK_T_OUT, .sector = 4 };
    memcpy(b.mem, &hdr, 16);
    b.mem[528] = 0xEE;
    struct tseg segs[3] = { { b.phys, 16, false }, { b.phys + 16, 512, false }, { b.phys + 528, 1, true } };
    submit(&t, 0, segs, 3);
    for (int i = 0; i < 2000 && !(status(&t) & VIRTIO_STATUS_DEVICE_NEEDS_RESET); i++)
        usleep(1000);
    assert_true(status(&t) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    for (int i = 0; i < 2000 && tsink_count(&t.sink, 0) == cfg_irqs; i++)
        usleep(1000);
    assert_true(tsink_count(&t.sink, 0) > cfg_irqs);
    assert_int_equal(used_idx(&t.q[0]), 4);
    assert_int_equal(b.mem[528], 0xEE);
    tbuf_free(&b);
    struct ustor_hw_stats st;
    ustor_hw_device_stats(t.dev, &st);
    assert_int_equal(st.faults[USTOR_HW_FAULT_ERROR], 2);
    assert_int_equal(st.faults[USTOR_HW_FAULT_RESET], 1);
    assert_int_equal(st.dropped_by_reset, 1);
    /* The driver resets and carries on. */
    drv_init(&t, 1, ALL_FEATURES);
    assert_int_equal(blk_write(&t, 0, 4, data, 512), VIRTIO_BLK_S_OK); /* 6th */
    uint8_t in[512];
    /* 7th: the error counter saw 1-4 and 6 (the reset took the 5th). */
    assert_int_equal(blk_read(&t, 0, 0, in, 512), VIRTIO_BLK_S_IOERR);
    drv_close(&t);
}


/* Interrupt suppression: with NO_INTERRUPT (or EVENT_IDX's used_event set
 * ahead) a completion raises nothing; the next unsuppressed one does. */
static void test_interrupt_suppression(void **state)
{
    (void)state;
    for (int with_event_idx = 0; with_event_idx < 2; with_event_idx++) {
        struct ustor_virtio_blk_config cfg = { .capacity_sectors = 64, .num_queues = 1 };
        struct tdrv t;
        drv_open(&t, &cfg);
        drv_init(&t, 1, with_event_idx ? ALL_FEATURES : 0);
        assert_int_equal(!!(t.features & (1ull << VIRTIO_RING_F_EVENT_IDX)), with_event_idx);
        uint8_t data[512] = { 1 };
        assert_int_equal(blk_write(&t, 0, 0, data, 512), VIRTIO_BLK_S_OK);
        for (int i = 0; i < 2000 && tsink_count(&t.sink, 1) < 1; i++)
            usleep(1000);
        uint64_t before = tsink_count(&t.sink, 1);
        assert_int_equal(before, 1);
        t.q[0].suppress_next = true;
        assert_int_equal(blk_write(&t, 0, 1, data, 512), VIRTIO_BLK_S_OK);
        assert_int_equal(blk_write(&t, 0, 2, data, 512), VIRTIO_BLK_S_OK);
        for (int i = 0; i < 2000 && tsink_count(&t.sink, 1) < before + 1; i++)
            usleep(1000);
        /* The suppressed request was decided before the next was taken. */
        assert_int_equal(tsink_count(&t.sink, 1), before + 1);
        drv_close(&t);
    }
}

static void submit_write_async(struct tdrv *t, struct tbuf *b, uint64_t sector)
{
    *b = tbuf_new(16 + 512 + 1);
    struct virtio_blk_outhdr hdr = { .type = VIRTIO_BLK_T_OUT, .sector = sector };
    memcpy(b->mem, &hdr, 16);
    b->mem[528] = 0xEE;
    struct tseg segs[3] = { { b->phys, 16, false }, { b->phys + 16, 512, false }, { b->phys + 528, 1, true } };
    submit(t, 0, segs, 3);
}

static void test_interrupt_and_stuck_faults(void **state)
{
    (void)state;
    uint8_t data[512] = { 3 };
    /* Dropped interrupts: completions are in the used ring, no message. */
    struct ustor_virtio_blk_config cfg = { .capacity_sectors = 64, .num_queues = 1,
                                           .options = "faults=drop_irq:every:1" };
    struct tdrv t;
    drv_open(&t, &cfg);
    drv_init(&t, 1, ALL_FEATURES);
    for (int i = 0; i < 3; i++)
        assert_int_equal(blk_write(&t, 0, (uint64_t)i, data, 512), VIRTIO_BLK_S_OK);
    struct ustor_hw_stats st;
    for (int i = 0; i < 2000; i++) {
        ustor_hw_device_stats(t.dev, &st);
        if (st.irqs_dropped == 3)
            break;
        usleep(1000);
    }
    assert_int_equal(st.irqs_dropped, 3);
    assert_int_equal(st.faults[USTOR_HW_FAULT_DROP_IRQ], 3);
    assert_int_equal(tsink_count(&t.sink, 1), 0);
    drv_close(&t);

    /* Delayed interrupts arrive, later. */
    cfg.options = "faults=delay_irq:every:1;irq_delay=2ms";
    drv_open(&t, &cfg);
    drv_init(&t, 1, ALL_FEATURES);
    for (int i = 0; i < 3; i++)
        assert_int_equal(blk_write(&t, 0, (uint64_t)i, data, 512), VIRTIO_BLK_S_OK);
    for (int i = 0; i < 5000 && tsink_count(&t.sink, 1) < 3; i++)
        usleep(1000);
    assert_int_equal(tsink_count(&t.sink, 1), 3);
    ustor_hw_device_stats(t.dev, &st);
    assert_int_equal(st.irqs_delayed, 3);
    drv_close(&t);

    /* Stuck: every 2nd command is held until the driver resets. */
    cfg.options = "faults=stuck:every:2";
    drv_open(&t, &cfg);
    drv_init(&t, 1, ALL_FEATURES);
    assert_int_equal(blk_write(&t, 0, 0, data, 512), VIRTIO_BLK_S_OK);
    struct tbuf b;
    submit_write_async(&t, &b, 1);
    for (int i = 0; i < 2000; i++) {
        ustor_hw_device_stats(t.dev, &st);
        if (st.in_flight == 1)
            break;
        usleep(1000);
    }
    assert_int_equal(st.in_flight, 1);
    assert_int_equal(st.faults[USTOR_HW_FAULT_STUCK], 1);
    uint32_t id, ulen;
    assert_false(wait_used(&t, 0, &id, &ulen, 50));
    wr(&t, COMMON, VIRTIO_PCI_COMMON_STATUS, 1, 0);
    ustor_hw_device_stats(t.dev, &st);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.dropped_by_reset, 1);
    tbuf_free(&b);
    drv_init(&t, 1, ALL_FEATURES);
    assert_int_equal(blk_write(&t, 0, 1, data, 512), VIRTIO_BLK_S_OK); /* 3rd */
    drv_close(&t);
}

static void test_intx_mode(void **state)
{
    (void)state;
    struct ustor_virtio_blk_config cfg = { .capacity_sectors = 64, .num_queues = 2, .options = "msix=off" };
    struct tdrv t;
    drv_open(&t, &cfg);
    assert_false(t.msix);
    assert_int_equal(t.ops->msi_count(t.d), 0);
    drv_init(&t, 2, ALL_FEATURES);
    /* Vectors cannot be assigned without MSI-X... they read back as set
     * but are unused: INTx delivers message 0. */
    uint8_t data[512] = { 9 };
    assert_int_equal(blk_write(&t, 1, 0, data, 512), VIRTIO_BLK_S_OK);
    for (int i = 0; i < 2000 && tsink_count(&t.sink, 0) == 0; i++)
        usleep(1000);
    assert_true(tsink_count(&t.sink, 0) >= 1);
    uint16_t pci_status = 0;
    t.ops->config_read(t.d, PCI_CFG_STATUS, &pci_status, 2);
    assert_true(pci_status & PCI_STATUS_INTERRUPT);
    /* ISR: read returns the queue bit and clears it (and the line). */
    assert_int_equal(rd(&t, ISR, 0, 1), VIRTIO_ISR_QUEUE);
    assert_int_equal(rd(&t, ISR, 0, 1), 0);
    t.ops->config_read(t.d, PCI_CFG_STATUS, &pci_status, 2);
    assert_false(pci_status & PCI_STATUS_INTERRUPT);
    drv_close(&t);
}

static void test_indirect_descriptors(void **state)
{
    (void)state;
    struct ustor_virtio_blk_config cfg = { .capacity_sectors = 64, .num_queues = 1 };
    struct tdrv t;
    drv_open(&t, &cfg);
    drv_init(&t, 1, ALL_FEATURES);
    assert_true(t.features & (1ull << VIRTIO_RING_F_INDIRECT_DESC));
    /* Header, four 256-byte data pieces, status: all in an indirect table. */
    struct tbuf b = tbuf_new(16 + 1024 + 1);
    struct tbuf table = tbuf_new(6 * sizeof(struct virtq_desc));
    struct virtio_blk_outhdr hdr = { .type = VIRTIO_BLK_T_OUT, .sector = 10 };
    memcpy(b.mem, &hdr, 16);
    fill_pattern(b.mem + 16, 1024, 77);
    b.mem[1040] = 0xEE;
    struct virtq_desc *d = (struct virtq_desc *)table.mem;
    d[0] = (struct virtq_desc){ b.phys, 16, VIRTQ_DESC_F_NEXT, 1 };
    for (int i = 0; i < 4; i++)
        d[1 + i] = (struct virtq_desc){ b.phys + 16 + 256 * (uint64_t)i, 256, VIRTQ_DESC_F_NEXT, (uint16_t)(2 + i) };
    d[5] = (struct virtq_desc){ b.phys + 1040, 1, VIRTQ_DESC_F_WRITE, 0 };
    struct tq *q = &t.q[0];
    uint16_t head = q->next_desc % q->size;
    q->desc[head] = (struct virtq_desc){ table.phys, 6 * 16, VIRTQ_DESC_F_INDIRECT, 0 };
    q->next_desc++;
    q->avail[2 + q->avail_idx % q->size] = head;
    q->avail_idx++;
    __atomic_store_n(&q->avail[1], q->avail_idx, __ATOMIC_RELEASE);
    t.ops->reg_write(t.d, t.bar[VIRTIO_PCI_CAP_NOTIFY_CFG], t.off[VIRTIO_PCI_CAP_NOTIFY_CFG], 2, 0);
    uint32_t id, ulen;
    assert_true(wait_used(&t, 0, &id, &ulen, 10000));
    assert_int_equal(id, head);
    assert_int_equal(b.mem[1040], VIRTIO_BLK_S_OK);
    uint8_t in[1024];
    assert_int_equal(blk_read(&t, 0, 10, in, 1024), VIRTIO_BLK_S_OK);
    assert_memory_equal(in, b.mem + 16, 1024);
    tbuf_free(&table);
    tbuf_free(&b);
    drv_close(&t);
}

static void test_file_backing(void **state)
{
    (void)state;
    char path[] = "/tmp/ustor-vblk-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct ustor_virtio_blk_config cfg = { .capacity_sectors = 128, .num_queues = 1, .backing_file = path };
    struct tdrv t;
    drv_open(&t, &cfg);
    drv_init(&t, 1, ALL_FEATURES);
    uint8_t out[1024], in[1024];
    fill_pattern(out, sizeof(out), 5);
    assert_int_equal(blk_write(&t, 0, 3, out, sizeof(out)), VIRTIO_BLK_S_OK);
    assert_int_equal(blk_req(&t, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false, NULL), VIRTIO_BLK_S_OK);
    drv_close(&t);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(lseek(fd, 0, SEEK_END), 128 * 512);
    assert_int_equal(pread(fd, in, sizeof(in), 3 * 512), (ssize_t)sizeof(in));
    close(fd);
    assert_memory_equal(in, out, sizeof(out));
    /* Reopened without a capacity: the file's size decides. */
    cfg.capacity_sectors = 0;
    drv_open(&t, &cfg);
    assert_int_equal(rd(&t, DEVCFG, VIRTIO_BLK_CFG_CAPACITY, 8), 128);
    drv_init(&t, 1, ALL_FEATURES);
    memset(in, 0, sizeof(in));
    assert_int_equal(blk_read(&t, 0, 3, in, sizeof(in)), VIRTIO_BLK_S_OK);
    assert_memory_equal(in, out, sizeof(out));
    drv_close(&t);
    unlink(path);
}

static void test_create_errors_and_list(void **state)
{
    (void)state;
    char err[256];
    struct ustor_virtio_blk_config cfg = { .options = "latency=slow" };
    assert_null(ustor_virtio_blk_create(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "slow"));
    cfg = (struct ustor_virtio_blk_config){ .num_queues = 100 };
    assert_null(ustor_virtio_blk_create(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "100 queues"));
    cfg = (struct ustor_virtio_blk_config){ .queue_size_max = 1000 };
    assert_null(ustor_virtio_blk_create(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "power of two"));
    cfg = (struct ustor_virtio_blk_config){ .backing_file = "/nonexistent-dir/x.img" };
    assert_null(ustor_virtio_blk_create(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent-dir/x.img"));
    /* Defaults: 64 MiB, 4 queues. */
    struct ustor_bus_device *dev = ustor_virtio_blk_create(NULL, err, sizeof(err));
    assert_non_null(dev);
    assert_string_equal(dev->name, "virtio-blk");
    assert_int_equal(dev->ops->msi_count(dev->dev), 5);
    struct ustor_hw_stats st;
    assert_int_equal(ustor_hw_device_stats(dev, &st), 0);
    struct ustor_bus_device fake = { 0 };
    assert_int_equal(ustor_hw_device_stats(&fake, &st), -EINVAL);
    dev->ops->quiesce(dev->dev);
    dev->ops->destroy(dev->dev);
    const struct ustor_hw_model_info *m = ustor_hw_list();
    assert_non_null(m);
    assert_string_equal(m[0].name, "virtio-blk");
    assert_non_null(m[0].description);
    assert_null(m[1].name);
}

/* Several queues at once, each from its own thread, with latency and
 * spurious interrupts; data must round-trip on every queue. */
struct qthread {
    struct tdrv *t;
    unsigned q;
    uint64_t seed;
    int failures;
};

static void *queue_thread(void *arg)
{
    struct qthread *a = arg;
    uint8_t out[2048], in[2048];
    for (int i = 0; i < 60; i++) {
        uint64_t sector = a->q * 256 + (uint64_t)(i % 16) * 4;
        fill_pattern(out, sizeof(out), a->seed + (uint64_t)i);
        if (blk_write(a->t, a->q, sector, out, sizeof(out)) != VIRTIO_BLK_S_OK ||
            blk_read(a->t, a->q, sector, in, sizeof(in)) != VIRTIO_BLK_S_OK || memcmp(in, out, sizeof(in)))
            a->failures++;
    }
    return NULL;
}

static void test_queues_in_parallel(void **state)
{
    (void)state;
    uint64_t base_seed = test_seed();
    for (unsigned iter = 0; iter < 3; iter++) {
        uint64_t seed = base_seed + iter;
        char opts[160];
        /* Iteration 1 uses a single device thread for four queues. */
        snprintf(opts, sizeof(opts), "latency=uniform:0-30us;faults=spurious_irq:0.05;seed=%llu%s",
                 (unsigned long long)seed, iter == 1 ? ";workers=1" : "");
        struct ustor_virtio_blk_config cfg = { .capacity_sectors = 2048, .num_queues = 4, .options = opts };
        struct tdrv t;
        drv_open(&t, &cfg);
        drv_init(&t, 4, iter == 2 ? 0 : ALL_FEATURES); /* iteration 2: no EVENT_IDX / indirect */
        pthread_t th[4];
        struct qthread args[4];
        for (unsigned q = 0; q < 4; q++) {
            args[q] = (struct qthread){ .t = &t, .q = q, .seed = seed * 31 + q };
            assert_int_equal(pthread_create(&th[q], NULL, queue_thread, &args[q]), 0);
        }
        int failures = 0;
        for (unsigned q = 0; q < 4; q++) {
            pthread_join(th[q], NULL);
            failures += args[q].failures;
        }
        if (failures)
            fail_msg("%d failed round trips (seed=%llu)", failures, (unsigned long long)seed);
        struct ustor_hw_stats st;
        ustor_hw_device_stats(t.dev, &st);
        assert_int_equal(st.requests, 4 * 60 * 2);
        assert_int_equal(st.errors, 0);
        drv_close(&t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negotiation_and_config),
        cmocka_unit_test(test_io_roundtrip_all_queues),
        cmocka_unit_test(test_discard_and_write_zeroes),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_dma_fault),
        cmocka_unit_test(test_reset_drops_inflight),
        cmocka_unit_test(test_injected_faults),
        cmocka_unit_test(test_interrupt_suppression),
        cmocka_unit_test(test_interrupt_and_stuck_faults),
        cmocka_unit_test(test_intx_mode),
        cmocka_unit_test(test_indirect_descriptors),
        cmocka_unit_test(test_file_backing),
        cmocka_unit_test(test_create_errors_and_list),
        cmocka_unit_test(test_queues_in_parallel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
