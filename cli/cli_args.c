/*
 * cli_args.c - option parsing for ustor.  Values use fio's syntax so that
 * fio job knowledge carries over (see docs/cli.md).
 */
#include "cli_args.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const rw_names[CLI_RW_COUNT] = {
    "read", "write", "randread", "randwrite", "randrw", "rw",
};
static const char *const verify_names[] = { "0", "crc32c", "md5", "pattern" };
static const char *const device_names[] = { "default", "none", "virtio-blk" };
static const char *const sync_names[] = { "default", "half", "full", "concurrent", "virtual" };
static const char *const verifier_names[] = { "off", "log", "fatal" };

const char *cli_rw_name(enum cli_rw rw) { return rw < CLI_RW_COUNT ? rw_names[rw] : "?"; }
const char *cli_verify_name(enum cli_verify v) { return v <= CLI_VERIFY_PATTERN ? verify_names[v] : "?"; }
const char *cli_device_name(enum cli_device d) { return d <= CLI_DEVICE_VIRTIO_BLK ? device_names[d] : "?"; }
const char *cli_sync_name(enum cli_sync s) { return s <= CLI_SYNC_VIRTUAL ? sync_names[s] : "?"; }
const char *cli_verifier_name(enum ustor_verifier_mode m)
{
    return (unsigned)m <= USTOR_VERIFIER_FATAL ? verifier_names[m] : "?";
}

void cli_options_default(struct cli_options *o)
{
    memset(o, 0, sizeof(*o));
    o->device = CLI_DEVICE_DEFAULT;
    o->luns = 1;
    o->size = 64ull << 20;
    o->rw = CLI_RW_RANDRW;
    o->rwmixread = 50;
    o->bs = 4096;
    o->iodepth = 16;
    o->numjobs = 2;
    o->runtime_ms = 10000;
    o->randseed = 0x5eed;
    o->verify = CLI_VERIFY_CRC32C;
    o->verifier = USTOR_VERIFIER_LOG;
}

/* Accumulates digits; -1 on overflow or no digits. */
static int parse_digits(const char **sp, uint64_t *out)
{
    const char *s = *sp;
    uint64_t v = 0;
    if (!isdigit((unsigned char)*s))
        return -1;
    while (isdigit((unsigned char)*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        s++;
    }
    *sp = s;
    *out = v;
    return 0;
}

int cli_parse_size(const char *s, uint64_t *out)
{
    uint64_t v;
    if (!s || parse_digits(&s, &v) < 0)
        return -1;
    unsigned shift = 0;
    switch (tolower((unsigned char)*s)) {
    case '\0': break;
    case 'k': shift = 10; break;
    case 'm': shift = 20; break;
    case 'g': shift = 30; break;
    case 't': shift = 40; break;
    case 'p': shift = 50; break;
    case 'b': if (s[1] == '\0') { *out = v; return 0; } return -1;
    default: return -1;
    }
    if (shift) {
        s++;
        if (tolower((unsigned char)*s) == 'i' && tolower((unsigned char)s[1]) == 'b')
            s += 2;
        else if (tolower((unsigned char)*s) == 'b')
            s++;
        if (*s)
            return -1;
        if (v > (UINT64_MAX >> shift))
            return -1;
        v <<= shift;
    }
    *out = v;
    return 0;
}

int cli_parse_time_ms(const char *s, uint64_t *out)
{
    uint64_t v;
    if (!s || parse_digits(&s, &v) < 0)
        return -1;
    static const struct { const char *unit; uint64_t ms; bool micro; } units[] = {
        { "", 1000, false }, { "s", 1000, false }, { "sec", 1000, false },
        { "ms", 1, false }, { "msec", 1, false },
        { "us", 1, true }, { "usec", 1, true },
        { "m", 60000, false }, { "min", 60000, false },
        { "h", 3600000, false }, { "hr", 3600000, false }, { "d", 86400000, false },
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(s, units[i].unit) != 0)
            continue;
        if (units[i].micro) {
            *out = v / 1000 + (v % 1000 != 0);
            return 0;
        }
        if (v > UINT64_MAX / units[i].ms)
            return -1;
        *out = v * units[i].ms;
        return 0;
    }
    return -1;
}

int cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v;
    if (!s || parse_digits(&s, &v) < 0 || *s || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

void cli_format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char suffix[] = "kMGTP";
    int i = -1;
    while (bytes && bytes % 1024 == 0 && i < 4) {
        bytes /= 1024;
        i++;
    }
    if (i < 0)
        snprintf(buf, len, "%" PRIu64, bytes);
    else
        snprintf(buf, len, "%" PRIu64 "%c", bytes, suffix[i]);
}

/* ---- the option table ------------------------------------------------ */

enum opt_id {
    OPT_HELP, OPT_VERSION, OPT_MINIPORT, OPT_DEVICE, OPT_LUNS, OPT_SIZE, OPT_SYNC,
    OPT_MINIPORT_ARGS, OPT_RW, OPT_RWMIXREAD, OPT_BS, OPT_IODEPTH, OPT_NUMJOBS,
    OPT_RUNTIME, OPT_NUMBER_IOS, OPT_OFFSET, OPT_RANDSEED, OPT_VERIFY, OPT_VERIFIER,
    OPT_VERIFIER_WARNINGS_FAIL, OPT_LOCK_GRAPH, OPT_DEVICE_OPTS, OPT_CPUS,
    OPT_HANG_TIMEOUT, OPT_JSON, OPT_QUIET,
};

struct opt_def {
    const char *name;
    enum opt_id id;
    bool takes_value;
};

static const struct opt_def opts[] = {
    { "help", OPT_HELP, false },
    { "version", OPT_VERSION, false },
    { "miniport", OPT_MINIPORT, true },
    { "device", OPT_DEVICE, true },
    { "luns", OPT_LUNS, true },
    { "size", OPT_SIZE, true },
    { "sync", OPT_SYNC, true },
    { "miniport-args", OPT_MINIPORT_ARGS, true },
    { "rw", OPT_RW, true },
    { "readwrite", OPT_RW, true },
    { "rwmixread", OPT_RWMIXREAD, true },
    { "bs", OPT_BS, true },
    { "blocksize", OPT_BS, true },
    { "iodepth", OPT_IODEPTH, true },
    { "numjobs", OPT_NUMJOBS, true },
    { "runtime", OPT_RUNTIME, true },
    { "number_ios", OPT_NUMBER_IOS, true },
    { "offset", OPT_OFFSET, true },
    { "randseed", OPT_RANDSEED, true },
    { "verify", OPT_VERIFY, true },
    { "verifier", OPT_VERIFIER, true },
    { "verifier-warnings-fail", OPT_VERIFIER_WARNINGS_FAIL, false },
    { "lock-graph", OPT_LOCK_GRAPH, false },
    { "device-opts", OPT_DEVICE_OPTS, true },
    { "cpus", OPT_CPUS, true },
    { "hang-timeout", OPT_HANG_TIMEOUT, true },
    { "json", OPT_JSON, false },
    { "quiet", OPT_QUIET, false },
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(err, errlen, "ustor: ");
    if (n >= 0 && (size_t)n < errlen)
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* Matches a value against a list of names; on failure lists them. */
static int pick(const char *opt, const char *val, const char *what,
                const char *const *names, size_t count, int *out, char *err, size_t errlen)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(val, names[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    char list[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        int n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", names[i]);
        if (n < 0 || (size_t)n >= sizeof(list) - used)
            break;
        used += (size_t)n;
    }
    return fail(err, errlen, "--%s=%s: unknown %s; expected one of %s", opt, val, what, list);
}

static int apply(struct cli_options *o, const struct opt_def *d, const char *v, char *err, size_t errlen)
{
    uint64_t n;
    int idx;
    switch (d->id) {
    case OPT_HELP: o->help = true; return 0;
    case OPT_VERSION: o->version = true; return 0;
    case OPT_JSON: o->json = true; return 0;
    case OPT_QUIET: o->quiet = true; return 0;
    case OPT_LOCK_GRAPH: o->lock_graph = true; return 0;
    case OPT_VERIFIER_WARNINGS_FAIL: o->verifier_warnings_fail = true; return 0;
    case OPT_MINIPORT:
        if (!*v)
            return fail(err, errlen, "--miniport=: empty; expected a built-in name (see ustor list) or a path to a .so");
        o->miniport = v;
        return 0;
    case OPT_MINIPORT_ARGS: o->miniport_args = v; return 0;
    case OPT_DEVICE_OPTS: o->device_opts = v; return 0;
    case OPT_DEVICE: {
        static const char *const names[] = { "none", "virtio-blk" };
        if (pick(d->name, v, "device", names, 2, &idx, err, errlen) < 0)
            return -1;
        o->device = idx == 0 ? CLI_DEVICE_NONE : CLI_DEVICE_VIRTIO_BLK;
        return 0;
    }
    case OPT_SYNC:
        if (pick(d->name, v, "sync mode", sync_names + 1, 4, &idx, err, errlen) < 0)
            return -1;
        o->sync = (enum cli_sync)(idx + 1);
        return 0;
    case OPT_RW:
        if (pick(d->name, v, "workload", rw_names, CLI_RW_COUNT, &idx, err, errlen) < 0)
            return -1;
        o->rw = (enum cli_rw)idx;
        return 0;
    case OPT_VERIFY:
        if (strcmp(v, "none") == 0 || strcmp(v, "off") == 0)
            v = "0";
        if (pick(d->name, v, "verify method", verify_names, 4, &idx, err, errlen) < 0)
            return -1;
        o->verify = (enum cli_verify)idx;
        return 0;
    case OPT_VERIFIER:
        if (pick(d->name, v, "verifier mode", verifier_names, 3, &idx, err, errlen) < 0)
            return -1;
        o->verifier = (enum ustor_verifier_mode)idx;
        return 0;
    case OPT_LUNS:
        if (cli_parse_uint(v, 1, 255, &n) < 0)
            return fail(err, errlen, "--luns=%s: expected a whole number from 1 to 255", v);
        o->luns = (unsigned)n;
        return 0;
    case OPT_RWMIXREAD:
        if (cli_parse_uint(v, 0, 100, &n) < 0)
            return fail(err, errlen, "--rwmixread=%s: expected a percentage from 0 to 100", v);
        o->rwmixread = (unsigned)n;
        return 0;
    case OPT_IODEPTH:
        if (cli_parse_uint(v, 1, 4096, &n) < 0)
            return fail(err, errlen, "--iodepth=%s: expected a whole number from 1 to 4096", v);
        o->iodepth = (unsigned)n;
        return 0;
    case OPT_NUMJOBS:
        if (cli_parse_uint(v, 1, 256, &n) < 0)
            return fail(err, errlen, "--numjobs=%s: expected a whole number from 1 to 256", v);
        o->numjobs = (unsigned)n;
        return 0;
    case OPT_CPUS:
        if (cli_parse_uint(v, 1, 1024, &n) < 0)
            return fail(err, errlen, "--cpus=%s: expected a whole number from 1 to 1024", v);
        o->cpus = (unsigned)n;
        return 0;
    case OPT_NUMBER_IOS:
        if (cli_parse_uint(v, 0, UINT64_MAX, &n) < 0)
            return fail(err, errlen, "--number_ios=%s: expected a whole number (0: no limit)", v);
        o->number_ios = n;
        return 0;
    case OPT_RANDSEED:
        if (cli_parse_uint(v, 0, UINT64_MAX, &n) < 0)
            return fail(err, errlen, "--randseed=%s: expected a whole number", v);
        o->randseed = n;
        return 0;
    case OPT_SIZE:
        if (cli_parse_size(v, &n) < 0 || n == 0)
            return fail(err, errlen, "--size=%s: expected a size in bytes with an optional k, M, G, T suffix, e.g. 64M", v);
        o->size = n;
        return 0;
    case OPT_OFFSET:
        if (cli_parse_size(v, &n) < 0)
            return fail(err, errlen, "--offset=%s: expected a size in bytes with an optional k, M, G suffix, e.g. 1M", v);
        o->offset = n;
        return 0;
    case OPT_BS:
        if (cli_parse_size(v, &n) < 0 || n < 512 || n % 512 || n > (16u << 20))
            return fail(err, errlen, "--bs=%s: expected a multiple of 512 from 512 to 16M, e.g. 4k", v);
        o->bs = n;
        return 0;
    case OPT_RUNTIME:
        if (cli_parse_time_ms(v, &n) < 0 || n == 0)
            return fail(err, errlen, "--runtime=%s: expected a time above zero: seconds, or a number with us, ms, s, m, h, e.g. 10 or 500ms", v);
        o->runtime_ms = n;
        return 0;
    case OPT_HANG_TIMEOUT:
        if (cli_parse_time_ms(v, &n) < 0 || n == 0)
            return fail(err, errlen, "--hang-timeout=%s: expected a time above zero: seconds, or a number with ms, s, m, e.g. 10", v);
        o->hang_timeout_ms = n;
        return 0;
    }
    return fail(err, errlen, "--%s: internal error", d->name);
}

int cli_parse(int argc, char **argv, struct cli_options *o, char *err, size_t errlen)
{
    cli_options_default(o);
    if (errlen)
        err[0] = '\0';
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || arg[1] == '\0') {
            if (o->command != CLI_CMD_NONE)
                return fail(err, errlen, "%s: unexpected argument; the command is already %s",
                            arg, o->command == CLI_CMD_RUN ? "run" : o->command == CLI_CMD_INFO ? "info" : "list");
            if (strcmp(arg, "run") == 0)
                o->command = CLI_CMD_RUN;
            else if (strcmp(arg, "info") == 0)
                o->command = CLI_CMD_INFO;
            else if (strcmp(arg, "list") == 0)
                o->command = CLI_CMD_LIST;
            else if (strcmp(arg, "help") == 0)
                o->help = true;
            else
                return fail(err, errlen, "%s: unknown command; expected one of run, info, list, help", arg);
            continue;
        }
        if (strcmp(arg, "-h") == 0) {
            o->help = true;
            continue;
        }
        if (strcmp(arg, "-V") == 0) {
            o->version = true;
            continue;
        }
        if (arg[1] != '-')
            return fail(err, errlen, "%s: unknown option; options are long (--name=value), see ustor --help", arg);
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt_def *d = NULL;
        for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
            if (strlen(opts[k].name) == nlen && strncmp(opts[k].name, name, nlen) == 0) {
                d = &opts[k];
                break;
            }
        }
        if (!d)
            return fail(err, errlen, "--%.*s: unknown option; see ustor --help", (int)nlen, name);
        const char *value = NULL;
        if (d->takes_value) {
            if (eq) {
                value = eq + 1;
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                return fail(err, errlen, "--%s: missing value", d->name);
            }
        } else if (eq) {
            return fail(err, errlen, "--%s takes no value (got \"%s\")", d->name, eq + 1);
        }
        if (apply(o, d, value, err, errlen) < 0)
            return -1;
    }
    if (o->command == CLI_CMD_NONE && !o->help && !o->version)
        return fail(err, errlen, "no command; expected one of run, info, list (see ustor --help)");
    if (o->bs > o->size)
        return fail(err, errlen, "--bs=%" PRIu64 " is larger than --size=%" PRIu64 "; the block size must fit in a LUN", o->bs, o->size);
    if (o->offset % o->bs || o->offset >= o->size)
        return fail(err, errlen, "--offset=%" PRIu64 ": expected a multiple of --bs below --size (%" PRIu64 ")", o->offset, o->size);
    return 0;
}

void cli_print_usage(FILE *f)
{
    fputs(
"usage: ustor run  [options]   run a workload against a miniport and report\n"
"       ustor info [options]   show what the adapter and each LUN report\n"
"       ustor list             built-in miniports and device models\n"
"       ustor serve [options]  serve one LUN over NBD through nbdkit (docs/nbd.md)\n"
"       ustor --help | --version\n"
"\n"
"Both --opt=value and --opt value are accepted.\n"
"\n"
"Adapter:\n"
"  --miniport=NAME|PATH  built-in name (ustor list) or a shared object (a value\n"
"                        with '/' or ending in .so is a path)\n"
"  --device=none|virtio-blk  simulated device (default: virtio-blk with the\n"
"                        virtio miniport if built in, else ramdisk, no device)\n"
"  --luns=N              LUNs (default 1)\n"
"  --size=BYTES          capacity per LUN, fio size syntax: 64M, 1G (default 64M)\n"
"  --sync=half|full|concurrent|virtual  synchronization model asked of the miniport\n"
"  --miniport-args=STR   extra miniport argument string (key=value;...)\n"
"  --device-opts=STR     device latency/faults, e.g. \"latency=exp:20us;seed=7\"\n"
"  --cpus=N              simulated CPUs (default: online CPUs)\n"
"\n"
"Workload (fio names and value syntax):\n"
"  --rw=read|write|randread|randwrite|randrw|rw  (default randrw)\n"
"  --rwmixread=PCT       reads in mixed workloads (default 50)\n"
"  --bs=SIZE             I/O size (default 4k)\n"
"  --iodepth=N           I/Os in flight per job (default 16)\n"
"  --numjobs=N           submitting threads (default 2)\n"
"  --runtime=TIME        10, 10s, 500ms, 1m (default 10s)\n"
"  --number_ios=N        stop after N I/Os in all (default: no limit)\n"
"  --offset=SIZE         start of the region used in each LUN (default 0)\n"
"  --randseed=N          seed for offsets and data patterns\n"
"  --verify=crc32c|md5|pattern|0  check every read against what was written\n"
"                        (default crc32c)\n"
"\n"
"Checking:\n"
"  --verifier=off|log|fatal  Storport rule verifier (default log)\n"
"  --verifier-warnings-fail  warnings count as violations\n"
"  --lock-graph          lock-order graph (potential deadlocks)\n"
"  --hang-timeout=TIME   no completion for this long is a hang (default\n"
"                        max(10s, 2x the request timeout))\n"
"\n"
"Output:\n"
"  --json                one JSON document on stdout (docs/json-schema.md)\n"
"  --quiet               no progress line\n"
"\n"
"Exit status:\n"
"  0  success\n"
"  1  I/O errors or data mismatches\n"
"  2  usage error (bad option or value)\n"
"  3  verifier violations (errors; warnings too with --verifier-warnings-fail)\n"
"  4  miniport failed to load or start\n"
"  5  miniport crashed or hung\n"
"  When several apply the highest number wins.\n", f);
}
