/* ustor-test-labels: concurrency */
/*
 * test_request.c - the request path's lock-free parts under concurrent
 * submitters (src/port/request.c): the per-CPU request stacks hand out
 * each request once and get every one back, whichever CPU frees it; the
 * LUN admission without the LUN lock never lets more than the LUN's
 * depth reach the miniport; every SRB completes exactly once; and what
 * an ISR completes is finished by a DPC on the ISR's own CPU.
 */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernel/ukern.h"
#include "port/port.h"
#include "probe.h"

#define THREADS 4
#define PER_THREAD 24

static void sleep_100us(void)
{
    struct timespec ts = { 0, 100000 };
    nanosleep(&ts, NULL);
}

static struct tu_srb srbs[THREADS][PER_THREAD];
static const UCHAR tur[6] = { 0 };

struct submitter {
    ustor_adapter *ad;
    int thread;
    int count;
    pthread_barrier_t *go;
    int accepted, refused;
    int other_error;
    char error_text[256];
};

static void *submit_all(void *arg)
{
    struct submitter *s = arg;
    pthread_barrier_wait(s->go);
    for (int i = 0; i < s->count; i++) {
        struct tu_srb *t = &srbs[s->thread][i];
        int rc = ustor_submit_srb(s->ad, &t->u, tu_srb_done, t);
        if (rc == 0)
            s->accepted++;
        else if (rc == -EBUSY)
            s->refused++;
        else if (!s->other_error) {
            s->other_error = rc;
            snprintf(s->error_text, sizeof(s->error_text), "%s", ustor_last_error());
        }
    }
    return NULL;
}

static void run_submitters(ustor_adapter *ad, int per_thread, struct submitter *s)
{
    pthread_t tid[THREADS];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, THREADS);
    for (int t = 0; t < THREADS; t++) {
        s[t] = (struct submitter){ .ad = ad, .thread = t, .count = per_thread, .go = &go };
        for (int i = 0; i < per_thread; i++)
            tu_srb_init(&srbs[t][i], true, 0, tur, 6, NULL, 0, SRB_FLAGS_NO_DATA_TRANSFER);
        assert_int_equal(pthread_create(&tid[t], NULL, submit_all, &s[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(tid[t], NULL);
    pthread_barrier_destroy(&go);
}

static int done_total(int per_thread)
{
    int n = 0;
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < per_thread; i++)
            n += __atomic_load_n(&srbs[t][i].done, __ATOMIC_ACQUIRE);
    return n;
}

static bool wait_done(int want, int per_thread, ustor_adapter *isr_ad)
{
    for (int i = 0; i < 20000; i++) {
        if (done_total(per_thread) >= want)
            return true;
        if (isr_ad)
            ustor_adapter_raise_interrupt(isr_ad, 0);
        sleep_100us();
    }
    return done_total(per_thread) >= want;
}

static ustor_adapter *make(ustor_driver_entry_fn entry, const char *args, unsigned max_requests,
                           struct tu_reports *rep, ustor_driver **drv)
{
    char err[512];
    assert_int_equal(ustor_driver_from_entry(entry, "probe", drv, err, sizeof(err)), 0);
    struct ustor_adapter_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.argument_string = args;
    cfg.verifier = USTOR_VERIFIER_LOG;
    cfg.report_sink = tu_reports_sink;
    cfg.report_ctx = rep;
    cfg.max_requests = max_requests;
    cfg.nr_cpus = 2;
    ustor_adapter *ad = NULL;
    if (ustor_adapter_create(*drv, &cfg, &ad, err, sizeof(err)) != 0)
        fail_msg("adapter: %s", err);
    return ad;
}

/* A fresh probe adapter (the probe's observations reset). */
static ustor_adapter *start_probe(bool virt, const char *args, unsigned max_requests, struct tu_reports *rep,
                                  ustor_driver **drv)
{
    probe_reset();
    memset(rep, 0, sizeof(*rep));
    return make(virt ? (ustor_driver_entry_fn)probe_virt_DriverEntry : (ustor_driver_entry_fn)probe_phys_DriverEntry,
                args, max_requests, rep, drv);
}

/* Tears it down; returns the verifier's report count. */
static uint64_t stop_probe(ustor_adapter *ad, ustor_driver *drv)
{
    uint64_t v = ustor_adapter_violations(ad);
    ustor_adapter_destroy(ad);
    ustor_driver_unload(drv);
    return v;
}

/* Several threads race through the admission without the LUN lock while
 * DPCs complete on other threads: the miniport never holds more than the
 * depth, and each SRB completes once, successfully. */
static void test_depth_holds_under_racing_submitters(void **state)
{
    (void)state;
    uint64_t rng = tu_seed();
    unsigned iters = tu_iterations(200);
    for (unsigned it = 0; it < iters; it++) {
        int depth = 1 + (int)(tu_rand(&rng) % 6);
        bool virt = tu_rand(&rng) & 1;
        char args[96];
        snprintf(args, sizeof(args), "%scomplete=dpc;depth=%d", virt ? "" : "sync=full;", depth);
        struct tu_reports rep;
        ustor_driver *drv;
        ustor_adapter *ad = start_probe(virt, args, 0, &rep, &drv);
        struct submitter s[THREADS];
        run_submitters(ad, PER_THREAD, s);
        for (int t = 0; t < THREADS; t++) {
            if (s[t].other_error)
                fail_msg("submission failed (%d): %s", s[t].other_error, s[t].error_text);
            assert_int_equal(s[t].refused, 0);
        }
        bool all = wait_done(THREADS * PER_THREAD, PER_THREAD, NULL);
        struct ustor_stats st;
        ustor_adapter_get_stats(ad, &st);
        int omax = probe_state.outstanding_max;
        uint64_t v = stop_probe(ad, drv);
        if (!all || omax > depth || v)
            fail_msg("iteration %u (%s, depth %d): %d of %d completed, the miniport held up to %d, "
                     "%llu verifier reports:\n%s", it, args, depth, done_total(PER_THREAD),
                     THREADS * PER_THREAD, omax, (unsigned long long)v, rep.text ? rep.text : "");
        for (int t = 0; t < THREADS; t++)
            for (int i = 0; i < PER_THREAD; i++) {
                assert_int_equal(srbs[t][i].done, 1);
                assert_int_equal(srbs[t][i].status, SRB_STATUS_SUCCESS);
            }
        assert_int_equal(st.submitted, THREADS * PER_THREAD);
        assert_int_equal(st.completed, THREADS * PER_THREAD);
        tu_reports_clear(&rep);
    }
}

/* A pool of 8 requests raced for by 4 threads while the miniport holds
 * every request: exactly 8 are accepted and the rest refused with
 * -EBUSY, and the interrupts then complete all 8. */
static void test_pool_hands_out_each_request_once(void **state)
{
    (void)state;
    enum { POOL = 8, PER = 4 };
    unsigned iters = tu_iterations(200);
    for (unsigned it = 0; it < iters; it++) {
        struct tu_reports rep;
        ustor_driver *drv;
        ustor_adapter *ad = start_probe(false, "sync=full;complete=isr", POOL, &rep, &drv);
        struct submitter s[THREADS];
        run_submitters(ad, PER, s);
        int accepted = 0, refused = 0;
        for (int t = 0; t < THREADS; t++) {
            if (s[t].other_error)
                fail_msg("submission failed (%d): %s", s[t].other_error, s[t].error_text);
            accepted += s[t].accepted;
            refused += s[t].refused;
        }
        if (accepted != POOL || refused != THREADS * PER - POOL)
            fail_msg("iteration %u: %d accepted, %d refused; a pool of %d must accept exactly %d", it,
                     accepted, refused, POOL, POOL);
        assert_true(wait_done(POOL, PER, ad));
        assert_int_equal(done_total(PER), POOL);
        uint64_t v = stop_probe(ad, drv);
        if (v)
            fail_msg("iteration %u: %llu verifier reports:\n%s", it, (unsigned long long)v, rep.text);
        tu_reports_clear(&rep);
    }
}

struct cycler {
    ustor_adapter *ad;
    int thread;
    int rounds;
    int stuck;        /* a submission still refused after the retry bound */
    char error_text[256];
};

/* Rounds of: submit my SRBs (retrying while the pool is empty), wait
 * until they complete. */
static void *cycle(void *arg)
{
    struct cycler *c = arg;
    enum { PER = 4 };
    for (int r = 0; r < c->rounds && !c->stuck; r++) {
        for (int i = 0; i < PER && !c->stuck; i++) {
            struct tu_srb *t = &srbs[c->thread][i];
            tu_srb_init(t, true, 0, tur, 6, NULL, 0, SRB_FLAGS_NO_DATA_TRANSFER);
            int rc, tries = 0;
            while ((rc = ustor_submit_srb(c->ad, &t->u, tu_srb_done, t)) == -EBUSY && ++tries < 200000)
                sched_yield();
            if (rc) {
                c->stuck = rc;
                snprintf(c->error_text, sizeof(c->error_text), "round %d: %s", r, ustor_last_error());
            }
        }
        for (int i = 0; i < PER && !c->stuck; i++)
            if (!tu_wait_done(&srbs[c->thread][i], 1, 10000)) {
                c->stuck = -ETIMEDOUT;
                snprintf(c->error_text, sizeof(c->error_text), "round %d: SRB %d never completed", r, i);
            }
    }
    return NULL;
}

/* The same pool, with DPCs completing (and so freeing) requests on both
 * CPUs while 4 threads keep taking them: no request is lost (the pool
 * would run dry and a submitter stay refused) and the miniport never
 * holds more than the pool. */
static void test_pool_gets_every_request_back(void **state)
{
    (void)state;
    enum { POOL = 8 };
    unsigned iters = tu_iterations(30);
    for (unsigned it = 0; it < iters; it++) {
        struct tu_reports rep;
        ustor_driver *drv;
        ustor_adapter *ad = start_probe(false, "sync=full;complete=dpc", POOL, &rep, &drv);
        pthread_t tid[THREADS];
        struct cycler c[THREADS];
        for (int t = 0; t < THREADS; t++) {
            c[t] = (struct cycler){ .ad = ad, .thread = t, .rounds = 50 };
            assert_int_equal(pthread_create(&tid[t], NULL, cycle, &c[t]), 0);
        }
        for (int t = 0; t < THREADS; t++)
            pthread_join(tid[t], NULL);
        struct ustor_stats st;
        ustor_adapter_get_stats(ad, &st);
        int omax = probe_state.outstanding_max;
        uint64_t v = stop_probe(ad, drv);
        for (int t = 0; t < THREADS; t++)
            if (c[t].stuck)
                fail_msg("iteration %u, thread %d (%d): %s", it, t, c[t].stuck, c[t].error_text);
        if (omax > POOL || v)
            fail_msg("iteration %u: the miniport held up to %d of a pool of %d; %llu verifier reports:\n%s", it,
                     omax, POOL, (unsigned long long)v, rep.text ? rep.text : "");
        assert_int_equal(st.submitted, THREADS * 4 * 50);
        assert_int_equal(st.completed, THREADS * 4 * 50);
        tu_reports_clear(&rep);
    }
}

/* ---- completions an ISR makes: the ISR's own CPU finishes them ---- */

static volatile int blocker_release, blocker_running;

static VOID blocking_dpc(PKDPC dpc, PVOID ctx, PVOID a1, PVOID a2)
{
    (void)dpc;
    (void)ctx;
    (void)a1;
    (void)a2;
    __atomic_store_n(&blocker_running, 1, __ATOMIC_RELEASE);
    /* Up to 10 s: longer than the test waits for B, so B can only make
     * it through another CPU. */
    for (int i = 0; i < 100000 && !__atomic_load_n(&blocker_release, __ATOMIC_ACQUIRE); i++) {
        sleep_100us();
    }
}

struct cpu_seen {
    struct tu_srb srb;
    volatile int cpu, in_dpc;
};

static void note_cpu_done(void *ctx, void *srb, uint8_t status)
{
    struct cpu_seen *c = ctx;
    c->cpu = (int)ukern_current_cpu();
    c->in_dpc = ukern_in_dpc();
    tu_srb_done(&c->srb, srb, status);
}

/* An ISR on CPU 0 completes A while CPU 0's DPC thread is held up by a
 * long DPC; an ISR on CPU 1 then completes B.  Each CPU has its own
 * completion queue and DPC, so B is finished by CPU 1's DPC at once
 * instead of waiting behind CPU 0; A is finished on CPU 0 once it is
 * free.  Both callbacks run in a DPC, never in the ISR. */
static void test_isr_completions_finish_on_the_isr_cpu(void **state)
{
    (void)state;
    struct tu_reports rep;
    ustor_driver *drv;
    ustor_adapter *ad = start_probe(false, "sync=full;complete=isrdirect", 0, &rep, &drv);
    assert_true(ad->nr_messages >= 1 && ad->intr[0] != NULL);
    static struct cpu_seen a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    a.cpu = b.cpu = -1;

    KDPC blocker;
    KeInitializeDpc(&blocker, blocking_dpc, NULL);
    blocker_release = blocker_running = 0;
    ukern_bind_thread_cpu(0);
    assert_true(KeInsertQueueDpc(&blocker, NULL, NULL)); /* on this thread's CPU, 0 */
    for (int i = 0; i < 20000 && !__atomic_load_n(&blocker_running, __ATOMIC_ACQUIRE); i++) {
        sleep_100us();
    }
    assert_true(blocker_running);

    tu_srb_init(&a.srb, true, 0, tur, 6, NULL, 0, SRB_FLAGS_NO_DATA_TRANSFER);
    assert_int_equal(ustor_submit_srb(ad, &a.srb.u, note_cpu_done, &a), 0);
    ukern_interrupt_deliver(ad->intr[0]);

    ukern_bind_thread_cpu(1);
    tu_srb_init(&b.srb, true, 0, tur, 6, NULL, 0, SRB_FLAGS_NO_DATA_TRANSFER);
    assert_int_equal(ustor_submit_srb(ad, &b.srb.u, note_cpu_done, &b), 0);
    ukern_interrupt_deliver(ad->intr[0]);
    bool b_done = tu_wait_done(&b.srb, 1, 3000);
    int a_done_early = __atomic_load_n(&a.srb.done, __ATOMIC_ACQUIRE);

    __atomic_store_n(&blocker_release, 1, __ATOMIC_RELEASE);
    bool a_done = tu_wait_done(&a.srb, 1, 5000);
    uint64_t v = stop_probe(ad, drv);
    tu_reports_clear(&rep);

    assert_true(b_done);
    assert_int_equal(a_done_early, 0); /* CPU 0 was busy: A waited for it */
    assert_true(a_done);
    assert_int_equal(b.cpu, 1);
    assert_int_equal(a.cpu, 0);
    assert_true(a.in_dpc && b.in_dpc);
    assert_int_equal(a.srb.status, SRB_STATUS_SUCCESS);
    assert_int_equal(b.srb.status, SRB_STATUS_SUCCESS);
    assert_int_equal(v, 0);
}

int main(void)
{
    tu_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depth_holds_under_racing_submitters),
        cmocka_unit_test(test_pool_hands_out_each_request_once),
        cmocka_unit_test(test_pool_gets_every_request_back),
        cmocka_unit_test(test_isr_completions_finish_on_the_isr_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
