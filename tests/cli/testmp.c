/*
 * testmp.c - deliberately broken miniports for the ustor CLI tests, one
 * shared object per TESTMP_* mode (tests/cli/CMakeLists.txt):
 *   TESTMP_CORRUPT   virtual RAM disk that flips a byte of every read
 *   TESTMP_CRASH     virtual; dereferences NULL in HwStorStartIo on I/O
 *   TESTMP_HANG      virtual; never completes READ/WRITE
 *   TESTMP_BADLOCK   physical full duplex; takes the StartIo lock inside
 *                    HwStorStartIo, which the port already holds (S4.4)
 *   TESTMP_NOTFOUND  HwStorFindAdapter returns SP_RETURN_NOT_FOUND
 * The disk is a static buffer (at most 4 MiB, LUN 0 only) so that no mode
 * leaks pool and the only failure is the one meant.
 */
#include <storport.h>

#include <string.h>

#define TESTMP_BLOCK 512u
#define TESTMP_MAX_BYTES (4u << 20)

static UCHAR testmp_disk[TESTMP_MAX_BYTES];
#ifdef TESTMP_CRASH
static volatile int *testmp_null;
#endif

typedef struct _TESTMP_EXTENSION {
    ULONG Blocks;
} TESTMP_EXTENSION, *PTESTMP_EXTENSION;

static void TestmpSetup(PTESTMP_EXTENSION Ext, const char *Args, PPORT_CONFIGURATION_INFORMATION Ci)
{
    ULONGLONG size = 1u << 20;
    const char *p = Args ? strstr(Args, "size=") : NULL;
    if (p) {
        size = 0;
        for (p += 5; *p >= '0' && *p <= '9'; p++)
            size = size * 10 + (ULONGLONG)(*p - '0');
        if (*p == 'k' || *p == 'K')
            size <<= 10;
        else if (*p == 'm' || *p == 'M')
            size <<= 20;
    }
    if (size > TESTMP_MAX_BYTES || size < TESTMP_BLOCK)
        size = TESTMP_MAX_BYTES;
    Ext->Blocks = (ULONG)(size / TESTMP_BLOCK);
    Ci->MaximumTransferLength = 1u << 20;
    Ci->NumberOfPhysicalBreaks = 256;
    Ci->NumberOfBuses = 1;
    Ci->MaximumNumberOfTargets = 1;
    Ci->MaximumNumberOfLogicalUnits = 1;
    Ci->MapBuffers = STOR_MAP_ALL_BUFFERS_INCLUDING_READ_WRITE;
    Ci->SynchronizationModel = StorSynchronizeFullDuplex;
}

#ifdef TESTMP_BADLOCK
static ULONG TestmpFindAdapter(PVOID DeviceExtension, PVOID HwContext, PVOID BusInformation,
                               PCHAR ArgumentString, PPORT_CONFIGURATION_INFORMATION ConfigInfo,
                               PBOOLEAN Reserved3)
{
    (void)HwContext;
    (void)BusInformation;
    (void)Reserved3;
    TestmpSetup(DeviceExtension, ArgumentString, ConfigInfo);
    return SP_RETURN_FOUND;
}

static BOOLEAN TestmpInterrupt(PVOID DeviceExtension)
{
    (void)DeviceExtension;
    return FALSE; /* no device, never ours */
}
#else
static ULONG TestmpFindAdapter(PVOID DeviceExtension, PVOID HwContext, PVOID BusInformation,
                               PVOID LowerDevice, PCHAR ArgumentString,
                               PPORT_CONFIGURATION_INFORMATION ConfigInfo, PBOOLEAN Again)
{
    (void)HwContext;
    (void)BusInformation;
    (void)LowerDevice;
    (void)Again;
    TestmpSetup(DeviceExtension, ArgumentString, ConfigInfo);
#ifdef TESTMP_NOTFOUND
    return SP_RETURN_NOT_FOUND;
#else
    ConfigInfo->VirtualDevice = TRUE;
    return SP_RETURN_FOUND;
#endif
}
#endif

static BOOLEAN TestmpInitialize(PVOID DeviceExtension)
{
    (void)DeviceExtension;
    return TRUE;
}

static BOOLEAN TestmpBuildIo(PVOID DeviceExtension, PSCSI_REQUEST_BLOCK Srb)
{
    (void)DeviceExtension;
    (void)Srb;
    return TRUE;
}

static void TestmpPut32(UCHAR *p, ULONG v)
{
    p[0] = (UCHAR)(v >> 24);
    p[1] = (UCHAR)(v >> 16);
    p[2] = (UCHAR)(v >> 8);
    p[3] = (UCHAR)v;
}

static void TestmpSense(PSCSI_REQUEST_BLOCK Srb, UCHAR Key, UCHAR Asc)
{
    Srb->ScsiStatus = SCSISTAT_CHECK_CONDITION;
    Srb->SrbStatus = SRB_STATUS_ERROR;
    Srb->DataTransferLength = 0;
    if (Srb->SenseInfoBuffer && Srb->SenseInfoBufferLength >= 14) {
        PSENSE_DATA s = Srb->SenseInfoBuffer;
        memset(s, 0, Srb->SenseInfoBufferLength);
        s->ErrorCode = SCSI_SENSE_ERRORCODE_FIXED_CURRENT;
        s->SenseKey = Key;
        s->AdditionalSenseLength = 10;
        s->AdditionalSenseCode = Asc;
        Srb->SrbStatus |= SRB_STATUS_AUTOSENSE_VALID;
    }
}

/* Returns FALSE when the request must not be completed (hang mode). */
static BOOLEAN TestmpExecute(PTESTMP_EXTENSION Ext, PSCSI_REQUEST_BLOCK Srb)
{
    const UCHAR *cdb = Srb->Cdb;
    PUCHAR data = Srb->DataBuffer;
    ULONG len = Srb->DataTransferLength;
    Srb->SrbStatus = SRB_STATUS_SUCCESS;
    Srb->ScsiStatus = SCSISTAT_GOOD;
    if (Srb->Lun != 0) {
        Srb->SrbStatus = SRB_STATUS_INVALID_LUN;
        return TRUE;
    }
    switch (cdb[0]) {
    case SCSIOP_TEST_UNIT_READY:
        return TRUE;
    case SCSIOP_INQUIRY: {
        if (cdb[1] & 1) {
            TestmpSense(Srb, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_INVALID_CDB);
            return TRUE;
        }
        UCHAR inq[36] = { 0x00, 0x00, 0x05, 0x02, 31, 0, 0, 0x02 };
        memcpy(inq + 8, "USTORTST", 8);
        memcpy(inq + 16, "broken miniport ", 16);
        memcpy(inq + 32, "0001", 4);
        ULONG n = len < sizeof(inq) ? len : (ULONG)sizeof(inq);
        memcpy(data, inq, n);
        Srb->DataTransferLength = n;
        return TRUE;
    }
    case SCSIOP_READ_CAPACITY: {
        UCHAR cap[8];
        TestmpPut32(cap, Ext->Blocks - 1);
        TestmpPut32(cap + 4, TESTMP_BLOCK);
        ULONG n = len < sizeof(cap) ? len : (ULONG)sizeof(cap);
        memcpy(data, cap, n);
        Srb->DataTransferLength = n;
        return TRUE;
    }
    case SCSIOP_READ:
    case SCSIOP_WRITE: {
#ifdef TESTMP_CRASH
        *testmp_null = 1; /* the bug under test */
#endif
#ifdef TESTMP_HANG
        return FALSE;
#endif
        ULONG lba = (ULONG)cdb[2] << 24 | (ULONG)cdb[3] << 16 | (ULONG)cdb[4] << 8 | cdb[5];
        ULONG count = (ULONG)cdb[7] << 8 | cdb[8];
        if ((ULONGLONG)lba + count > Ext->Blocks || (ULONGLONG)count * TESTMP_BLOCK > len) {
            TestmpSense(Srb, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_ILLEGAL_BLOCK);
            return TRUE;
        }
        size_t off = (size_t)lba * TESTMP_BLOCK, bytes = (size_t)count * TESTMP_BLOCK;
        if (cdb[0] == SCSIOP_READ) {
            memcpy(data, testmp_disk + off, bytes);
#ifdef TESTMP_CORRUPT
            data[bytes / 2] ^= 0x40;
#endif
        } else {
            memcpy(testmp_disk + off, data, bytes);
        }
        Srb->DataTransferLength = (ULONG)bytes;
        return TRUE;
    }
    default:
        TestmpSense(Srb, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_ILLEGAL_COMMAND);
        return TRUE;
    }
}

static BOOLEAN TestmpStartIo(PVOID DeviceExtension, PSCSI_REQUEST_BLOCK Srb)
{
#ifdef TESTMP_BADLOCK
    /* Full duplex: the port called us holding the StartIo lock already. */
    STOR_LOCK_HANDLE h;
    memset(&h, 0, sizeof(h));
    StorPortAcquireSpinLock(DeviceExtension, StartIoLock, NULL, &h);
    StorPortReleaseSpinLock(DeviceExtension, &h);
#endif
    BOOLEAN complete = TRUE;
    if (Srb->Function == SRB_FUNCTION_EXECUTE_SCSI)
        complete = TestmpExecute(DeviceExtension, Srb);
    else
        Srb->SrbStatus = SRB_STATUS_SUCCESS;
    if (complete)
        StorPortNotification(RequestComplete, DeviceExtension, Srb);
    return TRUE;
}

static BOOLEAN TestmpResetBus(PVOID DeviceExtension, ULONG PathId)
{
    (void)DeviceExtension;
    (void)PathId;
    return TRUE;
}

static SCSI_ADAPTER_CONTROL_STATUS TestmpAdapterControl(PVOID DeviceExtension,
                                                        SCSI_ADAPTER_CONTROL_TYPE ControlType,
                                                        PVOID Parameters)
{
    (void)DeviceExtension;
    if (ControlType == ScsiQuerySupportedControlTypes) {
        PSCSI_SUPPORTED_CONTROL_TYPE_LIST list = Parameters;
        if (list->MaxControlType > ScsiStopAdapter)
            list->SupportedTypeList[ScsiStopAdapter] = TRUE;
        list->SupportedTypeList[ScsiQuerySupportedControlTypes] = TRUE;
        return ScsiAdapterControlSuccess;
    }
    return ControlType == ScsiStopAdapter ? ScsiAdapterControlSuccess : ScsiAdapterControlUnsuccessful;
}

ULONG DriverEntry(PVOID DriverObject, PVOID RegistryPath)
{
#ifdef TESTMP_BADLOCK
    HW_INITIALIZATION_DATA init;
    memset(&init, 0, sizeof(init));
    init.HwInitializationDataSize = sizeof(init);
    init.AdapterInterfaceType = PCIBus;
    init.HwFindAdapter = (PVOID)TestmpFindAdapter;
    init.HwInterrupt = TestmpInterrupt;
#else
    VIRTUAL_HW_INITIALIZATION_DATA init;
    memset(&init, 0, sizeof(init));
    init.HwInitializationDataSize = sizeof(init);
    init.AdapterInterfaceType = Internal;
    init.HwFindAdapter = TestmpFindAdapter;
#endif
    init.HwInitialize = TestmpInitialize;
    init.HwBuildIo = TestmpBuildIo;
    init.HwStartIo = TestmpStartIo;
    init.HwResetBus = TestmpResetBus;
    init.HwAdapterControl = TestmpAdapterControl;
    init.DeviceExtensionSize = sizeof(TESTMP_EXTENSION);
    init.TaggedQueuing = TRUE;
    init.AutoRequestSense = TRUE;
    init.MultipleRequestPerLu = TRUE;
    return StorPortInitialize(DriverObject, RegistryPath, (PHW_INITIALIZATION_DATA)&init, NULL);
}
