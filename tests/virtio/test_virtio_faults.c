/* ustor-test-labels: concurrency;virtio */
/*
 * test_virtio_faults.c - the virtio miniport against every fault the
 * simulated virtio-blk device can inject (docs/hardware.md): lost,
 * delayed and spurious interrupts, stuck commands, I/O errors and device
 * resets.  Each run must finish (bounded waits), notice the fault the way
 * the miniport documents (watchdog poll, device reset, retryable status),
 * complete every request exactly once and lose or corrupt no completed
 * write (the whole disk is read back).  Prints its seed.
 */
#include "vtest.h"

#include <stdio.h>
#include <string.h>

struct fault_run {
    struct virtio_miniport_stats mp;
    struct ustor_hw_stats hw;
};

#define THREADS 4

/* LBAs the next run's stress may use (0: the whole disk); reset by run(). */
static uint64_t stress_blocks;

/* device_opts may hold one %u: replaced by a fault period giving a few
 * faults in the run whatever USTOR_ITER_SCALE makes of ops. */
static void run(const char *args, const char *device_opts_fmt, unsigned ops, unsigned blk_timeout_s,
                struct fault_run *out)
{
    uint64_t seed = tu_seed();
    struct vt_env e;
    char device_opts[256];
    unsigned period = ops * THREADS / 4 > 20 ? ops * THREADS / 4 : 20;
    snprintf(device_opts, sizeof(device_opts), device_opts_fmt, period);
    struct vt_setup s = { .args = args, .device_opts = device_opts, .blk_timeout_s = blk_timeout_s };
    struct vt_stress_result r;
    char what[300];

    virtio_miniport_get_stats(&out->mp, 1);
    vt_open(&e, &s);
    e.stress_blocks = stress_blocks;
    stress_blocks = 0;
    vt_stress(&e, THREADS, ops, seed, NULL, NULL, &r);
    snprintf(what, sizeof(what), "virtio [%s] device [%s]", args, device_opts);
    vt_assert_clean(&e, &r, what, seed);
    assert_int_equal(ustor_hw_device_stats(e.dev, &out->hw), 0);
    vt_close(&e);
    virtio_miniport_get_stats(&out->mp, 1);
}

static void test_every_interrupt_lost(void **s)
{
    struct fault_run f;
    (void)s;
    /* No interrupt ever arrives: only the watchdog's poll completes I/O,
     * one tick at a time, so keep the read-back short. */
    stress_blocks = THREADS * 16 * 8;
    run("sync=full;watchdog_ms=5", "faults=drop_irq:every:1", tu_iterations(200), 0, &f);
    assert_true(f.hw.irqs_dropped > 0);
    assert_int_equal(f.hw.irqs_raised, 0);
    assert_true(f.mp.lost_irq_recoveries > 0);
}

static void test_some_interrupts_lost(void **s)
{
    struct fault_run f;
    (void)s;
    run("sync=concurrent;intr=permessage;watchdog_ms=10", "latency=exp:20us;faults=drop_irq:0.05",
        tu_iterations(1000), 0, &f);
    assert_true(f.hw.faults[USTOR_HW_FAULT_DROP_IRQ] > 0);
}

static void test_delayed_interrupts(void **s)
{
    struct fault_run f;
    (void)s;
    run("sync=full", "latency=exp:20us;faults=delay_irq:0.05;irq_delay=2ms", tu_iterations(800), 0, &f);
    assert_true(f.hw.irqs_delayed > 0);
}

static void test_spurious_interrupts(void **s)
{
    struct fault_run f;
    (void)s;
    run("sync=half", "faults=spurious_irq:0.1", tu_iterations(1000), 0, &f);
    assert_true(f.hw.irqs_spurious > 0);
    assert_true(f.mp.isr_idle > 0);
}

static void test_spurious_interrupts_intx(void **s)
{
    struct fault_run f;
    (void)s;
    run("sync=full", "msix=off;faults=spurious_irq:0.1", tu_iterations(1000), 0, &f);
    assert_true(f.hw.irqs_spurious > 0);
    assert_true(f.mp.isr_idle > 0);
}

static void test_stuck_commands_watchdog(void **s)
{
    struct fault_run f;
    (void)s;
    /* The miniport's watchdog resets the device; the class layer retries
     * what the reset completed with SRB_STATUS_BUS_RESET. */
    run("sync=full;watchdog_ms=10;stuck_ms=100", "latency=exp:20us;faults=stuck:every:%u",
        tu_iterations(1500), 0, &f);
    assert_true(f.hw.faults[USTOR_HW_FAULT_STUCK] > 0);
    assert_true(f.mp.stuck_resets > 0);
    assert_true(f.mp.reset_completions > 0);
    assert_true(f.hw.dropped_by_reset > 0);
}

static void test_stuck_commands_port_timeout(void **s)
{
    struct fault_run f;
    (void)s;
    /* Watchdog threshold out of reach: the port's request timeout (1 s)
     * calls HwStorResetBus, which resets the device. */
    run("sync=concurrent;stuck_ms=600000", "faults=stuck:every:%u", tu_iterations(1000), 1, &f);
    assert_true(f.hw.faults[USTOR_HW_FAULT_STUCK] > 0);
    assert_int_equal(f.mp.stuck_resets, 0);
    assert_true(f.mp.bus_resets > 0); /* only the port's timeout calls it here */
}

static void test_io_errors(void **s)
{
    struct fault_run f;
    (void)s;
    run("sync=concurrent", "latency=exp:20us;faults=error:0.01", tu_iterations(1500), 0, &f);
    assert_true(f.hw.faults[USTOR_HW_FAULT_ERROR] > 0);
    assert_true(f.mp.io_errors > 0);
}

static void test_device_resets(void **s)
{
    struct fault_run f;
    (void)s;
    run("sync=full;intr=permessage", "latency=exp:20us;faults=reset:every:%u", tu_iterations(1500), 0, &f);
    assert_true(f.hw.faults[USTOR_HW_FAULT_RESET] > 0);
    assert_true(f.mp.config_interrupts > 0);
    assert_true(f.mp.needs_reset_resets > 0);
}

static void test_device_resets_intx(void **s)
{
    struct fault_run f;
    (void)s;
    run("sync=half", "msix=off;faults=reset:every:%u", tu_iterations(1500), 0, &f);
    assert_true(f.hw.faults[USTOR_HW_FAULT_RESET] > 0);
    assert_true(f.mp.needs_reset_resets > 0);
}

static void test_all_faults_at_once(void **s)
{
    struct fault_run f;
    (void)s;
    run("sync=concurrent;intr=permessage;watchdog_ms=10;stuck_ms=150",
        "latency=exp:20us;faults=drop_irq:0.01,delay_irq:0.01,spurious_irq:0.01,stuck:0.0005,error:0.005,"
        "reset:0.0005",
        tu_iterations(1500), 0, &f);
    assert_true(f.mp.posted > 0);
}

static void test_all_faults_at_once_half_duplex_intx(void **s)
{
    struct fault_run f;
    (void)s;
    run("sync=half;watchdog_ms=10;stuck_ms=150",
        "msix=off;latency=exp:20us;faults=drop_irq:0.01,delay_irq:0.01,spurious_irq:0.01,stuck:0.0005,"
        "error:0.005,reset:0.0005",
        tu_iterations(1500), 0, &f);
    assert_true(f.mp.posted > 0);
}

int main(void)
{
    tu_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_interrupt_lost),
        cmocka_unit_test(test_some_interrupts_lost),
        cmocka_unit_test(test_delayed_interrupts),
        cmocka_unit_test(test_spurious_interrupts),
        cmocka_unit_test(test_spurious_interrupts_intx),
        cmocka_unit_test(test_stuck_commands_watchdog),
        cmocka_unit_test(test_stuck_commands_port_timeout),
        cmocka_unit_test(test_io_errors),
        cmocka_unit_test(test_device_resets),
        cmocka_unit_test(test_device_resets_intx),
        cmocka_unit_test(test_all_faults_at_once),
        cmocka_unit_test(test_all_faults_at_once_half_duplex_intx),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
