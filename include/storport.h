/*
 * storport.h - the Storport miniport interface: configuration structures,
 * callback role types, notification and control enumerations, and the
 * StorPort* routines, named as in Microsoft's public storport.h reference.
 *
 * Unlike the WDK header, every StorPort* routine here is a real function
 * exported by libustorport (never an inline wrapper around
 * StorPortNotification or StorPortExtendedFunction), so the verifier sees
 * each call under its own name.
 */
#ifndef _NTSTORPORT_
#define _NTSTORPORT_

#include <ntddk.h>
#include <srb.h>
#include <scsi.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef STORPORT_API
#define STORPORT_API __attribute__((visibility("default")))
#endif

/* Types the WDK gets from headers ustorport's wdm.h does not provide. */
#ifndef MM_ANY_NODE_OK
typedef ULONG NODE_REQUIREMENT;
#define MM_ANY_NODE_OK 0x80000000
#endif
#ifndef USTOR_LPCGUID_DEFINED
#define USTOR_LPCGUID_DEFINED
typedef const GUID *LPCGUID;
#endif

/* ------------------------------------------------------------------ */
/* Status codes returned by StorPort* routines.                        */
/* ------------------------------------------------------------------ */

#define STOR_STATUS_SUCCESS (0x00000000L)
#define STOR_STATUS_UNSUCCESSFUL (0xC1000001L)
#define STOR_STATUS_NOT_IMPLEMENTED (0xC1000002L)
#define STOR_STATUS_INSUFFICIENT_RESOURCES (0xC1000003L)
#define STOR_STATUS_BUFFER_TOO_SMALL (0xC1000004L)
#define STOR_STATUS_ACCESS_DENIED (0xC1000005L)
#define STOR_STATUS_INVALID_PARAMETER (0xC1000006L)
#define STOR_STATUS_INVALID_DEVICE_REQUEST (0xC1000007L)
#define STOR_STATUS_INVALID_IRQL (0xC1000008L)
#define STOR_STATUS_INVALID_DEVICE_STATE (0xC1000009L)
#define STOR_STATUS_INVALID_BUFFER_SIZE (0xC100000AL)
#define STOR_STATUS_UNSUPPORTED_VERSION (0xC100000BL)
#define STOR_STATUS_BUSY (0xC100000CL)

/* ------------------------------------------------------------------ */
/* Basic configuration types.                                          */
/* ------------------------------------------------------------------ */

typedef PHYSICAL_ADDRESS STOR_PHYSICAL_ADDRESS, *PSTOR_PHYSICAL_ADDRESS;

typedef struct _ACCESS_RANGE {
    STOR_PHYSICAL_ADDRESS RangeStart;
    ULONG RangeLength;
    BOOLEAN RangeInMemory;
} ACCESS_RANGE, *PACCESS_RANGE;

typedef struct _MEMORY_REGION {
    PUCHAR VirtualBase;
    PHYSICAL_ADDRESS PhysicalBase;
    ULONG Length;
} MEMORY_REGION, *PMEMORY_REGION;

typedef enum _STOR_SYNCHRONIZATION_MODEL {
    StorSynchronizeHalfDuplex,
    StorSynchronizeFullDuplex
} STOR_SYNCHRONIZATION_MODEL;

typedef enum _INTERRUPT_SYNCHRONIZATION_MODE {
    InterruptSupportNone,
    InterruptSynchronizeAll,
    InterruptSynchronizePerMessage
} INTERRUPT_SYNCHRONIZATION_MODE;

typedef BOOLEAN HW_MESSAGE_SIGNALED_INTERRUPT_ROUTINE(
    _In_ PVOID HwDeviceExtension,
    _In_ ULONG MessageId);
typedef HW_MESSAGE_SIGNALED_INTERRUPT_ROUTINE *PHW_MESSAGE_SIGNALED_INTERRUPT_ROUTINE;

typedef struct _MESSAGE_INTERRUPT_INFORMATION {
    ULONG MessageId;
    ULONG MessageData;
    STOR_PHYSICAL_ADDRESS MessageAddress;
    ULONG InterruptVector;
    ULONG InterruptLevel;
    KINTERRUPT_MODE InterruptMode;
} MESSAGE_INTERRUPT_INFORMATION, *PMESSAGE_INTERRUPT_INFORMATION;

typedef struct _PORT_CONFIGURATION_INFORMATION {
    ULONG Length;
    ULONG SystemIoBusNumber;
    INTERFACE_TYPE AdapterInterfaceType;
    ULONG BusInterruptLevel;
    ULONG BusInterruptVector;
    KINTERRUPT_MODE InterruptMode;
    ULONG MaximumTransferLength;
    ULONG NumberOfPhysicalBreaks;
    ULONG DmaChannel;
    ULONG DmaPort;
    DMA_WIDTH DmaWidth;
    DMA_SPEED DmaSpeed;
    ULONG AlignmentMask;
    ULONG NumberOfAccessRanges;
    ACCESS_RANGE (*AccessRanges)[];
    PVOID MiniportDumpData;
    PVOID Reserved;
    UCHAR NumberOfBuses;
    CCHAR InitiatorBusId[8];
    BOOLEAN ScatterGather;
    BOOLEAN Master;
    BOOLEAN CachesData;
    BOOLEAN AdapterScansDown;
    BOOLEAN AtdiskPrimaryClaimed;
    BOOLEAN AtdiskSecondaryClaimed;
    BOOLEAN Dma32BitAddresses;
    BOOLEAN DemandMode;
    UCHAR MapBuffers;
    BOOLEAN NeedPhysicalAddresses;
    BOOLEAN TaggedQueuing;
    BOOLEAN AutoRequestSense;
    BOOLEAN MultipleRequestPerLu;
    BOOLEAN ReceiveEvent;
    BOOLEAN RealModeInitialized;
    BOOLEAN BufferAccessScsiPortControlled;
    UCHAR MaximumNumberOfTargets;
    UCHAR SrbType;
    UCHAR AddressType;
    UCHAR ReservedUchars[2];
    ULONG SlotNumber;
    ULONG BusInterruptLevel2;
    ULONG BusInterruptVector2;
    KINTERRUPT_MODE InterruptMode2;
    ULONG DmaChannel2;
    ULONG DmaPort2;
    DMA_WIDTH DmaWidth2;
    DMA_SPEED DmaSpeed2;
    ULONG DeviceExtensionSize;
    ULONG SpecificLuExtensionSize;
    ULONG SrbExtensionSize;
    UCHAR Dma64BitAddresses;
    BOOLEAN ResetTargetSupported;
    UCHAR MaximumNumberOfLogicalUnits;
    BOOLEAN WmiDataProvider;
    STOR_SYNCHRONIZATION_MODEL SynchronizationModel;
    PHW_MESSAGE_SIGNALED_INTERRUPT_ROUTINE HwMSInterruptRoutine;
    INTERRUPT_SYNCHRONIZATION_MODE InterruptSynchronizationMode;
    MEMORY_REGION DumpRegion;
    ULONG RequestedDumpBufferSize;
    BOOLEAN VirtualDevice;
    UCHAR DumpMode;
    ULONG ExtendedFlags1;
    ULONG MaxNumberOfIO;
    ULONG MaxIOsPerLun;
    ULONG InitialLunQueueDepth;
    ULONG BusResetHoldTime;
    ULONG FeatureSupport;
} PORT_CONFIGURATION_INFORMATION, *PPORT_CONFIGURATION_INFORMATION;

#define CONFIG_INFO_VERSION_2 sizeof(PORT_CONFIGURATION_INFORMATION)

/* Dma64BitAddresses */
#define SCSI_DMA64_MINIPORT_SUPPORTED 0x01
#define SCSI_DMA64_MINIPORT_FULL64BIT_SUPPORTED 0x02
#define SCSI_DMA64_SYSTEM_SUPPORTED 0x80

/* MapBuffers (HW_INITIALIZATION_DATA and PORT_CONFIGURATION_INFORMATION) */
#define STOR_MAP_NO_BUFFERS (0)
#define STOR_MAP_ALL_BUFFERS (1)
#define STOR_MAP_NON_READ_WRITE_BUFFERS (2)
#define STOR_MAP_ALL_BUFFERS_INCLUDING_READ_WRITE (3)

/* DumpMode */
#define DUMP_MODE_CRASH 0x01
#define DUMP_MODE_HIBER 0x02
#define DUMP_MODE_MARK_MEMORY 0x03
#define DUMP_MODE_RESUME 0x04

/* ------------------------------------------------------------------ */
/* Scatter/gather lists.                                               */
/* ------------------------------------------------------------------ */

typedef struct _STOR_SCATTER_GATHER_ELEMENT {
    STOR_PHYSICAL_ADDRESS PhysicalAddress;
    ULONG Length;
    ULONG_PTR Reserved;
} STOR_SCATTER_GATHER_ELEMENT, *PSTOR_SCATTER_GATHER_ELEMENT;

typedef struct _STOR_SCATTER_GATHER_LIST {
    ULONG NumberOfElements;
    ULONG_PTR Reserved;
    STOR_SCATTER_GATHER_ELEMENT List[];
} STOR_SCATTER_GATHER_LIST, *PSTOR_SCATTER_GATHER_LIST;

/* ------------------------------------------------------------------ */
/* Adapter and unit control.                                           */
/* ------------------------------------------------------------------ */

typedef enum _SCSI_ADAPTER_CONTROL_TYPE {
    ScsiQuerySupportedControlTypes = 0,
    ScsiStopAdapter,
    ScsiRestartAdapter,
    ScsiSetBootConfig,
    ScsiSetRunningConfig,
    ScsiPowerSettingNotification,
    ScsiAdapterPower,
    ScsiAdapterPoFxPowerRequired,
    ScsiAdapterPoFxPowerActive,
    ScsiAdapterPoFxPowerSetFState,
    ScsiAdapterPoFxPowerControl,
    ScsiAdapterPrepareForBusReScan,
    ScsiAdapterSystemPowerHints,
    ScsiAdapterFilterResourceRequirements,
    ScsiAdapterPoFxMaxOperationalPower,
    ScsiAdapterPoFxSetPerfState,
    ScsiAdapterSurpriseRemoval,
    ScsiAdapterSerialNumber,
    ScsiAdapterCryptoOperation,
    ScsiAdapterControlMax,
    MakeAdapterControlTypeSizeOfUlong = 0xffffffff
} SCSI_ADAPTER_CONTROL_TYPE, *PSCSI_ADAPTER_CONTROL_TYPE;

typedef enum _SCSI_ADAPTER_CONTROL_STATUS {
    ScsiAdapterControlSuccess = 0,
    ScsiAdapterControlUnsuccessful
} SCSI_ADAPTER_CONTROL_STATUS, *PSCSI_ADAPTER_CONTROL_STATUS;

/* Parameters of ScsiQuerySupportedControlTypes / ScsiQuerySupportedUnitControlTypes. */
typedef struct _SCSI_SUPPORTED_CONTROL_TYPE_LIST {
    ULONG MaxControlType;
    BOOLEAN SupportedTypeList[];
} SCSI_SUPPORTED_CONTROL_TYPE_LIST, *PSCSI_SUPPORTED_CONTROL_TYPE_LIST;

typedef struct _STOR_POWER_CONTROL_HEADER {
    ULONG Version;
    ULONG Size;
    PSTOR_ADDRESS Address;
} STOR_POWER_CONTROL_HEADER, *PSTOR_POWER_CONTROL_HEADER;

/* Parameters of ScsiAdapterPower. */
typedef struct _STOR_ADAPTER_CONTROL_POWER {
    STOR_POWER_CONTROL_HEADER Header;
    STOR_POWER_ACTION PowerAction;
    STOR_DEVICE_POWER_STATE PowerState;
} STOR_ADAPTER_CONTROL_POWER, *PSTOR_ADAPTER_CONTROL_POWER;

typedef struct _STOR_POWER_SETTING_INFO {
    GUID PowerSettingGuid;
    _Field_size_bytes_(ValueLength) PVOID Value;
    ULONG ValueLength;
} STOR_POWER_SETTING_INFO, *PSTOR_POWER_SETTING_INFO;

typedef enum _SCSI_UNIT_CONTROL_TYPE {
    ScsiQuerySupportedUnitControlTypes = 0,
    ScsiUnitUsage,
    ScsiUnitStart,
    ScsiUnitPower,
    ScsiUnitPoFxPowerInfo,
    ScsiUnitPoFxPowerRequired,
    ScsiUnitPoFxPowerActive,
    ScsiUnitPoFxPowerSetFState,
    ScsiUnitPoFxPowerControl,
    ScsiUnitRemove,
    ScsiUnitSurpriseRemoval,
    ScsiUnitRichDescription,
    ScsiUnitControlMax,
    MakeUnitControlTypeSizeOfUlong = 0xffffffff
} SCSI_UNIT_CONTROL_TYPE, *PSCSI_UNIT_CONTROL_TYPE;

typedef enum _SCSI_UNIT_CONTROL_STATUS {
    ScsiUnitControlSuccess = 0,
    ScsiUnitControlUnsuccessful
} SCSI_UNIT_CONTROL_STATUS, *PSCSI_UNIT_CONTROL_STATUS;

typedef enum _SCSI_UC_DEVICE_USAGE_TYPE {
    ScsiDeviceUsageTypeUndefined,
    ScsiDeviceUsageTypePaging,
    ScsiDeviceUsageTypeHibernation,
    ScsiDeviceUsageTypeDumpFile,
    ScsiDeviceUsageTypeBoot
} SCSI_UC_DEVICE_USAGE_TYPE;

/* Parameters of ScsiUnitUsage. */
typedef struct _STOR_UC_DEVICE_USAGE {
    PSTOR_ADDRESS Address;
    SCSI_UC_DEVICE_USAGE_TYPE UsageType;
    BOOLEAN InUse;
} STOR_UC_DEVICE_USAGE, *PSTOR_UC_DEVICE_USAGE;

/* Parameters of ScsiUnitPower. */
typedef struct _STOR_UNIT_CONTROL_POWER {
    PSTOR_ADDRESS Address;
    STOR_POWER_ACTION PowerAction;
    STOR_DEVICE_POWER_STATE PowerState;
} STOR_UNIT_CONTROL_POWER, *PSTOR_UNIT_CONTROL_POWER;

/* ------------------------------------------------------------------ */
/* DPCs and spin locks.                                                */
/* ------------------------------------------------------------------ */

/* The WDK keeps the DPC opaque; ustorport backs it with a real KDPC plus
 * the lock word the DpcLock of StorPortAcquireSpinLock refers to. */
typedef struct _STOR_DPC {
    KDPC Dpc;
    KSPIN_LOCK Lock;
} STOR_DPC, *PSTOR_DPC;

typedef enum _STOR_SPINLOCK {
    InvalidLock = 0,
    DpcLock = 1,
    StartIoLock,
    InterruptLock,
    ThreadedDpcLock,
    DpcLevelLock
} STOR_SPINLOCK;

typedef struct _STOR_LOCK_HANDLE {
    STOR_SPINLOCK Lock;
    union {
        KLOCK_QUEUE_HANDLE LockHandle;
        KIRQL OldIrql;
    } Context;
} STOR_LOCK_HANDLE, *PSTOR_LOCK_HANDLE;

typedef enum _STOR_IMPORTANCE {
    StorLowImportance,
    StorMediumImportance,
    StorHighImportance,
    StorMediumHighImportance
} STOR_IMPORTANCE;

/* Spin lock word for StorPortInitializeSpinlock. */
typedef ULONG_PTR STOR_KSPIN_LOCK;
typedef STOR_KSPIN_LOCK *PSTOR_KSPIN_LOCK;

/* ------------------------------------------------------------------ */
/* Performance options (StorPortInitializePerfOpts).                   */
/* ------------------------------------------------------------------ */

#define STOR_PERF_DPC_REDIRECTION 0x00000001
#define STOR_PERF_CONCURRENT_CHANNELS 0x00000002
#define STOR_PERF_INTERRUPT_MESSAGE_RANGES 0x00000004
#define STOR_PERF_ADV_CONFIG_LOCALITY 0x00000008
#define STOR_PERF_OPTIMIZE_FOR_COMPLETION_DURING_STARTIO 0x00000010
#define STOR_PERF_DPC_REDIRECTION_CURRENT_CPU 0x00000020
#define STOR_PERF_NO_SGL 0x00000040

#define STOR_PERF_VERSION_2 0x00000002
#define STOR_PERF_VERSION_3 0x00000003
#define STOR_PERF_VERSION_4 0x00000004
#define STOR_PERF_VERSION_5 0x00000005
#define STOR_PERF_VERSION STOR_PERF_VERSION_5

typedef struct _PERF_CONFIGURATION_DATA {
    ULONG Version;
    ULONG Size;
    ULONG Flags;
    ULONG ConcurrentChannels;
    ULONG FirstRedirectionMessageNumber;
    ULONG LastRedirectionMessageNumber;
    ULONG DeviceNode;
    ULONG Reserved;
    PGROUP_AFFINITY MessageTargets;
} PERF_CONFIGURATION_DATA, *PPERF_CONFIGURATION_DATA;

typedef struct _STARTIO_PERFORMANCE_PARAMETERS {
    ULONG Version;
    ULONG Size;
    ULONG MessageNumber;
    ULONG ChannelNumber;
} STARTIO_PERFORMANCE_PARAMETERS, *PSTARTIO_PERFORMANCE_PARAMETERS;

/* ------------------------------------------------------------------ */
/* Notifications (StorPortNotification).                               */
/* ------------------------------------------------------------------ */

typedef enum _SCSI_NOTIFICATION_TYPE {
    RequestComplete,
    NextRequest,
    NextLuRequest,
    ResetDetected,
    _obsolete1,
    _obsolete2,
    RequestTimerCall,
    BusChangeDetected,
    WMIEvent,
    WMIReregister,
    LinkUp,
    LinkDown,
    QueryTickCount,
    BufferOverrunDetected,
    TraceNotification,
    GetExtendedFunctionTable,
    EnablePassiveInitialization = 0x1000,
    InitializeDpc,
    IssueDpc,
    AcquireSpinLock,
    ReleaseSpinLock,
    StateChangeDetectedCall,
    IoTargetRequestServiceTime,
    AsyncNotificationDetected,
    RequestDirectComplete,
    InitializeDpcWithContext,
    InitializeThreadedDpc,
    SetTargetProcessorDpc,
    MarkDeviceFailed
} SCSI_NOTIFICATION_TYPE, *PSCSI_NOTIFICATION_TYPE;

/* ChangedEntity of StorPortStateChangeDetected */
#define STATE_CHANGE_LUN 0x1
#define STATE_CHANGE_TARGET 0x2
#define STATE_CHANGE_BUS 0x4

/* HW_INITIALIZATION_DATA.FeatureSupport */
#define STOR_FEATURE_VIRTUAL_MINIPORT 0x00000001
#define STOR_FEATURE_ATA_PASS_THROUGH 0x00000002
#define STOR_FEATURE_FULL_PNP_DEVICE_CAPABILITIES 0x00000004
#define STOR_FEATURE_DUMP_POINTERS 0x00000008
#define STOR_FEATURE_DEVICE_NAME_NO_SUFFIX 0x00000010
#define STOR_FEATURE_DUMP_RESUME_CAPABLE 0x00000020
#define STOR_FEATURE_DEVICE_DESCRIPTOR_FROM_ATA_INFO_VPD 0x00000040
#define STOR_FEATURE_EXTRA_IO_INFORMATION 0x00000080
#define STOR_FEATURE_ADAPTER_CONTROL_PRE_FINDADAPTER 0x00000100
#define STOR_FEATURE_ADAPTER_NOT_REQUIRE_IO_PORT 0x00000200
#define STOR_FEATURE_DUMP_16_BYTE_ALIGNMENT 0x00000400
#define STOR_FEATURE_SET_ADAPTER_INTERFACE_TYPE 0x00000800
#define STOR_FEATURE_DUMP_INFO 0x00001000
#define STOR_FEATURE_DMA_ALLOCATION_NO_BOUNDARY 0x00002000
#define STOR_FEATURE_SUPPORTS_NVME_ADAPTER 0x00004000
#define STOR_FEATURE_REPORT_INTERNAL_DATA 0x00008000
#define STOR_FEATURE_EARLY_DUMP 0x00010000
#define STOR_FEATURE_NVME_ICE 0x00020000

/* Value types of StorPortRegistryRead / StorPortRegistryWrite */
#define MINIPORT_REG_SZ 1
#define MINIPORT_REG_BINARY 3
#define MINIPORT_REG_DWORD 4
#define MINIPORT_REG_MULTI_SZ 7

/* ------------------------------------------------------------------ */
/* Miniport callback roles. Declaring "HW_STARTIO MyStartIo;" tells     */
/* analysis tools (and readers) which role a routine plays.            */
/* ------------------------------------------------------------------ */

/* The miniport's entry point: DriverEntry(DriverObject, RegistryPath). */
typedef ULONG sp_DRIVER_INITIALIZE(_In_ PVOID DriverObject, _In_ PVOID RegistryPath);
typedef sp_DRIVER_INITIALIZE *sp_PDRIVER_INITIALIZE;

typedef BOOLEAN HW_INITIALIZE(_In_ PVOID DeviceExtension);
typedef HW_INITIALIZE *PHW_INITIALIZE;

typedef BOOLEAN HW_BUILDIO(_In_ PVOID DeviceExtension, _In_ PSCSI_REQUEST_BLOCK Srb);
typedef HW_BUILDIO *PHW_BUILDIO;

typedef BOOLEAN HW_STARTIO(_In_ PVOID DeviceExtension, _In_ PSCSI_REQUEST_BLOCK Srb);
typedef HW_STARTIO *PHW_STARTIO;

typedef BOOLEAN HW_INTERRUPT(_In_ PVOID DeviceExtension);
typedef HW_INTERRUPT *PHW_INTERRUPT;

typedef VOID HW_TIMER(_In_ PVOID DeviceExtension);
typedef HW_TIMER *PHW_TIMER;

typedef VOID HW_TIMER_EX(_In_ PVOID DeviceExtension, _In_opt_ PVOID Context);
typedef HW_TIMER_EX *PHW_TIMER_EX;

typedef VOID HW_DMA_STARTED(_In_ PVOID DeviceExtension);
typedef HW_DMA_STARTED *PHW_DMA_STARTED;

typedef ULONG HW_FIND_ADAPTER(
    _In_ PVOID DeviceExtension,
    _In_ PVOID HwContext,
    _In_ PVOID BusInformation,
    _In_z_ PCHAR ArgumentString,
    _Inout_ PPORT_CONFIGURATION_INFORMATION ConfigInfo,
    _In_ PBOOLEAN Reserved3);
typedef HW_FIND_ADAPTER *PHW_FIND_ADAPTER;

typedef ULONG VIRTUAL_HW_FIND_ADAPTER(
    _In_ PVOID DeviceExtension,
    _In_ PVOID HwContext,
    _In_ PVOID BusInformation,
    _In_ PVOID LowerDevice,
    _In_ PCHAR ArgumentString,
    _Inout_ PPORT_CONFIGURATION_INFORMATION ConfigInfo,
    _In_ PBOOLEAN Again);
typedef VIRTUAL_HW_FIND_ADAPTER *PVIRTUAL_HW_FIND_ADAPTER;

typedef BOOLEAN HW_RESET_BUS(_In_ PVOID DeviceExtension, _In_ ULONG PathId);
typedef HW_RESET_BUS *PHW_RESET_BUS;

typedef BOOLEAN HW_ADAPTER_STATE(_In_ PVOID DeviceExtension, _In_ PVOID Context,
                                 _In_ BOOLEAN SaveState);
typedef HW_ADAPTER_STATE *PHW_ADAPTER_STATE;

typedef SCSI_ADAPTER_CONTROL_STATUS HW_ADAPTER_CONTROL(
    _In_ PVOID DeviceExtension,
    _In_ SCSI_ADAPTER_CONTROL_TYPE ControlType,
    _In_ PVOID Parameters);
typedef HW_ADAPTER_CONTROL *PHW_ADAPTER_CONTROL;

typedef SCSI_UNIT_CONTROL_STATUS HW_UNIT_CONTROL(
    _In_ PVOID DeviceExtension,
    _In_ SCSI_UNIT_CONTROL_TYPE ControlType,
    _In_ PVOID Parameters);
typedef HW_UNIT_CONTROL *PHW_UNIT_CONTROL;

typedef BOOLEAN HW_PASSIVE_INITIALIZE_ROUTINE(_In_ PVOID DeviceExtension);
typedef HW_PASSIVE_INITIALIZE_ROUTINE *PHW_PASSIVE_INITIALIZE_ROUTINE;

typedef VOID HW_DPC_ROUTINE(
    _In_ PSTOR_DPC Dpc,
    _In_ PVOID HwDeviceExtension,
    _In_opt_ PVOID SystemArgument1,
    _In_opt_ PVOID SystemArgument2);
typedef HW_DPC_ROUTINE *PHW_DPC_ROUTINE;

typedef VOID HW_WORKITEM(_In_ PVOID HwDeviceExtension, _In_opt_ PVOID Context,
                         _In_ PVOID Worker);
typedef HW_WORKITEM *PHW_WORKITEM;

typedef VOID HW_STATE_CHANGE(
    _In_ PVOID HwDeviceExtension,
    _In_opt_ PVOID Context,
    _In_ SHORT AddressType,
    _In_ PVOID Address,
    _In_ ULONG Status);
typedef HW_STATE_CHANGE *PHW_STATE_CHANGE;

typedef VOID HW_TRACING_ENABLED(_In_ PVOID HwDeviceExtension, _In_ BOOLEAN Enabled);
typedef HW_TRACING_ENABLED *PHW_TRACING_ENABLED;

typedef VOID HW_FREE_ADAPTER_RESOURCES(_In_ PVOID DeviceExtension);
typedef HW_FREE_ADAPTER_RESOURCES *PHW_FREE_ADAPTER_RESOURCES;

typedef VOID HW_PROCESS_SERVICE_REQUEST(_In_ PVOID DeviceExtension, _In_ PVOID Irp);
typedef HW_PROCESS_SERVICE_REQUEST *PHW_PROCESS_SERVICE_REQUEST;

typedef VOID HW_COMPLETE_SERVICE_IRP(_In_ PVOID DeviceExtension);
typedef HW_COMPLETE_SERVICE_IRP *PHW_COMPLETE_SERVICE_IRP;

typedef VOID HW_INITIALIZE_TRACING(_In_ PVOID Arg1, _In_ PVOID Arg2);
typedef HW_INITIALIZE_TRACING *PHW_INITIALIZE_TRACING;

typedef VOID HW_CLEANUP_TRACING(_In_ PVOID Arg1);
typedef HW_CLEANUP_TRACING *PHW_CLEANUP_TRACING;

typedef BOOLEAN STOR_SYNCHRONIZED_ACCESS(_In_ PVOID HwDeviceExtension, _In_ PVOID Context);
typedef STOR_SYNCHRONIZED_ACCESS *PSTOR_SYNCHRONIZED_ACCESS;

/* ------------------------------------------------------------------ */
/* Initialization data passed to StorPortInitialize.                   */
/* ------------------------------------------------------------------ */

typedef struct _HW_INITIALIZATION_DATA {
    ULONG HwInitializationDataSize;
    INTERFACE_TYPE AdapterInterfaceType;
    PHW_INITIALIZE HwInitialize;
    PHW_STARTIO HwStartIo;
    PHW_INTERRUPT HwInterrupt;
    PVOID HwFindAdapter; /* PHW_FIND_ADAPTER; PVOID as in the WDK */
    PHW_RESET_BUS HwResetBus;
    PHW_DMA_STARTED HwDmaStarted;
    PHW_ADAPTER_STATE HwAdapterState;
    ULONG DeviceExtensionSize;
    ULONG SpecificLuExtensionSize;
    ULONG SrbExtensionSize;
    ULONG NumberOfAccessRanges;
    PVOID Reserved;
    UCHAR MapBuffers;
    BOOLEAN NeedPhysicalAddresses;
    BOOLEAN TaggedQueuing;
    BOOLEAN AutoRequestSense;
    BOOLEAN MultipleRequestPerLu;
    BOOLEAN ReceiveEvent;
    USHORT VendorIdLength;
    PVOID VendorId;
    union {
        USHORT ReservedUshort;
        USHORT PortVersionFlags;
    };
    USHORT DeviceIdLength;
    PVOID DeviceId;
    PHW_ADAPTER_CONTROL HwAdapterControl;
    PHW_BUILDIO HwBuildIo;
    PHW_FREE_ADAPTER_RESOURCES HwFreeAdapterResources;
    PHW_PROCESS_SERVICE_REQUEST HwProcessServiceRequest;
    PHW_COMPLETE_SERVICE_IRP HwCompleteServiceIrp;
    PHW_INITIALIZE_TRACING HwInitializeTracing;
    PHW_CLEANUP_TRACING HwCleanupTracing;
    PHW_TRACING_ENABLED HwTracingEnabled;
    ULONG FeatureSupport;
    ULONG SrbTypeFlags;
    ULONG AddressTypeFlags;
    ULONG Reserved1;
    PHW_UNIT_CONTROL HwUnitControl;
} HW_INITIALIZATION_DATA, *PHW_INITIALIZATION_DATA;

typedef struct _VIRTUAL_HW_INITIALIZATION_DATA {
    ULONG HwInitializationDataSize;
    INTERFACE_TYPE AdapterInterfaceType;
    PHW_INITIALIZE HwInitialize;
    PHW_STARTIO HwStartIo;
    PHW_INTERRUPT HwInterrupt;
    PVIRTUAL_HW_FIND_ADAPTER HwFindAdapter;
    PHW_RESET_BUS HwResetBus;
    PHW_DMA_STARTED HwDmaStarted;
    PHW_ADAPTER_STATE HwAdapterState;
    ULONG DeviceExtensionSize;
    ULONG SpecificLuExtensionSize;
    ULONG SrbExtensionSize;
    ULONG NumberOfAccessRanges;
    PVOID Reserved;
    UCHAR MapBuffers;
    BOOLEAN NeedPhysicalAddresses;
    BOOLEAN TaggedQueuing;
    BOOLEAN AutoRequestSense;
    BOOLEAN MultipleRequestPerLu;
    BOOLEAN ReceiveEvent;
    USHORT VendorIdLength;
    PVOID VendorId;
    union {
        USHORT ReservedUshort;
        USHORT PortVersionFlags;
    };
    USHORT DeviceIdLength;
    PVOID DeviceId;
    PHW_ADAPTER_CONTROL HwAdapterControl;
    PHW_BUILDIO HwBuildIo;
    PHW_FREE_ADAPTER_RESOURCES HwFreeAdapterResources;
    PHW_PROCESS_SERVICE_REQUEST HwProcessServiceRequest;
    PHW_COMPLETE_SERVICE_IRP HwCompleteServiceIrp;
    PHW_INITIALIZE_TRACING HwInitializeTracing;
    PHW_CLEANUP_TRACING HwCleanupTracing;
} VIRTUAL_HW_INITIALIZATION_DATA, *PVIRTUAL_HW_INITIALIZATION_DATA;

/* ------------------------------------------------------------------ */
/* StorPort routines (all implemented in libustorport).                */
/* ------------------------------------------------------------------ */

/* Life cycle */
STORPORT_API ULONG StorPortInitialize(
    _In_ PVOID Argument1,
    _In_ PVOID Argument2,
    _In_ struct _HW_INITIALIZATION_DATA *HwInitializationData,
    _In_opt_ PVOID HwContext);

STORPORT_API VOID StorPortNotification(
    _In_ SCSI_NOTIFICATION_TYPE NotificationType,
    _In_ PVOID HwDeviceExtension,
    ...);

STORPORT_API BOOLEAN StorPortEnablePassiveInitialization(
    _In_ PVOID DeviceExtension,
    _In_ PHW_PASSIVE_INITIALIZE_ROUTINE HwPassiveInitializeRoutine);

STORPORT_API ULONG StorPortInitializePerfOpts(
    _In_ PVOID HwDeviceExtension,
    _In_ BOOLEAN Query,
    _Inout_ PPERF_CONFIGURATION_DATA PerfConfigData);

STORPORT_API ULONG StorPortGetStartIoPerfParams(
    _In_ PVOID HwDeviceExtension,
    _In_ PSCSI_REQUEST_BLOCK Srb,
    _Inout_ PSTARTIO_PERFORMANCE_PARAMETERS StartIoPerfParams);

/* Synchronization */
STORPORT_API BOOLEAN StorPortSynchronizeAccess(
    _In_ PVOID HwDeviceExtension,
    _In_ PSTOR_SYNCHRONIZED_ACCESS SynchronizedAccessRoutine,
    _In_opt_ PVOID Context);

STORPORT_API VOID StorPortAcquireSpinLock(
    _In_ PVOID DeviceExtension,
    _In_ STOR_SPINLOCK SpinLock,
    _In_opt_ PVOID LockContext,
    _Inout_ PSTOR_LOCK_HANDLE LockHandle);

STORPORT_API ULONG StorPortAcquireSpinLockEx(
    _In_ PVOID HwDeviceExtension,
    _In_ STOR_SPINLOCK SpinLock,
    _In_opt_ PVOID LockContext,
    _Inout_ PSTOR_LOCK_HANDLE LockHandle);

STORPORT_API VOID StorPortReleaseSpinLock(
    _In_ PVOID DeviceExtension,
    _Inout_ PSTOR_LOCK_HANDLE LockHandle);

STORPORT_API ULONG StorPortAcquireMSISpinLock(
    _In_ PVOID HwDeviceExtension,
    _In_ ULONG MessageId,
    _In_ PULONG OldIrql);

STORPORT_API ULONG StorPortReleaseMSISpinLock(
    _In_ PVOID HwDeviceExtension,
    _In_ ULONG MessageId,
    _In_ ULONG OldIrql);

STORPORT_API ULONG StorPortInitializeSpinlock(
    _In_ PVOID HwDeviceExtension,
    _Out_ PSTOR_KSPIN_LOCK Lock);

STORPORT_API VOID StorPortInitializeDpc(
    _In_ PVOID DeviceExtension,
    _Out_ PSTOR_DPC Dpc,
    _In_ PHW_DPC_ROUTINE HwDpcRoutine);

STORPORT_API BOOLEAN StorPortIssueDpc(
    _In_ PVOID DeviceExtension,
    _In_ PSTOR_DPC Dpc,
    _In_opt_ PVOID SystemArgument1,
    _In_opt_ PVOID SystemArgument2);

/* Queue and request management */
STORPORT_API BOOLEAN StorPortBusy(_In_ PVOID HwDeviceExtension, _In_ ULONG RequestsToComplete);
STORPORT_API BOOLEAN StorPortReady(_In_ PVOID HwDeviceExtension);
STORPORT_API BOOLEAN StorPortDeviceBusy(_In_ PVOID HwDeviceExtension, _In_ UCHAR PathId,
                                        _In_ UCHAR TargetId, _In_ UCHAR Lun,
                                        _In_ ULONG RequestsToComplete);
STORPORT_API BOOLEAN StorPortDeviceReady(_In_ PVOID HwDeviceExtension, _In_ UCHAR PathId,
                                         _In_ UCHAR TargetId, _In_ UCHAR Lun);
STORPORT_API BOOLEAN StorPortPause(_In_ PVOID HwDeviceExtension, _In_ ULONG Timeout);
STORPORT_API BOOLEAN StorPortResume(_In_ PVOID HwDeviceExtension);
STORPORT_API BOOLEAN StorPortPauseDevice(_In_ PVOID HwDeviceExtension, _In_ UCHAR PathId,
                                         _In_ UCHAR TargetId, _In_ UCHAR Lun,
                                         _In_ ULONG Timeout);
STORPORT_API BOOLEAN StorPortResumeDevice(_In_ PVOID HwDeviceExtension, _In_ UCHAR PathId,
                                          _In_ UCHAR TargetId, _In_ UCHAR Lun);
STORPORT_API BOOLEAN StorPortSetDeviceQueueDepth(_In_ PVOID HwDeviceExtension,
                                                 _In_ UCHAR PathId, _In_ UCHAR TargetId,
                                                 _In_ UCHAR Lun, _In_ ULONG Depth);
STORPORT_API VOID StorPortCompleteRequest(_In_ PVOID HwDeviceExtension, _In_ UCHAR PathId,
                                          _In_ UCHAR TargetId, _In_ UCHAR Lun,
                                          _In_ UCHAR SrbStatus);
STORPORT_API ULONG StorPortStateChangeDetected(
    _In_ PVOID HwDeviceExtension,
    _In_ ULONG ChangedEntity,
    _In_ PSTOR_ADDRESS Address,
    _In_ ULONG Attributes,
    _In_ PHW_STATE_CHANGE HwStateChange,
    _In_opt_ PVOID HwStateChangeContext);
STORPORT_API PVOID StorPortGetLogicalUnit(_In_ PVOID HwDeviceExtension, _In_ UCHAR PathId,
                                          _In_ UCHAR TargetId, _In_ UCHAR Lun);

/* Memory */
STORPORT_API ULONG StorPortAllocatePool(
    _In_ PVOID HwDeviceExtension,
    _In_ ULONG NumberOfBytes,
    _In_ ULONG Tag,
    _Out_ PVOID *BufferPointer);
STORPORT_API ULONG StorPortFreePool(_In_ PVOID HwDeviceExtension, _In_ PVOID BufferPointer);
STORPORT_API PVOID StorPortGetUncachedExtension(
    _In_ PVOID HwDeviceExtension,
    _In_ PPORT_CONFIGURATION_INFORMATION ConfigInfo,
    _In_ ULONG NumberOfBytes);
STORPORT_API STOR_PHYSICAL_ADDRESS StorPortGetPhysicalAddress(
    _In_ PVOID HwDeviceExtension,
    _In_opt_ PSCSI_REQUEST_BLOCK Srb,
    _In_ PVOID VirtualAddress,
    _Out_ ULONG *Length);
STORPORT_API PVOID StorPortGetVirtualAddress(_In_ PVOID HwDeviceExtension,
                                             _In_ STOR_PHYSICAL_ADDRESS PhysicalAddress);
STORPORT_API PSTOR_SCATTER_GATHER_LIST StorPortGetScatterGatherList(
    _In_ PVOID HwDeviceExtension,
    _In_ PSCSI_REQUEST_BLOCK Srb);
STORPORT_API ULONG StorPortPutScatterGatherList(
    _In_ PVOID HwDeviceExtension,
    _In_ PSTOR_SCATTER_GATHER_LIST ScatterGatherList,
    _In_ BOOLEAN WriteToDevice);
STORPORT_API ULONG StorPortGetSystemAddress(_In_ PVOID HwDeviceExtension,
                                            _In_ PSCSI_REQUEST_BLOCK Srb,
                                            _Outptr_ PVOID *SystemAddress);
STORPORT_API ULONG StorPortGetOriginalMdl(_In_ PVOID HwDeviceExtension,
                                          _In_ PSCSI_REQUEST_BLOCK Srb,
                                          _Outptr_ PVOID *Mdl);
STORPORT_API ULONG StorPortAllocateContiguousMemorySpecifyCacheNode(
    _In_ PVOID HwDeviceExtension,
    _In_ SIZE_T NumberOfBytes,
    _In_ PHYSICAL_ADDRESS LowestAcceptableAddress,
    _In_ PHYSICAL_ADDRESS HighestAcceptableAddress,
    _In_opt_ PHYSICAL_ADDRESS BoundaryAddressMultiple,
    _In_ MEMORY_CACHING_TYPE CacheType,
    _In_ NODE_REQUIREMENT PreferredNode,
    _Out_ PVOID *BufferPointer);
STORPORT_API ULONG StorPortFreeContiguousMemorySpecifyCache(
    _In_ PVOID HwDeviceExtension,
    _In_ PVOID BaseAddress,
    _In_ SIZE_T NumberOfBytes,
    _In_ MEMORY_CACHING_TYPE CacheType);
STORPORT_API VOID StorPortMoveMemory(_Out_writes_bytes_(Length) PVOID WriteBuffer,
                                     _In_reads_bytes_(Length) PVOID ReadBuffer,
                                     _In_ ULONG Length);
STORPORT_API VOID StorPortCopyMemory(_Out_writes_bytes_(Length) PVOID Destination,
                                     _In_reads_bytes_(Length) PVOID Source,
                                     _In_ ULONG Length);
STORPORT_API STOR_PHYSICAL_ADDRESS StorPortConvertUlongToPhysicalAddress(
    _In_ ULONG_PTR UlongAddress);
STORPORT_API ULONG StorPortConvertPhysicalAddressToUlong(_In_ STOR_PHYSICAL_ADDRESS Address);

/* Bus and device access */
STORPORT_API PVOID StorPortGetDeviceBase(
    _In_ PVOID HwDeviceExtension,
    _In_ INTERFACE_TYPE BusType,
    _In_ ULONG SystemIoBusNumber,
    _In_ STOR_PHYSICAL_ADDRESS IoAddress,
    _In_ ULONG NumberOfBytes,
    _In_ BOOLEAN InIoSpace);
STORPORT_API VOID StorPortFreeDeviceBase(_In_ PVOID HwDeviceExtension,
                                         _In_ PVOID MappedAddress);
STORPORT_API ULONG StorPortGetBusData(
    _In_ PVOID DeviceExtension,
    _In_ ULONG BusDataType,
    _In_ ULONG SystemIoBusNumber,
    _In_ ULONG SlotNumber,
    _Out_writes_bytes_(Length) PVOID Buffer,
    _In_ ULONG Length);
STORPORT_API ULONG StorPortSetBusDataByOffset(
    _In_ PVOID DeviceExtension,
    _In_ ULONG BusDataType,
    _In_ ULONG SystemIoBusNumber,
    _In_ ULONG SlotNumber,
    _In_reads_bytes_(Length) PVOID Buffer,
    _In_ ULONG Offset,
    _In_ ULONG Length);
STORPORT_API BOOLEAN StorPortValidateRange(
    _In_ PVOID HwDeviceExtension,
    _In_ INTERFACE_TYPE BusType,
    _In_ ULONG SystemIoBusNumber,
    _In_ STOR_PHYSICAL_ADDRESS IoAddress,
    _In_ ULONG NumberOfBytes,
    _In_ BOOLEAN InIoSpace);
STORPORT_API ULONG StorPortGetMSIInfo(
    _In_ PVOID HwDeviceExtension,
    _In_ ULONG MessageId,
    _Out_ PMESSAGE_INTERRUPT_INFORMATION InterruptInfo);

/* Register and port I/O */
STORPORT_API UCHAR StorPortReadPortUchar(_In_ PVOID HwDeviceExtension, _In_ PUCHAR Port);
STORPORT_API USHORT StorPortReadPortUshort(_In_ PVOID HwDeviceExtension, _In_ PUSHORT Port);
STORPORT_API ULONG StorPortReadPortUlong(_In_ PVOID HwDeviceExtension, _In_ PULONG Port);
STORPORT_API VOID StorPortReadPortBufferUchar(_In_ PVOID HwDeviceExtension, _In_ PUCHAR Port,
                                              _Out_writes_(Count) PUCHAR Buffer,
                                              _In_ ULONG Count);
STORPORT_API VOID StorPortReadPortBufferUshort(_In_ PVOID HwDeviceExtension, _In_ PUSHORT Port,
                                               _Out_writes_(Count) PUSHORT Buffer,
                                               _In_ ULONG Count);
STORPORT_API VOID StorPortReadPortBufferUlong(_In_ PVOID HwDeviceExtension, _In_ PULONG Port,
                                              _Out_writes_(Count) PULONG Buffer,
                                              _In_ ULONG Count);
STORPORT_API VOID StorPortWritePortUchar(_In_ PVOID HwDeviceExtension, _In_ PUCHAR Port,
                                         _In_ UCHAR Value);
STORPORT_API VOID StorPortWritePortUshort(_In_ PVOID HwDeviceExtension, _In_ PUSHORT Port,
                                          _In_ USHORT Value);
STORPORT_API VOID StorPortWritePortUlong(_In_ PVOID HwDeviceExtension, _In_ PULONG Port,
                                         _In_ ULONG Value);
STORPORT_API VOID StorPortWritePortBufferUchar(_In_ PVOID HwDeviceExtension, _In_ PUCHAR Port,
                                               _In_reads_(Count) PUCHAR Buffer,
                                               _In_ ULONG Count);
STORPORT_API VOID StorPortWritePortBufferUshort(_In_ PVOID HwDeviceExtension,
                                                _In_ PUSHORT Port,
                                                _In_reads_(Count) PUSHORT Buffer,
                                                _In_ ULONG Count);
STORPORT_API VOID StorPortWritePortBufferUlong(_In_ PVOID HwDeviceExtension, _In_ PULONG Port,
                                               _In_reads_(Count) PULONG Buffer,
                                               _In_ ULONG Count);

STORPORT_API UCHAR StorPortReadRegisterUchar(_In_ PVOID HwDeviceExtension,
                                             _In_ PUCHAR Register);
STORPORT_API USHORT StorPortReadRegisterUshort(_In_ PVOID HwDeviceExtension,
                                               _In_ PUSHORT Register);
STORPORT_API ULONG StorPortReadRegisterUlong(_In_ PVOID HwDeviceExtension,
                                             _In_ PULONG Register);
STORPORT_API ULONG64 StorPortReadRegisterUlong64(_In_ PVOID HwDeviceExtension,
                                                 _In_ PULONG64 Register);
STORPORT_API VOID StorPortReadRegisterBufferUchar(_In_ PVOID HwDeviceExtension,
                                                  _In_ PUCHAR Register,
                                                  _Out_writes_(Count) PUCHAR Buffer,
                                                  _In_ ULONG Count);
STORPORT_API VOID StorPortReadRegisterBufferUshort(_In_ PVOID HwDeviceExtension,
                                                   _In_ PUSHORT Register,
                                                   _Out_writes_(Count) PUSHORT Buffer,
                                                   _In_ ULONG Count);
STORPORT_API VOID StorPortReadRegisterBufferUlong(_In_ PVOID HwDeviceExtension,
                                                  _In_ PULONG Register,
                                                  _Out_writes_(Count) PULONG Buffer,
                                                  _In_ ULONG Count);
STORPORT_API VOID StorPortWriteRegisterUchar(_In_ PVOID HwDeviceExtension,
                                             _In_ PUCHAR Register, _In_ UCHAR Value);
STORPORT_API VOID StorPortWriteRegisterUshort(_In_ PVOID HwDeviceExtension,
                                              _In_ PUSHORT Register, _In_ USHORT Value);
STORPORT_API VOID StorPortWriteRegisterUlong(_In_ PVOID HwDeviceExtension,
                                             _In_ PULONG Register, _In_ ULONG Value);
STORPORT_API VOID StorPortWriteRegisterUlong64(_In_ PVOID HwDeviceExtension,
                                               _In_ PULONG64 Register, _In_ ULONG64 Value);
STORPORT_API VOID StorPortWriteRegisterBufferUchar(_In_ PVOID HwDeviceExtension,
                                                   _In_ PUCHAR Register,
                                                   _In_reads_(Count) PUCHAR Buffer,
                                                   _In_ ULONG Count);
STORPORT_API VOID StorPortWriteRegisterBufferUshort(_In_ PVOID HwDeviceExtension,
                                                    _In_ PUSHORT Register,
                                                    _In_reads_(Count) PUSHORT Buffer,
                                                    _In_ ULONG Count);
STORPORT_API VOID StorPortWriteRegisterBufferUlong(_In_ PVOID HwDeviceExtension,
                                                   _In_ PULONG Register,
                                                   _In_reads_(Count) PULONG Buffer,
                                                   _In_ ULONG Count);

/* Time, timers, work items, processors */
STORPORT_API VOID StorPortStallExecution(_In_ ULONG Delay);
STORPORT_API VOID StorPortQuerySystemTime(_Out_ PLARGE_INTEGER CurrentTime);
STORPORT_API ULONG StorPortQueryPerformanceCounter(
    _In_ PVOID HwDeviceExtension,
    _Out_opt_ PLARGE_INTEGER PerformanceFrequency,
    _Out_ PLARGE_INTEGER PerformanceCounter);
STORPORT_API ULONG StorPortGetCurrentProcessorNumber(_In_ PVOID HwDeviceExtension,
                                                     _Out_ PPROCESSOR_NUMBER ProcNumber);
STORPORT_API ULONG StorPortGetProcessorCount(_In_ PVOID HwDeviceExtension,
                                             _Out_ PULONG ProcessorCount);
STORPORT_API ULONG StorPortInitializeTimer(_In_ PVOID HwDeviceExtension,
                                           _Out_ PVOID *TimerHandle);
STORPORT_API ULONG StorPortRequestTimer(
    _In_ PVOID HwDeviceExtension,
    _In_ PVOID TimerHandle,
    _In_ PHW_TIMER_EX TimerCallback,
    _In_opt_ PVOID CallbackContext,
    _In_ ULONGLONG TimerValue,
    _In_ ULONGLONG TolerableDelay);
STORPORT_API ULONG StorPortFreeTimer(_In_ PVOID HwDeviceExtension, _In_ PVOID TimerHandle);
STORPORT_API ULONG StorPortInitializeWorker(_In_ PVOID HwDeviceExtension,
                                            _Out_ PVOID *Worker);
STORPORT_API ULONG StorPortQueueWorkItem(
    _In_ PVOID HwDeviceExtension,
    _In_ PHW_WORKITEM WorkItemCallback,
    _In_ PVOID Worker,
    _In_opt_ PVOID Context);
STORPORT_API ULONG StorPortFreeWorker(_In_ PVOID HwDeviceExtension, _In_ PVOID Worker);

/* Registry (the adapter's Parameters\Device key) */
STORPORT_API PUCHAR StorPortAllocateRegistryBuffer(_In_ PVOID HwDeviceExtension,
                                                   _In_ PULONG Length);
STORPORT_API VOID StorPortFreeRegistryBuffer(_In_ PVOID HwDeviceExtension,
                                             _In_ PUCHAR Buffer);
STORPORT_API BOOLEAN StorPortRegistryRead(
    _In_ PVOID HwDeviceExtension,
    _In_ PUCHAR ValueName,
    _In_ ULONG Global,
    _In_ ULONG Type,
    _Out_ PUCHAR Buffer,
    _Inout_ PULONG BufferLength);
STORPORT_API BOOLEAN StorPortRegistryWrite(
    _In_ PVOID HwDeviceExtension,
    _In_ PUCHAR ValueName,
    _In_ ULONG Global,
    _In_ ULONG Type,
    _In_reads_bytes_(BufferLength) PUCHAR Buffer,
    _In_ ULONG BufferLength);

/* Diagnostics */
STORPORT_API VOID StorPortDebugPrint(_In_ ULONG DebugPrintLevel, _In_ PCSTR DebugMessage, ...);
STORPORT_API VOID StorPortLogError(
    _In_ PVOID HwDeviceExtension,
    _In_opt_ PSCSI_REQUEST_BLOCK Srb,
    _In_ UCHAR PathId,
    _In_ UCHAR TargetId,
    _In_ UCHAR Lun,
    _In_ ULONG ErrorCode,
    _In_ ULONG UniqueId);

/* StorPortLogError error codes (as for ScsiPortLogError) */
#define SP_BUS_PARITY_ERROR 0x0001
#define SP_UNEXPECTED_DISCONNECT 0x0002
#define SP_INVALID_RESELECTION 0x0003
#define SP_BUS_TIME_OUT 0x0004
#define SP_PROTOCOL_ERROR 0x0005
#define SP_INTERNAL_ADAPTER_ERROR 0x0006
#define SP_REQUEST_TIMEOUT 0x0007
#define SP_IRQ_NOT_RESPONDING 0x0008
#define SP_BAD_FW_WARNING 0x0009
#define SP_BAD_FW_ERROR 0x000a
#define SP_LOST_WMI_MINIPORT_REQUEST 0x000b

#ifdef __cplusplus
}
#endif

#endif /* _NTSTORPORT_ */
