/*
 * test_corpus_table_b.c - SPEC S4.6 table B, cell by cell: for every
 * routine the corpus miniport can make the port call, in every mode, the
 * miniport takes each lock kind once.  What must happen is worked out from
 * the rule table itself (rules_may_acquire, rules_order_ok, the locks' IRQL
 * limits), never written down here:
 *   - half-duplex HwStorStartIo may take nothing     -> HalfDuplexStartIo, refused
 *   - the lock is held already (by the port)         -> StorPortSpinLock, refused
 *   - the routine runs above the lock's caller IRQL  -> LockInvalidIrql, STOR_STATUS_INVALID_IRQL
 *   - the S4.4 order forbids it                      -> StorPortSpinLock3, refused
 *   - table B does not list it                       -> StorPortSpinLock3, taken
 *   - otherwise it is legal                          -> no report at all, taken
 * Tests are named <Rule or Legal>_<routine>_<lock>_<mode>.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/ukern.h"

struct cellrun {
    enum ustor_sync_mode mode;
    enum rules_routine routine;
    enum rules_lock lock;
    const char *rule;   /* NULL: legal */
    ULONG status;       /* what StorPortAcquireSpinLockEx must return */
    char name[160];
};

static struct tu_reports rep;

static const enum rules_routine drivable[] = {
    RR_FIND_ADAPTER, RR_INITIALIZE, RR_INTERRUPT, RR_STARTIO, RR_BUILDIO, RR_TIMER, RR_RESET_BUS,
    RR_ADAPTER_CONTROL, RR_DPC, RR_PASSIVE_INITIALIZE, RR_STATE_CHANGE,
};

static const STOR_SPINLOCK stor_lock_of[RL_COUNT] = {
    [RL_DPC] = DpcLock, [RL_STARTIO] = StartIoLock, [RL_INTERRUPT] = InterruptLock,
};

static const struct rules_cell *cell_of(enum rules_routine r, enum ustor_sync_mode mode)
{
    /* the corpus takes its lock in HwStorAdapterControl(ScsiStopAdapter) */
    return r == RR_ADAPTER_CONTROL ? rules_adapter_control(ScsiStopAdapter, mode) : rules_cell(r, mode);
}

static void expect(struct cellrun *c)
{
    const struct rules_cell *cell = cell_of(c->routine, c->mode);
    KIRQL irql = rules_irql_value(cell->irql, UKERN_DIRQL_BASE);
    KIRQL max = rules_irql_value(rules_locks[c->lock].max_caller, UKERN_DIRQL_BASE);
    rules_lockset bit = RL_BIT(c->lock);
    if (c->routine == RR_STARTIO && c->mode == USTOR_SYNC_HALF_DUPLEX) {
        c->rule = "HalfDuplexStartIo";
        c->status = irql > max ? STOR_STATUS_INVALID_IRQL : STOR_STATUS_INVALID_DEVICE_STATE;
    } else if ((cell->held & bit) && !(rules_may_acquire(cell, cell->held) & bit)) {
        c->rule = "StorPortSpinLock";
        c->status = STOR_STATUS_INVALID_DEVICE_STATE;
    } else if (irql > max) {
        c->rule = "LockInvalidIrql";
        c->status = STOR_STATUS_INVALID_IRQL;
    } else if (!rules_order_ok(cell->held, c->lock)) {
        c->rule = "StorPortSpinLock3";
        c->status = STOR_STATUS_INVALID_DEVICE_STATE;
    } else if (!(rules_may_acquire(cell, cell->held) & bit)) {
        c->rule = "StorPortSpinLock3";
        c->status = STOR_STATUS_SUCCESS;
    } else {
        c->rule = NULL;
        c->status = STOR_STATUS_SUCCESS;
    }
}

static enum vh_drive drive_of(enum rules_routine r)
{
    switch (r) {
    case RR_INTERRUPT: return VH_INTERRUPT;
    case RR_STARTIO:
    case RR_BUILDIO: return VH_SRB;
    case RR_TIMER: return VH_TIMER;
    case RR_RESET_BUS: return VH_RESET_BUS;
    case RR_ADAPTER_CONTROL: return VH_RESTART;
    case RR_DPC: return VH_SRB_DPC;
    case RR_STATE_CHANGE: return VH_STATE_CHANGE;
    default: return VH_CREATE;
    }
}

static void run_cell(void **state)
{
    const struct cellrun *c = *state;
    char args[160];
    snprintf(args, sizeof(args), "bug=none;lockin=%s;lock=%d", rules_routines[c->routine].name,
             (int)stor_lock_of[c->lock]);
    struct vh_result *res = calloc(1, sizeof(*res));
    assert_non_null(res);
    vh_run(c->mode, args, drive_of(c->routine), c->routine, &rep, res);
    assert_int_equal(corpus_state.lock_done, 2);
    if (c->rule) {
        vh_assert_only(&rep, c->rule, rules_routines[c->routine].name, c->mode, NULL);
    } else {
        unsigned spduplex = tu_reports_count(&rep, "SpDuplex", NULL);
        if (rep.count != spduplex)
            fail_msg("%s: a legal acquisition was reported:\n%s", c->name, rep.text);
    }
    assert_int_equal(corpus_state.lock_status, c->status);
    free(res);
}

int main(void)
{
    tu_seed();
    size_t max = USTOR_SYNC_MODE_COUNT * (sizeof(drivable) / sizeof(drivable[0])) * RL_COUNT;
    struct cellrun *runs = calloc(max, sizeof(*runs));
    struct CMUnitTest *tests = calloc(max, sizeof(*tests));
    size_t n = 0;
    for (unsigned m = 0; m < USTOR_SYNC_MODE_COUNT; m++)
        for (size_t i = 0; i < sizeof(drivable) / sizeof(drivable[0]); i++) {
            enum rules_routine r = drivable[i];
            /* a virtual adapter has no interrupt; its miniport does not
             * ask for passive initialization */
            if (m == USTOR_SYNC_VIRTUAL && (r == RR_INTERRUPT || r == RR_PASSIVE_INITIALIZE))
                continue;
            for (unsigned l = 0; l < RL_COUNT; l++) {
                struct cellrun *c = &runs[n];
                c->mode = (enum ustor_sync_mode)m;
                c->routine = r;
                c->lock = (enum rules_lock)l;
                expect(c);
                snprintf(c->name, sizeof(c->name), "%s_%s_%s_%s", c->rule ? c->rule : "Legal",
                         rules_routines[r].name, rules_locks[l].name, vh_mode_tag(c->mode));
                tests[n] = (struct CMUnitTest){ c->name, run_cell, NULL, NULL, c };
                n++;
            }
        }
    int rc = _cmocka_run_group_tests("verifier_table_b", tests, n, NULL, NULL);
    tu_reports_clear(&rep);
    free(tests);
    free(runs);
    return rc;
}
