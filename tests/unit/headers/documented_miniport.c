/*
 * documented_miniport.c - a small physical Storport miniport written only
 * against documented WDK names (storport.h, srbhelper.h, scsi.h, SAL).
 * It is compiled, never run: if it stops compiling unchanged with
 * -I include -Wall -Wextra -Werror, the headers have drifted from the
 * interface real miniport source expects.
 */
#include <storport.h>
#include <srbhelper.h>

/* Pool tag "Demo" as a number: gcc warns (-Wmultichar) on 'omeD'. */
#define DEMO_TAG 0x6F6D6544u
#define DEMO_BLOCK_SIZE 512
#define DEMO_BLOCKS 2048
#define DEMO_REG_DOORBELL 0x10
#define DEMO_REG_STATUS 0x14

typedef struct _DEMO_REQUEST {
    PVOID Srb;
    ULONG Tag;
} DEMO_REQUEST, *PDEMO_REQUEST;

typedef struct _DEMO_EXTENSION {
    PUCHAR Registers;
    PVOID Uncached;
    STOR_PHYSICAL_ADDRESS UncachedPhysical;
    STOR_DPC CompletionDpc;
    ULONG Outstanding;
    BOOLEAN Ready;
    PVOID Scratch;
    UCHAR Disk[DEMO_BLOCKS * DEMO_BLOCK_SIZE / 64];
} DEMO_EXTENSION, *PDEMO_EXTENSION;

sp_DRIVER_INITIALIZE DriverEntry;
HW_FIND_ADAPTER DemoFindAdapter;
HW_INITIALIZE DemoInitialize;
HW_PASSIVE_INITIALIZE_ROUTINE DemoPassiveInitialize;
HW_BUILDIO DemoBuildIo;
HW_STARTIO DemoStartIo;
HW_INTERRUPT DemoInterrupt;
HW_MESSAGE_SIGNALED_INTERRUPT_ROUTINE DemoMsiInterrupt;
HW_DPC_ROUTINE DemoCompletionDpc;
HW_TIMER DemoTimer;
HW_RESET_BUS DemoResetBus;
HW_ADAPTER_CONTROL DemoAdapterControl;
HW_UNIT_CONTROL DemoUnitControl;
HW_TRACING_ENABLED DemoTracingEnabled;
HW_FREE_ADAPTER_RESOURCES DemoFreeAdapterResources;
STOR_SYNCHRONIZED_ACCESS DemoRingDoorbell;

_Use_decl_annotations_
ULONG DriverEntry(PVOID DriverObject, PVOID RegistryPath)
{
    HW_INITIALIZATION_DATA init;

    RtlZeroMemory(&init, sizeof(init));
    init.HwInitializationDataSize = sizeof(HW_INITIALIZATION_DATA);
    init.AdapterInterfaceType = PCIBus;
    init.HwFindAdapter = DemoFindAdapter;
    init.HwInitialize = DemoInitialize;
    init.HwStartIo = DemoStartIo;
    init.HwBuildIo = DemoBuildIo;
    init.HwInterrupt = DemoInterrupt;
    init.HwResetBus = DemoResetBus;
    init.HwAdapterControl = DemoAdapterControl;
    init.HwUnitControl = DemoUnitControl;
    init.HwTracingEnabled = DemoTracingEnabled;
    init.HwFreeAdapterResources = DemoFreeAdapterResources;
    init.DeviceExtensionSize = sizeof(DEMO_EXTENSION);
    init.SpecificLuExtensionSize = 0;
    init.SrbExtensionSize = sizeof(DEMO_REQUEST);
    init.NumberOfAccessRanges = 1;
    init.MapBuffers = STOR_MAP_NON_READ_WRITE_BUFFERS;
    init.TaggedQueuing = TRUE;
    init.AutoRequestSense = TRUE;
    init.MultipleRequestPerLu = TRUE;
    init.NeedPhysicalAddresses = TRUE;
    init.SrbTypeFlags = SRB_TYPE_FLAG_STORAGE_REQUEST_BLOCK;
    init.AddressTypeFlags = ADDRESS_TYPE_FLAG_BTL8;
    init.FeatureSupport = STOR_FEATURE_FULL_PNP_DEVICE_CAPABILITIES;

    return StorPortInitialize(DriverObject, RegistryPath, &init, NULL);
}

_Use_decl_annotations_
ULONG DemoFindAdapter(PVOID DeviceExtension, PVOID HwContext, PVOID BusInformation,
                      PCHAR ArgumentString, PPORT_CONFIGURATION_INFORMATION ConfigInfo,
                      PBOOLEAN Reserved3)
{
    PDEMO_EXTENSION ext = (PDEMO_EXTENSION)DeviceExtension;
    PACCESS_RANGE range = &(*ConfigInfo->AccessRanges)[0];
    PCI_COMMON_CONFIG pci;
    ULONG length;

    UNREFERENCED_PARAMETER(HwContext);
    UNREFERENCED_PARAMETER(BusInformation);
    UNREFERENCED_PARAMETER(Reserved3);

    if (ArgumentString != NULL) {
        StorPortDebugPrint(DPFLTR_INFO_LEVEL, "demo: parameters %s\n", ArgumentString);
    }
    length = StorPortGetBusData(ext, PCIConfiguration, ConfigInfo->SystemIoBusNumber,
                                ConfigInfo->SlotNumber, &pci, sizeof(pci));
    if (length < sizeof(PCI_COMMON_HEADER)) {
        return SP_RETURN_NOT_FOUND;
    }
    if (!range->RangeInMemory || range->RangeLength < 0x100) {
        return SP_RETURN_BAD_CONFIG;
    }
    ext->Registers = (PUCHAR)StorPortGetDeviceBase(ext, ConfigInfo->AdapterInterfaceType,
                                                   ConfigInfo->SystemIoBusNumber,
                                                   range->RangeStart, range->RangeLength,
                                                   (BOOLEAN)!range->RangeInMemory);
    if (ext->Registers == NULL) {
        return SP_RETURN_ERROR;
    }

    ConfigInfo->MaximumTransferLength = 128 * 1024;
    ConfigInfo->NumberOfPhysicalBreaks = 32;
    ConfigInfo->AlignmentMask = 0x3;
    ConfigInfo->ScatterGather = TRUE;
    ConfigInfo->Master = TRUE;
    ConfigInfo->CachesData = FALSE;
    ConfigInfo->Dma64BitAddresses = SCSI_DMA64_MINIPORT_SUPPORTED;
    ConfigInfo->NumberOfBuses = 1;
    ConfigInfo->MaximumNumberOfTargets = 1;
    ConfigInfo->MaximumNumberOfLogicalUnits = 1;
    ConfigInfo->SynchronizationModel = StorSynchronizeFullDuplex;
    ConfigInfo->HwMSInterruptRoutine = DemoMsiInterrupt;
    ConfigInfo->InterruptSynchronizationMode = InterruptSynchronizePerMessage;
    ConfigInfo->SrbType = SRB_TYPE_STORAGE_REQUEST_BLOCK;
    ConfigInfo->AddressType = STORAGE_ADDRESS_TYPE_BTL8;
    ConfigInfo->MaxNumberOfIO = 64;

    ext->Uncached = StorPortGetUncachedExtension(ext, ConfigInfo, 4096);
    if (ext->Uncached == NULL) {
        return SP_RETURN_ERROR;
    }
    ext->UncachedPhysical = StorPortGetPhysicalAddress(ext, NULL, ext->Uncached, &length);
    return SP_RETURN_FOUND;
}

_Use_decl_annotations_
BOOLEAN DemoInitialize(PVOID DeviceExtension)
{
    PDEMO_EXTENSION ext = (PDEMO_EXTENSION)DeviceExtension;
    PERF_CONFIGURATION_DATA perf;

    RtlZeroMemory(&perf, sizeof(perf));
    perf.Version = STOR_PERF_VERSION;
    perf.Size = sizeof(perf);
    if (StorPortInitializePerfOpts(ext, TRUE, &perf) == STOR_STATUS_SUCCESS &&
        (perf.Flags & STOR_PERF_CONCURRENT_CHANNELS)) {
        perf.Flags = STOR_PERF_CONCURRENT_CHANNELS | STOR_PERF_DPC_REDIRECTION;
        perf.ConcurrentChannels = 2;
        (void)StorPortInitializePerfOpts(ext, FALSE, &perf);
    }
    StorPortWriteRegisterUlong(ext, (PULONG)(ext->Registers + DEMO_REG_STATUS), 0);
    return StorPortEnablePassiveInitialization(ext, DemoPassiveInitialize);
}

_Use_decl_annotations_
BOOLEAN DemoPassiveInitialize(PVOID DeviceExtension)
{
    PDEMO_EXTENSION ext = (PDEMO_EXTENSION)DeviceExtension;

    StorPortInitializeDpc(ext, &ext->CompletionDpc, DemoCompletionDpc);
    if (StorPortAllocatePool(ext, 4096, DEMO_TAG, &ext->Scratch) != STOR_STATUS_SUCCESS) {
        return FALSE;
    }
    ext->Ready = TRUE;
    StorPortNotification(RequestTimerCall, ext, DemoTimer, 500000);
    return TRUE;
}

/* Fill standard INQUIRY data for a direct-access disk. */
static VOID DemoInquiry(PVOID Srb)
{
    PINQUIRYDATA inquiry = (PINQUIRYDATA)SrbGetDataBuffer(Srb);
    ULONG length = SrbGetDataTransferLength(Srb);
    PCDB cdb = SrbGetCdb(Srb);

    if (cdb->CDB6INQUIRY3.EnableVitalProductData) {
        PVPD_SUPPORTED_PAGES_PAGE pages = (PVPD_SUPPORTED_PAGES_PAGE)inquiry;
        if (cdb->CDB6INQUIRY3.PageCode != VPD_SUPPORTED_PAGES || length < 6) {
            SrbSetSrbStatus(Srb, SRB_STATUS_INVALID_REQUEST);
            return;
        }
        RtlZeroMemory(pages, length);
        pages->DeviceType = DIRECT_ACCESS_DEVICE;
        pages->PageCode = VPD_SUPPORTED_PAGES;
        pages->PageLength = 2;
        pages->SupportedPageList[0] = VPD_SUPPORTED_PAGES;
        pages->SupportedPageList[1] = VPD_BLOCK_LIMITS;
        SrbSetDataTransferLength(Srb, 6);
        SrbSetSrbStatus(Srb, SRB_STATUS_SUCCESS);
        return;
    }
    if (length < INQUIRYDATABUFFERSIZE) {
        SrbSetSrbStatus(Srb, SRB_STATUS_DATA_OVERRUN);
        return;
    }
    RtlZeroMemory(inquiry, length);
    inquiry->DeviceType = DIRECT_ACCESS_DEVICE;
    inquiry->DeviceTypeQualifier = DEVICE_CONNECTED;
    inquiry->Versions = 5;
    inquiry->ResponseDataFormat = 2;
    inquiry->CommandQueue = 1;
    inquiry->AdditionalLength = INQUIRYDATABUFFERSIZE - 5;
    StorPortMoveMemory(inquiry->VendorId, (PVOID) "USTOR   ", 8);
    StorPortMoveMemory(inquiry->ProductId, (PVOID) "Demo disk       ", 16);
    SrbSetDataTransferLength(Srb, INQUIRYDATABUFFERSIZE);
    SrbSetSrbStatus(Srb, SRB_STATUS_SUCCESS);
}

static VOID DemoReadCapacity(PVOID Srb)
{
    PREAD_CAPACITY_DATA capacity = (PREAD_CAPACITY_DATA)SrbGetDataBuffer(Srb);
    ULONG lastBlock = DEMO_BLOCKS - 1;
    ULONG blockSize = DEMO_BLOCK_SIZE;

    if (SrbGetDataTransferLength(Srb) < sizeof(READ_CAPACITY_DATA)) {
        SrbSetSrbStatus(Srb, SRB_STATUS_DATA_OVERRUN);
        return;
    }
    REVERSE_BYTES(&capacity->LogicalBlockAddress, &lastBlock);
    REVERSE_BYTES(&capacity->BytesPerBlock, &blockSize);
    SrbSetSrbStatus(Srb, SRB_STATUS_SUCCESS);
}

/* Report ILLEGAL REQUEST / INVALID CDB through autosense. */
static VOID DemoFailInvalidCdb(PVOID Srb)
{
    PSENSE_DATA sense = (PSENSE_DATA)SrbGetSenseInfoBuffer(Srb);
    UCHAR status = SRB_STATUS_ERROR;

    SrbSetScsiStatus(Srb, SCSISTAT_CHECK_CONDITION);
    if (sense != NULL && SrbGetSenseInfoBufferLength(Srb) >= sizeof(SENSE_DATA) &&
        !(SrbGetSrbFlags(Srb) & SRB_FLAGS_DISABLE_AUTOSENSE)) {
        RtlZeroMemory(sense, sizeof(SENSE_DATA));
        sense->ErrorCode = SCSI_SENSE_ERRORCODE_FIXED_CURRENT;
        sense->SenseKey = SCSI_SENSE_ILLEGAL_REQUEST;
        sense->AdditionalSenseLength = sizeof(SENSE_DATA) - 8;
        sense->AdditionalSenseCode = SCSI_ADSENSE_INVALID_CDB;
        sense->AdditionalSenseCodeQualifier = 0;
        status |= SRB_STATUS_AUTOSENSE_VALID;
    }
    SrbSetSrbStatus(Srb, status);
}

static BOOLEAN DemoReadWrite(PDEMO_EXTENSION Ext, PVOID Srb)
{
    PCDB cdb = SrbGetCdb(Srb);
    ULONG lba = ((ULONG)cdb->CDB10.LogicalBlockByte0 << 24) |
                ((ULONG)cdb->CDB10.LogicalBlockByte1 << 16) |
                ((ULONG)cdb->CDB10.LogicalBlockByte2 << 8) | cdb->CDB10.LogicalBlockByte3;
    ULONG blocks = ((ULONG)cdb->CDB10.TransferBlocksMsb << 8) | cdb->CDB10.TransferBlocksLsb;
    PSTOR_SCATTER_GATHER_LIST sgl = StorPortGetScatterGatherList(Ext, (PSCSI_REQUEST_BLOCK)Srb);
    PDEMO_REQUEST request = (PDEMO_REQUEST)SrbGetMiniportContext(Srb);
    STOR_LOCK_HANDLE lock;

    if (sgl == NULL || lba + blocks > DEMO_BLOCKS ||
        (ULONGLONG)blocks * DEMO_BLOCK_SIZE != SrbGetDataTransferLength(Srb)) {
        DemoFailInvalidCdb(Srb);
        return FALSE;
    }
    request->Srb = Srb;
    request->Tag = SrbGetQueueTag(Srb);

    StorPortAcquireSpinLock(Ext, DpcLock, &Ext->CompletionDpc, &lock);
    Ext->Outstanding++;
    StorPortReleaseSpinLock(Ext, &lock);

    return StorPortSynchronizeAccess(Ext, DemoRingDoorbell, request);
}

_Use_decl_annotations_
BOOLEAN DemoRingDoorbell(PVOID HwDeviceExtension, PVOID Context)
{
    PDEMO_EXTENSION ext = (PDEMO_EXTENSION)HwDeviceExtension;
    PDEMO_REQUEST request = (PDEMO_REQUEST)Context;

    StorPortWriteRegisterUlong(ext, (PULONG)(ext->Registers + DEMO_REG_DOORBELL), request->Tag);
    return TRUE;
}

_Use_decl_annotations_
BOOLEAN DemoBuildIo(PVOID DeviceExtension, PSCSI_REQUEST_BLOCK Srb)
{
    PDEMO_REQUEST request = (PDEMO_REQUEST)SrbGetMiniportContext(Srb);

    UNREFERENCED_PARAMETER(DeviceExtension);
    if (request != NULL) {
        RtlZeroMemory(request, sizeof(*request));
    }
    return TRUE;
}

_Use_decl_annotations_
BOOLEAN DemoStartIo(PVOID DeviceExtension, PSCSI_REQUEST_BLOCK Srb)
{
    PDEMO_EXTENSION ext = (PDEMO_EXTENSION)DeviceExtension;
    PCDB cdb;

    if (SrbGetSrbFunction(Srb) != SRB_FUNCTION_EXECUTE_SCSI) {
        SrbSetSrbStatus(Srb, SrbGetSrbFunction(Srb) == SRB_FUNCTION_RESET_BUS
                                 ? SRB_STATUS_SUCCESS : SRB_STATUS_INVALID_REQUEST);
        StorPortNotification(RequestComplete, ext, Srb);
        return TRUE;
    }
    if (SrbGetPathId(Srb) != 0 || SrbGetTargetId(Srb) != 0 || SrbGetLun(Srb) != 0) {
        SrbSetSrbStatus(Srb, SRB_STATUS_NO_DEVICE);
        StorPortNotification(RequestComplete, ext, Srb);
        return TRUE;
    }
    if (!ext->Ready) {
        SrbSetSrbStatus(Srb, SRB_STATUS_BUSY);
        StorPortNotification(RequestComplete, ext, Srb);
        return TRUE;
    }

    cdb = SrbGetCdb(Srb);
    switch (cdb->CDB6GENERIC.OperationCode) {
    case SCSIOP_TEST_UNIT_READY:
        SrbSetSrbStatus(Srb, SRB_STATUS_SUCCESS);
        break;
    case SCSIOP_INQUIRY:
        DemoInquiry(Srb);
        break;
    case SCSIOP_READ_CAPACITY:
        DemoReadCapacity(Srb);
        break;
    case SCSIOP_READ:
    case SCSIOP_WRITE:
        if (DemoReadWrite(ext, Srb)) {
            return TRUE; /* completed from the DPC */
        }
        break;
    default:
        DemoFailInvalidCdb(Srb);
        break;
    }
    StorPortNotification(RequestComplete, ext, Srb);
    return TRUE;
}

_Use_decl_annotations_
BOOLEAN DemoInterrupt(PVOID DeviceExtension)
{
    PDEMO_EXTENSION ext = (PDEMO_EXTENSION)DeviceExtension;
    ULONG status = StorPortReadRegisterUlong(ext, (PULONG)(ext->Registers + DEMO_REG_STATUS));

    if (status == 0) {
        return FALSE;
    }
    StorPortWriteRegisterUlong(ext, (PULONG)(ext->Registers + DEMO_REG_STATUS), status);
    return StorPortIssueDpc(ext, &ext->CompletionDpc, NULL, NULL);
}

_Use_decl_annotations_
BOOLEAN DemoMsiInterrupt(PVOID HwDeviceExtension, ULONG MessageId)
{
    PDEMO_EXTENSION ext = (PDEMO_EXTENSION)HwDeviceExtension;
    ULONG oldIrql = 0;
    BOOLEAN claimed;

    StorPortAcquireMSISpinLock(ext, MessageId, &oldIrql);
    claimed = DemoInterrupt(ext);
    StorPortReleaseMSISpinLock(ext, MessageId, oldIrql);
    return claimed;
}

_Use_decl_annotations_
VOID DemoCompletionDpc(PSTOR_DPC Dpc, PVOID HwDeviceExtension, PVOID SystemArgument1,
                       PVOID SystemArgument2)
{
    PDEMO_EXTENSION ext = (PDEMO_EXTENSION)HwDeviceExtension;
    STOR_LOCK_HANDLE lock;

    UNREFERENCED_PARAMETER(SystemArgument1);
    UNREFERENCED_PARAMETER(SystemArgument2);

    StorPortAcquireSpinLock(ext, DpcLock, Dpc, &lock);
    if (ext->Outstanding > 0) {
        ext->Outstanding--;
    }
    StorPortReleaseSpinLock(ext, &lock);
    StorPortNotification(NextRequest, ext);
}

_Use_decl_annotations_
VOID DemoTimer(PVOID DeviceExtension)
{
    PDEMO_EXTENSION ext = (PDEMO_EXTENSION)DeviceExtension;

    if (ext->Outstanding > 32) {
        StorPortBusy(ext, 4);
    } else {
        StorPortReady(ext);
    }
    StorPortNotification(RequestTimerCall, ext, DemoTimer, 500000);
}

_Use_decl_annotations_
BOOLEAN DemoResetBus(PVOID DeviceExtension, ULONG PathId)
{
    PDEMO_EXTENSION ext = (PDEMO_EXTENSION)DeviceExtension;

    StorPortLogError(ext, NULL, (UCHAR)PathId, 0, 0, SP_BUS_TIME_OUT, 1);
    StorPortCompleteRequest(ext, (UCHAR)PathId, SP_UNTAGGED, SP_UNTAGGED, SRB_STATUS_BUS_RESET);
    StorPortStallExecution(10);
    StorPortNotification(ResetDetected, ext, 0);
    return TRUE;
}

_Use_decl_annotations_
SCSI_ADAPTER_CONTROL_STATUS DemoAdapterControl(PVOID DeviceExtension,
                                               SCSI_ADAPTER_CONTROL_TYPE ControlType,
                                               PVOID Parameters)
{
    PDEMO_EXTENSION ext = (PDEMO_EXTENSION)DeviceExtension;

    switch (ControlType) {
    case ScsiQuerySupportedControlTypes: {
        PSCSI_SUPPORTED_CONTROL_TYPE_LIST list = (PSCSI_SUPPORTED_CONTROL_TYPE_LIST)Parameters;
        if (list->MaxControlType > ScsiStopAdapter) {
            list->SupportedTypeList[ScsiStopAdapter] = TRUE;
        }
        if (list->MaxControlType > ScsiRestartAdapter) {
            list->SupportedTypeList[ScsiRestartAdapter] = TRUE;
        }
        list->SupportedTypeList[ScsiQuerySupportedControlTypes] = TRUE;
        return ScsiAdapterControlSuccess;
    }
    case ScsiStopAdapter:
        ext->Ready = FALSE;
        return ScsiAdapterControlSuccess;
    case ScsiRestartAdapter:
        ext->Ready = DemoInitialize(ext);
        return ext->Ready ? ScsiAdapterControlSuccess : ScsiAdapterControlUnsuccessful;
    default:
        return ScsiAdapterControlUnsuccessful;
    }
}

_Use_decl_annotations_
SCSI_UNIT_CONTROL_STATUS DemoUnitControl(PVOID DeviceExtension,
                                         SCSI_UNIT_CONTROL_TYPE ControlType, PVOID Parameters)
{
    UNREFERENCED_PARAMETER(DeviceExtension);
    if (ControlType == ScsiQuerySupportedUnitControlTypes) {
        PSCSI_SUPPORTED_CONTROL_TYPE_LIST list = (PSCSI_SUPPORTED_CONTROL_TYPE_LIST)Parameters;
        if (list->MaxControlType > ScsiUnitStart) {
            list->SupportedTypeList[ScsiUnitStart] = TRUE;
        }
        return ScsiUnitControlSuccess;
    }
    if (ControlType == ScsiUnitStart) {
        PSTOR_ADDR_BTL8 address = (PSTOR_ADDR_BTL8)Parameters;
        return address != NULL && address->Lun == 0 ? ScsiUnitControlSuccess
                                                    : ScsiUnitControlUnsuccessful;
    }
    return ScsiUnitControlUnsuccessful;
}

_Use_decl_annotations_
VOID DemoTracingEnabled(PVOID HwDeviceExtension, BOOLEAN Enabled)
{
    UNREFERENCED_PARAMETER(HwDeviceExtension);
    StorPortDebugPrint(DPFLTR_TRACE_LEVEL, "demo: tracing %s\n", Enabled ? "on" : "off");
}

_Use_decl_annotations_
VOID DemoFreeAdapterResources(PVOID DeviceExtension)
{
    PDEMO_EXTENSION ext = (PDEMO_EXTENSION)DeviceExtension;

    if (ext->Scratch != NULL) {
        StorPortFreePool(ext, ext->Scratch);
        ext->Scratch = NULL;
    }
    if (ext->Registers != NULL) {
        StorPortFreeDeviceBase(ext, ext->Registers);
    }
}
