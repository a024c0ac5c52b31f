/*
 * test_pci.c - PCI function model: header, BAR sizing, capability list,
 * MSI-X table / PBA / masking, INTx; and the capability walk on the
 * virtio-blk device finding MSI-X and the four virtio structures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "hw/bus.h"
#include "hw/pci.h"
#include "hw/virtio_blk.h"
#include "ustor/hw.h"

struct rec_sink {
    struct ustor_irq_sink base;
    uint32_t messages[64];
    int count;
};

static void rec_raise(struct ustor_irq_sink *sink, uint32_t message_id)
{
    struct rec_sink *s = (struct rec_sink *)sink;
    if (s->count < 64)
        s->messages[s->count] = message_id;
    s->count++;
}

static uint64_t bar_reg[16];
static uint64_t toy_bar_read(void *ctx, uint64_t off, unsigned size)
{
    (void)size;
    return ((uint64_t *)ctx)[off / 8 % 16];
}
static void toy_bar_write(void *ctx, uint64_t off, unsigned size, uint64_t v)
{
    (void)size;
    ((uint64_t *)ctx)[off / 8 % 16] = v;
}

static uint32_t cfg32(struct ustor_pci_dev *p, uint32_t off)
{
    uint32_t v = 0;
    assert_int_equal(ustor_pci_config_read(p, off, &v, 4), 4);
    return v;
}
static void wcfg32(struct ustor_pci_dev *p, uint32_t off, uint32_t v)
{
    assert_int_equal(ustor_pci_config_write(p, off, &v, 4), 4);
}
static uint16_t cfg16(struct ustor_pci_dev *p, uint32_t off)
{
    uint16_t v = 0;
    ustor_pci_config_read(p, off, &v, 2);
    return v;
}
static void wcfg16(struct ustor_pci_dev *p, uint32_t off, uint16_t v)
{
    ustor_pci_config_write(p, off, &v, 2);
}

static struct ustor_pci_dev *make_dev(void)
{
    struct ustor_pci_dev *p = calloc(1, sizeof(*p));
    struct ustor_pci_ids ids = { .vendor = 0x1234, .device = 0x5678, .subsys_vendor = 0x1111,
                                 .subsys_id = 0x2222, .revision = 3, .class_base = 1, .class_sub = 8,
                                 .class_prog = 2 };
    assert_int_equal(ustor_pci_init(p, "toy", &ids), 0);
    assert_int_equal(ustor_pci_add_bar(p, 2, 0x3000, true, toy_bar_read, toy_bar_write, bar_reg), 0);
    /* MSI-X starts disabled, vectors masked (power-on state). */
    assert_int_equal(ustor_pci_add_msix(p, 4, 0, 0, 0x800, 0x1000, false), 0);
    return p;
}

static void free_dev(struct ustor_pci_dev *p)
{
    ustor_pci_fini(p);
    free(p);
}

static void test_header(void **state)
{
    (void)state;
    struct ustor_pci_dev *p = make_dev();
    assert_int_equal(cfg32(p, 0), 0x56781234);
    assert_int_equal(cfg32(p, 0x2C), 0x22221111);
    assert_int_equal(cfg32(p, 8), 0x01080203); /* class 01/08/02, rev 3 */
    assert_true(cfg16(p, PCI_CFG_STATUS) & PCI_STATUS_CAP_LIST);
    uint8_t pin, type;
    ustor_pci_config_read(p, PCI_CFG_INT_PIN, &pin, 1);
    ustor_pci_config_read(p, PCI_CFG_HEADER_TYPE, &type, 1);
    assert_int_equal(pin, 1);
    assert_int_equal(type, 0);
    /* Read-only fields ignore writes; interrupt line is writable. */
    wcfg32(p, 0, 0xFFFFFFFF);
    assert_int_equal(cfg32(p, 0), 0x56781234);
    uint8_t line = 11;
    ustor_pci_config_write(p, PCI_CFG_INT_LINE, &line, 1);
    line = 0;
    ustor_pci_config_read(p, PCI_CFG_INT_LINE, &line, 1);
    assert_int_equal(line, 11);
    /* Reads past the end are clipped; beyond it transfer nothing. */
    uint8_t buf[8];
    assert_int_equal(ustor_pci_config_read(p, 4092, buf, 8), 4);
    assert_int_equal(ustor_pci_config_read(p, 4096, buf, 8), 0);
    assert_int_equal(ustor_pci_config_write(p, 5000, buf, 8), 0);
    free_dev(p);
}

static void test_bar_sizing(void **state)
{
    (void)state;
    struct ustor_pci_dev *p = make_dev();
    uint32_t off = PCI_CFG_BAR0 + 4 * 2;
    uint32_t lo = cfg32(p, off), hi = cfg32(p, off + 4);
    assert_int_equal(lo & 0x7, PCI_BAR_MEM_64);
    uint64_t addr = ((uint64_t)hi << 32) | (lo & ~0xFu);
    struct ustor_bar_info info;
    ustor_pci_bar_info(p, 2, &info);
    assert_int_equal(info.phys, addr);
    assert_int_equal(info.length, 0x4000); /* 0x3000 rounds up to a power of two */
    assert_int_equal(addr % info.length, 0);
    assert_false(info.io_space);

    /* Size probe: write all-ones, read the mask back. */
    wcfg32(p, off, 0xFFFFFFFF);
    wcfg32(p, off + 4, 0xFFFFFFFF);
    assert_int_equal(cfg32(p, off), (uint32_t)~(0x4000u - 1) | PCI_BAR_MEM_64);
    assert_int_equal(cfg32(p, off + 4), 0xFFFFFFFF);
    /* Program it back (what firmware would do) and the BAR moves. */
    wcfg32(p, off, (uint32_t)addr);
    wcfg32(p, off + 4, (uint32_t)(addr >> 32));
    ustor_pci_bar_info(p, 2, &info);
    assert_int_equal(info.phys, addr);

    /* Unimplemented BARs read zero and ignore probes. */
    wcfg32(p, PCI_CFG_BAR0 + 4 * 5, 0xFFFFFFFF);
    assert_int_equal(cfg32(p, PCI_CFG_BAR0 + 4 * 5), 0);
    ustor_pci_bar_info(p, 3, &info); /* upper half of BAR 2 */
    assert_int_equal(info.length, 0);
    ustor_pci_bar_info(p, 9, &info);
    assert_int_equal(info.length, 0);

    /* Registers reach the callbacks; out-of-range reads float high. */
    ustor_pci_reg_write(p, 2, 8, 8, 0x1122334455667788ull);
    assert_int_equal(bar_reg[1], 0x1122334455667788ull);
    assert_int_equal(ustor_pci_reg_read(p, 2, 8, 8), 0x1122334455667788ull);
    assert_int_equal(ustor_pci_reg_read(p, 2, 0x4000, 4), ~0ull);
    assert_int_equal(ustor_pci_reg_read(p, 5, 0, 4), ~0ull);
    assert_int_equal(ustor_pci_reg_read(p, 2, 0, 3), ~0ull);
    free_dev(p);
}

static void test_msix_mask_and_pba(void **state)
{
    (void)state;
    struct ustor_pci_dev *p = make_dev();
    struct rec_sink sink = { .base.raise = rec_raise };
    ustor_pci_attach(p, &sink.base);

    /* Find the MSI-X capability by walking the list. */
    uint8_t cap = 0, ptr;
    ustor_pci_config_read(p, PCI_CFG_CAP_PTR, &ptr, 1);
    for (int guard = 0; ptr && guard < 48; guard++) {
        uint8_t id_next[2];
        ustor_pci_config_read(p, ptr, id_next, 2);
        if (id_next[0] == PCI_CAP_ID_MSIX)
            cap = ptr;
        ptr = id_next[1];
    }
    assert_int_not_equal(cap, 0);
    uint16_t ctrl = cfg16(p, cap + 2);
    assert_int_equal(ctrl & 0x7FF, 3); /* table size - 1 */
    assert_int_equal(cfg32(p, cap + 4), 0x000 | 0);  /* table at BAR 0 offset 0 */
    assert_int_equal(cfg32(p, cap + 8), 0x800 | 0);  /* PBA at BAR 0 offset 0x800 */
    assert_int_equal(ustor_pci_msi_count(p), 0);

    /* Disabled: INTx, message 0, status bit set until deasserted. */
    assert_true(ustor_pci_signal(p, 2));
    assert_int_equal(sink.count, 1);
    assert_int_equal(sink.messages[0], 0);
    assert_true(cfg16(p, PCI_CFG_STATUS) & PCI_STATUS_INTERRUPT);
    ustor_pci_intx_deassert(p);
    assert_false(cfg16(p, PCI_CFG_STATUS) & PCI_STATUS_INTERRUPT);
    /* INTx disable gates the line, not the status. */
    wcfg16(p, PCI_CFG_COMMAND, cfg16(p, PCI_CFG_COMMAND) | PCI_COMMAND_INTX_DISABLE);
    assert_false(ustor_pci_signal(p, 0));
    assert_int_equal(sink.count, 1);
    assert_true(cfg16(p, PCI_CFG_STATUS) & PCI_STATUS_INTERRUPT);
    ustor_pci_intx_deassert(p);

    /* Enable MSI-X: vectors are still masked, so signals go to the PBA. */
    wcfg16(p, cap + 2, PCI_MSIX_CTRL_ENABLE);
    assert_int_equal(ustor_pci_msi_count(p), 4);
    assert_int_equal(ustor_pci_reg_read(p, 0, 2 * 16 + 12, 4), 1); /* vector 2 masked */
    assert_false(ustor_pci_signal(p, 2));
    assert_int_equal(sink.count, 1);
    assert_int_equal(ustor_pci_reg_read(p, 0, 0x800, 8), 1u << 2);
    /* Program and unmask vector 2: the pending message is delivered. */
    ustor_pci_reg_write(p, 0, 2 * 16 + 0, 4, 0xFEE00000);
    ustor_pci_reg_write(p, 0, 2 * 16 + 8, 4, 0x4042);
    assert_int_equal(ustor_pci_reg_read(p, 0, 2 * 16 + 8, 4), 0x4042);
    ustor_pci_reg_write(p, 0, 2 * 16 + 12, 4, 0);
    assert_int_equal(sink.count, 2);
    assert_int_equal(sink.messages[1], 2);
    assert_int_equal(ustor_pci_reg_read(p, 0, 0x800, 8), 0);
    /* Unmasked: straight through.  Nonexistent vectors are ignored. */
    assert_true(ustor_pci_signal(p, 2));
    assert_int_equal(sink.messages[2], 2);
    assert_false(ustor_pci_signal(p, 4));
    assert_int_equal(sink.count, 3);
    /* The PBA is read-only. */
    ustor_pci_reg_write(p, 0, 0x800, 8, 0xF);
    assert_int_equal(ustor_pci_reg_read(p, 0, 0x800, 8), 0);

    /* Function mask holds everything; clearing it releases the PBA. */
    wcfg16(p, cap + 2, PCI_MSIX_CTRL_ENABLE | PCI_MSIX_CTRL_FUNC_MASK);
    assert_false(ustor_pci_signal(p, 2));
    assert_false(ustor_pci_signal(p, 2)); /* one pending bit, not two */
    assert_int_equal(sink.count, 3);
    assert_int_equal(ustor_pci_reg_read(p, 0, 0x800, 4), 1u << 2);
    wcfg16(p, cap + 2, PCI_MSIX_CTRL_ENABLE);
    assert_int_equal(sink.count, 4);
    assert_int_equal(sink.messages[3], 2);

    /* Detached: nothing reaches the old sink. */
    ustor_pci_attach(p, NULL);
    assert_false(ustor_pci_signal(p, 2));
    assert_int_equal(sink.count, 4);
    free_dev(p);
}

static void test_virtio_blk_capabilities(void **state)
{
    (void)state;
    char err[256];
    struct ustor_virtio_blk_config cfg = { .capacity_sectors = 2048, .num_queues = 3 };
    struct ustor_bus_device *dev = ustor_virtio_blk_create(&cfg, err, sizeof(err));
    assert_non_null(dev);
    const struct ustor_bus_ops *ops = dev->ops;
    uint32_t id = 0;
    ops->config_read(dev->dev, 0, &id, 4);
    assert_int_equal(id, (uint32_t)VIRTIO_PCI_DEVICE_ID_BLK_MODERN << 16 | VIRTIO_PCI_VENDOR_ID);
    uint8_t rev = 0;
    ops->config_read(dev->dev, PCI_CFG_REVISION, &rev, 1);
    assert_int_equal(rev, 1);

    bool seen[6] = { false };
    bool msix = false;
    uint8_t ptr = 0;
    ops->config_read(dev->dev, PCI_CFG_CAP_PTR, &ptr, 1);
    for (int guard = 0; ptr && guard < 48; guard++) {
        uint8_t c[20];
        ops->config_read(dev->dev, ptr, c, sizeof(c));
        if (c[0] == PCI_CAP_ID_MSIX) {
            msix = true;
            assert_int_equal((c[2] | c[3] << 8) & 0x7FF, 3); /* 3 queues + config = 4 vectors */
        } else if (c[0] == PCI_CAP_ID_VNDR) {
            uint8_t type = c[3], bar = c[4];
            uint32_t off = c[8] | c[9] << 8 | c[10] << 16 | (uint32_t)c[11] << 24;
            uint32_t len = c[12] | c[13] << 8 | c[14] << 16 | (uint32_t)c[15] << 24;
            assert_true(type >= 1 && type <= 4);
            seen[type] = true;
            struct ustor_bar_info bi;
            ops->bar_info(dev->dev, bar, &bi);
            assert_true(bi.length >= (uint64_t)off + len);
            if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
                assert_int_equal(c[2], 20);
                assert_int_equal(c[16], VBLK_NOTIFY_MULTIPLIER);
            } else {
                assert_int_equal(c[2], 16);
            }
            if (type == VIRTIO_PCI_CAP_COMMON_CFG)
                assert_true(len >= VIRTIO_PCI_COMMON_SIZE);
        }
        ptr = c[1];
    }
    assert_true(msix);
    for (int t = 1; t <= 4; t++)
        assert_true(seen[t]);
    /* MSI-X comes up enabled, as the OS leaves it before the driver runs. */
    assert_int_equal(ops->msi_count(dev->dev), 4);
    ops->destroy(dev->dev);

    cfg.intx_only = true;
    dev = ustor_virtio_blk_create(&cfg, err, sizeof(err));
    assert_non_null(dev);
    assert_int_equal(dev->ops->msi_count(dev->dev), 0);
    dev->ops->destroy(dev->dev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_bar_sizing),
        cmocka_unit_test(test_msix_mask_and_pba),
        cmocka_unit_test(test_virtio_blk_capabilities),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
