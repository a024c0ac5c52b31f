/* ustor-test-labels: virtio */
/*
 * test_virtio_scsi.c - what the virtio miniport makes of SCSI: identity
 * (INQUIRY, VPD 0x80 serial from the device's GET_ID), capacity from the
 * device configuration, REPORT LUNS, MODE SENSE, FLUSH for SYNCHRONIZE
 * CACHE and after FUA writes, UNMAP and WRITE SAME as DISCARD / WRITE
 * ZEROES, sense data for bad input, and its argument string checks.
 */
#include "vtest.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hw/bus.h"

int32_t virtio_DriverEntry(void *driver_object, void *registry_path);

static void open_env(struct vt_env *e, const char *device_opts)
{
    struct vt_setup s = { .args = "sync=full", .device_opts = device_opts };
    vt_open(e, &s);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static void test_identity_and_capacity(void **s)
{
    struct vt_env e;
    uint8_t buf[256];
    struct ustor_blk_result r;
    (void)s;
    open_env(&e, "serial=VTEST-SERIAL-42");
    const struct ustor_blk_info *info = ustor_blk_get_info(e.blk);
    assert_string_equal(info->vendor, "USTOR");
    assert_string_equal(info->product, "VIRTIO-BLK");
    assert_string_equal(info->serial, "VTEST-SERIAL-42"); /* VPD 0x80 from GET_ID */
    assert_int_equal(info->block_size, 512);
    assert_int_equal(info->num_blocks, 4u * 1024 * 1024 / 512);
    assert_true(info->can_unmap);
    assert_true(info->unmapped_reads_zero);
    assert_true(info->has_write_cache); /* VIRTIO_BLK_F_FLUSH negotiated */
    assert_int_equal(info->peripheral_type, 0);
    /* REPORT LUNS: exactly LUN 0. */
    memset(buf, 0xFF, sizeof(buf));
    assert_int_equal(ustor_blk_report_luns(e.blk, 0, buf, sizeof(buf), &r), 0);
    assert_int_equal(buf[3], 8); /* LUN LIST LENGTH: one entry */
    assert_true(all_zero(buf + 8, 8));
    /* TEST UNIT READY and REQUEST SENSE are answered by the miniport. */
    assert_int_equal(ustor_blk_test_unit_ready(e.blk, &r), 0);
    assert_int_equal(ustor_blk_request_sense(e.blk, false, buf, 18, &r), 0);
    assert_int_equal(buf[0] & 0x7F, 0x70);
    vt_close(&e);
}

static void test_flush_and_fua(void **s)
{
    struct vt_env e;
    struct ustor_hw_stats before, after;
    struct virtio_miniport_stats st;
    uint8_t data[4096], back[4096];
    (void)s;
    open_env(&e, "");
    virtio_miniport_get_stats(&st, 1);
    assert_int_equal(ustor_hw_device_stats(e.dev, &before), 0);
    assert_int_equal(ustor_blk_flush_sync(e.blk, NULL), 0);
    assert_int_equal(ustor_hw_device_stats(e.dev, &after), 0);
    assert_true(after.flushes > before.flushes);

    memset(data, 0xA5, sizeof(data));
    if (ustor_blk_get_info(e.blk)->supports_fua) {
        assert_int_equal(ustor_blk_write_sync(e.blk, 64, 8, data, USTOR_BLK_FUA, NULL), 0);
        virtio_miniport_get_stats(&st, 0);
        assert_true(st.fua_flushes >= 1);
    } else {
        /* No DPOFUA: send WRITE(10) with FUA by hand. */
        uint8_t cdb[16];
        unsigned n = ustor_cdb_write10(cdb, 64, 8, true);
        assert_int_equal(ustor_blk_scsi_sync(e.blk, cdb, n, USTOR_BLK_DIR_OUT, data, sizeof(data), 0, NULL), 0);
        virtio_miniport_get_stats(&st, 0);
        assert_true(st.fua_flushes >= 1);
    }
    assert_int_equal(ustor_blk_read_sync(e.blk, 64, 8, back, 0, NULL), 0);
    assert_memory_equal(data, back, sizeof(data));
    vt_close(&e);
}

static void test_unmap_and_write_same(void **s)
{
    struct vt_env e;
    uint8_t data[64 * 512], back[64 * 512];
    struct ustor_hw_stats hw;
    (void)s;
    open_env(&e, "");
    memset(data, 0x3C, sizeof(data));
    /* Aligned UNMAP (DISCARD) and an unaligned one (WRITE ZEROES + unmap). */
    assert_int_equal(ustor_blk_write_sync(e.blk, 128, 64, data, 0, NULL), 0);
    struct ustor_blk_result ur;
    if (ustor_blk_unmap_sync(e.blk, 128, 16, &ur) != 0)
        fail_msg("unmap: %d srb 0x%x sense %x/%x/%x", ur.error, ur.srb_status, ur.sense_key, ur.asc, ur.ascq);
    assert_int_equal(ustor_blk_unmap_sync(e.blk, 147, 5, NULL), 0);
    assert_int_equal(ustor_blk_read_sync(e.blk, 128, 64, back, 0, NULL), 0);
    assert_true(all_zero(back, 16 * 512));
    assert_memory_equal(back + 16 * 512, data, 3 * 512);
    assert_true(all_zero(back + 19 * 512, 5 * 512));
    assert_memory_equal(back + 24 * 512, data, 40 * 512);
    /* WRITE SAME (16) with and without UNMAP. */
    assert_int_equal(ustor_blk_write_sync(e.blk, 256, 64, data, 0, NULL), 0);
    assert_int_equal(ustor_blk_write_zeroes_sync(e.blk, 256, 24, USTOR_BLK_MAY_UNMAP, NULL), 0);
    struct ustor_blk_result wz;
    if (ustor_blk_write_zeroes_sync(e.blk, 290, 10, 0, &wz) != 0)
        fail_msg("write zeroes: %d srb 0x%x sense %x/%x/%x", wz.error, wz.srb_status, wz.sense_key, wz.asc,
                 wz.ascq);
    assert_int_equal(ustor_blk_read_sync(e.blk, 256, 64, back, 0, NULL), 0);
    assert_true(all_zero(back, 24 * 512));
    assert_memory_equal(back + 24 * 512, data, 10 * 512);
    assert_true(all_zero(back + 34 * 512, 10 * 512));
    assert_memory_equal(back + 44 * 512, data, 20 * 512);
    assert_int_equal(ustor_hw_device_stats(e.dev, &hw), 0);
    assert_int_equal(hw.errors, 0);
    assert_int_equal(hw.bad_requests, 0);
    vt_close(&e);
}

static void test_bad_input_sense(void **s)
{
    struct vt_env e;
    struct ustor_blk_result r;
    uint8_t cdb[16], buf[4096], block[512];
    unsigned n;
    (void)s;
    open_env(&e, "");
    /* Past the end: ILLEGAL REQUEST / LBA OUT OF RANGE, nothing sent. */
    n = ustor_cdb_read16(cdb, 8192 - 4, 8, false);
    assert_int_not_equal(ustor_blk_scsi_sync(e.blk, cdb, n, USTOR_BLK_DIR_IN, buf, sizeof(buf), 0, &r), 0);
    assert_int_equal(r.sense_key, 0x05);
    assert_int_equal(r.asc, 0x21);
    /* Unknown opcode: INVALID COMMAND OPERATION CODE. */
    memset(cdb, 0, sizeof(cdb));
    cdb[0] = 0xC7;
    assert_int_equal(ustor_blk_scsi_sync(e.blk, cdb, 10, USTOR_BLK_DIR_NONE, NULL, 0, 0, &r), -EOPNOTSUPP);
    assert_int_equal(r.asc, 0x20);
    /* Buffer shorter than the transfer: INVALID FIELD IN CDB, no partial write. */
    n = ustor_cdb_write10(cdb, 0, 8, false);
    assert_int_not_equal(ustor_blk_scsi_sync(e.blk, cdb, n, USTOR_BLK_DIR_OUT, buf, 1024, 0, &r), 0);
    assert_int_equal(r.sense_key, 0x05);
    assert_int_equal(r.asc, 0x24);
    /* WRITE SAME of a non-zero block: virtio can only write zeroes. */
    memset(block, 1, sizeof(block));
    memset(cdb, 0, sizeof(cdb));
    cdb[0] = 0x93;
    cdb[13] = 4;
    assert_int_not_equal(ustor_blk_scsi_sync(e.blk, cdb, 16, USTOR_BLK_DIR_OUT, block, sizeof(block), 0, &r), 0);
    assert_int_equal(r.sense_key, 0x05);
    /* Unknown VPD page. */
    assert_int_not_equal(ustor_blk_inquiry(e.blk, true, 0x42, buf, 255, &r), 0);
    assert_int_equal(r.asc, 0x24);
    assert_int_equal(ustor_adapter_violations(e.ad), 0);
    vt_close(&e);
}

static void expect_bad_config(const char *args, const char *device_opts, bool with_device, const char *says)
{
    char err[512];
    ustor_driver *drv;
    ustor_adapter *ad = NULL;
    struct tu_reports rep = { 0 };
    struct ustor_bus_device *dev = NULL;
    if (with_device) {
        struct ustor_virtio_blk_config vc = { .options = device_opts };
        dev = ustor_virtio_blk_create(&vc, err, sizeof(err));
        assert_non_null(dev);
    }
    assert_int_equal(ustor_driver_from_entry(virtio_DriverEntry, "virtio", &drv, err, sizeof(err)), 0);
    struct ustor_adapter_config cfg = { .argument_string = args, .nr_cpus = 1, .device = dev,
                                        .verifier = USTOR_VERIFIER_LOG, .report_sink = tu_reports_sink,
                                        .report_ctx = &rep };
    assert_int_not_equal(ustor_adapter_create(drv, &cfg, &ad, err, sizeof(err)), 0);
    assert_null(ad);
    if (!strstr(err, says))
        fail_msg("args \"%s\": expected \"%s\" in: %s", args, says, err);
    ustor_driver_unload(drv);
    if (dev)
        dev->ops->destroy(dev->dev);
    tu_reports_clear(&rep);
}

static void test_bad_arguments(void **s)
{
    (void)s;
    expect_bad_config("sync=sideways", "", true, "BAD_CONFIG");
    expect_bad_config("intr=some", "", true, "BAD_CONFIG");
    expect_bad_config("queues=0", "", true, "BAD_CONFIG");
    expect_bad_config("queues=99", "", true, "BAD_CONFIG");
    expect_bad_config("stuck_ms=1", "", true, "BAD_CONFIG");
    expect_bad_config("colour=blue", "", true, "BAD_CONFIG");
    expect_bad_config("sync", "", true, "BAD_CONFIG");
    /* No device behind the adapter: not found, not a crash. */
    expect_bad_config("sync=full", "", false, "NOT_FOUND");
}

static void test_queue_choice(void **s)
{
    struct ustor_adapter_info info;
    struct vt_env e;
    struct vt_setup st = { .args = "sync=concurrent;queues=2", .device_opts = "queues=4" };
    (void)s;
    vt_open(&e, &st);
    ustor_adapter_get_info(e.ad, &info);
    assert_int_equal(info.mode, USTOR_SYNC_CONCURRENT);
    assert_int_equal(info.concurrent_channels, 2);
    assert_true(info.msi);
    vt_close(&e);
    /* A single-queue device: concurrent mode falls back to one channel. */
    struct vt_setup one = { .args = "sync=concurrent", .device_opts = "queues=1" };
    vt_open(&e, &one);
    ustor_adapter_get_info(e.ad, &info);
    assert_int_equal(info.mode, USTOR_SYNC_FULL_DUPLEX);
    uint8_t buf[4096];
    memset(buf, 7, sizeof(buf));
    assert_int_equal(ustor_blk_write_sync(e.blk, 0, 8, buf, 0, NULL), 0);
    vt_close(&e);
}

static void test_adapter_shape(void **s)
{
    struct ustor_adapter_info info;
    struct vt_env e;
    struct vt_setup st = { .args = "sync=full;intr=permessage", .device_opts = "queues=4" };
    (void)s;
    /* What HwStorFindAdapter told the port. */
    vt_open(&e, &st);
    ustor_adapter_get_info(e.ad, &info);
    assert_string_equal(info.miniport, "virtio-test");
    assert_false(info.virtual_miniport);
    assert_int_equal(info.mode, USTOR_SYNC_FULL_DUPLEX);
    assert_true(info.msi);
    assert_true(info.per_message_interrupts);
    assert_int_equal(info.interrupt_messages, 5); /* 4 queues + configuration */
    assert_true(info.srbex);
    assert_int_equal(info.max_path, 1);
    assert_int_equal(info.max_target, 1);
    assert_int_equal(info.max_lun, 1);
    assert_int_equal(info.max_transfer_length, 512 * 1024);
    assert_int_equal(info.number_of_physical_breaks, 63);
    assert_int_equal(info.srb_extension_size, ustor_adapter_srb_extension_size(e.ad));
    assert_true(info.srb_extension_size > 0);
    assert_true(info.supported_control_types & (1u << ScsiStopAdapter));
    assert_true(info.supported_control_types & (1u << ScsiRestartAdapter));
    /* A transfer of the full MaximumTransferLength goes through. */
    static uint8_t big[512 * 1024], back[512 * 1024];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 13 + 5);
    assert_int_equal(ustor_blk_write_sync(e.blk, 1024, sizeof(big) / 512, big, 0, NULL), 0);
    assert_int_equal(ustor_blk_read_sync(e.blk, 1024, sizeof(back) / 512, back, 0, NULL), 0);
    assert_memory_equal(big, back, sizeof(big));
    vt_close(&e);
    /* INTx: one line, no message routine. */
    struct vt_setup intx = { .args = "sync=half", .device_opts = "msix=off" };
    vt_open(&e, &intx);
    ustor_adapter_get_info(e.ad, &info);
    assert_false(info.msi);
    assert_int_equal(info.mode, USTOR_SYNC_HALF_DUPLEX);
    vt_close(&e);
}

int main(void)
{
    tu_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_and_capacity),
        cmocka_unit_test(test_flush_and_fua),
        cmocka_unit_test(test_unmap_and_write_same),
        cmocka_unit_test(test_bad_input_sense),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_queue_choice),
        cmocka_unit_test(test_adapter_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
