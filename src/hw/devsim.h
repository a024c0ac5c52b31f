/*
 * devsim.h - device timing and fault engine shared by the device models:
 * worker threads that take commands off a device's queues, a seeded
 * latency model, a bound on commands in flight, and fault injection.
 *
 * A device embeds struct ustor_devsim_req at the start of its command and
 * provides ustor_devsim_ops; devsim decides when each command completes
 * and which faults hit it, the device does the work.
 */
#ifndef USTOR_HW_DEVSIM_H
#define USTOR_HW_DEVSIM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ustor/hw.h"

#ifdef __cplusplus
extern "C" {
#endif

/* xoshiro256** seeded through splitmix64: reproducible from one seed. */
struct ustor_rng {
    uint64_t s[4];
};
void ustor_rng_seed(struct ustor_rng *rng, uint64_t seed);
uint64_t ustor_rng_next(struct ustor_rng *rng);
/* Uniform in [0, 1). */
double ustor_rng_double(struct ustor_rng *rng);

/* One latency draw in nanoseconds. */
uint64_t ustor_latency_sample(const struct ustor_hw_latency *lat, struct ustor_rng *rng);
/* One fault opportunity: `every` counts through *counter (shared,
 * atomic), `prob` draws from rng. */
bool ustor_fault_roll(const struct ustor_hw_fault_rate *rate, struct ustor_rng *rng,
                      atomic_uint_least64_t *counter);

/* Monotonic nanoseconds. */
uint64_t ustor_devsim_now_ns(void);

struct ustor_devsim_req {
    struct ustor_devsim_req *next;
    uint64_t deadline_ns;
    unsigned queue;
    bool is_irq; /* internal: a delayed interrupt, not a command */
};

struct ustor_devsim_ops {
    /* Takes the next command off `queue` (NULL: none).  The device
     * allocates it; devsim owns it until complete or discard. */
    struct ustor_devsim_req *(*fetch)(void *ctx, unsigned queue);
    /* Does the command's work now (data movement); inject_error: skip the
     * work and fail it with an I/O error. */
    void (*execute)(void *ctx, struct ustor_devsim_req *req, bool inject_error);
    /* Posts the completion the driver sees, then frees req. */
    void (*complete)(void *ctx, struct ustor_devsim_req *req);
    /* Frees req without completing it (lost to a reset). */
    void (*discard)(void *ctx, struct ustor_devsim_req *req);
    /* After completions on `queue`: does the driver want an interrupt
     * (interrupt suppression)?  NULL: always. */
    bool (*irq_wanted)(void *ctx, unsigned queue);
    /* Raises `queue`'s interrupt; spurious: with nothing new to report. */
    void (*interrupt)(void *ctx, unsigned queue, bool spurious);
    /* An injected device reset: the device marks itself as needing a reset
     * and tells the driver (config-change interrupt). */
    void (*reset_event)(void *ctx);
};

struct ustor_devsim_worker;

struct ustor_devsim {
    const struct ustor_devsim_ops *ops;
    void *ctx;
    const char *name;
    struct ustor_hw_options opts;
    unsigned num_queues;
    unsigned nworkers;
    struct ustor_devsim_worker *workers;
    atomic_uint inflight;
    atomic_bool needs_reset; /* set by an injected reset until the driver resets */
    atomic_uint_least64_t fault_counters[USTOR_HW_FAULT_COUNT]; /* for "every N" */
    atomic_uint_least64_t faults[USTOR_HW_FAULT_COUNT];         /* fired */
    atomic_uint_least64_t irqs_dropped, irqs_delayed, irqs_spurious, dropped_by_reset;
};

/* Starts the workers (opts->workers, default min(num_queues, 2)); queue q
 * is served by worker q % nworkers.  Returns 0 or -errno. */
int ustor_devsim_start(struct ustor_devsim *sim, const char *name, const struct ustor_hw_options *opts,
                       unsigned num_queues, const struct ustor_devsim_ops *ops, void *ctx);
/* Stops the workers and discards what they hold. */
void ustor_devsim_stop(struct ustor_devsim *sim);
/* The driver told the device about new work on `queue` (doorbell). */
void ustor_devsim_kick(struct ustor_devsim *sim, unsigned queue);
/* Kicks every queue (after the device became ready). */
void ustor_devsim_kick_all(struct ustor_devsim *sim);
/* Device reset by the driver: waits until no worker is between fetch and
 * completion, discards every command held (in flight or stuck), runs
 * reset_state(ctx) while the workers are held, and clears needs_reset. */
void ustor_devsim_reset(struct ustor_devsim *sim, void (*reset_state)(void *ctx), void *ctx);
/* Commands held now (in flight + stuck). */
unsigned ustor_devsim_held(struct ustor_devsim *sim);

#ifdef __cplusplus
}
#endif

#endif /* USTOR_HW_DEVSIM_H */
