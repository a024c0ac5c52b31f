/*
 * dpc.c - DPC objects and the per-CPU DPC threads.
 *
 * A KDPC is queued on the calling thread's CPU (as on Windows, a DPC runs
 * on the processor that queued it).  KDPC.DpcData points at the CPU while
 * the DPC is queued, so a second insert fails; it is cleared before the
 * routine runs, so the routine may queue its own DPC again.
 */
#include "ukern_internal.h"

VOID KeInitializeDpc(PRKDPC Dpc, PKDEFERRED_ROUTINE DeferredRoutine,
                     PVOID DeferredContext)
{
    UKERN_API_ENTRY(KeInitializeDpc);
    if (!Dpc || !DeferredRoutine) {
        ukern_violation("KeInitializeDpc-Args", "KeInitializeDpc",
                        "%s is NULL; pass a KDPC and its CustomDpc routine",
                        Dpc ? "DeferredRoutine" : "Dpc");
        return;
    }
    Dpc->TargetInfoAsUlong = 0;
    Dpc->Type = 19; /* DpcObject */
    Dpc->Importance = MediumImportance;
    Dpc->Number = 0;
    Dpc->DpcListEntry.Next = NULL;
    Dpc->ProcessorHistory = 0;
    Dpc->DeferredRoutine = DeferredRoutine;
    Dpc->DeferredContext = DeferredContext;
    Dpc->SystemArgument1 = NULL;
    Dpc->SystemArgument2 = NULL;
    __atomic_store_n(&Dpc->DpcData, NULL, __ATOMIC_RELEASE);
}

bool ukern_dpc_queue_on(PKDPC dpc, ULONG cpu_index, PVOID arg1, PVOID arg2)
{
    struct ukern_cpu *cpu = ukern_cpu_get(cpu_index);
    if (!cpu) {
        ukern_violation("KeInsertQueueDpc-NotRunning", "KeInsertQueueDpc",
                        "the kernel emulation is not running (call "
                        "ukern_init first); DPC %p not queued",
                        (void *)dpc);
        return false;
    }
    pthread_mutex_lock(&cpu->lock);
    if (cpu->stop) {
        pthread_mutex_unlock(&cpu->lock);
        return false;
    }
    PVOID expected = NULL;
    if (!__atomic_compare_exchange_n(&dpc->DpcData, &expected, (PVOID)cpu, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        pthread_mutex_unlock(&cpu->lock);
        return false; /* already queued (on this or another CPU) */
    }
    dpc->SystemArgument1 = arg1;
    dpc->SystemArgument2 = arg2;
    dpc->Number = (USHORT)cpu->index;
    dpc->ProcessorHistory = (KAFFINITY)++cpu->dpc_seq;
    dpc->DpcListEntry.Next = NULL;
    if (cpu->dpc_tail)
        cpu->dpc_tail->DpcListEntry.Next = &dpc->DpcListEntry;
    else
        cpu->dpc_head = dpc;
    cpu->dpc_tail = dpc;
    cpu->dpc_count++;
    pthread_mutex_unlock(&cpu->lock);
    /* After the unlock: the woken thread does not wake only to block on
     * the mutex we still hold (one context switch less per wake-up). */
    pthread_cond_signal(&cpu->dpc_cond);
    return true;
}

BOOLEAN KeInsertQueueDpc(PRKDPC Dpc, PVOID SystemArgument1,
                         PVOID SystemArgument2)
{
    UKERN_API_ENTRY(KeInsertQueueDpc);
    if (!Dpc || !Dpc->DeferredRoutine) {
        ukern_violation("KeInsertQueueDpc-Args", "KeInsertQueueDpc",
                        "%s; initialize the DPC with KeInitializeDpc first",
                        Dpc ? "the DPC has no DeferredRoutine" : "Dpc is NULL");
        return FALSE;
    }
    KIRQL irql = KeGetCurrentIrql();
    if (irql > HIGH_LEVEL)
        ukern_violation("IrqlKeInsertQueueDpc", "KeInsertQueueDpc",
                        "called at invalid IRQL %u", irql);
    return ukern_dpc_queue_on(Dpc, ukern_current_cpu(), SystemArgument1,
                              SystemArgument2)
               ? TRUE
               : FALSE;
}

static PKDPC dpc_next(PKDPC dpc)
{
    PSINGLE_LIST_ENTRY next = dpc->DpcListEntry.Next;
    return next ? CONTAINING_RECORD(next, KDPC, DpcListEntry) : NULL;
}

BOOLEAN KeRemoveQueueDpc(PRKDPC Dpc)
{
    UKERN_API_ENTRY(KeRemoveQueueDpc);
    if (!Dpc)
        return FALSE;
    struct ukern_cpu *cpu = __atomic_load_n(&Dpc->DpcData, __ATOMIC_ACQUIRE);
    if (!cpu)
        return FALSE;
    BOOLEAN removed = FALSE;
    pthread_mutex_lock(&cpu->lock);
    /* Re-check under the lock: the DPC thread may have dequeued it. */
    if (__atomic_load_n(&Dpc->DpcData, __ATOMIC_ACQUIRE) == cpu) {
        PKDPC prev = NULL;
        for (PKDPC d = cpu->dpc_head; d; prev = d, d = dpc_next(d)) {
            if (d != Dpc)
                continue;
            if (prev)
                prev->DpcListEntry.Next = d->DpcListEntry.Next;
            else
                cpu->dpc_head = dpc_next(d);
            if (cpu->dpc_tail == d)
                cpu->dpc_tail = prev;
            cpu->dpc_count--;
            d->DpcListEntry.Next = NULL;
            __atomic_store_n(&d->DpcData, NULL, __ATOMIC_RELEASE);
            removed = TRUE;
            pthread_cond_broadcast(&cpu->done_cond);
            break;
        }
    }
    pthread_mutex_unlock(&cpu->lock);
    return removed;
}

/* True when every DPC with sequence number <= seq has left the CPU. */
static bool cpu_flushed(const struct ukern_cpu *cpu, uint64_t seq)
{
    if (cpu->dpc_head && (uint64_t)cpu->dpc_head->ProcessorHistory <= seq)
        return false;
    return cpu->dpc_running_seq == 0 || cpu->dpc_running_seq > seq;
}

void ukern_dpc_flush(void)
{
    unsigned n = ukern_cpu_count();
    for (unsigned i = 0; i < n; i++) {
        struct ukern_cpu *cpu = ukern_cpu_get(i);
        if (!cpu)
            return;
        /* A DPC cannot wait for its own CPU's queue: it is what runs it. */
        if (ukern_tls_in_dpc && ukern_current_cpu() == cpu->index)
            continue;
        pthread_mutex_lock(&cpu->lock);
        uint64_t target = cpu->dpc_seq;
        while (!cpu->stop && !cpu_flushed(cpu, target))
            pthread_cond_wait(&cpu->done_cond, &cpu->lock);
        pthread_mutex_unlock(&cpu->lock);
    }
}

VOID KeFlushQueuedDpcs(VOID)
{
    UKERN_API_ENTRY(KeFlushQueuedDpcs);
    KIRQL irql = KeGetCurrentIrql();
    if (irql != PASSIVE_LEVEL) {
        ukern_violation("IrqlKeFlushQueuedDpcs", "KeFlushQueuedDpcs",
                        "called at IRQL %u; must be PASSIVE_LEVEL (waiting "
                        "above it could deadlock); not flushed",
                        irql);
        return;
    }
    ukern_dpc_flush();
}

unsigned ukern_dpc_pending(void)
{
    unsigned n = ukern_cpu_count(), total = 0;
    for (unsigned i = 0; i < n; i++) {
        struct ukern_cpu *cpu = ukern_cpu_get(i);
        if (!cpu)
            break;
        pthread_mutex_lock(&cpu->lock);
        total += cpu->dpc_count;
        pthread_mutex_unlock(&cpu->lock);
    }
    return total;
}

static void run_dpc(PKDPC dpc, PKDEFERRED_ROUTINE routine, PVOID ctx,
                    PVOID a1, PVOID a2)
{
    ukern_irql_set(DISPATCH_LEVEL);
    ukern_tls_in_dpc = true;
    routine(dpc, ctx, a1, a2);
    ukern_tls_in_dpc = false;
    KIRQL after = KeGetCurrentIrql();
    if (after != DISPATCH_LEVEL) {
        ukern_violation("SpChangeIrql", "CustomDpc",
                        "DPC routine %p returned at IRQL %u; it was called "
                        "at DISPATCH_LEVEL (2) and must return at it",
                        (void *)(uintptr_t)routine, after);
        ukern_irql_set(DISPATCH_LEVEL);
    }
    ukern_held_release_all("CustomDpc");
}

void *ukern_dpc_thread_main(void *arg)
{
    struct ukern_cpu *cpu = arg;
    ukern_bind_thread_cpu(cpu->index);
    ukern_irql_set(DISPATCH_LEVEL);
    pthread_mutex_lock(&cpu->lock);
    for (;;) {
        /* Drain the queue even when stopping, so nothing waits forever on a
         * DPC that was accepted. */
        while (!cpu->dpc_head && !cpu->stop)
            pthread_cond_wait(&cpu->dpc_cond, &cpu->lock);
        PKDPC dpc = cpu->dpc_head;
        if (!dpc)
            break; /* stopping and drained */
        cpu->dpc_head = dpc_next(dpc);
        if (!cpu->dpc_head)
            cpu->dpc_tail = NULL;
        cpu->dpc_count--;
        dpc->DpcListEntry.Next = NULL;
        cpu->dpc_running_seq = (uint64_t)dpc->ProcessorHistory;
        PKDEFERRED_ROUTINE routine = dpc->DeferredRoutine;
        PVOID ctx = dpc->DeferredContext;
        PVOID a1 = dpc->SystemArgument1, a2 = dpc->SystemArgument2;
        __atomic_store_n(&dpc->DpcData, NULL, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&cpu->lock);

        run_dpc(dpc, routine, ctx, a1, a2);

        pthread_mutex_lock(&cpu->lock);
        cpu->dpc_running_seq = 0;
        pthread_cond_broadcast(&cpu->done_cond);
    }
    pthread_mutex_unlock(&cpu->lock);
    ukern_irql_set(PASSIVE_LEVEL);
    return NULL;
}
