/*
 * ntddk.h - wdm.h plus the few extra kernel definitions non-WDM drivers
 * (including Storport miniports) may expect.
 */
#ifndef _NTDDK_
#define _NTDDK_

#include <wdm.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Maximum number of PCI buses, devices per bus and functions per device,
 * as a miniport walking configuration space would use them. */
#ifndef PCI_MAX_BUS_NUMBER
#define PCI_MAX_BUS_NUMBER 0x100
#endif

/* Bus-relative slot number layout used with PCIConfiguration. */
typedef struct _PCI_SLOT_NUMBER {
    union {
        struct {
            ULONG DeviceNumber : 5;
            ULONG FunctionNumber : 3;
            ULONG Reserved : 24;
        } bits;
        ULONG AsULONG;
    } u;
} PCI_SLOT_NUMBER, *PPCI_SLOT_NUMBER;

#ifdef __cplusplus
}
#endif

#endif /* _NTDDK_ */
