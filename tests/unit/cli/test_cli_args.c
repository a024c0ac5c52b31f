/* Unit tests for cli/cli_args.c: option syntax, values, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cli_args.h"

/* Parses a NULL-terminated argument list after "ustor". */
static int parse(struct cli_options *o, char *err, size_t errlen, ...)
{
    char *argv[64] = { "ustor" };
    int argc = 1;
    va_list ap;
    va_start(ap, errlen);
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 63;)
        argv[argc++] = a;
    va_end(ap);
    return cli_parse(argc, argv, o, err, errlen);
}

static void test_size_syntax(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(cli_parse_size("4096", &v), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(cli_parse_size("4k", &v), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(cli_parse_size("4K", &v), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(cli_parse_size("64M", &v), 0);
    assert_int_equal(v, 64ull << 20);
    assert_int_equal(cli_parse_size("1G", &v), 0);
    assert_int_equal(v, 1ull << 30);
    assert_int_equal(cli_parse_size("2t", &v), 0);
    assert_int_equal(v, 2ull << 40);
    assert_int_equal(cli_parse_size("8KiB", &v), 0);
    assert_int_equal(v, 8192);
    assert_int_equal(cli_parse_size("1mb", &v), 0);
    assert_int_equal(v, 1ull << 20);
    assert_int_equal(cli_parse_size("512b", &v), 0);
    assert_int_equal(v, 512);
    assert_int_equal(cli_parse_size("", &v), -1);
    assert_int_equal(cli_parse_size("k", &v), -1);
    assert_int_equal(cli_parse_size("4x", &v), -1);
    assert_int_equal(cli_parse_size("4kk", &v), -1);
    assert_int_equal(cli_parse_size("-4k", &v), -1);
    assert_int_equal(cli_parse_size("99999999999999999999", &v), -1);
    assert_int_equal(cli_parse_size("99999999999P", &v), -1);
}

static void test_time_syntax(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(cli_parse_time_ms("10", &v), 0);
    assert_int_equal(v, 10000);
    assert_int_equal(cli_parse_time_ms("10s", &v), 0);
    assert_int_equal(v, 10000);
    assert_int_equal(cli_parse_time_ms("1m", &v), 0);
    assert_int_equal(v, 60000);
    assert_int_equal(cli_parse_time_ms("500ms", &v), 0);
    assert_int_equal(v, 500);
    assert_int_equal(cli_parse_time_ms("1500us", &v), 0);
    assert_int_equal(v, 2);
    assert_int_equal(cli_parse_time_ms("2h", &v), 0);
    assert_int_equal(v, 7200000);
    assert_int_equal(cli_parse_time_ms("1d", &v), 0);
    assert_int_equal(v, 86400000);
    assert_int_equal(cli_parse_time_ms("1y", &v), -1);
    assert_int_equal(cli_parse_time_ms("s", &v), -1);
    assert_int_equal(cli_parse_time_ms("1.5", &v), -1);
}

static void test_defaults(void **state)
{
    (void)state;
    struct cli_options o;
    char err[256];
    assert_int_equal(parse(&o, err, sizeof(err), "run", NULL), 0);
    assert_int_equal(o.command, CLI_CMD_RUN);
    assert_null(o.miniport);
    assert_int_equal(o.device, CLI_DEVICE_DEFAULT);
    assert_int_equal(o.rw, CLI_RW_RANDRW);
    assert_int_equal(o.rwmixread, 50);
    assert_int_equal(o.bs, 4096);
    assert_int_equal(o.iodepth, 16);
    assert_int_equal(o.numjobs, 2);
    assert_int_equal(o.runtime_ms, 10000);
    assert_int_equal(o.verify, CLI_VERIFY_CRC32C);
    assert_int_equal(o.verifier, USTOR_VERIFIER_LOG);
    assert_int_equal(o.luns, 1);
    assert_false(o.json);
}

static void test_every_option_both_forms(void **state)
{
    (void)state;
    struct cli_options o;
    char err[256];
    assert_int_equal(parse(&o, err, sizeof(err), "run", "--miniport=./libx.so", "--device", "none",
                           "--luns=3", "--size", "1G", "--sync=full", "--miniport-args", "a=b",
                           "--rw=randwrite", "--rwmixread", "70", "--bs=8k", "--iodepth", "4",
                           "--numjobs=3", "--runtime", "2s", "--number_ios=100", "--offset", "8k",
                           "--randseed=42", "--verify", "md5", "--verifier=fatal",
                           "--verifier-warnings-fail", "--lock-graph", "--device-opts",
                           "latency=exp:20us", "--cpus=2", "--hang-timeout", "3", "--json",
                           "--quiet", NULL), 0);
    assert_string_equal(o.miniport, "./libx.so");
    assert_int_equal(o.device, CLI_DEVICE_NONE);
    assert_int_equal(o.luns, 3);
    assert_int_equal(o.size, 1ull << 30);
    assert_int_equal(o.sync, CLI_SYNC_FULL);
    assert_string_equal(o.miniport_args, "a=b");
    assert_int_equal(o.rw, CLI_RW_RANDWRITE);
    assert_int_equal(o.rwmixread, 70);
    assert_int_equal(o.bs, 8192);
    assert_int_equal(o.iodepth, 4);
    assert_int_equal(o.numjobs, 3);
    assert_int_equal(o.runtime_ms, 2000);
    assert_int_equal(o.number_ios, 100);
    assert_int_equal(o.offset, 8192);
    assert_int_equal(o.randseed, 42);
    assert_int_equal(o.verify, CLI_VERIFY_MD5);
    assert_int_equal(o.verifier, USTOR_VERIFIER_FATAL);
    assert_true(o.verifier_warnings_fail);
    assert_true(o.lock_graph);
    assert_string_equal(o.device_opts, "latency=exp:20us");
    assert_int_equal(o.cpus, 2);
    assert_int_equal(o.hang_timeout_ms, 3000);
    assert_true(o.json);
    assert_true(o.quiet);
}

static void test_enumerations(void **state)
{
    (void)state;
    struct cli_options o;
    char err[256];
    static const char *const rws[] = { "--rw=read", "--rw=write", "--rw=randread",
                                       "--rw=randwrite", "--rw=randrw", "--rw=rw" };
    for (int i = 0; i < 6; i++) {
        assert_int_equal(parse(&o, err, sizeof(err), "run", rws[i], NULL), 0);
        assert_int_equal(o.rw, (enum cli_rw)i);
        assert_string_equal(cli_rw_name(o.rw), rws[i] + 5);
    }
    static const char *const syncs[] = { "half", "full", "concurrent", "virtual" };
    for (int i = 0; i < 4; i++) {
        assert_int_equal(parse(&o, err, sizeof(err), "run", "--sync", syncs[i], NULL), 0);
        assert_int_equal(o.sync, (enum cli_sync)(i + 1));
    }
    assert_int_equal(parse(&o, err, sizeof(err), "run", "--verify=0", NULL), 0);
    assert_int_equal(o.verify, CLI_VERIFY_NONE);
    assert_int_equal(parse(&o, err, sizeof(err), "run", "--verify=pattern", NULL), 0);
    assert_int_equal(o.verify, CLI_VERIFY_PATTERN);
    assert_int_equal(parse(&o, err, sizeof(err), "run", "--verifier=off", NULL), 0);
    assert_int_equal(o.verifier, USTOR_VERIFIER_OFF);
    assert_int_equal(parse(&o, err, sizeof(err), "run", "--device=virtio-blk", NULL), 0);
    assert_int_equal(o.device, CLI_DEVICE_VIRTIO_BLK);
}

static void test_bad_values_name_option_and_choices(void **state)
{
    (void)state;
    struct cli_options o;
    char err[512];
    assert_int_equal(parse(&o, err, sizeof(err), "run", "--rw=randwrit", NULL), -1);
    assert_string_equal(err, "ustor: --rw=randwrit: unknown workload; expected one of read, write, "
                             "randread, randwrite, randrw, rw");
    assert_int_equal(parse(&o, err, sizeof(err), "run", "--bs=3000", NULL), -1);
    assert_non_null(strstr(err, "--bs=3000"));
    assert_non_null(strstr(err, "multiple of 512"));
    assert_int_equal(parse(&o, err, sizeof(err), "run", "--iodepth=0", NULL), -1);
    assert_non_null(strstr(err, "--iodepth=0"));
    assert_int_equal(parse(&o, err, sizeof(err), "run", "--rwmixread=101", NULL), -1);
    assert_non_null(strstr(err, "0 to 100"));
    assert_int_equal(parse(&o, err, sizeof(err), "run", "--runtime=soon", NULL), -1);
    assert_non_null(strstr(err, "--runtime=soon"));
    assert_int_equal(parse(&o, err, sizeof(err), "run", "--sync=quarter", NULL), -1);
    assert_non_null(strstr(err, "half, full, concurrent, virtual"));
    assert_int_equal(parse(&o, err, sizeof(err), "run", "--verify=sha1", NULL), -1);
    assert_non_null(strstr(err, "crc32c"));
    assert_int_equal(parse(&o, err, sizeof(err), "run", "--device=nvme", NULL), -1);
    assert_non_null(strstr(err, "none, virtio-blk"));
    assert_int_equal(parse(&o, err, sizeof(err), "run", "--frobnicate", NULL), -1);
    assert_string_equal(err, "ustor: --frobnicate: unknown option; see ustor --help");
    assert_int_equal(parse(&o, err, sizeof(err), "run", "--bs", NULL), -1);
    assert_non_null(strstr(err, "--bs: missing value"));
    assert_int_equal(parse(&o, err, sizeof(err), "run", "--json=yes", NULL), -1);
    assert_non_null(strstr(err, "takes no value"));
    assert_int_equal(parse(&o, err, sizeof(err), "walk", NULL), -1);
    assert_non_null(strstr(err, "unknown command"));
    assert_int_equal(parse(&o, err, sizeof(err), NULL), -1);
    assert_non_null(strstr(err, "no command"));
    assert_int_equal(parse(&o, err, sizeof(err), "run", "--bs=1M", "--size=64k", NULL), -1);
    assert_non_null(strstr(err, "larger than --size"));
    assert_int_equal(parse(&o, err, sizeof(err), "run", "--offset=1000", NULL), -1);
    assert_non_null(strstr(err, "--offset=1000"));
    assert_int_equal(parse(&o, err, sizeof(err), "run", "-x", NULL), -1);
    assert_non_null(strstr(err, "-x"));
}

static void test_help_version_commands(void **state)
{
    (void)state;
    struct cli_options o;
    char err[256];
    assert_int_equal(parse(&o, err, sizeof(err), "--help", NULL), 0);
    assert_true(o.help);
    assert_int_equal(parse(&o, err, sizeof(err), "--version", NULL), 0);
    assert_true(o.version);
    assert_int_equal(parse(&o, err, sizeof(err), "info", "--json", NULL), 0);
    assert_int_equal(o.command, CLI_CMD_INFO);
    assert_int_equal(parse(&o, err, sizeof(err), "list", NULL), 0);
    assert_int_equal(o.command, CLI_CMD_LIST);
    assert_int_equal(parse(&o, err, sizeof(err), "run", "list", NULL), -1);
}

static void test_format_size(void **state)
{
    (void)state;
    char buf[32];
    cli_format_size(4096, buf, sizeof(buf));
    assert_string_equal(buf, "4k");
    cli_format_size(64ull << 20, buf, sizeof(buf));
    assert_string_equal(buf, "64M");
    cli_format_size(1000, buf, sizeof(buf));
    assert_string_equal(buf, "1000");
    cli_format_size(3ull << 30, buf, sizeof(buf));
    assert_string_equal(buf, "3G");
    /* round trip */
    uint64_t v;
    assert_int_equal(cli_parse_size(buf, &v), 0);
    assert_int_equal(v, 3ull << 30);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_syntax),
        cmocka_unit_test(test_time_syntax),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_option_both_forms),
        cmocka_unit_test(test_enumerations),
        cmocka_unit_test(test_bad_values_name_option_and_choices),
        cmocka_unit_test(test_help_version_commands),
        cmocka_unit_test(test_format_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
