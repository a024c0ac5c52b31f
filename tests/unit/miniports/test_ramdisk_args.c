/* test_ramdisk_args.c - unit tests of miniports/ramdisk/ramdisk_args.c: the
 * ramdisk's ArgumentString parser, its defaults, and the message a bad key
 * or value produces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ramdisk/ramdisk_args.h"

static char msg[256];

static BOOLEAN parse(const char *args, BOOLEAN physical, RAMDISK_CONFIG *cfg)
{
    memset(msg, 0, sizeof(msg));
    return RamdiskParseArguments(args, physical, cfg, msg, sizeof(msg));
}

/* The message must name what was wrong and say what is allowed. */
static void assert_rejected(const char *args, BOOLEAN physical, const char *mentions,
                            const char *allowed)
{
    RAMDISK_CONFIG cfg;

    assert_false(parse(args, physical, &cfg));
    assert_non_null(strstr(msg, physical ? "ramdisk-phys" : "ramdisk"));
    assert_non_null(strstr(msg, mentions));
    assert_non_null(strstr(msg, allowed));
}

static void test_defaults(void **state)
{
    RAMDISK_CONFIG cfg;
    (void)state;

    assert_true(parse(NULL, FALSE, &cfg));
    assert_int_equal(cfg.LunCount, 1);
    assert_true(cfg.LunSize == RAMDISK_DEFAULT_SIZE);
    assert_int_equal(cfg.BlockSize, 512);
    assert_int_equal(cfg.Completion, RamdiskCompleteMixed);
    assert_false(cfg.UseScsiRequestBlock);
    assert_int_equal(cfg.Sync, RamdiskSyncFullDuplex);
    assert_int_equal(cfg.BusyEvery, 0);
    assert_false(cfg.ReadOnly);
    assert_true(parse("", TRUE, &cfg));
    assert_int_equal(cfg.LunCount, 1);
}

static void test_all_keys(void **state)
{
    RAMDISK_CONFIG cfg;
    (void)state;

    assert_true(parse("luns=8;size=16M;bs=4096;complete=dpc;srb=scsi;busy=7;ro=1", FALSE, &cfg));
    assert_int_equal(cfg.LunCount, 8);
    assert_true(cfg.LunSize == 16ull << 20);
    assert_int_equal(cfg.BlockSize, 4096);
    assert_int_equal(cfg.Completion, RamdiskCompleteDpc);
    assert_true(cfg.UseScsiRequestBlock);
    assert_int_equal(cfg.BusyEvery, 7);
    assert_true(cfg.ReadOnly);

    /* Blanks around items and '=', empty items. */
    assert_true(parse(" luns = 3 ; ;complete=inline; srb=ex ;", FALSE, &cfg));
    assert_int_equal(cfg.LunCount, 3);
    assert_int_equal(cfg.Completion, RamdiskCompleteInline);
    assert_false(cfg.UseScsiRequestBlock);
}

static void test_size_suffixes(void **state)
{
    RAMDISK_CONFIG cfg;
    (void)state;

    assert_true(parse("size=512", FALSE, &cfg));
    assert_true(cfg.LunSize == 512);
    assert_true(parse("size=4k", FALSE, &cfg));
    assert_true(cfg.LunSize == 4096);
    assert_true(parse("size=3M", FALSE, &cfg));
    assert_true(cfg.LunSize == 3ull << 20);
    assert_true(parse("size=2G", FALSE, &cfg));
    assert_true(cfg.LunSize == 2ull << 30);
}

static void test_bad_values(void **state)
{
    (void)state;

    assert_rejected("luns=0", FALSE, "luns", "1 to 255");
    assert_rejected("luns=256", FALSE, "luns", "1 to 255");
    assert_rejected("luns=two", FALSE, "\"two\"", "1 to 255");
    assert_rejected("luns=99999999999999999999999", FALSE, "luns", "1 to 255");
    assert_rejected("size=1000", FALSE, "size", "multiple of 512");
    assert_rejected("size=3G", FALSE, "size", "at most 2G");
    assert_rejected("size=", FALSE, "size", "multiple of 512");
    assert_rejected("size=17179869184G", FALSE, "size", "at most 2G");
    assert_rejected("bs=1024", FALSE, "bs", "512 or 4096");
    assert_rejected("bs=4096;size=4608", FALSE, "not a multiple of bs=4096", "choose");
    assert_rejected("complete=later", FALSE, "complete", "inline, dpc or mixed");
    assert_rejected("srb=both", FALSE, "srb", "ex");
    assert_rejected("busy=-1", FALSE, "busy", "0 (off)");
    assert_rejected("busy=1000001", FALSE, "busy", "0 (off)");
    assert_rejected("ro=yes", FALSE, "ro", "1 (write protected) or 0");
}

static void test_bad_keys(void **state)
{
    (void)state;

    assert_rejected("lun=2", FALSE, "unknown key \"lun\"", "luns, size, bs");
    assert_rejected("luns", FALSE, "\"luns\" is not key=value", "separated by ';'");
    /* sync is for the physical build only. */
    assert_rejected("sync=half", FALSE, "sync=", "ramdisk-phys");
    assert_rejected("foo=1", TRUE, "unknown key \"foo\"", ", sync");
}

static void test_physical_sync(void **state)
{
    RAMDISK_CONFIG cfg;
    (void)state;

    assert_true(parse("sync=half", TRUE, &cfg));
    assert_int_equal(cfg.Sync, RamdiskSyncHalfDuplex);
    assert_true(parse("sync=full", TRUE, &cfg));
    assert_int_equal(cfg.Sync, RamdiskSyncFullDuplex);
    assert_true(parse("sync=concurrent", TRUE, &cfg));
    assert_int_equal(cfg.Sync, RamdiskSyncConcurrent);
    assert_rejected("sync=quarter", TRUE, "sync", "half, full or concurrent");
    /* All LUNs of ramdisk-phys share one 2G region. */
    assert_true(parse("luns=2;size=1G", TRUE, &cfg));
    assert_rejected("luns=3;size=1G", TRUE, "exceeds", "lower luns or size");
    assert_true(parse("luns=3;size=1G", FALSE, &cfg));
}

static void test_small_message_buffer(void **state)
{
    RAMDISK_CONFIG cfg;
    char small[8];
    (void)state;

    memset(small, 'x', sizeof(small));
    assert_false(RamdiskParseArguments("luns=0", FALSE, &cfg, small, sizeof(small)));
    assert_int_equal(small[sizeof(small) - 1], '\0'); /* truncated, terminated */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_all_keys),
        cmocka_unit_test(test_size_suffixes),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_bad_keys),
        cmocka_unit_test(test_physical_sync),
        cmocka_unit_test(test_small_message_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
