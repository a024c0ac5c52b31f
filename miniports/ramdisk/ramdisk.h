/*
 * ramdisk.h - private definitions of the "ramdisk" Storport miniport: a
 * RAM-backed SCSI direct-access disk with LUNs 0..N-1 on path 0, target 0.
 *
 * One source builds two miniports:
 *  - "ramdisk" (default): a virtual miniport (VIRTUAL_HW_INITIALIZATION_DATA,
 *    VirtualDevice = TRUE);
 *  - "ramdisk-phys" (-DRAMDISK_PHYSICAL): a physical miniport with no device
 *    (HW_INITIALIZATION_DATA, AdapterInterfaceType = Internal, no access
 *    ranges, an ISR that never finds work), so the port's physical
 *    synchronization models (half duplex, full duplex, concurrent channels)
 *    can be exercised with real I/O.
 *
 * Parameters arrive as HwStorFindAdapter's ArgumentString, see
 * ramdisk_args.h and miniports/README.md.
 */
#ifndef USTOR_MINIPORTS_RAMDISK_H
#define USTOR_MINIPORTS_RAMDISK_H

#include <stdatomic.h>

#include <storport.h>

#include "ramdisk_args.h"
#include "scsidisk.h"

#ifdef RAMDISK_PHYSICAL
#define RAMDISK_PRODUCT_ID "RAMDISK-PHYS"
#define RAMDISK_NAME "ramdisk-phys"
#else
#define RAMDISK_PRODUCT_ID "RAMDISK"
#define RAMDISK_NAME "ramdisk"
#endif
#define RAMDISK_VENDOR_ID "USTOR"
#define RAMDISK_REVISION "0001"

#define RAMDISK_POOL_TAG 0x6B736452u /* "Rdsk" read as little-endian bytes */

#define RAMDISK_MAX_TRANSFER_LENGTH (512u * 1024u)
#define RAMDISK_PAGE_SIZE 4096u
#define RAMDISK_MAX_UNMAP_DESCRIPTORS 64u
/* Writers of overlapping ranges on one LUN are serialized per stripe. */
#define RAMDISK_STRIPES 16u
/* SRBs bounced with SRB_STATUS_BUSY and not yet re-issued (busy=N hook). */
#define RAMDISK_BOUNCE_SLOTS 64u

/* Reader/writer spin lock word: >0 readers, -1 one writer, 0 free. */
typedef struct _RAMDISK_STRIPE_LOCK {
    atomic_int State;
} RAMDISK_STRIPE_LOCK;

typedef struct _RAMDISK_LUN {
    PUCHAR Data;                       /* LunSize bytes */
    ULONGLONG StripeBlocks;            /* blocks covered by one stripe lock */
    RAMDISK_STRIPE_LOCK Stripes[RAMDISK_STRIPES];
    /* FALSE until the stripe's first write: its memory has never been
     * zeroed and it reads as zeroes (LBPRZ).  Zeroing lazily keeps an
     * unwritten disk from committing host memory.  Guarded like the data. */
    BOOLEAN StripeWritten[RAMDISK_STRIPES];
    CHAR SerialNumber[SCSIDISK_MAX_SERIAL + 1];
    ULONGLONG NaaId;
} RAMDISK_LUN, *PRAMDISK_LUN;

/* Per-request context: the SrbExtension.  BuildIo fills it, StartIo uses
 * it; a request waiting for the completion DPC is linked through Next. */
typedef struct _RAMDISK_SRB_CONTEXT {
    struct _RAMDISK_SRB_CONTEXT *Next;
    PVOID Srb;
    BOOLEAN Decoded;          /* BuildIo decoded the CDB */
    BOOLEAN DecodeFailed;     /* ... and found it invalid: Sense holds why */
    SCSIDISK_SENSE Sense;
    SCSIDISK_BLOCK_COMMAND Block; /* for block commands */
} RAMDISK_SRB_CONTEXT, *PRAMDISK_SRB_CONTEXT;

/* The device extension (per adapter). */
typedef struct _RAMDISK_EXTENSION {
    RAMDISK_CONFIG Config;
    SCSIDISK_GEOMETRY Geometry;
    ULONG AdapterNumber;
    BOOLEAN InitializedOnce;     /* HwStorInitialize ran (passive init enabled) */
    BOOLEAN DpcReady;            /* completion DPC initialized */
    BOOLEAN StartIoSerialized;   /* port holds the StartIo lock around StartIo */
    RAMDISK_SYNC_MODE Sync;

    /* Requests completed from the DPC; protected by the StartIo lock (see
     * the locking note in ramdisk.c). */
    PRAMDISK_SRB_CONTEXT DpcHead;
    PRAMDISK_SRB_CONTEXT DpcTail;
    STOR_DPC CompletionDpc;

    /* busy=N hook: SRBs bounced once, protected like the DPC list. */
    PVOID Bounced[RAMDISK_BOUNCE_SLOTS];
    atomic_uint NewRequests;     /* counts first attempts, for busy=N */
    atomic_uint Dispatches;      /* chooses the completion path in mixed mode */
    atomic_uint SpuriousInterrupts;

    RAMDISK_LUN Luns[RAMDISK_MAX_LUNS];
} RAMDISK_EXTENSION, *PRAMDISK_EXTENSION;

#endif /* USTOR_MINIPORTS_RAMDISK_H */
