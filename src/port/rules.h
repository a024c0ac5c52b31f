/*
 * rules.h - the Storport synchronization rules as data: SPEC tables A and
 * B (S4.5, S4.6), the IRQL of every miniport routine (S1.4, S5.3, S5.6,
 * HW_ADAPTER_CONTROL's per-control-type table) and the lock order (S4.4).
 *
 * There is exactly one copy of these rules: the tables in rules.c, and
 * the small functions that read them, here (inline, because every I/O and
 * every StorPort lock call asks them) or in rules.c.  The dispatcher asks
 * rules_cell() which locks to take and rules_irql_value() which IRQL to
 * run a routine at; the verifier and the lock calls ask
 * rules_may_acquire_one() / rules_may_acquire(), rules_irql_ok() and
 * rules_order_ok() to judge what the miniport does.
 */
#ifndef USTOR_PORT_RULES_H
#define USTOR_PORT_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <storport.h>
#include <ustor/ustor.h>

/* Lock classes.  A STOR_SPINLOCK value maps onto one; per-message MSI
 * locks are interrupt-class locks. */
enum rules_lock {
    RL_DPC = 0,      /* DpcLock, ThreadedDpcLock, DpcLevelLock (a STOR_DPC's lock) */
    RL_STARTIO,      /* StartIoLock */
    RL_INTERRUPT,    /* InterruptLock, or an MSI message lock */
    RL_COUNT
};
typedef uint8_t rules_lockset; /* bit (1 << enum rules_lock) */
#define RL_BIT(l) ((rules_lockset)(1u << (l)))
#define RL_NONE ((rules_lockset)0)

/* Miniport routines, in the order of tables A and B. */
enum rules_routine {
    RR_FIND_ADAPTER = 0,
    RR_INITIALIZE,
    RR_INTERRUPT,
    RR_MSI_INTERRUPT,
    RR_STARTIO,
    RR_BUILDIO,
    RR_TIMER,
    RR_RESET_BUS,
    RR_ADAPTER_CONTROL,
    RR_UNIT_CONTROL,
    RR_TRACING_ENABLED,
    RR_PASSIVE_INITIALIZE,
    RR_DPC,
    RR_STATE_CHANGE,
    /* Not in the tables but with the same kind of rule: the callback of
     * StorPortSynchronizeAccess (S3: runs like the ISR), the port's own
     * entry (DriverEntry), and a virtual miniport's HwFreeAdapterResources
     * (called at removal, PASSIVE_LEVEL, nothing held: docs/rules.md), and
     * HwStorWorkItem (StorPortQueueWorkItem: PASSIVE_LEVEL in a worker
     * thread, nothing held, any lock may be taken). */
    RR_SYNCHRONIZED_ACCESS,
    RR_DRIVER_ENTRY,
    RR_FREE_ADAPTER_RESOURCES,
    RR_WORK_ITEM,
    RR_COUNT
};

/* IRQL a routine runs at. */
enum rules_irql {
    RI_PASSIVE,        /* PASSIVE_LEVEL */
    RI_DISPATCH,       /* DISPATCH_LEVEL */
    RI_DIRQL,          /* the adapter's device IRQL (interrupt SynchronizeIrql) */
    RI_UPTO_DISPATCH,  /* any IRQL <= DISPATCH_LEVEL; the port uses DISPATCH_LEVEL */
};

struct rules_cell {
    rules_lockset held;  /* table A: taken by the port before the call */
    rules_lockset may;   /* table B as written (before the order rule) */
    enum rules_irql irql;
};

struct rules_routine_row {
    const char *name;    /* "HwStorStartIo" */
    const char *cite;    /* where the row comes from */
    struct rules_cell mode[USTOR_SYNC_MODE_COUNT];
};

struct rules_lock_row {
    const char *name;    /* "StartIoLock" */
    unsigned rank;       /* S4.4: lower rank first; equal ranks unordered */
    enum rules_irql acquire_at;    /* IRQL the lock raises to */
    enum rules_irql max_caller;    /* highest IRQL a caller may be at */
};

extern const struct rules_routine_row rules_routines[RR_COUNT];
extern const struct rules_lock_row rules_locks[RL_COUNT];

/* Row for HwStorAdapterControl with a given control type (the per-type
 * table of the HW_ADAPTER_CONTROL page; SPEC note on table A). */
const struct rules_cell *rules_adapter_control(SCSI_ADAPTER_CONTROL_TYPE type,
                                               enum ustor_sync_mode mode);

/* Inline: the dispatcher asks on every I/O.  The data stays in rules.c. */
static inline const struct rules_cell *rules_cell(enum rules_routine r, enum ustor_sync_mode mode)
{
    return &rules_routines[r].mode[mode];
}
static inline rules_lockset rules_port_held(enum rules_routine r, enum ustor_sync_mode m)
{
    return rules_cell(r, m)->held;
}

/* The IRQL the port calls at, given the adapter's DIRQL. */
static inline KIRQL rules_irql_value(enum rules_irql irql, KIRQL dirql)
{
    switch (irql) {
    case RI_PASSIVE:
        return PASSIVE_LEVEL;
    case RI_DIRQL:
        return dirql;
    case RI_DISPATCH:
    case RI_UPTO_DISPATCH:
    default:
        return DISPATCH_LEVEL;
    }
}

/* Whether an observed IRQL satisfies a routine's IRQL rule. */
static inline bool rules_irql_ok(enum rules_irql irql, KIRQL observed, KIRQL dirql)
{
    switch (irql) {
    case RI_PASSIVE:
        return observed == PASSIVE_LEVEL;
    case RI_DISPATCH:
        return observed == DISPATCH_LEVEL;
    case RI_DIRQL:
        return observed == dirql;
    case RI_UPTO_DISPATCH:
        return observed <= DISPATCH_LEVEL;
    }
    return false;
}
const char *rules_irql_name(enum rules_irql irql);

/* The three judgements below are inline because every
 * StorPortAcquireSpinLock asks them; they read the tables in rules.c. */

/* S4.4: may a lock of class `want` be taken while `held` are held? */
static inline bool rules_order_ok(rules_lockset held, enum rules_lock want)
{
    if (held == RL_NONE)
        return true;
    for (unsigned l = 0; l < RL_COUNT; l++)
        if ((held & RL_BIT(l)) && rules_locks[l].rank > rules_locks[want].rank)
            return false;
    return true;
}

/* Table B filtered by the order rule and by what is already held: may a
 * routine (cell) acquire a lock of class `want` given everything now held
 * (the port's and its own)?  "An already-held lock is never acquirable";
 * DPC locks are per STOR_DPC, so holding one does not make another
 * unavailable, while StartIo and Interrupt are single per adapter. */
static inline bool rules_may_acquire_one(const struct rules_cell *cell, rules_lockset held_now,
                                         enum rules_lock want)
{
    return (cell->may & RL_BIT(want)) && (want == RL_DPC || !(held_now & RL_BIT(want))) &&
           rules_order_ok(held_now, want);
}

/* All the classes rules_may_acquire_one allows. */
rules_lockset rules_may_acquire(const struct rules_cell *cell, rules_lockset held_now);

/* STOR_SPINLOCK -> class; false for InvalidLock and unknown values. */
static inline bool rules_lock_from_stor(STOR_SPINLOCK l, enum rules_lock *out)
{
    switch (l) {
    case DpcLock:
    case ThreadedDpcLock:
    case DpcLevelLock:
        *out = RL_DPC;
        return true;
    case StartIoLock:
        *out = RL_STARTIO;
        return true;
    case InterruptLock:
        *out = RL_INTERRUPT;
        return true;
    default:
        return false;
    }
}

/* "DpcLock|StartIoLock" into buf. */
const char *rules_lockset_str(rules_lockset s, char *buf, size_t len);

#endif /* USTOR_PORT_RULES_H */
