/* Unit tests for cli/cli_report.c: exit status precedence, the text
 * sections and the JSON document (schema of docs/json-schema.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_report.h"
#include "cli/json_check.h"

static struct cli_options opts;

static struct cli_result *sample(void)
{
    static struct cli_result r;
    memset(&r, 0, sizeof(r));
    cli_options_default(&opts);
    opts.command = CLI_CMD_RUN;
    r.opt = &opts;
    snprintf(r.miniport, sizeof(r.miniport), "ramdisk");
    snprintf(r.miniport_source, sizeof(r.miniport_source), "built-in");
    snprintf(r.device, sizeof(r.device), "none");
    r.have_info = true;
    snprintf(r.info.miniport, sizeof(r.info.miniport), "ramdisk");
    r.info.mode = USTOR_SYNC_VIRTUAL;
    r.info.virtual_miniport = true;
    r.info.concurrent_channels = 1;
    r.luns = 1;
    r.lun_blocks = 131072;
    r.block_size = 512;
    r.elapsed_s = 2.0;
    for (int d = 0; d < CLI_DIR_COUNT; d++)
        cli_hist_init(&r.dir[d].lat);
    cli_hist_init(&r.lat_all);
    for (uint64_t i = 1; i <= 1000; i++) {
        int d = (int)(i % 2);
        r.dir[d].ios++;
        r.dir[d].bytes += 4096;
        cli_hist_record(&r.dir[d].lat, i * 100);
        cli_hist_record(&r.lat_all, i * 100);
    }
    r.verified_reads = 400;
    r.unverified_reads = 100;
    r.have_stats = true;
    r.stats.submitted = r.stats.completed = 1000;
    r.stats.nr_routines = 2;
    r.stats.routines[0] = (struct ustor_routine_stats){ "HwStorStartIo", 1000, 2000000, 9000 };
    r.stats.routines[1] = (struct ustor_routine_stats){ "HwStorBuildIo", 1000, 1000000, 5000 };
    r.stats.nr_locks = 1;
    r.stats.locks[0] = (struct ustor_lock_stats){ "StartIoLock", 1000, 250, 500000, 3000 };
    return &r;
}

static char *render(const struct cli_result *r, bool json)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    if (json)
        cli_report_json(f, r);
    else
        cli_report_text(f, r);
    fclose(f);
    return text;
}

static void test_exit_status_precedence(void **state)
{
    (void)state;
    struct cli_result *r = sample();
    assert_int_equal(cli_result_exit_status(r), CLI_EXIT_OK);
    r->violation_warnings = 2;
    assert_int_equal(cli_result_exit_status(r), CLI_EXIT_OK);
    opts.verifier_warnings_fail = true;
    assert_int_equal(cli_result_exit_status(r), CLI_EXIT_VERIFIER);
    opts.verifier_warnings_fail = false;
    r->mismatches = 1;
    assert_int_equal(cli_result_exit_status(r), CLI_EXIT_IO);
    r->mismatches = 0;
    r->dir[CLI_DIR_WRITE].errors = 1;
    assert_int_equal(cli_result_exit_status(r), CLI_EXIT_IO);
    r->violation_errors = 1;
    assert_int_equal(cli_result_exit_status(r), CLI_EXIT_VERIFIER);
    r->exit_status = CLI_EXIT_CRASH;
    assert_int_equal(cli_result_exit_status(r), CLI_EXIT_CRASH);
    r->exit_status = CLI_EXIT_LOAD;
    assert_int_equal(cli_result_exit_status(r), CLI_EXIT_LOAD);
}

static void test_text_has_every_section(void **state)
{
    (void)state;
    struct cli_result *r = sample();
    r->violation_errors = 3;
    r->nr_rules = 1;
    r->rules[0] = (struct ustor_violation_count){ "StorPortSpinLock3", false, 3,
                                                  "HwStorStartIo acquired StartIoLock" };
    snprintf(r->first_mismatch, sizeof(r->first_mismatch), "lun 0 lba 8: stale data");
    char *t = render(r, false);
    static const char *const want[] = {
        "adapter", "miniport            ramdisk (built-in)", "sync mode", "interrupts",
        "results", "latency (us", "p99.9", "data", "first mismatch      lun 0 lba 8",
        "miniport routines", "HwStorStartIo", "storport locks", "StartIoLock", "25.00%",
        "verifier (log): 3 errors", "StorPortSpinLock3", "HwStorStartIo acquired StartIoLock",
        "status 3: verifier violations", "MiB/s",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(t, want[i]))
            fail_msg("missing \"%s\" in:\n%s", want[i], t);
    assert_null(strchr(t, '\r'));
    free(t);
}

static void test_json_fields_agree(void **state)
{
    (void)state;
    struct cli_result *r = sample();
    r->nr_rules = 1;
    r->violation_warnings = 1;
    r->rules[0] = (struct ustor_violation_count){ "Rule\"quoted\"", true, 1, "line\nbreak" };
    char *t = render(r, true);
    const char *err;
    struct jc_node *n = jc_parse(t, &err);
    if (!n)
        fail_msg("invalid JSON (%s):\n%s", err, t);
    assert_int_equal(jc_get(n, "schema_version")->uint, 1);
    assert_string_equal(jc_get(n, "command")->string, "run");
    assert_string_equal(jc_get(n, "adapter.miniport")->string, "ramdisk");
    assert_string_equal(jc_get(n, "adapter.sync_mode")->string, ustor_sync_mode_name(USTOR_SYNC_VIRTUAL));
    uint64_t ios = jc_get(n, "total.ios")->uint;
    assert_int_equal(ios, 1000);
    assert_int_equal(ios, jc_get(n, "read.ios")->uint + jc_get(n, "write.ios")->uint);
    assert_int_equal(jc_get(n, "total.bytes")->uint, 1000 * 4096);
    assert_true(jc_get(n, "total.iops")->number == 500.0);
    static const char *const pct[] = { "min", "p50", "p90", "p99", "p99_9", "max" };
    const char *dirs[] = { "total", "read", "write" };
    for (int d = 0; d < 3; d++) {
        uint64_t prev = 0;
        for (int i = 0; i < 6; i++) {
            char path[64];
            snprintf(path, sizeof(path), "%s.latency_ns.%s", dirs[d], pct[i]);
            const struct jc_node *v = jc_get(n, path);
            assert_non_null(v);
            assert_true(v->uint >= prev);
            prev = v->uint;
        }
    }
    assert_int_equal(jc_get(n, "total.latency_ns.max")->uint, 100000);
    assert_int_equal(jc_get(n, "verify.verified_reads")->uint, 400);
    assert_int_equal(jc_get(n, "verify.first_mismatch")->type, JC_NULL);
    assert_string_equal(jc_get(n, "routines.0.name")->string, "HwStorStartIo");
    assert_int_equal(jc_get(n, "routines.0.avg_ns")->uint, 2000);
    assert_true(jc_get(n, "locks.0.contention_pct")->number == 25.0);
    assert_string_equal(jc_get(n, "verifier.rules.0.rule")->string, "Rule\"quoted\"");
    assert_string_equal(jc_get(n, "verifier.rules.0.first_report")->string, "line\nbreak");
    assert_true(jc_get(n, "verifier.rules.0.warning")->boolean);
    assert_int_equal(jc_get(n, "exit_status")->uint, 0);
    assert_int_equal(jc_get(n, "failure")->type, JC_NULL);
    jc_free(n);
    free(t);
}

static void test_json_without_stats_or_ios(void **state)
{
    (void)state;
    struct cli_result *r = sample();
    r->have_stats = false;
    r->have_info = false;
    memset(r->dir, 0, sizeof(r->dir));
    cli_hist_init(&r->lat_all);
    r->exit_status = CLI_EXIT_CRASH;
    snprintf(r->failure, sizeof(r->failure), "miniport hung: 3 requests outstanding for 1.0s");
    char *t = render(r, true);
    const char *err;
    struct jc_node *n = jc_parse(t, &err);
    if (!n)
        fail_msg("invalid JSON (%s):\n%s", err, t);
    assert_int_equal(jc_get(n, "port")->type, JC_NULL);
    assert_int_equal(jc_get(n, "routines")->n, 0);
    assert_int_equal(jc_get(n, "total.latency_ns.p99")->uint, 0);
    assert_int_equal(jc_get(n, "exit_status")->uint, CLI_EXIT_CRASH);
    assert_non_null(strstr(jc_get(n, "failure")->string, "hung"));
    jc_free(n);
    free(t);
}

static void test_interrupt_mode_and_progress(void **state)
{
    (void)state;
    struct ustor_adapter_info info;
    memset(&info, 0, sizeof(info));
    char buf[128];
    cli_interrupt_mode(&info, buf, sizeof(buf));
    assert_non_null(strstr(buf, "INTx"));
    info.msi = true;
    info.interrupt_messages = 4;
    info.per_message_interrupts = true;
    cli_interrupt_mode(&info, buf, sizeof(buf));
    assert_non_null(strstr(buf, "MSI-X, 4 messages, per-message"));
    info.per_message_interrupts = false;
    cli_interrupt_mode(&info, buf, sizeof(buf));
    assert_non_null(strstr(buf, "one lock for all"));
    info.virtual_miniport = true;
    cli_interrupt_mode(&info, buf, sizeof(buf));
    assert_non_null(strstr(buf, "virtual"));
    cli_progress_line(buf, sizeof(buf), 3.0, 12345.0, 2, 1);
    assert_non_null(strstr(buf, "12345"));
    assert_non_null(strstr(buf, "errors 2"));
    assert_non_null(strstr(buf, "violations 1"));
    assert_null(strchr(buf, '\r'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_status_precedence),
        cmocka_unit_test(test_text_has_every_section),
        cmocka_unit_test(test_json_fields_agree),
        cmocka_unit_test(test_json_without_stats_or_ios),
        cmocka_unit_test(test_interrupt_mode_and_progress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
