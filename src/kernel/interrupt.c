/*
 * interrupt.c - interrupt objects, their delivery (interrupt threads or the
 * caller's thread), KeSynchronizeExecution (SPEC S2) and
 * IoConnectInterruptEx / IoDisconnectInterruptEx.
 *
 * An ISR always runs at its object's SynchronizeIrql holding the object's
 * (possibly shared, SPEC S1.2) spin lock, or for a passive-level ISR
 * (SPEC S1.3) after winning its synchronization event.  KeSynchronizeExecution
 * takes the same lock the same way, which is what keeps a SynchCritSection
 * routine from ever overlapping the ISRs of the set (SPEC S2.3).
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include "ukern_internal.h"

/* ---- the object's lock ------------------------------------------------- */

static const void *intr_lock_object(PKINTERRUPT intr)
{
    return intr->Passive ? (const void *)intr->PassiveEvent
                         : (const void *)intr->ActualLock;
}

/* Raises to SynchronizeIrql and takes the lock or event (SPEC S2.1, S2.2).
 * The caller has already checked that its IRQL is <= SynchronizeIrql and
 * that this thread does not hold the lock. */
static void intr_acquire(PKINTERRUPT intr, PKIRQL old, const char *api)
{
    KIRQL before = KeGetCurrentIrql();
    *old = before;
    if (before < intr->SynchronizeIrql)
        ukern_irql_change(intr->SynchronizeIrql, api);
    if (intr->Passive) {
        /* infinite wait: the holder is running an ISR or a SynchCritSection
         * routine, both of which return */
        (void)KeWaitForSingleObject(intr->PassiveEvent, Executive, KernelMode,
                                    FALSE, NULL);
    } else {
        ukern_spin_acquire_raw(intr->ActualLock);
    }
    (void)ukern_held_push(intr_lock_object(intr), UKERN_LOCK_INTERRUPT,
                          intr->Passive != 0);
    if (ukern_hooks.lock_acquired)
        ukern_hooks.lock_acquired(intr_lock_object(intr), UKERN_LOCK_INTERRUPT,
                                  before, intr);
}

/* Releases the lock or event and restores the IRQL (SPEC S2.4). */
static void intr_release(PKINTERRUPT intr, KIRQL old, const char *api)
{
    const void *obj = intr_lock_object(intr);
    (void)ukern_held_pop(obj, NULL);
    if (ukern_hooks.lock_releasing)
        ukern_hooks.lock_releasing(obj, UKERN_LOCK_INTERRUPT,
                                   KeGetCurrentIrql(), old, intr);
    if (intr->Passive)
        (void)KeSetEvent(intr->PassiveEvent, 0, FALSE);
    else
        ukern_spin_release_raw(intr->ActualLock);
    ukern_irql_change(old, api);
}

/* A routine run under the interrupt lock must give it back at the IRQL it
 * got it: report and repair otherwise. */
static void check_irql_kept(PKINTERRUPT intr, const char *who)
{
    KIRQL now = KeGetCurrentIrql();
    if (now != intr->SynchronizeIrql) {
        ukern_violation("SpChangeIrql", who,
                        "returned at IRQL %u; it was called at the interrupt's "
                        "SynchronizeIrql %u and must return at it",
                        now, intr->SynchronizeIrql);
        ukern_irql_set(intr->SynchronizeIrql);
    }
}

/* ---- creation and destruction ------------------------------------------ */

PKINTERRUPT ukern_interrupt_create(PKSERVICE_ROUTINE isr,
                                   PKMESSAGE_SERVICE_ROUTINE msg_isr,
                                   PVOID context, ULONG message_id,
                                   KIRQL irql, KIRQL sync_irql,
                                   PKSPIN_LOCK shared_lock,
                                   PKEVENT shared_event, ULONG target_cpu)
{
    const char *api = "IoConnectInterruptEx";
    if (!isr && !msg_isr) {
        ukern_violation("InterruptParameters", api,
                        "no service routine; pass an InterruptService or "
                        "InterruptMessageService routine");
        return NULL;
    }
    if (irql > HIGH_LEVEL || sync_irql > HIGH_LEVEL) {
        ukern_violation("InterruptParameters", api,
                        "Irql %u / SynchronizeIrql %u above HIGH_LEVEL (15)",
                        irql, sync_irql);
        return NULL;
    }
    if (sync_irql < irql) {
        ukern_violation("InterruptParameters", api,
                        "SynchronizeIrql %u is below the interrupt's Irql %u; "
                        "it must be >= Irql",
                        sync_irql, irql);
        return NULL;
    }
    bool passive = irql == PASSIVE_LEVEL;
    if (passive && (sync_irql != PASSIVE_LEVEL || shared_lock)) {
        ukern_violation("InterruptParameters", api,
                        "a passive-level interrupt (Irql 0) needs "
                        "SynchronizeIrql 0 and no spin lock (it is "
                        "synchronized by an event)");
        return NULL;
    }
    if (!passive && irql <= DISPATCH_LEVEL) {
        ukern_violation("InterruptParameters", api,
                        "Irql %u is not a device IRQL; use PASSIVE_LEVEL (0) "
                        "or a DIRQL above DISPATCH_LEVEL (2)",
                        irql);
        return NULL;
    }
    if (!passive && shared_event) {
        ukern_violation("InterruptParameters", api,
                        "a synchronization event is only for passive-level "
                        "interrupts; pass a spin lock for a DIRQL interrupt");
        return NULL;
    }
    PKINTERRUPT intr = calloc(1, sizeof(*intr));
    if (!intr)
        return NULL;
    intr->ServiceRoutine = isr;
    intr->MessageServiceRoutine = msg_isr;
    intr->ServiceContext = context;
    intr->MessageId = message_id;
    intr->Irql = irql;
    intr->SynchronizeIrql = sync_irql;
    intr->Passive = passive ? TRUE : FALSE;
    intr->SpinLockStorage = 0;
    intr->ActualLock = shared_lock ? shared_lock : &intr->SpinLockStorage;
    if (passive) {
        if (shared_event) {
            intr->PassiveEvent = shared_event;
        } else {
            KeInitializeEvent(&intr->PassiveEventStorage, SynchronizationEvent,
                              TRUE);
            intr->PassiveEvent = &intr->PassiveEventStorage;
        }
    }
    intr->TargetCpu = target_cpu;
    intr->NextPending = NULL;
    __atomic_store_n(&intr->Pending, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&intr->Connected, 1, __ATOMIC_RELEASE);
    return intr;
}

void ukern_interrupt_destroy(PKINTERRUPT intr)
{
    if (!intr)
        return;
    __atomic_store_n(&intr->Connected, 0, __ATOMIC_SEQ_CST);
    /* Triggers that saw it connected finish first (see ukern_interrupt_trigger). */
    while (__atomic_load_n(&intr->Triggering, __ATOMIC_ACQUIRE) > 0)
        sched_yield();
    struct ukern_cpu *cpu = ukern_cpu_get(intr->TargetCpu);
    if (cpu) {
        pthread_mutex_lock(&cpu->lock);
        /* drop a pending delivery */
        struct _KINTERRUPT **link = &cpu->intr_head, *prev = NULL;
        while (*link && *link != intr) {
            prev = *link;
            link = &(*link)->NextPending;
        }
        if (*link) {
            *link = intr->NextPending;
            if (cpu->intr_tail == intr)
                cpu->intr_tail = prev;
            intr->NextPending = NULL;
        }
        __atomic_store_n(&intr->Pending, 0, __ATOMIC_RELEASE);
        if (cpu->intr_running == intr && ukern_tls_in_isr &&
            ukern_current_cpu() == cpu->index) {
            pthread_mutex_unlock(&cpu->lock);
            ukern_violation("IoDisconnectInterrupt", "IoDisconnectInterruptEx",
                            "called from the interrupt's own ISR; the object "
                            "is disconnected but not freed");
            return;
        }
        /* wait for a running ISR */
        while (cpu->intr_running == intr)
            pthread_cond_wait(&cpu->done_cond, &cpu->lock);
        pthread_mutex_unlock(&cpu->lock);
    }
    /* A synchronous delivery on another thread still holds the lock until
     * its ISR returns; passing through the lock waits for it. */
    if (!ukern_held_contains(intr_lock_object(intr))) {
        if (intr->Passive) {
            (void)KeWaitForSingleObject(intr->PassiveEvent, Executive,
                                        KernelMode, FALSE, NULL);
            (void)KeSetEvent(intr->PassiveEvent, 0, FALSE);
        } else {
            ukern_spin_acquire_raw(intr->ActualLock);
            ukern_spin_release_raw(intr->ActualLock);
        }
    }
    free(intr);
}

/* ---- delivery ---------------------------------------------------------- */

/* Runs the ISR with the lock held; the caller checked the IRQL. */
static BOOLEAN intr_run_isr(PKINTERRUPT intr)
{
    KIRQL old;
    intr_acquire(intr, &old, "InterruptService");
    BOOLEAN claimed;
    if (intr->MessageServiceRoutine)
        claimed = intr->MessageServiceRoutine(intr, intr->ServiceContext,
                                              intr->MessageId);
    else
        claimed = intr->ServiceRoutine(intr, intr->ServiceContext);
    check_irql_kept(intr, "InterruptService");
    __atomic_add_fetch(&intr->Deliveries, 1, __ATOMIC_RELAXED);
    if (claimed)
        __atomic_add_fetch(&intr->Claimed, 1, __ATOMIC_RELAXED);
    intr_release(intr, old, "InterruptService");
    return claimed ? TRUE : FALSE;
}

static bool intr_trigger(PKINTERRUPT intr)
{
    if (!__atomic_load_n(&intr->Connected, __ATOMIC_SEQ_CST))
        return false;
    struct ukern_cpu *cpu = ukern_cpu_get(intr->TargetCpu);
    if (!cpu) {
        ukern_violation("InterruptNotRunning", "ukern_interrupt_trigger",
                        "the kernel emulation is not running (call ukern_init "
                        "first); interrupt not delivered");
        return false;
    }
    LONG expected = 0;
    if (!__atomic_compare_exchange_n(&intr->Pending, &expected, 1, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return true; /* coalesced with a delivery not yet started */
    pthread_mutex_lock(&cpu->lock);
    if (cpu->stop || !__atomic_load_n(&intr->Connected, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&intr->Pending, 0, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&cpu->lock);
        return false;
    }
    intr->NextPending = NULL;
    if (cpu->intr_tail)
        cpu->intr_tail->NextPending = intr;
    else
        cpu->intr_head = intr;
    cpu->intr_tail = intr;
    pthread_mutex_unlock(&cpu->lock);
    pthread_cond_signal(&cpu->intr_cond); /* after the unlock, as for DPCs */
    return true;
}

bool ukern_interrupt_trigger(PKINTERRUPT intr)
{
    if (!intr)
        return false;
    /* Counted, so that ukern_interrupt_destroy can wait for a trigger that
     * passed the Connected check (a device thread racing the disconnect)
     * before the object and its CPU go away. */
    __atomic_fetch_add(&intr->Triggering, 1, __ATOMIC_SEQ_CST);
    bool delivered = intr_trigger(intr);
    __atomic_fetch_sub(&intr->Triggering, 1, __ATOMIC_RELEASE);
    return delivered;
}

BOOLEAN ukern_interrupt_deliver(PKINTERRUPT intr)
{
    if (!intr || !__atomic_load_n(&intr->Connected, __ATOMIC_ACQUIRE))
        return FALSE;
    /* An interrupt that arrives while this thread is at or above its Irql,
     * or already holds its lock (e.g. the ISR itself rang a doorbell), is
     * masked on real hardware: deliver it later instead of deadlocking.
     * A passive-level ISR can only be run from PASSIVE_LEVEL. */
    KIRQL cur = KeGetCurrentIrql();
    bool masked = intr->Passive ? cur != PASSIVE_LEVEL : cur >= intr->Irql;
    if (masked || ukern_held_contains(intr_lock_object(intr))) {
        (void)ukern_interrupt_trigger(intr);
        return FALSE;
    }
    bool was_isr = ukern_tls_in_isr;
    ukern_tls_in_isr = true;
    BOOLEAN r = intr_run_isr(intr);
    ukern_tls_in_isr = was_isr;
    return r;
}

void *ukern_intr_thread_main(void *arg)
{
    struct ukern_cpu *cpu = arg;
    ukern_bind_thread_cpu(cpu->index);
    ukern_irql_set(PASSIVE_LEVEL);
    pthread_mutex_lock(&cpu->lock);
    for (;;) {
        while (!cpu->intr_head && !cpu->stop)
            pthread_cond_wait(&cpu->intr_cond, &cpu->lock);
        if (cpu->stop)
            break;
        PKINTERRUPT intr = cpu->intr_head;
        cpu->intr_head = intr->NextPending;
        if (!cpu->intr_head)
            cpu->intr_tail = NULL;
        intr->NextPending = NULL;
        cpu->intr_running = intr;
        /* Triggers from now on queue a new delivery: edge semantics. */
        __atomic_store_n(&intr->Pending, 0, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&cpu->lock);

        if (__atomic_load_n(&intr->Connected, __ATOMIC_ACQUIRE)) {
            ukern_tls_in_isr = true;
            (void)intr_run_isr(intr);
            ukern_tls_in_isr = false;
            ukern_held_release_all("InterruptService");
            ukern_irql_set(PASSIVE_LEVEL);
        }

        pthread_mutex_lock(&cpu->lock);
        cpu->intr_running = NULL;
        pthread_cond_broadcast(&cpu->done_cond);
    }
    /* stopping: undelivered interrupts are dropped */
    while (cpu->intr_head) {
        PKINTERRUPT intr = cpu->intr_head;
        cpu->intr_head = intr->NextPending;
        intr->NextPending = NULL;
        __atomic_store_n(&intr->Pending, 0, __ATOMIC_RELEASE);
    }
    cpu->intr_tail = NULL;
    pthread_mutex_unlock(&cpu->lock);
    return NULL;
}

/* ---- the lock as the port uses it -------------------------------------- */

/* Shared precondition of everything that takes the interrupt lock from
 * outside an ISR; returns false when taking it would be wrong or deadlock. */
static bool may_take_intr_lock(PKINTERRUPT intr, const char *rule,
                               const char *api)
{
    KIRQL cur = KeGetCurrentIrql();
    if (cur > intr->SynchronizeIrql) {
        ukern_violation(rule, api,
                        "called at IRQL %u, above the interrupt's "
                        "SynchronizeIrql %u (SPEC S2.5); the routine is not "
                        "called",
                        cur, intr->SynchronizeIrql);
        return false;
    }
    if (ukern_held_contains(intr_lock_object(intr))) {
        ukern_violation(rule, api,
                        "this thread already holds the interrupt lock (inside "
                        "the ISR or a SynchCritSection routine of the same "
                        "set); taking it again would deadlock");
        return false;
    }
    return true;
}

void ukern_interrupt_lock(PKINTERRUPT intr, PKIRQL old)
{
    KIRQL dummy;
    if (!old)
        old = &dummy;
    *old = KeGetCurrentIrql();
    if (!intr) {
        ukern_violation("InterruptLock-Args", "ukern_interrupt_lock",
                        "interrupt object is NULL");
        return;
    }
    if (!may_take_intr_lock(intr, "InterruptLock-Irql", "ukern_interrupt_lock"))
        return;
    intr_acquire(intr, old, "ukern_interrupt_lock");
}

void ukern_interrupt_unlock(PKINTERRUPT intr, KIRQL old)
{
    if (!intr)
        return;
    if (!ukern_held_contains(intr_lock_object(intr))) {
        ukern_violation("InterruptLock-Release", "ukern_interrupt_unlock",
                        "this thread does not hold the interrupt lock; "
                        "nothing released");
        return;
    }
    intr_release(intr, old, "ukern_interrupt_unlock");
}

/* ---- KeSynchronizeExecution (SPEC S2) ----------------------------------- */

BOOLEAN KeSynchronizeExecution(PKINTERRUPT Interrupt,
                               PKSYNCHRONIZE_ROUTINE SynchronizeRoutine,
                               PVOID SynchronizeContext)
{
    UKERN_API_ENTRY(KeSynchronizeExecution);
    if (!Interrupt || !SynchronizeRoutine) {
        ukern_violation("KeSynchronizeExecution-Args", "KeSynchronizeExecution",
                        "%s is NULL; pass the interrupt object from "
                        "IoConnectInterruptEx and a SynchCritSection routine",
                        Interrupt ? "SynchronizeRoutine" : "Interrupt");
        return FALSE;
    }
    /* S2.5: from above the SynchronizeIrql the routine cannot be run (the
     * raise would be a lowering and the lock may be ours): report, skip. */
    if (!may_take_intr_lock(Interrupt, "KeSynchronizeExecution-Irql",
                            "KeSynchronizeExecution"))
        return FALSE;
    KIRQL old;
    intr_acquire(Interrupt, &old, "KeSynchronizeExecution"); /* S2.1, S2.2 */
    BOOLEAN result = SynchronizeRoutine(SynchronizeContext);  /* S2.3 */
    check_irql_kept(Interrupt, "SynchCritSection");
    intr_release(Interrupt, old, "KeSynchronizeExecution"); /* S2.4 */
    return result;
}

/* ---- IoConnectInterruptEx ------------------------------------------------ */

#define PDO_TABLE_SIZE 64

static pthread_mutex_t g_pdo_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    PDEVICE_OBJECT pdo;
    ULONG messages;
} g_pdo_table[PDO_TABLE_SIZE];

int ukern_pdo_set_interrupt_messages(PDEVICE_OBJECT pdo, ULONG message_count)
{
    int rc = -ENOSPC;
    pthread_mutex_lock(&g_pdo_lock);
    int free_slot = -1;
    for (int i = 0; i < PDO_TABLE_SIZE; i++) {
        if (g_pdo_table[i].pdo == pdo) {
            g_pdo_table[i].messages = message_count;
            rc = 0;
            goto out;
        }
        if (!g_pdo_table[i].pdo && free_slot < 0)
            free_slot = i;
    }
    if (free_slot >= 0) {
        g_pdo_table[free_slot].pdo = pdo;
        g_pdo_table[free_slot].messages = message_count;
        rc = 0;
    }
out:
    pthread_mutex_unlock(&g_pdo_lock);
    return rc;
}

void ukern_pdo_forget(PDEVICE_OBJECT pdo)
{
    pthread_mutex_lock(&g_pdo_lock);
    for (int i = 0; i < PDO_TABLE_SIZE; i++)
        if (g_pdo_table[i].pdo == pdo)
            g_pdo_table[i].pdo = NULL;
    pthread_mutex_unlock(&g_pdo_lock);
}

static ULONG pdo_messages(PDEVICE_OBJECT pdo)
{
    ULONG n = 1;
    pthread_mutex_lock(&g_pdo_lock);
    for (int i = 0; i < PDO_TABLE_SIZE; i++)
        if (pdo && g_pdo_table[i].pdo == pdo)
            n = g_pdo_table[i].messages;
    pthread_mutex_unlock(&g_pdo_lock);
    return n;
}

static ULONG first_cpu_of(KAFFINITY mask)
{
    if (mask == 0)
        return ukern_current_cpu();
    return (ULONG)__builtin_ctzll((unsigned long long)mask);
}

static NTSTATUS connect_fully_specified(
    PIO_CONNECT_INTERRUPT_FULLY_SPECIFIED_PARAMETERS p)
{
    if (!p->InterruptObject || !p->ServiceRoutine) {
        ukern_violation("InterruptParameters", "IoConnectInterruptEx",
                        "FullySpecified.%s is NULL",
                        p->InterruptObject ? "ServiceRoutine"
                                           : "InterruptObject");
        return STATUS_INVALID_PARAMETER;
    }
    PKINTERRUPT intr = ukern_interrupt_create(
        p->ServiceRoutine, NULL, p->ServiceContext, 0, p->Irql,
        p->SynchronizeIrql, p->SpinLock, NULL,
        first_cpu_of(p->ProcessorEnableMask));
    if (!intr)
        return STATUS_INVALID_PARAMETER;
    *p->InterruptObject = intr;
    return STATUS_SUCCESS;
}

static NTSTATUS connect_line_based(PIO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS p,
                                   PKSERVICE_ROUTINE isr)
{
    if (!p->InterruptObject || !isr) {
        ukern_violation("InterruptParameters", "IoConnectInterruptEx",
                        "LineBased.%s is NULL",
                        p->InterruptObject ? "ServiceRoutine"
                                           : "InterruptObject");
        return STATUS_INVALID_PARAMETER;
    }
    /* The device's line gets the port's base DIRQL; SynchronizeIrql only
     * matters with a caller-supplied lock (it must cover every ISR). */
    KIRQL sync = UKERN_DIRQL_BASE;
    if (p->SpinLock && p->SynchronizeIrql > sync)
        sync = p->SynchronizeIrql;
    PKINTERRUPT intr =
        ukern_interrupt_create(isr, NULL, p->ServiceContext, 0,
                               UKERN_DIRQL_BASE, sync, p->SpinLock, NULL,
                               ukern_current_cpu());
    if (!intr)
        return STATUS_INVALID_PARAMETER;
    *p->InterruptObject = intr;
    return STATUS_SUCCESS;
}

static NTSTATUS connect_message_based(PIO_CONNECT_INTERRUPT_PARAMETERS params,
                                      bool passive)
{
    PIO_CONNECT_INTERRUPT_MESSAGE_BASED_PARAMETERS p = &params->MessageBased;
    if (!p->ConnectionContext.Generic) {
        ukern_violation("InterruptParameters", "IoConnectInterruptEx",
                        "MessageBased.ConnectionContext is NULL; pass the "
                        "address of a PIO_INTERRUPT_MESSAGE_INFO");
        return STATUS_INVALID_PARAMETER;
    }
    ULONG count = pdo_messages(p->PhysicalDeviceObject);
    if (count == 0) {
        if (!p->FallBackServiceRoutine) {
            ukern_violation("InterruptParameters", "IoConnectInterruptEx",
                            "the device has no message-signaled interrupts "
                            "and no FallBackServiceRoutine was given");
            return STATUS_INVALID_PARAMETER;
        }
        /* Line-based fallback: the layouts agree up to FloatingSave. */
        IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS line = {
            .PhysicalDeviceObject = p->PhysicalDeviceObject,
            .InterruptObject = p->ConnectionContext.InterruptObject,
            .ServiceRoutine = p->FallBackServiceRoutine,
            .ServiceContext = p->ServiceContext,
            .SpinLock = p->SpinLock,
            .SynchronizeIrql = p->SynchronizeIrql,
            .FloatingSave = p->FloatingSave,
        };
        NTSTATUS st = connect_line_based(&line, p->FallBackServiceRoutine);
        if (NT_SUCCESS(st))
            params->Version = CONNECT_LINE_BASED;
        return st;
    }
    if (!p->MessageServiceRoutine) {
        ukern_violation("InterruptParameters", "IoConnectInterruptEx",
                        "MessageBased.MessageServiceRoutine is NULL");
        return STATUS_INVALID_PARAMETER;
    }
    KIRQL irql = passive ? PASSIVE_LEVEL : UKERN_DIRQL_BASE;
    KIRQL sync = irql;
    if (!passive && p->SpinLock && p->SynchronizeIrql > sync)
        sync = p->SynchronizeIrql;
    size_t size = sizeof(IO_INTERRUPT_MESSAGE_INFO) +
                  (count - 1) * sizeof(IO_INTERRUPT_MESSAGE_INFO_ENTRY);
    PIO_INTERRUPT_MESSAGE_INFO info = calloc(1, size);
    if (!info)
        return STATUS_INSUFFICIENT_RESOURCES;
    info->UnifiedIrql = sync;
    info->MessageCount = count;
    unsigned ncpu = ukern_cpu_count() ? ukern_cpu_count() : 1;
    for (ULONG i = 0; i < count; i++) {
        PIO_INTERRUPT_MESSAGE_INFO_ENTRY e = &info->MessageInfo[i];
        ULONG cpu = i % ncpu;
        e->InterruptObject = ukern_interrupt_create(
            NULL, p->MessageServiceRoutine, p->ServiceContext, i, irql, sync,
            passive ? NULL : p->SpinLock, NULL, cpu);
        if (!e->InterruptObject) {
            for (ULONG j = 0; j < i; j++)
                ukern_interrupt_destroy(info->MessageInfo[j].InterruptObject);
            free(info);
            return STATUS_INVALID_PARAMETER;
        }
        e->MessageAddress.QuadPart = 0xFEE00000LL; /* x86 MSI window */
        e->TargetProcessorSet = (KAFFINITY)1 << cpu;
        e->MessageData = i;
        e->Vector = 0x40 + i;
        e->Irql = irql;
        e->Mode = Latched;
        e->Polarity = InterruptRisingEdge;
    }
    *p->ConnectionContext.InterruptMessageTable = info;
    params->Version = passive ? CONNECT_MESSAGE_BASED_PASSIVE
                              : CONNECT_MESSAGE_BASED;
    return STATUS_SUCCESS;
}

NTSTATUS IoConnectInterruptEx(PIO_CONNECT_INTERRUPT_PARAMETERS Parameters)
{
    UKERN_API_ENTRY(IoConnectInterruptEx);
    if (!Parameters) {
        ukern_violation("InterruptParameters", "IoConnectInterruptEx",
                        "Parameters is NULL");
        return STATUS_INVALID_PARAMETER;
    }
    KIRQL irql = KeGetCurrentIrql();
    if (irql != PASSIVE_LEVEL)
        ukern_violation("IrqlIoPassive", "IoConnectInterruptEx",
                        "called at IRQL %u; must be PASSIVE_LEVEL", irql);
    switch (Parameters->Version) {
    case CONNECT_FULLY_SPECIFIED:
    case CONNECT_FULLY_SPECIFIED_GROUP:
        return connect_fully_specified(&Parameters->FullySpecified);
    case CONNECT_LINE_BASED:
        return connect_line_based(&Parameters->LineBased,
                                  Parameters->LineBased.ServiceRoutine);
    case CONNECT_MESSAGE_BASED:
        return connect_message_based(Parameters, false);
    case CONNECT_MESSAGE_BASED_PASSIVE:
        return connect_message_based(Parameters, true);
    default:
        ukern_violation("InterruptParameters", "IoConnectInterruptEx",
                        "Version %u is not one of CONNECT_FULLY_SPECIFIED (1), "
                        "CONNECT_LINE_BASED (2), CONNECT_MESSAGE_BASED (3), "
                        "CONNECT_FULLY_SPECIFIED_GROUP (4), "
                        "CONNECT_MESSAGE_BASED_PASSIVE (5)",
                        Parameters->Version);
        return STATUS_INVALID_PARAMETER;
    }
}

VOID IoDisconnectInterruptEx(PIO_DISCONNECT_INTERRUPT_PARAMETERS Parameters)
{
    UKERN_API_ENTRY(IoDisconnectInterruptEx);
    if (!Parameters || !Parameters->ConnectionContext.Generic) {
        ukern_violation("InterruptParameters", "IoDisconnectInterruptEx",
                        "%s is NULL; pass what IoConnectInterruptEx returned",
                        Parameters ? "ConnectionContext" : "Parameters");
        return;
    }
    KIRQL irql = KeGetCurrentIrql();
    if (irql != PASSIVE_LEVEL)
        ukern_violation("IrqlIoPassive", "IoDisconnectInterruptEx",
                        "called at IRQL %u; must be PASSIVE_LEVEL", irql);
    switch (Parameters->Version) {
    case CONNECT_FULLY_SPECIFIED:
    case CONNECT_FULLY_SPECIFIED_GROUP:
    case CONNECT_LINE_BASED:
        ukern_interrupt_destroy(Parameters->ConnectionContext.InterruptObject);
        break;
    case CONNECT_MESSAGE_BASED:
    case CONNECT_MESSAGE_BASED_PASSIVE: {
        PIO_INTERRUPT_MESSAGE_INFO info =
            Parameters->ConnectionContext.InterruptMessageTable;
        for (ULONG i = 0; i < info->MessageCount; i++)
            ukern_interrupt_destroy(info->MessageInfo[i].InterruptObject);
        free(info);
        break;
    }
    default:
        ukern_violation("InterruptParameters", "IoDisconnectInterruptEx",
                        "Version %u is not the Version IoConnectInterruptEx "
                        "returned (1 to 5)",
                        Parameters->Version);
    }
}
