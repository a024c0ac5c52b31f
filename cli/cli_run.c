/* cli_run.c - see cli_run.h. */
#include "cli_run.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "cli_backend.h"
#include "cli_report.h"
#include "cli_verify.h"

uint64_t cli_default_hang_timeout_ms(unsigned timeout_s)
{
    uint64_t twice = 2ull * timeout_s * 1000;
    return twice > 10000 ? twice : 10000;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ---- shared run state ---- */

struct run;

struct slot {
    struct job *job;
    unsigned index;
    uint8_t *buf;
    enum cli_dir dir;
    unsigned lun;
    uint64_t block, lba;
    uint32_t gen;
    uint64_t t_submit, t_done;
    int error;
    uint8_t srb_status, scsi_status, sense_key, asc, ascq;
};

struct job {
    struct run *run;
    unsigned id;
    pthread_t thread;
    uint64_t rng;
    unsigned next_lun;
    uint64_t *cursor;          /* per LUN, sequential workloads */
    struct slot *slots;
    unsigned *free_slots, nfree;
    unsigned inflight;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned *done, ndone;     /* completed slots, filled by callbacks */
    /* results, touched by this thread only */
    struct cli_dir_result dir[CLI_DIR_COUNT];
    uint64_t verified, unverified, mismatches;
    char first_mismatch[256];
    char first_error[256];
    atomic_bool finished;
};

struct run {
    const struct cli_options *o;
    struct cli_adapter a;
    struct cli_verify_table *vt; /* per LUN */
    uint64_t region_blocks;      /* per LUN, in bs units */
    uint64_t first_block;        /* offset / bs */
    uint32_t lba_per_block;      /* bs / LUN block size */
    struct job *jobs;
    atomic_bool stop;
    atomic_uint_fast64_t tickets;   /* I/Os handed out (number_ios) */
    atomic_uint_fast64_t completed;
    atomic_int_fast64_t outstanding; /* submitted to the block layer, not completed */
    atomic_uint_fast64_t errors;
};

/* For the crash handler: what it may report. */
static ustor_adapter *volatile crash_adapter;

/* Ctrl-C ends the run early with a full report; a second one kills. */
static volatile sig_atomic_t interrupted;

static void interrupt_handler(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* ---- completion: any thread; hand the slot to its job ---- */

static void io_done(void *ctx, const struct ustor_blk_result *r)
{
    struct slot *s = ctx;
    struct job *j = s->job;
    s->t_done = now_ns();
    s->error = r->error;
    s->srb_status = r->srb_status;
    s->scsi_status = r->scsi_status;
    s->sense_key = r->sense_key;
    s->asc = r->asc;
    s->ascq = r->ascq;
    atomic_fetch_add(&j->run->completed, 1);
    atomic_fetch_sub(&j->run->outstanding, 1);
    pthread_mutex_lock(&j->lock);
    j->done[j->ndone++] = s->index;
    pthread_cond_signal(&j->cond);
    pthread_mutex_unlock(&j->lock);
}

/* ---- the job thread ---- */

static bool pick_block(struct job *j, unsigned lun, uint64_t *block)
{
    struct run *run = j->run;
    struct cli_verify_table *vt = &run->vt[lun];
    bool random = run->o->rw == CLI_RW_RANDREAD || run->o->rw == CLI_RW_RANDWRITE ||
                  run->o->rw == CLI_RW_RANDRW;
    for (int attempt = 0; attempt < 8; attempt++) {
        uint64_t b;
        if (random) {
            b = rng_next(&j->rng) % run->region_blocks;
        } else {
            b = j->cursor[lun];
            j->cursor[lun] = (b + 1) % run->region_blocks;
        }
        if (cli_verify_claim(vt, b)) {
            *block = b;
            return true;
        }
    }
    return false;
}

static enum cli_dir pick_dir(struct job *j)
{
    switch (j->run->o->rw) {
    case CLI_RW_READ:
    case CLI_RW_RANDREAD:
        return CLI_DIR_READ;
    case CLI_RW_WRITE:
    case CLI_RW_RANDWRITE:
        return CLI_DIR_WRITE;
    default:
        return rng_next(&j->rng) % 100 < j->run->o->rwmixread ? CLI_DIR_READ : CLI_DIR_WRITE;
    }
}

static void note_error(struct job *j, const struct slot *s)
{
    j->dir[s->dir].errors++;
    atomic_fetch_add(&j->run->errors, 1);
    if (j->first_error[0])
        return;
    snprintf(j->first_error, sizeof(j->first_error),
             "lun %u lba %" PRIu64 " %s: %s (%s, %s, %s %02x/%02x)", s->lun, s->lba,
             s->dir == CLI_DIR_READ ? "read" : "write", strerror(-s->error),
             ustor_srb_status_name(s->srb_status), ustor_scsi_status_name(s->scsi_status),
             ustor_scsi_sense_key_name(s->sense_key), s->asc, s->ascq);
}

/* Returns 0, -EBUSY (try again after a completion), or another error. */
static int submit_one(struct job *j)
{
    struct run *run = j->run;
    unsigned lun = j->next_lun;
    uint64_t block;
    if (!pick_block(j, lun, &block))
        return -EAGAIN;
    j->next_lun = (j->next_lun + 1) % run->a.nluns;
    struct slot *s = &j->slots[j->free_slots[--j->nfree]];
    s->dir = pick_dir(j);
    s->lun = lun;
    s->block = block;
    s->lba = (run->first_block + block) * run->lba_per_block;
    if (s->dir == CLI_DIR_WRITE)
        s->gen = cli_verify_fill(&run->vt[lun], block, s->lba, s->buf);
    s->t_submit = now_ns();
    atomic_fetch_add(&run->outstanding, 1);
    int rc;
    if (s->dir == CLI_DIR_READ)
        rc = ustor_blk_read(run->a.lun[lun], s->lba, run->lba_per_block, s->buf, 0, io_done, s);
    else
        rc = ustor_blk_write(run->a.lun[lun], s->lba, run->lba_per_block, s->buf, 0, io_done, s);
    if (rc < 0) {
        atomic_fetch_sub(&run->outstanding, 1);
        cli_verify_release(&run->vt[lun], block);
        j->free_slots[j->nfree++] = s->index;
        if (rc != -EBUSY) {
            s->error = rc;
            s->srb_status = s->scsi_status = s->sense_key = s->asc = s->ascq = 0;
            note_error(j, s);
        }
        return rc;
    }
    j->inflight++;
    return 0;
}

static void complete_one(struct job *j, struct slot *s)
{
    struct run *run = j->run;
    struct cli_dir_result *d = &j->dir[s->dir];
    d->ios++;
    cli_hist_record(&d->lat, s->t_done - s->t_submit);
    if (s->error) {
        note_error(j, s);
        if (s->dir == CLI_DIR_WRITE)
            cli_verify_commit(&run->vt[s->lun], s->block, s->gen, false);
    } else {
        d->bytes += run->o->bs;
        if (s->dir == CLI_DIR_WRITE) {
            cli_verify_commit(&run->vt[s->lun], s->block, s->gen, true);
        } else {
            struct cli_mismatch mm;
            int v = cli_verify_check(&run->vt[s->lun], s->block, s->lba, s->buf, &mm);
            if (v == 0) {
                j->verified++;
            } else if (v > 0) {
                j->unverified++;
            } else {
                j->verified++;
                j->mismatches++;
                atomic_fetch_add(&run->errors, 1);
                if (!j->first_mismatch[0])
                    snprintf(j->first_mismatch, sizeof(j->first_mismatch), "%s", mm.what);
            }
        }
    }
    cli_verify_release(&run->vt[s->lun], s->block);
    j->free_slots[j->nfree++] = s->index;
    j->inflight--;
}

static bool want_more(struct job *j)
{
    struct run *run = j->run;
    if (atomic_load(&run->stop))
        return false;
    if (run->o->number_ios) {
        uint64_t t = atomic_fetch_add(&run->tickets, 1);
        if (t >= run->o->number_ios)
            return false;
    }
    return true;
}

static void *job_main(void *arg)
{
    struct job *j = arg;
    struct run *run = j->run;
    bool out_of_ios = false;
    unsigned scratch[4096];
    for (;;) {
        bool wait_completion = false;
        while (!out_of_ios && j->inflight < run->o->iodepth) {
            if (!want_more(j)) {
                out_of_ios = true;
                break;
            }
            int rc = submit_one(j);
            if (rc == 0)
                continue;
            /* the ticket was not used */
            if (run->o->number_ios)
                atomic_fetch_sub(&run->tickets, 1);
            if (rc == -EAGAIN || rc == -EBUSY) {
                wait_completion = true;
                break;
            }
            atomic_store(&run->stop, true); /* adapter refuses I/O: stop */
            out_of_ios = true;
            break;
        }
        if (j->inflight == 0) {
            if (out_of_ios)
                break;
            if (wait_completion) {
                /* every block we tried was busy in other jobs */
                struct timespec ts = { 0, 50000 };
                nanosleep(&ts, NULL);
            }
            continue;
        }
        pthread_mutex_lock(&j->lock);
        while (j->ndone == 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&j->cond, &j->lock, &ts);
            if (j->ndone == 0 && atomic_load(&run->stop) && !out_of_ios)
                break; /* go round: stop seen, keep draining */
        }
        unsigned n = j->ndone;
        memcpy(scratch, j->done, n * sizeof(unsigned));
        j->ndone = 0;
        pthread_mutex_unlock(&j->lock);
        for (unsigned i = 0; i < n; i++)
            complete_one(j, &j->slots[scratch[i]]);
    }
    atomic_store(&j->finished, true);
    return NULL;
}

/* ---- crash handler ---- */

/* The function of an ELF file's .symtab that contains file offset-relative
 * address off (shared objects and PIE executables are linked at 0).  Uses
 * only open/mmap/munmap/close, which a signal handler may call. */
static bool elf_symbol_at(const char *path, uint64_t off, char *name, size_t len, uint64_t *sym_off)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    bool found = false;
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(ElfW(Ehdr))) {
        close(fd);
        return false;
    }
    size_t size = (size_t)st.st_size;
    const uint8_t *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return false;
    const ElfW(Ehdr) *eh = (const void *)map;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_shoff == 0 ||
        eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(ElfW(Shdr)) > size)
        goto out;
    const ElfW(Shdr) *sh = (const void *)(map + eh->e_shoff);
    for (unsigned i = 0; i < eh->e_shnum && !found; i++) {
        if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum)
            continue;
        const ElfW(Shdr) *strsh = &sh[sh[i].sh_link];
        if (sh[i].sh_offset + sh[i].sh_size > size || strsh->sh_offset + strsh->sh_size > size)
            continue;
        const ElfW(Sym) *syms = (const void *)(map + sh[i].sh_offset);
        size_t n = sh[i].sh_size / sizeof(ElfW(Sym));
        for (size_t k = 0; k < n; k++) {
            if (ELF64_ST_TYPE(syms[k].st_info) != STT_FUNC || syms[k].st_size == 0)
                continue;
            if (off < syms[k].st_value || off - syms[k].st_value >= syms[k].st_size)
                continue;
            if (syms[k].st_name >= strsh->sh_size)
                break;
            const char *s = (const char *)map + strsh->sh_offset + syms[k].st_name;
            snprintf(name, len, "%.*s", (int)strnlen(s, strsh->sh_size - syms[k].st_name), s);
            *sym_off = off - syms[k].st_value;
            found = true;
            break;
        }
    }
out:
    munmap((void *)map, size);
    return found;
}

/* Thread reporting the crash: miniport code runs on several CPUs at once,
 * so more threads may fault together; only the first reports. */
static atomic_long crash_owner;

static void crash_handler(int sig, siginfo_t *si, void *uctx)
{
    (void)si;
    long self = (long)syscall(SYS_gettid), none = 0;
    if (!atomic_compare_exchange_strong(&crash_owner, &none, self)) {
        if (none == self) /* faulted while reporting */
            syscall(SYS_exit_group, CLI_EXIT_CRASH);
        for (;;) /* the owner is about to end the process */
            pause();
    }
    void *pc = NULL;
#if defined(__x86_64__)
    pc = (void *)((ucontext_t *)uctx)->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    pc = (void *)((ucontext_t *)uctx)->uc_mcontext.pc;
#else
    (void)uctx;
#endif
    char where[512] = "unknown code";
    Dl_info di;
    const ElfW(Sym) *dsym = NULL;
    if (pc && dladdr1(pc, &di, (void **)&dsym, RTLD_DL_SYMENT)) {
        const char *file = di.dli_fname ? di.dli_fname : "?";
        uintptr_t off = (uintptr_t)pc - (uintptr_t)di.dli_fbase;
        char name[128];
        uint64_t sym_off;
        /* dladdr only knows exported symbols and picks the nearest one
         * below pc even when pc is far past its end; miniport routines are
         * usually static, so look in the file's own symbol table too */
        if (di.dli_sname && dsym && (uintptr_t)pc - (uintptr_t)di.dli_saddr < dsym->st_size)
            snprintf(where, sizeof(where), "%s+0x%lx (%s)", di.dli_sname,
                     (unsigned long)((uintptr_t)pc - (uintptr_t)di.dli_saddr), file);
        else if (elf_symbol_at(file, off, name, sizeof(name), &sym_off))
            snprintf(where, sizeof(where), "%s+0x%lx (%s)", name, (unsigned long)sym_off, file);
        else
            snprintf(where, sizeof(where), "%s+0x%lx", file, (unsigned long)off);
    }
    char msg[512];
    int n;
    ustor_adapter *ad = crash_adapter;
    if (ad)
        n = snprintf(msg, sizeof(msg),
                     "\nminiport crashed: signal %d (SIG%s) in %s; verifier so far: %" PRIu64
                     " errors, %" PRIu64 " warnings\n",
                     sig, sigabbrev_np(sig) ? sigabbrev_np(sig) : "?", where,
                     ustor_adapter_violations(ad), ustor_adapter_warnings(ad));
    else
        n = snprintf(msg, sizeof(msg), "\nminiport crashed: signal %d (SIG%s) in %s\n", sig,
                     sigabbrev_np(sig) ? sigabbrev_np(sig) : "?", where);
    if (n > 0) {
        ssize_t w = write(STDERR_FILENO, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
        (void)w;
    }
    /* straight to the kernel: sanitizer runtimes intercept _exit and may
     * fault again in a crashed process */
    syscall(SYS_exit_group, CLI_EXIT_CRASH);
    _exit(CLI_EXIT_CRASH);
}

void cli_install_crash_handler(void)
{
    static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = crash_handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER; /* a fault while reporting re-enters */
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
}

/* ---- teardown with a time limit ---- */

static void *close_thread(void *arg)
{
    cli_backend_close(arg);
    return NULL;
}

/* Tears down; if that does not finish in time, leaves the process. */
static void bounded_close(struct cli_adapter *a, uint64_t limit_ms, int status_if_stuck)
{
    pthread_t t;
    if (pthread_create(&t, NULL, close_thread, a) != 0) {
        cli_backend_close(a);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(limit_ms / 1000);
    ts.tv_nsec += (long)(limit_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    if (pthread_timedjoin_np(t, NULL, &ts) != 0) {
        fprintf(stderr, "ustor: adapter teardown did not finish in %" PRIu64 " ms; leaving\n", limit_ms);
        fflush(stdout);
        fflush(stderr);
        _exit(status_if_stuck);
    }
}

/* ---- verifier reports ---- */

/* Rule names and first reports copied out of the adapter, which frees its
 * own when destroyed; reports made during teardown (leaks, requests the
 * port had to time out) are counted here since the adapter is gone by the
 * time they can be read back. */
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cli_result *sink_result; /* set while tearing down */
static char rule_names[CLI_MAX_VIOLATION_RULES][64];
static char rule_firsts[CLI_MAX_VIOLATION_RULES][1024];

static void add_rule(struct cli_result *r, const char *name, size_t name_len, bool warning,
                     uint64_t count, const char *first, size_t first_len)
{
    for (unsigned i = 0; i < r->nr_rules; i++) {
        if (strlen(r->rules[i].rule) == name_len && strncmp(r->rules[i].rule, name, name_len) == 0) {
            r->rules[i].count += count;
            return;
        }
    }
    if (r->nr_rules == CLI_MAX_VIOLATION_RULES)
        return;
    unsigned i = r->nr_rules++;
    snprintf(rule_names[i], sizeof(rule_names[i]), "%.*s", (int)name_len, name);
    snprintf(rule_firsts[i], sizeof(rule_firsts[i]), "%.*s", (int)first_len, first ? first : "");
    r->rules[i].rule = rule_names[i];
    r->rules[i].first_report = first ? rule_firsts[i] : NULL;
    r->rules[i].warning = warning;
    r->rules[i].count = count;
}

static void report_sink(void *ctx, const char *text)
{
    (void)ctx;
    fputs(text, stderr);
    pthread_mutex_lock(&sink_lock);
    struct cli_result *r = sink_result;
    const char *p = r ? strstr(text, "ustor-verifier: ") : NULL;
    if (p) {
        p += strlen("ustor-verifier: ");
        bool warning = strncmp(p, "WARNING ", 8) == 0;
        if (warning || strncmp(p, "ERROR ", 6) == 0) {
            const char *name = p + (warning ? 8 : 6);
            size_t name_len = strcspn(name, " \n");
            size_t line_len = strcspn(text, "\n");
            if (warning)
                r->violation_warnings++;
            else
                r->violation_errors++;
            add_rule(r, name, name_len, warning, 1, text, line_len);
        }
    }
    pthread_mutex_unlock(&sink_lock);
}

/* ---- results ---- */

static void collect_adapter(struct run *run, struct cli_result *r)
{
    struct cli_adapter *a = &run->a;
    snprintf(r->miniport, sizeof(r->miniport), "%s", a->miniport);
    snprintf(r->miniport_source, sizeof(r->miniport_source), "%s", a->source);
    snprintf(r->device, sizeof(r->device), "%s", a->device);
    if (a->ad) {
        ustor_adapter_get_info(a->ad, &r->info);
        r->have_info = true;
        ustor_adapter_get_stats(a->ad, &r->stats);
        r->have_stats = true;
        r->have_device_stats = cli_backend_device_stats(a, &r->device_stats);
        r->violation_errors = ustor_adapter_violations(a->ad);
        r->violation_warnings = ustor_adapter_warnings(a->ad);
        static struct ustor_violation_count counts[CLI_MAX_VIOLATION_RULES];
        unsigned n = ustor_adapter_violation_counts(a->ad, counts, CLI_MAX_VIOLATION_RULES);
        if (n > CLI_MAX_VIOLATION_RULES)
            n = CLI_MAX_VIOLATION_RULES;
        r->nr_rules = 0;
        for (unsigned i = 0; i < n; i++) {
            const char *name = counts[i].rule ? counts[i].rule : "?";
            const char *first = counts[i].first_report;
            add_rule(r, name, strlen(name), counts[i].warning, counts[i].count, first,
                     first ? strlen(first) : 0);
        }
        /* violations() counts warnings too when they are errors */
        if (run->o->verifier_warnings_fail && r->violation_errors >= r->violation_warnings)
            r->violation_errors -= r->violation_warnings;
    }
    r->luns = a->nluns;
    if (a->nluns) {
        const struct ustor_blk_info *bi = ustor_blk_get_info(a->lun[0]);
        r->lun_blocks = bi->num_blocks;
        r->block_size = bi->block_size;
    }
}

static void collect_jobs(struct run *run, struct cli_result *r)
{
    for (int d = 0; d < CLI_DIR_COUNT; d++)
        cli_hist_init(&r->dir[d].lat);
    cli_hist_init(&r->lat_all);
    for (unsigned i = 0; i < run->o->numjobs; i++) {
        struct job *j = &run->jobs[i];
        for (int d = 0; d < CLI_DIR_COUNT; d++) {
            r->dir[d].ios += j->dir[d].ios;
            r->dir[d].bytes += j->dir[d].bytes;
            r->dir[d].errors += j->dir[d].errors;
            cli_hist_merge(&r->dir[d].lat, &j->dir[d].lat);
            cli_hist_merge(&r->lat_all, &j->dir[d].lat);
        }
        r->verified_reads += j->verified;
        r->unverified_reads += j->unverified;
        r->mismatches += j->mismatches;
        if (!r->first_mismatch[0] && j->first_mismatch[0])
            snprintf(r->first_mismatch, sizeof(r->first_mismatch), "%s", j->first_mismatch);
        if (!r->first_error[0] && j->first_error[0])
            snprintf(r->first_error, sizeof(r->first_error), "%s", j->first_error);
    }
}

static void print_report(const struct cli_options *o, const struct cli_result *r)
{
    if (o->json)
        cli_report_json(stdout, r);
    else
        cli_report_text(stdout, r);
    fflush(stdout);
}

static int setup_jobs(struct run *run, char *err, size_t errlen)
{
    const struct cli_options *o = run->o;
    const struct ustor_blk_info *bi = ustor_blk_get_info(run->a.lun[0]);
    uint32_t lbs = bi->block_size ? bi->block_size : 512;
    if (o->bs % lbs) {
        snprintf(err, errlen, "ustor: --bs=%" PRIu64 ": not a multiple of the LUN's block size %" PRIu32, o->bs, lbs);
        return CLI_EXIT_USAGE;
    }
    uint64_t capacity = bi->num_blocks * lbs;
    for (unsigned l = 1; l < run->a.nluns; l++) {
        const struct ustor_blk_info *b2 = ustor_blk_get_info(run->a.lun[l]);
        if (b2->num_blocks * b2->block_size < capacity)
            capacity = b2->num_blocks * b2->block_size;
    }
    if (capacity <= o->offset || (capacity - o->offset) < o->bs) {
        snprintf(err, errlen, "ustor: the LUN holds %" PRIu64 " bytes: no room for --bs=%" PRIu64 " at --offset=%" PRIu64,
                 capacity, o->bs, o->offset);
        return CLI_EXIT_USAGE;
    }
    run->region_blocks = (capacity - o->offset) / o->bs;
    run->first_block = o->offset / o->bs;
    run->lba_per_block = (uint32_t)(o->bs / lbs);
    run->vt = calloc(run->a.nluns, sizeof(*run->vt));
    run->jobs = calloc(o->numjobs, sizeof(*run->jobs));
    if (!run->vt || !run->jobs)
        goto nomem;
    for (unsigned l = 0; l < run->a.nluns; l++)
        if (cli_verify_init(&run->vt[l], o->verify, l, run->region_blocks, (uint32_t)o->bs, o->randseed) < 0)
            goto nomem;
    for (unsigned i = 0; i < o->numjobs; i++) {
        struct job *j = &run->jobs[i];
        j->run = run;
        j->id = i;
        j->rng = o->randseed * 0x2545F4914F6CDD1Dull + i + 1;
        j->next_lun = i % run->a.nluns;
        j->cursor = calloc(run->a.nluns, sizeof(*j->cursor));
        j->slots = calloc(o->iodepth, sizeof(*j->slots));
        j->free_slots = calloc(o->iodepth, sizeof(unsigned));
        j->done = calloc(o->iodepth, sizeof(unsigned));
        if (!j->cursor || !j->slots || !j->free_slots || !j->done)
            goto nomem;
        for (unsigned l = 0; l < run->a.nluns; l++)
            j->cursor[l] = run->region_blocks * i / o->numjobs;
        pthread_mutex_init(&j->lock, NULL);
        pthread_cond_init(&j->cond, NULL);
        for (int d = 0; d < CLI_DIR_COUNT; d++)
            cli_hist_init(&j->dir[d].lat);
        for (unsigned s = 0; s < o->iodepth; s++) {
            j->slots[s].job = j;
            j->slots[s].index = s;
            if (posix_memalign((void **)&j->slots[s].buf, 4096, o->bs) != 0)
                goto nomem;
            memset(j->slots[s].buf, 0xA5, o->bs);
            j->free_slots[j->nfree++] = s;
        }
    }
    return CLI_EXIT_OK;
nomem:
    snprintf(err, errlen, "ustor: out of memory for %u jobs x iodepth %u x bs %" PRIu64, o->numjobs, o->iodepth, o->bs);
    return CLI_EXIT_USAGE;
}

static void verifier_summary(const struct cli_result *r, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%" PRIu64 " errors, %" PRIu64 " warnings", r->violation_errors,
                     r->violation_warnings);
    if (r->nr_rules && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, "; first: %s: %s", r->rules[0].rule ? r->rules[0].rule : "?",
                 r->rules[0].first_report ? r->rules[0].first_report : "");
}

int cli_run(const struct cli_options *o)
{
    static struct run run; /* lives as long as the process: callbacks may come late */
    static struct cli_result r;
    char err[1024];
    memset(&run, 0, sizeof(run));
    memset(&r, 0, sizeof(r));
    run.o = o;
    r.opt = o;
    cli_install_crash_handler();
    cli_backend_set_report_sink(report_sink, NULL);

    int status = cli_backend_open(o, o->iodepth * o->numjobs, &run.a, err, sizeof(err));
    if (status != CLI_EXIT_OK) {
        fprintf(stderr, "%s\n", err);
        return status;
    }
    crash_adapter = run.a.ad;
    status = setup_jobs(&run, err, sizeof(err));
    if (status != CLI_EXIT_OK) {
        fprintf(stderr, "%s\n", err);
        bounded_close(&run.a, USTOR_SHUTDOWN_GRACE_MS + 5000, CLI_EXIT_CRASH);
        return status;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = interrupt_handler;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    uint64_t hang_ms = o->hang_timeout_ms ? o->hang_timeout_ms : cli_default_hang_timeout_ms(run.a.timeout_s);
    bool progress = !o->json && !o->quiet && isatty(STDOUT_FILENO);
    uint64_t t0 = now_ns();
    unsigned started = 0;
    for (; started < o->numjobs; started++)
        if (pthread_create(&run.jobs[started].thread, NULL, job_main, &run.jobs[started]) != 0)
            break;
    if (started == 0) {
        fprintf(stderr, "ustor: cannot start job threads: %s\n", strerror(errno));
        bounded_close(&run.a, USTOR_SHUTDOWN_GRACE_MS + 5000, CLI_EXIT_CRASH);
        return CLI_EXIT_USAGE;
    }

    /* watchdog and progress */
    uint64_t last_completed = 0, last_progress_ns = t0, last_print_ns = t0, last_print_completed = 0;
    uint64_t t_end = t0;
    bool hung = false;
    for (;;) {
        struct timespec ts = { 0, 50 * 1000000 };
        nanosleep(&ts, NULL);
        uint64_t t = now_ns();
        bool all_done = true;
        for (unsigned i = 0; i < started; i++)
            if (!atomic_load(&run.jobs[i].finished))
                all_done = false;
        if (all_done) {
            t_end = t;
            break;
        }
        if (t - t0 >= o->runtime_ms * 1000000ull || interrupted)
            atomic_store(&run.stop, true);
        uint64_t c = atomic_load(&run.completed);
        if (c != last_completed || atomic_load(&run.outstanding) == 0) {
            last_completed = c;
            last_progress_ns = t;
        } else if (t - last_progress_ns >= hang_ms * 1000000ull) {
            hung = true;
            t_end = t;
            break;
        }
        if (progress && t - last_print_ns >= 1000000000ull) {
            char line[160];
            double iops = (double)(c - last_print_completed) * 1e9 / (double)(t - last_print_ns);
            cli_progress_line(line, sizeof(line), (double)(t - t0) / 1e9, iops,
                              atomic_load(&run.errors), ustor_adapter_violations(run.a.ad));
            printf("\r%s", line);
            fflush(stdout);
            last_print_ns = t;
            last_print_completed = c;
        }
    }
    if (progress) {
        printf("\r%80s\r", "");
        fflush(stdout);
    }
    r.elapsed_s = (double)(t_end - t0) / 1e9;

    if (hung) {
        atomic_store(&run.stop, true);
        int64_t outstanding = atomic_load(&run.outstanding);
        collect_adapter(&run, &r);
        /* jobs are still running; their counters are only read, roughly */
        collect_jobs(&run, &r);
        char vs[300];
        verifier_summary(&r, vs, sizeof(vs));
        snprintf(r.failure, sizeof(r.failure),
                 "miniport hung: %" PRId64 " requests outstanding for %.1fs; verifier says: %s",
                 outstanding, (double)hang_ms / 1000.0, vs);
        r.exit_status = CLI_EXIT_CRASH;
        fprintf(stderr, "ustor: %s\n", r.failure);
        print_report(o, &r);
        fflush(stderr);
        /* The LUNs are left open: closing waits for requests that will not
         * come, and an open device stays valid for the completions the port
         * forces during destroy. */
        run.a.nluns = 0;
        bounded_close(&run.a, USTOR_SHUTDOWN_GRACE_MS + 3000, CLI_EXIT_CRASH);
        fflush(stdout);
        _exit(CLI_EXIT_CRASH);
    }

    for (unsigned i = 0; i < started; i++)
        pthread_join(run.jobs[i].thread, NULL);
    collect_jobs(&run, &r);
    collect_adapter(&run, &r);
    crash_adapter = NULL;
    unsigned nluns = run.a.nluns;
    pthread_mutex_lock(&sink_lock);
    sink_result = &r;
    pthread_mutex_unlock(&sink_lock);
    bounded_close(&run.a, USTOR_SHUTDOWN_GRACE_MS + 2000ull * nluns + 3000, CLI_EXIT_CRASH);
    pthread_mutex_lock(&sink_lock);
    sink_result = NULL;
    pthread_mutex_unlock(&sink_lock);
    r.exit_status = cli_result_exit_status(&r);
    print_report(o, &r);
    for (unsigned l = 0; l < nluns && run.vt; l++)
        cli_verify_free(&run.vt[l]);
    return r.exit_status;
}
