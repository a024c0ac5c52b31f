/*
 * test_bus.c - src/port/bus.c: configuration space, device bases,
 * register and port I/O decoded to (BAR, offset), MSI information, and
 * the errors for adapters without a device and for unmapped addresses.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "port_mp.h"

static struct fake_dev fake;
static struct ustor_bus_device fake_bus;
static struct tu_reports rep;
static ustor_driver *drv;
static ustor_adapter *adapter;
static PVOID ext;

static int setup_phys(void **state)
{
    (void)state;
    memset(&mp_state, 0, sizeof(mp_state));
    tu_reports_clear(&rep);
    fake_init(&fake, &fake_bus, 4);
    adapter = mp_create(false, &fake_bus, "msi", &rep, &drv);
    ext = mp_state.ext;
    return adapter ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ustor_adapter_destroy(adapter);
    ustor_driver_unload(drv);
    adapter = NULL;
    return 0;
}

static unsigned bad_args(void)
{
    return tu_reports_count(&rep, "BadArgument", NULL);
}

/* ---- configuration space ------------------------------------------------------- */

static void test_find_adapter_reads_config_space(void **state)
{
    (void)state;
    assert_int_equal(mp_state.bus_bytes, 64);
    assert_int_equal(mp_state.vendor, FAKE_VENDOR);
    assert_int_equal(mp_state.nr_ranges, 2);
    assert_non_null(mp_state.mem_base);
    assert_non_null(mp_state.io_base);
    assert_int_equal(bad_args(), 0);
}

static void test_get_bus_data_copies_requested_length(void **state)
{
    (void)state;
    UCHAR buf[256];
    memset(buf, 0xAA, sizeof(buf));
    ULONG n = StorPortGetBusData(ext, PCIConfiguration, 0, 0, buf, 0x48);
    assert_int_equal(n, 0x48);
    assert_memory_equal(buf, fake.cfg, 0x48);
    assert_int_equal(buf[0x48], 0xAA); /* nothing past Length */
}

static void test_get_bus_data_length_zero_returns_port_buffer(void **state)
{
    (void)state;
    PVOID p = NULL;
    ULONG n = StorPortGetBusData(ext, PCIConfiguration, 0, 0, &p, 0);
    assert_int_equal(n, 256);
    assert_non_null(p);
    assert_memory_equal(p, fake.cfg, 256);
}

static void test_get_bus_data_empty_slot_reads_invalid_vendor(void **state)
{
    (void)state;
    USHORT vendor = 0;
    ULONG n = StorPortGetBusData(ext, PCIConfiguration, 0, 7, &vendor, sizeof(vendor));
    assert_int_equal(n, 2);
    assert_int_equal(vendor, 0xFFFF);
}

static void test_get_bus_data_other_bus_types_have_no_data(void **state)
{
    (void)state;
    UCHAR buf[16];
    assert_int_equal(StorPortGetBusData(ext, Cmos, 0, 0, buf, sizeof(buf)), 0);
}

static void test_set_bus_data_by_offset_writes_config_space(void **state)
{
    (void)state;
    UCHAR v[3] = { 0x11, 0x22, 0x33 };
    assert_int_equal(StorPortSetBusDataByOffset(ext, PCIConfiguration, 0, 0, v, 0x80, sizeof(v)), 3);
    assert_memory_equal(fake.cfg + 0x80, v, 3);
    assert_int_equal(fake.cfg[0x83], 0x83);
}

/* ---- registers ----------------------------------------------------------------- */

static void test_register_access_decodes_bar_offset_and_size(void **state)
{
    (void)state;
    PUCHAR base = mp_state.mem_base;
    fake.nlog = 0;
    StorPortWriteRegisterUlong(ext, (PULONG)(base + 0x10), 0xA1B2C3D4);
    assert_int_equal(fake.nlog, 1);
    assert_int_equal(fake.log[0].bar, 0);
    assert_int_equal(fake.log[0].offset, 0x10);
    assert_int_equal(fake.log[0].size, 4);
    assert_true(fake.log[0].write);
    assert_int_equal(StorPortReadRegisterUlong(ext, (PULONG)(base + 0x10)), 0xA1B2C3D4);
    assert_int_equal(StorPortReadRegisterUshort(ext, (PUSHORT)(base + 0x12)), 0xA1B2);
    assert_int_equal(StorPortReadRegisterUchar(ext, base + 0x11), 0xC3);
    assert_int_equal(fake.log[3].size, 1);
    assert_int_equal(fake.log[3].offset, 0x11);

    StorPortWriteRegisterUlong64(ext, (PULONG64)(base + 0xFF8), 0x0102030405060708ull);
    assert_true(StorPortReadRegisterUlong64(ext, (PULONG64)(base + 0xFF8)) == 0x0102030405060708ull);
    StorPortWriteRegisterUchar(ext, base + 0x20, 0x5A);
    StorPortWriteRegisterUshort(ext, (PUSHORT)(base + 0x22), 0xBEEF);
    assert_int_equal(fake.bar0[0x20], 0x5A);
    assert_int_equal(fake.bar0[0x22] | fake.bar0[0x23] << 8, 0xBEEF);
    assert_int_equal(bad_args(), 0);
}

static void test_port_access_uses_io_bar(void **state)
{
    (void)state;
    PUCHAR io = mp_state.io_base;
    fake.nlog = 0;
    StorPortWritePortUshort(ext, (PUSHORT)(io + 4), 0x1234);
    assert_int_equal(fake.log[0].bar, 2);
    assert_int_equal(fake.log[0].offset, 4);
    assert_int_equal(StorPortReadPortUshort(ext, (PUSHORT)(io + 4)), 0x1234);
    StorPortWritePortUlong(ext, (PULONG)(io + 8), 0xCAFEF00D);
    assert_int_equal(StorPortReadPortUlong(ext, (PULONG)(io + 8)), 0xCAFEF00D);
    StorPortWritePortUchar(ext, io + 1, 0x77);
    assert_int_equal(StorPortReadPortUchar(ext, io + 1), 0x77);
    assert_int_equal(bad_args(), 0);
}

static void test_register_buffers_walk_addresses_port_buffers_repeat(void **state)
{
    (void)state;
    PUCHAR base = mp_state.mem_base;
    PUCHAR io = mp_state.io_base;
    ULONG in[4] = { 1, 2, 3, 4 }, out[4] = { 0 };
    fake.nlog = 0;
    StorPortWriteRegisterBufferUlong(ext, (PULONG)(base + 0x100), in, 4);
    assert_int_equal(fake.nlog, 4);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(fake.log[i].offset, 0x100 + 4 * i);
    StorPortReadRegisterBufferUlong(ext, (PULONG)(base + 0x100), out, 4);
    assert_memory_equal(in, out, sizeof(in));

    fake.nlog = 0;
    UCHAR bytes[3] = { 9, 8, 7 };
    StorPortWritePortBufferUchar(ext, io + 0x10, bytes, 3);
    assert_int_equal(fake.nlog, 3);
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(fake.log[i].offset, 0x10);
    assert_int_equal(fake.bar2[0x10], 7); /* the last byte written to the one port */
    UCHAR back[2];
    StorPortReadPortBufferUchar(ext, io + 0x10, back, 2);
    assert_int_equal(back[0], 7);
    assert_int_equal(back[1], 7);

    USHORT us[2] = { 0x1111, 0x2222 }, usb[2] = { 0 };
    StorPortWriteRegisterBufferUshort(ext, (PUSHORT)(base + 0x200), us, 2);
    StorPortReadRegisterBufferUshort(ext, (PUSHORT)(base + 0x200), usb, 2);
    assert_memory_equal(us, usb, sizeof(us));
    UCHAR ub[2] = { 0x31, 0x32 }, ubb[2] = { 0 };
    StorPortWriteRegisterBufferUchar(ext, base + 0x300, ub, 2);
    StorPortReadRegisterBufferUchar(ext, base + 0x300, ubb, 2);
    assert_memory_equal(ub, ubb, 2);
    USHORT pw[2] = { 0xAAAA, 0xBBBB }, pr[2] = { 0 };
    StorPortWritePortBufferUshort(ext, (PUSHORT)(io + 0x20), pw, 2);
    StorPortReadPortBufferUshort(ext, (PUSHORT)(io + 0x20), pr, 2);
    assert_int_equal(pr[0], 0xBBBB);
    ULONG pl[2] = { 5, 6 }, plr[2] = { 0 };
    StorPortWritePortBufferUlong(ext, (PULONG)(io + 0x30), pl, 2);
    StorPortReadPortBufferUlong(ext, (PULONG)(io + 0x30), plr, 2);
    assert_int_equal(plr[1], 6);
    assert_int_equal(bad_args(), 0);
}

static void test_unmapped_register_reads_all_ones_and_reports(void **state)
{
    (void)state;
    ULONG stray = 0;
    unsigned before = bad_args();
    fake.nlog = 0;
    assert_int_equal(StorPortReadRegisterUlong(ext, &stray), 0xFFFFFFFFu);
    assert_int_equal(StorPortReadRegisterUchar(ext, (PUCHAR)&stray), 0xFF);
    StorPortWriteRegisterUlong(ext, &stray, 5);
    assert_int_equal(stray, 0);            /* never dereferenced */
    assert_int_equal(fake.nlog, 0);        /* never reached the device */
    /* Past the end of the mapping: the last 4 bytes fit, 8 do not. */
    PUCHAR base = mp_state.mem_base;
    assert_int_equal(StorPortReadRegisterUlong(ext, (PULONG)(base + FAKE_BAR0_LEN - 4)), 0);
    assert_true(StorPortReadRegisterUlong64(ext, (PULONG64)(base + FAKE_BAR0_LEN - 4)) == ~0ull);
    assert_int_equal(bad_args(), before + 4);
}

static void test_bad_device_extension_does_not_crash(void **state)
{
    (void)state;
    int not_an_ext;
    assert_int_equal(StorPortReadRegisterUlong(&not_an_ext, (PULONG)mp_state.mem_base), 0xFFFFFFFFu);
    assert_null(StorPortGetDeviceBase(&not_an_ext, PCIBus, 0, StorPortConvertUlongToPhysicalAddress(FAKE_BAR0_PHYS),
                                      16, FALSE));
}

/* ---- device bases -------------------------------------------------------------- */

static void test_device_base_outside_any_bar_is_refused(void **state)
{
    (void)state;
    unsigned before = bad_args();
    PHYSICAL_ADDRESS pa;
    pa.QuadPart = (LONGLONG)(FAKE_BAR0_PHYS + FAKE_BAR0_LEN - 8);
    assert_null(StorPortGetDeviceBase(ext, PCIBus, 0, pa, 16, FALSE)); /* runs past the end */
    pa.QuadPart = 0x1000;
    assert_null(StorPortGetDeviceBase(ext, PCIBus, 0, pa, 4, FALSE));
    pa.QuadPart = (LONGLONG)FAKE_BAR0_PHYS;
    assert_null(StorPortGetDeviceBase(ext, PCIBus, 0, pa, 4, TRUE));   /* memory BAR as I/O */
    assert_null(StorPortGetDeviceBase(ext, PCIBus, 0, pa, 0, FALSE));
    assert_int_equal(bad_args(), before + 4);
}

static void test_device_base_inside_bar_keeps_offset(void **state)
{
    (void)state;
    PHYSICAL_ADDRESS pa;
    pa.QuadPart = (LONGLONG)(FAKE_BAR0_PHYS + 0x400);
    PUCHAR sub = StorPortGetDeviceBase(ext, PCIBus, 0, pa, 0x100, FALSE);
    assert_non_null(sub);
    assert_ptr_not_equal(sub, mp_state.mem_base);
    fake.nlog = 0;
    StorPortWriteRegisterUlong(ext, (PULONG)(sub + 8), 42);
    assert_int_equal(fake.log[0].offset, 0x408);
    assert_int_equal(StorPortReadRegisterUlong(ext, (PULONG)((PUCHAR)mp_state.mem_base + 0x408)), 42);
    StorPortFreeDeviceBase(ext, sub);
    unsigned before = bad_args();
    assert_int_equal(StorPortReadRegisterUlong(ext, (PULONG)(sub + 8)), 0xFFFFFFFFu); /* freed */
    StorPortFreeDeviceBase(ext, sub);                                              /* twice */
    assert_int_equal(bad_args(), before + 2);
}

static void test_device_base_mapped_twice_is_counted(void **state)
{
    (void)state;
    /* A restart that maps its BAR again gets the same address back; each
     * mapping is freed on its own. */
    PHYSICAL_ADDRESS pa;
    pa.QuadPart = (LONGLONG)FAKE_BAR0_PHYS;
    PUCHAR again = StorPortGetDeviceBase(ext, PCIBus, 0, pa, FAKE_BAR0_LEN, FALSE);
    assert_ptr_equal(again, mp_state.mem_base);
    StorPortFreeDeviceBase(ext, again);
    StorPortWriteRegisterUlong(ext, (PULONG)(again + 4), 9);
    assert_int_equal(fake.bar0[4], 9);
    StorPortFreeDeviceBase(ext, again);
    unsigned before = bad_args();
    assert_int_equal(StorPortReadRegisterUlong(ext, (PULONG)(again + 4)), 0xFFFFFFFFu);
    assert_int_equal(bad_args(), before + 1);
}

static void test_device_base_is_not_dereferenceable(void **state)
{
    (void)state;
    /* A miniport that skips StorPortReadRegister* must crash at once. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* cmocka (and sanitizers) catch SIGSEGV; the child wants to die of it. */
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        volatile ULONG v = *(volatile ULONG *)mp_state.mem_base;
        (void)v;
        _exit(0);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_false(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_validate_range_is_deprecated_but_answers(void **state)
{
    (void)state;
    unsigned before = tu_reports_count(&rep, "StorPortDeprecated", NULL);
    PHYSICAL_ADDRESS in, out;
    in.QuadPart = (LONGLONG)(FAKE_BAR2_PHYS + 0x10);
    out.QuadPart = (LONGLONG)(FAKE_BAR2_PHYS + FAKE_BAR2_LEN);
    assert_true(StorPortValidateRange(ext, PCIBus, 0, in, 0x10, TRUE));
    assert_false(StorPortValidateRange(ext, PCIBus, 0, out, 4, TRUE));
    assert_false(StorPortValidateRange(ext, PCIBus, 0, in, 4, FALSE));
    assert_int_equal(tu_reports_count(&rep, "StorPortDeprecated", NULL), before + 3);
}

/* ---- MSI ------------------------------------------------------------------------- */

static void test_msi_info_for_each_message(void **state)
{
    (void)state;
    struct ustor_adapter_info info;
    ustor_adapter_get_info(adapter, &info);
    assert_true(info.interrupt_messages > 0); /* the miniport asked for MSI, the device has 4 */
    MESSAGE_INTERRUPT_INFORMATION mi;
    for (ULONG m = 0; m < info.interrupt_messages; m++) {
        memset(&mi, 0xEE, sizeof(mi));
        assert_int_equal(StorPortGetMSIInfo(ext, m, &mi), STOR_STATUS_SUCCESS);
        assert_int_equal(mi.MessageId, m);
        assert_int_equal(mi.InterruptMode, Latched);
        assert_true(mi.InterruptLevel > DISPATCH_LEVEL);
        assert_true(mi.MessageAddress.QuadPart != 0);
    }
    assert_int_equal(StorPortGetMSIInfo(ext, info.interrupt_messages, &mi), STOR_STATUS_INVALID_PARAMETER);
    assert_int_equal(StorPortGetMSIInfo(ext, 0, NULL), STOR_STATUS_INVALID_PARAMETER);
}

/* ---- adapters without a device --------------------------------------------------- */

static void no_device_checks(void)
{
    unsigned before = bad_args();
    UCHAR buf[64];
    assert_int_equal(StorPortGetBusData(ext, PCIConfiguration, 0, 0, buf, sizeof(buf)), 0);
    PHYSICAL_ADDRESS pa;
    pa.QuadPart = (LONGLONG)FAKE_BAR0_PHYS;
    assert_null(StorPortGetDeviceBase(ext, PCIBus, 0, pa, 16, FALSE));
    ULONG word = 0;
    assert_int_equal(StorPortReadRegisterUlong(ext, &word), 0xFFFFFFFFu);
    StorPortWritePortUlong(ext, &word, 1);
    assert_int_equal(word, 0);
    MESSAGE_INTERRUPT_INFORMATION mi;
    assert_int_equal(StorPortGetMSIInfo(ext, 0, &mi), STOR_STATUS_INVALID_PARAMETER);
    assert_int_equal(bad_args(), before + 3);
}

static void test_virtual_miniport_has_no_bus(void **state)
{
    (void)state;
    memset(&mp_state, 0, sizeof(mp_state));
    tu_reports_clear(&rep);
    ustor_driver *vdrv;
    ustor_adapter *vad = mp_create(true, NULL, "", &rep, &vdrv);
    ext = mp_state.ext;
    no_device_checks();
    ustor_adapter_destroy(vad);
    ustor_driver_unload(vdrv);
}

static void test_physical_miniport_without_device(void **state)
{
    (void)state;
    memset(&mp_state, 0, sizeof(mp_state));
    tu_reports_clear(&rep);
    ustor_driver *pdrv;
    ustor_adapter *pad = mp_create(false, NULL, "", &rep, &pdrv);
    ext = mp_state.ext;
    assert_int_equal(mp_state.bus_bytes, 0);
    assert_null(mp_state.mem_base);
    no_device_checks();
    ustor_adapter_destroy(pad);
    ustor_driver_unload(pdrv);
}

int main(void)
{
    tu_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_find_adapter_reads_config_space, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_get_bus_data_copies_requested_length, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_get_bus_data_length_zero_returns_port_buffer, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_get_bus_data_empty_slot_reads_invalid_vendor, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_get_bus_data_other_bus_types_have_no_data, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_set_bus_data_by_offset_writes_config_space, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_register_access_decodes_bar_offset_and_size, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_port_access_uses_io_bar, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_register_buffers_walk_addresses_port_buffers_repeat, setup_phys,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unmapped_register_reads_all_ones_and_reports, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_bad_device_extension_does_not_crash, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_device_base_outside_any_bar_is_refused, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_device_base_inside_bar_keeps_offset, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_device_base_mapped_twice_is_counted, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_device_base_is_not_dereferenceable, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_validate_range_is_deprecated_but_answers, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_msi_info_for_each_message, setup_phys, teardown),
        cmocka_unit_test(test_virtual_miniport_has_no_bus),
        cmocka_unit_test(test_physical_miniport_without_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
