/*
 * vhooks.h - the bridge between the kernel emulation's observation hooks
 * and the adapters' verifiers (the "WDM shim"), and the feed of the
 * lock-order graph (src/verifier/lockgraph.h).
 *
 * adapter.c calls vhooks_adapter_created() right after uv_init() and
 * vhooks_adapter_destroyed() next to unregister_adapter();
 * port_held_push() calls vhooks_port_lock_acquired() (through its slow
 * half in frame.c, when the adapter asked for the graph) before the new
 * lock is recorded.
 */
#ifndef USTOR_PORT_VHOOKS_H
#define USTOR_PORT_VHOOKS_H

#include "port/port.h"
#include "verifier/lockgraph.h"

/* Installs the kernel hooks (once per process) and, when the adapter's
 * config asks for lock_graph, creates its graph. */
void vhooks_adapter_created(struct ustor_adapter *ad);
void vhooks_adapter_destroyed(struct ustor_adapter *ad);

/* A Storport lock (class cls, identity id) was just taken by this thread
 * for adapter ad; the thread's held stack does not contain it yet. */
void vhooks_port_lock_acquired(struct ustor_adapter *ad, enum rules_lock cls, const void *id);

/* The adapter's lock graph, or NULL when lock_graph is off (tests). */
struct lg_graph *vhooks_lock_graph(struct ustor_adapter *ad);

#endif /* USTOR_PORT_VHOOKS_H */
