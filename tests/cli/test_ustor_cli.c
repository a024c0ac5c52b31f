/*
 * test_ustor_cli.c - end-to-end tests of the ustor command: runs the built
 * binary (USTOR_BIN) as a subprocess with posix_spawn, captures stdout,
 * stderr and the exit status, and checks output and every documented
 * exit status, using the broken miniports built from testmp.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json_check.h"

#ifndef USTOR_BIN
#error "USTOR_BIN must name the ustor binary"
#endif

extern char **environ;

struct result {
    int status;   /* exit status, or 128 + signal */
    char *out, *err;
};

static char *last_out, *last_err; /* of the latest run */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

/* Runs ustor with the NULL-terminated arguments; kills it after 60 s so
 * that a broken build fails the test instead of hanging it. */
static struct result run_ustor(const char *first, ...)
{
    char *argv[64] = { (char *)USTOR_BIN };
    int argc = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 63; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;

    char out_path[] = "/tmp/ustor-cli-out.XXXXXX", err_path[] = "/tmp/ustor-cli-err.XXXXXX";
    int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
    assert_true(out_fd >= 0 && err_fd >= 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, err_fd, STDERR_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, USTOR_BIN, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(rc, 0);
    close(out_fd);
    close(err_fd);

    int wstatus = 0;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        pid_t w = waitpid(pid, &wstatus, WNOHANG);
        if (w == pid)
            break;
        assert_int_not_equal(w, -1);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > 60) {
            kill(pid, SIGKILL);
            waitpid(pid, &wstatus, 0);
            fail_msg("ustor %s did not finish in 60 s", first ? first : "");
        }
        struct timespec ts = { 0, 20 * 1000000 };
        nanosleep(&ts, NULL);
    }
    struct result r;
    r.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    /* a failed assertion leaves the test without freeing: free here */
    free(last_out);
    free(last_err);
    r.out = last_out = slurp(out_path);
    r.err = last_err = slurp(err_path);
    unlink(out_path);
    unlink(err_path);
    return r;
}

static void free_result(struct result *r)
{
    if (r->out == last_out)
        last_out = NULL;
    if (r->err == last_err)
        last_err = NULL;
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

static int free_last(void **state)
{
    (void)state;
    free(last_out);
    free(last_err);
    last_out = last_err = NULL;
    return 0;
}

/* The outputs go straight to stderr: cmocka truncates long messages. */
#define expect_status(r, want) do { \
        if ((r).status != (want)) { \
            fprintf(stderr, "--- stdout:\n%s\n--- stderr:\n%s\n", (r).out, (r).err); \
            fail_msg("exit status %d, expected %d (outputs above)", (r).status, (want)); \
        } \
    } while (0)

#define expect_contains(text, what) do { \
        if (!strstr((text), (what))) \
            fail_msg("\"%s\" not found in:\n%s", (what), (text)); \
    } while (0)

static struct jc_node *parse_json(const struct result *r)
{
    const char *err;
    struct jc_node *n = jc_parse(r->out, &err);
    if (!n)
        fail_msg("stdout is not one JSON document (%s):\n%s", err, r->out);
    return n;
}

static uint64_t u(const struct jc_node *doc, const char *path)
{
    const struct jc_node *n = jc_get(doc, path);
    if (!n || n->type != JC_NUMBER)
        fail_msg("%s missing or not a number", path);
    return n->uint;
}

/* ---- tests ---- */

static void test_help_and_version(void **state)
{
    (void)state;
    struct result r = run_ustor("--help", NULL);
    expect_status(r, 0);
    expect_contains(r.out, "usage: ustor run");
    expect_contains(r.out, "--verify=");
    for (int code = 0; code <= 5; code++) {
        char line[16];
        snprintf(line, sizeof(line), "  %d  ", code);
        expect_contains(r.out, line);
    }
    free_result(&r);
    r = run_ustor("--version", NULL);
    expect_status(r, 0);
    expect_contains(r.out, "ustor ");
    free_result(&r);
}

static void test_usage_errors(void **state)
{
    (void)state;
    struct result r = run_ustor("run", "--rw=randwrit", NULL);
    expect_status(r, 2);
    expect_contains(r.err, "ustor: --rw=randwrit: unknown workload; expected one of read, write, "
                           "randread, randwrite, randrw, rw");
    assert_string_equal(r.out, "");
    free_result(&r);
    r = run_ustor("run", "--frobnicate", NULL);
    expect_status(r, 2);
    expect_contains(r.err, "--frobnicate: unknown option");
    free_result(&r);
    r = run_ustor("run", "--bs", "3000", NULL);
    expect_status(r, 2);
    expect_contains(r.err, "--bs=3000");
    free_result(&r);
    r = run_ustor(NULL);
    expect_status(r, 2);
    expect_contains(r.err, "no command");
    free_result(&r);
    r = run_ustor("run", "--miniport=nosuchbuiltin", NULL);
    expect_status(r, 2);
    expect_contains(r.err, "no such built-in miniport");
    expect_contains(r.err, "ramdisk");
    free_result(&r);
}

static void test_list(void **state)
{
    (void)state;
    struct result r = run_ustor("list", NULL);
    expect_status(r, 0);
    expect_contains(r.out, "built-in miniports:");
    expect_contains(r.out, "ramdisk");
    expect_contains(r.out, "device models:");
    expect_contains(r.out, "virtio-blk");
    free_result(&r);
}

static void test_default_run_text_report(void **state)
{
    (void)state;
    struct result r = run_ustor("run", "--runtime=1", NULL);
    expect_status(r, 0);
    static const char *const sections[] = {
        "workload: randrw 4k (50% reads), iodepth 16 x 2 jobs", "verify crc32c",
        "\nadapter\n", "sync mode", "interrupts", "\nresults (", "\nlatency (us",
        "\ndata\n", "verified reads", "\nminiport routines\n", "HwStorStartIo",
        "\nstorport locks\n", "\nverifier (log): 0 errors", "status 0: success",
    };
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
        expect_contains(r.out, sections[i]);
    /* not a terminal: no progress line */
    assert_null(strchr(r.out, '\r'));
    free_result(&r);
}

static void check_run_json(const struct jc_node *doc)
{
    assert_int_equal(u(doc, "schema_version"), 1);
    assert_string_equal(jc_get(doc, "command")->string, "run");
    uint64_t ios = u(doc, "total.ios");
    assert_true(ios > 0);
    assert_int_equal(ios, u(doc, "read.ios") + u(doc, "write.ios"));
    assert_int_equal(u(doc, "total.bytes"), u(doc, "read.bytes") + u(doc, "write.bytes"));
    assert_int_equal(u(doc, "total.errors"), 0);
    assert_int_equal(u(doc, "total.latency_ns.count"), ios);
    static const char *const dirs[] = { "total", "read", "write" };
    static const char *const pct[] = { "min", "p50", "p90", "p99", "p99_9", "max" };
    for (int d = 0; d < 3; d++) {
        uint64_t prev = 0;
        for (int i = 0; i < 6; i++) {
            char path[64];
            snprintf(path, sizeof(path), "%s.latency_ns.%s", dirs[d], pct[i]);
            uint64_t v = u(doc, path);
            if (v < prev)
                fail_msg("%s = %llu below the previous percentile %llu", path,
                         (unsigned long long)v, (unsigned long long)prev);
            prev = v;
        }
    }
    assert_true(jc_get(doc, "total.iops")->number > 0);
    assert_int_equal(u(doc, "verify.mismatches"), 0);
    /* every read was either checked or of a never-written block */
    assert_int_equal(u(doc, "verify.verified_reads") + u(doc, "verify.unverified_reads"), u(doc, "read.ios"));
    assert_true(u(doc, "port.completed") >= ios);
    const struct jc_node *routines = jc_get(doc, "routines");
    assert_non_null(routines);
    assert_true(routines->n > 0);
    assert_non_null(jc_get(doc, "adapter.sync_mode"));
    assert_int_equal(u(doc, "verifier.errors"), 0);
    assert_int_equal(u(doc, "exit_status"), 0);
}

static void test_default_run_json(void **state)
{
    (void)state;
    struct result r = run_ustor("run", "--runtime=1", "--json", NULL);
    expect_status(r, 0);
    struct jc_node *doc = parse_json(&r);
    check_run_json(doc);
    assert_string_equal(jc_get(doc, "options.rw")->string, "randrw");
    assert_int_equal(u(doc, "options.iodepth"), 16);
    assert_int_equal(u(doc, "options.numjobs"), 2);
    assert_string_equal(jc_get(doc, "options.verify")->string, "crc32c");
    jc_free(doc);
    free_result(&r);
}

static void test_options_reach_the_run(void **state)
{
    (void)state;
    struct result r = run_ustor("run", "--miniport", "ramdisk", "--device=none", "--luns", "2",
                                "--size=4M", "--rw", "rw", "--rwmixread=70", "--bs", "8k",
                                "--iodepth=4", "--numjobs", "3", "--runtime=5", "--number_ios=600",
                                "--offset=64k", "--randseed", "7", "--verify", "md5",
                                "--verifier=log", "--lock-graph", "--cpus=2", "--quiet",
                                "--miniport-args=complete=dpc", "--json", NULL);
    expect_status(r, 0);
    struct jc_node *doc = parse_json(&r);
    check_run_json(doc);
    assert_int_equal(u(doc, "total.ios"), 600);
    assert_int_equal(u(doc, "adapter.luns"), 2);
    assert_int_equal(u(doc, "adapter.lun_blocks") * u(doc, "adapter.block_size"), 4u << 20);
    assert_int_equal(u(doc, "options.bs_bytes"), 8192);
    assert_int_equal(u(doc, "total.bytes"), 600u * 8192);
    assert_string_equal(jc_get(doc, "options.rw")->string, "rw");
    assert_string_equal(jc_get(doc, "options.verify")->string, "md5");
    assert_true(jc_get(doc, "options.lock_graph")->boolean);
    jc_free(doc);
    free_result(&r);

    static const char *const workloads[] = { "--rw=read", "--rw=write", "--rw=randread",
                                             "--rw=randwrite", "--rw=randrw" };
    static const char *const verifies[] = { "--verify=0", "--verify=pattern", "--verify=crc32c",
                                            "--verify=md5", "--verify=crc32c" };
    for (int i = 0; i < 5; i++) {
        r = run_ustor("run", workloads[i], verifies[i], "--number_ios=300", "--size=2M", "--json", NULL);
        expect_status(r, 0);
        doc = parse_json(&r);
        assert_int_equal(u(doc, "total.ios"), 300);
        if (i == 0 || i == 2)
            assert_int_equal(u(doc, "write.ios"), 0);
        if (i == 1 || i == 3)
            assert_int_equal(u(doc, "read.ios"), 0);
        jc_free(doc);
        free_result(&r);
    }
    /* physical ramdisk in each synchronization model */
    static const char *const syncs[] = { "--sync=half", "--sync=full", "--sync=concurrent", "--sync=virtual" };
    static const char *const names[] = { "half", "full", "concurrent", "virtual" };
    for (int i = 0; i < 4; i++) {
        /* --miniport=ramdisk follows --sync to ramdisk-phys; --sync=virtual
         * alone always means the virtual ramdisk */
        r = run_ustor("run", i == 3 ? "--quiet" : "--miniport=ramdisk", syncs[i], "--number_ios=300",
                      "--size=2M", "--json", NULL);
        expect_status(r, 0);
        doc = parse_json(&r);
        assert_string_equal(jc_get(doc, "options.sync")->string, names[i]);
        assert_string_equal(jc_get(doc, "adapter.miniport")->string, i == 3 ? "ramdisk" : "ramdisk-phys");
        jc_free(doc);
        free_result(&r);
    }
}

/* The simulated device's counters are in the report, so a run with
 * injected faults shows which fired next to how the port coped: every
 * 50th command the device takes fails, the miniport fails the SRB, the
 * block layer retries it, and the three counts agree. */
static void test_device_counters(void **state)
{
    (void)state;
    struct result r = run_ustor("run", "--device=virtio-blk", "--number_ios=3000", "--size=2M",
                                "--device-opts=faults=error:every:50;seed=5", "--quiet", "--json", NULL);
    expect_status(r, 0);
    struct jc_node *doc = parse_json(&r);
    check_run_json(doc);
    uint64_t requests = u(doc, "device.requests"), errors = u(doc, "device.errors");
    assert_true(requests >= 3000);
    assert_int_equal(u(doc, "device.faults.error"), requests / 50);
    assert_int_equal(errors, requests / 50);
    assert_int_equal(u(doc, "port.errors"), errors);
    assert_int_equal(u(doc, "device.reads") + u(doc, "device.writes") + u(doc, "device.flushes") +
                         u(doc, "device.others") + errors,
                     requests);
    assert_int_equal(u(doc, "device.bytes_read") + u(doc, "device.bytes_written"), u(doc, "total.bytes"));
    static const char *const quiet[] = { "device.faults.drop_irq", "device.faults.delay_irq",
                                         "device.faults.spurious_irq", "device.faults.stuck",
                                         "device.faults.reset", "device.irqs.dropped",
                                         "device.bad_requests", "device.dma_faults",
                                         "device.dropped_by_reset", "device.in_flight" };
    for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++)
        if (u(doc, quiet[i]) != 0)
            fail_msg("%s = %llu, expected 0", quiet[i], (unsigned long long)u(doc, quiet[i]));
    assert_true(u(doc, "device.irqs.raised") > 0);
    jc_free(doc);
    free_result(&r);

    r = run_ustor("run", "--device=virtio-blk", "--number_ios=300", "--size=2M",
                  "--device-opts=faults=drop_irq:every:10;seed=5", NULL);
    expect_status(r, 0);
    expect_contains(r.out, "\ndevice (virtio-blk)\n");
    expect_contains(r.out, "faults injected   drop_irq ");
    free_result(&r);
    r = run_ustor("run", "--device=virtio-blk", "--number_ios=300", "--size=2M", NULL);
    expect_status(r, 0);
    expect_contains(r.out, "faults injected   none\n");
    free_result(&r);

    /* no device, no device section */
    r = run_ustor("run", "--device=none", "--number_ios=300", "--size=2M", "--json", NULL);
    expect_status(r, 0);
    doc = parse_json(&r);
    assert_non_null(jc_get(doc, "device"));
    assert_int_equal(jc_get(doc, "device")->type, JC_NULL);
    jc_free(doc);
    free_result(&r);
    r = run_ustor("run", "--device=none", "--number_ios=300", "--size=2M", NULL);
    expect_status(r, 0);
    assert_null(strstr(r.out, "\ndevice ("));
    free_result(&r);
}

static void test_info(void **state)
{
    (void)state;
    struct result r = run_ustor("info", "--miniport=ramdisk", "--luns=2", "--size=2M", NULL);
    expect_status(r, 0);
    static const char *const want[] = { "adapter", "sync mode", "interrupts", "concurrent channels",
                                        "LUN 0", "LUN 1", "vendor/product/rev", "VPD pages",
                                        "serial (0x80)", "identifiers (0x83)", "block limits (0xB0)",
                                        "provisioning (0xB2)", "capacity", "features" };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        expect_contains(r.out, want[i]);
    free_result(&r);
    r = run_ustor("info", "--miniport=ramdisk", "--luns=3", "--size=1M", "--json", NULL);
    expect_status(r, 0);
    struct jc_node *doc = parse_json(&r);
    assert_string_equal(jc_get(doc, "command")->string, "info");
    assert_int_equal(jc_get(doc, "luns")->n, 3);
    assert_int_equal(u(doc, "luns.2.capacity_bytes"), 1u << 20);
    assert_int_equal(u(doc, "luns.2.num_blocks") * u(doc, "luns.2.block_size"), 1u << 20);
    assert_non_null(jc_get(doc, "adapter.interrupt_mode"));
    jc_free(doc);
    free_result(&r);
}

static void test_load_failures_exit_4(void **state)
{
    (void)state;
    struct result r = run_ustor("run", "--miniport=./does-not-exist.so", "--runtime=1", NULL);
    expect_status(r, 4);
    expect_contains(r.err, "does-not-exist.so");
    free_result(&r);
    r = run_ustor("run", "--miniport=" TESTMP_NOENTRY, "--runtime=1", NULL);
    expect_status(r, 4);
    expect_contains(r.err, "DriverEntry");
    free_result(&r);
    r = run_ustor("run", "--miniport=" TESTMP_NOTFOUND, "--runtime=1", NULL);
    expect_status(r, 4);
    expect_contains(r.err, "HwStorFindAdapter");
    free_result(&r);
}

static void test_verifier_violation_exit_3(void **state)
{
    (void)state;
    struct result r = run_ustor("run", "--miniport=" TESTMP_BADLOCK, "--number_ios=50", "--verify=0",
                                "--size=1M", NULL);
    expect_status(r, 3);
    expect_contains(r.out, "StorPortSpinLock");
    expect_contains(r.out, "status 3: verifier violations");
    free_result(&r);
    /* fatal mode stops the adapter at the first violation */
    r = run_ustor("run", "--miniport=" TESTMP_BADLOCK, "--verifier=fatal", "--number_ios=50",
                  "--verify=0", "--size=1M", NULL);
    expect_status(r, 3);
    expect_contains(r.err, "StorPortSpinLock");
    free_result(&r);
    /* the same miniport with the verifier off passes */
    r = run_ustor("run", "--miniport=" TESTMP_BADLOCK, "--verifier=off", "--number_ios=50",
                  "--verify=0", "--size=1M", NULL);
    expect_status(r, 0);
    free_result(&r);
}

static void test_warnings_fail_only_when_asked(void **state)
{
    (void)state;
    /* half duplex draws a warning (full duplex is recommended) */
    struct result r = run_ustor("run", "--miniport=ramdisk-phys", "--sync=half", "--number_ios=200",
                                "--size=1M", "--json", NULL);
    expect_status(r, 0);
    struct jc_node *doc = parse_json(&r);
    uint64_t warnings = u(doc, "verifier.warnings");
    jc_free(doc);
    free_result(&r);
    if (warnings == 0)
        skip(); /* the verifier no longer warns about half duplex */
    r = run_ustor("run", "--miniport=ramdisk-phys", "--sync=half", "--number_ios=200", "--size=1M",
                  "--verifier-warnings-fail", "--json", NULL);
    expect_status(r, 3);
    doc = parse_json(&r);
    assert_int_equal(u(doc, "exit_status"), 3);
    assert_true(u(doc, "verifier.warnings") > 0);
    jc_free(doc);
    free_result(&r);
}

static void test_data_mismatch_exit_1(void **state)
{
    (void)state;
    struct result r = run_ustor("run", "--miniport=" TESTMP_CORRUPT, "--rw=randrw", "--number_ios=2000",
                                "--size=256k", "--json", NULL);
    expect_status(r, 1);
    struct jc_node *doc = parse_json(&r);
    assert_true(u(doc, "verify.mismatches") > 0);
    const struct jc_node *first = jc_get(doc, "verify.first_mismatch");
    assert_non_null(first);
    assert_int_equal(first->type, JC_STRING);
    expect_contains(first->string, "lba ");
    expect_contains(first->string, "first differing byte");
    assert_int_equal(u(doc, "exit_status"), 1);
    jc_free(doc);
    free_result(&r);
}

static void test_crash_exit_5(void **state)
{
    (void)state;
    struct result r = run_ustor("run", "--miniport=" TESTMP_CRASH, "--runtime=2", "--size=1M", NULL);
    expect_status(r, 5);
    expect_contains(r.err, "miniport crashed: signal 11");
    expect_contains(r.err, "ustor_testmp_crash");
    expect_contains(r.err, " in Testmp"); /* the static function, from .symtab */
    free_result(&r);
}

static void test_hang_exit_5(void **state)
{
    (void)state;
    struct result r = run_ustor("run", "--miniport=" TESTMP_HANG, "--runtime=10", "--hang-timeout=1",
                                "--size=1M", NULL);
    expect_status(r, 5);
    expect_contains(r.err, "miniport hung:");
    expect_contains(r.err, "requests outstanding for 1.0s");
    expect_contains(r.err, "verifier says:");
    free_result(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_default_run_text_report),
        cmocka_unit_test(test_default_run_json),
        cmocka_unit_test(test_options_reach_the_run),
        cmocka_unit_test(test_device_counters),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_load_failures_exit_4),
        cmocka_unit_test(test_verifier_violation_exit_3),
        cmocka_unit_test(test_warnings_fail_only_when_asked),
        cmocka_unit_test(test_data_mismatch_exit_1),
        cmocka_unit_test(test_crash_exit_5),
        cmocka_unit_test(test_hang_exit_5),
    };
    return cmocka_run_group_tests(tests, NULL, free_last);
}
