/*
 * testutil.h - helpers shared by the tests: a seed printed on failure,
 * a small PRNG, and adapter set-up with a verifier sink that counts.
 */
#ifndef USTOR_TESTUTIL_H
#define USTOR_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ustor/ustor.h>

/* Seed from USTOR_SEED or the clock; printed at exit if a test failed
 * (and always on stderr at start, so a failing run can be replayed). */
uint64_t tu_seed(void);
uint64_t tu_rand(uint64_t *state);

/* A verifier sink that keeps the text of every report. */
struct tu_reports {
    char *text;
    size_t len, cap;
    unsigned count;
};
void tu_reports_sink(void *ctx, const char *text);
void tu_reports_clear(struct tu_reports *r);
/* Number of reports whose summary names rule (and routine, if not NULL). */
unsigned tu_reports_count(const struct tu_reports *r, const char *rule, const char *routine);

/* Iterations of a concurrency loop: USTOR_ITERATIONS, or def scaled by
 * USTOR_ITER_SCALE (sanitizer builds run fewer). */
unsigned tu_iterations(unsigned def);

#endif

/* ---- SRBs for tests ---------------------------------------------------- */
#include <storport.h>
#include <srbhelper.h>

struct tu_srb {
    union {
        SCSI_REQUEST_BLOCK scsi;
        STORAGE_REQUEST_BLOCK ex;
        unsigned char raw[512];
    } u;
    UCHAR sense[32];
    volatile int done;        /* completions seen */
    volatile UCHAR status;    /* status passed to the callback */
};

/* Builds either kind of SRB for LUN 0/0/lun with the given CDB. */
void *tu_srb_init(struct tu_srb *s, bool ex, UCHAR lun, const UCHAR *cdb, UCHAR cdb_len,
                  void *buf, ULONG len, ULONG flags);
/* Callback for ustor_submit_srb: ctx is the tu_srb. */
void tu_srb_done(void *ctx, void *srb, uint8_t status);
/* Waits (bounded, ms) until s->done >= n; returns false on timeout. */
bool tu_wait_done(struct tu_srb *s, int n, unsigned ms);
/* Creates an adapter over a linked-in DriverEntry with reports into rep
 * (verifier logging, statistics on). */
ustor_adapter *tu_adapter(ustor_driver_entry_fn entry, const char *args, struct tu_reports *rep,
                          ustor_driver **drv_out);
/* The same with the caller's configuration; NULL (reason on stderr) on
 * failure. */
ustor_adapter *tu_adapter_with(ustor_driver_entry_fn entry, const struct ustor_adapter_config *cfg,
                               ustor_driver **drv_out);
void tu_adapter_free(ustor_adapter *ad, ustor_driver *drv);
