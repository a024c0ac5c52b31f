/*
 * test_corpus.c - every broken miniport of the corpus, in every
 * synchronization mode its rule applies to: the rule is reported by name,
 * in the routine that broke it, and no other rule fires (the SpDuplex
 * warning of half duplex excepted).  One cmocka test per rule, bug and
 * mode, named <Rule>_<what>_<mode>.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verifier/verifier.h"

struct vcase;
typedef void (*vcheck_fn)(const struct vcase *c, const struct vh_result *res);

struct vcase {
    const char *rule;
    const char *what;
    const char *bug;
    const char *routine;   /* where the report must say it happened; "-": outside any routine */
    unsigned modes;
    enum vh_drive drive;
    int wait_for;          /* routine that must have been called, or -1 */
    vcheck_fn check;       /* extra assertions, or NULL */
    const char *const *also; /* rules the bug cannot help breaking too (NULL: none) */
    const char *pending;   /* a known gap of the checker: skipped unless USTOR_CORPUS_PENDING=1 */
};

struct vrun {
    const struct vcase *c;
    enum ustor_sync_mode mode;
    char name[160];
};

static struct tu_reports rep;

/* ---- extra checks ------------------------------------------------------ */

static void check_invalid_irql(const struct vcase *c, const struct vh_result *res)
{
    (void)c;
    (void)res;
    assert_int_equal(corpus_state.lock_status, STOR_STATUS_INVALID_IRQL);
}

static void check_completed_with_error(const struct vcase *c, const struct vh_result *res)
{
    (void)c;
    assert_int_equal(res->srb.done, 1);
    assert_int_not_equal(res->srb.status, SRB_STATUS_SUCCESS);
}

static void check_completed_once_ok(const struct vcase *c, const struct vh_result *res)
{
    (void)c;
    assert_int_equal(res->srb.done, 1);
    assert_int_equal(res->srb.status, SRB_STATUS_SUCCESS);
}

static void check_busy_dtl_restored(const struct vcase *c, const struct vh_result *res)
{
    check_completed_once_ok(c, res);
    assert_int_equal(SrbGetDataTransferLength((PVOID)&res->srb.u.ex), sizeof(res->buf));
    assert_true(corpus_state.calls[RR_STARTIO] >= 2);
}

static void check_timeout_status(const struct vcase *c, const struct vh_result *res)
{
    (void)c;
    assert_int_equal(res->srb.done, 1);
    assert_int_equal(res->srb.status, SRB_STATUS_TIMEOUT);
}

static void check_sync_refused(const struct vcase *c, const struct vh_result *res)
{
    (void)c;
    (void)res;
    assert_int_equal(corpus_state.sync_called, 0);
    assert_int_equal(corpus_state.sync_ret, FALSE);
}

static void check_create_failed(const struct vcase *c, const struct vh_result *res)
{
    (void)c;
    assert_int_not_equal(res->create_rc, 0);
    assert_non_null(strstr(res->create_err, "HwStorFindAdapter"));
}

static void check_warning_only(const struct vcase *c, const struct vh_result *res)
{
    (void)c;
    /* a warning counts as a warning, not as a violation */
    assert_true(res->warnings >= 1);
    assert_int_equal(res->violations, 0);
}

/* ---- the corpus -------------------------------------------------------- */

static const char *const prohibited_ddis[] = { "HwStorPortProhibitedDDIs", NULL };

#define DPC "HwStorDpcRoutine"
#define SIO "HwStorStartIo"

static const struct vcase cases[] = {
    { "StorPortSpinLock", "acquire_held", "spinlock_twice", DPC, VH_ALL, VH_SRB_DPC, RR_DPC, NULL, NULL, NULL },
    { "StorPortSpinLock", "return_holding", "spinlock_return_held", DPC, VH_ALL, VH_SRB_DPC, RR_DPC, NULL,
      NULL, NULL },
    { "StorPortSpinLock3", "interrupt_then_startio", "spinlock3_order", DPC, VH_ALL, VH_SRB_DPC, RR_DPC,
      NULL, NULL, NULL },
    { "StorPortSpinLock4", "release_not_held", "spinlock4_not_held", DPC, VH_ALL, VH_SRB_DPC, RR_DPC, NULL,
      NULL, NULL },
    { "StorPortSpinLock4", "release_other_handle", "spinlock4_other_handle", DPC, VH_ALL, VH_SRB_DPC, RR_DPC,
      NULL, NULL, NULL },
    { "LockContext", "dpclock_null", "lockcontext_dpc_null", DPC, VH_ALL, VH_SRB_DPC, RR_DPC, NULL, NULL, NULL },
    { "LockContext", "startiolock_context", "lockcontext_startio_ctx", DPC, VH_ALL, VH_SRB_DPC, RR_DPC, NULL,
      NULL, NULL },
    { "StorPortMSILock", "not_per_message", "msi_lock", DPC, VH_PHYS, VH_SRB_DPC, RR_DPC, NULL, NULL, NULL },
    { "LockInvalidIrql", "dpclock_from_isr", "lock_invalid_irql", "HwStorInterrupt", VH_PHYS, VH_INTERRUPT,
      RR_INTERRUPT, check_invalid_irql, NULL, NULL },
    { "LockInvalidParameter", "kind_9", "lock_kind_invalid", DPC, VH_ALL, VH_SRB_DPC, RR_DPC, NULL, NULL, NULL },
    { "StorPortIrql", "pool_from_isr", "pool_from_isr", "HwStorInterrupt", VH_PHYS, VH_INTERRUPT, RR_INTERRUPT,
      NULL, NULL, NULL },
    { "BadArgument", "initialize_dpc_null", "initialize_dpc_null", DPC, VH_ALL, VH_SRB_DPC, RR_DPC, NULL, NULL,
      NULL },
    { "HalfDuplexStartIo", "allocate_pool", "halfduplex_pool", SIO, VH_HALF, VH_SRB, RR_STARTIO,
      check_completed_once_ok, NULL, NULL },
    { "HalfDuplexStartIo", "acquire_spinlock", "halfduplex_lock", SIO, VH_HALF, VH_SRB, RR_STARTIO,
      check_completed_once_ok, NULL, NULL },
    { "SpChangeIrql", "raise_not_lowered", "change_irql", SIO, VH_VIRT, VH_SRB, RR_STARTIO,
      check_completed_once_ok, NULL, NULL },
    { "SpChangeIrql", "lock_handle_old_irql", "change_irql_handle", DPC, VH_ALL, VH_SRB_DPC, RR_DPC, NULL,
      NULL, NULL },
    { "StorPortBuildIo", "false_not_completed", "buildio_false", "HwStorBuildIo", VH_ALL, VH_SRB, RR_BUILDIO,
      check_completed_with_error, NULL, NULL },
    { "SrbDoubleCompletion", "startio", "double_completion", SIO, VH_ALL, VH_SRB, RR_STARTIO,
      check_completed_once_ok, NULL, NULL },
    { "SrbNotOutstanding", "stack_srb", "not_outstanding", SIO, VH_ALL, VH_SRB, RR_STARTIO,
      check_completed_once_ok, NULL, NULL },
    { "SrbBusyDataTransferLength", "startio", "busy_dtl", "-", VH_ALL, VH_SRB_DATA, RR_STARTIO,
      check_busy_dtl_restored, NULL, NULL },
    { "SrbExtensionAfterBusy", "written_on_reissue", "ext_after_busy", "-", VH_ALL, VH_SRB_DATA, RR_STARTIO,
      check_completed_once_ok, NULL, NULL },
    { "SrbCompletedWithOldExtension", "restored_after_busy", "old_extension", SIO, VH_ALL, VH_SRB_DATA,
      RR_STARTIO, check_completed_once_ok, NULL, NULL },
    { "SrbTimeout", "never_completed", "never_complete", "-", VH_ALL, VH_TIMEOUT, RR_STARTIO,
      check_timeout_status, NULL, NULL },
    { "SpReturnValue", "seven", "findadapter_return", "-", VH_ALL, VH_CREATE_FAILS, -1, check_create_failed,
      NULL, NULL },
    { "StorPortFindAdapter", "max_transfer_unset", "findadapter_no_mtl", "-", VH_ALL, VH_CREATE, -1, NULL,
      NULL, NULL },
    { "StorPortVirtualDevice", "physical_sets_it", "virtual_device", "-", VH_PHYS, VH_CREATE, -1, NULL, NULL, NULL },
    { "StorPortVirtualDevice2", "virtual_leaves_it", "virtual_device", "-", VH_VIRT, VH_CREATE, -1, NULL,
      NULL, NULL },
    { "StorPortEnablePassive", "from_startio", "enable_passive_startio", SIO, VH_ALL, VH_SRB, RR_STARTIO,
      NULL, NULL, NULL },
    { "StorPortPassiveFromHwInit", "restart", "passive_from_hwinit", "HwStorAdapterControl", VH_ALL, VH_RESTART,
      RR_INITIALIZE, NULL, NULL, NULL },
    { "StorPortPerfOpts", "null", "perfopts_null", "HwStorFindAdapter", VH_ALL, VH_CREATE, -1, NULL, NULL, NULL },
    { "StorPortTimer", "null_routine", "timer_null", "HwStorInitialize", VH_ALL, VH_CREATE, -1, NULL, NULL, NULL },
    { "StorPortNotification2", "type_0x77", "notification_undocumented", SIO, VH_ALL, VH_SRB, RR_STARTIO,
      NULL, NULL, NULL },
    { "StorPortAllocatePool", "double_free", "pool_double_free", DPC, VH_ALL, VH_SRB_DPC, RR_DPC, NULL, NULL, NULL },
    { "StorPortAllocatePool2", "overwrite_live", "pool_overwrite", DPC, VH_ALL, VH_SRB_DPC, RR_DPC, NULL,
      NULL, NULL },
    { "StorPortAllocatePool2", "leak_at_removal", "pool_leak", "-", VH_ALL, VH_SRB_DPC, RR_DPC, NULL, NULL, NULL },
    { "StorPortStatusPending", "startio", "status_pending", SIO, VH_ALL, VH_SRB, RR_STARTIO,
      check_warning_only, NULL, NULL },
    { "SpDuplex", "half_duplex", "none", "-", VH_HALF, VH_CREATE, -1, check_warning_only, NULL, NULL },
    { "StorPortCompleteRequest", "startio", "complete_request", SIO, VH_ALL, VH_SRB, RR_STARTIO,
      check_warning_only, NULL, NULL },
    { "StorPortDeprecated", "validate_range", "validate_range", "HwStorFindAdapter", VH_ALL, VH_CREATE, -1,
      check_warning_only, NULL, NULL },
    { "StorPortDeprecated", "log_error", "log_error", SIO, VH_ALL, VH_SRB, RR_STARTIO, check_warning_only,
      NULL, NULL },
    { "KeSynchronizeExecution-Irql", "above_dirql", "syncaccess_above_dirql", SIO, VH_VIRT, VH_SRB, RR_STARTIO,
      check_sync_refused, NULL, NULL },
    /* the lock-order graph (config lock_graph): half duplex's StartIo may take no lock */
    { "LockOrderInversion", "startio_dpc", "lock_inversion", DPC, VH_FULL | VH_CONC | VH_VIRT, VH_SRB_DPC, RR_DPC,
      NULL, NULL, NULL },
    /* WDM-shim rules (src/port/vhooks.c, src/kernel) */
    { "SpinLock", "ke_return_held", "wdm_spinlock_return_held", DPC, VH_VIRT, VH_SRB_DPC, RR_DPC, NULL, NULL,
      NULL },
    { "SpinLock", "ke_return_held_startio", "wdm_spinlock_return_held_startio", SIO, VH_VIRT, VH_SRB, RR_STARTIO,
      NULL, NULL, NULL },
    { "SpinLockDpc", "ke_return_held", "wdm_spinlockdpc_return_held", DPC, VH_VIRT, VH_SRB_DPC, RR_DPC, NULL, NULL,
      NULL },
    { "QueuedSpinLock", "ke_return_held", "wdm_queued_return_held", DPC, VH_VIRT, VH_SRB_DPC, RR_DPC, NULL, NULL,
      NULL },
    { "QueuedSpinLockRelease", "unacquired_handle", "wdm_queued_release_unacquired", DPC, VH_VIRT, VH_SRB_DPC,
      RR_DPC, NULL, NULL, NULL },
    { "DoubleExFreePool", "twice", "wdm_double_free", DPC, VH_VIRT, VH_SRB_DPC, RR_DPC, NULL, NULL, NULL },
    { "PagedCode", "at_dispatch", "wdm_paged_code", DPC, VH_VIRT, VH_SRB_DPC, RR_DPC, NULL, NULL, NULL },
    { "DoubleKeSetEvent", "twice", "wdm_set_event_twice", DPC, VH_VIRT, VH_SRB_DPC, RR_DPC, NULL, NULL, NULL },
    { "IrqlKeRaiseLower", "lower_raises", "wdm_lower_raises", DPC, VH_VIRT, VH_SRB_DPC, RR_DPC, NULL, NULL, NULL },
    { "IrqlDispatch", "atdpc_at_passive", "wdm_atdpc_at_passive", "HwStorFindAdapter", VH_VIRT, VH_CREATE, -1,
      NULL, NULL, NULL },
    { "HwStorPortProhibitedDDIs", "physical_ke_call", "wdm_prohibited_ddi", DPC, VH_PHYS, VH_SRB_DPC, RR_DPC, NULL,
      NULL, NULL },
    /* A physical miniport reaches IRQL > DIRQL only through KeRaiseIrql,
     * itself a prohibited DDI for it. */
    { "KeSynchronizeExecution-Irql", "above_dirql_ke_raise", "syncaccess_above_dirql", SIO, VH_PHYS, VH_SRB,
      RR_STARTIO, check_sync_refused, prohibited_ddis, NULL },
};

static void run_case(void **state)
{
    const struct vrun *run = *state;
    const struct vcase *c = run->c;
    if (c->pending && !getenv("USTOR_CORPUS_PENDING")) {
        fprintf(stderr, "known gap, skipped (USTOR_CORPUS_PENDING=1 runs it): %s\n", c->pending);
        skip();
    }
    if (!uv_rule_find(c->rule)) {
        fprintf(stderr, "%s is not in the catalogue (src/verifier/catalog.c) yet: skipped\n", c->rule);
        skip();
    }
    char args[128];
    const char *graph = strcmp(c->rule, "LockOrderInversion") == 0 ? ";lockgraph=1" : "";
    snprintf(args, sizeof(args), "bug=%s%s", c->bug, graph);
    struct vh_result *res = calloc(1, sizeof(*res));
    assert_non_null(res);
    vh_run(run->mode, args, c->drive, (enum rules_routine)c->wait_for, &rep, res);
    vh_assert_only(&rep, c->rule, c->routine, run->mode, c->also);
    if (uv_rule_find(c->rule)->severity == UV_ERROR)
        assert_true(vh_count_severity(&rep, "ERROR") >= 1);
    if (c->check)
        c->check(c, res);
    free(res);
}

/* The corpus with no bug: nothing to report but half duplex's SpDuplex. */
static void run_clean(void **state)
{
    const struct vrun *run = *state;
    struct vh_result *res = calloc(1, sizeof(*res));
    assert_non_null(res);
    vh_run(run->mode, "bug=none", VH_SRB_DATA, RR_STARTIO, &rep, res);
    check_completed_once_ok(NULL, res);
    unsigned spduplex = tu_reports_count(&rep, "SpDuplex", NULL);
    assert_int_equal(spduplex, run->mode == USTOR_SYNC_HALF_DUPLEX ? 1 : 0);
    assert_int_equal(rep.count, spduplex);
    free(res);
}

int main(void)
{
    tu_seed();
    size_t ncases = sizeof(cases) / sizeof(cases[0]);
    struct vrun *runs = calloc(ncases * USTOR_SYNC_MODE_COUNT + USTOR_SYNC_MODE_COUNT, sizeof(*runs));
    struct CMUnitTest *tests = calloc(ncases * USTOR_SYNC_MODE_COUNT + USTOR_SYNC_MODE_COUNT, sizeof(*tests));
    size_t n = 0;
    for (unsigned m = 0; m < USTOR_SYNC_MODE_COUNT; m++) {
        runs[n].mode = (enum ustor_sync_mode)m;
        snprintf(runs[n].name, sizeof(runs[n].name), "NoReport_clean_corpus_%s", vh_mode_tag(runs[n].mode));
        tests[n] = (struct CMUnitTest){ runs[n].name, run_clean, NULL, NULL, &runs[n] };
        n++;
    }
    for (size_t i = 0; i < ncases; i++)
        for (unsigned m = 0; m < USTOR_SYNC_MODE_COUNT; m++) {
            if (!(cases[i].modes & (1u << m)))
                continue;
            runs[n].c = &cases[i];
            runs[n].mode = (enum ustor_sync_mode)m;
            snprintf(runs[n].name, sizeof(runs[n].name), "%s_%s_%s", cases[i].rule, cases[i].what,
                     vh_mode_tag(runs[n].mode));
            tests[n] = (struct CMUnitTest){ runs[n].name, run_case, NULL, NULL, &runs[n] };
            n++;
        }
    int rc = _cmocka_run_group_tests("verifier_corpus", tests, n, NULL, NULL);
    tu_reports_clear(&rep);
    free(tests);
    free(runs);
    return rc;
}
