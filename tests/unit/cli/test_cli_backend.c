/* Unit tests for cli/cli_backend.c: miniport and device choice, the
 * argument string the miniport gets, and which failures are usage errors
 * (2) and which load failures (4).  Uses the real built-in ramdisk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <ustor/builtin.h>

#include "cli_backend.h"

static void quiet_sink(void *ctx, const char *text)
{
    (void)ctx;
    (void)text;
}

static struct cli_options base(void)
{
    struct cli_options o;
    cli_options_default(&o);
    o.command = CLI_CMD_RUN;
    o.size = 1u << 20;
    o.cpus = 2;
    return o;
}

static void test_path_or_builtin(void **state)
{
    (void)state;
    assert_true(cli_miniport_is_path("./libx.so"));
    assert_true(cli_miniport_is_path("/opt/miniports/driver"));
    assert_true(cli_miniport_is_path("libexample.so"));
    assert_false(cli_miniport_is_path("ramdisk"));
    assert_false(cli_miniport_is_path("ramdisk-phys"));
    assert_false(cli_miniport_is_path("so"));
}

static void test_default_choice(void **state)
{
    (void)state;
    const char *mp;
    enum cli_device dev;
    cli_default_miniport(&mp, &dev);
    if (ustor_builtin_find("virtio")) {
        assert_string_equal(mp, "virtio");
        assert_int_equal(dev, CLI_DEVICE_VIRTIO_BLK);
    } else {
        assert_string_equal(mp, "ramdisk");
        assert_int_equal(dev, CLI_DEVICE_NONE);
    }
    assert_non_null(ustor_builtin_find(mp));
}

static void test_argument_string_and_luns(void **state)
{
    (void)state;
    static struct cli_adapter a;
    char err[512];
    struct cli_options o = base();
    o.miniport = "ramdisk";
    o.luns = 2;
    o.miniport_args = "complete=dpc";
    assert_int_equal(cli_backend_open(&o, 8, &a, err, sizeof(err)), CLI_EXIT_OK);
    const struct ustor_builtin_miniport *b = ustor_builtin_find("ramdisk");
    char want[512];
    snprintf(want, sizeof(want), "%s%sluns=2;size=1048576;complete=dpc",
             b->default_args ? b->default_args : "", b->default_args && *b->default_args ? ";" : "");
    assert_string_equal(a.argument_string, want);
    assert_string_equal(a.miniport, "ramdisk");
    assert_string_equal(a.source, "built-in");
    assert_string_equal(a.device, "none");
    assert_int_equal(a.nluns, 2);
    for (unsigned i = 0; i < 2; i++) {
        const struct ustor_blk_info *bi = ustor_blk_get_info(a.lun[i]);
        assert_int_equal(bi->lun, i);
        assert_int_equal(bi->num_blocks * bi->block_size, 1u << 20);
    }
    cli_backend_close(&a);
    assert_null(a.ad);
}

static void test_sync_picks_ramdisk_variant(void **state)
{
    (void)state;
    static struct cli_adapter a;
    char err[512];
    struct cli_options o = base();
    o.miniport = "ramdisk";
    o.sync = CLI_SYNC_FULL;
    assert_int_equal(cli_backend_open(&o, 8, &a, err, sizeof(err)), CLI_EXIT_OK);
    assert_string_equal(a.miniport, "ramdisk-phys");
    assert_non_null(strstr(a.argument_string, "sync=full"));
    struct ustor_adapter_info info;
    ustor_adapter_get_info(a.ad, &info);
    assert_false(info.virtual_miniport);
    assert_int_equal(info.mode, USTOR_SYNC_FULL_DUPLEX);
    cli_backend_close(&a);

    o = base();
    o.sync = CLI_SYNC_VIRTUAL;
    assert_int_equal(cli_backend_open(&o, 8, &a, err, sizeof(err)), CLI_EXIT_OK);
    assert_string_equal(a.miniport, "ramdisk");
    assert_null(strstr(a.argument_string, "sync="));
    ustor_adapter_get_info(a.ad, &info);
    assert_true(info.virtual_miniport);
    cli_backend_close(&a);
}

static void test_usage_errors(void **state)
{
    (void)state;
    static struct cli_adapter a;
    char err[512];
    struct cli_options o = base();
    o.miniport = "nosuch";
    assert_int_equal(cli_backend_open(&o, 8, &a, err, sizeof(err)), CLI_EXIT_USAGE);
    assert_non_null(strstr(err, "--miniport=nosuch"));
    assert_non_null(strstr(err, "ramdisk"));

    o = base();
    o.miniport = "ramdisk";
    o.device = CLI_DEVICE_NONE;
    o.device_opts = "latency=exp:20us";
    assert_int_equal(cli_backend_open(&o, 8, &a, err, sizeof(err)), CLI_EXIT_USAGE);
    assert_non_null(strstr(err, "--device-opts"));

    o = base();
    o.device = CLI_DEVICE_VIRTIO_BLK;
    o.luns = 2;
    assert_int_equal(cli_backend_open(&o, 8, &a, err, sizeof(err)), CLI_EXIT_USAGE);
    assert_null(a.ad);
}

static void test_load_failures(void **state)
{
    (void)state;
    static struct cli_adapter a;
    char err[512];
    struct cli_options o = base();
    o.miniport = "./no-such-miniport.so";
    assert_int_equal(cli_backend_open(&o, 8, &a, err, sizeof(err)), CLI_EXIT_LOAD);
    assert_non_null(strstr(err, "no-such-miniport.so"));
    assert_null(a.ad);
    assert_null(a.drv);

    /* the ramdisk refuses a bad size: HwStorFindAdapter fails, status 4 */
    o = base();
    o.miniport = "ramdisk";
    o.miniport_args = "size=3";
    assert_int_equal(cli_backend_open(&o, 8, &a, err, sizeof(err)), CLI_EXIT_LOAD);
    assert_non_null(strstr(err, "failed to start"));
    assert_null(a.ad);
}

int main(void)
{
    cli_backend_set_report_sink(quiet_sink, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_or_builtin),
        cmocka_unit_test(test_default_choice),
        cmocka_unit_test(test_argument_string_and_luns),
        cmocka_unit_test(test_sync_picks_ramdisk_variant),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_load_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
