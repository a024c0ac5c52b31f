/*
 * worker.c - StorPort work items (StorPortInitializeWorker /
 * QueueWorkItem / FreeWorker) and StorPort timers (StorPortInitializeTimer
 * / RequestTimer / FreeTimer).
 *
 * Work items run at PASSIVE_LEVEL on one worker thread per adapter,
 * started on first use and joined at removal.  Timer callbacks run from a
 * KDPC queued by a KTIMER, under the same locks and IRQL as HwStorTimer.
 * Both go through a port frame, so the verifier judges what they do.
 *
 * Handles are validated by looking them up in the adapter's lists, never
 * by dereferencing what the miniport passed, so a stale or foreign handle
 * gets an error instead of a crash.
 */
#include "port/memory.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TIMERS 32

enum item_state { ITEM_IDLE = 0, ITEM_QUEUED, ITEM_RUNNING };

struct port_work_item {
    struct port_work_item *next_all;
    struct port_work_item *next_q;
    struct ustor_adapter *ad;
    PHW_WORKITEM callback;
    PVOID context;
    enum item_state state;
    bool free_after_run;  /* StorPortFreeWorker from inside its own callback */
};

struct port_stor_timer {
    struct port_stor_timer *next;
    struct ustor_adapter *ad;
    KTIMER timer;
    KDPC dpc;
    PHW_TIMER_EX callback;   /* atomic: set by RequestTimer, read by the DPC */
    PVOID context;
    volatile int armed;      /* requested and the callback not yet called */
    bool freed;              /* kept until removal: its DPC may still be queued */
};

struct worker_side {
    bool cond_ready;
    pthread_cond_t cond;          /* queue changed / item finished */
    pthread_t thread;
    bool thread_started;
    bool stop;
    struct port_work_item *items; /* every live work item */
    struct port_work_item *qhead, *qtail;
    struct port_stor_timer *timers;
    unsigned nr_live_timers;
};

/* All work-item and timer bookkeeping (not on the I/O path). */
static pthread_mutex_t wk_lock = PTHREAD_MUTEX_INITIALIZER;

/* Caller holds wk_lock. */
static struct worker_side *worker_side(struct ustor_adapter *ad, bool create)
{
    struct worker_side *w = port_side_get(ad, PORT_SIDE_WORKER, sizeof(struct worker_side), create);
    if (w && !w->cond_ready) {
        pthread_cond_init(&w->cond, NULL);
        w->cond_ready = true;
    }
    return w;
}

static bool irql_ok(struct ustor_adapter *ad, const char *api)
{
    KIRQL irql = ukern_irql_get();
    if (irql <= DISPATCH_LEVEL)
        return true;
    port_report(ad, "StorPortIrql", NULL, "%s called at IRQL %u; it requires IRQL <= DISPATCH_LEVEL (2)", api, irql);
    return false;
}

static bool removing(struct ustor_adapter *ad)
{
    return __atomic_load_n(&ad->state, __ATOMIC_ACQUIRE) == AD_STOPPING;
}

/* ---- work items ---------------------------------------------------------------- */

static void *worker_main(void *arg)
{
    struct ustor_adapter *ad = arg;
    pthread_mutex_lock(&wk_lock);
    struct worker_side *w = worker_side(ad, false);
    for (;;) {
        while (w && !w->qhead && !w->stop)
            pthread_cond_wait(&w->cond, &wk_lock);
        if (!w || !w->qhead)
            break; /* stop requested and nothing left */
        struct port_work_item *it = w->qhead;
        w->qhead = it->next_q;
        if (!w->qhead)
            w->qtail = NULL;
        it->state = ITEM_RUNNING;
        PHW_WORKITEM cb = it->callback;
        PVOID ctx = it->context;
        pthread_mutex_unlock(&wk_lock);

        struct port_frame f;
        port_frame_enter(&f, ad, RR_WORK_ITEM, rules_cell(RR_WORK_ITEM, port_mode(ad)), NULL, true);
        cb(ad->devext, ctx, it);
        port_frame_leave(&f, true);

        pthread_mutex_lock(&wk_lock);
        if (it->free_after_run) {
            free(it);
        } else if (it->state == ITEM_RUNNING) {
            it->state = ITEM_IDLE;
        }
        pthread_cond_broadcast(&w->cond);
    }
    pthread_mutex_unlock(&wk_lock);
    return NULL;
}

/* Caller holds wk_lock. */
static struct port_work_item *find_item(struct worker_side *w, const void *handle)
{
    for (struct port_work_item *it = w ? w->items : NULL; it; it = it->next_all)
        if (it == handle)
            return it;
    return NULL;
}

STORPORT_API ULONG StorPortInitializeWorker(PVOID HwDeviceExtension, PVOID *Worker)
{
    static const char api[] = "StorPortInitializeWorker";
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, api);
    if (!ad)
        return STOR_STATUS_INVALID_PARAMETER;
    if (!Worker) {
        port_report(ad, "BadArgument", NULL, "%s: Worker is NULL", api);
        return STOR_STATUS_INVALID_PARAMETER;
    }
    *Worker = NULL;
    if (!irql_ok(ad, api))
        return STOR_STATUS_INVALID_IRQL;
    struct port_work_item *it = calloc(1, sizeof(*it));
    if (!it)
        return STOR_STATUS_INSUFFICIENT_RESOURCES;
    it->ad = ad;
    pthread_mutex_lock(&wk_lock);
    struct worker_side *w = worker_side(ad, true);
    if (w) {
        it->next_all = w->items;
        w->items = it;
    }
    pthread_mutex_unlock(&wk_lock);
    if (!w) {
        free(it);
        return STOR_STATUS_INSUFFICIENT_RESOURCES;
    }
    *Worker = it;
    return STOR_STATUS_SUCCESS;
}

STORPORT_API ULONG StorPortQueueWorkItem(PVOID HwDeviceExtension, PHW_WORKITEM WorkItemCallback, PVOID Worker,
                                         PVOID Context)
{
    static const char api[] = "StorPortQueueWorkItem";
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, api);
    if (!ad)
        return STOR_STATUS_INVALID_PARAMETER;
    if (!WorkItemCallback || !Worker) {
        port_report(ad, "BadArgument", NULL, "%s: %s is NULL", api, !Worker ? "Worker" : "WorkItemCallback");
        return STOR_STATUS_INVALID_PARAMETER;
    }
    if (!irql_ok(ad, api))
        return STOR_STATUS_INVALID_IRQL;
    if (removing(ad))
        return STOR_STATUS_INVALID_DEVICE_STATE;
    ULONG status = STOR_STATUS_SUCCESS;
    pthread_mutex_lock(&wk_lock);
    struct worker_side *w = worker_side(ad, false);
    struct port_work_item *it = find_item(w, Worker);
    if (!it) {
        status = STOR_STATUS_INVALID_PARAMETER;
    } else if (it->state == ITEM_QUEUED) {
        status = STOR_STATUS_BUSY;
    } else if (w->stop) {
        status = STOR_STATUS_INVALID_DEVICE_STATE;
    } else {
        if (!w->thread_started) {
            if (pthread_create(&w->thread, NULL, worker_main, ad) != 0) {
                pthread_mutex_unlock(&wk_lock);
                return STOR_STATUS_INSUFFICIENT_RESOURCES;
            }
            pthread_setname_np(w->thread, "ustor-workitem");
            w->thread_started = true;
        }
        it->callback = WorkItemCallback;
        it->context = Context;
        it->state = ITEM_QUEUED;
        it->next_q = NULL;
        if (w->qtail)
            w->qtail->next_q = it;
        else
            w->qhead = it;
        w->qtail = it;
        pthread_cond_broadcast(&w->cond);
    }
    pthread_mutex_unlock(&wk_lock);
    if (status == STOR_STATUS_INVALID_PARAMETER)
        port_report(ad, "BadArgument", NULL,
                    "%s: Worker %p is not a live work item from StorPortInitializeWorker on this adapter "
                    "(never initialized, or freed)", api, Worker);
    return status;
}

STORPORT_API ULONG StorPortFreeWorker(PVOID HwDeviceExtension, PVOID Worker)
{
    static const char api[] = "StorPortFreeWorker";
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, api);
    if (!ad)
        return STOR_STATUS_INVALID_PARAMETER;
    if (!Worker) {
        port_report(ad, "BadArgument", NULL, "%s: Worker is NULL", api);
        return STOR_STATUS_INVALID_PARAMETER;
    }
    if (!irql_ok(ad, api))
        return STOR_STATUS_INVALID_IRQL;
    ULONG status = STOR_STATUS_SUCCESS;
    pthread_mutex_lock(&wk_lock);
    struct worker_side *w = worker_side(ad, false);
    struct port_work_item *it = find_item(w, Worker);
    if (!it) {
        /* Documented: freeing a free work item is STOR_STATUS_UNSUCCESSFUL. */
        status = STOR_STATUS_UNSUCCESSFUL;
    } else if (it->state == ITEM_QUEUED) {
        status = STOR_STATUS_BUSY;
    } else {
        for (struct port_work_item **pp = &w->items; *pp; pp = &(*pp)->next_all)
            if (*pp == it) {
                *pp = it->next_all;
                break;
            }
        if (it->state == ITEM_RUNNING)
            it->free_after_run = true; /* the worker thread frees it after the callback */
        else
            free(it);
    }
    pthread_mutex_unlock(&wk_lock);
    return status;
}

void port_workers_release(struct ustor_adapter *ad)
{
    if (!ad)
        return;
    pthread_mutex_lock(&wk_lock);
    struct worker_side *w = worker_side(ad, false);
    if (!w) {
        pthread_mutex_unlock(&wk_lock);
        return;
    }
    /* Items already queued still run; new ones are refused. */
    w->stop = true;
    pthread_cond_broadcast(&w->cond);
    bool join = w->thread_started;
    pthread_t t = w->thread;
    w->thread_started = false;
    pthread_mutex_unlock(&wk_lock);
    if (join) {
        if (pthread_equal(t, pthread_self()))
            pthread_detach(t);
        else
            pthread_join(t, NULL);
    }
    pthread_mutex_lock(&wk_lock);
    while (w->items) {
        struct port_work_item *it = w->items;
        w->items = it->next_all;
        free(it);
    }
    w->qhead = w->qtail = NULL;
    pthread_mutex_unlock(&wk_lock);
    /* The side block (and its cond) is freed by port_side_forget(). */
}

/* ---- timers ------------------------------------------------------------------------ */

static void stor_timer_dpc(PKDPC dpc, PVOID ctx, PVOID a1, PVOID a2)
{
    (void)dpc;
    (void)a1;
    (void)a2;
    struct port_stor_timer *t = ctx;
    struct ustor_adapter *ad = t->ad;
    PHW_TIMER_EX cb = __atomic_load_n(&t->callback, __ATOMIC_ACQUIRE);
    PVOID cctx = __atomic_load_n(&t->context, __ATOMIC_ACQUIRE);
    /* Cleared first, so the callback may request the timer again. */
    if (!__atomic_exchange_n(&t->armed, 0, __ATOMIC_ACQ_REL) || !cb || removing(ad))
        return;
    struct port_frame f;
    port_frame_enter(&f, ad, RR_TIMER, rules_cell(RR_TIMER, port_mode(ad)), NULL, true);
    cb(ad->devext, cctx);
    port_frame_leave(&f, true);
}

/* Caller holds wk_lock. */
static struct port_stor_timer *find_timer(struct worker_side *w, const void *handle)
{
    for (struct port_stor_timer *t = w ? w->timers : NULL; t; t = t->next)
        if (t == handle)
            return t;
    return NULL;
}

STORPORT_API ULONG StorPortInitializeTimer(PVOID HwDeviceExtension, PVOID *TimerHandle)
{
    static const char api[] = "StorPortInitializeTimer";
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, api);
    if (!ad)
        return STOR_STATUS_INVALID_PARAMETER;
    if (!TimerHandle) {
        port_report(ad, "BadArgument", NULL, "%s: TimerHandle is NULL", api);
        return STOR_STATUS_INVALID_PARAMETER;
    }
    *TimerHandle = NULL;
    if (!irql_ok(ad, api))
        return STOR_STATUS_INVALID_IRQL;
    struct port_stor_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return STOR_STATUS_INSUFFICIENT_RESOURCES;
    t->ad = ad;
    KeInitializeTimerEx(&t->timer, NotificationTimer);
    KeInitializeDpc(&t->dpc, stor_timer_dpc, t);
    ULONG status = STOR_STATUS_SUCCESS;
    pthread_mutex_lock(&wk_lock);
    struct worker_side *w = worker_side(ad, true);
    if (!w) {
        status = STOR_STATUS_INSUFFICIENT_RESOURCES;
    } else if (w->nr_live_timers >= MAX_TIMERS) {
        status = STOR_STATUS_UNSUCCESSFUL; /* documented: too many timers */
    } else {
        t->next = w->timers;
        w->timers = t;
        w->nr_live_timers++;
    }
    pthread_mutex_unlock(&wk_lock);
    if (status != STOR_STATUS_SUCCESS) {
        free(t);
        return status;
    }
    *TimerHandle = t;
    return STOR_STATUS_SUCCESS;
}

STORPORT_API ULONG StorPortRequestTimer(PVOID HwDeviceExtension, PVOID TimerHandle, PHW_TIMER_EX TimerCallback,
                                        PVOID CallbackContext, ULONGLONG TimerValue, ULONGLONG TolerableDelay)
{
    static const char api[] = "StorPortRequestTimer";
    (void)TolerableDelay; /* the simulated clock has no coalescing to relax */
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, api);
    if (!ad)
        return STOR_STATUS_INVALID_PARAMETER;
    if (!TimerHandle || !TimerCallback) {
        port_report(ad, "BadArgument", NULL, "%s: %s is NULL", api, !TimerHandle ? "TimerHandle" : "TimerCallback");
        return STOR_STATUS_INVALID_PARAMETER;
    }
    pthread_mutex_lock(&wk_lock);
    struct port_stor_timer *t = find_timer(worker_side(ad, false), TimerHandle);
    if (!t || t->freed) {
        pthread_mutex_unlock(&wk_lock);
        port_report(ad, "BadArgument", NULL,
                    "%s: TimerHandle %p is not a live timer from StorPortInitializeTimer on this adapter "
                    "(never initialized, or freed)", api, TimerHandle);
        return STOR_STATUS_INVALID_PARAMETER;
    }
    ULONG status = STOR_STATUS_SUCCESS;
    if (TimerValue == 0) {
        /* Documented: 0 cancels. */
        KeCancelTimer(&t->timer);
        KeRemoveQueueDpc(&t->dpc);
        __atomic_store_n(&t->armed, 0, __ATOMIC_RELEASE);
    } else if (__atomic_load_n(&t->armed, __ATOMIC_ACQUIRE)) {
        status = STOR_STATUS_BUSY; /* documented: the previous request has not fired */
    } else {
        __atomic_store_n(&t->callback, TimerCallback, __ATOMIC_RELEASE);
        __atomic_store_n(&t->context, CallbackContext, __ATOMIC_RELEASE);
        __atomic_store_n(&t->armed, 1, __ATOMIC_RELEASE);
        ukern_timer_set_ns(&t->timer, TimerValue * 1000ull, 0, &t->dpc);
    }
    pthread_mutex_unlock(&wk_lock);
    return status;
}

STORPORT_API ULONG StorPortFreeTimer(PVOID HwDeviceExtension, PVOID TimerHandle)
{
    static const char api[] = "StorPortFreeTimer";
    struct ustor_adapter *ad = port_adapter_or_report(HwDeviceExtension, api);
    if (!ad)
        return STOR_STATUS_INVALID_PARAMETER;
    if (!TimerHandle) {
        port_report(ad, "BadArgument", NULL, "%s: TimerHandle is NULL", api);
        return STOR_STATUS_INVALID_PARAMETER;
    }
    if (!irql_ok(ad, api))
        return STOR_STATUS_INVALID_IRQL;
    ULONG status = STOR_STATUS_SUCCESS;
    pthread_mutex_lock(&wk_lock);
    struct worker_side *w = worker_side(ad, false);
    struct port_stor_timer *t = find_timer(w, TimerHandle);
    if (!t) {
        status = STOR_STATUS_INVALID_PARAMETER;
    } else if (t->freed) {
        status = STOR_STATUS_UNSUCCESSFUL; /* documented: already free */
    } else {
        KeCancelTimer(&t->timer);
        KeRemoveQueueDpc(&t->dpc);
        __atomic_store_n(&t->armed, 0, __ATOMIC_RELEASE);
        /* The memory stays until removal: its DPC may be running now (the
         * callback may be the one freeing it). */
        t->freed = true;
        w->nr_live_timers--;
    }
    pthread_mutex_unlock(&wk_lock);
    if (status == STOR_STATUS_INVALID_PARAMETER)
        port_report(ad, "BadArgument", NULL,
                    "%s: TimerHandle %p is not a timer from StorPortInitializeTimer on this adapter", api, TimerHandle);
    return status;
}

void port_timers_release(struct ustor_adapter *ad)
{
    if (!ad)
        return;
    pthread_mutex_lock(&wk_lock);
    struct worker_side *w = worker_side(ad, false);
    struct port_stor_timer *list = w ? w->timers : NULL;
    if (w) {
        w->timers = NULL;
        w->nr_live_timers = 0;
    }
    for (struct port_stor_timer *t = list; t; t = t->next) {
        __atomic_store_n(&t->armed, 0, __ATOMIC_RELEASE);
        KeCancelTimer(&t->timer);
        KeRemoveQueueDpc(&t->dpc);
    }
    pthread_mutex_unlock(&wk_lock);
    if (!list)
        return;
    /* A DPC already running finishes before the memory goes. */
    ukern_dpc_flush();
    while (list) {
        struct port_stor_timer *t = list;
        list = t->next;
        free(t);
    }
}
