/* cli_backend.c - see cli_backend.h. */
#include "cli_backend.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ustor/hw.h>

#include "hw/bus.h" /* device teardown: dev->ops->destroy */

#if defined(__has_include)
#if __has_include(<ustor/builtin.h>)
#include <ustor/builtin.h>
#define CLI_HAVE_BUILTINS 1
#endif
#endif

/* ---- built-in miniports (one place that knows ustor/builtin.h) ---- */

struct cli_builtin {
    const char *name;
    const char *description;
    ustor_driver_entry_fn entry;
    bool virtual_miniport;
    const char *default_args;
};

static bool builtin_find(const char *name, struct cli_builtin *out)
{
#ifdef CLI_HAVE_BUILTINS
    const struct ustor_builtin_miniport *b = ustor_builtin_find(name);
    if (!b)
        return false;
    out->name = b->name;
    out->description = b->description;
    out->entry = (ustor_driver_entry_fn)b->entry;
    out->virtual_miniport = b->virtual_miniport;
    out->default_args = b->default_args;
    return true;
#else
    (void)name;
    (void)out;
    return false;
#endif
}

static size_t builtin_count(void)
{
#ifdef CLI_HAVE_BUILTINS
    size_t n = 0;
    ustor_builtin_miniports(&n);
    return n;
#else
    return 0;
#endif
}

static bool builtin_at(size_t i, struct cli_builtin *out)
{
#ifdef CLI_HAVE_BUILTINS
    size_t n = 0;
    const struct ustor_builtin_miniport *all = ustor_builtin_miniports(&n);
    if (i >= n)
        return false;
    return builtin_find(all[i].name, out);
#else
    (void)i;
    (void)out;
    return false;
#endif
}

static bool hw_has_model(const char *name)
{
    for (const struct ustor_hw_model_info *m = ustor_hw_list(); m && m->name; m++)
        if (strcmp(m->name, name) == 0)
            return true;
    return false;
}

void cli_default_miniport(const char **miniport, enum cli_device *device)
{
    struct cli_builtin b;
    if (builtin_find("virtio", &b) && hw_has_model("virtio-blk")) {
        *miniport = "virtio";
        *device = CLI_DEVICE_VIRTIO_BLK;
    } else {
        *miniport = "ramdisk";
        *device = CLI_DEVICE_NONE;
    }
}

bool cli_miniport_is_path(const char *name)
{
    size_t n = strlen(name);
    return strchr(name, '/') != NULL || (n >= 3 && strcmp(name + n - 3, ".so") == 0);
}

static void append(char *buf, size_t len, const char *fmt, const char *s)
{
    size_t used = strlen(buf);
    if (used < len)
        snprintf(buf + used, len - used, fmt, s);
}

/* Picks miniport and device from the options; the ramdisk family follows
 * --sync (virtual: "ramdisk", half/full/concurrent: "ramdisk-phys"). */
static int resolve(const struct cli_options *o, const char **miniport, enum cli_device *device,
                   char *err, size_t errlen)
{
    const char *def_mp;
    enum cli_device def_dev;
    cli_default_miniport(&def_mp, &def_dev);
    *miniport = o->miniport;
    *device = o->device;
    if (!*miniport) {
        if (o->sync == CLI_SYNC_VIRTUAL || o->device == CLI_DEVICE_NONE)
            *miniport = "ramdisk";
        else if (o->device == CLI_DEVICE_VIRTIO_BLK) {
            struct cli_builtin b;
            if (!builtin_find("virtio", &b)) {
                snprintf(err, errlen, "ustor: --device=virtio-blk: no virtio miniport is built in; "
                                      "give one with --miniport=PATH.so");
                return CLI_EXIT_USAGE;
            }
            *miniport = "virtio";
        } else if (o->sync != CLI_SYNC_DEFAULT && strcmp(def_mp, "ramdisk") == 0) {
            *miniport = "ramdisk-phys";
        } else {
            *miniport = def_mp;
        }
    }
    if (strcmp(*miniport, "ramdisk") == 0 && o->sync != CLI_SYNC_DEFAULT && o->sync != CLI_SYNC_VIRTUAL)
        *miniport = "ramdisk-phys";
    else if (strcmp(*miniport, "ramdisk-phys") == 0 && o->sync == CLI_SYNC_VIRTUAL)
        *miniport = "ramdisk";
    if (*device == CLI_DEVICE_DEFAULT)
        *device = strcmp(*miniport, "virtio") == 0 ? CLI_DEVICE_VIRTIO_BLK : CLI_DEVICE_NONE;
    if (*device == CLI_DEVICE_VIRTIO_BLK && o->luns > 1) {
        snprintf(err, errlen, "ustor: --luns=%u: a virtio-blk device has one LUN; use --luns=1 or --device=none", o->luns);
        return CLI_EXIT_USAGE;
    }
    if (*device == CLI_DEVICE_NONE && o->device_opts) {
        snprintf(err, errlen, "ustor: --device-opts=%s: there is no device to apply it to; add --device=virtio-blk",
                 o->device_opts);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

static void (*report_sink)(void *ctx, const char *text);
static void *report_ctx;

void cli_backend_set_report_sink(void (*sink)(void *ctx, const char *text), void *ctx)
{
    report_sink = sink;
    report_ctx = ctx;
}

int cli_backend_open(const struct cli_options *o, unsigned queue_depth, struct cli_adapter *a,
                     char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    const char *miniport;
    enum cli_device device;
    int rc = resolve(o, &miniport, &device, err, errlen);
    if (rc)
        return rc;
    char msg[512] = "";
    const char *default_args = NULL;

    if (cli_miniport_is_path(miniport)) {
        snprintf(a->source, sizeof(a->source), "%s", miniport);
        rc = ustor_driver_load(miniport, &a->drv, msg, sizeof(msg));
        if (rc < 0) {
            if (strstr(msg, miniport)) /* the message names the file already */
                snprintf(err, errlen, "ustor: %s", msg);
            else
                snprintf(err, errlen, "ustor: cannot load miniport %s: %s", miniport, msg);
            return CLI_EXIT_LOAD;
        }
    } else {
        struct cli_builtin b;
        if (!builtin_find(miniport, &b)) {
            char names[256] = "";
            struct cli_builtin each;
            for (size_t i = 0; i < builtin_count() && builtin_at(i, &each); i++)
                append(names, sizeof(names), i ? ", %s" : "%s", each.name);
            snprintf(err, errlen, "ustor: --miniport=%s: no such built-in miniport; expected one of %s, "
                                  "or a path to a shared object (containing '/' or ending in .so)",
                     miniport, names[0] ? names : "(none built in)");
            return CLI_EXIT_USAGE;
        }
        snprintf(a->source, sizeof(a->source), "built-in");
        default_args = b.default_args;
        rc = ustor_driver_from_entry(b.entry, b.name, &a->drv, msg, sizeof(msg));
        if (rc < 0) {
            snprintf(err, errlen, "ustor: built-in miniport %s failed to load: %s", miniport, msg);
            return CLI_EXIT_LOAD;
        }
    }
    snprintf(a->miniport, sizeof(a->miniport), "%s", miniport);
    snprintf(a->device, sizeof(a->device), "%s", cli_device_name(device));

    /* argument string: defaults, then ours, then the user's raw extras
     * (later keys win in the miniports' parsers). */
    char *as = a->argument_string;
    size_t asl = sizeof(a->argument_string);
    if (default_args && *default_args)
        append(as, asl, "%s;", default_args);
    if (device != CLI_DEVICE_VIRTIO_BLK) {
        /* a device-backed miniport learns its capacity from the device */
        char num[32];
        snprintf(num, sizeof(num), "%u", o->luns);
        append(as, asl, "luns=%s;", num);
        snprintf(num, sizeof(num), "%" PRIu64, o->size);
        append(as, asl, "size=%s;", num);
    }
    if (o->sync != CLI_SYNC_DEFAULT && o->sync != CLI_SYNC_VIRTUAL)
        append(as, asl, "sync=%s;", cli_sync_name(o->sync));
    if (o->miniport_args && *o->miniport_args)
        append(as, asl, "%s;", o->miniport_args);
    size_t aslen = strlen(as);
    if (aslen && as[aslen - 1] == ';')
        as[aslen - 1] = '\0';

    if (device == CLI_DEVICE_VIRTIO_BLK) {
        struct ustor_virtio_blk_config vc = {
            .capacity_sectors = o->size / 512,
            .options = o->device_opts,
            .seed = o->randseed,
        };
        a->dev = ustor_virtio_blk_create(&vc, msg, sizeof(msg));
        if (!a->dev) {
            snprintf(err, errlen, "ustor: cannot create the virtio-blk device: %s", msg);
            cli_backend_close(a);
            return CLI_EXIT_USAGE;
        }
    }

    struct ustor_adapter_config cfg = {
        .argument_string = a->argument_string,
        .nr_cpus = o->cpus,
        .max_requests = 0,
        .device = a->dev,
        .verifier = o->verifier,
        .warnings_are_errors = o->verifier_warnings_fail,
        .lock_graph = o->lock_graph,
        .collect_stats = true,
        .report_sink = report_sink,
        .report_ctx = report_ctx,
    };
    unsigned want = queue_depth * o->luns;
    if (want > 1024)
        cfg.max_requests = want;
    rc = ustor_adapter_create(a->drv, &cfg, &a->ad, msg, sizeof(msg));
    if (rc < 0) {
        snprintf(err, errlen, "ustor: miniport %s failed to start: %s", a->miniport, msg);
        cli_backend_close(a);
        return CLI_EXIT_LOAD;
    }

    struct ustor_blk_options bo = {
        .queue_depth = queue_depth,
        .close_wait_ms = 2000,
    };
    a->timeout_s = USTOR_BLK_DEFAULT_TIMEOUT_S;
    for (unsigned i = 0; i < o->luns; i++) {
        rc = ustor_blk_open(a->ad, 0, 0, (uint8_t)i, &bo, &a->lun[i], msg, sizeof(msg));
        if (rc < 0) {
            /* with --verifier=fatal a violation stops the adapter, and the
             * LUN cannot open: the violation is the cause to report */
            uint64_t violations = ustor_adapter_violations(a->ad);
            snprintf(err, errlen, "ustor: LUN %u of miniport %s could not be opened: %s%s", i,
                     a->miniport, msg,
                     violations ? " (the verifier reported violations first; see above)" : "");
            cli_backend_close(a);
            return violations ? CLI_EXIT_VERIFIER : CLI_EXIT_LOAD;
        }
        a->nluns++;
    }
    return CLI_EXIT_OK;
}

bool cli_backend_device_stats(const struct cli_adapter *a, struct ustor_hw_stats *out)
{
    return a->dev && ustor_hw_device_stats(a->dev, out) == 0;
}

void cli_backend_close(struct cli_adapter *a)
{
    for (unsigned i = 0; i < a->nluns; i++)
        ustor_blk_close(a->lun[i]);
    a->nluns = 0;
    if (a->ad)
        ustor_adapter_destroy(a->ad);
    a->ad = NULL;
    if (a->dev && a->dev->ops && a->dev->ops->destroy)
        a->dev->ops->destroy(a->dev->dev);
    a->dev = NULL;
    if (a->drv)
        ustor_driver_unload(a->drv);
    a->drv = NULL;
}

void cli_backend_list(FILE *f)
{
    fprintf(f, "built-in miniports:\n");
    struct cli_builtin b;
    size_t n = builtin_count();
    for (size_t i = 0; i < n && builtin_at(i, &b); i++)
        fprintf(f, "  %-16s %-9s %s\n", b.name, b.virtual_miniport ? "virtual" : "physical",
                b.description ? b.description : "");
    if (n == 0)
        fprintf(f, "  (none built in)\n");
    fprintf(f, "device models:\n");
    fprintf(f, "  %-16s %-9s %s\n", "none", "", "no device (virtual miniports, or an interrupt line only)");
    for (const struct ustor_hw_model_info *m = ustor_hw_list(); m && m->name; m++)
        fprintf(f, "  %-16s %-9s %s\n", m->name, "", m->description ? m->description : "");
}
