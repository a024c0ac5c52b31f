/*
 * verifier.h - rule reports: one grep-able summary line per violation and
 * a detailed block, counts per rule, severity, and the off/log/fatal
 * policy.  The port decides *when* a rule is broken (reading the rule
 * table in src/port/rules.c); this layer decides how that is reported.
 */
#ifndef USTOR_VERIFIER_VERIFIER_H
#define USTOR_VERIFIER_VERIFIER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <wdm.h>
#include <ustor/ustor.h>

enum uv_severity { UV_ERROR = 0, UV_WARNING = 1 };

/* The catalogue: every rule the verifier can report (docs/verifier.md). */
struct uv_rule {
    const char *name;      /* Microsoft's SDV rule name, or ours */
    enum uv_severity severity;
    const char *cite;      /* SPEC statement or Microsoft page */
    const char *summary;   /* what the rule says, one sentence */
};
const struct uv_rule *uv_rule_find(const char *name);
const struct uv_rule *uv_rules(unsigned *count);

/* Where a violation happened. */
struct uv_where {
    const char *routine;   /* the miniport routine running, or NULL */
    const char *mode;      /* synchronization mode name */
    KIRQL irql;
    const void *srb;       /* SRB involved, if any */
    const uint8_t *cdb;
    unsigned cdb_len;
    const char *locks;     /* locks held, with where each was taken */
};

#define UV_MAX_RULES 160

struct uv_rule_count {
    const struct uv_rule *rule;
    uint64_t count;
    char first[256];       /* first summary line */
};

/* Per-adapter verifier state. */
struct uv_state {
    enum ustor_verifier_mode mode;
    bool warnings_are_errors;
    void (*sink)(void *ctx, const char *text);
    void *sink_ctx;
    const char *adapter_name;
    volatile int64_t errors, warnings;
    volatile int fatal_hit;         /* fatal mode: first error seen */
    KSPIN_LOCK lock;                /* guards counts[] and report output */
    unsigned nr_counts;
    struct uv_rule_count counts[UV_MAX_RULES];
    void *ext;                      /* the port's per-adapter verifier state (port/vhooks.c) */
};

void uv_init(struct uv_state *v, enum ustor_verifier_mode mode, bool warnings_are_errors,
             void (*sink)(void *ctx, const char *text), void *sink_ctx, const char *name);

/* Reports a violation of `rule` (a catalogue name).  Returns true if the
 * report was made (verifier on).  detail: what happened, printf-style. */
bool uv_report(struct uv_state *v, const char *rule, const struct uv_where *w,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));
bool uv_vreport(struct uv_state *v, const char *rule, const struct uv_where *w,
                const char *fmt, va_list ap);

/* Reports with no adapter at hand (bad input before an adapter exists,
 * or a kernel routine called outside any adapter's routine). */
extern struct uv_state uv_global;

uint64_t uv_failures(const struct uv_state *v);
unsigned uv_counts(struct uv_state *v, struct ustor_violation_count *out, unsigned max);

/* Symbolized backtrace of the caller into buf (skip frames). */
void uv_backtrace(char *buf, size_t len, int skip);
/* One line per frame, "<indent>#i symbol+0xoff (module+0xoff)": enough
 * for addr2line -e module.  skip_own drops the leading frames that are
 * inside libustorport itself, so the stack starts in the miniport. */
void uv_symbolize(void *const *frames, int n, bool skip_own, char *buf, size_t len, const char *indent);

#endif /* USTOR_VERIFIER_VERIFIER_H */
