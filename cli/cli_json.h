/*
 * cli_json.h - a tiny streaming JSON writer: objects, arrays, strings
 * (escaped per RFC 8259), integers, doubles (non-finite become null),
 * booleans.  Pretty-printed with two-space indentation.
 */
#ifndef USTOR_CLI_JSON_H
#define USTOR_CLI_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CLI_JSON_MAX_DEPTH 32

struct cli_json {
    FILE *f;
    int depth;
    bool first[CLI_JSON_MAX_DEPTH]; /* nothing written yet at this level */
    bool error;                     /* misuse: too deep, unbalanced */
};

void cli_json_init(struct cli_json *j, FILE *f);
/* key is the member name inside an object, NULL inside an array or at
 * the top. */
void cli_json_object_begin(struct cli_json *j, const char *key);
void cli_json_object_end(struct cli_json *j);
void cli_json_array_begin(struct cli_json *j, const char *key);
void cli_json_array_end(struct cli_json *j);
void cli_json_string(struct cli_json *j, const char *key, const char *value); /* NULL: null */
void cli_json_u64(struct cli_json *j, const char *key, uint64_t value);
void cli_json_i64(struct cli_json *j, const char *key, int64_t value);
void cli_json_double(struct cli_json *j, const char *key, double value);
void cli_json_bool(struct cli_json *j, const char *key, bool value);
void cli_json_null(struct cli_json *j, const char *key);
/* Ends the document with a newline; false if it was misused. */
bool cli_json_finish(struct cli_json *j);

/* Writes s as a JSON string literal (with quotes). */
void cli_json_write_string(FILE *f, const char *s);

#endif
