/*
 * driver.c - loading a miniport and StorPortInitialize: DriverEntry runs
 * as on Windows and hands its HW_INITIALIZATION_DATA (or the virtual
 * variant) to StorPortInitialize, which checks it and records it in the
 * ustor_driver the host passed as DriverObject.
 */
#include "port/port.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The driver whose DriverEntry is running on this thread: StorPortInitialize
 * accepts only it as Argument1. */
static _Thread_local struct ustor_driver *loading;

static const char *const mandatory_names[] = {
    "HwFindAdapter", "HwInitialize", "HwStartIo", "HwResetBus", "HwAdapterControl",
};

STORPORT_API ULONG StorPortInitialize(PVOID Argument1, PVOID Argument2,
                                      PHW_INITIALIZATION_DATA HwInitializationData, PVOID HwContext)
{
    (void)Argument2;
    struct ustor_driver *drv = Argument1;
    if (!drv || drv != loading) {
        port_report(NULL, "BadHwInitializationData", NULL,
                    "StorPortInitialize: Argument1 %p is not the DriverObject passed to DriverEntry",
                    Argument1);
        return (ULONG)STATUS_INVALID_PARAMETER;
    }
#define FAIL(status, ...)                                                               \
    do {                                                                                \
        snprintf(drv->init_error, sizeof(drv->init_error), __VA_ARGS__);               \
        port_report(NULL, "BadHwInitializationData", NULL, "%s", drv->init_error);     \
        drv->init_status = (status);                                                    \
        return (ULONG)(status);                                                         \
    } while (0)

    if (!HwInitializationData)
        FAIL(STATUS_INVALID_PARAMETER, "StorPortInitialize: HwInitializationData is NULL");
    ULONG size = HwInitializationData->HwInitializationDataSize;
    bool virt;
    if (size == sizeof(VIRTUAL_HW_INITIALIZATION_DATA) && size != sizeof(HW_INITIALIZATION_DATA))
        virt = true;
    else if (size == sizeof(HW_INITIALIZATION_DATA))
        virt = false;
    else if (size < sizeof(HW_INITIALIZATION_DATA))
        FAIL(STATUS_REVISION_MISMATCH,
             "StorPortInitialize: HwInitializationDataSize is %u, smaller than "
             "sizeof(HW_INITIALIZATION_DATA) = %zu (or sizeof(VIRTUAL_HW_INITIALIZATION_DATA) = %zu)",
             size, sizeof(HW_INITIALIZATION_DATA), sizeof(VIRTUAL_HW_INITIALIZATION_DATA));
    else
        FAIL(STATUS_REVISION_MISMATCH,
             "StorPortInitialize: HwInitializationDataSize is %u; expected "
             "sizeof(HW_INITIALIZATION_DATA) = %zu or sizeof(VIRTUAL_HW_INITIALIZATION_DATA) = %zu",
             size, sizeof(HW_INITIALIZATION_DATA), sizeof(VIRTUAL_HW_INITIALIZATION_DATA));

    if (virt) {
        memcpy(&drv->vhw, HwInitializationData, sizeof(drv->vhw));
        /* The common prefix is laid out like HW_INITIALIZATION_DATA. */
        memcpy(&drv->hw, HwInitializationData, sizeof(drv->hw) < sizeof(drv->vhw) ? sizeof(drv->hw) : sizeof(drv->vhw));
    } else {
        memcpy(&drv->hw, HwInitializationData, sizeof(drv->hw));
    }
    const void *routines[] = {
        virt ? (const void *)drv->vhw.HwFindAdapter : (const void *)drv->hw.HwFindAdapter,
        (const void *)drv->hw.HwInitialize, (const void *)drv->hw.HwStartIo,
        (const void *)drv->hw.HwResetBus, (const void *)drv->hw.HwAdapterControl,
    };
    for (unsigned i = 0; i < sizeof(routines) / sizeof(routines[0]); i++)
        if (!routines[i])
            FAIL(STATUS_INVALID_PARAMETER,
                 "StorPortInitialize: %s is NULL; a Storport miniport must provide HwFindAdapter, "
                 "HwInitialize, HwStartIo, HwResetBus and HwAdapterControl", mandatory_names[i]);
    drv->virtual_miniport = virt;
    drv->hw_context = HwContext;
    drv->registered = true;
    drv->init_status = STATUS_SUCCESS;
    return STATUS_SUCCESS;
#undef FAIL
}

static int run_entry(struct ustor_driver *drv, ustor_driver_entry_fn entry, char *err, size_t errlen)
{
    static UNICODE_STRING registry_path;
    loading = drv;
    KIRQL before = ukern_irql_get();
    int32_t st = entry(drv, &registry_path);
    if (ukern_irql_get() != before)
        ukern_irql_set(before);
    loading = NULL;
    if (st != 0) {
        snprintf(err, errlen, "%s: DriverEntry returned 0x%08x%s%s", drv->name, (unsigned)st,
                 drv->init_error[0] ? ": " : "", drv->init_error);
        return -EINVAL;
    }
    if (!drv->registered) {
        snprintf(err, errlen, "%s: DriverEntry returned success without calling StorPortInitialize "
                 "successfully%s%s", drv->name, drv->init_error[0] ? ": " : "", drv->init_error);
        return -EINVAL;
    }
    return 0;
}

int ustor_driver_from_entry(ustor_driver_entry_fn entry, const char *name, ustor_driver **out,
                            char *err, size_t errlen)
{
    if (!entry || !out) {
        snprintf(err, errlen, "ustor_driver_from_entry: %s is NULL", !entry ? "entry" : "out");
        return -EINVAL;
    }
    struct ustor_driver *drv = calloc(1, sizeof(*drv));
    if (!drv) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    snprintf(drv->name, sizeof(drv->name), "%s", name ? name : "miniport");
    int rc = run_entry(drv, entry, err, errlen);
    if (rc) {
        free(drv);
        return rc;
    }
    *out = drv;
    return 0;
}

int ustor_driver_load(const char *path, ustor_driver **out, char *err, size_t errlen)
{
    if (!path || !out) {
        snprintf(err, errlen, "ustor_driver_load: %s is NULL", !path ? "path" : "out");
        return -EINVAL;
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, errlen, "cannot load miniport %s: %s", path, dlerror());
        return -ENOENT;
    }
    dlerror();
    void *sym = dlsym(h, "DriverEntry");
    if (!sym) {
        snprintf(err, errlen, "%s does not export DriverEntry; a Storport miniport exports "
                 "ULONG DriverEntry(PVOID DriverObject, PVOID RegistryPath), which calls StorPortInitialize",
                 path);
        dlclose(h);
        return -ENOENT;
    }
    struct ustor_driver *drv = calloc(1, sizeof(*drv));
    if (!drv) {
        dlclose(h);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    const char *base = strrchr(path, '/');
    snprintf(drv->name, sizeof(drv->name), "%s", base ? base + 1 : path);
    drv->dl_handle = h;
    ustor_driver_entry_fn entry;
    memcpy(&entry, &sym, sizeof(entry));
    int rc = run_entry(drv, entry, err, errlen);
    if (rc) {
        dlclose(h);
        free(drv);
        return rc;
    }
    *out = drv;
    return 0;
}

void ustor_driver_unload(ustor_driver *drv)
{
    if (!drv)
        return;
    if (drv->dl_handle)
        dlclose(drv->dl_handle);
    free(drv);
}

const char *ustor_driver_name(const ustor_driver *drv)
{
    return drv ? drv->name : "";
}

bool ustor_driver_is_virtual(const ustor_driver *drv)
{
    return drv && drv->virtual_miniport;
}
