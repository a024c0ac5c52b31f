/*
 * minimal.c - the smallest useful third-party Storport miniport: a virtual
 * RAM disk with one target and 1..8 LUNs, written only against the WDK
 * interface (<storport.h>), built outside the ustorport tree with
 * `pkg-config --cflags --libs ustorport` and run with
 *
 *     ustor run --miniport ./libexample.so
 *
 * It answers TEST UNIT READY, INQUIRY (standard data only), READ CAPACITY
 * (10), READ (10) and WRITE (10); everything else gets CHECK CONDITION
 * with ILLEGAL REQUEST sense, which is how a real disk says "not
 * supported".  Parameters come in HwFindAdapter's ArgumentString as
 * "luns=N;size=BYTES" (unknown keys are ignored).
 */
#include <storport.h>

#include <stdlib.h>
#include <string.h>

#define EXAMPLE_TAG 0x4c504d58 /* "XMPL" */
#define EXAMPLE_MAX_LUNS 8
#define EXAMPLE_BLOCK 512u
#define EXAMPLE_DEFAULT_SIZE (16u << 20)

typedef struct _EXAMPLE_EXTENSION {
    ULONG Luns;
    ULONGLONG LunBytes;
    PUCHAR Disk[EXAMPLE_MAX_LUNS];
} EXAMPLE_EXTENSION, *PEXAMPLE_EXTENSION;

/* "size=64M" style values: digits with an optional K/M/G suffix. */
static ULONGLONG ExampleParseSize(const char *s, size_t len)
{
    ULONGLONG v = 0;
    size_t i = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
        v = v * 10 + (ULONGLONG)(s[i] - '0');
    if (i < len) {
        switch (s[i]) {
        case 'k': case 'K': v <<= 10; break;
        case 'm': case 'M': v <<= 20; break;
        case 'g': case 'G': v <<= 30; break;
        default: break;
        }
    }
    return v;
}

static void ExampleParseArguments(PEXAMPLE_EXTENSION Ext, const char *Args)
{
    while (Args && *Args) {
        size_t len = strcspn(Args, ";");
        const char *eq = memchr(Args, '=', len);
        if (eq) {
            size_t klen = (size_t)(eq - Args);
            const char *val = eq + 1;
            size_t vlen = len - klen - 1;
            if (klen == 4 && memcmp(Args, "luns", 4) == 0)
                Ext->Luns = (ULONG)ExampleParseSize(val, vlen);
            else if (klen == 4 && memcmp(Args, "size", 4) == 0)
                Ext->LunBytes = ExampleParseSize(val, vlen);
        }
        Args += len;
        if (*Args == ';')
            Args++;
    }
}

static ULONG ExampleFindAdapter(PVOID DeviceExtension, PVOID HwContext, PVOID BusInformation,
                                PVOID LowerDevice, PCHAR ArgumentString,
                                PPORT_CONFIGURATION_INFORMATION ConfigInfo, PBOOLEAN Again)
{
    PEXAMPLE_EXTENSION ext = DeviceExtension;
    (void)HwContext;
    (void)BusInformation;
    (void)LowerDevice;
    (void)Again;
    ext->Luns = 1;
    ext->LunBytes = EXAMPLE_DEFAULT_SIZE;
    ExampleParseArguments(ext, ArgumentString);
    if (ext->Luns < 1 || ext->Luns > EXAMPLE_MAX_LUNS || ext->LunBytes < EXAMPLE_BLOCK ||
        ext->LunBytes % EXAMPLE_BLOCK || ext->LunBytes > 0xFFFFFFFFull) {
        StorPortDebugPrint(0, "example: luns must be 1..8 and size a multiple of 512 below 4G\n");
        return SP_RETURN_BAD_CONFIG;
    }
    for (ULONG i = 0; i < ext->Luns; i++) {
        PVOID p = NULL;
        if (StorPortAllocatePool(ext, (ULONG)ext->LunBytes, EXAMPLE_TAG, &p) != STOR_STATUS_SUCCESS || !p)
            return SP_RETURN_ERROR;
        memset(p, 0, (size_t)ext->LunBytes);
        ext->Disk[i] = p;
    }
    ConfigInfo->MaximumTransferLength = 1u << 20;
    ConfigInfo->NumberOfPhysicalBreaks = 256;
    ConfigInfo->NumberOfBuses = 1;
    ConfigInfo->MaximumNumberOfTargets = 1;
    ConfigInfo->MaximumNumberOfLogicalUnits = (UCHAR)ext->Luns;
    ConfigInfo->ScatterGather = TRUE;
    ConfigInfo->Master = TRUE;
    ConfigInfo->CachesData = FALSE;
    ConfigInfo->MapBuffers = STOR_MAP_ALL_BUFFERS_INCLUDING_READ_WRITE;
    ConfigInfo->VirtualDevice = TRUE;
    return SP_RETURN_FOUND;
}

static BOOLEAN ExampleInitialize(PVOID DeviceExtension)
{
    (void)DeviceExtension;
    return TRUE;
}

static BOOLEAN ExampleBuildIo(PVOID DeviceExtension, PSCSI_REQUEST_BLOCK Srb)
{
    (void)DeviceExtension;
    (void)Srb;
    return TRUE;
}

/* CHECK CONDITION with fixed-format sense. */
static void ExampleFail(PSCSI_REQUEST_BLOCK Srb, UCHAR Key, UCHAR Asc)
{
    Srb->ScsiStatus = SCSISTAT_CHECK_CONDITION;
    Srb->SrbStatus = SRB_STATUS_ERROR;
    Srb->DataTransferLength = 0;
    if (Srb->SenseInfoBuffer && Srb->SenseInfoBufferLength >= 14) {
        PSENSE_DATA sense = Srb->SenseInfoBuffer;
        memset(sense, 0, Srb->SenseInfoBufferLength);
        sense->ErrorCode = SCSI_SENSE_ERRORCODE_FIXED_CURRENT;
        sense->SenseKey = Key;
        sense->AdditionalSenseLength = 10;
        sense->AdditionalSenseCode = Asc;
        Srb->SrbStatus |= SRB_STATUS_AUTOSENSE_VALID;
    }
}

static ULONG ExampleBe32(const UCHAR *p)
{
    return (ULONG)p[0] << 24 | (ULONG)p[1] << 16 | (ULONG)p[2] << 8 | p[3];
}

static void ExamplePutBe32(UCHAR *p, ULONG v)
{
    p[0] = (UCHAR)(v >> 24);
    p[1] = (UCHAR)(v >> 16);
    p[2] = (UCHAR)(v >> 8);
    p[3] = (UCHAR)v;
}

static void ExampleExecute(PEXAMPLE_EXTENSION Ext, PSCSI_REQUEST_BLOCK Srb)
{
    const UCHAR *cdb = Srb->Cdb;
    PUCHAR data = Srb->DataBuffer;
    ULONG len = Srb->DataTransferLength;
    ULONGLONG blocks = Ext->LunBytes / EXAMPLE_BLOCK;
    Srb->ScsiStatus = SCSISTAT_GOOD;
    Srb->SrbStatus = SRB_STATUS_SUCCESS;

    switch (cdb[0]) {
    case SCSIOP_TEST_UNIT_READY:
        return;
    case SCSIOP_INQUIRY: {
        if (cdb[1] & 1) { /* EVPD: no vital product data pages */
            ExampleFail(Srb, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_INVALID_CDB);
            return;
        }
        UCHAR inq[36];
        memset(inq, 0, sizeof(inq));
        inq[0] = 0x00;  /* direct-access block device */
        inq[2] = 0x05;  /* SPC-3 */
        inq[3] = 0x02;  /* response data format */
        inq[4] = sizeof(inq) - 5;
        inq[7] = 0x02;  /* CmdQue */
        memcpy(inq + 8, "EXAMPLE ", 8);
        memcpy(inq + 16, "Minimal RAM disk", 16);
        memcpy(inq + 32, "0001", 4);
        ULONG n = len < sizeof(inq) ? len : (ULONG)sizeof(inq);
        memcpy(data, inq, n);
        Srb->DataTransferLength = n;
        return;
    }
    case SCSIOP_READ_CAPACITY: {
        UCHAR cap[8];
        ULONGLONG last = blocks - 1;
        ExamplePutBe32(cap, last > 0xFFFFFFFFull ? 0xFFFFFFFFu : (ULONG)last);
        ExamplePutBe32(cap + 4, EXAMPLE_BLOCK);
        ULONG n = len < sizeof(cap) ? len : (ULONG)sizeof(cap);
        memcpy(data, cap, n);
        Srb->DataTransferLength = n;
        return;
    }
    case SCSIOP_READ:
    case SCSIOP_WRITE: {
        ULONG lba = ExampleBe32(cdb + 2);
        ULONG count = (ULONG)cdb[7] << 8 | cdb[8];
        if ((ULONGLONG)lba + count > blocks) {
            ExampleFail(Srb, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_ILLEGAL_BLOCK);
            return;
        }
        ULONGLONG bytes = (ULONGLONG)count * EXAMPLE_BLOCK;
        if (bytes > len) {
            ExampleFail(Srb, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_INVALID_CDB);
            return;
        }
        PUCHAR disk = Ext->Disk[Srb->Lun] + (ULONGLONG)lba * EXAMPLE_BLOCK;
        if (cdb[0] == SCSIOP_READ)
            memcpy(data, disk, (size_t)bytes);
        else
            memcpy(disk, data, (size_t)bytes);
        Srb->DataTransferLength = (ULONG)bytes;
        return;
    }
    default:
        ExampleFail(Srb, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_ILLEGAL_COMMAND);
        return;
    }
}

/* A virtual miniport's StartIo runs without a port lock; the disk needs
 * none because the host never overlaps a read and a write of one block. */
static BOOLEAN ExampleStartIo(PVOID DeviceExtension, PSCSI_REQUEST_BLOCK Srb)
{
    PEXAMPLE_EXTENSION ext = DeviceExtension;
    switch (Srb->Function) {
    case SRB_FUNCTION_EXECUTE_SCSI:
        if (Srb->PathId != 0 || Srb->TargetId != 0 || Srb->Lun >= ext->Luns)
            Srb->SrbStatus = SRB_STATUS_INVALID_LUN;
        else
            ExampleExecute(ext, Srb);
        break;
    case SRB_FUNCTION_RESET_BUS:
    case SRB_FUNCTION_RESET_DEVICE:
    case SRB_FUNCTION_RESET_LOGICAL_UNIT:
        Srb->SrbStatus = SRB_STATUS_SUCCESS;
        break;
    default:
        Srb->SrbStatus = SRB_STATUS_INVALID_REQUEST;
        break;
    }
    StorPortNotification(RequestComplete, DeviceExtension, Srb);
    return TRUE;
}

static BOOLEAN ExampleResetBus(PVOID DeviceExtension, ULONG PathId)
{
    (void)DeviceExtension;
    (void)PathId;
    return TRUE; /* every request completes inside StartIo: nothing to abort */
}

static SCSI_ADAPTER_CONTROL_STATUS ExampleAdapterControl(PVOID DeviceExtension,
                                                         SCSI_ADAPTER_CONTROL_TYPE ControlType,
                                                         PVOID Parameters)
{
    (void)DeviceExtension;
    switch (ControlType) {
    case ScsiQuerySupportedControlTypes: {
        PSCSI_SUPPORTED_CONTROL_TYPE_LIST list = Parameters;
        static const SCSI_ADAPTER_CONTROL_TYPE supported[] = {
            ScsiQuerySupportedControlTypes, ScsiStopAdapter, ScsiRestartAdapter,
        };
        for (size_t i = 0; i < sizeof(supported) / sizeof(supported[0]); i++)
            if ((ULONG)supported[i] < list->MaxControlType)
                list->SupportedTypeList[supported[i]] = TRUE;
        return ScsiAdapterControlSuccess;
    }
    case ScsiStopAdapter:   /* the disk survives a stop so a restart keeps the data */
    case ScsiRestartAdapter:
        return ScsiAdapterControlSuccess;
    default:
        return ScsiAdapterControlUnsuccessful;
    }
}

/* The last call a virtual adapter gets: give the disk back. */
static VOID ExampleFreeAdapterResources(PVOID DeviceExtension)
{
    PEXAMPLE_EXTENSION ext = DeviceExtension;
    for (ULONG i = 0; i < EXAMPLE_MAX_LUNS; i++) {
        if (ext->Disk[i])
            StorPortFreePool(ext, ext->Disk[i]);
        ext->Disk[i] = NULL;
    }
}

ULONG DriverEntry(PVOID DriverObject, PVOID RegistryPath)
{
    VIRTUAL_HW_INITIALIZATION_DATA init;
    memset(&init, 0, sizeof(init));
    init.HwInitializationDataSize = sizeof(init);
    init.AdapterInterfaceType = Internal;
    init.HwFindAdapter = ExampleFindAdapter;
    init.HwInitialize = ExampleInitialize;
    init.HwBuildIo = ExampleBuildIo;
    init.HwStartIo = ExampleStartIo;
    init.HwResetBus = ExampleResetBus;
    init.HwAdapterControl = ExampleAdapterControl;
    init.HwFreeAdapterResources = ExampleFreeAdapterResources;
    init.DeviceExtensionSize = sizeof(EXAMPLE_EXTENSION);
    init.TaggedQueuing = TRUE;
    init.AutoRequestSense = TRUE;
    init.MultipleRequestPerLu = TRUE;
    return StorPortInitialize(DriverObject, RegistryPath, (PHW_INITIALIZATION_DATA)&init, NULL);
}
