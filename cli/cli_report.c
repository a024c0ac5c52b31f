/* cli_report.c - text and JSON renderings of a run (see cli_report.h). */
#include "cli_report.h"

#include <inttypes.h>
#include <string.h>

#include "cli_json.h"

#ifndef USTOR_VERSION
#define USTOR_VERSION "0.0.0"
#endif

static const char *const dir_names[CLI_DIR_COUNT] = { "read", "write" };

int cli_result_exit_status(const struct cli_result *r)
{
    if (r->exit_status >= CLI_EXIT_LOAD)
        return r->exit_status;
    uint64_t violations = r->violation_errors;
    if (r->opt && r->opt->verifier_warnings_fail)
        violations += r->violation_warnings;
    if (violations)
        return CLI_EXIT_VERIFIER;
    if (r->mismatches || r->dir[CLI_DIR_READ].errors || r->dir[CLI_DIR_WRITE].errors)
        return CLI_EXIT_IO;
    return CLI_EXIT_OK;
}

static const char *exit_status_meaning(int status)
{
    switch (status) {
    case CLI_EXIT_OK: return "success";
    case CLI_EXIT_IO: return "I/O errors or data mismatches";
    case CLI_EXIT_USAGE: return "usage error";
    case CLI_EXIT_VERIFIER: return "verifier violations";
    case CLI_EXIT_LOAD: return "miniport failed to load or start";
    case CLI_EXIT_CRASH: return "miniport crashed or hung";
    }
    return "?";
}

void cli_interrupt_mode(const struct ustor_adapter_info *info, char *buf, size_t len)
{
    if (info->virtual_miniport)
        snprintf(buf, len, "none (virtual miniport)");
    else if (info->msi)
        snprintf(buf, len, "MSI-X, %" PRIu32 " message%s, %s", info->interrupt_messages,
                 info->interrupt_messages == 1 ? "" : "s",
                 info->per_message_interrupts ? "per-message locks" : "one lock for all messages");
    else
        snprintf(buf, len, "INTx (line-based)");
}

static double rate(uint64_t n, double secs) { return secs > 0 ? (double)n / secs : 0.0; }
static double mib(uint64_t bytes) { return (double)bytes / (1024.0 * 1024.0); }
static double us(uint64_t ns) { return (double)ns / 1000.0; }

struct dir_view {
    const char *name;
    uint64_t ios, bytes, errors;
    const struct cli_hist *lat;
};

static void views(const struct cli_result *r, struct dir_view v[3])
{
    v[0] = (struct dir_view){ "total",
        r->dir[0].ios + r->dir[1].ios, r->dir[0].bytes + r->dir[1].bytes,
        r->dir[0].errors + r->dir[1].errors, &r->lat_all };
    for (int d = 0; d < CLI_DIR_COUNT; d++)
        v[d + 1] = (struct dir_view){ dir_names[d], r->dir[d].ios, r->dir[d].bytes,
                                      r->dir[d].errors, &r->dir[d].lat };
}

static void text_options(FILE *f, const struct cli_options *o)
{
    char bs[32], size[32];
    cli_format_size(o->bs, bs, sizeof(bs));
    cli_format_size(o->size, size, sizeof(size));
    fprintf(f, "workload: %s %s", cli_rw_name(o->rw), bs);
    if (o->rw == CLI_RW_RANDRW || o->rw == CLI_RW_RW)
        fprintf(f, " (%u%% reads)", o->rwmixread);
    fprintf(f, ", iodepth %u x %u job%s, %u LUN%s of %s, verify %s\n", o->iodepth, o->numjobs,
            o->numjobs == 1 ? "" : "s", o->luns, o->luns == 1 ? "" : "s", size,
            o->verify == CLI_VERIFY_NONE ? "off" : cli_verify_name(o->verify));
}

/* What the simulated device did, so a run with --device-opts faults shows
 * which faults fired next to how the port and the miniport coped. */
static void text_device(FILE *f, const char *name, const struct ustor_hw_stats *d)
{
    fprintf(f, "\ndevice (%s)\n", name);
    fprintf(f, "  requests %" PRIu64 " (reads %" PRIu64 ", writes %" PRIu64 ", flushes %" PRIu64
               ", other %" PRIu64 "), errors %" PRIu64 ", malformed %" PRIu64 ", DMA faults %" PRIu64 "\n",
            d->requests, d->reads, d->writes, d->flushes, d->others, d->errors, d->bad_requests, d->dma_faults);
    fprintf(f, "  interrupts raised %" PRIu64 ", dropped %" PRIu64 ", delayed %" PRIu64 ", spurious %" PRIu64 "\n",
            d->irqs_raised, d->irqs_dropped, d->irqs_delayed, d->irqs_spurious);
    fprintf(f, "  commands lost to device resets %" PRIu64 ", held by the device at the end %" PRIu64 "\n",
            d->dropped_by_reset, d->in_flight);
    fprintf(f, "  faults injected   ");
    bool any = false;
    for (int k = 0; k < USTOR_HW_FAULT_COUNT; k++) {
        if (!d->faults[k])
            continue;
        fprintf(f, "%s%s %" PRIu64, any ? ", " : "", ustor_hw_fault_name((enum ustor_hw_fault)k), d->faults[k]);
        any = true;
    }
    fprintf(f, "%s\n", any ? "" : "none");
}

static void json_device(struct cli_json *j, const struct ustor_hw_stats *d)
{
    cli_json_object_begin(j, "device");
    cli_json_u64(j, "requests", d->requests);
    cli_json_u64(j, "reads", d->reads);
    cli_json_u64(j, "writes", d->writes);
    cli_json_u64(j, "flushes", d->flushes);
    cli_json_u64(j, "others", d->others);
    cli_json_u64(j, "bytes_read", d->bytes_read);
    cli_json_u64(j, "bytes_written", d->bytes_written);
    cli_json_u64(j, "errors", d->errors);
    cli_json_u64(j, "bad_requests", d->bad_requests);
    cli_json_u64(j, "dma_faults", d->dma_faults);
    cli_json_u64(j, "dropped_by_reset", d->dropped_by_reset);
    cli_json_u64(j, "in_flight", d->in_flight);
    cli_json_object_begin(j, "irqs");
    cli_json_u64(j, "raised", d->irqs_raised);
    cli_json_u64(j, "dropped", d->irqs_dropped);
    cli_json_u64(j, "delayed", d->irqs_delayed);
    cli_json_u64(j, "spurious", d->irqs_spurious);
    cli_json_object_end(j);
    cli_json_object_begin(j, "faults");
    for (int k = 0; k < USTOR_HW_FAULT_COUNT; k++)
        cli_json_u64(j, ustor_hw_fault_name((enum ustor_hw_fault)k), d->faults[k]);
    cli_json_object_end(j);
    cli_json_object_end(j);
}

void cli_report_text(FILE *f, const struct cli_result *r)
{
    const struct cli_options *o = r->opt;
    if (o)
        text_options(f, o);
    fprintf(f, "\nadapter\n");
    fprintf(f, "  miniport            %s (%s)\n", r->miniport, r->miniport_source);
    fprintf(f, "  device              %s\n", r->device);
    if (r->have_info) {
        char irq[96];
        cli_interrupt_mode(&r->info, irq, sizeof(irq));
        fprintf(f, "  sync mode           %s\n", ustor_sync_mode_name(r->info.mode));
        fprintf(f, "  interrupts          %s\n", irq);
        fprintf(f, "  concurrent channels %" PRIu32 "\n", r->info.concurrent_channels);
        fprintf(f, "  SRB type            %s\n", r->info.srbex ? "STORAGE_REQUEST_BLOCK" : "SCSI_REQUEST_BLOCK");
    }
    if (r->luns)
        fprintf(f, "  LUNs                %u x %" PRIu64 " blocks of %" PRIu32 " bytes\n",
                r->luns, r->lun_blocks, r->block_size);

    struct dir_view v[3];
    views(r, v);
    fprintf(f, "\nresults (%.2f s; MiB/s = 2^20 bytes per second)\n", r->elapsed_s);
    fprintf(f, "  %-6s %12s %12s %10s %10s\n", "", "ios", "iops", "MiB/s", "errors");
    for (int i = 0; i < 3; i++)
        fprintf(f, "  %-6s %12" PRIu64 " %12.1f %10.2f %10" PRIu64 "\n", v[i].name, v[i].ios,
                rate(v[i].ios, r->elapsed_s), mib(v[i].bytes) / (r->elapsed_s > 0 ? r->elapsed_s : 1),
                v[i].errors);

    fprintf(f, "\nlatency (us, submit to completion)\n");
    fprintf(f, "  %-6s %10s %10s %10s %10s %10s %10s %10s\n", "", "min", "mean", "p50", "p90",
            "p99", "p99.9", "max");
    for (int i = 0; i < 3; i++) {
        const struct cli_hist *h = v[i].lat;
        if (!h->count) {
            fprintf(f, "  %-6s %10s\n", v[i].name, "-");
            continue;
        }
        fprintf(f, "  %-6s %10.1f %10.1f %10.1f %10.1f %10.1f %10.1f %10.1f\n", v[i].name,
                us(h->min), cli_hist_mean(h) / 1000.0, us(cli_hist_percentile(h, 50)),
                us(cli_hist_percentile(h, 90)), us(cli_hist_percentile(h, 99)),
                us(cli_hist_percentile(h, 99.9)), us(h->max));
    }

    fprintf(f, "\ndata\n");
    fprintf(f, "  verified reads      %" PRIu64 "\n", r->verified_reads);
    fprintf(f, "  unchecked reads     %" PRIu64 " (blocks not yet written)\n", r->unverified_reads);
    fprintf(f, "  mismatches          %" PRIu64 "\n", r->mismatches);
    if (r->first_mismatch[0])
        fprintf(f, "  first mismatch      %s\n", r->first_mismatch);
    if (r->first_error[0])
        fprintf(f, "  first error         %s\n", r->first_error);

    if (r->have_stats) {
        const struct ustor_stats *s = &r->stats;
        fprintf(f, "\nport\n  submitted %" PRIu64 ", completed %" PRIu64 ", busy reissues %" PRIu64
                   ", timeouts %" PRIu64 ", bus resets %" PRIu64 ", errors %" PRIu64 "\n",
                s->submitted, s->completed, s->busy_reissues, s->timeouts, s->bus_resets, s->errors);
        fprintf(f, "\nminiport routines\n  %-32s %12s %12s %10s %10s\n", "routine", "calls",
                "total ms", "avg us", "max us");
        for (unsigned i = 0; i < s->nr_routines && i < USTOR_MAX_STATS_ROUTINES; i++) {
            const struct ustor_routine_stats *rt = &s->routines[i];
            fprintf(f, "  %-32s %12" PRIu64 " %12.3f %10.2f %10.2f\n", rt->name ? rt->name : "?",
                    rt->calls, (double)rt->total_ns / 1e6,
                    rt->calls ? us(rt->total_ns) / (double)rt->calls : 0.0, us(rt->max_ns));
        }
        fprintf(f, "\nstorport locks\n  %-32s %12s %11s %12s %12s\n", "lock", "acquisitions",
                "contention", "hold avg us", "hold max us");
        for (unsigned i = 0; i < s->nr_locks && i < USTOR_MAX_STATS_LOCKS; i++) {
            const struct ustor_lock_stats *lk = &s->locks[i];
            double pct = lk->acquisitions ? 100.0 * (double)lk->contended / (double)lk->acquisitions : 0.0;
            fprintf(f, "  %-32s %12" PRIu64 " %10.2f%% %12.3f %12.3f\n", lk->name ? lk->name : "?",
                    lk->acquisitions, pct,
                    lk->acquisitions ? us(lk->hold_total_ns) / (double)lk->acquisitions : 0.0,
                    us(lk->hold_max_ns));
        }
    }

    if (r->have_device_stats)
        text_device(f, r->device, &r->device_stats);

    fprintf(f, "\nverifier (%s): %" PRIu64 " error%s, %" PRIu64 " warning%s\n",
            o ? cli_verifier_name(o->verifier) : "?", r->violation_errors,
            r->violation_errors == 1 ? "" : "s", r->violation_warnings,
            r->violation_warnings == 1 ? "" : "s");
    for (unsigned i = 0; i < r->nr_rules && i < CLI_MAX_VIOLATION_RULES; i++)
        fprintf(f, "  %-28s %-7s %8" PRIu64 "  %s\n", r->rules[i].rule ? r->rules[i].rule : "?",
                r->rules[i].warning ? "warning" : "error", r->rules[i].count,
                r->rules[i].first_report ? r->rules[i].first_report : "");

    if (r->failure[0])
        fprintf(f, "\nfailure: %s\n", r->failure);
    int status = cli_result_exit_status(r);
    fprintf(f, "\nstatus %d: %s\n", status, exit_status_meaning(status));
}

static void json_dir(struct cli_json *j, const char *key, const struct dir_view *v, double secs)
{
    cli_json_object_begin(j, key);
    cli_json_u64(j, "ios", v->ios);
    cli_json_u64(j, "bytes", v->bytes);
    cli_json_u64(j, "errors", v->errors);
    cli_json_double(j, "iops", rate(v->ios, secs));
    cli_json_double(j, "mib_per_s", secs > 0 ? mib(v->bytes) / secs : 0.0);
    cli_json_object_begin(j, "latency_ns");
    const struct cli_hist *h = v->lat;
    cli_json_u64(j, "count", h->count);
    cli_json_u64(j, "min", h->count ? h->min : 0);
    cli_json_double(j, "mean", cli_hist_mean(h));
    cli_json_u64(j, "p50", cli_hist_percentile(h, 50));
    cli_json_u64(j, "p90", cli_hist_percentile(h, 90));
    cli_json_u64(j, "p99", cli_hist_percentile(h, 99));
    cli_json_u64(j, "p99_9", cli_hist_percentile(h, 99.9));
    cli_json_u64(j, "max", h->max);
    cli_json_object_end(j);
    cli_json_object_end(j);
}

static void json_str_or_null(struct cli_json *j, const char *key, const char *s)
{
    cli_json_string(j, key, s && s[0] ? s : NULL);
}

void cli_report_json(FILE *f, const struct cli_result *r)
{
    struct cli_json j;
    const struct cli_options *o = r->opt;
    cli_json_init(&j, f);
    cli_json_object_begin(&j, NULL);
    cli_json_u64(&j, "schema_version", CLI_JSON_SCHEMA_VERSION);
    cli_json_string(&j, "command", "run");
    cli_json_string(&j, "ustor_version", USTOR_VERSION);
    if (o) {
        cli_json_object_begin(&j, "options");
        cli_json_string(&j, "miniport", o->miniport ? o->miniport : "");
        cli_json_string(&j, "device", cli_device_name(o->device));
        cli_json_u64(&j, "luns", o->luns);
        cli_json_u64(&j, "size_bytes", o->size);
        cli_json_string(&j, "sync", cli_sync_name(o->sync));
        json_str_or_null(&j, "miniport_args", o->miniport_args);
        cli_json_string(&j, "rw", cli_rw_name(o->rw));
        cli_json_u64(&j, "rwmixread", o->rwmixread);
        cli_json_u64(&j, "bs_bytes", o->bs);
        cli_json_u64(&j, "iodepth", o->iodepth);
        cli_json_u64(&j, "numjobs", o->numjobs);
        cli_json_u64(&j, "runtime_ms", o->runtime_ms);
        cli_json_u64(&j, "number_ios", o->number_ios);
        cli_json_u64(&j, "offset_bytes", o->offset);
        cli_json_u64(&j, "randseed", o->randseed);
        cli_json_string(&j, "verify", cli_verify_name(o->verify));
        cli_json_string(&j, "verifier", cli_verifier_name(o->verifier));
        cli_json_bool(&j, "verifier_warnings_fail", o->verifier_warnings_fail);
        cli_json_bool(&j, "lock_graph", o->lock_graph);
        json_str_or_null(&j, "device_opts", o->device_opts);
        cli_json_u64(&j, "cpus", o->cpus);
        cli_json_object_end(&j);
    }

    cli_json_object_begin(&j, "adapter");
    cli_json_string(&j, "miniport", r->miniport);
    cli_json_string(&j, "source", r->miniport_source);
    cli_json_string(&j, "device", r->device);
    if (r->have_info) {
        char irq[96];
        cli_interrupt_mode(&r->info, irq, sizeof(irq));
        cli_json_string(&j, "sync_mode", ustor_sync_mode_name(r->info.mode));
        cli_json_bool(&j, "virtual", r->info.virtual_miniport);
        cli_json_string(&j, "interrupt_mode", irq);
        cli_json_bool(&j, "msi", r->info.msi);
        cli_json_bool(&j, "per_message_interrupts", r->info.per_message_interrupts);
        cli_json_u64(&j, "interrupt_messages", r->info.interrupt_messages);
        cli_json_u64(&j, "concurrent_channels", r->info.concurrent_channels);
        cli_json_u64(&j, "max_transfer_length", r->info.max_transfer_length);
        cli_json_bool(&j, "srbex", r->info.srbex);
    } else {
        cli_json_null(&j, "sync_mode");
    }
    cli_json_u64(&j, "luns", r->luns);
    cli_json_u64(&j, "lun_blocks", r->lun_blocks);
    cli_json_u64(&j, "block_size", r->block_size);
    cli_json_object_end(&j);

    cli_json_double(&j, "elapsed_s", r->elapsed_s);
    struct dir_view v[3];
    views(r, v);
    for (int i = 0; i < 3; i++)
        json_dir(&j, v[i].name, &v[i], r->elapsed_s);

    cli_json_object_begin(&j, "verify");
    cli_json_string(&j, "method", o ? cli_verify_name(o->verify) : "0");
    cli_json_u64(&j, "verified_reads", r->verified_reads);
    cli_json_u64(&j, "unverified_reads", r->unverified_reads);
    cli_json_u64(&j, "mismatches", r->mismatches);
    json_str_or_null(&j, "first_mismatch", r->first_mismatch);
    cli_json_object_end(&j);
    json_str_or_null(&j, "first_error", r->first_error);

    if (r->have_stats) {
        const struct ustor_stats *s = &r->stats;
        cli_json_object_begin(&j, "port");
        cli_json_u64(&j, "submitted", s->submitted);
        cli_json_u64(&j, "completed", s->completed);
        cli_json_u64(&j, "busy_reissues", s->busy_reissues);
        cli_json_u64(&j, "timeouts", s->timeouts);
        cli_json_u64(&j, "bus_resets", s->bus_resets);
        cli_json_u64(&j, "errors", s->errors);
        cli_json_object_end(&j);
        cli_json_array_begin(&j, "routines");
        for (unsigned i = 0; i < s->nr_routines && i < USTOR_MAX_STATS_ROUTINES; i++) {
            const struct ustor_routine_stats *rt = &s->routines[i];
            cli_json_object_begin(&j, NULL);
            cli_json_string(&j, "name", rt->name ? rt->name : "?");
            cli_json_u64(&j, "calls", rt->calls);
            cli_json_u64(&j, "total_ns", rt->total_ns);
            cli_json_u64(&j, "avg_ns", rt->calls ? rt->total_ns / rt->calls : 0);
            cli_json_u64(&j, "max_ns", rt->max_ns);
            cli_json_object_end(&j);
        }
        cli_json_array_end(&j);
        cli_json_array_begin(&j, "locks");
        for (unsigned i = 0; i < s->nr_locks && i < USTOR_MAX_STATS_LOCKS; i++) {
            const struct ustor_lock_stats *lk = &s->locks[i];
            cli_json_object_begin(&j, NULL);
            cli_json_string(&j, "name", lk->name ? lk->name : "?");
            cli_json_u64(&j, "acquisitions", lk->acquisitions);
            cli_json_u64(&j, "contended", lk->contended);
            cli_json_double(&j, "contention_pct",
                            lk->acquisitions ? 100.0 * (double)lk->contended / (double)lk->acquisitions : 0.0);
            cli_json_u64(&j, "hold_avg_ns", lk->acquisitions ? lk->hold_total_ns / lk->acquisitions : 0);
            cli_json_u64(&j, "hold_max_ns", lk->hold_max_ns);
            cli_json_object_end(&j);
        }
        cli_json_array_end(&j);
    } else {
        cli_json_null(&j, "port");
        cli_json_array_begin(&j, "routines");
        cli_json_array_end(&j);
        cli_json_array_begin(&j, "locks");
        cli_json_array_end(&j);
    }
    if (r->have_device_stats)
        json_device(&j, &r->device_stats);
    else
        cli_json_null(&j, "device");

    cli_json_object_begin(&j, "verifier");
    cli_json_string(&j, "mode", o ? cli_verifier_name(o->verifier) : "log");
    cli_json_u64(&j, "errors", r->violation_errors);
    cli_json_u64(&j, "warnings", r->violation_warnings);
    cli_json_array_begin(&j, "rules");
    for (unsigned i = 0; i < r->nr_rules && i < CLI_MAX_VIOLATION_RULES; i++) {
        cli_json_object_begin(&j, NULL);
        cli_json_string(&j, "rule", r->rules[i].rule ? r->rules[i].rule : "?");
        cli_json_bool(&j, "warning", r->rules[i].warning);
        cli_json_u64(&j, "count", r->rules[i].count);
        json_str_or_null(&j, "first_report", r->rules[i].first_report);
        cli_json_object_end(&j);
    }
    cli_json_array_end(&j);
    cli_json_object_end(&j);

    cli_json_i64(&j, "exit_status", cli_result_exit_status(r));
    json_str_or_null(&j, "failure", r->failure);
    cli_json_object_end(&j);
    cli_json_finish(&j);
}

void cli_progress_line(char *buf, size_t len, double elapsed_s, double iops,
                       uint64_t errors, uint64_t violations)
{
    snprintf(buf, len, "elapsed %5.1fs  iops %10.0f  errors %" PRIu64 "  violations %" PRIu64,
             elapsed_s, iops, errors, violations);
}
