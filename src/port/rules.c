/*
 * rules.c - THE rule table.  Tables A and B of SPEC S4.5/S4.6 (from the
 * StorPortAcquireSpinLock page), routine IRQLs (S1.4, S5.3, S5.6 and the
 * routines' own pages), and the lock order of S4.4.  Nothing else in the
 * tree writes these rules down; the dispatcher and the verifier both read
 * them from here.
 */
#include "port/rules.h"

#include <stdio.h>
#include <string.h>

#define D RL_BIT(RL_DPC)
#define S RL_BIT(RL_STARTIO)
#define I RL_BIT(RL_INTERRUPT)
#define N RL_NONE

/* One cell per mode, in enum ustor_sync_mode order:
 * half duplex, full duplex, concurrent channels, virtual. */
#define CELL(h, m, q) { .held = (h), .may = (m), .irql = (q) }
#define ALL4(h, m, q) { CELL(h, m, q), CELL(h, m, q), CELL(h, m, q), CELL(h, m, q) }

const struct rules_routine_row rules_routines[RR_COUNT] = {
    [RR_FIND_ADAPTER] = { "HwStorFindAdapter", "SPEC S4.5/S4.6, S1.4",
        ALL4(N, N, RI_PASSIVE) },
    [RR_INITIALIZE] = { "HwStorInitialize", "SPEC S4.5/S4.6; HW_INITIALIZE (DIRQL)",
        { CELL(I, N, RI_DIRQL), CELL(I, N, RI_DIRQL), CELL(I, N, RI_DIRQL),
          CELL(N, N, RI_PASSIVE) } },
    [RR_INTERRUPT] = { "HwStorInterrupt", "SPEC S4.5/S4.6, S1.2, S1.4",
        ALL4(I, N, RI_DIRQL) },
    [RR_MSI_INTERRUPT] = { "HwMSIInterruptRoutine", "SPEC S4.5/S4.6, S1.2",
        ALL4(I, N, RI_DIRQL) },
    [RR_STARTIO] = { "HwStorStartIo", "SPEC S4.5/S4.6, S5.3-S5.6",
        { CELL(S | I, N, RI_DIRQL),            /* S5.3, S5.4 */
          CELL(S, D | I, RI_DISPATCH),         /* S5.3 */
          CELL(N, D | I | S, RI_DISPATCH),     /* S5.5 */
          CELL(N, D | I | S, RI_UPTO_DISPATCH) /* S5.6 */ } },
    [RR_BUILDIO] = { "HwStorBuildIo", "SPEC S4.5/S4.6, S5.2",
        ALL4(N, D | S | I, RI_DISPATCH) },
    [RR_TIMER] = { "HwStorTimer", "SPEC S4.5/S4.6",
        { CELL(S | I, N, RI_DIRQL), CELL(S, I, RI_DISPATCH),
          CELL(S, I, RI_DISPATCH), CELL(S, I, RI_DISPATCH) } },
    [RR_RESET_BUS] = { "HwStorResetBus", "SPEC S4.5/S4.6",
        { CELL(S | I, N, RI_DIRQL), CELL(S, I, RI_DISPATCH),
          CELL(S, I, RI_DISPATCH), CELL(S, I, RI_DISPATCH) } },
    /* Control types called with no lock; see rules_adapter_control(). */
    [RR_ADAPTER_CONTROL] = { "HwStorAdapterControl", "SPEC S4.5/S4.6 + HW_ADAPTER_CONTROL table",
        ALL4(N, D | S | I, RI_PASSIVE) },
    [RR_UNIT_CONTROL] = { "HwStorUnitControl", "SPEC S4.5/S4.6",
        ALL4(N, D | S | I, RI_UPTO_DISPATCH) },
    [RR_TRACING_ENABLED] = { "HwStorTracingEnabled", "SPEC S4.5/S4.6",
        ALL4(N, D | S | I, RI_UPTO_DISPATCH) },
    [RR_PASSIVE_INITIALIZE] = { "HwStorPassiveInitializeRoutine", "SPEC S4.5/S4.6, S1.4",
        ALL4(N, N, RI_PASSIVE) },
    [RR_DPC] = { "HwStorDpcRoutine", "SPEC S4.5/S4.6, S1.4",
        ALL4(N, D | S | I, RI_DISPATCH) },
    [RR_STATE_CHANGE] = { "HwStorStateChange", "SPEC S4.5/S4.6",
        { CELL(S | I, N, RI_DIRQL), CELL(S, I, RI_DISPATCH),
          CELL(S, I, RI_DISPATCH), CELL(S, I, RI_DISPATCH) } },
    [RR_SYNCHRONIZED_ACCESS] = { "SynchronizedAccessRoutine", "SPEC S3.1, S2.6",
        ALL4(I, N, RI_DIRQL) },
    [RR_DRIVER_ENTRY] = { "DriverEntry", "StorPortInitialize (PASSIVE_LEVEL)",
        ALL4(N, N, RI_PASSIVE) },
    [RR_FREE_ADAPTER_RESOURCES] = { "HwStorFreeAdapterResources", "VIRTUAL_HW_INITIALIZATION_DATA (removal)",
        ALL4(N, D | S | I, RI_PASSIVE) },
    [RR_WORK_ITEM] = { "HwStorWorkItem", "StorPortQueueWorkItem (PASSIVE_LEVEL worker thread)",
        ALL4(N, D | S | I, RI_PASSIVE) },
};

/* S4.4: "first DpcLock or StartIoLock, then InterruptLock".  DPC and
 * StartIo share a rank: the spec orders neither before the other, and
 * "holding the StartIo lock, one may still take ... a DPC lock"; a real
 * inversion between them is the lock-order graph's to find. */
const struct rules_lock_row rules_locks[RL_COUNT] = {
    [RL_DPC] = { "DpcLock", 1, RI_DISPATCH, RI_DISPATCH },
    [RL_STARTIO] = { "StartIoLock", 1, RI_DISPATCH, RI_DISPATCH },
    [RL_INTERRUPT] = { "InterruptLock", 2, RI_DIRQL, RI_DIRQL },
};

/* HW_ADAPTER_CONTROL: IRQL and lock per control type.  Stop and restart
 * hold the interrupt lock at DIRQL on a physical adapter; a virtual
 * adapter has no interrupt to synchronize with, so they run at PASSIVE
 * with no lock (docs/rules.md). */
static const struct rules_cell ac_passive = CELL(N, D | S | I, RI_PASSIVE);
static const struct rules_cell ac_upto_dispatch = CELL(N, D | S | I, RI_UPTO_DISPATCH);
static const struct rules_cell ac_stop_restart_physical = CELL(I, D | S | I, RI_DIRQL);

const struct rules_cell *rules_adapter_control(SCSI_ADAPTER_CONTROL_TYPE type,
                                               enum ustor_sync_mode mode)
{
    switch (type) {
    case ScsiStopAdapter:
    case ScsiRestartAdapter:
        return mode == USTOR_SYNC_VIRTUAL ? &ac_passive : &ac_stop_restart_physical;
    case ScsiAdapterPower:
    case ScsiAdapterPoFxPowerRequired:
    case ScsiAdapterPoFxPowerActive:
    case ScsiAdapterPoFxPowerSetFState:
    case ScsiAdapterPoFxPowerControl:
        return &ac_upto_dispatch;
    default:
        return &ac_passive;
    }
}

const char *rules_irql_name(enum rules_irql irql)
{
    switch (irql) {
    case RI_PASSIVE:
        return "PASSIVE_LEVEL";
    case RI_DISPATCH:
        return "DISPATCH_LEVEL";
    case RI_DIRQL:
        return "DIRQL";
    case RI_UPTO_DISPATCH:
        return "<= DISPATCH_LEVEL";
    }
    return "?";
}

rules_lockset rules_may_acquire(const struct rules_cell *cell, rules_lockset held_now)
{
    rules_lockset out = RL_NONE;
    for (unsigned l = 0; l < RL_COUNT; l++)
        if (rules_may_acquire_one(cell, held_now, (enum rules_lock)l))
            out |= RL_BIT(l);
    return out;
}

const char *rules_lockset_str(rules_lockset s, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    if (s == RL_NONE) {
        snprintf(buf, len, "none");
        return buf;
    }
    for (unsigned l = 0; l < RL_COUNT && off < len; l++)
        if (s & RL_BIT(l))
            off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? "+" : "",
                                    rules_locks[l].name);
    return buf;
}
