/*
 * lockgraph.c - the lock-order graph (see lockgraph.h).
 *
 * Lookups are lock-free: nodes and edges live in fixed arrays and are
 * found through open-addressed hash tables of indexes.  An entry is
 * filled in completely, then its index is published into the table with a
 * release store; readers load the index with acquire.  Entries are never
 * removed while the graph lives, so a published entry stays valid.  Only
 * inserting (a new lock, a new ordered pair, a lock's first acquisition in
 * an interrupt context) takes the graph's mutex, and that is where the
 * graph is searched and stacks are captured.
 */
#include "verifier/lockgraph.h"

#include <execinfo.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verifier/verifier.h"

#define LG_FRAMES 16
#define NODE_HASH (LG_MAX_NODES * 2u)
#define EDGE_HASH (LG_MAX_EDGES * 2u)
#define PAIR_HASH 1024u

struct lg_site {
    const char *routine;
    unsigned irql;
    int nframes;
    void *frames[LG_FRAMES];
};

enum { F_IRQ = 1, F_ENABLED = 2, F_REPORTED = 4 };

struct lg_node {
    const void *id;
    char name[112];
    bool interrupt_lock;
    uint32_t first_out;            /* adjacency list: edge index + 1; under mutex */
    unsigned flags;                /* F_*: atomic */
    struct lg_site irq_site, enabled_site;
};

struct lg_edge {
    uint32_t from, to;
    uint32_t next_out;             /* next edge (index + 1) from the same node */
    struct lg_site site;           /* where B was first taken under A */
};

struct lg_graph {
    lg_report_fn report;
    void *report_ctx;
    pthread_mutex_t mu;
    uint32_t nr_nodes, nr_edges;   /* written under mu */
    bool full_said;
    uint32_t node_slots[NODE_HASH];   /* node index + 1, 0 = empty; atomic */
    uint32_t edge_slots[EDGE_HASH];   /* edge index + 1; atomic */
    uint64_t pairs[PAIR_HASH];        /* reported inversion pairs; under mu */
    unsigned inversions, irq_unsafe;
    unsigned long long slow_paths;
    /* search scratch, under mu */
    uint32_t visit_gen;
    uint32_t visited[LG_MAX_NODES];
    uint32_t via[LG_MAX_NODES];       /* edge index + 1 that reached the node */
    uint32_t queue[LG_MAX_NODES];
    struct lg_node nodes[LG_MAX_NODES];
    struct lg_edge edges[LG_MAX_EDGES];
};

static inline uint32_t hash_ptr(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (uint32_t)x;
}

static inline uint32_t hash_pair(uint32_t a, uint32_t b)
{
    uint64_t x = ((uint64_t)a << 32 | b) * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(x >> 29);
}

struct lg_graph *lg_create(lg_report_fn report, void *report_ctx)
{
    struct lg_graph *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->report = report;
    g->report_ctx = report_ctx;
    pthread_mutex_init(&g->mu, NULL);
    return g;
}

void lg_destroy(struct lg_graph *g)
{
    if (!g)
        return;
    pthread_mutex_destroy(&g->mu);
    free(g);
}

/* ---- lock-free lookups ------------------------------------------------ */

static int64_t node_find(struct lg_graph *g, const void *id)
{
    for (uint32_t h = hash_ptr(id), i = 0; i < NODE_HASH; i++, h++) {
        uint32_t v = __atomic_load_n(&g->node_slots[h & (NODE_HASH - 1)], __ATOMIC_ACQUIRE);
        if (v == 0)
            return -1;
        if (g->nodes[v - 1].id == id)
            return v - 1;
    }
    return -1;
}

static bool edge_known(struct lg_graph *g, uint32_t from, uint32_t to)
{
    for (uint32_t h = hash_pair(from, to), i = 0; i < EDGE_HASH; i++, h++) {
        uint32_t v = __atomic_load_n(&g->edge_slots[h & (EDGE_HASH - 1)], __ATOMIC_ACQUIRE);
        if (v == 0)
            return false;
        const struct lg_edge *e = &g->edges[v - 1];
        if (e->from == from && e->to == to)
            return true;
    }
    return false;
}

/* ---- inserts (under mu) ---------------------------------------------- */

static void say_full(struct lg_graph *g, const char *what)
{
    if (g->full_said)
        return;
    g->full_said = true;
    fprintf(stderr, "ustor-verifier: lock-order graph full (%s); new locks or orders are not tracked\n",
            what);
}

static void capture(struct lg_site *s, const struct lg_acquire *a)
{
    s->routine = a->routine ? a->routine : "(no miniport routine)";
    s->irql = a->irql;
    s->nframes = backtrace(s->frames, LG_FRAMES);
}

static int64_t node_insert(struct lg_graph *g, const struct lg_acquire *a)
{
    int64_t n = node_find(g, a->id);
    if (n >= 0)
        return n;
    if (g->nr_nodes == LG_MAX_NODES) {
        say_full(g, "too many locks");
        return -1;
    }
    uint32_t idx = g->nr_nodes;
    struct lg_node *node = &g->nodes[idx];
    memset(node, 0, sizeof(*node));
    node->id = a->id;
    node->interrupt_lock = a->interrupt_lock;
    if (a->name)
        a->name(a->name_ctx, node->name, sizeof(node->name));
    else
        snprintf(node->name, sizeof(node->name), "lock@%p", a->id);
    for (uint32_t h = hash_ptr(a->id);; h++) {
        uint32_t *slot = &g->node_slots[h & (NODE_HASH - 1)];
        if (*slot == 0) {
            __atomic_store_n(&g->nr_nodes, idx + 1, __ATOMIC_RELAXED);
            __atomic_store_n(slot, idx + 1, __ATOMIC_RELEASE);
            break;
        }
    }
    return idx;
}

/* Breadth-first search for a path src ~> dst; on success fills path[]
 * with the edge indexes from src to dst and returns their number. */
static unsigned find_path(struct lg_graph *g, uint32_t src, uint32_t dst, uint32_t *path, unsigned max)
{
    if (++g->visit_gen == 0) {
        memset(g->visited, 0, sizeof(g->visited));
        g->visit_gen = 1;
    }
    unsigned head = 0, tail = 0;
    g->queue[tail++] = src;
    g->visited[src] = g->visit_gen;
    g->via[src] = 0;
    while (head < tail) {
        uint32_t n = g->queue[head++];
        for (uint32_t e = g->nodes[n].first_out; e; e = g->edges[e - 1].next_out) {
            uint32_t to = g->edges[e - 1].to;
            if (g->visited[to] == g->visit_gen)
                continue;
            g->visited[to] = g->visit_gen;
            g->via[to] = e;
            if (to == dst) {
                unsigned len = 0;
                for (uint32_t at = dst; at != src && len < LG_MAX_NODES;) {
                    uint32_t ei = g->via[at] - 1;
                    if (len < max)
                        path[len] = ei;
                    len++;
                    at = g->edges[ei].from;
                }
                if (len > max)
                    len = max;
                /* reverse into src -> dst order */
                for (unsigned i = 0; i < len / 2; i++) {
                    uint32_t t = path[i];
                    path[i] = path[len - 1 - i];
                    path[len - 1 - i] = t;
                }
                return len;
            }
            g->queue[tail++] = to;
        }
    }
    return 0;
}

static bool pair_first_time(struct lg_graph *g, uint32_t a, uint32_t b)
{
    uint64_t key = a < b ? ((uint64_t)a << 32 | b) : ((uint64_t)b << 32 | a);
    key += 1; /* 0 = empty */
    for (uint32_t h = hash_pair(a < b ? a : b, a < b ? b : a), i = 0; i < PAIR_HASH; i++, h++) {
        uint64_t *slot = &g->pairs[h & (PAIR_HASH - 1)];
        if (*slot == key)
            return false;
        if (*slot == 0) {
            *slot = key;
            return true;
        }
    }
    return true; /* table full: report again rather than stay silent */
}

/* ---- report text ------------------------------------------------------- */

struct text {
    char *buf;
    size_t len, off;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
    if (t->off + 1 >= t->len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->off, t->len - t->off, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->off = t->off + (size_t)n < t->len ? t->off + (size_t)n : t->len - 1;
}

static void put_stack(struct text *t, const struct lg_site *s)
{
    if (t->off + 1 >= t->len)
        return;
    uv_symbolize(s->frames, s->nframes, true, t->buf + t->off, t->len - t->off, "        ");
    t->off += strlen(t->buf + t->off);
}

static void report_inversion(struct lg_graph *g, struct text *t, uint32_t from, uint32_t to,
                             const struct lg_site *now, const uint32_t *path, unsigned plen)
{
    const struct lg_node *a = &g->nodes[from], *b = &g->nodes[to];
    const struct lg_edge *first = &g->edges[path[0]];
    put(t, "%s then %s in %s, but %s then %s was seen before in %s: run at the same time, "
           "each path holds the lock the other waits for (deadlock)\n",
        a->name, b->name, now->routine, b->name, a->name, first->site.routine);
    put(t, "  new order (seen now):\n    %s -> %s in %s at IRQL %u\n", a->name, b->name, now->routine,
        now->irql);
    put_stack(t, now);
    put(t, "  opposite order (first seen earlier%s):\n",
        plen > 1 ? ", through other locks" : "");
    for (unsigned i = 0; i < plen; i++) {
        const struct lg_edge *e = &g->edges[path[i]];
        put(t, "    %s -> %s in %s at IRQL %u\n", g->nodes[e->from].name, g->nodes[e->to].name,
            e->site.routine, e->site.irql);
        put_stack(t, &e->site);
    }
    put(t, "  fix: take these locks in one order everywhere (lockdep-style check; reported once "
           "per lock pair)\n");
}

static void report_irq_unsafe(struct text *t, const struct lg_node *n)
{
    put(t, "%s is taken in interrupt context (%s) and with interrupts enabled (%s at IRQL %u): "
           "if the interrupt arrives on the CPU that holds it, the ISR spins on it forever\n",
        n->name, n->irq_site.routine, n->enabled_site.routine, n->enabled_site.irql);
    put(t, "  taken in interrupt context (first seen) in %s at IRQL %u:\n", n->irq_site.routine,
        n->irq_site.irql);
    put_stack(t, &n->irq_site);
    put(t, "  taken with interrupts enabled (first seen) in %s at IRQL %u:\n",
        n->enabled_site.routine, n->enabled_site.irql);
    put_stack(t, &n->enabled_site);
    put(t, "  fix: outside the ISR take it only under the interrupt lock (or at DIRQL through "
           "StorPortSynchronizeAccess)\n");
}

/* ---- slow paths -------------------------------------------------------- */

static void add_edge_slow(struct lg_graph *g, uint32_t from, uint32_t to, const struct lg_acquire *a)
{
    struct lg_site site;
    capture(&site, a);
    char *text = NULL;
    pthread_mutex_lock(&g->mu);
    g->slow_paths++;
    if (edge_known(g, from, to))
        goto out;
    if (g->nr_edges == LG_MAX_EDGES) {
        say_full(g, "too many lock orders");
        goto out;
    }
    uint32_t path[16];
    unsigned plen = find_path(g, to, from, path, 16);
    if (plen > 0 && pair_first_time(g, from, to)) {
        size_t cap = 12288;
        text = malloc(cap);
        if (text) {
            struct text t = { text, cap, 0 };
            text[0] = '\0';
            report_inversion(g, &t, from, to, &site, path, plen);
            g->inversions++;
        }
    }
    uint32_t idx = g->nr_edges;
    struct lg_edge *e = &g->edges[idx];
    e->from = from;
    e->to = to;
    e->site = site;
    e->next_out = g->nodes[from].first_out;
    g->nodes[from].first_out = idx + 1;
    for (uint32_t h = hash_pair(from, to);; h++) {
        uint32_t *slot = &g->edge_slots[h & (EDGE_HASH - 1)];
        if (*slot == 0) {
            __atomic_store_n(&g->nr_edges, idx + 1, __ATOMIC_RELAXED);
            __atomic_store_n(slot, idx + 1, __ATOMIC_RELEASE);
            break;
        }
    }
out:
    pthread_mutex_unlock(&g->mu);
    if (text) {
        g->report(g->report_ctx, "LockOrderInversion", text);
        free(text);
    }
}

static void context_slow(struct lg_graph *g, uint32_t n, unsigned flag, const struct lg_acquire *a)
{
    struct lg_site site;
    capture(&site, a);
    char *text = NULL;
    pthread_mutex_lock(&g->mu);
    g->slow_paths++;
    struct lg_node *node = &g->nodes[n];
    unsigned f = __atomic_load_n(&node->flags, __ATOMIC_RELAXED);
    if (!(f & flag)) {
        if (flag == F_IRQ)
            node->irq_site = site;
        else
            node->enabled_site = site;
        f = __atomic_or_fetch(&node->flags, flag, __ATOMIC_RELAXED);
        if ((f & (F_IRQ | F_ENABLED)) == (F_IRQ | F_ENABLED) && !(f & F_REPORTED)) {
            __atomic_or_fetch(&node->flags, F_REPORTED, __ATOMIC_RELAXED);
            size_t cap = 8192;
            text = malloc(cap);
            if (text) {
                struct text t = { text, cap, 0 };
                text[0] = '\0';
                report_irq_unsafe(&t, node);
                g->irq_unsafe++;
            }
        }
    }
    pthread_mutex_unlock(&g->mu);
    if (text) {
        g->report(g->report_ctx, "InterruptUnsafeLock", text);
        free(text);
    }
}

/* ---- the entry point ----------------------------------------------------- */

void lg_acquire(struct lg_graph *g, const struct lg_acquire *a, const void *const *held, unsigned nheld)
{
    if (!g || !a->id)
        return;
    int64_t to = node_find(g, a->id);
    if (to < 0) {
        pthread_mutex_lock(&g->mu);
        to = node_insert(g, a);
        pthread_mutex_unlock(&g->mu);
        if (to < 0)
            return;
    }
    for (unsigned i = 0; i < nheld; i++) {
        if (held[i] == a->id)
            continue;
        int64_t from = node_find(g, held[i]);
        if (from < 0 || from == to)
            continue;
        if (!edge_known(g, (uint32_t)from, (uint32_t)to))
            add_edge_slow(g, (uint32_t)from, (uint32_t)to, a);
    }
    if (a->interrupt_lock || a->context == LG_CTX_OTHER)
        return;
    unsigned flag = a->context == LG_CTX_IRQ ? F_IRQ : F_ENABLED;
    if (!(__atomic_load_n(&g->nodes[to].flags, __ATOMIC_RELAXED) & flag))
        context_slow(g, (uint32_t)to, flag, a);
}

void lg_get_stats(struct lg_graph *g, struct lg_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    st->nodes = g->nr_nodes;
    st->edges = g->nr_edges;
    st->inversions = g->inversions;
    st->irq_unsafe = g->irq_unsafe;
    st->slow_paths = g->slow_paths;
    pthread_mutex_unlock(&g->mu);
}
