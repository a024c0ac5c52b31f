/*
 * catalog.c - every rule the verifier reports, with its severity and where
 * it comes from.  Microsoft's SDV rule names are kept as they are; rules of
 * our own are named for what they catch.  docs/verifier.md is the prose
 * version of this table.
 */
#include "verifier/verifier.h"

#include <string.h>

#define E UV_ERROR
#define W UV_WARNING

static const struct uv_rule catalog[] = {
    /* Locking (SPEC S4, SDV Locking.sdv) */
    { "StorPortSpinLock", E, "SPEC S4.4, S4.7; SDV StorPortSpinLock",
      "A Storport lock is not acquired while held, and no routine returns holding one." },
    { "StorPortSpinLock3", E, "SPEC S4.4, S4.6; SDV StorPortSpinLock3",
      "Locks are taken in the order StartIo/DPC then Interrupt, and only those table B allows the routine." },
    { "StorPortSpinLock4", E, "SPEC S4.3, S4.7; SDV StorPortSpinLock4",
      "StorPortReleaseSpinLock releases only a lock acquired with the same handle." },
    { "StorPortMSILock", E, "SDV StorPortMSILock",
      "MSI locks are used only with InterruptSynchronizePerMessage." },
    { "LockContext", E, "SPEC S4.2",
      "LockContext is a STOR_DPC for DpcLock and NULL for StartIoLock and InterruptLock." },
    { "LockInvalidIrql", E, "SPEC S4.1 (StorPortAcquireSpinLockEx)",
      "A lock is acquired at an IRQL it cannot be taken from (STOR_STATUS_INVALID_IRQL)." },
    { "LockInvalidParameter", E, "SPEC S4.1",
      "StorPortAcquireSpinLock(Ex) got an invalid lock kind or NULL handle." },
    /* IRQL (SPEC S1, S2, S5; SDV Irql.sdv) */
    { "SpChangeIrql", E, "SDV SpChangeIrql",
      "A routine returns at the IRQL it was called at." },
    { "RoutineIrql", E, "SPEC S1.4, S5.3, S5.6 (rules table)",
      "A miniport routine runs at the IRQL the rules table gives it." },
    { "KeSynchronizeExecution-Irql", E, "SPEC S2.5",
      "KeSynchronizeExecution is called at IRQL <= the interrupt's SynchronizeIrql." },
    { "HalfDuplexStartIo", E, "SPEC S5.4",
      "Half-duplex HwStorStartIo calls neither StorPortAllocatePool nor StorPortAcquireSpinLock." },
    { "StorPortIrql", E, "SDV StorPortIrql",
      "StorPort routines are called at the IRQL their pages allow." },
    { "SpNoWait", E, "SDV SpNoWait",
      "HwStorStartIo does not wait, stall or allocate." },
    { "StorPortStartIo", E, "SDV StorPortStartIo",
      "HwStorStartIo does not stall or allocate." },
    /* SRB life cycle (SPEC S5.7; SDV SrbProcessing.sdv) */
    { "SrbDoubleCompletion", E, "SPEC S5.7",
      "An SRB is completed once." },
    { "SrbNotOutstanding", E, "SPEC S5.1, S5.7",
      "Only an SRB the port gave the miniport, and not yet completed, is completed." },
    { "SrbBusyDataTransferLength", E, "SPEC S5.7",
      "A BUSY completion leaves DataTransferLength as it was." },
    { "SrbExtensionAfterBusy", E, "SPEC S5.7",
      "The SrbExtension dropped on a BUSY completion is not written afterwards." },
    { "SrbNeverCompleted", E, "SPEC S5.1, S5.7",
      "Every SRB the miniport received is completed before its timeout and before the adapter stops." },
    { "StorPortBuildIo", E, "SDV StorPortBuildIo",
      "HwStorBuildIo that returns FALSE completes the SRB itself." },
    { "StorPortStatusPending", W, "SDV StorPortStatusPending",
      "An SRB is not completed with SRB_STATUS_PENDING." },
    { "SpReturnValue", E, "SDV SpReturnValue",
      "HwStorFindAdapter returns SP_RETURN_FOUND, _ERROR, _BAD_CONFIG or _NOT_FOUND." },
    { "StorPortFindAdapter", E, "SDV StorPortFindAdapter",
      "HwStorFindAdapter sets MaximumTransferLength and NumberOfPhysicalBreaks." },
    { "StorPortVirtualDevice", E, "SDV StorPortVirtualDevice",
      "A physical miniport leaves VirtualDevice FALSE." },
    { "StorPortVirtualDevice2", E, "SDV StorPortVirtualDevice2",
      "A virtual miniport sets VirtualDevice TRUE." },
    { "StorPortEnablePassive", E, "SDV StorPortEnablePassive",
      "StorPortEnablePassiveInitialization is called only from HwStorInitialize." },
    { "StorPortPassiveFromHwInit", E, "SDV StorPortPassiveFromHwInit",
      "HwStorInitialize called for a restart does not enable passive initialization." },
    { "StorPortPerfOpts", E, "SDV StorPortPerfOpts",
      "StorPortInitializePerfOpts gets a non-NULL PerfConfigData." },
    { "StorPortTimer", E, "SDV StorPortTimer",
      "RequestTimerCall names a real HwStorTimer routine." },
    { "StorPortNotification2", E, "SDV StorPortNotification2",
      "StorPortNotification is called with a documented notification type." },
    { "StorPortAllocatePool", E, "SDV StorPortAllocatePool",
      "StorPortFreePool is not called on a freed or foreign buffer." },
    { "StorPortAllocatePool2", E, "SDV StorPortAllocatePool2",
      "StorPortAllocatePool does not overwrite a live allocation, and pool is freed by removal." },
    { "SpDuplex", W, "SDV SpDuplex",
      "The miniport runs full duplex (half duplex is for legacy ports)." },
    { "StorPortCompleteRequest", W, "SDV StorPortCompleteRequest",
      "SRBs are completed one at a time with RequestComplete, not StorPortCompleteRequest." },
    { "StorPortDDIsPortOnly", W, "SDV StorPortDDIsPortOnly",
      "The miniport does not call port-only routines (StorPortCompleteRequest)." },
    { "StorPortDeprecated", W, "SDV StorPortDeprecated",
      "StorPortValidateRange and StorPortLogError are not used." },
    /* Bad input the port refuses */
    { "BadHwInitializationData", E, "StorPortInitialize",
      "HW_INITIALIZATION_DATA is present, of the right size, with its mandatory routines." },
    { "BadSrb", E, "SCSI_REQUEST_BLOCK / STORAGE_REQUEST_BLOCK",
      "An SRB handed to the port is well formed." },
    { "SrbTimeout", W, "SCSI_REQUEST_BLOCK TimeOutValue",
      "A request completes within its TimeOutValue (the port resets the bus when not)." },
    { "BadArgument", E, "StorPort routine reference pages",
      "A StorPort routine is called with arguments its page allows." },
    /* Kernel (WDM shim) rules */
    { "SpinLock", E, "SDV SpinLock", "KeAcquireSpinLock pairs with KeReleaseSpinLock, never twice, released before return." },
    { "SpinLockDpc", E, "SDV SpinLockDpc", "KeAcquireSpinLockRaiseToDpc pairs with a release, never twice, released before return." },
    { "SpinLockRelease", E, "SDV SpinLockRelease", "KeReleaseSpinLock releases a held lock." },
    { "QueuedSpinLock", E, "SDV QueuedSpinLock", "In-stack queued spin locks are released before return." },
    { "QueuedSpinLockRelease", E, "SDV QueuedSpinLockRelease", "KeReleaseInStackQueuedSpinLock releases an acquired handle." },
    { "IrqlKeReleaseSpinLock", E, "SDV IrqlKeReleaseSpinLock", "KeReleaseSpinLock runs at DISPATCH_LEVEL and restores the saved IRQL." },
    { "IrqlDispatch", E, "SDV IrqlDispatch", "DPC-level routines are called at DISPATCH_LEVEL." },
    { "DoubleExFreePool", E, "SDV DoubleExFreePool", "A pool block is freed once." },
    { "DoubleKeSetEvent", E, "SDV DoubleKeSetEvent", "An event is not set twice without being reset." },
    { "PagedCode", E, "SDV PagedCode", "PAGED_CODE() runs below DISPATCH_LEVEL." },
    { "KeIrql", E, "KeRaiseIrql / KeLowerIrql pages", "KeRaiseIrql raises and KeLowerIrql lowers." },
};

const struct uv_rule *uv_rule_find(const char *name)
{
    for (unsigned i = 0; i < sizeof(catalog) / sizeof(catalog[0]); i++)
        if (strcmp(catalog[i].name, name) == 0)
            return &catalog[i];
    return NULL;
}

const struct uv_rule *uv_rules(unsigned *count)
{
    *count = (unsigned)(sizeof(catalog) / sizeof(catalog[0]));
    return catalog;
}
