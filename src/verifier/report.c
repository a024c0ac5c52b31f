/*
 * report.c - how a violation is told: a summary line a script can grep
 * ("ustor-verifier: ERROR <rule> ..."), then a block saying what happened,
 * what the rule says and where it comes from, the locks held, and a
 * symbolized backtrace.  Counts per rule keep the first summary line for
 * the run's report.
 */
#include "verifier/verifier.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/ukern.h"

struct uv_state uv_global = { .mode = USTOR_VERIFIER_LOG, .adapter_name = "(no adapter)" };

void uv_init(struct uv_state *v, enum ustor_verifier_mode mode, bool warnings_are_errors,
             void (*sink)(void *ctx, const char *text), void *sink_ctx, const char *name)
{
    memset(v, 0, sizeof(*v));
    v->mode = mode;
    v->warnings_are_errors = warnings_are_errors;
    v->sink = sink;
    v->sink_ctx = sink_ctx;
    v->adapter_name = name;
}

/* The module this file is linked into (libustorport), to tell the port's
 * own frames from the miniport's. */
static const void *own_base(void)
{
    static const void *base;
    const void *b = __atomic_load_n(&base, __ATOMIC_RELAXED);
    if (!b) {
        Dl_info info;
        if (dladdr((const void *)own_base, &info) && info.dli_fbase)
            b = info.dli_fbase;
        else
            b = (const void *)1;
        __atomic_store_n(&base, b, __ATOMIC_RELAXED);
    }
    return b;
}

void uv_symbolize(void *const *frames, int n, bool skip_own, char *buf, size_t len, const char *indent)
{
    size_t off = 0;
    int shown = 0;
    if (len == 0)
        return;
    buf[0] = '\0';
    const void *own = own_base();
    bool leading = skip_own;
    for (int i = 0; i < n && off + 1 < len; i++) {
        Dl_info info;
        bool ok = dladdr(frames[i], &info) != 0;
        if (leading && ok && info.dli_fbase == own && i + 1 < n)
            continue;
        leading = false;
        const char *mod = ok && info.dli_fname ? strrchr(info.dli_fname, '/') : NULL;
        mod = mod ? mod + 1 : (ok && info.dli_fname && info.dli_fname[0] ? info.dli_fname : "?");
        uintptr_t modoff = ok && info.dli_fbase ? (uintptr_t)frames[i] - (uintptr_t)info.dli_fbase : 0;
        int w;
        if (ok && info.dli_sname)
            w = snprintf(buf + off, len - off, "%s#%d %s+0x%lx (%s+0x%lx)\n", indent, shown,
                         info.dli_sname, (unsigned long)((uintptr_t)frames[i] - (uintptr_t)info.dli_saddr),
                         mod, (unsigned long)modoff);
        else
            w = snprintf(buf + off, len - off, "%s#%d %p (%s+0x%lx)\n", indent, shown, frames[i], mod,
                         (unsigned long)modoff);
        if (w < 0)
            break;
        off = off + (size_t)w < len ? off + (size_t)w : len - 1;
        shown++;
    }
}

void uv_backtrace(char *buf, size_t len, int skip)
{
    void *frames[32];
    int n = backtrace(frames, 32);
    if (skip > n)
        skip = n;
    uv_symbolize(frames + skip, n - skip, false, buf, len, "    ");
}

static void emit(struct uv_state *v, const char *text)
{
    if (v->sink)
        v->sink(v->sink_ctx, text);
    else
        fputs(text, stderr);
}

static struct uv_rule_count *count_slot(struct uv_state *v, const struct uv_rule *rule)
{
    for (unsigned i = 0; i < v->nr_counts; i++)
        if (v->counts[i].rule == rule)
            return &v->counts[i];
    if (v->nr_counts == UV_MAX_RULES)
        return NULL;
    struct uv_rule_count *c = &v->counts[v->nr_counts++];
    c->rule = rule;
    c->count = 0;
    c->first[0] = '\0';
    return c;
}

/* P1 of the bugcheck-style line: 0x2000 + the rule's catalogue index. */
static unsigned rule_code(const struct uv_rule *rule)
{
    unsigned n;
    const struct uv_rule *all = uv_rules(&n);
    return rule >= all && rule < all + n ? 0x2000u + (unsigned)(rule - all) : 0x2fffu;
}

bool uv_vreport(struct uv_state *v, const char *rule_name, const struct uv_where *w,
                const char *fmt, va_list ap)
{
    if (!v)
        v = &uv_global;
    if (v->mode == USTOR_VERIFIER_OFF)
        return false;
    static const struct uv_rule unknown = { "Unknown", UV_ERROR, "?", "(rule missing from the catalogue)" };
    const struct uv_rule *rule = uv_rule_find(rule_name);
    if (!rule)
        rule = &unknown;

    /* A detail may carry a block after its first line (the lock graph's
     * stacks): the summary keeps to the first line. */
    char detail[12288];
    vsnprintf(detail, sizeof(detail), fmt, ap);
    const char *more = "";
    char *nl = strchr(detail, '\n');
    if (nl) {
        *nl = '\0';
        more = nl + 1;
    }

    char srb[64] = "-";
    if (w && w->srb)
        snprintf(srb, sizeof(srb), "%p", w->srb);
    char cdb[3 * 32 + 1] = "";
    if (w && w->cdb)
        for (unsigned i = 0; i < w->cdb_len && i < 32; i++)
            snprintf(cdb + 3 * i, sizeof(cdb) - 3 * i, "%02x ", w->cdb[i]);

    char summary[1600];
    snprintf(summary, sizeof(summary),
             "ustor-verifier: %s %s routine=%s mode=%s irql=%u srb=%s adapter=%s: %.1200s",
             rule->severity == UV_WARNING ? "WARNING" : "ERROR", rule->name,
             w && w->routine ? w->routine : "-", w && w->mode ? w->mode : "-",
             w ? (unsigned)w->irql : (unsigned)KeGetCurrentIrql(), srb,
             v->adapter_name ? v->adapter_name : "-", detail);

    char bt[2048];
    uv_backtrace(bt, sizeof(bt), 3);

    size_t text_len = 4096 + strlen(more) + sizeof(bt) + strlen(summary) + 2 * sizeof(cdb);
    char *text = malloc(text_len);
    if (!text)
        return false;
    snprintf(text, text_len,
             "%s\n"
             "  rule:      %s (%s)\n"
             "  says:      %s\n"
             "  happened:  %s\n"
             "%s"
             "%s%s%s"
             "%s%s%s"
             "  bugcheck:  DRIVER_VERIFIER_DETECTED_VIOLATION (0xC4), P1=0x%x (ustorport rule), P2=%s\n"
             "  backtrace:\n%s",
             summary, rule->name, rule->cite, rule->summary, detail, more,
             cdb[0] ? "  cdb:       " : "", cdb, cdb[0] ? "\n" : "",
             w && w->locks ? "  locks:     " : "", w && w->locks ? w->locks : "",
             w && w->locks ? "\n" : "",
             rule_code(rule), srb, bt);

    ukern_spin_acquire_raw(&v->lock);
    bool warning = rule->severity == UV_WARNING;
    /* Atomic: uv_failures() reads the counts without the lock. */
    if (warning)
        __atomic_fetch_add(&v->warnings, 1, __ATOMIC_RELAXED);
    else
        __atomic_fetch_add(&v->errors, 1, __ATOMIC_RELAXED);
    struct uv_rule_count *c = count_slot(v, rule);
    if (c) {
        if (c->count++ == 0)
            snprintf(c->first, sizeof(c->first), "%.255s", summary);
    }
    emit(v, text);
    ukern_spin_release_raw(&v->lock);
    free(text);

    if (v->mode == USTOR_VERIFIER_FATAL && (!warning || v->warnings_are_errors))
        __atomic_store_n(&v->fatal_hit, 1, __ATOMIC_RELEASE);
    return true;
}

bool uv_report(struct uv_state *v, const char *rule, const struct uv_where *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool r = uv_vreport(v, rule, w, fmt, ap);
    va_end(ap);
    return r;
}

uint64_t uv_failures(const struct uv_state *v)
{
    int64_t e = __atomic_load_n(&v->errors, __ATOMIC_RELAXED);
    if (v->warnings_are_errors)
        e += __atomic_load_n(&v->warnings, __ATOMIC_RELAXED);
    return (uint64_t)e;
}

unsigned uv_counts(struct uv_state *v, struct ustor_violation_count *out, unsigned max)
{
    ukern_spin_acquire_raw(&v->lock);
    unsigned n = v->nr_counts;
    for (unsigned i = 0; i < n && i < max; i++) {
        out[i].rule = v->counts[i].rule->name;
        out[i].warning = v->counts[i].rule->severity == UV_WARNING;
        out[i].count = v->counts[i].count;
        out[i].first_report = v->counts[i].first;
    }
    ukern_spin_release_raw(&v->lock);
    return n;
}
