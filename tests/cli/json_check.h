/*
 * json_check.h - a strict RFC 8259 JSON parser for the tests: parses one
 * document into a tree and rejects anything malformed (trailing commas,
 * bad escapes, control characters, leading zeros, trailing garbage), so
 * tests check both that ustor's output is valid and what it says.
 * Header-only (static inline) so each test program takes what it uses.
 */
#ifndef USTOR_TEST_JSON_CHECK_H
#define USTOR_TEST_JSON_CHECK_H

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum jc_type { JC_NULL, JC_BOOL, JC_NUMBER, JC_STRING, JC_ARRAY, JC_OBJECT };

struct jc_node {
    enum jc_type type;
    bool boolean;
    double number;
    bool integer;        /* written without fraction or exponent */
    uint64_t uint;       /* exact value when integer and not negative */
    char *string;        /* JC_STRING (decoded, UTF-8) */
    size_t n;            /* children of arrays / objects */
    char **keys;         /* objects */
    struct jc_node **items;
};

struct jc_parser {
    const char *p;
    const char *error;
    int depth;
};

static inline void jc_free(struct jc_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        if (n->keys)
            free(n->keys[i]);
        jc_free(n->items[i]);
    }
    free(n->keys);
    free(n->items);
    free(n->string);
    free(n);
}

static inline void jc_ws(struct jc_parser *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
        ps->p++;
}

static inline struct jc_node *jc_value(struct jc_parser *ps);

static inline char *jc_string_raw(struct jc_parser *ps)
{
    if (*ps->p != '"') {
        ps->error = "expected a string";
        return NULL;
    }
    ps->p++;
    size_t cap = 16, len = 0;
    char *out = malloc(cap);
    for (;;) {
        unsigned char c = (unsigned char)*ps->p;
        if (c == '\0' || c < 0x20) {
            ps->error = c ? "control character in string" : "unterminated string";
            free(out);
            return NULL;
        }
        if (len + 8 >= cap)
            out = realloc(out, cap *= 2);
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c == '\\') {
            char e = ps->p[1];
            ps->p += 2;
            switch (e) {
            case '"': out[len++] = '"'; break;
            case '\\': out[len++] = '\\'; break;
            case '/': out[len++] = '/'; break;
            case 'b': out[len++] = '\b'; break;
            case 'f': out[len++] = '\f'; break;
            case 'n': out[len++] = '\n'; break;
            case 'r': out[len++] = '\r'; break;
            case 't': out[len++] = '\t'; break;
            case 'u': {
                unsigned v = 0;
                for (int i = 0; i < 4; i++) {
                    char h = ps->p[i];
                    if (!isxdigit((unsigned char)h)) {
                        ps->error = "bad \\u escape";
                        free(out);
                        return NULL;
                    }
                    v = v * 16 + (unsigned)(isdigit((unsigned char)h) ? h - '0' : (tolower((unsigned char)h) - 'a' + 10));
                }
                ps->p += 4;
                /* tests only need the BMP; encode as UTF-8 */
                if (v < 0x80) {
                    out[len++] = (char)v;
                } else if (v < 0x800) {
                    out[len++] = (char)(0xC0 | (v >> 6));
                    out[len++] = (char)(0x80 | (v & 0x3F));
                } else {
                    out[len++] = (char)(0xE0 | (v >> 12));
                    out[len++] = (char)(0x80 | ((v >> 6) & 0x3F));
                    out[len++] = (char)(0x80 | (v & 0x3F));
                }
                break;
            }
            default:
                ps->error = "bad escape";
                free(out);
                return NULL;
            }
            continue;
        }
        out[len++] = (char)c;
        ps->p++;
    }
    out[len] = '\0';
    return out;
}

static inline struct jc_node *jc_new(enum jc_type t)
{
    struct jc_node *n = calloc(1, sizeof(*n));
    n->type = t;
    return n;
}

static inline void jc_push(struct jc_node *n, char *key, struct jc_node *item)
{
    n->items = realloc(n->items, (n->n + 1) * sizeof(*n->items));
    if (n->type == JC_OBJECT)
        n->keys = realloc(n->keys, (n->n + 1) * sizeof(*n->keys));
    if (n->keys)
        n->keys[n->n] = key;
    n->items[n->n++] = item;
}

static inline struct jc_node *jc_number(struct jc_parser *ps)
{
    const char *s = ps->p;
    bool neg = false, integer = true;
    if (*s == '-') {
        neg = true;
        s++;
    }
    if (*s == '0') {
        s++;
        if (isdigit((unsigned char)*s)) {
            ps->error = "leading zero";
            return NULL;
        }
    } else if (isdigit((unsigned char)*s)) {
        while (isdigit((unsigned char)*s))
            s++;
    } else {
        ps->error = "bad number";
        return NULL;
    }
    if (*s == '.') {
        integer = false;
        s++;
        if (!isdigit((unsigned char)*s)) {
            ps->error = "bad fraction";
            return NULL;
        }
        while (isdigit((unsigned char)*s))
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        integer = false;
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!isdigit((unsigned char)*s)) {
            ps->error = "bad exponent";
            return NULL;
        }
        while (isdigit((unsigned char)*s))
            s++;
    }
    struct jc_node *n = jc_new(JC_NUMBER);
    n->number = strtod(ps->p, NULL);
    n->integer = integer;
    if (integer && !neg)
        n->uint = strtoull(ps->p, NULL, 10);
    ps->p = s;
    return n;
}

static inline struct jc_node *jc_value(struct jc_parser *ps)
{
    jc_ws(ps);
    if (++ps->depth > 64) {
        ps->error = "too deep";
        return NULL;
    }
    struct jc_node *n = NULL;
    char c = *ps->p;
    if (c == '{' || c == '[') {
        bool obj = c == '{';
        n = jc_new(obj ? JC_OBJECT : JC_ARRAY);
        ps->p++;
        jc_ws(ps);
        if (*ps->p == (obj ? '}' : ']')) {
            ps->p++;
        } else {
            for (;;) {
                char *key = NULL;
                jc_ws(ps);
                if (obj) {
                    key = jc_string_raw(ps);
                    if (!key)
                        goto fail;
                    jc_ws(ps);
                    if (*ps->p != ':') {
                        free(key);
                        ps->error = "expected ':'";
                        goto fail;
                    }
                    ps->p++;
                }
                struct jc_node *item = jc_value(ps);
                if (!item) {
                    free(key);
                    goto fail;
                }
                jc_push(n, key, item);
                jc_ws(ps);
                if (*ps->p == ',') {
                    ps->p++;
                    continue;
                }
                if (*ps->p == (obj ? '}' : ']')) {
                    ps->p++;
                    break;
                }
                ps->error = "expected ',' or a closing bracket";
                goto fail;
            }
        }
    } else if (c == '"') {
        char *s = jc_string_raw(ps);
        if (!s)
            return NULL;
        n = jc_new(JC_STRING);
        n->string = s;
    } else if (strncmp(ps->p, "true", 4) == 0 || strncmp(ps->p, "false", 5) == 0) {
        n = jc_new(JC_BOOL);
        n->boolean = c == 't';
        ps->p += n->boolean ? 4 : 5;
    } else if (strncmp(ps->p, "null", 4) == 0) {
        n = jc_new(JC_NULL);
        ps->p += 4;
    } else {
        n = jc_number(ps);
    }
    ps->depth--;
    return n;
fail:
    jc_free(n);
    return NULL;
}

/* Parses a whole document; NULL with *error set when it is not JSON. */
static inline struct jc_node *jc_parse(const char *text, const char **error)
{
    struct jc_parser ps = { text, NULL, 0 };
    struct jc_node *n = jc_value(&ps);
    if (n) {
        jc_ws(&ps);
        if (*ps.p) {
            ps.error = "trailing characters after the document";
            jc_free(n);
            n = NULL;
        }
    }
    if (error)
        *error = ps.error ? ps.error : "";
    return n;
}

/* Member lookup by dotted path ("total.latency_ns.p50"); arrays by index
 * ("rules.0.count").  NULL when absent. */
static inline const struct jc_node *jc_get(const struct jc_node *n, const char *path)
{
    char part[128];
    while (n && *path) {
        size_t len = strcspn(path, ".");
        if (len >= sizeof(part))
            return NULL;
        memcpy(part, path, len);
        part[len] = '\0';
        path += len + (path[len] == '.');
        const struct jc_node *next = NULL;
        if (n->type == JC_OBJECT) {
            for (size_t i = 0; i < n->n; i++)
                if (strcmp(n->keys[i], part) == 0)
                    next = n->items[i];
        } else if (n->type == JC_ARRAY) {
            char *end;
            unsigned long idx = strtoul(part, &end, 10);
            if (!*end && idx < n->n)
                next = n->items[idx];
        }
        n = next;
    }
    return n;
}

#endif
