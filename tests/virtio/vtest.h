/*
 * vtest.h - helpers for the virtio miniport tests: a virtio-blk device with
 * an adapter and an open block device on it, and a data-integrity stress
 * that checks every read against what was last written, counts lost or
 * duplicated completions, and reads the whole disk back at the end.
 */
#ifndef USTOR_TESTS_VIRTIO_VTEST_H
#define USTOR_TESTS_VIRTIO_VTEST_H

#include <stdbool.h>
#include <stdint.h>

#include "testutil.h"

#include <ustor/block.h>
#include <ustor/hw.h>
#include <ustor/ustor.h>

#include "virtio_stats.h"

struct vt_env {
    struct ustor_bus_device *dev;
    ustor_driver *drv;
    ustor_adapter *ad;
    ustor_blk_dev *blk;
    struct tu_reports rep;
    uint64_t stress_blocks;      /* vt_stress uses LBAs below this; 0: all */
};

struct vt_setup {
    ustor_driver_entry_fn entry; /* NULL: the built-in "virtio" */
    const char *args;            /* miniport ArgumentString */
    const char *device_opts;     /* device option string ("capacity=4M" added first) */
    unsigned cpus;               /* 0: 2 */
    unsigned blk_timeout_s;      /* 0: block layer default */
    unsigned queue_depth;        /* 0: 64 */
};

/* Creates device, adapter (verifier in log mode, reports kept in
 * e->rep) and opens LUN 0.  Fails the test with the reason if any step
 * fails. */
void vt_open(struct vt_env *e, const struct vt_setup *s);
/* Closes the LUN, destroys the adapter, then the device. */
void vt_close(struct vt_env *e);

struct vt_stress_result {
    unsigned ops;            /* completed operations */
    unsigned mismatches, errors, lost_or_dup;
    unsigned readback_mismatches, readback_errors;
    char problem[256];
};

/* Called repeatedly from the main thread while the workers run (e.g. to
 * stop and restart the adapter); NULL: nothing. */
typedef void vt_during_fn(struct vt_env *e, void *ctx);

/* threads x ops random whole-slot reads and writes (8 blocks per slot,
 * QD 8 per thread), then reads every slot back.  Bounded: each worker
 * gives up after 60 s without progress (counted as lost). */
void vt_stress(struct vt_env *e, unsigned threads, unsigned ops, uint64_t seed, vt_during_fn *during,
               void *ctx, struct vt_stress_result *out);

/* Fails the test unless r is clean; what names the run. */
void vt_assert_clean(const struct vt_env *e, const struct vt_stress_result *r, const char *what, uint64_t seed);

#endif
