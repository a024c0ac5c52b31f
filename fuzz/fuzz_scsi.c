/*
 * fuzz_scsi.c - libFuzzer target: arbitrary CDBs, transfer lengths and
 * data directions through the port (block-layer passthrough, no probe) to
 * the sample miniports: the RAM disks, and the virtio miniport on a
 * simulated virtio-blk device (CDB translation, scatter/gather, DMA,
 * interrupts; one of them with injected errors and spurious interrupts).
 * Every request must complete with a real SRB status, CHECK CONDITION must
 * carry decodable sense, the transfer must not exceed the buffer, and the
 * Storport rule verifier must stay silent; a crash, hang (libFuzzer
 * -timeout) or sanitizer report is a finding too.
 *
 * Input: up to MAX_COMMANDS commands, each
 *   byte 0  bits 0-1 adapter (table below), bits 2-3 LUN, bits 4-5
 *           direction (0 none, 1 in, 2 out, 3 in); bit 6 set: one of the
 *           virtio adapters instead (bit 0 picks which)
 *   byte 1  CDB length - 1 (mod 16, or mod 32 on STORAGE_REQUEST_BLOCK adapters)
 *   byte 2-3 transfer length, little endian, at most MAX_TRANSFER
 *   CDB bytes, then for "out" the data (zero-padded when the input ends)
 * See docs/nbd.md for running it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>

#include <ustor/block.h>
#include <ustor/hw.h>
#include <ustor/ustor.h>

#define MAX_COMMANDS 8
#define MAX_TRANSFER 65536u
#define LUNS_PER_ADAPTER 4 /* two exist, the others must fail cleanly */

#define SRB_STATUS_PENDING_VALUE 0x00
#define SCSI_STATUS_CHECK_CONDITION 0x02

struct fuzz_adapter {
    const char *miniport;
    const char *args;
    bool srbex; /* what the miniport chose (set when the adapter starts) */
    const char *device_opts; /* virtio-blk device options; NULL: no device */
    unsigned long commands;  /* sent to it so far (fuzz_scsi_unreached) */
    ustor_driver *drv;
    struct ustor_bus_device *dev;
    ustor_adapter *ad;
    ustor_blk_dev *lun[LUNS_PER_ADAPTER];
};

/* Small disks: out-of-range LBAs are cheap to reach. */
/* fuzz/CMakeLists.txt compiles private copies of the sample miniports
 * under these names (instrumented in the fuzzer). */
int32_t fuzz_ramdisk_DriverEntry(void *driver_object, void *registry_path);
int32_t fuzz_ramdisk_phys_DriverEntry(void *driver_object, void *registry_path);
int32_t fuzz_virtio_DriverEntry(void *driver_object, void *registry_path);

#define NR_RAMDISK_ADAPTERS 4u
static struct fuzz_adapter adapters[] = {
    { .miniport = "ramdisk", .args = "luns=2;size=1M;srb=scsi;complete=inline" },
    { .miniport = "ramdisk", .args = "luns=2;size=1M;srb=ex;complete=dpc;bs=4096" },
    { .miniport = "ramdisk-phys", .args = "luns=2;size=1M;sync=full;srb=scsi;complete=mixed" },
    { .miniport = "ramdisk-phys", .args = "luns=2;size=1M;sync=concurrent;srb=ex;ro=1" },
    /* selected by bit 6; one LUN each (the device's) */
    { .miniport = "virtio", .args = "sync=full;intr=permessage;queues=2",
      .device_opts = "capacity=1M;queues=2;latency=zero" },
    { .miniport = "virtio", .args = "sync=concurrent",
      .device_opts = "capacity=1M;msix=0;faults=error:every:7,spurious_irq:every:5;seed=1" },
};
#define NR_ADAPTERS (sizeof(adapters) / sizeof(adapters[0]))

/* FUZZ_SCSI_VERBOSE=1: one line per command (replaying a finding). */
static bool verbose;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_scsi: %s\n", what);
    abort();
}

/* A verifier report is a miniport or port bug the input provoked. */
static void verifier_report(void *ctx, const char *text)
{
    (void)ctx;
    fprintf(stderr, "fuzz_scsi: verifier report: %s\n", text);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *fuzz_scsi_unreached(void);

/* The first adapter no input has sent a command to (its miniport and
 * arguments), or NULL: fuzz_replay checks that the committed corpus
 * reaches every adapter, so a decoding change cannot drop one unseen. */
const char *fuzz_scsi_unreached(void)
{
    static char what[160];
    for (size_t i = 0; i < NR_ADAPTERS; i++)
        if (!adapters[i].commands) {
            snprintf(what, sizeof(what), "%s (%s)", adapters[i].miniport, adapters[i].args);
            return what;
        }
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[512];
    verbose = getenv("FUZZ_SCSI_VERBOSE") != NULL;
    for (size_t i = 0; i < NR_ADAPTERS; i++) {
        struct fuzz_adapter *a = &adapters[i];
        ustor_driver_entry_fn entry = strcmp(a->miniport, "ramdisk") == 0        ? fuzz_ramdisk_DriverEntry
                                      : strcmp(a->miniport, "ramdisk-phys") == 0 ? fuzz_ramdisk_phys_DriverEntry
                                                                                 : fuzz_virtio_DriverEntry;
        if (ustor_driver_from_entry(entry, a->miniport, &a->drv, err, sizeof(err)) < 0)
            die(err);
        if (a->device_opts) {
            struct ustor_virtio_blk_config vc = { .options = a->device_opts };
            a->dev = ustor_virtio_blk_create(&vc, err, sizeof(err));
            if (!a->dev)
                die(err);
        }
        struct ustor_adapter_config cfg = {
            .argument_string = a->args,
            .nr_cpus = 2,
            .device = a->dev,
            .verifier = USTOR_VERIFIER_LOG,
            .report_sink = verifier_report,
        };
        if (ustor_adapter_create(a->drv, &cfg, &a->ad, err, sizeof(err)) < 0)
            die(err);
        a->srbex = ustor_adapter_uses_srbex(a->ad);
        struct ustor_blk_options bo = {
            .queue_depth = 4,
            .max_retries = USTOR_BLK_NO_RETRIES,
            .timeout_s = 5,
            .no_probe = true,
            .probe_block_size = strstr(a->args, "bs=4096") ? 4096 : 512,
        };
        for (uint8_t lun = 0; lun < LUNS_PER_ADAPTER; lun++)
            if (ustor_blk_open(a->ad, 0, 0, lun, &bo, &a->lun[lun], err, sizeof(err)) < 0)
                die(err);
    }
    return 0;
}

/* One request's completion, counted: the callback must run exactly once. */
struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned calls;
    struct ustor_blk_result result;
};

static void waiter_cb(void *ctx, const struct ustor_blk_result *r)
{
    struct waiter *w = ctx;
    pthread_mutex_lock(&w->lock);
    w->calls++;
    w->result = *r;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* The port times requests out after 5 s (the SRB timeout); far beyond
 * that, the request is lost: a hang. */
#define HANG_S 60

static void describe(char *what, size_t len, const uint8_t *cdb, unsigned cdb_len)
{
    int n = snprintf(what, len, "CDB");
    for (unsigned i = 0; i < cdb_len && n > 0 && (size_t)n + 4 < len; i++)
        n += snprintf(what + n, len - (size_t)n, " %02x", cdb[i]);
}

static void run_one(ustor_blk_dev *dev, const uint8_t *cdb, unsigned cdb_len,
                    enum ustor_blk_dir dir, uint8_t *buf, uint32_t len)
{
    char what[160];
    describe(what, sizeof(what), cdb, cdb_len);
    struct waiter w = { .calls = 0 };
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    int rc = ustor_blk_scsi(dev, cdb, cdb_len, dir, len ? buf : NULL, len, 5, waiter_cb, &w);
    if (rc < 0) {
        /* refused up front: only argument errors, and no callback */
        if (rc != -EINVAL && rc != -EOPNOTSUPP) {
            fprintf(stderr, "fuzz_scsi: %s: refused with %d (%s)\n", what, rc, strerror(-rc));
            abort();
        }
    } else {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += HANG_S;
        pthread_mutex_lock(&w.lock);
        while (w.calls == 0)
            if (pthread_cond_timedwait(&w.cond, &w.lock, &deadline) == ETIMEDOUT) {
                fprintf(stderr, "fuzz_scsi: %s: no completion after %d s\n", what, HANG_S);
                abort();
            }
        pthread_mutex_unlock(&w.lock);
    }
    /* a second (late) callback would land here */
    while (ustor_blk_inflight(dev) != 0)
        sched_yield();
    pthread_mutex_lock(&w.lock);
    unsigned calls = w.calls;
    struct ustor_blk_result r = w.result;
    pthread_mutex_unlock(&w.lock);
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.cond);
    if (calls != (rc == 0 ? 1u : 0u)) {
        fprintf(stderr, "fuzz_scsi: %s: submit returned %d and the callback ran %u times\n", what,
                rc, calls);
        abort();
    }
    if (verbose)
        fprintf(stderr, "%s: submit %d, %s, scsi status %u, error %d, %u bytes, sense %u\n", what,
                rc, rc ? "-" : ustor_srb_status_name(r.srb_status), r.scsi_status, r.error,
                r.transferred, r.sense_len);
    if (rc < 0)
        return;
    /* No SRB status only when the port refused the SRB (ustor_submit_srb
     * returned an errno, e.g. -ENODEV for a LUN that does not exist): the
     * block layer then reports that errno. */
    if (r.srb_status == SRB_STATUS_PENDING_VALUE && r.error >= 0) {
        fprintf(stderr, "fuzz_scsi: %s: completed with SRB_STATUS_PENDING and no error "
                        "(scsi status %u, %u bytes)\n", what, r.scsi_status, r.transferred);
        abort();
    }
    if (r.transferred > len) {
        fprintf(stderr, "fuzz_scsi: %s: %u bytes moved with a %u-byte buffer\n", what,
                r.transferred, len);
        abort();
    }
    if (r.scsi_status == SCSI_STATUS_CHECK_CONDITION) {
        struct ustor_sense s;
        if (r.sense_len == 0 || ustor_scsi_sense_decode(r.sense, r.sense_len, &s) < 0) {
            fprintf(stderr, "fuzz_scsi: %s: CHECK CONDITION (%s) without valid sense data "
                            "(%u bytes)\n", what, ustor_srb_status_name(r.srb_status),
                    r.sense_len);
            abort();
        }
    }
    if (r.error > 0) {
        fprintf(stderr, "fuzz_scsi: %s: positive error %d in the result\n", what, r.error);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[MAX_TRANSFER];
    size_t pos = 0;
    for (int cmd = 0; cmd < MAX_COMMANDS && size - pos >= 4; cmd++) {
        uint8_t sel = data[pos];
        struct fuzz_adapter *a = &adapters[sel & 0x40 ? NR_RAMDISK_ADAPTERS + (sel & 1u) : sel & 3u];
        a->commands++;
        ustor_blk_dev *dev = a->lun[(sel >> 2) & 3];
        unsigned d = (sel >> 4) & 3;
        enum ustor_blk_dir dir = d == 0 ? USTOR_BLK_DIR_NONE
                               : d == 2 ? USTOR_BLK_DIR_OUT : USTOR_BLK_DIR_IN;
        unsigned cdb_len = (unsigned)data[pos + 1] % (a->srbex ? 32u : 16u) + 1;
        uint32_t len = (uint32_t)data[pos + 2] | (uint32_t)data[pos + 3] << 8;
        pos += 4;
        if (len > MAX_TRANSFER)
            len = MAX_TRANSFER;
        if (dir == USTOR_BLK_DIR_NONE)
            len = 0;
        uint8_t cdb[32] = { 0 };
        size_t take = size - pos < cdb_len ? size - pos : cdb_len;
        memcpy(cdb, data + pos, take);
        pos += take;
        if (dir == USTOR_BLK_DIR_OUT) {
            size_t have = size - pos < len ? size - pos : len;
            memcpy(buf, data + pos, have);
            memset(buf + have, 0, len - have);
            pos += have;
        } else {
            /* poison: a device must not report data it did not write */
            memset(buf, 0xA5, len);
        }
        run_one(dev, cdb, cdb_len, dir, buf, len);
    }
    return 0;
}
