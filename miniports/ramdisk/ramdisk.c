/*
 * ramdisk.c - "ramdisk" / "ramdisk-phys": a RAM-backed SCSI disk written
 * as a Storport miniport (see ramdisk.h for the two builds).
 *
 * Request path
 *   HwStorBuildIo (no lock, SPEC S5.2) decodes block CDBs into the
 *   SrbExtension; HwStorStartIo bounces (busy=N), checks, moves the data
 *   and either completes the request at once or queues it for the
 *   completion DPC (complete=inline|dpc|mixed).  The DPC is initialized in
 *   HwStorPassiveInitializeRoutine, where StorPortInitializeDpc's page
 *   says it belongs; HwStorInitialize enables passive initialization.
 *
 * Locking (SPEC S4, tables A and B)
 *   Shared state: the DPC completion list and the busy=N bookkeeping
 *   (Bounced[]).  Three routines touch it: StartIo (append, bounce),
 *   HwStorDpcRoutine (drain) and HwStorResetBus (flush with BUS_RESET).
 *   HwStorResetBus may not take the DPC lock (table B: only the interrupt
 *   lock, and no lock at all in half duplex), but always runs with the
 *   StartIo lock held (table A).  So the StartIo lock protects that state:
 *    - StartIo, physical half/full duplex: the port already holds it
 *      (S5.3), so StartIo takes no lock at all (S5.4 for half duplex);
 *    - StartIo, virtual or concurrent channels: the port does not hold it
 *      and table B lets StartIo take it (S5.5, S5.6);
 *    - HwStorDpcRoutine takes it (table B: DPC, StartIo, Interrupt);
 *    - HwStorResetBus: held by the port.
 *   Completion (StorPortNotification RequestComplete) is called with no
 *   miniport lock held, after the request left the shared list.
 *
 *   Disk data: when StartIo calls are serialized by the port (half and full
 *   duplex) nothing else touches the data.  When they run concurrently
 *   (virtual, concurrent channels) each LUN is split into RAMDISK_STRIPES
 *   ranges guarded by reader/writer spin words (not Storport locks: they
 *   are the disk's own media locks): readers share a stripe, writers and
 *   UNMAP own it, stripes are taken in ascending order so two requests can
 *   never wait for each other in a cycle.  SCSI gives no ordering between
 *   overlapping commands in flight; the stripes only make each command
 *   atomic with respect to the others, so readers never see torn blocks.
 *
 * Memory (decision)
 *   The disk memory is allocated at PASSIVE_LEVEL in HwStorFindAdapter and
 *   kept across ScsiStopAdapter / ScsiRestartAdapter (a PnP stop must not
 *   lose the data).
 *    - Virtual build: StorPortAllocatePool, one block per LUN, freed in
 *      HwStorFreeAdapterResources, the last callback of a virtual adapter.
 *    - Physical build: Storport gives physical miniports no "final removal"
 *      callback (HwFreeAdapterResources is documented for virtual
 *      miniports, and ScsiStopAdapter also precedes a restart and runs at
 *      DIRQL where pool cannot be freed), so the disk lives in the
 *      uncached extension (StorPortGetUncachedExtension), which the port
 *      owns and releases when the adapter is removed.
 */
#include <stdio.h>
#include <string.h>
#include <sched.h>

#include <storport.h>
#include <srbhelper.h>

#include "ramdisk.h"

/* Role declarations (SPEC S5.10). */
#ifdef RAMDISK_PHYSICAL
static HW_FIND_ADAPTER RamdiskHwFindAdapter;
static HW_INTERRUPT RamdiskHwInterrupt;
static HW_UNIT_CONTROL RamdiskHwUnitControl; /* HW_INITIALIZATION_DATA only */
#else
static VIRTUAL_HW_FIND_ADAPTER RamdiskHwFindAdapter;
static HW_FREE_ADAPTER_RESOURCES RamdiskHwFreeAdapterResources;
#endif
static HW_INITIALIZE RamdiskHwInitialize;
static HW_PASSIVE_INITIALIZE_ROUTINE RamdiskHwPassiveInitialize;
static HW_BUILDIO RamdiskHwBuildIo;
static HW_STARTIO RamdiskHwStartIo;
static HW_RESET_BUS RamdiskHwResetBus;
static HW_ADAPTER_CONTROL RamdiskHwAdapterControl;
static HW_DPC_ROUTINE RamdiskHwDpcRoutine;

/* Numbers adapters so serial numbers and NAA ids are unique. */
static atomic_uint RamdiskAdapterCount;

/* ======================================================================
 * Small helpers
 * ====================================================================== */

#ifdef RAMDISK_PHYSICAL
#define RAMDISK_SERIAL_PREFIX "USTRP"
#define RAMDISK_NAA_BUILD_BIT (1ull << 35)
#else
#define RAMDISK_SERIAL_PREFIX "USTRV"
#define RAMDISK_NAA_BUILD_BIT 0ull
#endif

/* Build letter, 8 hex digits of adapter, 2 of LUN: unique within the
 * process, also between the two builds (each counts its own adapters). */
static VOID RamdiskFormatSerial(PCHAR Out, ULONG Adapter, ULONG Lun)
{
    snprintf(Out, SCSIDISK_MAX_SERIAL + 1, RAMDISK_SERIAL_PREFIX "%08lX%02lX",
             (unsigned long)Adapter, (unsigned long)Lun);
}

static VOID RamdiskComplete(PRAMDISK_EXTENSION Ext, PVOID Srb)
{
    StorPortNotification(RequestComplete, Ext, Srb);
}

/* Takes the lock that guards the DPC list and Bounced[] from StartIo,
 * unless the port already holds it there (see the locking note). */
static BOOLEAN RamdiskLockFromStartIo(PRAMDISK_EXTENSION Ext, PSTOR_LOCK_HANDLE Handle)
{
    if (Ext->StartIoSerialized)
        return FALSE;
    StorPortAcquireSpinLock(Ext, StartIoLock, NULL, Handle);
    return TRUE;
}

static VOID RamdiskUnlockFromStartIo(PRAMDISK_EXTENSION Ext, PSTOR_LOCK_HANDLE Handle,
                                     BOOLEAN Taken)
{
    if (Taken)
        StorPortReleaseSpinLock(Ext, Handle);
}

/* ---- stripe (media) locks ---------------------------------------------- */

static VOID RamdiskStripeWait(unsigned *Spins)
{
    /* User-mode build: after a short spin, give the CPU to the holder
     * instead of burning it (a kernel build would spin with a pause). */
    if (++*Spins > 64)
        sched_yield();
}

static VOID RamdiskStripeAcquire(RAMDISK_STRIPE_LOCK *Lock, BOOLEAN Exclusive)
{
    unsigned spins = 0;

    for (;;) {
        int state = atomic_load_explicit(&Lock->State, memory_order_relaxed);
        if (Exclusive) {
            if (state == 0 && atomic_compare_exchange_weak_explicit(
                                  &Lock->State, &state, -1, memory_order_acquire,
                                  memory_order_relaxed))
                return;
        } else if (state >= 0 && atomic_compare_exchange_weak_explicit(
                                     &Lock->State, &state, state + 1, memory_order_acquire,
                                     memory_order_relaxed)) {
            return;
        }
        RamdiskStripeWait(&spins);
    }
}

static VOID RamdiskStripeRelease(RAMDISK_STRIPE_LOCK *Lock, BOOLEAN Exclusive)
{
    if (Exclusive)
        atomic_store_explicit(&Lock->State, 0, memory_order_release);
    else
        atomic_fetch_sub_explicit(&Lock->State, 1, memory_order_release);
}

static VOID RamdiskStripeRange(PRAMDISK_LUN Lun, ULONGLONG Lba, ULONGLONG Blocks, ULONG *First,
                               ULONG *Last)
{
    *First = (ULONG)(Lba / Lun->StripeBlocks);
    *Last = (ULONG)((Lba + (Blocks ? Blocks : 1) - 1) / Lun->StripeBlocks);
    if (*Last >= RAMDISK_STRIPES)
        *Last = RAMDISK_STRIPES - 1;
}

static VOID RamdiskLockRange(PRAMDISK_EXTENSION Ext, PRAMDISK_LUN Lun, ULONGLONG Lba,
                             ULONGLONG Blocks, BOOLEAN Exclusive)
{
    ULONG first, last, i;

    if (Ext->StartIoSerialized)
        return;
    RamdiskStripeRange(Lun, Lba, Blocks, &first, &last);
    for (i = first; i <= last; i++) /* ascending: no cycles */
        RamdiskStripeAcquire(&Lun->Stripes[i], Exclusive);
}

static VOID RamdiskUnlockRange(PRAMDISK_EXTENSION Ext, PRAMDISK_LUN Lun, ULONGLONG Lba,
                               ULONGLONG Blocks, BOOLEAN Exclusive)
{
    ULONG first, last, i;

    if (Ext->StartIoSerialized)
        return;
    RamdiskStripeRange(Lun, Lba, Blocks, &first, &last);
    for (i = last + 1; i-- > first;)
        RamdiskStripeRelease(&Lun->Stripes[i], Exclusive);
}

/* ---- media access (caller holds the stripes, or StartIo is serialized) */

static ULONGLONG RamdiskStripeEnd(PRAMDISK_EXTENSION Ext, PRAMDISK_LUN Lun, ULONG Stripe)
{
    ULONGLONG end = (ULONGLONG)(Stripe + 1) * Lun->StripeBlocks;

    return end < Ext->Geometry.BlockCount ? end : Ext->Geometry.BlockCount;
}

/* Zeroes, once, the stripes a write is about to touch. */
static VOID RamdiskMaterialize(PRAMDISK_EXTENSION Ext, PRAMDISK_LUN Lun, ULONGLONG Lba,
                               ULONGLONG Blocks)
{
    ULONG bs = Ext->Geometry.BlockSize;
    ULONG first, last, i;

    RamdiskStripeRange(Lun, Lba, Blocks, &first, &last);
    for (i = first; i <= last; i++) {
        if (!Lun->StripeWritten[i]) {
            ULONGLONG start = (ULONGLONG)i * Lun->StripeBlocks;
            memset(Lun->Data + start * bs, 0, (size_t)((RamdiskStripeEnd(Ext, Lun, i) - start) * bs));
            Lun->StripeWritten[i] = TRUE;
        }
    }
}

/* Copies blocks out; never-written stripes read as zeroes. */
static VOID RamdiskReadBlocks(PRAMDISK_EXTENSION Ext, PRAMDISK_LUN Lun, ULONGLONG Lba,
                              ULONGLONG Blocks, PUCHAR Out)
{
    ULONG bs = Ext->Geometry.BlockSize;

    while (Blocks > 0) {
        ULONG stripe = (ULONG)(Lba / Lun->StripeBlocks);
        ULONGLONG end = RamdiskStripeEnd(Ext, Lun, stripe);
        ULONGLONG n = end - Lba < Blocks ? end - Lba : Blocks;

        if (Lun->StripeWritten[stripe])
            memcpy(Out, Lun->Data + Lba * bs, (size_t)(n * bs));
        else
            memset(Out, 0, (size_t)(n * bs));
        Out += n * bs;
        Lba += n;
        Blocks -= n;
    }
}

/* ======================================================================
 * SCSI execution
 * ====================================================================== */

/* An SRB-level failure (no SCSI status): nothing was transferred. */
static UCHAR RamdiskSrbError(PVOID Srb, UCHAR SrbStatus)
{
    SrbSetDataTransferLength(Srb, 0);
    return SrbStatus;
}

/* Runs a data-in builder of scsidisk.c with allocation-length semantics:
 * DataTransferLength becomes what was actually returned. */
typedef BOOLEAN RAMDISK_DATA_IN_BUILDER(PRAMDISK_EXTENSION Ext, ULONG Lun, const UCHAR *Cdb,
                                        ULONG CdbLength, PVOID Buffer, ULONG BufferLength,
                                        PULONG BytesWritten, PSCSIDISK_SENSE Sense);

static BOOLEAN RamdiskBuildInquiry(PRAMDISK_EXTENSION Ext, ULONG Lun, const UCHAR *Cdb,
                                   ULONG CdbLength, PVOID Buffer, ULONG BufferLength,
                                   PULONG BytesWritten, PSCSIDISK_SENSE Sense)
{
    SCSIDISK_IDENTITY identity;

    identity.VendorId = RAMDISK_VENDOR_ID;
    identity.ProductId = RAMDISK_PRODUCT_ID;
    identity.ProductRevision = RAMDISK_REVISION;
    identity.SerialNumber = Ext->Luns[Lun].SerialNumber;
    identity.NaaVendorSpecific = Ext->Luns[Lun].NaaId;
    return ScsiDiskInquiry(Cdb, CdbLength, &Ext->Geometry, &identity, Buffer, BufferLength,
                           BytesWritten, Sense);
}

static BOOLEAN RamdiskBuildReadCapacity10(PRAMDISK_EXTENSION Ext, ULONG Lun, const UCHAR *Cdb,
                                          ULONG CdbLength, PVOID Buffer, ULONG BufferLength,
                                          PULONG BytesWritten, PSCSIDISK_SENSE Sense)
{
    UNREFERENCED_PARAMETER(Lun);
    return ScsiDiskReadCapacity10(Cdb, CdbLength, &Ext->Geometry, Buffer, BufferLength,
                                  BytesWritten, Sense);
}

static BOOLEAN RamdiskBuildReadCapacity16(PRAMDISK_EXTENSION Ext, ULONG Lun, const UCHAR *Cdb,
                                          ULONG CdbLength, PVOID Buffer, ULONG BufferLength,
                                          PULONG BytesWritten, PSCSIDISK_SENSE Sense)
{
    UNREFERENCED_PARAMETER(Lun);
    return ScsiDiskReadCapacity16(Cdb, CdbLength, &Ext->Geometry, Buffer, BufferLength,
                                  BytesWritten, Sense);
}

static BOOLEAN RamdiskBuildModeSense(PRAMDISK_EXTENSION Ext, ULONG Lun, const UCHAR *Cdb,
                                     ULONG CdbLength, PVOID Buffer, ULONG BufferLength,
                                     PULONG BytesWritten, PSCSIDISK_SENSE Sense)
{
    UNREFERENCED_PARAMETER(Lun);
    return ScsiDiskModeSense(Cdb, CdbLength, &Ext->Geometry, Buffer, BufferLength, BytesWritten,
                             Sense);
}

static BOOLEAN RamdiskBuildReportLuns(PRAMDISK_EXTENSION Ext, ULONG Lun, const UCHAR *Cdb,
                                      ULONG CdbLength, PVOID Buffer, ULONG BufferLength,
                                      PULONG BytesWritten, PSCSIDISK_SENSE Sense)
{
    UNREFERENCED_PARAMETER(Lun);
    return ScsiDiskReportLuns(Cdb, CdbLength, Ext->Config.LunCount, Buffer, BufferLength,
                              BytesWritten, Sense);
}

static BOOLEAN RamdiskBuildRequestSense(PRAMDISK_EXTENSION Ext, ULONG Lun, const UCHAR *Cdb,
                                        ULONG CdbLength, PVOID Buffer, ULONG BufferLength,
                                        PULONG BytesWritten, PSCSIDISK_SENSE Sense)
{
    UNREFERENCED_PARAMETER(Ext);
    UNREFERENCED_PARAMETER(Lun);
    return ScsiDiskRequestSense(Cdb, CdbLength, Buffer, BufferLength, BytesWritten, Sense);
}

static UCHAR RamdiskDataIn(PRAMDISK_EXTENSION Ext, PVOID Srb, ULONG Lun, const UCHAR *Cdb,
                           ULONG CdbLength, RAMDISK_DATA_IN_BUILDER *Builder)
{
    PVOID buffer = SrbGetDataBuffer(Srb);
    ULONG length = SrbGetDataTransferLength(Srb);
    ULONG written = 0;
    SCSIDISK_SENSE sense;

    if (length > 0 && (buffer == NULL || !ScsiDiskSrbDirectionOk(Srb, TRUE)))
        return RamdiskSrbError(Srb, SRB_STATUS_INVALID_REQUEST);
    if (!Builder(Ext, Lun, Cdb, CdbLength, length > 0 ? buffer : NULL, length, &written, &sense))
        return ScsiDiskSrbCheckCondition(Srb, &sense);
    return ScsiDiskSrbGood(Srb, written);
}

/* READ / WRITE / VERIFY / SYNCHRONIZE CACHE / WRITE SAME, decoded by
 * BuildIo.  A host buffer shorter than the CDB's transfer is refused with
 * ILLEGAL REQUEST / INVALID FIELD IN CDB and nothing is moved (never a
 * partial write); a longer one gets DataTransferLength trimmed to what
 * was moved. */
static UCHAR RamdiskBlockCommand(PRAMDISK_EXTENSION Ext, PVOID Srb, ULONG LunIndex,
                                 const SCSIDISK_BLOCK_COMMAND *Command)
{
    PRAMDISK_LUN lun = &Ext->Luns[LunIndex];
    ULONG blockSize = Ext->Geometry.BlockSize;
    ULONGLONG needed = ScsiDiskBlockCommandDataLength(Command, &Ext->Geometry);
    PUCHAR buffer = SrbGetDataBuffer(Srb);
    ULONG length = SrbGetDataTransferLength(Srb);
    PUCHAR media = lun->Data + Command->Lba * blockSize;
    ULONGLONG bytes = (ULONGLONG)Command->Blocks * blockSize;
    SCSIDISK_SENSE sense;
    ULONGLONG i;

    if (needed > 0) {
        BOOLEAN dataIn = Command->Kind == ScsiDiskRead;
        if (buffer == NULL || !ScsiDiskSrbDirectionOk(Srb, dataIn))
            return RamdiskSrbError(Srb, SRB_STATUS_INVALID_REQUEST);
        if (length < needed)
            return ScsiDiskSrbCheckConditionCodes(Srb, SCSI_SENSE_ILLEGAL_REQUEST,
                                              SCSI_ADSENSE_INVALID_CDB, 0);
    }
    if ((Command->Kind == ScsiDiskWrite || Command->Kind == ScsiDiskWriteSame) &&
        !ScsiDiskCheckWritable(&Ext->Geometry, &sense))
        return ScsiDiskSrbCheckCondition(Srb, &sense);
    if (Command->Blocks == 0) /* TRANSFER LENGTH 0: a valid no-op */
        return ScsiDiskSrbGood(Srb, 0);

    switch (Command->Kind) {
    case ScsiDiskRead:
        RamdiskLockRange(Ext, lun, Command->Lba, Command->Blocks, FALSE);
        RamdiskReadBlocks(Ext, lun, Command->Lba, Command->Blocks, buffer);
        RamdiskUnlockRange(Ext, lun, Command->Lba, Command->Blocks, FALSE);
        break;
    case ScsiDiskWrite:
        /* FUA needs nothing more: RAM is the medium, there is no cache. */
        RamdiskLockRange(Ext, lun, Command->Lba, Command->Blocks, TRUE);
        RamdiskMaterialize(Ext, lun, Command->Lba, Command->Blocks);
        memcpy(media, buffer, (size_t)bytes);
        RamdiskUnlockRange(Ext, lun, Command->Lba, Command->Blocks, TRUE);
        break;
    case ScsiDiskWriteSame:
        RamdiskLockRange(Ext, lun, Command->Lba, Command->Blocks, TRUE);
        RamdiskMaterialize(Ext, lun, Command->Lba, Command->Blocks);
        if (Command->NoDataOutBuffer) {
            memset(media, 0, (size_t)bytes); /* NDOB: zeroes; LBPRZ makes UNMAP the same */
        } else {
            /* With UNMAP set an all-zero block is an unmap, which reads
             * back as zeroes (LBPRZ = 1): writing the block is identical. */
            for (i = 0; i < Command->Blocks; i++)
                memcpy(media + i * blockSize, buffer, blockSize);
        }
        RamdiskUnlockRange(Ext, lun, Command->Lba, Command->Blocks, TRUE);
        break;
    case ScsiDiskVerify:
    case ScsiDiskSyncCache:
        /* In range (checked at decode) and nothing cached. */
        break;
    }
    return ScsiDiskSrbGood(Srb, (ULONG)needed);
}

static UCHAR RamdiskUnmap(PRAMDISK_EXTENSION Ext, PVOID Srb, ULONG LunIndex, const UCHAR *Cdb,
                          ULONG CdbLength)
{
    PRAMDISK_LUN lun = &Ext->Luns[LunIndex];
    PUCHAR list = SrbGetDataBuffer(Srb);
    ULONG length = SrbGetDataTransferLength(Srb);
    ULONG listLength, count, i;
    SCSIDISK_SENSE sense;

    if (!ScsiDiskDecodeUnmap(Cdb, CdbLength, &listLength, &sense))
        return ScsiDiskSrbCheckCondition(Srb, &sense);
    if (!ScsiDiskCheckWritable(&Ext->Geometry, &sense))
        return ScsiDiskSrbCheckCondition(Srb, &sense);
    if (listLength == 0)
        return ScsiDiskSrbGood(Srb, 0);
    if (list == NULL || !ScsiDiskSrbDirectionOk(Srb, FALSE))
        return RamdiskSrbError(Srb, SRB_STATUS_INVALID_REQUEST);
    if (length < listLength) /* the host sent less than the CDB announces */
        return ScsiDiskSrbCheckConditionCodes(Srb, SCSI_SENSE_ILLEGAL_REQUEST,
                                          SCSI_ADSENSE_INVALID_CDB, 0);
    /* Validate every descriptor before unmapping anything. */
    if (!ScsiDiskValidateUnmapList(list, listLength, &Ext->Geometry, &count, &sense))
        return ScsiDiskSrbCheckCondition(Srb, &sense);
    for (i = 0; i < count; i++) {
        ULONGLONG lba;
        ULONG blocks;

        ScsiDiskUnmapDescriptor(list, i, &lba, &blocks);
        if (blocks == 0)
            continue;
        RamdiskLockRange(Ext, lun, lba, blocks, TRUE);
        RamdiskMaterialize(Ext, lun, lba, blocks);
        memset(lun->Data + lba * Ext->Geometry.BlockSize, 0,
               (size_t)blocks * Ext->Geometry.BlockSize);
        RamdiskUnlockRange(Ext, lun, lba, blocks, TRUE);
    }
    return ScsiDiskSrbGood(Srb, listLength);
}

static UCHAR RamdiskExecuteScsi(PRAMDISK_EXTENSION Ext, PVOID Srb, PRAMDISK_SRB_CONTEXT Context)
{
    const UCHAR *cdb = (const UCHAR *)SrbGetCdb(Srb);
    ULONG cdbLength = SrbGetCdbLength(Srb);
    UCHAR path = 0, target = 0, lun = 0;

    SrbGetPathTargetLun(Srb, &path, &target, &lun);
    /* The port may filter addresses first; a miniport checks anyway. */
    if (path != 0)
        return RamdiskSrbError(Srb, SRB_STATUS_INVALID_PATH_ID);
    if (target != 0)
        return RamdiskSrbError(Srb, SRB_STATUS_INVALID_TARGET_ID);
    if (lun >= Ext->Config.LunCount)
        return RamdiskSrbError(Srb, SRB_STATUS_INVALID_LUN);
    if (cdb == NULL || cdbLength == 0)
        return RamdiskSrbError(Srb, SRB_STATUS_INVALID_REQUEST);

    if (Context != NULL && Context->Decoded) {
        if (Context->DecodeFailed)
            return ScsiDiskSrbCheckCondition(Srb, &Context->Sense);
        return RamdiskBlockCommand(Ext, Srb, lun, &Context->Block);
    }
    if (ScsiDiskIsBlockCommand(cdb[0])) {
        /* BuildIo had no extension to decode into: decode here. */
        SCSIDISK_BLOCK_COMMAND command;
        SCSIDISK_SENSE sense;
        if (!ScsiDiskDecodeBlockCommand(cdb, cdbLength, &Ext->Geometry, &command, &sense))
            return ScsiDiskSrbCheckCondition(Srb, &sense);
        return RamdiskBlockCommand(Ext, Srb, lun, &command);
    }

    switch (cdb[0]) {
    case SCSIOP_TEST_UNIT_READY:
    case SCSIOP_START_STOP_UNIT:      /* always spinning */
    case SCSIOP_MEDIUM_REMOVAL:       /* not removable: nothing to lock */
        return ScsiDiskSrbGood(Srb, 0);
    case SCSIOP_REQUEST_SENSE:
        return RamdiskDataIn(Ext, Srb, lun, cdb, cdbLength, RamdiskBuildRequestSense);
    case SCSIOP_INQUIRY:
        return RamdiskDataIn(Ext, Srb, lun, cdb, cdbLength, RamdiskBuildInquiry);
    case SCSIOP_READ_CAPACITY:
        return RamdiskDataIn(Ext, Srb, lun, cdb, cdbLength, RamdiskBuildReadCapacity10);
    case SCSIOP_SERVICE_ACTION_IN16:
        if (cdbLength >= 2 && (cdb[1] & 0x1F) == SERVICE_ACTION_READ_CAPACITY16)
            return RamdiskDataIn(Ext, Srb, lun, cdb, cdbLength, RamdiskBuildReadCapacity16);
        return ScsiDiskSrbCheckConditionCodes(Srb, SCSI_SENSE_ILLEGAL_REQUEST,
                                          SCSI_ADSENSE_INVALID_CDB, 0);
    case SCSIOP_MODE_SENSE:
    case SCSIOP_MODE_SENSE10:
        return RamdiskDataIn(Ext, Srb, lun, cdb, cdbLength, RamdiskBuildModeSense);
    case SCSIOP_REPORT_LUNS:
        return RamdiskDataIn(Ext, Srb, lun, cdb, cdbLength, RamdiskBuildReportLuns);
    case SCSIOP_UNMAP:
        return RamdiskUnmap(Ext, Srb, lun, cdb, cdbLength);
    default:
        return ScsiDiskSrbCheckConditionCodes(Srb, SCSI_SENSE_ILLEGAL_REQUEST,
                                          SCSI_ADSENSE_ILLEGAL_COMMAND, 0);
    }
}

/* SRB functions other than EXECUTE_SCSI. */
static UCHAR RamdiskOtherFunction(PRAMDISK_EXTENSION Ext, PVOID Srb, ULONG Function)
{
    UNREFERENCED_PARAMETER(Ext);
    SrbSetDataTransferLength(Srb, 0);
    switch (Function) {
    case SRB_FUNCTION_RESET_BUS:
    case SRB_FUNCTION_RESET_DEVICE:
    case SRB_FUNCTION_RESET_LOGICAL_UNIT:
        /* Nothing is in progress on a RAM disk: every request already
         * moved its data; any still queued completes from the DPC. */
        return SRB_STATUS_SUCCESS;
    case SRB_FUNCTION_ABORT_COMMAND:
        /* The command named is either complete or about to complete from
         * the DPC with its data already moved: nothing left to abort. */
        return SRB_STATUS_SUCCESS;
    case SRB_FUNCTION_FLUSH:
    case SRB_FUNCTION_SHUTDOWN:
        return SRB_STATUS_SUCCESS; /* no cache: RAM is the medium */
    case SRB_FUNCTION_PNP:
    case SRB_FUNCTION_POWER:
        return SRB_STATUS_SUCCESS; /* no per-unit power or PnP state */
    default:
        return SRB_STATUS_INVALID_REQUEST;
    }
}

/* busy=N: TRUE if this SRB is to be bounced now.  Called from StartIo. */
static BOOLEAN RamdiskBounceOnce(PRAMDISK_EXTENSION Ext, PVOID Srb)
{
    STOR_LOCK_HANDLE handle;
    BOOLEAN taken, bounce = FALSE;
    ULONG i, freeSlot = RAMDISK_BOUNCE_SLOTS;
    unsigned n;

    taken = RamdiskLockFromStartIo(Ext, &handle);
    for (i = 0; i < RAMDISK_BOUNCE_SLOTS; i++) {
        if (Ext->Bounced[i] == Srb) {
            /* The re-issue of a bounced SRB: run it this time. */
            Ext->Bounced[i] = NULL;
            RamdiskUnlockFromStartIo(Ext, &handle, taken);
            return FALSE;
        }
        if (Ext->Bounced[i] == NULL && freeSlot == RAMDISK_BOUNCE_SLOTS)
            freeSlot = i;
    }
    n = atomic_fetch_add_explicit(&Ext->NewRequests, 1, memory_order_relaxed) + 1;
    /* With every slot taken the request simply runs: never lose one. */
    if (n % Ext->Config.BusyEvery == 0 && freeSlot < RAMDISK_BOUNCE_SLOTS) {
        Ext->Bounced[freeSlot] = Srb;
        bounce = TRUE;
    }
    RamdiskUnlockFromStartIo(Ext, &handle, taken);
    return bounce;
}

static BOOLEAN RamdiskUseDpc(PRAMDISK_EXTENSION Ext)
{
    if (!Ext->DpcReady)
        return FALSE;
    switch (Ext->Config.Completion) {
    case RamdiskCompleteDpc:
        return TRUE;
    case RamdiskCompleteMixed:
        return (atomic_fetch_add_explicit(&Ext->Dispatches, 1, memory_order_relaxed) & 1) != 0;
    default:
        return FALSE;
    }
}

/* ======================================================================
 * Miniport routines
 * ====================================================================== */

_Use_decl_annotations_
static BOOLEAN RamdiskHwBuildIo(PVOID DeviceExtension, PSCSI_REQUEST_BLOCK Srb)
{
    PRAMDISK_EXTENSION ext = DeviceExtension;
    PVOID srb = Srb;
    PRAMDISK_SRB_CONTEXT context = SrbGetMiniportContext(srb);
    const UCHAR *cdb;
    ULONG cdbLength;

    if (context == NULL)
        return TRUE;
    memset(context, 0, sizeof(*context));
    context->Srb = srb;
    if (SrbGetSrbFunction(srb) != SRB_FUNCTION_EXECUTE_SCSI)
        return TRUE;
    cdb = (const UCHAR *)SrbGetCdb(srb);
    cdbLength = SrbGetCdbLength(srb);
    if (cdb == NULL || cdbLength == 0)
        return TRUE;
    if (ScsiDiskIsBlockCommand(cdb[0])) {
        /* Geometry is fixed after HwStorFindAdapter: no lock needed. */
        context->Decoded = TRUE;
        context->DecodeFailed = !ScsiDiskDecodeBlockCommand(cdb, cdbLength, &ext->Geometry,
                                                            &context->Block, &context->Sense);
    }
    return TRUE;
}

_Use_decl_annotations_
static BOOLEAN RamdiskHwStartIo(PVOID DeviceExtension, PSCSI_REQUEST_BLOCK Srb)
{
    PRAMDISK_EXTENSION ext = DeviceExtension;
    PVOID srb = Srb;
    PRAMDISK_SRB_CONTEXT context = SrbGetMiniportContext(srb);
    ULONG function = SrbGetSrbFunction(srb);
    UCHAR status;

    if (function != SRB_FUNCTION_EXECUTE_SCSI) {
        SrbSetSrbStatus(srb, RamdiskOtherFunction(ext, srb, function));
        RamdiskComplete(ext, srb);
        return TRUE;
    }

    /* busy=N test hook: bounce before anything is transferred and without
     * touching DataTransferLength (SPEC S5.7). */
    if (ext->Config.BusyEvery != 0 && RamdiskBounceOnce(ext, srb)) {
        SrbSetSrbStatus(srb, SRB_STATUS_BUSY);
        RamdiskComplete(ext, srb);
        return TRUE;
    }

    status = RamdiskExecuteScsi(ext, srb, context);
    SrbSetSrbStatus(srb, status);

    if (context != NULL && RamdiskUseDpc(ext)) {
        STOR_LOCK_HANDLE handle;
        BOOLEAN taken;

        context->Srb = srb;
        context->Next = NULL;
        taken = RamdiskLockFromStartIo(ext, &handle);
        if (ext->DpcTail != NULL)
            ext->DpcTail->Next = context;
        else
            ext->DpcHead = context;
        ext->DpcTail = context;
        RamdiskUnlockFromStartIo(ext, &handle, taken);
        /* FALSE only means the DPC is already queued: it will drain the
         * list, including this request. */
        StorPortIssueDpc(ext, &ext->CompletionDpc, NULL, NULL);
        return TRUE;
    }
    RamdiskComplete(ext, srb);
    return TRUE;
}

_Use_decl_annotations_
static VOID RamdiskHwDpcRoutine(PSTOR_DPC Dpc, PVOID HwDeviceExtension, PVOID SystemArgument1,
                                PVOID SystemArgument2)
{
    PRAMDISK_EXTENSION ext = HwDeviceExtension;
    PRAMDISK_SRB_CONTEXT list;
    STOR_LOCK_HANDLE handle;

    UNREFERENCED_PARAMETER(Dpc);
    UNREFERENCED_PARAMETER(SystemArgument1);
    UNREFERENCED_PARAMETER(SystemArgument2);

    StorPortAcquireSpinLock(ext, StartIoLock, NULL, &handle);
    list = ext->DpcHead;
    ext->DpcHead = NULL;
    ext->DpcTail = NULL;
    StorPortReleaseSpinLock(ext, &handle);

    while (list != NULL) {
        /* The extension belongs to the port again once completed. */
        PRAMDISK_SRB_CONTEXT next = list->Next;
        RamdiskComplete(ext, list->Srb);
        list = next;
    }
}

_Use_decl_annotations_
static BOOLEAN RamdiskHwResetBus(PVOID DeviceExtension, ULONG PathId)
{
    PRAMDISK_EXTENSION ext = DeviceExtension;
    PRAMDISK_SRB_CONTEXT list;

    UNREFERENCED_PARAMETER(PathId);
    /* The port holds the StartIo lock (table A), which guards the list. */
    list = ext->DpcHead;
    ext->DpcHead = NULL;
    ext->DpcTail = NULL;
    while (list != NULL) {
        PRAMDISK_SRB_CONTEXT next = list->Next;
        SrbSetSrbStatus(list->Srb, SRB_STATUS_BUS_RESET);
        RamdiskComplete(ext, list->Srb);
        list = next;
    }
    return TRUE;
}

_Use_decl_annotations_
static BOOLEAN RamdiskHwPassiveInitialize(PVOID DeviceExtension)
{
    PRAMDISK_EXTENSION ext = DeviceExtension;

    StorPortInitializeDpc(ext, &ext->CompletionDpc, RamdiskHwDpcRoutine);
    ext->DpcReady = TRUE;
    return TRUE;
}

#ifdef RAMDISK_PHYSICAL
/* Concurrent channels: several StartIo calls at once (SPEC S5.5).  The
 * channel count is fixed at 4: this Storport offers no processor-count
 * query (StorPortGetProcessorCount) to size it from. */
#define RAMDISK_CONCURRENT_CHANNELS 4

static VOID RamdiskEnableConcurrentChannels(PRAMDISK_EXTENSION Ext)
{
    PERF_CONFIGURATION_DATA perf;

    memset(&perf, 0, sizeof(perf));
    perf.Version = STOR_PERF_VERSION;
    perf.Size = sizeof(perf);
    if (StorPortInitializePerfOpts(Ext, TRUE, &perf) != STOR_STATUS_SUCCESS ||
        !(perf.Flags & STOR_PERF_CONCURRENT_CHANNELS)) {
        StorPortDebugPrint(0, "%s: the port does not offer STOR_PERF_CONCURRENT_CHANNELS; "
                              "running full duplex with one channel\n", RAMDISK_NAME);
        return;
    }
    memset(&perf, 0, sizeof(perf));
    perf.Version = STOR_PERF_VERSION;
    perf.Size = sizeof(perf);
    perf.Flags = STOR_PERF_CONCURRENT_CHANNELS;
    perf.ConcurrentChannels = RAMDISK_CONCURRENT_CHANNELS;
    if (StorPortInitializePerfOpts(Ext, FALSE, &perf) == STOR_STATUS_SUCCESS)
        Ext->StartIoSerialized = FALSE;
    else
        StorPortDebugPrint(0, "%s: StorPortInitializePerfOpts refused concurrent channels; "
                              "running full duplex with one channel\n", RAMDISK_NAME);
}
#endif

_Use_decl_annotations_
static BOOLEAN RamdiskHwInitialize(PVOID DeviceExtension)
{
    PRAMDISK_EXTENSION ext = DeviceExtension;

    /* Called once per adapter start; ScsiRestartAdapter does its own
     * (smaller) work and never comes back here, so passive initialization
     * is enabled from HwStorInitialize only (SDV StorPortPassiveFromHwInit,
     * StorPortEnablePassive). */
    if (ext->InitializedOnce)
        return TRUE;
    ext->InitializedOnce = TRUE;
#ifdef RAMDISK_PHYSICAL
    ext->StartIoSerialized = TRUE;
    if (ext->Sync == RamdiskSyncConcurrent)
        RamdiskEnableConcurrentChannels(ext);
#else
    ext->StartIoSerialized = FALSE;
#endif
    /* The completion DPC is initialized at PASSIVE_LEVEL; without it every
     * request completes inline. */
    if (!StorPortEnablePassiveInitialization(ext, RamdiskHwPassiveInitialize))
        StorPortDebugPrint(0, "%s: passive initialization unavailable; completing inline\n",
                           RAMDISK_NAME);
    return TRUE;
}

#ifdef RAMDISK_PHYSICAL
_Use_decl_annotations_
static BOOLEAN RamdiskHwInterrupt(PVOID DeviceExtension)
{
    PRAMDISK_EXTENSION ext = DeviceExtension;

    /* No device: the RAM disk never raises an interrupt, so any interrupt
     * on the line is someone else's (shared line) and not claimed. */
    atomic_fetch_add_explicit(&ext->SpuriousInterrupts, 1, memory_order_relaxed);
    return FALSE;
}
#endif

_Use_decl_annotations_
static SCSI_ADAPTER_CONTROL_STATUS RamdiskHwAdapterControl(PVOID DeviceExtension,
                                                           SCSI_ADAPTER_CONTROL_TYPE ControlType,
                                                           PVOID Parameters)
{
    static const SCSI_ADAPTER_CONTROL_TYPE supported[] = {
        ScsiQuerySupportedControlTypes, ScsiStopAdapter, ScsiRestartAdapter,
        ScsiAdapterSurpriseRemoval,
    };
    PSCSI_SUPPORTED_CONTROL_TYPE_LIST list;
    ULONG i;

    /* The RAM disk keeps no adapter state that a control changes. */
    UNREFERENCED_PARAMETER(DeviceExtension);
    switch (ControlType) {
    case ScsiQuerySupportedControlTypes:
        list = Parameters;
        if (list == NULL)
            return ScsiAdapterControlUnsuccessful;
        /* Never write past MaxControlType entries. */
        for (i = 0; i < ARRAYSIZE(supported); i++)
            if ((ULONG)supported[i] < list->MaxControlType)
                list->SupportedTypeList[supported[i]] = TRUE;
        return ScsiAdapterControlSuccess;
    case ScsiStopAdapter:
        /* The port drained our requests first.  Memory is kept so that a
         * restart finds the data (see "Memory" at the top). */
        return ScsiAdapterControlSuccess;
    case ScsiRestartAdapter:
        /* Not HwStorInitialize: passive initialization must not be
         * enabled again (SDV StorPortPassiveFromHwInit); the DPC and the
         * memory survived the stop. */
        return ScsiAdapterControlSuccess;
    case ScsiAdapterSurpriseRemoval:
        /* Nothing to quiesce: no hardware.  Memory goes with the adapter
         * (HwStorFreeAdapterResources / the uncached extension). */
        return ScsiAdapterControlSuccess;
    default:
        return ScsiAdapterControlUnsuccessful;
    }
}

#ifdef RAMDISK_PHYSICAL
_Use_decl_annotations_
static SCSI_UNIT_CONTROL_STATUS RamdiskHwUnitControl(PVOID DeviceExtension,
                                                     SCSI_UNIT_CONTROL_TYPE ControlType,
                                                     PVOID Parameters)
{
    static const SCSI_UNIT_CONTROL_TYPE supported[] = {
        ScsiQuerySupportedUnitControlTypes, ScsiUnitStart, ScsiUnitPower,
        ScsiUnitRemove, ScsiUnitSurpriseRemoval,
    };
    PSCSI_SUPPORTED_CONTROL_TYPE_LIST list;
    ULONG i;

    UNREFERENCED_PARAMETER(DeviceExtension);
    switch (ControlType) {
    case ScsiQuerySupportedUnitControlTypes:
        list = Parameters;
        if (list == NULL)
            return ScsiUnitControlUnsuccessful;
        for (i = 0; i < ARRAYSIZE(supported); i++)
            if ((ULONG)supported[i] < list->MaxControlType)
                list->SupportedTypeList[supported[i]] = TRUE;
        return ScsiUnitControlSuccess;
    case ScsiUnitStart:
    case ScsiUnitPower:
    case ScsiUnitRemove:
    case ScsiUnitSurpriseRemoval:
        /* LUNs have no state beyond their data, which lives per adapter. */
        return ScsiUnitControlSuccess;
    default:
        return ScsiUnitControlUnsuccessful;
    }
}
#endif

#ifndef RAMDISK_PHYSICAL
static VOID RamdiskFreeLunMemory(PRAMDISK_EXTENSION Ext)
{
    ULONG i;

    for (i = 0; i < RAMDISK_MAX_LUNS; i++) {
        if (Ext->Luns[i].Data != NULL) {
            StorPortFreePool(Ext, Ext->Luns[i].Data);
            Ext->Luns[i].Data = NULL;
        }
    }
}

_Use_decl_annotations_
static VOID RamdiskHwFreeAdapterResources(PVOID DeviceExtension)
{
    RamdiskFreeLunMemory(DeviceExtension);
}
#endif

/* Allocates (or, physical build, carves) the LUN memory.  It is not
 * zeroed here: each stripe is zeroed before its first write and reads as
 * zeroes until then (LBPRZ), so an idle disk commits no host memory. */
static ULONG RamdiskAllocateDisks(PRAMDISK_EXTENSION Ext, PPORT_CONFIGURATION_INFORMATION ConfigInfo)
{
    ULONGLONG size = Ext->Config.LunSize;
    ULONG i;

#ifdef RAMDISK_PHYSICAL
    PUCHAR base = StorPortGetUncachedExtension(Ext, ConfigInfo,
                                               (ULONG)(size * Ext->Config.LunCount));
    if (base == NULL) {
        StorPortDebugPrint(0, "%s: StorPortGetUncachedExtension could not provide %llu bytes "
                              "(luns=%lu x size=%llu); lower luns or size\n",
                           RAMDISK_NAME, (unsigned long long)(size * Ext->Config.LunCount),
                           (unsigned long)Ext->Config.LunCount, (unsigned long long)size);
        return SP_RETURN_ERROR;
    }
    for (i = 0; i < Ext->Config.LunCount; i++) {
        Ext->Luns[i].Data = base + (size_t)(size * i);
    }
#else
    UNREFERENCED_PARAMETER(ConfigInfo);
    for (i = 0; i < Ext->Config.LunCount; i++) {
        PVOID data = NULL;
        if (StorPortAllocatePool(Ext, (ULONG)size, RAMDISK_POOL_TAG, &data) !=
                STOR_STATUS_SUCCESS || data == NULL) {
            StorPortDebugPrint(0, "%s: StorPortAllocatePool could not provide %llu bytes for "
                                  "LUN %lu; lower luns or size\n",
                               RAMDISK_NAME, (unsigned long long)size, (unsigned long)i);
            RamdiskFreeLunMemory(Ext);
            return SP_RETURN_ERROR;
        }
        Ext->Luns[i].Data = data; /* zeroed lazily: see StripeWritten */
    }
#endif
    return SP_RETURN_FOUND;
}

static ULONG RamdiskFindAdapterCommon(PRAMDISK_EXTENSION Ext, PCSTR ArgumentString,
                                      PPORT_CONFIGURATION_INFORMATION ConfigInfo)
{
    CHAR message[256];
    ULONG i, result;
    ULONGLONG blocks;

#ifdef RAMDISK_PHYSICAL
    const BOOLEAN physical = TRUE;
#else
    const BOOLEAN physical = FALSE;
#endif

    if (!RamdiskParseArguments(ArgumentString, physical, &Ext->Config, message, sizeof(message))) {
        StorPortDebugPrint(0, "%s\n", message);
        return SP_RETURN_BAD_CONFIG;
    }
    Ext->AdapterNumber = atomic_fetch_add(&RamdiskAdapterCount, 1);
    Ext->Sync = Ext->Config.Sync;

    blocks = Ext->Config.LunSize / Ext->Config.BlockSize;
    Ext->Geometry.BlockCount = blocks;
    Ext->Geometry.BlockSize = Ext->Config.BlockSize;
    Ext->Geometry.MaxTransferBlocks = RAMDISK_MAX_TRANSFER_LENGTH / Ext->Config.BlockSize;
    Ext->Geometry.MaxUnmapBlocks = blocks > 0xFFFFFFFFull ? 0xFFFFFFFFu : (ULONG)blocks;
    Ext->Geometry.MaxUnmapDescriptors = RAMDISK_MAX_UNMAP_DESCRIPTORS;
    Ext->Geometry.MaxWriteSameBlocks = blocks > 0xFFFFFFFFull ? 0xFFFFFFFFu : blocks;
    Ext->Geometry.WriteProtected = Ext->Config.ReadOnly;
    /* WCE = 1 so hosts send SYNCHRONIZE CACHE (a no-op that succeeds),
     * matching CachesData below: both paths get exercised. */
    Ext->Geometry.WriteCacheEnabled = TRUE;

    /* What every miniport must fill in (SDV StorPortFindAdapter) and the
     * rest of the adapter's shape. */
    ConfigInfo->MaximumTransferLength = RAMDISK_MAX_TRANSFER_LENGTH;
    ConfigInfo->NumberOfPhysicalBreaks = RAMDISK_MAX_TRANSFER_LENGTH / RAMDISK_PAGE_SIZE + 1;
    ConfigInfo->AlignmentMask = 0;
    ConfigInfo->NumberOfBuses = 1;
    ConfigInfo->InitiatorBusId[0] = 1; /* the HBA's own id, distinct from target 0 */
    ConfigInfo->MaximumNumberOfTargets = 1;
    ConfigInfo->MaximumNumberOfLogicalUnits = (UCHAR)Ext->Config.LunCount;
    ConfigInfo->ScatterGather = TRUE;
    ConfigInfo->Master = TRUE;
    ConfigInfo->CachesData = TRUE; /* ask for FLUSH / SHUTDOWN SRBs; they succeed */
    ConfigInfo->MapBuffers = STOR_MAP_ALL_BUFFERS_INCLUDING_READ_WRITE; /* memcpy needs VAs */
    ConfigInfo->NeedPhysicalAddresses = TRUE;
    ConfigInfo->TaggedQueuing = TRUE;
    ConfigInfo->AutoRequestSense = TRUE;
    ConfigInfo->MultipleRequestPerLu = TRUE;
    ConfigInfo->Dma32BitAddresses = TRUE;
    ConfigInfo->Dma64BitAddresses = SCSI_DMA64_MINIPORT_FULL64BIT_SUPPORTED;
    ConfigInfo->ResetTargetSupported = TRUE;
    ConfigInfo->SrbExtensionSize = sizeof(RAMDISK_SRB_CONTEXT);
    ConfigInfo->NumberOfAccessRanges = 0;
    if (Ext->Config.UseScsiRequestBlock) {
        ConfigInfo->SrbType = SRB_TYPE_SCSI_REQUEST_BLOCK;
    } else {
        ConfigInfo->SrbType = SRB_TYPE_STORAGE_REQUEST_BLOCK;
        ConfigInfo->AddressType = STORAGE_ADDRESS_TYPE_BTL8;
    }
#ifdef RAMDISK_PHYSICAL
    ConfigInfo->VirtualDevice = FALSE;
    ConfigInfo->SynchronizationModel = Ext->Config.Sync == RamdiskSyncHalfDuplex
                                           ? StorSynchronizeHalfDuplex
                                           : StorSynchronizeFullDuplex;
    ConfigInfo->InterruptSynchronizationMode = InterruptSynchronizeAll;
    ConfigInfo->HwMSInterruptRoutine = NULL;
#else
    ConfigInfo->VirtualDevice = TRUE;
    ConfigInfo->SynchronizationModel = StorSynchronizeFullDuplex;
#endif

    result = RamdiskAllocateDisks(Ext, ConfigInfo);
    if (result != SP_RETURN_FOUND)
        return result;

    for (i = 0; i < Ext->Config.LunCount; i++) {
        PRAMDISK_LUN lun = &Ext->Luns[i];
        lun->StripeBlocks = (blocks + RAMDISK_STRIPES - 1) / RAMDISK_STRIPES;
        if (lun->StripeBlocks == 0)
            lun->StripeBlocks = 1;
        RamdiskFormatSerial(lun->SerialNumber, Ext->AdapterNumber, i);
        lun->NaaId = RAMDISK_NAA_BUILD_BIT | (((ULONGLONG)Ext->AdapterNumber << 8) & 0x7FFFFFFFFull) | i;
    }
    return SP_RETURN_FOUND;
}

#ifdef RAMDISK_PHYSICAL
_Use_decl_annotations_
static ULONG RamdiskHwFindAdapter(PVOID DeviceExtension, PVOID HwContext, PVOID BusInformation,
                                  PCHAR ArgumentString, PPORT_CONFIGURATION_INFORMATION ConfigInfo,
                                  PBOOLEAN Reserved3)
{
    UNREFERENCED_PARAMETER(HwContext);
    UNREFERENCED_PARAMETER(BusInformation);
    UNREFERENCED_PARAMETER(Reserved3);
    return RamdiskFindAdapterCommon(DeviceExtension, ArgumentString, ConfigInfo);
}
#else
_Use_decl_annotations_
static ULONG RamdiskHwFindAdapter(PVOID DeviceExtension, PVOID HwContext, PVOID BusInformation,
                                  PVOID LowerDevice, PCHAR ArgumentString,
                                  PPORT_CONFIGURATION_INFORMATION ConfigInfo, PBOOLEAN Again)
{
    UNREFERENCED_PARAMETER(HwContext);
    UNREFERENCED_PARAMETER(BusInformation);
    UNREFERENCED_PARAMETER(LowerDevice);
    if (Again != NULL)
        *Again = FALSE; /* one adapter per FindAdapter call */
    return RamdiskFindAdapterCommon(DeviceExtension, ArgumentString, ConfigInfo);
}
#endif

/* Renamed <name>_DriverEntry by a compile definition when the miniport is
 * linked into a program (miniports/CMakeLists.txt). */
__attribute__((visibility("default")))
NTSTATUS DriverEntry(PVOID DriverObject, PVOID RegistryPath);

__attribute__((visibility("default")))
NTSTATUS DriverEntry(PVOID DriverObject, PVOID RegistryPath)
{
#ifdef RAMDISK_PHYSICAL
    HW_INITIALIZATION_DATA init;

    memset(&init, 0, sizeof(init));
    init.HwInitializationDataSize = sizeof(init);
    init.AdapterInterfaceType = Internal;
    init.HwFindAdapter = (PVOID)RamdiskHwFindAdapter;
    init.HwInterrupt = RamdiskHwInterrupt;
    init.HwUnitControl = RamdiskHwUnitControl;
#else
    VIRTUAL_HW_INITIALIZATION_DATA init;

    memset(&init, 0, sizeof(init));
    init.HwInitializationDataSize = sizeof(init);
    init.AdapterInterfaceType = Internal;
    init.HwFindAdapter = RamdiskHwFindAdapter;
    init.HwFreeAdapterResources = RamdiskHwFreeAdapterResources;
#endif
    init.HwInitialize = RamdiskHwInitialize;
    init.HwStartIo = RamdiskHwStartIo;
    init.HwBuildIo = RamdiskHwBuildIo;
    init.HwResetBus = RamdiskHwResetBus;
    init.HwAdapterControl = RamdiskHwAdapterControl;
    init.DeviceExtensionSize = sizeof(RAMDISK_EXTENSION);
    init.SpecificLuExtensionSize = 0;
    init.SrbExtensionSize = sizeof(RAMDISK_SRB_CONTEXT);
    init.NumberOfAccessRanges = 0;
    init.MapBuffers = STOR_MAP_ALL_BUFFERS_INCLUDING_READ_WRITE;
    init.NeedPhysicalAddresses = TRUE;
    init.TaggedQueuing = TRUE;
    init.AutoRequestSense = TRUE;
    init.MultipleRequestPerLu = TRUE;
#ifdef RAMDISK_PHYSICAL
    /* Both kinds are declared here; each adapter picks one in
     * ConfigInfo->SrbType (srb=ex|scsi), as DriverEntry sees no arguments. */
    init.SrbTypeFlags = SRB_TYPE_FLAG_STORAGE_REQUEST_BLOCK | SRB_TYPE_FLAG_SCSI_REQUEST_BLOCK;
    init.AddressTypeFlags = ADDRESS_TYPE_FLAG_BTL8;
#endif

    return (NTSTATUS)StorPortInitialize(DriverObject, RegistryPath,
                                        (PHW_INITIALIZATION_DATA)&init, NULL);
}
