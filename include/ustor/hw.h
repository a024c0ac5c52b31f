/*
 * hw.h - creating simulated hardware for physical miniports.
 *
 * A device is a struct ustor_bus_device (src/hw/bus.h) handed to
 * ustor_adapter_create() in ustor_adapter_config.device; destroy it with
 * dev->ops->destroy(dev->dev) after the adapter is gone.  See
 * docs/hardware.md for the models, the option string grammar and the
 * fault kinds.
 */
#ifndef USTOR_HW_H
#define USTOR_HW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ustor_bus_device;

/* ---- latency and faults (the device option string) -------------------- */

enum ustor_hw_latency_kind {
    USTOR_HW_LAT_ZERO = 0,
    USTOR_HW_LAT_FIXED,   /* a_ns */
    USTOR_HW_LAT_UNIFORM, /* a_ns .. b_ns */
    USTOR_HW_LAT_EXP,     /* mean a_ns */
};

struct ustor_hw_latency {
    enum ustor_hw_latency_kind kind;
    uint64_t a_ns, b_ns;
};

enum ustor_hw_fault {
    USTOR_HW_FAULT_DROP_IRQ = 0, /* an interrupt the device owes is never raised */
    USTOR_HW_FAULT_DELAY_IRQ,    /* an interrupt is raised irq_delay later */
    USTOR_HW_FAULT_SPURIOUS_IRQ, /* an interrupt with nothing new to report */
    USTOR_HW_FAULT_STUCK,        /* a command never completes (held until reset) */
    USTOR_HW_FAULT_ERROR,        /* a command completes with an I/O error */
    USTOR_HW_FAULT_RESET,        /* the device resets itself, losing what is in flight */
    USTOR_HW_FAULT_COUNT
};

/* A fault fires with probability `prob` per opportunity, or on every
 * `every`-th opportunity (every != 0 wins). */
struct ustor_hw_fault_rate {
    double prob;
    uint64_t every;
};

struct ustor_hw_options {
    struct ustor_hw_latency latency;
    struct ustor_hw_fault_rate faults[USTOR_HW_FAULT_COUNT];
    uint64_t irq_delay_ns;   /* delay_irq: default 1 ms */
    uint64_t seed;
    bool seed_set;
    unsigned workers;        /* device threads; 0: min(queues, 2) */
    unsigned max_inflight;   /* commands in flight in the device; 0: 1024 */
    /* Device keys (0 / empty: not given). */
    uint64_t capacity_bytes;
    unsigned num_queues;
    unsigned queue_size;
    int msix;                /* -1 not given, 0 off (INTx), 1 on */
    char file[1024];
    char serial[21];
};

/* Parses "key=value;key=value".  Keys: latency, faults, seed, workers,
 * depth, irq_delay, capacity, queues, queue_size, msix, file, serial
 * (grammar in docs/hardware.md).  Starts from defaults; returns 0, or
 * -EINVAL with a sentence naming the bad key or value and what is
 * allowed in err. */
int ustor_hw_parse_options(const char *text, struct ustor_hw_options *out, char *err, size_t errlen);
const char *ustor_hw_fault_name(enum ustor_hw_fault kind);

/* ---- models ------------------------------------------------------------ */

struct ustor_hw_model_info {
    const char *name;
    const char *description;
};
/* The device models, NULL-terminated (for `ustor list`). */
const struct ustor_hw_model_info *ustor_hw_list(void);

struct ustor_virtio_blk_config {
    uint64_t capacity_sectors; /* 512-byte sectors; 0: 64 MiB */
    unsigned num_queues;       /* request queues; 0: 4 (max 64) */
    unsigned queue_size_max;   /* per queue, power of two; 0: 256 (max 32768) */
    const char *backing_file;  /* NULL: memory; else a file (created and
                                * extended to the capacity if needed) */
    const char *options;       /* option string (may override the above) */
    uint64_t seed;             /* when options set no seed */
    const char *serial;        /* GET_ID; NULL: "USTOR-VBLK-<n>" */
    bool intx_only;            /* leave MSI-X disabled at power-on */
};

/* Creates a virtio-blk (virtio 1.x, PCI modern) device.  NULL on failure,
 * with a sentence in err. */
struct ustor_bus_device *ustor_virtio_blk_create(const struct ustor_virtio_blk_config *cfg,
                                                 char *err, size_t errlen);

struct ustor_hw_stats {
    uint64_t requests;        /* completed, any status */
    uint64_t reads, writes, flushes, others;
    uint64_t bytes_read, bytes_written;
    uint64_t errors;          /* completed with a non-OK status */
    uint64_t bad_requests;    /* malformed by the driver */
    uint64_t dma_faults;      /* device DMA that hit no mapping */
    uint64_t dropped_by_reset;/* in flight when the device was reset */
    uint64_t in_flight;       /* held by the device now (incl. stuck) */
    uint64_t irqs_raised, irqs_dropped, irqs_delayed, irqs_spurious;
    uint64_t faults[USTOR_HW_FAULT_COUNT]; /* injected, by kind */
};

/* Fills *out; returns 0, or -EINVAL if dev is not a ustor hw device. */
int ustor_hw_device_stats(const struct ustor_bus_device *dev, struct ustor_hw_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* USTOR_HW_H */
