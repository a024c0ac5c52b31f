/*
 * test_corpus_never_completed.c - SrbNeverCompleted in the physical modes
 * (virtual: test_verifier_modes): an SRB the miniport never completes is
 * reported when the adapter is removed, after USTOR_SHUTDOWN_GRACE_MS, and
 * completed by the port with SRB_STATUS_TIMEOUT.
 */
#include "harness.h"

static struct tu_reports rep;

static void test_SrbNeverCompleted_half_duplex(void **state)
{
    (void)state;
    vh_never_completed(USTOR_SYNC_HALF_DUPLEX, &rep);
}

static void test_SrbNeverCompleted_full_duplex(void **state)
{
    (void)state;
    vh_never_completed(USTOR_SYNC_FULL_DUPLEX, &rep);
}

static void test_SrbNeverCompleted_concurrent_channels(void **state)
{
    (void)state;
    vh_never_completed(USTOR_SYNC_CONCURRENT, &rep);
}

int main(void)
{
    tu_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_SrbNeverCompleted_half_duplex),
        cmocka_unit_test(test_SrbNeverCompleted_full_duplex),
        cmocka_unit_test(test_SrbNeverCompleted_concurrent_channels),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_reports_clear(&rep);
    return rc;
}
