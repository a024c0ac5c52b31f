/* cli_info.c - `ustor info`: what the adapter and each LUN report. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli_backend.h"
#include "cli_json.h"
#include "cli_report.h"
#include "cli_run.h"

struct vpd_lists {
    uint8_t pages[256];
    unsigned npages;
    char ids[8][160];
    unsigned nids;
};

static void hex(char *out, size_t len, const uint8_t *p, unsigned n)
{
    size_t used = 0;
    for (unsigned i = 0; i < n && used + 3 < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%02x", p[i]);
}

/* Designators of VPD page 0x83 (SPC-4 7.8.6) as one line each. */
static void parse_identifiers(const uint8_t *pg, unsigned len, struct vpd_lists *v)
{
    unsigned plen = (unsigned)pg[2] << 8 | pg[3];
    unsigned end = 4 + plen < len ? 4 + plen : len;
    for (unsigned off = 4; off + 4 <= end && v->nids < 8;) {
        unsigned code_set = pg[off] & 0xf, type = pg[off + 1] & 0xf, dlen = pg[off + 3];
        const uint8_t *d = pg + off + 4;
        if (off + 4 + dlen > end)
            break;
        static const char *const types[] = { "vendor-specific", "T10 vendor id", "EUI-64", "NAA",
                                             "relative port", "target port group", "LU group",
                                             "MD5 LU id", "SCSI name" };
        const char *tname = type < 9 ? types[type] : "other";
        char val[120] = "";
        if (code_set == 2 || code_set == 3)
            snprintf(val, sizeof(val), "%.*s", (int)(dlen < 100 ? dlen : 100), (const char *)d);
        else
            hex(val, sizeof(val), d, dlen);
        snprintf(v->ids[v->nids++], sizeof(v->ids[0]), "%s: %s", tname, val);
        off += 4 + dlen;
    }
}

static void read_vpd(ustor_blk_dev *dev, struct vpd_lists *v)
{
    uint8_t buf[512];
    memset(v, 0, sizeof(*v));
    struct ustor_blk_result res;
    memset(buf, 0, sizeof(buf));
    if (ustor_blk_inquiry(dev, true, 0x00, buf, sizeof(buf), &res) == 0) {
        unsigned n = (unsigned)buf[2] << 8 | buf[3];
        for (unsigned i = 0; i < n && 4 + i < sizeof(buf); i++)
            v->pages[v->npages++] = buf[4 + i];
    }
    bool has83 = false;
    for (unsigned i = 0; i < v->npages; i++)
        has83 |= v->pages[i] == 0x83;
    memset(buf, 0, sizeof(buf));
    if (has83 && ustor_blk_inquiry(dev, true, 0x83, buf, sizeof(buf), &res) == 0)
        parse_identifiers(buf, sizeof(buf), v);
}

static void text_lun(unsigned i, const struct ustor_blk_info *bi, const struct vpd_lists *v)
{
    printf("\nLUN %u (path %u target %u lun %u)\n", i, bi->path, bi->target, bi->lun);
    printf("  vendor/product/rev  %s / %s / %s\n", bi->vendor, bi->product, bi->revision);
    printf("  peripheral type     %u, SCSI version %u%s\n", bi->peripheral_type, bi->scsi_version,
           bi->removable ? ", removable" : "");
    printf("  capacity            %" PRIu64 " blocks x %" PRIu32 " bytes = %" PRIu64 " bytes\n",
           bi->num_blocks, bi->block_size, bi->num_blocks * bi->block_size);
    printf("  physical block      %" PRIu32 " bytes\n", bi->physical_block_size);
    printf("  VPD pages           ");
    for (unsigned k = 0; k < v->npages; k++)
        printf("%s0x%02x", k ? " " : "", v->pages[k]);
    printf("%s\n", v->npages ? "" : "(none)");
    printf("  serial (0x80)       %s\n", bi->serial[0] ? bi->serial : "(none)");
    printf("  identifiers (0x83)  %s\n", v->nids ? v->ids[0] : "(none)");
    for (unsigned k = 1; k < v->nids; k++)
        printf("                      %s\n", v->ids[k]);
    if (bi->has_vpd_b0)
        printf("  block limits (0xB0) max transfer %" PRIu32 ", optimal %" PRIu32 ", max unmap %" PRIu32
               " blocks / %" PRIu32 " descriptors, granularity %" PRIu32 " (alignment %" PRIu32
               "), max write same %" PRIu64 "\n",
               bi->max_transfer_blocks, bi->optimal_transfer_blocks, bi->max_unmap_blocks,
               bi->max_unmap_descriptors, bi->unmap_granularity, bi->unmap_granularity_alignment,
               bi->max_write_same_blocks);
    else
        printf("  block limits (0xB0) (not reported); max transfer %" PRIu32 " blocks\n", bi->max_transfer_blocks);
    if (bi->has_vpd_b2)
        printf("  provisioning (0xB2) %s, unmap %s, write same unmap %s, unmapped reads zero %s\n",
               bi->thin_provisioned ? "thin" : "full", bi->can_unmap ? "yes" : "no",
               bi->can_write_same_unmap ? "yes" : "no", bi->unmapped_reads_zero ? "yes" : "no");
    else
        printf("  provisioning (0xB2) (not reported)\n");
    printf("  features            unmap %s, write same %s, FUA %s, write cache %s, write protect %s\n",
           bi->can_unmap ? "yes" : "no", bi->can_write_same_unmap ? "yes" : "no",
           bi->supports_fua ? "yes" : "no", bi->has_write_cache ? "yes" : "no",
           bi->write_protected ? "yes" : "no");
}

static void json_lun(struct cli_json *j, unsigned i, const struct ustor_blk_info *bi, const struct vpd_lists *v)
{
    cli_json_object_begin(j, NULL);
    cli_json_u64(j, "index", i);
    cli_json_u64(j, "path", bi->path);
    cli_json_u64(j, "target", bi->target);
    cli_json_u64(j, "lun", bi->lun);
    cli_json_string(j, "vendor", bi->vendor);
    cli_json_string(j, "product", bi->product);
    cli_json_string(j, "revision", bi->revision);
    cli_json_u64(j, "peripheral_type", bi->peripheral_type);
    cli_json_u64(j, "scsi_version", bi->scsi_version);
    cli_json_bool(j, "removable", bi->removable);
    cli_json_u64(j, "num_blocks", bi->num_blocks);
    cli_json_u64(j, "block_size", bi->block_size);
    cli_json_u64(j, "capacity_bytes", bi->num_blocks * bi->block_size);
    cli_json_u64(j, "physical_block_size", bi->physical_block_size);
    cli_json_array_begin(j, "vpd_pages");
    for (unsigned k = 0; k < v->npages; k++)
        cli_json_u64(j, NULL, v->pages[k]);
    cli_json_array_end(j);
    cli_json_string(j, "serial", bi->serial);
    cli_json_array_begin(j, "identifiers");
    for (unsigned k = 0; k < v->nids; k++)
        cli_json_string(j, NULL, v->ids[k]);
    cli_json_array_end(j);
    cli_json_object_begin(j, "block_limits");
    cli_json_bool(j, "reported", bi->has_vpd_b0);
    cli_json_u64(j, "max_transfer_blocks", bi->max_transfer_blocks);
    cli_json_u64(j, "optimal_transfer_blocks", bi->optimal_transfer_blocks);
    cli_json_u64(j, "max_unmap_blocks", bi->max_unmap_blocks);
    cli_json_u64(j, "max_unmap_descriptors", bi->max_unmap_descriptors);
    cli_json_u64(j, "unmap_granularity", bi->unmap_granularity);
    cli_json_u64(j, "unmap_granularity_alignment", bi->unmap_granularity_alignment);
    cli_json_u64(j, "max_write_same_blocks", bi->max_write_same_blocks);
    cli_json_object_end(j);
    cli_json_object_begin(j, "provisioning");
    cli_json_bool(j, "reported", bi->has_vpd_b2);
    cli_json_bool(j, "thin", bi->thin_provisioned);
    cli_json_bool(j, "unmapped_reads_zero", bi->unmapped_reads_zero);
    cli_json_object_end(j);
    cli_json_object_begin(j, "features");
    cli_json_bool(j, "unmap", bi->can_unmap);
    cli_json_bool(j, "write_same", bi->can_write_same_unmap);
    cli_json_bool(j, "fua", bi->supports_fua);
    cli_json_bool(j, "write_cache", bi->has_write_cache);
    cli_json_bool(j, "write_protect", bi->write_protected);
    cli_json_object_end(j);
    cli_json_object_end(j);
}

int cli_info(const struct cli_options *o)
{
    static struct cli_adapter a;
    char err[1024];
    int status = cli_backend_open(o, 4, &a, err, sizeof(err));
    if (status != CLI_EXIT_OK) {
        fprintf(stderr, "%s\n", err);
        return status;
    }
    struct ustor_adapter_info info;
    ustor_adapter_get_info(a.ad, &info);
    char irq[96];
    cli_interrupt_mode(&info, irq, sizeof(irq));
    struct cli_json j;
    if (o->json) {
        cli_json_init(&j, stdout);
        cli_json_object_begin(&j, NULL);
        cli_json_u64(&j, "schema_version", CLI_JSON_SCHEMA_VERSION);
        cli_json_string(&j, "command", "info");
        cli_json_object_begin(&j, "adapter");
        cli_json_string(&j, "miniport", a.miniport);
        cli_json_string(&j, "source", a.source);
        cli_json_string(&j, "device", a.device);
        cli_json_string(&j, "argument_string", a.argument_string);
        cli_json_string(&j, "sync_mode", ustor_sync_mode_name(info.mode));
        cli_json_bool(&j, "virtual", info.virtual_miniport);
        cli_json_string(&j, "interrupt_mode", irq);
        cli_json_bool(&j, "msi", info.msi);
        cli_json_bool(&j, "per_message_interrupts", info.per_message_interrupts);
        cli_json_u64(&j, "interrupt_messages", info.interrupt_messages);
        cli_json_u64(&j, "concurrent_channels", info.concurrent_channels);
        cli_json_u64(&j, "max_transfer_length", info.max_transfer_length);
        cli_json_u64(&j, "number_of_physical_breaks", info.number_of_physical_breaks);
        cli_json_u64(&j, "srb_extension_size", info.srb_extension_size);
        cli_json_u64(&j, "device_extension_size", info.device_extension_size);
        cli_json_bool(&j, "srbex", info.srbex);
        cli_json_u64(&j, "max_path", info.max_path);
        cli_json_u64(&j, "max_target", info.max_target);
        cli_json_u64(&j, "max_lun", info.max_lun);
        cli_json_object_end(&j);
        cli_json_array_begin(&j, "luns");
    } else {
        printf("adapter\n");
        printf("  miniport            %s (%s)\n", a.miniport, a.source);
        printf("  device              %s\n", a.device);
        printf("  argument string     %s\n", a.argument_string);
        printf("  sync mode           %s\n", ustor_sync_mode_name(info.mode));
        printf("  interrupts          %s\n", irq);
        printf("  concurrent channels %" PRIu32 "\n", info.concurrent_channels);
        printf("  max transfer        %" PRIu32 " bytes, %" PRIu32 " physical breaks\n",
               info.max_transfer_length, info.number_of_physical_breaks);
        printf("  extensions          device %" PRIu32 " bytes, SRB %" PRIu32 " bytes\n",
               info.device_extension_size, info.srb_extension_size);
        printf("  SRB type            %s\n", info.srbex ? "STORAGE_REQUEST_BLOCK" : "SCSI_REQUEST_BLOCK");
        printf("  buses/targets/LUNs  %u / %u / %u\n", info.max_path, info.max_target, info.max_lun);
    }
    for (unsigned i = 0; i < a.nluns; i++) {
        struct vpd_lists v;
        read_vpd(a.lun[i], &v);
        const struct ustor_blk_info *bi = ustor_blk_get_info(a.lun[i]);
        if (o->json)
            json_lun(&j, i, bi, &v);
        else
            text_lun(i, bi, &v);
    }
    uint64_t violations = ustor_adapter_violations(a.ad);
    if (o->json) {
        cli_json_array_end(&j);
        cli_json_u64(&j, "verifier_errors", violations);
        cli_json_u64(&j, "verifier_warnings", ustor_adapter_warnings(a.ad));
        cli_json_object_end(&j);
        cli_json_finish(&j);
    } else {
        printf("\nverifier: %" PRIu64 " errors, %" PRIu64 " warnings\n", violations,
               ustor_adapter_warnings(a.ad));
    }
    fflush(stdout);
    cli_backend_close(&a);
    if (violations)
        return CLI_EXIT_VERIFIER;
    return CLI_EXIT_OK;
}
