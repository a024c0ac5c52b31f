/*
 * virtio.h - private definitions of the "virtio" Storport miniport: a
 * physical miniport for the virtio-blk PCI device (virtio 1.x modern
 * interface, split virtqueues, indirect descriptors, MSI-X or INTx).
 * One disk: path 0, target 0, LUN 0.  See docs/virtio-miniport.md.
 */
#ifndef USTOR_MINIPORTS_VIRTIO_H
#define USTOR_MINIPORTS_VIRTIO_H

#include <stdatomic.h>

#include <storport.h>

#include "../ramdisk/scsidisk.h"
#include "../../src/hw/virtio_blk.h"

#define VIO_NAME "virtio"
#define VIO_VENDOR_ID "USTOR"
#define VIO_PRODUCT_ID "VIRTIO-BLK"
#define VIO_REVISION "0001"

#define VIO_MAX_QUEUES 16u
#define VIO_MAX_QUEUE_SIZE 256u      /* ring entries used per queue (cap) */
#define VIO_MAX_DATA_SEGS 64u        /* SG elements per request */
#define VIO_MAX_TRANSFER (512u * 1024u)
#define VIO_MAX_RANGES 16u           /* discard / write-zeroes segments */
#define VIO_PAGE 4096u
#define VIO_QUEUE_BYTES (3u * VIO_PAGE) /* desc, avail, used: one page each */
#define VIO_STATUS_UNSET 0xFFu       /* status byte before the device writes it */

typedef enum _VIO_SYNC { VioSyncHalf, VioSyncFull, VioSyncConcurrent } VIO_SYNC;
typedef enum _VIO_INTR { VioIntrAll, VioIntrPerMessage } VIO_INTR;

/* Parsed ArgumentString. */
typedef struct _VIO_CONFIG {
    VIO_SYNC Sync;
    VIO_INTR Intr;
    ULONG Queues;        /* most queues to use in concurrent mode */
    ULONG WatchdogMs;    /* HwStorTimer period */
    ULONG StuckMs;       /* a command older than this resets the device */
    BOOLEAN Check;       /* count ISR / ring critical section overlaps */
    BOOLEAN NoSync;      /* TEST ONLY: ring sections skip the interrupt lock */
} VIO_CONFIG;

typedef enum _VIO_ACTION {
    VioActionLocal,      /* answered by the miniport in StartIo */
    VioActionDevice,     /* a virtio request */
} VIO_ACTION;

/* The SrbExtension.  Everything the device reads or writes (indirect
 * descriptor table, header, ranges, status byte) comes first; its
 * physical addresses come from StorPortGetPhysicalAddress. */
typedef struct _VIO_REQUEST {
    struct virtq_desc Table[VIO_MAX_DATA_SEGS + 2];
    struct virtio_blk_outhdr Header;
    struct virtio_blk_discard_write_zeroes Ranges[VIO_MAX_RANGES];
    volatile UCHAR DeviceStatus;

    /* Miniport bookkeeping, never seen by the device. */
    PVOID Srb;
    struct _VIO_REQUEST *Next;
    VIO_ACTION Action;
    ULONG TableCount;
    ULONGLONG TablePa;
    ULONG DataBytes;          /* what a successful transfer moves */
    BOOLEAN Fua;              /* write with FUA: a FLUSH follows */
    BOOLEAN FuaReserved;      /* holds a ring credit for that FLUSH */
    BOOLEAN FlushPhase;       /* the FLUSH of a FUA write is on the ring */
    BOOLEAN LocalFailed;      /* Local: CHECK CONDITION with Sense */
    UCHAR LocalSrbStatus;     /* Local: SRB-level status, or 0 */
    SCSIDISK_SENSE Sense;
    ULONG Queue;
    ULONG UsedLen;
    LONGLONG PostedAt;        /* StorPortQuerySystemTime units (100 ns) */
} VIO_REQUEST, *PVIO_REQUEST;

typedef struct _VIO_QUEUE {
    ULONG Index;
    USHORT Size;
    USHORT Vector;                 /* MSI-X message, or VIRTIO_MSI_NO_VECTOR */
    struct virtq_desc *Desc;
    PUCHAR Avail;                  /* flags, idx, ring[Size], used_event */
    PUCHAR Used;                   /* flags, idx, ring[Size], avail_event */
    ULONGLONG DescPa, AvailPa, UsedPa;
    PUSHORT Notify;                /* doorbell register */
    USHORT NotifyOff;

    /* Ring state: guarded by the queue's interrupt lock (the MSI lock of
     * its message in per-message mode), see the locking note in virtio.c. */
    USHORT AvailShadow;
    USHORT LastUsed;
    USHORT FreeHeads[VIO_MAX_QUEUE_SIZE];
    ULONG NumFree;
    ULONG Reserved;                /* credits held for FUA flushes */
    PVIO_REQUEST Slots[VIO_MAX_QUEUE_SIZE];
    PVIO_REQUEST DoneHead, DoneTail;
    /* Timer's view at its last tick (timer only). */
    ULONG TimerIsrSeq;
    USHORT TimerLastUsed;

    STOR_DPC Dpc;
    atomic_uint IsrSeq;            /* ISRs that served this queue */
    atomic_int InIsr;              /* check=1: the queue's ISR is running */
    atomic_int NoSyncLock;         /* nosync=1: private spin word */
} VIO_QUEUE, *PVIO_QUEUE;

typedef struct _VIO_EXTENSION {
    VIO_CONFIG Config;
    ULONG AdapterNumber;

    /* Registers (BAR 4, through StorPortRead/WriteRegister*). */
    PUCHAR Common, IsrReg, DevCfg, NotifyBase;
    ULONG NotifyMultiplier;
    BOOLEAN Msix;
    ULONG MsixCount;
    BOOLEAN PerMessage;

    ULONGLONG DeviceFeatures, DriverFeatures;
    ULONGLONG CapacitySectors;
    ULONG BlockSize, SectorsPerBlock;
    ULONG SegMax, SizeMax;
    ULONG MaxDiscardSectors, MaxDiscardSeg, DiscardAlignment;
    ULONG MaxWriteZeroesSectors, MaxWriteZeroesSeg;
    ULONG DeviceQueues, NumQueues;
    USHORT QueueSize;
    USHORT ConfigVector;
    SCSIDISK_GEOMETRY Geometry;
    CHAR Serial[SCSIDISK_MAX_SERIAL + 1];
    ULONGLONG NaaId;

    PUCHAR Uncached;
    ULONGLONG UncachedPa;
    ULONG UncachedLength;

    BOOLEAN InitializedOnce, DpcReady, SerialRead;
    BOOLEAN HalfDuplex;
    atomic_int Stopped;            /* between ScsiStopAdapter and restart */
    atomic_int ResetRequested;     /* DEVICE_NEEDS_RESET seen */
    STOR_DPC ResetDpc;

    VIO_QUEUE Queues[VIO_MAX_QUEUES];
} VIO_EXTENSION, *PVIO_EXTENSION;

#endif /* USTOR_MINIPORTS_VIRTIO_H */
