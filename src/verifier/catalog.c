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
    { "SrbCompletedWithOldExtension", E, "SPEC S5.7",
      "An SRB re-issued after BUSY is completed with the SrbExtension of that attempt, not the dropped one." },
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
    { "HwStorPortProhibitedDDIs", E, "SDV HwStorPortProhibitedDDIs",
      "A physical miniport calls no WDM kernel routine (Ke*, Ex*, Io*, ...) other than interlocked helpers." },
    /* Lock-order graph (src/verifier/lockgraph.c, docs/verifier-wdm.md) */
    { "LockOrderInversion", E, "lockdep-style; SPEC S4.4",
      "Two locks are taken in one order everywhere: A then B on one path and B then A on another can deadlock." },
    { "InterruptUnsafeLock", E, "lockdep-style; SPEC S1, S2",
      "A lock the ISR takes is taken elsewhere only with the interrupt masked (under the interrupt lock or at DIRQL)." },
    /* The kernel emulation's own rules (src/kernel), for what SDV has no name for */
    { "IrqlKeSpinLock", E, "KeAcquireSpinLock page", "KeAcquireSpinLock(RaiseToDpc) and in-stack queued locks are acquired at IRQL <= DISPATCH_LEVEL." },
    { "IrqlKeRaiseLower", E, "KeRaiseIrql / KeLowerIrql pages", "KeRaiseIrql does not lower and KeLowerIrql does not raise the IRQL." },
    { "KeRaiseIrql-Args", E, "KeRaiseIrql page", "KeRaiseIrql gets a valid IRQL and an OldIrql pointer." },
    { "IrqlKeApcLte1", E, "KeEnterCriticalRegion page", "KeEnter/LeaveCriticalRegion run at IRQL <= APC_LEVEL." },
    { "CriticalRegions", E, "KeLeaveCriticalRegion page", "KeLeaveCriticalRegion matches a KeEnterCriticalRegion." },
    { "IrqlExAllocatePool", E, "ExAllocatePoolWithTag page", "Pool is allocated at IRQL <= DISPATCH_LEVEL (paged pool: < DISPATCH_LEVEL)." },
    { "ExAllocatePool-Type", E, "ExAllocatePoolWithTag page", "ExAllocatePool* gets a valid POOL_TYPE." },
    { "ExAllocatePool-Size", E, "ExAllocatePoolWithTag page", "ExAllocatePool* gets a nonzero size." },
    { "ExAllocatePool2-Flags", E, "ExAllocatePool2 page", "ExAllocatePool2 gets exactly one pool kind and known flags." },
    { "ExAllocatePool2-Tag", E, "ExAllocatePool2 page", "ExAllocatePool2 gets a nonzero tag." },
    { "IrqlExFreePool", E, "ExFreePoolWithTag page", "Pool is freed at IRQL <= DISPATCH_LEVEL." },
    { "ExFreePool-Null", E, "ExFreePoolWithTag page", "ExFreePool gets a non-NULL pointer." },
    { "ExFreePool-Invalid", E, "ExFreePoolWithTag page", "ExFreePool gets a pointer ExAllocatePool* returned." },
    { "ExFreePoolWithTag-Tag", E, "ExFreePoolWithTag page", "ExFreePoolWithTag gets the tag the block was allocated with." },
    { "InterruptParameters", E, "IoConnectInterruptEx page", "Interrupt objects are created with consistent parameters." },
    { "IoDisconnectInterrupt", E, "IoDisconnectInterruptEx page", "IoDisconnectInterruptEx gets a connected interrupt." },
    { "InterruptNotRunning", E, "ukern (kernel emulation)", "Interrupts are triggered only while the kernel emulation runs." },
    { "InterruptLock-Args", E, "KeAcquireInterruptSpinLock page", "The interrupt lock is taken on a valid interrupt object." },
    { "InterruptLock-Irql", E, "KeAcquireInterruptSpinLock page; SPEC S2.5", "The interrupt lock is taken at IRQL <= its SynchronizeIrql, by a thread not holding it." },
    { "IrqlKeSpinLockAtDpc", E, "KeAcquireSpinLockAtDpcLevel page", "The ...AtDpcLevel / ...FromDpcLevel routines run at DISPATCH_LEVEL (reported as IrqlDispatch)." },
    { "InterruptLock-Release", E, "KeReleaseInterruptSpinLock page", "The interrupt lock is released only by its holder." },
    { "KeSynchronizeExecution-Args", E, "KeSynchronizeExecution page", "KeSynchronizeExecution gets an interrupt object and a routine." },
    { "IrqlIoPassive", E, "IoConnectInterruptEx page", "IoConnect/DisconnectInterruptEx run at PASSIVE_LEVEL." },
    { "KeTimer-Args", E, "KeSetTimer page", "Timer routines get a valid, initialized KTIMER." },
    { "KeTimer-NotRunning", E, "ukern (kernel emulation)", "Timers are set only while the kernel emulation runs." },
    { "IrqlKeTimer", E, "KeSetTimer page", "Timer routines run at IRQL <= DISPATCH_LEVEL." },
    { "KeEvent-Args", E, "KeInitializeEvent page", "Event routines get a valid, initialized KEVENT." },
    { "IrqlKeSetEvent", E, "KeSetEvent page", "KeSetEvent runs at IRQL <= DISPATCH_LEVEL." },
    { "KeWait-Args", E, "KeWaitForSingleObject page", "KeWaitForSingleObject gets a dispatcher object and valid arguments." },
    { "IrqlKeWaitForSingleObject", E, "KeWaitForSingleObject page", "A wait with a nonzero timeout runs at IRQL <= APC_LEVEL; a zero timeout at <= DISPATCH_LEVEL." },
    { "IrqlKeDelayExecutionThread", E, "KeDelayExecutionThread page", "KeDelayExecutionThread runs at IRQL <= APC_LEVEL." },
    { "KeQuerySystemTime-Args", E, "KeQuerySystemTime page", "KeQuerySystemTime gets a non-NULL pointer." },
    { "KeInitializeDpc-Args", E, "KeInitializeDpc page", "KeInitializeDpc gets a KDPC and a routine." },
    { "KeInsertQueueDpc-Args", E, "KeInsertQueueDpc page", "KeInsertQueueDpc gets an initialized KDPC." },
    { "KeInsertQueueDpc-NotRunning", E, "ukern (kernel emulation)", "DPCs are queued only while the kernel emulation runs." },
    { "IrqlKeInsertQueueDpc", E, "KeInsertQueueDpc page", "KeInsertQueueDpc runs at IRQL <= HIGH_LEVEL." },
    { "IrqlKeFlushQueuedDpcs", E, "KeFlushQueuedDpcs page", "KeFlushQueuedDpcs runs at PASSIVE_LEVEL." },
    { "DbgBreakPoint", W, "DbgBreakPoint page", "Driver code does not reach a breakpoint." },
    { "ASSERT", E, "RtlAssert / ASSERT", "A driver assertion holds." },
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
