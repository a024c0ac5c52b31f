/* cli_json.c - see cli_json.h. */
#include "cli_json.h"

#include <inttypes.h>
#include <math.h>

void cli_json_init(struct cli_json *j, FILE *f)
{
    j->f = f;
    j->depth = 0;
    j->first[0] = true;
    j->error = false;
}

void cli_json_write_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f); /* UTF-8 passes through unchanged */
        }
    }
    fputc('"', f);
}

/* Separator, indentation and "key": before a value. */
static void prefix(struct cli_json *j, const char *key)
{
    if (j->depth == 0 && !j->first[0])
        j->error = true; /* a second top-level value */
    if (!j->first[j->depth])
        fputc(',', j->f);
    if (j->depth > 0) {
        fputc('\n', j->f);
        for (int i = 0; i < j->depth; i++)
            fputs("  ", j->f);
    }
    j->first[j->depth] = false;
    if (key) {
        cli_json_write_string(j->f, key);
        fputs(": ", j->f);
    }
}

static void open_(struct cli_json *j, const char *key, char c)
{
    prefix(j, key);
    fputc(c, j->f);
    if (j->depth + 1 >= CLI_JSON_MAX_DEPTH) {
        j->error = true;
        return;
    }
    j->depth++;
    j->first[j->depth] = true;
}

static void close_(struct cli_json *j, char c)
{
    if (j->depth == 0) {
        j->error = true;
        return;
    }
    bool empty = j->first[j->depth];
    j->depth--;
    if (!empty) {
        fputc('\n', j->f);
        for (int i = 0; i < j->depth; i++)
            fputs("  ", j->f);
    }
    fputc(c, j->f);
}

void cli_json_object_begin(struct cli_json *j, const char *key) { open_(j, key, '{'); }
void cli_json_object_end(struct cli_json *j) { close_(j, '}'); }
void cli_json_array_begin(struct cli_json *j, const char *key) { open_(j, key, '['); }
void cli_json_array_end(struct cli_json *j) { close_(j, ']'); }

void cli_json_string(struct cli_json *j, const char *key, const char *value)
{
    prefix(j, key);
    if (value)
        cli_json_write_string(j->f, value);
    else
        fputs("null", j->f);
}

void cli_json_u64(struct cli_json *j, const char *key, uint64_t v)
{
    prefix(j, key);
    fprintf(j->f, "%" PRIu64, v);
}

void cli_json_i64(struct cli_json *j, const char *key, int64_t v)
{
    prefix(j, key);
    fprintf(j->f, "%" PRId64, v);
}

void cli_json_double(struct cli_json *j, const char *key, double v)
{
    prefix(j, key);
    if (isfinite(v))
        fprintf(j->f, "%.15g", v);
    else
        fputs("null", j->f);
}

void cli_json_bool(struct cli_json *j, const char *key, bool v)
{
    prefix(j, key);
    fputs(v ? "true" : "false", j->f);
}

void cli_json_null(struct cli_json *j, const char *key)
{
    prefix(j, key);
    fputs("null", j->f);
}

bool cli_json_finish(struct cli_json *j)
{
    fputc('\n', j->f);
    fflush(j->f);
    return !j->error && j->depth == 0;
}
