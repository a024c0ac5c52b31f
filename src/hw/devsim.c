/*
 * devsim.c - device worker threads, latency model, fault injection and the
 * device option string (see devsim.h, docs/hardware.md).
 */
#include "devsim.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- PRNG ----------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void ustor_rng_seed(struct ustor_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t ustor_rng_next(struct ustor_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double ustor_rng_double(struct ustor_rng *rng)
{
    return (double)(ustor_rng_next(rng) >> 11) * 0x1.0p-53;
}

uint64_t ustor_latency_sample(const struct ustor_hw_latency *lat, struct ustor_rng *rng)
{
    switch (lat->kind) {
    case USTOR_HW_LAT_FIXED:
        return lat->a_ns;
    case USTOR_HW_LAT_UNIFORM: {
        uint64_t span = lat->b_ns - lat->a_ns;
        return lat->a_ns + (span ? ustor_rng_next(rng) % (span + 1) : 0);
    }
    case USTOR_HW_LAT_EXP: {
        double u = ustor_rng_double(rng);
        double v = -log1p(-u) * (double)lat->a_ns;
        /* Cap the tail at 1000 means so one draw cannot stall a test. */
        double cap = (double)lat->a_ns * 1000.0;
        return (uint64_t)(v < cap ? v : cap);
    }
    case USTOR_HW_LAT_ZERO:
    default:
        return 0;
    }
}

bool ustor_fault_roll(const struct ustor_hw_fault_rate *rate, struct ustor_rng *rng,
                      atomic_uint_least64_t *counter)
{
    if (rate->every)
        return (atomic_fetch_add(counter, 1) + 1) % rate->every == 0;
    if (rate->prob <= 0.0)
        return false;
    return ustor_rng_double(rng) < rate->prob;
}

uint64_t ustor_devsim_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- option string ---------------------------------------------------- */

static const char *const fault_names[USTOR_HW_FAULT_COUNT] = {
    "drop_irq", "delay_irq", "spurious_irq", "stuck", "error", "reset",
};

const char *ustor_hw_fault_name(enum ustor_hw_fault kind)
{
    return (unsigned)kind < USTOR_HW_FAULT_COUNT ? fault_names[kind] : "?";
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* "20us", "1.5ms", "300" (ns). */
static bool parse_duration(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0 || !isfinite(v))
        return false;
    double mul;
    if (!*end || !strcmp(end, "ns"))
        mul = 1;
    else if (!strcmp(end, "us"))
        mul = 1e3;
    else if (!strcmp(end, "ms"))
        mul = 1e6;
    else if (!strcmp(end, "s"))
        mul = 1e9;
    else
        return false;
    v *= mul;
    if (v > 3600e9) /* an hour is more than any test wants */
        return false;
    *out = (uint64_t)v;
    return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!*s || *s == '-')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (*end || errno)
        return false;
    *out = v;
    return true;
}

/* "64M", "1G", "4096" (bytes). */
static bool parse_size(const char *s, uint64_t *out)
{
    char *end;
    if (!*s || *s == '-')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno)
        return false;
    unsigned shift = 0;
    switch (toupper((unsigned char)*end)) {
    case 0: break;
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    default: return false;
    }
    if (*end && end[1] && !(toupper((unsigned char)end[1]) == 'B' && !end[2]) &&
        !(toupper((unsigned char)end[1]) == 'I' && toupper((unsigned char)end[2]) == 'B' && !end[3]))
        return false;
    if (shift && v > (UINT64_MAX >> shift))
        return false;
    *out = (uint64_t)v << shift;
    return true;
}

static int parse_latency(const char *v, struct ustor_hw_latency *lat, char *err, size_t errlen)
{
    static const char allowed[] =
        "allowed: zero, fixed:<dur>, uniform:<dur>-<dur>, exp:<mean dur>, with <dur> like 500ns, 20us, 1.5ms, 1s";
    char buf[128];
    if (strlen(v) >= sizeof(buf))
        return fail(err, errlen, "latency value '%s' is too long; %s", v, allowed);
    strcpy(buf, v);
    char *arg = strchr(buf, ':');
    if (arg)
        *arg++ = 0;
    memset(lat, 0, sizeof(*lat));
    if (!strcmp(buf, "zero") || !strcmp(buf, "none")) {
        if (arg)
            return fail(err, errlen, "latency 'zero' takes no argument (got '%s'); %s", arg, allowed);
        lat->kind = USTOR_HW_LAT_ZERO;
        return 0;
    }
    if (!arg || !*arg)
        return fail(err, errlen, "latency '%s' needs an argument; %s", v, allowed);
    if (!strcmp(buf, "fixed") || !strcmp(buf, "exp")) {
        lat->kind = buf[0] == 'f' ? USTOR_HW_LAT_FIXED : USTOR_HW_LAT_EXP;
        if (!parse_duration(arg, &lat->a_ns))
            return fail(err, errlen, "latency '%s': '%s' is not a duration; %s", v, arg, allowed);
        return 0;
    }
    if (!strcmp(buf, "uniform")) {
        char *hi = strstr(arg, "..");
        char *sep = hi ? hi : strchr(arg, '-');
        if (!sep)
            return fail(err, errlen, "latency '%s': expected <min>-<max>; %s", v, allowed);
        *sep = 0;
        const char *max = sep + (hi ? 2 : 1);
        lat->kind = USTOR_HW_LAT_UNIFORM;
        if (!parse_duration(arg, &lat->a_ns) || !parse_duration(max, &lat->b_ns))
            return fail(err, errlen, "latency '%s': min and max must be durations; %s", v, allowed);
        if (lat->b_ns < lat->a_ns)
            return fail(err, errlen, "latency '%s': max is below min; %s", v, allowed);
        return 0;
    }
    return fail(err, errlen, "unknown latency model '%s'; %s", buf, allowed);
}

static int parse_faults(const char *v, struct ustor_hw_options *o, char *err, size_t errlen)
{
    static const char allowed[] =
        "expected a comma list of <kind>:<probability 0..1> or <kind>:every:<N>, "
        "kinds: drop_irq, delay_irq, spurious_irq, stuck, error, reset (or 'none')";
    char buf[512];
    if (strlen(v) >= sizeof(buf))
        return fail(err, errlen, "faults value is too long; %s", allowed);
    strcpy(buf, v);
    if (!strcmp(buf, "none")) {
        memset(o->faults, 0, sizeof(o->faults));
        return 0;
    }
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *rate = strchr(item, ':');
        if (!rate)
            return fail(err, errlen, "fault '%s' has no rate; %s", item, allowed);
        *rate++ = 0;
        int kind = -1;
        for (int k = 0; k < USTOR_HW_FAULT_COUNT; k++)
            if (!strcmp(item, fault_names[k]))
                kind = k;
        if (kind < 0)
            return fail(err, errlen, "unknown fault kind '%s'; %s", item, allowed);
        struct ustor_hw_fault_rate *r = &o->faults[kind];
        memset(r, 0, sizeof(*r));
        if (!strncmp(rate, "every:", 6)) {
            if (!parse_u64(rate + 6, &r->every) || r->every == 0)
                return fail(err, errlen, "fault '%s': '%s' is not a positive count; %s", item,
                            rate + 6, allowed);
            continue;
        }
        char *end;
        errno = 0;
        r->prob = strtod(rate, &end);
        if (end == rate || *end || errno || !(r->prob >= 0.0 && r->prob <= 1.0))
            return fail(err, errlen, "fault '%s': '%s' is not a probability between 0 and 1; %s",
                        item, rate, allowed);
    }
    return 0;
}

static int parse_uint_range(const char *key, const char *v, unsigned lo, unsigned hi, unsigned *out,
                            char *err, size_t errlen)
{
    uint64_t n;
    if (!parse_u64(v, &n) || n < lo || n > hi)
        return fail(err, errlen, "option '%s': '%s' is not a whole number from %u to %u", key, v, lo, hi);
    *out = (unsigned)n;
    return 0;
}

static int parse_pair(char *key, char *val, struct ustor_hw_options *o, char *err, size_t errlen)
{
    if (!strcmp(key, "latency"))
        return parse_latency(val, &o->latency, err, errlen);
    if (!strcmp(key, "faults"))
        return parse_faults(val, o, err, errlen);
    if (!strcmp(key, "seed")) {
        if (!parse_u64(val, &o->seed))
            return fail(err, errlen, "option 'seed': '%s' is not an unsigned 64-bit number", val);
        o->seed_set = true;
        return 0;
    }
    if (!strcmp(key, "workers"))
        return parse_uint_range(key, val, 1, 64, &o->workers, err, errlen);
    if (!strcmp(key, "depth"))
        return parse_uint_range(key, val, 1, 65536, &o->max_inflight, err, errlen);
    if (!strcmp(key, "irq_delay")) {
        if (!parse_duration(val, &o->irq_delay_ns))
            return fail(err, errlen, "option 'irq_delay': '%s' is not a duration like 500us or 2ms", val);
        return 0;
    }
    if (!strcmp(key, "capacity")) {
        if (!parse_size(val, &o->capacity_bytes) || o->capacity_bytes == 0 || o->capacity_bytes % 512)
            return fail(err, errlen,
                        "option 'capacity': '%s' is not a size that is a non-zero multiple of 512 bytes "
                        "(e.g. 64M, 1G, 1048576)", val);
        return 0;
    }
    if (!strcmp(key, "queues"))
        return parse_uint_range(key, val, 1, 64, &o->num_queues, err, errlen);
    if (!strcmp(key, "queue_size")) {
        int rc = parse_uint_range(key, val, 4, 32768, &o->queue_size, err, errlen);
        if (!rc && (o->queue_size & (o->queue_size - 1)))
            return fail(err, errlen, "option 'queue_size': %s is not a power of two (4..32768)", val);
        return rc;
    }
    if (!strcmp(key, "msix")) {
        if (!strcmp(val, "on") || !strcmp(val, "1"))
            o->msix = 1;
        else if (!strcmp(val, "off") || !strcmp(val, "0"))
            o->msix = 0;
        else
            return fail(err, errlen, "option 'msix': '%s' is not on or off", val);
        return 0;
    }
    if (!strcmp(key, "file")) {
        if (!*val || strlen(val) >= sizeof(o->file))
            return fail(err, errlen, "option 'file': the path must be 1 to %zu characters",
                        sizeof(o->file) - 1);
        strcpy(o->file, val);
        return 0;
    }
    if (!strcmp(key, "serial")) {
        if (strlen(val) >= sizeof(o->serial))
            return fail(err, errlen, "option 'serial': '%s' is longer than 20 characters", val);
        strcpy(o->serial, val);
        return 0;
    }
    return fail(err, errlen,
                "unknown device option '%s'; allowed: latency, faults, seed, workers, depth, irq_delay, "
                "capacity, queues, queue_size, msix, file, serial", key);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = 0;
    return s;
}

int ustor_hw_parse_options(const char *text, struct ustor_hw_options *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->irq_delay_ns = 1000000;
    out->msix = -1;
    if (err && errlen)
        err[0] = 0;
    if (!text)
        return 0;
    char *copy = strdup(text);
    if (!copy)
        return fail(err, errlen, "out of memory parsing device options");
    int rc = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ";", &save); item && !rc; item = strtok_r(NULL, ";", &save)) {
        item = trim(item);
        if (!*item)
            continue;
        char *eq = strchr(item, '=');
        if (!eq) {
            rc = fail(err, errlen, "device option '%s' has no value; expected key=value", item);
            break;
        }
        *eq = 0;
        rc = parse_pair(trim(item), trim(eq + 1), out, err, errlen);
    }
    free(copy);
    return rc;
}

/* ---- workers ------------------------------------------------------------ */

struct ustor_devsim_worker {
    struct ustor_devsim *sim;
    unsigned index;
    pthread_t thread;
    bool started;
    /* Held from fetch to completion of a pass; a reset takes it. */
    pthread_mutex_t pass_lock;
    struct ustor_devsim_req *pending; /* by deadline */
    struct ustor_devsim_req *stuck;
    bool *irq_due;                    /* by queue */
    struct ustor_rng rng;
    /* Doorbell. */
    pthread_mutex_t wait_lock;
    pthread_cond_t cond;
    bool kicked, stop;
};

static bool roll(struct ustor_devsim_worker *w, enum ustor_hw_fault kind)
{
    struct ustor_devsim *sim = w->sim;
    if (!ustor_fault_roll(&sim->opts.faults[kind], &w->rng, &sim->fault_counters[kind]))
        return false;
    atomic_fetch_add(&sim->faults[kind], 1);
    return true;
}

static void insert_pending(struct ustor_devsim_worker *w, struct ustor_devsim_req *req)
{
    struct ustor_devsim_req **pp = &w->pending;
    while (*pp && (*pp)->deadline_ns <= req->deadline_ns)
        pp = &(*pp)->next;
    req->next = *pp;
    *pp = req;
}

/* Drops everything the worker holds (pass_lock held); lost_to_reset:
 * count the commands as lost to a device reset. */
static void discard_all(struct ustor_devsim_worker *w, bool lost_to_reset)
{
    struct ustor_devsim *sim = w->sim;
    struct ustor_devsim_req *lists[2] = { w->pending, w->stuck };
    w->pending = w->stuck = NULL;
    for (int i = 0; i < 2; i++) {
        for (struct ustor_devsim_req *r = lists[i], *next; r; r = next) {
            next = r->next;
            if (r->is_irq) {
                free(r);
                continue;
            }
            atomic_fetch_sub(&sim->inflight, 1);
            if (lost_to_reset)
                atomic_fetch_add(&sim->dropped_by_reset, 1);
            sim->ops->discard(sim->ctx, r);
        }
    }
    for (unsigned q = 0; q < sim->num_queues; q++)
        w->irq_due[q] = false;
}

static void raise_queue_irq(struct ustor_devsim_worker *w, unsigned q, uint64_t now)
{
    struct ustor_devsim *sim = w->sim;
    if (sim->ops->irq_wanted && !sim->ops->irq_wanted(sim->ctx, q))
        return;
    if (roll(w, USTOR_HW_FAULT_DROP_IRQ)) {
        atomic_fetch_add(&sim->irqs_dropped, 1);
        return;
    }
    if (roll(w, USTOR_HW_FAULT_DELAY_IRQ)) {
        struct ustor_devsim_req *ev = calloc(1, sizeof(*ev));
        if (ev) {
            atomic_fetch_add(&sim->irqs_delayed, 1);
            ev->is_irq = true;
            ev->queue = q;
            ev->deadline_ns = now + sim->opts.irq_delay_ns;
            insert_pending(w, ev);
            return;
        }
    }
    sim->ops->interrupt(sim->ctx, q, false);
}

/* One pass: fetch, complete what is due, interrupt.  Returns the next
 * deadline (0: none); *throttled when the in-flight bound stopped fetching. */
static uint64_t worker_pass(struct ustor_devsim_worker *w, bool *throttled)
{
    struct ustor_devsim *sim = w->sim;
    const struct ustor_devsim_ops *ops = sim->ops;
    unsigned max = sim->opts.max_inflight;
    *throttled = false;
    if (atomic_load(&sim->needs_reset)) {
        discard_all(w, true);
        return 0;
    }
    for (unsigned q = w->index; q < sim->num_queues; q += sim->nworkers) {
        for (;;) {
            if (atomic_load(&sim->inflight) >= max) {
                *throttled = true;
                break;
            }
            struct ustor_devsim_req *req = ops->fetch(sim->ctx, q);
            if (!req)
                break;
            atomic_fetch_add(&sim->inflight, 1);
            req->queue = q;
            req->is_irq = false;
            req->next = NULL;
            if (roll(w, USTOR_HW_FAULT_RESET)) {
                /* Lose this command and everything held, then tell the
                 * driver; other workers drop theirs on their next pass. */
                atomic_store(&sim->needs_reset, true);
                atomic_fetch_sub(&sim->inflight, 1);
                atomic_fetch_add(&sim->dropped_by_reset, 1);
                ops->discard(sim->ctx, req);
                discard_all(w, true);
                ops->reset_event(sim->ctx);
                return 0;
            }
            if (roll(w, USTOR_HW_FAULT_STUCK)) {
                req->next = w->stuck;
                w->stuck = req;
                continue;
            }
            ops->execute(sim->ctx, req, roll(w, USTOR_HW_FAULT_ERROR));
            req->deadline_ns = ustor_devsim_now_ns() + ustor_latency_sample(&sim->opts.latency, &w->rng);
            insert_pending(w, req);
        }
    }
    uint64_t now = ustor_devsim_now_ns();
    while (w->pending && w->pending->deadline_ns <= now) {
        struct ustor_devsim_req *req = w->pending;
        w->pending = req->next;
        unsigned q = req->queue;
        if (req->is_irq) {
            free(req);
            sim->ops->interrupt(sim->ctx, q, false);
            continue;
        }
        if (atomic_load(&sim->needs_reset)) {
            req->next = w->pending;
            w->pending = req;
            discard_all(w, true);
            return 0;
        }
        if (roll(w, USTOR_HW_FAULT_SPURIOUS_IRQ)) {
            atomic_fetch_add(&sim->irqs_spurious, 1);
            ops->interrupt(sim->ctx, q, true);
        }
        ops->complete(sim->ctx, req);
        atomic_fetch_sub(&sim->inflight, 1);
        w->irq_due[q] = true;
    }
    for (unsigned q = w->index; q < sim->num_queues; q += sim->nworkers) {
        if (w->irq_due[q]) {
            w->irq_due[q] = false;
            raise_queue_irq(w, q, now);
        }
    }
    return w->pending ? w->pending->deadline_ns : 0;
}

static void *worker_main(void *arg)
{
    struct ustor_devsim_worker *w = arg;
    for (;;) {
        bool throttled;
        pthread_mutex_lock(&w->pass_lock);
        uint64_t next = worker_pass(w, &throttled);
        pthread_mutex_unlock(&w->pass_lock);

        pthread_mutex_lock(&w->wait_lock);
        if (throttled) {
            /* Another worker's completions free slots without kicking us:
             * look again soon. */
            uint64_t soon = ustor_devsim_now_ns() + 50000;
            if (!next || soon < next)
                next = soon;
        }
        while (!w->kicked && !w->stop) {
            if (!next) {
                pthread_cond_wait(&w->cond, &w->wait_lock);
                continue;
            }
            if (ustor_devsim_now_ns() >= next)
                break;
            struct timespec ts = { .tv_sec = (time_t)(next / 1000000000ull),
                                   .tv_nsec = (long)(next % 1000000000ull) };
            if (pthread_cond_timedwait(&w->cond, &w->wait_lock, &ts) == ETIMEDOUT)
                break;
        }
        w->kicked = false;
        bool stop = w->stop;
        pthread_mutex_unlock(&w->wait_lock);
        if (stop)
            return NULL;
    }
}

int ustor_devsim_start(struct ustor_devsim *sim, const char *name, const struct ustor_hw_options *opts,
                       unsigned num_queues, const struct ustor_devsim_ops *ops, void *ctx)
{
    memset(sim, 0, sizeof(*sim));
    sim->ops = ops;
    sim->ctx = ctx;
    sim->name = name;
    sim->opts = *opts;
    if (!sim->opts.max_inflight)
        sim->opts.max_inflight = 1024;
    sim->num_queues = num_queues ? num_queues : 1;
    sim->nworkers = opts->workers ? opts->workers : (sim->num_queues < 2 ? sim->num_queues : 2);
    if (sim->nworkers > sim->num_queues)
        sim->nworkers = sim->num_queues;
    sim->workers = calloc(sim->nworkers, sizeof(*sim->workers));
    if (!sim->workers)
        return -ENOMEM;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = 0;
    for (unsigned i = 0; i < sim->nworkers && !rc; i++) {
        struct ustor_devsim_worker *w = &sim->workers[i];
        w->sim = sim;
        w->index = i;
        /* One stream per worker: a run is reproducible as long as each
         * worker sees the same commands. */
        ustor_rng_seed(&w->rng, opts->seed * 0x100000001B3ull + i + 1);
        pthread_mutex_init(&w->pass_lock, NULL);
        pthread_mutex_init(&w->wait_lock, NULL);
        pthread_cond_init(&w->cond, &ca);
        w->irq_due = calloc(sim->num_queues, sizeof(bool));
        if (!w->irq_due) {
            rc = -ENOMEM;
            break;
        }
        rc = -pthread_create(&w->thread, NULL, worker_main, w);
        w->started = rc == 0;
        if (w->started) {
            char name[16];
            snprintf(name, sizeof(name), "ustor-dev%u", (unsigned)(i % 1000));
            pthread_setname_np(w->thread, name);
        }
    }
    pthread_condattr_destroy(&ca);
    if (rc)
        ustor_devsim_stop(sim);
    return rc;
}

void ustor_devsim_stop(struct ustor_devsim *sim)
{
    if (!sim->workers)
        return;
    for (unsigned i = 0; i < sim->nworkers; i++) {
        struct ustor_devsim_worker *w = &sim->workers[i];
        if (!w->sim)
            continue;
        pthread_mutex_lock(&w->wait_lock);
        w->stop = true;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->wait_lock);
    }
    for (unsigned i = 0; i < sim->nworkers; i++) {
        struct ustor_devsim_worker *w = &sim->workers[i];
        if (!w->sim)
            continue;
        if (w->started)
            pthread_join(w->thread, NULL);
        if (w->irq_due)
            discard_all(w, false); /* power-off, not a reset */
        free(w->irq_due);
        pthread_mutex_destroy(&w->pass_lock);
        pthread_mutex_destroy(&w->wait_lock);
        pthread_cond_destroy(&w->cond);
    }
    free(sim->workers);
    sim->workers = NULL;
}

void ustor_devsim_kick(struct ustor_devsim *sim, unsigned queue)
{
    if (!sim->workers || queue >= sim->num_queues)
        return;
    struct ustor_devsim_worker *w = &sim->workers[queue % sim->nworkers];
    pthread_mutex_lock(&w->wait_lock);
    w->kicked = true;
    pthread_mutex_unlock(&w->wait_lock);
    /* After the unlock: the worker does not wake only to block on the
     * mutex (the doorbell writer may hold a driver lock meanwhile). */
    pthread_cond_signal(&w->cond);
}

void ustor_devsim_kick_all(struct ustor_devsim *sim)
{
    for (unsigned i = 0; i < sim->nworkers; i++)
        ustor_devsim_kick(sim, i);
}

void ustor_devsim_reset(struct ustor_devsim *sim, void (*reset_state)(void *ctx), void *ctx)
{
    for (unsigned i = 0; i < sim->nworkers; i++)
        pthread_mutex_lock(&sim->workers[i].pass_lock);
    for (unsigned i = 0; i < sim->nworkers; i++)
        discard_all(&sim->workers[i], true);
    if (reset_state)
        reset_state(ctx);
    atomic_store(&sim->needs_reset, false);
    for (unsigned i = sim->nworkers; i > 0; i--)
        pthread_mutex_unlock(&sim->workers[i - 1].pass_lock);
}

unsigned ustor_devsim_held(struct ustor_devsim *sim)
{
    return atomic_load(&sim->inflight);
}
