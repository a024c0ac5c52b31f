/*
 * corpus.h - the broken-miniport corpus: one miniport whose argument
 * string "bug=<name>" selects the ONE Storport rule it breaks (see the
 * table at the top of corpus.c), plus "sync=half|full|concurrent" for the
 * physical build and "lockin=<HwStor routine>;lock=<STOR_SPINLOCK>" to
 * take one lock in one routine (table B cells).  Tests read corpus_state.
 */
#ifndef USTOR_TEST_CORPUS_H
#define USTOR_TEST_CORPUS_H

#include <storport.h>

#include "port/rules.h"

struct corpus_state {
    char bug[48];               /* "none" when no bug was asked for */
    int lock_in;                /* enum rules_routine taking lock_kind, or -1 */
    int lock_kind;              /* STOR_SPINLOCK */
    volatile int calls[RR_COUNT];
    volatile int lock_done;     /* 1: lock_in is taking it, 2: done and lock_status set */
    volatile ULONG lock_status; /* what StorPortAcquireSpinLockEx returned */
    volatile int dpc_done;      /* the DPC ran to its end */
    volatile int sync_called;   /* the StorPortSynchronizeAccess callback ran */
    volatile int sync_ret;      /* what StorPortSynchronizeAccess returned */
};

extern struct corpus_state corpus_state;
void corpus_reset(void);
ULONG corpus_phys_DriverEntry(PVOID DriverObject, PVOID RegistryPath);
ULONG corpus_virt_DriverEntry(PVOID DriverObject, PVOID RegistryPath);

#endif
