/*
 * cli_backend.h - everything ustor needs from the rest of ustorport
 * (built-in miniport table, device models, adapter, block layer) in one
 * place, so the front end is independent of how those are spelled.
 */
#ifndef USTOR_CLI_BACKEND_H
#define USTOR_CLI_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <ustor/block.h>
#include <ustor/hw.h>
#include <ustor/ustor.h>

#include "cli_args.h"

#define CLI_MAX_LUNS 255

struct cli_adapter {
    ustor_driver *drv;
    ustor_adapter *ad;
    struct ustor_bus_device *dev;
    ustor_blk_dev *lun[CLI_MAX_LUNS];
    unsigned nluns;
    char miniport[64];         /* built-in name or the path */
    char source[256];          /* "built-in" or the path */
    char device[32];
    char argument_string[1024];
    unsigned timeout_s;        /* SRB timeout used by the block layer */
};

/* What `ustor run` / `ustor info` use when --miniport / --device are not
 * given: the "virtio" built-in on a virtio-blk device when both exist,
 * else the "ramdisk" built-in with no device. */
void cli_default_miniport(const char **miniport, enum cli_device *device);

/* True when the miniport argument names a shared object, not a built-in. */
bool cli_miniport_is_path(const char *name);

/* Loads the miniport, creates the device and the adapter and opens every
 * LUN.  queue_depth is per LUN.  Returns CLI_EXIT_OK, or CLI_EXIT_USAGE /
 * CLI_EXIT_LOAD with a sentence in err (what failed and what it returned);
 * on failure everything already made is torn down. */
int cli_backend_open(const struct cli_options *o, unsigned queue_depth, struct cli_adapter *a,
                     char *err, size_t errlen);
/* Verifier reports of adapters opened from now on go to sink (NULL:
 * stderr). */
void cli_backend_set_report_sink(void (*sink)(void *ctx, const char *text), void *ctx);
/* The simulated device's counters (requests, interrupts, faults fired);
 * false when the adapter has no device. */
bool cli_backend_device_stats(const struct cli_adapter *a, struct ustor_hw_stats *out);
/* Closes the LUNs, destroys the adapter and the device, unloads. */
void cli_backend_close(struct cli_adapter *a);

/* `ustor list` */
void cli_backend_list(FILE *f);

#endif
