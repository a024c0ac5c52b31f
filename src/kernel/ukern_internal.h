/*
 * ukern_internal.h - shared state between the kernel layer's source files.
 * Nothing outside src/kernel includes this.
 */
#ifndef USTOR_KERNEL_UKERN_INTERNAL_H
#define USTOR_KERNEL_UKERN_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ukern.h"

/* First statement of every exported Ke / Ex / Io routine: one predictable
 * branch when no verifier is installed. */
#define UKERN_API_ENTRY(fn)                                                    \
    do {                                                                       \
        if (__builtin_expect(ukern_hooks.api_called != NULL, 0))               \
            ukern_hooks.api_called(#fn, (const void *)(fn),                    \
                                   __builtin_return_address(0));               \
    } while (0)

/* DISPATCHER_HEADER.Type values (the kernel's object type numbers). */
#define UKERN_OBJ_EVENT_NOTIFICATION 0
#define UKERN_OBJ_EVENT_SYNCHRONIZATION 1
#define UKERN_OBJ_TIMER_NOTIFICATION 8
#define UKERN_OBJ_TIMER_SYNCHRONIZATION 9

/* One simulated CPU: a DPC queue served by a DPC thread and an interrupt
 * queue served by an interrupt thread, both under one mutex. */
struct ukern_cpu {
    ULONG index;
    pthread_mutex_t lock;
    pthread_cond_t dpc_cond;  /* DPC thread: work arrived / stop */
    pthread_cond_t intr_cond; /* interrupt thread: work arrived / stop */
    pthread_cond_t done_cond; /* a DPC or ISR finished (flush, disconnect) */
    pthread_t dpc_thread;
    pthread_t intr_thread;
    bool dpc_started, intr_started;
    bool stop;
    /* FIFO of KDPCs linked through DpcListEntry; ProcessorHistory holds the
     * queue sequence number, used by flush. */
    PKDPC dpc_head, dpc_tail;
    unsigned dpc_count;
    uint64_t dpc_seq;          /* last sequence number handed out */
    uint64_t dpc_running_seq;  /* 0 when no DPC is running */
    /* FIFO of interrupt objects linked through NextPending. */
    struct _KINTERRUPT *intr_head, *intr_tail;
    struct _KINTERRUPT *intr_running;
};

/* cpu.c */
struct ukern_cpu *ukern_cpu_get(ULONG cpu); /* NULL when not initialized */
bool ukern_running(void);
extern _Thread_local bool ukern_tls_in_dpc;
extern _Thread_local bool ukern_tls_in_isr;

/* irql.c: sets the thread's IRQL, calling hooks.irql_changed when it
 * changes. */
void ukern_irql_change(KIRQL new_irql, const char *api);

/* spinlock.c: per-thread list of the locks (spin lock words, interrupt
 * events) a thread holds through the Ke / interrupt APIs, so that a
 * recursive acquisition is reported instead of deadlocking. */
bool ukern_held_contains(const void *obj);
/* Returns false (and records nothing) when the list is full. */
bool ukern_held_push(const void *obj, enum ukern_lock_api api, bool is_event);
/* Returns false when obj was not in the list; *api gets the acquiring API. */
bool ukern_held_pop(const void *obj, enum ukern_lock_api *api);
/* Force-releases everything still held (a DPC or ISR returned holding a
 * lock) so that other threads do not hang; returns how many. */
unsigned ukern_held_release_all(const char *who);

/* dpc.c */
bool ukern_dpc_queue_on(PKDPC dpc, ULONG cpu, PVOID arg1, PVOID arg2);
void *ukern_dpc_thread_main(void *arg);

/* interrupt.c */
void *ukern_intr_thread_main(void *arg);

/* timer.c */
int ukern_timer_start(void);
void ukern_timer_stop(void);

/* event.c: dispatcher-object signalling shared by events and timers. */
void ukern_object_signal(DISPATCHER_HEADER *header);
void ukern_object_reset(DISPATCHER_HEADER *header);

/* misc.c */
void ukern_clock_init(void);

#endif /* USTOR_KERNEL_UKERN_INTERNAL_H */
