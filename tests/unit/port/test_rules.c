/*
 * test_rules.c - the rule table (src/port/rules.c) says what SPEC tables A
 * and B, the routine IRQLs and the S4.4 order say.  The port and the
 * verifier both read that table, so this is where its content is checked
 * against the SPEC's own words, cell by cell for the rows that differ by
 * mode.
 */
#include "testutil.h"

#include "port/rules.h"

#define D RL_BIT(RL_DPC)
#define S RL_BIT(RL_STARTIO)
#define I RL_BIT(RL_INTERRUPT)

static const enum ustor_sync_mode H = USTOR_SYNC_HALF_DUPLEX, F = USTOR_SYNC_FULL_DUPLEX,
                                  C = USTOR_SYNC_CONCURRENT, V = USTOR_SYNC_VIRTUAL;

static void held(enum rules_routine r, enum ustor_sync_mode m, rules_lockset want)
{
    if (rules_cell(r, m)->held != want)
        fail_msg("table A: %s in %s holds 0x%x, SPEC says 0x%x", rules_routines[r].name,
                 ustor_sync_mode_name(m), rules_cell(r, m)->held, want);
}

static void may(enum rules_routine r, enum ustor_sync_mode m, rules_lockset want)
{
    if (rules_cell(r, m)->may != want)
        fail_msg("table B: %s in %s may take 0x%x, SPEC says 0x%x", rules_routines[r].name,
                 ustor_sync_mode_name(m), rules_cell(r, m)->may, want);
}

/* SPEC S4.5 table A */
static void test_S4_5_table_A(void **state)
{
    (void)state;
    for (enum ustor_sync_mode m = 0; m < USTOR_SYNC_MODE_COUNT; m++) {
        held(RR_FIND_ADAPTER, m, 0);
        held(RR_BUILDIO, m, 0);
        held(RR_INTERRUPT, m, I);
        held(RR_MSI_INTERRUPT, m, I);
        held(RR_UNIT_CONTROL, m, 0);
        held(RR_TRACING_ENABLED, m, 0);
        held(RR_PASSIVE_INITIALIZE, m, 0);
        held(RR_DPC, m, 0);
        held(RR_ADAPTER_CONTROL, m, 0);
    }
    held(RR_INITIALIZE, H, I);
    held(RR_INITIALIZE, F, I);
    held(RR_INITIALIZE, C, I);
    held(RR_INITIALIZE, V, 0);
    /* S5.3-S5.6 */
    held(RR_STARTIO, H, S | I);
    held(RR_STARTIO, F, S);
    held(RR_STARTIO, C, 0);
    held(RR_STARTIO, V, 0);
    enum rules_routine sti[] = { RR_TIMER, RR_RESET_BUS, RR_STATE_CHANGE };
    for (unsigned i = 0; i < 3; i++) {
        held(sti[i], H, S | I);
        held(sti[i], F, S);
        held(sti[i], C, S);
        held(sti[i], V, S);
    }
}

/* SPEC S4.6 table B */
static void test_S4_6_table_B(void **state)
{
    (void)state;
    for (enum ustor_sync_mode m = 0; m < USTOR_SYNC_MODE_COUNT; m++) {
        may(RR_FIND_ADAPTER, m, 0);
        may(RR_INITIALIZE, m, 0);
        may(RR_INTERRUPT, m, 0);
        may(RR_MSI_INTERRUPT, m, 0);
        may(RR_PASSIVE_INITIALIZE, m, 0);
        may(RR_BUILDIO, m, D | S | I);
        may(RR_ADAPTER_CONTROL, m, D | S | I);
        may(RR_UNIT_CONTROL, m, D | S | I);
        may(RR_TRACING_ENABLED, m, D | S | I);
        may(RR_DPC, m, D | S | I);
    }
    may(RR_STARTIO, H, 0);
    may(RR_STARTIO, F, D | I);
    may(RR_STARTIO, C, D | I | S);
    may(RR_STARTIO, V, D | I | S);
    enum rules_routine sti[] = { RR_TIMER, RR_RESET_BUS, RR_STATE_CHANGE };
    for (unsigned i = 0; i < 3; i++) {
        may(sti[i], H, 0);
        may(sti[i], F, I);
        may(sti[i], C, I);
        may(sti[i], V, I);
    }
}

/* S1.4, S5.3, S5.6, HW_ADAPTER_CONTROL */
static void test_S1_4_S5_3_routine_irqls(void **state)
{
    (void)state;
    for (enum ustor_sync_mode m = 0; m < USTOR_SYNC_MODE_COUNT; m++) {
        assert_int_equal(rules_cell(RR_FIND_ADAPTER, m)->irql, RI_PASSIVE);
        assert_int_equal(rules_cell(RR_PASSIVE_INITIALIZE, m)->irql, RI_PASSIVE);
        assert_int_equal(rules_cell(RR_DPC, m)->irql, RI_DISPATCH);
        assert_int_equal(rules_cell(RR_INTERRUPT, m)->irql, RI_DIRQL);
        assert_int_equal(rules_cell(RR_BUILDIO, m)->irql, RI_DISPATCH);
    }
    assert_int_equal(rules_cell(RR_STARTIO, H)->irql, RI_DIRQL);
    assert_int_equal(rules_cell(RR_STARTIO, F)->irql, RI_DISPATCH);
    assert_int_equal(rules_cell(RR_STARTIO, C)->irql, RI_DISPATCH);
    assert_int_equal(rules_cell(RR_STARTIO, V)->irql, RI_UPTO_DISPATCH);
    assert_int_equal(rules_cell(RR_INITIALIZE, F)->irql, RI_DIRQL);
    const struct rules_cell *stop = rules_adapter_control(ScsiStopAdapter, F);
    assert_int_equal(stop->irql, RI_DIRQL);
    assert_int_equal(stop->held, I);
    assert_int_equal(rules_adapter_control(ScsiRestartAdapter, H)->held, I);
    assert_int_equal(rules_adapter_control(ScsiQuerySupportedControlTypes, F)->irql, RI_PASSIVE);
    assert_int_equal(rules_adapter_control(ScsiQuerySupportedControlTypes, F)->held, 0);
    assert_int_equal(rules_adapter_control(ScsiAdapterPower, F)->irql, RI_UPTO_DISPATCH);
    /* values */
    assert_int_equal(rules_irql_value(RI_DIRQL, 7), 7);
    assert_true(rules_irql_ok(RI_UPTO_DISPATCH, PASSIVE_LEVEL, 7));
    assert_false(rules_irql_ok(RI_UPTO_DISPATCH, 7, 7));
    assert_false(rules_irql_ok(RI_DISPATCH, PASSIVE_LEVEL, 7));
}

/* S4.4: StartIo/DPC first, then Interrupt; never the other way. */
static void test_S4_4_lock_order(void **state)
{
    (void)state;
    assert_true(rules_order_ok(S, RL_INTERRUPT));
    assert_true(rules_order_ok(D, RL_INTERRUPT));
    assert_true(rules_order_ok(S, RL_DPC));
    assert_false(rules_order_ok(I, RL_STARTIO));
    assert_false(rules_order_ok(I, RL_DPC));
    /* "An already-held lock is never acquirable": StartIo holding StartIo
     * (full duplex) may take DPC and Interrupt, not StartIo. */
    const struct rules_cell *c = rules_cell(RR_STARTIO, C);
    assert_int_equal(rules_may_acquire(c, S), D | I);
    assert_int_equal(rules_may_acquire(c, I), 0);
    assert_int_equal(rules_may_acquire(rules_cell(RR_DPC, F), D), D | S | I);
    /* "Holding the interrupt lock, one may no longer take the DPC or StartIo lock". */
    assert_int_equal(rules_may_acquire(rules_cell(RR_DPC, F), I), 0);
}

static void test_S4_1_stor_lock_kinds(void **state)
{
    (void)state;
    enum rules_lock l;
    assert_false(rules_lock_from_stor(InvalidLock, &l));
    assert_true(rules_lock_from_stor(DpcLock, &l) && l == RL_DPC);
    assert_true(rules_lock_from_stor(StartIoLock, &l) && l == RL_STARTIO);
    assert_true(rules_lock_from_stor(InterruptLock, &l) && l == RL_INTERRUPT);
    assert_true(rules_lock_from_stor(ThreadedDpcLock, &l) && l == RL_DPC);
    assert_true(rules_lock_from_stor(DpcLevelLock, &l) && l == RL_DPC);
    assert_false(rules_lock_from_stor((STOR_SPINLOCK)99, &l));
    assert_int_equal(DpcLock, 1);
    assert_int_equal(StartIoLock, 2);
    assert_int_equal(InterruptLock, 3);
    char buf[64];
    assert_string_equal(rules_lockset_str(S | I, buf, sizeof(buf)), "StartIoLock+InterruptLock");
    assert_string_equal(rules_lockset_str(0, buf, sizeof(buf)), "none");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_S4_5_table_A),
        cmocka_unit_test(test_S4_6_table_B),
        cmocka_unit_test(test_S1_4_S5_3_routine_irqls),
        cmocka_unit_test(test_S4_4_lock_order),
        cmocka_unit_test(test_S4_1_stor_lock_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
