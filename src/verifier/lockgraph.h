/*
 * lockgraph.h - a lock-order graph in the spirit of Linux lockdep, one per
 * adapter.  Nodes are lock identities (the address of the lock word);
 * an edge A->B means "B was acquired while A was held by the same
 * thread".  The graph reports:
 *   - LockOrderInversion: an edge B->A is added while a path A ~> B
 *     exists, i.e. two code paths take the same locks in opposite orders
 *     (a deadlock waiting for the right interleaving), once per lock pair,
 *     with the routine and stack where each order was first seen;
 *   - InterruptUnsafeLock: a lock taken in interrupt context (an ISR, or
 *     under the interrupt lock) is also taken elsewhere with interrupts
 *     enabled (IRQL below DIRQL, no interrupt lock held), which deadlocks
 *     when the interrupt arrives on the CPU holding it.
 *
 * The graph knows nothing about the port: the caller says which locks the
 * thread holds at each acquisition and in what context it happens, and
 * gets reports through a callback.  Cost: an acquisition whose edges are
 * all known is a few lock-free hash lookups; only a new edge (or a lock's
 * first acquisition in a context) takes the graph's mutex, walks the graph
 * and captures a backtrace.
 */
#ifndef USTOR_VERIFIER_LOCKGRAPH_H
#define USTOR_VERIFIER_LOCKGRAPH_H

#include <stdbool.h>
#include <stddef.h>

struct lg_graph;

/* Receives a finished report: rule is "LockOrderInversion" or
 * "InterruptUnsafeLock"; text is a one-line summary, a newline, then the
 * detail block (both orders / both contexts, with stacks). */
typedef void (*lg_report_fn)(void *ctx, const char *rule, const char *text);

/* Names a lock the first time the graph sees it. */
typedef void (*lg_name_fn)(void *ctx, char *buf, size_t len);

enum lg_context {
    LG_CTX_OTHER = 0,     /* interrupts masked (IRQL >= DIRQL) without the lock */
    LG_CTX_IRQ,           /* in an ISR or under the interrupt lock */
    LG_CTX_IRQ_ENABLED,   /* IRQL < DIRQL and no interrupt lock held */
};

struct lg_acquire {
    const void *id;             /* the lock being acquired */
    lg_name_fn name;            /* called once, when the node is created */
    void *name_ctx;
    const char *routine;        /* miniport routine running (static string) */
    enum lg_context context;
    bool interrupt_lock;        /* id is an interrupt lock: no IRQ-safety check */
    unsigned irql;              /* IRQL at the acquisition (for the report) */
};

/* Capacity: at most this many locks and ordered pairs per adapter; beyond
 * it new locks/edges are not tracked (said once in a report-free note on
 * stderr). */
#define LG_MAX_NODES 2048u
#define LG_MAX_EDGES 8192u

struct lg_graph *lg_create(lg_report_fn report, void *report_ctx);
void lg_destroy(struct lg_graph *g);

/* Records the acquisition of a->id while the thread holds held[0..nheld)
 * (lock identities, oldest first; entries equal to a->id are skipped).
 * Reports go through the callback, on the calling thread, with no graph
 * lock held. */
void lg_acquire(struct lg_graph *g, const struct lg_acquire *a, const void *const *held,
                unsigned nheld);

/* Counters, for tests and the benchmark. */
struct lg_stats {
    unsigned nodes, edges;
    unsigned inversions, irq_unsafe;
    unsigned long long slow_paths;   /* acquisitions that took the mutex */
};
void lg_get_stats(struct lg_graph *g, struct lg_stats *st);

#endif /* USTOR_VERIFIER_LOCKGRAPH_H */
