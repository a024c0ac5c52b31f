/*
 * test_request_steady.c - the request path in steady state (src/port/
 * request.c and what it calls): once a LUN has seen its first I/O,
 * submitting a request and completing it inside HwStorStartIo allocates
 * nothing, makes no system call on the submitting thread, and takes no
 * adapter-wide lock but the one table A names for HwStorStartIo in the
 * adapter's mode, once per request; in every synchronization mode, with
 * the verifier off, logging, and logging with the lock-order graph.
 *
 * Allocations are counted by malloc and its relatives defined in this
 * program (they forward to glibc's).  System calls are counted by a
 * seccomp filter on the measuring thread alone, which hands each call to
 * this test's main thread: it counts the call and lets it continue
 * (SECCOMP_USER_NOTIF_FLAG_CONTINUE), so nothing the port does changes.
 * Both are compiled out under ASan and TSan, whose runtimes own malloc
 * and make system calls of their own (the lock counts still run there);
 * the plain build runs everything.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ustor/builtin.h>

#include "port/rules.h"
#include "util/cpu_relax.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define STEADY_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define STEADY_SANITIZED 1
#endif
#endif
#ifndef STEADY_SANITIZED
#define STEADY_SANITIZED 0
#endif

#if !STEADY_SANITIZED && defined(__linux__)
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#define STEADY_CAN_MEASURE 1
#else
#define STEADY_CAN_MEASURE 0
#endif

#define XFER 4096
#define QD 4
#define WARMUP_IOS 64

/* ---- allocation counting ---------------------------------------------- */

#if STEADY_CAN_MEASURE
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

/* Only the measuring thread counts, and only while it measures. */
static _Thread_local bool count_allocs;
static _Thread_local unsigned long allocs;

void *malloc(size_t n)
{
    allocs += count_allocs;
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    allocs += count_allocs;
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    allocs += count_allocs;
    return __libc_realloc(p, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    allocs += count_allocs;
    return __libc_memalign(align, n);
}

void *memalign(size_t align, size_t n)
{
    allocs += count_allocs;
    return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    allocs += count_allocs;
    void *p = __libc_memalign(align, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

void free(void *p)
{
    __libc_free(p);
}
#endif

/* ---- one measured run --------------------------------------------------- */

struct run {
    ustor_adapter *ad;
    bool ex;
    int ios;
    struct tu_srb srbs[QD];
    uint8_t *buf; /* QD x XFER */
    /* set by the measuring thread */
    int listener;        /* seccomp listener fd; -1 not yet, -2 unavailable */
    int seccomp_errno;   /* why it is unavailable */
    int measuring;       /* 1 while the measured loop runs */
    unsigned long allocs;
    struct ustor_stats *before, *after; /* around the measured loop */
    int not_inline;      /* completions that did not happen inside the submit */
    int failed;          /* submissions refused or completions not SUCCESS */
    char first_failure[256];
    /* counted by the supervisor */
    unsigned long syscalls;
    long syscall_nrs[8];
    unsigned nr_syscall_nrs;
};

static void io_failed(struct run *r, int i, const char *why)
{
    if (!r->failed++)
        snprintf(r->first_failure, sizeof(r->first_failure), "I/O %d: %s", i, why);
}

/* I/O number i, on slot i % QD: READ(10) or WRITE(10) of 4 KiB at the
 * slot's own LBA. */
static void one_io(struct run *r, int i)
{
    unsigned k = (unsigned)i % QD;
    UCHAR op = i & 1 ? SCSIOP_WRITE : SCSIOP_READ;
    ULONG lba = k * (XFER / 512);
    UCHAR cdb[10] = { op, 0, (UCHAR)(lba >> 24), (UCHAR)(lba >> 16), (UCHAR)(lba >> 8), (UCHAR)lba, 0, 0,
                      XFER / 512, 0 };
    struct tu_srb *s = &r->srbs[k];
    void *srb = tu_srb_init(s, r->ex, 0, cdb, sizeof(cdb), r->buf + (size_t)k * XFER, XFER,
                            op == SCSIOP_READ ? SRB_FLAGS_DATA_IN : SRB_FLAGS_DATA_OUT);
    if (ustor_submit_srb(r->ad, srb, tu_srb_done, s) != 0) {
        io_failed(r, i, ustor_last_error());
        return;
    }
    if (__atomic_load_n(&s->done, __ATOMIC_ACQUIRE) != 1) {
        /* Completed later, by another thread: wait without a system call
         * (bounded), so the slot can be used again. */
        r->not_inline++;
        for (unsigned long spin = 0; spin < 200000000ul && __atomic_load_n(&s->done, __ATOMIC_ACQUIRE) == 0;
             spin++)
            ustor_cpu_relax();
    }
    if (__atomic_load_n(&s->done, __ATOMIC_ACQUIRE) != 1)
        io_failed(r, i, "never completed");
    else if (s->status != SRB_STATUS_SUCCESS)
        io_failed(r, i, "completed with a status other than SRB_STATUS_SUCCESS");
}

#if STEADY_CAN_MEASURE
/* Every system call of the thread that installs it goes to the listener. */
static int install_syscall_listener(void)
{
    /* SECCOMP_USER_NOTIF_FLAG_CONTINUE came with Linux 5.5: without it a
     * counted call could not be let through. */
    struct utsname u;
    unsigned major = 0, minor = 0;
    if (uname(&u) != 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2 || major < 5 ||
        (major == 5 && minor < 5)) {
        errno = ENOSYS;
        return -1;
    }
    struct sock_filter code[] = {
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
    };
    struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
}
#endif

static void *measure_thread(void *arg)
{
    struct run *r = arg;
    for (int i = 0; i < WARMUP_IOS; i++)
        one_io(r, i);
    ustor_adapter_get_stats(r->ad, r->before);
#if STEADY_CAN_MEASURE
    int fd = install_syscall_listener();
    if (fd < 0) {
        r->seccomp_errno = errno;
        __atomic_store_n(&r->listener, -2, __ATOMIC_RELEASE);
    } else {
        __atomic_store_n(&r->listener, fd, __ATOMIC_RELEASE);
    }
    /* From here on, no system call but those being measured. */
    __atomic_store_n(&r->measuring, 1, __ATOMIC_SEQ_CST);
    count_allocs = true;
    for (int i = 0; i < r->ios; i++)
        one_io(r, i);
    count_allocs = false;
    r->allocs = allocs;
    __atomic_store_n(&r->measuring, 0, __ATOMIC_SEQ_CST);
#else
    for (int i = 0; i < r->ios; i++)
        one_io(r, i);
#endif
    ustor_adapter_get_stats(r->ad, r->after);
    return NULL;
}

#if STEADY_CAN_MEASURE
/* Answers the measuring thread's system calls until it has exited. */
static void supervise(struct run *r, int fd)
{
    for (unsigned idle = 0; idle < 60;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int n = poll(&p, 1, 1000);
        if (n == 0) {
            idle++;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || ((p.revents & (POLLHUP | POLLNVAL | POLLERR)) && !(p.revents & POLLIN)))
            return;
        struct seccomp_notif req;
        memset(&req, 0, sizeof(req));
        if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0)
            continue; /* the caller went away meanwhile */
        if (__atomic_load_n(&r->measuring, __ATOMIC_SEQ_CST)) {
            r->syscalls++;
            bool seen = false;
            for (unsigned i = 0; i < r->nr_syscall_nrs; i++)
                seen |= r->syscall_nrs[i] == req.data.nr;
            if (!seen && r->nr_syscall_nrs < 8)
                r->syscall_nrs[r->nr_syscall_nrs++] = req.data.nr;
        }
        struct seccomp_notif_resp resp;
        memset(&resp, 0, sizeof(resp));
        resp.id = req.id;
        resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        (void)ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    }
    fail_msg("the measuring thread made no progress for 60 s");
}
#endif

static uint64_t lock_acquisitions(const struct ustor_stats *st, const char *name)
{
    for (unsigned i = 0; i < st->nr_locks; i++)
        if (strcmp(st->locks[i].name, name) == 0)
            return st->locks[i].acquisitions;
    return 0;
}

/* The adapter-wide locks the port took over the measured loop: exactly
 * one of each lock table A holds for HwStorStartIo in this mode per
 * request (HwStorBuildIo holds none), and none of the others. */
static void check_locks(const struct run *r, const char *what)
{
    struct ustor_adapter_info info;
    ustor_adapter_get_info(r->ad, &info);
    rules_lockset held = rules_cell(RR_STARTIO, info.mode)->held | rules_cell(RR_BUILDIO, info.mode)->held;
    static const struct {
        enum rules_lock cls;
        const char *name;
    } locks[] = { { RL_STARTIO, "StartIoLock" }, { RL_INTERRUPT, "InterruptLock" }, { RL_DPC, "DpcLock" } };
    for (size_t i = 0; i < sizeof(locks) / sizeof(locks[0]); i++) {
        uint64_t n = lock_acquisitions(r->after, locks[i].name) - lock_acquisitions(r->before, locks[i].name);
        uint64_t want = held & RL_BIT(locks[i].cls) ? (uint64_t)r->ios : 0;
        if (n != want)
            fail_msg("%s (%s): %s taken %llu times in %d steady-state I/Os; table A says %llu", what,
                     ustor_sync_mode_name(info.mode), locks[i].name, (unsigned long long)n, r->ios,
                     (unsigned long long)want);
    }
}

struct config {
    const char *miniport;
    const char *args;
    enum ustor_verifier_mode verifier;
    bool lock_graph;
};

static void run_config(const struct config *c)
{
    const struct ustor_builtin_miniport *mp = ustor_builtin_find(c->miniport);
    assert_non_null(mp);
    struct tu_reports rep;
    memset(&rep, 0, sizeof(rep));
    struct ustor_adapter_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.argument_string = c->args;
    cfg.verifier = c->verifier;
    cfg.lock_graph = c->lock_graph;
    cfg.report_sink = tu_reports_sink;
    cfg.report_ctx = &rep;
    cfg.nr_cpus = 2;
    ustor_driver *drv = NULL;
    ustor_adapter *ad = tu_adapter_with(mp->entry, &cfg, &drv);
    if (!ad)
        fail_msg("%s %s: no adapter (reason above)", c->miniport, c->args);

    struct run *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->ad = ad;
    r->ex = ustor_adapter_uses_srbex(ad);
    r->ios = (int)tu_iterations(2000);
    r->listener = -1;
    r->buf = aligned_alloc(4096, (size_t)QD * XFER);
    r->before = calloc(1, sizeof(*r->before));
    r->after = calloc(1, sizeof(*r->after));
    assert_non_null(r->buf);
    assert_non_null(r->before);
    assert_non_null(r->after);
    memset(r->buf, 0x5a, (size_t)QD * XFER);

    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, measure_thread, r), 0);
#if STEADY_CAN_MEASURE
    int fd;
    for (unsigned i = 0; (fd = __atomic_load_n(&r->listener, __ATOMIC_ACQUIRE)) == -1; i++) {
        if (i > 100000)
            fail_msg("the measuring thread never got to install its filter");
        struct timespec ts = { 0, 100000 };
        nanosleep(&ts, NULL);
    }
    if (fd >= 0) {
        supervise(r, fd);
        close(fd);
    }
#endif
    pthread_join(t, NULL);

    const char *vname = c->verifier == USTOR_VERIFIER_OFF ? "verifier off"
                        : c->lock_graph                    ? "verifier log + lock graph"
                                                           : "verifier log";
    char what[256];
    snprintf(what, sizeof(what), "%s \"%s\", %s", c->miniport, c->args, vname);
    if (r->failed)
        fail_msg("%s: %d of %d I/Os failed; first: %s", what, r->failed, r->ios + WARMUP_IOS, r->first_failure);
    if (r->not_inline)
        fail_msg("%s: %d of %d requests did not complete inside ustor_submit_srb, though the miniport "
                 "completes in HwStorStartIo", what, r->not_inline, r->ios);
    if (r->allocs)
        fail_msg("%s: %lu allocations in %d steady-state I/Os (expected none: the request path takes "
                 "everything from pools made at adapter creation)", what, r->allocs, r->ios);
#if STEADY_CAN_MEASURE
    if (__atomic_load_n(&r->listener, __ATOMIC_ACQUIRE) == -2) {
        print_message("%s: seccomp user notification unavailable (%s); system calls not counted\n", what,
                      strerror(r->seccomp_errno));
    } else if (r->syscalls) {
        char nrs[128] = "";
        for (unsigned i = 0; i < r->nr_syscall_nrs; i++)
            snprintf(nrs + strlen(nrs), sizeof(nrs) - strlen(nrs), "%s%ld", i ? ", " : "", r->syscall_nrs[i]);
        fail_msg("%s: %lu system calls in %d steady-state I/Os (syscall numbers %s); expected none on "
                 "the submitting thread", what, r->syscalls, r->ios, nrs);
    }
#endif
    check_locks(r, what);
    uint64_t v = ustor_adapter_violations(ad);
    if (v)
        fail_msg("%s: %llu verifier reports:\n%s", what, (unsigned long long)v, rep.text ? rep.text : "");
    free(r->before);
    free(r->after);
    free(r->buf);
    free(r);
    tu_adapter_free(ad, drv);
    tu_reports_clear(&rep);
}

static void run_all_verifier_modes(const char *miniport, const char *args)
{
    if (!STEADY_CAN_MEASURE)
        print_message("sanitizer build: allocations and system calls not counted, locks are\n");
    const struct config cs[] = {
        { miniport, args, USTOR_VERIFIER_OFF, false },
        { miniport, args, USTOR_VERIFIER_LOG, false },
        { miniport, args, USTOR_VERIFIER_LOG, true },
    };
    for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++)
        run_config(&cs[i]);
}

#define STEADY_TEST(name, miniport, args)       \
    static void name(void **state)              \
    {                                           \
        (void)state;                            \
        run_all_verifier_modes(miniport, args); \
    }

STEADY_TEST(test_virtual_allocates_nothing_and_makes_no_syscall, "ramdisk", "size=1M;complete=inline")
STEADY_TEST(test_half_duplex_allocates_nothing_and_makes_no_syscall, "ramdisk-phys",
            "size=1M;complete=inline;sync=half")
STEADY_TEST(test_full_duplex_allocates_nothing_and_makes_no_syscall, "ramdisk-phys",
            "size=1M;complete=inline;sync=full")
STEADY_TEST(test_concurrent_channels_allocate_nothing_and_make_no_syscall, "ramdisk-phys",
            "size=1M;complete=inline;sync=concurrent")
STEADY_TEST(test_scsi_request_blocks_allocate_nothing_and_make_no_syscall, "ramdisk",
            "size=1M;complete=inline;srb=scsi")

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_virtual_allocates_nothing_and_makes_no_syscall),
        cmocka_unit_test(test_half_duplex_allocates_nothing_and_makes_no_syscall),
        cmocka_unit_test(test_full_duplex_allocates_nothing_and_makes_no_syscall),
        cmocka_unit_test(test_concurrent_channels_allocate_nothing_and_make_no_syscall),
        cmocka_unit_test(test_scsi_request_blocks_allocate_nothing_and_make_no_syscall),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
