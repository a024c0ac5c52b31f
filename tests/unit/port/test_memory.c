/*
 * test_memory.c - src/port/memory.c: uncached extension, physical and
 * virtual address translation, scatter/gather lists, contiguous memory
 * (with its leak report), the in-memory registry, and the small routines
 * (conversions, moves, time, processor number, debug print).
 */
#include <unistd.h>

#include "hw/physmem.h"
#include "port_mp.h"

static struct tu_reports rep;
static ustor_driver *drv;
static ustor_adapter *adapter;
static PVOID ext;

/* ---- what the hooks saw ---------------------------------------------------------- */

static struct {
    PUCHAR unc, unc_again, unc_bigger;
} fh;

static void find_uncached(PVOID e, PPORT_CONFIGURATION_INFORMATION c)
{
    fh.unc = StorPortGetUncachedExtension(e, c, 10000);
    fh.unc_again = StorPortGetUncachedExtension(e, c, 100);
    fh.unc_bigger = StorPortGetUncachedExtension(e, c, 20000);
}

#define SH_MAX_EL 64
static struct {
    int calls;
    PVOID sg_ptr;
    ULONG n;
    STOR_SCATTER_GATHER_ELEMENT el[SH_MAX_EL];
    bool sg_maps_to_buffer;
    PHYSICAL_ADDRESS pa;
    ULONG pa_len;
    bool virt_back;
    PVOID sysaddr;
    ULONG sys_status, mdl_status, perf_status, perf_bad_status;
    STARTIO_PERFORMANCE_PARAMETERS perf;
    PHYSICAL_ADDRESS ext_pa;
    ULONG ext_len;
} sh;

static void startio_probe(PVOID e, PSCSI_REQUEST_BLOCK srb)
{
    sh.calls++;
    PSTOR_SCATTER_GATHER_LIST sg = StorPortGetScatterGatherList(e, srb);
    sh.sg_ptr = sg;
    sh.n = sg ? sg->NumberOfElements : 0;
    for (ULONG i = 0; i < sh.n && i < SH_MAX_EL; i++)
        sh.el[i] = sg->List[i];
    PUCHAR buf = SrbGetDataBuffer(srb);
    if (buf && sh.n) {
        sh.sg_maps_to_buffer =
            ustor_phys_to_virt((uint64_t)sh.el[0].PhysicalAddress.QuadPart, sh.el[0].Length) == buf;
        sh.pa = StorPortGetPhysicalAddress(e, srb, buf + 1, &sh.pa_len);
        sh.virt_back = StorPortGetVirtualAddress(e, sh.pa) == buf + 1;
    }
    sh.sys_status = StorPortGetSystemAddress(e, srb, &sh.sysaddr);
    PVOID mdl = (PVOID)1;
    sh.mdl_status = StorPortGetOriginalMdl(e, srb, &mdl);
    memset(&sh.perf, 0, sizeof(sh.perf));
    sh.perf.Size = sizeof(sh.perf);
    sh.perf_status = StorPortGetStartIoPerfParams(e, srb, &sh.perf);
    STARTIO_PERFORMANCE_PARAMETERS small;
    memset(&small, 0, sizeof(small));
    sh.perf_bad_status = StorPortGetStartIoPerfParams(e, srb, &small);
    sh.ext_pa = StorPortGetPhysicalAddress(e, NULL, SrbGetMiniportContext(srb), &sh.ext_len);
    StorPortPutScatterGatherList(e, sg, FALSE);
}

static int setup(const char *args, bool virtual_mp)
{
    memset(&mp_state, 0, sizeof(mp_state));
    memset(&fh, 0, sizeof(fh));
    memset(&sh, 0, sizeof(sh));
    tu_reports_clear(&rep);
    mp_state.find_hook = find_uncached;
    mp_state.startio_hook = startio_probe;
    adapter = mp_create(virtual_mp, NULL, args, &rep, &drv);
    ext = mp_state.ext;
    return adapter ? 0 : -1;
}

static int setup_phys(void **state)
{
    (void)state;
    return setup("", false);
}

static int setup_virt(void **state)
{
    (void)state;
    return setup("", true);
}

static int setup_two_breaks(void **state)
{
    (void)state;
    return setup("breaks=1", false);
}

static int teardown(void **state)
{
    (void)state;
    ustor_adapter_destroy(adapter);
    ustor_driver_unload(drv);
    adapter = NULL;
    return 0;
}

static unsigned reports(const char *rule)
{
    return tu_reports_count(&rep, rule, NULL);
}

/* ---- uncached extension ------------------------------------------------------------ */

static void test_uncached_extension_from_find_adapter(void **state)
{
    (void)state;
    assert_non_null(fh.unc);
    assert_int_equal((uintptr_t)fh.unc % 4096, 0);
    for (unsigned i = 0; i < 10000; i++)
        assert_int_equal(fh.unc[i], 0);
    /* Documented: a second call returns the extension already made. */
    assert_ptr_equal(fh.unc_again, fh.unc);
    /* A larger second request cannot be met by the one extension. */
    assert_null(fh.unc_bigger);
    assert_int_equal(reports("BadArgument"), 1);

    ULONG len = 0;
    PHYSICAL_ADDRESS pa = StorPortGetPhysicalAddress(ext, NULL, fh.unc + 100, &len);
    assert_true(pa.QuadPart != 0);
    assert_true((uint64_t)pa.QuadPart != (uint64_t)(uintptr_t)(fh.unc + 100)); /* not the pointer */
    assert_int_equal(pa.QuadPart % 4096, 100);
    assert_int_equal(len, 3 * 4096 - 100);
    assert_ptr_equal(StorPortGetVirtualAddress(ext, pa), fh.unc + 100);
}

static void test_uncached_extension_outside_find_adapter_fails(void **state)
{
    (void)state;
    unsigned before = reports("BadArgument");
    assert_null(StorPortGetUncachedExtension(ext, NULL, 4096));
    assert_int_equal(reports("BadArgument"), before + 1);
}

static void test_uncached_extension_virtual_miniport(void **state)
{
    (void)state;
    assert_non_null(fh.unc);
    ULONG len = 0;
    assert_true(StorPortGetPhysicalAddress(ext, NULL, fh.unc, &len).QuadPart != 0);
    assert_int_equal(len, 3 * 4096);
}

/* ---- translation ------------------------------------------------------------------- */

static void test_physical_address_of_unknown_memory_is_zero(void **state)
{
    (void)state;
    int local = 0;
    ULONG len = 77;
    unsigned before = reports("BadArgument");
    PHYSICAL_ADDRESS pa = StorPortGetPhysicalAddress(ext, NULL, &local, &len);
    assert_true(pa.QuadPart == 0);
    assert_int_equal(len, 0);
    PHYSICAL_ADDRESS nowhere;
    nowhere.QuadPart = 0x10;
    assert_null(StorPortGetVirtualAddress(ext, nowhere));
    assert_int_equal(reports("BadArgument"), before + 2);
}

/* ---- scatter/gather ------------------------------------------------------------------ */

static void test_sg_list_splits_at_page_boundaries(void **state)
{
    (void)state;
    PUCHAR mem = aligned_alloc(4096, 5 * 4096);
    assert_non_null(mem);
    PUCHAR data = mem + 100;
    ULONG len = 3 * 4096 + 50;
    assert_int_equal(mp_io(adapter, data, len), SRB_STATUS_SUCCESS);
    assert_int_equal(sh.calls, 1);
    assert_non_null(sh.sg_ptr);
    assert_int_equal(sh.n, 4);
    assert_int_equal(sh.el[0].Length, 4096 - 100);
    assert_int_equal(sh.el[1].Length, 4096);
    assert_int_equal(sh.el[2].Length, 4096);
    ULONG total = 0;
    for (ULONG i = 0; i < sh.n; i++) {
        total += sh.el[i].Length;
        if (i + 1 < sh.n)
            assert_true(sh.el[i + 1].PhysicalAddress.QuadPart ==
                        sh.el[i].PhysicalAddress.QuadPart + sh.el[i].Length);
    }
    assert_int_equal(total, len);
    assert_true(sh.sg_maps_to_buffer);
    assert_true(sh.pa.QuadPart == sh.el[0].PhysicalAddress.QuadPart + 1);
    assert_int_equal(sh.pa_len, len - 1);
    assert_true(sh.virt_back);
    assert_int_equal(sh.sys_status, STOR_STATUS_SUCCESS);
    assert_ptr_equal(sh.sysaddr, data);
    assert_int_equal(sh.mdl_status, STOR_STATUS_NOT_IMPLEMENTED);
    free(mem);
}

static void test_sg_list_merges_to_number_of_physical_breaks(void **state)
{
    (void)state;
    PUCHAR mem = aligned_alloc(4096, 5 * 4096);
    assert_non_null(mem);
    ULONG len = 3 * 4096 + 50;
    assert_int_equal(mp_io(adapter, mem + 100, len), SRB_STATUS_SUCCESS);
    assert_int_equal(sh.n, 2); /* NumberOfPhysicalBreaks 1 -> at most 2 elements */
    assert_int_equal(sh.el[0].Length + sh.el[1].Length, len);
    assert_true(sh.el[1].PhysicalAddress.QuadPart == sh.el[0].PhysicalAddress.QuadPart + sh.el[0].Length);
    free(mem);
}

static void test_sg_list_absent_without_data(void **state)
{
    (void)state;
    assert_int_equal(mp_io(adapter, NULL, 0), SRB_STATUS_SUCCESS);
    assert_int_equal(sh.calls, 1);
    assert_null(sh.sg_ptr);
    assert_int_equal(sh.sys_status, STOR_STATUS_SUCCESS);
    assert_null(sh.sysaddr);
}

static void test_sg_lists_are_reused_per_request_slot(void **state)
{
    (void)state;
    PUCHAR mem = malloc(8192);
    assert_non_null(mem);
    PVOID seen[64];
    unsigned distinct = 0;
    for (int i = 0; i < 40; i++) {
        assert_int_equal(mp_io(adapter, mem + (i % 7), 4096 + (ULONG)i), SRB_STATUS_SUCCESS);
        bool known = false;
        for (unsigned k = 0; k < distinct; k++)
            known |= seen[k] == sh.sg_ptr;
        if (!known && distinct < 64)
            seen[distinct++] = sh.sg_ptr;
    }
    /* At most one list per request slot (mp_create uses 16 slots). */
    assert_true(distinct <= 16);
    free(mem);
}

static void test_srb_extension_has_a_physical_address(void **state)
{
    (void)state;
    assert_int_equal(mp_io(adapter, NULL, 0), SRB_STATUS_SUCCESS);
    assert_true(sh.ext_pa.QuadPart != 0);
    assert_true(sh.ext_len >= 128);
}

static void test_start_io_perf_params(void **state)
{
    (void)state;
    PUCHAR mem = malloc(512);
    assert_non_null(mem);
    assert_int_equal(mp_io(adapter, mem, 512), SRB_STATUS_SUCCESS);
    struct ustor_adapter_info info;
    ustor_adapter_get_info(adapter, &info);
    assert_int_equal(sh.perf_status, STOR_STATUS_SUCCESS);
    assert_true(sh.perf.MessageNumber < (info.interrupt_messages ? info.interrupt_messages : 1));
    assert_int_equal(sh.perf.ChannelNumber, 0); /* no concurrent channels */
    assert_int_equal(sh.perf_bad_status, STOR_STATUS_INVALID_PARAMETER);
    /* Not an SRB the port handed out. */
    SCSI_REQUEST_BLOCK fake_srb;
    memset(&fake_srb, 0, sizeof(fake_srb));
    STARTIO_PERFORMANCE_PARAMETERS p = { .Size = sizeof(p) };
    assert_int_equal(StorPortGetStartIoPerfParams(ext, &fake_srb, &p), STOR_STATUS_INVALID_PARAMETER);
    free(mem);
}

/* ---- contiguous memory ---------------------------------------------------------------- */

static PHYSICAL_ADDRESS pa_of(uint64_t v)
{
    PHYSICAL_ADDRESS p;
    p.QuadPart = (LONGLONG)v;
    return p;
}

static void test_contiguous_memory_round_trip(void **state)
{
    (void)state;
    PVOID p = NULL;
    assert_int_equal(StorPortAllocateContiguousMemorySpecifyCacheNode(ext, 5000, pa_of(0), pa_of(~0ull >> 1),
                                                                      pa_of(0), MmCached, MM_ANY_NODE_OK, &p),
                     STOR_STATUS_SUCCESS);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 4096, 0);
    memset(p, 0x5A, 5000);
    ULONG len = 0;
    PHYSICAL_ADDRESS pa = StorPortGetPhysicalAddress(ext, NULL, p, &len);
    assert_true(pa.QuadPart != 0);
    assert_true(len >= 5000);
    assert_int_equal(StorPortFreeContiguousMemorySpecifyCache(ext, p, 5000, MmCached), STOR_STATUS_SUCCESS);
    /* Gone from the physical address space, and a second free is an error. */
    assert_null(ustor_phys_to_virt((uint64_t)pa.QuadPart, 1));
    unsigned before = reports("BadArgument");
    assert_int_equal(StorPortFreeContiguousMemorySpecifyCache(ext, p, 5000, MmCached), STOR_STATUS_INVALID_PARAMETER);
    assert_int_equal(reports("BadArgument"), before + 1);
}

static void test_contiguous_memory_honours_address_limits(void **state)
{
    (void)state;
    PVOID p = (PVOID)1;
    /* The simulated physical window starts at 4 GiB: 32-bit DMA cannot be met. */
    assert_int_equal(StorPortAllocateContiguousMemorySpecifyCacheNode(ext, 4096, pa_of(0), pa_of(0xFFFFFFFFull),
                                                                      pa_of(0), MmCached, MM_ANY_NODE_OK, &p),
                     STOR_STATUS_INSUFFICIENT_RESOURCES);
    assert_null(p);
    /* A boundary smaller than the block can never be met either. */
    assert_int_equal(StorPortAllocateContiguousMemorySpecifyCacheNode(ext, 8192, pa_of(0), pa_of(~0ull >> 1),
                                                                      pa_of(4096), MmCached, MM_ANY_NODE_OK, &p),
                     STOR_STATUS_INSUFFICIENT_RESOURCES);
    /* A boundary the block fits in is honoured. */
    assert_int_equal(StorPortAllocateContiguousMemorySpecifyCacheNode(ext, 4096, pa_of(0), pa_of(~0ull >> 1),
                                                                      pa_of(65536), MmCached, MM_ANY_NODE_OK, &p),
                     STOR_STATUS_SUCCESS);
    ULONG len;
    uint64_t phys = (uint64_t)StorPortGetPhysicalAddress(ext, NULL, p, &len).QuadPart;
    assert_true(phys / 65536 == (phys + 4095) / 65536);
    assert_int_equal(StorPortFreeContiguousMemorySpecifyCache(ext, p, 4096, MmCached), STOR_STATUS_SUCCESS);
}

static void test_contiguous_memory_irql_rule(void **state)
{
    (void)state;
    PVOID p = NULL;
    KIRQL old;
    unsigned before = reports("StorPortIrql");
    KeRaiseIrql(HIGH_LEVEL, &old);
    ULONG st = StorPortAllocateContiguousMemorySpecifyCacheNode(ext, 4096, pa_of(0), pa_of(~0ull >> 1), pa_of(0),
                                                                MmCached, MM_ANY_NODE_OK, &p);
    KeLowerIrql(old);
    assert_int_equal(st, STOR_STATUS_INVALID_IRQL);
    assert_null(p);
    assert_int_equal(reports("StorPortIrql"), before + 1);
}

static void test_contiguous_memory_leak_reported_at_removal(void **state)
{
    (void)state;
    PVOID p = NULL;
    assert_int_equal(StorPortAllocateContiguousMemorySpecifyCacheNode(ext, 4096, pa_of(0), pa_of(~0ull >> 1),
                                                                      pa_of(0), MmCached, MM_ANY_NODE_OK, &p),
                     STOR_STATUS_SUCCESS);
    uint64_t phys = (uint64_t)StorPortGetPhysicalAddress(ext, NULL, p, &(ULONG){ 0 }).QuadPart;
    assert_int_equal(reports("StorPortAllocatePool2"), 0);
    ustor_adapter_destroy(adapter);
    adapter = NULL;
    assert_int_equal(reports("StorPortAllocatePool2"), 1);
    assert_null(ustor_phys_to_virt(phys, 1)); /* freed and unmapped by the port */
    ustor_driver_unload(drv);
}

/* ---- registry ----------------------------------------------------------------------------- */

static void test_registry_round_trip(void **state)
{
    (void)state;
    ULONG len = 64;
    PUCHAR buf = StorPortAllocateRegistryBuffer(ext, &len);
    assert_non_null(buf);
    assert_true(len >= 64);
    /* Documented: one registry buffer at a time. */
    ULONG len2 = 16;
    assert_null(StorPortAllocateRegistryBuffer(ext, &len2));

    ULONG v = 0xC0FFEE;
    memcpy(buf, &v, sizeof(v));
    assert_true(StorPortRegistryWrite(ext, (PUCHAR) "QueueDepth", 0, MINIPORT_REG_DWORD, buf, sizeof(v)));
    memcpy(buf, "global", 7);
    assert_true(StorPortRegistryWrite(ext, (PUCHAR) "Mode", 1, MINIPORT_REG_SZ, buf, 7));

    memset(buf, 0, len);
    ULONG n = len;
    assert_true(StorPortRegistryRead(ext, (PUCHAR) "QueueDepth", 0, MINIPORT_REG_DWORD, buf, &n));
    assert_int_equal(n, sizeof(v));
    assert_memory_equal(buf, &v, sizeof(v));
    n = len;
    assert_true(StorPortRegistryRead(ext, (PUCHAR) "Mode", 1, MINIPORT_REG_SZ, buf, &n));
    assert_string_equal((char *)buf, "global");
    /* Adapter values and global values are different keys. */
    n = len;
    assert_false(StorPortRegistryRead(ext, (PUCHAR) "Mode", 0, MINIPORT_REG_SZ, buf, &n));
    /* Wrong type, missing name, too small a buffer. */
    n = len;
    assert_false(StorPortRegistryRead(ext, (PUCHAR) "QueueDepth", 0, MINIPORT_REG_SZ, buf, &n));
    n = len;
    assert_false(StorPortRegistryRead(ext, (PUCHAR) "Nothing", 0, MINIPORT_REG_DWORD, buf, &n));
    n = 2;
    assert_false(StorPortRegistryRead(ext, (PUCHAR) "QueueDepth", 0, MINIPORT_REG_DWORD, buf, &n));
    assert_int_equal(n, sizeof(v)); /* the size it needs */
    /* Overwrite. */
    v = 7;
    memcpy(buf, &v, sizeof(v));
    assert_true(StorPortRegistryWrite(ext, (PUCHAR) "QueueDepth", 0, MINIPORT_REG_DWORD, buf, sizeof(v)));
    n = len;
    memset(buf, 0, len);
    assert_true(StorPortRegistryRead(ext, (PUCHAR) "QueueDepth", 0, MINIPORT_REG_DWORD, buf, &n));
    assert_memory_equal(buf, &v, sizeof(v));
    StorPortFreeRegistryBuffer(ext, buf);
    assert_int_equal(reports("BadArgument"), 1 /* the uncached "bigger" call */ + 1 /* second buffer */);
}

static void test_registry_needs_its_buffer_and_passive_level(void **state)
{
    (void)state;
    UCHAR own[16] = { 0 };
    ULONG n = sizeof(own);
    unsigned before = reports("BadArgument");
    assert_false(StorPortRegistryRead(ext, (PUCHAR) "X", 0, MINIPORT_REG_DWORD, own, &n));
    assert_int_equal(reports("BadArgument"), before + 1);

    ULONG len = 16;
    PUCHAR buf = StorPortAllocateRegistryBuffer(ext, &len);
    assert_non_null(buf);
    KIRQL old;
    unsigned irql_before = reports("StorPortIrql");
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    BOOLEAN w = StorPortRegistryWrite(ext, (PUCHAR) "X", 0, MINIPORT_REG_DWORD, buf, 4);
    KeLowerIrql(old);
    assert_false(w);
    assert_int_equal(reports("StorPortIrql"), irql_before + 1);
    StorPortFreeRegistryBuffer(ext, buf);
    StorPortFreeRegistryBuffer(ext, buf); /* twice */
    assert_int_equal(reports("BadArgument"), before + 2);
}

static void test_registry_global_values_outlive_the_adapter(void **state)
{
    (void)state;
    ULONG len = 16;
    PUCHAR buf = StorPortAllocateRegistryBuffer(ext, &len);
    assert_non_null(buf);
    memcpy(buf, "abc", 4);
    assert_true(StorPortRegistryWrite(ext, (PUCHAR) "Persist", 1, MINIPORT_REG_SZ, buf, 4));
    assert_true(StorPortRegistryWrite(ext, (PUCHAR) "Local", 0, MINIPORT_REG_SZ, buf, 4));
    StorPortFreeRegistryBuffer(ext, buf);
    teardown(NULL);

    assert_int_equal(setup_phys(NULL), 0);
    len = 16;
    buf = StorPortAllocateRegistryBuffer(ext, &len);
    assert_non_null(buf);
    ULONG n = len;
    assert_true(StorPortRegistryRead(ext, (PUCHAR) "Persist", 1, MINIPORT_REG_SZ, buf, &n));
    assert_string_equal((char *)buf, "abc");
    n = len;
    assert_false(StorPortRegistryRead(ext, (PUCHAR) "Local", 0, MINIPORT_REG_SZ, buf, &n));
    StorPortFreeRegistryBuffer(ext, buf);
}

/* ---- small routines ------------------------------------------------------------------------- */

static void test_conversions_and_moves(void **state)
{
    (void)state;
    PHYSICAL_ADDRESS pa = StorPortConvertUlongToPhysicalAddress(0x12345678);
    assert_true(pa.QuadPart == 0x12345678);
    pa.QuadPart = 0x100000010LL;
    assert_int_equal(StorPortConvertPhysicalAddressToUlong(pa), 0x10);

    char s[16] = "abcdefgh";
    StorPortMoveMemory(s + 2, s, 6); /* overlapping */
    assert_string_equal(s, "ababcdef");
    char d[8] = { 0 };
    StorPortCopyMemory(d, s, 4);
    assert_memory_equal(d, "abab", 4);
}

static void test_time_processor_and_spinlock(void **state)
{
    (void)state;
    LARGE_INTEGER t1, t2, f, c1, c2;
    StorPortQuerySystemTime(&t1);
    StorPortQuerySystemTime(&t2);
    assert_true(t1.QuadPart > 0);
    assert_true(t2.QuadPart >= t1.QuadPart);
    assert_int_equal(StorPortQueryPerformanceCounter(ext, &f, &c1), STOR_STATUS_SUCCESS);
    assert_int_equal(StorPortQueryPerformanceCounter(ext, NULL, &c2), STOR_STATUS_SUCCESS);
    assert_true(f.QuadPart > 0);
    assert_true(c2.QuadPart >= c1.QuadPart);
    assert_int_equal(StorPortQueryPerformanceCounter(ext, &f, NULL), STOR_STATUS_INVALID_PARAMETER);

    PROCESSOR_NUMBER pn;
    memset(&pn, 0xFF, sizeof(pn));
    assert_int_equal(StorPortGetCurrentProcessorNumber(ext, &pn), STOR_STATUS_SUCCESS);
    assert_int_equal(pn.Group, 0);
    assert_true(pn.Number < 64);

    STOR_KSPIN_LOCK lock = (STOR_KSPIN_LOCK)-1;
    assert_int_equal(StorPortInitializeSpinlock(ext, &lock), STOR_STATUS_SUCCESS);
    assert_int_equal(lock, 0);
    assert_int_equal(StorPortInitializeSpinlock(ext, NULL), STOR_STATUS_INVALID_PARAMETER);
}

static void test_debug_print_honours_level(void **state)
{
    (void)state;
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), 2) >= 0);
    StorPortDebugPrint(0, "error %d from the miniport", 42);
    StorPortDebugPrint(99, "chatter nobody asked for");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char text[256] = { 0 };
    rewind(tmp);
    size_t n = fread(text, 1, sizeof(text) - 1, tmp);
    fclose(tmp);
    assert_true(n > 0);
    assert_non_null(strstr(text, "error 42 from the miniport"));
    assert_null(strstr(text, "chatter"));
}

static void test_stall_processor_count_and_log_error(void **state)
{
    (void)state;
    LARGE_INTEGER a, b, f;
    StorPortQueryPerformanceCounter(ext, &f, &a);
    StorPortStallExecution(200);
    StorPortQueryPerformanceCounter(ext, NULL, &b);
    /* At least the requested 200 us went by (a lower bound, never an upper one). */
    assert_true((b.QuadPart - a.QuadPart) * 1000000 / f.QuadPart >= 200);

    ULONG cpus = 0;
    assert_int_equal(StorPortGetProcessorCount(ext, &cpus), STOR_STATUS_SUCCESS);
    assert_int_equal(cpus, 2); /* mp_create asks for 2 simulated CPUs */
    assert_int_equal(StorPortGetProcessorCount(ext, NULL), STOR_STATUS_INVALID_PARAMETER);

    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    StorPortLogError(ext, NULL, 0, 1, 2, SP_BUS_TIME_OUT, 0x1234);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char text[512] = { 0 };
    rewind(tmp);
    assert_true(fread(text, 1, sizeof(text) - 1, tmp) > 0);
    fclose(tmp);
    assert_non_null(strstr(text, "SP_BUS_TIME_OUT"));
    assert_non_null(strstr(text, "0/1/2"));
    assert_int_equal(reports("StorPortDeprecated"), 1);
}

int main(void)
{
    tu_seed();
    /* Level 0 (errors) only, whatever the caller's environment says. */
    unsetenv("USTOR_DEBUG_LEVEL");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_uncached_extension_from_find_adapter, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_uncached_extension_outside_find_adapter_fails, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_uncached_extension_virtual_miniport, setup_virt, teardown),
        cmocka_unit_test_setup_teardown(test_physical_address_of_unknown_memory_is_zero, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_sg_list_splits_at_page_boundaries, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_sg_list_merges_to_number_of_physical_breaks, setup_two_breaks, teardown),
        cmocka_unit_test_setup_teardown(test_sg_list_absent_without_data, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_sg_lists_are_reused_per_request_slot, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_srb_extension_has_a_physical_address, setup_virt, teardown),
        cmocka_unit_test_setup_teardown(test_start_io_perf_params, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_contiguous_memory_round_trip, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_contiguous_memory_honours_address_limits, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_contiguous_memory_irql_rule, setup_phys, teardown),
        cmocka_unit_test_setup(test_contiguous_memory_leak_reported_at_removal, setup_phys),
        cmocka_unit_test_setup_teardown(test_registry_round_trip, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_registry_needs_its_buffer_and_passive_level, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_registry_global_values_outlive_the_adapter, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_conversions_and_moves, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_time_processor_and_spinlock, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_debug_print_honours_level, setup_phys, teardown),
        cmocka_unit_test_setup_teardown(test_stall_processor_count_and_log_error, setup_phys, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
