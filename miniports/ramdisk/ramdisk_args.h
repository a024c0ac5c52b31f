/*
 * ramdisk_args.h - the ramdisk miniport's parameters: HwStorFindAdapter's
 * ArgumentString ("key=value;key=value", the registry's DriverParameter on
 * Windows) parsed into a RAMDISK_CONFIG.  Kept apart from ramdisk.c so it
 * is shared by both builds and testable alone.
 *
 * Keys: luns=1..255 (default 1); size=BYTES[K|M|G] per LUN, a multiple of
 * 512 and of bs, at most 2G (default 64M); bs=512|4096 (default 512);
 * complete=inline|dpc|mixed (default mixed); srb=ex|scsi (default ex);
 * busy=N (every Nth request bounced once with SRB_STATUS_BUSY, 0 = off);
 * ro=0|1; ramdisk-phys only: sync=half|full|concurrent (default full).
 */
#ifndef USTOR_MINIPORTS_RAMDISK_ARGS_H
#define USTOR_MINIPORTS_RAMDISK_ARGS_H

#include <ntdef.h>

#define RAMDISK_MAX_LUNS 255
#define RAMDISK_DEFAULT_SIZE (64ull << 20)
/* One StorPortAllocatePool call per LUN takes a ULONG size; the physical
 * build's single uncached extension holds every LUN.  2 GiB keeps both
 * far from the 4 GiB limit. */
#define RAMDISK_MAX_SIZE (2ull << 30)
#define RAMDISK_MAX_BUSY_EVERY 1000000u

typedef enum _RAMDISK_COMPLETION_MODE {
    RamdiskCompleteInline,
    RamdiskCompleteDpc,
    RamdiskCompleteMixed,
} RAMDISK_COMPLETION_MODE;

typedef enum _RAMDISK_SYNC_MODE {
    RamdiskSyncHalfDuplex,
    RamdiskSyncFullDuplex,
    RamdiskSyncConcurrent,
} RAMDISK_SYNC_MODE;

/* What the argument string asked for. */
typedef struct _RAMDISK_CONFIG {
    ULONG LunCount;
    ULONGLONG LunSize;        /* bytes per LUN */
    ULONG BlockSize;
    RAMDISK_COMPLETION_MODE Completion;
    BOOLEAN UseScsiRequestBlock; /* srb=scsi */
    RAMDISK_SYNC_MODE Sync;   /* ramdisk-phys only */
    ULONG BusyEvery;          /* 0: never */
    BOOLEAN ReadOnly;
} RAMDISK_CONFIG, *PRAMDISK_CONFIG;

/* Parses ArgumentString (NULL or "" gives the defaults) into Config.
 * Physical selects the ramdisk-phys rules (sync= accepted, all LUNs in one
 * 2G region).  On a bad key or value returns FALSE and writes a sentence
 * saying what was wrong and what is allowed into Message. */
BOOLEAN RamdiskParseArguments(_In_opt_z_ PCSTR ArgumentString, BOOLEAN Physical,
                              _Out_ PRAMDISK_CONFIG Config,
                              _Out_writes_(MessageLength) PCHAR Message, ULONG MessageLength);

#endif /* USTOR_MINIPORTS_RAMDISK_ARGS_H */
