/* test_builtin.c - unit tests of miniports/builtin.c: the registry of
 * miniports linked into ustorport's programs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <ustor/builtin.h>

static void test_list_has_both_ramdisks(void **state)
{
    size_t count = 0, i;
    const struct ustor_builtin_miniport *list = ustor_builtin_miniports(&count);
    bool seen_virtual = false, seen_physical = false;
    (void)state;

    assert_non_null(list);
    assert_true(count >= 2);
    /* The first entry is the default miniport. */
    assert_string_equal(list[0].name, "ramdisk");
    for (i = 0; i < count; i++) {
        assert_non_null(list[i].name);
        assert_non_null(list[i].description);
        assert_non_null(list[i].entry);
        assert_non_null(list[i].default_args);
        if (strcmp(list[i].name, "ramdisk") == 0) {
            assert_true(list[i].virtual_miniport);
            seen_virtual = true;
        }
        if (strcmp(list[i].name, "ramdisk-phys") == 0) {
            assert_false(list[i].virtual_miniport);
            assert_non_null(strstr(list[i].default_args, "sync="));
            seen_physical = true;
        }
    }
    assert_true(seen_virtual);
    assert_true(seen_physical);
    assert_non_null(ustor_builtin_miniports(NULL)); /* count is optional */
}

static void test_names_unique(void **state)
{
    size_t count = 0, i, j;
    const struct ustor_builtin_miniport *list = ustor_builtin_miniports(&count);
    (void)state;

    for (i = 0; i < count; i++)
        for (j = i + 1; j < count; j++)
            assert_string_not_equal(list[i].name, list[j].name);
    /* Two builds of one source must not share an entry point. */
    for (i = 0; i < count; i++)
        for (j = i + 1; j < count; j++)
            assert_ptr_not_equal(list[i].entry, list[j].entry);
}

static void test_find(void **state)
{
    size_t count = 0, i;
    const struct ustor_builtin_miniport *list = ustor_builtin_miniports(&count);
    (void)state;

    for (i = 0; i < count; i++)
        assert_ptr_equal(ustor_builtin_find(list[i].name), &list[i]);
    assert_null(ustor_builtin_find("no-such-miniport"));
    assert_null(ustor_builtin_find("ramdis"));   /* no prefix matching */
    assert_null(ustor_builtin_find("RAMDISK"));  /* names are exact */
    assert_null(ustor_builtin_find(""));
    assert_null(ustor_builtin_find(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_has_both_ramdisks),
        cmocka_unit_test(test_names_unique),
        cmocka_unit_test(test_find),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
