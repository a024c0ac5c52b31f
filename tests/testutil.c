#include "testutil.h"

#include <ustor/block.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t tu_seed(void)
{
    static uint64_t seed;
    if (!seed) {
        const char *e = getenv("USTOR_SEED");
        seed = e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
        if (!seed)
            seed = 1;
        fprintf(stderr, "[ustor] seed %llu (replay with USTOR_SEED=%llu)\n", (unsigned long long)seed,
                (unsigned long long)seed);
    }
    return seed;
}

uint64_t tu_rand(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void tu_reports_sink(void *ctx, const char *text)
{
    struct tu_reports *r = ctx;
    size_t n = strlen(text);
    if (r->len + n + 1 > r->cap) {
        size_t cap = (r->cap + n + 1) * 2;
        char *t = realloc(r->text, cap);
        if (!t)
            return;
        r->text = t;
        r->cap = cap;
    }
    memcpy(r->text + r->len, text, n + 1);
    r->len += n;
    r->count++;
    if (getenv("USTOR_TEST_VERBOSE"))
        fputs(text, stderr);
}

void tu_reports_clear(struct tu_reports *r)
{
    free(r->text);
    memset(r, 0, sizeof(*r));
}

unsigned tu_reports_count(const struct tu_reports *r, const char *rule, const char *routine)
{
    unsigned n = 0;
    char key[128], rkey[128];
    snprintf(key, sizeof(key), " %s routine=", rule);
    if (routine)
        snprintf(rkey, sizeof(rkey), "routine=%s ", routine);
    for (const char *p = r->text; p && (p = strstr(p, "ustor-verifier: ")) != NULL; p++) {
        const char *eol = strchr(p, '\n');
        size_t linelen = eol ? (size_t)(eol - p) : strlen(p);
        char line[1024];
        snprintf(line, sizeof(line), "%.*s", (int)(linelen < sizeof(line) - 1 ? linelen : sizeof(line) - 1), p);
        if (strstr(line, key) && (!routine || strstr(line, rkey)))
            n++;
    }
    return n;
}

unsigned tu_iterations(unsigned def)
{
    const char *e = getenv("USTOR_ITERATIONS");
    if (e)
        return (unsigned)strtoul(e, NULL, 0);
    /* Sanitizer builds scale the loops down (test.sh sets the scale). */
    const char *scale = getenv("USTOR_ITER_SCALE");
    double f = scale ? strtod(scale, NULL) : 1.0;
    unsigned n = (unsigned)(def * f);
    return n ? n : 1;
}

void *tu_srb_init(struct tu_srb *s, bool ex, UCHAR lun, const UCHAR *cdb, UCHAR cdb_len,
                  void *buf, ULONG len, ULONG flags)
{
    memset(s, 0, sizeof(*s));
    const struct ustor_srb_params p = {
        .srbex = ex, .lun = lun, .cdb = cdb, .cdb_len = cdb_len, .data = buf, .data_len = len,
        .srb_flags = flags, .sense = s->sense, .sense_len = sizeof(s->sense), .timeout_s = 10,
    };
    return ustor_srb_init(s->u.raw, sizeof(s->u.raw), &p);
}

void tu_srb_done(void *ctx, void *srb, uint8_t status)
{
    (void)srb;
    struct tu_srb *s = ctx;
    s->status = status;
    __atomic_fetch_add(&s->done, 1, __ATOMIC_RELEASE);
}

bool tu_wait_done(struct tu_srb *s, int n, unsigned ms)
{
    for (unsigned i = 0; i < ms * 10; i++) {
        if (__atomic_load_n(&s->done, __ATOMIC_ACQUIRE) >= n)
            return true;
        struct timespec ts = { 0, 100000 };
        nanosleep(&ts, NULL);
    }
    return __atomic_load_n(&s->done, __ATOMIC_ACQUIRE) >= n;
}

ustor_adapter *tu_adapter(ustor_driver_entry_fn entry, const char *args, struct tu_reports *rep,
                          ustor_driver **drv_out)
{
    struct ustor_adapter_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.argument_string = args;
    cfg.verifier = USTOR_VERIFIER_LOG;
    cfg.report_sink = rep ? tu_reports_sink : NULL;
    cfg.report_ctx = rep;
    cfg.collect_stats = true;
    return tu_adapter_with(entry, &cfg, drv_out);
}

ustor_adapter *tu_adapter_with(ustor_driver_entry_fn entry, const struct ustor_adapter_config *cfg,
                               ustor_driver **drv_out)
{
    char err[512];
    ustor_driver *drv = NULL;
    if (ustor_driver_from_entry(entry, "test", &drv, err, sizeof(err)) != 0) {
        fprintf(stderr, "tu_adapter: %s\n", err);
        return NULL;
    }
    ustor_adapter *ad = NULL;
    if (ustor_adapter_create(drv, cfg, &ad, err, sizeof(err)) != 0) {
        fprintf(stderr, "tu_adapter: %s\n", err);
        ustor_driver_unload(drv);
        return NULL;
    }
    *drv_out = drv;
    return ad;
}

void tu_adapter_free(ustor_adapter *ad, ustor_driver *drv)
{
    ustor_adapter_destroy(ad);
    ustor_driver_unload(drv);
}
