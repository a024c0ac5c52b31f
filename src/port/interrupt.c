/*
 * interrupt.c - the adapter's interrupt objects.  A physical adapter gets
 * one line-based object (INTx, or no device at all) or one object per
 * MSI-X message.  With InterruptSynchronizeAll every object shares the
 * adapter's interrupt lock (a set of objects, SPEC S1.2); with
 * InterruptSynchronizePerMessage each message has its own lock.  The ISR
 * runs on a kernel interrupt thread that already holds the lock at DIRQL;
 * the port records that and calls HwStorInterrupt or
 * HwMSIInterruptRoutine in a frame (table A: Interrupt held).
 */
#include "port/port.h"

#include <errno.h>
#include <string.h>

static BOOLEAN run_isr(struct ustor_adapter *ad, PKINTERRUPT intr, ULONG msg, bool message_based)
{
    const void *id = ad->per_message ? (const void *)intr->ActualLock : (const void *)ad;
    port_held_push(ad, RL_INTERRUPT, id, NULL, true, NULL);
    struct port_lock_stats *st = ad->per_message ? &ad->st_msi[msg] : &ad->st_interrupt;
    port_lock_stat_acquired(ad, st, false);

    PHW_MESSAGE_SIGNALED_INTERRUPT_ROUTINE msi_routine = ad->config.HwMSInterruptRoutine;
    bool use_msi = message_based && msi_routine;
    enum rules_routine r = use_msi ? RR_MSI_INTERRUPT : RR_INTERRUPT;
    BOOLEAN claimed = FALSE;
    struct port_frame f;
    port_frame_enter(&f, ad, r, rules_cell(r, __atomic_load_n(&ad->mode, __ATOMIC_ACQUIRE)), NULL, false);
    if (use_msi)
        claimed = msi_routine(ad->devext, msg);
    else if (ad->drv->hw.HwInterrupt)
        claimed = ad->drv->hw.HwInterrupt(ad->devext);
    port_frame_leave(&f, false);

    port_lock_stat_releasing(ad, st);
    port_held_pop(id, NULL, NULL);
    return claimed;
}

static BOOLEAN isr_line(PKINTERRUPT intr, PVOID ctx)
{
    return run_isr(ctx, intr, 0, false);
}

static BOOLEAN isr_message(PKINTERRUPT intr, PVOID ctx, ULONG msg)
{
    return run_isr(ctx, intr, msg, true);
}

static void sink_raise(struct ustor_irq_sink *sink, uint32_t message_id)
{
    struct ustor_adapter *ad = sink->port_ctx;
    if (message_id < ad->nr_messages && ad->intr[message_id])
        ukern_interrupt_trigger(ad->intr[message_id]);
}

int port_interrupts_connect(struct ustor_adapter *ad)
{
    uint32_t msgs = ad->device && ad->device->ops->msi_count ? ad->device->ops->msi_count(ad->device->dev) : 0;
    ad->msi = msgs > 0;
    ad->nr_messages = ad->msi ? (msgs < PORT_MAX_MESSAGES ? msgs : PORT_MAX_MESSAGES) : 1;
    ad->per_message = ad->msi && ad->config.InterruptSynchronizationMode == InterruptSynchronizePerMessage;
    unsigned cpus = ukern_cpu_count() ? ukern_cpu_count() : 1;
    for (uint32_t i = 0; i < ad->nr_messages; i++) {
        ad->intr[i] = ukern_interrupt_create(ad->msi ? NULL : isr_line, ad->msi ? isr_message : NULL, ad, i,
                                             ad->dirql, ad->dirql, ad->per_message ? NULL : &ad->intr_lock,
                                             NULL, i % cpus);
        if (!ad->intr[i]) {
            port_set_error("IoConnectInterruptEx failed for message %u", i);
            port_interrupts_disconnect(ad);
            return -EIO;
        }
        static const char *const names[] = { "MSI lock 0", "MSI lock 1", "MSI lock 2", "MSI lock 3",
                                             "MSI lock 4", "MSI lock 5", "MSI lock 6", "MSI lock 7" };
        ad->st_msi[i].name = i < 8 ? names[i] : "MSI lock";
    }
    if (ad->device) {
        ad->sink.raise = sink_raise;
        ad->sink.port_ctx = ad;
        ad->device->ops->attach(ad->device->dev, &ad->sink);
    }
    return 0;
}

void port_interrupts_disconnect(struct ustor_adapter *ad)
{
    if (ad->device)
        ad->device->ops->attach(ad->device->dev, NULL);
    for (uint32_t i = 0; i < PORT_MAX_MESSAGES; i++)
        if (ad->intr[i]) {
            ukern_interrupt_destroy(ad->intr[i]);
            ad->intr[i] = NULL;
        }
}

int ustor_adapter_raise_interrupt(ustor_adapter *ad, uint32_t message_id)
{
    if (!ad || ad->virtual_miniport) {
        port_set_error("adapter %s has no interrupts (virtual miniport)", ad ? ad->name : "(null)");
        return -EINVAL;
    }
    if (message_id >= ad->nr_messages || !ad->intr[message_id]) {
        port_set_error("adapter %s has no interrupt message %u (it has %u)", ad->name, message_id, ad->nr_messages);
        return -EINVAL;
    }
    return ukern_interrupt_trigger(ad->intr[message_id]) ? 0 : -ENODEV;
}
