/*
 * memory.h - the port's teardown hooks for what bus.c, memory.c and
 * worker.c hand out (device bases, uncached extensions, contiguous
 * memory, registry buffers, work items, StorPort timers), and the
 * per-adapter side table those files keep their state in (port.h has no
 * fields for it).
 *
 * The adapter life cycle calls, at removal, after the miniport's last
 * routine has returned and before the device extension is freed:
 *     port_timers_release(ad);    cancels and frees StorPort timers
 *     port_workers_release(ad);   drains work items, joins the worker
 *     port_memory_release(ad);    leak-checks and frees memory, unmaps BARs
 * and, when a request completes (or is re-issued after BUSY), before it
 * unmaps r->data_phys:
 *     port_memory_srb_done(ad, r);
 */
#ifndef USTOR_PORT_MEMORY_H
#define USTOR_PORT_MEMORY_H

#include "port/port.h"

/* Teardown, in this order, from adapter destroy (also safe on a
 * create-failure path and for adapters that never used these routines). */
void port_timers_release(struct ustor_adapter *ad);
void port_workers_release(struct ustor_adapter *ad);
void port_memory_release(struct ustor_adapter *ad);

/* Forgets the request's scatter/gather list contents (r->sg stays
 * allocated for the slot's next request).  Does not unmap r->data_phys:
 * the completion path does that. */
void port_memory_srb_done(struct ustor_adapter *ad, struct port_request *r);

/* ---- internal to bus.c / memory.c / worker.c --------------------------- */

enum port_side_kind {
    PORT_SIDE_BUS = 0,   /* bus.c: BAR mappings, bus data buffer */
    PORT_SIDE_MEMORY,    /* memory.c: uncached extension, contiguous blocks */
    PORT_SIDE_WORKER,    /* worker.c: worker thread, work items, timers */
    PORT_SIDE_COUNT
};

/* The state of one kind for an adapter; created (zeroed, `size` bytes)
 * when `create` and absent.  Lookups are lock-free and cached per thread,
 * because register access goes through here on the I/O path. */
void *port_side_get(struct ustor_adapter *ad, enum port_side_kind kind, size_t size, bool create);
/* Drops the adapter's entry and frees every kind's block (their owners
 * have released what the blocks point to). */
void port_side_forget(struct ustor_adapter *ad);

/* bus.c: unmaps every device base and frees the bus data buffer. */
void port_bus_release(struct ustor_adapter *ad);

/* The adapter behind a HwDeviceExtension, or NULL after a BadArgument
 * report naming the routine. */
struct ustor_adapter *port_adapter_or_report(PVOID devext, const char *api);

#endif /* USTOR_PORT_MEMORY_H */
