/*
 * harness.h - running the broken-miniport corpus (corpus/corpus.c) in one
 * synchronization mode and judging what the verifier said.
 */
#ifndef USTOR_TEST_VERIFIER_HARNESS_H
#define USTOR_TEST_VERIFIER_HARNESS_H

#include "testutil.h"

#include "corpus/corpus.h"

#define VH_HALF (1u << USTOR_SYNC_HALF_DUPLEX)
#define VH_FULL (1u << USTOR_SYNC_FULL_DUPLEX)
#define VH_CONC (1u << USTOR_SYNC_CONCURRENT)
#define VH_VIRT (1u << USTOR_SYNC_VIRTUAL)
#define VH_PHYS (VH_HALF | VH_FULL | VH_CONC)
#define VH_ALL (VH_PHYS | VH_VIRT)

/* How the test makes the port call the routine that has the bug. */
enum vh_drive {
    VH_CREATE,       /* adapter creation is enough (FindAdapter, Initialize, PassiveInit) */
    VH_CREATE_FAILS, /* adapter creation must fail */
    VH_SRB,          /* one TEST UNIT READY (BuildIo, StartIo) */
    VH_SRB_DATA,     /* one READ(10) of 4 KiB */
    VH_SRB_DPC,      /* one SRB, then wait for the miniport's DPC */
    VH_STATE_CHANGE, /* one SRB, the DPC reports a state change, wait for its callback */
    VH_INTERRUPT,    /* raise the line interrupt */
    VH_TIMER,        /* wait for HwStorTimer */
    VH_RESET_BUS,    /* ustor_adapter_reset_bus */
    VH_RESTART,      /* ustor_adapter_stop_restart */
    VH_TIMEOUT,      /* one SRB with TimeOutValue 1 the miniport never completes */
    VH_NEVER,        /* one SRB the miniport never completes, then destroy */
};

struct vh_result {
    int create_rc;
    char create_err[512];
    struct tu_srb srb;
    UCHAR buf[4096];
    uint64_t violations, warnings; /* before destroy */
};

/* Runs the corpus with "bug=<bug>" plus extra args in mode, drives it,
 * destroys the adapter; reports end up in rep. */
void vh_run(enum ustor_sync_mode mode, const char *args, enum vh_drive drive, enum rules_routine wait_for,
            struct tu_reports *rep, struct vh_result *res);

/* Same, with an explicit verifier configuration; the adapter is left
 * running (NULL if creation failed) for the caller to use and destroy. */
ustor_adapter *vh_adapter(enum ustor_sync_mode mode, const char *args, enum ustor_verifier_mode vm,
                          bool warnings_are_errors, struct tu_reports *rep, ustor_driver **drv,
                          char *err, size_t errlen);

/* Submits one SRB on LUN 0 and waits for it (true when it completed). */
bool vh_submit(ustor_adapter *ad, struct vh_result *res, bool data, ULONG timeout_s, unsigned wait_ms);

/* Waits (bounded) until the miniport routine r has been called n times. */
bool vh_wait_calls(enum rules_routine r, int n, unsigned ms);

/* Fails the test unless rule was reported at least once in routine
 * ("-" for none, NULL for any) and every other summary line is one of
 * also_allowed (NULL-terminated list, may be NULL) or, in half duplex,
 * the SpDuplex warning.  Prints every summary line on failure. */
void vh_assert_only(const struct tu_reports *rep, const char *rule, const char *routine,
                    enum ustor_sync_mode mode, const char *const *also_allowed);

/* Number of summary lines of the given severity ("ERROR", "WARNING"). */
unsigned vh_count_severity(const struct tu_reports *rep, const char *severity);

const char *vh_mode_tag(enum ustor_sync_mode mode);

/* The SrbNeverCompleted case in one mode (takes USTOR_SHUTDOWN_GRACE_MS). */
void vh_never_completed(enum ustor_sync_mode mode, struct tu_reports *rep);

#endif
