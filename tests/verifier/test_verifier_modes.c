/*
 * test_verifier_modes.c - the verifier's policy, driven by the corpus:
 * warnings are counted apart from errors unless warnings_are_errors; in
 * fatal mode the first error stops the adapter; in off mode nothing is
 * reported or counted.
 */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct tu_reports rep;

static ustor_adapter *make(const char *args, enum ustor_verifier_mode vm, bool wae, ustor_driver **drv)
{
    char err[512];
    tu_reports_clear(&rep);
    ustor_adapter *ad = vh_adapter(USTOR_SYNC_FULL_DUPLEX, args, vm, wae, &rep, drv, err, sizeof(err));
    if (!ad)
        fail_msg("adapter: %s", err);
    return ad;
}

static void test_warning_counted_apart_from_errors(void **state)
{
    (void)state;
    ustor_driver *drv;
    ustor_adapter *ad = make("bug=status_pending", USTOR_VERIFIER_LOG, false, &drv);
    struct vh_result *res = calloc(1, sizeof(*res));
    assert_true(vh_submit(ad, res, false, 10, 5000));
    assert_true(ustor_adapter_warnings(ad) >= 1);
    assert_int_equal(ustor_adapter_violations(ad), 0);
    struct ustor_violation_count vc[8];
    unsigned n = ustor_adapter_violation_counts(ad, vc, 8);
    assert_int_equal(n, 1);
    assert_string_equal(vc[0].rule, "StorPortStatusPending");
    assert_true(vc[0].warning);
    assert_true(vc[0].count >= 1);
    assert_non_null(strstr(vc[0].first_report, "ustor-verifier: WARNING StorPortStatusPending"));
    assert_true(vh_count_severity(&rep, "WARNING") >= 1);
    assert_int_equal(vh_count_severity(&rep, "ERROR"), 0);
    tu_adapter_free(ad, drv);
    free(res);
}

static void test_warnings_are_errors_counts_warnings_as_violations(void **state)
{
    (void)state;
    ustor_driver *drv;
    ustor_adapter *ad = make("bug=status_pending", USTOR_VERIFIER_LOG, true, &drv);
    struct vh_result *res = calloc(1, sizeof(*res));
    assert_true(vh_submit(ad, res, false, 10, 5000));
    uint64_t w = ustor_adapter_warnings(ad);
    assert_true(w >= 1);
    assert_int_equal(ustor_adapter_violations(ad), w);
    /* still reported as a WARNING: only the count changes */
    assert_int_equal(vh_count_severity(&rep, "ERROR"), 0);
    tu_adapter_free(ad, drv);
    free(res);
}

static void test_error_counted_as_violation(void **state)
{
    (void)state;
    ustor_driver *drv;
    ustor_adapter *ad = make("bug=double_completion", USTOR_VERIFIER_LOG, false, &drv);
    struct vh_result *res = calloc(1, sizeof(*res));
    assert_true(vh_submit(ad, res, false, 10, 5000));
    assert_int_equal(ustor_adapter_violations(ad), 1);
    assert_int_equal(ustor_adapter_warnings(ad), 0);
    /* log mode goes on */
    assert_true(vh_submit(ad, res, false, 10, 5000));
    assert_int_equal(res->srb.status, SRB_STATUS_SUCCESS);
    assert_int_equal(ustor_adapter_violations(ad), 2);
    tu_adapter_free(ad, drv);
    free(res);
}

static void test_fatal_mode_first_error_stops_adapter(void **state)
{
    (void)state;
    ustor_driver *drv;
    ustor_adapter *ad = make("bug=double_completion", USTOR_VERIFIER_FATAL, false, &drv);
    struct vh_result *res = calloc(1, sizeof(*res));
    assert_true(vh_submit(ad, res, false, 10, 5000));
    assert_int_equal(res->srb.done, 1);
    assert_int_equal(tu_reports_count(&rep, "SrbDoubleCompletion", "HwStorStartIo"), 1);
    struct tu_srb s;
    static const UCHAR tur[6] = { 0 };
    void *srb = tu_srb_init(&s, true, 0, tur, 6, NULL, 0, SRB_FLAGS_NO_DATA_TRANSFER);
    assert_int_equal(ustor_submit_srb(ad, srb, tu_srb_done, &s), -ENODEV);
    assert_non_null(strstr(ustor_last_error(), "verifier"));
    assert_non_null(strstr(ustor_last_error(), "fatal"));
    assert_int_equal(s.done, 0);
    assert_int_equal(corpus_state.calls[RR_STARTIO], 1);
    tu_adapter_free(ad, drv); /* must not hang */
    free(res);
}

static void test_fatal_mode_warning_does_not_stop(void **state)
{
    (void)state;
    ustor_driver *drv;
    ustor_adapter *ad = make("bug=status_pending", USTOR_VERIFIER_FATAL, false, &drv);
    struct vh_result *res = calloc(1, sizeof(*res));
    assert_true(vh_submit(ad, res, false, 10, 5000));
    assert_true(vh_submit(ad, res, false, 10, 5000));
    assert_int_equal(corpus_state.calls[RR_STARTIO], 2);
    tu_adapter_free(ad, drv);
    free(res);
}

static void test_fatal_mode_warnings_are_errors_stops_on_warning(void **state)
{
    (void)state;
    ustor_driver *drv;
    ustor_adapter *ad = make("bug=status_pending", USTOR_VERIFIER_FATAL, true, &drv);
    struct vh_result *res = calloc(1, sizeof(*res));
    assert_true(vh_submit(ad, res, false, 10, 5000));
    struct tu_srb s;
    static const UCHAR tur[6] = { 0 };
    void *srb = tu_srb_init(&s, true, 0, tur, 6, NULL, 0, SRB_FLAGS_NO_DATA_TRANSFER);
    assert_int_equal(ustor_submit_srb(ad, srb, tu_srb_done, &s), -ENODEV);
    tu_adapter_free(ad, drv);
    free(res);
}

static void test_off_mode_reports_and_counts_nothing(void **state)
{
    (void)state;
    static const char *const bugs[] = { "double_completion", "status_pending", "spinlock_twice", "pool_leak",
                                        "notification_undocumented" };
    for (size_t i = 0; i < sizeof(bugs) / sizeof(bugs[0]); i++) {
        char args[64];
        snprintf(args, sizeof(args), "bug=%s", bugs[i]);
        ustor_driver *drv;
        ustor_adapter *ad = make(args, USTOR_VERIFIER_OFF, true, &drv);
        struct vh_result *res = calloc(1, sizeof(*res));
        assert_true(vh_submit(ad, res, false, 10, 5000));
        for (int k = 0; k < 5000 && !corpus_state.dpc_done && strstr(args, "spinlock"); k++)
            vh_wait_calls(RR_DPC, 1, 1);
        assert_int_equal(res->srb.done, 1);
        assert_int_equal(ustor_adapter_violations(ad), 0);
        assert_int_equal(ustor_adapter_warnings(ad), 0);
        struct ustor_violation_count vc[4];
        assert_int_equal(ustor_adapter_violation_counts(ad, vc, 4), 0);
        tu_adapter_free(ad, drv);
        assert_int_equal(rep.count, 0);
        free(res);
    }
}

/* SrbNeverCompleted needs the shutdown grace (USTOR_SHUTDOWN_GRACE_MS):
 * one mode here, the physical ones in test_corpus_never_completed. */
static void test_SrbNeverCompleted_virtual(void **state)
{
    (void)state;
    vh_never_completed(USTOR_SYNC_VIRTUAL, &rep);
}

int main(void)
{
    tu_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_warning_counted_apart_from_errors),
        cmocka_unit_test(test_warnings_are_errors_counts_warnings_as_violations),
        cmocka_unit_test(test_error_counted_as_violation),
        cmocka_unit_test(test_fatal_mode_first_error_stops_adapter),
        cmocka_unit_test(test_fatal_mode_warning_does_not_stop),
        cmocka_unit_test(test_fatal_mode_warnings_are_errors_stops_on_warning),
        cmocka_unit_test(test_off_mode_reports_and_counts_nothing),
        cmocka_unit_test(test_SrbNeverCompleted_virtual),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_reports_clear(&rep);
    return rc;
}
