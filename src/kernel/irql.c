/*
 * irql.c - the per-thread IRQL and the routines that raise and lower it.
 */
#include "ukern_internal.h"

_Thread_local KIRQL ukern_tls_irql = PASSIVE_LEVEL;
#define tls_irql ukern_tls_irql
static _Thread_local int tls_critical_regions;

void ukern_irql_change(KIRQL new_irql, const char *api)
{
    KIRQL old = tls_irql;
    tls_irql = new_irql;
    if (old != new_irql && ukern_hooks.irql_changed)
        ukern_hooks.irql_changed(old, new_irql, api);
}

KIRQL KeGetCurrentIrql(VOID)
{
    UKERN_API_ENTRY(KeGetCurrentIrql);
    return tls_irql;
}

VOID KeRaiseIrql(KIRQL NewIrql, PKIRQL OldIrql)
{
    UKERN_API_ENTRY(KeRaiseIrql);
    KIRQL cur = tls_irql;
    if (OldIrql)
        *OldIrql = cur;
    else
        ukern_violation("KeRaiseIrql-Args", "KeRaiseIrql",
                        "OldIrql is NULL; pass the address of a KIRQL that "
                        "receives the previous IRQL");
    if (NewIrql > HIGH_LEVEL) {
        ukern_violation("IrqlKeRaiseLower", "KeRaiseIrql",
                        "NewIrql %u is above HIGH_LEVEL (15); IRQL unchanged",
                        NewIrql);
        return;
    }
    if (NewIrql < cur) {
        ukern_violation("IrqlKeRaiseLower", "KeRaiseIrql",
                        "NewIrql %u is below the current IRQL %u (use "
                        "KeLowerIrql to lower); IRQL unchanged",
                        NewIrql, cur);
        return;
    }
    ukern_irql_change(NewIrql, "KeRaiseIrql");
}

VOID KeLowerIrql(KIRQL NewIrql)
{
    UKERN_API_ENTRY(KeLowerIrql);
    KIRQL cur = tls_irql;
    if (NewIrql > cur) {
        ukern_violation("IrqlKeRaiseLower", "KeLowerIrql",
                        "NewIrql %u is above the current IRQL %u (use "
                        "KeRaiseIrql to raise); IRQL unchanged",
                        NewIrql, cur);
        return;
    }
    ukern_irql_change(NewIrql, "KeLowerIrql");
}

KIRQL KeRaiseIrqlToDpcLevel(VOID)
{
    UKERN_API_ENTRY(KeRaiseIrqlToDpcLevel);
    KIRQL cur = tls_irql;
    if (cur > DISPATCH_LEVEL) {
        ukern_violation("IrqlKeRaiseLower", "KeRaiseIrqlToDpcLevel",
                        "called at IRQL %u > DISPATCH_LEVEL; IRQL unchanged",
                        cur);
        return cur;
    }
    ukern_irql_change(DISPATCH_LEVEL, "KeRaiseIrqlToDpcLevel");
    return cur;
}

VOID KeEnterCriticalRegion(VOID)
{
    UKERN_API_ENTRY(KeEnterCriticalRegion);
    if (tls_irql > APC_LEVEL)
        ukern_violation("IrqlKeApcLte1", "KeEnterCriticalRegion",
                        "called at IRQL %u; must be <= APC_LEVEL", tls_irql);
    tls_critical_regions++;
}

VOID KeLeaveCriticalRegion(VOID)
{
    UKERN_API_ENTRY(KeLeaveCriticalRegion);
    if (tls_irql > APC_LEVEL)
        ukern_violation("IrqlKeApcLte1", "KeLeaveCriticalRegion",
                        "called at IRQL %u; must be <= APC_LEVEL", tls_irql);
    if (tls_critical_regions == 0) {
        ukern_violation("CriticalRegions", "KeLeaveCriticalRegion",
                        "no matching KeEnterCriticalRegion on this thread");
        return;
    }
    tls_critical_regions--;
}

VOID UstorPagedCodeCheck(PCSTR Function)
{
    if (tls_irql > APC_LEVEL)
        ukern_violation("PagedCode", Function ? Function : "PAGED_CODE",
                        "pageable code runs at IRQL %u; it must run at "
                        "IRQL <= APC_LEVEL (1)",
                        tls_irql);
}
