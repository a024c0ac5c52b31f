/*
 * ustor_nbdkit.c - nbdkit plugin serving one LUN of a ustorport adapter.
 *
 *   nbdkit nbdkit-ustorport-plugin.so miniport=ramdisk size=256M
 *
 * The adapter is built once per nbdkit process (after nbdkit forks, so
 * the port's threads survive --background) with the CLI's own backend
 * (cli/cli_backend.c), so miniport/device/size/sync/verifier mean what
 * they mean to `ustor run`.  Every NBD request becomes block-layer calls
 * (include/ustor/block.h), which build the SCSI commands.  See
 * docs/nbd.md.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ustor/block.h>
#include <ustor/ustor.h>

#include "cli_args.h"
#include "cli_backend.h"
#include "nbd_errno.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static struct cli_options opts;
static unsigned serve_lun;
static unsigned queue_depth = 128;

static struct cli_adapter adapter;
static bool adapter_open;
static ustor_blk_dev *lun_dev;
static const struct ustor_blk_info *lun_info;

/* Aligned requests share the lock; a read-modify-write of a partial block
 * takes it alone, so no aligned write to the same block can slip between
 * its read and its write. */
static pthread_rwlock_t rmw_lock = PTHREAD_RWLOCK_INITIALIZER;

static void ustor_load(void)
{
    cli_options_default(&opts);
    opts.luns = 1;
}

static int parse_enum(const char *key, const char *value, const char *const *names,
                      unsigned n, unsigned *out)
{
    for (unsigned i = 0; i < n; i++)
        if (strcmp(value, names[i]) == 0) {
            *out = i;
            return 0;
        }
    char allowed[128] = "";
    for (unsigned i = 0; i < n; i++) {
        size_t used = strlen(allowed);
        snprintf(allowed + used, sizeof(allowed) - used, "%s%s", i ? ", " : "", names[i]);
    }
    nbdkit_error("%s=%s: unknown value; expected one of %s", key, value, allowed);
    return -1;
}

/* nbdkit keeps config strings only during the call. */
static const char *dup_value(const char *key, const char *value)
{
    char *copy = strdup(value);
    if (!copy)
        nbdkit_error("%s: out of memory", key);
    return copy;
}

static int ustor_config(const char *key, const char *value)
{
    uint64_t v;
    unsigned idx;
    if (strcmp(key, "miniport") == 0) {
        free((void *)opts.miniport);
        opts.miniport = dup_value(key, value);
        if (!opts.miniport)
            return -1;
    } else if (strcmp(key, "device") == 0) {
        static const char *const names[] = { "none", "virtio-blk" };
        if (parse_enum(key, value, names, 2, &idx) < 0)
            return -1;
        opts.device = idx == 0 ? CLI_DEVICE_NONE : CLI_DEVICE_VIRTIO_BLK;
    } else if (strcmp(key, "size") == 0) {
        if (cli_parse_size(value, &v) < 0 || v < 512 || v % 512) {
            nbdkit_error("size=%s: expected a capacity in bytes, a multiple of 512, with an "
                         "optional k/m/g/t suffix (e.g. 64M)", value);
            return -1;
        }
        opts.size = v;
    } else if (strcmp(key, "sync") == 0) {
        static const char *const names[] = { "half", "full", "concurrent", "virtual" };
        static const enum cli_sync modes[] = { CLI_SYNC_HALF, CLI_SYNC_FULL, CLI_SYNC_CONCURRENT,
                                               CLI_SYNC_VIRTUAL };
        if (parse_enum(key, value, names, 4, &idx) < 0)
            return -1;
        opts.sync = modes[idx];
    } else if (strcmp(key, "verifier") == 0) {
        static const char *const names[] = { "off", "log", "fatal" };
        static const enum ustor_verifier_mode modes[] = { USTOR_VERIFIER_OFF, USTOR_VERIFIER_LOG,
                                                          USTOR_VERIFIER_FATAL };
        if (parse_enum(key, value, names, 3, &idx) < 0)
            return -1;
        opts.verifier = modes[idx];
    } else if (strcmp(key, "lun") == 0) {
        if (cli_parse_uint(value, 0, CLI_MAX_LUNS - 1, &v) < 0) {
            nbdkit_error("lun=%s: expected a LUN number 0..%d", value, CLI_MAX_LUNS - 1);
            return -1;
        }
        serve_lun = (unsigned)v;
    } else if (strcmp(key, "luns") == 0) {
        if (cli_parse_uint(value, 1, CLI_MAX_LUNS, &v) < 0) {
            nbdkit_error("luns=%s: expected a LUN count 1..%d", value, CLI_MAX_LUNS);
            return -1;
        }
        opts.luns = (unsigned)v;
    } else if (strcmp(key, "cpus") == 0) {
        if (cli_parse_uint(value, 1, 256, &v) < 0) {
            nbdkit_error("cpus=%s: expected a number of simulated CPUs 1..256", value);
            return -1;
        }
        opts.cpus = (unsigned)v;
    } else if (strcmp(key, "queue-depth") == 0) {
        if (cli_parse_uint(value, 1, 1024, &v) < 0) {
            nbdkit_error("queue-depth=%s: expected requests in flight per LUN, 1..1024", value);
            return -1;
        }
        queue_depth = (unsigned)v;
    } else if (strcmp(key, "miniport-args") == 0) {
        free((void *)opts.miniport_args);
        opts.miniport_args = dup_value(key, value);
        if (!opts.miniport_args)
            return -1;
    } else if (strcmp(key, "device-opts") == 0) {
        free((void *)opts.device_opts);
        opts.device_opts = dup_value(key, value);
        if (!opts.device_opts)
            return -1;
    } else {
        nbdkit_error("unknown parameter '%s'; expected miniport, device, size, sync, verifier, "
                     "lun, luns, cpus, queue-depth, miniport-args or device-opts", key);
        return -1;
    }
    return 0;
}

static int ustor_config_complete(void)
{
    if (serve_lun >= opts.luns) {
        if (opts.device == CLI_DEVICE_VIRTIO_BLK) {
            nbdkit_error("lun=%u: a virtio-blk device has one LUN (lun=0)", serve_lun);
            return -1;
        }
        /* open every LUN up to the one served: the miniport numbers them */
        opts.luns = serve_lun + 1;
    }
    return 0;
}

#define ustor_config_help                                                                    \
    "miniport=NAME|PATH.so   built-in miniport (ramdisk, ramdisk-phys, virtio) or a .so\n" \
    "device=none|virtio-blk  simulated device (default as `ustor run`)\n"                   \
    "size=BYTES              capacity per LUN (default 64M)\n"                             \
    "sync=half|full|concurrent|virtual  synchronization model\n"                           \
    "verifier=off|log|fatal  Storport rule verifier (default log), reports to the log\n"   \
    "lun=N                   LUN to serve (default 0); luns=N LUNs the adapter has\n"      \
    "cpus=N queue-depth=N miniport-args=STRING device-opts=STRING"

/* Verifier reports ("ustor-verifier: ERROR|WARNING <rule> ...", then
 * indented detail lines): errors go to the log in full with
 * nbdkit_error; a warning's first line too, its details with
 * nbdkit_debug (-v); anything else is debug chatter. */
static void report_to_log(void *ctx, const char *text)
{
    (void)ctx;
    bool is_error = strstr(text, "ustor-verifier: ERROR") == text;
    bool is_warning = strstr(text, "ustor-verifier: WARNING") == text;
    bool first = true;
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        int len = (int)(nl ? nl - line : (ptrdiff_t)strlen(line));
        if (len > 0) {
            if (is_error || (is_warning && first))
                nbdkit_error("ustor verifier: %.*s", len, line);
            else
                nbdkit_debug("ustor verifier: %.*s", len, line);
        }
        first = false;
        if (!nl)
            break;
        line = nl + 1;
    }
}

static int ustor_after_fork(void)
{
    char err[1024];
    cli_backend_set_report_sink(report_to_log, NULL);
    int rc = cli_backend_open(&opts, queue_depth, &adapter, err, sizeof(err));
    if (rc != CLI_EXIT_OK) {
        nbdkit_error("%s", err);
        return -1;
    }
    adapter_open = true;
    lun_dev = adapter.lun[serve_lun];
    lun_info = ustor_blk_get_info(lun_dev);
    nbdkit_debug("ustor: serving LUN %u of %s (%s, device %s): %" PRIu64 " blocks of %" PRIu32
                 " bytes, unmap=%d write_same_unmap=%d lbprz=%d fua=%d wce=%d wp=%d",
                 serve_lun, adapter.miniport, adapter.source, adapter.device,
                 lun_info->num_blocks, lun_info->block_size, lun_info->can_unmap,
                 lun_info->can_write_same_unmap, lun_info->unmapped_reads_zero,
                 lun_info->supports_fua, lun_info->has_write_cache, lun_info->write_protected);
    return 0;
}

/* nbdkit calls cleanup after the last connection has closed, so every
 * request has completed; closing the LUNs waits for any stragglers. */
static void ustor_cleanup(void)
{
    if (adapter_open) {
        cli_backend_close(&adapter);
        adapter_open = false;
        lun_dev = NULL;
    }
}

static void ustor_unload(void)
{
    ustor_cleanup();
    free((void *)opts.miniport);
    free((void *)opts.miniport_args);
    free((void *)opts.device_opts);
}

static void *ustor_open(int readonly)
{
    (void)readonly;
    if (!lun_dev) {
        nbdkit_error("the ustor adapter is not running");
        return NULL;
    }
    return lun_dev;
}

static int64_t ustor_get_size(void *h)
{
    (void)h;
    return (int64_t)(lun_info->num_blocks * lun_info->block_size);
}

static int ustor_block_size(void *h, uint32_t *minimum, uint32_t *preferred, uint32_t *maximum)
{
    (void)h;
    *minimum = lun_info->block_size;
    uint32_t pref = lun_info->physical_block_size > 4096 ? lun_info->physical_block_size : 4096;
    *preferred = pref < lun_info->block_size ? lun_info->block_size : pref;
    *maximum = 0xFFFFFFFFu;
    return 0;
}

static int ustor_can_write(void *h)
{
    (void)h;
    return !lun_info->write_protected;
}

static int ustor_can_flush(void *h)
{
    (void)h;
    return lun_info->has_write_cache;
}

static int ustor_can_fua(void *h)
{
    (void)h;
    if (lun_info->supports_fua)
        return NBDKIT_FUA_NATIVE;
    /* a write cache without FUA: nbdkit follows the write with a flush */
    if (lun_info->has_write_cache)
        return NBDKIT_FUA_EMULATE;
    /* no cache: every completed write is already durable */
    return NBDKIT_FUA_NATIVE;
}

static int ustor_can_trim(void *h)
{
    (void)h;
    return lun_info->can_unmap && !lun_info->write_protected;
}

static int ustor_can_zero(void *h)
{
    (void)h;
    /* the block layer zeroes with WRITE SAME or plain writes */
    return 1;
}

static int ustor_can_multi_conn(void *h)
{
    (void)h;
    /* one LUN behind every connection, and SYNCHRONIZE CACHE covers the
     * whole medium: a flush on any connection covers writes of all */
    return 1;
}

static int fail(int rc, const char *what, uint32_t count, uint64_t offset,
                const struct ustor_blk_result *r)
{
    int e = nbd_errno_for_client(rc);
    if (r && r->sense_len) {
        struct ustor_sense s;
        char text[160] = "";
        if (ustor_scsi_sense_decode(r->sense, r->sense_len, &s) == 0)
            ustor_scsi_sense_str(&s, text, sizeof(text));
        nbdkit_error("%s of %" PRIu32 " bytes at %" PRIu64 ": %s (%s, %s)", what, count, offset,
                     strerror(-rc), ustor_srb_status_name(r->srb_status), text);
    } else {
        nbdkit_error("%s of %" PRIu32 " bytes at %" PRIu64 ": %s", what, count, offset,
                     strerror(-rc));
    }
    nbdkit_set_error(e);
    return -1;
}

static unsigned fua_flag(uint32_t flags)
{
    return (flags & NBDKIT_FLAG_FUA) && lun_info->supports_fua ? USTOR_BLK_FUA : 0;
}

static bool aligned(uint32_t count, uint64_t offset)
{
    uint32_t bs = lun_info->block_size;
    return count % bs == 0 && offset % bs == 0;
}

/* The smallest block range covering [offset, offset+count). */
/* The whole blocks covering [offset, offset + count), and a bounce buffer
 * for them; NULL (errno set for nbdkit) when it cannot be had. */
static uint8_t *cover(uint32_t count, uint64_t offset, uint64_t *lba, uint64_t *nblocks)
{
    uint32_t bs = lun_info->block_size;
    *lba = offset / bs;
    *nblocks = (offset + count + bs - 1) / bs - *lba;
    uint8_t *bounce = malloc(*nblocks * bs);
    if (!bounce)
        nbdkit_set_error(ENOMEM);
    return bounce;
}

static int read_blocks(ustor_blk_dev *dev, uint64_t lba, uint64_t nblocks, void *buf,
                       uint32_t count, uint64_t offset)
{
    struct ustor_blk_result r;
    int rc = ustor_blk_read_sync(dev, lba, (uint32_t)nblocks, buf, 0, &r);
    return rc < 0 ? fail(rc, "read", count, offset, &r) : 0;
}

static int ustor_pread(void *h, void *buf, uint32_t count, uint64_t offset, uint32_t flags)
{
    (void)flags;
    ustor_blk_dev *dev = h;
    if (aligned(count, offset)) {
        pthread_rwlock_rdlock(&rmw_lock);
        int rc = read_blocks(dev, offset / lun_info->block_size, count / lun_info->block_size,
                             buf, count, offset);
        pthread_rwlock_unlock(&rmw_lock);
        return rc;
    }
    uint64_t lba, nblocks;
    uint8_t *bounce = cover(count, offset, &lba, &nblocks);
    if (!bounce)
        return -1;
    uint32_t bs = lun_info->block_size;
    pthread_rwlock_rdlock(&rmw_lock);
    int rc = read_blocks(dev, lba, nblocks, bounce, count, offset);
    pthread_rwlock_unlock(&rmw_lock);
    if (rc == 0)
        memcpy(buf, bounce + (offset - lba * bs), count);
    free(bounce);
    return rc;
}

/* Partial blocks: read the covering blocks, patch (data or zeroes), write
 * back, all under the exclusive lock. */
static int write_partial(ustor_blk_dev *dev, const void *data, uint32_t count, uint64_t offset,
                         unsigned flags, const char *what)
{
    uint64_t lba, nblocks;
    uint8_t *bounce = cover(count, offset, &lba, &nblocks);
    if (!bounce)
        return -1;
    uint32_t bs = lun_info->block_size;
    struct ustor_blk_result r;
    pthread_rwlock_wrlock(&rmw_lock);
    int rc = ustor_blk_read_sync(dev, lba, (uint32_t)nblocks, bounce, 0, &r);
    if (rc == 0) {
        if (data)
            memcpy(bounce + (offset - lba * bs), data, count);
        else
            memset(bounce + (offset - lba * bs), 0, count);
        rc = ustor_blk_write_sync(dev, lba, (uint32_t)nblocks, bounce, flags, &r);
    }
    pthread_rwlock_unlock(&rmw_lock);
    free(bounce);
    return rc < 0 ? fail(rc, what, count, offset, &r) : 0;
}

static int ustor_pwrite(void *h, const void *buf, uint32_t count, uint64_t offset,
                        uint32_t flags)
{
    ustor_blk_dev *dev = h;
    if (!aligned(count, offset))
        return write_partial(dev, buf, count, offset, fua_flag(flags), "write");
    struct ustor_blk_result r;
    pthread_rwlock_rdlock(&rmw_lock);
    int rc = ustor_blk_write_sync(dev, offset / lun_info->block_size,
                                  count / lun_info->block_size, buf, fua_flag(flags), &r);
    pthread_rwlock_unlock(&rmw_lock);
    return rc < 0 ? fail(rc, "write", count, offset, &r) : 0;
}

static int ustor_flush(void *h, uint32_t flags)
{
    (void)flags;
    struct ustor_blk_result r;
    int rc = ustor_blk_flush_sync(h, &r);
    return rc < 0 ? fail(rc, "flush", 0, 0, &r) : 0;
}

static int ustor_trim(void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
    /* trim is advisory: only whole blocks inside the range go */
    uint32_t bs = lun_info->block_size;
    uint64_t first = (offset + bs - 1) / bs, end = (offset + count) / bs;
    if (end > first) {
        struct ustor_blk_result r;
        pthread_rwlock_rdlock(&rmw_lock);
        int rc = ustor_blk_unmap_sync(h, first, end - first, &r);
        pthread_rwlock_unlock(&rmw_lock);
        if (rc < 0)
            return fail(rc, "trim", count, offset, &r);
    }
    if ((flags & NBDKIT_FLAG_FUA) && lun_info->has_write_cache)
        return ustor_flush(h, 0);
    return 0;
}

static int ustor_zero(void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
    uint32_t bs = lun_info->block_size;
    unsigned bflags = (flags & NBDKIT_FLAG_FUA) ? USTOR_BLK_FUA : 0;
    if (flags & NBDKIT_FLAG_MAY_TRIM)
        bflags |= USTOR_BLK_MAY_UNMAP;
    uint64_t first = (offset + bs - 1) / bs, end = (offset + count) / bs;
    uint64_t head_end = first * bs < offset + count ? first * bs : offset + count;
    /* partial edges by read-modify-write, whole blocks by the block layer */
    if (head_end > offset) {
        if (write_partial(h, NULL, (uint32_t)(head_end - offset), offset, fua_flag(flags),
                          "zero") < 0)
            return -1;
    }
    if (end > first) {
        struct ustor_blk_result r;
        pthread_rwlock_rdlock(&rmw_lock);
        int rc = ustor_blk_write_zeroes_sync(h, first, end - first, bflags, &r);
        pthread_rwlock_unlock(&rmw_lock);
        if (rc < 0)
            return fail(rc, "zero", count, offset, &r);
    }
    uint64_t tail_start = end * bs > head_end ? end * bs : head_end;
    if (offset + count > tail_start) {
        if (write_partial(h, NULL, (uint32_t)(offset + count - tail_start), tail_start,
                          fua_flag(flags), "zero") < 0)
            return -1;
    }
    return 0;
}

static void ustor_dump_plugin(void)
{
    printf("ustorport_version=%s\n", USTOR_VERSION);
}

static struct nbdkit_plugin plugin = {
    .name = "ustorport",
    .longname = "ustorport: a Storport miniport's LUN over NBD",
    .version = USTOR_VERSION,
    .description = "Serves one LUN of a user-mode Storport adapter (ustorport) over NBD.",
    .load = ustor_load,
    .unload = ustor_unload,
    .config = ustor_config,
    .config_complete = ustor_config_complete,
    .config_help = ustor_config_help,
    .magic_config_key = "miniport",
    .after_fork = ustor_after_fork,
    .cleanup = ustor_cleanup,
    .dump_plugin = ustor_dump_plugin,
    .open = ustor_open,
    .get_size = ustor_get_size,
    .block_size = ustor_block_size,
    .can_write = ustor_can_write,
    .can_flush = ustor_can_flush,
    .can_fua = ustor_can_fua,
    .can_trim = ustor_can_trim,
    .can_zero = ustor_can_zero,
    .can_multi_conn = ustor_can_multi_conn,
    .pread = ustor_pread,
    .pwrite = ustor_pwrite,
    .flush = ustor_flush,
    .trim = ustor_trim,
    .zero = ustor_zero,
    .errno_is_preserved = 0,
};

NBDKIT_REGISTER_PLUGIN(plugin)
