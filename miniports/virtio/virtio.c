/*
 * virtio.c - "virtio": a physical Storport miniport for the virtio-blk PCI
 * device (virtio 1.x modern interface).  See docs/virtio-miniport.md.
 *
 * Life cycle
 *   HwStorFindAdapter reads PCI configuration space, walks the capability
 *   list for the virtio structures and MSI-X, maps BAR 4 from the access
 *   ranges, reads the device configuration, fills ConfigInfo and takes the
 *   uncached extension for the vrings.  HwStorInitialize (DIRQL) resets the
 *   device, negotiates features, programs the queues with the rings'
 *   physical addresses and one MSI-X vector each (plus the configuration
 *   vector), sets DRIVER_OK, reads the serial with a polled GET_ID the
 *   first time, enables passive initialization (the DPCs are initialized
 *   there) and starts the HwStorTimer watchdog.
 *
 * Request path
 *   HwStorBuildIo (no lock) turns the CDB into a virtio request in the
 *   SrbExtension: an indirect descriptor table (header, data elements from
 *   StorPortGetScatterGatherList, status byte).  Commands the disk answers
 *   itself (INQUIRY, READ CAPACITY, ...) are marked local.  HwStorStartIo
 *   answers local commands, or puts the request's one indirect descriptor
 *   on a virtqueue (queue 0; in concurrent mode the queue of the StartIo
 *   channel) and rings the doorbell.  The ISR moves used-ring entries to
 *   the queue's done list and issues the queue's DPC; the DPC completes
 *   them (or posts the FLUSH that follows a FUA write).
 *
 * Locking (SPEC S3.4, S4, tables A and B)
 *   A queue's ring state (avail shadow, free heads, slots, done list) is
 *   shared by StartIo, the ISR, the DPC and the timer.  It is guarded by the
 *   lock the queue's ISR runs under:
 *    - intr=all: the adapter's interrupt lock (StorPortAcquireSpinLock
 *      InterruptLock from StartIo / DPC / timer);
 *    - intr=permessage: the MSI lock of the queue's message
 *      (StorPortAcquireMSISpinLock);
 *    - half duplex: StartIo, HwStorTimer and HwStorResetBus already run
 *      holding the interrupt lock (table A), so they take nothing; the DPC
 *      takes it as in full duplex.
 *   Whole-device work (reset, re-initialization) runs inside
 *   StorPortSynchronizeAccess, which excludes every ISR at once.
 *   Completion (RequestComplete) always happens with no miniport lock held.
 *
 * Recovery
 *   The timer polls each used ring (lost interrupts), resets the device
 *   when a command is older than stuck_ms or DEVICE_NEEDS_RESET was seen,
 *   and re-arms itself.  A reset takes every request off the rings and
 *   completes it with SRB_STATUS_BUS_RESET so the class layer retries it;
 *   requests already taken back from the device complete normally.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>

#include <storport.h>
#include <srbhelper.h>

#include "virtio.h"
#include "virtio_stats.h"

static HW_FIND_ADAPTER VioHwFindAdapter;
static HW_INITIALIZE VioHwInitialize;
static HW_PASSIVE_INITIALIZE_ROUTINE VioHwPassiveInitialize;
static HW_BUILDIO VioHwBuildIo;
static HW_STARTIO VioHwStartIo;
static HW_INTERRUPT VioHwInterrupt;
static HW_MESSAGE_SIGNALED_INTERRUPT_ROUTINE VioHwMsiInterrupt;
static HW_RESET_BUS VioHwResetBus;
static HW_ADAPTER_CONTROL VioHwAdapterControl;
static HW_TIMER VioHwTimer;
static HW_DPC_ROUTINE VioQueueDpc;
static HW_DPC_ROUTINE VioResetDpc;

static atomic_uint VioAdapterCount;

/* ======================================================================
 * Counters (virtio_stats.h)
 * ====================================================================== */

static struct {
    atomic_uint_least64_t posted, device_completions, local_completions, isr_calls, isr_idle,
        config_interrupts, lost_irq_recoveries, stuck_resets, needs_reset_resets, bus_resets,
        reset_completions, io_errors, fua_flushes, queue_full_busy, stops, restarts, sync_checks,
        sync_overlaps;
} VioStats;

#define VIO_COUNT(field) atomic_fetch_add_explicit(&VioStats.field, 1, memory_order_relaxed)

#define VIO_TAKE(field)                                                                        \
    out->field = reset ? atomic_exchange(&VioStats.field, 0) : atomic_load(&VioStats.field)

void virtio_miniport_get_stats(struct virtio_miniport_stats *out, int reset)
{
    if (out == NULL)
        return;
    VIO_TAKE(posted);
    VIO_TAKE(device_completions);
    VIO_TAKE(local_completions);
    VIO_TAKE(isr_calls);
    VIO_TAKE(isr_idle);
    VIO_TAKE(config_interrupts);
    VIO_TAKE(lost_irq_recoveries);
    VIO_TAKE(stuck_resets);
    VIO_TAKE(needs_reset_resets);
    VIO_TAKE(bus_resets);
    VIO_TAKE(reset_completions);
    VIO_TAKE(io_errors);
    VIO_TAKE(fua_flushes);
    VIO_TAKE(queue_full_busy);
    VIO_TAKE(stops);
    VIO_TAKE(restarts);
    VIO_TAKE(sync_checks);
    VIO_TAKE(sync_overlaps);
}

/* ======================================================================
 * Arguments
 * ====================================================================== */

static BOOLEAN VioParseNumber(const char *Value, ULONG Min, ULONG Max, ULONG *Out)
{
    char *end = NULL;
    unsigned long v;

    if (Value[0] < '0' || Value[0] > '9')
        return FALSE;
    v = strtoul(Value, &end, 10);
    if (end == NULL || *end != '\0' || v < Min || v > Max)
        return FALSE;
    *Out = (ULONG)v;
    return TRUE;
}

/* Trims blanks in place. */
static char *VioTrim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = '\0';
    return s;
}

static BOOLEAN VioParseArguments(PCSTR Text, VIO_CONFIG *Config, char *Message, size_t MessageLength)
{
    char buffer[512];
    char *item, *save = NULL;

    Config->Sync = VioSyncFull;
    Config->Intr = VioIntrAll;
    Config->Queues = 4;
    Config->WatchdogMs = 50;
    Config->StuckMs = 2000;
    Config->Check = FALSE;
    Config->NoSync = FALSE;
    if (Text == NULL)
        return TRUE;
    if (strlen(Text) >= sizeof(buffer)) {
        snprintf(Message, MessageLength, "%s: the argument string is %zu characters; at most %zu are allowed",
                 VIO_NAME, strlen(Text), sizeof(buffer) - 1);
        return FALSE;
    }
    strcpy(buffer, Text);
    for (item = strtok_r(buffer, ";", &save); item != NULL; item = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(item, '=');
        char *key, *value;
        ULONG n;

        if (VioTrim(item)[0] == '\0')
            continue;
        if (eq == NULL) {
            snprintf(Message, MessageLength, "%s: \"%s\" is not key=value; keys: sync, intr, queues, "
                     "watchdog_ms, stuck_ms, check, nosync", VIO_NAME, VioTrim(item));
            return FALSE;
        }
        *eq = '\0';
        key = VioTrim(item);
        value = VioTrim(eq + 1);
        if (strcmp(key, "sync") == 0) {
            if (strcmp(value, "half") == 0)
                Config->Sync = VioSyncHalf;
            else if (strcmp(value, "full") == 0)
                Config->Sync = VioSyncFull;
            else if (strcmp(value, "concurrent") == 0)
                Config->Sync = VioSyncConcurrent;
            else {
                snprintf(Message, MessageLength, "%s: sync=%s: use half, full or concurrent", VIO_NAME, value);
                return FALSE;
            }
        } else if (strcmp(key, "intr") == 0) {
            if (strcmp(value, "all") == 0)
                Config->Intr = VioIntrAll;
            else if (strcmp(value, "permessage") == 0)
                Config->Intr = VioIntrPerMessage;
            else {
                snprintf(Message, MessageLength, "%s: intr=%s: use all or permessage", VIO_NAME, value);
                return FALSE;
            }
        } else if (strcmp(key, "queues") == 0) {
            if (!VioParseNumber(value, 1, VIO_MAX_QUEUES, &Config->Queues)) {
                snprintf(Message, MessageLength, "%s: queues=%s: use a number from 1 to %u", VIO_NAME, value,
                         VIO_MAX_QUEUES);
                return FALSE;
            }
        } else if (strcmp(key, "watchdog_ms") == 0) {
            if (!VioParseNumber(value, 1, 10000, &Config->WatchdogMs)) {
                snprintf(Message, MessageLength, "%s: watchdog_ms=%s: use 1..10000 milliseconds", VIO_NAME, value);
                return FALSE;
            }
        } else if (strcmp(key, "stuck_ms") == 0) {
            if (!VioParseNumber(value, 10, 600000, &Config->StuckMs)) {
                snprintf(Message, MessageLength, "%s: stuck_ms=%s: use 10..600000 milliseconds", VIO_NAME, value);
                return FALSE;
            }
        } else if (strcmp(key, "check") == 0 || strcmp(key, "nosync") == 0) {
            if (!VioParseNumber(value, 0, 1, &n)) {
                snprintf(Message, MessageLength, "%s: %s=%s: use 0 or 1", VIO_NAME, key, value);
                return FALSE;
            }
            if (key[0] == 'c')
                Config->Check = n != 0;
            else
                Config->NoSync = n != 0;
        } else {
            snprintf(Message, MessageLength, "%s: unknown key \"%s\"; keys: sync, intr, queues, watchdog_ms, "
                     "stuck_ms, check, nosync", VIO_NAME, key);
            return FALSE;
        }
    }
    if (Config->NoSync && Config->Sync == VioSyncHalf) {
        snprintf(Message, MessageLength, "%s: nosync=1 needs sync=full or sync=concurrent (in half duplex the "
                 "port itself synchronizes StartIo with the ISR)", VIO_NAME);
        return FALSE;
    }
    return TRUE;
}

/* ======================================================================
 * Registers
 * ====================================================================== */

static UCHAR VioRead8(PVIO_EXTENSION Ext, PUCHAR Base, ULONG Offset)
{
    return StorPortReadRegisterUchar(Ext, Base + Offset);
}

static USHORT VioRead16(PVIO_EXTENSION Ext, PUCHAR Base, ULONG Offset)
{
    return StorPortReadRegisterUshort(Ext, (PUSHORT)(Base + Offset));
}

static ULONG VioRead32(PVIO_EXTENSION Ext, PUCHAR Base, ULONG Offset)
{
    return StorPortReadRegisterUlong(Ext, (PULONG)(Base + Offset));
}

static VOID VioWrite8(PVIO_EXTENSION Ext, PUCHAR Base, ULONG Offset, UCHAR Value)
{
    StorPortWriteRegisterUchar(Ext, Base + Offset, Value);
}

static VOID VioWrite16(PVIO_EXTENSION Ext, PUCHAR Base, ULONG Offset, USHORT Value)
{
    StorPortWriteRegisterUshort(Ext, (PUSHORT)(Base + Offset), Value);
}

static VOID VioWrite32(PVIO_EXTENSION Ext, PUCHAR Base, ULONG Offset, ULONG Value)
{
    StorPortWriteRegisterUlong(Ext, (PULONG)(Base + Offset), Value);
}

static VOID VioWrite64(PVIO_EXTENSION Ext, PUCHAR Base, ULONG Offset, ULONGLONG Value)
{
    VioWrite32(Ext, Base, Offset, (ULONG)Value);
    VioWrite32(Ext, Base, Offset + 4, (ULONG)(Value >> 32));
}

static UCHAR VioDeviceStatus(PVIO_EXTENSION Ext)
{
    return VioRead8(Ext, Ext->Common, VIRTIO_PCI_COMMON_STATUS);
}

static LONGLONG VioNow(VOID)
{
    LARGE_INTEGER t;

    StorPortQuerySystemTime(&t);
    return t.QuadPart;
}

/* ======================================================================
 * Queue locks (see "Locking" at the top)
 * ====================================================================== */

typedef struct _VIO_QLOCK {
    UCHAR How;  /* 0 nothing, 1 MSI lock, 2 interrupt lock, 3 private (nosync) */
    ULONG OldIrql;
    STOR_LOCK_HANDLE Handle;
} VIO_QLOCK;

/* Held: the caller already runs under the queue's interrupt lock (its ISR,
 * or half-duplex StartIo / timer / reset, or a synchronized routine). */
static VOID VioQueueLock(PVIO_EXTENSION Ext, PVIO_QUEUE Q, VIO_QLOCK *Lock, BOOLEAN Held)
{
    Lock->How = 0;
    if (Ext->Config.NoSync) {
        /* Test-only mode: keeps the ring consistent with a private spin
         * word but leaves the ISR free to run during StartIo's section. */
        int expected = 0;
        while (!atomic_compare_exchange_weak(&Q->NoSyncLock, &expected, 1)) {
            expected = 0;
            sched_yield();
        }
        Lock->How = 3;
        return;
    }
    if (Held)
        return;
    if (Ext->PerMessage) {
        StorPortAcquireMSISpinLock(Ext, Q->Vector, &Lock->OldIrql);
        Lock->How = 1;
    } else {
        StorPortAcquireSpinLock(Ext, InterruptLock, NULL, &Lock->Handle);
        Lock->How = 2;
    }
}

static VOID VioQueueUnlock(PVIO_EXTENSION Ext, PVIO_QUEUE Q, VIO_QLOCK *Lock)
{
    switch (Lock->How) {
    case 1:
        StorPortReleaseMSISpinLock(Ext, Q->Vector, Lock->OldIrql);
        break;
    case 2:
        StorPortReleaseSpinLock(Ext, &Lock->Handle);
        break;
    case 3:
        atomic_store(&Q->NoSyncLock, 0);
        break;
    default:
        break;
    }
}

/* check=1: a ring section that must never overlap the queue's ISR.  Looks
 * twice with a short pause between, to widen the window it can see. */
static VOID VioCheckNoIsr(PVIO_EXTENSION Ext, PVIO_QUEUE Q)
{
    volatile unsigned spin;
    BOOLEAN overlap;

    if (!Ext->Config.Check)
        return;
    VIO_COUNT(sync_checks);
    overlap = atomic_load(&Q->InIsr) != 0;
    for (spin = 0; spin < 2000; spin++)
        ;
    overlap = overlap || atomic_load(&Q->InIsr) != 0;
    if (overlap)
        VIO_COUNT(sync_overlaps);
}

/* ======================================================================
 * Rings (caller holds the queue lock)
 * ====================================================================== */

static volatile USHORT *VioAvailIdx(PVIO_QUEUE Q) { return (volatile USHORT *)(Q->Avail + 2); }
static USHORT *VioAvailRing(PVIO_QUEUE Q) { return (USHORT *)(Q->Avail + 4); }
static volatile USHORT *VioUsedIdx(PVIO_QUEUE Q) { return (volatile USHORT *)(Q->Used + 2); }
static struct virtq_used_elem *VioUsedRing(PVIO_QUEUE Q) { return (struct virtq_used_elem *)(Q->Used + 4); }

/* Back to power-on state: empty rings, every head free. */
static VOID VioQueueClear(PVIO_QUEUE Q)
{
    ULONG i;

    memset(Q->Desc, 0, VIO_PAGE);
    memset(Q->Avail, 0, VIO_PAGE);
    memset(Q->Used, 0, VIO_PAGE);
    Q->AvailShadow = 0;
    Q->LastUsed = 0;
    Q->TimerLastUsed = 0;
    Q->NumFree = Q->Size;
    for (i = 0; i < Q->Size; i++) {
        Q->FreeHeads[i] = (USHORT)(Q->Size - 1 - i);
        Q->Slots[i] = NULL;
    }
}

static VOID VioPost(PVIO_QUEUE Q, PVIO_REQUEST Req)
{
    USHORT head = Q->FreeHeads[--Q->NumFree];

    Q->Desc[head].addr = Req->TablePa;
    Q->Desc[head].len = Req->TableCount * (ULONG)sizeof(struct virtq_desc);
    Q->Desc[head].flags = VIRTQ_DESC_F_INDIRECT;
    Q->Desc[head].next = 0;
    Q->Slots[head] = Req;
    Req->Queue = Q->Index;
    Req->DeviceStatus = VIO_STATUS_UNSET;
    Req->UsedLen = 0;
    Req->PostedAt = VioNow();
    VioAvailRing(Q)[Q->AvailShadow % Q->Size] = head;
    Q->AvailShadow++;
    /* The descriptor and ring entry must be visible before the index. */
    __atomic_store_n(VioAvailIdx(Q), Q->AvailShadow, __ATOMIC_RELEASE);
    VIO_COUNT(posted);
}

/* Rings the queue's doorbell.  Called after the queue lock is released
 * where the caller took it: the write wakes the device, and a driver
 * preempted by that wake-up while holding the lock would stall the ISR
 * and the DPC behind it.  A doorbell for entries the device already took
 * (a reset in between) is harmless: it finds nothing new. */
static VOID VioKick(PVIO_EXTENSION Ext, PVIO_QUEUE Q)
{
    StorPortWriteRegisterUshort(Ext, Q->Notify, (USHORT)Q->Index);
}

/* Moves used entries to the done list; returns how many. */
static ULONG VioDrainUsed(PVIO_QUEUE Q)
{
    USHORT used = __atomic_load_n(VioUsedIdx(Q), __ATOMIC_ACQUIRE);
    ULONG n = 0;

    while (Q->LastUsed != used) {
        struct virtq_used_elem *e = &VioUsedRing(Q)[Q->LastUsed % Q->Size];
        ULONG id = e->id;
        Q->LastUsed++;
        if (id >= Q->Size || Q->Slots[id] == NULL)
            continue; /* not ours (cannot happen with a sane device): skip */
        PVIO_REQUEST req = Q->Slots[id];
        Q->Slots[id] = NULL;
        Q->FreeHeads[Q->NumFree++] = (USHORT)id;
        req->UsedLen = e->len;
        req->Next = NULL;
        if (Q->DoneTail != NULL)
            Q->DoneTail->Next = req;
        else
            Q->DoneHead = req;
        Q->DoneTail = req;
        n++;
    }
    if (n)
        atomic_fetch_add_explicit(&VioStats.device_completions, n, memory_order_relaxed);
    return n;
}

/* ======================================================================
 * SCSI helpers
 * ====================================================================== */

static VOID VioSetLocalSense(PVIO_REQUEST Req, UCHAR Key, UCHAR Asc, UCHAR Ascq)
{
    Req->Action = VioActionLocal;
    Req->LocalFailed = TRUE;
    ScsiDiskSetSense(&Req->Sense, Key, Asc, Ascq);
}

static VOID VioSetLocalStatus(PVIO_REQUEST Req, UCHAR SrbStatus)
{
    Req->Action = VioActionLocal;
    Req->LocalSrbStatus = SrbStatus;
}

/* ======================================================================
 * BuildIo: CDB -> virtio request
 * ====================================================================== */

static BOOLEAN VioFeature(PVIO_EXTENSION Ext, ULONG Bit)
{
    return (Ext->DriverFeatures & (1ull << Bit)) != 0;
}

/* Physical address of a piece of the SrbExtension; FALSE if the port
 * cannot give one covering Length bytes. */
static BOOLEAN VioExtPa(PVIO_EXTENSION Ext, PVOID Srb, PVOID Va, ULONG Length, ULONGLONG *Pa)
{
    ULONG contiguous = 0;
    STOR_PHYSICAL_ADDRESS pa = StorPortGetPhysicalAddress(Ext, Srb, Va, &contiguous);

    if (pa.QuadPart == 0 || contiguous < Length)
        return FALSE;
    *Pa = (ULONGLONG)pa.QuadPart;
    return TRUE;
}

/* Header first, status last; the data descriptors in between are added
 * by the caller.  Returns FALSE (request marked failed) if the extension
 * has no physical address. */
static BOOLEAN VioStartTable(PVIO_EXTENSION Ext, PVOID Srb, PVIO_REQUEST Req, ULONG Type, ULONGLONG Sector)
{
    ULONGLONG pa;

    Req->Header.type = Type;
    Req->Header.reserved = 0;
    Req->Header.sector = Sector;
    if (!VioExtPa(Ext, Srb, &Req->Header, sizeof(Req->Header), &pa) ||
        !VioExtPa(Ext, Srb, Req->Table, sizeof(Req->Table), &Req->TablePa)) {
        VioSetLocalStatus(Req, SRB_STATUS_ERROR);
        return FALSE;
    }
    Req->Table[0].addr = pa;
    Req->Table[0].len = sizeof(Req->Header);
    Req->Table[0].flags = VIRTQ_DESC_F_NEXT;
    Req->Table[0].next = 1;
    Req->TableCount = 1;
    return TRUE;
}

static VOID VioAddDesc(PVIO_REQUEST Req, ULONGLONG Pa, ULONG Length, BOOLEAN DeviceWrites)
{
    ULONG i = Req->TableCount++;

    Req->Table[i].addr = Pa;
    Req->Table[i].len = Length;
    Req->Table[i].flags = (USHORT)(VIRTQ_DESC_F_NEXT | (DeviceWrites ? VIRTQ_DESC_F_WRITE : 0));
    Req->Table[i].next = (USHORT)(i + 1);
}

static BOOLEAN VioFinishTable(PVIO_EXTENSION Ext, PVOID Srb, PVIO_REQUEST Req)
{
    ULONGLONG pa;
    ULONG i;

    if (!VioExtPa(Ext, Srb, (PVOID)&Req->DeviceStatus, 1, &pa)) {
        VioSetLocalStatus(Req, SRB_STATUS_ERROR);
        return FALSE;
    }
    i = Req->TableCount++;
    Req->Table[i].addr = pa;
    Req->Table[i].len = 1;
    Req->Table[i].flags = VIRTQ_DESC_F_WRITE;
    Req->Table[i].next = 0;
    Req->Action = VioActionDevice;
    return TRUE;
}

/* READ / WRITE: the data elements of the SG list, trimmed to Bytes. */
static VOID VioBuildReadWrite(PVIO_EXTENSION Ext, PVOID Srb, PVIO_REQUEST Req,
                              const SCSIDISK_BLOCK_COMMAND *Cmd, ULONG Bytes)
{
    BOOLEAN read = Cmd->Kind == ScsiDiskRead;
    PSTOR_SCATTER_GATHER_LIST sg;
    ULONG i, left = Bytes;

    sg = StorPortGetScatterGatherList(Ext, Srb);
    if (sg == NULL || sg->NumberOfElements == 0 || sg->NumberOfElements > VIO_MAX_DATA_SEGS) {
        VioSetLocalStatus(Req, SRB_STATUS_INVALID_REQUEST);
        return;
    }
    if (!VioStartTable(Ext, Srb, Req, read ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT,
                       Cmd->Lba * Ext->SectorsPerBlock))
        return;
    for (i = 0; i < sg->NumberOfElements && left > 0; i++) {
        ULONG len = sg->List[i].Length < left ? sg->List[i].Length : left;
        VioAddDesc(Req, (ULONGLONG)sg->List[i].PhysicalAddress.QuadPart, len, read);
        left -= len;
    }
    if (left != 0) {
        VioSetLocalStatus(Req, SRB_STATUS_INVALID_REQUEST);
        return;
    }
    Req->DataBytes = Bytes;
    Req->Fua = !read && Cmd->ForceUnitAccess && VioFeature(Ext, VIRTIO_BLK_F_FLUSH);
    if (!VioFinishTable(Ext, Srb, Req))
        return;
#ifdef VIO_TEST_BAD_DMA
    /* Test build only (tests/virtio): hand the device addresses that no
     * memory backs, to check it reports the DMA fault and we survive. */
    if (Cmd->Lba >= VIO_BAD_DATA_LBA && Cmd->Lba < VIO_BAD_DATA_LBA + 8)
        Req->Table[1].addr = VIO_BAD_PHYSICAL;
    if (Cmd->Lba >= VIO_BAD_TABLE_LBA && Cmd->Lba < VIO_BAD_TABLE_LBA + 8)
        Req->TablePa = VIO_BAD_PHYSICAL;
#endif
}

/* DISCARD or WRITE ZEROES over Count ranges already in Req->Ranges. */
static VOID VioBuildRanges(PVIO_EXTENSION Ext, PVOID Srb, PVIO_REQUEST Req, ULONG Count, BOOLEAN Unmap)
{
    ULONG i, type;
    BOOLEAN aligned = TRUE;
    ULONGLONG pa;

    if (Count == 0) {
        VioSetLocalStatus(Req, SRB_STATUS_SUCCESS);
        return;
    }
    for (i = 0; i < Count; i++)
        if (Req->Ranges[i].sector % Ext->DiscardAlignment || Req->Ranges[i].num_sectors % Ext->DiscardAlignment)
            aligned = FALSE;
    /* DISCARD needs aligned ranges; anything else becomes WRITE ZEROES,
     * with the unmap flag when the host allowed deallocation.  Both read
     * back as zeroes, which is what LBPRZ = 1 promised. */
    if (Unmap && aligned && VioFeature(Ext, VIRTIO_BLK_F_DISCARD) && Count <= Ext->MaxDiscardSeg) {
        type = VIRTIO_BLK_T_DISCARD;
    } else if (VioFeature(Ext, VIRTIO_BLK_F_WRITE_ZEROES) && Count <= Ext->MaxWriteZeroesSeg) {
        type = VIRTIO_BLK_T_WRITE_ZEROES;
        for (i = 0; i < Count; i++)
            Req->Ranges[i].flags = Unmap ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0;
    } else {
        VioSetLocalSense(Req, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_ILLEGAL_COMMAND, 0);
        return;
    }
    if (!VioStartTable(Ext, Srb, Req, type, 0))
        return;
    if (!VioExtPa(Ext, Srb, Req->Ranges, Count * (ULONG)sizeof(Req->Ranges[0]), &pa)) {
        VioSetLocalStatus(Req, SRB_STATUS_ERROR);
        return;
    }
    VioAddDesc(Req, pa, Count * (ULONG)sizeof(Req->Ranges[0]), FALSE);
    VioFinishTable(Ext, Srb, Req);
}

/* Appends [Lba, Lba+Blocks) as ranges no longer than the device allows. */
static BOOLEAN VioAddRange(PVIO_EXTENSION Ext, PVIO_REQUEST Req, ULONG *Count, ULONGLONG Lba, ULONGLONG Blocks)
{
    ULONGLONG sector = Lba * Ext->SectorsPerBlock, sectors = Blocks * Ext->SectorsPerBlock;
    ULONG max = Ext->MaxWriteZeroesSectors < Ext->MaxDiscardSectors ? Ext->MaxWriteZeroesSectors
                                                                     : Ext->MaxDiscardSectors;

    while (sectors > 0) {
        ULONG n = sectors > max ? max : (ULONG)sectors;
        if (*Count >= VIO_MAX_RANGES)
            return FALSE;
        Req->Ranges[*Count].sector = sector;
        Req->Ranges[*Count].num_sectors = n;
        Req->Ranges[*Count].flags = 0;
        (*Count)++;
        sector += n;
        sectors -= n;
    }
    return TRUE;
}

static VOID VioBuildWriteSame(PVIO_EXTENSION Ext, PVOID Srb, PVIO_REQUEST Req, const SCSIDISK_BLOCK_COMMAND *Cmd)
{
    ULONG count = 0;

    if (!Cmd->NoDataOutBuffer) {
        /* virtio can only write zeroes: a block with any other pattern is
         * refused (INVALID FIELD IN CDB). */
        PUCHAR block = SrbGetDataBuffer(Srb);
        ULONG i;
        if (block == NULL || SrbGetDataTransferLength(Srb) < Ext->BlockSize || !ScsiDiskSrbDirectionOk(Srb, FALSE)) {
            VioSetLocalStatus(Req, SRB_STATUS_INVALID_REQUEST);
            return;
        }
        for (i = 0; i < Ext->BlockSize; i++)
            if (block[i] != 0) {
                VioSetLocalSense(Req, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_INVALID_CDB, 0);
                return;
            }
    }
    Req->DataBytes = Cmd->NoDataOutBuffer ? 0 : Ext->BlockSize; /* the one block sent */
    if (!VioAddRange(Ext, Req, &count, Cmd->Lba, Cmd->Blocks)) {
        VioSetLocalSense(Req, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_INVALID_CDB, 0);
        return;
    }
    VioBuildRanges(Ext, Srb, Req, count, Cmd->Unmap);
}

static VOID VioBuildUnmap(PVIO_EXTENSION Ext, PVOID Srb, PVIO_REQUEST Req, const UCHAR *Cdb, ULONG CdbLength)
{
    PUCHAR list = SrbGetDataBuffer(Srb);
    ULONG length = SrbGetDataTransferLength(Srb);
    ULONG listLength, descriptors, i, count = 0;
    SCSIDISK_SENSE sense;

    if (!ScsiDiskDecodeUnmap(Cdb, CdbLength, &listLength, &sense)) {
        Req->Action = VioActionLocal;
        Req->LocalFailed = TRUE;
        Req->Sense = sense;
        return;
    }
    if (listLength == 0) {
        VioSetLocalStatus(Req, SRB_STATUS_SUCCESS);
        return;
    }
    if (list == NULL || !ScsiDiskSrbDirectionOk(Srb, FALSE)) {
        VioSetLocalStatus(Req, SRB_STATUS_INVALID_REQUEST);
        return;
    }
    if (length < listLength) {
        VioSetLocalSense(Req, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_INVALID_CDB, 0);
        return;
    }
    /* Every descriptor is checked before anything is sent. */
    if (!ScsiDiskValidateUnmapList(list, listLength, &Ext->Geometry, &descriptors, &sense)) {
        Req->Action = VioActionLocal;
        Req->LocalFailed = TRUE;
        Req->Sense = sense;
        return;
    }
    for (i = 0; i < descriptors; i++) {
        ULONGLONG lba;
        ULONG blocks;
        ScsiDiskUnmapDescriptor(list, i, &lba, &blocks);
        if (blocks != 0 && !VioAddRange(Ext, Req, &count, lba, blocks)) {
            VioSetLocalSense(Req, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_INVALID_FIELD_PARAMETER_LIST, 0);
            return;
        }
    }
    Req->DataBytes = listLength; /* the whole parameter list was used */
    VioBuildRanges(Ext, Srb, Req, count, TRUE);
}

static VOID VioBuildFlush(PVIO_EXTENSION Ext, PVOID Srb, PVIO_REQUEST Req)
{
    if (!VioFeature(Ext, VIRTIO_BLK_F_FLUSH)) {
        /* No FLUSH offered: the device has no volatile cache to flush. */
        VioSetLocalStatus(Req, SRB_STATUS_SUCCESS);
        return;
    }
    if (VioStartTable(Ext, Srb, Req, VIRTIO_BLK_T_FLUSH, 0))
        VioFinishTable(Ext, Srb, Req);
}

static VOID VioBuildScsi(PVIO_EXTENSION Ext, PVOID Srb, PVIO_REQUEST Req)
{
    const UCHAR *cdb = (const UCHAR *)SrbGetCdb(Srb);
    ULONG cdbLength = SrbGetCdbLength(Srb);
    SCSIDISK_BLOCK_COMMAND cmd;
    SCSIDISK_SENSE sense;
    UCHAR path = 0, target = 0, lun = 0;
    ULONGLONG needed;

    SrbGetPathTargetLun(Srb, &path, &target, &lun);
    if (path != 0 || target != 0 || lun != 0) {
        VioSetLocalStatus(Req, path != 0 ? SRB_STATUS_INVALID_PATH_ID
                               : target != 0 ? SRB_STATUS_INVALID_TARGET_ID : SRB_STATUS_INVALID_LUN);
        return;
    }
    if (cdb == NULL || cdbLength == 0) {
        VioSetLocalStatus(Req, SRB_STATUS_INVALID_REQUEST);
        return;
    }
    if (cdb[0] == SCSIOP_UNMAP) {
        VioBuildUnmap(Ext, Srb, Req, cdb, cdbLength);
        return;
    }
    if (!ScsiDiskIsBlockCommand(cdb[0]))
        return; /* local: INQUIRY, READ CAPACITY, ... in StartIo */
    if (!ScsiDiskDecodeBlockCommand(cdb, cdbLength, &Ext->Geometry, &cmd, &sense)) {
        Req->LocalFailed = TRUE;
        Req->Sense = sense;
        return;
    }
    needed = ScsiDiskBlockCommandDataLength(&cmd, &Ext->Geometry);
    if (cmd.Kind == ScsiDiskRead || cmd.Kind == ScsiDiskWrite) {
        PVOID buffer = SrbGetDataBuffer(Srb);
        if (cmd.Blocks == 0) {
            VioSetLocalStatus(Req, SRB_STATUS_SUCCESS);
            return;
        }
        if (buffer == NULL || !ScsiDiskSrbDirectionOk(Srb, cmd.Kind == ScsiDiskRead)) {
            VioSetLocalStatus(Req, SRB_STATUS_INVALID_REQUEST);
            return;
        }
        if (SrbGetDataTransferLength(Srb) < needed) {
            /* A short buffer: refused, never a partial transfer. */
            VioSetLocalSense(Req, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_INVALID_CDB, 0);
            return;
        }
        VioBuildReadWrite(Ext, Srb, Req, &cmd, (ULONG)needed);
        return;
    }
    switch (cmd.Kind) {
    case ScsiDiskSyncCache:
        VioBuildFlush(Ext, Srb, Req);
        return;
    case ScsiDiskWriteSame:
        if (cmd.Blocks == 0) {
            VioSetLocalSense(Req, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_INVALID_CDB, 0);
            return;
        }
        VioBuildWriteSame(Ext, Srb, Req, &cmd);
        return;
    default: /* VERIFY (BYTCHK 0): the range was checked at decode */
        VioSetLocalStatus(Req, SRB_STATUS_SUCCESS);
        return;
    }
}

_Use_decl_annotations_
static BOOLEAN VioHwBuildIo(PVOID DeviceExtension, PSCSI_REQUEST_BLOCK Srb)
{
    PVIO_EXTENSION ext = DeviceExtension;
    PVOID srb = Srb;
    PVIO_REQUEST req = SrbGetMiniportContext(srb);
    ULONG function = SrbGetSrbFunction(srb);

    if (req == NULL)
        return TRUE;
    memset(req, 0, sizeof(*req));
    req->Srb = srb;
    req->Action = VioActionLocal;
    if (function == SRB_FUNCTION_EXECUTE_SCSI)
        VioBuildScsi(ext, srb, req);
    else if (function == SRB_FUNCTION_FLUSH || function == SRB_FUNCTION_SHUTDOWN)
        VioBuildFlush(ext, srb, req);
    return TRUE;
}

/* ======================================================================
 * Local commands (StartIo)
 * ====================================================================== */

static UCHAR VioLocalDataIn(PVIO_EXTENSION Ext, PVOID Srb, const UCHAR *Cdb, ULONG CdbLength)
{
    PVOID buffer = SrbGetDataBuffer(Srb);
    ULONG length = SrbGetDataTransferLength(Srb);
    ULONG written = 0;
    SCSIDISK_SENSE sense;
    SCSIDISK_IDENTITY identity;
    BOOLEAN ok;

    if (length > 0 && (buffer == NULL || !ScsiDiskSrbDirectionOk(Srb, TRUE))) {
        SrbSetDataTransferLength(Srb, 0);
        return SRB_STATUS_INVALID_REQUEST;
    }
    if (length == 0)
        buffer = NULL;
    switch (Cdb[0]) {
    case SCSIOP_INQUIRY:
        identity.VendorId = VIO_VENDOR_ID;
        identity.ProductId = VIO_PRODUCT_ID;
        identity.ProductRevision = VIO_REVISION;
        identity.SerialNumber = Ext->Serial;
        identity.NaaVendorSpecific = Ext->NaaId;
        ok = ScsiDiskInquiry(Cdb, CdbLength, &Ext->Geometry, &identity, buffer, length, &written, &sense);
        break;
    case SCSIOP_READ_CAPACITY:
        ok = ScsiDiskReadCapacity10(Cdb, CdbLength, &Ext->Geometry, buffer, length, &written, &sense);
        break;
    case SCSIOP_SERVICE_ACTION_IN16:
        if (CdbLength < 2 || (Cdb[1] & 0x1F) != SERVICE_ACTION_READ_CAPACITY16)
            return ScsiDiskSrbCheckConditionCodes(Srb, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_INVALID_CDB, 0);
        ok = ScsiDiskReadCapacity16(Cdb, CdbLength, &Ext->Geometry, buffer, length, &written, &sense);
        break;
    case SCSIOP_MODE_SENSE:
    case SCSIOP_MODE_SENSE10:
        ok = ScsiDiskModeSense(Cdb, CdbLength, &Ext->Geometry, buffer, length, &written, &sense);
        break;
    case SCSIOP_REPORT_LUNS:
        ok = ScsiDiskReportLuns(Cdb, CdbLength, 1, buffer, length, &written, &sense);
        break;
    default: /* SCSIOP_REQUEST_SENSE */
        ok = ScsiDiskRequestSense(Cdb, CdbLength, buffer, length, &written, &sense);
        break;
    }
    if (!ok)
        return ScsiDiskSrbCheckCondition(Srb, &sense);
    return ScsiDiskSrbGood(Srb, written);
}

static UCHAR VioExecuteLocal(PVIO_EXTENSION Ext, PVOID Srb, PVIO_REQUEST Req)
{
    const UCHAR *cdb;
    ULONG cdbLength;
    ULONG function = SrbGetSrbFunction(Srb);

    if (Req->LocalFailed)
        return ScsiDiskSrbCheckCondition(Srb, &Req->Sense);
    if (Req->LocalSrbStatus != 0) {
        if (Req->LocalSrbStatus == SRB_STATUS_SUCCESS)
            return ScsiDiskSrbGood(Srb, SrbGetDataTransferLength(Srb));
        SrbSetDataTransferLength(Srb, 0);
        return Req->LocalSrbStatus;
    }
    if (function != SRB_FUNCTION_EXECUTE_SCSI) {
        SrbSetDataTransferLength(Srb, 0);
        switch (function) {
        case SRB_FUNCTION_RESET_BUS:
        case SRB_FUNCTION_RESET_DEVICE:
        case SRB_FUNCTION_RESET_LOGICAL_UNIT:
        case SRB_FUNCTION_ABORT_COMMAND:
            /* Requests in the device complete or are reset by the
             * watchdog; nothing to cancel individually in virtio. */
        case SRB_FUNCTION_FLUSH:
        case SRB_FUNCTION_SHUTDOWN:
        case SRB_FUNCTION_PNP:
        case SRB_FUNCTION_POWER:
            return SRB_STATUS_SUCCESS;
        default:
            return SRB_STATUS_INVALID_REQUEST;
        }
    }
    cdb = (const UCHAR *)SrbGetCdb(Srb);
    cdbLength = SrbGetCdbLength(Srb);
    switch (cdb[0]) {
    case SCSIOP_TEST_UNIT_READY:
    case SCSIOP_START_STOP_UNIT:
    case SCSIOP_MEDIUM_REMOVAL:
        return ScsiDiskSrbGood(Srb, 0);
    case SCSIOP_REQUEST_SENSE:
    case SCSIOP_INQUIRY:
    case SCSIOP_READ_CAPACITY:
    case SCSIOP_SERVICE_ACTION_IN16:
    case SCSIOP_MODE_SENSE:
    case SCSIOP_MODE_SENSE10:
    case SCSIOP_REPORT_LUNS:
        return VioLocalDataIn(Ext, Srb, cdb, cdbLength);
    default:
        if (ScsiDiskIsBlockCommand(cdb[0]) || cdb[0] == SCSIOP_UNMAP)
            return ScsiDiskSrbGood(Srb, 0); /* decoded by BuildIo as a no-op */
        return ScsiDiskSrbCheckConditionCodes(Srb, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_ILLEGAL_COMMAND, 0);
    }
}

/* ======================================================================
 * Completion
 * ====================================================================== */

static VOID VioComplete(PVIO_EXTENSION Ext, PVOID Srb, UCHAR Status)
{
    SrbSetSrbStatus(Srb, Status);
    StorPortNotification(RequestComplete, Ext, Srb);
}

/* Gives back a FUA request's flush credit (queue lock not held). */
static VOID VioReleaseReservation(PVIO_EXTENSION Ext, PVIO_REQUEST Req)
{
    PVIO_QUEUE q = &Ext->Queues[Req->Queue];
    VIO_QLOCK lock;

    if (!Req->FuaReserved)
        return;
    VioQueueLock(Ext, q, &lock, FALSE);
    Req->FuaReserved = FALSE;
    q->Reserved--;
    VioQueueUnlock(Ext, q, &lock);
}

/* A request the device gave back: complete it, or send the FLUSH of a
 * FUA write.  Called from the DPC with no lock held. */
static VOID VioFinish(PVIO_EXTENSION Ext, PVIO_REQUEST Req)
{
    PVOID srb = Req->Srb;
    UCHAR status = Req->DeviceStatus;

    if (status == VIRTIO_BLK_S_OK && Req->Fua && !Req->FlushPhase) {
        PVIO_QUEUE q = &Ext->Queues[Req->Queue];
        VIO_QLOCK lock;
        /* The write is done; make it durable before completing.  The
         * table becomes header + status: the FLUSH carries no data. */
        Req->Header.type = VIRTIO_BLK_T_FLUSH;
        Req->Header.sector = 0;
        Req->Table[1] = Req->Table[Req->TableCount - 1];
        Req->Table[0].next = 1;
        Req->TableCount = 2;
        Req->FlushPhase = TRUE;
        VioQueueLock(Ext, q, &lock, FALSE);
        Req->FuaReserved = FALSE;
        q->Reserved--; /* the credit becomes the head it takes now */
        VioCheckNoIsr(Ext, q);
        VioPost(q, Req);
        VioQueueUnlock(Ext, q, &lock);
        VioKick(Ext, q);
        VIO_COUNT(fua_flushes);
        return;
    }
    VioReleaseReservation(Ext, Req);
    if (status == VIRTIO_BLK_S_OK) {
        VioComplete(Ext, srb, ScsiDiskSrbGood(srb, Req->DataBytes));
        return;
    }
    if (status == VIRTIO_BLK_S_UNSUPP) {
        VioComplete(Ext, srb, ScsiDiskSrbCheckConditionCodes(srb, SCSI_SENSE_ILLEGAL_REQUEST,
                                                     SCSI_ADSENSE_ILLEGAL_COMMAND, 0));
        return;
    }
    /* IOERR, or no status at all (malformed chain): the device failed the
     * command.  ABORTED COMMAND / INTERNAL TARGET FAILURE lets the class
     * layer retry it (the simulated errors are transient). */
    VIO_COUNT(io_errors);
    VioComplete(Ext, srb, ScsiDiskSrbCheckConditionCodes(srb, SCSI_SENSE_ABORTED_COMMAND,
                                                 SCSI_ADSENSE_INTERNAL_TARGET_FAILURE, 0));
}

static VOID VioCompleteResetList(PVIO_EXTENSION Ext, PVIO_REQUEST List)
{
    while (List != NULL) {
        PVIO_REQUEST next = List->Next;
        SrbSetDataTransferLength(List->Srb, 0);
        VIO_COUNT(reset_completions);
        VioComplete(Ext, List->Srb, SRB_STATUS_BUS_RESET);
        List = next;
    }
}

_Use_decl_annotations_
static VOID VioQueueDpc(PSTOR_DPC Dpc, PVOID HwDeviceExtension, PVOID SystemArgument1, PVOID SystemArgument2)
{
    PVIO_EXTENSION ext = HwDeviceExtension;
    PVIO_QUEUE q = SystemArgument1;
    PVIO_REQUEST list;
    VIO_QLOCK lock;

    UNREFERENCED_PARAMETER(Dpc);
    UNREFERENCED_PARAMETER(SystemArgument2);
    if (q == NULL)
        return;
    VioQueueLock(ext, q, &lock, FALSE);
    VioCheckNoIsr(ext, q);
    list = q->DoneHead;
    q->DoneHead = q->DoneTail = NULL;
    VioQueueUnlock(ext, q, &lock);
    while (list != NULL) {
        PVIO_REQUEST next = list->Next;
        VioFinish(ext, list);
        list = next;
    }
}

/* ======================================================================
 * Device bring-up and reset
 * ====================================================================== */

static ULONGLONG VioReadDeviceFeatures(PVIO_EXTENSION Ext)
{
    ULONGLONG lo, hi;

    VioWrite32(Ext, Ext->Common, VIRTIO_PCI_COMMON_DFSELECT, 0);
    lo = VioRead32(Ext, Ext->Common, VIRTIO_PCI_COMMON_DF);
    VioWrite32(Ext, Ext->Common, VIRTIO_PCI_COMMON_DFSELECT, 1);
    hi = VioRead32(Ext, Ext->Common, VIRTIO_PCI_COMMON_DF);
    return lo | (hi << 32);
}

/* Resets the device and brings it back to DRIVER_OK with empty queues.
 * Caller excludes every ISR (HwInitialize, adapter control at DIRQL, or a
 * StorPortSynchronizeAccess routine). */
static BOOLEAN VioDeviceStart(PVIO_EXTENSION Ext)
{
    ULONG i;
    UCHAR status;

    VioWrite8(Ext, Ext->Common, VIRTIO_PCI_COMMON_STATUS, 0);
    for (i = 0; i < 1000 && VioDeviceStatus(Ext) != 0; i++)
        StorPortStallExecution(10);
    VioWrite8(Ext, Ext->Common, VIRTIO_PCI_COMMON_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    VioWrite8(Ext, Ext->Common, VIRTIO_PCI_COMMON_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    VioWrite32(Ext, Ext->Common, VIRTIO_PCI_COMMON_GFSELECT, 0);
    VioWrite32(Ext, Ext->Common, VIRTIO_PCI_COMMON_GF, (ULONG)Ext->DriverFeatures);
    VioWrite32(Ext, Ext->Common, VIRTIO_PCI_COMMON_GFSELECT, 1);
    VioWrite32(Ext, Ext->Common, VIRTIO_PCI_COMMON_GF, (ULONG)(Ext->DriverFeatures >> 32));
    VioWrite8(Ext, Ext->Common, VIRTIO_PCI_COMMON_STATUS,
              VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    if (!(VioDeviceStatus(Ext) & VIRTIO_STATUS_FEATURES_OK)) {
        StorPortDebugPrint(0, "%s: the device refused features 0x%llx (FEATURES_OK did not stick)\n", VIO_NAME,
                           (unsigned long long)Ext->DriverFeatures);
        VioWrite8(Ext, Ext->Common, VIRTIO_PCI_COMMON_STATUS, VIRTIO_STATUS_FAILED);
        return FALSE;
    }
    for (i = 0; i < Ext->NumQueues; i++) {
        PVIO_QUEUE q = &Ext->Queues[i];
        VioQueueClear(q);
        VioWrite16(Ext, Ext->Common, VIRTIO_PCI_COMMON_Q_SELECT, (USHORT)i);
        VioWrite16(Ext, Ext->Common, VIRTIO_PCI_COMMON_Q_SIZE, q->Size);
        VioWrite16(Ext, Ext->Common, VIRTIO_PCI_COMMON_Q_MSIX, q->Vector);
        if (q->Vector != VIRTIO_MSI_NO_VECTOR &&
            VioRead16(Ext, Ext->Common, VIRTIO_PCI_COMMON_Q_MSIX) != q->Vector) {
            StorPortDebugPrint(0, "%s: queue %lu refused MSI-X vector %u\n", VIO_NAME, (unsigned long)i, q->Vector);
            VioWrite8(Ext, Ext->Common, VIRTIO_PCI_COMMON_STATUS, VIRTIO_STATUS_FAILED);
            return FALSE;
        }
        VioWrite64(Ext, Ext->Common, VIRTIO_PCI_COMMON_Q_DESCLO, q->DescPa);
        VioWrite64(Ext, Ext->Common, VIRTIO_PCI_COMMON_Q_AVAILLO, q->AvailPa);
        VioWrite64(Ext, Ext->Common, VIRTIO_PCI_COMMON_Q_USEDLO, q->UsedPa);
        VioWrite16(Ext, Ext->Common, VIRTIO_PCI_COMMON_Q_ENABLE, 1);
    }
    VioWrite16(Ext, Ext->Common, VIRTIO_PCI_COMMON_MSIX, Ext->ConfigVector);
    status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
             VIRTIO_STATUS_DRIVER_OK;
    VioWrite8(Ext, Ext->Common, VIRTIO_PCI_COMMON_STATUS, status);
    return (VioDeviceStatus(Ext) & VIRTIO_STATUS_DRIVER_OK) != 0;
}

typedef struct _VIO_RESET_CONTEXT {
    PVIO_REQUEST List;   /* requests taken off the rings */
    BOOLEAN Started;
} VIO_RESET_CONTEXT;

/* Takes every request off the rings, resets and restarts the device.  Runs
 * with every ISR excluded. */
static BOOLEAN VioResetSync(PVOID DeviceExtension, PVOID Context)
{
    PVIO_EXTENSION ext = DeviceExtension;
    VIO_RESET_CONTEXT *ctx = Context;
    ULONG i, s;

    /* Reset first: once the status write returns the device holds
     * nothing, so no used entry can appear for what we reclaim. */
    VioWrite8(ext, ext->Common, VIRTIO_PCI_COMMON_STATUS, 0);
    for (i = 0; i < ext->NumQueues; i++) {
        PVIO_QUEUE q = &ext->Queues[i];
        /* Entries the device finished before the reset complete normally. */
        VioDrainUsed(q);
        for (s = 0; s < q->Size; s++) {
            PVIO_REQUEST req = q->Slots[s];
            if (req == NULL)
                continue;
            q->Slots[s] = NULL;
            if (req->FuaReserved) {
                req->FuaReserved = FALSE;
                q->Reserved--;
            }
            req->Next = ctx->List;
            ctx->List = req;
        }
    }
    atomic_store(&ext->ResetRequested, 0);
    ctx->Started = VioDeviceStart(ext);
    return ctx->Started;
}

/* After a reset: the done lists may have grown, and their ISRs may find
 * nothing left to report.  (Not reading DoneHead here: that needs the
 * queue's lock; an empty DPC costs nothing.) */
static VOID VioIssueQueueDpcs(PVIO_EXTENSION Ext)
{
    ULONG i;

    if (!Ext->DpcReady)
        return;
    for (i = 0; i < Ext->NumQueues; i++)
        StorPortIssueDpc(Ext, &Ext->Queues[i].Dpc, &Ext->Queues[i], NULL);
}

/* Reset from a routine that may call StorPortSynchronizeAccess (DPC,
 * timer, HwStorResetBus).  Completes what the rings held with BUS_RESET. */
static VOID VioResetAndComplete(PVIO_EXTENSION Ext)
{
    VIO_RESET_CONTEXT ctx;

    ctx.List = NULL;
    ctx.Started = FALSE;
    StorPortSynchronizeAccess(Ext, VioResetSync, &ctx);
    if (!ctx.Started)
        StorPortDebugPrint(0, "%s: the device did not come back after a reset\n", VIO_NAME);
    VioCompleteResetList(Ext, ctx.List);
    VioIssueQueueDpcs(Ext);
}

_Use_decl_annotations_
static VOID VioResetDpc(PSTOR_DPC Dpc, PVOID HwDeviceExtension, PVOID SystemArgument1, PVOID SystemArgument2)
{
    PVIO_EXTENSION ext = HwDeviceExtension;

    UNREFERENCED_PARAMETER(Dpc);
    UNREFERENCED_PARAMETER(SystemArgument1);
    UNREFERENCED_PARAMETER(SystemArgument2);
    if (atomic_load(&ext->ResetRequested) && !atomic_load(&ext->Stopped)) {
        VIO_COUNT(needs_reset_resets);
        VioResetAndComplete(ext);
    }
}

/* Polled GET_ID on queue 0 at initialization (no interrupt requested).
 * Uses the last page of the uncached extension. */
static VOID VioReadSerial(PVIO_EXTENSION Ext)
{
    PVIO_QUEUE q = &Ext->Queues[0];
    PUCHAR page = Ext->Uncached + Ext->NumQueues * VIO_QUEUE_BYTES;
    ULONGLONG pagePa = Ext->UncachedPa + Ext->NumQueues * VIO_QUEUE_BYTES;
    struct virtq_desc *table = (struct virtq_desc *)page;
    struct virtio_blk_outhdr *hdr = (struct virtio_blk_outhdr *)(page + 256);
    PUCHAR id = page + 512;
    volatile UCHAR *status = page + 512 + 64;
    USHORT head;
    ULONG i, n;
    BOOLEAN answered;

    snprintf(Ext->Serial, sizeof(Ext->Serial), "VIRTIO%08lX", (unsigned long)Ext->AdapterNumber);
    memset(page, 0, VIO_PAGE);
    hdr->type = VIRTIO_BLK_T_GET_ID;
    *status = VIO_STATUS_UNSET;
    table[0].addr = pagePa + 256;
    table[0].len = sizeof(*hdr);
    table[0].flags = VIRTQ_DESC_F_NEXT;
    table[0].next = 1;
    table[1].addr = pagePa + 512;
    table[1].len = VIRTIO_BLK_ID_BYTES;
    table[1].flags = VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE;
    table[1].next = 2;
    table[2].addr = pagePa + 512 + 64;
    table[2].len = 1;
    table[2].flags = VIRTQ_DESC_F_WRITE;

    /* No interrupt for this one: the ISR may not run before the port has
     * finished starting the adapter.  The flag stays set until the reset
     * below, which waits for the device to finish deciding. */
    __atomic_store_n((USHORT *)q->Avail, (USHORT)VIRTQ_AVAIL_F_NO_INTERRUPT, __ATOMIC_RELEASE);
    head = q->FreeHeads[--q->NumFree];
    q->Desc[head].addr = pagePa;
    q->Desc[head].len = 3 * sizeof(struct virtq_desc);
    q->Desc[head].flags = VIRTQ_DESC_F_INDIRECT;
    VioAvailRing(q)[q->AvailShadow % q->Size] = head;
    q->AvailShadow++;
    __atomic_store_n(VioAvailIdx(q), q->AvailShadow, __ATOMIC_RELEASE);
    StorPortWriteRegisterUshort(Ext, q->Notify, 0);
    for (i = 0; i < 20000 && __atomic_load_n(VioUsedIdx(q), __ATOMIC_ACQUIRE) == q->LastUsed; i++)
        StorPortStallExecution(5);
    answered = __atomic_load_n(VioUsedIdx(q), __ATOMIC_ACQUIRE) != q->LastUsed && *status == VIRTIO_BLK_S_OK;
    /* Back to clean rings (and rid of the request if it never finished,
     * e.g. a stuck fault). */
    VioDeviceStart(Ext);
    if (!answered)
        return;
    for (n = 0; n < VIRTIO_BLK_ID_BYTES && id[n] > ' ' && id[n] < 0x7F; n++)
        ;
    if (n > 0) {
        memcpy(Ext->Serial, id, n);
        Ext->Serial[n] = '\0';
    }
    Ext->SerialRead = TRUE;
}

/* ======================================================================
 * Interrupts
 * ====================================================================== */

/* Called with the queue's interrupt lock held by the port. */
static VOID VioServiceQueue(PVIO_EXTENSION Ext, PVIO_QUEUE Q)
{
    VIO_QLOCK lock;
    ULONG n;

    if (Ext->Config.Check || Ext->Config.NoSync)
        atomic_store(&Q->InIsr, 1);
    if (Ext->Config.Check) {
        /* Stay visible a little: StartIo's section must never see it. */
        volatile unsigned spin;
        for (spin = 0; spin < 2000; spin++)
            ;
    }
    VioQueueLock(Ext, Q, &lock, TRUE);
    n = VioDrainUsed(Q);
    VioQueueUnlock(Ext, Q, &lock);
    atomic_fetch_add_explicit(&Q->IsrSeq, 1, memory_order_relaxed);
    if (Ext->Config.Check || Ext->Config.NoSync)
        atomic_store(&Q->InIsr, 0);
    if (n == 0)
        VIO_COUNT(isr_idle);
    else if (Ext->DpcReady)
        StorPortIssueDpc(Ext, &Q->Dpc, Q, NULL);
}

static VOID VioServiceConfig(PVIO_EXTENSION Ext)
{
    VIO_COUNT(config_interrupts);
    if (VioDeviceStatus(Ext) & VIRTIO_STATUS_DEVICE_NEEDS_RESET) {
        /* The reset itself is too long for an ISR: the DPC does it (the
         * timer too, should the DPC not be ready yet). */
        atomic_store(&Ext->ResetRequested, 1);
        if (Ext->DpcReady)
            StorPortIssueDpc(Ext, &Ext->ResetDpc, NULL, NULL);
    }
}

_Use_decl_annotations_
static BOOLEAN VioHwMsiInterrupt(PVOID DeviceExtension, ULONG MessageId)
{
    PVIO_EXTENSION ext = DeviceExtension;

    VIO_COUNT(isr_calls);
    if (MessageId < ext->NumQueues) {
        VioServiceQueue(ext, &ext->Queues[MessageId]);
        return TRUE;
    }
    if (MessageId == ext->ConfigVector) {
        VioServiceConfig(ext);
        return TRUE;
    }
    VIO_COUNT(isr_idle);
    return FALSE;
}

_Use_decl_annotations_
static BOOLEAN VioHwInterrupt(PVOID DeviceExtension)
{
    PVIO_EXTENSION ext = DeviceExtension;
    UCHAR isr;
    ULONG i;

    VIO_COUNT(isr_calls);
    if (ext->Msix)
        return FALSE; /* message-signaled: the line is never ours */
    /* Reading the ISR register acknowledges the interrupt. */
    isr = VioRead8(ext, ext->IsrReg, 0);
    if (isr == 0) {
        VIO_COUNT(isr_idle);
        return FALSE; /* shared line or spurious */
    }
    if (isr & VIRTIO_ISR_QUEUE)
        for (i = 0; i < ext->NumQueues; i++)
            VioServiceQueue(ext, &ext->Queues[i]);
    if (isr & VIRTIO_ISR_CONFIG)
        VioServiceConfig(ext);
    return TRUE;
}

/* ======================================================================
 * StartIo
 * ====================================================================== */

static PVIO_QUEUE VioPickQueue(PVIO_EXTENSION Ext, PVOID Srb)
{
    STARTIO_PERFORMANCE_PARAMETERS perf;

    if (Ext->NumQueues <= 1)
        return &Ext->Queues[0];
    memset(&perf, 0, sizeof(perf));
    perf.Version = STOR_PERF_VERSION;
    perf.Size = sizeof(perf);
    if (StorPortGetStartIoPerfParams(Ext, Srb, &perf) != STOR_STATUS_SUCCESS)
        return &Ext->Queues[0];
    return &Ext->Queues[perf.ChannelNumber % Ext->NumQueues];
}

_Use_decl_annotations_
static BOOLEAN VioHwStartIo(PVOID DeviceExtension, PSCSI_REQUEST_BLOCK Srb)
{
    PVIO_EXTENSION ext = DeviceExtension;
    PVOID srb = Srb;
    PVIO_REQUEST req = SrbGetMiniportContext(srb);
    PVIO_QUEUE q;
    VIO_QLOCK lock;
    ULONG need;

    if (req == NULL) {
        /* No SrbExtension: nothing can be sent to the device. */
        VioComplete(ext, srb, SRB_STATUS_INTERNAL_ERROR);
        return TRUE;
    }
    if (req->Action == VioActionLocal) {
        VIO_COUNT(local_completions);
        VioComplete(ext, srb, VioExecuteLocal(ext, srb, req));
        return TRUE;
    }
    q = VioPickQueue(ext, srb);
    need = req->Fua ? 2 : 1;
    /* Half duplex: the port already holds the interrupt lock (S5.4). */
    VioQueueLock(ext, q, &lock, ext->HalfDuplex);
    VioCheckNoIsr(ext, q);
    if (q->NumFree < q->Reserved + need) {
        VioQueueUnlock(ext, q, &lock);
        /* Nothing was started: BUSY makes the port send it again (S5.7). */
        VIO_COUNT(queue_full_busy);
        VioComplete(ext, srb, SRB_STATUS_BUSY);
        return TRUE;
    }
    if (req->Fua) {
        q->Reserved++;
        req->FuaReserved = TRUE;
    }
    VioPost(q, req);
    VioCheckNoIsr(ext, q);
    VioQueueUnlock(ext, q, &lock);
    VioKick(ext, q);
    return TRUE;
}

/* ======================================================================
 * Watchdog, reset, adapter control
 * ====================================================================== */

static VOID VioArmTimer(PVIO_EXTENSION Ext)
{
    StorPortNotification(RequestTimerCall, Ext, VioHwTimer, Ext->Config.WatchdogMs * 1000u);
}

_Use_decl_annotations_
static VOID VioHwTimer(PVOID DeviceExtension)
{
    PVIO_EXTENSION ext = DeviceExtension;
    LONGLONG now = VioNow(), limit = (LONGLONG)ext->Config.StuckMs * 10000;
    BOOLEAN stuck = FALSE;
    ULONG i, s;

    if (atomic_load(&ext->Stopped))
        return;
    for (i = 0; i < ext->NumQueues; i++) {
        PVIO_QUEUE q = &ext->Queues[i];
        VIO_QLOCK lock;
        ULONG seq = atomic_load_explicit(&q->IsrSeq, memory_order_relaxed);
        BOOLEAN recovered = FALSE;

        VioQueueLock(ext, q, &lock, ext->HalfDuplex);
        /* Used entries waiting since the last tick with no ISR since then:
         * their interrupt was lost.  Take them now. */
        if (__atomic_load_n(VioUsedIdx(q), __ATOMIC_ACQUIRE) != q->LastUsed && seq == q->TimerIsrSeq &&
            q->LastUsed == q->TimerLastUsed)
            recovered = VioDrainUsed(q) > 0;
        q->TimerIsrSeq = seq;
        q->TimerLastUsed = q->LastUsed;
        for (s = 0; s < q->Size && !stuck; s++)
            if (q->Slots[s] != NULL && now - q->Slots[s]->PostedAt > limit)
                stuck = TRUE;
        VioQueueUnlock(ext, q, &lock);
        if (recovered) {
            VIO_COUNT(lost_irq_recoveries);
            if (ext->DpcReady)
                StorPortIssueDpc(ext, &q->Dpc, q, NULL);
        }
    }
    if (stuck || atomic_load(&ext->ResetRequested)) {
        if (stuck)
            VIO_COUNT(stuck_resets);
        else
            VIO_COUNT(needs_reset_resets);
        VioResetAndComplete(ext);
    }
    VioArmTimer(ext);
}

_Use_decl_annotations_
static BOOLEAN VioHwResetBus(PVOID DeviceExtension, ULONG PathId)
{
    PVIO_EXTENSION ext = DeviceExtension;

    UNREFERENCED_PARAMETER(PathId);
    VIO_COUNT(bus_resets);
    if (!atomic_load(&ext->Stopped))
        VioResetAndComplete(ext);
    return TRUE;
}

_Use_decl_annotations_
static SCSI_ADAPTER_CONTROL_STATUS VioHwAdapterControl(PVOID DeviceExtension, SCSI_ADAPTER_CONTROL_TYPE ControlType,
                                                       PVOID Parameters)
{
    static const SCSI_ADAPTER_CONTROL_TYPE supported[] = {
        ScsiQuerySupportedControlTypes, ScsiStopAdapter, ScsiRestartAdapter,
    };
    PVIO_EXTENSION ext = DeviceExtension;
    PSCSI_SUPPORTED_CONTROL_TYPE_LIST list;
    VIO_RESET_CONTEXT ctx;
    ULONG i;

    switch (ControlType) {
    case ScsiQuerySupportedControlTypes:
        list = Parameters;
        if (list == NULL)
            return ScsiAdapterControlUnsuccessful;
        for (i = 0; i < ARRAYSIZE(supported); i++)
            if ((ULONG)supported[i] < list->MaxControlType)
                list->SupportedTypeList[supported[i]] = TRUE;
        return ScsiAdapterControlSuccess;
    case ScsiStopAdapter:
        /* DIRQL, interrupt lock held.  The port drained our requests; any
         * left on a ring anyway is reset and completed, never lost. */
        VIO_COUNT(stops);
        /* The timer is not cancelled here (that needs IRQL <= DISPATCH):
         * it sees Stopped and does not re-arm itself. */
        atomic_store(&ext->Stopped, 1);
        /* No DPC is issued from here: the adapter may be going away.
         * Whatever the device finished or still held is completed now. */
        ctx.List = NULL;
        VioWrite8(ext, ext->Common, VIRTIO_PCI_COMMON_STATUS, 0);
        for (i = 0; i < ext->NumQueues; i++) {
            PVIO_QUEUE q = &ext->Queues[i];
            ULONG s;
            VioDrainUsed(q);
            for (s = 0; s < q->Size; s++)
                if (q->Slots[s] != NULL) {
                    q->Slots[s]->Next = ctx.List;
                    ctx.List = q->Slots[s];
                    q->Slots[s] = NULL;
                }
            while (q->DoneHead != NULL) {
                PVIO_REQUEST req = q->DoneHead;
                q->DoneHead = req->Next;
                req->Next = ctx.List;
                ctx.List = req;
            }
            q->DoneTail = NULL;
        }
        VioCompleteResetList(ext, ctx.List);
        return ScsiAdapterControlSuccess;
    case ScsiRestartAdapter:
        /* Not HwStorInitialize: passive initialization is not enabled
         * again; the DPCs and the rings' memory survived the stop. */
        VIO_COUNT(restarts);
        for (i = 0; i < ext->NumQueues; i++)
            ext->Queues[i].Reserved = 0;
        if (!VioDeviceStart(ext))
            return ScsiAdapterControlUnsuccessful;
        atomic_store(&ext->ResetRequested, 0);
        atomic_store(&ext->Stopped, 0);
        VioArmTimer(ext);
        return ScsiAdapterControlSuccess;
    default:
        return ScsiAdapterControlUnsuccessful;
    }
}

/* ======================================================================
 * Initialization
 * ====================================================================== */

_Use_decl_annotations_
static BOOLEAN VioHwPassiveInitialize(PVOID DeviceExtension)
{
    PVIO_EXTENSION ext = DeviceExtension;
    ULONG i;

    for (i = 0; i < ext->NumQueues; i++)
        StorPortInitializeDpc(ext, &ext->Queues[i].Dpc, VioQueueDpc);
    StorPortInitializeDpc(ext, &ext->ResetDpc, VioResetDpc);
    ext->DpcReady = TRUE;
    return TRUE;
}

static VOID VioEnableConcurrentChannels(PVIO_EXTENSION Ext)
{
    PERF_CONFIGURATION_DATA perf;

    memset(&perf, 0, sizeof(perf));
    perf.Version = STOR_PERF_VERSION;
    perf.Size = sizeof(perf);
    if (StorPortInitializePerfOpts(Ext, TRUE, &perf) != STOR_STATUS_SUCCESS ||
        !(perf.Flags & STOR_PERF_CONCURRENT_CHANNELS)) {
        StorPortDebugPrint(0, "%s: no STOR_PERF_CONCURRENT_CHANNELS; StartIo stays serialized\n", VIO_NAME);
        return;
    }
    memset(&perf, 0, sizeof(perf));
    perf.Version = STOR_PERF_VERSION;
    perf.Size = sizeof(perf);
    perf.Flags = STOR_PERF_CONCURRENT_CHANNELS;
    perf.ConcurrentChannels = Ext->NumQueues;
    if (StorPortInitializePerfOpts(Ext, FALSE, &perf) != STOR_STATUS_SUCCESS)
        StorPortDebugPrint(0, "%s: StorPortInitializePerfOpts refused %lu channels\n", VIO_NAME,
                           (unsigned long)Ext->NumQueues);
}

_Use_decl_annotations_
static BOOLEAN VioHwInitialize(PVOID DeviceExtension)
{
    PVIO_EXTENSION ext = DeviceExtension;

    if (!VioDeviceStart(ext))
        return FALSE;
    if (!ext->InitializedOnce) {
        ext->InitializedOnce = TRUE;
        VioReadSerial(ext);
        if (ext->Config.Sync == VioSyncConcurrent && ext->NumQueues > 1)
            VioEnableConcurrentChannels(ext);
        if (!StorPortEnablePassiveInitialization(ext, VioHwPassiveInitialize)) {
            StorPortDebugPrint(0, "%s: passive initialization unavailable; no DPCs, no completions\n", VIO_NAME);
            return FALSE;
        }
    }
    VioArmTimer(ext);
    return TRUE;
}

/* ---- HwStorFindAdapter -------------------------------------------------- */

typedef struct _VIO_CAP {
    BOOLEAN Found;
    UCHAR Bar;
    ULONG Offset, Length;
} VIO_CAP;

static ULONG VioLe32(const UCHAR *p)
{
    return (ULONG)p[0] | (ULONG)p[1] << 8 | (ULONG)p[2] << 16 | (ULONG)p[3] << 24;
}

static ULONG VioFindAdapterFail(PCSTR What)
{
    StorPortDebugPrint(0, "%s: %s\n", VIO_NAME, What);
    return SP_RETURN_NOT_FOUND;
}

_Use_decl_annotations_
static ULONG VioHwFindAdapter(PVOID DeviceExtension, PVOID HwContext, PVOID BusInformation, PCHAR ArgumentString,
                              PPORT_CONFIGURATION_INFORMATION ConfigInfo, PBOOLEAN Reserved3)
{
    PVIO_EXTENSION ext = DeviceExtension;
    UCHAR pci[256];
    VIO_CAP caps[VIRTIO_PCI_CAP_PCI_CFG + 1];
    ULONG notifyMultiplier = 0, i, hops;
    UCHAR ptr;
    CHAR message[256];
    ULONGLONG barAddress[6];
    PUCHAR bar4 = NULL;
    ULONG bar4Length = 0, wantQueues, bytes;
    ULONGLONG want;

    UNREFERENCED_PARAMETER(HwContext);
    UNREFERENCED_PARAMETER(BusInformation);
    UNREFERENCED_PARAMETER(Reserved3);

    if (!VioParseArguments(ArgumentString, &ext->Config, message, sizeof(message))) {
        StorPortDebugPrint(0, "%s\n", message);
        return SP_RETURN_BAD_CONFIG;
    }
    ext->AdapterNumber = atomic_fetch_add(&VioAdapterCount, 1);

    /* ---- PCI identity and capabilities ---- */
    memset(pci, 0, sizeof(pci));
    if (StorPortGetBusData(ext, PCIConfiguration, ConfigInfo->SystemIoBusNumber, ConfigInfo->SlotNumber, pci,
                           sizeof(pci)) < 64)
        return VioFindAdapterFail("no PCI configuration space (is there a virtio-blk device on this adapter?)");
    if ((pci[0] | pci[1] << 8) != VIRTIO_PCI_VENDOR_ID || (pci[2] | pci[3] << 8) != VIRTIO_PCI_DEVICE_ID_BLK_MODERN)
        return VioFindAdapterFail("the PCI device is not a modern virtio-blk (vendor 0x1AF4, device 0x1042)");
    for (i = 0; i < 6; i++)
        barAddress[i] = 0;
    for (i = 0; i < 6; i++) {
        ULONG lo = VioLe32(&pci[0x10 + 4 * i]);
        if (lo & 1)
            continue; /* I/O BAR */
        barAddress[i] = lo & ~0xFull;
        if ((lo & 0x6) == 0x4 && i < 5) {
            barAddress[i] |= (ULONGLONG)VioLe32(&pci[0x10 + 4 * (i + 1)]) << 32;
            i++;
        }
    }
    memset(caps, 0, sizeof(caps));
    ext->Msix = FALSE;
    ptr = (pci[0x06] & 0x10) ? (UCHAR)(pci[0x34] & 0xFC) : 0;
    for (hops = 0; ptr >= 0x40 && hops < 48; hops++) {
        UCHAR id = pci[ptr];
        if (id == 0x09 && ptr + 16 <= 256) {
            UCHAR type = pci[ptr + 3];
            if (type >= 1 && type <= VIRTIO_PCI_CAP_PCI_CFG && !caps[type].Found) {
                caps[type].Found = TRUE;
                caps[type].Bar = pci[ptr + 4];
                caps[type].Offset = VioLe32(&pci[ptr + 8]);
                caps[type].Length = VioLe32(&pci[ptr + 12]);
                if (type == VIRTIO_PCI_CAP_NOTIFY_CFG && ptr + 20 <= 256)
                    notifyMultiplier = VioLe32(&pci[ptr + 16]);
            }
        } else if (id == 0x11 && ptr + 4 <= 256) {
            USHORT control = (USHORT)(pci[ptr + 2] | pci[ptr + 3] << 8);
            ext->Msix = (control & 0x8000) != 0;
            ext->MsixCount = (control & 0x7FF) + 1u;
        }
        ptr = (UCHAR)(pci[ptr + 1] & 0xFC);
    }
    if (!caps[VIRTIO_PCI_CAP_COMMON_CFG].Found || !caps[VIRTIO_PCI_CAP_NOTIFY_CFG].Found ||
        !caps[VIRTIO_PCI_CAP_ISR_CFG].Found || !caps[VIRTIO_PCI_CAP_DEVICE_CFG].Found)
        return VioFindAdapterFail("the device lacks a COMMON, NOTIFY, ISR or DEVICE virtio capability");
    for (i = VIRTIO_PCI_CAP_COMMON_CFG; i <= VIRTIO_PCI_CAP_DEVICE_CFG; i++)
        if (caps[i].Bar != caps[VIRTIO_PCI_CAP_COMMON_CFG].Bar)
            return VioFindAdapterFail("the virtio structures are spread over several BARs; this miniport maps one");

    /* ---- map the BAR holding them, from the access ranges ---- */
    {
        UCHAR bar = caps[VIRTIO_PCI_CAP_COMMON_CFG].Bar;
        if (bar >= 6 || barAddress[bar] == 0)
            return VioFindAdapterFail("the virtio capabilities name a BAR that is not programmed");
        for (i = 0; i < ConfigInfo->NumberOfAccessRanges; i++) {
            ACCESS_RANGE *r = &(*ConfigInfo->AccessRanges)[i];
            if ((ULONGLONG)r->RangeStart.QuadPart == barAddress[bar] && r->RangeInMemory) {
                bar4 = StorPortGetDeviceBase(ext, PCIBus, ConfigInfo->SystemIoBusNumber, r->RangeStart,
                                             r->RangeLength, FALSE);
                bar4Length = r->RangeLength;
                break;
            }
        }
        if (bar4 == NULL)
            return VioFindAdapterFail("no access range matches the virtio BAR, or it could not be mapped");
        for (i = VIRTIO_PCI_CAP_COMMON_CFG; i <= VIRTIO_PCI_CAP_DEVICE_CFG; i++)
            if (caps[i].Offset >= bar4Length || caps[i].Length > bar4Length - caps[i].Offset)
                return VioFindAdapterFail("a virtio capability points outside its BAR");
    }
    ext->Common = bar4 + caps[VIRTIO_PCI_CAP_COMMON_CFG].Offset;
    ext->IsrReg = bar4 + caps[VIRTIO_PCI_CAP_ISR_CFG].Offset;
    ext->DevCfg = bar4 + caps[VIRTIO_PCI_CAP_DEVICE_CFG].Offset;
    ext->NotifyBase = bar4 + caps[VIRTIO_PCI_CAP_NOTIFY_CFG].Offset;
    ext->NotifyMultiplier = notifyMultiplier;

    /* ---- features and device configuration ---- */
    ext->DeviceFeatures = VioReadDeviceFeatures(ext);
    want = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) | (1ull << VIRTIO_BLK_F_SEG_MAX) |
           (1ull << VIRTIO_BLK_F_SIZE_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH) |
           (1ull << VIRTIO_BLK_F_MQ) | (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES);
    ext->DriverFeatures = ext->DeviceFeatures & want;
    if (!(ext->DriverFeatures & (1ull << VIRTIO_F_VERSION_1)) ||
        !(ext->DriverFeatures & (1ull << VIRTIO_RING_F_INDIRECT_DESC)))
        return VioFindAdapterFail("the device does not offer VIRTIO_F_VERSION_1 and VIRTIO_RING_F_INDIRECT_DESC, "
                                  "which this miniport requires");
    ext->CapacitySectors = (ULONGLONG)VioRead32(ext, ext->DevCfg, VIRTIO_BLK_CFG_CAPACITY) |
                           (ULONGLONG)VioRead32(ext, ext->DevCfg, VIRTIO_BLK_CFG_CAPACITY + 4) << 32;
    ext->BlockSize = VioFeature(ext, VIRTIO_BLK_F_BLK_SIZE) ? VioRead32(ext, ext->DevCfg, VIRTIO_BLK_CFG_BLK_SIZE)
                                                            : VIRTIO_BLK_SECTOR_SIZE;
    if (ext->BlockSize != 512 && ext->BlockSize != 4096)
        ext->BlockSize = VIRTIO_BLK_SECTOR_SIZE; /* blk_size is advisory: fall back to sectors */
    ext->SectorsPerBlock = ext->BlockSize / VIRTIO_BLK_SECTOR_SIZE;
    ext->SegMax = VioFeature(ext, VIRTIO_BLK_F_SEG_MAX) ? VioRead32(ext, ext->DevCfg, VIRTIO_BLK_CFG_SEG_MAX)
                                                        : VIO_MAX_DATA_SEGS;
    ext->SizeMax = VioFeature(ext, VIRTIO_BLK_F_SIZE_MAX) ? VioRead32(ext, ext->DevCfg, VIRTIO_BLK_CFG_SIZE_MAX)
                                                          : VIO_MAX_TRANSFER;
    if (VioFeature(ext, VIRTIO_BLK_F_DISCARD)) {
        ext->MaxDiscardSectors = VioRead32(ext, ext->DevCfg, VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS);
        ext->MaxDiscardSeg = VioRead32(ext, ext->DevCfg, VIRTIO_BLK_CFG_MAX_DISCARD_SEG);
        ext->DiscardAlignment = VioRead32(ext, ext->DevCfg, VIRTIO_BLK_CFG_DISCARD_SECTOR_ALIGNMENT);
    }
    if (VioFeature(ext, VIRTIO_BLK_F_WRITE_ZEROES)) {
        ext->MaxWriteZeroesSectors = VioRead32(ext, ext->DevCfg, VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS);
        ext->MaxWriteZeroesSeg = VioRead32(ext, ext->DevCfg, VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG);
    }
    if (ext->DiscardAlignment == 0)
        ext->DiscardAlignment = 1;
    if (ext->MaxDiscardSectors == 0)
        ext->MaxDiscardSectors = ext->MaxWriteZeroesSectors;
    if (ext->MaxWriteZeroesSectors == 0)
        ext->MaxWriteZeroesSectors = ext->MaxDiscardSectors;
    if (ext->MaxDiscardSeg > VIO_MAX_RANGES)
        ext->MaxDiscardSeg = VIO_MAX_RANGES;
    if (ext->MaxWriteZeroesSeg > VIO_MAX_RANGES)
        ext->MaxWriteZeroesSeg = VIO_MAX_RANGES;
    ext->DeviceQueues = VioFeature(ext, VIRTIO_BLK_F_MQ) ? VioRead16(ext, ext->DevCfg, VIRTIO_BLK_CFG_NUM_QUEUES) : 1;
    if (ext->DeviceQueues == 0)
        ext->DeviceQueues = 1;
    if (!VioFeature(ext, VIRTIO_BLK_F_MQ))
        ext->DriverFeatures &= ~(1ull << VIRTIO_BLK_F_MQ);

    /* ---- queues and vectors ---- */
    wantQueues = ext->Config.Sync == VioSyncConcurrent ? ext->Config.Queues : 1;
    if (wantQueues > ext->DeviceQueues)
        wantQueues = ext->DeviceQueues;
    if (ext->Msix && wantQueues + 1 > ext->MsixCount)
        wantQueues = ext->MsixCount > 1 ? ext->MsixCount - 1 : 1;
    ext->NumQueues = wantQueues;
    ext->PerMessage = ext->Msix && ext->Config.Intr == VioIntrPerMessage;
    ext->HalfDuplex = ext->Config.Sync == VioSyncHalf;
    ext->ConfigVector = ext->Msix && ext->MsixCount > ext->NumQueues ? (USHORT)ext->NumQueues
                                                                     : (USHORT)VIRTIO_MSI_NO_VECTOR;
    VioWrite16(ext, ext->Common, VIRTIO_PCI_COMMON_Q_SELECT, 0);
    ext->QueueSize = VioRead16(ext, ext->Common, VIRTIO_PCI_COMMON_Q_SIZE);
    if (ext->QueueSize == 0 || (ext->QueueSize & (ext->QueueSize - 1)) != 0)
        return VioFindAdapterFail("queue 0 reports a size that is not a power of two");
    if (ext->QueueSize > VIO_MAX_QUEUE_SIZE)
        ext->QueueSize = VIO_MAX_QUEUE_SIZE;

    /* Rings and the GET_ID page in the uncached extension. */
    bytes = ext->NumQueues * VIO_QUEUE_BYTES + VIO_PAGE;
    ext->Uncached = StorPortGetUncachedExtension(ext, ConfigInfo, bytes);
    if (ext->Uncached == NULL)
        return VioFindAdapterFail("StorPortGetUncachedExtension could not provide the ring memory");
    {
        ULONG contiguous = 0;
        STOR_PHYSICAL_ADDRESS pa = StorPortGetPhysicalAddress(ext, NULL, ext->Uncached, &contiguous);
        if (pa.QuadPart == 0 || contiguous < bytes)
            return VioFindAdapterFail("the uncached extension is not physically contiguous");
        ext->UncachedPa = (ULONGLONG)pa.QuadPart;
        ext->UncachedLength = bytes;
    }
    for (i = 0; i < ext->NumQueues; i++) {
        PVIO_QUEUE q = &ext->Queues[i];
        ULONG base = i * VIO_QUEUE_BYTES;
        q->Index = i;
        q->Size = ext->QueueSize;
        q->Vector = ext->Msix ? (USHORT)i : (USHORT)VIRTIO_MSI_NO_VECTOR;
        q->Desc = (struct virtq_desc *)(ext->Uncached + base);
        q->Avail = ext->Uncached + base + VIO_PAGE;
        q->Used = ext->Uncached + base + 2 * VIO_PAGE;
        q->DescPa = ext->UncachedPa + base;
        q->AvailPa = ext->UncachedPa + base + VIO_PAGE;
        q->UsedPa = ext->UncachedPa + base + 2 * VIO_PAGE;
        VioWrite16(ext, ext->Common, VIRTIO_PCI_COMMON_Q_SELECT, (USHORT)i);
        q->NotifyOff = VioRead16(ext, ext->Common, VIRTIO_PCI_COMMON_Q_NOFF);
        if ((ULONG)q->NotifyOff * notifyMultiplier + 2 > caps[VIRTIO_PCI_CAP_NOTIFY_CFG].Length)
            return VioFindAdapterFail("a queue's doorbell lies outside the notification structure");
        q->Notify = (PUSHORT)(ext->NotifyBase + (ULONG)q->NotifyOff * notifyMultiplier);
        VioQueueClear(q);
    }

    /* ---- the disk ---- */
    ext->Geometry.BlockSize = ext->BlockSize;
    ext->Geometry.BlockCount = ext->CapacitySectors / ext->SectorsPerBlock;
    ext->Geometry.MaxTransferBlocks = VIO_MAX_TRANSFER / ext->BlockSize;
    ext->Geometry.MaxUnmapBlocks = ext->MaxDiscardSectors / ext->SectorsPerBlock;
    ext->Geometry.MaxUnmapDescriptors = ext->MaxDiscardSeg < ext->MaxWriteZeroesSeg ? ext->MaxDiscardSeg
                                                                                     : ext->MaxWriteZeroesSeg;
    ext->Geometry.MaxWriteSameBlocks = (ULONGLONG)(ext->MaxWriteZeroesSectors / ext->SectorsPerBlock) *
                                       ext->MaxWriteZeroesSeg;
    if (!VioFeature(ext, VIRTIO_BLK_F_WRITE_ZEROES) && !VioFeature(ext, VIRTIO_BLK_F_DISCARD)) {
        ext->Geometry.MaxUnmapBlocks = 0;
        ext->Geometry.MaxUnmapDescriptors = 0;
        ext->Geometry.MaxWriteSameBlocks = 0;
    }
    ext->Geometry.WriteProtected = FALSE;
    /* FLUSH offered: the device may cache writes, so the host must send
     * SYNCHRONIZE CACHE. */
    ext->Geometry.WriteCacheEnabled = VioFeature(ext, VIRTIO_BLK_F_FLUSH);
    ext->NaaId = (1ull << 34) | (((ULONGLONG)ext->AdapterNumber << 8) & 0x3FFFFFFFFull);
    snprintf(ext->Serial, sizeof(ext->Serial), "VIRTIO%08lX", (unsigned long)ext->AdapterNumber);

    /* ---- what the port needs to know ---- */
    {
        ULONG segs = VIO_MAX_DATA_SEGS;
        if (ext->SegMax != 0 && ext->SegMax < segs)
            segs = ext->SegMax;
        ConfigInfo->MaximumTransferLength = VIO_MAX_TRANSFER;
        if (ext->SizeMax != 0 && (ULONGLONG)ext->SizeMax * segs < VIO_MAX_TRANSFER)
            ConfigInfo->MaximumTransferLength = ext->SizeMax * segs;
        ConfigInfo->NumberOfPhysicalBreaks = segs - 1;
    }
    ConfigInfo->AlignmentMask = 0;
    ConfigInfo->NumberOfBuses = 1;
    ConfigInfo->InitiatorBusId[0] = 1;
    ConfigInfo->MaximumNumberOfTargets = 1;
    ConfigInfo->MaximumNumberOfLogicalUnits = 1;
    ConfigInfo->ScatterGather = TRUE;
    ConfigInfo->Master = TRUE;
    ConfigInfo->CachesData = VioFeature(ext, VIRTIO_BLK_F_FLUSH);
    ConfigInfo->MapBuffers = STOR_MAP_NON_READ_WRITE_BUFFERS;
    ConfigInfo->NeedPhysicalAddresses = TRUE;
    ConfigInfo->TaggedQueuing = TRUE;
    ConfigInfo->AutoRequestSense = TRUE;
    ConfigInfo->MultipleRequestPerLu = TRUE;
    ConfigInfo->Dma32BitAddresses = TRUE;
    ConfigInfo->Dma64BitAddresses = SCSI_DMA64_MINIPORT_FULL64BIT_SUPPORTED;
    ConfigInfo->SrbExtensionSize = sizeof(VIO_REQUEST);
    ConfigInfo->SrbType = SRB_TYPE_STORAGE_REQUEST_BLOCK;
    ConfigInfo->AddressType = STORAGE_ADDRESS_TYPE_BTL8;
    ConfigInfo->VirtualDevice = FALSE;
    ConfigInfo->SynchronizationModel = ext->HalfDuplex ? StorSynchronizeHalfDuplex : StorSynchronizeFullDuplex;
    ConfigInfo->InterruptSynchronizationMode = ext->PerMessage ? InterruptSynchronizePerMessage
                                                               : InterruptSynchronizeAll;
    ConfigInfo->HwMSInterruptRoutine = ext->Msix ? VioHwMsiInterrupt : NULL;
    return SP_RETURN_FOUND;
}

/* Renamed <name>_DriverEntry by a compile definition when linked into a
 * program (miniports/CMakeLists.txt). */
__attribute__((visibility("default")))
NTSTATUS DriverEntry(PVOID DriverObject, PVOID RegistryPath);

__attribute__((visibility("default")))
NTSTATUS DriverEntry(PVOID DriverObject, PVOID RegistryPath)
{
    HW_INITIALIZATION_DATA init;

    memset(&init, 0, sizeof(init));
    init.HwInitializationDataSize = sizeof(init);
    init.AdapterInterfaceType = PCIBus;
    init.HwFindAdapter = (PVOID)VioHwFindAdapter;
    init.HwInitialize = VioHwInitialize;
    init.HwStartIo = VioHwStartIo;
    init.HwBuildIo = VioHwBuildIo;
    init.HwInterrupt = VioHwInterrupt;
    init.HwResetBus = VioHwResetBus;
    init.HwAdapterControl = VioHwAdapterControl;
    init.DeviceExtensionSize = sizeof(VIO_EXTENSION);
    init.SpecificLuExtensionSize = 0;
    init.SrbExtensionSize = sizeof(VIO_REQUEST);
    init.NumberOfAccessRanges = 2;
    init.MapBuffers = STOR_MAP_NON_READ_WRITE_BUFFERS;
    init.NeedPhysicalAddresses = TRUE;
    init.TaggedQueuing = TRUE;
    init.AutoRequestSense = TRUE;
    init.MultipleRequestPerLu = TRUE;
    init.SrbTypeFlags = SRB_TYPE_FLAG_STORAGE_REQUEST_BLOCK;
    init.AddressTypeFlags = ADDRESS_TYPE_FLAG_BTL8;
    return (NTSTATUS)StorPortInitialize(DriverObject, RegistryPath, (PHW_INITIALIZATION_DATA)&init, NULL);
}
