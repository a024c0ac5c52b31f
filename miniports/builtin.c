/*
 * builtin.c - the registry of miniports linked into ustorport's programs.
 * Adding a miniport: call ustor_add_miniport() in its CMakeLists.txt (it
 * compiles the sources with DriverEntry renamed <cname>_DriverEntry) and
 * add one line to the table below.
 */
#include <string.h>

#include <ustor/builtin.h>

#define USTOR_BUILTIN_ENTRY(cname) int32_t cname##_DriverEntry(void *driver_object, void *registry_path);
USTOR_BUILTIN_ENTRY(ramdisk)
USTOR_BUILTIN_ENTRY(ramdisk_phys)
USTOR_BUILTIN_ENTRY(virtio)
#undef USTOR_BUILTIN_ENTRY

static const struct ustor_builtin_miniport builtin_miniports[] = {
    {"ramdisk", "RAM-backed SCSI disk, virtual miniport (luns=, size=, bs=, complete=, srb=, busy=, ro=)",
     ramdisk_DriverEntry, true, "luns=1;size=64M"},
    {"ramdisk-phys", "the same RAM disk as a physical miniport with no device (adds sync=half|full|concurrent)",
     ramdisk_phys_DriverEntry, false, "luns=1;size=64M;sync=full"},
    {"virtio", "virtio-blk PCI miniport, physical (sync=, intr=, queues=, watchdog_ms=, stuck_ms=)", virtio_DriverEntry, false, "sync=full;intr=all"},
};

const struct ustor_builtin_miniport *ustor_builtin_miniports(size_t *count)
{
    if (count)
        *count = sizeof(builtin_miniports) / sizeof(builtin_miniports[0]);
    return builtin_miniports;
}

const struct ustor_builtin_miniport *ustor_builtin_find(const char *name)
{
    size_t i;

    if (!name)
        return NULL;
    for (i = 0; i < sizeof(builtin_miniports) / sizeof(builtin_miniports[0]); i++)
        if (strcmp(builtin_miniports[i].name, name) == 0)
            return &builtin_miniports[i];
    return NULL;
}
