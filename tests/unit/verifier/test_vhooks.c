/* ustor-test-labels: concurrency
 *
 * test_vhooks.c - the WDM shim (src/port/vhooks.c) end to end, with small
 * miniports defined here: a lock-order inversion between a KSPIN_LOCK and
 * a DPC lock, an interrupt-unsafe KSPIN_LOCK, kernel rule reports routed
 * to the adapter under SDV names, HwStorPortProhibitedDDIs, StartIo
 * waits/stalls/allocations, and the built-in ramdisks in every sync mode
 * producing no report at all with the lock graph on.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <storport.h>
#include <srbhelper.h>
#include <ustor/builtin.h>
#include <ustor/ustor.h>

#include "port/vhooks.h"
#include "testutil.h"

/* ---- the test miniport ---------------------------------------------------- */

enum behaviour {
    B_NONE,
    B_INVERSION,       /* StartIo: K then DpcLock; DPC: DpcLock then K */
    B_IRQ_UNSAFE,      /* ISR: K at DIRQL; StartIo: K at DISPATCH_LEVEL */
    B_BAD_RELEASE,     /* StartIo releases a KSPIN_LOCK it does not hold */
    B_KE_LOCK,         /* StartIo takes and releases K with KeAcquireSpinLock */
    B_STARTIO_BLOCKS,  /* StartIo waits, stalls, allocates, sets an event twice */
    B_VIRT_INTLOCK,    /* virtual StartIo: K under InterruptLock, and K alone */
};

struct vh_ext {
    STOR_DPC dpc;
    KSPIN_LOCK k;
    KSPIN_LOCK never_taken;
    KEVENT ev;
};

static enum behaviour behaviour;
static volatile int isr_runs;

static ULONG vh_find_common(PVOID ext, PCHAR args, PPORT_CONFIGURATION_INFORMATION c, bool virt)
{
    (void)args;
    /* A physical miniport may not call Ke routines: its zeroed device
     * extension already holds free KSPIN_LOCKs. */
    struct vh_ext *x = ext;
    if (virt) {
        KeInitializeSpinLock(&x->k);
        KeInitializeSpinLock(&x->never_taken);
    }
    c->MaximumTransferLength = 64 * 1024;
    c->NumberOfPhysicalBreaks = 17;
    c->NumberOfBuses = 1;
    c->MaximumNumberOfTargets = 1;
    c->MaximumNumberOfLogicalUnits = 1;
    c->VirtualDevice = virt ? TRUE : FALSE;
    if (!virt)
        c->SynchronizationModel = StorSynchronizeFullDuplex;
    return SP_RETURN_FOUND;
}

static ULONG vh_find_virt(PVOID ext, PVOID ctx, PVOID bus, PVOID lower, PCHAR args,
                          PPORT_CONFIGURATION_INFORMATION c, PBOOLEAN again)
{
    (void)ctx;
    (void)bus;
    (void)lower;
    (void)again;
    return vh_find_common(ext, args, c, true);
}

static ULONG vh_find_phys(PVOID ext, PVOID ctx, PVOID bus, PCHAR args, PPORT_CONFIGURATION_INFORMATION c,
                          PBOOLEAN again)
{
    (void)ctx;
    (void)bus;
    (void)again;
    return vh_find_common(ext, args, c, false);
}

static VOID vh_dpc(PSTOR_DPC dpc, PVOID ext, PVOID srb, PVOID unused)
{
    (void)unused;
    struct vh_ext *x = ext;
    STOR_LOCK_HANDLE h;
    StorPortAcquireSpinLock(ext, DpcLock, dpc, &h);
    KeAcquireSpinLockAtDpcLevel(&x->k);
    KeReleaseSpinLockFromDpcLevel(&x->k);
    StorPortReleaseSpinLock(ext, &h);
    SrbSetSrbStatus(srb, SRB_STATUS_SUCCESS);
    StorPortNotification(RequestComplete, ext, srb);
}

static BOOLEAN vh_initialize(PVOID ext)
{
    struct vh_ext *x = ext;
    StorPortInitializeDpc(ext, &x->dpc, vh_dpc);
    if (behaviour == B_STARTIO_BLOCKS)
        KeInitializeEvent(&x->ev, NotificationEvent, FALSE);
    return TRUE;
}

static void complete(PVOID ext, PSCSI_REQUEST_BLOCK srb)
{
    SrbSetSrbStatus(srb, SRB_STATUS_SUCCESS);
    StorPortNotification(RequestComplete, ext, srb);
}

static BOOLEAN vh_startio(PVOID ext, PSCSI_REQUEST_BLOCK srb)
{
    struct vh_ext *x = ext;
    KIRQL old;
    switch (behaviour) {
    case B_INVERSION: {
        STOR_LOCK_HANDLE h;
        KeAcquireSpinLock(&x->k, &old);
        StorPortAcquireSpinLock(ext, DpcLock, &x->dpc, &h);
        StorPortReleaseSpinLock(ext, &h);
        KeReleaseSpinLock(&x->k, old);
        StorPortIssueDpc(ext, &x->dpc, srb, NULL);
        return TRUE;
    }
    case B_IRQ_UNSAFE:
    case B_KE_LOCK:
        KeAcquireSpinLock(&x->k, &old);
        KeReleaseSpinLock(&x->k, old);
        break;
    case B_VIRT_INTLOCK: {
        STOR_LOCK_HANDLE h;
        StorPortAcquireSpinLock(ext, InterruptLock, NULL, &h);
        KeAcquireSpinLockAtDpcLevel(&x->k);
        KeReleaseSpinLockFromDpcLevel(&x->k);
        StorPortReleaseSpinLock(ext, &h);
        KeAcquireSpinLock(&x->k, &old);
        KeReleaseSpinLock(&x->k, old);
        break;
    }
    case B_BAD_RELEASE:
        KeReleaseSpinLock(&x->never_taken, KeGetCurrentIrql());
        break;
    case B_STARTIO_BLOCKS: {
        LARGE_INTEGER zero = { .QuadPart = 0 };
        (void)KeWaitForSingleObject(&x->ev, Executive, KernelMode, FALSE, &zero);
        KeStallExecutionProcessor(1);
        PVOID p = ExAllocatePoolWithTag(NonPagedPoolNx, 64, 0x76657374u);
        if (p)
            ExFreePoolWithTag(p, 0x76657374u);
        KeSetEvent(&x->ev, 0, FALSE);
        KeSetEvent(&x->ev, 0, FALSE);
        KeClearEvent(&x->ev);
        break;
    }
    default:
        break;
    }
    complete(ext, srb);
    return TRUE;
}

static BOOLEAN vh_interrupt(PVOID ext)
{
    struct vh_ext *x = ext;
    if (behaviour == B_IRQ_UNSAFE) {
        KeAcquireSpinLockAtDpcLevel(&x->k);
        KeReleaseSpinLockFromDpcLevel(&x->k);
    }
    __atomic_fetch_add(&isr_runs, 1, __ATOMIC_RELEASE);
    return TRUE;
}

static BOOLEAN vh_reset_bus(PVOID ext, ULONG path)
{
    (void)ext;
    (void)path;
    return TRUE;
}

static SCSI_ADAPTER_CONTROL_STATUS vh_adapter_control(PVOID ext, SCSI_ADAPTER_CONTROL_TYPE type, PVOID p)
{
    (void)ext;
    if (type == ScsiQuerySupportedControlTypes) {
        PSCSI_SUPPORTED_CONTROL_TYPE_LIST l = p;
        for (ULONG t = 0; t < l->MaxControlType && t <= ScsiRestartAdapter; t++)
            l->SupportedTypeList[t] = TRUE;
    }
    return ScsiAdapterControlSuccess;
}

static VOID vh_free_resources(PVOID ext)
{
    (void)ext;
}

static ULONG vh_virt_DriverEntry(PVOID drv, PVOID reg)
{
    VIRTUAL_HW_INITIALIZATION_DATA hw;
    memset(&hw, 0, sizeof(hw));
    hw.HwInitializationDataSize = sizeof(hw);
    hw.AdapterInterfaceType = Internal;
    hw.HwInitialize = vh_initialize;
    hw.HwStartIo = vh_startio;
    hw.HwFindAdapter = vh_find_virt;
    hw.HwResetBus = vh_reset_bus;
    hw.HwAdapterControl = vh_adapter_control;
    hw.HwFreeAdapterResources = vh_free_resources;
    hw.DeviceExtensionSize = sizeof(struct vh_ext);
    hw.TaggedQueuing = TRUE;
    hw.MultipleRequestPerLu = TRUE;
    return StorPortInitialize(drv, reg, (PHW_INITIALIZATION_DATA)&hw, NULL);
}

static ULONG vh_phys_DriverEntry(PVOID drv, PVOID reg)
{
    HW_INITIALIZATION_DATA hw;
    memset(&hw, 0, sizeof(hw));
    hw.HwInitializationDataSize = sizeof(hw);
    hw.AdapterInterfaceType = Internal;
    hw.HwInitialize = vh_initialize;
    hw.HwStartIo = vh_startio;
    hw.HwInterrupt = vh_interrupt;
    hw.HwFindAdapter = (PVOID)vh_find_phys;
    hw.HwResetBus = vh_reset_bus;
    hw.HwAdapterControl = vh_adapter_control;
    hw.DeviceExtensionSize = sizeof(struct vh_ext);
    hw.TaggedQueuing = TRUE;
    hw.MultipleRequestPerLu = TRUE;
    return StorPortInitialize(drv, reg, &hw, NULL);
}

/* ---- helpers ----------------------------------------------------------------- */

static ustor_adapter *create(ustor_driver_entry_fn entry, const char *name, const char *args,
                             bool lock_graph, struct tu_reports *rep, ustor_driver **drv_out)
{
    char err[512];
    ustor_driver *drv = NULL;
    if (ustor_driver_from_entry(entry, name, &drv, err, sizeof(err)) != 0) {
        fprintf(stderr, "create: %s\n", err);
        fail();
    }
    struct ustor_adapter_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.argument_string = args;
    cfg.nr_cpus = 2;
    cfg.verifier = USTOR_VERIFIER_LOG;
    cfg.report_sink = tu_reports_sink;
    cfg.report_ctx = rep;
    cfg.lock_graph = lock_graph;
    ustor_adapter *ad = NULL;
    if (ustor_adapter_create(drv, &cfg, &ad, err, sizeof(err)) != 0) {
        fprintf(stderr, "create: %s\n", err);
        ustor_driver_unload(drv);
        fail();
    }
    *drv_out = drv;
    return ad;
}

static void run_one(ustor_adapter *ad)
{
    static const UCHAR tur[6] = { 0x00 }; /* TEST UNIT READY: no data */
    struct tu_srb s;
    void *srb = tu_srb_init(&s, ustor_adapter_uses_srbex(ad), 0, tur, sizeof(tur), NULL, 0,
                            SRB_FLAGS_NO_DATA_TRANSFER);
    assert_int_equal(ustor_submit_srb(ad, srb, tu_srb_done, &s), 0);
    assert_true(tu_wait_done(&s, 1, 10000));
    assert_int_equal(s.status, SRB_STATUS_SUCCESS);
}

/* The summary line (first line) of the first report of rule. */
static const char *summary_of(const struct tu_reports *rep, const char *rule, char *buf, size_t len)
{
    char key[96];
    snprintf(key, sizeof(key), " %s routine=", rule);
    const char *p = rep->text ? strstr(rep->text, key) : NULL;
    if (!p)
        return NULL;
    while (p > rep->text && p[-1] != '\n')
        p--;
    const char *eol = strchr(p, '\n');
    snprintf(buf, len, "%.*s", (int)(eol ? eol - p : (long)strlen(p)), p);
    return buf;
}

/* ---- (a) inversion between a KSPIN_LOCK and a DPC lock ---------------------- */

static void test_inversion_kspin_vs_dpc_lock(void **state)
{
    (void)state;
    struct tu_reports rep = { 0 };
    ustor_driver *drv;
    behaviour = B_INVERSION;
    ustor_adapter *ad = create((ustor_driver_entry_fn)vh_virt_DriverEntry, "vh-inv", NULL, true, &rep, &drv);
    for (int i = 0; i < 5; i++)
        run_one(ad); /* one at a time: the orders never actually collide */
    assert_int_equal(tu_reports_count(&rep, "LockOrderInversion", NULL), 1);
    assert_int_equal(rep.count, 1);
    /* the report names both routines and both locks, with stacks */
    assert_non_null(strstr(rep.text, "HwStorStartIo"));
    assert_non_null(strstr(rep.text, "HwStorDpcRoutine"));
    assert_non_null(strstr(rep.text, "DpcLock(STOR_DPC@"));
    assert_non_null(strstr(rep.text, "KSPIN_LOCK@"));
    assert_non_null(strstr(rep.text, "(KeAcquireSpinLock in HwStorStartIo)"));
    /* stacks start in the miniport (this program), one per order */
    assert_non_null(strstr(rep.text, "        #0 "));
    assert_non_null(strstr(rep.text, "(test_vhooks+0x"));
    struct lg_stats st;
    lg_get_stats(vhooks_lock_graph(ad), &st);
    assert_int_equal(st.nodes, 2);
    assert_int_equal(st.inversions, 1);
    tu_adapter_free(ad, drv);
    tu_reports_clear(&rep);
}

/* Without lock_graph the same miniport runs silently. */
static void test_inversion_needs_lock_graph(void **state)
{
    (void)state;
    struct tu_reports rep = { 0 };
    ustor_driver *drv;
    behaviour = B_INVERSION;
    ustor_adapter *ad = create((ustor_driver_entry_fn)vh_virt_DriverEntry, "vh-inv-off", NULL, false, &rep, &drv);
    for (int i = 0; i < 3; i++)
        run_one(ad);
    assert_null(vhooks_lock_graph(ad));
    assert_int_equal(rep.count, 0);
    tu_adapter_free(ad, drv);
    tu_reports_clear(&rep);
}

/* ---- (b) interrupt-unsafe KSPIN_LOCK --------------------------------------- */

static void wait_isr(int n)
{
    for (int i = 0; i < 100000 && __atomic_load_n(&isr_runs, __ATOMIC_ACQUIRE) < n; i++) {
        struct timespec ts = { 0, 100000 };
        nanosleep(&ts, NULL);
    }
    assert_true(__atomic_load_n(&isr_runs, __ATOMIC_ACQUIRE) >= n);
}

static void test_interrupt_unsafe_kspin(void **state)
{
    (void)state;
    struct tu_reports rep = { 0 };
    ustor_driver *drv;
    behaviour = B_IRQ_UNSAFE;
    __atomic_store_n(&isr_runs, 0, __ATOMIC_RELEASE);
    ustor_adapter *ad = create((ustor_driver_entry_fn)vh_phys_DriverEntry, "vh-irq", NULL, true, &rep, &drv);
    run_one(ad);
    assert_int_equal(ustor_adapter_raise_interrupt(ad, 0), 0);
    wait_isr(1);
    run_one(ad);
    assert_int_equal(ustor_adapter_raise_interrupt(ad, 0), 0);
    wait_isr(2);
    assert_int_equal(tu_reports_count(&rep, "InterruptUnsafeLock", NULL), 1);
    char line[1024];
    assert_non_null(summary_of(&rep, "InterruptUnsafeLock", line, sizeof(line)));
    assert_non_null(strstr(line, "interrupt context (HwStorInterrupt)"));
    assert_non_null(strstr(line, "HwStorStartIo at IRQL 2"));
    /* no order problem: K is the only lock besides the port's */
    assert_int_equal(tu_reports_count(&rep, "LockOrderInversion", NULL), 0);
    tu_adapter_free(ad, drv);
    tu_reports_clear(&rep);
}

/* A virtual miniport has no interrupt: a lock taken both under the
 * InterruptLock and at DISPATCH_LEVEL is not interrupt-unsafe. */
static void test_virtual_has_no_interrupt_context(void **state)
{
    (void)state;
    struct tu_reports rep = { 0 };
    ustor_driver *drv;
    behaviour = B_VIRT_INTLOCK;
    ustor_adapter *ad = create((ustor_driver_entry_fn)vh_virt_DriverEntry, "vh-virt-il", NULL, true, &rep, &drv);
    run_one(ad);
    run_one(ad);
    struct lg_stats st;
    lg_get_stats(vhooks_lock_graph(ad), &st);
    assert_int_equal(st.nodes, 2); /* InterruptLock and K, ordered */
    assert_int_equal(st.edges, 1);
    assert_int_equal(st.irq_unsafe, 0);
    assert_int_equal(rep.count, 0);
    tu_adapter_free(ad, drv);
    tu_reports_clear(&rep);
}

/* ---- (c) kernel rules routed to the adapter -------------------------------- */

static void test_kernel_rule_routed_to_adapter(void **state)
{
    (void)state;
    struct tu_reports rep = { 0 };
    ustor_driver *drv;
    behaviour = B_BAD_RELEASE;
    ustor_adapter *ad = create((ustor_driver_entry_fn)vh_virt_DriverEntry, "vh-rel", NULL, false, &rep, &drv);
    run_one(ad);
    assert_int_equal(tu_reports_count(&rep, "SpinLockRelease", "HwStorStartIo"), 1);
    char line[1024];
    assert_non_null(summary_of(&rep, "SpinLockRelease", line, sizeof(line)));
    assert_non_null(strstr(line, "adapter=vh-rel#"));
    assert_non_null(strstr(line, "KeReleaseSpinLock"));
    assert_int_equal(ustor_adapter_violations(ad), 1);
    tu_adapter_free(ad, drv);
    tu_reports_clear(&rep);
}

/* ---- (d) physical miniport calling Ke routines ------------------------------ */

static void test_physical_prohibited_ddis(void **state)
{
    (void)state;
    struct tu_reports rep = { 0 };
    ustor_driver *drv;
    behaviour = B_KE_LOCK;
    ustor_adapter *ad = create((ustor_driver_entry_fn)vh_phys_DriverEntry, "vh-ddi", NULL, false, &rep, &drv);
    for (int i = 0; i < 4; i++)
        run_one(ad);
    /* once per routine called, however often */
    assert_int_equal(tu_reports_count(&rep, "HwStorPortProhibitedDDIs", "HwStorStartIo"), 2);
    assert_non_null(strstr(rep.text, "called KeAcquireSpinLock from HwStorStartIo"));
    assert_non_null(strstr(rep.text, "called KeReleaseSpinLock from HwStorStartIo"));
    /* the port's own kernel calls (KeGetCurrentIrql, timers, DPCs) never count */
    assert_int_equal(rep.count, 2);
    tu_adapter_free(ad, drv);
    tu_reports_clear(&rep);

    /* the same calls from a virtual miniport are allowed */
    rep = (struct tu_reports){ 0 };
    ad = create((ustor_driver_entry_fn)vh_virt_DriverEntry, "vh-ddi-virt", NULL, false, &rep, &drv);
    run_one(ad);
    assert_int_equal(rep.count, 0);
    tu_adapter_free(ad, drv);
    tu_reports_clear(&rep);
}

/* ---- StartIo that waits, stalls, allocates, double-sets an event ----------- */

static void test_startio_blocking_calls(void **state)
{
    (void)state;
    struct tu_reports rep = { 0 };
    ustor_driver *drv;
    behaviour = B_STARTIO_BLOCKS;
    ustor_adapter *ad = create((ustor_driver_entry_fn)vh_virt_DriverEntry, "vh-wait", NULL, false, &rep, &drv);
    run_one(ad);
    assert_int_equal(tu_reports_count(&rep, "SpNoWait", "HwStorStartIo"), 1);
    /* a stall and an allocation */
    assert_int_equal(tu_reports_count(&rep, "StorPortStartIo", "HwStorStartIo"), 2);
    assert_int_equal(tu_reports_count(&rep, "DoubleKeSetEvent", "HwStorStartIo"), 1);
    assert_int_equal(rep.count, 4);
    tu_adapter_free(ad, drv);
    tu_reports_clear(&rep);
}

/* ---- (e) the built-in ramdisks: no report of any kind ----------------------- */

struct load {
    ustor_adapter *ad;
    uint64_t seed;
    unsigned ios;
    volatile int failures;
};

static void *load_thread(void *arg)
{
    struct load *l = arg;
    uint64_t rng = l->seed;
    uint8_t *buf = malloc(8 * 512);
    if (!buf) {
        l->failures++;
        return NULL;
    }
    memset(buf, 0x5a, 8 * 512);
    for (unsigned i = 0; i < l->ios; i++) {
        uint32_t lba = (uint32_t)(tu_rand(&rng) % 1024);
        bool write = tu_rand(&rng) & 1;
        UCHAR cdb[10] = { write ? 0x2a : 0x28, 0, (UCHAR)(lba >> 24), (UCHAR)(lba >> 16), (UCHAR)(lba >> 8),
                          (UCHAR)lba, 0, 0, 8, 0 };
        struct tu_srb s;
        void *srb = tu_srb_init(&s, ustor_adapter_uses_srbex(l->ad), 0, cdb, sizeof(cdb), buf, 8 * 512,
                                write ? SRB_FLAGS_DATA_OUT : SRB_FLAGS_DATA_IN);
        int rc = ustor_submit_srb(l->ad, srb, tu_srb_done, &s);
        if (rc == -EBUSY) {
            i--;
            continue;
        }
        if (rc != 0 || !tu_wait_done(&s, 1, 10000) || s.status != SRB_STATUS_SUCCESS)
            l->failures++;
    }
    free(buf);
    return NULL;
}

static void ramdisk_clean(const char *name, const char *args)
{
    const struct ustor_builtin_miniport *mp = ustor_builtin_find(name);
    assert_non_null(mp);
    struct tu_reports rep = { 0 };
    ustor_driver *drv;
    ustor_adapter *ad = create(mp->entry, name, args, true, &rep, &drv);
    struct load l[3];
    pthread_t t[3];
    uint64_t seed = tu_seed();
    for (int i = 0; i < 3; i++) {
        l[i] = (struct load){ ad, seed + (uint64_t)i * 104729u, tu_iterations(300), 0 };
        assert_int_equal(pthread_create(&t[i], NULL, load_thread, &l[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(l[i].failures, 0);
    }
    /* half duplex earns its by-design SpDuplex warning at creation, and
     * nothing else */
    unsigned expected = strstr(args, "sync=half") ? 1 : 0;
    assert_int_equal(tu_reports_count(&rep, "SpDuplex", NULL), expected);
    if (rep.count != expected)
        fprintf(stderr, "%s %s: unexpected reports:\n%s\n", name, args, rep.text);
    assert_int_equal(rep.count, expected);
    assert_int_equal(ustor_adapter_violations(ad), 0);
    struct lg_graph *g = vhooks_lock_graph(ad);
    assert_non_null(g);
    struct lg_stats st;
    lg_get_stats(g, &st);
    assert_int_equal(st.inversions + st.irq_unsafe, 0);
    tu_adapter_free(ad, drv);
    assert_int_equal(rep.count, expected);
    tu_reports_clear(&rep);
}

static void test_ramdisk_virtual_clean(void **state)
{
    (void)state;
    ramdisk_clean("ramdisk", "size=1M;complete=inline");
    ramdisk_clean("ramdisk", "size=1M;complete=dpc");
    ramdisk_clean("ramdisk", "size=1M;complete=mixed");
}

static void test_ramdisk_phys_all_modes_clean(void **state)
{
    (void)state;
    ramdisk_clean("ramdisk-phys", "size=1M;sync=half");
    ramdisk_clean("ramdisk-phys", "size=1M;sync=full");
    ramdisk_clean("ramdisk-phys", "size=1M;sync=concurrent");
    ramdisk_clean("ramdisk-phys", "size=1M;sync=concurrent;complete=dpc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inversion_kspin_vs_dpc_lock),
        cmocka_unit_test(test_inversion_needs_lock_graph),
        cmocka_unit_test(test_interrupt_unsafe_kspin),
        cmocka_unit_test(test_virtual_has_no_interrupt_context),
        cmocka_unit_test(test_kernel_rule_routed_to_adapter),
        cmocka_unit_test(test_physical_prohibited_ddis),
        cmocka_unit_test(test_startio_blocking_calls),
        cmocka_unit_test(test_ramdisk_virtual_clean),
        cmocka_unit_test(test_ramdisk_phys_all_modes_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
