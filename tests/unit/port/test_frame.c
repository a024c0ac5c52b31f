/*
 * test_frame.c - src/port/frame.c and the inline halves in port.h: the
 * record of the locks a thread holds (what the verifier's reports list,
 * and what the lock rules and the lock-order graph are judged against).
 * Released newest first or out of order, the call site of a lock the
 * miniport took, the port's own locks, an overflowing record, and the
 * lock-order graph fed only when the adapter asked for it.
 */
#include <dlfcn.h>

#include "port_mp.h"
#include "port/port.h"
#include "port/vhooks.h"
#include "verifier/lockgraph.h"

static struct tu_reports rep;
static ustor_driver *drv;
static ustor_adapter *adapter;
static struct ustor_adapter *ad;

static ustor_adapter *create(bool lock_graph)
{
    struct ustor_adapter_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.nr_cpus = 2;
    cfg.max_requests = 16;
    cfg.verifier = USTOR_VERIFIER_LOG;
    cfg.lock_graph = lock_graph;
    cfg.report_sink = tu_reports_sink;
    cfg.report_ctx = &rep;
    return tu_adapter_with((ustor_driver_entry_fn)mp_virt_DriverEntry, &cfg, &drv);
}

static int setup_with(bool lock_graph)
{
    memset(&mp_state, 0, sizeof(mp_state));
    tu_reports_clear(&rep);
    adapter = create(lock_graph);
    ad = (struct ustor_adapter *)adapter;
    return adapter ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    return setup_with(false);
}

static int setup_graph(void **state)
{
    (void)state;
    return setup_with(true);
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(port_thread()->nheld, 0); /* every test leaves the record empty */
    ustor_adapter_destroy(adapter);
    ustor_driver_unload(drv);
    adapter = NULL;
    return 0;
}

static const void *held_id(unsigned i)
{
    return port_thread()->held[i].id;
}

/* ---- releasing ------------------------------------------------------------- */

static void test_release_newest_first_and_out_of_order(void **state)
{
    (void)state;
    int a, b, c, d;
    struct port_thread *pt = port_thread();
    port_held_push(ad, RL_DPC, &a, NULL, true, NULL);
    port_held_push(ad, RL_DPC, &b, NULL, true, NULL);
    port_held_push(ad, RL_DPC, &c, NULL, true, NULL);
    port_held_push(ad, RL_DPC, &d, NULL, true, NULL);
    assert_int_equal(pt->nheld, 4);

    /* newest first */
    assert_true(port_held_pop(&d, NULL, NULL));
    assert_int_equal(pt->nheld, 3);
    /* from the middle: the ones above it move down, in order */
    struct port_held_lock out;
    assert_true(port_held_pop(&b, NULL, &out));
    assert_ptr_equal(out.id, &b);
    assert_int_equal(pt->nheld, 2);
    assert_ptr_equal(held_id(0), &a);
    assert_ptr_equal(held_id(1), &c);
    /* not held (any more): nothing removed */
    assert_false(port_held_pop(&b, NULL, NULL));
    assert_false(port_held_pop(&d, NULL, NULL));
    assert_int_equal(pt->nheld, 2);
    /* the oldest, below the newest */
    assert_true(port_held_pop(&a, NULL, NULL));
    assert_ptr_equal(held_id(0), &c);
    assert_true(port_held_pop(&c, NULL, NULL));
    assert_false(port_held_pop(NULL, NULL, NULL));
}

static void test_release_by_handle_picks_that_acquisition(void **state)
{
    (void)state;
    int lock;
    STOR_LOCK_HANDLE h1, h2;
    /* The same lock recorded under two handles (what a second acquisition
     * would look like): the handle decides which entry goes. */
    port_held_push(ad, RL_DPC, &lock, &h1, false, NULL);
    port_held_push(ad, RL_DPC, &lock, &h2, false, NULL);
    struct port_held_lock out;
    assert_true(port_held_pop(NULL, &h1, &out));
    assert_ptr_equal(out.handle, &h1);
    assert_int_equal(port_thread()->nheld, 1);
    assert_ptr_equal(port_thread()->held[0].handle, &h2);
    assert_false(port_held_pop(&lock, &h1, NULL));
    assert_true(port_held_pop(&lock, &h2, NULL));
}

/* ---- what an entry says ---------------------------------------------------- */

static void test_miniport_lock_names_its_call_site(void **state)
{
    (void)state;
    STOR_LOCK_HANDLE h;
    memset(&h, 0, sizeof(h));
    StorPortAcquireSpinLock(ad->devext, StartIoLock, NULL, &h);
    struct port_thread *pt = port_thread();
    assert_int_equal(pt->nheld, 1);
    const struct port_held_lock *e = &pt->held[0];
    assert_int_equal(e->cls, RL_STARTIO);
    assert_ptr_equal(e->id, &ad->startio_lock);
    assert_ptr_equal(e->handle, &h);
    assert_false(e->by_port);
    assert_int_equal(e->taken_in, RR_COUNT); /* no miniport routine running: "(port)" */
    /* The call site is here, in this program, not inside libustorport. */
    assert_non_null(e->taken_at);
    Dl_info site, self;
    assert_true(dladdr(e->taken_at, &site));
    assert_true(dladdr((void *)(uintptr_t)test_miniport_lock_names_its_call_site, &self));
    assert_ptr_equal(site.dli_fbase, self.dli_fbase);
    char buf[512];
    assert_non_null(strstr(port_held_describe(buf, sizeof(buf)), "taken by the miniport, in (port)"));
    StorPortReleaseSpinLock(ad->devext, &h);
    assert_int_equal(pt->nheld, 0);
    assert_string_equal(port_held_describe(buf, sizeof(buf)), "none");
}

static void test_lock_names_the_routine_it_was_taken_in(void **state)
{
    (void)state;
    /* Inside a HwStorDpcRoutine frame (DISPATCH_LEVEL, nothing held). */
    struct port_frame f;
    port_frame_enter(&f, ad, RR_DPC, rules_cell(RR_DPC, port_mode(ad)), NULL, true);
    STOR_LOCK_HANDLE h;
    memset(&h, 0, sizeof(h));
    StorPortAcquireSpinLock(ad->devext, StartIoLock, NULL, &h);
    struct port_thread *pt = port_thread();
    assert_int_equal(pt->nheld, 1);
    assert_int_equal(pt->held[0].taken_in, RR_DPC);
    char buf[512];
    assert_non_null(strstr(port_held_describe(buf, sizeof(buf)), "taken by the miniport, in HwStorDpcRoutine"));
    StorPortReleaseSpinLock(ad->devext, &h);
    port_frame_leave(&f, true);
    assert_int_equal(pt->nheld, 0);
    assert_int_equal(rep.count, 0);
}

static void test_port_lock_is_marked_the_ports(void **state)
{
    (void)state;
    port_startio_lock(ad);
    struct port_thread *pt = port_thread();
    assert_int_equal(pt->nheld, 1);
    assert_true(pt->held[0].by_port);
    assert_null(pt->held[0].taken_at);
    assert_null(pt->held[0].handle);
    char buf[512];
    assert_non_null(strstr(port_held_describe(buf, sizeof(buf)), "StartIoLock"));
    assert_non_null(strstr(buf, "taken by the port"));
    /* A miniport asking for it now is refused (it would deadlock). */
    STOR_LOCK_HANDLE h;
    assert_int_equal(StorPortAcquireSpinLockEx(ad->devext, StartIoLock, NULL, &h),
                     STOR_STATUS_INVALID_DEVICE_STATE);
    assert_int_equal(pt->nheld, 1);
    port_startio_unlock(ad);
    assert_int_equal(pt->nheld, 0);
    /* released: the miniport may take it */
    assert_int_equal(StorPortAcquireSpinLockEx(ad->devext, StartIoLock, NULL, &h), STOR_STATUS_SUCCESS);
    StorPortReleaseSpinLock(ad->devext, &h);
}

/* ---- limits ---------------------------------------------------------------- */

static void test_overflowing_record_is_reported_not_overrun(void **state)
{
    (void)state;
    static int locks[PORT_MAX_HELD + 2];
    struct port_thread *pt = port_thread();
    for (unsigned i = 0; i < PORT_MAX_HELD; i++)
        port_held_push(ad, RL_DPC, &locks[i], NULL, true, NULL);
    assert_int_equal(tu_reports_count(&rep, "StorPortSpinLock", NULL), 0);
    port_held_push(ad, RL_DPC, &locks[PORT_MAX_HELD], NULL, true, NULL);
    port_held_push(ad, RL_DPC, &locks[PORT_MAX_HELD + 1], NULL, true, NULL);
    assert_int_equal(pt->nheld, PORT_MAX_HELD);
    assert_int_equal(tu_reports_count(&rep, "StorPortSpinLock", NULL), 2);
    assert_non_null(strstr(rep.text, "more than 24 locks held at once"));
    assert_false(port_held_pop(&locks[PORT_MAX_HELD], NULL, NULL)); /* never recorded */
    for (unsigned i = PORT_MAX_HELD; i-- > 0;)
        assert_true(port_held_pop(&locks[i], NULL, NULL));
}

/* ---- the lock-order graph -------------------------------------------------- */

static unsigned graph_nodes(void)
{
    struct lg_stats st;
    lg_get_stats(vhooks_lock_graph(ad), &st);
    return st.nodes;
}

static void test_graph_sees_the_ports_locks_when_asked_for(void **state)
{
    (void)state;
    assert_non_null(vhooks_lock_graph(ad));
    unsigned before = graph_nodes();
    port_startio_lock(ad);
    port_startio_unlock(ad);
    assert_int_equal(graph_nodes(), before + 1);
    STOR_LOCK_HANDLE h;
    StorPortAcquireSpinLock(ad->devext, InterruptLock, NULL, &h);
    StorPortReleaseSpinLock(ad->devext, &h);
    assert_int_equal(graph_nodes(), before + 2);
    port_startio_lock(ad); /* a lock the graph knows: no new node */
    port_startio_unlock(ad);
    assert_int_equal(graph_nodes(), before + 2);
}

static void test_no_graph_unless_asked_for(void **state)
{
    (void)state;
    assert_null(vhooks_lock_graph(ad));
    port_startio_lock(ad);
    assert_int_equal(port_thread()->nheld, 1);
    port_startio_unlock(ad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_release_newest_first_and_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_by_handle_picks_that_acquisition, setup, teardown),
        cmocka_unit_test_setup_teardown(test_miniport_lock_names_its_call_site, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_names_the_routine_it_was_taken_in, setup, teardown),
        cmocka_unit_test_setup_teardown(test_port_lock_is_marked_the_ports, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overflowing_record_is_reported_not_overrun, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graph_sees_the_ports_locks_when_asked_for, setup_graph, teardown),
        cmocka_unit_test_setup_teardown(test_no_graph_unless_asked_for, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
