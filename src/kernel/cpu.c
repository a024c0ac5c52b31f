/*
 * cpu.c - simulated CPUs: life cycle of the DPC, interrupt and timer
 * threads, and the binding of ordinary threads to a CPU.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "ukern_internal.h"

#define UKERN_MAX_CPUS 64 /* one KAFFINITY worth */

static pthread_mutex_t g_life_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned g_refcount;
/* Published with release ordering after the CPUs are fully built, so
 * readers that see a non-NULL array see initialized CPUs. */
static struct ukern_cpu *g_cpus;
static unsigned g_nr_cpus;
static unsigned g_rr_next;

/* The thread's CPU, valid (< the CPU count) for the CPU set whose
 * generation is recorded with it; ukern_current_cpu reads both inline. */
_Thread_local int ukern_tls_cpu = -1;
_Thread_local unsigned ukern_tls_cpu_generation;
unsigned ukern_cpu_generation = 1;
#define tls_cpu ukern_tls_cpu
_Thread_local bool ukern_tls_in_dpc;
_Thread_local bool ukern_tls_in_isr;

struct ukern_cpu *ukern_cpu_get(ULONG cpu)
{
    struct ukern_cpu *cpus = __atomic_load_n(&g_cpus, __ATOMIC_ACQUIRE);
    unsigned n = __atomic_load_n(&g_nr_cpus, __ATOMIC_ACQUIRE);
    if (!cpus || n == 0)
        return NULL;
    return &cpus[cpu % n];
}

bool ukern_running(void)
{
    return __atomic_load_n(&g_cpus, __ATOMIC_ACQUIRE) != NULL;
}

unsigned ukern_cpu_count(void)
{
    return __atomic_load_n(&g_nr_cpus, __ATOMIC_ACQUIRE);
}

ULONG ukern_current_cpu_slow(void)
{
    unsigned gen = __atomic_load_n(&ukern_cpu_generation, __ATOMIC_ACQUIRE);
    unsigned n = ukern_cpu_count();
    if (n == 0)
        return tls_cpu < 0 ? 0 : (ULONG)tls_cpu; /* no CPUs: bound again once they exist */
    if (tls_cpu < 0)
        tls_cpu = (int)(__atomic_fetch_add(&g_rr_next, 1, __ATOMIC_RELAXED) % n);
    else
        tls_cpu = (int)((unsigned)tls_cpu % n); /* the CPU set was rebuilt, maybe smaller */
    ukern_tls_cpu_generation = gen;
    return (ULONG)tls_cpu;
}

void ukern_bind_thread_cpu(ULONG cpu)
{
    unsigned gen = __atomic_load_n(&ukern_cpu_generation, __ATOMIC_ACQUIRE);
    unsigned n = ukern_cpu_count();
    tls_cpu = (int)(n ? cpu % n : cpu);
    /* With no CPUs the binding is reduced modulo the count once they exist. */
    ukern_tls_cpu_generation = n ? gen : gen - 1;
}

bool ukern_in_dpc(void)
{
    return ukern_tls_in_dpc;
}

bool ukern_in_isr(void)
{
    return ukern_tls_in_isr;
}

uint64_t ukern_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static pthread_key_t tls_blocks_key;
static pthread_once_t tls_blocks_once = PTHREAD_ONCE_INIT;

struct tls_block {
    struct tls_block *next;
    void **slot;
    max_align_t data[];
};

static void tls_blocks_free(void *head)
{
    /* Runs on the exiting thread: its slots are still addressable, and are
     * cleared so that nothing after this finds a freed block. */
    for (struct tls_block *b = head; b;) {
        struct tls_block *next = b->next;
        *b->slot = NULL;
        free(b);
        b = next;
    }
}

static void tls_blocks_key_make(void)
{
    pthread_key_create(&tls_blocks_key, tls_blocks_free);
}

void *ukern_tls_block(void **slot, size_t size)
{
    if (*slot)
        return *slot;
    pthread_once(&tls_blocks_once, tls_blocks_key_make);
    struct tls_block *b = calloc(1, sizeof(*b) + size);
    if (!b) {
        fprintf(stderr, "ustorport: out of memory for per-thread state (%zu bytes)\n", size);
        abort();
    }
    b->slot = slot;
    b->next = pthread_getspecific(tls_blocks_key);
    pthread_setspecific(tls_blocks_key, b);
    *slot = b->data;
    return b->data;
}

uint64_t ukern_now_coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void cpu_init_sync(struct ukern_cpu *c, ULONG index)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    c->index = index;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->dpc_cond, &attr);
    pthread_cond_init(&c->intr_cond, &attr);
    pthread_cond_init(&c->done_cond, &attr);
    pthread_condattr_destroy(&attr);
}

static void cpu_destroy_sync(struct ukern_cpu *c)
{
    pthread_cond_destroy(&c->done_cond);
    pthread_cond_destroy(&c->intr_cond);
    pthread_cond_destroy(&c->dpc_cond);
    pthread_mutex_destroy(&c->lock);
}

static void cpus_stop(struct ukern_cpu *cpus, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        pthread_mutex_lock(&cpus[i].lock);
        cpus[i].stop = true;
        pthread_cond_broadcast(&cpus[i].dpc_cond);
        pthread_cond_broadcast(&cpus[i].intr_cond);
        pthread_cond_broadcast(&cpus[i].done_cond);
        pthread_mutex_unlock(&cpus[i].lock);
    }
    /* Interrupt threads first: an ISR may still queue a DPC. */
    for (unsigned i = 0; i < n; i++)
        if (cpus[i].intr_started)
            pthread_join(cpus[i].intr_thread, NULL);
    for (unsigned i = 0; i < n; i++)
        if (cpus[i].dpc_started)
            pthread_join(cpus[i].dpc_thread, NULL);
}

int ukern_init(unsigned nr_cpus)
{
    int rc = 0;
    pthread_mutex_lock(&g_life_lock);
    if (g_refcount > 0) {
        g_refcount++;
        goto out;
    }
    ukern_clock_init();
    if (nr_cpus == 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        nr_cpus = online > 0 ? (unsigned)online : 1;
    }
    if (nr_cpus > UKERN_MAX_CPUS) {
        fprintf(stderr,
                "ukern_init: %u CPUs requested; at most %d are supported "
                "(one KAFFINITY); using %d\n",
                nr_cpus, UKERN_MAX_CPUS, UKERN_MAX_CPUS);
        nr_cpus = UKERN_MAX_CPUS;
    }
    struct ukern_cpu *cpus = calloc(nr_cpus, sizeof(*cpus));
    if (!cpus) {
        rc = -ENOMEM;
        goto out;
    }
    for (unsigned i = 0; i < nr_cpus; i++)
        cpu_init_sync(&cpus[i], i);
    /* Publish before starting threads: they look themselves up. */
    __atomic_store_n(&g_nr_cpus, nr_cpus, __ATOMIC_RELEASE);
    __atomic_store_n(&g_cpus, cpus, __ATOMIC_RELEASE);
    __atomic_fetch_add(&ukern_cpu_generation, 1, __ATOMIC_RELEASE);
    for (unsigned i = 0; i < nr_cpus && rc == 0; i++) {
        int e = pthread_create(&cpus[i].dpc_thread, NULL, ukern_dpc_thread_main,
                               &cpus[i]);
        if (e) {
            rc = -e;
            break;
        }
        cpus[i].dpc_started = true;
        e = pthread_create(&cpus[i].intr_thread, NULL, ukern_intr_thread_main,
                           &cpus[i]);
        if (e) {
            rc = -e;
            break;
        }
        cpus[i].intr_started = true;
        /* Names for gdb, perf, top -H (at most 15 characters). */
        char name[16];
        snprintf(name, sizeof(name), "ustor-dpc%u", i);
        pthread_setname_np(cpus[i].dpc_thread, name);
        snprintf(name, sizeof(name), "ustor-intr%u", i);
        pthread_setname_np(cpus[i].intr_thread, name);
    }
    if (rc == 0)
        rc = ukern_timer_start();
    if (rc != 0) {
        cpus_stop(cpus, nr_cpus);
        __atomic_store_n(&g_cpus, NULL, __ATOMIC_RELEASE);
        __atomic_store_n(&g_nr_cpus, 0, __ATOMIC_RELEASE);
        __atomic_fetch_add(&ukern_cpu_generation, 1, __ATOMIC_RELEASE);
        for (unsigned i = 0; i < nr_cpus; i++)
            cpu_destroy_sync(&cpus[i]);
        free(cpus);
        goto out;
    }
    g_refcount = 1;
out:
    pthread_mutex_unlock(&g_life_lock);
    return rc;
}

void ukern_shutdown(void)
{
    pthread_mutex_lock(&g_life_lock);
    if (g_refcount == 0) {
        pthread_mutex_unlock(&g_life_lock);
        fprintf(stderr, "ukern_shutdown: called more often than ukern_init; "
                        "ignored\n");
        return;
    }
    if (--g_refcount > 0) {
        pthread_mutex_unlock(&g_life_lock);
        return;
    }
    /* Timers first (they queue DPCs), then interrupt and DPC threads. */
    ukern_timer_stop();
    struct ukern_cpu *cpus = g_cpus;
    unsigned n = g_nr_cpus;
    cpus_stop(cpus, n);
    __atomic_store_n(&g_cpus, NULL, __ATOMIC_RELEASE);
    __atomic_store_n(&g_nr_cpus, 0, __ATOMIC_RELEASE);
    __atomic_fetch_add(&ukern_cpu_generation, 1, __ATOMIC_RELEASE);
    for (unsigned i = 0; i < n; i++)
        cpu_destroy_sync(&cpus[i]);
    free(cpus);
    pthread_mutex_unlock(&g_life_lock);
}
