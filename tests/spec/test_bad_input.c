/*
 * test_bad_input.c - bad input gets a clear error that says what was wrong
 * and what would be right, never a crash or a hang: broken
 * HW_INITIALIZATION_DATA, a miniport .so without DriverEntry, failing
 * find-adapter / initialize routines, malformed SRBs, absent LUNs.
 */
#include "testutil.h"

#include <errno.h>
#include <string.h>

#include "probe.h"

static char err[512];

static ULONG entry_null(PVOID d, PVOID r)
{
    return StorPortInitialize(d, r, NULL, NULL);
}

static ULONG entry_undersized(PVOID d, PVOID r)
{
    HW_INITIALIZATION_DATA hw;
    memset(&hw, 0, sizeof(hw));
    hw.HwInitializationDataSize = 16;
    return StorPortInitialize(d, r, &hw, NULL);
}

static BOOLEAN dummy_init(PVOID e) { (void)e; return TRUE; }
static BOOLEAN dummy_reset(PVOID e, ULONG p) { (void)e; (void)p; return TRUE; }
static SCSI_ADAPTER_CONTROL_STATUS dummy_ac(PVOID e, SCSI_ADAPTER_CONTROL_TYPE t, PVOID p)
{
    (void)e; (void)t; (void)p;
    return ScsiAdapterControlSuccess;
}
static ULONG find_bad_config(PVOID e, PVOID c, PVOID b, PCHAR a, PPORT_CONFIGURATION_INFORMATION ci, PBOOLEAN ag)
{
    (void)e; (void)c; (void)b; (void)a; (void)ag;
    ci->MaximumTransferLength = 4096;
    ci->NumberOfPhysicalBreaks = 1;
    return SP_RETURN_BAD_CONFIG;
}
static ULONG find_ok(PVOID e, PVOID c, PVOID b, PCHAR a, PPORT_CONFIGURATION_INFORMATION ci, PBOOLEAN ag)
{
    (void)e; (void)c; (void)b; (void)a; (void)ag;
    ci->MaximumTransferLength = 4096;
    ci->NumberOfPhysicalBreaks = 1;
    return SP_RETURN_FOUND;
}
static BOOLEAN init_fails(PVOID e) { (void)e; return FALSE; }
static BOOLEAN startio_nop(PVOID e, PSCSI_REQUEST_BLOCK s) { (void)e; (void)s; return TRUE; }

static void fill(HW_INITIALIZATION_DATA *hw)
{
    memset(hw, 0, sizeof(*hw));
    hw->HwInitializationDataSize = sizeof(*hw);
    hw->AdapterInterfaceType = Internal;
    hw->HwInitialize = dummy_init;
    hw->HwStartIo = startio_nop;
    hw->HwFindAdapter = (PVOID)find_ok;
    hw->HwResetBus = dummy_reset;
    hw->HwAdapterControl = dummy_ac;
    hw->DeviceExtensionSize = 64;
}

static ULONG entry_no_startio(PVOID d, PVOID r)
{
    HW_INITIALIZATION_DATA hw;
    fill(&hw);
    hw.HwStartIo = NULL;
    return StorPortInitialize(d, r, &hw, NULL);
}

static ULONG entry_no_call(PVOID d, PVOID r)
{
    (void)d;
    (void)r;
    return 0;
}

static ULONG entry_bad_config(PVOID d, PVOID r)
{
    HW_INITIALIZATION_DATA hw;
    fill(&hw);
    hw.HwFindAdapter = (PVOID)find_bad_config;
    return StorPortInitialize(d, r, &hw, NULL);
}

static ULONG entry_init_fails(PVOID d, PVOID r)
{
    HW_INITIALIZATION_DATA hw;
    fill(&hw);
    hw.HwInitialize = init_fails;
    return StorPortInitialize(d, r, &hw, NULL);
}

static void expect_load_error(ustor_driver_entry_fn e, const char *needle)
{
    ustor_driver *drv = NULL;
    memset(err, 0, sizeof(err));
    assert_int_not_equal(ustor_driver_from_entry(e, "bad", &drv, err, sizeof(err)), 0);
    assert_null(drv);
    if (!strstr(err, needle))
        fail_msg("error \"%s\" does not say \"%s\"", err, needle);
}

static void test_null_hw_initialization_data(void **s)
{
    (void)s;
    expect_load_error((ustor_driver_entry_fn)entry_null, "HwInitializationData is NULL");
}

static void test_undersized_hw_initialization_data(void **s)
{
    (void)s;
    expect_load_error((ustor_driver_entry_fn)entry_undersized, "smaller than sizeof(HW_INITIALIZATION_DATA)");
}

static void test_missing_mandatory_routine(void **s)
{
    (void)s;
    expect_load_error((ustor_driver_entry_fn)entry_no_startio, "HwStartIo is NULL");
}

static void test_driver_entry_without_storport_initialize(void **s)
{
    (void)s;
    expect_load_error((ustor_driver_entry_fn)entry_no_call, "without calling StorPortInitialize");
}

static void test_so_without_driver_entry(void **s)
{
    (void)s;
    ustor_driver *drv = NULL;
    assert_int_not_equal(ustor_driver_load(USTOR_TEST_MODULE_DIR "/libnoentry.so", &drv, err, sizeof(err)), 0);
    assert_null(drv);
    assert_non_null(strstr(err, "does not export DriverEntry"));
    assert_int_not_equal(ustor_driver_load("/nonexistent/libnothing.so", &drv, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "cannot load miniport /nonexistent/libnothing.so"));
}

static void test_find_adapter_failure_says_which_routine(void **s)
{
    (void)s;
    ustor_driver *drv;
    assert_int_equal(ustor_driver_from_entry((ustor_driver_entry_fn)entry_bad_config, "bad", &drv, err, sizeof(err)), 0);
    struct ustor_adapter_config cfg = { .argument_string = "x=1", .verifier = USTOR_VERIFIER_OFF };
    ustor_adapter *ad = NULL;
    assert_int_not_equal(ustor_adapter_create(drv, &cfg, &ad, err, sizeof(err)), 0);
    assert_null(ad);
    assert_non_null(strstr(err, "HwStorFindAdapter returned SP_RETURN_BAD_CONFIG"));
    ustor_driver_unload(drv);

    assert_int_equal(ustor_driver_from_entry((ustor_driver_entry_fn)entry_init_fails, "bad", &drv, err, sizeof(err)), 0);
    assert_int_not_equal(ustor_adapter_create(drv, &cfg, &ad, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "HwStorInitialize returned FALSE"));
    ustor_driver_unload(drv);
}

/* ---- malformed SRBs --------------------------------------------------- */

static struct tu_reports rep;
static ustor_driver *pdrv;

static void submit_bad(ustor_adapter *ad, void *srb, struct tu_srb *s, int want, const char *needle)
{
    int rc = ustor_submit_srb(ad, srb, tu_srb_done, s);
    assert_int_equal(rc, want);
    if (!strstr(ustor_last_error(), needle))
        fail_msg("error \"%s\" does not say \"%s\"", ustor_last_error(), needle);
    assert_int_equal(s->done, 0);
}

static void test_malformed_srbs_rejected(void **st)
{
    (void)st;
    const UCHAR tur[6] = { 0 };
    struct tu_srb s;
    ustor_adapter *ad = tu_adapter((ustor_driver_entry_fn)probe_phys_DriverEntry, "sync=full;srb=scsi", &rep, &pdrv);
    assert_non_null(ad);

    SCSI_REQUEST_BLOCK *srb = tu_srb_init(&s, false, 0, tur, 6, NULL, 0, 0);
    srb->Length = 12;
    submit_bad(ad, srb, &s, -EINVAL, "Length is 12");
    srb = tu_srb_init(&s, false, 0, tur, 6, NULL, 0, 0);
    srb->CdbLength = 0;
    submit_bad(ad, srb, &s, -EINVAL, "CdbLength is 0");
    srb = tu_srb_init(&s, false, 0, tur, 6, NULL, 4096, SRB_FLAGS_DATA_IN);
    submit_bad(ad, srb, &s, -EINVAL, "DataBuffer is NULL");
    srb = tu_srb_init(&s, false, 5, tur, 6, NULL, 0, 0);
    submit_bad(ad, srb, &s, -ENODEV, "no logical unit 0/0/5");
    srb = tu_srb_init(&s, false, 0, tur, 6, NULL, 0, 0);
    srb->TargetId = 9;
    submit_bad(ad, srb, &s, -ENODEV, "1 target(s)");
    assert_int_equal(ustor_submit_srb(ad, NULL, tu_srb_done, &s), -EINVAL);
    assert_int_equal(ustor_submit_srb(NULL, srb, tu_srb_done, &s), -EINVAL);
    assert_true(tu_reports_count(&rep, "BadSrb", NULL) >= 3);
    /* the adapter still works */
    srb = tu_srb_init(&s, false, 0, tur, 6, NULL, 0, SRB_FLAGS_NO_DATA_TRANSFER);
    assert_int_equal(ustor_submit_srb(ad, srb, tu_srb_done, &s), 0);
    assert_true(tu_wait_done(&s, 1, 5000));
    assert_int_equal(s.status, SRB_STATUS_SUCCESS);
    tu_adapter_free(ad, pdrv);
    tu_reports_clear(&rep);

    ad = tu_adapter((ustor_driver_entry_fn)probe_phys_DriverEntry, "sync=full", &rep, &pdrv);
    assert_non_null(ad);
    STORAGE_REQUEST_BLOCK *x = tu_srb_init(&s, true, 0, tur, 6, NULL, 0, 0);
    x->Signature = 0x1234;
    submit_bad(ad, x, &s, -EINVAL, "expected SRB_SIGNATURE");
    x = tu_srb_init(&s, true, 0, tur, 6, NULL, 0, 0);
    x->SrbExDataOffset[0] = 4000;
    submit_bad(ad, x, &s, -EINVAL, "SrbExDataOffset[0] = 4000");
    x = tu_srb_init(&s, true, 0, tur, 6, NULL, 0, 0);
    x->AddressOffset = 0;
    submit_bad(ad, x, &s, -EINVAL, "AddressOffset");
    x = tu_srb_init(&s, true, 0, tur, 6, NULL, 0, 0);
    x->SrbLength = 8;
    submit_bad(ad, x, &s, -EINVAL, "SrbLength 8 is too small");
    x = tu_srb_init(&s, true, 0, tur, 6, NULL, 0, 0);
    x->Version = 7;
    submit_bad(ad, x, &s, -EINVAL, "Version is 7");
    tu_adapter_free(ad, pdrv);
    tu_reports_clear(&rep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null_hw_initialization_data),
        cmocka_unit_test(test_undersized_hw_initialization_data),
        cmocka_unit_test(test_missing_mandatory_routine),
        cmocka_unit_test(test_driver_entry_without_storport_initialize),
        cmocka_unit_test(test_so_without_driver_entry),
        cmocka_unit_test(test_find_adapter_failure_says_which_routine),
        cmocka_unit_test(test_malformed_srbs_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
