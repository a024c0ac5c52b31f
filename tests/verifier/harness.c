/*
 * harness.c - see harness.h.
 */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

const char *vh_mode_tag(enum ustor_sync_mode mode)
{
    switch (mode) {
    case USTOR_SYNC_HALF_DUPLEX: return "half_duplex";
    case USTOR_SYNC_FULL_DUPLEX: return "full_duplex";
    case USTOR_SYNC_CONCURRENT: return "concurrent_channels";
    case USTOR_SYNC_VIRTUAL: return "virtual";
    default: return "?";
    }
}

static const char *sync_arg(enum ustor_sync_mode mode)
{
    switch (mode) {
    case USTOR_SYNC_HALF_DUPLEX: return "sync=half;";
    case USTOR_SYNC_CONCURRENT: return "sync=concurrent;";
    case USTOR_SYNC_FULL_DUPLEX: return "sync=full;";
    default: return "";
    }
}

ustor_adapter *vh_adapter(enum ustor_sync_mode mode, const char *args, enum ustor_verifier_mode vm,
                          bool warnings_are_errors, struct tu_reports *rep, ustor_driver **drv,
                          char *err, size_t errlen)
{
    static char full_args[512];
    snprintf(full_args, sizeof(full_args), "%s%s", sync_arg(mode), args);
    corpus_reset();
    *drv = NULL;
    ustor_driver_entry_fn entry = mode == USTOR_SYNC_VIRTUAL ? (ustor_driver_entry_fn)corpus_virt_DriverEntry
                                                             : (ustor_driver_entry_fn)corpus_phys_DriverEntry;
    if (ustor_driver_from_entry(entry, mode == USTOR_SYNC_VIRTUAL ? "corpus-virt" : "corpus-phys", drv, err,
                                errlen) != 0)
        return NULL;
    struct ustor_adapter_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.argument_string = full_args;
    cfg.nr_cpus = 2;
    cfg.verifier = vm;
    cfg.warnings_are_errors = warnings_are_errors;
    cfg.report_sink = tu_reports_sink;
    cfg.report_ctx = rep;
    cfg.lock_graph = strstr(args, "lockgraph=1") != NULL;
    ustor_adapter *ad = NULL;
    if (ustor_adapter_create(*drv, &cfg, &ad, err, errlen) != 0) {
        ustor_driver_unload(*drv);
        *drv = NULL;
        return NULL;
    }
    return ad;
}

bool vh_submit(ustor_adapter *ad, struct vh_result *res, bool data, ULONG timeout_s, unsigned wait_ms)
{
    static const UCHAR tur[6] = { 0 };
    static const UCHAR read10[10] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0 };
    STORAGE_REQUEST_BLOCK *srb = data ? tu_srb_init(&res->srb, true, 0, read10, 10, res->buf, sizeof(res->buf),
                                                    SRB_FLAGS_DATA_IN)
                                      : tu_srb_init(&res->srb, true, 0, tur, 6, NULL, 0, SRB_FLAGS_NO_DATA_TRANSFER);
    srb->TimeOutValue = timeout_s;
    int rc = ustor_submit_srb(ad, srb, tu_srb_done, &res->srb);
    if (rc != 0) {
        fprintf(stderr, "vh_submit: %d: %s\n", rc, ustor_last_error());
        return false;
    }
    return wait_ms == 0 || tu_wait_done(&res->srb, 1, wait_ms);
}

bool vh_wait_calls(enum rules_routine r, int n, unsigned ms)
{
    for (unsigned i = 0; i < ms; i++) {
        if (__atomic_load_n(&corpus_state.calls[r], __ATOMIC_ACQUIRE) >= n)
            return true;
        sleep_ms(1);
    }
    return __atomic_load_n(&corpus_state.calls[r], __ATOMIC_ACQUIRE) >= n;
}

void vh_run(enum ustor_sync_mode mode, const char *args, enum vh_drive drive, enum rules_routine wait_for,
            struct tu_reports *rep, struct vh_result *res)
{
    ustor_driver *drv = NULL;
    memset(res, 0, sizeof(*res));
    tu_reports_clear(rep);
    ustor_adapter *ad = vh_adapter(mode, args, USTOR_VERIFIER_LOG, false, rep, &drv, res->create_err,
                                   sizeof(res->create_err));
    res->create_rc = ad ? 0 : -1;
    if (drive == VH_CREATE_FAILS) {
        if (ad)
            tu_adapter_free(ad, drv);
        assert_null(ad);
        return;
    }
    if (!ad)
        fail_msg("adapter creation failed (%s): %s", args, res->create_err);

    switch (drive) {
    case VH_CREATE:
    case VH_CREATE_FAILS:
        break;
    case VH_SRB:
    case VH_SRB_DATA:
        assert_true(vh_submit(ad, res, drive == VH_SRB_DATA, 10, 5000));
        break;
    case VH_SRB_DPC:
        assert_true(vh_submit(ad, res, false, 10, 5000));
        for (int i = 0; i < 5000 && !__atomic_load_n(&corpus_state.dpc_done, __ATOMIC_ACQUIRE); i++)
            sleep_ms(1);
        assert_true(corpus_state.dpc_done);
        break;
    case VH_STATE_CHANGE:
        assert_true(vh_submit(ad, res, false, 10, 5000));
        break;
    case VH_INTERRUPT:
        for (int i = 0; i < 50 && !corpus_state.calls[RR_INTERRUPT]; i++) {
            assert_int_equal(ustor_adapter_raise_interrupt(ad, 0), 0);
            vh_wait_calls(RR_INTERRUPT, 1, 100);
        }
        break;
    case VH_TIMER:
        break;
    case VH_RESET_BUS:
        ustor_adapter_reset_bus(ad);
        break;
    case VH_RESTART:
        assert_int_equal(ustor_adapter_stop_restart(ad), 0);
        break;
    case VH_TIMEOUT:
        assert_true(vh_submit(ad, res, false, 1, 10000));
        break;
    case VH_NEVER:
        assert_true(vh_submit(ad, res, false, 600, 0));
        vh_wait_calls(RR_STARTIO, 1, 2000);
        break;
    }
    if ((int)wait_for >= 0 && wait_for < RR_COUNT && !vh_wait_calls(wait_for, 1, 5000))
        fail_msg("the port never called %s (%s)", rules_routines[wait_for].name, args);
    /* A lock probe in that routine ran its acquisition. */
    if (corpus_state.lock_in >= 0)
        for (int i = 0; i < 5000 && __atomic_load_n(&corpus_state.lock_done, __ATOMIC_ACQUIRE) != 2; i++)
            sleep_ms(1);
    res->violations = ustor_adapter_violations(ad);
    res->warnings = ustor_adapter_warnings(ad);
    /* Destroy flushes DPCs and runs the end-of-life checks (leaks, SRBs
     * never completed) before the reports are judged. */
    tu_adapter_free(ad, drv);
}

/* Rule name of a summary line "ustor-verifier: SEV Rule routine=..." */
static bool line_rule(const char *line, size_t len, char *sev, size_t sevlen, char *rule, size_t rulelen)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%.*s", (int)(len < 255 ? len : 255), line);
    char s[32], r[96];
    if (sscanf(buf, "ustor-verifier: %31s %95s", s, r) != 2)
        return false;
    snprintf(sev, sevlen, "%s", s);
    snprintf(rule, rulelen, "%s", r);
    return true;
}

unsigned vh_count_severity(const struct tu_reports *rep, const char *severity)
{
    unsigned n = 0;
    for (const char *p = rep->text; p && (p = strstr(p, "ustor-verifier: ")) != NULL; p++) {
        const char *eol = strchr(p, '\n');
        char sev[32], rule[96];
        if (line_rule(p, eol ? (size_t)(eol - p) : strlen(p), sev, sizeof(sev), rule, sizeof(rule)) &&
            strcmp(sev, severity) == 0)
            n++;
    }
    return n;
}

static void print_summaries(const struct tu_reports *rep)
{
    for (const char *p = rep->text; p && (p = strstr(p, "ustor-verifier: ")) != NULL; p++) {
        const char *eol = strchr(p, '\n');
        fprintf(stderr, "  | %.*s\n", (int)(eol ? eol - p : (long)strlen(p)), p);
    }
}

void vh_assert_only(const struct tu_reports *rep, const char *rule, const char *routine,
                    enum ustor_sync_mode mode, const char *const *also_allowed)
{
    bool ok = tu_reports_count(rep, rule, routine) >= 1;
    const char *why = ok ? NULL : "the rule was not reported in that routine";
    for (const char *p = rep->text; ok && p && (p = strstr(p, "ustor-verifier: ")) != NULL; p++) {
        const char *eol = strchr(p, '\n');
        char sev[32], r[96];
        if (!line_rule(p, eol ? (size_t)(eol - p) : strlen(p), sev, sizeof(sev), r, sizeof(r)))
            continue;
        if (strcmp(r, rule) == 0)
            continue;
        if (mode == USTOR_SYNC_HALF_DUPLEX && strcmp(r, "SpDuplex") == 0)
            continue;
        bool allowed = false;
        for (const char *const *a = also_allowed; a && *a; a++)
            if (strcmp(*a, r) == 0)
                allowed = true;
        if (!allowed) {
            ok = false;
            why = "another rule fired too";
        }
    }
    if (!ok) {
        fprintf(stderr, "expected %s in %s (%s mode); %s.  Reports:\n", rule, routine ? routine : "any routine",
                vh_mode_tag(mode), why);
        print_summaries(rep);
        fail_msg("%s: %s", rule, why);
    }
}

void vh_never_completed(enum ustor_sync_mode mode, struct tu_reports *rep)
{
    struct vh_result *res = calloc(1, sizeof(*res));
    assert_non_null(res);
    vh_run(mode, "bug=never_complete", VH_NEVER, RR_STARTIO, rep, res);
    vh_assert_only(rep, "SrbNeverCompleted", "-", mode, NULL);
    /* destroy completed it for the miniport, once */
    assert_int_equal(res->srb.done, 1);
    assert_int_equal(res->srb.status, SRB_STATUS_TIMEOUT);
    free(res);
}
