/*
 * probe.h - a test miniport that observes what the port does to it: the
 * IRQL and port-held locks on entry of every routine, StartIo concurrency,
 * overlap of StartIo / SynchronizeAccess with the ISR, BUSY re-issues and
 * the SrbExtension each attempt got.  Tests read probe_state directly.
 */
#ifndef USTOR_TEST_PROBE_H
#define USTOR_TEST_PROBE_H

#include <storport.h>
#include "port/rules.h"

struct probe_obs {
    volatile int calls;
    volatile int ready;              /* irql_first / held_first are set */
    KIRQL irql_first;
    volatile int irql_mismatch;      /* entered at an IRQL different from irql_first */
    rules_lockset held_first;
    volatile int held_mismatch;
};

#define PROBE_MAX_TRACK 256

struct probe_track {
    void *srb;
    int buildio, startio;
    void *ext[4];
    ULONG dtl[4];
};

struct probe_state {
    /* configuration, from the argument string */
    int complete;        /* 0 inline, 1 dpc, 2 isr (its DPC completes), 3 isrdirect (the ISR completes) */
    int busy_every;      /* every Nth new SRB is bounced with BUSY once */
    int rendezvous_us;   /* StartIo waits up to this long for a second StartIo */
    int sync_access;     /* StartIo calls StorPortSynchronizeAccess */
    int never_tag;       /* SRBs whose QueueTag == never_tag+1 are never completed */
    int use_timer;
    int lun_depth;       /* StorPortSetDeviceQueueDepth in HwStorInitialize */
    int busy_after;      /* StorPortBusy(n) when n requests are outstanding */
    int pause_at;        /* StorPortPause at the Nth StartIo; resumed by the next DPC */
    /* observations */
    struct probe_obs obs[RR_COUNT];
    struct probe_obs ac_obs[ScsiAdapterControlMax];
    volatile int startio_now, startio_max;
    volatile int in_isr, in_startio, in_sync;
    volatile int overlap_startio_isr, overlap_sync_isr;
    volatile int rendezvous_hits;
    volatile int sync_mismatch;
    volatile int resets;
    volatile int srb_seen;
    volatile int track_n;
    struct probe_track track[PROBE_MAX_TRACK];
    volatile int timer_calls;
    volatile int outstanding, outstanding_max;
    volatile int paused;
};

extern struct probe_state probe_state;
void probe_reset(void);
ULONG probe_phys_DriverEntry(PVOID DriverObject, PVOID RegistryPath);
ULONG probe_virt_DriverEntry(PVOID DriverObject, PVOID RegistryPath);

#endif
