/*
 * virtio_stats.h - counters the "virtio" miniport keeps for tests and
 * diagnostics, summed over every adapter of the process.  Reading them
 * needs the miniport linked into the program (ustor_miniports); the
 * loadable module keeps the function hidden.
 */
#ifndef USTOR_MINIPORTS_VIRTIO_STATS_H
#define USTOR_MINIPORTS_VIRTIO_STATS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct virtio_miniport_stats {
    uint64_t posted;            /* requests put on an avail ring */
    uint64_t device_completions;/* used-ring entries taken back */
    uint64_t local_completions; /* answered by the miniport (INQUIRY, ...) */
    uint64_t isr_calls;         /* ISR invocations */
    uint64_t isr_idle;          /* ... that found nothing to do (spurious) */
    uint64_t config_interrupts; /* configuration-change interrupts */
    uint64_t lost_irq_recoveries; /* the timer found used entries no ISR took */
    uint64_t stuck_resets;      /* device resets for a command older than stuck_ms */
    uint64_t needs_reset_resets;/* device resets for DEVICE_NEEDS_RESET */
    uint64_t bus_resets;        /* HwStorResetBus calls */
    uint64_t reset_completions; /* SRBs completed with SRB_STATUS_BUS_RESET by a reset */
    uint64_t io_errors;         /* VIRTIO_BLK_S_IOERR (or no status) from the device */
    uint64_t fua_flushes;       /* FLUSHes issued after FUA writes */
    uint64_t queue_full_busy;   /* SRBs bounced with SRB_STATUS_BUSY: ring full */
    uint64_t stops, restarts;   /* ScsiStopAdapter / ScsiRestartAdapter */
    /* check=1: times a ring critical section (StartIo posting, DPC
     * detaching completions) saw its queue's ISR running at the same time.
     * Must stay 0: any other value means the synchronization is broken. */
    uint64_t sync_checks;       /* critical sections checked */
    uint64_t sync_overlaps;
};

/* Test build of the miniport (VIO_TEST_BAD_DMA, tests/virtio): READ/WRITE
 * starting in [VIO_BAD_DATA_LBA, +8) get VIO_BAD_PHYSICAL as their first
 * data descriptor, those in [VIO_BAD_TABLE_LBA, +8) as their indirect
 * table: memory that does not exist. */
#define VIO_BAD_DATA_LBA 1000u
#define VIO_BAD_TABLE_LBA 2000u
#define VIO_BAD_PHYSICAL 0x00000FEDC0000000ull

/* Copies the counters; with reset != 0 also sets them back to zero. */
void virtio_miniport_get_stats(struct virtio_miniport_stats *out, int reset);

#ifdef __cplusplus
}
#endif

#endif /* USTOR_MINIPORTS_VIRTIO_STATS_H */
