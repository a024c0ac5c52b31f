/*
 * nullmp.h - the benchmarks' null miniport: HwStorStartIo completes every
 * SRB at once with SRB_STATUS_SUCCESS; HwStorBuildIo does nothing.  It
 * measures the port, not a device.
 *
 * Two DriverEntry routines: nullmp_phys_DriverEntry (physical, no device;
 * ArgumentString sync=half|full|concurrent) and nullmp_virt_DriverEntry
 * (virtual).  Both accept luns=N (1..32) and hold=1 (StartIo keeps the SRB
 * instead of completing it; ustor_adapter_raise_interrupt(ad, 0) then
 * completes everything held from HwStorInterrupt: physical only).
 *
 * More hooks:
 *  - an SRB whose CDB opcode is NULLMP_OP_RUN makes HwStorBuildIo call the
 *    calling thread's nullmp_run_hook (set with nullmp_set_hook) inside
 *    the miniport's context, e.g. to time StorPort lock calls;
 * lockio=1 makes HwStorStartIo take and release the DpcLock of its STOR_DPC
 * once per request before completing it (not in half duplex, where
 * StartIo runs under the interrupt lock and may take no other lock).
 *
 * Hooks:
 *  - nullmp_direct_* call HwStorBuildIo / HwStorStartIo with no port (the
 *    floor of the port-overhead benchmark), completing through a plain
 *    function instead of StorPortNotification.
 */
#ifndef USTOR_BENCH_NULLMP_H
#define USTOR_BENCH_NULLMP_H

#include <storport.h>

#define NULLMP_OP_RUN 0xC1
#define NULLMP_MAX_HELD 4096
#define NULLMP_SRB_EXTENSION_SIZE 64

typedef struct {
    STOR_DPC dpc;
    STOR_DPC thread_dpc[2]; /* bench_locks: one per measuring thread */
    BOOLEAN physical;
    BOOLEAN half;
    BOOLEAN hold;
    BOOLEAN lockio;
    /* Floor mode (no port): completion goes here. */
    void (*direct_complete)(void *ctx, PVOID srb);
    void *direct_ctx;
    /* hold=1: SRBs kept by StartIo, under the interrupt lock. */
    PVOID held[NULLMP_MAX_HELD];
    ULONG nheld;
} NULLMP_EXT;

/* Called from HwStorBuildIo (DISPATCH_LEVEL, no port lock held). */
typedef void (*nullmp_run_hook)(PVOID device_extension, void *ctx);
void nullmp_set_hook(nullmp_run_hook fn, void *ctx);

ULONG nullmp_phys_DriverEntry(PVOID DriverObject, PVOID RegistryPath);
ULONG nullmp_virt_DriverEntry(PVOID DriverObject, PVOID RegistryPath);

/* The floor: a device extension that completes into complete(ctx, srb). */
void nullmp_direct_init(NULLMP_EXT *e, void (*complete)(void *ctx, PVOID srb), void *ctx);
BOOLEAN nullmp_direct_buildio(NULLMP_EXT *e, PVOID srb);
BOOLEAN nullmp_direct_startio(NULLMP_EXT *e, PVOID srb);

#endif
