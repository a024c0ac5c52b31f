/* ustor-test-labels: virtio */
/*
 * test_virtio_dma_fault.c - a miniport that hands the device a physical
 * address no memory backs.  The test build of the virtio miniport
 * (VIO_TEST_BAD_DMA, see virtio_stats.h) puts a made-up address in the
 * first data descriptor of READ/WRITE at VIO_BAD_DATA_LBA, and as the
 * indirect table of those at VIO_BAD_TABLE_LBA.  The device must report
 * the DMA fault through the physmem fault hook, fail the request, and the
 * process and the adapter must carry on.
 */
#include "vtest.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "hw/bus.h"
#include "hw/physmem.h"

int32_t virtio_baddma_DriverEntry(void *driver_object, void *registry_path);

static atomic_uint_least64_t hook_calls, hook_bad_calls, hook_write_calls;

static void fault_hook(const char *device, uint64_t phys, size_t len, bool write)
{
    (void)device;
    (void)len;
    atomic_fetch_add(&hook_calls, 1);
    if (phys >= VIO_BAD_PHYSICAL && phys < VIO_BAD_PHYSICAL + 0x100000)
        atomic_fetch_add(&hook_bad_calls, 1);
    if (write)
        atomic_fetch_add(&hook_write_calls, 1);
}

static void open_bad(struct vt_env *e, const char *args)
{
    struct vt_setup s = { .entry = virtio_baddma_DriverEntry, .args = args, .device_opts = "latency=zero" };
    vt_open(e, &s);
}

static void fill(uint8_t *buf, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seed + i * 7);
}

static void test_bad_data_address(void **s)
{
    struct vt_env e;
    struct ustor_blk_result r;
    struct ustor_hw_stats hw;
    uint8_t cdb[16], buf[4096], back[4096];
    (void)s;

    ustor_phys_fault_fn old = ustor_phys_set_fault_hook(fault_hook);
    atomic_store(&hook_calls, 0);
    atomic_store(&hook_bad_calls, 0);
    atomic_store(&hook_write_calls, 0);
    open_bad(&e, "sync=full");

    /* A good write first, so we know the path works. */
    fill(buf, sizeof(buf), 1);
    assert_int_equal(ustor_blk_write_sync(e.blk, 8, 8, buf, 0, NULL), 0);

    /* WRITE at the bad LBA: the device reads from nowhere. */
    unsigned n = ustor_cdb_write10(cdb, VIO_BAD_DATA_LBA, 8, false);
    int rc = ustor_blk_scsi_sync(e.blk, cdb, n, USTOR_BLK_DIR_OUT, buf, sizeof(buf), 0, &r);
    assert_int_not_equal(rc, 0);
    assert_int_equal(r.sense_key, 0x0B); /* ABORTED COMMAND: the device failed it */
    assert_true(atomic_load(&hook_bad_calls) >= 1);
    assert_true(atomic_load(&hook_calls) > atomic_load(&hook_write_calls)); /* a DMA read faulted */

    /* READ at the bad LBA: the device writes to nowhere. */
    uint_least64_t writes_before = atomic_load(&hook_write_calls);
    n = ustor_cdb_read10(cdb, VIO_BAD_DATA_LBA, 8, false);
    rc = ustor_blk_scsi_sync(e.blk, cdb, n, USTOR_BLK_DIR_IN, back, sizeof(back), 0, &r);
    assert_int_not_equal(rc, 0);
    assert_true(atomic_load(&hook_write_calls) > writes_before);

    /* Through the block layer: retried, then failed - never a crash. */
    rc = ustor_blk_write_sync(e.blk, VIO_BAD_DATA_LBA, 8, buf, 0, &r);
    assert_int_equal(rc, -EIO);
    assert_true(r.retries > 0);

    /* The indirect table itself unreachable. */
    uint_least64_t before = atomic_load(&hook_calls);
    n = ustor_cdb_read10(cdb, VIO_BAD_TABLE_LBA, 8, false);
    rc = ustor_blk_scsi_sync(e.blk, cdb, n, USTOR_BLK_DIR_IN, back, sizeof(back), 0, &r);
    assert_int_not_equal(rc, 0);
    assert_true(atomic_load(&hook_calls) > before);

    /* Everything else still works, data intact. */
    memset(back, 0, sizeof(back));
    assert_int_equal(ustor_blk_read_sync(e.blk, 8, 8, back, 0, NULL), 0);
    assert_memory_equal(buf, back, sizeof(buf));
    assert_int_equal(ustor_hw_device_stats(e.dev, &hw), 0);
    assert_true(hw.dma_faults >= 3);
    assert_int_equal(ustor_adapter_violations(e.ad), 0);
    vt_close(&e);
    ustor_phys_set_fault_hook(old);
}

struct bad_issuer {
    unsigned issued, failed;
};

static void issue_bad(struct vt_env *e, void *ctx)
{
    struct bad_issuer *b = ctx;
    struct ustor_blk_result res;
    uint8_t cdb[16], buf[4096];
    uint32_t lba = b->issued & 1 ? VIO_BAD_TABLE_LBA : VIO_BAD_DATA_LBA;
    bool read = (b->issued & 2) != 0;
    unsigned n = read ? ustor_cdb_read10(cdb, lba, 8, false) : ustor_cdb_write10(cdb, lba, 8, false);
    memset(buf, 0x5A, sizeof(buf));
    b->issued++;
    if (ustor_blk_scsi_sync(e->blk, cdb, n, read ? USTOR_BLK_DIR_IN : USTOR_BLK_DIR_OUT, buf, sizeof(buf), 0,
                            &res) != 0)
        b->failed++;
}

static void test_bad_address_under_load(void **s)
{
    struct vt_env e;
    struct vt_stress_result r;
    struct bad_issuer b = { 0, 0 };
    uint64_t seed = tu_seed();
    (void)s;

    /* Faulting requests next to a stress on other LBAs: each fault stays
     * with its own request, the stress sees nothing. */
    ustor_phys_fault_fn old = ustor_phys_set_fault_hook(fault_hook);
    atomic_store(&hook_bad_calls, 0);
    open_bad(&e, "sync=concurrent;intr=permessage");
    e.stress_blocks = VIO_BAD_DATA_LBA - VIO_BAD_DATA_LBA % 64;
    vt_stress(&e, 4, tu_iterations(1000), seed, issue_bad, &b, &r);
    vt_assert_clean(&e, &r, "virtio with bad DMA next to the stress", seed);
    assert_true(b.issued > 0);
    assert_int_equal(b.failed, b.issued);
    if (atomic_load(&hook_bad_calls) < b.issued)
        fail_msg("%u bad requests, %llu bad-address faults reported, %llu faults in all", b.issued,
                 (unsigned long long)atomic_load(&hook_bad_calls), (unsigned long long)atomic_load(&hook_calls));
    vt_close(&e);
    ustor_phys_set_fault_hook(old);
}

int main(void)
{
    tu_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_data_address),
        cmocka_unit_test(test_bad_address_under_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
