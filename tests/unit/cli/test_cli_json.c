/* Unit tests for cli/cli_json.c: output parses with a strict parser,
 * strings survive escaping, misuse is detected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli_json.h"
#include "cli/json_check.h"

struct buf {
    char *text;
    size_t len;
    FILE *f;
};

static struct cli_json *start(struct buf *b)
{
    static struct cli_json j;
    b->f = open_memstream(&b->text, &b->len);
    assert_non_null(b->f);
    cli_json_init(&j, b->f);
    return &j;
}

static struct jc_node *finish(struct buf *b, struct cli_json *j, bool want_ok)
{
    assert_int_equal(cli_json_finish(j), want_ok);
    fclose(b->f);
    const char *err;
    struct jc_node *n = jc_parse(b->text, &err);
    if (want_ok && !n)
        fail_msg("invalid JSON (%s):\n%s", err, b->text);
    return n;
}

static void test_nested_document(void **state)
{
    (void)state;
    struct buf b;
    struct cli_json *j = start(&b);
    cli_json_object_begin(j, NULL);
    cli_json_u64(j, "big", UINT64_MAX);
    cli_json_i64(j, "neg", -42);
    cli_json_double(j, "pi", 3.25);
    cli_json_double(j, "nan", NAN);
    cli_json_double(j, "inf", INFINITY);
    cli_json_bool(j, "yes", true);
    cli_json_null(j, "nothing");
    cli_json_string(j, "absent", NULL);
    cli_json_array_begin(j, "empty");
    cli_json_array_end(j);
    cli_json_object_begin(j, "emptyobj");
    cli_json_object_end(j);
    cli_json_array_begin(j, "list");
    for (int i = 0; i < 3; i++) {
        cli_json_object_begin(j, NULL);
        cli_json_u64(j, "i", (uint64_t)i);
        cli_json_object_end(j);
    }
    cli_json_u64(j, NULL, 7);
    cli_json_array_end(j);
    cli_json_object_end(j);
    struct jc_node *n = finish(&b, j, true);
    assert_int_equal(jc_get(n, "big")->uint, UINT64_MAX);
    assert_true(jc_get(n, "neg")->number == -42.0);
    assert_true(jc_get(n, "pi")->number == 3.25);
    assert_int_equal(jc_get(n, "nan")->type, JC_NULL);
    assert_int_equal(jc_get(n, "inf")->type, JC_NULL);
    assert_true(jc_get(n, "yes")->boolean);
    assert_int_equal(jc_get(n, "nothing")->type, JC_NULL);
    assert_int_equal(jc_get(n, "absent")->type, JC_NULL);
    assert_int_equal(jc_get(n, "empty")->n, 0);
    assert_int_equal(jc_get(n, "emptyobj")->type, JC_OBJECT);
    assert_int_equal(jc_get(n, "list")->n, 4);
    assert_int_equal(jc_get(n, "list.2.i")->uint, 2);
    assert_int_equal(jc_get(n, "list.3")->uint, 7);
    jc_free(n);
    free(b.text);
}

static void test_string_escaping_round_trips(void **state)
{
    (void)state;
    static const char *const strings[] = {
        "plain", "quote \" and backslash \\", "newline\nreturn\rtab\t",
        "\x01\x02\x1f control", "bell\b formfeed\f", "del \x7f", "utf-8 caf\xc3\xa9 \xe2\x82\xac", "",
        "{\"json\": [1, 2]}",
    };
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        struct buf b;
        struct cli_json *j = start(&b);
        cli_json_object_begin(j, NULL);
        cli_json_string(j, strings[i], strings[i]); /* as key and value */
        cli_json_object_end(j);
        struct jc_node *n = finish(&b, j, true);
        assert_int_equal(n->n, 1);
        assert_string_equal(n->keys[0], strings[i]);
        assert_string_equal(n->items[0]->string, strings[i]);
        jc_free(n);
        free(b.text);
    }
}

static void test_misuse_is_reported(void **state)
{
    (void)state;
    struct buf b;
    struct cli_json *j = start(&b);
    cli_json_object_begin(j, NULL);
    struct jc_node *n = finish(&b, j, false); /* unclosed */
    assert_null(n);
    free(b.text);

    j = start(&b);
    cli_json_object_end(j); /* close without open */
    finish(&b, j, false);
    free(b.text);

    j = start(&b);
    cli_json_u64(j, NULL, 1);
    cli_json_u64(j, NULL, 2); /* two top-level values */
    finish(&b, j, false);
    free(b.text);
}

static void test_parser_is_strict(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"a\": 1,}", "[1 2]", "{\"a\" 1}", "01", "\"tab\tin string\"", "{\"a\": 1} x",
        "[\"\\x\"]", "{'a': 1}", "", "1.", "-", "[1,]", "tru",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *err;
        struct jc_node *n = jc_parse(bad[i], &err);
        if (n)
            fail_msg("accepted %s", bad[i]);
    }
    const char *err;
    struct jc_node *n = jc_parse(" {\"a\": [1.5e3, -0, true, null, \"\\u00e9\"]} ", &err);
    assert_non_null(n);
    assert_true(jc_get(n, "a.0")->number == 1500.0);
    assert_string_equal(jc_get(n, "a.4")->string, "\xc3\xa9");
    jc_free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nested_document),
        cmocka_unit_test(test_string_escaping_round_trips),
        cmocka_unit_test(test_misuse_is_reported),
        cmocka_unit_test(test_parser_is_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
